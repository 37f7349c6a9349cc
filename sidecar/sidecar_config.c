// SPDX-License-Identifier: BSD-2-Clause
/* The sidecar's configuration: one struct, its table of keys, its defaults. */
#include "sidecar_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "wire.h"

#define MS  DURATION_NS_PER_MS
#define S   DURATION_NS_PER_S
#define KIB (1ULL << 10)
#define MIB (1ULL << 20)

static const struct sidecar_config defaults = {
	.cgroup = NULL,
	.interval_ns = 10 * S,
	.aggregate = true,
	.output = "-",
	.stats_interval_ns = 60 * S,
	.send_spread_ns = 500 * MS,
	.max_records = 65536,
	.max_connections = 65536,
	.fold_keys = FLOW_FOLD_KEYS_DEFAULT,
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
	/*
	 * docs/ipfix.md "The exporter" says why: templates every 30 s (a
	 * collector that starts later decodes within 30 s, for 508 bytes per
	 * period); 2 MiB/s drains the largest interval (max_records records)
	 * within the default interval; a burst of 128 KiB stays well inside a
	 * collector's default 208 KiB socket buffer; the queue is the HTTP/2
	 * buffer's 16 MiB.
	 */
	.ipfix_template_interval_ns = 30 * S,
	.ipfix_max_message = IPFIX_DEFAULT_MAX_MESSAGE,
	.ipfix_pen = IPFIX_DEFAULT_PEN,
	.ipfix_octets = "transport",
	.ipfix_max_rate = 2 * MIB,
	.ipfix_max_burst = 128 * KIB,
	.ipfix_max_queue = 16 * MIB,
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
	{ "send_spread", "send-spread", CONFIG_DURATION, F(send_spread_ns), 0, 60 * S, true,
	  "each interval's batch is sent at this pod's fixed offset within this spread after the "
	  "cut (at most a tenth of the interval), so that the pods, which all cut on the same "
	  "wall-clock instants, do not all send at once; 0s: at once" },
	{ "aggregate", NULL, CONFIG_BOOL, F(aggregate), 0, 1, true,
	  "fold connections to one service into one record per interval; false: one record "
	  "per connection (flag --per-connection)" },
	{ "output", "output", CONFIG_STRING, F(output), 0, 4096, false,
	  "- (stdout), a file (JSON lines appended), http(s)://HOST:PORT (a collector, HTTP/2) or "
	  "udp://HOST:PORT (IPFIX; an IPv6 address in brackets)" },
	{ "labels_file", "labels-file", CONFIG_STRING, F(labels_file), 0, 4096, false,
	  "Downward API labels file: app and workload" },
	{ "stats_interval", "stats-interval", CONFIG_DURATION, F(stats_interval_ns), 0, 3600 * S,
	  true, "period of the stats line on stderr; 0s: only at exit" },
	{ "max_records", "max-records", CONFIG_U32, F(max_records), 1, 1u << 24, false,
	  "records one interval holds before it is flushed early" },
	{ "max_connections", "max-connections", CONFIG_U32, F(max_connections), 1, 1u << 24, false,
	  "live connections tracked at once in the kernel, at least (fast slots besides)" },
	{ "fold_keys", "fold-keys", CONFIG_U32, F(fold_keys), 0, 1u << 16, false,
	  "aggregate mode: records per interval whose closes the kernel sums itself (one table "
	  "of this many keys per CPU, two tables); more go as events; 0: every close is an "
	  "event" },
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
	{ "ipfix.template_interval", "ipfix-template-interval", CONFIG_DURATION,
	  F(ipfix_template_interval_ns), 1 * S, 3600 * S, true,
	  "udp:// output: the templates are sent at start and again this often (a collector that "
	  "starts later decodes within one period)" },
	{ "ipfix.max_message", "ipfix-max-message", CONFIG_U32, F(ipfix_max_message),
	  IPFIX_MIN_MESSAGE, IPFIX_MAX_MESSAGE, false,
	  "udp:// output: largest IPFIX message (UDP payload); keep it under the path MTU less "
	  "the IP and UDP headers" },
	{ "ipfix.pen", "ipfix-pen", CONFIG_U32, F(ipfix_pen), 1, UINT32_MAX, false,
	  "udp:// output: the Private Enterprise Number of podflow's own elements, the same as "
	  "the collector's (the default, 32473, is RFC 5612's for documentation)" },
	{ "ipfix.octets", "ipfix-octets", CONFIG_STRING, F(ipfix_octets), 1, 16, false,
	  "udp:// output: transport (payload bytes as transportOctetDeltaCount, 401) or ip (the "
	  "same values as octetDeltaCount, 1, for collectors that know only it: nfdump 1.7)" },
	{ "ipfix.max_rate", "ipfix-max-rate", CONFIG_BYTES, F(ipfix_max_rate), 1 * KIB, 1ULL << 30,
	  true,
	  "udp:// output: bytes per second sent at most (IPFIX messages, a token bucket of "
	  "ipfix.max_burst); what waits beyond ipfix.max_queue is dropped and counted" },
	{ "ipfix.max_burst", "ipfix-max-burst", CONFIG_BYTES, F(ipfix_max_burst), IPFIX_MIN_MESSAGE,
	  64 * MIB, true,
	  "udp:// output: bytes sent back to back at most before the rate applies (at least "
	  "ipfix.max_message)" },
	{ "ipfix.max_queue", "ipfix-max-queue", CONFIG_BYTES, F(ipfix_max_queue), 4 * KIB,
	  1ULL << 30, true,
	  "udp:// output: bytes of messages waiting for the rate; beyond, new ones are dropped "
	  "and counted" },
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
	if (cfg->output) {
		char host[SIDECAR_HOST_MAX], w[256];
		uint16_t port;

		if (sidecar_udp_output(cfg->output, host, sizeof(host), &port, w, sizeof(w)) < 0) {
			snprintf(why, whylen, "output: %s", w);
			return -EINVAL;
		}
	}
	{
		enum ipfix_octets oct;

		if (sidecar_ipfix_octets(cfg->ipfix_octets, &oct)) {
			snprintf(why, whylen, "ipfix.octets: expected transport or ip, got %s",
				 cfg->ipfix_octets ? cfg->ipfix_octets : "(none)");
			return -EINVAL;
		}
	}
	if (cfg->ipfix_pen == IPFIX_PEN_REVERSE) {
		snprintf(why, whylen,
			 "ipfix.pen: %u is RFC 5103's for reverse elements, not an enterprise's: "
			 "set your organisation's PEN",
			 IPFIX_PEN_REVERSE);
		return -EINVAL;
	}
	if (cfg->ipfix_max_queue < cfg->ipfix_max_message) {
		snprintf(why, whylen,
			 "ipfix.max_queue: %llu bytes is less than ipfix.max_message (%u): no "
			 "message could wait for the rate",
			 (unsigned long long)cfg->ipfix_max_queue, cfg->ipfix_max_message);
		return -EINVAL;
	}
	if (cfg->ipfix_max_burst < cfg->ipfix_max_message) {
		snprintf(why, whylen,
			 "ipfix.max_burst: %llu bytes is less than ipfix.max_message (%u): a full "
			 "message could never be sent",
			 (unsigned long long)cfg->ipfix_max_burst, cfg->ipfix_max_message);
		return -EINVAL;
	}
	return 0;
}

