// SPDX-License-Identifier: BSD-2-Clause
/* Bounded FIFO of encoded batches waiting for the collector, shared by two threads. */
#define _GNU_SOURCE
#include "batch_queue.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct batch_queue {
	pthread_mutex_t lock;
	size_t max_bytes;
	size_t bytes;
	uint32_t count;
	struct batch *head; /* oldest */
	struct batch *tail;
	uint64_t dropped; /* records */
	uint64_t carried[WIRE_DROP__COUNT];
	/* in-flight flags kept beside the list, keyed by pointer */
	struct batch **in_flight;
	uint32_t n_in_flight;
	uint32_t cap_in_flight;
};

struct batch_queue *batch_queue__new(size_t max_bytes)
{
	struct batch_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	if (pthread_mutex_init(&q->lock, NULL)) {
		free(q);
		errno = ENOMEM;
		return NULL;
	}
	q->max_bytes = max_bytes;
	return q;
}

/* A batch is lost: its records and the counts it carried go to the next header. */
static void lost(struct batch_queue *q, const struct batch *b)
{
	q->dropped += b->records;
	for (int i = 0; i < WIRE_DROP__COUNT; i++)
		q->carried[i] += b->carried[i];
}

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	free(b->body);
	free(b);
}

void batch_queue__free(struct batch_queue *q)
{
	if (!q)
		return;
	for (struct batch *b = q->head, *n; b; b = n) {
		n = b->next;
		batch_free(b);
	}
	free(q->in_flight);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

static bool is_in_flight(const struct batch_queue *q, const struct batch *b)
{
	for (uint32_t i = 0; i < q->n_in_flight; i++)
		if (q->in_flight[i] == b)
			return true;
	return false;
}

static void unlink_batch(struct batch_queue *q, struct batch *b)
{
	struct batch **pp = &q->head, *prev = NULL;

	while (*pp && *pp != b) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = b->next;
	if (q->tail == b)
		q->tail = prev;
	b->next = NULL;
	q->bytes -= b->len;
	q->count--;
}

void batch_queue__release_held(struct batch_queue *q)
{
	pthread_mutex_lock(&q->lock);
	for (struct batch *b = q->head; b; b = b->next)
		if (!b->attempts)
			b->not_before_ns = 0;
	pthread_mutex_unlock(&q->lock);
}

uint32_t batch_queue__push(struct batch_queue *q, struct batch *b)
{
	uint32_t dropped = 0;

	pthread_mutex_lock(&q->lock);
	if (b->len > q->max_bytes) {
		dropped = b->records;
		lost(q, b);
		pthread_mutex_unlock(&q->lock);
		batch_free(b);
		return dropped;
	}
	/* make room: oldest first, never a batch a sender is using right now */
	for (struct batch *o = q->head, *n; o && q->bytes + b->len > q->max_bytes; o = n) {
		n = o->next;
		if (is_in_flight(q, o))
			continue;
		unlink_batch(q, o);
		dropped += o->records;
		lost(q, o);
		batch_free(o);
	}
	if (q->bytes + b->len > q->max_bytes) {
		/* everything left is in flight: the new batch is what gets dropped */
		dropped += b->records;
		lost(q, b);
		pthread_mutex_unlock(&q->lock);
		batch_free(b);
		return dropped;
	}
	b->next = NULL;
	if (q->tail)
		q->tail->next = b;
	else
		q->head = b;
	q->tail = b;
	q->bytes += b->len;
	q->count++;
	pthread_mutex_unlock(&q->lock);
	return dropped;
}

struct batch *batch_queue__take(struct batch_queue *q, uint64_t now_ns, uint64_t *wait_ns)
{
	struct batch *found = NULL;
	uint64_t wait = UINT64_MAX;

	pthread_mutex_lock(&q->lock);
	for (struct batch *b = q->head; b; b = b->next) {
		if (is_in_flight(q, b))
			continue;
		if (b->not_before_ns <= now_ns) {
			found = b;
			break;
		}
		if (b->not_before_ns - now_ns < wait)
			wait = b->not_before_ns - now_ns;
	}
	if (found) {
		if (q->n_in_flight == q->cap_in_flight) {
			uint32_t cap = q->cap_in_flight ? q->cap_in_flight * 2 : 16;
			struct batch **n = realloc(q->in_flight, cap * sizeof(*n));

			if (!n) {
				pthread_mutex_unlock(&q->lock);
				if (wait_ns)
					*wait_ns = 0;
				return NULL; /* try again later: nothing is lost */
			}
			q->in_flight = n;
			q->cap_in_flight = cap;
		}
		q->in_flight[q->n_in_flight++] = found;
		wait = 0;
	}
	pthread_mutex_unlock(&q->lock);
	if (wait_ns)
		*wait_ns = wait;
	return found;
}

static void clear_in_flight(struct batch_queue *q, const struct batch *b)
{
	for (uint32_t i = 0; i < q->n_in_flight; i++) {
		if (q->in_flight[i] == b) {
			q->in_flight[i] = q->in_flight[--q->n_in_flight];
			return;
		}
	}
}

void batch_queue__done(struct batch_queue *q, struct batch *b)
{
	pthread_mutex_lock(&q->lock);
	clear_in_flight(q, b);
	unlink_batch(q, b);
	pthread_mutex_unlock(&q->lock);
	batch_free(b);
}

void batch_queue__retry(struct batch_queue *q, struct batch *b)
{
	pthread_mutex_lock(&q->lock);
	clear_in_flight(q, b);
	pthread_mutex_unlock(&q->lock);
}

void batch_queue__set_max(struct batch_queue *q, size_t max_bytes)
{
	pthread_mutex_lock(&q->lock);
	q->max_bytes = max_bytes;
	pthread_mutex_unlock(&q->lock);
}

size_t batch_queue__bytes(const struct batch_queue *q)
{
	size_t n;

	pthread_mutex_lock((pthread_mutex_t *)&q->lock);
	n = q->bytes;
	pthread_mutex_unlock((pthread_mutex_t *)&q->lock);
	return n;
}

uint32_t batch_queue__count(const struct batch_queue *q)
{
	uint32_t n;

	pthread_mutex_lock((pthread_mutex_t *)&q->lock);
	n = q->count;
	pthread_mutex_unlock((pthread_mutex_t *)&q->lock);
	return n;
}

uint64_t batch_queue__take_dropped(struct batch_queue *q, uint64_t carried[WIRE_DROP__COUNT])
{
	uint64_t n;

	pthread_mutex_lock(&q->lock);
	n = q->dropped;
	q->dropped = 0;
	for (int i = 0; i < WIRE_DROP__COUNT; i++) {
		carried[i] += q->carried[i];
		q->carried[i] = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return n;
}

uint64_t backoff_ns(uint32_t attempt, uint64_t base_ns, uint64_t cap_ns, uint64_t rnd)
{
	uint64_t hi = base_ns, lo = base_ns / 2;

	for (uint32_t i = 0; i < attempt && hi < cap_ns; i++)
		hi = hi > cap_ns / 2 ? cap_ns : hi * 2;
	if (hi > cap_ns)
		hi = cap_ns;
	if (hi <= lo)
		return lo;
	return lo + rnd % (hi - lo + 1);
}

int64_t retry_after_seconds(const char *value, int64_t now_unix, int64_t cap_s)
{
	struct tm tm;
	const char *end;
	char *num_end;
	long long v;

	if (!value)
		return -1;
	while (isspace((unsigned char)*value))
		value++;
	if (isdigit((unsigned char)*value)) {
		errno = 0;
		v = strtoll(value, &num_end, 10);
		while (isspace((unsigned char)*num_end))
			num_end++;
		if (errno || *num_end)
			return errno == ERANGE ? cap_s : -1;
		return v > cap_s ? cap_s : v;
	}
	/* IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" */
	memset(&tm, 0, sizeof(tm));
	end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return -1;
	v = (long long)timegm(&tm) - now_unix;
	if (v < 0)
		return 0;
	return v > cap_s ? cap_s : v;
}
