// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for lib/config_watch: the kubelet's ConfigMap swap, edits in place, the stat poll. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config_watch.h"
#include "duration.h"

#define HUGE_POLL_NS (3600 * DURATION_NS_PER_S) /* the stat poll never comes due by itself */
#define DEADLINE_MS  5000

/* small on purpose: every path built from it fits PATH_MAX without truncation */
static char dir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_config_watch.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * DURATION_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* dir/<rel> */
static char *at(const char *rel)
{
	static char bufs[4][PATH_MAX];
	static int i;
	char *b = bufs[i++ % 4];

	snprintf(b, PATH_MAX, "%s/%s", dir, rel);
	return b;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/*
 * check() until it returns 1, waiting on the inotify fd with poll(); fails
 * the test at the deadline.  `now` advances by CONFIG_WATCH_SETTLE_NS per
 * round, so a change settles; the callers' stat poll is an hour away.
 */
static void wait_changed(struct config_watch *w, uint64_t *now)
{
	uint64_t deadline = now_ns() + DEADLINE_MS * DURATION_NS_PER_MS;

	for (;;) {
		struct pollfd pfd = { .fd = config_watch__fd(w), .events = POLLIN };
		uint64_t t = now_ns();

		if (config_watch__check(w, *now) == 1)
			return;
		*now += CONFIG_WATCH_SETTLE_NS;
		if (t >= deadline) {
			print_error("no change noticed within %d ms\n", DEADLINE_MS);
			fail();
		}
		/* a short wait: a change that is settling has no event to come */
		if (pfd.fd >= 0)
			poll(&pfd, 1, 10);
		else
			poll(NULL, 0, 10);
	}
}

static bool fd_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1;
}

/* The kubelet's layout: dir/..TS/config.yaml, ..data -> ..TS, config.yaml -> ..data/config.yaml. */
static void kubelet_publish(const char *ts, const char *text, const char *old_ts)
{
	char tsdir[PATH_MAX], file[PATH_MAX];

	snprintf(tsdir, sizeof(tsdir), "%s/%s", dir, ts);
	snprintf(file, sizeof(file), "%s/%s/config.yaml", dir, ts);
	assert_int_equal(mkdir(tsdir, 0755), 0);
	write_file(file, text);
	if (!old_ts) {
		assert_int_equal(symlink(ts, at("..data")), 0);
		assert_int_equal(symlink("..data/config.yaml", at("config.yaml")), 0);
		return;
	}
	/* the atomic swap: ..data_tmp -> new, renamed over ..data, then the old dir removed */
	assert_int_equal(symlink(ts, at("..data_tmp")), 0);
	assert_int_equal(rename(at("..data_tmp"), at("..data")), 0);
	snprintf(file, sizeof(file), "%s/%s/config.yaml", dir, old_ts);
	assert_int_equal(unlink(file), 0);
	snprintf(tsdir, sizeof(tsdir), "%s/%s", dir, old_ts);
	assert_int_equal(rmdir(tsdir), 0);
}

