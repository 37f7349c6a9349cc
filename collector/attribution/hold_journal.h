/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The write-ahead journal of held records (docs/attribution.md, "Held
 * records survive a crash"): a batch's held copies and its heartbeat are
 * appended before the batch is answered 204, a tombstone once the late
 * writer has written them, and what a crash left is handed back at start.
 */
#ifndef PODFLOW_COLLECTOR_HOLD_JOURNAL_H
#define PODFLOW_COLLECTOR_HOLD_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metrics_writer;
struct wire_batch;

/*
 * Where one held record is journaled: its segment's id in the high 40 bits,
 * its place among the segment's records in the low 24 (a segment is rotated
 * before it would hold more).  0: not journaled.  The records of one frame
 * have consecutive references.
 */
#define HOLD_JOURNAL_ORD_BITS	   24
#define HOLD_JOURNAL_REF(seg, ord) (((uint64_t)(seg) << HOLD_JOURNAL_ORD_BITS) | (uint64_t)(ord))

#define HOLD_JOURNAL_SEGMENT_BYTES (4u << 20) /* a segment is rotated past this size ... */
#define HOLD_JOURNAL_SEGMENT_MS	   1000	      /* ... or this long after it was opened */
/* After a failed append, hold_journal__backoff() is true this long (as the files': 429 early) */
#define HOLD_JOURNAL_BACKOFF_NS (1000000000ull)

struct hold_journal_opts {
	const char *dir;	  /* DATA_DIR/held, created if missing (not its parents) */
	const char *collector_id; /* names the segments: <id>-<seq>.journal; files_check_id() */
	uint32_t writers;	  /* appending threads (one per ingest worker), at least 1 */
	/*
	 * How long a segment that holds heartbeats is kept once closed and
	 * settled: the heartbeats a record held at a crash may need (live:
	 * hold_journal__set_keep).
	 */
	int64_t keep_ms;
	uint64_t segment_bytes; /* 0: HOLD_JOURNAL_SEGMENT_BYTES */
	int64_t segment_ms;	/* 0: HOLD_JOURNAL_SEGMENT_MS */
};

/* Why an append failed, for the metrics. */
enum hold_journal_err {
	HOLD_JOURNAL_ERR_NOSPC,	 /* ENOSPC, EDQUOT, EFBIG */
	HOLD_JOURNAL_ERR_ROFS,	 /* EROFS */
	HOLD_JOURNAL_ERR_ACCESS, /* EACCES, EPERM */
	HOLD_JOURNAL_ERR_IO,	 /* EIO */
	HOLD_JOURNAL_ERR_OTHER,	 /* ENOMEM and the rest */
	HOLD_JOURNAL_ERR__COUNT,
};
const char *hold_journal_err_name(enum hold_journal_err e);

struct hold_journal_stats {
	uint64_t frames_held, frames_done; /* appended */
	uint64_t bytes;			   /* appended */
	uint64_t records_journaled;	   /* held records appended (and not taken back) */
	uint64_t records_settled;	   /* of those, written late (their tombstones) */
	uint64_t taken_back;		   /* frames of batches whose write failed */
	uint64_t append_errors[HOLD_JOURNAL_ERR__COUNT]; /* batches refused: nothing appended */
	uint64_t done_errors;	/* tombstones not appended: may be written twice after a crash */
	uint64_t commit_errors; /* frames left uncommitted: not replayed after a crash */
	uint64_t cut_errors;	/* a failed append or a take-back that could not be cut off */
	uint64_t unlink_errors; /* settled segments not removed (retried) */
	uint64_t segments, disk_bytes, outstanding; /* now */
	/* the start's replay */
	uint64_t replay_held;	     /* records handed back to be held */
	uint64_t replay_written;     /* records skipped: their tombstone says written */
	uint64_t replay_uncommitted; /* records skipped: their batch was never acknowledged */
	uint64_t replay_heartbeats;  /* frames whose heartbeat was applied again */
	uint64_t replay_segments;
	uint64_t replay_torn;	    /* segments whose last frame was cut short (cut off) */
	uint64_t replay_corrupt;    /* segments with a damaged frame (it and the rest set aside) */
	uint64_t replay_unreadable; /* segments that could not be read (left as they are) */
	uint64_t replay_cut_bytes;  /* bytes cut off or set aside */
};

struct hold_journal;
/* One appending thread's handle: only its owner appends through it. */
struct hold_journal_writer;

/*
 * Opens (creates) the directory and takes its lock for this collector id
 * (a second collector with the same id on the same data_dir is refused:
 * it would replay and remove the first's segments).  Nothing is read yet:
 * hold_journal__replay next.  NULL with errno set and one line in `why`.
 */
struct hold_journal *hold_journal__new(const struct hold_journal_opts *o, char *why, size_t len);
/*
 * Closes every segment; removes them all when nothing journaled is left
 * unsettled (a clean exit: nothing is held any more), else keeps them all
 * for the next start (logged).  NULL is fine.
 */
void hold_journal__free(struct hold_journal *j);

/*
 * What the replay hands back, once per committed frame that still has a
 * record not written, or a heartbeat: `b` (its records, the sender, and
 * the heartbeat when b->n_ips), the frame's arrival (Unix ms), and per
 * record its reference and whether it is still to be held (live[i]; false:
 * its tombstone says written).  0, or -errno to stop the replay.
 */
typedef int (*hold_journal_replay_fn)(void *ctx, struct wire_batch *b, int64_t arrived_ms,
				      const uint64_t *refs, const bool *live);

/*
 * Reads every segment of this collector id a previous run left, oldest
 * first: tombstones first, then every committed frame through `fn`.  A
 * last frame cut short is cut off; a damaged frame and what follows it are
 * moved to <segment>.corrupt; a segment that cannot be read is left as it
 * is; each counted and logged once.  The segments stay (their records are
 * outstanding again) until what they hold is settled.  Once, before any
 * append.  0, or -errno from `fn`, or from listing the directory (`why`).
 */
int hold_journal__replay(struct hold_journal *j, hold_journal_replay_fn fn, void *ctx, char *why,
			 size_t len);

/* Writer i (< opts.writers): ingest worker i's. */
struct hold_journal_writer *hold_journal__writer(struct hold_journal *j, uint32_t i);

/*
 * Appends one batch's frame: its records with keep[i] false (the held
 * copies, in order) and, when `heartbeat`, its heartbeat (span and IPs),
 * with the sender's identity; nothing when there is neither.  The frame
 * counts only once hold_journal__commit marks it (after the batch's write
 * succeeded); hold_journal__take_back removes it.  On w's owner's thread
 * only, one frame at a time.  *first_ref: the first held record's
 * reference (the next ones follow, +1 each).  0, or -errno with nothing of
 * the frame left to replay (-ENOSPC, -EROFS, -EIO, ... from the disk,
 * -ENOMEM).
 */
int hold_journal__append(struct hold_journal_writer *w, const struct wire_batch *b,
			 const bool *keep, bool heartbeat, uint64_t *first_ref);
/* w's append failed within HOLD_JOURNAL_BACKOFF_NS of now_ns (monotonic): answer 429 early. */
bool hold_journal__backoff(const struct hold_journal_writer *w, uint64_t now_ns);
/* The batch of the last append was written: its frame is replayed after a crash. */
void hold_journal__commit(struct hold_journal_writer *w);
/* The batch of the last append was not written: its frame is never replayed. */
void hold_journal__take_back(struct hold_journal_writer *w);

/*
 * The records with these references were written (by the late writer):
 * appends their tombstone, then settles them; and, every time (n may be
 * 0), closes segments open for segment_ms and removes those settled.
 * From one thread (the attributor's).
 */
void hold_journal__settled(struct hold_journal *j, const uint64_t *refs, uint32_t n);

void hold_journal__set_keep(struct hold_journal *j, int64_t keep_ms);
void hold_journal__stats(struct hold_journal *j, struct hold_journal_stats *out);
/* The podflow_collector_hold_journal_* families. */
void hold_journal__metrics(struct hold_journal *j, struct metrics_writer *w);

#endif /* PODFLOW_COLLECTOR_HOLD_JOURNAL_H */
