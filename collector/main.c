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

#include "cli.h"
#include "conn.h"
#include "duration.h"
#include "listen_addr.h"
#include "log.h"
#include "stats.h"
#include "tls.h"
#include "worker.h"

#define EXIT_USAGE  2
#define MAX_WORKERS 256
#define GRACE_NS    (4 * DURATION_NS_PER_S) /* SIGTERM to exit stays under 5 s */

struct collector_config {
	const char *listen;
	const char *data_dir;
	const char *tls_cert;
	const char *tls_key;
	const char *tls_client_ca; /* mTLS: require client certificates signed by this CA */
	const char *token_file;
	uint32_t workers; /* 0 = online CPUs */
	uint64_t max_body;
	uint64_t max_buffered; /* per worker */
	uint32_t max_connections;
	uint32_t max_streams;
	uint64_t idle_ns;
	uint64_t request_ns;
	uint64_t stats_interval_ns;
	bool null_sink;
	enum log_level log_level;
};

static const struct collector_config config_defaults = {
	.listen = ":7070",
	.data_dir = "./podflow-data",
	.workers = 0,
	.max_body = 16u << 20,
	.max_buffered = 256u << 20,
	.max_connections = 1024,
	.max_streams = 64,
	.idle_ns = 120 * DURATION_NS_PER_S,
	.request_ns = 30 * DURATION_NS_PER_S,
	.stats_interval_ns = 60 * DURATION_NS_PER_S,
	.log_level = LOG_LEVEL_INFO,
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: podflow-collector [options]\n"
	    "Receives flow batches from sidecars over HTTP/2 (POST /v1/flows) and writes them\n"
	    "as JSON lines, one file per worker: DIR/flows-w<N>.jsonl.\n\n"
	    "  --listen ADDR:PORT     :PORT (all addresses, IPv6 and IPv4), IP:PORT, [IPv6]:PORT;\n"
	    "                         port 0 = any free port, shown in the ready line (:7070)\n"
	    "  --data-dir DIR         output directory, created if missing (./podflow-data)\n"
	    "  --tls-cert FILE        PEM certificate chain: serve TLS with ALPN h2 (with --tls-key)\n"
	    "  --tls-key FILE         PEM private key\n"
	    "  --tls-client-ca FILE   mTLS: require a client certificate signed by a CA in FILE\n"
	    "  --token-file FILE      require Authorization: Bearer <token in FILE>; re-read on change\n"
	    "  --workers N            worker threads (number of online CPUs)\n"
	    "  --max-body BYTES       largest request body, e.g. 16MiB (16MiB)\n"
	    "  --max-buffered BYTES   request bytes one worker may buffer before answering 429 (256MiB)\n"
	    "  --max-connections N    connections per worker; more are closed at accept (1024)\n"
	    "  --max-streams N        concurrent streams per connection (64)\n"
	    "  --idle-timeout DUR     close a connection with no request this long (2m)\n"
	    "  --request-timeout DUR  a request's headers to its last byte, else 408 (30s)\n"
	    "  --stats-interval DUR   period of the stats line on stderr, 0 = only at exit (60s)\n"
	    "  --null-sink            decode and count, write nothing (benchmark baseline)\n"
	    "  --log-level LEVEL      warn, info or debug (info)\n"
	    "  --help\n");
}

