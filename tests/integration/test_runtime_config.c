// SPDX-License-Identifier: BSD-2-Clause
/* Runtime configuration from a ConfigMap-style mount, and the admin endpoint, end to end. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "workload.h"

#define CONTAINER_ID "aaaabbbbccccdddd0000111122223333aaaabbbbccccdddd0000111122223333"
#define WAIT_MS	     10000

static char g_scope[512];
static char g_container[640];
static char g_tmp[256];
static int g_gen; /* the kubelet's directory generations */

/* ---- the kubelet's atomic writer ---- */

/*
 * What the kubelet's AtomicWriter.Write (pkg/volume/util/atomic_writer.go)
 * does to a ConfigMap volume: a new timestamped directory with the files, a
 * ..data_tmp symlink to it renamed over ..data, the user-visible name a
 * symlink through ..data (made once), the old directory removed.  With
 * `step_ms`, the writer's pace: that long between its steps, so the
 * program's loop looks at the volume between them (the kubelet writes to
 * disk and fsyncs between them).
 */
static int kubelet_write_paced(const char *dir, const char *name, const char *content, int step_ms)
{
	char ts[64], old[64], path[1024], link[1024];
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/..data", dir);
	n = readlink(path, old, sizeof(old) - 1);
	old[n > 0 ? n : 0] = '\0';
	snprintf(ts, sizeof(ts), "..2026_11_27_10_00_%02d.%09d", g_gen % 60, g_gen);
	g_gen++;
	snprintf(path, sizeof(path), "%s/%s", dir, ts);
	if (mkdir(path, 0755))
		return -errno;
	usleep((useconds_t)step_ms * 1000);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, ts, name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fputs(content, f);
	fclose(f);
	usleep((useconds_t)step_ms * 1000);
	snprintf(link, sizeof(link), "%s/..data_tmp", dir);
	unlink(link);
	if (symlink(ts, link))
		return -errno;
	usleep((useconds_t)step_ms * 1000);
	snprintf(path, sizeof(path), "%s/..data", dir);
	if (rename(link, path))
		return -errno;
	usleep((useconds_t)step_ms * 1000);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(link, sizeof(link), "..data/%s", name);
	if (access(path, F_OK) && symlink(link, path))
		return -errno;
	if (old[0]) {
		snprintf(path, sizeof(path), "%s/%s/%s", dir, old, name);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s", dir, old);
		if (rmdir(path))
			return -errno;
	}
	return 0;
}

static int kubelet_write(const char *dir, const char *name, const char *content)
{
	return kubelet_write_paced(dir, name, content, 0);
}

/* ---- HTTP against the admin endpoint ---- */

static size_t collect(char *p, size_t size, size_t n, void *userdata)
{
	char **buf = userdata;
	size_t old = *buf ? strlen(*buf) : 0, add = size * n;
	char *nb = realloc(*buf, old + add + 1);

	if (!nb)
		return 0;
	memcpy(nb + old, p, add);
	nb[old + add] = '\0';
	*buf = nb;
	return add;
}

/* GET http://127.0.0.1:port/path; returns the status (0 on failure), body in *body. */
static long http_get(uint16_t port, const char *path, char **body)
{
	char url[256];
	long code = 0;
	CURL *c = curl_easy_init();

	*body = NULL;
	if (!c)
		return 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (!*body)
		*body = strdup("");
	return code;
}

/* The value of one unlabelled or labelled sample in an exposition, or -1. */
static double metric(const char *text, const char *sample)
{
	size_t n = strlen(sample);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, sample, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

static double metric_now(uint16_t port, const char *sample)
{
	char *body;
	double v = -1;

	if (http_get(port, "/metrics", &body) == 200)
		v = metric(body, sample);
	free(body);
	return v;
}

/* /config's value at a dotted path, as JSON text ("\"1s\"", "true", "[9]"); caller frees. */
static char *config_value(uint16_t port, const char *path)
{
	char *body, *out = NULL, key[128], *dot;
	json_t *j, *v;

	if (http_get(port, "/config", &body) != 200) {
		free(body);
		return NULL;
	}
	j = json_loads(body, 0, NULL);
	free(body);
	v = j;
	snprintf(key, sizeof(key), "%s", path);
	for (char *k = key; v && k; k = dot) {
		dot = strchr(k, '.');
		if (dot)
			*dot++ = '\0';
		v = json_object_get(v, k);
	}
	if (v)
		out = json_dumps(v, JSON_ENCODE_ANY);
	json_decref(j);
	return out;
}

/* Polls /config until path == want (JSON text); returns the ms it took, or -1. */
static long wait_config(uint16_t port, const char *path, const char *want, int timeout_ms)
{
	uint64_t t0 = harness_now_ms();

	for (;;) {
		char *v = config_value(port, path);
		bool ok = v && strcmp(v, want) == 0;

		free(v);
		if (ok)
			return (long)(harness_now_ms() - t0);
		if (harness_now_ms() >= t0 + (uint64_t)timeout_ms)
			return -1;
		usleep(20000);
	}
}

/* promtool check metrics on a /metrics body: exit 0 and nothing printed. */
static int promtool_ok(const char *body)
{
	char path[] = "/tmp/podflow-metrics-XXXXXX", out[4096] = "";
	int fd = mkstemp(path), ok;
	FILE *p;
	size_t n;

	if (fd < 0)
		return 0;
	if (write(fd, body, strlen(body)) != (ssize_t)strlen(body)) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
		p = popen(cmd, "r");
	}
	n = p ? fread(out, 1, sizeof(out) - 1, p) : 0;
	out[n] = '\0';
	ok = p && pclose(p) == 0 && n == 0;
	if (!ok)
		fprintf(stderr, "    promtool said: %s\n", out);
	unlink(path);
	return ok;
}

