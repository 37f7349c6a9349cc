// SPDX-License-Identifier: BSD-2-Clause
/* The network namespaces of the processes in scope, for per-namespace socket walks. */
#define _GNU_SOURCE
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

struct ns_entry {
	uint64_t ino;
	int seen; /* in the latest scan */
};

struct netns_set {
	char *scope;
	uint64_t self_ino;
	int self_fd;
	uint32_t max;
	uint32_t n;
	struct ns_entry *e;
	int *fds; /* fds[i] belongs to e[i]: contiguous, as capture__walk() takes them */
	int full_logged;
};

struct netns_set *netns_set__new(const char *scope_path, uint32_t max)
{
	struct netns_set *ns = calloc(1, sizeof(*ns));
	struct stat st;

	if (!ns)
		return NULL;
	ns->self_fd = -1;
	ns->scope = strdup(scope_path);
	ns->e = calloc(max ? max : 1, sizeof(*ns->e));
	ns->fds = calloc(max ? max : 1, sizeof(*ns->fds));
	ns->max = max;
	if (!ns->scope || !ns->e || !ns->fds)
		goto nomem;
	ns->self_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ns->self_fd < 0 || fstat(ns->self_fd, &st)) {
		int err = errno;

		netns_set__free(ns);
		errno = err;
		return NULL;
	}
	ns->self_ino = st.st_ino;
	return ns;
nomem:
	netns_set__free(ns);
	errno = ENOMEM;
	return NULL;
}

void netns_set__free(struct netns_set *ns)
{
	if (!ns)
		return;
	for (uint32_t i = 0; i < ns->n; i++)
		close(ns->fds[i]);
	if (ns->self_fd >= 0)
		close(ns->self_fd);
	free(ns->e);
	free(ns->fds);
	free(ns->scope);
	free(ns);
}

static void add_pid(struct netns_set *ns, const char *pid)
{
	char path[64];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/ns/net", pid);
	if (stat(path, &st))
		return; /* exited meanwhile */
	if ((uint64_t)st.st_ino == ns->self_ino)
		return;
	for (uint32_t i = 0; i < ns->n; i++) {
		if (ns->e[i].ino == (uint64_t)st.st_ino) {
			ns->e[i].seen = 1;
			return;
		}
	}
	if (ns->n == ns->max) {
		if (!ns->full_logged) {
			pr_warn("more than %u network namespaces in scope: flows in the others are "
				"reported at close only",
				ns->max);
			ns->full_logged = 1;
		}
		return;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ns->e[ns->n] = (struct ns_entry){ .ino = st.st_ino, .seen = 1 };
	ns->fds[ns->n++] = fd;
}

/* nftw has no user pointer: the scan is single-threaded and uses this. */
static struct netns_set *scanning;

static int scan_cgroup(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	char procs[4096], line[32];
	FILE *f;

	(void)st;
	(void)ftw;
	if (type != FTW_D)
		return 0;
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
	f = fopen(procs, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			add_pid(scanning, line);
	}
	fclose(f);
	return 0;
}

int netns_set__refresh(struct netns_set *ns)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < ns->n; i++)
		ns->e[i].seen = 0;
	scanning = ns;
	nftw(ns->scope, scan_cgroup, 16, FTW_PHYS | FTW_MOUNT);
	scanning = NULL;
	/* a namespace with no process in scope left has no live flow of ours to walk */
	for (uint32_t i = 0; i < ns->n; i++) {
		if (ns->e[i].seen) {
			ns->e[kept] = ns->e[i];
			ns->fds[kept++] = ns->fds[i];
		} else {
			close(ns->fds[i]);
		}
	}
	ns->n = kept;
	return (int)ns->n;
}

const int *netns_set__fds(const struct netns_set *ns)
{
	return ns->fds;
}

uint32_t netns_set__count(const struct netns_set *ns)
{
	return ns->n;
}

int netns_set__self_fd(const struct netns_set *ns)
{
	return ns->self_fd;
}
