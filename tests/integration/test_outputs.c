// SPDX-License-Identifier: BSD-2-Clause
/* Collector outputs end to end: files and Kafka agree through outages, SIGTERM and kill -9. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "collector_client.h"
#include "harness.h"
#include "harness_main.h"
#include "kafka_mock.h"

#define TOPIC	      "podflow.flows"
#define PARTITIONS    3
#define BROKERS	      3
#define WAIT_MS	      10000
#define KAFKA_WAIT_MS 30000 /* delivery, kcat: reconnects after an outage back off up to 10 s */
#define RUN_MS	      60000 /* a whole pf-send run */
#define T0_MS	      1700000000000ull /* pf-send's base time: 2023-11-14 22:13:20 UTC */
#define HOUR23_MS     1700002800000ull /* 2023-11-14 23:00:00 UTC */
#define APP	      "pf-send"	       /* every pf-send record's local_app: the message key */
#define COLLECTOR_ID  "it-outputs"

static char g_tmp[256]; /* everything a test makes lives under here */

/* ---- a collector with its admin endpoint ---------------------------------- */

/* DATA_DIR g_tmp/<name> (kept if it exists: a restart), unattributed. */
static const struct coll_conf g_conf = {
	.dir = g_tmp,
	.args = (const char *const[]){ "--no-attribution", "--collector-id", COLLECTOR_ID, NULL },
};

#define KS_RECORDS(result) "podflow_collector_kafka_sink_records_total{result=\"" result "\"}"
#define KS_FAILED(reason)  "podflow_collector_kafka_sink_failed_total{reason=\"" reason "\"}"
#define KS_BYTES(result)   "podflow_collector_kafka_sink_bytes_total{result=\"" result "\"}"
#define KS_IN_FLIGHT	   "podflow_collector_kafka_sink_in_flight_records"
#define KS_BROKERS_UP	   "podflow_collector_kafka_sink_brokers_up"
#define REQUESTS(code)	   "podflow_collector_requests_total{code=\"" code "\"}"
#define FILES_RECORDS	   "podflow_collector_files_records_total"
#define RECORDS		   "podflow_collector_records_total"

/* Every failure reason of the sink is 0 (nothing timed out, purged, refused by a broker). */
static int no_kafka_failures(struct coll *c)
{
	static const char *const reasons[] = { KS_FAILED("timed_out"), KS_FAILED("too_large"),
					       KS_FAILED("topic"),     KS_FAILED("auth"),
					       KS_FAILED("purged"),    KS_FAILED("other") };
	int ret = 1;

	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		ASSERT_EQ_U64(reasons[i], 0, coll__metric(c, reasons[i]));
	ret = 0;
cleanup:
	return ret;
}

/* ---- pf-send ---------------------------------------------------------------- */

/*
 * Runs pf-send against `c`: senders [first, first+senders), each `batches`
 * batches of `records` records, one request at a time per sender.  *res =
 * its JSON line.  Its exit code, or -1.
 */
static int send_batches(struct coll *c, uint32_t first, uint32_t senders, uint32_t batches,
			uint32_t records, json_t **res)
{
	char bin[512], f[16], s[16], b[16], r[16], *out = NULL;
	const char *argv[] = { harness_bin("pf-send", bin, sizeof(bin)),
			       "--url",
			       c->url,
			       "--first-sender",
			       f,
			       "--senders",
			       s,
			       "--batches",
			       b,
			       "--records",
			       r,
			       NULL };
	json_error_t jerr;
	int fd, st;
	pid_t pid;

	snprintf(f, sizeof(f), "%u", first);
	snprintf(s, sizeof(s), "%u", senders);
	snprintf(b, sizeof(b), "%u", batches);
	snprintf(r, sizeof(r), "%u", records);
	pid = harness_start_capture(argv, &fd);
	if (pid < 0)
		return -1;
	st = harness_finish_capture(pid, fd, RUN_MS, &out);
	*res = json_loads(out ? out : "", 0, &jerr);
	if (!*res)
		fprintf(stderr, "    pf-send printed no JSON (exit %d): %s\n", st, out);
	free(out);
	return st;
}

static uint64_t status_count(json_t *res, const char *code)
{
	return rec_u64(json_object_get(res, "status"), code);
}

/* ---- record values: what the files and the topic hold ----------------------- */

/* JSON values, one record each, as written (no newline). */
struct vals {
	char **v;
	size_t n, cap;
};

