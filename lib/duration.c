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
	{ "ns", 1ULL },
	{ "us", 1000ULL },
	{ "ms", DURATION_NS_PER_MS },
	{ "s", DURATION_NS_PER_S },
	{ "m", 60ULL * DURATION_NS_PER_S },
	{ "h", 3600ULL * DURATION_NS_PER_S },
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
	size_t off = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (ns == 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	/* largest unit first: 5400s -> "1h30m", 1500ms -> "1s500ms" */
	for (int i = (int)(sizeof(units) / sizeof(units[0])) - 1; i >= 0; i--) {
		uint64_t n = ns / units[i].ns;
		int w;

		if (!n)
			continue;
		ns -= n * units[i].ns;
		w = snprintf(buf + off, len - off, "%llu%s", (unsigned long long)n, units[i].name);
		if (w < 0 || (size_t)w >= len - off)
			break; /* truncated, still NUL-terminated */
		off += (size_t)w;
	}
	return buf;
}
