// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for sidecar/cgroup: container ids from paths, the cgroup2 mount, scope resolution. */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgroup.h"

#define ID		"3f5c0e1a2b4d6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708"
#define ID2		"aa11bb22cc33dd44ee55ff66aa77bb88cc99dd00ee11ff22aa33bb44cc55dd66"
#define POD_UID_SYSTEMD "0b1c2d3e_4f56_7890_abcd_ef1234567890"
#define POD_UID		"0b1c2d3e-4f56-7890-abcd-ef1234567890"
#define BURSTABLE_POD \
	"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" POD_UID_SYSTEMD ".slice"

_Static_assert(sizeof(ID) == 65 && sizeof(ID2) == 65, "container ids are 64 hex digits");

/* ---- cgroup_container_id ---- */

static void expect_id(const char *path, const char *want)
{
	char out[65];
	int err;

	memset(out, 'X', sizeof(out));
	err = cgroup_container_id(path, out, sizeof(out));
	if (err != 0 || strcmp(out, want) != 0) {
		print_error("%s: expected 0 and %s, got %d and %.65s\n", path, want, err, out);
		fail();
	}
}

static void expect_none(const char *path)
{
	char out[80];
	int err;

	memset(out, 'X', sizeof(out));
	err = cgroup_container_id(path, out, 65);
	/* no id, and nothing written */
	if (err != -ENOENT || memchr(out, '\0', sizeof(out)) != NULL) {
		print_error("%s: expected -ENOENT, got %d\n", path, err);
		fail();
	}
}

static void test_container_id_containerd_systemd(void **state)
{
	(void)state;
	expect_id(BURSTABLE_POD "/cri-containerd-" ID ".scope", ID);
	expect_id("/kubepods.slice/kubepods-pod" POD_UID_SYSTEMD ".slice/cri-containerd-" ID2
		  ".scope",
		  ID2);
}

static void test_container_id_crio(void **state)
{
	(void)state;
	expect_id(BURSTABLE_POD "/crio-" ID ".scope", ID);
	/* CRI-O's per-container monitor process is not the container */
	expect_none(BURSTABLE_POD "/crio-conmon-" ID ".scope");
}

static void test_container_id_docker(void **state)
{
	(void)state;
	expect_id("/system.slice/docker-" ID ".scope", ID);
	/* Docker with the cgroupfs driver */
	expect_id("/docker/" ID, ID);
}

static void test_container_id_cgroupfs(void **state)
{
	(void)state;
	expect_id("/kubepods/burstable/pod" POD_UID "/" ID, ID);
	expect_id("/kubepods/besteffort/pod" POD_UID "/" ID2, ID2);
	/* Guaranteed pods sit directly under /kubepods */
	expect_id("/kubepods/pod" POD_UID "/" ID, ID);
}

static void test_container_id_innermost(void **state)
{
	(void)state;
	/* the process sits in a sub-cgroup its container created */
	expect_id(BURSTABLE_POD "/cri-containerd-" ID ".scope/init", ID);
	expect_id("/kubepods/pod" POD_UID "/" ID "/app/worker", ID);
	/* a container inside a container: the inner one owns the process */
	expect_id(BURSTABLE_POD "/cri-containerd-" ID ".scope/docker/" ID2, ID2);
	expect_id("/system.slice/docker-" ID ".scope/system.slice/docker-" ID2 ".scope", ID2);
}

static void test_container_id_short_ids(void **state)
{
	(void)state;
	/* 12 hex digits (a short id) is the least accepted */
	expect_id("/system.slice/docker-0123456789ab.scope", "0123456789ab");
	expect_none("/system.slice/docker-0123456789a.scope");
	expect_none(BURSTABLE_POD "/cri-containerd-abc123.scope");
	expect_none("/kubepods/pod" POD_UID "/abc123");
	/* more than 64 digits is not an id */
	expect_none("/system.slice/docker-" ID "0.scope");
}

