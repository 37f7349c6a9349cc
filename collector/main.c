// SPDX-License-Identifier: BSD-2-Clause
/* podflow-collector: the ingest server; wires listeners, workers, signals and the stats line. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "alloc.h"
#include "cli.h"
#include "clock.h"
#include "collector.h"
#include "collector_config.h"
#include "config.h"
#include "config_watch.h"
#include "conn.h"
#include "duration.h"
#include "files.h"
#include "listen_addr.h"
#include "insight.h"
#include "insight_kafka.h"
#include "insight_rebuild.h"
#include "ipfix_listener.h"
#include "ui_assets.h"
#include "kafka_sink.h"
#include "log.h"
#include "output.h"
#include "peers.h"
#include "attribution.h"
#include "stats.h"
#include "timer.h"
#include "tls.h"
#include "token.h"
#include "webhook.h"
#include "worker.h"

#define EXIT_USAGE     2
#define CONFIG_POLL_NS DURATION_NS_PER_S	   /* the fallback when inotify misses a change */
#define GRACE_NS       (4 * DURATION_NS_PER_S)	   /* SIGTERM to exit stays under 5 s */
#define EXIT_BUDGET_NS (4700 * DURATION_NS_PER_MS) /* SIGTERM to exit, under a pod's 5 s */

static const struct config_switch collector_switches[] = {
	{ "null-sink", "null_sink", "true", "decode and count, write nothing (null_sink: true)" },
	{ "no-attribution", "attribution.enabled", "false",
	  "write records at once, unattributed (attribution.enabled: false)" },
	{ "no-files", "sinks.files.enabled", "false",
	  "no Hive-partitioned files (sinks.files.enabled: false)" },
	{ "jsonl", "sinks.jsonl.enabled", "true",
	  "also plain JSON lines DATA_DIR/flows-*.jsonl (sinks.jsonl.enabled: true)" },
	{ "no-insight", "insight.enabled", "false",
	  "no insight view: no /api/v1/ and no web UI (insight.enabled: false)" },
};

static const struct config_cli collector_cli = {
	.usage_head =
	    "Usage: podflow-collector [--config FILE] [options]\n"
	    "Receives flow batches from sidecars over HTTP/2 (POST /v1/flows), names each\n"
	    "record's remote side (docs/attribution.md) and writes the records to\n"
	    "DATA_DIR/flows/dt=YYYY-MM-DD/hr=HH/part-*.json.gz (docs/files.md) and, with\n"
	    "kafka.brokers, to a Kafka topic (docs/kafka-sink.md).\n\n",
	.switches = collector_switches,
	.n_switches = sizeof(collector_switches) / sizeof(collector_switches[0]),
};

/* The file and the flags, validated; 0 or -EINVAL with one line in `why`. */
static int validate(const void *cfg, char *why, size_t len)
{
	return collector_config_validate(cfg, why, len);
}

/* mkdir -p; 0 or -errno with the failing path in `why`. */
static int make_dirs(const char *path, char *why, size_t len)
{
	char buf[PATH_MAX];
	struct stat st;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		snprintf(why, len, "--data-dir: path too long");
		return -ENAMETOOLONG;
	}
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST) {
			int err = -errno;

			snprintf(why, len, "--data-dir %s: cannot create %s: %s", path, buf,
				 strerror(-err));
			return err;
		}
		*p = saved;
		if (!saved)
			break;
	}
	if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
		snprintf(why, len, "--data-dir %s: not a directory", path);
		return -ENOTDIR;
	}
	if (access(path, W_OK | X_OK)) {
		int err = -errno;

		snprintf(why, len, "--data-dir %s: %s", path, strerror(-err));
		return err;
	}
	return 0;
}

/*
 * One listening socket per worker on the same address (SO_REUSEPORT: the
 * kernel spreads connections across them, so accepting needs no lock and
 * no thread hands a connection to another).  Port 0: the first bind picks
 * the port, the others join it.
 */
