// SPDX-License-Identifier: BSD-2-Clause
/* Rebuilds the insight view from the flow files of the last window, in a background thread. */
#define _GNU_SOURCE
#include "insight_rebuild.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "clock.h"
#include "insight.h"
#include "insight_record.h"
#include "log.h"

#define HOUR_MS	  3600000ull
#define DAY_MS	  (24 * HOUR_MS)
#define CHUNK	  (64u << 10)  /* decompressed bytes per gzread */
#define GZ_BUFFER (128u << 10) /* zlib's input and output buffers */
#define REPORT_MS 250	       /* progress to the view at most this often */
#define WHY_LEN	  160

#define LOAD(p)	    __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, n)   __atomic_fetch_add((p), (n), __ATOMIC_RELAXED)

struct insight_rebuild {
	struct insight *in;
	uint64_t since_ms;
	char **paths; /* sorted: by hour, then by file number */
	size_t n_paths;

	pthread_t thread;
	bool started;
	int stop;

	/* the thread's */
	char *line; /* INSIGHT_RECORD_MAX_TEXT */
	size_t line_len;
	char *chunk; /* CHUNK */
	struct insight_flow batch[INSIGHT_REBUILD_BATCH];
	json_t *roots[INSIGHT_REBUILD_BATCH]; /* what the batch's strings point into */
	size_t n_batch;
	int64_t next_report_mono;
	/* the file being read: its damage, said in one line when it is done */
	uint64_t file_line, file_bad;
	uint64_t file_first_bad_line;
	char file_why[WHY_LEN];

	/* any thread: atomics */
	uint64_t files_read, records, too_old, errors;
	int finished, failed;
};

/* ---- listing --------------------------------------------------------------------- */

/* `n` decimal digits at s, or -1. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* "dt=YYYY-MM-DD": the day's start, Unix ms; false for any other name. */
static bool parse_dt(const char *name, uint64_t *ms)
{
	struct tm tm = { 0 };
	int y, m, d;
	time_t t;

	if (strlen(name) != 13 || strncmp(name, "dt=", 3) != 0 || name[7] != '-' || name[10] != '-')
		return false;
	y = digits(name + 3, 4);
	m = digits(name + 8, 2);
	d = digits(name + 11, 2);
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	t = timegm(&tm);
	if (t < 0)
		return false;
	*ms = (uint64_t)t * 1000;
	return true;
}

/* "hr=HH", 00..23; -1 for any other name. */
static int parse_hr(const char *name)
{
	int h;

	if (strlen(name) != 5 || strncmp(name, "hr=", 3) != 0)
		return -1;
	h = digits(name + 3, 2);
	return h <= 23 ? h : -1;
}

/* A published file: part-*.json.gz (a hidden one starts with '.': still being written). */
static bool is_part(const char *name)
{
	size_t l = strlen(name);
	const char *sfx = ".json.gz";

	return strncmp(name, "part-", 5) == 0 && l > 5 + strlen(sfx) &&
	       strcmp(name + l - strlen(sfx), sfx) == 0;
}

struct listing {
	char **paths;
	size_t n, cap;
	uint64_t errors;
};

static int list_add(struct listing *l, const char *dir, const char *name)
{
	char *p;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **np = realloc(l->paths, cap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		l->paths = np;
		l->cap = cap;
	}
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	l->paths[l->n++] = p;
	return 0;
}

