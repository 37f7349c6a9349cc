// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for the heartbeat's pod IPs: Downward API env parsing and fallback. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "podips.h"

static const char *env_ips, *env_ip;

static char *fake_getenv(const char *name)
{
	if (strcmp(name, "POD_IPS") == 0)
		return (char *)env_ips;
	if (strcmp(name, "POD_IP") == 0)
		return (char *)env_ip;
	return NULL;
}

static const uint8_t v4_10_1_2_3[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3 };
static const uint8_t v6_fd00_1[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };

static void test_pod_ips_list(void **state)
{
	struct pod_ips_dropped dropped;
	uint8_t out[4][16];
	char why[256];

	(void)state;
	env_ips = "10.1.2.3, fd00::1,10.1.2.3";
	env_ip = "192.168.0.9";
	/* POD_IPS wins over POD_IP; duplicates fold */
	assert_int_equal(pod_ips(fake_getenv, out, 4, &dropped, why, sizeof(why)), 2);
	assert_memory_equal(out[0], v4_10_1_2_3, 16);
	assert_memory_equal(out[1], v6_fd00_1, 16);
	assert_string_equal(why, "");
	assert_int_equal(dropped.over_limit, 0);
	assert_int_equal(dropped.malformed, 0);
	/* bounded by max, and said */
	assert_int_equal(pod_ips(fake_getenv, out, 1, &dropped, why, sizeof(why)), 1);
	assert_memory_equal(out[0], v4_10_1_2_3, 16);
	assert_int_equal(dropped.over_limit, 1);
	assert_string_equal(why,
			    "POD_IPS: 2 addresses, but a heartbeat carries at most 1: the last "
			    "1 are not claimed");
}

/* More than a heartbeat carries: the first 64 distinct ones, the rest counted and named. */
static void test_pod_ips_over_limit(void **state)
{
	struct pod_ips_dropped dropped;
	uint8_t out[64][16];
	char list[2048], why[256];
	size_t o = 0;

	(void)state;
	/* 70 distinct addresses, and 3 repeats (folded, not counted as dropped) */
	for (int i = 1; i <= 70; i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s10.98.0.%d", i > 1 ? "," : "",
				      i);
	snprintf(list + o, sizeof(list) - o, ",10.98.0.1,10.98.0.70, 10.98.0.65");
	env_ips = list;
	env_ip = NULL;
	assert_int_equal(pod_ips(fake_getenv, out, 64, &dropped, why, sizeof(why)), 64);
	assert_int_equal(dropped.over_limit, 6);
	assert_int_equal(dropped.malformed, 0);
	assert_int_equal(out[0][15], 1);
	assert_int_equal(out[63][15], 64);
	assert_string_equal(why, "POD_IPS: 70 addresses, but a heartbeat carries at most 64: the "
				 "last 6 are not claimed");
	/* exactly 64: nothing to say */
	env_ips = strstr(list, ",10.98.0.65,");
	list[env_ips - list] = '\0';
	env_ips = list;
	assert_int_equal(pod_ips(fake_getenv, out, 64, &dropped, why, sizeof(why)), 64);
	assert_int_equal(dropped.over_limit, 0);
	assert_string_equal(why, "");
}

static void test_pod_ip_single(void **state)
{
	struct pod_ips_dropped dropped;
	uint8_t out[4][16];
	char why[256];

	(void)state;
	env_ips = "";
	env_ip = "10.1.2.3";
	assert_int_equal(pod_ips(fake_getenv, out, 4, &dropped, why, sizeof(why)), 1);
	assert_memory_equal(out[0], v4_10_1_2_3, 16);
}

static void test_pod_ips_invalid(void **state)
{
	struct pod_ips_dropped dropped;
	uint8_t out[4][16];
	char why[256];

	(void)state;
	/* one bad entry: the whole variable is ignored, every entry counted */
	env_ips = "10.1.2.3,not-an-ip";
	env_ip = "10.9.9.9"; /* not a fallback for a POD_IPS that is wrong */
	assert_int_equal(pod_ips(fake_getenv, out, 4, &dropped, why, sizeof(why)), -EINVAL);
	assert_int_equal(dropped.malformed, 2);
	assert_int_equal(dropped.over_limit, 0);
	assert_string_equal(why, "POD_IPS: entry 2 of 2, \"not-an-ip\", is not an IP address: the "
				 "variable is ignored, heartbeats claim no address");
	env_ips = "10.1.2.3,,fd00::1";
	assert_int_equal(pod_ips(fake_getenv, out, 4, &dropped, why, sizeof(why)), -EINVAL);
	assert_int_equal(dropped.malformed, 3);
	assert_string_equal(why, "POD_IPS: entry 2 of 3 is empty: the variable is ignored, "
				 "heartbeats claim no address");
	/* POD_IP is named as itself; a control byte does not break the line */
	env_ips = NULL;
	env_ip = "10.1.2.3\n";
	assert_int_equal(pod_ips(fake_getenv, out, 4, &dropped, why, sizeof(why)), -EINVAL);
	assert_int_equal(dropped.malformed, 1);
	assert_string_equal(why, "POD_IP: entry 1 of 1, \"10.1.2.3?\", is not an IP address: the "
				 "variable is ignored, heartbeats claim no address");
	/* a trailing comma is no entry */
	env_ips = "10.1.2.3,";
	assert_int_equal(pod_ips(fake_getenv, out, 4, &dropped, why, sizeof(why)), 1);
	assert_string_equal(why, "");
}

static void test_fallback_interfaces(void **state)
{
	struct pod_ips_dropped dropped;
	uint8_t out[64][16];
	char why[256];
	int n;

	(void)state;
	env_ips = NULL;
	env_ip = NULL;
	/* the machine's own addresses: never loopback, never IPv6 link-local */
	n = pod_ips(fake_getenv, out, 64, &dropped, why, sizeof(why));
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		static const uint8_t v6_loop[16] = { [15] = 1 };

		assert_false(out[i][10] == 0xff && out[i][11] == 0xff && out[i][12] == 127);
		assert_false(memcmp(out[i], v6_loop, 16) == 0);
		assert_false(out[i][0] == 0xfe && (out[i][1] & 0xc0) == 0x80);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pod_ips_list),
		cmocka_unit_test(test_pod_ip_single),
		cmocka_unit_test(test_pod_ips_invalid),
		cmocka_unit_test(test_fallback_interfaces),
		cmocka_unit_test(test_pod_ips_over_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