int sidecar_udp_output(const char *output, char *host, unsigned long hostlen, uint16_t *port,
		       char *why, unsigned long whylen)
{
	const char *p, *h, *colon;
	size_t hl;
	char *end;
	unsigned long v;

	if (strncmp(output, "udp://", 6) != 0)
		return 0;
	p = output + 6;
	if (*p == '[') {
		const char *close = strchr(p, ']');
		struct in6_addr a6;

		if (!close || close[1] != ':') {
			snprintf(why, whylen, "%s: expected udp://[IPV6]:PORT", output);
			return -EINVAL;
		}
		h = p + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
		if (hl == 0 || hl >= hostlen) {
			snprintf(why, whylen, "%s: no IPv6 address in the brackets", output);
			return -EINVAL;
		}
		memcpy(host, h, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1) {
			snprintf(why, whylen, "%s: %s is not an IPv6 address", output, host);
			return -EINVAL;
		}
	} else {
		colon = strrchr(p, ':');
		if (!colon || colon == p) {
			snprintf(why, whylen, "%s: expected udp://HOST:PORT", output);
			return -EINVAL;
		}
		h = p;
		hl = (size_t)(colon - h);
		if (memchr(h, ':', hl)) {
			snprintf(why, whylen,
				 "%s: an IPv6 address goes in brackets, udp://[::1]:4739", output);
			return -EINVAL;
		}
		if (memchr(h, '/', hl) || memchr(h, '@', hl) || hl >= hostlen || hl > 253) {
			snprintf(why, whylen, "%s: expected udp://HOST:PORT (no user, no path)",
				 output);
			return -EINVAL;
		}
		memcpy(host, h, hl);
		host[hl] = '\0';
	}
	errno = 0;
	v = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || v < 1 || v > 65535) {
		snprintf(why, whylen, "%s: the port must be 1 to 65535 (the IPFIX port is %u)",
			 output, IPFIX_PORT);
		return -EINVAL;
	}
	*port = (uint16_t)v;
	return 1;
}

int sidecar_ipfix_octets(const char *s, enum ipfix_octets *out)
{
	if (s && strcmp(s, "transport") == 0)
		*out = IPFIX_OCTETS_TRANSPORT;
	else if (s && strcmp(s, "ip") == 0)
		*out = IPFIX_OCTETS_IP;
	else
		return -EINVAL;
	return 0;
}
