/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Attribution: names the remote side of every record by who owned its IP at
 * the record's time (docs/attribution.md), holding back what cannot be
 * decided yet for a bounded time, never guessing.
 */
#ifndef PODFLOW_COLLECTOR_ATTRIBUTOR_H
#define PODFLOW_COLLECTOR_ATTRIBUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ownership.h"

struct wire_batch;
struct flow_record;
struct metrics_writer;
struct jsonw;

struct attr_opts {
	int64_t max_delay_ms;	       /* longest a record waits for evidence (live) */
	int64_t retention_ms;	       /* ownership kept this long after it ends (live) */
	int64_t heartbeat_grace_ms;    /* heartbeats for t are all in by t + this (live) */
	int64_t heartbeat_max_skew_ms; /* a heartbeat may end at most this far ahead (live) */
	uint32_t max_delayed;	       /* records held back at once; beyond, the oldest go out */
	uint32_t max_ranges;	       /* ownership ranges held (own_limits.max_ranges) */
	/*
	 * Hands records decided late to the output stage (on the
	 * attributor's thread; outputs__write_late); 0, or -errno and nothing
	 * of them kept: they stay queued and are retried.  Required.
	 */
	int (*write)(void *ctx, const struct wire_batch *b);
	void *write_ctx;
	/*
	 * Called on the attributor's thread after every sweep, outside any
	 * lock: the journal references (attributor__hold_journaled) of the
	 * records the sweep wrote, n_refs of them (0 too: it is the journal's
	 * tick).  Not for records a final write failed to write: the journal
	 * keeps those.  NULL: nothing is journaled.
	 */
	void (*settled)(void *ctx, const uint64_t *refs, uint32_t n_refs);
	void *settled_ctx;
	/*
	 * Called (on the calling worker's thread, outside any lock) for every
	 * heartbeat span applied, so replicas can share it; NULL: alone.
	 */
	void (*publish)(void *ctx, const uint8_t ip[16], const struct flow_identity *id,
			int64_t from_ms, int64_t to_ms);
	void *publish_ctx;
	/*
	 * How far each feed's view is complete (kube, sonar), read by the
	 * attributor's thread every tick; NULL: the source is not configured
	 * (never waited for).  Heartbeats need none.
	 */
	int64_t (*watermark[FLOW_SOURCE__COUNT])(void *ctx);
	void *watermark_ctx[FLOW_SOURCE__COUNT];
	/*
	 * How far behind now a feed's watermark runs while healthy (the pod
	 * watch: kube.lag); 0: not known.  A record ending at E waiting for
	 * that feed is retried at E + lag, not on the next tick.
	 */
	int64_t watermark_lag_ms[FLOW_SOURCE__COUNT];
};

/* Why a heartbeat span was not used (docs/attribution.md, "Heartbeats are bounded"). */
enum attr_hb_refusal {
	ATTR_HB_FUTURE,	  /* ends beyond now + heartbeat_max_skew */
	ATTR_HB_TOO_OLD,  /* starts before now - retention */
	ATTR_HB_TOO_LONG, /* longer than heartbeat_grace + heartbeat_max_skew: more than a report */
	/* proven heartbeats (attribution.verify_heartbeats; docs/attribution.md, "Heartbeats are proven") */
	ATTR_HB_UNVERIFIED,	 /* the batch came without an identity token */
	ATTR_HB_PENDING,	 /* its token is not reviewed yet (or could not be) */
	ATTR_HB_UNAUTHENTICATED, /* the API server does not vouch for its token as a pod's */
	ATTR_HB_POD_MISMATCH,	 /* the batch names another namespace/pod than its token */
	ATTR_HB_IP_MISMATCH,	 /* the pod watch gives a claimed IP to another pod then */
	ATTR_HB__COUNT,
};
const char *attr_hb_refusal_name(enum attr_hb_refusal r);

struct attr_stats {
	uint64_t decided[FLOW_SOURCE__COUNT]; /* records attributed, by the source that decided */
	uint64_t unattributed_none;	      /* certainly nobody known at the record's time */
	uint64_t unattributed_conflict;	      /* a source named two owners */
	uint64_t unattributed_changed;	      /* the owner changed within the record's span */
	uint64_t unattributed_expired;	      /* waited max_delay, still undecided */
	uint64_t unattributed_evicted;	      /* pushed out of a full delay queue early */
	uint64_t delayed_now;		      /* records waiting */
	uint64_t delayed_total;		      /* records that had to wait */
	uint64_t late_written;		      /* records decided late and written */
	uint64_t late_write_errors;	      /* records the output refused at exit: lost */
	uint64_t late_write_retries;	      /* sweeps whose write failed (records kept queued) */
	uint64_t heartbeats;		      /* heartbeat spans applied */
	uint64_t heartbeats_empty;	      /* naming IPs over no time: claim nothing */
	uint64_t heartbeats_refused[ATTR_HB__COUNT]; /* by reason */
	uint64_t sweeps;
};

struct attributor;

/*
 * When the thread retries held-back records next, after now_ms (wall
 * clock): the next multiple of 250 ms, so a record whose evidence
 * completes on such an instant is decided then.
 */
int64_t attributor_next_sweep_ms(int64_t now_ms);

