// SPDX-License-Identifier: BSD-2-Clause
/* Attribution: names each record's remote side by who owned its IP at the record's time. */
#define _GNU_SOURCE
#include "attributor.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "flow.h"
#include "ip.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"

#define TICK_MS	       250   /* retries of held-back records, watermarks refreshed */
#define EARLY_MIN_MS   20    /* early retries (evidence due) come no sooner after a sweep */
#define PRUNE_EVERY_MS 10000 /* retention */
#define SWEEP_CHUNK    1024  /* records decided per hold of the store's read lock */
#define HB_LOGGED_MAX  1024  /* senders whose refused heartbeats are logged by name */

#define MIN(x, y) ((x) < (y) ? (x) : (y))
#define MAX(x, y) ((x) > (y) ? (x) : (y))

/* What a batch's held-back records share: the sender, copied (the batch's memory is reused). */
struct sender {
	unsigned int refs; /* under the queue lock once queued (set by attributor__hold before) */
	struct flow_identity id;
	char *strings;
};

struct delayed {
	struct flow_record rec; /* rec.local -> sender->id; rec.container owned */
	struct sender *sender;
	int64_t arrived_ms;
	int64_t deadline_ms;
	int64_t not_before_ms; /* nothing can decide it before (a claim settling) */
	uint64_t jref;	       /* where it is journaled (hold_journal.h); 0: nowhere */
};

/*
 * Copies of the identities a batch's (or a sweep's) decided records point
 * at: one per distinct owner, found by the store's interned pointer, in
 * blocks that never move until the next reset.
 */
struct arena_block {
	struct arena_block *next;
	size_t used, size;
	char data[];
};

struct arena_slot {
	const struct flow_identity *key;
	struct flow_identity *copy;
	uint64_t gen; /* valid only when it is the arena's */
};

struct attr_arena {
	struct arena_block *blocks; /* the first is kept across resets */
	struct arena_slot *tab;
	uint32_t mask, n;
	uint64_t gen;
	/*
	 * A batch's records copied for the delay queue (attributor__hold),
	 * queued by attributor__hold_commit or dropped by _cancel.
	 */
	struct delayed *staged;
	uint32_t n_staged, cap_staged;
	uint32_t reserved; /* counted in the attributor's `staged` */
	struct sender *sender;
	uint64_t fallbacks; /* settled unattributed (out of memory): counted at commit */
};

struct attributor {
	struct attr_opts o;
	pthread_rwlock_t lock; /* the store: lookups read, evidence writes */
	struct own_store *store;

	pthread_mutex_t qlock; /* the delay queue and the evicted list */
	pthread_cond_t wake;
	struct delayed *q; /* ring of max_delayed */
	uint32_t q_head, q_len;
	struct delayed *evicted; /* pushed out early: written as unattributed next tick */
	uint32_t n_evicted, cap_evicted;
	/*
	 * Records workers have copied but not yet queued (attributor__hold,
	 * before their write): the evicted list always has room for what
	 * queuing them could push out, so that queuing cannot fail.
	 */
	uint32_t staged;
	/* the earliest instant the pod watch covers a record the last sweep kept */
	int64_t next_due_ms;
	bool stop, started;
	bool stopped; /* attributor__stop ran (owner's thread only) */
	pthread_t thread;

	struct flow_record *out; /* records decided in a sweep, written after it */
	uint64_t *jrefs;	 /* the journal references of the records a sweep wrote */
	bool *going;		 /* per queue position: leaves the queue in this sweep */
	bool write_failing;	 /* the last sweep's write failed (logged once) */
	uint32_t cap_out;

	int64_t max_delay_ms, retention_ms, grace_ms, skew_ms; /* live: atomics */
	struct attr_stats st;				       /* atomics */

	/* senders whose refused heartbeats were logged (once each, bounded) */
	pthread_mutex_t rlock;
	uint64_t refused_logged[HB_LOGGED_MAX];
	uint32_t n_refused_logged;
	bool refused_overflow;
	struct metrics_histogram delay_hist;
};

#define ADD(field, n) __atomic_fetch_add(&(field), (uint64_t)(n), __ATOMIC_RELAXED)
#define LOAD(field)   __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* ---- the identities decided records carry --------------------------------- */

#define ARENA_BLOCK   (64u << 10)
#define ARENA_TAB_MIN 64u

struct attr_arena *attr_arena__new(void)
{
	struct attr_arena *ar = calloc(1, sizeof(*ar));

	if (!ar)
		return NULL;
	ar->tab = calloc(ARENA_TAB_MIN, sizeof(*ar->tab));
	if (!ar->tab) {
		free(ar);
		return NULL;
	}
	ar->mask = ARENA_TAB_MIN - 1;
	ar->gen = 1;
	return ar;
}

static void staged_drop(struct attr_arena *ar);

void attr_arena__free(struct attr_arena *ar)
{
	if (!ar)
		return;
	staged_drop(ar); /* a hold neither committed nor cancelled: the caller's bug, no leak */
	free(ar->staged);
	while (ar->blocks) {
		struct arena_block *b = ar->blocks;

		ar->blocks = b->next;
		free(b);
	}
	free(ar->tab);
	free(ar);
}

/* Forgets every copy; keeps one block (the common case needs no allocation). */
static void arena_reset(struct attr_arena *ar)
{
	struct arena_block *b = ar->blocks;

	while (b && b->next) {
		struct arena_block *n = b->next;

		b->next = n->next;
		free(n);
	}
	if (b)
		b->used = 0;
	ar->gen++;
	ar->n = 0;
}

static void *arena_alloc(struct attr_arena *ar, size_t n)
{
	struct arena_block *b = ar->blocks;

	n = (n + 7) & ~(size_t)7;
	if (!b || b->size - b->used < n) {
		size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;

		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		b->used = 0;
		b->size = size;
		/* the new block goes in front; arena_reset keeps only the first */
		if (ar->blocks) {
			b->next = ar->blocks;
			ar->blocks = b;
		} else {
			b->next = NULL;
			ar->blocks = b;
		}
	}
	b->used += n;
	return b->data + b->used - n;
}

static const char *arena_str(struct attr_arena *ar, const char *s)
{
	size_t n = s ? strnlen(s, OWN_STRING_MAX) : 0;
	char *p = arena_alloc(ar, n + 1);

	if (!p)
		return NULL;
	memcpy(p, s ? s : "", n);
	p[n] = '\0';
	return p;
}

static uint32_t ptr_hash(const void *p)
{
	uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> 32);
}

/* Doubles the table, keeping this generation's entries. */
static int arena_grow(struct attr_arena *ar)
{
	uint32_t cap = (ar->mask + 1) * 2;
	struct arena_slot *t = calloc(cap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i <= ar->mask; i++) {
		const struct arena_slot *o = &ar->tab[i];
		uint32_t j;

		if (o->gen != ar->gen)
			continue;
		for (j = ptr_hash(o->key) & (cap - 1); t[j].gen == ar->gen; j = (j + 1) & (cap - 1))
			;
		t[j] = *o;
	}
	free(ar->tab);
	ar->tab = t;
	ar->mask = cap - 1;
	return 0;
}

