// SPDX-License-Identifier: BSD-2-Clause
/* Per-interval folding of kernel flow events into records; fixed memory. */
#include "flow_table.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../bpf/flow_event.h"
#include "ip.h"

struct ft_key {
	uint64_t cgroup_id;
	uint64_t sock_id; /* per-connection mode only */
	uint8_t local_addr[16];
	uint8_t remote_addr[16];
	uint16_t local_port;
	uint16_t remote_port;
	uint8_t direction;
	uint8_t _pad[3];
};

struct ft_entry {
	struct ft_key key;
	uint64_t hash;
	uint64_t start_ns;
	uint64_t end_ns;
	uint64_t srtt_ts_ns; /* per-connection: ts of the srtt kept */
	struct flow_record rec;
};

struct flow_table {
	enum flow_table_mode mode;
	uint32_t capacity; /* max entries */
	uint32_t count;
	uint32_t mask;	 /* index slots - 1 */
	uint32_t *index; /* slot -> entry number + 1, 0 = empty */
	struct ft_entry *entries;
	uint64_t cut_ns;
	struct flow_event *deferred;
	uint32_t n_deferred;
};

struct flow_table *flow_table__new(enum flow_table_mode mode, uint32_t capacity)
{
	struct flow_table *ft;
	uint32_t slots = 16;

	if (capacity == 0 || capacity > (1u << 24)) {
		errno = EINVAL;
		return NULL;
	}
	while (slots < capacity * 2) /* load factor <= 0.5 keeps probes short */
		slots <<= 1;
	ft = calloc(1, sizeof(*ft));
	if (!ft)
		return NULL;
	ft->mode = mode;
	ft->capacity = capacity;
	ft->mask = slots - 1;
	ft->index = calloc(slots, sizeof(*ft->index));
	ft->entries = calloc(capacity, sizeof(*ft->entries));
	ft->deferred = calloc(capacity, sizeof(*ft->deferred));
	if (!ft->index || !ft->entries || !ft->deferred) {
		flow_table__free(ft);
		errno = ENOMEM;
		return NULL;
	}
	return ft;
}

void flow_table__free(struct flow_table *ft)
{
	if (!ft)
		return;
	free(ft->index);
	free(ft->entries);
	free(ft->deferred);
	free(ft);
}

uint32_t flow_table__count(const struct flow_table *ft)
{
	return ft->count;
}

