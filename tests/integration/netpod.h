/* SPDX-License-Identifier: BSD-2-Clause */
/* Integration-test support: pods in network namespaces joined by a veth pair, their sidecars and one collector. */
#ifndef PODFLOW_IT_NETPOD_H
#define PODFLOW_IT_NETPOD_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"

/* A network namespace of the test's, one end of the veth pair. */
struct netpod_ns {
	char name[64];	/* `ip netns` name */
	char path[128]; /* /run/netns/<name>, for workload.h peers */
	char veth[16];
};

/* One pod: identity (the Downward API's), cgroups, the namespace its address lives in. */
struct netpod {
	const char *name, *namespace, *app, *workload, *ip;
	const char *node; /* NODE_NAME */
	const char *scope, *container;
	const struct netpod_ns *net;
};

/*
 * Namespaces <prefix>-<pid>-a and -b, or <prefix>-<pid>-<tag>-a and -b when
 * tag is not NULL (unique per run, and per test with a tag, so leftovers of
 * a killed run never clash), joined by a veth pair, lo up in both; a's end
 * gets the addresses ips_a, b's ips_b (NULL-terminated, each a /24).  0 or
 * -EIO (cleaned up).
 */
int netpod_net_up(struct netpod_ns *a, struct netpod_ns *b, const char *prefix, const char *tag,
		  const char *const *ips_a, const char *const *ips_b);
/* Deletes both namespaces (the veth pair goes with them); set up or not. */
void netpod_net_down(struct netpod_ns *a, struct netpod_ns *b);

/*
 * Children whose stderr pipes are drained while the test waits (a full
 * pipe blocks them): netpod_collector_start and netpod_sidecar_start add
 * theirs; netpod_kids_clear forgets them all (before they are freed).
 */
#define NETPOD_MAX_KIDS 8
void netpod_kid_add(struct sidecar *p);
void netpod_kids_clear(void);
/* Waits ms, reading what the children write meanwhile. */
void netpod_pump(int ms);

/* The collector on 127.0.0.1 the pods' sidecars export to. */
struct netpod_collector {
	struct sidecar p;
	uint16_t port, admin, api;
	char url[64];	/* http://127.0.0.1:<port> */
	char data[600]; /* its --data-dir */
};

/*
 * Starts the collector on 127.0.0.1 (--data-dir <dir>/data-<tag>, two
 * workers) with its admin endpoint and its API listener (the harness puts
 * both on ephemeral ports), plus `extra` (NULL-terminated, may be NULL).
 * 0 or -errno.
 */
int netpod_collector_start(struct netpod_collector *c, const char *dir, const char *tag,
			   const char *const *extra);

/*
 * The pod's sidecar: attached to its pod cgroup (a 300 ms interval, its own
 * admin port), its identity from the Downward API env, exporting to url.
 */
int netpod_sidecar_start(struct sidecar *sc, const struct netpod *p, const char *url);
/*
 * The same, with `extra` sidecar arguments after those (NULL-terminated,
 * may be NULL), and POD_IPS set to `pod_ips` when not NULL: what the
 * sidecar claims then (else POD_IP, the pod's own IP).
 */
int netpod_sidecar_start_with(struct sidecar *sc, const struct netpod *p, const char *url,
			      const char *pod_ips, const char *const *extra);

/*
 * One client process in pod `from` (its cgroup and netns) making `conns`
 * connections to addr:port, req bytes out and resp back on each; every
 * connect must end with errno `want_err` (0: established).  0, or -EIO
 * saying why.
 */
int netpod_client(const struct netpod *from, const char *addr, uint16_t port, int conns, size_t req,
		  size_t resp, int want_err);

#endif /* PODFLOW_IT_NETPOD_H */
