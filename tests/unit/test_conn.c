// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests for one collector connection (server/conn.c): its decisions at
 * its public functions.  The server side is a real conn over one end of a
 * socketpair, driven with an explicit clock; the client is an nghttp2
 * client session on the other end, so every byte is real HTTP/2.  Ingest
 * behind it writes nothing (null sink).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "conn.h"
#include "flow.h"
#include "ingest.h"
#include "output.h"
#include "stats.h"
#include "wire.h"

#define S  1000000000ull
#define T0 (1000 * S) /* the test's clock starts here */

static const struct conn_limits g_lim = {
	.max_body = 1 << 20,
	.max_conn_buffered = 256 << 10,
	.max_worker_buffered = 1 << 30,
	.max_streams = 8,
	.max_header_list = 16384,
	.handshake_ns = 10 * S,
	.idle_ns = 120 * S,
	.request_ns = 30 * S,
	.linger_ns = S,
};

/* What the client saw of one stream. */
struct resp {
	int32_t id;
	int status;
	char allow[32];
	char body[512];
	size_t body_len;
	int data_frames;
	bool closed;
	uint32_t close_code;
};

struct fixture {
	char dir[64];
	struct stats stats;
	size_t worker_buffered;
	struct outputs *outputs;
	struct ingest *ingest;
	struct conn_env env;
	struct conn *conn;
	int cfd; /* the client's end */
	nghttp2_session *h2;
	struct resp resp[8];
	int n_resp;
	bool goaway;
	int32_t goaway_last;
	uint32_t goaway_code;
	bool server_closed;	  /* conn__io/tick returned 0: the connection is to be freed */
	uint8_t pending[1 << 16]; /* client bytes the socket did not take yet */
	size_t pending_len;
};

static struct resp *resp_of(struct fixture *f, int32_t id)
{
	for (int i = 0; i < f->n_resp; i++)
		if (f->resp[i].id == id)
			return &f->resp[i];
	assert_true(f->n_resp < 8);
	f->resp[f->n_resp].id = id;
	return &f->resp[f->n_resp++];
}

