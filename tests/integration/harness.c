// SPDX-License-Identifier: BSD-2-Clause
/* Integration-test harness: the real sidecar binary, cgroups, netns, workloads. */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <mntent.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_MS 10000

uint64_t harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t harness_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

const char *harness_bin(const char *name, char *buf, size_t len)
{
	const char *dir = getenv("PODFLOW_BUILD");

	snprintf(buf, len, "%s/%s", dir && *dir ? dir : "build", name);
	return buf;
}

const char *harness_cgroup_mount(void)
{
	static char mount[256];
	struct mntent *m;
	FILE *f;

	if (mount[0])
		return mount;
	f = setmntent("/proc/mounts", "r");
	if (!f)
		return NULL;
	while ((m = getmntent(f)))
		if (strcmp(m->mnt_type, "cgroup2") == 0) {
			snprintf(mount, sizeof(mount), "%s", m->mnt_dir);
			break;
		}
	endmntent(f);
	return mount[0] ? mount : NULL;
}

int harness_cgroup_create(const char *rel, char *buf, size_t len)
{
	const char *mnt = harness_cgroup_mount();

	if (!mnt)
		return -ENOENT;
	snprintf(buf, len, "%s/%s", mnt, rel);
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static int kill_and_rmdir(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	char procs[4096], line[32];
	FILE *f;

	(void)st;
	(void)ftw;
	if (type != FTW_DP)
		return 0;
	/* cgroup.kill (5.14+) kills the whole subtree at once */
	snprintf(procs, sizeof(procs), "%s/cgroup.kill", path);
	f = fopen(procs, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
	for (int i = 0; i < 200; i++) {
		int any = 0;

		f = fopen(procs, "r");
		if (f) {
			any = fgets(line, sizeof(line), f) != NULL;
			fclose(f);
		}
		if (!any)
			break;
		usleep(10000);
	}
	rmdir(path);
	return 0;
}

void harness_cgroup_destroy(const char *abs)
{
	nftw(abs, kill_and_rmdir, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

uint64_t harness_cgroup_id(const char *abs)
{
	struct stat st;

	return stat(abs, &st) ? 0 : (uint64_t)st.st_ino;
}

int harness_netns_enter(void)
{
	struct ifreq ifr = { 0 };
	int fd, err = 0;

	if (unshare(CLONE_NEWNET))
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr))
			err = -errno;
	} else {
		err = -errno;
	}
	close(fd);
	return err;
}

int harness_sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st != 0)
		fprintf(stderr, "    command failed (%d): %s\n", st, cmd);
	return st == 0 ? 0 : -1;
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
	char *nb = realloc(*buf, *len + n + 1);

	if (!nb)
		abort();
	memcpy(nb + *len, data, n);
	*len += n;
	nb[*len] = '\0';
	*buf = nb;
}

static void take_lines(struct sidecar *sc)
{
	char *start = sc->out_buf, *nl;

	while (start && (nl = memchr(start, '\n', sc->out_len - (size_t)(start - sc->out_buf)))) {
		json_error_t jerr;
		json_t *rec;

		*nl = '\0';
		rec = json_loads(start, 0, &jerr);
		if (!rec || !json_is_object(rec)) {
			/* the sidecar must only ever print valid JSON objects on stdout */
			fprintf(stderr,
				"    FAIL: sidecar printed a line that is not a JSON object: "
				"%s (%s)\n",
				start, jerr.text);
			abort();
		}
		json_array_append_new(sc->records, rec);
		start = nl + 1;
	}
	if (start && start != sc->out_buf) {
		size_t rest = sc->out_len - (size_t)(start - sc->out_buf);

		memmove(sc->out_buf, start, rest);
		sc->out_len = rest;
		sc->out_buf[rest] = '\0';
	}
}

