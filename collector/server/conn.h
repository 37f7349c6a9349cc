/* SPDX-License-Identifier: BSD-2-Clause */
/* One client connection: TLS or cleartext transport, an nghttp2 server session, its limits. */
#ifndef PODFLOW_COLLECTOR_CONN_H
#define PODFLOW_COLLECTOR_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct ingest;
struct stats;

/* Bounds on what one peer can make us hold or wait for (docs/architecture.md). */
struct conn_limits {
	size_t max_body;	    /* bytes of one request body (413 beyond) */
	size_t max_conn_buffered;   /* request-body bytes buffered on one connection (429) */
	size_t max_worker_buffered; /* ... on all connections of one worker (429) */
	uint32_t max_streams;	    /* SETTINGS_MAX_CONCURRENT_STREAMS */
	uint32_t max_header_list;   /* SETTINGS_MAX_HEADER_LIST_SIZE (431 beyond) */
	uint64_t handshake_ns;	    /* accept to the client's preface and SETTINGS */
	uint64_t idle_ns;	    /* no open stream this long: GOAWAY */
	uint64_t request_ns;	    /* HEADERS to END_STREAM (408), and longest write stall */
	uint64_t linger_ns;	    /* after our last byte, how long to read and discard */
};

/* What a connection borrows from its worker (all single-threaded). */
struct conn_env {
	const struct conn_limits *lim;
	struct ingest *ingest;
	struct stats *stats;
	size_t *worker_buffered; /* the worker's total of buffered body bytes */
	SSL_CTX *ssl_ctx;	 /* NULL: cleartext h2c with prior knowledge */
};

/* conn__io and friends return the epoll events wanted next, 0 = free the connection. */
#define CONN_MORE (1u << 30) /* input left unread (a fairness budget): call again soon */

struct conn;

/* Takes ownership of `fd` (non-blocking, accepted).  NULL + errno. */
struct conn *conn__new(const struct conn_env *env, int fd, uint64_t now_ns);
/* Frees everything; counts streams still unanswered as reset. */
void conn__free(struct conn *c);
int conn__fd(const struct conn *c);

/* The socket is ready (`events` from epoll, 0 for a CONN_MORE call). */
uint32_t conn__io(struct conn *c, uint32_t events, uint64_t now_ns);
/* Deadlines: handshake, idle, request completion, write stall, linger. */
uint32_t conn__tick(struct conn *c, uint64_t now_ns);
/*
 * Graceful shutdown: GOAWAY naming the last stream we processed; streams
 * up to it are finished and answered, later ones the client must retry.
 */
uint32_t conn__shutdown(struct conn *c, uint64_t now_ns);

#endif /* PODFLOW_COLLECTOR_CONN_H */
