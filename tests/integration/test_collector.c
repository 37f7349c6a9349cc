// SPDX-License-Identifier: BSD-2-Clause
/* Collector integration tests: the real server, real HTTP/2 (h2c and TLS), real senders. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <zlib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"
#include "wire.h"

#define WAIT_MS 10000
#define RUN_MS	120000 /* a whole pf-send run */
#define T0_MS	1700000000000ull

static char g_tmp[256]; /* everything a test makes lives under here */

/* ---- helpers ---------------------------------------------------------------- */

static int make_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", g_tmp, name);
	return mkdir(buf, 0755) && errno != EEXIST ? -errno : 0;
}

/* Starts the collector on 127.0.0.1, an ephemeral port, `data` as --data-dir, plus `extra`. */
static int start(struct sidecar *p, uint16_t *port, const char *data, const char *const *extra)
{
	const char *args[40] = { "--listen", "127.0.0.1:0", "--data-dir", data, "--workers", "2",
				 "--stats-interval", "0",
				 /* the ingest path alone: test_attribution.c covers the rest */
				 "--no-attribution" };
	int n = 9;

	for (int i = 0; extra && extra[i] && n < 38; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	return collector_start(p, args, port);
}

/* Runs pf-send with `args` (after the binary name); *res = its JSON line.  Exit code or -1. */
static int pf_send(const char *const *args, json_t **res)
{
	const char *argv[40];
	char bin[512], *out = NULL;
	json_error_t jerr;
	int n = 0, fd, st;
	pid_t pid;

	argv[n++] = harness_bin("pf-send", bin, sizeof(bin));
	for (int i = 0; args[i] && n < 38; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = harness_start_capture(argv, &fd);
	if (pid < 0)
		return -1;
	st = harness_finish_capture(pid, fd, RUN_MS, &out);
	*res = json_loads(out, 0, &jerr);
	if (!*res)
		fprintf(stderr, "    pf-send printed no JSON (exit %d): %s\n", st, out);
	free(out);
	return st;
}

static uint64_t status_count(json_t *res, const char *code)
{
	return rec_u64(json_object_get(res, "status"), code);
}

/* An output file to read lines from: as it is, or a .json.gz decompressed (every member). */
static FILE *open_lines(const char *path)
{
	size_t n = strlen(path);
	char buf[65536];
	gzFile gz;
	FILE *t;
	int got;

	if (n < 3 || strcmp(path + n - 3, ".gz") != 0)
		return fopen(path, "r");
	gz = gzopen(path, "rb");
	t = tmpfile();
	if (!gz || !t)
		goto fail;
	while ((got = gzread(gz, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)got, t) != (size_t)got)
			goto fail;
	if (got < 0) {
		int e;

		fprintf(stderr, "    FAIL: %s: not valid gzip: %s\n", path, gzerror(gz, &e));
		goto fail;
	}
	gzclose(gz);
	rewind(t);
	return t;
fail:
	if (gz)
		gzclose(gz);
	if (t)
		fclose(t);
	return NULL;
}

static long read_lines(const char *pattern, bool check, uint32_t s0, uint32_t ns, uint32_t nb,
		       uint32_t nr);

/* DIR/flows-w*.jsonl: the plain JSON lines, written with each 204. */
static long read_output(const char *dir, bool check, uint32_t s0, uint32_t ns, uint32_t nb,
			uint32_t nr)
{
	char pattern[PATH_MAX + 64];

	snprintf(pattern, sizeof(pattern), "%.*s/flows-w*.jsonl", PATH_MAX, dir);
	return read_lines(pattern, check, s0, ns, nb, nr);
}

/* DIR/flows/dt=*\/hr=*\/part-*.json.gz: the published files (hidden ones are not read). */
static long read_files(const char *dir, bool check, uint32_t s0, uint32_t ns, uint32_t nb,
		       uint32_t nr)
{
	char pattern[PATH_MAX + 64];

	snprintf(pattern, sizeof(pattern), "%.*s/flows/dt=*/hr=*/part-*.json.gz", PATH_MAX, dir);
	return read_lines(pattern, check, s0, ns, nb, nr);
}

/* How many hidden (unpublished) files DIR/flows holds. */
static size_t hidden_files(const char *dir)
{
	char pattern[PATH_MAX + 64];
	glob_t g = { 0 };
	size_t n;

	snprintf(pattern, sizeof(pattern), "%.*s/flows/dt=*/hr=*/.part-*", PATH_MAX, dir);
	if (glob(pattern, 0, NULL, &g) != 0)
		return 0;
	n = g.gl_pathc;
	globfree(&g);
	return n;
}

/*
 * Reads every line of the files `pattern` matches; each must be a JSON object.  With
 * `check`, each record must be exactly what pf-send made for its
 * (sender, batch, record), and each of senders [s0, s0+ns) x batches
 * [0, nb) x records [0, nr) must appear exactly once.  Returns the number
 * of lines, or -1 after printing what is wrong.
 */
static long read_lines(const char *pattern, bool check, uint32_t s0, uint32_t ns, uint32_t nb,
		       uint32_t nr)
{
	unsigned char *seen = NULL;
	long lines = 0, bad = -1;
	glob_t g = { 0 };

	if (check) {
		seen = calloc((size_t)ns * nb * nr + 1, 1);
		if (!seen)
			return -1;
	}
	if (glob(pattern, 0, NULL, &g) != 0) {
		free(seen);
		return 0;
	}
	for (size_t f = 0; f < g.gl_pathc; f++) {
		FILE *in = open_lines(g.gl_pathv[f]);
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;

		if (!in)
			goto out;
		while ((n = getline(&line, &cap, in)) > 0) {
			json_error_t jerr;
			json_t *r = json_loads(line, 0, &jerr);
			char want[80];
			uint64_t bs, s, b, i;

			lines++;
			if (!r || !json_is_object(r)) {
				fprintf(stderr, "    FAIL: %s: line %ld is not a JSON object: %s\n",
					g.gl_pathv[f], lines, jerr.text);
				json_decref(r);
				free(line);
				fclose(in);
				goto out;
			}
			if (!check) {
				json_decref(r);
				continue;
			}
			bs = rec_u64(r, "bytes_sent");
			s = bs / 1000000000000ull;
			b = bs / 1000000 % 1000000;
			i = bs % 1000000;
			snprintf(want, sizeof(want), "sender-%llu", (unsigned long long)s);
#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "    FAIL: record %llu/%llu/%llu: %s\n", \
				(unsigned long long)s, (unsigned long long)b,    \
				(unsigned long long)i, #cond);                   \
			json_decref(r);                                          \
			free(line);                                              \
			fclose(in);                                              \
			goto out;                                                \
		}                                                                \
	} while (0)
			CHECK(s >= s0 && s < s0 + ns && b < nb && i < nr);
			CHECK(strcmp(rec_str(r, "local_pod"), want) == 0);
			CHECK(strcmp(rec_str(r, "local_namespace"), "bench") == 0);
			CHECK(strcmp(rec_str(r, "local_app"), "pf-send") == 0);
			CHECK(strcmp(rec_str(r, "local_node"), "node-pf") == 0);
			CHECK(strcmp(rec_str(r, "local_workload"), "pf-send") == 0);
			CHECK(strcmp(rec_str(r, "remote_source"), "unattributed") == 0);
			CHECK(strcmp(rec_str(r, "remote_pod"), "") == 0);
			CHECK(strcmp(rec_str(r, "remote_app"), "") == 0);
			CHECK(rec_u64(r, "bytes_received") == 2 * bs);
			CHECK(rec_u64(r, "segs_sent") == i + 1);
			CHECK(rec_u64(r, "segs_received") == b + 1);
			CHECK(rec_u64(r, "start_ms") == T0_MS + b * 10000);
			CHECK(rec_u64(r, "end_ms") == T0_MS + b * 10000 + 10000);
			CHECK(rec_u64(r, "flows") == 1 + i % 3);
			CHECK(rec_u64(r, "closed") == i % 2);
			CHECK(rec_u64(r, "retransmits") == i % 5);
			CHECK(rec_u64(r, "resets") == (i % 7 == 0));
			CHECK(rec_u64(r, "srtt_us") == 100 + i);
			CHECK(rec_u64(r, "min_rtt_us") == 50 + i % 50);
			CHECK(rec_u64(r, "pid") == 1000 + s);
			CHECK(rec_u64(r, "family") == 4);
			CHECK(strcmp(rec_str(r, "direction"), i % 2 ? "in" : "out") == 0);
			CHECK(rec_u64(r, "remote_port") == (i % 2 ? 40000 + i % 20000 : 443));
			CHECK(rec_u64(r, "cgroup_id") == 1000 + i % 4);
			snprintf(want, sizeof(want), "%064llx", (unsigned long long)(1000 + i % 4));
			CHECK(strcmp(rec_str(r, "container_id"), want) == 0);
			snprintf(want, sizeof(want), "app-%llu", (unsigned long long)(i % 4));
			CHECK(strcmp(rec_str(r, "container"), want) == 0);
			snprintf(want, sizeof(want), "10.%llu.%llu.1", (unsigned long long)(s >> 8),
				 (unsigned long long)(s & 255));
			CHECK(strcmp(rec_str(r, "local_ip"), want) == 0);
			snprintf(want, sizeof(want), "198.18.%llu.%llu",
				 (unsigned long long)(b & 255), (unsigned long long)(i & 255));
			CHECK(strcmp(rec_str(r, "remote_ip"), want) == 0);
			CHECK(strcmp(rec_str(r, "comm"), "pf-send") == 0);
			{
				size_t k = ((size_t)(s - s0) * nb + b) * nr + i;

				CHECK(!seen[k]); /* no record twice */
				seen[k] = 1;
			}
#undef CHECK
			json_decref(r);
		}
		free(line);
		fclose(in);
	}
	bad = lines;
out:
	globfree(&g);
	free(seen);
	return bad;
}

