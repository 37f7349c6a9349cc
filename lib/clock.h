/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The clocks, one place: wall-clock Unix milliseconds for what records and
 * evidence say happened when; monotonic time for deadlines and durations
 * (which must not jump with the wall clock); boot time where the kernel's
 * timestamps are compared (bpf_ktime_get_boot_ns).
 */
#ifndef PODFLOW_CLOCK_H
#define PODFLOW_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static inline int64_t clock_mono_ms(void)
{
	return (int64_t)(clock_ns(CLOCK_MONOTONIC) / 1000000);
}

static inline int64_t clock_wall_ms(void)
{
	return (int64_t)(clock_ns(CLOCK_REALTIME) / 1000000);
}

#endif /* PODFLOW_CLOCK_H */
