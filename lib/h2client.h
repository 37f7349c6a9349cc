/* SPDX-License-Identifier: BSD-2-Clause */
/* A small HTTP/2 client (nghttp2, OpenSSL): one connection, many POST streams. */
#ifndef PODFLOW_H2CLIENT_H
#define PODFLOW_H2CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Why not libcurl: Debian 12's libcurl 7.88 fails every request after the
 * first on a reused HTTP/2 prior-knowledge connection ("Error in the HTTP2
 * framing layer", curl issue #10634, fixed in 8.0), so it cannot keep one
 * long-lived h2c connection.  nghttp2 does the framing here; this module
 * only moves bytes, keeps the connection and maps streams to callbacks.
 *
 * Single-threaded: every call but h2c__wakeup() from the thread that runs
 * h2c__run().
 */
struct h2c_opts {
	const char *url;       /* http://HOST:PORT/path (h2c, prior knowledge) or https:// */
	const char *ca_file;   /* https: CA bundle; NULL = the system's */
	const char *cert_file; /* https: client certificate (mTLS), with key_file */
	const char *key_file;
	uint32_t max_streams;	     /* concurrent streams we open at most */
	uint64_t connect_timeout_ns; /* TCP + TLS handshake */
	uint64_t request_timeout_ns; /* per stream, from submission to its end */
};

struct h2c_header {
	const char *name; /* lowercase, as HTTP/2 requires */
	const char *value;
};

/*
 * A request's outcome.  err is 0 when a response arrived (status is its
 * :status), or a negative errno when none did: -ECONNREFUSED and friends
 * (connect), -ETIMEDOUT, -ECONNRESET (the connection or the stream was
 * reset), -EAGAIN (refused by the server's GOAWAY before it was processed:
 * safe to send again).  retry_after is the Retry-After header or NULL;
 * body is the start of the response body (at most 256 bytes, NUL-ended).
 */
typedef void (*h2c_done_fn)(void *ctx, int err, int status, const char *retry_after,
			    const char *body);

struct h2c;

/* NULL with errno set and a one-line reason in `why` (bad URL, unreadable CA). */
struct h2c *h2c__new(const struct h2c_opts *opts, char *why, size_t whylen);
/* Closes the connection; pending requests complete with -ECANCELED.  NULL is fine. */
void h2c__free(struct h2c *c);

/*
 * Starts a POST of `body` (borrowed until `done` runs) with `headers`
 * (copied).  Opens the connection if there is none.  Returns 0 (`done` will
 * run from a later h2c__run()), or -EBUSY when max_streams are in flight.
 */
int h2c__post(struct h2c *c, const void *body, size_t len, const struct h2c_header *headers,
	      size_t n_headers, h2c_done_fn done, void *ctx);

/* Waits up to timeout_ms for I/O or h2c__wakeup(), then does the I/O and runs callbacks. */
int h2c__run(struct h2c *c, int timeout_ms);
/* Makes a blocked h2c__run() return now.  Any thread. */
void h2c__wakeup(struct h2c *c);

uint32_t h2c__in_flight(const struct h2c *c);
/* Connections opened so far (1 while one stays up: the point of this module). */
uint64_t h2c__connections(const struct h2c *c);
/* The request URL, normalised ("http://host:port/path"). */
const char *h2c__url(const struct h2c *c);

#endif /* PODFLOW_H2CLIENT_H */
