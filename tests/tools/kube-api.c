// SPDX-License-Identifier: BSD-2-Clause
/* A stand-in Kubernetes API server for the pod watch tests: real pod JSON, scripted on stdin. */
/*
 * kube-api --fixtures DIR [--port N]
 *
 * Serves POST /apis/authentication.k8s.io/v1/tokenreviews for the tokens
 * registered with the "review_token" command (token -> namespace, service
 * account, pod name and uid, audiences; or not authenticated), answering
 * in the API server's TokenReview format; any other token is not
 * authenticated.
 *
 * Serves GET /api/v1/pods: lists (limit/continue, a consistent snapshot per
 * list as etcd gives) and watches (chunked, resumable from any
 * resourceVersion not yet expired).  Pods are built from the real samples
 * in DIR (pod_native_sidecar_containerd_kind.json: podIPs and
 * PodReadyToStartContainers; pod_docker_fluentbit_core_base.json: podIP
 * only), with name/uid/IPs/labels/owner/conditions changed per command.
 *
 * Prints its port on the first stdout line, then reads one JSON command
 * per stdin line and answers each with one line: "ok {...}" or
 * "error <why>".  Commands ({"cmd": ...}): add, modify, delete, bulk,
 * bookmark, expire, expire_mode, error410, drop, end, hold, split, raw,
 * huge, token, review_token, down, up, status, quit (docs/kube.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define SPLIT_MAX   32
#define STREAM_WAIT 50 /* ms a blocked stream sleeps before checking flags again */

struct event {
	uint64_t rv;
	char *line; /* with its '\n' */
	size_t len;
};

struct stream {
	struct stream *next;
	char *buf;
	size_t len, off, cap;
	bool bookmarks;
	bool ended;   /* finish cleanly once drained */
	bool dropped; /* close the connection without the last chunk */
	size_t split_i;
	int64_t deadline_ms; /* timeoutSeconds; 0 = none */
};

