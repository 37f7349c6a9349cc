// SPDX-License-Identifier: BSD-2-Clause
/* IP ownership history (ownership.h): per-IP ranges by source behind one hash table. */
#include "ownership.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * Layout, chosen for own_lookup (the collector's per-record hot path):
 *
 *   slots[]  open addressing, linear probing, load <= 0.7, backward-shift
 *            deletion (no tombstones, so probe runs never rot).  A slot is
 *            the 16-byte key and a pointer to the address's record.
 *   ip_rec   one allocation per address: a 32-byte header of counts, then
 *            the spans of every source (source order), then the events of
 *            every source.  A lookup touches the slot and this one block.
 *   ident    interned identities (chained hash of the 8 strings),
 *            refcounted by the spans and events that name them.
 *
 * Spans of one (address, source) are kept canonical: sorted, disjoint, and
 * no two touching pieces with the same identity (a conflict region is a
 * piece with identity NULL).  A point is a conflict when spans of two
 * identities cover it, so the canonical form depends only on the set of
 * spans received, not on their order.
 *
 * Events of one (address, source) are kept sorted by (t, kind, identity):
 * at equal t an UNASSIGN sorts before an ASSIGN (an owner leaving and the
 * next arriving in the same millisecond is a handover, not a zero-length
 * tenancy), and equal kinds sort by identity content (hash, then strings),
 * so the order never depends on arrival.  What each ASSIGN implies (its end,
 * whether a later event closes it, who holds the address after each event)
 * is derived again over the whole list after every change: lists are short,
 * and a lookup is then a binary search plus one index, whatever the order
 * evidence arrived in.
 */

/* The store keeps its sources in slots 0..N_SRC-1, in trust order. */
#define N_SRC	  (FLOW_SOURCE__COUNT - FLOW_SOURCE_HEARTBEAT)
#define SLOT_HB	  0
#define SLOT(s)	  ((int)(s)-FLOW_SOURCE_HEARTBEAT)
#define SOURCE(i) ((enum flow_source)((i) + FLOW_SOURCE_HEARTBEAT))

#define OWN_DEFAULT_MAX_RANGES 4194304
#define OWN_TABLE_MIN	       16 /* slots, a power of two */
#define OWN_IDENT_FIELDS       8
/*
 * Eviction frees max_ranges / 64 more than the overflow at once: finding
 * the earliest-ended ranges is a few passes over the whole store, so this
 * runs once per max_ranges / 64 insertions, not on each one.
 */
#define OWN_EVICT_SLACK_DIV 64
#define OWN_RADIX_BITS	    11 /* digit of the eviction threshold search: 16 KiB of counters */

struct ident {
	struct flow_identity pub; /* own_answer.id points here; unknown fields are "" */
	struct ident *next;	  /* hash chain */
	uint64_t hash;
	uint32_t refs; /* spans and events naming it, plus holds during one call */
	uint32_t size; /* allocation size, for own_stats.bytes */
	char str[];    /* the 8 strings, NUL-terminated, pub's fields point here */
};

struct span {
	int64_t from;
	int64_t to;
	struct ident *id; /* NULL: two identities overlap here (a conflict) */
};

enum ev_kind {
	EV_UNASSIGN = 0, /* sorts first at equal t: see the layout note */
	EV_ASSIGN = 1,
};

struct event {
	int64_t t;
	int64_t end;	  /* ASSIGN (derived): end of its range, OWN_FOREVER while open */
	struct ident *id; /* ASSIGN: the owner; UNASSIGN: the only owner it ends, NULL any */
	int32_t holder;	  /* derived: index of the ASSIGN holding the address after this, -1 none */
	uint8_t kind;
	uint8_t closed; /* ASSIGN (derived): a later event of this source ends it */
	uint8_t _pad[2];
};

struct ip_rec {
	uint32_t n_span[N_SRC];
	uint32_t n_ev[N_SRC];
	uint32_t cap; /* payload bytes allocated */
	uint32_t _pad;
	uint64_t payload[]; /* spans by source, then events by source */
};

struct slot {
	uint8_t key[16];
	struct ip_rec *rec; /* NULL: empty */
};

struct own_store {
	struct slot *slots;
	uint64_t mask; /* slots - 1 */
	uint64_t n_ips;
	uint64_t n_ranges;
	uint64_t max_ranges;
	struct ident **buckets;
	uint64_t bmask; /* buckets - 1 */
	uint64_t n_idents;
	int64_t watermark[N_SRC];
	int64_t hb_floor;     /* no heartbeat is still to come for times up to here */
	bool hb_final;	      /* unsettled heartbeat claims decide (own_settle_heartbeats) */
	struct span *scratch; /* new pieces of one span insertion */
	size_t scratch_cap;
	uint64_t heap; /* every allocation held, as the allocator counts it */
	uint64_t conflicts;
	uint64_t pruned;
	uint64_t evicted;
	uint64_t duplicates;
};

_Static_assert(sizeof(struct span) == 24, "span packs three words");
_Static_assert(sizeof(struct event) == 32, "event packs four words");
_Static_assert(sizeof(struct ip_rec) == 32, "record header is half a cache line");

static const size_t field_off[OWN_IDENT_FIELDS] = {
	offsetof(struct flow_identity, app),	offsetof(struct flow_identity, namespace),
	offsetof(struct flow_identity, pod),	offsetof(struct flow_identity, workload),
	offsetof(struct flow_identity, node),	offsetof(struct flow_identity, account),
	offsetof(struct flow_identity, region), offsetof(struct flow_identity, zone),
};

