/* SPDX-License-Identifier: BSD-2-Clause */
/* Integration-test support: a pod on a "node", and its containers started the way a container runtime starts them. */
#ifndef PODFLOW_IT_POD_H
#define PODFLOW_IT_POD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

/*
 * A "node": a cgroup subtree of the test's laid out as the kubelet's
 * systemd driver lays it out, R/kubepods.slice/kubepods-<qos>.slice/
 * kubepods-<qos>-pod<uid with _ for ->.slice, R standing for the host's
 * /sys/fs/cgroup; containers are cri-containerd-<id>.scope below the pod.
 */
struct pod_node {
	char root[256]; /* R */
	char pod[512];	/* the pod's cgroup */
};

/* mkdir R (named after `tag`) and the pod's cgroup for `qos` ("burstable", ...) and `uid`.  0 or -1. */
int pod_node_create(struct pod_node *n, const char *tag, const char *qos, const char *uid);
/* The container cgroup of `id` in the pod, created; its path in out.  0 or -1. */
int pod_container_cgroup(const struct pod_node *n, const char *id, char *out, size_t len);
/* Kills what is left and removes R. */
void pod_node_destroy(struct pod_node *n);

/* A bind mount in the container's private mount namespace. */
struct pod_bind {
	const char *src, *dst;
	bool ro;
};

/* How a runtime starts a container (runc's steps, in the forked child). */
struct pod_container {
	const char *bin;	      /* the binary */
	const char *const *args;      /* after the binary */
	const char *const *env;	      /* NAME=VALUE added to the environment, or NULL */
	const char *cgroup;	      /* joined, then a private cgroup namespace; NULL: stays */
	const struct pod_bind *binds; /* in a private mount namespace, until src NULL; NULL: none */
	uint64_t caps;	   /* the bounding set (capabilities.add, drop: ALL); ~0: not cut */
	int uid, gid;	   /* the user it runs as (setgroups to gid only); -1: root */
	const char *ready; /* on stderr once it is ready: "info: ready: " */
};

/*
 * Starts `c`, its stdout and stderr read into `p` (the harness's reader),
 * and waits up to timeout_ms for its ready line or its exit.  0 when
 * ready, -ECHILD when it exited first (p->status says how), -ETIMEDOUT.
 */
int pod_start(struct sidecar *p, const struct pod_container *c, int timeout_ms);

/* "NET_ADMIN" -> 12; -1 when not one of the names known here. */
int pod_cap_number(const char *name);
const char *pod_cap_name(int cap);

#endif /* PODFLOW_IT_POD_H */