static void test_container_id_negatives(void **state)
{
	(void)state;
	expect_none("/");
	expect_none("");
	expect_none("/user.slice/user-1000.slice/session-2.scope");
	expect_none("/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service");
	/* pod level, no container */
	expect_none("/kubepods/burstable/pod" POD_UID);
	expect_none(BURSTABLE_POD);
	expect_none("/kubepods.slice");
	/* not hex, or not lower case */
	expect_none("/system.slice/docker-"
		    "3f5c0e1a2b4d6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70g.scope");
	expect_none("/system.slice/docker-"
		    "3F5C0E1A2B4D6F8091A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708.scope");
	expect_none("/kubepods/pod" POD_UID
		    "/3F5C0E1A2B4D6F8091A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708");
	/* a hex name whose parent is neither pod<uid> nor docker */
	expect_none("/system.slice/" ID);
	expect_none("/pod/" ID); /* "pod" with no uid */
	/* the prefix or suffix is not quite right */
	expect_none("/system.slice/docker-" ID ".slice");
	expect_none("/system.slice/containerd-" ID ".scope");
	expect_none("/system.slice/docker-.scope");
	expect_none("/system.slice/docker.scope");
}

static void test_container_id_buffer(void **state)
{
	char out[80];

	(void)state;
	/* 64 digits need 65 bytes */
	memset(out, 'X', sizeof(out));
	assert_int_equal(cgroup_container_id("/system.slice/docker-" ID ".scope", out, 65), 0);
	assert_string_equal(out, ID);
	assert_int_equal(out[65], 'X');

	/* one byte short: no id rather than a truncated one, and no write past len */
	memset(out, 'X', sizeof(out));
	assert_int_equal(cgroup_container_id("/system.slice/docker-" ID ".scope", out, 64),
			 -ENOENT);
	assert_null(memchr(out, '\0', sizeof(out)));
	memset(out, 'X', sizeof(out));
	assert_int_equal(cgroup_container_id("/kubepods/pod" POD_UID "/" ID, out, 64), -ENOENT);
	assert_null(memchr(out, '\0', sizeof(out)));
	/* a short id still fits */
	memset(out, 'X', sizeof(out));
	assert_int_equal(cgroup_container_id("/docker/0123456789ab", out, 13), 0);
	assert_string_equal(out, "0123456789ab");
}

/* ---- files in a temporary directory ---- */

struct tmp {
	char dir[PATH_MAX]; /* canonical: the functions under test compare realpath()s */
};

