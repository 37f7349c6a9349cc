// SPDX-License-Identifier: BSD-2-Clause
/* The bearer token: read from a file, re-read when the file changes, compared in constant time. */
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define DIGEST_LEN 32

/*
 * One per collector, shared by every worker: they all switch to a rotated
 * token at the same request, never some workers before others.  The lock
 * covers the digest and the re-check schedule; hashing the presented token
 * happens outside it.
 */
struct token_file {
	pthread_mutex_t lock;
	const char *what; /* its name in messages: "--token-file" */
	char *path;
	uint64_t recheck_ns;
	uint64_t next_check_ns;
	struct stat st; /* of the file the token was last read from (or tried) */
	unsigned char digest[DIGEST_LEN];
};

/* 0 or -EIO (cannot happen with the default provider, but then nothing may compare equal) */
static int sha256(const void *data, size_t len, unsigned char out[DIGEST_LEN])
{
	unsigned int n = DIGEST_LEN;

	return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) && n == DIGEST_LEN ? 0 : -EIO;
}

int token_normalize(char *buf, size_t *len)
{
	size_t start = 0, end = *len;

	while (start < end && (buf[start] == ' ' || buf[start] == '\t' || buf[start] == '\n' ||
			       buf[start] == '\r'))
		start++;
	while (end > start && (buf[end - 1] == ' ' || buf[end - 1] == '\t' ||
			       buf[end - 1] == '\n' || buf[end - 1] == '\r'))
		end--;
	if (end == start || end - start > TOKEN_MAX_LEN)
		return -EINVAL;
	for (size_t i = start; i < end; i++)
		if ((unsigned char)buf[i] <= 0x20 || buf[i] == 0x7f)
			return -EINVAL;
	memmove(buf, buf + start, end - start);
	*len = end - start;
	buf[*len] = '\0';
	return 0;
}

/* Reads and hashes the token; fills *st with what was read.  0 or -errno. */
static int load(const char *what, const char *path, struct stat *st,
		unsigned char digest[DIGEST_LEN], char *why, size_t whylen)
{
	char buf[TOKEN_MAX_LEN + 64];
	size_t len = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(why, whylen, "%s %s: %s", what, path, strerror(-err));
		return err;
	}
	if (fstat(fd, st)) {
		err = -errno;
		snprintf(why, whylen, "%s %s: %s", what, path, strerror(-err));
		goto cleanup;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			snprintf(why, whylen, "%s %s: %s", what, path, strerror(-err));
			goto cleanup;
		}
		if (n == 0 || len + (size_t)n == sizeof(buf) - 1) {
			len += (size_t)n;
			break;
		}
		len += (size_t)n;
	}
	if (token_normalize(buf, &len)) {
		err = -EINVAL;
		snprintf(why, whylen, "%s %s: expected one token of 1 to %d printable characters",
			 what, path, TOKEN_MAX_LEN);
		goto cleanup;
	}
	if (sha256(buf, len, digest)) {
		err = -EIO;
		snprintf(why, whylen, "%s %s: SHA-256 unavailable in libcrypto", what, path);
	}
cleanup:
	/* the token does not linger on the stack */
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return err;
}

struct token_file *token_file__new(const char *path, uint64_t recheck_ns, char *why, size_t len)
{
	return token_file__new_named("--token-file", path, recheck_ns, why, len);
}

struct token_file *token_file__new_named(const char *what, const char *path, uint64_t recheck_ns,
					 char *why, size_t len)
{
	struct token_file *t = calloc(1, sizeof(*t));
	int err;

	if (!t || !(t->path = strdup(path))) {
		snprintf(why, len, "out of memory");
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->what = what;
	t->recheck_ns = recheck_ns;
	pthread_mutex_init(&t->lock, NULL);
	err = load(what, path, &t->st, t->digest, why, len);
	if (err) {
		token_file__free(t);
		errno = -err;
		return NULL;
	}
	return t;
}

void token_file__free(struct token_file *t)
{
	if (!t)
		return;
	OPENSSL_cleanse(t->digest, sizeof(t->digest));
	pthread_mutex_destroy(&t->lock);
	free(t->path);
	free(t);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int refresh_locked(struct token_file *t, uint64_t now_ns)
{
	unsigned char digest[DIGEST_LEN];
	char why[512];
	struct stat st;
	int err;

	if (now_ns < t->next_check_ns)
		return 0;
	t->next_check_ns = now_ns + t->recheck_ns;
	/* stat() follows the symlinks: a swapped ..data link shows as a new inode */
	if (stat(t->path, &st)) {
		err = -errno;
		/* between the unlink and the rename of a swap: keep the old token */
		if (t->st.st_ino != 0) {
			pr_warn("%s %s: %s; the previous token stays in force", t->what, t->path,
				strerror(-err));
			memset(&t->st, 0, sizeof(t->st));
		}
		return err;
	}
	if (same_file(&st, &t->st))
		return 0;
	err = load(t->what, t->path, &st, digest, why, sizeof(why));
	/* remember what we tried, so a bad file is warned about once, not every second */
	t->st = st;
	if (err) {
		pr_warn("%s; the previous token stays in force", why);
		return err;
	}
	memcpy(t->digest, digest, sizeof(digest));
	OPENSSL_cleanse(digest, sizeof(digest));
	pr_info("%s %s: token reloaded", t->what, t->path);
	return 1;
}

int token_file__refresh(struct token_file *t, uint64_t now_ns)
{
	int ret;

	pthread_mutex_lock(&t->lock);
	ret = refresh_locked(t, now_ns);
	pthread_mutex_unlock(&t->lock);
	return ret;
}

int token_parse_bearer(const char *authz, size_t len, const char **tok, size_t *tok_len)
{
	size_t i = 6;

	if (len < 7 || strncasecmp(authz, "Bearer", 6) != 0 ||
	    (authz[6] != ' ' && authz[6] != '\t'))
		return -EINVAL;
	while (i < len && (authz[i] == ' ' || authz[i] == '\t'))
		i++;
	while (len > i && (authz[len - 1] == ' ' || authz[len - 1] == '\t'))
		len--;
	if (i == len)
		return -EINVAL;
	*tok = authz + i;
	*tok_len = len - i;
	return 0;
}

bool token_file__check(struct token_file *t, const char *authz, size_t len)
{
	unsigned char digest[DIGEST_LEN];
	const char *tok = "";
	size_t tok_len = 0;
	bool ok;

	if (!authz || token_parse_bearer(authz, len, &tok, &tok_len))
		return false;
	if (sha256(tok, tok_len, digest))
		return false;
	pthread_mutex_lock(&t->lock);
	ok = CRYPTO_memcmp(digest, t->digest, DIGEST_LEN) == 0;
	pthread_mutex_unlock(&t->lock);
	OPENSSL_cleanse(digest, sizeof(digest));
	return ok;
}
