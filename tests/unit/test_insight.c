// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for the insight view: buckets, rollover, keys, edges and every API answer. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "insight.h"
#include "jsonw.h"
#include "metrics.h"

#define RES 60000ull
#define NB  10
/* a minute boundary: the window of NOW is [T0, T0 + 10 min) */
#define T0  1796630400000ull
#define NOW (T0 + 9 * RES + RES / 2)

static struct insight *view(uint32_t max_edges)
{
	struct insight_opts o = { .window_ms = NB * RES,
				  .resolution_ms = RES,
				  .max_edges = max_edges };
	struct insight *in = insight__new(&o);

	assert_non_null(in);
	return in;
}

/* A caller's record: local called remote on `port`. */
static struct insight_flow out(uint64_t t, const char *lns, const char *lapp, const char *rns,
			       const char *rapp, uint16_t port)
{
	struct insight_flow f = {
		.end_ms = t,
		.flows = 1,
		.closed = 1,
		.bytes_sent = 100,
		.bytes_received = 1000,
		.segs_sent = 10,
		.local_port = 40000,
		.remote_port = port,
		.direction = FLOW_DIRECTION_OUT,
	};

	f.local.namespace = lns;
	f.local.app = lapp;
	f.remote.namespace = rns;
	f.remote.app = rapp;
	return f;
}

/* A callee's record: remote called local on local's `port` from an ephemeral port. */
static struct insight_flow in_(uint64_t t, const char *lns, const char *lapp, const char *rns,
			       const char *rapp, uint16_t port)
{
	struct insight_flow f = out(t, lns, lapp, rns, rapp, 0);

	f.direction = FLOW_DIRECTION_IN;
	f.local_port = port;
	f.remote_port = 40001;
	return f;
}

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

static void add1(struct insight *in, struct insight_flow f, uint64_t now)
{
	insight__add(in, &f, 1, now);
}

/* The query string "a=1&b=2" as the API's argument look-up. */
struct args {
	char buf[2048];
	const char *name[16];
	const char *val[16];
	int n;
};

static const char *lookup(void *ctx, const char *name)
{
	struct args *a = ctx;

	for (int i = 0; i < a->n; i++)
		if (strcmp(a->name[i], name) == 0)
			return a->val[i];
	return NULL;
}

/* Asks the view; the answer must be valid JSON (a string for a 400).  Caller frees. */
static json_t *query(struct insight *in, const char *path, const char *qs, uint64_t now,
		     int *status)
{
	struct jsonw *jw = jsonw__new();
	struct args a = { .n = 0 };
	json_error_t jerr;
	const char *data;
	char *copy, *p, *tok;
	size_t len;
	json_t *j;

	assert_non_null(jw);
	snprintf(a.buf, sizeof(a.buf), "%s", qs ? qs : "");
	for (p = a.buf; (tok = strsep(&p, "&")) != NULL;) {
		char *eq = strchr(tok, '=');

		if (!*tok)
			continue;
		assert_non_null(eq);
		*eq = '\0';
		a.name[a.n] = tok;
		a.val[a.n++] = eq + 1;
	}
	*status = insight__query(in, path, lookup, &a, jw, now);
	assert_int_equal(jsonw__error(jw), 0);
	data = jsonw__data(jw, &len);
	copy = strndup(data, len);
	assert_non_null(copy);
	j = json_loads(copy, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!j && *status != 404) {
		print_error("invalid JSON from %s?%s: %s (%s)\n", path, qs ? qs : "", copy,
			    jerr.text);
		fail();
	}
	free(copy);
	jsonw__free(jw);
	return j;
}

/* A 200 answer. */
static json_t *get(struct insight *in, const char *path, const char *qs, uint64_t now)
{
	int status;
	json_t *j = query(in, path, qs, now, &status);

	assert_int_equal(status, 200);
	assert_true(json_is_object(j));
	return j;
}

/* A 400 answer whose message starts with the parameter's name. */
static void expect_400(struct insight *in, const char *path, const char *qs, const char *param)
{
	int status;
	json_t *j = query(in, path, qs, NOW, &status);

	assert_int_equal(status, 400);
	assert_true(json_is_string(j));
	assert_int_equal(strncmp(json_string_value(j), param, strlen(param)), 0);
	assert_int_equal(json_string_value(j)[strlen(param)], ':');
	json_decref(j);
}

static json_t *jget(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	if (!v)
		print_error("no \"%s\"\n", k);
	assert_non_null(v);
	return v;
}

