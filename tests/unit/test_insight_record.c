// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/insight/insight_record: the collector's JSON record read back for the insight view. */
#define _GNU_SOURCE
#include <errno.h>
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
#include "flow.h"
#include "insight.h"
#include "insight_record.h"
#include "ip.h"
#include "jsonw.h"
#include "log.h"

/* A test's figures for docs/reliability.md, once they add up (tests/report.h). */
static void report(const char *test, struct report_fault *f)
{
	f->lost = f->injected - f->delivered - f->counted;
	assert_int_equal(f->lost, 0);
	report_fault_line("insight_record", test, 1, f);
}

static const struct flow_identity g_local = {
	.app = "web",
	.namespace = "shop",
	.pod = "web-7d9f8-x2x8q",
	.node = "node-3",
	.workload = "web-deploy",
};
static const struct flow_identity g_remote = {
	.app = "api",
	.namespace = "shop-backend",
	.pod = "api-0",
	.node = "node-9", /* not in the JSON: the record has no remote_node */
	.workload = "api-sts",
};

/* A record with every field set to a distinct value, as the collector writes it. */
static struct flow_record full_record(void)
{
	struct flow_record r = {
		.start_ms = 1700000000000ull,
		.end_ms = 1700000005000ull,
		.bytes_sent = 5000000000ull, /* over 2^32 */
		.bytes_received = 104857600,
		.segs_sent = 90001,
		.segs_received = 80001,
		.cgroup_id = 4242,
		.flows = 1200,
		.closed = 1100,
		.failed = 3,
		.retransmits = 12,
		.resets = 1,
		.srtt_us = 4294967295u, /* the top of its range */
		.min_rtt_us = 80,
		.pid = 77,
		.local_port = 43210,
		.remote_port = 8080,
		.err = ECONNREFUSED,
		.family = 4,
		.direction = FLOW_DIRECTION_OUT,
		.container = "web",
		.local = &g_local,
		.remote = &g_remote,
		.remote_source = FLOW_SOURCE_KUBE,
	};

	ip_parse_str("10.0.0.7", r.local_addr);
	ip_parse_str("10.1.2.3", r.remote_addr);
	snprintf(r.comm, sizeof(r.comm), "java");
	return r;
}

/* The record's JSON text, as flow_record_json writes it (malloc'd). */
static char *record_text(const struct flow_record *r)
{
	struct jsonw *jw = jsonw__new();
	const char *data;
	char *out;
	size_t len;

	assert_non_null(jw);
	flow_record_json(r, jw);
	data = jsonw__data(jw, &len);
	out = strndup(data, len);
	assert_non_null(out);
	jsonw__free(jw);
	return out;
}

static json_t *record_obj(const struct flow_record *r)
{
	char *text = record_text(r);
	json_t *o = json_loads(text, 0, NULL);

	assert_non_null(o);
	free(text);
	return o;
}

static void test_every_field(void **state)
{
	struct flow_record r = full_record();
	char *text = record_text(&r);
	struct insight_flow f;
	uint8_t want[16];
	char why[256] = "";
	json_t *root = NULL;

	(void)state;
	assert_int_equal(insight_record_parse_text(text, strlen(text), &root, &f, why, sizeof(why)),
			 0);
	assert_non_null(root);
	assert_int_equal(f.end_ms, 1700000005000ull);
	assert_int_equal(f.direction, FLOW_DIRECTION_OUT);
	assert_int_equal(f.local_port, 43210);
	assert_int_equal(f.remote_port, 8080);
	ip_parse_str("10.1.2.3", want);
	assert_memory_equal(f.remote_addr, want, 16);
	assert_int_equal(f.remote_addr[10], 0xff); /* v4-mapped */
	assert_int_equal(f.flows, 1200);
	assert_int_equal(f.closed, 1100);
	assert_int_equal(f.failed, 3);
	assert_int_equal(f.error, INSIGHT_ERROR_REFUSED);
	assert_int_equal(f.bytes_sent, 5000000000ull);
	assert_int_equal(f.bytes_received, 104857600);
	assert_int_equal(f.segs_sent, 90001);
	assert_int_equal(f.retransmits, 12);
	assert_int_equal(f.resets, 1);
	assert_int_equal(f.srtt_us, 4294967295u);
	assert_string_equal(f.local.app, "web");
	assert_string_equal(f.local.namespace, "shop");
	assert_string_equal(f.local.pod, "web-7d9f8-x2x8q");
	assert_string_equal(f.local.workload, "web-deploy");
	assert_string_equal(f.remote.app, "api");
	assert_string_equal(f.remote.namespace, "shop-backend");
	assert_string_equal(f.remote.pod, "api-0");
	assert_string_equal(f.remote.workload, "api-sts");
	/* borrowed from the object the caller keeps */
	assert_ptr_equal(f.remote.app, json_string_value(json_object_get(root, "remote_app")));
	json_decref(root);
	free(text);
}

