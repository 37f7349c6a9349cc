/* SPDX-License-Identifier: BSD-2-Clause */
/* The sidecar's configuration: one struct, its table of keys, its defaults. */
#ifndef PODFLOW_SIDECAR_CONFIG_H
#define PODFLOW_SIDECAR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "ipfix.h"
#include "log.h"

/* docs/config.md lists every key; the table in sidecar_config.c is the source. */
struct sidecar_config {
	char *cgroup;	   /* NULL: the pod's (cgroup_root and POD_UID), or our parent */
	char *cgroup_root; /* where the host's cgroup2 is mounted (in a pod); NULL: /proc/mounts' */
	uint64_t interval_ns;
	bool aggregate;
	char *output;
	char *labels_file;
	uint64_t stats_interval_ns; /* 0: only at exit */
	uint64_t send_spread_ns;    /* each interval's send at the sender's offset within it */
	uint32_t max_records;
	uint32_t max_connections;
	uint32_t fold_keys; /* 0: no folding in the kernel */
	uint64_t ring_bytes;
	enum log_level log_level;
	char *ca_file;
	char *cert_file;
	char *key_file;
	char *token_file;
	char *identity_token_file; /* projected service-account token, for podflow-identity */
	bool token_optional;	   /* token_file may be absent (its directory must exist) */
	char *encoding;
	uint32_t batch_max_records;
	uint64_t batch_max_bytes;
	uint64_t buffer_max_bytes;
	uint64_t shutdown_grace_ns;
	struct config_ports ignore_ports;
	struct config_cidrs ignore_cidrs;
	bool enabled;
	char *admin; /* NULL or "": no admin endpoint */
	bool bpf_stats;
	/* output udp://: IPFIX (docs/ipfix.md, "The exporter") */
	uint64_t ipfix_template_interval_ns;
	uint32_t ipfix_max_message;
	uint32_t ipfix_pen;
	char *ipfix_octets;	  /* "transport" or "ip": sidecar_ipfix_octets() */
	uint64_t ipfix_max_rate;  /* bytes per second */
	uint64_t ipfix_max_burst; /* bytes */
	uint64_t ipfix_max_queue; /* bytes */
};

extern const struct config_schema sidecar_config_schema;

/*
 * Checks what the table cannot: the ring size is a power of two, the
 * encoding is known, a client certificate comes with its key.  0 or
 * -EINVAL with "key: why" in `why`.
 */
int sidecar_config_validate(const struct sidecar_config *cfg, char *why, unsigned long whylen);

/* The longest host name an output URL may carry (RFC 1035's 253, plus room for an IPv6 zone). */
#define SIDECAR_HOST_MAX 256

/*
 * Whether `output` is udp://HOST:PORT, and where: 1 with the host (an IPv6
 * literal without its brackets, or a name or IPv4 literal) in `host` and
 * the port (1 to 65535) in *port; 0 when it is another output; -EINVAL
 * when it starts with udp:// but is malformed, with the reason in `why`.
 */
int sidecar_udp_output(const char *output, char *host, unsigned long hostlen, uint16_t *port,
		       char *why, unsigned long whylen);

/* ipfix.octets: "transport" or "ip".  0 or -EINVAL. */
int sidecar_ipfix_octets(const char *s, enum ipfix_octets *out);

#endif /* PODFLOW_SIDECAR_CONFIG_H */
