/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The collector's Kafka attribution feeds (docs/ip-events.md): Sonar-style
 * IP events in, and the heartbeat ranges collector replicas share, out and in.
 *
 * Every replica reads every partition of both topics itself (rd_kafka_incremental_assign
 * of all partitions from metadata, never a consumer-group subscription: each
 * replica needs the whole history), starting from `retention_ms` ago
 * (offsets-for-times; where the broker names no offset for that time, from
 * the beginning, and messages whose Kafka timestamp is older than retention
 * are skipped client-side).  Partitions that appear later are picked up by a
 * periodic metadata check.  One thread consumes both topics and calls the
 * callbacks; publishing ranges never blocks the caller.
 *
 * Times are Unix milliseconds (CLOCK_REALTIME).
 */
#ifndef PODFLOW_COLLECTOR_KAFKA_FEED_H
#define PODFLOW_COLLECTOR_KAFKA_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

struct jsonw;

#define KAFKA_STRING_MAX   253		  /* longest identity or origin string (= OWN_STRING_MAX) */
#define KAFKA_ERROR_MAX	   256		  /* kafka_feed_stats.last_error, NUL included */
#define KAFKA_TS_MIN_MS	   946684800000LL /* 2000-01-01T00:00:00Z: older times are bad */
#define KAFKA_TS_FUTURE_MS 3600000LL	  /* clock skew accepted: times up to now + 1 h */

/* ip: 16 bytes, IPv4 as v4-mapped (::ffff:a.b.c.d). */
typedef void (*kafka_ip_fn)(void *ctx, const uint8_t ip[16], const struct flow_identity *id,
			    int64_t t_ms);
typedef void (*kafka_span_fn)(void *ctx, const uint8_t ip[16], const struct flow_identity *id,
			      int64_t from_ms, int64_t to_ms);

/* Called on the feed's thread, one at a time; the consumer does its own locking.  NULL: ignored. */
struct kafka_feed_callbacks {
	kafka_ip_fn assign; /* Sonar: `id` owns `ip` from t_ms on */
	kafka_ip_fn
	    unassign;	    /* Sonar: `id` (all fields "": whoever) no longer owns `ip` from t_ms */
	kafka_span_fn span; /* ranges topic: another replica's [from_ms, to_ms) -> id */
	void *ctx;
};

struct kafka_feed_opts {
	const char *brokers;	  /* bootstrap.servers, "host:port,..."; required */
	const char *sonar_topic;  /* IP events; NULL: off */
	const char *ranges_topic; /* shared ranges, consumed and published; NULL: off */
	const char *origin;	  /* this replica's id; required with ranges_topic */
	int64_t retention_ms;	  /* replay this far back on start; > 0 */
	int64_t lag_ms;		  /* watermark lag (see kafka_feed__watermark); <= 0: 5000 */
	int64_t refresh_ms;	  /* metadata re-check for new partitions; <= 0: 10000 */
	/*
	 * Extra librdkafka properties, NULL or "key", "value", ..., NULL.  A key
	 * "consumer.K" sets K on the consumer only, "producer.K" on the
	 * producer only; other keys are set on both.  Applied last, so they
	 * override the feed's own settings.
	 */
	const char *const *props;
};

/* Why a message was skipped. */
enum kafka_bad {
	KAFKA_OK = 0,
	KAFKA_BAD_NOT_JSON,	 /* empty, not JSON, duplicate keys, or not an object */
	KAFKA_BAD_MISSING_FIELD, /* a required field absent (or an identity-less assign/span) */
	KAFKA_BAD_INVALID_FIELD, /* wrong type, unknown "event", string too long or with NUL */
	KAFKA_BAD_IP,		 /* "ip" is not an IPv4 or IPv6 address */
	KAFKA_BAD_TS,		 /* a time before 2000, beyond now + 1 h, or from_ms >= to_ms */
	KAFKA_BAD_KEY,		 /* the message key is not the same address as "ip" */
	KAFKA_BAD__COUNT,
};

/* "ok", "not_json", "missing_field", "invalid_field", "bad_ip", "ts_range", "key_mismatch". */
const char *kafka_bad_name(enum kafka_bad b);

/* Why a published range was not delivered. */
enum kafka_fail {
	KAFKA_FAIL_TIMED_OUT = 0, /* message.timeout.ms passed (brokers unreachable) */
	KAFKA_FAIL_TOO_LARGE,
	KAFKA_FAIL_TOPIC,  /* unknown topic or partition */
	KAFKA_FAIL_AUTH,   /* authentication or authorization */
	KAFKA_FAIL_PURGED, /* still queued when the feed was freed */
	KAFKA_FAIL_OTHER,
	KAFKA_FAIL__COUNT,
};

/* "timed_out", "too_large", "topic", "auth", "purged", "other". */
const char *kafka_fail_name(enum kafka_fail f);

struct kafka_topic_stats {
	uint64_t messages;		/* consumed, whatever became of them */
	uint64_t applied;		/* passed to a callback */
	uint64_t bad[KAFKA_BAD__COUNT]; /* skipped as bad, by reason ([KAFKA_OK] unused) */
	uint64_t too_old;		/* skipped: Kafka timestamp older than now - retention */
	uint64_t own;			/* ranges: this replica's own spans, skipped */
	uint64_t partitions;		/* assigned */
	uint64_t lag;			/* messages between the position and the high watermark */
	uint64_t replay_by_time;	/* partitions started at the offset for now - retention */
	uint64_t replay_from_start;	/* partitions started at the beginning (no offset for it) */
	bool caught_up;			/* the backlog found at assignment is consumed */
};

