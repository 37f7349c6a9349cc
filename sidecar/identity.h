/* SPDX-License-Identifier: BSD-2-Clause */
/* The exporting pod's identity: Downward API env vars and labels file. */
#ifndef PODFLOW_IDENTITY_H
#define PODFLOW_IDENTITY_H

#include <stddef.h>

#include "flow.h"

#define IDENTITY_FIELD_MAX 254 /* a DNS-1123 subdomain is at most 253 bytes */

struct identity {
	char app[IDENTITY_FIELD_MAX];
	char namespace[IDENTITY_FIELD_MAX];
	char pod[IDENTITY_FIELD_MAX];
	char node[IDENTITY_FIELD_MAX];
	char workload[IDENTITY_FIELD_MAX];
	struct flow_identity view; /* points into the fields above */
};

/*
 * Fills `id` from POD_NAME, POD_NAMESPACE, NODE_NAME, POD_APP and
 * POD_WORKLOAD (`getenv_fn` is getenv, or a test's), then, when
 * `labels_file` is given, the app from its `app.kubernetes.io/name` or `app`
 * label (POD_APP wins) and the workload from `pod-template-hash`
 * (Deployment) or `controller-revision-hash` (StatefulSet, DaemonSet).
 * Absent values are empty strings.  Returns 0, or a negative errno when the
 * labels file cannot be read or has a malformed line (`why` says which).
 */
int identity_load(struct identity *id, char *(*getenv_fn)(const char *), const char *labels_file,
		  char *why, size_t whylen);

/*
 * Looks up `key` in Downward API labels text (`key="value"` lines, the value
 * quoted as Go's strconv.Quote does).  Returns 1 and the unquoted value, 0
 * when absent, or -EINVAL on a malformed line (its number in *bad_line).
 */
int identity_label(const char *text, const char *key, char *out, size_t len, int *bad_line);

#endif /* PODFLOW_IDENTITY_H */
