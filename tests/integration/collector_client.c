// SPDX-License-Identifier: BSD-2-Clause
/* Integration-test support: a podflow-collector run by the test, and batches posted to it. */
#define _GNU_SOURCE
#include "collector_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "h2client.h"
#include "ip.h"

#define WAIT_MS 10000 /* an endpoint line, an answer, an exit */
#define POLL_MS 20

/* ---- a collector the test runs ------------------------------------------------ */

int coll__start(struct coll *c, const struct coll_conf *conf, const char *name,
		const char *const *extra)
{
	const char *args[64], *debug = conf->debug_env ? getenv(conf->debug_env) : NULL;
	size_t n = 0;
	int err;

	memset(c, 0, sizeof(*c));
	snprintf(c->data, sizeof(c->data), "%s/%s", conf->dir, name);
	if (mkdir(c->data, 0755) && errno != EEXIST)
		return -errno;
	args[n++] = "--listen";
	args[n++] = "127.0.0.1:0";
	args[n++] = "--data-dir";
	args[n++] = c->data;
	args[n++] = "--workers";
	args[n++] = "2";
	/* no periodic stats line: the tests read the one at exit */
	args[n++] = "--stats-interval";
	args[n++] = "0";
	args[n++] = "--admin";
	args[n++] = "127.0.0.1:0";
	if (debug && *debug) {
		args[n++] = "--log-level";
		args[n++] = "debug";
	}
	for (size_t i = 0; conf->args && conf->args[i] && n < 40; i++)
		args[n++] = conf->args[i];
	for (size_t i = 0; extra && extra[i] && n < 63; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	err = collector_start(&c->p, args, &c->port);
	if (err)
		return err;
	snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%u/v1/flows", c->port);
	c->admin = harness_admin_port(&c->p, WAIT_MS);
	c->api = harness_api_port(&c->p, WAIT_MS);
	if (!c->admin || !c->api) {
		fprintf(stderr, "    collector %s: no admin or API endpoint line\n", name);
		return -ETIMEDOUT;
	}
	return 0;
}

int coll__stop(struct coll *c, double *secs)
{
	/* never kill(0, ...): that is this whole process group */
	if (c->p.pid <= 0 || sidecar_stop(&c->p, WAIT_MS, secs))
		return -1;
	return WIFEXITED(c->p.status) ? WEXITSTATUS(c->p.status) : 128 + WTERMSIG(c->p.status);
}

void coll__free(struct coll *c, bool failed)
{
	if (c->p.pid > 0)
		sidecar_poll(&c->p, 0);
	if (failed && c->p.err_text)
		fprintf(stderr, "    --- collector %s stderr ---\n%s    ---\n", c->data,
			c->p.err_text);
	sidecar_free(&c->p);
}

long coll__get(struct coll *c, const char *path, char **body)
{
	sidecar_poll(&c->p, 0);
	return harness_http_get(c->admin, path, body);
}

int64_t coll__metric(struct coll *c, const char *sample)
{
	sidecar_poll(&c->p, 0);
	return harness_metric_now(c->admin, sample);
}

/* The sample of the attribution decisions `result` names. */
static const char *result_sample(char *buf, size_t len, const char *result)
{
	snprintf(buf, len, "podflow_collector_attribution_records_total{result=\"%s\"}", result);
	return buf;
}

int64_t coll__result(struct coll *c, const char *result)
{
	char s[160];

	return coll__metric(c, result_sample(s, sizeof(s), result));
}

static void wait_round(struct coll *c)
{
	if (c->on_wait)
		c->on_wait(c, c->on_wait_ctx);
	harness_sleep_ms(POLL_MS);
}

int64_t coll__wait_metric(struct coll *c, const char *sample, int64_t want, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	int64_t v;

	while ((v = coll__metric(c, sample)) < want && harness_now_ms() < deadline)
		wait_round(c);
	return v;
}

int64_t coll__wait_metric_eq(struct coll *c, const char *sample, int64_t want, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	int64_t v;

	while ((v = coll__metric(c, sample)) != want && harness_now_ms() < deadline)
		wait_round(c);
	return v;
}

int64_t coll__wait_result(struct coll *c, const char *result, int64_t want, int timeout_ms)
{
	char s[160];

	return coll__wait_metric(c, result_sample(s, sizeof(s), result), want, timeout_ms);
}

bool coll__wait_ready(struct coll *c, long status, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	char *body;
	long st;

	for (;;) {
		st = coll__get(c, "/readyz", &body);
		free(body);
		if (st == status || harness_now_ms() >= deadline)
			return st == status;
		wait_round(c);
	}
}

/* ---- a sender: one HTTP/2 connection, batches encoded here ---------------------- */

int snd__open(struct snd *s, uint16_t port, const struct pod_ident *id, const char *ip)
{
	/* distinct per sender, as a sidecar's random id is per process: a test may run many */
	static uint64_t next_id = 0x5eed0000a77b0000ull;
	char url[128], why[256];
	struct h2c_opts o = {
		.url = url,
		.max_streams = 4,
		.connect_timeout_ns = 5000000000ull,
		.request_timeout_ns = 10000000000ull,
	};

	memset(s, 0, sizeof(*s));
	s->id = *id;
	s->sender_id = ++next_id;
	if (ip_parse_str(ip, s->ip))
		return -EINVAL;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/flows", port);
	s->h2 = h2c__new(&o, why, sizeof(why));
	if (!s->h2) {
		fprintf(stderr, "    h2c__new: %s\n", why);
		return -errno;
	}
	return 0;
}

int snd__dual_stack(struct snd *s, const char *ip6)
{
	if (ip_parse_str(ip6, s->ip6) || ip_is_v4mapped(s->ip6))
		return -EINVAL;
	s->has_ip6 = true;
	return 0;
}

void snd__close(struct snd *s)
{
	h2c__free(s->h2);
	s->h2 = NULL;
}

struct done {
	bool done;
	int err, status;
	char body[260];
};

static void on_done(void *ctx, int err, int status, const char *retry_after, const char *body)
{
	struct done *d = ctx;

	(void)retry_after;
	d->done = true;
	d->err = err;
	d->status = status;
	snprintf(d->body, sizeof(d->body), "%s", body ? body : "");
}

struct flow_record snd_record(uint64_t id, const char *remote, int64_t start, int64_t end)
{
	struct flow_record r = { 0 };

	r.start_ms = (uint64_t)start;
	r.end_ms = (uint64_t)end;
	r.bytes_sent = id;
	r.bytes_received = 2 * id;
	r.segs_sent = 1;
	r.segs_received = 1;
	r.flows = 1;
	r.direction = FLOW_DIRECTION_OUT;
	r.local_port = (uint16_t)(40000 + id % 20000);
	r.remote_port = 8080;
	r.pid = 4242;
	snprintf(r.comm, sizeof(r.comm), "it-sender");
	ip_parse_str(remote, r.remote_addr);
	return r;
}

int snd__post(struct snd *s, int64_t from, int64_t to, const struct flow_record *recs, size_t n)
{
	static const struct h2c_header hdr[] = {
		{ "content-type", "application/x-podflow-batch" },
		{ "content-encoding", "zstd" },
	};
	struct wire_encoder *e = wire_encoder__new(WIRE_ENC_ZSTD, 0);
	struct wire_header h = {
		.sender_id = s->sender_id,
		.seq = ++s->seq,
		.sender = { .app = s->id.app,
			    .namespace = s->id.ns,
			    .pod = s->id.pod,
			    .node = s->id.node,
			    .workload = s->id.workload },
		.span_start_ms = (uint64_t)from,
		.span_end_ms = (uint64_t)to,
		.n_ips = 1,
		.ips = (const uint8_t(*)[16])s->ip,
	};
	struct done d = { 0 };
	const void *body;
	uint64_t deadline;
	size_t len;
	int err = -EIO;

	if (!e || !s->h2)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct flow_record r = recs[i];
		bool v6_remote = !ip_is_v4mapped(r.remote_addr);

		memcpy(r.local_addr, v6_remote && s->has_ip6 ? s->ip6 : s->ip, 16);
		r.family = ip_is_v4mapped(r.local_addr) && !v6_remote ? 4 : 6;
		err = wire_encoder__add(e, &r);
		if (err)
			goto out;
	}
	err = wire_encoder__finish(e, &h, &body, &len);
	if (err)
		goto out;
	err = h2c__post(s->h2, body, len, hdr, 2, on_done, &d);
	if (err)
		goto out;
	for (deadline = harness_now_ms() + WAIT_MS; !d.done && harness_now_ms() < deadline;)
		h2c__run(s->h2, 100);
	if (!d.done) {
		/* the request still borrows `d` and the body: cancel it before they go */
		snd__close(s);
		err = -ETIMEDOUT;
		goto out;
	}
	err = d.err ? d.err : d.status;
	if (err != 204)
		fprintf(stderr, "    POST from %s: err %d, status %d: %s\n", s->id.pod, d.err,
			d.status, d.body);
	else
		s->records_ok += n;
out:
	wire_encoder__free(e);
	return err;
}

