/* SPDX-License-Identifier: BSD-2-Clause */
/* glibc malloc settings for a process whose allocations cross threads (the collector). */
#ifndef PODFLOW_ALLOC_H
#define PODFLOW_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* Built with AddressSanitizer: its allocator, not glibc's, serves malloc(). */
#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOC_SANITIZER 1
#endif
#endif

#define ALLOC_MMAP_THRESHOLD (32u << 20) /* glibc's own ceiling for its dynamic threshold */
#define ALLOC_TOP_PAD	     (16u << 20)

/*
 * Sets M_MMAP_THRESHOLD and M_TOP_PAD (above) unless the operator set any
 * malloc tunable (MALLOC_*_ or glibc.malloc.* in GLIBC_TUNABLES), or the
 * allocator is a sanitizer's.  librdkafka allocates each message in the
 * thread that produces it and frees it in another after its delivery
 * report; with glibc's defaults that thread's arena then grows one page at
 * a time (an mprotect() and a page fault each) and is trimmed back again
 * and again (docs/performance.md, "The allocator").  Call first thing in
 * main(), before any thread starts.  Returns true when applied; `why` says
 * what was done or why not.
 */
bool alloc_tune(char *why, size_t len);

#endif /* PODFLOW_ALLOC_H */
