/* SPDX-License-Identifier: BSD-2-Clause */
/* One writer's plain JSON-lines file: the records of accepted batches, appended, readable live. */
#ifndef PODFLOW_COLLECTOR_JSONL_H
#define PODFLOW_COLLECTOR_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wire_batch;
struct jsonl;

/*
 * Opens DIR/NAME for appending (created 0644); the output stage names them
 * flows-w<worker>.jsonl and flows-late.jsonl.  A null writer (`null_sink`)
 * opens, formats and writes nothing: the benchmark's baseline of decoding
 * alone.  Not thread-safe: one writer thread at a time (the output stage
 * serializes).  NULL with errno set and one line in `why` on failure.
 */
struct jsonl *jsonl__new(const char *dir, const char *name, bool null_sink, char *why, size_t len);
void jsonl__free(struct jsonl *s);

/*
 * Writes each record of `b` (only those with keep[i], when keep is not
 * NULL) as one JSON line (flow_record_json) straight to the file with
 * write(2), no user-space buffering: when this returns 0 the records are
 * in the kernel's page cache, safe from a crash of this process.  Returns
 * 0 or a negative errno; on error the file is truncated back to where the
 * batch began, so it never holds part of a batch.  *bytes: JSON bytes
 * written.
 */
int jsonl__write(struct jsonl *s, const struct wire_batch *b, const bool *keep, uint64_t *bytes);
const char *jsonl__path(const struct jsonl *s);
/* Where the next batch begins, and going back there (undoing what followed: 0 or -errno). */
uint64_t jsonl__mark(const struct jsonl *s);
int jsonl__rollback(struct jsonl *s, uint64_t mark);

#endif /* PODFLOW_COLLECTOR_JSONL_H */
