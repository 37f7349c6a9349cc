// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for lib/jsonw (escaping, UTF-8 validation) and the flow record's JSON form. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "flow.h"
#include "ip.h"
#include "jsonw.h"

/* The writer's output as a NUL-terminated copy (the writer's own buffer is not terminated). */
static char *output(struct jsonw *jw)
{
	size_t len;
	const char *data = jsonw__data(jw, &len);
	char *s = malloc(len + 1);

	assert_non_null(s);
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* Parses with jansson, rejecting duplicate keys; fails the test on a parse error. */
static json_t *parse(const char *s, size_t flags)
{
	json_error_t jerr;
	json_t *j = json_loads(s, flags | JSON_REJECT_DUPLICATES, &jerr);

	if (!j) {
		print_error("jansson rejected %s: %s (col %d)\n", s, jerr.text, jerr.column);
		fail();
	}
	return j;
}

/* {"s":<val as n bytes>}: asserts the exact text and that jansson decodes `decoded` back. */
static void check_string(const char *val, size_t n, const char *want_json, const char *decoded,
			 size_t decoded_len)
{
	struct jsonw *jw = jsonw__new();
	json_t *j, *s;
	char *out;

	assert_non_null(jw);
	jsonw__obj_begin(jw);
	jsonw__kv_strn(jw, "s", val, n);
	jsonw__obj_end(jw);
	assert_int_equal(jsonw__error(jw), 0);
	out = output(jw);
	assert_string_equal(out, want_json);

	j = parse(out, JSON_ALLOW_NUL);
	s = json_object_get(j, "s");
	assert_true(json_is_string(s));
	assert_int_equal(json_string_length(s), decoded_len);
	assert_memory_equal(json_string_value(s), decoded, decoded_len);

	json_decref(j);
	free(out);
	jsonw__free(jw);
}

/* A value that must come out byte for byte as it went in. */
#define CHECK_VERBATIM(lit) \
	check_string(lit, sizeof(lit) - 1, "{\"s\":\"" lit "\"}", lit, sizeof(lit) - 1)
/* A value written as `json`, decoding to `dec`. */
#define CHECK(lit, json, dec) check_string(lit, sizeof(lit) - 1, json, dec, sizeof(dec) - 1)

static void test_empty_object(void **state)
{
	struct jsonw *jw = jsonw__new();
	char *out;

	(void)state;
	assert_non_null(jw);
	jsonw__obj_begin(jw);
	jsonw__obj_end(jw);
	out = output(jw);
	assert_string_equal(out, "{}");
	free(out);
	jsonw__free(jw);
	jsonw__free(NULL);
}

static void test_numbers_and_commas(void **state)
{
	struct jsonw *jw = jsonw__new();
	json_t *j;
	char *out;

	(void)state;
	assert_non_null(jw);
	jsonw__obj_begin(jw);
	jsonw__kv_u64(jw, "zero", 0);
	jsonw__kv_u64(jw, "max_i64", INT64_MAX);
	jsonw__kv_i64(jw, "neg", -1);
	jsonw__kv_i64(jw, "min", INT64_MIN);
	jsonw__kv_str(jw, "null_str", NULL);
	jsonw__kv_str(jw, "str", "x");
	jsonw__obj_end(jw);
	out = output(jw);
	assert_string_equal(out, "{\"zero\":0,\"max_i64\":9223372036854775807,\"neg\":-1,"
				 "\"min\":-9223372036854775808,\"null_str\":\"\",\"str\":\"x\"}");
	j = parse(out, 0);
	assert_int_equal(json_object_size(j), 6);
	assert_int_equal(json_integer_value(json_object_get(j, "zero")), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "max_i64")), INT64_MAX);
	assert_int_equal(json_integer_value(json_object_get(j, "neg")), -1);
	assert_int_equal(json_integer_value(json_object_get(j, "min")), INT64_MIN);
	assert_string_equal(json_string_value(json_object_get(j, "null_str")), "");
	assert_string_equal(json_string_value(json_object_get(j, "str")), "x");
	json_decref(j);
	free(out);
	jsonw__free(jw);
}

static void test_u64_max(void **state)
{
	struct jsonw *jw = jsonw__new();
	json_t *j;
	char *out;

	(void)state;
	assert_non_null(jw);
	jsonw__obj_begin(jw);
	jsonw__kv_u64(jw, "n", UINT64_MAX);
	jsonw__obj_end(jw);
	out = output(jw);
	assert_string_equal(out, "{\"n\":18446744073709551615}");
	/* jansson's integers are signed 64-bit: it reads this one only as a real */
	j = parse(out, JSON_DECODE_INT_AS_REAL);
	assert_true(json_real_value(json_object_get(j, "n")) == 18446744073709551615.0);
	json_decref(j);
	free(out);
	jsonw__free(jw);
}

static void test_lines_and_reset(void **state)
{
	struct jsonw *jw = jsonw__new();
	char *out, *nl;
	json_t *j;

	(void)state;
	assert_non_null(jw);
	for (int i = 0; i < 2; i++) {
		jsonw__obj_begin(jw);
		jsonw__kv_u64(jw, "i", (uint64_t)i);
		jsonw__kv_str(jw, "k", "v");
		jsonw__obj_end(jw);
		jsonw__raw_char(jw, '\n');
	}
	out = output(jw);
	/* no comma leaks from one top-level object into the next */
	assert_string_equal(out, "{\"i\":0,\"k\":\"v\"}\n{\"i\":1,\"k\":\"v\"}\n");
	nl = strchr(out, '\n');
	*nl = '\0';
	j = parse(out, 0);
	assert_int_equal(json_integer_value(json_object_get(j, "i")), 0);
	json_decref(j);
	j = parse(nl + 1, 0);
	assert_int_equal(json_integer_value(json_object_get(j, "i")), 1);
	json_decref(j);
	free(out);

	/* reset mid-object: the next object starts clean */
	jsonw__obj_begin(jw);
	jsonw__kv_u64(jw, "half", 1);
	jsonw__reset(jw);
	out = output(jw);
	assert_string_equal(out, "");
	free(out);
	jsonw__obj_begin(jw);
	jsonw__kv_u64(jw, "a", 1);
	jsonw__obj_end(jw);
	out = output(jw);
	assert_string_equal(out, "{\"a\":1}");
	free(out);
	jsonw__free(jw);
}

