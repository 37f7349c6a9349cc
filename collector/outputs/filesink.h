/* SPDX-License-Identifier: BSD-2-Clause */
/* The collector's file output: Hive-partitioned gzip JSON lines, published by atomic rename. */
#ifndef PODFLOW_COLLECTOR_FILESINK_H
#define PODFLOW_COLLECTOR_FILESINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * DIR/flows/dt=YYYY-MM-DD/hr=HH/part-<collector-id>-<seq>.json.gz, the hour
 * (UTC) of each record's end_ms; each file a series of gzip members (RFC 1952
 * section 2.2: a .gz file is members one after another), one member per
 * batch and partition, one flow_record_json object per line.  A file being
 * written is hidden (".part-..."), which Hive, Spark and Presto skip, and is
 * renamed into place after an fsync.  docs/files.md has the whole protocol.
 */

struct wire_batch;
struct filesink;

#define FILESINK_DEFAULT_MAX_BYTES  (128ull << 20)
#define FILESINK_DEFAULT_MAX_AGE_NS (300ull * 1000000000ull)
/*
 * zlib level 3: within a few % of level 1's records per core for 19 % fewer
 * bytes; level 6 takes 2.2x the CPU of level 3 for 20 % fewer (docs/files.md)
 */
#define FILESINK_DEFAULT_LEVEL 3
#define FILESINK_ID_MAX	       64
/*
 * Open files one writer keeps before it publishes the one written least
 * recently; a single batch that spans more hours than this may open more
 * for as long as it is being written (its members must all be undoable).
 */
#define FILESINK_MAX_OPEN 16
/* After a failed batch, filesink__backoff() is true this long: callers answer 429 early */
#define FILESINK_BACKOFF_NS (1000000000ull)

struct filesink_opts {
	const char *dir;	  /* the data dir; files go under DIR/flows/ */
	const char *collector_id; /* [A-Za-z0-9_.-], 1..FILESINK_ID_MAX bytes; copied */
	const char *label;	  /* for log lines ("worker 2", "late"); copied, may be NULL */
	uint64_t max_bytes;	  /* compressed bytes that rotate a file; 0: the default */
	uint64_t max_age_ns;	  /* time since a file was opened that rotates it; 0: the default */
	int level;		  /* zlib level 1..9; 0: FILESINK_DEFAULT_LEVEL */
	bool null;		  /* format and write nothing: the benchmark's baseline */
};

/* What a failed write or publish is counted as: the errno, by class. */
enum filesink_err {
	FILESINK_ERR_NOSPC = 0, /* ENOSPC, EDQUOT */
	FILESINK_ERR_ROFS,	/* EROFS */
	FILESINK_ERR_ACCESS,	/* EACCES, EPERM */
	FILESINK_ERR_IO,	/* EIO */
	FILESINK_ERR_OTHER,
	FILESINK_ERR__COUNT,
};

/* Why a file was published. */
enum filesink_rotation {
	FILESINK_ROT_SIZE = 0, /* reached max_bytes */
	FILESINK_ROT_AGE,      /* open for max_age */
	FILESINK_ROT_CLOSE,    /* filesink__close (SIGTERM, exit) */
	FILESINK_ROT_LIMIT,    /* FILESINK_MAX_OPEN files open: the least recently written */
	FILESINK_ROT__COUNT,
};

/*
 * Counters of one writer (filesink__stats) or of all of them summed
 * (filesink_stats_sum).  The writer updates them with relaxed atomics, so
 * another thread may read them at any time.
 */
struct filesink_stats {
	uint64_t batches;	   /* batches written (each one member per partition) */
	uint64_t records;	   /* records written */
	uint64_t bytes;		   /* JSON bytes, before compression */
	uint64_t bytes_compressed; /* bytes written to files */
	uint64_t files_published;  /* renamed into place (not counting recovery's) */
	uint64_t files_open;	   /* gauge: hidden files open now */
	uint64_t rotations[FILESINK_ROT__COUNT];
	uint64_t write_errors[FILESINK_ERR__COUNT];   /* batches refused, nothing of them kept */
	uint64_t publish_errors[FILESINK_ERR__COUNT]; /* fsync/rename failures, retried on tick */
};

