/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The collector's Kafka output (docs/kafka-sink.md): every attributed flow
 * record as one JSON message on one topic, through librdkafka's idempotent
 * producer.
 *
 * Message value: exactly flow_record_json()'s output (one flat JSON object,
 * no newline), so Druid's and Hive's Kafka readers map the DESIGN.md field
 * names without flattening.  Key: the record's local_app (all flows of one
 * app land in one partition, in the order they were written), partitioned
 * with murmur2 like the Java producer; a record with no local_app has no key
 * (NULL: spread over the partitions, rather than every app-less flow in one
 * hot partition).
 *
 * Bounded: at most max_queued records and max_queued_bytes of key and value
 * are queued or in flight at once.  A write that does not fit is refused
 * whole (-ENOBUFS), never partly queued: the collector answers 429 and the
 * sender retries the same batch, so nothing is lost and nothing doubled.
 *
 * One internal thread serves librdkafka's delivery reports, errors and
 * statistics (there is no poll call for the caller to make): the counters
 * and the room in the queue follow the brokers' acknowledgements.  The
 * librdkafka glue (errors, failure reasons, configuration, statistics) is
 * kafka.h's, shared with the attribution feed.
 */
#ifndef PODFLOW_COLLECTOR_KAFKA_SINK_H
#define PODFLOW_COLLECTOR_KAFKA_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kafka.h" /* enum kafka_fail, KAFKA_ERROR_MAX: one vocabulary for Kafka failures */

struct flow_record;
struct jsonw;
struct metrics_writer;

#define KAFKA_SINK_DEFAULT_TOPIC       "podflow.flows"
#define KAFKA_SINK_DEFAULT_LINGER_MS   50
#define KAFKA_SINK_DEFAULT_BATCH       10000
#define KAFKA_SINK_DEFAULT_COMPRESSION "zstd"
#define KAFKA_SINK_DEFAULT_MAX_QUEUED  200000
#define KAFKA_SINK_BYTES_PER_QUEUED    1024 /* default byte bound per record of max_queued */

struct kafka_sink_opts {
	const char *brokers;   /* bootstrap.servers, "host:port,..."; required */
	const char *topic;     /* NULL or "": KAFKA_SINK_DEFAULT_TOPIC */
	const char *client_id; /* NULL or "": "podflow-collector" */
	int linger_ms;	       /* linger.ms; 0: send at once; < 0: 50 */
	int batch_messages;    /* batch.num.messages; <= 0: 10000 */
	/* "zstd" (NULL), "lz4", "snappy", "gzip" or "none"; zstd needs brokers >= 2.1 */
	const char *compression;
	uint32_t max_queued;	   /* records queued or in flight; 0: 200000 */
	uint64_t max_queued_bytes; /* their keys and values, bytes; 0: 1 KiB per max_queued */
	/*
	 * Extra librdkafka properties, NULL or "key", "value", ..., NULL, as
	 * for kafka_feed_opts.props: "producer.K" sets K, "consumer.K" is
	 * ignored, other keys are set.  Applied last.  Refused (EINVAL):
	 * queue.buffering.max.messages and .kbytes (the sink's own bound is
	 * max_queued / max_queued_bytes) and delivery.report.only.error (the
	 * bound is released by the delivery reports of successes too).
	 * enable.idempotence=false is taken, with a warning: retries may
	 * then duplicate and reorder records.
	 */
	const char *const *props;
};

