/* SPDX-License-Identifier: BSD-2-Clause */
/* Leveled logging to stderr, shared by both binaries (and libbpf's output). */
#ifndef PODFLOW_LOG_H
#define PODFLOW_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_WARN = 0,
	LOG_LEVEL_INFO = 1,
	LOG_LEVEL_DEBUG = 2,
};

extern enum log_level log_level_current;

/* `ident` is copied; it prefixes every line ("podflow-sidecar: ..."). */
void log_init(const char *ident, enum log_level level);
/* Parses "warn", "info" or "debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

void log_printf(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vprintf(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * Makes `s` one line in place: each control character becomes '?'.  For
 * text that quotes what a peer sent, so that it cannot forge log lines.
 * Returns s.
 */
char *log_flatten(char *s);

/* A fatal error: always printed, tagged "error"; the caller exits. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define pr_err(...) log_error(__VA_ARGS__)

/* The level is tested before the arguments are evaluated or formatted. */
#define pr_warn(...)                                             \
	do {                                                     \
		if (log_level_current >= LOG_LEVEL_WARN)         \
			log_printf(LOG_LEVEL_WARN, __VA_ARGS__); \
	} while (0)
#define pr_info(...)                                             \
	do {                                                     \
		if (log_level_current >= LOG_LEVEL_INFO)         \
			log_printf(LOG_LEVEL_INFO, __VA_ARGS__); \
	} while (0)
#define pr_debug(...)                                             \
	do {                                                      \
		if (log_level_current >= LOG_LEVEL_DEBUG)         \
			log_printf(LOG_LEVEL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif /* PODFLOW_LOG_H */
