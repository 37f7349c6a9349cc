// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for feeds/ip_event: IP events and shared ranges, read and written; every rejection. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../report.h"
#include "ip.h"
#include "jsonw.h"
#include "ip_event.h"
#include "log.h"

#define NOW 1732700000000LL /* "now" for every parse here */

static const uint8_t ip4[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3 };
/* 2001:db8::1 */
static const uint8_t ip6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };

/* A test's figures for docs/reliability.md, once they add up (tests/report.h). */
static void report(const char *test, struct report_fault *f)
{
	f->lost = f->injected - f->delivered - f->counted;
	assert_int_equal(f->lost, 0);
	report_fault_line("ip_event", test, 1, f);
}

static enum ip_event_bad event(const char *json, const char *key, struct ip_event *ev, char *detail)
{
	return ip_event_parse(json, strlen(json), key, key ? strlen(key) : 0, NOW, ev, detail, 160);
}

static enum ip_event_bad span(const char *json, const char *key, struct ip_event_span *sp,
			      char *detail)
{
	return ip_event_parse_span(json, strlen(json), key, key ? strlen(key) : 0, NOW, sp, detail,
				   160);
}

static void test_event_assign_v4_all_fields(void **state)
{
	struct ip_event ev;
	char detail[160];

	(void)state;
	assert_int_equal(IP_EVENT_OK,
			 event("{\"ip\":\"10.1.2.3\",\"event\":\"assign\",\"ts_ms\":1732699999000,"
			       "\"app\":\"lb\",\"namespace\":\"edge\",\"pod\":\"lb-0\","
			       "\"workload\":\"lb\",\"node\":\"n1\",\"account\":\"1234\","
			       "\"region\":\"eu-west-1\",\"zone\":\"eu-west-1a\",\"extra\":[1]}",
			       "10.1.2.3", &ev, detail));
	assert_string_equal("", detail);
	assert_memory_equal(ip4, ev.ip, 16);
	assert_true(ev.assign);
	assert_int_equal(1732699999000LL, ev.ts_ms);
	assert_string_equal("lb", ev.id.app);
	assert_string_equal("edge", ev.id.namespace);
	assert_string_equal("lb-0", ev.id.pod);
	assert_string_equal("lb", ev.id.workload);
	assert_string_equal("n1", ev.id.node);
	assert_string_equal("1234", ev.id.account);
	assert_string_equal("eu-west-1", ev.id.region);
	assert_string_equal("eu-west-1a", ev.id.zone);
}

static void test_event_unassign_v6_whoever(void **state)
{
	struct ip_event ev;
	char detail[160];

	(void)state;
	/* the key in another spelling of the same address is fine; no key is fine */
	assert_int_equal(
	    IP_EVENT_OK,
	    event("{\"ip\":\"2001:db8::1\",\"event\":\"unassign\",\"ts_ms\":1732699999001}",
		  "2001:0db8:0:0::0001", &ev, detail));
	assert_memory_equal(ip6, ev.ip, 16);
	assert_false(ev.assign);
	assert_int_equal(1732699999001LL, ev.ts_ms);
	assert_string_equal("", ev.id.app);
	assert_string_equal("", ev.id.namespace);
	assert_string_equal("", ev.id.pod);
	assert_string_equal("", ev.id.workload);
	assert_string_equal("", ev.id.node);
	assert_string_equal("", ev.id.account);
	assert_string_equal("", ev.id.region);
	assert_string_equal("", ev.id.zone);
	assert_int_equal(IP_EVENT_OK,
			 event("{\"ip\":\"::ffff:10.1.2.3\",\"event\":\"assign\",\"ts_ms\":"
			       "1732699999001,\"zone\":\"z\"}",
			       NULL, &ev, detail));
	assert_memory_equal(ip4, ev.ip, 16);
	assert_string_equal("z", ev.id.zone);
	assert_string_equal("", ev.id.app);
}

struct bad_case {
	const char *json;
	const char *key;
	enum ip_event_bad want;
	const char *detail; /* a substring of the detail line */
};

#define TS "\"ts_ms\":1732699999000"