static long long ju(json_t *o, const char *k)
{
	json_t *v = jget(o, k);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const char *js(json_t *o, const char *k)
{
	json_t *v = jget(o, k);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

static bool jnull(json_t *o, const char *k)
{
	return json_is_null(jget(o, k));
}

static bool jtrue(json_t *o, const char *k)
{
	json_t *v = jget(o, k);

	assert_true(json_is_boolean(v));
	return json_is_true(v);
}

static json_t *jat(json_t *o, const char *k, size_t i)
{
	json_t *a = jget(o, k);

	assert_true(json_is_array(a));
	assert_true(i < json_array_size(a));
	return json_array_get(a, i);
}

static size_t jlen(json_t *o, const char *k)
{
	json_t *a = jget(o, k);

	assert_true(json_is_array(a));
	return json_array_size(a);
}

/* The API's value for a sample of us microseconds, from the definition (not the view's table). */
static long long rtt_bound(uint32_t us)
{
	for (int k = 0; k <= 40; k++) {
		double b = (double)(8ull << (k / 2)) * (k % 2 ? M_SQRT2 : 1.0);

		if ((double)us <= b)
			return (long long)(b + 0.5);
	}
	return -1; /* +Inf: null */
}

static void test_error_classes(void **state)
{
	(void)state;
	assert_int_equal(insight_error_from_errno(0), INSIGHT_ERROR_NONE);
	assert_int_equal(insight_error_from_errno(ECONNREFUSED), INSIGHT_ERROR_REFUSED);
	assert_int_equal(insight_error_from_errno(-ECONNREFUSED), INSIGHT_ERROR_REFUSED);
	assert_int_equal(insight_error_from_errno(ETIMEDOUT), INSIGHT_ERROR_TIMEOUT);
	assert_int_equal(insight_error_from_errno(EHOSTUNREACH), INSIGHT_ERROR_TIMEOUT);
	assert_int_equal(insight_error_from_errno(ENETUNREACH), INSIGHT_ERROR_TIMEOUT);
	assert_int_equal(insight_error_from_errno(ECONNRESET), INSIGHT_ERROR_RESET);
	assert_int_equal(insight_error_from_errno(ECONNABORTED), INSIGHT_ERROR_RESET);
	assert_int_equal(insight_error_from_errno(EPIPE), INSIGHT_ERROR_RESET);
	assert_int_equal(insight_error_from_errno(EPROTO), INSIGHT_ERROR_OTHER);
	assert_int_equal(insight_error_from_name(NULL), INSIGHT_ERROR_NONE);
	assert_int_equal(insight_error_from_name(""), INSIGHT_ERROR_NONE);
	assert_int_equal(insight_error_from_name("ECONNREFUSED"), INSIGHT_ERROR_REFUSED);
	assert_int_equal(insight_error_from_name("ENETUNREACH"), INSIGHT_ERROR_TIMEOUT);
	assert_int_equal(insight_error_from_name("EPIPE"), INSIGHT_ERROR_RESET);
	assert_int_equal(insight_error_from_name("E999"), INSIGHT_ERROR_OTHER);
	assert_string_equal(insight_error_name(INSIGHT_ERROR_REFUSED), "refused");
	assert_string_equal(insight_error_name(INSIGHT_ERROR_TIMEOUT), "timeout");
	assert_string_equal(insight_error_name(INSIGHT_ERROR_RESET), "reset");
	assert_string_equal(insight_error_name(INSIGHT_ERROR_OTHER), "other");
	assert_string_equal(insight_error_name(INSIGHT_ERROR_NONE), "");
}

static void test_options(void **state)
{
	struct insight_opts bad_multiple = { .window_ms = 90000, .resolution_ms = 60000 };
	struct insight_opts too_many = { .window_ms = 1441 * 1000ull, .resolution_ms = 1000 };
	struct insight *in;
	json_t *j, *w;

	(void)state;
	errno = 0;
	assert_null(insight__new(&bad_multiple));
	assert_int_equal(errno, EINVAL);
	assert_null(insight__new(&too_many));
	assert_int_equal(errno, EINVAL);
	in = insight__new(NULL); /* the defaults: 1 h at 1 min */
	assert_non_null(in);
	j = get(in, "/api/v1/status", NULL, NOW);
	w = jget(j, "window");
	assert_int_equal(ju(w, "resolution_ms"), 60000);
	assert_int_equal(ju(w, "end_ms") - ju(w, "start_ms"), 3600 * 1000);
	assert_int_equal(ju(j, "max_edges"), INSIGHT_DEFAULT_MAX_EDGES);
	json_decref(j);
	insight__free(in);
	insight__free(NULL);
}

static void test_buckets_and_rollover(void **state)
{
	struct insight *in = view(100);
	json_t *j, *s;

	(void)state;
	add1(in, out(T0 + 30000, "shop", "web", "shop", "db", 5432), NOW);
	add1(in, out(T0 + 5 * RES + 1, "shop", "web", "shop", "db", 5432), NOW);
	j = get(in, "/api/v1/path", "from=shop/web&to=shop/db", NOW);
	assert_int_equal(ju(jget(j, "window"), "start_ms"), T0);
	assert_int_equal(ju(jget(j, "window"), "end_ms"), T0 + NB * RES);
	assert_int_equal(jlen(j, "series"), NB);
	for (int b = 0; b < NB; b++) {
		s = jat(j, "series", b);
		assert_int_equal(ju(s, "t"), T0 + b * RES);
		assert_int_equal(ju(s, "flows"), b == 0 || b == 5 ? 1 : 0);
	}
	assert_int_equal(ju(j, "flows"), 2);
	assert_int_equal(ju(j, "first_seen_ms"), T0 + 30000);
	assert_int_equal(ju(j, "last_seen_ms"), T0 + 5 * RES + 1);
	json_decref(j);

	/* three minutes on: bucket 0 has left, bucket 5 is now the third */
	j = get(in, "/api/v1/path", "from=shop/web&to=shop/db", NOW + 3 * RES);
	assert_int_equal(ju(jget(j, "window"), "start_ms"), T0 + 3 * RES);
	assert_int_equal(jlen(j, "series"), NB);
	for (int b = 0; b < NB; b++)
		assert_int_equal(ju(jat(j, "series", b), "flows"), b == 2 ? 1 : 0);
	assert_int_equal(ju(j, "flows"), 1);
	assert_int_equal(ju(j, "first_seen_ms"), T0 + 5 * RES + 1);
	json_decref(j);
	j = get(in, "/api/v1/status", NULL, NOW + 3 * RES);
	assert_int_equal(ju(j, "edges"), 1);
	assert_int_equal(ju(j, "expired"), 0);
	json_decref(j);

	/* six minutes on: nothing of the key is left, it is freed */
	j = get(in, "/api/v1/status", NULL, NOW + 6 * RES);
	assert_int_equal(ju(j, "edges"), 0);
	assert_int_equal(ju(j, "expired"), 1);
	assert_int_equal(ju(j, "records"), 2);
	json_decref(j);
	j = get(in, "/api/v1/path", "from=shop/web&to=shop/db", NOW + 6 * RES);
	assert_string_equal(js(j, "status"), "never_seen");
	json_decref(j);

	/* the key comes back as a new one; a clock going back moves nothing */
	add1(in, out(NOW + 6 * RES, "shop", "web", "shop", "db", 5432), NOW + 6 * RES);
	j = get(in, "/api/v1/path", "from=shop/web&to=shop/db", NOW);
	assert_int_equal(ju(jget(j, "window"), "start_ms"), T0 + 6 * RES);
	assert_int_equal(ju(j, "flows"), 1);
	assert_int_equal(ju(jat(j, "series", NB - 1), "flows"), 1);
	json_decref(j);
	insight__free(in);
}

static void test_too_old_and_future(void **state)
{
	struct insight *in = view(100);
	json_t *j;

	(void)state;
	add1(in, out(T0 - 1, "shop", "web", "shop", "db", 5432), NOW);
	add1(in, out(NOW + 3600 * 1000, "shop", "web", "shop", "db", 5432), NOW);
	j = get(in, "/api/v1/status", NULL, NOW);
	assert_int_equal(ju(j, "too_old"), 1);
	assert_int_equal(ju(j, "records"), 1);
	assert_int_equal(ju(j, "edges"), 1);
	json_decref(j);
	j = get(in, "/api/v1/path", "from=web&to=db", NOW);
	assert_int_equal(ju(jat(j, "series", NB - 1), "flows"), 1);
	assert_int_equal(ju(j, "flows"), 1);
	assert_int_equal(ju(j, "last_seen_ms"), NOW);
	json_decref(j);
	insight__free(in);
}

static void test_overflow(void **state)
{
	struct insight *in = view(2);
	struct insight_flow f;
	json_t *j, *e = NULL;

	(void)state;
	add1(in, out(NOW, "shop", "web", "shop", "a", 80), NOW);
	add1(in, out(NOW, "shop", "web", "shop", "b", 80), NOW);
	add1(in, out(NOW, "shop", "web", "shop", "c", 80), NOW);
	add1(in, out(NOW, "shop", "web", "shop", "d", 80), NOW);
	f = out(NOW, "shop", "web", "shop", "a", 80);
	f.bytes_sent = 200; /* a: 2300 bytes, before the overflow edge's 2200 */
	add1(in, f, NOW);
	j = get(in, "/api/v1/status", NULL, NOW);
	assert_int_equal(ju(j, "records"), 3);
	assert_int_equal(ju(j, "overflow"), 2);
	assert_int_equal(ju(j, "edges"), 3);
	assert_int_equal(ju(j, "max_edges"), 2);
	json_decref(j);
	j = get(in, "/api/v1/edges", NULL, NOW);
	assert_int_equal(ju(j, "total"), 3);
	for (size_t i = 0; i < jlen(j, "edges"); i++)
		if (strcmp(js(jat(j, "edges", i), "from"), "(overflow)") == 0)
			e = jat(j, "edges", i);
	assert_non_null(e);
	assert_string_equal(js(e, "to"), "(overflow)");
	assert_string_equal(js(e, "to_kind"), "overflow");
	assert_int_equal(ju(e, "flows"), 2);
	assert_int_equal(ju(e, "bytes_sent"), 200);
	/* shop/web -> shop/a took two */
	assert_string_equal(js(jat(j, "edges", 0), "to"), "shop/a");
	assert_int_equal(ju(jat(j, "edges", 0), "flows"), 2);
	json_decref(j);
	insight__free(in);
}

static void test_caller_preferred(void **state)
{
	struct insight *in = view(100);
	struct insight_flow c = out(NOW, "shop", "web", "shop", "api", 8080);
	struct insight_flow s = in_(NOW, "shop", "api", "shop", "web", 8080);
	json_t *j, *e;

	(void)state;
	s.bytes_sent = 999;
	s.bytes_received = 99;
	s.flows = 7;
	s.closed = 7;
	add1(in, c, NOW);
	add1(in, s, NOW);
	j = get(in, "/api/v1/edges", NULL, NOW);
	assert_int_equal(ju(j, "total"), 1);
	e = jat(j, "edges", 0);
	assert_string_equal(js(e, "from"), "shop/web");
	assert_string_equal(js(e, "to"), "shop/api");
	assert_string_equal(js(e, "reported_by"), "caller");
	assert_int_equal(ju(e, "port"), 8080);
	assert_int_equal(ju(e, "flows"), 1);
	assert_int_equal(ju(e, "bytes_sent"), 100);
	assert_int_equal(ju(e, "bytes_received"), 1000);
	json_decref(j);

	/* only the callee reported web2 -> api: its figures, the other way round */
	s = in_(NOW, "shop", "api", "shop", "web2", 8080);
	s.bytes_sent = 999;
	s.bytes_received = 99;
	add1(in, s, NOW);
	j = get(in, "/api/v1/dependencies", "app=shop/web2", NOW);
	assert_int_equal(jlen(j, "downstream"), 1);
	e = jat(j, "downstream", 0);
	assert_string_equal(js(e, "from"), "shop/web2");
	assert_string_equal(js(e, "to"), "shop/api");
	assert_string_equal(js(e, "reported_by"), "callee");
	assert_int_equal(ju(e, "port"), 8080);
	assert_int_equal(ju(e, "bytes_sent"), 99);
	assert_int_equal(ju(e, "bytes_received"), 999);
	json_decref(j);
	insight__free(in);
}

/*
 * A connection open over three intervals is in three records (flows 1 each,
 * closed 1 in the last): one connection, its bytes and RTT samples all three.
 */
static void test_connection_counted_once(void **state)
{
	struct insight *in = view(100);
	struct insight_flow f = out(NOW - RES, "shop", "web", "shop", "db", 5432);
	json_t *j, *e;

	(void)state;
	f.closed = 0;
	f.srtt_us = 100;
	add1(in, f, NOW);
	f.end_ms = NOW - RES / 2;
	add1(in, f, NOW);
	f.end_ms = NOW;
	f.closed = 1;
	add1(in, f, NOW);
	j = get(in, "/api/v1/edges", NULL, NOW);
	e = jat(j, "edges", 0);
	assert_int_equal(ju(e, "flows"), 1);
	assert_int_equal(ju(e, "failed"), 0);
	assert_int_equal(ju(e, "bytes_sent"), 300);
	assert_int_equal(ju(e, "bytes_received"), 3000);
	assert_int_equal(ju(jget(e, "rtt_us"), "samples"), 3);
	json_decref(j);
	/* still open at the end of the window: bytes, no connection yet */
	f = out(NOW, "shop", "api", "shop", "db", 5432);
	f.closed = 0;
	add1(in, f, NOW);
	j = get(in, "/api/v1/path", "from=shop/api&to=shop/db", NOW);
	assert_string_equal(js(j, "status"), "ok");
	assert_int_equal(ju(j, "flows"), 0);
	json_decref(j);
	insight__free(in);
}

static void test_address_and_fallbacks(void **state)
{
	struct insight *in = view(100);
	struct insight_flow f = out(NOW, "shop", "web", NULL, NULL, 443);
	json_t *j, *e;

	(void)state;
	v4(f.remote_addr, 10, 0, 0, 7);
	add1(in, f, NOW);
	f = out(NOW, "shop", "web", NULL, NULL, 443);
	assert_int_equal(inet_pton(AF_INET6, "fd00::7", f.remote_addr), 1);
	f.bytes_sent = 1;
	add1(in, f, NOW);
	/* no app: the workload, then the pod */
	f = out(NOW, "shop", NULL, "pay", NULL, 9000);
	f.local.pod = "web-7d9f";
	f.remote.workload = "gateway";
	f.remote.pod = "gateway-1";
	f.bytes_sent = 0;
	add1(in, f, NOW);

	j = get(in, "/api/v1/edges", NULL, NOW);
	assert_int_equal(ju(j, "total"), 3);
	e = jat(j, "edges", 0);
	assert_string_equal(js(e, "to"), "10.0.0.7");
	assert_string_equal(js(e, "to_kind"), "address");
	assert_string_equal(js(e, "to_namespace"), "");
	assert_string_equal(js(e, "to_app"), "10.0.0.7");
	assert_false(jtrue(e, "cross_namespace"));
	e = jat(j, "edges", 1);
	assert_string_equal(js(e, "to"), "fd00::7");
	e = jat(j, "edges", 2);
	assert_string_equal(js(e, "from"), "shop/web-7d9f");
	assert_string_equal(js(e, "from_app"), "web-7d9f");
	assert_string_equal(js(e, "to"), "pay/gateway");
	assert_string_equal(js(e, "to_namespace"), "pay");
	assert_string_equal(js(e, "to_kind"), "app");
	assert_true(jtrue(e, "cross_namespace"));
	json_decref(j);
	j = get(in, "/api/v1/dependencies", "app=10.0.0.7", NOW);
	assert_int_equal(jlen(j, "upstream"), 1);
	assert_string_equal(json_string_value(jat(j, "matched", 0)), "10.0.0.7");
	json_decref(j);
	insight__free(in);
}

/* web -> api twice (one refused), web -> db, api -> db, api -> 10.0.0.7 */
static struct insight *shop(void)
{
	struct insight *in = view(100);
	struct insight_flow f = out(NOW, "shop", "web", "shop", "api", 8080);

	add1(in, f, NOW);
	f.failed = 1;
	f.error = INSIGHT_ERROR_REFUSED;
	f.bytes_sent = f.bytes_received = 0;
	add1(in, f, NOW);
	f = out(NOW, "shop", "web", "shop", "db", 5432);
	f.bytes_received = 5000;
	add1(in, f, NOW);
	add1(in, out(NOW, "shop", "api", "shop", "db", 5432), NOW);
	f = out(NOW, "shop", "api", NULL, NULL, 443);
	v4(f.remote_addr, 10, 0, 0, 7);
	f.bytes_received = 0;
	add1(in, f, NOW);
	return in;
}

static void test_apps(void **state)
{
	struct insight *in = shop();
	json_t *j, *a;

	(void)state;
	j = get(in, "/api/v1/apps", NULL, NOW);
	assert_int_equal(jlen(j, "apps"), 4);
	assert_false(jtrue(j, "truncated"));
	assert_int_equal(ju(j, "total"), 4);
	a = jat(j, "apps", 0);
	assert_string_equal(js(a, "id"), "10.0.0.7");
	assert_string_equal(js(a, "kind"), "address");
	assert_string_equal(js(a, "namespace"), "");
	assert_int_equal(ju(a, "calls_in"), 1);
	assert_int_equal(ju(a, "callers"), 1);
	assert_int_equal(ju(a, "bytes_in"), 100);
	a = jat(j, "apps", 1);
	assert_string_equal(js(a, "id"), "shop/api");
	assert_string_equal(js(a, "namespace"), "shop");
	assert_string_equal(js(a, "app"), "api");
	assert_string_equal(js(a, "kind"), "app");
	assert_int_equal(ju(a, "calls_out"), 2);
	assert_int_equal(ju(a, "calls_in"), 2);
	assert_int_equal(ju(a, "callees"), 2);
	assert_int_equal(ju(a, "callers"), 1);
	assert_int_equal(ju(a, "bytes_out"), 1100 + 100);
	assert_int_equal(ju(a, "bytes_in"), 1100);
	assert_int_equal(ju(a, "failed_out"), 0);
	assert_int_equal(ju(a, "failed_in"), 1);
	a = jat(j, "apps", 2);
	assert_string_equal(js(a, "id"), "shop/db");
	assert_int_equal(ju(a, "calls_out"), 0);
	assert_int_equal(ju(a, "calls_in"), 2);
	assert_int_equal(ju(a, "callers"), 2);
	assert_int_equal(ju(a, "callees"), 0);
	assert_int_equal(ju(a, "bytes_in"), 5100 + 1100);
	a = jat(j, "apps", 3);
	assert_string_equal(js(a, "id"), "shop/web");
	assert_int_equal(ju(a, "calls_out"), 3);
	assert_int_equal(ju(a, "callees"), 2);
	assert_int_equal(ju(a, "callers"), 0);
	assert_int_equal(ju(a, "failed_out"), 1);
	assert_int_equal(ju(a, "bytes_out"), 1100 + 5100);
	json_decref(j);
	j = get(in, "/api/v1/apps", "limit=2", NOW);
	assert_int_equal(jlen(j, "apps"), 2);
	assert_true(jtrue(j, "truncated"));
	assert_int_equal(ju(j, "total"), 4);
	json_decref(j);
	insight__free(in);
}

static void test_dependencies(void **state)
{
	struct insight *in = shop();
	json_t *j, *e;

	(void)state;
	add1(in, out(NOW, "other", "api", "other", "cache", 6379), NOW);
	j = get(in, "/api/v1/dependencies", "app=shop/api", NOW);
	assert_string_equal(js(j, "app"), "shop/api");
	assert_int_equal(jlen(j, "matched"), 1);
	assert_string_equal(json_string_value(jat(j, "matched", 0)), "shop/api");
	assert_int_equal(jlen(j, "downstream"), 2);
	/* by bytes: db (1100) before the address (100) */
	assert_string_equal(js(jat(j, "downstream", 0), "to"), "shop/db");
	assert_string_equal(js(jat(j, "downstream", 1), "to"), "10.0.0.7");
	assert_int_equal(jlen(j, "upstream"), 1);
	e = jat(j, "upstream", 0);
	assert_string_equal(js(e, "from"), "shop/web");
	assert_int_equal(ju(e, "flows"), 2);
	assert_int_equal(ju(e, "failed"), 1);
	assert_int_equal(ju(jget(e, "failures"), "refused"), 1);
	assert_true(fabs(json_real_value(jget(e, "failure_ratio")) - 0.5) < 1e-9);
	assert_false(jtrue(j, "truncated"));
	assert_int_equal(ju(j, "downstream_total"), 2);
	assert_int_equal(ju(j, "upstream_total"), 1);
	json_decref(j);

	/* a bare name: every namespace */
	j = get(in, "/api/v1/dependencies", "app=api&limit=1", NOW);
	assert_int_equal(jlen(j, "matched"), 2);
	assert_string_equal(json_string_value(jat(j, "matched", 0)), "other/api");
	assert_string_equal(json_string_value(jat(j, "matched", 1)), "shop/api");
	assert_int_equal(jlen(j, "downstream"), 1);
	assert_int_equal(ju(j, "downstream_total"), 3);
	assert_true(jtrue(j, "truncated"));
	json_decref(j);

	j = get(in, "/api/v1/dependencies", "app=nobody", NOW);
	assert_int_equal(jlen(j, "matched"), 0);
	assert_int_equal(jlen(j, "downstream"), 0);
	assert_int_equal(jlen(j, "upstream"), 0);
	json_decref(j);
	insight__free(in);
}

static void test_edges_filters(void **state)
{
	struct insight *in = view(100);
	struct insight_flow f;
	json_t *j;
	char qs[64];

	(void)state;
	f = out(T0 + RES, "shop", "web", "shop", "api", 8080);
	f.bytes_sent = 3000;
	add1(in, f, NOW);
	f = out(T0 + 8 * RES, "shop", "web", "pay", "gw", 443);
	f.bytes_sent = 2000;
	add1(in, f, NOW);
	f = out(T0 + 2 * RES, "pay", "gw", NULL, NULL, 443);
	v4(f.remote_addr, 192, 0, 2, 1);
	add1(in, f, NOW);

	j = get(in, "/api/v1/edges", NULL, NOW);
	assert_int_equal(ju(j, "total"), 3);
	assert_string_equal(js(jat(j, "edges", 0), "to"), "shop/api");
	assert_string_equal(js(jat(j, "edges", 1), "to"), "pay/gw");
	assert_string_equal(js(jat(j, "edges", 2), "to"), "192.0.2.1");
	json_decref(j);
	j = get(in, "/api/v1/edges", "namespace=pay", NOW);
	assert_int_equal(ju(j, "total"), 2);
	assert_string_equal(js(jat(j, "edges", 0), "to"), "pay/gw");
	assert_string_equal(js(jat(j, "edges", 1), "from"), "pay/gw");
	json_decref(j);
	j = get(in, "/api/v1/edges", "cross_namespace=true", NOW);
	assert_int_equal(ju(j, "total"), 1);
	assert_string_equal(js(jat(j, "edges", 0), "to"), "pay/gw");
	json_decref(j);
	j = get(in, "/api/v1/edges", "cross_namespace=false", NOW);
	assert_int_equal(ju(j, "total"), 2);
	json_decref(j);
	snprintf(qs, sizeof(qs), "since=%llu", (unsigned long long)(T0 + 2 * RES));
	j = get(in, "/api/v1/edges", qs, NOW);
	assert_int_equal(ju(j, "total"), 2);
	assert_int_equal(ju(j, "since_ms"), T0 + 2 * RES);
	json_decref(j);
	j = get(in, "/api/v1/edges", "since=2m", NOW);
	assert_int_equal(ju(j, "total"), 1);
	assert_int_equal(ju(j, "since_ms"), NOW - 2 * RES);
	assert_string_equal(js(jat(j, "edges", 0), "to"), "pay/gw");
	json_decref(j);
	/* clamped to the window */
	j = get(in, "/api/v1/edges", "since=5h", NOW);
	assert_int_equal(ju(j, "since_ms"), T0);
	assert_int_equal(ju(j, "total"), 3);
	json_decref(j);
	j = get(in, "/api/v1/edges", "since=15", NOW);
	assert_int_equal(ju(j, "since_ms"), T0);
	json_decref(j);
	j = get(in, "/api/v1/edges", "limit=2", NOW);
	assert_int_equal(jlen(j, "edges"), 2);
	assert_true(jtrue(j, "truncated"));
	assert_int_equal(ju(j, "total"), 3);
	json_decref(j);
	insight__free(in);
}

static struct insight_flow failed(uint64_t t, const char *to, enum insight_error e)
{
	struct insight_flow f = out(t, "shop", "web", "shop", to, 5432);

	f.failed = 1;
	f.error = e;
	f.bytes_sent = f.bytes_received = 0;
	return f;
}

static void test_path_status(void **state)
{
	struct insight *in = view(100);
	struct insight_flow f;
	json_t *j, *s;

	(void)state;
	/* ok, on two ports */
	add1(in, out(T0 + 2 * RES, "shop", "web", "shop", "db", 5432), NOW);
	add1(in, out(T0 + 5 * RES, "shop", "web", "shop", "db", 6432), NOW);
	/* failing: success in 1, failed in 3 and 6 (nothing in 4) */
	add1(in, out(T0 + 1 * RES, "shop", "web", "shop", "api", 5432), NOW);
	add1(in, failed(T0 + 3 * RES, "api", INSIGHT_ERROR_REFUSED), NOW);
	add1(in, failed(T0 + 6 * RES, "api", INSIGHT_ERROR_TIMEOUT), NOW);
	/* degraded: both in the last bucket with records */
	add1(in, out(T0 + 7 * RES, "shop", "web", "shop", "cache", 5432), NOW);
	add1(in, failed(T0 + 7 * RES + 5, "cache", INSIGHT_ERROR_RESET), NOW);
	/* failing from the start: never a success */
	f = failed(T0 + 4 * RES, "down", INSIGHT_ERROR_OTHER);
	f.flows = f.failed = 3;
	f.closed = 3;
	add1(in, f, NOW);

	j = get(in, "/api/v1/path", "from=shop/web&to=shop/db", NOW);
	assert_true(jtrue(j, "seen"));
	assert_string_equal(js(j, "status"), "ok");
	assert_int_equal(ju(j, "last_success_ms"), T0 + 6 * RES);
	assert_true(jnull(j, "failing_since_ms"));
	assert_int_equal(jlen(j, "ports"), 2);
	assert_int_equal(json_integer_value(jat(j, "ports", 0)), 5432);
	assert_int_equal(json_integer_value(jat(j, "ports", 1)), 6432);
	assert_true(fabs(json_number_value(jget(j, "success_ratio")) - 1.0) < 1e-9);
	json_decref(j);

	j = get(in, "/api/v1/path", "from=web&to=api", NOW);
	assert_string_equal(js(j, "status"), "failing");
	assert_int_equal(ju(j, "failing_since_ms"), T0 + 3 * RES);
	assert_int_equal(ju(j, "last_success_ms"), T0 + 2 * RES);
	assert_int_equal(ju(j, "flows"), 3);
	assert_int_equal(ju(j, "failed"), 2);
	assert_int_equal(ju(jget(j, "failures"), "refused"), 1);
	assert_int_equal(ju(jget(j, "failures"), "timeout"), 1);
	assert_true(fabs(json_real_value(jget(j, "success_ratio")) - 1.0 / 3) < 1e-5);
	s = jat(j, "series", 3);
	assert_int_equal(ju(s, "failed"), 1);
	assert_int_equal(ju(s, "refused"), 1);
	assert_int_equal(ju(jat(j, "series", 6), "timeout"), 1);
	assert_int_equal(ju(jat(j, "series", 1), "bytes_sent"), 100);
	assert_int_equal(ju(jat(j, "series", 1), "bytes_received"), 1000);
	json_decref(j);

	j = get(in, "/api/v1/path", "from=shop/web&to=cache", NOW);
	assert_string_equal(js(j, "status"), "degraded");
	assert_true(jnull(j, "failing_since_ms"));
	assert_int_equal(ju(j, "last_success_ms"), T0 + 8 * RES);
	json_decref(j);

	j = get(in, "/api/v1/path", "from=shop/web&to=down", NOW);
	assert_string_equal(js(j, "status"), "failing");
	assert_int_equal(ju(j, "failing_since_ms"), T0 + 4 * RES);
	assert_true(jnull(j, "last_success_ms"));
	assert_int_equal(ju(jget(j, "failures"), "other"), 3);
	assert_true(jnull(jget(j, "rtt_us"), "p50"));
	assert_int_equal(ju(jget(j, "rtt_us"), "samples"), 0);
	json_decref(j);

	j = get(in, "/api/v1/path", "from=shop/db&to=shop/web", NOW);
	assert_false(jtrue(j, "seen"));
	assert_string_equal(js(j, "status"), "never_seen");
	assert_true(jnull(j, "first_seen_ms"));
	assert_true(jnull(j, "last_success_ms"));
	assert_true(jnull(j, "failing_since_ms"));
	assert_int_equal(jlen(j, "ports"), 0);
	assert_int_equal(jlen(j, "series"), NB);
	for (int b = 0; b < NB; b++) {
		s = jat(j, "series", b);
		assert_int_equal(ju(s, "flows"), 0);
		assert_true(jnull(s, "rtt_p50_us"));
	}
	json_decref(j);
	insight__free(in);
}

static void test_percentiles(void **state)
{
	static const uint32_t us[] = { 1,    8,	     9,	      11,      12,	16,
				       17,   22,     23,      90,      91,	100,
				       1000, 123456, 8388607, 8388608, 8388609, 4000000000u };
	struct insight *in = view(100);
	struct insight_flow f;
	json_t *j, *r;
	char qs[64];

	(void)state;
	/* one edge per value (the port tells them apart): p50 of one sample */
	for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++) {
		f = out(NOW, "shop", "web", "shop", "db", (uint16_t)(1000 + i));
		f.srtt_us = us[i];
		add1(in, f, NOW);
	}
	j = get(in, "/api/v1/edges", "limit=1000", NOW);
	assert_int_equal(jlen(j, "edges"), sizeof(us) / sizeof(us[0]));
	for (size_t i = 0; i < jlen(j, "edges"); i++) {
		json_t *e = jat(j, "edges", i);
		size_t k = (size_t)ju(e, "port") - 1000;
		long long want = rtt_bound(us[k]);

		r = jget(e, "rtt_us");
		assert_int_equal(ju(r, "samples"), 1);
		if (want < 0) {
			assert_true(jnull(r, "p50"));
		} else {
			if (ju(r, "p50") != want)
				print_error("srtt %u: expected %lld, got %lld\n", us[k], want,
					    ju(r, "p50"));
			assert_int_equal(ju(r, "p50"), want);
		}
	}
	json_decref(j);
	insight__free(in);

	/* weighted by the established connections: 9 x 100 us, 1 x 1000 us */
	in = view(100);
	f = out(NOW, "shop", "web", "shop", "db", 5432);
	f.srtt_us = 100;
	f.flows = 11;
	f.closed = 11;
	f.failed = 2; /* never established: no RTT */
	f.error = INSIGHT_ERROR_TIMEOUT;
	add1(in, f, NOW);
	f.srtt_us = 1000;
	f.flows = 1;
	f.closed = 1;
	f.failed = 0;
	add1(in, f, NOW);
	f.srtt_us = 0; /* no sample */
	add1(in, f, NOW);
	snprintf(qs, sizeof(qs), "from=web&to=db");
	j = get(in, "/api/v1/path", qs, NOW);
	r = jget(j, "rtt_us");
	assert_int_equal(ju(r, "samples"), 10);
	assert_int_equal(ju(r, "p50"), rtt_bound(100));
	assert_int_equal(ju(r, "p50"), 128);
	assert_int_equal(ju(r, "p90"), 128);
	assert_int_equal(ju(r, "p99"), rtt_bound(1000));
	assert_int_equal(ju(r, "p99"), 1024);
	assert_int_equal(ju(jat(j, "series", NB - 1), "rtt_p50_us"), 128);
	json_decref(j);
	insight__free(in);
}

static void test_top(void **state)
{
	struct insight *in = view(100);
	struct insight_flow f;
	json_t *j;

	(void)state;
	f = out(NOW, "shop", "web", "shop", "big", 80); /* bytes */
	f.bytes_sent = 1 << 20;
	f.srtt_us = 100;
	add1(in, f, NOW);
	f = out(NOW, "shop", "web", "shop", "busy", 80); /* flows */
	f.flows = 50;
	f.closed = 50;
	f.srtt_us = 5000;
	add1(in, f, NOW);
	f = out(NOW, "shop", "web", "shop", "broken", 80); /* failures */
	f.flows = 4;
	f.closed = 4;
	f.failed = 4;
	f.error = INSIGHT_ERROR_REFUSED;
	add1(in, f, NOW);
	f = out(NOW, "shop", "web", "shop", "lossy", 80); /* retransmits */
	f.retransmits = 9;
	add1(in, f, NOW);
	f = out(NOW, "shop", "web", "shop", "rude", 80); /* resets */
	f.resets = 3;
	f.retransmits = 1;
	add1(in, f, NOW);

	j = get(in, "/api/v1/top", NULL, NOW);
	assert_string_equal(js(j, "by"), "bytes");
	assert_int_equal(ju(j, "total"), 5);
	assert_string_equal(js(jat(j, "edges", 0), "to"), "shop/big");
	json_decref(j);
	j = get(in, "/api/v1/top", "by=flows&limit=2", NOW);
	assert_string_equal(js(jat(j, "edges", 0), "to"), "shop/busy");
	assert_string_equal(js(jat(j, "edges", 1), "to"), "shop/broken");
	assert_int_equal(jlen(j, "edges"), 2);
	assert_true(jtrue(j, "truncated"));
	json_decref(j);
	j = get(in, "/api/v1/top", "by=failures", NOW);
	assert_int_equal(ju(j, "total"), 1);
	assert_string_equal(js(jat(j, "edges", 0), "to"), "shop/broken");
	json_decref(j);
	j = get(in, "/api/v1/top", "by=retransmits", NOW);
	assert_int_equal(ju(j, "total"), 2);
	assert_string_equal(js(jat(j, "edges", 0), "to"), "shop/lossy");
	assert_string_equal(js(jat(j, "edges", 1), "to"), "shop/rude");
	json_decref(j);
	j = get(in, "/api/v1/top", "by=resets", NOW);
	assert_int_equal(ju(j, "total"), 1);
	assert_string_equal(js(jat(j, "edges", 0), "to"), "shop/rude");
	json_decref(j);
	j = get(in, "/api/v1/top", "by=rtt", NOW);
	assert_int_equal(ju(j, "total"), 2);
	assert_string_equal(js(jat(j, "edges", 0), "to"), "shop/busy");
	assert_int_equal(ju(jget(jat(j, "edges", 0), "rtt_us"), "p90"), rtt_bound(5000));
	assert_string_equal(js(jat(j, "edges", 1), "to"), "shop/big");
	json_decref(j);
	insight__free(in);
}

static void test_new_edges(void **state)
{
	struct insight *in = view(100);
	json_t *j;

	(void)state;
	add1(in, out(T0 + 10, "shop", "web", "shop", "old", 80), NOW);
	add1(in, out(T0 + 3 * RES, "shop", "web", "shop", "mid", 80), NOW);
	add1(in, out(T0 + 9 * RES, "shop", "web", "shop", "fresh", 80), NOW);
	/* the default, 10 minutes ago, is before the window: clamped to its start */
	j = get(in, "/api/v1/new-edges", NULL, NOW);
	assert_int_equal(ju(j, "since_ms"), T0);
	assert_int_equal(ju(j, "total"), 2);
	assert_string_equal(js(jat(j, "edges", 0), "to"), "shop/fresh");
	assert_string_equal(js(jat(j, "edges", 1), "to"), "shop/mid");
	assert_true(jtrue(jat(j, "edges", 0), "new"));
	json_decref(j);
	j = get(in, "/api/v1/new-edges", "since=5m", NOW);
	assert_int_equal(ju(j, "total"), 1);
	assert_string_equal(js(jat(j, "edges", 0), "to"), "shop/fresh");
	json_decref(j);
	/* /edges says which are new (default reference) */
	j = get(in, "/api/v1/edges", NULL, NOW);
	for (size_t i = 0; i < jlen(j, "edges"); i++) {
		json_t *e = jat(j, "edges", i);

		assert_int_equal(jtrue(e, "new"), strcmp(js(e, "to"), "shop/old") != 0);
	}
	json_decref(j);
	insight__free(in);
}

static void test_bad_parameters(void **state)
{
	struct insight *in = shop();
	char qs[400], name[300];
	int status;
	json_t *j;

	(void)state;
	expect_400(in, "/api/v1/edges", "limit=0", "limit");
	expect_400(in, "/api/v1/edges", "limit=1001", "limit");
	expect_400(in, "/api/v1/edges", "limit=abc", "limit");
	expect_400(in, "/api/v1/edges", "limit=-1", "limit");
	expect_400(in, "/api/v1/edges", "limit=", "limit");
	expect_400(in, "/api/v1/edges", "limit=10x", "limit");
	expect_400(in, "/api/v1/apps", "limit=99999999999999999999999", "limit");
	expect_400(in, "/api/v1/top", "by=latency", "by");
	expect_400(in, "/api/v1/top", "limit=0", "limit");
	expect_400(in, "/api/v1/dependencies", NULL, "app");
	expect_400(in, "/api/v1/dependencies", "app=", "app");
	memset(name, 'a', 254);
	name[254] = '\0';
	snprintf(qs, sizeof(qs), "app=%s", name);
	expect_400(in, "/api/v1/dependencies", qs, "app");
	snprintf(qs, sizeof(qs), "namespace=%s", name);
	expect_400(in, "/api/v1/edges", qs, "namespace");
	expect_400(in, "/api/v1/path", "from=web", "to");
	expect_400(in, "/api/v1/path", "to=web", "from");
	expect_400(in, "/api/v1/edges", "since=yesterday", "since");
	expect_400(in, "/api/v1/new-edges", "since=", "since");
	expect_400(in, "/api/v1/edges", "cross_namespace=maybe", "cross_namespace");
	/* 253 bytes is a name */
	name[253] = '\0';
	snprintf(qs, sizeof(qs), "app=%s", name);
	json_decref(get(in, "/api/v1/dependencies", qs, NOW));
	json_decref(get(in, "/api/v1/edges", "limit=1000", NOW));
	json_decref(get(in, "/api/v1/edges", "limit=1", NOW));
	j = query(in, "/api/v1/nope", NULL, NOW, &status);
	assert_int_equal(status, 404);
	json_decref(j);
	j = query(in, "/api/v1/status/", NULL, NOW, &status);
	assert_int_equal(status, 404);
	json_decref(j);
	insight__free(in);
}

static void test_edge_object(void **state)
{
	struct insight *in = view(100);
	struct insight_flow f = out(T0 + 4 * RES + 7, "shop", "web", "shop", "api", 8080);
	json_t *j, *e;

	(void)state;
	f.remote.account = "123456789012";
	f.remote.region = "eu-west-1";
	f.remote.zone = "eu-west-1a";
	f.flows = 1200;
	f.closed = 1200;
	f.failed = 3;
	f.error = INSIGHT_ERROR_REFUSED;
	f.segs_sent = 90000;
	f.retransmits = 12;
	f.resets = 1;
	f.srtt_us = 91;
	add1(in, f, NOW);
	f.remote.zone = "eu-west-1b"; /* the last seen wins */
	f.end_ms = T0 + 6 * RES;
	f.flows = 0;
	f.closed = 0;
	f.failed = 0;
	f.segs_sent = 0;
	f.retransmits = 0;
	f.resets = 0;
	f.bytes_sent = f.bytes_received = 0;
	add1(in, f, NOW);
	j = get(in, "/api/v1/edges", NULL, NOW);
	e = jat(j, "edges", 0);
	assert_string_equal(js(e, "from_namespace"), "shop");
	assert_string_equal(js(e, "from_app"), "web");
	assert_string_equal(js(e, "to_namespace"), "shop");
	assert_string_equal(js(e, "to_app"), "api");
	assert_false(jtrue(e, "cross_namespace"));
	assert_string_equal(js(e, "to_account"), "123456789012");
	assert_string_equal(js(e, "to_region"), "eu-west-1");
	assert_string_equal(js(e, "to_zone"), "eu-west-1b");
	assert_int_equal(ju(e, "first_seen_ms"), T0 + 4 * RES + 7);
	assert_int_equal(ju(e, "last_seen_ms"), T0 + 6 * RES);
	assert_int_equal(ju(e, "flows"), 1200);
	assert_int_equal(ju(e, "failed"), 3);
	assert_int_equal(ju(jget(e, "failures"), "refused"), 3);
	assert_int_equal(ju(jget(e, "failures"), "timeout"), 0);
	assert_int_equal(ju(jget(e, "failures"), "reset"), 0);
	assert_int_equal(ju(jget(e, "failures"), "other"), 0);
	assert_int_equal(ju(e, "segs_sent"), 90000);
	assert_int_equal(ju(e, "retransmits"), 12);
	assert_int_equal(ju(e, "resets"), 1);
	assert_true(fabs(json_real_value(jget(e, "failure_ratio")) - 0.0025) < 1e-9);
	assert_true(fabs(json_real_value(jget(e, "retransmit_ratio")) - 12.0 / 90000) < 1e-8);
	assert_int_equal(ju(jget(e, "rtt_us"), "samples"), 1197);
	assert_int_equal(ju(jget(e, "rtt_us"), "p50"), rtt_bound(91));
	assert_int_equal(ju(jget(e, "rtt_us"), "p50"), 128);
	json_decref(j);
	insight__free(in);
}

static void test_add_records(void **state)
{
	struct flow_identity web = { .app = "web", .namespace = "shop" };
	struct flow_identity api = { .app = "api", .namespace = "shop" };
	struct flow_record r[3] = { 0 };
	bool keep[3] = { true, false, true };
	struct insight *in = view(100);
	json_t *j, *e;

	(void)state;
	for (int i = 0; i < 3; i++) {
		r[i].end_ms = NOW;
		r[i].flows = 2;
		r[i].closed = 2;
		r[i].failed = 1;
		r[i].err = ECONNRESET;
		r[i].bytes_sent = 10;
		r[i].direction = FLOW_DIRECTION_OUT;
		r[i].local_port = 40000;
		r[i].remote_port = 8080;
		r[i].local = &web;
		r[i].remote = &api;
		r[i].srtt_us = 100;
	}
	/* dropped by keep */
	r[1].remote = NULL;
	/* the callee's record of an unattributed caller */
	r[2].direction = FLOW_DIRECTION_IN;
	r[2].local = &api;
	r[2].remote = NULL;
	r[2].local_port = 8080;
	r[2].remote_port = 51000;
	r[2].failed = 0;
	v4(r[2].remote_addr, 10, 1, 2, 3);
	insight__add_records(in, r, 3, keep, NOW);
	j = get(in, "/api/v1/edges", NULL, NOW);
	assert_int_equal(ju(j, "total"), 2);
	e = jat(j, "edges", 0);
	assert_string_equal(js(e, "from"), "10.1.2.3");
	assert_string_equal(js(e, "to"), "shop/api");
	assert_string_equal(js(e, "reported_by"), "callee");
	assert_int_equal(ju(e, "port"), 8080);
	assert_int_equal(ju(e, "bytes_received"), 10);
	e = jat(j, "edges", 1);
	assert_string_equal(js(e, "from"), "shop/web");
	assert_string_equal(js(e, "reported_by"), "caller");
	assert_int_equal(ju(e, "port"), 8080);
	assert_int_equal(ju(jget(e, "failures"), "reset"), 1);
	assert_int_equal(ju(jget(e, "rtt_us"), "samples"), 1);
	json_decref(j);
	/* keep NULL: all of them */
	insight__add_records(in, r, 3, NULL, NOW);
	j = get(in, "/api/v1/status", NULL, NOW);
	assert_int_equal(ju(j, "records"), 5);
	assert_int_equal(ju(j, "edges"), 3);
	json_decref(j);
	insight__free(in);
}

static void test_status_and_metrics(void **state)
{
	struct insight_source_stats st = {
		.source = "kafka",
		.rebuild = "done",
		.rebuilt = 5,
		.rebuild_files = 2,
		.rebuild_errors = 1,
		.consumed = 7,
		.bad_messages = 3,
	};
	struct metrics_writer *mw = metrics_writer__new();
	struct insight *in = view(100);
	uint64_t mem0, mem1;
	const char *text;
	size_t len;
	json_t *j;

	(void)state;
	assert_non_null(mw);
	j = get(in, "/api/v1/status", NULL, NOW);
	assert_string_equal(js(j, "source"), "output");
	assert_string_equal(js(j, "rebuild"), "off");
	mem0 = (uint64_t)ju(j, "memory_bytes");
	assert_true(mem0 > 0);
	json_decref(j);
	insight__set_source_stats(in, &st);
	for (int i = 0; i < 50; i++) {
		char app[16];

		snprintf(app, sizeof(app), "a%d", i);
		add1(in, out(NOW, "shop", "web", "shop", app, 80), NOW);
	}
	add1(in, out(T0 - 5, "shop", "web", "shop", "a1", 80), NOW);
	j = get(in, "/api/v1/status", NULL, NOW);
	assert_string_equal(js(j, "source"), "kafka");
	assert_string_equal(js(j, "rebuild"), "done");
	assert_int_equal(ju(j, "rebuilt"), 5);
	assert_int_equal(ju(j, "rebuild_files"), 2);
	assert_int_equal(ju(j, "records"), 50);
	assert_int_equal(ju(j, "too_old"), 1);
	assert_int_equal(ju(j, "overflow"), 0);
	assert_int_equal(ju(j, "edges"), 50);
	mem1 = (uint64_t)ju(j, "memory_bytes");
	/* 50 keys, 50 slots of 256 bytes at least */
	assert_true(mem1 >= mem0 + 50 * 256);
	json_decref(j);

	insight__metrics(in, mw);
	assert_int_equal(metrics_writer__error(mw), 0);
	text = metrics_writer__text(mw, &len);
	assert_non_null(
	    strstr(text, "podflow_collector_insight_records_total{outcome=\"added\"} 50\n"));
	assert_non_null(
	    strstr(text, "podflow_collector_insight_records_total{outcome=\"too_old\"} 1\n"));
	assert_non_null(
	    strstr(text, "podflow_collector_insight_records_total{outcome=\"overflow\"} 0\n"));
	assert_non_null(strstr(text, "# TYPE podflow_collector_insight_edges gauge\n"));
	assert_non_null(strstr(text, "podflow_collector_insight_edges 50\n"));
	assert_non_null(strstr(text, "podflow_collector_insight_edges_max 100\n"));
	assert_non_null(strstr(text, "podflow_collector_insight_memory_bytes "));
	assert_non_null(strstr(text, "podflow_collector_insight_expired_edges_total 0\n"));
	assert_non_null(strstr(text, "podflow_collector_insight_rebuilt_records_total 5\n"));
	assert_non_null(strstr(text, "podflow_collector_insight_consumed_messages_total 7\n"));
	assert_non_null(strstr(text, "podflow_collector_insight_bad_messages_total 3\n"));
	metrics_writer__free(mw);

	/* everything leaves the window: keys and slots are given back */
	j = get(in, "/api/v1/status", NULL, NOW + 20 * RES);
	assert_int_equal(ju(j, "edges"), 0);
	assert_int_equal(ju(j, "expired"), 50);
	json_decref(j);
	insight__free(in);
}

/* Many records in, out of time order: every bucket and slot stays consistent (ASan). */
static void test_churn(void **state)
{
	struct insight *in = view(64);
	uint64_t now = NOW, total = 0;
	json_t *j;

	(void)state;
	srand(7);
	for (int round = 0; round < 40; round++) {
		struct insight_flow f[200];
		char names[200][16];

		for (int i = 0; i < 200; i++) {
			snprintf(names[i], sizeof(names[i]), "s%d", rand() % 80);
			f[i] = out(now - (uint64_t)(rand() % (int)(NB * RES + RES)), "ns", "c",
				   "ns", names[i], 80);
		}
		insight__add(in, f, 200, now);
		now += (uint64_t)(rand() % (int)(3 * RES));
	}
	j = get(in, "/api/v1/status", NULL, now);
	total = (uint64_t)ju(j, "records") + (uint64_t)ju(j, "too_old") +
		(uint64_t)ju(j, "overflow") + (uint64_t)ju(j, "dropped");
	assert_int_equal(total, 40 * 200);
	assert_true(ju(j, "edges") <= 65);
	json_decref(j);
	json_decref(get(in, "/api/v1/apps", NULL, now));
	json_decref(get(in, "/api/v1/top", "by=rtt", now));
	insight__free(in);
}

/*
 * The tap's cost for a hot key set (64 keys): printed, not asserted (the
 * figure depends on the machine and on the sanitizers).
 */
static void test_add_records_speed(void **state)
{
	enum { KEYS = 64, BATCH = 512, ROUNDS = 2000 };
	static struct flow_identity ids[KEYS];
	static char names[KEYS][32];
	static struct flow_record r[BATCH];
	struct flow_identity local = { .app = "checkout", .namespace = "shop", .pod = "c-1" };
	struct insight *in = view(8192);
	struct timespec a, b;
	double ns;

	(void)state;
	for (int i = 0; i < KEYS; i++) {
		snprintf(names[i], sizeof(names[i]), "service-%02d", i);
		ids[i] = (struct flow_identity){ .app = names[i], .namespace = "backend" };
	}
	for (int i = 0; i < BATCH; i++) {
		r[i] = (struct flow_record){
			.end_ms = NOW,
			.flows = 1,
			.closed = 1,
			.bytes_sent = 1000,
			.bytes_received = 5000,
			.segs_sent = 10,
			.srtt_us = 100 + (uint32_t)i,
			.direction = FLOW_DIRECTION_OUT,
			.remote_port = 8080,
			.local = &local,
			.remote = &ids[i % KEYS],
		};
	}
	insight__add_records(in, r, BATCH, NULL, NOW);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int round = 0; round < ROUNDS; round++)
		insight__add_records(in, r, BATCH, NULL, NOW);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
	     ((double)ROUNDS * BATCH);
	printf("insight__add_records: %.1f ns/record (%d keys, batches of %d)\n", ns, KEYS, BATCH);
	insight__free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_classes),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_buckets_and_rollover),
		cmocka_unit_test(test_too_old_and_future),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_caller_preferred),
		cmocka_unit_test(test_connection_counted_once),
		cmocka_unit_test(test_address_and_fallbacks),
		cmocka_unit_test(test_apps),
		cmocka_unit_test(test_dependencies),
		cmocka_unit_test(test_edges_filters),
		cmocka_unit_test(test_path_status),
		cmocka_unit_test(test_percentiles),
		cmocka_unit_test(test_top),
		cmocka_unit_test(test_new_edges),
		cmocka_unit_test(test_bad_parameters),
		cmocka_unit_test(test_edge_object),
		cmocka_unit_test(test_add_records),
		cmocka_unit_test(test_status_and_metrics),
		cmocka_unit_test(test_churn),
		cmocka_unit_test(test_add_records_speed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
