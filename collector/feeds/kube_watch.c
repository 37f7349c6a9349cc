// SPDX-License-Identifier: BSD-2-Clause
/* Kubernetes pod watch: the list/watch state machine, its thread, watermark and counters. */
#define _GNU_SOURCE
#include "kube_watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "kube_client.h"
#include "kube_pod.h"
#include "log.h"

struct kube_watch {
	uint32_t page_limit, backoff_min_ms, backoff_max_ms, settle_ms, watch_timeout_s;
	int64_t lag_ms;

	pthread_t thread;
	bool started, joined;
	int stop;	      /* atomic */
	pthread_mutex_t lock; /* stats, last_error, and the stop condition */
	pthread_cond_t cond;
	struct kube_stats st; /* bytes, transport_errors, oversized_events: read from the client */

	/* watermark, atomics (see kube_watch__watermark) */
	int64_t wm_base;      /* list time, last event time, or the frozen value */
	int64_t wm_pub;	      /* highest value ever returned: the watermark never goes back */
	int64_t healthy_from; /* INT64_MAX: no healthy watch */
	int listed;

	/* watcher-thread state below */
	struct kube_client *client;
	struct pod_table *table;
	char *rv; /* last resourceVersion, opaque */
	uint32_t fails;
	uint64_t rand;
	char prev_err[KUBE_ERROR_MAX];

	/* one watch */
	bool stream_410; /* the watch ended on an in-stream ERROR 410 */
	bool got_event;	 /* a usable event or bookmark arrived on this watch */
};

static const char *str_or_empty(const json_t *j)
{
	const char *s = json_string_value(j);

	return s ? s : "";
}

static bool stopped(struct kube_watch *w)
{
	return __atomic_load_n(&w->stop, __ATOMIC_ACQUIRE);
}

