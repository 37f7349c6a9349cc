/* SPDX-License-Identifier: BSD-2-Clause */
/* One worker's request handling: routing, auth, decoding a batch and writing its records. */
#ifndef PODFLOW_COLLECTOR_INGEST_H
#define PODFLOW_COLLECTOR_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token.h"

struct attributor;
struct output_writer;
struct outputs;
struct stats;

#define INGEST_PATH	     "/v1/flows"
#define INGEST_TOKEN_RECHECK (1000ull * 1000 * 1000) /* ns between stat()s of the token file */
/* The longest Authorization value held: "Bearer " and the longest token, with room to spare. */
#define INGEST_AUTHORIZATION_MAX (TOKEN_MAX_LEN + 64)

/*
 * Bounds on a record's times against this collector's wall clock (docs/
 * architecture.md "Record times").  Shared by every worker and changed
 * live by the main thread: read and written with relaxed atomics.
 */
struct ingest_bounds {
	uint64_t max_skew_ms; /* end_ms at most now + this */
	uint64_t max_age_ms;  /* start_ms at least now - this; 0: no bound */
};

struct ingest_opts {
	unsigned int worker;
	struct outputs *outputs;      /* the output stage, shared, borrowed */
	struct output_writer *writer; /* this worker's, in `outputs`: only this worker writes it */
	struct token_file *token;     /* shared, borrowed; NULL: no Authorization required */
	size_t max_decoded;	      /* decoder's cap on a batch's payload, 0 = the wire default */
	struct attributor *attr;      /* shared, borrowed; NULL: records go out unattributed */
	const struct ingest_bounds *bounds; /* shared, borrowed; NULL: only end_ms >= start_ms */
};

/* A request as the HTTP/2 layer saw it; strings NUL-terminated, NULL when absent. */
struct ingest_request {
	const char *method;
	const char *path;
	const char *content_encoding;
	const char *authorization;
	size_t authorization_len;
	size_t
	    authorization_overlong; /* an Authorization over INGEST_AUTHORIZATION_MAX: its length */
	const void *body;
	size_t body_len;
};

struct ingest;

/* Each worker has its own: nothing here is shared between threads.  NULL + errno + why. */
struct ingest *ingest__new(const struct ingest_opts *o, struct stats *stats, char *why, size_t len);
void ingest__free(struct ingest *in);

/*
 * Decides what can be decided from the headers alone, before any body is
 * buffered: 404, 405, 431 (an Authorization longer than any token), 401, 415.  Returns 0 (read the body) or the HTTP
 * status to answer now, with a one-line reason in `reason`.
 */
int ingest__check_headers(struct ingest *in, const struct ingest_request *rq, uint64_t now_ns,
			  char *reason, size_t len);
/*
 * Decodes the body as one batch, drops (and counts) the records whose times
 * are out of bounds (struct ingest_bounds), applies its heartbeat,
 * attributes its records, copies the undecided for the attributor to hold
 * back, and makes one write of the rest (outputs__write, all or nothing);
 * only once that write succeeded are the copies held (attributor__hold_
 * commit: the attributor writes them later), else they are dropped.  204
 * only once every record is either in every output (output.h) or held.  429
 * when an output is full or failing (the sender retries; nothing of the
 * batch was kept).  Otherwise 400 (malformed, with the decoder's reason),
 * 413 (payload over the decoder's cap, or over Kafka's bound), 415, or 503
 * (the output could not be written: nothing of the batch was kept).
 */
int ingest__handle(struct ingest *in, const struct ingest_request *rq, char *reason, size_t len);

#endif /* PODFLOW_COLLECTOR_INGEST_H */
