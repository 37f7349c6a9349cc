/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A Kubernetes pod object read: who the pod is, its IPs, and the times
 * its life started and ended (docs/kube.md, "What it takes from a pod"
 * and "Timing rules").
 *
 * Pure: no I/O, no clock, no state; links only jansson and lib/, so the
 * fuzzer (tests/fuzz/fuzz_kube_pod.c) and the unit tests take it alone.
 * Times are Unix milliseconds.
 */
#ifndef PODFLOW_COLLECTOR_KUBE_POD_H
#define PODFLOW_COLLECTOR_KUBE_POD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

#define KUBE_POD_IPS_MAX 4 /* status.podIPs: one per family in practice */

/*
 * Who a pod is.  Every string is set ("" when unknown), and valid as long
 * as what it borrows (the JSON object; in a callback, the call).
 *   id.pod       metadata.name
 *   id.namespace metadata.namespace
 *   id.app       label app.kubernetes.io/name, else label app
 *   id.workload  Deployment, StatefulSet, DaemonSet, Job name; else the pod name
 *   id.node      spec.nodeName
 *   id.account, id.region, id.zone: "" (a pod does not say)
 */
struct kube_pod {
	const char *uid; /* metadata.uid: the pod, across renames and relabels */
	struct flow_identity id;
};

/* One pod object read (pointers borrow the json object, or `workload_buf`). */
struct kube_pod_info {
	struct kube_pod pod;
	const char *resource_version; /* "" when absent */
	uint8_t ips[KUBE_POD_IPS_MAX][16];
	size_t n_ips;
	bool host_network;
	bool terminal;		     /* phase Succeeded or Failed */
	bool deleting;		     /* metadata.deletionTimestamp set */
	int64_t ready_ms;	     /* PodReadyToStartContainers/PodHasNetwork True since; -1 */
	int64_t delete_requested_ms; /* deletionTimestamp - grace period; -1 */
	int64_t finished_ms;	     /* earliest containerStatuses finishedAt when terminal; -1 */
	char workload_buf[256];
};

/* 0, or -EINVAL when `obj` is not a usable pod (no uid, name or namespace; kind not Pod). */
int kube_pod_parse(const json_t *obj, struct kube_pod_info *out);
/* When `pod` started to own its IPs, given it was seen at observed_ms. */
int64_t kube_pod_assign_ms(const struct kube_pod_info *p, int64_t observed_ms);
/* The earliest sign its IPs were given up, given the end was seen at observed_ms. */
int64_t kube_pod_end_ms(const struct kube_pod_info *p, int64_t observed_ms);
/* RFC 3339 ("2024-08-24T01:54:36Z", fraction and offset allowed) -> ms; 0 or -EINVAL. */
int kube_pod_parse_time(const char *s, int64_t *ms);

#endif /* PODFLOW_COLLECTOR_KUBE_POD_H */
