// SPDX-License-Identifier: BSD-2-Clause
/* File output on real file systems: zcat, kill -9 mid-write, SIGTERM, a full, read-only or unwritable disk. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "files.h"
#include "files_recover.h"
#include "harness.h"
#include "log.h"
#include "wire.h"

#define NS	 1000000000ull
#define T_22	 1700000000000ull /* 2023-11-14T22:13:20Z */
#define HOUR_MS	 3600000ull
#define ID	 "it-node-1"
#define RECS	 500  /* records per batch */
#define STOP_MS	 5000 /* SIGTERM to exit, the bound */
#define CHILD_MS 60000

static char g_tmp[256];
/*
 * The sinks' clock: starts at CLOCK_MONOTONIC and only moves forward, so a
 * test can let a second pass (the back-off, the episode's end) without
 * sleeping.
 */
static uint64_t g_clock_ns;

static const struct flow_identity g_local = {
	.app = "checkout",
	.namespace = "shop",
	.pod = "checkout-1",
	.node = "node-1",
	.workload = "checkout",
};

static uint64_t clock_ns(void)
{
	return g_clock_ns;
}

static void clock_advance(uint64_t ns)
{
	g_clock_ns += ns;
}

/*
 * A batch of n records in hour `end` whose bytes_sent are base, base+1, ...:
 * every record names its batch and place.  `noisy`: poorly compressible
 * counters (fills a disk sooner, takes longer to compress).
 */
static struct flow_record *make_recs(uint32_t n, uint64_t end, uint64_t base, bool noisy)
{
	struct flow_record *r = calloc(n, sizeof(*r));
	uint64_t s = base * 2654435761u + 1;

	if (!r)
		abort();
	for (uint32_t i = 0; i < n; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		r[i].start_ms = end - 5000;
		r[i].end_ms = end;
		r[i].family = 4;
		r[i].direction = FLOW_DIRECTION_OUT;
		r[i].local_addr[10] = r[i].local_addr[11] = 0xff;
		r[i].local_addr[12] = 10;
		r[i].local_addr[15] = 7;
		r[i].remote_addr[10] = r[i].remote_addr[11] = 0xff;
		r[i].remote_addr[12] = 10;
		r[i].remote_addr[15] = (uint8_t)i;
		r[i].remote_port = 443;
		r[i].flows = 1;
		r[i].bytes_sent = base + i;
		r[i].bytes_received = noisy ? s % 1000000000 : 0;
		r[i].srtt_us = noisy ? (uint32_t)(s >> 40) : 0;
		r[i].local = &g_local;
		snprintf(r[i].comm, sizeof(r[i].comm), "java");
	}
	return r;
}

static uint64_t batch_sum(uint64_t base, uint32_t n)
{
	return base * n + (uint64_t)n * (n - 1) / 2;
}

static struct files *sink_open(const char *dir, uint64_t max_bytes)
{
	struct files_opts o = {
		.dir = dir,
		.collector_id = ID,
		.label = "it",
		.max_bytes = max_bytes,
	};
	char why[256] = "";
	struct files *fs = files__new(&o, why, sizeof(why));

	if (!fs)
		fprintf(stderr, "    files__new: %s\n", why);
	return fs;
}

static size_t glob_n(const char *dir, const char *rel, char *first, size_t len)
{
	char pat[512];
	glob_t g;
	size_t n;

	snprintf(pat, sizeof(pat), "%s/%s", dir, rel);
	if (glob(pat, GLOB_PERIOD, NULL, &g))
		return 0;
	n = g.gl_pathc;
	if (first && n)
		snprintf(first, len, "%s", g.gl_pathv[0]);
	globfree(&g);
	return n;
}

static off_t fsize(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : st.st_size;
}

/*
 * zcat of every published file under dir (into a file: the output is large)
 * then each line must be one JSON object (any other line fails).  *n lines,
 * *sum of bytes_sent.  0, or zcat's failure.
 */
