// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/feeds/kube_pod: pod JSON -> identity, IPs, times. */
#define _GNU_SOURCE
#include <arpa/inet.h>
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

#include "../report.h"
#include "kube_pod.h"

#define READY_MS 1724464476000LL /* 2024-08-24T01:54:36Z */

/* A test's figures for docs/reliability.md, once they add up (tests/report.h). */
static void report(const char *test, struct report_fault *f)
{
	f->lost = f->injected - f->delivered - f->counted;
	assert_int_equal(f->lost, 0);
	report_fault_line("kube_pod", test, 1, f);
}

static json_t *fixture(const char *name)
{
	const char *dir = getenv("PODFLOW_FIXTURES");
	char path[PATH_MAX];
	json_error_t e;
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "tests/fixtures/k8s", name);
	j = json_load_file(path, 0, &e);
	if (!j) {
		print_error("%s: %s (run from the repository root, or set PODFLOW_FIXTURES)\n",
			    path, e.text);
		fail();
	}
	return j;
}

static json_t *pod_json(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (!j) {
		print_error("bad test JSON: %s: %s\n", e.text, text);
		fail();
	}
	return j;
}

static void assert_ip(const uint8_t ip[16], const char *want)
{
	char got[INET6_ADDRSTRLEN];
	static const uint8_t v4[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (memcmp(ip, v4, 12) == 0)
		inet_ntop(AF_INET, ip + 12, got, sizeof(got));
	else
		inet_ntop(AF_INET6, ip, got, sizeof(got));
	assert_string_equal(got, want);
}

static void test_parse_time(void **state)
{
	static const struct {
		const char *in;
		int64_t ms; /* -1 = rejected */
	} cases[] = {
		{ "2024-08-24T01:54:36Z", READY_MS },
		{ "2024-08-24t01:54:36z", READY_MS },
		{ "2024-08-24T01:54:36.999999Z", READY_MS + 999 },
		{ "2024-08-24T01:54:36.5Z", READY_MS + 500 },
		{ "2024-08-24T03:54:36+02:00", READY_MS },
		{ "2024-08-23T22:54:36-03:00", READY_MS },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2016-12-31T23:59:60Z", 1483228799000LL }, /* leap second: :59, never later */
		{ "2024-08-24 01:54:36Z", -1 },
		{ "2024-08-24T01:54:36", -1 },
		{ "2024-08-24T01:54:36.Z", -1 },
		{ "2024-13-24T01:54:36Z", -1 },
		{ "2024-08-24T24:54:36Z", -1 },
		{ "2024-08-24T01:54:36+0200", -1 },
		{ "2024-08-24T01:54:36Zjunk", -1 },
		{ "", -1 },
		{ "yesterday", -1 },
	};
	struct report_fault f = {
		.fault = "pod timestamp not RFC 3339 (no zone, bad field, junk after it)",
		.unit = "timestamps",
		.counted_as = "-EINVAL: the time is not used",
	};
	int64_t ms;
	int err;

	(void)state;
	err = kube_pod_parse_time(NULL, &ms);
	f.injected++;
	f.counted += err < 0;
	assert_int_equal(err, -EINVAL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err = kube_pod_parse_time(cases[i].in, &ms);
		if (cases[i].ms < 0) {
			if (err != -EINVAL) {
				print_error("\"%s\": expected -EINVAL, got %d\n", cases[i].in, err);
				fail();
			}
			f.injected++;
			f.counted += err < 0;
			continue;
		}
		if (err || ms != cases[i].ms) {
			print_error("\"%s\": expected %lld, got %d / %lld\n", cases[i].in,
				    (long long)cases[i].ms, err, (long long)ms);
			fail();
		}
	}
	report("test_parse_time", &f);
}

/* The kind sample: podIPs, PodReadyToStartContainers, no labels, no owner. */
static void test_fixture_kind(void **state)
{
	json_t *j = fixture("pod_native_sidecar_containerd_kind.json");
	struct kube_pod_info p;

	(void)state;
	assert_int_equal(kube_pod_parse(j, &p), 0);
	assert_string_equal(p.pod.uid, "35079257-0ffb-4b09-b2c1-3c0d416f2523");
	assert_string_equal(p.pod.id.pod, "sleep");
	assert_string_equal(p.pod.id.namespace, "default");
	assert_string_equal(p.pod.id.app, "");
	assert_string_equal(p.pod.id.workload, "sleep");
	assert_string_equal(p.pod.id.node, "kind-control-plane");
	/* a pod does not say where in the cloud it is */
	assert_string_equal(p.pod.id.account, "");
	assert_string_equal(p.pod.id.region, "");
	assert_string_equal(p.pod.id.zone, "");
	assert_string_equal(p.resource_version, "17852");
	assert_int_equal(p.n_ips, 1);
	assert_ip(p.ips[0], "10.244.0.8");
	assert_false(p.host_network);
	assert_false(p.terminal);
	assert_false(p.deleting);
	assert_int_equal(p.ready_ms, READY_MS);
	assert_int_equal(p.delete_requested_ms, -1);
	assert_int_equal(p.finished_ms, -1);
	/* +1 s covers the truncation to the second; never after the observation */
	assert_int_equal(kube_pod_assign_ms(&p, READY_MS + 60000), READY_MS + 1000);
	assert_int_equal(kube_pod_assign_ms(&p, READY_MS + 400), READY_MS + 400);
	assert_int_equal(kube_pod_end_ms(&p, READY_MS + 60000), READY_MS + 60000);
	json_decref(j);
}

/* The docker sample (2019 EKS): status.podIP only, app.kubernetes.io/name. */
static void test_fixture_docker(void **state)
{
	json_t *j = fixture("pod_docker_fluentbit_core_base.json");
	struct kube_pod_info p;

	(void)state;
	assert_int_equal(kube_pod_parse(j, &p), 0);
	assert_string_equal(p.pod.uid, "e9f2963f-55f2-11e9-84c5-02e422b8a84a");
	assert_string_equal(p.pod.id.pod, "base");
	assert_string_equal(p.pod.id.namespace, "core");
	assert_string_equal(p.pod.id.app, "fluent-bit");
	assert_string_equal(p.pod.id.workload, "base");
	assert_string_equal(p.pod.id.node, "ip-10-49-18-80.eu-west-1.compute.internal");
	assert_int_equal(p.n_ips, 1);
	assert_ip(p.ips[0], "100.116.192.42");
	assert_int_equal(p.ready_ms, -1); /* no PodReadyToStartContainers in 2019 */
	assert_int_equal(kube_pod_assign_ms(&p, 1554283746123LL), 1554283746123LL);
	json_decref(j);
}

/* Objects of other kinds in a watch stream are not pods. */
static void test_not_pods(void **state)
{
	json_t *ev = fixture("watch_event_modified_fluentbit.json");
	json_t *err = fixture("watch_event_error_410_wso2_apk_571.json");
	json_t *arr = json_array(), *str = json_string("x");
	json_t *const objects[] = { json_object_get(ev, "object"), json_object_get(err, "object"),
				    NULL, arr, str };
	struct report_fault f = {
		.fault = "watch object that is not a pod (an Event, a Status, null, array, string)",
		.unit = "objects",
		.counted_as = "-EINVAL: the watcher's bad_events",
	};
	struct kube_pod_info p;

	(void)state;
	for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
		int rc = kube_pod_parse(objects[i], &p);

		assert_int_equal(rc, -EINVAL);
		f.injected++;
		f.counted += rc < 0;
	}
	report("test_not_pods", &f);
	json_decref(ev);
	json_decref(err);
	json_decref(arr);
	json_decref(str);
}

