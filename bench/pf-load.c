// SPDX-License-Identifier: BSD-2-Clause
/*
 * pf-load: the benchmarks' TCP connection load generator, an epoll server and
 * a paced (--rate) or closed-loop (--saturate) client.
 *
 * Protocol: the client sends `req` bytes in all; the first 8 are the
 * little-endian u32 request size (`req`, these 8 bytes included) and u32
 * response size.  The server reads exactly `req` bytes, writes `resp` bytes
 * and closes.  The client reads `resp` bytes, then waits for the server's FIN
 * before it closes: the server does the active close, so TIME_WAIT is held on
 * the server's side (RFC 793 section 3.5).  The client's ephemeral port is
 * free for its next connect() at once, and a SYN that reuses the 4-tuple is
 * accepted by the server's TIME_WAIT socket because its timestamp is newer
 * (RFC 6191), so 2 cores do not run out of ephemeral ports at saturation and
 * no close is turned into a RST (no SO_LINGER {1,0}).
 *
 * State per connection lives in one table indexed by fd: an fd belongs to the
 * one thread that opened or accepted it, so the table needs no lock.
 *
 * `hold` (with `serve --keepalive`) is the sidecar's scale workload: it opens
 * N connections and keeps them, then sends requests on them round robin at
 * an aggregate --rate for --duration, timing each from its scheduled send to
 * its whole response, and prints the latency percentiles.  It then holds the
 * connections until SIGTERM, so what the connections cost can be read while
 * they exist.  With keep-alive the server answers request after request on
 * one connection and closes only at the client's EOF.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "log.h"

#define LOAD_HDR_LEN	     8
#define LOAD_BUF_LEN	     65536
#define LOAD_EVENTS	     256
#define LOAD_MAX_THREADS     64
#define LOAD_MAX_RATE	     10000000ULL
#define LOAD_MAX_DURATION_NS (24ULL * 3600 * DURATION_NS_PER_S)
/* connections still open when the window ends get this long to finish */
#define LOAD_DRAIN_NS (5 * DURATION_NS_PER_S)
/* pause after EMFILE/ENFILE/EADDRNOTAVAIL instead of spinning on the error */
#define LOAD_BACKOFF_NS (10 * DURATION_NS_PER_MS)
/* cap on the fd table when RLIMIT_NOFILE is unlimited */
#define LOAD_MAX_FDS (1U << 20)

enum load_cmd {
	LOAD_CMD_SERVE,
	LOAD_CMD_CLIENT,
	LOAD_CMD_HOLD,
};

struct load_cfg {
	enum load_cmd cmd;
	const char *addr;
	uint64_t port;
	uint64_t threads;
	int pin;       /* thread i runs on CPU i modulo the CPUs allowed at start */
	uint64_t rate; /* connections per second; 0 with --saturate */
	int saturate;
	uint64_t duration_ns;
	uint64_t concurrency; /* in flight at most, all threads together */
	uint64_t req;	      /* request bytes, the 8-byte header included */
	uint64_t resp;
	int keepalive;	      /* serve: answer requests until the client's EOF */
	uint64_t connections; /* hold: connections to open and keep */
	uint64_t sources;     /* hold: source addresses 127.0.0.2 .. 127.0.0.(1+K) */
	int go_signal;	      /* hold: start the window at SIGUSR1, not at once */
	const char *lat_out;  /* hold: every latency (ns), one a line, to this file */
};

static const struct load_cfg load_cfg_defaults = {
	.addr = "127.0.0.1",
	.threads = 1,
	.concurrency = 64,
	.req = 64,
	.resp = 64,
	.sources = 8,
};

enum conn_state {
	CONN_FREE = 0,
	CONN_HDR,	 /* server: reading the 8-byte header */
	CONN_BODY,	 /* server: reading the rest of the request */
	CONN_SEND,	 /* server: writing the response; client: connecting, writing the request */
	CONN_RECV,	 /* client: reading the response */
	CONN_EOF,	 /* client: response complete, waiting for the server's FIN */
	CONN_IDLE,	 /* hold: connected, no request outstanding */
	CONN_CONNECTING, /* hold: connect() in progress */
	CONN_DEAD,	 /* hold: failed; kept open so its fd is not reused */
};

struct conn {
	uint8_t state;
	uint8_t hdr_len;
	uint8_t want_out; /* server: EPOLLOUT is in the interest set */
	uint8_t hdr[LOAD_HDR_LEN];
	uint32_t in_left;
	uint32_t out_left;
	uint64_t sent_ns; /* hold: when the outstanding request was due */
};

static struct conn *conns;
static unsigned int conns_len;
static int keepalive; /* serve --keepalive */
static struct sockaddr_storage load_addr;
static socklen_t load_addr_len;
static atomic_int stop_requested;
/* the CPUs the process may run on, read once before the threads start */
static cpu_set_t load_cpus;
/* the payload: request bodies and responses are zero bytes */
static const uint8_t zeros[LOAD_BUF_LEN];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * DURATION_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/*
 * Pins the calling thread to the idx-th CPU of the set the process started
 * with: on a small machine, where the scheduler places 4 busy threads on 2
 * CPUs run to run is a large part of the saturation figure's noise.
 */
static void pin_thread(unsigned int idx)
{
	unsigned int n = CPU_COUNT(&load_cpus), cpu, seen = 0;
	cpu_set_t one;

	if (!n)
		return;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (CPU_ISSET(cpu, &load_cpus) && seen++ == idx % n)
			break;
	}
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (pthread_setaffinity_np(pthread_self(), sizeof(one), &one))
		pr_warn("cannot pin thread %u to CPU %u", idx, cpu);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void conn_close(int fd)
{
	memset(&conns[fd], 0, sizeof(conns[fd]));
	close(fd); /* also leaves the epoll set: the fd is never dup()ed */
}

/* --- server --------------------------------------------------------------- */

struct server_thread {
	pthread_t tid;
	unsigned int idx;
	int pin;
	int lfd;
	int epfd;
	int paused; /* accepting stopped after EMFILE/ENFILE, until resume_ns */
	uint64_t resume_ns;
	uint64_t served;
	uint64_t errors;	/* connections that failed after accept */
	uint64_t accept_errors; /* accept() failures, EMFILE/ENFILE included */
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint8_t scratch[LOAD_BUF_LEN];
};