static void read_all(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void test_kubelet_atomic_update(void **state)
{
	struct config_watch *w;
	uint64_t now = 1;
	char text[64];

	(void)state;
	kubelet_publish("..2026_11_27_10_00_00.000", "interval: 10s\n", NULL);
	w = config_watch__new(at("config.yaml"), HUGE_POLL_NS);
	assert_non_null(w);
	assert_true(config_watch__fd(w) >= 0);
	/* nothing changed yet */
	assert_int_equal(config_watch__check(w, now), 0);
	assert_int_equal(config_watch__check(w, now), 0);

	kubelet_publish("..2026_11_27_10_05_00.000", "interval: 20s\n",
			"..2026_11_27_10_00_00.000");
	/* inotify alone (the poll is an hour away) */
	wait_changed(w, &now);
	read_all(at("config.yaml"), text, sizeof(text));
	assert_string_equal(text, "interval: 20s\n");
	/* drained: nothing more to report */
	assert_false(fd_readable(config_watch__fd(w)));
	assert_int_equal(config_watch__check(w, now), 0);

	/* and the next update, through the new ..data */
	kubelet_publish("..2026_11_27_10_10_00.000", "interval: 30s\n",
			"..2026_11_27_10_05_00.000");
	wait_changed(w, &now);
	assert_int_equal(config_watch__check(w, now), 0);
	config_watch__free(w);
}

static void test_plain_file_in_place(void **state)
{
	struct config_watch *w;
	uint64_t now = 1;
	FILE *f;

	(void)state;
	write_file(at("cfg.yaml"), "interval: 10s\n");
	write_file(at("other.yaml"), "x: 1\n");
	w = config_watch__new(at("cfg.yaml"), HUGE_POLL_NS);
	assert_non_null(w);
	assert_int_equal(config_watch__check(w, now), 0);

	/* another file in the directory is not a change */
	write_file(at("other.yaml"), "x: 2\n");
	assert_true(fd_readable(config_watch__fd(w)));
	assert_int_equal(config_watch__check(w, now), 0);

	/* rewritten in place, same inode: IN_CLOSE_WRITE */
	f = fopen(at("cfg.yaml"), "r+");
	assert_non_null(f);
	assert_int_equal(fputs("interval: 20s\n", f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	wait_changed(w, &now);
	assert_int_equal(config_watch__check(w, now), 0);

	/* an editor's write-and-rename */
	write_file(at("cfg.yaml.tmp"), "interval: 30s\n");
	assert_int_equal(rename(at("cfg.yaml.tmp"), at("cfg.yaml")), 0);
	wait_changed(w, &now);
	assert_int_equal(config_watch__check(w, now), 0);

	/* deleted, then created again */
	assert_int_equal(unlink(at("cfg.yaml")), 0);
	wait_changed(w, &now);
	write_file(at("cfg.yaml"), "interval: 40s\n");
	wait_changed(w, &now);
	assert_int_equal(config_watch__check(w, now), 0);
	config_watch__free(w);
}

/*
 * The stat fingerprint on its own: the test drains the inotify fd itself,
 * as if the filesystem never delivered the events, so only the poll can see
 * the change, and only once poll_ns has passed.  (A filesystem without
 * inotify cannot be set up without root; this is that path.)
 */
static void test_poll_fallback(void **state)
{
	const uint64_t poll_ns = DURATION_NS_PER_S;
	char buf[4096] __attribute__((aligned(8)));
	struct config_watch *w;
	uint64_t t0 = 1000 * DURATION_NS_PER_S;
	struct stat st;

	(void)state;
	write_file(at("cfg.yaml"), "interval: 10s\n");
	w = config_watch__new(at("cfg.yaml"), poll_ns);
	assert_non_null(w);
	assert_int_equal(config_watch__check(w, t0), 0);

	/* a different size, so the fingerprint differs even within one timestamp tick */
	write_file(at("cfg.yaml"), "interval: 200ms\n");
	assert_true(fd_readable(config_watch__fd(w)));
	while (read(config_watch__fd(w), buf, sizeof(buf)) > 0)
		;
	/* not due yet */
	assert_int_equal(config_watch__check(w, t0 + poll_ns - 1), 0);
	assert_int_equal(config_watch__timeout_ms(w, t0 + poll_ns - DURATION_NS_PER_MS), 1);
	/* due: the stat sees the new size; reported once it has settled */
	assert_int_equal(config_watch__check(w, t0 + poll_ns), 0);
	assert_int_equal(config_watch__timeout_ms(w, t0 + poll_ns),
			 CONFIG_WATCH_SETTLE_NS / DURATION_NS_PER_MS);
	assert_int_equal(config_watch__check(w, t0 + poll_ns + CONFIG_WATCH_SETTLE_NS), 1);
	assert_int_equal(config_watch__check(w, t0 + 2 * poll_ns), 0);

	/* same size, new mtime (explicitly set, so no dependence on the clock's tick) */
	write_file(at("cfg.yaml"), "interval: 300ms\n");
	while (read(config_watch__fd(w), buf, sizeof(buf)) > 0)
		;
	assert_int_equal(stat(at("cfg.yaml"), &st), 0);
	{
		struct timespec times[2] = { st.st_atim, st.st_mtim };

		times[1].tv_sec -= 100;
		assert_int_equal(utimensat(AT_FDCWD, at("cfg.yaml"), times, 0), 0);
	}
	while (read(config_watch__fd(w), buf, sizeof(buf)) > 0)
		;
	assert_int_equal(config_watch__check(w, t0 + 3 * poll_ns), 0);
	assert_int_equal(config_watch__check(w, t0 + 3 * poll_ns + CONFIG_WATCH_SETTLE_NS), 1);
	config_watch__free(w);
}

static void test_file_missing_at_start(void **state)
{
	struct config_watch *w;
	uint64_t now = 1;

	(void)state;
	w = config_watch__new(at("later.yaml"), HUGE_POLL_NS);
	assert_non_null(w);
	assert_int_equal(config_watch__check(w, now), 0);
	write_file(at("later.yaml"), "interval: 10s\n");
	wait_changed(w, &now);
	assert_int_equal(config_watch__check(w, now), 0);
	config_watch__free(w);
}

/* The watched directory itself goes away and comes back: the watch is re-established. */
static void test_directory_replaced(void **state)
{
	char sub[PATH_MAX], file[PATH_MAX];
	struct config_watch *w;
	uint64_t now = 1;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/conf", dir);
	snprintf(file, sizeof(file), "%s/conf/cfg.yaml", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	write_file(file, "interval: 10s\n");
	w = config_watch__new(file, HUGE_POLL_NS);
	assert_non_null(w);
	assert_int_equal(config_watch__check(w, now), 0);

	assert_int_equal(unlink(file), 0);
	assert_int_equal(rmdir(sub), 0);
	wait_changed(w, &now);
	/* gone, and still gone: no news */
	assert_int_equal(config_watch__check(w, now), 0);

	/* back: the next check re-adds the watch and reads it (it could not see the interval) */
	assert_int_equal(mkdir(sub, 0755), 0);
	write_file(file, "interval: 20s\n");
	assert_int_equal(config_watch__check(w, now), 0);
	now += CONFIG_WATCH_SETTLE_NS;
	assert_int_equal(config_watch__check(w, now), 1);
	assert_int_equal(config_watch__check(w, now), 0);
	/* and inotify works again on the new directory */
	write_file(file, "interval: 30s\n");
	wait_changed(w, &now);
	config_watch__free(w);
}

/*
 * check() `rounds` times, `step_ns` of fake time apart, as the main loop does
 * between the steps of a writer; returns how many said "changed".
 */
static int count_reports(struct config_watch *w, uint64_t *now, uint64_t step_ns, int rounds)
{
	int n = 0;

	for (int i = 0; i < rounds; i++) {
		n += config_watch__check(w, *now);
		*now += step_ns;
	}
	return n;
}

/*
 * The kubelet's AtomicWriter.Write (pkg/volume/util/atomic_writer.go), one
 * step at a time with the main loop checking in between: a new timestamped
 * directory, the file in it, a ..data_tmp symlink to it, the rename over
 * ..data, the old directory removed.  Until the rename the file still reads
 * the old content: one update must be reported exactly once, with the new
 * content, however the events are split.
 */
static void kubelet_update_stepwise(struct config_watch *w, uint64_t *now, const char *ts,
				    const char *text, const char *old_ts, int *reports)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, ts);
	assert_int_equal(mkdir(path, 0755), 0);
	*reports += count_reports(w, now, DURATION_NS_PER_MS, 1);
	snprintf(path, sizeof(path), "%s/%s/config.yaml", dir, ts);
	write_file(path, text);
	*reports += count_reports(w, now, DURATION_NS_PER_MS, 1);
	assert_int_equal(symlink(ts, at("..data_tmp")), 0);
	*reports += count_reports(w, now, DURATION_NS_PER_MS, 1);
	assert_int_equal(rename(at("..data_tmp"), at("..data")), 0);
	*reports += count_reports(w, now, DURATION_NS_PER_MS, 1);
	snprintf(path, sizeof(path), "%s/%s/config.yaml", dir, old_ts);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, old_ts);
	assert_int_equal(rmdir(path), 0);
	*reports += count_reports(w, now, DURATION_NS_PER_MS, 1);
}

static void test_kubelet_update_reported_once(void **state)
{
	struct config_watch *w;
	uint64_t now = 1;
	int reports = 0;
	char text[64];

	(void)state;
	kubelet_publish("..2026_11_27_10_00_00.000", "interval: 10s\n", NULL);
	w = config_watch__new(at("config.yaml"), HUGE_POLL_NS);
	assert_non_null(w);
	kubelet_update_stepwise(w, &now, "..2026_11_27_10_05_00.000", "interval: 20s\n",
				"..2026_11_27_10_00_00.000", &reports);
	reports += count_reports(w, &now, CONFIG_WATCH_SETTLE_NS, 4);
	assert_int_equal(reports, 1);
	read_all(at("config.yaml"), text, sizeof(text));
	assert_string_equal(text, "interval: 20s\n");

	/* the same content published again (a new directory, a new inode): nothing to reload */
	reports = 0;
	kubelet_update_stepwise(w, &now, "..2026_11_27_10_10_00.000", "interval: 20s\n",
				"..2026_11_27_10_05_00.000", &reports);
	reports += count_reports(w, &now, CONFIG_WATCH_SETTLE_NS, 4);
	assert_int_equal(reports, 0);
	config_watch__free(w);
}

/* A new mtime, or a change undone before it settled, is not a change. */
static void test_same_content_not_reported(void **state)
{
	const uint64_t poll_ns = DURATION_NS_PER_S;
	struct config_watch *w;
	uint64_t now = 1000 * DURATION_NS_PER_S;
	struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = 12345 } };

	(void)state;
	write_file(at("cfg.yaml"), "interval: 10s\n");
	w = config_watch__new(at("cfg.yaml"), poll_ns);
	assert_non_null(w);
	assert_int_equal(utimensat(AT_FDCWD, at("cfg.yaml"), times, 0), 0);
	write_file(at("cfg.yaml"), "interval: 10s\n"); /* rewritten, same bytes */
	assert_int_equal(count_reports(w, &now, poll_ns, 4), 0);
	/* changed and changed back within the settling time */
	write_file(at("cfg.yaml"), "interval: 99s\n");
	assert_int_equal(config_watch__check(w, now), 0);
	write_file(at("cfg.yaml"), "interval: 10s\n");
	assert_int_equal(count_reports(w, &now, poll_ns, 4), 0);
	config_watch__free(w);
}

