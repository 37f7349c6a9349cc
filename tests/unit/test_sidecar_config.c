// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for the sidecar's configuration checks: the udp:// output and the ipfix.* keys. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "ipfix.h"
#include "sidecar_config.h"

static int udp(const char *output, char *host, uint16_t *port, char *why)
{
	return sidecar_udp_output(output, host, SIDECAR_HOST_MAX, port, why, 256);
}

static void test_udp_output_accepted(void **state)
{
	static const struct {
		const char *output, *host;
		uint16_t port;
	} ok[] = {
		{ "udp://127.0.0.1:4739", "127.0.0.1", 4739 },
		{ "udp://[::1]:4739", "::1", 4739 },
		{ "udp://[fd00::7]:1", "fd00::7", 1 },
		{ "udp://podflow-collector.podflow.svc:65535", "podflow-collector.podflow.svc",
		  65535 },
		{ "udp://localhost:2055", "localhost", 2055 },
	};
	char host[SIDECAR_HOST_MAX], why[256];
	uint16_t port;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(udp(ok[i].output, host, &port, why), 1);
		assert_string_equal(host, ok[i].host);
		assert_int_equal(port, ok[i].port);
	}
	/* other outputs are not udp:// and not refused here */
	assert_int_equal(udp("-", host, &port, why), 0);
	assert_int_equal(udp("http://127.0.0.1:7070", host, &port, why), 0);
	assert_int_equal(udp("/var/log/flows.jsonl", host, &port, why), 0);
}

static void test_udp_output_refused(void **state)
{
	static const struct {
		const char *output, *why;
	} bad[] = {
		{ "udp://", "expected udp://HOST:PORT" },
		{ "udp://127.0.0.1", "expected udp://HOST:PORT" },
		{ "udp://:4739", "expected udp://HOST:PORT" },
		{ "udp://127.0.0.1:0", "the port must be 1 to 65535" },
		{ "udp://127.0.0.1:65536", "the port must be 1 to 65535" },
		{ "udp://127.0.0.1:47x9", "the port must be 1 to 65535" },
		{ "udp://127.0.0.1:", "the port must be 1 to 65535" },
		{ "udp://127.0.0.1:-1", "the port must be 1 to 65535" },
		{ "udp://::1:4739", "an IPv6 address goes in brackets" },
		{ "udp://[::1]4739", "expected udp://[IPV6]:PORT" },
		{ "udp://[::1:4739", "expected udp://[IPV6]:PORT" },
		{ "udp://[]:4739", "no IPv6 address in the brackets" },
		{ "udp://[10.0.0.1]:4739", "is not an IPv6 address" },
		{ "udp://host/path:4739", "no user, no path" },
		{ "udp://user@host:4739", "no user, no path" },
	};
	char host[SIDECAR_HOST_MAX], why[256];
	uint16_t port;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(udp(bad[i].output, host, &port, why), -EINVAL);
		if (!strstr(why, bad[i].why) || !strstr(why, bad[i].output))
			fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].output, why, bad[i].why);
	}
}

static void test_octets(void **state)
{
	enum ipfix_octets o;

	(void)state;
	assert_int_equal(sidecar_ipfix_octets("transport", &o), 0);
	assert_int_equal(o, IPFIX_OCTETS_TRANSPORT);
	assert_int_equal(sidecar_ipfix_octets("ip", &o), 0);
	assert_int_equal(o, IPFIX_OCTETS_IP);
	assert_int_equal(sidecar_ipfix_octets("IP", &o), -EINVAL);
	assert_int_equal(sidecar_ipfix_octets("", &o), -EINVAL);
	assert_int_equal(sidecar_ipfix_octets(NULL, &o), -EINVAL);
}

/* The defaults with `key` set to `value` (through the table, as a flag would), validated. */
static int validate_with(const char *key, const char *value, const char *key2, const char *value2,
			 char *why)
{
	struct sidecar_config c;
	int err;

	assert_int_equal(config_copy(&sidecar_config_schema, &c, sidecar_config_schema.defaults),
			 0);
	err = config_set(&sidecar_config_schema, &c, key, value, why, 256);
	if (!err && key2)
		err = config_set(&sidecar_config_schema, &c, key2, value2, why, 256);
	if (!err)
		err = sidecar_config_validate(&c, why, 256);
	config_free(&sidecar_config_schema, &c);
	return err;
}

static void test_validate(void **state)
{
	const struct sidecar_config *d = sidecar_config_schema.defaults;
	char why[256];

	(void)state;
	/* the defaults, and why they are what they are (docs/ipfix.md "The exporter") */
	assert_int_equal(d->ipfix_max_message, IPFIX_DEFAULT_MAX_MESSAGE);
	assert_int_equal(d->ipfix_pen, IPFIX_DEFAULT_PEN);
	assert_string_equal(d->ipfix_octets, "transport");
	assert_true(d->ipfix_max_burst >= d->ipfix_max_message);
	assert_true(d->ipfix_max_queue >= d->ipfix_max_message);
	assert_int_equal(validate_with("output", "udp://[::1]:4739", NULL, NULL, why), 0);
	assert_int_equal(validate_with("ipfix.octets", "ip", NULL, NULL, why), 0);

	assert_int_equal(validate_with("output", "udp://[::1]4739", NULL, NULL, why), -EINVAL);
	assert_non_null(strstr(why, "output: udp://[::1]4739"));
	assert_int_equal(validate_with("ipfix.octets", "payload", NULL, NULL, why), -EINVAL);
	assert_string_equal(why, "ipfix.octets: expected transport or ip, got payload");
	assert_int_equal(validate_with("ipfix.pen", "29305", NULL, NULL, why), -EINVAL);
	assert_non_null(strstr(why, "ipfix.pen: 29305 is RFC 5103's"));
	/* a message the burst could never let through, or the queue never hold */
	assert_int_equal(validate_with("ipfix.max_message", "9000", NULL, NULL, why), 0);
	assert_int_equal(validate_with("ipfix.max_message", "9000", "ipfix.max_burst", "8KiB", why),
			 -EINVAL);
	assert_non_null(strstr(why, "ipfix.max_burst: 8192 bytes is less than ipfix.max_message"));
	assert_int_equal(validate_with("ipfix.max_message", "9000", "ipfix.max_queue", "8KiB", why),
			 -EINVAL);
	assert_non_null(strstr(why, "ipfix.max_queue: 8192 bytes is less than ipfix.max_message"));
	assert_int_equal(validate_with("ipfix.max_message", "1500", "ipfix.max_burst", "1KiB", why),
			 -EINVAL);
	/* the table's own ranges */
	assert_int_equal(validate_with("ipfix.max_message", "511", NULL, NULL, why), -EINVAL);
	assert_int_equal(validate_with("ipfix.max_message", "65536", NULL, NULL, why), -EINVAL);
	assert_int_equal(validate_with("ipfix.pen", "0", NULL, NULL, why), -EINVAL);
	assert_int_equal(validate_with("ipfix.max_rate", "0", NULL, NULL, why), -EINVAL);
	assert_int_equal(validate_with("ipfix.template_interval", "500ms", NULL, NULL, why),
			 -EINVAL);
	assert_int_equal(validate_with("ipfix.octets", "", NULL, NULL, why), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_output_accepted),
		cmocka_unit_test(test_udp_output_refused),
		cmocka_unit_test(test_octets),
		cmocka_unit_test(test_validate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
