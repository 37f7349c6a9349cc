// SPDX-License-Identifier: BSD-2-Clause
/* Pod watch integration tests: feeds/kube_watch against tests/tools/kube-api (real pod JSON). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "harness_main.h"
#include "kube_api.h"
#include "kube_watch.h"

/* PodReadyToStartContainers in pod_native_sidecar_containerd_kind.json: 2024-08-24T01:54:36Z */
#define KIND_READY_MS  1724464476000LL
#define KIND_ASSIGN_MS (KIND_READY_MS + 1000)
#define LAG_MS	       1000
#define WAIT_MS	       10000

/* ---- the stand-in API server (kube_api.c) ---- */

/* A command whose answer only has to be "ok". */
#define API(a, ...)                                              \
	do {                                                     \
		json_t *r_ = api_cmd(a, __VA_ARGS__);            \
		ASSERT_TRUE("kube-api command answered ok", r_); \
		json_decref(r_);                                 \
	} while (0)

/* A number from the server's status. */
static long long api_stat(struct api *a, const char *key)
{
	json_t *r = api_cmd(a, "{\"cmd\":\"status\"}");
	long long v = r ? json_integer_value(json_object_get(r, key)) : -1;

	json_decref(r);
	return v;
}

/* ---- what the watcher said, in order ---- */

struct call {
	char op; /* 'A' assign, 'U' unassign */
	char ip[INET6_ADDRSTRLEN];
	char uid[64], name[128], ns[64], app[64], workload[128], node[96];
	int64_t t;
	int64_t at; /* CLOCK_REALTIME ms when the call was made */
};

struct recorder {
	pthread_mutex_t lock;
	struct call *v;
	size_t n, cap;
	struct kube_watch *w; /* to check the watermark never passes an assign being made */
};

static void ip_str(const uint8_t ip[16], char *out)
{
	static const uint8_t v4[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (memcmp(ip, v4, 12) == 0)
		inet_ntop(AF_INET, ip + 12, out, INET6_ADDRSTRLEN);
	else
		inet_ntop(AF_INET6, ip, out, INET6_ADDRSTRLEN);
}

static void record(struct recorder *r, char op, const uint8_t ip[16], const struct kube_pod *p,
		   int64_t t)
{
	struct call c = { .op = op, .t = t, .at = harness_wall_ms() };

	ip_str(ip, c.ip);
	snprintf(c.uid, sizeof(c.uid), "%s", p->uid);
	snprintf(c.name, sizeof(c.name), "%s", p->id.pod);
	snprintf(c.ns, sizeof(c.ns), "%s", p->id.namespace);
	snprintf(c.app, sizeof(c.app), "%s", p->id.app);
	snprintf(c.workload, sizeof(c.workload), "%s", p->id.workload);
	snprintf(c.node, sizeof(c.node), "%s", p->id.node);
	pthread_mutex_lock(&r->lock);
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 1024;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
		if (!r->v)
			abort();
	}
	r->v[r->n++] = c;
	pthread_mutex_unlock(&r->lock);
}

static void on_assign(void *ctx, const uint8_t ip[16], const struct kube_pod *p, int64_t t)
{
	record(ctx, 'A', ip, p, t);
}

static void on_unassign(void *ctx, const uint8_t ip[16], const struct kube_pod *p, int64_t t)
{
	record(ctx, 'U', ip, p, t);
}

static size_t rec_count(struct recorder *r, char op)
{
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++)
		n += !op || r->v[i].op == op;
	pthread_mutex_unlock(&r->lock);
	return n;
}

