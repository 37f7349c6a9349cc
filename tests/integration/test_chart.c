// SPDX-License-Identifier: BSD-2-Clause
/* The chart runs what it says: the rendered collector and the webhook's injected sidecar, started from their YAML. */
/*
 * Nothing here is written by hand that the chart or the webhook says: the
 * collector and the sidecar are started with exactly the args, env and
 * mounted files the YAML gives, the way a kubelet and a container runtime
 * would start them, so a flag or a key the binaries do not know, a path
 * that does not meet its mount, or a patch that cannot run fails here.
 *
 *   1. `helm template` of deploy/helm/podflow (the pod watch off: its
 *      in-cluster client needs the API server, which test_kube stands in
 *      for) and the Secrets deploy/manifests/secrets.sh makes (the ingest
 *      token, the webhook's CA and certificate), both turned into JSON by
 *      tests/k8s/objects.mjs.
 *   2. The collector Deployment's container: its volumes made as the
 *      kubelet makes them (ConfigMap and Secret items with their modes,
 *      fsGroup ownership, an emptyDir), every path remapped under a
 *      temporary root (args and the mounted collector.yaml), run as its
 *      runAsUser/runAsGroup with no capability, in a private network
 *      namespace.  It becomes ready (/readyz on its admin port).
 *   3. A real AdmissionReview of the real kind pod (tests/fixtures/k8s,
 *      with the labels a Deployment's pod has) sent over TLS to the
 *      webhook, its certificate checked for podflow-webhook.podflow.svc
 *      against the CA of secrets.sh; the patch applied with fast-json-patch
 *      and the Pod validated with kubernetes-models (webhook_check.mjs).
 *   4. The patched pod's sidecar: its ConfigMap (podflow-sidecar, from the
 *      render, in the pod's namespace), token Secret and Downward API
 *      labels file made, its env resolved from the pod's fields, in the
 *      pod's container cgroup on a "node" laid out as the kubelet's, in a
 *      private cgroup and mount namespace with the node's cgroup2 bound
 *      read-only where the hostPath volume says, the Service name of its
 *      --output resolving to the collector (/etc/hosts bound in its mount
 *      namespace), as uid 0 with only the patch's capabilities.  It
 *      becomes ready.
 *   5. A connection inside the pod (its app container's cgroup) comes out
 *      of the collector's gzip files attributed: the pod on both sides,
 *      `heartbeat`, exact bytes, the app's container id.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"
#include "pod.h"
#include "workload.h"

#define WAIT_MS	     30000
#define WEBHOOK_HOST "podflow-webhook.podflow.svc"
#define APP_NAME     "sleep"

static char g_tmp[256];	  /* everything the test makes */
static json_t *g_objects; /* the rendered chart and the Secrets */

/* ---- the rendered objects ---- */

static json_t *object(const char *kind, const char *ns, const char *name)
{
	size_t i;
	json_t *o;

	json_array_foreach(g_objects, i, o)
	{
		json_t *m = json_object_get(o, "metadata");

		if (strcmp(json_string_value(json_object_get(o, "kind")) ?: "", kind) == 0 &&
		    strcmp(json_string_value(json_object_get(m, "name")) ?: "", name) == 0 &&
		    (!ns ||
		     strcmp(json_string_value(json_object_get(m, "namespace")) ?: "", ns) == 0))
			return o;
	}
	return NULL;
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Renders the chart and makes the Secrets: g_objects.  0 or -1 (said why). */
static int render(void)
{
	char helm[PATH_MAX], out[PATH_MAX + 64];
	json_error_t jerr;

	harness_bin("tools/helm", helm, sizeof(helm));
	if (harness_sh("%s template podflow deploy/helm/podflow -n podflow "
		       "--set podWatch.enabled=false --set 'sidecar.namespaces={default}' "
		       "> %s/render.yaml",
		       helm, g_tmp) ||
	    harness_sh("bash deploy/manifests/secrets.sh --dry-run --sidecar-namespace default "
		       "> %s/secrets.yaml",
		       g_tmp) ||
	    harness_sh("node tests/k8s/objects.mjs %s/objects.json %s/render.yaml %s/secrets.yaml",
		       g_tmp, g_tmp, g_tmp))
		return -1;
	snprintf(out, sizeof(out), "%s/objects.json", g_tmp);
	g_objects = json_load_file(out, 0, &jerr);
	if (!json_is_array(g_objects)) {
		fprintf(stderr, "    %s: %s\n", out, jerr.text);
		return -1;
	}
	return 0;
}

/* ---- a container's files, as the kubelet makes them ---- */

/* `root` + the longest mountPath of `mounts` that prefixes `path`, else NULL. */
static const char *remap(json_t *mounts, const char *root, const char *path, char *buf, size_t len)
{
	size_t best = 0, i;
	json_t *m;

	json_array_foreach(mounts, i, m)
	{
		const char *mp = str(m, "mountPath");
		size_t n = mp ? strlen(mp) : 0;

		if (n > best && strncmp(path, mp, n) == 0 && (path[n] == '/' || path[n] == '\0'))
			best = n;
	}
	if (!best)
		return NULL;
	snprintf(buf, len, "%s%s", root, path);
	return buf;
}

/* Writes data[0..n) to dir/name with `mode`, owned root:gid (gid < 0: root). */
static int put_file(const char *dir, const char *name, const void *data, size_t n, int mode,
		    int gid)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fwrite(data, 1, n, f) != n) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	return chmod(path, (mode_t)mode) || (gid >= 0 && chown(path, 0, (gid_t)gid)) ? -1 : 0;
}