/* How many times `needle` occurs in `text`. */
static int occurrences(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Polls a metric until it equals `want`, for at most timeout_ms; returns the last value. */
static double wait_metric(uint16_t port, const char *sample, double want, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	double v;

	while ((v = metric_now(port, sample)) != want && harness_now_ms() < deadline)
		usleep(20000);
	return v;
}

/*
 * Checks that a metric keeps its value for hold_ms (a reload that must not
 * come has had time to come: the watch settles in 250 ms, and its poll runs
 * every second); returns the first other value seen, or the value.
 */
static double metric_stays(uint16_t port, const char *sample, double want, int hold_ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)hold_ms;
	double v = want;

	while (harness_now_ms() < end && (v = metric_now(port, sample)) == want)
		usleep(50000);
	return v;
}

static bool out_to_port(json_t *r, void *ctx)
{
	return strcmp(rec_str(r, "direction"), "out") == 0 &&
	       rec_u64(r, "remote_port") == *(uint16_t *)ctx;
}

static const char *sidecar_args[16];

static const char *const *args_with_config(const char *config, const char *admin,
					   const char *extra1, const char *extra2)
{
	int n = 0;

	sidecar_args[n++] = "--cgroup";
	sidecar_args[n++] = g_scope;
	sidecar_args[n++] = "--config";
	sidecar_args[n++] = config;
	sidecar_args[n++] = "--admin";
	sidecar_args[n++] = admin;
	if (extra1)
		sidecar_args[n++] = extra1;
	if (extra2)
		sidecar_args[n++] = extra2;
	sidecar_args[n] = NULL;
	return sidecar_args;
}

/*
 * A ConfigMap directory g_tmp/cm-NAME holding `yaml` as the kubelet writes
 * it, and a sidecar started on it with its admin endpoint on *port (plus up
 * to two extra arguments).  `dir` receives the directory.  0 or -1.
 */
static int start_on_configmap(struct sidecar *sc, const char *name, const char *yaml, char *dir,
			      size_t dir_len, uint16_t *port, const char *extra1,
			      const char *extra2)
{
	static char cfg[600], admin[32];

	*port = harness_free_port();
	snprintf(dir, dir_len, "%s/cm-%s", g_tmp, name);
	mkdir(dir, 0755);
	snprintf(cfg, sizeof(cfg), "%s/config.yaml", dir);
	snprintf(admin, sizeof(admin), "127.0.0.1:%u", *port);
	if (kubelet_write(dir, "config.yaml", yaml)) {
		fprintf(stderr, "    cannot write %s\n", cfg);
		return -1;
	}
	return sidecar_start(sc, args_with_config(cfg, admin, extra1, extra2)) ? -1 : 0;
}

/*
 * The kubelet swaps in a new interval: the running sidecar uses it within
 * 2 s; then garbage written the same way is refused, the old config stays,
 * and /metrics says so.
 */
static int test_sidecar_interval_and_garbage(void)
{
	char dir[512];
	uint16_t port = 0;
	struct sidecar sc = { 0 };
	uint64_t bad = 0;
	struct report_fault f;
	long ms;
	int ret = 1;

	ASSERT_EQ_U64("sidecar start", 0,
		      start_on_configmap(&sc, "interval", "interval: 500ms\nstats_interval: 0s\n",
					 dir, sizeof(dir), &port, NULL, NULL));
	ASSERT_TRUE("interval from the file", wait_config(port, "interval", "\"500ms\"", 0) >= 0);
	ASSERT_EQ_U64("new version", 0,
		      kubelet_write(dir, "config.yaml", "interval: 1s\nstats_interval: 0s\n"));
	ms = wait_config(port, "interval", "\"1s\"", 2000);
	fprintf(stderr, "    new interval in force after %ld ms\n", ms);
	ASSERT_TRUE("picked up within 2 s", ms >= 0);
	ASSERT_TRUE("said so", strstr(sc.err_text, "reloaded: 1 setting changed") != NULL ||
				   (sidecar_poll(&sc, 200),
				    strstr(sc.err_text, "reloaded: 1 setting changed") != NULL));
	/* exactly one: one kubelet update is one reload */
	ASSERT_EQ_U64(
	    "success counted once", 1,
	    (uint64_t)metric_stays(port, "podflow_sidecar_config_reloads_total{result=\"success\"}",
				   1, 1200));
	ASSERT_EQ_U64("last reload ok", 1,
		      (uint64_t)metric_now(port, "podflow_sidecar_config_last_reload_success"));

	/* garbage, the same way */
	ASSERT_EQ_U64("garbage version", 0,
		      kubelet_write(dir, "config.yaml", "interval: [1s\nenabled: maybe\n"));
	bad++;
	{
		uint64_t deadline = harness_now_ms() + 3000;

		while (harness_now_ms() < deadline &&
		       metric_now(port, "podflow_sidecar_config_last_reload_success") != 0)
			usleep(20000);
	}
	ASSERT_EQ_U64("failure visible", 0,
		      (uint64_t)metric_now(port, "podflow_sidecar_config_last_reload_success"));
	ASSERT_TRUE("failure counted",
		    metric_now(port, "podflow_sidecar_config_reloads_total{result=\"failure\"}") >=
			1);
	ASSERT_TRUE("the old interval stays", wait_config(port, "interval", "\"1s\"", 0) >= 0);
	sidecar_poll(&sc, 100);
	ASSERT_TRUE("one line naming file and line",
		    strstr(sc.err_text, "configuration rejected: ") &&
			strstr(sc.err_text, "config.yaml:2: YAML syntax error"));
	f = (struct report_fault){
		.fault = "ConfigMap updated with invalid YAML while the sidecar runs",
		.unit = "config versions",
		.injected = bad,
		.counted = (uint64_t)metric_now(
		    port, "podflow_sidecar_config_reloads_total{result=\"failure\"}"),
		.counted_as = "config_reloads_total{result=\"failure\"}, "
			      "config_last_reload_success 0, one line naming file and line",
		.note = "the running values stay in force; a good version clears it",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("the bad version refused and counted", 0, f.lost);
	/* and a good version again clears it */
	ASSERT_EQ_U64("good again", 0,
		      kubelet_write(dir, "config.yaml", "interval: 700ms\nstats_interval: 0s\n"));
	ASSERT_TRUE("recovered", wait_config(port, "interval", "\"700ms\"", 2000) >= 0);
	ASSERT_EQ_U64("last reload ok again", 1,
		      (uint64_t)metric_now(port, "podflow_sidecar_config_last_reload_success"));
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 5000, NULL));
	harness_report(&f);
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n", sc.err_text ? sc.err_text : "");
	sidecar_free(&sc);
	return ret;
}

