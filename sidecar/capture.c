// SPDX-License-Identifier: BSD-2-Clause
/* The kernel side's lifecycle: load, attach to a cgroup, drain, walk, detach. */
#define _GNU_SOURCE
#include "capture.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "podflow.skel.h"

struct capture {
	struct podflow_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *iter_link;
	capture_event_fn fn;
	void *ctx;
	int cgroup_fd;
	int stats_fd; /* BPF_ENABLE_STATS while >= 0 */
	uint32_t ring_bytes;
	uint32_t fold_keys;		   /* keys per fold table; 0: no folding */
	bool fold_since_cut;		   /* folding was on at some point since the last cut */
	int fold_cur;			   /* the table `folds` points to: 0 fold_a, 1 fold_b */
	struct flow_fold_key *fold_keybuf; /* fold_keys keys */
	struct flow_fold *fold_valbuf;	   /* one value per possible CPU */
	int ncpus;
	uint32_t n_cidrs; /* entries in ignore_cidrs, to replace them */
	struct flow_cidr_key cidr_keys[CONFIG_MAX_CIDRS];
	uint64_t bad_events;
};

/*
 * Set while the programs load and attach without every capability they
 * need: the kernel's refusal is then explained in one line (missing_caps()),
 * and libbpf's messages about it (a verifier dump, memlock hints) would only
 * bury that line, so they go to debug.
 */
static bool libbpf_quiet;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's warnings explain verifier and attach failures: keep them */
	enum log_level l = level == LIBBPF_WARN && !libbpf_quiet ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG;

	if (l > log_level_current)
		return 0;
	log_vprintf(l, fmt, ap);
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct capture *c = ctx;

	if (size != sizeof(struct flow_event)) {
		c->bad_events++; /* kernel and user space built from different headers */
		return 0;
	}
	c->fn(data, c->ctx);
	return 0;
}

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/*
 * The programs need CAP_SYS_ADMIN, or CAP_BPF (any program or map) +
 * CAP_PERFMON (tracing and iterator programs, and the pointer reads the
 * verifier allows sockops only with it) + CAP_NET_ADMIN (cgroup socket
 * programs): the least set, the one an injected sidecar is granted
 * (docs/webhook.md; tests/integration/test_sidecar_pod.c shows the kernel
 * refusing the load without each one of them).  The kernel decides, not
 * this: it only names, in `out`, those of the three the effective set
 * lacks (none with CAP_SYS_ADMIN), to explain a refusal.  How many.
 */
static int missing_caps(char *out, size_t len)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	static const struct {
		int cap;
		const char *name;
	} need[] = { { CAP_BPF, "CAP_BPF" },
		     { CAP_PERFMON, "CAP_PERFMON" },
		     { CAP_NET_ADMIN, "CAP_NET_ADMIN" } };
	int n = 0;

	out[0] = '\0';
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data))
		return 0; /* cannot tell */
#define HAS(c) (data[(c) / 32].effective & (1u << ((c) % 32)))
	for (size_t i = 0; !HAS(CAP_SYS_ADMIN) && i < sizeof(need) / sizeof(need[0]); i++) {
		if (HAS(need[i].cap))
			continue;
		snprintf(out + strlen(out), len - strlen(out), "%s%s", n ? ", " : "", need[i].name);
		n++;
	}
#undef HAS
	return n;
}

/* "the kernel refused to <what>: <error>", and the capabilities missing if any. */
static void explain_refusal(const char *what, int err, char *why, size_t whylen)
{
	char missing[64];

	if (missing_caps(missing, sizeof(missing)))
		snprintf(why, whylen,
			 "the kernel refused to %s: %s: missing privileges (%s): run as root, or "
			 "with CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (or CAP_SYS_ADMIN)",
			 what, strerror(-err), missing);
	else
		snprintf(why, whylen, "the kernel refused to %s: %s", what, strerror(-err));
}

static int fail(enum capture_error *kind, enum capture_error k, int err)
{
	*kind = k;
	return err < 0 ? err : -EINVAL;
}

