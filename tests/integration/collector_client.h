/* SPDX-License-Identifier: BSD-2-Clause */
/* Integration-test support: a podflow-collector run by the test, and batches posted to it. */
#ifndef PODFLOW_IT_COLLECTOR_CLIENT_H
#define PODFLOW_IT_COLLECTOR_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "harness.h"
#include "wire.h"

/*
 * What the suites that drive the collector from outside share:
 *   coll__*            a podflow-collector process and its admin endpoint
 *   snd__*             a sender: one long-lived HTTP/2 connection
 *                      (lib/h2client) posting batches it encodes itself
 *                      (lib/wire), heartbeat included, as a sidecar does
 *   coll_batch_encode  a batch of n made-up records, for the suites that
 *                      post it their own way
 *   coll_http          one request on its own connection (libcurl)
 *   raw_h2__*          one connection driven frame by frame (nghttp2):
 *                      what libcurl will not do (declare a body and never
 *                      send it, HEAD, many streams from a chosen address)
 * The structs are not opaque: they live on a test's stack, zeroed, so that
 * its cleanup can free them whether or not they were started, and the
 * tests read the ports and reach the process (struct sidecar) through them.
 */

/* Who a pod is, as a batch names its sender and a record its local and remote sides. */
struct pod_ident {
	const char *app, *ns, *pod, *workload, *node;
};

/* ---- a collector the test runs ------------------------------------------------ */

/* What every collector of a suite starts with, besides what coll__start always gives. */
struct coll_conf {
	const char *dir;	 /* each collector's DATA_DIR is dir/<name> */
	const char *const *args; /* the suite's own arguments, NULL-terminated; may be NULL */
	const char *debug_env;	 /* this variable set (and not empty): --log-level debug */
};

struct coll {
	struct sidecar p;
	uint16_t port;	/* ingest */
	uint16_t admin; /* /metrics, /readyz */
	uint16_t api;	/* /ownership, /config (harness.c's collector_start: 127.0.0.1:0) */
	char data[512]; /* its DATA_DIR */
	char url[128];	/* http://127.0.0.1:<port>/v1/flows */
	/*
	 * Optional, set by the suite after start: called on each round of the
	 * coll__wait_* loops, for what a suite watches while it waits (the
	 * IP events watermark of test_kafka_faults.c, say).
	 */
	void (*on_wait)(struct coll *c, void *ctx);
	void *on_wait_ctx;
};

/*
 * Starts podflow-collector on 127.0.0.1 with ephemeral ingest and admin
 * ports, two workers, no periodic stats line, DATA_DIR conf->dir/name
 * (made if missing, kept if there: a restart on the same data), then
 * conf->args, then `extra` (NULL-terminated, may be NULL): a later flag
 * wins over an earlier one.  Waits up to 10 s each for its admin and API
 * endpoint lines.  0 or -errno; the process is c->p either way, for
 * coll__free.
 */
int coll__start(struct coll *c, const struct coll_conf *conf, const char *name,
		const char *const *extra);
/* SIGTERM, waits up to 10 s; the exit code (128 + signal if killed), or -1.  *secs may be NULL. */
int coll__stop(struct coll *c, double *secs);
/* Kills it if still running and reaps it; with `failed`, shows what it logged.  Zeroed c: no-op. */
void coll__free(struct coll *c, bool failed);
/*
 * GET path on the admin endpoint: the status (-1: no answer), *body
 * malloc'd ("" at least).  Every call drains the collector's stderr pipe
 * first: a full pipe would block it.
 */
long coll__get(struct coll *c, const char *path, char **body);
/* One sample of /metrics ("name" or "name{labels}"), -1 when absent or unreachable. */
int64_t coll__metric(struct coll *c, const char *sample);
/* podflow_collector_attribution_records_total{result="<result>"}, -1 when absent. */
int64_t coll__result(struct coll *c, const char *result);
/*
 * Polls `sample` every 20 ms until it is at least `want` (a counter, a
 * gauge rising), or timeout_ms; its last value.
 */
int64_t coll__wait_metric(struct coll *c, const char *sample, int64_t want, int timeout_ms);
/* The same until it is exactly `want`: for a gauge that falls (brokers up going to 0). */
int64_t coll__wait_metric_eq(struct coll *c, const char *sample, int64_t want, int timeout_ms);
/* coll__result polled as coll__wait_metric polls. */
int64_t coll__wait_result(struct coll *c, const char *result, int64_t want, int timeout_ms);
/* Polls /readyz until it answers `status` (200, or 503 while not ready); whether it did. */
bool coll__wait_ready(struct coll *c, long status, int timeout_ms);

/* ---- a sender: one HTTP/2 connection, batches encoded here ---------------------- */

struct snd {
	struct h2c *h2;
	struct pod_ident id;
	uint8_t ip[16];	 /* its pod IP: the heartbeat's, and its records' local side */
	uint8_t ip6[16]; /* with has_ip6: the local side of records to an IPv6 remote */
	bool has_ip6;
	uint64_t sender_id; /* one per sender of this process, as a sidecar's is per process */
	uint64_t seq;
	uint64_t records_ok; /* records of the batches answered 204 */
};

/*
 * Connects to the collector's ingest port over h2c (prior knowledge) as
 * the pod `id` (copied; its strings borrowed) with the IP `ip`.  0 or
 * -errno (-EINVAL: not an IP).
 */
