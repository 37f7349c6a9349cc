// SPDX-License-Identifier: BSD-2-Clause
/* The insight view end to end: real sidecars and kernel flows, the collector's JSON API, its web UI in a real browser. */
/*
 * graph_and_paths: three pods, each with its own cgroup and sidecar, in two
 * network namespaces joined by a veth pair; real TCP connections with known
 * byte counts, and real refused connects; the collector attributes every
 * remote address by heartbeat.  Then every answer of the insight API
 * (docs/api.md) is checked with exact values, and the web UI is driven in
 * Chromium by tests/ui/ui-check.mjs against the same collector.
 *
 * thousand_apps: one collector fed over real HTTP/2 by 1000 senders with
 * distinct apps, each calling another; the API lists all 1000 and the UI
 * renders them (ui-check.mjs --scale).
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flow.h"
#include "h2client.h"
#include "harness.h"
#include "ip.h"
#include "netpod.h"
#include "wire.h"
#include "workload.h"

#define CONTAINER_WEB "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1"
#define CONTAINER_API "c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2"
#define CONTAINER_DB  "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"
#define IP_WEB	      "10.78.0.1"
#define IP_API	      "10.78.0.2"
#define IP_DB	      "10.78.0.3" /* on B's veth too: nothing listens on its port */
#define DB_PORT	      5432
#define WAIT_MS	      20000
/* a record's wall-clock times (kernel boot clock + offset) against ours */
#define CLOCK_SLACK_MS 250
/* the browser check: Chromium's start, the page's layout, the screenshots */
#define UI_TIMEOUT_MS 180000
#define SHOTS_DIR     "build/ui-shots"
#define SCALE_APPS    1000

static char g_scope_web[512], g_cont_web[640], g_scope_api[512], g_cont_api[640];
static char g_scope_db[512], g_cont_db[640];
static char g_tmp[256];

static struct netpod_ns g_net_a, g_net_b;

static const struct netpod g_web = { .name = "web-6b7c8d9f5-h4j2k",
				     .namespace = "shop",
				     .app = "web",
				     .workload = "web-6b7c8d9f5",
				     .ip = IP_WEB,
				     .node = "node-insight",
				     .scope = g_scope_web,
				     .container = g_cont_web,
				     .net = &g_net_a };
static const struct netpod g_api = { .name = "api-5f4e3d2c1-q7w8e",
				     .namespace = "shop",
				     .app = "api",
				     .workload = "api-5f4e3d2c1",
				     .ip = IP_API,
				     .node = "node-insight",
				     .scope = g_scope_api,
				     .container = g_cont_api,
				     .net = &g_net_b };
static const struct netpod g_db = { .name = "db-0",
				    .namespace = "data",
				    .app = "db",
				    .workload = "db",
				    .ip = IP_DB,
				    .node = "node-insight",
				    .scope = g_scope_db,
				    .container = g_cont_db,
				    .net = &g_net_b };

/*
 * Namespaces pfins-<pid>-a (web: 10.78.0.1/24) and -b (api: 10.78.0.2/24,
 * db: 10.78.0.3/24).  0 or -EIO (cleaned up).
 */
static int net_up(void)
{
	return netpod_net_up(&g_net_a, &g_net_b, "pfins", /*tag=*/NULL,
			     (const char *const[]){ IP_WEB, NULL },
			     (const char *const[]){ IP_API, IP_DB, NULL });
}

static void net_down(void)
{
	netpod_net_down(&g_net_a, &g_net_b);
}

/*
 * The collector's options besides netpod's: no periodic stats lines; with
 * heartbeats alone a claim settles once the grace has passed it: 2 s, well
 * above the sidecars' 300 ms interval and their retries.
 */
static const char *const g_collector_opts[] = { "--stats-interval", "0", "--heartbeat-grace", "2s",
						NULL };

/* ---- the collector's output and metrics ---- */

/* What the collector wrote so far: its records, and the test's flows among them. */
struct written {
	uint16_t api_port; /* the server's port in pod api */
	uint64_t records;
	uint64_t web_api_records, web_api_flows; /* a connection is in each interval's record */
	uint64_t web_api_closed; /* web's side of its calls to api: each connection once */
	uint64_t api_web_closed; /* api's side of the same */
	uint64_t web_db_failed;	 /* web's refused connects to db */
};

static bool rec_is(json_t *r, const char *direction, const char *local, const char *remote)
{
	return strcmp(rec_str(r, "direction"), direction) == 0 &&
	       strcmp(rec_str(r, "local_ip"), local) == 0 &&
	       strcmp(rec_str(r, "remote_ip"), remote) == 0;
}

/* Every record written under dir (recursively) into w. */
static void scan_records(const char *dir, struct written *w)
{
	json_t *all = json_array(), *r;
	size_t i;

	harness_read_jsonl(dir, all);
	json_array_foreach(all, i, r)
	{
		w->records++;
		if (rec_is(r, "out", IP_WEB, IP_API) && rec_u64(r, "remote_port") == w->api_port) {
			w->web_api_records++;
			w->web_api_flows += rec_u64(r, "flows");
			w->web_api_closed += rec_u64(r, "closed");
		}
		if (rec_is(r, "in", IP_API, IP_WEB) && rec_u64(r, "local_port") == w->api_port)
			w->api_web_closed += rec_u64(r, "closed");
		if (rec_is(r, "out", IP_WEB, IP_DB) && rec_u64(r, "remote_port") == DB_PORT)
			w->web_db_failed += rec_u64(r, "failed");
	}
	json_decref(all);
}

