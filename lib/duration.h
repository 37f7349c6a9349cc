/* SPDX-License-Identifier: BSD-2-Clause */
/* Parsing of human durations ("500ms", "10s", "1m30s") into nanoseconds. */
#ifndef PODFLOW_DURATION_H
#define PODFLOW_DURATION_H

#include <stdint.h>

#define DURATION_NS_PER_MS 1000000ULL
#define DURATION_NS_PER_S  1000000000ULL

/*
 * Accepts one or more <digits><unit> terms, unit one of ns, us, ms, s, m, h
 * ("1m30s", "250ms").  A bare number is rejected: the unit is never guessed.
 * Returns 0, -EINVAL (syntax) or -ERANGE (overflows 64-bit nanoseconds).
 */
int duration_parse(const char *s, uint64_t *out_ns);

/* Formats as the parser reads it ("500ms", "1m30s", "1h", "0s") into buf; returns buf. */
char *duration_format(uint64_t ns, char *buf, unsigned long len);

#endif /* PODFLOW_DURATION_H */
