// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/kafka_sink: the message (value and key), refused options. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kafka_sink.h"
#include "flow.h"
#include "jsonw.h"
#include "log.h"

/* app, namespace, pod, node, workload (flow.h's order) */
#define IDENT(a, ns, p, n, w)                                                           \
	{                                                                               \
		.app = (a), .namespace = (ns), .pod = (p), .node = (n), .workload = (w) \
	}

static const struct flow_identity web = IDENT("web", "shop", "web-1", "node-1", "web");
static const struct flow_identity no_app = IDENT("", "batch", "cron-1", "node-2", "");
static const struct flow_identity null_app = IDENT(NULL, "batch", "cron-2", "node-2", NULL);

static void record(struct flow_record *r, const struct flow_identity *local)
{
	memset(r, 0, sizeof(*r));
	r->start_ms = 1732700000000ull;
	r->end_ms = 1732700005000ull;
	r->bytes_sent = 4096;
	r->flows = 1;
	r->family = 4;
	r->direction = FLOW_DIRECTION_OUT;
	r->local_addr[10] = r->local_addr[11] = 0xff;
	r->local_addr[12] = 10;
	r->remote_addr[10] = r->remote_addr[11] = 0xff;
	r->remote_addr[12] = 10;
	r->remote_addr[15] = 9;
	r->remote_port = 443;
	memcpy(r->comm, "curl", 4);
	r->local = local;
}

/* The value is flow_record_json's output exactly, appended; the key the local app. */
static void test_encode_value_and_key(void **state)
{
	struct jsonw *jw = jsonw__new(), *want = jsonw__new();
	const char *key, *a, *b;
	struct flow_record r;
	size_t key_len = 99, la, lb, first;

	(void)state;
	assert_non_null(jw);
	assert_non_null(want);
	record(&r, &web);
	key = kafka_sink_encode(&r, jw, &key_len);
	assert_non_null(key);
	assert_int_equal(3, key_len);
	assert_memory_equal("web", key, 3);
	flow_record_json(&r, want);
	a = jsonw__data(jw, &la);
	b = jsonw__data(want, &lb);
	assert_int_equal(lb, la);
	assert_memory_equal(b, a, la);
	assert_non_null(memmem(a, la, "\"local_app\":\"web\"", 17));
	assert_null(memchr(a, '\n', la)); /* one object, no newline */
	assert_int_equal('{', a[0]);
	assert_int_equal('}', a[la - 1]);

	/* appended: a second record follows the first, byte for byte */
	first = la;
	record(&r, &no_app);
	key = kafka_sink_encode(&r, jw, &key_len);
	jsonw__reset(want);
	flow_record_json(&r, want);
	a = jsonw__data(jw, &la);
	b = jsonw__data(want, &lb);
	assert_null(key);
	assert_int_equal(first + lb, la);
	assert_memory_equal(b, a + first, lb);
	jsonw__free(jw);
	jsonw__free(want);
}

/* No app ("", NULL, no local identity at all): no key, so librdkafka spreads them. */
static void test_no_app_no_key(void **state)
{
	const struct flow_identity *locals[] = { &no_app, &null_app, NULL };
	struct jsonw *jw = jsonw__new();
	struct flow_record r;
	size_t key_len;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		record(&r, locals[i]);
		key_len = 99;
		assert_null(kafka_sink_encode(&r, jw, &key_len));
		assert_int_equal(0, key_len);
	}
	jsonw__free(jw);
}

/* Options refused before any librdkafka handle exists: no thread, no connection. */
static void test_refused_options(void **state)
{
	static const char *const bound[] = { "queue.buffering.max.messages", "5", NULL };
	static const char *const kbytes[] = { "producer.queue.buffering.max.kbytes", "5", NULL };
	static const char *const dr[] = { "delivery.report.only.error", "true", NULL };
	static const char *const no_value[] = { "linger.ms", NULL };
	static const char *const unknown[] = { "no.such.property", "1", NULL };
	static const char *const bad_codec[] = { "compression.codec", "brotli", NULL };
	static const struct {
		const char *brokers, *compression;
		const char *const *props;
		const char *needle;
	} cases[] = {
		{ NULL, NULL, NULL, "no brokers" },
		{ "", NULL, NULL, "no brokers" },
		{ "127.0.0.1:9", "brotli", NULL, "compression \"brotli\"" },
		{ "127.0.0.1:9", "", NULL, "compression \"\"" },
		{ "127.0.0.1:9", NULL, bound, "queue.buffering.max.messages: set by the sink" },
		{ "127.0.0.1:9", NULL, kbytes, "queue.buffering.max.kbytes: set by the sink" },
		{ "127.0.0.1:9", NULL, dr, "delivery.report.only.error: set by the sink" },
		{ "127.0.0.1:9", NULL, no_value, "linger.ms: no value" },
		{ "127.0.0.1:9", NULL, unknown, "no.such.property" },
		{ "127.0.0.1:9", NULL, bad_codec, "compression.codec" },
	};
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kafka_sink_opts o = {
			.brokers = cases[i].brokers,
			.compression = cases[i].compression,
			.props = cases[i].props,
		};

		why[0] = '\0';
		errno = 0;
		assert_null(kafka_sink__new(&o, why, sizeof(why)));
		assert_int_equal(EINVAL, errno);
		if (!strstr(why, cases[i].needle))
			fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].needle, why);
	}
	kafka_sink__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_value_and_key),
		cmocka_unit_test(test_no_app_no_key),
		cmocka_unit_test(test_refused_options),
	};

	log_init("test_kafka_sink", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
