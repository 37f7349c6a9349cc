/* SPDX-License-Identifier: BSD-2-Clause */
/* What every report says in its header, on either transport: sender, sequence, heartbeat, drops. */
#ifndef PODFLOW_REPORT_HEADER_H
#define PODFLOW_REPORT_HEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "flow.h"
#include "wire.h"

/* Cumulative loss counters of the capture side, by wire_drop reason. */
typedef void (*report_drops_fn)(void *ctx, uint64_t cumulative[WIRE_DROP__COUNT]);

/* The last heartbeat's claim and what the pod's IP variables left out (podips.h): gauges. */
struct report_header_stats {
	uint64_t heartbeat_ips;
	uint64_t pod_ips_over_limit;
	uint64_t pod_ips_malformed;
	uint64_t send_offset_ns; /* the offset of the last cut (report_header__send_offset_ns) */
};

struct report_header;

/*
 * One per exporter (an HTTP/2 batch and an IPFIX report carry the same
 * header, docs/wire.md and docs/ipfix.md): draws the random sender id,
 * starts the first span now, and says at once what POD_IPS leaves out.
 * `sender` is borrowed for its life; `drops_fn` (may be NULL) is called at
 * every report__next().  NULL with errno ENOMEM.
 */
struct report_header *report_header__new(const struct flow_identity *sender,
					 report_drops_fn drops_fn, void *drops_ctx);
void report_header__free(struct report_header *rh);

/*
 * What the heartbeats of the reports begun from now on may claim.
 * `claim` true: the pod's IPs, for a span ending no later than `until_ms`
 * (wall clock: the last moment the caller saw capture working).  false:
 * no address (capture is blind, the pod may be gone and its IP someone
 * else's).  Until the first call: the IPs, up to each report.
 */
void report_header__set_claim(struct report_header *rh, bool claim, uint64_t until_ms);

/*
 * The next report's header, into *h: the next seq (from 1), the span from
 * the previous report's end to now (never past the claim, never ending
 * before it starts), the pod's IPs (written to `ips`, which h->ips then
 * points at) and the capture's drops since the previous call.  The caller
 * adds its own transport's losses to h->drops.  Strings borrowed from the
 * sender.
 */
void report_header__next(struct report_header *rh, struct wire_header *h,
			 uint8_t (*ips)[16] /* WIRE_MAX_IPS */);

uint64_t report_header__sender_id(const struct report_header *rh);
/*
 * This sender's fixed place in a spread of `spread_ns` after each interval's
 * cut, in [0, spread_ns): drawn from its sender id, so the pods of a
 * cluster, which all cut on the same wall-clock instants, do not all send
 * at once.  0 when spread_ns is 0.  Kept in the stats (send_offset_ns).
 */
uint64_t report_header__send_offset_ns(struct report_header *rh, uint64_t spread_ns);
void report_header__stats(const struct report_header *rh, struct report_header_stats *out);

#endif /* PODFLOW_REPORT_HEADER_H */
