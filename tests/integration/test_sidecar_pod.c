// SPDX-License-Identifier: BSD-2-Clause
/* The sidecar as the webhook injects it: the patch's capabilities, --cgroup-root in a private cgroup namespace, the optional ConfigMap and token. */
/*
 * A "node" is a cgroup subtree laid out as the kubelet's systemd driver
 * lays it out (R/kubepods.slice/kubepods-burstable.slice/
 * kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope), R standing
 * for the host's /sys/fs/cgroup.  The injected sidecar is started as a
 * container runtime starts it from the webhook's patch:
 *
 *   - in its own container cgroup inside the pod's, in a private cgroup
 *     namespace (cgroup v2's default: /proc/self/cgroup says "/") and a
 *     private mount namespace where R is bind-mounted read-only at
 *     TMP/host/sys/fs/cgroup (the patch's hostPath volume);
 *   - as uid 0 with the capability bounding set cut to the patch's
 *     securityContext.capabilities.add (drop: ALL), no inheritable or
 *     ambient capabilities, and no_new_privs (allowPrivilegeEscalation:
 *     false): what runc does, so that exec gives exactly that set;
 *   - with the patch's args (paths remapped under TMP, its --output made
 *     stdout) and the Downward API's environment.
 *
 * The capability set is read from a patch the webhook module really makes
 * (admission_review on a review of the real kind pod), so the test proves
 * what is shipped: with exactly that set the sidecar captures a connection
 * of the pod's app container to the byte; with each one of them dropped in
 * turn the kernel refuses the programs and the sidecar says which one is
 * missing, exit 1; and the running sidecar holds nothing more than the set.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "admission.h"
#include "harness.h"
#include "pod.h"
#include "workload.h"

#define POD_UID		"3b0f8e6a-5c1d-4e2f-9a7b-8c6d5e4f3a21"
#define POD_UID_SYSTEMD "3b0f8e6a_5c1d_4e2f_9a7b_8c6d5e4f3a21"
#define SIDECAR_ID	"5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"
#define APP_ID		"a99a99a99a99a99a99a99a99a99a99a99a99a99a99a99a99a99a99a99a99a99a"
#define WAIT_MS		10000

static char g_root[256];       /* R: the "host's /sys/fs/cgroup" */
static char g_pod[512];	       /* R/kubepods.slice/.../kubepods-burstable-pod<uid>.slice */
static char g_sidecar_cg[640]; /* the sidecar's container cgroup */
static char g_app_cg[640];     /* the app's container cgroup */
static char g_tmp[256];	       /* the container's filesystem, remapped */
static char g_mnt[320];	       /* g_tmp/host/sys/fs/cgroup */
static json_t *g_container;    /* the sidecar container from a real patch */
static uint64_t g_caps;	       /* its capabilities.add, as a mask */

/* ---- the patch's sidecar ---- */

/*
 * The sidecar container of the patch the webhook module makes for the
 * real kind pod (native sidecar, the chart's defaults), and its added
 * capabilities as a mask.  0, or -1 saying why.
 */
