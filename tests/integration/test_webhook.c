// SPDX-License-Identifier: BSD-2-Clause
/* Webhook integration tests: the real collector's POST /mutate over real TLS, patches checked with fast-json-patch and kubernetes-models. */
/*
 * The collector is started as the chart runs it (--webhook, --webhook-cert,
 * --webhook-key, --inject-collector-url, a config file for the live inject.*
 * keys), its certificate in a directory laid out as the kubelet lays out a
 * Secret volume (tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>), and
 * spoken to with libcurl (OpenSSL) as the API server would: HTTPS, HTTP/1.1,
 * POST /mutate?timeout=10s with an AdmissionReview admission.k8s.io/v1.  The
 * Kubernetes API server itself cannot run here; what stands for it is its
 * wire format, built around the real pods in tests/fixtures/k8s.
 *
 * Each patch is applied with fast-json-patch and the patched Pod validated
 * with kubernetes-models (tests/integration/webhook_check.mjs, node, with
 * tests/k8s/node_modules from `make deps-k8s`), then sent again: the
 * webhook must leave it alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"

#define URL	     "http://podflow-collector.podflow.svc:7070"
#define MAX_BODY     (4u << 20) /* webhook.max_body's default */
#define RELOAD_MS    1000	/* TLS_KEYPAIR_RECHECK_NS */
#define HTTP_TIMEOUT 5000L

extern char **environ;

static char g_dir[256];	     /* /tmp/podflow-it-webhook-<pid> */
static char g_tls[300];	     /* g_dir/tls: the Secret volume */
static char g_conf[320];     /* g_dir/collector.yaml */
static char g_ca[400];	     /* the certificate in force, as the client's CA */
static struct sidecar g_col; /* the collector */
static uint16_t g_port;	     /* its webhook port */
static uint16_t g_admin;     /* its admin port */
static bool g_running;

/* ---- the client ---- */

struct answer {
	long status; /* -1: no HTTP answer at all */
	char *body;
	size_t len;
	char content_type[96];
	char connection[32];
	char allow[32];
};

static size_t on_body(char *d, size_t sz, size_t n, void *arg)
{
	struct answer *a = arg;
	char *nb = realloc(a->body, a->len + sz * n + 1);

	if (!nb)
		return 0;
	memcpy(nb + a->len, d, sz * n);
	a->body = nb;
	a->len += sz * n;
	a->body[a->len] = '\0';
	return sz * n;
}

static void header_value(const char *d, size_t len, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);

	if (len > n && strncasecmp(d, name, n) == 0) {
		snprintf(out, outlen, "%.*s", (int)(len - n), d + n);
		out[strcspn(out, "\r\n")] = '\0';
		memmove(out, out + strspn(out, " "), strlen(out) + 1);
	}
}

static size_t on_header(char *d, size_t sz, size_t n, void *arg)
{
	struct answer *a = arg;

	header_value(d, sz * n, "Content-Type:", a->content_type, sizeof(a->content_type));
	header_value(d, sz * n, "Connection:", a->connection, sizeof(a->connection));
	header_value(d, sz * n, "Allow:", a->allow, sizeof(a->allow));
	return sz * n;
}

/* A chunked upload: the body in 64 KiB pieces, with no Content-Length. */
struct feed {
	const char *data;
	size_t len, off;
};

static size_t on_read(char *buf, size_t sz, size_t n, void *arg)
{
	struct feed *f = arg;
	size_t k = sz * n < 65536 ? sz * n : 65536;

	if (k > f->len - f->off)
		k = f->len - f->off;
	memcpy(buf, f->data + f->off, k);
	f->off += k;
	return k;
}

/* NO_EXPECT: the whole body sent at once, no 100 Continue awaited (as Go's client does) */
enum how { PLAIN, CHUNKED, CLEARTEXT, NO_EXPECT };

/*
 * One request: `method` to `path` on the webhook port, over TLS verified
 * against `ca` (the name 127.0.0.1 must match), unless CLEARTEXT.  0, or
 * -EIO when there was no HTTP answer (a->status -1, the error in `err`).
 */
static int request(const char *method, const char *path, const char *body, size_t len, enum how how,
		   const char *ca, struct answer *a, char *err, size_t errlen)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct feed f = { body, len, 0 };
	char url[256], ebuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;

	memset(a, 0, sizeof(*a));
	a->status = -1;
	if (!c)
		return -ENOMEM;
	snprintf(url, sizeof(url), "%s://127.0.0.1:%u%s", how == CLEARTEXT ? "http" : "https",
		 g_port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, HTTP_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (how == NO_EXPECT)
		hdrs = curl_slist_append(hdrs, "Expect:");
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		if (how == CHUNKED) {
			hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
			curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(c, CURLOPT_READDATA, &f);
		} else {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		}
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
	else if (err)
		snprintf(err, errlen, "%s: %s", curl_easy_strerror(rc), ebuf);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	if (!a->body)
		a->body = strdup("");
	return rc == CURLE_OK ? 0 : -EIO;
}

static void answer_free(struct answer *a)
{
	free(a->body);
	a->body = NULL;
}

/* ---- reviews ---- */

static json_t *fixture(const char *name)
{
	const char *dir = getenv("PODFLOW_FIXTURES");
	char path[PATH_MAX];
	json_error_t e;
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "tests/fixtures/k8s", name);
	j = json_load_file(path, 0, &e);
	if (!j)
		fprintf(stderr, "    %s: %s (run from the repository root)\n", path, e.text);
	return j;
}

