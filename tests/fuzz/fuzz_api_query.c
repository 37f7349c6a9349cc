// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer target for the API listener's queries: /api/v1/... and /ownership?ip= on fuzzed arguments. */
/*
 * An input is a request as the admin listener hands it on, after
 * libmicrohttpd has split and percent-decoded the query string: its first
 * line the path, each further line one argument `name=value` (a line
 * without '=' is an argument without a value, which the listener's
 * admin_arg() gives as NULL, like an absent one).  Values are C strings:
 * any byte but NUL, as a decoded %XX can be.
 *
 * /api/v1/... goes to insight__query, the API's one entry (insight__api is
 * it behind admin_arg), over a view filled at start with a few dozen
 * records: callers and callees in three namespaces, an address-only remote,
 * failed connects of every class, more keys than its max_edges (the
 * overflow key), names with quotes and non-ASCII.  /ownership goes where
 * attribution__ownership takes it (that function itself reads an MHD
 * connection): ip_parse_str on `ip`, then attributor__ranges_json over an
 * attributor holding a few ranges from every source.
 *
 * Every answer must be one valid JSON value (an object for 200, a string
 * for 400, as docs/api.md says), its status one the API documents, and the
 * same query asked twice at the same time must give the same bytes: a
 * query does not change the view.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "attributor.h"
#include "clock.h"
#include "flow.h"
#include "insight.h"
#include "ip.h"
#include "jsonw.h"
#include "log.h"

#define RES	  60000ull
#define T0	  1796630400000ull /* a minute boundary */
#define NOW	  (T0 + 9 * RES + RES / 2)
#define MAX_ARGS  32
#define INPUT_MAX 8192

static struct insight *view;
static struct attributor *attr;
static struct jsonw *jw1, *jw2;

/* ---- the view and the attributor, filled once ---- */

