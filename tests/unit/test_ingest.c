// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests for collector/server/ingest, at its public functions: what is
 * decided from the headers alone (404, 405, 415, 401 and 431 by reason),
 * and what a body earns (204 with its records written, 400 with the
 * decoder's reason, records refused for their times, the heartbeat and the
 * attributor's decisions, the undecided held and written late).  Real
 * batches (lib/wire), the real output stage writing plain JSON lines to a
 * temporary directory, read back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../report.h"
#include "attributor.h"
#include "clock.h"
#include "flow.h"
#include "ingest.h"
#include "log.h"
#include "output.h"
#include "stats.h"
#include "token.h"
#include "wire.h"

#define TOKEN "s3cr3t-token-0123456789"

struct fixture {
	char dir[64], token_path[96];
	struct stats stats;
	struct ingest_bounds bounds;
	struct token_file *token;
	struct outputs *outputs;
	struct attributor *attr; /* NULL unless the test asked for one */
	struct ingest *in;
	struct wire_encoder *enc;
	char reason[256];
};

static const struct flow_identity g_sender = {
	.app = "checkout", .namespace = "shop", .pod = "checkout-1", .node = "n1", .workload = "co"
};

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int late_write(void *ctx, const struct wire_batch *b)
{
	return outputs__write_late(ctx, b);
}

static struct fixture *fixture_new(bool attribution)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ingest_opts io = { 0 };
	char why[256];
	FILE *t;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/podflow-test-ingest-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->token_path, sizeof(f->token_path), "%s/token", f->dir);
	t = fopen(f->token_path, "w");
	assert_non_null(t);
	fputs(TOKEN "\n", t);
	fclose(t);
	f->token = token_file__new(f->token_path, INGEST_TOKEN_RECHECK, why, sizeof(why));
	assert_non_null(f->token);
	f->outputs = outputs__new(
	    &(struct outputs_opts){
		.data_dir = f->dir, .jsonl = true, .writers = 1, .late = attribution },
	    why, sizeof(why));
	assert_non_null(f->outputs);
	if (attribution) {
		struct attr_opts ao = { .max_delay_ms = 30000,
					.retention_ms = 3600000,
					.heartbeat_grace_ms = 20000,
					.heartbeat_max_skew_ms = 5000,
					.max_delayed = 64,
					.max_ranges = 1024,
					.write = late_write,
					.write_ctx = f->outputs };

		f->attr = attributor__new(&ao, why, sizeof(why));
		assert_non_null(f->attr);
	}
	f->bounds = (struct ingest_bounds){ .max_skew_ms = 300000, .max_age_ms = 7 * 86400000ull };
	io.outputs = f->outputs;
	io.writer = outputs__writer(f->outputs, 0);
	io.token = f->token;
	io.attr = f->attr;
	io.bounds = &f->bounds;
	f->in = ingest__new(&io, &f->stats, why, sizeof(why));
	assert_non_null(f->in);
	f->enc = wire_encoder__new(WIRE_ENC_ZSTD, 0);
	assert_non_null(f->enc);
	return f;
}

static void fixture_free(struct fixture *f)
{
	ingest__free(f->in);
	attributor__free(f->attr); /* after ingest: its last records go to the outputs */
	outputs__close(f->outputs, 0);
	outputs__free(f->outputs);
	token_file__free(f->token);
	wire_encoder__free(f->enc);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
}

/* A record of `id` (its bytes_sent) to 10.0.0.<peer> (127.0.0.1 for peer 0) over [start, end). */
static struct flow_record rec(uint64_t id, uint8_t peer, int64_t start, int64_t end)
{
	struct flow_record r = { .start_ms = (uint64_t)start,
				 .end_ms = (uint64_t)end,
				 .family = 4,
				 .direction = FLOW_DIRECTION_OUT,
				 .flows = 1,
				 .local_port = 40000,
				 .remote_port = 443,
				 .bytes_sent = id };

