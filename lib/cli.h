/* SPDX-License-Identifier: BSD-2-Clause */
/* Number parsing for command lines (strict: no guessing, range-checked), shared by the binaries. */
#ifndef PODFLOW_CLI_H
#define PODFLOW_CLI_H

#include <stdint.h>

/* Decimal integer in [min, max]; 0 or -ERANGE (also for signs, spaces, junk). */
int cli_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
/*
 * A byte count: digits with an optional binary suffix k/K/KiB, m/M/MiB,
 * g/G/GiB ("16MiB" = 16777216), in [min, max].  0 or -ERANGE.
 */
int cli_parse_bytes(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif /* PODFLOW_CLI_H */