/* How many calls `op` for `name` (NULL: any) and `ip` (NULL: any); *out = the last. */
static size_t rec_find(struct recorder *r, char op, const char *name, const char *ip,
		       struct call *out)
{
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++) {
		const struct call *c = &r->v[i];

		if (c->op != op || (name && strcmp(c->name, name)) || (ip && strcmp(c->ip, ip)))
			continue;
		n++;
		if (out)
			*out = *c;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

static bool wait_calls(struct recorder *r, char op, const char *name, const char *ip, size_t n,
		       int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;

	while (rec_find(r, op, name, ip, NULL) < n) {
		if (harness_now_ms() >= deadline)
			return false;
		usleep(5000);
	}
	return true;
}

static void rec_free(struct recorder *r)
{
	free(r->v);
	pthread_mutex_destroy(&r->lock);
}

/* ---- the watcher ---- */

static struct kube_watch *watcher(struct api *a, struct recorder *r, const char *token_file,
				  uint32_t backoff_max_ms)
{
	struct kube_opts o = {
		.api_url = a->url,
		.token_file = token_file,
		.allow_http = true,
		.backoff_min_ms = 50,
		.backoff_max_ms = backoff_max_ms,
		.lag_ms = LAG_MS,
		.settle_ms = 100,
		.connect_timeout_ms = 2000,
	};
	struct kube_callbacks cb = { .assign = on_assign, .unassign = on_unassign, .ctx = r };
	struct kube_watch *w;
	char why[256];

	pthread_mutex_init(&r->lock, NULL);
	r->v = NULL;
	r->n = r->cap = 0;
	w = kube_watch__new(&o, &cb, why, sizeof(why));
	if (!w) {
		fprintf(stderr, "    kube_watch__new: %s\n", why);
		return NULL;
	}
	r->w = w;
	if (kube_watch__start(w)) {
		kube_watch__free(w);
		return NULL;
	}
	return w;
}

static bool wait_synced(struct kube_watch *w, bool want, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;

	while (kube_watch__synced(w) != want) {
		if (harness_now_ms() >= deadline)
			return false;
		usleep(5000);
	}
	return true;
}

#define STAT(w, field)                       \
	({                                   \
		struct kube_stats s_;        \
		kube_watch__stats((w), &s_); \
		s_.field;                    \
	})

/* Waits until stats.field >= want. */
#define WAIT_STAT(w, field, want, timeout_ms)                                      \
	({                                                                         \
		uint64_t d_ = harness_now_ms() + (timeout_ms);                     \
		while (STAT(w, field) < (uint64_t)(want) && harness_now_ms() < d_) \
			usleep(5000);                                              \
		STAT(w, field) >= (uint64_t)(want);                                \
	})

/* ---- the tests ---- */

/*
 * 1200 pods of 4 Deployments + both real samples + a dual-stack StatefulSet
 * pod + a hostNetwork DaemonSet pod + a pod with no IP yet: 1205 pods, 3
 * pages of 500.  Every identity and time exact.
 */
static int test_list_paginated(void)
{
	struct recorder r = { 0 };
	struct kube_watch *w = NULL;
	struct api a = { 0 };
	struct kube_stats st;
	struct call c;
	int64_t t0, t1, wm;
	int ret = 1;

	ASSERT_EQ_U64("kube-api starts", 0, api_start(&a));
	API(&a, "{\"cmd\":\"bulk\",\"ns\":\"shop\",\"prefix\":\"web\",\"n\":1200,"
		"\"deployments\":4,\"first\":0}");
	/* the samples as they are (their own uid, IPs, labels, node) */
	API(&a, "{\"cmd\":\"add\",\"template\":\"docker\",\"ns\":\"core\",\"name\":\"base\","
		"\"uid\":\"e9f2963f-55f2-11e9-84c5-02e422b8a84a\"}");
	API(&a, "{\"cmd\":\"add\",\"ns\":\"default\",\"name\":\"sleep\","
		"\"uid\":\"35079257-0ffb-4b09-b2c1-3c0d416f2523\"}");
	API(&a, "{\"cmd\":\"add\",\"ns\":\"db\",\"name\":\"pg-0\",\"ips\":[\"10.244.1.9\","
		"\"fd00:10:244:1::9\"],\"labels\":{\"app\":\"postgres\"},"
		"\"owner\":{\"kind\":\"StatefulSet\",\"name\":\"pg\"}}");
	API(&a,
	    "{\"cmd\":\"add\",\"ns\":\"kube-system\",\"name\":\"kube-proxy-abcde\","
	    "\"host_network\":true,\"owner\":{\"kind\":\"DaemonSet\",\"name\":\"kube-proxy\"}}");
	API(&a, "{\"cmd\":\"add\",\"ns\":\"default\",\"name\":\"pending\",\"ips\":[]}");

	t0 = harness_wall_ms();
	w = watcher(&a, &r, NULL, 500);
	ASSERT_TRUE("watcher created", w);
	ASSERT_TRUE("synced", wait_synced(w, true, WAIT_MS));
	t1 = harness_wall_ms();
	kube_watch__stats(w, &st);
	ASSERT_EQ_U64("lists", 1, st.lists);
	ASSERT_EQ_U64("list pages (1205 pods, limit 500)", 3, st.list_pages);
	ASSERT_EQ_U64("server: page requests", 3, api_stat(&a, "list_requests"));
	ASSERT_EQ_U64("pods in the table", 1205, st.pods);
	ASSERT_EQ_U64("hostNetwork pods", 1, st.host_network_pods);
	ASSERT_EQ_U64("IPs assigned", 1200 + 1 + 1 + 2, st.ips);
	ASSERT_EQ_U64("bad events", 0, st.bad_events);
	ASSERT_EQ_U64("relists", 0, st.relists_410 + st.relists_410_stream);
	ASSERT_EQ_U64("assign calls", 1204, rec_count(&r, 'A'));
	ASSERT_EQ_U64("unassign calls", 0, rec_count(&r, 'U'));

	for (int k = 0; k < 1200; k++) {
		char ip[32], name[64], app[16], node[16];
		int d = k % 4;

		snprintf(ip, sizeof(ip), "10.200.%d.%d", k / 250, k % 250 + 1);
		snprintf(app, sizeof(app), "web%d", d);
		snprintf(name, sizeof(name), "web%d-%05x%d-%05d", d, 0x7d9f8 + d, d, k);
		snprintf(node, sizeof(node), "node-%d", k % 3);
		ASSERT_EQ_U64(ip, 1, rec_find(&r, 'A', NULL, ip, &c));
		ASSERT_STR("bulk pod name", name, c.name);
		ASSERT_STR("bulk namespace", "shop", c.ns);
		ASSERT_STR("bulk app (app.kubernetes.io/name)", app, c.app);
		ASSERT_STR("bulk workload (ReplicaSet minus pod-template-hash)", app, c.workload);
		ASSERT_STR("bulk node", node, c.node);
		ASSERT_EQ_U64("bulk assign = PodReadyToStartContainers + 1 s", KIND_ASSIGN_MS, c.t);
	}
	/* the docker sample: podIP only (older API server), no PodReadyToStartContainers */
	ASSERT_EQ_U64("docker sample assigned", 1, rec_find(&r, 'A', "base", NULL, &c));
	ASSERT_STR("docker sample IP (status.podIP)", "100.116.192.42", c.ip);
	ASSERT_STR("docker sample uid", "e9f2963f-55f2-11e9-84c5-02e422b8a84a", c.uid);
	ASSERT_STR("docker sample app", "fluent-bit", c.app);
	ASSERT_STR("docker sample workload (no owner: the pod)", "base", c.workload);
	ASSERT_STR("docker sample node", "ip-10-49-18-80.eu-west-1.compute.internal", c.node);
	ASSERT_TRUE("docker sample assigned when seen", c.t >= t0 && c.t <= t1);
	/* the kind sample: podIPs and the condition */
	ASSERT_EQ_U64("kind sample assigned", 1, rec_find(&r, 'A', "sleep", NULL, &c));
	ASSERT_STR("kind sample IP", "10.244.0.8", c.ip);
	ASSERT_STR("kind sample app (no labels)", "", c.app);
	ASSERT_STR("kind sample workload", "sleep", c.workload);
	ASSERT_STR("kind sample node", "kind-control-plane", c.node);
	ASSERT_EQ_U64("kind sample assign time", KIND_ASSIGN_MS, c.t);
	/* dual stack */
	ASSERT_EQ_U64("dual-stack v4", 1, rec_find(&r, 'A', "pg-0", "10.244.1.9", &c));
	ASSERT_STR("StatefulSet workload", "pg", c.workload);
	ASSERT_STR("label app", "postgres", c.app);
	ASSERT_EQ_U64("dual-stack v6", 1, rec_find(&r, 'A', "pg-0", "fd00:10:244:1::9", NULL));
	ASSERT_EQ_U64("hostNetwork pod never emitted", 0,
		      rec_find(&r, 'A', "kube-proxy-abcde", NULL, NULL));
	ASSERT_EQ_U64("pending pod: nothing yet", 0, rec_find(&r, 'A', "pending", NULL, NULL));

	wm = kube_watch__watermark(w);
	ASSERT_TRUE("watermark >= the list request time", wm >= t0);
	ASSERT_TRUE("watermark not ahead of now - lag",
		    wm <= harness_wall_ms() - LAG_MS || wm <= t1);
	ret = 0;
cleanup:
	kube_watch__free(w);
	api_stop(&a);
	rec_free(&r);
	return ret;
}

/* Watch ADDED / MODIFIED / DELETED and the timing rules, exact to the millisecond. */
static int test_watch_events_timing(void)
{
	struct recorder r = { 0 };
	struct kube_watch *w = NULL;
	struct api a = { 0 };
	struct kube_stats st;
	struct call c;
	int64_t t0, t1;
	int ret = 1;

	ASSERT_EQ_U64("kube-api starts", 0, api_start(&a));
	w = watcher(&a, &r, NULL, 500);
	ASSERT_TRUE("watcher created", w);
	ASSERT_TRUE("synced on an empty cluster", wait_synced(w, true, WAIT_MS));

	/* ADDED, no network condition: assigned at the observation */
	t0 = harness_wall_ms();
	API(&a, "{\"cmd\":\"add\",\"ns\":\"app\",\"name\":\"api-1\",\"ips\":[\"10.1.0.1\"],"
		"\"ready\":null,\"labels\":{\"app\":\"api\",\"pod-template-hash\":\"5f7b9\"},"
		"\"owner\":{\"kind\":\"ReplicaSet\",\"name\":\"api-5f7b9\"},\"node\":\"n1\"}");
	ASSERT_TRUE("api-1 assigned", wait_calls(&r, 'A', "api-1", NULL, 1, WAIT_MS));
	t1 = harness_wall_ms();
	rec_find(&r, 'A', "api-1", "10.1.0.1", &c);
	ASSERT_TRUE("no condition: assign = observation", c.t >= t0 && c.t <= t1);
	ASSERT_STR("Deployment name", "api", c.workload);

	/* MODIFIED: a second IP; only it is assigned, at the condition's time */
	API(&a, "{\"cmd\":\"modify\",\"ns\":\"app\",\"name\":\"api-1\",\"ips\":[\"10.1.0.1\","
		"\"fd00::1:1\"],\"ready\":\"2024-08-24T01:54:36Z\"}");
	ASSERT_TRUE("v6 assigned", wait_calls(&r, 'A', "api-1", "fd00::1:1", 1, WAIT_MS));
	rec_find(&r, 'A', "api-1", "fd00::1:1", &c);
	ASSERT_EQ_U64("new IP at lastTransitionTime + 1 s", KIND_ASSIGN_MS, c.t);
	ASSERT_EQ_U64("old IP not assigned again", 1, rec_find(&r, 'A', "api-1", "10.1.0.1", NULL));

	/* MODIFIED that changes nothing we track: no call */
	API(&a, "{\"cmd\":\"modify\",\"ns\":\"app\",\"name\":\"api-1\",\"labels\":{\"app\":\"api\","
		"\"pod-template-hash\":\"5f7b9\",\"team\":\"blue\"}}");
	/* graceful delete: deletionTimestamp 02:00:30 with 30 s grace = asked at 02:00:00 */
	API(&a, "{\"cmd\":\"add\",\"ns\":\"app\",\"name\":\"old-1\",\"ips\":[\"10.1.0.2\"],"
		"\"ready\":\"2024-08-24T01:54:36Z\"}");
	API(&a, "{\"cmd\":\"modify\",\"ns\":\"app\",\"name\":\"old-1\",\"deletion\":{\"ts\":"
		"\"2024-08-24T02:00:30Z\",\"grace\":30}}");
	ASSERT_TRUE("old-1 unassigned", wait_calls(&r, 'U', "old-1", "10.1.0.2", 1, WAIT_MS));
	rec_find(&r, 'U', "old-1", NULL, &c);
	ASSERT_EQ_U64("unassign = deletionTimestamp - grace", 1724464800000LL, c.t);
	API(&a, "{\"cmd\":\"delete\",\"ns\":\"app\",\"name\":\"old-1\"}");

	/* a Job's pod Succeeded: the earliest container finishedAt */
	API(&a, "{\"cmd\":\"add\",\"ns\":\"batch\",\"name\":\"backup-28-x7k2p\",\"ips\":"
		"[\"10.1.0.3\"],\"ready\":\"2024-08-24T01:54:36Z\",\"owner\":{\"kind\":\"Job\","
		"\"name\":\"backup-28\"}}");
	API(&a, "{\"cmd\":\"modify\",\"ns\":\"batch\",\"name\":\"backup-28-x7k2p\",\"phase\":"
		"\"Succeeded\",\"finished\":\"2024-08-24T01:58:00Z\"}");
	ASSERT_TRUE("job pod unassigned", wait_calls(&r, 'U', "backup-28-x7k2p", NULL, 1, WAIT_MS));
	rec_find(&r, 'U', "backup-28-x7k2p", NULL, &c);
	ASSERT_EQ_U64("unassign = finishedAt", 1724464680000LL, c.t);
	ASSERT_STR("Job workload", "backup-28", c.workload);
	API(&a, "{\"cmd\":\"delete\",\"ns\":\"batch\",\"name\":\"backup-28-x7k2p\"}");

	/* first seen already terminating: never assigned (its IP may be reused) */
	API(&a, "{\"cmd\":\"add\",\"ns\":\"app\",\"name\":\"dying\",\"ips\":[\"10.1.0.4\"],"
		"\"deletion\":{\"ts\":\"2024-08-24T02:00:30Z\",\"grace\":30}}");
	/* the older condition name */
	API(&a, "{\"cmd\":\"add\",\"ns\":\"app\",\"name\":\"old-k8s\",\"ips\":[\"10.1.0.5\"],"
		"\"ready\":\"2024-08-24T01:54:36Z\",\"ready_type\":\"PodHasNetwork\"}");
	ASSERT_TRUE("PodHasNetwork pod", wait_calls(&r, 'A', "old-k8s", NULL, 1, WAIT_MS));
	rec_find(&r, 'A', "old-k8s", NULL, &c);
	ASSERT_EQ_U64("PodHasNetwork + 1 s", KIND_ASSIGN_MS, c.t);
	/* relabelled: the old identity ends, the new one starts, at the observation */
	t0 = harness_wall_ms();
	API(&a, "{\"cmd\":\"modify\",\"ns\":\"app\",\"name\":\"old-k8s\",\"labels\":"
		"{\"app\":\"renamed\"}}");
	ASSERT_TRUE("relabel: unassign", wait_calls(&r, 'U', "old-k8s", NULL, 1, WAIT_MS));
	ASSERT_TRUE("relabel: assign", wait_calls(&r, 'A', "old-k8s", NULL, 2, WAIT_MS));
	t1 = harness_wall_ms();
	rec_find(&r, 'U', "old-k8s", NULL, &c);
	ASSERT_STR("unassign carries the old app", "", c.app);
	ASSERT_TRUE("relabel time", c.t >= t0 && c.t <= t1);
	rec_find(&r, 'A', "old-k8s", NULL, &c);
	ASSERT_STR("assign carries the new app", "renamed", c.app);
	/* hostNetwork over the watch: counted, not emitted */
	API(&a, "{\"cmd\":\"add\",\"ns\":\"kube-system\",\"name\":\"node-exporter-1\","
		"\"host_network\":true}");
	/* DELETED of a running pod with no deletionTimestamp: the observation */
	t0 = harness_wall_ms();
	API(&a, "{\"cmd\":\"delete\",\"ns\":\"app\",\"name\":\"api-1\"}");
	ASSERT_TRUE("api-1 unassigned", wait_calls(&r, 'U', "api-1", NULL, 2, WAIT_MS));
	t1 = harness_wall_ms();
	rec_find(&r, 'U', "api-1", "10.1.0.1", &c);
	ASSERT_TRUE("deleted: observation time", c.t >= t0 && c.t <= t1);
	/* a marker: everything before it has been applied */
	API(&a, "{\"cmd\":\"add\",\"ns\":\"app\",\"name\":\"marker\",\"ips\":[\"10.1.0.99\"]}");
	ASSERT_TRUE("marker", wait_calls(&r, 'A', "marker", NULL, 1, WAIT_MS));

	kube_watch__stats(w, &st);
	ASSERT_EQ_U64("ADDED events", 7, st.added);
	ASSERT_EQ_U64("MODIFIED events", 5, st.modified);
	ASSERT_EQ_U64("DELETED events", 3, st.deleted);
	ASSERT_EQ_U64("assigns in all", 2 + 1 + 1 + 2 + 1, rec_count(&r, 'A'));
	ASSERT_EQ_U64("unassigns in all (each IP once)", 1 + 1 + 1 + 2, rec_count(&r, 'U'));
	ASSERT_EQ_U64("dying pod never assigned", 0, rec_find(&r, 'A', "dying", NULL, NULL));
	ASSERT_EQ_U64("hostNetwork pods", 1, st.host_network_pods);
	ASSERT_EQ_U64("pods: dying, old-k8s, node-exporter, marker", 4, st.pods);
	ASSERT_EQ_U64("IPs: old-k8s, marker", 2, st.ips);
	ASSERT_EQ_U64("bad events", 0, st.bad_events);
	ASSERT_EQ_U64("one watch connection", 1, st.watches);
	ret = 0;
cleanup:
	kube_watch__free(w);
	api_stop(&a);
	rec_free(&r);
	return ret;
}

/* Events cut into 1-byte chunks, then into mixed small chunks with delays. */
static int test_chunks_split(void)
{
	struct recorder r = { 0 };
	struct kube_watch *w = NULL;
	struct api a = { 0 };
	struct kube_stats st;
	struct call c;
	uint64_t bytes0;
	int ret = 1;

	ASSERT_EQ_U64("kube-api starts", 0, api_start(&a));
	w = watcher(&a, &r, NULL, 500);
	ASSERT_TRUE("watcher created", w);
	ASSERT_TRUE("synced", wait_synced(w, true, WAIT_MS));
	bytes0 = STAT(w, bytes);
	API(&a, "{\"cmd\":\"split\",\"sizes\":[1],\"delay_us\":0}");
	for (int i = 0; i < 3; i++)
		API(&a,
		    "{\"cmd\":\"add\",\"ns\":\"s\",\"name\":\"one-%d\",\"ips\":[\"10.2.0.%d\"],"
		    "\"labels\":{\"app.kubernetes.io/name\":\"one\"}}",
		    i, i + 1);
	API(&a, "{\"cmd\":\"modify\",\"ns\":\"s\",\"name\":\"one-1\",\"ips\":[\"10.2.0.2\","
		"\"fd00::2:2\"]}");
	API(&a, "{\"cmd\":\"delete\",\"ns\":\"s\",\"name\":\"one-2\",\"deletion\":{\"ts\":"
		"\"2024-08-24T02:00:30Z\",\"grace\":30}}");
	ASSERT_TRUE("1-byte chunks: delete seen", wait_calls(&r, 'U', "one-2", NULL, 1, WAIT_MS));
	ASSERT_EQ_U64("assigns", 4, rec_count(&r, 'A'));
	ASSERT_EQ_U64("v6 assigned", 1, rec_find(&r, 'A', "one-1", "fd00::2:2", &c));
	ASSERT_STR("identity survives the split", "one", c.app);

	API(&a, "{\"cmd\":\"split\",\"sizes\":[1,2,3,5,7,11,64,4096],\"delay_us\":100}");
	for (int i = 0; i < 4; i++)
		API(&a,
		    "{\"cmd\":\"add\",\"ns\":\"s\",\"name\":\"mix-%d\",\"ips\":[\"10.2.1.%d\"]}", i,
		    i + 1);
	API(&a, "{\"cmd\":\"bookmark\"}");
	ASSERT_TRUE("mixed chunks", wait_calls(&r, 'A', "mix-3", NULL, 1, WAIT_MS));
	ASSERT_TRUE("bookmark", WAIT_STAT(w, bookmark, 1, WAIT_MS));
	kube_watch__stats(w, &st);
	ASSERT_EQ_U64("assigns", 8, rec_count(&r, 'A'));
	ASSERT_EQ_U64("unassigns", 1, rec_count(&r, 'U'));
	ASSERT_EQ_U64("events", 3 + 1 + 1 + 4, st.added + st.modified + st.deleted);
	ASSERT_EQ_U64("bad events", 0, st.bad_events);
	ASSERT_EQ_U64("still the first connection", 1, st.watches);
	ASSERT_TRUE("bytes counted", st.bytes > bytes0 + 8 * 4000);
	ret = 0;
cleanup:
	kube_watch__free(w);
	api_stop(&a);
	rec_free(&r);
	return ret;
}

/*
 * A bookmark moves the resourceVersion on without a pod change: after it,
 * revisions older than the bookmark's expire and the connection drops, and
 * the watch resumes from the bookmark without a list.  Then the control:
 * with no bookmark the same expiry forces a relist.
 */
static int test_bookmarks(void)
{
	struct recorder r = { 0 };
	struct kube_watch *w = NULL;
	struct api a = { 0 };
	struct kube_stats st;
	json_t *bm = NULL;
	int ret = 1;

	ASSERT_EQ_U64("kube-api starts", 0, api_start(&a));
	API(&a, "{\"cmd\":\"add\",\"ns\":\"b\",\"name\":\"p0\",\"ips\":[\"10.3.0.1\"]}");
	w = watcher(&a, &r, NULL, 500);
	ASSERT_TRUE("watcher created", w);
	ASSERT_TRUE("synced", wait_synced(w, true, WAIT_MS));
	API(&a, "{\"cmd\":\"add\",\"ns\":\"b\",\"name\":\"p1\",\"ips\":[\"10.3.0.2\"]}");
	ASSERT_TRUE("p1", wait_calls(&r, 'A', "p1", NULL, 1, WAIT_MS));
	bm = api_cmd(&a, "{\"cmd\":\"bookmark\"}");
	ASSERT_TRUE("bookmark sent", bm);
	ASSERT_TRUE("bookmark received", WAIT_STAT(w, bookmark, 1, WAIT_MS));
	ASSERT_EQ_U64("no pod change from a bookmark", 2, rec_count(&r, 0));
	API(&a, "{\"cmd\":\"expire\",\"rv\":\"%s\"}", json_string_value(json_object_get(bm, "rv")));
	API(&a, "{\"cmd\":\"drop\"}");
	ASSERT_TRUE("reconnected", WAIT_STAT(w, watches, 2, WAIT_MS));
	ASSERT_TRUE("synced again", wait_synced(w, true, WAIT_MS));
	API(&a, "{\"cmd\":\"add\",\"ns\":\"b\",\"name\":\"p2\",\"ips\":[\"10.3.0.3\"]}");
	ASSERT_TRUE("p2 over the resumed watch", wait_calls(&r, 'A', "p2", NULL, 1, WAIT_MS));
	kube_watch__stats(w, &st);
	ASSERT_EQ_U64("no relist after the bookmark", 1, st.lists);
	ASSERT_EQ_U64("no 410", 0, st.relists_410 + st.relists_410_stream);
	ASSERT_EQ_U64("server: no 410 sent", 0, api_stat(&a, "gone"));
	ASSERT_EQ_U64("reconnects", 1, st.reconnects);

	/* control: expire past the last event with no bookmark since */
	API(&a, "{\"cmd\":\"bookmark\"}");
	API(&a, "{\"cmd\":\"hold\",\"on\":true}"); /* this bookmark never reaches the client */
	API(&a, "{\"cmd\":\"bookmark\"}");
	API(&a, "{\"cmd\":\"hold\",\"on\":false}");
	API(&a, "{\"cmd\":\"expire\"}");
	API(&a, "{\"cmd\":\"drop\"}");
	ASSERT_TRUE("relisted", WAIT_STAT(w, relists_410, 1, WAIT_MS));
	ASSERT_TRUE("synced after the relist", wait_synced(w, true, WAIT_MS));
	kube_watch__stats(w, &st);
	ASSERT_EQ_U64("lists", 2, st.lists);
	ASSERT_EQ_U64("no pod changed across the relist", 3, rec_count(&r, 'A'));
	ASSERT_EQ_U64("nothing unassigned", 0, rec_count(&r, 'U'));
	ret = 0;
cleanup:
	json_decref(bm);
	kube_watch__free(w);
	api_stop(&a);
	rec_free(&r);
	return ret;
}

/*
 * The server goes away; while it is away pods change and history is
 * compacted; when it is back the watch gets 410 (HTTP or in-stream) and
 * the watcher lists again.  A pod deleted in the gap is unassigned at the
 * watermark frozen at the gap's start, exactly.
 */
static int relist_after_gap(bool in_stream)
{
	struct recorder r = { 0 };
	struct kube_watch *w = NULL;
	struct api a = { 0 };
	struct kube_stats st;
	struct call c;
	int64_t frozen;
	uint64_t before, ip_changes = 0;
	struct report_fault f;
	int ret = 1;

	ASSERT_EQ_U64("kube-api starts", 0, api_start(&a));
	if (in_stream)
		API(&a, "{\"cmd\":\"expire_mode\",\"mode\":\"stream\"}");
	API(&a, "{\"cmd\":\"add\",\"ns\":\"g\",\"name\":\"gone\",\"ips\":[\"10.4.0.1\"]}");
	API(&a, "{\"cmd\":\"add\",\"ns\":\"g\",\"name\":\"stays\",\"ips\":[\"10.4.0.2\"]}");
	API(&a, "{\"cmd\":\"add\",\"ns\":\"g\",\"name\":\"leaving\",\"ips\":[\"10.4.0.3\"]}");
	API(&a, "{\"cmd\":\"add\",\"ns\":\"g\",\"name\":\"moves\",\"ips\":[\"10.4.0.4\"]}");
	w = watcher(&a, &r, NULL, 300);
	ASSERT_TRUE("watcher created", w);
	ASSERT_TRUE("synced", wait_synced(w, true, WAIT_MS));
	ASSERT_EQ_U64("assigned", 4, rec_count(&r, 'A'));
	before = rec_count(&r, 0);
	usleep(300 * 1000); /* the watermark moves on while healthy */

	API(&a, "{\"cmd\":\"down\"}");
	ASSERT_TRUE("the break is seen", wait_synced(w, false, WAIT_MS));
	frozen = kube_watch__watermark(w);
	ASSERT_TRUE("watermark was advancing", frozen > 0);
	/* what each change does to the IP view: its calls once the watcher has caught up */
	API(&a, "{\"cmd\":\"delete\",\"ns\":\"g\",\"name\":\"gone\"}");
	ip_changes += 1; /* 10.4.0.1 out */
	API(&a, "{\"cmd\":\"modify\",\"ns\":\"g\",\"name\":\"leaving\",\"deletion\":{\"ts\":"
		"\"2024-08-24T02:00:30Z\",\"grace\":30}}");
	ip_changes += 1; /* 10.4.0.3 out */
	API(&a, "{\"cmd\":\"modify\",\"ns\":\"g\",\"name\":\"moves\",\"ips\":[\"10.4.0.5\"]}");
	ip_changes += 2; /* 10.4.0.4 out, 10.4.0.5 in */
	API(&a, "{\"cmd\":\"add\",\"ns\":\"g\",\"name\":\"new\",\"ips\":[\"10.4.0.6\"],"
		"\"ready\":\"2024-08-24T01:54:36Z\"}");
	ip_changes += 1; /* 10.4.0.6 in */
	API(&a, "{\"cmd\":\"expire\"}");
	/* longer than lag_ms: a watermark that moved on in the gap would show */
	usleep((LAG_MS + 200) * 1000);
	ASSERT_EQ_U64("frozen while down", frozen, kube_watch__watermark(w));
	API(&a, "{\"cmd\":\"up\"}");
	if (in_stream)
		ASSERT_TRUE("in-stream 410 relist", WAIT_STAT(w, relists_410_stream, 1, WAIT_MS));
	else
		ASSERT_TRUE("HTTP 410 relist", WAIT_STAT(w, relists_410, 1, WAIT_MS));
	ASSERT_TRUE("synced again", wait_synced(w, true, WAIT_MS));
	ASSERT_TRUE("converged", wait_calls(&r, 'A', "new", NULL, 1, WAIT_MS));

	kube_watch__stats(w, &st);
	ASSERT_EQ_U64("lists", 2, st.lists);
	ASSERT_EQ_U64("HTTP 410 relists", in_stream ? 0 : 1, st.relists_410);
	ASSERT_EQ_U64("in-stream 410 relists", in_stream ? 1 : 0, st.relists_410_stream);
	ASSERT_EQ_U64("ERROR events", in_stream ? 1 : 0, st.error);
	ASSERT_EQ_U64(in_stream ? "server: in-stream 410" : "server: HTTP 410", 1,
		      api_stat(&a, in_stream ? "gone_stream" : "gone"));
	ASSERT_EQ_U64("deleted in the gap: unassigned", 1, rec_find(&r, 'U', "gone", NULL, &c));
	ASSERT_EQ_U64("... at the watermark frozen at the gap", frozen, c.t);
	ASSERT_EQ_U64("deleting in the gap", 1, rec_find(&r, 'U', "leaving", NULL, &c));
	ASSERT_EQ_U64("... at deletionTimestamp - grace", 1724464800000LL, c.t);
	ASSERT_EQ_U64("IP gone in the gap", 1, rec_find(&r, 'U', "moves", "10.4.0.4", &c));
	ASSERT_EQ_U64("... at the frozen watermark", frozen, c.t);
	ASSERT_EQ_U64("new IP of the same pod", 1, rec_find(&r, 'A', "moves", "10.4.0.5", NULL));
	ASSERT_EQ_U64("created in the gap", 1, rec_find(&r, 'A', "new", "10.4.0.6", &c));
	ASSERT_EQ_U64("... at its condition + 1 s", KIND_ASSIGN_MS, c.t);
	ASSERT_EQ_U64("untouched pod: no call", 1, rec_find(&r, 'A', "stays", NULL, NULL));
	ASSERT_EQ_U64("untouched pod: no unassign", 0, rec_find(&r, 'U', "stays", NULL, NULL));
	ASSERT_EQ_U64("calls in all", 4 + 2 + 3, rec_count(&r, 0));
	ASSERT_EQ_U64("pods", 4, st.pods);
	ASSERT_EQ_U64("IPs", 3, st.ips);
	ASSERT_TRUE("watermark moves again", kube_watch__watermark(w) > frozen);
	f = (struct report_fault){
		.fault = in_stream ? "API server away, history compacted: 410 in the watch stream"
				   : "API server away, history compacted: watch answered HTTP 410",
		.unit = "IP changes",
		.injected = ip_changes,
		.delivered = rec_count(&r, 0) - before,
		.note = "relisted once; what went in the gap unassigned at the watermark frozen "
			"at its start",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every change in the gap seen after the relist", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	kube_watch__free(w);
	api_stop(&a);
	rec_free(&r);
	return ret;
}

static int test_relist_http_410(void)
{
	return relist_after_gap(false);
}

static int test_relist_stream_410(void)
{
	return relist_after_gap(true);
}

/* An ERROR 410 on a live stream (events it never delivered): relist and converge. */
static int test_live_error_410(void)
{
	struct recorder r = { 0 };
	struct kube_watch *w = NULL;
	struct api a = { 0 };
	struct kube_stats st;
	uint64_t before, ip_changes = 0;
	struct report_fault f;
	int ret = 1;

	ASSERT_EQ_U64("kube-api starts", 0, api_start(&a));
	API(&a, "{\"cmd\":\"add\",\"ns\":\"l\",\"name\":\"a\",\"ips\":[\"10.5.0.1\"]}");
	w = watcher(&a, &r, NULL, 300);
	ASSERT_TRUE("watcher created", w);
	ASSERT_TRUE("synced", wait_synced(w, true, WAIT_MS));
	before = rec_count(&r, 0);
	API(&a, "{\"cmd\":\"hold\",\"on\":true}");
	API(&a, "{\"cmd\":\"delete\",\"ns\":\"l\",\"name\":\"a\"}");
	ip_changes += 1; /* 10.5.0.1 out */
	API(&a, "{\"cmd\":\"add\",\"ns\":\"l\",\"name\":\"b\",\"ips\":[\"10.5.0.2\"]}");
	ip_changes += 1; /* 10.5.0.2 in */
	API(&a, "{\"cmd\":\"hold\",\"on\":false}");
	API(&a, "{\"cmd\":\"error410\"}");
	ASSERT_TRUE("relisted", WAIT_STAT(w, relists_410_stream, 1, WAIT_MS));
	ASSERT_TRUE("b", wait_calls(&r, 'A', "b", NULL, 1, WAIT_MS));
	ASSERT_TRUE("a", wait_calls(&r, 'U', "a", NULL, 1, WAIT_MS));
	ASSERT_TRUE("synced", wait_synced(w, true, WAIT_MS));
	kube_watch__stats(w, &st);
	ASSERT_EQ_U64("lists", 2, st.lists);
	ASSERT_EQ_U64("ERROR events", 1, st.error);
	ASSERT_EQ_U64("calls", 3, rec_count(&r, 0));
	f = (struct report_fault){
		.fault = "ERROR 410 on a live watch, with events it never delivered",
		.unit = "IP changes",
		.injected = ip_changes,
		.delivered = rec_count(&r, 0) - before,
		.note = "relisted once (relists_410_stream)",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("the held changes seen after the relist", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	kube_watch__free(w);
	api_stop(&a);
	rec_free(&r);
	return ret;
}

/* Connections cut (and ended cleanly) again and again: resumed from the last RV, no relist. */
static int test_dropped_connections(void)
{
	struct recorder r = { 0 };
	struct kube_watch *w = NULL;
	struct api a = { 0 };
	struct kube_stats st;
	uint64_t ip_changes = 0;
	struct report_fault f;
	int ret = 1;

	ASSERT_EQ_U64("kube-api starts", 0, api_start(&a));
	w = watcher(&a, &r, NULL, 300);
	ASSERT_TRUE("watcher created", w);
	ASSERT_TRUE("synced", wait_synced(w, true, WAIT_MS));
	for (int i = 0; i < 5; i++) {
		/* the event lands while the watcher is reconnecting: replayed from its RV */
		API(&a, "{\"cmd\":\"%s\"}", i == 4 ? "end" : "drop");
		API(&a, "{\"cmd\":\"add\",\"ns\":\"d\",\"name\":\"p%d\",\"ips\":[\"10.6.0.%d\"]}",
		    i, i + 1);
		ip_changes++;
		ASSERT_TRUE("assigned after the drop",
			    wait_calls(&r, 'A', NULL, NULL, (size_t)i + 1, WAIT_MS));
		ASSERT_TRUE("reconnected", WAIT_STAT(w, watches, i + 2, WAIT_MS));
	}
	API(&a, "{\"cmd\":\"delete\",\"ns\":\"d\",\"name\":\"p0\"}");
	ip_changes++;
	ASSERT_TRUE("delete seen", wait_calls(&r, 'U', "p0", NULL, 1, WAIT_MS));
	kube_watch__stats(w, &st);
	ASSERT_EQ_U64("each pod assigned once", 5, rec_count(&r, 'A'));
	ASSERT_EQ_U64("one unassign", 1, rec_count(&r, 'U'));
	ASSERT_EQ_U64("lists", 1, st.lists);
	ASSERT_EQ_U64("reconnects", 5, st.reconnects);
	ASSERT_EQ_U64("clean ends", 1, st.stream_ends);
	ASSERT_EQ_U64("cut connections", 4, st.transport_errors);
	ASSERT_EQ_U64("no 410", 0, st.relists_410 + st.relists_410_stream);
	f = (struct report_fault){
		.fault = "watch connection cut 4 times and ended once, events meanwhile",
		.unit = "IP changes",
		.injected = ip_changes,
		.delivered = rec_count(&r, 0),
		.note = "resumed from the last resourceVersion each time, no relist, none twice",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every change seen once", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	kube_watch__free(w);
	api_stop(&a);
	rec_free(&r);
	return ret;
}

/* Writes a token the way the kubelet does: a new file renamed over the old. */
static int write_token(const char *dir, const char *tok)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s/.token.tmp", dir);
	snprintf(path, sizeof(path), "%s/token", dir);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%s\n", tok);
	if (fclose(f))
		return -EIO;
	return rename(tmp, path) ? -errno : 0;
}

/*
 * The token rotates (file first, then the server): the watcher keeps
 * working with no 401.  Then the server wants a token the file does not
 * have: 401s, counted, backing off, the view frozen; the file catches up:
 * back without a relist.
 */
static int test_token_rotation(void)
{
	struct recorder r = { 0 };
	struct kube_watch *w = NULL;
	struct api a = { 0 };
	char dir[64], path[PATH_MAX];
	struct kube_stats st;
	int64_t frozen;
	uint64_t n401, rotated_changes = 0, refused_server;
	struct report_fault f;
	int ret = 1;

	snprintf(dir, sizeof(dir), "/tmp/podflow-kube-%d", getpid());
	snprintf(path, sizeof(path), "%s/token", dir);
	mkdir(dir, 0700);
	ASSERT_EQ_U64("token written", 0, write_token(dir, "tok-one"));
	ASSERT_EQ_U64("kube-api starts", 0, api_start(&a));
	API(&a, "{\"cmd\":\"token\",\"value\":\"tok-one\"}");
	API(&a, "{\"cmd\":\"add\",\"ns\":\"t\",\"name\":\"p0\",\"ips\":[\"10.7.0.1\"]}");
	w = watcher(&a, &r, path, 400);
	ASSERT_TRUE("watcher created", w);
	ASSERT_TRUE("synced with the token", wait_synced(w, true, WAIT_MS));

	ASSERT_EQ_U64("token rotated", 0, write_token(dir, "tok-two"));
	API(&a, "{\"cmd\":\"token\",\"value\":\"tok-two\"}");
	API(&a, "{\"cmd\":\"drop\"}");
	API(&a, "{\"cmd\":\"add\",\"ns\":\"t\",\"name\":\"p1\",\"ips\":[\"10.7.0.2\"]}");
	rotated_changes++;
	ASSERT_TRUE("works after rotation", wait_calls(&r, 'A', "p1", NULL, 1, WAIT_MS));
	ASSERT_EQ_U64("server: no 401", 0, api_stat(&a, "unauthorized"));
	ASSERT_EQ_U64("no auth failure", 0, STAT(w, auth_failures));
	f = (struct report_fault){
		.fault = "API server token rotated mid-watch (file first, then the server)",
		.unit = "IP changes",
		.injected = rotated_changes,
		.delivered = rec_find(&r, 'A', "p1", NULL, NULL),
		.counted = STAT(w, auth_failures),
		.counted_as = "auth_failures (none)",
		.note = "no 401",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("the change after the rotation seen", 0, f.lost);
	harness_report(&f);

	API(&a, "{\"cmd\":\"token\",\"value\":\"tok-three\"}");
	API(&a, "{\"cmd\":\"drop\"}");
	ASSERT_TRUE("401s counted", WAIT_STAT(w, auth_failures, 3, WAIT_MS));
	ASSERT_TRUE("not synced while refused", !kube_watch__synced(w));
	frozen = kube_watch__watermark(w);
	usleep(300 * 1000);
	ASSERT_EQ_U64("watermark frozen while refused", frozen, kube_watch__watermark(w));
	kube_watch__stats(w, &st);
	ASSERT_TRUE("last error says 401", strstr(st.last_error, "HTTP 401") != NULL);
	n401 = st.auth_failures;
	ASSERT_EQ_U64("token fixed", 0, write_token(dir, "tok-three"));
	ASSERT_TRUE("synced again", wait_synced(w, true, WAIT_MS));
	API(&a, "{\"cmd\":\"add\",\"ns\":\"t\",\"name\":\"p2\",\"ips\":[\"10.7.0.3\"]}");
	ASSERT_TRUE("works with the new file", wait_calls(&r, 'A', "p2", NULL, 1, WAIT_MS));
	kube_watch__stats(w, &st);
	ASSERT_TRUE("no more 401", st.auth_failures <= n401 + 1);
	ASSERT_EQ_U64("backed off: few 401s in 300+ ms", 1, st.auth_failures < 12);
	refused_server = (uint64_t)api_stat(&a, "unauthorized");
	ASSERT_EQ_U64("server agrees", st.auth_failures, refused_server);
	ASSERT_EQ_U64("no relist", 1, st.lists);
	ASSERT_EQ_U64("calls", 3, rec_count(&r, 0));
	f = (struct report_fault){
		.fault = "API server wants a token the mounted file does not have yet",
		.unit = "requests",
		.injected = refused_server,
		.counted = st.auth_failures,
		.counted_as = "auth_failures, last error HTTP 401; backing off, the view frozen",
		.note = "back without a relist once the file caught up",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every 401 the server sent counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	kube_watch__free(w);
	api_stop(&a);
	rec_free(&r);
	unlink(path);
	rmdir(dir);
	return ret;
}

/* Garbage, truncated and wrong-shaped lines are counted and skipped; an oversized one drops. */
static int test_garbage_and_oversized(void)
{
	static const char *const bad[] = {
		"garbage\\n",
		"{\\\"type\\\":\\\"ADDED\\\",\\\"object\\\":{\\\"metadata\\\"\\n",
		"{\\\"type\\\":\\\"ADDED\\\",\\\"object\\\":{\\\"metadata\\\":{}}}\\n",
		"{\\\"type\\\":\\\"NOPE\\\",\\\"object\\\":{}}\\n",
		"[1,2,3]\\n",
		"{\\\"type\\\":\\\"BOOKMARK\\\",\\\"object\\\":{\\\"metadata\\\":{}}}\\n",
		"{\\\"type\\\":\\\"ADDED\\\",\\\"object\\\":{\\\"kind\\\":\\\"Event\\\","
		"\\\"metadata\\\":{\\\"uid\\\":\\\"u\\\",\\\"name\\\":\\\"n\\\","
		"\\\"namespace\\\":\\\"x\\\"}}}\\n",
		"{\\\"type\\\":\\\"ADDED\\\",\\\"object\\\":{\\\"metadata\\\":{\\\"uid\\\":"
		"\\\"\\\\u0000\\\"}}}\\n",
		"{\\\"type\\\":7,\\\"object\\\":[]}\\n",
		"\\u00ff\\u00fe\\n",
	};
	struct recorder r = { 0 };
	struct kube_watch *w = NULL;
	struct api a = { 0 };
	struct kube_stats st;
	uint64_t injected = 0;
	struct report_fault f;
	int ret = 1;

	ASSERT_EQ_U64("kube-api starts", 0, api_start(&a));
	w = watcher(&a, &r, NULL, 300);
	ASSERT_TRUE("watcher created", w);
	ASSERT_TRUE("synced", wait_synced(w, true, WAIT_MS));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		API(&a, "{\"cmd\":\"raw\",\"data\":\"%s\"}", bad[i]);
		injected++;
	}
	API(&a, "{\"cmd\":\"raw\",\"data\":\"\\n  \\n\\r\\n\"}"); /* blank: not events */
	/* one good event cut in two raw writes */
	API(&a, "{\"cmd\":\"raw\",\"data\":\"{\\\"type\\\":\\\"BOOK\"}");
	API(&a, "{\"cmd\":\"raw\",\"data\":\"MARK\\\",\\\"object\\\":{\\\"metadata\\\":"
		"{\\\"resourceVersion\\\":\\\"1\\\"}}}\\n\"}");
	API(&a, "{\"cmd\":\"add\",\"ns\":\"x\",\"name\":\"after\",\"ips\":[\"10.8.0.1\"]}");
	ASSERT_TRUE("a good event after the garbage",
		    wait_calls(&r, 'A', "after", NULL, 1, WAIT_MS));
	kube_watch__stats(w, &st);
	ASSERT_EQ_U64("bad events", sizeof(bad) / sizeof(bad[0]), st.bad_events);
	ASSERT_EQ_U64("the joined bookmark", 1, st.bookmark);
	ASSERT_EQ_U64("same connection", 1, st.watches);
	ASSERT_EQ_U64("calls", 1, rec_count(&r, 0));

	/* 5 MiB in one line: over the 4 MiB cap, connection dropped, watch resumed */
	API(&a, "{\"cmd\":\"huge\",\"bytes\":5242880}");
	injected++;
	ASSERT_TRUE("oversized counted", WAIT_STAT(w, oversized_events, 1, WAIT_MS));
	ASSERT_TRUE("reconnected", WAIT_STAT(w, watches, 2, WAIT_MS));
	API(&a, "{\"cmd\":\"add\",\"ns\":\"x\",\"name\":\"after-huge\",\"ips\":[\"10.8.0.2\"]}");
	ASSERT_TRUE("works after", wait_calls(&r, 'A', "after-huge", NULL, 1, WAIT_MS));
	kube_watch__stats(w, &st);
	ASSERT_EQ_U64("oversized", 1, st.oversized_events);
	ASSERT_EQ_U64("no relist", 1, st.lists);
	ASSERT_EQ_U64("calls", 2, rec_count(&r, 0));
	f = (struct report_fault){
		.fault = "watch lines that are garbage, cut short, wrong-shaped or over 4 MiB",
		.unit = "watch events",
		.injected = injected,
		.counted = st.bad_events + st.oversized_events,
		.counted_as = "bad_events, oversized_events (that connection dropped, resumed)",
		.note = "the good events after them applied, no relist",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each bad line counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	kube_watch__free(w);
	api_stop(&a);
	rec_free(&r);
	return ret;
}

/*
 * 0 before the first list; the list's time after it; while healthy it
 * follows now - lag and never lags an event; frozen while the server is
 * down for 2 s; moving again once back.
 */
static int test_watermark(void)
{
	struct recorder r = { 0 };
	struct kube_watch *w = NULL;
	struct api a = { 0 };
	int64_t t0, wm, wm2, frozen, down_at;
	struct call c;
	int ret = 1;

	ASSERT_EQ_U64("kube-api starts", 0, api_start(&a));
	API(&a, "{\"cmd\":\"down\"}");
	w = watcher(&a, &r, NULL, 200);
	ASSERT_TRUE("watcher created", w);
	usleep(400 * 1000);
	ASSERT_EQ_U64("0 before any list", 0, kube_watch__watermark(w));
	ASSERT_TRUE("not synced", !kube_watch__synced(w));
	ASSERT_TRUE("connect errors counted", STAT(w, transport_errors) >= 1);
	t0 = harness_wall_ms();
	API(&a, "{\"cmd\":\"up\"}");
	ASSERT_TRUE("synced", wait_synced(w, true, WAIT_MS));
	wm = kube_watch__watermark(w);
	ASSERT_TRUE("after the list: at least its request time", wm >= t0);
	/* now - lag passes the list's time only after lag_ms */
	usleep((LAG_MS + 100) * 1000);
	ASSERT_TRUE("past the list time after lag_ms", kube_watch__watermark(w) > wm);
	wm = kube_watch__watermark(w);
	usleep(300 * 1000);
	wm2 = kube_watch__watermark(w);
	ASSERT_TRUE("advances while healthy", wm2 > wm);
	ASSERT_TRUE("follows now - lag",
		    wm2 >= harness_wall_ms() - LAG_MS - 100 && wm2 <= harness_wall_ms() - LAG_MS);

	API(&a,
	    "{\"cmd\":\"add\",\"ns\":\"w\",\"name\":\"p\",\"ips\":[\"10.9.0.1\"],\"ready\":null}");
	ASSERT_TRUE("assigned", wait_calls(&r, 'A', "p", NULL, 1, WAIT_MS));
	rec_find(&r, 'A', "p", NULL, &c);
	ASSERT_TRUE("watermark covers the event at once", kube_watch__watermark(w) >= c.t);

	down_at = harness_wall_ms();
	API(&a, "{\"cmd\":\"down\"}");
	ASSERT_TRUE("break seen", wait_synced(w, false, WAIT_MS));
	frozen = kube_watch__watermark(w);
	ASSERT_TRUE("frozen at or before the break", frozen <= down_at + 50);
	for (int i = 0; i < 20; i++) {
		usleep(100 * 1000);
		ASSERT_EQ_U64("frozen while down (2 s)", frozen, kube_watch__watermark(w));
	}
	API(&a, "{\"cmd\":\"up\"}");
	ASSERT_TRUE("synced again", wait_synced(w, true, WAIT_MS));
	/* frozen is about the last event (down_at); now - lag is down_at + 2 s - 1 s */
	wm = kube_watch__watermark(w);
	ASSERT_TRUE("moves again, past the gap", wm >= frozen + 800);
	ASSERT_TRUE("follows now - lag again", wm >= harness_wall_ms() - LAG_MS - 100);
	ASSERT_EQ_U64("resumed, not relisted", 1, STAT(w, lists));
	ret = 0;
cleanup:
	kube_watch__free(w);
	api_stop(&a);
	rec_free(&r);
	return ret;
}

/* stop() is prompt from a quiet watch and from a long backoff; options are checked. */
static int test_stop_and_options(void)
{
	struct kube_callbacks cb = { 0 };
	struct recorder r = { 0 };
	struct kube_watch *w = NULL, *bad = NULL;
	struct api a = { 0 };
	struct kube_opts o = { 0 };
	char why[256];
	uint64_t t, tried = 0, refused = 0;
	struct report_fault f;
	int ret = 1;

	ASSERT_EQ_U64("kube-api starts", 0, api_start(&a));
	w = watcher(&a, &r, NULL, 30000);
	ASSERT_TRUE("watcher created", w);
	ASSERT_TRUE("synced", wait_synced(w, true, WAIT_MS));
	t = harness_now_ms();
	kube_watch__stop(w);
	ASSERT_TRUE("stop from a quiet watch < 200 ms", harness_now_ms() - t < 200);
	kube_watch__free(w);
	rec_free(&r);
	w = NULL;

	API(&a, "{\"cmd\":\"down\"}");
	w = watcher(&a, &r, NULL, 30000);
	ASSERT_TRUE("watcher created", w);
	ASSERT_TRUE("in backoff", WAIT_STAT(w, transport_errors, 5, WAIT_MS));
	t = harness_now_ms();
	kube_watch__free(w);
	w = NULL;
	ASSERT_TRUE("stop from backoff < 200 ms", harness_now_ms() - t < 200);

	o.api_url = a.url; /* http:// without allow_http */
	bad = kube_watch__new(&o, &cb, why, sizeof(why));
	tried++;
	ASSERT_TRUE("http refused", !bad && errno == EINVAL && strstr(why, "https://"));
	refused++;
	o.api_url = "https://127.0.0.1:1";
	o.token_file = "/nonexistent/token";
	bad = kube_watch__new(&o, &cb, why, sizeof(why));
	tried++;
	ASSERT_TRUE("missing token file", !bad && errno == ENOENT && strstr(why, "/nonexistent"));
	refused++;
	o.token_file = NULL;
	o.api_url = NULL;
	unsetenv("KUBERNETES_SERVICE_HOST");
	bad = kube_watch__new(&o, &cb, why, sizeof(why));
	tried++;
	ASSERT_TRUE("not in a cluster", !bad && errno == EINVAL && strstr(why, "KUBERNETES"));
	refused++;
	kube_watch__free(NULL);
	f = (struct report_fault){
		.fault = "pod watch over plain http, token file missing, no cluster to find",
		.unit = "option sets",
		.injected = tried,
		.counted = refused,
		.counted_as = "refused with errno and the reason",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each refused, named", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	kube_watch__free(bad);
	kube_watch__free(w);
	api_stop(&a);
	rec_free(&r);
	return ret;
}

static const struct harness_test tests[] = {
	{ "list_paginated_identities", test_list_paginated },
	{ "watch_events_timing", test_watch_events_timing },
	{ "chunks_split_1_byte", test_chunks_split },
	{ "bookmarks_advance_rv", test_bookmarks },
	{ "relist_http_410", test_relist_http_410 },
	{ "relist_stream_410", test_relist_stream_410 },
	{ "live_error_410", test_live_error_410 },
	{ "dropped_connections", test_dropped_connections },
	{ "token_rotation", test_token_rotation },
	{ "garbage_and_oversized", test_garbage_and_oversized },
	{ "watermark", test_watermark },
	{ "stop_and_options", test_stop_and_options },
};

int main(int argc, char **argv)
{
	static const struct harness_suite suite = {
		.name = "kube",
		HARNESS_TESTS(tests),
		.debug_env = "KUBE_DEBUG",
	};

	return harness_main(&suite, argc, argv);
}