static int patch_sidecar(void)
{
	const struct admission_opts o = {
		.image = "podflow-sidecar:latest",
		.pull_policy = "IfNotPresent",
		.native_sidecar = true,
		.collector_url = "http://podflow-collector.podflow.svc:7070",
		.config_map = "podflow-sidecar",
		.token_secret = "podflow-token",
		.cpu_request = "20m",
		.memory_request = "32Mi",
		.memory_limit = "128Mi",
	};
	const char *dir = getenv("PODFLOW_FIXTURES");
	char path[PATH_MAX], *body;
	struct admission_result r;
	json_t *pod, *review, *patch, *sc, *add;
	size_t i;

	snprintf(path, sizeof(path), "%s/pod_native_sidecar_containerd_kind.json",
		 dir && *dir ? dir : "tests/fixtures/k8s");
	pod = json_load_file(path, 0, NULL);
	if (!pod) {
		fprintf(stderr, "    %s: cannot read (run from the repository root)\n", path);
		return -1;
	}
	json_object_del(pod, "status");
	review = json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:o}}", "apiVersion",
			   "admission.k8s.io/v1", "kind", "AdmissionReview", "request", "uid", "u",
			   "kind", "group", "", "version", "v1", "kind", "Pod", "namespace",
			   "default", "operation", "CREATE", "object", pod);
	body = json_dumps(review, JSON_COMPACT);
	json_decref(review);
	if (!body || admission_review(body, strlen(body), &o, &r) || !r.patch) {
		fprintf(stderr, "    the webhook module made no patch\n");
		free(body);
		return -1;
	}
	free(body);
	patch = json_loads(r.patch, 0, NULL);
	admission_result_free(&r);
	/* op 0: add /spec/initContainers/0, the sidecar */
	g_container = json_incref(json_object_get(json_array_get(patch, 0), "value"));
	json_decref(patch);
	sc = json_object_get(g_container, "securityContext");
	if (!json_is_object(sc) ||
	    strcmp(json_string_value(json_array_get(
		       json_object_get(json_object_get(sc, "capabilities"), "drop"), 0))
		       ?: "",
		   "ALL") != 0) {
		fprintf(stderr, "    the patch does not drop ALL capabilities\n");
		return -1;
	}
	add = json_object_get(json_object_get(sc, "capabilities"), "add");
	json_array_foreach(add, i, sc)
	{
		int cap = pod_cap_number(json_string_value(sc) ?: "");

		if (cap < 0) {
			fprintf(stderr, "    the patch adds %s, unknown here\n",
				json_string_value(sc) ?: "?");
			return -1;
		}
		g_caps |= 1ULL << cap;
	}
	return g_caps ? 0 : -1;
}

/* ---- a container of the injected pod ---- */

struct launch {
	uint64_t keep; /* the bounding set; ~0: not cut (no container set-up at all) */
	bool in_pod;   /* in the sidecar's container cgroup, its namespaces, the bind mount */
	const char *const *args; /* after the binary */
	const char *const *env;	 /* NAME=VALUE, or NULL */
};

/*
 * Starts the sidecar as `l` says (tests/integration/pod.c: the steps runc
 * takes), and waits up to 10 s for its ready line or its exit.  0 when
 * ready, -ECHILD when it exited first (sc->status has why).
 */
static int launch(struct sidecar *sc, const struct launch *l)
{
	const struct pod_bind binds[] = { { .src = g_root, .dst = g_mnt, .ro = true }, { 0 } };
	char bin[512];
	struct pod_container c = {
		.bin = harness_bin("podflow-sidecar", bin, sizeof(bin)),
		.args = l->args,
		.env = l->env,
		.cgroup = l->in_pod ? g_sidecar_cg : NULL,
		.binds = l->in_pod ? binds : NULL,
		.caps = l->keep,
		.uid = -1,
		.gid = -1,
		.ready = "info: ready: ",
	};

	return pod_start(sc, &c, WAIT_MS);
}

/* The container's files: ConfigMap, labels (Downward API), token directory. */
static int write_files(const char *config)
{
	char path[400];
	FILE *f;

	if (harness_sh("mkdir -p %s/etc/podflow/sidecar %s/etc/podinfo %s/var/run/secrets/podflow "
		       "%s && rm -f %s/etc/podflow/sidecar/* %s/var/run/secrets/podflow/*",
		       g_tmp, g_tmp, g_tmp, g_mnt, g_tmp, g_tmp))
		return -1;
	snprintf(path, sizeof(path), "%s/etc/podinfo/labels", g_tmp);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs("app.kubernetes.io/name=\"sleep\"\npod-template-hash=\"7d9f8b6c5\"\n", f);
	fclose(f);
	if (!config)
		return 0;
	snprintf(path, sizeof(path), "%s/etc/podflow/sidecar/sidecar.yaml", g_tmp);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(config, f);
	fclose(f);
	return 0;
}

/*
 * The patch's args with the container's paths under g_tmp and --output
 * made stdout (the records are read there); into argv (strings in store).
 */
static void patch_args(const char **argv, char store[][400], size_t max)
{
	json_t *args = json_object_get(g_container, "args");
	size_t i, n = 0;
	json_t *a;

	json_array_foreach(args, i, a)
	{
		const char *s = json_string_value(a);

		if (n + 1 >= max)
			break;
		if (n && strcmp(argv[n - 1], "--output") == 0)
			snprintf(store[n], 400, "-");
		else if (s[0] == '/')
			snprintf(store[n], 400, "%s%s", g_tmp, s);
		else
			snprintf(store[n], 400, "%s", s);
		argv[n] = store[n];
		n++;
	}
	argv[n] = NULL;
}