static const struct bad_case bad_events[] = {
	{ "", NULL, IP_EVENT_BAD_NOT_JSON, "empty" },
	{ "{\"ip\":", NULL, IP_EVENT_BAD_NOT_JSON, "not JSON" },
	{ "hello", NULL, IP_EVENT_BAD_NOT_JSON, "not JSON" },
	{ "[1,2]", NULL, IP_EVENT_BAD_NOT_JSON, "not a JSON object" },
	{ "{\"ip\":\"10.0.0.1\",\"ip\":\"10.0.0.2\",\"event\":\"assign\"," TS ",\"pod\":\"p\"}",
	  NULL, IP_EVENT_BAD_NOT_JSON, "duplicate" },
	{ "{\"event\":\"assign\"," TS ",\"pod\":\"p\"}", NULL, IP_EVENT_BAD_MISSING_FIELD,
	  "\"ip\"" },
	{ "{\"ip\":\"10.0.0.1\"," TS ",\"pod\":\"p\"}", NULL, IP_EVENT_BAD_MISSING_FIELD,
	  "\"event\"" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"assign\",\"pod\":\"p\"}", NULL,
	  IP_EVENT_BAD_MISSING_FIELD, "\"ts_ms\"" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"assign\"," TS "}", NULL, IP_EVENT_BAD_MISSING_FIELD,
	  "identity" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"assign\"," TS ",\"pod\":\"\"}", NULL,
	  IP_EVENT_BAD_MISSING_FIELD, "identity" },
	{ "{\"ip\":167772161,\"event\":\"assign\"," TS ",\"pod\":\"p\"}", NULL,
	  IP_EVENT_BAD_INVALID_FIELD, "\"ip\" is not a string" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"move\"," TS ",\"pod\":\"p\"}", NULL,
	  IP_EVENT_BAD_INVALID_FIELD, "\"event\"" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"Assign\"," TS ",\"pod\":\"p\"}", NULL,
	  IP_EVENT_BAD_INVALID_FIELD, "\"event\"" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":1," TS ",\"pod\":\"p\"}", NULL,
	  IP_EVENT_BAD_INVALID_FIELD, "\"event\"" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"assign\",\"ts_ms\":\"1732699999000\",\"pod\":\"p\"}",
	  NULL, IP_EVENT_BAD_INVALID_FIELD, "\"ts_ms\" is not an integer" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"assign\",\"ts_ms\":1.7327e12,\"pod\":\"p\"}", NULL,
	  IP_EVENT_BAD_INVALID_FIELD, "\"ts_ms\" is not an integer" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"assign\"," TS ",\"pod\":7}", NULL,
	  IP_EVENT_BAD_INVALID_FIELD, "\"pod\" is not a string" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"unassign\"," TS ",\"app\":null}", NULL,
	  IP_EVENT_BAD_INVALID_FIELD, "\"app\" is not a string" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"assign\"," TS ",\"pod\":\"a\\u0000b\"}", NULL,
	  IP_EVENT_BAD_INVALID_FIELD, "NUL" },
	{ "{\"ip\":\"10.0.0\",\"event\":\"assign\"," TS ",\"pod\":\"p\"}", NULL, IP_EVENT_BAD_IP,
	  "10.0.0" },
	{ "{\"ip\":\"10.0.0.256\",\"event\":\"assign\"," TS ",\"pod\":\"p\"}", NULL,
	  IP_EVENT_BAD_IP, "not an address" },
	{ "{\"ip\":\"fe80::1%eth0\",\"event\":\"assign\"," TS ",\"pod\":\"p\"}", NULL,
	  IP_EVENT_BAD_IP, "not an address" },
	{ "{\"ip\":\"\",\"event\":\"assign\"," TS ",\"pod\":\"p\"}", NULL, IP_EVENT_BAD_IP,
	  "not an address" },
	{ "{\"ip\":\"10.0.0.1/32\",\"event\":\"assign\"," TS ",\"pod\":\"p\"}", NULL,
	  IP_EVENT_BAD_IP, "not an address" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"assign\",\"ts_ms\":946684799999,\"pod\":\"p\"}", NULL,
	  IP_EVENT_BAD_TS, "946684799999" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"assign\",\"ts_ms\":-1,\"pod\":\"p\"}", NULL,
	  IP_EVENT_BAD_TS, "-1" },
	/* NOW + 1 h + 1 ms */
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"assign\",\"ts_ms\":1732703600001,\"pod\":\"p\"}", NULL,
	  IP_EVENT_BAD_TS, "after now + 1 h" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"assign\"," TS ",\"pod\":\"p\"}", "10.0.0.2",
	  IP_EVENT_BAD_KEY, "10.0.0.2" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"assign\"," TS ",\"pod\":\"p\"}", "acct-17",
	  IP_EVENT_BAD_KEY, "acct-17" },
	/* what the detail quotes stays on one line (found by tests/fuzz/fuzz_ip_event.c) */
	{ "{\"ip\":\"10.0.0.1\\n\",\"event\":\"assign\"," TS ",\"pod\":\"p\"}", NULL,
	  IP_EVENT_BAD_IP, "not an address: \"10.0.0.1?\"" },
	{ "{\"ip\":\"10.0.0.1\",\"event\":\"assign\"," TS ",\"pod\":\"p\"}", "a\nb",
	  IP_EVENT_BAD_KEY, "key \"a?b\"" },
};

