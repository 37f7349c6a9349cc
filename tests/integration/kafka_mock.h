/* SPDX-License-Identifier: BSD-2-Clause */
/* Test helper: librdkafka's in-process mock Kafka cluster, and a producer to fill it. */
#ifndef PODFLOW_KAFKA_MOCK_H
#define PODFLOW_KAFKA_MOCK_H

#include <stddef.h>
#include <stdint.h>

struct rd_kafka_mock_cluster_s;

/*
 * A mock cluster of N brokers (ids 1..N) on 127.0.0.1 ephemeral ports, run by
 * librdkafka's own threads in this process: no network, no root.
 */
struct kafka_mock;

/* NULL with errno set. */
struct kafka_mock *kafka_mock__new(int brokers);
void kafka_mock__free(struct kafka_mock *m);

/*
 * The cluster itself (rd_kafka_mock_cluster_t), for the error and latency
 * injection of rdkafka_mock.h this helper does not wrap; valid until free.
 */
struct rd_kafka_mock_cluster_s *kafka_mock__cluster(const struct kafka_mock *m);

/* "127.0.0.1:port,..." for bootstrap.servers; valid until free. */
const char *kafka_mock__bootstraps(const struct kafka_mock *m);

/* Creates `topic` with `partitions` partitions (replication 1).  0 or -errno (-EEXIST). */
int kafka_mock__topic(struct kafka_mock *m, const char *topic, int partitions);
/* Makes broker `broker` the leader of topic [partition].  0 or -errno. */
int kafka_mock__leader(struct kafka_mock *m, const char *topic, int32_t partition, int32_t broker);

/*
 * Queues one message for topic [partition] (-1: by key) with Kafka
 * timestamp ts_ms (0: now).  key may be NULL.  0 or -errno.
 */
int kafka_mock__produce(struct kafka_mock *m, const char *topic, int32_t partition, const char *key,
			const void *val, size_t len, int64_t ts_ms);
/* Waits until everything queued is acknowledged.  0, -ETIMEDOUT, or -EIO if any failed. */
int kafka_mock__flush(struct kafka_mock *m, int timeout_ms);

/* Takes a broker off (connections closed, the port refuses) and back. */
int kafka_mock__broker_down(struct kafka_mock *m, int32_t broker);
int kafka_mock__broker_up(struct kafka_mock *m, int32_t broker);

/* Kafka's (Java's) murmur2, as librdkafka's murmur2_random partitioner hashes keys. */
uint32_t kafka_mock_murmur2(const char *key, size_t len);

#endif /* PODFLOW_KAFKA_MOCK_H */
