// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/token: file parsing, Bearer parsing, compare, reload on swap. */
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../report.h"
#include "log.h"
#include "token.h"

#define SEC 1000000000ull

/* A test's figures for docs/reliability.md, once they add up (tests/report.h). */
static void report(const char *test, struct report_fault *f)
{
	f->lost = f->injected - f->delivered - f->counted;
	assert_int_equal(f->lost, 0);
	report_fault_line("token", test, 1, f);
}

static void test_normalize(void **state)
{
	static const struct {
		const char *in;
		const char *out; /* NULL = rejected */
	} cases[] = {
		{ "abc", "abc" },
		{ "abc\n", "abc" },
		{ "  abc \r\n\t", "abc" },
		{ "eyJhbGciOi.J9-_~+/=", "eyJhbGciOi.J9-_~+/=" },
		{ "", NULL },
		{ " \n ", NULL },
		{ "two words", NULL },
		{ "tab\tinside", NULL },
		{ "nul\001", NULL },
	};
	struct report_fault f = {
		.fault = "token file empty, blank, or with a space, tab or control byte inside",
		.unit = "token files",
		.counted_as = "-EINVAL: not taken (the running token stays, or no start)",
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);
		int err;

		memcpy(buf, cases[i].in, len + 1);
		err = token_normalize(buf, &len);
		if (!cases[i].out) {
			if (err != -EINVAL) {
				print_error("\"%s\": expected -EINVAL, got %d\n", cases[i].in, err);
				fail();
			}
			f.injected++;
			f.counted += err < 0;
			continue;
		}
		assert_int_equal(err, 0);
		assert_int_equal(len, strlen(cases[i].out));
		assert_string_equal(buf, cases[i].out);
	}
	report("test_normalize", &f);
}

static void test_normalize_too_long(void **state)
{
	char *buf = malloc(TOKEN_MAX_LEN + 2);
	size_t len = TOKEN_MAX_LEN + 1;
	struct report_fault f = {
		.fault = "token one byte over the longest taken",
		.unit = "token files",
		.counted_as = "-EINVAL: not taken",
	};
	int err;

	(void)state;
	memset(buf, 'a', len);
	buf[len] = '\0';
	err = token_normalize(buf, &len);
	f.injected++;
	f.counted += err < 0;
	assert_int_equal(err, -EINVAL);
	len = TOKEN_MAX_LEN;
	buf[len] = '\0';
	assert_int_equal(token_normalize(buf, &len), 0);
	free(buf);
	report("test_normalize_too_long", &f);
}

static void test_parse_bearer(void **state)
{
	struct report_fault f = {
		.fault = "Authorization without a token, not Bearer, or empty",
		.unit = "headers",
		.counted_as = "-EINVAL: 401 (refused_token_missing)",
	};
	const char *tok;
	size_t n;

#define REFUSED(call)                           \
	do {                                    \
		int rc_ = (call);               \
                                                \
		f.injected++;                   \
		f.counted += rc_ < 0;           \
		assert_int_equal(rc_, -EINVAL); \
	} while (0)
	(void)state;
	assert_int_equal(token_parse_bearer("Bearer abc", 10, &tok, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(tok, "abc", 3);
	/* the scheme is case-insensitive (RFC 9110 11.1), spaces around the token are not part of it */
	assert_int_equal(token_parse_bearer("bEARER   abc  ", 14, &tok, &n), 0);
	assert_int_equal(n, 3);
	REFUSED(token_parse_bearer("Bearer", 6, &tok, &n));
	REFUSED(token_parse_bearer("Bearer ", 7, &tok, &n));
	REFUSED(token_parse_bearer("Bearerabc", 9, &tok, &n));
	REFUSED(token_parse_bearer("Basic YWJj", 10, &tok, &n));
	REFUSED(token_parse_bearer("", 0, &tok, &n));
#undef REFUSED
	report("test_parse_bearer", &f);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) ? -errno : 0;
}

static void test_check(void **state)
{
	char dir[] = "/tmp/pf-token-XXXXXX", path[128], why[256];
	struct report_fault f = {
		.fault = "bearer token shorter, longer, of another case, or no Bearer scheme",
		.unit = "requests",
		.counted_as = "refused: 401 (refused_token_wrong or _missing)",
	};
	struct token_file *t;

#define WRONG(h, n)                                    \
	do {                                           \
		bool ok_ = token_file__check(t, h, n); \
                                                       \
		f.injected++;                          \
		f.counted += !ok_;                     \
		assert_false(ok_);                     \
	} while (0)
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	assert_int_equal(write_file(path, "s3cret\n"), 0);
	t = token_file__new(path, SEC, why, sizeof(why));
	assert_non_null(t);
	assert_true(token_file__check(t, "Bearer s3cret", 13));
	assert_true(token_file__check(t, "bearer s3cret ", 14));
	WRONG("Bearer s3cre", 12);
	WRONG("Bearer s3cret2", 14);
	WRONG("Bearer S3CRET", 13);
	WRONG("s3cret", 6);
	WRONG(NULL, 0);
	/* the value's length is what the header said, not up to a NUL */
	assert_true(token_file__check(t, "Bearer s3cretXX", 13));
	token_file__free(t);
	unlink(path);
	rmdir(dir);
#undef WRONG
	report("test_check", &f);
}

static void test_new_errors(void **state)
{
	char dir[] = "/tmp/pf-token-XXXXXX", path[128], why[256];
	struct report_fault f = {
		.fault = "--token-file missing, or holding only a newline",
		.unit = "token files",
		.counted_as = "NULL with errno and the reason naming --token-file: no start",
	};
	struct token_file *t;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/missing", dir);
	t = token_file__new(path, SEC, why, sizeof(why));
	f.injected++;
	f.counted += !t;
	assert_null(t);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(why, "--token-file"));
	snprintf(path, sizeof(path), "%s/empty", dir);
	assert_int_equal(write_file(path, "\n"), 0);
	t = token_file__new(path, SEC, why, sizeof(why));
	f.injected++;
	f.counted += !t;
	assert_null(t);
	assert_int_equal(errno, EINVAL);
	unlink(path);
	rmdir(dir);
	report("test_new_errors", &f);
}

