// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests for collector/attribution/attributor: what it decides at once
 * and what it holds (loopback, settled and unsettled heartbeat claims, the
 * pod watch confirming one, owner changes, nobody), the heartbeat bounds,
 * the last pass at exit, and the holding back in two steps around ingest's
 * one write: copies dropped when the write failed, queued once it
 * succeeded, evicted within the bound, written at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "attributor.h"
#include "clock.h"
#include "log.h"
#include "wire.h"

struct written {
	uint64_t records;
	uint64_t unattributed;
	int fail;   /* the write's answer */
	int64_t at; /* when the last write came (wall clock, ms) */
};

static int write_late(void *ctx, const struct wire_batch *b)
{
	struct written *w = ctx;

	if (w->fail)
		return w->fail;
	w->records += b->n_records;
	w->at = clock_wall_ms();
	for (uint32_t i = 0; i < b->n_records; i++)
		w->unattributed += b->records[i].remote_source == FLOW_SOURCE_UNATTRIBUTED;
	return 0;
}

static struct attributor *new_attributor(struct written *w, uint32_t max_delayed)
{
	struct attr_opts o = {
		.max_delay_ms = 30000,
		.retention_ms = 3600000,
		.heartbeat_grace_ms = 30000,
		.heartbeat_max_skew_ms = 5000,
		.max_delayed = max_delayed,
		.max_ranges = 1000,
		.write = write_late,
		.write_ctx = w,
	};
	char why[256];
	struct attributor *a = attributor__new(&o, why, sizeof(why));

	if (!a)
		fail_msg("attributor__new: %s", why);
	return a;
}

/* n records of now to peers nobody has named yet: undecided within the heartbeat grace */
static void make_batch(struct wire_batch *b, struct flow_record *r, uint32_t n, uint8_t first)
{
	static const struct flow_identity sender = {
		.app = "checkout", .namespace = "shop", .pod = "checkout-1", .node = "n1"
	};
	int64_t now = clock_wall_ms();

	memset(r, 0, n * sizeof(*r));
	for (uint32_t i = 0; i < n; i++) {
		r[i].start_ms = (uint64_t)now - 2000;
		r[i].end_ms = (uint64_t)now - 1000;
		r[i].family = 4;
		r[i].remote_addr[10] = r[i].remote_addr[11] = 0xff;
		r[i].remote_addr[12] = 10;
		r[i].remote_addr[13] = 9;
		r[i].remote_addr[15] = (uint8_t)(first + i);
		r[i].container = "web";
	}
	*b = (struct wire_batch){ .sender = sender, .n_records = n, .records = r };
}

