/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The pod watch's Kubernetes API client, over libcurl: where the API server
 * is (a URL, or the in-cluster settings), how to reach it (TLS with the CA
 * file, timeouts, keepalive), who we are (the bearer token, re-read before
 * each request when its file changed), and the two requests the watch
 * makes: a page of GET /api/v1/pods, read whole, and a watch of it,
 * delivered line by line however it is chunked (docs/kube.md, "What it
 * requests"); and a POST answered whole (the heartbeat verifier's
 * TokenReviews, token_review.h).  What the answers mean -- 410, relisting, backoff -- is the
 * watch's (kube_watch.h).
 *
 * The client logs no failure and keeps no last error: each one goes, as
 * one line, to the owner's error callback, which logs it (once while it
 * repeats, as a retry loop would meet it) and keeps it; a request that
 * fails also returns a negative errno.  One thread makes requests;
 * kube_client__cancel and kube_client__stats may come from any.
 */
#ifndef PODFLOW_COLLECTOR_KUBE_CLIENT_H
#define PODFLOW_COLLECTOR_KUBE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KUBE_EVENT_MAX	     (4u << 20)	  /* default cap on one watch event line */
#define KUBE_LIST_PAGE_MAX   (256u << 20) /* cap on one list page body */
#define KUBE_POST_ANSWER_MAX (1u << 20)	  /* cap on the answer to one POST (a TokenReview's) */

struct kube_client_opts {
	/*
	 * "https://host:port" (no trailing path).  NULL: in cluster,
	 * https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, and
	 * token_file / ca_file default to the service account's.
	 */
	const char *api_url;
	const char *token_file;	     /* bearer token, re-read when the file changes; NULL: none */
	const char *ca_file;	     /* PEM bundle to verify the server; NULL: system store */
	bool allow_http;	     /* accept http:// URLs (tests); refused otherwise */
	uint32_t connect_timeout_ms; /* 0 = 5000 */
	uint32_t list_timeout_ms;    /* one list page; 0 = 60000 */
	size_t max_event_bytes;	     /* one watch line; 0 = KUBE_EVENT_MAX */
};

/* One failure, one line, for the owner's log and last error. */
typedef void (*kube_client_error_fn)(void *ctx, const char *msg);
/* One watch line (an event; blank keep-alive lines are not passed): 0, or -errno ends the watch. */
typedef int (*kube_client_line_fn)(void *ctx, const char *line, size_t len);
/* The watch was answered HTTP 200: events may follow. */
typedef void (*kube_client_connected_fn)(void *ctx);

/* What the watch is told while it lasts; called on the requesting thread. */
struct kube_client_watch_cb {
	kube_client_connected_fn connected;
	kube_client_line_fn line;
	void *ctx;
};

/* How a request was answered; valid until the next request. */
struct kube_response {
	long status; /* HTTP status; 0 when none came */
	const char
	    *body; /* 200 list: the page; not 200: the body's start (for its Status); never NULL */
	size_t len;
};

/* Counters, atomically updated; see struct kube_stats for their meaning. */
struct kube_client_stats {
	uint64_t bytes;		   /* response body bytes received, error bodies included */
	uint64_t transport_errors; /* connect, TLS, reset, timeout */
	uint64_t oversized_events; /* watch lines over max_event_bytes (watch ended) */
};

struct kube_client;

/*
 * Checks the options (URL scheme, CA file readable, the token file holds
 * one token) and copies them.  `on_error(ctx, ...)` is told every failure
 * from then on, this call's too.  NULL with errno set and one line in
 * `why` on failure.
 */
struct kube_client *kube_client__new(const struct kube_client_opts *opts,
				     kube_client_error_fn on_error, void *ctx, char *why,
				     size_t len);
/* NULL is fine. */
void kube_client__free(struct kube_client *c);

/*
 * One list page: GET /api/v1/pods?limit=LIMIT[&continue=CONT] (`cont`
 * NULL: the first page).  0 when an answer came (out->status says which;
 * a 200's body is the page), or -errno: a transport failure, -EMSGSIZE (a
 * page over KUBE_LIST_PAGE_MAX), -ECANCELED (cancelled).
 */
int kube_client__list(struct kube_client *c, uint32_t limit, const char *cont,
		      struct kube_response *out);
/*
 * One watch from resourceVersion `rv`, asking the server to end it after
 * timeout_s (and taking timeout_s + 30 s without a byte as a dead
 * connection).  0 when the server ended it (out->status says how), or
 * -errno: a transport failure, -EMSGSIZE (a line over max_event_bytes),
 * -ECANCELED (cancelled), or what cb->line returned.
 */
int kube_client__watch(struct kube_client *c, const char *rv, uint32_t timeout_s,
		       const struct kube_client_watch_cb *cb, struct kube_response *out);
/*
 * One POST of a JSON `body` to `path` ("/apis/..."), its answer read whole
 * (the token verifier's TokenReviews).  0 when an answer came (out->status
 * says which), or -errno as kube_client__list.
 */
int kube_client__post(struct kube_client *c, const char *path, const char *body,
		      struct kube_response *out);
/* Any thread: the request in progress, and every later one, ends with -ECANCELED. */
void kube_client__cancel(struct kube_client *c);
void kube_client__stats(const struct kube_client *c, struct kube_client_stats *out);

#endif /* PODFLOW_COLLECTOR_KUBE_CLIENT_H */
