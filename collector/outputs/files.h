/* SPDX-License-Identifier: BSD-2-Clause */
/* The collector's file output: Hive-partitioned gzip JSON lines, published by atomic rename. */
#ifndef PODFLOW_COLLECTOR_FILES_H
#define PODFLOW_COLLECTOR_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * DIR/flows/dt=YYYY-MM-DD/hr=HH/part-<collector-id>-<seq>.json.gz, the hour
 * (UTC) of each record's end_ms; each file a series of gzip members (RFC 1952
 * section 2.2: a .gz file is members one after another), one member per
 * batch and partition, one flow_record_json object per line.  A file being
 * written is hidden (".part-..."), which Hive, Spark and Presto skip, and is
 * renamed into place after an fsync.  docs/files.md has the whole protocol.
 */

struct wire_batch;
struct files;
struct files_group;

#define FILES_DEFAULT_MAX_BYTES	 (128ull << 20)
#define FILES_DEFAULT_MAX_AGE_NS (300ull * 1000000000ull)
/*
 * Deflate level 3 (libdeflate): the lowest level that writes no more bytes
 * than zlib's level 3 did, at about twice its speed; level 6 takes 1.5x
 * the CPU for 19 % fewer bytes (docs/files.md)
 */
#define FILES_DEFAULT_LEVEL 3
#define FILES_ID_MAX	    64

/* What writes the gzip members (docs/files.md, "The compressor"). */
enum files_compressor {
	FILES_LIBDEFLATE = 0, /* libdeflate at `level`: the smaller files (the default) */
	/*
	 * ISA-L's igzip at its level 2 (`level` unused): about a fifth of
	 * libdeflate's CPU per byte, about a quarter more bytes
	 */
	FILES_ISAL,
};
#define FILES_COMPRESSOR_NAMES "libdeflate or isa-l"

/*
 * Open files one writer keeps before it publishes the one written least
 * recently; a single batch that spans more hours than this may open more
 * for as long as it is being written (its members must all be undoable).
 */
#define FILES_MAX_OPEN 16
/* After a failed batch, files__backoff() is true this long: callers answer 429 early */
#define FILES_BACKOFF_NS (1000000000ull)

struct files_opts {
	const char *dir;	  /* the data dir; files go under DIR/flows/ */
	const char *collector_id; /* [A-Za-z0-9_.-], 1..FILES_ID_MAX bytes; copied */
	const char *label;	  /* for log lines ("worker 2", "late"); copied, may be NULL */
	uint64_t max_bytes;	  /* compressed bytes that rotate a file; 0: the default */
	uint64_t max_age_ns;	  /* time since a file was opened that rotates it; 0: the default */
	int level;		  /* deflate level 1..9; 0: FILES_DEFAULT_LEVEL */
	bool null;		  /* format and write nothing: the benchmark's baseline */
	/*
	 * What the writers of one collector share (file numbers, the error
	 * episode): borrowed, outlives the writer; NULL: the writer's own.
	 */
	struct files_group *group;
	/* libdeflate (at `level`) or ISA-L */
	enum files_compressor compressor;
};

/* What a failed write or publish is counted as: the errno, by class. */
enum files_err {
	FILES_ERR_NOSPC = 0, /* ENOSPC, EDQUOT */
	FILES_ERR_ROFS,	     /* EROFS */
	FILES_ERR_ACCESS,    /* EACCES, EPERM */
	FILES_ERR_IO,	     /* EIO */
	FILES_ERR_OTHER,
	FILES_ERR__COUNT,
};

/* Why a file was published. */
enum files_rotation {
	FILES_ROT_SIZE = 0, /* reached max_bytes */
	FILES_ROT_AGE,	    /* open for max_age */
	FILES_ROT_CLOSE,    /* files__close (SIGTERM, exit) */
	FILES_ROT_LIMIT,    /* FILES_MAX_OPEN files open: the least recently written */
	FILES_ROT__COUNT,
};

/*
 * Counters of one writer (files__stats) or of all of them summed
 * (files_stats_sum).  The writer updates them with relaxed atomics, so
 * another thread may read them at any time.
 */
struct files_stats {
	uint64_t batches;	   /* batches written (each one member per partition) */
	uint64_t records;	   /* records written */
	uint64_t bytes;		   /* JSON bytes, before compression */
	uint64_t bytes_compressed; /* bytes written to files */
	uint64_t files_published;  /* renamed into place (not counting recovery's) */
	uint64_t files_open;	   /* gauge: hidden files open now */
	uint64_t rotations[FILES_ROT__COUNT];
	uint64_t write_errors[FILES_ERR__COUNT];   /* batches refused, nothing of them kept */
	uint64_t publish_errors[FILES_ERR__COUNT]; /* fsync/rename failures, retried on tick */
};

/*
 * 0 when `id` can name files: 1..FILES_ID_MAX bytes of [A-Za-z0-9_.-],
 * not starting with '.'; -EINVAL otherwise.
 */
