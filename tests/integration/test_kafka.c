// SPDX-License-Identifier: BSD-2-Clause
/* Kafka feed integration tests: collector/kafka_feed against librdkafka's in-process mock cluster. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka_feed.h"
#include "harness.h"
#include "harness_main.h"
#include "kafka_mock.h"

#define EVENTS	  "podflow.ip-events"
#define RANGES	  "podflow.ip-ranges"
#define HOUR_MS	  3600000LL
#define LAG_MS	  1000
#define WAIT_MS	  20000 /* deadline for anything the feed should get to */
#define FREEZE_MS 2500	/* how long a frozen watermark is watched */
#define MAX_CALLS 4096

/* Fast reconnects so a broker brought back is used again within the test's deadlines. */
static const char *const fast_props[] = {
	"reconnect.backoff.ms", "50", "reconnect.backoff.max.ms", "200", NULL,
};

/* ---- what the callbacks saw ---- */

struct call {
	char kind; /* 'a' assign, 'u' unassign, 's' span */
	uint8_t ip[16];
	int64_t a, b; /* t_ms, or from_ms and to_ms */
	char app[32], pod[32], zone[32];
	bool ready;	   /* kafka_feed__ready() during the callback */
	int64_t watermark; /* kafka_feed__watermark() during the callback */
};

struct rec {
	pthread_mutex_t lock;
	struct kafka_feed *feed;
	pthread_t feed_thread;
	int wrong_thread; /* a callback ran on two different threads */
	size_t n;
	struct call calls[MAX_CALLS];
};

static struct rec *rec_new(void)
{
	struct rec *r = calloc(1, sizeof(*r));

	if (r)
		pthread_mutex_init(&r->lock, NULL);
	return r;
}

static void rec_free(struct rec *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static void record(struct rec *r, char kind, const uint8_t ip[16], const struct flow_identity *id,
		   int64_t a, int64_t b)
{
	struct call *c;

	pthread_mutex_lock(&r->lock);
	if (r->n == 0)
		r->feed_thread = pthread_self();
	else if (!pthread_equal(r->feed_thread, pthread_self()))
		r->wrong_thread = 1;
	if (r->n < MAX_CALLS) {
		c = &r->calls[r->n];
		c->kind = kind;
		memcpy(c->ip, ip, 16);
		c->a = a;
		c->b = b;
		snprintf(c->app, sizeof(c->app), "%s", id->app);
		snprintf(c->pod, sizeof(c->pod), "%s", id->pod);
		snprintf(c->zone, sizeof(c->zone), "%s", id->zone);
		c->ready = kafka_feed__ready(r->feed);
		c->watermark = kafka_feed__watermark(r->feed);
	}
	r->n++;
	pthread_mutex_unlock(&r->lock);
}

static void cb_assign(void *ctx, const uint8_t ip[16], const struct flow_identity *id, int64_t t)
{
	record(ctx, 'a', ip, id, t, 0);
}

static void cb_unassign(void *ctx, const uint8_t ip[16], const struct flow_identity *id, int64_t t)
{
	record(ctx, 'u', ip, id, t, 0);
}

static void cb_span(void *ctx, const uint8_t ip[16], const struct flow_identity *id, int64_t from,
		    int64_t to)
{
	record(ctx, 's', ip, id, from, to);
}

static size_t rec_count(struct rec *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->n;
	pthread_mutex_unlock(&r->lock);
	return n;
}

/* Waits until at least n calls were seen; returns the count then (or at the deadline). */
static size_t wait_calls(struct rec *r, size_t n, int timeout_ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)timeout_ms;

	while (rec_count(r) < n && harness_now_ms() < end)
		harness_sleep_ms(10);
	return rec_count(r);
}

/* ---- feeds and messages ---- */

static struct kafka_feed *feed_new(struct kafka_mock *m, const char *sonar, const char *ranges,
				   const char *origin, const char *const *props, int64_t refresh_ms,
				   struct rec *r)
{
	struct kafka_feed_opts o = {
		.brokers = kafka_mock__bootstraps(m),
		.sonar_topic = sonar,
		.ranges_topic = ranges,
		.origin = origin,
		.retention_ms = HOUR_MS,
		.lag_ms = LAG_MS,
		.refresh_ms = refresh_ms,
		.props = props ? props : fast_props,
	};
	struct kafka_feed_callbacks cb = { cb_assign, cb_unassign, cb_span, r };
	struct kafka_feed *f;
	char why[256] = "";

	f = kafka_feed__new(&o, &cb, why, sizeof(why));
	if (!f)
		fprintf(stderr, "    kafka_feed__new: %s\n", why);
	if (r)
		r->feed = f;
	return f;
}

static bool wait_ready(struct kafka_feed *f, int timeout_ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)timeout_ms;

	while (!kafka_feed__ready(f) && harness_now_ms() < end)
		harness_sleep_ms(10);
	return kafka_feed__ready(f);
}

/* Waits until the watermark is above `than`; returns it. */
static int64_t wait_watermark_above(struct kafka_feed *f, int64_t than, int timeout_ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)timeout_ms;

	while (kafka_feed__watermark(f) <= than && harness_now_ms() < end)
		harness_sleep_ms(10);
	return kafka_feed__watermark(f);
}

static bool wait_healthy(struct kafka_feed *f, bool want, int timeout_ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)timeout_ms;
	struct kafka_feed_stats st;

	do {
		kafka_feed__stats(f, &st);
		if (st.healthy == want)
			return true;
		harness_sleep_ms(10);
	} while (harness_now_ms() < end);
	return false;
}

/* 10.a.b.c as the 16 bytes the callbacks get. */
static void ip4(uint8_t ip[16], int a, int b, int c)
{
	memset(ip, 0, 16);
	ip[10] = 0xff;
	ip[11] = 0xff;
	ip[12] = 10;
	ip[13] = (uint8_t)a;
	ip[14] = (uint8_t)b;
	ip[15] = (uint8_t)c;
}