static int vals_add(struct vals *vs, const char *s, size_t len)
{
	if (vs->n == vs->cap) {
		size_t cap = vs->cap ? vs->cap * 2 : 4096;
		char **v = realloc(vs->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		vs->v = v;
		vs->cap = cap;
	}
	vs->v[vs->n] = strndup(s, len);
	return vs->v[vs->n++] ? 0 : -ENOMEM;
}

static void vals_free(struct vals *vs)
{
	for (size_t i = 0; i < vs->n; i++)
		free(vs->v[i]);
	free(vs->v);
	memset(vs, 0, sizeof(*vs));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Both hold the same values, byte for byte (each sorted here).  0 or 1. */
static int same_values(struct vals *a, struct vals *b)
{
	int ret = 1;

	qsort(a->v, a->n, sizeof(*a->v), cmp_str);
	qsort(b->v, b->n, sizeof(*b->v), cmp_str);
	ASSERT_EQ_U64("as many values in the topic as in the files", a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		ASSERT_STR("the same value in the topic as in the files", a->v[i], b->v[i]);
	ret = 0;
cleanup:
	return ret;
}

/* The whole file, decompressed (every member, CRC-32 and length checked by zlib).  malloc'd. */
static char *gunzip_file(const char *path, size_t *len)
{
	gzFile gz = gzopen(path, "rb");
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	int got, e;

	*len = 0;
	if (!gz || !buf)
		goto fail;
	while ((got = gzread(gz, buf + *len, (unsigned)(cap - *len - 1))) > 0) {
		*len += (size_t)got;
		if (cap - *len < 65536) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb)
				goto fail;
			buf = nb;
		}
	}
	if (got < 0) {
		fprintf(stderr, "    %s: not valid gzip: %s\n", path, gzerror(gz, &e));
		goto fail;
	}
	gzclose(gz);
	buf[*len] = '\0';
	return buf;
fail:
	if (gz)
		gzclose(gz);
	free(buf);
	return NULL;
}

/*
 * Reads DIR/flows/dt=*\/hr=*\/part-*.json.gz (with `hidden`, the hidden
 * .part-<COLLECTOR_ID>-* files a running collector is writing instead)
 * into `vs`: every line ends in \n, and every record lies in the partition
 * of its end_ms (UTC hour).  Published files must pass `gzip -t` too
 * (which, unlike zlib's gzread, refuses trailing garbage).  The number of
 * files, or -1 after saying why.
 */
static long read_files(const char *dir, bool hidden, struct vals *vs)
{
	char pattern[PATH_MAX + 64];
	glob_t g = { 0 };
	long ret = -1;

	snprintf(pattern, sizeof(pattern), "%.*s/flows/dt=*/hr=*/%s", PATH_MAX, dir,
		 hidden ? ".part-" COLLECTOR_ID "-*.json.gz" : "part-*.json.gz");
	if (glob(pattern, 0, NULL, &g) != 0)
		return 0;
	for (size_t f = 0; f < g.gl_pathc; f++) {
		const char *path = g.gl_pathv[f], *part = strstr(path, "/flows/dt=");
		char *text, *line, *nl, want[32];
		size_t len;

		if (!hidden && harness_sh("gzip -t '%s'", path))
			goto out;
		text = gunzip_file(path, &len);
		if (!text)
			goto out;
		if (len && text[len - 1] != '\n') {
			fprintf(stderr, "    %s: the last line has no newline\n", path);
			free(text);
			goto out;
		}
		for (line = text; (nl = strchr(line, '\n')); line = nl + 1) {
			json_error_t jerr;
			json_t *r = json_loadb(line, (size_t)(nl - line), 0, &jerr);
			time_t t = (time_t)(rec_u64(r, "end_ms") / 1000);
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(want, sizeof(want), "dt=%Y-%m-%d/hr=%H/", &tm);
			if (!r || strncmp(part + strlen("/flows/"), want, strlen(want)) != 0) {
				fprintf(stderr, "    %s: %s: %.*s\n", path,
					r ? "a record outside its end_ms's partition"
					  : "not a JSON object",
					(int)(nl - line), line);
				json_decref(r);
				free(text);
				goto out;
			}
			json_decref(r);
			if (vals_add(vs, line, (size_t)(nl - line))) {
				free(text);
				goto out;
			}
		}
		free(text);
	}
	ret = (long)g.gl_pathc;
out:
	globfree(&g);
	return ret;
}

/* How many files DIR/flows/dt=*\/hr=*\/ holds whose names match `name` (a glob). */
static size_t count_files(const char *dir, const char *name)
{
	char pattern[PATH_MAX + 64];
	glob_t g = { 0 };
	size_t n;

	snprintf(pattern, sizeof(pattern), "%.*s/flows/dt=*/hr=*/%s", PATH_MAX, dir, name);
	if (glob(pattern, 0, NULL, &g) != 0)
		return 0;
	n = g.gl_pathc;
	globfree(&g);
	return n;
}

/* DIR/flows-w*.jsonl, the plain JSON lines (collector_start adds --jsonl), into `vs`.  0 or -1. */
static int read_jsonl(const char *dir, struct vals *vs)
{
	char pattern[PATH_MAX + 64], *line = NULL;
	glob_t g = { 0 };
	size_t cap = 0;
	ssize_t n;
	int ret = -1;

	snprintf(pattern, sizeof(pattern), "%.*s/flows-w*.jsonl", PATH_MAX, dir);
	if (glob(pattern, 0, NULL, &g) != 0)
		return 0;
	for (size_t f = 0; f < g.gl_pathc; f++) {
		FILE *in = fopen(g.gl_pathv[f], "r");

		if (!in)
			goto out;
		while ((n = getline(&line, &cap, in)) > 0) {
			if (line[n - 1] != '\n' || vals_add(vs, line, (size_t)n - 1)) {
				fclose(in);
				goto out;
			}
		}
		fclose(in);
	}
	ret = 0;
out:
	free(line);
	globfree(&g);
	return ret;
}

/*
 * The whole topic read with kcat (-J: one JSON envelope per message) into
 * `vs`: every key is APP (the records' local_app) and every message is in
 * the partition murmur2(APP) names.  0 or 1.
 */
static int read_topic(struct kafka_mock *m, struct vals *vs)
{
	const char *argv[] = {
		"/usr/bin/kcat", "-C", "-q", "-b", kafka_mock__bootstraps(m), "-t", TOPIC, "-o",
		"beginning",	 "-e", "-J", NULL
	};
	uint64_t part = (kafka_mock_murmur2(APP, strlen(APP)) & 0x7fffffff) % PARTITIONS;
	char *out = NULL, *line, *save = NULL;
	json_t *env = NULL;
	int ret = 1;

	ASSERT_TRUE("kcat installed (make deps)", access(argv[0], X_OK) == 0);
	ASSERT_EQ_U64("kcat exit", 0, (uint64_t)harness_run_to_file(argv, KAFKA_WAIT_MS, &out));
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t jerr;
		json_t *payload;

		env = json_loads(line, 0, &jerr);
		ASSERT_TRUE("kcat -J line is JSON", env != NULL);
		payload = json_object_get(env, "payload");
		ASSERT_TRUE("a payload", json_is_string(payload));
		ASSERT_STR("key = local_app", APP, json_string_value(json_object_get(env, "key")));
		ASSERT_EQ_U64("partition = murmur2(key) % partitions", part,
			      json_integer_value(json_object_get(env, "partition")));
		ASSERT_EQ_U64("memory", 0,
			      (uint64_t)-vals_add(vs, json_string_value(payload),
						  json_string_length(payload)));
		json_decref(env);
		env = NULL;
	}
	ret = 0;
cleanup:
	json_decref(env);
	free(out);
	return ret;
}

