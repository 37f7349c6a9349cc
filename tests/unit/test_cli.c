// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/cli: the strict number and byte-size parsers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"

static void test_bytes(void **state)
{
	static const struct {
		const char *in;
		uint64_t want;
	} ok[] = {
		{ "1024", 1024 },     { "1k", 1024 },	      { "64KiB", 65536 },
		{ "16M", 16u << 20 }, { "16MiB", 16u << 20 }, { "1g", 1u << 30 },
		{ "1GiB", 1u << 30 }, { "3m", 3u << 20 },
	};
	static const char *const bad[] = { "",
					   "k",
					   "-1",
					   "+5",
					   " 5",
					   "5 ",
					   "5kb",
					   "5MB",
					   "5T",
					   "1023",
					   "2GiB",
					   "0x10",
					   "99999999999999999999" };
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 0;
		if (cli_parse_bytes(ok[i].in, 1024, 1ull << 30, &v) || v != ok[i].want) {
			print_error("\"%s\": expected %llu, got %llu\n", ok[i].in,
				    (unsigned long long)ok[i].want, (unsigned long long)v);
			fail();
		}
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cli_parse_bytes(bad[i], 1024, 1ull << 30, &v) != -ERANGE) {
			print_error("\"%s\": accepted, expected -ERANGE\n", bad[i]);
			fail();
		}
	}
	/* a shift that would overflow is a range error, not a wrap */
	assert_int_equal(cli_parse_bytes("17179869184GiB", 0, UINT64_MAX, &v), -ERANGE);
}

static void test_u32(void **state)
{
	uint32_t v;

	(void)state;
	assert_int_equal(cli_parse_u32("1", 1, 10, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(cli_parse_u32("10", 1, 10, &v), 0);
	assert_int_equal(cli_parse_u32("0", 1, 10, &v), -ERANGE);
	assert_int_equal(cli_parse_u32("11", 1, 10, &v), -ERANGE);
	assert_int_equal(cli_parse_u32("-1", 0, 10, &v), -ERANGE);
	assert_int_equal(cli_parse_u32("2x", 0, 10, &v), -ERANGE);
	assert_int_equal(cli_parse_u32("", 0, 10, &v), -ERANGE);
	assert_int_equal(cli_parse_u32("4294967296", 0, UINT32_MAX, &v), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_u32),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
