// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/feeds/pod_table: which pod changes become which assign/unassign calls. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ip.h"
#include "pod_table.h"

#define NO_GAP -1 /* gap_wm of a watch event */

/* ---- what the table said, as text: "A 10.0.0.1 web-1 shop 1000; U ..." ---- */

struct recorder {
	char log[4096];
	size_t n;
	char uid[64], pod[64], ns[64], app[64], workload[64], node[64], account[8], region[8],
	    zone[8];
};

static void record(struct recorder *r, char op, const uint8_t ip[16], const struct kube_pod *p,
		   int64_t t)
{
	char text[IP_TEXT_MAX];
	size_t len = strlen(r->log);

	snprintf(r->log + len, sizeof(r->log) - len, "%s%c %s %s %s %s %lld", len ? "; " : "", op,
		 ip_format(ip, text, sizeof(text)), p->id.pod, p->id.app, p->id.node, (long long)t);
	r->n++;
	snprintf(r->uid, sizeof(r->uid), "%s", p->uid);
	snprintf(r->pod, sizeof(r->pod), "%s", p->id.pod);
	snprintf(r->ns, sizeof(r->ns), "%s", p->id.namespace);
	snprintf(r->app, sizeof(r->app), "%s", p->id.app);
	snprintf(r->workload, sizeof(r->workload), "%s", p->id.workload);
	snprintf(r->node, sizeof(r->node), "%s", p->id.node);
	/* never NULL: a consumer may print or intern every field */
	assert_non_null(p->id.account);
	assert_non_null(p->id.region);
	assert_non_null(p->id.zone);
	snprintf(r->account, sizeof(r->account), "%s", p->id.account);
	snprintf(r->region, sizeof(r->region), "%s", p->id.region);
	snprintf(r->zone, sizeof(r->zone), "%s", p->id.zone);
}

static void on_assign(void *ctx, const uint8_t ip[16], const struct kube_pod *p, int64_t t)
{
	record(ctx, 'A', ip, p, t);
}

static void on_unassign(void *ctx, const uint8_t ip[16], const struct kube_pod *p, int64_t t)
{
	record(ctx, 'U', ip, p, t);
}

/* The calls since the last look, then forgets them. */
static void expect_calls(struct recorder *r, const char *want)
{
	if (strcmp(r->log, want) != 0) {
		print_error("expected \"%s\"\n     got \"%s\"\n", want, r->log);
		fail();
	}
	r->log[0] = '\0';
	r->n = 0;
}

static struct pod_table *table(struct recorder *r)
{
	struct kube_callbacks cb = { .assign = on_assign, .unassign = on_unassign, .ctx = r };
	struct pod_table *t;

	memset(r, 0, sizeof(*r));
	t = pod_table__new(&cb);
	assert_non_null(t);
	return t;
}

static void expect_counts(const struct pod_table *t, size_t pods, size_t ips, size_t host)
{
	struct pod_table_counts n;

	pod_table__counts(t, &n);
	assert_int_equal(n.pods, pods);
	assert_int_equal(n.ips, ips);
	assert_int_equal(n.host_network, host);
}

/* A live pod as kube_pod_parse gives it: no condition, not ending; `ips` comma-separated. */
static struct kube_pod_info pod(const char *uid, const char *name, const char *ips)
{
	struct kube_pod_info p = {
		.pod = { .uid = uid,
			 .id = { .app = "web",
				 .namespace = "shop",
				 .pod = name,
				 .node = "n1",
				 .workload = "web",
				 .account = "",
				 .region = "",
				 .zone = "" } },
		.resource_version = "",
		.ready_ms = -1,
		.delete_requested_ms = -1,
		.finished_ms = -1,
	};
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", ips);
	for (char *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		assert_true(p.n_ips < KUBE_POD_IPS_MAX);
		assert_int_equal(ip_parse_str(s, p.ips[p.n_ips++]), 0);
	}
	return p;
}

static void apply(struct pod_table *t, const struct kube_pod_info *p, int64_t obs, int64_t gap_wm)
{
	assert_int_equal(pod_table__apply(t, p, obs, gap_wm), 0);
}

