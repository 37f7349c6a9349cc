// SPDX-License-Identifier: BSD-2-Clause
/* The admin HTTP endpoint on libmicrohttpd, run from the owner's epoll loop; TLS with GnuTLS. */
#define _GNU_SOURCE
#include "admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "cli.h"
#include "clock.h"
#include "ip.h"
#include "jsonw.h"
#include "listen_addr.h"
#include "log.h"
#include "metrics.h"
#include "tls_keypair.h"

/*
 * Accepting: at most ADMIN_ACCEPT_BATCH connections between two runs of
 * libmicrohttpd, so that a request already in its socket (a probe's) is read
 * and answered before later newcomers could evict it; at most
 * ADMIN_ACCEPTS_PER_RUN per admin__run(), then the owner's loop has its turn
 * (the listening socket stays readable, so it comes straight back).
 */
#define ADMIN_ACCEPT_BATCH    32
#define ADMIN_ACCEPTS_PER_RUN 512
/* accept() out of descriptors or memory: wait this long rather than spin on a readable socket */
#define ADMIN_ACCEPT_PAUSE_MS 100
/*
 * libmicrohttpd's own limit, never the one that bites: an evicted
 * connection stays its until its next run closes it.
 */
#define ADMIN_MHD_CONNECTIONS (ADMIN_MAX_CONNECTIONS + ADMIN_ACCEPTS_PER_RUN)
/*
 * POST bodies being read hold at most this many times post_max_body
 * between them (a body that would pass it is answered 503): with the
 * caps on connections, what the route can be made to buffer is bounded.
 */
#define ADMIN_POST_BODIES 8
/* A refused body is read and dropped up to this many times post_max_body, then answered at once. */
#define ADMIN_POST_DRAIN 4

/* TLS 1.2 and 1.3 only (what the API server, Go's crypto/tls, offers first) */
#define ADMIN_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CT_TEXT	   "text/plain; charset=utf-8"
#define CT_JSON	   "application/json"

/*
 * One connection handed to libmicrohttpd, which owns (and closes) its fd;
 * ours from its NOTIFY_STARTED to its NOTIFY_CLOSED.
 */
struct admin_conn {
	struct admin_conn *prev, *next; /* in accept order */
	struct admin *admin;
	int fd;
	uint8_t peer[16];	  /* lib/ip.h: IPv4 as v4-mapped; the port left out */
	uint64_t since_ms;	  /* accepted, its previous answer sent, or its answer queued */
	bool answering;		  /* a whole request's answer is queued and not yet sent */
	bool evicted;		  /* shut down by us; libmicrohttpd closes it on its next run */
	gnutls_session_t session; /* with TLS: its session (MHD's), to find it from the callback */
	struct tls_keypair_gen *gen; /* with TLS: the pair its handshake presented, held */
};

/* A GET's req_cls after its first call: the request is known, its answer comes next. */
static int get_seen;

/* A POST body being read (the request's req_cls). */
struct upload {
	char *buf; /* len bytes and a NUL */
	size_t len;
	size_t cap;
	uint64_t started_ns;
	unsigned int refuse; /* 0, or the status its end is answered with (413, 503, 500) */
	size_t dropped;	     /* bytes dropped since it was refused */
	bool answered;	     /* answered before its end: the rest is MHD's to drop */
};

struct admin {
	struct MHD_Daemon *daemon;
	struct admin_callbacks cb;
	struct metrics_writer *mw; /* reused by every scrape: one thread serves them all */
	struct jsonw *jw;
	int epoll_fd;  /* ours: the listening socket and libmicrohttpd's epoll fd */
	int listen_fd; /* ours, non-blocking: libmicrohttpd never accepts */
	int mhd_fd;    /* libmicrohttpd's epoll fd */
	unsigned short port;
	struct admin_conn *head, *tail;
	struct admin_conn *adding; /* handed to libmicrohttpd, not yet NOTIFY_STARTED */
	uint32_t open;		   /* connections not evicted */
	size_t upload_bytes;	   /* the POST bodies' buffers, together */
	uint64_t accept_paused_ms; /* 0, or when to listen again after EMFILE and the like */
	struct admin_stats stats;
	struct tls_keypair *tls; /* NULL: cleartext */
	bool warned_metrics;	 /* the collect callback's error was logged once */
	bool warned_session;	 /* a handshake whose connection was not found was logged once */
	bool warned_accept;	 /* an accept() failure was logged; again once it has recovered */
	/* while starting: MHD's last message and the errno it was written with */
	bool starting;
	int start_errno;
	char start_msg[256];
};

/*
 * MHD's messages.  While starting they are kept for `why` (the caller
 * reports start failures); afterwards they are about single clients
 * (resets, timeouts, malformed requests), so debug only.
 */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct admin *a = cls;
	int saved = errno; /* MHD logs right after the failing call */
	size_t n;

	if (a->starting) {
		a->start_errno = saved;
		vsnprintf(a->start_msg, sizeof(a->start_msg), fmt, ap);
		n = strcspn(a->start_msg, "\r\n");
		a->start_msg[n] = '\0';
	} else if (log_level_current >= LOG_LEVEL_DEBUG) {
		char line[256];

		vsnprintf(line, sizeof(line), fmt, ap);
		pr_debug("admin: %s", line);
	}
	errno = saved;
}

