/* SPDX-License-Identifier: BSD-2-Clause */
/* The TLS server context: certificate, key, TLS 1.2+, ALPN "h2" only. */
#ifndef PODFLOW_COLLECTOR_TLS_H
#define PODFLOW_COLLECTOR_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

/*
 * Loads the certificate chain and key and checks they match.  A client
 * that does not offer "h2" in ALPN fails the handshake with the
 * no_application_protocol alert (RFC 7301 section 3.2).  With `client_ca`
 * (may be NULL) every client must present a certificate that verifies
 * against it (mTLS), or the handshake fails.  NULL with one line in `why`
 * (OpenSSL's reason included) on failure.  Shared by every worker: an
 * SSL_CTX is safe to create SSL objects from concurrently.
 */
SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file, const char *client_ca,
			    char *why, size_t len);
/* 1 when the handshake negotiated "h2". */
int tls_alpn_is_h2(const SSL *ssl);
/* The first queued OpenSSL error as text (and clears the queue). */
const char *tls_last_error(char *buf, size_t len);

#endif /* PODFLOW_COLLECTOR_TLS_H */