static void test_required_fields(void **state)
{
	static const char *const bad[] = {
		"{}",
		"{\"metadata\":{}}",
		"{\"metadata\":{\"uid\":\"u\",\"name\":\"n\"}}",
		"{\"metadata\":{\"uid\":\"u\",\"namespace\":\"x\"}}",
		"{\"metadata\":{\"name\":\"n\",\"namespace\":\"x\"}}",
		"{\"metadata\":{\"uid\":\"\",\"name\":\"n\",\"namespace\":\"x\"}}",
		"{\"metadata\":{\"uid\":7,\"name\":\"n\",\"namespace\":\"x\"}}",
		"{\"metadata\":[],\"spec\":{}}",
	};
	struct report_fault f = {
		.fault = "pod without uid, name or namespace, or with the wrong type",
		.unit = "pods",
		.counted_as = "-EINVAL: the watcher's bad_events",
	};
	struct kube_pod_info p;
	json_t *j;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;

		j = pod_json(bad[i]);
		rc = kube_pod_parse(j, &p);
		if (rc != -EINVAL) {
			print_error("accepted: %s\n", bad[i]);
			fail();
		}
		f.injected++;
		f.counted += rc < 0;
		json_decref(j);
	}
	/* the minimum, as a list item (no kind): fields absent read as "" */
	j = pod_json("{\"metadata\":{\"uid\":\"u\",\"name\":\"n\",\"namespace\":\"x\"},"
		     "\"spec\":null,\"status\":{\"podIPs\":null,\"conditions\":7}}");
	assert_int_equal(kube_pod_parse(j, &p), 0);
	assert_string_equal(p.pod.id.app, "");
	assert_string_equal(p.pod.id.node, "");
	assert_string_equal(p.pod.id.workload, "n");
	assert_string_equal(p.resource_version, "");
	assert_int_equal(p.n_ips, 0);
	json_decref(j);
	report("test_required_fields", &f);
}

