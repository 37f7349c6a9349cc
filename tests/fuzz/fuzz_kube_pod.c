// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer target for the pod parser (kube_pod_parse, kube_pod_parse_time): no input breaks it. */
/*
 * Each input is read three ways:
 *   - as a timestamp: kube_pod_parse_time on the input as a C string;
 *   - as JSON loaded the way the watcher loads a watch line or a list page
 *     (json_loadb, no flags), then kube_pod_parse on the value itself, on
 *     its "object" (a watch event) and on each of its "items" (a PodList).
 * The watch line handling itself (watch_line() in kube_watch.c) is not
 * fuzzed here: it is not a pure function (it works on a struct
 * kube_watch's pod table, stats and clock), only the parsing it calls is.
 * The target links collector/feeds/kube_pod.c alone (with jansson and
 * lib/), as the Makefile's FUZZ_MODS_fuzz_kube_pod says.
 *
 * A time that is accepted, written back as "YYYY-MM-DDTHH:MM:SS.mmmZ"
 * (years 0000 to 9999), must read back as the same millisecond.  A pod that
 * is accepted must be what collector/feeds/kube_pod.h and docs/kube.md
 * ("Timing rules") promise: every string set, uid, name and namespace not empty, a
 * "kind" only if it is "Pod", at most KUBE_POD_IPS_MAX addresses, -1 for
 * the times that do not apply, and kube_pod_assign_ms / kube_pod_end_ms
 * giving *observed* or one of the times the rules name, never after
 * *observed* (end: the earliest of them).  A pod that is refused gives
 * -EINVAL.
 *
 * When the corpus directory it is given (build/fuzz/corpus-fuzz_kube_pod
 * under `make fuzz`) is empty, the target writes its seeds there first: the
 * real API objects of tests/fixtures/k8s (or $PODFLOW_FIXTURES), each
 * pod also as a watch event and as a list, a pod that uses every field
 * kube_pod_parse reads, and a few timestamps.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "fuzz.h"
#include "kube_pod.h"

#define FUZZ_NOW_MS 1732700000000LL /* 2024-11-27: an *observed* time */

/* ---- seeds ---- */

static void write_seed(const char *dir, const char *name, const char *pre, const char *body,
		       size_t len, const char *post)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return;
	fputs(pre, f);
	fwrite(body, 1, len, f);
	fputs(post, f);
	fclose(f);
}

