/* SPDX-License-Identifier: BSD-2-Clause */
/* The collector's counters: one set per worker, summed for the stats line. */
#ifndef PODFLOW_COLLECTOR_STATS_H
#define PODFLOW_COLLECTOR_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Every response class the server sends, each counted. */
enum stats_status {
	STATS_204 = 0,
	STATS_400,
	STATS_401,
	STATS_404,
	STATS_405,
	STATS_408, /* the request did not complete within --request-timeout */
	STATS_413,
	STATS_415,
	STATS_429,
	STATS_431, /* header list over the limit */
	STATS_503, /* the output could not be written */
	STATS_OTHER,
	STATS__COUNT,
};

/* Why a decoded record was not written (docs/architecture.md "Record times"). */
enum stats_record_reject {
	STATS_REC_END_BEFORE_START = 0, /* end_ms < start_ms */
	STATS_REC_FUTURE,		/* end_ms past now + ingest.max_clock_skew */
	STATS_REC_TOO_OLD,		/* start_ms before now - ingest.max_record_age */
	STATS_REC__COUNT,
};

/* Why a request was refused, where its status alone does not say. */
enum stats_refusal {
	STATS_REFUSED_HEADER_LIST = 0, /* 431: the header list over its limit */
	STATS_REFUSED_AUTHORIZATION,   /* 431: Authorization longer than any token */
	STATS_REFUSED_TOKEN_MISSING,   /* 401: no Authorization header */
	STATS_REFUSED_TOKEN_WRONG,     /* 401: not Bearer, or not our token */
	STATS_REFUSED_BODY,	       /* 413: the body over max_body */
	STATS_REFUSED_DECODED,	       /* 413: decompressed over max_decoded */
	STATS_REFUSED_RECORDS,	       /* 413: more records than max_batch_records */
	STATS_REFUSED__COUNT,
};

/*
 * Written by one worker thread only, read by the main thread for the stats
 * line: every update is a relaxed atomic add (a plain add on x86 would be
 * enough for the writer, but the reader must not see torn values).
 */
struct stats {
	uint64_t conns_accepted;
	uint64_t conns_refused;		   /* over --max-connections: closed at accept */
	uint64_t conns_refused_per_peer;   /* over --max-connections-per-peer: closed at accept */
	uint64_t conns_protocol_errors;	   /* not HTTP/2 (bad preface) or a fatal h2 error */
	uint64_t conns_tls_failures;	   /* handshake failed or no ALPN "h2" */
	uint64_t conns_handshake_timeouts; /* no TLS handshake + preface in time */
	uint64_t conns_idle_closed;	   /* idle past --idle-timeout */
	uint64_t conns_write_stalled;	   /* peer stopped reading our responses */
	uint64_t conns_aborted_at_exit;	   /* still busy at the shutdown deadline */
	uint64_t requests[STATS__COUNT];
	uint64_t streams_reset;	   /* closed by the peer (or nghttp2) before we answered */
	uint64_t streams_rst_sent; /* RST_STREAM with an error code from nghttp2: a stream
				    * over SETTINGS_MAX_CONCURRENT_STREAMS, a malformed request */
	uint64_t batches;	   /* batches decoded and written (each answered 204) */
	uint64_t records;	   /* records accepted: written at once, or held for attribution */
	uint64_t bytes_in;	   /* request body bytes received, as sent (compressed) */
	uint64_t bytes_decoded;	   /* uncompressed size of the batches accepted */
	uint64_t bytes_out;	   /* JSON bytes written to the output files */
	uint64_t write_errors;
	/* heartbeats whose span started before the heartbeat floor when they came (ingest.c) */
	uint64_t heartbeats_late;
	uint64_t drops[WIRE_DROP__COUNT];	     /* what senders reported losing, by reason */
	uint64_t records_rejected[STATS_REC__COUNT]; /* decoded, not written: their times */
	uint64_t refused[STATS_REFUSED__COUNT];	     /* 401s, 413s and 431s by reason */
};

#define STATS_ADD(field, n) __atomic_fetch_add(&(field), (uint64_t)(n), __ATOMIC_RELAXED)

/* The counter for an HTTP status. */
enum stats_status stats_status_index(int status);
const char *stats_status_name(enum stats_status s);
const char *stats_record_reject_name(enum stats_record_reject r);
const char *stats_refusal_name(enum stats_refusal r);
/* dst += src, reading src with atomic loads. */
void stats_sum(struct stats *dst, const struct stats *src);
/* One line, "key=value ..." (no newline); returns buf. */
char *stats_format(const struct stats *s, char *buf, size_t len);

#endif /* PODFLOW_COLLECTOR_STATS_H */
