/* SPDX-License-Identifier: BSD-2-Clause */
/* A worker thread: its own listening socket, epoll loop, connections, decoder and output writer. */
#ifndef PODFLOW_COLLECTOR_WORKER_H
#define PODFLOW_COLLECTOR_WORKER_H

#include <stdint.h>

#include <openssl/ssl.h>

#include "conn.h"
#include "ingest.h"

struct peers;
struct stats;

struct worker_opts {
	unsigned int id;
	int listen_fd; /* SO_REUSEPORT listener, owned by the worker from __new on */
	int died_fd;   /* eventfd the worker signals if its loop fails */
	const struct conn_limits *lim;
	uint32_t max_connections; /* beyond: closed at accept, counted */
	struct peers *peers;	  /* shared: connections per peer address (a cap); NULL: none */
	uint64_t grace_ns;	  /* shutdown: time in-flight requests get to finish */
	SSL_CTX *ssl_ctx;	  /* NULL: h2c */
	struct ingest_opts ingest;
};

struct worker;

/* Sets up the worker's loop and ingest; NULL + errno + one line in `why`. */
struct worker *worker__new(const struct worker_opts *o, char *why, size_t len);
/* Starts the thread.  0 or -errno. */
int worker__start(struct worker *w);
/*
 * Asks the worker to stop (thread-safe, async): it closes its listener,
 * sends GOAWAY on each connection, finishes what is in flight and exits,
 * closing whatever is left after grace_ns.
 */
void worker__stop(struct worker *w);
/* Waits for the thread; 0, or -EIO when its loop failed. */
int worker__join(struct worker *w);
/* Its counters (read them with stats_sum, from any thread). */
const struct stats *worker__stats(const struct worker *w);
void worker__free(struct worker *w);

#endif /* PODFLOW_COLLECTOR_WORKER_H */