/* The kubelet's projected volume: token -> ..data/token, ..data -> ..<ts>, swapped by rename. */
static void test_refresh_symlink_swap(void **state)
{
	char dir[] = "/tmp/pf-token-XXXXXX", p[160], q[160], why[256];
	struct token_file *t;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/..v1", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/..v1/token", dir);
	assert_int_equal(write_file(p, "old"), 0);
	snprintf(p, sizeof(p), "%s/..data", dir);
	assert_int_equal(symlink("..v1", p), 0);
	snprintf(p, sizeof(p), "%s/token", dir);
	assert_int_equal(symlink("..data/token", p), 0);

	t = token_file__new(p, SEC, why, sizeof(why));
	assert_non_null(t);
	assert_true(token_file__check(t, "Bearer old", 10));
	assert_int_equal(token_file__refresh(t, 10 * SEC), 0); /* nothing changed */

	snprintf(q, sizeof(q), "%s/..v2", dir);
	assert_int_equal(mkdir(q, 0755), 0);
	snprintf(q, sizeof(q), "%s/..v2/token", dir);
	assert_int_equal(write_file(q, "new"), 0);
	snprintf(q, sizeof(q), "%s/..data_tmp", dir);
	assert_int_equal(symlink("..v2", q), 0);
	snprintf(p, sizeof(p), "%s/..data", dir);
	assert_int_equal(rename(q, p), 0);

	/* not before recheck_ns has passed since the last look */
	assert_int_equal(token_file__refresh(t, 10 * SEC + SEC / 2), 0);
	assert_true(token_file__check(t, "Bearer old", 10));
	assert_int_equal(token_file__refresh(t, 11 * SEC), 1);
	assert_true(token_file__check(t, "Bearer new", 10));
	assert_false(token_file__check(t, "Bearer old", 10));

	/* a swap to an empty token keeps the last good one in force, warned once */
	snprintf(q, sizeof(q), "%s/..v2/token", dir);
	assert_int_equal(write_file(q, ""), 0);
	assert_int_equal(token_file__refresh(t, 12 * SEC), -EINVAL);
	assert_int_equal(token_file__refresh(t, 13 * SEC), 0);
	assert_true(token_file__check(t, "Bearer new", 10));
	token_file__free(t);
	snprintf(p, sizeof(p), "rm -rf %s", dir);
	assert_int_equal(system(p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),    cmocka_unit_test(test_normalize_too_long),
		cmocka_unit_test(test_parse_bearer), cmocka_unit_test(test_check),
		cmocka_unit_test(test_new_errors),   cmocka_unit_test(test_refresh_symlink_swap),
	};

	log_init("test_token", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