static unsigned char *base64_decode(const char *in, size_t *n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t len = strlen(in), o = 0;
	unsigned char *out = malloc(len / 4 * 3 + 3);
	uint32_t acc = 0;
	int bits = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len && in[i] != '='; i++) {
		const char *p = strchr(tab, in[i]);

		if (!p || !in[i]) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	*n = o;
	return out;
}

/*
 * A ConfigMap or Secret volume: its items (or every key) as files in
 * `dir`, with the volume's defaultMode (0644), owned root:fsGroup.  An
 * absent object is an empty directory when the volume says optional.
 */
static int object_volume(json_t *vol, json_t *obj, bool secret, const char *dir, int fsgroup)
{
	json_t *items = json_object_get(vol, "items"), *data, *it;
	json_int_t mode = json_integer_value(json_object_get(vol, "defaultMode"));
	size_t i;

	if (!obj) {
		if (json_is_true(json_object_get(vol, "optional")))
			return 0;
		fprintf(stderr, "    a volume's %s is not in the render\n",
			secret ? "Secret" : "ConfigMap");
		return -1;
	}
	data = json_object_get(obj, "data");
	if (!mode)
		mode = 0644;
	if (!json_array_size(items)) {
		const char *key;
		json_t *v;

		items = json_array();
		json_object_foreach(data, key, v)
		    json_array_append_new(items, json_pack("{s:s, s:s}", "key", key, "path", key));
	} else {
		json_incref(items);
	}
	json_array_foreach(items, i, it)
	{
		const char *v = str(data, str(it, "key"));
		unsigned char *bytes = NULL;
		size_t n = 0;
		int err;

		if (!v) {
			fprintf(stderr, "    key %s is not in the object\n", str(it, "key"));
			json_decref(items);
			return -1;
		}
		if (secret) {
			bytes = base64_decode(v, &n);
			if (!bytes) {
				json_decref(items);
				return -1;
			}
		}
		err = put_file(dir, str(it, "path"), secret ? (const void *)bytes : v,
			       secret ? n : strlen(v), (int)mode, fsgroup);
		free(bytes);
		if (err) {
			json_decref(items);
			return -1;
		}
	}
	json_decref(items);
	return 0;
}

/* The Downward API's labels file: key="value" lines, as the kubelet writes them. */
static int labels_volume(json_t *pod, const char *dir)
{
	json_t *labels = json_object_get(json_object_get(pod, "metadata"), "labels");
	char text[4096] = "";
	size_t at = 0;
	const char *k;
	json_t *v;

	json_object_foreach(labels, k, v) at += (size_t)snprintf(
	    text + at, sizeof(text) - at, "%s%s=\"%s\"", at ? "\n" : "", k, json_string_value(v));
	return put_file(dir, "labels", text, at, 0644, -1);
}

/*
 * A projected volume of service-account tokens, as the kubelet writes it:
 * each at its path, a JWT-shaped token (nobody here reviews it: the
 * collector runs without the API server), 0600 unless defaultMode says.
 */
