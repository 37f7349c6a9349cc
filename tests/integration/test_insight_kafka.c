// SPDX-License-Identifier: BSD-2-Clause
/* Insight view Kafka source tests: collector/insight/insight_kafka against librdkafka's mock cluster. */
/*
 * The records are produced by the collector's own Kafka sink
 * (outputs/kafka_sink.h), so the messages are exactly what a collector
 * writes; garbage is produced beside them.  Each consumer feeds a real
 * view (insight.h) of its own, and the tests read what reached it back
 * through the view's API (insight__query: /api/v1/edges and
 * /api/v1/status), as the UI does.  Every record here is a caller's
 * (direction out), so each edge is one key and its figures are that key's
 * sums, reported_by "caller".  How the consumer cuts its batches is not
 * checked: the view takes any batch size and shows none of them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "flow.h"
#include "harness.h"
#include "harness_main.h"
#include "insight.h"
#include "insight_kafka.h"
#include "jsonw.h"
#include "kafka_mock.h"
#include "kafka_sink.h"

#define TOPIC	   "podflow.flows"
#define WAIT_MS	   30000
#define N_IN	   60 /* records in the window */
#define N_OLD	   25 /* records ending before it */
#define N_BAD	   4  /* messages that are no record */
#define N_LIVE	   7  /* records produced once the consumers caught up */
#define MINUTE_MS  60000ull
#define FREE_MS	   1500 /* insight_kafka__free returns within this */
#define PARTITIONS 3

/* ---- the views, read through their API ------------------------------------------ */

/*
 * The consumer feeds the view at the wall clock, and its window starts at
 * since = now - 60 min, records at since itself included.  A default (1 h)
 * view starts at a minute boundary after that and would count those as too
 * old itself; a 2 h one holds every record the consumer feeds, so its own
 * too_old stays 0 and whatever was skipped, the consumer skipped.
 */
#define VIEW_WINDOW_MS (120 * MINUTE_MS)

static struct insight *view_new(void)
{
	struct insight_opts o = { .window_ms = VIEW_WINDOW_MS };
	struct insight *in = insight__new(&o);

	if (!in)
		fprintf(stderr, "    insight__new: %s\n", strerror(errno));
	return in;
}

/* The query's parameters: name, value, ..., NULL. */
static const char *arg_of(void *ctx, const char *name)
{
	const char *const *kv = ctx;

	for (; kv && kv[0]; kv += 2)
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	return NULL;
}

static const char *const all_edges[] = { "limit", "1000", NULL };

/*
 * GET path from the view: its JSON answer when it is a 200, else NULL
 * (saying what came back).  Asked at the wall clock: every record here is
 * stamped before it and within the window.  The caller json_decref()s it.
 */
static json_t *api_get(struct insight *in, const char *path, const char *const *args)
{
	struct jsonw *jw = jsonw__new();
	json_error_t jerr;
	const char *data;
	json_t *j = NULL;
	size_t len;
	int status;

	if (!jw)
		return NULL;
	status = insight__query(in, path, arg_of, (void *)args, jw, (uint64_t)clock_wall_ms());
	data = jsonw__data(jw, &len);
	if (status != 200 || jsonw__error(jw)) {
		fprintf(stderr, "    %s: expected 200, got %d: %.*s\n", path, status, (int)len,
			data);
		goto out;
	}
	j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j)) {
		fprintf(stderr, "    %s: not a JSON object (%s): %.*s\n", path, jerr.text, (int)len,
			data);
		json_decref(j);
		j = NULL;
	}
out:
	jsonw__free(jw);
	return j;
}

/* The edge from -> to on port in an /api/v1/edges answer (borrowed), NULL when there is none. */
static json_t *edge_of(json_t *answer, const char *from, const char *to, uint64_t port)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(answer, "edges"), i, e)
	{
		if (strcmp(rec_str(e, "from"), from) == 0 && strcmp(rec_str(e, "to"), to) == 0 &&
		    rec_u64(e, "port") == port)
			return e;
	}
	return NULL;
}

/*
 * The answer of /api/v1/status once it says rebuild `state` (the consumer
 * reports from its own thread, after its stats change), or NULL.
 */