static void test_hold_cancel_commit(void **state)
{
	struct written w = { 0 };
	struct attributor *a = new_attributor(&w, 4);
	struct attr_arena *ar = attr_arena__new();
	struct flow_record r[3];
	struct wire_batch b;
	struct attr_stats st;
	bool keep[3];

	(void)state;
	assert_non_null(ar);
	/* the write failed: nothing of the batch is held */
	make_batch(&b, r, 3, 1);
	assert_int_equal(attributor__batch(a, ar, &b, keep), 3);
	assert_false(keep[0] || keep[1] || keep[2]);
	assert_int_equal(attributor__hold(a, ar, &b, keep), 3);
	assert_false(keep[0] || keep[1] || keep[2]); /* every one copied: none for the write */
	attributor__hold_cancel(a, ar);
	attributor__stats(a, &st);
	assert_int_equal(st.delayed_now, 0);
	assert_int_equal(st.delayed_total, 0);
	/* sent again, written: held once */
	make_batch(&b, r, 3, 1);
	assert_int_equal(attributor__batch(a, ar, &b, keep), 3);
	assert_int_equal(attributor__hold(a, ar, &b, keep), 3);
	attributor__hold_commit(a, ar);
	attributor__stats(a, &st);
	assert_int_equal(st.delayed_now, 3);
	assert_int_equal(st.delayed_total, 3);
	/* over max_delayed: the oldest are pushed out (written unattributed at the next sweep) */
	make_batch(&b, r, 3, 10);
	assert_int_equal(attributor__batch(a, ar, &b, keep), 3);
	assert_int_equal(attributor__hold(a, ar, &b, keep), 3);
	attributor__hold_commit(a, ar);
	attributor__stats(a, &st);
	assert_int_equal(st.delayed_now, 6); /* 4 queued, 2 evicted */
	assert_int_equal(st.delayed_total, 6);
	/* a batch with nothing undecided: nothing to copy or commit */
	assert_int_equal(attributor__hold(a, ar, &b, (bool[]){ true, true, true }), 0);
	attributor__hold_commit(a, ar);
	assert_int_equal(w.records, 0);
	/* the end: the late write fails, then works; every held record written once */
	w.fail = -ENOSPC;
	attributor__stop(a);
	attributor__stats(a, &st);
	assert_int_equal(w.records, 0);
	assert_int_equal(st.late_write_errors, 6);
	attributor__free(a);

	/* again, the last write succeeding */
	w = (struct written){ 0 };
	a = new_attributor(&w, 4);
	make_batch(&b, r, 3, 1);
	assert_int_equal(attributor__batch(a, ar, &b, keep), 3);
	assert_int_equal(attributor__hold(a, ar, &b, keep), 3);
	attributor__hold_commit(a, ar);
	make_batch(&b, r, 3, 10);
	assert_int_equal(attributor__batch(a, ar, &b, keep), 3);
	assert_int_equal(attributor__hold(a, ar, &b, keep), 3);
	attributor__hold_commit(a, ar);
	attributor__stop(a);
	attributor__stats(a, &st);
	assert_int_equal(w.records, 6);
	assert_int_equal(w.unattributed, 6);
	assert_int_equal(st.late_written, 6);
	assert_int_equal(st.unattributed_evicted, 2);
	assert_int_equal(st.delayed_now, 0);
	attributor__free(a);
	attr_arena__free(ar);
}

/* An arena freed with a hold neither committed nor cancelled leaks nothing (ASan). */
static void test_arena_free_with_hold(void **state)
{
	struct written w = { 0 };
	struct attributor *a = new_attributor(&w, 8);
	struct attr_arena *ar = attr_arena__new();
	struct flow_record r[2];
	struct wire_batch b;
	bool keep[2];

	(void)state;
	make_batch(&b, r, 2, 1);
	assert_int_equal(attributor__batch(a, ar, &b, keep), 2);
	assert_int_equal(attributor__hold(a, ar, &b, keep), 2);
	attributor__hold_cancel(a, ar);
	assert_int_equal(attributor__hold(a, ar, &b, keep), 2);
	attr_arena__free(ar);
	attributor__free(a);
	assert_int_equal(w.records, 0);
}

/* ---- decisions ---- */

static const struct flow_identity g_pod_a = {
	.app = "alpha", .namespace = "team-a", .pod = "alpha-0", .node = "n1", .workload = "alpha"
};
static const struct flow_identity g_pod_b = {
	.app = "beta", .namespace = "team-b", .pod = "beta-0", .node = "n2", .workload = "beta"
};