static int token_volume(json_t *proj, const char *dir, int fsgroup)
{
	static const char jwt[] = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ."
				  "eyJhdWQiOlsicG9kZmxvdyJdLCJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl";
	json_t *mode = json_object_get(proj, "defaultMode"), *src;
	size_t i;

	json_array_foreach(json_object_get(proj, "sources"), i, src)
	{
		json_t *sat = json_object_get(src, "serviceAccountToken");

		if (!sat || !str(sat, "path") ||
		    put_file(dir, str(sat, "path"), jwt, strlen(jwt),
			     mode ? (int)json_integer_value(mode) : 0600, fsgroup))
			return -1;
	}
	return 0;
}

/*
 * Makes every volume `container` mounts, from `podspec` (and `pod`, for the
 * Downward API), under root; a hostPath becomes a bind mount into `binds`
 * (from `host_src`).  0 or -1.
 */
static int make_volumes(json_t *pod, json_t *podspec, json_t *container, const char *ns,
			const char *root, const char *host_src, struct pod_bind *binds,
			char bind_dst[][PATH_MAX])
{
	json_t *fs = json_object_get(json_object_get(podspec, "securityContext"), "fsGroup");
	json_t *mounts = json_object_get(container, "volumeMounts"), *m;
	int fsgroup = fs ? (int)json_integer_value(fs) : -1, nb = 0;
	size_t i;

	json_array_foreach(mounts, i, m)
	{
		const char *name = str(m, "name");
		json_t *vols = json_object_get(podspec, "volumes"), *vol = NULL, *v;
		char dir[PATH_MAX];
		size_t j;
		int err = 0;

		json_array_foreach(vols, j, v) if (strcmp(str(v, "name") ?: "", name) == 0) vol = v;
		if (!vol) {
			fprintf(stderr, "    volumeMount %s has no volume\n", name);
			return -1;
		}
		snprintf(dir, sizeof(dir), "%s%s", root, str(m, "mountPath"));
		if (harness_sh("mkdir -p %s", dir))
			return -1;
		if ((v = json_object_get(vol, "configMap")))
			err = object_volume(v, object("ConfigMap", ns, str(v, "name")), false, dir,
					    fsgroup);
		else if ((v = json_object_get(vol, "secret")))
			err = object_volume(v, object("Secret", ns, str(v, "secretName")), true,
					    dir, fsgroup);
		else if (json_object_get(vol, "downwardAPI"))
			err = labels_volume(pod, dir);
		else if (json_object_get(vol, "emptyDir"))
			err = chmod(dir, 0777) || (fsgroup >= 0 && chown(dir, 0, (gid_t)fsgroup));
		else if ((v = json_object_get(vol, "projected")))
			err = token_volume(v, dir, fsgroup);
		else if (json_object_get(vol, "hostPath")) {
			snprintf(bind_dst[nb], PATH_MAX, "%s", dir);
			binds[nb] =
			    (struct pod_bind){ .src = host_src,
					       .dst = bind_dst[nb],
					       .ro = json_is_true(json_object_get(m, "readOnly")) };
			nb++;
		} else {
			fprintf(stderr, "    volume %s: a kind this test does not make\n", name);
			return -1;
		}
		if (err) {
			fprintf(stderr, "    volume %s: cannot make it\n", name);
			return -1;
		}
	}
	binds[nb].src = NULL;
	return 0;
}

/* The container's args with the paths under its mounts remapped under root; into argv. */
static void container_args(json_t *container, const char *root, const char **argv,
			   char store[][PATH_MAX], size_t max)
{
	json_t *mounts = json_object_get(container, "volumeMounts"), *a;
	size_t i, n = 0;

	json_array_foreach(json_object_get(container, "args"), i, a)
	{
		const char *s = json_string_value(a);

		if (n + 1 >= max)
			break;
		if (!remap(mounts, root, s, store[n], PATH_MAX))
			snprintf(store[n], PATH_MAX, "%s", s);
		argv[n] = store[n];
		n++;
	}
	argv[n] = NULL;
}