/* The pod as the API server has it when it calls a mutating webhook at CREATE. */
static json_t *as_created(json_t *pod)
{
	json_t *meta = json_object_get(pod, "metadata");

	json_object_del(pod, "status");
	json_object_del(meta, "uid");
	json_object_del(meta, "resourceVersion");
	json_object_del(meta, "creationTimestamp");
	json_object_del(meta, "selfLink");
	return pod;
}

/* An AdmissionReview v1 request, as the API server sends it; malloc'd JSON. */
static char *review_of(const json_t *pod, const char *uid, const char *ns, const char *name,
		       const char *api_version)
{
	json_t *r = json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}, "
			      "s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}, s:s, s:s, s:s, "
			      "s:{s:s, s:s, s:[s]}, s:O, s:n, s:b, s:{s:s, s:s}}}",
			      "apiVersion", api_version, "kind", "AdmissionReview", "request",
			      "uid", uid, "kind", "group", "", "version", "v1", "kind", "Pod",
			      "resource", "group", "", "version", "v1", "resource", "pods",
			      "requestKind", "group", "", "version", "v1", "kind", "Pod",
			      "requestResource", "group", "", "version", "v1", "resource", "pods",
			      "name", name, "namespace", ns, "operation", "CREATE", "userInfo",
			      "username", "system:serviceaccount:kube-system:replicaset-controller",
			      "uid", "5fc6a6c5-1b0a-4f0e-9d6c-2b4d1c8f3f57", "groups",
			      "system:serviceaccounts", "object", pod, "oldObject", "dryRun", 0,
			      "options", "apiVersion", "meta.k8s.io/v1", "kind", "CreateOptions");
	char *s = r ? json_dumps(r, JSON_COMPACT) : NULL;

	json_decref(r);
	return s;
}

/* The AdmissionResponse of an answer, parsed (NULL if it is not one); *doc to free. */
static json_t *response_of(const struct answer *a, json_t **doc)
{
	*doc = json_loads(a->body, 0, NULL);
	if (!*doc)
		return NULL;
	return json_object_get(*doc, "response");
}

static char *unbase64(const char *in)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;
	char *out = malloc(n + 1);
	uint32_t v = 0;
	int bits = 0;

	for (size_t i = 0; out && i < n && in[i] != '='; i++) {
		const char *p = strchr(tab, in[i]);

		if (!p || !in[i]) {
			free(out);
			return NULL;
		}
		v = (v << 6) | (uint32_t)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((v >> bits) & 0xff);
		}
	}
	if (out)
		out[o] = '\0';
	return out;
}

/* ---- set-up: certificates in a kubelet-style Secret volume, the collector ---- */

/*
 * A self-signed certificate for 127.0.0.1 (its own CA) with CN=`cn`, as
 * g_tls/..`gen`/tls.crt and tls.key; `bad_key`: the key of another one.
 */
static int make_cert(const char *gen, const char *cn, bool bad_key)
{
	if (harness_sh("mkdir -p %s/..%s && cd %s/..%s && "
		       "openssl req -x509 -newkey rsa:2048 -nodes -keyout tls.key -out tls.crt "
		       "-days 2 -subj /CN=%s -addext subjectAltName=IP:127.0.0.1,DNS:localhost "
		       ">/dev/null 2>&1",
		       g_tls, gen, g_tls, gen, cn))
		return -1;
	if (bad_key &&
	    harness_sh("cd %s/..%s && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
		       "-out tls.key >/dev/null 2>&1",
		       g_tls, gen))
		return -1;
	return 0;
}

/* The kubelet's atomic update: a new ..data symlink renamed over the old one. */
static int point_data_at(const char *gen)
{
	return harness_sh("cd %s && ln -sfn ..%s ..data_tmp && mv -T ..data_tmp ..data", g_tls,
			  gen);
}

static int write_conf(const char *image)
{
	char tmp[400];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", g_conf);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "inject:\n  image: %s\n  collector_url: %s\n  native_sidecar: true\n", image,
		URL);
	if (fclose(f) || rename(tmp, g_conf))
		return -errno;
	return 0;
}

static int setup(void)
{
	char key[400], crt[400], data[400];
	const char *args[32];
	int n = 0;

	snprintf(g_dir, sizeof(g_dir), "/tmp/podflow-it-webhook-%d", (int)getpid());
	snprintf(g_tls, sizeof(g_tls), "%s/tls", g_dir);
	snprintf(g_conf, sizeof(g_conf), "%s/collector.yaml", g_dir);
	snprintf(data, sizeof(data), "%s/data", g_dir);
	snprintf(crt, sizeof(crt), "%s/tls.crt", g_tls);
	snprintf(key, sizeof(key), "%s/tls.key", g_tls);
	snprintf(g_ca, sizeof(g_ca), "%s/..first/tls.crt", g_tls);
	if (harness_sh("rm -rf %s && mkdir -p %s", g_dir, g_tls) ||
	    make_cert("first", "first", false) || point_data_at("first") ||
	    harness_sh("cd %s && ln -s ..data/tls.crt tls.crt && ln -s ..data/tls.key tls.key",
		       g_tls) ||
	    write_conf("podflow-sidecar:one"))
		return -1;
	args[n++] = "--config";
	args[n++] = g_conf;
	args[n++] = "--listen";
	args[n++] = "127.0.0.1:0";
	args[n++] = "--data-dir";
	args[n++] = data;
	args[n++] = "--admin";
	args[n++] = "127.0.0.1:0";
	args[n++] = "--workers";
	args[n++] = "1";
	args[n++] = "--no-attribution";
	args[n++] = "--webhook";
	args[n++] = "127.0.0.1:0";
	args[n++] = "--webhook-cert";
	args[n++] = crt;
	args[n++] = "--webhook-key";
	args[n++] = key;
	args[n] = NULL;
	{
		uint16_t ingest;

		if (collector_start(&g_col, args, &ingest))
			return -1;
	}
	g_running = true;
	g_admin = harness_admin_port(&g_col, 5000);
	/* "webhook on 127.0.0.1:0 (port 41234): POST /mutate ..." */
	{
		uint64_t deadline = harness_now_ms() + 5000;

		while (!g_port && harness_now_ms() < deadline) {
			const char *at =
			    g_col.err_text ? strstr(g_col.err_text, "webhook on ") : NULL;
			const char *p = at ? strstr(at, "(port ") : NULL;

			if (p && strchr(p, '\n'))
				g_port = (uint16_t)atoi(p + 6);
			else
				sidecar_poll(&g_col, 50);
		}
	}
	if (!g_port || !g_admin) {
		fprintf(stderr, "    no webhook or admin port in:\n%s\n", g_col.err_text);
		return -1;
	}
	return 0;
}

