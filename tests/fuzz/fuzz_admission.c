// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer target for the webhook's AdmissionReview parser and patch (admission_review): no input breaks it. */
/*
 * Each input is reviewed twice, once per injection mode (native sidecar,
 * regular container), as the bytes of a request body; and when it is a
 * JSON object that looks like a Pod rather than a review (it has "spec"
 * and no "request"), it is also wrapped in an AdmissionReview v1 CREATE
 * and reviewed, so that mutations reach the decision and the patch.
 *
 * Every answer must be what collector/webhook/admission.h promises: a
 * JSON AdmissionReview admission.k8s.io/v1 whose response allows the pod,
 * echoes the request's uid (or ""), carries a patch exactly when the
 * outcome is "injected" (patchType JSONPatch, base64 of the patch, an
 * array of "add" operations on JSON Pointers), and a warning of printable
 * ASCII (always, for an error).  An injected pod must take its patch (every
 * parent of every path exists, RFC 6902 section 4.1), and the webhook run
 * on the patched pod must answer already_injected without a patch: the
 * webhook is idempotent whatever the pod.
 *
 * The target links collector/webhook/admission.c alone (with jansson and
 * lib/), as the Makefile's FUZZ_MODS_fuzz_admission says.  When the corpus
 * directory it is given (build/fuzz/corpus-fuzz_admission under `make
 * fuzz`) is empty, it writes its seeds there first: AdmissionReviews around
 * the real pods of tests/fixtures/k8s (or $PODFLOW_FIXTURES), as the API
 * server sends them at CREATE, and the shapes of the integration test's
 * cases (host network, opted out, already injected, generateName only,
 * unknown apiVersion, truncated).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "admission.h"

static const struct admission_opts modes[2] = {
	{ .image = "podflow-sidecar:latest",
	  .pull_policy = "IfNotPresent",
	  .native_sidecar = true,
	  .collector_url = "http://podflow-collector.podflow.svc:7070",
	  .config_map = "podflow-sidecar",
	  .token_secret = "podflow-token",
	  .cpu_request = "20m",
	  .memory_request = "32Mi",
	  .memory_limit = "128Mi" },
	{ .image = "registry.example/podflow-sidecar:1",
	  .pull_policy = "Always",
	  .native_sidecar = false,
	  .collector_url = "https://collector:7070" },
};

/* An AdmissionReview v1 CREATE around `pod` (borrowed); malloc'd JSON. */
static char *wrap(json_t *pod, const char *ns)
{
	json_t *r =
	    json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}, s:s, s:s, "
		      "s:O}}",
		      "apiVersion", "admission.k8s.io/v1", "kind", "AdmissionReview", "request",
		      "uid", "7f0b2c1e-0000-4000-8000-000000000001", "kind", "group", "", "version",
		      "v1", "kind", "Pod", "resource", "group", "", "version", "v1", "resource",
		      "pods", "namespace", ns, "operation", "CREATE", "object", pod);
	char *s = r ? json_dumps(r, JSON_COMPACT) : NULL;

	json_decref(r);
	return s;
}

/* ---- seeds ---- */

static void write_seed(const char *dir, const char *name, const char *text, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return;
	fwrite(text, 1, len, f);
	fclose(f);
}

/* The pod as the API server has it at CREATE: no uid, no status, maybe no name. */
static json_t *as_created(json_t *pod)
{
	json_t *meta = json_object_get(pod, "metadata");

	json_object_del(pod, "status");
	json_object_del(meta, "uid");
	json_object_del(meta, "resourceVersion");
	json_object_del(meta, "creationTimestamp");
	json_object_del(meta, "selfLink");
	return pod;
}

static void seed_pod(const char *dir, const char *name, json_t *pod)
{
	char *s = wrap(pod, "team-a");

	if (s)
		write_seed(dir, name, s, strlen(s));
	free(s);
}

