// SPDX-License-Identifier: BSD-2-Clause
/* The Kafka feeds' consumer thread (replay, watermark) and the ranges producer (librdkafka). */
#define _GNU_SOURCE
#include "kafka_feed.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "ip.h"
#include "jsonw.h"
#include "log.h"

#define OP_TIMEOUT_MS	1000  /* one blocking metadata/offsets call: bounds stop latency */
#define POLL_MS		100   /* consumer poll: bounds stop latency when idle */
#define DRAIN_MAX	1000  /* messages per loop turn before the housekeeping */
#define HOUSEKEEP_MS	50    /* watermark, lag and producer reports at most this often */
#define PROBE_MS	250   /* the IP events leaders asked their high watermarks this often */
#define RETRY_MS	1000  /* metadata again this soon while a topic is incomplete */
#define BAD_LOG_FIRST	5     /* bad messages logged one by one, per topic */
#define BAD_SUMMARY_MS	60000 /* then one summary line at most this often */
#define FLUSH_MS	2000  /* kafka_feed__free: published ranges get this long */
#define DEFAULT_REFRESH 10000
#define STATS_MIN_MS	100
#define STATS_MAX_MS	1000

#define LOAD(p)	    __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, n)   __atomic_fetch_add((p), (n), __ATOMIC_RELAXED)

enum { T_SONAR, T_RANGES, T__COUNT };

struct topic {
	char *name;		  /* NULL: off */
	struct kafka_parts parts; /* the feed thread's */
	bool missing_noted;	  /* "does not exist" logged */
	uint64_t bad_logged;
	uint64_t bad_at_summary[IP_EVENT_BAD__COUNT];
	/* read by kafka_feed__stats from any thread: atomics */
	uint64_t messages, applied, bad[IP_EVENT_BAD__COUNT], too_old, own, lag;
	uint64_t replay_by_time, replay_from_start;
	uint32_t partitions;
	int caught_up;
};

struct kafka_feed {
	char *brokers;
	char *origin;
	int64_t retention_ms;
	int64_t lag_ms;
	int64_t refresh_ms;
	struct kafka_feed_callbacks cb;
	rd_kafka_t *rk;	  /* the consumer: both topics */
	rd_kafka_t *prod; /* NULL without a ranges topic */
	struct topic t[T__COUNT];

	pthread_t thread;
	bool started;
	int stop;

	/* feed thread only */
	int64_t last_bad_mono; /* last broker error or leader seen down (monotonic ms) */
	bool leaders_seen_up;  /* a statistics snapshot since the last assignment had them all up */
	bool was_healthy;
	rd_kafka_t *probe; /* the high watermarks' client (make_handle), with sonar_topic */
	int64_t next_refresh_mono;
	int64_t next_housekeep_mono;
	int64_t next_probe_mono;
	int64_t next_summary_mono;

	/* any thread */
	int ready;
	int healthy;
	int64_t watermark;
	uint32_t brokers_up, brokers_total;
	uint64_t published, delivered, dropped, failed[KAFKA_FAIL__COUNT];

	/* a repeated error code is logged at debug until the feed is healthy again */
	struct kafka_errors errors;
};

/* ---- librdkafka callbacks ------------------------------------------------------- */

/* Consumer errors (served on the feed thread by rd_kafka_consumer_poll). */
static void consumer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka_feed *f = opaque;

	(void)rk;
	kafka_errors__log(&f->errors, err, "consumer (%s): %s", f->brokers, reason);
	/*
	 * librdkafka needs a group.id for rd_kafka_assign, so it looks up a
	 * coordinator the feed never uses: its connection's troubles say
	 * nothing about fetching (2.0.2 prefixes them "GroupCoordinator").
	 */
	if (strncmp(reason, "GroupCoordinator", 16) != 0)
		f->last_bad_mono = clock_mono_ms();
}

