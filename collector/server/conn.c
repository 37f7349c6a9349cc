// SPDX-License-Identifier: BSD-2-Clause
/* One client connection: TLS or cleartext transport, an nghttp2 server session, its limits. */
#define _GNU_SOURCE
#include "conn.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>

#include "ingest.h"
#include "log.h"
#include "stats.h"
#include "tls.h"

#define READ_CHUNK	    16384
#define READ_BUDGET	    (1u << 20) /* bytes read per call before other connections get a turn */
#define OUT_BATCH	    65536      /* frames gathered before one write */
#define OUT_MIN		    4096       /* the output buffer's first size */
#define REASON_MAX	    256
#define STREAM_WINDOW	    (1u << 20) /* SETTINGS_INITIAL_WINDOW_SIZE */
#define CONN_WINDOW	    (4u << 20) /* connection-level receive window */
#define CONN_DISCARD_FACTOR 4	       /* x max_body read and dropped after an early answer */

struct stream {
	struct stream *prev, *next;
	struct conn *conn;
	int32_t id;
	uint64_t started_ns;
	char method[8];
	char path[128];
	char content_encoding[32];
	char *authorization; /* malloc'd, NULL when absent */
	size_t authorization_len;
	size_t authorization_overlong; /* length of one too long to hold (not kept), 0: none */
	char *identity; /* podflow-identity: the sender's projected token; malloc'd, NULL: absent */
	size_t identity_len;
	uint64_t content_length;
	bool has_content_length;
	bool path_too_long, encoding_too_long;
	size_t header_bytes;
	unsigned char *body;
	size_t body_len, body_cap; /* body_cap bytes are charged to the budgets, as they arrive */
	bool request_done;	   /* END_STREAM received */
	int status;		   /* response submitted, 0 = not yet */
	uint64_t answered_ns;	   /* when it was */
	bool rst_after_response;   /* ask the client to stop sending once answered */
	bool rst_sent;
	size_t discarded; /* body bytes received after we answered */
	char reason[REASON_MAX];
	size_t reason_len, reason_off;
};

enum conn_state {
	CONN_TLS_HANDSHAKE,
	CONN_H2,
	CONN_LINGER, /* our side is done: read and discard until EOF or linger_ns */
};

struct conn {
	const struct conn_env *env;
	int fd;
	SSL *ssl;
	enum conn_state state;
	bool tls_read_wants_write;
	bool tls_write_wants_read;
	bool preface_done; /* the client's preface and first SETTINGS arrived */
	bool goaway_sent;
	bool fatal; /* stop processing input; flush what is queued, then close */
	bool counted_protocol_error;
	uint32_t handshake_wants; /* EPOLLIN or EPOLLOUT, while in CONN_TLS_HANDSHAKE */
	nghttp2_session *h2;
	unsigned char *out; /* freed at a tick when all of it was written */
	size_t out_len, out_off, out_cap;
	uint64_t now_ns;
	uint64_t created_ns;
	uint64_t last_active_ns; /* last stream opened or closed */
	uint64_t write_blocked_ns;
	uint64_t linger_until_ns;
	size_t buffered;
	struct stream *streams;
};

/* ---- budgets ------------------------------------------------------------ */

static bool reserve(struct conn *c, size_t n)
{
	const struct conn_limits *lim = c->env->lim;

	if (c->buffered + n > lim->max_conn_buffered ||
	    *c->env->worker_buffered + n > lim->max_worker_buffered)
		return false;
	c->buffered += n;
	*c->env->worker_buffered += n;
	return true;
}

static void body_release(struct conn *c, struct stream *s)
{
	c->buffered -= s->body_cap;
	*c->env->worker_buffered -= s->body_cap;
	free(s->body);
	s->body = NULL;
	s->body_len = s->body_cap = 0;
}

/* ---- streams ------------------------------------------------------------ */

