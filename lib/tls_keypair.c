// SPDX-License-Identifier: BSD-2-Clause
/* A PEM certificate chain and its key from two files, re-read when they change (GnuTLS). */
#include "tls_keypair.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "file.h"
#include "log.h"

/* What stat() says of one file; err != 0 when it could not be stat()ed. */
struct stamp {
	int err;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct tls_keypair {
	char *cert_file;
	char *key_file;
	struct tls_keypair_gen *cur; /* in force; holds one reference of its own */
	struct tls_keypair_gen *old; /* replaced, still held by sessions */
	struct stamp loaded[2];	     /* the files as they were when `cur` was read */
	struct stamp refused[2];     /* the last pair refused: warned about once */
	uint64_t checked_ns;
	uint64_t reloads_ok;
	uint64_t reloads_failed;
};

static void take_stamp(const char *path, struct stamp *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (stat(path, &st)) {
		s->err = errno;
		return;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtime = st.st_mtim;
	s->ctime = st.st_ctim;
}

static bool same_stamp(const struct stamp *a, const struct stamp *b)
{
	return a->err == b->err && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* The whole file, at most TLS_KEYPAIR_FILE_MAX bytes; 0 or -errno with `why`. */
static int read_pem(const char *path, gnutls_datum_t *out, char *why, size_t whylen)
{
	char *buf;
	size_t n;
	int err = file_read(path, TLS_KEYPAIR_FILE_MAX, &buf, &n, why, whylen);

	if (err)
		return err;
	out->data = (unsigned char *)buf;
	out->size = (unsigned int)n;
	return 0;
}

static void gen_free(struct tls_keypair_gen *g)
{
	if (!g)
		return;
	for (unsigned int i = 0; i < g->n_pcert; i++)
		gnutls_pcert_deinit(&g->pcert[i]);
	gnutls_privkey_deinit(g->key);
	free(g);
}

/*
 * Reads and checks one pair.  GnuTLS's own credentials check that the key
 * is the certificate's (gnutls_certificate_set_x509_key_mem2); the
 * generation holds the same bytes as pcerts and a privkey for the retrieve
 * callback.  NULL with `why` (one line, naming the file).
 */
static struct tls_keypair_gen *gen_load(const char *cert_file, const char *key_file, char *why,
					size_t whylen)
{
	gnutls_datum_t cert = { 0 }, key = { 0 };
	gnutls_certificate_credentials_t check = NULL;
	struct tls_keypair_gen *g = NULL;
	unsigned int n = TLS_KEYPAIR_MAX_CHAIN;
	int rc;

	if (read_pem(cert_file, &cert, why, whylen) || read_pem(key_file, &key, why, whylen))
		goto fail;
	g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	rc = gnutls_pcert_list_import_x509_raw(g->pcert, &n, &cert, GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0 || n == 0) {
		snprintf(why, whylen, "%s: not a PEM certificate chain (of at most %d): %s",
			 cert_file, TLS_KEYPAIR_MAX_CHAIN,
			 rc < 0 ? gnutls_strerror(rc) : "no certificate");
		goto fail;
	}
	g->n_pcert = n;
	rc = gnutls_privkey_init(&g->key);
	if (rc >= 0)
		rc = gnutls_privkey_import_x509_raw(g->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		snprintf(why, whylen, "%s: not a PEM private key: %s", key_file,
			 gnutls_strerror(rc));
		goto fail;
	}
	rc = gnutls_certificate_allocate_credentials(&check);
	if (rc >= 0)
		rc = gnutls_certificate_set_x509_key_mem2(check, &cert, &key, GNUTLS_X509_FMT_PEM,
							  NULL, 0);
	if (rc < 0) {
		snprintf(why, whylen, "%s and %s: not a certificate and its key: %s", cert_file,
			 key_file, gnutls_strerror(rc));
		goto fail;
	}
	gnutls_certificate_free_credentials(check);
	free(cert.data);
	free(key.data);
	return g;
fail:
	if (check)
		gnutls_certificate_free_credentials(check);
	free(cert.data);
	free(key.data);
	gen_free(g);
	return NULL;
}

struct tls_keypair *tls_keypair__new(const char *cert_file, const char *key_file, char *why,
				     size_t whylen)
{
	struct tls_keypair *k = calloc(1, sizeof(*k));
	int err = -ENOMEM;

	if (!k)
		goto fail;
	k->cert_file = strdup(cert_file);
	k->key_file = strdup(key_file);
	if (!k->cert_file || !k->key_file) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	take_stamp(cert_file, &k->loaded[0]);
	take_stamp(key_file, &k->loaded[1]);
	k->cur = gen_load(cert_file, key_file, why, whylen);
	if (!k->cur) {
		err = -EINVAL;
		goto fail;
	}
	k->cur->refs = 1;
	return k;
fail:
	tls_keypair__free(k);
	errno = -err;
	return NULL;
}

/* Frees the replaced generations no session holds any more. */
static void collect(struct tls_keypair *k)
{
	struct tls_keypair_gen **p = &k->old;

	while (*p) {
		struct tls_keypair_gen *g = *p;

		if (g->refs) {
			p = &g->next;
			continue;
		}
		*p = g->next;
		gen_free(g);
	}
}

void tls_keypair__free(struct tls_keypair *k)
{
	if (!k)
		return;
	gen_free(k->cur);
	while (k->old) {
		struct tls_keypair_gen *g = k->old;

		k->old = g->next;
		gen_free(g);
	}
	free(k->cert_file);
	free(k->key_file);
	free(k);
}

int tls_keypair__refresh(struct tls_keypair *k, uint64_t now_ns)
{
	struct tls_keypair_gen *g;
	struct stamp now[2];
	char why[512];

	collect(k);
	if (k->checked_ns && now_ns - k->checked_ns < TLS_KEYPAIR_RECHECK_NS)
		return 0;
	k->checked_ns = now_ns;
	take_stamp(k->cert_file, &now[0]);
	take_stamp(k->key_file, &now[1]);
	if (same_stamp(&now[0], &k->loaded[0]) && same_stamp(&now[1], &k->loaded[1]))
		return 0;
	g = gen_load(k->cert_file, k->key_file, why, sizeof(why));
	if (!g) {
		/* tried again at every recheck: the rest of a rotation may be on its way */
		k->reloads_failed++;
		if (!same_stamp(&now[0], &k->refused[0]) || !same_stamp(&now[1], &k->refused[1]))
			pr_warn("TLS certificate not reloaded: %s; the previous one stays in force",
				why);
		k->refused[0] = now[0];
		k->refused[1] = now[1];
		return -EINVAL;
	}
	g->refs = 1;
	k->cur->refs--; /* its own reference: sessions keep it alive until they end */
	k->cur->next = k->old;
	k->old = k->cur;
	k->cur = g;
	k->loaded[0] = now[0];
	k->loaded[1] = now[1];
	k->reloads_ok++;
	pr_info("TLS certificate reloaded from %s", k->cert_file);
	collect(k);
	return 1;
}

struct tls_keypair_gen *tls_keypair__get(struct tls_keypair *k)
{
	k->cur->refs++;
	return k->cur;
}

void tls_keypair__put(struct tls_keypair_gen *g)
{
	if (g)
		g->refs--;
}

void tls_keypair__stats(const struct tls_keypair *k, uint64_t *ok, uint64_t *failed)
{
	*ok = k->reloads_ok;
	*failed = k->reloads_failed;
}