static struct admin_conn *conn_of(struct MHD_Connection *conn);

/* Counts an answer queued on conn by its status (read by another thread: atomic). */
static void count_answer(struct MHD_Connection *conn, unsigned int status)
{
	static const unsigned int codes[ADMIN_CODE__COUNT - 1] = { 200, 400, 401, 404,
								   405, 413, 500, 503 };
	struct admin_conn *c = conn_of(conn);
	int i = 0;

	if (!c || !c->admin)
		return;
	while (i < ADMIN_CODE_OTHER && codes[i] != status)
		i++;
	__atomic_fetch_add(&c->admin->stats.answers[i], 1, __ATOMIC_RELAXED);
}

static const char *admin_code_name(enum admin_code code)
{
	static const char *const names[ADMIN_CODE__COUNT] = { "200", "400", "401", "404",  "405",
							      "413", "500", "503", "other" };

	return names[code];
}

/* How an answer differs from the GET routes' default. */
struct reply_opts {
	const char *allow; /* a 405's Allow: NULL for "GET, HEAD" */
	bool close;	   /* Connection: close (the POST route's answers) */
	bool owned;	   /* `body` is malloc'd and becomes the response's */
};

static enum MHD_Result reply_with(struct MHD_Connection *conn, unsigned int status,
				  const char *type, const char *body, size_t len,
				  const struct reply_opts *o)
{
	struct MHD_Response *resp;
	enum MHD_Result ret = MHD_NO;

	/* a copy unless owned: the writers' buffers are reused by the next request */
	if (o->owned)
		resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_FREE);
	else
		resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp) {
		if (o->owned)
			free((void *)body);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES)
		goto cleanup;
	if (o->close &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)
		goto cleanup;
	/* RFC 9110 section 15.5.6: a 405 lists the methods that are allowed */
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
				    o->allow ? o->allow : "GET, HEAD") != MHD_YES)
		goto cleanup;
	/* RFC 9110 section 11.6.1: a 401 names the scheme it wants */
	if (status == MHD_HTTP_UNAUTHORIZED &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer") != MHD_YES)
		goto cleanup;
	ret = MHD_queue_response(conn, status, resp);
	if (ret == MHD_YES)
		count_answer(conn, status);
cleanup:
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *type,
			     const char *body, size_t len)
{
	return reply_with(conn, status, type, body, len, &(struct reply_opts){ 0 });
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int status,
				  const char *text)
{
	return reply(conn, status, CT_TEXT, text, strlen(text));
}

static enum MHD_Result serve_metrics(struct admin *a, struct MHD_Connection *conn)
{
	const char *text;
	char msg[128];
	size_t len;
	int err;

	metrics_writer__reset(a->mw);
	if (a->cb.metrics)
		a->cb.metrics(a->cb.ctx, a->mw);
	err = metrics_writer__error(a->mw);
	if (err) {
		/* never a partial exposition: Prometheus would keep what parsed */
		if (!a->warned_metrics)
			pr_warn("admin: /metrics: the exposition could not be written: %s",
				strerror(-err));
		a->warned_metrics = true;
		snprintf(msg, sizeof(msg), "metrics: the exposition could not be written: %s\n",
			 strerror(-err));
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
	}
	text = metrics_writer__text(a->mw, &len);
	return reply(conn, MHD_HTTP_OK, CT_METRICS, text, len);
}

static enum MHD_Result serve_ready(struct admin *a, struct MHD_Connection *conn)
{
	char why[256] = "", body[sizeof(why) + 1];

	if (!a->cb.ready || a->cb.ready(a->cb.ctx, why, sizeof(why)))
		return reply_text(conn, MHD_HTTP_OK, "ready\n");
	why[sizeof(why) - 1] = '\0';
	why[strcspn(why, "\r\n")] = '\0'; /* one line, whatever the callback wrote */
	snprintf(body, sizeof(body), "%s\n", why[0] ? why : "not ready");
	return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static enum MHD_Result serve_config(struct admin *a, struct MHD_Connection *conn)
{
	const char *data;
	size_t len;

	jsonw__reset(a->jw);
	a->cb.config(a->cb.ctx, a->jw);
	jsonw__raw_char(a->jw, '\n');
	if (jsonw__error(a->jw))
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "config: out of memory writing the JSON\n");
	data = jsonw__data(a->jw, &len);
	return reply(conn, MHD_HTTP_OK, CT_JSON, data, len);
}