/* The Downward API's environment, as the patch's env says, for this "pod". */
static const char *const pod_env[] = {
	"POD_NAME=sleep-7d9f8b6c5-x2x4z",
	"POD_NAMESPACE=default",
	"POD_UID=" POD_UID,
	"NODE_NAME=kind-control-plane",
	"POD_IP=127.0.0.1",
	"POD_IPS=127.0.0.1",
	"POD_APP=sleep",
	NULL,
};

/* The patch's env names exactly these, from the Downward API. */
static int check_patch_env(void)
{
	json_t *env = json_object_get(g_container, "env");
	size_t i;
	json_t *e;
	int ret = -1;

	ASSERT_EQ_U64("env entries", 7, json_array_size(env));
	json_array_foreach(env, i, e)
	{
		const char *name = json_string_value(json_object_get(e, "name"));

		ASSERT_TRUE("env name", name != NULL);
		ASSERT_TRUE(name, strncmp(pod_env[i], name, strlen(name)) == 0 &&
				      pod_env[i][strlen(name)] == '=');
		ASSERT_TRUE(name, json_object_get(json_object_get(e, "valueFrom"), "fieldRef"));
	}
	ret = 0;
cleanup:
	return ret;
}

/* CapEff, CapPrm, CapBnd, CapInh, CapAmb and NoNewPrivs of a process. */
struct status_caps {
	uint64_t eff, prm, bnd, inh, amb;
	int nnp;
};

static int read_status(pid_t pid, struct status_caps *s)
{
	char path[64], line[256];
	FILE *f;

	memset(s, 0, sizeof(*s));
	s->nnp = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (sscanf(line, "CapEff: %llx", &v) == 1)
			s->eff = v;
		else if (sscanf(line, "CapPrm: %llx", &v) == 1)
			s->prm = v;
		else if (sscanf(line, "CapBnd: %llx", &v) == 1)
			s->bnd = v;
		else if (sscanf(line, "CapInh: %llx", &v) == 1)
			s->inh = v;
		else if (sscanf(line, "CapAmb: %llx", &v) == 1)
			s->amb = v;
		else
			sscanf(line, "NoNewPrivs: %d", &s->nnp);
	}
	fclose(f);
	return 0;
}

static bool out_record(json_t *r, void *ctx)
{
	uint16_t port = *(uint16_t *)ctx;

	return strcmp(rec_str(r, "direction"), "out") == 0 && rec_u64(r, "remote_port") == port &&
	       rec_u64(r, "closed") >= 1;
}

/* ---- tests ---- */

/*
 * With exactly the patch's capabilities, in the pod's namespaces, from
 * its args: ready on the pod's cgroup, found by POD_UID under the
 * read-only host mount; a connection of the app container captured to the
 * byte; nothing more than the set held.
 */