static int open_listeners(struct listen_addr *la, uint32_t n, int *fds, char *why, size_t len)
{
	char addr[96];

	for (uint32_t i = 0; i < n; i++)
		fds[i] = -1;
	for (uint32_t i = 0; i < n; i++) {
		int one = 1, zero = 0, fd;

		fd = socket(la->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 && i == 0 && la->any && errno == EAFNOSUPPORT) {
			/* a kernel without IPv6: ":PORT" means every IPv4 address */
			listen_addr_v4_any(la);
			fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		}
		if (fd < 0)
			goto fail;
		fds[i] = fd;
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
			goto fail;
		if (la->ss.ss_family == AF_INET6 && la->any &&
		    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)))
			goto fail;
		if (bind(fd, (struct sockaddr *)&la->ss, la->len) || listen(fd, 1024))
			goto fail;
		if (i == 0 && listen_addr_port((struct sockaddr *)&la->ss) == 0) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);

			if (getsockname(fd, (struct sockaddr *)&ss, &sl))
				goto fail;
			listen_addr_set_port(la, listen_addr_port((struct sockaddr *)&ss));
		}
	}
	return 0;
fail:
	snprintf(why, len, "--listen %s: %s",
		 listen_addr_format((struct sockaddr *)&la->ss, addr, sizeof(addr)),
		 strerror(errno));
	for (uint32_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return -EADDRNOTAVAIL;
}

/* The workers' counters summed, and the IPFIX workers' (their records, bytes, drops). */
static void print_stats(struct collector *c, uint32_t n, const char *when)
{
	struct stats sum = { 0 };
	char line[2048];

	for (uint32_t i = 0; i < n; i++)
		stats_sum(&sum, worker__stats(c->workers[i]));
	ipfix_listener__sum_stats(c->ipfix, &sum);
	pr_info("stats%s: %s", when, stats_format(&sum, line, sizeof(line)));
}

/* workers 0: one per CPU (the configuration keeps saying 0) */
static uint32_t online_cpus(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	return cpus < 1 ? 1 : cpus > COLLECTOR_MAX_WORKERS ? COLLECTOR_MAX_WORKERS : (uint32_t)cpus;
}

/*
 * The IPFIX listener (docs/ipfix.md): its sockets bound now, with the
 * HTTP/2 listeners; IPFIX worker i writes through writer n_workers + i and
 * journals through journal writer n_workers + i.  0 or -1 (logged).
 */
