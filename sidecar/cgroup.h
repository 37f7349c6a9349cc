/* SPDX-License-Identifier: BSD-2-Clause */
/* cgroup v2 paths: finding the mount, resolving the scope, naming containers. */
#ifndef PODFLOW_CGROUP_H
#define PODFLOW_CGROUP_H

#include <stddef.h>
#include <stdint.h>

/* The cgroup2 mount point, from `mounts` (normally "/proc/mounts"). 0 or -ENOENT. */
int cgroup_v2_mount(const char *mounts, char *out, size_t len);

/*
 * Resolves a --cgroup argument: an absolute path on the cgroup2 mount, or a
 * path relative to the mount ("kubepods.slice/x", or "/kubepods.slice/x" as
 * /proc/PID/cgroup prints it).  `out` gets the canonical absolute path.
 * Returns 0 or a negative errno, with a one-line reason in `why`.
 */
int cgroup_resolve(const char *mount, const char *arg, char *out, size_t len, char *why,
		   size_t whylen);

/*
 * Checks --cgroup-root: an existing cgroup v2 directory (the host's
 * cgroup2 filesystem, or any cgroup under it).  `out` gets its canonical
 * path.  0 or a negative errno with one line in `why`.
 */
int cgroup_root_check(const char *root, char *out, size_t len, char *why, size_t whylen);

/*
 * The cgroup of the pod whose metadata.uid is `uid`, under `root` (where
 * the host's cgroup2 filesystem is mounted: --cgroup-root).  The kubelet
 * names it by the uid and the pod's QoS class:
 *
 *   systemd driver:  kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice
 *                    kubepods.slice/kubepods-pod<uid_>.slice (Guaranteed)
 *   cgroupfs driver: kubepods/<qos>/pod<uid>, kubepods/pod<uid> (Guaranteed)
 *
 * (<qos> burstable or besteffort, <uid_> the uid with '_' for '-').  Those
 * six are tried first; then, for kubelets with another --cgroup-root (kind
 * nests them under kubelet.slice/kubelet-kubepods.slice), a breadth-first
 * walk of at most CGROUP_POD_WALK_MAX directories, CGROUP_POD_WALK_DEPTH
 * deep, for a directory named pod<uid> or ending in -pod<uid_>.slice.
 * `uid` must be 1 to 64 of [0-9a-f-] (a UUID, or a static pod's hash).
 * 0 with the path in `out` (root joined with what was found; the caller
 * checks it is a cgroup, cgroup_resolve), or -EINVAL (bad uid) / -ENOENT
 * (none) with one line in `why`.
 */
#define CGROUP_POD_WALK_MAX   65536
#define CGROUP_POD_WALK_DEPTH 6
int cgroup_pod_find(const char *root, const char *uid, char *out, size_t len, char *why,
		    size_t whylen);

/* Parent of the cgroup v2 path in `proc_cgroup` (a /proc/PID/cgroup file). */
int cgroup_default_scope(const char *mount, const char *proc_cgroup, char *out, size_t len);

/* The cgroup id (kernfs inode) of a cgroup directory. */
int cgroup_id_of(const char *path, uint64_t *id);

/*
 * Container id of a cgroup path, from the innermost component that names
 * one: containerd `cri-containerd-<id>.scope`, CRI-O `crio-<id>.scope`,
 * Docker `docker-<id>.scope`, cgroupfs `.../pod<uid>/<id>` (and
 * `/docker/<id>`).  0 with the id in `out`, or -ENOENT.
 */
int cgroup_container_id(const char *path, char *out, size_t len);

/*
 * Cache of cgroup id -> container id for the cgroups under one scope,
 * rebuilt by walking the scope when an unknown id shows up (at most once per
 * `rescan_ns`).  Bounded by `max_cgroups`.
 */
struct cgroup_names;

struct cgroup_names *cgroup_names__new(const char *scope_path, uint32_t max_cgroups,
				       uint64_t rescan_ns);
void cgroup_names__free(struct cgroup_names *cn);
/* The scope was created again: what the cache holds is stale; the next unknown id rescans. */
void cgroup_names__reset(struct cgroup_names *cn);
/* "" when the cgroup is not a container's or is gone; never NULL. */
const char *cgroup_names__container_id(struct cgroup_names *cn, uint64_t cgroup_id,
				       uint64_t now_ns);
/* Walks performed, and lookups that found no cgroup with that id. */
uint64_t cgroup_names__scans(const struct cgroup_names *cn);
uint64_t cgroup_names__misses(const struct cgroup_names *cn);

#endif /* PODFLOW_CGROUP_H */
