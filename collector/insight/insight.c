// SPDX-License-Identifier: BSD-2-Clause
/* The insight view: per-key aggregates in a ring of time buckets, and the JSON API on them. */
#define _GNU_SOURCE
#include "insight.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "duration.h"
#include "ip.h"
#include "jsonw.h"
#include "metrics.h"

/*
 * RTT histogram: bucket 0 is [0, 8] us, bucket k (1..40) ends at 8 * sqrt(2)^k
 * us (bucket 40: 8 * 2^20 us, about 8.4 s), bucket 41 is +Inf.
 */
#define RTT_FINITE  41
#define RTT_BUCKETS 42

#define NAME_MAX_LEN	253 /* a DNS-1123 subdomain: the longest Kubernetes name */
#define LIMIT_MAX	1000
#define NEW_DEFAULT_MS	(10ull * 60 * 1000)
#define OVERFLOW_NAME	"(overflow)"
#define UNKNOWN_NAME	"(unknown)"
#define OVERFLOW_KEY	0 /* keys[0]: never in the hash table, never freed */
#define SLOT_MIN_CAP	4
#define SOURCE_NAME_LEN 16

enum node_kind {
	NODE_APP,
	NODE_ADDRESS,
	NODE_OVERFLOW,
};

/* One key's figures in one bucket (and, summed, in the window). */
struct counts {
	uint64_t flows;
	uint64_t failed[4]; /* by class: INSIGHT_ERROR_REFUSED - 1 .. INSIGHT_ERROR_OTHER - 1 */
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint64_t segs_sent;
	uint64_t retransmits;
	uint64_t resets;
};

/* 256 bytes: the unit the view's memory grows by, one per (key, bucket) with records. */
struct slot {
	uint32_t key;
	uint32_t first_off; /* its first record, ms into the bucket */
	struct counts c;
	uint32_t rtt[RTT_BUCKETS]; /* connections, saturating */
};

/*
 * One ring position.  Its slots come in arrival order; `index` finds a key's
 * slot when the key's one-entry cache does not (records out of time order,
 * a rebuild): open addressing by key id, slot index + 1, 0 = empty, twice
 * the capacity so that probes stay short.
 */
struct bucket {
	struct slot *slots;
	uint32_t *index;
	uint32_t n;
	uint32_t cap; /* a power of two, or 0 */
};

struct key {
	uint64_t hash;
	uint64_t first_ms; /* of its records since it was created (it lives while it has any) */
	uint64_t last_ms;
	uint64_t cache_bucket; /* the bucket number of cache_slot, UINT64_MAX: none */
	uint32_t cache_slot;
	uint32_t next; /* hash chain or free list, UINT32_MAX: end */
	uint32_t live; /* its slots in the ring: the key is freed when this drops to 0 */
	uint16_t port; /* the server port */
	uint16_t lns_len;
	uint16_t rns_len;
	uint8_t dir; /* FLOW_DIRECTION_OUT or _IN */
	uint8_t lkind;
	uint8_t rkind;
	bool used;
	uint8_t addr[16]; /* the remote when rkind is NODE_ADDRESS */
	/* ids: "ns/app" ("app" without a namespace), rid the address's text; one allocation */
	char *lid;
	char *rid;
	char *account; /* the remote's, last seen; NULL: none */
	char *region;
	char *zone;
};

struct insight {
	pthread_mutex_t lock;
	uint64_t res_ms;
	uint32_t nb; /* buckets in the window */
	uint32_t max_edges;
	uint64_t head; /* the newest bucket number (now / res) */
	struct bucket *ring;

	struct key *keys; /* [0] is the overflow key */
	uint32_t keys_cap;
	uint32_t keys_top; /* keys[0..keys_top) have been handed out */
	uint32_t free_keys;
	uint32_t n_keys; /* live keys but the overflow one */
	uint32_t *heads;
	uint32_t hmask;

	uint64_t mem_strings;
	uint64_t mem_slots;

	uint64_t added, too_old, overflow, expired, dropped;
	uint32_t rtt_floor[RTT_FINITE]; /* the largest integer in the bucket: membership */
	uint32_t rtt_round[RTT_FINITE]; /* the bound rounded: what the API reports */

	char source[SOURCE_NAME_LEN];
	char rebuild[SOURCE_NAME_LEN];
	struct insight_source_stats src;
};

/* --- errors ------------------------------------------------------------------ */

const char *insight_error_name(enum insight_error e)
{
	switch (e) {
	case INSIGHT_ERROR_REFUSED:
		return "refused";
	case INSIGHT_ERROR_TIMEOUT:
		return "timeout";
	case INSIGHT_ERROR_RESET:
		return "reset";
	case INSIGHT_ERROR_OTHER:
		return "other";
	default:
		return "";
	}
}

enum insight_error insight_error_from_errno(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return INSIGHT_ERROR_NONE;
	case ECONNREFUSED:
		return INSIGHT_ERROR_REFUSED;
	case ETIMEDOUT:
	case EHOSTUNREACH:
	case ENETUNREACH:
		return INSIGHT_ERROR_TIMEOUT;
	case ECONNRESET:
	case ECONNABORTED:
	case EPIPE:
		return INSIGHT_ERROR_RESET;
	default:
		return INSIGHT_ERROR_OTHER;
	}
}

enum insight_error insight_error_from_name(const char *name)
{
	static const struct {
		const char *name;
		enum insight_error e;
	} names[] = {
		/* lib/flow.c's flow_err_name(), and the API's own class names */
		{ "ECONNREFUSED", INSIGHT_ERROR_REFUSED }, { "ETIMEDOUT", INSIGHT_ERROR_TIMEOUT },
		{ "EHOSTUNREACH", INSIGHT_ERROR_TIMEOUT }, { "ENETUNREACH", INSIGHT_ERROR_TIMEOUT },
		{ "ECONNRESET", INSIGHT_ERROR_RESET },	   { "ECONNABORTED", INSIGHT_ERROR_RESET },
		{ "EPIPE", INSIGHT_ERROR_RESET },	   { "refused", INSIGHT_ERROR_REFUSED },
		{ "timeout", INSIGHT_ERROR_TIMEOUT },	   { "reset", INSIGHT_ERROR_RESET },
	};

	if (!name || !*name)
		return INSIGHT_ERROR_NONE;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i].name) == 0)
			return names[i].e;
	return INSIGHT_ERROR_OTHER;
}

/* --- lifecycle ------------------------------------------------------------------ */

static uint32_t pow2_at_least(uint64_t n)
{
	uint32_t p = 16;

	while (p < n && p < (1u << 30))
		p <<= 1;
	return p;
}

static int key_alloc_overflow(struct insight *in)
{
	struct key *k = &in->keys[OVERFLOW_KEY];
	size_t n = sizeof(OVERFLOW_NAME);

	memset(k, 0, sizeof(*k));
	k->lid = malloc(2 * n);
	if (!k->lid)
		return -ENOMEM;
	memcpy(k->lid, OVERFLOW_NAME, n);
	k->rid = k->lid + n;
	memcpy(k->rid, OVERFLOW_NAME, n);
	in->mem_strings += 2 * n;
	k->used = true;
	k->dir = FLOW_DIRECTION_OUT;
	k->lkind = NODE_OVERFLOW;
	k->rkind = NODE_OVERFLOW;
	k->next = UINT32_MAX;
	k->cache_bucket = UINT64_MAX;
	k->first_ms = UINT64_MAX;
	in->keys_top = 1;
	return 0;
}

struct insight *insight__new(const struct insight_opts *o)
{
	struct insight_opts d = { 0 };
	struct insight *in;
	uint64_t window, res;
	int err;

