// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for lib/ip: text in and out, socket addresses, loopback, CIDR prefixes. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ip.h"

static const uint8_t ip4[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3 };
static const uint8_t ip6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

static void test_parse_and_format(void **state)
{
	char buf[IP_TEXT_MAX];
	uint8_t ip[16];

	(void)state;
	assert_int_equal(0, ip_parse("10.1.2.3", 8, ip));
	assert_memory_equal(ip4, ip, 16);
	assert_string_equal("10.1.2.3", ip_format(ip, buf, sizeof(buf)));
	assert_int_equal(0, ip_parse("2001:DB8:0::1", 13, ip));
	assert_memory_equal(ip6, ip, 16);
	assert_string_equal("2001:db8::1", ip_format(ip, buf, sizeof(buf)));
	/* the v4-mapped text is the IPv4 address */
	assert_int_equal(0, ip_parse_str("::ffff:10.1.2.3", ip));
	assert_memory_equal(ip4, ip, 16);
	assert_string_equal("10.1.2.3", ip_format(ip, buf, sizeof(buf)));
	/* the length bounds the text: "10.1.2.3" cut to "10.1.2." is not an address */
	memset(ip, 0xaa, sizeof(ip));
	assert_int_equal(-EINVAL, ip_parse("10.1.2.3", 7, ip));
	assert_int_equal(0xaa, ip[0]); /* untouched when refused */
	assert_int_equal(-EINVAL, ip_parse("10.1.2.3\0", 9, ip));
	assert_int_equal(-EINVAL, ip_parse("", 0, ip));
	assert_int_equal(-EINVAL, ip_parse(NULL, 3, ip));
	assert_int_equal(-EINVAL, ip_parse_str(NULL, ip));
	{
		static const char *const bad[] = { "10.1.0.256",   "10.1.0.0/24", "fd00::1%eth0",
						   "web.shop.svc", "10.1.0.1:80", " 10.1.0.1",
						   "10.1.0.1 ",	   "1.2.3",	  "::g" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			assert_int_equal(-EINVAL, ip_parse_str(bad[i], ip));
	}
	/* too long for any address: refused before inet_pton sees it */
	assert_int_equal(-EINVAL,
			 ip_parse_str("0000:0000:0000:0000:0000:ffff:255.255.255.255x", ip));
	/* a buffer too small gets "" */
	assert_string_equal("", ip_format(ip6, buf, 4));
	assert_string_equal("", ip_format(ip4, buf, 8));
}

static void test_from_sockaddr(void **state)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(443) };
	struct sockaddr sa = { .sa_family = AF_UNIX };
	uint8_t ip[16];

	(void)state;
	assert_int_equal(1, inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr));
	assert_int_equal(0, ip_from_sockaddr((const struct sockaddr *)&sin, ip));
	assert_memory_equal(ip4, ip, 16);
	memcpy(&sin6.sin6_addr, ip6, 16);
	assert_int_equal(0, ip_from_sockaddr((const struct sockaddr *)&sin6, ip));
	assert_memory_equal(ip6, ip, 16);
	memset(ip, 0xaa, sizeof(ip));
	assert_int_equal(-EAFNOSUPPORT, ip_from_sockaddr(&sa, ip));
	assert_int_equal(0xaa, ip[0]); /* untouched when refused */
}

static void test_kinds(void **state)
{
	uint8_t ip[16];

	(void)state;
	assert_true(ip_is_v4mapped(ip4));
	assert_false(ip_is_v4mapped(ip6));
	assert_int_equal(0, ip_parse_str("127.0.0.1", ip));
	assert_true(ip_is_loopback(ip));
	assert_int_equal(0, ip_parse_str("127.255.3.4", ip));
	assert_true(ip_is_loopback(ip));
	assert_int_equal(0, ip_parse_str("::1", ip));
	assert_true(ip_is_loopback(ip));
	assert_int_equal(0, ip_parse_str("128.0.0.1", ip));
	assert_false(ip_is_loopback(ip));
	assert_int_equal(0, ip_parse_str("::2", ip));
	assert_false(ip_is_loopback(ip));
	/* ::127.0.0.1 (v4-compatible) is not v4-mapped, and not loopback */
	assert_int_equal(0, ip_parse_str("::7f00:1", ip));
	assert_false(ip_is_v4mapped(ip));
	assert_false(ip_is_loopback(ip));
}

static void test_cidr(void **state)
{
	struct ip_cidr c;
	unsigned int max = 0;
	char buf[64];
	uint8_t ip[16];

	(void)state;
	assert_int_equal(0, ip_cidr_parse("10.9.8.7/8", 10, &c, &max));
	assert_int_equal(32, max);
	assert_int_equal(104, c.prefix);
	assert_string_equal("10.0.0.0/8", ip_cidr_format(&c, buf, sizeof(buf)));
	assert_true(ip_cidr_contains(&c, ip4));
	assert_int_equal(0, ip_parse_str("11.0.0.1", ip));
	assert_false(ip_cidr_contains(&c, ip));
	assert_false(ip_cidr_contains(&c, ip6));

	assert_int_equal(0, ip_cidr_parse("fd00:1:2::ff/20", 15, &c, &max));
	assert_int_equal(128, max);
	assert_int_equal(20, c.prefix);
	assert_string_equal("fd00::/20", ip_cidr_format(&c, buf, sizeof(buf)));
	assert_int_equal(0, ip_parse_str("fd00:fff::1", ip));
	assert_true(ip_cidr_contains(&c, ip));
	assert_int_equal(0, ip_parse_str("fd00:1000::1", ip));
	assert_false(ip_cidr_contains(&c, ip));

	/* /0 of either family, and whole addresses */
	assert_int_equal(0, ip_cidr_parse("0.0.0.0/0", 9, &c, NULL));
	assert_true(ip_cidr_contains(&c, ip4));
	assert_false(ip_cidr_contains(&c, ip6)); /* IPv4's /0 is ::ffff:0:0/96 */
	assert_int_equal(0, ip_cidr_parse("::/0", 4, &c, NULL));
	assert_true(ip_cidr_contains(&c, ip4));
	assert_true(ip_cidr_contains(&c, ip6));
	assert_int_equal(0, ip_cidr_parse("10.1.2.3/32", 11, &c, NULL));
	assert_true(ip_cidr_contains(&c, ip4));
	assert_string_equal("10.1.2.3/32", ip_cidr_format(&c, buf, sizeof(buf)));

	assert_int_equal(-ERANGE, ip_cidr_parse("10.0.0.0/33", 11, &c, &max));
	assert_int_equal(32, max);
	assert_int_equal(-ERANGE, ip_cidr_parse("fd00::/129", 10, &c, &max));
	assert_int_equal(128, max);
	{
		static const char *const bad[] = { "10.0.0.0",	  "10.0.0.0/",
						   "10.0.0.0/-1", "10.0.0.0/ 8",
						   "/8",	  "::ffff:10.0.0.0/104",
						   "10.0.0/8",	  "fd00::/8/8",
						   "10.0.0.0/8x" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			assert_int_equal(-EINVAL, ip_cidr_parse(bad[i], strlen(bad[i]), &c, NULL));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_format),
		cmocka_unit_test(test_from_sockaddr),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_cidr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
