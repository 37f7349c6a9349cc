// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/webhook/admission: every case of the injection rule, the patch's exact operations, escaping, idempotency, bounds. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../report.h"
#include "admission.h"

#define UID "705ab4f5-6393-11e8-b7cc-42010a800002"
#define URL "http://podflow-collector.podflow.svc:7070"

static const struct admission_opts defaults = {
	.image = "podflow-sidecar:latest",
	.pull_policy = "IfNotPresent",
	.native_sidecar = true,
	.collector_url = URL,
	.config_map = "podflow-sidecar",
	.token_secret = "podflow-token",
	.cpu_request = "20m",
	.memory_request = "32Mi",
	.memory_limit = "128Mi",
};

/* A pod as the API server sends it at CREATE: no uid, no status. */
#define POD_PLAIN                                                                               \
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":" \
	"\"team-a\"},\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"nginx\"}]}}"

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (!j) {
		print_error("bad test JSON: %s: %s\n", e.text, text);
		fail();
	}
	return j;
}

/* An AdmissionReview v1 around `pod` (taken), operation `op`, from namespace team-a. */
static char *review_of(json_t *pod, const char *op)
{
	json_t *r =
	    json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}, s:s, s:s, "
		      "s:s, s:o, s:b}}",
		      "apiVersion", "admission.k8s.io/v1", "kind", "AdmissionReview", "request",
		      "uid", UID, "kind", "group", "", "version", "v1", "kind", "Pod", "resource",
		      "group", "", "version", "v1", "resource", "pods", "namespace", "team-a",
		      "name", "", "operation", op, "object", pod, "dryRun", 0);
	char *s = json_dumps(r, JSON_COMPACT);

	json_decref(r);
	return s;
}

/* A test's figures for docs/reliability.md, once they add up (tests/report.h). */
static void report(const char *test, struct report_fault *f)
{
	f->lost = f->injected - f->delivered - f->counted;
	assert_int_equal(f->lost, 0);
	report_fault_line("admission", test, 1, f);
}

struct outcome {
	struct admission_result r;
	json_t *response; /* the parsed AdmissionReview answer */
	json_t *patch;	  /* the parsed patch, or NULL */
};

static void run_text(const char *body, size_t len, const struct admission_opts *o,
		     struct outcome *out)
{
	json_error_t e;

	memset(out, 0, sizeof(*out));
	assert_int_equal(0, admission_review(body, len, o, &out->r));
	assert_non_null(out->r.response);
	assert_int_equal(strlen(out->r.response), out->r.response_len);
	out->response = json_loads(out->r.response, 0, &e);
	assert_non_null(out->response);
	if (out->r.patch) {
		out->patch = json_loads(out->r.patch, 0, &e);
		assert_non_null(out->patch);
	}
}

static void run_pod(json_t *pod, const char *op, const struct admission_opts *o,
		    struct outcome *out)
{
	char *body = review_of(pod, op);

	run_text(body, strlen(body), o, out);
	free(body);
}

static void outcome_free(struct outcome *o)
{
	admission_result_free(&o->r);
	json_decref(o->response);
	json_decref(o->patch);
}