static json_t *wait_status(struct insight *in, const char *state)
{
	uint64_t deadline = harness_now_ms() + WAIT_MS;
	json_t *st;

	do {
		st = api_get(in, "/api/v1/status", NULL);
		if (!st || strcmp(rec_str(st, "rebuild"), state) == 0)
			return st;
		json_decref(st);
		harness_sleep_ms(10);
	} while (harness_now_ms() < deadline);
	fprintf(stderr, "    status: rebuild never \"%s\"\n", state);
	return NULL;
}

/* ---- records ------------------------------------------------------------------------ */

static const struct flow_identity id_web = { .app = "web", .namespace = "shop", .pod = "web-1" };
static const struct flow_identity id_api = { .app = "api", .namespace = "shop", .pod = "api-1" };
static const struct flow_identity id_db = { .app = "db", .namespace = "data", .pod = "db-0" };
static const struct flow_identity id_old = { .app = "old", .namespace = "x", .pod = "old-0" };

static struct flow_record rec(const struct flow_identity *local, const struct flow_identity *remote,
			      uint16_t port, uint64_t end_ms, uint64_t bytes_sent)
{
	struct flow_record r = {
		.start_ms = end_ms - 5000,
		.end_ms = end_ms,
		.family = 4,
		.direction = FLOW_DIRECTION_OUT,
		.remote_port = port,
		.flows = 1,
		.closed = 1,
		.bytes_sent = bytes_sent,
		.local = local,
		.remote = remote,
		.remote_source = FLOW_SOURCE_KUBE,
	};

	r.local_addr[10] = r.local_addr[11] = r.remote_addr[10] = r.remote_addr[11] = 0xff;
	r.remote_addr[12] = 10;
	r.remote_addr[15] = 9;
	return r;
}

static struct kafka_sink *sink_new(struct kafka_mock *m)
{
	struct kafka_sink_opts o = { .brokers = kafka_mock__bootstraps(m), .topic = TOPIC };
	char why[256] = "";
	struct kafka_sink *ks = kafka_sink__new(&o, why, sizeof(why));

	if (!ks)
		fprintf(stderr, "    kafka_sink__new: %s\n", why);
	return ks;
}

static struct insight_kafka *consumer_new(struct kafka_mock *m, const char *group, uint64_t since,
					  struct insight *in)
{
	struct insight_kafka_opts o = {
		.brokers = kafka_mock__bootstraps(m),
		.group_id = group,
		.since_ms = since,
	};
	char why[256] = "";
	struct insight_kafka *k = insight_kafka__new(&o, in, why, sizeof(why));

	if (!k)
		fprintf(stderr, "    insight_kafka__new: %s\n", why);
	return k;
}

static bool wait_caught_up(struct insight_kafka *k, uint64_t added)
{
	uint64_t deadline = harness_now_ms() + WAIT_MS;
	struct insight_kafka_stats s;

	do {
		insight_kafka__stats(k, &s);
		if (s.caught_up && s.added >= added)
			return true;
		harness_sleep_ms(10);
	} while (harness_now_ms() < deadline);
	fprintf(stderr, "    consumer: caught_up %d, added %llu of %llu, consumed %llu\n",
		s.caught_up, (unsigned long long)s.added, (unsigned long long)added,
		(unsigned long long)s.consumed);
	return false;
}

/* ---- tests --------------------------------------------------------------------------- */