/*
 * A file written in place in several pieces (the writer pauses with the file
 * still open): every prefix may be valid YAML, so only the writer's close, or
 * its silence for CONFIG_WATCH_WRITER_MAX_NS, makes the content final.  The
 * stat poll (1 s here) sees the first pieces, and must not report them.
 */
static void test_file_still_being_written(void **state)
{
	const uint64_t poll_ns = DURATION_NS_PER_S;
	struct config_watch *w;
	uint64_t now = 1000 * DURATION_NS_PER_S;
	char text[128];
	int fd;

	(void)state;
	write_file(at("cfg.yaml"), "interval: 10s\n");
	w = config_watch__new(at("cfg.yaml"), poll_ns);
	assert_non_null(w);
	assert_int_equal(config_watch__check(w, now), 0);

	fd = open(at("cfg.yaml"), O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "interval: 20s\n", 14), 14); /* valid YAML, not all of it */
	/* 5 s of checks, the poll due at each: the open file is not reported */
	assert_int_equal(count_reports(w, &now, poll_ns / 2, 10), 0);
	assert_int_equal(write(fd, "enabled: false\n", 15), 15);
	assert_int_equal(count_reports(w, &now, poll_ns / 2, 4), 0);
	assert_int_equal(close(fd), 0);
	/* closed: reported once, settled, and what it reports is the whole file */
	assert_int_equal(count_reports(w, &now, CONFIG_WATCH_SETTLE_NS, 4), 1);
	read_all(at("cfg.yaml"), text, sizeof(text));
	assert_string_equal(text, "interval: 20s\nenabled: false\n");

	/* a writer that keeps the file open and goes quiet is waited for, but not forever */
	fd = open(at("cfg.yaml"), O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "aggregate: false\n", 17), 17);
	assert_int_equal(
	    count_reports(w, &now, poll_ns, (int)(CONFIG_WATCH_WRITER_MAX_NS / poll_ns) - 1), 0);
	assert_int_equal(count_reports(w, &now, poll_ns, 4), 1);
	assert_int_equal(close(fd), 0);
	assert_int_equal(count_reports(w, &now, poll_ns, 4), 0);
	config_watch__free(w);
}

static void test_new_errors(void **state)
{
	struct config_watch *w;

	(void)state;
	errno = 0;
	assert_null(config_watch__new(at("no/such/dir/cfg.yaml"), HUGE_POLL_NS));
	assert_int_equal(errno, ENOENT);
	write_file(at("plain"), "x");
	errno = 0;
	assert_null(config_watch__new(at("plain/cfg.yaml"), HUGE_POLL_NS));
	assert_int_equal(errno, ENOTDIR);
	errno = 0;
	assert_null(config_watch__new(at(""), HUGE_POLL_NS)); /* "dir/": no file name */
	assert_int_equal(errno, EINVAL);
	config_watch__free(NULL);

	/* a bare name watches the current directory */
	assert_int_equal(chdir(dir), 0);
	w = config_watch__new("cfg.yaml", HUGE_POLL_NS);
	assert_non_null(w);
	assert_int_equal(config_watch__check(w, 1), 0);
	write_file("cfg.yaml", "x: 1\n");
	{
		uint64_t now = 1;

		wait_changed(w, &now);
	}
	config_watch__free(w);
	assert_int_equal(chdir("/"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kubelet_atomic_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_file_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_missing_at_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kubelet_update_reported_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_content_not_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_still_being_written, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
