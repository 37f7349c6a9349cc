// SPDX-License-Identifier: BSD-2-Clause
/* Attribution integration tests: real collectors fed over HTTP/2, the pod watch and Kafka. */
/*
 * Every test starts real podflow-collector processes and posts batches it
 * encodes itself (lib/wire) over real HTTP/2 (lib/h2client), then reads
 * what the collector wrote (DATA_DIR/flows-w*.jsonl for records decided at
 * once, DATA_DIR/flows-late.jsonl for those held back and decided by the
 * attributor's thread) and what its admin endpoint (/metrics, /readyz) and
 * its API endpoint (/ownership) say.  Evidence comes from sidecar
 * heartbeats, the test Kubernetes API server (tests/tools/kube-api, the real
 * pod samples) and librdkafka's mock cluster (kafka_mock).  Record times are
 * near the wall clock, as a sidecar's are: the heartbeat grace is measured
 * from now.
 * Each record is told apart by its bytes_sent (the "id" below).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include "collector_client.h"
#include "flow.h"
#include "harness.h"
#include "harness_main.h"
#include "kube_api.h"
#include "kafka_mock.h"

#define WAIT_MS 10000
#define EVENTS	"podflow.ip-events"
#define RANGES	"podflow.ip-ranges"
/* PodReadyToStartContainers in pod_native_sidecar_containerd_kind.json: 2024-08-24T01:54:36Z */
#define KIND_READY_MS  1724464476000LL
#define KIND_ASSIGN_MS (KIND_READY_MS + 1000)

static char g_tmp[256]; /* everything a test makes lives under here */

static const struct pod_ident ID_A = { "alpha", "team-a", "alpha-6d5f7c-x2k9p", "alpha", "node-1" };
static const struct pod_ident ID_B = { "beta", "team-b", "beta-0", "beta", "node-2" };
static const struct pod_ident ID_C = { "gamma", "team-c", "gamma-1", "gamma", "node-3" };
static const struct pod_ident ID_D = { "delta", "team-d", "delta-7f9c-q8w2e", "delta", "node-1" };
static const struct pod_ident ID_E = { "epsilon", "team-e", "epsilon-0", "epsilon", "node-2" };
static const struct pod_ident ID_F = { "zeta", "team-f", "zeta-5b6c-m3n4p", "zeta", "node-3" };
static const struct pod_ident ID_S = { "sigma", "team-s", "sigma-84d2-k7j6h", "sigma", "node-4" };

#define IP_A	  "10.1.0.1"
#define IP_B	  "10.2.0.2"
#define IP_C	  "10.3.0.3"
#define IP_D	  "10.4.0.4"
#define IP_E	  "fd00:10::5"
#define IP_F	  "fd00:10::6"
#define IP_S	  "10.50.0.1"
#define IP_NOBODY "10.9.9.9"

/* ---- a collector with its admin endpoint ------------------------------------ */

/* Two workers, DATA_DIR g_tmp/<name>; ATTR_DEBUG=1: the collectors' debug lines too. */
static const struct coll_conf g_conf = { .dir = g_tmp, .debug_env = "ATTR_DEBUG" };

#define DELAYED_NOW   "podflow_collector_attribution_delayed_records"
#define DELAYED_TOTAL "podflow_collector_attribution_delayed_total"

/* /ownership?ip=TEXT parsed (NULL if not JSON); *status the HTTP status. */
static json_t *ownership(struct coll *c, const char *ip, long *status)
{
	char path[256], *body;
	json_error_t jerr;
	json_t *j;

	if (ip)
		snprintf(path, sizeof(path), "/ownership?ip=%s", ip);
	else
		snprintf(path, sizeof(path), "/ownership");
	sidecar_poll(&c->p, 0); /* keep its stderr pipe drained */
	*status = harness_http_get(c->api, path, &body);
	j = json_loads(body, 0, &jerr);
	if (!j)
		fprintf(stderr, "    /ownership?ip=%s: not JSON (%ld): %s\n", ip ? ip : "", *status,
			body);
	free(body);
	return j;
}

static size_t n_ranges(json_t *own)
{
	return json_array_size(json_object_get(own, "ranges"));
}

/* Polls /ownership?ip= until it holds `n` ranges; the last answer (owned). */
static json_t *wait_ranges(struct coll *c, const char *ip, size_t n, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	json_t *j;
	long st;

	for (;;) {
		j = ownership(c, ip, &st);
		if ((j && n_ranges(j) == n) || harness_now_ms() >= deadline)
			return j;
		json_decref(j);
		harness_sleep_ms(20);
	}
}

/*
 * Range i of an /ownership answer: its source, [from, to) (to < 0: open,
 * JSON null), conflict, and owner (NULL: nobody, as a conflict has).
 * 0, or -1 after saying what differs.
 */
static int expect_range(json_t *own, size_t i, const char *source, int64_t from, int64_t to,
			bool conflict, const struct pod_ident *id)
{
	static const struct pod_ident nobody = { "", "", "", "", "" };
	json_t *r = json_array_get(json_object_get(own, "ranges"), i);
	const struct {
		const char *key, *want;
	} f[] = {
		{ "source", source },
		{ "app", (id ? id : &nobody)->app },
		{ "namespace", (id ? id : &nobody)->ns },
		{ "pod", (id ? id : &nobody)->pod },
		{ "workload", (id ? id : &nobody)->workload },
		{ "node", (id ? id : &nobody)->node },
	};
	json_t *to_v;

	if (!r) {
		fprintf(stderr, "    FAIL: %s: no range %zu\n", rec_str(own, "ip"), i);
		return -1;
	}
	for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++)
		if (strcmp(rec_str(r, f[k].key), f[k].want) != 0) {
			fprintf(stderr, "    FAIL: %s range %zu: %s: expected \"%s\", got \"%s\"\n",
				rec_str(own, "ip"), i, f[k].key, f[k].want, rec_str(r, f[k].key));
			return -1;
		}
	if ((int64_t)rec_u64(r, "from_ms") != from) {
		fprintf(stderr, "    FAIL: %s range %zu: from_ms: expected %lld, got %llu\n",
			rec_str(own, "ip"), i, (long long)from,
			(unsigned long long)rec_u64(r, "from_ms"));
		return -1;
	}
	to_v = json_object_get(r, "to_ms");
	if (to < 0 ? !json_is_null(to_v) : (int64_t)rec_u64(r, "to_ms") != to) {
		fprintf(stderr, "    FAIL: %s range %zu: to_ms: expected %lld, got %llu%s\n",
			rec_str(own, "ip"), i, (long long)to,
			(unsigned long long)rec_u64(r, "to_ms"),
			json_is_null(to_v) ? " (null)" : "");
		return -1;
	}
	if (json_is_true(json_object_get(r, "conflict")) != conflict) {
		fprintf(stderr, "    FAIL: %s range %zu: conflict: expected %d\n",
			rec_str(own, "ip"), i, conflict);
		return -1;
	}
	return 0;
}

/* ---- what the collector wrote -------------------------------------------------- */

/* Every JSON line of DIR/pattern, as one array (NULL after saying why). */
static json_t *read_lines(const char *dir, const char *pattern)
{
	json_t *all = json_array();
	char path[600];
	glob_t g = { 0 };

	snprintf(path, sizeof(path), "%s/%s", dir, pattern);
	if (glob(path, 0, NULL, &g) != 0)
		return all; /* nothing yet */
	for (size_t f = 0; f < g.gl_pathc; f++) {
		FILE *in = fopen(g.gl_pathv[f], "r");
		char *line = NULL;
		size_t cap = 0;

		if (!in)
			continue;
		while (getline(&line, &cap, in) > 0) {
			json_error_t jerr;
			json_t *r = json_loads(line, 0, &jerr);

			if (!r || !json_is_object(r)) {
				fprintf(stderr, "    FAIL: %s: not a JSON object: %s",
					g.gl_pathv[f], line);
				json_decref(r);
				json_decref(all);
				all = NULL;
				break;
			}
			json_array_append_new(all, r);
		}
		free(line);
		fclose(in);
		if (!all)
			break;
	}
	globfree(&g);
	return all;
}

static json_t *out_now(struct coll *c)
{
	return read_lines(c->data, "flows-w*.jsonl");
}

static json_t *out_late(struct coll *c)
{
	return read_lines(c->data, "flows-late.jsonl");
}

static size_t count_lines(struct coll *c, const char *pattern)
{
	json_t *a = read_lines(c->data, pattern);
	size_t n = a ? json_array_size(a) : 0;

	json_decref(a);
	return n;
}

static size_t lines_all(struct coll *c)
{
	return count_lines(c, "flows-w*.jsonl") + count_lines(c, "flows-late.jsonl");
}

static bool wait_lines(struct coll *c, size_t n, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;

	while (lines_all(c) < n && harness_now_ms() < deadline) {
		sidecar_poll(&c->p, 0);
		harness_sleep_ms(20);
	}
	return lines_all(c) == n;
}

static json_t *find_rec(json_t *arr, uint64_t id, size_t *count)
{
	json_t *found = NULL, *v;
	size_t i;

	*count = 0;
	json_array_foreach(arr, i, v) if (rec_u64(v, "bytes_sent") == id)
	{
		found = v;
		(*count)++;
	}
	return found;
}

/*
 * Record `id` is in `arr` exactly once, names `remote` (NULL: nobody) as
 * its remote side with remote_source `source`, and `local` as its sender.
 * 0, or -1 after saying what differs.
 */