static void test_escape_quote_backslash(void **state)
{
	(void)state;
	CHECK("a\"b\\c", "{\"s\":\"a\\\"b\\\\c\"}", "a\"b\\c");
	CHECK("\\\"", "{\"s\":\"\\\\\\\"\"}", "\\\"");
	CHECK_VERBATIM("plain / text {}[]:,'");
}

static void test_escape_control_bytes(void **state)
{
	(void)state;
	CHECK("\n\t\r", "{\"s\":\"\\n\\t\\r\"}", "\n\t\r");
	CHECK("\x01\x1f\x7f", "{\"s\":\"\\u0001\\u001f\\u007f\"}", "\x01\x1f\x7f");
	CHECK("\b\f\x1b", "{\"s\":\"\\u0008\\u000c\\u001b\"}", "\b\f\x1b");
	CHECK("a\nb", "{\"s\":\"a\\nb\"}", "a\nb");
}

static void test_escape_key(void **state)
{
	struct jsonw *jw = jsonw__new();
	char *out;
	json_t *j;

	(void)state;
	assert_non_null(jw);
	jsonw__obj_begin(jw);
	jsonw__kv_u64(jw, "k\"\n", 1);
	jsonw__obj_end(jw);
	out = output(jw);
	assert_string_equal(out, "{\"k\\\"\\n\":1}");
	j = parse(out, 0);
	assert_int_equal(json_integer_value(json_object_get(j, "k\"\n")), 1);
	json_decref(j);
	free(out);
	jsonw__free(jw);
}

static void test_utf8_valid_passes_through(void **state)
{
	(void)state;
	CHECK_VERBATIM("caf\xc3\xa9");		    /* U+00E9 */
	CHECK_VERBATIM("\xc2\x80");		    /* U+0080, smallest 2-byte */
	CHECK_VERBATIM("\xdf\xbf");		    /* U+07FF */
	CHECK_VERBATIM("\xe0\xa0\x80");		    /* U+0800, smallest 3-byte */
	CHECK_VERBATIM("\xe2\x82\xac");		    /* U+20AC euro sign */
	CHECK_VERBATIM("\xed\x9f\xbf");		    /* U+D7FF, just below the surrogates */
	CHECK_VERBATIM("\xee\x80\x80");		    /* U+E000, just above them */
	CHECK_VERBATIM("\xef\xbf\xbf");		    /* U+FFFF */
	CHECK_VERBATIM("\xf0\x90\x80\x80");	    /* U+10000, smallest 4-byte */
	CHECK_VERBATIM("\xf0\x9f\x98\x80");	    /* U+1F600 */
	CHECK_VERBATIM("\xf4\x8f\xbf\xbf");	    /* U+10FFFF, the last code point */
	CHECK_VERBATIM("a\xc3\xa9 \xe2\x82\xac z"); /* mixed with ASCII */
}

static void test_utf8_invalid_as_latin1(void **state)
{
	(void)state;
	/* lone continuation byte */
	CHECK("\x80", "{\"s\":\"\\u0080\"}", "\xc2\x80");
	/* 0xff never appears in UTF-8: decodes as U+00FF */
	CHECK("\xff", "{\"s\":\"\\u00ff\"}", "\xc3\xbf");
	CHECK("\xfe", "{\"s\":\"\\u00fe\"}", "\xc3\xbe");
	/* truncated sequences, at the end and followed by ASCII */
	CHECK("\xe2\x82", "{\"s\":\"\\u00e2\\u0082\"}", "\xc3\xa2\xc2\x82");
	CHECK("\xe2\x82!", "{\"s\":\"\\u00e2\\u0082!\"}", "\xc3\xa2\xc2\x82!");
	CHECK("\xf0\x9f\x98", "{\"s\":\"\\u00f0\\u009f\\u0098\"}", "\xc3\xb0\xc2\x9f\xc2\x98");
	CHECK("\xc3", "{\"s\":\"\\u00c3\"}", "\xc3\x83");
	/* overlong encodings of '/' and of U+0000..U+FFFF */
	CHECK("\xc0\xaf", "{\"s\":\"\\u00c0\\u00af\"}", "\xc3\x80\xc2\xaf");
	CHECK("\xc1\xbf", "{\"s\":\"\\u00c1\\u00bf\"}", "\xc3\x81\xc2\xbf");
	CHECK("\xe0\x80\xaf", "{\"s\":\"\\u00e0\\u0080\\u00af\"}", "\xc3\xa0\xc2\x80\xc2\xaf");
	CHECK("\xf0\x8f\xbf\xbf", "{\"s\":\"\\u00f0\\u008f\\u00bf\\u00bf\"}",
	      "\xc3\xb0\xc2\x8f\xc2\xbf\xc2\xbf");
	/* UTF-16 surrogates encoded as UTF-8 (CESU-8) */
	CHECK("\xed\xa0\x80", "{\"s\":\"\\u00ed\\u00a0\\u0080\"}", "\xc3\xad\xc2\xa0\xc2\x80");
	CHECK("\xed\xbf\xbf", "{\"s\":\"\\u00ed\\u00bf\\u00bf\"}", "\xc3\xad\xc2\xbf\xc2\xbf");
	/* beyond U+10FFFF */
	CHECK("\xf4\x90\x80\x80", "{\"s\":\"\\u00f4\\u0090\\u0080\\u0080\"}",
	      "\xc3\xb4\xc2\x90\xc2\x80\xc2\x80");
	CHECK("\xf5\x80\x80\x80", "{\"s\":\"\\u00f5\\u0080\\u0080\\u0080\"}",
	      "\xc3\xb5\xc2\x80\xc2\x80\xc2\x80");
	/* an invalid byte does not swallow the valid sequence after it */
	CHECK("\xff\xc3\xa9", "{\"s\":\"\\u00ff\xc3\xa9\"}", "\xc3\xbf\xc3\xa9");
}

