// SPDX-License-Identifier: BSD-2-Clause
/* The pod watch's table: uid -> the identity and IPs last emitted, changes turned into calls. */
#define _GNU_SOURCE
#include "pod_table.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MIN_BUCKETS 1024

struct pod_entry {
	struct pod_entry *next;
	char *uid, *name, *ns, *app, *workload, *node;
	uint8_t ips[KUBE_POD_IPS_MAX][16];
	int64_t since[KUBE_POD_IPS_MAX]; /* when each IP was assigned */
	size_t n_ips;
	uint64_t gen; /* the list (or watch) generation that last saw it */
	bool host_network;
	bool ended; /* its IPs were given up: never assigned again */
};

struct pod_table {
	struct kube_callbacks cb;
	struct pod_entry **b;
	size_t nb, count, host_network, ips;
	uint64_t gen; /* bumped by each list; watch events carry the last list's */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct pod_entry **table_slot(struct pod_table *t, const char *uid)
{
	struct pod_entry **pp = &t->b[hash_str(uid) & (t->nb - 1)];

	while (*pp && strcmp((*pp)->uid, uid) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void entry_free(struct pod_entry *e)
{
	if (!e)
		return;
	free(e->uid);
	free(e->name);
	free(e->ns);
	free(e->app);
	free(e->workload);
	free(e->node);
	free(e);
}

struct pod_table *pod_table__new(const struct kube_callbacks *cb)
{
	struct pod_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cb = *cb;
	t->nb = TABLE_MIN_BUCKETS;
	t->b = calloc(t->nb, sizeof(*t->b));
	if (!t->b) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

void pod_table__free(struct pod_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nb; i++)
		while (t->b[i]) {
			struct pod_entry *e = t->b[i];

			t->b[i] = e->next;
			entry_free(e);
		}
	free(t->b);
	free(t);
}

static void table_grow(struct pod_table *t)
{
	size_t nb = t->nb * 2;
	struct pod_entry **b = calloc(nb, sizeof(*b));

	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < t->nb; i++)
		while (t->b[i]) {
			struct pod_entry *e = t->b[i];

			t->b[i] = e->next;
			e->next = b[hash_str(e->uid) & (nb - 1)];
			b[hash_str(e->uid) & (nb - 1)] = e;
		}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

/* ---- emitting ---- */

static struct kube_pod entry_pod(const struct pod_entry *e)
{
	return (struct kube_pod){ .uid = e->uid,
				  .id = { .app = e->app,
					  .namespace = e->ns,
					  .pod = e->name,
					  .node = e->node,
					  .workload = e->workload,
					  .account = "",
					  .region = "",
					  .zone = "" } };
}

static void emit_assign(struct pod_table *t, struct pod_entry *e, const uint8_t ip[16], int64_t ms)
{
	struct kube_pod pod = entry_pod(e);

	if (t->cb.assign)
		t->cb.assign(t->cb.ctx, ip, &pod, ms);
}

static void emit_unassign(struct pod_table *t, struct pod_entry *e, size_t i, int64_t ms)
{
	struct kube_pod pod = entry_pod(e);

	/* never before its own assignment: a range cannot end before it starts */
	if (ms < e->since[i])
		ms = e->since[i];
	if (t->cb.unassign)
		t->cb.unassign(t->cb.ctx, e->ips[i], &pod, ms);
}

/* Gives up every IP of `e` at ms; it is never assigned again. */
static void end_entry(struct pod_table *t, struct pod_entry *e, int64_t ms)
{
	for (size_t i = 0; i < e->n_ips; i++)
		emit_unassign(t, e, i, ms);
	t->ips -= e->n_ips;
	e->n_ips = 0;
	e->ended = true;
}

static bool same_identity(const struct pod_entry *e, const struct kube_pod *p)
{
	return strcmp(e->name, p->id.pod) == 0 && strcmp(e->ns, p->id.namespace) == 0 &&
	       strcmp(e->app, p->id.app) == 0 && strcmp(e->workload, p->id.workload) == 0 &&
	       strcmp(e->node, p->id.node) == 0;
}

/* 0 or -ENOMEM; on failure the entry keeps its old identity. */
static int set_identity(struct pod_entry *e, const struct kube_pod *p)
{
	char *name = strdup(p->id.pod), *ns = strdup(p->id.namespace), *app = strdup(p->id.app),
	     *wl = strdup(p->id.workload), *node = strdup(p->id.node);

	if (!name || !ns || !app || !wl || !node) {
		free(name);
		free(ns);
		free(app);
		free(wl);
		free(node);
		return -ENOMEM;
	}
	free(e->name);
	free(e->ns);
	free(e->app);
	free(e->workload);
	free(e->node);
	e->name = name;
	e->ns = ns;
	e->app = app;
	e->workload = wl;
	e->node = node;
	return 0;
}

static struct pod_entry *entry_new(struct pod_table *t, const struct kube_pod_info *p)
{
	struct pod_entry *e = calloc(1, sizeof(*e)), **slot;

	if (!e || !(e->uid = strdup(p->pod.uid)) || set_identity(e, &p->pod)) {
		entry_free(e);
		return NULL;
	}
	e->host_network = p->host_network;
	if (t->count >= t->nb)
		table_grow(t);
	slot = table_slot(t, e->uid);
	e->next = *slot;
	*slot = e;
	t->count++;
	t->host_network += e->host_network;
	return e;
}

static void entry_remove(struct pod_table *t, struct pod_entry **slot)
{
	struct pod_entry *e = *slot;

	*slot = e->next;
	t->count--;
	t->host_network -= e->host_network;
	t->ips -= e->n_ips;
	entry_free(e);
}

static bool has_ip(const uint8_t (*ips)[16], size_t n, const uint8_t ip[16])
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(ips[i], ip, 16) == 0)
			return true;
	return false;
}

int pod_table__apply(struct pod_table *t, const struct kube_pod_info *p, int64_t obs,
		     int64_t gap_wm)
{
	struct pod_entry *e = *table_slot(t, p->pod.uid);
	bool ending = p->terminal || p->deleting;
	int64_t ms;

	if (!e) {
		e = entry_new(t, p);
		if (!e)
			return -ENOMEM;
		/* first seen already ending: its IP may be someone else's soon, never assign */
		e->ended = ending;
	}
	e->gen = t->gen;
	/* hostNetwork pods share the node's IP (and spec.hostNetwork is immutable) */
	if (e->host_network || e->ended)
		return 0;
	if (ending) {
		end_entry(t, e, kube_pod_end_ms(p, obs));
		return 0;
	}
	if (!same_identity(e, &p->pod)) {
		/* relabelled: the old identity ends and the new one starts, now */
		for (size_t i = 0; i < e->n_ips; i++)
			emit_unassign(t, e, i, obs);
		if (set_identity(e, &p->pod))
			return -ENOMEM;
		for (size_t i = 0; i < e->n_ips; i++) {
			e->since[i] = obs;
			emit_assign(t, e, e->ips[i], obs);
		}
	}
	for (size_t i = 0; i < e->n_ips;) {
		if (has_ip(p->ips, p->n_ips, e->ips[i])) {
			i++;
			continue;
		}
		ms = gap_wm >= 0 ? gap_wm : obs;
		emit_unassign(t, e, i, ms);
		e->n_ips--;
		t->ips--;
		memmove(e->ips[i], e->ips[i + 1], (e->n_ips - i) * 16);
		memmove(&e->since[i], &e->since[i + 1], (e->n_ips - i) * sizeof(e->since[0]));
	}
	ms = kube_pod_assign_ms(p, obs);
	for (size_t i = 0; i < p->n_ips; i++) {
		if (has_ip((const uint8_t(*)[16])e->ips, e->n_ips, p->ips[i]) ||
		    e->n_ips >= KUBE_POD_IPS_MAX)
			continue;
		memcpy(e->ips[e->n_ips], p->ips[i], 16);
		e->since[e->n_ips] = ms;
		e->n_ips++;
		t->ips++;
		emit_assign(t, e, p->ips[i], ms);
	}
	return 0;
}

void pod_table__delete(struct pod_table *t, const struct kube_pod_info *p, int64_t obs)
{
	struct pod_entry **slot = table_slot(t, p->pod.uid);
	struct pod_entry *e = *slot;

	if (!e)
		return;
	if (!e->host_network && !e->ended)
		end_entry(t, e, kube_pod_end_ms(p, obs));
	entry_remove(t, slot);
}

void pod_table__list_begin(struct pod_table *t)
{
	t->gen++;
}

void pod_table__list_end(struct pod_table *t, int64_t gap_wm)
{
	for (size_t i = 0; i < t->nb; i++) {
		struct pod_entry **slot = &t->b[i];

		while (*slot) {
			struct pod_entry *e = *slot;

			if (e->gen == t->gen) {
				slot = &e->next;
				continue;
			}
			if (!e->host_network && !e->ended)
				end_entry(t, e, gap_wm);
			entry_remove(t, slot);
		}
	}
}

void pod_table__counts(const struct pod_table *t, struct pod_table_counts *out)
{
	out->pods = t->count;
	out->ips = t->ips;
	out->host_network = t->host_network;
}