int files_check_id(const char *id);
/* The compressor `name` names (FILES_COMPRESSOR_NAMES) in *out: 0, or -EINVAL. */
int files_compressor_parse(const char *name, enum files_compressor *out);
/* The host name with every other byte made '_' (for a default collector id); returns buf. */
const char *files_default_id(char *buf, size_t len);

/*
 * The file numbers and the error episode (one warning for all the writers
 * while writes fail) of a collector's writers: the output stage makes one
 * and hands it to each writer.  NULL when out of memory.
 */
struct files_group *files_group__new(void);
void files_group__free(struct files_group *g);

/*
 * One writer's output.  Not thread-safe: its owner serializes the calls
 * (the output stage: one per ingest worker and one for the records decided
 * late, each behind its own lock).  Makes DIR (the last
 * component) and DIR/flows if missing; files open with the first record of
 * their hour.  NULL with errno set and one line in `why`.
 */
struct files *files__new(const struct files_opts *o, char *why, size_t len);
/* Publishes every open file (files__close), then frees.  Accepts NULL. */
void files__free(struct files *fs);

/*
 * Writes the records of `b` (those with keep[i], when keep is not NULL):
 * for each hour they fall in, one gzip member appended to that hour's open
 * file with write(2), no user-space buffering.  0: every record is in the
 * kernel's page cache, safe from a crash of this process (not yet of the
 * machine: files are fsynced when published).  A negative errno (-ENOSPC,
 * -EDQUOT, -EROFS, -EACCES, -EIO, -ENOMEM, ...): nothing of the batch is in
 * any file (each file it touched is truncated back), the failure is counted
 * by class and logged once per episode, files__backoff() turns true, and
 * the caller answers so that the sender retries (429).  A file the batch
 * took to max_bytes is published at the start of the next call (write, tick
 * or close), so that files__undo can still take the batch back.
 * `now_ns`: CLOCK_MONOTONIC, the files' age.  *bytes: JSON bytes written.
 */
int files__write(struct files *fs, const struct wire_batch *b, const bool *keep, uint64_t now_ns,
		 uint64_t *bytes);

/*
 * Takes back the batch the last files__write wrote (each file it touched
 * truncated to where it was, its counts subtracted): for a caller whose
 * other output (Kafka) then failed, so that the sender's retry is not
 * written twice.  Only right after that write: -ENOENT after any other
 * call.  0, or the negative errno of a truncation that failed (that file is
 * set aside and cut before it is published; only a crash before then could
 * show the batch).
 */
int files__undo(struct files *fs);

/*
 * Publishes the files the last write filled and those open for max_age,
 * and retries publishes that failed.  Call it at least once a second.  0,
 * or the first publish's negative errno.
 */
int files__tick(struct files *fs, uint64_t now_ns);

/*
 * Publishes every open file: writeback started on all of them first, then
 * each fsynced and renamed, the directories fsynced (SIGTERM, exit).  The
 * writer stays usable (a later write opens new files).  0, or the first
 * negative errno: a file that could not be published stays hidden, and the
 * next start's recovery (files_recover.h) finishes it.
 */
int files__close(struct files *fs);

/*
 * Starts writeback of every open file (sync_file_range), so that the
 * fsyncs of a later files__close, this writer's and other writers', overlap
 * instead of queuing.
 */
void files__writeback(struct files *fs);

/* True while the last write failed less than FILES_BACKOFF_NS ago. */
bool files__backoff(const struct files *fs, uint64_t now_ns);

/* A snapshot of this writer's counters (relaxed atomic loads). */
void files__stats(const struct files *fs, struct files_stats *out);
/* dst += src, every field (files_open too). */
void files_stats_sum(struct files_stats *dst, const struct files_stats *src);

/* The class of an errno (positive or negative), and the classes' and reasons' metric labels. */
enum files_err files_err_class(int err);
const char *files_err_name(enum files_err e);
const char *files_rotation_name(enum files_rotation r);

/* "DIR/flows" or "(null sink)", for the ready line. */
const char *files__path(const struct files *fs);

/* ---- the protocol's steps, shared with start-up recovery (files_recover.c) ---------- */

/* The first file number of a run: the wall clock in microseconds (docs/files.md, "Name"). */
uint64_t files_seq_start(void);
/*
 * DIR/.NAME -> DIR/NAME without ever replacing a file.  A name that is
 * taken (a clock stepped back) is replaced by one with a fresh number drawn
 * from *seq; the visible name is written to `vis`.  0 or -errno.
 */
int files_rename_visible(const char *dir, const char *hidden, const char *id, uint64_t *seq,
			 char *vis, size_t vis_len);
/* fsync of a directory: a rename in it is durable once this returns 0.  0 or -errno. */
int files_sync_dir(const char *dir);
/*
 * The end of the longest prefix of complete gzip members in fd (each one's
 * CRC-32 and ISIZE checked, RFC 1952 section 2.3.1); anything else (a
 * member cut short, bytes that are no gzip) ends the prefix.  0 and *end, or
 * a negative errno (a read error, no memory): then nothing is to be cut.
 */
int files_scan_members(int fd, off_t *end);

#endif /* PODFLOW_COLLECTOR_FILES_H */