/* Producer errors: served by rd_kafka_poll/flush on whichever thread calls them. */
static void producer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka_feed *f = opaque;

	(void)rk;
	kafka_errors__log(&f->errors, err, "producer (%s): %s", f->brokers, reason);
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kafka_feed *f = opaque;

	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		ADD(&f->delivered, 1);
		return;
	}
	ADD(&f->failed[kafka_fail_reason(m->err)], 1);
	kafka_errors__log(&f->errors, m->err, "publishing a range to %s", f->t[T_RANGES].name);
}

/*
 * The consumer's statistics (served on the feed thread): which brokers are
 * connected, and whether every assigned Sonar partition's leader is one of
 * them.  The JSON's layout: STATISTICS.md in librdkafka.
 */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct kafka_feed *f = opaque;
	struct topic *t = &f->t[T_SONAR];
	json_t *root, *brokers, *b, *parts = NULL, *p;
	uint32_t up = 0, total = 0;
	bool leaders_up = true;
	const char *name;
	char id[16];

	(void)rk;
	root = kafka_stats_brokers(json, len, &up, &total);
	if (!root)
		return 0;
	brokers = json_object_get(root, "brokers");
	if (t->name)
		parts = json_object_get(json_object_get(json_object_get(root, "topics"), t->name),
					"partitions");
	for (int32_t i = 0; t->name && i < t->parts.n; i++) {
		json_int_t leader;
		bool ok = false;

		if (!t->parts.p[i].assigned)
			continue;
		snprintf(id, sizeof(id), "%d", i);
		p = json_object_get(parts, id);
		leader = p ? json_integer_value(json_object_get(p, "leader")) : -1;
		json_object_foreach(brokers, name, b)
		{
			if (json_integer_value(json_object_get(b, "nodeid")) == leader &&
			    leader >= 0 &&
			    kafka_broker_up(json_string_value(json_object_get(b, "state"))))
				ok = true;
		}
		leaders_up &= ok;
	}
	json_decref(root);
	STORE(&f->brokers_up, up);
	STORE(&f->brokers_total, total);
	if (leaders_up)
		f->leaders_seen_up = true;
	else
		f->last_bad_mono = clock_mono_ms();
	return 0; /* librdkafka frees json */
}

/* ---- configuration ------------------------------------------------------------ */

/*
 * The consumer, the ranges producer, or (probe) the client that asks the
 * IP events leaders their high watermarks: a producer-type client of its
 * own with the consumer's settings (its credentials), so that its
 * ListOffsets do not wait behind the consumer's Fetch long-polls on the
 * same connection (a broker answers a connection's requests in order, and
 * holds an idle Fetch up to fetch.wait.max.ms).
 */