struct kafka_sink_stats {
	uint64_t queued;		    /* records accepted by kafka_sink__write */
	uint64_t delivered;		    /* ... acknowledged by the brokers */
	uint64_t failed[KAFKA_FAIL__COUNT]; /* ... finally not delivered, by reason */
	uint64_t possibly_persisted;	    /* of the failed: maybe on the broker all the same */
	uint64_t refused_queue_full;	    /* records refused: no room (-ENOBUFS) */
	uint64_t refused_too_large;	    /* records refused: -EMSGSIZE */
	uint64_t refused_error;	  /* records refused otherwise (-EIO, -ENOENT, -EACCES, ...) */
	uint64_t queued_bytes;	  /* key + value bytes of the queued records */
	uint64_t delivered_bytes; /* ... of the delivered ones */
	uint64_t tx_bytes;	  /* bytes sent to brokers, compressed (statistics) */
	/*
	 * Records put in produce requests, each attempt counted (statistics):
	 * beyond delivered + failed once nothing is in flight, retries.
	 */
	uint64_t tx_records;
	uint64_t in_flight; /* records queued, not yet reported on */
	uint64_t in_flight_bytes;
	uint32_t max_queued;
	uint64_t max_queued_bytes;
	uint32_t brokers_up;	/* brokers connected (statistics, every second) */
	uint32_t brokers_total; /* brokers known */
	bool fatal;		/* the idempotent producer hit a fatal error: writes fail */
	char last_error[KAFKA_ERROR_MAX]; /* "" when none yet */
	int64_t last_error_ms;		  /* Unix ms, 0 when none */
};

struct kafka_sink;

/*
 * Checks and copies the options, creates the producer and starts its
 * thread (no broker is contacted before this returns).  NULL with errno
 * set and one line in `why` (EINVAL: no brokers, an unknown compression,
 * a bad or refused property).
 */
struct kafka_sink *kafka_sink__new(const struct kafka_sink_opts *o, char *why, size_t len);

/*
 * Queues the records of recs[0..n) that have keep[i] (keep NULL: all).
 * Any thread, never blocks.  All or nothing: either every kept record is
 * queued, or none is.  Returns
 *   0         all queued (none kept: nothing to do);
 *   -ENOBUFS  no room for all of them now: answer 429, the sender retries;
 *   -EMSGSIZE the kept records alone exceed max_queued or max_queued_bytes,
 *             or one exceeds message.max.bytes: they never will fit (413);
 *   -EIO      the producer hit a fatal error (see stats.fatal); -ENOENT,
 *             -EACCES the brokers said the topic does not exist, is not
 *             allowed (until librdkafka's next metadata); -ENOMEM: answer 503.
 * Refused records are counted by reason (refused_*).  A record queued is
 * then reported on exactly once: delivered or failed (by reason).
 */
int kafka_sink__write(struct kafka_sink *ks, const struct flow_record *recs, uint32_t n,
		      const bool *keep);

/*
 * The same, but where there is no room, waits up to timeout_ms for it
 * (deliveries make room) before -ENOBUFS.  For callers with no one to answer
 * 429 to: the attributor thread writing records decided late.
 */
int kafka_sink__write_wait(struct kafka_sink *ks, const struct flow_record *recs, uint32_t n,
			   const bool *keep, int timeout_ms);

/*
 * Waits up to timeout_ms for every queued record to be delivered or failed.
 * Returns how many were still undelivered at the deadline: those are then
 * purged (counted as failed "purged") before it returns.  It returns within
 * timeout_ms: a fifth of it (at most 200 ms) is kept for the purge.  For
 * SIGTERM, after the last write.  Writes may still follow.
 */
int kafka_sink__flush(struct kafka_sink *ks, int timeout_ms);

/* Stops the thread; what is still queued is purged and counted.  Call flush first.  NULL is fine. */
void kafka_sink__free(struct kafka_sink *ks);

/* Any thread. */
void kafka_sink__stats(struct kafka_sink *ks, struct kafka_sink_stats *out);

/* The podflow_collector_kafka_sink_* families. */
void kafka_sink__metrics(struct kafka_sink *ks, struct metrics_writer *w);

/* ---- pure helpers, used by the sink and exposed for the unit tests ---- */

/*
 * Appends the message value of `r` to jw (flow_record_json) and returns its
 * key: r's local_app, or NULL (*key_len 0) when it has none or it is "".
 */
const char *kafka_sink_encode(const struct flow_record *r, struct jsonw *jw, size_t *key_len);

#endif /* PODFLOW_COLLECTOR_KAFKA_SINK_H */