static void stream_free(struct conn *c, struct stream *s)
{
	body_release(c, s);
	if (s->prev)
		s->prev->next = s->next;
	else
		c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (s->authorization)
		OPENSSL_cleanse(s->authorization, s->authorization_len);
	free(s->authorization);
	if (s->identity)
		OPENSSL_cleanse(s->identity, s->identity_len);
	free(s->identity);
	free(s);
}

static ssize_t reason_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
			   uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
	struct stream *s = source->ptr;
	size_t n = s->reason_len - s->reason_off;

	(void)session;
	(void)stream_id;
	(void)user_data;
	if (n > length)
		n = length;
	memcpy(buf, s->reason + s->reason_off, n);
	s->reason_off += n;
	if (s->reason_off == s->reason_len)
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

#define NV(name, value)                                                                 \
	{                                                                               \
		(uint8_t *)(name), (uint8_t *)(value), sizeof(name) - 1, strlen(value), \
		    NGHTTP2_NV_FLAG_NO_COPY_NAME                                        \
	}

/*
 * Answers a stream, once.  Every status is counted here and nowhere else.
 * A reason (4xx/5xx) goes out as one text/plain line.
 */
static void respond(struct conn *c, struct stream *s, int status, const char *reason)
{
	char code[8], clen[24];
	nghttp2_nv nv[6];
	nghttp2_data_provider prd = { .source.ptr = s, .read_callback = reason_read };
	/* a response to HEAD has no content (RFC 9110 section 9.3.2): no reason line */
	bool head = strcmp(s->method, "HEAD") == 0;
	size_t n = 0;
	int rv;

	if (s->status)
		return;
	s->status = status;
	s->answered_ns = c->now_ns;
	STATS_ADD(c->env->stats->requests[stats_status_index(status)], 1);
	/* the body will never be needed: give its bytes back now, not at stream close */
	body_release(c, s);
	snprintf(code, sizeof(code), "%d", status);
	nv[n++] = (nghttp2_nv)NV(":status", code);
	if (status != 204 && reason && !head) {
		size_t rl = strnlen(reason, sizeof(s->reason) - 2);

		memcpy(s->reason, reason, rl);
		/* one line whatever the decoder said */
		for (size_t i = 0; i < rl; i++)
			if ((unsigned char)s->reason[i] < 0x20 || s->reason[i] == 0x7f)
				s->reason[i] = ' ';
		s->reason[rl] = '\n';
		s->reason_len = rl + 1;
		snprintf(clen, sizeof(clen), "%zu", s->reason_len);
		nv[n++] = (nghttp2_nv)NV("content-type", "text/plain; charset=utf-8");
		nv[n++] = (nghttp2_nv)NV("content-length", clen);
	}
	if (status == 401)
		nv[n++] = (nghttp2_nv)NV("www-authenticate", "Bearer");
	else if (status == 405)
		nv[n++] = (nghttp2_nv)NV("allow", "POST");
	else if (status == 429 || status == 503)
		nv[n++] = (nghttp2_nv)NV("retry-after", "1");
	rv = nghttp2_submit_response(c->h2, s->id, nv, n, s->reason_len ? &prd : NULL);
	if (rv)
		pr_warn("stream %d: cannot submit the %d response: %s", s->id, status,
			nghttp2_strerror(rv));
}

/* The request is complete: decode, write, answer. */
static void complete(struct conn *c, struct stream *s)
{
	char reason[REASON_MAX];
	struct ingest_request rq = {
		.method = s->method,
		.path = s->path,
		.content_encoding = s->content_encoding[0] ? s->content_encoding : NULL,
		.authorization = s->authorization,
		.authorization_len = s->authorization_len,
		.identity = s->identity,
		.identity_len = s->identity_len,
		.body = s->body ? s->body : (const void *)"",
		.body_len = s->body_len,
	};
	int status;

	reason[0] = '\0';
	status = ingest__handle(c->env->ingest, &rq, reason, sizeof(reason));
	respond(c, s, status, reason);
}