/* What filesink_recover did (also kept process-wide: filesink_recovery_stats). */
struct filesink_recovery {
	uint64_t published;	/* hidden files finished and renamed into place */
	uint64_t removed;	/* hidden files with no complete member: unlinked */
	uint64_t bytes_dropped; /* partial members cut off their ends */
	uint64_t errors;	/* hidden files left as they were (logged) */
};

/*
 * 0 when `id` can name files: 1..FILESINK_ID_MAX bytes of [A-Za-z0-9_.-],
 * not starting with '.'; -EINVAL otherwise.
 */
int filesink_check_id(const char *id);
/* The host name with every other byte made '_' (for a default collector id); returns buf. */
const char *filesink_default_id(char *buf, size_t len);

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
int filesink_recover(const char *dir, const char *collector_id, struct filesink_recovery *out,
		     char *why, size_t len);
/* Adds the recovery counts of this process (every filesink_recover call) to *out. */
void filesink_recovery_stats(struct filesink_recovery *out);

/*
 * One writer's output.  Not thread-safe: each thread that writes owns one
 * (each ingest worker, the attributor's thread).  Makes DIR (the last
 * component) and DIR/flows if missing; files open with the first record of
 * their hour.  NULL with errno set and one line in `why`.
 */
struct filesink *filesink__new(const struct filesink_opts *o, char *why, size_t len);
/* Publishes every open file (filesink__close), then frees.  Accepts NULL. */
void filesink__free(struct filesink *fs);

/*
 * Writes the records of `b` (those with keep[i], when keep is not NULL):
 * for each hour they fall in, one gzip member appended to that hour's open
 * file with write(2), no user-space buffering.  0: every record is in the
 * kernel's page cache, safe from a crash of this process (not yet of the
 * machine: files are fsynced when published).  A negative errno (-ENOSPC,
 * -EDQUOT, -EROFS, -EACCES, -EIO, -ENOMEM, ...): nothing of the batch is in
 * any file (each file it touched is truncated back), the failure is counted
 * by class and logged once per episode, filesink__backoff() turns true, and
 * the caller answers so that the sender retries (429).  A file the batch
 * took to max_bytes is published at the start of the next call (write, tick
 * or close), so that filesink__undo can still take the batch back.
 * `now_ns`: CLOCK_MONOTONIC, the files' age.  *bytes: JSON bytes written.
 */
int filesink__write(struct filesink *fs, const struct wire_batch *b, const bool *keep,
		    uint64_t now_ns, uint64_t *bytes);

/*
 * Takes back the batch the last filesink__write wrote (each file it touched
 * truncated to where it was, its counts subtracted): for a caller whose
 * other output (Kafka) then failed, so that the sender's retry is not
 * written twice.  Only right after that write: -ENOENT after any other
 * call.  0, or the negative errno of a truncation that failed (that file is
 * set aside and cut before it is published; only a crash before then could
 * show the batch).
 */
int filesink__undo(struct filesink *fs);

/*
 * Publishes the files the last write filled and those open for max_age,
 * and retries publishes that failed.  Call it at least once a second.  0,
 * or the first publish's negative errno.
 */
int filesink__tick(struct filesink *fs, uint64_t now_ns);

/*
 * Publishes every open file: writeback started on all of them first, then
 * each fsynced and renamed, the directories fsynced (SIGTERM, exit).  The
 * sink stays usable (a later write opens new files).  0, or the first
 * negative errno: a file that could not be published stays hidden, and the
 * next start's filesink_recover finishes it.
 */
int filesink__close(struct filesink *fs);

/* True while the last write failed less than FILESINK_BACKOFF_NS ago. */
bool filesink__backoff(const struct filesink *fs, uint64_t now_ns);

/* A snapshot of this writer's counters (relaxed atomic loads). */
void filesink__stats(const struct filesink *fs, struct filesink_stats *out);
/* dst += src, every field (files_open too). */
void filesink_stats_sum(struct filesink_stats *dst, const struct filesink_stats *src);

/* The class of an errno (positive or negative), and the classes' and reasons' metric labels. */
enum filesink_err filesink_err_class(int err);
const char *filesink_err_name(enum filesink_err e);
const char *filesink_rotation_name(enum filesink_rotation r);

/* "DIR/flows" or "(null sink)", for the ready line. */
const char *filesink__path(const struct filesink *fs);

#endif /* PODFLOW_COLLECTOR_FILESINK_H */
