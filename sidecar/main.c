// SPDX-License-Identifier: BSD-2-Clause
/* podflow-sidecar: wires configuration, capture, aggregation, output and the admin endpoint. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "admin.h"
#include "capture.h"
#include "cgroup.h"
#include "clock.h"
#include "config.h"
#include "config_watch.h"
#include "duration.h"
#include "export.h"
#include "identity.h"
#include "interval.h"
#include "ipfix_export.h"
#include "log.h"
#include "netns.h"
#include "sidecar.h"
#include "sidecar_config.h"
#include "timer.h"
#include "wire.h"

#define EXIT_USAGE	2
#define DRAIN_PERIOD_NS (100 * DURATION_NS_PER_MS)
#define CONFIG_POLL_NS	DURATION_NS_PER_S /* the fallback when inotify misses a change */
#define SCOPE_CHECK_NS	DURATION_NS_PER_S /* how soon a removed scope cgroup is noticed */

static const struct config_switch sidecar_switches[] = {
	{ "per-connection", "aggregate", "false",
	  "one record per connection per interval (aggregate: false)" },
	{ "token-optional", "token_optional", "true",
	  "the --token-file may be absent: no token until it appears (token_optional: true)" },
};

static bool config_optional; /* --config-optional */

static const struct config_cli sidecar_cli = {
	.usage_head = "Usage: podflow-sidecar [--config FILE] [options]\n"
		      "Captures the TCP flows of one cgroup v2 subtree (a pod) with eBPF.\n\n",
	.usage_tail = "  Identity: POD_NAME, POD_NAMESPACE, NODE_NAME, POD_APP, POD_WORKLOAD;\n"
		      "  POD_UID (with --cgroup-root) names the pod's cgroup.\n",
	.switches = sidecar_switches,
	.n_switches = sizeof(sidecar_switches) / sizeof(sidecar_switches[0]),
	.config_optional = &config_optional,
};

/* Builds a configuration from the file and the flags; 0 or -EINVAL, with one line in `why`. */
static int validate(const void *cfg, char *why, size_t len)
{
	return sidecar_config_validate(cfg, why, len);
}

/*
 * The scope cgroup.  --cgroup-root (in an injected pod): the host's cgroup2
 * filesystem is mounted there, and the pod's cgroup is found under it by
 * POD_UID: inside a pod with a private cgroup namespace (cgroup v2's
 * default) /proc/self/cgroup says "/", and the parent of that would be
 * the container's own cgroup, or the whole node.  Else --cgroup, or the
 * parent of our own cgroup, on the cgroup2 mount in /proc/mounts.  0, or
 * an exit status with the reason logged.
 */
static int find_scope(struct sidecar *s)
{
	char mount[PATH_MAX], found[PATH_MAX], why[PATH_MAX * 2 + 512];
	const char *uid = getenv("POD_UID");

	if (s->cfg.cgroup_root) {
		if (cgroup_root_check(s->cfg.cgroup_root, mount, sizeof(mount), why, sizeof(why)))
			goto usage;
		if (s->cfg.cgroup) {
			if (cgroup_resolve(mount, s->cfg.cgroup, s->scope, sizeof(s->scope), why,
					   sizeof(why)))
				goto usage;
			return 0;
		}
		if (!uid || !*uid) {
			snprintf(why, sizeof(why),
				 "--cgroup-root %s: POD_UID is not set: set it from the Downward "
				 "API (fieldRef metadata.uid) so the pod's cgroup can be found, or "
				 "pass --cgroup",
				 s->cfg.cgroup_root);
			goto usage;
		}
		if (cgroup_pod_find(mount, uid, found, sizeof(found), why, sizeof(why)) ||
		    cgroup_resolve(mount, found, s->scope, sizeof(s->scope), why, sizeof(why)))
			goto usage;
		pr_info("pod %s: its cgroup is %s", uid, s->scope);
		return 0;
	}
	if (cgroup_v2_mount("/proc/mounts", mount, sizeof(mount))) {
		pr_err(
		    "no cgroup v2 mount in /proc/mounts: the sidecar scopes capture by cgroup v2");
		return 1;
	}
	if (s->cfg.cgroup) {
		if (cgroup_resolve(mount, s->cfg.cgroup, s->scope, sizeof(s->scope), why,
				   sizeof(why)))
			goto usage;
	} else if (cgroup_default_scope(mount, "/proc/self/cgroup", s->scope, sizeof(s->scope))) {
		pr_err("cannot find this process's cgroup v2 in /proc/self/cgroup; pass --cgroup");
		return EXIT_USAGE;
	}
	return 0;
usage:
	pr_err("%s", why);
	return EXIT_USAGE;
}

