// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests for proven heartbeats (docs/attribution.md, "Heartbeats are
 * proven"): ingest__handle with a heartbeat verifier (collector/feeds/
 * token_review, its reviews faked) and the attributor, the pod watch's
 * evidence given by hand.  Each refusal reason, and a proven heartbeat
 * used.  Real batches (lib/wire), the real output stage.
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
#include "token_review.h"
#include "wire.h"

static const struct flow_identity g_sender = {
	.app = "checkout", .namespace = "shop", .pod = "checkout-1", .node = "n1", .workload = "co"
};
static const struct flow_identity g_other = {
	.app = "cart", .namespace = "shop", .pod = "cart-1", .node = "n1", .workload = "cart"
};
static const uint8_t g_ip[16] = { [10] = 0xff, [11] = 0xff, [12] = 10, [15] = 1 };

/* The fake API server: "tok-checkout" is shop/checkout-1's, "tok-cart" shop/cart-1's. */
static int fake_review(void *ctx, const char *token, const char *audience,
		       struct token_review_result *out)
{
	(void)ctx, (void)audience;
	if (strcmp(token, "tok-checkout") && strcmp(token, "tok-cart")) {
		out->verified = false;
		out->refusal = TOKEN_REFUSED_UNAUTHENTICATED;
		return 0;
	}
	out->verified = true;
	snprintf(out->id.namespace, sizeof(out->id.namespace), "shop");
	snprintf(out->id.pod, sizeof(out->id.pod), "%s",
		 strcmp(token, "tok-cart") ? "checkout-1" : "cart-1");
	return 0;
}

static int64_t kube_wm(void *ctx)
{
	(void)ctx;
	return clock_wall_ms() + 60000;
}

struct fixture {
	char dir[64];
	struct stats stats;
	struct outputs *outputs;
	struct attributor *attr;
	struct token_review *verifier;
	struct ingest *in;
	struct wire_encoder *enc;
};

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(path);
}

static int late_write(void *ctx, const struct wire_batch *b)
{
	return outputs__write_late(ctx, b);
}

static struct fixture *fixture_new(bool pod_watch)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct token_review_opts to = { .review = fake_review };
	struct ingest_opts io = { 0 };
	char why[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/podflow-test-hbproof-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->outputs = outputs__new(
	    &(struct outputs_opts){ .data_dir = f->dir, .jsonl = true, .writers = 1, .late = true },
	    why, sizeof(why));
	assert_non_null(f->outputs);
	struct attr_opts ao = { .max_delay_ms = 30000,
				.retention_ms = 3600000,
				.heartbeat_grace_ms = 20000,
				.heartbeat_max_skew_ms = 5000,
				.max_delayed = 64,
				.max_ranges = 1024,
				.write = late_write,
				.write_ctx = f->outputs };
	if (pod_watch)
		ao.watermark[FLOW_SOURCE_KUBE] = kube_wm;
	f->attr = attributor__new(&ao, why, sizeof(why));
	assert_non_null(f->attr);
	f->verifier = token_review__new(&to);
	assert_non_null(f->verifier);
	io.outputs = f->outputs;
	io.writer = outputs__writer(f->outputs, 0);
	io.attr = f->attr;
	io.verifier = f->verifier;
	f->in = ingest__new(&io, &f->stats, why, sizeof(why));
	assert_non_null(f->in);
	f->enc = wire_encoder__new(WIRE_ENC_IDENTITY, 0);
	assert_non_null(f->enc);
	return f;
}

static void fixture_free(struct fixture *f)
{
	ingest__free(f->in);
	token_review__free(f->verifier);
	attributor__free(f->attr);
	outputs__close(f->outputs, 0);
	outputs__free(f->outputs);
	wire_encoder__free(f->enc);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
}

/* A batch with no records from `who`, heartbeat [now - span_ms, now) on 10.0.0.1, with `token`. */
static void post_span(struct fixture *f, const struct flow_identity *who, const char *token,
		      int64_t span_ms)
{
	int64_t now = clock_wall_ms();
	struct wire_header h = { .sender_id = 9,
				 .seq = 1,
				 .sender = *who,
				 .span_start_ms = (uint64_t)(now - span_ms),
				 .span_end_ms = (uint64_t)now,
				 .n_ips = 1,
				 .ips = (const uint8_t(*)[16])g_ip };
	struct ingest_request rq = { .method = "POST",
				     .path = INGEST_PATH,
				     .identity = token,
				     .identity_len = token ? strlen(token) : 0 };
	char reason[256];
	const void *body;
	size_t len;

	wire_encoder__reset(f->enc);
	assert_int_equal(0, wire_encoder__finish(f->enc, &h, &body, &len));
	rq.body = body;
	rq.body_len = len;
	assert_int_equal(204, ingest__handle(f->in, &rq, reason, sizeof(reason)));
}

