// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for the IP ownership history: spans, events, lookups, watermarks, memory bounds. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ownership.h"

#define HB    FLOW_SOURCE_HEARTBEAT
#define KUBE  FLOW_SOURCE_KUBE
#define SONAR FLOW_SOURCE_SONAR
#define INF   OWN_FOREVER

/* An identity named by its app (the pod too, so two fields take part). */
#define ID(name) (&(struct flow_identity){ .app = (name), .pod = (name), .namespace = "ns" })

static void v4(uint8_t ip[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	memset(ip, 0, 10);
	ip[10] = 0xff;
	ip[11] = 0xff;
	ip[12] = a;
	ip[13] = b;
	ip[14] = c;
	ip[15] = d;
}

static void v6(uint8_t ip[16], const char *s)
{
	assert_int_equal(inet_pton(AF_INET6, s, ip), 1);
}

static struct own_store *store(size_t max_ranges)
{
	struct own_limits lim = { .max_ranges = max_ranges };
	struct own_store *st = own_store__new(&lim);

	assert_non_null(st);
	return st;
}

static struct own_stats stats(const struct own_store *st)
{
	struct own_stats s;

	own_stats(st, &s);
	return s;
}

/* own_each_range as text: "h[0,30)a k[100,inf)b h[40,60)!" ('!' = conflict, by app). */
struct text {
	char s[8192];
	size_t len;
};

static void text_range(enum flow_source src, int64_t from, int64_t to,
		       const struct flow_identity *id, bool conflict, void *ctx)
{
	struct text *b = ctx;
	char end[24];

	/* a conflict names nobody; anything else names someone */
	assert_true(conflict ? id == NULL : id != NULL);
	if (to == INF)
		snprintf(end, sizeof(end), "inf");
	else
		snprintf(end, sizeof(end), "%" PRId64, to);
	b->len += (size_t)snprintf(b->s + b->len, sizeof(b->s) - b->len, "%s%c[%" PRId64 ",%s)%s",
				   b->len ? " " : "", flow_source_name(src)[0], from, end,
				   conflict ? "!" : id->app);
	assert_true(b->len < sizeof(b->s));
}

static const char *ranges(const struct own_store *st, const uint8_t ip[16])
{
	static struct text t;

	t.len = 0;
	t.s[0] = '\0';
	own_each_range(st, ip, text_range, &t);
	return t.s;
}

static const char *verdict_name(enum own_verdict v)
{
	return v == OWN_FOUND ? "FOUND" : v == OWN_WAIT ? "WAIT" : v == OWN_NONE ? "NONE" : "?";
}

/*
 * own_lookup must say `verdict`; FOUND also names `src` and the app; a
 * conflict names `src`.  Reports the caller's line.
 */
static void look_at(const struct own_store *st, const uint8_t ip[16], int64_t t,
		    enum own_verdict verdict, enum flow_source src, const char *app, bool conflict,
		    const char *file, int line)
{
	struct own_answer a;
	enum own_verdict v = own_lookup(st, ip, t, &a);

	if (v != verdict) {
		print_error("t=%" PRId64 ": expected %s, got %s\n", t, verdict_name(verdict),
			    verdict_name(v));
		_fail(file, line);
	}
	_assert_int_equal(a.conflict, conflict, file, line);
	if (verdict == OWN_FOUND) {
		_assert_true(a.id != NULL, "a.id", file, line);
		_assert_string_equal(flow_source_name(a.source), flow_source_name(src), file, line);
		_assert_string_equal(a.id->app, app, file, line);
	} else {
		_assert_true(a.id == NULL, "a.id == NULL", file, line);
	}
	if (conflict)
		_assert_string_equal(flow_source_name(a.source), flow_source_name(src), file, line);
}

#define FOUND(st, ip, t, src, app) \
	look_at(st, ip, t, OWN_FOUND, src, app, false, __FILE__, __LINE__)
#define WAIT(st, ip, t)		 look_at(st, ip, t, OWN_WAIT, HB, NULL, false, __FILE__, __LINE__)
#define NONE(st, ip, t)		 look_at(st, ip, t, OWN_NONE, HB, NULL, false, __FILE__, __LINE__)
#define CONFLICT(st, ip, t, src) look_at(st, ip, t, OWN_NONE, src, NULL, true, __FILE__, __LINE__)

/* --- arguments ------------------------------------------------------------- */

static void test_names_and_arguments(void **state)
{
	struct own_store *st = store(0);
	uint8_t ip[16];

	(void)state;
	v4(ip, 10, 0, 0, 1);
	assert_string_equal(flow_source_name(HB), "heartbeat");
	assert_string_equal(flow_source_name(KUBE), "kube");
	assert_string_equal(flow_source_name(SONAR), "sonar");
	assert_int_equal(own_span(st, HB, ip, ID("a"), 20, 10), -EINVAL);
	assert_int_equal(own_span(st, HB, ip, ID("a"), -1, 10), -EINVAL);
	assert_int_equal(own_span(st, FLOW_SOURCE__COUNT, ip, ID("a"), 0, 10), -EINVAL);
	assert_int_equal(own_assign(st, KUBE, ip, ID("a"), -1), -EINVAL);
	assert_int_equal(own_unassign(st, KUBE, ip, NULL, -5), -EINVAL);
	assert_int_equal(own_assign(st, FLOW_SOURCE__COUNT, ip, ID("a"), 0), -EINVAL);
	/* "unattributed" is no source of evidence */
	assert_int_equal(own_span(st, FLOW_SOURCE_UNATTRIBUTED, ip, ID("a"), 0, 10), -EINVAL);
	assert_int_equal(own_assign(st, FLOW_SOURCE_UNATTRIBUTED, ip, ID("a"), 0), -EINVAL);
	/* nothing refused leaves a trace */
	assert_int_equal(stats(st).ranges, 0);
	assert_int_equal(stats(st).ips, 0);
	assert_int_equal(stats(st).identities, 0);
	for (int s = FLOW_SOURCE_HEARTBEAT; s < FLOW_SOURCE__COUNT; s++)
		assert_true(own_watermark(st, (enum flow_source)s) == INF);
	own_store__free(st);
	own_store__free(NULL);
}

/* --- spans ----------------------------------------------------------------- */

static void test_span_merge(void **state)
{
	struct own_store *st = store(0);
	uint8_t ip[16];

	(void)state;
	v4(ip, 10, 0, 0, 1);
	assert_int_equal(own_span(st, HB, ip, ID("a"), 0, 10), 0);
	assert_int_equal(own_span(st, HB, ip, ID("a"), 10, 20), 0); /* touches */
	assert_int_equal(own_span(st, HB, ip, ID("a"), 15, 30), 0); /* overlaps */
	assert_string_equal(ranges(st, ip), "h[0,30)a");
	assert_int_equal(stats(st).ranges, 1);
	assert_int_equal(stats(st).duplicates, 0);

	assert_int_equal(own_span(st, HB, ip, ID("a"), 5, 8), 0); /* inside: changes nothing */
	assert_int_equal(stats(st).duplicates, 1);
	assert_int_equal(own_span(st, HB, ip, ID("a"), 7, 7), 0); /* empty */
	assert_int_equal(stats(st).duplicates, 2);

	assert_int_equal(own_span(st, HB, ip, ID("a"), 40, 50), 0);
	assert_string_equal(ranges(st, ip), "h[0,30)a h[40,50)a");
	assert_int_equal(stats(st).ranges, 2);
	assert_int_equal(own_span(st, HB, ip, ID("a"), 30, 40), 0); /* bridges the gap */
	assert_string_equal(ranges(st, ip), "h[0,50)a");
	assert_int_equal(stats(st).ranges, 1);

	/* another identity touching is no conflict and no merge */
	assert_int_equal(own_span(st, HB, ip, ID("b"), 50, 60), 0);
	assert_string_equal(ranges(st, ip), "h[0,50)a h[50,60)b");
	assert_int_equal(stats(st).conflicts, 0);

	/* one span swallowing several */
	assert_int_equal(own_span(st, KUBE, ip, ID("c"), 0, 5), 0);
	assert_int_equal(own_span(st, KUBE, ip, ID("c"), 10, 15), 0);
	assert_int_equal(own_span(st, KUBE, ip, ID("c"), 20, 25), 0);
	assert_int_equal(own_span(st, KUBE, ip, ID("c"), 3, 22), 0);
	assert_string_equal(ranges(st, ip), "h[0,50)a h[50,60)b k[0,25)c");
	assert_int_equal(stats(st).ranges, 3);
	assert_int_equal(stats(st).ips, 1);
	assert_int_equal(stats(st).identities, 3);
	own_store__free(st);
}

static void test_span_conflict(void **state)
{
	struct own_store *st = store(0);
	uint8_t ip[16];

	(void)state;
	v4(ip, 10, 0, 0, 2);
	own_set_heartbeat_floor(st, 125); /* every heartbeat up to 125 is in */
	assert_int_equal(own_span(st, HB, ip, ID("a"), 0, 100), 0);
	assert_int_equal(own_span(st, HB, ip, ID("b"), 40, 60), 0);
	assert_string_equal(ranges(st, ip), "h[0,40)a h[40,60)! h[60,100)a");
	assert_int_equal(stats(st).conflicts, 1);
	assert_int_equal(stats(st).ranges, 3);
	/* b holds no time of its own: a conflict names nobody, so b is not kept */
	assert_int_equal(stats(st).identities, 1);
	FOUND(st, ip, 39, HB, "a");
	CONFLICT(st, ip, 40, HB);
	CONFLICT(st, ip, 59, HB);
	FOUND(st, ip, 60, HB, "a");

	/* the same conflicting span again, or a's own time again, changes nothing */
	assert_int_equal(own_span(st, HB, ip, ID("b"), 40, 60), 0);
	assert_int_equal(own_span(st, HB, ip, ID("a"), 30, 70), 0);
	assert_int_equal(stats(st).duplicates, 2);
	assert_int_equal(stats(st).conflicts, 1);

	/* a third owner across the end */
	assert_int_equal(own_span(st, HB, ip, ID("c"), 90, 120), 0);
	assert_string_equal(ranges(st, ip), "h[0,40)a h[40,60)! h[60,90)a h[90,100)! h[100,120)c");
	assert_int_equal(stats(st).conflicts, 2);
	assert_int_equal(stats(st).ranges, 5);
	FOUND(st, ip, 89, HB, "a");
	CONFLICT(st, ip, 95, HB);
	FOUND(st, ip, 100, HB, "c");

	/* a heartbeat conflict is final: less trusted sources are not asked */
	assert_int_equal(own_assign(st, KUBE, ip, ID("d"), 0), 0);
	CONFLICT(st, ip, 50, HB);
	FOUND(st, ip, 130, KUBE, "d"); /* heartbeats pending past 125, kube certain */

	/* conflicts in one source only: sonar's own overlap */
	assert_int_equal(own_span(st, SONAR, ip, ID("x"), 1000, 2000), 0);
	assert_int_equal(own_span(st, SONAR, ip, ID("y"), 1500, 2500), 0);
	assert_string_equal(ranges(st, ip), "h[0,40)a h[40,60)! h[60,90)a h[90,100)! h[100,120)c "
					    "k[0,inf)d s[1000,1500)x s[1500,2000)! s[2000,2500)y");
	FOUND(st, ip, 1600, KUBE, "d"); /* kube covers first */
	own_store__free(st);
}

static void test_range_edges(void **state)
{
	struct own_store *st = store(0);
	uint8_t ip[16];

	(void)state;
	v4(ip, 10, 0, 0, 3);
	own_set_heartbeat_floor(st, 199);
	assert_int_equal(own_span(st, HB, ip, ID("a"), 100, 200), 0);
	NONE(st, ip, 99); /* heartbeats certain up to 199, nobody else speaks */
	FOUND(st, ip, 100, HB, "a");
	FOUND(st, ip, 199, HB, "a");
	WAIT(st, ip, 200); /* past the floor: a heartbeat may still come */

	/* kube's [100, 200) through events, heartbeats certain up to 1999 */
	own_set_heartbeat_floor(st, 1999);
	v4(ip, 10, 0, 0, 4);
	assert_int_equal(own_span(st, HB, ip, ID("z"), 1000, 2000), 0);
	assert_int_equal(own_assign(st, KUBE, ip, ID("a"), 100), 0);
	assert_int_equal(own_unassign(st, KUBE, ip, NULL, 200), 0);
	NONE(st, ip, 99);
	FOUND(st, ip, 100, KUBE, "a");
	FOUND(st, ip, 199, KUBE, "a");
	NONE(st, ip, 200);
	FOUND(st, ip, 1000, HB, "z");
	own_store__free(st);
}

/* --- events ---------------------------------------------------------------- */

static void test_assign_unassign(void **state)
{
	struct own_store *st = store(0);
	uint8_t ip[16];

	(void)state;
	v4(ip, 10, 0, 1, 1);
	own_set_heartbeat_floor(st, 19999);
	assert_int_equal(own_span(st, HB, ip, ID("z"), 10000, 20000), 0);
	assert_int_equal(own_assign(st, KUBE, ip, ID("a"), 100), 0);
	assert_string_equal(ranges(st, ip), "h[10000,20000)z k[100,inf)a");
	FOUND(st, ip, 5000, KUBE, "a"); /* open, kube's watermark is forever */
	NONE(st, ip, 99);

	assert_int_equal(own_unassign(st, KUBE, ip, NULL, 300), 0);
	assert_string_equal(ranges(st, ip), "h[10000,20000)z k[100,300)a");
	FOUND(st, ip, 299, KUBE, "a");
	NONE(st, ip, 300);

	assert_int_equal(own_assign(st, KUBE, ip, ID("b"), 500), 0);
	assert_int_equal(own_assign(st, KUBE, ip, ID("c"), 700), 0); /* ends b */
	assert_string_equal(ranges(st, ip), "h[10000,20000)z k[100,300)a k[500,700)b k[700,inf)c");
	NONE(st, ip, 400);
	FOUND(st, ip, 600, KUBE, "b");
	FOUND(st, ip, 700, KUBE, "c");
	/* every event is held, the UNASSIGN too */
	assert_int_equal(stats(st).ranges, 5);
	assert_int_equal(stats(st).identities, 4);
	own_store__free(st);
}

static void test_trust_order(void **state)
{
	struct own_store *st = store(0);
	uint8_t ip[16];

	(void)state;
	v4(ip, 10, 0, 2, 1);
	own_set_heartbeat_floor(st, 999);
	assert_int_equal(own_span(st, HB, ip, ID("a"), 0, 100), 0);
	assert_int_equal(own_span(st, HB, ip, ID("a"), 900, 1000), 0);
	assert_int_equal(own_assign(st, KUBE, ip, ID("b"), 0), 0);
	assert_int_equal(own_assign(st, SONAR, ip, ID("c"), 0), 0);
	FOUND(st, ip, 50, HB, "a");    /* heartbeat beats kube and sonar */
	FOUND(st, ip, 150, KUBE, "b"); /* kube beats sonar */
	assert_int_equal(own_unassign(st, KUBE, ip, NULL, 120), 0);
	FOUND(st, ip, 110, KUBE, "b");
	FOUND(st, ip, 150, SONAR, "c"); /* kube certain nobody: sonar */
	assert_int_equal(own_unassign(st, SONAR, ip, NULL, 130), 0);
	FOUND(st, ip, 125, SONAR, "c");
	NONE(st, ip, 150);
	FOUND(st, ip, 950, HB, "a");
	WAIT(st, ip, 1000);
	own_store__free(st);
}

/* The same evidence in every arrival order gives the same history. */
static void test_out_of_order(void **state)
{
	struct ev {
		bool assign;
		const char *who; /* NULL: unassign whoever */
		int64_t t;
	} evs[6] = {
		{ true, "a", 100 }, { false, "a", 200 },
		{ true, "b", 300 }, { false, "a", 350 }, /* b holds: ignored */
		{ true, "c", 400 }, { false, NULL, 500 },
	};
	int perm[6] = { 0, 1, 2, 3, 4, 5 }, c[6] = { 0 }, n = 0, i = 1;
	uint8_t ip[16];

	(void)state;
	v6(ip, "2001:db8::1");
	for (;;) { /* every one of the 720 orders, by Heap's algorithm */
		struct own_store *st = store(0);

		for (int k = 0; k < 6; k++) {
			const struct ev *e = &evs[perm[k]];
			const struct flow_identity *id = e->who ? ID(e->who) : NULL;

			if (e->assign)
				assert_int_equal(own_assign(st, KUBE, ip, id, e->t), 0);
			else
				assert_int_equal(own_unassign(st, KUBE, ip, id, e->t), 0);
		}
		assert_string_equal(ranges(st, ip), "k[100,200)a k[300,400)b k[400,500)c");
		assert_int_equal(stats(st).ranges, 6);
		assert_int_equal(stats(st).duplicates, 0);
		own_store__free(st);
		n++;
		while (i < 6 && c[i] >= i)
			c[i++] = 0;
		if (i == 6)
			break;
		{
			int j = i % 2 ? c[i] : 0, tmp = perm[j];

			perm[j] = perm[i];
			perm[i] = tmp;
		}
		c[i]++;
		i = 1;
	}
	assert_int_equal(n, 720);
}

static void test_duplicates(void **state)
{
	struct own_store *st = store(0);
	uint8_t ip[16];

	(void)state;
	v4(ip, 10, 0, 3, 1);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(own_unassign(st, SONAR, ip, ID("a"), 200), 0);
		assert_int_equal(own_assign(st, SONAR, ip, ID("a"), 100), 0);
		assert_int_equal(own_unassign(st, SONAR, ip, NULL, 300), 0);
		assert_int_equal(own_span(st, HB, ip, ID("a"), 0, 50), 0);
	}
	assert_string_equal(ranges(st, ip), "h[0,50)a s[100,200)a");
	assert_int_equal(stats(st).ranges, 4);
	assert_int_equal(stats(st).duplicates, 8);
	/* an UNASSIGN naming someone and one naming no one are different evidence */
	assert_int_equal(own_unassign(st, SONAR, ip, NULL, 200), 0);
	assert_int_equal(stats(st).ranges, 5);
	assert_int_equal(stats(st).duplicates, 8);
	own_store__free(st);
}