/*
 * The copy of `id`, made once per distinct owner; NULL when out of memory
 * (the record then goes out unattributed: nothing is guessed).
 */
static const struct flow_identity *arena_identity(struct attr_arena *ar,
						  const struct flow_identity *id)
{
	struct flow_identity *f;
	struct arena_slot *sl;
	uint32_t i;

	if ((ar->n + 1) * 2 > ar->mask + 1 && arena_grow(ar))
		return NULL;
	for (i = ptr_hash(id) & ar->mask; ar->tab[i].gen == ar->gen; i = (i + 1) & ar->mask)
		if (ar->tab[i].key == id)
			return ar->tab[i].copy;
	f = arena_alloc(ar, sizeof(*f));
	if (!f)
		return NULL;
	f->app = arena_str(ar, id->app);
	f->namespace = arena_str(ar, id->namespace);
	f->pod = arena_str(ar, id->pod);
	f->node = arena_str(ar, id->node);
	f->workload = arena_str(ar, id->workload);
	/* every field: the outputs and the insight view read them all (account .. zone from Sonar) */
	f->account = arena_str(ar, id->account);
	f->region = arena_str(ar, id->region);
	f->zone = arena_str(ar, id->zone);
	if (!f->app || !f->namespace || !f->pod || !f->node || !f->workload || !f->account ||
	    !f->region || !f->zone)
		return NULL;
	sl = &ar->tab[i];
	sl->key = id;
	sl->copy = f;
	sl->gen = ar->gen;
	ar->n++;
	return f;
}

/* ---- deciding -------------------------------------------------------------- */

enum decision {
	DECIDED,
	UNDECIDED, /* wait for evidence */
	NOBODY,	   /* certainly nobody known: unattributed now */
	CONFLICT,
	CHANGED,
};

/*
 * The same owner at both ends of a record: the same identity (the store
 * interns them: the same pointer), or one pod as two sources name it -- a
 * heartbeat and the pod watch may derive app or workload differently, but
 * a pod's namespace and name are the pod.
 */
static bool same_owner(const struct flow_identity *x, const struct flow_identity *y)
{
	if (x == y)
		return true;
	return x->pod && *x->pod && y->pod && strcmp(x->pod, y->pod) == 0 &&
	       strcmp(x->namespace ? x->namespace : "", y->namespace ? y->namespace : "") == 0;
}

/*
 * Who owned the remote address over the whole record: at its first and at
 * its last millisecond, the same owner, or the record spans a change and
 * cannot be given to either.  Under the store's read lock.
 */
static enum decision decide(const struct attributor *a, const struct flow_record *r,
			    struct own_answer *ans, int64_t *settles_at)
{
	int64_t t0 = (int64_t)r->start_ms;
	int64_t t1 = r->end_ms > r->start_ms ? (int64_t)r->end_ms - 1 : t0;
	struct own_answer a1;
	enum own_verdict v0, v1;

	*settles_at = 0;
	v0 = own_lookup(a->store, r->remote_addr, t0, ans);
	if (v0 == OWN_WAIT) {
		if (ans->settling)
			*settles_at = t0;
		return UNDECIDED;
	}
	v1 = t1 == t0 ? v0 : own_lookup(a->store, r->remote_addr, t1, &a1);
	if (t1 == t0)
		a1 = *ans;
	if (v1 == OWN_WAIT) {
		if (a1.settling)
			*settles_at = t1;
		return UNDECIDED;
	}
	if (v0 == OWN_FOUND && v1 == OWN_FOUND) {
		if (!same_owner(ans->id, a1.id))
			return CHANGED;
		/*
		 * The identity as the more trusted source gives it; the weaker
		 * of the two sources is the honest one to name: the decision
		 * needed both.
		 */
		if (a1.source < ans->source)
			ans->id = a1.id;
		else
			ans->source = a1.source;
		return DECIDED;
	}
	if (v0 == OWN_FOUND || v1 == OWN_FOUND)
		return CHANGED;
	return ans->conflict || a1.conflict ? CONFLICT : NOBODY;
}

/* Counts a final decision and sets the record's remote side. */
/*
 * Outcomes counted locally and added to the shared counters once per batch
 * or sweep (workers would otherwise fight over one cache line per record).
 */
enum tally_kind {
	T_NONE = FLOW_SOURCE__COUNT, /* after the sources' own slots (FLOW_SOURCE_*) */
	T_CONFLICT,
	T_CHANGED,
	T_EXPIRED,
	T_EVICTED,
	T__COUNT,
};

struct tally {
	uint64_t n[T__COUNT];
};

static void tally_flush(struct attributor *a, const struct tally *t)
{
	uint64_t *dst[T__COUNT] = {
		[FLOW_SOURCE_HEARTBEAT] = &a->st.decided[FLOW_SOURCE_HEARTBEAT],
		[FLOW_SOURCE_KUBE] = &a->st.decided[FLOW_SOURCE_KUBE],
		[FLOW_SOURCE_SONAR] = &a->st.decided[FLOW_SOURCE_SONAR],
		[T_NONE] = &a->st.unattributed_none,
		[T_CONFLICT] = &a->st.unattributed_conflict,
		[T_CHANGED] = &a->st.unattributed_changed,
		[T_EXPIRED] = &a->st.unattributed_expired,
		[T_EVICTED] = &a->st.unattributed_evicted,
	};

	for (int i = FLOW_SOURCE_HEARTBEAT; i < T__COUNT; i++)
		if (t->n[i])
			ADD(*dst[i], t->n[i]);
}

static void unattributed(struct flow_record *r, struct tally *t, enum tally_kind why)
{
	r->remote = NULL;
	r->remote_source = FLOW_SOURCE_UNATTRIBUTED;
	t->n[why]++;
}

/*
 * Sets the record's remote side from a final decision.  A decided owner
 * that cannot be copied (out of memory) goes out unattributed as none.
 */
static void settle(struct flow_record *r, enum decision d, const struct own_answer *ans,
		   struct attr_arena *ar, struct tally *t)
{
	const struct flow_identity *remote;

	switch (d) {
	case DECIDED:
		remote = arena_identity(ar, ans->id);
		if (!remote)
			break;
		r->remote = remote;
		r->remote_source = ans->source;
		t->n[ans->source]++;
		return;
	case CONFLICT:
		unattributed(r, t, T_CONFLICT);
		return;
	case CHANGED:
		unattributed(r, t, T_CHANGED);
		return;
	case NOBODY:
	case UNDECIDED:
		break;
	}
	unattributed(r, t, T_NONE);
}

/* ---- the delay queue ------------------------------------------------------- */

static void sender_put(struct sender *s)
{
	if (s && --s->refs == 0) {
		free(s->strings);
		free(s);
	}
}

