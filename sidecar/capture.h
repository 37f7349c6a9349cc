/* SPDX-License-Identifier: BSD-2-Clause */
/* The kernel side's lifecycle: load, attach to a cgroup, drain, walk, detach. */
#ifndef PODFLOW_CAPTURE_H
#define PODFLOW_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "../bpf/flow_event.h"
#include "config.h"

struct capture_opts {
	const char *cgroup_path;  /* scope: this cgroup v2 directory and everything below */
	uint32_t ring_bytes;	  /* ring buffer size, a power of two >= 4096 */
	uint32_t wakeup_bytes;	  /* fill that wakes the reader; below it, the drain timer reads */
	uint32_t max_connections; /* live connections tracked at once */
	uint32_t fold_keys;	  /* keys each fold table holds; 0: closes are never folded */
};

/* Called for every event; the event is valid only during the call. */
typedef void (*capture_event_fn)(const struct flow_event *ev, void *ctx);

enum capture_error {
	CAPTURE_ERR_NONE = 0,
	CAPTURE_ERR_ENV = 1,   /* not root, no BTF, a hook the kernel refuses: exit 1 */
	CAPTURE_ERR_USAGE = 2, /* the cgroup cannot be used: exit 2 */
};

struct capture;

/*
 * Opens, sizes, loads and attaches the programs (sockops on the scope
 * cgroup, the TCP reset tracepoints, the iter/tcp walk).  On failure
 * returns NULL with errno set, `*kind` saying whose fault it is, and one line
 * naming what is missing in `why`.
 */
struct capture *capture__new(const struct capture_opts *opts, capture_event_fn fn, void *ctx,
			     enum capture_error *kind, char *why, size_t whylen);
void capture__free(struct capture *c);

/* The id (kernfs inode) of the cgroup the cgroup programs are attached to; 0 if unknown. */
uint64_t capture__cgroup_id(const struct capture *c);
/*
 * The scope was removed and a cgroup created again at its path: attaches
 * the cgroup programs (sockops) to the directory now at `cgroup_path`, then
 * drops the old links (the kernel detached them when their cgroup died).
 * 0, or -errno with one line in `why`; on failure the old attachment stays.
 */
int capture__reattach(struct capture *c, const char *cgroup_path, char *why, size_t whylen);

/* Pollable fd that becomes readable when the ring crosses the wakeup fill. */
int capture__fd(const struct capture *c);
/* Hands every queued event to the callback.  Returns the count or -errno. */
int capture__drain(struct capture *c);
/*
 * Reports every live connection whose counters moved since its last report
 * (one FLOW_KIND_INTERVAL event each), in our network namespace and in each
 * of the `n_netns` namespaces in `netns_fds` (entered with setns(),
 * `self_netns_fd` brings us back), draining the ring whenever the walk
 * pauses for space.  Returns 0 or -errno.
 */
int capture__walk(struct capture *c, const int *netns_fds, uint32_t n_netns, int self_netns_fd);

/* One key's closes folded on one CPU (capture__fold_cut()). */
typedef void (*capture_fold_fn)(const struct flow_fold_key *key, const struct flow_fold *f,
				void *ctx);

/*
 * Closes fold into the kernel's per-record sums instead of being events
 * (aggregate mode; never with fold_keys 0).  In force for the next close.
 */
void capture__set_fold(struct capture *c, bool on);
/*
 * The cut of the folded closes: points the programs at the other, empty,
 * table (the kernel returns once no program holds the old one), then hands
 * each key of the old table to `fn`, once per CPU that folded closes for
 * it, and empties it.  Closes after the swap are the next cut's.  Nothing to
 * do (no swap) while folding was off since the last cut.  The copies handed
 * over, or -errno (the swap failed: the closes stay where they are, for the
 * next cut).
 */
int capture__fold_cut(struct capture *c, capture_fold_fn fn, void *ctx);

/*
 * Live controls.  Paused: new connections are not tracked (those already
 * tracked are still reported); the programs stay attached.
 */
void capture__set_paused(struct capture *c, bool paused);
/*
 * Connections whose service port (remote for connect(), local for accept)
 * or peer address matches are not tracked.  Replaces the previous filters;
 * 0 or -errno (the previous filters may be partly replaced: logged).
 */
int capture__set_filters(struct capture *c, const struct config_ports *ports,
			 const struct config_cidrs *cidrs);
/*
 * Kernel BPF run-time statistics (kernel.bpf_stats_enabled) while on: each
 * program run then costs two clock reads.  0 or -errno.
 */
int capture__set_bpf_stats(struct capture *c, bool on);
/* Resets the ring-fill high-water mark after reading it (a gauge per scrape). */
uint64_t capture__take_ring_fill_max(struct capture *c);
uint32_t capture__ring_bytes(const struct capture *c);
/*
 * The flows' fast slots for a --max-connections: the largest power of two
 * not above it, at most FLOW_FAST_SLOTS_MAX (bpf/flow_event.h).  The flows
 * hash map holds max_connections more, so at least that many connections
 * are tracked at once.
 */
uint32_t capture_fast_slots(uint32_t max_connections);
/*
 * Ring events of the wrong size, skipped: 0 unless the kernel programs and
 * this binary were built from different headers (each one a lost event).
 */
uint64_t capture__bad_events(const struct capture *c);

/* Kernel-side loss and health counters. */
void capture__kstats(const struct capture *c, struct flow_kstats *out);
/*
 * Sum of run_time_ns and run_cnt over the programs (non-zero only while
 * kernel.bpf_stats_enabled is on).
 */
void capture__prog_stats(const struct capture *c, uint64_t *run_ns, uint64_t *run_cnt);
/*
 * For each tracing (tp_btf) program, by name: the runs the kernel skipped
 * because that program was already running on the CPU
 * (bpf_prog_info.recursion_misses, counted whatever bpf_stats says).
 */
void capture__prog_misses(const struct capture *c,
			  void (*fn)(void *ctx, const char *name, uint64_t misses), void *ctx);

#endif /* PODFLOW_CAPTURE_H */