/* capture_event_fn: every kernel event goes to the interval. */
static void on_event(const struct flow_event *ev, void *ctx)
{
	struct sidecar *s = ctx;

	interval__add(s->iv, ev);
}

/* What the heartbeats may claim, on whichever exporter there is (none: JSON lines). */
static void out_set_claim(struct sidecar *s, bool claim, uint64_t until_ms)
{
	if (s->exp)
		exporter__set_claim(s->exp, claim, until_ms);
	if (s->ipx)
		ipfix_exporter__set_claim(s->ipx, claim, until_ms);
}

/* Ends the exporter's batch or report, empty or not: it is also the pod's heartbeat. */
static bool out_seal(struct sidecar *s)
{
	if (s->exp)
		exporter__seal(s->exp);
	if (s->ipx)
		ipfix_exporter__seal(s->ipx);
	return s->exp || s->ipx;
}

/*
 * The programs are attached to a cgroup, not to a path: once the scope
 * cgroup is removed they see nothing, and a cgroup created again at the
 * same path is another one (another id).  Checked every SCOPE_CHECK_NS and
 * before every interval's heartbeat.  While it is gone the sidecar is not
 * ready and its heartbeats claim no IP (the pod may be gone, its IP given
 * to another); a span claims them only up to a moment the scope was seen
 * in place.  Back at the same path: the programs are attached to it.
 * Returns true while capture sees the scope.
 */
static bool check_scope(struct sidecar *s)
{
	/* read before the stat: a span that ends here ends before any removal the stat missed */
	uint64_t now_ms = (uint64_t)clock_wall_ms(), id = 0, was;
	char why[sizeof(s->scope_why)];
	bool sealed = false;
	int err = cgroup_id_of(s->scope, &id);

	if (!err && id == s->scope_id) {
		out_set_claim(s, true, now_ms);
		return true;
	}
	if (!s->scope_gone) {
		s->scope_gone = true;
		s->scope_gone_ms = now_ms;
		s->scope_removed++;
		pr_warn(
		    "cgroup %s is gone: capture is blind (not ready, heartbeats claim no pod IP) "
		    "until a cgroup is created again at that path",
		    s->scope);
		/* the span since the last check claims nothing: when it went is unknown */
		out_set_claim(s, false, 0);
		sealed = out_seal(s);
	}
	if (err)
		return false; /* still gone */
	err = capture__reattach(s->cap, s->scope, why, sizeof(why));
	if (err) {
		if (strcmp(why, s->scope_why) != 0)
			pr_warn("cgroup %s is back but capture cannot attach to it: %s; retrying "
				"every second",
				s->scope, why);
		snprintf(s->scope_why, sizeof(s->scope_why), "%s", why);
		return false;
	}
	was = s->scope_id;
	s->scope_id = capture__cgroup_id(s->cap);
	cgroup_names__reset(s->names); /* its containers are new cgroups too */
	s->scope_gone = false;
	s->scope_why[0] = '\0';
	s->scope_reattached++;
	now_ms = (uint64_t)clock_wall_ms();
	pr_info("cgroup %s was created again: programs re-attached (cgroup id %llu, was %llu); "
		"capturing again after %llu ms blind",
		s->scope, (unsigned long long)s->scope_id, (unsigned long long)was,
		(unsigned long long)(now_ms - s->scope_gone_ms));
	if (!sealed)
		out_seal(s); /* the blind span, claiming nothing */
	out_set_claim(s, true, now_ms);
	return true;
}

