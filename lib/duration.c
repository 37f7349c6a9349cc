// SPDX-License-Identifier: BSD-2-Clause
/* Parsing of human durations into nanoseconds, with overflow checks. */
#include "duration.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	uint64_t ns;
} units[] = {
    /* longest names first so "ms" is not read as "m" followed by garbage */
    {"ns", 1ULL},
    {"us", 1000ULL},
    {"ms", DURATION_NS_PER_MS},
    {"s", DURATION_NS_PER_S},
    {"m", 60ULL * DURATION_NS_PER_S},
    {"h", 3600ULL * DURATION_NS_PER_S},
};

int duration_parse(const char *s, uint64_t *out_ns)
{
	uint64_t total = 0;

	if (!s || !*s)
		return -EINVAL;
	while (*s) {
		unsigned long long n;
		uint64_t unit = 0, term;
		size_t ulen = 0;
		char *end;

		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		errno = 0;
		n = strtoull(s, &end, 10);
		if (errno == ERANGE)
			return -ERANGE;
		s = end;
		for (unsigned int i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t l = strlen(units[i].name);

			if (strncmp(s, units[i].name, l) == 0 && l > ulen &&
			    !isalpha((unsigned char)s[l])) {
				unit = units[i].ns;
				ulen = l;
			}
		}
		if (!unit)
			return -EINVAL;
		s += ulen;
		if (n > UINT64_MAX / unit)
			return -ERANGE;
		term = n * unit;
		if (total > UINT64_MAX - term)
			return -ERANGE;
		total += term;
	}
	*out_ns = total;
	return 0;
}

char *duration_format(uint64_t ns, char *buf, unsigned long len)
{
	if (ns % DURATION_NS_PER_S == 0) {
		uint64_t s = ns / DURATION_NS_PER_S;

		if (s >= 60 && s % 60 == 0)
			snprintf(buf, len, "%llum", (unsigned long long)(s / 60));
		else
			snprintf(buf, len, "%llus", (unsigned long long)s);
	} else if (ns % DURATION_NS_PER_MS == 0) {
		snprintf(buf, len, "%llums", (unsigned long long)(ns / DURATION_NS_PER_MS));
	} else {
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
	}
	return buf;
}
