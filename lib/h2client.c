// SPDX-License-Identifier: BSD-2-Clause
/* A small HTTP/2 client (nghttp2, OpenSSL): one connection, many POST streams. */
#define _GNU_SOURCE
#include "h2client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define H2C_BODY_MAX	256
#define H2C_MAX_HEADERS 16

struct stream {
	bool active; /* a request whose `done` has not run */
	bool zombie; /* `done` ran (timed out) but nghttp2 has not closed the stream yet */
	int32_t id;
	const uint8_t *body;
	size_t len;
	size_t off;
	uint64_t deadline_ns;
	int status;
	char retry_after[64];
	char resp[H2C_BODY_MAX + 1];
	size_t resp_len;
	h2c_done_fn done;
	void *ctx;
};

struct h2c {
	struct h2c_opts o;
	bool tls;
	char host[256];
	char port[8];
	char authority[300];
	char path[512];
	char url[1100];
	SSL_CTX *ssl_ctx;
	int wake_fd;
	/* the connection */
	int fd;
	SSL *ssl;
	nghttp2_session *h2;
	bool goaway;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	uint64_t connections;
	/* streams */
	struct stream *st;
	uint32_t in_flight;
};

/* ---- URL ------------------------------------------------------------------ */

static int parse_url(struct h2c *c, const char *url, char *why, size_t whylen)
{
	const char *hp, *path, *colon;
	size_t hlen;

	if (strncmp(url, "http://", 7) == 0) {
		hp = url + 7;
	} else if (strncmp(url, "https://", 8) == 0) {
		hp = url + 8;
		c->tls = true;
	} else {
		snprintf(why, whylen, "%s: expected http://HOST:PORT or https://HOST:PORT", url);
		return -EINVAL;
	}
	path = strchr(hp, '/');
	hlen = path ? (size_t)(path - hp) : strlen(hp);
	if (hlen == 0 || hlen >= sizeof(c->authority)) {
		snprintf(why, whylen, "%s: no host", url);
		return -EINVAL;
	}
	memcpy(c->authority, hp, hlen);
	c->authority[hlen] = '\0';
	if (c->authority[0] == '[') { /* [v6]:port */
		const char *end = strchr(c->authority, ']');

		if (!end || (size_t)(end - c->authority - 1) >= sizeof(c->host)) {
			snprintf(why, whylen, "%s: bad IPv6 literal", url);
			return -EINVAL;
		}
		snprintf(c->host, sizeof(c->host), "%.*s", (int)(end - c->authority - 1),
			 c->authority + 1);
		colon = end[1] == ':' ? end + 1 : NULL;
	} else {
		colon = strrchr(c->authority, ':');
		snprintf(c->host, sizeof(c->host), "%.*s",
			 (int)(colon ? colon - c->authority : (long)hlen), c->authority);
	}
	snprintf(c->port, sizeof(c->port), "%s", colon ? colon + 1 : c->tls ? "443" : "80");
	if (!c->port[0] || strspn(c->port, "0123456789") != strlen(c->port) || atoi(c->port) == 0 ||
	    atoi(c->port) > 65535) {
		snprintf(why, whylen, "%s: bad port", url);
		return -EINVAL;
	}
	snprintf(c->path, sizeof(c->path), "%s", path && path[1] ? path : "/");
	snprintf(c->url, sizeof(c->url), "%s://%s%s", c->tls ? "https" : "http", c->authority,
		 c->path);
	return 0;
}

/* ---- connection ------------------------------------------------------------ */

static void fail_all(struct h2c *c, int err);

static void conn_close(struct h2c *c, int err)
{
	if (c->h2) {
		nghttp2_session_del(c->h2);
		c->h2 = NULL;
	}
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->out_len = c->out_off = 0;
	c->goaway = false;
	fail_all(c, err);
}

/* The slot of a stream nghttp2 still knows, live or zombie. */
static struct stream *slot_of(struct h2c *c, int32_t id)
{
	for (uint32_t i = 0; i < c->o.max_streams; i++)
		if ((c->st[i].active || c->st[i].zombie) && c->st[i].id == id)
			return &c->st[i];
	return NULL;
}

static struct stream *stream_of(struct h2c *c, int32_t id)
{
	struct stream *s = slot_of(c, id);

	return s && s->active ? s : NULL;
}

static void finish(struct h2c *c, struct stream *s, int err)
{
	h2c_done_fn done = s->done;
	void *ctx = s->ctx;
	int status = s->status;
	char ra[sizeof(s->retry_after)], body[sizeof(s->resp)];

	/* the callback may post again, into this very slot: copy out first */
	memcpy(ra, s->retry_after, sizeof(ra));
	memcpy(body, s->resp, sizeof(body));
	s->active = false;
	c->in_flight--;
	done(ctx, err, err ? 0 : status, err || !ra[0] ? NULL : ra, err ? "" : body);
}

