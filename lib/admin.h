/* SPDX-License-Identifier: BSD-2-Clause */
/* The admin HTTP endpoint: /metrics, /healthz, /readyz, /config, assets, one POST route, TLS (libmicrohttpd). */
#ifndef PODFLOW_ADMIN_H
#define PODFLOW_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metrics_writer;
struct jsonw;

/*
 * Served by libmicrohttpd (no hand-written HTTP), driven from the owner's
 * event loop: admin__fd() goes into the owner's epoll and admin__run() is
 * called when it is readable or after admin__timeout_ms(), so every
 * callback below runs on the owner's thread and may read its state
 * without locks.  GET (and HEAD) is served, and POST on one path when the
 * owner gives a `post` callback:
 *
 *   GET /metrics  200, text/plain; version=0.0.4, what `metrics` writes
 *   GET /healthz  200 "ok" while the process runs its loop
 *   GET /readyz   200 "ready" or 503 with the one-line reason `ready` gives
 *   GET /config   200, application/json, what `config` writes
 *   GET <asset>   200, one of `assets` (a web page's files) with its type,
 *                 no-cache, nosniff, DENY framing and ADMIN_ASSET_CSP
 *   POST <post_path>  what `post` answers, given the whole body (413 beyond
 *                 post_max_body); another method there 405 (Allow: POST)
 *   anything else what `json` answers, else 404; other methods 405
 *
 * A route whose callback is NULL is a 404 (/metrics, /config), and so are
 * /healthz and /readyz with `no_probes`: one process can serve its probes
 * on one listener and its introspection on another.
 *
 * The listening socket is ours, not libmicrohttpd's: every run drains the
 * kernel's accept queue, so a connection never waits there for a slot.
 * Then, per connection (the peer being its address, without the port):
 *
 *   - a request must be whole within ADMIN_HEADER_DEADLINE_MS of the
 *     connection's accept or of its previous answer, else the connection
 *     is closed: a partial request, or a keep-alive connection left idle
 *     (scrapers reconnect);
 *   - at most ADMIN_MAX_CONNECTIONS at once, ADMIN_MAX_PER_PEER from one
 *     peer: a newcomer over either cap closes the oldest connection (of
 *     that peer, or of all) that has no request being answered, or one
 *     whose answer has gone untaken for ADMIN_HEADER_DEADLINE_MS; only if
 *     there is none is the newcomer closed at once (refused).  So a probe,
 *     which sends its whole request at once, is answered whatever a
 *     trickle of partial requests holds;
 *   - an answer the peer does not read is dropped after
 *     ADMIN_IDLE_TIMEOUT_S of no progress (libmicrohttpd's timeout).
 *
 * With TLS (tls_cert_file and tls_key_file), everything above is served
 * over TLS 1.2 or 1.3 only (GnuTLS, ALPN http/1.1): a cleartext request
 * fails the handshake.  The TLS handshake counts in the request's deadline.
 * The files are re-read when they change (lib/tls_keypair.h: checked at
 * most once per second, on the next run of the loop), so a rotated
 * certificate is presented to every connection accepted after that.
 */
#define ADMIN_MAX_CONNECTIONS	 256
#define ADMIN_MAX_PER_PEER	 32
#define ADMIN_HEADER_DEADLINE_MS 3000
#define ADMIN_IDLE_TIMEOUT_S	 10

/*
 * An extra JSON route's query arguments: admin_arg(args, "ip") is the
 * decoded value of ?ip=..., or NULL.
 */
struct admin_args;
const char *admin_arg(const struct admin_args *args, const char *name);

/*
 * A file served as it is (a web UI's page, script and styles, embedded in
 * the binary): GET or HEAD of `path` (exactly; no query string) answers
 * `len` bytes of `data` with `content_type`.  Borrowed: the owner keeps
 * them for the listener's life.
 */
struct admin_asset {
	const char *path;
	const char *content_type;
	const unsigned char *data;
	size_t len;
};

/*
 * What an asset is answered with besides its type: revalidated on each
 * load (no-cache), never sniffed as another type, never framed (no
 * clickjacking), and a Content-Security-Policy that lets the page load
 * nothing but its own origin's files and API: cytoscape and uPlot set
 * style attributes (style-src 'unsafe-inline'), the page's icon is a data:
 * URL.
 */
#define ADMIN_ASSET_CSP "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"

/* A whole POST request, for the `post` callback. */
struct admin_post {
	const char *path; /* the path alone: no query string */
	const char *body; /* len bytes, then a NUL the peer did not send */
	size_t len;
	uint64_t started_ns; /* monotonic: when its head was whole (for a latency) */
};

/* The callback's answer; `body` (malloc'd, or NULL for none) becomes admin's. */
struct admin_reply {
	unsigned int status;
	const char *content_type; /* a literal; NULL: text/plain */
	char *body;
	size_t len;
};

