// SPDX-License-Identifier: BSD-2-Clause
/* A Kubernetes pod object read: identity, IPs and life times, without I/O or state. */
#define _GNU_SOURCE
#include "kube_pod.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "ip.h"

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

int kube_pod_parse_time(const char *s, int64_t *ms)
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
		out->pod.id.workload = out->pod.id.pod;
		return;
	}
	/* Deployment "web" -> ReplicaSet "web-<pod-template-hash>" -> pods */
	if (strcmp(kind, "ReplicaSet") == 0 && hl && nl > hl + 1 &&
	    strcmp(name + nl - hl, hash) == 0 && name[nl - hl - 1] == '-' &&
	    nl - hl - 1 < sizeof(out->workload_buf)) {
		memcpy(out->workload_buf, name, nl - hl - 1);
		out->workload_buf[nl - hl - 1] = '\0';
		out->pod.id.workload = out->workload_buf;
		return;
	}
	out->pod.id.workload = name;
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
	out->pod.id.account = out->pod.id.region = out->pod.id.zone = "";
	out->pod.uid = str_or_empty(get(meta, "uid"));
	out->pod.id.pod = str_or_empty(get(meta, "name"));
	out->pod.id.namespace = str_or_empty(get(meta, "namespace"));
	if (!json_is_object(obj) || !*out->pod.uid || !*out->pod.id.pod || !*out->pod.id.namespace)
		return -EINVAL;
	/* watch objects say their kind; list items do not */
	if (get(obj, "kind") && strcmp(str_or_empty(get(obj, "kind")), "Pod") != 0)
		return -EINVAL;
	out->resource_version = str_or_empty(get(meta, "resourceVersion"));
	app = str_or_empty(get(labels, "app.kubernetes.io/name"));
	out->pod.id.app = *app ? app : str_or_empty(get(labels, "app"));
	parse_workload(meta, labels, out);
	out->pod.id.node = str_or_empty(get(spec, "nodeName"));
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
		if (kube_pod_parse_time(del, &ts) == 0)
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
		    kube_pod_parse_time(json_string_value(get(v, "lastTransitionTime")), &t) == 0 &&
		    (out->ready_ms < 0 || t < out->ready_ms))
			out->ready_ms = t;
	}
	if (out->terminal) {
		/* regular containers only: init containers end before the pod's life starts */
		json_array_foreach(get(status, "containerStatuses"), i, v)
		{
			const json_t *term = get(get(v, "state"), "terminated");
			int64_t t;

			if (kube_pod_parse_time(json_string_value(get(term, "finishedAt")), &t) ==
				0 &&
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