static int open_ipfix(struct collector *c, uint32_t n_workers, uint32_t n_ipfix, int died_fd,
		      char *why, size_t len)
{
	const struct collector_config *cfg = &c->cfg;
	struct ingest_opts *io = calloc(n_ipfix, sizeof(*io));
	struct ipfix_listener_opts o = {
		.listen = cfg->ipfix_listen,
		.workers = n_ipfix,
		.rcvbuf = cfg->ipfix_rcvbuf,
		.max_exporters = cfg->ipfix_max_exporters,
		.max_templates = cfg->ipfix_max_templates,
		.pen = cfg->ipfix_pen,
		.allow = &cfg->ipfix_allow,
		.died_fd = died_fd,
		.ingest = io,
	};

	if (!io) {
		pr_err("out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < n_ipfix; i++)
		io[i] = (struct ingest_opts){
			.worker = n_workers + i,
			.outputs = c->outputs,
			.writer = outputs__writer(c->outputs, n_workers + i),
			.attr = c->attribution ? attribution__attributor(c->attribution) : NULL,
			.bounds = &c->bounds,
			.late_log = c->late_log,
			.verifier = c->attribution ? attribution__verifier(c->attribution) : NULL,
			.journal = c->attribution
				       ? attribution__journal_writer(c->attribution, n_workers + i)
				       : NULL,
		};
	c->ipfix = ipfix_listener__new(&o, why, len);
	free(io);
	if (!c->ipfix) {
		pr_err("%s", why);
		return -1;
	}
	return 0;
}

/*
 * Says where IPFIX listens, and, beyond loopback, that UDP cannot be
 * authenticated: neither token_file nor client certificates apply to it
 * (docs/security.md, "IPFIX").
 */
static void ipfix_started(struct collector *c, char *buf, size_t len)
{
	const struct collector_config *cfg = &c->cfg;
	bool verified = c->attribution && attribution__verifier(c->attribution);

	pr_info("ipfix: listening on %s", ipfix_listener__describe(c->ipfix, buf, len));
	if (ipfix_listener__rcvbuf(c->ipfix) < 2 * cfg->ipfix_rcvbuf)
		pr_warn("ipfix: the kernel gave each socket a receive buffer of %llu bytes, less "
			"than the %llu ipfix.rcvbuf asks (twice it, as the kernel counts): raise "
			"net.core.rmem_max, or give the collector CAP_NET_ADMIN (SO_RCVBUFFORCE); "
			"bursts beyond it are dropped "
			"(podflow_collector_ipfix_receive_queue_drops_total)",
			(unsigned long long)ipfix_listener__rcvbuf(c->ipfix),
			(unsigned long long)cfg->ipfix_rcvbuf);
	if (!ipfix_listener__beyond_loopback(c->ipfix))
		return;
	pr_warn("ipfix on %s is UDP, which cannot be authenticated (token_file and client "
		"certificates do not apply): anyone who can send from ipfix.allow_cidrs, or forge "
		"such a source address, can write records%s (docs/security.md, IPFIX)",
		ipfix_listener__address(c->ipfix, buf, len),
		!c->attribution ? ""
		: verified	? "; its heartbeats are not used: IPFIX carries no identity token "
				  "to verify (attribution.verify_heartbeats)"
				: " and claim any pod's address in heartbeats");
}

/* The late records' way out: the attributor's write callback. */
static int write_late(void *ctx, const struct wire_batch *b)
{
	return outputs__write_late(ctx, b);
}

/*
 * The output stage as configured: one writer per worker, one per IPFIX
 * worker, one for late records.  0 or -1.
 */
static int open_outputs(struct collector *c, uint32_t n_workers, uint32_t n_ipfix, char *why,
			size_t len)
{
	const struct collector_config *cfg = &c->cfg;
	struct kafka_sink_opts ko = {
		.brokers = cfg->kafka_brokers,
		.topic = cfg->kafka_topic,
		.linger_ms = (int)(cfg->kafka_linger_ns / DURATION_NS_PER_MS),
		.batch_messages = (int)cfg->kafka_batch_messages,
		.max_queued = cfg->kafka_max_queued,
		.compression = cfg->kafka_compression,
	};
	struct outputs_opts o = {
		.data_dir = cfg->data_dir,
		.files = cfg->files,
		.collector_id = cfg->collector_id,
		.files_max_bytes = cfg->files_max_bytes,
		.files_max_age_ns = cfg->files_max_age_ns,
		.jsonl = cfg->jsonl,
		.null_sink = cfg->null_sink,
		.writers = n_workers,
		.ipfix_writers = n_ipfix,
		.late = cfg->attribution,
		.kafka = cfg->kafka_brokers && *cfg->kafka_brokers && cfg->kafka_sink ? &ko : NULL,
		/* source kafka: the view reads the topic instead, every collector's records */
		.insight = strcmp(cfg->insight_source, "output") == 0 ? c->insight : NULL,
	};

	/* a name collector_config_validate() has taken */
	files_compressor_parse(cfg->files_compressor, &o.files_compressor);
	c->outputs = outputs__new(&o, why, len);
	if (!c->outputs) {
		pr_err("%s", why);
		return -1;
	}
	return 0;
}

/*
 * Where the insight view's records come from besides the tap: the files
 * read back (source output, listed now, before any writer writes: what this
 * process writes reaches the view through the tap), or the flows topic
 * (source kafka) from the window's start.  0 or -1 (logged).
 */
static int open_insight_sources(struct collector *c, char *why, size_t len)
{
	const struct collector_config *cfg = &c->cfg;
	uint64_t now = (uint64_t)clock_wall_ms(), win = cfg->insight_window_ns / DURATION_NS_PER_MS;
	uint64_t since = now > win ? now - win : 0;
	char group[320], id[FILES_ID_MAX + 1];

	if (strcmp(cfg->insight_source, "kafka") == 0) {
		struct insight_kafka_opts ko = {
			.brokers = cfg->kafka_brokers,
			.topic = cfg->kafka_topic,
			.group_id = group,
			/* without the rebuild: only what comes from now on */
			.since_ms = cfg->insight_rebuild ? since : now,
		};

		/* one group per replica: its collector id, the one its files are named by */
		if (cfg->insight_group)
			snprintf(group, sizeof(group), "%s", cfg->insight_group);
		else
			snprintf(group, sizeof(group), "podflow-insight-%s",
				 cfg->collector_id ? cfg->collector_id
						   : files_default_id(id, sizeof(id)));
		c->insight_kafka = insight_kafka__new(&ko, c->insight, why, len);
		if (!c->insight_kafka) {
			pr_err("%s", why);
			return -1;
		}
		pr_info("insight: reading %s as consumer group %s from %s", cfg->kafka_topic, group,
			cfg->insight_rebuild ? "the window's start" : "now");
		return 0;
	}
	if (!cfg->insight_rebuild)
		return 0;
	c->insight_rebuild = insight_rebuild__new(cfg->data_dir, since, c->insight, why, len);
	if (!c->insight_rebuild) {
		pr_err("%s", why);
		return -1;
	}
	return 0;
}

/* The live ingest limits, as configured, for the workers (which read them with atomics). */
static void apply_ingest_limits(struct collector *c)
{
	const struct collector_config *cfg = &c->cfg;

	__atomic_store_n(&c->bounds.max_skew_ms, cfg->ingest_max_skew_ns / DURATION_NS_PER_MS,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&c->bounds.max_age_ms, cfg->ingest_max_age_ns / DURATION_NS_PER_MS,
			 __ATOMIC_RELAXED);
	/* judged only where heartbeats are used */
	__atomic_store_n(&c->bounds.heartbeat_grace_ms,
			 c->attribution ? cfg->heartbeat_grace_ns / DURATION_NS_PER_MS : 0,
			 __ATOMIC_RELAXED);
	if (c->peers)
		peers__set_max(c->peers, cfg->max_connections_per_peer);
}

/* The file changed (or may have): put what may change live in force. */
static void reload(struct collector *c, int t_stats)
{
	struct collector_config old;

	if (config_source_reload(&c->src, &c->cfg, &old) < 0)
		return;
	apply_ingest_limits(c);
	if (old.log_level != c->cfg.log_level)
		log_init("podflow-collector", c->cfg.log_level);
	if (old.stats_interval_ns != c->cfg.stats_interval_ns)
		timer_arm(t_stats, c->cfg.stats_interval_ns);
	if (c->attribution)
		attribution__reload(c->attribution, &c->cfg);
	config_free(&collector_config_schema, &old);
}

static int epoll_add(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/*
 * Waits for a signal, a stats tick, the admin endpoint, a config change or a
 * failed worker.  0 (signal) or -EIO (a worker failed).
 */
static int wait_loop(struct collector *c, int sfd, int died_fd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), t_stats, err = 0;

	if (ep < 0)
		return -errno;
	t_stats = timer_new(c->cfg.stats_interval_ns);
	if (t_stats < 0) {
		close(ep);
		return t_stats;
	}
	if (epoll_add(ep, t_stats) || epoll_add(ep, sfd) || epoll_add(ep, died_fd) ||
	    (c->admin && epoll_add(ep, admin__fd(c->admin))) ||
	    (c->api && epoll_add(ep, admin__fd(c->api))) ||
	    (c->webhook && epoll_add(ep, admin__fd(webhook__admin(c->webhook)))) ||
	    (c->watch && config_watch__fd(c->watch) >= 0 &&
	     epoll_add(ep, config_watch__fd(c->watch)))) {
		err = -errno;
		pr_warn("event loop setup: %s", strerror(-err));
		goto out;
	}
	for (;;) {
		struct epoll_event e[8];
		int timeout = c->watch ? config_watch__timeout_ms(c->watch, clock_mono_ns()) : -1,
		    r;
		uint64_t v;

		for (int i = 0; i < 3; i++) {
			struct admin *a = i == 0       ? c->admin
					  : i == 1     ? c->api
					  : c->webhook ? webhook__admin(c->webhook)
						       : NULL;
			int at = a ? admin__timeout_ms(a) : -1;

			if (at >= 0 && (timeout < 0 || at < timeout))
				timeout = at;
		}
		r = epoll_wait(ep, e, 8, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			pr_warn("epoll_wait: %s", strerror(-err));
			break;
		}
		for (int i = 0; i < r; i++) {
			if (e[i].data.fd == sfd) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) == sizeof(si))
					pr_info("signal %u: finishing in-flight requests and "
						"exiting",
						si.ssi_signo);
				goto out;
			}
			if (e[i].data.fd == died_fd) {
				pr_warn("a worker's event loop failed: shutting down");
				err = -EIO;
				goto out;
			}
			if (e[i].data.fd == t_stats && read(t_stats, &v, sizeof(v)) > 0)
				print_stats(c, c->n_workers, "");
		}
		if (c->admin)
			admin__run(c->admin);
		if (c->api)
			admin__run(c->api);
		if (c->webhook)
			admin__run(webhook__admin(c->webhook));
		if (c->watch && config_watch__check(c->watch, clock_mono_ns()) == 1)
			reload(c, t_stats);
	}