static int expect_rec(json_t *arr, const char *where, uint64_t id, const struct pod_ident *remote,
		      const char *source, const struct pod_ident *local)
{
	static const struct pod_ident nobody = { "", "", "", "", "" };
	const struct pod_ident *rm = remote ? remote : &nobody;
	const struct {
		const char *key, *want;
	} f[] = {
		{ "remote_app", rm->app },
		{ "remote_namespace", rm->ns },
		{ "remote_pod", rm->pod },
		{ "remote_workload", rm->workload },
		{ "remote_source", source },
		{ "local_app", local->app },
		{ "local_namespace", local->ns },
		{ "local_pod", local->pod },
		{ "local_workload", local->workload },
		{ "local_node", local->node },
	};
	size_t n;
	json_t *r = find_rec(arr, id, &n);

	if (n != 1) {
		fprintf(stderr, "    FAIL: record %llu: expected once in %s, found %zu times\n",
			(unsigned long long)id, where, n);
		return -1;
	}
	for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++)
		if (strcmp(rec_str(r, f[k].key), f[k].want) != 0) {
			fprintf(stderr,
				"    FAIL: record %llu (%s): %s: expected \"%s\", got \"%s\"\n",
				(unsigned long long)id, where, f[k].key, f[k].want,
				rec_str(r, f[k].key));
			return -1;
		}
	return 0;
}

#define POST(s, from, to, ...)                                                \
	({                                                                    \
		const struct flow_record r_[] = { __VA_ARGS__ };              \
		snd__post((s), (from), (to), r_, sizeof(r_) / sizeof(r_[0])); \
	})

/* ---- the stand-in Kubernetes API server (kube_api.c) ---- */

/* A command whose answer only has to be "ok". */
#define API(a, ...)                                              \
	do {                                                     \
		json_t *r_ = api_cmd(a, __VA_ARGS__);            \
		ASSERT_TRUE("kube-api command answered ok", r_); \
		json_decref(r_);                                 \
	} while (0)

/* ---- the tests ------------------------------------------------------------------ */

/*
 * Two sidecars, A and B, each stating its own IP in every batch, send
 * records naming each other.  Grace 2 s: an address no heartbeat covers is
 * nobody's once its time is 2 s old, and a heartbeat's claim is final only
 * then (another sender might still claim the same address for that time):
 * until then only loopback records are decided.
 */
static int test_heartbeats_name_each_other(void)
{
	struct coll c = { 0 };
	struct snd a = { 0 }, b = { 0 };
	json_t *now = NULL, *late = NULL;
	int64_t n0, seen_none = 0;
	int ret = 1;

	ASSERT_EQ_U64("collector starts", 0,
		      -coll__start(&c, &g_conf, "hb",
				   (const char *const[]){ "--heartbeat-grace", "2s", "--max-delay",
							  "10s", NULL }));
	ASSERT_EQ_U64("sender A", 0, -snd__open(&a, c.port, &ID_A, IP_A));
	ASSERT_EQ_U64("sender B", 0, -snd__open(&b, c.port, &ID_B, IP_B));

	n0 = harness_wall_ms();
	/* B first: A has not said it owns IP_A yet */
	ASSERT_EQ_U64(
	    "B: first batch", 204,
	    POST(&b, n0 - 1500, n0 - 700,
		 snd_record(101, IP_A, n0 - 1400, n0 - 1300),	       /* waits for A's heartbeat */
		 snd_record(102, "127.0.0.1", n0 - 1400, n0 - 1300))); /* B itself */
	ASSERT_EQ_U64("A: first batch", 204,
		      POST(&a, n0 - 1500, n0,
			   snd_record(201, IP_B, n0 - 1200, n0 - 1100), /* inside B's span */
			   snd_record(202, IP_B, n0 - 300, n0 - 200),	/* after it: waits for B */
			   snd_record(203, IP_B, n0 - 800, n0 - 600),	/* B's span ends inside */
			   snd_record(204, IP_NOBODY, n0 - 1000, n0 - 900), /* nobody claims it */
			   snd_record(205, "127.0.0.1", n0 - 1000, n0 - 900)));
	/* 102 and 205 at once (loopback); the rest wait: no claim has settled yet */
	ASSERT_EQ_U64("decided at once", 2, coll__wait_result(&c, "heartbeat", 2, WAIT_MS));
	ASSERT_EQ_U64("waiting", 5, coll__metric(&c, DELAYED_NOW));
	ASSERT_EQ_U64("none yet", 0, coll__result(&c, "unattributed_none"));
	ASSERT_EQ_U64("changed yet", 0, coll__result(&c, "unattributed_changed"));
	ASSERT_TRUE("still 2 at once", harness_wall_ms() < n0 - 1100 + 2000);
	ASSERT_EQ_U64("nothing late yet", 0, count_lines(&c, "flows-late.jsonl"));

	/* B's next heartbeat, after a gap: [n0 - 400, now) */
	ASSERT_EQ_U64(
	    "B: second batch", 204,
	    POST(&b, n0 - 400, harness_wall_ms(), snd_record(103, IP_A, n0 - 100, n0 - 50)));
	/* 101 201 202 103 as their claims settle */
	ASSERT_EQ_U64("decided by heartbeats", 6, coll__wait_result(&c, "heartbeat", 6, WAIT_MS));
	/* 203's end falls in B's gap, certain once the grace has passed it */
	ASSERT_EQ_U64("203: changed", 1, coll__wait_result(&c, "unattributed_changed", 1, WAIT_MS));
	/* 204: nobody, once its time is older than the grace */
	for (uint64_t deadline = harness_now_ms() + WAIT_MS; harness_now_ms() < deadline;) {
		if (coll__result(&c, "unattributed_none") >= 1) {
			seen_none = harness_wall_ms();
			break;
		}
		harness_sleep_ms(10);
	}
	ASSERT_TRUE("204 went out unattributed", seen_none > 0);
	ASSERT_TRUE("204 waited out the grace (2 s after its end)", seen_none >= n0 - 901 + 2000);
	ASSERT_TRUE("all 8 written", wait_lines(&c, 8, WAIT_MS));

	now = out_now(&c);
	late = out_late(&c);
	ASSERT_TRUE("outputs", now && late);
	ASSERT_EQ_U64("lines written at once", 2, json_array_size(now));
	ASSERT_EQ_U64("lines written late", 6, json_array_size(late));
	ASSERT_EQ_U64("102: loopback is B", 0,
		      -expect_rec(now, "flows-w", 102, &ID_B, "heartbeat", &ID_B));
	ASSERT_EQ_U64("205: loopback is A", 0,
		      -expect_rec(now, "flows-w", 205, &ID_A, "heartbeat", &ID_A));
	ASSERT_EQ_U64("201: B", 0, -expect_rec(late, "flows-late", 201, &ID_B, "heartbeat", &ID_A));
	ASSERT_EQ_U64("103: A", 0, -expect_rec(late, "flows-late", 103, &ID_A, "heartbeat", &ID_B));
	ASSERT_EQ_U64("101: A", 0, -expect_rec(late, "flows-late", 101, &ID_A, "heartbeat", &ID_B));
	ASSERT_EQ_U64("202: B", 0, -expect_rec(late, "flows-late", 202, &ID_B, "heartbeat", &ID_A));
	ASSERT_EQ_U64("203: unattributed", 0,
		      -expect_rec(late, "flows-late", 203, NULL, "unattributed", &ID_A));
	ASSERT_EQ_U64("204: unattributed", 0,
		      -expect_rec(late, "flows-late", 204, NULL, "unattributed", &ID_A));

	ASSERT_EQ_U64("result heartbeat", 6, coll__result(&c, "heartbeat"));
	ASSERT_EQ_U64("result kube", 0, coll__result(&c, "kube"));
	ASSERT_EQ_U64("result sonar", 0, coll__result(&c, "sonar"));
	ASSERT_EQ_U64("result unattributed_none", 1, coll__result(&c, "unattributed_none"));
	ASSERT_EQ_U64("result unattributed_conflict", 0, coll__result(&c, "unattributed_conflict"));
	ASSERT_EQ_U64("result unattributed_changed", 1, coll__result(&c, "unattributed_changed"));
	ASSERT_EQ_U64("result unattributed_expired", 0, coll__result(&c, "unattributed_expired"));
	ASSERT_EQ_U64("result unattributed_evicted", 0, coll__result(&c, "unattributed_evicted"));
	ASSERT_EQ_U64("waiting now", 0, coll__metric(&c, DELAYED_NOW));
	ASSERT_EQ_U64("had to wait: 101 201 202 203 204 103", 6, coll__metric(&c, DELAYED_TOTAL));
	ASSERT_EQ_U64("heartbeat spans applied", 3,
		      coll__metric(&c, "podflow_collector_attribution_heartbeats_total"));
	ASSERT_EQ_U64("late write errors", 0,
		      coll__metric(&c, "podflow_collector_attribution_late_write_errors_total"));
	ASSERT_EQ_U64("exit code", 0, coll__stop(&c, NULL));
	ret = 0;
cleanup:
	json_decref(now);
	json_decref(late);
	snd__close(&a);
	snd__close(&b);
	coll__free(&c, ret);
	return ret;
}

