// SPDX-License-Identifier: BSD-2-Clause
/* A small JSON writer with RFC 8259 escaping and UTF-8 validation. */
#include "jsonw.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define JSONW_MAX_DEPTH 16

struct jsonw {
	char *buf;
	size_t len;
	size_t cap;
	int err;
	int depth;
	unsigned char need_comma[JSONW_MAX_DEPTH];
};

struct jsonw *jsonw__new(void)
{
	struct jsonw *jw = calloc(1, sizeof(*jw));

	if (!jw)
		return NULL;
	jw->cap = 1024;
	jw->buf = malloc(jw->cap);
	if (!jw->buf) {
		free(jw);
		errno = ENOMEM;
		return NULL;
	}
	return jw;
}

void jsonw__free(struct jsonw *jw)
{
	if (!jw)
		return;
	free(jw->buf);
	free(jw);
}

void jsonw__reset(struct jsonw *jw)
{
	jw->len = 0;
	jw->err = 0;
	jw->depth = 0;
	jw->need_comma[0] = 0;
}

int jsonw__error(const struct jsonw *jw)
{
	return jw->err;
}

const char *jsonw__data(const struct jsonw *jw, size_t *len)
{
	*len = jw->len;
	return jw->buf;
}

static int reserve(struct jsonw *jw, size_t extra)
{
	size_t cap;
	char *nb;

	if (jw->err)
		return jw->err;
	if (jw->len + extra <= jw->cap)
		return 0;
	cap = jw->cap;
	while (cap < jw->len + extra)
		cap *= 2;
	nb = realloc(jw->buf, cap);
	if (!nb) {
		jw->err = -ENOMEM;
		return jw->err;
	}
	jw->buf = nb;
	jw->cap = cap;
	return 0;
}

static void put(struct jsonw *jw, const char *s, size_t n)
{
	if (reserve(jw, n))
		return;
	memcpy(jw->buf + jw->len, s, n);
	jw->len += n;
}

void jsonw__raw_char(struct jsonw *jw, char c)
{
	put(jw, &c, 1);
}

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/*
 * Whether any of the 8 bytes in w must be escaped or checked: below 0x20,
 * above 0x7e (DEL, and every byte of a UTF-8 sequence), '"' or '\\'.  Exact
 * as a yes or no (the bit tricks of "Bit Twiddling Hacks": hasless,
 * hasmore, haszero).
 */
static bool word_special(uint64_t w)
{
	uint64_t below = (w - ONES * 0x20) & ~w;
	uint64_t above = (w + ONES * (127 - 0x7e)) | w;
	uint64_t quote = w ^ (ONES * '"'), bslash = w ^ (ONES * '\\');

	return ((below | above | ((quote - ONES) & ~quote) | ((bslash - ONES) & ~bslash)) &
		HIGHS) != 0;
}

/* Bytes that can go into a JSON string as they are: printable ASCII but '"' and '\\'. */
static size_t plain_prefix(const unsigned char *s, size_t n)
{
	size_t i = 0;
	uint64_t w;

	/* eight at a time while none is special: a container id, a pod name */
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		if (word_special(w))
			break;
	}
	while (i < n && s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\')
		i++;
	return i;
}

char *jsonw_put_str(char *o, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	static const char hex[] = "0123456789abcdef";
	size_t plain = plain_prefix(s, n);

	*o++ = '"';
	memcpy(o, s, plain);
	o += plain;
	for (size_t i = plain; i < n; i++) {
		unsigned char c = s[i];
		size_t u;

		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			*o++ = (char)c;
		} else if (c == '\n' || c == '\t' || c == '\r') {
			*o++ = '\\';
			*o++ = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
		} else if (c >= 0x80 && (u = utf8_seq_len(s + i, n - i)) > 0) {
			memcpy(o, s + i, u);
			o += u;
			i += u - 1;
		} else {
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 0xf];
			o += 6;
		}
	}
	*o++ = '"';
	return o;
}

static void put_string(struct jsonw *jw, const char *str, size_t n)
{
	/* the common case, names and numbers-as-text: one copy */
	if (plain_prefix((const unsigned char *)str, n) == n) {
		if (reserve(jw, n + 2))
			return;
		jw->buf[jw->len++] = '"';
		memcpy(jw->buf + jw->len, str, n);
		jw->len += n;
		jw->buf[jw->len++] = '"';
		return;
	}
	/* worst case every byte becomes \u00XX */
	if (reserve(jw, JSONW_STR_MAX(n)))
		return;
	jw->len = (size_t)(jsonw_put_str(jw->buf + jw->len, str, n) - jw->buf);
}

char *jsonw__room(struct jsonw *jw, size_t n)
{
	return reserve(jw, n) ? NULL : jw->buf + jw->len;
}

void jsonw__commit(struct jsonw *jw, const char *end)
{
	if (!jw->err)
		jw->len = (size_t)(end - jw->buf);
}

void jsonw__raw(struct jsonw *jw, const char *s, size_t n)
{
	put(jw, s, n);
}

