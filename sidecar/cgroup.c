// SPDX-License-Identifier: BSD-2-Clause
/* cgroup v2 paths: finding the mount, resolving the scope, naming containers. */
#define _GNU_SOURCE
#include "cgroup.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <mntent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "log.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

int cgroup_v2_mount(const char *mounts, char *out, size_t len)
{
	struct mntent *m;
	FILE *f;
	int err = -ENOENT;

	f = setmntent(mounts, "r");
	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, "cgroup2") == 0) {
			snprintf(out, len, "%s", m->mnt_dir);
			err = 0;
			break;
		}
	}
	endmntent(f);
	return err;
}

static int is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1 && dir[0] == '/')
		return path[0] == '/';
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

int cgroup_resolve(const char *mount, const char *arg, char *out, size_t len, char *why,
		   size_t whylen)
{
	char cand[PATH_MAX], real[PATH_MAX];
	struct statfs sfs;
	int n;

	if (!arg || !*arg) {
		snprintf(why, whylen, "--cgroup: empty path");
		return -EINVAL;
	}
	if (arg[0] == '/' && is_under(arg, mount))
		n = snprintf(cand, sizeof(cand), "%s", arg);
	else
		n = snprintf(cand, sizeof(cand), "%s/%s", mount, arg[0] == '/' ? arg + 1 : arg);
	if (n < 0 || (size_t)n >= sizeof(cand)) {
		snprintf(why, whylen, "--cgroup %s: path too long", arg);
		return -ENAMETOOLONG;
	}
	if (!realpath(cand, real)) {
		int err = -errno;

		snprintf(why, whylen, "--cgroup %s: %s: %s", arg, cand, strerror(-err));
		return err;
	}
	if (!is_under(real, mount)) {
		snprintf(why, whylen, "--cgroup %s: %s is outside the cgroup v2 mount %s", arg,
			 real, mount);
		return -EINVAL;
	}
	if (statfs(real, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		snprintf(why, whylen, "--cgroup %s: %s is not a cgroup v2 directory", arg, real);
		return -ENOTDIR;
	}
	if ((size_t)snprintf(out, len, "%s", real) >= len) {
		snprintf(why, whylen, "--cgroup %s: path too long", arg);
		return -ENAMETOOLONG;
	}
	return 0;
}

int cgroup_root_check(const char *root, char *out, size_t len, char *why, size_t whylen)
{
	char real[PATH_MAX];
	struct statfs sfs;

	if (!root || !*root) {
		snprintf(why, whylen, "--cgroup-root: empty path");
		return -EINVAL;
	}
	if (!realpath(root, real)) {
		int err = -errno;

		snprintf(why, whylen,
			 "--cgroup-root %s: %s (mount the host's /sys/fs/cgroup there, read-only)",
			 root, strerror(-err));
		return err;
	}
	if (statfs(real, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		snprintf(why, whylen,
			 "--cgroup-root %s: not a cgroup v2 filesystem (the host's /sys/fs/cgroup "
			 "must be cgroup v2, mounted there)",
			 root);
		return -ENOTDIR;
	}
	if ((size_t)snprintf(out, len, "%s", real) >= len) {
		snprintf(why, whylen, "--cgroup-root %s: path too long", root);
		return -ENAMETOOLONG;
	}
	return 0;
}

static bool pod_uid_ok(const char *uid)
{
	size_t n = strlen(uid);

	if (n < 1 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((uid[i] >= '0' && uid[i] <= '9') || (uid[i] >= 'a' && uid[i] <= 'f') ||
		      uid[i] == '-'))
			return false;
	return true;
}

/*
 * root/rel opened one component at a time, never through a symlink and
 * never above root ("." and ".." refused): what openat2()'s RESOLVE_BENEATH
 * | RESOLVE_NO_SYMLINKS do, without openat2 (the seccomp profiles of older
 * container runtimes answer it ENOSYS).  The cgroup filesystem has no
 * symlinks, so one met here was planted.  A directory fd, or -errno:
 * -ELOOP where a component is a symlink (`link` gets rel up to it),
 * -ENOTDIR where it is a file.
 */
static int open_beneath(const char *root, const char *rel, char *link, size_t linklen)
{
	char buf[PATH_MAX], *save = NULL;
	int fd, next, err;

	if ((size_t)snprintf(buf, sizeof(buf), "%s", rel) >= sizeof(buf))
		return -ENAMETOOLONG;
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* the operator's, canonical */
	if (fd < 0)
		return -errno;
	for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		struct stat st;

		if (strcmp(c, ".") == 0 || strcmp(c, "..") == 0) {
			close(fd);
			return -EINVAL;
		}
		next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			err = -errno;
			if (fstatat(fd, c, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
				err = -ELOOP;
				/* rel up to the symlink: buf is cut by strtok_r before c only */
				snprintf(link, linklen, "%.*s", (int)(c - buf + strlen(c)), rel);
			}
			close(fd);
			return err;
		}
		close(fd);
		fd = next;
	}
	return fd;
}

/* Symlinks met looking for the pod's cgroup: each counted once (the first 64), the first named. */
struct symlinks_met {
	uint32_t n;
	uint64_t seen[64]; /* FNV-1a of the paths */
	char first[PATH_MAX];
};

static void symlink_met(struct symlinks_met *sm, const char *rel)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *p = rel; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	for (uint32_t i = 0; i < sm->n && i < 64; i++)
		if (sm->seen[i] == h)
			return;
	if (sm->n < 64)
		sm->seen[sm->n] = h;
	if (!sm->n++)
		snprintf(sm->first, sizeof(sm->first), "%s", rel);
}