/* A fieldRef's value in `pod`: metadata.name, status.podIPs, metadata.labels['x'], ... */
static int field_of(json_t *pod, const char *path, char *out, size_t len)
{
	json_t *md = json_object_get(pod, "metadata"), *st = json_object_get(pod, "status");
	const char *v = NULL;

	if (strcmp(path, "metadata.name") == 0)
		v = str(md, "name");
	else if (strcmp(path, "metadata.namespace") == 0)
		v = str(md, "namespace");
	else if (strcmp(path, "metadata.uid") == 0)
		v = str(md, "uid");
	else if (strcmp(path, "spec.nodeName") == 0)
		v = str(json_object_get(pod, "spec"), "nodeName");
	else if (strcmp(path, "status.podIP") == 0)
		v = str(st, "podIP");
	else if (strcmp(path, "status.podIPs") == 0) {
		size_t i, at = 0;
		json_t *ip;

		out[0] = '\0';
		/* the Downward API gives the list comma-separated */
		json_array_foreach(json_object_get(st, "podIPs"), i, ip) at +=
		    (size_t)snprintf(out + at, len - at, "%s%s", i ? "," : "", str(ip, "ip"));
		return 0;
	} else if (strncmp(path, "metadata.labels['", 17) == 0) {
		char key[256];

		snprintf(key, sizeof(key), "%s", path + 17);
		key[strcspn(key, "'")] = '\0';
		v = str(json_object_get(md, "labels"), key) ?: "";
	} else {
		fprintf(stderr, "    fieldRef %s: not one this test resolves\n", path);
		return -1;
	}
	snprintf(out, len, "%s", v ?: "");
	return 0;
}

/* The container's env, the Downward API's fields resolved from `pod`; NAME=VALUE into env. */
static int container_env(json_t *container, json_t *pod, const char **env, char store[][512],
			 size_t max)
{
	size_t i, n = 0;
	json_t *e;

	json_array_foreach(json_object_get(container, "env"), i, e)
	{
		const char *name = str(e, "name");
		json_t *ref = json_object_get(json_object_get(e, "valueFrom"), "fieldRef");
		char v[400];

		if (n + 1 >= max)
			break;
		if (ref) {
			if (field_of(pod, str(ref, "fieldPath"), v, sizeof(v)))
				return -1;
		} else {
			snprintf(v, sizeof(v), "%s", str(e, "value") ?: "");
		}
		snprintf(store[n], 512, "%s=%s", name, v);
		env[n] = store[n];
		n++;
	}
	env[n] = NULL;
	return 0;
}

/* The added capabilities of a securityContext as a mask; drop ALL is required. */
static int caps_of(json_t *container, uint64_t *mask)
{
	json_t *caps =
	    json_object_get(json_object_get(container, "securityContext"), "capabilities");
	size_t i;
	json_t *c;

	*mask = 0;
	if (strcmp(json_string_value(json_array_get(json_object_get(caps, "drop"), 0)) ?: "",
		   "ALL") != 0) {
		fprintf(stderr, "    the container does not drop ALL capabilities\n");
		return -1;
	}
	json_array_foreach(json_object_get(caps, "add"), i, c)
	{
		int cap = pod_cap_number(json_string_value(c) ?: "");

		if (cap < 0) {
			fprintf(stderr, "    adds %s, unknown here\n", json_string_value(c) ?: "?");
			return -1;
		}
		*mask |= 1ULL << cap;
	}
	return 0;
}

static int user_of(json_t *podspec, json_t *container, const char *key)
{
	json_t *v = json_object_get(json_object_get(container, "securityContext"), key);

	if (!v)
		v = json_object_get(json_object_get(podspec, "securityContext"), key);
	return v ? (int)json_integer_value(v) : 0;
}

/* ---- the webhook, over TLS as the API server calls it ---- */

static size_t grow(char *p, size_t size, size_t n, void *ctx)
{
	json_t **body = ctx;
	json_error_t jerr;
	char *text;

	text = strndup(p, size * n);
	if (!text)
		return 0;
	/* answers are small and come in one piece here; a second piece would not parse */
	json_decref(*body);
	*body = json_loads(text, 0, &jerr);
	free(text);
	return size * n;
}