/* Total size of DIR/flows-w*.jsonl. */
static uint64_t output_bytes(const char *dir)
{
	char pattern[512];
	uint64_t total = 0;
	glob_t g = { 0 };

	snprintf(pattern, sizeof(pattern), "%s/flows-w*.jsonl", dir);
	if (glob(pattern, 0, NULL, &g) != 0)
		return 0;
	for (size_t f = 0; f < g.gl_pathc; f++) {
		struct stat st;

		if (stat(g.gl_pathv[f], &st) == 0)
			total += (uint64_t)st.st_size;
	}
	globfree(&g);
	return total;
}

/* A valid batch of `n` records from sender `s` (pf-send's values), `enc` encoded.  malloc'd. */
static void *make_batch(uint32_t s, uint32_t n, enum wire_encoding enc, size_t *len)
{
	struct wire_encoder *e = wire_encoder__new(enc, 0);
	struct wire_header h = { .sender_id = 42, .seq = 1 };
	struct flow_record r = { 0 };
	const void *body;
	void *copy = NULL;

	if (!e)
		return NULL;
	h.sender = (struct flow_identity){ .pod = "direct", .namespace = "bench" };
	r.family = 4;
	r.direction = FLOW_DIRECTION_OUT;
	r.local_addr[10] = r.local_addr[11] = r.remote_addr[10] = r.remote_addr[11] = 0xff;
	for (uint32_t i = 0; i < n; i++) {
		r.bytes_sent = (uint64_t)s * 1000000000000ull + i;
		if (wire_encoder__add(e, &r))
			goto out;
	}
	if (wire_encoder__finish(e, &h, &body, len))
		goto out;
	copy = malloc(*len);
	if (copy)
		memcpy(copy, body, *len);
out:
	wire_encoder__free(e);
	return copy;
}

struct http_resp {
	long status;
	char body[512];
	size_t len;
	char allow[64];
	char retry_after[16];
};

static size_t on_resp_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct http_resp *r = ud;
	size_t n = size * nmemb, room = sizeof(r->body) - 1 - r->len;

	memcpy(r->body + r->len, p, n < room ? n : room);
	r->len += n < room ? n : room;
	r->body[r->len] = '\0';
	return n;
}

static size_t on_resp_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct http_resp *r = ud;
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

/*
 * One request on its own HTTP/2 prior-knowledge connection (libcurl 7.88
 * cannot reuse those; one request per connection never hits that).
 * `chunked`: no Content-Length, the body streams from a read callback.
 * Returns the CURLcode.
 */
