// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests for collector/outputs/output, the output stage, at its public
 * functions: all or nothing per batch across the outputs, the late writer,
 * publishing by age on the stage's own timer, the error -> status mapping,
 * the metrics, the exit.  No network: Kafka, where it is on, points at a
 * closed loopback port, so nothing is ever delivered and its bound fills.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "kafka_sink.h"
#include "log.h"
#include "metrics.h"
#include "output.h"
#include "wire.h"

#define T_2311_22 1700000000000ull /* 2023-11-14T22:13:20Z */
#define HOUR_DIR  "flows/dt=2023-11-14/hr=22"
#define WAIT_MS	  5000

static const struct flow_identity g_local = {
	.app = "checkout",
	.namespace = "shop",
	.pod = "checkout-1",
	.node = "node-1",
	.workload = "checkout",
};

/* ---- helpers ---------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void mk_tmp(char *dir)
{
	assert_non_null(mkdtemp(dir));
}

/* n records in hour 2023-11-14 22h, bytes_sent = base + i */
static struct flow_record *make_recs(uint32_t n, uint64_t base)
{
	struct flow_record *r = calloc(n, sizeof(*r));

	assert_non_null(r);
	for (uint32_t i = 0; i < n; i++) {
		r[i].start_ms = T_2311_22 - 5000;
		r[i].end_ms = T_2311_22;
		r[i].family = 4;
		r[i].direction = FLOW_DIRECTION_OUT;
		r[i].local_addr[10] = r[i].local_addr[11] = 0xff;
		r[i].local_addr[12] = 10;
		r[i].local_addr[15] = 7;
		r[i].remote_addr[10] = r[i].remote_addr[11] = 0xff;
		r[i].remote_addr[12] = 10;
		r[i].remote_addr[15] = (uint8_t)(i + 1);
		r[i].remote_port = 8080;
		r[i].flows = 1;
		r[i].bytes_sent = base + i;
		r[i].local = &g_local;
		snprintf(r[i].comm, sizeof(r[i].comm), "java");
	}
	return r;
}

static struct outputs *open_outputs(const struct outputs_opts *o)
{
	char why[512] = "";
	struct outputs *s = outputs__new(o, why, sizeof(why));

	if (!s)
		fail_msg("outputs__new: %s", why);
	return s;
}

static size_t glob_n(const char *dir, const char *rel)
{
	char pat[512];
	glob_t g;
	size_t n;

	snprintf(pat, sizeof(pat), "%s/%s", dir, rel);
	if (glob(pat, GLOB_PERIOD, NULL, &g))
		return 0;
	n = g.gl_pathc;
	globfree(&g);
	return n;
}

/* Size of DIR/REL, -1 when missing. */
static long long fsize(const char *dir, const char *rel)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return stat(path, &st) ? -1 : (long long)st.st_size;
}

/* The hidden files' sizes in the test's hour, summed (what was written and not published). */
static long long hidden_bytes(const char *dir)
{
	char pat[512];
	long long sum = 0;
	glob_t g;

	snprintf(pat, sizeof(pat), "%s/" HOUR_DIR "/.part-*", dir);
	if (glob(pat, GLOB_PERIOD, NULL, &g))
		return 0;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct stat st;

		assert_int_equal(stat(g.gl_pathv[i], &st), 0);
		sum += st.st_size;
	}
	globfree(&g);
	return sum;
}

static long count_lines(const char *dir, const char *rel)
{
	char path[512], *line = NULL;
	size_t cap = 0;
	long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0)
		n++;
	free(line);
	fclose(f);
	return n;
}

/* One sample of outputs__metrics' text ("name" or "name{labels}"), -1 when absent. */
static long long metric(struct outputs *s, const char *sample)
{
	struct metrics_writer *mw = metrics_writer__new();
	const char *text, *p;
	long long v = -1;
	size_t len, n = strlen(sample);

	assert_non_null(mw);
	outputs__metrics(s, mw);
	text = metrics_writer__text(mw, &len);
	for (p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, sample, n) == 0 && p[n] == ' ') {
			v = strtoll(p + n + 1, NULL, 10);
			break;
		}
	}
	metrics_writer__free(mw);
	return v;
}

