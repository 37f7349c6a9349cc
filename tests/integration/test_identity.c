// SPDX-License-Identifier: BSD-2-Clause
/* Proven heartbeats: two real sidecars with their own identity tokens, one claiming the other's IP. */
/*
 * A victim pod V (10.79.0.2) and an impostor pod I (10.79.0.1), each in
 * its own network namespace and cgroup, each with a real sidecar holding
 * the shared ingest token's place (none here) and its own identity token
 * (--identity-token-file), which the test Kubernetes API server
 * (tests/tools/kube-api) reviews as its pod's.  The pod watch runs, so
 * the collector requires proven heartbeats (attribution.verify_heartbeats:
 * auto).  The impostor's sidecar claims V's address besides its own
 * (POD_IPS).  I connects to V: the impostor's heartbeats are refused
 * (ip_mismatch, counted), no record names I as the owner of V's address,
 * and V's own heartbeats are used (records naming V by heartbeat).
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "kube_api.h"
#include "netpod.h"
#include "workload.h"

#define CONTAINER_I "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"
#define CONTAINER_V "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4"
#define IP_I	    "10.79.0.1"
#define IP_V	    "10.79.0.2"
#define WAIT_MS	    20000
#define UID_I	    "0b1c2d3e-0000-4000-8000-00000000000a"
#define UID_V	    "0b1c2d3e-0000-4000-8000-00000000000b"

static char g_scope_i[512], g_cont_i[640], g_scope_v[512], g_cont_v[640];
static char g_tmp[256];
static struct netpod_ns g_net_i, g_net_v;

static const struct netpod g_i = { .name = "batch-6b7c8d9e0-q1w2e",
				   .namespace = "jobs",
				   .app = "batch",
				   .workload = "batch-6b7c8d9e0",
				   .ip = IP_I,
				   .node = "node-id",
				   .scope = g_scope_i,
				   .container = g_cont_i,
				   .net = &g_net_i };
static const struct netpod g_v = { .name = "pay-5f4e3d2c1-z9x8c",
				   .namespace = "shop",
				   .app = "pay",
				   .workload = "pay-5f4e3d2c1",
				   .ip = IP_V,
				   .node = "node-id",
				   .scope = g_scope_v,
				   .container = g_cont_v,
				   .net = &g_net_v };

#define API(a, ...)                                              \
	do {                                                     \
		json_t *r_ = api_cmd(a, __VA_ARGS__);            \
		ASSERT_TRUE("kube-api command answered ok", r_); \
		json_decref(r_);                                 \
	} while (0)

/*
 * As netpod_sidecar_start, plus the identity token file, and `pod_ips`
 * (NULL: the pod's own IP) as POD_IPS: what the sidecar claims.
 */
static int sidecar_start_identity(struct sidecar *sc, const struct netpod *p, const char *url,
				  const char *token_file, const char *pod_ips)
{
	const char *const extra[] = { "--identity-token-file", token_file, NULL };

	return netpod_sidecar_start_with(sc, p, url, pod_ips ? pod_ips : p->ip, extra);
}

static int64_t metric_now(uint16_t admin, const char *series)
{
	char *text = NULL;
	int64_t v = -1;

	if (harness_http_get(admin, "/metrics", &text) == 200)
		v = harness_metric(text, series);
	free(text);
	return v;
}

static bool wait_metric_at_least(uint16_t admin, const char *series, int64_t want, int ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)ms;

	for (;;) {
		if (metric_now(admin, series) >= want)
			return true;
		if (harness_now_ms() >= deadline)
			return false;
		netpod_pump(100);
	}
}

static int write_token(const char *path, const char *token)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "%s\n", token);
	return fclose(f) ? -EIO : 0;
}

#define REFUSED(r) "podflow_collector_attribution_heartbeats_refused_total{reason=\"" r "\"}"