static int http(uint16_t port, const char *method, const char *path, const char *const *headers,
		const void *body, size_t len, bool chunked, struct http_resp *resp)
{
	struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
	struct chunked_src src = { body, len };
	char url[256];
	CURL *c = curl_easy_init();
	CURLcode rc;

	memset(resp, 0, sizeof(*resp));
	if (!c)
		return CURLE_FAILED_INIT;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	for (int i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
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
	return (int)rc;
}

/* The stats line's value of `key` once the collector has exited (its "stats at exit" line). */
static uint64_t exit_stat(struct sidecar *p, const char *key)
{
	const char *line = p->err_text ? strstr(p->err_text, "stats at exit:") : NULL;
	char pat[96];
	const char *at;

	if (!line)
		return UINT64_MAX;
	snprintf(pat, sizeof(pat), " %s=", key);
	at = strstr(line, pat);
	return at ? strtoull(at + strlen(pat), NULL, 10) : UINT64_MAX;
}

/* The collector's exit code after SIGTERM, or -1. */
static int stop(struct sidecar *p, double *secs)
{
	if (sidecar_stop(p, WAIT_MS, secs))
		return -1;
	return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : 128 + WTERMSIG(p->status);
}

static void url_for(char *buf, size_t len, const char *scheme, uint16_t port)
{
	snprintf(buf, len, "%s://127.0.0.1:%u/v1/flows", scheme, port);
}

/* ---- tests ---------------------------------------------------------------- */

static int test_h2c_exact(void)
{
	struct sidecar c = { 0 };
	char data[512], url[128];
	json_t *res = NULL;
	uint16_t port;
	int ret = 1, st;

	make_dir(data, sizeof(data), "h2c");
	ASSERT_EQ_U64("collector starts", 0, (uint64_t)-start(&c, &port, data, NULL));
	url_for(url, sizeof(url), "http", port);
	st = pf_send((const char *const[]){ "--url", url, "--senders", "1", "--batches", "5",
					    "--records", "100", NULL },
		     &res);
	ASSERT_TRUE("pf-send JSON", res != NULL);
	ASSERT_EQ_U64("pf-send exit", 0, (uint64_t)st);
	ASSERT_EQ_U64("204s", 5, status_count(res, "204"));
	ASSERT_EQ_U64("records sent", 500, rec_u64(res, "records_sent"));
	/* 204 means written: no waiting for the files */
	ASSERT_EQ_U64("exact records in the output", 500,
		      (uint64_t)read_output(data, true, 0, 1, 5, 100));
	/* the files are hidden while written: nothing to read until they are published */
	ASSERT_EQ_U64("no published file yet", 0, (uint64_t)read_files(data, false, 0, 0, 0, 0));
	ASSERT_EQ_U64("one hidden file (one hour, one worker)", 1, hidden_files(data));
	ASSERT_EQ_U64("exit code", 0, (uint64_t)stop(&c, NULL));
	/* SIGTERM published them: the same records, gzip JSON lines, hour partitioned */
	ASSERT_EQ_U64("exact records in the files", 500,
		      (uint64_t)read_files(data, true, 0, 1, 5, 100));
	ASSERT_EQ_U64("no hidden file left", 0, hidden_files(data));
	ASSERT_EQ_U64("stats: batches", 5, exit_stat(&c, "batches"));
	ASSERT_EQ_U64("stats: records", 500, exit_stat(&c, "records"));
	ASSERT_EQ_U64("stats: 204", 5, exit_stat(&c, "requests_204"));
	ASSERT_TRUE("stats: bytes in", exit_stat(&c, "bytes_in") > 0);
	ASSERT_TRUE("stats: bytes decoded > bytes in (zstd)",
		    exit_stat(&c, "bytes_decoded") > exit_stat(&c, "bytes_in"));
	ret = 0;
cleanup:
	json_decref(res);
	sidecar_free(&c);
	return ret;
}

static int test_tls_alpn_h2(void)
{
	struct sidecar c = { 0 };
	char data[512], tls[512], url[128], cert[600], key[600], ca[600];
	json_t *res = NULL;
	uint16_t port;
	int ret = 1, st;

	make_dir(data, sizeof(data), "tls-data");
	make_dir(tls, sizeof(tls), "tls");
	/* a throwaway CA and a server certificate for 127.0.0.1, made now, never committed */
	ASSERT_EQ_U64(
	    "openssl: CA", 0,
	    (uint64_t)-harness_sh("cd %s && openssl req -x509 -newkey ec -pkeyopt "
				  "ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt "
				  "-days 1 -subj /CN=podflow-test-ca >/dev/null 2>&1",
				  tls));
	ASSERT_EQ_U64("openssl: server cert", 0,
		      (uint64_t)-harness_sh(
			  "cd %s && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
			  "-keyout srv.key -out srv.csr -subj /CN=localhost >/dev/null 2>&1 && "
			  "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > srv.ext && "
			  "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
			  "-out srv.crt -days 1 -extfile srv.ext >/dev/null 2>&1",
			  tls));
	snprintf(cert, sizeof(cert), "%s/srv.crt", tls);
	snprintf(key, sizeof(key), "%s/srv.key", tls);
	snprintf(ca, sizeof(ca), "%s/ca.crt", tls);
	ASSERT_EQ_U64(
	    "collector starts", 0,
	    (uint64_t)-start(&c, &port, data,
			     (const char *const[]){ "--tls-cert", cert, "--tls-key", key, NULL }));
	url_for(url, sizeof(url), "https", port);
	st = pf_send((const char *const[]){ "--url", url, "--cacert", ca, "--senders", "1",
					    "--batches", "5", "--records", "100", NULL },
		     &res);
	ASSERT_TRUE("pf-send JSON", res != NULL);
	ASSERT_EQ_U64("pf-send exit", 0, (uint64_t)st);
	ASSERT_EQ_U64("204s", 5, status_count(res, "204"));
	ASSERT_EQ_U64("exact records in the output", 500,
		      (uint64_t)read_output(data, true, 0, 1, 5, 100));
	/* a client that offers only http/1.1 in ALPN is refused in the handshake */
	ASSERT_EQ_U64("http/1.1-only client refused", 0,
		      (uint64_t)-harness_sh("! curl -s -o /dev/null --max-time 5 --http1.1 "
					    "--cacert %s https://127.0.0.1:%u/v1/flows",
					    ca, port));
	ASSERT_EQ_U64("exit code", 0, (uint64_t)stop(&c, NULL));
	ASSERT_EQ_U64("stats: TLS failures", 1, exit_stat(&c, "conns_tls_failures"));
	ret = 0;
cleanup:
	json_decref(res);
	sidecar_free(&c);
	return ret;
}

static int test_fifty_senders(void)
{
	struct sidecar c = { 0 };
	char data[512], url[128];
	json_t *res = NULL;
	uint16_t port;
	int ret = 1, st;

	make_dir(data, sizeof(data), "fifty");
	ASSERT_EQ_U64("collector starts", 0, (uint64_t)-start(&c, &port, data, NULL));
	url_for(url, sizeof(url), "http", port);
	st = pf_send((const char *const[]){ "--url", url, "--senders", "50", "--batches", "4",
					    "--records", "200", "--parallel", "2", NULL },
		     &res);
	ASSERT_TRUE("pf-send JSON", res != NULL);
	ASSERT_EQ_U64("pf-send exit", 0, (uint64_t)st);
	ASSERT_EQ_U64("every batch 204", 200, status_count(res, "204"));
	ASSERT_EQ_U64("records sent", 40000, rec_u64(res, "records_sent"));
	ASSERT_EQ_U64("records in the output == records sent", 40000,
		      (uint64_t)read_output(data, true, 0, 50, 4, 200));
	ASSERT_EQ_U64("exit code", 0, (uint64_t)stop(&c, NULL));
	ASSERT_EQ_U64("stats: 50 connections", 50, exit_stat(&c, "conns_accepted"));
	ret = 0;
cleanup:
	json_decref(res);
	sidecar_free(&c);
	return ret;
}

/* Waits for the server to close `fd` (EOF or reset); true if it did within timeout_ms. */
static bool closed_by_peer(int fd, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	char buf[4096];

	while (harness_now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
	}
	return false;
}

static int test_garbage_and_malformed(void)
{
	struct sidecar c = { 0 };
	char data[512], url[128], *out = NULL, bin[512];
	unsigned char junk[4096];
	json_t *res = NULL;
	struct http_resp r;
	json_error_t jerr;
	uint16_t port;
	int ret = 1, fd = -1, fd2 = -1, out_fd = -1, cerr;
	pid_t good = -1;

	make_dir(data, sizeof(data), "garbage");
	ASSERT_EQ_U64("collector starts", 0, (uint64_t)-start(&c, &port, data, NULL));
	url_for(url, sizeof(url), "http", port);
	/* a good sender keeps posting the whole time */
	good = harness_start_capture(
	    (const char *const[]){ harness_bin("pf-send", bin, sizeof(bin)), "--url", url,
				   "--first-sender", "7", "--batches", "300", "--records", "50",
				   NULL },
	    &out_fd);
	ASSERT_TRUE("good sender started", good > 0);

	/* HTTP/1.1 instead of the HTTP/2 preface */
	fd = tcp_connect(AF_INET, "127.0.0.1", port, &cerr);
	ASSERT_TRUE("connect", fd >= 0);
	ASSERT_TRUE("send HTTP/1.1", send(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, 0) == 27);
	ASSERT_TRUE("HTTP/1.1 connection closed", closed_by_peer(fd, 5000));
	/* random bytes */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 7919 + 13);
	fd2 = tcp_connect(AF_INET, "127.0.0.1", port, &cerr);
	ASSERT_TRUE("connect", fd2 >= 0);
	ASSERT_TRUE("send garbage", send(fd2, junk, sizeof(junk), MSG_NOSIGNAL) > 0);
	ASSERT_TRUE("garbage connection closed", closed_by_peer(fd2, 5000));

	/* a valid HTTP/2 request whose body is not a batch */
	ASSERT_EQ_U64("curl", CURLE_OK,
		      (uint64_t)http(port, "POST", "/v1/flows",
				     (const char *const[]){ "Content-Encoding: zstd", NULL }, junk,
				     sizeof(junk), false, &r));
	ASSERT_EQ_U64("malformed zstd body: status", 400, (uint64_t)r.status);
	ASSERT_TRUE("a reason line", r.len > 1 && r.body[r.len - 1] == '\n' &&
					 strchr(r.body, '\n') == r.body + r.len - 1);
	ASSERT_EQ_U64(
	    "curl", CURLE_OK,
	    (uint64_t)http(port, "POST", "/v1/flows", NULL, junk, sizeof(junk), false, &r));
	ASSERT_EQ_U64("malformed identity body: status", 400, (uint64_t)r.status);
	ASSERT_TRUE("names the problem", strstr(r.body, "malformed") != NULL);

	ASSERT_EQ_U64("good sender exit", 0,
		      (uint64_t)harness_finish_capture(good, out_fd, RUN_MS, &out));
	good = -1;
	res = json_loads(out, 0, &jerr);
	ASSERT_TRUE("good sender JSON", res != NULL);
	ASSERT_EQ_U64("good sender: every batch 204", 300, status_count(res, "204"));
	ASSERT_EQ_U64("only the good sender's records", 300 * 50,
		      (uint64_t)read_output(data, true, 7, 1, 300, 50));
	ASSERT_EQ_U64("exit code", 0, (uint64_t)stop(&c, NULL));
	ASSERT_EQ_U64("stats: protocol errors", 2, exit_stat(&c, "conns_protocol_errors"));
	ASSERT_EQ_U64("stats: 400s", 2, exit_stat(&c, "requests_400"));
	ret = 0;
cleanup:
	if (good > 0) {
		kill(good, SIGKILL);
		harness_finish_capture(good, out_fd, 1000, &out);
	}
	if (fd >= 0)
		close(fd);
	if (fd2 >= 0)
		close(fd2);
	free(out);
	json_decref(res);
	sidecar_free(&c);
	return ret;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) ? -errno : 0;
}