static void v4(uint8_t ip[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	memset(ip, 0, 16);
	ip[10] = ip[11] = 0xff;
	ip[12] = a;
	ip[13] = b;
	ip[14] = c;
	ip[15] = d;
}

/* A batch of one record to `ip` over [start, end), from sender A, heartbeat over [hb_from, hb_to). */
static void one_record(struct wire_batch *b, struct flow_record *r, uint8_t sender_ip[16],
		       const uint8_t ip[16], int64_t start, int64_t end, int64_t hb_from,
		       int64_t hb_to)
{
	memset(r, 0, sizeof(*r));
	r->start_ms = (uint64_t)start;
	r->end_ms = (uint64_t)end;
	r->family = 4;
	memcpy(r->remote_addr, ip, 16);
	*b = (struct wire_batch){ .sender = g_pod_a,
				  .sender_id = 1,
				  .span_start_ms = (uint64_t)hb_from,
				  .span_end_ms = (uint64_t)hb_to,
				  .n_ips = 1,
				  .ips = (const uint8_t(*)[16])sender_ip,
				  .n_records = 1,
				  .records = r };
}

/*
 * What is decided at once and what waits: loopback, a settled heartbeat
 * claim, an unsettled one, the same claim confirmed by the pod watch, an
 * owner change within a record, nobody.
 */
static void test_decisions(void **state)
{
	struct written w = { 0 };
	struct attributor *a = new_attributor(&w, 16);
	struct attr_arena *ar = attr_arena__new();
	int64_t now = clock_wall_ms(), old = now - 60000; /* below the 30 s grace's floor */
	uint8_t ip_a[16], ip_b[16], ip_c[16], lo[16];
	struct flow_record r;
	struct wire_batch b;
	struct attr_stats st;
	bool keep[1];

	(void)state;
	assert_non_null(ar);
	v4(ip_a, 10, 0, 0, 1);
	v4(ip_b, 10, 0, 0, 2);
	v4(ip_c, 10, 0, 0, 3);
	v4(lo, 127, 0, 0, 1);

	/* loopback: the sender's own pod, at once */
	one_record(&b, &r, ip_a, lo, now - 900, now - 800, now - 1000, now);
	assert_int_equal(0, attributor__batch(a, ar, &b, keep));
	assert_true(keep[0]);
	assert_int_equal(FLOW_SOURCE_HEARTBEAT, r.remote_source);
	assert_string_equal("alpha-0", r.remote->pod);

	/* B's heartbeat for old times: settled (older than the grace), decides at once */
	attributor__span(a, FLOW_SOURCE_HEARTBEAT, ip_b, &g_pod_b, old, old + 10000);
	one_record(&b, &r, ip_a, ip_b, old + 1000, old + 2000, now - 1000, now);
	assert_int_equal(0, attributor__batch(a, ar, &b, keep));
	assert_int_equal(FLOW_SOURCE_HEARTBEAT, r.remote_source);
	assert_string_equal("beta-0", r.remote->pod);
	assert_string_equal("team-b", r.remote->namespace);

	/* ... for recent times: a claim another sender could still contradict: held */
	attributor__span(a, FLOW_SOURCE_HEARTBEAT, ip_b, &g_pod_b, now - 5000, now);
	one_record(&b, &r, ip_a, ip_b, now - 3000, now - 2000, now - 1000, now);
	assert_int_equal(1, attributor__batch(a, ar, &b, keep));
	assert_false(keep[0]);
	assert_int_equal(FLOW_SOURCE_UNATTRIBUTED, r.remote_source);

	/* the pod watch naming the same pod: decided at once, by the heartbeat's identity */
	attributor__assign(a, FLOW_SOURCE_KUBE, ip_b,
			   &(struct flow_identity){ .namespace = "team-b", .pod = "beta-0" },
			   now - 10000);
	assert_int_equal(0, attributor__batch(a, ar, &b, keep));
	assert_int_equal(FLOW_SOURCE_HEARTBEAT, r.remote_source);
	assert_string_equal("beta", r.remote->app);

	/* C owned by B, then by A, within one record: neither */
	attributor__span(a, FLOW_SOURCE_HEARTBEAT, ip_c, &g_pod_b, old, old + 1000);
	attributor__span(a, FLOW_SOURCE_HEARTBEAT, ip_c, &g_pod_a, old + 1000, old + 2000);
	one_record(&b, &r, ip_a, ip_c, old + 500, old + 1500, now - 1000, now);
	assert_int_equal(0, attributor__batch(a, ar, &b, keep));
	assert_int_equal(FLOW_SOURCE_UNATTRIBUTED, r.remote_source);
	assert_null(r.remote);

	/* nobody ever named 10.0.0.9, and every source is complete for old times: none */
	v4(ip_c, 10, 0, 0, 9);
	one_record(&b, &r, ip_a, ip_c, old, old + 100, now - 1000, now);
	assert_int_equal(0, attributor__batch(a, ar, &b, keep));
	assert_int_equal(FLOW_SOURCE_UNATTRIBUTED, r.remote_source);

	attributor__stats(a, &st);
	assert_int_equal(3, st.decided[FLOW_SOURCE_HEARTBEAT]); /* the loopback one counts too */
	assert_int_equal(1, st.unattributed_changed);
	assert_int_equal(1, st.unattributed_none);
	attributor__free(a);
	attr_arena__free(ar);
}

/*
 * The record's remote identity is a whole copy: the cloud account, region
 * and zone of an IP event's owner too, and "" (never stale arena bytes) for
 * a pod's, which has none.  The insight view reads every field.
 */
static void test_identity_copied_whole(void **state)
{
	static const struct flow_identity elb = { .app = "elb-frontend",
						  .account = "123456789012",
						  .region = "us-east-1",
						  .zone = "us-east-1a" };
	struct written w = { 0 };
	struct attributor *a = new_attributor(&w, 16);
	struct attr_arena *ar = attr_arena__new();
	int64_t now = clock_wall_ms(), old = now - 60000;
	uint8_t ip_a[16], ip_b[16], ip_e[16];
	struct flow_record r;
	struct wire_batch b;
	bool keep[1];

	(void)state;
	assert_non_null(ar);
	v4(ip_a, 10, 0, 0, 1);
	v4(ip_b, 10, 0, 0, 2);
	v4(ip_e, 52, 94, 12, 7);
	attributor__assign(a, FLOW_SOURCE_SONAR, ip_e, &elb, old - 1000);
	attributor__span(a, FLOW_SOURCE_HEARTBEAT, ip_b, &g_pod_b, old, old + 10000);
	for (int round = 0; round < 2; round++) { /* the second round reuses the arena's memory */
		one_record(&b, &r, ip_a, ip_e, old + 1000, old + 2000, now - 1000, now);
		assert_int_equal(0, attributor__batch(a, ar, &b, keep));
		assert_int_equal(FLOW_SOURCE_SONAR, r.remote_source);
		assert_string_equal("elb-frontend", r.remote->app);
		assert_string_equal("123456789012", r.remote->account);
		assert_string_equal("us-east-1", r.remote->region);
		assert_string_equal("us-east-1a", r.remote->zone);
		one_record(&b, &r, ip_a, ip_b, old + 1000, old + 2000, now - 1000, now);
		assert_int_equal(0, attributor__batch(a, ar, &b, keep));
		assert_string_equal("beta", r.remote->app);
		assert_string_equal("", r.remote->account);
		assert_string_equal("", r.remote->region);
		assert_string_equal("", r.remote->zone);
	}
	attributor__free(a);
	attr_arena__free(ar);
}

/* A held claim nothing contradicts is decided by the last pass at exit. */
static void test_exit_settles_claims(void **state)
{
	struct written w = { 0 };
	struct attributor *a = new_attributor(&w, 16);
	struct attr_arena *ar = attr_arena__new();
	int64_t now = clock_wall_ms();
	uint8_t ip_a[16], ip_b[16], ip_x[16];
	struct flow_record r[2];
	struct wire_batch b;
	struct attr_stats st;
	bool keep[2];

	(void)state;
	v4(ip_a, 10, 0, 0, 1);
	v4(ip_b, 10, 0, 0, 2);
	v4(ip_x, 10, 0, 0, 77);
	attributor__span(a, FLOW_SOURCE_HEARTBEAT, ip_b, &g_pod_b, now - 5000, now);
	one_record(&b, &r[0], ip_a, ip_b, now - 3000, now - 2000, now - 1000, now);
	r[1] = r[0];
	memcpy(r[1].remote_addr, ip_x, 16); /* nobody claims it: waits for the grace */
	b.n_records = 2;
	b.records = r;
	assert_int_equal(2, attributor__batch(a, ar, &b, keep));
	assert_int_equal(2, attributor__hold(a, ar, &b, keep));
	attributor__hold_commit(a, ar);
	attributor__stop(a);
	attributor__stats(a, &st);
	assert_int_equal(2, w.records);
	assert_int_equal(1, w.unattributed); /* the unknown address */
	assert_int_equal(1, st.decided[FLOW_SOURCE_HEARTBEAT]);
	assert_int_equal(1, st.unattributed_expired);
	assert_int_equal(2, st.late_written);
	attributor__free(a);
	attr_arena__free(ar);
}

/* Heartbeats that claim what no sidecar can know are refused, by reason; the rest applied. */
static void test_heartbeat_bounds(void **state)
{
	struct written w = { 0 };
	struct attributor *a = new_attributor(&w, 16);
	int64_t now = clock_wall_ms();
	uint8_t ip_a[16], ip_b[16];
	struct flow_record r;
	struct wire_batch b;
	struct attr_stats st;
	const struct {
		int64_t from, to;
	} spans[] = {
		{ now - 1000, now + 3600000 },		   /* future */
		{ now - 1000, INT64_MAX },		   /* future */
		{ now - 86400000, now - 86400000 + 1000 }, /* too old (retention 1 h) */
		{ now - 36000, now },			   /* too long (grace 30 s + skew 5 s) */
		{ now - 30000, now + 4000 }, /* fine: within the skew and the grace + skew */
	};

	(void)state;
	v4(ip_a, 10, 0, 0, 1);
	v4(ip_b, 10, 0, 0, 2);
	for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
		one_record(&b, &r, ip_a, ip_b, now - 300, now - 200, spans[i].from, spans[i].to);
		b.n_records = 0;
		attributor__heartbeat(a, &b);
	}
	attributor__stats(a, &st);
	assert_int_equal(2, st.heartbeats_refused[ATTR_HB_FUTURE]);
	assert_int_equal(1, st.heartbeats_refused[ATTR_HB_TOO_OLD]);
	assert_int_equal(1, st.heartbeats_refused[ATTR_HB_TOO_LONG]);
	assert_int_equal(1, st.heartbeats);
	assert_string_equal("future", attr_hb_refusal_name(ATTR_HB_FUTURE));
	assert_string_equal("too_old", attr_hb_refusal_name(ATTR_HB_TOO_OLD));
	assert_string_equal("too_long", attr_hb_refusal_name(ATTR_HB_TOO_LONG));
	assert_int_equal(0, st.heartbeats_empty);
	/* the live limits apply at once: a 1 s skew refuses what 5 s allowed */
	attributor__set_limits(a, 30000, 3600000, 30000, 1000);
	attributor__heartbeat(a, &b);
	attributor__stats(a, &st);
	assert_int_equal(3, st.heartbeats_refused[ATTR_HB_FUTURE]);
	/* a span of no time (or reversed) claims nothing: counted as empty, not
	 * refused; a batch naming no IPs has no heartbeat to count */
	one_record(&b, &r, ip_a, ip_b, now - 300, now - 200, now, now);
	b.n_records = 0;
	assert_false(attributor__heartbeat(a, &b));
	b.span_end_ms = (uint64_t)(now - 5);
	assert_false(attributor__heartbeat(a, &b));
	b.n_ips = 0;
	b.span_end_ms = (uint64_t)(now + 1000);
	assert_false(attributor__heartbeat(a, &b));
	attributor__stats(a, &st);
	assert_int_equal(2, st.heartbeats_empty);
	assert_int_equal(1, st.heartbeats);
	assert_int_equal(3, st.heartbeats_refused[ATTR_HB_FUTURE]);
	assert_int_equal(1, st.heartbeats_refused[ATTR_HB_TOO_OLD]);
	assert_int_equal(1, st.heartbeats_refused[ATTR_HB_TOO_LONG]);
	attributor__free(a);
}