static void key(struct jsonw *jw, const char *k)
{
	size_t n = strlen(k);
	char *o;

	if (plain_prefix((const unsigned char *)k, n) != n) {
		/* a key that needs escaping: the general path */
		if (jw->need_comma[jw->depth])
			put(jw, ",", 1);
		jw->need_comma[jw->depth] = 1;
		put_string(jw, k, n);
		put(jw, ":", 1);
		return;
	}
	/* the usual literal key: one reservation, one copy */
	if (reserve(jw, n + 4))
		return;
	o = jw->buf + jw->len;
	if (jw->need_comma[jw->depth])
		*o++ = ',';
	jw->need_comma[jw->depth] = 1;
	*o++ = '"';
	memcpy(o, k, n);
	o += n;
	*o++ = '"';
	*o++ = ':';
	jw->len = (size_t)(o - jw->buf);
}

void jsonw__obj_begin(struct jsonw *jw)
{
	put(jw, "{", 1);
	if (jw->depth + 1 < JSONW_MAX_DEPTH)
		jw->depth++;
	jw->need_comma[jw->depth] = 0;
}

void jsonw__obj_end(struct jsonw *jw)
{
	put(jw, "}", 1);
	if (jw->depth > 0)
		jw->depth--;
}

void jsonw__kv_strn(struct jsonw *jw, const char *k, const char *val, size_t n)
{
	key(jw, k);
	put_string(jw, val, n);
}

void jsonw__kv_str(struct jsonw *jw, const char *k, const char *val)
{
	jsonw__kv_strn(jw, k, val ? val : "", val ? strlen(val) : 0);
}

static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
				     "25262728293031323334353637383940414243444546474849"
				     "50515253545556575859606162636465666768697071727374"
				     "75767778798081828384858687888990919293949596979899";

/* Decimal digits of v into the end of buf[24], two at a time; returns the first digit. */
static char *u64_digits(uint64_t v, char *end)
{
	char *p = end;

	while (v >= 100) {
		unsigned int d = (unsigned int)(v % 100) * 2;

		v /= 100;
		p -= 2;
		p[0] = digit_pairs[d];
		p[1] = digit_pairs[d + 1];
	}
	if (v >= 10) {
		p -= 2;
		p[0] = digit_pairs[v * 2];
		p[1] = digit_pairs[v * 2 + 1];
	} else {
		*--p = (char)('0' + v);
	}
	return p;
}

char *jsonw_put_u64(char *dst, uint64_t v)
{
	char num[24], *p = u64_digits(v, num + sizeof(num));
	size_t n = (size_t)(num + sizeof(num) - p);

	memcpy(dst, p, n);
	return dst + n;
}

void jsonw__kv_u64(struct jsonw *jw, const char *k, uint64_t val)
{
	char num[24], *p = u64_digits(val, num + sizeof(num));

	key(jw, k);
	put(jw, p, (size_t)(num + sizeof(num) - p));
}

void jsonw__kv_i64(struct jsonw *jw, const char *k, int64_t val)
{
	char num[24], *p;

	/* via the magnitude as unsigned: INT64_MIN has no positive twin */
	p = u64_digits(val < 0 ? 0 - (uint64_t)val : (uint64_t)val, num + sizeof(num));
	if (val < 0)
		*--p = '-';
	key(jw, k);
	put(jw, p, (size_t)(num + sizeof(num) - p));
}

void jsonw__kv_bool(struct jsonw *jw, const char *k, bool val)
{
	key(jw, k);
	if (val)
		put(jw, "true", 4);
	else
		put(jw, "false", 5);
}

void jsonw__kv_null(struct jsonw *jw, const char *k)
{
	key(jw, k);
	put(jw, "null", 4);
}

void jsonw__kv_f64(struct jsonw *jw, const char *k, double val)
{
	char num[32];
	int n;

	key(jw, k);
	/* JSON has no NaN or infinity */
	if (isnan(val) || isinf(val)) {
		put(jw, "null", 4);
		return;
	}
	n = snprintf(num, sizeof(num), "%.6g", val);
	put(jw, num, (size_t)n);
}

void jsonw__kv_obj_begin(struct jsonw *jw, const char *k)
{
	key(jw, k);
	jsonw__obj_begin(jw);
}

void jsonw__kv_arr_begin(struct jsonw *jw, const char *k)
{
	key(jw, k);
	put(jw, "[", 1);
	if (jw->depth + 1 < JSONW_MAX_DEPTH)
		jw->depth++;
	jw->need_comma[jw->depth] = 0;
}

void jsonw__arr_end(struct jsonw *jw)
{
	put(jw, "]", 1);
	if (jw->depth > 0)
		jw->depth--;
}

/* The separator before an array element (a key does this for object members). */
static void element(struct jsonw *jw)
{
	if (jw->need_comma[jw->depth])
		put(jw, ",", 1);
	jw->need_comma[jw->depth] = 1;
}

void jsonw__arr_str(struct jsonw *jw, const char *val)
{
	element(jw);
	put_string(jw, val ? val : "", val ? strlen(val) : 0);
}

void jsonw__arr_obj_begin(struct jsonw *jw)
{
	element(jw);
	jsonw__obj_begin(jw);
}

void jsonw__arr_u64(struct jsonw *jw, uint64_t val)
{
	char num[24], *p = u64_digits(val, num + sizeof(num));

	element(jw);
	put(jw, p, (size_t)(num + sizeof(num) - p));
}

void jsonw__str(struct jsonw *jw, const char *val)
{
	jsonw__arr_str(jw, val);
}
