/* SPDX-License-Identifier: BSD-2-Clause */
/* One worker's request handling: routing, auth, decoding a batch and writing its records. */
#ifndef PODFLOW_COLLECTOR_INGEST_H
#define PODFLOW_COLLECTOR_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token.h"

struct attributor;
struct hold_journal_writer;
struct output_writer;
struct outputs;
struct stats;
struct token_review;
struct wire_batch;

#define INGEST_PATH	     "/v1/flows"
#define INGEST_TOKEN_RECHECK (1000ull * 1000 * 1000) /* ns between stat()s of the token file */
/* The sender's projected service-account token (docs/attribution.md, "Heartbeats are proven"). */
#define INGEST_IDENTITY_HEADER "podflow-identity"
#define INGEST_IDENTITY_MAX    8192
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
	/*
	 * A heartbeat whose span starts more than attribution.heartbeat_grace
	 * before it arrives came after the floor passed its start: records of
	 * its IPs in between may have been decided without it.  Counted
	 * (heartbeats_late) and logged once per sender; 0: not checked (no
	 * attribution).  Spans starting before since_ms (this collector's
	 * start, Unix ms) are not judged: a sidecar's backlog from before.
	 */
	uint64_t heartbeat_grace_ms;
	uint64_t since_ms;
};

/*
 * The senders whose late heartbeats were logged, shared by every worker
 * (a sender's connections may land on any): once each, by sender id and
 * namespace/pod, the first INGEST_LATE_LOGGED_MAX of them; later ones are
 * only counted.
 */
#define INGEST_LATE_LOGGED_MAX 1024
struct ingest_late_log;

struct ingest_late_log *ingest_late_log__new(void);
void ingest_late_log__free(struct ingest_late_log *l);

struct ingest_opts {
	unsigned int worker;
	struct outputs *outputs;      /* the output stage, shared, borrowed */
	struct output_writer *writer; /* this worker's, in `outputs`: only this worker writes it */
	struct token_file *token;     /* shared, borrowed; NULL: no Authorization required */
	size_t max_decoded;	      /* decoder's cap on a batch's payload, 0 = the wire default */
	uint32_t max_records;	      /* records in one batch, 0 = the wire format's most */
	struct attributor *attr;      /* shared, borrowed; NULL: records go out unattributed */
	const struct ingest_bounds *bounds; /* shared, borrowed; NULL: only end_ms >= start_ms */
	struct ingest_late_log *late_log;   /* shared, borrowed; NULL: late heartbeats counted */
	/*
	 * Shared, borrowed; NULL: heartbeats are trusted as sent (the shared
	 * token's mode).  Else a batch's heartbeat is used only once its
	 * sender's podflow-identity token is verified and names its pod.
	 */
	struct token_review *verifier;
	/*
	 * This worker's, borrowed; NULL: nothing journaled (a crash loses what
	 * is held).  Else each batch's held copies and heartbeat are journaled
	 * before its write (docs/attribution.md, "Held records survive a
	 * crash"), and a batch whose frame cannot be appended is answered as a
	 * failed write.  Only with attr.
	 */
	struct hold_journal_writer *journal;
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
	const char *identity;	    /* podflow-identity, NULL when absent */
	size_t identity_len;
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
 * commit: the attributor writes them later), else they are dropped; with a
 * journal, the copies and the heartbeat are journaled before the write
 * (a batch whose frame cannot be appended is answered as a failed write).
 * 204 only once every record is either in every output (output.h) or held
 * (and journaled, with a journal).  429
 * when an output is full or failing (the sender retries; nothing of the
 * batch was kept).  Otherwise 400 (malformed, with the decoder's reason),
 * 413 (payload over the decoder's cap, or over Kafka's bound), 415, or 503
 * (the output could not be written: nothing of the batch was kept).
 */
int ingest__handle(struct ingest *in, const struct ingest_request *rq, char *reason, size_t len);

/*
 * What may prove a batch's heartbeat (docs/attribution.md, "Heartbeats are
 * proven"), read only with ingest_opts.verifier: the sender's
 * podflow-identity token.  IPFIX cannot carry one (docs/ipfix.md).
 */
struct ingest_proof {
	const char *identity; /* NULL: none came with the batch */
	size_t identity_len;
	const char *missing; /* why none, for the refusal's log line */
};

/* Where ingest__batch stopped; each leaves nothing of the batch in any output or held. */
enum ingest_failure {
	INGEST_FAILED_NONE = 0,
	INGEST_FAILED_ATTRIBUTE, /* no memory for the batch's decisions */
	INGEST_FAILED_JOURNAL,	 /* its held records could not be journaled */
	INGEST_FAILED_WRITE,	 /* the outputs refused it (outputs__write's -errno) */
};

struct ingest_result {
	enum ingest_failure failed;
	bool heartbeat; /* its heartbeat was used (and journaled, with a journal) */
	uint32_t held;	/* of its records, held back for attribution */
	uint64_t bytes; /* JSON bytes written */
};

/*
 * The path of every decoded batch, whatever carried it (ingest__handle for
 * HTTP/2, the IPFIX listener for UDP: docs/ipfix.md): drops (and counts)
 * the records whose times are out of bounds (b->n_records is what is left),
 * applies its heartbeat (proven by `proof` when a verifier is configured),
 * attributes, journals the held copies and makes the one write, as
 * ingest__handle says.  Counts its records, written bytes and sender drops
 * once it succeeded; the caller counts its failures.  0, or -errno with
 * res->failed saying where (nothing of the batch kept).  *res is filled
 * either way.
 */
int ingest__batch(struct ingest *in, struct wire_batch *b, const struct ingest_proof *proof,
		  struct ingest_result *res);

#endif /* PODFLOW_COLLECTOR_INGEST_H */
