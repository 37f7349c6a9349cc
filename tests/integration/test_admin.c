// SPDX-License-Identifier: BSD-2-Clause
/* Admin endpoint integration tests: a real lib/admin server, libcurl as the scraper, promtool. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "admin.h"
#include "harness.h"
#include "harness_main.h"
#include "jsonw.h"
#include "metrics.h"
#include "ui_assets.h"

#define PROMTOOL	"/usr/bin/promtool"
#define NOT_READY	"export: collector 10.0.0.1:7070 unreachable"
#define HTTP_TIMEOUT_MS 5000

/* ---- the owner: callbacks and the thread that runs the server ---- */

enum metrics_mode {
	METRICS_GOOD,
	METRICS_BAD_NAME, /* the callback writes a refused family mid-exposition */
};

/* Shared between the test (writes) and the server thread (callbacks read). */
struct owner {
	int ready;	  /* 1 ready, 0 not ready with NOT_READY, 2 not ready, two lines */
	int metrics_mode; /* enum metrics_mode */
	pthread_t thread; /* the server thread, to check where callbacks run */
	int wrong_thread; /* a callback ran on another thread */
	struct metrics_histogram latency;
	struct admin *admin; /* for the POST route's /buffered, read on the server thread */
};

static void check_thread(struct owner *o)
{
	if (!pthread_equal(pthread_self(), o->thread))
		__atomic_store_n(&o->wrong_thread, 1, __ATOMIC_RELAXED);
}

/* One exposition with a labelled counter, a gauge and a histogram. */
static void write_metrics(struct owner *o, struct metrics_writer *w)
{
	metrics_writer__family(w, "podflow_test_records_total", METRIC_COUNTER,
			       "Records written, by \"direction\".");
	metrics_writer__u64(w, (const char *const[]){ "direction", "out", NULL },
			    12345678901234ULL);
	metrics_writer__u64(w, (const char *const[]){ "direction", "in", NULL }, 0);
	metrics_writer__family(w, "podflow_test_drops_total", METRIC_COUNTER,
			       "Records lost, by reason.\nOne line per reason.");
	metrics_writer__u64(w, (const char *const[]){ "reason", "ring \"full\"\\", NULL }, 3);
	if (__atomic_load_n(&o->metrics_mode, __ATOMIC_RELAXED) == METRICS_BAD_NAME)
		metrics_writer__family(w, "podflow-test-bad", METRIC_GAUGE, "Refused.");
	metrics_writer__family(w, "podflow_test_open_flows", METRIC_GAUGE, "Flows being tracked.");
	metrics_writer__u64(w, NULL, 42);
	metrics_writer__family(w, "podflow_test_load_ratio", METRIC_GAUGE, "A fraction.");
	metrics_writer__double(w, NULL, 0.25);
	metrics_writer__family(w, "podflow_test_export_duration_seconds", METRIC_HISTOGRAM,
			       "Time to export one batch.");
	metrics_writer__histogram(w, (const char *const[]){ "sink", "collector", NULL },
				  &o->latency);
}

static void cb_metrics(void *ctx, struct metrics_writer *w)
{
	struct owner *o = ctx;

	check_thread(o);
	write_metrics(o, w);
}

static bool cb_ready(void *ctx, char *why, size_t whylen)
{
	struct owner *o = ctx;
	int r = __atomic_load_n(&o->ready, __ATOMIC_RELAXED);

	check_thread(o);
	if (r == 1)
		return true;
	snprintf(why, whylen, "%s", r == 0 ? NOT_READY : "first line\nsecond line");
	return false;
}

static void cb_config(void *ctx, struct jsonw *jw)
{
	struct owner *o = ctx;

	check_thread(o);
	jsonw__obj_begin(jw);
	jsonw__kv_str(jw, "listen", "127.0.0.1:0");
	jsonw__kv_u64(jw, "interval_ms", 1000);
	jsonw__kv_str(jw, "token_file", "/run/secrets/\"token\"");
	jsonw__obj_end(jw);
}

/* An extra route: /echo?ip=X answers {"ip":"X"}; without ip, 400. */
static int cb_json(void *ctx, const char *path, const struct admin_args *args, struct jsonw *jw)
{
	const char *ip = admin_arg(args, "ip");

	check_thread(ctx);
	if (strcmp(path, "/echo") != 0)
		return 404;
	jsonw__obj_begin(jw);
	if (!ip) {
		jsonw__kv_str(jw, "error", "ip= is required");
		jsonw__obj_end(jw);
		return 400;
	}
	jsonw__kv_str(jw, "ip", ip);
	jsonw__obj_end(jw);
	return 200;
}

struct server {
	struct admin *admin;
	struct owner owner;
	int stop_fd; /* eventfd: the server thread returns when it is readable */
	pthread_t th;
	bool running;
	unsigned short port;
};

/*
 * The owner's loop as the binaries run it: poll the admin fd for at most
 * admin__timeout_ms(), then admin__run() (always, as MHD requires when it
 * gave a timeout).
 */
static void *server_loop(void *arg)
{
	struct server *s = arg;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = admin__fd(s->admin), .events = POLLIN },
			{ .fd = s->stop_fd, .events = POLLIN },
		};

		if (poll(p, 2, admin__timeout_ms(s->admin)) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		admin__run(s->admin);
	}
	return NULL;
}

static const struct admin_callbacks callbacks = {
	.metrics = cb_metrics,
	.ready = cb_ready,
	.config = cb_config,
	.json = cb_json,
};

static const double latency_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };

/* Starts an admin server on `addr` with `cb`, run by a thread of its own.  0 or -errno. */
static int server_start_cb(struct server *s, const char *addr, struct admin_callbacks cb)
{
	char why[256] = "";

	memset(s, 0, sizeof(*s));
	s->stop_fd = -1;
	s->owner.ready = 1;
	metrics_histogram_init(&s->owner.latency, latency_bounds,
			       sizeof(latency_bounds) / sizeof(latency_bounds[0]));
	metrics_histogram_observe(&s->owner.latency, /*ns=*/2000000);
	metrics_histogram_observe(&s->owner.latency, /*ns=*/40000000);
	metrics_histogram_observe(&s->owner.latency, /*ns=*/3000000000ULL);
	cb.ctx = &s->owner;
	s->admin = admin__new(addr, &cb, why, sizeof(why));
	if (!s->admin) {
		fprintf(stderr, "    admin__new(%s): %s\n", addr, why);
		return -errno;
	}
	s->port = admin__port(s->admin);
	s->owner.admin = s->admin;
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (s->stop_fd < 0)
		return -errno;
	if (pthread_create(&s->th, NULL, server_loop, s))
		return -EAGAIN;
	s->owner.thread = s->th;
	s->running = true;
	return 0;
}

/* Starts an admin server on `addr` run by a thread of its own.  0 or -errno. */
static int server_start(struct server *s, const char *addr)
{
	return server_start_cb(s, addr, callbacks);
}

static void server_stop(struct server *s)
{
	if (s->running) {
		eventfd_write(s->stop_fd, 1);
		pthread_join(s->th, NULL);
		s->running = false;
	}
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	s->stop_fd = -1;
	admin__free(s->admin);
	s->admin = NULL;
}

/* The exposition the callback writes, made here for comparison. */
static char *expected_metrics(struct owner *o)
{
	struct metrics_writer *w = metrics_writer__new();
	const char *text;
	size_t len;
	char *copy = NULL;

	if (!w)
		return NULL;
	write_metrics(o, w);
	text = metrics_writer__text(w, &len);
	if (!metrics_writer__error(w))
		copy = strndup(text, len);
	metrics_writer__free(w);
	return copy;
}

/* ---- the scraper ---- */

struct http_result {
	long status;
	char *body; /* NUL-terminated */
	size_t len;
	char content_type[128];
	char allow[64];
	char www_authenticate[64];
	/* the headers a static asset carries */
	char cache_control[64];
	char content_type_options[64];
	char csp[160];
	char frame_options[64];
	curl_off_t content_length; /* from the header, -1 when absent */
	uint64_t ms;		   /* the whole exchange */
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct http_result *r = arg;
	char *nb = realloc(r->body, r->len + size * n + 1);

	if (!nb)
		return 0;
	memcpy(nb + r->len, data, size * n);
	r->body = nb;
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

/* The value of header `name` into out, trimmed, when `data` (one header line) is that header. */
static void header_value(const char *data, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);

	if (len <= nl + 1 || strncasecmp(data, name, nl) != 0 || data[nl] != ':')
		return;
	snprintf(out, outlen, "%.*s", (int)(len - nl - 1), data + nl + 1);
	out[strcspn(out, "\r\n")] = '\0';
	memmove(out, out + strspn(out, " "), strlen(out) + 1);
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct http_result *r = arg;
	size_t len = size * n;

	header_value(data, len, "Cache-Control", r->cache_control, sizeof(r->cache_control));
	header_value(data, len, "X-Content-Type-Options", r->content_type_options,
		     sizeof(r->content_type_options));
	header_value(data, len, "Content-Security-Policy", r->csp, sizeof(r->csp));
	header_value(data, len, "X-Frame-Options", r->frame_options, sizeof(r->frame_options));

	if (len > 6 && strncasecmp(data, "Allow:", 6) == 0) {
		snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(len - 6), data + 6);
		r->allow[strcspn(r->allow, "\r\n")] = '\0';
		memmove(r->allow, r->allow + strspn(r->allow, " "), strlen(r->allow) + 1);
	}
	if (len > 17 && strncasecmp(data, "WWW-Authenticate:", 17) == 0) {
		char *v = r->www_authenticate;

		snprintf(v, sizeof(r->www_authenticate), "%.*s", (int)(len - 17), data + 17);
		v[strcspn(v, "\r\n")] = '\0';
		memmove(v, v + strspn(v, " "), strlen(v) + 1);
	}
	return len;
}

