// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/sink and collector/stats: JSON lines out, counters summed. */
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

#include "sink.h"
#include "stats.h"
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
	char dir[] = "/tmp/pf-sink-XXXXXX", path[128], first[2048], why[256];
	struct flow_identity who = { .pod = "p1", .namespace = "ns", .app = "a" };
	struct flow_record recs[3] = { 0 };
	struct wire_batch b = { .sender = who, .n_records = 3, .records = recs };
	struct sink *s;
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
	s = sink__new(dir, 3, false, why, sizeof(why));
	assert_non_null(s);
	snprintf(path, sizeof(path), "%s/flows-w3.jsonl", dir);
	assert_string_equal(sink__path(s), path);
	assert_int_equal(sink__write_batch(s, &b, NULL, &bytes), 0);
	/* written through to the kernel on return: visible to another reader now */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((uint64_t)st.st_size, bytes);
	assert_int_equal(count_lines(path, first, sizeof(first)), 3);
	assert_non_null(strstr(first, "\"bytes_sent\":100,"));
	assert_non_null(strstr(first, "\"local_pod\":\"p1\""));
	assert_non_null(strstr(first, "\"container\":\"web\""));
	assert_non_null(strstr(first, "\"remote_source\":\"unattributed\""));
	assert_int_equal(sink__write_batch(s, &b, NULL, &bytes), 0);
	sink__free(s);
	/* reopening appends */
	s = sink__new(dir, 3, false, why, sizeof(why));
	assert_non_null(s);
	assert_int_equal(sink__write_batch(s, &b, NULL, &bytes), 0);
	sink__free(s);
	assert_int_equal(count_lines(path, NULL, 0), 9);
	/* keep[]: only the records kept are written (the others wait for attribution) */
	s = sink__new(dir, 3, false, why, sizeof(why));
	assert_non_null(s);
	assert_int_equal(sink__write_batch(s, &b, (const bool[]){ false, true, false }, &bytes), 0);
	sink__free(s);
	assert_int_equal(count_lines(path, NULL, 0), 10);
	unlink(path);
	rmdir(dir);
}

static void test_null_sink(void **state)
{
	char dir[] = "/tmp/pf-sink-XXXXXX", path[128], why[256];
	struct flow_record rec = { .family = 4, .direction = FLOW_DIRECTION_IN };
	struct wire_batch b = { .n_records = 1, .records = &rec };
	struct sink *s;
	uint64_t bytes = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	s = sink__new(dir, 0, true, why, sizeof(why));
	assert_non_null(s);
	assert_int_equal(sink__write_batch(s, &b, NULL, &bytes), 0);
	assert_int_equal(bytes, 0); /* nothing formatted, nothing written */
	snprintf(path, sizeof(path), "%s/flows-w0.jsonl", dir);
	assert_int_equal(access(path, F_OK), -1);
	sink__free(s);
	rmdir(dir);
}

static void test_open_error(void **state)
{
	char why[256];

	(void)state;
	assert_null(sink__new("/nonexistent-pf-dir", 0, false, why, sizeof(why)));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(why, "/nonexistent-pf-dir/flows-w0.jsonl"));
}

static void test_stats(void **state)
{
	struct stats a = { 0 }, b = { 0 }, sum = { 0 };
	char line[2048];

	(void)state;
	assert_int_equal(stats_status_index(204), STATS_204);
	assert_int_equal(stats_status_index(429), STATS_429);
	assert_int_equal(stats_status_index(500), STATS_OTHER);
	STATS_ADD(a.requests[STATS_204], 3);
	STATS_ADD(b.requests[STATS_204], 4);
	STATS_ADD(b.drops[WIRE_DROP_BUFFER], 9);
	STATS_ADD(a.records, 10);
	stats_sum(&sum, &a);
	stats_sum(&sum, &b);
	assert_int_equal(sum.requests[STATS_204], 7);
	assert_int_equal(sum.records, 10);
	stats_format(&sum, line, sizeof(line));
	assert_non_null(strstr(line, " requests_204=7 "));
	assert_non_null(strstr(line, " records=10 "));
	assert_non_null(strstr(line, "conns_accepted=0 "));
	assert_non_null(strstr(line, "requests_429=0"));
	/* every drop reason has its own counter */
	for (int i = 0; i < WIRE_DROP__COUNT; i++) {
		char key[64];

		snprintf(key, sizeof(key), " sender_drops_%s=%d", wire_drop_name((enum wire_drop)i),
			 i == WIRE_DROP_BUFFER ? 9 : 0);
		assert_non_null(strstr(line, key));
	}
	/* a short buffer is cut, never overrun */
	stats_format(&sum, line, 16);
	assert_int_equal(strlen(line), 15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_batch),
		cmocka_unit_test(test_null_sink),
		cmocka_unit_test(test_open_error),
		cmocka_unit_test(test_stats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
