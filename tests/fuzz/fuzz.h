/* SPDX-License-Identifier: BSD-2-Clause */
/* What every fuzz target shares: its entry points and the check that aborts with a reason. */
#ifndef PODFLOW_FUZZ_H
#define PODFLOW_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn, format(printf, 4, 5))) static inline void
fuzz_fail(const char *cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: %s: ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort(); /* libFuzzer keeps the input as a crash */
}

/* CHECK(cond) or CHECK(cond, "format", ...): abort, saying what did not hold and why. */
#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond))                                                  \
			fuzz_fail(#cond, __FILE__, __LINE__, "" __VA_ARGS__); \
	} while (0)

#endif /* PODFLOW_FUZZ_H */