/* What can be answered from the headers alone; 0 = go on reading the body. */
static int check_headers(struct conn *c, struct stream *s, char *reason, size_t len)
{
	const struct conn_limits *lim = c->env->lim;
	struct ingest_request rq = {
		.method = s->method,
		.path = s->path_too_long ? "" : s->path,
		.content_encoding = s->content_encoding[0] ? s->content_encoding : NULL,
		.authorization = s->authorization,
		.authorization_len = s->authorization_len,
		.authorization_overlong = s->authorization_overlong,
	};
	size_t free_conn, free_worker;
	int status;

	if (s->header_bytes > lim->max_header_list) {
		STATS_ADD(c->env->stats->refused[STATS_REFUSED_HEADER_LIST], 1);
		snprintf(reason, len, "header list over %u bytes (SETTINGS_MAX_HEADER_LIST_SIZE)",
			 lim->max_header_list);
		return 431;
	}
	if (s->encoding_too_long)
		rq.content_encoding = "unknown";
	status = ingest__check_headers(c->env->ingest, &rq, c->now_ns, reason, len);
	if (status)
		return status;
	if (s->has_content_length && s->content_length > lim->max_body) {
		STATS_ADD(c->env->stats->refused[STATS_REFUSED_BODY], 1);
		snprintf(reason, len, "body of %llu bytes is over --max-body %zu",
			 (unsigned long long)s->content_length, lim->max_body);
		return 413;
	}
	/*
	 * A stream whose body cannot fit beside the bytes already held is
	 * refused before it costs anything.  A Content-Length is only a
	 * promise: it reserves nothing (issue 16: streams that declare 16 MiB
	 * and send nothing would otherwise hold every budget and starve real
	 * senders); the budgets are charged as the body arrives.
	 */
	free_conn = lim->max_conn_buffered > c->buffered ? lim->max_conn_buffered - c->buffered : 0;
	free_worker = lim->max_worker_buffered > *c->env->worker_buffered
			  ? lim->max_worker_buffered - *c->env->worker_buffered
			  : 0;
	if (!free_conn || !free_worker ||
	    (s->has_content_length &&
	     (s->content_length > free_conn || s->content_length > free_worker))) {
		snprintf(reason, len, "collector busy: buffered request bytes at their cap; retry");
		return 429;
	}
	return 0;
}

/* RST_STREAM(NO_ERROR) for a stream we answered: RFC 9113 section 8.1's "stop sending". */
static void stop_stream(nghttp2_session *session, struct stream *s)
{
	if (s->rst_sent || s->request_done)
		return;
	s->rst_sent = true;
	nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
}

/* ---- nghttp2 callbacks ---------------------------------------------------- */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct conn *c = user_data;
	struct stream *s;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM for this one only */
	s->conn = c;
	s->id = frame->hd.stream_id;
	s->started_ns = c->now_ns;
	s->next = c->streams;
	if (c->streams)
		c->streams->prev = s;
	c->streams = s;
	c->last_active_ns = c->now_ns;
	nghttp2_session_set_stream_user_data(session, s->id, s);
	return 0;
}