static rd_kafka_t *make_handle(struct kafka_feed *f, rd_kafka_type_t type, bool probe,
			       const struct kafka_feed_opts *o, char *why, size_t len)
{
	bool consumer = type == RD_KAFKA_CONSUMER;
	rd_kafka_conf_t *conf = kafka_conf_new(f);
	rd_kafka_t *rk = NULL;
	int ret = -EINVAL;
	char buf[512];

	if (!conf) {
		snprintf(why, len, "kafka: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	snprintf(buf, sizeof(buf), "podflow-collector-%s%s", f->origin ? f->origin : "feed",
		 probe ? "-probe" : "");
	if (kafka_conf_set(conf, "kafka", "bootstrap.servers", f->brokers, why, len) ||
	    kafka_conf_set(conf, "kafka", "client.id", buf, why, len))
		goto cleanup;
	if (consumer) {
		char ms[24];

		rd_kafka_conf_set_error_cb(conf, consumer_error_cb);
		rd_kafka_conf_set_stats_cb(conf, stats_cb);
		snprintf(ms, sizeof(ms), "%" PRId64,
			 f->lag_ms / 4 < STATS_MIN_MS	? STATS_MIN_MS
			 : f->lag_ms / 4 > STATS_MAX_MS ? STATS_MAX_MS
							: f->lag_ms / 4);
		/*
		 * rd_kafka_assign needs a group.id; the feed never joins the
		 * group nor commits (every replica reads everything itself).
		 */
		if (kafka_conf_set(conf, "kafka", "group.id", buf, why, len) ||
		    kafka_conf_set(conf, "kafka", "enable.auto.commit", "false", why, len) ||
		    kafka_conf_set(conf, "kafka", "enable.auto.offset.store", "false", why, len) ||
		    kafka_conf_set(conf, "kafka", "enable.partition.eof", "true", why, len) ||
		    kafka_conf_set(conf, "kafka", "auto.offset.reset", "earliest", why, len) ||
		    kafka_conf_set(conf, "kafka", "statistics.interval.ms", ms, why, len) ||
		    kafka_conf_extra(conf, "kafka", o->props, "consumer.", "producer.",
				     /*refused=*/NULL, why, len))
			goto cleanup;
	} else if (probe) {
		/* its errors are the probe's answer (probe_high), not the feed's health */
		if (kafka_conf_extra(conf, "kafka", o->props, "consumer.", "producer.",
				     /*refused=*/NULL, why, len))
			goto cleanup;
	} else {
		rd_kafka_conf_set_error_cb(conf, producer_error_cb);
		rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
		if (kafka_conf_extra(conf, "kafka", o->props, "producer.", "consumer.",
				     /*refused=*/NULL, why, len))
			goto cleanup;
	}
	rk = kafka_new(type, conf, "kafka", why, len);
	conf = NULL; /* kafka_new owns it now */
	if (!rk)
		goto cleanup;
	ret = 0;
cleanup:
	if (conf)
		rd_kafka_conf_destroy(conf);
	if (ret)
		errno = -ret;
	return rk;
}

/* ---- lifecycle -------------------------------------------------------------------- */

struct kafka_feed *kafka_feed__new(const struct kafka_feed_opts *opts,
				   const struct kafka_feed_callbacks *cb, char *why, size_t len)
{
	const char *names[T__COUNT] = { opts->sonar_topic, opts->ranges_topic };
	struct kafka_feed *f = NULL;
	int err = -EINVAL;

	if (!opts->brokers || !opts->brokers[0]) {
		snprintf(why, len, "kafka: no brokers");
		goto cleanup;
	}
	if (!opts->sonar_topic && !opts->ranges_topic) {
		snprintf(why, len, "kafka: neither an IP events nor a ranges topic");
		goto cleanup;
	}
	if (opts->ranges_topic &&
	    (!opts->origin || !opts->origin[0] || strlen(opts->origin) > IP_EVENT_STRING_MAX)) {
		snprintf(why, len, "kafka: the ranges topic needs this replica's origin id");
		goto cleanup;
	}
	if (opts->retention_ms <= 0) {
		snprintf(why, len, "kafka: retention must be positive");
		goto cleanup;
	}
	err = -ENOMEM;
	f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(why, len, "kafka: out of memory");
		goto cleanup;
	}
	kafka_errors__init(&f->errors, "kafka");
	f->brokers = strdup(opts->brokers);
	f->origin = opts->origin ? strdup(opts->origin) : NULL;
	if (!f->brokers || (opts->origin && !f->origin))
		goto cleanup;
	f->retention_ms = opts->retention_ms;
	f->lag_ms = opts->lag_ms > 0 ? opts->lag_ms : KAFKA_FEED_LAG_MS;
	f->refresh_ms = opts->refresh_ms > 0 ? opts->refresh_ms : DEFAULT_REFRESH;
	if (cb)
		f->cb = *cb;
	f->watermark = opts->sonar_topic ? 0 : INT64_MAX;
	for (int i = 0; i < T__COUNT; i++) {
		if (names[i] && !(f->t[i].name = strdup(names[i])))
			goto cleanup;
	}
	f->rk = make_handle(f, RD_KAFKA_CONSUMER, false, opts, why, len);
	if (!f->rk) {
		err = -errno;
		goto cleanup;
	}
	if (opts->sonar_topic) {
		f->probe = make_handle(f, RD_KAFKA_PRODUCER, true, opts, why, len);
		if (!f->probe) {
			err = -errno;
			goto cleanup;
		}
	}
	if (opts->ranges_topic) {
		f->prod = make_handle(f, RD_KAFKA_PRODUCER, false, opts, why, len);
		if (!f->prod) {
			err = -errno;
			goto cleanup;
		}
	}
	/* messages and statistics both come through rd_kafka_consumer_poll */
	rd_kafka_poll_set_consumer(f->rk);
	return f;
cleanup:
	if (err == -ENOMEM)
		snprintf(why, len, "kafka: out of memory");
	kafka_feed__free(f);
	errno = -err;
	return NULL;
}