out:
	close(t_stats);
	close(ep);
	return err;
}

int main(int argc, char **argv)
{
	static const char *flags[CONFIG_FLAGS_LEN];
	static struct collector c = {
		.src = { .schema = &collector_config_schema, .validate = validate, .flags = flags }
	};
	struct worker **workers = c.workers;
	int fds[COLLECTOR_MAX_WORKERS], sfd = -1, died_fd = -1, ret = 1, err;
	char why[PATH_MAX + 1024], addr[96], outs[PATH_MAX + 512], malloc_why[96];
	struct collector_config *cfg = &c.cfg;
	struct conn_limits lim;
	struct listen_addr la;
	SSL_CTX *ssl_ctx = NULL;
	struct token_file *token = NULL;
	uint32_t n = 0, n_workers, n_ipfix = 0;
	int watch_err = 0;
	uint64_t stop_at = 0;	  /* when the signal came (monotonic ns) */
	bool attributing = false; /* the attribution stage ran: its counters go on the exit line */
	sigset_t mask;

	/* before any thread: the Kafka producer's messages cross threads */
	alloc_tune(malloc_why, sizeof(malloc_why));
	log_init("podflow-collector", LOG_LEVEL_INFO);
	err = config_parse_args(&collector_config_schema, &collector_cli, argc, argv, &c.src.path,
				flags);
	if (err)
		return err > 0 ? 0 : EXIT_USAGE;
	/* watch before the first read, or a change in between would be missed */
	if (c.src.path) {
		c.watch = config_watch__new(c.src.path, CONFIG_POLL_NS);
		watch_err = c.watch ? 0 : errno;
	}
	if (config_source_load(&c.src, cfg, why, sizeof(why))) {
		pr_err("%s", why);
		config_watch__free(c.watch);
		return EXIT_USAGE;
	}
	log_init("podflow-collector", cfg->log_level);
	pr_debug("%s", malloc_why);
	if (watch_err)
		pr_warn("--config %s: cannot watch it (%s): changes need a restart", c.src.path,
			strerror(watch_err));
	listen_addr_parse(cfg->listen, &la); /* validated by the table */
	/* workers 0: one per CPU (the configuration keeps saying 0) */
	n_workers = cfg->workers ? cfg->workers : online_cpus();
	if (cfg->ipfix_listen && *cfg->ipfix_listen)
		n_ipfix = cfg->ipfix_workers ? cfg->ipfix_workers : online_cpus();
	lim = (struct conn_limits){
		.max_body = cfg->max_body,
		/* one connection may hold a few bodies in flight, never the whole worker budget */
		.max_conn_buffered =
		    cfg->max_body * 4 < cfg->max_buffered ? cfg->max_body * 4 : cfg->max_buffered,
		.max_worker_buffered = cfg->max_buffered,
		.max_streams = cfg->max_streams,
		.max_header_list = (uint32_t)cfg->max_header_list, /* at most 1 MiB */
		/* TLS handshake + preface: 10 s, or less when requests must be quicker */
		.handshake_ns = cfg->request_ns < 10 * DURATION_NS_PER_S ? cfg->request_ns
									 : 10 * DURATION_NS_PER_S,
		.idle_ns = cfg->idle_ns,
		.request_ns = cfg->request_ns,
		.linger_ns = DURATION_NS_PER_S,
	};

	if (make_dirs(cfg->data_dir, why, sizeof(why))) {
		pr_err("%s", why);
		goto cleanup;
	}
	if (cfg->tls_cert) {
		ssl_ctx = tls_server_ctx_new(cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca, why,
					     sizeof(why));
		if (!ssl_ctx) {
			pr_err("%s", why);
			goto cleanup;
		}
	}
	if (cfg->token_file) {
		token = token_file__new(cfg->token_file, INGEST_TOKEN_RECHECK, why, sizeof(why));
		if (!token) {
			pr_err("%s", why);
			goto cleanup;
		}
	}
	/* a peer that resets mid-write is an error return, not a SIGPIPE death */
	signal(SIGPIPE, SIG_IGN);
	/* blocked before any thread starts, so only signalfd ever sees them */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) || (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0 ||
	    (died_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		pr_err("signalfd: %s", strerror(errno));
		goto cleanup;
	}
	if (cfg->insight) {
		struct insight_opts io = {
			.window_ms = cfg->insight_window_ns / DURATION_NS_PER_MS,
			.resolution_ms = cfg->insight_resolution_ns / DURATION_NS_PER_MS,
			.max_edges = cfg->insight_max_edges,
		};

		c.insight = insight__new(&io);
		if (!c.insight) {
			pr_err("insight: %s", strerror(errno));
			goto cleanup;
		}
	}
	/* after the signals are blocked: the outputs, the Kafka producer and the feeds start threads */
	if (open_outputs(&c, n_workers, n_ipfix, why, sizeof(why)))
		goto cleanup;
	if (cfg->attribution) {
		/* a journal writer per ingest thread, HTTP/2 workers first, then IPFIX ones */
		c.attribution = attribution__new(cfg, n_workers + n_ipfix, write_late, c.outputs,
						 why, sizeof(why));
		if (!c.attribution) {
			pr_err("%s", why);
			goto cleanup;
		}
	}
	c.peers = peers__new(cfg->max_connections_per_peer);
	c.late_log = ingest_late_log__new();
	c.bounds.since_ms = (uint64_t)clock_wall_ms();
	if (!c.peers || !c.late_log) {
		pr_err("out of memory");
		goto cleanup;
	}
	apply_ingest_limits(&c);
	if (open_listeners(&la, n_workers, fds, why, sizeof(why))) {
		pr_err("%s", why);
		goto cleanup;
	}
	for (n = 0; n < n_workers; n++) {
		struct worker_opts o = {
			.id = n,
			.listen_fd = fds[n],
			.died_fd = died_fd,
			.lim = &lim,
			.max_connections = cfg->max_connections,
			.peers = c.peers,
			.grace_ns = GRACE_NS,
			.ssl_ctx = ssl_ctx,
			.ingest = { .worker = n,
				    .outputs = c.outputs,
				    .writer = outputs__writer(c.outputs, n),
				    .token = token,
				    .max_decoded = cfg->max_decoded,
				    .max_records = cfg->max_batch_records,
				    .attr = c.attribution ? attribution__attributor(c.attribution)
							  : NULL,
				    .bounds = &c.bounds,
				    .verifier =
					c.attribution ? attribution__verifier(c.attribution) : NULL,
				    .journal = c.attribution
						   ? attribution__journal_writer(c.attribution, n)
						   : NULL,
				    .late_log = c.late_log },
		};

		fds[n] = -1; /* the worker owns it now, even if it fails */
		workers[n] = worker__new(&o, why, sizeof(why));
		if (!workers[n]) {
			pr_warn("%s", why);
			for (uint32_t i = n + 1; i < n_workers; i++)
				close(fds[i]);
			goto cleanup;
		}
	}
	c.n_workers = n;
	if (n_ipfix && open_ipfix(&c, n_workers, n_ipfix, died_fd, why, sizeof(why)))
		goto cleanup;
	/* probes and Prometheus on `admin`; what maps the cluster only on the API (docs/security.md) */
	if (cfg->admin) {
		struct admin_callbacks cb = { .metrics = collector_metrics,
					      .ready = collector_ready,
					      .ctx = &c };

		c.admin = admin__new(cfg->admin, &cb, why, sizeof(why));
		if (!c.admin) {
			pr_err("%s", why);
			goto cleanup;
		}
	}
	if (cfg->api_listen) {
		struct admin_callbacks cb = { .config = collector_config_json,
					      .json = collector_json,
					      .authorize = collector_api_authorize,
					      .no_probes = true,
					      .ctx = &c };

		if (c.insight) { /* the web UI, embedded (docs/ui.md) */
			cb.assets = insight_ui_assets;
			cb.n_assets = insight_ui_n_assets;
		}

		/* validate() refused a non-loopback address without it */
		if (cfg->api_token_file) {
			c.api_token =
			    token_file__new_named("--admin-api-token-file", cfg->api_token_file,
						  INGEST_TOKEN_RECHECK, why, sizeof(why));
			if (!c.api_token) {
				pr_err("%s", why);
				goto cleanup;
			}
		}
		c.api = admin__new(cfg->api_listen, &cb, why, sizeof(why));
		if (!c.api) {
			pr_err("%s", why);
			goto cleanup;
		}
	}
	/* on this thread too: reviews read the inject.* keys reloads change, never at once */
	if (cfg->webhook_listen) {
		c.webhook = webhook__new(cfg, why, sizeof(why));
		if (!c.webhook) {
			pr_err("%s", why);
			goto cleanup;
		}
	}
	/*
	 * Last before anything writes (the workers, the attributor's late
	 * records): the rebuild lists the files there are now; and after every
	 * listener, so that a start that fails says one line, not the view's.
	 */
	if (c.insight && open_insight_sources(&c, why, sizeof(why)))
		goto cleanup;
	if (c.attribution) {
		if (attribution__start(c.attribution, why, sizeof(why))) {
			pr_err("%s", why);
			goto stop;
		}
		attributing = true;
	}
	for (uint32_t i = 0; i < n; i++) {
		err = worker__start(workers[i]);
		if (err) {
			pr_warn("cannot start worker %u: %s", i, strerror(-err));
			goto stop;
		}
	}
	if (c.ipfix && (err = ipfix_listener__start(c.ipfix))) {
		pr_warn("cannot start the IPFIX workers: %s", strerror(-err));
		goto stop;
	}
	c.listening = true;
	/* before "ready", which tells whoever waits for it that start-up said all it had to */
	c.ingest_open = !cfg->token_file && !cfg->tls_client_ca && !listen_addr_is_loopback(&la);
	if (c.ingest_open)
		pr_warn("ingest on %s is open beyond loopback without authentication: anyone who "
			"reaches it can write records and claim any pod's address in heartbeats; "
			"set token_file (--token-file) or tls.client_ca_file (--tls-client-ca), or "
			"listen on 127.0.0.1 (docs/security.md, Safe defaults)",
			listen_addr_format((struct sockaddr *)&la.ss, addr, sizeof(addr)));
	if (c.ipfix)
		ipfix_started(&c, addr, sizeof(addr));
	if (c.admin)
		pr_info("admin endpoint on %s (port %u): /metrics /healthz /readyz", cfg->admin,
			admin__port(c.admin));
	if (c.api)
		pr_info("API endpoint on %s (port %u): /config /ownership?ip=%s (%s)",
			cfg->api_listen, admin__port(c.api),
			c.insight ? " /api/v1/ and the web UI at /" : "",
			c.api_token ? "bearer token required" : "no auth: loopback only");
	if (c.webhook)
		pr_info("webhook on %s (port %u): POST " WEBHOOK_PATH
			" (TLS, certificate %s re-read on change; injecting %s, exporting to %s)",
			cfg->webhook_listen, admin__port(webhook__admin(c.webhook)),
			cfg->webhook_cert, cfg->inject_image, cfg->inject_collector_url);
	pr_info("ready: listening on %s (%s, %u workers, %s, %s; outputs: %s)",
		listen_addr_format((struct sockaddr *)&la.ss, addr, sizeof(addr)),
		ssl_ctx ? (cfg->tls_client_ca ? "TLS, ALPN h2, client certificates required"
					      : "TLS, ALPN h2")
			: "h2c prior knowledge",
		n, cfg->token_file ? "bearer token required" : "no auth",
		c.attribution ? "attribution on" : "attribution off",
		outputs__describe(c.outputs, outs, sizeof(outs)));

	err = wait_loop(&c, sfd, died_fd);
	stop_at = clock_mono_ns();
	ret = err ? 1 : 0;
stop:
	c.listening = false;
	for (uint32_t i = 0; i < n; i++)
		worker__stop(workers[i]);
	for (uint32_t i = 0; i < n; i++)
		if (worker__join(workers[i]))
			ret = 1;
	if (ipfix_listener__stop(c.ipfix))
		ret = 1;
	print_stats(&c, n, " at exit");
cleanup:
	admin__free(c.admin);
	admin__free(c.api); /* before the attribution its /ownership reads */
	insight_rebuild__free(c.insight_rebuild);
	insight_kafka__free(c.insight_kafka);
	webhook__free(c.webhook);
	token_file__free(c.api_token);
	for (uint32_t i = 0; i < n; i++)
		worker__free(workers[i]);
	ipfix_listener__free(c.ipfix); /* before the attribution and the outputs it writes to */
	c.ipfix = NULL;
	peers__free(c.peers); /* after the workers: their connections are released */
	ingest_late_log__free(c.late_log);
	/* after the workers: what attribution still holds is decided and written last */
	if (c.attribution) {
		struct attribution *s = c.attribution;

		c.attribution = NULL; /* the admin endpoint is gone: nothing else reads it */
		attribution__stop(s);
		if (attributing)
			pr_info("attribution at exit: %s",
				attribution__format(s, why, sizeof(why)));
		attribution__free(s);
	}
	/*
	 * Last, once nothing writes: every file published, Kafka flushed with
	 * what is left of the exit budget since the signal (none came: a
	 * failed start, the outputs' minimum).
	 */
	if (c.outputs) {
		struct outputs *o = c.outputs;

		c.outputs = NULL; /* the admin endpoint is gone: nothing else reads it */
		outputs__close(o, stop_at ? stop_at + EXIT_BUDGET_NS : 0);
		outputs__free(o);
	}
	insight__free(c.insight); /* after the outputs: their tap feeds it */
	SSL_CTX_free(ssl_ctx);
	token_file__free(token);
	if (died_fd >= 0)
		close(died_fd);
	if (sfd >= 0)
		close(sfd);
	config_watch__free(c.watch);
	config_free(&collector_config_schema, cfg);
	return ret;
}