static void test_in_ipv6_unattributed(void **state)
{
	struct flow_record r = full_record();
	struct insight_flow f;
	uint8_t want[16];
	char why[256] = "";
	json_t *o;

	(void)state;
	r.direction = FLOW_DIRECTION_IN;
	r.family = 6;
	ip_parse_str("fd00::7", r.remote_addr);
	r.remote = NULL; /* nobody named the remote side: its fields are "" */
	r.remote_source = FLOW_SOURCE_UNATTRIBUTED;
	r.err = ETIMEDOUT;
	o = record_obj(&r);
	assert_int_equal(insight_record_parse(o, &f, why, sizeof(why)), 0);
	assert_int_equal(f.direction, FLOW_DIRECTION_IN);
	ip_parse_str("fd00::7", want);
	assert_memory_equal(f.remote_addr, want, 16);
	assert_int_equal(f.remote_addr[0], 0xfd);
	assert_string_equal(f.remote.app, "");
	assert_string_equal(f.remote.namespace, "");
	assert_string_equal(f.remote.pod, "");
	assert_string_equal(f.remote.workload, "");
	assert_int_equal(f.error, INSIGHT_ERROR_TIMEOUT);
	json_decref(o);
}

static void test_no_error(void **state)
{
	struct flow_record r = full_record();
	struct insight_flow f;
	char why[256] = "";
	json_t *o;

	(void)state;
	r.err = 0;
	r.failed = 0;
	o = record_obj(&r);
	assert_int_equal(insight_record_parse(o, &f, why, sizeof(why)), 0);
	assert_int_equal(f.error, INSIGHT_ERROR_NONE);
	assert_int_equal(f.failed, 0);
	json_decref(o);
}

/* Optional fields that are absent read as 0 / "" / the zero address. */
static void test_minimal(void **state)
{
	const char *text = "{\"end_ms\": 17, \"direction\": \"in\"}";
	static const uint8_t zero[16];
	struct insight_flow f;
	char why[256] = "";
	json_t *root;

	(void)state;
	assert_int_equal(insight_record_parse_text(text, strlen(text), &root, &f, why, sizeof(why)),
			 0);
	assert_int_equal(f.end_ms, 17);
	assert_int_equal(f.direction, FLOW_DIRECTION_IN);
	assert_int_equal(f.flows, 0);
	assert_int_equal(f.bytes_sent, 0);
	assert_int_equal(f.error, INSIGHT_ERROR_NONE);
	assert_memory_equal(f.remote_addr, zero, 16);
	assert_string_equal(f.local.app, "");
	assert_string_equal(f.remote.pod, "");
	json_decref(root);
}

/* One bad value of one field: -EINVAL and a reason that starts with the field's name. */
struct bad_case {
	const char *field;
	const char *json; /* the field's value; NULL: the field removed */
};

