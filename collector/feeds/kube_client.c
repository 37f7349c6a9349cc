// SPDX-License-Identifier: BSD-2-Clause
/* The pod watch's Kubernetes API client: /api/v1/pods list pages and watch streams (libcurl). */
#define _GNU_SOURCE
#include "kube_client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "log.h"
#include "token.h"

#define SA_DIR		    "/var/run/secrets/kubernetes.io/serviceaccount"
#define ERR_BODY_MAX	    4096 /* bytes kept of a non-200 body, for its Status.message */
#define POLL_MS		    250	 /* longest curl_multi_poll; cancel uses curl_multi_wakeup anyway */
#define WATCH_IDLE_EXTRA_MS 30000
#define MSG_MAX		    256 /* one error line; the owner keeps no more (KUBE_ERROR_MAX) */

enum xfer_mode { XFER_LIST, XFER_WATCH, XFER_POST };

struct kube_client {
	/* options, strings owned */
	char *api_url, *token_file, *ca_file;
	bool allow_http;
	uint32_t connect_timeout_ms, list_timeout_ms;
	size_t max_event_bytes;
	kube_client_error_fn on_error;
	void *ctx;
	char last_msg[MSG_MAX]; /* the last failure reported: kube_client__new's `why` */

	int cancelled;		     /* atomic */
	struct kube_client_stats st; /* atomics */

	/* the requesting thread's state below */
	CURLM *multi;
	CURL *easy;
	struct curl_slist *headers;
	char curl_err[CURL_ERROR_SIZE];
	char *token;
	struct stat token_st;
	bool token_loaded;

	/* one transfer */
	enum xfer_mode mode;
	const struct kube_client_watch_cb *watch;
	long status;
	char *buf; /* list body, error body, or the watch line being assembled */
	size_t len, cap;
	int stream_err; /* set by the body callback to end the transfer: -EMSGSIZE, the line's, ... */
	int64_t last_rx_ms;
};

static bool cancelled(const struct kube_client *c)
{
	return __atomic_load_n(&c->cancelled, __ATOMIC_ACQUIRE);
}

static void count(uint64_t *field, uint64_t n)
{
	__atomic_fetch_add(field, n, __ATOMIC_RELAXED);
}

static void __attribute__((format(printf, 2, 3)))
report(struct kube_client *c, const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->last_msg, sizeof(c->last_msg), "%s", msg);
	if (c->on_error)
		c->on_error(c->ctx, msg);
}

static int curl_to_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OK:
		return 0;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return -EPROTO;
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		return -ECONNRESET;
	default:
		return -EIO;
	}
}

static int buf_append(struct kube_client *c, const char *p, size_t n, size_t max)
{
	if (c->len + n > max)
		return -EMSGSIZE;
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		char *b;

		while (cap < c->len + n + 1)
			cap *= 2;
		b = realloc(c->buf, cap);
		if (!b)
			return -ENOMEM;
		c->buf = b;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return 0;
}

/* One line, without its '\n'; blank lines are keep-alives, not events. */
static int watch_line(struct kube_client *c, const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char)line[i]))
			return c->watch->line(c->watch->ctx, line, len);
	return 0;
}

/* Splits the stream into lines, which may be cut anywhere across chunks. */
static int watch_feed(struct kube_client *c, const char *p, size_t n)
{
	while (n && !c->stream_err) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;

		if (c->len + take > c->max_event_bytes) {
			count(&c->st.oversized_events, 1);
			report(c, "watch: event over %zu bytes, reconnecting", c->max_event_bytes);
			return -EMSGSIZE;
		}
		if (nl && c->len == 0) {
			c->stream_err =
			    watch_line(c, p, take); /* the whole line is in this chunk */
		} else {
			int err = buf_append(c, p, take, c->max_event_bytes);

			if (err)
				return err;
			if (nl) {
				c->stream_err = watch_line(c, c->buf, c->len);
				c->len = 0;
			}
		}
		if (!nl)
			break;
		p = nl + 1;
		n -= take + 1;
	}
	return c->stream_err;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct kube_client *c = ud;
	size_t len = size * n;

	if ((len == 2 && p[0] == '\r' && p[1] == '\n') || (len == 1 && p[0] == '\n')) {
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
		if (c->mode == XFER_WATCH && c->status == 200 && c->watch->connected)
			c->watch->connected(c->watch->ctx);
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct kube_client *c = ud;
	size_t len = size * n;
	int err;

	count(&c->st.bytes, len);
	c->last_rx_ms = clock_mono_ms();
	if (c->status != 200) {
		/* an error body: keep its start for the Status message */
		if (c->len < ERR_BODY_MAX)
			buf_append(c, p, len < ERR_BODY_MAX - c->len ? len : ERR_BODY_MAX - c->len,
				   ERR_BODY_MAX);
		return len;
	}
	if (c->mode == XFER_LIST) {
		err = buf_append(c, p, len, KUBE_LIST_PAGE_MAX);
	} else if (c->mode == XFER_POST) {
		err = buf_append(c, p, len, KUBE_POST_ANSWER_MAX);
	} else {
		err = watch_feed(c, p, len);
	}
	if (err) {
		if (!c->stream_err)
			c->stream_err = err;
		return 0; /* CURLE_WRITE_ERROR: ends the transfer */
	}
	return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	return cancelled(ud) ? 1 : 0;
}