/* One IP event for 10.a.b.c, keyed by its address, Kafka timestamp = ts_ms. */
static int produce_event(struct kafka_mock *m, const char *topic, int32_t partition, int a, int b,
			 int c, const char *event, int64_t ts_ms, const char *pod)
{
	char ip[48], val[512];
	int n;

	snprintf(ip, sizeof(ip), "10.%d.%d.%d", a, b, c);
	if (pod)
		n = snprintf(val, sizeof(val),
			     "{\"ip\":\"%s\",\"event\":\"%s\",\"ts_ms\":%lld,\"app\":\"app-%d\","
			     "\"namespace\":\"ns\",\"pod\":\"%s\",\"zone\":\"z%d\"}",
			     ip, event, (long long)ts_ms, a, pod, a);
	else
		n = snprintf(val, sizeof(val), "{\"ip\":\"%s\",\"event\":\"%s\",\"ts_ms\":%lld}",
			     ip, event, (long long)ts_ms);
	return kafka_mock__produce(m, topic, partition, ip, val, (size_t)n, ts_ms);
}

static int produce_raw(struct kafka_mock *m, const char *topic, const char *key, const char *val)
{
	return kafka_mock__produce(m, topic, 0, key, val, val ? strlen(val) : 0, harness_wall_ms());
}

/*
 * 3 partitions x 1000 events: exactly 3000 assign callbacks, every
 * partition's in order, each with its fields, and not one of them while
 * the feed said ready or had a watermark.
 */
static int test_all_partitions_in_order(void)
{
	struct kafka_mock *m = kafka_mock__new(3);
	int64_t base = harness_wall_ms() - 60000, last[3] = { -1, -1, -1 };
	struct kafka_feed *f = NULL;
	struct kafka_feed_stats st;
	struct rec *r = rec_new();
	int ret = 1;

	ASSERT_TRUE("mock cluster", m && r);
	ASSERT_EQ_U64("topic", 0, kafka_mock__topic(m, EVENTS, 3));
	for (int p = 0; p < 3; p++)
		for (int i = 0; i < 1000; i++) {
			char pod[32];

			snprintf(pod, sizeof(pod), "p%d-%d", p, i);
			ASSERT_EQ_U64("produce", 0,
				      produce_event(m, EVENTS, p, p, i >> 8, i & 255, "assign",
						    base + i, pod));
		}
	ASSERT_EQ_U64("flush", 0, kafka_mock__flush(m, WAIT_MS));
	f = feed_new(m, EVENTS, NULL, NULL, NULL, 0, r);
	ASSERT_TRUE("feed", f != NULL);
	ASSERT_TRUE("not ready before start", !kafka_feed__ready(f));
	ASSERT_EQ_U64("watermark before start", 0, kafka_feed__watermark(f));
	ASSERT_EQ_U64("start", 0, kafka_feed__start(f));
	ASSERT_TRUE("ready", wait_ready(f, WAIT_MS));
	/* ready is set after the backlog's last callback returned */
	ASSERT_EQ_U64("callbacks", 3000, rec_count(r));
	for (size_t k = 0; k < 3000; k++) {
		struct call *c = &r->calls[k];
		uint8_t want[16];
		int p = c->ip[13], i = c->ip[14] << 8 | c->ip[15];
		char pod[32], app[32], zone[32];

		ASSERT_TRUE("partition in range", p < 3);
		ASSERT_EQ_U64("partition order", last[p] + 1, i);
		last[p] = i;
		ip4(want, p, i >> 8, i & 255);
		ASSERT_TRUE("ip", memcmp(want, c->ip, 16) == 0);
		ASSERT_EQ_U64("kind", 'a', c->kind);
		ASSERT_EQ_U64("t_ms", base + i, c->a);
		snprintf(pod, sizeof(pod), "p%d-%d", p, i);
		snprintf(app, sizeof(app), "app-%d", p);
		snprintf(zone, sizeof(zone), "z%d", p);
		ASSERT_STR("pod", pod, c->pod);
		ASSERT_STR("app", app, c->app);
		ASSERT_STR("zone", zone, c->zone);
		ASSERT_EQ_U64("ready during the backlog", 0, c->ready);
		ASSERT_EQ_U64("watermark during the backlog", 0, c->watermark);
	}
	for (int p = 0; p < 3; p++)
		ASSERT_EQ_U64("last of partition", 999, last[p]);
	ASSERT_EQ_U64("one thread", 0, r->wrong_thread);
	kafka_feed__stats(f, &st);
	ASSERT_EQ_U64("messages", 3000, st.sonar.messages);
	ASSERT_EQ_U64("applied", 3000, st.sonar.applied);
	ASSERT_EQ_U64("partitions", 3, st.sonar.partitions);
	ASSERT_EQ_U64("too old", 0, st.sonar.too_old);
	ASSERT_TRUE("caught up", st.sonar.caught_up);
	for (int b = 1; b < IP_EVENT_BAD__COUNT; b++)
		ASSERT_EQ_U64(ip_event_bad_name(b), 0, st.sonar.bad[b]);
	ASSERT_EQ_U64("replayed partitions", 3,
		      st.sonar.replay_by_time + st.sonar.replay_from_start);
	ASSERT_EQ_U64("ranges off", 0, st.ranges.partitions);
	ret = 0;
cleanup:
	kafka_feed__free(f);
	kafka_mock__free(m);
	rec_free(r);
	return ret;
}

/*
 * 100 events 2 h old then 100 of 30 min ago per partition, retention 1 h:
 * exactly the 300 recent ones reach the callbacks, by whichever path.
 */