#define RELOADS_OK     "podflow_sidecar_config_reloads_total{result=\"success\"}"
#define RELOADS_FAILED "podflow_sidecar_config_reloads_total{result=\"failure\"}"

/*
 * One ConfigMap update is one reload, whatever the kubelet's pace.  Its
 * ..data_tmp symlink appears while the file still reads the old content:
 * re-reading that was a second reload, counters moved by 2 and the old
 * "restart required" warning came again.  And the same content published
 * again is no reload at all.
 */
static int test_kubelet_update_reloads_once(void)
{
	static const char v1[] = "interval: 500ms\nstats_interval: 0s\nmax_records: 5000\n";
	static const char v2[] = "interval: 1s\nstats_interval: 0s\nmax_records: 6000\n";
	static const char v3[] = "interval: 700ms\nstats_interval: 0s\nmax_records: 6000\n";
	static const char warn[] = "max_records changed but cannot change while running";
	char dir[512];
	uint16_t port = 0;
	struct sidecar sc = { 0 };
	int ret = 1;

	ASSERT_EQ_U64("sidecar start", 0,
		      start_on_configmap(&sc, "once", v1, dir, sizeof(dir), &port, NULL, NULL));
	/* 150 ms between the kubelet's steps: the sidecar's loop (100 ms) looks in between */
	ASSERT_EQ_U64("update", 0, kubelet_write_paced(dir, "config.yaml", v2, 150));
	ASSERT_TRUE("in force", wait_config(port, "interval", "\"1s\"", 3000) >= 0);
	ASSERT_EQ_U64("one reload", 1, (uint64_t)metric_stays(port, RELOADS_OK, 1, 1500));
	ASSERT_EQ_U64("no failure", 0, (uint64_t)metric_now(port, RELOADS_FAILED));
	sidecar_poll(&sc, 100);
	ASSERT_EQ_U64("the restart warning once", 1, (uint64_t)occurrences(sc.err_text, warn));

	ASSERT_EQ_U64("second update", 0, kubelet_write_paced(dir, "config.yaml", v3, 150));
	ASSERT_TRUE("in force", wait_config(port, "interval", "\"700ms\"", 3000) >= 0);
	ASSERT_EQ_U64("one more reload", 2, (uint64_t)metric_stays(port, RELOADS_OK, 2, 1500));
	sidecar_poll(&sc, 100);
	/* the file still asks for 6000: said again by this reload, and only once */
	ASSERT_EQ_U64("the restart warning once more", 2, (uint64_t)occurrences(sc.err_text, warn));
	ASSERT_EQ_U64("one 'reloaded' line per update", 2,
		      (uint64_t)occurrences(sc.err_text, "reloaded: 1 setting changed"));

	/* the same content again, in a new directory: nothing to reload */
	ASSERT_EQ_U64("same content", 0, kubelet_write_paced(dir, "config.yaml", v3, 150));
	ASSERT_EQ_U64("no reload", 2, (uint64_t)metric_stays(port, RELOADS_OK, 2, 2000));
	ASSERT_EQ_U64("still no failure", 0, (uint64_t)metric_now(port, RELOADS_FAILED));
	sidecar_poll(&sc, 100);
	ASSERT_EQ_U64("no warning", 2, (uint64_t)occurrences(sc.err_text, warn));
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 5000, NULL));
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n", sc.err_text ? sc.err_text : "");
	sidecar_free(&sc);
	return ret;
}

/*
 * An emptied file (truncated, or every line commented out) is rejected like
 * garbage: it used to be "all defaults", which turned a paused capture back
 * on and dropped the filters, counted as a successful reload.  `{}` is how
 * all defaults is asked for.
 */