static int zcat_all(const char *dir, uint64_t *n, uint64_t *sum)
{
	char out[400], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f;
	int err = 0;

	*n = *sum = 0;
	if (glob_n(dir, "flows/dt=*/hr=*/part-*.json.gz", NULL, 0) == 0)
		return 0;
	snprintf(out, sizeof(out), "%s.zcat", dir);
	if (harness_sh("zcat -- %s/flows/dt=*/hr=*/part-*.json.gz > %s", dir, out))
		return -1;
	f = fopen(out, "r");
	if (!f)
		return -errno;
	while ((len = getline(&line, &cap, f)) > 0) {
		json_t *o;

		if (line[len - 1] != '\n') {
			fprintf(stderr, "    zcat: the last line has no newline\n");
			err = -2;
			break;
		}
		o = json_loads(line, 0, NULL);
		if (!json_is_object(o)) {
			fprintf(stderr, "    zcat: a line that is not a JSON object: %.200s\n",
				line);
			err = -2;
			json_decref(o);
			break;
		}
		*sum += rec_u64(o, "bytes_sent");
		(*n)++;
		json_decref(o);
	}
	free(line);
	fclose(f);
	unlink(out);
	return err;
}

/* Reads "k size\n" reports from a child's pipe, without blocking; the last in *k, *size. */
static int read_reports(int fd, int64_t *k, int64_t *size)
{
	char buf[4096];
	static char acc[8192];
	static size_t len;
	ssize_t r;
	int got = 0;

	if (fd < 0) {
		len = 0;
		return 0;
	}
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		if (len + (size_t)r >= sizeof(acc))
			len = 0;
		memcpy(acc + len, buf, (size_t)r);
		len += (size_t)r;
	}
	for (;;) {
		char *nl = memchr(acc, '\n', len);
		long long a, b;

		if (!nl)
			break;
		*nl = '\0';
		if (sscanf(acc, "%lld %lld", &a, &b) == 2) {
			*k = a;
			*size = b;
			got++;
		}
		len -= (size_t)(nl + 1 - acc);
		memmove(acc, nl + 1, len);
	}
	return got;
}

/* ---- stderr, to count log lines ----------------------------------------------------- */

struct capture {
	int saved, fd;
	char path[320];
};

static int capture_start(struct capture *c)
{
	snprintf(c->path, sizeof(c->path), "%s/stderr-XXXXXX", g_tmp);
	c->fd = mkstemp(c->path);
	c->saved = dup(2);
	if (c->fd < 0 || c->saved < 0)
		return -errno;
	fflush(stderr);
	dup2(c->fd, 2);
	return 0;
}

/* Restores stderr; the number of lines that contain `needle` (and echoes what was captured). */
static int capture_end(struct capture *c, const char *needle)
{
	char buf[16384];
	ssize_t n;
	int count = 0;

	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	n = pread(c->fd, buf, sizeof(buf) - 1, 0);
	close(c->fd);
	unlink(c->path);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	for (char *p = buf; (p = strstr(p, needle)); p++)
		count++;
	fprintf(stderr, "%s", buf);
	return count;
}

/* ---- tests ------------------------------------------------------------------------ */

