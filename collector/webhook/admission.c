// SPDX-License-Identifier: BSD-2-Clause
/* The injection webhook's decisions: an AdmissionReview in, its answer and the JSON patch out. */
#include "admission.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define VOL_PODINFO  "podflow-podinfo"
#define VOL_CONFIG   "podflow-config"
#define VOL_TOKEN    "podflow-token"
#define VOL_CGROUP   "podflow-cgroup"
#define VOL_IDENTITY "podflow-identity"

/* The least set the sidecar works with: tests/integration/test_sidecar_pod.c proves each. */
static const char *const sidecar_caps[] = { "BPF", "PERFMON", "NET_ADMIN" };

static const char *const reason_names[ADMISSION_REASON__COUNT] = {
	[ADMISSION_INJECTED_NATIVE] = "native_sidecar",
	[ADMISSION_INJECTED_CONTAINER] = "container",
	[ADMISSION_SKIP_NOT_CREATE] = "not_create",
	[ADMISSION_SKIP_ALREADY_INJECTED] = "already_injected",
	[ADMISSION_SKIP_OPTED_OUT] = "opted_out",
	[ADMISSION_SKIP_INVALID_ANNOTATION] = "invalid_annotation",
	[ADMISSION_SKIP_COLLECTOR] = "collector_pod",
	[ADMISSION_SKIP_HOST_NETWORK] = "host_network",
	[ADMISSION_SKIP_NAME_CONFLICT] = "name_conflict",
	[ADMISSION_ERR_MALFORMED_JSON] = "malformed_json",
	[ADMISSION_ERR_MALFORMED_REVIEW] = "malformed_review",
	[ADMISSION_ERR_UNSUPPORTED_VERSION] = "unsupported_version",
	[ADMISSION_ERR_NOT_A_POD] = "not_a_pod",
	[ADMISSION_ERR_MALFORMED_POD] = "malformed_pod",
	[ADMISSION_ERR_OVER_LIMITS] = "over_limits",
	[ADMISSION_ERR_INTERNAL] = "internal",
};

const char *admission_reason_name(enum admission_reason r)
{
	return (unsigned int)r < ADMISSION_REASON__COUNT ? reason_names[r] : "unknown";
}

enum admission_outcome admission_reason_outcome(enum admission_reason r)
{
	if (r <= ADMISSION_INJECTED_CONTAINER)
		return ADMISSION_OUTCOME_INJECTED;
	if (r <= ADMISSION_SKIP_NAME_CONFLICT)
		return ADMISSION_OUTCOME_SKIPPED;
	return ADMISSION_OUTCOME_ERROR;
}

const char *admission_outcome_name(enum admission_outcome o)
{
	static const char *const names[] = { "injected", "skipped", "error" };

	return (unsigned int)o < ADMISSION_OUTCOME__COUNT ? names[o] : "unknown";
}

/* ---- small pure helpers ---- */

int admission_pointer_escape(const char *key, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = key; *p; p++) {
		const char *rep = *p == '~' ? "~0" : *p == '/' ? "~1" : NULL;
		size_t n = rep ? 2 : 1;

		if (o + n >= len)
			return -ENOSPC;
		if (rep)
			memcpy(out + o, rep, 2);
		else
			out[o] = *p;
		o += n;
	}
	if (o >= len)
		return -ENOSPC;
	out[o] = '\0';
	return 0;
}