static void test_comm_without_nul(void **state)
{
	/* exactly 16 bytes on the heap, no terminator: ASan catches any read past them */
	char *comm = malloc(16);

	(void)state;
	assert_non_null(comm);
	memcpy(comm, "0123456789abcdef", 16);
	check_string(comm, 16, "{\"s\":\"0123456789abcdef\"}", "0123456789abcdef", 16);
	free(comm);
}

static void test_strn_with_nul(void **state)
{
	(void)state;
	check_string("a\0b", 3, "{\"s\":\"a\\u0000b\"}", "a\0b", 3);
	check_string("", 0, "{\"s\":\"\"}", "", 0);
	/* n, not the terminator, decides the length */
	check_string("abcdef", 2, "{\"s\":\"ab\"}", "ab", 2);
}

static void test_buffer_grows(void **state)
{
	/* 5000 control bytes become 30000 bytes of \u0001: far past the first allocation */
	enum { N = 5000 };
	struct jsonw *jw = jsonw__new();
	char *val = malloc(N), *out;
	size_t len;
	json_t *j, *s;

	(void)state;
	assert_non_null(jw);
	assert_non_null(val);
	memset(val, 0x01, N);
	jsonw__obj_begin(jw);
	jsonw__kv_strn(jw, "s", val, N);
	jsonw__obj_end(jw);
	assert_int_equal(jsonw__error(jw), 0);
	jsonw__data(jw, &len);
	assert_int_equal(len, strlen("{\"s\":\"\"}") + (size_t)N * 6);
	out = output(jw);
	j = parse(out, 0);
	s = json_object_get(j, "s");
	assert_int_equal(json_string_length(s), N);
	assert_memory_equal(json_string_value(s), val, N);
	json_decref(j);
	free(out);
	free(val);
	jsonw__free(jw);
}

static void test_nested_arrays_bool_null(void **state)
{
	struct jsonw *jw = jsonw__new();
	json_t *j, *a;
	char *out;

	(void)state;
	assert_non_null(jw);
	jsonw__obj_begin(jw);
	jsonw__kv_bool(jw, "t", true);
	jsonw__kv_bool(jw, "f", false);
	jsonw__kv_null(jw, "n");
	jsonw__kv_obj_begin(jw, "o");
	jsonw__kv_arr_begin(jw, "empty");
	jsonw__arr_end(jw);
	jsonw__kv_arr_begin(jw, "ints");
	jsonw__arr_u64(jw, 1);
	jsonw__arr_u64(jw, UINT32_MAX);
	jsonw__arr_end(jw);
	jsonw__obj_end(jw);
	jsonw__kv_arr_begin(jw, "strs");
	jsonw__arr_str(jw, "a\"");
	jsonw__arr_str(jw, NULL);
	jsonw__arr_end(jw);
	jsonw__kv_arr_begin(jw, "objs");
	jsonw__arr_obj_begin(jw);
	jsonw__kv_u64(jw, "a", 1);
	jsonw__obj_end(jw);
	jsonw__arr_obj_begin(jw);
	jsonw__obj_end(jw);
	jsonw__arr_end(jw);
	/* a member after nested values still gets its comma */
	jsonw__kv_u64(jw, "last", 7);
	jsonw__obj_end(jw);
	assert_int_equal(jsonw__error(jw), 0);
	out = output(jw);
	assert_string_equal(out, "{\"t\":true,\"f\":false,\"n\":null,"
				 "\"o\":{\"empty\":[],\"ints\":[1,4294967295]},"
				 "\"strs\":[\"a\\\"\",\"\"],\"objs\":[{\"a\":1},{}],\"last\":7}");
	j = parse(out, 0);
	assert_true(json_is_true(json_object_get(j, "t")));
	assert_true(json_is_false(json_object_get(j, "f")));
	assert_true(json_is_null(json_object_get(j, "n")));
	a = json_object_get(json_object_get(j, "o"), "ints");
	assert_int_equal(json_array_size(a), 2);
	assert_int_equal(json_integer_value(json_array_get(a, 1)), UINT32_MAX);
	a = json_object_get(j, "strs");
	assert_string_equal(json_string_value(json_array_get(a, 0)), "a\"");
	assert_int_equal(json_integer_value(json_object_get(j, "last")), 7);
	json_decref(j);
	free(out);
	jsonw__free(jw);
}

/* ---- flow_record_json ---- */