/* Published files are gzip that zcat reads whole: one JSON object per line, every record once. */
static int test_zcat(void)
{
	char dir[320], path[512];
	struct files *fs = NULL;
	struct files_stats st;
	uint64_t bytes, n, sum, want = 0;
	int ret = 1;

	snprintf(dir, sizeof(dir), "%s/zcat", g_tmp);
	fs = sink_open(dir, 0);
	ASSERT_TRUE("sink", fs);
	for (uint32_t k = 0; k < 6; k++) {
		/* alternate between two hours: two files, three members each */
		struct flow_record *r =
		    make_recs(RECS, T_22 + (k % 2) * HOUR_MS, k * 1000000, false);
		struct wire_batch b = { .n_records = RECS, .records = r };
		int err = files__write(fs, &b, NULL, clock_ns(), &bytes);

		free(r);
		ASSERT_EQ_U64("write", 0, -err);
		want += batch_sum(k * 1000000, RECS);
	}
	ASSERT_EQ_U64("close", 0, -files__close(fs));
	files__stats(fs, &st);
	ASSERT_EQ_U64("files published", 2, st.files_published);
	ASSERT_EQ_U64("records", 6 * RECS, st.records);
	ASSERT_EQ_U64("zcat exit", 0, zcat_all(dir, &n, &sum));
	ASSERT_EQ_U64("lines", 6 * RECS, n);
	ASSERT_EQ_U64("sum of bytes_sent", want, sum);
	ASSERT_EQ_U64(
	    "hour 22", 1,
	    glob_n(dir, "flows/dt=2023-11-14/hr=22/part-" ID "-*.json.gz", path, sizeof(path)));
	ASSERT_EQ_U64("gzip -t", 0, harness_sh("gzip -t %s", path));
	ASSERT_EQ_U64("hour 23", 1,
		      glob_n(dir, "flows/dt=2023-11-14/hr=23/part-" ID "-*.json.gz", NULL, 0));
	ASSERT_EQ_U64("hidden", 0, glob_n(dir, "flows/dt=*/hr=*/.part-*", NULL, 0));
	ret = 0;
cleanup:
	files__free(fs);
	return ret;
}

/*
 * The crash child: batches of RECS records, each reported after it is
 * written ("k size-of-the-hidden-file"), then one huge batch, which the
 * parent kills in the middle of.
 */
static int crash_child(const char *dir, int report)
{
	struct files *fs = sink_open(dir, 200000); /* some files published before the crash */
	char hidden[512];
	uint64_t bytes;

	if (!fs)
		return 1;
	for (uint32_t k = 0; k < 40; k++) {
		struct flow_record *r = make_recs(RECS, T_22, k * 1000000, true);
		struct wire_batch b = { .n_records = RECS, .records = r };
		off_t size = 0;

		if (files__write(fs, &b, NULL, NS, &bytes))
			return 2;
		free(r);
		files__tick(fs, NS); /* a full file out now, as the owner's tick would */
		if (glob_n(dir, "flows/dt=*/hr=*/.part-*", hidden, sizeof(hidden)) == 1)
			size = fsize(hidden);
		dprintf(report, "%u %lld\n", k, (long long)size);
	}
	{
		/* about half a second of compressing at level 1 */
		struct flow_record *r = make_recs(120000, T_22, 1000000000, true);
		struct wire_batch b = { .n_records = 120000, .records = r };

		files__write(fs, &b, NULL, NS, &bytes);
		dprintf(report, "%u %lld\n", 40, 0ll);
	}
	return 0;
}

