// SPDX-License-Identifier: BSD-2-Clause
/* Admin endpoint integration tests: a real lib/admin server, libcurl as the scraper, promtool. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "admin.h"
#include "harness.h"
#include "jsonw.h"
#include "metrics.h"

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

/* Starts an admin server on `addr` run by a thread of its own.  0 or -errno. */
static int server_start(struct server *s, const char *addr)
{
	struct admin_callbacks cb = callbacks;
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
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (s->stop_fd < 0)
		return -errno;
	if (pthread_create(&s->th, NULL, server_loop, s))
		return -EAGAIN;
	s->owner.thread = s->th;
	s->running = true;
	return 0;
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

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct http_result *r = arg;
	size_t len = size * n;

	if (len > 6 && strncasecmp(data, "Allow:", 6) == 0) {
		snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(len - 6), data + 6);
		r->allow[strcspn(r->allow, "\r\n")] = '\0';
		memmove(r->allow, r->allow + strspn(r->allow, " "), strlen(r->allow) + 1);
	}
	return len;
}

/* One request; 0, or -EIO with the curl error printed. */
static int http(const char *method, const char *host, unsigned short port, const char *path,
		long timeout_ms, struct http_result *r)
{
	CURL *c = curl_easy_init();
	char url[256], *ct = NULL;
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
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "POST") == 0)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(c);
	r->ms = harness_now_ms() - t0;
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
 * The idle timeout, seen through the owner's API on the test's own thread:
 * no timeout without connections; with a silent one, the loop is told to
 * come back within the 10 s connection timeout.
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
	ASSERT_TRUE("at most the 10 s connection timeout", t <= 10000);
	ASSERT_TRUE("about the 10 s connection timeout", t >= 8000);
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
		"127.0.0.1:80x", "1.2.3:80",   "localhost:80",	  "::1:80",
		"[::1]80",	 "[::1:80",    "::1]:80",	  "[127.0.0.1]:80",
		"[]:80",	 "",	       "256.0.0.1:80",	  "127.0.0.1: 80",
	};
	char why[256];
	int ret = 1;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct admin *a;

		why[0] = '\0';
		errno = 0;
		a = admin__new(bad[i], &callbacks, why, sizeof(why));
		if (a) {
			fprintf(stderr, "    \"%s\" accepted\n", bad[i]);
			admin__free(a);
			goto cleanup;
		}
		ASSERT_EQ_U64(bad[i], EINVAL, errno);
		ASSERT_TRUE("the message names the address", strstr(why, bad[i]) != NULL);
	}
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
	{ "keep_alive", test_keep_alive },
	{ "silent_client_does_not_block", test_silent_client },
	{ "timeout_ms_with_idle_client", test_timeout_ms },
	{ "address_in_use", test_addr_in_use },
	{ "bad_addresses", test_bad_addresses },
	{ "ipv6_and_dual_stack", test_ipv6_and_dual_stack },
};

int main(int argc, char **argv)
{
	int failed;

	/* no root and no kernel feature needed: nothing here ever skips */
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "curl_global_init failed: FAIL\n");
		return 1;
	}
	failed = harness_run("admin", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