static void test_unassign_identity(void **state)
{
	struct own_store *st = store(0);
	uint8_t ip[16], ip2[16], ip3[16];

	(void)state;
	v4(ip, 10, 0, 4, 1);
	assert_int_equal(own_assign(st, KUBE, ip, ID("a"), 100), 0);
	assert_int_equal(own_unassign(st, KUBE, ip, ID("b"), 200), 0); /* not b's: ignored */
	assert_string_equal(ranges(st, ip), "k[100,inf)a");
	assert_int_equal(own_unassign(st, KUBE, ip, ID("a"), 300), 0);
	assert_string_equal(ranges(st, ip), "k[100,300)a");

	/* the UNASSIGN first: it is kept with its identity and judged when the ASSIGN comes */
	v4(ip2, 10, 0, 4, 2);
	assert_int_equal(own_unassign(st, KUBE, ip2, ID("a"), 200), 0);
	assert_string_equal(ranges(st, ip2), "");
	assert_int_equal(own_assign(st, KUBE, ip2, ID("a"), 100), 0);
	assert_string_equal(ranges(st, ip2), "k[100,200)a");
	/* b taking over at 150 makes the UNASSIGN of a at 200 end nothing */
	assert_int_equal(own_assign(st, KUBE, ip2, ID("b"), 150), 0);
	assert_string_equal(ranges(st, ip2), "k[100,150)a k[150,inf)b");
	/* and an UNASSIGN without identity ends whoever holds it */
	assert_int_equal(own_unassign(st, KUBE, ip2, NULL, 400), 0);
	assert_string_equal(ranges(st, ip2), "k[100,150)a k[150,400)b");

	/* an UNASSIGN naming some fields ends a holder that has them all, whatever the rest */
	v4(ip3, 10, 0, 4, 3);
	assert_int_equal(own_assign(st, SONAR, ip3,
				    &(struct flow_identity){ .app = "c", .pod = "c", .zone = "z1" },
				    100),
			 0);
	assert_int_equal(own_unassign(st, SONAR, ip3, &(struct flow_identity){ .app = "d" }, 150),
			 0); /* another app: ignored */
	assert_int_equal(
	    own_unassign(st, SONAR, ip3, &(struct flow_identity){ .app = "c", .zone = "" }, 200),
	    0);
	WAIT(st, ip3, 99); /* heartbeats pending: no span */
	own_set_heartbeat_floor(st, 1000);
	FOUND(st, ip3, 199, SONAR, "c");
	NONE(st, ip3, 200);
	own_store__free(st);
}