/* 64-bit FNV-1a with a final avalanche (splitmix64 finaliser). */
static uint64_t key_hash(const struct ft_key *k)
{
	const unsigned char *p = (const unsigned char *)k;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < sizeof(*k); i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

static void make_key(const struct flow_table *ft, const struct flow_event *ev, struct ft_key *k)
{
	memset(k, 0, sizeof(*k));
	k->cgroup_id = ev->cgroup_id;
	k->direction = ev->direction;
	memcpy(k->local_addr, ev->local_addr, 16);
	memcpy(k->remote_addr, ev->remote_addr, 16);
	if (ft->mode == FLOW_TABLE_PER_CONNECTION) {
		k->sock_id = ev->sock_id;
		k->local_port = ev->local_port;
		k->remote_port = ev->remote_port;
	} else if (ev->direction == FLOW_DIRECTION_IN) {
		k->local_port = ev->local_port; /* the service is ours */
	} else {
		k->remote_port = ev->remote_port;
	}
}

/* A new record: its key's fields, and the pid and comm of what made it. */
static void entry_init(struct ft_entry *e, const struct ft_key *k, uint32_t pid, const char *comm)
{
	struct flow_record *r = &e->rec;

	memset(r, 0, sizeof(*r));
	r->family = ip_is_v4mapped(k->local_addr) ? 4 : 6;
	/* the kernel's values are the record's; anything but IN reads as OUT, as in the JSON */
	r->direction = k->direction == FLOW_DIRECTION_IN ? FLOW_DIRECTION_IN : FLOW_DIRECTION_OUT;
	memcpy(r->local_addr, k->local_addr, 16);
	memcpy(r->remote_addr, k->remote_addr, 16);
	r->local_port = k->local_port;
	r->remote_port = k->remote_port;
	r->cgroup_id = k->cgroup_id;
	r->pid = pid;
	memcpy(r->comm, comm, FLOW_COMM_LEN);
	r->comm[FLOW_COMM_LEN] = '\0';
	e->start_ns = UINT64_MAX;
	e->end_ns = 0;
	e->srtt_ts_ns = 0;
}

static void fold(struct flow_table *ft, struct ft_entry *e, const struct flow_event *ev)
{
	struct flow_record *r = &e->rec;

	if (ev->start_ns < e->start_ns)
		e->start_ns = ev->start_ns;
	if (ev->ts_ns > e->end_ns)
		e->end_ns = ev->ts_ns;
	if (ev->kind != FLOW_KIND_LATE) { /* a LATE event adds to a flow already counted */
		/* per connection, one even when its INTERVAL and CLOSE share an interval */
		if (ft->mode == FLOW_TABLE_PER_CONNECTION)
			r->flows = 1;
		else
			r->flows++;
	}
	r->bytes_sent += ev->bytes_sent;
	r->bytes_received += ev->bytes_received;
	r->segs_sent += ev->segs_sent;
	r->segs_received += ev->segs_received;
	r->retransmits += ev->retransmits;
	r->resets += ev->resets;
	if (ev->kind == FLOW_KIND_CLOSE) {
		r->closed++;
		if (!(ev->flags & FLOW_F_ESTABLISHED))
			r->failed++;
		if (!r->err && ev->err)
			r->err = ev->err;
	}
	if (ft->mode == FLOW_TABLE_PER_CONNECTION) {
		/* latest value of this one connection */
		if (ev->ts_ns >= e->srtt_ts_ns) {
			e->srtt_ts_ns = ev->ts_ns;
			if (ev->srtt_us)
				r->srtt_us = ev->srtt_us;
			if (ev->min_rtt_us)
				r->min_rtt_us = ev->min_rtt_us;
		}
	} else {
		/* folded flows: worst smoothed RTT, best minimum RTT */
		if (ev->srtt_us > r->srtt_us)
			r->srtt_us = ev->srtt_us;
		if (ev->min_rtt_us && (!r->min_rtt_us || ev->min_rtt_us < r->min_rtt_us))
			r->min_rtt_us = ev->min_rtt_us;
	}
}

/* The record of key k, made with this pid and comm if new; NULL: the table is full. */
static struct ft_entry *entry_of(struct flow_table *ft, const struct ft_key *k, uint32_t pid,
				 const char *comm)
{
	uint64_t h = key_hash(k);
	struct ft_entry *e;
	uint32_t slot;

	for (slot = (uint32_t)h & ft->mask;; slot = (slot + 1) & ft->mask) {
		uint32_t idx = ft->index[slot];

		if (idx == 0)
			break;
		e = &ft->entries[idx - 1];
		if (e->hash == h && memcmp(&e->key, k, sizeof(*k)) == 0)
			return e;
	}
	if (ft->count == ft->capacity)
		return NULL;
	e = &ft->entries[ft->count];
	e->key = *k;
	e->hash = h;
	entry_init(e, k, pid, comm);
	ft->index[slot] = ++ft->count;
	return e;
}

static int add(struct flow_table *ft, const struct flow_event *ev)
{
	struct ft_entry *e;
	struct ft_key k;

	make_key(ft, ev, &k);
	e = entry_of(ft, &k, ev->pid, ev->comm);
	if (!e)
		return -ENOSPC;
	fold(ft, e, ev);
	return 0;
}

int flow_table__add_fold(struct flow_table *ft, const struct flow_fold_key *key,
			 const struct flow_fold *f)
{
	struct flow_record *r;
	struct ft_entry *e;
	struct ft_key k;

	/* the kernel's key is this table's in aggregate mode (sock_id 0, the service port) */
	memset(&k, 0, sizeof(k));
	k.cgroup_id = key->cgroup_id;
	k.direction = key->direction;
	memcpy(k.local_addr, key->local_addr, 16);
	memcpy(k.remote_addr, key->remote_addr, 16);
	k.local_port = key->local_port;
	k.remote_port = key->remote_port;
	e = entry_of(ft, &k, f->pid, f->comm);
	if (!e)
		return -ENOSPC;
	r = &e->rec;
	if (f->start_ns && f->start_ns < e->start_ns)
		e->start_ns = f->start_ns;
	if (f->end_ns > e->end_ns)
		e->end_ns = f->end_ns;
	r->flows += f->closed;
	r->closed += f->closed;
	r->failed += f->failed;
	r->bytes_sent += f->bytes_sent;
	r->bytes_received += f->bytes_received;
	r->segs_sent += f->segs_sent;
	r->segs_received += f->segs_received;
	r->retransmits += f->retransmits;
	r->resets += f->resets;
	if (!r->err && f->err)
		r->err = (uint16_t)f->err;
	if (f->srtt_us > r->srtt_us)
		r->srtt_us = f->srtt_us;
	if (f->min_rtt_us && (!r->min_rtt_us || f->min_rtt_us < r->min_rtt_us))
		r->min_rtt_us = f->min_rtt_us;
	return 0;
}

static bool close_deferred(const struct flow_table *ft, uint64_t sock_id)
{
	/* linear: LATE events are rare (an RST after an abortive close) */
	for (uint32_t i = 0; i < ft->n_deferred; i++)
		if (ft->deferred[i].sock_id == sock_id && ft->deferred[i].kind == FLOW_KIND_CLOSE)
			return true;
	return false;
}

int flow_table__add(struct flow_table *ft, const struct flow_event *ev)
{
	bool defer = false;

	if (ft->cut_ns && ft->n_deferred < ft->capacity) {
		if (ev->kind == FLOW_KIND_CLOSE)
			defer = ev->ts_ns > ft->cut_ns;
		else if (ev->kind == FLOW_KIND_LATE)
			defer = close_deferred(ft, ev->sock_id); /* stay with its close */
	}
	if (defer) {
		ft->deferred[ft->n_deferred++] = *ev;
		return 0;
	}
	return add(ft, ev);
}

void flow_table__set_cut(struct flow_table *ft, uint64_t cut_ns)
{
	ft->cut_ns = cut_ns;
}

static uint64_t to_wall_ms(uint64_t boot_ns, int64_t boot_to_wall_ns)
{
	return (uint64_t)((int64_t)boot_ns + boot_to_wall_ns) / 1000000ULL;
}

uint32_t flow_table__flush(struct flow_table *ft, uint64_t interval_start_ns,
			   int64_t boot_to_wall_ns, flow_table_emit_fn fn, void *ctx)
{
	uint32_t n = ft->count;

	for (uint32_t i = 0; i < n; i++) {
		struct ft_entry *e = &ft->entries[i];
		uint64_t start = e->start_ns;

		/* a connection begun in an earlier interval is reported from this one's start */
		if (start < interval_start_ns)
			start = interval_start_ns;
		e->rec.start_ms = to_wall_ms(start, boot_to_wall_ns);
		e->rec.end_ms = to_wall_ms(e->end_ns, boot_to_wall_ns);
		if (e->rec.end_ms < e->rec.start_ms)
			e->rec.end_ms = e->rec.start_ms;
		fn(&e->rec, ctx);
	}
	memset(ft->index, 0, ((size_t)ft->mask + 1) * sizeof(*ft->index));
	ft->count = 0;
	ft->cut_ns = 0;
	for (uint32_t i = 0; i < ft->n_deferred; i++)
		add(ft, &ft->deferred[i]); /* cannot fail: the table was just emptied */
	ft->n_deferred = 0;
	return n;
}
