/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Rebuilds the insight view at start from the flow files (docs/files.md):
 * the records of the last window read back from
 * DATA_DIR/flows/dt=YYYY-MM-DD/hr=HH/part-*.json.gz.
 *
 * The files are listed at insight_rebuild__new, synchronously; the caller
 * calls it before the outputs start writing, so a file this process writes
 * later is never read back (the in-process tap has its records).  They are
 * read in a background thread: every gzip member of each (zlib reads
 * concatenated members as one stream), one record per line (insight_record.h),
 * records ending before since_ms skipped, the others fed to insight__add in
 * batches of up to INSIGHT_REBUILD_BATCH.  Hidden files ('.'-prefixed: being
 * written) are not listed.  A file that is corrupt or cut short, an
 * unreadable directory, a line that is not a record or longer than
 * INSIGHT_RECORD_MAX_TEXT is counted (rebuild_errors) and logged once per
 * file; the records around it still count.  Progress goes to the view
 * through insight__set_source_stats (source "output", rebuild "running",
 * then "done", or "failed" when the data directory could not be listed).
 *
 * Memory is bounded: one line buffer (INSIGHT_RECORD_MAX_TEXT) and one
 * batch of parsed records.
 */
#ifndef PODFLOW_COLLECTOR_INSIGHT_REBUILD_H
#define PODFLOW_COLLECTOR_INSIGHT_REBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct insight;

#define INSIGHT_REBUILD_BATCH 1024 /* records per insight__add */

struct insight_rebuild_stats {
	uint64_t files;	     /* listed at the start */
	uint64_t files_read; /* read to their end (or to their damage) so far */
	uint64_t records;    /* fed to the view */
	uint64_t too_old;    /* skipped: end_ms < since_ms */
	uint64_t errors;     /* unreadable files and directories, bad or over-long lines */
	bool finished;	     /* every file read (or the listing failed) */
	bool failed;	     /* the data directory could not be listed */
};

struct insight_rebuild;

/*
 * Lists the files of the hours from since_ms's to the one after now (UTC;
 * the hour after is for records up to an hour ahead of the clock) and
 * starts reading them into `in` (borrowed: it must outlive the rebuild).
 * A missing DATA_DIR/flows is an empty rebuild, done at once; one that
 * cannot be listed is logged and reported "failed", not an error here.
 * NULL with errno set (ENOMEM, or the thread's creation failing) and one
 * line in `why`.
 */
struct insight_rebuild *insight_rebuild__new(const char *data_dir, uint64_t since_ms,
					     struct insight *in, char *why, size_t len);

/*
 * Stops the thread (checked between batches and files: promptly) and
 * joins it, then frees.  A rebuild stopped early leaves what it fed in the
 * view.  NULL is fine.
 */
void insight_rebuild__free(struct insight_rebuild *r);

/* Any thread. */
void insight_rebuild__stats(struct insight_rebuild *r, struct insight_rebuild_stats *out);

#endif /* PODFLOW_COLLECTOR_INSIGHT_REBUILD_H */
