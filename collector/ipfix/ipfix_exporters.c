// SPDX-License-Identifier: BSD-2-Clause
/* Per-exporter IPFIX counters for labelled metrics, bounded as the decoder bounds its exporters. */
#include "ipfix_exporters.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

/* Entries are indices into one preallocated array: a bucket chain and the recency list. */
struct node {
	struct ipfix_exporter_entry e;
	uint32_t chain;	     /* next in the bucket */
	uint32_t prev, next; /* recency: prev more recent */
};

struct ipfix_exporters {
	pthread_mutex_t lock;
	struct node *nodes;
	uint32_t *buckets; /* head of each chain */
	uint32_t mask;	   /* buckets - 1, a power of two at least twice max */
	uint32_t max, n;
	uint32_t head, tail; /* most and least recently seen */
};

struct ipfix_exporters *ipfix_exporters__new(uint32_t max)
{
	struct ipfix_exporters *t;
	uint32_t nb = 2;

	if (!max || max > (1u << 30)) {
		errno = EINVAL;
		return NULL;
	}
	while (nb < 2 * max)
		nb <<= 1;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->nodes = calloc(max, sizeof(*t->nodes));
	t->buckets = malloc(nb * sizeof(*t->buckets));
	if (!t->nodes || !t->buckets) {
		ipfix_exporters__free(t);
		errno = ENOMEM;
		return NULL;
	}
	memset(t->buckets, 0xff, nb * sizeof(*t->buckets)); /* NONE */
	t->mask = nb - 1;
	t->max = max;
	t->head = t->tail = NONE;
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void ipfix_exporters__free(struct ipfix_exporters *t)
{
	if (!t)
		return;
	if (t->buckets)
		pthread_mutex_destroy(&t->lock);
	free(t->nodes);
	free(t->buckets);
	free(t);
}

/* FNV-1a of the key's bytes that matter (no padding). */
static uint32_t hash(const struct ipfix_exporter_key *k)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint8_t b[22];

	memcpy(b, k->addr, 16);
	b[16] = (uint8_t)(k->port >> 8);
	b[17] = (uint8_t)k->port;
	for (int i = 0; i < 4; i++)
		b[18 + i] = (uint8_t)(k->domain >> (24 - 8 * i));
	for (size_t i = 0; i < sizeof(b); i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return (uint32_t)(h ^ (h >> 32));
}

static bool same(const struct ipfix_exporter_key *a, const struct ipfix_exporter_key *b)
{
	return a->port == b->port && a->domain == b->domain && !memcmp(a->addr, b->addr, 16);
}

static void unlink_recent(struct ipfix_exporters *t, uint32_t i)
{
	struct node *x = &t->nodes[i];

	if (x->prev != NONE)
		t->nodes[x->prev].next = x->next;
	else
		t->head = x->next;
	if (x->next != NONE)
		t->nodes[x->next].prev = x->prev;
	else
		t->tail = x->prev;
}

static void push_recent(struct ipfix_exporters *t, uint32_t i)
{
	struct node *x = &t->nodes[i];

	x->prev = NONE;
	x->next = t->head;
	if (t->head != NONE)
		t->nodes[t->head].prev = i;
	t->head = i;
	if (t->tail == NONE)
		t->tail = i;
}

static void unlink_chain(struct ipfix_exporters *t, uint32_t i)
{
	uint32_t *p = &t->buckets[hash(&t->nodes[i].e.key) & t->mask];

	while (*p != i)
		p = &t->nodes[*p].chain;
	*p = t->nodes[i].chain;
}

void ipfix_exporters__seen(struct ipfix_exporters *t, const struct ipfix_exporter_key *k,
			   const struct ipfix_exporter_counts *add)
{
	uint32_t b = hash(k) & t->mask, i;
	struct node *x;

	pthread_mutex_lock(&t->lock);
	for (i = t->buckets[b]; i != NONE && !same(&t->nodes[i].e.key, k); i = t->nodes[i].chain)
		;
	if (i != NONE) {
		if (t->head != i) {
			unlink_recent(t, i);
			push_recent(t, i);
		}
	} else {
		if (t->n < t->max) {
			i = t->n++;
		} else {
			/* the least recently seen makes room, as in the decoder */
			i = t->tail;
			unlink_recent(t, i);
			unlink_chain(t, i);
		}
		x = &t->nodes[i];
		memset(&x->e, 0, sizeof(x->e));
		memcpy(x->e.key.addr, k->addr, 16);
		x->e.key.port = k->port;
		x->e.key.domain = k->domain;
		x->chain = t->buckets[b];
		t->buckets[b] = i;
		push_recent(t, i);
	}
	x = &t->nodes[i];
	x->e.counts.sequence_gaps += add->sequence_gaps;
	x->e.counts.missed_records += add->missed_records;
	x->e.counts.unknown_sets += add->unknown_sets;
	pthread_mutex_unlock(&t->lock);
}

uint32_t ipfix_exporters__count(struct ipfix_exporters *t)
{
	uint32_t n;

	pthread_mutex_lock(&t->lock);
	n = t->n;
	pthread_mutex_unlock(&t->lock);
	return n;
}

uint32_t ipfix_exporters__snapshot(struct ipfix_exporters *t, struct ipfix_exporter_entry *out,
				   uint32_t cap)
{
	uint32_t n = 0;

	pthread_mutex_lock(&t->lock);
	for (uint32_t i = t->head; i != NONE && n < cap; i = t->nodes[i].next)
		out[n++] = t->nodes[i].e;
	pthread_mutex_unlock(&t->lock);
	return n;
}