static char *read_file(const char *dir, const char *name, size_t *len)
{
	char path[4096], *buf = NULL;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Seeds into `dir` if it is an empty directory. */
static void write_seeds(const char *dir)
{
	static const char *const pods[] = {
		"pod_native_sidecar_containerd_kind.json",
		"pod_docker_fluentbit_core_base.json",
	};
	static const char *const events[] = {
		"watch_event_modified_fluentbit.json",
		"watch_event_error_410_wso2_apk_571.json",
	};
	/* every field kube_pod_parse reads: a Deployment's pod, dual-stack, being deleted, failed */
	static const char full[] =
	    "{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"u-1\",\"name\":\"web-5d8f7c9b4-x2x4q\","
	    "\"namespace\":\"shop\",\"resourceVersion\":\"42\",\"labels\":{\"app\":\"web\","
	    "\"app.kubernetes.io/name\":\"web-ui\",\"pod-template-hash\":\"5d8f7c9b4\"},"
	    "\"ownerReferences\":[{\"kind\":\"Node\",\"name\":\"n1\"},{\"kind\":\"ReplicaSet\","
	    "\"name\":\"web-5d8f7c9b4\",\"controller\":true}],"
	    "\"deletionTimestamp\":\"2024-08-24T01:55:06Z\",\"deletionGracePeriodSeconds\":30},"
	    "\"spec\":{\"nodeName\":\"n1\",\"hostNetwork\":false,\"terminationGracePeriodSeconds\":"
	    "30},\"status\":{\"phase\":\"Failed\",\"podIP\":\"10.244.0.5\",\"podIPs\":[{\"ip\":"
	    "\"10.244.0.5\"},{\"ip\":\"fd00:10:244::5\"}],\"conditions\":[{\"type\":"
	    "\"PodReadyToStartContainers\",\"status\":\"True\",\"lastTransitionTime\":"
	    "\"2024-08-24T01:54:36Z\"},{\"type\":\"PodHasNetwork\",\"status\":\"True\","
	    "\"lastTransitionTime\":\"2024-08-24T01:54:35.5+00:00\"}],\"containerStatuses\":[{"
	    "\"state\":{\"terminated\":{\"finishedAt\":\"2024-08-24T01:55:01Z\"}}},{\"state\":{"
	    "\"terminated\":{\"finishedAt\":\"2024-08-24T03:55:00+02:00\"}}}]}}";
	static const char *const times[] = {
		"2024-08-24T01:54:36Z",
		"2024-08-24t01:54:36.123456789-07:30",
		"1969-12-31T23:59:60.999z",
	};
	const char *fx = getenv("PODFLOW_FIXTURES");
	char name[64];
	DIR *dp = opendir(dir);
	struct dirent *de;
	size_t len;
	char *body;

	if (!dp)
		return;
	while ((de = readdir(dp)))
		if (de->d_name[0] != '.')
			break;
	closedir(dp);
	if (de)
		return;
	if (!fx || !*fx)
		fx = "tests/fixtures/k8s";
	for (size_t i = 0; i < sizeof(pods) / sizeof(pods[0]); i++) {
		body = read_file(fx, pods[i], &len);
		if (!body)
			continue;
		snprintf(name, sizeof(name), "pod-%zu", i);
		write_seed(dir, name, "", body, len, "");
		snprintf(name, sizeof(name), "watch-added-%zu", i);
		write_seed(dir, name, "{\"type\":\"ADDED\",\"object\":", body, len, "}\n");
		snprintf(name, sizeof(name), "list-%zu", i);
		write_seed(dir, name,
			   "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"7\"},"
			   "\"items\":[",
			   body, len, "]}");
		free(body);
	}
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		body = read_file(fx, events[i], &len);
		if (!body)
			continue;
		snprintf(name, sizeof(name), "event-%zu", i);
		write_seed(dir, name, "", body, len, "");
		free(body);
	}
	write_seed(dir, "pod-full", "", full, strlen(full), "");
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		snprintf(name, sizeof(name), "time-%zu", i);
		write_seed(dir, name, "", times[i], strlen(times[i]), "");
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

static void check_time(const char *s)
{
	char again[64];
	int64_t ms, ms2, secs;
	struct tm tm;
	time_t t;
	int rc;

	rc = kube_pod_parse_time(s, &ms);
	if (rc) {
		CHECK(rc == -EINVAL, "time \"%s\": %d", s, rc);
		return;
	}
	/* floor division: the fraction is never negative */
	secs = ms / 1000 - (ms % 1000 < 0);
	t = (time_t)secs;
	CHECK(gmtime_r(&t, &tm), "time \"%s\": %lld ms is not a date", s, (long long)ms);
	if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return; /* an offset took it out of four digits */
	snprintf(again, sizeof(again), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(ms - secs * 1000));
	rc = kube_pod_parse_time(again, &ms2);
	CHECK(rc == 0 && ms2 == ms, "time \"%s\": %lld ms, written \"%s\", read back %d %lld", s,
	      (long long)ms, again, rc, (long long)ms2);
}

static const char *json_str(const json_t *obj, const char *k1, const char *k2)
{
	return json_string_value(json_object_get(json_object_get(obj, k1), k2));
}

static void check_string(const char *s, const char *what, bool nonempty)
{
	CHECK(s, "%s is NULL", what);
	/* readable up to its NUL, or AddressSanitizer says so */
	CHECK(strlen(s) > 0 || !nonempty, "%s is empty", what);
}

/* What kube_pod_assign_ms / kube_pod_end_ms give at `obs`, by the timing rules. */
static void check_times(const struct kube_pod_info *p, int64_t obs)
{
	int64_t a = kube_pod_assign_ms(p, obs), e = kube_pod_end_ms(p, obs);

	/* assign: condition + 1 s if that is before observed, else observed */
	CHECK(a <= obs, "assign %lld after observed %lld", (long long)a, (long long)obs);
	CHECK(a == obs || (p->ready_ms >= 0 && a == p->ready_ms + 1000),
	      "assign %lld is neither observed %lld nor ready %lld + 1 s", (long long)a,
	      (long long)obs, (long long)p->ready_ms);
	/* end: the earliest of observed, the deletion request, finishedAt (-1: none) */
	CHECK(e <= obs, "end %lld after observed %lld", (long long)e, (long long)obs);
	CHECK(e == obs || (p->deleting && e == p->delete_requested_ms) ||
		  (p->terminal && e == p->finished_ms),
	      "end %lld is not observed %lld, deletion %lld or finished %lld", (long long)e,
	      (long long)obs, (long long)p->delete_requested_ms, (long long)p->finished_ms);
	CHECK(!p->deleting || p->delete_requested_ms < 0 || e <= p->delete_requested_ms,
	      "end %lld after the deletion request %lld", (long long)e,
	      (long long)p->delete_requested_ms);
	CHECK(!p->terminal || p->finished_ms < 0 || e <= p->finished_ms,
	      "end %lld after finished %lld", (long long)e, (long long)p->finished_ms);
}

static void check_pod(const json_t *obj)
{
	static const int64_t observed[] = { 0, 1, FUZZ_NOW_MS, INT64_MAX };
	struct kube_pod_info p;
	const char *kind, *phase;
	int rc;

	rc = kube_pod_parse(obj, &p);
	if (rc) {
		CHECK(rc == -EINVAL, "kube_pod_parse: %d", rc);
		return;
	}
	check_string(p.pod.uid, "uid", true);
	check_string(p.pod.id.pod, "name", true);
	check_string(p.pod.id.namespace, "namespace", true);
	check_string(p.pod.id.app, "app", false);
	check_string(p.pod.id.workload, "workload", false);
	check_string(p.pod.id.node, "node", false);
	check_string(p.pod.id.account, "account", false);
	check_string(p.pod.id.region, "region", false);
	check_string(p.pod.id.zone, "zone", false);
	check_string(p.resource_version, "resourceVersion", false);
	if (p.pod.id.workload >= p.workload_buf &&
	    p.pod.id.workload < p.workload_buf + sizeof(p.workload_buf)) {
		CHECK(memchr(p.pod.id.workload, '\0',
			     (size_t)(p.workload_buf + sizeof(p.workload_buf) - p.pod.id.workload)),
		      "workload not NUL-terminated in workload_buf");
	}
	/* the pointers borrow the object */
	CHECK(p.pod.uid == json_str(obj, "metadata", "uid"), "uid does not borrow the object");
	CHECK(p.pod.id.pod == json_str(obj, "metadata", "name"), "name does not borrow the object");
	CHECK(p.pod.id.namespace == json_str(obj, "metadata", "namespace"),
	      "namespace does not borrow the object");
	kind = json_string_value(json_object_get(obj, "kind"));
	CHECK(!json_object_get(obj, "kind") || (kind && strcmp(kind, "Pod") == 0),
	      "accepted with kind \"%s\"", kind ? kind : "(not a string)");
	CHECK(p.n_ips <= KUBE_POD_IPS_MAX, "n_ips %zu", p.n_ips);
	phase = json_str(obj, "status", "phase");
	CHECK(p.terminal ==
		  (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)),
	      "terminal %d with phase \"%s\"", p.terminal, phase ? phase : "(none)");
	CHECK(p.host_network ==
		  json_is_true(json_object_get(json_object_get(obj, "spec"), "hostNetwork")),
	      "host_network %d", p.host_network);
	CHECK(p.deleting || p.delete_requested_ms == -1, "not deleting, deletion request %lld",
	      (long long)p.delete_requested_ms);
	CHECK(p.terminal || p.finished_ms == -1, "not terminal, finished %lld",
	      (long long)p.finished_ms);
	for (size_t i = 0; i < sizeof(observed) / sizeof(observed[0]); i++)
		check_times(&p, observed[i]);
	if (p.ready_ms >= 0) {
		check_times(&p, p.ready_ms + 1000);
		check_times(&p, p.ready_ms + 1001);
	}
	if (p.delete_requested_ms >= 0)
		check_times(&p, p.delete_requested_ms);
	if (p.finished_ms >= 0)
		check_times(&p, p.finished_ms + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const json_t *items, *v;
	json_error_t jerr;
	json_t *root;
	char *s;
	size_t i;

	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_time(s);
	free(s);

	root = json_loadb((const char *)data, size, 0, &jerr);
	if (!root)
		return 0;
	check_pod(root);
	/* a watch line: {"type": ..., "object": {...}} */
	v = json_object_get(root, "object");
	if (json_is_object(v))
		check_pod(v);
	/* a list page: {"items": [...]} */
	items = json_object_get(root, "items");
	json_array_foreach(items, i, v) check_pod(v);
	json_decref(root);
	return 0;
}