/* ---- a batch and a request, for suites that post their own way ------------------- */

void *coll_batch_encode(const struct coll_batch *b, uint32_t n, size_t *len)
{
	struct wire_encoder *e = wire_encoder__new(b->enc, 0);
	struct wire_header h = { .sender_id = b->sender_id, .seq = b->seq };
	const void *body;
	void *copy = NULL;

	if (!e)
		return NULL;
	h.sender = (struct flow_identity){ .pod = b->pod, .namespace = b->ns };
	for (uint32_t i = 0; i < n; i++) {
		struct flow_record r = { 0 };

		r.family = 4;
		r.direction = FLOW_DIRECTION_OUT;
		r.local_addr[10] = r.local_addr[11] = r.remote_addr[10] = r.remote_addr[11] = 0xff;
		r.start_ms = b->start_ms;
		r.end_ms = b->end_ms;
		r.bytes_sent = b->id0 + i;
		if (b->fill)
			b->fill(&r, i, b->ctx);
		if (wire_encoder__add(e, &r))
			goto out;
	}
	if (wire_encoder__finish(e, &h, &body, len))
		goto out;
	/* the encoder owns what it returns until it is freed */
	copy = malloc(*len);
	if (copy)
		memcpy(copy, body, *len);
out:
	wire_encoder__free(e);
	return copy;
}

