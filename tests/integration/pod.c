// SPDX-License-Identifier: BSD-2-Clause
/* Integration-test support: a pod on a "node", and its containers started the way a container runtime starts them. */
#define _GNU_SOURCE
#include "pod.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct {
	const char *name;
	int cap;
} cap_names[] = {
	{ "CHOWN", 0 },
	{ "DAC_OVERRIDE", 1 },
	{ "DAC_READ_SEARCH", 2 },
	{ "FOWNER", 3 },
	{ "KILL", 5 },
	{ "SETGID", 6 },
	{ "SETUID", 7 },
	{ "SETPCAP", 8 },
	{ "NET_BIND_SERVICE", 10 },
	{ "NET_ADMIN", 12 },
	{ "NET_RAW", 13 },
	{ "IPC_LOCK", 14 },
	{ "SYS_CHROOT", 18 },
	{ "SYS_PTRACE", 19 },
	{ "SYS_ADMIN", 21 },
	{ "SYS_RESOURCE", 24 },
	{ "PERFMON", 38 },
	{ "BPF", 39 },
	{ "CHECKPOINT_RESTORE", 40 },
};

int pod_cap_number(const char *name)
{
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		if (strcmp(cap_names[i].name, name) == 0)
			return cap_names[i].cap;
	return -1;
}

const char *pod_cap_name(int cap)
{
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		if (cap_names[i].cap == cap)
			return cap_names[i].name;
	return "?";
}

int pod_node_create(struct pod_node *n, const char *tag, const char *qos, const char *uid)
{
	char rel[128], under[64];

	memset(n, 0, sizeof(*n));
	snprintf(rel, sizeof(rel), "podflow-it-%s-%d", tag, (int)getpid());
	snprintf(under, sizeof(under), "%s", uid);
	for (char *p = under; *p; p++)
		if (*p == '-')
			*p = '_';
	if (harness_cgroup_create(rel, n->root, sizeof(n->root)))
		return -1;
	snprintf(n->pod, sizeof(n->pod),
		 "%s/kubepods.slice/kubepods-%s.slice/kubepods-%s-pod%s.slice", n->root, qos, qos,
		 under);
	return harness_sh("mkdir -p %s", n->pod);
}

int pod_container_cgroup(const struct pod_node *n, const char *id, char *out, size_t len)
{
	snprintf(out, len, "%s/cri-containerd-%s.scope", n->pod, id);
	return harness_sh("mkdir -p %s", out);
}

void pod_node_destroy(struct pod_node *n)
{
	if (n->root[0])
		harness_cgroup_destroy(n->root);
}

static void child_fail(const char *what)
{
	fprintf(stderr, "    container set-up: %s: %s\n", what, strerror(errno));
	_exit(126);
}

/* In the forked child: what runc does before it runs the container's entrypoint. */
static void enter_container(const struct pod_container *c)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	char procs[700];
	int last = 40;
	FILE *f;

	if (c->cgroup) {
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", c->cgroup);
		f = fopen(procs, "w");
		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f))
			child_fail("join the container cgroup");
		/* after joining: the namespace's root is the container's cgroup */
		if (unshare(CLONE_NEWCGROUP))
			child_fail("unshare the cgroup namespace");
	}
	if (c->binds) {
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
			child_fail("a private mount namespace");
		for (const struct pod_bind *b = c->binds; b->src; b++) {
			if (mount(b->src, b->dst, NULL, MS_BIND, NULL))
				child_fail(b->dst);
			if (b->ro &&
			    mount(NULL, b->dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL))
				child_fail(b->dst);
		}
	}
	/* the bounding set cut while still root (CAP_SETPCAP), then the user */
	if (c->caps != ~0ULL) {
		f = fopen("/proc/sys/kernel/cap_last_cap", "r");
		if (f) {
			if (fscanf(f, "%d", &last) != 1)
				last = 40;
			fclose(f);
		}
		for (int cap = 0; cap <= last; cap++)
			if (!(c->caps & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
				child_fail("PR_CAPBSET_DROP");
		if (syscall(SYS_capget, &hdr, data))
			child_fail("capget");
		data[0].inheritable = data[1].inheritable = 0;
		if (syscall(SYS_capset, &hdr, data))
			child_fail("capset");
	}
	if (c->gid >= 0) {
		gid_t g = (gid_t)c->gid;

		if (setgroups(1, &g) || setresgid(g, g, g))
			child_fail("setgid");
	}
	/* a user other than root keeps no capability across this (no SECBIT_KEEP_CAPS) */
	if (c->uid >= 0 && setresuid((uid_t)c->uid, (uid_t)c->uid, (uid_t)c->uid))
		child_fail("setuid");
	if (c->caps != ~0ULL && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		child_fail("no_new_privs");
	for (size_t i = 0; c->env && c->env[i]; i++)
		putenv((char *)c->env[i]);
}

int pod_start(struct sidecar *p, const struct pod_container *c, int timeout_ms)
{
	int out[2], err[2];
	const char *argv[64];
	uint64_t deadline;
	int n = 0;

	memset(p, 0, sizeof(*p));
	p->records = json_array();
	argv[n++] = c->bin;
	for (int i = 0; c->args[i] && n < 63; i++)
		argv[n++] = c->args[i];
	argv[n] = NULL;
	if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -errno;
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], 1);
		dup2(err[1], 2);
		enter_container(c);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	p->out_fd = out[0];
	p->err_fd = err[0];
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
	deadline = harness_now_ms() + (uint64_t)timeout_ms;
	while (harness_now_ms() < deadline) {
		const char *at;

		sidecar_poll(p, 100);
		at = p->err_text && c->ready ? strstr(p->err_text, c->ready) : NULL;
		if (at && strchr(at, '\n'))
			return 0;
		if (waitpid(p->pid, &p->status, WNOHANG) == p->pid) {
			p->exited = true;
			for (int i = 0; i < 5; i++)
				sidecar_poll(p, 20);
			return -ECHILD;
		}
	}
	return -ETIMEDOUT;
}