/* RFC 4648 section 4, with padding: what AdmissionResponse.patch ([]byte in Go) is. */
static char *base64(const char *in, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = (const unsigned char *)in;
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		*o++ = tab[(v >> 18) & 63];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* Text a peer sent, for a warning or a log line: printable ASCII, cut at `max` bytes. */
static void quote(char *out, size_t len, const char *in, size_t max)
{
	size_t o = 0, i;

	for (i = 0; in[i] && i < max && o + 1 < len; i++)
		out[o++] =
		    (unsigned char)in[i] >= 0x20 && (unsigned char)in[i] < 0x7f ? in[i] : '?';
	if (in[i] && o + 4 < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

int admission_quantity(const char *s, long double *out)
{
	static const struct {
		const char *suffix;
		long double mult;
	} suffixes[] = {
		{ "", 1 },	   { "m", 1e-3L },    { "k", 1e3L },	 { "M", 1e6L },
		{ "G", 1e9L },	   { "T", 1e12L },    { "P", 1e15L },	 { "E", 1e18L },
		{ "Ki", 0x1p10L }, { "Mi", 0x1p20L }, { "Gi", 0x1p30L }, { "Ti", 0x1p40L },
		{ "Pi", 0x1p50L }, { "Ei", 0x1p60L },
	};
	const char *p = s;
	long double v = 0, scale = 1;
	bool digits = false;

	if (!s || strlen(s) > 32)
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++, digits = true)
		v = v * 10 + (*p - '0');
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits = true) {
			scale /= 10;
			v += (*p - '0') * scale;
		}
	}
	if (!digits)
		return -EINVAL;
	/* a decimal exponent: e3, E-2 (not "E" alone: exa) */
	if ((*p == 'e' || *p == 'E') && p[1] &&
	    (p[1] == '-' || p[1] == '+' || (p[1] >= '0' && p[1] <= '9'))) {
		const char *q = p + 1;
		int sign = 1, e = 0;

		if (*q == '-' || *q == '+')
			sign = *q++ == '-' ? -1 : 1;
		if (!*q)
			return -EINVAL;
		for (; *q; q++) {
			if (*q < '0' || *q > '9')
				return -EINVAL;
			e = e * 10 + (*q - '0');
			if (e > 100) /* beyond any resource: refused rather than computed */
				return -EINVAL;
		}
		while (e--)
			v = sign > 0 ? v * 10 : v / 10;
		*out = v;
		return 0;
	}
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (strcmp(p, suffixes[i].suffix) == 0) {
			*out = v * suffixes[i].mult;
			return 0;
		}
	}
	return -EINVAL;
}

/* RFC 1123 subdomain, as Kubernetes names ConfigMaps and Secrets. */
static bool dns_subdomain(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && c != '-' && c != '.')
			return false;
		if (!alnum && (i == 0 || i == n - 1))
			return false;
	}
	return true;
}

static bool printable_word(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool set(const char *s)
{
	return s && *s;
}

/* One request/limit pair: both quantities, and the request not above the limit. */
static int check_pair(const char *what, const char *req, const char *lim, char *why, size_t whylen)
{
	long double r = 0, l = 0;

	if (set(req) && admission_quantity(req, &r)) {
		snprintf(why, whylen,
			 "inject.%s_request: \"%s\" is not a Kubernetes quantity (e.g. 20m, 32Mi)",
			 what, req);
		return -EINVAL;
	}
	if (set(lim) && admission_quantity(lim, &l)) {
		snprintf(why, whylen,
			 "inject.%s_limit: \"%s\" is not a Kubernetes quantity (e.g. 200m, 128Mi)",
			 what, lim);
		return -EINVAL;
	}
	if (set(req) && set(lim) && r > l) {
		/* the API server refuses such a pod: its creation would fail */
		snprintf(why, whylen, "inject.%s_request: %s is more than inject.%s_limit %s", what,
			 req, what, lim);
		return -EINVAL;
	}
	return 0;
}

int admission_check_opts(const struct admission_opts *o, char *why, size_t whylen)
{
	const char *u = o->collector_url;

	if (!o->image || !printable_word(o->image)) {
		snprintf(why, whylen, "inject.image: expected an image reference without spaces");
		return -EINVAL;
	}
	if (!o->pull_policy ||
	    (strcmp(o->pull_policy, "Always") != 0 && strcmp(o->pull_policy, "IfNotPresent") != 0 &&
	     strcmp(o->pull_policy, "Never") != 0)) {
		snprintf(why, whylen,
			 "inject.image_pull_policy: expected Always, IfNotPresent or Never, got %s",
			 o->pull_policy ? o->pull_policy : "nothing");
		return -EINVAL;
	}
	if (set(u) && (!printable_word(u) || !((strncmp(u, "http://", 7) == 0 && u[7]) ||
					       (strncmp(u, "https://", 8) == 0 && u[8])))) {
		snprintf(
		    why, whylen,
		    "inject.collector_url: expected http://HOST:PORT or https://HOST:PORT, got "
		    "%s",
		    u);
		return -EINVAL;
	}
	if (set(o->config_map) && !dns_subdomain(o->config_map)) {
		snprintf(why, whylen,
			 "inject.config_map: \"%s\" is not a ConfigMap name (lower-case letters, "
			 "digits, '-' and '.', at most 253)",
			 o->config_map);
		return -EINVAL;
	}
	if (set(o->token_secret) && !dns_subdomain(o->token_secret)) {
		snprintf(why, whylen,
			 "inject.token_secret: \"%s\" is not a Secret name (lower-case letters, "
			 "digits, '-' and '.', at most 253)",
			 o->token_secret);
		return -EINVAL;
	}
	if (check_pair("cpu", o->cpu_request, o->cpu_limit, why, whylen) ||
	    check_pair("memory", o->memory_request, o->memory_limit, why, whylen))
		return -EINVAL;
	return 0;
}

/* ---- reading the review ---- */

/* What decide() learns of the review on its way. */
struct review {
	const char *uid;     /* borrowed from the parsed review, or NULL */
	json_t *pod;	     /* request.object */
	json_t *annotations; /* object, or NULL when absent or null */
	json_t *init;	     /* spec.initContainers array, or NULL when absent or null */
	json_t *containers;  /* spec.containers array */
	json_t *volumes;     /* spec.volumes array, or NULL when absent or null */
	bool asked;	     /* podflow.io/inject: "true" */
	char *warning;	     /* r->warning */
	size_t warning_len;
};

#define WARN(x, ...) snprintf((x)->warning, (x)->warning_len, "podflow: " __VA_ARGS__)

/* The string at `key` of `obj` when it is one (NULL otherwise, or when longer than max). */
static const char *str_at(const json_t *obj, const char *key, size_t max, bool *too_long)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		return NULL;
	if (json_string_length(v) > max) {
		if (too_long)
			*too_long = true;
		return NULL;
	}
	return json_string_value(v);
}