static int listener_open(void)
{
	int fd, one = 1, err;

	fd = socket(load_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * SO_REUSEADDR: bind while the previous run's TIME_WAIT sockets, which
	 * the server side holds (see the top of the file), still use the port.
	 * SO_REUSEPORT: one listener per thread, the kernel spreads connections.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&load_addr, load_addr_len) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void server_fail(struct server_thread *t, int fd)
{
	t->errors++;
	conn_close(fd);
}

/* Runs one connection as far as it can go without blocking (edge-triggered). */
static void server_progress(struct server_thread *t, int fd)
{
	struct conn *c = &conns[fd];
	struct epoll_event ev;
	ssize_t n;

	for (;;) {
		switch (c->state) {
		case CONN_HDR:
			n = read(fd, c->hdr + c->hdr_len, LOAD_HDR_LEN - c->hdr_len);
			if (n <= 0)
				goto read_end;
			t->bytes_in += n;
			c->hdr_len += n;
			if (c->hdr_len < LOAD_HDR_LEN)
				continue;
			if (get_le32(c->hdr) < LOAD_HDR_LEN) {
				/* a request cannot be shorter than its header */
				server_fail(t, fd);
				return;
			}
			c->in_left = get_le32(c->hdr) - LOAD_HDR_LEN;
			c->out_left = get_le32(c->hdr + 4);
			c->state = c->in_left ? CONN_BODY : CONN_SEND;
			continue;
		case CONN_BODY:
			/* never more than announced: the request ends where the client says */
			n = read(fd, t->scratch,
				 c->in_left < LOAD_BUF_LEN ? c->in_left : LOAD_BUF_LEN);
			if (n <= 0)
				goto read_end;
			t->bytes_in += n;
			c->in_left -= n;
			if (!c->in_left)
				c->state = CONN_SEND;
			continue;
		case CONN_SEND:
			if (!c->out_left && keepalive) {
				t->served++;
				c->state = CONN_HDR;
				c->hdr_len = 0;
				continue;
			}
			if (!c->out_left) {
				t->served++;
				conn_close(fd);
				return;
			}
			n = write(fd, zeros,
				  c->out_left < LOAD_BUF_LEN ? c->out_left : LOAD_BUF_LEN);
			if (n > 0) {
				t->bytes_out += n;
				c->out_left -= n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN && !c->want_out) {
				ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
				ev.data.fd = fd;
				if (epoll_ctl(t->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
					server_fail(t, fd);
					return;
				}
				c->want_out = 1;
				return;
			}
			if (n < 0 && errno == EAGAIN)
				return;
			server_fail(t, fd);
			return;
		default:
			server_fail(t, fd);
			return;
		}
	read_end:
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n == 0 && keepalive && c->state == CONN_HDR && !c->hdr_len) {
			conn_close(fd); /* the client is done: EOF between requests */
			return;
		}
		server_fail(t, fd); /* EOF before the whole request, or a reset */
		return;
	}
}

static void server_accept(struct server_thread *t)
{
	struct epoll_event ev;
	int fd;

	for (;;) {
		fd = accept4(t->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN)
				return;
			if (errno == EINTR || errno == ECONNABORTED) {
				t->accept_errors += errno == ECONNABORTED;
				continue;
			}
			t->accept_errors++;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/*
				 * Out of descriptors or memory: leave the backlog queued
				 * and stop polling the listener for a while instead of
				 * busy-looping on a level-triggered error.
				 */
				ev.events = 0;
				ev.data.fd = t->lfd;
				epoll_ctl(t->epfd, EPOLL_CTL_MOD, t->lfd, &ev);
				t->paused = 1;
				t->resume_ns = now_ns() + LOAD_BACKOFF_NS;
			}
			return;
		}
		if ((unsigned int)fd >= conns_len) {
			t->accept_errors++;
			close(fd);
			continue;
		}
		conns[fd].state = CONN_HDR;
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
		ev.data.fd = fd;
		if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			server_fail(t, fd);
			continue;
		}
		/* on loopback the request has often arrived already: save a wakeup */
		server_progress(t, fd);
	}
}

static void *server_main(void *arg)
{
	struct server_thread *t = arg;
	struct epoll_event evs[LOAD_EVENTS], ev;
	int i, n;

	if (t->pin)
		pin_thread(t->idx);
	while (!atomic_load_explicit(&stop_requested, memory_order_relaxed)) {
		if (t->paused && now_ns() >= t->resume_ns) {
			ev.events = EPOLLIN;
			ev.data.fd = t->lfd;
			if (epoll_ctl(t->epfd, EPOLL_CTL_MOD, t->lfd, &ev) == 0)
				t->paused = 0;
		}
		/* 100 ms: how soon a stop request is noticed */
		n = epoll_wait(t->epfd, evs, LOAD_EVENTS, t->paused ? 10 : 100);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			pr_warn("epoll_wait: %s", strerror(errno));
			t->errors++;
			break;
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.fd == t->lfd)
				server_accept(t);
			else
				server_progress(t, evs[i].data.fd);
		}
	}
	return NULL;
}

static int run_server(const struct load_cfg *cfg)
{
	struct server_thread *ts = NULL;
	uint64_t served = 0, errors = 0, accept_errors = 0, bytes_in = 0, bytes_out = 0;
	unsigned int i, started = 0;
	struct epoll_event ev;
	sigset_t sigs;
	int err = 0, sig;

	/* SIGINT/SIGTERM are taken with sigwait() below, never by a handler */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	ts = calloc(cfg->threads, sizeof(*ts));
	if (!ts) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < cfg->threads; i++) {
		ts[i].lfd = ts[i].epfd = -1;
		ts[i].idx = i;
		ts[i].pin = cfg->pin;
	}
	for (i = 0; i < cfg->threads; i++) {
		ts[i].lfd = listener_open();
		if (ts[i].lfd < 0) {
			err = ts[i].lfd;
			pr_warn("listen on %s port %" PRIu64 ": %s", cfg->addr, cfg->port,
				strerror(-err));
			goto cleanup;
		}
		ts[i].epfd = epoll_create1(EPOLL_CLOEXEC);
		if (ts[i].epfd < 0) {
			err = -errno;
			pr_warn("epoll_create1: %s", strerror(-err));
			goto cleanup;
		}
		ev.events = EPOLLIN;
		ev.data.fd = ts[i].lfd;
		if (epoll_ctl(ts[i].epfd, EPOLL_CTL_ADD, ts[i].lfd, &ev) < 0) {
			err = -errno;
			pr_warn("epoll_ctl: %s", strerror(-err));
			goto cleanup;
		}
	}
	for (; started < cfg->threads; started++) {
		err = -pthread_create(&ts[started].tid, NULL, server_main, &ts[started]);
		if (err) {
			pr_warn("pthread_create: %s", strerror(-err));
			goto cleanup;
		}
	}
	pr_info("ready: serving on %s port %" PRIu64 " with %" PRIu64 " threads", cfg->addr,
		cfg->port, cfg->threads);
	while (sigwait(&sigs, &sig) != 0)
		;