static void v4(uint8_t ip[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	memset(ip, 0, 10);
	ip[10] = ip[11] = 0xff;
	ip[12] = a;
	ip[13] = b;
	ip[14] = c;
	ip[15] = d;
}

static struct insight_flow flow(uint64_t t, const char *lns, const char *lapp, const char *rns,
				const char *rapp, uint16_t port, uint8_t dir)
{
	struct insight_flow f = {
		.end_ms = t,
		.flows = 2,
		.closed = 1,
		.bytes_sent = 100,
		.bytes_received = 1000,
		.segs_sent = 10,
		.retransmits = 1,
		.srtt_us = 250,
		.direction = dir,
	};

	if (dir == FLOW_DIRECTION_OUT) {
		f.local_port = 40000;
		f.remote_port = port;
	} else {
		f.local_port = port;
		f.remote_port = 40001;
	}
	f.local.namespace = lns;
	f.local.app = lapp;
	f.local.workload = lapp;
	f.remote.namespace = rns;
	f.remote.app = rapp;
	v4(f.remote_addr, 10, 0, 0, (uint8_t)port);
	return f;
}

static void fill_view(void)
{
	static const char *const apps[] = { "web", "api", "db", "cache", "queue", "auth" };
	struct insight_opts o = { .window_ms = 10 * RES, .resolution_ms = RES, .max_edges = 16 };
	struct insight_flow f[64];
	size_t n = 0;

	view = insight__new(&o);
	CHECK(view, "insight__new: %s", strerror(errno));
	for (int b = 0; b < 10; b++) {
		uint64_t t = T0 + (uint64_t)b * RES + 1000;

		f[n++] = flow(t, "shop", "web", "shop", "api", 8080, FLOW_DIRECTION_OUT);
		f[n++] = flow(t, "shop", "api", "shop", "web", 8080, FLOW_DIRECTION_IN);
		if (b % 3 == 0)
			f[n++] = flow(t, "shop", "api", "data", "db", 5432, FLOW_DIRECTION_OUT);
		if (b == 8) {
			/* a new edge late in the window, a failed connect, an address-only remote */
			f[n] = flow(t, "shop", "web", "", "", 443, FLOW_DIRECTION_OUT);
			f[n].failed = 1;
			f[n].error = INSIGHT_ERROR_TIMEOUT;
			n++;
			f[n] = flow(t, "data", "db", "data", "cache", 6379, FLOW_DIRECTION_OUT);
			f[n].failed = 1;
			f[n].error = INSIGHT_ERROR_REFUSED;
			n++;
		}
	}
	insight__add(view, f, n, NOW);
	/* more keys than max_edges: the overflow key */
	n = 0;
	for (int i = 0; i < 24; i++) {
		f[n] = flow(T0 + 5 * RES, i % 2 ? "ops" : "shop", apps[i % 6], "ops",
			    apps[(i + 1) % 6], (uint16_t)(9000 + i),
			    i % 3 ? FLOW_DIRECTION_OUT : FLOW_DIRECTION_IN);
		f[n].error = (enum insight_error)(i % INSIGHT_ERROR__COUNT);
		f[n].failed = f[n].error != INSIGHT_ERROR_NONE;
		n++;
	}
	/* names that must be escaped, and one not quite UTF-8 */
	f[n++] =
	    flow(T0 + 9 * RES, "we\"ird", "caf\xc3\xa9/\\x", "shop", "web", 80, FLOW_DIRECTION_OUT);
	f[n++] = flow(T0 + 9 * RES, "shop", "bad\xff\xfe", "shop", "api", 81, FLOW_DIRECTION_OUT);
	insight__add(view, f, n, NOW);
	/* one too old for the window */
	f[0] = flow(T0 - 20 * RES, "shop", "web", "shop", "api", 8080, FLOW_DIRECTION_OUT);
	insight__add(view, f, 1, NOW);
}

static int write_none(void *ctx, const struct wire_batch *b)
{
	(void)ctx;
	(void)b;
	return 0;
}

static void fill_attributor(void)
{
	struct attr_opts o = {
		.max_delay_ms = 30000,
		.retention_ms = 3600000,
		.heartbeat_grace_ms = 20000,
		.heartbeat_max_skew_ms = 5000,
		.max_delayed = 1024,
		.max_ranges = 4096,
		.write = write_none,
	};
	struct flow_identity web = {
		.app = "web", .namespace = "shop", .pod = "web-1", .node = "n1", .workload = "web"
	};
	struct flow_identity db = { .app = "db", .namespace = "data", .pod = "db-0" };
	struct flow_identity vm = {
		.app = "billing", .account = "1234", .region = "eu-west-1", .zone = "eu-west-1a"
	};
	/* the attributor bounds evidence by the wall clock (retention, heartbeat skew) */
	int64_t t = clock_wall_ms() - 600000;
	char why[256];
	uint8_t ip[16];

	attr = attributor__new(&o, why, sizeof(why));
	CHECK(attr, "attributor__new: %s", why);
	v4(ip, 10, 0, 0, 7);
	attributor__assign(attr, FLOW_SOURCE_KUBE, ip, &web, t);
	attributor__unassign(attr, FLOW_SOURCE_KUBE, ip, &web, t + 5 * 60000);
	attributor__assign(attr, FLOW_SOURCE_KUBE, ip, &db, t + 6 * 60000);
	attributor__span(attr, FLOW_SOURCE_HEARTBEAT, ip, &db, t + 6 * 60000,
			 t + 6 * 60000 + 10000);
	CHECK(ip_parse_str("fd00::7", ip) == 0, "ip_parse_str");
	attributor__assign(attr, FLOW_SOURCE_SONAR, ip, &vm, t);
	attributor__assign(attr, FLOW_SOURCE_KUBE, ip, &db, t + 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_api_query", LOG_LEVEL_WARN);
	fill_view();
	fill_attributor();
	jw1 = jsonw__new();
	jw2 = jsonw__new();
	CHECK(jw1 && jw2, "jsonw__new");
	return 0;
}

/* ---- one request ---- */

struct args {
	const char *name[MAX_ARGS];
	const char *val[MAX_ARGS];
	int n;
};

/* admin_arg(): the first argument of that name (MHD's lookup), NULL when absent */
static const char *lookup(void *ctx, const char *name)
{
	const struct args *a = ctx;

	for (int i = 0; i < a->n; i++)
		if (strcmp(a->name[i], name) == 0)
			return a->val[i];
	return NULL;
}

/* The answer in jw must be one JSON value: an object for 200, a string for 400. */
static void check_answer(const char *path, int status, struct jsonw *jw)
{
	json_error_t jerr;
	const char *data;
	json_t *j;
	size_t len;

	CHECK(!jsonw__error(jw), "%s: the writer failed", path);
	data = jsonw__data(jw, &len);
	j = json_loadb(data, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	CHECK(j, "%s: %d: invalid JSON (%s): %.*s", path, status, jerr.text, (int)len, data);
	CHECK(status != 200 || json_is_object(j), "%s: 200 without an object", path);
	CHECK(status != 400 || json_is_string(j), "%s: 400 without a string", path);
	json_decref(j);
}

static int ownership(const struct args *a, struct jsonw *jw)
{
	const char *text = lookup((void *)(uintptr_t)a, "ip");
	uint8_t ip[16];

	/* what attribution__ownership does with admin_arg(args, "ip") */
	if (ip_parse_str(text, ip)) {
		jsonw__obj_begin(jw);
		jsonw__kv_str(jw, "error",
			      text ? "ip: not an IPv4 or IPv6 address" : "missing ?ip=ADDRESS");
		jsonw__obj_end(jw);
		return 400;
	}
	attributor__ranges_json(attr, ip, jw);
	return 200;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct args a = { .n = 0 };
	const char *path, *d1, *d2;
	char *buf, *p, *line;
	size_t l1, l2;
	int s1, s2;

	if (size > INPUT_MAX)
		return 0;
	buf = malloc(size + 1);
	CHECK(buf, "malloc");
	memcpy(buf, data, size);
	buf[size] = '\0';
	p = buf;
	path = strsep(&p, "\n");
	while ((line = strsep(&p, "\n")) != NULL && a.n < MAX_ARGS) {
		char *eq = strchr(line, '=');

		if (!eq)
			continue; /* a name without a value: admin_arg gives NULL */
		*eq = '\0';
		a.name[a.n] = line;
		a.val[a.n++] = eq + 1;
	}

	jsonw__reset(jw1);
	jsonw__reset(jw2);
	if (strcmp(path, "/ownership") == 0) {
		s1 = ownership(&a, jw1);
		s2 = ownership(&a, jw2);
		/* an ownership object even for a 400 */
		CHECK(s1 == 200 || s1 == 400, "/ownership: status %d", s1);
		check_answer(path, 200, jw1);
	} else {
		s1 = insight__query(view, path, lookup, &a, jw1, NOW);
		s2 = insight__query(view, path, lookup, &a, jw2, NOW);
		CHECK(s1 == 200 || s1 == 400 || s1 == 404, "%s: status %d", path, s1);
		if (s1 != 404)
			check_answer(path, s1, jw1);
	}
	d1 = jsonw__data(jw1, &l1);
	d2 = jsonw__data(jw2, &l2);
	CHECK(s1 == s2 && l1 == l2 && memcmp(d1, d2, l1) == 0,
	      "%s: asked twice, answered %d %.*s then %d %.*s", path, s1, (int)l1, d1, s2, (int)l2,
	      d2);
	free(buf);
	return 0;
}