/* POSTs `review` to the webhook; the response's decoded patch (JSON), or NULL. */
static json_t *mutate(json_t *review, const char *cafile, char *patch_text, size_t len)
{
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	struct curl_slist *resolve = curl_slist_append(NULL, WEBHOOK_HOST ":8443:127.0.0.1");
	char *body = json_dumps(review, JSON_COMPACT);
	json_t *answer = NULL, *patch = NULL;
	CURL *c = curl_easy_init();
	long code = 0;
	CURLcode rc;

	if (!c || !body || !hdr || !resolve)
		goto out;
	curl_easy_setopt(c, CURLOPT_URL, "https://" WEBHOOK_HOST ":8443/mutate?timeout=10s");
	curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
	curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK || code != 200 || !answer) {
		fprintf(stderr, "    webhook: %s, HTTP %ld\n", curl_easy_strerror(rc), code);
		goto out;
	}
	{
		json_t *resp = json_object_get(answer, "response");
		const char *p64 = str(resp, "patch");
		unsigned char *p;
		size_t n;

		if (!json_is_true(json_object_get(resp, "allowed")) || !p64 ||
		    strcmp(str(resp, "patchType") ?: "", "JSONPatch") != 0) {
			fprintf(stderr, "    webhook: no JSONPatch in the answer\n");
			goto out;
		}
		p = base64_decode(p64, &n);
		if (p && n < len) {
			memcpy(patch_text, p, n);
			patch_text[n] = '\0';
			patch = json_loads(patch_text, 0, NULL);
		}
		free(p);
	}
out:
	json_decref(answer);
	curl_slist_free_all(hdr);
	curl_slist_free_all(resolve);
	curl_easy_cleanup(c);
	free(body);
	return patch;
}

/* The patch applied (fast-json-patch) and the Pod validated (kubernetes-models). */
static json_t *apply_patch(json_t *pod, json_t *patch)
{
	char in[PATH_MAX], out[PATH_MAX];
	json_t *cases = json_pack("[{s:s, s:O, s:O}]", "name", "chart", "pod", pod, "patch", patch);
	json_t *results = NULL, *r, *patched = NULL;

	snprintf(in, sizeof(in), "%s/patch-in.json", g_tmp);
	snprintf(out, sizeof(out), "%s/patch-out.json", g_tmp);
	if (!cases || json_dump_file(cases, in, 0) ||
	    harness_sh("node tests/integration/webhook_check.mjs \"$PWD\" %s %s", in, out))
		goto out;
	results = json_load_file(out, 0, NULL);
	r = json_array_get(results, 0);
	if (!json_is_true(json_object_get(r, "ok"))) {
		fprintf(stderr, "    the patched pod: %s\n", str(r, "error") ?: "?");
		goto out;
	}
	patched = json_incref(json_object_get(r, "patched"));
out:
	json_decref(cases);
	json_decref(results);
	return patched;
}

/* ---- what the collector wrote ---- */

struct want {
	uint16_t port;
	json_t *found;
};

/* Every record of the published gzip files under `data`, the one out record to want->port kept. */
static int read_files(const char *data, struct want *w)
{
	char pattern[PATH_MAX + 64], cmd[2 * PATH_MAX], *line = NULL;
	size_t cap = 0;
	glob_t g = { 0 };
	int n = 0;

	snprintf(pattern, sizeof(pattern), "%s/flows/dt=*/hr=*/part-*.json.gz", data);
	if (glob(pattern, 0, NULL, &g))
		return 0;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *p;

		snprintf(cmd, sizeof(cmd), "zcat %s", g.gl_pathv[i]);
		p = popen(cmd, "r");
		while (p && getline(&line, &cap, p) > 0) {
			json_t *r = json_loads(line, 0, NULL);

			n++;
			if (r && strcmp(str(r, "direction") ?: "", "out") == 0 &&
			    rec_u64(r, "remote_port") == w->port && !w->found)
				w->found = json_incref(r);
			json_decref(r);
		}
		if (p)
			pclose(p);
	}
	free(line);
	globfree(&g);
	return n;
}

/* ---- the test ---- */