static int test_empty_file_rejected(void)
{
	static const char good[] = "interval: 300ms\nstats_interval: 0s\nenabled: false\n"
				   "filters:\n  ignore_ports: [22]\n  ignore_cidrs: [10.0.0.0/8]\n";
	char dir[512], want[700];
	uint16_t port = 0;
	struct sidecar sc = { 0 };
	uint64_t bad = 0, refused;
	struct report_fault f;
	int ret = 1;

	ASSERT_EQ_U64("sidecar start", 0,
		      start_on_configmap(&sc, "empty", good, dir, sizeof(dir), &port, NULL, NULL));
	ASSERT_TRUE("paused by the file", wait_config(port, "enabled", "false", 0) >= 0);

	ASSERT_EQ_U64("emptied", 0, kubelet_write(dir, "config.yaml", ""));
	bad++;
	ASSERT_EQ_U64("rejected", 1, (uint64_t)wait_metric(port, RELOADS_FAILED, 1, 3000));
	ASSERT_EQ_U64("not a success", 0, (uint64_t)metric_now(port, RELOADS_OK));
	ASSERT_EQ_U64("last reload failed", 0,
		      (uint64_t)metric_now(port, "podflow_sidecar_config_last_reload_success"));
	ASSERT_TRUE("still paused", wait_config(port, "enabled", "false", 0) >= 0);
	ASSERT_EQ_U64("capture still off", 0,
		      (uint64_t)metric_now(port, "podflow_sidecar_capture_enabled"));
	ASSERT_TRUE("port filter kept", wait_config(port, "filters.ignore_ports", "[22]", 0) >= 0);
	ASSERT_TRUE("peer filter kept",
		    wait_config(port, "filters.ignore_cidrs", "[\"10.0.0.0/8\"]", 0) >= 0);
	sidecar_poll(&sc, 100);
	snprintf(want, sizeof(want),
		 "configuration rejected: %s/config.yaml: no settings in the file (it is empty or "
		 "only comments): refused; write {} to run on the defaults; the running "
		 "configuration stays in force",
		 dir);
	ASSERT_TRUE("logged with the file name", strstr(sc.err_text, want) != NULL);

	ASSERT_EQ_U64("commented out", 0,
		      kubelet_write(dir, "config.yaml", "# enabled: false\n# interval: 300ms\n"));
	bad++;
	ASSERT_EQ_U64("rejected too", 2, (uint64_t)wait_metric(port, RELOADS_FAILED, 2, 3000));
	ASSERT_TRUE("still paused", wait_config(port, "enabled", "false", 0) >= 0);
	refused = (uint64_t)metric_now(port, RELOADS_FAILED);
	f = (struct report_fault){
		.fault = "ConfigMap emptied, or every line commented out, while running",
		.unit = "config versions",
		.injected = bad,
		.counted = refused,
		.counted_as = "config_reloads_total{result=\"failure\"}, one line naming the file",
		.note = "capture stays paused, the filters kept: the running values stay",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each empty version refused and counted", 0, f.lost);

	/* all defaults, explicitly */
	ASSERT_EQ_U64("{}", 0, kubelet_write(dir, "config.yaml", "{}\n"));
	ASSERT_TRUE("resumed", wait_config(port, "enabled", "true", 3000) >= 0);
	ASSERT_EQ_U64("a success", 1, (uint64_t)metric_now(port, RELOADS_OK));
	ASSERT_EQ_U64("failures stay counted", 2, (uint64_t)metric_now(port, RELOADS_FAILED));
	ASSERT_TRUE("filters cleared", wait_config(port, "filters.ignore_ports", "[]", 0) >= 0);
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 5000, NULL));
	harness_report(&f);
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n", sc.err_text ? sc.err_text : "");
	sidecar_free(&sc);
	return ret;
}

/* enabled: false pauses capture live, true resumes it; programs stay attached. */
static int test_pause_resume(void)
{
	char dir[512];
	uint16_t port = 0, p1 = 0, p2 = 0, p3 = 0;
	struct sidecar sc = { 0 };
	int ret = 1;

	ASSERT_EQ_U64("sidecar start", 0,
		      start_on_configmap(&sc, "pause", "interval: 300ms\nstats_interval: 0s\n", dir,
					 sizeof(dir), &port, "--per-connection", NULL));
	ASSERT_EQ_U64("workload while enabled", 0, exchange(g_container, 2, 100, 100, &p1));
	ASSERT_TRUE("recorded", sidecar_wait_record(&sc, out_to_port, &p1, WAIT_MS) != NULL);

	ASSERT_EQ_U64("pause", 0,
		      kubelet_write(dir, "config.yaml",
				    "interval: 300ms\nstats_interval: 0s\nenabled: false\n"));
	ASSERT_TRUE("paused", wait_config(port, "enabled", "false", 2000) >= 0);
	ASSERT_EQ_U64("gauge", 0, (uint64_t)metric_now(port, "podflow_sidecar_capture_enabled"));
	ASSERT_EQ_U64("workload while paused", 0, exchange(g_container, 3, 100, 100, &p2));

	ASSERT_EQ_U64("resume", 0,
		      kubelet_write(dir, "config.yaml", "interval: 300ms\nstats_interval: 0s\n"));
	ASSERT_TRUE("resumed", wait_config(port, "enabled", "true", 2000) >= 0);
	ASSERT_EQ_U64("workload after resuming", 0, exchange(g_container, 2, 100, 100, &p3));
	ASSERT_TRUE("recorded again", sidecar_wait_record(&sc, out_to_port, &p3, WAIT_MS) != NULL);
	/* the records after resuming are in: nothing of the paused period came */
	ASSERT_TRUE("nothing while paused", !sidecar_wait_record(&sc, out_to_port, &p2, 0));
	ASSERT_EQ_U64("paused connections counted, both ends", 6,
		      (uint64_t)metric_now(
			  port, "podflow_sidecar_flows_not_tracked_total{reason=\"paused\"}"));
	ASSERT_TRUE("said so", strstr(sc.err_text, "capture paused") &&
				   strstr(sc.err_text, "capture resumed"));
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 5000, NULL));
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n", sc.err_text ? sc.err_text : "");
	sidecar_free(&sc);
	return ret;
}