static void test_event_rejections(void **state)
{
	struct report_fault f = {
		.fault = "IP event not JSON, missing or bad field, bad IP, time or key",
		.unit = "events",
		.counted_as = "refused by reason (kafka messages_total{result=<reason>})",
	};
	struct ip_event ev;
	char detail[160];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_events) / sizeof(bad_events[0]); i++) {
		const struct bad_case *c = &bad_events[i];
		enum ip_event_bad got = event(c->json, c->key, &ev, detail);

		if (got != c->want || !strstr(detail, c->detail))
			fail_msg("case %zu %s: expected %s (\"%s\"), got %s (\"%s\")", i, c->json,
				 ip_event_bad_name(c->want), c->detail, ip_event_bad_name(got),
				 detail);
		f.injected++;
		f.counted += got != IP_EVENT_OK;
	}
	report("test_event_rejections", &f);
}

/* Exactly at the bounds is accepted; a string of 253 bytes too, 254 not. */
static void test_event_limits(void **state)
{
	char json[1024], name[300], detail[160];
	struct ip_event ev;

	(void)state;
	assert_int_equal(IP_EVENT_OK,
			 event("{\"ip\":\"10.0.0.1\",\"event\":\"assign\",\"ts_ms\":946684800000,"
			       "\"pod\":\"p\"}",
			       NULL, &ev, detail));
	assert_int_equal(IP_EVENT_OK,
			 event("{\"ip\":\"10.0.0.1\",\"event\":\"assign\",\"ts_ms\":1732703600000,"
			       "\"pod\":\"p\"}",
			       NULL, &ev, detail));
	memset(name, 'a', IP_EVENT_STRING_MAX);
	name[IP_EVENT_STRING_MAX] = '\0';
	snprintf(json, sizeof(json),
		 "{\"ip\":\"10.0.0.1\",\"event\":\"assign\"," TS ",\"pod\":\"%s\"}", name);
	assert_int_equal(IP_EVENT_OK, event(json, NULL, &ev, detail));
	assert_int_equal(IP_EVENT_STRING_MAX, strlen(ev.id.pod));
	strcat(name, "a");
	snprintf(json, sizeof(json),
		 "{\"ip\":\"10.0.0.1\",\"event\":\"assign\"," TS ",\"pod\":\"%s\"}", name);
	assert_int_equal(IP_EVENT_BAD_INVALID_FIELD, event(json, NULL, &ev, detail));
	assert_non_null(strstr(detail, "longer than 253"));
	/* a NULL detail buffer is allowed */
	assert_int_equal(IP_EVENT_BAD_NOT_JSON, ip_event_parse("x", 1, NULL, 0, NOW, &ev, NULL, 0));
	assert_int_equal(IP_EVENT_BAD_NOT_JSON,
			 ip_event_parse(NULL, 0, NULL, 0, NOW, &ev, NULL, 0));
}