/* One of the owner's assets, with the headers lib/admin.h gives for them (ADMIN_ASSET_CSP). */
static enum MHD_Result serve_asset(struct MHD_Connection *conn, const struct admin_asset *as)
{
	static const char *const headers[][2] = {
		{ MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache" },
		{ MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff" },
		{ MHD_HTTP_HEADER_CONTENT_SECURITY_POLICY, ADMIN_ASSET_CSP },
		{ MHD_HTTP_HEADER_X_FRAME_OPTIONS, "DENY" },
	};
	struct MHD_Response *resp;
	enum MHD_Result ret = MHD_NO;

	/* the owner's bytes live as long as the listener: no copy */
	resp = MHD_create_response_from_buffer(as->len, (void *)as->data, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, as->content_type) !=
	    MHD_YES)
		goto cleanup;
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
		if (MHD_add_response_header(resp, headers[i][0], headers[i][1]) != MHD_YES)
			goto cleanup;
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	if (ret == MHD_YES)
		count_answer(conn, MHD_HTTP_OK);
cleanup:
	MHD_destroy_response(resp);
	return ret;
}

static const struct admin_asset *find_asset(const struct admin *a, const char *url)
{
	for (size_t i = 0; i < a->cb.n_assets; i++)
		if (strcmp(url, a->cb.assets[i].path) == 0)
			return &a->cb.assets[i];
	return NULL;
}

struct admin_args {
	struct MHD_Connection *conn;
};

const char *admin_arg(const struct admin_args *args, const char *name)
{
	return MHD_lookup_connection_value(args->conn, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result serve_json(struct admin *a, struct MHD_Connection *conn, const char *url)
{
	struct admin_args args = { .conn = conn };
	const char *data;
	size_t len;
	int status;

	jsonw__reset(a->jw);
	status = a->cb.json(a->cb.ctx, url, &args, a->jw);
	if (status == MHD_HTTP_NOT_FOUND)
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	jsonw__raw_char(a->jw, '\n');
	if (jsonw__error(a->jw))
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "out of memory writing the JSON\n");
	data = jsonw__data(a->jw, &len);
	return reply(conn, (unsigned int)status, CT_JSON, data, len);
}

/* Our record of a libmicrohttpd connection (NULL for none: cannot happen, but harmless). */
static struct admin_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* The request is whole and its answer is about to be queued: no deadline while it is sent. */
static void answering(struct MHD_Connection *conn)
{
	struct admin_conn *c = conn_of(conn);

	if (c) {
		c->answering = true;
		c->since_ms = clock_mono_ms();
	}
}

static enum MHD_Result reply_post(struct MHD_Connection *conn, unsigned int status,
				  const char *text)
{
	return reply_with(conn, status, CT_TEXT, text, strlen(text),
			  &(struct reply_opts){ .allow = "POST", .close = true });
}

static bool is_post_path(const struct admin *a, const char *url)
{
	return a->cb.post && a->cb.post_path && strcmp(url, a->cb.post_path) == 0;
}

static bool authorized(const struct admin *a, struct MHD_Connection *conn)
{
	return !a->cb.authorize || a->cb.authorize(a->cb.ctx, MHD_lookup_connection_value(
								  conn, MHD_HEADER_KIND,
								  MHD_HTTP_HEADER_AUTHORIZATION));
}

/* A Content-Length over `max`, into *n (a malformed one is MHD's to refuse, with 400). */
static bool content_length_over(const char *v, size_t max, unsigned long long *n)
{
	char *end;

	errno = 0;
	*n = strtoull(v, &end, 10);
	if (end == v || errno)
		*n = 0;
	return *n > max;
}

/*
 * Appends n bytes of body, keeping a NUL after them; 0, -ENOBUFS (the
 * bodies being read would pass their budget) or -ENOMEM.
 */
static int upload_add(struct admin *a, struct upload *u, const char *data, size_t n)
{
	if (u->len + n + 1 > u->cap) {
		size_t cap = u->cap ? u->cap : 16384;
		char *nb;

		while (cap < u->len + n + 1)
			cap *= 2;
		if (a->upload_bytes - u->cap + cap > a->cb.post_max_body * ADMIN_POST_BODIES)
			return -ENOBUFS;
		nb = realloc(u->buf, cap);
		if (!nb)
			return -ENOMEM;
		a->upload_bytes += cap - u->cap;
		u->buf = nb;
		u->cap = cap;
	}
	memcpy(u->buf + u->len, data, n);
	u->len += n;
	u->buf[u->len] = '\0';
	return 0;
}

/* Refuses the rest of a body: its buffer goes, what comes is dropped, `status` answers it. */
static void refuse_body(struct admin *a, struct upload *u, unsigned int status)
{
	if (status != MHD_HTTP_INTERNAL_SERVER_ERROR) /* out of memory is no fault of the body */
		a->stats.post_too_large++;
	a->upload_bytes -= u->cap;
	free(u->buf);
	u->buf = NULL;
	u->len = u->cap = 0;
	u->refuse = status;
}

static enum MHD_Result reply_refused(struct MHD_Connection *conn, unsigned int status, size_t max)
{
	char msg[96];

	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		return reply_post(conn, status, "busy: too many request bodies being read\n");
	snprintf(msg, sizeof(msg), "request body over %zu bytes\n", max);
	return reply_post(conn, status, msg);
}

/*
 * The POST route.  First call (the head is whole): authorization, then a
 * body the Content-Length puts over the limit.  A client that waits for
 * "100 Continue" (Expect), or one announcing more than ADMIN_POST_DRAIN
 * times the limit, is answered 413 at once, none of its body read (MHD
 * then closes the connection).  Then the body, a chunk per call, up to
 * the limit.  A body refused once it is being sent (too large, or over
 * the budget of the bodies being read) is read to its end and dropped,
 * and answered then: an answer queued while the client is still sending
 * is followed by MHD's close with unread data, a reset that can destroy
 * the answer before the client reads it.  Past ADMIN_POST_DRAIN times the
 * limit of dropped bytes the answer goes at once.  Last call: the owner's
 * answer, or the refusal.
 */
static enum MHD_Result handle_post(struct admin *a, struct MHD_Connection *conn, const char *url,
				   const char *upload_data, size_t *upload_data_size,
				   void **req_cls)
{
	struct upload *u = *req_cls;
	struct admin_reply r = { 0 };
	struct admin_post req;
	const char *cl, *expect;
	unsigned long long n_cl = 0;

	if (!u) {
		if (!authorized(a, conn)) {
			answering(conn);
			return reply_with(
			    conn, MHD_HTTP_UNAUTHORIZED, CT_TEXT,
			    "unauthorized: Authorization: Bearer <token> required\n",
			    strlen("unauthorized: Authorization: Bearer <token> required\n"),
			    &(struct reply_opts){ .close = true });
		}
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
		if (cl && content_length_over(cl, a->cb.post_max_body, &n_cl) &&
		    (expect || n_cl > (unsigned long long)a->cb.post_max_body * ADMIN_POST_DRAIN)) {
			answering(conn);
			a->stats.post_too_large++;
			return reply_refused(conn, MHD_HTTP_CONTENT_TOO_LARGE, a->cb.post_max_body);
		}
		u = calloc(1, sizeof(*u));
		if (!u) {
			answering(conn);
			return reply_post(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
		}
		u->started_ns = clock_mono_ns();
		*req_cls = u;
		if (n_cl > a->cb.post_max_body)
			refuse_body(a, u, MHD_HTTP_CONTENT_TOO_LARGE);
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (u->answered)
			return MHD_YES;
		if (!u->refuse && n > a->cb.post_max_body - u->len)
			refuse_body(a, u, MHD_HTTP_CONTENT_TOO_LARGE);
		if (!u->refuse) {
			switch (upload_add(a, u, upload_data, n)) {
			case 0:
				return MHD_YES;
			case -ENOBUFS:
				refuse_body(a, u, MHD_HTTP_SERVICE_UNAVAILABLE);
				break;
			default:
				refuse_body(a, u, MHD_HTTP_INTERNAL_SERVER_ERROR);
				break;
			}
		}
		u->dropped += n;
		if (u->dropped <= a->cb.post_max_body * ADMIN_POST_DRAIN)
			return MHD_YES;
		u->answered = true;
		answering(conn);
		return reply_refused(conn, u->refuse, a->cb.post_max_body);
	}
	if (u->answered)
		return MHD_YES;
	answering(conn);
	if (u->refuse == MHD_HTTP_INTERNAL_SERVER_ERROR)
		return reply_post(conn, u->refuse, "out of memory\n");
	if (u->refuse)
		return reply_refused(conn, u->refuse, a->cb.post_max_body);
	req = (struct admin_post){ .path = url,
				   .body = u->buf ? u->buf : "",
				   .len = u->len,
				   .started_ns = u->started_ns };
	a->cb.post(a->cb.ctx, &req, &r);
	if (!r.status)
		r.status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	return reply_with(conn, r.status, r.content_type ? r.content_type : CT_TEXT,
			  r.body ? r.body : "", r.body ? r.len : 0,
			  &(struct reply_opts){ .close = true, .owned = r.body != NULL });
}

/*
 * GET and HEAD are answered on the second call, once MHD has the whole
 * request: an answer queued on the first call, before MHD knows there is
 * no body, makes it close the connection, and scrapers keep theirs open.
 * Other methods are answered at once, and MHD closes the connection rather
 * than read a body nobody wants; but for POST on the POST route
 * (handle_post()).  HEAD is GET without the body, which MHD leaves out
 * itself (keeping Content-Length).  Authorization comes before the path:
 * without it, a listener does not say which paths it serves.
 */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_cls)
{
	const struct admin_asset *asset;
	struct admin *a = cls;

	(void)version;
	if (strcmp(method, MHD_HTTP_METHOD_POST) == 0 && is_post_path(a, url))
		return handle_post(a, conn, url, upload_data, upload_data_size, req_cls);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		answering(conn);
		if (is_post_path(a, url))
			return reply_post(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					  "method not allowed\n");
		/* a listener with a POST route: a POST elsewhere is to a path it does not have */
		if (a->cb.post && strcmp(method, MHD_HTTP_METHOD_POST) == 0)
			return reply_post(conn, MHD_HTTP_NOT_FOUND, "not found\n");
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	}
	if (!*req_cls) {
		*req_cls = &get_seen;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a GET with a body: ignored */
		return MHD_YES;
	}
	answering(conn);
	if (!authorized(a, conn))
		return reply_text(conn, MHD_HTTP_UNAUTHORIZED,
				  "unauthorized: Authorization: Bearer <token> required\n");
	if (is_post_path(a, url))
		return reply_post(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (a->cb.metrics && strcmp(url, "/metrics") == 0)
		return serve_metrics(a, conn);
	if (!a->cb.no_probes && strcmp(url, "/healthz") == 0)
		return reply_text(conn, MHD_HTTP_OK, "ok\n");
	if (!a->cb.no_probes && strcmp(url, "/readyz") == 0)
		return serve_ready(a, conn);
	if (a->cb.config && strcmp(url, "/config") == 0)
		return serve_config(a, conn);
	asset = find_asset(a, url);
	if (asset)
		return serve_asset(conn, asset);
	if (a->cb.json)
		return serve_json(a, conn, url);
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/*
 * The TLS handshake's certificate (gnutls_certificate_retrieve_function2:
 * the server side, so no CA names nor algorithms to choose by).  MHD gives
 * the callback no closure; it sets the session's pointer to its connection
 * (0.9.75, daemon.c new_connection_prepare_(): gnutls_session_set_ptr), whose
 * socket context is our record, checked against the session it was
 * started with.  The pair in force is held by the connection until it
 * closes: GnuTLS keeps using what it was given for the session's life.
 */
static int cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
			 const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
			 gnutls_pcert_st **pcert, unsigned int *pcert_length,
			 gnutls_privkey_t *pkey)
{
	struct MHD_Connection *mc = gnutls_session_get_ptr(session);
	struct admin_conn *c = mc ? conn_of(mc) : NULL;

	(void)req_ca_dn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	if (!c || c->session != session || !c->admin->tls) {
		/* a libmicrohttpd that no longer points the session at its connection */
		if (c && !c->admin->warned_session)
			pr_warn("admin: TLS handshake on a connection not ours: refused");
		if (c)
			c->admin->warned_session = true;
		return -1;
	}
	tls_keypair__put(c->gen);
	c->gen = tls_keypair__get(c->admin->tls);
	*pcert = c->gen->pcert;
	*pcert_length = c->gen->n_pcert;
	*pkey = c->gen->key;
	return 0;
}

/* ---- connections: who they are, the caps and the deadline ---- */

static void link_conn(struct admin *a, struct admin_conn *c)
{
	c->prev = a->tail;
	c->next = NULL;
	if (a->tail)
		a->tail->next = c;
	else
		a->head = c;
	a->tail = c;
	a->open++;
}

static void unlink_conn(struct admin *a, struct admin_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		a->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		a->tail = c->prev;
	if (!c->evicted)
		a->open--;
}

/*
 * NOTIFY_CONNECTION: STARTED comes inside MHD_add_connection() (external
 * polling, 0.9.75: new_connection_process_()), so the record being added
 * is a->adding; CLOSED comes before MHD closes the fd, so no fd number is
 * reused while we still hold it.
 */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct admin *a = cls;
	struct admin_conn *c;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		c = a->adding;
		a->adding = NULL;
		*socket_context = c;
		if (c) {
			if (a->tls) {
				const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
				    conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);

				c->session = ci ? ci->tls_session : NULL;
			}
			link_conn(a, c);
		}
		return;
	}
	c = *socket_context;
	*socket_context = NULL;
	if (c) {
		unlink_conn(a, c);
		/* freed at the next refresh, after MHD is done with the session */
		tls_keypair__put(c->gen);
		free(c);
	}
}