static int test_token_rotation(void)
{
	struct sidecar c = { 0 };
	char data[512], dir[512], path[700], tmp[700], url[128];
	const char *auth_a = "Authorization: Bearer token-A-0123456789";
	const char *auth_b = "Authorization: Bearer token-B-9876543210";
	json_t *res = NULL;
	struct http_resp r;
	uint64_t t_swap, took = 0;
	void *body = NULL;
	size_t len;
	uint16_t port;
	int ret = 1, st;

	make_dir(data, sizeof(data), "token-data");
	make_dir(dir, sizeof(dir), "token");
	/* the kubelet's projected-volume layout: token -> ..data/token, ..data -> ..<ts> */
	snprintf(path, sizeof(path), "%s/..2024_01", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/..2024_01/token", dir);
	ASSERT_EQ_U64("write token A", 0, (uint64_t)-write_file(path, "token-A-0123456789\n"));
	snprintf(path, sizeof(path), "%s/..data", dir);
	ASSERT_EQ_U64("..data link", 0, (uint64_t)symlink("..2024_01", path));
	snprintf(path, sizeof(path), "%s/token", dir);
	ASSERT_EQ_U64("token link", 0, (uint64_t)symlink("..data/token", path));

	ASSERT_EQ_U64(
	    "collector starts", 0,
	    (uint64_t)-start(&c, &port, data, (const char *const[]){ "--token-file", path, NULL }));
	body = make_batch(1, 10, WIRE_ENC_ZSTD, &len);
	ASSERT_TRUE("batch", body != NULL);
	http(port, "POST", "/v1/flows", (const char *const[]){ "Content-Encoding: zstd", NULL },
	     body, len, false, &r);
	ASSERT_EQ_U64("no token: 401", 401, (uint64_t)r.status);
	http(port, "POST", "/v1/flows",
	     (const char *const[]){ "Content-Encoding: zstd", "Authorization: Bearer nope", NULL },
	     body, len, false, &r);
	ASSERT_EQ_U64("wrong token: 401", 401, (uint64_t)r.status);
	http(port, "POST", "/v1/flows",
	     (const char *const[]){ "Content-Encoding: zstd",
				    "Authorization: Basic dG9rZW4=", NULL },
	     body, len, false, &r);
	ASSERT_EQ_U64("not Bearer: 401", 401, (uint64_t)r.status);
	http(port, "POST", "/v1/flows",
	     (const char *const[]){ "Content-Encoding: zstd", auth_a, NULL }, body, len, false, &r);
	ASSERT_EQ_U64("right token: 204", 204, (uint64_t)r.status);
	url_for(url, sizeof(url), "http", port);
	st = pf_send((const char *const[]){ "--url", url, "--token", "token-A-0123456789",
					    "--batches", "3", "--records", "10", NULL },
		     &res);
	ASSERT_EQ_U64("pf-send with the token", 0, (uint64_t)st);

	/* rotate as the kubelet does: new dir, new link, rename over ..data */
	snprintf(path, sizeof(path), "%s/..2024_02", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/..2024_02/token", dir);
	ASSERT_EQ_U64("write token B", 0, (uint64_t)-write_file(path, "token-B-9876543210\n"));
	snprintf(tmp, sizeof(tmp), "%s/..data_tmp", dir);
	ASSERT_EQ_U64("..data_tmp link", 0, (uint64_t)symlink("..2024_02", tmp));
	snprintf(path, sizeof(path), "%s/..data", dir);
	t_swap = harness_now_ms();
	ASSERT_EQ_U64("atomic swap", 0, (uint64_t)rename(tmp, path));
	for (;;) {
		http(port, "POST", "/v1/flows",
		     (const char *const[]){ "Content-Encoding: zstd", auth_b, NULL }, body, len,
		     false, &r);
		took = harness_now_ms() - t_swap;
		if (r.status == 204 || took > 2000)
			break;
		usleep(50000);
	}
	ASSERT_EQ_U64("new token honoured", 204, (uint64_t)r.status);
	ASSERT_TRUE("within 2 s", took <= 2000);
	http(port, "POST", "/v1/flows",
	     (const char *const[]){ "Content-Encoding: zstd", auth_a, NULL }, body, len, false, &r);
	ASSERT_EQ_U64("old token now refused", 401, (uint64_t)r.status);
	ASSERT_EQ_U64("exit code", 0, (uint64_t)stop(&c, NULL));
	fprintf(stderr, "    (rotation honoured after %llu ms)\n", (unsigned long long)took);
	ret = 0;
cleanup:
	free(body);
	json_decref(res);
	sidecar_free(&c);
	return ret;
}

static int test_limits_and_routes(void)
{
	struct sidecar c = { 0 };
	char data[512];
	struct http_resp r;
	void *big = NULL, *small = NULL;
	size_t big_len, small_len;
	uint16_t port;
	int ret = 1;

	make_dir(data, sizeof(data), "limits");
	ASSERT_EQ_U64("collector starts", 0,
		      (uint64_t)-start(&c, &port, data,
				       (const char *const[]){ "--max-body", "64KiB", NULL }));
	big = make_batch(2, 1000, WIRE_ENC_IDENTITY, &big_len); /* ~144 KB */
	small = make_batch(2, 10, WIRE_ENC_IDENTITY, &small_len);
	ASSERT_TRUE("batches", big && small && big_len > 65536 && big_len < 4 * 65536);
	/* Content-Length over the cap: refused from the headers, the body never buffered */
	http(port, "POST", "/v1/flows", NULL, big, big_len, false, &r);
	ASSERT_EQ_U64("over --max-body (Content-Length): 413", 413, (uint64_t)r.status);
	ASSERT_TRUE("413 names the limit", strstr(r.body, "max-body") != NULL);
	/* no Content-Length: refused once the body crosses the cap */
	http(port, "POST", "/v1/flows", NULL, big, big_len, true, &r);
	ASSERT_EQ_U64("over --max-body (streamed): 413", 413, (uint64_t)r.status);
	http(port, "POST", "/v1/flows", NULL, small, small_len, true, &r);
	ASSERT_EQ_U64("streamed body under the cap: 204", 204, (uint64_t)r.status);
	http(port, "POST", "/v1/flows", (const char *const[]){ "Content-Encoding: br", NULL },
	     small, small_len, false, &r);
	ASSERT_EQ_U64("Content-Encoding br: 415", 415, (uint64_t)r.status);
	http(port, "POST", "/v2/other", NULL, small, small_len, false, &r);
	ASSERT_EQ_U64("other path: 404", 404, (uint64_t)r.status);
	http(port, "GET", "/v1/flows", NULL, NULL, 0, false, &r);
	ASSERT_EQ_U64("GET: 405", 405, (uint64_t)r.status);
	ASSERT_STR("405 Allow", "POST", r.allow);
	http(port, "PUT", "/v1/flows", NULL, small, small_len, false, &r);
	ASSERT_EQ_U64("PUT: 405", 405, (uint64_t)r.status);
	http(port, "POST", "/v1/flows", NULL, small, small_len, false, &r);
	ASSERT_EQ_U64("still serving: 204", 204, (uint64_t)r.status);
	ASSERT_EQ_U64("records of the two accepted batches", 20,
		      (uint64_t)read_output(data, false, 0, 0, 0, 0));
	ASSERT_EQ_U64("exit code", 0, (uint64_t)stop(&c, NULL));
	ASSERT_EQ_U64("stats: 413", 2, exit_stat(&c, "requests_413"));
	ASSERT_EQ_U64("stats: 415", 1, exit_stat(&c, "requests_415"));
	ASSERT_EQ_U64("stats: 404", 1, exit_stat(&c, "requests_404"));
	ASSERT_EQ_U64("stats: 405", 2, exit_stat(&c, "requests_405"));
	ASSERT_EQ_U64("stats: 204", 2, exit_stat(&c, "requests_204"));
	ret = 0;
cleanup:
	free(big);
	free(small);
	sidecar_free(&c);
	return ret;
}

static int test_max_connections(void)
{
	struct sidecar c = { 0 };
	char data[512];
	struct http_resp r;
	int fds[3] = { -1, -1, -1 }, ret = 1, cerr;
	uint16_t port;

	make_dir(data, sizeof(data), "maxconn");
	ASSERT_EQ_U64("collector starts", 0,
		      (uint64_t)-start(&c, &port, data,
				       (const char *const[]){ "--workers", "1", "--max-connections",
							      "2", NULL }));
	for (int i = 0; i < 3; i++) {
		fds[i] = tcp_connect(AF_INET, "127.0.0.1", port, &cerr);
		ASSERT_TRUE("connect", fds[i] >= 0);
	}
	ASSERT_TRUE("third connection closed", closed_by_peer(fds[2], 5000));
	ASSERT_TRUE("first still open", !closed_by_peer(fds[0], 200));
	close(fds[0]);
	fds[0] = -1;
	/* a slot is free again once the server has seen the close */
	for (uint64_t deadline = harness_now_ms() + WAIT_MS;;) {
		http(port, "GET", "/v1/flows", NULL, NULL, 0, false, &r);
		if (r.status == 405 || harness_now_ms() > deadline)
			break;
		usleep(20000);
	}
	ASSERT_EQ_U64("served again", 405, (uint64_t)r.status);
	ASSERT_EQ_U64("exit code", 0, (uint64_t)stop(&c, NULL));
	ASSERT_TRUE("stats: refused", exit_stat(&c, "conns_refused") >= 1);
	ret = 0;
cleanup:
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	sidecar_free(&c);
	return ret;
}

static size_t read_paused(char *buf, size_t size, size_t nmemb, void *ud)
{
	(void)buf;
	(void)size;
	(void)nmemb;
	(void)ud;
	return CURL_READFUNC_PAUSE; /* the body never comes: a slowloris */
}

static uint16_t port_timeouts;

static int test_timeouts(void)
{
	/* the client preface and an empty SETTINGS frame (RFC 9113 sections 3.4, 6.5) */
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
	struct sidecar c = { 0 };
	char data[512], url[128];
	struct curl_slist *hl = NULL;
	uint64_t t0, took;
	CURL *h = NULL;
	int ret = 1, silent = -1, idle = -1, cerr;
	long status = 0;

	make_dir(data, sizeof(data), "timeouts");
	ASSERT_EQ_U64("collector starts", 0,
		      (uint64_t)-start(&c, &port_timeouts, data,
				       (const char *const[]){ "--request-timeout", "1s",
							      "--idle-timeout", "1s", NULL }));
	/* connects and says nothing: closed at the handshake deadline */
	silent = tcp_connect(AF_INET, "127.0.0.1", port_timeouts, &cerr);
	ASSERT_TRUE("connect", silent >= 0);
	/* a valid preface, then no request: closed (GOAWAY) when idle */
	idle = tcp_connect(AF_INET, "127.0.0.1", port_timeouts, &cerr);
	ASSERT_TRUE("connect", idle >= 0);
	ASSERT_TRUE("preface",
		    send(idle, preface, sizeof(preface) - 1, 0) == (ssize_t)sizeof(preface) - 1);
	/* headers, then a body that never comes */
	h = curl_easy_init();
	ASSERT_TRUE("curl", h != NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/flows", port_timeouts);
	hl = curl_slist_append(NULL, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "POST");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_paused);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
	t0 = harness_now_ms();
	/*
	 * The server answers 408 after 1 s and resets the stream; libcurl 7.88
	 * does not look at a stream whose upload it has paused, so it runs into
	 * its own timeout: the server's counters are the evidence here.
	 */
	curl_easy_perform(h);
	took = harness_now_ms() - t0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	ASSERT_TRUE("silent connection closed", closed_by_peer(silent, 5000));
	ASSERT_TRUE("idle connection closed", closed_by_peer(idle, 5000));
	ASSERT_EQ_U64("exit code", 0, (uint64_t)stop(&c, NULL));
	ASSERT_EQ_U64("stats: 408", 1, exit_stat(&c, "requests_408"));
	ASSERT_EQ_U64("stats: handshake timeouts", 1, exit_stat(&c, "conns_handshake_timeouts"));
	/* the raw one, and curl's once its stream was gone */
	ASSERT_EQ_U64("stats: idle closed", 2, exit_stat(&c, "conns_idle_closed"));
	fprintf(stderr,
		"    (curl gave up after %llu ms, status %ld; the server sent 408 at 1 s)\n",
		(unsigned long long)took, status);
	ret = 0;
cleanup:
	if (h)
		curl_easy_cleanup(h);
	curl_slist_free_all(hl);
	if (silent >= 0)
		close(silent);
	if (idle >= 0)
		close(idle);
	sidecar_free(&c);
	return ret;
}

/*
 * A full disk: the collector answers 429 (nothing of a refused batch kept
 * anywhere), and once there is room again every batch it answered 204 is
 * in the files and the JSON lines exactly once, and nothing else.
 */
static int test_disk_full_429(void)
{
	char data[PATH_MAX], url[64];
	struct sidecar c = { 0 };
	json_t *res = NULL;
	bool mounted = false;
	uint64_t ok, refused;
	uint16_t port;
	int ret = 1;

	make_dir(data, sizeof(data), "full");
	/* a private mount namespace: the tmpfs is this test's (and the collector's) only */
	ASSERT_EQ_U64(
	    "private mounts", 0,
	    (uint64_t)(unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)));
	ASSERT_EQ_U64(
	    "a 1 MiB tmpfs", 0,
	    (uint64_t)mount("tmpfs", data, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755"));
	mounted = true;
	ASSERT_EQ_U64(
	    "collector starts", 0,
	    (uint64_t)-start(&c, &port, data, (const char *const[]){ "--workers", "1", NULL }));
	url_for(url, sizeof(url), "http", port);
	pf_send((const char *const[]){ "--url", url, "--senders", "4", "--batches", "50",
				       "--records", "200", NULL },
		&res);
	ASSERT_TRUE("pf-send JSON", res != NULL);
	ok = status_count(res, "204");
	refused = status_count(res, "429");
	fprintf(stderr, "    %llu batches written, %llu refused with 429 (disk full)\n",
		(unsigned long long)ok, (unsigned long long)refused);
	ASSERT_TRUE("some written", ok > 0);
	ASSERT_TRUE("some refused", refused > 0);
	ASSERT_EQ_U64("every batch answered 204 or 429", 200, ok + refused);
	ASSERT_EQ_U64("records acknowledged", ok * 200, rec_u64(res, "records_ok"));
	/* room again: the files the full disk kept hidden can be published */
	ASSERT_EQ_U64(
	    "tmpfs grown", 0,
	    (uint64_t)mount(NULL, data, NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, "size=256m"));
	ASSERT_EQ_U64("exit code", 0, (uint64_t)stop(&c, NULL));
	ASSERT_EQ_U64("stats: 429", refused, exit_stat(&c, "requests_429"));
	ASSERT_EQ_U64("stats: write errors", refused, exit_stat(&c, "write_errors"));
	ASSERT_EQ_U64("every acknowledged record in the files, once", ok * 200,
		      (uint64_t)read_files(data, true, 0, 4, 50, 200));
	ASSERT_EQ_U64("and in the JSON lines, once", ok * 200,
		      (uint64_t)read_output(data, true, 0, 4, 50, 200));
	ASSERT_EQ_U64("no hidden file left", 0, hidden_files(data));
	ret = 0;
cleanup:
	if (c.pid > 0)
		stop(&c, NULL);
	sidecar_free(&c);
	json_decref(res);
	if (mounted)
		umount2(data, MNT_DETACH);
	return ret;
}

static int test_backpressure_429(void)
{
	struct sidecar c = { 0 };
	char data[512], url[128];
	struct curl_slist *hl = NULL;
	struct http_resp r;
	void *body = NULL;
	size_t len;
	uint16_t port;
	CURLM *m = NULL;
	CURL *h = NULL;
	int ret = 1, running;

	make_dir(data, sizeof(data), "backpressure");
	ASSERT_EQ_U64(
	    "collector starts", 0,
	    (uint64_t)-start(&c, &port, data,
			     (const char *const[]){ "--workers", "1", "--max-body", "64KiB",
						    "--max-buffered", "64KiB", NULL }));
	body = make_batch(3, 50, WIRE_ENC_IDENTITY, &len);
	ASSERT_TRUE("batch", body && len > 65536 - 60000 && len < 60000);
	/* request A announces 60000 bytes and sends none: the worker holds room for them */
	m = curl_multi_init();
	h = curl_easy_init();
	ASSERT_TRUE("curl", m && h);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/flows", port);
	hl = curl_slist_append(NULL, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "POST");
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)60000);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_paused);
	curl_multi_add_handle(m, h);
	for (uint64_t until = harness_now_ms() + 300; harness_now_ms() < until;) {
		curl_multi_perform(m, &running);
		curl_multi_poll(m, NULL, 0, 20, NULL);
	}
	/* B does not fit beside A: 429, come back in a second */
	http(port, "POST", "/v1/flows", NULL, body, len, false, &r);
	ASSERT_EQ_U64("over the worker's buffer budget: 429", 429, (uint64_t)r.status);
	ASSERT_STR("Retry-After", "1", r.retry_after);
	/* A's connection goes away, its room comes back */
	curl_multi_remove_handle(m, h);
	curl_easy_cleanup(h);
	h = NULL;
	curl_multi_cleanup(m);
	m = NULL;
	for (uint64_t deadline = harness_now_ms() + WAIT_MS;;) {
		http(port, "POST", "/v1/flows", NULL, body, len, false, &r);
		if (r.status == 204 || harness_now_ms() > deadline)
			break;
		usleep(20000);
	}
	ASSERT_EQ_U64("accepted once there is room", 204, (uint64_t)r.status);
	ASSERT_EQ_U64("exit code", 0, (uint64_t)stop(&c, NULL));
	ASSERT_TRUE("stats: 429", exit_stat(&c, "requests_429") >= 1);
	ret = 0;
cleanup:
	if (h) {
		curl_multi_remove_handle(m, h);
		curl_easy_cleanup(h);
	}
	if (m)
		curl_multi_cleanup(m);
	curl_slist_free_all(hl);
	free(body);
	sidecar_free(&c);
	return ret;
}