/* Whether root/rel is a directory reached without a symlink (one met is counted in sm). */
static bool is_dir_beneath(const char *root, const char *rel, struct symlinks_met *sm)
{
	char link[PATH_MAX];
	int fd = open_beneath(root, rel, link, sizeof(link));

	if (fd >= 0) {
		close(fd);
		return true;
	}
	if (fd == -ELOOP)
		symlink_met(sm, link);
	return false;
}

/* pod<uid> (cgroupfs) or ...-pod<uid_>.slice (systemd, any prefix). */
static bool pod_dir_name(const char *name, const char *cgroupfs, const char *systemd)
{
	size_t n = strlen(name), m = strlen(systemd);

	return strcmp(name, cgroupfs) == 0 ||
	       (n > m && strcmp(name + n - m, systemd) == 0 && name[n - m - 1] == '-');
}

/*
 * Breadth first from `root`, at most CGROUP_POD_WALK_MAX directories and
 * CGROUP_POD_WALK_DEPTH levels; never through a symlink (cgroupfs has none:
 * those met are counted in sm), each directory opened from root without one.
 * The queue holds paths relative to root; 0 with the first match in `out`,
 * -ENOENT, or -ENOMEM.
 */
static int walk_for_pod(const char *root, const char *cgroupfs, const char *systemd, char *out,
			size_t len, uint32_t *visited, struct symlinks_met *sm)
{
	struct item {
		char *rel;
		int depth;
	} *q = NULL;
	size_t head = 0, tail = 0, cap = 0;
	int err = -ENOENT;

	*visited = 0;
	q = calloc(1, sizeof(*q));
	if (!q || !(q[0].rel = strdup("")))
		goto nomem;
	cap = 1;
	tail = 1;
	while (head < tail && err == -ENOENT) {
		struct item it = q[head++];
		char link[PATH_MAX];
		int fd = open_beneath(root, it.rel, link, sizeof(link));
		struct dirent *de;
		DIR *d = NULL;

		if (fd == -ELOOP) /* a directory when read, a symlink now */
			symlink_met(sm, link);
		if (fd >= 0 && !(d = fdopendir(fd)))
			close(fd);
		while (d && (de = readdir(d)) && err == -ENOENT) {
			char rel[PATH_MAX];

			if (de->d_name[0] == '.')
				continue;
			if (snprintf(rel, sizeof(rel), "%s%s%s", it.rel, it.rel[0] ? "/" : "",
				     de->d_name) >= (int)sizeof(rel))
				continue;
			if (de->d_type == DT_LNK)
				symlink_met(sm, rel);
			if (de->d_type != DT_DIR)
				continue;
			if (pod_dir_name(de->d_name, cgroupfs, systemd)) {
				if ((size_t)snprintf(out, len, "%s/%s", root, rel) < len)
					err = 0;
				continue;
			}
			if (it.depth + 1 >= CGROUP_POD_WALK_DEPTH ||
			    *visited >= CGROUP_POD_WALK_MAX)
				continue;
			(*visited)++;
			if (tail == cap) {
				struct item *nq = realloc(q, cap * 2 * sizeof(*q));

				if (!nq) {
					closedir(d);
					free(it.rel);
					goto nomem;
				}
				q = nq;
				cap *= 2;
			}
			q[tail].rel = strdup(rel);
			q[tail].depth = it.depth + 1;
			if (!q[tail].rel) {
				closedir(d);
				free(it.rel);
				goto nomem;
			}
			tail++;
		}
		if (d)
			closedir(d);
		free(it.rel);
	}
	goto cleanup;
nomem:
	err = -ENOMEM;
cleanup:
	for (size_t i = head; q && i < tail; i++)
		free(q[i].rel);
	free(q);
	return err;
}