static void fail_all(struct h2c *c, int err)
{
	for (uint32_t i = 0; i < c->o.max_streams; i++) {
		c->st[i].zombie = false; /* the session that knew it is gone */
		if (c->st[i].active)
			finish(c, &c->st[i], err);
	}
}

static ssize_t body_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
			 uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
	struct stream *s = source->ptr;
	size_t n = s->len - s->off;

	(void)session;
	(void)stream_id;
	(void)user_data;
	if (s->zombie) {
		/* timed out and reset: its body may be gone already, send nothing more */
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
		return 0;
	}
	if (n > length)
		n = length;
	memcpy(buf, s->body + s->off, n);
	s->off += n;
	if (s->off == s->len)
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user_data)
{
	struct stream *s = stream_of(user_data, frame->hd.stream_id);

	(void)session;
	(void)flags;
	if (!s || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
		char v[8];

		snprintf(v, sizeof(v), "%.*s", (int)(valuelen < 7 ? valuelen : 7), value);
		s->status = atoi(v);
	} else if (namelen == 11 && memcmp(name, "retry-after", 11) == 0) {
		snprintf(s->retry_after, sizeof(s->retry_after), "%.*s",
			 (int)(valuelen < sizeof(s->retry_after) - 1 ? valuelen
								     : sizeof(s->retry_after) - 1),
			 value);
	}
	return 0;
}

static int on_data(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
		   size_t len, void *user_data)
{
	struct stream *s = stream_of(user_data, stream_id);
	size_t room;

	(void)session;
	(void)flags;
	if (!s)
		return 0;
	/* keep the start of the body for error messages, drop the rest */
	room = H2C_BODY_MAX - s->resp_len;
	if (len < room)
		room = len;
	memcpy(s->resp + s->resp_len, data, room);
	s->resp_len += room;
	s->resp[s->resp_len] = '\0';
	return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
			   void *user_data)
{
	struct h2c *c = user_data;
	struct stream *s = slot_of(c, stream_id);

	(void)session;
	if (!s)
		return 0;
	if (s->zombie) {
		s->zombie = false; /* its slot is free from now on */
		return 0;
	}
	if (error_code == NGHTTP2_NO_ERROR && s->status)
		finish(c, s, 0);
	else if (error_code == NGHTTP2_REFUSED_STREAM)
		finish(c, s, -EAGAIN); /* never processed: RFC 9113 section 8.7 */
	else
		finish(c, s, -ECONNRESET);
	return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct h2c *c = user_data;

	(void)session;
	if (frame->hd.type == NGHTTP2_GOAWAY)
		c->goaway = true; /* no new streams here; the next request reconnects */
	return 0;
}

static int tls_setup(struct h2c *c, char *why, size_t whylen)
{
	static const unsigned char alpn[] = { 2, 'h', '2' };

	c->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ssl_ctx) {
		snprintf(why, whylen, "OpenSSL: cannot create a TLS context");
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_alpn_protos(c->ssl_ctx, alpn, sizeof(alpn))) {
		snprintf(why, whylen, "OpenSSL: cannot set ALPN");
		return -EIO;
	}
	if (c->o.ca_file ? SSL_CTX_load_verify_locations(c->ssl_ctx, c->o.ca_file, NULL) != 1
			 : SSL_CTX_set_default_verify_paths(c->ssl_ctx) != 1) {
		snprintf(why, whylen, "%s: %s", c->o.ca_file ? c->o.ca_file : "system CA store",
			 ERR_reason_error_string(ERR_get_error()));
		return -EINVAL;
	}
	if (c->o.cert_file &&
	    (SSL_CTX_use_certificate_chain_file(c->ssl_ctx, c->o.cert_file) != 1 ||
	     SSL_CTX_use_PrivateKey_file(c->ssl_ctx, c->o.key_file, SSL_FILETYPE_PEM) != 1 ||
	     SSL_CTX_check_private_key(c->ssl_ctx) != 1)) {
		snprintf(why, whylen, "client certificate %s / key %s: %s", c->o.cert_file,
			 c->o.key_file, ERR_reason_error_string(ERR_get_error()));
		return -EINVAL;
	}
	return 0;
}

