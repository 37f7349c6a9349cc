// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/outputs/jsonl: the plain JSON-lines file. */
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

#include "jsonl.h"
#include "wire.h"

static long count_lines(const char *path, char *first, size_t len)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	long n = 0;

	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		if (n == 0 && first)
			snprintf(first, len, "%s", line);
		n++;
	}
	free(line);
	fclose(f);
	return n;
}

static void test_write_batch(void **state)
{
	char dir[] = "/tmp/pf-jsonl-XXXXXX", path[128], first[2048], why[256];
	struct flow_identity who = { .pod = "p1", .namespace = "ns", .app = "a" };
	struct flow_record recs[3] = { 0 };
	struct wire_batch b = { .sender = who, .n_records = 3, .records = recs };
	struct jsonl *s;
	uint64_t bytes = 0;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (int i = 0; i < 3; i++) {
		recs[i].family = 4;
		recs[i].direction = FLOW_DIRECTION_OUT;
		recs[i].bytes_sent = 100 + (uint64_t)i;
		recs[i].local = &who;
		recs[i].container = "web";
	}
	s = jsonl__new(dir, "flows-w3.jsonl", false, why, sizeof(why));
	assert_non_null(s);
	snprintf(path, sizeof(path), "%s/flows-w3.jsonl", dir);
	assert_string_equal(jsonl__path(s), path);
	assert_int_equal(jsonl__write(s, &b, NULL, &bytes), 0);
	/* written through to the kernel on return: visible to another reader now */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((uint64_t)st.st_size, bytes);
	assert_int_equal(count_lines(path, first, sizeof(first)), 3);
	assert_non_null(strstr(first, "\"bytes_sent\":100,"));
	assert_non_null(strstr(first, "\"local_pod\":\"p1\""));
	assert_non_null(strstr(first, "\"container\":\"web\""));
	assert_non_null(strstr(first, "\"remote_source\":\"unattributed\""));
	assert_int_equal(jsonl__write(s, &b, NULL, &bytes), 0);
	jsonl__free(s);
	/* reopening appends */
	s = jsonl__new(dir, "flows-w3.jsonl", false, why, sizeof(why));
	assert_non_null(s);
	assert_int_equal(jsonl__write(s, &b, NULL, &bytes), 0);
	jsonl__free(s);
	assert_int_equal(count_lines(path, NULL, 0), 9);
	/* keep[]: only the records kept are written (the others wait for attribution) */
	s = jsonl__new(dir, "flows-w3.jsonl", false, why, sizeof(why));
	assert_non_null(s);
	assert_int_equal(jsonl__write(s, &b, (const bool[]){ false, true, false }, &bytes), 0);
	jsonl__free(s);
	assert_int_equal(count_lines(path, NULL, 0), 10);
	unlink(path);
	rmdir(dir);
}

static void test_null_sink(void **state)
{
	char dir[] = "/tmp/pf-jsonl-XXXXXX", path[128], why[256];
	struct flow_record rec = { .family = 4, .direction = FLOW_DIRECTION_IN };
	struct wire_batch b = { .n_records = 1, .records = &rec };
	struct jsonl *s;
	uint64_t bytes = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	s = jsonl__new(dir, "flows-w0.jsonl", true, why, sizeof(why));
	assert_non_null(s);
	assert_int_equal(jsonl__write(s, &b, NULL, &bytes), 0);
	assert_int_equal(bytes, 0); /* nothing formatted, nothing written */
	snprintf(path, sizeof(path), "%s/flows-w0.jsonl", dir);
	assert_int_equal(access(path, F_OK), -1);
	jsonl__free(s);
	rmdir(dir);
}

static void test_open_error(void **state)
{
	char why[256];

	(void)state;
	assert_null(jsonl__new("/nonexistent-pf-dir", "flows-w0.jsonl", false, why, sizeof(why)));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(why, "/nonexistent-pf-dir/flows-w0.jsonl"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_batch),
		cmocka_unit_test(test_null_sink),
		cmocka_unit_test(test_open_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