static const char *const record_keys[] = {
	"start_ms",
	"end_ms",
	"family",
	"direction",
	"local_ip",
	"local_port",
	"remote_ip",
	"remote_port",
	"flows",
	"closed",
	"failed",
	"error",
	"bytes_sent",
	"bytes_received",
	"segs_sent",
	"segs_received",
	"retransmits",
	"resets",
	"srtt_us",
	"min_rtt_us",
	"pid",
	"comm",
	"cgroup_id",
	"container_id",
	"container",
	"local_app",
	"local_namespace",
	"local_pod",
	"local_node",
	"local_workload",
	"remote_app",
	"remote_namespace",
	"remote_pod",
	"remote_workload",
	"remote_source",
};

#define N_RECORD_KEYS (sizeof(record_keys) / sizeof(record_keys[0]))

static const char container_id[] =
    "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";

static void set_v4(uint8_t addr[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	memset(addr, 0, 16);
	addr[10] = 0xff;
	addr[11] = 0xff;
	addr[12] = a;
	addr[13] = b;
	addr[14] = c;
	addr[15] = d;
}

/* Renders the record and parses it back, checking the exact key set on the way. */
static json_t *record_to_json(const struct flow_record *r)
{
	struct jsonw *jw = jsonw__new();
	json_t *j;
	char *out;

	assert_non_null(jw);
	flow_record_json(r, jw);
	assert_int_equal(jsonw__error(jw), 0);
	out = output(jw);
	j = parse(out, 0);
	free(out);
	jsonw__free(jw);

	assert_true(json_is_object(j));
	for (size_t i = 0; i < N_RECORD_KEYS; i++) {
		if (!json_object_get(j, record_keys[i])) {
			print_error("key \"%s\" missing\n", record_keys[i]);
			fail();
		}
	}
	/* all expected keys present, none duplicated (parse rejects that): no others */
	assert_int_equal(json_object_size(j), N_RECORD_KEYS);
	return j;
}

static void assert_json_uint(json_t *j, const char *key, uint64_t want)
{
	json_t *v = json_object_get(j, key);

	if (!json_is_integer(v) || (uint64_t)json_integer_value(v) != want) {
		print_error("%s: expected %llu, got %lld\n", key, (unsigned long long)want,
			    json_is_integer(v) ? (long long)json_integer_value(v) : -1LL);
		fail();
	}
}

static void assert_json_str(json_t *j, const char *key, const char *want)
{
	json_t *v = json_object_get(j, key);

	if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0) {
		print_error("%s: expected \"%s\", got \"%s\"\n", key, want,
			    json_is_string(v) ? json_string_value(v) : "(not a string)");
		fail();
	}
}

static void test_record_v4(void **state)
{
	static const struct flow_identity local = {
		.app = "checkout",
		.namespace = "shop",
		.pod = "checkout-7d9f8b6c5-x2x4z",
		.node = "node-1",
		.workload = "checkout",
	};
	static const struct flow_identity remote = {
		.app = "payments",
		.namespace = "pay",
		.pod = "payments-0",
		.node = "node-2",
		.workload = "payments",
	};
	struct flow_record r = {
		.start_ms = 1700000000123,
		.end_ms = 1700000010456,
		.bytes_sent = 5000000000, /* past 32 bits */
		.bytes_received = 2,
		.segs_sent = 3,
		.segs_received = 4,
		.cgroup_id = 123456789012,
		.flows = 5,
		.closed = 4,
		.failed = 1,
		.retransmits = 6,
		.resets = 7,
		.srtt_us = 812,
		.min_rtt_us = 95,
		.pid = 4242,
		.local_port = 0,
		.remote_port = 443,
		.err = 111,
		.family = 4,
		.direction = FLOW_DIRECTION_OUT,
		.comm = "curl",
		.container = "app",
		.local = &local,
		.remote = &remote,
		.remote_source = FLOW_SOURCE_HEARTBEAT,
	};
	json_t *j;

	(void)state;
	set_v4(r.local_addr, 10, 1, 2, 3);
	set_v4(r.remote_addr, 10, 9, 8, 7);
	memcpy(r.container_id, container_id, sizeof(container_id));
	j = record_to_json(&r);

	assert_json_uint(j, "start_ms", 1700000000123);
	assert_json_uint(j, "end_ms", 1700000010456);
	assert_json_uint(j, "family", 4);
	assert_json_str(j, "direction", "out");
	assert_json_str(j, "local_ip", "10.1.2.3");
	assert_json_uint(j, "local_port", 0);
	assert_json_str(j, "remote_ip", "10.9.8.7");
	assert_json_uint(j, "remote_port", 443);
	assert_json_uint(j, "flows", 5);
	assert_json_uint(j, "closed", 4);
	assert_json_uint(j, "failed", 1);
	assert_json_str(j, "error", "ECONNREFUSED");
	assert_json_uint(j, "bytes_sent", 5000000000);
	assert_json_uint(j, "bytes_received", 2);
	assert_json_uint(j, "segs_sent", 3);
	assert_json_uint(j, "segs_received", 4);
	assert_json_uint(j, "retransmits", 6);
	assert_json_uint(j, "resets", 7);
	assert_json_uint(j, "srtt_us", 812);
	assert_json_uint(j, "min_rtt_us", 95);
	assert_json_uint(j, "pid", 4242);
	assert_json_str(j, "comm", "curl");
	assert_json_uint(j, "cgroup_id", 123456789012);
	assert_json_str(j, "container_id", container_id);
	assert_json_str(j, "container", "app");
	assert_json_str(j, "local_app", "checkout");
	assert_json_str(j, "local_namespace", "shop");
	assert_json_str(j, "local_pod", "checkout-7d9f8b6c5-x2x4z");
	assert_json_str(j, "local_node", "node-1");
	assert_json_str(j, "local_workload", "checkout");
	assert_json_str(j, "remote_app", "payments");
	assert_json_str(j, "remote_namespace", "pay");
	assert_json_str(j, "remote_pod", "payments-0");
	assert_json_str(j, "remote_workload", "payments");
	assert_json_str(j, "remote_source", "heartbeat");
	json_decref(j);
}

