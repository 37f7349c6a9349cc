// SPDX-License-Identifier: BSD-2-Clause
/* podflow-sidecar: wires capture, aggregation and output together. */
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
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "cli.h"
#include "cgroup.h"
#include "duration.h"
#include "export.h"
#include "flow.h"
#include "flow_table.h"
#include "identity.h"
#include "jsonw.h"
#include "log.h"
#include "netns.h"
#include "wire.h"

#define EXIT_USAGE	2
#define DRAIN_PERIOD_NS (100 * DURATION_NS_PER_MS)

struct sidecar_config {
	const char *cgroup;
	uint64_t interval_ns;
	const char *output;
	int per_connection;
	const char *labels_file;
	uint64_t stats_interval_ns;
	uint32_t max_records;
	uint32_t max_connections;
	uint32_t ring_bytes;
	enum log_level log_level;
	/* export (--output http:// or https://) */
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
	const char *token_file;
	enum wire_encoding encoding;
	uint32_t batch_max_records;
	uint32_t batch_max_bytes;
	uint32_t buffer_max_bytes;
	uint64_t shutdown_grace_ns;
};

static const struct sidecar_config config_defaults = {
	.cgroup = NULL, /* the parent of our own cgroup: the pod */
	.interval_ns = 10 * DURATION_NS_PER_S,
	.output = "-",
	.per_connection = 0,
	.labels_file = NULL,
	.stats_interval_ns = 60 * DURATION_NS_PER_S,
	.max_records = 65536,
	.max_connections = 65536,
	.ring_bytes = 4u << 20,
	.log_level = LOG_LEVEL_INFO,
	.encoding = WIRE_ENC_ZSTD,
	.batch_max_records = 10000,
	.batch_max_bytes = 4u << 20,
	.buffer_max_bytes = 16u << 20,
	.shutdown_grace_ns = 5 * DURATION_NS_PER_S,
};

struct sidecar {
	struct sidecar_config cfg;
	char scope[PATH_MAX];
	struct identity id;
	struct capture *cap;
	struct flow_table *table;
	struct cgroup_names *names;
	struct netns_set *netns;
	struct jsonw *jw;
	struct exporter *exp; /* --output http(s)://, else NULL */
	struct export_stats exp_final;
	FILE *out;
	int out_failed;
	uint64_t interval_start_ns;
	/* user-space counters, printed in the stats line */
	uint64_t events;
	uint64_t records;
	uint64_t early_flushes;
	uint64_t walk_errors;
	uint64_t table_drops; /* cannot happen (see on_event); counted, not assumed */
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * DURATION_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: podflow-sidecar [options]\n"
	    "Captures the TCP flows of one cgroup v2 subtree (a pod) with eBPF.\n\n"
	    "  --cgroup PATH          cgroup v2 dir, absolute or relative to the cgroup2 mount\n"
	    "                         (default: the parent of this process's cgroup)\n"
	    "  --interval DUR         aggregation interval, e.g. 500ms, 10s (default 10s)\n"
	    "  --output -|FILE        JSON lines to stdout or appended to FILE (default -)\n"
	    "  --per-connection       one record per connection per interval, ports kept\n"
	    "  --labels-file FILE     Downward API labels file (app and workload)\n"
	    "  --stats-interval DUR   period of the stats line on stderr, 0 = only at exit (60s)\n"
	    "  --max-records N        records one interval can hold before an early flush (65536)\n"
	    "  --ring-bytes N         kernel ring buffer size, a power of two (4194304)\n"
	    "  --log-level LEVEL      warn, info or debug (info)\n"
	    "  --help\n\n"
	    "Identity: POD_NAME, POD_NAMESPACE, NODE_NAME, POD_APP, POD_WORKLOAD.\n");
}

/* A byte count ("4MiB", "65536") into a 32-bit option. */
static int parse_bytes32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;
	int err = cli_parse_bytes(s, min, max, &v);

	if (!err)
		*out = (uint32_t)v;
	return err;
}

