// SPDX-License-Identifier: BSD-2-Clause
/* Number parsing for command lines (strict: no guessing, range-checked). */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || s[0] < '0' || s[0] > '9')
		return -ERANGE;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int cli_parse_bytes(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	static const struct {
		const char *suffix;
		unsigned int shift;
	} units[] = {
		{ "", 0 },   { "k", 10 },   { "K", 10 }, { "KiB", 10 }, { "m", 20 },
		{ "M", 20 }, { "MiB", 20 }, { "g", 30 }, { "G", 30 },	{ "GiB", 30 },
	};
	unsigned long long v;
	char *end;

	if (!s || s[0] < '0' || s[0] > '9')
		return -ERANGE;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -ERANGE;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (v > (UINT64_MAX >> units[i].shift))
			return -ERANGE;
		v <<= units[i].shift;
		if (v < min || v > max)
			return -ERANGE;
		*out = v;
		return 0;
	}
	return -ERANGE;
}