static int test_sigterm_in_flight(void)
{
	struct sidecar c = { 0 };
	char data[512], url[128], bin[512], *out = NULL;
	json_t *res = NULL;
	json_error_t jerr;
	uint64_t deadline;
	uint16_t port;
	double secs = 0;
	long lines = 0;
	int ret = 1, out_fd = -1, st;
	pid_t snd = -1;

	make_dir(data, sizeof(data), "sigterm");
	ASSERT_EQ_U64("collector starts", 0, (uint64_t)-start(&c, &port, data, NULL));
	url_for(url, sizeof(url), "http", port);
	snd = harness_start_capture((const char *const[]){ harness_bin("pf-send", bin, sizeof(bin)),
							   "--url", url, "--senders", "4",
							   "--batches", "20000", "--records", "200",
							   "--parallel", "4", NULL },
				    &out_fd);
	ASSERT_TRUE("senders started", snd > 0);
	/*
	 * Stop while they are busy: once a few thousand records are in (by the
	 * files' size: parsing them would not keep up with the writing).
	 */
	for (deadline = harness_now_ms() + WAIT_MS; harness_now_ms() < deadline;) {
		if (output_bytes(data) >= (2u << 20))
			break;
		usleep(20000);
	}
	ASSERT_TRUE("senders got going", output_bytes(data) >= (2u << 20));
	st = stop(&c, &secs);
	ASSERT_EQ_U64("exit code after SIGTERM", 0, (uint64_t)st);
	ASSERT_TRUE("exited within 5 s", secs <= 5.0);
	st = harness_finish_capture(snd, out_fd, RUN_MS, &out);
	snd = -1;
	res = json_loads(out, 0, &jerr);
	ASSERT_TRUE("pf-send JSON", res != NULL);
	ASSERT_TRUE("senders were cut short", rec_u64(res, "unsent") > 0);
	lines = read_output(data, true, 0, 4, 20000, 200);
	ASSERT_TRUE("output parses, no record twice", lines >= 0);
	/* every 204 is in the output, and nothing was written that was not answered 204 */
	ASSERT_EQ_U64("lines == 204s x records", status_count(res, "204") * 200, (uint64_t)lines);
	ASSERT_EQ_U64("stats: records == lines", (uint64_t)lines, exit_stat(&c, "records"));
	fprintf(stderr, "    (exit after %.2f s, %ld records in, %llu batches refused or cut)\n",
		secs, lines,
		(unsigned long long)(rec_u64(res, "transport_errors") + rec_u64(res, "unsent")));
	ret = 0;
cleanup:
	if (snd > 0) {
		kill(snd, SIGKILL);
		harness_finish_capture(snd, out_fd, 1000, &out);
	}
	free(out);
	json_decref(res);
	sidecar_free(&c);
	return ret;
}