static int on_header(nghttp2_session *s, const nghttp2_frame *fr, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct fixture *f = ud;
	struct resp *r = resp_of(f, fr->hd.stream_id);

	(void)s;
	(void)flags;
	if (namelen == 7 && !memcmp(name, ":status", 7))
		r->status = atoi((const char *)value);
	if (namelen == 5 && !memcmp(name, "allow", 5) && valuelen < sizeof(r->allow))
		memcpy(r->allow, value, valuelen);
	return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		   void *ud)
{
	struct resp *r = resp_of(ud, id);

	(void)s;
	(void)flags;
	if (r->body_len + len < sizeof(r->body)) {
		memcpy(r->body + r->body_len, data, len);
		r->body_len += len;
	}
	return 0;
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *fr, void *ud)
{
	struct fixture *f = ud;

	(void)s;
	if (fr->hd.type == NGHTTP2_DATA && fr->hd.length)
		resp_of(f, fr->hd.stream_id)->data_frames++;
	if (fr->hd.type == NGHTTP2_GOAWAY) {
		f->goaway = true;
		f->goaway_last = fr->goaway.last_stream_id;
		f->goaway_code = fr->goaway.error_code;
	}
	return 0;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	struct resp *r = resp_of(ud, id);

	(void)s;
	r->closed = true;
	r->close_code = code;
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	nghttp2_session_callbacks *cbs;
	struct ingest_opts io = { 0 };
	int sv[2];
	char why[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/podflow-test-conn-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->outputs = outputs__new(
	    &(struct outputs_opts){ .data_dir = f->dir, .null_sink = true, .writers = 1 }, why,
	    sizeof(why));
	assert_non_null(f->outputs);
	io.outputs = f->outputs;
	io.writer = outputs__writer(f->outputs, 0);
	f->ingest = ingest__new(&io, &f->stats, why, sizeof(why));
	assert_non_null(f->ingest);
	f->env = (struct conn_env){ .lim = &g_lim,
				    .ingest = f->ingest,
				    .stats = &f->stats,
				    .worker_buffered = &f->worker_buffered };
	assert_int_equal(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
	f->conn = conn__new(&f->env, sv[0], T0);
	assert_non_null(f->conn);
	f->cfd = sv[1];
	assert_int_equal(0, nghttp2_session_callbacks_new(&cbs));
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
	assert_int_equal(0, nghttp2_session_client_new(&f->h2, cbs, f));
	nghttp2_session_callbacks_del(cbs);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	nghttp2_session_del(f->h2);
	conn__free(f->conn);
	close(f->cfd);
	ingest__free(f->ingest);
	outputs__free(f->outputs);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(0, system(cmd));
	free(f);
	return 0;
}

/* Writes raw bytes from the client. */
static void client_raw(struct fixture *f, const void *p, size_t n)
{
	assert_int_equal((ssize_t)n, write(f->cfd, p, n));
}

/* Writes what the client has pending, as far as the socket takes it; whether any went. */
static bool client_flush(struct fixture *f)
{
	bool moved = false;

	for (;;) {
		const uint8_t *out;
		ssize_t n;

		if (f->pending_len) {
			n = write(f->cfd, f->pending, f->pending_len);
			if (n <= 0) {
				assert_true(n < 0 && errno == EAGAIN);
				return moved;
			}
			memmove(f->pending, f->pending + n, f->pending_len - (size_t)n);
			f->pending_len -= (size_t)n;
			moved = true;
			continue;
		}
		n = nghttp2_session_mem_send(f->h2, &out);
		assert_true(n >= 0);
		if (n == 0)
			return moved;
		assert_true((size_t)n <= sizeof(f->pending));
		memcpy(f->pending, out, (size_t)n);
		f->pending_len = (size_t)n;
	}
}

/*
 * Moves bytes both ways until nothing moves: the client's frames to the
 * connection (conn__io at `now`), the connection's answers to the client.
 */
static void pump(struct fixture *f, uint64_t now)
{
	for (int round = 0; round < 4096; round++) {
		bool moved = client_flush(f);
		uint8_t buf[65536];
		ssize_t n;

		if (!f->server_closed && conn__io(f->conn, EPOLLIN | EPOLLOUT, now) == 0)
			f->server_closed = true;
		while ((n = read(f->cfd, buf, sizeof(buf))) > 0) {
			assert_int_equal(n, nghttp2_session_mem_recv(f->h2, buf, (size_t)n));
			moved = true;
		}
		if (!moved && !f->pending_len)
			return;
	}
	fail_msg("the connection kept talking");
}

static void tick(struct fixture *f, uint64_t now)
{
	if (!f->server_closed && conn__tick(f->conn, now) == 0)
		f->server_closed = true;
	pump(f, now);
}

/* Opens the client side: preface and SETTINGS, and the server's answer. */
static void open_client(struct fixture *f, uint64_t now)
{
	assert_int_equal(0, nghttp2_submit_settings(f->h2, NGHTTP2_FLAG_NONE, NULL, 0));
	pump(f, now);
}

#define NVS(n, v)                                                                          \
	{                                                                                  \
		(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE \
	}

struct body {
	const uint8_t *p;
	size_t len, off;
};

static ssize_t body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *ud)
{
	struct body *b = src->ptr;
	size_t n = b->len - b->off < len ? b->len - b->off : len;

	(void)s;
	(void)id;
	(void)ud;
	memcpy(buf, b->p + b->off, n);
	b->off += n;
	if (b->off == b->len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/*
 * A request: `body` NULL sends HEADERS only, with END_STREAM when `end` is
 * true; `clen` (non-NULL) is a content-length header.  The stream id.
 */
static int32_t request(struct fixture *f, const char *method, struct body *body, bool end,
		       const char *clen)
{
	nghttp2_nv nv[8] = { NVS(":method", method),
			     NVS(":scheme", "http"),
			     NVS(":authority", "collector"),
			     NVS(":path", "/v1/flows"),
			     NVS("content-type", "application/x-podflow-batch"),
			     NVS("content-encoding", "zstd") };
	nghttp2_data_provider prd = { .source.ptr = body, .read_callback = body_read };
	size_t n = 6;
	int32_t id;

	if (clen)
		nv[n++] = (nghttp2_nv)NVS("content-length", clen);
	if (body)
		id = nghttp2_submit_request(f->h2, NULL, nv, n, &prd, NULL);
	else if (end)
		id = nghttp2_submit_request(f->h2, NULL, nv, n, NULL, NULL);
	else
		id = nghttp2_submit_headers(f->h2, NGHTTP2_FLAG_NONE, -1, NULL, nv, n, NULL);
	assert_true(id > 0);
	return id;
}

/* A real batch of `n` records (zstd), as a sidecar would send it. */
static const void *batch(struct wire_encoder *e, uint32_t n, size_t *len)
{
	static const struct flow_identity sender = { .app = "web",
						     .namespace = "shop",
						     .pod = "web-1" };
	struct wire_header h = { .sender_id = 7, .seq = 1, .sender = sender };
	const void *body;

	wire_encoder__reset(e);
	for (uint32_t i = 0; i < n; i++) {
		struct flow_record r = { .start_ms = 1700000000000ull,
					 .end_ms = 1700000001000ull,
					 .family = 4,
					 .direction = FLOW_DIRECTION_OUT,
					 .flows = 1,
					 .local_port = 40000,
					 .remote_port = 443,
					 .bytes_sent = 100 + i };

		r.local_addr[10] = r.local_addr[11] = r.remote_addr[10] = r.remote_addr[11] = 0xff;
		r.local_addr[12] = r.remote_addr[12] = 10;
		r.remote_addr[15] = 2;
		assert_int_equal(0, wire_encoder__add(e, &r));
	}
	assert_int_equal(0, wire_encoder__finish(e, &h, &body, len));
	return body;
}

/* ---- the tests ---- */

static void test_handshake_deadline(void **state)
{
	struct fixture *f = *state;

	/* a client that connects and says nothing (not even the preface) */
	assert_int_not_equal(0, conn__io(f->conn, EPOLLIN | EPOLLOUT, T0));
	assert_int_not_equal(0, conn__tick(f->conn, T0 + g_lim.handshake_ns - 1));
	assert_int_equal(0, f->stats.conns_handshake_timeouts);
	assert_int_equal(0, conn__tick(f->conn, T0 + g_lim.handshake_ns));
	assert_int_equal(1, f->stats.conns_handshake_timeouts);
}

static void test_not_http2(void **state)
{
	struct fixture *f = *state;
	static const char req[] = "GET /v1/flows HTTP/1.1\r\nHost: x\r\n\r\n";
	uint32_t ev;

	client_raw(f, req, sizeof(req) - 1);
	ev = conn__io(f->conn, EPOLLIN | EPOLLOUT, T0 + 1);
	assert_int_equal(1, f->stats.conns_protocol_errors);
	assert_int_equal(0, f->stats.batches);
	/* our side is closed at once (the client reads EOF); it lingers, reading, then goes */
	assert_int_equal(EPOLLIN, ev);
	{
		uint8_t buf[4096];
		ssize_t n;

		while ((n = read(f->cfd, buf, sizeof(buf))) > 0)
			;
		assert_int_equal(0, n);
	}
	assert_int_equal(EPOLLIN, conn__tick(f->conn, T0 + g_lim.linger_ns));
	assert_int_equal(0, conn__tick(f->conn, T0 + 1 + g_lim.linger_ns));
}

static void test_batch_written(void **state)
{
	struct fixture *f = *state;
	struct wire_encoder *e = wire_encoder__new(WIRE_ENC_ZSTD, 0);
	struct body b = { 0 };
	struct resp *r;
	int32_t id;

	assert_non_null(e);
	open_client(f, T0);
	b.p = batch(e, 3, &b.len);
	id = request(f, "POST", &b, true, NULL);
	pump(f, T0 + 1);
	r = resp_of(f, id);
	assert_int_equal(204, r->status);
	assert_true(r->closed);
	assert_int_equal(NGHTTP2_NO_ERROR, r->close_code);
	assert_int_equal(0, r->data_frames);
	assert_int_equal(1, f->stats.batches);
	assert_int_equal(3, f->stats.records);
	assert_int_equal(b.len, f->stats.bytes_in);
	assert_int_equal(1, f->stats.requests[STATS_204]);
	/* the body was given back to the budgets once answered */
	assert_int_equal(0, f->worker_buffered);
	wire_encoder__free(e);
}

static void test_head_has_no_content(void **state)
{
	struct fixture *f = *state;
	struct resp *r;
	int32_t id;

	open_client(f, T0);
	id = request(f, "HEAD", NULL, true, NULL);
	pump(f, T0 + 1);
	r = resp_of(f, id);
	assert_int_equal(405, r->status);
	assert_string_equal("POST", r->allow);
	assert_int_equal(0, r->data_frames);
	assert_int_equal(0, r->body_len);
	assert_true(r->closed);
	assert_int_equal(NGHTTP2_NO_ERROR, r->close_code);
	assert_int_equal(1, f->stats.requests[STATS_405]);
}

static void test_declared_length_over_max_body(void **state)
{
	struct fixture *f = *state;
	char clen[32];
	struct resp *r;
	int32_t id;

	open_client(f, T0);
	snprintf(clen, sizeof(clen), "%zu", g_lim.max_body + 1);
	id = request(f, "POST", NULL, false, clen);
	pump(f, T0 + 1);
	r = resp_of(f, id);
	assert_int_equal(413, r->status);
	assert_non_null(strstr(r->body, "over"));
	assert_int_equal(1, f->stats.requests[STATS_413]);
	/* answered from the headers: nothing was reserved for the promise */
	assert_int_equal(0, f->worker_buffered);
}

static void test_declared_length_reserves_nothing(void **state)
{
	struct fixture *f = *state;
	char clen[32];

	open_client(f, T0);
	/* within max_body, more than the connection may buffer: a promise, not a 429 */
	snprintf(clen, sizeof(clen), "%zu", g_lim.max_conn_buffered / 2);
	for (int i = 0; i < 4; i++)
		request(f, "POST", NULL, false, clen);
	pump(f, T0 + 1);
	assert_int_equal(0, f->worker_buffered);
	assert_int_equal(0, f->stats.requests[STATS_429]);
	for (int i = 0; i < f->n_resp; i++)
		assert_int_equal(0, f->resp[i].status); /* still open, none answered */
}

static void test_body_over_connection_budget(void **state)
{
	struct fixture *f = *state;
	size_t n = g_lim.max_conn_buffered + 4096;
	uint8_t *big = calloc(1, n);
	struct body b = { .p = big, .len = n };
	struct resp *r;
	int32_t id;

	assert_non_null(big);
	open_client(f, T0);
	id = request(f, "POST", &b, true, NULL);
	pump(f, T0 + 1);
	r = resp_of(f, id);
	assert_int_equal(429, r->status);
	assert_non_null(strstr(r->body, "retry"));
	assert_int_equal(1, f->stats.requests[STATS_429]);
	assert_int_equal(0, f->worker_buffered);
	free(big);
}

static void test_request_timeout(void **state)
{
	struct fixture *f = *state;
	struct resp *r;
	int32_t id;

	open_client(f, T0);
	id = request(f, "POST", NULL, false, NULL); /* headers, then nothing */
	pump(f, T0 + 1);
	tick(f, T0 + 1 + g_lim.request_ns);
	assert_int_equal(0, resp_of(f, id)->status);
	tick(f, T0 + 2 + g_lim.request_ns);
	r = resp_of(f, id);
	assert_int_equal(408, r->status);
	assert_non_null(strstr(r->body, "request not completed within 30 s"));
	assert_int_equal(1, f->stats.requests[STATS_408]);
}

static void test_idle_goaway(void **state)
{
	struct fixture *f = *state;

	open_client(f, T0);
	tick(f, T0 + g_lim.idle_ns);
	assert_false(f->goaway);
	tick(f, T0 + g_lim.idle_ns + 1);
	assert_true(f->goaway);
	assert_int_equal(NGHTTP2_NO_ERROR, f->goaway_code);
	assert_int_equal(1, f->stats.conns_idle_closed);
}

static void test_shutdown_finishes_what_started(void **state)
{
	struct fixture *f = *state;
	struct wire_encoder *e = wire_encoder__new(WIRE_ENC_ZSTD, 0);
	struct body b = { 0 };
	nghttp2_data_provider prd = { .source.ptr = &b, .read_callback = body_read };
	int32_t id;

	assert_non_null(e);
	open_client(f, T0);
	b.p = batch(e, 2, &b.len);
	/* the headers are in when the shutdown comes; the body after it */
	id = request(f, "POST", NULL, false, NULL);
	pump(f, T0 + 1);
	assert_int_not_equal(0, conn__shutdown(f->conn, T0 + 2));
	pump(f, T0 + 2);
	assert_true(f->goaway);
	assert_int_equal(id, f->goaway_last);
	assert_int_equal(NGHTTP2_NO_ERROR, f->goaway_code);
	assert_int_equal(0, resp_of(f, id)->status);
	assert_int_equal(0, nghttp2_submit_data(f->h2, NGHTTP2_FLAG_END_STREAM, id, &prd));
	pump(f, T0 + 3);
	assert_int_equal(204, resp_of(f, id)->status);
	assert_int_equal(1, f->stats.batches);
	assert_int_equal(2, f->stats.records);
	wire_encoder__free(e);
}

/*
 * A peer that shuts its flow-control window (SETTINGS_INITIAL_WINDOW_SIZE
 * 0) holds an answered stream whose reason line cannot go out: a request
 * deadline after the answer the connection is closed, counted as
 * write-stalled (issue 13: no deadline ever ended it, the stream kept it
 * from being idle).
 */
static void test_window_shut_answer_cut(void **state)
{
	struct fixture *f = *state;
	nghttp2_settings_entry iv = { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0 };
	struct resp *r;
	int32_t id;

	assert_int_equal(0, nghttp2_submit_settings(f->h2, NGHTTP2_FLAG_NONE, &iv, 1));
	pump(f, T0);
	id = request(f, "GET", NULL, true, NULL);
	pump(f, T0 + 1);
	r = resp_of(f, id);
	assert_int_equal(405, r->status);
	assert_int_equal(0, r->data_frames); /* the reason line waits for a window */
	assert_false(r->closed);
	tick(f, T0 + 1 + g_lim.request_ns);
	assert_false(f->server_closed);
	tick(f, T0 + 2 + g_lim.request_ns);
	assert_true(f->server_closed);
	assert_int_equal(1, f->stats.conns_write_stalled);
	assert_int_equal(0, f->stats.conns_idle_closed);
	assert_int_equal(1, f->stats.requests[STATS_405]);
}

/*
 * A peer that sends PINGs and never reads the acks: once the socket
 * toward it is full the connection stops reading, and the write-stall
 * deadline ends it, counted once, as that, even when the idle deadline is
 * the shorter (it was counted idle_closed as well: a GOAWAY queued behind
 * the output nobody reads).
 */
static void test_not_reading_counted_once(void **state)
{
	struct fixture *f = *state;
	struct conn_limits lim = g_lim;
	static uint8_t pings[17 * 256];
	size_t off = 0; /* into the endless PING stream: a short write cuts a frame */
	int stuck = 0;

	lim.idle_ns = 5 * S; /* shorter than request_ns (30 s) */
	f->env.lim = &lim;
	for (size_t i = 0; i < sizeof(pings); i += 17)
		pings[i + 2] = 8, pings[i + 3] = NGHTTP2_PING; /* length 8, type, no flags */
	open_client(f, T0);
	for (int round = 0; round < 100000 && stuck < 2; round++) {
		ssize_t n = write(f->cfd, pings + off % 17, sizeof(pings) - off % 17);

		if (n < 0) {
			assert_int_equal(EAGAIN, errno);
			stuck++;
		} else {
			off += (size_t)n;
			stuck = 0;
		}
		assert_int_not_equal(0, conn__io(f->conn, EPOLLIN | EPOLLOUT, T0 + 1));
	}
	assert_int_equal(2, stuck);
	/* idle by the clock, but our output waits: not idle */
	assert_int_not_equal(0, conn__tick(f->conn, T0 + 2 + lim.idle_ns));
	assert_int_equal(0, f->stats.conns_idle_closed);
	assert_int_not_equal(0, conn__tick(f->conn, T0 + 1 + lim.request_ns));
	assert_int_equal(0, conn__tick(f->conn, T0 + 2 + lim.request_ns));
	f->server_closed = true;
	assert_int_equal(1, f->stats.conns_write_stalled);
	assert_int_equal(0, f->stats.conns_idle_closed);
	assert_int_equal(0, f->stats.conns_protocol_errors);
}

/*
 * What an idle connection holds once the SETTINGS went both ways and a
 * tick passed: its nghttp2 session (25 KiB, nghttp2's 16 KiB frame buffer
 * in it), no output buffer (issue 13: each kept OUT_BATCH and more, 64
 * KiB, for good).  Measured with mallinfo2 (the main arena: this test has
 * one thread); ASan's allocator reports nothing there.
 */
static void test_idle_holds_no_output_buffer(void **state)
{
	static const char hello[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
	enum { N = 64 };
	struct fixture *f = *state;
	struct conn *conns[N];
	int peer[N];
	struct mallinfo2 before, after;
	size_t each;

	before = mallinfo2();
	for (int i = 0; i < N; i++) {
		int sv[2];

		assert_int_equal(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
		peer[i] = sv[1];
		conns[i] = conn__new(&f->env, sv[0], T0);
		assert_non_null(conns[i]);
		assert_int_equal((ssize_t)sizeof(hello) - 1,
				 write(peer[i], hello, sizeof(hello) - 1));
		/* our SETTINGS, theirs read, our ACK: all written; a tick later, nothing held */
		assert_int_equal(EPOLLIN, conn__io(conns[i], EPOLLIN | EPOLLOUT, T0));
		assert_int_equal(EPOLLIN, conn__tick(conns[i], T0 + 1));
	}
	after = mallinfo2();
	for (int i = 0; i < N; i++) {
		conn__free(conns[i]);
		close(peer[i]);
	}
	if (!before.uordblks)
		skip();
	each = (after.uordblks + after.hblkhd - before.uordblks - before.hblkhd) / N;
	print_message("an idle connection holds %zu bytes\n", each);
	assert_true(each < 32 * 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handshake_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_http2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_has_no_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_declared_length_over_max_body, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_declared_length_reserves_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_body_over_connection_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_goaway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_finishes_what_started, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_window_shut_answer_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_reading_counted_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_holds_no_output_buffer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