	r.local_addr[10] = r.local_addr[11] = r.remote_addr[10] = r.remote_addr[11] = 0xff;
	r.local_addr[12] = 10;
	r.local_addr[15] = 1;
	r.remote_addr[12] = peer ? 10 : 127;
	r.remote_addr[15] = peer ? peer : 1;
	return r;
}

/* ingest__handle of a batch of `n` records from g_sender, heartbeat [hb_from, hb_to) on 10.0.0.1. */
static int post(struct fixture *f, const struct flow_record *r, uint32_t n, int64_t hb_from,
		int64_t hb_to)
{
	static const uint8_t ip[16] = { [10] = 0xff, [11] = 0xff, [12] = 10, [15] = 1 };
	struct wire_header h = { .sender_id = 9,
				 .seq = 1,
				 .sender = g_sender,
				 .span_start_ms = (uint64_t)hb_from,
				 .span_end_ms = (uint64_t)hb_to,
				 .n_ips = 1,
				 .ips = (const uint8_t(*)[16])ip };
	struct ingest_request rq = { .method = "POST",
				     .path = INGEST_PATH,
				     .content_encoding = "zstd",
				     .authorization = "Bearer " TOKEN,
				     .authorization_len = strlen("Bearer " TOKEN) };
	const void *body;
	size_t len;

	wire_encoder__reset(f->enc);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(0, wire_encoder__add(f->enc, &r[i]));
	assert_int_equal(0, wire_encoder__finish(f->enc, &h, &body, &len));
	rq.body = body;
	rq.body_len = len;
	f->reason[0] = '\0';
	return ingest__handle(f->in, &rq, f->reason, sizeof(f->reason));
}

/* The lines of DATA_DIR/flows-<name>.jsonl as "id:remote_pod:remote_source" words, sorted. */
/* A test's figures for docs/reliability.md, once they add up (tests/report.h). */
static void report(const char *test, struct report_fault *f)
{
	f->lost = f->injected - f->delivered - f->counted;
	assert_int_equal(f->lost, 0);
	report_fault_line("ingest", test, 1, f);
}

static const char *lines(struct fixture *f, const char *name)
{
	static char out[4096];
	char path[128], line[4096], *words[64];
	size_t n = 0, at = 0;
	FILE *in;

	snprintf(path, sizeof(path), "%s/flows-%s.jsonl", f->dir, name);
	out[0] = '\0';
	in = fopen(path, "r");
	if (!in)
		return out;
	while (n < 64 && fgets(line, sizeof(line), in)) {
		char w[256], *p;
		unsigned long long id = 0;
		char pod[64] = "", src[32] = "";

		if ((p = strstr(line, "\"bytes_sent\":")))
			id = strtoull(p + 13, NULL, 10);
		if ((p = strstr(line, "\"remote_pod\":\"")))
			sscanf(p + 14, "%63[^\"]", pod);
		if ((p = strstr(line, "\"remote_source\":\"")))
			sscanf(p + 17, "%31[^\"]", src);
		snprintf(w, sizeof(w), "%llu:%s:%s", id, pod, src);
		words[n++] = strdup(w);
	}
	fclose(in);
	for (size_t i = 0; i < n; i++) /* sorted: the files' order is not a contract */
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(words[j], words[i]) < 0) {
				char *t = words[i];

				words[i] = words[j];
				words[j] = t;
			}
	for (size_t i = 0; i < n; i++) {
		at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%s", i ? " " : "", words[i]);
		free(words[i]);
	}
	return out;
}

/* ---- the tests ---- */