static void copy_value(char *dst, size_t size, const uint8_t *v, size_t len, bool *too_long)
{
	if (len >= size) {
		*too_long = true;
		len = 0;
	}
	memcpy(dst, v, len);
	dst[len] = '\0';
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user_data)
{
	struct stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	bool ignored = false;

	(void)flags;
	(void)user_data;
	if (!s || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	/* RFC 9113 section 6.5.2: each field counts its name, value and 32 octets */
	s->header_bytes += namelen + valuelen + 32;
	if (s->header_bytes > s->conn->env->lim->max_header_list ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
#define IS(lit) (namelen == sizeof(lit) - 1 && memcmp(name, lit, namelen) == 0)
	if (IS(":method")) {
		copy_value(s->method, sizeof(s->method), value, valuelen, &ignored);
	} else if (IS(":path")) {
		copy_value(s->path, sizeof(s->path), value, valuelen, &s->path_too_long);
	} else if (IS("content-encoding")) {
		copy_value(s->content_encoding, sizeof(s->content_encoding), value, valuelen,
			   &s->encoding_too_long);
	} else if (IS("authorization") && !s->authorization && !s->authorization_overlong) {
		/* longer than "Bearer " and any token the file can hold: said so, not kept */
		if (valuelen > INGEST_AUTHORIZATION_MAX) {
			s->authorization_overlong = valuelen;
			return 0;
		}
		s->authorization = malloc(valuelen + 1);
		if (s->authorization) {
			memcpy(s->authorization, value, valuelen);
			s->authorization[valuelen] = '\0';
			s->authorization_len = valuelen;
		}
	} else if (IS(INGEST_IDENTITY_HEADER) && !s->identity && valuelen &&
		   valuelen <= INGEST_IDENTITY_MAX) {
		/* longer: no token the API server issues; the sender is then unverified */
		s->identity = malloc(valuelen + 1);
		if (s->identity) {
			memcpy(s->identity, value, valuelen);
			s->identity[valuelen] = '\0';
			s->identity_len = valuelen;
		}
	} else if (IS("content-length")) {
		/* nghttp2 has checked it is digits and that DATA will match it */
		uint64_t v = 0;

		for (size_t i = 0; i < valuelen && v <= UINT64_MAX / 10 - 10; i++)
			v = v * 10 + (uint64_t)(value[i] - '0');
		s->content_length = v;
		s->has_content_length = true;
	}
#undef IS
	return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct conn *c = user_data;
	struct stream *s;
	char reason[REASON_MAX];
	int status;

	switch (frame->hd.type) {
	case NGHTTP2_SETTINGS:
		c->preface_done = true;
		return 0;
	case NGHTTP2_HEADERS:
	case NGHTTP2_DATA:
		break;
	default:
		return 0;
	}
	s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!s)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
		reason[0] = '\0';
		status = check_headers(c, s, reason, sizeof(reason));
		if (status)
			respond(c, s, status, reason);
	}
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
		s->request_done = true;
		if (!s->status)
			complete(c, s);
	}
	return 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id,
			      const uint8_t *data, size_t len, void *user_data)
{
	struct conn *c = user_data;
	const struct conn_limits *lim = c->env->lim;
	struct stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
	char reason[REASON_MAX];

	(void)flags;
	STATS_ADD(c->env->stats->bytes_in, len);
	if (s && s->status) {
		/*
		 * Answered early (413, 401, 429, ...): the rest of the body is
		 * read and dropped, so that clients which treat RST_STREAM as a
		 * failure even after a complete response (libcurl before 8.0)
		 * still see our status.  Past CONN_DISCARD_FACTOR x max_body
		 * dropped bytes, or the request deadline, the client is asked
		 * to stop (RFC 9113 section 8.1).  Nothing is buffered.
		 */
		s->discarded += len;
		if (s->discarded / CONN_DISCARD_FACTOR > lim->max_body)
			stop_stream(session, s);
		return 0;
	}
	if (!s)
		return 0;
	if (len > lim->max_body - s->body_len) {
		STATS_ADD(c->env->stats->refused[STATS_REFUSED_BODY], 1);
		snprintf(reason, sizeof(reason), "body over --max-body %zu bytes", lim->max_body);
		respond(c, s, 413, reason);
		return 0;
	}
	if (s->body_len + len > s->body_cap) {
		/*
		 * Room as bytes arrive: first exactly what came, then doubling,
		 * never past the Content-Length (nghttp2 resets a stream whose
		 * DATA goes past it) or max_body.  What is charged is what is
		 * allocated, so at most twice the bytes received: a peer holds
		 * budget only for bytes it has sent.
		 */
		size_t need = s->body_len + len;
		size_t cap = s->body_cap > lim->max_body / 2 ? lim->max_body : s->body_cap * 2;
		unsigned char *nb;

		if (cap < need)
			cap = need;
		if (s->has_content_length && s->content_length >= need && cap > s->content_length)
			cap = (size_t)s->content_length;
		if (!reserve(c, cap - s->body_cap)) {
			respond(c, s, 429,
				"collector busy: buffered request bytes at their cap; retry");
			return 0;
		}
		nb = realloc(s->body, cap);
		if (!nb) {
			c->buffered -= cap - s->body_cap;
			*c->env->worker_buffered -= cap - s->body_cap;
			respond(c, s, 503, "collector out of memory; retry");
			return 0;
		}
		s->body = nb;
		s->body_cap = cap;
	}
	memcpy(s->body + s->body_len, data, len);
	s->body_len += len;
	return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct conn *c = user_data;
	struct stream *s;

	/* ours are all NO_ERROR: these are nghttp2's (refused over the stream limit, malformed) */
	if (frame->hd.type == NGHTTP2_RST_STREAM &&
	    frame->rst_stream.error_code != NGHTTP2_NO_ERROR)
		STATS_ADD(c->env->stats->streams_rst_sent, 1);
	if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR &&
	    !c->counted_protocol_error) {
		c->counted_protocol_error = true;
		STATS_ADD(c->env->stats->conns_protocol_errors, 1);
		return 0;
	}
	if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	/* a request that timed out (408) is cut at once: its client is the slow one */
	if (s && s->rst_after_response)
		stop_stream(session, s);
	return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
			   void *user_data)
{
	struct conn *c = user_data;
	struct stream *s = nghttp2_session_get_stream_user_data(session, stream_id);

	(void)error_code;
	if (!s)
		return 0;
	if (!s->status)
		STATS_ADD(c->env->stats->streams_reset, 1);
	nghttp2_session_set_stream_user_data(session, stream_id, NULL);
	stream_free(c, s);
	c->last_active_ns = c->now_ns;
	return 0;
}

