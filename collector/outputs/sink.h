/* SPDX-License-Identifier: BSD-2-Clause */
/* A worker's output: the records of accepted batches as JSON lines in its own file. */
#ifndef PODFLOW_COLLECTOR_SINK_H
#define PODFLOW_COLLECTOR_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wire_batch;
struct sink;

/*
 * Opens DIR/flows-w<worker>.jsonl for appending (created 0644).  A null
 * sink (`null_sink`) opens, formats and writes nothing: the benchmark's
 * baseline of decoding alone.  NULL with errno set and one line in `why` on failure.
 */
struct sink *sink__new(const char *dir, unsigned int worker, bool null_sink, char *why, size_t len);
/* The same for DIR/NAME. */
struct sink *sink__new_named(const char *dir, const char *name, bool null_sink, char *why,
			     size_t len);
void sink__free(struct sink *s);

/*
 * Writes each record of `b` (only those with keep[i], when keep is not NULL) as one JSON line (flow_record_json) straight to
 * the file with write(2), no user-space buffering: when this returns 0 the
 * records are in the kernel's page cache, safe from a crash of this
 * process.  Returns 0 or a negative errno; on error the file is truncated
 * back to where the batch began, so it never holds part of a batch.
 * *bytes: JSON bytes written.
 */
int sink__write_batch(struct sink *s, const struct wire_batch *b, const bool *keep,
		      uint64_t *bytes);
const char *sink__path(const struct sink *s);
/* Where the next batch begins, and going back there (undoing what followed: 0 or -errno). */
uint64_t sink__mark(const struct sink *s);
int sink__rollback(struct sink *s, uint64_t mark);

#endif /* PODFLOW_COLLECTOR_SINK_H */