static void test_record_v6(void **state)
{
	static const uint8_t local6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x01 };
	static const uint8_t remote6[16] = { 0xfd, 0x00, 0x00, 0x10, [14] = 0xab, [15] = 0xcd };
	static const struct flow_identity local = { .app = "web", .namespace = "default" };
	struct flow_record r = {
		.start_ms = 1,
		.end_ms = 2,
		.flows = 1,
		.local_port = 8080,
		.remote_port = 0,
		.family = 6,
		.direction = FLOW_DIRECTION_IN,
		.local = &local,
		.remote_source = FLOW_SOURCE_UNATTRIBUTED,
	};
	json_t *j;

	(void)state;
	memcpy(r.local_addr, local6, 16);
	memcpy(r.remote_addr, remote6, 16);
	/* a 16-byte comm filling the kernel's buffer, terminated only by the record's 17th byte */
	memcpy(r.comm, "0123456789abcdef", 16);
	j = record_to_json(&r);

	assert_json_uint(j, "family", 6);
	assert_json_str(j, "direction", "in");
	assert_json_str(j, "local_ip", "2001:db8::1");
	assert_json_uint(j, "local_port", 8080);
	assert_json_str(j, "remote_ip", "fd00:10::abcd");
	assert_json_uint(j, "remote_port", 0);
	assert_json_uint(j, "flows", 1);
	assert_json_uint(j, "closed", 0);
	assert_json_uint(j, "failed", 0);
	assert_json_str(j, "error", "");
	assert_json_str(j, "comm", "0123456789abcdef");
	assert_json_str(j, "local_app", "web");
	assert_json_str(j, "local_namespace", "default");
	/* NULL members of a present identity are empty strings too */
	assert_json_str(j, "local_pod", "");
	assert_json_str(j, "local_node", "");
	assert_json_str(j, "local_workload", "");
	assert_json_str(j, "remote_app", "");
	assert_json_str(j, "remote_source", "unattributed");
	json_decref(j);
}

static void test_record_empty_identity(void **state)
{
	static const char *const empty_keys[] = {
		"comm",	      "container_id",	 "container",	   "local_app",	 "local_namespace",
		"local_pod",  "local_node",	 "local_workload", "remote_app", "remote_namespace",
		"remote_pod", "remote_workload", "error",
	};
	static const char *const zero_keys[] = {
		"start_ms",	 "end_ms",	"local_port", "remote_port",	"flows",
		"closed",	 "failed",	"bytes_sent", "bytes_received", "segs_sent",
		"segs_received", "retransmits", "resets",     "srtt_us",	"min_rtt_us",
		"pid",		 "cgroup_id",
	};
	struct flow_record r;
	json_t *j;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.family = 4;
	set_v4(r.local_addr, 0, 0, 0, 0);
	set_v4(r.remote_addr, 255, 255, 255, 255);
	j = record_to_json(&r);
	for (size_t i = 0; i < sizeof(empty_keys) / sizeof(empty_keys[0]); i++)
		assert_json_str(j, empty_keys[i], "");
	for (size_t i = 0; i < sizeof(zero_keys) / sizeof(zero_keys[0]); i++)
		assert_json_uint(j, zero_keys[i], 0);
	assert_json_str(j, "local_ip", "0.0.0.0");
	assert_json_str(j, "remote_ip", "255.255.255.255");
	/* direction 0 is not a valid value; it is written as the default */
	assert_json_str(j, "direction", "out");
	assert_json_str(j, "remote_source", "unattributed");
	json_decref(j);
}

static void test_record_comm_bytes(void **state)
{
	struct flow_record r;
	json_t *j;

	(void)state;
	memset(&r, 0, sizeof(r));
	/* comm is whatever the process wrote with prctl(PR_SET_NAME): not always UTF-8 */
	memcpy(r.comm, "a\"b\\\n\xff", 6);
	j = record_to_json(&r);
	assert_json_str(j, "comm", "a\"b\\\n\xc3\xbf");
	json_decref(j);
}