static bool is_source(enum flow_source s)
{
	return s >= FLOW_SOURCE_HEARTBEAT && s < FLOW_SOURCE__COUNT;
}

/* --- memory accounting ---------------------------------------------------- */

/* What malloc really holds for n bytes (glibc: an 8-byte header, 16-byte granules, 32 at least). */
static uint64_t heap_size(size_t n)
{
	uint64_t c = ((uint64_t)n + 8 + 15) & ~(uint64_t)15;

	return c < 32 ? 32 : c;
}

static void *st_alloc(struct own_store *st, size_t n, bool zero)
{
	void *p = zero ? calloc(1, n) : malloc(n);

	if (p)
		st->heap += heap_size(n);
	return p;
}

static void st_free(struct own_store *st, void *p, size_t n)
{
	if (!p)
		return;
	st->heap -= heap_size(n);
	free(p);
}

/* --- hashing -------------------------------------------------------------- */

/* murmur3's 64-bit finaliser: every input bit reaches every output bit. */
static inline uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/*
 * Two rounds, one per half: v4-mapped keys share their first 12 bytes and
 * differ only in the last 4, and v6 keys often share the first 8 (one
 * prefix), so neither half alone may decide the slot.
 */
static inline uint64_t ip_hash(const uint8_t ip[16])
{
	uint64_t a, b;

	memcpy(&a, ip, 8);
	memcpy(&b, ip + 8, 8);
	return mix64(b ^ mix64(a ^ 0x9e3779b97f4a7c15ULL));
}

/* --- identities ----------------------------------------------------------- */

static inline const char *field(const struct flow_identity *id, int i)
{
	return *(const char *const *)((const char *)id + field_off[i]);
}

static bool ident_equal(const struct ident *e, const struct flow_identity *id, const size_t *len)
{
	for (int i = 0; i < OWN_IDENT_FIELDS; i++) {
		const char *a = field(&e->pub, i);

		if (strlen(a) != len[i] || (len[i] && memcmp(a, field(id, i), len[i])))
			return false;
	}
	return true;
}

