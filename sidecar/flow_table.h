/* SPDX-License-Identifier: BSD-2-Clause */
/* Folds kernel flow events into per-interval records (aggregated or per connection). */
#ifndef PODFLOW_FLOW_TABLE_H
#define PODFLOW_FLOW_TABLE_H

#include <stdint.h>

#include "flow.h"

struct flow_event;
struct flow_fold;
struct flow_fold_key;

enum flow_table_mode {
	/* (cgroup, direction, local IP, remote IP, service port): ephemeral port -> 0 */
	FLOW_TABLE_AGGREGATE = 0,
	/* one record per connection, ports kept */
	FLOW_TABLE_PER_CONNECTION = 1,
};

/* Called once per record at flush; the record is valid only during the call. */
typedef void (*flow_table_emit_fn)(struct flow_record *rec, void *ctx);

struct flow_table;

/*
 * `capacity` bounds the distinct records one interval can hold (memory is
 * allocated up front: about 200 bytes per record).  Returns NULL, errno set.
 */
struct flow_table *flow_table__new(enum flow_table_mode mode, uint32_t capacity);
void flow_table__free(struct flow_table *ft);

/*
 * Folds one event.  Returns 0, or -ENOSPC when the table is full: the caller
 * flushes (an early, shorter interval; nothing is lost) and adds again.
 */
int flow_table__add(struct flow_table *ft, const struct flow_event *ev);

/*
 * Folds the closes the kernel folded for one key (capture__fold_cut()):
 * each is one of the record's flows and closed, as a CLOSE event would be.
 * Returns 0 or -ENOSPC, as flow_table__add().
 */
int flow_table__add_fold(struct flow_table *ft, const struct flow_fold_key *key,
			 const struct flow_fold *f);

/*
 * Marks the start of an interval walk: until the next flush, CLOSE events
 * stamped after `cut_ns` belong to the next interval.  This keeps a
 * connection that closes while the walk reports it from being counted twice
 * in `flows` (once by the walk, once by its close).
 */
void flow_table__set_cut(struct flow_table *ft, uint64_t cut_ns);

/*
 * Emits every record of the interval that began at `interval_start_ns`
 * (CLOCK_BOOTTIME), converting times to wall-clock ms with
 * `boot_to_wall_ns` (CLOCK_REALTIME - CLOCK_BOOTTIME), then empties the
 * table and replays events deferred by the cut.  Returns records emitted.
 */
uint32_t flow_table__flush(struct flow_table *ft, uint64_t interval_start_ns,
			   int64_t boot_to_wall_ns, flow_table_emit_fn fn, void *ctx);

uint32_t flow_table__count(const struct flow_table *ft);

#endif /* PODFLOW_FLOW_TABLE_H */