/* capture_fold_fn: a key's folded closes go to the interval. */
static void on_fold(const struct flow_fold_key *key, const struct flow_fold *f, void *ctx)
{
	struct sidecar *s = ctx;

	interval__add_fold(s->iv, key, f);
}

/*
 * The closes the kernel folded since the last cut, first: after the swap
 * they fold for the next interval, as a CLOSE event stamped after the cut
 * is the next interval's.  Folding stops here if the next interval wants a
 * record per connection.
 */
static void cut_folds(struct sidecar *s)
{
	int n;

	capture__set_fold(s->cap, interval__folding(s->iv));
	n = capture__fold_cut(s->cap, on_fold, s);
	if (n < 0) {
		s->walk_errors++;
		pr_warn("cannot swap the fold tables: %s (the folded closes wait for the next cut)",
			strerror(-n));
	}
}

/* interval_walk_fn: every live connection's counters so far, from every namespace in scope. */
static void walk_sockets(void *ctx)
{
	struct sidecar *s = ctx;
	/*
	 * The walk's cost grows with the sockets in scope (bench-sidecar's scale
	 * phase): its wall time and this thread's CPU time, the iter program's
	 * run included since it runs inside our read(), are exported.
	 */
	uint64_t t0 = clock_mono_ns(), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), dt;
	int err;

	cut_folds(s);
	if (netns_set__refresh(s->netns) < 0)
		pr_debug("cannot scan the scope for network namespaces");
	err = capture__walk(s->cap, netns_set__fds(s->netns), netns_set__count(s->netns),
			    netns_set__self_fd(s->netns));
	if (err) {
		s->walk_errors++;
		pr_warn("interval walk over the tracked sockets failed: %s", strerror(-err));
	}
	capture__drain(s->cap);
	/* the CPU span read inside the wall span: a walk's CPU never exceeds its wall time */
	s->walk_cpu_ns += clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	dt = clock_mono_ns() - t0;
	s->walk_last_ns = dt;
	if (dt > s->walk_max_ns)
		s->walk_max_ns = dt;
	metrics_histogram_observe(&s->walk_duration, dt);
}

/*
 * Every pod cuts on the same wall-clock instants; each sends what the cut
 * made at its own offset within the send spread, at most a tenth of the
 * interval.
 */
static void out_hold(struct sidecar *s)
{
	uint64_t spread = s->cfg.send_spread_ns;

	if (spread > s->cfg.interval_ns / 10)
		spread = s->cfg.interval_ns / 10;
	if (s->exp)
		exporter__hold(s->exp, spread);
	if (s->ipx)
		ipfix_exporter__hold(s->ipx, spread);
}

static void end_interval(struct sidecar *s)
{
	interval__end(s->iv, walk_sockets, s);
	/* the flush put a live change of the record mode in force */
	capture__set_fold(s->cap, interval__folding(s->iv));
	/* every interval ends a batch, empty or not: it is also the pod's heartbeat */
	check_scope(s);
	out_seal(s);
}

/* Cumulative losses for the batch header (export_drops_fn). */
static void capture_drops(void *ctx, uint64_t cumul[WIRE_DROP__COUNT])
{
	struct sidecar *s = ctx;
	struct interval_stats is = { 0 };
	struct flow_kstats k;

	capture__kstats(s->cap, &k);
	if (s->iv) /* NULL only when closing the exporter on a start-up error */
		interval__stats(s->iv, &is);
	cumul[WIRE_DROP_KERNEL_RING] = k.ring_full;
	cumul[WIRE_DROP_KERNEL_MAP] = k.map_full;
	cumul[WIRE_DROP_TABLE] = is.table_drops;
}