/* The part files of one hour directory. */
static int list_hour(struct listing *l, const char *dir)
{
	struct dirent *de;
	DIR *d;
	int err = 0;

	d = opendir(dir);
	if (!d) {
		/* the rest of the window still counts: one directory is counted and said */
		pr_warn("insight: rebuild: cannot list %s: %s", dir, strerror(errno));
		l->errors++;
		return 0;
	}
	while (!err && (de = readdir(d))) {
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		if (is_part(de->d_name))
			err = list_add(l, dir, de->d_name);
	}
	closedir(d);
	return err;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The files of the hours [since_ms's, the one after now's] under
 * DATA_DIR/flows, sorted.  0 (a missing flows directory: none), or the
 * negative errno of the flows directory that cannot be listed, or -ENOMEM.
 */
static int list_files(const char *data_dir, uint64_t since_ms, uint64_t now_ms, struct listing *l)
{
	uint64_t first = since_ms / HOUR_MS * HOUR_MS, last = now_ms / HOUR_MS * HOUR_MS + HOUR_MS;
	char *flows = NULL, *day = NULL, *hour = NULL;
	struct dirent *de, *he;
	DIR *d = NULL, *hd = NULL;
	int err = 0;

	if (asprintf(&flows, "%s/flows", data_dir) < 0) {
		flows = NULL;
		err = -ENOMEM;
		goto cleanup;
	}
	d = opendir(flows);
	if (!d) {
		err = errno == ENOENT ? 0 : -errno;
		goto cleanup;
	}
	while (!err && (de = readdir(d))) {
		uint64_t day_ms;

		if (!parse_dt(de->d_name, &day_ms) || day_ms + DAY_MS <= first || day_ms > last)
			continue;
		free(day);
		if (asprintf(&day, "%s/%s", flows, de->d_name) < 0) {
			day = NULL;
			err = -ENOMEM;
			break;
		}
		hd = opendir(day);
		if (!hd) {
			pr_warn("insight: rebuild: cannot list %s: %s", day, strerror(errno));
			l->errors++;
			continue;
		}
		while (!err && (he = readdir(hd))) {
			int h = parse_hr(he->d_name);
			uint64_t hour_ms = day_ms + (uint64_t)h * HOUR_MS;

			if (h < 0 || hour_ms < first || hour_ms > last)
				continue;
			free(hour);
			if (asprintf(&hour, "%s/%s", day, he->d_name) < 0) {
				hour = NULL;
				err = -ENOMEM;
				break;
			}
			err = list_hour(l, hour);
		}
		closedir(hd);
		hd = NULL;
	}
	if (!err && l->n)
		qsort(l->paths, l->n, sizeof(*l->paths), cmp_path);
cleanup:
	if (d)
		closedir(d);
	free(flows);
	free(day);
	free(hour);
	return err;
}

/* ---- reading --------------------------------------------------------------------- */

static bool stopping(struct insight_rebuild *r)
{
	return LOAD(&r->stop) != 0;
}

static void report(struct insight_rebuild *r, const char *state)
{
	struct insight_source_stats s = {
		.source = "output",
		.rebuild = state,
		.rebuilt = LOAD(&r->records),
		.rebuild_files = LOAD(&r->files_read),
		.rebuild_errors = LOAD(&r->errors),
	};

	insight__set_source_stats(r->in, &s);
}

static void flush_batch(struct insight_rebuild *r)
{
	int64_t mono;

	if (!r->n_batch)
		return;
	insight__add(r->in, r->batch, r->n_batch, (uint64_t)clock_wall_ms());
	for (size_t i = 0; i < r->n_batch; i++)
		json_decref(r->roots[i]);
	ADD(&r->records, r->n_batch);
	r->n_batch = 0;
	mono = clock_mono_ms();
	if (mono >= r->next_report_mono) {
		r->next_report_mono = mono + REPORT_MS;
		report(r, "running");
	}
}

static void bad_line(struct insight_rebuild *r, const char *why)
{
	ADD(&r->errors, 1);
	if (r->file_bad++ == 0) {
		r->file_first_bad_line = r->file_line;
		snprintf(r->file_why, sizeof(r->file_why), "%s", why);
	}
}

static void take_line(struct insight_rebuild *r)
{
	struct insight_flow *f = &r->batch[r->n_batch];
	char why[WHY_LEN];
	json_t *root;

	if (insight_record_parse_text(r->line, r->line_len, &root, f, why, sizeof(why))) {
		bad_line(r, why);
		return;
	}
	if (f->end_ms < r->since_ms) {
		ADD(&r->too_old, 1);
		json_decref(root);
		return;
	}
	r->roots[r->n_batch++] = root;
	if (r->n_batch == INSIGHT_REBUILD_BATCH)
		flush_batch(r);
}

/*
 * Splits decompressed bytes into lines.  A line longer than the buffer is
 * dropped as it streams by (`*overlong`), and counted at its newline.
 */
static void take_bytes(struct insight_rebuild *r, const char *p, size_t n, bool *overlong)
{
	const char *end = p + n;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t seg = (size_t)((nl ? nl : end) - p);

		if (!*overlong && r->line_len + seg > INSIGHT_RECORD_MAX_TEXT) {
			*overlong = true;
			r->line_len = 0;
		}
		if (!*overlong) {
			memcpy(r->line + r->line_len, p, seg);
			r->line_len += seg;
		}
		if (!nl)
			break;
		r->file_line++;
		if (*overlong)
			bad_line(r, "longer than INSIGHT_RECORD_MAX_TEXT (1 MiB)");
		else
			take_line(r);
		*overlong = false;
		r->line_len = 0;
		p = nl + 1;
	}
}