static int test_replay_from_retention(void)
{
	struct kafka_mock *m = kafka_mock__new(3);
	int64_t now = harness_wall_ms(), last[3] = { -1, -1, -1 };
	struct kafka_feed *f = NULL;
	struct kafka_feed_stats st;
	struct rec *r = rec_new();
	int ret = 1;

	ASSERT_TRUE("mock cluster", m && r);
	ASSERT_EQ_U64("topic", 0, kafka_mock__topic(m, EVENTS, 3));
	for (int p = 0; p < 3; p++) {
		for (int i = 0; i < 100; i++)
			ASSERT_EQ_U64("produce old", 0,
				      produce_event(m, EVENTS, p, p, 0, i, "assign",
						    now - 2 * HOUR_MS + i * 1000, "old"));
		for (int i = 0; i < 100; i++)
			ASSERT_EQ_U64("produce recent", 0,
				      produce_event(m, EVENTS, p, p, 1, i, "assign",
						    now - HOUR_MS / 2 + i * 1000, "recent"));
	}
	ASSERT_EQ_U64("flush", 0, kafka_mock__flush(m, WAIT_MS));
	f = feed_new(m, EVENTS, NULL, NULL, NULL, 0, r);
	ASSERT_TRUE("feed", f != NULL);
	ASSERT_EQ_U64("start", 0, kafka_feed__start(f));
	ASSERT_TRUE("ready", wait_ready(f, WAIT_MS));
	ASSERT_EQ_U64("callbacks", 300, rec_count(r));
	for (size_t k = 0; k < 300; k++) {
		struct call *c = &r->calls[k];
		int p = c->ip[13];

		ASSERT_STR("only recent events", "recent", c->pod);
		ASSERT_EQ_U64("recent address", 1, c->ip[14]);
		ASSERT_EQ_U64("partition order", last[p] + 1, c->ip[15]);
		last[p] = c->ip[15];
		ASSERT_EQ_U64("t_ms", now - HOUR_MS / 2 + c->ip[15] * 1000, c->a);
	}
	kafka_feed__stats(f, &st);
	if (st.sonar.replay_by_time == 3) {
		/* the broker answered ListOffsets by time: the old ones were never fetched */
		fprintf(stderr, "    replay path: offsets_for_times (broker)\n");
		ASSERT_EQ_U64("messages", 300, st.sonar.messages);
		ASSERT_EQ_U64("too old", 0, st.sonar.too_old);
	} else {
		/* librdkafka 2.0.2's mock answers -1: from the beginning, filtered here */
		fprintf(stderr, "    replay path: from the beginning, filtered by message time\n");
		ASSERT_EQ_U64("from the beginning", 3, st.sonar.replay_from_start);
		ASSERT_EQ_U64("messages", 600, st.sonar.messages);
		ASSERT_EQ_U64("too old", 300, st.sonar.too_old);
	}
	ASSERT_EQ_U64("applied", 300, st.sonar.applied);
	ret = 0;
cleanup:
	kafka_feed__free(f);
	kafka_mock__free(m);
	rec_free(r);
	return ret;
}

/*
 * After the backlog: the watermark starts at about now - lag, and events
 * produced then are delivered live, in order, with every field, while ready.
 */
static int test_live_after_caught_up(void)
{
	struct kafka_mock *m = kafka_mock__new(1);
	int64_t base = harness_wall_ms() - 10000, w, w2, now;
	struct kafka_feed *f = NULL;
	struct rec *r = rec_new();
	int ret = 1;

	ASSERT_TRUE("mock cluster", m && r);
	ASSERT_EQ_U64("topic", 0, kafka_mock__topic(m, EVENTS, 2));
	for (int i = 0; i < 10; i++)
		ASSERT_EQ_U64("produce", 0,
			      produce_event(m, EVENTS, i % 2, 7, 0, i, "assign", base + i, "old"));
	ASSERT_EQ_U64("flush", 0, kafka_mock__flush(m, WAIT_MS));
	f = feed_new(m, EVENTS, NULL, NULL, NULL, 0, r);
	ASSERT_TRUE("feed", f != NULL);
	ASSERT_EQ_U64("start", 0, kafka_feed__start(f));
	ASSERT_TRUE("ready", wait_ready(f, WAIT_MS));
	ASSERT_EQ_U64("backlog callbacks", 10, rec_count(r));
	w = wait_watermark_above(f, 0, WAIT_MS);
	now = harness_wall_ms();
	ASSERT_TRUE("watermark set", w > 0);
	ASSERT_TRUE("watermark <= now - lag", w <= now - LAG_MS);
	ASSERT_TRUE("watermark >= now - lag - 1 s", w >= now - LAG_MS - 1000);

	/* one partition, so the 50 live events keep their order */
	for (int i = 0; i < 50; i++)
		ASSERT_EQ_U64("produce live", 0,
			      produce_event(m, EVENTS, 1, 8, 0, i, i % 2 ? "unassign" : "assign",
					    harness_wall_ms() + i, i % 2 ? NULL : "live"));
	ASSERT_EQ_U64("flush", 0, kafka_mock__flush(m, WAIT_MS));
	ASSERT_EQ_U64("live callbacks", 60, wait_calls(r, 60, WAIT_MS));
	for (int i = 0; i < 50; i++) {
		struct call *c = &r->calls[10 + i];
		uint8_t want[16];

		ip4(want, 8, 0, i);
		ASSERT_TRUE("live ip", memcmp(want, c->ip, 16) == 0);
		ASSERT_EQ_U64("kind", i % 2 ? 'u' : 'a', c->kind);
		ASSERT_STR("pod", i % 2 ? "" : "live", c->pod);
		ASSERT_STR("app", i % 2 ? "" : "app-8", c->app);
		ASSERT_TRUE("ready while live", c->ready);
		ASSERT_TRUE("watermark while live", c->watermark >= w);
	}
	w2 = wait_watermark_above(f, w, WAIT_MS);
	ASSERT_TRUE("watermark advances", w2 > w);
	ASSERT_EQ_U64("no more callbacks", 60, rec_count(r));
	ret = 0;
cleanup:
	kafka_feed__free(f);
	kafka_mock__free(m);
	rec_free(r);
	return ret;
}