static void test_same_millisecond(void **state)
{
	uint8_t ip[16];
	char first[256];

	(void)state;
	v4(ip, 10, 0, 5, 1);
	/* a handover: UNASSIGN sorts before ASSIGN at equal t, whatever the arrival order */
	for (int order = 0; order < 2; order++) {
		struct own_store *st = store(0);

		assert_int_equal(own_assign(st, KUBE, ip, ID("a"), 50), 0);
		if (order) {
			assert_int_equal(own_assign(st, KUBE, ip, ID("b"), 100), 0);
			assert_int_equal(own_unassign(st, KUBE, ip, NULL, 100), 0);
		} else {
			assert_int_equal(own_unassign(st, KUBE, ip, NULL, 100), 0);
			assert_int_equal(own_assign(st, KUBE, ip, ID("b"), 100), 0);
		}
		assert_string_equal(ranges(st, ip), "k[50,100)a k[100,inf)b");
		/* b leaving and arriving in one millisecond: arrives last */
		assert_int_equal(own_unassign(st, KUBE, ip, ID("b"), 100), 0);
		assert_string_equal(ranges(st, ip), "k[50,100)a k[100,inf)b");
		own_store__free(st);
	}
	/* two owners at one instant: one order, by identity, never by arrival */
	for (int order = 0; order < 2; order++) {
		struct own_store *st = store(0);
		const char *r;

		assert_int_equal(own_assign(st, SONAR, ip, ID(order ? "p" : "q"), 100), 0);
		assert_int_equal(own_assign(st, SONAR, ip, ID(order ? "q" : "p"), 100), 0);
		r = ranges(st, ip);
		assert_true(!strcmp(r, "s[100,inf)p") || !strcmp(r, "s[100,inf)q"));
		if (!order)
			snprintf(first, sizeof(first), "%s", r);
		else
			assert_string_equal(r, first);
		assert_int_equal(stats(st).ranges, 2);
		own_store__free(st);
	}
}

/* --- keys -------------------------------------------------------------------- */

static void test_address_kinds_apart(void **state)
{
	static const char *const names[] = { "mapped", "compat", "doc", "nat64", "other" };
	struct own_store *st = store(0);
	uint8_t ip[5][16];

	(void)state;
	v4(ip[0], 10, 0, 0, 1);		   /* ::ffff:10.0.0.1 */
	v6(ip[1], "::a00:1");		   /* ::10.0.0.1, v4-compatible */
	v6(ip[2], "2001:db8::a00:1");	   /* same last 4 bytes */
	v6(ip[3], "64:ff9b::a00:1");	   /* NAT64 of 10.0.0.1 */
	v6(ip[4], "2001:db8::ffff:a00:1"); /* ::ffff: inside another prefix */
	own_set_heartbeat_floor(st, 99);
	for (int i = 0; i < 5; i++)
		assert_int_equal(own_span(st, HB, ip[i], ID(names[i]), 0, 100), 0);
	for (int i = 0; i < 5; i++) {
		char want[64];

		FOUND(st, ip[i], 50, HB, names[i]);
		snprintf(want, sizeof(want), "h[0,100)%s", names[i]);
		assert_string_equal(ranges(st, ip[i]), want);
	}
	assert_int_equal(stats(st).ips, 5);
	assert_int_equal(stats(st).ranges, 5);
	assert_int_equal(stats(st).identities, 5);
	/* an address nobody spoke of: heartbeats may still come past the floor */
	v4(ip[0], 10, 0, 0, 2);
	NONE(st, ip[0], 50);
	WAIT(st, ip[0], 100);
	assert_string_equal(ranges(st, ip[0]), "");
	own_store__free(st);
}

/* --- watermarks ---------------------------------------------------------------- */