static int parse_args(int argc, char **argv, struct sidecar_config *cfg)
{
	enum {
		OPT_CGROUP = 256,
		OPT_INTERVAL,
		OPT_OUTPUT,
		OPT_PER_CONN,
		OPT_LABELS,
		OPT_STATS,
		OPT_MAX_RECORDS,
		OPT_MAX_CONNS,
		OPT_RING,
		OPT_LOG,
		OPT_CA,
		OPT_CERT,
		OPT_KEY,
		OPT_TOKEN,
		OPT_ENCODING,
		OPT_BATCH_RECORDS,
		OPT_BATCH_BYTES,
		OPT_BUFFER_BYTES,
		OPT_GRACE,
		OPT_HELP,
	};
	static const struct option opts[] = {
		{ "cgroup", required_argument, NULL, OPT_CGROUP },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "per-connection", no_argument, NULL, OPT_PER_CONN },
		{ "labels-file", required_argument, NULL, OPT_LABELS },
		{ "stats-interval", required_argument, NULL, OPT_STATS },
		{ "max-records", required_argument, NULL, OPT_MAX_RECORDS },
		{ "max-connections", required_argument, NULL, OPT_MAX_CONNS },
		{ "ring-bytes", required_argument, NULL, OPT_RING },
		{ "log-level", required_argument, NULL, OPT_LOG },
		{ "ca-file", required_argument, NULL, OPT_CA },
		{ "cert-file", required_argument, NULL, OPT_CERT },
		{ "key-file", required_argument, NULL, OPT_KEY },
		{ "token-file", required_argument, NULL, OPT_TOKEN },
		{ "encoding", required_argument, NULL, OPT_ENCODING },
		{ "batch-max-records", required_argument, NULL, OPT_BATCH_RECORDS },
		{ "batch-max-bytes", required_argument, NULL, OPT_BATCH_BYTES },
		{ "buffer-max-bytes", required_argument, NULL, OPT_BUFFER_BYTES },
		{ "shutdown-grace", required_argument, NULL, OPT_GRACE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_CGROUP:
			cfg->cgroup = optarg;
			break;
		case OPT_INTERVAL:
			if (duration_parse(optarg, &cfg->interval_ns) ||
			    cfg->interval_ns < 100 * DURATION_NS_PER_MS ||
			    cfg->interval_ns > 3600 * DURATION_NS_PER_S) {
				pr_warn(
				    "--interval %s: expected a duration from 100ms to 1h, e.g. 10s",
				    optarg);
				return -EINVAL;
			}
			break;
		case OPT_OUTPUT:
			cfg->output = optarg;
			break;
		case OPT_PER_CONN:
			cfg->per_connection = 1;
			break;
		case OPT_LABELS:
			cfg->labels_file = optarg;
			break;
		case OPT_STATS:
			if (duration_parse(optarg, &cfg->stats_interval_ns) &&
			    strcmp(optarg, "0") != 0) {
				pr_warn("--stats-interval %s: expected a duration, e.g. 60s, or 0",
					optarg);
				return -EINVAL;
			}
			if (strcmp(optarg, "0") == 0)
				cfg->stats_interval_ns = 0;
			break;
		case OPT_MAX_RECORDS:
			if (cli_parse_u32(optarg, 1, 1u << 24, &cfg->max_records)) {
				pr_warn("--max-records %s: expected an integer from 1 to 16777216",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_MAX_CONNS:
			if (cli_parse_u32(optarg, 1, 1u << 24, &cfg->max_connections)) {
				pr_warn(
				    "--max-connections %s: expected an integer from 1 to 16777216",
				    optarg);
				return -EINVAL;
			}
			break;
		case OPT_RING:
			if (parse_bytes32(optarg, 4096, 1u << 30, &cfg->ring_bytes) ||
			    (cfg->ring_bytes & (cfg->ring_bytes - 1))) {
				pr_warn(
				    "--ring-bytes %s: expected a power of two from 4096 to 2^30",
				    optarg);
				return -EINVAL;
			}
			break;
		case OPT_LOG:
			if (log_level_parse(optarg, &cfg->log_level)) {
				pr_warn("--log-level %s: expected warn, info or debug", optarg);
				return -EINVAL;
			}
			break;
		case OPT_CA:
			cfg->ca_file = optarg;
			break;
		case OPT_CERT:
			cfg->cert_file = optarg;
			break;
		case OPT_KEY:
			cfg->key_file = optarg;
			break;
		case OPT_TOKEN:
			cfg->token_file = optarg;
			break;
		case OPT_ENCODING:
			if (wire_encoding_parse(optarg, &cfg->encoding)) {
				pr_warn("--encoding %s: expected zstd, gzip or identity", optarg);
				return -EINVAL;
			}
			break;
		case OPT_BATCH_RECORDS:
			if (cli_parse_u32(optarg, 1, WIRE_MAX_RECORDS, &cfg->batch_max_records)) {
				pr_warn("--batch-max-records %s: expected an integer from 1 to %u",
					optarg, WIRE_MAX_RECORDS);
				return -EINVAL;
			}
			break;
		case OPT_BATCH_BYTES:
			if (parse_bytes32(optarg, 4096, 64u << 20, &cfg->batch_max_bytes)) {
				pr_warn("--batch-max-bytes %s: expected an integer from 4096 to %u",
					optarg, 64u << 20);
				return -EINVAL;
			}
			break;
		case OPT_BUFFER_BYTES:
			if (parse_bytes32(optarg, 65536, 1u << 30, &cfg->buffer_max_bytes)) {
				pr_warn(
				    "--buffer-max-bytes %s: expected an integer from 65536 to %u",
				    optarg, 1u << 30);
				return -EINVAL;
			}
			break;
		case OPT_GRACE:
			if (duration_parse(optarg, &cfg->shutdown_grace_ns) ||
			    cfg->shutdown_grace_ns > 600 * DURATION_NS_PER_S) {
				pr_warn(
				    "--shutdown-grace %s: expected a duration up to 10m, e.g. 5s",
				    optarg);
				return -EINVAL;
			}
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		default:
			if (optopt)
				pr_warn("option -%c: unknown or missing its argument (see --help)",
					optopt);
			else
				pr_warn("%s: unknown option or missing argument (see --help)",
					argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		pr_warn("unexpected argument '%s' (see --help)", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static void write_record(struct flow_record *rec, void *ctx)
{
	struct sidecar *s = ctx;
	const char *data;
	size_t len;

	snprintf(rec->container_id, sizeof(rec->container_id), "%s",
		 cgroup_names__container_id(s->names, rec->cgroup_id, clock_ns(CLOCK_MONOTONIC)));
	rec->local = &s->id.view;
	rec->remote = NULL;
	rec->remote_source = FLOW_SOURCE_UNATTRIBUTED;
	s->records++;
	if (s->exp) {
		exporter__add(s->exp, rec);
		return;
	}

	jsonw__reset(s->jw);
	flow_record_json(rec, s->jw);
	jsonw__raw_char(s->jw, '\n');
	if (jsonw__error(s->jw)) {
		pr_warn("out of memory formatting a record");
		return;
	}
	data = jsonw__data(s->jw, &len);
	if (fwrite(data, 1, len, s->out) != len && !s->out_failed) {
		s->out_failed = 1;
		pr_warn("writing records to %s failed: %s", s->cfg.output, strerror(errno));
	}
}

static void flush(struct sidecar *s, uint64_t next_start_ns)
{
	int64_t boot_to_wall = (int64_t)(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME));

	flow_table__flush(s->table, s->interval_start_ns, boot_to_wall, write_record, s);
	s->interval_start_ns = next_start_ns;
	if (s->exp)
		return;
	if (fflush(s->out) && !s->out_failed) {
		s->out_failed = 1;
		pr_warn("writing records to %s failed: %s", s->cfg.output, strerror(errno));
	}
}

static void on_event(const struct flow_event *ev, void *ctx)
{
	struct sidecar *s = ctx;

	s->events++;
	/*
	 * More distinct records than --max-records: close the interval early.
	 * The flush replays events deferred by a walk's cut, which may fill the
	 * table again, so a second flush can be needed (never more).
	 */
	for (int tries = 0; flow_table__add(s->table, ev) == -ENOSPC; tries++) {
		if (tries == 2) {
			s->table_drops++;
			return;
		}
		s->early_flushes++;
		flush(s, clock_ns(CLOCK_BOOTTIME));
	}
}

static void end_interval(struct sidecar *s)
{
	uint64_t cut = clock_ns(CLOCK_BOOTTIME);
	int err;

	flow_table__set_cut(s->table, cut);
	if (netns_set__refresh(s->netns) < 0)
		pr_debug("cannot scan the scope for network namespaces");
	err = capture__walk(s->cap, netns_set__fds(s->netns), netns_set__count(s->netns),
			    netns_set__self_fd(s->netns));
	if (err) {
		s->walk_errors++;
		pr_warn("interval walk over the tracked sockets failed: %s", strerror(-err));
	}
	capture__drain(s->cap);
	flush(s, cut);
	/* every interval ends a batch, empty or not: it is also the pod's heartbeat */
	if (s->exp)
		exporter__seal(s->exp);
}

/* Cumulative losses for the batch header (export_drops_fn). */
static void capture_drops(void *ctx, uint64_t cumul[WIRE_DROP__COUNT])
{
	struct sidecar *s = ctx;
	struct flow_kstats k;

	capture__kstats(s->cap, &k);
	cumul[WIRE_DROP_KERNEL_RING] = k.ring_full;
	cumul[WIRE_DROP_KERNEL_MAP] = k.map_full;
	cumul[WIRE_DROP_TABLE] = s->table_drops;
}

static void print_stats(struct sidecar *s, const char *when)
{
	struct export_stats e = { 0 };
	struct flow_kstats k;
	char exp[512] = "";

	capture__kstats(s->cap, &k);
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
	pr_info("stats%s: records=%llu events=%llu flows_started=%llu flows_closed=%llu "
		"drops_ring_full=%llu drops_map_full=%llu drops_table=%llu listener_full=%llu "
		"iter_deferred=%llu wakeups=%llu early_flushes=%llu walk_errors=%llu "
		"cgroup_misses=%llu%s",
		when, (unsigned long long)s->records, (unsigned long long)s->events,
		(unsigned long long)k.flows_started, (unsigned long long)k.flows_closed,
		(unsigned long long)k.ring_full, (unsigned long long)k.map_full,
		(unsigned long long)s->table_drops, (unsigned long long)k.listener_full,
		(unsigned long long)k.iter_deferred, (unsigned long long)k.wakeups,
		(unsigned long long)s->early_flushes, (unsigned long long)s->walk_errors,
		(unsigned long long)cgroup_names__misses(s->names), exp);
}

static int timer_new(uint64_t period_ns)
{
	struct itimerspec its = { 0 };
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	its.it_value.tv_sec = (time_t)(period_ns / DURATION_NS_PER_S);
	its.it_value.tv_nsec = (long)(period_ns % DURATION_NS_PER_S);
	its.it_interval = its.it_value;
	if (timerfd_settime(fd, 0, &its, NULL)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int epoll_add(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static void timer_ack(int fd)
{
	uint64_t expirations;

	if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		pr_debug("timerfd read: %s", strerror(errno));
}

static int run(struct sidecar *s)
{
	int ep = -1, sfd = -1, t_drain = -1, t_interval = -1, t_stats = -1, err = 0;
	char dur[32];
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	/* blocked in main() before any thread exists; here they become fd events */
	if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		err = -errno;
		pr_warn("signalfd: %s", strerror(-err));
		goto cleanup;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	t_drain = timer_new(DRAIN_PERIOD_NS);
	t_interval = timer_new(s->cfg.interval_ns);
	if (s->cfg.stats_interval_ns)
		t_stats = timer_new(s->cfg.stats_interval_ns);
	if (ep < 0 || t_drain < 0 || t_interval < 0 || (s->cfg.stats_interval_ns && t_stats < 0) ||
	    epoll_add(ep, sfd) || epoll_add(ep, t_drain) || epoll_add(ep, t_interval) ||
	    epoll_add(ep, capture__fd(s->cap)) || (t_stats >= 0 && epoll_add(ep, t_stats))) {
		err = -errno;
		pr_warn("event loop setup: %s", strerror(errno));
		goto cleanup;
	}

	s->interval_start_ns = clock_ns(CLOCK_BOOTTIME);
	pr_info("ready: capturing TCP flows in cgroup %s (interval %s, %s)", s->scope,
		duration_format(s->cfg.interval_ns, dur, sizeof(dur)),
		s->cfg.per_connection ? "per connection" : "aggregated");

	for (;;) {
		struct epoll_event evs[8];
		int n = epoll_wait(ep, evs, 8, -1);

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
			} else if (fd == t_interval) {
				timer_ack(fd);
				end_interval(s);
			} else if (fd == t_stats) {
				timer_ack(fd);
				print_stats(s, "");
			} else {
				if (fd == t_drain)
					timer_ack(fd);
				capture__drain(s->cap);
			}
		}
		if (s->out_failed) {
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
	print_stats(s, " at exit");
	if (s->out_failed)
		err = -EIO;
cleanup:
	if (t_stats >= 0)
		close(t_stats);
	if (t_interval >= 0)
		close(t_interval);
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
	struct sidecar s = { .cfg = config_defaults };
	char mount[PATH_MAX], why[PATH_MAX + 256];
	enum capture_error kind;
	sigset_t sigs;
	int err, ret = 1;

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
	if (parse_args(argc, argv, &s.cfg))
		return EXIT_USAGE;
	log_init("podflow-sidecar", s.cfg.log_level);

	if (cgroup_v2_mount("/proc/mounts", mount, sizeof(mount))) {
		pr_warn(
		    "no cgroup v2 mount in /proc/mounts: the sidecar scopes capture by cgroup v2");
		return 1;
	}
	if (s.cfg.cgroup) {
		if (cgroup_resolve(mount, s.cfg.cgroup, s.scope, sizeof(s.scope), why,
				   sizeof(why))) {
			pr_warn("%s", why);
			return EXIT_USAGE;
		}
	} else if (cgroup_default_scope(mount, "/proc/self/cgroup", s.scope, sizeof(s.scope))) {
		pr_warn("cannot find this process's cgroup v2 in /proc/self/cgroup; pass --cgroup");
		return EXIT_USAGE;
	}
	if (identity_load(&s.id, getenv, s.cfg.labels_file, why, sizeof(why))) {
		pr_warn("%s", why);
		return EXIT_USAGE;
	}
	if (strncmp(s.cfg.output, "http://", 7) == 0 || strncmp(s.cfg.output, "https://", 8) == 0) {
		s.out = NULL; /* set up after the capture: its counters feed the batch headers */
	} else if (strcmp(s.cfg.output, "-") == 0) {
		s.out = stdout;
	} else {
		s.out = fopen(s.cfg.output, "ae");
		if (!s.out) {
			pr_warn("--output %s: %s", s.cfg.output, strerror(errno));
			return EXIT_USAGE;
		}
	}
	/* a closed stdout is reported as a write error, not a silent SIGPIPE death */
	signal(SIGPIPE, SIG_IGN);

	s.table =
	    flow_table__new(s.cfg.per_connection ? FLOW_TABLE_PER_CONNECTION : FLOW_TABLE_AGGREGATE,
			    s.cfg.max_records);
	s.names = cgroup_names__new(s.scope, 65536, DURATION_NS_PER_S);
	s.jw = jsonw__new();
	s.netns = netns_set__new(s.scope, 64);
	if (!s.table || !s.names || !s.jw || !s.netns) {
		pr_warn("out of memory");
		goto cleanup;
	}

	s.cap = capture__new(&(struct capture_opts){ .cgroup_path = s.scope,
						     .ring_bytes = s.cfg.ring_bytes,
						     .max_connections = s.cfg.max_connections,
						     .wakeup_bytes = s.cfg.ring_bytes / 4 },
			     on_event, &s, &kind, why, sizeof(why));
	if (!s.cap) {
		pr_warn("%s", why);
		ret = kind == CAPTURE_ERR_USAGE ? EXIT_USAGE : 1;
		goto cleanup;
	}
	if (!s.out) {
		struct export_opts eo = {
			.url = s.cfg.output,
			.ca_file = s.cfg.ca_file,
			.cert_file = s.cfg.cert_file,
			.key_file = s.cfg.key_file,
			.token_file = s.cfg.token_file,
			.encoding = s.cfg.encoding,
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
			pr_warn("%s", why);
			ret = EXIT_USAGE;
			goto cleanup;
		}
	}

	err = run(&s);
	ret = err ? 1 : 0;
cleanup:
	exporter__close(s.exp, 0, NULL); /* only on an error path: run() closes it */
	capture__free(s.cap);
	jsonw__free(s.jw);
	cgroup_names__free(s.names);
	netns_set__free(s.netns);
	flow_table__free(s.table);
	if (s.out && s.out != stdout)
		fclose(s.out);
	return ret;
}