static void atomic_max(int64_t *p, int64_t v)
{
	int64_t cur = __atomic_load_n(p, __ATOMIC_ACQUIRE);

	while (v > cur &&
	       !__atomic_compare_exchange_n(p, &cur, v, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
}

int64_t kube_watch__watermark(struct kube_watch *w)
{
	int64_t from = __atomic_load_n(&w->healthy_from, __ATOMIC_ACQUIRE);
	int64_t v = __atomic_load_n(&w->wm_base, __ATOMIC_ACQUIRE);

	if (from != INT64_MAX) {
		int64_t now = clock_wall_ms();

		if (now >= from && now - w->lag_ms > v)
			v = now - w->lag_ms;
	}
	atomic_max(&w->wm_pub, v);
	return __atomic_load_n(&w->wm_pub, __ATOMIC_ACQUIRE);
}

bool kube_watch__synced(struct kube_watch *w)
{
	int64_t from = __atomic_load_n(&w->healthy_from, __ATOMIC_ACQUIRE);

	return __atomic_load_n(&w->listed, __ATOMIC_ACQUIRE) && from != INT64_MAX &&
	       clock_wall_ms() >= from;
}

void kube_watch__stats(struct kube_watch *w, struct kube_stats *out)
{
	struct kube_client_stats c;

	pthread_mutex_lock(&w->lock);
	*out = w->st;
	pthread_mutex_unlock(&w->lock);
	kube_client__stats(w->client, &c);
	out->bytes = c.bytes;
	out->transport_errors = c.transport_errors;
	out->oversized_events = c.oversized_events;
}

#define STAT_ADD(w, field, n)                     \
	do {                                      \
		pthread_mutex_lock(&(w)->lock);   \
		(w)->st.field += (n);             \
		pthread_mutex_unlock(&(w)->lock); \
	} while (0)

static void sync_table_stats(struct kube_watch *w)
{
	struct pod_table_counts n;

	pod_table__counts(w->table, &n);
	pthread_mutex_lock(&w->lock);
	w->st.pods = n.pods;
	w->st.ips = n.ips;
	w->st.host_network_pods = n.host_network;
	pthread_mutex_unlock(&w->lock);
}

/*
 * Records an error: kept in stats.last_error, logged once at warn (debug
 * while the same error repeats, as a retry loop would).
 */
static void __attribute__((format(printf, 2, 3))) fail(struct kube_watch *w, const char *fmt, ...)
{
	char msg[KUBE_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&w->lock);
	snprintf(w->st.last_error, sizeof(w->st.last_error), "%s", msg);
	pthread_mutex_unlock(&w->lock);
	if (strcmp(msg, w->prev_err) != 0) {
		pr_warn("kube: %s\n", msg);
		snprintf(w->prev_err, sizeof(w->prev_err), "%s", msg);
	} else {
		pr_debug("kube: %s (again)\n", msg);
	}
}

/* A healthy watch again: the next error is news. */
static void recovered(struct kube_watch *w)
{
	if (w->prev_err[0]) {
		pr_info("kube: watching pods again\n");
		w->prev_err[0] = '\0';
	}
}

/* The client's failures: the same log and last_error as the watch's own. */
static void client_error(void *ctx, const char *msg)
{
	fail(ctx, "%s", msg);
}

/* ---- the state machine ---- */

/* The watch stream is connected (HTTP 200): healthy once it settles or an event arrives. */
static void watch_connected(void *ctx)
{
	struct kube_watch *w = ctx;

	STAT_ADD(w, watches, 1);
	__atomic_store_n(&w->healthy_from, clock_wall_ms() + w->settle_ms, __ATOMIC_RELEASE);
}

/* The watch ended: the watermark stays where it is until a watch is healthy again. */
static void watch_broken(struct kube_watch *w)
{
	int64_t frozen = kube_watch__watermark(w);

	__atomic_store_n(&w->healthy_from, INT64_MAX, __ATOMIC_RELEASE);
	atomic_max(&w->wm_base, frozen);
}

static void set_rv(struct kube_watch *w, const char *rv)
{
	char *dup;

	if (!rv || !*rv || (w->rv && strcmp(w->rv, rv) == 0))
		return;
	dup = strdup(rv);
	if (!dup)
		return; /* keeps the older one: at worst events are replayed */
	free(w->rv);
	w->rv = dup;
}

static void event_bad(struct kube_watch *w, const char *why, const char *line, size_t len)
{
	STAT_ADD(w, bad_events, 1);
	pr_debug("kube: bad watch event (%s): %.*s\n", why, (int)(len > 200 ? 200 : len), line);
}

/*
 * One watch line: {"type": ..., "object": {...}}.  0, or what ends the
 * watch: -ESTALE (ERROR 410: list again) or -EPROTO (another ERROR: resume).
 */
static int watch_line(void *ctx, const char *line, size_t len)
{
	struct kube_watch *w = ctx;
	struct kube_pod_info info;
	const char *type;
	json_error_t jerr;
	json_t *root, *obj;
	int64_t obs = clock_wall_ms();
	int err = 0;

	root = json_loadb(line, len, 0, &jerr);
	if (!root) {
		event_bad(w, jerr.text, line, len);
		return 0;
	}
	type = json_string_value(json_object_get(root, "type"));
	obj = json_object_get(root, "object");
	if (!type || !json_is_object(obj)) {
		event_bad(w, "no type or object", line, len);
		goto cleanup;
	}
	if (strcmp(type, "ERROR") == 0) {
		json_int_t code = json_integer_value(json_object_get(obj, "code"));

		STAT_ADD(w, error, 1);
		fail(w, "watch: ERROR event %lld: %s", (long long)code,
		     str_or_empty(json_object_get(obj, "message")));
		/* 410 Gone: our resourceVersion was compacted, list again; else resume */
		err = code == 410 ? -ESTALE : -EPROTO;
		w->stream_410 = code == 410;
		goto cleanup;
	}
	if (strcmp(type, "BOOKMARK") == 0) {
		/* only metadata.resourceVersion is meaningful: progress, not a pod change */
		const char *rv = json_string_value(
		    json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));

		if (!rv || !*rv) {
			event_bad(w, "bookmark without resourceVersion", line, len);
			goto cleanup;
		}
		set_rv(w, rv);
		STAT_ADD(w, bookmark, 1);
	} else if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0 ||
		   strcmp(type, "DELETED") == 0) {
		if (kube_pod_parse(obj, &info)) {
			event_bad(w, "not a pod", line, len);
			goto cleanup;
		}
		if (type[0] == 'D') {
			pod_table__delete(w->table, &info, obs);
			STAT_ADD(w, deleted, 1);
		} else {
			if (pod_table__apply(w->table, &info, obs, -1))
				fail(w, "watch: out of memory for pod %s/%s", info.pod.id.namespace,
				     info.pod.id.pod);
			if (type[0] == 'A')
				STAT_ADD(w, added, 1);
			else
				STAT_ADD(w, modified, 1);
		}
		set_rv(w, info.resource_version);
		sync_table_stats(w);
	} else {
		event_bad(w, "unknown type", line, len);
		goto cleanup;
	}
	/* a usable event: the stream works, and the view is complete up to now */
	w->got_event = true;
	atomic_max(&w->wm_base, obs);
	if (__atomic_load_n(&w->healthy_from, __ATOMIC_ACQUIRE) > obs)
		__atomic_store_n(&w->healthy_from, obs, __ATOMIC_RELEASE);
cleanup:
	json_decref(root);
	return err;
}