/* Runs the collector expecting it to fail: exit `code`, one stderr line containing `needle`. */
static int expect_failure(const char *const *args, int code, const char *needle)
{
	char bin[512], text[4096];
	const char *argv[16];
	int err[2], n = 0, ret = 1, st;
	ssize_t len = 0, r;
	pid_t pid;

	argv[n++] = harness_bin("podflow-collector", bin, sizeof(bin));
	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe2(err, O_CLOEXEC))
		return 1;
	pid = fork();
	if (pid == 0) {
		dup2(err[1], 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(err[1]);
	while (len < (ssize_t)sizeof(text) - 1 &&
	       (r = read(err[0], text + len, sizeof(text) - 1 - (size_t)len)) > 0)
		len += r;
	text[len] = '\0';
	close(err[0]);
	st = harness_wait(pid, WAIT_MS);
	ASSERT_EQ_U64("exit code", (uint64_t)code, (uint64_t)st);
	ASSERT_TRUE("stderr names the problem", strstr(text, needle) != NULL);
	ASSERT_EQ_U64("stderr is one line", 1, (uint64_t)(strchr(text, '\n') == text + len - 1));
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    collector %s printed: %s\n", args[0], text);
	return ret;
}

static int test_cli_errors(void)
{
	char file[512], dir[600], busy[64];
	uint16_t port;
	int ret = 1, lfd = -1;

	snprintf(file, sizeof(file), "%s/a-file", g_tmp);
	ASSERT_EQ_U64("a file", 0, (uint64_t)-write_file(file, "x"));
	snprintf(dir, sizeof(dir), "%s/sub", file);
	ASSERT_EQ_U64(
	    "unknown option", 0,
	    (uint64_t)expect_failure((const char *const[]){ "--bogus", NULL }, 2, "--bogus"));
	ASSERT_EQ_U64("bad listen", 0,
		      (uint64_t)expect_failure((const char *const[]){ "--listen", "7070", NULL }, 2,
					       "--listen: expected :PORT, IPv4:PORT or [IPv6]:PORT "
					       "with PORT from 0 to 65535, got 7070"));
	ASSERT_EQ_U64(
	    "bad port", 0,
	    (uint64_t)expect_failure((const char *const[]){ "--listen", "127.0.0.1:70000", NULL },
				     2, "got 127.0.0.1:70000"));
	ASSERT_EQ_U64("bad max-body", 0,
		      (uint64_t)expect_failure((const char *const[]){ "--max-body", "lots", NULL },
					       2, "--max-body: "));
	ASSERT_EQ_U64("unknown Kafka compression", 0,
		      (uint64_t)expect_failure(
			  (const char *const[]){ "--kafka-compression", "brotli", NULL }, 2,
			  "sinks.kafka.compression: brotli: expected zstd, lz4, snappy, gzip or "
			  "none"));
	ASSERT_EQ_U64("cert without key", 0,
		      (uint64_t)expect_failure((const char *const[]){ "--tls-cert", file, NULL }, 2,
					       "tls.cert_file and tls.key_file go together"));
	ASSERT_EQ_U64("data dir under a file", 0,
		      (uint64_t)expect_failure((const char *const[]){ "--listen", "127.0.0.1:0",
								      "--data-dir", dir, NULL },
					       1, "--data-dir"));
	ASSERT_EQ_U64(
	    "unreadable cert", 0,
	    (uint64_t)expect_failure((const char *const[]){ "--listen", "127.0.0.1:0", "--data-dir",
							    g_tmp, "--tls-cert", "/nonexistent.crt",
							    "--tls-key", "/nonexistent.key", NULL },
				     1, "--tls-cert /nonexistent.crt"));
	ASSERT_EQ_U64("missing token file", 0,
		      (uint64_t)expect_failure(
			  (const char *const[]){ "--listen", "127.0.0.1:0", "--data-dir", g_tmp,
						 "--token-file", "/nonexistent-token", NULL },
			  1, "--token-file /nonexistent-token"));
	/* a port somebody else holds (without SO_REUSEPORT) */
	lfd = tcp_listen(AF_INET, "127.0.0.1", &port);
	ASSERT_TRUE("listener", lfd >= 0);
	snprintf(busy, sizeof(busy), "127.0.0.1:%u", port);
	ASSERT_EQ_U64("port in use", 0,
		      (uint64_t)expect_failure(
			  (const char *const[]){ "--listen", busy, "--data-dir", g_tmp, NULL }, 1,
			  "Address already in use"));
	ret = 0;
cleanup:
	if (lfd >= 0)
		close(lfd);
	return ret;
}

static const struct harness_test tests[] = {
	{ "h2c_exact_records", test_h2c_exact },
	{ "tls_alpn_h2_exact_records", test_tls_alpn_h2 },
	{ "fifty_concurrent_senders", test_fifty_senders },
	{ "garbage_and_malformed_isolated", test_garbage_and_malformed },
	{ "token_required_and_rotated", test_token_rotation },
	{ "limits_and_routes", test_limits_and_routes },
	{ "max_connections_refused", test_max_connections },
	{ "slowloris_and_idle_timeouts", test_timeouts },
	{ "backpressure_429", test_backpressure_429 },
	{ "disk_full_429_no_loss", test_disk_full_429 },
	{ "sigterm_finishes_in_flight", test_sigterm_in_flight },
	{ "cli_errors", test_cli_errors },
};

int main(int argc, char **argv)
{
	int failed;

	/* needs no root and no kernel feature: nothing here is ever skipped, in CI or not */
	snprintf(g_tmp, sizeof(g_tmp), "/tmp/podflow-collector-it-XXXXXX");
	if (!mkdtemp(g_tmp)) {
		fprintf(stderr, "cannot create a temp dir: FAIL\n");
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "curl_global_init: FAIL\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	log_init("test_collector", LOG_LEVEL_WARN);
	/*
	 * As root (CI), a private network namespace: the collectors started here
	 * then never meet the host's ports (the admin endpoint's :9090 above all).
	 * Without root they run on the host's loopback, which works as well.
	 */
	if (geteuid() == 0 && harness_netns_enter()) {
		fprintf(stderr, "cannot create a network namespace: FAIL\n");
		return 1;
	}

	failed = harness_run("collector", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
	curl_global_cleanup();
	if (!failed)
		harness_sh("rm -rf %s", g_tmp);
	else
		fprintf(stderr, "  (outputs kept in %s)\n", g_tmp);
	return failed ? 1 : 0;
}