static void print_stats(struct sidecar *s, const char *when)
{
	struct export_stats e = { 0 };
	struct interval_stats is;
	struct flow_kstats k;
	char exp[512] = "";

	capture__kstats(s->cap, &k);
	interval__stats(s->iv, &is);
	if (s->exp || s->exp_final.batches_sealed) {
		if (s->exp)
			exporter__stats(s->exp, &e);
		else
			e = s->exp_final;
		snprintf(exp, sizeof(exp),
			 " export_batches=%llu export_ok=%llu export_records_ok=%llu "
			 "export_retries=%llu drops_export_buffer=%llu drops_export_rejected=%llu "
			 "drops_export_abandoned=%llu buffer_bytes=%llu",
			 (unsigned long long)e.batches_sealed, (unsigned long long)e.batches_ok,
			 (unsigned long long)e.records_ok, (unsigned long long)e.retries,
			 (unsigned long long)e.records_dropped_buffer,
			 (unsigned long long)e.records_rejected,
			 (unsigned long long)e.records_abandoned,
			 (unsigned long long)e.buffer_bytes);
	}
	if (s->ipx || s->ipx_final.domain_id) {
		struct ipfix_export_stats u;
		uint64_t errors = 0;

		if (s->ipx)
			ipfix_exporter__stats(s->ipx, &u);
		else
			u = s->ipx_final;
		for (int i = 0; i < IPFIX_EXPORT_ERR__COUNT; i++)
			errors += u.errors[i];
		snprintf(
		    exp, sizeof(exp),
		    " ipfix_reports=%llu ipfix_datagrams_sent=%llu ipfix_bytes_sent=%llu "
		    "ipfix_records_sent=%llu ipfix_records_refused=%llu drops_ipfix_queue=%llu "
		    "drops_ipfix_send=%llu drops_ipfix_abandoned=%llu "
		    "drops_ipfix_not_encoded=%llu ipfix_send_errors=%llu ipfix_queue_bytes=%llu",
		    (unsigned long long)u.reports, (unsigned long long)u.datagrams_sent,
		    (unsigned long long)u.bytes_sent, (unsigned long long)u.records_sent,
		    (unsigned long long)u.records_refused,
		    (unsigned long long)u.records_dropped_queue,
		    (unsigned long long)u.records_send_error,
		    (unsigned long long)u.records_abandoned, (unsigned long long)u.records_invalid,
		    (unsigned long long)errors, (unsigned long long)u.queue_bytes);
	}
	pr_info("stats%s: records=%llu events=%llu closes_folded=%llu fold_full=%llu "
		"flows_started=%llu flows_closed=%llu "
		"flows_spilled=%llu drops_ring_full=%llu drops_map_full=%llu drops_table=%llu "
		"listener_full=%llu not_tracked_filtered=%llu not_tracked_paused=%llu "
		"iter_deferred=%llu wakeups=%llu early_flushes=%llu walk_errors=%llu "
		"cgroup_misses=%llu scope_removed=%llu scope_reattached=%llu "
		"config_reloads_ok=%llu config_reloads_failed=%llu bad_events=%llu%s",
		when, (unsigned long long)is.records, (unsigned long long)is.events,
		(unsigned long long)is.folded_closes, (unsigned long long)k.fold_full,
		(unsigned long long)k.flows_started, (unsigned long long)k.flows_closed,
		(unsigned long long)k.flows_spilled, (unsigned long long)k.ring_full,
		(unsigned long long)k.map_full, (unsigned long long)is.table_drops,
		(unsigned long long)k.listener_full, (unsigned long long)k.filtered,
		(unsigned long long)k.paused, (unsigned long long)k.iter_deferred,
		(unsigned long long)k.wakeups, (unsigned long long)is.early_flushes,
		(unsigned long long)s->walk_errors,
		(unsigned long long)cgroup_names__misses(s->names),
		(unsigned long long)s->scope_removed, (unsigned long long)s->scope_reattached,
		(unsigned long long)s->src.reloads_ok, (unsigned long long)s->src.reloads_failed,
		(unsigned long long)capture__bad_events(s->cap), exp);
}