/* ---- transport ------------------------------------------------------------- */

static ssize_t tr_read(struct conn *c, void *buf, size_t len)
{
	ssize_t n;
	int e;

	if (!c->ssl) {
		n = recv(c->fd, buf, len, 0);
		if (n >= 0)
			return n;
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
	c->tls_read_wants_write = false;
	ERR_clear_error();
	n = SSL_read(c->ssl, buf, (int)len);
	if (n > 0)
		return n;
	e = SSL_get_error(c->ssl, (int)n);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		c->tls_read_wants_write = true;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		return errno ? -errno : 0;
	default: {
		char msg[256];

		pr_debug("TLS read: %s", tls_last_error(msg, sizeof(msg)));
		return -EPROTO;
	}
	}
}

static ssize_t tr_write(struct conn *c, const void *buf, size_t len)
{
	ssize_t n;
	int e;

	if (!c->ssl) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
	c->tls_write_wants_read = false;
	ERR_clear_error();
	n = SSL_write(c->ssl, buf, (int)len);
	if (n > 0)
		return n;
	e = SSL_get_error(c->ssl, (int)n);
	if (e == SSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	if (e == SSL_ERROR_WANT_READ) {
		c->tls_write_wants_read = true;
		return -EAGAIN;
	}
	return e == SSL_ERROR_SYSCALL && errno ? -errno : -EPIPE;
}

/* Gathers nghttp2's output and writes it.  0 (done or would block) or -errno. */
static int flush(struct conn *c)
{
	for (;;) {
		ssize_t w;

		while (c->out_len < OUT_BATCH && !c->fatal) {
			const uint8_t *p;
			ssize_t n = nghttp2_session_mem_send(c->h2, &p);

			if (n < 0) {
				pr_debug("nghttp2 send: %s", nghttp2_strerror((int)n));
				return -EPROTO;
			}
			if (n == 0)
				break;
			if (c->out_len + (size_t)n > c->out_cap) {
				/*
				 * Doubling from OUT_MIN to OUT_BATCH, then what one
				 * frame needs: a connection that only ever sends a few
				 * frames (SETTINGS, an answer) takes a page, not
				 * OUT_BATCH, and none holds more than OUT_BATCH and a
				 * frame (issue 13: every connection kept OUT_BATCH and
				 * more for good, 64 MiB per 1000 idle ones, resident as
				 * freed ones were reused).
				 */
				size_t need = c->out_len + (size_t)n;
				size_t cap = c->out_cap ? c->out_cap * 2 : OUT_MIN;
				unsigned char *nb;

				if (cap > OUT_BATCH)
					cap = OUT_BATCH;
				if (cap < need)
					cap = need;
				nb = realloc(c->out, cap);
				if (!nb)
					return -ENOMEM;
				c->out = nb;
				c->out_cap = cap;
			}
			memcpy(c->out + c->out_len, p, (size_t)n);
			c->out_len += (size_t)n;
		}
		if (c->out_off == c->out_len) {
			c->out_off = c->out_len = 0;
			c->write_blocked_ns = 0;
			return 0;
		}
		w = tr_write(c, c->out + c->out_off, c->out_len - c->out_off);
		if (w == -EAGAIN) {
			if (!c->write_blocked_ns)
				c->write_blocked_ns = c->now_ns;
			return 0;
		}
		if (w < 0)
			return (int)w;
		c->out_off += (size_t)w;
		if (c->out_off == c->out_len) {
			c->out_off = c->out_len = 0;
			c->write_blocked_ns = 0;
		}
	}
}

static bool out_pending(const struct conn *c)
{
	return c->out_off < c->out_len;
}

/* Our side is finished: close_notify / FIN, then read and discard until the peer closes. */
static uint32_t start_linger(struct conn *c)
{
	if (c->ssl && c->state == CONN_H2) {
		ERR_clear_error();
		SSL_shutdown(c->ssl); /* best effort: sends close_notify if it can */
	}
	shutdown(c->fd, SHUT_WR);
	c->state = CONN_LINGER;
	c->linger_until_ns = c->now_ns + c->env->lim->linger_ns;
	return EPOLLIN;
}

static uint32_t want(struct conn *c)
{
	uint32_t ev = 0;

	if (c->state == CONN_LINGER)
		return EPOLLIN;
	if (c->fatal && !out_pending(c))
		return start_linger(c);
	if (!out_pending(c) && !nghttp2_session_want_read(c->h2) &&
	    !nghttp2_session_want_write(c->h2))
		return start_linger(c);
	if (out_pending(c)) {
		ev |= c->tls_write_wants_read ? EPOLLIN : EPOLLOUT;
	} else if (!c->fatal) {
		/* stop reading while our answers cannot be sent: no unbounded output queue */
		ev |= EPOLLIN;
	}
	if (c->tls_read_wants_write)
		ev |= EPOLLOUT;
	return ev;
}

static int handshake(struct conn *c)
{
	char msg[256];
	int r, e;

	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		if (!tls_alpn_is_h2(c->ssl)) {
			pr_debug("TLS client did not negotiate ALPN h2: closing");
			return -EPROTO;
		}
		c->state = CONN_H2;
		return 1;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return EPOLLIN;
	if (e == SSL_ERROR_WANT_WRITE)
		return EPOLLOUT;
	pr_debug("TLS handshake failed: %s", tls_last_error(msg, sizeof(msg)));
	return -EPROTO;
}

/* Reads until EAGAIN or the budget; 0, 1 (budget spent, more to read), or -errno (close). */
static int do_read(struct conn *c)
{
	unsigned char buf[READ_CHUNK];
	size_t budget = READ_BUDGET;

	while (!c->fatal && !out_pending(c)) {
		ssize_t n = tr_read(c, buf, sizeof(buf));
		ssize_t rv;
		int err;

		if (n == -EAGAIN)
			return 0;
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return (int)n;
		rv = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
		if (rv < 0) {
			/* garbage instead of a preface, a flood, ...: this connection only */
			pr_debug("closing a connection: %s", nghttp2_strerror((int)rv));
			if (!c->counted_protocol_error) {
				c->counted_protocol_error = true;
				STATS_ADD(c->env->stats->conns_protocol_errors, 1);
			}
			c->fatal = true;
			return 0;
		}
		err = flush(c);
		if (err)
			return err;
		if ((size_t)n >= budget)
			return 1;
		budget -= (size_t)n;
	}
	return 0;
}

static uint32_t linger_io(struct conn *c)
{
	unsigned char buf[READ_CHUNK];

	for (int i = 0; i < 64; i++) {
		/* raw bytes: after our close_notify nothing the peer sends matters */
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return EPOLLIN;
		if (n <= 0)
			return 0;
	}
	return EPOLLIN | CONN_MORE;
}

uint32_t conn__io(struct conn *c, uint32_t events, uint64_t now_ns)
{
	int r;

	(void)events;
	c->now_ns = now_ns;
	if (c->state == CONN_LINGER)
		return linger_io(c);
	if (c->state == CONN_TLS_HANDSHAKE) {
		r = handshake(c);
		if (r < 0) {
			STATS_ADD(c->env->stats->conns_tls_failures, 1);
			return 0;
		}
		if (r != 1) {
			c->handshake_wants = (uint32_t)r;
			return (uint32_t)r;
		}
	}
	if (flush(c))
		return 0;
	r = do_read(c);
	if (r < 0)
		return 0;
	if (flush(c))
		return 0;
	return want(c) | (r == 1 ? CONN_MORE : 0);
}

uint32_t conn__tick(struct conn *c, uint64_t now_ns)
{
	const struct conn_limits *lim = c->env->lim;
	char reason[REASON_MAX];

	c->now_ns = now_ns;
	/*
	 * All of the output written: the buffer goes back, so a connection
	 * that has nothing to send holds none (issue 13); one that keeps
	 * sending allocates it once a tick, not once a write.
	 */
	if (!out_pending(c) && c->out) {
		free(c->out);
		c->out = NULL;
		c->out_off = c->out_len = c->out_cap = 0;
	}
	if (c->state == CONN_LINGER)
		return now_ns >= c->linger_until_ns ? 0 : EPOLLIN;
	if (!c->preface_done) {
		if (now_ns - c->created_ns < lim->handshake_ns)
			return c->state == CONN_TLS_HANDSHAKE ? c->handshake_wants : want(c);
		STATS_ADD(c->env->stats->conns_handshake_timeouts, 1);
		return 0;
	}
	if (c->write_blocked_ns && now_ns - c->write_blocked_ns > lim->request_ns) {
		/* the peer stopped reading: it cannot hold our memory by doing so */
		STATS_ADD(c->env->stats->conns_write_stalled, 1);
		return 0;
	}
	for (struct stream *s = c->streams; s; s = s->next) {
		/*
		 * Answered, and the answer not all sent a request deadline
		 * later: the peer keeps its flow-control window shut
		 * (SETTINGS_INITIAL_WINDOW_SIZE 0, no WINDOW_UPDATE), which
		 * holds the stream, its answer and the connection as surely as
		 * not reading does, and no other deadline ends (issue 13).
		 */
		if (s->request_done && s->status && now_ns - s->answered_ns > lim->request_ns) {
			STATS_ADD(c->env->stats->conns_write_stalled, 1);
			return 0;
		}
		if (now_ns - s->started_ns <= lim->request_ns || s->request_done)
			continue;
		if (s->status) {
			/* answered early, and the client is still sending after the deadline */
			stop_stream(c->h2, s);
			continue;
		}
		snprintf(reason, sizeof(reason), "request not completed within %llu s",
			 (unsigned long long)(lim->request_ns / 1000000000ull));
		s->rst_after_response = true;
		respond(c, s, 408, reason);
	}
	/*
	 * Not idle while our output waits for a peer that does not read: the
	 * write-stall deadline above ends that one, counted once, as such.
	 */
	if (!c->streams && !c->goaway_sent && !out_pending(c) &&
	    now_ns - c->last_active_ns > lim->idle_ns) {
		STATS_ADD(c->env->stats->conns_idle_closed, 1);
		nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
				      nghttp2_session_get_last_proc_stream_id(c->h2),
				      NGHTTP2_NO_ERROR, NULL, 0);
		c->goaway_sent = true;
	}
	if (flush(c))
		return 0;
	return want(c);
}