static void *feed_main(void *arg);

int kafka_feed__start(struct kafka_feed *f)
{
	int err;

	if (f->started)
		return -EALREADY;
	STORE(&f->stop, 0);
	/* no evidence of health yet: the watermark waits lag_ms from here */
	f->last_bad_mono = clock_mono_ms();
	err = pthread_create(&f->thread, NULL, feed_main, f);
	if (err) {
		pr_warn("kafka: cannot start the feed thread: %s", strerror(err));
		return -err;
	}
	f->started = true;
	return 0;
}

void kafka_feed__stop(struct kafka_feed *f)
{
	if (!f || !f->started)
		return;
	STORE(&f->stop, 1);
	pthread_join(f->thread, NULL);
	f->started = false;
}

void kafka_feed__free(struct kafka_feed *f)
{
	if (!f)
		return;
	kafka_feed__stop(f);
	/* nothing to leave or commit: the feed never joins its group */
	if (f->rk)
		rd_kafka_destroy_flags(f->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	if (f->probe)
		rd_kafka_destroy(f->probe);
	if (f->prod) {
		if (rd_kafka_flush(f->prod, FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
			/* what is left is counted as purged by its delivery report */
			rd_kafka_purge(f->prod, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
			rd_kafka_flush(f->prod, 100);
		}
		rd_kafka_destroy(f->prod);
	}
	for (int i = 0; i < T__COUNT; i++) {
		kafka_parts__free(&f->t[i].parts);
		free(f->t[i].name);
	}
	free(f->brokers);
	free(f->origin);
	kafka_errors__destroy(&f->errors);
	free(f);
}

bool kafka_feed__ready(struct kafka_feed *f)
{
	return LOAD(&f->ready) != 0;
}

int64_t kafka_feed__watermark(struct kafka_feed *f)
{
	return LOAD(&f->watermark);
}

static void topic_stats(struct topic *t, struct kafka_topic_stats *o)
{
	memset(o, 0, sizeof(*o));
	o->messages = LOAD(&t->messages);
	o->applied = LOAD(&t->applied);
	for (int i = 0; i < IP_EVENT_BAD__COUNT; i++)
		o->bad[i] = LOAD(&t->bad[i]);
	o->too_old = LOAD(&t->too_old);
	o->own = LOAD(&t->own);
	o->partitions = LOAD(&t->partitions);
	o->lag = LOAD(&t->lag);
	o->replay_by_time = LOAD(&t->replay_by_time);
	o->replay_from_start = LOAD(&t->replay_from_start);
	o->caught_up = LOAD(&t->caught_up) != 0;
}

void kafka_feed__stats(struct kafka_feed *f, struct kafka_feed_stats *out)
{
	memset(out, 0, sizeof(*out));
	topic_stats(&f->t[T_SONAR], &out->sonar);
	topic_stats(&f->t[T_RANGES], &out->ranges);
	out->published = LOAD(&f->published);
	out->delivered = LOAD(&f->delivered);
	out->dropped = LOAD(&f->dropped);
	for (int i = 0; i < KAFKA_FAIL__COUNT; i++)
		out->failed[i] = LOAD(&f->failed[i]);
	out->brokers_up = LOAD(&f->brokers_up);
	out->brokers_total = LOAD(&f->brokers_total);
	out->healthy = LOAD(&f->healthy) != 0;
	out->watermark_ms = LOAD(&f->watermark);
	kafka_errors__last(&f->errors, out->last_error, &out->last_error_ms);
}

int kafka_feed__publish_span(struct kafka_feed *f, const uint8_t ip[16],
			     const struct flow_identity *id, int64_t from_ms, int64_t to_ms)
{
	char key[IP_TEXT_MAX];
	rd_kafka_resp_err_t rerr;
	struct jsonw *jw;
	const char *val;
	size_t len;
	int err;

	if (!f->prod)
		return -ENOTCONN;
	jw = jsonw__new();
	if (!jw)
		return -ENOMEM;
	err = ip_event_encode_span(jw, ip, id, from_ms, to_ms, f->origin);
	if (err)
		goto cleanup;
	val = jsonw__data(jw, &len);
	ip_format(ip, key, sizeof(key));
	/* F_COPY and no F_BLOCK: a full queue is refused at once, never waited on */
	rerr =
	    rd_kafka_producev(f->prod, RD_KAFKA_V_TOPIC(f->t[T_RANGES].name),
			      RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)val, len),
			      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
	if (rerr == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		/* per-record loss is counted, not logged */
		ADD(&f->dropped, 1);
		err = -ENOBUFS;
	} else if (rerr) {
		ADD(&f->failed[kafka_fail_reason(rerr)], 1);
		err = kafka_errors__log(&f->errors, rerr, "publishing a range to %s",
					f->t[T_RANGES].name);
	} else {
		ADD(&f->published, 1);
	}
cleanup:
	jsonw__free(jw);
	return err;
}

/* ---- the feed thread: assignment ----------------------------------------------------- */

static void topic_caught_up(struct kafka_feed *f, struct topic *t);

static bool stopping(struct kafka_feed *f)
{
	return LOAD(&f->stop) != 0;
}

/*
 * Assigns the partitions of `t` not assigned yet, each from retention ago;
 * what is older than retention is skipped as it arrives.
 */
static int assign_new(struct kafka_feed *f, struct topic *t, const rd_kafka_metadata_topic_t *mt)
{
	char ago[48];
	const struct kafka_assign a = {
		.rk = f->rk,
		.errors = &f->errors,
		.topic = t->name,
		.since_ms = clock_wall_ms() - f->retention_ms,
		.since_what = ago,
		.timeout_ms = OP_TIMEOUT_MS,
		.stop = &f->stop,
		.by_time = &t->replay_by_time,
		.from_start = &t->replay_from_start,
	};
	int n;

	snprintf(ago, sizeof(ago), "%" PRId64 " ms ago", f->retention_ms);
	n = kafka_parts__assign_new(&t->parts, mt, &a);
	if (n <= 0)
		return n;
	STORE(&t->partitions, (uint32_t)t->parts.n_assigned);
	/* the new leaders have to be seen connected before the watermark moves again */
	f->leaders_seen_up = false;
	return 0;
}

/*
 * Finds `t` in a metadata answer for all topics.  All topics, not just
 * ours: a request naming a topic makes brokers that cannot be told
 * allow.auto.create.topics=false (Metadata < v4, librdkafka's own mock)
 * create it, with the broker's default partition count.
 */
static int refresh_topic(struct kafka_feed *f, struct topic *t, const struct rd_kafka_metadata *md)
{
	const rd_kafka_metadata_topic_t *mt = kafka_metadata_topic(md, t->name);

	if (!mt || mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
		/* expected while a deployment creates it: said once, not an error */
		if (!t->missing_noted)
			pr_warn("kafka: topic %s (%s) does not exist yet; checking every %d ms",
				t->name, t == &f->t[T_SONAR] ? "IP events" : "ranges", RETRY_MS);
		t->missing_noted = true;
		t->parts.complete = false;
		return -ENOENT;
	}
	if (mt->err) {
		t->parts.complete = false;
		return kafka_errors__log(&f->errors, mt->err, "%s: metadata", t->name);
	}
	return assign_new(f, t, mt);
}

static void refresh(struct kafka_feed *f)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t rerr;

	rerr = rd_kafka_metadata(f->rk, /*all_topics=*/1, NULL, &md, OP_TIMEOUT_MS);
	if (rerr) {
		for (int i = 0; i < T__COUNT; i++)
			f->t[i].parts.complete = false;
		kafka_errors__log(&f->errors, rerr, "metadata from %s", f->brokers);
		return;
	}
	for (int i = 0; i < T__COUNT && !stopping(f); i++) {
		if (!f->t[i].name)
			continue;
		refresh_topic(f, &f->t[i], md);
		/* a partition with nothing to replay is caught up at once */
		topic_caught_up(f, &f->t[i]);
	}
	rd_kafka_metadata_destroy(md);
}

/* ---- the feed thread: messages ------------------------------------------------------- */

static void topic_caught_up(struct kafka_feed *f, struct topic *t)
{
	bool all = true;

	if (LOAD(&t->caught_up) || !kafka_parts__caught_up(&t->parts))
		return;
	STORE(&t->caught_up, 1);
	pr_info("kafka: %s: caught up (%d partitions, %" PRIu64 " messages)", t->name,
		t->parts.n_assigned, LOAD(&t->messages));
	for (int i = 0; i < T__COUNT; i++)
		all &= !f->t[i].name || LOAD(&f->t[i].caught_up);
	if (all)
		STORE(&f->ready, 1);
}

static void part_advanced(struct kafka_feed *f, struct topic *t, struct kafka_part *p, int64_t next)
{
	if (next > p->next)
		p->next = next;
	if (!p->caught_up && p->next >= p->hi_target) {
		p->caught_up = true;
		topic_caught_up(f, t);
	}
}

static void count_bad(struct kafka_feed *f, struct topic *t, const rd_kafka_message_t *m,
		      enum ip_event_bad b, const char *detail)
{
	(void)f;
	ADD(&t->bad[b], 1);
	if (t->bad_logged++ < BAD_LOG_FIRST)
		pr_warn("kafka: %s [%d] offset %" PRId64 ": skipped, %s: %s%s", t->name,
			m->partition, m->offset, ip_event_bad_name(b), detail,
			t->bad_logged == BAD_LOG_FIRST ? " (further ones: a summary every 60 s)"
						       : "");
}

static void deliver(struct kafka_feed *f, struct topic *t, const rd_kafka_message_t *m, int64_t now)
{
	char detail[160];
	enum ip_event_bad b;

	if (t == &f->t[T_SONAR]) {
		struct ip_event ev;

		b = ip_event_parse(m->payload, m->len, m->key, m->key_len, now, &ev, detail,
				   sizeof(detail));
		if (b != IP_EVENT_OK) {
			count_bad(f, t, m, b, detail);
			return;
		}
		ADD(&t->applied, 1);
		if (ev.assign && f->cb.assign)
			f->cb.assign(f->cb.ctx, ev.ip, &ev.id, ev.ts_ms);
		else if (!ev.assign && f->cb.unassign)
			f->cb.unassign(f->cb.ctx, ev.ip, &ev.id, ev.ts_ms);
	} else {
		struct ip_event_span sp;

		b = ip_event_parse_span(m->payload, m->len, m->key, m->key_len, now, &sp, detail,
					sizeof(detail));
		if (b != IP_EVENT_OK) {
			count_bad(f, t, m, b, detail);
			return;
		}
		/* our own: the collector applied it when it published it */
		if (strcmp(sp.origin, f->origin) == 0) {
			ADD(&t->own, 1);
			return;
		}
		ADD(&t->applied, 1);
		if (f->cb.span)
			f->cb.span(f->cb.ctx, sp.ip, &sp.id, sp.from_ms, sp.to_ms);
	}
}

static struct topic *topic_of(struct kafka_feed *f, const rd_kafka_message_t *m)
{
	const char *name = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;

	for (int i = 0; name && i < T__COUNT; i++) {
		if (f->t[i].name && strcmp(f->t[i].name, name) == 0)
			return &f->t[i];
	}
	return NULL;
}

static void handle(struct kafka_feed *f, const rd_kafka_message_t *m)
{
	struct topic *t = topic_of(f, m);
	rd_kafka_timestamp_type_t tst;
	struct kafka_part *p = t ? kafka_parts__get(&t->parts, m->partition) : NULL;
	int64_t now, ts;

	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		/* the offset of an EOF event is the end: position == high watermark */
		if (p)
			part_advanced(f, t, p, m->offset);
		return;
	}
	if (m->err) {
		kafka_errors__log(&f->errors, m->err, "consuming %s [%d]", t ? t->name : "?",
				  m->partition);
		f->last_bad_mono = clock_mono_ms();
		return;
	}
	if (!p)
		return;
	ADD(&t->messages, 1);
	now = clock_wall_ms();
	ts = rd_kafka_message_timestamp(m, &tst);
	/* a partition replayed from the beginning: older than retention is skipped here */
	if (ts >= 0 && ts < now - f->retention_ms)
		ADD(&t->too_old, 1);
	else
		deliver(f, t, m, now);
	part_advanced(f, t, p, m->offset + 1);
}