static int epoll_add(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/*
 * The interval timer fires at the next wall-clock multiple of the interval
 * (interval_next_cut_ns): one-shot on CLOCK_REALTIME, re-armed at every cut,
 * so a clock step moves only the next cut.  0 or -errno.
 */
static int arm_cut(int fd, uint64_t interval_ns)
{
	uint64_t at = interval_next_cut_ns(clock_ns(CLOCK_REALTIME), interval_ns);
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(at / DURATION_NS_PER_S),
			      .tv_nsec = (long)(at % DURATION_NS_PER_S) },
	};

	return timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) ? -errno : 0;
}

static int cut_timer_new(uint64_t interval_ns)
{
	int fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	err = arm_cut(fd, interval_ns);
	if (err) {
		close(fd);
		errno = -err;
		return err;
	}
	return fd;
}

/* Puts the live settings in force: at start, and after a reload changed them. */
static void apply_live(struct sidecar *s, const struct sidecar_config *old)
{
	const struct sidecar_config *c = &s->cfg;
	int err;

	if (!old || old->log_level != c->log_level)
		log_init("podflow-sidecar", c->log_level);
	if (old && old->interval_ns != c->interval_ns)
		arm_cut(s->t_interval, c->interval_ns);
	if (old && old->stats_interval_ns != c->stats_interval_ns)
		timer_arm(s->t_stats, c->stats_interval_ns);
	if (!old || old->enabled != c->enabled) {
		capture__set_paused(s->cap, !c->enabled);
		if (old)
			pr_info("capture %s", c->enabled ? "resumed" : "paused");
	}
	if (!old ||
	    config_differs(&sidecar_config_schema,
			   config_find_key(&sidecar_config_schema, "filters.ignore_ports"), old,
			   c) ||
	    config_differs(&sidecar_config_schema,
			   config_find_key(&sidecar_config_schema, "filters.ignore_cidrs"), old, c))
		capture__set_filters(s->cap, &c->ignore_ports, &c->ignore_cidrs);
	if (!old || old->bpf_stats != c->bpf_stats) {
		err = capture__set_bpf_stats(s->cap, c->bpf_stats);
		if (err)
			pr_warn("bpf_stats: cannot turn kernel BPF statistics %s: %s",
				c->bpf_stats ? "on" : "off", strerror(-err));
	}
	if (s->exp && old &&
	    (old->batch_max_records != c->batch_max_records ||
	     old->batch_max_bytes != c->batch_max_bytes ||
	     old->buffer_max_bytes != c->buffer_max_bytes))
		exporter__set_limits(s->exp, c->batch_max_records, c->batch_max_bytes,
				     c->buffer_max_bytes);
	if (s->ipx && old) {
		if (old->batch_max_records != c->batch_max_records ||
		    old->batch_max_bytes != c->batch_max_bytes)
			ipfix_exporter__set_limits(s->ipx, c->batch_max_records,
						   c->batch_max_bytes);
		if (old->ipfix_max_rate != c->ipfix_max_rate ||
		    old->ipfix_max_burst != c->ipfix_max_burst ||
		    old->ipfix_max_queue != c->ipfix_max_queue)
			ipfix_exporter__set_pacing(s->ipx, c->ipfix_max_rate, c->ipfix_max_burst,
						   c->ipfix_max_queue);
		if (old->ipfix_template_interval_ns != c->ipfix_template_interval_ns)
			ipfix_exporter__set_template_interval(s->ipx,
							      c->ipfix_template_interval_ns);
	}
	/* at start the interval is built in the configured mode; a change applies from the next */
	if (old && old->aggregate != c->aggregate) {
		interval__set_aggregate(s->iv, c->aggregate);
		capture__set_fold(s->cap, interval__folding(s->iv));
	}
}

/* The file changed (or may have): load it, and put what may change live in force. */
static void reload(struct sidecar *s)
{
	struct sidecar_config old;

	if (config_source_reload(&s->src, &s->cfg, &old) < 0)
		return;
	apply_live(s, &old);
	config_free(&sidecar_config_schema, &old);
}