static void read_file(struct insight_rebuild *r, const char *path)
{
	const char *damage = NULL;
	bool overlong = false;
	int fd, n, zerr;
	gzFile gz;

	r->file_line = r->file_bad = r->file_first_bad_line = 0;
	r->file_why[0] = '\0';
	r->line_len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		/* a retention job may have removed it since the listing */
		ADD(&r->errors, 1);
		pr_warn("insight: rebuild: %s: %s", path, strerror(errno));
		return;
	}
	gz = gzdopen(fd, "rb");
	if (!gz) {
		close(fd);
		ADD(&r->errors, 1);
		pr_warn("insight: rebuild: %s: out of memory", path);
		return;
	}
	gzbuffer(gz, GZ_BUFFER);
	while (!stopping(r)) {
		n = gzread(gz, r->chunk, CHUNK);
		if (n < 0) {
			damage = gzerror(gz, &zerr);
			if (zerr == Z_ERRNO)
				damage = strerror(errno);
			break;
		}
		if (n == 0) {
			/*
			 * zlib's end of input: Z_BUF_ERROR when it came in the
			 * middle of a member (zlib.h, gzread): a file cut short
			 */
			gzerror(gz, &zerr);
			if (zerr == Z_BUF_ERROR) {
				damage = "cut short in the middle of a gzip member";
				break;
			}
			/* a published file ends with a newline: this one was cut */
			if (r->line_len || overlong) {
				r->file_line++;
				bad_line(r, "the last line has no newline");
			}
			break;
		}
		take_bytes(r, r->chunk, (size_t)n, &overlong);
	}
	if (damage)
		ADD(&r->errors, 1);
	if (r->file_bad || damage) {
		char bad[WHY_LEN + 64] = "", dmg[128] = "";

		if (r->file_bad)
			snprintf(bad, sizeof(bad),
				 " %" PRIu64 " bad lines skipped (first at line %" PRIu64 ": %s)%s",
				 r->file_bad, r->file_first_bad_line, r->file_why,
				 damage ? ";" : "");
		if (damage)
			snprintf(dmg, sizeof(dmg), " unreadable after line %" PRIu64 " (%s)",
				 r->file_line, damage);
		/* one line per damaged file, whatever is wrong with it */
		pr_warn("insight: rebuild: %s:%s%s", path, bad, dmg);
	}
	gzclose(gz);
	ADD(&r->files_read, 1);
}

static void *rebuild_main(void *arg)
{
	struct insight_rebuild *r = arg;
	int64_t t0 = clock_mono_ms();

	report(r, "running");
	for (size_t i = 0; i < r->n_paths && !stopping(r); i++) {
		read_file(r, r->paths[i]);
		flush_batch(r);
	}
	flush_batch(r);
	if (stopping(r))
		return NULL;
	STORE(&r->finished, 1);
	report(r, "done");
	pr_info("insight: rebuilt %" PRIu64 " records from %zu files in %" PRId64 " ms (%" PRIu64
		" older than the window, %" PRIu64 " errors)",
		LOAD(&r->records), r->n_paths, clock_mono_ms() - t0, LOAD(&r->too_old),
		LOAD(&r->errors));
	return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------- */

struct insight_rebuild *insight_rebuild__new(const char *data_dir, uint64_t since_ms,
					     struct insight *in, char *why, size_t len)
{
	struct listing l = { 0 };
	struct insight_rebuild *r;
	int err;

	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(why, len, "insight rebuild: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	r->in = in;
	r->since_ms = since_ms;
	err = list_files(data_dir, since_ms, (uint64_t)clock_wall_ms(), &l);
	r->paths = l.paths;
	r->n_paths = l.n;
	r->errors = l.errors;
	if (err == -ENOMEM)
		goto cleanup;
	if (err) {
		/* the view still fills from the tap: said and shown, not fatal */
		pr_warn("insight: rebuild: cannot list %s/flows: %s", data_dir, strerror(-err));
		STORE(&r->failed, 1);
		STORE(&r->finished, 1);
		ADD(&r->errors, 1);
		report(r, "failed");
		return r;
	}
	pr_info("insight: rebuilding the view from %zu files under %s/flows", r->n_paths, data_dir);
	err = -ENOMEM;
	r->line = malloc(INSIGHT_RECORD_MAX_TEXT);
	r->chunk = malloc(CHUNK);
	if (!r->line || !r->chunk)
		goto cleanup;
	err = -pthread_create(&r->thread, NULL, rebuild_main, r);
	if (err) {
		snprintf(why, len, "insight rebuild: cannot start its thread: %s", strerror(-err));
		insight_rebuild__free(r);
		errno = -err;
		return NULL;
	}
	r->started = true;
	return r;
cleanup:
	snprintf(why, len, "insight rebuild: out of memory");
	insight_rebuild__free(r);
	errno = ENOMEM;
	return NULL;
}

void insight_rebuild__free(struct insight_rebuild *r)
{
	if (!r)
		return;
	if (r->started) {
		STORE(&r->stop, 1);
		pthread_join(r->thread, NULL);
	}
	for (size_t i = 0; i < r->n_batch; i++)
		json_decref(r->roots[i]);
	for (size_t i = 0; i < r->n_paths; i++)
		free(r->paths[i]);
	free(r->paths);
	free(r->line);
	free(r->chunk);
	free(r);
}

void insight_rebuild__stats(struct insight_rebuild *r, struct insight_rebuild_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->files = r->n_paths;
	out->files_read = LOAD(&r->files_read);
	out->records = LOAD(&r->records);
	out->too_old = LOAD(&r->too_old);
	out->errors = LOAD(&r->errors);
	out->finished = LOAD(&r->finished) != 0;
	out->failed = LOAD(&r->failed) != 0;
}
