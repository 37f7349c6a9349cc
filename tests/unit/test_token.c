// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/token: file parsing, Bearer parsing, compare, reload on swap. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "token.h"

#define SEC 1000000000ull

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
			continue;
		}
		assert_int_equal(err, 0);
		assert_int_equal(len, strlen(cases[i].out));
		assert_string_equal(buf, cases[i].out);
	}
}

static void test_normalize_too_long(void **state)
{
	char *buf = malloc(TOKEN_MAX_LEN + 2);
	size_t len = TOKEN_MAX_LEN + 1;

	(void)state;
	memset(buf, 'a', len);
	buf[len] = '\0';
	assert_int_equal(token_normalize(buf, &len), -EINVAL);
	len = TOKEN_MAX_LEN;
	buf[len] = '\0';
	assert_int_equal(token_normalize(buf, &len), 0);
	free(buf);
}

static void test_parse_bearer(void **state)
{
	const char *tok;
	size_t n;

	(void)state;
	assert_int_equal(token_parse_bearer("Bearer abc", 10, &tok, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(tok, "abc", 3);
	/* the scheme is case-insensitive (RFC 9110 11.1), spaces around the token are not part of it */
	assert_int_equal(token_parse_bearer("bEARER   abc  ", 14, &tok, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(token_parse_bearer("Bearer", 6, &tok, &n), -EINVAL);
	assert_int_equal(token_parse_bearer("Bearer ", 7, &tok, &n), -EINVAL);
	assert_int_equal(token_parse_bearer("Bearerabc", 9, &tok, &n), -EINVAL);
	assert_int_equal(token_parse_bearer("Basic YWJj", 10, &tok, &n), -EINVAL);
	assert_int_equal(token_parse_bearer("", 0, &tok, &n), -EINVAL);
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
	struct token_file *t;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	assert_int_equal(write_file(path, "s3cret\n"), 0);
	t = token_file__new(path, SEC, why, sizeof(why));
	assert_non_null(t);
	assert_true(token_file__check(t, "Bearer s3cret", 13));
	assert_true(token_file__check(t, "bearer s3cret ", 14));
	assert_false(token_file__check(t, "Bearer s3cre", 12));
	assert_false(token_file__check(t, "Bearer s3cret2", 14));
	assert_false(token_file__check(t, "Bearer S3CRET", 13));
	assert_false(token_file__check(t, "s3cret", 6));
	assert_false(token_file__check(t, NULL, 0));
	/* the value's length is what the header said, not up to a NUL */
	assert_true(token_file__check(t, "Bearer s3cretXX", 13));
	token_file__free(t);
	unlink(path);
	rmdir(dir);
}

static void test_new_errors(void **state)
{
	char dir[] = "/tmp/pf-token-XXXXXX", path[128], why[256];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_null(token_file__new(path, SEC, why, sizeof(why)));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(why, "--token-file"));
	snprintf(path, sizeof(path), "%s/empty", dir);
	assert_int_equal(write_file(path, "\n"), 0);
	assert_null(token_file__new(path, SEC, why, sizeof(why)));
	assert_int_equal(errno, EINVAL);
	unlink(path);
	rmdir(dir);
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