struct capture *capture__new(const struct capture_opts *opts, capture_event_fn fn, void *ctx,
			     enum capture_error *kind, char *why, size_t whylen)
{
	uint32_t slots = capture_fast_slots(opts->max_connections);
	struct capture *c;
	struct bpf_link *link;
	int err;

	*kind = CAPTURE_ERR_NONE;
	libbpf_set_print(libbpf_print);
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fn = fn;
	c->ctx = ctx;
	c->cgroup_fd = -1;
	c->stats_fd = -1;
	c->ring_bytes = opts->ring_bytes;
	c->fold_keys = opts->fold_keys;
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0) {
		err = fail(kind, CAPTURE_ERR_ENV, c->ncpus);
		snprintf(why, whylen, "cannot count the possible CPUs: %s", strerror(-err));
		goto cleanup;
	}
	if (c->fold_keys) {
		/* sizeof(struct flow_fold) is a multiple of 8: the kernel's per-CPU stride */
		c->fold_keybuf = calloc(c->fold_keys, sizeof(*c->fold_keybuf));
		c->fold_valbuf = calloc((size_t)c->ncpus, sizeof(*c->fold_valbuf));
		if (!c->fold_keybuf || !c->fold_valbuf) {
			err = fail(kind, CAPTURE_ERR_ENV, -ENOMEM);
			snprintf(why, whylen, "out of memory");
			goto cleanup;
		}
	}

	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		err = fail(kind, CAPTURE_ERR_ENV, -errno);
		snprintf(why, whylen,
			 "kernel BTF not found at /sys/kernel/btf/vmlinux: the kernel needs "
			 "CONFIG_DEBUG_INFO_BTF=y");
		goto cleanup;
	}
	c->cgroup_fd = open(opts->cgroup_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (c->cgroup_fd < 0) {
		err = fail(kind, CAPTURE_ERR_USAGE, -errno);
		snprintf(why, whylen, "--cgroup %s: %s", opts->cgroup_path, strerror(-err));
		goto cleanup;
	}

	c->skel = podflow_bpf__open();
	if (!c->skel) {
		err = fail(kind, CAPTURE_ERR_ENV, -errno);
		snprintf(why, whylen, "cannot open the BPF object: %s", strerror(-err));
		goto cleanup;
	}
	c->skel->rodata->self_tgid = (uint32_t)getpid();
	c->skel->rodata->wakeup_bytes = opts->wakeup_bytes;
	/* the walk pauses while fewer than 1/8 of the ring is free */
	c->skel->rodata->iter_reserve = opts->ring_bytes / 8;
	c->skel->rodata->fast_mask = slots - 1;
	err = bpf_map__set_max_entries(c->skel->maps.events, opts->ring_bytes);
	if (!err)
		err = bpf_map__set_max_entries(c->skel->maps.flows, opts->max_connections);
	if (!err)
		err = bpf_map__set_max_entries(c->skel->maps.fast, slots);
	/*
	 * The tables exist whatever fold_keys says (the program names them): 1
	 * key when unused.  The outer map's inner template keeps its size: a
	 * hash map's size is not part of what the kernel matches an inner map by
	 * (bpf_map_meta_equal()), and libbpf 1.1 cannot resize a template.
	 */
	if (!err)
		err =
		    bpf_map__set_max_entries(c->skel->maps.fold_a, c->fold_keys ? c->fold_keys : 1);
	if (!err)
		err =
		    bpf_map__set_max_entries(c->skel->maps.fold_b, c->fold_keys ? c->fold_keys : 1);
	if (err) {
		*kind = CAPTURE_ERR_USAGE;
		snprintf(why, whylen, "map sizes (ring %u bytes, %u connections): %s",
			 opts->ring_bytes, opts->max_connections, strerror(-err));
		goto cleanup;
	}

	{
		char missing[64];

		libbpf_quiet = missing_caps(missing, sizeof(missing)) > 0;
	}
	err = podflow_bpf__load(c->skel);
	if (err) {
		*kind = CAPTURE_ERR_ENV;
		explain_refusal("load the BPF programs", err, why, whylen);
		/* with the privileges there, a refusal is the verifier's */
		if (!strstr(why, "missing privileges"))
			snprintf(why + strlen(why), whylen - strlen(why),
				 " (the verifier's log is above)");
		goto cleanup;
	}

	link = bpf_program__attach_cgroup(c->skel->progs.sock_ops, c->cgroup_fd);
	if (!link) {
		char what[PATH_MAX + 32];

		err = fail(kind, CAPTURE_ERR_ENV, -errno);
		snprintf(what, sizeof(what), "attach sockops to %s", opts->cgroup_path);
		explain_refusal(what, err, why, whylen);
		goto cleanup;
	}
	c->skel->links.sock_ops = link;

	const struct {
		struct bpf_program *prog;
		struct bpf_link **link;
		const char *hook;
	} tps[] = {
		{ c->skel->progs.tcp_receive_reset, &c->skel->links.tcp_receive_reset,
		  "tp_btf/tcp_receive_reset" },
		{ c->skel->progs.tcp_send_reset, &c->skel->links.tcp_send_reset,
		  "tp_btf/tcp_send_reset" },
	};
	for (size_t i = 0; i < sizeof(tps) / sizeof(tps[0]); i++) {
		link = bpf_program__attach(tps[i].prog);
		if (!link) {
			char what[64];

			err = fail(kind, CAPTURE_ERR_ENV, -errno);
			snprintf(what, sizeof(what), "attach %s", tps[i].hook);
			explain_refusal(what, err, why, whylen);
			goto cleanup;
		}
		*tps[i].link = link;
	}

	c->iter_link = bpf_program__attach_iter(c->skel->progs.walk_tcp, NULL);
	if (!c->iter_link) {
		err = fail(kind, CAPTURE_ERR_ENV, -errno);
		explain_refusal("attach iter/tcp", err, why, whylen);
		goto cleanup;
	}

	libbpf_quiet = false;
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.events), on_event, c, NULL);
	if (!c->rb) {
		err = fail(kind, CAPTURE_ERR_ENV, -errno);
		snprintf(why, whylen, "cannot map the ring buffer: %s", strerror(-err));
		goto cleanup;
	}
	return c;