static int test_window_replay(void)
{
	uint64_t now = (uint64_t)clock_wall_ms(), since = now - 60 * MINUTE_MS;
	struct insight_kafka *k[2] = { NULL, NULL };
	struct insight *views[2] = { NULL, NULL };
	static const char *const groups[2] = { "insight-replica-a", "insight-replica-b" };
	struct flow_record r[N_IN + N_OLD];
	struct insight_kafka_stats s;
	json_t *st = NULL, *edges = NULL, *e;
	struct kafka_sink *ks = NULL;
	struct kafka_mock *m = NULL;
	int ret = 1, n = 0;
	uint64_t t0, bad = 0, read_bad = 0, counted_bad = 0;
	struct report_fault f;

	m = kafka_mock__new(1);
	ASSERT_TRUE("mock cluster", m != NULL);
	ASSERT_EQ_U64("topic", 0, kafka_mock__topic(m, TOPIC, PARTITIONS));
	ks = sink_new(m);
	ASSERT_TRUE("sink", ks != NULL);
	/* in the window: web -> api (40, 10 bytes each), web -> db refused (20, 3 bytes each) */
	for (int i = 0; i < 40; i++)
		r[n++] = rec(&id_web, &id_api, 8080, now - 30 * MINUTE_MS + (uint64_t)i, 10);
	for (int i = 0; i < 20; i++) {
		r[n] = rec(&id_web, &id_db, 5432, since + (uint64_t)i, 3); /* since itself: in */
		r[n].failed = 1;
		r[n++].err = ECONNREFUSED;
	}
	/* before the window: skipped */
	for (int i = 0; i < N_OLD; i++)
		r[n++] = rec(&id_old, &id_api, 8080, since - 1 - (uint64_t)i * MINUTE_MS, 1000);
	ASSERT_EQ_U64("sink write", 0, kafka_sink__write(ks, r, (uint32_t)n, NULL));
	ASSERT_EQ_U64("sink flush", 0, kafka_sink__flush(ks, WAIT_MS));
	/* no record: not JSON, not an object, no end_ms, an empty message */
	ASSERT_EQ_U64("bad 1", 0, kafka_mock__produce(m, TOPIC, 0, NULL, "not json", 8, 0));
	bad++;
	ASSERT_EQ_U64("bad 2", 0, kafka_mock__produce(m, TOPIC, 1, NULL, "[1,2]", 5, 0));
	bad++;
	ASSERT_EQ_U64("bad 3", 0,
		      kafka_mock__produce(m, TOPIC, 2, NULL, "{\"direction\":\"out\"}", 19, 0));
	bad++;
	ASSERT_EQ_U64("bad 4", 0, kafka_mock__produce(m, TOPIC, 0, "k", NULL, 0, 0));
	bad++;
	ASSERT_EQ_U64("mock flush", 0, kafka_mock__flush(m, WAIT_MS));

	for (int i = 0; i < 2; i++) {
		views[i] = view_new();
		ASSERT_TRUE("view", views[i] != NULL);
		k[i] = consumer_new(m, groups[i], since, views[i]);
		ASSERT_TRUE("consumer", k[i] != NULL);
	}
	for (int i = 0; i < 2; i++) {
		ASSERT_TRUE("caught up", wait_caught_up(k[i], N_IN));
		insight_kafka__stats(k[i], &s);
		ASSERT_EQ_U64("partitions", PARTITIONS, s.partitions);
		ASSERT_EQ_U64("consumed", N_IN + N_OLD + N_BAD, s.consumed);
		ASSERT_EQ_U64("added", N_IN, s.added);
		ASSERT_EQ_U64("too old", N_OLD, s.too_old);
		ASSERT_EQ_U64("bad", N_BAD, s.bad_messages);
		ASSERT_EQ_U64("rebuilt", N_IN, s.rebuilt);
		/* each consumer group reads every message: the bad ones once each */
		read_bad += bad;
		counted_bad += s.bad_messages;

		/* what reached the view: those records, each on its edge, and nothing else */
		edges = api_get(views[i], "/api/v1/edges", all_edges);
		ASSERT_TRUE("edges", edges != NULL);
		e = edge_of(edges, "shop/web", "shop/api", 8080);
		ASSERT_TRUE("web>api", e != NULL);
		ASSERT_STR("web>api reported by", "caller", rec_str(e, "reported_by"));
		ASSERT_EQ_U64("web>api flows", 40, rec_u64(e, "flows"));
		ASSERT_EQ_U64("web>api failed", 0, rec_u64(e, "failed"));
		ASSERT_EQ_U64("web>api bytes", 400, rec_u64(e, "bytes_sent"));
		e = edge_of(edges, "shop/web", "data/db", 5432);
		ASSERT_TRUE("web>db", e != NULL);
		ASSERT_STR("web>db reported by", "caller", rec_str(e, "reported_by"));
		ASSERT_EQ_U64("web>db flows", 20, rec_u64(e, "flows"));
		ASSERT_EQ_U64("web>db failed", 20, rec_u64(e, "failed"));
		/* "ECONNREFUSED" in the messages: the refused class */
		ASSERT_EQ_U64("web>db refused", 20,
			      rec_u64(json_object_get(e, "failures"), "refused"));
		ASSERT_EQ_U64("web>db bytes", 60, rec_u64(e, "bytes_sent"));
		ASSERT_TRUE("old", edge_of(edges, "x/old", "shop/api", 8080) == NULL);
		ASSERT_EQ_U64("edges", 2, rec_u64(edges, "total"));
		json_decref(edges);
		edges = NULL;

		/* the source's figures, as /api/v1/status shows them once it says caught up */
		st = wait_status(views[i], "done");
		ASSERT_TRUE("status done", st != NULL);
		ASSERT_STR("source", "kafka", rec_str(st, "source"));
		ASSERT_EQ_U64("status rebuilt", N_IN, rec_u64(st, "rebuilt"));
		ASSERT_EQ_U64("status consumed", N_IN + N_OLD + N_BAD, rec_u64(st, "consumed"));
		ASSERT_EQ_U64("status bad", N_BAD, rec_u64(st, "bad_messages"));
		/* the view's own count: every record it was fed, none it found too old */
		ASSERT_EQ_U64("status records", N_IN, rec_u64(st, "records"));
		ASSERT_EQ_U64("status too old", 0, rec_u64(st, "too_old"));
		ASSERT_EQ_U64("status edges", 2, rec_u64(st, "edges"));
		json_decref(st);
		st = NULL;
	}

	/* live: what arrives after the catch-up is fed too, not counted as rebuilt */
	for (int i = 0; i < N_LIVE; i++)
		r[i] = rec(&id_api, &id_db, 5432, (uint64_t)clock_wall_ms(), 5);
	ASSERT_EQ_U64("sink write live", 0, kafka_sink__write(ks, r, N_LIVE, NULL));
	ASSERT_EQ_U64("sink flush live", 0, kafka_sink__flush(ks, WAIT_MS));
	for (int i = 0; i < 2; i++) {
		ASSERT_TRUE("live", wait_caught_up(k[i], N_IN + N_LIVE));
		insight_kafka__stats(k[i], &s);
		ASSERT_EQ_U64("added live", N_IN + N_LIVE, s.added);
		ASSERT_EQ_U64("rebuilt live", N_IN, s.rebuilt);
		edges = api_get(views[i], "/api/v1/edges", all_edges);
		ASSERT_TRUE("edges live", edges != NULL);
		e = edge_of(edges, "shop/api", "data/db", 5432);
		ASSERT_TRUE("api>db", e != NULL);
		ASSERT_STR("api>db reported by", "caller", rec_str(e, "reported_by"));
		ASSERT_EQ_U64("api>db flows", N_LIVE, rec_u64(e, "flows"));
		ASSERT_EQ_U64("api>db bytes", 5 * N_LIVE, rec_u64(e, "bytes_sent"));
		ASSERT_EQ_U64("edges live", 3, rec_u64(edges, "total"));
		json_decref(edges);
		edges = NULL;
		st = api_get(views[i], "/api/v1/status", NULL);
		ASSERT_TRUE("status live", st != NULL);
		ASSERT_EQ_U64("status records live", N_IN + N_LIVE, rec_u64(st, "records"));
		ASSERT_EQ_U64("status rebuilt live", N_IN, rec_u64(st, "rebuilt"));
		json_decref(st);
		st = NULL;
	}

	for (int i = 0; i < 2; i++) {
		t0 = harness_now_ms();
		insight_kafka__free(k[i]);
		k[i] = NULL;
		ASSERT_TRUE("free is prompt", harness_now_ms() - t0 < FREE_MS);
	}
	f = (struct report_fault){
		.fault = "flow topic messages not JSON, not an object, without end_ms, or empty",
		.unit = "messages read",
		.injected = read_bad,
		.counted = counted_bad,
		.counted_as = "skipped, bad_messages (on /api/v1/status)",
		.note = "read by two consumer groups; the good records around them all in the view",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each bad message counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	json_decref(st);
	json_decref(edges);
	/* the consumers first: each feeds its view until freed */
	for (int i = 0; i < 2; i++)
		insight_kafka__free(k[i]);
	for (int i = 0; i < 2; i++)
		insight__free(views[i]);
	if (ks)
		kafka_sink__free(ks);
	kafka_mock__free(m);
	return ret;
}

/* Brokers that do not answer: nothing is consumed, errors are counted, free is still prompt. */
static int test_brokers_down(void)
{
	struct insight_kafka_opts o = {
		.brokers = "127.0.0.1:9", /* discard: refused */
		.group_id = "insight-down",
		.since_ms = 0,
	};
	struct insight_kafka *k = NULL;
	struct insight *v = NULL;
	struct insight_kafka_stats s;
	char why[256] = "";
	uint64_t t0, deadline;
	json_t *st = NULL;
	int ret = 1;

	v = view_new();
	ASSERT_TRUE("view", v != NULL);
	k = insight_kafka__new(&o, v, why, sizeof(why));
	ASSERT_TRUE("consumer", k != NULL);
	deadline = harness_now_ms() + WAIT_MS;
	do {
		harness_sleep_ms(20);
		insight_kafka__stats(k, &s);
	} while (s.errors == 0 && harness_now_ms() < deadline);
	ASSERT_TRUE("errors counted", s.errors > 0);
	ASSERT_TRUE("a last error", s.last_error[0] != '\0');
	ASSERT_EQ_U64("consumed", 0, s.consumed);
	ASSERT_TRUE("not caught up", !s.caught_up);
	st = wait_status(v, "running");
	ASSERT_TRUE("status running", st != NULL);
	ASSERT_STR("source", "kafka", rec_str(st, "source"));
	ASSERT_EQ_U64("status consumed", 0, rec_u64(st, "consumed"));
	ASSERT_EQ_U64("status records", 0, rec_u64(st, "records"));
	t0 = harness_now_ms();
	insight_kafka__free(k);
	k = NULL;
	ASSERT_TRUE("free is prompt", harness_now_ms() - t0 < FREE_MS);
	ret = 0;
cleanup:
	json_decref(st);
	insight_kafka__free(k);
	insight__free(v);
	return ret;
}

static int test_bad_options(void)
{
	const char *const refused[] = { "consumer.group.id", "x", NULL };
	struct insight_kafka_opts o = { .brokers = "127.0.0.1:9", .group_id = "g" };
	struct insight *v = NULL;
	char why[256] = "";
	uint64_t tried = 0, refused_n = 0;
	struct report_fault f;
	int ret = 1;

	v = view_new();
	ASSERT_TRUE("view", v != NULL);
	o.brokers = NULL;
	tried++;
	ASSERT_TRUE("no brokers", !insight_kafka__new(&o, v, why, sizeof(why)));
	ASSERT_EQ_U64("errno", EINVAL, errno);
	refused_n++;
	o.brokers = "127.0.0.1:9";
	o.group_id = "";
	tried++;
	ASSERT_TRUE("no group", !insight_kafka__new(&o, v, why, sizeof(why)));
	ASSERT_EQ_U64("errno", EINVAL, errno);
	ASSERT_STR("why", "insight kafka: no group id", why);
	refused_n++;
	o.group_id = "g";
	o.props = refused;
	tried++;
	ASSERT_TRUE("refused property", !insight_kafka__new(&o, v, why, sizeof(why)));
	ASSERT_EQ_U64("errno", EINVAL, errno);
	ASSERT_TRUE("why names it", strstr(why, "group.id") != NULL);
	refused_n++;
	f = (struct report_fault){
		.fault = "insight consumer without brokers or group id, or setting its group",
		.unit = "option sets",
		.injected = tried,
		.counted = refused_n,
		.counted_as = "EINVAL with the reason",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each refused", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	insight__free(v);
	return ret;
}

static const struct harness_test tests[] = {
	{ "window_replay_two_groups", test_window_replay },
	{ "brokers_down", test_brokers_down },
	{ "bad_options", test_bad_options },
};

int main(int argc, char **argv)
{
	static const struct harness_suite suite = {
		.name = "insight_kafka",
		HARNESS_TESTS(tests),
		.debug_env = "KAFKA_DEBUG",
	};

	return harness_main(&suite, argc, argv);
}