static int test_chart_runs_what_it_says(void)
{
	char ctmp[512], stmp[512], cafile[PATH_MAX], hosts[PATH_MAX], data[PATH_MAX];
	char cargs_s[24][PATH_MAX], sargs_s[24][PATH_MAX], cenv_s[16][512], senv_s[16][512];
	char cbind_dst[8][PATH_MAX], sbind_dst[8][PATH_MAX], patch_text[65536];
	char bin_c[PATH_MAX], bin_s[PATH_MAX], sidecar_cg[700], app_cg[700], cfgpath[PATH_MAX];
	const char *cargs[24], *sargs[24], *cenv[16], *senv[16];
	struct pod_bind cbinds[8], sbinds[8];
	struct sidecar col = { 0 }, sc = { 0 };
	struct pod_node node = { 0 };
	json_t *dep, *podspec, *ccont, *pod = NULL, *review = NULL, *patch = NULL, *patched = NULL;
	json_t *scont = NULL;
	struct want w = { 0 };
	uint64_t caps = 0, deadline;
	uint16_t sport = 0;
	char *body = NULL;
	int64_t v = 0;
	size_t i;
	int ret = -1;

	ASSERT_EQ_U64("render the chart and make its Secrets", 0, render());

	/* ---- the collector, from its Deployment ---- */
	dep = object("Deployment", "podflow", "podflow-collector");
	ASSERT_TRUE("the collector Deployment", dep != NULL);
	podspec =
	    json_object_get(json_object_get(json_object_get(dep, "spec"), "template"), "spec");
	ccont = json_array_get(json_object_get(podspec, "containers"), 0);
	ASSERT_STR("its container", "collector", str(ccont, "name"));
	ASSERT_TRUE("no command: the image's entrypoint, the binary",
		    !json_object_get(ccont, "command"));
	snprintf(ctmp, sizeof(ctmp), "%s/collector", g_tmp);
	ASSERT_EQ_U64("its volumes", 0,
		      make_volumes(NULL, podspec, ccont, "podflow", ctmp, NULL, cbinds, cbind_dst));
	ASSERT_TRUE("no hostPath for the collector", cbinds[0].src == NULL);
	/* the mounted config names container paths: remapped the same way */
	snprintf(cfgpath, sizeof(cfgpath), "%s/etc/podflow/collector/collector.yaml", ctmp);
	ASSERT_EQ_U64("remap collector.yaml", 0,
		      harness_sh("sed -i -e 's#: /var/lib/podflow#: %s/var/lib/podflow#' "
				 "-e 's#: /var/run/secrets/podflow#: %s/var/run/secrets/podflow#' "
				 "-e 's#: /etc/podflow/#: %s/etc/podflow/#' %s",
				 ctmp, ctmp, ctmp, cfgpath));
	container_args(ccont, ctmp, cargs, cargs_s, 24);
	ASSERT_EQ_U64("its env", 0, container_env(ccont, NULL, cenv, cenv_s, 16));
	ASSERT_EQ_U64("its capabilities", 0, caps_of(ccont, &caps));
	ASSERT_EQ_U64("no capability added", 0, caps);
	{
		struct pod_container c = {
			.bin = harness_bin("podflow-collector", bin_c, sizeof(bin_c)),
			.args = cargs,
			.env = cenv,
			.caps = caps,
			.uid = user_of(podspec, ccont, "runAsUser"),
			.gid = user_of(podspec, ccont, "runAsGroup"),
			.ready = "info: ready: listening on ",
		};

		ASSERT_TRUE("the collector runs non-root", c.uid != 0 && c.gid != 0);
		ASSERT_EQ_U64("the collector becomes ready", 0, pod_start(&col, &c, WAIT_MS));
	}
	ASSERT_TRUE("the webhook listens",
		    strstr(col.err_text, "webhook on :8443 (port 8443): POST /mutate (TLS") !=
			NULL);
	ASSERT_EQ_U64("/readyz on its admin port (the readinessProbe)", 200,
		      harness_http_get(9090, "/readyz", &body));
	free(body);
	body = NULL;

	/* ---- the webhook: a real pod's AdmissionReview, over TLS ---- */
	{
		const char *dir = getenv("PODFLOW_FIXTURES");
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/pod_native_sidecar_containerd_kind.json",
			 dir && *dir ? dir : "tests/fixtures/k8s");
		pod = json_load_file(path, 0, NULL);
		ASSERT_TRUE("the kind pod", pod != NULL);
	}
	/* the labels a Deployment's pod has (the sample has none) */
	json_object_set_new(json_object_get(pod, "metadata"), "labels",
			    json_pack("{s:s, s:s}", "app.kubernetes.io/name", APP_NAME,
				      "pod-template-hash", "7d9f8b6c5"));
	review =
	    json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:O}}", "apiVersion",
		      "admission.k8s.io/v1", "kind", "AdmissionReview", "request", "uid",
		      "0d3c6a52-1b7e-4c1e-9f0a-5e2b7c8d9e10", "kind", "group", "", "version", "v1",
		      "kind", "Pod", "namespace", "default", "operation", "CREATE", "object", pod);
	ASSERT_TRUE("review", review != NULL);
	snprintf(cafile, sizeof(cafile), "%s/etc/podflow/webhook-tls/ca.crt", ctmp);
	{
		json_t *tls = object("Secret", "podflow", "podflow-webhook-tls");
		unsigned char *ca;
		size_t n = 0;

		ASSERT_TRUE("the webhook's Secret", tls != NULL);
		ca = base64_decode(str(json_object_get(tls, "data"), "ca.crt") ?: "", &n);
		ASSERT_TRUE("its CA", ca && n > 0);
		ASSERT_EQ_U64("CA file", 0, put_file(g_tmp, "ca.crt", ca, n, 0644, -1));
		free(ca);
		snprintf(cafile, sizeof(cafile), "%s/ca.crt", g_tmp);
	}
	patch = mutate(review, cafile, patch_text, sizeof(patch_text));
	ASSERT_TRUE("a patch, the certificate verified for " WEBHOOK_HOST, patch != NULL);
	patched = apply_patch(pod, patch);
	ASSERT_TRUE("the patch applies and the Pod validates", patched != NULL);
	json_array_foreach(json_object_get(json_object_get(patched, "spec"), "initContainers"), i,
			   scont) if (strcmp(str(scont, "name") ?: "", "podflow-sidecar") ==
				      0) break;
	ASSERT_TRUE("the sidecar, a native sidecar", scont && i == 0);
	ASSERT_STR("restartPolicy", "Always", str(scont, "restartPolicy"));

	/* ---- the sidecar, from the patched pod ---- */
	ASSERT_EQ_U64("a node with the pod's cgroup", 0,
		      pod_node_create(&node, "chart", "burstable",
				      str(json_object_get(pod, "metadata"), "uid")));
	ASSERT_EQ_U64("the sidecar's container cgroup", 0,
		      pod_container_cgroup(&node,
					   "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1"
					   "ab1e5ca1ab1e5ca1ab1e",
					   sidecar_cg, sizeof(sidecar_cg)));
	/* the app container: the sample's own container id */
	ASSERT_EQ_U64("the app's container cgroup", 0,
		      pod_container_cgroup(
			  &node, "a1848056a183e40afe3189fc4920bd565930180ebdf2f9e2daf778ea8105f93e",
			  app_cg, sizeof(app_cg)));
	snprintf(stmp, sizeof(stmp), "%s/sidecar", g_tmp);
	ASSERT_EQ_U64("its volumes", 0,
		      make_volumes(patched, json_object_get(patched, "spec"), scont, "default",
				   stmp, node.root, sbinds, sbind_dst));
	ASSERT_TRUE("the cgroup2 hostPath, read-only", sbinds[0].src && sbinds[0].ro);
	/* the Service name of --output resolves to the collector, as cluster DNS would */
	snprintf(hosts, sizeof(hosts), "%s/hosts", g_tmp);
	ASSERT_EQ_U64("hosts", 0,
		      harness_sh("printf '127.0.0.1 localhost\\n127.0.0.1 "
				 "podflow-collector.podflow.svc\\n' > %s",
				 hosts));
	for (i = 0; sbinds[i].src; i++)
		;
	sbinds[i] = (struct pod_bind){ .src = hosts, .dst = "/etc/hosts", .ro = true };
	sbinds[i + 1].src = NULL;
	container_args(scont, stmp, sargs, sargs_s, 24);
	ASSERT_EQ_U64("its env", 0, container_env(scont, pod, senv, senv_s, 16));
	ASSERT_EQ_U64("its capabilities", 0, caps_of(scont, &caps));
	{
		struct pod_container c = {
			.bin = harness_bin("podflow-sidecar", bin_s, sizeof(bin_s)),
			.args = sargs,
			.env = senv,
			.cgroup = sidecar_cg,
			.binds = sbinds,
			.caps = caps,
			.uid = user_of(json_object_get(patched, "spec"), scont, "runAsUser"),
			.gid = -1,
			.ready = "info: ready: ",
		};

		ASSERT_EQ_U64("runAsUser 0", 0, c.uid);
		c.uid = -1; /* root, as it is */
		ASSERT_EQ_U64("the sidecar becomes ready", 0, pod_start(&sc, &c, WAIT_MS));
	}
	/* its admin port, from the ConfigMap the chart rendered into the pod's namespace */
	ASSERT_EQ_U64("the sidecar's /readyz", 200, harness_http_get(9091, "/readyz", &body));
	free(body);
	body = NULL;

	/* ---- a connection inside the pod comes out attributed ---- */
	ASSERT_EQ_U64("the app's connection", 0,
		      exchange(app_cg, /*k=*/1, /*req=*/1300, /*resp=*/4100, &sport));
	deadline = harness_now_ms() + WAIT_MS;
	while (harness_now_ms() < deadline &&
	       (v = harness_metric_now(9090, "podflow_collector_attribution_records_total{result="
					     "\"heartbeat\"}")) < 2) {
		sidecar_poll(&sc, 0);
		sidecar_poll(&col, 100);
	}
	ASSERT_TRUE("the collector attributed both sides (out and in)", v >= 2);
	ASSERT_EQ_U64("the sidecar stops", 0, sidecar_stop(&sc, 10000, NULL));
	ASSERT_EQ_U64("the collector stops (publishing its files)", 0,
		      sidecar_stop(&col, 10000, NULL));
	ASSERT_TRUE("exit 0", WIFEXITED(col.status) && WEXITSTATUS(col.status) == 0);
	snprintf(data, sizeof(data), "%s/var/lib/podflow", ctmp);
	w.port = sport;
	ASSERT_TRUE("records in the gzip files", read_files(data, &w) >= 2);
	ASSERT_TRUE("the app's out record", w.found != NULL);
	ASSERT_STR("local_pod", "sleep", rec_str(w.found, "local_pod"));
	ASSERT_STR("local_namespace", "default", rec_str(w.found, "local_namespace"));
	ASSERT_STR("local_app", APP_NAME, rec_str(w.found, "local_app"));
	ASSERT_STR("local_node", "kind-control-plane", rec_str(w.found, "local_node"));
	ASSERT_STR("remote_pod", "sleep", rec_str(w.found, "remote_pod"));
	ASSERT_STR("remote_source", "heartbeat", rec_str(w.found, "remote_source"));
	ASSERT_EQ_U64("bytes_sent", 1300, rec_u64(w.found, "bytes_sent"));
	ASSERT_EQ_U64("bytes_received", 4100, rec_u64(w.found, "bytes_received"));
	ASSERT_STR("container_id",
		   "a1848056a183e40afe3189fc4920bd565930180ebdf2f9e2daf778ea8105f93e",
		   rec_str(w.found, "container_id"));
	ret = 0;