static int parse_duration_opt(const char *name, const char *arg, uint64_t min_ns, bool zero_ok,
			      uint64_t *out)
{
	if (zero_ok && strcmp(arg, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (duration_parse(arg, out) || *out < min_ns || *out > 24 * 3600 * DURATION_NS_PER_S) {
		pr_warn("--%s %s: expected a duration from %llums to 24h, e.g. 30s%s", name, arg,
			(unsigned long long)(min_ns / DURATION_NS_PER_MS), zero_ok ? ", or 0" : "");
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct collector_config *cfg)
{
	enum {
		OPT_LISTEN = 256,
		OPT_DATA_DIR,
		OPT_TLS_CERT,
		OPT_TLS_KEY,
		OPT_TLS_CLIENT_CA,
		OPT_TOKEN,
		OPT_WORKERS,
		OPT_MAX_BODY,
		OPT_MAX_BUFFERED,
		OPT_MAX_CONNS,
		OPT_MAX_STREAMS,
		OPT_IDLE,
		OPT_REQUEST,
		OPT_STATS,
		OPT_NULL_SINK,
		OPT_LOG,
		OPT_HELP,
	};
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "data-dir", required_argument, NULL, OPT_DATA_DIR },
		{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
		{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
		{ "tls-client-ca", required_argument, NULL, OPT_TLS_CLIENT_CA },
		{ "token-file", required_argument, NULL, OPT_TOKEN },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "max-body", required_argument, NULL, OPT_MAX_BODY },
		{ "max-buffered", required_argument, NULL, OPT_MAX_BUFFERED },
		{ "max-connections", required_argument, NULL, OPT_MAX_CONNS },
		{ "max-streams", required_argument, NULL, OPT_MAX_STREAMS },
		{ "idle-timeout", required_argument, NULL, OPT_IDLE },
		{ "request-timeout", required_argument, NULL, OPT_REQUEST },
		{ "stats-interval", required_argument, NULL, OPT_STATS },
		{ "null-sink", no_argument, NULL, OPT_NULL_SINK },
		{ "log-level", required_argument, NULL, OPT_LOG },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct listen_addr la;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			if (listen_addr_parse(optarg, &la)) {
				pr_warn(
				    "--listen %s: expected :PORT, IPV4:PORT or [IPV6]:PORT with a "
				    "port from 0 to 65535",
				    optarg);
				return -EINVAL;
			}
			cfg->listen = optarg;
			break;
		case OPT_DATA_DIR:
			if (!*optarg) {
				pr_warn("--data-dir: expected a directory");
				return -EINVAL;
			}
			cfg->data_dir = optarg;
			break;
		case OPT_TLS_CERT:
			cfg->tls_cert = optarg;
			break;
		case OPT_TLS_KEY:
			cfg->tls_key = optarg;
			break;
		case OPT_TLS_CLIENT_CA:
			cfg->tls_client_ca = optarg;
			break;
		case OPT_TOKEN:
			cfg->token_file = optarg;
			break;
		case OPT_WORKERS:
			if (cli_parse_u32(optarg, 1, MAX_WORKERS, &cfg->workers)) {
				pr_warn("--workers %s: expected an integer from 1 to %d", optarg,
					MAX_WORKERS);
				return -EINVAL;
			}
			break;
		case OPT_MAX_BODY:
			if (cli_parse_bytes(optarg, 1024, 1ull << 30, &cfg->max_body)) {
				pr_warn(
				    "--max-body %s: expected a size from 1KiB to 1GiB, e.g. 16MiB",
				    optarg);
				return -EINVAL;
			}
			break;
		case OPT_MAX_BUFFERED:
			if (cli_parse_bytes(optarg, 1024, 64ull << 30, &cfg->max_buffered)) {
				pr_warn(
				    "--max-buffered %s: expected a size from 1KiB to 64GiB, e.g. "
				    "256MiB",
				    optarg);
				return -EINVAL;
			}
			break;
		case OPT_MAX_CONNS:
			if (cli_parse_u32(optarg, 1, 1u << 20, &cfg->max_connections)) {
				pr_warn(
				    "--max-connections %s: expected an integer from 1 to 1048576",
				    optarg);
				return -EINVAL;
			}
			break;
		case OPT_MAX_STREAMS:
			if (cli_parse_u32(optarg, 1, 1024, &cfg->max_streams)) {
				pr_warn("--max-streams %s: expected an integer from 1 to 1024",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_IDLE:
			if (parse_duration_opt("idle-timeout", optarg, DURATION_NS_PER_S / 10,
					       false, &cfg->idle_ns))
				return -EINVAL;
			break;
		case OPT_REQUEST:
			if (parse_duration_opt("request-timeout", optarg, DURATION_NS_PER_S / 10,
					       false, &cfg->request_ns))
				return -EINVAL;
			break;
		case OPT_STATS:
			if (parse_duration_opt("stats-interval", optarg, DURATION_NS_PER_S / 10,
					       true, &cfg->stats_interval_ns))
				return -EINVAL;
			break;
		case OPT_NULL_SINK:
			cfg->null_sink = true;
			break;
		case OPT_LOG:
			if (log_level_parse(optarg, &cfg->log_level)) {
				pr_warn("--log-level %s: expected warn, info or debug", optarg);
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
	if (cfg->max_buffered < cfg->max_body) {
		/* a body the budget can never hold would get 429 forever instead of 413 */
		pr_warn("--max-buffered %llu is less than --max-body %llu",
			(unsigned long long)cfg->max_buffered, (unsigned long long)cfg->max_body);
		return -EINVAL;
	}
	if (!cfg->tls_cert != !cfg->tls_key) {
		pr_warn("--tls-cert and --tls-key go together: give both or neither");
		return -EINVAL;
	}
	if (cfg->tls_client_ca && !cfg->tls_cert) {
		pr_warn("--tls-client-ca needs --tls-cert and --tls-key: mTLS is TLS first");
		return -EINVAL;
	}
	return 0;
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

static void print_stats(struct worker **workers, uint32_t n, const char *when)
{
	struct stats sum = { 0 };
	char line[2048];

	for (uint32_t i = 0; i < n; i++)
		stats_sum(&sum, worker__stats(workers[i]));
	pr_info("stats%s: %s", when, stats_format(&sum, line, sizeof(line)));
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

/* Waits for a signal, a stats tick or a failed worker.  0 (signal) or -EIO (a worker failed). */
static int wait_loop(int sfd, int died_fd, uint64_t stats_ns, struct worker **workers, uint32_t n)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC), t_stats = -1, err = 0;

	if (ep < 0)
		return -errno;
	if (stats_ns) {
		t_stats = timer_new(stats_ns);
		if (t_stats < 0) {
			close(ep);
			return t_stats;
		}
		ev.data.fd = t_stats;
		epoll_ctl(ep, EPOLL_CTL_ADD, t_stats, &ev);
	}
	ev.data.fd = sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.fd = died_fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, died_fd, &ev);
	for (;;) {
		struct epoll_event e;
		uint64_t v;
		int r = epoll_wait(ep, &e, 1, -1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			pr_warn("epoll_wait: %s", strerror(-err));
			break;
		}
		if (e.data.fd == sfd) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				pr_info("signal %u: finishing in-flight requests and exiting",
					si.ssi_signo);
			break;
		}
		if (e.data.fd == died_fd) {
			pr_warn("a worker's event loop failed: shutting down");
			err = -EIO;
			break;
		}
		if (read(t_stats, &v, sizeof(v)) > 0)
			print_stats(workers, n, "");
	}
	if (t_stats >= 0)
		close(t_stats);
	close(ep);
	return err;
}

int main(int argc, char **argv)
{
	struct collector_config cfg = config_defaults;
	struct worker *workers[MAX_WORKERS] = { 0 };
	int fds[MAX_WORKERS], sfd = -1, died_fd = -1, ret = 1, err;
	char why[PATH_MAX + 512], addr[96];
	struct conn_limits lim;
	struct listen_addr la;
	SSL_CTX *ssl_ctx = NULL;
	uint32_t n = 0;
	sigset_t mask;

	log_init("podflow-collector", LOG_LEVEL_INFO);
	if (parse_args(argc, argv, &cfg))
		return EXIT_USAGE;
	log_init("podflow-collector", cfg.log_level);
	listen_addr_parse(cfg.listen, &la); /* validated by parse_args */
	if (!cfg.workers) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		cfg.workers = cpus < 1 ? 1 : cpus > MAX_WORKERS ? MAX_WORKERS : (uint32_t)cpus;
	}
	lim = (struct conn_limits){
		.max_body = cfg.max_body,
		/* one connection may hold a few bodies in flight, never the whole worker budget */
		.max_conn_buffered =
		    cfg.max_body * 4 < cfg.max_buffered ? cfg.max_body * 4 : cfg.max_buffered,
		.max_worker_buffered = cfg.max_buffered,
		.max_streams = cfg.max_streams,
		.max_header_list = 16384,
		/* TLS handshake + preface: 10 s, or less when requests must be quicker */
		.handshake_ns = cfg.request_ns < 10 * DURATION_NS_PER_S ? cfg.request_ns
									: 10 * DURATION_NS_PER_S,
		.idle_ns = cfg.idle_ns,
		.request_ns = cfg.request_ns,
		.linger_ns = DURATION_NS_PER_S,
	};

	if (make_dirs(cfg.data_dir, why, sizeof(why))) {
		pr_warn("%s", why);
		return 1;
	}
	if (cfg.tls_cert) {
		ssl_ctx = tls_server_ctx_new(cfg.tls_cert, cfg.tls_key, cfg.tls_client_ca, why,
					     sizeof(why));
		if (!ssl_ctx) {
			pr_warn("%s", why);
			return 1;
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
		pr_warn("signalfd: %s", strerror(errno));
		goto cleanup;
	}
	if (open_listeners(&la, cfg.workers, fds, why, sizeof(why))) {
		pr_warn("%s", why);
		goto cleanup;
	}
	for (n = 0; n < cfg.workers; n++) {
		struct worker_opts o = {
			.id = n,
			.listen_fd = fds[n],
			.died_fd = died_fd,
			.lim = &lim,
			.max_connections = cfg.max_connections,
			.grace_ns = GRACE_NS,
			.ssl_ctx = ssl_ctx,
			.ingest = { .data_dir = cfg.data_dir,
				    .worker = n,
				    .null_sink = cfg.null_sink,
				    .token_file = cfg.token_file },
		};

		fds[n] = -1; /* the worker owns it now, even if it fails */
		workers[n] = worker__new(&o, why, sizeof(why));
		if (!workers[n]) {
			pr_warn("%s", why);
			for (uint32_t i = n + 1; i < cfg.workers; i++)
				close(fds[i]);
			goto cleanup;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		err = worker__start(workers[i]);
		if (err) {
			pr_warn("cannot start worker %u: %s", i, strerror(-err));
			goto stop;
		}
	}
	pr_info("ready: listening on %s (%s, %u workers, %s, output %s/flows-w*.jsonl%s)",
		listen_addr_format((struct sockaddr *)&la.ss, addr, sizeof(addr)),
		ssl_ctx ? (cfg.tls_client_ca ? "TLS, ALPN h2, client certificates required"
					     : "TLS, ALPN h2")
			: "h2c prior knowledge",
		n, cfg.token_file ? "bearer token required" : "no auth", cfg.data_dir,
		cfg.null_sink ? ", null sink: nothing written" : "");

	err = wait_loop(sfd, died_fd, cfg.stats_interval_ns, workers, n);
	ret = err ? 1 : 0;
stop:
	for (uint32_t i = 0; i < n; i++)
		worker__stop(workers[i]);
	for (uint32_t i = 0; i < n; i++)
		if (worker__join(workers[i]))
			ret = 1;
	print_stats(workers, n, " at exit");
cleanup:
	for (uint32_t i = 0; i < n; i++)
		worker__free(workers[i]);
	SSL_CTX_free(ssl_ctx);
	if (died_fd >= 0)
		close(died_fd);
	if (sfd >= 0)
		close(sfd);
	return ret;
}