cleanup:
	atomic_store(&stop_requested, 1);
	for (i = 0; i < started; i++)
		pthread_join(ts[i].tid, NULL);
	for (i = 0; ts && i < cfg->threads; i++) {
		served += ts[i].served;
		errors += ts[i].errors;
		accept_errors += ts[i].accept_errors;
		bytes_in += ts[i].bytes_in;
		bytes_out += ts[i].bytes_out;
		if (ts[i].lfd >= 0)
			close(ts[i].lfd);
		if (ts[i].epfd >= 0)
			close(ts[i].epfd);
	}
	free(ts);
	if (err)
		return err;
	printf("{\"mode\":\"serve\",\"connections\":%" PRIu64 ",\"errors\":%" PRIu64
	       ",\"accept_errors\":%" PRIu64 ",\"bytes_sent\":%" PRIu64
	       ",\"bytes_received\":%" PRIu64 "}\n",
	       served, errors, accept_errors, bytes_out, bytes_in);
	fflush(stdout);
	return 0;
}

/* --- client --------------------------------------------------------------- */

struct client_thread {
	pthread_t tid;
	unsigned int idx;
	const struct load_cfg *cfg;
	int epfd;
	int tfd;	      /* rate mode: 1 ms pacing tick */
	uint64_t rate;	      /* this thread's share of --rate */
	uint64_t concurrency; /* this thread's share of --concurrency */
	uint64_t t0_ns, end_ns, finish_ns;
	uint64_t backoff_until_ns;
	uint64_t started; /* connect attempts, failed ones included */
	uint64_t inflight;
	uint64_t done;
	uint64_t errors;
	uint64_t bytes_out;
	uint64_t bytes_in;
	uint64_t behind; /* rate mode: attempts still due when the window closed */
	int err;
	uint8_t hdr[LOAD_HDR_LEN];
	uint8_t scratch[LOAD_BUF_LEN];
};

static void client_fail(struct client_thread *t, int fd)
{
	t->errors++;
	t->inflight--;
	conn_close(fd);
}

/* Runs one connection as far as it can go without blocking (edge-triggered). */
static void client_progress(struct client_thread *t, int fd, uint32_t events)
{
	const uint32_t req = t->cfg->req;
	struct conn *c = &conns[fd];
	struct iovec iov[2];
	ssize_t n;
	uint32_t sent;

	if (events & EPOLLERR) {
		client_fail(t, fd); /* refused, reset, or timed out */
		return;
	}
	for (;;) {
		switch (c->state) {
		case CONN_SEND:
			sent = req - c->out_left;
			if (sent < LOAD_HDR_LEN) {
				iov[0].iov_base = t->hdr + sent;
				iov[0].iov_len = LOAD_HDR_LEN - sent;
				iov[1].iov_base = (void *)zeros;
				iov[1].iov_len = c->out_left - iov[0].iov_len;
				if (iov[1].iov_len > LOAD_BUF_LEN)
					iov[1].iov_len = LOAD_BUF_LEN;
				n = writev(fd, iov, 2);
			} else {
				n = write(fd, zeros,
					  c->out_left < LOAD_BUF_LEN ? c->out_left : LOAD_BUF_LEN);
			}
			if (n > 0) {
				t->bytes_out += n;
				c->out_left -= n;
				if (!c->out_left) {
					/* the response edge comes later: don't read in vain now */
					c->state = c->in_left ? CONN_RECV : CONN_EOF;
					return;
				}
				continue;
			}
			/* EAGAIN: still connecting (tcp_sendmsg() waits, non-blocking), or buffer full */
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return;
			client_fail(t, fd);
			return;
		case CONN_RECV:
		case CONN_EOF:
			/* read past the response on purpose: to see the FIN, or extra bytes */
			n = read(fd, t->scratch, LOAD_BUF_LEN);
			if (n > 0) {
				t->bytes_in += n;
				if ((uint64_t)n > c->in_left) {
					client_fail(t, fd); /* more than was asked for */
					return;
				}
				c->in_left -= n;
				if (!c->in_left)
					c->state = CONN_EOF;
				continue;
			}
			if (n == 0 && c->state == CONN_EOF) {
				/* the server closed first: our close sends the last FIN */
				t->done++;
				t->inflight--;
				conn_close(fd);
				return;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return;
			client_fail(t, fd); /* short response, or a reset */
			return;
		default:
			client_fail(t, fd);
			return;
		}
	}
}

/* Opens one connection; returns 0 or a negative errno (counted as an error). */
static int client_start(struct client_thread *t)
{
	struct epoll_event ev;
	struct conn *c;
	int fd, err;

	t->started++;
	fd = socket(load_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		t->errors++;
		return err;
	}
	if ((unsigned int)fd >= conns_len) {
		close(fd);
		t->errors++;
		return -EMFILE;
	}
	/*
	 * connect() before EPOLL_CTL_ADD: an unconnected TCP socket polls as
	 * EPOLLHUP (tcp_poll(), TCP_CLOSE), which would end the connection early.
	 */
	if (connect(fd, (struct sockaddr *)&load_addr, load_addr_len) < 0 && errno != EINPROGRESS) {
		err = -errno;
		close(fd);
		t->errors++;
		return err;
	}
	c = &conns[fd];
	c->state = CONN_SEND;
	c->out_left = t->cfg->req;
	c->in_left = t->cfg->resp;
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.fd = fd;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		err = -errno;
		conn_close(fd);
		t->errors++;
		return err;
	}
	t->inflight++;
	return 0;
}

/* Starts the connections due at `now`, within the in-flight cap. */
static void client_top_up(struct client_thread *t, uint64_t now)
{
	uint64_t due;
	int err;

	if (now < t->backoff_until_ns)
		return;
	if (t->rate)
		due = (unsigned __int128)t->rate * (now - t->t0_ns) / DURATION_NS_PER_S;
	else
		due = UINT64_MAX;
	while (t->started < due && t->inflight < t->concurrency) {
		err = client_start(t);
		if (err == -EADDRNOTAVAIL || err == -EMFILE || err == -ENFILE || err == -ENOBUFS ||
		    err == -ENOMEM) {
			t->backoff_until_ns = now + LOAD_BACKOFF_NS;
			return;
		}
	}
}

/*
 * One round of a load thread's epoll loop: waits up to timeout_ms, drains
 * the tick timer tfd (the clock decides what is due, the tick only wakes),
 * and hands every other ready fd to progress(t, fd, events).  0, or -errno
 * when epoll_wait failed (EINTR is a round with nothing ready); a failed
 * timer read is left in *err.
 */