static int test_impostor_refused(void)
{
	const int n = 8;
	const size_t req = 700, resp = 1900;
	struct netpod_collector c = { 0 };
	struct sidecar si = { 0 }, sv = { 0 };
	struct peer srv = { 0 };
	struct api api = { 0 };
	char tok_i[600], tok_v[600], secret_i[64], secret_v[64];
	json_t *all = NULL, *own_j = NULL;
	char *own = NULL;
	pid_t spid = -1;
	uint16_t sport = 0;
	uint64_t to_v = 0, by_heartbeat = 0, named_v = 0, unattributed = 0;
	struct report_fault f;
	int ret = 1;

	snprintf(tok_i, sizeof(tok_i), "%s/identity-i", g_tmp);
	snprintf(tok_v, sizeof(tok_v), "%s/identity-v", g_tmp);
	snprintf(secret_i, sizeof(secret_i), "impostor-token-%d", (int)getpid());
	snprintf(secret_v, sizeof(secret_v), "victim-token-%d", (int)getpid());
	ASSERT_EQ_U64("identity token files", 0,
		      -(write_token(tok_i, secret_i) ?: write_token(tok_v, secret_v)));
	ASSERT_EQ_U64("network namespaces", 0,
		      netpod_net_up(&g_net_i, &g_net_v, "pfid", "t1",
				    (const char *const[]){ IP_I, NULL },
				    (const char *const[]){ IP_V, NULL }));

	ASSERT_EQ_U64("kube-api starts", 0, -api_start(&api));
	API(&api,
	    "{\"cmd\":\"add\",\"ns\":\"jobs\",\"name\":\"%s\",\"uid\":\"" UID_I
	    "\",\"ips\":[\"" IP_I "\"],\"labels\":{\"app.kubernetes.io/name\":\"batch\"},"
	    "\"node\":\"node-id\",\"ready\":\"2024-08-24T01:54:36Z\"}",
	    g_i.name);
	API(&api,
	    "{\"cmd\":\"add\",\"ns\":\"shop\",\"name\":\"%s\",\"uid\":\"" UID_V
	    "\",\"ips\":[\"" IP_V "\"],\"labels\":{\"app.kubernetes.io/name\":\"pay\"},"
	    "\"node\":\"node-id\",\"ready\":\"2024-08-24T01:54:36Z\"}",
	    g_v.name);
	/* each pod's projected token, as the API server would review it */
	API(&api,
	    "{\"cmd\":\"review_token\",\"token\":\"%s\",\"namespace\":\"jobs\",\"sa\":\"default\","
	    "\"pod\":\"%s\",\"uid\":\"" UID_I "\"}",
	    secret_i, g_i.name);
	API(&api,
	    "{\"cmd\":\"review_token\",\"token\":\"%s\",\"namespace\":\"shop\",\"sa\":\"default\","
	    "\"pod\":\"%s\",\"uid\":\"" UID_V "\"}",
	    secret_v, g_v.name);

	ASSERT_EQ_U64(
	    "collector start", 0,
	    netpod_collector_start(
		&c, g_tmp, "t1",
		(const char *const[]){ "--kube-api", api.url, "--heartbeat-grace", "2s", NULL }));
	ASSERT_EQ_U64("victim's sidecar", 0, sidecar_start_identity(&sv, &g_v, c.url, tok_v, NULL));
	/* the impostor claims the victim's address besides its own */
	ASSERT_EQ_U64("impostor's sidecar", 0,
		      sidecar_start_identity(&si, &g_i, c.url, tok_i, IP_I "," IP_V));

	/*
	 * Both tokens reviewed, the victim's heartbeats in use, the impostor's
	 * refused, before any connection: the records are then decided by
	 * proven heartbeats (the pod watch agreeing), not by the watch alone.
	 */
	ASSERT_TRUE("the impostor's claim refused (ip_mismatch)",
		    wait_metric_at_least(c.admin, REFUSED("ip_mismatch"), 1, WAIT_MS));
	ASSERT_TRUE("the victim's heartbeats used",
		    wait_metric_at_least(c.admin, "podflow_collector_attribution_heartbeats_total",
					 2, WAIT_MS));
	ASSERT_TRUE("tokens reviewed",
		    wait_metric_at_least(
			c.admin, "podflow_collector_identity_reviews_total{result=\"verified\"}", 2,
			WAIT_MS));
	srv = (struct peer){ .family = AF_INET,
			     .addr = IP_V,
			     .req = req,
			     .resp = resp,
			     .conns = n,
			     .netns = g_net_v.path };
	spid = start_server(&srv, g_v.container, &sport);
	ASSERT_TRUE("server in pod V", spid > 0);
	ASSERT_EQ_U64("client in pod I", 0,
		      netpod_client(&g_i, IP_V, sport, n, req, resp, /*want_err=*/0));
	ASSERT_EQ_U64("server exit code", 0, harness_wait(spid, WAIT_MS));
	spid = -1;

	/* let a few more heartbeats of both come, after their first (pending) ones */
	netpod_pump(1500);
	/*
	 * The kubelet rotates the token: a new file (a new inode, as its
	 * symlink swap makes) with a new token, which the sidecar re-reads
	 * within a second and the collector reviews.
	 */
	{
		char tmp[640], rotated[64];

		snprintf(rotated, sizeof(rotated), "victim-token-%d-rotated", (int)getpid());
		API(&api,
		    "{\"cmd\":\"review_token\",\"token\":\"%s\",\"namespace\":\"shop\","
		    "\"sa\":\"default\",\"pod\":\"%s\",\"uid\":\"" UID_V "\"}",
		    rotated, g_v.name);
		snprintf(tmp, sizeof(tmp), "%s.new", tok_v);
		ASSERT_EQ_U64("rotated token written", 0,
			      -(write_token(tmp, rotated) ?: (rename(tmp, tok_v) ? -errno : 0)));
		ASSERT_TRUE("the rotated token reviewed",
			    wait_metric_at_least(
				c.admin,
				"podflow_collector_identity_reviews_total{result=\"verified\"}", 3,
				WAIT_MS));
	}
	ASSERT_EQ_U64("sidecar I exit code", 0, harness_child_stop(&si));
	ASSERT_EQ_U64("sidecar V exit code", 0, harness_child_stop(&sv));
	fprintf(stderr, "    refused: ip_mismatch=%" PRId64 " pending=%" PRId64 "\n",
		metric_now(c.admin, REFUSED("ip_mismatch")),
		metric_now(c.admin, REFUSED("pending")));
	ASSERT_EQ_U64("no pod mismatch", 0, metric_now(c.admin, REFUSED("pod_mismatch")));
	ASSERT_EQ_U64("no unauthenticated", 0, metric_now(c.admin, REFUSED("unauthenticated")));
	/* the store: V's address is V's by heartbeat, never the impostor's */
	ASSERT_EQ_U64("GET /ownership", 200, harness_http_get(c.api, "/ownership?ip=" IP_V, &own));
	own_j = json_loads(own, 0, NULL);
	ASSERT_TRUE("/ownership answers JSON", own_j);
	{
		json_t *rg;
		size_t k;
		int hb_v = 0;

		json_array_foreach(json_object_get(own_j, "ranges"), k, rg)
		{
			ASSERT_TRUE("no range names the impostor",
				    strcmp(rec_str(rg, "pod"), g_i.name) != 0);
			hb_v += !strcmp(rec_str(rg, "source"), "heartbeat") &&
				!strcmp(rec_str(rg, "pod"), g_v.name);
		}
		ASSERT_TRUE("a heartbeat range of the victim's", hb_v > 0);
	}
	ASSERT_EQ_U64("collector exit code", 0, harness_child_stop(&c.p));

	all = json_array();
	harness_read_jsonl(c.data, all);
	for (size_t i = 0; i < json_array_size(all); i++) {
		json_t *r = json_array_get(all, i);

		if (strcmp(rec_str(r, "remote_ip"), IP_V) != 0)
			continue;
		to_v++;
		/* never the impostor: it is V's by every source that is used */
		ASSERT_TRUE("a record to V's address never names the impostor",
			    strcmp(rec_str(r, "remote_pod"), g_i.name) != 0);
		if (strcmp(rec_str(r, "remote_source"), "unattributed") == 0) {
			unattributed++;
			continue;
		}
		ASSERT_STR("remote_pod", g_v.name, rec_str(r, "remote_pod"));
		ASSERT_STR("remote_namespace", g_v.namespace, rec_str(r, "remote_namespace"));
		named_v++;
		by_heartbeat += strcmp(rec_str(r, "remote_source"), "heartbeat") == 0;
	}
	fprintf(stderr, "    records to V's address: %llu, by heartbeat: %llu\n",
		(unsigned long long)to_v, (unsigned long long)by_heartbeat);
	ASSERT_TRUE("records to V's address", to_v > 0);
	ASSERT_TRUE("the victim's heartbeats decided some", by_heartbeat > 0);
	f = (struct report_fault){
		.fault = "a pod's sidecar claims another pod's IP in its heartbeats",
		.unit = "records to the victim's address",
		.injected = to_v,
		.delivered = named_v,
		.counted = unattributed,
		.counted_as = "written unattributed, records_total{result}",
		.note = "delivered: naming the victim; the impostor's heartbeats refused "
			"(heartbeats_refused_total{reason=\"ip_mismatch\"}), never named",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("no record to V's address names the impostor", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar I:\n%s\n    sidecar V:\n%s\n    collector:\n%s\n",
			si.err_text ? si.err_text : "", sv.err_text ? sv.err_text : "",
			c.p.err_text ? c.p.err_text : "");
	if (spid > 0) {
		kill(spid, SIGKILL);
		waitpid(spid, NULL, 0);
	}
	netpod_kids_clear();
	sidecar_free(&si);
	sidecar_free(&sv);
	sidecar_free(&c.p);
	api_stop(&api);
	json_decref(all);
	json_decref(own_j);
	free(own);
	netpod_net_down(&g_net_i, &g_net_v);
	return ret;
}

static const struct harness_test tests[] = {
	{ "impostor_refused", test_impostor_refused },
};

int main(int argc, char **argv)
{
	int failed = harness_require_root();

	if (failed)
		return failed;
	if (harness_pod_setup("podflow-id-i", CONTAINER_I, g_scope_i, g_cont_i, sizeof(g_scope_i),
			      g_tmp, sizeof(g_tmp)))
		return 1;
	if (harness_pod_setup("podflow-id-v", CONTAINER_V, g_scope_v, g_cont_v, sizeof(g_scope_v),
			      NULL, 0)) {
		harness_cgroup_destroy(g_scope_i);
		harness_sh("rm -rf %s", g_tmp);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	failed = harness_run("identity", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
	harness_cgroup_destroy(g_scope_i);
	harness_cgroup_destroy(g_scope_v);
	harness_sh("rm -rf %s", g_tmp);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