cleanup:
	libbpf_quiet = false;
	capture__free(c);
	errno = -err;
	return NULL;
}

void capture__free(struct capture *c)
{
	if (!c)
		return;
	ring_buffer__free(c->rb);
	if (c->stats_fd >= 0)
		close(c->stats_fd);
	bpf_link__destroy(c->iter_link);
	podflow_bpf__destroy(c->skel); /* detaches every link it holds */
	if (c->cgroup_fd >= 0)
		close(c->cgroup_fd);
	free(c->fold_keybuf);
	free(c->fold_valbuf);
	free(c);
}

uint64_t capture__cgroup_id(const struct capture *c)
{
	struct stat st;

	/* since Linux 5.5 a cgroup's id is its kernfs inode number */
	return fstat(c->cgroup_fd, &st) ? 0 : (uint64_t)st.st_ino;
}

int capture__reattach(struct capture *c, const char *cgroup_path, char *why, size_t whylen)
{
	struct bpf_link *link;
	int fd, err;

	fd = open(cgroup_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(why, whylen, "%s: %s", cgroup_path, strerror(-err));
		return err;
	}
	link = bpf_program__attach_cgroup(c->skel->progs.sock_ops, fd);
	if (!link) {
		err = -errno;
		snprintf(why, whylen, "the kernel refused to attach sockops to %s: %s", cgroup_path,
			 strerror(-err));
		close(fd);
		return err;
	}
	bpf_link__destroy(c->skel->links.sock_ops);
	c->skel->links.sock_ops = link;
	close(c->cgroup_fd);
	c->cgroup_fd = fd;
	return 0;
}

int capture__fd(const struct capture *c)
{
	return ring_buffer__epoll_fd(c->rb);
}