/* Blocks at most connect_timeout: the caller is a sender thread, not a capture path. */
static int conn_open(struct h2c *c)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL, *a;
	struct timeval tv = { .tv_sec = (time_t)(c->o.connect_timeout_ns / 1000000000ULL),
			      .tv_usec = (long)(c->o.connect_timeout_ns % 1000000000ULL / 1000) };
	nghttp2_session_callbacks *cbs;
	int err = -EHOSTUNREACH, one = 1;

	if (getaddrinfo(c->host, c->port, &hints, &ai))
		return -EHOSTUNREACH;
	for (a = ai; a; a = a->ai_next) {
		c->fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			err = -errno;
			continue;
		}
		/* a blocking connect and handshake, bounded by these timeouts */
		setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(c->fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		err = errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(ai);
	if (c->fd < 0)
		return err;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (c->tls) {
		const unsigned char *proto;
		unsigned int plen;
		X509_VERIFY_PARAM *vp;
		struct in6_addr ip;

		c->ssl = SSL_new(c->ssl_ctx);
		if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
			goto tls_fail;
		vp = SSL_get0_param(c->ssl);
		/* verify the name we dialled: an IP literal against IP SANs, else DNS */
		if (inet_pton(AF_INET, c->host, &ip) == 1 ||
		    inet_pton(AF_INET6, c->host, &ip) == 1) {
			if (X509_VERIFY_PARAM_set1_ip_asc(vp, c->host) != 1)
				goto tls_fail;
		} else if (SSL_set_tlsext_host_name(c->ssl, c->host) != 1 ||
			   X509_VERIFY_PARAM_set1_host(vp, c->host, 0) != 1) {
			goto tls_fail;
		}
		if (SSL_connect(c->ssl) != 1)
			goto tls_fail;
		SSL_get0_alpn_selected(c->ssl, &proto, &plen);
		if (plen != 2 || memcmp(proto, "h2", 2) != 0) {
			pr_warn("%s did not negotiate HTTP/2 (ALPN h2)", c->url);
			conn_close(c, -EPROTO);
			return -EPROTO;
		}
	}
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	if (nghttp2_session_callbacks_new(&cbs)) {
		conn_close(c, -ENOMEM);
		return -ENOMEM;
	}
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	err = nghttp2_session_client_new(&c->h2, cbs, c);
	nghttp2_session_callbacks_del(cbs);
	if (err || nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, NULL, 0)) {
		conn_close(c, -ENOMEM);
		return -ENOMEM;
	}
	c->connections++;
	return 0;
tls_fail : {
	unsigned long e = ERR_get_error();

	/* logged here, once per failed handshake: the certificate is the usual cause */
	pr_warn("TLS handshake with %s failed: %s", c->url,
		e ? ERR_reason_error_string(e) : "connection closed or timed out");
	ERR_clear_error();
	conn_close(c, -EPROTO);
	return -EPROTO;
}
}

/* Sends what nghttp2 has queued: 0 (all sent, or the socket is full) or -errno. */
static int flush_out(struct h2c *c)
{
	for (;;) {
		ssize_t w;

		if (c->out_off == c->out_len) {
			const uint8_t *p;
			ssize_t n = nghttp2_session_mem_send(c->h2, &p);

			c->out_off = c->out_len = 0;
			if (n < 0)
				return -EIO;
			if (n == 0)
				return 0;
			if ((size_t)n > c->out_cap) {
				uint8_t *nb = realloc(c->out, (size_t)n);

				if (!nb)
					return -ENOMEM;
				c->out = nb;
				c->out_cap = (size_t)n;
			}
			memcpy(c->out, p, (size_t)n);
			c->out_len = (size_t)n;
		}
		if (c->ssl) {
			int r =
			    SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));

			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);

				return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ
					   ? 0
					   : -EPIPE;
			}
			w = r;
		} else {
			w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
			if (w < 0)
				return errno == EAGAIN ? 0 : -errno;
		}
		c->out_off += (size_t)w;
	}
}

static int read_in(struct h2c *c)
{
	uint8_t buf[16384];

	for (;;) {
		ssize_t r;

		if (c->ssl) {
			int n = SSL_read(c->ssl, buf, sizeof(buf));

			if (n <= 0) {
				int e = SSL_get_error(c->ssl, n);

				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					return 0;
				return e == SSL_ERROR_ZERO_RETURN ? -ECONNRESET : -EPIPE;
			}
			r = n;
		} else {
			r = recv(c->fd, buf, sizeof(buf), 0);
			if (r < 0)
				return errno == EAGAIN ? 0 : -errno;
			if (r == 0)
				return -ECONNRESET;
		}
		if (nghttp2_session_mem_recv(c->h2, buf, (size_t)r) < 0)
			return -EPROTO;
	}
}

/* ---- API -------------------------------------------------------------------- */

struct h2c *h2c__new(const struct h2c_opts *opts, char *why, size_t whylen)
{
	struct h2c *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return NULL;
	c->o = *opts;
	c->fd = -1;
	c->wake_fd = -1;
	if (!c->o.max_streams)
		c->o.max_streams = 8;
	err = parse_url(c, opts->url, why, whylen);
	if (!err && c->tls)
		err = tls_setup(c, why, whylen);
	if (err)
		goto fail;
	c->st = calloc(c->o.max_streams, sizeof(*c->st));
	c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!c->st || c->wake_fd < 0) {
		err = -ENOMEM;
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	return c;
fail:
	h2c__free(c);
	errno = -err;
	return NULL;
}

