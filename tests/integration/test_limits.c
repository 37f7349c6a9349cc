// SPDX-License-Identifier: BSD-2-Clause
/* Every limit a sender drives, set low: each refusal answered with its reason and counted by it. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "collector_client.h"
#include "flow.h"
#include "harness.h"
#include "harness_main.h"
#include "wire.h"

static char g_tmp[64];

/* Local ports vary too: the records look like many connections'. */
static void fill_port(struct flow_record *r, uint32_t i, void *ctx)
{
	(void)ctx;
	r->local_port = (uint16_t)(10000 + i % 50000);
}

/* A valid batch of n records from one sender, enc encoded; malloc'd. */
static void *batch(uint32_t n, enum wire_encoding enc, size_t *len)
{
	const struct coll_batch b = {
		.sender_id = 7,
		.seq = 1,
		.pod = "limits",
		.ns = "test",
		.enc = enc,
		.start_ms = 1700000000000ull,
		.end_ms = 1700000000000ull + 1000,
		.fill = fill_port,
	};

	return coll_batch_encode(&b, n, len);
}

/* POST a batch to /v1/flows, Content-Encoding as `enc`; extra: one more header or NULL. */
static int post(uint16_t port, const void *body, size_t len, enum wire_encoding enc,
		const char *extra, struct coll_resp *a)
{
	const char *hd[4] = { "Content-Type: application/vnd.podflow.batch" };
	char ce[64];
	int n = 1;

	if (enc != WIRE_ENC_IDENTITY) {
		snprintf(ce, sizeof(ce), "Content-Encoding: %s", wire_encoding_name(enc));
		hd[n++] = ce;
	}
	hd[n++] = extra;
	return coll_http(port, "POST", "/v1/flows", hd, body, len, false, a);
}

#define REFUSED(reason) "podflow_collector_requests_refused_total{reason=\"" reason "\"}"

/*
 * max_batch_records 100, max_decoded 64 KiB, max_body 32 KiB, max_header_list
 * 4 KiB: a batch at each limit is taken; one past each is refused with the
 * limit named in the answer and counted by its reason; nothing of a refused
 * batch is written.
 */
