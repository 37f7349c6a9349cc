/* SPDX-License-Identifier: BSD-2-Clause */
/* The network namespaces of the processes in scope, for per-namespace socket walks. */
#ifndef PODFLOW_NETNS_H
#define PODFLOW_NETNS_H

#include <stdint.h>

/*
 * The iter/tcp walk sees the sockets of one network namespace: the one of
 * the thread that creates the iterator.  A pod's sidecar shares its pod's
 * namespace, but a node-wide scope spans many; this module finds them (the
 * namespaces of the processes in the scope's cgroup.procs files) and keeps
 * one fd open for each, so the walk can enter it with setns().
 */
struct netns_set;

/* `max` bounds the namespaces tracked; returns NULL with errno set. */
struct netns_set *netns_set__new(const char *scope_path, uint32_t max);
void netns_set__free(struct netns_set *ns);

/*
 * Rescans the scope.  Returns the number of namespaces other than our own
 * (0 for a pod's sidecar), or -errno.
 */
int netns_set__refresh(struct netns_set *ns);
/* fds of the foreign namespaces, netns_set__count() of them, for setns(). */
const int *netns_set__fds(const struct netns_set *ns);
uint32_t netns_set__count(const struct netns_set *ns);
/* fd of our own namespace, to come back after a setns(). */
int netns_set__self_fd(const struct netns_set *ns);

#endif /* PODFLOW_NETNS_H */
