/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The librdkafka glue the collector's Kafka clients share: the attribution
 * feed (feeds/kafka_feed.c: IP events in, ranges in and out), the flows
 * producer (outputs/kafka_sink.c) and the insight view's flows consumer
 * (insight/insight_kafka.c).  librdkafka's error codes as a negative errno
 * and as a delivery failure reason, its errors logged once with context, its
 * log lines routed to lib/log, configuration, the brokers of its statistics,
 * and the partitions of a topic a consumer assigns itself from a time.
 *
 * librdkafka's types are named by their struct tags (rd_kafka_t is struct
 * rd_kafka_s, rd_kafka_conf_t struct rd_kafka_conf_s) and its enums passed
 * as int, so that the feed's and the sink's headers do not pull in
 * rdkafka.h.
 */
#ifndef PODFLOW_COLLECTOR_KAFKA_H
#define PODFLOW_COLLECTOR_KAFKA_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_t;
struct rd_kafka_conf_s;
struct rd_kafka_metadata;
struct rd_kafka_metadata_topic;
struct rd_kafka_s;

#define KAFKA_ERROR_MAX 256 /* last_error of the feed's and the sink's stats, NUL included */

/* Why a produced message (a published range, a flow record) was not delivered. */
enum kafka_fail {
	KAFKA_FAIL_TIMED_OUT = 0, /* message.timeout.ms passed (brokers unreachable) */
	KAFKA_FAIL_TOO_LARGE,
	KAFKA_FAIL_TOPIC,  /* unknown topic or partition */
	KAFKA_FAIL_AUTH,   /* authentication or authorization */
	KAFKA_FAIL_PURGED, /* still queued when the producer was flushed out or freed */
	KAFKA_FAIL_OTHER,
	KAFKA_FAIL__COUNT,
};

/* "timed_out", "too_large", "topic", "auth", "purged", "other". */
const char *kafka_fail_name(enum kafka_fail f);

/* librdkafka's error code (rd_kafka_resp_err_t) as the errno the collector speaks (0, -EIO...). */
int kafka_rd_errno(int rd_err);

/* Why a produced message was not delivered, from its error code (rd_kafka_resp_err_t). */
enum kafka_fail kafka_fail_reason(int rd_err);

/*
 * The error state of one Kafka client: its last librdkafka error, and which
 * code was last logged.  Embedded in the feed and the sink (not opaque: it
 * lives and dies with them, no allocation of its own); the fields are
 * kafka_errors__*'s, read them through kafka_errors__last.
 */
struct kafka_errors {
	const char *who;      /* log prefix, "kafka" or "kafka sink"; not copied */
	pthread_mutex_t lock; /* last, last_ms, last_logged */
	char last[KAFKA_ERROR_MAX];
	int64_t last_ms;
	int last_logged; /* an error code repeated is logged at debug until recovered */
	int errored;	 /* atomic: an error was logged since the last recovery */
};

/* `who` is borrowed for e's lifetime (a string literal). */
void kafka_errors__init(struct kafka_errors *e, const char *who);
/* NULL is fine. */
void kafka_errors__destroy(struct kafka_errors *e);

/*
 * The one place a librdkafka error is logged: "<who>: <context>: <librdkafka's
 * message>", at warn the first time that code is seen (at debug while it
 * repeats, until kafka_errors__recovered), and kept as the last error with
 * its time.  Any thread.  Returns rd_err as kafka_rd_errno does.
 */
__attribute__((format(printf, 3, 4))) int kafka_errors__log(struct kafka_errors *e, int rd_err,
							    const char *fmt, ...);

/* The client works again: the next error is worth a warning even if its code repeats. */
void kafka_errors__recovered(struct kafka_errors *e);

/* The last error ("" when none yet) and when it happened (Unix ms, 0 when none).  Any thread. */
void kafka_errors__last(struct kafka_errors *e, char out[KAFKA_ERROR_MAX], int64_t *when_ms);

/*
 * A new configuration with `opaque` (handed to every callback) and
 * librdkafka's log lines routed to lib/log.  NULL when out of memory.
 */
struct rd_kafka_conf_s *kafka_conf_new(void *opaque);

/* Sets one property.  0, or -EINVAL with "<who> property <key>: <why>" in `why`. */
int kafka_conf_set(struct rd_kafka_conf_s *conf, const char *who, const char *key, const char *val,
		   char *why, size_t len);

/*
 * Sets the caller's extra properties meant for this handle.  props: NULL or
 * "key", "value", ..., NULL.  A key "<mine>K" (mine: "producer." or
 * "consumer.") sets K, a key "<other>K" is skipped, any other key is set as
 * it is.  refused: NULL or "key", "why", ..., NULL, keys (once `mine` is
 * stripped) the handle sets itself and may not be given.  0, or -EINVAL with
 * one line in `why` naming the first bad key.
 */
