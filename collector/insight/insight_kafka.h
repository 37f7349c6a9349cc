/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The insight view's Kafka source (`insight.source: kafka`): a consumer of
 * the flows topic the Kafka sink writes (one flow_record_json object per
 * message), feeding every record of the window into the view.
 *
 * Each replica consumes with its own group id and reads every partition
 * itself: partitions are assigned from metadata (rd_kafka_incremental_assign,
 * never a group subscription that would share them out), new ones picked up
 * by a periodic metadata check, and no offset is ever committed: the
 * window is replayed at each start.  Each partition starts at the offset
 * for the window's start (rd_kafka_offsets_for_times(since_ms - a minute of
 * slack: a record is produced after its end, give or take the clocks));
 * where the broker names none (librdkafka's mock cluster answers -1) from
 * the beginning.  Either way records ending before since_ms are skipped
 * (too_old), the others parsed (insight_record.h) and fed to insight__add
 * in batches of up to INSIGHT_KAFKA_BATCH.  A message that is not a record
 * is counted (bad_messages) and logged, with its reason, at most once a
 * minute.  Progress goes to the view through insight__set_source_stats
 * (source "kafka", rebuild "running" until every partition has been read to
 * the end offset it had when assigned, then "done").
 *
 * One thread polls; nothing blocks the caller.  Brokers that cannot be
 * reached are retried by librdkafka; their errors are logged once per
 * episode (kafka.h's kafka_errors) and counted.
 */
#ifndef PODFLOW_COLLECTOR_INSIGHT_KAFKA_H
#define PODFLOW_COLLECTOR_INSIGHT_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kafka.h" /* KAFKA_ERROR_MAX */

struct insight;

#define INSIGHT_KAFKA_BATCH	    1024 /* records per insight__add */
#define INSIGHT_KAFKA_DEFAULT_TOPIC "podflow.flows"

struct insight_kafka_opts {
	const char *brokers;  /* bootstrap.servers, "host:port,..."; required */
	const char *topic;    /* NULL or "": INSIGHT_KAFKA_DEFAULT_TOPIC */
	const char *group_id; /* this replica's own; required */
	uint64_t since_ms;    /* the window's start (Unix ms) */
	/*
	 * Extra librdkafka properties, NULL or "key", "value", ..., NULL, as
	 * for kafka_feed_opts.props: "consumer.K" sets K, "producer.K" is
	 * ignored, other keys are set.  Applied last.  group.id,
	 * enable.auto.commit and enable.partition.eof are refused (EINVAL).
	 */
	const char *const *props;
};

struct insight_kafka_stats {
	uint64_t consumed;		  /* messages read, whatever became of them */
	uint64_t added;			  /* records fed to the view */
	uint64_t too_old;		  /* records ending before since_ms, skipped */
	uint64_t bad_messages;		  /* not a record (insight_record.h), skipped */
	uint64_t errors;		  /* librdkafka errors (brokers down, ...) */
	uint64_t rebuilt;		  /* records fed before caught_up */
	uint32_t partitions;		  /* assigned */
	bool caught_up;			  /* every partition read to its end offset at assignment */
	char last_error[KAFKA_ERROR_MAX]; /* "" when none yet */
};

struct insight_kafka;

/*
 * Checks and copies the options, creates the consumer and starts its
 * thread; no broker is waited for.  `in` is borrowed: it must outlive the
 * consumer.  NULL with errno set (EINVAL: no brokers or group id, a bad or
 * refused property; ENOMEM) and one line in `why`.
 */
struct insight_kafka *insight_kafka__new(const struct insight_kafka_opts *o, struct insight *in,
					 char *why, size_t len);

/* Stops and joins the thread within about a second, then frees.  NULL is fine. */
void insight_kafka__free(struct insight_kafka *k);

/* Any thread. */
void insight_kafka__stats(struct insight_kafka *k, struct insight_kafka_stats *out);

#endif /* PODFLOW_COLLECTOR_INSIGHT_KAFKA_H */
