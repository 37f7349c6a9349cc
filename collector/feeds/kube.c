// SPDX-License-Identifier: BSD-2-Clause
/* Kubernetes pod watch: list + watch /api/v1/pods, turned into IP assign/unassign calls. */
#define _GNU_SOURCE
#include "kube.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "ip.h"
#include "log.h"
#include "token.h"

#define SA_DIR		    "/var/run/secrets/kubernetes.io/serviceaccount"
#define ERR_BODY_MAX	    4096 /* bytes kept of a non-200 body, for its Status.message */
#define POLL_MS		    250	 /* longest curl_multi_poll; stop uses curl_multi_wakeup anyway */
#define WATCH_IDLE_EXTRA_MS 30000
#define TABLE_MIN_BUCKETS   1024

/* ---- pod parsing (pure) ---- */

static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int kube_parse_time(const char *s, int64_t *ms)
{
	int year, mon, day, hour, min, sec, frac_ms = 0, off = 0;
	struct tm tm = { 0 };
	const char *p;
	time_t t;

	if (!s || strlen(s) < 20)
		return -EINVAL;
	if (digits(s, 4, &year) || s[4] != '-' || digits(s + 5, 2, &mon) || s[7] != '-' ||
	    digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &hour) ||
	    s[13] != ':' || digits(s + 14, 2, &min) || s[16] != ':' || digits(s + 17, 2, &sec))
		return -EINVAL;
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
		return -EINVAL;
	p = s + 19;
	if (*p == '.') {
		int n = 0;

		/* the fraction is cut to milliseconds: never later than the real time */
		for (p++; isdigit((unsigned char)*p); p++, n++)
			if (n < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
		if (n == 0)
			return -EINVAL;
		for (; n < 3; n++)
			frac_ms *= 10;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		off = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int oh, om;

		if (digits(p + 1, 2, &oh) || digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return -EINVAL;
		off = (oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
	} else {
		return -EINVAL;
	}
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec == 60 ? 59 : sec; /* a leap second reads as :59 (earlier, never later) */
	t = timegm(&tm);
	if (t == (time_t)-1 && !(year == 1969 && mon == 12 && day == 31))
		return -EINVAL;
	*ms = ((int64_t)t - off) * 1000 + frac_ms;
	return 0;
}

static const char *str_or_empty(const json_t *j)
{
	const char *s = json_string_value(j);

	return s ? s : "";
}

static const json_t *get(const json_t *obj, const char *key)
{
	return json_object_get(obj, key); /* NULL when obj is not an object */
}

/* The owner a workload is named after: the controller reference, else the first. */
static const json_t *owner_ref(const json_t *meta)
{
	const json_t *refs = get(meta, "ownerReferences"), *r;
	size_t i;

	if (!json_is_array(refs) || json_array_size(refs) == 0)
		return NULL;
	json_array_foreach(refs, i, r) if (json_is_true(get(r, "controller"))) return r;
	return json_array_get(refs, 0);
}

static void parse_workload(const json_t *meta, const json_t *labels, struct kube_pod_info *out)
{
	const json_t *ref = owner_ref(meta);
	const char *kind = str_or_empty(get(ref, "kind")), *name = str_or_empty(get(ref, "name"));
	const char *hash = str_or_empty(get(labels, "pod-template-hash"));
	size_t nl = strlen(name), hl = strlen(hash);

	if (!ref || !*name) {
		out->pod.workload = out->pod.name;
		return;
	}
	/* Deployment "web" -> ReplicaSet "web-<pod-template-hash>" -> pods */
	if (strcmp(kind, "ReplicaSet") == 0 && hl && nl > hl + 1 &&
	    strcmp(name + nl - hl, hash) == 0 && name[nl - hl - 1] == '-' &&
	    nl - hl - 1 < sizeof(out->workload_buf)) {
		memcpy(out->workload_buf, name, nl - hl - 1);
		out->workload_buf[nl - hl - 1] = '\0';
		out->pod.workload = out->workload_buf;
		return;
	}
	out->pod.workload = name;
}

static void add_ip(struct kube_pod_info *out, const char *s)
{
	uint8_t ip[16];

	if (ip_parse_str(s, ip))
		return;
	for (size_t i = 0; i < out->n_ips; i++)
		if (memcmp(out->ips[i], ip, 16) == 0)
			return;
	if (out->n_ips < KUBE_POD_IPS_MAX)
		memcpy(out->ips[out->n_ips++], ip, 16);
}

int kube_pod_parse(const json_t *obj, struct kube_pod_info *out)
{
	const json_t *meta = get(obj, "metadata"), *spec = get(obj, "spec"),
		     *status = get(obj, "status");
	const json_t *labels = get(meta, "labels"), *v, *ips;
	const char *app, *phase, *del;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->ready_ms = out->delete_requested_ms = out->finished_ms = -1;
	out->pod.uid = str_or_empty(get(meta, "uid"));
	out->pod.name = str_or_empty(get(meta, "name"));
	out->pod.namespace = str_or_empty(get(meta, "namespace"));
	if (!json_is_object(obj) || !*out->pod.uid || !*out->pod.name || !*out->pod.namespace)
		return -EINVAL;
	/* watch objects say their kind; list items do not */
	if (get(obj, "kind") && strcmp(str_or_empty(get(obj, "kind")), "Pod") != 0)
		return -EINVAL;
	out->resource_version = str_or_empty(get(meta, "resourceVersion"));
	app = str_or_empty(get(labels, "app.kubernetes.io/name"));
	out->pod.app = *app ? app : str_or_empty(get(labels, "app"));
	parse_workload(meta, labels, out);
	out->pod.node = str_or_empty(get(spec, "nodeName"));
	out->host_network = json_is_true(get(spec, "hostNetwork"));

	del = json_string_value(get(meta, "deletionTimestamp"));
	if (del) {
		const json_t *g = get(meta, "deletionGracePeriodSeconds");
		int64_t ts, grace = 0;

		out->deleting = true;
		/* deletionTimestamp = when the delete was asked + the grace period */
		if (!json_is_integer(g))
			g = get(spec, "terminationGracePeriodSeconds");
		if (json_is_integer(g) && json_integer_value(g) > 0 &&
		    json_integer_value(g) < 100LL * 365 * 86400)
			grace = json_integer_value(g);
		if (kube_parse_time(del, &ts) == 0)
			out->delete_requested_ms = ts - grace * 1000;
	}

	phase = str_or_empty(get(status, "phase"));
	out->terminal = strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;

	json_array_foreach(get(status, "conditions"), i, v)
	{
		const char *type = str_or_empty(get(v, "type"));
		int64_t t;

		/* PodHasNetwork was renamed PodReadyToStartContainers in 1.29 */
		if ((strcmp(type, "PodReadyToStartContainers") == 0 ||
		     strcmp(type, "PodHasNetwork") == 0) &&
		    strcmp(str_or_empty(get(v, "status")), "True") == 0 &&
		    kube_parse_time(json_string_value(get(v, "lastTransitionTime")), &t) == 0 &&
		    (out->ready_ms < 0 || t < out->ready_ms))
			out->ready_ms = t;
	}
	if (out->terminal) {
		/* regular containers only: init containers end before the pod's life starts */
		json_array_foreach(get(status, "containerStatuses"), i, v)
		{
			const json_t *term = get(get(v, "state"), "terminated");
			int64_t t;

			if (kube_parse_time(json_string_value(get(term, "finishedAt")), &t) == 0 &&
			    (out->finished_ms < 0 || t < out->finished_ms))
				out->finished_ms = t;
		}
	}

	ips = get(status, "podIPs");
	json_array_foreach(ips, i, v) add_ip(out, json_string_value(get(v, "ip")));
	/* API servers before 1.16 (dual-stack) only have status.podIP */
	if (out->n_ips == 0)
		add_ip(out, json_string_value(get(status, "podIP")));
	return 0;
}

int64_t kube_pod_assign_ms(const struct kube_pod_info *p, int64_t observed_ms)
{
	/*
	 * The IP exists from sandbox network setup; lastTransitionTime is cut
	 * to the second, so +1 s is never before the real assignment.
	 */
	if (p->ready_ms >= 0 && p->ready_ms + 1000 < observed_ms)
		return p->ready_ms + 1000;
	return observed_ms;
}

int64_t kube_pod_end_ms(const struct kube_pod_info *p, int64_t observed_ms)
{
	int64_t t = observed_ms;

	if (p->deleting && p->delete_requested_ms >= 0 && p->delete_requested_ms < t)
		t = p->delete_requested_ms;
	if (p->terminal && p->finished_ms >= 0 && p->finished_ms < t)
		t = p->finished_ms;
	return t;
}

/* ---- the pod table: uid -> what was last emitted ---- */

struct pod_entry {
	struct pod_entry *next;
	char *uid, *name, *ns, *app, *workload, *node;
	uint8_t ips[KUBE_POD_IPS_MAX][16];
	int64_t since[KUBE_POD_IPS_MAX]; /* when each IP was assigned */
	size_t n_ips;
	uint64_t gen; /* the list (or watch) generation that last saw it */
	bool host_network;
	bool ended; /* its IPs were given up: never assigned again */
};

struct pod_table {
	struct pod_entry **b;
	size_t nb, count, host_network, ips;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct pod_entry **table_slot(struct pod_table *t, const char *uid)
{
	struct pod_entry **pp = &t->b[hash_str(uid) & (t->nb - 1)];

	while (*pp && strcmp((*pp)->uid, uid) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void entry_free(struct pod_entry *e)
{
	if (!e)
		return;
	free(e->uid);
	free(e->name);
	free(e->ns);
	free(e->app);
	free(e->workload);
	free(e->node);
	free(e);
}

static int table_init(struct pod_table *t)
{
	t->nb = TABLE_MIN_BUCKETS;
	t->b = calloc(t->nb, sizeof(*t->b));
	return t->b ? 0 : -ENOMEM;
}

static void table_free(struct pod_table *t)
{
	for (size_t i = 0; t->b && i < t->nb; i++)
		while (t->b[i]) {
			struct pod_entry *e = t->b[i];

			t->b[i] = e->next;
			entry_free(e);
		}
	free(t->b);
	memset(t, 0, sizeof(*t));
}

static void table_grow(struct pod_table *t)
{
	size_t nb = t->nb * 2;
	struct pod_entry **b = calloc(nb, sizeof(*b));

	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < t->nb; i++)
		while (t->b[i]) {
			struct pod_entry *e = t->b[i];

			t->b[i] = e->next;
			e->next = b[hash_str(e->uid) & (nb - 1)];
			b[hash_str(e->uid) & (nb - 1)] = e;
		}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

/* ---- the watcher ---- */

enum xfer_mode { XFER_LIST, XFER_WATCH };

struct kube_watch {
	/* options, strings owned */
	char *api_url, *token_file, *ca_file;
	bool allow_http;
	uint32_t page_limit, backoff_min_ms, backoff_max_ms, settle_ms, connect_timeout_ms,
	    list_timeout_ms, watch_timeout_s;
	int64_t lag_ms;
	size_t max_event_bytes;
	struct kube_callbacks cb;

	pthread_t thread;
	bool started, joined;
	int stop;	      /* atomic */
	pthread_mutex_t lock; /* stats, last_error, and the stop condition */
	pthread_cond_t cond;
	struct kube_stats st;

	/* watermark, atomics (see kube_watch__watermark) */
	int64_t wm_base;      /* list time, last event time, or the frozen value */
	int64_t wm_pub;	      /* highest value ever returned: the watermark never goes back */
	int64_t healthy_from; /* INT64_MAX: no healthy watch */
	int listed;

	/* watcher-thread state below */
	CURLM *multi;
	CURL *easy;
	struct curl_slist *headers;
	char curl_err[CURL_ERROR_SIZE];
	char *token;
	struct stat token_st;
	bool token_loaded;
	char *rv; /* last resourceVersion, opaque */
	struct pod_table table;
	uint64_t gen;
	uint32_t fails;
	uint64_t rand;
	char prev_err[KUBE_ERROR_MAX];

	/* one transfer */
	enum xfer_mode mode;
	long status;
	bool headers_done;
	char *buf; /* list body, error body, or the watch line being assembled */
	size_t len, cap;
	int stream_err;	 /* set by the body callback to end the watch: -ESTALE, -EMSGSIZE, ... */
	bool stream_410; /* stream_err came from an in-stream ERROR 410 */
	bool got_event;	 /* a usable event or bookmark arrived on this watch */
	int64_t last_rx_ms;
};

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
	pthread_mutex_lock(&w->lock);
	*out = w->st;
	pthread_mutex_unlock(&w->lock);
}

#define STAT_ADD(w, field, n)                     \
	do {                                      \
		pthread_mutex_lock(&(w)->lock);   \
		(w)->st.field += (n);             \
		pthread_mutex_unlock(&(w)->lock); \
	} while (0)

static void sync_table_stats(struct kube_watch *w)
{
	pthread_mutex_lock(&w->lock);
	w->st.pods = w->table.count;
	w->st.ips = w->table.ips;
	w->st.host_network_pods = w->table.host_network;
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

/* ---- emitting ---- */

static struct kube_pod entry_pod(const struct pod_entry *e)
{
	return (struct kube_pod){ .uid = e->uid,
				  .name = e->name,
				  .namespace = e->ns,
				  .app = e->app,
				  .workload = e->workload,
				  .node = e->node };
}

static void emit_assign(struct kube_watch *w, struct pod_entry *e, const uint8_t ip[16], int64_t t)
{
	struct kube_pod pod = entry_pod(e);

	if (w->cb.assign)
		w->cb.assign(w->cb.ctx, ip, &pod, t);
}

static void emit_unassign(struct kube_watch *w, struct pod_entry *e, size_t i, int64_t t)
{
	struct kube_pod pod = entry_pod(e);

	/* never before its own assignment: a range cannot end before it starts */
	if (t < e->since[i])
		t = e->since[i];
	if (w->cb.unassign)
		w->cb.unassign(w->cb.ctx, e->ips[i], &pod, t);
}

/* Gives up every IP of `e` at t; it is never assigned again. */
static void end_entry(struct kube_watch *w, struct pod_entry *e, int64_t t)
{
	for (size_t i = 0; i < e->n_ips; i++)
		emit_unassign(w, e, i, t);
	w->table.ips -= e->n_ips;
	e->n_ips = 0;
	e->ended = true;
}

static bool same_identity(const struct pod_entry *e, const struct kube_pod *p)
{
	return strcmp(e->name, p->name) == 0 && strcmp(e->ns, p->namespace) == 0 &&
	       strcmp(e->app, p->app) == 0 && strcmp(e->workload, p->workload) == 0 &&
	       strcmp(e->node, p->node) == 0;
}

/* 0 or -ENOMEM; on failure the entry keeps its old identity. */
static int set_identity(struct pod_entry *e, const struct kube_pod *p)
{
	char *name = strdup(p->name), *ns = strdup(p->namespace), *app = strdup(p->app),
	     *wl = strdup(p->workload), *node = strdup(p->node);

	if (!name || !ns || !app || !wl || !node) {
		free(name);
		free(ns);
		free(app);
		free(wl);
		free(node);
		return -ENOMEM;
	}
	free(e->name);
	free(e->ns);
	free(e->app);
	free(e->workload);
	free(e->node);
	e->name = name;
	e->ns = ns;
	e->app = app;
	e->workload = wl;
	e->node = node;
	return 0;
}

static struct pod_entry *entry_new(struct kube_watch *w, const struct kube_pod_info *p)
{
	struct pod_entry *e = calloc(1, sizeof(*e)), **slot;

	if (!e || !(e->uid = strdup(p->pod.uid)) || set_identity(e, &p->pod)) {
		entry_free(e);
		return NULL;
	}
	e->host_network = p->host_network;
	if (w->table.count >= w->table.nb)
		table_grow(&w->table);
	slot = table_slot(&w->table, e->uid);
	e->next = *slot;
	*slot = e;
	w->table.count++;
	w->table.host_network += e->host_network;
	return e;
}

static void entry_remove(struct kube_watch *w, struct pod_entry **slot)
{
	struct pod_entry *e = *slot;

	*slot = e->next;
	w->table.count--;
	w->table.host_network -= e->host_network;
	w->table.ips -= e->n_ips;
	entry_free(e);
}

static bool has_ip(const uint8_t (*ips)[16], size_t n, const uint8_t ip[16])
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(ips[i], ip, 16) == 0)
			return true;
	return false;
}

/*
 * A pod's current state (ADDED, MODIFIED, or a list item) seen at obs.
 * gap_wm >= 0 for list items after a gap: an IP gone from a pod went while
 * we were not watching, so it is given up at the last complete time.
 */
static int apply_pod(struct kube_watch *w, const struct kube_pod_info *p, int64_t obs,
		     int64_t gap_wm)
{
	struct pod_entry *e = *table_slot(&w->table, p->pod.uid);
	bool ending = p->terminal || p->deleting;
	int64_t t;

	if (!e) {
		e = entry_new(w, p);
		if (!e)
			return -ENOMEM;
		/* first seen already ending: its IP may be someone else's soon, never assign */
		e->ended = ending;
	}
	e->gen = w->gen;
	/* hostNetwork pods share the node's IP (and spec.hostNetwork is immutable) */
	if (e->host_network || e->ended)
		return 0;
	if (ending) {
		end_entry(w, e, kube_pod_end_ms(p, obs));
		return 0;
	}
	if (!same_identity(e, &p->pod)) {
		/* relabelled: the old identity ends and the new one starts, now */
		for (size_t i = 0; i < e->n_ips; i++)
			emit_unassign(w, e, i, obs);
		if (set_identity(e, &p->pod))
			return -ENOMEM;
		for (size_t i = 0; i < e->n_ips; i++) {
			e->since[i] = obs;
			emit_assign(w, e, e->ips[i], obs);
		}
	}
	for (size_t i = 0; i < e->n_ips;) {
		if (has_ip(p->ips, p->n_ips, e->ips[i])) {
			i++;
			continue;
		}
		t = gap_wm >= 0 ? gap_wm : obs;
		emit_unassign(w, e, i, t);
		e->n_ips--;
		w->table.ips--;
		memmove(e->ips[i], e->ips[i + 1], (e->n_ips - i) * 16);
		memmove(&e->since[i], &e->since[i + 1], (e->n_ips - i) * sizeof(e->since[0]));
	}
	t = kube_pod_assign_ms(p, obs);
	for (size_t i = 0; i < p->n_ips; i++) {
		if (has_ip((const uint8_t(*)[16])e->ips, e->n_ips, p->ips[i]) ||
		    e->n_ips >= KUBE_POD_IPS_MAX)
			continue;
		memcpy(e->ips[e->n_ips], p->ips[i], 16);
		e->since[e->n_ips] = t;
		e->n_ips++;
		w->table.ips++;
		emit_assign(w, e, p->ips[i], t);
	}
	return 0;
}

static void apply_deleted(struct kube_watch *w, const struct kube_pod_info *p, int64_t obs)
{
	struct pod_entry **slot = table_slot(&w->table, p->pod.uid);
	struct pod_entry *e = *slot;

	if (!e)
		return;
	if (!e->host_network && !e->ended)
		end_entry(w, e, kube_pod_end_ms(p, obs));
	entry_remove(w, slot);
}

/* After a complete list: pods it did not have vanished while we were not watching. */
static void sweep(struct kube_watch *w, int64_t gap_wm)
{
	for (size_t i = 0; i < w->table.nb; i++) {
		struct pod_entry **slot = &w->table.b[i];

		while (*slot) {
			struct pod_entry *e = *slot;

			if (e->gen == w->gen) {
				slot = &e->next;
				continue;
			}
			if (!e->host_network && !e->ended)
				end_entry(w, e, gap_wm);
			entry_remove(w, slot);
		}
	}
}

/* ---- HTTP ---- */

static int curl_to_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OK:
		return 0;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return -EPROTO;
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		return -ECONNRESET;
	default:
		return -EIO;
	}
}

static int buf_append(struct kube_watch *w, const char *p, size_t n, size_t max)
{
	if (w->len + n > max)
		return -EMSGSIZE;
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		char *b;

		while (cap < w->len + n + 1)
			cap *= 2;
		b = realloc(w->buf, cap);
		if (!b)
			return -ENOMEM;
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	w->buf[w->len] = '\0';
	return 0;
}

/* The watch stream is connected (HTTP 200): healthy once it settles or an event arrives. */
static void watch_connected(struct kube_watch *w)
{
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

/* One watch line: {"type": ..., "object": {...}}. */
static void watch_line(struct kube_watch *w, const char *line, size_t len)
{
	struct kube_pod_info info;
	const char *type;
	json_error_t jerr;
	json_t *root, *obj;
	int64_t obs = clock_wall_ms();
	size_t i;

	for (i = 0; i < len && isspace((unsigned char)line[i]); i++)
		;
	if (i == len)
		return; /* blank line: keep-alive, not an event */
	root = json_loadb(line, len, 0, &jerr);
	if (!root) {
		event_bad(w, jerr.text, line, len);
		return;
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
		w->stream_err = code == 410 ? -ESTALE : -EPROTO;
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
			apply_deleted(w, &info, obs);
			STAT_ADD(w, deleted, 1);
		} else {
			if (apply_pod(w, &info, obs, -1))
				fail(w, "watch: out of memory for pod %s/%s", info.pod.namespace,
				     info.pod.name);
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
}

/* Splits the stream into lines, which may be cut anywhere across chunks. */
static int watch_feed(struct kube_watch *w, const char *p, size_t n)
{
	while (n && !w->stream_err) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;

		if (w->len + take > w->max_event_bytes) {
			STAT_ADD(w, oversized_events, 1);
			fail(w, "watch: event over %zu bytes, reconnecting", w->max_event_bytes);
			return -EMSGSIZE;
		}
		if (nl && w->len == 0) {
			watch_line(w, p, take); /* the whole line is in this chunk */
		} else {
			int err = buf_append(w, p, take, w->max_event_bytes);

			if (err)
				return err;
			if (nl) {
				watch_line(w, w->buf, w->len);
				w->len = 0;
			}
		}
		if (!nl)
			break;
		p = nl + 1;
		n -= take + 1;
	}
	return w->stream_err;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct kube_watch *w = ud;
	size_t len = size * n;

	if ((len == 2 && p[0] == '\r' && p[1] == '\n') || (len == 1 && p[0] == '\n')) {
		curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &w->status);
		if (w->status >= 200)
			w->headers_done = true;
		if (w->mode == XFER_WATCH && w->status == 200)
			watch_connected(w);
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct kube_watch *w = ud;
	size_t len = size * n;
	int err;

	STAT_ADD(w, bytes, len);
	w->last_rx_ms = clock_mono_ms();
	if (w->status != 200) {
		/* an error body: keep its start for the Status message */
		if (w->len < ERR_BODY_MAX)
			buf_append(w, p, len < ERR_BODY_MAX - w->len ? len : ERR_BODY_MAX - w->len,
				   ERR_BODY_MAX);
		return len;
	}
	if (w->mode == XFER_LIST) {
		err = buf_append(w, p, len, KUBE_LIST_PAGE_MAX);
	} else {
		err = watch_feed(w, p, len);
	}
	if (err) {
		if (!w->stream_err)
			w->stream_err = err;
		return 0; /* CURLE_WRITE_ERROR: ends the transfer */
	}
	return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	return stopped(ud) ? 1 : 0;
}

/* Re-reads the token file when it changed (the kubelet rotates projected tokens). */
static int refresh_token(struct kube_watch *w)
{
	char buf[TOKEN_MAX_LEN + 64], *hdr = NULL, *tok;
	struct curl_slist *h = NULL;
	struct stat st;
	size_t len = 0;
	int fd, err = 0;

	if (!w->token_file)
		return 0;
	if (stat(w->token_file, &st)) {
		err = -errno;
		fail(w, "token file %s: %s", w->token_file, strerror(-err));
		return w->token_loaded ? 0 : err; /* the previous token stays in force */
	}
	if (w->token_loaded && st.st_dev == w->token_st.st_dev && st.st_ino == w->token_st.st_ino &&
	    st.st_size == w->token_st.st_size && st.st_mtim.tv_sec == w->token_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == w->token_st.st_mtim.tv_nsec &&
	    st.st_ctim.tv_sec == w->token_st.st_ctim.tv_sec &&
	    st.st_ctim.tv_nsec == w->token_st.st_ctim.tv_nsec)
		return 0;
	fd = open(w->token_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		fail(w, "token file %s: %s", w->token_file, strerror(-err));
		return w->token_loaded ? 0 : err;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == sizeof(buf) - 1)
			break;
	}
	close(fd);
	buf[len] = '\0';
	if (token_normalize(buf, &len)) {
		fail(w, "token file %s: expected one token of 1 to %d printable characters",
		     w->token_file, TOKEN_MAX_LEN);
		err = w->token_loaded ? 0 : -EINVAL;
		goto cleanup;
	}
	tok = strdup(buf);
	if (!tok || asprintf(&hdr, "Authorization: Bearer %s", buf) < 0 ||
	    !(h = curl_slist_append(NULL, "Accept: application/json")) ||
	    !curl_slist_append(h, hdr)) {
		free(tok);
		curl_slist_free_all(h);
		err = w->token_loaded ? 0 : -ENOMEM;
		goto cleanup;
	}
	if (w->token_loaded)
		pr_info("kube: token file %s changed, using the new token\n", w->token_file);
	free(w->token);
	w->token = tok;
	curl_slist_free_all(w->headers);
	w->headers = h;
	w->token_st = st;
	w->token_loaded = true;
cleanup:
	if (hdr) {
		explicit_bzero(hdr, strlen(hdr));
		free(hdr);
	}
	explicit_bzero(buf, sizeof(buf));
	return err;
}

/*
 * One GET.  Returns 0 when the transfer completed (w->status says how) or
 * a negative errno: transport (logged here), -ECANCELED (stopped), or the
 * body callback's w->stream_err.
 */
static int perform(struct kube_watch *w, const char *url, enum xfer_mode mode)
{
	CURLMcode mc = CURLM_OK;
	CURLcode res = CURLE_OK;
	int64_t idle_ms = (int64_t)w->watch_timeout_s * 1000 + WATCH_IDLE_EXTRA_MS;
	bool done = false;
	CURLMsg *msg;
	const char *what = mode == XFER_LIST ? "list" : "watch";
	int running, q, err;

	err = refresh_token(w);
	if (err)
		return err;
	w->mode = mode;
	w->status = 0;
	w->headers_done = false;
	w->len = 0;
	w->stream_err = 0;
	w->stream_410 = false;
	w->got_event = false;
	w->last_rx_ms = clock_mono_ms();
	w->curl_err[0] = '\0';
	curl_easy_setopt(w->easy, CURLOPT_URL, url);
	curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, w->headers);
	/* lists may come gzip'd; a watch must not (it would hold events back) */
	curl_easy_setopt(w->easy, CURLOPT_ACCEPT_ENCODING, mode == XFER_LIST ? "" : NULL);
	curl_easy_setopt(w->easy, CURLOPT_TIMEOUT_MS,
			 mode == XFER_LIST ? (long)w->list_timeout_ms : 0L);
	mc = curl_multi_add_handle(w->multi, w->easy);
	if (mc != CURLM_OK) {
		fail(w, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
		return -ENOMEM;
	}
	while (!done) {
		mc = curl_multi_perform(w->multi, &running);
		if (mc != CURLM_OK)
			break;
		while ((msg = curl_multi_info_read(w->multi, &q)))
			if (msg->msg == CURLMSG_DONE) {
				res = msg->data.result;
				done = true;
			}
		if (done || !running)
			break;
		if (stopped(w)) {
			res = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		/* no byte for longer than the server was asked to keep the watch: dead peer */
		if (mode == XFER_WATCH && clock_mono_ms() - w->last_rx_ms > idle_ms) {
			res = CURLE_OPERATION_TIMEDOUT;
			snprintf(w->curl_err, sizeof(w->curl_err), "no data for %lld ms",
				 (long long)idle_ms);
			break;
		}
		mc = curl_multi_poll(w->multi, NULL, 0, POLL_MS, NULL);
		if (mc != CURLM_OK)
			break;
	}
	curl_multi_remove_handle(w->multi, w->easy);
	if (mc != CURLM_OK) {
		fail(w, "%s %s: curl_multi: %s", what, w->api_url, curl_multi_strerror(mc));
		STAT_ADD(w, transport_errors, 1);
		return -EIO;
	}
	if (stopped(w))
		return -ECANCELED;
	if (w->stream_err)
		return w->stream_err;
	if (res != CURLE_OK) {
		err = curl_to_errno(res);
		STAT_ADD(w, transport_errors, 1);
		fail(w, "%s %s: %s", what, w->api_url,
		     w->curl_err[0] ? w->curl_err : curl_easy_strerror(res));
		return err;
	}
	return 0;
}

/* A non-200 answer: counted, logged with the Status message; the errno for it. */
static int http_error(struct kube_watch *w, const char *what)
{
	json_t *st = json_loadb(w->buf ? w->buf : "", w->len, 0, NULL);
	const char *msg = str_or_empty(json_object_get(st, "message"));
	int err;

	STAT_ADD(w, http_errors, 1);
	if (w->status == 401 || w->status == 403) {
		STAT_ADD(w, auth_failures, 1);
		err = -EACCES;
	} else if (w->status >= 500) {
		err = -EAGAIN;
	} else {
		err = -EPROTO;
	}
	fail(w, "%s: HTTP %ld%s%s", what, w->status, *msg ? ": " : "", msg);
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
	char *cont = NULL, *url = NULL, *esc = NULL, *rv = NULL;
	int64_t sent_ms = 0;
	json_t *root = NULL;
	int err = 0;

	w->gen++;
	for (;;) {
		const json_t *meta, *items, *item;
		const char *next;
		json_error_t jerr;
		int64_t obs;
		size_t i;

		free(url);
		url = NULL;
		if (cont) {
			esc = curl_easy_escape(w->easy, cont, 0);
			if (!esc) {
				err = -ENOMEM;
				goto cleanup;
			}
		}
		if (asprintf(&url, "%s/api/v1/pods?limit=%u%s%s", w->api_url, w->page_limit,
			     esc ? "&continue=" : "", esc ? esc : "") < 0) {
			url = NULL;
			err = -ENOMEM;
			goto cleanup;
		}
		curl_free(esc);
		esc = NULL;
		if (!cont)
			sent_ms = clock_wall_ms(); /* the list is a snapshot at least this recent */
		err = perform(w, url, XFER_LIST);
		if (err == -EMSGSIZE)
			fail(w, "list: a page over %u bytes", KUBE_LIST_PAGE_MAX);
		if (err)
			goto cleanup;
		if (w->status == 410) {
			STAT_ADD(w, relists_410, 1);
			fail(w, "list: HTTP 410, continue token expired, listing again");
			err = -ESTALE;
			goto cleanup;
		}
		if (w->status != 200) {
			err = http_error(w, "list");
			goto cleanup;
		}
		obs = clock_wall_ms();
		json_decref(root);
		root = json_loadb(w->buf ? w->buf : "", w->len, 0, &jerr);
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
			if (apply_pod(w, &info, obs, gap_wm)) {
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
	sweep(w, gap_wm);
	sync_table_stats(w);
	set_rv(w, rv);
	STAT_ADD(w, lists, 1);
	atomic_max(&w->wm_base, sent_ms);
	__atomic_store_n(&w->listed, 1, __ATOMIC_RELEASE);
	pr_info("kube: listed %zu pods at resourceVersion %s\n", w->table.count, rv);
cleanup:
	json_decref(root);
	curl_free(esc);
	free(url);
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
	char *url = NULL, *esc = curl_easy_escape(w->easy, w->rv, 0);
	int err;

	*was_healthy = false;
	if (!esc || asprintf(&url,
			     "%s/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=%s"
			     "&timeoutSeconds=%u",
			     w->api_url, esc, w->watch_timeout_s) < 0) {
		curl_free(esc);
		return -ENOMEM;
	}
	curl_free(esc);
	err = perform(w, url, XFER_WATCH);
	*was_healthy = w->got_event || (w->status == 200 && kube_watch__synced(w));
	watch_broken(w);
	if (err == -ESTALE && w->stream_410) {
		STAT_ADD(w, relists_410_stream, 1);
	} else if (err == -EPROTO && w->status == 200) {
		/* an in-stream ERROR other than 410: resume from the last resourceVersion */
	} else if (!err && w->status == 410) {
		STAT_ADD(w, relists_410, 1);
		fail(w, "watch: HTTP 410 (resourceVersion %s expired), listing again", w->rv);
		err = -ESTALE;
	} else if (!err && w->status != 200) {
		err = http_error(w, "watch");
	} else if (!err) {
		STAT_ADD(w, stream_ends, 1);
		if (!*was_healthy)
			err = -ECONNRESET; /* closed at once: back off rather than spin */
	}
	free(url);
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

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

struct kube_watch *kube_watch__new(const struct kube_opts *opts, const struct kube_callbacks *cb,
				   char *why, size_t len)
{
	const char *token_file = opts->token_file, *ca_file = opts->ca_file;
	struct kube_watch *w = calloc(1, sizeof(*w));
	char *incluster = NULL;
	bool oom = false;
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
	w->cb = *cb;
	if (!opts->api_url) {
		const char *host = getenv("KUBERNETES_SERVICE_HOST");
		const char *port = getenv("KUBERNETES_SERVICE_PORT");

		if (!host || !*host || !port || !*port) {
			snprintf(why, len,
				 "no API server URL and KUBERNETES_SERVICE_HOST/PORT unset "
				 "(not in a cluster)");
			err = -EINVAL;
			goto cleanup;
		}
		if (asprintf(&incluster, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
			     host, port) < 0) {
			incluster = NULL;
			oom = true;
		}
		if (!token_file)
			token_file = SA_DIR "/token";
		if (!ca_file)
			ca_file = SA_DIR "/ca.crt";
	}
	w->api_url = incluster ? incluster : dup_or_null(opts->api_url, &oom);
	incluster = NULL;
	w->token_file = dup_or_null(token_file, &oom);
	w->ca_file = dup_or_null(ca_file, &oom);
	if (oom || !w->api_url) {
		snprintf(why, len, "out of memory");
		err = -ENOMEM;
		goto cleanup;
	}
	{
		size_t n = strlen(w->api_url);

		while (n && w->api_url[n - 1] == '/')
			w->api_url[--n] = '\0';
	}
	if (strncmp(w->api_url, "https://", 8) != 0 &&
	    !(opts->allow_http && strncmp(w->api_url, "http://", 7) == 0)) {
		snprintf(why, len, "API server URL %s: expected https://HOST[:PORT]%s", w->api_url,
			 opts->allow_http ? " or http://" : "");
		err = -EINVAL;
		goto cleanup;
	}
	if (w->ca_file && access(w->ca_file, R_OK)) {
		err = -errno;
		snprintf(why, len, "CA file %s: %s", w->ca_file, strerror(-err));
		goto cleanup;
	}
	w->allow_http = opts->allow_http;
	w->page_limit = opts->page_limit ? opts->page_limit : 500;
	w->backoff_min_ms = opts->backoff_min_ms ? opts->backoff_min_ms : 200;
	w->backoff_max_ms = opts->backoff_max_ms ? opts->backoff_max_ms : 30000;
	if (w->backoff_max_ms < w->backoff_min_ms)
		w->backoff_max_ms = w->backoff_min_ms;
	w->lag_ms = opts->lag_ms < 0 ? 1000 : opts->lag_ms;
	w->settle_ms = opts->settle_ms ? opts->settle_ms : 200;
	w->connect_timeout_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms : 5000;
	w->list_timeout_ms = opts->list_timeout_ms ? opts->list_timeout_ms : 60000;
	w->watch_timeout_s = opts->watch_timeout_s ? opts->watch_timeout_s : 300;
	w->max_event_bytes = opts->max_event_bytes ? opts->max_event_bytes : KUBE_EVENT_MAX;
	w->rand = (uint64_t)clock_wall_ms() ^ (uint64_t)(uintptr_t)w ^ ((uint64_t)getpid() << 32);
	if (!w->rand)
		w->rand = 88172645463325252ULL;

	if (table_init(&w->table)) {
		snprintf(why, len, "out of memory");
		err = -ENOMEM;
		goto cleanup;
	}
	w->multi = curl_multi_init();
	w->easy = curl_easy_init();
	if (!w->multi || !w->easy) {
		snprintf(why, len, "libcurl initialisation failed");
		err = -ENOMEM;
		goto cleanup;
	}
	curl_easy_setopt(w->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->easy, CURLOPT_PROTOCOLS_STR, w->allow_http ? "http,https" : "https");
	curl_easy_setopt(w->easy, CURLOPT_ERRORBUFFER, w->curl_err);
	curl_easy_setopt(w->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)w->connect_timeout_ms);
	curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(w->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(w->easy, CURLOPT_HEADERDATA, w);
	curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(w->easy, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(w->easy, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(w->easy, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(w->easy, CURLOPT_XFERINFODATA, w);
	curl_easy_setopt(w->easy, CURLOPT_USERAGENT, "podflow-collector");
	if (w->ca_file)
		curl_easy_setopt(w->easy, CURLOPT_CAINFO, w->ca_file);
	if (w->token_file) {
		err = refresh_token(w);
		if (err) {
			snprintf(why, len, "%s", w->st.last_error);
			goto cleanup;
		}
	} else {
		w->headers = curl_slist_append(NULL, "Accept: application/json");
		if (!w->headers) {
			snprintf(why, len, "out of memory");
			err = -ENOMEM;
			goto cleanup;
		}
	}
	w->prev_err[0] = '\0';
	w->st.last_error[0] = '\0';
	return w;
cleanup:
	free(incluster);
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
	curl_multi_wakeup(w->multi);
	pthread_join(w->thread, NULL);
	w->joined = true;
}

void kube_watch__free(struct kube_watch *w)
{
	if (!w)
		return;
	kube_watch__stop(w);
	if (w->easy)
		curl_easy_cleanup(w->easy);
	if (w->multi)
		curl_multi_cleanup(w->multi);
	curl_slist_free_all(w->headers);
	if (w->token) {
		explicit_bzero(w->token, strlen(w->token));
		free(w->token);
	}
	table_free(&w->table);
	free(w->buf);
	free(w->rv);
	free(w->api_url);
	free(w->token_file);
	free(w->ca_file);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