static int events_round(int epfd, int tfd, int timeout_ms, int *err,
			void (*progress)(void *t, int fd, uint32_t events), void *t)
{
	struct epoll_event evs[LOAD_EVENTS];
	uint64_t expirations;
	int n = epoll_wait(epfd, evs, LOAD_EVENTS, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		if (evs[i].data.fd == tfd) {
			if (read(tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
				*err = -errno;
			continue;
		}
		progress(t, evs[i].data.fd, evs[i].events);
	}
	return 0;
}

static void client_progress_fd(void *t, int fd, uint32_t events)
{
	client_progress(t, fd, events);
}

static void *client_main(void *arg)
{
	struct client_thread *t = arg;
	uint64_t now, due;
	int n, timeout_ms, window_closed = 0;

	if (t->cfg->pin)
		pin_thread(t->idx);
	for (;;) {
		now = now_ns();
		if (now < t->end_ns) {
			client_top_up(t, now);
		} else if (t->rate && !window_closed) {
			/* the last tick came up to 1 ms early: start what is due at the end */
			client_top_up(t, t->end_ns);
			window_closed = 1;
		} else if (!t->inflight || now >= t->end_ns + LOAD_DRAIN_NS) {
			break;
		}
		if (now >= t->end_ns)
			timeout_ms = 100;
		else if (t->tfd >= 0)
			timeout_ms = -1; /* the tick wakes us */
		else if (now < t->backoff_until_ns)
			timeout_ms = 1;
		else
			timeout_ms =
			    (t->end_ns - now + DURATION_NS_PER_MS - 1) / DURATION_NS_PER_MS;
		if (timeout_ms > 100)
			timeout_ms = 100;
		n = events_round(t->epfd, t->tfd, timeout_ms, &t->err, client_progress_fd, t);
		if (n < 0) {
			t->err = n;
			pr_warn("epoll_wait: %s", strerror(-n));
			break;
		}
	}
	t->finish_ns = now_ns();
	/* connections still open after the drain are failures; exit closes them */
	t->errors += t->inflight;
	if (t->rate) {
		due = (unsigned __int128)t->rate * (t->end_ns - t->t0_ns) / DURATION_NS_PER_S;
		t->behind = due > t->started ? due - t->started : 0;
	}
	return NULL;
}

static int client_tick_open(struct client_thread *t)
{
	struct itimerspec its = {
		.it_interval = { .tv_nsec = DURATION_NS_PER_MS },
		.it_value = { .tv_nsec = DURATION_NS_PER_MS },
	};
	struct epoll_event ev = { .events = EPOLLIN };

	t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->tfd < 0)
		return -errno;
	ev.data.fd = t->tfd;
	if (timerfd_settime(t->tfd, 0, &its, NULL) < 0 ||
	    epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->tfd, &ev) < 0)
		return -errno;
	return 0;
}

static int run_client(const struct load_cfg *cfg)
{
	uint64_t done = 0, errors = 0, bytes_in = 0, bytes_out = 0, behind = 0;
	uint64_t t0 = 0, finish = 0;
	struct client_thread *ts = NULL;
	unsigned int i, started = 0;
	double secs;
	int err = 0;

	signal(SIGPIPE, SIG_IGN); /* a reset peer must fail the write, not kill us */
	ts = calloc(cfg->threads, sizeof(*ts));
	if (!ts) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < cfg->threads; i++) {
		ts[i].epfd = ts[i].tfd = -1;
		ts[i].idx = i;
	}
	for (i = 0; i < cfg->threads; i++) {
		struct client_thread *t = &ts[i];

		t->cfg = cfg;
		t->rate = cfg->rate / cfg->threads + (i < cfg->rate % cfg->threads);
		t->concurrency =
		    cfg->concurrency / cfg->threads + (i < cfg->concurrency % cfg->threads);
		put_le32(t->hdr, cfg->req);
		put_le32(t->hdr + 4, cfg->resp);
		t->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (t->epfd < 0) {
			err = -errno;
			pr_warn("epoll_create1: %s", strerror(-err));
			goto cleanup;
		}
		if (cfg->rate) {
			err = client_tick_open(t);
			if (err) {
				pr_warn("timerfd: %s", strerror(-err));
				goto cleanup;
			}
		}
	}
	/* a common start a little ahead, so every thread's clock starts together */
	t0 = now_ns() + 10 * DURATION_NS_PER_MS;
	for (i = 0; i < cfg->threads; i++) {
		ts[i].t0_ns = t0;
		ts[i].end_ns = t0 + cfg->duration_ns;
		ts[i].backoff_until_ns = t0;
	}
	for (; started < cfg->threads; started++) {
		err = -pthread_create(&ts[started].tid, NULL, client_main, &ts[started]);
		if (err) {
			pr_warn("pthread_create: %s", strerror(-err));
			goto cleanup;
		}
	}

cleanup:
	for (i = 0; i < started; i++) {
		pthread_join(ts[i].tid, NULL);
		done += ts[i].done;
		errors += ts[i].errors;
		bytes_in += ts[i].bytes_in;
		bytes_out += ts[i].bytes_out;
		behind += ts[i].behind;
		if (ts[i].finish_ns > finish)
			finish = ts[i].finish_ns;
		if (ts[i].err && !err)
			err = ts[i].err;
	}
	for (i = 0; ts && i < cfg->threads; i++) {
		if (ts[i].epfd >= 0)
			close(ts[i].epfd);
		if (ts[i].tfd >= 0)
			close(ts[i].tfd);
	}
	free(ts);
	if (err)
		return err;
	if (behind)
		pr_warn("rate not kept: %" PRIu64 " connections were still due at the end "
			"(in-flight cap %" PRIu64 " reached?)",
			behind, cfg->concurrency);
	secs = (double)(finish - t0) / DURATION_NS_PER_S;
	printf("{\"mode\":\"%s\",\"duration_s\":%.3f,\"connections\":%" PRIu64
	       ",\"conn_per_s\":%.1f,\"errors\":%" PRIu64 ",\"bytes_sent\":%" PRIu64
	       ",\"bytes_received\":%" PRIu64 "}\n",
	       cfg->saturate ? "saturate" : "rate", secs, done, secs > 0 ? done / secs : 0.0,
	       errors, bytes_out, bytes_in);
	fflush(stdout);
	return 0;
}

/* --- hold: many long-lived connections, paced requests, latency ---------- */

/* connects in flight per thread while the connections are opened */
#define HOLD_CONNECTING 256
/* outstanding requests still get this long once the window has closed */
#define HOLD_DRAIN_NS (2 * DURATION_NS_PER_S)