/* filters change live: a service port and a peer network are left alone. */
static int test_filters_live(void)
{
	char dir[512], yaml[256];
	uint16_t port = 0, p1 = 0, p2 = 0, p3 = 0;
	struct sidecar sc = { 0 };
	int ret = 1;

	ASSERT_EQ_U64("sidecar start", 0,
		      start_on_configmap(&sc, "filters", "interval: 300ms\nstats_interval: 0s\n",
					 dir, sizeof(dir), &port, "--per-connection", NULL));
	/* a peer filter: all of loopback */
	ASSERT_EQ_U64("cidr filter", 0,
		      kubelet_write(dir, "config.yaml",
				    "interval: 300ms\nstats_interval: 0s\nfilters:\n"
				    "  ignore_cidrs: [\"127.0.0.0/8\"]\n"));
	ASSERT_TRUE("in force",
		    wait_config(port, "filters.ignore_cidrs", "[\"127.0.0.0/8\"]", 2000) >= 0);
	ASSERT_EQ_U64("workload to a filtered peer", 0, exchange(g_container, 2, 100, 100, &p1));
	/* a service-port filter: the next server's port, chosen now */
	p2 = harness_free_port();
	snprintf(yaml, sizeof(yaml),
		 "interval: 300ms\nstats_interval: 0s\nfilters:\n  ignore_ports: [%u]\n", p2);
	ASSERT_EQ_U64("port filter", 0, kubelet_write(dir, "config.yaml", yaml));
	snprintf(yaml, sizeof(yaml), "[%u]", p2);
	ASSERT_TRUE("in force", wait_config(port, "filters.ignore_ports", yaml, 2000) >= 0);
	ASSERT_EQ_U64("workload to a filtered port", 0, exchange(g_container, 2, 100, 100, &p2));
	ASSERT_EQ_U64("no filters", 0,
		      kubelet_write(dir, "config.yaml", "interval: 300ms\nstats_interval: 0s\n"));
	ASSERT_TRUE("cleared", wait_config(port, "filters.ignore_ports", "[]", 2000) >= 0);
	ASSERT_EQ_U64("workload after clearing", 0, exchange(g_container, 2, 100, 100, &p3));
	ASSERT_TRUE("recorded", sidecar_wait_record(&sc, out_to_port, &p3, WAIT_MS) != NULL);
	ASSERT_TRUE("nothing for the filtered peer",
		    !sidecar_wait_record(&sc, out_to_port, &p1, 0));
	ASSERT_TRUE("nothing for the filtered port",
		    !sidecar_wait_record(&sc, out_to_port, &p2, 0));
	/* both ends of each: 2 + 2 by peer, 2 + 2 by port */
	ASSERT_EQ_U64("filtered connections counted", 8,
		      (uint64_t)metric_now(
			  port, "podflow_sidecar_flows_not_tracked_total{reason=\"filtered\"}"));
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 5000, NULL));
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n", sc.err_text ? sc.err_text : "");
	sidecar_free(&sc);
	return ret;
}

/* Flags win over the file, at start and at every reload; non-live keys wait for a restart. */
static int test_precedence_and_restart_keys(void)
{
	char dir[512];
	uint16_t port = 0;
	struct sidecar sc = { 0 };
	int ret = 1;

	ASSERT_EQ_U64(
	    "sidecar start", 0,
	    start_on_configmap(&sc, "prec",
			       "interval: 500ms\nbatch:\n  max_records: 77\nmax_records: 5000\n",
			       dir, sizeof(dir), &port, "--interval", "2s"));
	ASSERT_TRUE("the flag wins", wait_config(port, "interval", "\"2s\"", 0) >= 0);
	ASSERT_TRUE("the file sets the rest", wait_config(port, "batch.max_records", "77", 0) >= 0);
	ASSERT_TRUE("defaults fill the gaps",
		    wait_config(port, "buffer.max_bytes", "16777216", 0) >= 0);
	ASSERT_EQ_U64(
	    "change both", 0,
	    kubelet_write(dir, "config.yaml",
			  "interval: 700ms\nbatch:\n  max_records: 88\nmax_records: 6000\n"));
	ASSERT_TRUE("live key from the file",
		    wait_config(port, "batch.max_records", "88", 2000) >= 0);
	ASSERT_TRUE("the flag still wins", wait_config(port, "interval", "\"2s\"", 0) >= 0);
	ASSERT_TRUE("restart-only key keeps its value",
		    wait_config(port, "max_records", "5000", 0) >= 0);
	sidecar_poll(&sc, 200);
	ASSERT_TRUE("restart required, said once",
		    strstr(sc.err_text, "max_records changed but cannot change while running: "
					"restart required") != NULL);
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 5000, NULL));
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n", sc.err_text ? sc.err_text : "");
	sidecar_free(&sc);
	return ret;
}

/* A bad file at start is a usage error: exit 2, one line with file, line and key. */
static int expect_exit2(const char *bin, const char *const *args)
{
	char path[512], *text = NULL;
	const char *argv[16];
	int fd, n = 0, code, ret = 1;
	pid_t pid;

	argv[n++] = harness_bin(bin, path, sizeof(path));
	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = harness_start_capture(argv, &fd);
	ASSERT_TRUE("started", pid > 0);
	code = harness_finish_capture(pid, fd, WAIT_MS, &text);
	ASSERT_EQ_U64("exit code 2", 2, (uint64_t)code);
	ret = 0;
cleanup:
	free(text);
	return ret;
}