static void test_watermarks(void **state)
{
	struct own_store *st = store(0);
	uint8_t ip[16], ip2[16];

	(void)state;
	v4(ip, 10, 0, 6, 1);
	/* heartbeats certain (and silent) everywhere below 900000 */
	own_set_heartbeat_floor(st, 999999);
	assert_int_equal(own_span(st, HB, ip, ID("z"), 900000, 1000000), 0);
	assert_int_equal(own_assign(st, KUBE, ip, ID("a"), 100), 0);
	own_set_watermark(st, KUBE, 150);
	assert_true(own_watermark(st, KUBE) == 150);
	assert_true(own_watermark(st, SONAR) == INF);
	FOUND(st, ip, 150, KUBE, "a"); /* open, but at the watermark */
	WAIT(st, ip, 151);	       /* open beyond it: an UNASSIGN may still come */
	NONE(st, ip, 50);	       /* kube certain nobody, sonar too */

	assert_int_equal(own_unassign(st, KUBE, ip, NULL, 300), 0);
	FOUND(st, ip, 200, KUBE, "a"); /* closed: certain beyond the watermark */
	WAIT(st, ip, 400);	       /* kube pending, nobody else */

	assert_int_equal(own_assign(st, SONAR, ip, ID("c"), 350), 0);
	FOUND(st, ip, 400, SONAR, "c"); /* a pending source does not hold back a later one */
	own_set_watermark(st, SONAR, 380);
	FOUND(st, ip, 380, SONAR, "c");
	WAIT(st, ip, 400);
	own_set_watermark(st, KUBE, INF);
	own_set_watermark(st, SONAR, INF);
	NONE(st, ip, 320);
	FOUND(st, ip, 400, SONAR, "c");

	/* a lowered watermark makes kube pending where it says nothing */
	v4(ip2, 10, 0, 6, 2);
	assert_int_equal(own_span(st, HB, ip2, ID("z"), 900000, 1000000), 0);
	NONE(st, ip2, 500);
	own_set_watermark(st, KUBE, 499);
	WAIT(st, ip2, 500);
	NONE(st, ip2, 499);
	own_store__free(st);
}

static void test_heartbeat_watermark(void **state)
{
	struct own_store *st = store(0);
	uint8_t ip[16], ip2[16], ip3[16], ip4[16], ip5[16];

	(void)state;
	v4(ip, 10, 0, 7, 1);
	assert_int_equal(own_span(st, HB, ip, ID("a"), 0, 100), 0);
	assert_int_equal(own_span(st, HB, ip, ID("a"), 200, 300), 0);
	/* no floor yet: any heartbeat may still come, for any time */
	WAIT(st, ip, 99);
	WAIT(st, ip, 150);
	own_set_heartbeat_floor(st, 299);
	FOUND(st, ip, 99, HB, "a");
	NONE(st, ip, 150); /* a gap below the floor: certainly nobody's */
	FOUND(st, ip, 299, HB, "a");
	WAIT(st, ip, 300);
	WAIT(st, ip, 100000);
	/* the heartbeat watermark caps the floor */
	own_set_watermark(st, HB, 120);
	NONE(st, ip, 110);
	WAIT(st, ip, 150);
	WAIT(st, ip, 250); /* a claim above the capped floor: not settled */
	own_set_watermark(st, HB, INF);
	NONE(st, ip, 150);
	FOUND(st, ip, 250, HB, "a");

	/* no heartbeat span at all: pending wherever the others are silent */
	v4(ip2, 10, 0, 7, 2);
	assert_int_equal(own_assign(st, KUBE, ip2, ID("b"), 0), 0);
	assert_int_equal(own_unassign(st, KUBE, ip2, NULL, 100), 0);
	FOUND(st, ip2, 50, KUBE, "b");
	NONE(st, ip2, 150);
	WAIT(st, ip2, 300);

	/* heartbeats pending past the floor, kube certain */
	v4(ip3, 10, 0, 7, 3);
	assert_int_equal(own_assign(st, KUBE, ip3, ID("b"), 0), 0);
	FOUND(st, ip3, 400, KUBE, "b");

	/* a conflict region is final, settled or not */
	v4(ip4, 10, 0, 7, 4);
	assert_int_equal(own_span(st, HB, ip4, ID("a"), 0, 10), 0);
	assert_int_equal(own_span(st, HB, ip4, ID("a"), 250, 400), 0);
	assert_int_equal(own_span(st, HB, ip4, ID("b"), 280, 400), 0);
	NONE(st, ip4, 20);
	CONFLICT(st, ip4, 290, HB);
	CONFLICT(st, ip4, 399, HB);
	WAIT(st, ip4, 400);

	/* the heartbeat floor: no heartbeat is still to come for times up to it */
	own_set_heartbeat_floor(st, 1000);
	NONE(st, ip, 500);  /* past its latest span, before the floor */
	WAIT(st, ip, 1001); /* past the floor: it may still come */
	NONE(st, ip2, 150); /* no span at all, kube certain */
	NONE(st, ip4, 400);
	v4(ip5, 10, 0, 7, 5); /* never heard of */
	NONE(st, ip5, 1000);
	WAIT(st, ip5, 1001);
	own_set_watermark(st, KUBE, 900); /* another source still behind */
	WAIT(st, ip5, 950);
	NONE(st, ip5, 900);
	own_set_watermark(st, HB, 800); /* and the heartbeat watermark still caps it */
	WAIT(st, ip, 850);
	WAIT(st, ip5, 850);
	own_store__free(st);
}

/*
 * A heartbeat claim above the floor is not final: another sender may claim
 * the same address for the same time, and then nobody may be named there.
 * Whatever order the two claims arrive in, no answer before the floor
 * passes names either of them (unless the pod watch names the same pod),
 * and after it both orders say conflict.
 */
static void test_unsettled_claims(void **state)
{
	struct flow_identity a_other = { .app = "a2", .pod = "a", .namespace = "ns" };
	struct own_answer ans;
	uint8_t ip[16];

	(void)state;
	v4(ip, 10, 0, 8, 1);
	for (int order = 0; order < 2; order++) {
		struct own_store *st = store(0);

		own_set_heartbeat_floor(st, 999);
		assert_int_equal(own_span(st, HB, ip, ID(order ? "b" : "a"), 1000, 2000), 0);
		/* one claim so far: above the floor it decides nothing on its own */
		assert_int_equal(own_lookup(st, ip, 1500, &ans), OWN_WAIT);
		assert_true(ans.settling);
		assert_null(ans.id);
		assert_int_equal(own_span(st, HB, ip, ID(order ? "a" : "b"), 1200, 1800), 0);
		WAIT(st, ip, 1100);
		CONFLICT(st, ip, 1500, HB); /* a conflict is final at once */
		own_set_heartbeat_floor(st, 2000);
		FOUND(st, ip, 1100, HB, order ? "b" : "a");
		CONFLICT(st, ip, 1200, HB);
		CONFLICT(st, ip, 1799, HB);
		FOUND(st, ip, 1800, HB, order ? "b" : "a");
		own_store__free(st);
	}

	/* the pod watch naming the same pod settles a claim at once */
	{
		struct own_store *st = store(0);

		own_set_heartbeat_floor(st, 999);
		assert_int_equal(own_span(st, HB, ip, ID("a"), 1000, 2000), 0);
		assert_int_equal(own_assign(st, KUBE, ip, ID("b"), 900), 0);
		/* another pod: a contradiction until the claim settles */
		assert_int_equal(own_lookup(st, ip, 1500, &ans), OWN_WAIT);
		assert_true(ans.settling);
		assert_int_equal(own_assign(st, KUBE, ip, &a_other, 1400), 0);
		/* the same namespace and pod, another app: the same pod; the claim's identity */
		FOUND(st, ip, 1500, HB, "a");
		WAIT(st, ip, 1300);
		/* kube open beyond its watermark: not certain, so no confirmation */
		own_set_watermark(st, KUBE, 1450);
		assert_int_equal(own_lookup(st, ip, 1500, &ans), OWN_WAIT);
		/* ... but it may confirm it once its watermark passes t: looked up again */
		assert_false(ans.settling);
		own_set_watermark(st, KUBE, 1500);
		FOUND(st, ip, 1500, HB, "a");
		own_set_watermark(st, KUBE, 1450);
		FOUND(st, ip, 1450, HB, "a");
		/* at shutdown, what nothing contradicts decides */
		own_settle_heartbeats(st);
		FOUND(st, ip, 1300, HB, "a");
		FOUND(st, ip, 1500, HB, "a");
		own_store__free(st);
	}
}