/* /ownership?ip=: merged, gapped and conflicting heartbeat ranges; IPv6; bad input. */
static int test_ownership_endpoint(void)
{
	struct coll c = { 0 };
	struct snd a = { 0 }, cs = { 0 }, d = { 0 }, e = { 0 }, f = { 0 };
	json_t *j = NULL, *k = NULL, *now = NULL;
	char *t1 = NULL, *t2 = NULL;
	int64_t n0, t;
	long st;
	int ret = 1;

	ASSERT_EQ_U64("collector starts", 0,
		      -coll__start(&c, &g_conf, "ownership",
				   (const char *const[]){ "--heartbeat-grace", "5s", NULL }));
	ASSERT_EQ_U64("sender A", 0, -snd__open(&a, c.port, &ID_A, IP_A));
	/* C claims A's address too, over part of A's time: a conflict there */
	ASSERT_EQ_U64("sender C", 0, -snd__open(&cs, c.port, &ID_C, IP_A));
	ASSERT_EQ_U64("sender D", 0, -snd__open(&d, c.port, &ID_D, IP_D));
	ASSERT_EQ_U64("sender E", 0, -snd__open(&e, c.port, &ID_E, IP_E));
	ASSERT_EQ_U64("sender F", 0, -snd__open(&f, c.port, &ID_F, IP_F));
	n0 = harness_wall_ms();
	t = n0 - 60000;
	/* heartbeat-only batches, as an idle sidecar sends */
	ASSERT_EQ_U64("A 1", 204, snd__post(&a, t, t + 5000, NULL, 0));
	ASSERT_EQ_U64("A 2 (touches 1: merged)", 204, snd__post(&a, t + 5000, t + 10000, NULL, 0));
	ASSERT_EQ_U64("A 3 (after a gap)", 204, snd__post(&a, t + 20000, t + 25000, NULL, 0));
	ASSERT_EQ_U64("C (overlaps A)", 204, snd__post(&cs, t + 8000, t + 12000, NULL, 0));
	ASSERT_EQ_U64("E (IPv6)", 204, snd__post(&e, t, t + 5000, NULL, 0));

	j = ownership(&c, IP_A, &st);
	ASSERT_EQ_U64("status", 200, st);
	ASSERT_TRUE("JSON", j);
	ASSERT_STR("ip", IP_A, rec_str(j, "ip"));
	ASSERT_EQ_U64("ranges", 4, n_ranges(j));
	ASSERT_EQ_U64("A before C", 0, -expect_range(j, 0, "heartbeat", t, t + 8000, false, &ID_A));
	ASSERT_EQ_U64("A and C: conflict", 0,
		      -expect_range(j, 1, "heartbeat", t + 8000, t + 10000, true, NULL));
	ASSERT_EQ_U64("C after A", 0,
		      -expect_range(j, 2, "heartbeat", t + 10000, t + 12000, false, &ID_C));
	ASSERT_EQ_U64("A again", 0,
		      -expect_range(j, 3, "heartbeat", t + 20000, t + 25000, false, &ID_A));
	/* the same address written as v4-mapped IPv6: the same answer */
	k = ownership(&c, "::ffff:" IP_A, &st);
	ASSERT_EQ_U64("v4-mapped: status", 200, st);
	t1 = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	t2 = json_dumps(k, JSON_SORT_KEYS | JSON_COMPACT);
	ASSERT_TRUE("dumps", t1 && t2);
	ASSERT_STR("v4-mapped: same ranges", t1, t2);
	json_decref(j);
	json_decref(k);
	k = NULL;
	/* IPv6, and not in its canonical form */
	j = ownership(&c, "FD00:0010:0:0::5", &st);
	ASSERT_EQ_U64("IPv6: status", 200, st);
	ASSERT_TRUE("IPv6: JSON", j);
	ASSERT_STR("IPv6: ip (RFC 5952)", IP_E, rec_str(j, "ip"));
	ASSERT_EQ_U64("IPv6: ranges", 1, n_ranges(j));
	ASSERT_EQ_U64("IPv6: E", 0, -expect_range(j, 0, "heartbeat", t, t + 5000, false, &ID_E));
	json_decref(j);
	/* nobody's */
	j = ownership(&c, "10.99.0.1", &st);
	ASSERT_EQ_U64("unknown: status", 200, st);
	ASSERT_TRUE("unknown: JSON", j);
	ASSERT_STR("unknown: ip", "10.99.0.1", rec_str(j, "ip"));
	ASSERT_TRUE("unknown: ranges is an array", json_is_array(json_object_get(j, "ranges")));
	ASSERT_EQ_U64("unknown: no ranges", 0, n_ranges(j));
	json_decref(j);
	/* bad input: 400 with an error */
	{
		static const char *const bad[] = {
			"10.1.0.256", "10.1.0.0/24", "fd00::1%25eth0", "web.shop.svc",
			"",	      "10.1.0.1:80"
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			j = ownership(&c, bad[i], &st);
			ASSERT_EQ_U64(bad[i], 400, st);
			ASSERT_TRUE("error JSON", j);
			ASSERT_STR(bad[i], "ip: not an IPv4 or IPv6 address", rec_str(j, "error"));
			json_decref(j);
		}
	}
	j = ownership(&c, NULL, &st);
	ASSERT_EQ_U64("no ip: status", 400, st);
	ASSERT_TRUE("no ip: JSON", j);
	ASSERT_STR("no ip: error", "missing ?ip=ADDRESS", rec_str(j, "error"));
	json_decref(j);
	j = NULL;

	/* records against those ranges, all decided at once */
	ASSERT_EQ_U64("D's records", 204,
		      POST(&d, n0 - 1000, n0, snd_record(301, IP_A, t + 1000, t + 1100),
			   snd_record(302, IP_A, t + 9000, t + 9100),	  /* in the conflict */
			   snd_record(303, IP_A, t + 11000, t + 11100),	  /* C's */
			   snd_record(304, IP_A, t + 15000, t + 15100))); /* in A's gap */
	ASSERT_EQ_U64("F's record (IPv6)", 204,
		      POST(&f, n0 - 1000, n0, snd_record(401, IP_E, t + 1000, t + 1100)));
	now = out_now(&c);
	ASSERT_TRUE("output", now);
	ASSERT_EQ_U64("lines", 5, json_array_size(now));
	ASSERT_EQ_U64("301: A", 0, -expect_rec(now, "flows-w", 301, &ID_A, "heartbeat", &ID_D));
	ASSERT_EQ_U64("302: conflict", 0,
		      -expect_rec(now, "flows-w", 302, NULL, "unattributed", &ID_D));
	ASSERT_EQ_U64("303: C", 0, -expect_rec(now, "flows-w", 303, &ID_C, "heartbeat", &ID_D));
	ASSERT_EQ_U64("304: none", 0,
		      -expect_rec(now, "flows-w", 304, NULL, "unattributed", &ID_D));
	ASSERT_EQ_U64("401: E over IPv6", 0,
		      -expect_rec(now, "flows-w", 401, &ID_E, "heartbeat", &ID_F));
	{
		size_t n;
		json_t *r = find_rec(now, 401, &n);

		ASSERT_EQ_U64("401: family", 6, rec_u64(r, "family"));
		ASSERT_STR("401: remote_ip", IP_E, rec_str(r, "remote_ip"));
		ASSERT_STR("401: local_ip", IP_F, rec_str(r, "local_ip"));
	}
	ASSERT_EQ_U64("result heartbeat", 3, coll__result(&c, "heartbeat"));
	ASSERT_EQ_U64("result unattributed_conflict", 1, coll__result(&c, "unattributed_conflict"));
	ASSERT_EQ_U64("result unattributed_none", 1, coll__result(&c, "unattributed_none"));
	ASSERT_EQ_U64("result unattributed_changed", 0, coll__result(&c, "unattributed_changed"));
	ASSERT_EQ_U64("none waited", 0, coll__metric(&c, DELAYED_TOTAL));
	ASSERT_EQ_U64("ownership conflicts", 1,
		      coll__metric(&c, "podflow_collector_ownership_conflicts_total"));
	/* A's address, D's, E's, F's */
	ASSERT_EQ_U64("ownership ips", 4, coll__metric(&c, "podflow_collector_ownership_ips"));
	/* A's address: 4 pieces; D, E, F: one each */
	ASSERT_EQ_U64("ownership ranges", 7,
		      coll__metric(&c, "podflow_collector_ownership_ranges"));
	ASSERT_EQ_U64("exit code", 0, coll__stop(&c, NULL));
	ret = 0;
cleanup:
	free(t1);
	free(t2);
	json_decref(j);
	json_decref(k);
	json_decref(now);
	snd__close(&a);
	snd__close(&cs);
	snd__close(&d);
	snd__close(&e);
	snd__close(&f);
	coll__free(&c, ret);
	return ret;
}

#define CHECKOUT_IP  "10.244.1.20"
#define CHECKOUT     "checkout-7d9f8-x1k2m"
#define SLEEP_IP     "10.244.0.8"     /* the kind sample's own podIPs */
#define BASE_IP	     "100.116.192.42" /* the docker sample's own podIP */
#define LATE_IP	     "10.244.2.30"
#define AFTERDROP_IP "10.244.3.40"

/*
 * The pod watch against tests/tools/kube-api replaying the real pod
 * samples: not ready before the first list, kube ranges on /ownership,
 * records decided by it at their time; then a gap with 410 and a dropped
 * connection, and the view converges again.
 */
