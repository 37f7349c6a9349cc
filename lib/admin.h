/* SPDX-License-Identifier: BSD-2-Clause */
/* The admin HTTP endpoint: /metrics, /healthz, /readyz, /config (libmicrohttpd). */
#ifndef PODFLOW_ADMIN_H
#define PODFLOW_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

struct metrics_writer;
struct jsonw;

/*
 * Served by libmicrohttpd (no hand-written HTTP), driven from the owner's
 * event loop: admin__fd() goes into the owner's epoll and admin__run() is
 * called when it is readable or after admin__timeout_ms(), so every
 * callback below runs on the owner's thread and may read its state
 * without locks.  Only GET (and HEAD) is served.
 *
 *   GET /metrics  200, text/plain; version=0.0.4, what `metrics` writes
 *   GET /healthz  200 "ok" while the process runs its loop
 *   GET /readyz   200 "ready" or 503 with the one-line reason `ready` gives
 *   GET /config   200, application/json, what `config` writes
 *   anything else what `json` answers, else 404; other methods 405
 */
/*
 * An extra JSON route's query arguments: admin_arg(args, "ip") is the
 * decoded value of ?ip=..., or NULL.
 */
struct admin_args;
const char *admin_arg(const struct admin_args *args, const char *name);

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
	void *ctx;
};

struct admin;

/*
 * Listens on `addr` ("127.0.0.1:9091", ":9090", "[::1]:9091"; port 0 picks
 * one).  NULL with errno set and one line in `why` (bad address, in use).
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

#endif /* PODFLOW_ADMIN_H */