/* A non-200 answer: counted, logged with the Status message; the errno for it. */
static int http_error(struct kube_watch *w, const char *what, const struct kube_response *r)
{
	json_t *st = json_loadb(r->body, r->len, 0, NULL);
	const char *msg = str_or_empty(json_object_get(st, "message"));
	int err;

	STAT_ADD(w, http_errors, 1);
	if (r->status == 401 || r->status == 403) {
		STAT_ADD(w, auth_failures, 1);
		err = -EACCES;
	} else if (r->status >= 500) {
		err = -EAGAIN;
	} else {
		err = -EPROTO;
	}
	fail(w, "%s: HTTP %ld%s%s", what, r->status, *msg ? ": " : "", msg);
	json_decref(st);
	return err;
}

/*
 * Lists every pod, page by page, applying items as they come; then pods
 * the table has but the list did not are given up at gap_wm.  0, -ESTALE
 * (the continue token expired: list again), or another -errno.
 */
static int list_all(struct kube_watch *w, int64_t gap_wm)
{
	char *cont = NULL, *rv = NULL;
	int64_t sent_ms = 0;
	json_t *root = NULL;
	int err = 0;

	pod_table__list_begin(w->table);
	for (;;) {
		const json_t *meta, *items, *item;
		struct kube_response r;
		const char *next;
		json_error_t jerr;
		int64_t obs;
		size_t i;

		if (!cont)
			sent_ms = clock_wall_ms(); /* the list is a snapshot at least this recent */
		err = kube_client__list(w->client, w->page_limit, cont, &r);
		if (err)
			goto cleanup;
		if (r.status == 410) {
			STAT_ADD(w, relists_410, 1);
			fail(w, "list: HTTP 410, continue token expired, listing again");
			err = -ESTALE;
			goto cleanup;
		}
		if (r.status != 200) {
			err = http_error(w, "list", &r);
			goto cleanup;
		}
		obs = clock_wall_ms();
		json_decref(root);
		root = json_loadb(r.body, r.len, 0, &jerr);
		meta = json_object_get(root, "metadata");
		items = json_object_get(root, "items");
		if (!root || !json_is_array(items)) {
			fail(w, "list: not a PodList: %s", root ? "no items" : jerr.text);
			err = -EPROTO;
			goto cleanup;
		}
		STAT_ADD(w, list_pages, 1);
		json_array_foreach(items, i, item)
		{
			struct kube_pod_info info;

			if (kube_pod_parse(item, &info)) {
				STAT_ADD(w, bad_events, 1);
				continue;
			}
			if (pod_table__apply(w->table, &info, obs, gap_wm)) {
				err = -ENOMEM;
				fail(w, "list: out of memory");
				goto cleanup;
			}
		}
		sync_table_stats(w);
		if (!cont) {
			/* every page is of the first page's snapshot */
			free(rv);
			rv = strdup(str_or_empty(json_object_get(meta, "resourceVersion")));
			if (!rv) {
				err = -ENOMEM;
				goto cleanup;
			}
		}
		next = str_or_empty(json_object_get(meta, "continue"));
		free(cont);
		cont = NULL;
		if (!*next)
			break;
		cont = strdup(next);
		if (!cont) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	if (!*rv) {
		fail(w, "list: no metadata.resourceVersion");
		err = -EPROTO;
		goto cleanup;
	}
	pod_table__list_end(w->table, gap_wm);
	sync_table_stats(w);
	set_rv(w, rv);
	STAT_ADD(w, lists, 1);
	atomic_max(&w->wm_base, sent_ms);
	__atomic_store_n(&w->listed, 1, __ATOMIC_RELEASE);
	{
		struct pod_table_counts n;

		pod_table__counts(w->table, &n);
		pr_info("kube: listed %zu pods at resourceVersion %s\n", n.pods, rv);
	}
cleanup:
	json_decref(root);
	free(cont);
	free(rv);
	return err;
}

/*
 * One watch from w->rv.  0: the server ended it cleanly (resume at once);
 * -ESTALE: list again; else another -errno (back off, resume).
 */
static int watch_once(struct kube_watch *w, bool *was_healthy)
{
	const struct kube_client_watch_cb cb = {
		.connected = watch_connected,
		.line = watch_line,
		.ctx = w,
	};
	struct kube_response r;
	int err;

	w->stream_410 = false;
	w->got_event = false;
	err = kube_client__watch(w->client, w->rv, w->watch_timeout_s, &cb, &r);
	*was_healthy = w->got_event || (r.status == 200 && kube_watch__synced(w));
	watch_broken(w);
	if (err == -ESTALE && w->stream_410) {
		STAT_ADD(w, relists_410_stream, 1);
	} else if (err == -EPROTO && r.status == 200) {
		/* an in-stream ERROR other than 410: resume from the last resourceVersion */
	} else if (!err && r.status == 410) {
		STAT_ADD(w, relists_410, 1);
		fail(w, "watch: HTTP 410 (resourceVersion %s expired), listing again", w->rv);
		err = -ESTALE;
	} else if (!err && r.status != 200) {
		err = http_error(w, "watch", &r);
	} else if (!err) {
		STAT_ADD(w, stream_ends, 1);
		if (!*was_healthy)
			err = -ECONNRESET; /* closed at once: back off rather than spin */
	}
	return err;
}

/* Sleeps the next backoff step (exponential, jittered, bounded), or until stopped. */
static void backoff(struct kube_watch *w)
{
	uint64_t d = w->backoff_min_ms, r;
	struct timespec until;
	int64_t ms;

	for (uint32_t i = 0; i < w->fails && d < w->backoff_max_ms; i++)
		d *= 2;
	if (d > w->backoff_max_ms)
		d = w->backoff_max_ms;
	if (w->fails < 64)
		w->fails++;
	/* xorshift64: jitter in [d/2, d], so many collectors do not retry in step */
	w->rand ^= w->rand << 13;
	w->rand ^= w->rand >> 7;
	w->rand ^= w->rand << 17;
	r = d / 2 + w->rand % (d / 2 + 1);
	if (r < w->backoff_min_ms)
		r = w->backoff_min_ms;
	clock_gettime(CLOCK_MONOTONIC, &until);
	ms = (int64_t)r;
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&w->lock);
	while (!stopped(w) && pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&w->lock);
}

