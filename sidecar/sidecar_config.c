// SPDX-License-Identifier: BSD-2-Clause
/* The sidecar's configuration: one struct, its table of keys, its defaults. */
#include "sidecar_config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "duration.h"
#include "wire.h"

#define MS  DURATION_NS_PER_MS
#define S   DURATION_NS_PER_S
#define MIB (1ULL << 20)

static const struct sidecar_config defaults = {
	.cgroup = NULL,
	.interval_ns = 10 * S,
	.aggregate = true,
	.output = "-",
	.stats_interval_ns = 60 * S,
	.max_records = 65536,
	.max_connections = 65536,
	.ring_bytes = 4 * MIB,
	.log_level = LOG_LEVEL_INFO,
	.encoding = "zstd",
	.batch_max_records = 10000,
	.batch_max_bytes = 4 * MIB,
	.buffer_max_bytes = 16 * MIB,
	.shutdown_grace_ns = 5 * S,
	.enabled = true,
	.admin = "127.0.0.1:9091",
	.bpf_stats = false,
};

#define F(field) offsetof(struct sidecar_config, field)

static const struct config_key keys[] = {
	/* min 1: "" is refused; it read as unset, the default, which can be the whole node */
	{ "cgroup", "cgroup", CONFIG_STRING, F(cgroup), 1, 4096, false,
	  "cgroup v2 directory to capture, absolute or relative to the cgroup2 mount (or "
	  "cgroup_root); / is the whole node (default: with cgroup_root and POD_UID the pod's "
	  "cgroup, else the parent of the sidecar's own cgroup)" },
	{ "cgroup_root", "cgroup-root", CONFIG_STRING, F(cgroup_root), 1, 4096, false,
	  "where the host's cgroup2 filesystem is mounted (in a pod: a read-only hostPath of "
	  "/sys/fs/cgroup); with POD_UID the scope is that pod's cgroup under it" },
	{ "interval", "interval", CONFIG_DURATION, F(interval_ns), 100 * MS, 3600 * S, true,
	  "aggregation interval: one record per key (or connection) per interval" },
	{ "aggregate", NULL, CONFIG_BOOL, F(aggregate), 0, 1, true,
	  "fold connections to one service into one record per interval; false: one record "
	  "per connection (flag --per-connection)" },
	{ "output", "output", CONFIG_STRING, F(output), 0, 4096, false,
	  "- (stdout), a file (JSON lines appended) or http(s)://HOST:PORT (a collector)" },
	{ "labels_file", "labels-file", CONFIG_STRING, F(labels_file), 0, 4096, false,
	  "Downward API labels file: app and workload" },
	{ "stats_interval", "stats-interval", CONFIG_DURATION, F(stats_interval_ns), 0, 3600 * S,
	  true, "period of the stats line on stderr; 0s: only at exit" },
	{ "max_records", "max-records", CONFIG_U32, F(max_records), 1, 1u << 24, false,
	  "records one interval holds before it is flushed early" },
	{ "max_connections", "max-connections", CONFIG_U32, F(max_connections), 1, 1u << 24, false,
	  "live connections tracked at once in the kernel" },
	{ "ring_bytes", "ring-bytes", CONFIG_BYTES, F(ring_bytes), 4096, 1ULL << 30, false,
	  "kernel ring buffer size, a power of two" },
	{ "log.level", "log-level", CONFIG_LOG_LEVEL, F(log_level), 0, 0, true,
	  "warn, info or debug" },
	{ "tls.ca_file", "ca-file", CONFIG_STRING, F(ca_file), 0, 4096, false,
	  "CA bundle to verify an https collector (default: the system's)" },
	{ "tls.cert_file", "cert-file", CONFIG_STRING, F(cert_file), 0, 4096, false,
	  "client certificate for mTLS, with tls.key_file" },
	{ "tls.key_file", "key-file", CONFIG_STRING, F(key_file), 0, 4096, false,
	  "private key of tls.cert_file" },
	{ "token_file", "token-file", CONFIG_STRING, F(token_file), 0, 4096, false,
	  "bearer token for the collector; the file is re-read when it changes" },
	{ "identity_token_file", "identity-token-file", CONFIG_STRING, F(identity_token_file), 0,
	  4096, false,
	  "the pod's projected service-account token (audience podflow), sent with every batch in "
	  "the podflow-identity header so that the collector can prove the pod's heartbeats; the "
	  "file is re-read when it changes" },
	{ "token_optional", NULL, CONFIG_BOOL, F(token_optional), 0, 1, false,
	  "token_file may be absent (an optional Secret not created yet; its directory must "
	  "exist): send without a token until it appears (flag --token-optional)" },
	{ "encoding", "encoding", CONFIG_STRING, F(encoding), 0, 16, false,
	  "batch compression: zstd, gzip or identity" },
	{ "batch.max_records", "batch-max-records", CONFIG_U32, F(batch_max_records), 1,
	  WIRE_MAX_RECORDS, true, "a batch is sealed at this many records" },
	{ "batch.max_bytes", "batch-max-bytes", CONFIG_BYTES, F(batch_max_bytes), 4096, 64 * MIB,
	  true, "a batch is sealed at this many uncompressed bytes" },
	{ "buffer.max_bytes", "buffer-max-bytes", CONFIG_BYTES, F(buffer_max_bytes), 65536,
	  1ULL << 30, true,
	  "batches held while the collector is slow or down; beyond, the oldest are dropped" },
	{ "shutdown_grace", "shutdown-grace", CONFIG_DURATION, F(shutdown_grace_ns), 0, 600 * S,
	  true, "at SIGTERM, time to deliver what is buffered" },
	{ "filters.ignore_ports", NULL, CONFIG_PORT_LIST, F(ignore_ports), 0, 0, true,
	  "service ports not to capture (remote port for outgoing, local for incoming)" },
	{ "filters.ignore_cidrs", NULL, CONFIG_CIDR_LIST, F(ignore_cidrs), 0, 0, true,
	  "peer networks not to capture" },
	{ "enabled", NULL, CONFIG_BOOL, F(enabled), 0, 1, true,
	  "false pauses capture live (programs stay attached); true resumes it" },
	{ "admin", "admin", CONFIG_ADDR_PORT, F(admin), 0, 0, false,
	  "admin endpoint for /metrics, /healthz, /readyz, /config (empty: none)" },
	{ "bpf_stats", "bpf-stats", CONFIG_BOOL, F(bpf_stats), 0, 1, true,
	  "kernel BPF run-time statistics for the programs' CPU metric (two clock reads per "
	  "program run while on)" },
};

const struct config_schema sidecar_config_schema = {
	.program = "podflow-sidecar",
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.defaults = &defaults,
	.size = sizeof(struct sidecar_config),
};

int sidecar_config_validate(const struct sidecar_config *cfg, char *why, unsigned long whylen)
{
	enum wire_encoding enc;

	if (cfg->ring_bytes & (cfg->ring_bytes - 1)) {
		snprintf(why, whylen, "ring_bytes: %llu is not a power of two",
			 (unsigned long long)cfg->ring_bytes);
		return -EINVAL;
	}
	if (wire_encoding_parse(cfg->encoding, &enc)) {
		snprintf(why, whylen, "encoding: expected zstd, gzip or identity, got %s",
			 cfg->encoding ? cfg->encoding : "(none)");
		return -EINVAL;
	}
	if (!cfg->cert_file != !cfg->key_file) {
		snprintf(why, whylen, "tls.cert_file and tls.key_file go together");
		return -EINVAL;
	}
	if (cfg->stats_interval_ns && cfg->stats_interval_ns < 100 * MS) {
		snprintf(why, whylen, "stats_interval: 0s or at least 100ms");
		return -EINVAL;
	}
	return 0;
}