struct admin_callbacks {
	void (*metrics)(void *ctx, struct metrics_writer *w);
	/* true when ready; else fills `why` (one line) */
	bool (*ready)(void *ctx, char *why, size_t whylen);
	void (*config)(void *ctx, struct jsonw *jw);
	/*
	 * Any other path, or NULL: returns the HTTP status and writes the JSON
	 * body (for 200) or a one-line reason into jw as a JSON string (for
	 * 4xx); 404 for a path it does not serve.
	 */
	int (*json)(void *ctx, const char *path, const struct admin_args *args, struct jsonw *jw);
	/*
	 * Files served as they are, looked up before `json` (n_assets of
	 * them, or none): see struct admin_asset.  Authorized as every route.
	 */
	const struct admin_asset *assets;
	size_t n_assets;
	/*
	 * NULL (every request may be answered), or whether this one may:
	 * `authorization` is its Authorization header, NULL when it has none.
	 * false: 401 with WWW-Authenticate: Bearer, whatever the path.
	 */
	bool (*authorize)(void *ctx, const char *authorization);
	bool no_probes; /* true: /healthz and /readyz are 404 here */
	/*
	 * One POST route, or none (NULL `post`): a POST to `post_path` is
	 * answered by `post` once its whole body is in; a body over
	 * `post_max_body` bytes with 413, one that would take the bodies
	 * being read past 8 x post_max_body with 503 (a refused body is read
	 * to its end and dropped, then answered, so that the client reads the
	 * answer: at once when it waits for 100 Continue, or past 4 x the
	 * limit).  A POST to another path is a 404 on such a listener.  The
	 * connection is closed after the answer: a non-idempotent request is
	 * never sent on a keep-alive connection we may be closing (Go's client,
	 * the API server's, does not retry a POST it wrote on a connection
	 * the server closed).
	 */
	const char *post_path;
	size_t post_max_body;
	void (*post)(void *ctx, const struct admin_post *req, struct admin_reply *reply);
	/* Both, or neither: serve TLS with this PEM certificate chain and key (re-read on change). */
	const char *tls_cert_file;
	const char *tls_key_file;
	void *ctx;
};

struct admin;

/*
 * Listens on `addr` ("127.0.0.1:9091", ":9090", "[::1]:9091"; port 0 picks
 * one).  NULL with errno set and one line in `why` (bad address, in use,
 * a TLS file missing or not a certificate and its key).
 */
struct admin *admin__new(const char *addr, const struct admin_callbacks *cb, char *why,
			 size_t whylen);
void admin__free(struct admin *a);

/* The fd to add to the owner's epoll (readable when there is work). */
int admin__fd(const struct admin *a);
/* The longest the owner may wait before calling admin__run() (-1: no limit). */
int admin__timeout_ms(const struct admin *a);
/* Does the pending work (accepts, reads, answers).  Never blocks. */
void admin__run(struct admin *a);
/* The bound port (useful with port 0). */
unsigned short admin__port(const struct admin *a);

/* Why a connection was closed before its request was whole. */
enum admin_evict {
	ADMIN_EVICT_HEADER_DEADLINE, /* no whole request within ADMIN_HEADER_DEADLINE_MS */
	ADMIN_EVICT_MAX_CONNECTIONS, /* the oldest, for a newcomer over ADMIN_MAX_CONNECTIONS */
	ADMIN_EVICT_MAX_PER_PEER,    /* its peer's oldest, for a newcomer over ADMIN_MAX_PER_PEER */
	ADMIN_EVICT__COUNT,
};

/* "header_deadline", "max_connections", "max_per_peer": the metric label values. */
const char *admin_evict_name(enum admin_evict reason);

/* The statuses answers are counted by (the label values of _admin_requests_total{code}). */
enum admin_code {
	ADMIN_CODE_200,
	ADMIN_CODE_400, /* a bad query parameter, a malformed POST: the answer says which */
	ADMIN_CODE_401,
	ADMIN_CODE_404,
	ADMIN_CODE_405,
	ADMIN_CODE_413,
	ADMIN_CODE_500,
	ADMIN_CODE_503,
	ADMIN_CODE_OTHER,
	ADMIN_CODE__COUNT,
};

struct admin_stats {
	uint64_t answers[ADMIN_CODE__COUNT]; /* requests answered, by status */
	uint64_t accepted;		     /* connections taken from the kernel's accept queue */
	uint64_t refused; /* of those, closed at once: at a cap with nothing to evict */
	uint64_t evicted[ADMIN_EVICT__COUNT];
	uint32_t open;		  /* being served now */
	uint64_t post_too_large;  /* POST bodies refused: 413 over the limit, 503 over the budget */
	uint64_t post_buffered;	  /* bytes the POST bodies being read hold now */
	uint64_t tls_reloads_ok;  /* a changed certificate put in force */
	uint64_t tls_reloads_bad; /* a changed certificate refused (the previous one stays) */
};

void admin__stats(const struct admin *a, struct admin_stats *out);

/*
 * Writes the families PREFIX_admin_requests_total{code},
 * PREFIX_admin_connections_accepted_total, _refused_total,
 * _evicted_total{reason} and the gauge
 * PREFIX_admin_connections, one sample per listener labelled
 * listener=names[i] (NULL entries of `admins` are skipped).  From the
 * owner's metrics callback.
 */
void admin_metrics(struct metrics_writer *w, const char *prefix, const struct admin *const *admins,
		   const char *const *names, size_t n);

#endif /* PODFLOW_ADMIN_H */