int capture__drain(struct capture *c)
{
	return ring_buffer__consume(c->rb);
}

/* One walk over the sockets of the namespace the iterator was created in. */
static int walk_one(struct capture *c, int fd)
{
	char buf[64];
	int err = 0, stuck = 0;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n == 0)
			break;
		if (n > 0)
			continue; /* the program writes nothing; tolerate it anyway */
		if (errno == EAGAIN) {
			/* the walk paused for ring space: make some and go on */
			int r = ring_buffer__consume(c->rb);

			if (r < 0) {
				err = r;
				break;
			}
			/*
			 * Nothing to consume yet the walk still waits: another CPU
			 * holds a reservation it has not committed.  Give it a
			 * moment, but never spin forever.
			 */
			if (r == 0 && ++stuck > 1000) {
				err = -EBUSY;
				break;
			}
			if (r == 0)
				usleep(1000);
			else
				stuck = 0;
			continue;
		}
		if (errno == EINTR)
			continue;
		err = -errno;
		break;
	}
	close(fd);
	return err;
}

int capture__walk(struct capture *c, const int *netns_fds, uint32_t n_netns, int self_netns_fd)
{
	int fd, err, first_err;

	fd = bpf_iter_create(bpf_link__fd(c->iter_link));
	if (fd < 0)
		return -errno;
	first_err = walk_one(c, fd);
	for (uint32_t i = 0; i < n_netns; i++) {
		/* the iterator walks the namespace current when it is created */
		if (setns(netns_fds[i], CLONE_NEWNET)) {
			err = -errno;
			first_err = first_err ? first_err : err;
			continue;
		}
		fd = bpf_iter_create(bpf_link__fd(c->iter_link));
		err = fd < 0 ? -errno : 0;
		if (setns(self_netns_fd, CLONE_NEWNET)) {
			/* stranded in another namespace: nothing sensible is left to do */
			pr_warn("cannot return to our network namespace: %s", strerror(errno));
			abort();
		}
		if (!err)
			err = walk_one(c, fd);
		first_err = first_err ? first_err : err;
	}
	return first_err;
}

void capture__kstats(const struct capture *c, struct flow_kstats *out)
{
	*out = c->skel->bss->kstats;
}

void capture__prog_stats(const struct capture *c, uint64_t *run_ns, uint64_t *run_cnt)
{
	struct bpf_program *prog;

	*run_ns = *run_cnt = 0;
	bpf_object__for_each_program (prog, c->skel->obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);

		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0) {
			*run_ns += info.run_time_ns;
			*run_cnt += info.run_cnt;
		}
	}
}

void capture__prog_misses(const struct capture *c,
			  void (*fn)(void *ctx, const char *name, uint64_t misses), void *ctx)
{
	struct bpf_program *prog;

	bpf_object__for_each_program (prog, c->skel->obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);

		if (bpf_program__type(prog) != BPF_PROG_TYPE_TRACING)
			continue;
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0)
			fn(ctx, bpf_program__name(prog), info.recursion_misses);
	}
}

void capture__set_fold(struct capture *c, bool on)
{
	on = on && c->fold_keys;
	if (on)
		c->fold_since_cut = true;
	__atomic_store_n(&c->skel->bss->controls.fold, on ? 1 : 0, __ATOMIC_RELAXED);
}