/* Whether batch b of sender s must be in an output, must not, or may be (whole or not at all). */
enum want { WANT_NO, WANT_YES, WANT_MAY };
typedef enum want (*want_fn)(uint32_t s, uint32_t b, const void *ctx);

/* Every batch of senders [0, n) x [0, batches), where ctx is {n, batches}. */
static enum want want_all(uint32_t s, uint32_t b, const void *ctx)
{
	const uint32_t *sb = ctx;

	return s < sb[0] && b < sb[1] ? WANT_YES : WANT_NO;
}

/*
 * Checks `vs` (from `what`) against pf-send's records: each value exactly
 * the record pf-send made for its (sender, batch, record) (see pf-send
 * --help), none twice, every batch `want` says must be there is there
 * whole, no batch it rules out, and a batch that may be there is whole or
 * absent (all or nothing).  Senders below ns, batches below nb, records
 * below nr.  The number of values, or -1 after saying what is wrong.
 */
static long check_values(const struct vals *vs, const char *what, uint32_t ns, uint32_t nb,
			 uint32_t nr, want_fn want, const void *ctx)
{
	uint32_t *per_batch = calloc((size_t)ns * nb, sizeof(*per_batch));
	unsigned char *seen = calloc((size_t)ns * nb * nr, 1);
	long ret = -1;

	if (!per_batch || !seen)
		goto out;
	for (size_t k = 0; k < vs->n; k++) {
		json_error_t jerr;
		json_t *r = json_loads(vs->v[k], 0, &jerr);
		uint64_t bs = rec_u64(r, "bytes_sent"), s, b, i;
		char want_s[80];

		s = bs / 1000000000000ull;
		b = bs / 1000000 % 1000000;
		i = bs % 1000000;
#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "    FAIL %s: record %llu/%llu/%llu: %s\n      %s\n", \
				what, (unsigned long long)s, (unsigned long long)b,           \
				(unsigned long long)i, #cond, vs->v[k]);                      \
			json_decref(r);                                                       \
			goto out;                                                             \
		}                                                                             \
	} while (0)
		CHECK(r && json_is_object(r));
		CHECK(s < ns && b < nb && i < nr);
		CHECK(want((uint32_t)s, (uint32_t)b, ctx) != WANT_NO);
		snprintf(want_s, sizeof(want_s), "sender-%llu", (unsigned long long)s);
		CHECK(strcmp(rec_str(r, "local_pod"), want_s) == 0);
		CHECK(strcmp(rec_str(r, "local_namespace"), "bench") == 0);
		CHECK(strcmp(rec_str(r, "local_app"), APP) == 0);
		CHECK(strcmp(rec_str(r, "local_node"), "node-pf") == 0);
		CHECK(strcmp(rec_str(r, "local_workload"), "pf-send") == 0);
		CHECK(strcmp(rec_str(r, "remote_source"), "unattributed") == 0);
		CHECK(strcmp(rec_str(r, "remote_pod"), "") == 0);
		CHECK(strcmp(rec_str(r, "remote_app"), "") == 0);
		CHECK(rec_u64(r, "bytes_received") == 2 * bs);
		CHECK(rec_u64(r, "segs_sent") == i + 1);
		CHECK(rec_u64(r, "segs_received") == b + 1);
		CHECK(rec_u64(r, "start_ms") == T0_MS + b * 10000);
		CHECK(rec_u64(r, "end_ms") == T0_MS + b * 10000 + 10000);
		CHECK(rec_u64(r, "flows") == 1 + i % 3);
		CHECK(rec_u64(r, "closed") == i % 2);
		CHECK(rec_u64(r, "retransmits") == i % 5);
		CHECK(rec_u64(r, "resets") == (i % 7 == 0));
		CHECK(rec_u64(r, "srtt_us") == 100 + i);
		CHECK(rec_u64(r, "min_rtt_us") == 50 + i % 50);
		CHECK(rec_u64(r, "pid") == 1000 + s);
		CHECK(rec_u64(r, "family") == 4);
		CHECK(strcmp(rec_str(r, "direction"), i % 2 ? "in" : "out") == 0);
		CHECK(rec_u64(r, "remote_port") == (i % 2 ? 40000 + i % 20000 : 443));
		CHECK(rec_u64(r, "cgroup_id") == 1000 + i % 4);
		snprintf(want_s, sizeof(want_s), "%064llx", (unsigned long long)(1000 + i % 4));
		CHECK(strcmp(rec_str(r, "container_id"), want_s) == 0);
		snprintf(want_s, sizeof(want_s), "app-%llu", (unsigned long long)(i % 4));
		CHECK(strcmp(rec_str(r, "container"), want_s) == 0);
		snprintf(want_s, sizeof(want_s), "10.%llu.%llu.1", (unsigned long long)(s >> 8),
			 (unsigned long long)(s & 255));
		CHECK(strcmp(rec_str(r, "local_ip"), want_s) == 0);
		snprintf(want_s, sizeof(want_s), "198.18.%llu.%llu", (unsigned long long)(b & 255),
			 (unsigned long long)(i & 255));
		CHECK(strcmp(rec_str(r, "remote_ip"), want_s) == 0);
		CHECK(strcmp(rec_str(r, "comm"), "pf-send") == 0);
		CHECK(!seen[(s * nb + b) * nr + i]); /* no record twice */
#undef CHECK
		seen[(s * nb + b) * nr + i] = 1;
		per_batch[s * nb + b]++;
		json_decref(r);
	}
	for (uint32_t s = 0; s < ns; s++)
		for (uint32_t b = 0; b < nb; b++) {
			enum want w = want(s, b, ctx);
			uint32_t got = per_batch[s * nb + b];

			if ((w == WANT_YES && got != nr) ||
			    (w == WANT_MAY && got != 0 && got != nr)) {
				fprintf(
				    stderr,
				    "    FAIL %s: batch %u of sender %u: %u of its %u records\n",
				    what, b, s, got, nr);
				goto out;
			}
		}
	ret = (long)vs->n;