static struct sender *sender_new(const struct flow_identity *id)
{
	const char *f[5] = { id->app, id->namespace, id->pod, id->node, id->workload };
	struct sender *s = calloc(1, sizeof(*s));
	size_t len = 0, at = 0;
	const char **dst[5];

	if (!s)
		return NULL;
	for (int i = 0; i < 5; i++)
		len += (f[i] ? strlen(f[i]) : 0) + 1;
	s->strings = malloc(len);
	if (!s->strings) {
		free(s);
		return NULL;
	}
	dst[0] = &s->id.app;
	dst[1] = &s->id.namespace;
	dst[2] = &s->id.pod;
	dst[3] = &s->id.node;
	dst[4] = &s->id.workload;
	for (int i = 0; i < 5; i++) {
		size_t n = f[i] ? strlen(f[i]) : 0;

		memcpy(s->strings + at, f[i] ? f[i] : "", n);
		s->strings[at + n] = '\0';
		*dst[i] = s->strings + at;
		at += n + 1;
	}
	return s;
}

static void delayed_release(struct delayed *d)
{
	free((char *)d->rec.container);
	d->rec.container = NULL;
	sender_put(d->sender);
	d->sender = NULL;
}

/*
 * Under qlock: the evicted list's room for what queuing every staged
 * record could push out.  Each commit evicts at most as many as the queue
 * overflows by, so room for n_evicted + (q_len + staged - max_delayed)
 * covers every commit in any order (sweeps only make room).  0 or -ENOMEM.
 */
