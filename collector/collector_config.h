/* SPDX-License-Identifier: BSD-2-Clause */
/* The collector's configuration: one struct, its table of keys, its defaults. */
#ifndef PODFLOW_COLLECTOR_CONFIG_H
#define PODFLOW_COLLECTOR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "log.h"

/* docs/config.md lists every key; the table in collector_config.c is the source. */
struct collector_config {
	char *listen;
	char *data_dir;
	char *tls_cert;
	char *tls_key;
	char *tls_client_ca; /* mTLS: require client certificates signed by this CA */
	char *token_file;
	uint32_t workers; /* 0 = online CPUs */
	uint64_t max_body;
	uint64_t max_buffered; /* per worker */
	uint32_t max_connections;
	uint32_t max_connections_per_peer; /* across workers; 0 = no cap */
	uint32_t max_streams;
	uint64_t idle_ns;
	uint64_t request_ns;
	/* record time bounds (docs/architecture.md "Record times") */
	uint64_t ingest_max_skew_ns;
	uint64_t ingest_max_age_ns; /* 0 = no bound */
	uint64_t stats_interval_ns;
	bool null_sink;
	enum log_level log_level;
	char *admin;	      /* NULL or "": no admin endpoint (probes, /metrics) */
	char *api_listen;     /* NULL or "": no API endpoint (/config, /ownership) */
	char *api_token_file; /* the API's bearer token; required off loopback */
	/* attribution (docs/attribution.md) */
	bool attribution;
	uint64_t max_delay_ns;
	uint64_t retention_ns;
	uint64_t heartbeat_grace_ns;
	uint64_t heartbeat_max_skew_ns;
	uint32_t max_delayed;
	uint32_t max_ranges;
	char *sonar_topic;
	char *ranges_topic;
	char *kafka_brokers; /* NULL: no Kafka (alone, no Sonar events) */
	char *kube_api;	     /* NULL: no pod watch; "in-cluster": the service account's */
	char *kube_token_file;
	char *kube_ca_file;
	uint64_t kube_lag_ns;
	/* outputs (docs/files.md, docs/kafka-sink.md) */
	char *collector_id; /* in file names; NULL: the host name */
	bool files;
	bool jsonl;
	uint64_t files_max_bytes;
	uint64_t files_max_age_ns;
	bool kafka_sink; /* with kafka.brokers */
	char *kafka_topic;
	char *kafka_compression;
	uint64_t kafka_linger_ns;
	uint32_t kafka_batch_messages;
	uint32_t kafka_max_queued;
};

extern const struct config_schema collector_config_schema;

/* What the table cannot check (pairs of keys); 0 or -EINVAL with "key: why". */
int collector_config_validate(const struct collector_config *cfg, char *why, unsigned long whylen);

#endif /* PODFLOW_COLLECTOR_CONFIG_H */