static void test_bad_fields(void **state)
{
	static const struct bad_case cases[] = {
		{ "end_ms", NULL },
		{ "end_ms", "\"1700000005000\"" },
		{ "end_ms", "-1" },
		{ "end_ms", "1.5" },
		{ "end_ms", "null" },
		{ "direction", NULL },
		{ "direction", "\"sideways\"" },
		{ "direction", "1" },
		{ "local_port", "65536" },
		{ "local_port", "-1" },
		{ "local_port", "\"80\"" },
		{ "remote_port", "70000" },
		{ "remote_port", "true" },
		{ "remote_ip", "\"10.1.2\"" },
		{ "remote_ip", "\"10.1.2.3:80\"" },
		{ "remote_ip", "42" },
		{ "flows", "4294967296" },
		{ "flows", "-3" },
		{ "flows", "[]" },
		{ "closed", "4294967296" },
		{ "closed", "\"1\"" },
		{ "failed", "4294967296" },
		{ "failed", "\"3\"" },
		{ "error", "0" },
		{ "error", "{}" },
		{ "bytes_sent", "-1" },
		{ "bytes_sent", "1e3" },
		{ "bytes_received", "\"big\"" },
		{ "segs_sent", "-9223372036854775808" },
		{ "retransmits", "4294967296" },
		{ "resets", "4294967296" },
		{ "srtt_us", "4294967296" },
		{ "srtt_us", "false" },
		{ "local_app", "7" },
		{ "local_namespace", "null" },
		{ "local_pod", "[\"a\"]" },
		{ "local_workload", "{}" },
		{ "remote_app", "1" },
		{ "remote_namespace", "true" },
		{ "remote_pod", "0.5" },
		{ "remote_workload", "[]" },
	};
	struct flow_record r = full_record();
	struct report_fault rf = {
		.fault = "a flow record read back with one field missing or of the wrong type",
		.unit = "records",
		.counted_as = "-EINVAL naming the field: skipped, insight bad_messages",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *o = record_obj(&r);
		struct insight_flow f;
		char why[256] = "";
		int err;

		if (cases[i].json)
			json_object_set_new(o, cases[i].field,
					    json_loads(cases[i].json, JSON_DECODE_ANY, NULL));
		else
			json_object_del(o, cases[i].field);
		err = insight_record_parse(o, &f, why, sizeof(why));
		if (err != -EINVAL || strncmp(why, cases[i].field, strlen(cases[i].field)) != 0 ||
		    why[strlen(cases[i].field)] != ':')
			fail_msg("%s = %s: expected -EINVAL naming the field, got %d \"%s\"",
				 cases[i].field, cases[i].json ? cases[i].json : "(missing)", err,
				 why);
		rf.injected++;
		rf.counted += err < 0;
		json_decref(o);
	}
	report("test_bad_fields", &rf);
}

static void test_bad_text(void **state)
{
	static const char *const texts[] = {
		"",
		"not json",
		"[1, 2]",
		"\"end_ms\"",
		"{\"end_ms\": 1, \"direction\": \"out\"", /* cut short */
		"{\"end_ms\": 1, \"end_ms\": 2, \"direction\": \"out\"}",
		"{\"end_ms\": 99999999999999999999, \"direction\": \"out\"}", /* past int64 */
		"{\"end_ms\": 1, \"direction\": \"out\", \"local_app\": \"a\\u0000b\"}",
	};
	struct report_fault rf = {
		.fault = "a flow record line empty, not JSON, cut short, duplicate key, NUL",
		.unit = "records",
		.counted_as = "-EINVAL (\"record: ...\"): skipped, insight bad_messages",
	};
	struct insight_flow f;
	char why[256];
	json_t *root;
	int err;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		root = (json_t *)1;
		why[0] = '\0';
		err = insight_record_parse_text(texts[i], strlen(texts[i]), &root, &f, why,
						sizeof(why));
		assert_int_equal(err, -EINVAL);
		assert_null(root);
		assert_true(strncmp(why, "record: ", 8) == 0);
		assert_null(strchr(why, '\n'));
		rf.injected++;
		rf.counted += err < 0;
	}
	/* not an object, given as a json_t */
	{
		json_t *a = json_array();

		err = insight_record_parse(a, &f, why, sizeof(why));
		assert_int_equal(err, -EINVAL);
		assert_string_equal(why, "record: expected a JSON object");
		rf.injected++;
		rf.counted += err < 0;
		json_decref(a);
	}
	report("test_bad_text", &rf);
}

static void test_too_long(void **state)
{
	size_t n = INSIGHT_RECORD_MAX_TEXT + 1;
	char *text = malloc(n);
	struct report_fault rf = {
		.fault = "a flow record line over the longest a record can be",
		.unit = "records",
		.counted_as = "-EINVAL (\"longer than\"): skipped, insight bad_messages",
	};
	struct insight_flow f;
	char why[256];
	json_t *root;
	int err;

	(void)state;
	assert_non_null(text);
	memset(text, ' ', n);
	err = insight_record_parse_text(text, n, &root, &f, why, sizeof(why));
	assert_int_equal(err, -EINVAL);
	assert_non_null(strstr(why, "longer than"));
	rf.injected++;
	rf.counted += err < 0;
	free(text);
	report("test_too_long", &rf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_field), cmocka_unit_test(test_in_ipv6_unattributed),
		cmocka_unit_test(test_no_error),    cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_bad_fields),  cmocka_unit_test(test_bad_text),
		cmocka_unit_test(test_too_long),
	};

	log_init("test_insight_record", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