static int test_bad_config_at_start(void)
{
	char dir[512], cfg[600], errf[700], line[1024] = "";
	uint64_t tried = 0, refused = 0;
	struct report_fault rf;
	int ret = 1;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/cm-bad", g_tmp);
	mkdir(dir, 0755);
	snprintf(cfg, sizeof(cfg), "%s/config.yaml", dir);
	ASSERT_EQ_U64(
	    "config", 0,
	    kubelet_write(dir, "config.yaml", "interval: 10s\nbatch:\n  max_recods: 5\n"));
	/* stderr to a file, to read the one line */
	snprintf(errf, sizeof(errf), "%s/err.txt", g_tmp);
	{
		char cmd[2048];

		snprintf(cmd, sizeof(cmd),
			 "%s/podflow-sidecar --config %s --cgroup %s 2>%s; test $? -eq 2",
			 getenv("PODFLOW_BUILD") ? getenv("PODFLOW_BUILD") : "build", cfg, g_scope,
			 errf);
		tried++;
		ASSERT_EQ_U64("sidecar exits 2", 0, harness_sh("%s", cmd));
		refused++;
		snprintf(cmd, sizeof(cmd),
			 "%s/podflow-collector --config %s --admin '' 2>>%s; "
			 "test $? -eq 2",
			 getenv("PODFLOW_BUILD") ? getenv("PODFLOW_BUILD") : "build", cfg, errf);
		tried++;
		ASSERT_EQ_U64("collector exits 2", 0, harness_sh("%s", cmd));
		refused++;
	}
	f = fopen(errf, "r");
	ASSERT_TRUE("stderr", f != NULL);
	ASSERT_TRUE("a line", fgets(line, sizeof(line), f) != NULL);
	ASSERT_TRUE("sidecar: file, line, key",
		    strstr(line, "config.yaml:3: unknown key 'batch.max_recods' (did you mean "
				 "'batch.max_records'?)") != NULL);
	ASSERT_TRUE("one line only",
		    !fgets(line, sizeof(line), f) || strstr(line, "podflow-collector") != NULL);
	fclose(f);
	tried++;
	ASSERT_EQ_U64(
	    "missing config file: exit 2", 0,
	    expect_exit2("podflow-sidecar",
			 (const char *const[]){ "--config", "/nonexistent/config.yaml", NULL }));
	refused++;
	rf = (struct report_fault){
		.fault = "config with a misspelt key, or missing, at start",
		.unit = "starts",
		.injected = tried,
		.counted = refused,
		.counted_as = "exit 2, one line naming file, line and key (and the likely one)",
	};
	rf.lost = rf.injected - rf.delivered - rf.counted;
	ASSERT_EQ_U64("each start refused", 0, rf.lost);
	harness_report(&rf);
	ret = 0;
cleanup:
	return ret;
}

/* An empty file at start is refused as at a reload: exit 2, one line; {} starts on the defaults. */
static int test_empty_config_at_start(void)
{
	char dir[512], cfg[600], errf[700], cmd[2048], line[1024] = "", want[800];
	const char *build = getenv("PODFLOW_BUILD") ? getenv("PODFLOW_BUILD") : "build";
	uint16_t port = 0;
	struct sidecar sc = { 0 };
	uint64_t tried = 0, refused = 0;
	struct report_fault rf;
	int ret = 1;
	FILE *f = NULL;

	snprintf(dir, sizeof(dir), "%s/cm-empty-start", g_tmp);
	mkdir(dir, 0755);
	snprintf(cfg, sizeof(cfg), "%s/config.yaml", dir);
	snprintf(errf, sizeof(errf), "%s/err-empty.txt", g_tmp);
	ASSERT_EQ_U64("config", 0, kubelet_write(dir, "config.yaml", "# to be filled in\n"));
	/* timeout: one that took the file would run on */
	snprintf(cmd, sizeof(cmd),
		 "timeout 10 %s/podflow-sidecar --config %s --cgroup %s 2>%s; test $? -eq 2", build,
		 cfg, g_scope, errf);
	tried++;
	ASSERT_EQ_U64("sidecar exits 2", 0, harness_sh("%s", cmd));
	refused++;
	snprintf(cmd, sizeof(cmd),
		 "timeout 10 %s/podflow-collector --config %s --admin '' --listen 127.0.0.1:0 "
		 "--data-dir %s/empty-data 2>>%s; test $? -eq 2",
		 build, cfg, g_tmp, errf);
	tried++;
	ASSERT_EQ_U64("collector exits 2", 0, harness_sh("%s", cmd));
	refused++;
	f = fopen(errf, "r");
	ASSERT_TRUE("stderr", f != NULL);
	snprintf(want, sizeof(want),
		 "%s: no settings in the file (it is empty or only comments): refused; write {} "
		 "to run on the defaults\n",
		 cfg);
	ASSERT_TRUE("sidecar's line", fgets(line, sizeof(line), f) != NULL);
	ASSERT_TRUE("sidecar names file and cure",
		    strstr(line, "podflow-sidecar: ") && strstr(line, want));
	ASSERT_TRUE("collector's line", fgets(line, sizeof(line), f) != NULL);
	ASSERT_TRUE("collector names file and cure",
		    strstr(line, "podflow-collector: ") && strstr(line, want));
	ASSERT_TRUE("one line each", !fgets(line, sizeof(line), f));
	ASSERT_EQ_U64(
	    "sidecar start on {}", 0,
	    start_on_configmap(&sc, "braces", "{}\n", dir, sizeof(dir), &port, NULL, NULL));
	ASSERT_TRUE("the defaults", wait_config(port, "interval", "\"10s\"", 0) >= 0);
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 5000, NULL));
	rf = (struct report_fault){
		.fault = "config file with nothing but a comment at start",
		.unit = "starts",
		.injected = tried,
		.counted = refused,
		.counted_as = "exit 2, one line naming the file and the cure ({})",
	};
	rf.lost = rf.injected - rf.delivered - rf.counted;
	ASSERT_EQ_U64("each start refused", 0, rf.lost);
	harness_report(&rf);
	ret = 0;