static int run(struct sidecar *s)
{
	int ep = -1, sfd = -1, t_drain = -1, err = 0;
	char dur[32];
	sigset_t mask;

	s->t_interval = s->t_stats = s->t_scope = -1;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	/* blocked in main() before any thread exists; here they become fd events */
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	t_drain = timer_new(DRAIN_PERIOD_NS);
	s->t_interval = cut_timer_new(s->cfg.interval_ns);
	s->t_stats = timer_new(s->cfg.stats_interval_ns);
	s->t_scope = timer_new(SCOPE_CHECK_NS);
	if (sfd < 0 || ep < 0 || t_drain < 0 || s->t_interval < 0 || s->t_stats < 0 ||
	    s->t_scope < 0 || epoll_add(ep, sfd) || epoll_add(ep, t_drain) ||
	    epoll_add(ep, s->t_interval) || epoll_add(ep, s->t_stats) ||
	    epoll_add(ep, s->t_scope) || epoll_add(ep, capture__fd(s->cap)) ||
	    (s->admin && epoll_add(ep, admin__fd(s->admin))) ||
	    (s->ipx && epoll_add(ep, ipfix_exporter__fd(s->ipx))) ||
	    (s->watch && config_watch__fd(s->watch) >= 0 &&
	     epoll_add(ep, config_watch__fd(s->watch)))) {
		err = -errno;
		pr_warn("event loop setup: %s", strerror(errno));
		goto cleanup;
	}

	interval__start(s->iv);
	pr_info("ready: capturing TCP flows in cgroup %s (interval %s, %s)", s->scope,
		duration_format(s->cfg.interval_ns, dur, sizeof(dur)),
		s->cfg.aggregate ? "aggregated" : "per connection");
	if (s->admin)
		pr_info("admin endpoint on %s (port %u): /metrics /healthz /readyz /config",
			s->cfg.admin, admin__port(s->admin));

	for (;;) {
		struct epoll_event evs[8];
		int timeout = s->watch ? config_watch__timeout_ms(s->watch, clock_mono_ns()) : -1;
		int n;

		if (s->admin) {
			int at = admin__timeout_ms(s->admin);

			if (at >= 0 && (timeout < 0 || at < timeout))
				timeout = at;
		}
		n = epoll_wait(ep, evs, 8, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			pr_warn("epoll_wait: %s", strerror(-err));
			break;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == sfd) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) == sizeof(si))
					pr_info("signal %u: reporting open flows and exiting",
						si.ssi_signo);
				goto shutdown;
			} else if (fd == s->t_interval) {
				int e;

				timer_ack(fd);
				out_hold(s);
				end_interval(s);
				e = arm_cut(fd, s->cfg.interval_ns);
				if (e)
					pr_warn("interval timer: %s", strerror(-e));
			} else if (fd == s->t_stats) {
				timer_ack(fd);
				print_stats(s, "");
			} else if (fd == s->t_scope) {
				timer_ack(fd);
				check_scope(s);
			} else if (fd == t_drain || fd == capture__fd(s->cap)) {
				if (fd == t_drain)
					timer_ack(fd);
				capture__drain(s->cap);
			} else if (s->ipx && fd == ipfix_exporter__fd(s->ipx)) {
				ipfix_exporter__run(s->ipx); /* pacing, templates, resolution */
			}
		}
		if (s->admin)
			admin__run(s->admin);
		if (s->watch && config_watch__check(s->watch, clock_mono_ns()) == 1)
			reload(s);
		if (interval__output_failed(s->iv)) {
			err = -EIO;
			break;
		}
	}
shutdown:
	end_interval(s); /* every open flow's counters so far, then the table */
	if (s->exp) {
		/* deliver what is buffered, for at most the grace period */
		exporter__close(s->exp, s->cfg.shutdown_grace_ns, &s->exp_final);
		s->exp = NULL;
	}
	if (s->ipx) {
		/* send what waits for the rate, for at most the grace period */
		ipfix_exporter__close(s->ipx, s->cfg.shutdown_grace_ns, &s->ipx_final);
		s->ipx = NULL;
	}
	print_stats(s, " at exit");
	if (interval__output_failed(s->iv))
		err = -EIO;