/* One request, with `authz` as its Authorization header (NULL: none); 0, or -EIO. */
static int http_authz(const char *method, const char *host, unsigned short port, const char *path,
		      long timeout_ms, const char *authz, struct http_result *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char url[256], hdr[256], *ct = NULL;
	uint64_t t0 = harness_now_ms();
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	if (!c)
		return -ENOMEM;
	snprintf(url, sizeof(url), "http://%s:%u%s", host, port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (authz) {
		snprintf(hdr, sizeof(hdr), "Authorization: %s", authz);
		hdrs = curl_slist_append(NULL, hdr);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	}
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "POST") == 0)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(c);
	r->ms = harness_now_ms() - t0;
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		fprintf(stderr, "    %s %s: %s\n", method, url, curl_easy_strerror(rc));
		curl_easy_cleanup(c);
		return -EIO;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		snprintf(r->content_type, sizeof(r->content_type), "%s", ct);
	curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->content_length);
	curl_easy_cleanup(c);
	if (!r->body)
		r->body = strdup("");
	return r->body ? 0 : -ENOMEM;
}

/* One request; 0, or -EIO with the curl error printed. */
static int http(const char *method, const char *host, unsigned short port, const char *path,
		long timeout_ms, struct http_result *r)
{
	return http_authz(method, host, port, path, timeout_ms, NULL, r);
}

static void http_free(struct http_result *r)
{
	free(r->body);
	r->body = NULL;
}

/* ---- tests ---- */