int snd__open(struct snd *s, uint16_t port, const struct pod_ident *id, const char *ip);
/*
 * A dual-stack pod: records to an IPv6 remote get `ip6` as their local
 * address (a v6 flow has a v6 local side); the heartbeat still claims the
 * one IP of snd__open.  0 or -EINVAL.
 */
int snd__dual_stack(struct snd *s, const char *ip6);
/* Closes the connection (cancelling what is in flight); zeroed or closed s: no-op. */
void snd__close(struct snd *s);
/*
 * One batch, zstd: the sender's heartbeat (it owned its IP over [from,
 * to)) and `n` records, each given its local address and family here.
 * Waits up to 10 s for the answer.  The HTTP status (204: written or
 * held), or -errno; on a timeout the connection is closed (the request
 * borrowed this call's stack).
 */
int snd__post(struct snd *s, int64_t from, int64_t to, const struct flow_record *recs, size_t n);
/*
 * A record told apart by `id` (its bytes_sent; its other counters and its
 * local port follow from it) to `remote`, an IP, over [start, end]; the
 * sender fills in its own side.
 */
struct flow_record snd_record(uint64_t id, const char *remote, int64_t start, int64_t end);

/* ---- a batch and a request, for suites that post their own way ------------------- */

/*
 * A batch of made-up records: IPv4, outgoing, 0.0.0.0 on both sides
 * (v4-mapped), record i with bytes_sent id0 + i (distinct: none folds into
 * another) and [start_ms, end_ms]; then fill(), when set, for what a suite
 * varies per record.
 */
struct coll_batch {
	uint64_t sender_id, seq;
	const char *pod, *ns; /* the sender's identity; the rest of it empty */
	enum wire_encoding enc;
	uint64_t id0;
	uint64_t start_ms, end_ms;
	void (*fill)(struct flow_record *r, uint32_t i, void *ctx);
	void *ctx;
};

/* The batch of `n` records encoded; malloc'd (*len bytes), NULL if the encoder refused. */
void *coll_batch_encode(const struct coll_batch *b, uint32_t n, size_t *len);

/* An answer: its status (0: none), body (cut to fit) and the headers tests look at. */
struct coll_resp {
	long status;
	char body[512];
	size_t len;
	char allow[64];
	char retry_after[16];
};

/*
 * One request to 127.0.0.1:port on its own HTTP/2 prior-knowledge
 * connection (libcurl 7.88 cannot reuse those; one request per connection
 * never hits that), 10 s at most, no proxy.  `headers`: "Name: value"
 * strings, NULL-terminated, may be NULL.  `chunked`: no Content-Length,
 * the body streams from a read callback.  0, or -EIO without an answer
 * (said on stderr).
 */
int coll_http(uint16_t port, const char *method, const char *path, const char *const *headers,
	      const void *body, size_t len, bool chunked, struct coll_resp *resp);

/* ---- a raw HTTP/2 connection (nghttp2 on one socket): what libcurl will not do -- */

/*
 * A TCP connection to 127.0.0.1:port from `src` (an address of lo; NULL:
 * any), TCP_NODELAY.  rcvbuf > 0: that receive buffer and a 536-byte MSS,
 * set before connect so that the SYN says it: a small window toward us,
 * and a small send buffer in the collector toward us too (Linux sizes it
 * from the congestion window in segments: on loopback's 64 KiB MSS it
 * would take over a MiB of answers).  fd, or -1 (said on stderr).
 */
int coll_connect_from(const char *src, uint16_t port, int rcvbuf);

#define RAW_H2_STREAMS 8

struct raw_h2_stream {
	int32_t id;
	int status; /* :status, 0 = none yet */
	char allow[32];
	size_t data_bytes; /* DATA payload received */
	unsigned int data_frames;
	bool closed;
	uint32_t error_code; /* why it closed: NO_ERROR, or the RST_STREAM's code */
	const unsigned char *body;
	size_t body_left;
	bool body_deferred; /* declared a body that never comes */
};

/* Not opaque: tests submit frames of their own on `session` (a PING, say). */
struct raw_h2 {
	int fd;
	struct nghttp2_session *session;
	struct raw_h2_stream streams[RAW_H2_STREAMS];
	int n_streams;
	unsigned int ping_acks;
};

/* Connects (from `src`, see coll_connect_from) and queues the preface.  0 or -errno. */
int raw_h2__open(struct raw_h2 *h, const char *src, uint16_t port);
/* Closes the socket and frees the session; a closed h stays closed. */
void raw_h2__close(struct raw_h2 *h);
/*
 * Queues a request to /v1/flows.  `content_length` (NULL: none) is sent as
 * is; `body` NULL with a content length: the body is promised and never
 * sent; neither: END_STREAM on the HEADERS.  `body` is borrowed until the
 * stream ends.  Returns the stream's record (in h), or NULL when
 * RAW_H2_STREAMS are queued already or nghttp2 refused it.
 */
struct raw_h2_stream *raw_h2__request(struct raw_h2 *h, const char *method, uint16_t port,
				      const char *content_length, const void *body, size_t len);
/* Sends and receives until done(h) or timeout_ms.  0, or -errno (-ETIMEDOUT). */
int raw_h2__run(struct raw_h2 *h, int timeout_ms, bool (*done)(struct raw_h2 *h));
/* raw_h2__run's `done`s: every stream closed; a PING answered. */
bool raw_h2__all_closed(struct raw_h2 *h);
bool raw_h2__pinged(struct raw_h2 *h);

#endif /* PODFLOW_IT_COLLECTOR_CLIENT_H */