static int test_kube_convergence(void)
{
	static const struct pod_ident checkout = { "checkout", "shop", CHECKOUT, "checkout", "n1" };
	static const struct pod_ident sleep_pod = { "", "default", "sleep", "sleep",
						    "kind-control-plane" };
	static const struct pod_ident base = { "fluent-bit", "core", "base", "base",
					       "ip-10-49-18-80.eu-west-1.compute.internal" };
	static const struct pod_ident late_pod = { "late", "shop", "late-1", "late-1", "n2" };
	struct coll c = { 0 };
	struct snd s = { 0 };
	struct api api = { 0 };
	json_t *j = NULL, *now = NULL, *late = NULL;
	int64_t t_up, t_synced, base_from, frozen, n0;
	char *why = NULL;
	long st;
	int ret = 1;

	ASSERT_EQ_U64("kube-api starts", 0, -api_start(&api));
	/* the two samples as they are (their own uid, IPs, labels, node) */
	API(&api, "{\"cmd\":\"add\",\"template\":\"docker\",\"ns\":\"core\",\"name\":\"base\","
		  "\"uid\":\"e9f2963f-55f2-11e9-84c5-02e422b8a84a\"}");
	API(&api, "{\"cmd\":\"add\",\"ns\":\"default\",\"name\":\"sleep\","
		  "\"uid\":\"35079257-0ffb-4b09-b2c1-3c0d416f2523\"}");
	/* a Deployment's pod, network ready at the sample's condition time */
	API(&api,
	    "{\"cmd\":\"add\",\"ns\":\"shop\",\"name\":\"" CHECKOUT "\",\"ips\":[\"" CHECKOUT_IP
	    "\"],\"labels\":{\"app.kubernetes.io/name\":\"checkout\",\"pod-template-hash\":"
	    "\"7d9f8\"},\"owner\":{\"kind\":\"ReplicaSet\",\"name\":\"checkout-7d9f8\"},"
	    "\"node\":\"n1\",\"ready\":\"2024-08-24T01:54:36Z\"}");
	/* the API server is away when the collector starts: not ready */
	API(&api, "{\"cmd\":\"down\"}");
	ASSERT_EQ_U64(
	    "collector starts", 0,
	    -coll__start(&c, &g_conf, "kube",
			 (const char *const[]){ "--kube-api", api.url, "--heartbeat-grace", "1s",
						"--max-delay", "10s", NULL }));
	st = coll__get(&c, "/readyz", &why);
	ASSERT_EQ_U64("readyz before the first list", 503, st);
	ASSERT_TRUE("readyz says why", strstr(why, "Kubernetes pod watch has not synced") != NULL);
	ASSERT_EQ_U64("kube synced", 0, coll__metric(&c, "podflow_collector_kube_synced"));
	t_up = harness_wall_ms();
	API(&api, "{\"cmd\":\"up\"}");
	ASSERT_TRUE("ready once listed and watching", coll__wait_ready(&c, 200, WAIT_MS));
	t_synced = harness_wall_ms();
	ASSERT_EQ_U64("kube synced", 1, coll__metric(&c, "podflow_collector_kube_synced"));
	ASSERT_EQ_U64("pods", 3, coll__metric(&c, "podflow_collector_kube_pods"));
	ASSERT_EQ_U64("pod IPs", 3, coll__metric(&c, "podflow_collector_kube_ips"));

	j = ownership(&c, CHECKOUT_IP, &st);
	ASSERT_EQ_U64("checkout: status", 200, st);
	ASSERT_EQ_U64("checkout: ranges", 1, n_ranges(j));
	ASSERT_EQ_U64("checkout: kube, open, from the condition + 1 s", 0,
		      -expect_range(j, 0, "kube", KIND_ASSIGN_MS, -1, false, &checkout));
	json_decref(j);
	j = ownership(&c, SLEEP_IP, &st);
	ASSERT_EQ_U64("sleep: ranges", 1, n_ranges(j));
	ASSERT_EQ_U64("sleep (kind sample)", 0,
		      -expect_range(j, 0, "kube", KIND_ASSIGN_MS, -1, false, &sleep_pod));
	json_decref(j);
	j = ownership(&c, BASE_IP, &st);
	ASSERT_EQ_U64("base: ranges", 1, n_ranges(j));
	base_from = (int64_t)rec_u64(json_array_get(json_object_get(j, "ranges"), 0), "from_ms");
	/* no network condition: owned from when it was seen */
	ASSERT_TRUE("base: assigned when listed", base_from >= t_up && base_from <= t_synced);
	ASSERT_EQ_U64("base (docker sample)", 0,
		      -expect_range(j, 0, "kube", base_from, -1, false, &base));
	json_decref(j);
	j = NULL;

	ASSERT_EQ_U64("sender", 0, -snd__open(&s, c.port, &ID_S, IP_S));
	n0 = harness_wall_ms();
	ASSERT_EQ_U64(
	    "records", 204,
	    POST(&s, n0 - 1000, n0, snd_record(701, CHECKOUT_IP, n0 - 3000, n0 - 2500),
		 snd_record(702, SLEEP_IP, n0 - 3000, n0 - 2500),
		 /* recent: waits for the watch's watermark (now - kube.lag) */
		 snd_record(703, BASE_IP, base_from + 10, base_from + 20),
		 /* before the pod had its IP */
		 snd_record(704, CHECKOUT_IP, KIND_ASSIGN_MS - 5000, KIND_ASSIGN_MS - 4000),
		 /* across the assignment */
		 snd_record(705, CHECKOUT_IP, KIND_ASSIGN_MS - 500, KIND_ASSIGN_MS + 500)));
	ASSERT_TRUE("5 written", wait_lines(&c, 5, WAIT_MS));
	ASSERT_EQ_U64("result kube", 3, coll__result(&c, "kube"));
	ASSERT_EQ_U64("result unattributed_none", 1, coll__result(&c, "unattributed_none"));
	ASSERT_EQ_U64("result unattributed_changed", 1, coll__result(&c, "unattributed_changed"));

	/* a gap: the server goes away, pods change meanwhile, history is compacted */
	API(&api, "{\"cmd\":\"down\"}");
	for (uint64_t deadline = harness_now_ms() + WAIT_MS;
	     coll__metric(&c, "podflow_collector_kube_synced") != 0 && harness_now_ms() < deadline;)
		harness_sleep_ms(20);
	ASSERT_EQ_U64("watch broken", 0, coll__metric(&c, "podflow_collector_kube_synced"));
	/* readiness latches the first sync: a broken watch only makes records wait */
	ASSERT_TRUE("still ready while the watch is broken", coll__wait_ready(&c, 200, 0));
	frozen = coll__metric(&c, "podflow_collector_kube_watermark_ms");
	API(&api, "{\"cmd\":\"delete\",\"ns\":\"shop\",\"name\":\"" CHECKOUT "\"}");
	API(&api, "{\"cmd\":\"add\",\"ns\":\"shop\",\"name\":\"late-1\",\"ips\":[\"" LATE_IP
		  "\"],\"labels\":{\"app\":\"late\"},\"node\":\"n2\",\"ready\":"
		  "\"2024-08-24T01:54:36Z\"}");
	API(&api, "{\"cmd\":\"expire\"}");
	harness_sleep_ms(300);
	ASSERT_EQ_U64("watermark frozen while broken", frozen,
		      coll__metric(&c, "podflow_collector_kube_watermark_ms"));
	ASSERT_TRUE("frozen after the records' times", frozen > n0 - 1000);
	API(&api, "{\"cmd\":\"up\"}");
	ASSERT_EQ_U64(
	    "relisted after 410", 1,
	    coll__wait_metric(&c, "podflow_collector_kube_requests_total{kind=\"relist_410\"}", 1,
			      WAIT_MS));
	ASSERT_EQ_U64("watching again", 1,
		      coll__wait_metric(&c, "podflow_collector_kube_synced", 1, WAIT_MS));
	ASSERT_TRUE("ready", coll__wait_ready(&c, 200, 0));
	j = ownership(&c, CHECKOUT_IP, &st);
	ASSERT_EQ_U64("checkout after the gap: ranges", 1, n_ranges(j));
	/* gone while nobody watched: given up at the last time the view was complete */
	ASSERT_EQ_U64("checkout: closed at the frozen watermark", 0,
		      -expect_range(j, 0, "kube", KIND_ASSIGN_MS, frozen, false, &checkout));
	json_decref(j);
	j = ownership(&c, LATE_IP, &st);
	ASSERT_EQ_U64("late-1: ranges", 1, n_ranges(j));
	ASSERT_EQ_U64("late-1: from the relist", 0,
		      -expect_range(j, 0, "kube", KIND_ASSIGN_MS, -1, false, &late_pod));
	json_decref(j);
	j = ownership(&c, SLEEP_IP, &st);
	ASSERT_EQ_U64("sleep: unchanged", 0,
		      -expect_range(j, 0, "kube", KIND_ASSIGN_MS, -1, false, &sleep_pod));
	ASSERT_EQ_U64("sleep: one range", 1, n_ranges(j));
	json_decref(j);
	j = ownership(&c, BASE_IP, &st);
	ASSERT_EQ_U64("base: unchanged", 0,
		      -expect_range(j, 0, "kube", base_from, -1, false, &base));
	ASSERT_EQ_U64("base: one range", 1, n_ranges(j));
	json_decref(j);
	j = NULL;

	/* the connection dropped: resumed without a list */
	API(&api, "{\"cmd\":\"drop\"}");
	API(&api,
	    "{\"cmd\":\"add\",\"ns\":\"shop\",\"name\":\"after-drop\",\"ips\":[\"" AFTERDROP_IP
	    "\"]}");
	j = wait_ranges(&c, AFTERDROP_IP, 1, WAIT_MS);
	ASSERT_EQ_U64("after-drop: seen over the resumed watch", 1, n_ranges(j));
	json_decref(j);
	j = NULL;
	ASSERT_EQ_U64("watching after the drop", 1,
		      coll__wait_metric(&c, "podflow_collector_kube_synced", 1, WAIT_MS));
	ASSERT_TRUE("ready after the drop", coll__wait_ready(&c, 200, 0));
	ASSERT_EQ_U64(
	    "still one relist", 1,
	    coll__metric(&c, "podflow_collector_kube_requests_total{kind=\"relist_410\"}"));
	ASSERT_TRUE("resumed",
		    coll__metric(&c, "podflow_collector_kube_requests_total{kind=\"reconnect\"}") >=
			1);
	ASSERT_EQ_U64("pods: base, sleep, late-1, after-drop", 4,
		      coll__metric(&c, "podflow_collector_kube_pods"));

	n0 = harness_wall_ms();
	ASSERT_EQ_U64("records after the gap", 204,
		      POST(&s, n0 - 1000, n0,
			   snd_record(706, CHECKOUT_IP, frozen - 2000, frozen - 1500), /* before */
			   snd_record(707, CHECKOUT_IP, frozen + 100, frozen + 200),   /* after */
			   snd_record(708, LATE_IP, n0 - 3000, n0 - 2900)));
	ASSERT_TRUE("8 written", wait_lines(&c, 8, WAIT_MS));
	now = out_now(&c);
	late = out_late(&c);
	ASSERT_TRUE("outputs", now && late);
	json_array_extend(now, late); /* which file depends on the watermark: the owner does not */
	ASSERT_EQ_U64("701: checkout", 0,
		      -expect_rec(now, "output", 701, &checkout, "kube", &ID_S));
	ASSERT_EQ_U64("702: sleep", 0, -expect_rec(now, "output", 702, &sleep_pod, "kube", &ID_S));
	ASSERT_EQ_U64("703: base", 0, -expect_rec(now, "output", 703, &base, "kube", &ID_S));
	ASSERT_EQ_U64("704: before the pod", 0,
		      -expect_rec(now, "output", 704, NULL, "unattributed", &ID_S));
	ASSERT_EQ_U64("705: across its start", 0,
		      -expect_rec(now, "output", 705, NULL, "unattributed", &ID_S));
	ASSERT_EQ_U64("706: checkout, before the gap", 0,
		      -expect_rec(now, "output", 706, &checkout, "kube", &ID_S));
	ASSERT_EQ_U64("707: nobody after it", 0,
		      -expect_rec(now, "output", 707, NULL, "unattributed", &ID_S));
	ASSERT_EQ_U64("708: late-1", 0, -expect_rec(now, "output", 708, &late_pod, "kube", &ID_S));
	ASSERT_EQ_U64("result kube", 5, coll__result(&c, "kube"));
	ASSERT_EQ_U64("result unattributed_none", 2, coll__result(&c, "unattributed_none"));
	ASSERT_EQ_U64("result unattributed_changed", 1, coll__result(&c, "unattributed_changed"));
	ASSERT_EQ_U64("result heartbeat", 0, coll__result(&c, "heartbeat"));
	ASSERT_EQ_U64("result expired", 0, coll__result(&c, "unattributed_expired"));
	ASSERT_EQ_U64("exit code", 0, coll__stop(&c, NULL));
	ret = 0;
cleanup:
	free(why);
	json_decref(j);
	json_decref(now);
	json_decref(late);
	snd__close(&s);
	coll__free(&c, ret);
	api_stop(&api);
	return ret;
}