static void teardown(void)
{
	if (g_running) {
		sidecar_stop(&g_col, 5000, NULL);
		sidecar_free(&g_col);
	}
	if (g_dir[0])
		harness_sh("rm -rf %s", g_dir);
}

/* ---- node: fast-json-patch and kubernetes-models ---- */

/*
 * Runs webhook_check.mjs on `cases` ([{name, pod, patch}]); its results
 * ([{name, ok, error, patched}]) or NULL, saying why.
 */
static json_t *node_check(json_t *cases)
{
	char in[400], out[400], cwd[PATH_MAX], script[PATH_MAX + 64], *stdout_text = NULL;
	const char *node = harness_node_path();
	json_t *res = NULL;
	int rc;

	if (!node || !getcwd(cwd, sizeof(cwd))) {
		fprintf(stderr, "    no node in PATH (make deps-k8s installs it)\n");
		return NULL;
	}
	snprintf(in, sizeof(in), "%s/cases.json", g_dir);
	snprintf(out, sizeof(out), "%s/results.json", g_dir);
	snprintf(script, sizeof(script), "%s/tests/integration/webhook_check.mjs", cwd);
	if (json_dump_file(cases, in, JSON_COMPACT))
		return NULL;
	rc = harness_run_to_file((const char *const[]){ node, script, cwd, in, out, NULL }, 60000,
				 &stdout_text);
	free(stdout_text);
	if (rc != 0) {
		fprintf(stderr,
			"    node webhook_check.mjs: exit %d (is tests/k8s/node_modules there? "
			"make deps-k8s)\n",
			rc);
		return NULL;
	}
	res = json_load_file(out, 0, NULL);
	return res;
}

/* ---- the cases ---- */

enum expect { INJECTED, SKIPPED, ERROR };

struct review_case {
	const char *name;
	json_t *pod; /* NULL: `raw` is the body */
	char *raw;   /* the body as sent (no NUL in it) */
	const char *api_version;
	const char *name_field; /* request.name */
	enum expect expect;
	const char *reason; /* the metric's reason label */
	bool warned;
	json_t *patch; /* from the answer */
};

static bool node_available(void)
{
	char cwd[PATH_MAX], mods[PATH_MAX + 64];

	if (!harness_node_path() || !getcwd(cwd, sizeof(cwd)))
		return false;
	snprintf(mods, sizeof(mods), "%s/tests/k8s/node_modules/fast-json-patch", cwd);
	return access(mods, R_OK) == 0;
}

/*
 * Sends one case and checks the answer's HTTP and AdmissionReview shape:
 * 200 application/json, Connection: close, the same uid, allowed: true, a
 * JSONPatch exactly when injected, a warning exactly when expected.
 */
static int send_case(struct review_case *c, const char *uid)
{
	struct answer a;
	json_t *doc = NULL, *resp;
	char err[256] = "", *body = c->raw, *decoded = NULL;
	size_t len = c->raw ? strlen(c->raw) : 0;
	int ret = -1;

	if (c->pod) {
		body = review_of(c->pod, uid, "team-a", c->name_field ? c->name_field : "",
				 c->api_version ? c->api_version : "admission.k8s.io/v1");
		len = body ? strlen(body) : 0;
	}
	ASSERT_TRUE(c->name, body != NULL);
	ASSERT_EQ_U64(
	    c->name, 0,
	    request("POST", "/mutate?timeout=10s", body, len, PLAIN, g_ca, &a, err, sizeof(err)));
	ASSERT_EQ_U64(c->name, 200, a.status);
	ASSERT_STR(c->name, "application/json", a.content_type);
	ASSERT_STR(c->name, "close", a.connection);
	resp = response_of(&a, &doc);
	ASSERT_TRUE(c->name, resp != NULL);
	ASSERT_STR(c->name, "admission.k8s.io/v1",
		   json_string_value(json_object_get(doc, "apiVersion")));
	ASSERT_STR(c->name, "AdmissionReview", json_string_value(json_object_get(doc, "kind")));
	ASSERT_STR(c->name, c->pod || strstr(c->raw, uid) ? uid : "",
		   json_string_value(json_object_get(resp, "uid")));
	ASSERT_TRUE(c->name, json_is_true(json_object_get(resp, "allowed")));
	if (c->expect == INJECTED) {
		ASSERT_STR(c->name, "JSONPatch",
			   json_string_value(json_object_get(resp, "patchType")));
		decoded = unbase64(json_string_value(json_object_get(resp, "patch")) ?: "");
		ASSERT_TRUE(c->name, decoded != NULL);
		c->patch = json_loads(decoded, 0, NULL);
		ASSERT_TRUE(c->name, json_is_array(c->patch));
		ASSERT_TRUE(c->name, !json_object_get(resp, "warnings"));
	} else {
		ASSERT_TRUE(c->name, !json_object_get(resp, "patch"));
		ASSERT_TRUE(c->name, !json_object_get(resp, "patchType"));
		ASSERT_EQ_U64(c->name, c->warned,
			      json_array_size(json_object_get(resp, "warnings")) == 1);
	}
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    case %s: %s; answer: %s\n", c->name, err,
			a.body ? a.body : "");
	if (c->pod)
		free(body);
	free(decoded);
	json_decref(doc);
	answer_free(&a);
	return ret;
}