/* Bad messages are counted by reason and skipped; the good ones around them still arrive. */
static int test_bad_messages(void)
{
	static const struct {
		const char *key, *val;
		enum ip_event_bad why;
	} msgs[] = {
		{ "10.9.0.1",
		  "{\"ip\":\"10.9.0.1\",\"event\":\"assign\",\"ts_ms\":@,\"pod\":\"g1\"}",
		  IP_EVENT_OK },
		{ "10.9.0.2", NULL, IP_EVENT_BAD_NOT_JSON },
		{ "10.9.0.2", "nope", IP_EVENT_BAD_NOT_JSON },
		{ "10.9.0.2", "[\"10.9.0.2\"]", IP_EVENT_BAD_NOT_JSON },
		{ "10.9.0.2", "{\"event\":\"assign\",\"ts_ms\":@,\"pod\":\"x\"}",
		  IP_EVENT_BAD_MISSING_FIELD },
		{ "10.9.0.2", "{\"ip\":\"10.9.0.2\",\"event\":\"assign\",\"pod\":\"x\"}",
		  IP_EVENT_BAD_MISSING_FIELD },
		{ "10.9.0.3",
		  "{\"ip\":\"10.9.0.3\",\"event\":\"assign\",\"ts_ms\":@,\"pod\":\"g2\"}",
		  IP_EVENT_OK },
		{ "10.9.0.2", "{\"ip\":\"10.9.0.2\",\"event\":\"move\",\"ts_ms\":@,\"pod\":\"x\"}",
		  IP_EVENT_BAD_INVALID_FIELD },
		{ "10.9.0.2",
		  "{\"ip\":\"10.9.0.2\",\"event\":\"assign\",\"ts_ms\":\"@\",\"pod\":\"x\"}",
		  IP_EVENT_BAD_INVALID_FIELD },
		{ "10.9.0.2", "{\"ip\":\"10.9.0\",\"event\":\"assign\",\"ts_ms\":@,\"pod\":\"x\"}",
		  IP_EVENT_BAD_IP },
		{ NULL, "{\"ip\":\"lb.example\",\"event\":\"assign\",\"ts_ms\":@,\"pod\":\"x\"}",
		  IP_EVENT_BAD_IP },
		{ "10.9.0.2",
		  "{\"ip\":\"10.9.0.2\",\"event\":\"assign\",\"ts_ms\":5,\"pod\":\"x\"}",
		  IP_EVENT_BAD_TS },
		{ "10.9.0.9",
		  "{\"ip\":\"10.9.0.2\",\"event\":\"assign\",\"ts_ms\":@,\"pod\":\"x\"}",
		  IP_EVENT_BAD_KEY },
		{ "10.9.0.4", "{\"ip\":\"10.9.0.4\",\"event\":\"unassign\",\"ts_ms\":@}",
		  IP_EVENT_OK },
		{ "10.9.0.5",
		  "{\"ip\":\"10.9.0.5\",\"event\":\"assign\",\"ts_ms\":@,\"pod\":\"g4\"}",
		  IP_EVENT_OK },
	};
	static const char *const good_pods[] = { "g1", "g2", "", "g4" };
	static const int good_ips[] = { 1, 3, 4, 5 };
	const size_t n = sizeof(msgs) / sizeof(msgs[0]);
	uint64_t want[IP_EVENT_BAD__COUNT] = { 0 };
	struct kafka_mock *m = kafka_mock__new(1);
	struct kafka_feed *f = NULL;
	struct kafka_feed_stats st;
	struct rec *r = rec_new();
	int64_t ts = harness_wall_ms() - 5000;
	uint64_t bad = 0, counted = 0;
	struct report_fault rf;
	char note[64];
	int ret = 1;

	ASSERT_TRUE("mock cluster", m && r);
	ASSERT_EQ_U64("topic", 0, kafka_mock__topic(m, EVENTS, 1));
	for (size_t i = 0; i < n; i++) {
		char val[512], *at;

		want[msgs[i].why]++;
		bad += msgs[i].why != IP_EVENT_OK;
		if (!msgs[i].val) {
			ASSERT_EQ_U64("produce", 0, produce_raw(m, EVENTS, msgs[i].key, NULL));
			continue;
		}
		snprintf(val, sizeof(val), "%s", msgs[i].val);
		at = strchr(val, '@');
		if (at) {
			char rest[512];

			snprintf(rest, sizeof(rest), "%s", at + 1);
			snprintf(at, sizeof(val) - (size_t)(at - val), "%lld%s", (long long)ts,
				 rest);
		}
		ASSERT_EQ_U64("produce", 0, produce_raw(m, EVENTS, msgs[i].key, val));
	}
	ASSERT_EQ_U64("flush", 0, kafka_mock__flush(m, WAIT_MS));
	f = feed_new(m, EVENTS, NULL, NULL, NULL, 0, r);
	ASSERT_TRUE("feed", f != NULL);
	ASSERT_EQ_U64("start", 0, kafka_feed__start(f));
	ASSERT_TRUE("ready", wait_ready(f, WAIT_MS));
	ASSERT_EQ_U64("good ones", 4, rec_count(r));
	for (int i = 0; i < 4; i++) {
		uint8_t ip[16];

		ip4(ip, 9, 0, good_ips[i]);
		ASSERT_TRUE("ip", memcmp(ip, r->calls[i].ip, 16) == 0);
		ASSERT_STR("pod", good_pods[i], r->calls[i].pod);
		ASSERT_EQ_U64("kind", i == 2 ? 'u' : 'a', r->calls[i].kind);
		ASSERT_EQ_U64("t_ms", ts, r->calls[i].a);
	}
	kafka_feed__stats(f, &st);
	ASSERT_EQ_U64("messages", n, st.sonar.messages);
	ASSERT_EQ_U64("applied", 4, st.sonar.applied);
	for (int b = 1; b < IP_EVENT_BAD__COUNT; b++) {
		ASSERT_EQ_U64(ip_event_bad_name(b), want[b], st.sonar.bad[b]);
		counted += st.sonar.bad[b];
	}
	ASSERT_EQ_U64("not_json", 3, st.sonar.bad[IP_EVENT_BAD_NOT_JSON]);
	ASSERT_EQ_U64("bad_ip", 2, st.sonar.bad[IP_EVENT_BAD_IP]);
	snprintf(note, sizeof(note), "the %llu good events around them applied",
		 (unsigned long long)st.sonar.applied);
	rf = (struct report_fault){
		.fault = "IP events that are not JSON, lack a field, or carry a bad value",
		.unit = "messages",
		.injected = bad,
		.counted = counted,
		.counted_as = "skipped, counted by reason (bad{reason})",
		.note = note,
	};
	rf.lost = rf.injected - rf.delivered - rf.counted;
	ASSERT_EQ_U64("each bad message counted", 0, rf.lost);
	harness_report(&rf);
	ret = 0;
cleanup:
	kafka_feed__free(f);
	kafka_mock__free(m);
	rec_free(r);
	return ret;
}