static void ident_rehash(struct own_store *st)
{
	uint64_t n = (st->bmask + 1) * 2;
	struct ident **nb = st_alloc(st, n * sizeof(*nb), true);

	if (!nb)
		return; /* longer chains, still correct */
	for (uint64_t b = 0; b <= st->bmask; b++) {
		struct ident *e = st->buckets[b], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	st_free(st, st->buckets, (st->bmask + 1) * sizeof(*nb));
	st->buckets = nb;
	st->bmask = n - 1;
}

/*
 * The interned copy of `id` (NULL: the identity with every field unknown),
 * held once more for the caller: drop it with ident_put.  NULL on ENOMEM.
 */
static struct ident *ident_get(struct own_store *st, const struct flow_identity *id)
{
	static const struct flow_identity unknown;
	size_t len[OWN_IDENT_FIELDS], total = 0;
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then mixed */
	struct ident *e;
	char *p;

	if (!id)
		id = &unknown;
	for (int i = 0; i < OWN_IDENT_FIELDS; i++) {
		const char *s = field(id, i);

		len[i] = s ? strnlen(s, OWN_STRING_MAX) : 0; /* longer: cut */
		for (size_t j = 0; j < len[i]; j++) {
			h ^= (unsigned char)s[j];
			h *= 0x100000001b3ULL;
		}
		h ^= 0xff; /* field separator: never a byte of UTF-8 */
		h *= 0x100000001b3ULL;
		total += len[i] + 1;
	}
	h = mix64(h);
	for (e = st->buckets[h & st->bmask]; e; e = e->next) {
		if (e->hash == h && ident_equal(e, id, len)) {
			e->refs++;
			return e;
		}
	}
	e = st_alloc(st, sizeof(*e) + total, false);
	if (!e)
		return NULL;
	p = e->str;
	for (int i = 0; i < OWN_IDENT_FIELDS; i++) {
		if (len[i])
			memcpy(p, field(id, i), len[i]);
		p[len[i]] = '\0';
		*(const char **)((char *)&e->pub + field_off[i]) = p;
		p += len[i] + 1;
	}
	e->hash = h;
	e->refs = 1;
	e->size = (uint32_t)(sizeof(*e) + total);
	e->next = st->buckets[h & st->bmask];
	st->buckets[h & st->bmask] = e;
	if (++st->n_idents > st->bmask + 1)
		ident_rehash(st);
	return e;
}

static inline void ident_hold(struct ident *e)
{
	if (e)
		e->refs++;
}

static void ident_put(struct own_store *st, struct ident *e)
{
	struct ident **pp;

	if (!e || --e->refs)
		return;
	for (pp = &st->buckets[e->hash & st->bmask]; *pp != e; pp = &(*pp)->next)
		;
	*pp = e->next;
	st->n_idents--;
	st_free(st, e, e->size);
}

/* A total order on identities by content (NULL first), so event order never depends on arrival. */
static int ident_cmp(const struct ident *a, const struct ident *b)
{
	if (a == b)
		return 0;
	if (!a || !b)
		return a ? 1 : -1;
	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	for (int i = 0; i < OWN_IDENT_FIELDS; i++) {
		int c = strcmp(field(&a->pub, i), field(&b->pub, i));

		if (c)
			return c;
	}
	return 0; /* not reached: interned identities differ */
}

/* --- per-address records ------------------------------------------------- */

static inline uint32_t rec_spans_total(const struct ip_rec *r)
{
	return r->n_span[0] + r->n_span[1] + r->n_span[2];
}

static inline uint32_t rec_events_total(const struct ip_rec *r)
{
	return r->n_ev[0] + r->n_ev[1] + r->n_ev[2];
}

static inline size_t rec_used(const struct ip_rec *r)
{
	return rec_spans_total(r) * sizeof(struct span) +
	       rec_events_total(r) * sizeof(struct event);
}

static inline struct span *rec_span(const struct ip_rec *r, int src)
{
	struct span *s = (struct span *)r->payload;

	for (int i = 0; i < src; i++)
		s += r->n_span[i];
	return s;
}

static inline struct event *rec_ev(const struct ip_rec *r, int src)
{
	struct event *e = (struct event *)((struct span *)r->payload + rec_spans_total(r));

	for (int i = 0; i < src; i++)
		e += r->n_ev[i];
	return e;
}

static void rec_free(struct own_store *st, struct ip_rec *r)
{
	st_free(st, r, sizeof(*r) + r->cap);
}

/* Room for `need` payload bytes in the record of slot `sl`; it may move. */
static int rec_reserve(struct own_store *st, struct slot *sl, size_t need)
{
	struct ip_rec *r = sl->rec, *nr;
	size_t cap = (size_t)r->cap + r->cap / 2;

	if (need <= r->cap)
		return 0;
	if (cap < need)
		cap = need;
	cap = (cap + 7) & ~(size_t)7;
	if (cap > UINT32_MAX)
		return -ENOMEM;
	nr = realloc(r, sizeof(*r) + cap);
	if (!nr)
		return -ENOMEM;
	st->heap += heap_size(sizeof(*nr) + cap) - heap_size(sizeof(*nr) + nr->cap);
	nr->cap = (uint32_t)cap;
	sl->rec = nr;
	return 0;
}

/* Gives back most of a record's slack after it lost ranges; a failure keeps the old block. */
static void rec_shrink(struct own_store *st, struct slot *sl)
{
	struct ip_rec *r = sl->rec, *nr;
	size_t used = rec_used(r);

	if (used * 2 >= r->cap)
		return;
	nr = realloc(r, sizeof(*r) + used);
	if (!nr)
		return;
	st->heap -= heap_size(sizeof(*nr) + nr->cap) - heap_size(sizeof(*nr) + used);
	nr->cap = (uint32_t)used;
	sl->rec = nr;
}

/*
 * An UNASSIGN naming `u` ends holder `h` when every field it names (not
 * "") is the holder's: a release that names only the app must not leave
 * the address with its old owner for ever.
 */
static bool names_holder(const struct ident *u, const struct ident *h)
{
	const char *uf[] = { u->pub.app,  u->pub.namespace, u->pub.pod,	   u->pub.workload,
			     u->pub.node, u->pub.account,   u->pub.region, u->pub.zone };
	const char *hf[] = { h->pub.app,  h->pub.namespace, h->pub.pod,	   h->pub.workload,
			     h->pub.node, h->pub.account,   h->pub.region, h->pub.zone };

	if (u == h)
		return true;
	for (size_t i = 0; i < sizeof(uf) / sizeof(uf[0]); i++)
		if (*uf[i] && strcmp(uf[i], hf[i]) != 0)
			return false;
	return true;
}

/*
 * Derives what each event implies (see struct event): walk in order, the
 * holder changes at every ASSIGN and at every UNASSIGN that names no one or
 * names the holder (names_holder); other UNASSIGNs change nothing.
 */
static void ev_derive(struct event *ev, uint32_t n)
{
	int32_t h = -1;

	for (uint32_t i = 0; i < n; i++) {
		ev[i].end = ev[i].t;
		if (ev[i].kind == EV_ASSIGN) {
			if (h >= 0) {
				ev[h].end = ev[i].t;
				ev[h].closed = 1;
			}
			h = (int32_t)i;
			ev[i].end = OWN_FOREVER;
			ev[i].closed = 0;
		} else if (h >= 0 && (!ev[i].id || names_holder(ev[i].id, ev[h].id))) {
			ev[h].end = ev[i].t;
			ev[h].closed = 1;
			h = -1;
		}
		ev[i].holder = h;
	}
}

static int ev_cmp(const struct event *a, const struct event *b)
{
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return ident_cmp(a->id, b->id);
}

/*
 * An event's end for retention and eviction: an ASSIGN's range end, an
 * UNASSIGN's time -- but never before the key of an event before it, so an
 * UNASSIGN that changed nothing inside a live ASSIGN's range stays as long
 * as that ASSIGN (a late ASSIGN between them must still meet it).  Keys then
 * never fall along a list, and what is dropped is always a prefix, which
 * leaves the ranges the remaining events imply unchanged.
 */
static inline int64_t ev_key(const struct event *e, int64_t *run)
{
	int64_t k = e->kind == EV_ASSIGN ? e->end : e->t;

	if (k < *run)
		k = *run;
	*run = k;
	return k;
}

/* --- the address table ---------------------------------------------------- */

/* The slot holding ip, or the empty slot where it would go. */
static inline uint64_t probe(const struct own_store *st, const uint8_t ip[16])
{
	uint64_t i = ip_hash(ip) & st->mask;

	while (st->slots[i].rec && memcmp(st->slots[i].key, ip, 16))
		i = (i + 1) & st->mask;
	return i;
}

static int table_resize(struct own_store *st, uint64_t cap)
{
	struct slot *ns = st_alloc(st, cap * sizeof(*ns), true);

	if (!ns)
		return -ENOMEM;
	for (uint64_t i = 0; i <= st->mask; i++) {
		uint64_t j;

		if (!st->slots[i].rec)
			continue;
		for (j = ip_hash(st->slots[i].key) & (cap - 1); ns[j].rec; j = (j + 1) & (cap - 1))
			;
		ns[j] = st->slots[i];
	}
	st_free(st, st->slots, (st->mask + 1) * sizeof(*ns));
	st->slots = ns;
	st->mask = cap - 1;
	return 0;
}

/* After pruning: halve the table while it would stay at most 35% full (best effort). */
static void table_fit(struct own_store *st)
{
	uint64_t cap = st->mask + 1;

	while (cap > OWN_TABLE_MIN && st->n_ips * 20 <= (cap / 2) * 7)
		cap /= 2;
	if (cap != st->mask + 1)
		(void)table_resize(st, cap);
}

/*
 * Empties slot i and moves later members of its probe run back into the
 * hole (Knuth 6.4, algorithm R), so lookups never meet a tombstone.  A member
 * at j moves to the hole unless its home lies cyclically in (hole, j].
 */
static void slot_delete(struct own_store *st, uint64_t i)
{
	uint64_t j = i;

	for (;;) {
		uint64_t home;

		j = (j + 1) & st->mask;
		if (!st->slots[j].rec)
			break;
		home = ip_hash(st->slots[j].key) & st->mask;
		if (((j - home) & st->mask) >= ((j - i) & st->mask)) {
			st->slots[i] = st->slots[j];
			i = j;
		}
	}
	st->slots[i].rec = NULL;
	st->n_ips--;
}

/* The slot of ip with room for `need` payload bytes; the record is created when absent. */
static int slot_get(struct own_store *st, const uint8_t ip[16], size_t need, uint64_t *out)
{
	uint64_t i = probe(st, ip);
	struct ip_rec *r;
	int err;

	if (st->slots[i].rec) {
		err = rec_reserve(st, &st->slots[i], need);
		if (!err)
			*out = i;
		return err;
	}
	if ((st->n_ips + 1) * 10 > (st->mask + 1) * 7) {
		err = table_resize(st, (st->mask + 1) * 2);
		if (err)
			return err;
		i = probe(st, ip);
	}
	need = (need + 7) & ~(size_t)7;
	r = st_alloc(st, sizeof(*r) + need, false);
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	r->cap = (uint32_t)need;
	memcpy(st->slots[i].key, ip, 16);
	st->slots[i].rec = r;
	st->n_ips++;
	*out = i;
	return 0;
}

/* --- store ---------------------------------------------------------------- */

struct own_store *own_store__new(const struct own_limits *lim)
{
	struct own_store *st = calloc(1, sizeof(*st));

	if (!st) {
		errno = ENOMEM;
		return NULL;
	}
	st->heap = heap_size(sizeof(*st));
	st->max_ranges = lim && lim->max_ranges ? lim->max_ranges : OWN_DEFAULT_MAX_RANGES;
	for (int s = 0; s < N_SRC; s++)
		st->watermark[s] = OWN_FOREVER;
	st->hb_floor = INT64_MIN;
	st->mask = OWN_TABLE_MIN - 1;
	st->slots = st_alloc(st, OWN_TABLE_MIN * sizeof(*st->slots), true);
	st->bmask = OWN_TABLE_MIN - 1;
	st->buckets = st_alloc(st, OWN_TABLE_MIN * sizeof(*st->buckets), true);
	if (!st->slots || !st->buckets) {
		own_store__free(st);
		errno = ENOMEM;
		return NULL;
	}
	return st;
}

void own_store__free(struct own_store *st)
{
	if (!st)
		return;
	if (st->slots) {
		for (uint64_t i = 0; i <= st->mask; i++)
			free(st->slots[i].rec);
	}
	if (st->buckets) {
		for (uint64_t b = 0; b <= st->bmask; b++) {
			struct ident *e = st->buckets[b], *next;

			for (; e; e = next) {
				next = e->next;
				free(e);
			}
		}
	}
	free(st->slots);
	free(st->buckets);
	free(st->scratch);
	free(st);
}

void own_set_watermark(struct own_store *st, enum flow_source src, int64_t t_ms)
{
	if (is_source(src))
		st->watermark[SLOT(src)] = t_ms;
}

void own_set_heartbeat_floor(struct own_store *st, int64_t t_ms)
{
	st->hb_floor = t_ms;
}

void own_settle_heartbeats(struct own_store *st)
{
	st->hb_final = true;
}

int64_t own_watermark(const struct own_store *st, enum flow_source src)
{
	return is_source(src) ? st->watermark[SLOT(src)] : OWN_FOREVER;
}

/* --- eviction and retention ----------------------------------------------- */

/* Whether a range whose key is `key` goes: below T always, at T while ties last. */
static inline bool takes(int64_t key, int64_t T, uint64_t *ties)
{
	if (key < T)
		return true;
	if (key == T && *ties) {
		(*ties)--;
		return true;
	}
	return false;
}

/*
 * Drops from one record, list by list, the ranges that ended before T (and
 * at T while *ties lasts), in list order.  Span ends rise along a list
 * (disjoint, sorted) and so do event keys (ev_key): what goes is a prefix.
 */
static uint64_t rec_trim(struct own_store *st, struct ip_rec *r, int64_t T, uint64_t *ties)
{
	uint32_t cut_s[N_SRC], cut_e[N_SRC], removed = 0;
	struct span *s = (struct span *)r->payload;
	struct event *e;
	char *dst = (char *)r->payload;

	for (int src = 0; src < N_SRC; src++) {
		uint32_t k = 0;

		while (k < r->n_span[src] && takes(s[k].to, T, ties))
			ident_put(st, s[k++].id);
		cut_s[src] = k;
		removed += k;
		s += r->n_span[src];
	}
	e = (struct event *)s;
	for (int src = 0; src < N_SRC; src++) {
		int64_t run = INT64_MIN;
		uint32_t k = 0;

		while (k < r->n_ev[src] && takes(ev_key(&e[k], &run), T, ties))
			ident_put(st, e[k++].id);
		cut_e[src] = k;
		removed += k;
		e += r->n_ev[src];
	}
	if (!removed)
		return 0;
	/* compact: each list slides down over what went before it */
	s = (struct span *)r->payload;
	for (int src = 0; src < N_SRC; src++) {
		size_t len = (r->n_span[src] - cut_s[src]) * sizeof(*s);

		memmove(dst, s + cut_s[src], len);
		dst += len;
		s += r->n_span[src];
	}
	e = (struct event *)s;
	for (int src = 0; src < N_SRC; src++) {
		size_t len = (r->n_ev[src] - cut_e[src]) * sizeof(*e);

		memmove(dst, e + cut_e[src], len);
		dst += len;
		e += r->n_ev[src];
	}
	for (int src = 0; src < N_SRC; src++) {
		r->n_span[src] -= cut_s[src];
		r->n_ev[src] -= cut_e[src];
	}
	for (int src = 0; src < N_SRC; src++)
		ev_derive(rec_ev(r, src), r->n_ev[src]); /* holder indexes moved */
	st->n_ranges -= removed;
	return removed;
}

/* rec_trim over every address; addresses left with nothing are removed. */
static uint64_t trim_all(struct own_store *st, int64_t T, uint64_t ties)
{
	uint64_t start = 0, removed = 0;

	if (!st->n_ranges)
		return 0;
	/*
	 * Start after an empty slot (load < 1: there is one): no probe run then
	 * crosses the start, so slot_delete only moves members that are still
	 * ahead of us into the hole, which is looked at again.
	 */
	while (st->slots[start].rec)
		start++;
	for (uint64_t k = 1; k <= st->mask + 1; k++) {
		uint64_t i = (start + k) & st->mask;

		while (st->slots[i].rec) {
			struct ip_rec *r = st->slots[i].rec;

			removed += rec_trim(st, r, T, &ties);
			if (rec_spans_total(r) || rec_events_total(r)) {
				rec_shrink(st, &st->slots[i]);
				break;
			}
			rec_free(st, r);
			slot_delete(st, i);
		}
	}
	table_fit(st);
	return removed;
}

typedef void (*key_fn)(void *ctx, int64_t key);

/* Every range's end key (span: to; event: ev_key), in no particular order. */
static void walk_keys(const struct own_store *st, key_fn fn, void *ctx)
{
	for (uint64_t i = 0; i <= st->mask; i++) {
		const struct ip_rec *r = st->slots[i].rec;
		const struct span *s;
		const struct event *e;

		if (!r)
			continue;
		s = (const struct span *)r->payload;
		for (uint32_t k = 0; k < rec_spans_total(r); k++)
			fn(ctx, s[k].to);
		e = (const struct event *)(s + rec_spans_total(r));
		for (int src = 0; src < N_SRC; src++) {
			int64_t run = INT64_MIN;

			for (uint32_t k = 0; k < r->n_ev[src]; k++)
				fn(ctx, ev_key(&e[k], &run));
			e += r->n_ev[src];
		}
	}
}

struct select {
	uint64_t n_finite;
	int64_t min, max;
	uint64_t base; /* keys are taken as key - min */
	unsigned top;  /* bits above `top` are fixed to `hi` */
	unsigned shift;
	uint64_t hi;
	uint64_t hist[1 << OWN_RADIX_BITS];
};

static void sel_range(void *ctx, int64_t key)
{
	struct select *s = ctx;

	if (key == OWN_FOREVER)
		return;
	if (!s->n_finite++ || key < s->min)
		s->min = key;
	if (s->n_finite == 1 || key > s->max)
		s->max = key;
}

static void sel_count(void *ctx, int64_t key)
{
	struct select *s = ctx;
	uint64_t v;

	if (key == OWN_FOREVER)
		return;
	v = (uint64_t)key - s->base;
	if ((v >> s->top) == s->hi)
		s->hist[(v >> s->shift) & ((1u << OWN_RADIX_BITS) - 1)]++;
}

/*
 * Finds T, the k-th smallest end key (k >= 1), and how many keys equal to T
 * are among the k smallest: a most-significant-digit radix select over the
 * keys' offsets from the smallest, a pass per 11 bits of their spread.  No
 * copy of the keys: memory stays what max_ranges allows.
 */
static void select_kth(const struct own_store *st, uint64_t k, int64_t *T, uint64_t *ties)
{
	struct select *s = calloc(1, sizeof(*s));
	uint64_t spread;
	unsigned bits;

	if (!s) {
		*T = INT64_MIN; /* nothing goes this time; the next insertion tries again */
		*ties = 0;
		return;
	}
	walk_keys(st, sel_range, s);
	if (k > s->n_finite) {
		*T = OWN_FOREVER;
		*ties = k - s->n_finite;
		free(s);
		return;
	}
	spread = (uint64_t)s->max - (uint64_t)s->min;
	bits = spread ? 64 - (unsigned)__builtin_clzll(spread) : 0;
	s->base = (uint64_t)s->min;
	s->hi = 0;
	for (unsigned top = bits; top > 0;) {
		unsigned w = top < OWN_RADIX_BITS ? top : OWN_RADIX_BITS;
		uint64_t cum = 0, d;

		s->top = top;
		s->shift = top - w;
		memset(s->hist, 0, sizeof(s->hist));
		walk_keys(st, sel_count, s);
		for (d = 0; d < (1u << w) - 1 && cum + s->hist[d] < k; d++)
			cum += s->hist[d];
		k -= cum;
		s->hi = (s->hi << w) | d;
		top = s->shift;
	}
	*T = (int64_t)(s->base + s->hi);
	*ties = k;
	free(s);
}

/* Back under max_ranges, earliest-ended ranges first (all sources). */
static void evict(struct own_store *st)
{
	uint64_t target, ties;
	int64_t T;

	if (st->n_ranges <= st->max_ranges)
		return;
	target = st->max_ranges - st->max_ranges / OWN_EVICT_SLACK_DIV;
	select_kth(st, st->n_ranges - target, &T, &ties);
	st->evicted += trim_all(st, T, ties);
}

size_t own_prune(struct own_store *st, int64_t before_ms)
{
	uint64_t n = trim_all(st, before_ms, UINT64_MAX);

	st->pruned += n;
	return n;
}

/* --- evidence ------------------------------------------------------------- */

static int scratch_reserve(struct own_store *st, size_t n)
{
	struct span *p;

	if (n <= st->scratch_cap)
		return 0;
	if (n < 2 * st->scratch_cap)
		n = 2 * st->scratch_cap;
	p = realloc(st->scratch, n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	st->heap +=
	    heap_size(n * sizeof(*p)) - (st->scratch ? heap_size(st->scratch_cap * sizeof(*p)) : 0);
	st->scratch = p;
	st->scratch_cap = n;
	return 0;
}

static inline uint32_t piece(struct span *out, uint32_t np, int64_t from, int64_t to,
			     struct ident *id)
{
	if (from >= to)
		return np;
	if (np && out[np - 1].to == from && out[np - 1].id == id) {
		out[np - 1].to = to;
		return np;
	}
	out[np] = (struct span){ .from = from, .to = to, .id = id };
	return np + 1;
}

/*
 * The canonical pieces that replace the k spans s[] (those that overlap or
 * touch [f, t)) once [f, t) of x is added: x where nobody was, x where x
 * was, a conflict where anyone else was or a conflict already is.
 * At most 2k + 1 pieces.
 */
static uint32_t pieces(struct span *out, const struct span *s, uint32_t k, int64_t f, int64_t t,
		       struct ident *x, bool *conflict)
{
	int64_t c = f; /* [f, c) is done */
	uint32_t np = 0;

	for (uint32_t j = 0; j < k; j++) {
		int64_t ov_from = s[j].from > f ? s[j].from : f;
		int64_t ov_to = s[j].to < t ? s[j].to : t;

		if (s[j].from < f)
			np = piece(out, np, s[j].from, s[j].to < f ? s[j].to : f, s[j].id);
		np = piece(out, np, c, s[j].from, x);
		if (ov_from < ov_to) {
			if (s[j].id && s[j].id != x)
				*conflict = true;
			np = piece(out, np, ov_from, ov_to, s[j].id == x ? x : NULL);
		}
		if (s[j].to > t)
			np = piece(out, np, s[j].from > t ? s[j].from : t, s[j].to, s[j].id);
		if (s[j].to > c)
			c = s[j].to < t ? s[j].to : t;
	}
	return piece(out, np, c, t, x);
}

static int span_add(struct own_store *st, int src, const uint8_t ip[16], struct ident *x, int64_t f,
		    int64_t t)
{
	uint64_t i = probe(st, ip);
	struct ip_rec *r = st->slots[i].rec;
	struct span *s = NULL;
	uint32_t n = 0, lo = 0, hi, np, k;
	bool conflict = false;
	int64_t delta;
	size_t need;
	int err;

	if (r) {
		s = rec_span(r, src);
		n = r->n_span[src];
	}
	/* [lo, hi): the spans that overlap or touch [f, t); ends and starts rise together */
	for (uint32_t h = n; lo < h;) {
		uint32_t m = lo + (h - lo) / 2;

		if (s[m].to < f)
			lo = m + 1;
		else
			h = m;
	}
	hi = lo;
	for (uint32_t h = n; hi < h;) {
		uint32_t m = hi + (h - hi) / 2;

		if (s[m].from <= t)
			hi = m + 1;
		else
			h = m;
	}
	k = hi - lo;
	err = scratch_reserve(st, 2 * (size_t)k + 1);
	if (err)
		return err;
	np = pieces(st->scratch, s ? s + lo : NULL, k, f, t, x, &conflict);
	if (np == k && !memcmp(st->scratch, s + lo, k * sizeof(*s))) {
		st->duplicates++;
		return 0;
	}
	delta = (int64_t)np - k;
	need = (r ? rec_used(r) : 0) + (delta > 0 ? (size_t)delta * sizeof(*s) : 0);
	err = slot_get(st, ip, need, &i);
	if (err)
		return err;
	r = st->slots[i].rec;
	s = rec_span(r, src);
	/* hold the new pieces' identities before the old ones let go: they may be the same */
	for (uint32_t j = 0; j < np; j++)
		ident_hold(st->scratch[j].id);
	for (uint32_t j = lo; j < hi; j++)
		ident_put(st, s[j].id);
	memmove(s + lo + np, s + hi, (char *)r->payload + rec_used(r) - (char *)(s + hi));
	memcpy(s + lo, st->scratch, np * sizeof(*s));
	r->n_span[src] += (uint32_t)delta;
	st->n_ranges += (uint64_t)delta;
	if (conflict)
		st->conflicts++;
	return 0;
}

static int event_add(struct own_store *st, int src, const uint8_t ip[16], uint8_t kind,
		     struct ident *x, int64_t t)
{
	struct event key = { .t = t, .end = t, .id = x, .holder = -1, .kind = kind };
	uint64_t i = probe(st, ip);
	struct ip_rec *r = st->slots[i].rec;
	uint32_t n = 0, pos = 0;
	struct event *ev;
	int err;

	if (r) {
		ev = rec_ev(r, src);
		n = r->n_ev[src];
		for (uint32_t h = n; pos < h;) {
			uint32_t m = pos + (h - pos) / 2;

			if (ev_cmp(&ev[m], &key) < 0)
				pos = m + 1;
			else
				h = m;
		}
		if (pos < n && !ev_cmp(&ev[pos], &key)) {
			st->duplicates++;
			return 0;
		}
	}
	err = slot_get(st, ip, (r ? rec_used(r) : 0) + sizeof(key), &i);
	if (err)
		return err;
	r = st->slots[i].rec;
	ev = rec_ev(r, src);
	memmove(ev + pos + 1, ev + pos, (char *)r->payload + rec_used(r) - (char *)(ev + pos));
	ev[pos] = key;
	ident_hold(x);
	r->n_ev[src]++;
	st->n_ranges++;
	ev_derive(ev, n + 1);
	return 0;
}

int own_span(struct own_store *st, enum flow_source src, const uint8_t ip[16],
	     const struct flow_identity *id, int64_t from_ms, int64_t to_ms)
{
	struct ident *x;
	int err;

	if (!st || !ip || !is_source(src) || from_ms < 0 || from_ms > to_ms)
		return -EINVAL;
	if (from_ms == to_ms) { /* covers no time */
		st->duplicates++;
		return 0;
	}
	x = ident_get(st, id);
	if (!x)
		return -ENOMEM;
	err = span_add(st, SLOT(src), ip, x, from_ms, to_ms);
	if (!err)
		evict(st);
	ident_put(st, x);
	return err;
}

static int point_event(struct own_store *st, enum flow_source src, const uint8_t ip[16],
		       uint8_t kind, const struct flow_identity *id, int64_t t_ms)
{
	struct ident *x = NULL;
	int err;

	if (!st || !ip || !is_source(src) || t_ms < 0)
		return -EINVAL;
	/* an UNASSIGN without identity ends whoever holds the address */
	if (kind == EV_ASSIGN || id) {
		x = ident_get(st, id);
		if (!x)
			return -ENOMEM;
	}
	err = event_add(st, SLOT(src), ip, kind, x, t_ms);
	if (!err)
		evict(st);
	ident_put(st, x);
	return err;
}

int own_assign(struct own_store *st, enum flow_source src, const uint8_t ip[16],
	       const struct flow_identity *id, int64_t t_ms)
{
	return point_event(st, src, ip, EV_ASSIGN, id, t_ms);
}

int own_unassign(struct own_store *st, enum flow_source src, const uint8_t ip[16],
		 const struct flow_identity *id, int64_t t_ms)
{
	return point_event(st, src, ip, EV_UNASSIGN, id, t_ms);
}

/* --- queries -------------------------------------------------------------- */

static inline const struct ip_rec *find(const struct own_store *st, const uint8_t ip[16])
{
	for (uint64_t i = ip_hash(ip) & st->mask;; i = (i + 1) & st->mask) {
		const struct slot *s = &st->slots[i];

		if (!s->rec || !memcmp(s->key, ip, 16))
			return s->rec;
	}
}

/* One pod, as two sources may name it: the same namespace and pod name. */
static bool same_pod(const struct flow_identity *x, const struct flow_identity *y)
{
	return x == y ||
	       (*x->pod && strcmp(x->pod, y->pod) == 0 && strcmp(x->namespace, y->namespace) == 0);
}

enum own_verdict own_lookup(const struct own_store *st, const uint8_t ip[16], int64_t t_ms,
			    struct own_answer *out)
{
	const struct ip_rec *r = find(st, ip);
	const struct flow_identity *claim = NULL; /* an unsettled heartbeat's owner at t */
	const struct span *s;
	const struct event *e;
	bool pending = false;

	out->id = NULL;
	out->source = FLOW_SOURCE_HEARTBEAT;
	out->conflict = false;
	out->settling = false;
	if (!r) {
		/* nobody said anything: certain only once every source is complete to t */
		int64_t wm =
		    st->watermark[SLOT_HB] < st->hb_floor ? st->watermark[SLOT_HB] : st->hb_floor;

		for (int src = SLOT_HB + 1; src < N_SRC; src++)
			if (st->watermark[src] < wm)
				wm = st->watermark[src];
		return t_ms > wm ? OWN_WAIT : OWN_NONE;
	}
	s = (const struct span *)r->payload;
	e = (const struct event *)(s + rec_spans_total(r));
	for (int src = 0; src < N_SRC; src++) {
		uint32_t ns = r->n_span[src], ne = r->n_ev[src], lo, h;
		int64_t wm = st->watermark[src];
		const struct flow_identity *found = NULL;

		if (src == SLOT_HB && st->hb_floor < wm)
			/*
			 * Any sender may yet state a heartbeat for t up to the
			 * floor (now - grace): what the spans received so far
			 * say of t is complete only there, whichever came first.
			 */
			wm = st->hb_floor;
		for (lo = 0, h = ns; lo < h;) { /* first span starting after t */
			uint32_t m = lo + (h - lo) / 2;

			if (s[m].from <= t_ms)
				lo = m + 1;
			else
				h = m;
		}
		if (lo && t_ms < s[lo - 1].to) {
			if (!s[lo - 1].id && claim)
				break; /* a contradiction until the claim settles */
			if (!s[lo - 1].id) {
				/* two owners claimed t: no later claim can undo that */
				out->source = SOURCE(src);
				out->conflict = true;
				return OWN_NONE;
			}
			found = &s[lo - 1].id->pub;
			if (src == SLOT_HB && t_ms > wm && !st->hb_final) {
				/*
				 * Another sender's claim for t may still come and
				 * make t a conflict: the claim decides now only if
				 * a less trusted source names the same pod at t.
				 */
				claim = found;
				goto next;
			}
		}
		if (!found) {
			for (lo = 0, h = ne; lo < h;) { /* first event after t */
				uint32_t m = lo + (h - lo) / 2;

				if (e[m].t <= t_ms)
					lo = m + 1;
				else
					h = m;
			}
			if (lo && e[lo - 1].holder >= 0) {
				/* the holder's range runs past the next event, so it covers t */
				const struct event *a = &e[e[lo - 1].holder];

				if (!a->closed && t_ms > wm) {
					pending = true;
					break;
				}
				found = &a->id->pub;
			}
		}
		if (found) {
			if (claim && !same_pod(claim, found))
				break; /* a contradiction until the claim settles */
			out->source = claim ? FLOW_SOURCE_HEARTBEAT : SOURCE(src);
			out->id = claim ? claim : found;
			return OWN_FOUND;
		}
		if (t_ms > wm)
			pending = true;
	next:
		s += ns;
		e += ne;
	}
	/*
	 * Only a claim that no less trusted source may still confirm waits for
	 * the floor alone; while the pod watch is behind t it may name the same
	 * pod any moment (within kube.lag), so the record is looked up again.
	 */
	out->settling = claim != NULL && !pending;
	return pending || claim ? OWN_WAIT : OWN_NONE;
}

void own_stats(const struct own_store *st, struct own_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->ips = st->n_ips;
	out->ranges = st->n_ranges;
	out->identities = st->n_idents;
	out->bytes = st->heap; /* the store itself, table, buckets, records, identities, scratch */
	out->conflicts = st->conflicts;
	out->pruned = st->pruned;
	out->evicted = st->evicted;
	out->duplicates = st->duplicates;
}

/*
 * Spans and the ranges ASSIGNs imply, merged by start within each source.
 * Conflict regions come with id NULL.  An ASSIGN that another replaced in
 * the same millisecond implies an empty range and is not reported.
 */
void own_each_range(const struct own_store *st, const uint8_t ip[16],
		    void (*fn)(enum flow_source src, int64_t from_ms, int64_t to_ms,
			       const struct flow_identity *id, bool conflict, void *ctx),
		    void *ctx)
{
	const struct ip_rec *r = find(st, ip);

	if (!r)
		return;
	for (int src = 0; src < N_SRC; src++) {
		const struct span *s = rec_span(r, src);
		const struct event *e = rec_ev(r, src);
		uint32_t i = 0, j = 0, ns = r->n_span[src], ne = r->n_ev[src];

		while (i < ns || j < ne) {
			if (j < ne && (e[j].kind != EV_ASSIGN || e[j].t == e[j].end)) {
				j++;
				continue;
			}
			if (i < ns && (j == ne || s[i].from <= e[j].t)) {
				fn(SOURCE(src), s[i].from, s[i].to, s[i].id ? &s[i].id->pub : NULL,
				   !s[i].id, ctx);
				i++;
			} else {
				fn(SOURCE(src), e[j].t, e[j].end, &e[j].id->pub, false, ctx);
				j++;
			}
		}
	}
}
