/* SPDX-License-Identifier: BSD-2-Clause */
/* The collector's IPFIX ingest: UDP sockets and threads, each decoding into the ingest path. */
#ifndef PODFLOW_COLLECTOR_IPFIX_LISTENER_H
#define PODFLOW_COLLECTOR_IPFIX_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest.h"

struct config_cidrs;
struct metrics_writer;
struct stats;

/*
 * docs/ipfix.md, "The collector".  `workers` threads, each with its own
 * UDP socket bound to the same address with SO_REUSEPORT (the kernel
 * steers each source address and port to one socket by a hash, so one
 * exporter's datagrams all reach one decoder, whose templates they need),
 * its own lib/ipfix decoder and its own struct ingest: every decoded
 * message takes ingest__batch, the path of an HTTP/2 batch, through the
 * worker's own output writer.
 */
struct ipfix_listener_opts {
	const char *listen; /* ADDR:PORT (listen_addr.h); port 0: the kernel picks one */
	uint32_t workers;   /* at least 1 */
	uint64_t rcvbuf;    /* SO_RCVBUF asked per socket */
	uint32_t max_exporters;
	uint32_t max_templates;
	uint32_t pen;
	const struct config_cidrs *allow; /* source addresses taken; borrowed for the lifetime */
	int died_fd;			  /* eventfd a worker signals if its loop fails */
	/* worker i's ingest (its writer and journal writer): `workers` of them, copied */
	const struct ingest_opts *ingest;
};

struct ipfix_listener;

/*
 * Binds every socket and sets up every worker; no thread runs yet.  NULL
 * with errno and one line in `why`.
 */
struct ipfix_listener *ipfix_listener__new(const struct ipfix_listener_opts *o, char *why,
					   size_t len);
/* Starts the threads.  0 or -errno (those started are stopped by __stop). */
int ipfix_listener__start(struct ipfix_listener *l);
/*
 * Stops the threads: each takes what its socket already holds, then exits.
 * Returns 0, or -EIO when a worker's loop had failed.  Idempotent.
 */
int ipfix_listener__stop(struct ipfix_listener *l);
/* Stops first if needed.  NULL is fine. */
void ipfix_listener__free(struct ipfix_listener *l);

/* "127.0.0.1:4739 (UDP, 1 worker, receive buffer 16777216 bytes, ...)" for the log; buf. */
const char *ipfix_listener__describe(const struct ipfix_listener *l, char *buf, size_t len);
/* "127.0.0.1:4739", "[::]:4739": the address bound (port 0 resolved); returns buf (len >= 64). */
const char *ipfix_listener__address(const struct ipfix_listener *l, char *buf, size_t len);
/* Not only loopback: reachable from elsewhere, unauthenticated (docs/security.md). */
bool ipfix_listener__beyond_loopback(const struct ipfix_listener *l);
/* The kernel's receive buffer of each socket (getsockopt SO_RCVBUF: twice what it was given). */
uint64_t ipfix_listener__rcvbuf(const struct ipfix_listener *l);

/* sum += every worker's ingest counters (records, rejected, sender drops, bytes written). */
void ipfix_listener__sum_stats(const struct ipfix_listener *l, struct stats *sum);
/* The podflow_collector_ipfix_* families. */
void ipfix_listener__metrics(struct ipfix_listener *l, struct metrics_writer *w);

#endif /* PODFLOW_COLLECTOR_IPFIX_LISTENER_H */