/* Checks the spans a feed saw: exactly those of `prefix`, n of them, each once. */
static int check_spans(struct rec *r, int octet, const char *prefix, int n, int64_t base)
{
	bool seen[256] = { false };
	int ret = 1;

	ASSERT_EQ_U64("spans", (uint64_t)n, rec_count(r));
	for (int k = 0; k < n; k++) {
		struct call *c = &r->calls[k];
		int i = c->ip[15];
		uint8_t want[16];
		char pod[32];

		ip4(want, octet, 0, i);
		ASSERT_EQ_U64("kind", 's', c->kind);
		ASSERT_TRUE("ip of the other replica", memcmp(want, c->ip, 16) == 0);
		ASSERT_TRUE("each once", !seen[i]);
		seen[i] = true;
		snprintf(pod, sizeof(pod), "%s-%d", prefix, i);
		ASSERT_STR("pod", pod, c->pod);
		ASSERT_STR("app", prefix, c->app);
		ASSERT_EQ_U64("from_ms", base + i, c->a);
		ASSERT_EQ_U64("to_ms", base + i + 5000, c->b);
	}
	ret = 0;
cleanup:
	return ret;
}

static int publish(struct kafka_feed *f, int octet, const char *prefix, int n, int64_t base)
{
	int ret = 1;

	for (int i = 0; i < n; i++) {
		struct flow_identity id = { .app = prefix };
		uint8_t ip[16];
		char pod[32];

		ip4(ip, octet, 0, i);
		snprintf(pod, sizeof(pod), "%s-%d", prefix, i);
		id.pod = pod;
		ASSERT_EQ_U64("publish", 0,
			      kafka_feed__publish_span(f, ip, &id, base + i, base + i + 5000));
	}
	ret = 0;
cleanup:
	return ret;
}

static bool wait_stat(struct kafka_feed *f, size_t off, uint64_t want, int timeout_ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)timeout_ms;
	struct kafka_feed_stats st;

	do {
		kafka_feed__stats(f, &st);
		if (*(uint64_t *)((char *)&st + off) == want)
			return true;
		harness_sleep_ms(10);
	} while (harness_now_ms() < end);
	return false;
}

#define STAT(field) offsetof(struct kafka_feed_stats, field)

/*
 * Two replicas publish; each sees exactly the other's spans, never its own;
 * a third started later replays both.
 */
static int test_spans_between_replicas(void)
{
	struct kafka_mock *m = kafka_mock__new(3);
	struct kafka_feed *a = NULL, *b = NULL, *c = NULL;
	struct rec *ra = rec_new(), *rb = rec_new(), *rc = rec_new();
	int64_t base = harness_wall_ms() - 60000;
	struct kafka_feed_stats st;
	int ret = 1;

	ASSERT_TRUE("mock cluster", m && ra && rb && rc);
	ASSERT_EQ_U64("topic", 0, kafka_mock__topic(m, RANGES, 3));
	a = feed_new(m, NULL, RANGES, "replica-a", NULL, 0, ra);
	b = feed_new(m, NULL, RANGES, "replica-b", NULL, 0, rb);
	ASSERT_TRUE("feeds", a && b);
	ASSERT_EQ_U64("watermark without IP events", INT64_MAX, kafka_feed__watermark(a));
	ASSERT_EQ_U64("start a", 0, kafka_feed__start(a));
	ASSERT_EQ_U64("start b", 0, kafka_feed__start(b));
	ASSERT_TRUE("a ready", wait_ready(a, WAIT_MS));
	ASSERT_TRUE("b ready", wait_ready(b, WAIT_MS));
	ASSERT_EQ_U64("a publishes", 0, publish(a, 1, "a", 100, base));
	ASSERT_EQ_U64("b publishes", 0, publish(b, 2, "b", 50, base));
	ASSERT_TRUE("a's own skipped", wait_stat(a, STAT(ranges.own), 100, WAIT_MS));
	ASSERT_TRUE("b's own skipped", wait_stat(b, STAT(ranges.own), 50, WAIT_MS));
	ASSERT_EQ_U64("a gets b's", 50, wait_calls(ra, 50, WAIT_MS));
	ASSERT_EQ_U64("b gets a's", 100, wait_calls(rb, 100, WAIT_MS));
	ASSERT_TRUE("a delivered", wait_stat(a, STAT(delivered), 100, WAIT_MS));
	ASSERT_TRUE("b delivered", wait_stat(b, STAT(delivered), 50, WAIT_MS));
	ASSERT_EQ_U64("a spans", 0, check_spans(ra, 2, "b", 50, base));
	ASSERT_EQ_U64("b spans", 0, check_spans(rb, 1, "a", 100, base));
	kafka_feed__stats(a, &st);
	ASSERT_EQ_U64("a published", 100, st.published);
	ASSERT_EQ_U64("a dropped", 0, st.dropped);
	for (int i = 0; i < KAFKA_FAIL__COUNT; i++)
		ASSERT_EQ_U64(kafka_fail_name(i), 0, st.failed[i]);
	ASSERT_EQ_U64("a consumed", 150, st.ranges.messages);
	ASSERT_EQ_U64("a applied", 50, st.ranges.applied);
	ASSERT_EQ_U64("a partitions", 3, st.ranges.partitions);

	/* a replica started now replays both */
	c = feed_new(m, NULL, RANGES, "replica-c", NULL, 0, rc);
	ASSERT_TRUE("feed c", c != NULL);
	ASSERT_EQ_U64("start c", 0, kafka_feed__start(c));
	ASSERT_TRUE("c ready", wait_ready(c, WAIT_MS));
	ASSERT_EQ_U64("c replays all", 150, rec_count(rc));
	kafka_feed__stats(c, &st);
	ASSERT_EQ_U64("c own", 0, st.ranges.own);
	ASSERT_EQ_U64("c applied", 150, st.ranges.applied);
	ret = 0;
cleanup:
	kafka_feed__free(a);
	kafka_feed__free(b);
	kafka_feed__free(c);
	kafka_mock__free(m);
	rec_free(ra);
	rec_free(rb);
	rec_free(rc);
	return ret;
}

