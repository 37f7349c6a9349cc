/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Kubernetes pod watch: lists then watches every pod, and says which pod
 * owned which IP from when to when (docs/kube.md).
 *
 * One thread per watcher: GET /api/v1/pods?limit=N (paginated), then a
 * chunked watch from the list's resourceVersion, resumed from the last
 * resourceVersion seen after a drop (exponential backoff with jitter),
 * listed again after "410 Gone" (HTTP, or an in-stream ERROR event).  This
 * module is that state machine, the watermark and the counters; it reads
 * pods with kube_pod.h, asks the API server through kube_client.h, and
 * hands each pod to its pod_table.h, which decides what to assign and
 * unassign and calls `cb`.
 *
 * Times are Unix milliseconds (CLOCK_REALTIME).  When a time is uncertain
 * the watcher errs towards "nobody owned it": assignments never start
 * before the real one, unassignments never end after it (docs/kube.md,
 * "Timing rules").
 */
#ifndef PODFLOW_COLLECTOR_KUBE_WATCH_H
#define PODFLOW_COLLECTOR_KUBE_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pod_table.h"

#define KUBE_ERROR_MAX 256 /* kube_stats.last_error, NUL included */

struct kube_opts {
	/*
	 * "https://host:port" (no trailing path).  NULL: in cluster,
	 * https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, and
	 * token_file / ca_file default to the service account's.
	 */
	const char *api_url;
	const char *token_file;	     /* bearer token, re-read when the file changes; NULL: none */
	const char *ca_file;	     /* PEM bundle to verify the server; NULL: system store */
	bool allow_http;	     /* accept http:// URLs (tests); refused otherwise */
	uint32_t page_limit;	     /* list page size; 0 = 500 */
	uint32_t backoff_min_ms;     /* 0 = 200 */
	uint32_t backoff_max_ms;     /* 0 = 30000 */
	int32_t lag_ms;		     /* watermark lag while healthy; < 0 = 1000 (0 is allowed) */
	uint32_t settle_ms;	     /* a new watch counts as healthy after this; 0 = 200 */
	uint32_t connect_timeout_ms; /* 0 = 5000 */
	uint32_t list_timeout_ms;    /* one list page; 0 = 60000 */
	uint32_t watch_timeout_s;    /* timeoutSeconds asked of the server; 0 = 300 */
	size_t max_event_bytes;	     /* one watch line; 0 = KUBE_EVENT_MAX (kube_client.h) */
};

struct kube_stats {
	uint64_t lists;		     /* complete lists (all pages) */
	uint64_t list_pages;	     /* pages received */
	uint64_t watches;	     /* watch connections that got HTTP 200 */
	uint64_t reconnects;	     /* watches resumed from a saved resourceVersion */
	uint64_t relists_410;	     /* lists again after HTTP 410 (watch or continue) */
	uint64_t relists_410_stream; /* lists again after an in-stream ERROR 410 */
	uint64_t added, modified, deleted, bookmark, error; /* watch events by type */
	uint64_t bad_events;		 /* lines or items that could not be used */
	uint64_t oversized_events;	 /* lines over max_event_bytes (connection dropped) */
	uint64_t http_errors;		 /* responses other than 200 and 410 */
	uint64_t auth_failures;		 /* of which 401 and 403 */
	uint64_t transport_errors;	 /* connect, TLS, reset, timeout */
	uint64_t stream_ends;		 /* watches the server ended cleanly (timeoutSeconds) */
	uint64_t pods;			 /* pods in the table (host-network and ended included) */
	uint64_t ips;			 /* IPs currently assigned */
	uint64_t host_network_pods;	 /* pods in the table with hostNetwork (never emitted) */
	uint64_t bytes;			 /* response body bytes received */
	char last_error[KUBE_ERROR_MAX]; /* "" when none yet */
};

struct kube_watch;

/*
 * Checks the options (URL scheme, files readable) and copies them; the
 * thread starts with kube_watch__start, and `cb` is called on it, one call
 * at a time (the consumer does its own locking).  NULL with errno set and
 * one line in `why` on failure.
 */
struct kube_watch *kube_watch__new(const struct kube_opts *opts, const struct kube_callbacks *cb,
				   char *why, size_t len);
/* 0 or -errno (thread creation). */
int kube_watch__start(struct kube_watch *w);
/* Aborts the transfer in progress and joins; idempotent.  No callback runs after it returns. */
void kube_watch__stop(struct kube_watch *w);
/* Stops first if needed; NULL is fine. */
void kube_watch__free(struct kube_watch *w);

/*
 * How far the view is complete, Unix ms; any thread, lock-free, never goes
 * back.  0 before the first list completes; then the time that list was
 * requested; while the watch is healthy max(last event or bookmark
 * received, now - lag_ms); frozen while it is broken.
 */
int64_t kube_watch__watermark(struct kube_watch *w);
/* The first list is done and the watch is connected and healthy. */
bool kube_watch__synced(struct kube_watch *w);
void kube_watch__stats(struct kube_watch *w, struct kube_stats *out);

#endif /* PODFLOW_COLLECTOR_KUBE_WATCH_H */