/* NOTIFY_COMPLETED: the answer is sent (or the request aborted); the next one's clock starts. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct admin_conn *c = conn_of(conn);
	struct admin *a = cls;
	void *u = req_cls ? *req_cls : NULL;

	(void)toe;
	/* a POST's body; GET requests hold a static marker, which is no upload */
	if (u && u != &get_seen) {
		a->upload_bytes -= ((struct upload *)u)->cap;
		free(((struct upload *)u)->buf);
		free(u);
		*req_cls = NULL;
	}
	if (c) {
		c->answering = false;
		c->since_ms = clock_mono_ms();
	}
}

/*
 * Closes a connection under libmicrohttpd's feet: after shutdown() it reads
 * EOF (or fails to write) and closes the fd itself on its next run, which
 * keeps it the one owner of the fd.  The peer sees a FIN.
 */
static void evict(struct admin *a, struct admin_conn *c, enum admin_evict why)
{
	shutdown(c->fd, SHUT_RDWR);
	c->evicted = true;
	a->open--;
	a->stats.evicted[why]++;
}

/*
 * The connection to give up for a newcomer: the oldest one (of `peer`, or
 * of all when NULL) without an answer in progress, or whose answer has
 * gone untaken for the header deadline (a peer that does not read may not
 * hold a slot either).  NULL when there is none.
 */