static void write_seeds(const char *dir)
{
	static const char *const fixtures[] = { "pod_native_sidecar_containerd_kind.json",
						"pod_docker_fluentbit_core_base.json" };
	const char *fx = getenv("PODFLOW_FIXTURES");
	char path[PATH_MAX], name[64];
	struct dirent *de;
	DIR *d = opendir(dir);
	bool empty = true;

	if (!d)
		return;
	while ((de = readdir(d)))
		empty &= de->d_name[0] == '.';
	closedir(d);
	if (!empty)
		return;
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		json_t *pod, *meta;
		char *s;

		snprintf(path, sizeof(path), "%s/%s", fx && *fx ? fx : "tests/fixtures/k8s",
			 fixtures[i]);
		pod = json_load_file(path, 0, NULL);
		if (!pod)
			continue;
		as_created(pod);
		meta = json_object_get(pod, "metadata");
		snprintf(name, sizeof(name), "fixture-%zu", i);
		seed_pod(dir, name, pod);
		/* the pod alone: the target wraps it */
		s = json_dumps(pod, JSON_COMPACT);
		if (s) {
			snprintf(name, sizeof(name), "fixture-%zu-pod", i);
			write_seed(dir, name, s, strlen(s));
			/* truncated */
			snprintf(name, sizeof(name), "fixture-%zu-cut", i);
			write_seed(dir, name, s, strlen(s) / 2);
		}
		free(s);
		json_object_set_new(json_object_get(pod, "spec"), "hostNetwork", json_true());
		snprintf(name, sizeof(name), "fixture-%zu-hostnet", i);
		seed_pod(dir, name, pod);
		json_object_del(json_object_get(pod, "spec"), "hostNetwork");
		json_object_set_new(meta, "annotations",
				    json_pack("{s:s}", "podflow.io/inject", "false"));
		snprintf(name, sizeof(name), "fixture-%zu-optout", i);
		seed_pod(dir, name, pod);
		json_object_set_new(meta, "annotations",
				    json_pack("{s:s}", "podflow.io/status", "injected"));
		snprintf(name, sizeof(name), "fixture-%zu-injected", i);
		seed_pod(dir, name, pod);
		json_object_del(meta, "annotations");
		json_object_del(meta, "name");
		json_object_set_new(meta, "generateName", json_string("web-7d9f8b6c5-"));
		snprintf(name, sizeof(name), "fixture-%zu-generate", i);
		seed_pod(dir, name, pod);
		json_decref(pod);
	}
	{
		static const char v1beta1[] =
		    "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\","
		    "\"request\":{\"uid\":\"u\"}}";
		static const char garbage[] = "\x00\x01not json{";

		write_seed(dir, "v1beta1", v1beta1, sizeof(v1beta1) - 1);
		write_seed(dir, "garbage", garbage, sizeof(garbage) - 1);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* the first argument that is not a -flag is the corpus directory */
	for (int i = 1; i < *argc; i++) {
		if ((*argv)[i][0] != '-') {
			write_seeds((*argv)[i]);
			break;
		}
	}
	return 0;
}

/* ---- invariants ---- */

