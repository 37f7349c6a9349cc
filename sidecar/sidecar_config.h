/* SPDX-License-Identifier: BSD-2-Clause */
/* The sidecar's configuration: one struct, its table of keys, its defaults. */
#ifndef PODFLOW_SIDECAR_CONFIG_H
#define PODFLOW_SIDECAR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
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
	uint32_t max_records;
	uint32_t max_connections;
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
};

extern const struct config_schema sidecar_config_schema;

/*
 * Checks what the table cannot: the ring size is a power of two, the
 * encoding is known, a client certificate comes with its key.  0 or
 * -EINVAL with "key: why" in `why`.
 */
int sidecar_config_validate(const struct sidecar_config *cfg, char *why, unsigned long whylen);

#endif /* PODFLOW_SIDECAR_CONFIG_H */