static struct admin_conn *oldest(struct admin *a, const uint8_t *peer, uint64_t now)
{
	struct admin_conn *best = NULL;

	for (struct admin_conn *c = a->head; c; c = c->next) {
		if (c->evicted || (peer && memcmp(c->peer, peer, 16) != 0))
			continue;
		if (c->answering && now - c->since_ms < ADMIN_HEADER_DEADLINE_MS)
			continue;
		if (!best || c->since_ms < best->since_ms)
			best = c;
	}
	return best;
}

static uint32_t count_peer(const struct admin *a, const uint8_t peer[16])
{
	uint32_t n = 0;

	for (const struct admin_conn *c = a->head; c; c = c->next)
		n += !c->evicted && memcmp(c->peer, peer, 16) == 0;
	return n;
}

/* A newly accepted fd: makes room under the caps, then hands it to libmicrohttpd. */
static void take(struct admin *a, int fd, const struct sockaddr_storage *ss, socklen_t len,
		 uint64_t now)
{
	struct admin_conn *c, *victim;
	uint8_t peer[16] = { 0 };

	ip_from_sockaddr((const struct sockaddr *)ss, peer); /* AF_INET or AF_INET6: we listen */
	if (count_peer(a, peer) >= ADMIN_MAX_PER_PEER) {
		victim = oldest(a, peer, now);
		if (!victim)
			goto refuse;
		evict(a, victim, ADMIN_EVICT_MAX_PER_PEER);
	}
	if (a->open >= ADMIN_MAX_CONNECTIONS) {
		victim = oldest(a, NULL, now);
		if (!victim)
			goto refuse;
		evict(a, victim, ADMIN_EVICT_MAX_CONNECTIONS);
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto refuse;
	c->fd = fd;
	c->admin = a;
	memcpy(c->peer, peer, 16);
	c->since_ms = now;
	a->adding = c;
	/* the fd is MHD's from here, failed or not (it closes it then) */
	if (MHD_add_connection(a->daemon, fd, (const struct sockaddr *)ss, len) != MHD_YES)
		a->stats.refused++;
	/* never started: MHD failed before it knew of it */
	free(a->adding);
	a->adding = NULL;
	return;
refuse:
	close(fd);
	a->stats.refused++;
}

static void pause_accept(struct admin *a, uint64_t now, int err)
{
	if (!a->warned_accept)
		pr_warn("admin: port %u: accept: %s; accepting again in %d ms", a->port,
			strerror(err), ADMIN_ACCEPT_PAUSE_MS);
	a->warned_accept = true;
	a->accept_paused_ms = now + ADMIN_ACCEPT_PAUSE_MS;
	epoll_ctl(a->epoll_fd, EPOLL_CTL_DEL, a->listen_fd, NULL);
}

static void resume_accept(struct admin *a, uint64_t now)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = a->listen_fd };

	if (!a->accept_paused_ms || now < a->accept_paused_ms)
		return;
	a->accept_paused_ms = 0;
	epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, a->listen_fd, &ev);
}