int cgroup_pod_find(const char *root, const char *uid, char *out, size_t len, char *why,
		    size_t whylen)
{
	static const char *const systemd_fmt[] = {
		"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice",
		"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice",
		"kubepods.slice/kubepods-pod%s.slice",
	};
	static const char *const cgroupfs_fmt[] = {
		"kubepods/burstable/pod%s",
		"kubepods/besteffort/pod%s",
		"kubepods/pod%s",
	};
	char uid_[72], cgroupfs[80], systemd[96], rel[160];
	struct symlinks_met sm = { 0 };
	uint32_t visited = 0;
	int err;

	if (!uid || !pod_uid_ok(uid)) {
		snprintf(why, whylen,
			 "POD_UID \"%.64s\" is not a pod uid (1 to 64 of 0-9, a-f and -): set it "
			 "from the Downward API's metadata.uid",
			 uid ? uid : "");
		return -EINVAL;
	}
	snprintf(uid_, sizeof(uid_), "%s", uid);
	for (char *p = uid_; *p; p++)
		if (*p == '-')
			*p = '_';
	for (size_t i = 0; i < 3; i++) {
		const char *fmt[2] = { systemd_fmt[i], cgroupfs_fmt[i] };

		for (int k = 0; k < 2; k++) {
			snprintf(rel, sizeof(rel), fmt[k], k ? uid : uid_);
			if (is_dir_beneath(root, rel, &sm)) {
				if ((size_t)snprintf(out, len, "%s/%s", root, rel) >= len)
					break;
				err = 0;
				goto found;
			}
		}
	}
	snprintf(cgroupfs, sizeof(cgroupfs), "pod%s", uid);
	snprintf(systemd, sizeof(systemd), "pod%s.slice", uid_);
	err = walk_for_pod(root, cgroupfs, systemd, out, len, &visited, &sm);
found:
	/* once: this runs once, at start */
	if (sm.n)
		pr_warn("--cgroup-root %s: %u symlinks not followed (the first: %s): the cgroup "
			"filesystem has none, so something planted them",
			root, sm.n, sm.first);
	if (!err)
		return 0;
	if (err == -ENOMEM) {
		snprintf(why, whylen, "--cgroup-root %s: out of memory looking for pod %s", root,
			 uid);
		return err;
	}
	snprintf(
	    why, whylen,
	    "--cgroup-root %s: no cgroup of pod %s under it (looked for "
	    "kubepods.slice/kubepods-<qos>-pod%s.slice and kubepods/<qos>/pod%s, then walked %u "
	    "directories up to %d levels deep, following no symlink: %u met): is the host's "
	    "/sys/fs/cgroup mounted there, and POD_UID this pod's metadata.uid?",
	    root, uid, uid_, uid, visited, CGROUP_POD_WALK_DEPTH, sm.n);
	return -ENOENT;
}