static int test_least_capabilities_capture(void)
{
	char store[24][400], want[800];
	const char *argv[24];
	struct launch l = { .keep = g_caps, .in_pod = true, .args = argv, .env = pod_env };
	struct sidecar sc = { 0 };
	struct status_caps st;
	char ns_self[64], ns_sc[64], path[64];
	uint16_t sport = 0;
	json_t *rec;
	int ret = -1;

	ASSERT_EQ_U64("patch env", 0, check_patch_env());
	ASSERT_EQ_U64("files", 0, write_files("interval: 500ms\n"));
	patch_args(argv, store, 24);
	ASSERT_EQ_U64("ready with the patch's capabilities", 0, launch(&sc, &l));
	/* the scope is the pod's cgroup, reached through the container's mount */
	snprintf(want, sizeof(want),
		 "ready: capturing TCP flows in cgroup %s/kubepods.slice/kubepods-burstable.slice/"
		 "kubepods-burstable-pod" POD_UID_SYSTEMD ".slice ",
		 g_mnt);
	ASSERT_TRUE("scope: the pod's cgroup under --cgroup-root", strstr(sc.err_text, want));
	/* and it runs in a private cgroup namespace, where its own cgroup reads "/" */
	snprintf(path, sizeof(path), "/proc/%d/ns/cgroup", (int)sc.pid);
	ASSERT_TRUE("ns", readlink(path, ns_sc, sizeof(ns_sc)) > 0 &&
			      readlink("/proc/self/ns/cgroup", ns_self, sizeof(ns_self)) > 0);
	ASSERT_TRUE("private cgroup namespace", strcmp(ns_sc, ns_self) != 0);

	/* nothing more than the list: effective = permitted = bounding = the set */
	ASSERT_EQ_U64("status", 0, read_status(sc.pid, &st));
	ASSERT_EQ_U64("CapEff", g_caps, st.eff);
	ASSERT_EQ_U64("CapPrm", g_caps, st.prm);
	ASSERT_EQ_U64("CapBnd", g_caps, st.bnd);
	ASSERT_EQ_U64("CapInh", 0, st.inh);
	ASSERT_EQ_U64("CapAmb", 0, st.amb);
	ASSERT_EQ_U64("NoNewPrivs", 1, st.nnp);

	/* the app container's connection, to the byte */
	ASSERT_EQ_U64("exchange", 0,
		      exchange(g_app_cg, /*k=*/1, /*req=*/3000, /*resp=*/7000, &sport));
	rec = sidecar_wait_record(&sc, out_record, &sport, WAIT_MS);
	ASSERT_TRUE("record of the app's connection", rec != NULL);
	ASSERT_EQ_U64("bytes_sent", 3000, rec_u64(rec, "bytes_sent"));
	ASSERT_EQ_U64("bytes_received", 7000, rec_u64(rec, "bytes_received"));
	ASSERT_STR("container_id", APP_ID, rec_str(rec, "container_id"));
	ASSERT_STR("local_pod", "sleep-7d9f8b6c5-x2x4z", rec_str(rec, "local_pod"));
	ASSERT_STR("local_app", "sleep", rec_str(rec, "local_app"));
	ASSERT_EQ_U64("clean exit", 0, sidecar_stop(&sc, 5000, NULL));
	ASSERT_TRUE("exit 0", WIFEXITED(sc.status) && WEXITSTATUS(sc.status) == 0);
	ret = 0;
cleanup:
	if (ret && sc.err_text)
		fprintf(stderr, "    sidecar stderr:\n%s\n", sc.err_text);
	if (!sc.exited && sc.pid > 0)
		sidecar_stop(&sc, 5000, NULL);
	sidecar_free(&sc);
	return ret;
}

/*
 * Each capability of the set is needed: without it the kernel refuses the
 * programs (the sidecar no longer checks up front: what is tried is the
 * load itself), exit 1, and the one line names exactly the missing one.
 */
