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
};

static const struct load_cfg load_cfg_defaults = {
	.addr = "127.0.0.1",
	.threads = 1,
	.concurrency = 64,
	.req = 64,
	.resp = 64,
};

enum conn_state {
	CONN_FREE = 0,
	CONN_HDR,  /* server: reading the 8-byte header */
	CONN_BODY, /* server: reading the rest of the request */
	CONN_SEND, /* server: writing the response; client: connecting, writing the request */
	CONN_RECV, /* client: reading the response */
	CONN_EOF,  /* client: response complete, waiting for the server's FIN */
};

struct conn {
	uint8_t state;
	uint8_t hdr_len;
	uint8_t want_out; /* server: EPOLLOUT is in the interest set */
	uint8_t hdr[LOAD_HDR_LEN];
	uint32_t in_left;
	uint32_t out_left;
};

static struct conn *conns;
static unsigned int conns_len;
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

static void *client_main(void *arg)
{
	struct client_thread *t = arg;
	struct epoll_event evs[LOAD_EVENTS];
	uint64_t now, expirations, due;
	int i, n, timeout_ms, window_closed = 0;

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
		n = epoll_wait(t->epfd, evs, LOAD_EVENTS, timeout_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			t->err = -errno;
			pr_warn("epoll_wait: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.fd == t->tfd) {
				/* the due count comes from the clock; the tick only wakes us */
				if (read(t->tfd, &expirations, sizeof(expirations)) < 0 &&
				    errno != EAGAIN)
					t->err = -errno;
				continue;
			}
			client_progress(t, evs[i].data.fd, evs[i].events);
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

/* --- command line --------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: pf-load serve --port P [--addr IP] [--threads N] [--pin]\n"
	    "       pf-load client --port P [--addr IP] (--rate R | --saturate) --duration DUR\n"
	    "                      [--concurrency C] [--req BYTES] [--resp BYTES] [--threads N] [--pin]\n"
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
	    "The client prints one JSON line with its totals; the server prints one at exit.\n");
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
	} else {
		fprintf(stderr, "pf-load: unknown command '%s' (serve or client)\n", argv[1]);
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
				"pf-load: serve takes only --port, --addr, --threads and --pin\n");
			return -EINVAL;
		}
		return 0;
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
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			pr_warn("setrlimit(RLIMIT_NOFILE, %llu): %s",
				(unsigned long long)rl.rlim_cur, strerror(errno));
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	conns_len =
	    rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > LOAD_MAX_FDS ? LOAD_MAX_FDS : rl.rlim_cur;
	/* each thread also holds an epoll fd, a timer or a listener */
	if (cfg->cmd == LOAD_CMD_CLIENT && cfg->concurrency + 2 * cfg->threads + 16 > conns_len) {
		fprintf(stderr,
			"pf-load: --concurrency %" PRIu64 " needs more descriptors than "
			"RLIMIT_NOFILE allows (%u)\n",
			cfg->concurrency, conns_len);
		return -EMFILE;
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
	if (cfg.cmd == LOAD_CMD_SERVE)
		err = run_server(&cfg);
	else
		err = run_client(&cfg);
	free(conns);
	return err ? 1 : 0;
}