cleanup:
	if (ret && col.err_text)
		fprintf(stderr, "    collector stderr:\n%s\n", col.err_text);
	if (ret && sc.err_text)
		fprintf(stderr, "    sidecar stderr:\n%s\n", sc.err_text);
	free(body);
	if (!sc.exited && sc.pid > 0)
		sidecar_stop(&sc, 5000, NULL);
	if (!col.exited && col.pid > 0)
		sidecar_stop(&col, 5000, NULL);
	sidecar_free(&sc);
	sidecar_free(&col);
	pod_node_destroy(&node);
	json_decref(w.found);
	json_decref(pod);
	json_decref(review);
	json_decref(patch);
	json_decref(patched);
	return ret;
}

static const struct harness_test tests[] = {
	{ "chart_runs_what_it_says", test_chart_runs_what_it_says },
};

int main(int argc, char **argv)
{
	int failed, rc = harness_require_root();

	if (rc)
		return rc;
	/* the collector's fixed ports (7070, 9090, 8443, 9095) in a namespace of our own */
	if (!harness_cgroup_mount() || harness_netns_enter()) {
		fprintf(stderr, "chart: no cgroup2 mount or no network namespace: FAIL\n");
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "chart: curl_global_init: FAIL\n");
		return 1;
	}
	snprintf(g_tmp, sizeof(g_tmp), "/tmp/podflow-it-chart-XXXXXX");
	if (!mkdtemp(g_tmp) || chmod(g_tmp, 0755)) {
		fprintf(stderr, "chart: cannot create a temp dir: FAIL\n");
		return 1;
	}
	failed = harness_run("chart", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
	json_decref(g_objects);
	curl_global_cleanup();
	if (!failed)
		harness_sh("rm -rf %s", g_tmp);
	else
		fprintf(stderr, "  (kept %s)\n", g_tmp);
	return failed ? 1 : 0;
}
