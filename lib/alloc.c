// SPDX-License-Identifier: BSD-2-Clause
#include "alloc.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ALLOC_SANITIZER
/*
 * The operator's own settings of these (or of the trim threshold, which
 * they interact with) win: the first one found, or NULL.
 */
static const char *operator_setting(void)
{
	static const char *const env[] = { "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_",
					   "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_" };
	static const char *const tunables[] = { "glibc.malloc.mmap_threshold",
						"glibc.malloc.top_pad",
						"glibc.malloc.trim_threshold",
						"glibc.malloc.mmap_max" };
	const char *t = getenv("GLIBC_TUNABLES");

	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
		if (getenv(env[i]))
			return env[i];
		if (t && strstr(t, tunables[i]))
			return tunables[i];
	}
	return NULL;
}

bool alloc_tune(char *why, size_t len)
{
	const char *own = operator_setting();

	if (own) {
		snprintf(why, len, "malloc left alone: %s is set", own);
		return false;
	}
	if (!mallopt(M_MMAP_THRESHOLD, ALLOC_MMAP_THRESHOLD) ||
	    !mallopt(M_TOP_PAD, ALLOC_TOP_PAD)) {
		snprintf(why, len, "malloc: mallopt refused the settings");
		return false;
	}
	snprintf(why, len, "malloc: mmap threshold %u MiB, top pad %u MiB",
		 ALLOC_MMAP_THRESHOLD >> 20, ALLOC_TOP_PAD >> 20);
	return true;
}

#else

bool alloc_tune(char *why, size_t len)
{
	snprintf(why, len, "malloc left alone: a sanitizer's allocator");
	return false;
}

#endif