/* --- retention and eviction -------------------------------------------------- */

static void test_prune(void **state)
{
	struct own_store *st = store(0);
	uint8_t a[16], b[16], c[16], d[16], e[16];

	(void)state;
	v4(a, 10, 0, 8, 1);
	v4(b, 10, 0, 8, 2);
	v4(c, 10, 0, 8, 3);
	v6(d, "2001:db8::8:4");
	v4(e, 10, 0, 8, 5);
	assert_int_equal(own_span(st, HB, a, ID("a"), 0, 100), 0);
	assert_int_equal(own_span(st, HB, a, ID("a"), 200, 300), 0);
	assert_int_equal(own_assign(st, KUBE, b, ID("a"), 50), 0);
	assert_int_equal(own_assign(st, KUBE, b, ID("b"), 150), 0);   /* a: [50, 150) */
	assert_int_equal(own_unassign(st, KUBE, b, ID("c"), 160), 0); /* inside b's range */
	assert_int_equal(own_span(st, HB, c, ID("e"), 0, 50), 0);
	assert_int_equal(own_assign(st, SONAR, d, ID("c"), 10), 0);
	assert_int_equal(own_unassign(st, SONAR, d, ID("d"), 20), 0);
	assert_int_equal(own_assign(st, KUBE, e, ID("a"), 10), 0);
	assert_int_equal(own_unassign(st, KUBE, e, NULL, 150), 0);
	assert_int_equal(stats(st).ranges, 10);
	assert_int_equal(stats(st).ips, 5);
	assert_int_equal(stats(st).identities, 5);

	/*
	 * Wholly before 150: a's [0,100), b's ASSIGN of a (ends at 150), all of c,
	 * e's ASSIGN and its UNASSIGN.  d's ASSIGN is open and b's UNASSIGN of c
	 * sits inside b's live range: both stay.
	 */
	assert_int_equal(own_prune(st, 150), 5);
	assert_int_equal(stats(st).pruned, 5);
	assert_int_equal(stats(st).ranges, 5);
	assert_int_equal(stats(st).ips, 3);
	assert_int_equal(stats(st).identities, 4); /* e went with c */
	assert_string_equal(ranges(st, a), "h[200,300)a");
	assert_string_equal(ranges(st, b), "k[150,inf)b");
	assert_string_equal(ranges(st, c), "");
	assert_string_equal(ranges(st, d), "s[10,inf)c");
	assert_string_equal(ranges(st, e), "");
	FOUND(st, d, 1000000, SONAR, "c");
	/* the kept UNASSIGN of c still ends a late ASSIGN of c */
	assert_int_equal(own_assign(st, KUBE, b, ID("c"), 155), 0);
	assert_string_equal(ranges(st, b), "k[150,155)b k[155,160)c");
	assert_int_equal(own_prune(st, 150), 0);

	/* everything */
	assert_int_equal(own_prune(st, INF), 6);
	assert_int_equal(stats(st).pruned, 11);
	assert_int_equal(stats(st).ranges, 0);
	assert_int_equal(stats(st).ips, 0);
	assert_int_equal(stats(st).identities, 0);
	own_store__free(st);
}

static void test_evict_earliest_first(void **state)
{
	static const int64_t ends[5] = { 50, 10, 40, 30, 20 };
	struct own_store *st = store(4);
	uint8_t ip[10][16];

	(void)state;
	for (int i = 0; i < 10; i++)
		v4(ip[i], 10, 0, 9, (uint8_t)i);
	for (int i = 0; i < 4; i++)
		assert_int_equal(own_span(st, HB, ip[i], ID("a"), 0, ends[i]), 0);
	assert_int_equal(stats(st).evicted, 0);
	assert_int_equal(own_span(st, HB, ip[4], ID("a"), 0, ends[4]), 0); /* 5 > 4 */
	assert_int_equal(stats(st).evicted, 1);
	assert_int_equal(stats(st).ranges, 4);
	assert_int_equal(stats(st).ips, 4);
	assert_string_equal(ranges(st, ip[1]), ""); /* ended at 10 */

	/* open ranges end last: each new one pushes out the next earliest end */
	assert_int_equal(own_assign(st, KUBE, ip[6], ID("b"), 0), 0);
	assert_string_equal(ranges(st, ip[4]), ""); /* ended at 20 */
	assert_int_equal(own_assign(st, KUBE, ip[0], ID("b"), 0), 0);
	assert_string_equal(ranges(st, ip[3]), ""); /* ended at 30 */
	assert_int_equal(stats(st).evicted, 3);
	assert_int_equal(stats(st).ranges, 4);
	assert_int_equal(stats(st).ips, 3);
	assert_string_equal(ranges(st, ip[0]), "h[0,50)a k[0,inf)b");

	/* events: an ASSIGN ends where the next begins */
	assert_int_equal(own_assign(st, SONAR, ip[7], ID("c"), 0), 0);
	assert_string_equal(ranges(st, ip[2]), ""); /* ended at 40 */
	assert_int_equal(own_assign(st, SONAR, ip[7], ID("d"), 5), 0);
	assert_string_equal(ranges(st, ip[7]), "s[5,inf)d"); /* c ended at 5 */
	assert_int_equal(stats(st).evicted, 5);
	assert_int_equal(own_assign(st, SONAR, ip[8], ID("e"), 0), 0);
	assert_string_equal(ranges(st, ip[0]), "k[0,inf)b"); /* the span ended at 50 */
	/* only open ranges left: one of them goes, never the evidence refused */
	assert_int_equal(own_assign(st, SONAR, ip[9], ID("f"), 0), 0);
	assert_int_equal(stats(st).evicted, 7);
	assert_int_equal(stats(st).ranges, 4);
	assert_int_equal(stats(st).pruned, 0);
	own_store__free(st);
}

/*
 * An UNASSIGN that ends nothing inside a live ASSIGN's range ends when that
 * range ends, for eviction too: here the ASSIGN is open, so the span that
 * ended at 50 goes first, not the UNASSIGN sent at 20.
 */
static void test_evict_unassign_with_its_assign(void **state)
{
	struct own_store *st = store(3);
	uint8_t ip[16], ip2[16], ip3[16];

	(void)state;
	v4(ip, 10, 0, 10, 1);
	v4(ip2, 10, 0, 10, 2);
	v4(ip3, 10, 0, 10, 3);
	assert_int_equal(own_assign(st, SONAR, ip, ID("c"), 10), 0);
	assert_int_equal(own_unassign(st, SONAR, ip, ID("d"), 20), 0);
	assert_int_equal(own_span(st, HB, ip2, ID("a"), 0, 50), 0);
	assert_int_equal(own_span(st, HB, ip3, ID("a"), 0, 60), 0); /* 4 > 3 */
	assert_int_equal(stats(st).evicted, 1);
	assert_int_equal(stats(st).ranges, 3);
	assert_string_equal(ranges(st, ip2), "");
	assert_string_equal(ranges(st, ip), "s[10,inf)c");
	/* a late ASSIGN of d still meets its UNASSIGN; c, now ended at 15, goes next */
	assert_int_equal(own_assign(st, SONAR, ip, ID("d"), 15), 0);
	assert_int_equal(stats(st).evicted, 2);
	assert_string_equal(ranges(st, ip), "s[15,20)d");
	assert_string_equal(ranges(st, ip3), "h[0,60)a");
	own_store__free(st);
}

/*
 * At 640 ranges the store evicts 640/64 = 10 beyond the overflow at once.
 * Ends spread over 26 bits (three passes of the threshold search) and come
 * in equal pairs, so the last one evicted is one of a tie.
 */
