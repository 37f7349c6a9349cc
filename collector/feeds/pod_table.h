/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The pod watch's table: every pod it knows by uid, with the identity and
 * IPs it last said the pod owned and since when; each change it is told
 * of becomes assign/unassign calls, each IP assigned and unassigned once
 * (docs/kube.md, "Timing rules").
 *
 * Pure decisions: no I/O, no clock (every call says when it was
 * observed), no locking (one thread uses a table).  Times are Unix ms.
 * When a time is uncertain the table errs towards "nobody owned it":
 * assignments never start before the real one, unassignments never end
 * after it.
 */
#ifndef PODFLOW_COLLECTOR_POD_TABLE_H
#define PODFLOW_COLLECTOR_POD_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "kube_pod.h"

/* ip: 16 bytes, IPv4 as v4-mapped (::ffff:a.b.c.d); `pod` is valid during the call only. */
typedef void (*kube_ip_fn)(void *ctx, const uint8_t ip[16], const struct kube_pod *pod,
			   int64_t t_ms);

/* Called from within the table's methods, one at a time; the consumer does its own locking. */
struct kube_callbacks {
	kube_ip_fn assign;   /* `pod` owns `ip` from t_ms on */
	kube_ip_fn unassign; /* `pod` no longer owns `ip` from t_ms on (t_ms >= its assign) */
	void *ctx;
};

struct pod_table_counts {
	size_t pods;	     /* in the table, host-network and ended ones included */
	size_t ips;	     /* currently assigned */
	size_t host_network; /* pods with hostNetwork (never emitted) */
};

struct pod_table;

/* Copies `cb`.  NULL with errno set (ENOMEM). */
struct pod_table *pod_table__new(const struct kube_callbacks *cb);
/* Emits nothing; NULL is fine. */
void pod_table__free(struct pod_table *t);

/*
 * A pod's current state -- an ADDED or MODIFIED event, or a list item --
 * seen at obs.  gap_wm >= 0 for list items after a gap: an IP gone from a
 * pod went while nobody watched, so it is given up at the last complete
 * time rather than at obs.  0 or -ENOMEM (the pod is then as before, or
 * not in the table).
 */
int pod_table__apply(struct pod_table *t, const struct kube_pod_info *p, int64_t obs,
		     int64_t gap_wm);
/* A DELETED event seen at obs: its IPs are given up (if not already) and the pod forgotten. */
void pod_table__delete(struct pod_table *t, const struct kube_pod_info *p, int64_t obs);

/*
 * A list is about to be applied: pods it applies are marked as its own.
 * pod_table__list_end after a complete list gives up, at gap_wm, every
 * pod the list did not have (it vanished while nobody watched) and
 * forgets it.  A list that did not complete needs no end: the next one
 * begins afresh.
 */
void pod_table__list_begin(struct pod_table *t);
void pod_table__list_end(struct pod_table *t, int64_t gap_wm);

void pod_table__counts(const struct pod_table *t, struct pod_table_counts *out);

#endif /* PODFLOW_COLLECTOR_POD_TABLE_H */