/*
 * Retries come on the wall clock's multiples of 250 ms: a record ending on
 * a sidecar's cut (a multiple of its interval) whose evidence completes
 * kube.lag (1 s) or heartbeat_grace (20 s) later is retried on that very
 * instant, not up to 250 ms after it.
 */
static void test_sweep_schedule(void **state)
{
	const int64_t cut = 1700000010000; /* a 10 s interval's end */
	int64_t t;
	int n;

	(void)state;
	assert_int_equal(cut + 250, attributor_next_sweep_ms(cut));
	assert_int_equal(cut + 250, attributor_next_sweep_ms(cut + 1));
	assert_int_equal(cut + 250, attributor_next_sweep_ms(cut + 249));
	assert_int_equal(cut + 500, attributor_next_sweep_ms(cut + 250));
	/* from any instant of the interval before, the sweeps step through
	 * every multiple of 250 ms and land on the cut + kube.lag (1 s) */
	t = attributor_next_sweep_ms(cut - 9876);
	for (n = 0; t < cut + 1000; n++, t = attributor_next_sweep_ms(t))
		assert_int_equal(0, t % 250);
	assert_int_equal(43, n); /* cut - 9750 .. cut + 750 */
	assert_int_equal(cut + 1000, t);
	assert_int_equal(cut + 1000, attributor_next_sweep_ms(cut + 999));
	assert_int_equal(cut + 20000, attributor_next_sweep_ms(cut + 19750 + 3));
}