/* Takes up to `max` connections from the accept queue; how many it took. */
static unsigned int accept_some(struct admin *a, unsigned int max, uint64_t now)
{
	unsigned int n = 0;

	while (n < max && !a->accept_paused_ms) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(a->listen_fd, (struct sockaddr *)&ss, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			int err = errno;

			if (err == EAGAIN || err == EWOULDBLOCK)
				break;
			/* gone before we took it (accept(2): pending network errors): the next */
			if (err == EINTR || err == ECONNABORTED || err == EPROTO ||
			    err == ENETDOWN || err == ENOPROTOOPT || err == EHOSTDOWN ||
			    err == ENONET || err == EHOSTUNREACH || err == EOPNOTSUPP ||
			    err == ENETUNREACH)
				continue;
			pause_accept(a, now, err); /* EMFILE, ENFILE, ENOBUFS, ENOMEM */
			break;
		}
		if (a->warned_accept) {
			pr_info("admin: port %u: accepting again", a->port);
			a->warned_accept = false;
		}
		a->stats.accepted++;
		take(a, fd, &ss, len, now);
		n++;
	}
	return n;
}

/* Closes the connections whose request is not whole in time (or that idled past it). */
static void expire(struct admin *a, uint64_t now)
{
	for (struct admin_conn *c = a->head; c; c = c->next)
		if (!c->evicted && !c->answering && now - c->since_ms >= ADMIN_HEADER_DEADLINE_MS)
			evict(a, c, ADMIN_EVICT_HEADER_DEADLINE);
}

/*
 * Why MHD did not start (it binds nothing here: memory, epoll, threads), as
 * -errno: the errno its last message was logged with, if the message
 * carries that errno's text (else it may be stale), or -EIO, when the
 * message itself is the better `why`.
 */
static int start_errno(const struct admin *a)
{
	if (a->start_errno && strstr(a->start_msg, strerror(a->start_errno)))
		return -a->start_errno;
	return -EIO;
}

/* Our listening socket on `la` (non-blocking); the fd or -errno. */
static int listen_on(struct listen_addr *la)
{
	int fd = socket(la->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, v6only = !la->any, err;

	if (fd < 0 && la->any && errno == EAFNOSUPPORT) {
		/* a kernel without IPv6: ":PORT" means every IPv4 address */
		listen_addr_v4_any(la);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return -errno;
	/* ":PORT" takes IPv4 too (v4-mapped); "[::1]:PORT" only IPv6, whatever the sysctl says */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (la->ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only))) ||
	    bind(fd, (const struct sockaddr *)&la->ss, la->len) || listen(fd, SOMAXCONN)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static unsigned short bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return 0;
	return listen_addr_port((struct sockaddr *)&ss);
}

