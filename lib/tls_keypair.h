/* SPDX-License-Identifier: BSD-2-Clause */
/* A PEM certificate chain and its key from two files, re-read when they change (GnuTLS). */
#ifndef PODFLOW_TLS_KEYPAIR_H
#define PODFLOW_TLS_KEYPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/abstract.h>

/*
 * cert-manager (or an operator) rotates a certificate by rewriting its
 * Secret; the kubelet then swaps the volume's `..data` symlink, so both
 * files change at once, each a new inode.  The pair is stat()ed at most
 * once per TLS_KEYPAIR_RECHECK_NS (following symlinks: device, inode,
 * size, mtime and ctime of both); a change re-reads both, and the new pair
 * is put in force only when it parses and the key matches the
 * certificate.  A bad pair (one file read mid-rotation, a key of another
 * certificate) keeps the pair in force, is warned about once per change,
 * and is tried again at the next recheck.
 *
 * Each pair in force is a generation, referenced by the TLS sessions that
 * presented it: GnuTLS keeps the certificate and key a retrieve callback
 * returned for the session's whole life (it neither copies nor frees
 * them), so a generation is freed only once no session holds it and a
 * newer one is in force.
 */
#define TLS_KEYPAIR_RECHECK_NS (1000ULL * 1000 * 1000)
#define TLS_KEYPAIR_MAX_CHAIN  16	  /* certificates in one chain */
#define TLS_KEYPAIR_FILE_MAX   (1u << 20) /* a Secret holds at most 1 MiB */

struct tls_keypair;

/* One pair in force, as presented to a session (tls_keypair__get). */
struct tls_keypair_gen {
	gnutls_pcert_st pcert[TLS_KEYPAIR_MAX_CHAIN];
	unsigned int n_pcert;
	gnutls_privkey_t key;
	uint32_t refs;		      /* sessions holding it (tls_keypair__get) */
	struct tls_keypair_gen *next; /* older generations waiting for their sessions */
};

/*
 * Reads both files now.  NULL with errno set and one line in `why` naming
 * the file (missing, not PEM, the key not the certificate's).
 */
struct tls_keypair *tls_keypair__new(const char *cert_file, const char *key_file, char *why,
				     size_t whylen);
/* Frees every generation: only once no session can use them (the server stopped). */
void tls_keypair__free(struct tls_keypair *k);

/*
 * At most once per TLS_KEYPAIR_RECHECK_NS (`now_ns` monotonic): re-reads
 * the pair if either file changed.  1 when a new pair is in force, 0 when
 * nothing changed (or it is not time yet), -errno when the changed files
 * are not a usable pair (the previous one stays; warned once per change).
 * Also frees the old generations no session holds any more.
 */
int tls_keypair__refresh(struct tls_keypair *k, uint64_t now_ns);

/* The pair in force, with a reference the caller drops with tls_keypair__put(). */
struct tls_keypair_gen *tls_keypair__get(struct tls_keypair *k);
/* Drops a reference (NULL: nothing); the generation is freed at the next refresh or free. */
void tls_keypair__put(struct tls_keypair_gen *g);

/* Reloads that put a new pair in force, and those refused. */
void tls_keypair__stats(const struct tls_keypair *k, uint64_t *ok, uint64_t *failed);

#endif /* PODFLOW_TLS_KEYPAIR_H */
