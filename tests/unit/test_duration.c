// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for lib/duration: parsing human durations, rejections, and formatting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../report.h"
#include "duration.h"

#define SENTINEL 0x5a5a5a5a5a5a5a5aULL

struct parse_case {
	const char *in;
	uint64_t ns;
};

static void check_parse(const struct parse_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t ns = SENTINEL;
		int err = duration_parse(c[i].in, &ns);

		if (err || ns != c[i].ns) {
			print_error("\"%s\": expected 0 and %llu ns, got %d and %llu ns\n", c[i].in,
				    (unsigned long long)c[i].ns, err, (unsigned long long)ns);
			fail();
		}
	}
}

static void test_parse_single_units(void **state)
{
	static const struct parse_case cases[] = {
		{ "500ms", 500ULL * 1000000 },
		{ "10s", 10ULL * 1000000000 },
		{ "2h", 2ULL * 3600 * 1000000000 },
		{ "250us", 250ULL * 1000 },
		{ "7ns", 7 },
		{ "3m", 180ULL * 1000000000 },
		{ "0s", 0 },
		{ "0ns", 0 },
		{ "007s", 7ULL * 1000000000 },
	};

	(void)state;
	check_parse(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_parse_compound(void **state)
{
	static const struct parse_case cases[] = {
		{ "1m30s", 90ULL * 1000000000 },
		{ "1h2m3s4ms5us6ns", 3723ULL * 1000000000 + 4 * 1000000 + 5 * 1000 + 6 },
		/* terms need not be ordered or distinct */
		{ "30s1m", 90ULL * 1000000000 },
		{ "1s1s", 2ULL * 1000000000 },
		/* "ms" must not be read as "m" then "s", nor "m" as a prefix of "ms" */
		{ "1m1ms", 60ULL * 1000000000 + 1000000 },
		{ "1ms1m", 60ULL * 1000000000 + 1000000 },
	};

	(void)state;
	check_parse(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_parse_limits(void **state)
{
	static const struct parse_case cases[] = {
		{ "18446744073709551615ns", UINT64_MAX },
		/* 18446744073 s + 709551615 ns is exactly UINT64_MAX: no false overflow */
		{ "18446744073s709551615ns", UINT64_MAX },
		{ "5124095h", 5124095ULL * 3600 * 1000000000 },
	};

	(void)state;
	check_parse(cases, sizeof(cases) / sizeof(cases[0]));
}

/* A test's figures for docs/reliability.md, once they add up (tests/report.h). */
static void report(const char *test, struct report_fault *f)
{
	f->lost = f->injected - f->delivered - f->counted;
	assert_int_equal(f->lost, 0);
	report_fault_line("duration", test, 1, f);
}

/* Each of in[0..n) refused with `want`, the output left alone; counted in *f. */
static void check_reject(const char *const *in, size_t n, int want, struct report_fault *f)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t ns = SENTINEL;
		int err = duration_parse(in[i], &ns);

		/* a rejected value leaves the output alone */
		if (err != want || ns != SENTINEL) {
			print_error("\"%s\": expected %d, got %d (output %llu)\n", in[i], want, err,
				    (unsigned long long)ns);
			fail();
		}
		f->injected++;
		f->counted += err < 0;
	}
}

static void test_reject_syntax(void **state)
{
	static const char *const bad[] = {
		"",	 "10",	 "ms",	 "10x",	  "-1s",	"+1s", "1.5s",
		" 1s",	 "1s ",	 "1 s",	 "1s,2s", "1sm",	"1mx", "1msx",
		"10S",	 "1M",	 "1u",	 "1n",	  "1h1",	"s10", "1d",
		"0x10s", "1e3s", "\t1s", "1s\n",  "1\xc2\xb5s", "1hh", "1:30",
	};
	struct report_fault f = {
		.fault = "duration without a unit, with a sign, fraction, space, unknown unit",
		.unit = "values",
		.counted_as = "-EINVAL, the value left alone",
	};

	(void)state;
	check_reject(bad, sizeof(bad) / sizeof(bad[0]), -EINVAL, &f);
	report("test_reject_syntax", &f);
}

static void test_reject_null(void **state)
{
	uint64_t ns = SENTINEL;

	(void)state;
	assert_int_equal(duration_parse(NULL, &ns), -EINVAL);
	assert_int_equal(ns, SENTINEL);
}

static void test_reject_overflow(void **state)
{
	static const char *const big[] = {
		/* the number itself does not fit in 64 bits */
		"99999999999999999999s",
		"18446744073709551616ns",
		/* the number fits, number * unit does not */
		"18446744073709551615h",
		"18446744074s",
		"5124096h",
		/* each term fits, the sum does not */
		"18446744073s709551616ns",
		"18446744073709551615ns1ns",
		"5124095h5124095h",
	};

	struct report_fault f = {
		.fault = "duration past 2^64 ns, in its number, its unit or its sum",
		.unit = "values",
		.counted_as = "-ERANGE, the value left alone",
	};

	(void)state;
	check_reject(big, sizeof(big) / sizeof(big[0]), -ERANGE, &f);
	report("test_reject_overflow", &f);
}

static void test_format_exact(void **state)
{
	static const struct {
		uint64_t ns;
		const char *out;
	} cases[] = {
		{ 500ULL * 1000000, "500ms" },
		{ 10ULL * 1000000000, "10s" },
		{ 7, "7ns" },
		{ 0, "0s" },
		{ 59ULL * 1000000000, "59s" },
		{ 120ULL * 1000000000, "2m" },
		{ 1500ULL * 1000000, "1s500ms" },
		{ 1000001, "1ms1ns" },
		{ 90ULL * 1000000000, "1m30s" },
		{ 5400ULL * 1000000000, "1h30m" },
		{ 7200ULL * 1000000000, "2h" },
		{ 250000, "250us" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 'X', sizeof(buf));
		assert_ptr_equal(duration_format(cases[i].ns, buf, sizeof(buf)), buf);
		assert_string_equal(buf, cases[i].out);
	}
}

static void test_format_round_trip(void **state)
{
	static const char *const in[] = {
		"500ms",
		"10s",
		"1m30s",
		"2h",
		"250us",
		"7ns",
		"1ns",
		"999999999ns",
		"1m",
		"61s",
		"1h1ms",
		"0s",
		"18446744073709551615ns",
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		uint64_t ns = 0, back = SENTINEL;

		assert_int_equal(duration_parse(in[i], &ns), 0);
		duration_format(ns, buf, sizeof(buf));
		if (duration_parse(buf, &back) || back != ns) {
			print_error("\"%s\" -> \"%s\" did not parse back to %llu ns\n", in[i], buf,
				    (unsigned long long)ns);
			fail();
		}
	}
}

static void test_format_truncates(void **state)
{
	char buf[8];

	(void)state;
	memset(buf, 'X', sizeof(buf));
	/* snprintf semantics: cut to len - 1 bytes, always terminated, nothing past len */
	duration_format(500ULL * 1000000, buf, 3);
	assert_string_equal(buf, "50");
	assert_memory_equal(buf + 3, "XXXXX", 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_single_units), cmocka_unit_test(test_parse_compound),
		cmocka_unit_test(test_parse_limits),	   cmocka_unit_test(test_reject_syntax),
		cmocka_unit_test(test_reject_null),	   cmocka_unit_test(test_reject_overflow),
		cmocka_unit_test(test_format_exact),	   cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_format_truncates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