/* ---- the feed thread: watermark and housekeeping ----------------------------------- */

/* A quarter of the lag, between 100 ms and OP_TIMEOUT_MS: the feed thread waits that long. */
static int probe_timeout(const struct kafka_feed *f)
{
	int64_t ms = f->lag_ms / 4;

	return ms < 100 ? 100 : ms > OP_TIMEOUT_MS ? OP_TIMEOUT_MS : (int)ms;
}

/*
 * Asks the IP events partitions' leaders for their high watermarks
 * (ListOffsets, latest), noting when it asked: once a partition's position
 * reaches the answer, everything appended to it before that moment is
 * consumed (track_positions).  The high watermark librdkafka keeps from the
 * last Fetch answer cannot say as much: a broker (or a link) slow to answer
 * a Fetch hands over a high watermark as old as the delay, and a position
 * at it says nothing of what was appended meanwhile; with a delay beyond
 * the lag the watermark would pass events not read yet, and records be
 * decided "nobody" while their owner's event waits in the topic.  The
 * probe has a client of its own (make_handle): on the consumer's
 * connections it would wait behind each idle Fetch the broker holds.  A
 * leader that does not answer within probe_timeout() leaves the probe as
 * it was: the watermark waits.
 */
static void probe_high(struct kafka_feed *f, struct topic *t, int64_t mono)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t rerr;
	int64_t asked;

	if (!t->name || t->parts.n_assigned == 0 || mono < f->next_probe_mono)
		return;
	f->next_probe_mono = mono + PROBE_MS;
	l = rd_kafka_topic_partition_list_new(t->parts.n_assigned);
	if (!l)
		return;
	for (int32_t i = 0; i < t->parts.n; i++)
		if (t->parts.p[i].assigned)
			rd_kafka_topic_partition_list_add(l, t->name, i)->offset =
			    RD_KAFKA_OFFSET_END;
	asked = clock_wall_ms();
	rerr = rd_kafka_offsets_for_times(f->probe, l, probe_timeout(f));
	if (rerr) {
		/* slow or gone: no news is no progress (not an error of the feed's health) */
		kafka_errors__log(&f->errors, rerr, "%s: high watermarks", t->name);
		goto cleanup;
	}
	for (int i = 0; i < l->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &l->elems[i];
		struct kafka_part *p = kafka_parts__get(&t->parts, tp->partition);

		if (p && !tp->err && tp->offset >= 0) {
			p->probe_hi = tp->offset;
			p->probe_ms = asked;
		}
	}