	if (!o)
		o = &d;
	window = o->window_ms ? o->window_ms : INSIGHT_DEFAULT_WINDOW_MS;
	res = o->resolution_ms ? o->resolution_ms : INSIGHT_DEFAULT_RES_MS;
	/* a slot holds its first record's offset into the bucket in 32 bits */
	if (window % res || window / res == 0 || window / res > INSIGHT_MAX_BUCKETS ||
	    res > UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	in = calloc(1, sizeof(*in));
	if (!in) {
		errno = ENOMEM;
		return NULL;
	}
	err = pthread_mutex_init(&in->lock, NULL);
	if (err) {
		free(in);
		errno = err;
		return NULL;
	}
	in->res_ms = res;
	in->nb = (uint32_t)(window / res);
	in->max_edges = o->max_edges ? o->max_edges : INSIGHT_DEFAULT_MAX_EDGES;
	in->free_keys = UINT32_MAX;
	snprintf(in->source, sizeof(in->source), "output");
	snprintf(in->rebuild, sizeof(in->rebuild), "off");
	for (uint32_t k = 0; k < RTT_FINITE; k++) {
		double b = 8.0 * (double)(1ull << (k / 2));

		if (k % 2)
			b *= 1.41421356237309504880;
		in->rtt_floor[k] = (uint32_t)b;
		in->rtt_round[k] = (uint32_t)(b + 0.5);
	}
	in->ring = calloc(in->nb, sizeof(*in->ring));
	in->hmask = pow2_at_least(in->max_edges) - 1;
	in->heads = malloc(((size_t)in->hmask + 1) * sizeof(*in->heads));
	in->keys_cap = 64;
	in->keys = calloc(in->keys_cap, sizeof(*in->keys));
	if (!in->ring || !in->heads || !in->keys || key_alloc_overflow(in)) {
		insight__free(in);
		errno = ENOMEM;
		return NULL;
	}
	memset(in->heads, 0xff, ((size_t)in->hmask + 1) * sizeof(*in->heads));
	return in;
}

static void key_strings_free(struct insight *in, struct key *k)
{
	if (k->lid)
		in->mem_strings -= strlen(k->lid) + strlen(k->rid) + 2;
	free(k->lid);
	k->lid = k->rid = NULL;
	free(k->account);
	free(k->region);
	free(k->zone);
	k->account = k->region = k->zone = NULL;
}

void insight__free(struct insight *in)
{
	if (!in)
		return;
	for (uint32_t i = 0; in->keys && i < in->keys_top; i++)
		key_strings_free(in, &in->keys[i]);
	for (uint32_t i = 0; in->ring && i < in->nb; i++) {
		free(in->ring[i].slots);
		free(in->ring[i].index);
	}
	free(in->ring);
	free(in->keys);
	free(in->heads);
	pthread_mutex_destroy(&in->lock);
	free(in);
}

/* --- keys ------------------------------------------------------------------ */

static inline uint64_t mix(uint64_t h, uint64_t w)
{
	h ^= w;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

/* 8 bytes at a time: the names are short, and this runs once per record. */
static inline uint64_t hash_bytes(uint64_t h, const char *s, size_t n)
{
	uint64_t w, len = n;

	while (n >= 8) {
		memcpy(&w, s, 8);
		h = mix(h, w);
		s += 8;
		n -= 8;
	}
	w = 0;
	memcpy(&w, s, n);
	return mix(h, w ^ (len << 56));
}

/* One side of a key as the hot path sees it: a name and a namespace, or an address. */
struct side {
	const char *ns;
	const char *app;
	uint16_t ns_len;
	uint16_t app_len;
	uint8_t kind;
};

static uint64_t key_hash(const struct side *l, const struct side *r, const uint8_t *addr,
			 uint16_t port, uint8_t dir)
{
	uint64_t h = 0x243f6a8885a308d3ull, w;

	h = hash_bytes(h, l->ns, l->ns_len);
	h = hash_bytes(h, l->app, l->app_len);
	if (r->kind == NODE_ADDRESS) {
		memcpy(&w, addr, 8);
		h = mix(h, w);
		memcpy(&w, addr + 8, 8);
		h = mix(h, w);
	} else {
		h = hash_bytes(h, r->ns, r->ns_len);
		h = hash_bytes(h, r->app, r->app_len);
	}
	return mix(h, (uint64_t)port | (uint64_t)dir << 16 | (uint64_t)r->kind << 24);
}

/* Whether id ("ns/app", or "app" when ns is empty) names this side. */
static inline bool id_is(const char *id, uint16_t id_ns_len, const struct side *s)
{
	if (id_ns_len != s->ns_len)
		return false;
	if (s->ns_len) {
		if (strncmp(id, s->ns, s->ns_len) != 0 || id[s->ns_len] != '/')
			return false;
		id += s->ns_len + 1;
	}
	return strncmp(id, s->app, s->app_len) == 0 && id[s->app_len] == '\0';
}

static inline const char *id_app(const char *id, uint16_t ns_len)
{
	return ns_len ? id + ns_len + 1 : id;
}

static struct side key_side(const char *id, uint16_t ns_len, uint8_t kind)
{
	const char *app = id_app(id, ns_len);

	return (struct side){
		.ns = id,
		.ns_len = ns_len,
		.app = app,
		.app_len = (uint16_t)strlen(app),
		.kind = kind,
	};
}

static uint32_t key_find(const struct insight *in, uint64_t h, const struct side *l,
			 const struct side *r, const uint8_t *addr, uint16_t port, uint8_t dir)
{
	for (uint32_t id = in->heads[h & in->hmask]; id != UINT32_MAX; id = in->keys[id].next) {
		const struct key *k = &in->keys[id];

		if (k->hash != h || k->port != port || k->dir != dir || k->rkind != r->kind)
			continue;
		if (!id_is(k->lid, k->lns_len, l))
			continue;
		if (r->kind == NODE_ADDRESS ? memcmp(k->addr, addr, 16) == 0
					    : id_is(k->rid, k->rns_len, r))
			return id;
	}
	return UINT32_MAX;
}

static size_t id_format(char *buf, const struct side *s)
{
	size_t n = 0;

	if (s->ns_len) {
		memcpy(buf, s->ns, s->ns_len);
		buf[s->ns_len] = '/';
		n = s->ns_len + 1u;
	}
	memcpy(buf + n, s->app, s->app_len);
	n += s->app_len;
	buf[n] = '\0';
	return n + 1;
}

/* A new key, or UINT32_MAX at the cap or without memory (the caller folds into overflow). */
static uint32_t key_create(struct insight *in, uint64_t h, const struct side *l,
			   const struct side *r, const uint8_t *addr, uint16_t port, uint8_t dir)
{
	char abuf[64];
	size_t llen = (size_t)l->ns_len + l->app_len + 2, rlen;
	struct key *k;
	uint32_t id;
	char *s;

	if (in->n_keys >= in->max_edges)
		return UINT32_MAX;
	if (r->kind == NODE_ADDRESS) {
		ip_format(addr, abuf, sizeof(abuf));
		rlen = strlen(abuf) + 1;
	} else {
		rlen = (size_t)r->ns_len + r->app_len + 2;
	}
	if (in->free_keys == UINT32_MAX && in->keys_top == in->keys_cap) {
		uint32_t cap = in->keys_cap * 2;
		struct key *nk = realloc(in->keys, (size_t)cap * sizeof(*nk));

		if (!nk)
			return UINT32_MAX;
		memset(nk + in->keys_cap, 0, (size_t)(cap - in->keys_cap) * sizeof(*nk));
		in->keys = nk;
		in->keys_cap = cap;
	}
	s = malloc(llen + rlen);
	if (!s)
		return UINT32_MAX;
	if (in->free_keys != UINT32_MAX) {
		id = in->free_keys;
		in->free_keys = in->keys[id].next;
	} else {
		id = in->keys_top++;
	}
	k = &in->keys[id];
	memset(k, 0, sizeof(*k));
	k->lid = s;
	llen = id_format(k->lid, l);
	k->rid = s + llen;
	if (r->kind == NODE_ADDRESS) {
		memcpy(k->rid, abuf, rlen);
		memcpy(k->addr, addr, 16);
	} else {
		rlen = id_format(k->rid, r);
		k->rns_len = r->ns_len;
	}
	in->mem_strings += llen + rlen;
	k->lns_len = l->ns_len;
	k->hash = h;
	k->port = port;
	k->dir = dir;
	k->lkind = NODE_APP;
	k->rkind = r->kind;
	k->used = true;
	k->first_ms = UINT64_MAX;
	k->cache_bucket = UINT64_MAX;
	k->next = in->heads[h & in->hmask];
	in->heads[h & in->hmask] = id;
	in->n_keys++;
	return id;
}

/* A key whose last slot went: unlinked and freed (the overflow key only goes quiet). */
static void key_release(struct insight *in, uint32_t id, bool expired)
{
	struct key *k = &in->keys[id];
	uint32_t *p;

	if (id == OVERFLOW_KEY) {
		k->first_ms = UINT64_MAX;
		k->last_ms = 0;
		return;
	}
	for (p = &in->heads[k->hash & in->hmask]; *p != id; p = &in->keys[*p].next)
		;
	*p = k->next;
	key_strings_free(in, k);
	k->used = false;
	k->next = in->free_keys;
	in->free_keys = id;
	in->n_keys--;
	if (expired)
		in->expired++;
}

/* --- buckets ------------------------------------------------------------------ */

static inline uint32_t id_hash(uint32_t id)
{
	return id * 0x9e3779b1u;
}

static void index_put(struct bucket *b, uint32_t slot)
{
	uint32_t mask = 2 * b->cap - 1;
	uint32_t i = id_hash(b->slots[slot].key) & mask;

	while (b->index[i])
		i = (i + 1) & mask;
	b->index[i] = slot + 1;
}

/* Resizes to cap (a power of two >= b->n, or 0) and rebuilds the index. */
static int bucket_resize(struct insight *in, struct bucket *b, uint32_t cap)
{
	struct slot *ns = NULL;
	uint32_t *ni = NULL;

	if (cap) {
		/* the index first: a failure leaves the bucket as it was */
		ni = calloc(2 * (size_t)cap, sizeof(*ni));
		if (!ni)
			return -ENOMEM;
		ns = realloc(b->slots, (size_t)cap * sizeof(*ns));
		if (!ns) {
			free(ni);
			return -ENOMEM;
		}
		b->slots = ns;
	} else {
		free(b->slots);
		b->slots = NULL;
	}
	free(b->index);
	in->mem_slots -= (uint64_t)b->cap * (sizeof(struct slot) + 2 * sizeof(uint32_t));
	in->mem_slots += (uint64_t)cap * (sizeof(struct slot) + 2 * sizeof(uint32_t));
	b->index = ni;
	b->cap = cap;
	for (uint32_t i = 0; i < b->n; i++)
		index_put(b, i);
	return 0;
}

/* Empties a ring position for its next bucket number; keys left without slots expire. */
static void bucket_clear(struct insight *in, struct bucket *b)
{
	uint32_t used = b->n;

	for (uint32_t i = 0; i < b->n; i++) {
		struct key *k = &in->keys[b->slots[i].key];

		if (--k->live == 0)
			key_release(in, b->slots[i].key, true);
	}
	b->n = 0;
	/* memory follows activity: keep about what this position needed last time */
	if (used == 0 && b->cap)
		bucket_resize(in, b, 0);
	else if (!(b->cap > SLOT_MIN_CAP && b->cap > 4 * used &&
		   bucket_resize(in, b, pow2_at_least(used)) == 0) &&
		 b->index)
		memset(b->index, 0, 2 * (size_t)b->cap * sizeof(*b->index));
}

static void advance(struct insight *in, uint64_t now_ms)
{
	uint64_t head = now_ms / in->res_ms;

	/* the clock going back does not bring old buckets back */
	if (head <= in->head)
		return;
	if (head - in->head >= in->nb) {
		for (uint32_t p = 0; p < in->nb; p++)
			bucket_clear(in, &in->ring[p]);
	} else {
		for (uint64_t b = in->head + 1; b <= head; b++)
			bucket_clear(in, &in->ring[b % in->nb]);
	}
	in->head = head;
}

static uint64_t first_bucket(const struct insight *in)
{
	return in->head >= in->nb - 1 ? in->head - (in->nb - 1) : 0;
}

/* The slot of key id in bucket number bn (in the window), created if need be; NULL: no memory. */
static struct slot *slot_get(struct insight *in, uint32_t id, uint64_t bn)
{
	struct key *k = &in->keys[id];
	struct bucket *b = &in->ring[bn % in->nb];
	struct slot *s;
	uint32_t i;

	if (k->cache_bucket == bn)
		return &b->slots[k->cache_slot];
	if (b->cap) {
		uint32_t mask = 2 * b->cap - 1;

		for (i = id_hash(id) & mask; b->index[i]; i = (i + 1) & mask) {
			if (b->slots[b->index[i] - 1].key == id) {
				k->cache_bucket = bn;
				k->cache_slot = b->index[i] - 1;
				return &b->slots[k->cache_slot];
			}
		}
	}
	if (b->n == b->cap && bucket_resize(in, b, b->cap ? 2 * b->cap : SLOT_MIN_CAP) != 0)
		return NULL;
	i = b->n++;
	s = &b->slots[i];
	memset(s, 0, sizeof(*s));
	s->key = id;
	s->first_off = UINT32_MAX;
	index_put(b, i);
	k->live++;
	k->cache_bucket = bn;
	k->cache_slot = i;
	return s;
}

/* Does not use a cache or create: a query's look-up (UINT32_MAX: none). */
static const struct slot *slot_find(const struct insight *in, uint32_t id, uint64_t bn)
{
	const struct bucket *b = &in->ring[bn % in->nb];
	uint32_t mask, i;

	if (!b->cap)
		return NULL;
	mask = 2 * b->cap - 1;
	for (i = id_hash(id) & mask; b->index[i]; i = (i + 1) & mask)
		if (b->slots[b->index[i] - 1].key == id)
			return &b->slots[b->index[i] - 1];
	return NULL;
}

/* --- adding ------------------------------------------------------------------ */

/* One record, sides resolved: the common form of insight_flow and flow_record. */
struct rec {
	struct side l;
	struct side r;
	const uint8_t *addr;
	const struct flow_identity *remote;
	uint64_t end_ms;
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint64_t segs_sent;
	uint32_t flows;
	uint32_t closed;
	uint32_t failed;
	uint32_t retransmits;
	uint32_t resets;
	uint32_t srtt_us;
	uint16_t port;
	uint8_t dir;
	enum insight_error error;
};

static inline const char *node_name(const struct flow_identity *id)
{
	if (!id)
		return NULL;
	if (id->app && *id->app)
		return id->app;
	if (id->workload && *id->workload)
		return id->workload;
	if (id->pod && *id->pod)
		return id->pod;
	return NULL;
}

static inline uint16_t name_len(const char *s)
{
	/* longer than any Kubernetes name: cut (the key's strings are bounded) */
	return (uint16_t)strnlen(s, NAME_MAX_LEN);
}

static inline void rec_sides(struct rec *r, const struct flow_identity *l,
			     const struct flow_identity *rm, const uint8_t *addr)
{
	const char *n = node_name(l);

	/* a sidecar always knows its pod; a record without one still lands somewhere */
	r->l.app = n ? n : UNKNOWN_NAME;
	r->l.ns = l && l->namespace ? l->namespace : "";
	r->l.kind = NODE_APP;
	r->l.app_len = name_len(r->l.app);
	r->l.ns_len = name_len(r->l.ns);
	n = node_name(rm);
	if (n) {
		r->r.app = n;
		r->r.ns = rm->namespace ? rm->namespace : "";
		r->r.kind = NODE_APP;
		r->r.app_len = name_len(r->r.app);
		r->r.ns_len = name_len(r->r.ns);
	} else {
		r->r = (struct side){ .ns = "", .app = "", .kind = NODE_ADDRESS };
	}
	r->addr = addr;
	r->remote = rm;
}

static inline void sat_add32(uint32_t *v, uint64_t add)
{
	uint64_t s = (uint64_t)*v + add;

	*v = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

static inline uint32_t rtt_bucket(const struct insight *in, uint32_t us)
{
	uint32_t l, k;

	if (us <= 8)
		return 0;
	/* 2^l <= us < 2^(l+1): the bound 2^l is bucket 2(l-3), the next two straddle it */
	l = 31 - (uint32_t)__builtin_clz(us);
	k = 2 * (l - 3);
	if (us != (1u << l)) {
		k++;
		if (k >= RTT_FINITE || us > in->rtt_floor[k])
			k++;
	}
	return k >= RTT_FINITE ? RTT_FINITE : k;
}

/* Replaces *dst by src when src names something new (the last seen wins). */
static void remember(char **dst, const char *src)
{
	char *c;

	if (!src || !*src || (*dst && strcmp(*dst, src) == 0))
		return;
	c = strndup(src, NAME_MAX_LEN);
	if (!c)
		return;
	free(*dst);
	*dst = c;
}

static void add_rec(struct insight *in, struct rec *r, uint64_t now_ms)
{
	uint64_t bn = r->end_ms / in->res_ms, t = r->end_ms, h;
	uint32_t id;
	struct slot *s;
	struct key *k;
	bool fresh = false;

	if (bn > in->head) {
		/* ahead of now: as of now, in the newest bucket (never before its start) */
		bn = in->head;
		t = now_ms > t ? t : now_ms;
		if (t < bn * in->res_ms)
			t = bn * in->res_ms;
	}
	if (bn < first_bucket(in)) {
		in->too_old++;
		return;
	}
	h = key_hash(&r->l, &r->r, r->addr, r->port, r->dir);
	id = key_find(in, h, &r->l, &r->r, r->addr, r->port, r->dir);
	if (id == UINT32_MAX) {
		id = key_create(in, h, &r->l, &r->r, r->addr, r->port, r->dir);
		fresh = id != UINT32_MAX;
	}
	if (id == UINT32_MAX)
		id = OVERFLOW_KEY;
	s = slot_get(in, id, bn);
	k = &in->keys[id];
	if (!s) {
		if (fresh && k->live == 0)
			key_release(in, id, false);
		in->dropped++;
		return;
	}
	if (id == OVERFLOW_KEY)
		in->overflow++;
	else
		in->added++;
	/*
	 * Connections are counted where they end: a record's `flows` counts a
	 * connection again in every interval it stays open (docs/records.md),
	 * its `closed` once.  A connection open through the whole window shows
	 * in the bytes, not here.
	 */
	s->c.flows += r->closed;
	if (r->failed) {
		enum insight_error e = r->error;

		if (e <= INSIGHT_ERROR_NONE || e >= INSIGHT_ERROR__COUNT)
			e = INSIGHT_ERROR_OTHER;
		s->c.failed[e - 1] += r->failed;
	}
	s->c.bytes_sent += r->bytes_sent;
	s->c.bytes_received += r->bytes_received;
	s->c.segs_sent += r->segs_sent;
	s->c.retransmits += r->retransmits;
	s->c.resets += r->resets;
	/* weighted by the connections that were established: only they have an RTT */
	if (r->srtt_us && r->flows > r->failed)
		sat_add32(&s->rtt[rtt_bucket(in, r->srtt_us)], r->flows - r->failed);
	if (t < k->first_ms)
		k->first_ms = t;
	if (t - bn * in->res_ms < s->first_off)
		s->first_off = (uint32_t)(t - bn * in->res_ms);
	if (t > k->last_ms)
		k->last_ms = t;
	if (id != OVERFLOW_KEY && r->remote &&
	    ((r->remote->account && *r->remote->account) ||
	     (r->remote->region && *r->remote->region) || (r->remote->zone && *r->remote->zone))) {
		remember(&k->account, r->remote->account);
		remember(&k->region, r->remote->region);
		remember(&k->zone, r->remote->zone);
	}
}

void insight__add(struct insight *in, const struct insight_flow *f, size_t n, uint64_t now_ms)
{
	struct rec r;

	pthread_mutex_lock(&in->lock);
	advance(in, now_ms);
	for (size_t i = 0; i < n; i++) {
		rec_sides(&r, &f[i].local, &f[i].remote, f[i].remote_addr);
		r.end_ms = f[i].end_ms;
		r.bytes_sent = f[i].bytes_sent;
		r.bytes_received = f[i].bytes_received;
		r.segs_sent = f[i].segs_sent;
		r.flows = f[i].flows;
		r.closed = f[i].closed;
		r.failed = f[i].failed;
		r.retransmits = f[i].retransmits;
		r.resets = f[i].resets;
		r.srtt_us = f[i].srtt_us;
		r.dir =
		    f[i].direction == FLOW_DIRECTION_IN ? FLOW_DIRECTION_IN : FLOW_DIRECTION_OUT;
		/* the server port: the callee's, whichever side reported */
		r.port = r.dir == FLOW_DIRECTION_IN ? f[i].local_port : f[i].remote_port;
		r.error = f[i].error;
		add_rec(in, &r, now_ms);
	}
	pthread_mutex_unlock(&in->lock);
}

void insight__add_records(struct insight *in, const struct flow_record *fr, size_t n,
			  const bool *keep, uint64_t now_ms)
{
	struct rec r;

	pthread_mutex_lock(&in->lock);
	advance(in, now_ms);
	for (size_t i = 0; i < n; i++) {
		const struct flow_record *f = &fr[i];

		if (keep && !keep[i])
			continue;
		rec_sides(&r, f->local, f->remote, f->remote_addr);
		r.end_ms = f->end_ms;
		r.bytes_sent = f->bytes_sent;
		r.bytes_received = f->bytes_received;
		r.segs_sent = f->segs_sent;
		r.flows = f->flows;
		r.closed = f->closed;
		r.failed = f->failed;
		r.retransmits = f->retransmits;
		r.resets = f->resets;
		r.srtt_us = f->srtt_us;
		r.dir = f->direction == FLOW_DIRECTION_IN ? FLOW_DIRECTION_IN : FLOW_DIRECTION_OUT;
		r.port = r.dir == FLOW_DIRECTION_IN ? f->local_port : f->remote_port;
		r.error = f->failed ? insight_error_from_errno(f->err) : INSIGHT_ERROR_NONE;
		add_rec(in, &r, now_ms);
	}
	pthread_mutex_unlock(&in->lock);
}

void insight__set_source_stats(struct insight *in, const struct insight_source_stats *s)
{
	pthread_mutex_lock(&in->lock);
	in->src = *s;
	snprintf(in->source, sizeof(in->source), "%s", s->source ? s->source : "");
	snprintf(in->rebuild, sizeof(in->rebuild), "%s", s->rebuild ? s->rebuild : "");
	in->src.source = NULL;
	in->src.rebuild = NULL;
	pthread_mutex_unlock(&in->lock);
}

static uint64_t memory_bytes(const struct insight *in)
{
	return sizeof(*in) + (uint64_t)in->nb * sizeof(struct bucket) +
	       (uint64_t)in->keys_cap * sizeof(struct key) +
	       ((uint64_t)in->hmask + 1) * sizeof(uint32_t) + in->mem_strings + in->mem_slots;
}

void insight__metrics(struct insight *in, struct metrics_writer *mw)
{
	uint64_t added, too_old, overflow, expired, edges, mem;
	struct insight_source_stats s;

	pthread_mutex_lock(&in->lock);
	added = in->added;
	too_old = in->too_old;
	overflow = in->overflow;
	expired = in->expired;
	edges = in->n_keys + (in->keys[OVERFLOW_KEY].live ? 1 : 0);
	mem = memory_bytes(in);
	s = in->src;
	pthread_mutex_unlock(&in->lock);

	metrics_writer__family(mw, "podflow_collector_insight_records_total", METRIC_COUNTER,
			       "Records offered to the insight view, by outcome (overflow: "
			       "folded into the overflow edge past insight.max_edges).");
	metrics_writer__u64(mw, METRIC_LABELS("outcome", "added"), added);
	metrics_writer__u64(mw, METRIC_LABELS("outcome", "too_old"), too_old);
	metrics_writer__u64(mw, METRIC_LABELS("outcome", "overflow"), overflow);
	metrics_writer__gauge(mw, "podflow_collector_insight_edges",
			      "Keys (app pair, port, direction) the insight view holds.", edges);
	metrics_writer__gauge(mw, "podflow_collector_insight_edges_max",
			      "insight.max_edges: keys past it fold into the overflow edge.",
			      in->max_edges);
	metrics_writer__gauge(mw, "podflow_collector_insight_memory_bytes",
			      "Memory the insight view holds for its keys and time buckets.", mem);
	metrics_writer__counter(mw, "podflow_collector_insight_expired_edges_total",
				"Keys freed because no record of theirs was left in the window.",
				expired);
	metrics_writer__counter(mw, "podflow_collector_insight_rebuilt_records_total",
				"Records read back into the insight view at start.", s.rebuilt);
	metrics_writer__counter(mw, "podflow_collector_insight_rebuild_files_total",
				"Files read back into the insight view at start.", s.rebuild_files);
	metrics_writer__counter(mw, "podflow_collector_insight_rebuild_errors_total",
				"Unreadable files and lines met while rebuilding the insight view.",
				s.rebuild_errors);
	metrics_writer__counter(mw, "podflow_collector_insight_consumed_messages_total",
				"Kafka messages the insight view's consumer took.", s.consumed);
	metrics_writer__counter(mw, "podflow_collector_insight_bad_messages_total",
				"Kafka messages the insight view's consumer could not read.",
				s.bad_messages);
}

/* --- queries ------------------------------------------------------------------ */

/* A key's figures over the window. */
struct agg {
	struct counts c;
	uint64_t rtt[RTT_BUCKETS];
	uint64_t first_bn; /* its oldest bucket with records */
	uint64_t first_ms; /* its first record in the window */
	uint64_t samples;
};

/* The ends of an edge: a key seen from the caller (OUT) or the callee (IN). */
struct end {
	const char *id;
	uint16_t ns_len;
	uint8_t kind;
};

struct q {
	struct insight *in;
	insight_arg_fn arg;
	void *ctx;
	struct jsonw *jw;
	uint64_t now;
	uint64_t first_bn;
	uint64_t start_ms;
	uint64_t end_ms;
	struct agg *agg; /* by key id */
	uint32_t *edges; /* key ids: the view each edge reports */
	uint32_t n_edges;
	uint64_t new_since; /* the `new` reference */
	int by;		    /* for sorting */
};

static struct end edge_from(const struct key *k)
{
	if (k->dir == FLOW_DIRECTION_OUT)
		return (struct end){ k->lid, k->lns_len, k->lkind };
	return (struct end){ k->rid, k->rns_len, k->rkind };
}

static struct end edge_to(const struct key *k)
{
	if (k->dir == FLOW_DIRECTION_OUT)
		return (struct end){ k->rid, k->rns_len, k->rkind };
	return (struct end){ k->lid, k->lns_len, k->lkind };
}

static const char *kind_name(uint8_t kind)
{
	return kind == NODE_ADDRESS ? "address" : kind == NODE_OVERFLOW ? "overflow" : "app";
}

static bool cross_ns(const struct key *k)
{
	struct end f = edge_from(k), t = edge_to(k);

	/* an address or the overflow edge has no namespace to cross into */
	if (f.kind != NODE_APP || t.kind != NODE_APP)
		return false;
	return f.ns_len != t.ns_len || strncmp(f.id, t.id, f.ns_len) != 0;
}

static bool in_ns(const struct end *e, const char *ns)
{
	return e->kind == NODE_APP && e->ns_len && strlen(ns) == e->ns_len &&
	       strncmp(e->id, ns, e->ns_len) == 0;
}

/* An app parameter: an id "ns/app", or a bare name (that app in any namespace, or an address). */
static bool end_matches(const struct end *e, const char *name)
{
	if (strchr(name, '/') || e->kind != NODE_APP)
		return strcmp(e->id, name) == 0;
	return strcmp(id_app(e->id, e->ns_len), name) == 0;
}

static uint64_t bn_of_pos(const struct q *q, uint32_t p)
{
	uint32_t nb = q->in->nb;

	return q->first_bn + (p + nb - (uint32_t)(q->first_bn % nb)) % nb;
}

/* Sums every key's slots (q->agg by key id) and picks the view of each edge (q->edges). */
static int gather(struct q *q)
{
	struct insight *in = q->in;

	q->agg = calloc(in->keys_top, sizeof(*q->agg));
	q->edges = malloc((size_t)in->keys_top * sizeof(*q->edges));
	if (!q->agg || !q->edges)
		return -ENOMEM;
	for (uint32_t i = 0; i < in->keys_top; i++)
		q->agg[i].first_bn = UINT64_MAX;
	for (uint32_t p = 0; p < in->nb; p++) {
		const struct bucket *b = &in->ring[p];
		uint64_t bn = bn_of_pos(q, p);

		for (uint32_t i = 0; i < b->n; i++) {
			const struct slot *s = &b->slots[i];
			struct agg *a = &q->agg[s->key];

			a->c.flows += s->c.flows;
			for (int e = 0; e < 4; e++)
				a->c.failed[e] += s->c.failed[e];
			a->c.bytes_sent += s->c.bytes_sent;
			a->c.bytes_received += s->c.bytes_received;
			a->c.segs_sent += s->c.segs_sent;
			a->c.retransmits += s->c.retransmits;
			a->c.resets += s->c.resets;
			for (int r = 0; r < RTT_BUCKETS; r++) {
				a->rtt[r] += s->rtt[r];
				a->samples += s->rtt[r];
			}
			if (bn < a->first_bn) {
				a->first_bn = bn;
				a->first_ms = bn * in->res_ms + s->first_off;
			}
		}
	}
	q->n_edges = 0;
	for (uint32_t id = 0; id < in->keys_top; id++) {
		const struct key *k = &in->keys[id];

		if (!k->used || !k->live)
			continue;
		/* the callee's view only where the caller did not report the edge */
		if (k->dir == FLOW_DIRECTION_IN && k->rkind == NODE_APP) {
			struct side l = key_side(k->rid, k->rns_len, NODE_APP);
			struct side r = key_side(k->lid, k->lns_len, NODE_APP);
			uint64_t h = key_hash(&l, &r, NULL, k->port, FLOW_DIRECTION_OUT);
			uint32_t twin = key_find(in, h, &l, &r, NULL, k->port, FLOW_DIRECTION_OUT);

			if (twin != UINT32_MAX && in->keys[twin].live)
				continue;
		}
		q->edges[q->n_edges++] = id;
	}
	return 0;
}

static uint64_t failed_sum(const struct counts *c)
{
	return c->failed[0] + c->failed[1] + c->failed[2] + c->failed[3];
}

/* The bucket holding percentile pm (per mille) of a histogram; -1 for none. */
static int pct_bucket(const uint64_t *h, uint64_t total, unsigned int pm)
{
	uint64_t rank, cum = 0;

	if (!total)
		return -1;
	rank = (total * pm + 999) / 1000;
	if (!rank)
		rank = 1;
	for (int b = 0; b < RTT_BUCKETS; b++) {
		cum += h[b];
		if (cum >= rank)
			return b;
	}
	return RTT_BUCKETS - 1;
}

static void kv_pct(struct q *q, const char *key, const uint64_t *h, uint64_t total, unsigned int pm)
{
	int b = pct_bucket(h, total, pm);

	if (b < 0 || b >= RTT_FINITE)
		jsonw__kv_null(q->jw, key);
	else
		jsonw__kv_u64(q->jw, key, q->in->rtt_round[b]);
}

static void rtt_json(struct q *q, const uint64_t *h, uint64_t total)
{
	jsonw__kv_obj_begin(q->jw, "rtt_us");
	kv_pct(q, "p50", h, total, 500);
	kv_pct(q, "p90", h, total, 900);
	kv_pct(q, "p99", h, total, 990);
	jsonw__kv_u64(q->jw, "samples", total);
	jsonw__obj_end(q->jw);
}

static void failures_json(struct jsonw *jw, const struct counts *c)
{
	jsonw__kv_obj_begin(jw, "failures");
	for (int e = 0; e < 4; e++)
		jsonw__kv_u64(jw, insight_error_name((enum insight_error)(e + 1)), c->failed[e]);
	jsonw__obj_end(jw);
}

static void end_json(struct jsonw *jw, const char *pfx, const struct end *e)
{
	char k[32];

	jsonw__kv_str(jw, pfx, e->id);
	snprintf(k, sizeof(k), "%s_namespace", pfx);
	jsonw__kv_strn(jw, k, e->id, e->kind == NODE_APP ? e->ns_len : 0);
	snprintf(k, sizeof(k), "%s_app", pfx);
	jsonw__kv_str(jw, k, e->kind == NODE_APP ? id_app(e->id, e->ns_len) : e->id);
}

/* The caller's bytes: a callee's record has them the other way round. */
static uint64_t edge_sent(const struct key *k, const struct agg *a)
{
	return k->dir == FLOW_DIRECTION_OUT ? a->c.bytes_sent : a->c.bytes_received;
}

static uint64_t edge_received(const struct key *k, const struct agg *a)
{
	return k->dir == FLOW_DIRECTION_OUT ? a->c.bytes_received : a->c.bytes_sent;
}

static uint64_t edge_first_ms(const struct agg *a)
{
	return a->first_ms;
}

/*
 * k->first_ms is its first record since the key was made, which may have
 * left the window: a key that lived on through it is not new.
 */
static bool edge_new(const struct q *q, const struct key *k, const struct agg *a)
{
	return k->first_ms >= q->new_since && a->first_bn > q->first_bn;
}

static void edge_json(struct q *q, uint32_t id)
{
	const struct key *k = &q->in->keys[id];
	const struct agg *a = &q->agg[id];
	struct end f = edge_from(k), t = edge_to(k);
	struct jsonw *jw = q->jw;
	uint64_t failed = failed_sum(&a->c);
	bool caller = k->dir == FLOW_DIRECTION_OUT;

	jsonw__arr_obj_begin(jw);
	end_json(jw, "from", &f);
	end_json(jw, "to", &t);
	jsonw__kv_str(jw, "to_kind", kind_name(t.kind));
	jsonw__kv_u64(jw, "port", k->port);
	jsonw__kv_str(jw, "reported_by", caller ? "caller" : "callee");
	jsonw__kv_bool(jw, "cross_namespace", cross_ns(k));
	/* the key's remote is the callee only in the caller's view */
	jsonw__kv_str(jw, "to_account", caller ? k->account : NULL);
	jsonw__kv_str(jw, "to_region", caller ? k->region : NULL);
	jsonw__kv_str(jw, "to_zone", caller ? k->zone : NULL);
	jsonw__kv_u64(jw, "first_seen_ms", edge_first_ms(a));
	jsonw__kv_u64(jw, "last_seen_ms", k->last_ms);
	jsonw__kv_bool(jw, "new", edge_new(q, k, a));
	jsonw__kv_u64(jw, "flows", a->c.flows);
	jsonw__kv_u64(jw, "failed", failed);
	failures_json(jw, &a->c);
	jsonw__kv_u64(jw, "bytes_sent", edge_sent(k, a));
	jsonw__kv_u64(jw, "bytes_received", edge_received(k, a));
	jsonw__kv_u64(jw, "segs_sent", a->c.segs_sent);
	jsonw__kv_u64(jw, "retransmits", a->c.retransmits);
	jsonw__kv_u64(jw, "resets", a->c.resets);
	jsonw__kv_f64(jw, "failure_ratio", a->c.flows ? (double)failed / (double)a->c.flows : 0);
	jsonw__kv_f64(jw, "retransmit_ratio",
		      a->c.segs_sent ? (double)a->c.retransmits / (double)a->c.segs_sent : 0);
	rtt_json(q, a->rtt, a->samples);
	jsonw__obj_end(jw);
}

/* --- sorting ------------------------------------------------------------------ */

enum by {
	BY_BYTES,
	BY_FLOWS,
	BY_FAILURES,
	BY_RETRANSMITS,
	BY_RESETS,
	BY_RTT,
	BY_FIRST_SEEN, /* new-edges: newest first */
	BY__COUNT,
};

static const char *const by_names[] = {
	"bytes", "flows", "failures", "retransmits", "resets", "rtt"
};

static uint64_t measure(const struct q *q, uint32_t id, int by)
{
	const struct agg *a = &q->agg[id];

	switch (by) {
	case BY_BYTES:
		return a->c.bytes_sent + a->c.bytes_received;
	case BY_FLOWS:
		return a->c.flows;
	case BY_FAILURES:
		return failed_sum(&a->c);
	case BY_RETRANSMITS:
		return a->c.retransmits;
	case BY_RESETS:
		return a->c.resets;
	case BY_RTT:
		/* the bucket + 1 of p90: 0 for no samples, +Inf largest */
		return (uint64_t)(pct_bucket(a->rtt, a->samples, 900) + 1);
	default:
		return edge_first_ms(a);
	}
}

/* Largest first; then by from, to, port, so that every answer has one order. */
static int cmp_edges(const void *pa, const void *pb, void *ctx)
{
	const struct q *q = ctx;
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	uint64_t ma = measure(q, a, q->by), mb = measure(q, b, q->by);
	const struct key *ka = &q->in->keys[a], *kb = &q->in->keys[b];
	int c;

	if (ma != mb)
		return ma > mb ? -1 : 1;
	c = strcmp(edge_from(ka).id, edge_from(kb).id);
	if (c)
		return c;
	c = strcmp(edge_to(ka).id, edge_to(kb).id);
	if (c)
		return c;
	if (ka->port != kb->port)
		return ka->port < kb->port ? -1 : 1;
	return ka->dir - kb->dir;
}

static void sort_edges(struct q *q, uint32_t *ids, uint32_t n, int by)
{
	q->by = by;
	qsort_r(ids, n, sizeof(*ids), cmp_edges, q);
}

/* --- parameters ------------------------------------------------------------------ */

static int bad(struct q *q, const char *why)
{
	jsonw__reset(q->jw);
	jsonw__str(q->jw, why);
	return 400;
}

static int parse_limit(struct q *q, uint32_t dflt, uint32_t *out)
{
	const char *s = q->arg(q->ctx, "limit");
	unsigned long long v;
	char *end;

	*out = dflt;
	if (!s)
		return 0;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < 1 || v > LIMIT_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* Unix ms, or a duration back from now; clamped to the window.  *out stays as is when absent. */
static int parse_since(struct q *q, uint64_t *out)
{
	const char *s = q->arg(q->ctx, "since");
	uint64_t v;

	if (!s)
		return 0;
	if (*s >= '0' && *s <= '9' && s[strspn(s, "0123456789")] == '\0') {
		unsigned long long ms;

		errno = 0;
		ms = strtoull(s, NULL, 10);
		if (errno)
			return -EINVAL;
		v = ms;
	} else {
		uint64_t ns;

		if (duration_parse(s, &ns))
			return -EINVAL;
		ns /= DURATION_NS_PER_MS;
		v = q->now > ns ? q->now - ns : 0;
	}
	if (v < q->start_ms)
		v = q->start_ms;
	if (v > q->end_ms)
		v = q->end_ms;
	*out = v;
	return 0;
}

/* A name parameter: NULL when absent (and allowed), 1 to 253 bytes. */
static int parse_name(struct q *q, const char *name, bool required, const char **out)
{
	const char *s = q->arg(q->ctx, name);

	*out = s;
	if (!s)
		return required ? -ENOENT : 0;
	if (!*s || strnlen(s, NAME_MAX_LEN + 1) > NAME_MAX_LEN)
		return -EINVAL;
	return 0;
}

static int bad_name(struct q *q, const char *name, int err)
{
	char why[160];

	if (err == -ENOENT)
		snprintf(why, sizeof(why),
			 "%s: required (an app id namespace/app, an app name or an address)", name);
	else
		snprintf(why, sizeof(why), "%s: expected 1 to 253 bytes", name);
	return bad(q, why);
}

#define BAD_LIMIT "limit: expected an integer from 1 to 1000"
#define BAD_SINCE "since: expected Unix milliseconds or a duration such as 15m, 90s or 1h"

static void window_json(struct q *q)
{
	jsonw__kv_obj_begin(q->jw, "window");
	jsonw__kv_u64(q->jw, "start_ms", q->start_ms);
	jsonw__kv_u64(q->jw, "end_ms", q->end_ms);
	jsonw__kv_u64(q->jw, "resolution_ms", q->in->res_ms);
	jsonw__obj_end(q->jw);
}

/* The edges ids[0..n) up to limit, as "key": [...], then "truncated" and "total". */
static void edge_list_json(struct q *q, const char *key, const uint32_t *ids, uint32_t n,
			   uint32_t limit)
{
	jsonw__kv_arr_begin(q->jw, key);
	for (uint32_t i = 0; i < n && i < limit; i++)
		edge_json(q, ids[i]);
	jsonw__arr_end(q->jw);
}

static void trunc_json(struct q *q, const char *pfx, uint32_t n, uint32_t limit)
{
	char k[48];

	snprintf(k, sizeof(k), "%struncated", pfx);
	jsonw__kv_bool(q->jw, k, n > limit);
	snprintf(k, sizeof(k), "%stotal", pfx);
	jsonw__kv_u64(q->jw, k, n);
}

/* --- endpoints ------------------------------------------------------------------ */

static int api_status(struct q *q)
{
	struct insight *in = q->in;
	struct jsonw *jw = q->jw;

	jsonw__obj_begin(jw);
	window_json(q);
	jsonw__kv_str(jw, "source", in->source);
	jsonw__kv_str(jw, "rebuild", in->rebuild);
	jsonw__kv_u64(jw, "rebuilt", in->src.rebuilt);
	jsonw__kv_u64(jw, "rebuild_files", in->src.rebuild_files);
	jsonw__kv_u64(jw, "rebuild_errors", in->src.rebuild_errors);
	jsonw__kv_u64(jw, "consumed", in->src.consumed);
	jsonw__kv_u64(jw, "bad_messages", in->src.bad_messages);
	jsonw__kv_u64(jw, "records", in->added);
	jsonw__kv_u64(jw, "too_old", in->too_old);
	jsonw__kv_u64(jw, "overflow", in->overflow);
	jsonw__kv_u64(jw, "expired", in->expired);
	jsonw__kv_u64(jw, "dropped", in->dropped);
	jsonw__kv_u64(jw, "edges", in->n_keys + (in->keys[OVERFLOW_KEY].live ? 1 : 0));
	jsonw__kv_u64(jw, "max_edges", in->max_edges);
	jsonw__kv_u64(jw, "memory_bytes", memory_bytes(in));
	jsonw__obj_end(jw);
	return 200;
}

/* One end of an edge as /apps sees it: the node, its role, the node at the other end. */
struct role {
	uint32_t id; /* the edge's key */
	bool out;    /* the node is the caller */
	struct end node;
	struct end other;
};

static int cmp_roles(const void *pa, const void *pb)
{
	const struct role *a = pa, *b = pb;
	int c = strcmp(a->node.id, b->node.id);

	if (c)
		return c;
	if (a->out != b->out)
		return a->out ? -1 : 1;
	return strcmp(a->other.id, b->other.id);
}

static int api_apps(struct q *q)
{
	struct jsonw *jw = q->jw;
	struct role *roles;
	uint32_t limit, n = 0, total = 0, i, j;

	if (parse_limit(q, 100, &limit))
		return bad(q, BAD_LIMIT);
	if (gather(q))
		return -ENOMEM;
	roles = malloc(2 * (size_t)q->n_edges * sizeof(*roles) + 1);
	if (!roles)
		return -ENOMEM;
	for (i = 0; i < q->n_edges; i++) {
		const struct key *k = &q->in->keys[q->edges[i]];

		roles[n++] = (struct role){ q->edges[i], true, edge_from(k), edge_to(k) };
		roles[n++] = (struct role){ q->edges[i], false, edge_to(k), edge_from(k) };
	}
	qsort(roles, n, sizeof(*roles), cmp_roles);
	jsonw__obj_begin(jw);
	window_json(q);
	jsonw__kv_arr_begin(jw, "apps");
	for (i = 0; i < n; i = j) {
		uint64_t calls[2] = { 0 }, bytes[2] = { 0 }, failed[2] = { 0 }; /* [1]: as caller */
		uint64_t callees = 0, callers = 0;

		for (j = i; j < n && strcmp(roles[j].node.id, roles[i].node.id) == 0; j++) {
			const struct role *r = &roles[j];
			const struct key *k = &q->in->keys[r->id];
			const struct agg *a = &q->agg[r->id];
			bool first_other = j == i || roles[j - 1].out != r->out ||
					   strcmp(roles[j - 1].other.id, r->other.id) != 0;

			calls[r->out] += a->c.flows;
			bytes[r->out] += edge_sent(k, a) + edge_received(k, a);
			failed[r->out] += failed_sum(&a->c);
			if (first_other)
				*(r->out ? &callees : &callers) += 1;
		}
		if (total++ >= limit)
			continue;
		jsonw__arr_obj_begin(jw);
		jsonw__kv_str(jw, "id", roles[i].node.id);
		jsonw__kv_strn(jw, "namespace", roles[i].node.id,
			       roles[i].node.kind == NODE_APP ? roles[i].node.ns_len : 0);
		jsonw__kv_str(jw, "app",
			      roles[i].node.kind == NODE_APP
				  ? id_app(roles[i].node.id, roles[i].node.ns_len)
				  : roles[i].node.id);
		jsonw__kv_str(jw, "kind", kind_name(roles[i].node.kind));
		jsonw__kv_u64(jw, "calls_out", calls[1]);
		jsonw__kv_u64(jw, "calls_in", calls[0]);
		jsonw__kv_u64(jw, "callees", callees);
		jsonw__kv_u64(jw, "callers", callers);
		jsonw__kv_u64(jw, "bytes_out", bytes[1]);
		jsonw__kv_u64(jw, "bytes_in", bytes[0]);
		jsonw__kv_u64(jw, "failed_out", failed[1]);
		jsonw__kv_u64(jw, "failed_in", failed[0]);
		jsonw__obj_end(jw);
	}
	jsonw__arr_end(jw);
	trunc_json(q, "", total, limit);
	jsonw__obj_end(jw);
	free(roles);
	return 200;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int api_dependencies(struct q *q)
{
	struct jsonw *jw = q->jw;
	uint32_t limit, nd = 0, nu = 0, *down, *up, nm = 0;
	const char *app, **matched;
	int err;

	err = parse_name(q, "app", true, &app);
	if (err)
		return bad_name(q, "app", err);
	if (parse_limit(q, 100, &limit))
		return bad(q, BAD_LIMIT);
	q->new_since = q->now > NEW_DEFAULT_MS ? q->now - NEW_DEFAULT_MS : 0;
	if (q->new_since < q->start_ms)
		q->new_since = q->start_ms;
	if (parse_since(q, &q->new_since))
		return bad(q, BAD_SINCE);
	if (gather(q))
		return -ENOMEM;
	down = malloc(2 * (size_t)q->n_edges * sizeof(*down) + 1);
	matched = malloc(2 * (size_t)q->n_edges * sizeof(*matched) + 1);
	if (!down || !matched) {
		free(down);
		free(matched);
		return -ENOMEM;
	}
	up = down + q->n_edges;
	for (uint32_t i = 0; i < q->n_edges; i++) {
		const struct key *k = &q->in->keys[q->edges[i]];
		struct end f = edge_from(k), t = edge_to(k);

		if (end_matches(&f, app)) {
			down[nd++] = q->edges[i];
			matched[nm++] = f.id;
		}
		if (end_matches(&t, app)) {
			up[nu++] = q->edges[i];
			matched[nm++] = t.id;
		}
	}
	sort_edges(q, down, nd, BY_BYTES);
	sort_edges(q, up, nu, BY_BYTES);
	qsort(matched, nm, sizeof(*matched), cmp_str);
	jsonw__obj_begin(jw);
	window_json(q);
	jsonw__kv_str(jw, "app", app);
	jsonw__kv_arr_begin(jw, "matched");
	for (uint32_t i = 0; i < nm; i++)
		if (i == 0 || strcmp(matched[i], matched[i - 1]) != 0)
			jsonw__arr_str(jw, matched[i]);
	jsonw__arr_end(jw);
	edge_list_json(q, "downstream", down, nd, limit);
	edge_list_json(q, "upstream", up, nu, limit);
	jsonw__kv_bool(jw, "truncated", nd > limit || nu > limit);
	jsonw__kv_u64(jw, "downstream_total", nd);
	jsonw__kv_u64(jw, "upstream_total", nu);
	jsonw__obj_end(jw);
	free(down);
	free(matched);
	return 200;
}

static int api_edges(struct q *q, bool top, bool fresh)
{
	struct jsonw *jw = q->jw;
	const char *ns = NULL, *cross = NULL, *bys = NULL;
	uint64_t since = 0;
	bool has_since;
	uint32_t limit, n = 0;
	int by = BY_BYTES, err;

	if (!top && !fresh) {
		err = parse_name(q, "namespace", false, &ns);
		if (err)
			return bad_name(q, "namespace", err);
		cross = q->arg(q->ctx, "cross_namespace");
		if (cross && strcmp(cross, "true") != 0 && strcmp(cross, "false") != 0)
			return bad(q, "cross_namespace: expected true or false");
	}
	if (top) {
		bys = q->arg(q->ctx, "by");
		if (bys) {
			for (by = 0; by < BY_FIRST_SEEN && strcmp(bys, by_names[by]) != 0; by++)
				;
			if (by == BY_FIRST_SEEN)
				return bad(q, "by: expected one of bytes, flows, failures, "
					      "retransmits, resets, rtt");
		}
	}
	if (parse_limit(q, top ? 10 : 100, &limit))
		return bad(q, BAD_LIMIT);
	q->new_since = q->now > NEW_DEFAULT_MS ? q->now - NEW_DEFAULT_MS : 0;
	if (q->new_since < q->start_ms)
		q->new_since = q->start_ms;
	has_since = q->arg(q->ctx, "since") != NULL;
	if (parse_since(q, &q->new_since))
		return bad(q, BAD_SINCE);
	since = q->new_since;
	if (gather(q))
		return -ENOMEM;
	for (uint32_t i = 0; i < q->n_edges; i++) {
		uint32_t id = q->edges[i];
		const struct key *k = &q->in->keys[id];
		struct end f = edge_from(k), t = edge_to(k);

		if (ns && !in_ns(&f, ns) && !in_ns(&t, ns))
			continue;
		if (cross && cross_ns(k) != (strcmp(cross, "true") == 0))
			continue;
		if (!fresh && has_since && k->last_ms < since)
			continue;
		if (top && measure(q, id, by) == 0)
			continue;
		if (fresh && !edge_new(q, k, &q->agg[id]))
			continue;
		q->edges[n++] = id;
	}
	sort_edges(q, q->edges, n, fresh ? BY_FIRST_SEEN : by);
	jsonw__obj_begin(jw);
	window_json(q);
	if (top)
		jsonw__kv_str(jw, "by", by_names[by]);
	if (fresh || has_since)
		jsonw__kv_u64(jw, "since_ms", since);
	edge_list_json(q, "edges", q->edges, n, limit);
	trunc_json(q, "", n, limit);
	jsonw__obj_end(jw);
	return 200;
}

/* One bucket of a path: its counts and RTT histogram, summed over the path's edges. */
struct pbucket {
	struct counts c;
	uint64_t sent;
	uint64_t received;
	uint64_t rtt[RTT_BUCKETS];
	uint64_t samples;
	bool has;
};

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static void kv_ms_or_null(struct jsonw *jw, const char *key, bool known, uint64_t v)
{
	if (known)
		jsonw__kv_u64(jw, key, v);
	else
		jsonw__kv_null(jw, key);
}

static int api_path(struct q *q)
{
	struct insight *in = q->in;
	struct jsonw *jw = q->jw;
	const char *from, *to, *status;
	struct pbucket *pb;
	struct counts tot = { 0 };
	uint64_t rtt[RTT_BUCKETS] = { 0 }, samples = 0, first = UINT64_MAX, last = 0;
	uint64_t last_success = 0, failing_since = 0;
	uint32_t n = 0, np = 0, last_b = UINT32_MAX;
	uint16_t *ports;
	bool has_success = false;
	int err;

	err = parse_name(q, "from", true, &from);
	if (err)
		return bad_name(q, "from", err);
	err = parse_name(q, "to", true, &to);
	if (err)
		return bad_name(q, "to", err);
	if (gather(q))
		return -ENOMEM;
	pb = calloc(in->nb, sizeof(*pb));
	ports = malloc((size_t)q->n_edges * sizeof(*ports) + 1);
	if (!pb || !ports) {
		free(pb);
		free(ports);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < q->n_edges; i++) {
		uint32_t id = q->edges[i];
		const struct key *k = &in->keys[id];
		const struct agg *a = &q->agg[id];
		struct end f = edge_from(k), t = edge_to(k);

		if (!end_matches(&f, from) || !end_matches(&t, to))
			continue;
		q->edges[n++] = id;
		ports[np++] = k->port;
		if (edge_first_ms(a) < first)
			first = edge_first_ms(a);
		if (k->last_ms > last)
			last = k->last_ms;
		for (uint32_t b = 0; b < in->nb; b++) {
			const struct slot *s = slot_find(in, id, q->first_bn + b);

			if (!s)
				continue;
			pb[b].has = true;
			pb[b].c.flows += s->c.flows;
			for (int e = 0; e < 4; e++)
				pb[b].c.failed[e] += s->c.failed[e];
			pb[b].sent +=
			    k->dir == FLOW_DIRECTION_OUT ? s->c.bytes_sent : s->c.bytes_received;
			pb[b].received +=
			    k->dir == FLOW_DIRECTION_OUT ? s->c.bytes_received : s->c.bytes_sent;
			pb[b].c.retransmits += s->c.retransmits;
			pb[b].c.resets += s->c.resets;
			for (int r = 0; r < RTT_BUCKETS; r++) {
				pb[b].rtt[r] += s->rtt[r];
				pb[b].samples += s->rtt[r];
			}
		}
	}
	qsort(ports, np, sizeof(*ports), cmp_u16);
	for (uint32_t b = 0; b < in->nb; b++) {
		uint64_t failed = failed_sum(&pb[b].c);

		if (!pb[b].has)
			continue;
		last_b = b;
		tot.flows += pb[b].c.flows;
		for (int e = 0; e < 4; e++)
			tot.failed[e] += pb[b].c.failed[e];
		for (int r = 0; r < RTT_BUCKETS; r++)
			rtt[r] += pb[b].rtt[r];
		samples += pb[b].samples;
		if (pb[b].c.flows > failed) {
			has_success = true;
			last_success = (q->first_bn + b + 1) * in->res_ms;
		}
	}
	if (last_b == UINT32_MAX) {
		status = "never_seen";
	} else {
		uint64_t failed = failed_sum(&pb[last_b].c);

		if (failed == 0)
			status = "ok";
		else if (failed >= pb[last_b].c.flows)
			status = "failing";
		else
			status = "degraded";
		/* back from the last bucket with records, over those where every connect failed */
		for (uint32_t b = last_b + 1; b-- > 0;) {
			if (!pb[b].has)
				continue;
			if (failed_sum(&pb[b].c) == 0 || failed_sum(&pb[b].c) < pb[b].c.flows)
				break;
			failing_since = (q->first_bn + b) * in->res_ms;
		}
	}
	jsonw__obj_begin(jw);
	window_json(q);
	jsonw__kv_str(jw, "from", from);
	jsonw__kv_str(jw, "to", to);
	jsonw__kv_bool(jw, "seen", last_b != UINT32_MAX);
	jsonw__kv_str(jw, "status", status);
	kv_ms_or_null(jw, "first_seen_ms", n > 0, first);
	kv_ms_or_null(jw, "last_seen_ms", n > 0, last);
	kv_ms_or_null(jw, "last_success_ms", has_success, last_success);
	kv_ms_or_null(jw, "failing_since_ms", strcmp(status, "failing") == 0, failing_since);
	jsonw__kv_u64(jw, "flows", tot.flows);
	jsonw__kv_u64(jw, "failed", failed_sum(&tot));
	if (tot.flows)
		jsonw__kv_f64(
		    jw, "success_ratio",
		    (double)(tot.flows > failed_sum(&tot) ? tot.flows - failed_sum(&tot) : 0) /
			(double)tot.flows);
	else
		jsonw__kv_null(jw, "success_ratio");
	failures_json(jw, &tot);
	rtt_json(q, rtt, samples);
	jsonw__kv_arr_begin(jw, "ports");
	for (uint32_t i = 0; i < np; i++)
		if (i == 0 || ports[i] != ports[i - 1])
			jsonw__arr_u64(jw, ports[i]);
	jsonw__arr_end(jw);
	jsonw__kv_arr_begin(jw, "series");
	for (uint32_t b = 0; b < in->nb; b++) {
		const struct pbucket *p = &pb[b];

		jsonw__arr_obj_begin(jw);
		jsonw__kv_u64(jw, "t", (q->first_bn + b) * in->res_ms);
		jsonw__kv_u64(jw, "flows", p->c.flows);
		jsonw__kv_u64(jw, "failed", failed_sum(&p->c));
		for (int e = 0; e < 4; e++)
			jsonw__kv_u64(jw, insight_error_name((enum insight_error)(e + 1)),
				      p->c.failed[e]);
		jsonw__kv_u64(jw, "bytes_sent", p->sent);
		jsonw__kv_u64(jw, "bytes_received", p->received);
		jsonw__kv_u64(jw, "retransmits", p->c.retransmits);
		jsonw__kv_u64(jw, "resets", p->c.resets);
		kv_pct(q, "rtt_p50_us", p->rtt, p->samples, 500);
		jsonw__obj_end(jw);
	}
	jsonw__arr_end(jw);
	jsonw__obj_end(jw);
	free(pb);
	free(ports);
	return 200;
}

int insight__query(struct insight *in, const char *path, insight_arg_fn arg, void *ctx,
		   struct jsonw *jw, uint64_t now_ms)
{
	struct q q = { .in = in, .arg = arg, .ctx = ctx, .jw = jw, .now = now_ms };
	int status;

	pthread_mutex_lock(&in->lock);
	advance(in, now_ms);
	q.first_bn = first_bucket(in);
	q.start_ms = q.first_bn * in->res_ms;
	q.end_ms = (in->head + 1) * in->res_ms;
	if (strcmp(path, "/api/v1/status") == 0)
		status = api_status(&q);
	else if (strcmp(path, "/api/v1/apps") == 0)
		status = api_apps(&q);
	else if (strcmp(path, "/api/v1/dependencies") == 0)
		status = api_dependencies(&q);
	else if (strcmp(path, "/api/v1/edges") == 0)
		status = api_edges(&q, false, false);
	else if (strcmp(path, "/api/v1/top") == 0)
		status = api_edges(&q, true, false);
	else if (strcmp(path, "/api/v1/new-edges") == 0)
		status = api_edges(&q, false, true);
	else if (strcmp(path, "/api/v1/path") == 0)
		status = api_path(&q);
	else
		status = 404;
	pthread_mutex_unlock(&in->lock);
	free(q.agg);
	free(q.edges);
	if (status < 0) {
		/* out of memory for the answer: the listener answers 500 for a failed writer */
		jsonw__reset(jw);
		jsonw__str(jw, "insight: out of memory");
		return 503;
	}
	return status;
}

static const char *admin_lookup(void *ctx, const char *name)
{
	return admin_arg(ctx, name);
}

int insight__api(struct insight *in, const char *path, const struct admin_args *args,
		 struct jsonw *jw, uint64_t now_ms)
{
	/* admin_arg() only reads args: the cast drops const for the callback's void * */
	return insight__query(in, path, admin_lookup, (void *)(uintptr_t)args, jw, now_ms);
}