int cgroup_default_scope(const char *mount, const char *proc_cgroup, char *out, size_t len)
{
	char line[PATH_MAX + 64], *rel = NULL, *slash;
	FILE *f = fopen(proc_cgroup, "r");
	int n;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		/* the v2 hierarchy is the "0::/path" line */
		if (strncmp(line, "0::", 3) == 0) {
			rel = line + 3;
			rel[strcspn(rel, "\n")] = '\0';
			break;
		}
	}
	fclose(f);
	if (!rel || rel[0] != '/')
		return -ENOENT;
	slash = strrchr(rel, '/');
	if (slash == rel)
		rel[1] = '\0'; /* in a top-level cgroup, or the root: the scope is the root */
	else
		*slash = '\0';
	n = snprintf(out, len, "%s%s", mount, strcmp(rel, "/") == 0 ? "" : rel);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int cgroup_id_of(const char *path, uint64_t *id)
{
	struct stat st;

	/*
	 * Since Linux 5.5 a cgroup's id is its kernfs inode number.  Not
	 * through a symlink: a scope path that became one is not the cgroup
	 * attached to (check_scope then finds it gone, and the re-attach opens
	 * it with O_NOFOLLOW).
	 */
	if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	*id = st.st_ino;
	return 0;
}

static int is_hex_id(const char *s, size_t n)
{
	if (n < 12 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return 0;
	return 1;
}

/* "<prefix><id>.scope" -> id, for a component of length n. */
static int scope_id(const char *c, size_t n, const char *prefix, char *out, size_t len)
{
	size_t p = strlen(prefix), suffix = strlen(".scope");

	if (n <= p + suffix || strncmp(c, prefix, p) != 0 ||
	    strncmp(c + n - suffix, ".scope", suffix) != 0)
		return 0;
	if (!is_hex_id(c + p, n - p - suffix) || n - p - suffix >= len)
		return 0;
	memcpy(out, c + p, n - p - suffix);
	out[n - p - suffix] = '\0';
	return 1;
}

int cgroup_container_id(const char *path, char *out, size_t len)
{
	const char *end = path + strlen(path);

	/* innermost first: a process may sit in a sub-cgroup of its container */
	while (end > path) {
		const char *c = end, *prev_end, *prev;
		size_t n;

		while (c > path && c[-1] != '/')
			c--;
		n = (size_t)(end - c);
		if (n > 0) {
			if (scope_id(c, n, "cri-containerd-", out, len) ||
			    scope_id(c, n, "docker-", out, len))
				return 0;
			/* crio-conmon-<id>.scope is CRI-O's monitor, not the container */
			if (strncmp(c, "crio-conmon-", 12) != 0 &&
			    scope_id(c, n, "crio-", out, len))
				return 0;
			/* cgroupfs driver: .../pod<uid>/<id>, or Docker's /docker/<id> */
			prev_end = c > path ? c - 1 : path;
			prev = prev_end;
			while (prev > path && prev[-1] != '/')
				prev--;
			if (is_hex_id(c, n) && n < len &&
			    ((prev_end - prev > 3 && strncmp(prev, "pod", 3) == 0) ||
			     (prev_end - prev == 6 && strncmp(prev, "docker", 6) == 0))) {
				memcpy(out, c, n);
				out[n] = '\0';
				return 0;
			}
		}
		end = c > path ? c - 1 : path;
	}
	return -ENOENT;
}

struct cg_entry {
	uint64_t id;
	char container_id[65];
};

struct cgroup_names {
	char *scope;
	uint32_t max;
	uint32_t n;
	struct cg_entry *entries; /* sorted by id */
	uint64_t rescan_ns;
	uint64_t last_scan_ns;
	uint64_t scans;
	uint64_t misses;
	int truncated_logged;
	bool symlink_logged; /* a symlink in the scope, skipped: said once */
	bool stale;	     /* cgroup_names__reset: rescan at once, whatever rescan_ns says */
};

struct cgroup_names *cgroup_names__new(const char *scope_path, uint32_t max_cgroups,
				       uint64_t rescan_ns)
{
	struct cgroup_names *cn = calloc(1, sizeof(*cn));

	if (!cn)
		return NULL;
	cn->scope = strdup(scope_path);
	cn->entries = calloc(max_cgroups ? max_cgroups : 1, sizeof(*cn->entries));
	if (!cn->scope || !cn->entries) {
		cgroup_names__free(cn);
		errno = ENOMEM;
		return NULL;
	}
	cn->max = max_cgroups;
	cn->rescan_ns = rescan_ns;
	return cn;
}

void cgroup_names__free(struct cgroup_names *cn)
{
	if (!cn)
		return;
	free(cn->scope);
	free(cn->entries);
	free(cn);
}

/* nftw has no user pointer: the walk is single-threaded and uses this. */
static struct cgroup_names *walking;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct cg_entry *e;

	(void)ftw;
	if (type == FTW_SL && !walking->symlink_logged) {
		/* cgroupfs has none: planted, and not followed (FTW_PHYS) */
		pr_warn("%s is a symlink under the scope %s: not followed (said once)", path,
			walking->scope);
		walking->symlink_logged = true;
	}
	if (type != FTW_D)
		return 0;
	if (walking->n == walking->max) {
		if (!walking->truncated_logged) {
			pr_warn(
			    "more than %u cgroups under %s: container ids beyond them stay empty",
			    walking->max, walking->scope);
			walking->truncated_logged = 1;
		}
		return 1; /* stop the walk */
	}
	e = &walking->entries[walking->n++];
	e->id = st->st_ino;
	if (cgroup_container_id(path, e->container_id, sizeof(e->container_id)))
		e->container_id[0] = '\0';
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct cg_entry *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void rescan(struct cgroup_names *cn)
{
	cn->n = 0;
	walking = cn;
	/* FTW_PHYS: cgroupfs has no symlinks, but never follow one out of scope */
	nftw(cn->scope, walk_one, 16, FTW_PHYS | FTW_MOUNT);
	walking = NULL;
	qsort(cn->entries, cn->n, sizeof(*cn->entries), cmp_entry);
	cn->scans++;
}

static const struct cg_entry *find(const struct cgroup_names *cn, uint64_t id)
{
	uint32_t lo = 0, hi = cn->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (cn->entries[mid].id == id)
			return &cn->entries[mid];
		if (cn->entries[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void cgroup_names__reset(struct cgroup_names *cn)
{
	cn->n = 0;
	cn->stale = true;
}

const char *cgroup_names__container_id(struct cgroup_names *cn, uint64_t cgroup_id, uint64_t now_ns)
{
	const struct cg_entry *e = find(cn, cgroup_id);

	if (e)
		return e->container_id;
	if (cn->scans == 0 || cn->stale || now_ns - cn->last_scan_ns >= cn->rescan_ns) {
		cn->stale = false;
		cn->last_scan_ns = now_ns;
		rescan(cn);
		e = find(cn, cgroup_id);
		if (e)
			return e->container_id;
	}
	cn->misses++;
	return "";
}

uint64_t cgroup_names__scans(const struct cgroup_names *cn)
{
	return cn->scans;
}

uint64_t cgroup_names__misses(const struct cgroup_names *cn)
{
	return cn->misses;
}