static int epoll_add(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

struct admin *admin__new(const char *addr, const struct admin_callbacks *cb, char *why,
			 size_t whylen)
{
	struct listen_addr la;
	/* we accept (see accept_some()): MHD only serves the connections we hand it */
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
	const union MHD_DaemonInfo *info;
	struct admin *a = NULL;
	const char *reason;
	char dummy[1];
	int err;

	if (!why) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	if (!addr || listen_addr_parse(addr, &la)) {
		snprintf(
		    why, whylen,
		    "admin: bad address \"%s\" (want :PORT, IPv4:PORT, [IPv6]:PORT or localhost:PORT)",
		    addr ? addr : "(null)");
		errno = EINVAL;
		return NULL;
	}

	a = calloc(1, sizeof(*a));
	if (!a) {
		err = -ENOMEM;
		snprintf(why, whylen, "admin: out of memory");
		goto cleanup;
	}
	a->epoll_fd = a->listen_fd = -1;
	if (cb)
		a->cb = *cb;
	a->mw = metrics_writer__new();
	a->jw = jsonw__new();
	if (!a->mw || !a->jw) {
		err = -ENOMEM;
		snprintf(why, whylen, "admin: out of memory");
		goto cleanup;
	}
	if (a->cb.tls_cert_file || a->cb.tls_key_file) {
		if (!a->cb.tls_cert_file || !a->cb.tls_key_file) {
			err = -EINVAL;
			snprintf(why, whylen, "admin: %s: TLS needs a certificate and a key", addr);
			goto cleanup;
		}
		a->tls = tls_keypair__new(a->cb.tls_cert_file, a->cb.tls_key_file, why, whylen);
		if (!a->tls) {
			char tmp[512];

			err = -errno;
			snprintf(tmp, sizeof(tmp), "%s", why);
			snprintf(why, whylen, "%s: TLS: %s", addr, tmp);
			goto cleanup;
		}
		flags |= MHD_USE_TLS;
	}
	if (a->cb.post && (!a->cb.post_path || !a->cb.post_max_body)) {
		err = -EINVAL;
		snprintf(why, whylen, "admin: %s: a POST route needs a path and a body limit",
			 addr);
		goto cleanup;
	}
	a->listen_fd = listen_on(&la);
	if (a->listen_fd < 0) {
		err = a->listen_fd;
		snprintf(why, whylen, "admin: cannot listen on %s: %s", addr, strerror(-err));
		goto cleanup;
	}
	a->port = bound_port(a->listen_fd);

	a->starting = true;
	/* the logger first, so that messages about the options that follow reach it */
	if (a->tls)
		a->daemon = MHD_start_daemon(
		    flags, 0, NULL, NULL, handle, a, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)ADMIN_MHD_CONNECTIONS,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)ADMIN_IDLE_TIMEOUT_S,
		    MHD_OPTION_NOTIFY_CONNECTION, on_connection, a, MHD_OPTION_NOTIFY_COMPLETED,
		    on_completed, a, MHD_OPTION_HTTPS_CERT_CALLBACK, cert_callback,
		    MHD_OPTION_HTTPS_PRIORITIES, ADMIN_TLS_PRIORITIES, MHD_OPTION_END);
	else
		a->daemon = MHD_start_daemon(
		    flags, 0, NULL, NULL, handle, a, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)ADMIN_MHD_CONNECTIONS,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)ADMIN_IDLE_TIMEOUT_S,
		    MHD_OPTION_NOTIFY_CONNECTION, on_connection, a, MHD_OPTION_NOTIFY_COMPLETED,
		    on_completed, a, MHD_OPTION_END);
	a->starting = false;
	if (!a->daemon) {
		err = start_errno(a);
		reason = err != -EIO ? strerror(-err) : a->start_msg;
		snprintf(why, whylen, "admin: %s: %s", addr,
			 reason[0] ? reason : "libmicrohttpd could not start");
		goto cleanup;
	}

	info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || info->epoll_fd < 0) {
		err = -EIO;
		snprintf(why, whylen, "admin: %s: libmicrohttpd has no epoll fd", addr);
		goto cleanup;
	}
	a->mhd_fd = info->epoll_fd;
	a->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (a->epoll_fd < 0 || epoll_add(a->epoll_fd, a->listen_fd) ||
	    epoll_add(a->epoll_fd, a->mhd_fd)) {
		err = -errno;
		snprintf(why, whylen, "admin: %s: epoll: %s", addr, strerror(-err));
		goto cleanup;
	}
	return a;

cleanup:
	admin__free(a);
	errno = -err;
	return NULL;
}

void admin__free(struct admin *a)
{
	if (!a)
		return;
	/* closes every connection, each NOTIFY_CLOSED freeing our record of it */
	if (a->daemon)
		MHD_stop_daemon(a->daemon);
	if (a->epoll_fd >= 0)
		close(a->epoll_fd);
	if (a->listen_fd >= 0)
		close(a->listen_fd);
	metrics_writer__free(a->mw);
	jsonw__free(a->jw);
	tls_keypair__free(a->tls); /* after MHD: no session uses a pair any more */
	free(a);
}

int admin__fd(const struct admin *a)
{
	return a->epoll_fd;
}