struct attributor *attributor__new(const struct attr_opts *o, char *why, size_t len);
/*
 * Stops the thread, then decides what still waits (as the evidence allows,
 * else unattributed) and writes it.  Idempotent; no record may be handed
 * in after it.
 */
void attributor__stop(struct attributor *a);
/* Stops first if needed. */
void attributor__free(struct attributor *a);
/* Starts the thread that retries held-back records and applies retention. */
int attributor__start(struct attributor *a);

/* Live settings. */
void attributor__set_limits(struct attributor *a, int64_t max_delay_ms, int64_t retention_ms,
			    int64_t heartbeat_grace_ms, int64_t heartbeat_max_skew_ms);

/*
 * Evidence, from any thread.  A batch's heartbeat: its sender owned its IPs
 * over [span_start, span_end).  A heartbeat span (a batch's, or another
 * replica's shared range) that claims what a sidecar cannot know is not
 * used: counted by reason, logged once per sender.  True when it was used
 * (the journal keeps it then).
 */
bool attributor__heartbeat(struct attributor *a, const struct wire_batch *b);
/*
 * True when the batch's heartbeat claims nothing, so there is nothing to
 * use or prove: it names no IPs, or names them over a span of no time (a
 * report in the same millisecond as the one before, such as the one at
 * exit right after a cut), which is counted (heartbeats_empty).
 */
bool attributor__heartbeat_empty(struct attributor *a, const struct wire_batch *b);
/*
 * The heartbeat of a sender whose token proved it to be the pod the batch
 * names: used as attributor__heartbeat, except when the pod watch (if it
 * runs) gives one of the claimed IPs to another pod at the span's end
 * (refused whole: ATTR_HB_IP_MISMATCH).
 */
bool attributor__heartbeat_proven(struct attributor *a, const struct wire_batch *b);
/*
 * A heartbeat not used because its sender is not proven (why: one of
 * ATTR_HB_UNVERIFIED .. ATTR_HB_POD_MISMATCH; `detail` for the log, may be
 * NULL): counted, logged once per sender (ATTR_HB_PENDING only counted: it
 * is the normal state of a sender's first batch).
 */
void attributor__heartbeat_refuse(struct attributor *a, enum attr_hb_refusal why,
				  const struct wire_batch *b, const char *detail);
void attributor__assign(struct attributor *a, enum flow_source src, const uint8_t ip[16],
			const struct flow_identity *id, int64_t t_ms);
void attributor__unassign(struct attributor *a, enum flow_source src, const uint8_t ip[16],
			  const struct flow_identity *id, int64_t t_ms);
void attributor__span(struct attributor *a, enum flow_source src, const uint8_t ip[16],
		      const struct flow_identity *id, int64_t from_ms, int64_t to_ms);

/*
 * The hot path, on a worker: decides each record of `b` now where the
 * evidence allows.  Decided records (and those certainly unattributed) get
 * remote/remote_source set (remote points into `arena`, valid until the
 * next call with it) and keep[i] true; for the others keep[i] is false and
 * the count of them is returned.
 */
struct attr_arena;
struct attr_arena *attr_arena__new(void);
void attr_arena__free(struct attr_arena *ar);
uint32_t attributor__batch(struct attributor *a, struct attr_arena *ar, struct wire_batch *b,
			   bool *keep);
/*
 * Holding the undecided back, in two steps around the caller's one write
 * of the batch.  attributor__hold copies the records with keep[i] false
 * into `ar` (nothing is queued yet); one that cannot be copied (out of
 * memory) is settled unattributed and its keep[i] set true, so that the
 * caller's write takes it.  Returns how many were copied.  The caller then
 * writes the kept records, all or nothing, and calls exactly one of:
 * attributor__hold_commit once the write succeeded (the copies join the
 * delay queue, written later by the attributor's thread, decided or not;
 * it cannot fail), attributor__hold_cancel when it failed (the copies are
 * dropped: nothing of the batch is held).  So a batch that fails and is
 * sent again is never held twice, and nothing of it is written twice.
 */
uint32_t attributor__hold(struct attributor *a, struct attr_arena *ar, struct wire_batch *b,
			  bool *keep);
void attributor__hold_commit(struct attributor *a, struct attr_arena *ar);
/*
 * Between attributor__hold and _commit: where the copies are journaled,
 * refs[i] for the i-th copy (hold's order; NULL: nowhere), handed back to
 * attr_opts.settled once written; and, when arrived_ms is not 0, when
 * they first arrived (a replay at start: their max_delay counts from then).
 */
void attributor__hold_journaled(struct attributor *a, struct attr_arena *ar, const uint64_t *refs,
				int64_t arrived_ms);
void attributor__hold_cancel(struct attributor *a, struct attr_arena *ar);

void attributor__stats(struct attributor *a, struct attr_stats *out);
void attributor__own_stats(struct attributor *a, struct own_stats *out);
/* podflow_collector_attribution_* and podflow_collector_ownership_* families. */
void attributor__metrics(struct attributor *a, struct metrics_writer *w);
/* The ranges held for one IP, as JSON (the admin endpoint's /ownership?ip=). */
void attributor__ranges_json(struct attributor *a, const uint8_t ip[16], struct jsonw *jw);

#endif /* PODFLOW_COLLECTOR_ATTRIBUTOR_H */
