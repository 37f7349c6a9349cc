// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/server/stats: counters summed, the stats line. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "stats.h"
#include "wire.h"

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
		cmocka_unit_test(test_stats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