cleanup:
	rd_kafka_topic_partition_list_destroy(l);
}

/*
 * Lag per partition, from the high watermarks of the last Fetch answers;
 * "current" from the probes (probe_high).
 */
static void track_positions(struct kafka_feed *f, struct topic *t)
{
	uint64_t lag = 0;
	int64_t lo, hi;

	for (int32_t i = 0; t->name && i < t->parts.n; i++) {
		struct kafka_part *p = &t->parts.p[i];

		if (!p->assigned)
			continue;
		if (p->caught_up && p->probe_ms > p->current_ms && p->next >= p->probe_hi)
			p->current_ms = p->probe_ms;
		if (rd_kafka_get_watermark_offsets(f->rk, t->name, i, &lo, &hi) || hi < 0) {
			lag += p->hi_target > p->next ? (uint64_t)(p->hi_target - p->next) : 0;
			continue;
		}
		lag += hi > p->next ? (uint64_t)(hi - p->next) : 0;
	}
	STORE(&t->lag, lag);
}

static void update_watermark(struct kafka_feed *f, int64_t mono)
{
	struct topic *t = &f->t[T_SONAR];
	int64_t cand = INT64_MAX;
	bool healthy;

	if (!t->name)
		return;
	healthy = f->leaders_seen_up && mono - f->last_bad_mono >= f->lag_ms;
	/* said only once it matters: before the catch-up the watermark is 0 anyway */
	if (healthy != f->was_healthy && LOAD(&t->caught_up)) {
		if (healthy)
			pr_info("kafka: %s: healthy, the IP events watermark may advance", t->name);
		else
			pr_warn(
			    "kafka: %s: not healthy (a broker error or a leader not connected): "
			    "the IP events watermark stays at %" PRId64,
			    t->name, LOAD(&f->watermark));
	}
	if (healthy != f->was_healthy) {
		f->was_healthy = healthy;
		STORE(&f->healthy, healthy ? 1 : 0);
		if (healthy)
			kafka_errors__recovered(&f->errors);
	}
	if (!healthy || !LOAD(&t->caught_up))
		return;
	for (int32_t i = 0; i < t->parts.n; i++) {
		if (t->parts.p[i].assigned && t->parts.p[i].current_ms < cand)
			cand = t->parts.p[i].current_ms;
	}
	if (cand == INT64_MAX || cand == 0)
		return;
	cand -= f->lag_ms;
	if (cand > LOAD(&f->watermark))
		STORE(&f->watermark, cand);
}

