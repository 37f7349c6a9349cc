/* SPDX-License-Identifier: BSD-2-Clause */
/* Start-up recovery of the file output: finishing the hidden files a crash left (docs/files.md). */
#ifndef PODFLOW_COLLECTOR_FILES_RECOVER_H
#define PODFLOW_COLLECTOR_FILES_RECOVER_H

#include <stddef.h>
#include <stdint.h>

/* What files_recover did; the output stage keeps it for its metrics. */
struct files_recovery {
	uint64_t published;	/* hidden files finished and renamed into place */
	uint64_t removed;	/* hidden files with no complete member: unlinked */
	uint64_t bytes_dropped; /* partial members cut off their ends */
	uint64_t errors;	/* hidden files left as they were (logged) */
};

/*
 * Finishes what a crash left: every hidden .part-<collector_id>-*.json.gz
 * under DIR/flows/dt=*\/hr=*\/ (any collector's when collector_id is NULL)
 * is cut to its longest prefix of complete gzip members (each one's CRC-32
 * and ISIZE checked), fsynced and renamed to its visible name, or unlinked
 * when no member is complete.  Call it once, before any writer of this
 * collector id starts: it must not race a live writer's hidden files.
 * Returns the number of files published or removed, or a negative errno
 * with one line in `why` (DIR/flows missing is not an error).  *out may be NULL.
 */
int files_recover(const char *dir, const char *collector_id, struct files_recovery *out, char *why,
		  size_t len);

#endif /* PODFLOW_COLLECTOR_FILES_RECOVER_H */