/* Re-reads the token file when it changed (the kubelet rotates projected tokens). */
static int refresh_token(struct kube_client *c)
{
	char buf[TOKEN_MAX_LEN + 64], *hdr = NULL, *tok;
	struct curl_slist *h = NULL;
	struct stat st;
	size_t len = 0;
	int fd, err = 0;

	if (!c->token_file)
		return 0;
	if (stat(c->token_file, &st)) {
		err = -errno;
		report(c, "token file %s: %s", c->token_file, strerror(-err));
		return c->token_loaded ? 0 : err; /* the previous token stays in force */
	}
	if (c->token_loaded && st.st_dev == c->token_st.st_dev && st.st_ino == c->token_st.st_ino &&
	    st.st_size == c->token_st.st_size && st.st_mtim.tv_sec == c->token_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == c->token_st.st_mtim.tv_nsec &&
	    st.st_ctim.tv_sec == c->token_st.st_ctim.tv_sec &&
	    st.st_ctim.tv_nsec == c->token_st.st_ctim.tv_nsec)
		return 0;
	fd = open(c->token_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		report(c, "token file %s: %s", c->token_file, strerror(-err));
		return c->token_loaded ? 0 : err;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == sizeof(buf) - 1)
			break;
	}
	close(fd);
	buf[len] = '\0';
	if (token_normalize(buf, &len)) {
		report(c, "token file %s: expected one token of 1 to %d printable characters",
		       c->token_file, TOKEN_MAX_LEN);
		err = c->token_loaded ? 0 : -EINVAL;
		goto cleanup;
	}
	tok = strdup(buf);
	if (!tok || asprintf(&hdr, "Authorization: Bearer %s", buf) < 0 ||
	    !(h = curl_slist_append(NULL, "Accept: application/json")) ||
	    !curl_slist_append(h, "Content-Type: application/json") || !curl_slist_append(h, hdr)) {
		free(tok);
		curl_slist_free_all(h);
		err = c->token_loaded ? 0 : -ENOMEM;
		goto cleanup;
	}
	if (c->token_loaded)
		pr_info("kube: token file %s changed, using the new token\n", c->token_file);
	free(c->token);
	c->token = tok;
	curl_slist_free_all(c->headers);
	c->headers = h;
	c->token_st = st;
	c->token_loaded = true;
cleanup:
	if (hdr) {
		explicit_bzero(hdr, strlen(hdr));
		free(hdr);
	}
	explicit_bzero(buf, sizeof(buf));
	return err;
}

/*
 * One GET.  Returns 0 when the transfer completed (c->status says how) or
 * a negative errno: transport (reported here), -ECANCELED (cancelled), or
 * the body callback's c->stream_err.
 */