void sidecar_poll(struct sidecar *sc, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = sc->out_fd, .events = POLLIN },
			       { .fd = sc->err_fd, .events = POLLIN } };
	char buf[65536];

	if (poll(p, 2, timeout_ms) <= 0)
		return;
	for (int i = 0; i < 2; i++) {
		for (;;) {
			ssize_t n = p[i].fd >= 0 ? read(p[i].fd, buf, sizeof(buf)) : -1;

			if (n <= 0)
				break;
			if (i == 0)
				append(&sc->out_buf, &sc->out_len, buf, (size_t)n);
			else
				append(&sc->err_text, &sc->err_len, buf, (size_t)n);
		}
	}
	take_lines(sc);
}

/*
 * Runs build/<name> with `args`, stdout and stderr piped, and waits up to
 * 10 s for `ready` in its stderr.  Returns 0 with *ready_at pointing at it,
 * or -ECHILD (exited first) / -ETIMEDOUT, saying so with its stderr.
 */
static int daemon_start(struct sidecar *p, const char *name, const char *const *args,
			const char *ready, const char **ready_at)
{
	int out[2], err[2];
	char bin[512];
	const char *argv[72]; /* collector_start() passes up to 64 */
	uint64_t deadline;
	int n = 0;

	memset(p, 0, sizeof(*p));
	p->records = json_array();
	argv[n++] = harness_bin(name, bin, sizeof(bin));
	for (int i = 0; args[i] && n < 70; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -errno;
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	p->out_fd = out[0];
	p->err_fd = err[0];
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
	deadline = harness_now_ms() + 10000;
	while (harness_now_ms() < deadline) {
		sidecar_poll(p, 100);
		*ready_at = p->err_text ? strstr(p->err_text, ready) : NULL;
		/* the whole line: it may carry details after the word */
		if (*ready_at && strchr(*ready_at, '\n'))
			return 0;
		if (waitpid(p->pid, &p->status, WNOHANG) == p->pid) {
			p->exited = true;
			sidecar_poll(p, 0);
			fprintf(stderr, "    %s exited before ready:\n%s\n", name,
				p->err_text ? p->err_text : "");
			return -ECHILD;
		}
	}
	fprintf(stderr, "    %s not ready after 10 s:\n%s\n", name, p->err_text ? p->err_text : "");
	return -ETIMEDOUT;
}

int sidecar_start(struct sidecar *sc, const char *const *args)
{
	const char *at;

	return daemon_start(sc, "podflow-sidecar", args, "info: ready: ", &at);
}

json_t *sidecar_wait_record(struct sidecar *sc, record_pred_fn pred, void *ctx, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	size_t seen = 0;

	for (;;) {
		for (; seen < json_array_size(sc->records); seen++) {
			json_t *r = json_array_get(sc->records, seen);

			if (pred(r, ctx))
				return r;
		}
		if (harness_now_ms() >= deadline || sc->exited)
			return NULL;
		sidecar_poll(sc, 50);
	}
}

int sidecar_stop(struct sidecar *sc, int timeout_ms, double *secs)
{
	uint64_t t0 = harness_now_ms(), deadline = t0 + (uint64_t)timeout_ms;

	if (sc->exited)
		return 0;
	kill(sc->pid, SIGTERM);
	while (harness_now_ms() < deadline) {
		sidecar_poll(sc, 20);
		if (waitpid(sc->pid, &sc->status, WNOHANG) == sc->pid) {
			sc->exited = true;
			if (secs)
				*secs = (double)(harness_now_ms() - t0) / 1000.0;
			/* drain what it wrote before exiting */
			for (int i = 0; i < 10; i++)
				sidecar_poll(sc, 10);
			return 0;
		}
	}
	kill(sc->pid, SIGKILL);
	waitpid(sc->pid, &sc->status, 0);
	sc->exited = true;
	return -ETIMEDOUT;
}

void sidecar_free(struct sidecar *sc)
{
	if (sc->pid > 0 && !sc->exited) {
		kill(sc->pid, SIGKILL);
		waitpid(sc->pid, &sc->status, 0);
	}
	if (sc->out_fd > 0)
		close(sc->out_fd);
	if (sc->err_fd > 0)
		close(sc->err_fd);
	json_decref(sc->records);
	free(sc->out_buf);
	free(sc->err_text);
	memset(sc, 0, sizeof(*sc));
}

void flow_totals_add(struct flow_totals *t, json_t *rec)
{
	t->records++;
	t->flows += rec_u64(rec, "flows");
	t->closed += rec_u64(rec, "closed");
	t->failed += rec_u64(rec, "failed");
	t->resets += rec_u64(rec, "resets");
	t->bytes_sent += rec_u64(rec, "bytes_sent");
	t->bytes_received += rec_u64(rec, "bytes_received");
}

struct flow_totals flow_totals_of(json_t *all, const char *direction, uint16_t port)
{
	bool out = strcmp(direction, "out") == 0;
	struct flow_totals t = { 0 };

	for (size_t i = 0; i < json_array_size(all); i++) {
		json_t *r = json_array_get(all, i);

		if (strcmp(rec_str(r, "direction"), direction) == 0 &&
		    rec_u64(r, out ? "remote_port" : "local_port") == port)
			flow_totals_add(&t, r);
	}
	return t;
}

uint64_t rec_u64(json_t *rec, const char *key)
{
	json_t *v = json_object_get(rec, key);

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

const char *rec_str(json_t *rec, const char *key)
{
	json_t *v = json_object_get(rec, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

pid_t harness_spawn(const char *cgroup, const char *comm, int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* child */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (cgroup) {
		char procs[4096];
		FILE *f;

		snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
		f = fopen(procs, "w");
		if (!f || fprintf(f, "%d", getpid()) < 0 || fclose(f)) {
			fprintf(stderr, "    cannot join cgroup %s: %s\n", cgroup, strerror(errno));
			_exit(120);
		}
	}
	if (comm)
		prctl(PR_SET_NAME, comm);
	_exit(fn(arg));
}

int harness_wait(pid_t pid, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	int st;

	while (harness_now_ms() < deadline) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(5000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static socklen_t make_addr(int family, const char *addr, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		inet_pton(AF_INET, addr, &sin->sin_addr);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	inet_pton(AF_INET6, addr, &sin6->sin6_addr);
	return sizeof(*sin6);
}

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

uint16_t sock_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return 0;
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

int tcp_listen(int family, const char *addr, uint16_t *port)
{
	return tcp_listen_on(family, addr, 0, port);
}

int tcp_listen_on(int family, const char *addr, uint16_t want, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(family, addr, want, &ss);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 128)) {
		int err = -errno;

		close(fd);
		return err;
	}
	set_timeouts(fd);
	*port = sock_local_port(fd);
	return fd;
}

int tcp_connect(int family, const char *addr, uint16_t port, int *err_out)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(family, addr, port, &ss);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*err_out = 0;
	if (fd < 0) {
		*err_out = errno;
		return -1;
	}
	set_timeouts(fd);
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		*err_out = errno;
		close(fd);
		return -1;
	}
	return fd;
}

int send_all(int fd, size_t n, unsigned char fill)
{
	unsigned char buf[16384];

	memset(buf, fill, sizeof(buf));
	while (n > 0) {
		ssize_t w = send(fd, buf, n < sizeof(buf) ? n : sizeof(buf), MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		n -= (size_t)w;
	}
	return 0;
}

ssize_t recv_n(int fd, size_t n)
{
	unsigned char buf[16384];
	size_t got = 0;

	while (got < n) {
		size_t want = n - got < sizeof(buf) ? n - got : sizeof(buf);
		ssize_t r = recv(fd, buf, want, 0);

		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int collector_start(struct sidecar *p, const char *const *args, uint16_t *port)
{
	/*
	 * Every suite reads the plain JSON lines the collector also writes
	 * (DATA_DIR/flows-*.jsonl, readable while it runs); the gzip files are
	 * read by the suites about them (collector_files).
	 */
	const char *with_jsonl[64], *at, *sp, *colon;
	size_t n = 0;
	int err;

	/*
	 * pf-send and the suites' own batches carry fixed times from November
	 * 2023, so that every value can be checked: no age bound on records
	 * (ingest.max_record_age), unless a suite sets one with its own flag
	 * (later, so it wins; a --config file cannot: flags win over files).
	 */
	with_jsonl[n++] = "--max-record-age";
	with_jsonl[n++] = "0s";
	/*
	 * The API listener on an ephemeral port (harness_api_port), not on its
	 * fixed default, where two collectors of one suite would collide; a
	 * suite's own --admin-api comes later and wins.
	 */
	with_jsonl[n++] = "--admin-api";
	with_jsonl[n++] = "127.0.0.1:0";
	for (size_t i = 0; args[i] && n < 62; i++)
		with_jsonl[n++] = args[i];
	with_jsonl[n++] = "--jsonl";
	with_jsonl[n] = NULL;
	err = daemon_start(p, "podflow-collector", with_jsonl, "ready: listening on ", &at);

	if (err)
		return err;
	/* "ready: listening on 127.0.0.1:41234 (..." */
	sp = strchr(at + strlen("ready: listening on "), ' ');
	if (!sp)
		return -EINVAL;
	colon = sp;
	while (colon > at && *colon != ':')
		colon--;
	*port = (uint16_t)atoi(colon + 1);
	return *port ? 0 : -EINVAL;
}

pid_t harness_start_capture(const char *const *argv, int *out_fd)
{
	int out[2];
	pid_t pid;

	if (pipe2(out, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(out[0]);
		close(out[1]);
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	*out_fd = out[0];
	return pid;
}

int harness_finish_capture(pid_t pid, int out_fd, int timeout_ms, char **out)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	char *buf = NULL, chunk[4096];
	size_t len = 0;
	int st;

	append(&buf, &len, "", 0);
	for (;;) {
		struct pollfd pfd = { .fd = out_fd, .events = POLLIN };
		uint64_t now = harness_now_ms();
		ssize_t n;

		if (now >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			close(out_fd);
			*out = buf;
			return -1;
		}
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		n = read(out_fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		append(&buf, &len, chunk, (size_t)n);
	}
	close(out_fd);
	*out = buf;
	/* stdout closed: the child is exiting */
	st =
	    harness_wait(pid, (int)(deadline > harness_now_ms() ? deadline - harness_now_ms() : 1));
	return st;
}

/* the running test's reports, written once it has ended */
#define HARNESS_MAX_REPORTS 16
static struct report_fault g_reports[HARNESS_MAX_REPORTS];
static size_t g_n_reports;

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

void harness_report(const struct report_fault *f)
{
	struct report_fault *r;

	if (g_n_reports == HARNESS_MAX_REPORTS) {
		fprintf(stderr, "    reliability: over %d reports in one test, \"%s\" not kept\n",
			HARNESS_MAX_REPORTS, f->fault);
		return;
	}
	r = &g_reports[g_n_reports++];
	*r = *f;
	r->fault = dup_or_empty(f->fault);
	r->unit = dup_or_empty(f->unit);
	r->counted_as = dup_or_empty(f->counted_as);
	r->note = dup_or_empty(f->note);
}

static void reports_flush(const char *suite, const char *test, bool passed)
{
	for (size_t i = 0; i < g_n_reports; i++) {
		struct report_fault *r = &g_reports[i];

		report_fault_line(suite, test, passed, r);
		free((char *)r->fault);
		free((char *)r->unit);
		free((char *)r->counted_as);
		free((char *)r->note);
	}
	g_n_reports = 0;
}

int harness_run(const char *suite, const struct harness_test *tests, size_t n, int argc,
		char **argv)
{
	int failed = 0, ran = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t t0;
		int r;

		if (argc > 1 && !strstr(tests[i].name, argv[1]))
			continue;
		t0 = harness_now_ms();
		r = tests[i].fn();
		fprintf(stderr, "  %s %-32s (%llu ms)\n", r ? "FAIL" : "ok  ", tests[i].name,
			(unsigned long long)(harness_now_ms() - t0));
		reports_flush(suite, tests[i].name, r == 0);
		failed += r != 0;
		ran++;
	}
	fprintf(stderr, "%s: %d/%d passed\n", suite, ran - failed, ran);
	return failed;
}

int harness_require_root(void)
{
	const char *ci = getenv("CI");
	bool in_ci = ci && strcmp(ci, "true") == 0;

	if (geteuid() == 0)
		return 0;
	/* under CI a skip is a failure: the kernel tests must run there */
	fprintf(stderr, "integration tests need root (BPF, cgroups, netns)%s\n",
		in_ci ? ": FAIL under CI=true" : "; skipping outside CI");
	return in_ci ? 1 : 77;
}

int harness_pod_setup(const char *prefix, const char *container_id, char *scope, char *container,
		      size_t len, char *tmp, size_t tmp_len)
{
	char rel[256];

	if (!harness_cgroup_mount()) {
		fprintf(stderr, "no cgroup v2 mount: FAIL\n");
		return -1;
	}
	if (harness_netns_enter()) {
		fprintf(stderr, "cannot create a network namespace: FAIL\n");
		return -1;
	}
	snprintf(rel, sizeof(rel), "%s-%d", prefix, getpid());
	if (harness_cgroup_create(rel, scope, len)) {
		fprintf(stderr, "cannot create cgroup %s: FAIL\n", rel);
		return -1;
	}
	snprintf(rel, sizeof(rel), "%s-%d/cri-containerd-%s.scope", prefix, getpid(), container_id);
	if (harness_cgroup_create(rel, container, len)) {
		fprintf(stderr, "cannot create cgroup %s: FAIL\n", rel);
		harness_cgroup_destroy(scope);
		return -1;
	}
	if (tmp) {
		snprintf(tmp, tmp_len, "/tmp/%s-%d", prefix, getpid());
		if (mkdir(tmp, 0700) && errno != EEXIST) {
			fprintf(stderr, "mkdir %s: %s: FAIL\n", tmp, strerror(errno));
			harness_cgroup_destroy(scope);
			return -1;
		}
	}
	return 0;
}

struct http_body {
	char *p;
	size_t len;
};

static size_t http_body_add(char *p, size_t size, size_t nmemb, void *ud)
{
	struct http_body *b = ud;
	size_t n = size * nmemb;
	char *q = realloc(b->p, b->len + n + 1);

	if (!q)
		return 0;
	memcpy(q + b->len, p, n);
	b->len += n;
	q[b->len] = '\0';
	b->p = q;
	return n;
}

long harness_http_get(uint16_t port, const char *path, char **body)
{
	struct http_body b = { .p = calloc(1, 1) };
	CURL *h = curl_easy_init();
	long status = -1;
	char url[512];

	if (h && b.p) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_body_add);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
		if (curl_easy_perform(h) == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	}
	if (h)
		curl_easy_cleanup(h);
	*body = b.p ? b.p : strdup("");
	return status;
}

int64_t harness_metric(const char *text, const char *sample)
{
	size_t n = strlen(sample);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, sample, n) == 0 && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

double harness_metric_double(uint16_t port, const char *sample)
{
	size_t n = strlen(sample);
	char *body;
	double v = -1;

	if (harness_http_get(port, "/metrics", &body) == 200)
		for (const char *p = body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
			if (strncmp(p, sample, n) == 0 && p[n] == ' ') {
				v = strtod(p + n + 1, NULL);
				break;
			}
	free(body);
	return v;
}

int harness_check_send_offset(uint16_t admin, int64_t at_ns, int64_t interval_ns, double max_s)
{
	double offset = harness_metric_double(admin, "podflow_sidecar_send_offset_seconds");
	int64_t late_ns = at_ns % interval_ns, offset_ns = (int64_t)(offset * 1e9);

	fprintf(stderr, "    offset %.6f s, the post %.6f s after the cut\n", offset,
		(double)late_ns / 1e9);
	if (offset < 0 || offset >= max_s) {
		fprintf(stderr, "    FAIL: the offset is not within [0, %g s)\n", max_s);
		return 1;
	}
	/* the metric's digits: a microsecond either way */
	if (late_ns + 1000 < offset_ns || late_ns >= offset_ns + 1000000000) {
		fprintf(stderr, "    FAIL: not posted at the offset after the cut\n");
		return 1;
	}
	return 0;
}

int64_t harness_metric_now(uint16_t port, const char *sample)
{
	char *body;
	int64_t v = -1;

	if (harness_http_get(port, "/metrics", &body) == 200)
		v = harness_metric(body, sample);
	free(body);
	return v;
}

/* The port of the line "<what> on ADDR (port N): ..." on the daemon's stderr, or 0. */
static uint16_t logged_port(struct sidecar *p, const char *what, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;

	/* "admin endpoint on 127.0.0.1:0 (port 43779): ..." comes right after ready */
	for (;;) {
		const char *at = p->err_text ? strstr(p->err_text, what) : NULL;
		const char *port = at ? strstr(at, "(port ") : NULL;

		if (port && strchr(port, '\n'))
			return (uint16_t)atoi(port + strlen("(port "));
		if (harness_now_ms() >= deadline)
			return 0;
		sidecar_poll(p, 50);
	}
}

uint16_t harness_admin_port(struct sidecar *p, int timeout_ms)
{
	return logged_port(p, "admin endpoint on ", timeout_ms);
}

uint16_t harness_api_port(struct sidecar *p, int timeout_ms)
{
	return logged_port(p, "API endpoint on ", timeout_ms);
}

int harness_run_to_file(const char *const *argv, int timeout_ms, char **out)
{
	char path[] = "/tmp/podflow-run-XXXXXX";
	int fd = mkstemp(path), rc = -1;
	struct stat sb;
	pid_t pid;

	*out = NULL;
	if (fd < 0)
		return -1;
	unlink(path);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid > 0)
		rc = harness_wait(pid, timeout_ms);
	if (rc == 0 && fstat(fd, &sb) == 0 && (*out = malloc((size_t)sb.st_size + 1))) {
		if (pread(fd, *out, (size_t)sb.st_size, 0) != sb.st_size)
			rc = -1;
		(*out)[sb.st_size] = '\0';
	}
	close(fd);
	return rc;
}

const char *harness_node_path(void)
{
	static char found[PATH_MAX];
	const char *path = getenv("PATH");
	char *copy, *save = NULL;

	if (found[0])
		return found;
	copy = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(found, sizeof(found), "%s/node", d);
		if (access(found, X_OK) == 0)
			break;
		found[0] = '\0';
	}
	free(copy);
	return found[0] ? found : NULL;
}

uint16_t harness_free_port(void)
{
	uint16_t port = 0;
	int fd = tcp_listen(AF_INET, "127.0.0.1", &port);

	if (fd >= 0)
		close(fd);
	return port;
}

int harness_child_stop(struct sidecar *c)
{
	if (c->pid <= 0)
		return -1;
	if (!c->exited && sidecar_stop(c, 10000, NULL))
		return -1;
	return WIFEXITED(c->status) ? WEXITSTATUS(c->status) : 128 + WTERMSIG(c->status);
}

uint64_t sidecar_exit_stat(const struct sidecar *sc, const char *key)
{
	char needle[64];
	const char *p;

	snprintf(needle, sizeof(needle), " %s=", key);
	p = sc->err_text ? strstr(sc->err_text, "stats at exit:") : NULL;
	p = p ? strstr(p, needle) : NULL;
	return p ? strtoull(p + strlen(needle), NULL, 10) : UINT64_MAX;
}

void harness_read_jsonl(const char *dir, json_t *out)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[1024];
		size_t len = strlen(e->d_name);
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR) {
			harness_read_jsonl(path, out);
			continue;
		}
		if (len <= 6 || strcmp(e->d_name + len - 6, ".jsonl") != 0 ||
		    !(f = fopen(path, "r")))
			continue;
		/* a line still being written (no newline yet) is not a record yet */
		while ((n = getline(&line, &cap, f)) > 0 && line[n - 1] == '\n') {
			json_t *r = json_loads(line, 0, NULL);

			if (r)
				json_array_append_new(out, r);
		}
		free(line);
		fclose(f);
	}
	closedir(d);
}