/* The nearest of libmicrohttpd's timeout, a header deadline and the end of an accept pause. */
int admin__timeout_ms(const struct admin *a)
{
	uint64_t now = clock_mono_ms(), due = UINT64_MAX;
	MHD_UNSIGNED_LONG_LONG t;

	if (MHD_get_timeout(a->daemon, &t) == MHD_YES)
		due = t > INT_MAX ? now + INT_MAX : now + t;
	for (const struct admin_conn *c = a->head; c; c = c->next)
		if (!c->evicted && !c->answering && c->since_ms + ADMIN_HEADER_DEADLINE_MS < due)
			due = c->since_ms + ADMIN_HEADER_DEADLINE_MS;
	if (a->accept_paused_ms && a->accept_paused_ms < due)
		due = a->accept_paused_ms;
	if (due == UINT64_MAX)
		return -1;
	return due <= now ? 0 : due - now > INT_MAX ? INT_MAX : (int)(due - now);
}

/*
 * The deadlines first, then what libmicrohttpd has pending (whole requests
 * are answered before anyone may be evicted for a newcomer), then the
 * accept queue, a batch at a time, each batch read and answered before the
 * next (MHD_NO from MHD_run only for a daemon started in another mode).
 */
void admin__run(struct admin *a)
{
	uint64_t now = clock_mono_ms();
	unsigned int taken = 0, n;

	resume_accept(a, now);
	expire(a, now);
	/* before accepting: a rotated certificate is what the next handshake presents */
	if (a->tls)
		tls_keypair__refresh(a->tls, clock_mono_ns());
	MHD_run(a->daemon);
	while (taken < ADMIN_ACCEPTS_PER_RUN) {
		n = accept_some(a, ADMIN_ACCEPT_BATCH, clock_mono_ms());
		if (!n)
			break;
		taken += n;
		MHD_run(a->daemon);
	}
}

unsigned short admin__port(const struct admin *a)
{
	return a->port;
}

const char *admin_evict_name(enum admin_evict reason)
{
	switch (reason) {
	case ADMIN_EVICT_HEADER_DEADLINE:
		return "header_deadline";
	case ADMIN_EVICT_MAX_CONNECTIONS:
		return "max_connections";
	case ADMIN_EVICT_MAX_PER_PEER:
		return "max_per_peer";
	default:
		return "unknown";
	}
}

void admin__stats(const struct admin *a, struct admin_stats *out)
{
	*out = a->stats;
	out->open = a->open;
	out->post_buffered = a->upload_bytes;
	if (a->tls)
		tls_keypair__stats(a->tls, &out->tls_reloads_ok, &out->tls_reloads_bad);
}

void admin_metrics(struct metrics_writer *w, const char *prefix, const struct admin *const *admins,
		   const char *const *names, size_t n)
{
	struct admin_stats st;
	char name[128];

	snprintf(name, sizeof(name), "%s_admin_requests_total", prefix);
	metrics_writer__family(w, name, METRIC_COUNTER,
			       "Requests answered on the admin, API and webhook ports, by listener "
			       "and status.");
	for (size_t i = 0; i < n; i++)
		for (int k = 0; admins[i] && k < ADMIN_CODE__COUNT; k++)
			metrics_writer__u64(
			    w, METRIC_LABELS("listener", names[i], "code", admin_code_name(k)),
			    __atomic_load_n(&admins[i]->stats.answers[k], __ATOMIC_RELAXED));
	snprintf(name, sizeof(name), "%s_admin_connections_accepted_total", prefix);
	metrics_writer__family(w, name, METRIC_COUNTER,
			       "Admin connections taken from the accept queue, by listener.");
	for (size_t i = 0; i < n; i++)
		if (admins[i])
			metrics_writer__u64(w, METRIC_LABELS("listener", names[i]),
					    admins[i]->stats.accepted);
	snprintf(name, sizeof(name), "%s_admin_connections_refused_total", prefix);
	metrics_writer__family(w, name, METRIC_COUNTER,
			       "Admin connections closed at accept: at a cap with none to evict.");
	for (size_t i = 0; i < n; i++)
		if (admins[i])
			metrics_writer__u64(w, METRIC_LABELS("listener", names[i]),
					    admins[i]->stats.refused);
	snprintf(name, sizeof(name), "%s_admin_connections_evicted_total", prefix);
	metrics_writer__family(w, name, METRIC_COUNTER,
			       "Admin connections closed before their request was whole, by "
			       "listener and reason.");
	for (size_t i = 0; i < n; i++)
		for (int r = 0; admins[i] && r < ADMIN_EVICT__COUNT; r++)
			metrics_writer__u64(
			    w, METRIC_LABELS("listener", names[i], "reason", admin_evict_name(r)),
			    admins[i]->stats.evicted[r]);
	snprintf(name, sizeof(name), "%s_admin_connections", prefix);
	metrics_writer__family(w, name, METRIC_GAUGE, "Admin connections open now, by listener.");
	for (size_t i = 0; i < n; i++) {
		if (!admins[i])
			continue;
		admin__stats(admins[i], &st);
		metrics_writer__u64(w, METRIC_LABELS("listener", names[i]), st.open);
	}
}
