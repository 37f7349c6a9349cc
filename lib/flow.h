/* SPDX-License-Identifier: BSD-2-Clause */
/* The user-space flow record (DESIGN.md "Flow records") and its JSON form. */
#ifndef PODFLOW_FLOW_H
#define PODFLOW_FLOW_H

#include <stdbool.h>
#include <stdint.h>

/*
 * enum flow_direction (FLOW_DIRECTION_OUT, FLOW_DIRECTION_IN) and
 * FLOW_COMM_LEN: the kernel programs name them too, and they cannot
 * include a user-space header, so the one definition is in the header both
 * sides include.
 */
#include "../bpf/flow_event.h"

struct jsonw;

/*
 * Who named a record's remote side: nobody (the zero value, what a record
 * starts as), or a source of ownership evidence, most trusted first: where
 * sources disagree the first wins (docs/attribution.md).  The one enum of
 * the concept: the record's remote_source, the ownership store's sources.
 */
enum flow_source {
	FLOW_SOURCE_UNATTRIBUTED = 0,
	FLOW_SOURCE_HEARTBEAT = 1,
	FLOW_SOURCE_KUBE = 2,
	FLOW_SOURCE_SONAR = 3,
	FLOW_SOURCE__COUNT,
};

#define FLOW_CONTAINER_ID_LEN 65		  /* 64 hex digits + NUL */
#define FLOW_COMM_SIZE	      (FLOW_COMM_LEN + 1) /* the kernel's comm plus a NUL */

/*
 * Who one side of a flow is -- a pod as its sidecar or the pod watch names
 * it, or any owner of an address as IP events name it -- the one identity
 * type of every stage (wire, attribution, feeds, outputs).  NULL or "" =
 * unknown.  Strings are owned by whoever owns the struct.
 */
struct flow_identity {
	const char *app;
	const char *namespace;
	const char *pod;
	const char *node;
	const char *workload;
	const char *account; /* cloud account, region, zone: where IP events know them */
	const char *region;
	const char *zone;
};

/*
 * One record: one connection (per-connection mode) or several folded
 * (aggregated mode) within one interval.  Addresses are 16 bytes, IPv4 as
 * v4-mapped; `family` is what the user sees (4 for v4-mapped).
 */
struct flow_record {
	uint64_t start_ms;
	uint64_t end_ms;
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint64_t segs_sent;
	uint64_t segs_received;
	uint64_t cgroup_id;
	uint32_t flows;
	uint32_t closed;
	uint32_t failed; /* connections that closed without ever being established */
	uint32_t retransmits;
	uint32_t resets;
	uint32_t srtt_us;
	uint32_t min_rtt_us;
	uint32_t pid;
	uint16_t local_port;
	uint16_t remote_port;
	uint16_t err; /* errno of the first failure folded in, 0 if none */
	uint8_t family;
	uint8_t direction; /* FLOW_DIRECTION_* */
	uint8_t local_addr[16];
	uint8_t remote_addr[16];
	char comm[FLOW_COMM_SIZE];
	char container_id[FLOW_CONTAINER_ID_LEN];
	const char *container;		    /* borrowed, may be NULL */
	const struct flow_identity *local;  /* borrowed, may be NULL */
	const struct flow_identity *remote; /* borrowed, may be NULL */
	enum flow_source remote_source;
};

/* "ECONNREFUSED" etc. for the errors TCP reports, "" for 0, "E<n>" otherwise. */
const char *flow_err_name(uint16_t err, char *buf, unsigned long len);
const char *flow_direction_name(uint8_t direction);
const char *flow_source_name(enum flow_source src);

/* Appends the record as one JSON object (no newline). */
void flow_record_json(const struct flow_record *r, struct jsonw *jw);

/*
 * The identities' strings repeat from record to record of a batch (the
 * sender's own pod in every record, a few dozen peers): a cache of each
 * one's escaped JSON fragment, keyed by the identity's address (and the
 * container name's), so that it is escaped once per batch and then copied.
 * The output is byte for byte flow_record_json's.  Identities are borrowed
 * by the records for one batch only, so an address may name another
 * identity in the next: flow_json_cache__reset() before each batch.  One
 * thread at a time.
 */
struct flow_json_cache;

struct flow_json_cache *flow_json_cache__new(void);
void flow_json_cache__free(struct flow_json_cache *c);
/* Forgets every fragment (keeps the memory): before each batch. */
void flow_json_cache__reset(struct flow_json_cache *c);
/* flow_record_json, with the identities' fragments from c (NULL: none cached). */
void flow_record_json_cached(const struct flow_record *r, struct jsonw *jw,
			     struct flow_json_cache *c);

#endif /* PODFLOW_FLOW_H */
