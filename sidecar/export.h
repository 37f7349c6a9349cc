/* SPDX-License-Identifier: BSD-2-Clause */
/* Export of flow records to the collector: batches over one HTTP/2 connection. */
#ifndef PODFLOW_EXPORT_H
#define PODFLOW_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "metrics.h"
#include "wire.h"

/* Cumulative loss counters of the capture side, by wire_drop reason. */
typedef void (*export_drops_fn)(void *ctx, uint64_t cumulative[WIRE_DROP__COUNT]);

struct export_opts {
	const char *url;       /* http://HOST:PORT[/path] (h2c) or https://... (TLS, ALPN h2) */
	const char *ca_file;   /* CA bundle for https (default: the system's) */
	const char *cert_file; /* client certificate for mTLS, with key_file */
	const char *key_file;
	const char *token_file; /* bearer token, re-read when the file changes */
	bool token_optional;	/* token_file may be absent at start: none until it appears */
	/* the pod's projected token, sent as podflow-identity; re-read when it changes; NULL: none */
	const char *identity_token_file;
	enum wire_encoding encoding;
	uint32_t batch_max_records;
	size_t batch_max_bytes;	 /* uncompressed */
	size_t buffer_max_bytes; /* encoded batches held while the collector is slow or down */
	uint32_t max_in_flight;	 /* concurrent streams on the connection */
	const struct flow_identity *sender; /* borrowed for the exporter's life */
	export_drops_fn drops_fn;	    /* called on the adding thread at every batch */
	void *drops_ctx;
};

struct export_stats {
	uint64_t batches_sealed;
	uint64_t batches_ok;
	uint64_t records_ok;
	uint64_t retries;
	uint64_t records_dropped_buffer; /* oldest dropped from a full buffer */
	uint64_t records_rejected;	 /* in batches refused with a 4xx other than 429 */
	uint64_t records_abandoned;	 /* still undelivered when the shutdown grace ran out */
	uint64_t buffer_bytes;
	uint64_t buffer_batches;
	/* why attempts failed (each retried later unless rejected) */
	uint64_t fail_connect;	/* no connection: refused, unreachable, TLS handshake */
	uint64_t fail_timeout;	/* no answer within the request timeout */
	uint64_t fail_reset;	/* the connection or stream broke mid-request */
	uint64_t fail_goaway;	/* refused by a GOAWAY before processing: resent at once */
	uint64_t fail_http_429; /* 429: backpressure, Retry-After honoured */
	uint64_t fail_http_5xx; /* 5xx (503 honours Retry-After) */
	uint64_t fail_http_4xx; /* 4xx but 429: the batch is rejected, not retried */
	uint64_t consecutive_failures;
	/* the last heartbeat: addresses it claimed, and those of the pod left out (podips.h) */
	uint64_t heartbeat_ips;
	uint64_t pod_ips_over_limit;
	uint64_t pod_ips_malformed;
	uint64_t send_offset_ns; /* this pod's place in the send spread at the last cut */
};

struct exporter;

/*
 * Validates the options, sets up libcurl and starts the export thread.
 * NULL with errno set and a one-line reason in `why` on failure (a bad URL
 * or an unreadable token/CA file: the caller's usage error).
 */
struct exporter *exporter__new(const struct export_opts *opts, char *why, size_t whylen);

/*
 * Adds a record to the current batch (adding thread only); the batch is
 * sealed and queued when it reaches batch_max_records or batch_max_bytes.
 * Never blocks on the network.
 */
void exporter__add(struct exporter *x, const struct flow_record *r);
/*
 * The batches sealed from now on (until the next call) are sent no sooner
 * than this sender's offset in [0, spread_ns) from now
 * (report_header__send_offset_ns); 0: at once.  Called at each interval's
 * cut, so that the pods' batches, cut on the same instants, arrive spread
 * (docs/sidecar.md, "Lifecycle").  Shutdown sends what is held at once.
 */
void exporter__hold(struct exporter *x, uint64_t spread_ns);
/* Seals the current batch, even empty (a heartbeat), and queues it. */
void exporter__seal(struct exporter *x);

/*
 * What the heartbeats of the batches sealed from now on may claim (adding
 * thread).  `claim` true: the pod's IPs, for a span ending no later than
 * `until_ms` (wall clock: the last moment the caller saw capture working;
 * the span of a later batch starts there).  false: no address (capture is
 * blind, the pod may be gone and its IP someone else's).  Until the first
 * call: the IPs, up to each seal.
 */
void exporter__set_claim(struct exporter *x, bool claim, uint64_t until_ms);

/*
 * Seals what is left, then gives the export thread up to `grace_ns` to
 * deliver everything queued; what is still undelivered is counted and
 * logged.  Stops the thread and frees everything; `final` (may be NULL)
 * gets the last statistics.  NULL is fine.
 */
void exporter__close(struct exporter *x, uint64_t grace_ns, struct export_stats *final);

void exporter__stats(const struct exporter *x, struct export_stats *out);

/*
 * Round-trip time of every delivered or failed POST (seconds buckets).
 * Valid for the exporter's life; observed from the export thread.
 */
const struct metrics_histogram *exporter__latency(const struct exporter *x);

/* True while the buffer is full and batches are being dropped (since the last delivery). */
bool exporter__dropping(const struct exporter *x);

/* Live changes: batch limits (adding thread) and the buffer's bound. */
void exporter__set_limits(struct exporter *x, uint32_t batch_max_records, size_t batch_max_bytes,
			  size_t buffer_max_bytes);

#endif /* PODFLOW_EXPORT_H */