static void test_span_valid(void **state)
{
	struct ip_event_span sp;
	char detail[160];

	(void)state;
	assert_int_equal(
	    IP_EVENT_OK,
	    span("{\"ip\":\"2001:db8::1\",\"from_ms\":1732699990000,\"to_ms\":"
		 "1732699995000,\"app\":\"web\",\"namespace\":\"shop\",\"pod\":\"web-1\","
		 "\"workload\":\"web\",\"node\":\"n2\",\"origin\":\"collector-0\"}",
		 "2001:db8::1", &sp, detail));
	assert_memory_equal(ip6, sp.ip, 16);
	assert_int_equal(1732699990000LL, sp.from_ms);
	assert_int_equal(1732699995000LL, sp.to_ms);
	assert_string_equal("web", sp.id.app);
	assert_string_equal("shop", sp.id.namespace);
	assert_string_equal("web-1", sp.id.pod);
	assert_string_equal("web", sp.id.workload);
	assert_string_equal("n2", sp.id.node);
	assert_string_equal("", sp.id.account);
	assert_string_equal("", sp.id.region);
	assert_string_equal("", sp.id.zone);
	assert_string_equal("collector-0", sp.origin);
}

#define SPAN_TS "\"from_ms\":1732699990000,\"to_ms\":1732699995000"

static const struct bad_case bad_spans[] = {
	{ "", NULL, IP_EVENT_BAD_NOT_JSON, "empty" },
	{ "{", NULL, IP_EVENT_BAD_NOT_JSON, "not JSON" },
	{ "\"x\"", NULL, IP_EVENT_BAD_NOT_JSON, "not a JSON object" },
	{ "{" SPAN_TS ",\"pod\":\"p\",\"origin\":\"o\"}", NULL, IP_EVENT_BAD_MISSING_FIELD,
	  "\"ip\"" },
	{ "{\"ip\":\"10.0.0.1\",\"to_ms\":1732699995000,\"pod\":\"p\",\"origin\":\"o\"}", NULL,
	  IP_EVENT_BAD_MISSING_FIELD, "\"from_ms\"" },
	{ "{\"ip\":\"10.0.0.1\",\"from_ms\":1732699990000,\"pod\":\"p\",\"origin\":\"o\"}", NULL,
	  IP_EVENT_BAD_MISSING_FIELD, "\"to_ms\"" },
	{ "{\"ip\":\"10.0.0.1\"," SPAN_TS ",\"pod\":\"p\"}", NULL, IP_EVENT_BAD_MISSING_FIELD,
	  "\"origin\"" },
	{ "{\"ip\":\"10.0.0.1\"," SPAN_TS ",\"origin\":\"o\"}", NULL, IP_EVENT_BAD_MISSING_FIELD,
	  "identity" },
	{ "{\"ip\":\"10.0.0.1\"," SPAN_TS ",\"pod\":\"p\",\"origin\":\"\"}", NULL,
	  IP_EVENT_BAD_INVALID_FIELD, "\"origin\" is empty" },
	{ "{\"ip\":\"10.0.0.1\"," SPAN_TS ",\"pod\":\"p\",\"origin\":3}", NULL,
	  IP_EVENT_BAD_INVALID_FIELD, "\"origin\" is not a string" },
	{ "{\"ip\":\"10.0.0.1\",\"from_ms\":\"1\",\"to_ms\":1732699995000,\"pod\":\"p\","
	  "\"origin\":\"o\"}",
	  NULL, IP_EVENT_BAD_INVALID_FIELD, "\"from_ms\" is not an integer" },
	{ "{\"ip\":\"10.0.0.1\"," SPAN_TS ",\"node\":[],\"origin\":\"o\"}", NULL,
	  IP_EVENT_BAD_INVALID_FIELD, "\"node\"" },
	{ "{\"ip\":\"300.0.0.1\"," SPAN_TS ",\"pod\":\"p\",\"origin\":\"o\"}", NULL,
	  IP_EVENT_BAD_IP, "300.0.0.1" },
	{ "{\"ip\":\"10.0.0.1\",\"from_ms\":1732699995000,\"to_ms\":1732699995000,\"pod\":\"p\","
	  "\"origin\":\"o\"}",
	  NULL, IP_EVENT_BAD_TS, "not before" },
	{ "{\"ip\":\"10.0.0.1\",\"from_ms\":1732699996000,\"to_ms\":1732699995000,\"pod\":\"p\","
	  "\"origin\":\"o\"}",
	  NULL, IP_EVENT_BAD_TS, "not before" },
	{ "{\"ip\":\"10.0.0.1\",\"from_ms\":0,\"to_ms\":1732699995000,\"pod\":\"p\","
	  "\"origin\":\"o\"}",
	  NULL, IP_EVENT_BAD_TS, "\"from_ms\"" },
	{ "{\"ip\":\"10.0.0.1\",\"from_ms\":1732699990000,\"to_ms\":9223372036854775807,"
	  "\"pod\":\"p\",\"origin\":\"o\"}",
	  NULL, IP_EVENT_BAD_TS, "\"to_ms\"" },
	{ "{\"ip\":\"10.0.0.1\"," SPAN_TS ",\"pod\":\"p\",\"origin\":\"o\"}", "10.0.0.9",
	  IP_EVENT_BAD_KEY, "10.0.0.9" },
};