/* One IP event on the mock cluster, keyed by the address. */
static int produce_event(struct kafka_mock *m, const char *ip, const char *event, int64_t ts,
			 const char *app)
{
	char val[512];
	int n;

	if (app)
		n = snprintf(val, sizeof(val),
			     "{\"ip\":\"%s\",\"event\":\"%s\",\"ts_ms\":%lld,\"app\":\"%s\","
			     "\"namespace\":\"edge\",\"workload\":\"%s-lb\",\"account\":"
			     "\"123456789012\",\"region\":\"eu-west-1\",\"zone\":\"eu-west-1a\"}",
			     ip, event, (long long)ts, app, app);
	else
		n = snprintf(val, sizeof(val), "{\"ip\":\"%s\",\"event\":\"%s\",\"ts_ms\":%lld}",
			     ip, event, (long long)ts);
	return kafka_mock__produce(m, EVENTS, -1, ip, val, (size_t)n, 0);
}

/*
 * Sonar-style IP churn: X goes to app A at t1, is released at t2, goes to
 * app B at t3, is released at t4.  The records are posted first and the
 * events come afterwards, out of order; no record may name the wrong app.
 */
static int test_sonar_churn_synthetic(void)
{
#define X "10.77.0.7"
	static const struct pod_ident app_a = { "lb-alpha", "edge", "", "lb-alpha-lb", "" };
	static const struct pod_ident app_b = { "lb-beta", "edge", "", "lb-beta-lb", "" };
	struct kafka_mock *m = NULL;
	struct coll c = { 0 };
	struct snd s = { 0 };
	json_t *now = NULL, *late = NULL, *v;
	int64_t n0, t1, t2, t3, t4;
	size_t i, unattributed = 0, total;
	int ret = 1;
	struct {
		uint64_t id;
		int64_t from, to;	      /* relative to n0 */
		const struct pod_ident *want; /* NULL: unattributed */
		const char *why;
	} rs[] = {
		{ 501, -3400, -3200, NULL, "before t1" },
		{ 502, -3000, -2900, &app_a, "A, from t1" },
		{ 503, -2800, -2500, &app_a, "A" },
		{ 504, -2600, -2200, NULL, "straddles t2" },
		{ 505, -2400, -2300, NULL, "gap, from t2" },
		{ 506, -2200, -1900, NULL, "gap" },
		{ 507, -2000, -1700, NULL, "straddles t3" },
		{ 508, -1700, -1300, &app_b, "B" },
		{ 509, -1400, -1201, &app_b, "B, to t4 - 1" },
		{ 510, -1300, -1000, NULL, "straddles t4" },
		{ 511, -1000, -600, NULL, "after t4" },
	};
	const size_t n = sizeof(rs) / sizeof(rs[0]);
	struct flow_record recs[sizeof(rs) / sizeof(rs[0])];
	char brokers[256];

	m = kafka_mock__new(1);
	ASSERT_TRUE("mock cluster", m);
	ASSERT_EQ_U64("topic", 0, -kafka_mock__topic(m, EVENTS, 2));
	snprintf(brokers, sizeof(brokers), "%s", kafka_mock__bootstraps(m));
	ASSERT_EQ_U64("collector starts", 0,
		      -coll__start(&c, &g_conf, "sonar",
				   (const char *const[]){ "--kafka-brokers", brokers,
							  "--ranges-topic", "", "--heartbeat-grace",
							  "1s", "--max-delay", "20s", NULL }));
	ASSERT_TRUE("ready once the topic is replayed", coll__wait_ready(&c, 200, WAIT_MS));
	ASSERT_EQ_U64("sender", 0, -snd__open(&s, c.port, &ID_S, IP_S));

	n0 = harness_wall_ms();
	t1 = n0 - 3000;
	t2 = n0 - 2400;
	t3 = n0 - 1800;
	t4 = n0 - 1200;
	for (i = 0; i < n; i++)
		recs[i] = snd_record(rs[i].id, X, n0 + rs[i].from, n0 + rs[i].to);
	/* S's heartbeat claims its own address only */
	ASSERT_EQ_U64("records", 204, snd__post(&s, n0 - 3500, n0, recs, n));
	/* nothing known of X yet, and the feed's watermark is 5 s behind: all wait */
	ASSERT_EQ_U64("all waiting", n, coll__metric(&c, DELAYED_NOW));
	ASSERT_EQ_U64("nothing written yet", 0, lines_all(&c));
	/* now the events, shuffled; the releases one with and one without an owner */
	ASSERT_EQ_U64("assign B", 0, -produce_event(m, X, "assign", t3, "lb-beta"));
	ASSERT_EQ_U64("unassign B", 0, -produce_event(m, X, "unassign", t4, "lb-beta"));
	ASSERT_EQ_U64("unassign", 0, -produce_event(m, X, "unassign", t2, NULL));
	ASSERT_EQ_U64("assign A", 0, -produce_event(m, X, "assign", t1, "lb-alpha"));
	ASSERT_EQ_U64("flush", 0, -kafka_mock__flush(m, WAIT_MS));
	ASSERT_TRUE("every record written", wait_lines(&c, n, 15000));

	now = out_now(&c);
	late = out_late(&c);
	ASSERT_TRUE("outputs", now && late);
	ASSERT_EQ_U64("none written at once", 0, json_array_size(now));
	ASSERT_EQ_U64("all written late", n, json_array_size(late));
	/* never the wrong owner: an owner named only inside its own tenancy */
	json_array_foreach(late, i, v)
	{
		const char *app = rec_str(v, "remote_app");
		int64_t from = (int64_t)rec_u64(v, "start_ms"), to = (int64_t)rec_u64(v, "end_ms");

		if (!strcmp(app, "lb-alpha"))
			ASSERT_TRUE("A only within [t1, t2)", from >= t1 && to < t2);
		else if (!strcmp(app, "lb-beta"))
			ASSERT_TRUE("B only within [t3, t4)", from >= t3 && to < t4);
		else
			ASSERT_STR("else nobody", "", app);
		unattributed += !*app;
	}
	for (i = 0; i < n; i++)
		ASSERT_EQ_U64(rs[i].why, 0,
			      -expect_rec(late, "flows-late", rs[i].id, rs[i].want,
					  rs[i].want ? "sonar" : "unattributed", &ID_S));
	total = n;
	fprintf(stderr, "    (unattributed: %zu of %zu records, %.0f%%)\n", unattributed, total,
		100.0 * (double)unattributed / (double)total);
	ASSERT_EQ_U64("result sonar", 4, coll__result(&c, "sonar"));
	ASSERT_EQ_U64("result unattributed_changed", 3, coll__result(&c, "unattributed_changed"));
	ASSERT_EQ_U64("result unattributed_none", 4, coll__result(&c, "unattributed_none"));
	ASSERT_EQ_U64("result unattributed_expired", 0, coll__result(&c, "unattributed_expired"));
	ASSERT_EQ_U64("result heartbeat", 0, coll__result(&c, "heartbeat"));
	ASSERT_EQ_U64("events applied", 4,
		      coll__metric(&c, "podflow_collector_kafka_messages_total{topic=\"ip_events\","
				       "result=\"applied\"}"));
	ASSERT_EQ_U64("exit code", 0, coll__stop(&c, NULL));
	ret = 0;
cleanup:
	json_decref(now);
	json_decref(late);
	snd__close(&s);
	coll__free(&c, ret);
	kafka_mock__free(m);
	return ret;
#undef X
}

