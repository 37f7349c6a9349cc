/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * IP ownership history: who owned an IP address at a given time, by source.
 *
 * The rule (docs/attribution.md): a flow is attributed by who owned the
 * remote IP *at the flow's time*, never by the current owner, and what
 * cannot be decided with certainty is reported as such, never guessed.
 *
 * Per IP (16 bytes, IPv4 as v4-mapped ::ffff:a.b.c.d) and per source the
 * store keeps what that source said:
 *   - spans: closed ranges [from, to) known for certain (sidecar heartbeats,
 *     ranges shared by peer collectors).  Spans of one identity that overlap
 *     or touch merge into one; spans of different identities that overlap
 *     make that overlap a conflict.
 *   - events: point events ASSIGN(identity, t) and UNASSIGN(t) (Kubernetes
 *     pod watch, Sonar-style IP events), kept in time order whatever order
 *     they arrive in (duplicates folded).  An ASSIGN owns the IP from t to
 *     the next event of that source for that IP; the last ASSIGN is
 *     open-ended.
 * Times are Unix milliseconds (int64_t); a range [from, to) covers t when
 * from <= t < to ("to" is exclusive).
 *
 * Not thread-safe: the caller serialises (the collector wraps it in a
 * rwlock: lookups under the read side, evidence under the write side).
 */
#ifndef PODFLOW_OWNERSHIP_H
#define PODFLOW_OWNERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

/*
 * Sources are lib/flow.h's enum flow_source, FLOW_SOURCE_HEARTBEAT to
 * FLOW_SOURCE_SONAR, most trusted first (FLOW_SOURCE_UNATTRIBUTED is no
 * source: -EINVAL).
 */

#define OWN_FOREVER    INT64_MAX /* the end of an open range */
#define OWN_STRING_MAX 253	 /* longest identity string kept (longer: cut) */

struct own_limits {
	size_t max_ranges; /* spans + events, all IPs and sources; 0 = 4194304 */
};

struct own_store;

struct own_store *own_store__new(const struct own_limits *lim);
void own_store__free(struct own_store *st);

/*
 * Evidence.  0, or -EINVAL (from > to, or t < 0), or -ENOMEM.  When the
 * store is at max_ranges, the ranges that ended earliest (all sources) are
 * evicted to make room, each counted in own_stats.evicted; evidence is never
 * refused for space.
 */
int own_span(struct own_store *st, enum flow_source src, const uint8_t ip[16],
	     const struct flow_identity *id, int64_t from_ms, int64_t to_ms);
int own_assign(struct own_store *st, enum flow_source src, const uint8_t ip[16],
	       const struct flow_identity *id, int64_t t_ms);
/*
 * id NULL: whoever holds it; else only an ASSIGN whose identity has every
 * field `id` names (fields "" or NULL match anything) is ended; an UNASSIGN
 * naming someone else changes nothing (0).
 */
int own_unassign(struct own_store *st, enum flow_source src, const uint8_t ip[16],
		 const struct flow_identity *id, int64_t t_ms);

/*
 * How far a source's view is complete: an open-ended ASSIGN of that source
 * is certain only up to here, and an IP it says nothing of at t <= here is
 * certainly not its.  Default OWN_FOREVER for every source (a source that is
 * not configured never makes anyone wait); the collector sets kube's and
 * sonar's to what their feeds report and lowers it (e.g. to the last good
 * time while a watch is broken).  Heartbeats are complete only up to the
 * heartbeat floor below (capped by the heartbeat watermark set here): any
 * sender may still claim any address for a later time.
 */
void own_set_watermark(struct own_store *st, enum flow_source src, int64_t t_ms);
/*
 * Heartbeats for times up to t_ms that have not come will not come (every
 * sidecar reports each interval; the collector sets now - its grace).  Up
 * to here the spans received are the whole truth: a span decides, two
 * owners' spans are a conflict, no span is nobody.  Above it a span is an
 * unsettled claim: a second sender's claim for the same time may still
 * arrive and make it a conflict, so deciding on the first claim would make
 * the answer depend on arrival order.  Default INT64_MIN.
 */
void own_set_heartbeat_floor(struct own_store *st, int64_t t_ms);
/*
 * From now on unsettled heartbeat claims decide as if settled (the
 * collector's last pass at shutdown, which cannot wait for the grace).
 */
void own_settle_heartbeats(struct own_store *st);
int64_t own_watermark(const struct own_store *st, enum flow_source src);

enum own_verdict {
	OWN_FOUND, /* out->id and out->source are set */
	OWN_WAIT,  /* not decided yet: a source may still speak for t */
	OWN_NONE,  /* certainly no known owner at t (or sources conflict) */
};

struct own_answer {
	const struct flow_identity *id; /* valid until the next evidence or prune */
	enum flow_source source;
	bool conflict; /* OWN_NONE because one source said two owners at t */
	bool settling; /* OWN_WAIT for nothing but a heartbeat claim to settle */
};

/*
 * Who owned `ip` at t.  Sources are asked in trust order:
 *   - a span covering t: FOUND (a conflict there: NONE, conflict = true);
 *     a heartbeat span above the heartbeat floor is only a claim: FOUND if
 *     a less trusted source names the same pod (namespace and pod) at t,
 *     else WAIT, with settling = true (until the floor passes t) unless a
 *     less trusted source is still behind t (it may yet confirm the claim);
 *   - an ASSIGN covering t: FOUND if it is closed (a later event of that
 *     source ends it) or t <= the source's watermark; else WAIT;
 *   - nothing covering t: the source is pending when t is beyond its
 *     watermark (heartbeats: beyond the floor); ask the next source.
 * Nobody covers t: WAIT if any source is pending, else NONE.
 */
enum own_verdict own_lookup(const struct own_store *st, const uint8_t ip[16], int64_t t_ms,
			    struct own_answer *out);

/* Drops every span and event wholly before `before_ms` (retention); returns how many. */
size_t own_prune(struct own_store *st, int64_t before_ms);

struct own_stats {
	uint64_t ips;	     /* addresses with any range */
	uint64_t ranges;     /* spans + events held */
	uint64_t identities; /* distinct identities held (interned) */
	uint64_t bytes;	     /* memory held, approximately, all included */
	uint64_t conflicts;  /* span overlaps between identities seen */
	uint64_t pruned;     /* removed by own_prune */
	uint64_t evicted;    /* removed to stay within max_ranges */
	uint64_t duplicates; /* evidence that changed nothing */
};
void own_stats(const struct own_store *st, struct own_stats *out);

/*
 * Calls fn for each range of `ip`, by source then time: for events, the
 * range an ASSIGN implies ([t, next event) or [t, OWN_FOREVER)); a
 * conflict region comes with id NULL.  For the admin endpoint and tests.
 */
void own_each_range(const struct own_store *st, const uint8_t ip[16],
		    void (*fn)(enum flow_source src, int64_t from_ms, int64_t to_ms,
			       const struct flow_identity *id, bool conflict, void *ctx),
		    void *ctx);

#endif /* PODFLOW_OWNERSHIP_H */