/*
 * The topic appears after the feed started (2.0.2's mock cannot add
 * partitions to an existing topic; from none to two is the same path):
 * not ready meanwhile, then its partitions are found, replayed and live.
 */
static int test_partitions_added_later(void)
{
	struct kafka_mock *m = kafka_mock__new(2);
	int64_t base = harness_wall_ms() - 1000;
	struct kafka_feed *f = NULL;
	struct kafka_feed_stats st;
	struct rec *r = rec_new();
	uint64_t end;
	int ret = 1;

	ASSERT_TRUE("mock cluster", m && r);
	f = feed_new(m, EVENTS, NULL, NULL, NULL, /*refresh_ms=*/300, r);
	ASSERT_TRUE("feed", f != NULL);
	ASSERT_EQ_U64("start", 0, kafka_feed__start(f));
	for (end = harness_now_ms() + 1000; harness_now_ms() < end; harness_sleep_ms(50)) {
		kafka_feed__stats(f, &st);
		ASSERT_TRUE("not ready without the topic", !kafka_feed__ready(f));
		ASSERT_EQ_U64("no partitions", 0, st.sonar.partitions);
		ASSERT_EQ_U64("no watermark", 0, kafka_feed__watermark(f));
	}
	ASSERT_EQ_U64("topic", 0, kafka_mock__topic(m, EVENTS, 2));
	for (int i = 0; i < 20; i++)
		ASSERT_EQ_U64(
		    "produce", 0,
		    produce_event(m, EVENTS, i % 2, 5, i % 2, i, "assign", base + i, "p"));
	ASSERT_EQ_U64("flush", 0, kafka_mock__flush(m, WAIT_MS));
	ASSERT_TRUE("ready", wait_ready(f, WAIT_MS));
	ASSERT_EQ_U64("callbacks", 20, wait_calls(r, 20, WAIT_MS));
	kafka_feed__stats(f, &st);
	ASSERT_EQ_U64("partitions", 2, st.sonar.partitions);
	ASSERT_EQ_U64("messages", 20, st.sonar.messages);
	ASSERT_TRUE("watermark", wait_watermark_above(f, 0, WAIT_MS) > 0);
	ret = 0;
cleanup:
	kafka_feed__free(f);
	kafka_mock__free(m);
	rec_free(r);
	return ret;
}

/*
 * Takes `brokers` down (ids from..to) after the feed is live: the watermark
 * stops, exactly, while they are down, and moves again once they are back;
 * events produced after are delivered.
 */
static int freeze_and_thaw(int32_t from, int32_t to, const char *fault)
{
	struct kafka_mock *m = kafka_mock__new(3);
	struct kafka_feed *f = NULL;
	struct kafka_feed_stats st;
	struct rec *r = rec_new();
	int64_t w, frozen;
	uint64_t end, produced = 0, calls;
	struct report_fault rf;
	char note[96];
	int ret = 1;

	ASSERT_TRUE("mock cluster", m && r);
	ASSERT_EQ_U64("topic", 0, kafka_mock__topic(m, EVENTS, 3));
	for (int32_t p = 0; p < 3; p++) {
		ASSERT_EQ_U64("leader", 0, kafka_mock__leader(m, EVENTS, p, p + 1));
		ASSERT_EQ_U64(
		    "produce", 0,
		    produce_event(m, EVENTS, p, 6, 0, p, "assign", harness_wall_ms(), "x"));
		produced++;
	}
	ASSERT_EQ_U64("flush", 0, kafka_mock__flush(m, WAIT_MS));
	f = feed_new(m, EVENTS, NULL, NULL, NULL, 0, r);
	ASSERT_TRUE("feed", f != NULL);
	ASSERT_EQ_U64("start", 0, kafka_feed__start(f));
	ASSERT_TRUE("ready", wait_ready(f, WAIT_MS));
	w = wait_watermark_above(f, 0, WAIT_MS);
	ASSERT_TRUE("watermark moves", w > 0);
	ASSERT_TRUE("healthy", wait_healthy(f, true, WAIT_MS));

	for (int32_t b = from; b <= to; b++)
		ASSERT_EQ_U64("broker down", 0, kafka_mock__broker_down(m, b));
	ASSERT_TRUE("unhealthy", wait_healthy(f, false, 5000));
	frozen = kafka_feed__watermark(f);
	/* what it froze at is no later than when the brokers went */
	ASSERT_TRUE("frozen in the past", frozen <= harness_wall_ms() - LAG_MS);
	for (end = harness_now_ms() + FREEZE_MS; harness_now_ms() < end; harness_sleep_ms(50))
		ASSERT_EQ_U64("frozen", frozen, kafka_feed__watermark(f));
	kafka_feed__stats(f, &st);
	ASSERT_TRUE("would have moved", harness_wall_ms() - LAG_MS > frozen + FREEZE_MS - 500);
	ASSERT_TRUE("brokers counted down", st.brokers_up <= 3 - (uint32_t)(to - from + 1));
	ASSERT_TRUE("last error", st.last_error[0] != '\0');
	ASSERT_EQ_U64("no callbacks while down", 3, rec_count(r));

	for (int32_t b = from; b <= to; b++)
		ASSERT_EQ_U64("broker up", 0, kafka_mock__broker_up(m, b));
	w = wait_watermark_above(f, frozen, WAIT_MS);
	ASSERT_TRUE("watermark moves again", w > frozen);
	ASSERT_TRUE("watermark near now - lag", w >= harness_wall_ms() - LAG_MS - 1500);
	kafka_feed__stats(f, &st);
	ASSERT_EQ_U64("brokers up again", 3, st.brokers_up);
	for (int32_t p = 0; p < 3; p++) {
		ASSERT_EQ_U64(
		    "produce after", 0,
		    produce_event(m, EVENTS, p, 6, 1, p, "assign", harness_wall_ms(), "y"));
		produced++;
	}
	ASSERT_EQ_U64("flush", 0, kafka_mock__flush(m, WAIT_MS));
	calls = wait_calls(r, 6, WAIT_MS);
	ASSERT_EQ_U64("delivered after", 6, calls);
	snprintf(note, sizeof(note),
		 "the watermark held still while down (watched %d ms), moved again once back",
		 FREEZE_MS);
	rf = (struct report_fault){
		.fault = fault,
		.unit = "IP events",
		.injected = produced,
		.delivered = calls,
		.note = note,
	};
	rf.lost = rf.injected - rf.delivered - rf.counted;
	ASSERT_EQ_U64("every event produced around the outage applied", 0, rf.lost);
	harness_report(&rf);
	ret = 0;
cleanup:
	kafka_feed__free(f);
	kafka_mock__free(m);
	rec_free(r);
	return ret;
}