static void test_addr_format(void **state)
{
	static const struct {
		uint8_t addr[16];
		const char *text;
		int v4mapped;
	} cases[] = {
		{ { [10] = 0xff, [11] = 0xff, 1, 2, 3, 4 }, "1.2.3.4", 1 }, /* ::ffff:1.2.3.4 */
		/* every digit count of an octet */
		{ { [10] = 0xff, [11] = 0xff, 10, 99, 100, 255 }, "10.99.100.255", 1 },
		{ { [10] = 0xff, [11] = 0xff, 0, 9, 109, 200 }, "0.9.109.200", 1 },
		{ { [15] = 1 }, "::1", 0 },
		{ { 0 }, "::", 0 },
		/* ::ffff:0:1 is ::ffff:0.0.0.1, inside ::ffff:0:0/96 */
		{ { [10] = 0xff, [11] = 0xff, [15] = 1 }, "0.0.0.1", 1 },
		/* ::ffff:0:0:1 has ffff one group too early: not v4-mapped */
		{ { [8] = 0xff, [9] = 0xff, [15] = 1 }, "::ffff:0:0:1", 0 },
		/* 64:ff9b::1.2.3.4 (NAT64) is IPv6, not an IPv4 flow */
		{ { 0x00, 0x64, 0xff, 0x9b, [12] = 1, 2, 3, 4 }, "64:ff9b::102:304", 0 },
		{ { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, "2001:db8::1", 0 },
		/* RFC 5952 4.2.3: the first of two equal runs of zeros is shortened */
		{ { 0x20, 0x01, 0x0d, 0xb8, [9] = 1, [15] = 1 }, "2001:db8::1:0:0:1", 0 },
		/* RFC 5952 4.2.2: a single zero group is not shortened */
		{ { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1 },
		  "2001:db8:0:1:1:1:1:1",
		  0 },
		{ { 0xfe, 0x80, [15] = 1 }, "fe80::1", 0 },
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(ip_is_v4mapped(cases[i].addr), cases[i].v4mapped);
		assert_ptr_equal(ip_format(cases[i].addr, buf, sizeof(buf)), buf);
		assert_string_equal(buf, cases[i].text);
	}
}

static void test_addr_format_small_buffer(void **state)
{
	uint8_t addr[16];
	char buf[8];

	(void)state;
	set_v4(addr, 10, 1, 2, 3);
	memset(buf, 'X', sizeof(buf));
	/* "10.1.2.3" needs 9 bytes: too small gives "", never a partial address */
	assert_string_equal(ip_format(addr, buf, sizeof(buf)), "");
	/* 16 bytes hold the longest dotted quad */
	set_v4(addr, 255, 255, 255, 255);
	{
		char b16[16];

		assert_string_equal(ip_format(addr, b16, sizeof(b16)), "255.255.255.255");
	}
}

static void test_err_name(void **state)
{
	char buf[16];

	(void)state;
	assert_string_equal(flow_err_name(0, buf, sizeof(buf)), "");
	assert_string_equal(flow_err_name(ECONNREFUSED, buf, sizeof(buf)), "ECONNREFUSED");
	assert_string_equal(flow_err_name(111, buf, sizeof(buf)), "ECONNREFUSED");
	assert_string_equal(flow_err_name(ETIMEDOUT, buf, sizeof(buf)), "ETIMEDOUT");
	assert_string_equal(flow_err_name(ECONNRESET, buf, sizeof(buf)), "ECONNRESET");
	assert_string_equal(flow_err_name(EHOSTUNREACH, buf, sizeof(buf)), "EHOSTUNREACH");
	assert_string_equal(flow_err_name(ENETUNREACH, buf, sizeof(buf)), "ENETUNREACH");
	assert_string_equal(flow_err_name(ECONNABORTED, buf, sizeof(buf)), "ECONNABORTED");
	assert_string_equal(flow_err_name(EPIPE, buf, sizeof(buf)), "EPIPE");
	assert_string_equal(flow_err_name(EPROTO, buf, sizeof(buf)), "EPROTO");
	assert_string_equal(flow_err_name(ENETDOWN, buf, sizeof(buf)), "ENETDOWN");
	assert_string_equal(flow_err_name(EHOSTDOWN, buf, sizeof(buf)), "EHOSTDOWN");
	/* unknown codes use the caller's buffer */
	assert_ptr_equal(flow_err_name(200, buf, sizeof(buf)), buf);
	assert_string_equal(buf, "E200");
	assert_string_equal(flow_err_name(65535, buf, sizeof(buf)), "E65535");
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(flow_direction_name(FLOW_DIRECTION_OUT), "out");
	assert_string_equal(flow_direction_name(FLOW_DIRECTION_IN), "in");
	assert_string_equal(flow_source_name(FLOW_SOURCE_UNATTRIBUTED), "unattributed");
	assert_string_equal(flow_source_name(FLOW_SOURCE_HEARTBEAT), "heartbeat");
	assert_string_equal(flow_source_name(FLOW_SOURCE_KUBE), "kube");
	assert_string_equal(flow_source_name(FLOW_SOURCE_SONAR), "sonar");
	/* an out-of-range value is never guessed as a source */
	assert_string_equal(flow_source_name((enum flow_source)99), "unattributed");
}

/*
 * Every byte value at every place of a 20-byte string (plain text is checked
 * eight bytes at a time, then byte by byte): escaped exactly as a byte-wise
 * escaper written here says.
 */
static void test_escape_every_byte_everywhere(void **state)
{
	enum { N = 20 };
	struct jsonw *jw = jsonw__new();

	(void)state;
	assert_non_null(jw);
	for (int c = 0; c < 256; c++) {
		for (int at = 0; at < N; at++) {
			char in[N], want[N * 6 + 3], *o = want;
			const char *got;
			size_t len;

			memset(in, 'a', sizeof(in));
			in[at] = (char)c;
			*o++ = '"';
			for (int i = 0; i < N; i++) {
				unsigned char b = (unsigned char)in[i];

				if (b == '"' || b == '\\')
					o += sprintf(o, "\\%c", b);
				else if (b == '\n')
					o += sprintf(o, "\\n");
				else if (b == '\t')
					o += sprintf(o, "\\t");
				else if (b == '\r')
					o += sprintf(o, "\\r");
				else if (b >= 0x20 && b < 0x7f)
					*o++ = (char)b;
				else /* a control byte, DEL, or a lone byte >= 0x80 (not UTF-8) */
					o += sprintf(o, "\\u00%02x", b);
			}
			*o++ = '"';
			jsonw__reset(jw);
			{
				char *room = jsonw__room(jw, JSONW_STR_MAX(N));

				assert_non_null(room);
				jsonw__commit(jw, jsonw_put_str(room, in, N));
			}
			got = jsonw__data(jw, &len);
			assert_int_equal(len, (size_t)(o - want));
			assert_memory_equal(got, want, len);
		}
	}
	jsonw__free(jw);
}

/* ---- the one-pass record writer and its cache of identity fragments ---- */

/*
 * The record as the generic writer's kv calls write it, field by field: what
 * flow_record_json wrote before it formatted in one pass.  The one-pass
 * writer, cached or not, must write exactly these bytes.
 */
static void reference_json(const struct flow_record *r, struct jsonw *jw)
{
	static const struct flow_identity none = { 0 };
	const struct flow_identity *l = r->local ? r->local : &none;
	const struct flow_identity *rm = r->remote ? r->remote : &none;
	char ip[64], errbuf[16];

	jsonw__obj_begin(jw);
	jsonw__kv_u64(jw, "start_ms", r->start_ms);
	jsonw__kv_u64(jw, "end_ms", r->end_ms);
	jsonw__kv_u64(jw, "family", r->family);
	jsonw__kv_str(jw, "direction", flow_direction_name(r->direction));
	jsonw__kv_str(jw, "local_ip", ip_format(r->local_addr, ip, sizeof(ip)));
	jsonw__kv_u64(jw, "local_port", r->local_port);
	jsonw__kv_str(jw, "remote_ip", ip_format(r->remote_addr, ip, sizeof(ip)));
	jsonw__kv_u64(jw, "remote_port", r->remote_port);
	jsonw__kv_u64(jw, "flows", r->flows);
	jsonw__kv_u64(jw, "closed", r->closed);
	jsonw__kv_u64(jw, "failed", r->failed);
	jsonw__kv_str(jw, "error", flow_err_name(r->err, errbuf, sizeof(errbuf)));
	jsonw__kv_u64(jw, "bytes_sent", r->bytes_sent);
	jsonw__kv_u64(jw, "bytes_received", r->bytes_received);
	jsonw__kv_u64(jw, "segs_sent", r->segs_sent);
	jsonw__kv_u64(jw, "segs_received", r->segs_received);
	jsonw__kv_u64(jw, "retransmits", r->retransmits);
	jsonw__kv_u64(jw, "resets", r->resets);
	jsonw__kv_u64(jw, "srtt_us", r->srtt_us);
	jsonw__kv_u64(jw, "min_rtt_us", r->min_rtt_us);
	jsonw__kv_u64(jw, "pid", r->pid);
	jsonw__kv_strn(jw, "comm", r->comm, strnlen(r->comm, sizeof(r->comm)));
	jsonw__kv_u64(jw, "cgroup_id", r->cgroup_id);
	jsonw__kv_str(jw, "container_id", r->container_id);
	jsonw__kv_str(jw, "container", r->container);
	jsonw__kv_str(jw, "local_app", l->app);
	jsonw__kv_str(jw, "local_namespace", l->namespace);
	jsonw__kv_str(jw, "local_pod", l->pod);
	jsonw__kv_str(jw, "local_node", l->node);
	jsonw__kv_str(jw, "local_workload", l->workload);
	jsonw__kv_str(jw, "remote_app", rm->app);
	jsonw__kv_str(jw, "remote_namespace", rm->namespace);
	jsonw__kv_str(jw, "remote_pod", rm->pod);
	jsonw__kv_str(jw, "remote_workload", rm->workload);
	jsonw__kv_str(jw, "remote_source", flow_source_name(r->remote_source));
	jsonw__obj_end(jw);
}

/* Each record of recs written by the reference, uncached and cached (c): the same bytes. */
static void assert_same_bytes(const struct flow_record *recs, size_t n, struct flow_json_cache *c)
{
	struct jsonw *want = jsonw__new(), *plain = jsonw__new(), *cached = jsonw__new();
	const char *a, *b, *d;
	size_t la, lb, ld;

	assert_non_null(want);
	assert_non_null(plain);
	assert_non_null(cached);
	for (size_t i = 0; i < n; i++) {
		reference_json(&recs[i], want);
		jsonw__raw_char(want, '\n');
		flow_record_json(&recs[i], plain);
		jsonw__raw_char(plain, '\n');
		flow_record_json_cached(&recs[i], cached, c);
		jsonw__raw_char(cached, '\n');
	}
	assert_int_equal(jsonw__error(want), 0);
	assert_int_equal(jsonw__error(plain), 0);
	assert_int_equal(jsonw__error(cached), 0);
	a = jsonw__data(want, &la);
	b = jsonw__data(plain, &lb);
	d = jsonw__data(cached, &ld);
	assert_int_equal(lb, la);
	assert_memory_equal(b, a, la);
	assert_int_equal(ld, la);
	assert_memory_equal(d, a, la);
	jsonw__free(want);
	jsonw__free(plain);
	jsonw__free(cached);
}

/* Strings that need every kind of escape, in every identity field, the comm and the container. */
static void test_record_cached_bytes(void **state)
{
	static const char *const tricky[] = {
		"plain-name",
		"quote\"back\\slash",
		"ctl\n\t\r\x01\x1f\x7f",
		"utf8 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3",
		"bad utf8 \xc3 \xff\xfe \xe2\x82 \xed\xa0\x80",
		"",
		"</script>\\u0000",
	};
	enum { T = sizeof(tricky) / sizeof(tricky[0]), N = 64 };
	struct flow_identity ids[T];
	struct flow_record *r = calloc(N, sizeof(*r));
	struct flow_json_cache *c = flow_json_cache__new();

	(void)state;
	assert_non_null(r);
	assert_non_null(c);
	for (int i = 0; i < T; i++)
		ids[i] = (struct flow_identity){ .app = tricky[i],
						 .namespace = tricky[(i + 1) % T],
						 .pod = tricky[(i + 2) % T],
						 .node = i % 3 ? tricky[(i + 3) % T] : NULL,
						 .workload = i % 2 ? tricky[(i + 4) % T] : NULL };
	for (int i = 0; i < N; i++) {
		r[i].start_ms = i % 2 ? UINT64_MAX : (uint64_t)i * 99;
		r[i].end_ms = UINT64_MAX - (uint64_t)i;
		r[i].family = i % 3 ? 4 : 6;
		r[i].direction = i % 2 ? FLOW_DIRECTION_IN : FLOW_DIRECTION_OUT;
		if (r[i].family == 4) {
			set_v4(r[i].local_addr, 10, 0, 0, (uint8_t)i);
			set_v4(r[i].remote_addr, 192, 168, (uint8_t)i, 255);
		} else {
			r[i].local_addr[0] = 0xfd;
			r[i].local_addr[15] = (uint8_t)i;
			r[i].remote_addr[0] = 0x20;
			r[i].remote_addr[1] = 0x01;
		}
		r[i].local_port = (uint16_t)(i * 1000);
		r[i].remote_port = UINT16_MAX;
		r[i].flows = UINT32_MAX;
		r[i].closed = (uint32_t)i;
		r[i].failed = i % 5;
		r[i].err = i % 4 == 0 ? 0 : i % 4 == 1 ? ECONNREFUSED : (uint16_t)(200 + i);
		r[i].bytes_sent = (uint64_t)1 << (i % 64);
		r[i].bytes_received = 9;
		r[i].segs_sent = 10;
		r[i].segs_received = 99;
		r[i].retransmits = 100;
		r[i].resets = 1000000;
		r[i].srtt_us = (uint32_t)i * 12345;
		r[i].min_rtt_us = UINT32_MAX;
		r[i].pid = (uint32_t)i;
		r[i].cgroup_id = UINT64_MAX / (uint64_t)(i + 1);
		/* a comm of all 16 bytes (no NUL in the record's own bytes), or with escapes */
		if (i % 4 == 0)
			memset(r[i].comm, 'x', FLOW_COMM_LEN);
		else
			snprintf(r[i].comm, sizeof(r[i].comm), "%.*s", FLOW_COMM_LEN,
				 tricky[i % T]);
		memcpy(r[i].container_id, container_id, sizeof(container_id));
		r[i].container = i % 6 == 5 ? NULL : tricky[i % T];
		r[i].local = i % 7 == 6 ? NULL : &ids[i % T];
		r[i].remote = i % 5 == 4 ? NULL : &ids[(i * 3) % T];
		r[i].remote_source = (enum flow_source)(i % FLOW_SOURCE__COUNT);
	}
	/* each identity cached on first use, copied after: the same bytes either way */
	flow_json_cache__reset(c);
	assert_same_bytes(r, N, c);
	assert_same_bytes(r, N, c);
	/* the next batch: the same addresses now hold other strings */
	flow_json_cache__reset(c);
	for (int i = 0; i < T; i++) {
		ids[i].app = tricky[(i + 5) % T];
		ids[i].pod = NULL;
	}
	assert_same_bytes(r, N, c);
	flow_json_cache__free(c);
	free(r);
}

/* More identities in one batch than the cache holds: those past it are written in place. */
static void test_record_cache_full(void **state)
{
	enum { N = 1500 };
	struct flow_identity *ids = calloc(N, sizeof(*ids));
	struct flow_record *r = calloc(N, sizeof(*r));
	char(*names)[32] = calloc(N, sizeof(*names));
	struct flow_json_cache *c = flow_json_cache__new();

	(void)state;
	assert_non_null(ids);
	assert_non_null(r);
	assert_non_null(names);
	assert_non_null(c);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "svc-\"%d\"", i);
		ids[i] = (struct flow_identity){ .app = names[i], .pod = names[i] };
		set_v4(r[i].local_addr, 10, 1, 2, 3);
		set_v4(r[i].remote_addr, 10, 1, 2, 4);
		r[i].family = 4;
		r[i].local = &ids[0];
		r[i].remote = &ids[i];
		r[i].container = names[i % 40];
	}
	flow_json_cache__reset(c);
	assert_same_bytes(r, N, c);
	flow_json_cache__free(c);
	free(names);
	free(r);
	free(ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_object),
		cmocka_unit_test(test_numbers_and_commas),
		cmocka_unit_test(test_u64_max),
		cmocka_unit_test(test_lines_and_reset),
		cmocka_unit_test(test_escape_quote_backslash),
		cmocka_unit_test(test_escape_control_bytes),
		cmocka_unit_test(test_escape_key),
		cmocka_unit_test(test_utf8_valid_passes_through),
		cmocka_unit_test(test_utf8_invalid_as_latin1),
		cmocka_unit_test(test_comm_without_nul),
		cmocka_unit_test(test_strn_with_nul),
		cmocka_unit_test(test_buffer_grows),
		cmocka_unit_test(test_nested_arrays_bool_null),
		cmocka_unit_test(test_record_v4),
		cmocka_unit_test(test_record_v6),
		cmocka_unit_test(test_record_empty_identity),
		cmocka_unit_test(test_record_comm_bytes),
		cmocka_unit_test(test_escape_every_byte_everywhere),
		cmocka_unit_test(test_record_cached_bytes),
		cmocka_unit_test(test_record_cache_full),
		cmocka_unit_test(test_addr_format),
		cmocka_unit_test(test_addr_format_small_buffer),
		cmocka_unit_test(test_err_name),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