/* An optional member: absent or null (NULL, true), of `type` (it, true), else false. */
static bool optional(json_t *obj, const char *key, json_type type, json_t **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return true;
	if (json_typeof(v) != type)
		return false;
	*out = v;
	return true;
}

static bool has_container(const json_t *list, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach(list, i, c)
	{
		const char *n = str_at(c, "name", ADMISSION_MAX_NAME, NULL);

		if (n && strcmp(n, name) == 0)
			return true;
	}
	return false;
}

/* "namespace/name", "namespace/generateName*" or "namespace/?" for logs and warnings. */
static void subject(const json_t *req, const json_t *meta, char *out, size_t len)
{
	const char *ns = str_at(req, "namespace", ADMISSION_MAX_NAME, NULL);
	const char *name = str_at(req, "name", ADMISSION_MAX_NAME, NULL);
	const char *gen = NULL;
	char a[ADMISSION_MAX_NAME + 1], b[ADMISSION_MAX_NAME + 1];

	/* a pod from a ReplicaSet has only generateName, and often no namespace of its own */
	if (!ns)
		ns = str_at(meta, "namespace", ADMISSION_MAX_NAME, NULL);
	if (!name || !*name)
		name = str_at(meta, "name", ADMISSION_MAX_NAME, NULL);
	if (!name || !*name)
		gen = str_at(meta, "generateName", ADMISSION_MAX_NAME, NULL);
	quote(a, sizeof(a), ns ? ns : "", 64);
	quote(b, sizeof(b), name && *name ? name : gen ? gen : "?", 64);
	snprintf(out, len, "%s/%s%s", a[0] ? a : "?", b, gen ? "*" : "");
}

/* request.kind: {"group": "", "version": "v1", "kind": "Pod"} (the core group may be left out). */
static bool is_pod_kind(const json_t *kind)
{
	const char *k = str_at(kind, "kind", 64, NULL), *v = str_at(kind, "version", 64, NULL);
	const json_t *g = json_object_get(kind, "group");

	return k && v && strcmp(k, "Pod") == 0 && strcmp(v, "v1") == 0 &&
	       (!g || (json_is_string(g) && json_string_length(g) == 0));
}