#define ADDED "podflow_collector_insight_records_total{outcome=\"added\"}"

/* ---- the insight API ---- */

/*
 * GET the API path; its JSON when the status is `want` (else NULL, saying
 * what came back).  The caller json_decref()s it.
 */
static json_t *api_get(uint16_t port, const char *path, long want)
{
	json_error_t jerr;
	json_t *doc = NULL;
	char *body = NULL;
	long status = harness_http_get(port, path, &body);

	if (status != want) {
		fprintf(stderr, "    GET %s: expected HTTP %ld, got %ld: %.400s\n", path, want,
			status, body ? body : "");
		goto out;
	}
	doc = json_loads(body, JSON_DECODE_ANY, &jerr);
	if (!doc)
		fprintf(stderr, "    GET %s: not JSON (%s): %.400s\n", path, jerr.text, body);
out:
	free(body);
	return doc;
}

/* The value at a dotted path ("failures.refused") of an object, or NULL. */
static json_t *jat(json_t *o, const char *path)
{
	char key[64];

	while (o && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		o = json_object_get(o, key);
		path += n + (dot ? 1 : 0);
	}
	return o;
}

/* An integer at a dotted path; UINT64_MAX when absent or not an integer >= 0 (never passes). */
static uint64_t ju(json_t *o, const char *path)
{
	json_t *v = jat(o, path);

	return json_is_integer(v) && json_integer_value(v) >= 0 ? (uint64_t)json_integer_value(v)
								: UINT64_MAX;
}