struct snapshot {
	uint64_t rv;
	json_t *items; /* pods sorted by namespace/name */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct MHD_Daemon *d;
	uint16_t port;
	json_t *tmpl_kind, *tmpl_docker, *tmpl_error;
	json_t *pods;	/* "ns/name" -> pod (never changed in place: replaced) */
	json_t *legacy; /* uid -> true for podIP-only pods */
	uint64_t rv, min_rv, uid_seq;
	struct event *log;
	size_t nlog, caplog;
	struct stream *streams;
	struct snapshot *snaps;
	size_t nsnaps;
	char *token;
	json_t *reviews; /* token -> {namespace, sa, pod, uid, authenticated, audiences} */
	uint64_t n_reviews;
	bool expire_stream; /* an expired watch gets 200 + ERROR 410, not HTTP 410 */
	bool hold;
	size_t split[SPLIT_MAX], nsplit;
	unsigned delay_us;
	uint64_t n_list, n_list_first, n_watch, n_401, n_410, n_410_stream, n_streams;
} S = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.rv = 100000, /* a real-looking etcd revision */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void buf_add(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
	if (*len + n > *cap) {
		size_t c = *cap ? *cap : 4096;

		while (c < *len + n)
			c *= 2;
		*buf = realloc(*buf, c);
		if (!*buf) {
			fprintf(stderr, "kube-api: out of memory\n");
			exit(1);
		}
		*cap = c;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
}

static void stream_push(struct stream *s, const char *p, size_t n)
{
	buf_add(&s->buf, &s->len, &s->cap, p, n);
}

/* Caller holds the lock. */
static void broadcast(const char *line, size_t len, bool bookmark, bool even_held)
{
	if (S.hold && !even_held)
		return;
	for (struct stream *s = S.streams; s; s = s->next)
		if (!s->ended && !s->dropped && (!bookmark || s->bookmarks))
			stream_push(s, line, len);
	pthread_cond_broadcast(&S.cond);
}

static char *dump_line(json_t *j, size_t *len)
{
	char *s = json_dumps(j, JSON_COMPACT);
	char *line;

	if (!s || asprintf(&line, "%s\n", s) < 0) {
		fprintf(stderr, "kube-api: out of memory\n");
		exit(1);
	}
	free(s);
	*len = strlen(line);
	return line;
}

/* Mints the next resourceVersion, stamps it on the pod and sends the event.  Lock held. */
static void emit(const char *type, json_t *pod)
{
	json_t *ev;
	char rv[32];
	size_t len;
	char *line;

	S.rv++;
	snprintf(rv, sizeof(rv), "%" PRIu64, S.rv);
	json_object_set_new(json_object_get(pod, "metadata"), "resourceVersion", json_string(rv));
	ev = json_pack("{s:s, s:O}", "type", type, "object", pod);
	line = dump_line(ev, &len);
	json_decref(ev);
	if (S.nlog == S.caplog) {
		S.caplog = S.caplog ? S.caplog * 2 : 1024;
		S.log = realloc(S.log, S.caplog * sizeof(*S.log));
		if (!S.log)
			exit(1);
	}
	S.log[S.nlog++] = (struct event){ .rv = S.rv, .line = line, .len = len };
	broadcast(line, len, false, false);
}

/* ---- pods ---- */

static const char *pod_key(const char *ns, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", ns, name);
	return buf;
}

static json_t *path(json_t *j, const char *a, const char *b)
{
	j = json_object_get(j, a);
	return b ? json_object_get(j, b) : j;
}

static void set_ips(json_t *pod, json_t *ips, bool legacy)
{
	json_t *status = json_object_get(pod, "status"), *arr = json_array(), *v;
	size_t i;

	json_array_foreach(ips, i, v) json_array_append_new(arr, json_pack("{s:O}", "ip", v));
	if (json_array_size(ips))
		json_object_set(status, "podIP", json_array_get(ips, 0));
	else
		json_object_del(status, "podIP");
	if (!legacy && json_array_size(ips))
		json_object_set(status, "podIPs", arr);
	else
		json_object_del(status, "podIPs");
	json_decref(arr);
}

/* Applies the fields of a command to a pod (a fresh copy the caller owns). */
static int edit_pod(json_t *pod, json_t *cmd, bool legacy, char *why, size_t whylen)
{
	json_t *meta = json_object_get(pod, "metadata"), *spec = json_object_get(pod, "spec");
	json_t *status = json_object_get(pod, "status"), *v;

	if ((v = json_object_get(cmd, "labels")))
		json_object_set(meta, "labels", v);
	if ((v = json_object_get(cmd, "owner"))) {
		if (json_is_null(v)) {
			json_object_del(meta, "ownerReferences");
		} else {
			char uid[64];

			snprintf(uid, sizeof(uid), "0wner000-0000-4000-8000-%012" PRIx64,
				 ++S.uid_seq);
			json_object_set_new(meta, "ownerReferences",
					    json_pack("[{s:s, s:O, s:O, s:s, s:b, s:b}]",
						      "apiVersion", "apps/v1", "kind",
						      json_object_get(v, "kind"), "name",
						      json_object_get(v, "name"), "uid", uid,
						      "controller", 1, "blockOwnerDeletion", 1));
			if (!json_object_get(meta, "ownerReferences")) {
				snprintf(why, whylen, "owner needs kind and name");
				return -EINVAL;
			}
		}
	}
	if ((v = json_object_get(cmd, "node")))
		json_object_set(spec, "nodeName", v);
	if (json_is_true(json_object_get(cmd, "host_network"))) {
		const char *hip = json_string_value(json_object_get(status, "hostIP"));
		json_t *ips = json_pack("[s]", hip ? hip : "172.18.0.2");

		json_object_set_new(spec, "hostNetwork", json_true());
		set_ips(pod, ips, legacy);
		json_decref(ips);
	}
	if ((v = json_object_get(cmd, "ips")))
		set_ips(pod, v, legacy);
	if ((v = json_object_get(cmd, "ready"))) {
		const char *type = json_string_value(json_object_get(cmd, "ready_type"));
		json_t *conds = json_object_get(status, "conditions"), *c;
		bool found = false;
		size_t i;

		if (!type)
			type = "PodReadyToStartContainers";
		if (!json_is_array(conds)) {
			conds = json_array();
			json_object_set_new(status, "conditions", conds);
		}
		for (i = 0; i < json_array_size(conds);) {
			const char *t;

			c = json_array_get(conds, i);
			t = json_string_value(json_object_get(c, "type"));
			if (t && (!strcmp(t, "PodReadyToStartContainers") ||
				  !strcmp(t, "PodHasNetwork"))) {
				if (json_is_null(v) || strcmp(t, type) != 0) {
					json_array_remove(conds, i);
					continue;
				}
				json_object_set(c, "lastTransitionTime", v);
				json_object_set_new(c, "status", json_string("True"));
				found = true;
			}
			i++;
		}
		if (!found && !json_is_null(v))
			json_array_insert_new(conds, 0,
					      json_pack("{s:n, s:O, s:s, s:s}", "lastProbeTime",
							"lastTransitionTime", v, "status", "True",
							"type", type));
	}
	if ((v = json_object_get(cmd, "phase")))
		json_object_set(status, "phase", v);
	if ((v = json_object_get(cmd, "finished"))) {
		json_t *cs;
		size_t i;

		json_array_foreach(json_object_get(status, "containerStatuses"), i, cs)
		{
			json_object_set_new(cs, "ready", json_false());
			json_object_set_new(cs, "started", json_false());
			json_object_set_new(
			    cs, "state",
			    json_pack("{s:{s:s, s:i, s:O, s:s, s:O}}", "terminated", "containerID",
				      json_string_value(json_object_get(cs, "containerID"))
					  ? json_string_value(json_object_get(cs, "containerID"))
					  : "",
				      "exitCode", 0, "finishedAt", v, "reason", "Completed",
				      "startedAt", v));
		}
	}
	if ((v = json_object_get(cmd, "deletion"))) {
		json_object_set(meta, "deletionTimestamp", json_object_get(v, "ts"));
		json_object_set(meta, "deletionGracePeriodSeconds", json_object_get(v, "grace"));
	}
	return 0;
}

static int cmd_add(json_t *cmd, char *why, size_t whylen, json_t *reply)
{
	const char *tmpl = json_string_value(json_object_get(cmd, "template"));
	const char *ns = json_string_value(json_object_get(cmd, "ns"));
	const char *name = json_string_value(json_object_get(cmd, "name"));
	const char *uid = json_string_value(json_object_get(cmd, "uid"));
	bool legacy = tmpl && strcmp(tmpl, "docker") == 0;
	char key[512], gen[64];
	json_t *pod, *meta;

	if (!ns || !name) {
		snprintf(why, whylen, "add needs ns and name");
		return -EINVAL;
	}
	if (json_object_get(S.pods, pod_key(ns, name, key, sizeof(key)))) {
		snprintf(why, whylen, "pod %.200s exists", key);
		return -EEXIST;
	}
	pod = json_deep_copy(legacy ? S.tmpl_docker : S.tmpl_kind);
	meta = json_object_get(pod, "metadata");
	if (!uid) {
		snprintf(gen, sizeof(gen), "5eed0000-0000-4000-8000-%012" PRIx64, ++S.uid_seq);
		uid = gen;
	}
	json_object_set_new(meta, "name", json_string(name));
	json_object_set_new(meta, "namespace", json_string(ns));
	json_object_set_new(meta, "uid", json_string(uid));
	json_object_del(meta, "selfLink");
	if (edit_pod(pod, cmd, legacy, why, whylen)) {
		json_decref(pod);
		return -EINVAL;
	}
	if (legacy)
		json_object_set_new(S.legacy, uid, json_true());
	json_object_set(S.pods, key, pod);
	emit("ADDED", pod);
	json_object_set_new(reply, "uid", json_string(uid));
	json_object_set(reply, "rv", path(pod, "metadata", "resourceVersion"));
	json_decref(pod);
	return 0;
}

/* modify and delete: the pod changed by the command's fields, then the event. */
static int cmd_change(json_t *cmd, bool del, char *why, size_t whylen, json_t *reply)
{
	const char *ns = json_string_value(json_object_get(cmd, "ns"));
	const char *name = json_string_value(json_object_get(cmd, "name"));
	char key[512];
	json_t *old, *pod;
	bool legacy;

	if (!ns || !name) {
		snprintf(why, whylen, "needs ns and name");
		return -EINVAL;
	}
	old = json_object_get(S.pods, pod_key(ns, name, key, sizeof(key)));
	if (!old) {
		snprintf(why, whylen, "no pod %.200s", key);
		return -ENOENT;
	}
	legacy = json_object_get(S.legacy, json_string_value(path(old, "metadata", "uid")));
	pod = json_deep_copy(old);
	if (edit_pod(pod, cmd, legacy, why, whylen)) {
		json_decref(pod);
		return -EINVAL;
	}
	if (del) {
		json_object_del(S.pods, key);
		emit("DELETED", pod);
	} else {
		json_object_set(S.pods, key, pod);
		emit("MODIFIED", pod);
	}
	json_object_set(reply, "rv", path(pod, "metadata", "resourceVersion"));
	json_decref(pod);
	return 0;
}

/*
 * n pods of `deployments` Deployments (ReplicaSet owners with a
 * pod-template-hash), IPs 10.200.x.y from `first`, nodes node-0..2.
 */
static int cmd_bulk(json_t *cmd, char *why, size_t whylen, json_t *reply)
{
	const char *ns = json_string_value(json_object_get(cmd, "ns"));
	const char *prefix = json_string_value(json_object_get(cmd, "prefix"));
	json_int_t n = json_integer_value(json_object_get(cmd, "n"));
	json_int_t deps = json_integer_value(json_object_get(cmd, "deployments"));
	json_int_t first = json_integer_value(json_object_get(cmd, "first"));

	if (!ns || !prefix || n <= 0 || n > 60000 || deps <= 0) {
		snprintf(why, whylen, "bulk needs ns, prefix, n (1..60000), deployments");
		return -EINVAL;
	}
	for (json_int_t i = 0; i < n; i++) {
		json_int_t k = first + i, d = i % deps;
		char name[256], app[128], rs[160], hash[16], ip[32], node[32];
		json_t *c;
		int err;

		snprintf(hash, sizeof(hash), "%05llx%ld", (long long)(0x7d9f8 + d), (long)d % 10);
		snprintf(app, sizeof(app), "%s%lld", prefix, (long long)d);
		snprintf(rs, sizeof(rs), "%s-%s", app, hash);
		snprintf(name, sizeof(name), "%s-%05lld", rs, (long long)k);
		snprintf(ip, sizeof(ip), "10.200.%lld.%lld", (long long)(k / 250),
			 (long long)(k % 250 + 1));
		snprintf(node, sizeof(node), "node-%lld", (long long)(k % 3));
		c = json_pack("{s:s, s:s, s:[s], s:{s:s, s:s}, s:{s:s, s:s}, s:s}", "ns", ns,
			      "name", name, "ips", ip, "labels", "app.kubernetes.io/name", app,
			      "pod-template-hash", hash, "owner", "kind", "ReplicaSet", "name", rs,
			      "node", node);
		err = cmd_add(c, why, whylen, reply);
		json_decref(c);
		if (err)
			return err;
	}
	return 0;
}

/* ---- HTTP ---- */

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned code, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	struct MHD_Response *r;
	enum MHD_Result ret;

	json_decref(j);
	if (!s)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static json_t *status_obj(unsigned code, const char *reason, const char *msg)
{
	return json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion",
			 "v1", "metadata", "status", "Failure", "message", msg, "reason", reason,
			 "code", (int)code);
}

