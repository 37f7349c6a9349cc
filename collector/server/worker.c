// SPDX-License-Identifier: BSD-2-Clause
/* A worker thread: its own listening socket, epoll loop, connections, decoder and output writer. */
#define _GNU_SOURCE
#include "worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ip.h"
#include "log.h"
#include "peers.h"
#include "stats.h"

#define TICK_NS	       (100ull * 1000 * 1000) /* deadline checks */
#define ACCEPT_BATCH   64
#define EVENTS_PER_RUN 64

/* A connection as the loop sees it. */
struct slot {
	struct slot *prev, *next;
	struct conn *conn;
	uint32_t events; /* registered with epoll */
	bool more;	 /* conn__io asked to be called again */
	bool peer_held;	 /* counted in the per-peer table under `peer` */
	uint8_t peer[16];
};

struct worker {
	struct worker_opts o;
	struct stats stats;
	struct ingest *ingest;
	struct conn_env env;
	size_t buffered; /* request-body bytes held by all our connections */
	int ep, ev_fd, timer_fd;
	struct slot *slots;
	uint32_t n_conns, n_more;
	bool stopping;
	uint64_t stop_deadline_ns;
	pthread_t thread;
	bool started;
	int result;
};

struct worker *worker__new(const struct worker_opts *o, char *why, size_t len)
{
	struct worker *w = calloc(1, sizeof(*w));
	struct itimerspec its = { .it_value.tv_nsec = TICK_NS, .it_interval.tv_nsec = TICK_NS };
	int err = ENOMEM;

	if (!w) {
		close(o->listen_fd);
		snprintf(why, len, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	w->o = *o;
	w->ep = w->ev_fd = w->timer_fd = -1;
	w->ingest = ingest__new(&o->ingest, &w->stats, why, len);
	if (!w->ingest) {
		err = errno;
		goto fail;
	}
	w->env = (struct conn_env){ .lim = o->lim,
				    .ingest = w->ingest,
				    .stats = &w->stats,
				    .worker_buffered = &w->buffered,
				    .ssl_ctx = o->ssl_ctx };
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->ev_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->ep < 0 || w->ev_fd < 0 || w->timer_fd < 0 ||
	    timerfd_settime(w->timer_fd, 0, &its, NULL)) {
		err = errno;
		snprintf(why, len, "worker %u: event loop setup: %s", o->id, strerror(err));
		goto fail;
	}
	/* data.ptr: a struct slot, or one of these three fds' addresses as tags */
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &w->o.listen_fd };
	struct epoll_event eev = { .events = EPOLLIN, .data.ptr = &w->ev_fd };
	struct epoll_event tev = { .events = EPOLLIN, .data.ptr = &w->timer_fd };

	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->o.listen_fd, &lev) ||
	    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->ev_fd, &eev) ||
	    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->timer_fd, &tev)) {
		err = errno;
		snprintf(why, len, "worker %u: epoll_ctl: %s", o->id, strerror(err));
		goto fail;
	}
	return w;
fail:
	worker__free(w);
	errno = err;
	return NULL;
}

static void slot_close(struct worker *w, struct slot *s)
{
	epoll_ctl(w->ep, EPOLL_CTL_DEL, conn__fd(s->conn), NULL);
	conn__free(s->conn);
	if (s->peer_held)
		peers__release(w->o.peers, s->peer);
	if (s->more)
		w->n_more--;
	if (s->prev)
		s->prev->next = s->next;
	else
		w->slots = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->n_conns--;
	free(s);
}

/* Applies what a conn__* call returned: new epoll interest, or the end of the connection. */
static void slot_update(struct worker *w, struct slot *s, uint32_t want)
{
	uint32_t ev = want & (EPOLLIN | EPOLLOUT);
	bool more = want & CONN_MORE;

	if (!want) {
		slot_close(w, s);
		return;
	}
	if (more != s->more) {
		if (more)
			w->n_more++;
		else
			w->n_more--;
		s->more = more;
	}
	if (ev != s->events) {
		struct epoll_event e = { .events = ev, .data.ptr = s };

		if (epoll_ctl(w->ep, EPOLL_CTL_MOD, conn__fd(s->conn), &e) == 0)
			s->events = ev;
	}
}

