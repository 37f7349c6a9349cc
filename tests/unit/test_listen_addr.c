// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/listen_addr: --listen parsing and address formatting. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../report.h"
#include "listen_addr.h"

static void check(const char *in, const char *formatted, int any)
{
	struct listen_addr a;
	char buf[96];

	if (listen_addr_parse(in, &a)) {
		print_error("\"%s\": rejected, expected %s\n", in, formatted);
		fail();
	}
	listen_addr_format((struct sockaddr *)&a.ss, buf, sizeof(buf));
	if (strcmp(buf, formatted) != 0 || a.any != any) {
		print_error("\"%s\": expected %s (any %d), got %s (any %d)\n", in, formatted, any,
			    buf, a.any);
		fail();
	}
}

static void test_accepts(void **state)
{
	(void)state;
	check(":7070", "[::]:7070", 1);
	check(":0", "[::]:0", 1);
	check("127.0.0.1:0", "127.0.0.1:0", 0);
	check("0.0.0.0:80", "0.0.0.0:80", 0);
	check("localhost:7070", "127.0.0.1:7070", 0);
	check("[::1]:7070", "[::1]:7070", 0);
	check("[::]:65535", "[::]:65535", 0);
	check("[2001:db8::1]:443", "[2001:db8::1]:443", 0);
}

/* A test's figures for docs/reliability.md, once they add up (tests/report.h). */
static void report(const char *test, struct report_fault *f)
{
	f->lost = f->injected - f->delivered - f->counted;
	assert_int_equal(f->lost, 0);
	report_fault_line("listen_addr", test, 1, f);
}

static void test_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"7070",
		":",
		":-1",
		":65536",
		":99999999",
		":70a",
		"127.0.0.1",
		"127.0.0.1:",
		"::1:7070",
		"[::1]",
		"[::1]7070",
		"[]:80",
		"[127.0.0.1]:80",
		"256.0.0.1:80",
		"example.com:80",
		"127.0.0.1:80 ",
		" :80",
		":+80",
	};
	struct report_fault f = {
		.fault =
		    "listen address without a port, out of range, a name, bad brackets, spaces",
		.unit = "addresses",
		.counted_as = "-EINVAL: the listener is not started (exit 2)",
	};
	struct listen_addr a;
	int err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = listen_addr_parse(bad[i], &a);
		if (err != -EINVAL) {
			print_error("\"%s\": accepted, expected -EINVAL\n", bad[i]);
			fail();
		}
		f.injected++;
		f.counted += err < 0;
	}
	err = listen_addr_parse(NULL, &a);
	f.injected++;
	f.counted += err < 0;
	assert_int_equal(err, -EINVAL);
	report("test_rejects", &f);
}

static void test_port_and_v4_fallback(void **state)
{
	struct listen_addr a;
	char buf[96];

	(void)state;
	assert_int_equal(listen_addr_parse(":0", &a), 0);
	listen_addr_set_port(&a, 41234);
	assert_int_equal(listen_addr_port((struct sockaddr *)&a.ss), 41234);
	listen_addr_v4_any(&a);
	assert_int_equal(a.ss.ss_family, AF_INET);
	assert_int_equal(a.len, sizeof(struct sockaddr_in));
	assert_string_equal(listen_addr_format((struct sockaddr *)&a.ss, buf, sizeof(buf)),
			    "0.0.0.0:41234");
}

static void test_loopback(void **state)
{
	static const struct {
		const char *addr;
		bool loopback;
	} cases[] = {
		{ "127.0.0.1:9095", true },	  { "127.1.2.3:0", true },
		{ "localhost:9095", true },	  { "[::1]:9095", true },
		{ "[::ffff:127.0.0.9]:1", true }, { ":9095", false },
		{ "0.0.0.0:9095", false },	  { "[::]:9095", false },
		{ "10.1.2.3:9095", false },	  { "128.0.0.1:9095", false },
		{ "[::2]:9095", false },	  { "[::ffff:10.0.0.1]:1", false },
		{ "[fe80::1]:9095", false },
	};
	struct listen_addr a;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(listen_addr_parse(cases[i].addr, &a), 0);
		if (listen_addr_is_loopback(&a) != cases[i].loopback) {
			print_error("\"%s\": expected %s\n", cases[i].addr,
				    cases[i].loopback ? "loopback" : "not loopback");
			fail();
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_port_and_v4_fallback),
		cmocka_unit_test(test_loopback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
