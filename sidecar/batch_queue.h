/* SPDX-License-Identifier: BSD-2-Clause */
/* Bounded FIFO of encoded batches waiting for the collector, shared by two threads. */
#ifndef PODFLOW_BATCH_QUEUE_H
#define PODFLOW_BATCH_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* One encoded, compressed batch.  The queue owns `body`. */
struct batch {
	void *body;
	size_t len;
	uint32_t records;
	uint32_t attempts;	/* failed sends so far */
	uint64_t not_before_ns; /* CLOCK_MONOTONIC: no retry before this */
	uint64_t seq;
	/*
	 * The loss counts this batch's header reports.  If the batch itself is
	 * lost, they are handed back so that the next header reports them.
	 */
	uint64_t carried[WIRE_DROP__COUNT];
	struct batch *next;
};

struct batch_queue;

/*
 * `max_bytes` bounds the bodies held (queued and in flight).  Pushing past
 * it drops the oldest batches that are not in flight: the sender never
 * blocks, and what is dropped is counted for the next batch's header.
 */
struct batch_queue *batch_queue__new(size_t max_bytes);
/* Frees every batch still held. */
void batch_queue__free(struct batch_queue *q);

/*
 * Takes ownership of `b` (body included) and appends it.  Returns the
 * number of records dropped to make room (0 usually).  A batch larger than
 * max_bytes on its own is dropped itself and its records returned.
 */
uint32_t batch_queue__push(struct batch_queue *q, struct batch *b);

/*
 * The oldest batch that is not in flight and whose not_before has passed
 * (at `now_ns`), marked in flight; NULL if none.  *wait_ns, when not NULL,
 * gets how long until the next one becomes due (UINT64_MAX: none queued).
 */
struct batch *batch_queue__take(struct batch_queue *q, uint64_t now_ns, uint64_t *wait_ns);
/* A batch taken and delivered (or given up on): removed and freed. */
void batch_queue__done(struct batch_queue *q, struct batch *b);
/* A batch taken and not delivered: back in the queue, due at b->not_before_ns. */
void batch_queue__retry(struct batch_queue *q, struct batch *b);

/*
 * Every batch never tried yet is due at once (its send was only held back
 * by the send spread): at shutdown.  Retries keep their backoff.
 */
void batch_queue__release_held(struct batch_queue *q);

/* A new bound for later pushes (what is held now stays until sent or pushed out). */
void batch_queue__set_max(struct batch_queue *q, size_t max_bytes);
size_t batch_queue__bytes(const struct batch_queue *q);
uint32_t batch_queue__count(const struct batch_queue *q);
/*
 * Records dropped by push since the last call, and (added into `carried`)
 * the loss counts the dropped batches were carrying; both reset to 0.
 */
uint64_t batch_queue__take_dropped(struct batch_queue *q, uint64_t carried[WIRE_DROP__COUNT]);

/*
 * Exponential backoff with full jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"): uniform in [base/2, min(cap, base * 2^attempt)],
 * never below base/2.  `rnd` is a uniform 64-bit random value.
 */
uint64_t backoff_ns(uint32_t attempt, uint64_t base_ns, uint64_t cap_ns, uint64_t rnd);

/*
 * Retry-After (RFC 9110 section 10.2.3): delay-seconds, or an HTTP-date
 * compared with `now_unix`.  Returns the delay in seconds, capped at
 * `cap_s`, or -1 when the value is absent or unparsable.
 */
int64_t retry_after_seconds(const char *value, int64_t now_unix, int64_t cap_s);

#endif /* PODFLOW_BATCH_QUEUE_H */