static int setup_tmp(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));
	char templ[] = "/tmp/podflow-test-cgroup.XXXXXX";

	if (!t || !mkdtemp(templ) || !realpath(templ, t->dir)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int teardown_tmp(void **state)
{
	struct tmp *t = *state;
	int rc;

	/* depth first, never following a symlink out of the test's directory */
	rc = nftw(t->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	free(t);
	return rc;
}

/* dir/name into out; the test fails rather than use a truncated path. */
static void path_join(char *out, size_t len, const struct tmp *t, const char *name)
{
	int n = snprintf(out, len, "%s/%s", t->dir, name);

	assert_true(n > 0 && (size_t)n < len);
}

/* Writes `text` to dir/name and returns the path in `path`. */
static void write_file(const struct tmp *t, const char *name, const char *text, char *path,
		       size_t len)
{
	FILE *f;

	path_join(path, len, t, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void make_dir(const struct tmp *t, const char *name)
{
	char path[PATH_MAX];

	path_join(path, sizeof(path), t, name);
	assert_int_equal(mkdir(path, 0755), 0);
}

/* ---- cgroup_v2_mount ---- */

static void test_v2_mount_hybrid(void **state)
{
	char path[PATH_MAX], out[PATH_MAX];

	write_file(*state, "mounts",
		   "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n"
		   "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
		   "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
		   "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
		   "cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0\n"
		   "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n",
		   path, sizeof(path));
	assert_int_equal(cgroup_v2_mount(path, out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/unified");
}

static void test_v2_mount_pure(void **state)
{
	char path[PATH_MAX], out[PATH_MAX];

	write_file(*state, "mounts",
		   "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
		   "cgroup2 /sys/fs/cgroup cgroup2 "
		   "rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0\n"
		   "/dev/sda1 / ext4 rw,relatime 0 0\n",
		   path, sizeof(path));
	assert_int_equal(cgroup_v2_mount(path, out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup");
}

static void test_v2_mount_none(void **state)
{
	char path[PATH_MAX], out[PATH_MAX] = "untouched";

	write_file(*state, "mounts",
		   "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
		   "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
		   /* a path containing "cgroup2" is not a cgroup2 mount */
		   "tmpfs /mnt/cgroup2 tmpfs rw 0 0\n",
		   path, sizeof(path));
	assert_int_equal(cgroup_v2_mount(path, out, sizeof(out)), -ENOENT);
	assert_string_equal(out, "untouched");
	write_file(*state, "empty", "", path, sizeof(path));
	assert_int_equal(cgroup_v2_mount(path, out, sizeof(out)), -ENOENT);
	path_join(path, sizeof(path), *state, "no-such-file");
	assert_int_equal(cgroup_v2_mount(path, out, sizeof(out)), -ENOENT);
}

/* ---- cgroup_default_scope ---- */

static void expect_scope(void **state, const char *proc_cgroup, const char *mount, const char *want)
{
	char path[PATH_MAX], out[PATH_MAX];

	write_file(*state, "cgroup", proc_cgroup, path, sizeof(path));
	assert_int_equal(cgroup_default_scope(mount, path, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void test_default_scope(void **state)
{
	expect_scope(state, "0::/kubepods.slice/pod.slice/cri-containerd-x.scope\n",
		     "/sys/fs/cgroup", "/sys/fs/cgroup/kubepods.slice/pod.slice");
	expect_scope(state, "0::/\n", "/sys/fs/cgroup", "/sys/fs/cgroup");
	expect_scope(state, "0::/top\n", "/sys/fs/cgroup", "/sys/fs/cgroup");
	/* no trailing newline */
	expect_scope(state, "0::/a/b", "/sys/fs/cgroup", "/sys/fs/cgroup/a");
	/* hybrid: v1 hierarchies first, the v2 line last */
	expect_scope(state,
		     "12:pids:/kubepods/burstable/pod" POD_UID "/" ID "\n"
		     "4:memory:/kubepods/burstable/pod" POD_UID "/" ID "\n"
		     "1:name=systemd:/kubepods/burstable/pod" POD_UID "/" ID "\n"
		     "0::/kubepods/burstable/pod" POD_UID "/" ID "\n",
		     "/sys/fs/cgroup/unified",
		     "/sys/fs/cgroup/unified/kubepods/burstable/pod" POD_UID);
}

static void test_default_scope_errors(void **state)
{
	char path[PATH_MAX], out[16];

	/* v1 only: no "0::" line */
	write_file(*state, "cgroup", "4:memory:/a/b\n1:name=systemd:/a/b\n", path, sizeof(path));
	assert_int_equal(cgroup_default_scope("/sys/fs/cgroup", path, out, sizeof(out)), -ENOENT);
	/* a v2 line that is not a path */
	write_file(*state, "cgroup", "0::\n", path, sizeof(path));
	assert_int_equal(cgroup_default_scope("/sys/fs/cgroup", path, out, sizeof(out)), -ENOENT);
	/* the result does not fit */
	write_file(*state, "cgroup", "0::/kubepods.slice/x.scope\n", path, sizeof(path));
	assert_int_equal(cgroup_default_scope("/sys/fs/cgroup", path, out, sizeof(out)),
			 -ENAMETOOLONG);
	path_join(path, sizeof(path), *state, "no-such-file");
	assert_int_equal(cgroup_default_scope("/sys/fs/cgroup", path, out, sizeof(out)), -ENOENT);
}

/* ---- cgroup_resolve ---- */

static void test_resolve_not_cgroup2(void **state)
{
	const struct tmp *t = *state;
	char out[PATH_MAX] = "untouched", why[PATH_MAX * 2 + 128], want[sizeof(why)];

	make_dir(t, "sub");
	/* relative, relative with the leading slash /proc/PID/cgroup prints, absolute */
	snprintf(want, sizeof(want), "--cgroup sub: %s/sub is not a cgroup v2 directory", t->dir);
	assert_int_equal(cgroup_resolve(t->dir, "sub", out, sizeof(out), why, sizeof(why)),
			 -ENOTDIR);
	assert_string_equal(why, want);
	snprintf(want, sizeof(want), "--cgroup /sub: %s/sub is not a cgroup v2 directory", t->dir);
	assert_int_equal(cgroup_resolve(t->dir, "/sub", out, sizeof(out), why, sizeof(why)),
			 -ENOTDIR);
	assert_string_equal(why, want);
	{
		char abs[PATH_MAX + 8];

		path_join(abs, sizeof(abs), t, "sub");
		snprintf(want, sizeof(want), "--cgroup %s: %s is not a cgroup v2 directory", abs,
			 abs);
		assert_int_equal(cgroup_resolve(t->dir, abs, out, sizeof(out), why, sizeof(why)),
				 -ENOTDIR);
		assert_string_equal(why, want);
	}
	assert_string_equal(out, "untouched");
}

static void test_resolve_missing(void **state)
{
	const struct tmp *t = *state;
	char out[PATH_MAX], why[PATH_MAX * 2 + 128], want[sizeof(why)];

	snprintf(want, sizeof(want), "--cgroup kubepods.slice/nope: %s/kubepods.slice/nope: %s",
		 t->dir, strerror(ENOENT));
	assert_int_equal(
	    cgroup_resolve(t->dir, "kubepods.slice/nope", out, sizeof(out), why, sizeof(why)),
	    -ENOENT);
	assert_string_equal(why, want);
}

static void test_resolve_outside_and_empty(void **state)
{
	const struct tmp *t = *state;
	char mount[PATH_MAX + 8], out[PATH_MAX], why[PATH_MAX * 2 + 128], want[sizeof(why)];

	make_dir(t, "m");
	make_dir(t, "m2");
	path_join(mount, sizeof(mount), t, "m");
	/* ".." out of the mount, even into a sibling that shares its prefix */
	snprintf(want, sizeof(want), "--cgroup ../m2: %s/m2 is outside the cgroup v2 mount %s",
		 t->dir, mount);
	assert_int_equal(cgroup_resolve(mount, "../m2", out, sizeof(out), why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, want);

	assert_int_equal(cgroup_resolve(mount, "", out, sizeof(out), why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "--cgroup: empty path");
	assert_int_equal(cgroup_resolve(mount, NULL, out, sizeof(out), why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "--cgroup: empty path");
}

static void test_resolve_real_cgroup2(void **state)
{
	char mount[PATH_MAX], real[PATH_MAX], out[PATH_MAX], why[PATH_MAX * 2 + 128];

	(void)state;
	if (cgroup_v2_mount("/proc/mounts", mount, sizeof(mount)) != 0) {
		/* STYLE.md: a missing kernel feature may skip a test only outside CI */
		const char *ci = getenv("CI");

		if (ci && strcmp(ci, "true") == 0)
			fail_msg("CI=true and no cgroup2 mount in /proc/mounts");
		print_message("no cgroup2 mount in /proc/mounts: skipped\n");
		skip();
	}
	assert_non_null(realpath(mount, real));
	why[0] = '\0';
	assert_int_equal(cgroup_resolve(real, "/", out, sizeof(out), why, sizeof(why)), 0);
	assert_string_equal(out, real);
	assert_string_equal(why, "");
	/* the mount given as an absolute path is the mount */
	assert_int_equal(cgroup_resolve(real, real, out, sizeof(out), why, sizeof(why)), 0);
	assert_string_equal(out, real);
	/* the result does not fit */
	assert_int_equal(cgroup_resolve(real, "/", out, 4, why, sizeof(why)), -ENAMETOOLONG);
}

/* ---- cgroup_id_of ---- */

static void test_id_of(void **state)
{
	const struct tmp *t = *state;
	char path[PATH_MAX + 8];
	struct stat st;
	uint64_t id = 0;

	make_dir(t, "c");
	path_join(path, sizeof(path), t, "c");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(cgroup_id_of(path, &id), 0);
	assert_int_equal(id, st.st_ino);
	path_join(path, sizeof(path), t, "gone");
	assert_int_equal(cgroup_id_of(path, &id), -ENOENT);
	/* a scope path that became a symlink is not the cgroup it points to */
	path_join(path, sizeof(path), t, "l");
	assert_int_equal(symlink("c", path), 0);
	assert_int_equal(cgroup_id_of(path, &id), 0);
	assert_true(id != st.st_ino);
}

/* ---- cgroup_names, over a directory tree shaped like a pod's cgroups ---- */

static uint64_t ino_of(const struct tmp *t, const char *name)
{
	char path[PATH_MAX + 256];
	struct stat st;

	path_join(path, sizeof(path), t, name);
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

static void test_names(void **state)
{
	const struct tmp *t = *state;
	const uint64_t rescan = 1000;
	struct cgroup_names *cn;
	uint64_t pod, c1, c2;

	make_dir(t, "pod" POD_UID);
	make_dir(t, "pod" POD_UID "/" ID);
	pod = ino_of(t, "pod" POD_UID);
	c1 = ino_of(t, "pod" POD_UID "/" ID);

	cn = cgroup_names__new(t->dir, 16, rescan);
	assert_non_null(cn);
	assert_int_equal(cgroup_names__scans(cn), 0);
	/* the first lookup walks the scope */
	assert_string_equal(cgroup_names__container_id(cn, c1, 5000), ID);
	assert_int_equal(cgroup_names__scans(cn), 1);
	/* known ids, container or not, need no walk */
	assert_string_equal(cgroup_names__container_id(cn, pod, 5001), "");
	assert_string_equal(cgroup_names__container_id(cn, c1, 5002), ID);
	assert_int_equal(cgroup_names__scans(cn), 1);
	assert_int_equal(cgroup_names__misses(cn), 0);

	/* a container created after the walk: found once the rescan interval has passed */
	make_dir(t, "pod" POD_UID "/" ID2);
	c2 = ino_of(t, "pod" POD_UID "/" ID2);
	assert_string_equal(cgroup_names__container_id(cn, c2, 5000 + rescan - 1), "");
	assert_int_equal(cgroup_names__scans(cn), 1);
	assert_int_equal(cgroup_names__misses(cn), 1);
	assert_string_equal(cgroup_names__container_id(cn, c2, 5000 + rescan), ID2);
	assert_int_equal(cgroup_names__scans(cn), 2);
	assert_int_equal(cgroup_names__misses(cn), 1);
	assert_string_equal(cgroup_names__container_id(cn, c1, 5000 + rescan), ID);

	/* the scope created again: its container is a new cgroup, named at once, not a miss */
	make_dir(t, "pod" POD_UID "-again");
	make_dir(t, "pod" POD_UID "-again/" ID);
	c2 = ino_of(t, "pod" POD_UID "-again/" ID);
	cgroup_names__reset(cn);
	assert_string_equal(cgroup_names__container_id(cn, c2, 5000 + rescan + 1), ID);
	assert_int_equal(cgroup_names__scans(cn), 3);
	assert_int_equal(cgroup_names__misses(cn), 1);

	cgroup_names__free(cn);
	cgroup_names__free(NULL);
}

/* ---- cgroup_pod_find: the pod's cgroup under --cgroup-root ---- */

/* mkdir -p dir/rel */
static void make_dirs(const char *dir, const char *rel)
{
	char path[PATH_MAX];

	assert_true((size_t)snprintf(path, sizeof(path), "%s/%s", dir, rel) < sizeof(path));
	for (char *p = path + strlen(dir) + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;

		*p = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		*p = c;
		if (!c)
			break;
	}
}

/* A fresh root under the test's directory: t->dir/<name>. */
static void fresh_root(const struct tmp *t, const char *name, char *root, size_t len)
{
	make_dir(t, name);
	path_join(root, len, t, name);
}

static void expect_pod(const char *root, const char *uid, const char *rel)
{
	char out[PATH_MAX], want[PATH_MAX], why[PATH_MAX * 2] = "";

	snprintf(want, sizeof(want), "%s/%s", root, rel);
	if (cgroup_pod_find(root, uid, out, sizeof(out), why, sizeof(why)) != 0 ||
	    strcmp(out, want) != 0) {
		print_error("expected %s, got %s (%s)\n", want, out, why);
		fail();
	}
}

static void test_pod_find_layouts(void **state)
{
	const struct tmp *t = *state;
	static const char *const layouts[] = {
		/* systemd driver: Burstable, BestEffort, Guaranteed */
		BURSTABLE_POD + 1,
		"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" POD_UID_SYSTEMD
		".slice",
		"kubepods.slice/kubepods-pod" POD_UID_SYSTEMD ".slice",
		/* cgroupfs driver */
		"kubepods/burstable/pod" POD_UID,
		"kubepods/besteffort/pod" POD_UID,
		"kubepods/pod" POD_UID,
		/* kind: the kubelet's --cgroup-root is /kubelet, found by the walk */
		"kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
		"kubelet-kubepods-besteffort-pod" POD_UID_SYSTEMD ".slice",
		"kubelet/kubepods/burstable/pod" POD_UID,
	};
	char root[PATH_MAX], name[16];

	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		snprintf(name, sizeof(name), "r%zu", i);
		fresh_root(t, name, root, sizeof(root));
		/* other pods and a container of ours beside and below */
		make_dirs(root, "kubepods.slice/kubepods-burstable.slice/"
				"kubepods-burstable-pod11111111_2222_3333_4444_555555555555.slice");
		make_dirs(root, "kubepods/burstable/pod11111111-2222-3333-4444-555555555555");
		make_dirs(root, layouts[i]);
		make_dirs(root, "system.slice/containerd.service");
		expect_pod(root, POD_UID, layouts[i]);
	}
}

/* A known place wins over what a walk would meet first. */
static void test_pod_find_known_first(void **state)
{
	const struct tmp *t = *state;
	char root[PATH_MAX];

	fresh_root(t, "k", root, sizeof(root));
	make_dirs(root, "a/kubepods-burstable-pod" POD_UID_SYSTEMD ".slice");
	make_dirs(root, BURSTABLE_POD + 1);
	expect_pod(root, POD_UID, BURSTABLE_POD + 1);
}

static void test_pod_find_bounds(void **state)
{
	const struct tmp *t = *state;
	char root[PATH_MAX], out[PATH_MAX], why[PATH_MAX * 2], deep[PATH_MAX + 64];
	char link[PATH_MAX + 64];

	/* deeper than the walk goes: not found, and said so */
	fresh_root(t, "deep", root, sizeof(root));
	snprintf(deep, sizeof(deep), "1/2/3/4/5/6/pod%s", POD_UID);
	make_dirs(root, deep);
	assert_int_equal(cgroup_pod_find(root, POD_UID, out, sizeof(out), why, sizeof(why)),
			 -ENOENT);
	assert_non_null(strstr(why, "no cgroup of pod " POD_UID " under it"));
	assert_non_null(strstr(why, "kubepods.slice/kubepods-<qos>-pod" POD_UID_SYSTEMD ".slice"));
	assert_non_null(strstr(why, "up to 6 levels deep"));
	/* at the deepest level it reaches: found */
	fresh_root(t, "deep5", root, sizeof(root));
	snprintf(deep, sizeof(deep), "1/2/3/4/5/pod%s", POD_UID);
	make_dirs(root, deep);
	expect_pod(root, POD_UID, deep);
	/* never through a symlink (cgroupfs has none: one here leads out) */
	fresh_root(t, "sym", root, sizeof(root));
	make_dirs(root, "elsewhere/pod" POD_UID);
	make_dirs(root, "inside");
	snprintf(link, sizeof(link), "%s/inside/l", root);
	snprintf(deep, sizeof(deep), "%s/elsewhere", root);
	assert_int_equal(symlink(deep, link), 0);
	expect_pod(root, POD_UID, "elsewhere/pod" POD_UID);
	snprintf(deep, sizeof(deep), "%s/elsewhere/pod%s", root, POD_UID);
	assert_int_equal(rmdir(deep), 0);
	assert_int_equal(cgroup_pod_find(root, POD_UID, out, sizeof(out), why, sizeof(why)),
			 -ENOENT);
	/* a file of the name is no cgroup */
	fresh_root(t, "file", root, sizeof(root));
	make_dirs(root, "kubepods/burstable");
	snprintf(deep, sizeof(deep), "%s/kubepods/burstable/pod%s", root, POD_UID);
	fclose(fopen(deep, "w"));
	assert_int_equal(cgroup_pod_find(root, POD_UID, out, sizeof(out), why, sizeof(why)),
			 -ENOENT);
	/* the result does not fit */
	fresh_root(t, "small", root, sizeof(root));
	make_dirs(root, "kubepods/pod" POD_UID);
	assert_int_equal(cgroup_pod_find(root, POD_UID, out, 8, why, sizeof(why)), -ENOENT);
}

/*
 * A symlink planted anywhere on the way is never followed (the cgroup
 * filesystem has none), not in the known places, not in the walk: a pod
 * cannot point the sidecar at a cgroup that is not its own.
 */
static void test_pod_find_symlinks(void **state)
{
	const struct tmp *t = *state;
	char root[PATH_MAX], out[PATH_MAX], why[PATH_MAX * 2], link[PATH_MAX + 64];
	char target[PATH_MAX + 64];

	/* another pod's tree, outside the root */
	make_dirs(t->dir, "outside/burstable/pod" POD_UID);
	make_dirs(t->dir, "outside/kubepods-burstable.slice/kubepods-burstable-pod" POD_UID_SYSTEMD
			  ".slice");
	snprintf(target, sizeof(target), "%s/outside", t->dir);

	/* a symlinked directory on a known path: refused, and nothing else found */
	fresh_root(t, "mid", root, sizeof(root));
	snprintf(link, sizeof(link), "%s/kubepods", root);
	assert_int_equal(symlink(target, link), 0);
	make_dirs(root, "kubepods.slice");
	snprintf(link, sizeof(link), "%s/kubepods.slice/kubepods-burstable.slice", root);
	snprintf(target, sizeof(target), "%s/outside/kubepods-burstable.slice", t->dir);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(cgroup_pod_find(root, POD_UID, out, sizeof(out), why, sizeof(why)),
			 -ENOENT);
	assert_non_null(strstr(why, "following no symlink: 2 met"));

	/* the pod's cgroup itself a symlink: refused */
	fresh_root(t, "last", root, sizeof(root));
	make_dirs(root, "kubepods/burstable");
	snprintf(link, sizeof(link), "%s/kubepods/burstable/pod%s", root, POD_UID);
	snprintf(target, sizeof(target), "%s/outside/burstable/pod%s", t->dir, POD_UID);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(cgroup_pod_find(root, POD_UID, out, sizeof(out), why, sizeof(why)),
			 -ENOENT);
	assert_non_null(strstr(why, "following no symlink: 1 met"));

	/* the real one found past a planted one that would come first */
	fresh_root(t, "both", root, sizeof(root));
	snprintf(link, sizeof(link), "%s/kubepods", root);
	snprintf(target, sizeof(target), "%s/outside", t->dir);
	assert_int_equal(symlink(target, link), 0);
	make_dirs(root, "kubelet/kubepods/burstable/pod" POD_UID);
	expect_pod(root, POD_UID, "kubelet/kubepods/burstable/pod" POD_UID);
}

static void test_pod_find_bad_uid(void **state)
{
	const struct tmp *t = *state;
	static const char *const bad[] = {
		"",	     "0B1C2D3E-4F56-7890-ABCD-EF1234567890",
		"../../etc", "pod*",
		"a b",	     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
	};
	char out[PATH_MAX], why[PATH_MAX * 2];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    cgroup_pod_find(t->dir, bad[i], out, sizeof(out), why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "is not a pod uid"));
	}
	assert_int_equal(cgroup_pod_find(t->dir, NULL, out, sizeof(out), why, sizeof(why)),
			 -EINVAL);
	/* a static pod's uid is a hash: 32 hex digits */
	make_dirs(t->dir, "kubepods.slice/kubepods-burstable.slice/"
			  "kubepods-burstable-pod0123456789abcdef0123456789abcdef.slice");
	expect_pod(t->dir, "0123456789abcdef0123456789abcdef",
		   "kubepods.slice/kubepods-burstable.slice/"
		   "kubepods-burstable-pod0123456789abcdef0123456789abcdef.slice");
}

static void test_root_check(void **state)
{
	const struct tmp *t = *state;
	char out[PATH_MAX], why[PATH_MAX * 2], mount[PATH_MAX], real[PATH_MAX];
	char missing[PATH_MAX];

	assert_int_equal(cgroup_root_check(t->dir, out, sizeof(out), why, sizeof(why)), -ENOTDIR);
	assert_non_null(strstr(why, "not a cgroup v2 filesystem"));
	path_join(missing, sizeof(missing), t, "none");
	assert_int_equal(cgroup_root_check(missing, out, sizeof(out), why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "No such file or directory"));
	assert_int_equal(cgroup_root_check("", out, sizeof(out), why, sizeof(why)), -EINVAL);
	if (cgroup_v2_mount("/proc/mounts", mount, sizeof(mount)) != 0) {
		const char *ci = getenv("CI");

		if (ci && strcmp(ci, "true") == 0)
			fail_msg("CI=true and no cgroup2 mount in /proc/mounts");
		skip();
	}
	assert_non_null(realpath(mount, real));
	assert_int_equal(cgroup_root_check(mount, out, sizeof(out), why, sizeof(why)), 0);
	assert_string_equal(out, real);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_container_id_containerd_systemd),
		cmocka_unit_test(test_container_id_crio),
		cmocka_unit_test(test_container_id_docker),
		cmocka_unit_test(test_container_id_cgroupfs),
		cmocka_unit_test(test_container_id_innermost),
		cmocka_unit_test(test_container_id_short_ids),
		cmocka_unit_test(test_container_id_negatives),
		cmocka_unit_test(test_container_id_buffer),
		cmocka_unit_test_setup_teardown(test_v2_mount_hybrid, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_v2_mount_pure, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_v2_mount_none, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_default_scope, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_default_scope_errors, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_resolve_not_cgroup2, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_resolve_missing, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_resolve_outside_and_empty, setup_tmp,
						teardown_tmp),
		cmocka_unit_test(test_resolve_real_cgroup2),
		cmocka_unit_test_setup_teardown(test_id_of, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_names, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_pod_find_layouts, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_pod_find_known_first, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_pod_find_bounds, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_pod_find_symlinks, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_pod_find_bad_uid, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_root_check, setup_tmp, teardown_tmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