/* A new pod's IP is assigned from its condition + 1 s if that is before the observation. */
static void test_assign_time(void **state)
{
	struct recorder r;
	struct pod_table *t = table(&r);
	struct kube_pod_info a = pod("u-a", "web-a", "10.0.0.1"),
			     b = pod("u-b", "web-b", "fd00::2");

	(void)state;
	a.ready_ms = 5000;
	apply(t, &a, 60000, NO_GAP);
	expect_calls(&r, "A 10.0.0.1 web-a web n1 6000");
	/* every identity field, as the consumer gets it */
	assert_string_equal(r.uid, "u-a");
	assert_string_equal(r.pod, "web-a");
	assert_string_equal(r.ns, "shop");
	assert_string_equal(r.app, "web");
	assert_string_equal(r.workload, "web");
	assert_string_equal(r.node, "n1");
	assert_string_equal(r.account, "");
	assert_string_equal(r.region, "");
	assert_string_equal(r.zone, "");
	/* the condition + 1 s is not before the observation: the observation */
	b.ready_ms = 5000;
	apply(t, &b, 5400, NO_GAP);
	expect_calls(&r, "A fd00::2 web-b web n1 5400");
	/* the same state again says nothing */
	apply(t, &a, 70000, NO_GAP);
	apply(t, &b, 70000, NO_GAP);
	expect_calls(&r, "");
	expect_counts(t, 2, 2, 0);
	pod_table__free(t);
}

/* A pod with no IP yet is kept and says nothing until one appears. */
static void test_no_ip_yet(void **state)
{
	struct recorder r;
	struct pod_table *t = table(&r);
	struct kube_pod_info p = pod("u", "web-1", "");

	(void)state;
	apply(t, &p, 1000, NO_GAP);
	expect_calls(&r, "");
	expect_counts(t, 1, 0, 0);
	p = pod("u", "web-1", "10.0.0.1");
	apply(t, &p, 2000, NO_GAP);
	expect_calls(&r, "A 10.0.0.1 web-1 web n1 2000");
	expect_counts(t, 1, 1, 0);
	pod_table__free(t);
}

/* IPs that go are unassigned when seen (after a gap: at its watermark), new ones assigned. */
static void test_ip_changes(void **state)
{
	struct recorder r;
	struct pod_table *t = table(&r);
	struct kube_pod_info p = pod("u", "web-1", "10.0.0.1,fd00::1");

	(void)state;
	apply(t, &p, 1000, NO_GAP);
	expect_calls(&r, "A 10.0.0.1 web-1 web n1 1000; A fd00::1 web-1 web n1 1000");
	p = pod("u", "web-1", "fd00::1,10.0.0.3");
	apply(t, &p, 5000, NO_GAP);
	expect_calls(&r, "U 10.0.0.1 web-1 web n1 5000; A 10.0.0.3 web-1 web n1 5000");
	expect_counts(t, 1, 2, 0);
	/* a list after a gap: the IP went while nobody watched, at the gap's watermark */
	pod_table__list_begin(t);
	p = pod("u", "web-1", "10.0.0.3");
	apply(t, &p, 9000, /*gap_wm=*/7000);
	expect_calls(&r, "U fd00::1 web-1 web n1 7000");
	/* never before the IP's own assignment (5000) */
	pod_table__list_begin(t);
	p = pod("u", "web-1", "");
	apply(t, &p, 9500, /*gap_wm=*/4000);
	expect_calls(&r, "U 10.0.0.3 web-1 web n1 5000");
	expect_counts(t, 1, 0, 0);
	pod_table__free(t);
}