static int test_all_brokers_down(void)
{
	return freeze_and_thaw(1, 3, "every Kafka broker down while the IP-event feed is live");
}

/* Only partition 1's leader goes: that partition's view stops, so the watermark does. */
static int test_one_leader_down(void)
{
	return freeze_and_thaw(2, 2, "one partition leader down while the IP-event feed is live");
}

/* A full producer queue refuses at once (-ENOBUFS, dropped); what was queued is delivered. */
static int test_queue_full_dropped(void)
{
	static const char *const props[] = {
		"producer.queue.buffering.max.messages", "10", "producer.linger.ms", "500", NULL,
	};
	struct kafka_mock *m = kafka_mock__new(1);
	struct flow_identity id = { .pod = "p" };
	int64_t base = harness_wall_ms() - 60000;
	struct kafka_feed *f = NULL;
	struct kafka_feed_stats st;
	int ok = 0, full = 0, ret = 1;
	uint64_t t0, tried = 0;
	struct report_fault rf;

	ASSERT_TRUE("mock cluster", m != NULL);
	ASSERT_EQ_U64("topic", 0, kafka_mock__topic(m, RANGES, 1));
	f = feed_new(m, NULL, RANGES, "replica-a", props, 0, NULL);
	ASSERT_TRUE("feed", f != NULL);
	t0 = harness_now_ms();
	for (int i = 0; i < 25; i++) {
		uint8_t ip[16];
		int err;

		ip4(ip, 3, 0, i);
		err = kafka_feed__publish_span(f, ip, &id, base, base + 1000);
		tried++;
		ok += err == 0;
		full += err == -ENOBUFS;
	}
	ASSERT_TRUE("never blocks", harness_now_ms() - t0 < 200);
	ASSERT_EQ_U64("queued", 10, ok);
	ASSERT_EQ_U64("refused", 15, full);
	kafka_feed__stats(f, &st);
	ASSERT_EQ_U64("published", 10, st.published);
	ASSERT_EQ_U64("dropped", 15, st.dropped);
	ASSERT_EQ_U64("bad span", -EINVAL,
		      kafka_feed__publish_span(f, (uint8_t[16]){ 0 }, &id, 5, 5));
	ASSERT_EQ_U64("start", 0, kafka_feed__start(f));
	ASSERT_TRUE("delivered", wait_stat(f, STAT(delivered), 10, WAIT_MS));
	kafka_feed__stats(f, &st);
	for (int i = 0; i < KAFKA_FAIL__COUNT; i++)
		ASSERT_EQ_U64(kafka_fail_name(i), 0, st.failed[i]);
	ASSERT_EQ_U64("own spans skipped", 10,
		      wait_stat(f, STAT(ranges.own), 10, WAIT_MS) ? 10 : 0);
	rf = (struct report_fault){
		.fault = "producer queue full when spans are published",
		.unit = "spans",
		.injected = tried,
		.delivered = st.delivered,
		.counted = st.dropped,
		.counted_as = "-ENOBUFS to the caller at once, dropped",
	};
	rf.lost = rf.injected - rf.delivered - rf.counted;
	ASSERT_EQ_U64("every span delivered or dropped and counted", 0, rf.lost);
	harness_report(&rf);
	ret = 0;
cleanup:
	kafka_feed__free(f);
	kafka_mock__free(m);
	return ret;
}

/*
 * No broker reachable from the start: never ready, no watermark, the error
 * kept, and stop still prompt.
 */