static void post(struct fixture *f, const struct flow_identity *who, const char *token)
{
	post_span(f, who, token, 1000);
}

/* A test's figures for docs/reliability.md, once they add up (tests/report.h). */
static void report(const char *test, struct report_fault *f)
{
	f->lost = f->injected - f->delivered - f->counted;
	assert_int_equal(f->lost, 0);
	report_fault_line("heartbeat_proof", test, 1, f);
}

static uint64_t refused(struct fixture *f, enum attr_hb_refusal why)
{
	struct attr_stats st;

	attributor__stats(f->attr, &st);
	return st.heartbeats_refused[why];
}

static uint64_t applied(struct fixture *f)
{
	struct attr_stats st;

	attributor__stats(f->attr, &st);
	return st.heartbeats;
}

static uint64_t empty(struct fixture *f)
{
	struct attr_stats st;

	attributor__stats(f->attr, &st);
	return st.heartbeats_empty;
}

/* Once reviewed (pending meanwhile), the token's own pod's heartbeats are used. */
static void test_proven(void **state)
{
	struct fixture *f = fixture_new(false);

	(void)state;
	post(f, &g_sender, "tok-checkout");
	assert_int_equal(1, refused(f, ATTR_HB_PENDING));
	assert_int_equal(0, applied(f));
	assert_int_equal(0, token_review__wait_idle(f->verifier, 5000));
	post(f, &g_sender, "tok-checkout");
	assert_int_equal(1, applied(f));
	/* a span of no time claims nothing: counted as empty, with or without
	 * a token, neither used nor refused */
	post_span(f, &g_sender, "tok-checkout", 0);
	post_span(f, &g_sender, NULL, 0);
	assert_int_equal(2, empty(f));
	assert_int_equal(1, applied(f));
	assert_int_equal(0, refused(f, ATTR_HB_UNVERIFIED));
	assert_int_equal(1, refused(f, ATTR_HB_PENDING));
	fixture_free(f);
}

static void test_refused(void **state)
{
	struct fixture *f = fixture_new(false);
	struct report_fault rf = {
		.fault = "heartbeat without an identity token, with a forged one, or another pod's",
		.unit = "heartbeats",
		.counted_as = "refused by reason (heartbeats_refused_total{reason}): pending until "
			      "reviewed, then unauthenticated or pod_mismatch",
	};

	(void)state;
	/* no token at all */
	post(f, &g_sender, NULL);
	rf.injected++;
	assert_int_equal(1, refused(f, ATTR_HB_UNVERIFIED));
	/* a token the API server does not vouch for */
	post(f, &g_sender, "forged");
	rf.injected++;
	assert_int_equal(0, token_review__wait_idle(f->verifier, 5000));
	post(f, &g_sender, "forged");
	rf.injected++;
	assert_int_equal(1, refused(f, ATTR_HB_UNAUTHENTICATED));
	/* another pod's token: it names checkout-1, its token is cart-1's */
	post(f, &g_sender, "tok-cart");
	rf.injected++;
	assert_int_equal(0, token_review__wait_idle(f->verifier, 5000));
	post(f, &g_sender, "tok-cart");
	rf.injected++;
	assert_int_equal(1, refused(f, ATTR_HB_POD_MISMATCH));
	assert_int_equal(0, applied(f));
	rf.delivered = applied(f);
	for (int why = 0; why < ATTR_HB__COUNT; why++)
		rf.counted += refused(f, (enum attr_hb_refusal)why);
	fixture_free(f);
	report("test_refused", &rf);
}

/* With the pod watch: an address it gives to another pod then is not the sender's to claim. */
static void test_ip_mismatch(void **state)
{
	struct fixture *f = fixture_new(true);

	(void)state;
	attributor__assign(f->attr, FLOW_SOURCE_KUBE, g_ip, &g_other, clock_wall_ms() - 60000);
	post(f, &g_sender, "tok-checkout");
	assert_int_equal(0, token_review__wait_idle(f->verifier, 5000));
	post(f, &g_sender, "tok-checkout");
	assert_int_equal(1, refused(f, ATTR_HB_IP_MISMATCH));
	assert_int_equal(0, applied(f));
	/* the pod the watch names is proven and agrees: used */
	post(f, &g_other, "tok-cart");
	assert_int_equal(0, token_review__wait_idle(f->verifier, 5000));
	post(f, &g_other, "tok-cart");
	assert_int_equal(1, applied(f));
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proven),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_ip_mismatch),
	};

	log_init("test_heartbeat_proof", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