static void test_evict_batch(void **state)
{
	const int64_t base = 1700000000000, step = 100003;
	struct own_store *st = store(640);
	int64_t end[641];
	uint8_t ip[16];
	int gone = 0, tie_gone = 0;

	(void)state;
	own_set_heartbeat_floor(st, INF);
	srand(7);
	for (int i = 0; i < 641; i++)
		end[i] = base + (i / 2) * step;
	for (int i = 640; i > 0; i--) { /* shuffled arrival */
		int j = rand() % (i + 1);
		int64_t t = end[i];

		end[i] = end[j];
		end[j] = t;
	}
	for (int i = 0; i < 641; i++) {
		v6(ip, "2001:db8::");
		ip[14] = (uint8_t)(i >> 8);
		ip[15] = (uint8_t)i;
		assert_int_equal(own_span(st, HB, ip, ID("a"), base - 5000, end[i]), 0);
		assert_int_equal(stats(st).evicted, i < 640 ? 0 : 11);
	}
	assert_int_equal(stats(st).ranges, 630);
	assert_int_equal(stats(st).ips, 630);
	for (int i = 0; i < 641; i++) {
		bool kept;

		v6(ip, "2001:db8::");
		ip[14] = (uint8_t)(i >> 8);
		ip[15] = (uint8_t)i;
		kept = ranges(st, ip)[0] != '\0';
		gone += !kept;
		/* the 11 that ended first: both of pairs 0..4 and one of pair 5 */
		if (end[i] < base + 5 * step)
			assert_false(kept);
		else if (end[i] == base + 5 * step)
			tie_gone += !kept;
		else
			FOUND(st, ip, end[i] - 1, HB, "a");
	}
	assert_int_equal(gone, 11);
	assert_int_equal(tie_gone, 1);
	own_store__free(st);
}

/* --- identities and memory ------------------------------------------------- */

static void test_interning(void **state)
{
	struct own_store *st = store(0);
	struct flow_identity with_null = { .app = "a", .pod = "a", .namespace = "ns" };
	struct flow_identity with_empty = { .app = "a", .pod = "a", .namespace = "ns", .zone = "" };
	struct own_answer x, y;
	uint8_t ip1[16], ip2[16], ip3[16];

	(void)state;
	own_set_heartbeat_floor(st, INF);
	v4(ip1, 10, 1, 0, 1);
	v6(ip2, "fd00::1");
	v4(ip3, 10, 1, 0, 3);
	assert_int_equal(own_span(st, HB, ip1, &with_null, 0, 100), 0);
	assert_int_equal(own_assign(st, KUBE, ip2, &with_empty, 0), 0); /* "" == NULL */
	assert_int_equal(stats(st).identities, 1);
	assert_int_equal(own_lookup(st, ip1, 50, &x), OWN_FOUND);
	assert_int_equal(own_lookup(st, ip2, 50, &y), OWN_FOUND);
	assert_ptr_equal(x.id, y.id);
	/* unknown fields read as "", never NULL */
	assert_non_null(x.id->zone);
	assert_string_equal(x.id->zone, "");
	assert_string_equal(x.id->namespace, "ns");

	/* one field apart is another identity */
	with_null.zone = "z1";
	assert_int_equal(own_span(st, HB, ip3, &with_null, 0, 100), 0);
	assert_int_equal(stats(st).identities, 2);
	/* NULL identity: someone, nothing known of them */
	assert_int_equal(own_assign(st, SONAR, ip3, NULL, 0), 0);
	assert_int_equal(stats(st).identities, 3);
	assert_int_equal(own_lookup(st, ip3, 200, &x), OWN_FOUND); /* sonar, past heartbeats */
	assert_int_equal(x.source, SONAR);
	assert_string_equal(x.id->app, "");
	assert_string_equal(x.id->pod, "");

	/* identities go with the last range naming them */
	assert_int_equal(own_prune(st, 100), 2);   /* the two spans */
	assert_int_equal(stats(st).identities, 2); /* z1's went; ip2's ASSIGN still names a */
	assert_int_equal(own_prune(st, INF), 2);
	assert_int_equal(stats(st).identities, 0);
	own_store__free(st);
}

static void test_long_strings_cut(void **state)
{
	struct own_store *st = store(0);
	char long1[400], long2[400];
	struct own_answer a;
	uint8_t ip[16], ip2[16];

	(void)state;
	own_set_heartbeat_floor(st, INF);
	memset(long1, 'x', sizeof(long1) - 1);
	long1[sizeof(long1) - 1] = '\0';
	memcpy(long2, long1, sizeof(long2));
	long2[OWN_STRING_MAX] = 'y'; /* differs only beyond the cut */
	v4(ip, 10, 2, 0, 1);
	v4(ip2, 10, 2, 0, 2);
	assert_int_equal(
	    own_span(st, HB, ip, &(struct flow_identity){ .app = long1, .pod = "p" }, 0, 10), 0);
	assert_int_equal(
	    own_span(st, HB, ip2, &(struct flow_identity){ .app = long2, .pod = "p" }, 0, 10), 0);
	assert_int_equal(stats(st).identities, 1);
	assert_int_equal(own_lookup(st, ip, 5, &a), OWN_FOUND);
	assert_int_equal(strlen(a.id->app), OWN_STRING_MAX);
	assert_int_equal(strncmp(a.id->app, long1, OWN_STRING_MAX), 0);
	assert_string_equal(a.id->pod, "p");
	/* exactly OWN_STRING_MAX is kept whole, and equals the cut one */
	long1[OWN_STRING_MAX] = '\0';
	assert_int_equal(
	    own_span(st, HB, ip, &(struct flow_identity){ .app = long1, .pod = "p" }, 10, 20), 0);
	{
		char want[420];

		snprintf(want, sizeof(want), "h[0,20)%s", long1);
		assert_string_equal(ranges(st, ip), want); /* merged: the same identity */
	}
	assert_int_equal(stats(st).ranges, 2); /* ip's one and ip2's one */
	assert_int_equal(stats(st).identities, 1);
	own_store__free(st);
}

/* A scripted sequence with every counter checked. */
static void test_stats_script(void **state)
{
	struct own_store *st = store(0);
	struct own_stats s;
	uint8_t p[16], q[16];

	(void)state;
	v4(p, 192, 168, 0, 1);
	v6(q, "2001:db8:1::1");
	assert_int_equal(own_span(st, HB, p, ID("a"), 0, 10), 0);     /* ranges 1 */
	assert_int_equal(own_span(st, HB, p, ID("a"), 10, 20), 0);    /* merged */
	assert_int_equal(own_span(st, HB, p, ID("b"), 5, 15), 0);     /* a|!|a: 3 */
	assert_int_equal(own_span(st, HB, p, ID("b"), 5, 15), 0);     /* duplicate */
	assert_int_equal(own_assign(st, KUBE, q, ID("a"), 100), 0);   /* 4 */
	assert_int_equal(own_assign(st, KUBE, q, ID("a"), 100), 0);   /* duplicate */
	assert_int_equal(own_unassign(st, KUBE, q, ID("c"), 150), 0); /* 5, ignored */
	assert_int_equal(own_unassign(st, KUBE, q, NULL, 200), 0);    /* 6 */
	assert_int_equal(own_assign(st, SONAR, q, ID("d"), 0), 0);    /* 7 */
	assert_int_equal(own_span(st, SONAR, q, ID("d"), 0, 0), 0);   /* empty: duplicate */
	own_stats(st, &s);
	assert_int_equal(s.ips, 2);
	assert_int_equal(s.ranges, 7);
	assert_int_equal(s.identities, 3); /* a, c, d; b only in a conflict */
	assert_int_equal(s.conflicts, 1);
	assert_int_equal(s.duplicates, 3);
	assert_int_equal(s.pruned, 0);
	assert_int_equal(s.evicted, 0);
	assert_string_equal(ranges(st, p), "h[0,5)a h[5,15)! h[15,20)a");
	assert_string_equal(ranges(st, q), "k[100,200)a s[0,inf)d");
	assert_int_equal(own_prune(st, 20), 3);
	own_stats(st, &s);
	assert_int_equal(s.ips, 1);
	assert_int_equal(s.ranges, 4);
	assert_int_equal(s.pruned, 3);
	own_store__free(st);
}