/* The sidecar container in a patch (the "value" naming podflow-sidecar). */
static json_t *sidecar_in(json_t *patch)
{
	size_t i;
	json_t *op, *v;

	json_array_foreach(patch, i, op)
	{
		v = json_object_get(op, "value");
		if (json_is_array(v))
			v = json_array_get(v, 0);
		if (json_is_object(v) &&
		    !strcmp(json_string_value(json_object_get(v, "name")) ?: "", "podflow-sidecar"))
			return v;
	}
	return NULL;
}

static int count_lines(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/*
 * Every case of the issue, over real TLS; the injected ones patched with
 * fast-json-patch, validated with kubernetes-models and sent again; the
 * counters exact.
 */
static int test_reviews(void)
{
	json_t *native = fixture("pod_native_sidecar_containerd_kind.json");
	json_t *docker = fixture("pod_docker_fluentbit_core_base.json");
	json_t *hostnet = NULL, *injected = NULL, *optout = NULL, *noannot = NULL, *gen = NULL;
	json_t *cases = json_array(), *results = NULL;
	char *truncated = NULL;
	struct review_case rc[12];
	size_t n = 0, n_injected = 0;
	uint64_t bad = 0, errors = 0;
	struct report_fault f;
	int ret = -1;

	ASSERT_TRUE("fixtures", native && docker);
	as_created(native);
	as_created(docker);
	hostnet = json_deep_copy(docker);
	json_object_set_new(json_object_get(hostnet, "spec"), "hostNetwork", json_true());
	injected = json_deep_copy(docker);
	json_object_set_new(json_object_get(json_object_get(injected, "metadata"), "annotations"),
			    "podflow.io/status", json_string("injected"));
	optout = json_deep_copy(docker);
	json_object_set_new(json_object_get(json_object_get(optout, "metadata"), "annotations"),
			    "podflow.io/inject", json_string("false"));
	noannot = json_deep_copy(docker);
	json_object_del(json_object_get(noannot, "metadata"), "annotations");
	/* a ReplicaSet's pod: generateName only, no namespace of its own */
	gen = json_deep_copy(native);
	json_object_del(json_object_get(gen, "metadata"), "name");
	json_object_del(json_object_get(gen, "metadata"), "namespace");
	json_object_set_new(json_object_get(gen, "metadata"), "generateName",
			    json_string("sleep-7d9f8b6c5-"));
	json_object_set_new(json_object_get(gen, "metadata"), "labels",
			    json_pack("{s:s, s:s}", "app.kubernetes.io/name", "sleep",
				      "pod-template-hash", "7d9f8b6c5"));
	{
		char *full = review_of(docker, "trunc-1", "team-a", "base", "admission.k8s.io/v1");

		ASSERT_TRUE("review", full != NULL);
		truncated = strndup(full, strlen(full) / 2);
		free(full);
	}

	memset(rc, 0, sizeof(rc));
	rc[n++] = (struct review_case){ .name = "native_sidecar_pod",
					.pod = native,
					.name_field = "sleep",
					.expect = INJECTED,
					.reason = "native_sidecar" };
	rc[n++] = (struct review_case){ .name = "docker_pod",
					.pod = docker,
					.name_field = "base",
					.expect = INJECTED,
					.reason = "native_sidecar" };
	rc[n++] = (struct review_case){ .name = "no_annotations_map",
					.pod = noannot,
					.name_field = "base",
					.expect = INJECTED,
					.reason = "native_sidecar" };
	rc[n++] = (struct review_case){ .name = "generate_name_only",
					.pod = gen,
					.expect = INJECTED,
					.reason = "native_sidecar" };
	rc[n++] = (struct review_case){
		.name = "host_network", .pod = hostnet, .expect = SKIPPED, .reason = "host_network"
	};
	rc[n++] = (struct review_case){ .name = "already_injected",
					.pod = injected,
					.expect = SKIPPED,
					.reason = "already_injected" };
	rc[n++] = (struct review_case){
		.name = "opted_out", .pod = optout, .expect = SKIPPED, .reason = "opted_out"
	};
	rc[n++] = (struct review_case){ .name = "unknown_api_version",
					.pod = docker,
					.api_version = "admission.k8s.io/v2",
					.expect = ERROR,
					.reason = "unsupported_version",
					.warned = true };
	rc[n++] = (struct review_case){ .name = "garbage",
					.raw = "\x16\x03\x01 not json at all",
					.expect = ERROR,
					.reason = "malformed_json",
					.warned = true };
	rc[n++] = (struct review_case){ .name = "truncated",
					.raw = truncated,
					.expect = ERROR,
					.reason = "malformed_json",
					.warned = true };
	rc[n++] = (struct review_case){ .name = "empty",
					.raw = "",
					.expect = ERROR,
					.reason = "malformed_json",
					.warned = true };

	for (size_t i = 0; i < n; i++) {
		char uid[64];

		snprintf(uid, sizeof(uid), "5e1a3c2b-0000-4000-8000-%012zu", i);
		ASSERT_EQ_U64(rc[i].name, 0, send_case(&rc[i], uid));
		bad += rc[i].expect == ERROR;
		if (rc[i].expect == INJECTED) {
			json_t *c = sidecar_in(rc[i].patch);

			n_injected++;
			ASSERT_TRUE(rc[i].name, c != NULL);
			ASSERT_STR(rc[i].name, "podflow-sidecar:one",
				   json_string_value(json_object_get(c, "image")));
			json_array_append_new(cases,
					      json_pack("{s:s, s:O, s:O}", "name", rc[i].name,
							"pod", rc[i].pod, "patch", rc[i].patch));
		}
	}

	/* fast-json-patch applies each patch; kubernetes-models validates each Pod */
	results = node_check(cases);
	ASSERT_TRUE("node webhook_check.mjs ran", results != NULL);
	ASSERT_EQ_U64("results", n_injected, json_array_size(results));
	for (size_t i = 0; i < json_array_size(results); i++) {
		json_t *r = json_array_get(results, i), *patched = json_object_get(r, "patched");
		const char *name = json_string_value(json_object_get(r, "name"));
		struct review_case again = {
			.name = name, .pod = patched, .expect = SKIPPED, .name_field = "again"
		};
		json_t *init;

		if (!json_is_true(json_object_get(r, "ok")))
			fprintf(stderr, "    %s: %s\n", name,
				json_string_value(json_object_get(r, "error")));
		ASSERT_TRUE(name, json_is_true(json_object_get(r, "ok")));
		/* the native sidecar first, before the pod's own init containers */
		init = json_object_get(json_object_get(patched, "spec"), "initContainers");
		ASSERT_STR(name, "podflow-sidecar",
			   json_string_value(json_object_get(json_array_get(init, 0), "name")));
		ASSERT_STR(
		    name, "Always",
		    json_string_value(json_object_get(json_array_get(init, 0), "restartPolicy")));
		ASSERT_STR(name, "injected",
			   json_string_value(json_object_get(
			       json_object_get(json_object_get(patched, "metadata"), "annotations"),
			       "podflow.io/status")));
		/* idempotent: the webhook on its own output patches nothing */
		ASSERT_EQ_U64(name, 0, send_case(&again, "6f2b4d3c-0000-4000-8000-000000000001"));
	}
	/* the real kind pod keeps its own native sidecar and init container, after ours */
	{
		json_t *p = json_object_get(json_array_get(results, 0), "patched");
		json_t *init = json_object_get(json_object_get(p, "spec"), "initContainers");

		ASSERT_EQ_U64("init containers", 3, json_array_size(init));
		ASSERT_STR("then init", "init",
			   json_string_value(json_object_get(json_array_get(init, 1), "name")));
		ASSERT_STR("then sidecar", "sidecar",
			   json_string_value(json_object_get(json_array_get(init, 2), "name")));
	}

	/* the counters, exactly: every answer so far, and the re-sent pods */
	{
		static const struct {
			const char *sample;
			int64_t want;
		} want[] = {
			{ "podflow_collector_webhook_reviews_total{outcome=\"injected\",reason=\"native_"
			  "sidecar\"}",
			  4 },
			{ "podflow_collector_webhook_reviews_total{outcome=\"skipped\",reason=\"host_"
			  "network\"}",
			  1 },
			{ "podflow_collector_webhook_reviews_total{outcome=\"skipped\",reason=\"already_"
			  "injected\"}",
			  1 + 4 },
			{ "podflow_collector_webhook_reviews_total{outcome=\"skipped\",reason=\"opted_"
			  "out\"}",
			  1 },
			{ "podflow_collector_webhook_reviews_total{outcome=\"error\",reason="
			  "\"unsupported_version\"}",
			  1 },
			{ "podflow_collector_webhook_reviews_total{outcome=\"error\",reason=\"malformed_"
			  "json\"}",
			  3 },
			{ "podflow_collector_webhook_reviews_total{outcome=\"injected\",reason="
			  "\"container\"}",
			  0 },
			{ "podflow_collector_webhook_latency_seconds_count", 11 + 4 },
		};

		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			int64_t v = harness_metric_now(g_admin, want[i].sample);

			ASSERT_EQ_U64(want[i].sample, want[i].want, v);
			if (strstr(want[i].sample, "outcome=\"error\""))
				errors += (uint64_t)v;
		}
	}
	/* logged once per reason per minute: three malformed reviews, one line */
	sidecar_poll(&g_col, 100);
	ASSERT_EQ_U64("malformed_json lines", 1, count_lines(g_col.err_text, "(malformed_json)"));
	ASSERT_EQ_U64("unsupported_version lines", 1,
		      count_lines(g_col.err_text, "(unsupported_version)"));
	/* and the line names the pod as the request does: generateName only, request.namespace */
	f = (struct report_fault){
		.fault = "admission review garbage, truncated, empty or of an unknown version",
		.unit = "reviews",
		.injected = bad,
		.counted = errors,
		.counted_as = "allowed without a patch, with a warning; "
			      "reviews_total{outcome=\"error\",reason}, logged once per reason",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each bad review answered and counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	for (size_t i = 0; i < n; i++)
		json_decref(rc[i].patch);
	json_decref(results);
	json_decref(cases);
	json_decref(native);
	json_decref(docker);
	json_decref(hostnet);
	json_decref(injected);
	json_decref(optout);
	json_decref(noannot);
	json_decref(gen);
	free(truncated);
	return ret;
}

/* Bodies over webhook.max_body: 413, by Content-Length and chunked; just under: answered. */
static int test_body_limit(void)
{
	size_t big = (size_t)MAX_BODY + 1;
	char *body = malloc(big), err[256] = "";
	int64_t before =
	    harness_metric_now(g_admin, "podflow_collector_webhook_requests_too_large_total");
	struct answer a = { 0 };
	uint64_t over = 0, refused = 0;
	struct report_fault f;
	int64_t after;
	int ret = -1;

	ASSERT_TRUE("memory", body != NULL);
	memset(body, ' ', big);
	ASSERT_EQ_U64("by Content-Length", 0,
		      request("POST", "/mutate", body, big, PLAIN, g_ca, &a, err, sizeof(err)));
	over++;
	refused += a.status == 413;
	ASSERT_EQ_U64("Content-Length over", 413, a.status);
	ASSERT_STR("closes", "close", a.connection);
	answer_free(&a);
	/* sent whole without waiting: read and dropped, and the 413 still reaches the client */
	ASSERT_EQ_U64("no Expect", 0,
		      request("POST", "/mutate", body, big, NO_EXPECT, g_ca, &a, err, sizeof(err)));
	over++;
	refused += a.status == 413;
	ASSERT_EQ_U64("Content-Length over, sent whole", 413, a.status);
	answer_free(&a);
	/* chunked: the rest read and dropped once past the limit, then refused */
	ASSERT_EQ_U64("chunked", 0,
		      request("POST", "/mutate", body, big, CHUNKED, g_ca, &a, err, sizeof(err)));
	over++;
	refused += a.status == 413;
	ASSERT_EQ_U64("chunked over", 413, a.status);
	answer_free(&a);
	/* at the limit exactly: read whole, and answered (all spaces: not JSON) */
	ASSERT_EQ_U64(
	    "at the limit", 0,
	    request("POST", "/mutate", body, big - 1, CHUNKED, g_ca, &a, err, sizeof(err)));
	ASSERT_EQ_U64("at the limit: answered", 200, a.status);
	ASSERT_TRUE("malformed", strstr(a.body, "not JSON") != NULL);
	answer_free(&a);
	after = harness_metric_now(g_admin, "podflow_collector_webhook_requests_too_large_total");
	ASSERT_EQ_U64("counted", before + 3, after);
	ASSERT_EQ_U64("every 413 counted", refused, (uint64_t)(after - before));
	f = (struct report_fault){
		.fault = "admission request body over webhook.max_body (declared or chunked)",
		.unit = "requests",
		.injected = over,
		.counted = (uint64_t)(after - before),
		.counted_as = "413, requests_too_large_total",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each refused and counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    %s\n", err);
	answer_free(&a);
	free(body);
	return ret;
}

/* Only POST /mutate, matched by its path; nothing else is served there. */
static int test_routes(void)
{
	struct answer a = { 0 };
	char err[256] = "";
	int ret = -1;

	ASSERT_EQ_U64("GET", 0,
		      request("GET", "/mutate", NULL, 0, PLAIN, g_ca, &a, err, sizeof(err)));
	ASSERT_EQ_U64("GET /mutate", 405, a.status);
	ASSERT_STR("Allow", "POST", a.allow);
	answer_free(&a);
	ASSERT_EQ_U64("PUT", 0,
		      request("PUT", "/mutate", "{}", 2, PLAIN, g_ca, &a, err, sizeof(err)));
	ASSERT_EQ_U64("PUT /mutate", 405, a.status);
	answer_free(&a);
	ASSERT_EQ_U64("other", 0,
		      request("POST", "/validate", "{}", 2, PLAIN, g_ca, &a, err, sizeof(err)));
	ASSERT_EQ_U64("POST /validate", 404, a.status);
	answer_free(&a);
	ASSERT_EQ_U64("probe", 0,
		      request("GET", "/healthz", NULL, 0, PLAIN, g_ca, &a, err, sizeof(err)));
	ASSERT_EQ_U64("no probes on the webhook port", 404, a.status);
	answer_free(&a);
	ASSERT_EQ_U64("metrics", 0,
		      request("GET", "/metrics", NULL, 0, PLAIN, g_ca, &a, err, sizeof(err)));
	ASSERT_EQ_U64("no metrics on the webhook port", 404, a.status);
	answer_free(&a);
	/* a query string is not part of the path */
	ASSERT_EQ_U64("query", 0,
		      request("POST", "/mutate?timeout=30s&x=%2F", "{}", 2, PLAIN, g_ca, &a, err,
			      sizeof(err)));
	ASSERT_EQ_U64("POST /mutate?...", 200, a.status);
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    %s\n", err);
	answer_free(&a);
	return ret;
}

/* TLS only: no cleartext answer, and the certificate verifies. */
static int test_tls_only(void)
{
	struct answer a = { 0 };
	char err[256] = "", other[400];
	int ret = -1;

	ASSERT_EQ_U64("cleartext: no HTTP answer", -EIO,
		      request("POST", "/mutate", "{}", 2, CLEARTEXT, g_ca, &a, err, sizeof(err)));
	ASSERT_EQ_U64("cleartext status", (uint64_t)-1, a.status);
	answer_free(&a);
	/* a client that trusts another CA does not get through */
	snprintf(other, sizeof(other), "%s/other.crt", g_dir);
	ASSERT_EQ_U64("other CA", 0,
		      harness_sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s/other.key "
				 "-out %s -days 1 -subj /CN=other >/dev/null 2>&1",
				 g_dir, other));
	ASSERT_EQ_U64("untrusted", -EIO,
		      request("POST", "/mutate", "{}", 2, PLAIN, other, &a, err, sizeof(err)));
	answer_free(&a);
	ASSERT_EQ_U64("trusted", 0,
		      request("POST", "/mutate", "{}", 2, PLAIN, g_ca, &a, err, sizeof(err)));
	ASSERT_EQ_U64("trusted: answered", 200, a.status);
	ret = 0;
cleanup:
	answer_free(&a);
	return ret;
}

/* Polls until a request trusting only `ca` is answered; ms it took, or -1 by `deadline_ms`. */
static int64_t served_with(const char *ca, int deadline_ms)
{
	uint64_t t0 = harness_now_ms();

	for (;;) {
		struct answer a;
		int rc = request("POST", "/mutate", "{}", 2, PLAIN, ca, &a, NULL, 0);

		answer_free(&a);
		if (rc == 0 && a.status == 200)
			return (int64_t)(harness_now_ms() - t0);
		if (harness_now_ms() - t0 > (uint64_t)deadline_ms)
			return -1;
		usleep(50 * 1000);
	}
}

/*
 * cert-manager rotates the Secret: the kubelet swaps ..data.  The new
 * certificate is served within the reload period; a pair that does not
 * match is refused and the one in force stays.
 */
static int test_certificate_rotation(void)
{
	char second[400], third[400];
	int64_t ms;
	int ret = -1;

	snprintf(second, sizeof(second), "%s/..second/tls.crt", g_tls);
	snprintf(third, sizeof(third), "%s/..third/tls.crt", g_tls);
	ASSERT_EQ_U64("first served", 0, served_with(g_ca, 0) >= 0 ? 0 : 1);
	ASSERT_EQ_U64("second cert", 0, make_cert("second", "second", false));
	ASSERT_TRUE("second not served yet", served_with(second, 0) < 0);
	ASSERT_EQ_U64("swap", 0, point_data_at("second"));
	ms = served_with(second, 3 * RELOAD_MS);
	fprintf(stderr, "    rotated certificate served %lld ms after the swap\n", (long long)ms);
	ASSERT_TRUE("second served within the reload period", ms >= 0 && ms <= RELOAD_MS + 500);
	ASSERT_TRUE("first no longer", served_with(g_ca, 0) < 0);
	ASSERT_EQ_U64(
	    "reloads", 1,
	    harness_metric_now(g_admin,
			       "podflow_collector_webhook_tls_reloads_total{result=\"success\"}"));
	/* a certificate with another's key: refused, the second stays */
	ASSERT_EQ_U64("third cert", 0, make_cert("third", "third", true));
	ASSERT_EQ_U64("swap to a bad pair", 0, point_data_at("third"));
	usleep((RELOAD_MS + 300) * 1000);
	ASSERT_TRUE("second still served", served_with(second, 0) >= 0);
	ASSERT_TRUE("third not served", served_with(third, 0) < 0);
	ASSERT_TRUE("refused",
		    harness_metric_now(g_admin, "podflow_collector_webhook_tls_reloads_total{"
						"result=\"failure\"}") >= 1);
	sidecar_poll(&g_col, 50);
	ASSERT_EQ_U64("warned once", 1,
		      count_lines(g_col.err_text, "TLS certificate not reloaded"));
	/* and back to a good pair */
	ASSERT_EQ_U64("swap back", 0, point_data_at("first"));
	ASSERT_TRUE("first served again", served_with(g_ca, 3 * RELOAD_MS) >= 0);
	ret = 0;
cleanup:
	return ret;
}

/* The inject.* keys are live: a reload changes the next patch. */
static int test_live_inject_keys(void)
{
	json_t *pod = fixture("pod_docker_fluentbit_core_base.json");
	uint64_t deadline;
	int ret = -1;

	ASSERT_TRUE("fixture", pod != NULL);
	as_created(pod);
	ASSERT_EQ_U64("rewrite", 0, write_conf("podflow-sidecar:two"));
	deadline = harness_now_ms() + 5000;
	for (;;) {
		struct review_case c = { .name = "live", .pod = pod, .expect = INJECTED };
		const char *image;

		ASSERT_EQ_U64("review", 0, send_case(&c, "7a3c5e4d-0000-4000-8000-000000000001"));
		image = json_string_value(json_object_get(sidecar_in(c.patch), "image"));
		if (image && strcmp(image, "podflow-sidecar:two") == 0) {
			json_decref(c.patch);
			break;
		}
		json_decref(c.patch);
		ASSERT_TRUE("reloaded within 5 s", harness_now_ms() < deadline);
		usleep(100 * 1000);
	}
	ret = 0;
cleanup:
	json_decref(pod);
	return ret;
}

/* promtool accepts the collector's exposition with the webhook's families. */
static int test_metrics_promtool(void)
{
	char *body = NULL, path[400];
	FILE *f;
	int ret = -1;

	ASSERT_EQ_U64("GET /metrics", 200, harness_http_get(g_admin, "/metrics", &body));
	ASSERT_TRUE("listener label",
		    strstr(body, "podflow_collector_admin_connections_accepted_total{listener="
				 "\"webhook\"}") != NULL);
	snprintf(path, sizeof(path), "%s/metrics.txt", g_dir);
	f = fopen(path, "w");
	ASSERT_TRUE("write", f != NULL);
	fputs(body, f);
	fclose(f);
	ASSERT_EQ_U64("promtool check metrics", 0,
		      harness_sh("/usr/bin/promtool check metrics < %s", path));
	ret = 0;
cleanup:
	free(body);
	return ret;
}

/* ---- configuration errors: exit 2, one line naming the key ---- */

/* test_config_errors's tally: starts tried, and refused as expected */
static uint64_t g_exit_tried, g_exit_refused;

static int expect_exit(const char *const *args, int code, const char *needle)
{
	char bin[512], *err = NULL;
	const char *argv[32];
	posix_spawn_file_actions_t fa;
	int p[2], n = 0, st = 0, ret = -1;
	size_t len = 0;
	pid_t pid;

	g_exit_tried++;
	argv[n++] = harness_bin("podflow-collector", bin, sizeof(bin));
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe(p))
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	if (posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ)) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	for (;;) {
		char buf[4096], *nb;
		ssize_t k = read(p[0], buf, sizeof(buf));

		if (k <= 0)
			break;
		nb = realloc(err, len + (size_t)k + 1);
		if (!nb)
			break;
		err = nb;
		memcpy(err + len, buf, (size_t)k);
		len += (size_t)k;
		err[len] = '\0';
	}
	close(p[0]);
	waitpid(pid, &st, 0);
	ASSERT_TRUE("exited", WIFEXITED(st));
	ASSERT_EQ_U64(needle, code, WEXITSTATUS(st));
	ASSERT_TRUE(needle, err && strstr(err, needle));
	g_exit_refused++;
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    stderr: %s\n", err ? err : "");
	free(err);
	return ret;
}