/* Steps 1 and 2 of the rule (admission.h): the review is one we decide on. */
static enum admission_reason check_review(json_t *root, struct review *x, char *subj,
					  size_t subjlen)
{
	json_t *req, *kind, *meta, *spec, *labels;
	const char *s, *op;
	bool too_long = false;

	if (!json_is_object(root)) {
		WARN(x, "the webhook's request is not a JSON object; the sidecar is not injected");
		return ADMISSION_ERR_MALFORMED_REVIEW;
	}
	req = json_object_get(root, "request");
	if (json_is_object(req))
		x->uid = str_at(req, "uid", ADMISSION_MAX_UID, NULL);
	s = str_at(root, "apiVersion", 64, NULL);
	if (!s || strcmp(s, ADMISSION_API_VERSION) != 0 || !(s = str_at(root, "kind", 64, NULL)) ||
	    strcmp(s, "AdmissionReview") != 0) {
		char v[48];

		s = str_at(root, "apiVersion", 64, NULL);
		quote(v, sizeof(v), s ? s : "(none)", 32);
		WARN(x,
		     "AdmissionReview apiVersion %s is not " ADMISSION_API_VERSION
		     "; the sidecar is not injected",
		     v);
		return ADMISSION_ERR_UNSUPPORTED_VERSION;
	}
	if (!json_is_object(req) || !x->uid || !*x->uid) {
		WARN(x, "the AdmissionReview has no request with a uid; the sidecar is not "
			"injected");
		return ADMISSION_ERR_MALFORMED_REVIEW;
	}
	kind = json_object_get(req, "kind");
	if (!is_pod_kind(kind) || ((s = str_at(req, "subResource", 64, NULL)) && *s)) {
		WARN(x, "the webhook reviews the creation of Pods only; nothing is injected");
		return ADMISSION_ERR_NOT_A_POD;
	}
	op = str_at(req, "operation", 64, NULL);
	if (!op) {
		WARN(x, "the AdmissionReview request has no operation; the sidecar is not "
			"injected");
		return ADMISSION_ERR_MALFORMED_REVIEW;
	}
	x->pod = json_object_get(req, "object");
	meta = json_object_get(x->pod, "metadata");
	subject(req, meta, subj, subjlen);
	if (strcmp(op, "CREATE") != 0)
		return ADMISSION_SKIP_NOT_CREATE;
	spec = json_object_get(x->pod, "spec");
	if (!json_is_object(x->pod) || !json_is_object(meta) || !json_is_object(spec)) {
		WARN(x, "the Pod %s has no metadata or spec; the sidecar is not injected", subj);
		return ADMISSION_ERR_MALFORMED_POD;
	}
	x->containers = json_object_get(spec, "containers");
	if (!json_is_array(x->containers) ||
	    !optional(spec, "initContainers", JSON_ARRAY, &x->init) ||
	    !optional(spec, "volumes", JSON_ARRAY, &x->volumes) ||
	    !optional(meta, "annotations", JSON_OBJECT, &x->annotations) ||
	    !optional(meta, "labels", JSON_OBJECT, &labels) ||
	    (json_object_get(spec, "hostNetwork") &&
	     !json_is_boolean(json_object_get(spec, "hostNetwork")))) {
		WARN(x,
		     "the Pod %s is malformed (containers, initContainers, volumes, annotations, "
		     "labels or hostNetwork of the wrong type); the sidecar is not injected",
		     subj);
		return ADMISSION_ERR_MALFORMED_POD;
	}
	str_at(req, "namespace", ADMISSION_MAX_NAME, &too_long);
	str_at(meta, "name", ADMISSION_MAX_NAME, &too_long);
	str_at(meta, "generateName", ADMISSION_MAX_NAME, &too_long);
	if (json_array_size(x->containers) > ADMISSION_MAX_CONTAINERS ||
	    json_array_size(x->init) > ADMISSION_MAX_CONTAINERS ||
	    json_array_size(x->volumes) > ADMISSION_MAX_VOLUMES || too_long) {
		WARN(x,
		     "the Pod %s has more than %d containers or init containers, more than %d "
		     "volumes, or a name over %d bytes; the sidecar is not injected",
		     subj, ADMISSION_MAX_CONTAINERS, ADMISSION_MAX_VOLUMES, ADMISSION_MAX_NAME);
		return ADMISSION_ERR_OVER_LIMITS;
	}
	return ADMISSION_REASON__COUNT; /* go on */
}