/* A new identity (name, namespace, app, workload or node): the old one ends, the new starts. */
static void test_relabel(void **state)
{
	static const char *const fields[] = { "pod", "namespace", "app", "workload", "node" };
	struct recorder r;
	struct pod_table *t = table(&r);
	struct kube_pod_info p = pod("u", "web-1", "10.0.0.1,10.0.0.2");
	int64_t obs = 1000;

	(void)state;
	apply(t, &p, obs, NO_GAP);
	expect_calls(&r, "A 10.0.0.1 web-1 web n1 1000; A 10.0.0.2 web-1 web n1 1000");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		struct kube_pod_info q = p;
		char want[512];

		obs += 1000;
		if (i == 0)
			q.pod.id.pod = "web-2";
		else if (i == 1)
			q.pod.id.namespace = "other";
		else if (i == 2)
			q.pod.id.app = "api";
		else if (i == 3)
			q.pod.id.workload = "api";
		else
			q.pod.id.node = "n2";
		/* a ready condition does not move a relabel: it happens when seen */
		q.ready_ms = 0;
		apply(t, &q, obs, NO_GAP);
		snprintf(want, sizeof(want),
			 "U 10.0.0.1 web-1 web n1 %lld; U 10.0.0.2 web-1 web n1 %lld; "
			 "A 10.0.0.1 %s %s %s %lld; A 10.0.0.2 %s %s %s %lld",
			 (long long)obs, (long long)obs, q.pod.id.pod, q.pod.id.app, q.pod.id.node,
			 (long long)obs, q.pod.id.pod, q.pod.id.app, q.pod.id.node, (long long)obs);
		if (strcmp(r.log, want) != 0) {
			print_error("%s changed: expected \"%s\"\n     got \"%s\"\n", fields[i],
				    want, r.log);
			fail();
		}
		if (i == 1)
			assert_string_equal(r.ns, "other");
		if (i == 3)
			assert_string_equal(r.workload, "api");
		r.log[0] = '\0';
		r.n = 0;
		/* and back */
		obs += 1000;
		apply(t, &p, obs, NO_GAP);
		assert_int_equal(r.n, 4);
		r.log[0] = '\0';
		r.n = 0;
	}
	expect_counts(t, 1, 2, 0);
	pod_table__free(t);
}

/* Deleting or finished: every IP given up at the earliest sign, and never assigned again. */
static void test_ending(void **state)
{
	struct recorder r;
	struct pod_table *t = table(&r);
	struct kube_pod_info p = pod("u", "web-1", "10.0.0.1"), q;

	(void)state;
	apply(t, &p, 1000, NO_GAP);
	expect_calls(&r, "A 10.0.0.1 web-1 web n1 1000");
	q = p;
	q.deleting = true;
	q.delete_requested_ms = 3000;
	apply(t, &q, 9000, NO_GAP);
	expect_calls(&r, "U 10.0.0.1 web-1 web n1 3000");
	expect_counts(t, 1, 0, 0);
	/* a later state without the deletion does not bring it back */
	apply(t, &p, 10000, NO_GAP);
	expect_calls(&r, "");
	/* DELETED: forgotten, nothing more to give up */
	pod_table__delete(t, &p, 11000);
	expect_calls(&r, "");
	expect_counts(t, 0, 0, 0);

	/* terminal: the earliest finishedAt; never before the assignment */
	p = pod("v", "job-1", "10.0.0.2");
	apply(t, &p, 20000, NO_GAP);
	expect_calls(&r, "A 10.0.0.2 job-1 web n1 20000");
	q = p;
	q.terminal = true;
	q.finished_ms = 15000;
	apply(t, &q, 30000, NO_GAP);
	expect_calls(&r, "U 10.0.0.2 job-1 web n1 20000");
	pod_table__free(t);
}

/* A pod first seen already ending is never assigned: its IP may be someone else's soon. */
static void test_first_seen_ending(void **state)
{
	struct recorder r;
	struct pod_table *t = table(&r);
	struct kube_pod_info p = pod("u", "web-1", "10.0.0.1"), q = p;

	(void)state;
	q.terminal = true;
	apply(t, &q, 1000, NO_GAP);
	expect_calls(&r, "");
	expect_counts(t, 1, 0, 0);
	apply(t, &p, 2000, NO_GAP);
	expect_calls(&r, "");
	q = pod("v", "web-2", "10.0.0.2");
	q.deleting = true;
	apply(t, &q, 3000, NO_GAP);
	pod_table__delete(t, &q, 4000);
	expect_calls(&r, "");
	expect_counts(t, 1, 0, 0);
	pod_table__free(t);
}

