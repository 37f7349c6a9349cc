// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for the heartbeat's pod IPs: Downward API env parsing and fallback. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../sidecar/podips.h"

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
	uint8_t out[4][16];
	char why[128];

	(void)state;
	env_ips = "10.1.2.3, fd00::1,10.1.2.3";
	env_ip = "192.168.0.9";
	/* POD_IPS wins over POD_IP; duplicates fold */
	assert_int_equal(pod_ips(fake_getenv, out, 4, why, sizeof(why)), 2);
	assert_memory_equal(out[0], v4_10_1_2_3, 16);
	assert_memory_equal(out[1], v6_fd00_1, 16);
	/* bounded by max */
	assert_int_equal(pod_ips(fake_getenv, out, 1, why, sizeof(why)), 1);
}

static void test_pod_ip_single(void **state)
{
	uint8_t out[4][16];
	char why[128];

	(void)state;
	env_ips = "";
	env_ip = "10.1.2.3";
	assert_int_equal(pod_ips(fake_getenv, out, 4, why, sizeof(why)), 1);
	assert_memory_equal(out[0], v4_10_1_2_3, 16);
}

static void test_pod_ips_invalid(void **state)
{
	uint8_t out[4][16];
	char why[128];

	(void)state;
	env_ips = "10.1.2.3,not-an-ip";
	env_ip = NULL;
	assert_int_equal(pod_ips(fake_getenv, out, 4, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "\"not-an-ip\""));
	env_ips = "10.1.2.3,,fd00::1";
	assert_int_equal(pod_ips(fake_getenv, out, 4, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "empty"));
}

static void test_parse(void **state)
{
	uint8_t ip[16];

	(void)state;
	assert_int_equal(pod_ip_parse("10.1.2.3", ip), 0);
	assert_memory_equal(ip, v4_10_1_2_3, 16);
	assert_int_equal(pod_ip_parse("fd00::1", ip), 0);
	assert_memory_equal(ip, v6_fd00_1, 16);
	assert_int_equal(pod_ip_parse("10.1.2", ip), -EINVAL);
	assert_int_equal(pod_ip_parse("", ip), -EINVAL);
}

static void test_fallback_interfaces(void **state)
{
	uint8_t out[64][16];
	char why[128];
	int n;

	(void)state;
	env_ips = NULL;
	env_ip = NULL;
	/* the machine's own addresses: never loopback, never IPv6 link-local */
	n = pod_ips(fake_getenv, out, 64, why, sizeof(why));
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
		cmocka_unit_test(test_pod_ips_list),	    cmocka_unit_test(test_pod_ip_single),
		cmocka_unit_test(test_pod_ips_invalid),	    cmocka_unit_test(test_parse),
		cmocka_unit_test(test_fallback_interfaces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