/* Two replicas share heartbeat ranges through the ranges topic. */
static int test_replicas_share_ranges(void)
{
	struct kafka_mock *m = NULL;
	struct coll c1 = { 0 }, c2 = { 0 };
	struct snd a = { 0 }, cs = { 0 };
	json_t *j = NULL, *now = NULL, *late = NULL;
	char brokers[256];
	const char *const args[] = { "--kafka-brokers",
				     brokers,
				     "--sonar-topic",
				     "",
				     "--heartbeat-grace",
				     "5s",
				     "--max-delay",
				     "10s",
				     NULL };
	int64_t n0;
	long st;
	int ret = 1;

	m = kafka_mock__new(1);
	ASSERT_TRUE("mock cluster", m);
	ASSERT_EQ_U64("topic", 0, -kafka_mock__topic(m, RANGES, 2));
	snprintf(brokers, sizeof(brokers), "%s", kafka_mock__bootstraps(m));
	ASSERT_EQ_U64("collector 1 starts", 0, -coll__start(&c1, &g_conf, "replica-1", args));
	ASSERT_EQ_U64("collector 2 starts", 0, -coll__start(&c2, &g_conf, "replica-2", args));
	ASSERT_TRUE("1 ready", coll__wait_ready(&c1, 200, WAIT_MS));
	ASSERT_TRUE("2 ready", coll__wait_ready(&c2, 200, WAIT_MS));
	ASSERT_EQ_U64("A talks to 1", 0, -snd__open(&a, c1.port, &ID_A, IP_A));
	ASSERT_EQ_U64("C talks to 2", 0, -snd__open(&cs, c2.port, &ID_C, IP_C));

	n0 = harness_wall_ms();
	ASSERT_EQ_U64("A's heartbeat, to 1 only", 204,
		      POST(&a, n0 - 2000, n0, snd_record(601, "127.0.0.1", n0 - 1500, n0 - 1400)));
	/* to 2, maybe before A's range got there: it waits for it (grace 5 s) */
	ASSERT_EQ_U64("C's first record, to 2", 204,
		      POST(&cs, n0 - 1600, n0 - 1300, snd_record(602, IP_A, n0 - 1500, n0 - 1400)));
	j = wait_ranges(&c2, IP_A, 1, WAIT_MS);
	ASSERT_EQ_U64("2 knows A's range", 1, n_ranges(j));
	ASSERT_EQ_U64("2: A's range, exactly", 0,
		      -expect_range(j, 0, "heartbeat", n0 - 2000, n0, false, &ID_A));
	json_decref(j);
	j = NULL;
	ASSERT_EQ_U64("C's second record, to 2", 204,
		      POST(&cs, n0 - 1300, n0 - 800, snd_record(603, IP_A, n0 - 1000, n0 - 900)));
	/* once A's claim has settled (the grace past their times): nobody else claimed it */
	ASSERT_EQ_U64("2 decided both by A's heartbeat", 2,
		      coll__wait_result(&c2, "heartbeat", 2, WAIT_MS));
	ASSERT_TRUE("both written", wait_lines(&c2, 2, WAIT_MS));
	now = out_now(&c2);
	late = out_late(&c2);
	ASSERT_TRUE("outputs", now && late);
	ASSERT_EQ_U64("both waited for the grace", 2, json_array_size(late));
	ASSERT_EQ_U64("603: A", 0, -expect_rec(late, "flows-late", 603, &ID_A, "heartbeat", &ID_C));
	ASSERT_EQ_U64("602: A", 0, -expect_rec(late, "flows-late", 602, &ID_A, "heartbeat", &ID_C));
	ASSERT_EQ_U64("2: nothing unattributed", 0, coll__result(&c2, "unattributed_none"));
	/* and the other way: 1 learns C's two touching spans, merged */
	ASSERT_EQ_U64("1 applied C's two spans", 2,
		      coll__wait_metric(&c1,
					"podflow_collector_kafka_messages_total{topic=\"ranges\","
					"result=\"applied\"}",
					2, WAIT_MS));
	j = ownership(&c1, IP_C, &st);
	ASSERT_EQ_U64("1 knows C's range", 1, n_ranges(j));
	ASSERT_EQ_U64("1: C's spans merged", 0,
		      -expect_range(j, 0, "heartbeat", n0 - 1600, n0 - 800, false, &ID_C));
	json_decref(j);
	j = NULL;
	/* what each published and read: its own spans come back and are skipped */
	ASSERT_EQ_U64(
	    "1 delivered A's span", 1,
	    coll__wait_metric(&c1, "podflow_collector_kafka_published_total{result=\"delivered\"}",
			      1, WAIT_MS));
	ASSERT_EQ_U64(
	    "2 delivered C's spans", 2,
	    coll__wait_metric(&c2, "podflow_collector_kafka_published_total{result=\"delivered\"}",
			      2, WAIT_MS));
	ASSERT_EQ_U64("1 skipped its own", 1,
		      coll__wait_metric(&c1,
					"podflow_collector_kafka_messages_total{topic=\"ranges\","
					"result=\"own\"}",
					1, WAIT_MS));
	ASSERT_EQ_U64("2 skipped its own", 2,
		      coll__wait_metric(&c2,
					"podflow_collector_kafka_messages_total{topic=\"ranges\","
					"result=\"own\"}",
					2, WAIT_MS));
	ASSERT_EQ_U64("1 applied C's", 2,
		      coll__metric(&c1, "podflow_collector_kafka_messages_total{topic=\"ranges\","
					"result=\"applied\"}"));
	ASSERT_EQ_U64("2 applied A's", 1,
		      coll__metric(&c2, "podflow_collector_kafka_messages_total{topic=\"ranges\","
					"result=\"applied\"}"));
	ASSERT_EQ_U64("1: its loopback record", 1, coll__result(&c1, "heartbeat"));
	j = ownership(&c1, IP_A, &st);
	ASSERT_EQ_U64("1: A's range, its own", 0,
		      -expect_range(j, 0, "heartbeat", n0 - 2000, n0, false, &ID_A));
	ASSERT_EQ_U64("1: not twice", 1, n_ranges(j));
	ASSERT_EQ_U64("exit code 1", 0, coll__stop(&c1, NULL));
	ASSERT_EQ_U64("exit code 2", 0, coll__stop(&c2, NULL));
	ret = 0;
cleanup:
	json_decref(j);
	json_decref(now);
	json_decref(late);
	snd__close(&a);
	snd__close(&cs);
	coll__free(&c1, ret);
	coll__free(&c2, ret);
	kafka_mock__free(m);
	return ret;
}