/* Steps 3 to 8 of the rule (admission.h). */
static enum admission_reason decide(struct review *x, const struct admission_opts *o,
				    const char *subj)
{
	static const char *const ours[] = { VOL_PODINFO, VOL_CONFIG, VOL_TOKEN, VOL_CGROUP,
					    VOL_IDENTITY };
	json_t *meta = json_object_get(x->pod, "metadata");
	json_t *spec = json_object_get(x->pod, "spec");
	json_t *labels = json_object_get(meta, "labels");
	const char *inject, *status, *name, *component;
	size_t i;
	json_t *v;

	status = x->annotations ? str_at(x->annotations, ADMISSION_ANNOT_STATUS, 64, NULL) : NULL;
	if ((status && strcmp(status, "injected") == 0) ||
	    has_container(x->containers, ADMISSION_SIDECAR_NAME) ||
	    (x->init && has_container(x->init, ADMISSION_SIDECAR_NAME)))
		return ADMISSION_SKIP_ALREADY_INJECTED;
	/* the label of the same name, as the chart's objectSelectors use it: "false" opts out too */
	inject = json_is_object(labels) ? str_at(labels, ADMISSION_ANNOT_INJECT, 64, NULL) : NULL;
	if (inject && strcmp(inject, "false") == 0)
		return ADMISSION_SKIP_OPTED_OUT;
	v = x->annotations ? json_object_get(x->annotations, ADMISSION_ANNOT_INJECT) : NULL;
	if (v) {
		inject = json_is_string(v) ? json_string_value(v) : NULL;
		if (inject && strcmp(inject, "false") == 0)
			return ADMISSION_SKIP_OPTED_OUT;
		if (!inject || strcmp(inject, "true") != 0) {
			char q[48];

			quote(q, sizeof(q), inject ? inject : "not a string", 32);
			WARN(x,
			     "annotation " ADMISSION_ANNOT_INJECT
			     " is \"%s\", not \"true\" or \"false\"; the sidecar is not injected",
			     q);
			return ADMISSION_SKIP_INVALID_ANNOTATION;
		}
		x->asked = true;
	}
	name = json_is_object(labels) ? str_at(labels, "app.kubernetes.io/name", 64, NULL) : NULL;
	component =
	    json_is_object(labels) ? str_at(labels, "app.kubernetes.io/component", 64, NULL) : NULL;
	if (name && component && strcmp(name, "podflow") == 0 &&
	    strcmp(component, "collector") == 0)
		return ADMISSION_SKIP_COLLECTOR;
	if (json_is_true(json_object_get(spec, "hostNetwork"))) {
		if (x->asked)
			WARN(x, "hostNetwork pods are not injected (the sidecar would capture the "
				"node's traffic)");
		return ADMISSION_SKIP_HOST_NETWORK;
	}
	json_array_foreach(x->volumes, i, v)
	{
		const char *n = str_at(v, "name", ADMISSION_MAX_NAME, NULL);

		for (size_t k = 0; n && k < sizeof(ours) / sizeof(ours[0]); k++) {
			if (strcmp(n, ours[k]) == 0) {
				WARN(x,
				     "the Pod %s already has a volume named %s; the sidecar is not "
				     "injected",
				     subj, n);
				return ADMISSION_SKIP_NAME_CONFLICT;
			}
		}
	}
	return o->native_sidecar ? ADMISSION_INJECTED_NATIVE : ADMISSION_INJECTED_CONTAINER;
}

/* ---- the patch ---- */

/* Appends to `arr`, taking the reference; false when either is NULL or out of memory. */
static bool push(json_t *arr, json_t *v)
{
	return arr && v && json_array_append_new(arr, v) == 0;
}

static bool put(json_t *obj, const char *key, json_t *v)
{
	return obj && v && json_object_set_new(obj, key, v) == 0;
}

static json_t *field_env(const char *name, const char *path)
{
	return json_pack("{s:s, s:{s:{s:s}}}", "name", name, "valueFrom", "fieldRef", "fieldPath",
			 path);
}

static json_t *mount(const char *name, const char *path)
{
	return json_pack("{s:s, s:s, s:b}", "name", name, "mountPath", path, "readOnly", 1);
}