static char *unbase64(const char *in)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;
	char *out = malloc(n + 1);
	uint32_t v = 0;
	int bits = 0;

	CHECK(out, "out of memory");
	CHECK(n % 4 == 0, "base64 of %zu characters", n);
	for (size_t i = 0; i < n && in[i] != '='; i++) {
		const char *p = strchr(tab, in[i]);

		CHECK(p && in[i], "not base64: %c", in[i]);
		v = (v << 6) | (uint32_t)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((v >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	return out;
}

/* RFC 6902 "add", RFC 6901 pointers: every parent must exist. */
static void apply_add(json_t *doc, const char *path, json_t *value)
{
	char buf[1024], *tok, *next, *o;
	json_t *cur = doc;

	CHECK(path[0] == '/' && strlen(path) < sizeof(buf), "path %s", path);
	snprintf(buf, sizeof(buf), "%s", path + 1);
	for (tok = buf;; tok = next) {
		next = strchr(tok, '/');
		if (next)
			*next++ = '\0';
		o = tok;
		for (char *p = tok; *p; p++) {
			CHECK(*p != '~' || p[1] == '0' || p[1] == '1', "bad escape in %s", path);
			*o++ = *p == '~' ? (*++p == '1' ? '/' : '~') : *p;
		}
		*o = '\0';
		if (!next)
			break;
		cur = json_is_object(cur) ? json_object_get(cur, tok)
					  : json_array_get(cur, strtoul(tok, NULL, 10));
		CHECK(cur, "no parent at %s in %s", tok, path);
	}
	if (json_is_object(cur)) {
		CHECK(json_object_set(cur, tok, value) == 0, "set %s", path);
	} else {
		CHECK(json_is_array(cur), "parent of %s is a scalar", path);
		if (strcmp(tok, "-") == 0)
			CHECK(json_array_append(cur, value) == 0, "append %s", path);
		else
			CHECK(strtoul(tok, NULL, 10) <= json_array_size(cur) &&
				  json_array_insert(cur, strtoul(tok, NULL, 10), value) == 0,
			      "insert %s", path);
	}
}

static void check_answer(const struct admission_result *r, json_t **patch_out)
{
	json_t *doc, *resp, *w;
	const char *uid;

	*patch_out = NULL;
	CHECK(r->response && strlen(r->response) == r->response_len, "no response");
	doc = json_loads(r->response, JSON_REJECT_DUPLICATES, NULL);
	CHECK(doc, "response is not JSON: %s", r->response);
	resp = json_object_get(doc, "response");
	CHECK(!strcmp(json_string_value(json_object_get(doc, "apiVersion")) ?: "",
		      "admission.k8s.io/v1") &&
		  !strcmp(json_string_value(json_object_get(doc, "kind")) ?: "", "AdmissionReview"),
	      "envelope: %s", r->response);
	uid = json_string_value(json_object_get(resp, "uid"));
	CHECK(uid && strlen(uid) <= ADMISSION_MAX_UID, "uid: %s", r->response);
	CHECK(json_is_true(json_object_get(resp, "allowed")), "not allowed: %s", r->response);
	for (const char *p = r->warning; *p; p++)
		CHECK(*p >= 0x20 && *p < 0x7f, "warning byte %#x", (unsigned char)*p);
	CHECK(strlen(r->warning) < ADMISSION_MAX_WARNING, "warning too long");
	w = json_object_get(resp, "warnings");
	CHECK(!r->warning[0] || (json_array_size(w) == 1 &&
				 !strcmp(json_string_value(json_array_get(w, 0)), r->warning)),
	      "warnings: %s", r->response);
	CHECK(r->warning[0] || !w, "warnings without one: %s", r->response);
	if (admission_reason_outcome(r->reason) == ADMISSION_OUTCOME_ERROR)
		CHECK(r->warning[0], "error %s without a warning",
		      admission_reason_name(r->reason));
	if (admission_reason_outcome(r->reason) != ADMISSION_OUTCOME_INJECTED) {
		CHECK(!r->patch && !json_object_get(resp, "patch") &&
			  !json_object_get(resp, "patchType"),
		      "a patch for %s", admission_reason_name(r->reason));
	} else {
		char *decoded;
		size_t i;
		json_t *op;

		CHECK(r->patch, "injected without a patch");
		CHECK(!strcmp(json_string_value(json_object_get(resp, "patchType")) ?: "",
			      "JSONPatch"),
		      "patchType");
		decoded = unbase64(json_string_value(json_object_get(resp, "patch")) ?: "");
		CHECK(!strcmp(decoded, r->patch), "base64 patch differs");
		free(decoded);
		*patch_out = json_loads(r->patch, 0, NULL);
		CHECK(json_is_array(*patch_out) && json_array_size(*patch_out) >= 3, "patch %s",
		      r->patch);
		json_array_foreach(*patch_out, i, op)
		{
			CHECK(!strcmp(json_string_value(json_object_get(op, "op")) ?: "", "add") &&
				  json_object_get(op, "value") &&
				  (json_string_value(json_object_get(op, "path")) ?: "")[0] == '/',
			      "op %zu of %s", i, r->patch);
		}
	}
	json_decref(doc);
}

/* The pod the review was about, patched, reviewed again: nothing more to do. */
static void check_idempotent(const char *body, size_t len, json_t *patch,
			     const struct admission_opts *o)
{
	json_t *review = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *pod = json_deep_copy(json_object_get(json_object_get(review, "request"), "object"));
	struct admission_result r;
	json_t *again_patch;
	size_t i;
	json_t *op;
	char *again;

	CHECK(pod, "injected, but the request's object is gone");
	json_array_foreach(patch, i, op) apply_add(
	    pod, json_string_value(json_object_get(op, "path")), json_object_get(op, "value"));
	json_object_set(json_object_get(review, "request"), "object", pod);
	again = json_dumps(review, JSON_COMPACT);
	CHECK(again, "dump");
	CHECK(admission_review(again, strlen(again), o, &r) == 0, "review of the patched pod");
	check_answer(&r, &again_patch);
	CHECK(r.reason == ADMISSION_SKIP_ALREADY_INJECTED, "patched pod: %s (%s)",
	      admission_reason_name(r.reason), r.warning);
	admission_result_free(&r);
	free(again);
	json_decref(pod);
	json_decref(review);
}

static void review(const char *body, size_t len)
{
	for (int m = 0; m < 2; m++) {
		struct admission_result r;
		json_t *patch;

		CHECK(admission_review(body, len, &modes[m], &r) == 0, "admission_review failed");
		check_answer(&r, &patch);
		if (patch)
			check_idempotent(body, len, patch, &modes[m]);
		json_decref(patch);
		admission_result_free(&r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j;

	review((const char *)data, size);
	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(j) && json_object_get(j, "spec") && !json_object_get(j, "request")) {
		char *s = wrap(j, "team-a");

		if (s)
			review(s, strlen(s));
		free(s);
	}
	json_decref(j);
	return 0;
}