out:
	free(per_batch);
	free(seen);
	return ret;
}

/* A fresh mock cluster of BROKERS brokers with TOPIC (PARTITIONS partitions) made first. */
static struct kafka_mock *cluster_new(void)
{
	struct kafka_mock *m = kafka_mock__new(BROKERS);
	int err;

	if (!m) {
		fprintf(stderr, "    kafka_mock__new: %s\n", strerror(errno));
		return NULL;
	}
	err = kafka_mock__topic(m, TOPIC, PARTITIONS);
	if (err) {
		fprintf(stderr, "    kafka_mock__topic: %s\n", strerror(-err));
		kafka_mock__free(m);
		return NULL;
	}
	return m;
}

/* ---- tests ------------------------------------------------------------------ */

/*
 * 4 senders x 10 batches x 100 records through a collector with Kafka: the
 * topic and the published files hold the same 4000 values, byte for byte,
 * each once, keyed by local_app; the sink's counters agree before SIGTERM.
 */
static int test_kafka_equals_files(void)
{
	static const uint32_t all[2] = { 4, 10 };
	struct vals files = { 0 }, topic = { 0 };
	struct kafka_mock *m = cluster_new();
	struct coll c = { 0 };
	json_t *res = NULL;
	double secs = 0;
	uint64_t t0;
	long nfiles;
	int ret = 1;

	ASSERT_TRUE("mock cluster", m != NULL);
	ASSERT_EQ_U64(
	    "collector starts", 0,
	    (uint64_t)-coll__start(
		&c, &g_conf, "equal",
		(const char *const[]){ "--kafka-brokers", kafka_mock__bootstraps(m), NULL }));
	ASSERT_EQ_U64("pf-send exit", 0,
		      (uint64_t)send_batches(&c, /*first=*/0, /*senders=*/4, /*batches=*/10,
					     /*records=*/100, &res));
	ASSERT_EQ_U64("204s", 40, status_count(res, "204"));
	ASSERT_EQ_U64("records answered 204", 4000, rec_u64(res, "records_ok"));
	t0 = harness_now_ms();
	ASSERT_EQ_U64(
	    "delivered (/metrics)", 4000,
	    (uint64_t)coll__wait_metric_eq(&c, KS_RECORDS("delivered"), 4000, KAFKA_WAIT_MS));
	fprintf(stderr, "    4000 records delivered %llu ms after the last 204\n",
		(unsigned long long)(harness_now_ms() - t0));
	ASSERT_EQ_U64("queued", 4000, coll__metric(&c, KS_RECORDS("queued")));
	ASSERT_EQ_U64("refused, queue full", 0, coll__metric(&c, KS_RECORDS("refused_queue_full")));
	ASSERT_EQ_U64("refused, too large", 0, coll__metric(&c, KS_RECORDS("refused_too_large")));
	ASSERT_EQ_U64("refused, error", 0, coll__metric(&c, KS_RECORDS("refused_error")));
	ASSERT_EQ_U64("in flight", 0, coll__metric(&c, KS_IN_FLIGHT));
	ASSERT_EQ_U64("no delivery failed", 0, no_kafka_failures(&c));
	ASSERT_EQ_U64("bytes delivered = bytes queued", coll__metric(&c, KS_BYTES("queued")),
		      coll__metric(&c, KS_BYTES("delivered")));
	ASSERT_EQ_U64("records written to the files", 4000, coll__metric(&c, FILES_RECORDS));
	ASSERT_EQ_U64("records answered 204 (/metrics)", 4000, coll__metric(&c, RECORDS));
	ASSERT_EQ_U64("exit code", 0, (uint64_t)coll__stop(&c, &secs));
	ASSERT_EQ_U64("no hidden file left", 0, count_files(c.data, ".part-*"));
	nfiles = read_files(c.data, false, &files);
	ASSERT_TRUE("files read", nfiles > 0);
	ASSERT_EQ_U64("records in the files", 4000,
		      (uint64_t)check_values(&files, "files", /*ns=*/4, /*nb=*/10, /*nr=*/100,
					     want_all, all));
	ASSERT_EQ_U64("topic read", 0, (uint64_t)read_topic(m, &topic));
	ASSERT_EQ_U64("records in the topic", 4000,
		      (uint64_t)check_values(&topic, "topic", /*ns=*/4, /*nb=*/10, /*nr=*/100,
					     want_all, all));
	ASSERT_EQ_U64("the topic holds the files' values", 0,
		      (uint64_t)same_values(&files, &topic));
	fprintf(stderr,
		"    files: %zu records in %ld files; topic: %zu messages, key \"%s\"; exit after "
		"%.2f s\n",
		files.n, nfiles, topic.n, APP, secs);
	ret = 0;
cleanup:
	coll__free(&c, ret != 0);
	json_decref(res);
	vals_free(&files);
	vals_free(&topic);
	kafka_mock__free(m);
	return ret;
}

/* Test 2's batches: sender 0's first, sender 1's first 5 (the rest refused), sender 2's 5. */
static enum want want_outage(uint32_t s, uint32_t b, const void *ctx)
{
	(void)ctx;
	return (s == 0 && b == 0) || (s >= 1 && s <= 2 && b < 5) ? WANT_YES : WANT_NO;
}

/* Batches pf-send posted and had no 204 for: another answer, or none (transport errors). */
static uint64_t not_204(json_t *res)
{
	json_t *status = json_object_get(res, "status"), *v;
	uint64_t n = rec_u64(res, "transport_errors");
	const char *code;

	json_object_foreach(status, code, v)
	{
		if (strcmp(code, "204") != 0)
			n += (uint64_t)json_integer_value(v);
	}
	return n;
}