static int test_crash_mid_write(void)
{
	char dir[320], hidden[512], vis[512];
	struct files_recovery rec;
	int64_t k = -1, size = -1, k2 = -1, size2 = -1;
	uint64_t n, sum, deadline, want = 0;
	int fds[2] = { -1, -1 }, ret = 1, st;
	off_t now_size = 0;
	char why[256], note[128];
	struct report_fault f;
	pid_t pid = -1;

	snprintf(dir, sizeof(dir), "%s/crash", g_tmp);
	ASSERT_EQ_U64("pipe", 0, pipe2(fds, O_CLOEXEC | O_NONBLOCK));
	read_reports(-1, NULL, NULL);
	pid = fork();
	ASSERT_TRUE("fork", pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(crash_child(dir, fds[1]));
	}
	close(fds[1]);
	fds[1] = -1;
	/* every small batch written; then the hidden file grows past their end: a member half-written */
	deadline = harness_now_ms() + CHILD_MS;
	while (harness_now_ms() < deadline && k < 39) {
		read_reports(fds[0], &k, &size);
		usleep(1000);
	}
	ASSERT_EQ_U64("small batches reported", 39, k);
	/* `size` is the last small batch's end in the hidden file (0: that batch rotated it) */
	while (harness_now_ms() < deadline) {
		if (glob_n(dir, "flows/dt=*/hr=*/.part-*", hidden, sizeof(hidden)) == 1 &&
		    (now_size = fsize(hidden)) > size)
			break;
		usleep(200);
	}
	ASSERT_TRUE("the huge batch is being written", now_size > size);
	/* stopped, then checked: the huge batch is not finished (never reported) */
	ASSERT_EQ_U64("SIGSTOP", 0, kill(pid, SIGSTOP));
	ASSERT_EQ_U64("stopped", pid, waitpid(pid, &st, WUNTRACED));
	ASSERT_TRUE("stopped", WIFSTOPPED(st));
	k2 = k;
	size2 = size;
	read_reports(fds[0], &k2, &size2);
	ASSERT_EQ_U64("no report after the small batches", 39, k2);
	now_size = fsize(hidden);
	ASSERT_TRUE("a partial member on disk", now_size > size);
	ASSERT_EQ_U64("SIGKILL", 0, kill(pid, SIGKILL));
	ASSERT_EQ_U64("reaped", pid, waitpid(pid, &st, 0));
	pid = -1;
	ASSERT_TRUE("killed", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

	/* what readers see after the crash: complete files only */
	ASSERT_TRUE("some files were published before the crash",
		    glob_n(dir, "flows/dt=*/hr=*/part-*", NULL, 0) >= 2);
	for (uint32_t i = 0; i < 40; i++)
		want += batch_sum(i * 1000000, RECS);
	ASSERT_EQ_U64("zcat of the visible files", 0, zcat_all(dir, &n, &sum));
	ASSERT_TRUE("visible records are whole batches", n % RECS == 0 && n < 40 * RECS);

	/* the next start's recovery: the partial member cut, the rest published */
	fprintf(stderr, "    killed with %lld bytes of an unfinished member after %lld whole\n",
		(long long)(now_size - size), (long long)size);
	ASSERT_EQ_U64("recovered files", 1, files_recover(dir, ID, &rec, why, sizeof(why)));
	/* a file holding only the partial member has nothing to show: removed */
	ASSERT_EQ_U64("published", size > 0, rec.published);
	ASSERT_EQ_U64("removed", size == 0, rec.removed);
	ASSERT_EQ_U64("bytes cut: exactly the unfinished batch's", now_size - size,
		      rec.bytes_dropped);
	snprintf(vis, sizeof(vis), "%s", hidden);
	memmove(strrchr(vis, '/') + 1, strrchr(vis, '/') + 2, strlen(strrchr(vis, '/') + 2) + 1);
	ASSERT_EQ_U64("published whole", size > 0 ? size : -1, fsize(vis));
	ASSERT_EQ_U64("hidden left", 0, glob_n(dir, "flows/dt=*/hr=*/.part-*", NULL, 0));
	ASSERT_EQ_U64("zcat after recovery", 0, zcat_all(dir, &n, &sum));
	ASSERT_EQ_U64("every written batch, once", 40 * RECS, n);
	ASSERT_EQ_U64("sum of bytes_sent", want, sum);
	snprintf(note, sizeof(note),
		 "the batch being written (never acknowledged) cut on recovery: %llu bytes",
		 (unsigned long long)rec.bytes_dropped);
	f = (struct report_fault){
		.fault = "kill -9 in the middle of writing a batch, then restart",
		.unit = "records acknowledged",
		.injected = (uint64_t)(k2 + 1) * RECS,
		.delivered = n,
		.note = note,
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every acknowledged record published after recovery", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (fds[0] >= 0)
		close(fds[0]);
	return ret;
}

static volatile sig_atomic_t g_term;

static void on_term(int sig)
{
	(void)sig;
	g_term = 1;
}

/* Writes (three hours, as fast as it can) until SIGTERM, then closes; reports each batch. */
static int term_child(const char *dir, int report)
{
	struct files *fs = sink_open(dir, 0);
	struct sigaction sa = { .sa_handler = on_term };
	uint64_t bytes;
	uint32_t k;

	if (!fs)
		return 1;
	sigaction(SIGTERM, &sa, NULL);
	for (k = 0; !g_term; k++) {
		struct flow_record *r =
		    make_recs(RECS, T_22 + (k % 3) * HOUR_MS, k * 1000000, true);
		struct wire_batch b = { .n_records = RECS, .records = r };

		if (files__write(fs, &b, NULL, NS, &bytes))
			return 2;
		free(r);
		dprintf(report, "%u 0\n", k);
	}
	if (files__close(fs))
		return 3;
	files__free(fs);
	return 0;
}

static int test_sigterm_publishes(void)
{
	char dir[320];
	int fds[2] = { -1, -1 }, ret = 1, code;
	int64_t k = -1, unused;
	uint64_t n, sum, t0, want = 0, took;
	struct report_fault f;
	char note[64];
	pid_t pid = -1;

	snprintf(dir, sizeof(dir), "%s/term", g_tmp);
	ASSERT_EQ_U64("pipe", 0, pipe2(fds, O_CLOEXEC | O_NONBLOCK));
	read_reports(-1, NULL, NULL);
	pid = fork();
	ASSERT_TRUE("fork", pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(term_child(dir, fds[1]));
	}
	close(fds[1]);
	fds[1] = -1;
	/* a good amount written (about 45 MB of JSON), all three hours open */
	t0 = harness_now_ms();
	while (harness_now_ms() < t0 + CHILD_MS && k < 120) {
		read_reports(fds[0], &k, &unused);
		usleep(1000);
	}
	ASSERT_TRUE("120 batches written", k >= 120);
	ASSERT_EQ_U64("three hidden files", 3, glob_n(dir, "flows/dt=*/hr=*/.part-*", NULL, 0));
	t0 = harness_now_ms();
	kill(pid, SIGTERM);
	code = harness_wait(pid, STOP_MS);
	pid = -1;
	took = harness_now_ms() - t0;
	fprintf(stderr, "    SIGTERM to exit: %llu ms\n", (unsigned long long)took);
	ASSERT_EQ_U64("exit code within 5 s", 0, code);
	read_reports(fds[0], &k, &unused);
	for (int64_t i = 0; i <= k; i++)
		want += batch_sum((uint64_t)i * 1000000, RECS);
	ASSERT_EQ_U64("hidden left", 0, glob_n(dir, "flows/dt=*/hr=*/.part-*", NULL, 0));
	ASSERT_EQ_U64("published", 3, glob_n(dir, "flows/dt=*/hr=*/part-" ID "-*", NULL, 0));
	ASSERT_EQ_U64("zcat", 0, zcat_all(dir, &n, &sum));
	ASSERT_EQ_U64("every written record", (uint64_t)(k + 1) * RECS, n);
	ASSERT_EQ_U64("sum of bytes_sent", want, sum);
	snprintf(note, sizeof(note), "three open files published, exit within %d ms", STOP_MS);
	f = (struct report_fault){
		.fault = "SIGTERM while writing three hours' files",
		.unit = "records acknowledged",
		.injected = (uint64_t)(k + 1) * RECS,
		.delivered = n,
		.note = note,
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every acknowledged record published", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (fds[0] >= 0)
		close(fds[0]);
	return ret;
}

/* A tmpfs of `opts` at dir, in this process's own mount namespace (main). */
static int mount_tmpfs(const char *dir, const char *opts)
{
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) ? -errno : 0;
}

/*
 * A full disk: the batch that does not fit fails with ENOSPC, is undone
 * (the file exactly as before), is counted, logged once however often it is
 * retried, turns on the back-off; once there is room its retry succeeds and
 * every batch is in the files once.
 */
static int test_disk_full(void)
{
	char dir[320], filler[400], hidden[512];
	struct files *fs = NULL;
	struct files_stats st;
	struct capture cap = { .saved = -1 };
	uint64_t bytes, n, sum, want = 0, offered = 0, refused = 0;
	int ret = 1, err = 0, logged, fd;
	uint32_t k, failed_at = 0;
	off_t before = -1;
	static char zeros[64 << 10];
	bool capturing = false;
	struct report_fault f;
	char note[128];

	snprintf(dir, sizeof(dir), "%s/full", g_tmp);
	ASSERT_EQ_U64("mount tmpfs", 0, -mount_tmpfs(dir, "size=2m"));
	/* all but 256 KiB taken */
	snprintf(filler, sizeof(filler), "%s/filler", dir);
	fd = open(filler, O_WRONLY | O_CREAT, 0644);
	ASSERT_TRUE("filler", fd >= 0);
	for (int i = 0; i < (2048 - 256) / 64; i++)
		ASSERT_EQ_U64("fill", sizeof(zeros), write(fd, zeros, sizeof(zeros)));
	close(fd);
	fs = sink_open(dir, 0);
	ASSERT_TRUE("sink", fs);
	ASSERT_EQ_U64("capture", 0, -capture_start(&cap));
	capturing = true;
	for (k = 0; k < 100; k++) {
		struct flow_record *r = make_recs(RECS, T_22, k * 1000000, true);
		struct wire_batch b = { .n_records = RECS, .records = r };

		clock_advance(NS / 100);
		err = files__write(fs, &b, NULL, clock_ns(), &bytes);
		free(r);
		offered += RECS;
		if (err)
			break;
		want += batch_sum(k * 1000000, RECS);
		glob_n(dir, "flows/dt=*/hr=*/.part-*", hidden, sizeof(hidden));
		before = fsize(hidden);
	}
	failed_at = k;
	ASSERT_TRUE("some batches fit", failed_at >= 2 && failed_at < 100);
	ASSERT_EQ_U64("ENOSPC", ENOSPC, -err);
	ASSERT_EQ_U64("undone: the file as after the last good batch", before, fsize(hidden));
	ASSERT_TRUE("back-off", files__backoff(fs, clock_ns()));
	/* the sender retries: refused again, nothing changes, no new log line */
	for (int i = 0; i < 3; i++) {
		struct flow_record *r = make_recs(RECS, T_22, failed_at * 1000000ull, true);
		struct wire_batch b = { .n_records = RECS, .records = r };

		clock_advance(NS / 10);
		err = files__write(fs, &b, NULL, clock_ns(), &bytes);
		free(r);
		ASSERT_EQ_U64("still ENOSPC", ENOSPC, -err);
	}
	ASSERT_EQ_U64("file unchanged", before, fsize(hidden));
	files__stats(fs, &st);
	refused = st.write_errors[FILES_ERR_NOSPC];
	ASSERT_EQ_U64("write errors (nospace)", 4, refused);
	ASSERT_EQ_U64("records", (uint64_t)failed_at * RECS, st.records);
	/* room again: after the back-off the same batch goes in, and the rest */
	ASSERT_EQ_U64("unlink filler", 0, unlink(filler));
	clock_advance(NS);
	ASSERT_TRUE("back-off over", !files__backoff(fs, clock_ns()));
	for (k = failed_at; k < failed_at + 5; k++) {
		struct flow_record *r = make_recs(RECS, T_22, k * 1000000, true);
		struct wire_batch b = { .n_records = RECS, .records = r };

		err = files__write(fs, &b, NULL, clock_ns(), &bytes);
		free(r);
		offered += k > failed_at ? RECS : 0; /* the refused batch is counted in once */
		ASSERT_EQ_U64("write after room", 0, -err);
		want += batch_sum(k * 1000000, RECS);
	}
	ASSERT_EQ_U64("close", 0, -files__close(fs));
	logged = capture_end(&cap, "cannot write flow files");
	capturing = false;
	ASSERT_EQ_U64("logged once for the episode", 1, logged);
	ASSERT_EQ_U64("zcat", 0, zcat_all(dir, &n, &sum));
	ASSERT_EQ_U64("every acknowledged batch once", (uint64_t)(failed_at + 5) * RECS, n);
	ASSERT_EQ_U64("sum of bytes_sent", want, sum);
	snprintf(note, sizeof(note),
		 "the batch that met ENOSPC refused %llu times (write_errors{nospace}), logged "
		 "%d time, written once room came back",
		 (unsigned long long)refused, logged);
	f = (struct report_fault){
		.fault = "disk full while writing flow files",
		.unit = "records",
		.injected = offered,
		.delivered = n,
		.note = note,
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every record written once", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	if (capturing)
		capture_end(&cap, "\1");
	files__free(fs);
	umount2(dir, MNT_DETACH);
	return ret;
}

/*
 * A read-only file system (remounted so: the kernel allows it only with no
 * file open for writing, i.e. between files): EROFS, back-off, no loss.
 */
static int test_read_only(void)
{
	char dir[320];
	struct files *fs = NULL;
	struct files_stats st;
	struct flow_record *r = make_recs(RECS, T_22, 0, false);
	struct wire_batch b = { .n_records = RECS, .records = r };
	uint64_t bytes, n, sum, offered = 0, refused;
	struct report_fault f;
	char note[128];
	int ret = 1;

	snprintf(dir, sizeof(dir), "%s/ro", g_tmp);
	ASSERT_EQ_U64("mount tmpfs", 0, -mount_tmpfs(dir, "size=4m"));
	fs = sink_open(dir, 0);
	ASSERT_TRUE("sink", fs);
	clock_advance(NS);
	ASSERT_EQ_U64("write", 0, -files__write(fs, &b, NULL, clock_ns(), &bytes));
	offered += b.n_records;
	ASSERT_EQ_U64("close", 0, -files__close(fs));
	ASSERT_EQ_U64("remount ro", 0,
		      mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL));
	ASSERT_EQ_U64("EROFS", EROFS, -files__write(fs, &b, NULL, clock_ns(), &bytes));
	offered += b.n_records; /* this batch again once writable: counted in once */
	ASSERT_TRUE("back-off", files__backoff(fs, clock_ns()));
	files__stats(fs, &st);
	refused = st.write_errors[FILES_ERR_ROFS];
	ASSERT_EQ_U64("write errors (readonly)", 1, refused);
	ASSERT_EQ_U64("records", RECS, st.records);
	ASSERT_EQ_U64("remount rw", 0,
		      mount(NULL, dir, NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, NULL));
	clock_advance(NS);
	ASSERT_EQ_U64("retry", 0, -files__write(fs, &b, NULL, clock_ns(), &bytes));
	ASSERT_EQ_U64("close", 0, -files__close(fs));
	ASSERT_EQ_U64("zcat", 0, zcat_all(dir, &n, &sum));
	ASSERT_EQ_U64("both batches", 2 * RECS, n);
	ASSERT_EQ_U64("files", 2, glob_n(dir, "flows/dt=*/hr=*/part-*", NULL, 0));
	snprintf(note, sizeof(note),
		 "a batch refused %llu time with EROFS (write_errors{readonly}), written on retry",
		 (unsigned long long)refused);
	f = (struct report_fault){
		.fault = "file system remounted read-only between files",
		.unit = "records",
		.injected = offered,
		.delivered = n,
		.note = note,
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every record written once", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	files__free(fs);
	free(r);
	umount2(dir, MNT_DETACH);
	return ret;
}

/* Drops the capabilities that let root write anywhere (a child's own). */
static int drop_dac_caps(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[0].effective &=
	    ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH) | (1u << CAP_FOWNER));
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/*
 * An hour directory that cannot be written to: EACCES, counted, back-off, the
 * rest goes on.  Reports "writes-tried write-errors" for that hour on `report`.
 */
static int unwritable_child(const char *dir, int report)
{
	struct flow_record *r = make_recs(RECS, T_22, 0, false);
	struct wire_batch b = { .n_records = RECS, .records = r };
	struct files *fs;
	struct files_stats st;
	char hr[512];
	uint64_t bytes;
	unsigned int tried = 0;

	if (drop_dac_caps())
		return 10;
	fs = sink_open(dir, 0);
	if (!fs)
		return 11;
	snprintf(hr, sizeof(hr), "%s/flows/dt=2023-11-14/hr=22", dir);
	if (harness_sh("mkdir -p %s && chmod 0555 %s", hr, hr))
		return 12;
	tried++;
	if (files__write(fs, &b, NULL, 5 * NS, &bytes) != -EACCES)
		return 13;
	files__stats(fs, &st);
	if (st.write_errors[FILES_ERR_ACCESS] != 1 || st.records != 0 || st.files_open != 0)
		return 14;
	dprintf(report, "%u %llu\n", tried, (unsigned long long)st.write_errors[FILES_ERR_ACCESS]);
	if (!files__backoff(fs, 5 * NS))
		return 15;
	/* another hour is writable */
	for (uint32_t i = 0; i < RECS; i++)
		r[i].end_ms += HOUR_MS;
	if (files__write(fs, &b, NULL, 7 * NS, &bytes) || files__close(fs))
		return 16;
	files__free(fs);
	free(r);
	return 0;
}

static int test_unwritable(void)
{
	char dir[320];
	uint64_t n, sum;
	int64_t tried = -1, errors = -1;
	int fds[2] = { -1, -1 }, ret = 1;
	struct report_fault f;
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/unwritable", g_tmp);
	ASSERT_EQ_U64("pipe", 0, pipe2(fds, O_CLOEXEC | O_NONBLOCK));
	read_reports(-1, NULL, NULL);
	pid = fork();
	ASSERT_TRUE("fork", pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(unwritable_child(dir, fds[1]));
	}
	close(fds[1]);
	fds[1] = -1;
	ASSERT_EQ_U64("child's checks", 0, harness_wait(pid, CHILD_MS));
	ASSERT_EQ_U64("child's report", 1, read_reports(fds[0], &tried, &errors));
	ASSERT_EQ_U64("nothing in hour 22", 0,
		      glob_n(dir, "flows/dt=2023-11-14/hr=22/*part-*", NULL, 0));
	ASSERT_EQ_U64("zcat", 0, zcat_all(dir, &n, &sum));
	ASSERT_EQ_U64("hour 23's records", RECS, n);
	f = (struct report_fault){
		.fault = "hour directory not writable (EACCES)",
		.unit = "batch writes",
		.injected = (uint64_t)tried,
		.counted = (uint64_t)errors,
		.counted_as = "EACCES to the caller (it keeps the batch), write_errors{access}",
		.note = "the same sink goes on writing another hour",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("the refused batch counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	if (fds[0] >= 0)
		close(fds[0]);
	return ret;
}

static const struct harness_test tests[] = {
	{ "zcat_one_json_object_per_line", test_zcat },
	{ "kill9_mid_write_then_recover", test_crash_mid_write },
	{ "sigterm_publishes_within_5s", test_sigterm_publishes },
	{ "disk_full_backpressure", test_disk_full },
	{ "read_only_backpressure", test_read_only },
	{ "unwritable_dir_eacces", test_unwritable },
};

int main(int argc, char **argv)
{
	struct timespec ts;
	int failed = harness_require_root();

	if (failed)
		return failed;
	log_init("test_filesink", LOG_LEVEL_WARN);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	g_clock_ns = (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
	/* the tmpfs mounts stay in this process's own mount namespace, and go with it */
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		fprintf(stderr, "cannot create a mount namespace: %s: FAIL\n", strerror(errno));
		return 1;
	}
	snprintf(g_tmp, sizeof(g_tmp), "/tmp/podflow-filesink-it-XXXXXX");
	if (!mkdtemp(g_tmp)) {
		fprintf(stderr, "cannot create a temp dir: FAIL\n");
		return 1;
	}
	failed = harness_run("filesink", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
	if (!failed)
		harness_sh("rm -rf %s", g_tmp);
	else
		fprintf(stderr, "  (outputs kept in %s)\n", g_tmp);
	return failed ? 1 : 0;
}