static _Atomic int64_t g_kube_wm;

static int64_t kube_watermark(void *ctx)
{
	(void)ctx;
	return g_kube_wm;
}

/* An attributor whose second source is the pod watch (watermark `wm`, kube.lag `lag_ms`; 0: not told), started. */
static struct attributor *watched(struct written *w, int64_t (*wm)(void *), int64_t lag_ms)
{
	struct attr_opts o = {
		.max_delay_ms = 60000,
		.retention_ms = 3600000,
		.heartbeat_grace_ms = 30000,
		.heartbeat_max_skew_ms = 5000,
		.max_delayed = 16,
		.max_ranges = 1000,
		.write = write_late,
		.write_ctx = w,
		.watermark = { [FLOW_SOURCE_KUBE] = wm },
		.watermark_lag_ms = { [FLOW_SOURCE_KUBE] = lag_ms },
	};
	char why[256];
	struct attributor *a = attributor__new(&o, why, sizeof(why));

	if (!a)
		fail_msg("attributor__new: %s", why);
	assert_int_equal(0, attributor__start(a));
	return a;
}

/*
 * Pod b (10.0.0.2) is claimed by a heartbeat over [now - 5 s, hb_to) and
 * named by the pod watch since a minute ago; a record from 10.0.0.1 to it
 * over [now - 3 s, end) is held: the watch cannot confirm its end yet.
 */