struct hold_thread {
	pthread_t tid;
	unsigned int idx;
	const struct load_cfg *cfg;
	int epfd;
	int tfd;
	uint64_t want;	  /* this thread's share of --connections */
	int *fds;	  /* the connections it opened (dead ones too) */
	uint64_t n_fds;	  /* opened so far */
	uint64_t pending; /* connects in flight */
	uint64_t established;
	uint64_t connect_errors;
	uint64_t rate; /* this thread's share of --rate */
	uint64_t t0_ns, end_ns;
	uint64_t due_sent; /* requests scheduled so far (sent or skipped) */
	uint64_t cursor;   /* round robin over fds */
	uint64_t outstanding;
	uint64_t responses;
	uint64_t errors;  /* connections that failed in the window */
	uint64_t skipped; /* a request was due but every connection was busy or dead */
	uint64_t *lat;	  /* response latencies, ns */
	uint64_t n_lat, cap_lat;
	int err;
	uint8_t req[LOAD_BUF_LEN];
	uint8_t scratch[LOAD_BUF_LEN];
};

static pthread_barrier_t hold_barrier;
static _Atomic uint64_t hold_t0_ns;

/* 127.0.0.2 and up: one (source, destination, port) allows ip_local_port_range ports */
static int hold_bind_source(struct hold_thread *t, int fd, uint64_t k)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	int one = 1;

	if (load_addr.ss_family != AF_INET || t->cfg->sources == 0)
		return 0;
	src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(k % t->cfg->sources));
	/* the port is picked at connect(), unique per 4-tuple, not per source address */
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	return bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ? -errno : 0;
}

static int hold_open_one(struct hold_thread *t)
{
	struct epoll_event ev;
	uint64_t k = t->n_fds * t->cfg->threads + t->idx;
	int fd, err;

	fd = socket(load_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if ((unsigned int)fd >= conns_len) {
		close(fd);
		return -EMFILE;
	}
	err = hold_bind_source(t, fd, k);
	if (!err && connect(fd, (struct sockaddr *)&load_addr, load_addr_len) < 0 &&
	    errno != EINPROGRESS)
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	conns[fd].state = CONN_CONNECTING;
	ev.events = EPOLLOUT | EPOLLET;
	ev.data.fd = fd;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		err = -errno;
		conn_close(fd);
		return err;
	}
	t->fds[t->n_fds++] = fd;
	t->pending++;
	return 0;
}

static void hold_connected(struct hold_thread *t, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.fd = fd };
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	t->pending--;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
	if ((events & (EPOLLERR | EPOLLHUP)) || soerr ||
	    epoll_ctl(t->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
		t->connect_errors++;
		conns[fd].state = CONN_DEAD;
		return;
	}
	conns[fd].state = CONN_IDLE;
	t->established++;
}

/* Opens this thread's share, at most HOLD_CONNECTING connects in flight. */
static void hold_open_all(struct hold_thread *t)
{
	struct epoll_event evs[LOAD_EVENTS];
	int i, n, err;

	while (t->n_fds < t->want || t->pending) {
		while (t->n_fds < t->want && t->pending < HOLD_CONNECTING) {
			err = hold_open_one(t);
			if (err) {
				/* out of ports, fds or memory: no use trying more */
				t->connect_errors += t->want - t->n_fds;
				pr_warn("thread %u: stopped opening at %" PRIu64 " of %" PRIu64
					": %s",
					t->idx, t->n_fds, t->want, strerror(-err));
				t->want = t->n_fds;
				break;
			}
		}
		if (!t->pending)
			break;
		n = epoll_wait(t->epfd, evs, LOAD_EVENTS, 1000);
		if (n < 0 && errno != EINTR) {
			t->err = -errno;
			return;
		}
		for (i = 0; i < n; i++) {
			/* a failed connect stays in the set, and may report again */
			if (conns[evs[i].data.fd].state == CONN_CONNECTING)
				hold_connected(t, evs[i].data.fd, evs[i].events);
		}
	}
}

static void hold_record(struct hold_thread *t, uint64_t ns)
{
	if (t->n_lat == t->cap_lat) {
		uint64_t cap = t->cap_lat ? 2 * t->cap_lat : 4096;
		uint64_t *p = realloc(t->lat, cap * sizeof(*p));

		if (!p) {
			t->err = -ENOMEM;
			return;
		}
		t->lat = p;
		t->cap_lat = cap;
	}
	t->lat[t->n_lat++] = ns;
}

static void hold_fail(struct hold_thread *t, int fd)
{
	if (conns[fd].state == CONN_SEND || conns[fd].state == CONN_RECV)
		t->outstanding--;
	conns[fd].state = CONN_DEAD;
	t->errors++;
}

