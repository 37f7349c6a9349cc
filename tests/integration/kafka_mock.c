// SPDX-License-Identifier: BSD-2-Clause
/* Test helper: librdkafka's in-process mock Kafka cluster (rdkafka_mock.h), and a producer. */
#define _GNU_SOURCE
#include "kafka_mock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "log.h"

struct kafka_mock {
	rd_kafka_t *owner; /* the handle the cluster lives in */
	rd_kafka_mock_cluster_t *cluster;
	rd_kafka_t *prod; /* the test's producer */
	char *bootstraps;
	uint64_t failed; /* delivery reports with an error */
};

static void mock_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	/* the test's own producer: its connection errors while brokers are down are expected */
	if (level <= 2)
		pr_warn("kafka-mock: %s: %s", fac, buf);
	else
		pr_debug("kafka-mock: %s: %s", fac, buf);
}

static void mock_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	struct kafka_mock *m = opaque;

	(void)rk;
	if (msg->err) {
		__atomic_fetch_add(&m->failed, 1, __ATOMIC_RELAXED);
		pr_debug("kafka-mock: delivery failed: %s", rd_kafka_err2str(msg->err));
	}
}

static rd_kafka_t *new_producer(struct kafka_mock *m, const char *bootstraps)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[256];
	rd_kafka_t *rk;

	rd_kafka_conf_set_log_cb(conf, mock_log_cb);
	rd_kafka_conf_set_opaque(conf, m);
	if (bootstraps) {
		rd_kafka_conf_set_dr_msg_cb(conf, mock_dr_cb);
		if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err)) ||
		    rd_kafka_conf_set(conf, "linger.ms", "1", err, sizeof(err)) ||
		    /* back soon after a broker the test took down is up again */
		    rd_kafka_conf_set(conf, "reconnect.backoff.ms", "50", err, sizeof(err)) ||
		    rd_kafka_conf_set(conf, "reconnect.backoff.max.ms", "200", err, sizeof(err))) {
			pr_warn("kafka-mock: %s", err);
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		pr_warn("kafka-mock: %s", err);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

struct kafka_mock *kafka_mock__new(int brokers)
{
	struct kafka_mock *m = calloc(1, sizeof(*m));
	int err = -ENOMEM;

	if (!m)
		goto cleanup;
	err = -EIO;
	m->owner = new_producer(m, NULL);
	if (!m->owner)
		goto cleanup;
	m->cluster = rd_kafka_mock_cluster_new(m->owner, brokers);
	if (!m->cluster)
		goto cleanup;
	err = -ENOMEM;
	m->bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(m->cluster));
	if (!m->bootstraps)
		goto cleanup;
	err = -EIO;
	m->prod = new_producer(m, m->bootstraps);
	if (!m->prod)
		goto cleanup;
	return m;
cleanup:
	kafka_mock__free(m);
	errno = -err;
	return NULL;
}

void kafka_mock__free(struct kafka_mock *m)
{
	if (!m)
		return;
	if (m->prod)
		rd_kafka_destroy(m->prod);
	if (m->cluster)
		rd_kafka_mock_cluster_destroy(m->cluster);
	if (m->owner)
		rd_kafka_destroy(m->owner);
	free(m->bootstraps);
	free(m);
}

rd_kafka_mock_cluster_t *kafka_mock__cluster(const struct kafka_mock *m)
{
	return m->cluster;
}

const char *kafka_mock__bootstraps(const struct kafka_mock *m)
{
	return m->bootstraps;
}

static int mock_errno(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_NO_ERROR:
		return 0;
	case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
		return -EEXIST;
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
	case RD_KAFKA_RESP_ERR__UNKNOWN_BROKER:
		return -ENOENT;
	case RD_KAFKA_RESP_ERR__QUEUE_FULL:
		return -ENOBUFS;
	default:
		return -EIO;
	}
}

int kafka_mock__topic(struct kafka_mock *m, const char *topic, int partitions)
{
	return mock_errno(rd_kafka_mock_topic_create(m->cluster, topic, partitions, 1));
}

int kafka_mock__leader(struct kafka_mock *m, const char *topic, int32_t partition, int32_t broker)
{
	return mock_errno(rd_kafka_mock_partition_set_leader(m->cluster, topic, partition, broker));
}

int kafka_mock__produce(struct kafka_mock *m, const char *topic, int32_t partition, const char *key,
			const void *val, size_t len, int64_t ts_ms)
{
	rd_kafka_resp_err_t err;

	for (;;) {
		err = rd_kafka_producev(
		    m->prod, RD_KAFKA_V_TOPIC(topic),
		    RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
		    RD_KAFKA_V_KEY(key, key ? strlen(key) : 0), RD_KAFKA_V_VALUE((void *)val, len),
		    RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		/* the test's own producer may wait for room */
		rd_kafka_poll(m->prod, 10);
	}
	rd_kafka_poll(m->prod, 0);
	return mock_errno(err);
}

int kafka_mock__flush(struct kafka_mock *m, int timeout_ms)
{
	if (rd_kafka_flush(m->prod, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return -ETIMEDOUT;
	return __atomic_exchange_n(&m->failed, 0, __ATOMIC_RELAXED) ? -EIO : 0;
}

int kafka_mock__broker_down(struct kafka_mock *m, int32_t broker)
{
	return mock_errno(rd_kafka_mock_broker_set_down(m->cluster, broker));
}

int kafka_mock__broker_up(struct kafka_mock *m, int32_t broker)
{
	return mock_errno(rd_kafka_mock_broker_set_up(m->cluster, broker));
}

/* Kafka's (Java's) murmur2, as librdkafka's murmur2_random partitioner uses it. */
uint32_t kafka_mock_murmur2(const char *key, size_t len)
{
	const uint32_t m = 0x5bd1e995;
	const unsigned char *d = (const unsigned char *)key;
	uint32_t h = 0x9747b28c ^ (uint32_t)len;

	for (; len >= 4; d += 4, len -= 4) {
		uint32_t k = d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24;

		k *= m;
		k ^= k >> 24;
		k *= m;
		h *= m;
		h ^= k;
	}
	switch (len) {
	case 3:
		h ^= (uint32_t)d[2] << 16;
		/* fallthrough */
	case 2:
		h ^= (uint32_t)d[1] << 8;
		/* fallthrough */
	case 1:
		h ^= d[0];
		h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return h;
}