cleanup:
	if (s->t_scope >= 0)
		close(s->t_scope);
	if (s->t_stats >= 0)
		close(s->t_stats);
	if (s->t_interval >= 0)
		close(s->t_interval);
	if (t_drain >= 0)
		close(t_drain);
	if (sfd >= 0)
		close(sfd);
	if (ep >= 0)
		close(ep);
	return err;
}

int main(int argc, char **argv)
{
	static const char *flags[CONFIG_FLAGS_LEN];
	struct sidecar s = {
		.src = { .schema = &sidecar_config_schema, .validate = validate, .flags = flags }
	};
	char why[PATH_MAX + 1024];
	enum capture_error kind;
	enum wire_encoding enc;
	sigset_t sigs;
	int err, ret = 1, watch_err = 0;

	log_init("podflow-sidecar", LOG_LEVEL_INFO);
	/*
	 * Block SIGTERM/SIGINT before any thread starts (the exporter's inherits
	 * the mask): run() reads them from a signalfd, and an unblocked thread
	 * would let the default action kill the process instead.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	err =
	    config_parse_args(&sidecar_config_schema, &sidecar_cli, argc, argv, &s.src.path, flags);
	if (err)
		return err > 0 ? 0 : EXIT_USAGE;
	/* watch before the first read, or a change in between would be missed */
	if (s.src.path) {
		s.watch = config_watch__new(s.src.path, CONFIG_POLL_NS);
		watch_err = s.watch ? 0 : errno;
	}
	s.src.optional = config_optional;
	if (config_source_load(&s.src, &s.cfg, why, sizeof(why))) {
		pr_err("%s", why);
		config_watch__free(s.watch);
		return EXIT_USAGE;
	}
	log_init("podflow-sidecar", s.cfg.log_level);
	if (watch_err)
		pr_warn("--config %s: cannot watch it (%s): changes need a restart", s.src.path,
			strerror(watch_err));
	wire_encoding_parse(s.cfg.encoding, &enc); /* validated by load_config */

	err = find_scope(&s);
	if (err) {
		ret = err;
		goto cleanup;
	}
	if (identity_load(&s.id, getenv, s.cfg.labels_file, why, sizeof(why))) {
		pr_err("%s", why);
		ret = EXIT_USAGE;
		goto cleanup;
	}
	if (strncmp(s.cfg.output, "http://", 7) == 0 || strncmp(s.cfg.output, "https://", 8) == 0 ||
	    strncmp(s.cfg.output, "udp://", 6) == 0) {
		s.out = NULL; /* set up after the capture: its counters feed the batch headers */
	} else if (strcmp(s.cfg.output, "-") == 0) {
		s.out = stdout;
	} else {
		s.out = fopen(s.cfg.output, "ae");
		if (!s.out) {
			pr_err("output %s: %s", s.cfg.output, strerror(errno));
			ret = EXIT_USAGE;
			goto cleanup;
		}
	}
	/* a closed stdout is reported as a write error, not a silent SIGPIPE death */
	signal(SIGPIPE, SIG_IGN);

	s.names = cgroup_names__new(s.scope, 65536, DURATION_NS_PER_S);
	s.netns = netns_set__new(s.scope, 64);
	if (!s.names || !s.netns) {
		pr_err("out of memory");
		goto cleanup;
	}

	s.cap =
	    capture__new(&(struct capture_opts){ .cgroup_path = s.scope,
						 .ring_bytes = (uint32_t)s.cfg.ring_bytes,
						 .max_connections = s.cfg.max_connections,
						 .fold_keys = s.cfg.fold_keys,
						 .wakeup_bytes = (uint32_t)s.cfg.ring_bytes / 4 },
			 on_event, &s, &kind, why, sizeof(why));
	if (!s.cap) {
		pr_err("%s", why);
		ret = kind == CAPTURE_ERR_USAGE ? EXIT_USAGE : 1;
		goto cleanup;
	}
	s.scope_id = capture__cgroup_id(s.cap);
	pr_debug("flows: %u fast slots, %u more in the hash map",
		 capture_fast_slots(s.cfg.max_connections), s.cfg.max_connections);
	apply_live(&s, NULL);
	if (strncmp(s.cfg.output, "udp://", 6) == 0) {
		struct ipfix_export_opts io = {
			.url = s.cfg.output,
			.max_message = s.cfg.ipfix_max_message,
			.pen = s.cfg.ipfix_pen,
			.template_interval_ns = s.cfg.ipfix_template_interval_ns,
			.max_rate = s.cfg.ipfix_max_rate,
			.max_burst = s.cfg.ipfix_max_burst,
			.max_queue = s.cfg.ipfix_max_queue,
			.batch_max_records = s.cfg.batch_max_records,
			.batch_max_bytes = s.cfg.batch_max_bytes,
			.sender = &s.id.view,
			.drops_fn = capture_drops,
			.drops_ctx = &s,
		};

		sidecar_ipfix_octets(s.cfg.ipfix_octets, &io.octets); /* validated */
		s.ipx = ipfix_exporter__new(&io, why, sizeof(why));
		if (!s.ipx) {
			pr_err("%s", why);
			ret = EXIT_USAGE;
			goto cleanup;
		}
	} else if (!s.out) {
		struct export_opts eo = {
			.url = s.cfg.output,
			.ca_file = s.cfg.ca_file,
			.cert_file = s.cfg.cert_file,
			.key_file = s.cfg.key_file,
			.token_file = s.cfg.token_file,
			.token_optional = s.cfg.token_optional,
			.identity_token_file = s.cfg.identity_token_file,
			.encoding = enc,
			.batch_max_records = s.cfg.batch_max_records,
			.batch_max_bytes = s.cfg.batch_max_bytes,
			.buffer_max_bytes = s.cfg.buffer_max_bytes,
			.max_in_flight = 8,
			.sender = &s.id.view,
			.drops_fn = capture_drops,
			.drops_ctx = &s,
		};

		s.exp = exporter__new(&eo, why, sizeof(why));
		if (!s.exp) {
			pr_err("%s", why);
			ret = EXIT_USAGE;
			goto cleanup;
		}
	}
	/* after the exporter, which it writes to; no event is read before run() */
	s.iv = interval__new(&(struct interval_opts){ .aggregate = s.cfg.aggregate,
						      .max_records = s.cfg.max_records,
						      .local = &s.id.view,
						      .names = s.names,
						      .exp = s.exp,
						      .ipx = s.ipx,
						      .out = s.out,
						      .out_name = s.cfg.output });
	if (!s.iv) {
		pr_err("out of memory");
		goto cleanup;
	}
	capture__set_fold(s.cap, interval__folding(s.iv));
	{
		/* an idle pod's walk takes well under 1 ms; 100k sockets tens of ms */
		static const double bounds[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
						 0.01,	 0.025,	  0.05,	  0.1,	 0.25,	 0.5,
						 1,	 2.5,	  5,	  10 };

		metrics_histogram_init(&s.walk_duration, bounds,
				       sizeof(bounds) / sizeof(bounds[0]));
	}
	if (s.cfg.admin && s.cfg.admin[0]) {
		struct admin_callbacks cb = { .metrics = sidecar_metrics,
					      .ready = sidecar_ready,
					      .config = sidecar_config_json,
					      .ctx = &s };

		s.admin = admin__new(s.cfg.admin, &cb, why, sizeof(why));
		if (!s.admin) {
			pr_err("%s", why);
			goto cleanup;
		}
	}
	err = run(&s);
	ret = err ? 1 : 0;
cleanup:
	exporter__close(s.exp, 0, NULL); /* only on an error path: run() closes it */
	ipfix_exporter__close(s.ipx, 0, NULL);
	interval__free(s.iv); /* after the exporter: its last batch counts its drops */
	config_watch__free(s.watch);
	admin__free(s.admin);
	capture__free(s.cap);
	cgroup_names__free(s.names);
	netns_set__free(s.netns);
	if (s.out && s.out != stdout)
		fclose(s.out);
	config_free(&sidecar_config_schema, &s.cfg);
	return ret;
}