static int test_config_errors(void)
{
	char crt[400], key[400], bad[400], data[400];
	struct report_fault f;
	int ret = -1;

	g_exit_tried = g_exit_refused = 0;
	snprintf(crt, sizeof(crt), "%s/tls.crt", g_tls);
	snprintf(key, sizeof(key), "%s/tls.key", g_tls);
	snprintf(bad, sizeof(bad), "%s/collector.yaml", g_dir); /* not PEM */
	snprintf(data, sizeof(data), "%s/data-errors", g_dir);
#define BASE "--listen", "127.0.0.1:0", "--admin", "", "--admin-api", "", "--data-dir", data
	ASSERT_EQ_U64("no certificate", 0,
		      expect_exit((const char *const[]){ BASE, "--webhook", ":8443",
							 "--inject-collector-url", URL, NULL },
				  2,
				  "webhook.listen: :8443 needs webhook.cert_file and "
				  "webhook.key_file (--webhook-cert, --webhook-key)"));
	ASSERT_EQ_U64(
	    "no URL", 0,
	    expect_exit((const char *const[]){ BASE, "--webhook", ":8443", "--webhook-cert", crt,
					       "--webhook-key", key, NULL },
			2, "webhook.listen: :8443 needs inject.collector_url"));
	ASSERT_EQ_U64(
	    "cert alone", 0,
	    expect_exit((const char *const[]){ BASE, "--webhook", ":8443", "--webhook-cert", crt,
					       "--inject-collector-url", URL, NULL },
			2, "webhook.cert_file and webhook.key_file go together"));
	ASSERT_EQ_U64("bad url", 0,
		      expect_exit((const char *const[]){ BASE, "--inject-collector-url",
							 "collector:7070", NULL },
				  2, "inject.collector_url: expected http://HOST:PORT"));
	ASSERT_EQ_U64("bad image", 0,
		      expect_exit((const char *const[]){ BASE, "--inject-image", "a b", NULL }, 2,
				  "inject.image: expected an image reference without spaces"));
	ASSERT_EQ_U64("not PEM", 0,
		      expect_exit((const char *const[]){ BASE, "--webhook", "127.0.0.1:0",
							 "--webhook-cert", bad, "--webhook-key",
							 key, "--inject-collector-url", URL, NULL },
				  1, "not a PEM certificate chain"));
	ASSERT_EQ_U64(
	    "key of another", 0,
	    expect_exit((const char *const[]){ BASE, "--webhook", "127.0.0.1:0", "--webhook-cert",
					       crt, "--webhook-key", "/dev/null",
					       "--inject-collector-url", URL, NULL },
			1, "webhook.listen: 127.0.0.1:0: TLS:"));
#undef BASE
	f = (struct report_fault){
		.fault = "webhook without certificate or URL, bad URL or image, not PEM, wrong key",
		.unit = "starts",
		.injected = g_exit_tried,
		.counted = g_exit_refused,
		.counted_as = "exit 2 (configuration) or 1 (startup) naming the key",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each refused, named", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	return ret;
}

static const struct harness_test tests[] = {
	{ "reviews_patched_validated_idempotent", test_reviews },
	{ "body_limit_413", test_body_limit },
	{ "routes", test_routes },
	{ "tls_only", test_tls_only },
	{ "certificate_rotation", test_certificate_rotation },
	{ "live_inject_keys", test_live_inject_keys },
	{ "metrics_promtool", test_metrics_promtool },
	{ "config_errors", test_config_errors },
};

int main(int argc, char **argv)
{
	const char *ci = getenv("CI");
	int failed;

	if (!node_available()) {
		fprintf(stderr,
			"webhook: node or tests/k8s/node_modules missing (make "
			"BUILD=... deps-k8s)%s\n",
			ci && !strcmp(ci, "true") ? "" : ": skipped");
		return ci && !strcmp(ci, "true") ? 1 : 77;
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (setup()) {
		teardown();
		fprintf(stderr, "webhook: set-up failed\n");
		return 1;
	}
	failed = harness_run("webhook", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
	teardown();
	curl_global_cleanup();
	return failed ? 1 : 0;
}