/* SIGTERM while records wait (long max_delay, long grace): all are written before exit. */
static int test_held_records_written_at_exit(void)
{
	struct coll c = { 0 };
	struct snd a = { 0 }, b = { 0 };
	json_t *now = NULL, *late = NULL;
	struct report_fault f;
	double secs = 0;
	int64_t n0;
	int ret = 1;

	ASSERT_EQ_U64("collector starts", 0,
		      -coll__start(&c, &g_conf, "exit",
				   (const char *const[]){ "--heartbeat-grace", "60s", "--max-delay",
							  "60s", NULL }));
	ASSERT_EQ_U64("sender A", 0, -snd__open(&a, c.port, &ID_A, IP_A));
	ASSERT_EQ_U64("sender B", 0, -snd__open(&b, c.port, &ID_B, IP_B));
	n0 = harness_wall_ms();
	ASSERT_EQ_U64("A's heartbeat", 204, snd__post(&a, n0 - 3000, n0 - 1000, NULL, 0));
	ASSERT_EQ_U64(
	    "B's records", 204,
	    POST(&b, n0 - 3000, n0, snd_record(801, "10.9.9.1", n0 - 500, n0 - 400),
		 snd_record(802, "10.9.9.2", n0 - 500, n0 - 400),
		 snd_record(803, "10.9.9.3", n0 - 500, n0 - 400),
		 snd_record(804, "10.9.9.4", n0 - 500, n0 - 400),
		 snd_record(805, "10.9.9.5", n0 - 500, n0 - 400),
		 snd_record(806, IP_A, n0 - 800, n0 - 600),  /* after A's span */
		 snd_record(807, IP_A, n0 - 1200, n0 - 900), /* across its end */
		 snd_record(808, IP_A, n0 - 1100, n0 - 950),
		 snd_record(809, IP_A, n0 - 2000, n0 - 1900))); /* inside: a claim, unsettled */
	ASSERT_EQ_U64("nothing at once", 0, coll__result(&c, "heartbeat"));
	ASSERT_EQ_U64("9 waiting", 9, coll__wait_metric(&c, DELAYED_NOW, 9, WAIT_MS));
	harness_sleep_ms(600); /* a few of the attributor's ticks: still nothing to decide them */
	ASSERT_EQ_U64("still 9 waiting", 9, coll__metric(&c, DELAYED_NOW));
	ASSERT_EQ_U64("nothing late yet", 0, count_lines(&c, "flows-late.jsonl"));
	ASSERT_EQ_U64("none expired", 0, coll__result(&c, "unattributed_expired"));
	/*
	 * A's next heartbeat claims 806-808's times too, and SIGTERM follows at
	 * once: the final pass at exit cannot wait for the grace, and decides
	 * by what nothing contradicts (806-809 A's).
	 */
	ASSERT_EQ_U64("A's next heartbeat", 204,
		      snd__post(&a, n0 - 1000, harness_wall_ms(), NULL, 0));
	ASSERT_EQ_U64("exit code", 0, coll__stop(&c, &secs));
	ASSERT_TRUE("exits within 5 s", secs <= 5.0);
	now = out_now(&c);
	late = out_late(&c);
	ASSERT_TRUE("outputs", now && late);
	ASSERT_EQ_U64("every record written: none lost", 9,
		      json_array_size(now) + json_array_size(late));
	ASSERT_EQ_U64("at once", 0, json_array_size(now));
	for (uint64_t id = 801; id <= 805; id++)
		ASSERT_EQ_U64("unknown address: unattributed at exit", 0,
			      -expect_rec(late, "flows-late", id, NULL, "unattributed", &ID_B));
	for (uint64_t id = 806; id <= 809; id++)
		ASSERT_EQ_U64("decided by A's last heartbeat", 0,
			      -expect_rec(late, "flows-late", id, &ID_A, "heartbeat", &ID_B));
	fprintf(stderr, "    (exit after %.2f s)\n", secs);
	f = (struct report_fault){
		.fault = "SIGTERM while records wait for a heartbeat (60 s grace and max delay)",
		.unit = "records",
		.injected = b.records_ok,
		.delivered = json_array_size(now) + json_array_size(late),
		.note = "written at exit, decided by what nothing contradicts; exit within 5 s",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every held record written", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	json_decref(now);
	json_decref(late);
	snd__close(&a);
	snd__close(&b);
	coll__free(&c, ret);
	return ret;
}

/* --max-delayed 10 and 25 undecidable records: the 15 oldest go out early, none is lost. */
static int test_max_delayed_evicts_oldest(void)
{
	struct coll c = { 0 };
	struct snd s = { 0 };
	json_t *late = NULL;
	struct report_fault f;
	int64_t n0;
	int ret = 1;

	ASSERT_EQ_U64(
	    "collector starts", 0,
	    -coll__start(&c, &g_conf, "evict",
			 (const char *const[]){ "--max-delayed", "10", "--max-delay", "3s",
						"--heartbeat-grace", "60s", NULL }));
	ASSERT_EQ_U64("sender", 0, -snd__open(&s, c.port, &ID_S, IP_S));
	n0 = harness_wall_ms();
	/* five batches of five, to addresses nobody claims (yet: the grace is long) */
	for (int b = 0; b < 5; b++) {
		struct flow_record r[5];

		for (int i = 0; i < 5; i++) {
			char ip[32];

			snprintf(ip, sizeof(ip), "10.88.%d.%d", b, i + 1);
			r[i] = snd_record((uint64_t)(900 + b * 5 + i), ip, n0 - 500, n0 - 400);
		}
		ASSERT_EQ_U64("batch", 204, snd__post(&s, n0 - 1000, harness_wall_ms(), r, 5));
	}
	ASSERT_EQ_U64("15 evicted", 15, coll__wait_result(&c, "unattributed_evicted", 15, WAIT_MS));
	ASSERT_TRUE("15 written early", wait_lines(&c, 15, WAIT_MS));
	ASSERT_EQ_U64("10 still waiting", 10, coll__metric(&c, DELAYED_NOW));
	ASSERT_EQ_U64("none expired yet", 0, coll__result(&c, "unattributed_expired"));
	late = out_late(&c);
	ASSERT_TRUE("late output", late);
	for (uint64_t id = 900; id < 915; id++)
		ASSERT_EQ_U64("the oldest went out", 0,
			      -expect_rec(late, "flows-late", id, NULL, "unattributed", &ID_S));
	json_decref(late);
	late = NULL;
	/* the rest at max_delay */
	ASSERT_EQ_U64("10 expired", 10, coll__wait_result(&c, "unattributed_expired", 10, WAIT_MS));
	ASSERT_TRUE("25 written", wait_lines(&c, 25, WAIT_MS));
	ASSERT_TRUE("waited about max_delay", harness_wall_ms() - n0 >= 3000);
	late = out_late(&c);
	ASSERT_TRUE("late output", late);
	ASSERT_EQ_U64("all late", 25, json_array_size(late));
	ASSERT_EQ_U64("none at once", 0, count_lines(&c, "flows-w*.jsonl"));
	for (uint64_t id = 900; id < 925; id++)
		ASSERT_EQ_U64("each once, unattributed", 0,
			      -expect_rec(late, "flows-late", id, NULL, "unattributed", &ID_S));
	ASSERT_EQ_U64("evicted", 15, coll__result(&c, "unattributed_evicted"));
	ASSERT_EQ_U64("expired", 10, coll__result(&c, "unattributed_expired"));
	ASSERT_EQ_U64("none", 0, coll__result(&c, "unattributed_none"));
	ASSERT_EQ_U64("waiting", 0, coll__metric(&c, DELAYED_NOW));
	ASSERT_EQ_U64("had to wait", 25, coll__metric(&c, DELAYED_TOTAL));
	f = (struct report_fault){
		.fault = "more undecidable records than --max-delayed holds",
		.unit = "records",
		.injected = s.records_ok,
		.delivered = json_array_size(late),
		.note =
		    "the oldest written early, unattributed (unattributed_evicted), the rest at "
		    "max_delay (unattributed_expired); each once",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every record written once", 0, f.lost);
	ASSERT_EQ_U64("exit code", 0, coll__stop(&c, NULL));
	harness_report(&f);
	ret = 0;
cleanup:
	json_decref(late);
	snd__close(&s);
	coll__free(&c, ret);
	return ret;
}

/* How many times `needle` occurs in what the collector logged so far. */
static int log_count(struct coll *c, const char *needle)
{
	int n = 0;

	sidecar_poll(&c->p, 0);
	for (const char *p = c->p.err_text; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

#define REFUSED(reason) \
	"podflow_collector_attribution_heartbeats_refused_total{reason=\"" reason "\"}"

/*
 * A sender claims what no sidecar can know (issue 16): a span into the
 * future, one ending at 2^62, one backdated 24 h, one longer than the
 * grace.  None is used: /ownership holds only the real owner's span, the
 * refusals are counted by reason and logged once for the sender, and a
 * record to the claimed address names the real owner, never the claimant.
 */
static int test_heartbeat_bounds(void)
{
	static const struct pod_ident evil = { "evil", "team-x", "evil-0", "evil", "node-9" };
	struct coll c = { 0 };
	struct snd v = { 0 }, e = { 0 }, d = { 0 };
	json_t *j = NULL, *late = NULL;
	uint64_t bad = 0, refused;
	struct report_fault f;
	int64_t n0;
	long st;
	int ret = 1;

	ASSERT_EQ_U64(
	    "collector starts", 0,
	    -coll__start(&c, &g_conf, "bounds",
			 (const char *const[]){ "--heartbeat-grace", "3s", "--max-delay", "10s",
						"--heartbeat-max-skew", "2s", NULL }));
	ASSERT_EQ_U64("victim", 0, -snd__open(&v, c.port, &ID_A, IP_A));
	ASSERT_EQ_U64("claimant", 0, -snd__open(&e, c.port, &evil, IP_A));
	ASSERT_EQ_U64("peer", 0, -snd__open(&d, c.port, &ID_D, IP_D));
	n0 = harness_wall_ms();
	ASSERT_EQ_U64("victim's heartbeat", 204, snd__post(&v, n0 - 2000, n0, NULL, 0));
	/* each a zero-record batch: 204 (the batch is fine), the heartbeat unused */
	ASSERT_EQ_U64("an hour ahead", 204, snd__post(&e, n0 - 1000, n0 + 3600000, NULL, 0));
	bad++;
	ASSERT_EQ_U64("to 2^62", 204, snd__post(&e, n0 - 1000, (int64_t)1 << 62, NULL, 0));
	bad++;
	ASSERT_EQ_U64("backdated 24 h", 204,
		      snd__post(&e, n0 - 86400000, n0 - 86400000 + 1000, NULL, 0));
	bad++;
	ASSERT_EQ_U64("longer than the grace + skew", 204, snd__post(&e, n0 - 5500, n0, NULL, 0));
	bad++;
	/* within the skew: used (and a rival to the victim from n0 + 500 on) */
	ASSERT_EQ_U64("1.5 s ahead", 204, snd__post(&e, n0 + 500, n0 + 1500, NULL, 0));
	ASSERT_EQ_U64("future", 2, coll__metric(&c, REFUSED("future")));
	ASSERT_EQ_U64("too old", 1, coll__metric(&c, REFUSED("too_old")));
	ASSERT_EQ_U64("too long", 1, coll__metric(&c, REFUSED("too_long")));
	refused =
	    (uint64_t)(coll__metric(&c, REFUSED("future")) + coll__metric(&c, REFUSED("too_old")) +
		       coll__metric(&c, REFUSED("too_long")));
	ASSERT_EQ_U64("applied: the victim's, the one within the skew", 2,
		      coll__metric(&c, "podflow_collector_attribution_heartbeats_total"));
	ASSERT_EQ_U64("logged once for the sender", 1,
		      log_count(&c, "heartbeat from team-x/evil-0 (sender"));
	ASSERT_EQ_U64("the reason, named", 1, log_count(&c, "refused (future)"));
	j = ownership(&c, IP_A, &st);
	ASSERT_EQ_U64("status", 200, st);
	ASSERT_EQ_U64("ranges", 2, n_ranges(j));
	ASSERT_EQ_U64("the victim's", 0,
		      -expect_range(j, 0, "heartbeat", n0 - 2000, n0, false, &ID_A));
	ASSERT_EQ_U64("the claimant's short one", 0,
		      -expect_range(j, 1, "heartbeat", n0 + 500, n0 + 1500, false, &evil));
	json_decref(j);
	j = NULL;
	/* flows to the claimed address, within the victim's span: the victim */
	ASSERT_EQ_U64("peer's records", 204,
		      POST(&d, n0 - 1000, n0, snd_record(1001, IP_A, n0 - 1500, n0 - 1400),
			   snd_record(1002, IP_A, n0 - 600, n0 - 500)));
	ASSERT_TRUE("both written", wait_lines(&c, 2, WAIT_MS));
	late = out_late(&c);
	ASSERT_TRUE("late output", late);
	ASSERT_EQ_U64("1001: the victim", 0,
		      -expect_rec(late, "flows-late", 1001, &ID_A, "heartbeat", &ID_D));
	ASSERT_EQ_U64("1002: the victim", 0,
		      -expect_rec(late, "flows-late", 1002, &ID_A, "heartbeat", &ID_D));
	ASSERT_EQ_U64("exit code", 0, coll__stop(&c, NULL));
	f = (struct report_fault){
		.fault = "heartbeat claiming a span in the future, backdated 24 h, or too long",
		.unit = "heartbeats",
		.injected = bad,
		.counted = refused,
		.counted_as = "heartbeats_refused_total{reason}, logged once for the sender",
		.note = "records to the claimed address still name the real owner",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each false claim refused and counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	json_decref(j);
	json_decref(late);
	snd__close(&v);
	snd__close(&e);
	snd__close(&d);
	coll__free(&c, ret);
	return ret;
}

/*
 * Two senders claim one address over overlapping times (issue 16: the
 * first heartbeat to arrive used to decide).  Three arrival orders: both
 * claims before the records, the records between the two claims, and the
 * claims the other way round.  Every record inside the overlap is a
 * conflict, every record outside it names the one claimant there, in each
 * order.
 */
static int test_rival_claims_any_order(void)
{
	struct coll c = { 0 };
	struct snd a = { 0 }, b = { 0 }, d = { 0 };
	json_t *late = NULL, *now = NULL;
	struct report_fault f;
	int ret = 1;

	ASSERT_EQ_U64("collector starts", 0,
		      -coll__start(&c, &g_conf, "rivals",
				   (const char *const[]){ "--heartbeat-grace", "3s", "--max-delay",
							  "10s", NULL }));
	ASSERT_EQ_U64("peer", 0, -snd__open(&d, c.port, &ID_D, IP_D));
	for (int order = 0; order < 3; order++) {
		struct snd *first = order == 2 ? &b : &a, *second = order == 2 ? &a : &b;
		const uint64_t id = 1100 + 10 * (uint64_t)order;
		char ip[32];
		int64_t n0;

		/* an address per round: the rounds' times overlap */
		snprintf(ip, sizeof(ip), "10.3.1.%d", order + 1);
		snd__close(&a);
		snd__close(&b);
		ASSERT_EQ_U64("A", 0, -snd__open(&a, c.port, &ID_A, ip));
		ASSERT_EQ_U64("B", 0, -snd__open(&b, c.port, &ID_B, ip));
		n0 = harness_wall_ms();
		/* A owns [n0-2000, n0-500), B [n0-1200, n0): the overlap is [n0-1200, n0-500) */
		int64_t a_from = n0 - 2000, a_to = n0 - 500, b_from = n0 - 1200, b_to = n0;
		int64_t f_from = first == &a ? a_from : b_from, f_to = first == &a ? a_to : b_to;
		int64_t s_from = first == &a ? b_from : a_from, s_to = first == &a ? b_to : a_to;

		ASSERT_EQ_U64("first claim", 204, snd__post(first, f_from, f_to, NULL, 0));
		if (order != 1)
			ASSERT_EQ_U64("second claim", 204,
				      snd__post(second, s_from, s_to, NULL, 0));
		ASSERT_EQ_U64("records", 204,
			      POST(&d, n0 - 100, n0, snd_record(id + 1, ip, n0 - 1900, n0 - 1800),
				   snd_record(id + 2, ip, n0 - 1100, n0 - 1000),
				   snd_record(id + 3, ip, n0 - 800, n0 - 600),
				   snd_record(id + 4, ip, n0 - 400, n0 - 300)));
		if (order == 1) /* the records have seen only A's claim */
			ASSERT_EQ_U64("late rival", 204, snd__post(second, s_from, s_to, NULL, 0));
		ASSERT_TRUE("4 more written", wait_lines(&c, 4 * ((size_t)order + 1), WAIT_MS));
		late = out_late(&c);
		now = out_now(&c);
		ASSERT_TRUE("outputs", late && now);
		/* a conflict is final at once; a claim only once the grace has passed it */
		json_array_extend(late, now);
		json_decref(now);
		now = NULL;
		ASSERT_EQ_U64("before the overlap: A", 0,
			      -expect_rec(late, "flows-late", id + 1, &ID_A, "heartbeat", &ID_D));
		ASSERT_EQ_U64("in the overlap: nobody", 0,
			      -expect_rec(late, "flows-late", id + 2, NULL, "unattributed", &ID_D));
		ASSERT_EQ_U64("in the overlap: nobody", 0,
			      -expect_rec(late, "flows-late", id + 3, NULL, "unattributed", &ID_D));
		ASSERT_EQ_U64("after the overlap: B", 0,
			      -expect_rec(late, "flows-late", id + 4, &ID_B, "heartbeat", &ID_D));
		json_decref(late);
		late = NULL;
	}
	ASSERT_EQ_U64("conflicts", 6, coll__result(&c, "unattributed_conflict"));
	ASSERT_EQ_U64("decided", 6, coll__result(&c, "heartbeat"));
	/*
	 * Held: the 6 named by a claim, until it settled, and the 2 that came
	 * between the claims in order 1 (only A's claim was in: it decided nothing).
	 */
	ASSERT_EQ_U64("decided late", 8, count_lines(&c, "flows-late.jsonl"));
	ASSERT_EQ_U64("conflicts at once", 4, count_lines(&c, "flows-w*.jsonl"));
	f = (struct report_fault){
		.fault = "two senders claim one address over overlapping times, in any order",
		.unit = "records",
		.injected = d.records_ok,
		.delivered = (uint64_t)coll__result(&c, "heartbeat"),
		.counted = (uint64_t)coll__result(&c, "unattributed_conflict"),
		.counted_as =
		    "written unattributed, records_total{result=\"unattributed_conflict\"}",
		.note = "delivered: attributed to the one claimant of its time; never to the wrong "
			"one",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every record attributed or a counted conflict", 0, f.lost);
	ASSERT_EQ_U64("exit code", 0, coll__stop(&c, NULL));
	harness_report(&f);
	ret = 0;
cleanup:
	json_decref(late);
	json_decref(now);
	snd__close(&a);
	snd__close(&b);
	snd__close(&d);
	coll__free(&c, ret);
	return ret;
}

static const struct harness_test tests[] = {
	{ "heartbeats_name_each_other", test_heartbeats_name_each_other },
	{ "ownership_endpoint", test_ownership_endpoint },
	{ "kube_convergence", test_kube_convergence },
	{ "sonar_churn_synthetic", test_sonar_churn_synthetic },
	{ "replicas_share_ranges", test_replicas_share_ranges },
	{ "held_records_written_at_exit", test_held_records_written_at_exit },
	{ "max_delayed_evicts_oldest", test_max_delayed_evicts_oldest },
	{ "heartbeat_bounds", test_heartbeat_bounds },
	{ "rival_claims_any_order", test_rival_claims_any_order },
};

int main(int argc, char **argv)
{
	/*
	 * As root (CI), a private network namespace: the collectors, the API
	 * server and the mock brokers started here never meet the host's ports.
	 */
	static const struct harness_suite suite = {
		.name = "attribution",
		HARNESS_TESTS(tests),
		.debug_env = "ATTR_DEBUG",
		HARNESS_TMP(g_tmp, "podflow-attribution-it"),
		.netns = true,
	};

	return harness_main(&suite, argc, argv);
}