static void hold_to_pod_b(struct attributor *a, struct attr_arena *ar, int64_t now, int64_t hb_to,
			  int64_t end)
{
	uint8_t ip_a[16], ip_b[16];
	struct flow_record r;
	struct wire_batch b;
	bool keep;

	v4(ip_a, 10, 0, 0, 1);
	v4(ip_b, 10, 0, 0, 2);
	attributor__span(a, FLOW_SOURCE_HEARTBEAT, ip_b, &g_pod_b, now - 5000, hb_to);
	attributor__assign(a, FLOW_SOURCE_KUBE, ip_b, &g_pod_b, now - 60000);
	one_record(&b, &r, ip_a, ip_b, now - 3000, end, now - 5000, now);
	assert_int_equal(1, attributor__batch(a, ar, &b, &keep));
	assert_int_equal(1, attributor__hold(a, ar, &b, &keep));
	attributor__hold_commit(a, ar);
}

/*
 * A heartbeat claim the pod watch confirms, held while the watch is behind
 * the record's end (kube.lag): retried every tick, so it is decided as soon
 * as the watch's watermark passes its end, not heartbeat_grace (30 s) later.
 */
static void test_claim_confirmed_when_the_watch_catches_up(void **state)
{
	struct written w = { 0 };
	struct attr_arena *ar = attr_arena__new();
	int64_t now = clock_wall_ms(), t0;
	struct attributor *a;
	struct attr_stats st;

	(void)state;
	g_kube_wm = now - 1000; /* one kube.lag behind: it cannot confirm the record's end yet */
	a = watched(&w, kube_watermark, 0);
	hold_to_pod_b(a, ar, now, now, now - 200);
	/* still behind: two ticks go by, nothing decided */
	usleep(600 * 1000);
	attributor__stats(a, &st);
	assert_int_equal(0, w.records);
	assert_int_equal(1, st.delayed_now);
	t0 = clock_wall_ms();
	g_kube_wm = now;
	for (int i = 0; i < 40 && !w.records; i++)
		usleep(50 * 1000);
	attributor__stats(a, &st);
	assert_int_equal(1, w.records);
	assert_int_equal(0, w.unattributed);
	/* the claim, confirmed by the pod watch, names the source */
	assert_int_equal(1, st.decided[FLOW_SOURCE_HEARTBEAT]);
	assert_int_equal(0, st.delayed_now);
	/* within a tick or two (250 ms each), far from the grace */
	assert_true(clock_wall_ms() - t0 < 2000);
	attributor__free(a);
	attr_arena__free(ar);
}