static int test_each_limit(void)
{
	static const char *const args[] = { "--listen",
					    "127.0.0.1:0",
					    "--data-dir",
					    NULL, /* g_tmp */
					    "--admin",
					    "127.0.0.1:0",
					    "--max-batch-records",
					    "100",
					    "--max-decoded",
					    "64KiB",
					    "--max-body",
					    "32KiB",
					    "--max-header-list",
					    "4KiB",
					    NULL };
	const char *argv[sizeof(args) / sizeof(args[0])];
	struct sidecar c = { 0 };
	struct coll_resp a;
	void *b100 = NULL, *b101 = NULL, *bomb = NULL, *big = NULL;
	size_t l100 = 0, l101 = 0, lbomb = 0, lbig = 0;
	char *pad = NULL;
	uint16_t port = 0, admin = 0;
	uint64_t refused = 0;
	int ret = 1;

	memcpy(argv, args, sizeof(args));
	argv[3] = g_tmp;
	/* 1000 records are 144 KB decoded and a few KB gzipped: a small body that expands */
	b100 = batch(100, WIRE_ENC_GZIP, &l100);
	b101 = batch(101, WIRE_ENC_GZIP, &l101);
	bomb = batch(1000, WIRE_ENC_GZIP, &lbomb);
	big = batch(1000, WIRE_ENC_IDENTITY, &lbig);
	ASSERT_TRUE("batches", b100 && b101 && bomb && big);
	ASSERT_TRUE("the bomb's body is under max_body", lbomb < 32 * 1024);
	ASSERT_TRUE("the big body is over max_body", lbig > 32 * 1024);
	pad = malloc(8192);
	ASSERT_TRUE("pad", pad != NULL);
	memcpy(pad, "x-pad: ", 7);
	memset(pad + 7, 'a', 6000);
	pad[6007] = '\0';

	ASSERT_EQ_U64("collector starts", 0, collector_start(&c, argv, &port));
	admin = harness_admin_port(&c, 5000);
	ASSERT_TRUE("admin port", admin != 0);

	ASSERT_EQ_U64("100 records", 0, post(port, b100, l100, WIRE_ENC_GZIP, NULL, &a));
	ASSERT_EQ_U64("100 records: taken", 204, a.status);

	ASSERT_EQ_U64("101 records", 0, post(port, b101, l101, WIRE_ENC_GZIP, NULL, &a));
	ASSERT_EQ_U64("101 records: refused", 413, a.status);
	ASSERT_TRUE("the answer names the limit",
		    strstr(a.body, "101 in one batch, over this receiver's 100") != NULL);
	ASSERT_EQ_U64("counted", 1, harness_metric_now(admin, REFUSED("too_many_records")));

	ASSERT_EQ_U64("bomb", 0, post(port, bomb, lbomb, WIRE_ENC_GZIP, NULL, &a));
	ASSERT_EQ_U64("bomb: refused", 413, a.status);
	ASSERT_TRUE("the answer names the decoded limit", strstr(a.body, "65536") != NULL);
	ASSERT_EQ_U64("counted", 1, harness_metric_now(admin, REFUSED("decoded_too_large")));

	ASSERT_EQ_U64("big body", 0, post(port, big, lbig, WIRE_ENC_IDENTITY, NULL, &a));
	ASSERT_EQ_U64("big body: refused", 413, a.status);
	ASSERT_TRUE("the answer names max-body", strstr(a.body, "max-body") != NULL);
	ASSERT_EQ_U64("counted", 1, harness_metric_now(admin, REFUSED("body_too_large")));

	ASSERT_EQ_U64("long header", 0, post(port, b100, l100, WIRE_ENC_GZIP, pad, &a));
	ASSERT_EQ_U64("long header: refused", 431, a.status);
	ASSERT_EQ_U64("counted", 1, harness_metric_now(admin, REFUSED("header_list_too_large")));

	ASSERT_EQ_U64("one 204", 1,
		      harness_metric_now(admin, "podflow_collector_requests_total{code=\"204\"}"));
	ASSERT_EQ_U64("three 413", 3,
		      harness_metric_now(admin, "podflow_collector_requests_total{code=\"413\"}"));
	ASSERT_EQ_U64("one 431", 1,
		      harness_metric_now(admin, "podflow_collector_requests_total{code=\"431\"}"));
	ASSERT_EQ_U64("collector stops", 0, harness_child_stop(&c));
	ASSERT_EQ_U64("only the batch at the limits written", 100,
		      sidecar_exit_stat(&c, "records"));
	refused = sidecar_exit_stat(&c, "refused_too_many_records") +
		  sidecar_exit_stat(&c, "refused_decoded_too_large") +
		  sidecar_exit_stat(&c, "refused_body_too_large") +
		  sidecar_exit_stat(&c, "refused_header_list_too_large");
	ASSERT_EQ_U64("the exit stats agree", 4, refused);
	harness_report(&(struct report_fault){
	    .fault = "batches past each ingest limit (records, decompressed size, body, headers)",
	    .unit = "requests",
	    .injected = 4,
	    .delivered = 0,
	    .counted = refused,
	    .lost = 4 - refused,
	    .counted_as = "413/431 answers naming the limit; "
			  "podflow_collector_requests_refused_total{reason}",
	    .note = "a batch at the limits beside them: 204, its 100 records written" });
	ret = 0;
cleanup:
	if (ret && c.err_text)
		fprintf(stderr, "    collector:\n%s\n", c.err_text);
	if (c.pid > 0 && !c.exited)
		harness_child_stop(&c);
	sidecar_free(&c);
	free(b100);
	free(b101);
	free(bomb);
	free(big);
	free(pad);
	return ret;
}

/* Each limit's range is enforced at load: a value outside it is refused, naming the key. */
static int test_limit_ranges(void)
{
	static const struct {
		const char *flag, *value, *says;
	} bad[] = {
		{ "--max-batch-records", "0",
		  "--max-batch-records: expected an integer from 1 to 262144, got" },
		{ "--max-batch-records", "262145",
		  "--max-batch-records: expected an integer from 1 to 262144, got" },
		{ "--max-decoded", "1KiB", "--max-decoded: " },
		{ "--max-header-list", "1KiB", "--max-header-list: " },
	};
	char bin[512];
	int ret = 1;

	harness_bin("podflow-collector", bin, sizeof(bin));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* the error is on stderr: read through a shell's 2>&1 */
		char cmd[1024];
		const char *sh[] = { "/bin/sh", "-c", cmd, NULL };
		char *out = NULL;
		int fd = -1, code;
		pid_t pid;

		snprintf(cmd, sizeof(cmd),
			 "exec '%s' --listen 127.0.0.1:0 --data-dir '%s' %s %s 2>&1", bin, g_tmp,
			 bad[i].flag, bad[i].value);
		pid = harness_start_capture(sh, &fd);
		ASSERT_TRUE("started", pid > 0);
		code = harness_finish_capture(pid, fd, 10000, &out);
		ASSERT_EQ_U64(bad[i].flag, 2, code);
		if (!out || !strstr(out, bad[i].says)) {
			fprintf(stderr, "    %s %s: expected \"%s\" in:\n%s\n", bad[i].flag,
				bad[i].value, bad[i].says, out ? out : "");
			free(out);
			goto cleanup;
		}
		free(out);
	}
	ret = 0;
cleanup:
	return ret;
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
		{ "each_limit_refused_counted", test_each_limit },
		{ "limit_ranges_refused_at_load", test_limit_ranges },
	};
	static const struct harness_suite suite = {
		.name = "limits",
		HARNESS_TESTS(tests),
		HARNESS_TMP(g_tmp, "podflow-limits"),
	};

	return harness_main(&suite, argc, argv);
}