/* Only what was answered before the retries: sender 0's first batch, sender 1's first 5. */
static enum want want_before_retry(uint32_t s, uint32_t b, const void *ctx)
{
	(void)ctx;
	return (s == 0 && b == 0) || (s == 1 && b < 5) ? WANT_YES : WANT_NO;
}

/*
 * Every broker down after a first delivered batch: the sink queues 500
 * records (--kafka-max-queued 500), then every batch is answered 429 and
 * kept out of the files and the JSON lines too (all or nothing).  Brokers
 * back: the queue drains, the senders' next batches go in, and at SIGTERM
 * the topic and the files hold exactly the records answered 204, once.
 */
static int test_kafka_down_backpressure(void)
{
	struct vals files = { 0 }, topic = { 0 }, hidden = { 0 }, jsonl = { 0 };
	struct kafka_mock *m = cluster_new();
	json_t *first = NULL, *during = NULL, *after = NULL;
	struct coll c = { 0 };
	uint64_t t0, drained_ms, ok, in_topic;
	struct report_fault f;
	int ret = 1;

	ASSERT_TRUE("mock cluster", m != NULL);
	ASSERT_EQ_U64("collector starts", 0,
		      (uint64_t)-coll__start(
			  &c, &g_conf, "outage",
			  (const char *const[]){ "--kafka-brokers", kafka_mock__bootstraps(m),
						 "--kafka-max-queued", "500", NULL }));
	ASSERT_EQ_U64("first batch", 0,
		      (uint64_t)send_batches(&c, /*first=*/0, /*senders=*/1, /*batches=*/1,
					     /*records=*/100, &first));
	ASSERT_EQ_U64(
	    "first batch delivered", 100,
	    (uint64_t)coll__wait_metric_eq(&c, KS_RECORDS("delivered"), 100, KAFKA_WAIT_MS));
	for (int32_t b = 1; b <= BROKERS; b++)
		ASSERT_EQ_U64("broker down", 0, (uint64_t)-kafka_mock__broker_down(m, b));
	/* one request at a time: 5 batches fill the 500 records of room, the other 5 find none */
	ASSERT_EQ_U64("pf-send exit (some 429)", 1,
		      (uint64_t)send_batches(&c, /*first=*/1, /*senders=*/1, /*batches=*/10,
					     /*records=*/100, &during));
	ASSERT_EQ_U64("204 while Kafka is down", 5, status_count(during, "204"));
	ASSERT_EQ_U64("429 while Kafka is down", 5, status_count(during, "429"));
	ASSERT_EQ_U64("records answered 204", 500, rec_u64(during, "records_ok"));
	ASSERT_EQ_U64("429s (/metrics)", 5, coll__metric(&c, REQUESTS("429")));
	ASSERT_EQ_U64("in flight: the bound", 500, coll__metric(&c, KS_IN_FLIGHT));
	ASSERT_EQ_U64("refused, queue full", 500,
		      coll__metric(&c, KS_RECORDS("refused_queue_full")));
	ASSERT_EQ_U64("queued", 600, coll__metric(&c, KS_RECORDS("queued")));
	/* the sink's statistics (every second) see every broker gone; nothing more went out */
	ASSERT_EQ_U64("brokers up (/metrics)", 0,
		      (uint64_t)coll__wait_metric_eq(&c, KS_BROKERS_UP, 0, WAIT_MS));
	ASSERT_EQ_U64("delivered", 100, coll__metric(&c, KS_RECORDS("delivered")));
	/* the refused batches were written to the files, then taken back out */
	ASSERT_EQ_U64("records in the files (/metrics)", 600, coll__metric(&c, FILES_RECORDS));
	ASSERT_TRUE("hidden files read", read_files(c.data, true, &hidden) > 0);
	ASSERT_EQ_U64(
	    "records in the hidden files: none refused", 600,
	    (uint64_t)check_values(&hidden, "hidden files", 3, 10, 100, want_before_retry, NULL));
	ASSERT_EQ_U64("JSON lines read", 0, (uint64_t)-read_jsonl(c.data, &jsonl));
	ASSERT_EQ_U64("records in the JSON lines: none refused", 600,
		      (uint64_t)check_values(&jsonl, "JSON lines", /*ns=*/3, /*nb=*/10, /*nr=*/100,
					     want_before_retry, NULL));
	vals_free(&jsonl);
	for (int32_t b = 1; b <= BROKERS; b++)
		ASSERT_EQ_U64("broker up", 0, (uint64_t)-kafka_mock__broker_up(m, b));
	t0 = harness_now_ms();
	ASSERT_EQ_U64(
	    "the queue drains", 600,
	    (uint64_t)coll__wait_metric_eq(&c, KS_RECORDS("delivered"), 600, KAFKA_WAIT_MS));
	drained_ms = harness_now_ms() - t0;
	/* the senders' retries, as distinct records: sender 2 */
	ASSERT_EQ_U64("pf-send exit after", 0,
		      (uint64_t)send_batches(&c, /*first=*/2, /*senders=*/1, /*batches=*/5,
					     /*records=*/100, &after));
	ASSERT_EQ_U64("204 after", 5, status_count(after, "204"));
	ASSERT_EQ_U64(
	    "delivered after", 1100,
	    (uint64_t)coll__wait_metric_eq(&c, KS_RECORDS("delivered"), 1100, KAFKA_WAIT_MS));
	ASSERT_EQ_U64("no delivery failed", 0, no_kafka_failures(&c));
	ASSERT_EQ_U64("exit code", 0, (uint64_t)coll__stop(&c, NULL));
	ASSERT_EQ_U64("no hidden file left", 0, count_files(c.data, ".part-*"));
	ok = rec_u64(first, "records_ok") + rec_u64(during, "records_ok") +
	     rec_u64(after, "records_ok");
	ASSERT_EQ_U64("records answered 204", 1100, ok);
	ASSERT_TRUE("files read", read_files(c.data, false, &files) > 0);
	ASSERT_EQ_U64("records in the files = 204s", ok,
		      (uint64_t)check_values(&files, "files", /*ns=*/3, /*nb=*/10, /*nr=*/100,
					     want_outage, NULL));
	ASSERT_EQ_U64("topic read", 0, (uint64_t)read_topic(m, &topic));
	in_topic = (uint64_t)check_values(&topic, "topic", /*ns=*/3, /*nb=*/10, /*nr=*/100,
					  want_outage, NULL);
	ASSERT_EQ_U64("records in the topic = 204s", ok, in_topic);
	ASSERT_EQ_U64("the topic holds the files' values", 0,
		      (uint64_t)same_values(&files, &topic));
	ASSERT_EQ_U64("JSON lines read", 0, (uint64_t)-read_jsonl(c.data, &jsonl));
	ASSERT_EQ_U64("the JSON lines hold them too", 0, (uint64_t)same_values(&files, &jsonl));
	fprintf(stderr,
		"    brokers down: 5 batches queued (500 records), 5 answered 429; back up: "
		"drained in %llu ms; %llu records answered 204 = %zu in the files = %zu in the "
		"topic\n",
		(unsigned long long)drained_ms, (unsigned long long)ok, files.n, topic.n);
	f = (struct report_fault){
		.fault = "every Kafka broker down while senders post (files and Kafka on)",
		.unit = "records",
		.injected = rec_u64(first, "records_sent") + rec_u64(during, "records_sent") +
			    rec_u64(after, "records_sent"),
		.delivered = in_topic,
		.counted = (not_204(first) + not_204(during) + not_204(after)) *
			   rec_u64(during, "records_per_batch"),
		.counted_as = "429 to the sender (it keeps the batch), kept out of the files too",
		.note = "delivered: in the topic and the files, once each",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every record in the topic or refused with 429", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	coll__free(&c, ret != 0);
	json_decref(first);
	json_decref(during);
	json_decref(after);
	vals_free(&files);
	vals_free(&topic);
	vals_free(&hidden);
	vals_free(&jsonl);
	kafka_mock__free(m);
	return ret;
}

/* Test 3: the 4000 records sent first, and whichever batches of senders 4-5 were answered. */
static enum want want_sigterm(uint32_t s, uint32_t b, const void *ctx)
{
	(void)ctx;
	return s < 4 ? (b < 10 ? WANT_YES : WANT_NO) : WANT_MAY;
}

/*
 * SIGTERM with records queued for Kafka (a linger of 5 s keeps them there:
 * only the exit's flush sends them) and senders still sending: the
 * collector exits within 5 s, publishes every file, and every record
 * answered 204 is in the files and the topic, once.
 */
static int test_sigterm_within_5s(void)
{
	struct vals files = { 0 }, topic = { 0 };
	struct kafka_mock *m = cluster_new();
	char bin[512], *out = NULL;
	json_t *res = NULL, *bg = NULL;
	struct coll c = { 0 };
	int64_t queued_at_term = -1, in = -1;
	uint64_t ok, deadline, in_topic;
	struct report_fault f;
	json_error_t jerr;
	int ret = 1, out_fd = -1;
	double secs = 0;
	pid_t snd = -1;

	ASSERT_TRUE("mock cluster", m != NULL);
	ASSERT_EQ_U64("collector starts", 0,
		      (uint64_t)-coll__start(
			  &c, &g_conf, "sigterm",
			  (const char *const[]){ "--kafka-brokers", kafka_mock__bootstraps(m),
						 "--kafka-linger", "5s", NULL }));
	ASSERT_EQ_U64("pf-send exit", 0,
		      (uint64_t)send_batches(&c, /*first=*/0, /*senders=*/4, /*batches=*/10,
					     /*records=*/100, &res));
	ASSERT_EQ_U64("records answered 204", 4000, rec_u64(res, "records_ok"));
	/* senders 4 and 5 keep sending, two requests in flight each, until SIGTERM cuts them */
	snd = harness_start_capture(
	    (const char *const[]){ harness_bin("pf-send", bin, sizeof(bin)), "--url", c.url,
				   "--first-sender", "4", "--senders", "2", "--batches", "20000",
				   "--records", "100", "--parallel", "2", NULL },
	    &out_fd);
	ASSERT_TRUE("senders started", snd > 0);
	/*
	 * Once they are going, SIGTERM at a moment with over a thousand records
	 * queued: what lingers is one partial batch (every record has the key
	 * "pf-send": one partition), which librdkafka sends when it reaches
	 * batch.size (1 MB, some 1400 records), so the count rises and falls.
	 */
	for (deadline = harness_now_ms() + WAIT_MS; harness_now_ms() < deadline; usleep(1000)) {
		in = coll__metric(&c, RECORDS);
		queued_at_term = in >= 10000 ? coll__metric(&c, KS_IN_FLIGHT) : -1;
		if (queued_at_term >= 1000)
			break;
	}
	ASSERT_TRUE("senders got going, over 1000 records queued for Kafka",
		    in >= 10000 && queued_at_term >= 1000);
	ASSERT_EQ_U64("exit code after SIGTERM", 0, (uint64_t)coll__stop(&c, &secs));
	fprintf(
	    stderr,
	    "    SIGTERM with %lld records queued for Kafka (last sample) and %lld answered: exit after "
	    "%.3f s\n",
	    (long long)queued_at_term, (long long)in, secs);
	ASSERT_TRUE("exited within 5 s", secs < 5.0);
	ASSERT_TRUE("nothing purged at exit",
		    !strstr(c.p.err_text, "not delivered") && !strstr(c.p.err_text, "purged"));
	ASSERT_TRUE("no publish failed at exit", !strstr(c.p.err_text, "could not be published"));
	ASSERT_EQ_U64("pf-send finished", 1,
		      (uint64_t)harness_finish_capture(snd, out_fd, RUN_MS, &out));
	snd = -1;
	bg = json_loads(out ? out : "", 0, &jerr);
	ASSERT_TRUE("pf-send JSON", bg != NULL);
	ASSERT_TRUE("senders were cut short", rec_u64(bg, "unsent") > 0);
	ok = rec_u64(res, "records_ok") + rec_u64(bg, "records_ok");
	ASSERT_EQ_U64("no hidden file left", 0, count_files(c.data, ".part-*"));
	ASSERT_TRUE("files read", read_files(c.data, false, &files) > 0);
	ASSERT_EQ_U64("records in the files = 204s", ok,
		      (uint64_t)check_values(&files, "files", /*ns=*/6, /*nb=*/20000, /*nr=*/100,
					     want_sigterm, NULL));
	ASSERT_EQ_U64("topic read", 0, (uint64_t)read_topic(m, &topic));
	in_topic = (uint64_t)check_values(&topic, "topic", /*ns=*/6, /*nb=*/20000, /*nr=*/100,
					  want_sigterm, NULL);
	ASSERT_EQ_U64("records in the topic = 204s", ok, in_topic);
	ASSERT_EQ_U64("the topic holds the files' values", 0,
		      (uint64_t)same_values(&files, &topic));
	fprintf(
	    stderr,
	    "    %llu records answered 204 (%llu by the senders cut short) = %zu in the files = "
	    "%zu in the topic\n",
	    (unsigned long long)ok, (unsigned long long)rec_u64(bg, "records_ok"), files.n,
	    topic.n);
	f = (struct report_fault){
		.fault = "SIGTERM with over 1000 records queued for Kafka, senders posting",
		.unit = "records",
		.injected = rec_u64(res, "records_sent") + rec_u64(bg, "records_sent"),
		.delivered = in_topic,
		.counted = (not_204(res) + not_204(bg)) * rec_u64(bg, "records_per_batch"),
		.counted_as =
		    "no 204 to the sender (refused, or the stream cut): it keeps the batch",
		.note = "delivered: in the topic and the files, once each; exit within 5 s, "
			"nothing purged",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every posted record delivered or not acknowledged", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	if (snd > 0) {
		kill(snd, SIGKILL);
		harness_finish_capture(snd, out_fd, 1000, &out);
	}
	coll__free(&c, ret != 0);
	free(out);
	json_decref(res);
	json_decref(bg);
	vals_free(&files);
	vals_free(&topic);
	kafka_mock__free(m);
	return ret;
}

/* The first half of a gzip member holding one line: what a crash mid-write leaves. */
static size_t partial_member(unsigned char *buf, size_t cap)
{
	static const char line[] =
	    "{\"start_ms\":1700000000000,\"note\":\"cut short by kill -9\"}\n";
	z_stream z = { 0 };
	size_t n;

	if (deflateInit2(&z, 3, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	z.next_in = (unsigned char *)line;
	z.avail_in = sizeof(line) - 1;
	z.next_out = buf;
	z.avail_out = (unsigned)cap;
	n = deflate(&z, Z_FINISH) == Z_STREAM_END ? cap - z.avail_out : 0;
	deflateEnd(&z);
	return n / 2;
}

static int append_file(const char *path, const void *p, size_t n, int flags)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0644), ret = -1;

	if (fd < 0)
		return -errno;
	if (write(fd, p, n) == (ssize_t)n)
		ret = 0;
	close(fd);
	return ret;
}

/* The one file `name` (a glob) matches in DIR/flows/dt=2023-11-14/hr=HH, into buf. */
static int find_file(const char *dir, int hr, const char *name, char *buf, size_t len)
{
	char pattern[PATH_MAX + 64];
	glob_t g = { 0 };
	int ret = -ENOENT;

	snprintf(pattern, sizeof(pattern), "%.*s/flows/dt=2023-11-14/hr=%02d/%s", PATH_MAX, dir, hr,
		 name);
	if (glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc == 1) {
		snprintf(buf, len, "%s", g.gl_pathv[0]);
		ret = 0;
	}
	globfree(&g);
	return ret;
}

/*
 * kill -9 after every batch was answered 204: the files are still hidden
 * (nothing published, nothing visible in part).  What a crash mid-write
 * would add is added by hand: half a gzip member at the end of one file,
 * and a file holding only that.  The next start's recovery publishes the
 * two files (the half member cut), removes the third, and leaves another
 * collector's hidden file alone; the published files hold every record
 * answered 204, once, each in its hour's partition, and pass gzip -t.
 */
static int test_kill9_then_recovery(void)
{
	/* 400 batches of 10 s from 22:13:20: batches 0-278 end in hour 22, 279-399 in hour 23 */
	static const uint32_t all[2] = { 4, 400 };
	char hidden23[PATH_MAX], orphan[PATH_MAX], other[PATH_MAX], dir22[768], line[256];
	unsigned char half[512];
	struct vals files = { 0 };
	struct coll c = { 0 }, c2 = { 0 };
	json_t *res = NULL;
	size_t cut, n22 = 0;
	struct stat st;
	uint64_t t0, recovered;
	struct report_fault f;
	long nfiles;
	int ret = 1;

	ASSERT_EQ_U64("collector starts", 0,
		      (uint64_t)-coll__start(&c, &g_conf, "kill9",
					     (const char *const[]){ "--workers", "1", NULL }));
	ASSERT_EQ_U64("pf-send exit", 0,
		      (uint64_t)send_batches(&c, /*first=*/0, /*senders=*/4, /*batches=*/400,
					     /*records=*/10, &res));
	ASSERT_EQ_U64("204s", 1600, status_count(res, "204"));
	ASSERT_EQ_U64("records answered 204", 16000, rec_u64(res, "records_ok"));
	kill(c.p.pid, SIGKILL);
	ASSERT_EQ_U64("killed", 128 + SIGKILL, (uint64_t)harness_wait(c.p.pid, WAIT_MS));
	c.p.exited = true;
	/* one worker, two hours: one hidden file each, and not a byte visible */
	ASSERT_EQ_U64("hidden files after kill -9", 2, count_files(c.data, ".part-*"));
	ASSERT_EQ_U64("visible files after kill -9", 0, count_files(c.data, "part-*"));
	/* a crash mid-write: half a member at the end of hour 23's file, and a file of only that */
	cut = partial_member(half, sizeof(half));
	ASSERT_TRUE("half a gzip member", cut > 10);
	ASSERT_EQ_U64("hour 23's hidden file", 0,
		      (uint64_t)-find_file(c.data, 23, ".part-" COLLECTOR_ID "-*", hidden23,
					   sizeof(hidden23)));
	ASSERT_EQ_U64("append", 0, (uint64_t)-append_file(hidden23, half, cut, O_APPEND));
	snprintf(dir22, sizeof(dir22), "%.700s/flows/dt=2023-11-14/hr=22", c.data);
	snprintf(orphan, sizeof(orphan), "%s/.part-%s-1.json.gz", dir22, COLLECTOR_ID);
	ASSERT_EQ_U64("a file of half a member", 0,
		      (uint64_t)-append_file(orphan, half, cut, O_CREAT | O_EXCL));
	/* another collector's file, maybe being written by a live replica */
	snprintf(other, sizeof(other), "%s/.part-other-node-1.json.gz", dir22);
	ASSERT_EQ_U64("another collector's file", 0,
		      (uint64_t)-append_file(other, half, cut, O_CREAT | O_EXCL));

	t0 = harness_now_ms();
	ASSERT_EQ_U64("collector restarts", 0,
		      (uint64_t)-coll__start(&c2, &g_conf, "kill9",
					     (const char *const[]){ "--workers", "1", NULL }));
	fprintf(stderr, "    restart with recovery: ready after %llu ms\n",
		(unsigned long long)(harness_now_ms() - t0));
	snprintf(line, sizeof(line),
		 "files: finished 2 and removed 1 hidden files a previous run left (%zu bytes of "
		 "unfinished batches cut)\n",
		 2 * cut);
	ASSERT_TRUE("the recovery line", strstr(c2.p.err_text, line) != NULL);
	ASSERT_EQ_U64(
	    "recovered: published", 2,
	    coll__metric(&c2, "podflow_collector_files_recovered_total{action=\"published\"}"));
	ASSERT_EQ_U64(
	    "recovered: removed", 1,
	    coll__metric(&c2, "podflow_collector_files_recovered_total{action=\"removed\"}"));
	ASSERT_EQ_U64(
	    "recovered: errors", 0,
	    coll__metric(&c2, "podflow_collector_files_recovered_total{action=\"error\"}"));
	ASSERT_EQ_U64("recovered: bytes cut", 2 * cut,
		      coll__metric(&c2, "podflow_collector_files_recovered_cut_bytes_total"));
	/* published before ready: read them while the new collector runs */
	ASSERT_EQ_U64("only the other collector's hidden file left", 1,
		      count_files(c2.data, ".part-*"));
	ASSERT_EQ_U64("and left as it was", 0, (uint64_t)stat(other, &st));
	ASSERT_EQ_U64("its size", cut, (uint64_t)st.st_size);
	nfiles = read_files(c2.data, false, &files);
	ASSERT_EQ_U64("published files", 2, (uint64_t)nfiles);
	recovered = (uint64_t)check_values(&files, "recovered files", /*ns=*/4, /*nb=*/400,
					   /*nr=*/10, want_all, all);
	ASSERT_EQ_U64("every record answered 204 in them, once", 16000, recovered);
	/* every record is in its end_ms's hour (read_files): so many end before 23:00 */
	for (size_t i = 0; i < files.n; i++) {
		json_t *r = json_loads(files.v[i], 0, NULL);

		n22 += rec_u64(r, "end_ms") < HOUR23_MS;
		json_decref(r);
	}
	ASSERT_EQ_U64("records in hour 22 (batches 0-278)", 4 * 279 * 10, n22);
	ASSERT_EQ_U64("records in hour 23 (batches 279-399)", 4 * 121 * 10, files.n - n22);
	ASSERT_EQ_U64("exit code", 0, (uint64_t)coll__stop(&c2, NULL));
	ASSERT_EQ_U64("nothing more published at exit", 2, count_files(c2.data, "part-*"));
	fprintf(stderr,
		"    kill -9 left 2 hidden files; recovery published %ld files holding %zu records "
		"(%zu bytes of half a member cut from each of 2 files, one of them removed)\n",
		nfiles, files.n, cut);
	f = (struct report_fault){
		.fault = "kill -9 with every file hidden, half-written members, then restart",
		.unit = "records acknowledged",
		.injected = rec_u64(res, "records_ok"),
		.delivered = recovered,
		.note = "recovery cuts the half members (files_recovered_cut_bytes_total), leaves "
			"another collector's file alone",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every acknowledged record published once", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	coll__free(&c, ret != 0);
	coll__free(&c2, ret != 0);
	json_decref(res);
	vals_free(&files);
	return ret;
}

static const struct harness_test tests[] = {
	{ "kafka_equals_files", test_kafka_equals_files },
	{ "kafka_down_backpressure_no_loss", test_kafka_down_backpressure },
	{ "sigterm_within_5s", test_sigterm_within_5s },
	{ "kill9_then_recovery", test_kill9_then_recovery },
};

int main(int argc, char **argv)
{
	/*
	 * No root needed: the mock cluster runs in this process and kcat is a
	 * plain client.  As root (CI), a private network namespace, entered
	 * before the mock cluster binds its ports: the collectors and kcat
	 * started here share it.
	 */
	static const struct harness_suite suite = {
		.name = "outputs",
		HARNESS_TESTS(tests),
		.debug_env = "KAFKA_DEBUG",
		HARNESS_TMP(g_tmp, "podflow-outputs-it"),
		.netns = true,
	};

	return harness_main(&suite, argc, argv);
}