static void test_bytes(void **state)
{
	struct own_store *st = store(0);
	uint64_t empty, full;
	uint8_t ip[16];

	(void)state;
	empty = stats(st).bytes;
	assert_true(empty > 0);
	for (uint32_t i = 0; i < 10000; i++) {
		v4(ip, 10, 3, (uint8_t)(i >> 8), (uint8_t)i);
		assert_int_equal(own_span(st, HB, ip, ID("a"), 0, 100), 0);
	}
	full = stats(st).bytes;
	/*
	 * Per address at least a 24-byte slot (the table at most 70% full), a
	 * 32-byte record header and a 24-byte span; at most a few times that.
	 */
	assert_true(full - empty >= 10000 * (24 + 32 + 24));
	assert_true(full - empty <= 10000 * 200);
	/* every address's record and the grown table are given back */
	assert_int_equal(own_prune(st, 100), 10000);
	assert_true(stats(st).bytes < empty + 1024);
	own_store__free(st);
}

static void test_table_growth(void **state)
{
	struct own_store *st = store(0);
	struct own_answer a;
	uint8_t ip[16];

	(void)state;
	for (uint32_t i = 0; i < 100000; i++) {
		v6(ip, "2001:db8::");
		memcpy(ip + 12, &i, 4);
		assert_int_equal(own_assign(st, KUBE, ip, i % 2 ? ID("odd") : ID("even"), i), 0);
	}
	assert_int_equal(stats(st).ips, 100000);
	assert_int_equal(stats(st).identities, 2);
	for (uint32_t i = 0; i < 100000; i++) {
		v6(ip, "2001:db8::");
		memcpy(ip + 12, &i, 4);
		assert_int_equal(own_lookup(st, ip, i, &a), OWN_FOUND);
		assert_string_equal(a.id->app, i % 2 ? "odd" : "even");
		assert_int_equal(own_lookup(st, ip, (int64_t)i - 1, &a), OWN_WAIT);
	}
	/* delete half (closing them makes them prunable), the rest still found */
	for (uint32_t i = 0; i < 100000; i += 2) {
		v6(ip, "2001:db8::");
		memcpy(ip + 12, &i, 4);
		assert_int_equal(own_unassign(st, KUBE, ip, NULL, 200000), 0);
	}
	assert_int_equal(own_prune(st, 200000), 100000);
	assert_int_equal(stats(st).ips, 50000);
	for (uint32_t i = 0; i < 100000; i++) {
		v6(ip, "2001:db8::");
		memcpy(ip + 12, &i, 4);
		assert_int_equal(own_lookup(st, ip, 300000, &a), i % 2 ? OWN_FOUND : OWN_WAIT);
	}
	own_store__free(st);
}

/* --- randomised cross-check against a naive model --------------------------- */

#define R_IPS	3
#define R_IDS	4
#define R_ITEMS 40
#define R_TMAX	60

enum r_type { R_SPAN, R_ASSIGN, R_UNASSIGN };

struct r_item {
	enum r_type type;
	int src, ip;
	int id; /* -1: UNASSIGN of whoever */
	int64_t a, b;
};

static const struct flow_identity r_ident[R_IDS] = {
	{ .app = "i0" },
	{ .app = "i1", .zone = "z" },
	{ .app = "i2", .pod = "p" },
	{ .app = "i3", .node = "n" },
};

/* at equal t an UNASSIGN comes first (ownership.c's documented order) */
static int rank(const struct r_item *e)
{
	return e->type == R_UNASSIGN ? 0 : 1;
}

struct r_ans {
	enum own_verdict v;
	int src, id;
	bool conflict;
};

/*
 * The model, read straight off ownership.h with no merging, no indexes and
 * no derived state: per source, the identities of the spans over t, then a
 * replay of that source's events in (t, UNASSIGN before ASSIGN) order.
 */
static struct r_ans r_lookup(const struct r_item *it, int n, int ip, int64_t t, const int64_t wm[],
			     int64_t floor)
{
	bool pending = false;
	int claim = -1; /* a heartbeat's owner at t, above the floor */

	for (int src = FLOW_SOURCE_HEARTBEAT; src < FLOW_SOURCE__COUNT; src++) {
		int over = -1, order[R_ITEMS * 2], ne = 0, holder = -1, found = -1, k;
		int64_t w = wm[src];

		if (src == FLOW_SOURCE_HEARTBEAT && floor < w)
			w = floor;
		for (int i = 0; i < n; i++) {
			if (it[i].type != R_SPAN || it[i].src != src || it[i].ip != ip ||
			    it[i].a == it[i].b)
				continue;
			if (it[i].a <= t && t < it[i].b) {
				if (over >= 0 && over != it[i].id && claim >= 0)
					return (struct r_ans){ OWN_WAIT, 0, -1, false };
				if (over >= 0 && over != it[i].id)
					return (struct r_ans){ OWN_NONE, src, -1, true };
				over = it[i].id;
			}
		}
		if (over >= 0 && src == FLOW_SOURCE_HEARTBEAT && t > w) {
			claim = over;
			continue;
		}
		found = over;
		for (int i = 0; i < n && found < 0; i++) /* insertion sort, stable */
			if (it[i].type != R_SPAN && it[i].src == src && it[i].ip == ip) {
				int j = ne++;

				for (; j > 0; j--) {
					const struct r_item *p = &it[order[j - 1]];

					if (p->a < it[i].a ||
					    (p->a == it[i].a && rank(p) <= rank(&it[i])))
						break;
					order[j] = order[j - 1];
				}
				order[j] = i;
			}
		for (k = 0; k < ne && it[order[k]].a <= t; k++) {
			const struct r_item *e = &it[order[k]];

			if (e->type == R_ASSIGN)
				holder = e->id;
			else if (holder >= 0 && (e->id < 0 || e->id == holder))
				holder = -1;
		}
		if (holder >= 0) {
			bool closed = false;

			for (; k < ne && !closed; k++) {
				const struct r_item *e = &it[order[k]];

				closed = e->type == R_ASSIGN || e->id < 0 || e->id == holder;
			}
			if (!closed && t > w) {
				pending = true;
				break;
			}
			found = holder;
		}
		if (found >= 0) {
			/* only i2 names a pod: two identities are one pod only if equal */
			if (claim >= 0 && claim != found)
				break;
			if (claim >= 0)
				return (struct r_ans){ OWN_FOUND, FLOW_SOURCE_HEARTBEAT, claim,
						       false };
			return (struct r_ans){ OWN_FOUND, src, found, false };
		}
		if (t > w)
			pending = true;
	}
	return (struct r_ans){ pending || claim >= 0 ? OWN_WAIT : OWN_NONE, 0, -1, false };
}

static void r_apply(struct own_store *st, const uint8_t ips[][16], const struct r_item *it)
{
	const struct flow_identity *id = it->id >= 0 ? &r_ident[it->id] : NULL;
	int err;

	if (it->type == R_SPAN)
		err = own_span(st, (enum flow_source)it->src, ips[it->ip], id, it->a, it->b);
	else if (it->type == R_ASSIGN)
		err = own_assign(st, (enum flow_source)it->src, ips[it->ip], id, it->a);
	else
		err = own_unassign(st, (enum flow_source)it->src, ips[it->ip], id, it->a);
	assert_int_equal(err, 0);
}

static int64_t rnd(int64_t n)
{
	return (int64_t)(((uint64_t)rand() << 16 ^ (uint64_t)rand()) % (uint64_t)n);
}

/*
 * Random evidence.  `ties`: allow two ASSIGNs of different owners at one
 * instant, whose order only the store decides (the model then cannot).
 */
static int r_generate(struct r_item *it, bool ties)
{
	int n = 0, want = 5 + (int)rnd(R_ITEMS - 10);

	while (n < want) {
		struct r_item x = { 0 };
		int r = (int)rnd(10);
		bool clash = false;

		x.ip = (int)rnd(R_IPS);
		x.id = (int)rnd(R_IDS);
		x.a = rnd(R_TMAX);
		if (r < 4) {
			x.type = R_SPAN;
			x.src = r < 3 ? FLOW_SOURCE_HEARTBEAT
				      : FLOW_SOURCE_HEARTBEAT +
					    (int)rnd(FLOW_SOURCE__COUNT - FLOW_SOURCE_HEARTBEAT);
			x.b = x.a + rnd(15);
		} else {
			x.type = r < 7 ? R_ASSIGN : R_UNASSIGN;
			x.src = FLOW_SOURCE_KUBE + (int)rnd(FLOW_SOURCE__COUNT - FLOW_SOURCE_KUBE);
			if (rnd(8) == 0)
				x.src = FLOW_SOURCE_HEARTBEAT; /* allowed, if odd */
			if (x.type == R_UNASSIGN && rnd(2))
				x.id = -1;
		}
		for (int i = 0; i < n && !ties && x.type == R_ASSIGN; i++)
			clash |= it[i].type == R_ASSIGN && it[i].src == x.src && it[i].ip == x.ip &&
				 it[i].a == x.a && it[i].id != x.id;
		if (clash)
			continue;
		it[n++] = x;
		if (rnd(6) == 0 && n < want) /* the same evidence twice */
			it[n++] = x;
	}
	return n;
}