static void test_headers(void **state)
{
	struct fixture *f = fixture_new(false);
	struct ingest_request ok = { .method = "POST",
				     .path = INGEST_PATH,
				     .content_encoding = "gzip",
				     .authorization = "Bearer " TOKEN,
				     .authorization_len = strlen("Bearer " TOKEN) };
	struct ingest_request rq;
	char reason[256];

	(void)state;
	assert_int_equal(0, ingest__check_headers(f->in, &ok, 1, reason, sizeof(reason)));
	rq = ok;
	rq.path = "/v1/other";
	assert_int_equal(404, ingest__check_headers(f->in, &rq, 1, reason, sizeof(reason)));
	rq = ok;
	rq.method = "GET";
	assert_int_equal(405, ingest__check_headers(f->in, &rq, 1, reason, sizeof(reason)));
	rq = ok;
	rq.content_encoding = "br";
	assert_int_equal(415, ingest__check_headers(f->in, &rq, 1, reason, sizeof(reason)));
	rq = ok;
	rq.authorization = NULL;
	rq.authorization_len = 0;
	assert_int_equal(401, ingest__check_headers(f->in, &rq, 1, reason, sizeof(reason)));
	rq = ok;
	rq.authorization = "Bearer not-the-token";
	rq.authorization_len = strlen(rq.authorization);
	assert_int_equal(401, ingest__check_headers(f->in, &rq, 1, reason, sizeof(reason)));
	rq = ok;
	rq.authorization = "Basic " TOKEN;
	rq.authorization_len = strlen(rq.authorization);
	assert_int_equal(401, ingest__check_headers(f->in, &rq, 1, reason, sizeof(reason)));
	rq = ok;
	rq.authorization = NULL;
	rq.authorization_len = 0;
	rq.authorization_overlong = 15007;
	assert_int_equal(431, ingest__check_headers(f->in, &rq, 1, reason, sizeof(reason)));
	assert_non_null(strstr(reason, "Authorization header of 15007 bytes"));
	/* each refusal counted by its reason, the rest by their status at the connection */
	assert_int_equal(1, f->stats.refused[STATS_REFUSED_TOKEN_MISSING]);
	assert_int_equal(2, f->stats.refused[STATS_REFUSED_TOKEN_WRONG]);
	assert_int_equal(1, f->stats.refused[STATS_REFUSED_AUTHORIZATION]);
	fixture_free(f);
}

static void test_batch_written(void **state)
{
	struct fixture *f = fixture_new(false);
	int64_t now = clock_wall_ms();
	struct flow_record r[3] = { rec(11, 2, now - 2000, now - 1000),
				    rec(12, 3, now - 2000, now - 1000),
				    rec(13, 0, now - 2000, now - 1000) };

	(void)state;
	assert_int_equal(204, post(f, r, 3, now - 10000, now));
	/* without attribution every record goes out at once, unattributed */
	assert_string_equal("11::unattributed 12::unattributed 13::unattributed", lines(f, "w0"));
	assert_int_equal(1, f->stats.batches);
	assert_int_equal(3, f->stats.records);
	assert_true(f->stats.bytes_out > 0);
	fixture_free(f);
}

static void test_malformed(void **state)
{
	struct fixture *f = fixture_new(false);
	struct report_fault rf = {
		.fault = "a POST whose body is not a batch",
		.unit = "requests",
		.counted_as = "400 with the reason; nothing written",
	};
	int status;
	struct ingest_request rq = { .method = "POST",
				     .path = INGEST_PATH,
				     .authorization = "Bearer " TOKEN,
				     .authorization_len = strlen("Bearer " TOKEN),
				     .body = "not a batch",
				     .body_len = 11 };
	char reason[256];

	(void)state;
	status = ingest__handle(f->in, &rq, reason, sizeof(reason));
	rf.injected++;
	rf.counted += status == 400;
	assert_int_equal(400, status);
	assert_true(strlen(reason) > 0);
	assert_string_equal("", lines(f, "w0"));
	assert_int_equal(0, f->stats.batches);
	rf.delivered = f->stats.batches;
	fixture_free(f);
	report("test_malformed", &rf);
}

