/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The insight view (docs/insight.md, docs/api.md): rolling aggregates of the
 * attributed records over a window (default 1 h at 1-minute resolution),
 * keyed by (local app, remote app, port, direction) and the namespaces, and
 * the queries the JSON API and the web UI answer from them.  A consumer of
 * attributed records: the output stage taps it in-process (embedded), or its
 * Kafka consumer feeds it (insight_kafka.h), and at start it is rebuilt from
 * the files (insight_rebuild.h) or from Kafka's retention.
 *
 * Memory is bounded: at most opts.max_edges keys; the records of a key past
 * the cap are folded into one overflow key (counted).  Thread-safe: every
 * call takes the view's one lock, once per call (insight__add takes a whole
 * batch at once).
 */
#ifndef PODFLOW_COLLECTOR_INSIGHT_H
#define PODFLOW_COLLECTOR_INSIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

struct admin_args;
struct jsonw;
struct metrics_writer;

/* How a failed connect failed: the class of the record's first error. */
enum insight_error {
	INSIGHT_ERROR_NONE = 0,
	INSIGHT_ERROR_REFUSED, /* ECONNREFUSED: nothing listens (or a firewall's RST) */
	INSIGHT_ERROR_TIMEOUT, /* ETIMEDOUT, EHOSTUNREACH, ENETUNREACH: nothing answers */
	INSIGHT_ERROR_RESET,   /* ECONNRESET, ECONNABORTED, EPIPE */
	INSIGHT_ERROR_OTHER,
	INSIGHT_ERROR__COUNT,
};

/* "refused", "timeout", "reset", "other" ("" for NONE): the API's names. */
const char *insight_error_name(enum insight_error e);
/* From an errno (the in-process tap) and from its name (the JSON records' "error"). */
enum insight_error insight_error_from_errno(int err);
enum insight_error insight_error_from_name(const char *name);

/*
 * One record as the view takes it.  Strings are borrowed for the call; NULL
 * or "" = unknown.  A side's node is its app, else its workload, else its
 * pod; a remote side with none of them is its address (remote_addr).
 */
struct insight_flow {
	uint64_t end_ms; /* the record's time: it lands in the bucket holding it */
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint64_t segs_sent;
	uint32_t flows;	 /* connections open in the record's span (one may span several records) */
	uint32_t closed; /* of them, ended in it: what the view counts as connections */
	uint32_t failed; /* of those, never established */
	uint32_t retransmits;
	uint32_t resets;
	uint32_t srtt_us; /* 0: no sample */
	uint16_t local_port;
	uint16_t remote_port;
	uint8_t direction;	 /* FLOW_DIRECTION_OUT (local called) or _IN (remote called) */
	uint8_t remote_addr[16]; /* IPv4 as v4-mapped */
	enum insight_error error;
	struct flow_identity local;  /* app, namespace, workload, pod */
	struct flow_identity remote; /* and account, region, zone where known */
};

/* Bounds of the options (the config table enforces them too). */
#define INSIGHT_MAX_BUCKETS	  1440
#define INSIGHT_DEFAULT_WINDOW_MS (3600ull * 1000)
#define INSIGHT_DEFAULT_RES_MS	  (60ull * 1000)
#define INSIGHT_DEFAULT_MAX_EDGES 8192

struct insight_opts {
	uint64_t window_ms;	/* 0: the default; a multiple of resolution_ms */
	uint64_t resolution_ms; /* 0: the default; window / resolution <= INSIGHT_MAX_BUCKETS */
	uint32_t max_edges;	/* 0: the default */
};

struct insight;

/* NULL with errno set (EINVAL: options out of bounds, ENOMEM). */
struct insight *insight__new(const struct insight_opts *o);
void insight__free(struct insight *in);

/*
 * Folds n records in, under one lock.  now_ms: the wall clock, which moves
 * the window (records older than its start are counted as too old and
 * dropped; records ahead of now land in the newest bucket).
 */
void insight__add(struct insight *in, const struct insight_flow *f, size_t n, uint64_t now_ms);

/*
 * The output stage's tap: the records of one written batch (those with
 * keep[i] when keep is not NULL), under one lock.
 */
void insight__add_records(struct insight *in, const struct flow_record *r, size_t n,
			  const bool *keep, uint64_t now_ms);

/*
 * Answers GET /api/v1/... (docs/api.md): the HTTP status, with the JSON
 * body (200) or a one-line reason as a JSON string (400) written to jw;
 * 404 for a path it does not serve.  The admin listener's `json` callback.
 */
int insight__api(struct insight *in, const char *path, const struct admin_args *args,
		 struct jsonw *jw, uint64_t now_ms);

/* A query parameter's decoded value by name, NULL when absent (admin_arg() in insight__api). */
typedef const char *(*insight_arg_fn)(void *ctx, const char *name);

/*
 * What insight__api answers, its parameters read through arg(ctx, name):
 * the admin listener's arguments, or a test's table.  503 (with a JSON
 * string) when there was no memory for the answer.
 */
int insight__query(struct insight *in, const char *path, insight_arg_fn arg, void *ctx,
		   struct jsonw *jw, uint64_t now_ms);

/* Where the view's records come from, for /api/v1/status and the metrics. */
struct insight_source_stats {
	const char *source;  /* "output" or "kafka" */
	const char *rebuild; /* "off", "running", "done", "failed" */
	uint64_t rebuilt;    /* records read back at start */
	uint64_t rebuild_files;
	uint64_t rebuild_errors; /* unreadable files and lines (logged) */
	uint64_t consumed;	 /* Kafka messages consumed */
	uint64_t bad_messages;
};
/* The sources report here (any thread); /api/v1/status shows the last one. */
void insight__set_source_stats(struct insight *in, const struct insight_source_stats *s);

/*
 * podflow_collector_insight_records_total{outcome="added|too_old|overflow"},
 * _edges, _edges_max, _memory_bytes, _expired_edges_total, and the sources':
 * _rebuilt_records_total, _rebuild_files_total, _rebuild_errors_total,
 * _consumed_messages_total, _bad_messages_total.
 */
void insight__metrics(struct insight *in, struct metrics_writer *mw);

#endif /* PODFLOW_COLLECTOR_INSIGHT_H */