/* A string at a dotted path, or NULL (never equal to an expected string). */
static const char *js(json_t *o, const char *path)
{
	json_t *v = jat(o, path);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A boolean at a dotted path: 1, 0, or -1 when absent or not a boolean. */
static int jb(json_t *o, const char *path)
{
	json_t *v = jat(o, path);

	return json_is_boolean(v) ? json_is_true(v) : -1;
}

/* The edge from -> to on port in a list of edges, or NULL. */
static json_t *find_edge(json_t *edges, const char *from, const char *to, uint16_t port)
{
	size_t i;
	json_t *e;

	json_array_foreach(edges, i, e)
	{
		const char *f = js(e, "from"), *t = js(e, "to");

		if (f && t && strcmp(f, from) == 0 && strcmp(t, to) == 0 && ju(e, "port") == port)
			return e;
	}
	return NULL;
}

/* The app `id` in /api/v1/apps' list, or NULL. */
static json_t *find_app(json_t *apps, const char *id)
{
	size_t i;
	json_t *a;

	json_array_foreach(apps, i, a)
	{
		const char *s = js(a, "id");

		if (s && strcmp(s, id) == 0)
			return a;
	}
	return NULL;
}

/* Sums one field over a path's series. */
static uint64_t series_sum(json_t *path, const char *field)
{
	json_t *series = json_object_get(path, "series"), *b;
	uint64_t sum = 0;
	size_t i;

	json_array_foreach(series, i, b)
	{
		uint64_t v = ju(b, field);

		if (v == UINT64_MAX)
			return UINT64_MAX;
		sum += v;
	}
	return sum;
}

/*
 * What an edge between two pods' apps must say, every figure exact; the
 * bytes are what the caller sent and received in all.
 */
struct want_edge {
	const struct netpod *from, *to;
	uint16_t port;
	uint64_t flows, failed, refused, bytes_sent, bytes_received;
};

static int check_edge(json_t *e, const struct want_edge *w)
{
	char from[128], to[128];
	int ret = 1;

	snprintf(from, sizeof(from), "%s/%s", w->from->namespace, w->from->app);
	snprintf(to, sizeof(to), "%s/%s", w->to->namespace, w->to->app);
	ASSERT_TRUE("the edge is there", e != NULL);
	ASSERT_STR("from", from, js(e, "from"));
	ASSERT_STR("from_namespace", w->from->namespace, js(e, "from_namespace"));
	ASSERT_STR("from_app", w->from->app, js(e, "from_app"));
	ASSERT_STR("to", to, js(e, "to"));
	ASSERT_STR("to_namespace", w->to->namespace, js(e, "to_namespace"));
	ASSERT_STR("to_app", w->to->app, js(e, "to_app"));
	ASSERT_STR("to_kind", "app", js(e, "to_kind"));
	ASSERT_EQ_U64("port", w->port, ju(e, "port"));
	/* the caller's sidecar reported it: its figures, never the sum of both sides' */
	ASSERT_STR("reported_by", "caller", js(e, "reported_by"));
	ASSERT_EQ_U64("cross_namespace", strcmp(w->from->namespace, w->to->namespace) != 0,
		      jb(e, "cross_namespace"));
	/* the collector started with this test: every edge's first record is recent */
	ASSERT_EQ_U64("new", 1, jb(e, "new"));
	ASSERT_EQ_U64("flows", w->flows, ju(e, "flows"));
	ASSERT_EQ_U64("failed", w->failed, ju(e, "failed"));
	ASSERT_EQ_U64("failures.refused", w->refused, ju(e, "failures.refused"));
	ASSERT_EQ_U64("failures.timeout", 0, ju(e, "failures.timeout"));
	ASSERT_EQ_U64("failures.reset", 0, ju(e, "failures.reset"));
	ASSERT_EQ_U64("failures.other", 0, ju(e, "failures.other"));
	ASSERT_EQ_U64("bytes_sent", w->bytes_sent, ju(e, "bytes_sent"));
	ASSERT_EQ_U64("bytes_received", w->bytes_received, ju(e, "bytes_received"));
	ASSERT_STR("to_account", "", js(e, "to_account"));
	ASSERT_TRUE("first_seen_ms <= last_seen_ms",
		    ju(e, "first_seen_ms") <= ju(e, "last_seen_ms") &&
			ju(e, "last_seen_ms") != UINT64_MAX);
	ret = 0;
cleanup:
	if (ret && e) {
		char *text = json_dumps(e, JSON_COMPACT);

		fprintf(stderr, "    edge %s -> %s: %s\n", from, to, text ? text : "");
		free(text);
	}
	return ret;
}

/* ---- the browser: tests/ui/ui-check.mjs ---- */

/*
 * node tests/ui/ui-check.mjs --url http://127.0.0.1:API/ plus `mode`
 * ("--expect FILE" or "--scale") and --shots build/ui-shots/<shots>, from
 * the repository root (where the suites run).  Prints what it printed on
 * stdout (its timing line); its exit code, or -1.
 */
static int ui_check(uint16_t api, const char *mode, const char *expect_file, const char *shots)
{
	char cwd[PATH_MAX], script[PATH_MAX + 32], url[64], shot_dir[PATH_MAX + 64];
	const char *node = harness_node_path(), *argv[12];
	char *out = NULL;
	int n = 0, rc, fd;
	pid_t pid;

	if (!node || !getcwd(cwd, sizeof(cwd))) {
		fprintf(stderr, "    no node in PATH\n");
		return -1;
	}
	snprintf(script, sizeof(script), "%s/tests/ui/ui-check.mjs", cwd);
	if (access(script, R_OK)) {
		fprintf(stderr, "    %s: %s\n", script, strerror(errno));
		return -1;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", api);
	snprintf(shot_dir, sizeof(shot_dir), "%s/%s/%s", cwd, SHOTS_DIR, shots);
	harness_sh("mkdir -p '%s'", shot_dir);
	argv[n++] = node;
	argv[n++] = script;
	argv[n++] = "--url";
	argv[n++] = url;
	argv[n++] = mode;
	if (expect_file)
		argv[n++] = expect_file;
	argv[n++] = "--shots";
	argv[n++] = shot_dir;
	argv[n] = NULL;
	/* its stderr is ours: the browser's complaints show where the test's do */
	pid = harness_start_capture(argv, &fd);
	if (pid < 0) {
		fprintf(stderr, "    cannot start %s\n", node);
		return -1;
	}
	rc = harness_finish_capture(pid, fd, UI_TIMEOUT_MS, &out);
	for (char *line = out, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (*line)
			fprintf(stderr, "    ui-check: %s\n", line);
	}
	free(out);
	if (rc != 0)
		fprintf(stderr, "    node tests/ui/ui-check.mjs %s: exit %d\n", mode, rc);
	return rc;
}

/* ---- 1: the graph, the edges and the paths of three real pods ---- */

/*
 * web (shop, 10.78.0.1, netns A) makes n connections to a server in api
 * (shop, 10.78.0.2, netns B), req bytes out and resp back on each, then k
 * connects to db (data, 10.78.0.3, on B's veth) port 5432, where nothing
 * listens: ECONNREFUSED.  Each pod's sidecar states its IP in heartbeats,
 * so every remote address is an app.  The API answers exactly.
 */
static int test_graph_and_paths(void)
{
	const int n = 7, k = 5;
	const size_t req = 1500, resp = 7300;
	struct netpod_collector c = { 0 };
	struct sidecar sw = { 0 }, sa = { 0 }, sd = { 0 };
	struct peer srv = { 0 };
	json_t *doc = NULL, *list, *e, *window;
	char q[256], expect_file[400];
	int64_t t_refused0, t_refused1, win_start, res, since, lo;
	uint64_t added = 0, written = 0, deadline;
	struct written w;
	pid_t spid = -1;
	uint16_t sport = 0;
	int ret = 1;

	ASSERT_EQ_U64("network namespaces", 0, net_up());
	ASSERT_EQ_U64("collector start", 0,
		      netpod_collector_start(&c, g_tmp, "graph", g_collector_opts));
	ASSERT_EQ_U64("sidecar web start", 0, netpod_sidecar_start(&sw, &g_web, c.url));
	ASSERT_EQ_U64("sidecar api start", 0, netpod_sidecar_start(&sa, &g_api, c.url));
	ASSERT_EQ_U64("sidecar db start", 0, netpod_sidecar_start(&sd, &g_db, c.url));

	srv = (struct peer){ .family = AF_INET,
			     .addr = IP_API,
			     .req = req,
			     .resp = resp,
			     .conns = n,
			     .netns = g_net_b.path };
	spid = start_server(&srv, g_api.container, &sport);
	ASSERT_TRUE("server in pod api", spid > 0);
	ASSERT_EQ_U64("web -> api connections", 0,
		      netpod_client(&g_web, IP_API, sport, n, req, resp, /*want_err=*/0));
	ASSERT_EQ_U64("server exit code", 0, harness_wait(spid, WAIT_MS));
	spid = -1;
	t_refused0 = harness_wall_ms();
	ASSERT_EQ_U64("web -> db connects refused", 0,
		      netpod_client(&g_web, IP_DB, DB_PORT, k, req, resp, ECONNREFUSED));
	t_refused1 = harness_wall_ms();

	/*
	 * Both sides of every connection written (each sidecar's records go
	 * out once the grace has passed their heartbeat's claim), then the
	 * view holds what was written: the tap takes each written batch once.
	 */
	deadline = harness_now_ms() + WAIT_MS;
	for (;;) {
		int64_t v = harness_metric_now(c.admin, ADDED);

		w = (struct written){ .api_port = sport };
		added = v < 0 ? 0 : (uint64_t)v;
		scan_records(c.data, &w);
		if (w.web_api_closed >= (uint64_t)n && w.api_web_closed >= (uint64_t)n &&
		    w.web_db_failed >= (uint64_t)k && added == w.records)
			break;
		if (harness_now_ms() >= deadline) {
			fprintf(stderr,
				"    written: web -> api %" PRIu64 " closed, api <- web %" PRIu64
				", web -> db %" PRIu64 " failed\n",
				w.web_api_closed, w.api_web_closed, w.web_db_failed);
			break;
		}
		netpod_pump(100);
	}
	written = w.records;
	fprintf(stderr,
		"    records written %" PRIu64 ", added to the view %" PRIu64
		"; web -> api: %" PRIu64 " records, flows %" PRIu64 ", closed %" PRIu64 "\n",
		written, added, w.web_api_records, w.web_api_flows, w.web_api_closed);
	ASSERT_TRUE("records written", written > 0);
	ASSERT_EQ_U64("web -> api connections written", n, w.web_api_closed);
	ASSERT_EQ_U64("api <- web connections written", n, w.api_web_closed);
	ASSERT_EQ_U64("web -> db refused connects written", k, w.web_db_failed);
	ASSERT_EQ_U64("insight records added = records written", written, added);

	/* /api/v1/status: the view itself */
	doc = api_get(c.api, "/api/v1/status", 200);
	ASSERT_TRUE("GET /api/v1/status", doc);
	ASSERT_STR("status source", "output", js(doc, "source"));
	ASSERT_EQ_U64("status records", added, ju(doc, "records"));
	ASSERT_EQ_U64("status too_old", 0, ju(doc, "too_old"));
	ASSERT_EQ_U64("status overflow", 0, ju(doc, "overflow"));
	json_decref(doc);

	/* /api/v1/apps: exactly the three pods' apps, sorted by id */
	doc = api_get(c.api, "/api/v1/apps", 200);
	ASSERT_TRUE("GET /api/v1/apps", doc);
	window = json_object_get(doc, "window");
	win_start = (int64_t)ju(window, "start_ms");
	res = (int64_t)ju(window, "resolution_ms");
	ASSERT_TRUE("window", win_start > 0 && ju(window, "end_ms") != UINT64_MAX);
	ASSERT_EQ_U64("window resolution_ms (the default)", 60000, res);
	list = json_object_get(doc, "apps");
	ASSERT_EQ_U64("apps", 3, json_array_size(list));
	ASSERT_STR("apps[0]", "data/db", js(json_array_get(list, 0), "id"));
	ASSERT_STR("apps[1]", "shop/api", js(json_array_get(list, 1), "id"));
	ASSERT_STR("apps[2]", "shop/web", js(json_array_get(list, 2), "id"));
	e = find_app(list, "shop/web");
	ASSERT_STR("web kind", "app", js(e, "kind"));
	ASSERT_STR("web namespace", "shop", js(e, "namespace"));
	ASSERT_STR("web app", "web", js(e, "app"));
	ASSERT_EQ_U64("web calls_out", n + k, ju(e, "calls_out"));
	ASSERT_EQ_U64("web failed_out", k, ju(e, "failed_out"));
	ASSERT_EQ_U64("web callees", 2, ju(e, "callees"));
	ASSERT_EQ_U64("web calls_in", 0, ju(e, "calls_in"));
	ASSERT_EQ_U64("web callers", 0, ju(e, "callers"));
	e = find_app(list, "shop/api");
	ASSERT_STR("api kind", "app", js(e, "kind"));
	ASSERT_EQ_U64("api calls_in", n, ju(e, "calls_in"));
	ASSERT_EQ_U64("api failed_in", 0, ju(e, "failed_in"));
	ASSERT_EQ_U64("api callers", 1, ju(e, "callers"));
	ASSERT_EQ_U64("api calls_out", 0, ju(e, "calls_out"));
	ASSERT_EQ_U64("api callees", 0, ju(e, "callees"));
	e = find_app(list, "data/db");
	ASSERT_STR("db kind", "app", js(e, "kind"));
	ASSERT_STR("db namespace", "data", js(e, "namespace"));
	ASSERT_EQ_U64("db calls_in", k, ju(e, "calls_in"));
	ASSERT_EQ_U64("db failed_in", k, ju(e, "failed_in"));
	ASSERT_EQ_U64("db callers", 1, ju(e, "callers"));
	json_decref(doc);

	/* /api/v1/edges: exactly the two, by bytes; both from the caller's records */
	doc = api_get(c.api, "/api/v1/edges", 200);
	ASSERT_TRUE("GET /api/v1/edges", doc);
	list = json_object_get(doc, "edges");
	ASSERT_EQ_U64("edges", 2, json_array_size(list));
	ASSERT_EQ_U64(
	    "web -> api, the heavier, first", 0,
	    check_edge(json_array_get(list, 0), &(struct want_edge){ .from = &g_web,
								     .to = &g_api,
								     .port = sport,
								     .flows = n,
								     .bytes_sent = n * req,
								     .bytes_received = n * resp }));
	ASSERT_TRUE("web -> api RTT sampled", ju(json_array_get(list, 0), "rtt_us.samples") > 0 &&
						  ju(json_array_get(list, 0), "rtt_us.p50") > 0);
	ASSERT_EQ_U64("web -> db", 0,
		      check_edge(find_edge(list, "shop/web", "data/db", DB_PORT),
				 &(struct want_edge){ .from = &g_web,
						      .to = &g_db,
						      .port = DB_PORT,
						      .flows = k,
						      .failed = k,
						      .refused = k }));
	json_decref(doc);
	doc = api_get(c.api, "/api/v1/edges?cross_namespace=true", 200);
	ASSERT_TRUE("GET /api/v1/edges?cross_namespace=true", doc);
	list = json_object_get(doc, "edges");
	ASSERT_EQ_U64("cross-namespace edges", 1, json_array_size(list));
	ASSERT_TRUE("the cross-namespace edge is web -> db",
		    find_edge(list, "shop/web", "data/db", DB_PORT));
	json_decref(doc);

	/* /api/v1/path: web reaches api */
	snprintf(q, sizeof(q), "/api/v1/path?from=shop/web&to=shop/api");
	doc = api_get(c.api, q, 200);
	ASSERT_TRUE("GET path web -> api", doc);
	ASSERT_EQ_U64("web -> api seen", 1, jb(doc, "seen"));
	ASSERT_STR("web -> api status", "ok", js(doc, "status"));
	ASSERT_EQ_U64("web -> api flows", n, ju(doc, "flows"));
	ASSERT_EQ_U64("web -> api failed", 0, ju(doc, "failed"));
	ASSERT_TRUE("web -> api failing_since_ms null", json_is_null(jat(doc, "failing_since_ms")));
	ASSERT_TRUE("web -> api last_success_ms", ju(doc, "last_success_ms") != UINT64_MAX);
	ASSERT_EQ_U64("web -> api ports", 1, json_array_size(json_object_get(doc, "ports")));
	ASSERT_EQ_U64("web -> api port", sport,
		      json_integer_value(json_array_get(json_object_get(doc, "ports"), 0)));
	/* the defaults: a window of 1 h in 1-minute buckets */
	ASSERT_EQ_U64("web -> api series: one entry a bucket", 60,
		      json_array_size(json_object_get(doc, "series")));
	ASSERT_EQ_U64("web -> api series flows", n, series_sum(doc, "flows"));
	json_decref(doc);
	doc = NULL;

	/* web cannot reach db: every connect refused, since the bucket of the first */
	doc = api_get(c.api, "/api/v1/path?from=shop/web&to=data/db", 200);
	ASSERT_TRUE("GET path web -> db", doc);
	ASSERT_EQ_U64("web -> db seen", 1, jb(doc, "seen"));
	ASSERT_STR("web -> db status", "failing", js(doc, "status"));
	ASSERT_EQ_U64("web -> db flows", k, ju(doc, "flows"));
	ASSERT_EQ_U64("web -> db failed", k, ju(doc, "failed"));
	ASSERT_EQ_U64("web -> db failures.refused", k, ju(doc, "failures.refused"));
	ASSERT_EQ_U64("web -> db failures.timeout", 0, ju(doc, "failures.timeout"));
	ASSERT_TRUE("web -> db last_success_ms null", json_is_null(jat(doc, "last_success_ms")));
	ASSERT_EQ_U64("web -> db port", DB_PORT,
		      json_integer_value(json_array_get(json_object_get(doc, "ports"), 0)));
	since = (int64_t)ju(doc, "failing_since_ms");
	/*
	 * A bucket's start, no earlier than the bucket of the first refused
	 * connect, no later than the last: the records land in the bucket of
	 * their end_ms, which lies between.
	 */
	lo = win_start + (t_refused0 - CLOCK_SLACK_MS - win_start) / res * res;
	fprintf(stderr,
		"    failing_since_ms %" PRId64 "; refused connects at [%" PRId64 ", %" PRId64
		"], bucket %" PRId64 " ms\n",
		since, t_refused0, t_refused1, res);
	ASSERT_TRUE("failing_since_ms set", (uint64_t)since != UINT64_MAX);
	ASSERT_EQ_U64("failing_since_ms a bucket's start", 0, (since - win_start) % res);
	ASSERT_TRUE("failing_since_ms from the first refused connect's bucket", since >= lo);
	ASSERT_TRUE("failing_since_ms no later than the last refused connect",
		    since <= t_refused1 + CLOCK_SLACK_MS);
	ASSERT_EQ_U64("web -> db series refused", k, series_sum(doc, "refused"));
	json_decref(doc);

	/* nothing ever went from api to web: api's records of web's calls are "in" */
	doc = api_get(c.api, "/api/v1/path?from=shop/api&to=shop/web", 200);
	ASSERT_TRUE("GET path api -> web", doc);
	ASSERT_EQ_U64("api -> web seen", 0, jb(doc, "seen"));
	ASSERT_STR("api -> web status", "never_seen", js(doc, "status"));
	json_decref(doc);

	/* /api/v1/dependencies: web calls both, nothing calls web */
	doc = api_get(c.api, "/api/v1/dependencies?app=shop/web", 200);
	ASSERT_TRUE("GET dependencies of shop/web", doc);
	ASSERT_EQ_U64("web matched", 1, json_array_size(json_object_get(doc, "matched")));
	ASSERT_STR("web matched[0]", "shop/web",
		   json_string_value(json_array_get(json_object_get(doc, "matched"), 0)));
	list = json_object_get(doc, "downstream");
	ASSERT_EQ_U64("web downstream", 2, json_array_size(list));
	ASSERT_TRUE("web downstream[0] is api (by bytes)",
		    find_edge(list, "shop/web", "shop/api", sport) == json_array_get(list, 0));
	ASSERT_TRUE("web downstream has db", find_edge(list, "shop/web", "data/db", DB_PORT));
	ASSERT_EQ_U64("web upstream", 0, json_array_size(json_object_get(doc, "upstream")));
	ASSERT_TRUE("web upstream a list", json_is_array(json_object_get(doc, "upstream")));
	json_decref(doc);
	/* a bare name: that app in every namespace */
	doc = api_get(c.api, "/api/v1/dependencies?app=api", 200);
	ASSERT_TRUE("GET dependencies of api", doc);
	ASSERT_STR("api matched[0]", "shop/api",
		   json_string_value(json_array_get(json_object_get(doc, "matched"), 0)));
	ASSERT_EQ_U64("api matched", 1, json_array_size(json_object_get(doc, "matched")));
	list = json_object_get(doc, "upstream");
	ASSERT_EQ_U64("api upstream", 1, json_array_size(list));
	ASSERT_EQ_U64(
	    "api upstream: web's calls", 0,
	    check_edge(json_array_get(list, 0), &(struct want_edge){ .from = &g_web,
								     .to = &g_api,
								     .port = sport,
								     .flows = n,
								     .bytes_sent = n * req,
								     .bytes_received = n * resp }));
	ASSERT_EQ_U64("api downstream", 0, json_array_size(json_object_get(doc, "downstream")));
	json_decref(doc);

	/* /api/v1/top?by=failures: only edges with failures, the db edge first */
	doc = api_get(c.api, "/api/v1/top?by=failures", 200);
	ASSERT_TRUE("GET top by failures", doc);
	list = json_object_get(doc, "edges");
	ASSERT_EQ_U64("edges with failures", 1, json_array_size(list));
	ASSERT_STR("top failures[0] to", "data/db", js(json_array_get(list, 0), "to"));
	ASSERT_EQ_U64("top failures[0] failed", k, ju(json_array_get(list, 0), "failed"));
	json_decref(doc);

	/* bad parameters: 400 with a JSON string saying what is wrong */
	doc = api_get(c.api, "/api/v1/top?by=nope", 400);
	ASSERT_TRUE("top?by=nope: 400, a JSON string", json_is_string(doc));
	fprintf(stderr, "    top?by=nope: 400 %s\n", json_string_value(doc));
	json_decref(doc);
	doc = api_get(c.api, "/api/v1/edges?limit=0", 400);
	ASSERT_TRUE("edges?limit=0: 400, a JSON string", json_is_string(doc));
	fprintf(stderr, "    edges?limit=0: 400 %s\n", json_string_value(doc));
	json_decref(doc);
	doc = NULL;

	/* the web UI in Chromium shows the same */
	snprintf(expect_file, sizeof(expect_file), "%s/expect.json", g_tmp);
	doc =
	    json_pack("{s:[s,s,s], s:[{s:s,s:s,s:i},{s:s,s:s,s:i}], s:{s:s,s:s}, s:{s:s,s:s,s:s}}",
		      "apps", "shop/web", "shop/api", "data/db", "edges", "from", "shop/web", "to",
		      "shop/api", "port", (int)sport, "from", "shop/web", "to", "data/db", "port",
		      DB_PORT, "working", "from", "shop/web", "to", "shop/api", "failing", "from",
		      "shop/web", "to", "data/db", "error", "refused");
	ASSERT_TRUE("expect.json", doc && json_dump_file(doc, expect_file, JSON_INDENT(2)) == 0);
	json_decref(doc);
	doc = NULL;
	ASSERT_EQ_U64("node tests/ui/ui-check.mjs --expect exit code", 0,
		      ui_check(c.api, "--expect", expect_file, "graph"));

	ASSERT_EQ_U64("sidecar web exit code", 0, harness_child_stop(&sw));
	ASSERT_EQ_U64("sidecar api exit code", 0, harness_child_stop(&sa));
	ASSERT_EQ_U64("sidecar db exit code", 0, harness_child_stop(&sd));
	ASSERT_EQ_U64("collector exit code", 0, harness_child_stop(&c.p));
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr,
			"    sidecar web:\n%s\n    sidecar api:\n%s\n    sidecar db:\n%s\n"
			"    collector:\n%s\n",
			sw.err_text ? sw.err_text : "", sa.err_text ? sa.err_text : "",
			sd.err_text ? sd.err_text : "", c.p.err_text ? c.p.err_text : "");
	if (spid > 0) {
		kill(spid, SIGKILL);
		waitpid(spid, NULL, 0);
	}
	netpod_kids_clear();
	json_decref(doc);
	sidecar_free(&sw);
	sidecar_free(&sa);
	sidecar_free(&sd);
	sidecar_free(&c.p);
	net_down();
	return ret;
}

/* ---- 2: a thousand apps ---- */

/*
 * Why not bench/pf-send: every one of its senders is the same app
 * (bench/pf-send, pod sender-<i>), so its thousand pods are one node of the
 * view.  These senders are pods of a thousand apps, each encoding its
 * batches itself (lib/wire) and posting them over one real HTTP/2
 * connection (lib/h2client), as test_attribution does.
 */
struct scale_post {
	void *body;
	size_t len;
	bool done;
	int err, status;
	char reply[260];
};

static void scale_done(void *ctx, int err, int status, const char *retry_after, const char *body)
{
	struct scale_post *p = ctx;

	(void)retry_after;
	p->done = true;
	p->err = err;
	p->status = status;
	snprintf(p->reply, sizeof(p->reply), "%s", body ? body : "");
}

/* App i: app-0042 in namespace scale-2 (ten namespaces), pod IP 10.91.<i/256>.<i%256>. */
static void scale_ip(uint32_t i, uint8_t ip[16])
{
	char text[32];

	snprintf(text, sizeof(text), "10.91.%u.%u", i / 256, i % 256);
	ip_parse_str(text, ip);
}

/*
 * Sender i's batch: its heartbeat (its IP over [t0, t0 + span)) and, with
 * a record, one call to app (i + 1) % N on port 8080 inside the span.
 * 0 or -errno; p->body is malloc'd.
 */
static int scale_batch(struct wire_encoder *e, uint32_t i, uint32_t seq, int64_t t0, int64_t span,
		       bool with_record, struct scale_post *p)
{
	char app[32], ns[32], pod[48];
	uint8_t ip[1][16];
	struct wire_header h = { 0 };
	const void *body;
	int err;

	snprintf(app, sizeof(app), "app-%04u", i);
	snprintf(ns, sizeof(ns), "scale-%u", i % 10);
	snprintf(pod, sizeof(pod), "app-%04u-0", i);
	scale_ip(i, ip[0]);
	wire_encoder__reset(e);
	if (with_record) {
		struct flow_record r = { 0 };

		r.start_ms = (uint64_t)(t0 + 1000);
		r.end_ms = (uint64_t)(t0 + 2000);
		r.family = 4;
		r.direction = FLOW_DIRECTION_OUT;
		memcpy(r.local_addr, ip[0], 16);
		scale_ip((i + 1) % SCALE_APPS, r.remote_addr);
		r.local_port = (uint16_t)(40000 + i);
		r.remote_port = 8080;
		r.flows = 1;
		r.closed = 1;
		r.bytes_sent = 1000 + i;
		r.bytes_received = 2000 + i;
		r.segs_sent = 2;
		r.segs_received = 2;
		r.srtt_us = 100 + i;
		r.pid = 4242;
		snprintf(r.comm, sizeof(r.comm), "scale");
		err = wire_encoder__add(e, &r);
		if (err)
			return err;
	}
	h.sender_id = 0x5ca1e00000000000ull + i;
	h.seq = seq;
	h.sender = (struct flow_identity){
		.app = app, .namespace = ns, .pod = pod, .node = "node-scale", .workload = app
	};
	h.span_start_ms = (uint64_t)t0;
	h.span_end_ms = (uint64_t)(t0 + span);
	h.n_ips = 1;
	h.ips = (const uint8_t(*)[16])ip;
	err = wire_encoder__finish(e, &h, &body, &p->len);
	if (err)
		return err;
	p->body = malloc(p->len ? p->len : 1);
	if (!p->body)
		return -ENOMEM;
	memcpy(p->body, body, p->len);
	return 0;
}

/* Posts every batch of `posts` (n), up to the connection's streams at once; 0 when all got 204. */
static int scale_post_all(struct h2c *h2, struct scale_post *posts, uint32_t n)
{
	static const struct h2c_header hdr[] = {
		{ "content-type", "application/x-podflow-batch" },
		{ "content-encoding", "zstd" },
	};
	uint64_t deadline = harness_now_ms() + WAIT_MS;
	uint32_t next = 0, done = 0;

	while (done < n) {
		int err;

		while (next < n) {
			err = h2c__post(h2, posts[next].body, posts[next].len, hdr, 2, scale_done,
					&posts[next]);
			if (err == -EBUSY)
				break;
			if (err) {
				fprintf(stderr, "    h2c__post: %s\n", strerror(-err));
				return err;
			}
			next++;
		}
		if (harness_now_ms() >= deadline) {
			fprintf(stderr, "    %u of %u batches answered in time\n", done, n);
			return -ETIMEDOUT;
		}
		h2c__run(h2, 10);
		/* the collector's stderr too: a full pipe would stop it mid-run */
		netpod_pump(0);
		for (done = 0; done < n && posts[done].done; done++)
			;
	}
	for (uint32_t i = 0; i < n; i++)
		if (posts[i].err || posts[i].status != 204) {
			fprintf(stderr, "    batch %u: err %d, status %d: %s\n", i, posts[i].err,
				posts[i].status, posts[i].reply);
			return -EIO;
		}
	return 0;
}

/*
 * 1000 apps in ten namespaces, app i calling app i + 1 (a ring): first every
 * sender's heartbeat, then its one record.  The records lie 60 s back, past
 * the heartbeat grace, as bench-attribution's pf-send --ago 60000: each is
 * attributed at once, by the heartbeat already there.  A heartbeat spans
 * 5 s: one longer than the grace plus the allowed skew (2 s + 5 s) is
 * refused.  The view lists every app and every edge; the UI renders them
 * all.
 */
static int test_thousand_apps(void)
{
	const int64_t span = 5000;
	struct netpod_collector c = { 0 };
	struct scale_post *posts = NULL;
	struct wire_encoder *e = NULL;
	struct h2c *h2 = NULL;
	json_t *doc = NULL, *list, *a;
	char url[128], why[256];
	uint64_t deadline, t_feed;
	int64_t t0 = harness_wall_ms() - 60000;
	size_t i;
	int ret = 1;

	ASSERT_EQ_U64("collector start", 0,
		      netpod_collector_start(&c, g_tmp, "scale", g_collector_opts));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/flows", c.port);
	h2 = h2c__new(&(struct h2c_opts){ .url = url,
					  .max_streams = 32,
					  .connect_timeout_ns = 5000000000ull,
					  .request_timeout_ns = 10000000000ull },
		      why, sizeof(why));
	if (!h2)
		fprintf(stderr, "    h2c__new: %s\n", why);
	ASSERT_TRUE("HTTP/2 client", h2 != NULL);
	e = wire_encoder__new(WIRE_ENC_ZSTD, 0);
	posts = calloc(2 * SCALE_APPS, sizeof(*posts));
	ASSERT_TRUE("encoder and batches", e && posts);
	for (uint32_t s = 0; s < SCALE_APPS; s++) {
		ASSERT_EQ_U64("heartbeat batch", 0,
			      scale_batch(e, s, /*seq=*/1, t0, span, false, &posts[s]));
		ASSERT_EQ_U64("record batch", 0,
			      scale_batch(e, s, /*seq=*/2, t0, span, true, &posts[SCALE_APPS + s]));
	}
	t_feed = harness_now_ms();
	ASSERT_EQ_U64("every heartbeat accepted", 0, scale_post_all(h2, posts, SCALE_APPS));
	ASSERT_EQ_U64("every record accepted", 0,
		      scale_post_all(h2, posts + SCALE_APPS, SCALE_APPS));
	fprintf(stderr, "    %u senders' batches posted in %" PRIu64 " ms\n", SCALE_APPS,
		harness_now_ms() - t_feed);

	deadline = harness_now_ms() + WAIT_MS;
	while (harness_metric_now(c.admin, ADDED) < SCALE_APPS) {
		ASSERT_TRUE("the view has every record in time", harness_now_ms() < deadline);
		netpod_pump(100);
	}
	ASSERT_EQ_U64("insight records added", SCALE_APPS, harness_metric_now(c.admin, ADDED));
	ASSERT_EQ_U64("records attributed by heartbeat", SCALE_APPS,
		      harness_metric_now(c.admin, "podflow_collector_attribution_records_total{"
						  "result=\"heartbeat\"}"));

	doc = api_get(c.api, "/api/v1/apps?limit=1000", 200);
	ASSERT_TRUE("GET /api/v1/apps?limit=1000", doc);
	list = json_object_get(doc, "apps");
	ASSERT_EQ_U64("apps", SCALE_APPS, json_array_size(list));
	ASSERT_EQ_U64("apps truncated", 0, jb(doc, "truncated") == 1);
	json_array_foreach(list, i, a)
	{
		char id[64];

		/* sorted by id: scale-0/app-0000, scale-0/app-0010, ..., scale-9/app-0999 */
		snprintf(id, sizeof(id), "scale-%zu/app-%04zu", i / 100, (i % 100) * 10 + i / 100);
		ASSERT_STR("app id", id, js(a, "id"));
		ASSERT_STR("app kind", "app", js(a, "kind"));
		ASSERT_EQ_U64("app calls_out", 1, ju(a, "calls_out"));
		ASSERT_EQ_U64("app calls_in", 1, ju(a, "calls_in"));
	}
	json_decref(doc);
	doc = api_get(c.api, "/api/v1/edges?limit=1000", 200);
	ASSERT_TRUE("GET /api/v1/edges?limit=1000", doc);
	ASSERT_EQ_U64("edges", SCALE_APPS, json_array_size(json_object_get(doc, "edges")));
	/* by bytes: app-0999's call (1999 bytes sent, 2999 received) first */
	ASSERT_STR("the heaviest edge", "scale-9/app-0999",
		   js(json_array_get(json_object_get(doc, "edges"), 0), "from"));
	ASSERT_EQ_U64("the heaviest edge's bytes_sent", 1999,
		      ju(json_array_get(json_object_get(doc, "edges"), 0), "bytes_sent"));
	json_decref(doc);
	doc = NULL;

	ASSERT_EQ_U64("node tests/ui/ui-check.mjs --scale exit code", 0,
		      ui_check(c.api, "--scale", NULL, "scale"));
	ASSERT_EQ_U64("collector exit code", 0, harness_child_stop(&c.p));
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    collector:\n%.20000s\n", c.p.err_text ? c.p.err_text : "");
	netpod_kids_clear();
	json_decref(doc);
	h2c__free(h2);
	wire_encoder__free(e);
	for (uint32_t s = 0; posts && s < 2 * SCALE_APPS; s++)
		free(posts[s].body);
	free(posts);
	sidecar_free(&c.p);
	return ret;
}

static const struct harness_test tests[] = {
	{ "graph_and_paths", test_graph_and_paths },
	{ "thousand_apps", test_thousand_apps },
};

int main(int argc, char **argv)
{
	int failed = harness_require_root();

	if (failed)
		return failed;
	/*
	 * Three pod cgroups.  Each setup also moves this process into a fresh
	 * network namespace: the sidecars, the collector and the browser share
	 * the last one as their "node", on its own loopback.
	 */
	if (harness_pod_setup("podflow-insight-web", CONTAINER_WEB, g_scope_web, g_cont_web,
			      sizeof(g_scope_web), g_tmp, sizeof(g_tmp)))
		return 1;
	if (harness_pod_setup("podflow-insight-api", CONTAINER_API, g_scope_api, g_cont_api,
			      sizeof(g_scope_api), NULL, 0)) {
		harness_cgroup_destroy(g_scope_web);
		harness_sh("rm -rf %s", g_tmp);
		return 1;
	}
	if (harness_pod_setup("podflow-insight-db", CONTAINER_DB, g_scope_db, g_cont_db,
			      sizeof(g_scope_db), NULL, 0)) {
		harness_cgroup_destroy(g_scope_web);
		harness_cgroup_destroy(g_scope_api);
		harness_sh("rm -rf %s", g_tmp);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	failed = harness_run("insight", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
	net_down();
	harness_cgroup_destroy(g_scope_web);
	harness_cgroup_destroy(g_scope_api);
	harness_cgroup_destroy(g_scope_db);
	harness_sh("rm -rf %s", g_tmp);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