uint32_t conn__shutdown(struct conn *c, uint64_t now_ns)
{
	c->now_ns = now_ns;
	if (c->state == CONN_LINGER)
		return EPOLLIN;
	if (c->state == CONN_TLS_HANDSHAKE || !c->preface_done)
		return 0; /* nothing in flight */
	if (!c->goaway_sent) {
		nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
				      nghttp2_session_get_last_proc_stream_id(c->h2),
				      NGHTTP2_NO_ERROR, NULL, 0);
		c->goaway_sent = true;
	}
	if (flush(c))
		return 0;
	return want(c);
}

int conn__fd(const struct conn *c)
{
	return c->fd;
}

static int session_new(struct conn *c)
{
	const struct conn_limits *lim = c->env->lim;
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, lim->max_streams },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, lim->max_header_list },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
	};
	int rv;

	rv = nghttp2_session_callbacks_new(&cbs);
	if (rv)
		return -ENOMEM;
	rv = nghttp2_option_new(&opt);
	if (rv) {
		nghttp2_session_callbacks_del(cbs);
		return -ENOMEM;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	/*
	 * Streams over SETTINGS_MAX_CONCURRENT_STREAMS are refused even before
	 * the client has acknowledged our SETTINGS (RFC 9113 section 5.1.2).
	 */
	nghttp2_option_set_peer_max_concurrent_streams(opt, lim->max_streams);
	rv = nghttp2_session_server_new2(&c->h2, cbs, c, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (rv)
		return -ENOMEM;
	rv = nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
	if (!rv)
		rv =
		    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
	return rv ? -ENOMEM : 0;
}

struct conn *conn__new(const struct conn_env *env, int fd, uint64_t now_ns)
{
	struct conn *c = calloc(1, sizeof(*c));
	int err;

	if (!c) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	c->env = env;
	c->fd = fd;
	c->now_ns = c->created_ns = c->last_active_ns = now_ns;
	c->state = env->ssl_ctx ? CONN_TLS_HANDSHAKE : CONN_H2;
	c->handshake_wants = EPOLLIN;
	err = session_new(c);
	if (!err && env->ssl_ctx) {
		c->ssl = SSL_new(env->ssl_ctx);
		if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1)
			err = -ENOMEM;
		else
			SSL_set_accept_state(c->ssl);
	}
	if (err) {
		conn__free(c);
		errno = -err;
		return NULL;
	}
	return c;
}

void conn__free(struct conn *c)
{
	if (!c)
		return;
	while (c->streams) {
		/* nghttp2_session_del must find no stream of ours to call back about */
		nghttp2_session_set_stream_user_data(c->h2, c->streams->id, NULL);
		if (!c->streams->status)
			STATS_ADD(c->env->stats->streams_reset, 1);
		stream_free(c, c->streams);
	}
	nghttp2_session_del(c->h2);
	SSL_free(c->ssl);
	close(c->fd);
	free(c->out);
	free(c);
}