static int test_unreachable_and_prompt_stop(void)
{
	struct kafka_mock *m = kafka_mock__new(3);
	struct kafka_feed *f = NULL;
	struct flow_identity id = { .pod = "p" };
	struct kafka_feed_stats st;
	uint64_t end, t0, started = 0, ready = 0;
	struct report_fault rf;
	int ret = 1;

	ASSERT_TRUE("mock cluster", m != NULL);
	ASSERT_EQ_U64("topic", 0, kafka_mock__topic(m, EVENTS, 3));
	for (int32_t b = 1; b <= 3; b++)
		ASSERT_EQ_U64("broker down", 0, kafka_mock__broker_down(m, b));
	f = feed_new(m, EVENTS, NULL, NULL, NULL, 0, NULL);
	ASSERT_TRUE("feed", f != NULL);
	ASSERT_EQ_U64("publish without a ranges topic", -ENOTCONN,
		      kafka_feed__publish_span(f, (uint8_t[16]){ 0 }, &id, 1, 2));
	ASSERT_EQ_U64("start", 0, kafka_feed__start(f));
	started++;
	for (end = harness_now_ms() + 1500; harness_now_ms() < end; harness_sleep_ms(50)) {
		ready |= kafka_feed__ready(f);
		ASSERT_TRUE("not ready", !kafka_feed__ready(f));
		ASSERT_EQ_U64("no watermark", 0, kafka_feed__watermark(f));
	}
	kafka_feed__stats(f, &st);
	ASSERT_TRUE("not healthy", !st.healthy);
	ASSERT_EQ_U64("nothing assigned", 0, st.sonar.partitions);
	ASSERT_TRUE("an error kept", st.last_error[0] != '\0' && st.last_error_ms > 0);
	fprintf(stderr, "    last error: %s\n", st.last_error);
	t0 = harness_now_ms();
	kafka_feed__stop(f);
	ASSERT_TRUE("stop within 1.5 s", harness_now_ms() - t0 < 1500);
	kafka_feed__stop(f); /* idempotent */
	rf = (struct report_fault){
		.fault = "no Kafka broker reachable when the IP-event feed starts",
		.unit = "feeds",
		.injected = started,
		.delivered = ready,
		.counted = !st.healthy,
		.counted_as = "not healthy, the last error kept; never ready, no watermark",
		.note = "stop still prompt",
	};
	rf.lost = rf.injected - rf.delivered - rf.counted;
	ASSERT_EQ_U64("the feed says it is down", 0, rf.lost);
	harness_report(&rf);
	ret = 0;
cleanup:
	kafka_feed__free(f);
	kafka_mock__free(m);
	return ret;
}

static int test_bad_options(void)
{
	static const char *const unknown[] = { "no.such.property", "1", NULL };
	static const char *const bad_value[] = { "consumer.fetch.wait.max.ms", "soon", NULL };
	static const char *const no_value[] = { "linger.ms", NULL };
	struct kafka_feed_opts o = {
		.brokers = "127.0.0.1:9",
		.sonar_topic = EVENTS,
		.retention_ms = HOUR_MS,
	};
	struct kafka_feed *f = NULL;
	uint64_t tried = 0, refused = 0;
	struct report_fault rf;
	char why[256];
	int ret = 1;

#define REFUSED(what, needle)                                                                      \
	do {                                                                                       \
		why[0] = '\0';                                                                     \
		errno = 0;                                                                         \
		tried++;                                                                           \
		f = kafka_feed__new(&o, NULL, why, sizeof(why));                                   \
		ASSERT_TRUE(what, f == NULL);                                                      \
		ASSERT_EQ_U64(what, EINVAL, errno);                                                \
		if (!strstr(why, needle)) {                                                        \
			fprintf(stderr, "    FAIL %s: \"%s\" not in \"%s\"\n", what, needle, why); \
			goto cleanup;                                                              \
		}                                                                                  \
		refused++;                                                                         \
	} while (0)

	o.brokers = NULL;
	REFUSED("no brokers", "no brokers");
	o.brokers = "127.0.0.1:9";
	o.sonar_topic = NULL;
	REFUSED("no topic", "neither");
	o.ranges_topic = RANGES;
	REFUSED("ranges without origin", "origin");
	o.origin = "replica-a";
	o.retention_ms = 0;
	REFUSED("no retention", "retention");
	o.retention_ms = HOUR_MS;
	o.props = unknown;
	REFUSED("unknown property", "no.such.property");
	o.props = bad_value;
	REFUSED("bad value", "fetch.wait.max.ms");
	o.props = no_value;
	REFUSED("no value", "linger.ms: no value");
	o.props = NULL;
	f = kafka_feed__new(&o, NULL, why, sizeof(why));
	ASSERT_TRUE("good options", f != NULL);
	kafka_feed__free(f); /* never started */
	f = NULL;
	kafka_feed__free(NULL);
	rf = (struct report_fault){
		.fault = "IP-event feed options missing, unknown or malformed",
		.unit = "option sets",
		.injected = tried,
		.counted = refused,
		.counted_as = "EINVAL with the reason naming the option",
	};
	rf.lost = rf.injected - rf.delivered - rf.counted;
	ASSERT_EQ_U64("each refused, named", 0, rf.lost);
	harness_report(&rf);
	ret = 0;
cleanup:
	kafka_feed__free(f);
	return ret;
#undef REFUSED
}

static const struct harness_test tests[] = {
	{ "all_partitions_in_order", test_all_partitions_in_order },
	{ "replay_from_retention", test_replay_from_retention },
	{ "live_after_caught_up", test_live_after_caught_up },
	{ "bad_messages_counted", test_bad_messages },
	{ "spans_between_replicas", test_spans_between_replicas },
	{ "partitions_added_later", test_partitions_added_later },
	{ "all_brokers_down_freezes", test_all_brokers_down },
	{ "one_leader_down_freezes", test_one_leader_down },
	{ "queue_full_dropped", test_queue_full_dropped },
	{ "unreachable_and_prompt_stop", test_unreachable_and_prompt_stop },
	{ "bad_options", test_bad_options },
};

int main(int argc, char **argv)
{
	/* no root, no kernel feature, no network beyond loopback: nothing here ever skips */
	/* KAFKA_DEBUG=1: the feed's and librdkafka's debug lines too */
	static const struct harness_suite suite = {
		.name = "kafka",
		HARNESS_TESTS(tests),
		.debug_env = "KAFKA_DEBUG",
	};

	return harness_main(&suite, argc, argv);
}