static enum MHD_Result send_status(struct MHD_Connection *c, unsigned code, const char *reason,
				   const char *msg)
{
	return send_json(c, code, status_obj(code, reason, msg));
}

/* base64url without padding, as the API server's continue tokens */
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64_encode(const char *in)
{
	size_t n = strlen(in), o = 0;
	char *out = malloc(n * 4 / 3 + 4);

	if (!out)
		exit(1);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)in[i + 2];
		out[o++] = B64[(v >> 18) & 63];
		out[o++] = B64[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = B64[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = B64[v & 63];
	}
	out[o] = '\0';
	return out;
}

static char *b64_decode(const char *in)
{
	size_t n = strlen(in), o = 0;
	char *out = malloc(n + 1);
	uint32_t v = 0;
	int bits = 0;

	if (!out)
		exit(1);
	for (size_t i = 0; i < n; i++) {
		const char *p = memchr(B64, in[i], 64);

		if (!p || !in[i]) {
			free(out);
			return NULL;
		}
		v = v << 6 | (uint32_t)(p - B64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((v >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	return out;
}

static int cmp_pod(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(json_string_value(path(x, "metadata", "namespace")),
		       json_string_value(path(y, "metadata", "namespace")));

	return c ? c
		 : strcmp(json_string_value(path(x, "metadata", "name")),
			  json_string_value(path(y, "metadata", "name")));
}

/* Lock held.  A new snapshot of every pod, sorted as etcd's keys. */
static struct snapshot *snapshot_new(void)
{
	size_t n = json_object_size(S.pods), i = 0;
	json_t **v = calloc(n + 1, sizeof(*v)), *pod, *arr = json_array();
	struct snapshot *s;
	const char *k;

	json_object_foreach(S.pods, k, pod) v[i++] = pod;
	qsort(v, n, sizeof(*v), cmp_pod);
	for (i = 0; i < n; i++)
		json_array_append(arr, v[i]);
	free(v);
	S.snaps = realloc(S.snaps, (S.nsnaps + 1) * sizeof(*S.snaps));
	if (!S.snaps)
		exit(1);
	s = &S.snaps[S.nsnaps++];
	s->rv = S.rv;
	s->items = arr;
	return s;
}

static enum MHD_Result serve_list(struct MHD_Connection *c)
{
	const char *lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	const char *cont = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "continue");
	size_t limit = lim ? strtoul(lim, NULL, 10) : 0, start = 0, n, end;
	struct snapshot *snap = NULL;
	json_t *items, *meta, *resp;
	char rv[32];

	pthread_mutex_lock(&S.lock);
	S.n_list++;
	if (cont && *cont) {
		char *dec = b64_decode(cont);
		json_t *tok = dec ? json_loads(dec, 0, NULL) : NULL;
		const char *rvs = json_string_value(json_object_get(tok, "rv"));
		uint64_t trv = rvs ? strtoull(rvs, NULL, 10) : 0;

		free(dec);
		for (size_t i = 0; tok && i < S.nsnaps; i++)
			if (S.snaps[i].rv == trv)
				snap = &S.snaps[i];
		start = (size_t)json_integer_value(json_object_get(tok, "offset"));
		json_decref(tok);
		if (!snap || trv < S.min_rv) {
			S.n_410++;
			pthread_mutex_unlock(&S.lock);
			return send_status(
			    c, 410, "Expired",
			    "The provided continue parameter is too old to display a consistent "
			    "list result. You can start a new list without the continue "
			    "parameter.");
		}
	} else {
		S.n_list_first++;
		snap = snapshot_new();
	}
	n = json_array_size(snap->items);
	end = limit && start + limit < n ? start + limit : n;
	items = json_array();
	for (size_t i = start; i < end; i++)
		json_array_append(items, json_array_get(snap->items, i));
	snprintf(rv, sizeof(rv), "%" PRIu64, snap->rv);
	meta = json_pack("{s:s}", "resourceVersion", rv);
	if (end < n) {
		/* the shape of a real token: {"v":"meta.k8s.io/v1","rv":...,"start":...} */
		json_t *tok = json_pack(
		    "{s:s, s:s, s:s, s:I}", "v", "meta.k8s.io/v1", "rv", rv, "start",
		    json_string_value(path(json_array_get(snap->items, end), "metadata", "name")),
		    "offset", (json_int_t)end);
		char *raw = json_dumps(tok, JSON_COMPACT), *enc = b64_encode(raw);

		json_object_set_new(meta, "continue", json_string(enc));
		json_object_set_new(meta, "remainingItemCount",
				    json_integer((json_int_t)(n - end)));
		free(raw);
		free(enc);
		json_decref(tok);
	}
	resp = json_pack("{s:s, s:s, s:o, s:o}", "kind", "PodList", "apiVersion", "v1", "metadata",
			 meta, "items", items);
	pthread_mutex_unlock(&S.lock);
	return send_json(c, 200, resp);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	unsigned delay;
	size_t n;

	(void)pos;
	pthread_mutex_lock(&S.lock);
	for (;;) {
		struct timespec ts;

		if (s->dropped) {
			pthread_mutex_unlock(&S.lock);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (s->len > s->off)
			break;
		if (s->ended || (s->deadline_ms && now_ms() >= s->deadline_ms)) {
			pthread_mutex_unlock(&S.lock);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		/* thread per connection: blocking here is allowed (returning 0 is not) */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += STREAM_WAIT * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&S.cond, &S.lock, &ts);
	}
	n = s->len - s->off;
	if (n > max)
		n = max;
	if (S.nsplit) {
		size_t cut = S.split[s->split_i++ % S.nsplit];

		if (n > cut)
			n = cut;
	}
	memcpy(buf, s->buf + s->off, n);
	s->off += n;
	if (s->off == s->len)
		s->off = s->len = 0;
	delay = S.delay_us;
	pthread_mutex_unlock(&S.lock);
	if (delay)
		usleep(delay);
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	pthread_mutex_lock(&S.lock);
	for (struct stream **pp = &S.streams; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	S.n_streams--;
	pthread_mutex_unlock(&S.lock);
	free(s->buf);
	free(s);
}

static enum MHD_Result serve_watch(struct MHD_Connection *c)
{
	const char *rvs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "resourceVersion");
	const char *bm =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "allowWatchBookmarks");
	const char *to = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "timeoutSeconds");
	struct stream *s = calloc(1, sizeof(*s));
	struct MHD_Response *r;
	enum MHD_Result ret;
	uint64_t rv;
	char *end;

	if (!s)
		return MHD_NO;
	errno = 0;
	rv = rvs ? strtoull(rvs, &end, 10) : 0;
	if (!rvs || !*rvs || *end || errno) {
		free(s);
		return send_status(c, 400, "BadRequest", "resourceVersion: expected a number");
	}
	s->bookmarks = bm && strcmp(bm, "true") == 0;
	if (to && strtoul(to, NULL, 10) > 0)
		s->deadline_ms = now_ms() + (int64_t)strtoul(to, NULL, 10) * 1000;
	pthread_mutex_lock(&S.lock);
	S.n_watch++;
	if (rv < S.min_rv) {
		char msg[128];

		snprintf(msg, sizeof(msg), "too old resource version: %" PRIu64 " (%" PRIu64 ")",
			 rv, S.min_rv);
		if (!S.expire_stream) {
			S.n_410++;
			pthread_mutex_unlock(&S.lock);
			free(s);
			return send_status(c, 410, "Expired", msg);
		}
		/* as the watch cache does: 200, then one ERROR event, then the end */
		{
			json_t *ev = json_deep_copy(S.tmpl_error);
			size_t len;
			char *line;

			json_object_set_new(json_object_get(ev, "object"), "message",
					    json_string(msg));
			line = dump_line(ev, &len);
			json_decref(ev);
			stream_push(s, line, len);
			free(line);
		}
		s->ended = true;
		S.n_410_stream++;
	} else {
		for (size_t i = 0; i < S.nlog; i++)
			if (S.log[i].rv > rv)
				stream_push(s, S.log[i].line, S.log[i].len);
	}
	s->next = S.streams;
	S.streams = s;
	S.n_streams++;
	pthread_mutex_unlock(&S.lock);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, s, stream_free);
	if (!r) {
		stream_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * A TokenReview as the API server answers it (authentication.k8s.io/v1):
 * the request's spec back, and a status whose user is the service account
 * with the pod the token is bound to in its extra fields.  An unknown
 * token, or one registered as not authenticated: authenticated omitted
 * (false) and an error, as the server says of an expired token.
 */
static enum MHD_Result serve_token_review(struct MHD_Connection *c, const char *body, size_t len)
{
	json_t *req = json_loadb(body, len, 0, NULL), *spec = json_object_get(req, "spec");
	const char *token = json_string_value(json_object_get(spec, "token"));
	json_t *want = json_object_get(spec, "audiences"), *status, *out, *reg, *aud, *v;
	size_t i;

	if (!token)
		return json_decref(req),
		       send_status(c, 400, "BadRequest", "TokenReview: spec.token required");
	pthread_mutex_lock(&S.lock);
	S.n_reviews++;
	reg = json_deep_copy(json_object_get(S.reviews, token));
	pthread_mutex_unlock(&S.lock);
	status = json_object();
	if (reg && json_is_true(json_object_get(reg, "authenticated"))) {
		char user[600];
		const char *ns = json_string_value(json_object_get(reg, "namespace"));
		const char *sa = json_string_value(json_object_get(reg, "sa"));

		snprintf(user, sizeof(user), "system:serviceaccount:%s:%s", ns, sa);
		/* status.audiences: the spec's audiences the token was issued for */
		aud = json_array();
		json_array_foreach(want, i, v)
		{
			json_t *has = json_object_get(reg, "audiences"), *w;
			size_t k;

			json_array_foreach(has, k, w) if (json_equal(v, w))
			    json_array_append(aud, v);
		}
		if (json_array_size(want) && !json_array_size(aud)) {
			json_object_set_new(status, "user", json_object());
			json_object_set_new(
			    status, "error",
			    json_string("[invalid bearer token, token audiences "
					"[\"api\"] is invalid for the target audiences]"));
			json_decref(aud);
		} else {
			json_object_set_new(status, "authenticated", json_true());
			json_object_set_new(
			    status, "user",
			    json_pack(
				"{s:s, s:s, s:[s, s, s], s:{s:[s], s:[s], s:[s], s:[s], s:[s]}}",
				"username", user, "uid", "7d6a8b36-3c8e-4a43-9a52-5f8d3e5b8c21",
				"groups", "system:serviceaccounts",
				"system:serviceaccounts:default", "system:authenticated", "extra",
				"authentication.kubernetes.io/credential-id",
				"JTI=5f4e3d2c-1b0a-4f9e-8d7c-6b5a49382716",
				"authentication.kubernetes.io/node-name", "kind-worker",
				"authentication.kubernetes.io/node-uid",
				"0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d",
				"authentication.kubernetes.io/pod-name",
				json_string_value(json_object_get(reg, "pod")),
				"authentication.kubernetes.io/pod-uid",
				json_string_value(json_object_get(reg, "uid"))));
			json_object_set_new(status, "audiences", aud);
		}
	} else {
		json_object_set_new(status, "user", json_object());
		json_object_set_new(status, "error",
				    json_string("[invalid bearer token, square/go-jose: error in "
						"cryptographic primitive]"));
	}
	json_decref(reg);
	out = json_pack("{s:s, s:s, s:{s:n}, s:O, s:o}", "kind", "TokenReview", "apiVersion",
			"authentication.k8s.io/v1", "metadata", "creationTimestamp", "spec",
			spec ? spec : json_object(), "status", status);
	json_decref(req);
	return send_json(c, 201, out);
}

struct upload {
	char *buf;
	size_t len, cap;
};

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	const char *watch = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "watch");
	static int first;
	bool ok;

	(void)cls, (void)version, (void)upload, (void)upload_size;
	if (!*con_cls && !strcmp(method, "POST")) {
		*con_cls = calloc(1, sizeof(struct upload)); /* the body, as it comes */
		return *con_cls ? MHD_YES : MHD_NO;
	}
	if (!*con_cls) {
		*con_cls = &first; /* headers only so far */
		return MHD_YES;
	}
	if (!strcmp(method, "POST")) {
		struct upload *u = *con_cls;
		enum MHD_Result ret;

		if (*upload_size) {
			buf_add(&u->buf, &u->len, &u->cap, upload, *upload_size);
			*upload_size = 0;
			return MHD_YES;
		}
		pthread_mutex_lock(&S.lock);
		ok = !S.token || (authz && strncmp(authz, "Bearer ", 7) == 0 &&
				  strcmp(authz + 7, S.token) == 0);
		if (!ok)
			S.n_401++;
		pthread_mutex_unlock(&S.lock);
		if (!ok)
			ret = send_status(c, 401, "Unauthorized", "Unauthorized");
		else if (strcmp(url, "/apis/authentication.k8s.io/v1/tokenreviews") != 0)
			ret = send_status(c, 404, "NotFound",
					  "the server could not find the resource");
		else
			ret = serve_token_review(c, u->buf ? u->buf : "", u->len);
		free(u->buf);
		free(u);
		*con_cls = &first;
		return ret;
	}
	if (strcmp(method, "GET") != 0)
		return send_status(c, 405, "MethodNotAllowed", "only GET here");
	if (strcmp(url, "/api/v1/pods") != 0)
		return send_status(c, 404, "NotFound", "the server could not find the resource");
	pthread_mutex_lock(&S.lock);
	ok = !S.token ||
	     (authz && strncmp(authz, "Bearer ", 7) == 0 && strcmp(authz + 7, S.token) == 0);
	if (!ok)
		S.n_401++;
	pthread_mutex_unlock(&S.lock);
	if (!ok)
		return send_status(c, 401, "Unauthorized", "Unauthorized");
	if (watch && (strcmp(watch, "1") == 0 || strcmp(watch, "true") == 0))
		return serve_watch(c);
	return serve_list(c);
}

static int server_up(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	const union MHD_DaemonInfo *info;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* no MHD_USE_ERROR_LOG: every dropped watch would print a line */
	S.d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
			       port, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &sa,
			       MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
	if (!S.d)
		return -EADDRINUSE;
	info = MHD_get_daemon_info(S.d, MHD_DAEMON_INFO_BIND_PORT);
	S.port = info ? info->port : port;
	return 0;
}

/* Every stream ends: dropped (connection cut) or cleanly (last chunk). */
static void end_streams(bool drop)
{
	for (struct stream *s = S.streams; s; s = s->next) {
		if (drop)
			s->dropped = true;
		else
			s->ended = true;
	}
	pthread_cond_broadcast(&S.cond);
}

static void server_down(void)
{
	pthread_mutex_lock(&S.lock);
	end_streams(true);
	pthread_mutex_unlock(&S.lock);
	if (S.d)
		MHD_stop_daemon(S.d);
	S.d = NULL;
}

/* ---- control ---- */

static int command(json_t *cmd, json_t *reply, char *why, size_t whylen)
{
	const char *name = json_string_value(json_object_get(cmd, "cmd"));
	char rv[32];
	int err = 0;

	if (!name) {
		snprintf(why, whylen, "no cmd");
		return -EINVAL;
	}
	if (!strcmp(name, "down")) {
		server_down();
		return 0;
	}
	if (!strcmp(name, "up")) {
		if (S.d)
			return 0;
		err = server_up(S.port);
		if (err)
			snprintf(why, whylen, "cannot listen again on port %u", S.port);
		return err;
	}
	pthread_mutex_lock(&S.lock);
	if (!strcmp(name, "add")) {
		err = cmd_add(cmd, why, whylen, reply);
	} else if (!strcmp(name, "modify")) {
		err = cmd_change(cmd, false, why, whylen, reply);
	} else if (!strcmp(name, "delete")) {
		err = cmd_change(cmd, true, why, whylen, reply);
	} else if (!strcmp(name, "bulk")) {
		err = cmd_bulk(cmd, why, whylen, reply);
	} else if (!strcmp(name, "bookmark")) {
		json_t *ev;
		size_t len;
		char *line;

		/* other resources' writes move the global revision on; the bookmark says so */
		S.rv++;
		snprintf(rv, sizeof(rv), "%" PRIu64, S.rv);
		ev = json_pack("{s:s, s:{s:s, s:s, s:{s:s, s:n}, s:{s:n}, s:{}}}", "type",
			       "BOOKMARK", "object", "kind", "Pod", "apiVersion", "v1", "metadata",
			       "resourceVersion", rv, "creationTimestamp", "spec", "containers",
			       "status");
		line = dump_line(ev, &len);
		json_decref(ev);
		broadcast(line, len, true, false);
		free(line);
	} else if (!strcmp(name, "expire")) {
		const char *r = json_string_value(json_object_get(cmd, "rv"));

		S.min_rv = r ? strtoull(r, NULL, 10) : S.rv;
	} else if (!strcmp(name, "expire_mode")) {
		const char *m = json_string_value(json_object_get(cmd, "mode"));

		S.expire_stream = m && !strcmp(m, "stream");
	} else if (!strcmp(name, "error410")) {
		json_t *ev = json_deep_copy(S.tmpl_error);
		char msg[128];
		size_t len;
		char *line;

		/* the client's revision is gone: tell the open watches, in stream */
		S.min_rv = S.rv;
		snprintf(msg, sizeof(msg), "too old resource version: %" PRIu64 " (%" PRIu64 ")",
			 S.min_rv - 1, S.min_rv);
		json_object_set_new(json_object_get(ev, "object"), "message", json_string(msg));
		line = dump_line(ev, &len);
		json_decref(ev);
		broadcast(line, len, false, true);
		S.n_410_stream += S.n_streams;
		free(line);
		end_streams(false);
	} else if (!strcmp(name, "drop")) {
		end_streams(true);
	} else if (!strcmp(name, "end")) {
		end_streams(false);
	} else if (!strcmp(name, "hold")) {
		S.hold = json_is_true(json_object_get(cmd, "on"));
	} else if (!strcmp(name, "split")) {
		json_t *sizes = json_object_get(cmd, "sizes"), *v;
		size_t i;

		S.nsplit = 0;
		json_array_foreach(sizes, i,
				   v) if (S.nsplit < SPLIT_MAX && json_integer_value(v) > 0)
		    S.split[S.nsplit++] = (size_t)json_integer_value(v);
		S.delay_us = (unsigned)json_integer_value(json_object_get(cmd, "delay_us"));
	} else if (!strcmp(name, "raw")) {
		const char *d = json_string_value(json_object_get(cmd, "data"));

		if (d)
			broadcast(d, strlen(d), false, true);
	} else if (!strcmp(name, "huge")) {
		json_int_t n = json_integer_value(json_object_get(cmd, "bytes"));
		static const char head[] = "{\"type\":\"ADDED\",\"object\":{\"pad\":\"";
		char *line;

		if (n < 64 || n > (64 << 20)) {
			snprintf(why, whylen, "huge: bytes 64..64 MiB");
			err = -EINVAL;
		} else {
			line = malloc((size_t)n);
			if (!line)
				exit(1);
			memset(line, 'x', (size_t)n);
			memcpy(line, head, sizeof(head) - 1);
			memcpy(line + n - 4, "\"}}\n", 4);
			broadcast(line, (size_t)n, false, true);
			free(line);
		}
	} else if (!strcmp(name, "token")) {
		const char *t = json_string_value(json_object_get(cmd, "value"));

		free(S.token);
		S.token = t ? strdup(t) : NULL;
	} else if (!strcmp(name, "review_token")) {
		const char *t = json_string_value(json_object_get(cmd, "token"));
		json_t *aud = json_object_get(cmd, "audiences");

		if (!t) {
			snprintf(why, whylen, "review_token: token required");
			err = -EINVAL;
		} else {
			json_object_set_new(
			    S.reviews, t,
			    json_pack("{s:s?, s:s?, s:s?, s:s?, s:b, s:O}", "namespace",
				      json_string_value(json_object_get(cmd, "namespace")), "sa",
				      json_string_value(json_object_get(cmd, "sa")), "pod",
				      json_string_value(json_object_get(cmd, "pod")), "uid",
				      json_string_value(json_object_get(cmd, "uid")),
				      "authenticated",
				      !json_is_false(json_object_get(cmd, "authenticated")),
				      "audiences", aud ? aud : json_pack("[s]", "podflow")));
		}
	} else if (!strcmp(name, "status")) {
		json_object_set_new(reply, "token_reviews", json_integer((json_int_t)S.n_reviews));
		snprintf(rv, sizeof(rv), "%" PRIu64, S.rv);
		json_object_set_new(reply, "rv", json_string(rv));
		snprintf(rv, sizeof(rv), "%" PRIu64, S.min_rv);
		json_object_set_new(reply, "min_rv", json_string(rv));
		json_object_set_new(reply, "streams", json_integer((json_int_t)S.n_streams));
		json_object_set_new(reply, "pods",
				    json_integer((json_int_t)json_object_size(S.pods)));
		json_object_set_new(reply, "list_requests", json_integer((json_int_t)S.n_list));
		json_object_set_new(reply, "lists", json_integer((json_int_t)S.n_list_first));
		json_object_set_new(reply, "watch_requests", json_integer((json_int_t)S.n_watch));
		json_object_set_new(reply, "unauthorized", json_integer((json_int_t)S.n_401));
		json_object_set_new(reply, "gone", json_integer((json_int_t)S.n_410));
		json_object_set_new(reply, "gone_stream", json_integer((json_int_t)S.n_410_stream));
	} else {
		snprintf(why, whylen, "unknown cmd %s", name);
		err = -EINVAL;
	}
	if (!err && !json_object_get(reply, "rv")) {
		snprintf(rv, sizeof(rv), "%" PRIu64, S.rv);
		json_object_set_new(reply, "rv", json_string(rv));
	}
	pthread_mutex_unlock(&S.lock);
	return err;
}

static json_t *load(const char *dir, const char *file)
{
	char p[PATH_MAX];
	json_error_t e;
	json_t *j;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	j = json_load_file(p, 0, &e);
	if (!j)
		fprintf(stderr, "kube-api: %s: %s (line %d)\n", p, e.text, e.line);
	return j;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "fixtures", required_argument, NULL, 'f' },
		{ "port", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *fixtures = getenv("PODFLOW_FIXTURES");
	unsigned long port = 0;
	char *line = NULL;
	size_t cap = 0;
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == 'f') {
			fixtures = optarg;
		} else if (opt == 'p') {
			port = strtoul(optarg, NULL, 10);
			if (port > 65535)
				return 2;
		} else {
			fprintf(stderr, "usage: kube-api --fixtures DIR [--port N]\n");
			return 2;
		}
	}
	if (!fixtures)
		fixtures = "tests/fixtures/k8s";
	signal(SIGPIPE, SIG_IGN);
	S.tmpl_kind = load(fixtures, "pod_native_sidecar_containerd_kind.json");
	S.tmpl_docker = load(fixtures, "pod_docker_fluentbit_core_base.json");
	S.tmpl_error = load(fixtures, "watch_event_error_410_wso2_apk_571.json");
	S.pods = json_object();
	S.legacy = json_object();
	S.reviews = json_object();
	if (!S.tmpl_kind || !S.tmpl_docker || !S.tmpl_error)
		return 1;
	if (server_up((uint16_t)port)) {
		fprintf(stderr, "kube-api: cannot listen on 127.0.0.1:%lu\n", port);
		return 1;
	}
	printf("%u\n", S.port);
	fflush(stdout);
	while (getline(&line, &cap, stdin) > 0) {
		json_t *cmd = json_loads(line, 0, NULL), *reply = json_object();
		char why[256] = "bad JSON";
		const char *name = json_string_value(json_object_get(cmd, "cmd"));
		char *out;

		if (name && !strcmp(name, "quit")) {
			printf("ok {}\n");
			fflush(stdout);
			json_decref(cmd);
			json_decref(reply);
			break;
		}
		if (cmd && command(cmd, reply, why, sizeof(why)) == 0) {
			out = json_dumps(reply, JSON_COMPACT);
			printf("ok %s\n", out ? out : "{}");
			free(out);
		} else {
			printf("error %s\n", why);
		}
		fflush(stdout);
		json_decref(cmd);
		json_decref(reply);
	}
	free(line);
	server_down();
	/* the rest is freed by exit: this process lives for one test */
	return 0;
}