static void bad_summary(struct topic *t)
{
	char line[256];
	uint64_t total = 0;
	int n = 0;

	for (int i = 1; i < IP_EVENT_BAD__COUNT; i++) {
		uint64_t now = LOAD(&t->bad[i]), d = now - t->bad_at_summary[i];

		t->bad_at_summary[i] = now;
		if (!d)
			continue;
		total += d;
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %s=%" PRIu64,
			      ip_event_bad_name(i), d);
		if (n >= (int)sizeof(line))
			n = sizeof(line) - 1;
	}
	if (total && t->bad_logged > BAD_LOG_FIRST)
		pr_warn("kafka: %s: %" PRIu64 " bad messages skipped in the last %d s:%s", t->name,
			total, BAD_SUMMARY_MS / 1000, line);
}

static void housekeep(struct kafka_feed *f, int64_t mono)
{
	bool incomplete = false;

	if (mono >= f->next_refresh_mono) {
		refresh(f);
		for (int i = 0; i < T__COUNT; i++)
			incomplete |= f->t[i].name && !f->t[i].parts.complete;
		mono = clock_mono_ms();
		f->next_refresh_mono =
		    mono + (incomplete && f->refresh_ms > RETRY_MS ? RETRY_MS : f->refresh_ms);
	}
	if (mono < f->next_housekeep_mono)
		return;
	f->next_housekeep_mono = mono + HOUSEKEEP_MS;
	if (f->prod)
		rd_kafka_poll(f->prod, 0);
	for (int i = 0; i < T__COUNT; i++)
		track_positions(f, &f->t[i]);
	update_watermark(f, mono);
	/*
	 * Last: it may wait for a slow leader, and the health above must be
	 * judged as the errors the consumer just served are fresh.  Its answer
	 * is used at the next turn.
	 */
	probe_high(f, &f->t[T_SONAR], mono);
	if (mono >= f->next_summary_mono) {
		if (f->next_summary_mono)
			for (int i = 0; i < T__COUNT; i++)
				bad_summary(&f->t[i]);
		f->next_summary_mono = mono + BAD_SUMMARY_MS;
	}
}

static void *feed_main(void *arg)
{
	struct kafka_feed *f = arg;
	rd_kafka_message_t *m;

	f->next_refresh_mono = 0;
	while (!stopping(f)) {
		housekeep(f, clock_mono_ms());
		m = rd_kafka_consumer_poll(f->rk, POLL_MS);
		for (int n = 0; m; n++) {
			handle(f, m);
			rd_kafka_message_destroy(m);
			m = n < DRAIN_MAX && !stopping(f) ? rd_kafka_consumer_poll(f->rk, 0) : NULL;
		}
	}
	return NULL;
}