/* DELETED gives every IP up at the earliest sign and forgets the pod; unknown uids: nothing. */
static void test_deleted(void **state)
{
	struct recorder r;
	struct pod_table *t = table(&r);
	struct kube_pod_info p = pod("u", "web-1", "10.0.0.1,fd00::1"), q;

	(void)state;
	apply(t, &p, 1000, NO_GAP);
	expect_calls(&r, "A 10.0.0.1 web-1 web n1 1000; A fd00::1 web-1 web n1 1000");
	q = pod("x", "other", "10.9.9.9");
	pod_table__delete(t, &q, 2000);
	expect_calls(&r, "");
	q = p;
	q.deleting = true;
	q.delete_requested_ms = 4000;
	pod_table__delete(t, &q, 5000);
	expect_calls(&r, "U 10.0.0.1 web-1 web n1 4000; U fd00::1 web-1 web n1 4000");
	expect_counts(t, 0, 0, 0);
	pod_table__delete(t, &q, 6000);
	expect_calls(&r, "");
	pod_table__free(t);
}

/* hostNetwork pods are counted, never emitted: their IP is the node's. */
static void test_host_network(void **state)
{
	struct recorder r;
	struct pod_table *t = table(&r);
	struct kube_pod_info p = pod("u", "ds-1", "172.18.0.2");

	(void)state;
	p.host_network = true;
	apply(t, &p, 1000, NO_GAP);
	p = pod("u", "ds-1", "172.18.0.3");
	p.host_network = true;
	apply(t, &p, 2000, NO_GAP);
	expect_calls(&r, "");
	expect_counts(t, 1, 0, 1);
	pod_table__delete(t, &p, 3000);
	expect_calls(&r, "");
	expect_counts(t, 0, 0, 0);
	pod_table__free(t);
}

/* After a complete list, pods it did not have are given up at the gap's watermark. */
static void test_list_sweep(void **state)
{
	struct recorder r;
	struct pod_table *t = table(&r);
	struct kube_pod_info a = pod("a", "web-a", "10.0.0.1"), b = pod("b", "web-b", "10.0.0.2"),
			     c = pod("c", "web-c", "10.0.0.3"), h = pod("h", "ds-h", "172.18.0.2");

	(void)state;
	h.host_network = true;
	pod_table__list_begin(t);
	apply(t, &a, 1000, /*gap_wm=*/0);
	apply(t, &b, 1000, /*gap_wm=*/0);
	apply(t, &h, 1000, /*gap_wm=*/0);
	pod_table__list_end(t, 0);
	expect_calls(&r, "A 10.0.0.1 web-a web n1 1000; A 10.0.0.2 web-b web n1 1000");
	/* a watch event between lists */
	apply(t, &c, 2000, NO_GAP);
	expect_calls(&r, "A 10.0.0.3 web-c web n1 2000");
	/* a list that did not complete removes nothing; the next one starts afresh */
	pod_table__list_begin(t);
	apply(t, &a, 3000, /*gap_wm=*/2500);
	pod_table__list_begin(t);
	apply(t, &a, 4000, /*gap_wm=*/2500);
	apply(t, &c, 4000, /*gap_wm=*/2500);
	expect_counts(t, 4, 3, 1);
	pod_table__list_end(t, 2500);
	/* b is gone (at the watermark), the host-network pod forgotten without a call */
	expect_calls(&r, "U 10.0.0.2 web-b web n1 2500");
	expect_counts(t, 2, 2, 0);
	/* a swept pod that ended earlier is forgotten without a call too */
	c.terminal = true;
	apply(t, &c, 5000, NO_GAP);
	expect_calls(&r, "U 10.0.0.3 web-c web n1 5000");
	pod_table__list_begin(t);
	apply(t, &a, 6000, /*gap_wm=*/5500);
	pod_table__list_end(t, 5500);
	expect_calls(&r, "");
	expect_counts(t, 1, 1, 0);
	pod_table__free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_assign_time), cmocka_unit_test(test_no_ip_yet),
		cmocka_unit_test(test_ip_changes),  cmocka_unit_test(test_relabel),
		cmocka_unit_test(test_ending),	    cmocka_unit_test(test_first_seen_ending),
		cmocka_unit_test(test_deleted),	    cmocka_unit_test(test_host_network),
		cmocka_unit_test(test_list_sweep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