int kafka_conf_extra(struct rd_kafka_conf_s *conf, const char *who, const char *const *props,
		     const char *mine, const char *other, const char *const *refused, char *why,
		     size_t len);

/*
 * rd_kafka_new(type, conf): type is RD_KAFKA_PRODUCER or RD_KAFKA_CONSUMER.
 * Takes ownership of conf, whatever the outcome.  NULL with "<who>
 * producer: <librdkafka's reason>" (or consumer) in `why`.
 */
struct rd_kafka_s *kafka_new(int type, struct rd_kafka_conf_s *conf, const char *who, char *why,
			     size_t len);

/* A broker state of librdkafka's statistics that means connected ("UP", "UPDATE"). */
bool kafka_broker_up(const char *state);

/*
 * Reads one statistics document (librdkafka's STATISTICS.md): *total is
 * the brokers it knows (bootstrap-only and logical entries left out), *up
 * those connected.  Returns the document for the caller's own fields
 * (json_decref it), or NULL when it is not JSON (*up, *total untouched).
 */
struct json_t *kafka_stats_brokers(const char *json, size_t len, uint32_t *up, uint32_t *total);

/*
 * The partitions of a topic a consumer assigns itself (no group rebalancing:
 * rd_kafka_incremental_assign), each replayed from a time up to the high
 * watermark it had when assigned.  Both consumers (the feed's, the view's)
 * embed one per topic; one thread's (the consumer's).
 */
struct kafka_part {
	bool assigned;
	bool caught_up;	   /* consumed up to hi_target */
	int64_t next;	   /* offset of the next message */
	int64_t hi_target; /* high watermark at assignment: the end of the backlog */
	/*
	 * The feed's: everything appended before current_ms (Unix ms) is
	 * consumed; probe_hi is the high watermark the leader answered to a
	 * request sent at probe_ms (0: none yet).
	 */
	int64_t current_ms;
	int64_t probe_hi;
	int64_t probe_ms;
};

struct kafka_parts {
	struct kafka_part *p; /* indexed by partition id */
	int32_t n;	      /* size of p */
	int32_t n_assigned;
	bool complete; /* every partition of the last metadata is assigned */
};

/* How kafka_parts__assign_new starts the partitions it assigns; all borrowed. */
struct kafka_assign {
	struct rd_kafka_s *rk;
	struct kafka_errors *errors; /* librdkafka's errors go here; its `who` prefixes the lines */
	const char *topic;
	int64_t since_ms;	/* each partition from its first message at or after (Unix ms) */
	const char *since_what; /* since_ms in log lines: "the window's start", "600000 ms ago" */
	int timeout_ms;		/* each blocking call (watermarks, offsets for times) */
	const int *stop;	/* read atomically: nonzero, stop assigning */
	/* counted atomically where not NULL */
	uint64_t *errored;    /* librdkafka errors logged */
	uint64_t *by_time;    /* partitions started at since_ms's offset */
	uint64_t *from_start; /* partitions started at their low watermark */
};

/*
 * Assigns the partitions of `mt` (the topic's entry of a metadata answer,
 * struct rd_kafka_metadata_topic) not assigned yet, each from the offset
 * rd_kafka_offsets_for_times names for a->since_ms, or its low watermark
 * where the broker names none (nothing that recent, or a broker that cannot
 * answer by time: librdkafka's mock answers -1), so what is older than
 * since_ms comes too and is the caller's to skip.  The high watermark,
 * queried here, ends each backlog.  A partition whose offsets cannot be had
 * now (a transient error) is left for the next call, t->complete false.  A
 * new partition is assigned with caught_up false and current_ms 0.  Returns
 * how many were assigned, or a negative errno (logged).
 */
int kafka_parts__assign_new(struct kafka_parts *t, const struct rd_kafka_metadata_topic *mt,
			    const struct kafka_assign *a);

/* The assigned partition `id`, or NULL (not one of the topic's, or not assigned). */
struct kafka_part *kafka_parts__get(struct kafka_parts *t, int32_t id);

/* Some partition is assigned, all of the last metadata are, and every one is caught up. */
bool kafka_parts__caught_up(const struct kafka_parts *t);

/* Frees the table; t may be zeroed (never used) or NULL. */
void kafka_parts__free(struct kafka_parts *t);

/* The entry of `topic` in a metadata answer (struct rd_kafka_metadata), or NULL. */
const struct rd_kafka_metadata_topic *kafka_metadata_topic(const struct rd_kafka_metadata *md,
							   const char *topic);

#endif /* PODFLOW_COLLECTOR_KAFKA_H */