static int test_metrics_get(void)
{
	struct server s;
	struct http_result r = { 0 };
	char *want = NULL;
	int ret = 1;

	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	ASSERT_TRUE("a port was picked", s.port != 0);
	ASSERT_EQ_U64("GET /metrics", 0,
		      http("GET", "127.0.0.1", s.port, "/metrics", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status", 200, r.status);
	ASSERT_STR("content type", "text/plain; version=0.0.4; charset=utf-8", r.content_type);
	want = expected_metrics(&s.owner);
	ASSERT_TRUE("expected exposition", want != NULL);
	ASSERT_STR("body is what the callback wrote", want, r.body);
	ASSERT_EQ_U64("body length", strlen(want), r.len);
	ASSERT_TRUE("histogram in the body",
		    strstr(r.body, "podflow_test_export_duration_seconds_bucket{sink=\"collector\","
				   "le=\"+Inf\"} 3\n") != NULL);
	ASSERT_EQ_U64("callbacks ran on the owner's thread", 0, s.owner.wrong_thread);
	ret = 0;
cleanup:
	free(want);
	http_free(&r);
	server_stop(&s);
	return ret;
}

/* `promtool check metrics` on the served body: exit 0 and not a word of lint. */
static int test_metrics_promtool(void)
{
	char path[] = "/tmp/podflow-admin-metrics-XXXXXX", cmd[256], out[4096] = "";
	struct http_result r = { 0 };
	struct server s;
	size_t n = 0;
	FILE *p = NULL;
	int fd = -1, status, ret = 1;

	ASSERT_TRUE("promtool installed (Debian's prometheus package)",
		    access(PROMTOOL, X_OK) == 0);
	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	ASSERT_EQ_U64("GET /metrics", 0,
		      http("GET", "127.0.0.1", s.port, "/metrics", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status", 200, r.status);
	fd = mkstemp(path);
	ASSERT_TRUE("temp file", fd >= 0);
	ASSERT_EQ_U64("body written", r.len, write(fd, r.body, r.len));
	snprintf(cmd, sizeof(cmd), PROMTOOL " check metrics < %s 2>&1", path);
	p = popen(cmd, "r");
	ASSERT_TRUE("promtool runs", p != NULL);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	status = pclose(p);
	p = NULL;
	if (n)
		fprintf(stderr, "    %s said:\n%s\n    on:\n%s", cmd, out, r.body);
	ASSERT_TRUE("promtool exited", WIFEXITED(status));
	ASSERT_EQ_U64("promtool exit code", 0, WEXITSTATUS(status));
	ASSERT_EQ_U64("promtool output bytes (warnings)", 0, n);
	ret = 0;
cleanup:
	if (p)
		pclose(p);
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	http_free(&r);
	server_stop(&s);
	return ret;
}

/* A refused family mid-exposition: 500 with a line saying so, none of the exposition. */
static int test_metrics_error_500(void)
{
	struct http_result r = { 0 };
	struct server s;
	int ret = 1;

	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	__atomic_store_n(&s.owner.metrics_mode, METRICS_BAD_NAME, __ATOMIC_RELAXED);
	ASSERT_EQ_U64("GET /metrics", 0,
		      http("GET", "127.0.0.1", s.port, "/metrics", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status", 500, r.status);
	ASSERT_STR("body", "metrics: the exposition could not be written: Invalid argument\n",
		   r.body);
	ASSERT_TRUE("no half exposition", strstr(r.body, "podflow_") == NULL);
	/* and the next scrape, with the callback fixed, is whole again */
	__atomic_store_n(&s.owner.metrics_mode, METRICS_GOOD, __ATOMIC_RELAXED);
	http_free(&r);
	ASSERT_EQ_U64("GET /metrics", 0,
		      http("GET", "127.0.0.1", s.port, "/metrics", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status after the fix", 200, r.status);
	ret = 0;
cleanup:
	http_free(&r);
	server_stop(&s);
	return ret;
}

static int test_healthz(void)
{
	struct http_result r = { 0 };
	struct server s;
	int ret = 1;

	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	ASSERT_EQ_U64("GET /healthz", 0,
		      http("GET", "127.0.0.1", s.port, "/healthz", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status", 200, r.status);
	ASSERT_STR("body", "ok\n", r.body);
	ASSERT_STR("content type", "text/plain; charset=utf-8", r.content_type);
	ret = 0;
cleanup:
	http_free(&r);
	server_stop(&s);
	return ret;
}

static int test_readyz(void)
{
	struct http_result r = { 0 };
	struct server s;
	int ret = 1;

	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	ASSERT_EQ_U64("GET /readyz", 0,
		      http("GET", "127.0.0.1", s.port, "/readyz", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status when ready", 200, r.status);
	ASSERT_STR("body when ready", "ready\n", r.body);
	http_free(&r);

	__atomic_store_n(&s.owner.ready, 0, __ATOMIC_RELAXED);
	ASSERT_EQ_U64("GET /readyz", 0,
		      http("GET", "127.0.0.1", s.port, "/readyz", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status when not ready", 503, r.status);
	ASSERT_STR("body: the reason", NOT_READY "\n", r.body);
	http_free(&r);

	/* a reason of two lines is cut to its first */
	__atomic_store_n(&s.owner.ready, 2, __ATOMIC_RELAXED);
	ASSERT_EQ_U64("GET /readyz", 0,
		      http("GET", "127.0.0.1", s.port, "/readyz", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status when not ready", 503, r.status);
	ASSERT_STR("body: one line", "first line\n", r.body);
	http_free(&r);

	__atomic_store_n(&s.owner.ready, 1, __ATOMIC_RELAXED);
	ASSERT_EQ_U64("GET /readyz", 0,
		      http("GET", "127.0.0.1", s.port, "/readyz", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status when ready again", 200, r.status);
	ASSERT_EQ_U64("callbacks ran on the owner's thread", 0, s.owner.wrong_thread);
	ret = 0;
cleanup:
	http_free(&r);
	server_stop(&s);
	return ret;
}

static int test_config(void)
{
	struct http_result r = { 0 };
	struct server s;
	json_error_t jerr;
	json_t *j = NULL;
	int ret = 1;

	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	ASSERT_EQ_U64("GET /config", 0,
		      http("GET", "127.0.0.1", s.port, "/config", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status", 200, r.status);
	ASSERT_STR("content type", "application/json", r.content_type);
	j = json_loads(r.body, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		fprintf(stderr, "    jansson: %s in %s\n", jerr.text, r.body);
	ASSERT_TRUE("the body parses as JSON", j != NULL);
	ASSERT_STR("listen", "127.0.0.1:0", rec_str(j, "listen"));
	ASSERT_EQ_U64("interval_ms", 1000, rec_u64(j, "interval_ms"));
	ASSERT_STR("token_file", "/run/secrets/\"token\"", rec_str(j, "token_file"));
	ret = 0;
cleanup:
	json_decref(j);
	http_free(&r);
	server_stop(&s);
	return ret;
}

static int test_json_route(void)
{
	struct http_result r = { 0 };
	struct server s;
	int ret = 1;

	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	/* the argument arrives percent-decoded */
	ASSERT_EQ_U64(
	    "GET /echo", 0,
	    http("GET", "127.0.0.1", s.port, "/echo?ip=fd00%3A%3A1", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status", 200, r.status);
	ASSERT_STR("content type", "application/json", r.content_type);
	ASSERT_STR("body", "{\"ip\":\"fd00::1\"}\n", r.body);
	http_free(&r);
	ASSERT_EQ_U64("GET /echo without ip", 0,
		      http("GET", "127.0.0.1", s.port, "/echo", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status", 400, r.status);
	ASSERT_STR("body", "{\"error\":\"ip= is required\"}\n", r.body);
	ret = 0;
cleanup:
	http_free(&r);
	server_stop(&s);
	return ret;
}

static int test_not_found(void)
{
	static const char *const paths[] = { "/nope", "/", "/metrics/", "/metricsx", "/healthz/x" };
	struct http_result r = { 0 };
	struct server s;
	int ret = 1;

	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		ASSERT_EQ_U64(paths[i], 0,
			      http("GET", "127.0.0.1", s.port, paths[i], HTTP_TIMEOUT_MS, &r));
		ASSERT_EQ_U64(paths[i], 404, r.status);
		http_free(&r);
	}
	ret = 0;
cleanup:
	http_free(&r);
	server_stop(&s);
	return ret;
}

static int test_method_not_allowed(void)
{
	static const char *const methods[] = { "POST", "PUT", "DELETE", "OPTIONS" };
	struct http_result r = { 0 };
	struct server s;
	int ret = 1;

	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		ASSERT_EQ_U64(
		    methods[i], 0,
		    http(methods[i], "127.0.0.1", s.port, "/metrics", HTTP_TIMEOUT_MS, &r));
		ASSERT_EQ_U64(methods[i], 405, r.status);
		ASSERT_STR("Allow header", "GET, HEAD", r.allow);
		http_free(&r);
	}
	/* the server still answers after a request whose body it never read */
	ASSERT_EQ_U64("GET /healthz", 0,
		      http("GET", "127.0.0.1", s.port, "/healthz", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status", 200, r.status);
	ret = 0;
cleanup:
	http_free(&r);
	server_stop(&s);
	return ret;
}

static int test_head_metrics(void)
{
	struct http_result get = { 0 }, head = { 0 };
	struct server s;
	int ret = 1;

	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	ASSERT_EQ_U64("GET /metrics", 0,
		      http("GET", "127.0.0.1", s.port, "/metrics", HTTP_TIMEOUT_MS, &get));
	ASSERT_EQ_U64("HEAD /metrics", 0,
		      http("HEAD", "127.0.0.1", s.port, "/metrics", HTTP_TIMEOUT_MS, &head));
	ASSERT_EQ_U64("status", 200, head.status);
	ASSERT_EQ_U64("no body", 0, head.len);
	ASSERT_STR("content type", "text/plain; version=0.0.4; charset=utf-8", head.content_type);
	ASSERT_EQ_U64("Content-Length = the GET body's length", get.len, head.content_length);
	ret = 0;
cleanup:
	http_free(&get);
	http_free(&head);
	server_stop(&s);
	return ret;
}

/* ---- static assets ---- */

/* bytes a text parser would trip on: a NUL, a high byte, no final newline */
static const unsigned char asset_js[] = { 'v', 'a', 'r', ' ', 'x', '=', '1', ';', 0, 0xff, '!' };
static const unsigned char asset_html[] = "<!doctype html><title>t</title>";

static const struct admin_asset test_assets[] = {
	{ "/", "text/html; charset=utf-8", asset_html, sizeof(asset_html) - 1 },
	{ "/app.js", "text/javascript; charset=utf-8", asset_js, sizeof(asset_js) },
};

#define ASSET_CSP "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"

/* The headers every asset is answered with, whatever its type. */
static int check_asset_headers(const struct http_result *r)
{
	ASSERT_STR("Cache-Control", "no-cache", r->cache_control);
	ASSERT_STR("X-Content-Type-Options", "nosniff", r->content_type_options);
	ASSERT_STR("Content-Security-Policy", ASSET_CSP, r->csp);
	ASSERT_STR("X-Frame-Options", "DENY", r->frame_options);
	return 0;
cleanup:
	return 1;
}

/*
 * An asset: its bytes exactly (a NUL and a high byte among them) with its
 * type and the security headers, on GET, HEAD and with a query string;
 * before the json callback (which answers 404 for "/"); a path that is no
 * asset goes on to the json callback (404); other methods 405.
 */
static int test_assets_served(void)
{
	struct admin_callbacks cb = callbacks;
	struct http_result r = { 0 };
	struct server s = { 0 };
	int ret = 1;

	cb.assets = test_assets;
	cb.n_assets = sizeof(test_assets) / sizeof(test_assets[0]);
	ASSERT_EQ_U64("server starts", 0, server_start_cb(&s, "127.0.0.1:0", cb));
	ASSERT_EQ_U64("GET /app.js", 0,
		      http("GET", "127.0.0.1", s.port, "/app.js", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status", 200, r.status);
	ASSERT_STR("content type", "text/javascript; charset=utf-8", r.content_type);
	ASSERT_EQ_U64("length", sizeof(asset_js), r.len);
	ASSERT_TRUE("the bytes", memcmp(r.body, asset_js, sizeof(asset_js)) == 0);
	ASSERT_EQ_U64("headers", 0, check_asset_headers(&r));
	http_free(&r);

	ASSERT_EQ_U64("GET /", 0, http("GET", "127.0.0.1", s.port, "/", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status of /", 200, r.status);
	ASSERT_STR("content type of /", "text/html; charset=utf-8", r.content_type);
	ASSERT_STR("body of /", (const char *)asset_html, r.body);
	ASSERT_EQ_U64("headers of /", 0, check_asset_headers(&r));
	http_free(&r);

	ASSERT_EQ_U64("HEAD /app.js", 0,
		      http("HEAD", "127.0.0.1", s.port, "/app.js", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("HEAD status", 200, r.status);
	ASSERT_EQ_U64("HEAD: no body", 0, r.len);
	ASSERT_EQ_U64("HEAD: Content-Length", sizeof(asset_js), r.content_length);
	ASSERT_EQ_U64("HEAD headers", 0, check_asset_headers(&r));
	http_free(&r);

	ASSERT_EQ_U64("GET /app.js?v=2", 0,
		      http("GET", "127.0.0.1", s.port, "/app.js?v=2", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("with a query string", 200, r.status);
	ASSERT_EQ_U64("with a query string: length", sizeof(asset_js), r.len);
	http_free(&r);

	/* not assets: the json callback's (404 but /echo), nothing of an asset's headers */
	ASSERT_EQ_U64("GET /app.css", 0,
		      http("GET", "127.0.0.1", s.port, "/app.css", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("a path no asset has", 404, r.status);
	ASSERT_STR("404: no CSP of an asset", "", r.csp);
	http_free(&r);
	ASSERT_EQ_U64("GET /app.js/", 0,
		      http("GET", "127.0.0.1", s.port, "/app.js/", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("an asset's path and more", 404, r.status);
	http_free(&r);
	ASSERT_EQ_U64("GET /echo", 0,
		      http("GET", "127.0.0.1", s.port, "/echo?ip=10.0.0.1", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("the json route still answers", 200, r.status);
	http_free(&r);

	ASSERT_EQ_U64("POST /app.js", 0,
		      http("POST", "127.0.0.1", s.port, "/app.js", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("POST an asset", 405, r.status);
	ASSERT_EQ_U64("callbacks ran on the owner's thread", 0, s.owner.wrong_thread);
	ret = 0;
cleanup:
	http_free(&r);
	server_stop(&s);
	return ret;
}

static bool cb_authorize_token(void *ctx, const char *authorization)
{
	(void)ctx;
	return authorization && strcmp(authorization, "Bearer s3cret") == 0;
}

/* An asset is authorized as every route: 401 without the token, served with it. */
static int test_assets_authorized(void)
{
	struct admin_callbacks cb = callbacks;
	struct http_result r = { 0 };
	struct server s = { 0 };
	int ret = 1;

	cb.assets = test_assets;
	cb.n_assets = sizeof(test_assets) / sizeof(test_assets[0]);
	cb.authorize = cb_authorize_token;
	ASSERT_EQ_U64("server starts", 0, server_start_cb(&s, "127.0.0.1:0", cb));
	ASSERT_EQ_U64("GET /app.js", 0,
		      http("GET", "127.0.0.1", s.port, "/app.js", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("without the token", 401, r.status);
	ASSERT_STR("WWW-Authenticate", "Bearer", r.www_authenticate);
	ASSERT_TRUE("none of the asset", memmem(r.body, r.len, "var x", 5) == NULL);
	http_free(&r);
	ASSERT_EQ_U64("GET /app.js", 0,
		      http_authz("GET", "127.0.0.1", s.port, "/app.js", HTTP_TIMEOUT_MS,
				 "Bearer s3cret", &r));
	ASSERT_EQ_U64("with the token", 200, r.status);
	ASSERT_EQ_U64("the bytes", sizeof(asset_js), r.len);
	ret = 0;
cleanup:
	http_free(&r);
	server_stop(&s);
	return ret;
}

/* A whole file into *buf (malloc'd); 0 or -errno. */
static int read_whole(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL, *nb;
	size_t n = 0, got;
	int err = 0;

	if (!f)
		return -errno;
	for (;;) {
		nb = realloc(b, n + 65536);
		if (!nb) {
			err = -ENOMEM;
			break;
		}
		b = nb;
		got = fread(b + n, 1, 65536, f);
		n += got;
		if (got < 65536) {
			err = ferror(f) ? -EIO : 0;
			break;
		}
	}
	fclose(f);
	if (err) {
		free(b);
		return err;
	}
	*buf = b;
	*len = n;
	return 0;
}

/*
 * The collector's embedded web UI (collector/insight/ui_assets.S): the page
 * at / and /index.html loads app.js and app.css, which are there with their
 * types; what esbuild wrote to build/ui, byte for byte.
 */
static int test_ui_assets_embedded(void)
{
	static const struct {
		const char *path, *type, *file;
	} want[] = {
		{ "/", "text/html; charset=utf-8", "build/ui/index.html" },
		{ "/index.html", "text/html; charset=utf-8", "build/ui/index.html" },
		{ "/app.js", "text/javascript; charset=utf-8", "build/ui/app.js" },
		{ "/app.css", "text/css; charset=utf-8", "build/ui/app.css" },
	};
	struct admin_callbacks cb = callbacks;
	struct http_result r = { 0 };
	struct server s = { 0 };
	char *file = NULL;
	size_t file_len = 0;
	int ret = 1;

	ASSERT_EQ_U64("four paths", 4, insight_ui_n_assets);
	cb.assets = insight_ui_assets;
	cb.n_assets = insight_ui_n_assets;
	ASSERT_EQ_U64("server starts", 0, server_start_cb(&s, "127.0.0.1:0", cb));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ASSERT_EQ_U64(want[i].path, 0,
			      http("GET", "127.0.0.1", s.port, want[i].path, HTTP_TIMEOUT_MS, &r));
		ASSERT_EQ_U64(want[i].path, 200, r.status);
		ASSERT_STR(want[i].path, want[i].type, r.content_type);
		ASSERT_EQ_U64(want[i].path, 0, check_asset_headers(&r));
		/* the build dir's copy, when the test runs from the repository (make check does) */
		free(file);
		file = NULL;
		if (read_whole(want[i].file, &file, &file_len) == 0) {
			ASSERT_EQ_U64("the built file's length", file_len, r.len);
			ASSERT_TRUE("the built file's bytes", memcmp(file, r.body, r.len) == 0);
		}
		if (i == 0) {
			ASSERT_TRUE("the page loads app.js",
				    strstr(r.body, "src=\"app.js\"") != NULL);
			ASSERT_TRUE("the page loads app.css",
				    strstr(r.body, "href=\"app.css\"") != NULL);
		}
		http_free(&r);
	}
	ret = 0;
cleanup:
	free(file);
	http_free(&r);
	server_stop(&s);
	return ret;
}

/* A scraper's connection stays open across scrapes (HTTP/1.1 keep-alive). */
static int test_keep_alive(void)
{
	struct http_result r = { 0 };
	struct server s;
	CURL *c = NULL;
	char url[128];
	long connects = -1, status = 0;
	int ret = 1;

	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	c = curl_easy_init();
	ASSERT_TRUE("curl handle", c != NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", s.port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)HTTP_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ_U64("GET /metrics", CURLE_OK, curl_easy_perform(c));
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		ASSERT_EQ_U64("status", 200, status);
		curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
		ASSERT_EQ_U64("new connections for this scrape", i == 0 ? 1 : 0, connects);
	}
	ret = 0;
cleanup:
	if (c)
		curl_easy_cleanup(c);
	http_free(&r);
	server_stop(&s);
	return ret;
}

/* A client that connects and says nothing holds one connection, not the server. */
static int test_silent_client(void)
{
	struct http_result r = { 0 };
	struct server s;
	int fds[3] = { -1, -1, -1 }, err, ret = 1;

	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	for (int i = 0; i < 3; i++) {
		fds[i] = tcp_connect(AF_INET, "127.0.0.1", s.port, &err);
		ASSERT_TRUE("silent client connects", fds[i] >= 0);
	}
	/* one of them sends half a request line and stops */
	ASSERT_EQ_U64("half a request", 8, send(fds[2], "GET /met", 8, MSG_NOSIGNAL));
	ASSERT_EQ_U64("GET /healthz", 0,
		      http("GET", "127.0.0.1", s.port, "/healthz", /*timeout_ms=*/1000, &r));
	ASSERT_EQ_U64("status", 200, r.status);
	ASSERT_TRUE("answered within 1 s", r.ms < 1000);
	http_free(&r);
	ASSERT_EQ_U64("GET /metrics", 0,
		      http("GET", "127.0.0.1", s.port, "/metrics", /*timeout_ms=*/1000, &r));
	ASSERT_EQ_U64("status", 200, r.status);
	ret = 0;
cleanup:
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	http_free(&r);
	server_stop(&s);
	return ret;
}

/*
 * The header deadline, seen through the owner's API on the test's own
 * thread: no timeout without connections; with a silent one, the loop is
 * told to come back by its deadline (ADMIN_HEADER_DEADLINE_MS after the
 * accept), not later.
 */
static int test_timeout_ms(void)
{
	struct admin_callbacks cb = callbacks;
	struct owner o = { .ready = 1 };
	struct admin *a = NULL;
	char why[256];
	int fd = -1, err, t = -1, ret = 1;
	uint64_t deadline;

	o.thread = pthread_self();
	cb.ctx = &o;
	a = admin__new("127.0.0.1:0", &cb, why, sizeof(why));
	ASSERT_TRUE("admin__new", a != NULL);
	ASSERT_TRUE("an epoll fd", admin__fd(a) >= 0);
	ASSERT_EQ_U64("no connection: no timeout", (uint64_t)-1,
		      (uint64_t)(int64_t)admin__timeout_ms(a));
	fd = tcp_connect(AF_INET, "127.0.0.1", admin__port(a), &err);
	ASSERT_TRUE("client connects", fd >= 0);
	/* until MHD has accepted it */
	deadline = harness_now_ms() + 2000;
	while (harness_now_ms() < deadline) {
		struct pollfd p = { .fd = admin__fd(a), .events = POLLIN };

		poll(&p, 1, 100);
		admin__run(a);
		t = admin__timeout_ms(a);
		if (t >= 0)
			break;
	}
	ASSERT_TRUE("a timeout once a connection is open", t >= 0);
	ASSERT_TRUE("at most the header deadline", t <= ADMIN_HEADER_DEADLINE_MS);
	ASSERT_TRUE("about the header deadline", t >= ADMIN_HEADER_DEADLINE_MS - 1000);
	ret = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	admin__free(a);
	return ret;
}

static int test_addr_in_use(void)
{
	struct server s;
	char addr[64], why[256] = "";
	struct admin *b = NULL;
	int ret = 1;

	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", s.port);
	errno = 0;
	b = admin__new(addr, &callbacks, why, sizeof(why));
	ASSERT_TRUE("second admin__new on the same port fails", b == NULL);
	ASSERT_EQ_U64("errno", EADDRINUSE, errno);
	fprintf(stderr, "    why: %s\n", why);
	ASSERT_TRUE("the message names the address", strstr(why, addr) != NULL);
	ASSERT_TRUE("one line", strchr(why, '\n') == NULL);
	ret = 0;
cleanup:
	admin__free(b);
	server_stop(&s);
	return ret;
}

static int test_bad_addresses(void)
{
	static const char *const bad[] = {
		"127.0.0.1",	 "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
		"127.0.0.1:80x", "1.2.3:80",   "web.local:80",	  "::1:80",
		"[::1]80",	 "[::1:80",    "::1]:80",	  "[127.0.0.1]:80",
		"[]:80",	 "",	       "256.0.0.1:80",	  "127.0.0.1: 80",
	};
	char why[256];
	uint64_t tried = 0, refused = 0;
	struct report_fault f;
	int ret = 1;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct admin *a;

		why[0] = '\0';
		errno = 0;
		tried++;
		a = admin__new(bad[i], &callbacks, why, sizeof(why));
		if (a) {
			fprintf(stderr, "    \"%s\" accepted\n", bad[i]);
			admin__free(a);
			goto cleanup;
		}
		ASSERT_EQ_U64(bad[i], EINVAL, errno);
		ASSERT_TRUE("the message names the address", strstr(why, bad[i]) != NULL);
		refused++;
	}
	/* lib/listen_addr's rule, the one every listener follows: localhost is 127.0.0.1 */
	{
		struct admin *a = admin__new("localhost:0", &callbacks, why, sizeof(why));

		ASSERT_TRUE("localhost:0 listens", a != NULL);
		admin__free(a);
	}
	f = (struct report_fault){
		.fault = "admin listen address malformed (no port, bad port, bad brackets, a name)",
		.unit = "addresses",
		.injected = tried,
		.counted = refused,
		.counted_as = "EINVAL with a message naming the address",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each refused, named", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	return ret;
}

/* "[::1]:PORT" is IPv6 only; ":PORT" is every address, IPv4 and IPv6. */
static int test_ipv6_and_dual_stack(void)
{
	struct http_result r = { 0 };
	struct server s6 = { .stop_fd = -1 }, sany = { .stop_fd = -1 };
	int ret = 1;

	ASSERT_EQ_U64("[::1]:0 starts", 0, server_start(&s6, "[::1]:0"));
	ASSERT_EQ_U64("GET [::1]", 0,
		      http("GET", "[::1]", s6.port, "/healthz", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status", 200, r.status);
	http_free(&r);

	ASSERT_EQ_U64(":0 starts", 0, server_start(&sany, ":0"));
	ASSERT_EQ_U64("GET 127.0.0.1", 0,
		      http("GET", "127.0.0.1", sany.port, "/healthz", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status over IPv4", 200, r.status);
	http_free(&r);
	ASSERT_EQ_U64("GET [::1]", 0,
		      http("GET", "[::1]", sany.port, "/healthz", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status over IPv6", 200, r.status);
	ret = 0;
cleanup:
	http_free(&r);
	server_stop(&s6);
	server_stop(&sany);
	return ret;
}

/* ---- a trickle of partial requests (issue 16) ---- */

/* The head of a request without the blank line that ends it: never complete. */
#define PARTIAL_REQUEST "GET /metrics HTTP/1.1\r\nHost: x\r\n"
#define PROBE_MS	1000 /* a probe answers within this, whatever the trickle */

/*
 * A connection to 127.0.0.1:port from `src` (an address of 127.0.0.0/8, so
 * that a test can be many peers; NULL: the kernel's choice) that has sent
 * `data`.  The fd, or -1 with the reason on stderr.
 */
static int connect_send(const char *src, unsigned short port, const char *data)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in la = { .sin_family = AF_INET };
	/* a connect the kernel cannot complete (a full accept queue) fails in 2 s, not minutes */
	struct timeval tv = { .tv_sec = 2 };
	size_t len = strlen(data);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (src && (inet_pton(AF_INET, src, &la.sin_addr) != 1 ||
		    bind(fd, (struct sockaddr *)&la, sizeof(la))))
		goto fail;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    send(fd, data, len, MSG_NOSIGNAL) != (ssize_t)len)
		goto fail;
	return fd;
fail:
	fprintf(stderr, "    connect %s -> 127.0.0.1:%u: %s\n", src ? src : "*", port,
		strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* n partial requests to port; src_fmt "127.0.0.%d" with i % peers + 2, or NULL. 0 or -1. */
static int open_partials(int *fds, int n, unsigned short port, const char *src_fmt, int peers)
{
	char src[32];

	for (int i = 0; i < n; i++)
		fds[i] = -1;
	for (int i = 0; i < n; i++) {
		if (src_fmt)
			snprintf(src, sizeof(src), src_fmt, i % peers + 2);
		fds[i] = connect_send(src_fmt ? src : NULL, port, PARTIAL_REQUEST);
		if (fds[i] < 0)
			return -1;
	}
	return 0;
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/*
 * The report: 200 connections each send the head of a request, hold it a
 * second and close.  The server reaps them, and a probe right after is
 * answered at once (it waited ~54 s in the accept queue before the fix).
 */
static int test_trickle_closed(void)
{
	struct http_result r = { 0 };
	int fds[200], ret = 1;
	struct server s;
	uint64_t t0, ms, probes = 0;
	struct report_fault f;

	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	ASSERT_EQ_U64("200 partial requests", 0, open_partials(fds, 200, s.port, NULL, 0));
	/* the attacker's pace, not a wait for a condition: each holds for a second */
	poll(NULL, 0, 1000);
	close_all(fds, 200);
	t0 = harness_now_ms();
	probes++;
	ASSERT_EQ_U64("GET /healthz", 0,
		      http("GET", "127.0.0.1", s.port, "/healthz", /*timeout_ms=*/3000, &r));
	ms = harness_now_ms() - t0;
	fprintf(stderr, "    /healthz answered %llu ms after the trickle closed\n",
		(unsigned long long)ms);
	ASSERT_EQ_U64("status", 200, r.status);
	ASSERT_TRUE("answered within 1 s of the close", ms < PROBE_MS);
	f = (struct report_fault){
		.fault = "200 partial requests held a second, then closed",
		.unit = "probes",
		.injected = probes,
		.delivered = r.status == 200 && ms < PROBE_MS,
		.note = "delivered: /healthz answered 200 within 1 s of the close",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("the probe answered in time", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	close_all(fds, 200);
	http_free(&r);
	server_stop(&s);
	return ret;
}

/* Slowloris from the probe's own address: 300 partial requests held open. */
static int test_slowloris_same_peer(void)
{
	struct http_result r = { 0 };
	int fds[300], ret = 1;
	struct server s;
	uint64_t t0, ms, probes = 0;
	struct report_fault f;

	for (int i = 0; i < 300; i++)
		fds[i] = -1;
	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	ASSERT_EQ_U64("300 partial requests", 0, open_partials(fds, 300, s.port, NULL, 0));
	t0 = harness_now_ms();
	probes++;
	ASSERT_EQ_U64("GET /healthz", 0,
		      http("GET", "127.0.0.1", s.port, "/healthz", /*timeout_ms=*/3000, &r));
	ms = harness_now_ms() - t0;
	fprintf(stderr, "    /healthz answered in %llu ms beside 300 open partial requests\n",
		(unsigned long long)ms);
	ASSERT_EQ_U64("status", 200, r.status);
	ASSERT_TRUE("answered within 1 s", ms < PROBE_MS);
	f = (struct report_fault){
		.fault = "slowloris from the probe's own address: 300 partial requests held",
		.unit = "probes",
		.injected = probes,
		.delivered = r.status == 200 && ms < PROBE_MS,
		.note = "delivered: /healthz answered 200 within 1 s",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("the probe answered in time", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	close_all(fds, 300);
	http_free(&r);
	server_stop(&s);
	return ret;
}

/*
 * Waits for EOF on fds[0..n) until deadline_ms (monotonic); *last_ms the
 * time the last came, *first_ms the first.  The number that saw it.
 */
static int wait_eofs(const int *fds, int n, uint64_t deadline_ms, uint64_t *first_ms,
		     uint64_t *last_ms)
{
	bool seen[64] = { false };
	int got = 0;

	*first_ms = *last_ms = 0;
	while (got < n && harness_now_ms() < deadline_ms) {
		struct pollfd p[64];
		char buf[4096];

		for (int i = 0; i < n; i++)
			p[i] = (struct pollfd){ .fd = seen[i] ? -1 : fds[i], .events = POLLIN };
		if (poll(p, (nfds_t)n, (int)(deadline_ms - harness_now_ms())) <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			if (!p[i].revents)
				continue;
			/* what the server answered before closing, then EOF (or a reset) */
			if (recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT) > 0)
				continue;
			seen[i] = true;
			*last_ms = harness_now_ms();
			if (!got++)
				*first_ms = *last_ms;
		}
	}
	return got;
}

/*
 * A request's head must be complete ADMIN_HEADER_DEADLINE_MS after the
 * connection was accepted (or its previous request was answered): the
 * partial ones are closed then, and so is an idle keep-alive connection.
 */
static int test_header_deadline(void)
{
	static const char keep_alive[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	int fds[10], ka = -1, ret = 1, closed_partial, closed_idle;
	uint64_t t0, first, last;
	struct report_fault f;
	struct server s;
	char buf[512];
	ssize_t n;

	for (int i = 0; i < 10; i++)
		fds[i] = -1;
	ASSERT_EQ_U64("server starts", 0, server_start(&s, "127.0.0.1:0"));
	t0 = harness_now_ms();
	ASSERT_EQ_U64("10 partial requests", 0, open_partials(fds, 10, s.port, NULL, 0));
	closed_partial = wait_eofs(fds, 10, t0 + ADMIN_HEADER_DEADLINE_MS + 1500, &first, &last);
	ASSERT_EQ_U64("all closed by the deadline", 10, closed_partial);
	fprintf(stderr, "    partial requests closed %llu to %llu ms after they connected\n",
		(unsigned long long)(first - t0), (unsigned long long)(last - t0));
	ASSERT_TRUE("not before the deadline", first - t0 >= ADMIN_HEADER_DEADLINE_MS - 100);
	ASSERT_TRUE("within a second after it", last - t0 <= ADMIN_HEADER_DEADLINE_MS + 1000);

	/* a keep-alive connection answered once, then silent */
	ka = connect_send(NULL, s.port, keep_alive);
	ASSERT_TRUE("keep-alive connection", ka >= 0);
	n = recv(ka, buf, sizeof(buf) - 1, 0);
	ASSERT_TRUE("an answer", n > 0);
	buf[n] = '\0';
	ASSERT_TRUE("200", strncmp(buf, "HTTP/1.1 200", 12) == 0);
	t0 = harness_now_ms();
	closed_idle = wait_eofs(&ka, 1, t0 + ADMIN_HEADER_DEADLINE_MS + 1500, &first, &last);
	ASSERT_EQ_U64("the idle keep-alive connection is closed", 1, closed_idle);
	fprintf(stderr, "    idle keep-alive connection closed %llu ms after its answer\n",
		(unsigned long long)(last - t0));
	ASSERT_TRUE("after the deadline", last - t0 >= ADMIN_HEADER_DEADLINE_MS - 100);
	ASSERT_TRUE("within a second after it", last - t0 <= ADMIN_HEADER_DEADLINE_MS + 1000);
	f = (struct report_fault){
		.fault = "request heads never finished; a keep-alive connection left idle",
		.unit = "connections",
		.injected = sizeof(fds) / sizeof(fds[0]) + 1,
		.counted = (uint64_t)(closed_partial + closed_idle),
		.counted_as = "closed at the header deadline, "
			      "connections_evicted_total{reason=\"header_deadline\"}",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each closed at the deadline", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	close_all(fds, 10);
	if (ka >= 0)
		close(ka);
	server_stop(&s);
	return ret;
}

/* ---- the counters, with the owner's loop on the test's own thread ---- */

typedef bool (*admin_pred_fn)(struct admin *a, void *arg);

/* Runs the owner's loop (poll, admin__run) until pred holds or timeout_ms; whether it held. */
static bool pump_until(struct admin *a, admin_pred_fn pred, void *arg, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;

	while (!pred(a, arg)) {
		uint64_t now = harness_now_ms();
		struct pollfd p = { .fd = admin__fd(a), .events = POLLIN };
		int t = admin__timeout_ms(a), left = (int)(deadline - now);

		if (now >= deadline)
			return false;
		poll(&p, 1, t < 0 || t > left ? left : t);
		admin__run(a);
	}
	return true;
}

static struct admin_stats stats_of(const struct admin *a)
{
	struct admin_stats st;

	admin__stats(a, &st);
	return st;
}

static bool accepted_reaches(struct admin *a, void *arg)
{
	return stats_of(a).accepted >= *(uint64_t *)arg;
}

static bool open_is(struct admin *a, void *arg)
{
	return stats_of(a).open == *(uint32_t *)arg;
}

struct answer {
	int fd;
	char buf[512];
	size_t len;
};

/* The probe's answer has come (a whole status line at least). */
static bool answered(struct admin *a, void *arg)
{
	struct answer *an = arg;
	ssize_t n;

	(void)a;
	n = recv(an->fd, an->buf + an->len, sizeof(an->buf) - 1 - an->len, MSG_DONTWAIT);
	if (n > 0)
		an->len += (size_t)n;
	an->buf[an->len] = '\0';
	return strchr(an->buf, '\n') != NULL;
}

/* Every fd has seen EOF (or a reset): the server closed them all. */
static int count_closed(const int *fds, int n)
{
	int closed = 0;

	for (int i = 0; i < n; i++) {
		char c;
		ssize_t r = recv(fds[i], &c, 1, MSG_DONTWAIT);

		closed += r == 0 || (r < 0 && errno == ECONNRESET);
	}
	return closed;
}

#define ASSERT_STATS(what, st, acc, ref, deadline, max_conn, per_peer, open_now) \
	do {                                                                     \
		ASSERT_EQ_U64(what ": accepted", acc, (st).accepted);            \
		ASSERT_EQ_U64(what ": refused", ref, (st).refused);              \
		ASSERT_EQ_U64(what ": evicted, header deadline", deadline,       \
			      (st).evicted[ADMIN_EVICT_HEADER_DEADLINE]);        \
		ASSERT_EQ_U64(what ": evicted, max connections", max_conn,       \
			      (st).evicted[ADMIN_EVICT_MAX_CONNECTIONS]);        \
		ASSERT_EQ_U64(what ": evicted, max per peer", per_peer,          \
			      (st).evicted[ADMIN_EVICT_MAX_PER_PEER]);           \
		ASSERT_EQ_U64(what ": open", open_now, (st).open);               \
	} while (0)

/*
 * Exact counts: 40 partial requests from one peer (8 over its cap), 270
 * from nine others (46 over the total cap), a probe (one more), then the
 * header deadline closes the rest; every evicted client saw the close.
 */
static int test_counters(void)
{
	enum { N1 = 40, N2 = 270 };
	static const char probe[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct admin_callbacks cb = callbacks;
	struct owner o = { .ready = 1 };
	struct answer an = { .fd = -1 };
	struct admin *a = NULL;
	struct admin_stats st;
	int fds[N1 + N2], ret = 1;
	uint64_t want, evicted = 0;
	uint32_t open_want;
	struct report_fault f;
	char why[256];

	for (int i = 0; i < N1 + N2; i++)
		fds[i] = -1;
	o.thread = pthread_self();
	cb.ctx = &o;
	a = admin__new("127.0.0.1:0", &cb, why, sizeof(why));
	ASSERT_TRUE("admin__new", a != NULL);
	ASSERT_STATS("at start", stats_of(a), 0, 0, 0, 0, 0, 0);

	ASSERT_EQ_U64("40 from 127.0.0.1", 0, open_partials(fds, N1, admin__port(a), NULL, 0));
	want = N1;
	ASSERT_TRUE("all accepted", pump_until(a, accepted_reaches, &want, 2000));
	st = stats_of(a);
	ASSERT_STATS("one peer over its cap", st, 40, 0, 0, 0, 8, 32);

	ASSERT_EQ_U64("270 from 127.0.0.2-10", 0,
		      open_partials(fds + N1, N2, admin__port(a), "127.0.0.%d", 9));
	want = N1 + N2;
	ASSERT_TRUE("all accepted", pump_until(a, accepted_reaches, &want, 2000));
	st = stats_of(a);
	ASSERT_STATS("over the total cap", st, 310, 0, 0, 46, 8, ADMIN_MAX_CONNECTIONS);

	an.fd = connect_send(NULL, admin__port(a), probe);
	ASSERT_TRUE("probe connects", an.fd >= 0);
	ASSERT_TRUE("probe answered", pump_until(a, answered, &an, 1000));
	ASSERT_TRUE("200", strncmp(an.buf, "HTTP/1.1 200", 12) == 0);
	open_want = ADMIN_MAX_CONNECTIONS - 1; /* the probe's own is closed after its answer */
	ASSERT_TRUE("probe closed", pump_until(a, open_is, &open_want, 1000));
	st = stats_of(a);
	ASSERT_STATS("after the probe", st, 311, 0, 0, 47, 8, ADMIN_MAX_CONNECTIONS - 1);

	open_want = 0;
	ASSERT_TRUE("the rest closed by the header deadline",
		    pump_until(a, open_is, &open_want, ADMIN_HEADER_DEADLINE_MS + 2000));
	st = stats_of(a);
	ASSERT_STATS("after the deadline", st, 311, 0, 255, 47, 8, 0);
	ASSERT_EQ_U64("every partial client saw the close", N1 + N2, count_closed(fds, N1 + N2));
	ASSERT_EQ_U64("callbacks ran on the owner's thread", 0, o.wrong_thread);
	for (int i = 0; i < ADMIN_EVICT__COUNT; i++)
		evicted += st.evicted[i];
	f = (struct report_fault){
		.fault = "310 partial requests from ten addresses, one peer over its cap",
		.unit = "connections",
		.injected = N1 + N2,
		.counted = evicted,
		.counted_as = "closed, connections_evicted_total{reason}: per peer, total cap, "
			      "header deadline",
		.note = "a probe among them answered 200",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each partial request evicted and counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	close_all(fds, N1 + N2);
	if (an.fd >= 0)
		close(an.fd);
	admin__free(a);
	return ret;
}

/* ---- the collector binary ---- */

static char g_tmp[128]; /* data dirs and token files of the collector tests */

/*
 * The collector as a process: ingest on an ephemeral port, the probe port
 * on *admin, and `extra` (the API listener's flags).  0 or -errno.
 */
static int collector_up(struct sidecar *c, const char *name, const char *const *extra,
			uint16_t *admin)
{
	const char *args[32] = { "--listen", "127.0.0.1:0", "--data-dir",	NULL,
				 "--admin",  "127.0.0.1:0", "--stats-interval", "0" };
	char data[256];
	uint16_t port;
	int n = 8, err;

	snprintf(data, sizeof(data), "%s/%s", g_tmp, name);
	args[3] = data;
	for (int i = 0; extra && extra[i] && n < 30; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	err = collector_start(c, args, &port);
	if (err)
		return err;
	*admin = harness_admin_port(c, 5000);
	return *admin ? 0 : -ENOENT;
}

/* 1,100 partial requests from 40 addresses: /healthz still answers within a second. */
static int test_collector_trickle(void)
{
	enum { N = 1100 };
	struct http_result r = { 0 };
	struct sidecar c = { 0 };
	int *fds = calloc(N, sizeof(int)), ret = 1;
	uint16_t admin = 0;
	uint64_t t0, ms, probes = 0;
	struct report_fault f;

	ASSERT_TRUE("fds", fds != NULL);
	for (int i = 0; i < N; i++)
		fds[i] = -1;
	ASSERT_EQ_U64(
	    "collector starts", 0,
	    collector_up(&c, "trickle", (const char *const[]){ "--no-attribution", NULL }, &admin));
	t0 = harness_now_ms();
	ASSERT_EQ_U64("1,100 partial requests", 0, open_partials(fds, N, admin, "127.0.0.%d", 40));
	fprintf(stderr, "    1,100 partial requests opened in %llu ms\n",
		(unsigned long long)(harness_now_ms() - t0));
	t0 = harness_now_ms();
	probes++;
	ASSERT_EQ_U64("GET /healthz", 0,
		      http("GET", "127.0.0.1", admin, "/healthz", /*timeout_ms=*/3000, &r));
	ms = harness_now_ms() - t0;
	fprintf(stderr, "    collector /healthz answered in %llu ms beside them\n",
		(unsigned long long)ms);
	ASSERT_EQ_U64("status", 200, r.status);
	ASSERT_TRUE("answered within 1 s", ms < PROBE_MS);
	/* nothing is left in the accept queue: every one of them was taken (and most evicted) */
	ASSERT_TRUE("all accepted",
		    harness_metric_now(admin, "podflow_collector_admin_connections_accepted_total{"
					      "listener=\"admin\"}") >= N + 1);
	ASSERT_EQ_U64("none refused", 0,
		      harness_metric_now(admin, "podflow_collector_admin_connections_refused_total{"
						"listener=\"admin\"}"));
	ASSERT_TRUE("evicted for the total cap",
		    harness_metric_now(admin, "podflow_collector_admin_connections_evicted_total{"
					      "listener=\"admin\",reason=\"max_connections\"}") >=
			N - ADMIN_MAX_CONNECTIONS);
	f = (struct report_fault){
		.fault = "1,100 partial requests from 40 addresses at the collector's probe port",
		.unit = "probes",
		.injected = probes,
		.delivered = r.status == 200 && ms < PROBE_MS,
		.note = "delivered: /healthz answered 200 within 1 s; none refused at accept",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("the probe answered in time", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	if (ret && c.err_text)
		fprintf(stderr, "    collector:\n%s\n", c.err_text);
	if (fds)
		close_all(fds, N);
	free(fds);
	http_free(&r);
	if (c.pid > 0)
		sidecar_stop(&c, 6000, NULL);
	sidecar_free(&c);
	return ret;
}

/* ---- the collector's API listener (issue 16, item 6) ---- */

/* GET on 127.0.0.1:port: the status, or -1 without an answer. */
static long get_status(unsigned short port, const char *path, const char *authz)
{
	struct http_result r = { 0 };
	long status = -1;

	if (http_authz("GET", "127.0.0.1", port, path, HTTP_TIMEOUT_MS, authz, &r) == 0)
		status = r.status;
	http_free(&r);
	return status;
}

/*
 * Probes and /metrics on the admin port, /config and /ownership on the API
 * port (loopback: no token), each a 404 on the other.
 */
static int test_collector_api_split(void)
{
	static const char *const api_only[] = { "/config", "/ownership?ip=10.0.0.1", "/ownership" };
	static const char *const probes[] = { "/healthz", "/readyz", "/metrics" };
	struct http_result r = { 0 };
	struct sidecar c = { 0 };
	uint16_t admin = 0, api = 0;
	json_t *j = NULL;
	int ret = 1;

	ASSERT_EQ_U64("collector starts", 0,
		      collector_up(&c, "split",
				   (const char *const[]){ "--admin-api", "127.0.0.1:0", NULL },
				   &admin));
	api = harness_api_port(&c, 5000);
	ASSERT_TRUE("an API port", api != 0 && api != admin);
	ASSERT_EQ_U64("GET /healthz on the admin port", 200, get_status(admin, "/healthz", NULL));
	ASSERT_EQ_U64("GET /metrics on the admin port", 200, get_status(admin, "/metrics", NULL));
	for (size_t i = 0; i < sizeof(api_only) / sizeof(api_only[0]); i++)
		ASSERT_EQ_U64(api_only[i], 404, get_status(admin, api_only[i], NULL));
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		ASSERT_EQ_U64(probes[i], 404, get_status(api, probes[i], NULL));
	ASSERT_EQ_U64("GET /nope on the API port", 404, get_status(api, "/nope", NULL));

	ASSERT_EQ_U64("GET /config", 0,
		      http("GET", "127.0.0.1", api, "/config", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status", 200, r.status);
	j = json_loads(r.body, 0, NULL);
	ASSERT_TRUE("JSON", j != NULL);
	ASSERT_STR("admin", "127.0.0.1:0", rec_str(j, "admin"));
	ASSERT_STR("api.listen", "127.0.0.1:0",
		   json_string_value(json_object_get(json_object_get(j, "api"), "listen")));
	http_free(&r);
	ASSERT_EQ_U64("GET /ownership?ip=", 0,
		      http("GET", "127.0.0.1", api, "/ownership?ip=10.0.0.1", HTTP_TIMEOUT_MS, &r));
	ASSERT_EQ_U64("status", 200, r.status);
	ASSERT_STR("content type", "application/json", r.content_type);
	ret = 0;
cleanup:
	if (ret && c.err_text)
		fprintf(stderr, "    collector:\n%s\n", c.err_text);
	json_decref(j);
	http_free(&r);
	if (c.pid > 0 && !c.exited)
		sidecar_stop(&c, 6000, NULL);
	sidecar_free(&c);
	return ret;
}

/* An API listener off loopback without a token file: refused at start, exit 2, one clear line. */
static int test_collector_api_needs_token(void)
{
	static const char *const addrs[] = { "0.0.0.0:0", ":0", "[::]:0" };
	struct sidecar c = { 0 };
	uint16_t admin = 0;
	int ret = 1;

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		memset(&c, 0, sizeof(c));
		ASSERT_EQ_U64(addrs[i], (uint64_t)-ECHILD,
			      (uint64_t)collector_up(
				  &c, "notoken",
				  (const char *const[]){ "--admin-api", addrs[i], NULL }, &admin));
		ASSERT_TRUE("exited", c.exited && WIFEXITED(c.status));
		ASSERT_EQ_U64("exit code", 2, WEXITSTATUS(c.status));
		ASSERT_TRUE("the message names the key, the address and the way out",
			    c.err_text && strstr(c.err_text, "api.listen: ") &&
				strstr(c.err_text, addrs[i]) &&
				strstr(c.err_text, "is not a loopback address") &&
				strstr(c.err_text, "--admin-api-token-file"));
		ASSERT_TRUE("nothing listened", !strstr(c.err_text, "ready: listening"));
		sidecar_free(&c);
	}
	ret = 0;
cleanup:
	sidecar_free(&c);
	return ret;
}

/*
 * Off loopback (0.0.0.0: every address, reached here through 127.0.0.1)
 * with a token file: 401 and WWW-Authenticate: Bearer without the token or
 * with a wrong one, on every path; 200 with it.  The probe port wants none.
 */
static int test_collector_api_token(void)
{
	static const char *const wrong[] = { NULL, "Bearer wrong-token", "Bearer s3cret-tokenX",
					     "Basic czNjcmV0LXRva2Vu", "s3cret-token" };
	struct http_result r = { 0 };
	struct sidecar c = { 0 };
	char token_file[256];
	uint16_t admin = 0, api = 0;
	FILE *f;
	int ret = 1;

	snprintf(token_file, sizeof(token_file), "%s/api-token", g_tmp);
	f = fopen(token_file, "w");
	ASSERT_TRUE("token file", f != NULL);
	fputs("s3cret-token\n", f);
	fclose(f);
	ASSERT_EQ_U64(
	    "collector starts", 0,
	    collector_up(&c, "token",
			 (const char *const[]){ "--admin-api", "0.0.0.0:0",
						"--admin-api-token-file", token_file, NULL },
			 &admin));
	api = harness_api_port(&c, 5000);
	ASSERT_TRUE("an API port", api != 0);
	ASSERT_TRUE("it says a token is required",
		    strstr(c.err_text, "API endpoint on 0.0.0.0:0") &&
			strstr(c.err_text, "bearer token required"));
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		const char *paths[] = { "/config", "/ownership?ip=10.0.0.1", "/nope" };

		for (size_t k = 0; k < 3; k++) {
			ASSERT_EQ_U64(paths[k], 0,
				      http_authz("GET", "127.0.0.1", api, paths[k], HTTP_TIMEOUT_MS,
						 wrong[i], &r));
			ASSERT_EQ_U64(wrong[i] ? wrong[i] : "no Authorization", 401, r.status);
			ASSERT_STR("WWW-Authenticate", "Bearer", r.www_authenticate);
			ASSERT_TRUE("no config in the body", !strstr(r.body, "data_dir"));
			http_free(&r);
		}
	}
	ASSERT_EQ_U64("GET /config with the token", 0,
		      http_authz("GET", "127.0.0.1", api, "/config", HTTP_TIMEOUT_MS,
				 "Bearer s3cret-token", &r));
	ASSERT_EQ_U64("status", 200, r.status);
	ASSERT_TRUE("the configuration", strstr(r.body, "\"data_dir\"") != NULL);
	ASSERT_TRUE("the token file's path, not the token",
		    strstr(r.body, token_file) && !strstr(r.body, "s3cret-token\""));
	http_free(&r);
	ASSERT_EQ_U64("/ownership with the token", 200,
		      get_status(api, "/ownership?ip=10.0.0.1", "bearer s3cret-token"));
	ASSERT_EQ_U64("/nope with the token", 404, get_status(api, "/nope", "Bearer s3cret-token"));
	ASSERT_EQ_U64("a bad ip with the token", 400,
		      get_status(api, "/ownership?ip=10.0.0.999", "Bearer s3cret-token"));
	ASSERT_EQ_U64("the probe port wants no token", 200, get_status(admin, "/healthz", NULL));
	ASSERT_EQ_U64("nor /metrics", 200, get_status(admin, "/metrics", NULL));
	/* every answer of the API counted by its status: 5 x 3 refusals, 2 + 1 + 1 answered */
	{
		static const struct {
			const char *code;
			uint64_t n;
		} want[] = {
			{ "401", 15 }, { "200", 2 }, { "404", 1 }, { "400", 1 }, { "500", 0 }
		};
		char sample[128];

		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			snprintf(
			    sample, sizeof(sample),
			    "podflow_collector_admin_requests_total{listener=\"api\",code=\"%s\"}",
			    want[i].code);
			ASSERT_EQ_U64(sample, want[i].n, harness_metric_now(admin, sample));
		}
	}
	ret = 0;
cleanup:
	if (ret && c.err_text)
		fprintf(stderr, "    collector:\n%s\n", c.err_text);
	http_free(&r);
	if (c.pid > 0 && !c.exited)
		sidecar_stop(&c, 6000, NULL);
	sidecar_free(&c);
	return ret;
}

/* ---- the POST route ---- */

#define POST_MAX 65536

/* Answers what it was given: the path, the length, a checksum, the NUL after the body. */
static void cb_post(void *ctx, const struct admin_post *req, struct admin_reply *reply)
{
	uint64_t sum = 0;
	char *body;

	check_thread(ctx);
	for (size_t i = 0; i < req->len; i++)
		sum = sum * 31 + (unsigned char)req->body[i];
	if (asprintf(&body, "path=%s len=%zu sum=%llu nul=%d\n", req->path, req->len,
		     (unsigned long long)sum, req->body[req->len] == '\0') < 0)
		body = NULL;
	reply->status = 201;
	reply->content_type = "text/plain";
	reply->body = body;
	reply->len = body ? strlen(body) : 0;
}

/* GET /buffered: the bytes POST bodies hold now, read on the server thread. */
static int cb_buffered(void *ctx, const char *path, const struct admin_args *args, struct jsonw *jw)
{
	struct owner *o = ctx;
	struct admin_stats st;

	(void)args;
	if (strcmp(path, "/buffered") != 0)
		return 404;
	admin__stats(o->admin, &st);
	jsonw__obj_begin(jw);
	jsonw__kv_u64(jw, "bytes", st.post_buffered);
	jsonw__kv_u64(jw, "refused", st.post_too_large);
	jsonw__obj_end(jw);
	return 200;
}

static int post_server(struct server *s)
{
	struct admin_callbacks cb = callbacks;

	cb.json = cb_buffered;
	cb.post_path = "/p";
	cb.post_max_body = POST_MAX;
	cb.post = cb_post;
	return server_start_cb(s, "127.0.0.1:0", cb);
}

/* A TCP connection to the server, the request written whole; the fd or -1. */
static int raw_send(uint16_t port, const char *req, size_t len)
{
	int err, fd = tcp_connect(AF_INET, "127.0.0.1", port, &err);

	for (size_t off = 0; fd >= 0 && off < len;) {
		ssize_t n = write(fd, req + off, len - off);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	return fd;
}

/* Reads until the server closes (at most 5 s); the status, -1 without one. */
static long raw_answer(int fd, char *resp, size_t len)
{
	uint64_t deadline = harness_now_ms() + HTTP_TIMEOUT_MS;
	size_t got = 0;
	long status = -1;

	resp[0] = '\0';
	while (harness_now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, resp + got, len - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		resp[got] = '\0';
		if (got == len - 1)
			break;
	}
	close(fd);
	sscanf(resp, "HTTP/1.1 %ld", &status);
	return status;
}

static long raw(uint16_t port, const char *req, size_t len, char *resp, size_t resplen)
{
	int fd = raw_send(port, req, len);

	return fd < 0 ? -1 : raw_answer(fd, resp, resplen);
}

static long raw_str(uint16_t port, const char *req, char *resp, size_t resplen)
{
	return raw(port, req, strlen(req), resp, resplen);
}

static uint64_t buffered(uint16_t port, const char *key)
{
	char *body = NULL;
	uint64_t v = UINT64_MAX;
	json_t *j;

	if (harness_http_get(port, "/buffered", &body) == 200 && (j = json_loads(body, 0, NULL))) {
		v = json_integer_value(json_object_get(j, key));
		json_decref(j);
	}
	free(body);
	return v;
}

/*
 * POST on its path only, with the whole body (Content-Length or chunked),
 * whatever the query string; 413 over the limit, before any of it when
 * Content-Length says so; 405 elsewhere on the path, 404 for a POST
 * elsewhere; every answer closes; GET routes as before.
 */
static int test_post_route(void)
{
	char resp[4096], req[256], *big = NULL;
	struct server s = { 0 };
	uint64_t over = 0, refused;
	struct report_fault f;
	int ret = 1;

	ASSERT_EQ_U64("server starts", 0, post_server(&s));
	ASSERT_EQ_U64("POST /p", 201,
		      raw_str(s.port,
			      "POST /p?timeout=10s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
			      "hello",
			      resp, sizeof(resp)));
	ASSERT_TRUE("the body, its path alone", strstr(resp, "path=/p len=5 sum=99162322 nul=1"));
	ASSERT_TRUE("Connection: close", strcasestr(resp, "\r\nConnection: close\r\n"));
	ASSERT_EQ_U64("chunked", 201,
		      raw_str(s.port,
			      "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
			      resp, sizeof(resp)));
	ASSERT_TRUE("whole", strstr(resp, "len=11 "));
	ASSERT_EQ_U64("empty body", 201,
		      raw_str(s.port, "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
			      resp, sizeof(resp)));
	ASSERT_TRUE("len 0", strstr(resp, "len=0 sum=0 nul=1"));
	/* at the limit, and one byte over by Content-Length: refused before the body */
	big = malloc(POST_MAX + 256 + 8);
	ASSERT_TRUE("memory", big != NULL);
	{
		int n =
		    snprintf(big, 256, "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
			     POST_MAX);

		memset(big + n, 'a', POST_MAX);
		ASSERT_EQ_U64("at the limit", 201,
			      raw(s.port, big, (size_t)n + POST_MAX, resp, sizeof(resp)));
	}
	/* a client waiting for 100 Continue: answered at once, nothing read */
	snprintf(
	    req, sizeof(req),
	    "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
	    POST_MAX + 1);
	over++;
	ASSERT_EQ_U64("over by Content-Length, Expect", 413,
		      raw_str(s.port, req, resp, sizeof(resp)));
	ASSERT_TRUE("no 100 Continue first", !strstr(resp, "100 Continue"));
	/* one that sends at once (Go's): its body read and dropped, then answered */
	{
		int n =
		    snprintf(big, 256, "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
			     POST_MAX + 1);

		memset(big + n, 'a', POST_MAX + 1);
		over++;
		ASSERT_EQ_U64("over by Content-Length, the body sent", 413,
			      raw(s.port, big, (size_t)n + POST_MAX + 1, resp, sizeof(resp)));
	}
	/* announcing more than 4 x the limit: answered at once */
	snprintf(req, sizeof(req), "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
		 POST_MAX * 4 + 1);
	over++;
	ASSERT_EQ_U64("far over by Content-Length", 413, raw_str(s.port, req, resp, sizeof(resp)));
	/* chunked past the limit: the rest dropped, answered at its end */
	{
		int n = snprintf(big, 256,
				 "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
				 "%x\r\n",
				 POST_MAX + 1);

		memset(big + n, 'a', POST_MAX + 1);
		memcpy(big + n + POST_MAX + 1, "\r\n0\r\n\r\n", 7);
		over++;
		ASSERT_EQ_U64("over, chunked", 413,
			      raw(s.port, big, (size_t)n + POST_MAX + 1 + 7, resp, sizeof(resp)));
	}
	ASSERT_TRUE("says why", strstr(resp, "request body over 65536 bytes"));
	refused = buffered(s.port, "refused");
	ASSERT_EQ_U64("refusals counted", 4, refused);
	ASSERT_EQ_U64("nothing held after", 0, buffered(s.port, "bytes"));
	ASSERT_EQ_U64("GET /p", 405,
		      raw_str(s.port, "GET /p HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp)));
	ASSERT_TRUE("Allow: POST", strcasestr(resp, "\r\nAllow: POST\r\n"));
	ASSERT_EQ_U64("PUT /p", 405,
		      raw_str(s.port, "PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
			      resp, sizeof(resp)));
	ASSERT_EQ_U64("POST elsewhere", 404,
		      raw_str(s.port, "POST /q HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
			      resp, sizeof(resp)));
	ASSERT_EQ_U64("PUT elsewhere", 405,
		      raw_str(s.port, "PUT /q HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
			      resp, sizeof(resp)));
	ASSERT_TRUE("Allow: GET, HEAD", strcasestr(resp, "\r\nAllow: GET, HEAD\r\n"));
	ASSERT_EQ_U64("GET /healthz as before", 200, get_status(s.port, "/healthz", NULL));
	ASSERT_EQ_U64("callbacks on the server thread", 0, s.owner.wrong_thread);
	f = (struct report_fault){
		.fault = "POST body over the route's limit (declared or chunked)",
		.unit = "requests",
		.injected = over,
		.counted = refused,
		.counted_as = "413 saying why, counted as refused",
		.note = "nothing held after",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each refused and counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	free(big);
	server_stop(&s);
	return ret;
}

/*
 * The bodies being read hold at most 8 x the limit between them: a ninth
 * partial body of nearly the limit is refused (503) while eight are held,
 * and taken once they are gone.
 */
static int test_post_budget(void)
{
	static const char head[] =
	    "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
	size_t chunk = POST_MAX - 1000, n;
	char *req = malloc(sizeof(head) + 16 + POST_MAX + 8), resp[1024];
	struct server s = { 0 };
	int fds[8], ret = 1;
	uint64_t deadline, tries = 0, busy = 0, taken = 0;
	struct report_fault f;
	long st;

	for (int i = 0; i < 8; i++)
		fds[i] = -1;
	ASSERT_TRUE("memory", req != NULL);
	n = (size_t)snprintf(req, sizeof(head) + 16, "%s%zx\r\n", head, chunk);
	memset(req + n, 'b', chunk);
	n += chunk;
	ASSERT_EQ_U64("server starts", 0, post_server(&s));
	for (int i = 0; i < 8; i++) {
		fds[i] = raw_send(s.port, req, n);
		ASSERT_TRUE("partial body sent", fds[i] >= 0);
	}
	/* each holds a buffer of the limit (its chunk, doubled up to it) */
	deadline = harness_now_ms() + 2000;
	while (buffered(s.port, "bytes") != 8ULL * POST_MAX && harness_now_ms() < deadline)
		usleep(10 * 1000);
	ASSERT_EQ_U64("eight bodies held", 8ULL * POST_MAX, buffered(s.port, "bytes"));
	/* a ninth: its body read and dropped, nothing held for it, answered at its end */
	memcpy(req + n, "\r\n0\r\n\r\n", 7);
	st = raw(s.port, req, n + 7, resp, sizeof(resp));
	tries++;
	busy += st == 503;
	ASSERT_EQ_U64("a ninth: busy", 503, st);
	ASSERT_TRUE("says why", strstr(resp, "busy: too many request bodies being read"));
	ASSERT_EQ_U64("still eight held", 8ULL * POST_MAX, buffered(s.port, "bytes"));
	for (int i = 0; i < 8; i++) {
		close(fds[i]);
		fds[i] = -1;
	}
	deadline = harness_now_ms() + 2000;
	while (buffered(s.port, "bytes") != 0 && harness_now_ms() < deadline)
		usleep(10 * 1000);
	ASSERT_EQ_U64("released", 0, buffered(s.port, "bytes"));
	st = raw(s.port, req, n + 7, resp, sizeof(resp));
	tries++;
	taken += st == 201;
	ASSERT_EQ_U64("then taken", 201, st);
	f = (struct report_fault){
		.fault = "a ninth request body while eight fill the read budget",
		.unit = "requests",
		.injected = tries,
		.delivered = taken,
		.counted = busy,
		.counted_as = "503 saying the server is busy",
		.note = "the same body taken once the eight were gone",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("refused while full, taken after", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	for (int i = 0; i < 8; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(req);
	server_stop(&s);
	return ret;
}

static const struct harness_test tests[] = {
	{ "metrics_get_exact", test_metrics_get },
	{ "metrics_promtool_clean", test_metrics_promtool },
	{ "metrics_error_is_500", test_metrics_error_500 },
	{ "healthz", test_healthz },
	{ "readyz_flips", test_readyz },
	{ "config_json", test_config },
	{ "json_route", test_json_route },
	{ "not_found", test_not_found },
	{ "method_not_allowed", test_method_not_allowed },
	{ "head_metrics", test_head_metrics },
	{ "assets_served", test_assets_served },
	{ "assets_authorized", test_assets_authorized },
	{ "ui_assets_embedded", test_ui_assets_embedded },
	{ "keep_alive", test_keep_alive },
	{ "silent_client_does_not_block", test_silent_client },
	{ "timeout_ms_with_idle_client", test_timeout_ms },
	{ "address_in_use", test_addr_in_use },
	{ "bad_addresses", test_bad_addresses },
	{ "ipv6_and_dual_stack", test_ipv6_and_dual_stack },
	{ "trickle_closed_probe_within_1s", test_trickle_closed },
	{ "slowloris_same_peer_probe_within_1s", test_slowloris_same_peer },
	{ "header_deadline_closes", test_header_deadline },
	{ "eviction_counters_exact", test_counters },
	{ "collector_trickle_1100", test_collector_trickle },
	{ "collector_api_split", test_collector_api_split },
	{ "collector_api_off_loopback_needs_token", test_collector_api_needs_token },
	{ "collector_api_token", test_collector_api_token },
	{ "post_route", test_post_route },
	{ "post_budget", test_post_budget },
};

int main(int argc, char **argv)
{
	/* the trickle tests hold over a thousand sockets */
	static const struct harness_suite suite = {
		.name = "admin",
		HARNESS_TESTS(tests),
		HARNESS_TMP(g_tmp, "podflow-admin"),
		.nofile = true,
	};

	return harness_main(&suite, argc, argv);
}