static int test_each_capability_needed(void)
{
	char store[24][400];
	const char *argv[24];
	int ret = -1, tried = 0, refused = 0;
	struct report_fault f;

	ASSERT_EQ_U64("files", 0, write_files("interval: 500ms\n"));
	patch_args(argv, store, 24);
	for (int cap = 0; cap < 64; cap++) {
		struct launch l = { .keep = g_caps & ~(1ULL << cap),
				    .in_pod = true,
				    .args = argv,
				    .env = pod_env };
		struct sidecar sc = { 0 };
		char want[160];
		int rc;

		if (!(g_caps & (1ULL << cap)))
			continue;
		tried++;
		rc = launch(&sc, &l);
		snprintf(want, sizeof(want), "missing privileges (CAP_%s): run as root",
			 pod_cap_name(cap));
		{
			const char *line = sc.err_text ? strstr(sc.err_text, "error: ") : NULL;

			fprintf(stderr, "    without CAP_%s: %.*s\n", pod_cap_name(cap),
				line ? (int)strcspn(line, "\n") : 0, line ? line : "");
		}
		if (rc != -ECHILD || !WIFEXITED(sc.status) || WEXITSTATUS(sc.status) != 1 ||
		    !sc.err_text ||
		    !strstr(
			sc.err_text,
			"podflow-sidecar: error: the kernel refused to load the BPF programs: ") ||
		    !strstr(sc.err_text, want)) {
			fprintf(stderr, "    FAIL without CAP_%s: rc %d, stderr:\n%s\n",
				pod_cap_name(cap), rc, sc.err_text ? sc.err_text : "");
			if (!sc.exited && sc.pid > 0)
				sidecar_stop(&sc, 5000, NULL);
			sidecar_free(&sc);
			goto cleanup;
		}
		/* one clear line: libbpf's own account of the refusal is at debug level */
		ASSERT_TRUE("no libbpf dump", !strstr(sc.err_text, "libbpf:"));
		refused++;
		sidecar_free(&sc);
	}
	ASSERT_TRUE("the set has capabilities", tried >= 1);
	f = (struct report_fault){
		.fault = "one capability of the patch's set taken away",
		.unit = "capabilities",
		.injected = (uint64_t)tried,
		.counted = (uint64_t)refused,
		.counted_as = "exit 1, one line naming the missing capability",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each missing capability named", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	return ret;
}

/*
 * The removed-scope detection with --cgroup-root: the pod's cgroup found
 * by POD_UID removed, then created again at its path.
 */
static int test_scope_removed_in_pod_mode(void)
{
	char readyz_want[800];
	const char *args[] = { "--cgroup-root", g_root,	       "--interval", "500ms",
			       "--admin",	"127.0.0.1:0", NULL };
	struct sidecar sc = { 0 };
	uint16_t admin;
	char *body = NULL;
	uint64_t deadline, events = 0, counted;
	struct report_fault f;
	long code = 0;
	int ret = -1;

	setenv("POD_UID", POD_UID, 1);
	ASSERT_EQ_U64("start", 0, sidecar_start(&sc, args));
	unsetenv("POD_UID");
	admin = harness_admin_port(&sc, 5000);
	ASSERT_TRUE("admin port", admin != 0);
	ASSERT_EQ_U64("ready", 200, harness_http_get(admin, "/readyz", &body));
	free(body);
	body = NULL;
	/* the pod's cgroup goes (its containers first) */
	harness_cgroup_destroy(g_pod);
	events++;
	snprintf(readyz_want, sizeof(readyz_want), "cgroup %s is gone", g_pod);
	deadline = harness_now_ms() + 5000;
	while (harness_now_ms() < deadline) {
		free(body);
		code = harness_http_get(admin, "/readyz", &body);
		if (code == 503)
			break;
		usleep(100 * 1000);
	}
	ASSERT_EQ_U64("not ready once the pod's cgroup is gone", 503, code);
	ASSERT_TRUE("readyz names it", strstr(body, readyz_want) != NULL);
	ASSERT_EQ_U64(
	    "removed", 1,
	    harness_metric_now(admin, "podflow_sidecar_scope_events_total{event=\"removed\"}"));
	/* created again at the same path: re-attached */
	ASSERT_EQ_U64("mkdir", 0, mkdir(g_pod, 0755));
	events++;
	deadline = harness_now_ms() + 5000;
	while (harness_now_ms() < deadline) {
		free(body);
		code = harness_http_get(admin, "/readyz", &body);
		if (code == 200)
			break;
		usleep(100 * 1000);
	}
	ASSERT_EQ_U64("ready again", 200, code);
	ASSERT_EQ_U64(
	    "reattached", 1,
	    harness_metric_now(admin, "podflow_sidecar_scope_events_total{event=\"reattached\"}"));
	counted = (uint64_t)harness_metric_now(
		      admin, "podflow_sidecar_scope_events_total{event=\"removed\"}") +
		  (uint64_t)harness_metric_now(
		      admin, "podflow_sidecar_scope_events_total{event=\"reattached\"}");
	ASSERT_EQ_U64("stop", 0, sidecar_stop(&sc, 5000, NULL));
	f = (struct report_fault){
		.fault = "the pod's cgroup (found by POD_UID) removed, then created again",
		.unit = "cgroup events",
		.injected = events,
		.counted = counted,
		.counted_as = "scope_events_total{event}; /readyz 503 naming the cgroup while gone",
		.note = "re-attached once created again",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("the removal and the re-creation seen and counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	free(body);
	unsetenv("POD_UID");
	if (!sc.exited && sc.pid > 0)
		sidecar_stop(&sc, 5000, NULL);
	sidecar_free(&sc);
	/* the containers again, for the suites after this one */
	mkdir(g_pod, 0755);
	mkdir(g_sidecar_cg, 0755);
	mkdir(g_app_cg, 0755);
	return ret;
}

/* test_clear_errors's tally: starts tried, and refused as expected */
static uint64_t g_exit_tried, g_exit_refused;

/* Runs the sidecar (no container set-up) and expects exit `code` with `needle` on stderr. */
static int expect_exit(const char *const *args, const char *const *env, int code,
		       const char *needle)
{
	struct launch l = { .keep = ~0ULL, .args = args, .env = env };
	struct sidecar sc = { 0 };
	int rc, ret = -1;

	g_exit_tried++;
	rc = launch(&sc, &l);
	ASSERT_EQ_U64(needle, (uint64_t)-ECHILD, rc);
	ASSERT_TRUE(needle, WIFEXITED(sc.status));
	ASSERT_EQ_U64(needle, code, WEXITSTATUS(sc.status));
	ASSERT_TRUE(needle, sc.err_text && strstr(sc.err_text, needle));
	g_exit_refused++;
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    stderr: %s\n", sc.err_text ? sc.err_text : "");
	if (!sc.exited && sc.pid > 0)
		sidecar_stop(&sc, 5000, NULL);
	sidecar_free(&sc);
	return ret;
}

/* Clear errors: a pod not there, no POD_UID, a root that is no cgroup2, typo'd paths. */
static int test_clear_errors(void)
{
	static const char *const other_uid[] = { "POD_UID=11111111-2222-3333-4444-555555555555",
						 NULL };
	static const char *const bad_uid[] = { "POD_UID=../../x", NULL };
	char cm[400], typo[400], nodir[400], tok[400], want[800];
	struct report_fault f;
	int ret = -1;

	g_exit_tried = g_exit_refused = 0;
	snprintf(cm, sizeof(cm), "%s/etc/podflow/sidecar/sidecar.yaml", g_tmp);
	snprintf(typo, sizeof(typo), "%s/etc/podflow/sidecar/sidecr.yaml", g_tmp);
	snprintf(nodir, sizeof(nodir), "%s/etc/podflow/sidecra/sidecar.yaml", g_tmp);
	snprintf(tok, sizeof(tok), "%s/var/run/secrets/podflow/token", g_tmp);
	ASSERT_EQ_U64("files", 0, write_files(NULL));
	unsetenv("POD_UID");
	snprintf(want, sizeof(want),
		 "podflow-sidecar: error: --cgroup-root %s: no cgroup of pod "
		 "11111111-2222-3333-4444-555555555555 under it",
		 g_root);
	ASSERT_EQ_U64("no such pod", 0,
		      expect_exit((const char *const[]){ "--cgroup-root", g_root, NULL }, other_uid,
				  2, want));
	ASSERT_EQ_U64("no POD_UID", 0,
		      expect_exit((const char *const[]){ "--cgroup-root", g_root, NULL }, NULL, 2,
				  "POD_UID is not set: set it from the Downward API"));
	ASSERT_EQ_U64("bad POD_UID", 0,
		      expect_exit((const char *const[]){ "--cgroup-root", g_root, NULL }, bad_uid,
				  2, "is not a pod uid"));
	ASSERT_EQ_U64("not cgroup2", 0,
		      expect_exit((const char *const[]){ "--cgroup-root", g_tmp, NULL }, other_uid,
				  2, "not a cgroup v2 filesystem"));
	/* an absent file is an error unless said optional; a missing directory always */
	ASSERT_EQ_U64("absent config, not optional", 0,
		      expect_exit((const char *const[]){ "--config", cm, "--cgroup", g_pod, NULL },
				  NULL, 2, "sidecar.yaml: No such file or directory"));
	ASSERT_EQ_U64(
	    "typo, not optional", 0,
	    expect_exit((const char *const[]){ "--config", typo, "--cgroup", g_pod, NULL }, NULL, 2,
			"sidecr.yaml: No such file or directory"));
	ASSERT_EQ_U64("directory typo, optional", 0,
		      expect_exit((const char *const[]){ "--config", nodir, "--config-optional",
							 "--cgroup", g_pod, NULL },
				  NULL, 2, "its directory"));
	ASSERT_EQ_U64(
	    "absent token, not optional", 0,
	    expect_exit((const char *const[]){ "--cgroup", g_pod, "--output", "http://127.0.0.1:1",
					       "--token-file", tok, NULL },
			NULL, 2, "token: No such file or directory"));
	ASSERT_EQ_U64(
	    "token directory typo, optional", 0,
	    expect_exit((const char *const[]){ "--cgroup", g_pod, "--output", "http://127.0.0.1:1",
					       "--token-file", "/nonexistent-podflow/token",
					       "--token-optional", NULL },
			NULL, 2, "--token-file /nonexistent-podflow/token: No such file"));
	f = (struct report_fault){
		.fault = "pod not found, POD_UID unset or bad, not cgroup2, config or token path "
			 "wrong",
		.unit = "starts",
		.injected = g_exit_tried,
		.counted = g_exit_refused,
		.counted_as = "exit 2 with a line naming the problem",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each refused, named", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	return ret;
}

/* The kubelet's atomic update of a ConfigMap or Secret volume: ..data swapped. */
static int kubelet_write(const char *dir, const char *name, const char *text, int gen)
{
	return harness_sh("cd %s && mkdir ..g%d && printf '%%s' '%s' > ..g%d/%s && "
			  "ln -sfn ..g%d ..data_tmp && mv -T ..data_tmp ..data && "
			  "{ [ -L %s ] || ln -s ..data/%s %s; }",
			  dir, gen, text, gen, name, gen, name, name, name);
}

/*
 * The optional ConfigMap and token of an injected pod, absent at start:
 * the sidecar runs on its defaults and without a token (the collector,
 * which wants one, refuses its batches), then takes both up when the
 * kubelet fills the volumes.
 */
static int test_optional_config_and_token(void)
{
	char cmdir[400], tokdir[400], cm[420], tok[420], coltok[400], data[400], out[64];
	const char *col_args[] = { "--listen",	       "127.0.0.1:0", "--data-dir",  data,
				   "--token-file",     coltok,	      "--workers",   "1",
				   "--no-attribution", "--admin",     "127.0.0.1:0", NULL };
	struct sidecar col = { 0 }, sc = { 0 };
	uint16_t port = 0, sadmin, cadmin;
	char *body = NULL;
	uint64_t deadline;
	int64_t v = 0;
	int ret = -1;

	snprintf(cmdir, sizeof(cmdir), "%s/etc/podflow/sidecar", g_tmp);
	snprintf(tokdir, sizeof(tokdir), "%s/var/run/secrets/podflow", g_tmp);
	snprintf(cm, sizeof(cm), "%s/sidecar.yaml", cmdir);
	snprintf(tok, sizeof(tok), "%s/token", tokdir);
	snprintf(coltok, sizeof(coltok), "%s/collector-token", g_tmp);
	snprintf(data, sizeof(data), "%s/collector-data", g_tmp);
	ASSERT_EQ_U64("files", 0, write_files(NULL));
	ASSERT_EQ_U64("collector token", 0, harness_sh("echo s3cret > %s", coltok));
	ASSERT_EQ_U64("collector", 0, collector_start(&col, col_args, &port));
	cadmin = harness_admin_port(&col, 5000);
	snprintf(out, sizeof(out), "http://127.0.0.1:%u", port);
	{
		const char *args[] = {
			"--config",	cm,	 "--config-optional", "--output",    out,
			"--token-file", tok,	 "--token-optional",  "--cgroup",    g_pod,
			"--interval",	"500ms", "--admin",	      "127.0.0.1:0", NULL
		};

		ASSERT_EQ_U64("sidecar starts without its ConfigMap and token", 0,
			      sidecar_start(&sc, args));
	}
	ASSERT_TRUE("said: no config yet",
		    strstr(sc.err_text, "is absent (--config-optional): the defaults and flags"));
	ASSERT_TRUE("said: no token yet",
		    strstr(sc.err_text, "is absent (--token-optional): sending without a token"));
	sadmin = harness_admin_port(&sc, 5000);
	ASSERT_TRUE("admin", sadmin && cadmin);
	/* without the token the collector refuses the heartbeats */
	deadline = harness_now_ms() + WAIT_MS;
	while (harness_now_ms() < deadline &&
	       (v = harness_metric_now(cadmin, "podflow_collector_requests_refused_total{reason="
					       "\"token_missing\"}")) < 1)
		usleep(100 * 1000);
	ASSERT_TRUE("batches refused without a token", v >= 1);
	ASSERT_EQ_U64("nothing delivered", 0,
		      harness_metric_now(
			  sadmin, "podflow_sidecar_export_batches_total{result=\"delivered\"}"));

	/* the kubelet fills the volumes: the Secret, then the ConfigMap */
	ASSERT_EQ_U64("token appears", 0, kubelet_write(tokdir, "token", "s3cret", 1));
	deadline = harness_now_ms() + WAIT_MS;
	while (harness_now_ms() < deadline &&
	       (v = harness_metric_now(sadmin, "podflow_sidecar_export_batches_total{result="
					       "\"delivered\"}")) < 1)
		usleep(100 * 1000);
	ASSERT_TRUE("delivered once the token is there", v >= 1);
	ASSERT_EQ_U64("config appears", 0,
		      kubelet_write(cmdir, "sidecar.yaml", "stats_interval: 7s\n", 1));
	deadline = harness_now_ms() + WAIT_MS;
	for (;;) {
		free(body);
		body = NULL;
		if (harness_http_get(sadmin, "/config", &body) == 200 &&
		    strstr(body, "\"stats_interval\":\"7s\""))
			break;
		ASSERT_TRUE("the ConfigMap taken up live", harness_now_ms() < deadline);
		usleep(100 * 1000);
	}
	/* flags still win over it, as ever */
	ASSERT_TRUE("interval from the flag", strstr(body, "\"interval\":\"500ms\"") != NULL);
	ASSERT_EQ_U64("stop", 0, sidecar_stop(&sc, 5000, NULL));
	ret = 0;
cleanup:
	if (ret && sc.err_text)
		fprintf(stderr, "    sidecar stderr:\n%s\n", sc.err_text);
	free(body);
	if (!sc.exited && sc.pid > 0)
		sidecar_stop(&sc, 5000, NULL);
	sidecar_free(&sc);
	sidecar_stop(&col, 5000, NULL);
	sidecar_free(&col);
	harness_sh("rm -rf %s/..g1 %s/..data %s/sidecar.yaml %s/..g1 %s/..data %s/token", cmdir,
		   cmdir, cmdir, tokdir, tokdir, tokdir);
	return ret;
}

static const struct harness_test tests[] = {
	{ "least_capabilities_capture_in_pod", test_least_capabilities_capture },
	{ "each_capability_needed", test_each_capability_needed },
	{ "scope_removed_in_pod_mode", test_scope_removed_in_pod_mode },
	{ "clear_errors", test_clear_errors },
	{ "optional_config_and_token", test_optional_config_and_token },
};

int main(int argc, char **argv)
{
	const char *mount;
	char rel[320];
	int failed, rc = harness_require_root();

	if (rc)
		return rc;
	mount = harness_cgroup_mount();
	if (!mount || harness_netns_enter()) {
		fprintf(stderr, "sidecar_pod: no cgroup2 mount or no network namespace: FAIL\n");
		return 1;
	}
	if (patch_sidecar()) {
		fprintf(stderr, "sidecar_pod: no sidecar in the webhook's patch: FAIL\n");
		return 1;
	}
	snprintf(rel, sizeof(rel), "podflow-it-pod-%d", (int)getpid());
	snprintf(g_tmp, sizeof(g_tmp), "/tmp/podflow-it-pod-%d", (int)getpid());
	snprintf(g_mnt, sizeof(g_mnt), "%s/host/sys/fs/cgroup", g_tmp);
	if (harness_cgroup_create(rel, g_root, sizeof(g_root)) ||
	    harness_sh("mkdir -p %s/kubepods.slice/kubepods-burstable.slice/"
		       "kubepods-burstable-pod%s.slice/cri-containerd-%s.scope "
		       "%s/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/"
		       "cri-containerd-%s.scope %s",
		       g_root, POD_UID_SYSTEMD, SIDECAR_ID, g_root, POD_UID_SYSTEMD, APP_ID,
		       g_mnt)) {
		fprintf(stderr, "sidecar_pod: set-up failed\n");
		return 1;
	}
	snprintf(g_pod, sizeof(g_pod),
		 "%s/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice",
		 g_root, POD_UID_SYSTEMD);
	snprintf(g_sidecar_cg, sizeof(g_sidecar_cg), "%s/cri-containerd-%s.scope", g_pod,
		 SIDECAR_ID);
	snprintf(g_app_cg, sizeof(g_app_cg), "%s/cri-containerd-%s.scope", g_pod, APP_ID);
	failed = harness_run("sidecar_pod", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
	harness_cgroup_destroy(g_root);
	harness_sh("rm -rf %s", g_tmp);
	json_decref(g_container);
	return failed ? 1 : 0;
}