static size_t on_resp_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct coll_resp *r = ud;
	size_t n = size * nmemb, room = sizeof(r->body) - 1 - r->len;

	memcpy(r->body + r->len, p, n < room ? n : room);
	r->len += n < room ? n : room;
	r->body[r->len] = '\0';
	return n;
}

static size_t on_resp_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct coll_resp *r = ud;
	size_t n = size * nmemb;

	if (n > 7 && strncasecmp(p, "allow: ", 7) == 0)
		snprintf(r->allow, sizeof(r->allow), "%.*s", (int)strcspn(p + 7, "\r\n"), p + 7);
	if (n > 13 && strncasecmp(p, "retry-after: ", 13) == 0)
		snprintf(r->retry_after, sizeof(r->retry_after), "%.*s",
			 (int)strcspn(p + 13, "\r\n"), p + 13);
	return n;
}

struct chunked_src {
	const unsigned char *p;
	size_t left;
};

static size_t read_src(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct chunked_src *c = ud;
	size_t n = size * nmemb < c->left ? size * nmemb : c->left;

	memcpy(buf, c->p, n);
	c->p += n;
	c->left -= n;
	return n;
}

int coll_http(uint16_t port, const char *method, const char *path, const char *const *headers,
	      const void *body, size_t len, bool chunked, struct coll_resp *resp)
{
	/* "Expect:" drops the 100-continue libcurl would wait for before a large body */
	struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
	struct chunked_src src = { body, len };
	char url[256];
	CURL *c = curl_easy_init();
	CURLcode rc;

	memset(resp, 0, sizeof(*resp));
	if (!c) {
		curl_slist_free_all(hl);
		return -ENOMEM;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	for (int i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)WAIT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_resp_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_resp_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
	if (body && chunked) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_src);
		curl_easy_setopt(c, CURLOPT_READDATA, &src);
	} else if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	if (rc != CURLE_OK)
		fprintf(stderr, "    curl %s %s: %s (status %ld)\n", method, path,
			curl_easy_strerror(rc), resp->status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hl);
	return rc == CURLE_OK ? 0 : -EIO;
}

/* ---- a raw HTTP/2 connection (nghttp2 on one socket): what libcurl will not do -- */

int coll_connect_from(const char *src, uint16_t port, int rcvbuf)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in from = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	/* many connections from one address: its port is picked at connect, not at bind */
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (rcvbuf > 0) {
		int mss = 536;

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
	}
	if ((src && (inet_pton(AF_INET, src, &from.sin_addr) != 1 ||
		     bind(fd, (struct sockaddr *)&from, sizeof(from)))) ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to))) {
		fprintf(stderr, "    connect from %s: %s\n", src ? src : "any", strerror(errno));
		close(fd);
		return -1;
	}
	/* each frame goes when it is written: no wait for the previous one's ACK */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static struct raw_h2_stream *stream_of(struct raw_h2 *h, int32_t id)
{
	for (int i = 0; i < h->n_streams; i++)
		if (h->streams[i].id == id)
			return &h->streams[i];
	return NULL;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct raw_h2_stream *st = stream_of(ud, frame->hd.stream_id);

	(void)session;
	(void)flags;
	/* nghttp2 NUL-terminates both */
	if (st && namelen == 7 && memcmp(name, ":status", 7) == 0)
		st->status = atoi((const char *)value);
	else if (st && namelen == 5 && memcmp(name, "allow", 5) == 0)
		snprintf(st->allow, sizeof(st->allow), "%.*s", (int)valuelen, value);
	return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
	struct raw_h2 *h = ud;
	struct raw_h2_stream *st = stream_of(h, frame->hd.stream_id);

	(void)session;
	if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK))
		h->ping_acks++;
	if (frame->hd.type == NGHTTP2_DATA && st)
		st->data_frames++;
	return 0;
}