static const char *b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *unbase64(const char *in)
{
	size_t n = strlen(in), o = 0;
	char *out = malloc(n);
	uint32_t v = 0;
	int bits = 0;

	assert_non_null(out);
	for (size_t i = 0; i < n && in[i] != '='; i++) {
		const char *p = strchr(b64, in[i]);

		assert_non_null(p);
		v = (v << 6) | (uint32_t)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((v >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	return out;
}

/* Every answer: the v1 envelope, the uid echoed (when there was one), allowed. */
static void assert_envelope(const struct outcome *o, const char *uid)
{
	json_t *resp = json_object_get(o->response, "response");

	assert_string_equal("admission.k8s.io/v1",
			    json_string_value(json_object_get(o->response, "apiVersion")));
	assert_string_equal("AdmissionReview",
			    json_string_value(json_object_get(o->response, "kind")));
	assert_string_equal(uid, json_string_value(json_object_get(resp, "uid")));
	assert_true(json_is_true(json_object_get(resp, "allowed")));
}

/* An answer without a patch, for `reason`; a warning iff `warned` (containing `needle`). */
static void assert_no_patch(const struct outcome *o, enum admission_reason reason, bool warned,
			    const char *needle)
{
	json_t *resp = json_object_get(o->response, "response");
	json_t *w = json_object_get(resp, "warnings");

	if (o->r.reason != reason) {
		print_error("expected reason %s, got %s (%s)\n", admission_reason_name(reason),
			    admission_reason_name(o->r.reason), o->r.warning);
		fail();
	}
	assert_null(o->r.patch);
	assert_null(json_object_get(resp, "patch"));
	assert_null(json_object_get(resp, "patchType"));
	if (!warned) {
		assert_null(w);
		assert_string_equal("", o->r.warning);
		return;
	}
	assert_true(json_is_array(w));
	assert_int_equal(1, json_array_size(w));
	assert_string_equal(o->r.warning, json_string_value(json_array_get(w, 0)));
	assert_true(strncmp(o->r.warning, "podflow: ", 9) == 0);
	assert_true(strlen(o->r.warning) < ADMISSION_MAX_WARNING);
	for (const char *p = o->r.warning; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
	if (needle && !strstr(o->r.warning, needle)) {
		print_error("warning \"%s\" lacks \"%s\"\n", o->r.warning, needle);
		fail();
	}
}

/* ---- a JSON Patch "add" applier (RFC 6902 section 4.1), enough for our patches ---- */

static void unescape(char *tok)
{
	char *o = tok;

	for (char *p = tok; *p; p++) {
		if (p[0] == '~' && p[1] == '1') {
			*o++ = '/';
			p++;
		} else if (p[0] == '~' && p[1] == '0') {
			*o++ = '~';
			p++;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
}

static void apply_add(json_t *doc, const char *path, json_t *value)
{
	char buf[512], *tok, *next;
	json_t *cur = doc;

	assert_true(path[0] == '/');
	snprintf(buf, sizeof(buf), "%s", path + 1);
	for (tok = buf;; tok = next) {
		next = strchr(tok, '/');
		if (next)
			*next++ = '\0';
		unescape(tok);
		if (!next) {
			if (json_is_object(cur)) {
				assert_int_equal(0, json_object_set(cur, tok, value));
			} else {
				assert_true(json_is_array(cur));
				if (strcmp(tok, "-") == 0) {
					assert_int_equal(0, json_array_append(cur, value));
				} else {
					size_t i = strtoul(tok, NULL, 10);

					/* the index may be the size: add at the end */
					assert_true(i <= json_array_size(cur));
					assert_int_equal(0, json_array_insert(cur, i, value));
				}
			}
			return;
		}
		/* RFC 6902 section 4.1: every parent must exist */
		cur = json_is_object(cur) ? json_object_get(cur, tok)
					  : json_array_get(cur, strtoul(tok, NULL, 10));
		assert_non_null(cur);
	}
}

static void apply(json_t *pod, json_t *patch)
{
	size_t i;
	json_t *op;

	json_array_foreach(patch, i, op)
	{
		assert_string_equal("add", json_string_value(json_object_get(op, "op")));
		apply_add(pod, json_string_value(json_object_get(op, "path")),
			  json_object_get(op, "value"));
	}
}

/* ---- the patch ---- */

static json_t *op_at(const struct outcome *o, size_t i)
{
	return json_array_get(o->patch, i);
}

static void assert_op(const struct outcome *o, size_t i, const char *path)
{
	json_t *op = op_at(o, i);

	assert_non_null(op);
	assert_string_equal("add", json_string_value(json_object_get(op, "op")));
	assert_string_equal(path, json_string_value(json_object_get(op, "path")));
	assert_int_equal(3, json_object_size(op));
}

static void assert_strings(json_t *arr, const char *const *want, size_t n)
{
	assert_int_equal(n, json_array_size(arr));
	for (size_t i = 0; i < n; i++)
		assert_string_equal(want[i], json_string_value(json_array_get(arr, i)));
}

/* The sidecar container, field by field. */
static void assert_container(json_t *c, const struct admission_opts *o)
{
	static const char *const env[][2] = {
		{ "POD_NAME", "metadata.name" },
		{ "POD_NAMESPACE", "metadata.namespace" },
		{ "POD_UID", "metadata.uid" },
		{ "NODE_NAME", "spec.nodeName" },
		{ "POD_IP", "status.podIP" },
		{ "POD_IPS", "status.podIPs" },
		{ "POD_APP", "metadata.labels['app.kubernetes.io/name']" },
	};
	static const char *const caps[] = { "BPF", "PERFMON", "NET_ADMIN" };
	const char *args[16];
	const char *mounts[5][2];
	size_t n = 0, m = 0;
	json_t *sc = json_object_get(c, "securityContext");
	json_t *res = json_object_get(c, "resources");

	assert_string_equal("podflow-sidecar", json_string_value(json_object_get(c, "name")));
	assert_string_equal(o->image, json_string_value(json_object_get(c, "image")));
	assert_string_equal(o->pull_policy,
			    json_string_value(json_object_get(c, "imagePullPolicy")));
	if (o->native_sidecar)
		assert_string_equal("Always",
				    json_string_value(json_object_get(c, "restartPolicy")));
	else
		assert_null(json_object_get(c, "restartPolicy"));
	assert_string_equal("FallbackToLogsOnError",
			    json_string_value(json_object_get(c, "terminationMessagePolicy")));

	if (o->config_map && *o->config_map) {
		args[n++] = "--config";
		args[n++] = "/etc/podflow/sidecar/sidecar.yaml";
		args[n++] = "--config-optional";
	}
	args[n++] = "--output";
	args[n++] = o->collector_url;
	args[n++] = "--labels-file";
	args[n++] = "/etc/podinfo/labels";
	args[n++] = "--cgroup-root";
	args[n++] = "/host/sys/fs/cgroup";
	if (o->token_secret && *o->token_secret) {
		args[n++] = "--token-file";
		args[n++] = "/var/run/secrets/podflow/token";
		args[n++] = "--token-optional";
	}
	args[n++] = "--identity-token-file";
	args[n++] = "/var/run/secrets/podflow-identity/token";
	assert_strings(json_object_get(c, "args"), args, n);
	assert_null(json_object_get(c, "command")); /* the image's entrypoint is the binary */

	assert_int_equal(7, json_array_size(json_object_get(c, "env")));
	for (size_t i = 0; i < 7; i++) {
		json_t *e = json_array_get(json_object_get(c, "env"), i);

		assert_string_equal(env[i][0], json_string_value(json_object_get(e, "name")));
		assert_string_equal(
		    env[i][1], json_string_value(json_object_get(
				   json_object_get(json_object_get(e, "valueFrom"), "fieldRef"),
				   "fieldPath")));
	}

	mounts[m][0] = "podflow-podinfo", mounts[m++][1] = "/etc/podinfo";
	if (o->config_map && *o->config_map)
		mounts[m][0] = "podflow-config", mounts[m++][1] = "/etc/podflow/sidecar";
	if (o->token_secret && *o->token_secret)
		mounts[m][0] = "podflow-token", mounts[m++][1] = "/var/run/secrets/podflow";
	mounts[m][0] = "podflow-identity", mounts[m++][1] = "/var/run/secrets/podflow-identity";
	mounts[m][0] = "podflow-cgroup", mounts[m++][1] = "/host/sys/fs/cgroup";
	assert_int_equal(m, json_array_size(json_object_get(c, "volumeMounts")));
	for (size_t i = 0; i < m; i++) {
		json_t *vm = json_array_get(json_object_get(c, "volumeMounts"), i);

		assert_string_equal(mounts[i][0], json_string_value(json_object_get(vm, "name")));
		assert_string_equal(mounts[i][1],
				    json_string_value(json_object_get(vm, "mountPath")));
		assert_true(json_is_true(json_object_get(vm, "readOnly")));
		assert_null(json_object_get(vm, "subPath")); /* never: subPath is never updated */
	}

	/* root, for the BPF syscalls, with nothing but the three capabilities */
	assert_int_equal(0, json_integer_value(json_object_get(sc, "runAsUser")));
	assert_true(json_is_false(json_object_get(sc, "runAsNonRoot")));
	assert_true(json_is_true(json_object_get(sc, "readOnlyRootFilesystem")));
	assert_true(json_is_false(json_object_get(sc, "allowPrivilegeEscalation")));
	assert_null(json_object_get(sc, "privileged"));
	assert_strings(json_object_get(json_object_get(sc, "capabilities"), "drop"),
		       (const char *const[]){ "ALL" }, 1);
	assert_strings(json_object_get(json_object_get(sc, "capabilities"), "add"), caps, 3);
	assert_int_equal(5, json_object_size(sc));

	if (!res) {
		assert_true(!(o->cpu_request && *o->cpu_request) &&
			    !(o->memory_request && *o->memory_request) &&
			    !(o->cpu_limit && *o->cpu_limit) &&
			    !(o->memory_limit && *o->memory_limit));
		return;
	}
#define Q(obj, key, want)                                                     \
	do {                                                                  \
		json_t *v_ = json_object_get(json_object_get(res, obj), key); \
		if ((want) && *(want))                                        \
			assert_string_equal((want), json_string_value(v_));   \
		else                                                          \
			assert_null(v_);                                      \
	} while (0)
	Q("requests", "cpu", o->cpu_request);
	Q("requests", "memory", o->memory_request);
	Q("limits", "cpu", o->cpu_limit);
	Q("limits", "memory", o->memory_limit);
#undef Q
}

/* The volumes, in order, named podflow-*. */
static void assert_volumes(json_t *vols, const struct admission_opts *o)
{
	size_t i = 0;
	json_t *v;

	v = json_array_get(vols, i++);
	assert_string_equal("podflow-podinfo", json_string_value(json_object_get(v, "name")));
	assert_string_equal(
	    "metadata.labels",
	    json_string_value(json_object_get(
		json_object_get(
		    json_array_get(json_object_get(json_object_get(v, "downwardAPI"), "items"), 0),
		    "fieldRef"),
		"fieldPath")));
	if (o->config_map && *o->config_map) {
		v = json_array_get(vols, i++);
		assert_string_equal("podflow-config",
				    json_string_value(json_object_get(v, "name")));
		assert_string_equal(o->config_map, json_string_value(json_object_get(
						       json_object_get(v, "configMap"), "name")));
		assert_true(
		    json_is_true(json_object_get(json_object_get(v, "configMap"), "optional")));
	}
	if (o->token_secret && *o->token_secret) {
		v = json_array_get(vols, i++);
		assert_string_equal("podflow-token", json_string_value(json_object_get(v, "name")));
		assert_string_equal(
		    o->token_secret,
		    json_string_value(json_object_get(json_object_get(v, "secret"), "secretName")));
		assert_true(
		    json_is_true(json_object_get(json_object_get(v, "secret"), "optional")));
	}
	/* the pod's own token, for the collector only, short-lived (the kubelet rotates it) */
	v = json_array_get(vols, i++);
	assert_string_equal("podflow-identity", json_string_value(json_object_get(v, "name")));
	{
		json_t *src =
		    json_array_get(json_object_get(json_object_get(v, "projected"), "sources"), 0);
		json_t *sat = json_object_get(src, "serviceAccountToken");

		assert_int_equal(1, json_array_size(json_object_get(json_object_get(v, "projected"),
								    "sources")));
		assert_string_equal("podflow", json_string_value(json_object_get(sat, "audience")));
		assert_int_equal(600,
				 json_integer_value(json_object_get(sat, "expirationSeconds")));
		assert_string_equal("token", json_string_value(json_object_get(sat, "path")));
	}
	v = json_array_get(vols, i++);
	assert_string_equal("podflow-cgroup", json_string_value(json_object_get(v, "name")));
	assert_string_equal("/sys/fs/cgroup", json_string_value(json_object_get(
						  json_object_get(v, "hostPath"), "path")));
	assert_string_equal("Directory", json_string_value(json_object_get(
					     json_object_get(v, "hostPath"), "type")));
	assert_int_equal(i, json_array_size(vols));
}

/* The response carries the patch: base64 of exactly r.patch, patchType JSONPatch. */
static void assert_patch_carried(const struct outcome *o)
{
	json_t *resp = json_object_get(o->response, "response");
	char *decoded;

	assert_string_equal("JSONPatch", json_string_value(json_object_get(resp, "patchType")));
	decoded = unbase64(json_string_value(json_object_get(resp, "patch")));
	assert_string_equal(o->r.patch, decoded);
	free(decoded);
	assert_null(json_object_get(resp, "warnings"));
}

/* Runs the webhook on its own output: nothing more to do. */
static void assert_idempotent(json_t *pod, const struct outcome *first,
			      const struct admission_opts *o)
{
	struct outcome again;
	json_t *patched = json_deep_copy(pod);

	apply(patched, first->patch);
	run_pod(json_incref(patched), "CREATE", o, &again);
	assert_no_patch(&again, ADMISSION_SKIP_ALREADY_INJECTED, false, NULL);
	outcome_free(&again);
	/* the status annotation alone is enough, and the container alone too */
	json_object_del(json_object_get(json_object_get(patched, "metadata"), "annotations"),
			"podflow.io/status");
	run_pod(json_incref(patched), "CREATE", o, &again);
	assert_no_patch(&again, ADMISSION_SKIP_ALREADY_INJECTED, false, NULL);
	outcome_free(&again);
	json_decref(patched);
}

/* Native sidecar, pod without initContainers, volumes, annotations or labels. */
static void test_native_creates_members(void **state)
{
	json_t *pod = parse(POD_PLAIN);
	struct outcome o;

	(void)state;
	run_pod(json_incref(pod), "CREATE", &defaults, &o);
	assert_int_equal(ADMISSION_INJECTED_NATIVE, o.r.reason);
	assert_envelope(&o, UID);
	assert_patch_carried(&o);
	assert_string_equal("team-a/web", o.r.subject);
	/* exactly: initContainers whole, volumes whole, annotations whole */
	assert_int_equal(3, json_array_size(o.patch));
	assert_op(&o, 0, "/spec/initContainers");
	assert_int_equal(1, json_array_size(json_object_get(op_at(&o, 0), "value")));
	assert_container(json_array_get(json_object_get(op_at(&o, 0), "value"), 0), &defaults);
	assert_op(&o, 1, "/spec/volumes");
	assert_volumes(json_object_get(op_at(&o, 1), "value"), &defaults);
	assert_op(&o, 2, "/metadata/annotations");
	assert_int_equal(1, json_object_size(json_object_get(op_at(&o, 2), "value")));
	assert_string_equal(
	    "injected", json_string_value(json_object_get(json_object_get(op_at(&o, 2), "value"),
							  "podflow.io/status")));
	assert_idempotent(pod, &o, &defaults);
	outcome_free(&o);
	json_decref(pod);
}

/* Native sidecar on the real kind pod: placed first among the existing init containers. */
static void test_native_inserts_first(void **state)
{
	json_t *pod = parse("{\"metadata\":{\"name\":\"sleep\",\"annotations\":{\"a/b~c\":\"x\"}},"
			    "\"spec\":{\"initContainers\":[{\"name\":\"init\"},{\"name\":"
			    "\"sidecar\",\"restartPolicy\":\"Always\"}],\"containers\":[{\"name\":"
			    "\"sleep\"}],\"volumes\":[{\"name\":\"kube-api-access-mphcq\"}]}}");
	struct outcome o;
	json_t *patched;

	(void)state;
	run_pod(json_incref(pod), "CREATE", &defaults, &o);
	assert_int_equal(ADMISSION_INJECTED_NATIVE, o.r.reason);
	/* 1 container + 5 volumes appended + 1 annotation */
	assert_int_equal(7, json_array_size(o.patch));
	assert_op(&o, 0, "/spec/initContainers/0");
	assert_container(json_object_get(op_at(&o, 0), "value"), &defaults);
	for (size_t i = 1; i <= 5; i++)
		assert_op(&o, i, "/spec/volumes/-");
	assert_op(&o, 6, "/metadata/annotations/podflow.io~1status");
	assert_string_equal("injected", json_string_value(json_object_get(op_at(&o, 6), "value")));

	patched = json_deep_copy(pod);
	apply(patched, o.patch);
	{
		json_t *init = json_object_get(json_object_get(patched, "spec"), "initContainers");
		json_t *vols = json_object_get(json_object_get(patched, "spec"), "volumes");
		json_t *ann = json_object_get(json_object_get(patched, "metadata"), "annotations");

		assert_int_equal(3, json_array_size(init));
		assert_string_equal("podflow-sidecar", json_string_value(json_object_get(
							   json_array_get(init, 0), "name")));
		assert_string_equal(
		    "init", json_string_value(json_object_get(json_array_get(init, 1), "name")));
		assert_int_equal(6, json_array_size(vols));
		assert_string_equal("kube-api-access-mphcq", json_string_value(json_object_get(
								 json_array_get(vols, 0), "name")));
		assert_string_equal("x", json_string_value(json_object_get(ann, "a/b~c")));
		assert_string_equal("injected",
				    json_string_value(json_object_get(ann, "podflow.io/status")));
	}
	json_decref(patched);
	assert_idempotent(pod, &o, &defaults);
	outcome_free(&o);
	json_decref(pod);
}

/* A regular container, first; kubectl's default container stays the app's. */
static void test_regular_container(void **state)
{
	struct admission_opts opts = defaults;
	json_t *pod = parse("{\"metadata\":{\"name\":\"base\",\"annotations\":{\"prometheus.io/"
			    "port\":\"2020\"}},\"spec\":{\"containers\":[{\"name\":\"fluent-bit\"},"
			    "{\"name\":\"second\"}]}}");
	struct outcome o;

	(void)state;
	opts.native_sidecar = false;
	run_pod(json_incref(pod), "CREATE", &opts, &o);
	assert_int_equal(ADMISSION_INJECTED_CONTAINER, o.r.reason);
	assert_int_equal(4, json_array_size(o.patch));
	assert_op(&o, 0, "/spec/containers/0");
	assert_container(json_object_get(op_at(&o, 0), "value"), &opts);
	assert_op(&o, 1, "/spec/volumes");
	assert_op(&o, 2, "/metadata/annotations/podflow.io~1status");
	assert_op(&o, 3, "/metadata/annotations/kubectl.kubernetes.io~1default-container");
	assert_string_equal("fluent-bit",
			    json_string_value(json_object_get(op_at(&o, 3), "value")));
	assert_idempotent(pod, &o, &opts);
	outcome_free(&o);

	/* a default container the pod names already is left alone */
	json_object_set_new(json_object_get(json_object_get(pod, "metadata"), "annotations"),
			    "kubectl.kubernetes.io/default-container", json_string("second"));
	run_pod(json_incref(pod), "CREATE", &opts, &o);
	assert_int_equal(3, json_array_size(o.patch));
	assert_op(&o, 2, "/metadata/annotations/podflow.io~1status");
	outcome_free(&o);

	/* no annotations at all: one map with both */
	json_object_del(json_object_get(pod, "metadata"), "annotations");
	run_pod(json_incref(pod), "CREATE", &opts, &o);
	assert_int_equal(3, json_array_size(o.patch));
	assert_op(&o, 2, "/metadata/annotations");
	assert_int_equal(2, json_object_size(json_object_get(op_at(&o, 2), "value")));
	outcome_free(&o);
	json_decref(pod);
}

/* Null members are absent ones: created whole. */
static void test_null_members(void **state)
{
	json_t *pod = parse("{\"metadata\":{\"name\":\"n\",\"annotations\":null,\"labels\":null},"
			    "\"spec\":{\"containers\":[{\"name\":\"a\"}],\"initContainers\":null,"
			    "\"volumes\":null,\"hostNetwork\":false}}");
	struct outcome o;

	(void)state;
	run_pod(json_incref(pod), "CREATE", &defaults, &o);
	assert_int_equal(ADMISSION_INJECTED_NATIVE, o.r.reason);
	assert_op(&o, 0, "/spec/initContainers");
	assert_op(&o, 1, "/spec/volumes");
	assert_op(&o, 2, "/metadata/annotations");
	assert_idempotent(pod, &o, &defaults);
	outcome_free(&o);
	json_decref(pod);
}

/* Options: no ConfigMap, no token, no resources; and the limits. */
static void test_options(void **state)
{
	struct admission_opts opts = defaults;
	json_t *pod = parse(POD_PLAIN);
	struct outcome o;

	(void)state;
	opts.config_map = "";
	opts.token_secret = NULL;
	opts.cpu_request = opts.memory_request = opts.memory_limit = NULL;
	opts.image = "registry.example/podflow-sidecar@sha256:0123";
	opts.pull_policy = "Always";
	run_pod(json_incref(pod), "CREATE", &opts, &o);
	assert_container(json_array_get(json_object_get(op_at(&o, 0), "value"), 0), &opts);
	assert_null(json_object_get(json_array_get(json_object_get(op_at(&o, 0), "value"), 0),
				    "resources"));
	assert_volumes(json_object_get(op_at(&o, 1), "value"), &opts);
	outcome_free(&o);

	opts.cpu_limit = "500m";
	run_pod(json_incref(pod), "CREATE", &opts, &o);
	assert_container(json_array_get(json_object_get(op_at(&o, 0), "value"), 0), &opts);
	assert_null(json_object_get(
	    json_object_get(json_array_get(json_object_get(op_at(&o, 0), "value"), 0), "resources"),
	    "requests"));
	outcome_free(&o);
	json_decref(pod);
}

/* The generateName pod of a ReplicaSet: the namespace comes from the request. */
static void test_generate_name(void **state)
{
	json_t *pod = parse("{\"metadata\":{\"generateName\":\"web-7d9f8b6c5-\",\"labels\":{"
			    "\"app\":\"web\",\"pod-template-hash\":\"7d9f8b6c5\"}},\"spec\":{"
			    "\"containers\":[{\"name\":\"app\"}]}}");
	struct outcome o;

	(void)state;
	run_pod(json_incref(pod), "CREATE", &defaults, &o);
	assert_int_equal(ADMISSION_INJECTED_NATIVE, o.r.reason);
	assert_string_equal("team-a/web-7d9f8b6c5-*", o.r.subject);
	outcome_free(&o);
	json_decref(pod);
}

/* ---- the rule's skips ---- */

static void expect_skip(const char *pod_text, const char *op, enum admission_reason reason,
			bool warned, const char *needle)
{
	json_t *pod = parse(pod_text);
	struct outcome o;

	run_pod(pod, op, &defaults, &o);
	assert_envelope(&o, UID);
	assert_no_patch(&o, reason, warned, needle);
	assert_int_equal(ADMISSION_OUTCOME_SKIPPED, admission_reason_outcome(o.r.reason));
	outcome_free(&o);
}

#define META(m, s) \
	"{\"metadata\":{\"name\":\"p\"" m "},\"spec\":{\"containers\":[{\"name\":\"a\"}]" s "}}"

static void test_skips(void **state)
{
	(void)state;
	expect_skip(META("", ""), "UPDATE", ADMISSION_SKIP_NOT_CREATE, false, NULL);
	expect_skip(META("", ""), "DELETE", ADMISSION_SKIP_NOT_CREATE, false, NULL);
	expect_skip(META(",\"annotations\":{\"podflow.io/status\":\"injected\"}", ""), "CREATE",
		    ADMISSION_SKIP_ALREADY_INJECTED, false, NULL);
	expect_skip("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"a\"},{"
		    "\"name\":\"podflow-sidecar\"}]}}",
		    "CREATE", ADMISSION_SKIP_ALREADY_INJECTED, false, NULL);
	expect_skip(META("", ",\"initContainers\":[{\"name\":\"podflow-sidecar\"}]"), "CREATE",
		    ADMISSION_SKIP_ALREADY_INJECTED, false, NULL);
	/* already injected comes first: a reinvocation is a no-op whatever else holds */
	expect_skip(META(",\"annotations\":{\"podflow.io/status\":\"injected\",\"podflow.io/"
			 "inject\":\"maybe\"}",
			 ",\"hostNetwork\":true"),
		    "CREATE", ADMISSION_SKIP_ALREADY_INJECTED, false, NULL);
	expect_skip(META(",\"annotations\":{\"podflow.io/inject\":\"false\"}", ""), "CREATE",
		    ADMISSION_SKIP_OPTED_OUT, false, NULL);
	/* the label of the same name, as the chart's selectors use it */
	expect_skip(META(",\"labels\":{\"podflow.io/inject\":\"false\"}", ""), "CREATE",
		    ADMISSION_SKIP_OPTED_OUT, false, NULL);
	/* the annotation "false" wins over the label "true" that had the pod sent */
	expect_skip(META(",\"labels\":{\"podflow.io/inject\":\"true\"},\"annotations\":{"
			 "\"podflow.io/inject\":\"false\"}",
			 ""),
		    "CREATE", ADMISSION_SKIP_OPTED_OUT, false, NULL);
	expect_skip(META(",\"annotations\":{\"podflow.io/inject\":\"yes\"}", ""), "CREATE",
		    ADMISSION_SKIP_INVALID_ANNOTATION, true,
		    "is \"yes\", not \"true\" or \"false\"");
	expect_skip(META(",\"annotations\":{\"podflow.io/inject\":\"True\"}", ""), "CREATE",
		    ADMISSION_SKIP_INVALID_ANNOTATION, true, "\"True\"");
	expect_skip(META(",\"annotations\":{\"podflow.io/inject\":true}", ""), "CREATE",
		    ADMISSION_SKIP_INVALID_ANNOTATION, true, "not a string");
	/* control bytes in a value never reach the warning */
	expect_skip(META(",\"annotations\":{\"podflow.io/inject\":\"a\\nb\\u0007\"}", ""), "CREATE",
		    ADMISSION_SKIP_INVALID_ANNOTATION, true, "\"a?b?\"");
	expect_skip(META(",\"labels\":{\"app.kubernetes.io/name\":\"podflow\",\"app.kubernetes.io/"
			 "component\":\"collector\"}",
			 ""),
		    "CREATE", ADMISSION_SKIP_COLLECTOR, false, NULL);
	/* the collector even when annotated: the objectSelector may be gone */
	expect_skip(META(",\"annotations\":{\"podflow.io/inject\":\"true\"},\"labels\":{\"app."
			 "kubernetes.io/name\":\"podflow\",\"app.kubernetes.io/"
			 "component\":\"collector\"}",
			 ""),
		    "CREATE", ADMISSION_SKIP_COLLECTOR, false, NULL);
	expect_skip(META("", ",\"hostNetwork\":true"), "CREATE", ADMISSION_SKIP_HOST_NETWORK, false,
		    NULL);
	expect_skip(
	    META(",\"annotations\":{\"podflow.io/inject\":\"true\"}", ",\"hostNetwork\":true"),
	    "CREATE", ADMISSION_SKIP_HOST_NETWORK, true, "hostNetwork");
	expect_skip(META("", ",\"volumes\":[{\"name\":\"data\"},{\"name\":\"podflow-config\"}]"),
		    "CREATE", ADMISSION_SKIP_NAME_CONFLICT, true, "volume named podflow-config");
}

/* What is not skipped: one of the collector's labels, the annotation "true", other labels. */
static void test_injected_cases(void **state)
{
	static const char *const pods[] = {
		META(",\"labels\":{\"app.kubernetes.io/name\":\"podflow\"}", ""),
		META(",\"labels\":{\"app.kubernetes.io/component\":\"collector\"}", ""),
		META(",\"annotations\":{\"podflow.io/inject\":\"true\"}", ""),
		META(",\"labels\":{\"podflow.io/inject\":\"true\"}", ""),
		META(",\"annotations\":{\"podflow.io/status\":\"skipped\"}", ""),
		META("", ",\"hostNetwork\":false,\"volumes\":[{\"name\":\"podflow\"}]"),
	};

	(void)state;
	for (size_t i = 0; i < sizeof(pods) / sizeof(pods[0]); i++) {
		json_t *pod = parse(pods[i]);
		struct outcome o;

		run_pod(pod, "CREATE", &defaults, &o);
		if (o.r.reason != ADMISSION_INJECTED_NATIVE) {
			print_error("%s: expected native_sidecar, got %s\n", pods[i],
				    admission_reason_name(o.r.reason));
			fail();
		}
		assert_string_equal("", o.r.warning);
		outcome_free(&o);
	}
}

/* ---- malformed or unexpected input: allowed, no patch, a warning ---- */

/* A review answered without a patch, with a warning and `reason`; 1 when its outcome is "error". */
static int expect_error_text(const char *body, enum admission_reason reason, const char *uid,
			     const char *needle)
{
	struct outcome o;
	int error;

	run_text(body, strlen(body), &defaults, &o);
	assert_envelope(&o, uid);
	assert_no_patch(&o, reason, true, needle);
	error = admission_reason_outcome(o.r.reason) == ADMISSION_OUTCOME_ERROR;
	assert_true(error);
	outcome_free(&o);
	return error;
}

#define ENV(req)                                                                            \
	"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":" \
	"{\"uid\":\"u1\"" req "}}"
#define POD_KIND ",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"}"

static void test_errors(void **state)
{
	struct report_fault f = {
		.fault = "admission review not JSON, of another version, kind or operation, "
			 "malformed pod",
		.unit = "reviews",
		.counted_as = "allowed without a patch, with a warning; "
			      "reviews_total{outcome=\"error\",reason}",
	};
	char *body;

#define REFUSED(call)                \
	do {                         \
		f.injected++;        \
		f.counted += (call); \
	} while (0)
	(void)state;
	REFUSED(expect_error_text("", ADMISSION_ERR_MALFORMED_JSON, "", "not JSON"));
	REFUSED(
	    expect_error_text("garbage \x01\xff", ADMISSION_ERR_MALFORMED_JSON, "", "not JSON"));
	REFUSED(expect_error_text("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"Admiss",
				  ADMISSION_ERR_MALFORMED_JSON, "", NULL));
	REFUSED(expect_error_text("{\"a\":1,\"a\":2}", ADMISSION_ERR_MALFORMED_JSON, "", NULL));
	REFUSED(expect_error_text("[]", ADMISSION_ERR_MALFORMED_REVIEW, "", NULL));
	REFUSED(expect_error_text("{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":"
				  "\"AdmissionReview\",\"request\":{\"uid\":\"u1\"}}",
				  ADMISSION_ERR_UNSUPPORTED_VERSION, "u1",
				  "admission.k8s.io/v1beta1"));
	REFUSED(expect_error_text("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"Review\"}",
				  ADMISSION_ERR_UNSUPPORTED_VERSION, "", NULL));
	REFUSED(expect_error_text("{\"kind\":\"AdmissionReview\"}",
				  ADMISSION_ERR_UNSUPPORTED_VERSION, "", "(none)"));
	REFUSED(expect_error_text(
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
	    ADMISSION_ERR_MALFORMED_REVIEW, "", "uid"));
	REFUSED(expect_error_text(
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	    "\"request\":{\"uid\":\"\"}}",
	    ADMISSION_ERR_MALFORMED_REVIEW, "", NULL));
	REFUSED(expect_error_text(ENV(",\"kind\":{\"group\":\"apps\",\"version\":\"v1\",\"kind\":"
				      "\"Deployment\"},\"operation\":\"CREATE\""),
				  ADMISSION_ERR_NOT_A_POD, "u1", "Pods only"));
	REFUSED(
	    expect_error_text(ENV(POD_KIND ",\"subResource\":\"status\",\"operation\":\"UPDATE\""),
			      ADMISSION_ERR_NOT_A_POD, "u1", NULL));
	REFUSED(
	    expect_error_text(ENV(POD_KIND), ADMISSION_ERR_MALFORMED_REVIEW, "u1", "operation"));
	REFUSED(expect_error_text(ENV(POD_KIND ",\"operation\":\"CREATE\""),
				  ADMISSION_ERR_MALFORMED_POD, "u1", "no metadata or spec"));
	REFUSED(
	    expect_error_text(ENV(POD_KIND ",\"operation\":\"CREATE\",\"object\":{\"spec\":{}}"),
			      ADMISSION_ERR_MALFORMED_POD, "u1", NULL));
	REFUSED(
	    expect_error_text(ENV(POD_KIND ",\"operation\":\"CREATE\",\"object\":{\"metadata\":{},"
					   "\"spec\":{\"containers\":{}}}"),
			      ADMISSION_ERR_MALFORMED_POD, "u1", "wrong type"));
	REFUSED(
	    expect_error_text(ENV(POD_KIND ",\"operation\":\"CREATE\",\"object\":{\"metadata\":{"
					   "\"annotations\":[]},\"spec\":{\"containers\":[]}}"),
			      ADMISSION_ERR_MALFORMED_POD, "u1", NULL));
	REFUSED(
	    expect_error_text(ENV(POD_KIND ",\"operation\":\"CREATE\",\"object\":{\"metadata\":{},"
					   "\"spec\":{\"containers\":[],\"hostNetwork\":\"yes\"}}"),
			      ADMISSION_ERR_MALFORMED_POD, "u1", NULL));
	REFUSED(
	    expect_error_text(ENV(POD_KIND ",\"operation\":\"CREATE\",\"object\":{\"metadata\":{},"
					   "\"spec\":{\"containers\":[],\"initContainers\":7}}"),
			      ADMISSION_ERR_MALFORMED_POD, "u1", NULL));

	/* a uid longer than any the API server makes is no uid */
	if (asprintf(&body,
		     "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
		     "\"request\":{\"uid\":\"%0*d\"}}",
		     ADMISSION_MAX_UID + 1, 0) < 0)
		fail();
	REFUSED(expect_error_text(body, ADMISSION_ERR_MALFORMED_REVIEW, "", NULL));
	free(body);
#undef REFUSED
	report("test_errors", &f);
}

/* Bounds: containers, init containers, volumes, names. */
static void test_bounds(void **state)
{
	struct {
		const char *member;
		size_t n;
		bool ok;
	} cases[] = {
		{ "containers", ADMISSION_MAX_CONTAINERS, true },
		{ "containers", ADMISSION_MAX_CONTAINERS + 1, false },
		{ "initContainers", ADMISSION_MAX_CONTAINERS + 1, false },
		{ "volumes", ADMISSION_MAX_VOLUMES, true },
		{ "volumes", ADMISSION_MAX_VOLUMES + 1, false },
	};
	char name[ADMISSION_MAX_NAME + 2];
	struct report_fault f = {
		.fault = "pod over the containers, volumes or name length bounds",
		.unit = "reviews",
		.counted_as = "allowed without a patch, with a warning "
			      "(reviews_total{reason=\"over_limits\"})",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *pod = parse(POD_PLAIN), *arr = json_array();
		struct outcome o;

		for (size_t k = 0; k < cases[i].n; k++)
			json_array_append_new(arr, json_pack("{s:s++}", "name", "c",
							     cases[i].member[0] == 'v' ? "v" : "x",
							     k % 2 ? "1" : "2"));
		if (strcmp(cases[i].member, "containers") != 0 || cases[i].n)
			json_object_set_new(json_object_get(pod, "spec"), cases[i].member, arr);
		run_pod(pod, "CREATE", &defaults, &o);
		if (cases[i].ok) {
			assert_int_equal(ADMISSION_INJECTED_NATIVE, o.r.reason);
		} else {
			assert_no_patch(&o, ADMISSION_ERR_OVER_LIMITS, true, "more than");
			f.injected++;
			f.counted += o.r.reason == ADMISSION_ERR_OVER_LIMITS && !o.r.patch;
		}
		outcome_free(&o);
	}
	/* a name one byte over: over the limit; at the limit: fine */
	for (int over = 0; over < 2; over++) {
		json_t *pod = parse(POD_PLAIN);
		struct outcome o;

		memset(name, 'a', sizeof(name));
		name[ADMISSION_MAX_NAME + over] = '\0';
		json_object_set_new(json_object_get(pod, "metadata"), "generateName",
				    json_string(name));
		run_pod(pod, "CREATE", &defaults, &o);
		assert_int_equal(over ? ADMISSION_ERR_OVER_LIMITS : ADMISSION_INJECTED_NATIVE,
				 o.r.reason);
		if (over) {
			f.injected++;
			f.counted += o.r.reason == ADMISSION_ERR_OVER_LIMITS && !o.r.patch;
		}
		outcome_free(&o);
	}
	report("test_bounds", &f);
}

/* The response's uid is the request's, byte for byte, quoted properly. */
static void test_uid_echo(void **state)
{
	const char *body = ENV(POD_KIND ",\"operation\":\"CONNECT\"");
	struct outcome o;

	(void)state;
	run_text(body, strlen(body), &defaults, &o);
	assert_envelope(&o, "u1");
	assert_no_patch(&o, ADMISSION_SKIP_NOT_CREATE, false, NULL);
	outcome_free(&o);
	body = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
	       "\"uid\":\"a\\\"b\\\\c\"" POD_KIND ",\"operation\":\"CONNECT\"}}";
	run_text(body, strlen(body), &defaults, &o);
	assert_envelope(&o, "a\"b\\c");
	outcome_free(&o);
}

/* A body with bytes after it that were not given (len is what counts). */
static void test_length_bounded(void **state)
{
	char *body = review_of(parse(POD_PLAIN), "CREATE");
	size_t n = strlen(body);
	char *copy = malloc(n + 16);
	struct report_fault f = {
		.fault = "admission review cut short (every 7th length)",
		.unit = "reviews",
		.counted_as = "allowed without a patch (reason malformed_json)",
	};
	struct outcome o;

	(void)state;
	memcpy(copy, body, n);
	memcpy(copy + n, "garbage garbage", 16); /* no NUL right after the review */
	run_text(copy, n, &defaults, &o);
	assert_int_equal(ADMISSION_INJECTED_NATIVE, o.r.reason);
	outcome_free(&o);
	/* cut anywhere: never a patch, never a crash */
	for (size_t cut = 0; cut < n; cut += 7) {
		run_text(copy, cut, &defaults, &o);
		assert_int_equal(ADMISSION_ERR_MALFORMED_JSON, o.r.reason);
		assert_null(o.r.patch);
		f.injected++;
		f.counted += o.r.reason == ADMISSION_ERR_MALFORMED_JSON && !o.r.patch;
		outcome_free(&o);
	}
	free(copy);
	free(body);
	report("test_length_bounded", &f);
}

/* ---- helpers ---- */

static void test_pointer_escape(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(0, admission_pointer_escape("podflow.io/status", out, sizeof(out)));
	assert_string_equal("podflow.io~1status", out);
	assert_int_equal(0, admission_pointer_escape("a~b/c~/", out, sizeof(out)));
	assert_string_equal("a~0b~1c~0~1", out);
	assert_int_equal(0, admission_pointer_escape("~1", out, sizeof(out)));
	assert_string_equal("~01", out); /* not "~1": the order of RFC 6901 section 4 */
	assert_int_equal(0, admission_pointer_escape("", out, sizeof(out)));
	assert_string_equal("", out);
	assert_int_equal(-ENOSPC, admission_pointer_escape("abcd", out, 4));
	assert_int_equal(-ENOSPC, admission_pointer_escape("ab/", out, 4));
	assert_int_equal(0, admission_pointer_escape("abc", out, 4));
}

static void test_quantities(void **state)
{
	static const struct {
		const char *s;
		long double v;
	} good[] = {
		{ "20m", 0.02L },      { "1", 1 },	     { "0", 0 },
		{ "1.5", 1.5L },       { "32Mi", 33554432 }, { "128Mi", 134217728 },
		{ "1Gi", 1073741824 }, { "2k", 2000 },	     { "1M", 1e6L },
		{ "1G", 1e9L },	       { "1E", 1e18L },	     { "1e3", 1000 },
		{ "5E-1", 0.5L },      { ".5", 0.5L },	     { "1Ki", 1024 },
	};
	static const char *const bad[] = { "",	 "m",	"-1",  "20 m", "20mi", "1KI", "1.2.3",
					   "1e", "1e+", "abc", "1Gb",  "0x10", "+1",  "1e1000" };
	struct report_fault f = {
		.fault = "resource quantity malformed (units, sign, spaces, hex, overflow)",
		.unit = "quantities",
		.counted_as = "-EINVAL: the setting is refused",
	};
	long double v;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (admission_quantity(good[i].s, &v) != 0 || v < good[i].v * 0.999999L ||
		    v > good[i].v * 1.000001L + 1e-12L) {
			print_error("%s: expected %Lg\n", good[i].s, good[i].v);
			fail();
		}
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = admission_quantity(bad[i], &v);

		if (rc != -EINVAL) {
			print_error("\"%s\": expected -EINVAL\n", bad[i]);
			fail();
		}
		f.injected++;
		f.counted += rc < 0;
	}
	report("test_quantities", &f);
}

/* Options refused with -EINVAL, the reason starting with `key`; the rc. */
static int expect_opts_error(const struct admission_opts *o, const char *key)
{
	char why[256] = "";
	int rc = admission_check_opts(o, why, sizeof(why));

	assert_int_equal(-EINVAL, rc);
	if (strncmp(why, key, strlen(key)) != 0) {
		print_error("expected \"%s...\", got \"%s\"\n", key, why);
		fail();
	}
	return rc;
}

static void test_check_opts(void **state)
{
	struct report_fault f = {
		.fault = "inject.* setting malformed, or a request above its limit",
		.unit = "settings",
		.counted_as = "-EINVAL naming the key: the collector does not start (exit 2)",
	};
	struct admission_opts o;
	char why[256];

#define REFUSED(call)                    \
	do {                             \
		f.injected++;            \
		f.counted += (call) < 0; \
	} while (0)
	(void)state;
	assert_int_equal(0, admission_check_opts(&defaults, why, sizeof(why)));
	o = defaults;
	o.image = "";
	REFUSED(expect_opts_error(&o, "inject.image:"));
	o.image = "podflow sidecar";
	REFUSED(expect_opts_error(&o, "inject.image:"));
	o = defaults;
	o.pull_policy = "ifnotpresent";
	REFUSED(expect_opts_error(&o, "inject.image_pull_policy:"));
	o = defaults;
	o.collector_url = "podflow-collector:7070";
	REFUSED(expect_opts_error(&o, "inject.collector_url:"));
	o.collector_url = "http://";
	REFUSED(expect_opts_error(&o, "inject.collector_url:"));
	o.collector_url = "https://10.0.0.1:7070";
	assert_int_equal(0, admission_check_opts(&o, why, sizeof(why)));
	o = defaults;
	o.config_map = "Podflow_Sidecar";
	REFUSED(expect_opts_error(&o, "inject.config_map:"));
	o.config_map = "-podflow";
	REFUSED(expect_opts_error(&o, "inject.config_map:"));
	o = defaults;
	o.token_secret = "token.";
	REFUSED(expect_opts_error(&o, "inject.token_secret:"));
	o = defaults;
	o.cpu_request = "20 m";
	REFUSED(expect_opts_error(&o, "inject.cpu_request:"));
	o = defaults;
	o.memory_limit = "lots";
	REFUSED(expect_opts_error(&o, "inject.memory_limit:"));
	/* a request above its limit: the API server would refuse every patched pod */
	o = defaults;
	o.cpu_request = "200m";
	o.cpu_limit = "0.1";
	REFUSED(
	    expect_opts_error(&o, "inject.cpu_request: 200m is more than inject.cpu_limit 0.1"));
	o = defaults;
	o.memory_request = "1Gi";
	o.memory_limit = "512Mi";
	REFUSED(expect_opts_error(&o, "inject.memory_request:"));
	o.memory_limit = "1073741824";
	assert_int_equal(0, admission_check_opts(&o, why, sizeof(why)));
#undef REFUSED
	report("test_check_opts", &f);
}

static void test_reason_names(void **state)
{
	(void)state;
	for (int i = 0; i < ADMISSION_REASON__COUNT; i++) {
		const char *n = admission_reason_name((enum admission_reason)i);

		assert_non_null(n);
		assert_string_not_equal("unknown", n);
		for (int k = 0; k < i; k++)
			assert_string_not_equal(n, admission_reason_name((enum admission_reason)k));
	}
	assert_string_equal("injected", admission_outcome_name(admission_reason_outcome(
					    ADMISSION_INJECTED_CONTAINER)));
	assert_string_equal("skipped", admission_outcome_name(
					   admission_reason_outcome(ADMISSION_SKIP_NAME_CONFLICT)));
	assert_string_equal("error", admission_outcome_name(
					 admission_reason_outcome(ADMISSION_ERR_MALFORMED_JSON)));
	assert_string_equal(
	    "error", admission_outcome_name(admission_reason_outcome(ADMISSION_ERR_INTERNAL)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_native_creates_members),
		cmocka_unit_test(test_native_inserts_first),
		cmocka_unit_test(test_regular_container),
		cmocka_unit_test(test_null_members),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_generate_name),
		cmocka_unit_test(test_skips),
		cmocka_unit_test(test_injected_cases),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_uid_echo),
		cmocka_unit_test(test_length_bounded),
		cmocka_unit_test(test_pointer_escape),
		cmocka_unit_test(test_quantities),
		cmocka_unit_test(test_check_opts),
		cmocka_unit_test(test_reason_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
