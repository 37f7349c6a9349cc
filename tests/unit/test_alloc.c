// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for lib/alloc: the collector's malloc settings take effect, and yield to the operator's. */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../report.h"
#include "alloc.h"

#define MIB (1u << 20)

#ifdef ALLOC_SANITIZER

static void test_sanitizer_left_alone(void **state)
{
	char why[128];

	(void)state;
	assert_false(alloc_tune(why, sizeof(why)));
	assert_string_equal(why, "malloc left alone: a sanitizer's allocator");
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_sanitizer_left_alone) };

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

/* glibc's: the allocation is mmap()ed of its own (a block counted in hblks) */
static bool mmapped(size_t size, size_t *heap_growth)
{
	struct mallinfo2 before = mallinfo2(), after;
	char *p = malloc(size);
	bool own;

	assert_non_null(p);
	memset(p, 1, size);
	after = mallinfo2();
	own = after.hblks == before.hblks + 1;
	*heap_growth = after.arena - before.arena;
	free(p);
	return own;
}

/* Runs first: the operator's setting wins, nothing changes (glibc's 128 KiB threshold stands). */
static void test_operator_setting_wins(void **state)
{
	char why[128];
	size_t grew;

	(void)state;
	setenv("GLIBC_TUNABLES", "glibc.rtld.nns=2:glibc.malloc.top_pad=0", 1);
	assert_false(alloc_tune(why, sizeof(why)));
	assert_string_equal(why, "malloc left alone: glibc.malloc.top_pad is set");
	unsetenv("GLIBC_TUNABLES");
	setenv("MALLOC_TRIM_THRESHOLD_", "1048576", 1);
	assert_false(alloc_tune(why, sizeof(why)));
	assert_string_equal(why, "malloc left alone: MALLOC_TRIM_THRESHOLD_ is set");
	unsetenv("MALLOC_TRIM_THRESHOLD_");
	/* an unrelated tunable is not a malloc setting of ours */
	setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=1", 1);
	/* still untouched: 1 MiB is above glibc's initial threshold */
	assert_true(mmapped(MIB, &grew));
	unsetenv("GLIBC_TUNABLES");
}

/* Then applied: 8 MiB comes from the heap, which grows by the 16 MiB pad besides. */
static void test_applied(void **state)
{
	char why[128];
	size_t grew;

	(void)state;
	/* freeing the 1 MiB block above raised glibc's own threshold to about 1 MiB */
	assert_true(alloc_tune(why, sizeof(why)));
	assert_string_equal(why, "malloc: mmap threshold 32 MiB, top pad 16 MiB");
	assert_false(mmapped(8 * MIB, &grew));
	if (grew < 8 * MIB + ALLOC_TOP_PAD - MIB) {
		print_error("the heap grew by %zu bytes for 8 MiB, expected at least %u\n", grew,
			    8 * MIB + ALLOC_TOP_PAD - MIB);
		fail();
	}
	/* glibc's ceiling: from 32 MiB on, a block is mmap()ed again */
	assert_true(mmapped(ALLOC_MMAP_THRESHOLD, &grew));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_operator_setting_wins),
		cmocka_unit_test(test_applied),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
