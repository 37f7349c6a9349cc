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
 * The messages are read and written by ip_event.h; the librdkafka glue is
 * kafka.h's, shared with the flows producer.  Times are Unix milliseconds
 * (CLOCK_REALTIME).
 */
#ifndef PODFLOW_COLLECTOR_KAFKA_FEED_H
#define PODFLOW_COLLECTOR_KAFKA_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "ip_event.h" /* enum ip_event_bad: why a message was skipped */
#include "kafka.h"    /* enum kafka_fail, KAFKA_ERROR_MAX */

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

/*
 * The IP events watermark lag the collector runs with (it passes no lag_ms):
 * an event is assumed on the topic within this of its ts_ms.  A record the
 * events name waits at least this long, so attribution.max_delay must be
 * above it (collector_config_validate).
 */
#define KAFKA_FEED_LAG_MS 5000

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

struct kafka_topic_stats {
	uint64_t messages;		   /* consumed, whatever became of them */
	uint64_t applied;		   /* passed to a callback */
	uint64_t bad[IP_EVENT_BAD__COUNT]; /* skipped as bad, by reason ([IP_EVENT_OK] unused) */
	uint64_t too_old;		   /* skipped: Kafka timestamp older than now - retention */
	uint64_t own;			   /* ranges: this replica's own spans, skipped */
	uint64_t partitions;		   /* assigned */
	uint64_t lag;		    /* messages between the position and the high watermark */
	uint64_t replay_by_time;    /* partitions started at the offset for now - retention */
	uint64_t replay_from_start; /* partitions started at the beginning (no offset for it) */
	bool caught_up;		    /* the backlog found at assignment is consumed */
};

struct kafka_feed_stats {
	struct kafka_topic_stats sonar;
	struct kafka_topic_stats ranges;
	uint64_t published; /* ranges queued for sending */
	uint64_t delivered; /* ... and acknowledged by the brokers */
	uint64_t
	    failed[KAFKA_FAIL__COUNT]; /* ... or not, by reason ("purged": still queued at free) */
	uint64_t dropped;	       /* not queued: the producer queue was full */
	uint32_t brokers_up;	       /* brokers the consumer is connected to (last statistics) */
	uint32_t brokers_total;	       /* brokers it knows */
	bool healthy; /* the Sonar watermark may advance (see kafka_feed__watermark) */
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
 * Queues one range for the other replicas; never blocks.  Identity fields
 * that are NULL count as "".  0; -ENOBUFS when the producer queue is full
 * (counted as dropped); -EINVAL (from_ms < 0, from_ms >= to_ms, an empty
 * identity, a string over IP_EVENT_STRING_MAX); -ENOTCONN without a ranges
 * topic; -EMSGSIZE; -ENOMEM.
 */
int kafka_feed__publish_span(struct kafka_feed *f, const uint8_t ip[16],
			     const struct flow_identity *id, int64_t from_ms, int64_t to_ms);

/* Any thread. */
void kafka_feed__stats(struct kafka_feed *f, struct kafka_feed_stats *out);

#endif /* PODFLOW_COLLECTOR_KAFKA_FEED_H */