static void parse_ok(const char *text, struct kube_pod_info *p, json_t **keep)
{
	*keep = pod_json(text);
	assert_int_equal(kube_pod_parse(*keep, p), 0);
}

#define META "\"metadata\":{\"uid\":\"u\",\"name\":\"web-7d9f8b6c5d-x2x4q\",\"namespace\":\"shop\""

static void test_workload(void **state)
{
	static const struct {
		const char *json;
		const char *workload;
	} cases[] = {
		/* Deployment: ReplicaSet name minus "-<pod-template-hash>" */
		{ "{" META ",\"labels\":{\"pod-template-hash\":\"7d9f8b6c5d\"},\"ownerReferences\":"
		  "[{\"kind\":\"ReplicaSet\",\"name\":\"web-7d9f8b6c5d\",\"controller\":true}]}}",
		  "web" },
		/* no hash label: the ReplicaSet itself */
		{ "{" META
		  ",\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"web-7d9f8b6c5d\"}]}}",
		  "web-7d9f8b6c5d" },
		/* a hash that is not the suffix */
		{ "{" META ",\"labels\":{\"pod-template-hash\":\"abc\"},\"ownerReferences\":"
		  "[{\"kind\":\"ReplicaSet\",\"name\":\"web-7d9f8b6c5d\"}]}}",
		  "web-7d9f8b6c5d" },
		/* the hash is the whole name: nothing left, keep it */
		{ "{" META ",\"labels\":{\"pod-template-hash\":\"rs\"},\"ownerReferences\":"
		  "[{\"kind\":\"ReplicaSet\",\"name\":\"rs\"}]}}",
		  "rs" },
		{ "{" META ",\"ownerReferences\":[{\"kind\":\"StatefulSet\",\"name\":\"pg\"}]}}",
		  "pg" },
		{ "{" META
		  ",\"ownerReferences\":[{\"kind\":\"DaemonSet\",\"name\":\"fluent-bit\"}]}}",
		  "fluent-bit" },
		{ "{" META ",\"ownerReferences\":[{\"kind\":\"Job\",\"name\":\"backup-28\"}]}}",
		  "backup-28" },
		/* the controller reference wins over the first */
		{ "{" META ",\"ownerReferences\":[{\"kind\":\"ConfigMap\",\"name\":\"cm\"},"
		  "{\"kind\":\"StatefulSet\",\"name\":\"pg\",\"controller\":true}]}}",
		  "pg" },
		{ "{" META ",\"ownerReferences\":[]}}", "web-7d9f8b6c5d-x2x4q" },
		{ "{" META ",\"ownerReferences\":[{\"kind\":\"Job\"}]}}", "web-7d9f8b6c5d-x2x4q" },
		{ "{" META "}}", "web-7d9f8b6c5d-x2x4q" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kube_pod_info p;
		json_t *j;

		parse_ok(cases[i].json, &p, &j);
		if (strcmp(p.pod.id.workload, cases[i].workload) != 0) {
			print_error("case %zu: expected \"%s\", got \"%s\"\n", i, cases[i].workload,
				    p.pod.id.workload);
			fail();
		}
		json_decref(j);
	}
}

static void test_app_label(void **state)
{
	struct kube_pod_info p;
	json_t *j;

	(void)state;
	parse_ok("{" META ",\"labels\":{\"app\":\"old\",\"app.kubernetes.io/name\":\"new\"}}}", &p,
		 &j);
	assert_string_equal(p.pod.id.app, "new");
	json_decref(j);
	parse_ok("{" META ",\"labels\":{\"app\":\"old\"}}}", &p, &j);
	assert_string_equal(p.pod.id.app, "old");
	json_decref(j);
	parse_ok("{" META ",\"labels\":{\"app\":\"old\",\"app.kubernetes.io/name\":\"\"}}}", &p,
		 &j);
	assert_string_equal(p.pod.id.app, "old");
	json_decref(j);
	parse_ok("{" META ",\"labels\":{\"app\":3}}}", &p, &j);
	assert_string_equal(p.pod.id.app, "");
	json_decref(j);
}

static void test_ips(void **state)
{
	struct kube_pod_info p;
	json_t *j;

	(void)state;
	/* dual stack: podIPs wins, podIP (= podIPs[0]) not counted twice */
	parse_ok("{" META "},\"status\":{\"podIP\":\"10.0.0.1\",\"podIPs\":[{\"ip\":\"10.0.0.1\"},"
		 "{\"ip\":\"fd00::1\"}]}}",
		 &p, &j);
	assert_int_equal(p.n_ips, 2);
	assert_ip(p.ips[0], "10.0.0.1");
	assert_ip(p.ips[1], "fd00::1");
	json_decref(j);
	/* garbage entries skipped, at most KUBE_POD_IPS_MAX kept */
	parse_ok("{" META "},\"status\":{\"podIPs\":[{\"ip\":\"999.0.0.1\"},{\"ip\":7},{},"
		 "\"10.0.0.9\",{\"ip\":\"10.0.0.2\"},{\"ip\":\"10.0.0.2\"},{\"ip\":\"10.0.0.3\"},"
		 "{\"ip\":\"10.0.0.4\"},{\"ip\":\"10.0.0.5\"},{\"ip\":\"10.0.0.6\"}]}}",
		 &p, &j);
	assert_int_equal(p.n_ips, KUBE_POD_IPS_MAX);
	assert_ip(p.ips[0], "10.0.0.2");
	assert_ip(p.ips[3], "10.0.0.5");
	json_decref(j);
	/* podIPs empty: fall back to podIP */
	parse_ok("{" META "},\"status\":{\"podIP\":\"fd00::7\",\"podIPs\":[]}}", &p, &j);
	assert_int_equal(p.n_ips, 1);
	assert_ip(p.ips[0], "fd00::7");
	json_decref(j);
	parse_ok("{" META
		 "},\"spec\":{\"hostNetwork\":true},\"status\":{\"podIP\":\"172.18.0.2\"}}",
		 &p, &j);
	assert_true(p.host_network);
	json_decref(j);
}

static void test_deletion(void **state)
{
	struct kube_pod_info p;
	json_t *j;

	(void)state;
	/* deletionTimestamp = asked + grace: the delete was asked at 02:00:00 */
	parse_ok(
	    "{" META ",\"deletionTimestamp\":\"2024-08-24T02:00:30Z\","
	    "\"deletionGracePeriodSeconds\":30},\"spec\":{\"terminationGracePeriodSeconds\":60}}",
	    &p, &j);
	assert_true(p.deleting);
	assert_int_equal(p.delete_requested_ms, 1724464800000LL);
	assert_int_equal(kube_pod_end_ms(&p, 1724464805000LL), 1724464800000LL);
	assert_int_equal(kube_pod_end_ms(&p, 1724464799000LL), 1724464799000LL);
	json_decref(j);
	/* no deletionGracePeriodSeconds: the spec's */
	parse_ok("{" META ",\"deletionTimestamp\":\"2024-08-24T02:01:00Z\"},"
		 "\"spec\":{\"terminationGracePeriodSeconds\":60}}",
		 &p, &j);
	assert_int_equal(p.delete_requested_ms, 1724464800000LL);
	json_decref(j);
	/* force delete (grace 0) */
	parse_ok("{" META ",\"deletionTimestamp\":\"2024-08-24T02:00:00Z\","
		 "\"deletionGracePeriodSeconds\":0}}",
		 &p, &j);
	assert_int_equal(p.delete_requested_ms, 1724464800000LL);
	json_decref(j);
	/* an unreadable timestamp still ends the pod: at the observation */
	parse_ok("{" META ",\"deletionTimestamp\":\"soon\"}}", &p, &j);
	assert_true(p.deleting);
	assert_int_equal(p.delete_requested_ms, -1);
	assert_int_equal(kube_pod_end_ms(&p, 42), 42);
	json_decref(j);
}

static void test_terminal(void **state)
{
	struct kube_pod_info p;
	json_t *j;

	(void)state;
	/* the earliest finishedAt of the regular containers; init containers ignored */
	parse_ok("{" META "},\"status\":{\"phase\":\"Succeeded\",\"initContainerStatuses\":[{"
		 "\"state\":{\"terminated\":{\"finishedAt\":\"2024-08-24T01:55:00Z\"}}}],"
		 "\"containerStatuses\":["
		 "{\"state\":{\"terminated\":{\"finishedAt\":\"2024-08-24T01:59:00Z\"}}},"
		 "{\"state\":{\"terminated\":{\"finishedAt\":\"2024-08-24T01:58:00Z\"}}},"
		 "{\"state\":{\"running\":{\"startedAt\":\"2024-08-24T01:50:00Z\"}}}]}}",
		 &p, &j);
	assert_true(p.terminal);
	assert_int_equal(p.finished_ms, 1724464680000LL);
	assert_int_equal(kube_pod_end_ms(&p, 1724464900000LL), 1724464680000LL);
	json_decref(j);
	/* Failed with no container state (evicted): the observation */
	parse_ok("{" META "},\"status\":{\"phase\":\"Failed\",\"reason\":\"Evicted\"}}", &p, &j);
	assert_true(p.terminal);
	assert_int_equal(kube_pod_end_ms(&p, 77), 77);
	json_decref(j);
	/* Running: a terminated container (restarting) is not the pod's end */
	parse_ok("{" META "},\"status\":{\"phase\":\"Running\",\"containerStatuses\":["
		 "{\"state\":{\"terminated\":{\"finishedAt\":\"2024-08-24T01:58:00Z\"}}}]}}",
		 &p, &j);
	assert_false(p.terminal);
	assert_int_equal(p.finished_ms, -1);
	json_decref(j);
	/* deleted and finished: the earlier of the two */
	parse_ok("{" META ",\"deletionTimestamp\":\"2024-08-24T02:00:30Z\","
		 "\"deletionGracePeriodSeconds\":30},\"status\":{\"phase\":\"Failed\","
		 "\"containerStatuses\":[{\"state\":{\"terminated\":{\"finishedAt\":"
		 "\"2024-08-24T01:58:00Z\"}}}]}}",
		 &p, &j);
	assert_int_equal(kube_pod_end_ms(&p, 1724464900000LL), 1724464680000LL);
	json_decref(j);
}

static void test_conditions(void **state)
{
	struct kube_pod_info p;
	json_t *j;

	(void)state;
	parse_ok("{" META "},\"status\":{\"conditions\":[{\"type\":\"PodHasNetwork\",\"status\":"
		 "\"True\",\"lastTransitionTime\":\"2024-08-24T01:54:36Z\"}]}}",
		 &p, &j);
	assert_int_equal(p.ready_ms, READY_MS);
	json_decref(j);
	parse_ok("{" META "},\"status\":{\"conditions\":[{\"type\":\"PodReadyToStartContainers\","
		 "\"status\":\"False\",\"lastTransitionTime\":\"2024-08-24T01:54:36Z\"},"
		 "{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":"
		 "\"2024-08-24T01:50:00Z\"}]}}",
		 &p, &j);
	assert_int_equal(p.ready_ms, -1);
	assert_int_equal(kube_pod_assign_ms(&p, 5), 5);
	json_decref(j);
	parse_ok("{" META "},\"status\":{\"conditions\":[{\"type\":\"PodReadyToStartContainers\","
		 "\"status\":\"True\",\"lastTransitionTime\":null}]}}",
		 &p, &j);
	assert_int_equal(p.ready_ms, -1);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),	cmocka_unit_test(test_fixture_kind),
		cmocka_unit_test(test_fixture_docker),	cmocka_unit_test(test_not_pods),
		cmocka_unit_test(test_required_fields), cmocka_unit_test(test_workload),
		cmocka_unit_test(test_app_label),	cmocka_unit_test(test_ips),
		cmocka_unit_test(test_deletion),	cmocka_unit_test(test_terminal),
		cmocka_unit_test(test_conditions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