/* ---- all or nothing ---------------------------------------------------------------- */

/* Every output gets the kept records; none kept writes nothing; one writer's files are its own. */
static void test_write_every_output(void **state)
{
	char dir[] = "/tmp/pf-output-XXXXXX", desc[512], want[512];
	struct flow_record *r = make_recs(10, 0);
	struct wire_batch b = { .n_records = 10, .records = r };
	bool keep[10] = { true, false, true, false, true, false, true, false, true, false };
	bool none[10] = { false };
	struct outputs *s;
	uint64_t bytes = 0;

	(void)state;
	mk_tmp(dir);
	s = open_outputs(&(struct outputs_opts){
	    .data_dir = dir, .files = true, .collector_id = "c", .jsonl = true, .writers = 2 });
	assert_non_null(outputs__writer(s, 1));
	assert_null(outputs__writer(s, 2));
	snprintf(want, sizeof(want), "%s/flows/ (gzip JSON lines) DATA_DIR/flows-*.jsonl", dir);
	assert_string_equal(outputs__describe(s, desc, sizeof(desc)), want);
	assert_int_equal(outputs__write(s, outputs__writer(s, 0), &b, keep, &bytes), 0);
	assert_true(bytes > 0);
	assert_int_equal(count_lines(dir, "flows-w0.jsonl"), 5);
	assert_int_equal(count_lines(dir, "flows-w1.jsonl"), 0);
	assert_int_equal(glob_n(dir, HOUR_DIR "/.part-c-*.json.gz"), 1);
	assert_int_equal(outputs__write(s, outputs__writer(s, 1), &b, NULL, &bytes), 0);
	assert_int_equal(count_lines(dir, "flows-w1.jsonl"), 10);
	assert_int_equal(glob_n(dir, HOUR_DIR "/.part-c-*.json.gz"), 2); /* a file per writer */
	assert_int_equal(outputs__write(s, outputs__writer(s, 1), &b, none, &bytes), 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(count_lines(dir, "flows-w1.jsonl"), 10);
	assert_int_equal(metric(s, "podflow_collector_files_records_total"), 15);
	assert_int_equal(metric(s, "podflow_collector_files_batches_total"), 2);
	assert_int_equal(metric(s, "podflow_collector_files_open"), 2);
	/* the exit publishes every writer's files */
	assert_int_equal(outputs__close(s, 0), 0);
	assert_int_equal(glob_n(dir, HOUR_DIR "/.part-*"), 0);
	assert_int_equal(glob_n(dir, HOUR_DIR "/part-c-*.json.gz"), 2);
	assert_int_equal(metric(s, "podflow_collector_files_rotations_total{reason=\"close\"}"), 2);
	assert_int_equal(metric(s, "podflow_collector_kafka_sink_in_flight_records"), -1);
	outputs__free(s);
	free(r);
	rm_rf(dir);
}

/*
 * The files fail (their hour's directory is a file: every open fails):
 * nothing of the batch stays anywhere, the JSON lines written before are
 * taken back, and the writer backs off (429 before any work) for a second.
 */
static void test_files_failure_takes_jsonl_back(void **state)
{
	char dir[] = "/tmp/pf-output-XXXXXX", path[512], reason[128];
	struct flow_record *r = make_recs(10, 0);
	struct wire_batch b = { .n_records = 10, .records = r };
	struct output_writer *w;
	struct outputs *s;
	uint64_t bytes = 7;
	long long size;
	int fd, err;

	(void)state;
	mk_tmp(dir);
	s = open_outputs(&(struct outputs_opts){
	    .data_dir = dir, .files = true, .collector_id = "c", .jsonl = true, .writers = 1 });
	w = outputs__writer(s, 0);
	/* an earlier hour goes in */
	for (uint32_t i = 0; i < 10; i++)
		r[i].end_ms -= 3600000;
	assert_int_equal(outputs__write(s, w, &b, NULL, &bytes), 0);
	size = fsize(dir, "flows-w0.jsonl");
	assert_true(size > 0);
	for (uint32_t i = 0; i < 10; i++)
		r[i].end_ms += 3600000;
	snprintf(path, sizeof(path), "%s/" HOUR_DIR, dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	close(fd);
	err = outputs__write(s, w, &b, NULL, &bytes);
	assert_int_equal(err, -ENOTDIR);
	assert_int_equal(bytes, 0);
	assert_int_equal(outputs_status(err, reason, sizeof(reason)), 503);
	assert_int_equal(fsize(dir, "flows-w0.jsonl"), size); /* taken back */
	assert_int_equal(count_lines(dir, "flows-w0.jsonl"), 10);
	assert_int_equal(metric(s, "podflow_collector_files_write_errors_total{class=\"other\"}"),
			 1);
	assert_int_equal(metric(s, "podflow_collector_files_records_total"), 10);
	/* backing off: refused before any work, 429 */
	assert_true(outputs__backoff(s, w, clock_mono_ns()));
	assert_false(outputs__backoff(s, w, clock_mono_ns() + 2000000000ull));
	err = outputs__write(s, w, &b, NULL, &bytes);
	assert_int_equal(err, -ENOBUFS);
	assert_int_equal(outputs_status(err, reason, sizeof(reason)), 429);
	assert_int_equal(fsize(dir, "flows-w0.jsonl"), size);
	assert_int_equal(metric(s, "podflow_collector_files_write_errors_total{class=\"other\"}"),
			 1);
	outputs__free(s);
	/* only the first hour's file, published at free */
	assert_int_equal(glob_n(dir, "flows/dt=2023-11-14/hr=21/part-c-*.json.gz"), 1);
	free(r);
	rm_rf(dir);
}

/*
 * Kafka refusing (its bound full: brokers unreachable, nothing delivered)
 * takes the files and the JSON lines back; a batch over the whole bound is
 * 413.  The producer points at a closed loopback port: no network.
 */
static void test_kafka_refusal_takes_both_back(void **state)
{
	char dir[] = "/tmp/pf-output-XXXXXX", reason[128], desc[512], want[512];
	struct flow_record *r = make_recs(10, 0);
	struct wire_batch b3 = { .n_records = 3, .records = r };
	struct wire_batch b5 = { .n_records = 5, .records = r };
	struct kafka_sink_opts ko = { .brokers = "127.0.0.1:1",
				      .topic = "t.flows",
				      .max_queued = 4 };
	struct output_writer *w;
	struct outputs *s;
	long long jsonl, hidden;
	uint64_t bytes, t0;
	int err;

	(void)state;
	mk_tmp(dir);
	s = open_outputs(&(struct outputs_opts){ .data_dir = dir,
						 .files = true,
						 .collector_id = "c",
						 .jsonl = true,
						 .writers = 1,
						 .kafka = &ko });
	w = outputs__writer(s, 0);
	snprintf(want, sizeof(want),
		 "%s/flows/ (gzip JSON lines) DATA_DIR/flows-*.jsonl Kafka topic t.flows", dir);
	assert_string_equal(outputs__describe(s, desc, sizeof(desc)), want);
	assert_int_equal(outputs__write(s, w, &b3, NULL, &bytes), 0);
	jsonl = fsize(dir, "flows-w0.jsonl");
	hidden = hidden_bytes(dir);
	assert_true(jsonl > 0 && hidden > 0);
	/* room for one more record only: refused whole, everything taken back */
	err = outputs__write(s, w, &b3, NULL, &bytes);
	assert_int_equal(err, -ENOBUFS);
	assert_int_equal(bytes, 0);
	assert_int_equal(outputs_status(err, reason, sizeof(reason)), 429);
	assert_string_equal(reason, "the collector's outputs are full or failing: retry later");
	assert_int_equal(fsize(dir, "flows-w0.jsonl"), jsonl);
	assert_int_equal(hidden_bytes(dir), hidden);
	assert_int_equal(metric(s, "podflow_collector_files_records_total"), 3);
	assert_int_equal(metric(s, "podflow_collector_files_batches_total"), 1);
	/* never fits: 413, taken back too */
	err = outputs__write(s, w, &b5, NULL, &bytes);
	assert_int_equal(err, -EMSGSIZE);
	assert_int_equal(outputs_status(err, reason, sizeof(reason)), 413);
	assert_int_equal(fsize(dir, "flows-w0.jsonl"), jsonl);
	assert_int_equal(hidden_bytes(dir), hidden);
	assert_int_equal(metric(s, "podflow_collector_kafka_sink_records_total{result=\"queued\"}"),
			 3);
	assert_int_equal(
	    metric(s, "podflow_collector_kafka_sink_records_total{result=\"refused_queue_full\"}"),
	    3);
	assert_int_equal(
	    metric(s, "podflow_collector_kafka_sink_records_total{result=\"refused_too_large\"}"),
	    5);
	assert_true(outputs__ready(s, reason, sizeof(reason)));
	/* the exit: files published, Kafka given until the deadline, then purged */
	t0 = clock_mono_ns();
	assert_int_equal(outputs__close(s, t0 + 300000000ull), 0);
	assert_true(clock_mono_ns() - t0 < 2000000000ull);
	assert_int_equal(metric(s, "podflow_collector_kafka_sink_failed_total{reason=\"purged\"}"),
			 3);
	assert_int_equal(glob_n(dir, HOUR_DIR "/part-c-*.json.gz"), 1);
	outputs__free(s);
	free(r);
	rm_rf(dir);
}

/* ---- the late writer --------------------------------------------------------------- */

static void test_late_writer(void **state)
{
	char dir[] = "/tmp/pf-output-XXXXXX";
	struct flow_record *r = make_recs(4, 100);
	struct wire_batch b = { .n_records = 4, .records = r };
	struct outputs *s;

	(void)state;
	mk_tmp(dir);
	s = open_outputs(&(struct outputs_opts){ .data_dir = dir,
						 .files = true,
						 .collector_id = "c",
						 .jsonl = true,
						 .writers = 2,
						 .late = true });
	assert_null(outputs__writer(s, 2)); /* the late writer is not a worker's */
	assert_int_equal(outputs__write_late(s, &b), 0);
	assert_int_equal(outputs__write_late(s, &b), 0);
	assert_int_equal(count_lines(dir, "flows-late.jsonl"), 8);
	assert_int_equal(count_lines(dir, "flows-w0.jsonl"), 0);
	assert_int_equal(glob_n(dir, HOUR_DIR "/.part-c-*.json.gz"), 1);
	assert_int_equal(metric(s, "podflow_collector_files_records_total"), 8);
	outputs__free(s);
	assert_int_equal(glob_n(dir, HOUR_DIR "/part-c-*.json.gz"), 1);
	rm_rf(dir);

	/* without one (attribution off): nowhere to write, nothing written */
	strcpy(dir + strlen(dir) - 6, "XXXXXX");
	mk_tmp(dir);
	s = open_outputs(&(struct outputs_opts){
	    .data_dir = dir, .files = true, .collector_id = "c", .jsonl = true, .writers = 1 });
	assert_int_equal(outputs__write_late(s, &b), -EINVAL);
	assert_int_equal(count_lines(dir, "flows-late.jsonl"), -1);
	outputs__free(s);
	free(r);
	rm_rf(dir);
}

/* ---- the timer --------------------------------------------------------------------- */

/*
 * Files open for max_age are published by the stage's own timer: nobody
 * writes or ticks after the batch (an idle worker, the late writer).
 */
static void test_age_published_by_timer(void **state)
{
	char dir[] = "/tmp/pf-output-XXXXXX";
	struct flow_record *r = make_recs(5, 0);
	struct wire_batch b = { .n_records = 5, .records = r };
	struct outputs *s;
	uint64_t bytes, deadline;

	(void)state;
	mk_tmp(dir);
	s = open_outputs(&(struct outputs_opts){ .data_dir = dir,
						 .files = true,
						 .collector_id = "c",
						 .files_max_age_ns = 300000000ull,
						 .writers = 1,
						 .late = true });
	assert_int_equal(outputs__write(s, outputs__writer(s, 0), &b, NULL, &bytes), 0);
	assert_int_equal(outputs__write_late(s, &b), 0);
	assert_int_equal(glob_n(dir, HOUR_DIR "/.part-c-*.json.gz"), 2);
	/* counted once published (renamed, the directory synced): wait for the count */
	deadline = clock_mono_ns() + WAIT_MS * 1000000ull;
	while ((metric(s, "podflow_collector_files_rotations_total{reason=\"age\"}") < 2 ||
		metric(s, "podflow_collector_files_open") > 0) &&
	       clock_mono_ns() < deadline)
		usleep(10000);
	assert_int_equal(metric(s, "podflow_collector_files_rotations_total{reason=\"age\"}"), 2);
	assert_int_equal(metric(s, "podflow_collector_files_open"), 0);
	assert_int_equal(glob_n(dir, HOUR_DIR "/part-c-*.json.gz"), 2);
	assert_int_equal(glob_n(dir, HOUR_DIR "/.part-*"), 0);
	outputs__free(s);
	free(r);
	rm_rf(dir);
}

/* ---- status, recovery, the null sink ------------------------------------------------ */

static void test_status(void **state)
{
	static const int e429[] = { ENOBUFS, ENOSPC, EDQUOT, EROFS, EACCES, EPERM, EIO };
	static const int e503[] = { ENOENT, ENOMEM, ENOTDIR, EINVAL, EFBIG };
	char reason[128];

	(void)state;
	for (size_t i = 0; i < sizeof(e429) / sizeof(e429[0]); i++)
		assert_int_equal(outputs_status(-e429[i], reason, sizeof(reason)), 429);
	assert_string_equal(reason, "the collector cannot write its output now: retry later");
	assert_int_equal(outputs_status(-ENOBUFS, reason, sizeof(reason)), 429);
	assert_string_equal(reason, "the collector's outputs are full or failing: retry later");
	assert_int_equal(outputs_status(-EMSGSIZE, reason, sizeof(reason)), 413);
	assert_string_equal(reason, "the batch is too large for the Kafka output's queue");
	for (size_t i = 0; i < sizeof(e503) / sizeof(e503[0]); i++)
		assert_int_equal(outputs_status(-e503[i], reason, sizeof(reason)), 503);
	assert_string_equal(reason, "the collector cannot write its output now: retry later");
}

/* What recovery did at start-up is the stage's to tell: its metrics, no process-wide state. */
static void test_recovery_kept(void **state)
{
	char dir[] = "/tmp/pf-output-XXXXXX", path[512];
	struct outputs *s;
	int fd;

	(void)state;
	mk_tmp(dir);
	snprintf(path, sizeof(path), "%s/flows", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/flows/dt=2023-11-14", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/" HOUR_DIR, dir);
	assert_int_equal(mkdir(path, 0755), 0);
	/* a crash's leftovers: no complete member, and another collector's */
	snprintf(path, sizeof(path), "%s/" HOUR_DIR "/.part-c-17.json.gz", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x1f\x8b\x08\x00garbage", 11), 11);
	close(fd);
	snprintf(path, sizeof(path), "%s/" HOUR_DIR "/.part-other-18.json.gz", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	s = open_outputs(&(struct outputs_opts){
	    .data_dir = dir, .files = true, .collector_id = "c", .writers = 1 });
	assert_int_equal(metric(s, "podflow_collector_files_recovered_total{action=\"removed\"}"),
			 1);
	assert_int_equal(metric(s, "podflow_collector_files_recovered_total{action=\"published\"}"),
			 0);
	assert_int_equal(metric(s, "podflow_collector_files_recovered_cut_bytes_total"), 11);
	assert_int_equal(glob_n(dir, HOUR_DIR "/.part-c-*"), 0);
	assert_int_equal(glob_n(dir, HOUR_DIR "/.part-other-*"), 1);
	outputs__free(s);
	/* a second stage (a restart): its own counts */
	s = open_outputs(&(struct outputs_opts){
	    .data_dir = dir, .files = true, .collector_id = "c", .writers = 1 });
	assert_int_equal(metric(s, "podflow_collector_files_recovered_total{action=\"removed\"}"),
			 0);
	outputs__free(s);
	rm_rf(dir);
}

/* The null sink: nothing formatted, written or recovered; files' families still there. */
static void test_null_sink(void **state)
{
	char dir[] = "/tmp/pf-output-XXXXXX", desc[256];
	struct flow_record *r = make_recs(5, 0);
	struct wire_batch b = { .n_records = 5, .records = r };
	struct outputs *s;
	uint64_t bytes = 1;

	(void)state;
	mk_tmp(dir);
	s = open_outputs(&(struct outputs_opts){ .data_dir = dir,
						 .files = true,
						 .collector_id = "c",
						 .jsonl = true,
						 .null_sink = true,
						 .writers = 1,
						 .late = true });
	assert_string_equal(outputs__describe(s, desc, sizeof(desc)), "null sink, nothing written");
	assert_int_equal(outputs__write(s, outputs__writer(s, 0), &b, NULL, &bytes), 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(outputs__write_late(s, &b), 0);
	assert_int_equal(metric(s, "podflow_collector_files_records_total"), 0);
	assert_int_equal(outputs__close(s, 0), 0);
	outputs__free(s);
	assert_int_equal(glob_n(dir, "flows*"), 0);
	/* no output at all */
	s = open_outputs(&(struct outputs_opts){ .data_dir = dir, .writers = 1 });
	assert_string_equal(outputs__describe(s, desc, sizeof(desc)), "none");
	assert_int_equal(outputs__write(s, outputs__writer(s, 0), &b, NULL, &bytes), 0);
	assert_int_equal(metric(s, "podflow_collector_files_records_total"), -1);
	outputs__free(s);
	free(r);
	rm_rf(dir);
}

static void test_new_errors(void **state)
{
	char why[256];

	(void)state;
	assert_null(outputs__new(
	    &(struct outputs_opts){
		.data_dir = "/tmp", .files = true, .collector_id = "bad/id", .writers = 1 },
	    why, sizeof(why)));
	assert_int_equal(errno, EINVAL);
	assert_null(outputs__new(&(struct outputs_opts){ .data_dir = "/nonexistent-pf-dir",
							 .jsonl = true,
							 .writers = 1 },
				 why, sizeof(why)));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(why, "/nonexistent-pf-dir/flows-w0.jsonl"));
	outputs__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_every_output),
		cmocka_unit_test(test_files_failure_takes_jsonl_back),
		cmocka_unit_test(test_kafka_refusal_takes_both_back),
		cmocka_unit_test(test_late_writer),
		cmocka_unit_test(test_age_published_by_timer),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_recovery_kept),
		cmocka_unit_test(test_null_sink),
		cmocka_unit_test(test_new_errors),
	};

	/* warnings only: the failures these tests cause are logged by design */
	log_init("test_output", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
