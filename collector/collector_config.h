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
	uint64_t max_decoded; /* a batch's payload once decompressed */
	uint32_t max_batch_records;
	uint64_t max_header_list; /* SETTINGS_MAX_HEADER_LIST_SIZE */
	uint64_t max_buffered;	  /* per worker */
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
	char *verify_heartbeats; /* auto, required, off */
	char *kafka_brokers;	 /* NULL: no Kafka (alone, no Sonar events) */
	char *kube_api;		 /* NULL: no pod watch; "in-cluster": the service account's */
	char *kube_token_file;
	char *kube_ca_file;
	uint64_t kube_lag_ns;
	/* outputs (docs/files.md, docs/kafka-sink.md) */
	char *collector_id; /* in file names; NULL: the host name */
	bool files;
	bool jsonl;
	uint64_t files_max_bytes;
	uint64_t files_max_age_ns;
	char *files_compressor; /* libdeflate or isa-l */
	bool kafka_sink;	/* with kafka.brokers */
	char *kafka_topic;
	char *kafka_compression;
	uint64_t kafka_linger_ns;
	uint32_t kafka_batch_messages;
	uint32_t kafka_max_queued;
	/* the injection webhook (docs/webhook.md); NULL webhook_listen: none */
	char *webhook_listen;
	char *webhook_cert;
	char *webhook_key;
	uint64_t webhook_max_body;
	/* what its patch injects: live, read at every review */
	char *inject_image;
	char *inject_pull_policy;
	bool inject_native_sidecar;
	char *inject_collector_url;
	char *inject_config_map;   /* NULL: none mounted */
	char *inject_token_secret; /* NULL: none mounted, no --token-file */
	char *inject_cpu_request;  /* Kubernetes quantities; NULL: not set */
	char *inject_memory_request;
	char *inject_cpu_limit;
	char *inject_memory_limit;
	/* the insight view (docs/insight.md, docs/api.md) */
	bool insight;
	char *insight_source; /* "output" (the tap) or "kafka" (the flows topic) */
	uint64_t insight_window_ns;
	uint64_t insight_resolution_ns;
	uint32_t insight_max_edges;
	bool insight_rebuild;
	char *insight_group; /* NULL: podflow-insight-<collector id> */
	/* IPFIX over UDP (docs/ipfix.md); NULL ipfix_listen: none */
	char *ipfix_listen;
	uint32_t ipfix_workers;	      /* 0 = online CPUs */
	uint64_t ipfix_rcvbuf;	      /* asked per socket */
	uint32_t ipfix_max_exporters; /* per IPFIX worker (its decoder) */
	uint32_t ipfix_max_templates; /* per exporter */
	uint32_t ipfix_pen;
	struct config_cidrs ipfix_allow; /* source addresses taken */
};

extern const struct config_schema collector_config_schema;

/* What the table cannot check (pairs of keys); 0 or -EINVAL with "key: why". */
int collector_config_validate(const struct collector_config *cfg, char *why, unsigned long whylen);

struct admission_opts;
/* The inject.* keys as the webhook's patch takes them (borrowed from cfg). */
void collector_inject_opts(const struct collector_config *cfg, struct admission_opts *out);

#endif /* PODFLOW_COLLECTOR_CONFIG_H */