static void test_span_rejections(void **state)
{
	struct report_fault f = {
		.fault = "shared range not JSON, missing or bad field, bad IP, times or key",
		.unit = "ranges",
		.counted_as = "refused by reason (kafka messages_total{result=<reason>})",
	};
	struct ip_event_span sp;
	char detail[160];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_spans) / sizeof(bad_spans[0]); i++) {
		const struct bad_case *c = &bad_spans[i];
		enum ip_event_bad got = span(c->json, c->key, &sp, detail);

		if (got != c->want || !strstr(detail, c->detail))
			fail_msg("case %zu %s: expected %s (\"%s\"), got %s (\"%s\")", i, c->json,
				 ip_event_bad_name(c->want), c->detail, ip_event_bad_name(got),
				 detail);
		f.injected++;
		f.counted += got != IP_EVENT_OK;
	}
	report("test_span_rejections", &f);
}

/* encode -> the exact bytes -> parse: the same span back */
static void round_trip(const uint8_t ip[16], const struct flow_identity *id, const char *want_json)
{
	struct jsonw *jw = jsonw__new();
	char text[IP_TEXT_MAX], json[2048], detail[160];
	struct ip_event_span sp;
	const char *data;
	size_t len;

	assert_non_null(jw);
	assert_int_equal(
	    0, ip_event_encode_span(jw, ip, id, 1732699990000LL, 1732699995000LL, "replica-b"));
	data = jsonw__data(jw, &len);
	assert_true(len < sizeof(json));
	memcpy(json, data, len);
	json[len] = '\0';
	assert_string_equal(want_json, json);
	ip_format(ip, text, sizeof(text));
	assert_int_equal(IP_EVENT_OK, ip_event_parse_span(data, len, text, strlen(text), NOW, &sp,
							  detail, sizeof(detail)));
	assert_memory_equal(ip, sp.ip, 16);
	assert_int_equal(1732699990000LL, sp.from_ms);
	assert_int_equal(1732699995000LL, sp.to_ms);
	assert_string_equal("replica-b", sp.origin);
	assert_string_equal(id->app ? id->app : "", sp.id.app);
	assert_string_equal(id->namespace ? id->namespace : "", sp.id.namespace);
	assert_string_equal(id->pod ? id->pod : "", sp.id.pod);
	assert_string_equal(id->workload ? id->workload : "", sp.id.workload);
	assert_string_equal(id->node ? id->node : "", sp.id.node);
	assert_string_equal(id->account ? id->account : "", sp.id.account);
	assert_string_equal(id->region ? id->region : "", sp.id.region);
	assert_string_equal(id->zone ? id->zone : "", sp.id.zone);
	jsonw__free(jw);
}