cleanup:
	if (f)
		fclose(f);
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n", sc.err_text ? sc.err_text : "");
	sidecar_free(&sc);
	return ret;
}

/*
 * A collector config rewritten in place in pieces, the writer pausing with
 * the file open (a slow copy, an editor's save, a script): its first piece
 * is valid YAML on its own, every later key at its default, and was in
 * force until the rest came.  Nothing may change until the writer closes
 * the file; then all of it, in one reload.
 */
static int test_collector_file_written_in_pieces(void)
{
	static const char first[] = "listen: 127.0.0.1:0\nstats_interval: 0s\n";
	static const char rest[] = "attribution:\n  max_delay: 7s\n";
	char cfg[600], admin[32], data[600];
	uint16_t aport = harness_free_port(), lport = 0, api = 0;
	struct sidecar c = { 0 };
	uint64_t until;
	int ret = 1, fd = -1;
	FILE *f;

	snprintf(cfg, sizeof(cfg), "%s/collector-pieces.yaml", g_tmp);
	snprintf(data, sizeof(data), "%s/collector-pieces-data", g_tmp);
	snprintf(admin, sizeof(admin), "127.0.0.1:%u", aport);
	f = fopen(cfg, "w");
	ASSERT_TRUE("config", f != NULL);
	fputs("listen: 127.0.0.1:0\nstats_interval: 0s\nattribution:\n  max_delay: 5s\n", f);
	fclose(f);
	ASSERT_EQ_U64("collector start", 0,
		      collector_start(&c,
				      (const char *const[]){ "--config", cfg, "--admin", admin,
							     "--data-dir", data, NULL },
				      &lport));
	api = harness_api_port(&c, 5000); /* /config is on the API port */
	ASSERT_TRUE("API port", api != 0);
	ASSERT_TRUE("from the file", wait_config(api, "attribution.max_delay", "\"5s\"", 0) >= 0);

	fd = open(cfg, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ASSERT_TRUE("open for writing", fd >= 0);
	ASSERT_EQ_U64("first piece", sizeof(first) - 1,
		      (uint64_t)write(fd, first, sizeof(first) - 1));
	/* 2.5 s with the file open: the watch's 1 s poll sees it more than twice */
	until = harness_now_ms() + 2500;
	while (harness_now_ms() < until) {
		ASSERT_TRUE("nothing applied while written",
			    wait_config(api, "attribution.max_delay", "\"5s\"", 0) >= 0);
		ASSERT_EQ_U64(
		    "no reload while written", 0,
		    (uint64_t)metric_now(
			aport, "podflow_collector_config_reloads_total{result=\"success\"}"));
		usleep(100000);
	}
	ASSERT_EQ_U64("the rest", sizeof(rest) - 1, (uint64_t)write(fd, rest, sizeof(rest) - 1));
	ASSERT_EQ_U64("closed", 0, close(fd));
	fd = -1;
	ASSERT_TRUE("all of it in force",
		    wait_config(api, "attribution.max_delay", "\"7s\"", 3000) >= 0);
	ASSERT_EQ_U64(
	    "one reload", 1,
	    (uint64_t)metric_stays(
		aport, "podflow_collector_config_reloads_total{result=\"success\"}", 1, 1200));
	ASSERT_EQ_U64("collector stops", 0, sidecar_stop(&c, 6000, NULL));
	ret = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	if (ret)
		fprintf(stderr, "    collector:\n%s\n", c.err_text ? c.err_text : "");
	sidecar_free(&c);
	return ret;
}

/* The collector: live log level, a restart-only key, promtool on its /metrics. */
static int test_collector_config_and_metrics(void)
{
	char dir[512], cfg[600], admin[32], data[600], *body = NULL;
	uint16_t aport = harness_free_port(), lport = 0, api = 0;
	struct sidecar c = { 0 };
	int ret = 1;

	snprintf(dir, sizeof(dir), "%s/cm-collector", g_tmp);
	mkdir(dir, 0755);
	snprintf(cfg, sizeof(cfg), "%s/config.yaml", dir);
	snprintf(data, sizeof(data), "%s/collector-data", g_tmp);
	snprintf(admin, sizeof(admin), "127.0.0.1:%u", aport);
	ASSERT_EQ_U64(
	    "config", 0,
	    kubelet_write(dir, "config.yaml",
			  "listen: 127.0.0.1:0\nlog:\n  level: info\nstats_interval: 0s\n"));
	ASSERT_EQ_U64("collector start", 0,
		      collector_start(&c,
				      (const char *const[]){ "--config", cfg, "--admin", admin,
							     "--data-dir", data, NULL },
				      &lport));
	/* /config is on the API port (collector_start: 127.0.0.1:0) */
	api = harness_api_port(&c, 5000);
	ASSERT_TRUE("API port", api != 0);
	ASSERT_EQ_U64("/healthz", 200, (uint64_t)http_get(aport, "/healthz", &body));
	free(body);
	ASSERT_EQ_U64("/readyz", 200, (uint64_t)http_get(aport, "/readyz", &body));
	free(body);
	ASSERT_EQ_U64("/metrics", 200, (uint64_t)http_get(aport, "/metrics", &body));
	ASSERT_TRUE("promtool check metrics", promtool_ok(body));
	ASSERT_TRUE("has its families",
		    strstr(body, "podflow_collector_requests_total{code=\"204\"}"));
	free(body);
	body = NULL;
	ASSERT_EQ_U64(
	    "change", 0,
	    kubelet_write(dir, "config.yaml",
			  "listen: 127.0.0.1:1\nlog:\n  level: debug\nstats_interval: 0s\n"));
	ASSERT_TRUE("live: log level", wait_config(api, "log.level", "\"debug\"", 2000) >= 0);
	ASSERT_TRUE("restart-only: listen kept",
		    wait_config(api, "listen", "\"127.0.0.1:0\"", 0) >= 0);
	sidecar_poll(&c, 200);
	ASSERT_TRUE("restart required",
		    strstr(c.err_text, "listen changed but cannot change while running") != NULL);
	ASSERT_TRUE(
	    "reload counted",
	    metric_now(aport, "podflow_collector_config_reloads_total{result=\"success\"}") >= 1);
	ASSERT_EQ_U64("collector stops", 0, sidecar_stop(&c, 6000, NULL));
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    collector:\n%s\n", c.err_text ? c.err_text : "");
	free(body);
	sidecar_free(&c);
	return ret;
}

/* The sidecar's /metrics passes promtool, with real traffic and the exporter on. */
static int test_sidecar_metrics_promtool(void)
{
	char admin[32], url[64], data[600], *body = NULL;
	uint16_t aport = harness_free_port(), lport = 0, p1 = 0;
	struct sidecar sc = { 0 }, c = { 0 };
	int ret = 1;

	snprintf(data, sizeof(data), "%s/promtool-data", g_tmp);
	snprintf(admin, sizeof(admin), "127.0.0.1:%u", aport);
	ASSERT_EQ_U64("collector start", 0,
		      collector_start(&c,
				      (const char *const[]){ "--listen", "127.0.0.1:0", "--admin",
							     "", "--data-dir", data, NULL },
				      &lport));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", lport);
	{
		const char *args[] = {
			"--cgroup",    g_scope,	  "--interval", "300ms",    "--stats-interval",
			"0",	       "--admin", admin,	"--output", url,
			"--bpf-stats", "true",	  NULL
		};

		ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args));
	}
	ASSERT_EQ_U64("workload", 0, exchange(g_container, 4, 100, 100, &p1));
	{
		uint64_t deadline = harness_now_ms() + WAIT_MS;

		while (harness_now_ms() < deadline &&
		       metric_now(aport,
				  "podflow_sidecar_export_records_total{result=\"delivered\"}") < 2)
			usleep(50000);
	}
	ASSERT_EQ_U64("/metrics", 200, (uint64_t)http_get(aport, "/metrics", &body));
	ASSERT_TRUE("promtool check metrics", promtool_ok(body));
	ASSERT_TRUE("flows counted", metric(body, "podflow_sidecar_flows_started_total") >= 8);
	ASSERT_TRUE("delivered", metric(body, "podflow_sidecar_export_records_total{result="
					      "\"delivered\"}") >= 2);
	ASSERT_TRUE("latency observed",
		    metric(body, "podflow_sidecar_export_latency_seconds_count") >= 1);
	ASSERT_TRUE("BPF run time measured (bpf_stats on)",
		    metric(body, "podflow_sidecar_bpf_runs_total") > 0);
	/* each tracepoint program, none skipped: no RST at all here */
	ASSERT_EQ_U64("receive-reset program not skipped", 0,
		      (uint64_t)metric(body, "podflow_sidecar_bpf_recursion_misses_total{program="
					     "\"tcp_receive_reset\"}"));
	ASSERT_EQ_U64("send-reset program not skipped", 0,
		      (uint64_t)metric(body, "podflow_sidecar_bpf_recursion_misses_total{program="
					     "\"tcp_send_reset\"}"));
	{
		double off = harness_metric_double(aport, "podflow_sidecar_send_offset_seconds");

		ASSERT_TRUE("the send offset, under a tenth of the 300 ms interval",
			    off >= 0 && off < 0.03);
	}
	ASSERT_EQ_U64("no drops", 0,
		      (uint64_t)metric(body, "podflow_sidecar_drops_total{reason=\"ring_full\"}"));
	ASSERT_TRUE("no IPs or ports as labels",
		    !strstr(body, "127.0.0.1") && !strstr(body, "port="));
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 6000, NULL));
	ASSERT_EQ_U64("collector stops", 0, sidecar_stop(&c, 6000, NULL));
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n    collector:\n%s\n",
			sc.err_text ? sc.err_text : "", c.err_text ? c.err_text : "");
	free(body);
	sidecar_free(&sc);
	sidecar_free(&c);
	return ret;
}

