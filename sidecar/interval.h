/* SPDX-License-Identifier: BSD-2-Clause */
/* The per-interval data path: kernel events in, each interval's records out (exporter or file). */
#ifndef PODFLOW_INTERVAL_H
#define PODFLOW_INTERVAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct cgroup_names;
struct exporter;
struct flow_event;
struct flow_fold;
struct flow_fold_key;
struct flow_identity;
struct ipfix_exporter;

/* The clock the interval reads (clock_ns() of lib/clock.h; a test's stand-in). */
typedef uint64_t (*interval_clock_fn)(clockid_t id);

/*
 * Reports every live connection's counters so far by calling interval__add()
 * once per event (the capture's walk and drain); called by interval__end().
 */
typedef void (*interval_walk_fn)(void *ctx);

struct interval_opts {
	bool aggregate; /* fold connections to one service; false: one record per connection */
	uint32_t max_records; /* distinct records one interval holds before it is flushed early */
	/* Borrowed for the interval's life, all of them. */
	const struct flow_identity *local; /* the pod: every record's local side */
	struct cgroup_names *names;	   /* cgroup id -> container id */
	struct exporter *exp;		   /* records are added to its batches; NULL: ... */
	struct ipfix_exporter *ipx;	   /* ... to its IPFIX reports; NULL: ... */
	FILE *out;			   /* ... written to this stream as JSON lines */
	const char *out_name;		   /* names `out` in messages */
	interval_clock_fn clock;	   /* NULL: clock_ns() */
};

/* Counters for the stats line and /metrics. */
struct interval_stats {
	uint64_t events;	/* events added */
	uint64_t records;	/* records emitted */
	uint64_t early_flushes; /* intervals cut short: max_records distinct records reached */
	uint64_t table_drops;	/* events (a fold: its closes) fitting no table after two flushes */
	uint64_t folded_closes; /* closes the kernel folded, added */
};

struct interval;

/*
 * NULL with errno set: EINVAL without an exporter (of either kind) or a stream, or with
 * max_records 0 or beyond 1 << 24; ENOMEM.  The first interval begins at
 * interval__start().
 */
struct interval *interval__new(const struct interval_opts *opts);
void interval__free(struct interval *iv);

/* The first interval begins now (when capture is ready). */
void interval__start(struct interval *iv);

/*
 * Folds one event into the current interval.  When max_records distinct
 * records are reached, the interval is closed early and its records
 * emitted (nothing is dropped).
 */
void interval__add(struct interval *iv, const struct flow_event *ev);

/*
 * Folds the closes the kernel folded for one key on one CPU (aggregate
 * mode), as interval__add() folds an event: a full table closes the
 * interval early.
 */
void interval__add_fold(struct interval *iv, const struct flow_fold_key *key,
			const struct flow_fold *f);
/*
 * Whether closes may fold in the kernel now: the records being made and
 * those the next flush makes are both aggregated (a live switch to one
 * record per connection stops folding before the interval that needs the
 * connections apart).
 */
bool interval__folding(const struct interval *iv);

/*
 * Ends the current interval at now: marks the cut, lets `walk` (may be
 * NULL) report every live connection, emits the interval's records, and
 * begins the next interval at the cut.  A connection that closes after the
 * cut, while the walk reports it, is counted in the next interval, not
 * twice.  Sealing the exporter's batch (the heartbeat) is the caller's.
 */
void interval__end(struct interval *iv, interval_walk_fn walk, void *ctx);

/* Live change of the record mode: in force from the next interval on. */
void interval__set_aggregate(struct interval *iv, bool aggregate);

/*
 * When the interval running at wall-clock time now_ns (Unix ns) ends: the
 * next multiple of interval_ns after now_ns.  Every sidecar cuts on the same
 * wall-clock multiples, so the heartbeats of two pods covering the same
 * instant arrive together: a record waiting for its peer's heartbeat waits
 * for no second interval (docs/attribution.md, "Freshness").
 */
uint64_t interval_next_cut_ns(uint64_t now_ns, uint64_t interval_ns);

/* True once writing to the stream failed (logged once): the caller exits. */
bool interval__output_failed(const struct interval *iv);

void interval__stats(const struct interval *iv, struct interval_stats *out);

#endif /* PODFLOW_INTERVAL_H */
