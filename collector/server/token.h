/* SPDX-License-Identifier: BSD-2-Clause */
/* The bearer token: read from a file, re-read when the file changes, compared in constant time. */
#ifndef PODFLOW_COLLECTOR_TOKEN_H
#define PODFLOW_COLLECTOR_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_MAX_LEN 4096

/* Thread-safe: one instance is shared by every worker. */
struct token_file;

/*
 * Reads the token from `path` (surrounding whitespace trimmed; empty, over
 * TOKEN_MAX_LEN bytes or with control characters inside is an error).
 * `recheck_ns`: the file is stat()ed again at most this often.  On failure
 * returns NULL with errno set and says why, one line, in `why`.
 */
struct token_file *token_file__new(const char *path, uint64_t recheck_ns, char *why, size_t len);
/*
 * The same for a token file other than ingest's: `what` (a string that
 * outlives the object, "--admin-api-token-file") names it in every message,
 * where token_file__new() says "--token-file".
 */
struct token_file *token_file__new_named(const char *what, const char *path, uint64_t recheck_ns,
					 char *why, size_t len);
void token_file__free(struct token_file *t);

/*
 * Follows the kubelet's atomic symlink swap: when the file the path resolves
 * to changed (device, inode, size, mtime or ctime), it is read again.  A file
 * that cannot be read or holds no valid token keeps the previous token in
 * force (warned once per change).  Returns 1 when a new token was loaded,
 * 0 when nothing changed, or a negative errno for a failed re-read.
 */
int token_file__refresh(struct token_file *t, uint64_t now_ns);

/*
 * True when `authz` (an Authorization header value, `len` bytes) is
 * "Bearer <token>" (scheme case-insensitive, RFC 9110 section 11.1) with
 * the current token.  The comparison takes the same time whatever the
 * presented value: both sides are hashed and the digests compared with
 * CRYPTO_memcmp, so neither content nor length leaks.
 */
bool token_file__check(struct token_file *t, const char *authz, size_t len);

/* The credentials of a "Bearer" Authorization value; 0 or -EINVAL. */
int token_parse_bearer(const char *authz, size_t len, const char **tok, size_t *tok_len);
/* Trims and validates a token file's content in place; 0 or -EINVAL. */
int token_normalize(char *buf, size_t *len);

#endif /* PODFLOW_COLLECTOR_TOKEN_H */