static void *run(void *arg)
{
	struct kube_watch *w = arg;
	bool need_list = true, after_list = false;

	while (!stopped(w)) {
		bool healthy;
		int err;

		if (need_list) {
			/* pods that vanish from the list go at the last complete time */
			err = list_all(w, kube_watch__watermark(w));
			if (err == -ECANCELED)
				break;
			if (err) {
				backoff(w);
				continue;
			}
			need_list = false;
			after_list = true;
		} else {
			STAT_ADD(w, reconnects, 1);
		}
		err = watch_once(w, &healthy);
		if (err == -ECANCELED)
			break;
		if (healthy) {
			w->fails = 0;
			recovered(w);
		}
		if (err == -ESTALE) {
			need_list = true;
			/* expired right after a fresh list: something is off, do not spin */
			if (after_list && !healthy)
				backoff(w);
		} else if (err) {
			backoff(w);
		}
		after_list = false;
	}
	return NULL;
}

/* ---- lifecycle ---- */

struct kube_watch *kube_watch__new(const struct kube_opts *opts, const struct kube_callbacks *cb,
				   char *why, size_t len)
{
	const struct kube_client_opts co = {
		.api_url = opts->api_url,
		.token_file = opts->token_file,
		.ca_file = opts->ca_file,
		.allow_http = opts->allow_http,
		.connect_timeout_ms = opts->connect_timeout_ms,
		.list_timeout_ms = opts->list_timeout_ms,
		.max_event_bytes = opts->max_event_bytes,
	};
	struct kube_watch *w = calloc(1, sizeof(*w));
	int err = 0;

	if (!w) {
		snprintf(why, len, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&w->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	w->healthy_from = INT64_MAX;
	w->page_limit = opts->page_limit ? opts->page_limit : 500;
	w->backoff_min_ms = opts->backoff_min_ms ? opts->backoff_min_ms : 200;
	w->backoff_max_ms = opts->backoff_max_ms ? opts->backoff_max_ms : 30000;
	if (w->backoff_max_ms < w->backoff_min_ms)
		w->backoff_max_ms = w->backoff_min_ms;
	w->lag_ms = opts->lag_ms < 0 ? 1000 : opts->lag_ms;
	w->settle_ms = opts->settle_ms ? opts->settle_ms : 200;
	w->watch_timeout_s = opts->watch_timeout_s ? opts->watch_timeout_s : 300;
	w->rand = (uint64_t)clock_wall_ms() ^ (uint64_t)(uintptr_t)w ^ ((uint64_t)getpid() << 32);
	if (!w->rand)
		w->rand = 88172645463325252ULL;

	/* URL, in-cluster settings, CA and token are checked here; a token error is also logged */
	w->client = kube_client__new(&co, client_error, w, why, len);
	if (!w->client) {
		err = -errno;
		goto cleanup;
	}
	w->table = pod_table__new(cb);
	if (!w->table) {
		snprintf(why, len, "out of memory");
		err = -ENOMEM;
		goto cleanup;
	}
	w->prev_err[0] = '\0';
	w->st.last_error[0] = '\0';
	return w;
cleanup:
	kube_watch__free(w);
	errno = -err;
	return NULL;
}

int kube_watch__start(struct kube_watch *w)
{
	int err;

	if (w->started)
		return -EALREADY;
	err = pthread_create(&w->thread, NULL, run, w);
	if (err) {
		pr_warn("kube: cannot start the watcher thread: %s\n", strerror(err));
		return -err;
	}
	w->started = true;
	return 0;
}

void kube_watch__stop(struct kube_watch *w)
{
	if (!w || !w->started || w->joined)
		return;
	pthread_mutex_lock(&w->lock);
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	kube_client__cancel(w->client);
	pthread_join(w->thread, NULL);
	w->joined = true;
}

void kube_watch__free(struct kube_watch *w)
{
	if (!w)
		return;
	kube_watch__stop(w);
	kube_client__free(w->client);
	pod_table__free(w->table);
	free(w->rv);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