/* requests and limits from the set quantities; NULL (none) when none is set. */
static json_t *resources(const struct admission_opts *o, bool *oom)
{
	json_t *res = json_object(), *req = json_object(), *lim = json_object();
	bool ok = res && req && lim;

	if (ok && set(o->cpu_request))
		ok = put(req, "cpu", json_string(o->cpu_request));
	if (ok && set(o->memory_request))
		ok = put(req, "memory", json_string(o->memory_request));
	if (ok && set(o->cpu_limit))
		ok = put(lim, "cpu", json_string(o->cpu_limit));
	if (ok && set(o->memory_limit))
		ok = put(lim, "memory", json_string(o->memory_limit));
	if (ok && json_object_size(req))
		ok = put(res, "requests", json_incref(req));
	if (ok && json_object_size(lim))
		ok = put(res, "limits", json_incref(lim));
	json_decref(req);
	json_decref(lim);
	if (!ok || !json_object_size(res)) {
		*oom |= !ok;
		json_decref(res);
		return NULL;
	}
	return res;
}

static json_t *sidecar_container(const struct admission_opts *o)
{
	json_t *c = json_object(), *args = json_array(), *env = json_array(),
	       *mounts = json_array();
	json_t *caps = json_array(), *res;
	bool ok = c && args && env && mounts && caps, oom = false;

	/*
	 * --config-optional and --token-optional: the ConfigMap and the Secret
	 * are optional volumes (an empty directory until they exist), and the
	 * sidecar must start all the same (docs/webhook.md)
	 */
	if (ok && set(o->config_map))
		ok = push(args, json_string("--config")) &&
		     push(args, json_string(ADMISSION_CONFIG_FILE)) &&
		     push(args, json_string("--config-optional"));
	ok = ok && push(args, json_string("--output")) &&
	     push(args, json_string(o->collector_url ? o->collector_url : "")) &&
	     push(args, json_string("--labels-file")) &&
	     push(args, json_string(ADMISSION_PODINFO_LABELS)) &&
	     push(args, json_string("--cgroup-root")) &&
	     push(args, json_string(ADMISSION_CGROUP_MOUNT));
	if (ok && set(o->token_secret))
		ok = push(args, json_string("--token-file")) &&
		     push(args, json_string(ADMISSION_TOKEN_FILE)) &&
		     push(args, json_string("--token-optional"));
	ok = ok && push(args, json_string("--identity-token-file")) &&
	     push(args, json_string(ADMISSION_IDENTITY_FILE));

	ok = ok && push(env, field_env("POD_NAME", "metadata.name")) &&
	     push(env, field_env("POD_NAMESPACE", "metadata.namespace")) &&
	     push(env, field_env("POD_UID", "metadata.uid")) &&
	     push(env, field_env("NODE_NAME", "spec.nodeName")) &&
	     push(env, field_env("POD_IP", "status.podIP")) &&
	     push(env, field_env("POD_IPS", "status.podIPs")) &&
	     push(env, field_env("POD_APP", "metadata.labels['app.kubernetes.io/name']"));

	ok = ok && push(mounts, mount(VOL_PODINFO, ADMISSION_PODINFO_DIR));
	if (ok && set(o->config_map))
		ok = push(mounts, mount(VOL_CONFIG, ADMISSION_CONFIG_DIR));
	if (ok && set(o->token_secret))
		ok = push(mounts, mount(VOL_TOKEN, ADMISSION_TOKEN_DIR));
	ok = ok && push(mounts, mount(VOL_IDENTITY, ADMISSION_IDENTITY_DIR));
	ok = ok && push(mounts, mount(VOL_CGROUP, ADMISSION_CGROUP_MOUNT));

	for (size_t i = 0; ok && i < sizeof(sidecar_caps) / sizeof(sidecar_caps[0]); i++)
		ok = push(caps, json_string(sidecar_caps[i]));

	ok = ok && put(c, "name", json_string(ADMISSION_SIDECAR_NAME)) &&
	     put(c, "image", json_string(o->image ? o->image : "")) &&
	     put(c, "imagePullPolicy", json_string(o->pull_policy ? o->pull_policy : ""));
	/* KEP-753: an init container that restarts is a sidecar, running beside the app */
	if (ok && o->native_sidecar)
		ok = put(c, "restartPolicy", json_string("Always"));
	ok = ok && put(c, "args", json_incref(args)) && put(c, "env", json_incref(env));
	res = ok ? resources(o, &oom) : NULL;
	if (res)
		ok = put(c, "resources", res);
	ok = ok && !oom &&
	     put(c, "securityContext",
		 json_pack("{s:i, s:b, s:b, s:b, s:{s:[s], s:O}}", "runAsUser", 0, "runAsNonRoot",
			   0, "readOnlyRootFilesystem", 1, "allowPrivilegeEscalation", 0,
			   "capabilities", "drop", "ALL", "add", caps)) &&
	     put(c, "volumeMounts", json_incref(mounts)) &&
	     /* the sidecar's one error line in `kubectl describe` when it cannot start */
	     put(c, "terminationMessagePolicy", json_string("FallbackToLogsOnError"));
	json_decref(args);
	json_decref(env);
	json_decref(mounts);
	json_decref(caps);
	if (!ok) {
		json_decref(c);
		return NULL;
	}
	return c;
}

