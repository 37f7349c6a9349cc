// SPDX-License-Identifier: BSD-2-Clause
/* Leveled logging to stderr: one line per call, prefixed by the program name. */
#define _GNU_SOURCE
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum log_level log_level_current = LOG_LEVEL_INFO;
static char log_ident[32] = "podflow";

void log_init(const char *ident, enum log_level level)
{
	snprintf(log_ident, sizeof(log_ident), "%s", ident);
	log_level_current = level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	static const char *const names[] = { "warn", "info", "debug" };

	for (unsigned int i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

static void log_line(const char *tag, const char *fmt, va_list ap)
{
	char line[1024], *big = NULL, *msg = line;
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	/* long messages (libbpf's verifier log) are kept whole, not cut */
	if (n >= (int)sizeof(line) && vasprintf(&big, fmt, ap2) >= 0)
		msg = big;
	va_end(ap2);
	if (n < 0)
		return;
	n = (int)strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	/* one fprintf per line, so concurrent lines never interleave */
	fprintf(stderr, "%s: %s: %s\n", log_ident, tag, msg);
	free(big);
}

char *log_flatten(char *s)
{
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

void log_vprintf(enum log_level level, const char *fmt, va_list ap)
{
	static const char *const tags[] = { "warn", "info", "debug" };

	if (level > log_level_current)
		return;
	log_line(tags[level], fmt, ap);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line("error", fmt, ap);
	va_end(ap);
}

void log_printf(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprintf(level, fmt, ap);
	va_end(ap);
}