static int on_data(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data,
		   size_t len, void *ud)
{
	struct raw_h2_stream *st = stream_of(ud, id);

	(void)session;
	(void)flags;
	(void)data;
	if (st)
		st->data_bytes += len;
	return 0;
}

static int on_close(nghttp2_session *session, int32_t id, uint32_t error_code, void *ud)
{
	struct raw_h2_stream *st = stream_of(ud, id);

	(void)session;
	if (st) {
		st->closed = true;
		st->error_code = error_code;
	}
	return 0;
}

static ssize_t read_body(nghttp2_session *session, int32_t id, uint8_t *buf, size_t len,
			 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct raw_h2_stream *st = src->ptr;
	size_t n = st->body_left < len ? st->body_left : len;

	(void)session;
	(void)id;
	(void)ud;
	if (st->body_deferred)
		return NGHTTP2_ERR_DEFERRED; /* a promise never kept */
	memcpy(buf, st->body, n);
	st->body += n;
	st->body_left -= n;
	if (!st->body_left)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* Writes everything nghttp2 has queued.  0 or -errno. */
static int flush(struct raw_h2 *h)
{
	for (;;) {
		const uint8_t *p;
		ssize_t n = nghttp2_session_mem_send(h->session, &p);

		if (n < 0)
			return -EPROTO;
		if (n == 0)
			return 0;
		while (n > 0) {
			ssize_t w = send(h->fd, p, (size_t)n, MSG_NOSIGNAL);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -errno;
			p += w;
			n -= w;
		}
	}
}

int raw_h2__open(struct raw_h2 *h, const char *src, uint16_t port)
{
	nghttp2_session_callbacks *cb;
	int rv;

	memset(h, 0, sizeof(*h));
	h->fd = coll_connect_from(src, port, 0);
	if (h->fd < 0)
		return -ECONNREFUSED;
	if (nghttp2_session_callbacks_new(&cb))
		return -ENOMEM;
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	rv = nghttp2_session_client_new(&h->session, cb, h);
	nghttp2_session_callbacks_del(cb);
	if (rv || nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, NULL, 0))
		return -ENOMEM;
	return flush(h);
}

void raw_h2__close(struct raw_h2 *h)
{
	nghttp2_session_del(h->session);
	h->session = NULL;
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

struct raw_h2_stream *raw_h2__request(struct raw_h2 *h, const char *method, uint16_t port,
				      const char *content_length, const void *body, size_t len)
{
	char authority[32];
	nghttp2_nv nv[6];
	struct raw_h2_stream *st;
	size_t n = 0;
	int32_t id;

	if (h->n_streams == RAW_H2_STREAMS)
		return NULL;
	st = &h->streams[h->n_streams];
	*st = (struct raw_h2_stream){ .body = body, .body_left = len, .body_deferred = !body };
	snprintf(authority, sizeof(authority), "127.0.0.1:%u", port);
#define H2NV(k, v) \
	(nghttp2_nv){ (uint8_t *)(k), (uint8_t *)(v), strlen(k), strlen(v), NGHTTP2_NV_FLAG_NONE }
	nv[n++] = H2NV(":method", method);
	nv[n++] = H2NV(":scheme", "http");
	nv[n++] = H2NV(":authority", authority);
	nv[n++] = H2NV(":path", "/v1/flows");
	if (content_length)
		nv[n++] = H2NV("content-length", content_length);
#undef H2NV
	nghttp2_data_provider prd = { .source.ptr = st, .read_callback = read_body };

	/* nghttp2 copies the header fields */
	id = nghttp2_submit_request(h->session, NULL, nv, n, content_length || body ? &prd : NULL,
				    NULL);
	if (id < 0)
		return NULL;
	st->id = id;
	h->n_streams++;
	return st;
}

bool raw_h2__all_closed(struct raw_h2 *h)
{
	for (int i = 0; i < h->n_streams; i++)
		if (!h->streams[i].closed)
			return false;
	return true;
}

bool raw_h2__pinged(struct raw_h2 *h)
{
	return h->ping_acks > 0;
}

int raw_h2__run(struct raw_h2 *h, int timeout_ms, bool (*done)(struct raw_h2 *h))
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	unsigned char buf[16384];

	for (;;) {
		struct pollfd p = { .fd = h->fd, .events = POLLIN };
		ssize_t n;

		if (flush(h))
			return -EIO;
		if (done(h))
			return 0;
		if (harness_now_ms() >= deadline)
			return -ETIMEDOUT;
		if (poll(&p, 1, 20) <= 0)
			continue;
		n = recv(h->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return -ECONNRESET;
		if (nghttp2_session_mem_recv(h->session, buf, (size_t)n) < 0)
			return -EPROTO;
	}
}