static int perform(struct kube_client *c, const char *url, enum xfer_mode mode, int64_t idle_ms,
		   const char *post, struct kube_response *out)
{
	CURLMcode mc = CURLM_OK;
	CURLcode res = CURLE_OK;
	bool done = false;
	CURLMsg *msg;
	const char *what = mode == XFER_LIST ? "list" : mode == XFER_WATCH ? "watch" : "post";
	int running, q, err;

	c->status = 0;
	c->len = 0;
	err = refresh_token(c);
	if (err)
		goto out;
	c->mode = mode;
	c->stream_err = 0;
	c->last_rx_ms = clock_mono_ms();
	c->curl_err[0] = '\0';
	curl_easy_setopt(c->easy, CURLOPT_URL, url);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	if (post) {
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, post);
	} else {
		curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
	}
	/* lists may come gzip'd; a watch must not (it would hold events back) */
	curl_easy_setopt(c->easy, CURLOPT_ACCEPT_ENCODING, mode == XFER_LIST ? "" : NULL);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS,
			 mode != XFER_WATCH ? (long)c->list_timeout_ms : 0L);
	mc = curl_multi_add_handle(c->multi, c->easy);
	if (mc != CURLM_OK) {
		report(c, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
		err = -ENOMEM;
		goto out;
	}
	while (!done) {
		mc = curl_multi_perform(c->multi, &running);
		if (mc != CURLM_OK)
			break;
		while ((msg = curl_multi_info_read(c->multi, &q)))
			if (msg->msg == CURLMSG_DONE) {
				res = msg->data.result;
				done = true;
			}
		if (done || !running)
			break;
		if (cancelled(c)) {
			res = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		/* no byte for longer than the server was asked to keep the watch: dead peer */
		if (idle_ms > 0 && clock_mono_ms() - c->last_rx_ms > idle_ms) {
			res = CURLE_OPERATION_TIMEDOUT;
			snprintf(c->curl_err, sizeof(c->curl_err), "no data for %lld ms",
				 (long long)idle_ms);
			break;
		}
		mc = curl_multi_poll(c->multi, NULL, 0, POLL_MS, NULL);
		if (mc != CURLM_OK)
			break;
	}
	curl_multi_remove_handle(c->multi, c->easy);
	if (mc != CURLM_OK) {
		report(c, "%s %s: curl_multi: %s", what, c->api_url, curl_multi_strerror(mc));
		count(&c->st.transport_errors, 1);
		err = -EIO;
	} else if (cancelled(c)) {
		err = -ECANCELED;
	} else if (c->stream_err) {
		err = c->stream_err;
	} else if (res != CURLE_OK) {
		err = curl_to_errno(res);
		count(&c->st.transport_errors, 1);
		report(c, "%s %s: %s", what, c->api_url,
		       c->curl_err[0] ? c->curl_err : curl_easy_strerror(res));
	}
out:
	out->status = c->status;
	out->body = c->buf ? c->buf : "";
	out->len = c->len;
	return err;
}

int kube_client__list(struct kube_client *c, uint32_t limit, const char *cont,
		      struct kube_response *out)
{
	char *url = NULL, *esc = NULL;
	int err;

	*out = (struct kube_response){ .body = "" };
	if (cont) {
		esc = curl_easy_escape(c->easy, cont, 0);
		if (!esc)
			return -ENOMEM;
	}
	if (asprintf(&url, "%s/api/v1/pods?limit=%u%s%s", c->api_url, limit,
		     esc ? "&continue=" : "", esc ? esc : "") < 0) {
		curl_free(esc);
		return -ENOMEM;
	}
	curl_free(esc);
	err = perform(c, url, XFER_LIST, 0, NULL, out);
	if (err == -EMSGSIZE)
		report(c, "list: a page over %u bytes", KUBE_LIST_PAGE_MAX);
	free(url);
	return err;
}

int kube_client__watch(struct kube_client *c, const char *rv, uint32_t timeout_s,
		       const struct kube_client_watch_cb *cb, struct kube_response *out)
{
	char *url = NULL, *esc = curl_easy_escape(c->easy, rv, 0);
	int err;

	*out = (struct kube_response){ .body = "" };
	if (!esc || asprintf(&url,
			     "%s/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=%s"
			     "&timeoutSeconds=%u",
			     c->api_url, esc, timeout_s) < 0) {
		curl_free(esc);
		return -ENOMEM;
	}
	curl_free(esc);
	c->watch = cb;
	err =
	    perform(c, url, XFER_WATCH, (int64_t)timeout_s * 1000 + WATCH_IDLE_EXTRA_MS, NULL, out);
	c->watch = NULL;
	free(url);
	return err;
}

int kube_client__post(struct kube_client *c, const char *path, const char *body,
		      struct kube_response *out)
{
	char *url = NULL;
	int err;

	*out = (struct kube_response){ .body = "" };
	if (asprintf(&url, "%s%s", c->api_url, path) < 0)
		return -ENOMEM;
	err = perform(c, url, XFER_POST, 0, body, out);
	if (err == -EMSGSIZE)
		report(c, "POST %s: an answer over %u bytes", path, KUBE_POST_ANSWER_MAX);
	free(url);
	return err;
}

void kube_client__cancel(struct kube_client *c)
{
	__atomic_store_n(&c->cancelled, 1, __ATOMIC_RELEASE);
	curl_multi_wakeup(c->multi);
}

void kube_client__stats(const struct kube_client *c, struct kube_client_stats *out)
{
	out->bytes = __atomic_load_n(&c->st.bytes, __ATOMIC_RELAXED);
	out->transport_errors = __atomic_load_n(&c->st.transport_errors, __ATOMIC_RELAXED);
	out->oversized_events = __atomic_load_n(&c->st.oversized_events, __ATOMIC_RELAXED);
}

/* ---- lifecycle ---- */

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

struct kube_client *kube_client__new(const struct kube_client_opts *opts,
				     kube_client_error_fn on_error, void *ctx, char *why,
				     size_t len)
{
	const char *token_file = opts->token_file, *ca_file = opts->ca_file;
	struct kube_client *c = calloc(1, sizeof(*c));
	char *incluster = NULL;
	bool oom = false;
	int err = 0;

	if (!c) {
		snprintf(why, len, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	c->on_error = on_error;
	c->ctx = ctx;
	if (!opts->api_url) {
		const char *host = getenv("KUBERNETES_SERVICE_HOST");
		const char *port = getenv("KUBERNETES_SERVICE_PORT");

		if (!host || !*host || !port || !*port) {
			snprintf(why, len,
				 "no API server URL and KUBERNETES_SERVICE_HOST/PORT unset "
				 "(not in a cluster)");
			err = -EINVAL;
			goto cleanup;
		}
		if (asprintf(&incluster, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
			     host, port) < 0) {
			incluster = NULL;
			oom = true;
		}
		if (!token_file)
			token_file = SA_DIR "/token";
		if (!ca_file)
			ca_file = SA_DIR "/ca.crt";
	}
	c->api_url = incluster ? incluster : dup_or_null(opts->api_url, &oom);
	incluster = NULL;
	c->token_file = dup_or_null(token_file, &oom);
	c->ca_file = dup_or_null(ca_file, &oom);
	if (oom || !c->api_url) {
		snprintf(why, len, "out of memory");
		err = -ENOMEM;
		goto cleanup;
	}
	{
		size_t n = strlen(c->api_url);

		while (n && c->api_url[n - 1] == '/')
			c->api_url[--n] = '\0';
	}
	if (strncmp(c->api_url, "https://", 8) != 0 &&
	    !(opts->allow_http && strncmp(c->api_url, "http://", 7) == 0)) {
		snprintf(why, len, "API server URL %s: expected https://HOST[:PORT]%s", c->api_url,
			 opts->allow_http ? " or http://" : "");
		err = -EINVAL;
		goto cleanup;
	}
	if (c->ca_file && access(c->ca_file, R_OK)) {
		err = -errno;
		snprintf(why, len, "CA file %s: %s", c->ca_file, strerror(-err));
		goto cleanup;
	}
	c->allow_http = opts->allow_http;
	c->connect_timeout_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms : 5000;
	c->list_timeout_ms = opts->list_timeout_ms ? opts->list_timeout_ms : 60000;
	c->max_event_bytes = opts->max_event_bytes ? opts->max_event_bytes : KUBE_EVENT_MAX;

	c->multi = curl_multi_init();
	c->easy = curl_easy_init();
	if (!c->multi || !c->easy) {
		snprintf(why, len, "libcurl initialisation failed");
		err = -ENOMEM;
		goto cleanup;
	}
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, c->allow_http ? "http,https" : "https");
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->curl_err);
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
	curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c->easy, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c->easy, CURLOPT_XFERINFODATA, c);
	curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "podflow-collector");
	if (c->ca_file)
		curl_easy_setopt(c->easy, CURLOPT_CAINFO, c->ca_file);
	if (c->token_file) {
		/* the first read must succeed: a later failure keeps this token in force */
		err = refresh_token(c);
		if (err) {
			snprintf(why, len, "%s", c->last_msg);
			goto cleanup;
		}
	} else {
		c->headers = curl_slist_append(NULL, "Accept: application/json");
		if (!c->headers ||
		    !curl_slist_append(c->headers, "Content-Type: application/json")) {
			snprintf(why, len, "out of memory");
			err = -ENOMEM;
			goto cleanup;
		}
	}
	return c;
cleanup:
	free(incluster);
	kube_client__free(c);
	errno = -err;
	return NULL;
}

void kube_client__free(struct kube_client *c)
{
	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	curl_slist_free_all(c->headers);
	if (c->token) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	free(c->buf);
	free(c->api_url);
	free(c->token_file);
	free(c->ca_file);
	free(c);
}
