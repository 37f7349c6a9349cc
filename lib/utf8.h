/* SPDX-License-Identifier: BSD-2-Clause */
/* UTF-8 validation (RFC 3629), once for the wire decoder, the JSON writer and the metrics. */
#ifndef PODFLOW_UTF8_H
#define PODFLOW_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Length of the valid UTF-8 sequence at s[0..n): 1 for an ASCII byte (NUL
 * included), 2 to 4 for a multi-byte sequence; 0 when it is not valid (a
 * continuation byte, an overlong form, a surrogate, past U+10FFFF) or is
 * cut by n.
 */
size_t utf8_seq_len(const unsigned char *s, size_t n);
/* Offset of the first byte of s[0..n) that is not part of valid UTF-8, or a NUL; n if none. */
size_t utf8_bad_at(const unsigned char *s, size_t n);
/* Whether the NUL-terminated `s` is valid UTF-8 throughout. */
bool utf8_valid(const char *s);

#endif /* PODFLOW_UTF8_H */