static json_t *volumes(const struct admission_opts *o)
{
	json_t *v = json_array();
	bool ok = push(v, json_pack("{s:s, s:{s:[{s:s, s:{s:s}}]}}", "name", VOL_PODINFO,
				    "downwardAPI", "items", "path", "labels", "fieldRef",
				    "fieldPath", "metadata.labels"));

	/* optional: a namespace without them still runs its pods (the sidecar on defaults) */
	if (ok && set(o->config_map))
		ok = push(v, json_pack("{s:s, s:{s:s, s:b}}", "name", VOL_CONFIG, "configMap",
				       "name", o->config_map, "optional", 1));
	if (ok && set(o->token_secret))
		ok = push(v, json_pack("{s:s, s:{s:s, s:b}}", "name", VOL_TOKEN, "secret",
				       "secretName", o->token_secret, "optional", 1));
	/*
	 * A token only this pod holds, for the collector only (its audience),
	 * bound to the pod (the API server's TokenReview names it), short-lived
	 * and rotated by the kubelet: what proves the pod's heartbeats.
	 */
	ok = ok && push(v, json_pack("{s:s, s:{s:[{s:{s:s, s:i, s:s}}]}}", "name", VOL_IDENTITY,
				     "projected", "sources", "serviceAccountToken", "audience",
				     ADMISSION_IDENTITY_AUDIENCE, "expirationSeconds",
				     ADMISSION_IDENTITY_SECONDS, "path", "token"));
	ok = ok && push(v, json_pack("{s:s, s:{s:s, s:s}}", "name", VOL_CGROUP, "hostPath", "path",
				     ADMISSION_CGROUP_HOST, "type", "Directory"));
	if (!ok) {
		json_decref(v);
		return NULL;
	}
	return v;
}

/* {"op": "add", ...}, taking `value` (json_pack's "o" releases it on failure too). */
static json_t *op_add(const char *path, json_t *value)
{
	if (!value)
		return NULL;
	return json_pack("{s:s, s:s, s:o}", "op", "add", "path", path, "value", value);
}

/* /metadata/annotations/<key escaped>, or the whole map when there is none. */
static bool add_annotations(json_t *patch, json_t *existing, json_t *add)
{
	char path[256], key[200];
	const char *k;
	json_t *v;

	if (!existing)
		return push(patch, op_add("/metadata/annotations", json_incref(add)));
	json_object_foreach(add, k, v)
	{
		if (admission_pointer_escape(k, key, sizeof(key)))
			return false;
		snprintf(path, sizeof(path), "/metadata/annotations/%s", key);
		if (!push(patch, op_add(path, json_incref(v))))
			return false;
	}
	return true;
}

/*
 * The RFC 6902 operations, each an "add" (which creates a member or
 * inserts into an array, RFC 6902 section 4.1): the sidecar first among
 * the init containers (native) or the containers; the volumes, appended
 * ("-"), or the whole list when there is none; the annotations.  A member
 * that does not exist is created whole, as a JSON Patch cannot add below a
 * missing parent.
 */