void h2c__free(struct h2c *c)
{
	if (!c)
		return;
	if (c->st)
		conn_close(c, -ECANCELED);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	SSL_CTX_free(c->ssl_ctx);
	free(c->out);
	free(c->st);
	free(c);
}

int h2c__post(struct h2c *c, const void *body, size_t len, const struct h2c_header *headers,
	      size_t n_headers, h2c_done_fn done, void *ctx)
{
	nghttp2_nv nv[4 + H2C_MAX_HEADERS];
	nghttp2_data_provider prd;
	struct stream *s = NULL;
	size_t n = 0;
	int32_t id;
	int err;

	if (n_headers > H2C_MAX_HEADERS)
		return -EINVAL;
	for (uint32_t i = 0; i < c->o.max_streams && !s; i++)
		if (!c->st[i].active && !c->st[i].zombie)
			s = &c->st[i];
	if (!s)
		return -EBUSY;
	if (c->h2 && c->goaway && c->in_flight == 0)
		conn_close(c, -EAGAIN); /* drained after a GOAWAY: start afresh */
	if (c->h2 && c->goaway)
		return -EBUSY; /* the old connection is draining */
	if (!c->h2) {
		err = conn_open(c);
		if (err)
			return err;
	}
#define NV(n, v, vl) \
	((nghttp2_nv){ (uint8_t *)(n), (uint8_t *)(v), strlen(n), (vl), NGHTTP2_NV_FLAG_NONE })
	nv[n++] = NV(":method", "POST", 4);
	nv[n++] = NV(":scheme", c->tls ? "https" : "http", c->tls ? 5 : 4);
	nv[n++] = NV(":authority", c->authority, strlen(c->authority));
	nv[n++] = NV(":path", c->path, strlen(c->path));
	for (size_t i = 0; i < n_headers; i++)
		nv[n++] = NV(headers[i].name, headers[i].value, strlen(headers[i].value));
#undef NV
	memset(s, 0, sizeof(*s));
	s->body = body;
	s->len = len;
	s->done = done;
	s->ctx = ctx;
	s->deadline_ns = clock_mono_ns() + c->o.request_timeout_ns;
	prd.source.ptr = s;
	prd.read_callback = body_read;
	id = nghttp2_submit_request(c->h2, NULL, nv, n, &prd, NULL);
	if (id < 0)
		return id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? -EBUSY : -EIO;
	s->id = id;
	s->active = true;
	c->in_flight++;
	return 0;
}

int h2c__run(struct h2c *c, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = c->wake_fd, .events = POLLIN }, { .fd = -1 } };
	uint64_t now, wake;
	int err = 0;

	if (c->h2) {
		err = flush_out(c);
		p[1].fd = c->fd;
		p[1].events =
		    POLLIN |
		    (c->out_off < c->out_len || nghttp2_session_want_write(c->h2) ? POLLOUT : 0);
	}
	if (!err && poll(p, c->h2 ? 2 : 1, timeout_ms) > 0 && (p[0].revents & POLLIN))
		(void)!read(c->wake_fd, &wake, sizeof(wake));
	if (!err && c->h2 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
		err = read_in(c);
	if (!err && c->h2)
		err = flush_out(c);
	if (err) {
		conn_close(c, err == -EPROTO ? -EPROTO : -ECONNRESET);
		return err;
	}
	/* streams past their deadline: reset and report */
	now = clock_mono_ns();
	for (uint32_t i = 0; c->h2 && i < c->o.max_streams; i++) {
		struct stream *s = &c->st[i];

		if (s->active && now > s->deadline_ns) {
			nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
			s->zombie = true; /* until nghttp2 closes it: see body_read */
			finish(c, s, -ETIMEDOUT);
		}
	}
	/* a connection nobody will use again after the server's GOAWAY */
	if (c->h2 && c->goaway && c->in_flight == 0)
		conn_close(c, -EAGAIN);
	else if (c->h2 && !nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
		conn_close(c, -ECONNRESET);
	return 0;
}

void h2c__wakeup(struct h2c *c)
{
	uint64_t one = 1;

	(void)!write(c->wake_fd, &one, sizeof(one));
}

uint32_t h2c__in_flight(const struct h2c *c)
{
	return c->in_flight;
}

uint64_t h2c__connections(const struct h2c *c)
{
	return c->connections;
}

const char *h2c__url(const struct h2c *c)
{
	return c->url;
}
