// SPDX-License-Identifier: BSD-2-Clause
/* Connections held per peer address, across every worker: the per-peer connection cap. */
#define _GNU_SOURCE
#include "peers.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#define MIN_BUCKETS 64

struct peer {
	struct peer *next;
	uint8_t key[16];
	uint32_t held;
};

struct peers {
	pthread_mutex_t lock;
	struct peer **buckets;
	size_t n_buckets; /* a power of two */
	size_t n;	  /* peers holding a connection */
	uint32_t max;	  /* relaxed atomic: set live by the main thread */
	uint64_t seed;	  /* random: chains an attacker cannot choose (IPv6 gives many addresses) */
};

static size_t slot(const struct peers *p, const uint8_t key[16])
{
	uint64_t a, b, h;

	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	/* a multiply-xorshift mix of both halves with the seed (splitmix64's constants) */
	h = (a ^ p->seed) * 0xbf58476d1ce4e5b9ull;
	h ^= h >> 31;
	h = (h ^ b) * 0x94d049bb133111ebull;
	h ^= h >> 29;
	return (size_t)h & (p->n_buckets - 1);
}

struct peers *peers__new(uint32_t max)
{
	struct peers *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->n_buckets = MIN_BUCKETS;
	p->buckets = calloc(p->n_buckets, sizeof(*p->buckets));
	if (!p->buckets) {
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	if (getrandom(&p->seed, sizeof(p->seed), GRND_NONBLOCK) != sizeof(p->seed))
		p->seed = (uint64_t)(uintptr_t)p ^ 0x9e3779b97f4a7c15ull;
	p->max = max;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

void peers__free(struct peers *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_buckets; i++) {
		while (p->buckets[i]) {
			struct peer *e = p->buckets[i];

			p->buckets[i] = e->next;
			free(e);
		}
	}
	free(p->buckets);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void peers__set_max(struct peers *p, uint32_t max)
{
	__atomic_store_n(&p->max, max, __ATOMIC_RELAXED);
}

/* The entry of `key` and the link that points at it; NULL when absent.  Locked. */
static struct peer **find(struct peers *p, const uint8_t key[16])
{
	struct peer **at = &p->buckets[slot(p, key)];

	while (*at && memcmp((*at)->key, key, 16) != 0)
		at = &(*at)->next;
	return *at ? at : NULL;
}

/* Twice the buckets once there are more peers than buckets; a failure only lengthens chains. */
static void grow(struct peers *p)
{
	size_t old_n = p->n_buckets;
	struct peer **old = p->buckets, **nb = calloc(old_n * 2, sizeof(*nb));

	if (!nb)
		return;
	p->buckets = nb;
	p->n_buckets = old_n * 2;
	for (size_t i = 0; i < old_n; i++) {
		while (old[i]) {
			struct peer *e = old[i];
			size_t s = slot(p, e->key);

			old[i] = e->next;
			e->next = nb[s];
			nb[s] = e;
		}
	}
	free(old);
}

int peers__acquire(struct peers *p, const uint8_t key[16])
{
	uint32_t max = __atomic_load_n(&p->max, __ATOMIC_RELAXED);
	struct peer **at, *e;
	int err = 0;

	pthread_mutex_lock(&p->lock);
	at = find(p, key);
	if (at) {
		if (max && (*at)->held >= max)
			err = -EUSERS;
		else
			(*at)->held++;
		goto out;
	}
	/* a first connection is within any cap (max >= 1 or none) */
	e = malloc(sizeof(*e));
	if (!e) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(e->key, key, 16);
	e->held = 1;
	if (p->n >= p->n_buckets)
		grow(p);
	at = &p->buckets[slot(p, key)];
	e->next = *at;
	*at = e;
	p->n++;
out:
	pthread_mutex_unlock(&p->lock);
	return err;
}

void peers__release(struct peers *p, const uint8_t key[16])
{
	struct peer **at, *e;

	pthread_mutex_lock(&p->lock);
	at = find(p, key);
	if (at && --(*at)->held == 0) {
		e = *at;
		*at = e->next;
		free(e);
		p->n--;
	}
	pthread_mutex_unlock(&p->lock);
}

uint32_t peers__held(struct peers *p, const uint8_t key[16])
{
	struct peer **at;
	uint32_t n;

	pthread_mutex_lock(&p->lock);
	at = find(p, key);
	n = at ? (*at)->held : 0;
	pthread_mutex_unlock(&p->lock);
	return n;
}

size_t peers__count(struct peers *p)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->n;
	pthread_mutex_unlock(&p->lock);
	return n;
}