static void r_shuffle(struct r_item *it, int n)
{
	for (int i = n - 1; i > 0; i--) {
		int j = (int)rnd(i + 1);
		struct r_item t = it[i];

		it[i] = it[j];
		it[j] = t;
	}
}

static void r_ips(uint8_t ips[R_IPS][16])
{
	v4(ips[0], 10, 9, 0, 1);
	v6(ips[1], "2001:db8::a09:1"); /* the same last 4 bytes */
	v4(ips[2], 10, 9, 0, 2);
}

static void r_compare(const struct own_store *st, const uint8_t ips[][16], const struct r_item *it,
		      int n, const int64_t wm[], int64_t floor, int64_t from, int round)
{
	for (int ip = 0; ip < R_IPS; ip++) {
		for (int64_t t = from; t <= R_TMAX + 20; t++) {
			struct r_ans want = r_lookup(it, n, ip, t, wm, floor);
			struct own_answer got;
			enum own_verdict v = own_lookup(st, ips[ip], t, &got);
			bool same = v == want.v && got.conflict == want.conflict;

			if (same && v == OWN_FOUND)
				same = (int)got.source == want.src &&
				       !strcmp(got.id->app, r_ident[want.id].app);
			if (same && want.conflict)
				same = (int)got.source == want.src;
			if (!same) {
				print_error("round %d ip %d t %" PRId64 ": model %s src %d id %d "
					    "conflict %d, store %s src %d conflict %d\n",
					    round, ip, t, verdict_name(want.v), want.src, want.id,
					    want.conflict, verdict_name(v), got.source,
					    got.conflict);
				for (int i = 0; i < n; i++)
					print_error(
					    "  %s src %d ip %d id %d %" PRId64 " %" PRId64 "\n",
					    it[i].type == R_SPAN     ? "span"
					    : it[i].type == R_ASSIGN ? "assign"
								     : "unassign",
					    it[i].src, it[i].ip, it[i].id, it[i].a, it[i].b);
				fail();
			}
		}
	}
}

static void test_random_crosscheck(void **state)
{
	uint8_t ips[R_IPS][16];

	(void)state;
	srand(20240601);
	r_ips(ips);
	for (int round = 0; round < 3000; round++) {
		struct own_store *st = store(0);
		struct r_item it[R_ITEMS];
		int64_t wm[FLOW_SOURCE__COUNT], floor;
		int n = r_generate(it, false);

		r_shuffle(it, n);
		for (int i = 0; i < n; i++)
			r_apply(st, ips, &it[i]);
		for (int s = FLOW_SOURCE_HEARTBEAT; s < FLOW_SOURCE__COUNT; s++) {
			wm[s] = rnd(2) ? INF : rnd(R_TMAX + 10);
			own_set_watermark(st, (enum flow_source)s, wm[s]);
		}
		floor = rnd(4) == 0 ? INT64_MIN : rnd(3) == 0 ? INF : rnd(R_TMAX + 10);
		own_set_heartbeat_floor(st, floor);
		r_compare(st, ips, it, n, wm, floor, -1, round);
		own_store__free(st);
	}
}

static void concat_ranges(const struct own_store *st, const uint8_t ips[][16], char *out,
			  size_t len)
{
	size_t at = 0;

	for (int ip = 0; ip < R_IPS; ip++)
		at += (size_t)snprintf(out + at, len - at, "%d:%s;", ip, ranges(st, ips[ip]));
	assert_true(at < len);
}

/*
 * Arrival order never matters (same-instant ASSIGNs included), and
 * own_prune(P) changes no answer at t >= P and keeps exactly the ranges that
 * end after P.
 */
static void test_random_order_and_prune(void **state)
{
	static char one[8192], two[8192], kept[8192];
	uint8_t ips[R_IPS][16];

	(void)state;
	srand(4242);
	r_ips(ips);
	for (int round = 0; round < 2000; round++) {
		struct own_store *a = store(0), *b = store(0);
		struct r_item it[R_ITEMS];
		int64_t wm[FLOW_SOURCE__COUNT] = { INF, INF, INF, INF }, p = rnd(R_TMAX + 10);
		int n = r_generate(it, round % 2);
		size_t at = 0;

		r_shuffle(it, n);
		for (int i = 0; i < n; i++)
			r_apply(a, ips, &it[i]);
		r_shuffle(it, n);
		for (int i = 0; i < n; i++)
			r_apply(b, ips, &it[i]);
		concat_ranges(a, ips, one, sizeof(one));
		concat_ranges(b, ips, two, sizeof(two));
		assert_string_equal(one, two);
		assert_int_equal(stats(a).ranges, stats(b).ranges);
		assert_int_equal(stats(a).identities, stats(b).identities);
		/* not duplicates: a span inside a later, longer one changed something */
		for (int ip = 0; ip < R_IPS; ip++) {
			for (int64_t t = -1; t <= R_TMAX + 20; t++) {
				struct own_answer x, y;

				assert_int_equal(own_lookup(a, ips[ip], t, &x),
						 own_lookup(b, ips[ip], t, &y));
				assert_int_equal(!x.id, !y.id);
				if (x.id)
					assert_string_equal(x.id->app, y.id->app);
				assert_int_equal(x.source, y.source);
				assert_int_equal(x.conflict, y.conflict);
			}
		}
		if (round % 2)
			goto next; /* the model cannot order same-instant owners */

		/* what should survive own_prune(p): the ranges ending after p */
		for (int ip = 0; ip < R_IPS; ip++) {
			const char *r = ranges(a, ips[ip]);
			char buf[8192], *tok, *save = NULL;
			bool first = true;

			snprintf(buf, sizeof(buf), "%s", r);
			at += (size_t)snprintf(kept + at, sizeof(kept) - at, "%d:", ip);
			for (tok = strtok_r(buf, " ", &save); tok;
			     tok = strtok_r(NULL, " ", &save)) {
				const char *comma = strchr(tok, ',');
				int64_t to = !strncmp(comma + 1, "inf", 3) ? INF : atoll(comma + 1);

				if (to <= p)
					continue;
				at += (size_t)snprintf(kept + at, sizeof(kept) - at, "%s%s",
						       first ? "" : " ", tok);
				first = false;
			}
			at += (size_t)snprintf(kept + at, sizeof(kept) - at, ";");
		}
		own_prune(a, p);
		concat_ranges(a, ips, one, sizeof(one));
		assert_string_equal(one, kept);
		r_compare(a, ips, it, n, wm, INT64_MIN, p, round);
	next:
		own_store__free(a);
		own_store__free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_arguments),
		cmocka_unit_test(test_span_merge),
		cmocka_unit_test(test_span_conflict),
		cmocka_unit_test(test_range_edges),
		cmocka_unit_test(test_assign_unassign),
		cmocka_unit_test(test_trust_order),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_unassign_identity),
		cmocka_unit_test(test_same_millisecond),
		cmocka_unit_test(test_address_kinds_apart),
		cmocka_unit_test(test_watermarks),
		cmocka_unit_test(test_heartbeat_watermark),
		cmocka_unit_test(test_unsettled_claims),
		cmocka_unit_test(test_prune),
		cmocka_unit_test(test_evict_earliest_first),
		cmocka_unit_test(test_evict_unassign_with_its_assign),
		cmocka_unit_test(test_evict_batch),
		cmocka_unit_test(test_interning),
		cmocka_unit_test(test_long_strings_cut),
		cmocka_unit_test(test_stats_script),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_table_growth),
		cmocka_unit_test(test_random_crosscheck),
		cmocka_unit_test(test_random_order_and_prune),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