static void on_accept(struct worker *w, uint64_t now)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(w->o.listen_fd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC),
		    one = 1, err;
		uint8_t peer[16] = { 0 };
		bool held = false;
		struct slot *s;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				pr_warn("worker %u: accept: %s", w->o.id, strerror(errno));
			return;
		}
		if (w->n_conns >= w->o.max_connections) {
			/* over the cap: a plain close, before any byte is read or buffered */
			STATS_ADD(w->stats.conns_refused, 1);
			close(fd);
			continue;
		}
		/*
		 * One address cannot take every slot with sockets that say
		 * nothing (they would hold them until the handshake deadline):
		 * past its cap, a plain close too.
		 */
		if (w->o.peers && ip_from_sockaddr((struct sockaddr *)&ss, peer) == 0) {
			err = peers__acquire(w->o.peers, peer);
			if (err) {
				if (err == -EUSERS)
					STATS_ADD(w->stats.conns_refused_per_peer, 1);
				else
					STATS_ADD(w->stats.conns_refused, 1);
				close(fd);
				continue;
			}
			held = true;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		s = calloc(1, sizeof(*s));
		if (!s || !(s->conn = conn__new(&w->env, fd, now))) {
			if (!s)
				close(fd);
			free(s);
			if (held)
				peers__release(w->o.peers, peer);
			STATS_ADD(w->stats.conns_refused, 1);
			pr_warn("worker %u: out of memory for a connection", w->o.id);
			continue;
		}
		s->events = EPOLLIN;
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = s };

		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &e)) {
			pr_warn("worker %u: epoll_ctl: %s", w->o.id, strerror(errno));
			conn__free(s->conn);
			free(s);
			if (held)
				peers__release(w->o.peers, peer);
			continue;
		}
		s->peer_held = held;
		memcpy(s->peer, peer, sizeof(peer));
		s->next = w->slots;
		if (w->slots)
			w->slots->prev = s;
		w->slots = s;
		w->n_conns++;
		STATS_ADD(w->stats.conns_accepted, 1);
		/* TLS servers speak second, h2 servers first: our SETTINGS go out now */
		slot_update(w, s, conn__io(s->conn, 0, now));
	}
}

static void begin_stop(struct worker *w, uint64_t now)
{
	struct slot *s, *next;

	w->stopping = true;
	w->stop_deadline_ns = now + w->o.grace_ns;
	epoll_ctl(w->ep, EPOLL_CTL_DEL, w->o.listen_fd, NULL);
	close(w->o.listen_fd);
	w->o.listen_fd = -1;
	for (s = w->slots; s; s = next) {
		next = s->next;
		slot_update(w, s, conn__shutdown(s->conn, now));
	}
}

static void on_tick(struct worker *w, uint64_t now)
{
	struct slot *s, *next;

	for (s = w->slots; s; s = next) {
		next = s->next;
		if (w->stopping && now >= w->stop_deadline_ns) {
			STATS_ADD(w->stats.conns_aborted_at_exit, 1);
			slot_close(w, s);
			continue;
		}
		slot_update(w, s, conn__tick(s->conn, now));
	}
}

static void drain_fd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_debug("read: %s", strerror(errno));
}

static void *run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[EVENTS_PER_RUN];

	while (!w->stopping || w->n_conns > 0) {
		bool tick = false, stop = false;
		struct slot *s, *next;
		uint64_t now;
		int n;

		n = epoll_wait(w->ep, evs, EVENTS_PER_RUN, w->n_more ? 0 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			pr_warn("worker %u: epoll_wait: %s", w->o.id, strerror(errno));
			w->result = -EIO;
			break;
		}
		now = clock_mono_ns();
		/* connections first: the tick and the stop may free slots named later in evs */
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &w->o.listen_fd)
				on_accept(w, now);
			else if (p == &w->timer_fd)
				tick = true;
			else if (p == &w->ev_fd)
				stop = true;
			else
				slot_update(w, p,
					    conn__io(((struct slot *)p)->conn, evs[i].events, now));
		}
		if (w->n_more) {
			for (s = w->slots; s; s = next) {
				next = s->next;
				if (s->more)
					slot_update(w, s, conn__io(s->conn, 0, now));
			}
		}
		if (tick) {
			drain_fd(w->timer_fd);
			on_tick(w, now);
		}
		if (stop && !w->stopping) {
			drain_fd(w->ev_fd);
			begin_stop(w, now);
		}
	}
	/* a failed loop: close what is left, so the exit is still clean for the others */
	while (w->slots) {
		STATS_ADD(w->stats.conns_aborted_at_exit, 1);
		slot_close(w, w->slots);
	}
	if (w->result) {
		uint64_t one = 1;

		if (write(w->o.died_fd, &one, sizeof(one)) < 0)
			pr_warn("worker %u: cannot tell the main thread it stopped", w->o.id);
	}
	return NULL;
}

int worker__start(struct worker *w)
{
	int err = pthread_create(&w->thread, NULL, run, w);

	if (err)
		return -err;
	w->started = true;
	return 0;
}

void worker__stop(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->ev_fd, &one, sizeof(one)) < 0)
		pr_warn("worker %u: cannot signal it to stop: %s", w->o.id, strerror(errno));
}

int worker__join(struct worker *w)
{
	if (w->started) {
		pthread_join(w->thread, NULL);
		w->started = false;
	}
	return w->result;
}

const struct stats *worker__stats(const struct worker *w)
{
	return &w->stats;
}

void worker__free(struct worker *w)
{
	if (!w)
		return;
	worker__join(w);
	while (w->slots)
		slot_close(w, w->slots);
	ingest__free(w->ingest);
	if (w->o.listen_fd >= 0)
		close(w->o.listen_fd);
	if (w->timer_fd >= 0)
		close(w->timer_fd);
	if (w->ev_fd >= 0)
		close(w->ev_fd);
	if (w->ep >= 0)
		close(w->ep);
	free(w);
}