/* The pod watch as it runs: complete to now - kube.lag (300 ms here). */
static int64_t lagged_watermark(void *ctx)
{
	(void)ctx;
	return clock_wall_ms() - 300;
}

/*
 * A held record is retried when its evidence is due, not on the next tick:
 * a record whose last millisecond the pod watch covers 60 ms after a tick
 * is decided then, not 250 ms after that tick (nor before its evidence).
 */
static void test_retried_when_evidence_due(void **state)
{
	struct written w = { 0 };
	struct attributor *a = watched(&w, lagged_watermark, 300);
	struct attr_arena *ar = attr_arena__new();
	int64_t now = clock_wall_ms(), tick;
	struct attr_stats st;

	(void)state;
	/* the record's last millisecond (end - 1) is covered at tick + 60 */
	tick = attributor_next_sweep_ms(now + 400);
	hold_to_pod_b(a, ar, now, now + 1000, tick + 60 - 300 + 1);
	while (!w.records && clock_wall_ms() < tick + 2000)
		usleep(5 * 1000);
	attributor__stats(a, &st);
	assert_int_equal(1, w.records);
	assert_int_equal(1, st.decided[FLOW_SOURCE_HEARTBEAT]);
	/* not before the watch covered it; well before the tick after */
	assert_true(w.at >= tick + 60);
	if (w.at >= tick + 200)
		fail_msg("decided %lld ms after the tick, its evidence due at 60",
			 (long long)(w.at - tick));
	attributor__free(a);
	attr_arena__free(ar);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hold_cancel_commit),
		cmocka_unit_test(test_arena_free_with_hold),
		cmocka_unit_test(test_decisions),
		cmocka_unit_test(test_sweep_schedule),
		cmocka_unit_test(test_identity_copied_whole),
		cmocka_unit_test(test_exit_settles_claims),
		cmocka_unit_test(test_heartbeat_bounds),
		cmocka_unit_test(test_claim_confirmed_when_the_watch_catches_up),
		cmocka_unit_test(test_retried_when_evidence_due),
	};

	log_init("test_attributor", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