int capture__fold_cut(struct capture *c, capture_fold_fn fn, void *ctx)
{
	struct bpf_map *tab[2] = { c->skel->maps.fold_a, c->skel->maps.fold_b };
	int old = c->fold_cur, next = !old, fd, next_fd, err, got = 0;
	uint32_t zero = 0, n = 0;

	if (!c->fold_keys || !c->fold_since_cut)
		return 0;
	next_fd = bpf_map__fd(tab[next]);
	/* returns after an RCU grace period: no program holds the old table any more */
	if (bpf_map__update_elem(c->skel->maps.folds, &zero, sizeof(zero), &next_fd,
				 sizeof(next_fd), BPF_ANY))
		return -errno;
	c->fold_cur = next;
	c->fold_since_cut = c->skel->bss->controls.fold; /* the new table folds from now */
	fd = bpf_map__fd(tab[old]);
	/* the keys first, then read and delete: deleting while stepping would restart the walk */
	for (const void *prev = NULL; n < c->fold_keys; prev = &c->fold_keybuf[n++])
		if (bpf_map_get_next_key(fd, prev, &c->fold_keybuf[n]))
			break;
	for (uint32_t i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(fd, &c->fold_keybuf[i], c->fold_valbuf)) {
			err = -errno;
			pr_warn("cannot read a folded record: %s", strerror(-err));
			continue;
		}
		bpf_map_delete_elem(fd, &c->fold_keybuf[i]);
		/* each CPU's copy as it is: folding them one by one is adding them up */
		for (int cpu = 0; cpu < c->ncpus; cpu++) {
			if (!c->fold_valbuf[cpu].closed)
				continue; /* this CPU folded nothing for the key */
			fn(&c->fold_keybuf[i], &c->fold_valbuf[cpu], ctx);
			got++;
		}
	}
	return got;
}

void capture__set_paused(struct capture *c, bool paused)
{
	/* a plain store into the mapped .bss: the programs read it on their next run */
	__atomic_store_n(&c->skel->bss->controls.paused, paused ? 1 : 0, __ATOMIC_RELAXED);
}

int capture__set_filters(struct capture *c, const struct config_ports *ports,
			 const struct config_cidrs *cidrs)
{
	uint64_t bits[FLOW_PORT_WORDS];
	uint32_t zero = 0, n = 0;
	uint8_t one = 1;
	int err = 0;

	memset(bits, 0, sizeof(bits));
	for (uint32_t i = 0; ports && i < ports->n; i++)
		bits[ports->port[i] >> 6] |= 1ULL << (ports->port[i] & 63);
	if (bpf_map__update_elem(c->skel->maps.ignore_ports, &zero, sizeof(zero), bits,
				 sizeof(bits), BPF_ANY)) {
		err = -errno;
		pr_warn("cannot update the port filter: %s", strerror(-err));
	}
	/* the trie has no bulk replace: remove the old entries, then add the new */
	for (uint32_t i = 0; i < c->n_cidrs; i++)
		bpf_map__delete_elem(c->skel->maps.ignore_cidrs, &c->cidr_keys[i],
				     sizeof(c->cidr_keys[i]), 0);
	for (uint32_t i = 0; cidrs && i < cidrs->n && n < CONFIG_MAX_CIDRS; i++) {
		struct flow_cidr_key *k = &c->cidr_keys[n];

		k->prefixlen = cidrs->cidr[i].prefix;
		memcpy(k->addr, cidrs->cidr[i].addr, 16);
		if (bpf_map__update_elem(c->skel->maps.ignore_cidrs, k, sizeof(*k), &one,
					 sizeof(one), BPF_ANY)) {
			err = -errno;
			pr_warn("cannot add a peer filter: %s", strerror(-err));
			continue;
		}
		n++;
	}
	c->n_cidrs = n;
	return err;
}

int capture__set_bpf_stats(struct capture *c, bool on)
{
	if (on && c->stats_fd < 0) {
		c->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (c->stats_fd < 0)
			return -errno;
	} else if (!on && c->stats_fd >= 0) {
		close(c->stats_fd);
		c->stats_fd = -1;
	}
	return 0;
}

uint64_t capture__take_ring_fill_max(struct capture *c)
{
	return __atomic_exchange_n(&c->skel->bss->kstats.ring_fill_max, 0, __ATOMIC_RELAXED);
}

uint64_t capture__bad_events(const struct capture *c)
{
	return c->bad_events;
}

uint32_t capture_fast_slots(uint32_t max_connections)
{
	uint32_t n = FLOW_FAST_SLOTS_MAX;

	while (n > max_connections && n > 1)
		n >>= 1;
	return n;
}

uint32_t capture__ring_bytes(const struct capture *c)
{
	return c->ring_bytes;
}