struct kafka_feed_stats {
	struct kafka_topic_stats sonar;
	struct kafka_topic_stats ranges;
	uint64_t published;		    /* ranges queued for sending */
	uint64_t delivered;		    /* ... and acknowledged by the brokers */
	uint64_t failed[KAFKA_FAIL__COUNT]; /* ... or not, by reason */
	uint64_t dropped;		    /* not queued: the producer queue was full */
	uint32_t brokers_up;	/* brokers the consumer is connected to (last statistics) */
	uint32_t brokers_total; /* brokers it knows */
	bool healthy;		/* the Sonar watermark may advance (see kafka_feed__watermark) */
	int64_t watermark_ms;
	char last_error[KAFKA_ERROR_MAX]; /* "" when none yet */
	int64_t last_error_ms;		  /* when (Unix ms), 0 when none */
};

struct kafka_feed;

/*
 * Checks and copies the options and creates the librdkafka handles (no
 * connection is made yet).  NULL with errno set and one line in `why`
 * (EINVAL: no brokers, no topic, ranges without origin, a bad property).
 */
struct kafka_feed *kafka_feed__new(const struct kafka_feed_opts *opts,
				   const struct kafka_feed_callbacks *cb, char *why, size_t len);
/* Starts the thread.  0 or -errno. */
int kafka_feed__start(struct kafka_feed *f);
/*
 * Stops and joins the thread, within about a second (one blocking broker
 * call at most).  Idempotent; no callback runs after it returns.
 */
void kafka_feed__stop(struct kafka_feed *f);
/* Stops first if needed, flushes published ranges for up to 2 s.  NULL is fine. */
void kafka_feed__free(struct kafka_feed *f);

/*
 * Every configured topic has been caught up with once: the backlog found at
 * assignment (retention's worth) has been consumed.  Stays true.  Any thread.
 */
bool kafka_feed__ready(struct kafka_feed *f);

/*
 * How far the Sonar view is complete, Unix ms; any thread, lock-free, never
 * goes back.  INT64_MAX without a Sonar topic (a source that is not
 * configured makes nobody wait).  Otherwise 0 until the topic is caught up;
 * then, while the feed is healthy,
 *     W = max(W, min over partitions p of current_p - lag_ms)
 * where current_p is the last time the feed saw p consumed up to the high
 * watermark the broker last reported.  Healthy: no broker error and every
 * partition's leader connected for the last lag_ms.  While not healthy W
 * stays where it is (brokers unreachable, a leader down, a new partition
 * still replaying).  It assumes an event reaches the topic within lag_ms of
 * its ts_ms; lag_ms must exceed the statistics interval (lag_ms / 4, at most
 * 1 s) and fetch.wait.max.ms (500 ms) for the freeze to be timely.
 */
int64_t kafka_feed__watermark(struct kafka_feed *f);

/*
 * Queues one range for the other replicas; never blocks.  0; -ENOBUFS when
 * the producer queue is full (counted as dropped); -EINVAL (from_ms >=
 * to_ms, an empty identity, a string over KAFKA_STRING_MAX); -ENOTCONN
 * without a ranges topic; -EMSGSIZE; -ENOMEM.
 */
int kafka_feed__publish_span(struct kafka_feed *f, const uint8_t ip[16],
			     const struct flow_identity *id, int64_t from_ms, int64_t to_ms);

/* Any thread. */
void kafka_feed__stats(struct kafka_feed *f, struct kafka_feed_stats *out);

/* ---- shared with the flows producer (kafka_sink.c) ---- */

struct rd_kafka_s;
/* librdkafka's error code as the errno the rest of the collector speaks (0, -ETIMEDOUT, ...). */
int kafka_rd_errno(int rd_err);
/* Why a produced message was not delivered, from its error code. */
enum kafka_fail kafka_fail_reason(int rd_err);
/* librdkafka's log lines into ours (connection failures are logged by the error callbacks). */
void kafka_log_cb(const struct rd_kafka_s *rk, int level, const char *fac, const char *buf);
/* A broker state of librdkafka's statistics that means connected ("UP", "UPDATE"). */
bool kafka_broker_up(const char *state);

/* ---- pure parsing and encoding, used by the feed and exposed for the unit tests ---- */

/* One IP event.  id's strings point into `strings`. */
struct kafka_event {
	uint8_t ip[16];
	bool assign; /* else unassign */
	int64_t ts_ms;
	struct flow_identity id;
	char strings[8][KAFKA_STRING_MAX + 1];
};

/* One shared range.  id's strings and origin point into `strings`. */
struct kafka_span {
	uint8_t ip[16];
	int64_t from_ms;
	int64_t to_ms;
	struct flow_identity id;
	const char *origin;
	char strings[9][KAFKA_STRING_MAX + 1];
};

/*
 * Reads one message of the IP events topic (key may be NULL).  KAFKA_OK and
 * *out filled, or the reason it is bad with one line in `detail` (may be
 * NULL).  now_ms bounds how far in the future ts_ms may be.
 */
enum kafka_bad kafka_feed_parse_event(const void *val, size_t len, const void *key, size_t key_len,
				      int64_t now_ms, struct kafka_event *out, char *detail,
				      size_t detail_len);
/* The same for one message of the ranges topic. */
enum kafka_bad kafka_feed_parse_span(const void *val, size_t len, const void *key, size_t key_len,
				     int64_t now_ms, struct kafka_span *out, char *detail,
				     size_t detail_len);
/*
 * Appends one ranges-topic message to jw.  0, -EINVAL (as for
 * kafka_feed__publish_span, or an empty origin), or jsonw's -ENOMEM.
 */
int kafka_feed_encode_span(struct jsonw *jw, const uint8_t ip[16], const struct flow_identity *id,
			   int64_t from_ms, int64_t to_ms, const char *origin);

#endif /* PODFLOW_COLLECTOR_KAFKA_FEED_H */