static json_t *build_patch(const struct review *x, const struct admission_opts *o)
{
	json_t *patch = json_array(), *c = sidecar_container(o), *vols = volumes(o);
	json_t *annots = json_object();
	const char *first;
	bool ok = patch && c && vols && annots;
	size_t i;
	json_t *v;

	if (ok && o->native_sidecar)
		ok = push(patch, x->init ? op_add("/spec/initContainers/0", json_incref(c))
					 : op_add("/spec/initContainers", json_pack("[O]", c)));
	else if (ok)
		ok = push(patch, op_add("/spec/containers/0", json_incref(c)));
	if (ok && x->volumes) {
		json_array_foreach(vols, i, v)
		{
			if (!(ok = push(patch, op_add("/spec/volumes/-", json_incref(v)))))
				break;
		}
	} else if (ok) {
		ok = push(patch, op_add("/spec/volumes", json_incref(vols)));
	}
	ok = ok && put(annots, ADMISSION_ANNOT_STATUS, json_string("injected"));
	/* a regular container placed first would become kubectl's default: keep the app's */
	first = str_at(json_array_get(x->containers, 0), "name", ADMISSION_MAX_NAME, NULL);
	if (ok && !o->native_sidecar && first &&
	    !(x->annotations &&
	      json_object_get(x->annotations, "kubectl.kubernetes.io/default-container")))
		ok = put(annots, "kubectl.kubernetes.io/default-container", json_string(first));
	ok = ok && add_annotations(patch, x->annotations, annots);
	json_decref(c);
	json_decref(vols);
	json_decref(annots);
	if (!ok) {
		json_decref(patch);
		return NULL;
	}
	return patch;
}

/* ---- the answer ---- */

static int respond(struct admission_result *r, const char *uid, const char *patch)
{
	json_t *resp = json_pack("{s:s, s:b}", "uid", uid ? uid : "", "allowed", 1), *review;
	char *b64 = NULL;
	bool ok = resp;

	if (ok && patch) {
		b64 = base64(patch, strlen(patch));
		ok = b64 && put(resp, "patchType", json_string("JSONPatch")) &&
		     put(resp, "patch", json_string(b64));
	}
	if (ok && r->warning[0])
		ok = put(resp, "warnings", json_pack("[s]", r->warning));
	free(b64);
	review = ok ? json_pack("{s:s, s:s, s:o}", "apiVersion", ADMISSION_API_VERSION, "kind",
				"AdmissionReview", "response", resp)
		    : NULL;
	if (!review) {
		if (!ok)
			json_decref(resp);
		return -ENOMEM;
	}
	r->response = json_dumps(review, JSON_COMPACT);
	json_decref(review);
	if (!r->response)
		return -ENOMEM;
	r->response_len = strlen(r->response);
	return 0;
}

int admission_review(const char *body, size_t len, const struct admission_opts *o,
		     struct admission_result *r)
{
	struct review x = { 0 };
	json_error_t jerr;
	json_t *root, *patch = NULL;
	int err;

	memset(r, 0, sizeof(*r));
	x.warning = r->warning;
	x.warning_len = sizeof(r->warning);
	/* duplicate keys would be read one way here and another by the API server */
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		char q[96];

		quote(q, sizeof(q), jerr.text, 80);
		r->reason = ADMISSION_ERR_MALFORMED_JSON;
		WARN(&x,
		     "the AdmissionReview is not JSON (at byte %d: %s); the sidecar is not "
		     "injected",
		     jerr.position, q);
		goto answer;
	}
	r->reason = check_review(root, &x, r->subject, sizeof(r->subject));
	if (r->reason == ADMISSION_REASON__COUNT)
		r->reason = decide(&x, o, r->subject);
	if (admission_reason_outcome(r->reason) == ADMISSION_OUTCOME_INJECTED) {
		patch = build_patch(&x, o);
		r->patch = patch ? json_dumps(patch, JSON_COMPACT) : NULL;
		json_decref(patch);
		if (!r->patch) {
			r->reason = ADMISSION_ERR_INTERNAL;
			WARN(&x, "out of memory building the patch; the sidecar is not injected");
		}
	}
answer:
	err = respond(r, x.uid, r->patch);
	json_decref(root); /* after respond(): x.uid is the review's */
	if (err) {
		free(r->patch);
		r->patch = NULL;
		r->reason = ADMISSION_ERR_INTERNAL;
		return err;
	}
	return 0;
}

void admission_result_free(struct admission_result *r)
{
	if (!r)
		return;
	free(r->response);
	free(r->patch);
	r->response = NULL;
	r->patch = NULL;
}
