/* SPDX-License-Identifier: BSD-2-Clause */
/* A small JSON writer (emitter only; all JSON *parsing* uses jansson). */
#ifndef PODFLOW_JSONW_H
#define PODFLOW_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Writes one JSON value at a time into a growing buffer.  Strings are
 * escaped per RFC 8259 section 7; bytes that are not valid UTF-8 (a
 * process's comm is arbitrary bytes) are written as \u00XX, reading the byte
 * as Latin-1, so the output is always valid UTF-8 JSON.  An allocation
 * failure is sticky: jsonw__error() reports it and the buffer stops growing.
 */
struct jsonw;

struct jsonw *jsonw__new(void);
void jsonw__free(struct jsonw *jw);
/* Empties the buffer, keeps its memory. */
void jsonw__reset(struct jsonw *jw);
/* 0 or -ENOMEM (sticky until reset). */
int jsonw__error(const struct jsonw *jw);
/* The bytes written so far; not NUL-terminated. */
const char *jsonw__data(const struct jsonw *jw, size_t *len);

void jsonw__obj_begin(struct jsonw *jw);
void jsonw__obj_end(struct jsonw *jw);
/* Appends a raw byte (e.g. '\n' between JSON lines). */
void jsonw__raw_char(struct jsonw *jw, char c);

void jsonw__kv_str(struct jsonw *jw, const char *key, const char *val);
/* A string of exactly n bytes (may contain NUL, escaped as \u0000). */
void jsonw__kv_strn(struct jsonw *jw, const char *key, const char *val, size_t n);
void jsonw__kv_u64(struct jsonw *jw, const char *key, uint64_t val);
void jsonw__kv_i64(struct jsonw *jw, const char *key, int64_t val);
void jsonw__kv_bool(struct jsonw *jw, const char *key, bool val);
void jsonw__kv_null(struct jsonw *jw, const char *key);
/* A ratio or measure: six significant digits ("0.0025", "1e-05"); NaN or infinity as null. */
void jsonw__kv_f64(struct jsonw *jw, const char *key, double val);

/* A nested object or array as the value of `key`; close with obj_end / arr_end. */
void jsonw__kv_obj_begin(struct jsonw *jw, const char *key);
void jsonw__kv_arr_begin(struct jsonw *jw, const char *key);
void jsonw__arr_end(struct jsonw *jw);
/* Array elements (inside kv_arr_begin ... arr_end). */
void jsonw__arr_str(struct jsonw *jw, const char *val);
void jsonw__arr_u64(struct jsonw *jw, uint64_t val);
/* A string as the whole document (an API's 400 reason) or as an array element. */
void jsonw__str(struct jsonw *jw, const char *val);
/* An object as an array element; close with obj_end. */
void jsonw__arr_obj_begin(struct jsonw *jw);

/*
 * For a formatter that writes a whole value at once into the buffer (the
 * flow record: one reservation instead of a call per field): room for n more
 * bytes at the end, which the caller fills and keeps with jsonw__commit (the
 * end of what it wrote, at most n bytes on).  NULL after an allocation
 * failure (sticky, as for every call).  The nesting state is not touched, so
 * what is written must be whole values, at the top level or after a key.
 */
char *jsonw__room(struct jsonw *jw, size_t n);
void jsonw__commit(struct jsonw *jw, const char *end);
/* Appends n bytes as they are (pre-formatted JSON, e.g. a cached fragment). */
void jsonw__raw(struct jsonw *jw, const char *s, size_t n);

/* The most bytes jsonw_put_str writes for n bytes of input. */
#define JSONW_STR_MAX(n) (6 * (size_t)(n) + 2)
/* The most bytes jsonw_put_u64 writes. */
#define JSONW_U64_MAX 20
/*
 * Write at dst, which has room, and return the end: a quoted JSON string of
 * str[0..n), escaped exactly as the kv functions escape it; a decimal.
 */
char *jsonw_put_str(char *dst, const char *str, size_t n);
char *jsonw_put_u64(char *dst, uint64_t v);

#endif /* PODFLOW_JSONW_H */