/* Writes the rest of the request, reads the response (edge-triggered). */
static void hold_progress(struct hold_thread *t, int fd, uint32_t events)
{
	struct conn *c = &conns[fd];
	ssize_t n;

	if (c->state == CONN_DEAD)
		return;
	if (events & EPOLLERR) {
		hold_fail(t, fd);
		return;
	}
	for (;;) {
		switch (c->state) {
		case CONN_SEND:
			n = write(fd, t->req + (t->cfg->req - c->out_left),
				  c->out_left < LOAD_BUF_LEN ? c->out_left : LOAD_BUF_LEN);
			if (n > 0) {
				c->out_left -= n;
				if (!c->out_left)
					c->state = CONN_RECV;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return; /* EPOLLOUT is not watched: 64-byte requests fit */
			hold_fail(t, fd);
			return;
		case CONN_RECV:
		case CONN_IDLE:
			n = read(fd, t->scratch, LOAD_BUF_LEN);
			if (n > 0 && c->state == CONN_RECV && (uint64_t)n <= c->in_left) {
				c->in_left -= n;
				if (!c->in_left) {
					hold_record(t, now_ns() - c->sent_ns);
					t->responses++;
					t->outstanding--;
					c->state = CONN_IDLE;
				}
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return;
			hold_fail(t, fd); /* EOF, a reset, or bytes nobody asked for */
			return;
		default:
			return;
		}
	}
}

/* Sends the requests due by `now` on the next idle connections. */
static void hold_send_due(struct hold_thread *t, uint64_t now)
{
	/* request k is due at t0 + k / rate, the first one at t0 */
	uint64_t due = (unsigned __int128)t->rate * (now - t->t0_ns) / DURATION_NS_PER_S + 1;

	while (t->due_sent < due) {
		/* scheduled, not actual, send time: a stalled client counts too */
		uint64_t at =
		    t->t0_ns + (unsigned __int128)t->due_sent * DURATION_NS_PER_S / t->rate;
		uint64_t tries;
		int fd = -1;

		t->due_sent++;
		for (tries = 0; tries < t->n_fds; tries++) {
			int f = t->fds[t->cursor++ % t->n_fds];

			if (conns[f].state == CONN_IDLE) {
				fd = f;
				break;
			}
		}
		if (fd < 0) {
			t->skipped++;
			continue;
		}
		conns[fd].state = CONN_SEND;
		conns[fd].out_left = t->cfg->req;
		conns[fd].in_left = t->cfg->resp;
		conns[fd].sent_ns = at;
		t->outstanding++;
		hold_progress(t, fd, 0);
	}
}

/*
 * Wakes the thread when the next request is due (one-shot, absolute): a
 * periodic tick would add up to its period to every scheduled latency.
 */
static void hold_arm(struct hold_thread *t)
{
	uint64_t at = t->t0_ns + (unsigned __int128)t->due_sent * DURATION_NS_PER_S / t->rate;
	struct itimerspec its = {
		.it_value = { .tv_sec = at / DURATION_NS_PER_S, .tv_nsec = at % DURATION_NS_PER_S },
	};

	if (timerfd_settime(t->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		t->err = -errno;
}

static void hold_progress_fd(void *t, int fd, uint32_t events)
{
	hold_progress(t, fd, events);
}

static void *hold_main(void *arg)
{
	struct hold_thread *t = arg;
	uint64_t now;
	int n;

	if (t->cfg->pin)
		pin_thread(t->idx);
	hold_open_all(t);
	pthread_barrier_wait(&hold_barrier); /* all threads connected */
	pthread_barrier_wait(&hold_barrier); /* the window's start is set */
	t->t0_ns = atomic_load(&hold_t0_ns);
	t->end_ns = t->t0_ns + t->cfg->duration_ns;
	for (;;) {
		now = now_ns();
		if (now < t->end_ns && t->rate) {
			if (now >= t->t0_ns)
				hold_send_due(t, now);
			hold_arm(t); /* before t0 too: the first request is due at t0 */
		} else if (now >= t->end_ns &&
			   (!t->outstanding || now >= t->end_ns + HOLD_DRAIN_NS))
			break;
		n = events_round(t->epfd, t->tfd, t->tfd >= 0 ? 100 : 10, &t->err, hold_progress_fd,
				 t);
		if (n < 0) {
			t->err = n;
			break;
		}
	}
	/* no answer within the drain: counted as errors, like a lost response */
	t->errors += t->outstanding;
	pthread_barrier_wait(&hold_barrier); /* the window is over */
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (nearest rank) of n sorted values, in microseconds. */
static double quantile_us(const uint64_t *v, uint64_t n, double q)
{
	uint64_t i;

	if (!n)
		return 0;
	i = (uint64_t)(q * n + 0.999999);
	i = i ? i - 1 : 0;
	return (double)v[i < n ? i : n - 1] / 1000.0;
}

static int run_hold(const struct load_cfg *cfg)
{
	uint64_t est = 0, cerr = 0, responses = 0, errors = 0, skipped = 0, sent = 0, n_lat = 0;
	uint64_t connect_ns, t_open, *all = NULL;
	struct hold_thread *ts = NULL;
	unsigned int i, started = 0;
	sigset_t sigs;
	int err = 0, sig;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	ts = calloc(cfg->threads, sizeof(*ts));
	if (!ts || pthread_barrier_init(&hold_barrier, NULL, cfg->threads + 1)) {
		free(ts);
		return -ENOMEM;
	}
	for (i = 0; i < cfg->threads; i++) {
		struct hold_thread *t = &ts[i];

		t->idx = i;
		t->cfg = cfg;
		t->epfd = t->tfd = -1;
		t->want = cfg->connections / cfg->threads + (i < cfg->connections % cfg->threads);
		t->rate = cfg->rate / cfg->threads + (i < cfg->rate % cfg->threads);
		put_le32(t->req, cfg->req);
		put_le32(t->req + 4, cfg->resp);
		t->fds = calloc(t->want ? t->want : 1, sizeof(*t->fds));
		t->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (!t->fds || t->epfd < 0) {
			err = -ENOMEM;
			goto cleanup;
		}
		if (t->rate) {
			struct epoll_event ev = { .events = EPOLLIN };

			/* armed for each next request by hold_arm() */
			t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
			ev.data.fd = t->tfd;
			if (t->tfd < 0 || epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->tfd, &ev) < 0) {
				err = -errno;
				pr_warn("timerfd: %s", strerror(-err));
				goto cleanup;
			}
		}
	}
	t_open = now_ns();
	for (; started < cfg->threads; started++) {
		err = -pthread_create(&ts[started].tid, NULL, hold_main, &ts[started]);
		if (err) {
			/* the barrier counts every thread: without them all, no way on */
			pr_err("pthread_create: %s", strerror(-err));
			exit(1);
		}
	}
	pthread_barrier_wait(&hold_barrier);
	connect_ns = now_ns() - t_open;
	for (i = 0; i < cfg->threads; i++) {
		est += ts[i].established;
		cerr += ts[i].connect_errors;
	}
	pr_info("held: %" PRIu64 " of %" PRIu64 " connections established in %.3f s (%" PRIu64
		" failed)",
		est, cfg->connections, (double)connect_ns / DURATION_NS_PER_S, cerr);
	/*
	 * --go-signal: several hold processes (each within RLIMIT_NOFILE)
	 * start their windows together, once every one of them is connected.
	 */
	while (cfg->go_signal) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGUSR1)
			break;
		exit(1); /* stopped before the window: nothing to report */
	}
	atomic_store(&hold_t0_ns, now_ns() + 10 * DURATION_NS_PER_MS);
	pthread_barrier_wait(&hold_barrier);
	pthread_barrier_wait(&hold_barrier);
	for (i = 0; i < cfg->threads; i++) {
		pthread_join(ts[i].tid, NULL);
		responses += ts[i].responses;
		errors += ts[i].errors;
		skipped += ts[i].skipped;
		sent += ts[i].due_sent - ts[i].skipped;
		n_lat += ts[i].n_lat;
		if (ts[i].err && !err)
			err = ts[i].err;
	}
	started = 0;
	all = malloc((n_lat ? n_lat : 1) * sizeof(*all));
	if (!all) {
		err = -ENOMEM;
		goto cleanup;
	}
	n_lat = 0;
	for (i = 0; i < cfg->threads; i++) {
		if (ts[i].n_lat)
			memcpy(all + n_lat, ts[i].lat, ts[i].n_lat * sizeof(*all));
		n_lat += ts[i].n_lat;
	}
	qsort(all, n_lat, sizeof(*all), cmp_u64);
	if (cfg->lat_out) {
		FILE *f = fopen(cfg->lat_out, "w");

		for (uint64_t j = 0; f && j < n_lat; j++)
			fprintf(f, "%" PRIu64 "\n", all[j]);
		if (!f || fclose(f)) {
			err = -errno;
			pr_warn("%s: %s", cfg->lat_out, strerror(-err));
			goto cleanup;
		}
	}
	printf("{\"mode\":\"hold\",\"connections\":%" PRIu64 ",\"established\":%" PRIu64
	       ",\"connect_errors\":%" PRIu64 ",\"connect_s\":%.3f,\"duration_s\":%.3f"
	       ",\"rate\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"responses\":%" PRIu64
	       ",\"errors\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"lat_p50_us\":%.1f"
	       ",\"lat_p99_us\":%.1f,\"lat_p999_us\":%.1f,\"lat_max_us\":%.1f}\n",
	       cfg->connections, est, cerr, (double)connect_ns / DURATION_NS_PER_S,
	       (double)cfg->duration_ns / DURATION_NS_PER_S, cfg->rate, sent, responses, errors,
	       skipped, quantile_us(all, n_lat, 0.5), quantile_us(all, n_lat, 0.99),
	       quantile_us(all, n_lat, 0.999), n_lat ? (double)all[n_lat - 1] / 1000.0 : 0.0);
	fflush(stdout);
	/* hold them until told to stop: their cost is read meanwhile */
	while (sigwait(&sigs, &sig) != 0 || sig == SIGUSR1)
		;
cleanup:
	for (i = 0; i < started; i++)
		pthread_join(ts[i].tid, NULL);
	for (i = 0; ts && i < cfg->threads; i++) {
		if (ts[i].epfd >= 0)
			close(ts[i].epfd);
		if (ts[i].tfd >= 0)
			close(ts[i].tfd);
		free(ts[i].fds);
		free(ts[i].lat);
	}
	free(ts);
	free(all);
	return err; /* the held connections close at exit */
}

/* --- command line --------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: pf-load serve --port P [--addr IP] [--threads N] [--pin] [--keepalive]\n"
	    "       pf-load client --port P [--addr IP] (--rate R | --saturate) --duration DUR\n"
	    "                      [--concurrency C] [--req BYTES] [--resp BYTES] [--threads N] [--pin]\n"
	    "       pf-load hold --port P --connections N --duration DUR [--rate R] [--sources K]\n"
	    "                    [--addr IP] [--req BYTES] [--resp BYTES] [--threads N] [--pin]\n"
	    "                    [--go-signal] [--lat-out FILE]\n"
	    "\n"
	    "  --addr IP          127.0.0.1 (default) or ::1, any IPv4/IPv6 literal\n"
	    "  --threads N        event-loop threads (default 1)\n"
	    "  --pin              run thread i on CPU i (modulo the CPUs allowed)\n"
	    "  --rate R           open R connections per second, paced on a 1 ms tick\n"
	    "  --saturate         keep C connections in flight, as fast as possible\n"
	    "  --duration DUR     e.g. 5s, 500ms\n"
	    "  --concurrency C    connections in flight at most (default 64)\n"
	    "  --req BYTES        request size, 8-byte header included (default 64, min 8)\n"
	    "  --resp BYTES       response size (default 64)\n"
	    "  --keepalive        serve: answer requests until the client closes (for hold)\n"
	    "  --connections N    hold: open N connections to a --keepalive server and keep them\n"
	    "  --rate R           hold: R requests per second in all, round robin over them,\n"
	    "                     during --duration (none without --rate)\n"
	    "  --sources K        hold: IPv4 source addresses 127.0.0.2.. used round robin\n"
	    "                     (default 8; 0: the kernel's choice)\n"
	    "  --go-signal        hold: once connected, wait for SIGUSR1 to start --duration\n"
	    "  --lat-out FILE     hold: write every latency (ns), one a line, sorted\n"
	    "The client prints one JSON line with its totals; the server prints one at exit.\n"
	    "hold prints \"held: ...\" on stderr once connected, one JSON line (latency\n"
	    "percentiles) after --duration, then keeps the connections until SIGTERM.\n");
}

/* strtoull alone accepts "-1" (as ULLONG_MAX) and trailing junk: refuse both. */
static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || v < min || v > max) {
		fprintf(stderr, "pf-load: %s: '%s' is not a number in [%" PRIu64 ", %" PRIu64 "]\n",
			opt, s, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_addr(const char *s, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&load_addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&load_addr;

	memset(&load_addr, 0, sizeof(load_addr));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		load_addr_len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		load_addr_len = sizeof(*sin6);
		return 0;
	}
	fprintf(stderr, "pf-load: --addr: '%s' is not an IPv4 or IPv6 address\n", s);
	return -EINVAL;
}

enum {
	OPT_REQ = 256,
	OPT_RESP,
	OPT_PIN,
	OPT_KEEPALIVE,
	OPT_CONNECTIONS,
	OPT_SOURCES,
	OPT_GO_SIGNAL,
	OPT_LAT_OUT,
};

static int parse_args(int argc, char **argv, struct load_cfg *cfg)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "addr", required_argument, NULL, 'a' },
		{ "threads", required_argument, NULL, 't' },
		{ "rate", required_argument, NULL, 'r' },
		{ "saturate", no_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "pin", no_argument, NULL, OPT_PIN },
		{ "req", required_argument, NULL, OPT_REQ },
		{ "resp", required_argument, NULL, OPT_RESP },
		{ "keepalive", no_argument, NULL, OPT_KEEPALIVE },
		{ "connections", required_argument, NULL, OPT_CONNECTIONS },
		{ "sources", required_argument, NULL, OPT_SOURCES },
		{ "go-signal", no_argument, NULL, OPT_GO_SIGNAL },
		{ "lat-out", required_argument, NULL, OPT_LAT_OUT },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int opt, err = 0, client_only = 0;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? -EINVAL : 1;
	}
	if (!strcmp(argv[1], "serve")) {
		cfg->cmd = LOAD_CMD_SERVE;
	} else if (!strcmp(argv[1], "client")) {
		cfg->cmd = LOAD_CMD_CLIENT;
	} else if (!strcmp(argv[1], "hold")) {
		cfg->cmd = LOAD_CMD_HOLD;
	} else {
		fprintf(stderr, "pf-load: unknown command '%s' (serve, client or hold)\n", argv[1]);
		return -EINVAL;
	}
	argc--;
	argv++;
	while (!err && (opt = getopt_long(argc, argv, "p:a:t:r:sd:c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			err = parse_u64("--port", optarg, 1, 65535, &cfg->port);
			break;
		case 'a':
			cfg->addr = optarg;
			break;
		case 't':
			err = parse_u64("--threads", optarg, 1, LOAD_MAX_THREADS, &cfg->threads);
			break;
		case 'r':
			err = parse_u64("--rate", optarg, 1, LOAD_MAX_RATE, &cfg->rate);
			client_only = 1;
			break;
		case 's':
			cfg->saturate = 1;
			client_only = 1;
			break;
		case 'd':
			err = duration_parse(optarg, &cfg->duration_ns);
			if (err || !cfg->duration_ns || cfg->duration_ns > LOAD_MAX_DURATION_NS) {
				fprintf(stderr,
					"pf-load: --duration: '%s' is not a duration in (0, 24h] "
					"such as 5s or 500ms\n",
					optarg);
				err = -EINVAL;
			}
			client_only = 1;
			break;
		case 'c':
			err = parse_u64("--concurrency", optarg, 1, 1000000, &cfg->concurrency);
			client_only = 1;
			break;
		case OPT_REQ:
			err = parse_u64("--req", optarg, LOAD_HDR_LEN, UINT32_MAX, &cfg->req);
			client_only = 1;
			break;
		case OPT_RESP:
			err = parse_u64("--resp", optarg, 0, UINT32_MAX, &cfg->resp);
			client_only = 1;
			break;
		case OPT_PIN:
			cfg->pin = 1;
			break;
		case OPT_KEEPALIVE:
			cfg->keepalive = 1;
			break;
		case OPT_CONNECTIONS:
			err =
			    parse_u64("--connections", optarg, 1, LOAD_MAX_FDS, &cfg->connections);
			client_only = 1;
			break;
		case OPT_SOURCES:
			err = parse_u64("--sources", optarg, 0, 250, &cfg->sources);
			client_only = 1;
			break;
		case OPT_GO_SIGNAL:
			cfg->go_signal = 1;
			client_only = 1;
			break;
		case OPT_LAT_OUT:
			cfg->lat_out = optarg;
			client_only = 1;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			return -EINVAL; /* getopt_long printed why */
		}
	}
	if (err)
		return err;
	if (optind < argc) {
		fprintf(stderr, "pf-load: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!cfg->port) {
		fprintf(stderr, "pf-load: --port is required\n");
		return -EINVAL;
	}
	if (parse_addr(cfg->addr, cfg->port))
		return -EINVAL;
	if (cfg->cmd == LOAD_CMD_SERVE) {
		if (client_only) {
			fprintf(stderr,
				"pf-load: serve takes only --port, --addr, --threads, --pin "
				"and --keepalive\n");
			return -EINVAL;
		}
		return 0;
	}
	if (cfg->keepalive) {
		fprintf(stderr, "pf-load: --keepalive is for serve\n");
		return -EINVAL;
	}
	if (cfg->cmd == LOAD_CMD_HOLD) {
		if (!cfg->connections || !cfg->duration_ns || cfg->saturate) {
			fprintf(stderr, "pf-load: hold needs --connections and --duration, "
					"and takes no --saturate\n");
			return -EINVAL;
		}
		if (cfg->threads > cfg->connections) {
			fprintf(stderr, "pf-load: hold needs at least one connection per thread\n");
			return -EINVAL;
		}
		return 0;
	}
	if (cfg->connections || cfg->sources != load_cfg_defaults.sources || cfg->go_signal ||
	    cfg->lat_out) {
		fprintf(stderr, "pf-load: --connections, --sources, --go-signal and --lat-out "
				"are for hold\n");
		return -EINVAL;
	}
	if (!!cfg->rate == cfg->saturate) {
		fprintf(stderr, "pf-load: client needs exactly one of --rate R and --saturate\n");
		return -EINVAL;
	}
	if (!cfg->duration_ns) {
		fprintf(stderr, "pf-load: client needs --duration\n");
		return -EINVAL;
	}
	if (cfg->concurrency < cfg->threads) {
		fprintf(stderr, "pf-load: --concurrency must be at least --threads\n");
		return -EINVAL;
	}
	return 0;
}

/* Raises RLIMIT_NOFILE to its hard limit and sizes the fd table to it. */
static int fd_table_init(const struct load_cfg *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	/*
	 * hold and a keep-alive server keep 100k+ connections open: lift the
	 * hard limit too where we may (root, up to fs.nr_open).
	 */
	if ((cfg->cmd == LOAD_CMD_HOLD || cfg->keepalive) && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max < LOAD_MAX_FDS) {
		struct rlimit want = { LOAD_MAX_FDS, LOAD_MAX_FDS };

		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			pr_warn("setrlimit(RLIMIT_NOFILE, %llu): %s",
				(unsigned long long)rl.rlim_cur, strerror(errno));
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	conns_len =
	    rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > LOAD_MAX_FDS ? LOAD_MAX_FDS : rl.rlim_cur;
	/* the sockets a command holds at once; each thread also holds an epoll fd, a timer or a listener */
	if (cfg->cmd == LOAD_CMD_HOLD || cfg->cmd == LOAD_CMD_CLIENT) {
		int hold = cfg->cmd == LOAD_CMD_HOLD;
		uint64_t want = hold ? cfg->connections : cfg->concurrency;

		if (want + 2 * cfg->threads + 16 > conns_len) {
			fprintf(stderr,
				"pf-load: %s %" PRIu64 " needs more descriptors than "
				"RLIMIT_NOFILE allows (%u)\n",
				hold ? "--connections" : "--concurrency", want, conns_len);
			return -EMFILE;
		}
	}
	conns = calloc(conns_len, sizeof(*conns));
	return conns ? 0 : -ENOMEM;
}

int main(int argc, char **argv)
{
	struct load_cfg cfg = load_cfg_defaults;
	int err;

	log_init("pf-load", LOG_LEVEL_INFO);
	err = parse_args(argc, argv, &cfg);
	if (err)
		return err > 0 ? 0 : 2;
	if (sched_getaffinity(0, sizeof(load_cpus), &load_cpus))
		CPU_ZERO(&load_cpus); /* --pin then does nothing */
	err = fd_table_init(&cfg);
	if (err) {
		if (err != -EMFILE)
			pr_warn("fd table: %s", strerror(-err));
		return 2;
	}
	keepalive = cfg.keepalive;
	if (cfg.cmd == LOAD_CMD_SERVE)
		err = run_server(&cfg);
	else if (cfg.cmd == LOAD_CMD_HOLD)
		err = run_hold(&cfg);
	else
		err = run_client(&cfg);
	free(conns);
	return err ? 1 : 0;
}