static const struct harness_test tests[] = {
	{ "sidecar_interval_and_garbage", test_sidecar_interval_and_garbage },
	{ "kubelet_update_reloads_once", test_kubelet_update_reloads_once },
	{ "empty_file_rejected", test_empty_file_rejected },
	{ "empty_config_at_start", test_empty_config_at_start },
	{ "collector_file_written_in_pieces", test_collector_file_written_in_pieces },
	{ "pause_resume_live", test_pause_resume },
	{ "filters_live", test_filters_live },
	{ "precedence_and_restart_keys", test_precedence_and_restart_keys },
	{ "bad_config_at_start", test_bad_config_at_start },
	{ "collector_config_and_metrics", test_collector_config_and_metrics },
	{ "sidecar_metrics_promtool", test_sidecar_metrics_promtool },
};

int main(int argc, char **argv)
{
	int failed = harness_require_root();

	if (failed)
		return failed;
	if (harness_pod_setup("podflow-config", CONTAINER_ID, g_scope, g_container, sizeof(g_scope),
			      g_tmp, sizeof(g_tmp)))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	failed = harness_run("runtime config", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
	curl_global_cleanup();
	harness_cgroup_destroy(g_scope);
	harness_sh("rm -rf %s", g_tmp);
	return failed ? 1 : 0;
}