static void test_record_times(void **state)
{
	struct fixture *f = fixture_new(false);
	int64_t now = clock_wall_ms();
	struct flow_record r[4] = {
		rec(21, 2, now - 2000, now - 1000),			    /* good */
		rec(22, 2, now - 2000, now + 3600000),			    /* an hour ahead */
		rec(23, 2, now - 8 * 86400000LL, now - 8 * 86400000LL + 1), /* 8 days old */
		rec(24, 2, 0, 1),					    /* 1970 */
	};

	(void)state;
	assert_int_equal(204, post(f, r, 4, now - 10000, now));
	assert_string_equal("21::unattributed", lines(f, "w0"));
	assert_int_equal(1, f->stats.records);
	assert_int_equal(1, f->stats.records_rejected[STATS_REC_FUTURE]);
	assert_int_equal(2, f->stats.records_rejected[STATS_REC_TOO_OLD]);
	assert_int_equal(0, f->stats.records_rejected[STATS_REC_END_BEFORE_START]);
	/* the bounds are read live */
	f->bounds.max_skew_ms = 2 * 3600000;
	assert_int_equal(204, post(f, &r[1], 1, now - 10000, now));
	assert_string_equal("21::unattributed 22::unattributed", lines(f, "w0"));
	fixture_free(f);
}

static void test_attributed_and_held(void **state)
{
	struct fixture *f = fixture_new(true);
	int64_t now = clock_wall_ms(), old = now - 60000;
	struct flow_record r[3] = {
		rec(31, 0, now - 2000, now - 1000), /* loopback: the sender itself, at once */
		rec(32, 1, old, old + 1000),	    /* its own address, long settled: at once */
		rec(33, 7, now - 2000, now - 1000), /* nobody yet: held */
	};
	struct attr_stats st;

	(void)state;
	/* first the sender's heartbeat for the old times (a batch with no records) */
	assert_int_equal(204, post(f, NULL, 0, old - 1000, old + 9000));
	assert_int_equal(204, post(f, r, 3, now - 10000, now));
	assert_string_equal("31:checkout-1:heartbeat 32:checkout-1:heartbeat", lines(f, "w0"));
	attributor__stats(f->attr, &st);
	assert_int_equal(1, st.delayed_now);
	assert_int_equal(2, st.heartbeats);
	/* the held one is written by the attributor's last pass, through the late writer */
	attributor__stop(f->attr);
	assert_string_equal("33::unattributed", lines(f, "late"));
	/* ingest counts what it accepted: written at once, or held */
	assert_int_equal(3, f->stats.records);
	fixture_free(f);
}

/*
 * A heartbeat whose span started more than heartbeat_grace before it came:
 * counted (and its sender logged once); its records still written.
 */
static void test_heartbeats_late(void **state)
{
	struct fixture *f = fixture_new(true);
	int64_t now = clock_wall_ms();

	(void)state;
	f->bounds.heartbeat_grace_ms = 20000;
	f->bounds.since_ms = (uint64_t)(now - 3600000);
	assert_int_equal(204, post(f, NULL, 0, now - 10000, now));
	assert_int_equal(0, f->stats.heartbeats_late);
	assert_int_equal(204, post(f, NULL, 0, now - 25000, now));
	assert_int_equal(204, post(f, NULL, 0, now - 30000, now - 1000));
	assert_int_equal(2, f->stats.heartbeats_late);
	/* a span from before this collector started tells nothing of its sender's interval */
	f->bounds.since_ms = (uint64_t)(now - 5000);
	assert_int_equal(204, post(f, NULL, 0, now - 25000, now));
	/* no grace (no attribution): not judged */
	f->bounds.since_ms = 0;
	f->bounds.heartbeat_grace_ms = 0;
	assert_int_equal(204, post(f, NULL, 0, now - 25000, now));
	assert_int_equal(2, f->stats.heartbeats_late);
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_batch_written),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_record_times),
		cmocka_unit_test(test_attributed_and_held),
		cmocka_unit_test(test_heartbeats_late),
	};

	log_init("test_ingest", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