static void test_span_round_trip(void **state)
{
	struct flow_identity full = { .app = "web",
				      .namespace = "shop",
				      .pod = "web-1",
				      .workload = "web",
				      .node = "n2",
				      .account = "1234",
				      .region = "r1",
				      .zone = "z\"1" };
	struct flow_identity some = { .pod = "db-0", .namespace = "", .zone = "b" };

	(void)state;
	round_trip(ip4, &full,
		   "{\"ip\":\"10.1.2.3\",\"from_ms\":1732699990000,\"to_ms\":1732699995000,"
		   "\"app\":\"web\",\"namespace\":\"shop\",\"pod\":\"web-1\",\"workload\":\"web\","
		   "\"node\":\"n2\",\"account\":\"1234\",\"region\":\"r1\",\"zone\":\"z\\\"1\","
		   "\"origin\":\"replica-b\"}");
	round_trip(ip6, &some,
		   "{\"ip\":\"2001:db8::1\",\"from_ms\":1732699990000,\"to_ms\":1732699995000,"
		   "\"pod\":\"db-0\",\"zone\":\"b\",\"origin\":\"replica-b\"}");
}

static void test_span_encode_rejections(void **state)
{
	struct flow_identity id = { .pod = "p" }, none = { 0 };
	struct jsonw *jw = jsonw__new();
	char longname[IP_EVENT_STRING_MAX + 2];
	struct report_fault f = {
		.fault = "a range to publish with a bad span, no identity, no origin, a long name",
		.unit = "ranges",
		.counted_as = "-EINVAL, nothing written",
	};
	size_t len;

#define REFUSED(call)                           \
	do {                                    \
		int rc_ = (call);               \
                                                \
		f.injected++;                   \
		f.counted += rc_ < 0;           \
		assert_int_equal(-EINVAL, rc_); \
	} while (0)
	(void)state;
	assert_non_null(jw);
	REFUSED(ip_event_encode_span(jw, ip4, &id, 5, 5, "o"));
	REFUSED(ip_event_encode_span(jw, ip4, &id, 6, 5, "o"));
	REFUSED(ip_event_encode_span(jw, ip4, &id, -1, 5, "o"));
	REFUSED(ip_event_encode_span(jw, ip4, &none, 1, 5, "o"));
	REFUSED(ip_event_encode_span(jw, ip4, &id, 1, 5, ""));
	REFUSED(ip_event_encode_span(jw, ip4, &id, 1, 5, NULL));
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	id.app = longname;
	REFUSED(ip_event_encode_span(jw, ip4, &id, 1, 5, "o"));
	/* nothing written by a refused call */
	jsonw__data(jw, &len);
	assert_int_equal(0, len);
	jsonw__free(jw);
#undef REFUSED
	report("test_span_encode_rejections", &f);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal("not_json", ip_event_bad_name(IP_EVENT_BAD_NOT_JSON));
	assert_string_equal("missing_field", ip_event_bad_name(IP_EVENT_BAD_MISSING_FIELD));
	assert_string_equal("invalid_field", ip_event_bad_name(IP_EVENT_BAD_INVALID_FIELD));
	assert_string_equal("bad_ip", ip_event_bad_name(IP_EVENT_BAD_IP));
	assert_string_equal("ts_range", ip_event_bad_name(IP_EVENT_BAD_TS));
	assert_string_equal("key_mismatch", ip_event_bad_name(IP_EVENT_BAD_KEY));
	assert_string_equal("?", ip_event_bad_name(IP_EVENT_BAD__COUNT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_assign_v4_all_fields),
		cmocka_unit_test(test_event_unassign_v6_whoever),
		cmocka_unit_test(test_event_rejections),
		cmocka_unit_test(test_event_limits),
		cmocka_unit_test(test_span_valid),
		cmocka_unit_test(test_span_rejections),
		cmocka_unit_test(test_span_round_trip),
		cmocka_unit_test(test_span_encode_rejections),
		cmocka_unit_test(test_names),
	};

	log_init("test_ip_event", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