static int evicted_room(struct attributor *a)
{
	uint64_t over = (uint64_t)a->q_len + a->staged, need = a->n_evicted;
	uint32_t cap;
	struct delayed *e;

	if (over > a->o.max_delayed)
		need += over - a->o.max_delayed;
	if (need <= a->cap_evicted)
		return 0;
	cap = a->cap_evicted ? a->cap_evicted : 1024;
	while (cap < need)
		cap *= 2;
	e = realloc(a->evicted, cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	a->evicted = e;
	a->cap_evicted = cap;
	return 0;
}

/*
 * Under qlock: appends a staged record, pushing the oldest out when full
 * (oldest first: it has waited longest and its evidence is least likely
 * to come).  Never fails: evicted_room() made room when it was staged.
 */
static void enqueue(struct attributor *a, const struct delayed *d)
{
	uint32_t cap = a->o.max_delayed;

	if (a->q_len == cap) {
		a->evicted[a->n_evicted++] = a->q[a->q_head];
		a->q_head = (a->q_head + 1) % cap;
		a->q_len--;
	}
	a->q[(a->q_head + a->q_len) % cap] = *d;
	a->q_len++;
}

uint32_t attributor__batch(struct attributor *a, struct attr_arena *ar, struct wire_batch *b,
			   bool *keep)
{
	struct tally t = { 0 };
	uint32_t held = 0;

	arena_reset(ar);
	pthread_rwlock_rdlock(&a->lock);
	for (uint32_t i = 0; i < b->n_records; i++) {
		struct flow_record *r = &b->records[i];
		struct own_answer ans = { 0 };
		int64_t settles_at;
		enum decision d;

		keep[i] = true;
		if (ip_is_loopback(r->remote_addr)) {
			/* inside the pod's own network namespace: the sender is the remote side */
			r->remote = &b->sender;
			r->remote_source = FLOW_SOURCE_HEARTBEAT;
			t.n[FLOW_SOURCE_HEARTBEAT]++;
			continue;
		}
		d = decide(a, r, &ans, &settles_at);
		if (d != UNDECIDED) {
			settle(r, d, &ans, ar, &t);
			continue;
		}
		keep[i] = false;
		held++;
	}
	pthread_rwlock_unlock(&a->lock);
	tally_flush(a, &t);
	return held;
}

/* Room in the arena for n staged records.  0 or -ENOMEM. */
static int staged_room(struct attr_arena *ar, uint32_t n)
{
	struct delayed *s;

	if (n <= ar->cap_staged)
		return 0;
	s = realloc(ar->staged, n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	ar->staged = s;
	ar->cap_staged = n;
	return 0;
}

/* The copies go, nothing of them queued (their reservation is the caller's to return). */
static void staged_drop(struct attr_arena *ar)
{
	for (uint32_t i = 0; i < ar->n_staged; i++)
		free((char *)ar->staged[i].rec.container);
	if (ar->sender) {
		free(ar->sender->strings);
		free(ar->sender);
	}
	ar->sender = NULL;
	ar->n_staged = 0;
	ar->fallbacks = 0;
}

uint32_t attributor__hold(struct attributor *a, struct attr_arena *ar, struct wire_batch *b,
			  bool *keep)
{
	int64_t now = clock_wall_ms(), max_delay = LOAD(a->max_delay_ms);
	struct sender *sender = NULL;
	uint32_t want = 0;
	struct tally t = { 0 };
	int err;

	if (ar->n_staged || ar->reserved || ar->sender)
		attributor__hold_cancel(a, ar); /* an earlier hold left pending: the caller's bug */
	for (uint32_t i = 0; i < b->n_records; i++)
		want += !keep[i];
	if (!want)
		return 0;
	sender = sender_new(&b->sender);
	err = !sender || staged_room(ar, want) ? -ENOMEM : 0;
	if (!err) {
		pthread_mutex_lock(&a->qlock);
		a->staged += want;
		err = evicted_room(a);
		if (err)
			a->staged -= want;
		pthread_mutex_unlock(&a->qlock);
	}
	if (!err) {
		ar->sender = sender;
		ar->reserved = want;
	} else if (sender) {
		free(sender->strings);
		free(sender);
	}
	for (uint32_t i = 0; i < b->n_records; i++) {
		const struct flow_record *r = &b->records[i];

		if (keep[i])
			continue;
		if (!err) {
			struct delayed *d = &ar->staged[ar->n_staged];

			*d = (struct delayed){ .rec = *r,
					       .sender = sender,
					       .arrived_ms = now,
					       .deadline_ms = now + max_delay };
			d->rec.container = r->container ? strdup(r->container) : NULL;
			d->rec.local = &sender->id;
			if (!r->container || d->rec.container) {
				ar->n_staged++;
				continue;
			}
		}
		/* out of memory: the caller writes it now, unattributed, rather than lose it */
		keep[i] = true;
		unattributed(&b->records[i], &t, T_NONE);
	}
	ar->fallbacks = t.n[T_NONE];
	if (ar->sender)
		ar->sender->refs = ar->n_staged;
	return ar->n_staged;
}

void attributor__hold_journaled(struct attributor *a, struct attr_arena *ar, const uint64_t *refs,
				int64_t arrived_ms)
{
	int64_t max_delay = LOAD(a->max_delay_ms);

	for (uint32_t i = 0; i < ar->n_staged; i++) {
		struct delayed *d = &ar->staged[i];

		d->jref = refs ? refs[i] : 0;
		if (!arrived_ms)
			continue;
		/* a replayed record waits from when it first came, not again from now */
		d->arrived_ms = arrived_ms;
		d->deadline_ms = arrived_ms + max_delay;
	}
}

/* Returns the reservation attributor__hold took (under qlock). */
static void unreserve(struct attributor *a, struct attr_arena *ar)
{
	a->staged -= ar->reserved;
	ar->reserved = 0;
}

void attributor__hold_commit(struct attributor *a, struct attr_arena *ar)
{
	struct tally t = { .n[T_NONE] = ar->fallbacks };

	if (ar->reserved) {
		pthread_mutex_lock(&a->qlock);
		for (uint32_t i = 0; i < ar->n_staged; i++)
			enqueue(a, &ar->staged[i]);
		unreserve(a, ar);
		ADD(a->st.delayed_total, ar->n_staged);
		pthread_mutex_unlock(&a->qlock);
	}
	tally_flush(a, &t);
	if (ar->sender && !ar->n_staged) {
		free(ar->sender->strings);
		free(ar->sender);
	}
	/* the queue owns the copies and the sender now */
	ar->sender = NULL;
	ar->n_staged = 0;
	ar->fallbacks = 0;
}

void attributor__hold_cancel(struct attributor *a, struct attr_arena *ar)
{
	if (ar->reserved) {
		pthread_mutex_lock(&a->qlock);
		unreserve(a, ar);
		pthread_mutex_unlock(&a->qlock);
	}
	staged_drop(ar);
}

/* ---- evidence -------------------------------------------------------------- */

const char *attr_hb_refusal_name(enum attr_hb_refusal r)
{
	static const char *const names[ATTR_HB__COUNT] = {
		[ATTR_HB_FUTURE] = "future",
		[ATTR_HB_TOO_OLD] = "too_old",
		[ATTR_HB_TOO_LONG] = "too_long",
		[ATTR_HB_UNVERIFIED] = "unverified",
		[ATTR_HB_PENDING] = "pending",
		[ATTR_HB_UNAUTHENTICATED] = "unauthenticated",
		[ATTR_HB_POD_MISMATCH] = "pod_mismatch",
		[ATTR_HB_IP_MISMATCH] = "ip_mismatch",
	};

	return (unsigned)r < ATTR_HB__COUNT ? names[r] : "?";
}

/*
 * Whether a heartbeat span claims only what a sidecar can know: nothing
 * beyond now (give or take the clock skew), nothing older than what the
 * store keeps, and no more than one report's worth of time (a sidecar
 * reports every interval, and the grace is above that; the skew again for
 * a late timer).  ATTR_HB__COUNT if so, else the reason.
 */
static enum attr_hb_refusal span_refusal(const struct attributor *a, int64_t from, int64_t to,
					 int64_t now)
{
	if (to > now + LOAD(a->skew_ms))
		return ATTR_HB_FUTURE;
	if (from < now - LOAD(a->retention_ms))
		return ATTR_HB_TOO_OLD;
	if (to - from > LOAD(a->grace_ms) + LOAD(a->skew_ms))
		return ATTR_HB_TOO_LONG;
	return ATTR_HB__COUNT;
}

static uint64_t sender_key(uint64_t sender_id, const struct flow_identity *id)
{
	uint64_t h = 0xcbf29ce484222325ull ^ sender_id;
	const char *f[2] = { id->namespace, id->pod };

	for (int i = 0; i < 2; i++) {
		for (const char *p = f[i] ? f[i] : ""; *p; p++)
			h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
		h = (h ^ '/') * 0x100000001b3ull;
	}
	return h;
}

/* Counts a refusal; true the first time for this sender (the first HB_LOGGED_MAX by name). */
static bool count_refusal(struct attributor *a, enum attr_hb_refusal why, uint64_t sender_id,
			  const struct flow_identity *id)
{
	uint64_t key = sender_key(sender_id, id);
	bool seen = false, log_sender = false, log_overflow = false;

	ADD(a->st.heartbeats_refused[why], 1);
	pthread_mutex_lock(&a->rlock);
	for (uint32_t i = 0; i < a->n_refused_logged && !seen; i++)
		seen = a->refused_logged[i] == key;
	if (!seen && a->n_refused_logged < HB_LOGGED_MAX) {
		a->refused_logged[a->n_refused_logged++] = key;
		log_sender = true;
	} else if (!seen && !a->refused_overflow) {
		a->refused_overflow = true; /* says so once, then only counts */
		log_overflow = true;
	}
	pthread_mutex_unlock(&a->rlock);
	if (log_overflow)
		pr_warn("attribution: heartbeats refused from more than %d senders: further "
			"senders are only counted (podflow_collector_attribution_heartbeats_"
			"refused_total)",
			HB_LOGGED_MAX);
	return log_sender;
}

/* Counts a refused span; logs it once per sender. */
static void refuse_span(struct attributor *a, enum attr_hb_refusal why, uint64_t sender_id,
			const struct flow_identity *id, int64_t from, int64_t to, int64_t now)
{
	char who[2 * OWN_STRING_MAX + 8];

	if (!count_refusal(a, why, sender_id, id))
		return;
	snprintf(who, sizeof(who), "%s/%s", id->namespace ? id->namespace : "",
		 id->pod ? id->pod : "");
	log_flatten(who);
	pr_warn("attribution: heartbeat from %s (sender %016llx) refused (%s): it claims "
		"[%lld, %lld), %lld ms to %lld ms from now; allowed: ending at most "
		"attribution.heartbeat_max_skew (%lld ms) ahead, starting at most "
		"attribution.retention (%lld ms) ago, at most attribution.heartbeat_grace + "
		"heartbeat_max_skew (%lld ms) long. Its records are kept; its IPs are not used. "
		"Further refusals from this sender are only counted",
		who, (unsigned long long)sender_id, attr_hb_refusal_name(why), (long long)from,
		(long long)to, (long long)(from - now), (long long)(to - now),
		(long long)LOAD(a->skew_ms), (long long)LOAD(a->retention_ms),
		(long long)(LOAD(a->grace_ms) + LOAD(a->skew_ms)));
}

void attributor__heartbeat_refuse(struct attributor *a, enum attr_hb_refusal why,
				  const struct wire_batch *b, const char *detail)
{
	const struct flow_identity *id = &b->sender;
	char who[2 * OWN_STRING_MAX + 8], what[160];

	if (!wire_batch_claims(b))
		return; /* claims nothing */
	if (!count_refusal(a, why, b->sender_id, id) || why == ATTR_HB_PENDING)
		return;
	snprintf(who, sizeof(who), "%s/%s", id->namespace ? id->namespace : "",
		 id->pod ? id->pod : "");
	log_flatten(who);
	snprintf(what, sizeof(what), "%s", detail ? detail : "");
	log_flatten(what);
	pr_warn("attribution: heartbeat from %s (sender %016llx) refused (%s%s%s): its identity is "
		"not proven (attribution.verify_heartbeats). Its records are kept; its IPs are not "
		"used. Further refusals from this sender are only counted",
		who, (unsigned long long)b->sender_id, attr_hb_refusal_name(why),
		what[0] ? ": " : "", what);
}

struct kube_check {
	const struct flow_identity *claimed;
	int64_t t;
	bool other; /* a kube range covering t names another pod */
};

static bool same_str(const char *x, const char *y)
{
	return !strcmp(x ? x : "", y ? y : "");
}

static void kube_range(enum flow_source src, int64_t from, int64_t to,
		       const struct flow_identity *id, bool conflict, void *ctx)
{
	struct kube_check *k = ctx;

	(void)conflict;
	if (src != FLOW_SOURCE_KUBE || !id || k->t < from || k->t >= to)
		return;
	if (!same_str(id->namespace, k->claimed->namespace) || !same_str(id->pod, k->claimed->pod))
		k->other = true;
}

bool attributor__heartbeat_proven(struct attributor *a, const struct wire_batch *b)
{
	struct kube_check k = { .claimed = &b->sender };
	char who[2 * OWN_STRING_MAX + 8], ip[64];
	uint32_t bad = UINT32_MAX;

	if (!wire_batch_claims(b))
		return false;
	/*
	 * Only a contradiction refuses: the watch errs towards "nobody"
	 * (docs/kube.md), so an address it does not give to anyone yet may
	 * well be the sender's.
	 */
	if (a->o.watermark[FLOW_SOURCE_KUBE]) {
		k.t = b->span_end_ms > (uint64_t)INT64_MAX ? INT64_MAX - 1
							   : (int64_t)b->span_end_ms - 1;
		pthread_rwlock_rdlock(&a->lock);
		for (uint32_t i = 0; i < b->n_ips && bad == UINT32_MAX; i++) {
			own_each_range(a->store, b->ips[i], kube_range, &k);
			if (k.other)
				bad = i;
		}
		pthread_rwlock_unlock(&a->lock);
	}
	if (bad == UINT32_MAX)
		return attributor__heartbeat(a, b);
	if (!count_refusal(a, ATTR_HB_IP_MISMATCH, b->sender_id, &b->sender))
		return false;
	snprintf(who, sizeof(who), "%s/%s", b->sender.namespace ? b->sender.namespace : "",
		 b->sender.pod ? b->sender.pod : "");
	log_flatten(who);
	ip_format(b->ips[bad], ip, sizeof(ip));
	pr_warn("attribution: heartbeat from %s (sender %016llx) refused (ip_mismatch): it claims "
		"%s, which the pod watch gives to another pod at %lld. Its records are kept; its "
		"IPs are not used. Further refusals from this sender are only counted",
		who, (unsigned long long)b->sender_id, ip, (long long)k.t);
	return false;
}

bool attributor__heartbeat_empty(struct attributor *a, const struct wire_batch *b)
{
	if (wire_batch_claims(b))
		return false;
	if (b->n_ips)
		ADD(a->st.heartbeats_empty, 1);
	return true;
}

bool attributor__heartbeat(struct attributor *a, const struct wire_batch *b)
{
	int64_t now = clock_wall_ms(), from, to;
	enum attr_hb_refusal why;
	const struct flow_identity *id = &b->sender;

	if (attributor__heartbeat_empty(a, b))
		return false;
	/* beyond INT64_MAX is beyond any bound: "future" */
	to = b->span_end_ms > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)b->span_end_ms;
	from = b->span_start_ms > (uint64_t)to ? to : (int64_t)b->span_start_ms;
	why = span_refusal(a, from, to, now);
	if (why != ATTR_HB__COUNT) {
		refuse_span(a, why, b->sender_id, id, from, to, now);
		return false;
	}
	pthread_rwlock_wrlock(&a->lock);
	for (uint32_t i = 0; i < b->n_ips; i++)
		own_span(a->store, FLOW_SOURCE_HEARTBEAT, b->ips[i], id, from, to);
	pthread_rwlock_unlock(&a->lock);
	ADD(a->st.heartbeats, b->n_ips);
	if (a->o.publish)
		for (uint32_t i = 0; i < b->n_ips; i++)
			a->o.publish(a->o.publish_ctx, b->ips[i], id, from, to);
	return true;
}

void attributor__assign(struct attributor *a, enum flow_source src, const uint8_t ip[16],
			const struct flow_identity *id, int64_t t_ms)
{
	pthread_rwlock_wrlock(&a->lock);
	own_assign(a->store, src, ip, id, t_ms);
	pthread_rwlock_unlock(&a->lock);
}

void attributor__unassign(struct attributor *a, enum flow_source src, const uint8_t ip[16],
			  const struct flow_identity *id, int64_t t_ms)
{
	pthread_rwlock_wrlock(&a->lock);
	own_unassign(a->store, src, ip, id, t_ms);
	pthread_rwlock_unlock(&a->lock);
}

void attributor__span(struct attributor *a, enum flow_source src, const uint8_t ip[16],
		      const struct flow_identity *id, int64_t from_ms, int64_t to_ms)
{
	enum attr_hb_refusal why;
	int64_t now = clock_wall_ms();

	/* another replica's heartbeat range: held to what its sidecar could claim */
	why = src == FLOW_SOURCE_HEARTBEAT && from_ms >= 0 && from_ms <= to_ms
		  ? span_refusal(a, from_ms, to_ms, now)
		  : ATTR_HB__COUNT;
	if (why != ATTR_HB__COUNT) {
		refuse_span(a, why, 0, id, from_ms, to_ms, now);
		return;
	}
	pthread_rwlock_wrlock(&a->lock);
	own_span(a->store, src, ip, id, from_ms, to_ms);
	pthread_rwlock_unlock(&a->lock);
}

/* ---- the attributor's thread ---------------------------------------------- */

static int out_room(struct attributor *a, uint32_t n)
{
	struct flow_record *o;
	uint64_t *r;

	if (n <= a->cap_out)
		return 0;
	o = realloc(a->out, n * sizeof(*o));
	if (!o)
		return -ENOMEM;
	a->out = o;
	r = realloc(a->jrefs, n * sizeof(*r));
	if (!r)
		return -ENOMEM;
	a->jrefs = r;
	a->cap_out = n;
	return 0;
}

/* The records of a sweep, through the owner's writer. */
static int write_records(struct attributor *a, uint32_t n)
{
	struct wire_batch b = { .n_records = n, .records = a->out };

	return a->o.write(a->o.write_ctx, &b);
}

/*
 * When a feed that runs a known lag behind now (the pod watch: complete to
 * now - kube.lag while healthy) will cover a held record's last
 * millisecond, if that is still to come; INT64_MAX otherwise.  Only for
 * these is an early retry worth it: a claim settling (heartbeats alone)
 * waits heartbeat_grace, and a deadline max_delay, where the ticks' 250 ms
 * matter little and a retry per record's instant would cost a pass each.
 */
static int64_t record_due(const struct attributor *a, const struct delayed *d, int64_t now)
{
	const struct flow_record *r = &d->rec;
	int64_t t1 = (int64_t)(r->end_ms > r->start_ms ? r->end_ms - 1 : r->start_ms);
	int64_t due = INT64_MAX;

	if (d->not_before_ms > now) /* a claim settling: no lookup decides it before */
		return due;
	for (int s = 0; s < FLOW_SOURCE__COUNT; s++) {
		int64_t at = t1 + a->o.watermark_lag_ms[s];

		if (a->o.watermark[s] && a->o.watermark_lag_ms[s] > 0 && at > now && at < due)
			due = at;
	}
	return due;
}

/*
 * One pass over the held-back records: decided ones (and those past their
 * deadline, or all when `final`) are written, and leave the queue only once
 * the write succeeded; the rest keep their place.  A write that fails
 * (disk full) leaves everything queued: the next sweep decides and tries
 * again, so an acknowledged record is never dropped while the process
 * lives.  Under the queue lock throughout (a worker's hold waits).
 * Notes when a record it kept could be decided first (a->next_due_ms).
 * Returns how many journal references of written records a->jrefs holds.
 */
static uint32_t sweep(struct attributor *a, struct attr_arena *ar, bool final)
{
	int64_t now = clock_wall_ms(), grace = LOAD(a->grace_ms), due = INT64_MAX;
	uint32_t n_out = 0, kept = 0, len, cap = a->o.max_delayed, n_refs = 0;
	struct tally t = { 0 };
	int err;

	pthread_mutex_lock(&a->qlock);
	len = a->q_len;
	if (out_room(a, len + a->n_evicted)) {
		pthread_mutex_unlock(&a->qlock);
		pr_warn("attribution: out of memory sweeping %u held-back records", len);
		return 0;
	}
	arena_reset(ar);
	/* the evicted first: they are the oldest */
	for (uint32_t i = 0; i < a->n_evicted; i++) {
		a->out[n_out] = a->evicted[i].rec;
		unattributed(&a->out[n_out], &t, T_EVICTED);
		n_out++;
	}
	for (uint32_t base = 0; base < len; base += SWEEP_CHUNK) {
		uint32_t end = base + SWEEP_CHUNK < len ? base + SWEEP_CHUNK : len;

		pthread_rwlock_rdlock(&a->lock);
		for (uint32_t i = base; i < end; i++) {
			struct delayed *d = &a->q[(a->q_head + i) % cap];
			struct own_answer ans = { 0 };
			int64_t settles_at;
			enum decision dec;

			if (!final && now < d->not_before_ms && now < d->deadline_ms) {
				a->going[i] = false; /* a claim settling: no lookup can decide it */
				continue;
			}
			dec = decide(a, &d->rec, &ans, &settles_at);
			a->going[i] = !(dec == UNDECIDED && !final && now < d->deadline_ms);
			if (!a->going[i]) {
				/*
				 * Waiting for nothing but the heartbeat floor to
				 * pass settles_at: skip it until then (a retry
				 * pass over every held record costs).
				 */
				if (settles_at)
					d->not_before_ms = settles_at + grace + 1;
				due = MIN(due, record_due(a, d, now));
				continue;
			}
			a->out[n_out] = d->rec;
			if (dec == UNDECIDED)
				unattributed(&a->out[n_out], &t, T_EXPIRED);
			else
				settle(&a->out[n_out], dec, &ans, ar, &t);
			n_out++;
		}
		pthread_rwlock_unlock(&a->lock);
	}
	err = n_out ? write_records(a, n_out) : 0;
	if (err) {
		if (!a->write_failing || final)
			pr_warn("attribution: writing %u records decided late failed: %s; %s",
				n_out, strerror(-err),
				!final	       ? "they stay queued and are retried"
				: a->o.settled ? "the journal keeps them for the next start"
					       : "they are lost");
		a->write_failing = true;
		ADD(a->st.late_write_errors, final ? n_out : 0);
		ADD(a->st.late_write_retries, final ? 0 : 1);
		if (!final) {
			a->next_due_ms = INT64_MAX; /* all still held: retried on the ticks */
			pthread_mutex_unlock(&a->qlock);
			return 0;
		}
	} else {
		if (a->write_failing)
			pr_info("attribution: writing records decided late works again");
		a->write_failing = false;
		ADD(a->st.late_written, n_out);
	}
	/* written: their journal frames may go (not when the final write failed: replayed) */
	for (uint32_t i = 0; i < a->n_evicted; i++) {
		if (!err && a->evicted[i].jref)
			a->jrefs[n_refs++] = a->evicted[i].jref;
		delayed_release(&a->evicted[i]);
	}
	a->n_evicted = 0;
	for (uint32_t i = 0; i < len; i++) {
		struct delayed *d = &a->q[(a->q_head + i) % cap];

		if (!a->going[i]) {
			a->q[(a->q_head + kept++) % cap] = *d;
			continue;
		}
		metrics_histogram_observe(&a->delay_hist,
					  (uint64_t)(now - d->arrived_ms) * 1000000);
		if (!err && d->jref)
			a->jrefs[n_refs++] = d->jref;
		delayed_release(d);
	}
	a->q_len = kept;
	a->next_due_ms = due;
	pthread_mutex_unlock(&a->qlock);
	/* counted once written: whoever sees the counters move finds the records */
	if (!err)
		tally_flush(a, &t);
	ADD(a->st.sweeps, 1);
	return n_refs;
}

/* The journal learns what a sweep wrote (and ticks), outside the queue lock. */
static void settled(struct attributor *a, uint32_t n_refs)
{
	if (a->o.settled)
		a->o.settled(a->o.settled_ctx, a->jrefs, n_refs);
}

static void refresh_watermarks(struct attributor *a)
{
	pthread_rwlock_wrlock(&a->lock);
	own_set_heartbeat_floor(a->store, clock_wall_ms() - LOAD(a->grace_ms));
	pthread_rwlock_unlock(&a->lock);
	for (int s = FLOW_SOURCE_HEARTBEAT; s < FLOW_SOURCE__COUNT; s++) {
		int64_t w;

		if (!a->o.watermark[s])
			continue;
		w = a->o.watermark[s](a->o.watermark_ctx[s]);
		pthread_rwlock_wrlock(&a->lock);
		own_set_watermark(a->store, (enum flow_source)s, w);
		pthread_rwlock_unlock(&a->lock);
	}
}

/*
 * Sweeps come on wall-clock multiples of TICK_MS, not TICK_MS after the
 * last one.  Evidence completes on such instants: sidecars end their
 * intervals on multiples of the interval, and a record ending at E is
 * decidable at E + kube.lag (the pod watch) or E + heartbeat_grace
 * (heartbeats alone), both multiples of TICK_MS by default.  So its sweep
 * comes right then, not up to a tick later (docs/attribution.md,
 * "Freshness").
 */
int64_t attributor_next_sweep_ms(int64_t now_ms)
{
	return (now_ms / TICK_MS + 1) * TICK_MS;
}

static void *run(void *arg)
{
	struct attributor *a = arg;
	struct attr_arena *ar = attr_arena__new();
	int64_t next_prune = clock_wall_ms() + PRUNE_EVERY_MS;
	int64_t swept_at = 0, spacing = EARLY_MIN_MS, t0;

	if (!ar) {
		pr_warn("attribution: out of memory: held-back records are decided at exit only");
		return NULL;
	}
	pthread_mutex_lock(&a->qlock);
	while (!a->stop) {
		int64_t next = attributor_next_sweep_ms(clock_wall_ms());
		struct timespec until;

		/*
		 * A held record's evidence completes before the next tick: retry
		 * then, but not sooner than `spacing` after the last sweep (a
		 * pass over every held record costs; twice its own time at least).
		 */
		if (a->next_due_ms < next)
			next = MIN(next, MAX(a->next_due_ms, swept_at + spacing));
		until = (struct timespec){ .tv_sec = next / 1000,
					   .tv_nsec = (long)(next % 1000) * 1000000L };
		pthread_cond_timedwait(&a->wake, &a->qlock, &until);
		if (a->stop)
			break;
		pthread_mutex_unlock(&a->qlock);
		refresh_watermarks(a);
		t0 = clock_wall_ms();
		settled(a, sweep(a, ar, false));
		swept_at = clock_wall_ms();
		spacing = MAX(EARLY_MIN_MS, 2 * (swept_at - t0));
		if (clock_wall_ms() >= next_prune) {
			pthread_rwlock_wrlock(&a->lock);
			own_prune(a->store, clock_wall_ms() - LOAD(a->retention_ms));
			pthread_rwlock_unlock(&a->lock);
			next_prune = clock_wall_ms() + PRUNE_EVERY_MS;
		}
		pthread_mutex_lock(&a->qlock);
	}
	pthread_mutex_unlock(&a->qlock);
	attr_arena__free(ar);
	return NULL;
}

/* ---- lifecycle ------------------------------------------------------------- */

struct attributor *attributor__new(const struct attr_opts *o, char *why, size_t len)
{
	static const double bounds[] = { 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120 };
	struct own_limits lim = { .max_ranges = o->max_ranges };
	struct attributor *a = calloc(1, sizeof(*a));

	if (!a)
		goto fail_msg;
	a->o = *o;
	if (!a->o.max_delayed)
		a->o.max_delayed = 1;
	a->max_delay_ms = o->max_delay_ms;
	a->retention_ms = o->retention_ms;
	a->grace_ms = o->heartbeat_grace_ms;
	a->skew_ms = o->heartbeat_max_skew_ms;
	pthread_rwlock_init(&a->lock, NULL);
	pthread_mutex_init(&a->rlock, NULL);
	pthread_mutex_init(&a->qlock, NULL);
	pthread_cond_init(&a->wake, NULL);
	a->next_due_ms = INT64_MAX;
	metrics_histogram_init(&a->delay_hist, bounds, sizeof(bounds) / sizeof(bounds[0]));
	a->store = own_store__new(&lim);
	a->q = calloc(a->o.max_delayed, sizeof(*a->q));
	a->going = calloc(a->o.max_delayed, sizeof(*a->going));
	if (!a->store || !a->q || !a->going)
		goto fail_msg;
	for (int s = FLOW_SOURCE_HEARTBEAT; s < FLOW_SOURCE__COUNT; s++)
		if (o->watermark[s])
			own_set_watermark(a->store, (enum flow_source)s, 0);
	/* from the start, not from the first tick: what is older is settled */
	own_set_heartbeat_floor(a->store, clock_wall_ms() - o->heartbeat_grace_ms);
	return a;
fail_msg:
	snprintf(why, len, "attribution: out of memory");
	if (a) {
		own_store__free(a->store);
		free(a->q);
		free(a->going);
		free(a);
	}
	errno = ENOMEM;
	return NULL;
}

int attributor__start(struct attributor *a)
{
	int err = pthread_create(&a->thread, NULL, run, a);

	if (err)
		return -err;
	a->started = true;
	return 0;
}

void attributor__stop(struct attributor *a)
{
	struct attr_arena *ar;

	if (!a || a->stopped)
		return;
	a->stopped = true;
	if (a->started) {
		pthread_mutex_lock(&a->qlock);
		a->stop = true;
		pthread_cond_signal(&a->wake);
		pthread_mutex_unlock(&a->qlock);
		pthread_join(a->thread, NULL);
	}
	/* nothing held back is lost at a clean exit: decided as far as possible, written */
	ar = attr_arena__new();
	if (ar) {
		refresh_watermarks(a);
		/*
		 * No time to wait for rival claims: a heartbeat claim that
		 * nothing contradicts yet decides (docs/attribution.md).
		 */
		pthread_rwlock_wrlock(&a->lock);
		own_settle_heartbeats(a->store);
		pthread_rwlock_unlock(&a->lock);
		settled(a, sweep(a, ar, true));
		attr_arena__free(ar);
	}
}

void attributor__free(struct attributor *a)
{
	if (!a)
		return;
	attributor__stop(a);
	for (uint32_t i = 0; i < a->q_len; i++)
		delayed_release(&a->q[(a->q_head + i) % a->o.max_delayed]);
	for (uint32_t i = 0; i < a->n_evicted; i++)
		delayed_release(&a->evicted[i]);
	own_store__free(a->store);
	free(a->q);
	free(a->evicted);
	free(a->out);
	free(a->jrefs);
	free(a->going);
	pthread_rwlock_destroy(&a->lock);
	pthread_mutex_destroy(&a->qlock);
	pthread_mutex_destroy(&a->rlock);
	pthread_cond_destroy(&a->wake);
	free(a);
}

void attributor__set_limits(struct attributor *a, int64_t max_delay_ms, int64_t retention_ms,
			    int64_t heartbeat_grace_ms, int64_t heartbeat_max_skew_ms)
{
	__atomic_store_n(&a->skew_ms, heartbeat_max_skew_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&a->grace_ms, heartbeat_grace_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&a->max_delay_ms, max_delay_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&a->retention_ms, retention_ms, __ATOMIC_RELAXED);
}

/* ---- what it tells ---------------------------------------------------------- */

void attributor__stats(struct attributor *a, struct attr_stats *out)
{
	for (int s = FLOW_SOURCE_HEARTBEAT; s < FLOW_SOURCE__COUNT; s++)
		out->decided[s] = LOAD(a->st.decided[s]);
	out->unattributed_none = LOAD(a->st.unattributed_none);
	out->unattributed_conflict = LOAD(a->st.unattributed_conflict);
	out->unattributed_changed = LOAD(a->st.unattributed_changed);
	out->unattributed_expired = LOAD(a->st.unattributed_expired);
	out->unattributed_evicted = LOAD(a->st.unattributed_evicted);
	out->delayed_total = LOAD(a->st.delayed_total);
	out->late_written = LOAD(a->st.late_written);
	out->late_write_errors = LOAD(a->st.late_write_errors);
	out->late_write_retries = LOAD(a->st.late_write_retries);
	out->heartbeats = LOAD(a->st.heartbeats);
	out->heartbeats_empty = LOAD(a->st.heartbeats_empty);
	for (int r = 0; r < ATTR_HB__COUNT; r++)
		out->heartbeats_refused[r] = LOAD(a->st.heartbeats_refused[r]);
	out->sweeps = LOAD(a->st.sweeps);
	pthread_mutex_lock(&a->qlock);
	out->delayed_now = a->q_len + a->n_evicted;
	pthread_mutex_unlock(&a->qlock);
}

void attributor__own_stats(struct attributor *a, struct own_stats *out)
{
	pthread_rwlock_rdlock(&a->lock);
	own_stats(a->store, out);
	pthread_rwlock_unlock(&a->lock);
}

void attributor__metrics(struct attributor *a, struct metrics_writer *w)
{
	struct attr_stats s;
	struct own_stats o;

	attributor__stats(a, &s);
	attributor__own_stats(a, &o);
	metrics_writer__family(w, "podflow_collector_attribution_records_total", METRIC_COUNTER,
			       "Records by how their remote side was decided: the source that "
			       "named it, or why it is unattributed.");
	for (int i = FLOW_SOURCE_HEARTBEAT; i < FLOW_SOURCE__COUNT; i++)
		metrics_writer__u64(w,
				    METRIC_LABELS("result", flow_source_name((enum flow_source)i)),
				    s.decided[i]);
	metrics_writer__u64(w, METRIC_LABELS("result", "unattributed_none"), s.unattributed_none);
	metrics_writer__u64(w, METRIC_LABELS("result", "unattributed_conflict"),
			    s.unattributed_conflict);
	metrics_writer__u64(w, METRIC_LABELS("result", "unattributed_changed"),
			    s.unattributed_changed);
	metrics_writer__u64(w, METRIC_LABELS("result", "unattributed_expired"),
			    s.unattributed_expired);
	metrics_writer__u64(w, METRIC_LABELS("result", "unattributed_evicted"),
			    s.unattributed_evicted);
	metrics_writer__gauge(w, "podflow_collector_attribution_delayed_records",
			      "Records held back waiting for evidence.", s.delayed_now);
	metrics_writer__counter(w, "podflow_collector_attribution_delayed_total",
				"Records that had to wait for evidence.", s.delayed_total);
	metrics_writer__family(w, "podflow_collector_attribution_delay_seconds", METRIC_HISTOGRAM,
			       "How long held-back records waited before they were decided.");
	metrics_writer__histogram(w, NULL, &a->delay_hist);
	metrics_writer__counter(w, "podflow_collector_attribution_late_write_errors_total",
				"Records decided late that the output refused at exit (the journal "
				"keeps them for the next start; without one, lost).",
				s.late_write_errors);
	metrics_writer__counter(w, "podflow_collector_attribution_late_write_retries_total",
				"Sweeps whose write failed; their records stayed queued.",
				s.late_write_retries);
	metrics_writer__counter(w, "podflow_collector_attribution_heartbeats_total",
				"Heartbeat spans applied (one per sender IP per batch).",
				s.heartbeats);
	metrics_writer__counter(w, "podflow_collector_attribution_heartbeats_empty_total",
				"Heartbeats (one per batch) naming the sender's IPs over a span of "
				"no time, so claiming nothing (a report in the same millisecond as "
				"the one before).",
				s.heartbeats_empty);
	metrics_writer__family(w, "podflow_collector_attribution_heartbeats_refused_total",
			       METRIC_COUNTER,
			       "Heartbeats (one per batch or shared range) not used because they "
			       "claim time a sidecar cannot know (ending in the future, starting "
			       "before the retention, longer than the grace) or their sender is "
			       "not proven to be the pod it names (verify_heartbeats).");
	for (int r = 0; r < ATTR_HB__COUNT; r++)
		metrics_writer__u64(
		    w, METRIC_LABELS("reason", attr_hb_refusal_name((enum attr_hb_refusal)r)),
		    s.heartbeats_refused[r]);
	metrics_writer__gauge(w, "podflow_collector_ownership_ips",
			      "Addresses with ownership history.", o.ips);
	metrics_writer__gauge(w, "podflow_collector_ownership_ranges",
			      "Ownership spans and events held.", o.ranges);
	metrics_writer__gauge(w, "podflow_collector_ownership_identities", "Distinct owners held.",
			      o.identities);
	metrics_writer__gauge(w, "podflow_collector_ownership_bytes",
			      "Memory the ownership history holds.", o.bytes);
	metrics_writer__counter(w, "podflow_collector_ownership_conflicts_total",
				"Overlapping claims of one address by two owners.", o.conflicts);
	metrics_writer__counter(w, "podflow_collector_ownership_pruned_total",
				"Ranges dropped after attribution.retention.", o.pruned);
	metrics_writer__counter(w, "podflow_collector_ownership_evicted_total",
				"Ranges dropped early to stay within attribution.max_ranges.",
				o.evicted);
}

struct ranges_ctx {
	struct jsonw *jw;
};

static void range_json(enum flow_source src, int64_t from_ms, int64_t to_ms,
		       const struct flow_identity *id, bool conflict, void *ctx)
{
	struct jsonw *jw = ((struct ranges_ctx *)ctx)->jw;

	jsonw__arr_obj_begin(jw);
	jsonw__kv_str(jw, "source", flow_source_name(src));
	jsonw__kv_u64(jw, "from_ms", (uint64_t)from_ms);
	if (to_ms == OWN_FOREVER)
		jsonw__kv_null(jw, "to_ms");
	else
		jsonw__kv_u64(jw, "to_ms", (uint64_t)to_ms);
	jsonw__kv_bool(jw, "conflict", conflict);
	jsonw__kv_str(jw, "app", id && id->app ? id->app : "");
	jsonw__kv_str(jw, "namespace", id && id->namespace ? id->namespace : "");
	jsonw__kv_str(jw, "pod", id && id->pod ? id->pod : "");
	jsonw__kv_str(jw, "workload", id && id->workload ? id->workload : "");
	jsonw__kv_str(jw, "node", id && id->node ? id->node : "");
	jsonw__obj_end(jw);
}

void attributor__ranges_json(struct attributor *a, const uint8_t ip[16], struct jsonw *jw)
{
	struct ranges_ctx c = { .jw = jw };
	char text[64];

	jsonw__obj_begin(jw);
	jsonw__kv_str(jw, "ip", ip_format(ip, text, sizeof(text)));
	jsonw__kv_arr_begin(jw, "ranges");
	pthread_rwlock_rdlock(&a->lock);
	own_each_range(a->store, ip, range_json, &c);
	pthread_rwlock_unlock(&a->lock);
	jsonw__arr_end(jw);
	jsonw__obj_end(jw);
}
