// SPDX-License-Identifier: BSD-2-Clause
/* Start-up recovery of the file output: finishing the hidden files a crash left (docs/files.md). */
#define _GNU_SOURCE
#include "files_recover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "log.h"

/* True for .part-<id>-<digits>.json.gz (any id when id is NULL). */
static bool hidden_part(const char *name, const char *id)
{
	static const char suffix[] = ".json.gz";
	size_t n = strlen(name), ls = sizeof(suffix) - 1;
	const char *p, *digits_end;

	if (strncmp(name, ".part-", 6) != 0 || n <= 6 + ls || strcmp(name + n - ls, suffix) != 0)
		return false;
	digits_end = name + n - ls;
	if (id) {
		size_t li = strlen(id);

		if (strncmp(name + 6, id, li) != 0 || name[6 + li] != '-')
			return false;
		p = name + 6 + li + 1;
	} else {
		p = digits_end;
		while (p > name + 6 && p[-1] >= '0' && p[-1] <= '9')
			p--;
		if (p[-1] != '-' || p - 1 == name + 6)
			return false;
	}
	if (p >= digits_end)
		return false;
	for (; p < digits_end; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

/* The id inside a hidden part's name (for the fresh name a taken one needs). */
static void id_of(const char *name, char *id, size_t len)
{
	const char *end = strrchr(name, '-');

	snprintf(id, len, "%.*s", (int)(end - (name + 6)), name + 6);
}

static void recover_file(const char *dir, const char *name, uint64_t *seq, struct files_recovery *r)
{
	char path[PATH_MAX], vis[NAME_MAX + 1], id[NAME_MAX + 1];
	off_t end = 0;
	struct stat st;
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		goto fail;
	}
	err = files_scan_members(fd, &end);
	if (err)
		goto fail;
	if (end < st.st_size) {
		if (ftruncate(fd, end)) {
			err = -errno;
			goto fail;
		}
		r->bytes_dropped += (uint64_t)(st.st_size - end);
	}
	if (end == 0) {
		close(fd);
		fd = -1;
		if (unlink(path)) {
			err = -errno;
			goto fail;
		}
		files_sync_dir(dir);
		r->removed++;
		pr_info("recovery: removed %s (%lld bytes, no complete gzip member)", path,
			(long long)st.st_size);
		return;
	}
	if (fsync(fd)) {
		err = -errno;
		goto fail;
	}
	close(fd);
	fd = -1;
	id_of(name, id, sizeof(id));
	err = files_rename_visible(dir, name, id, seq, vis, sizeof(vis));
	if (err)
		goto fail;
	files_sync_dir(dir);
	r->published++;
	pr_info("recovery: published %s/%s (%lld bytes; %lld bytes of a partial member cut)", dir,
		vis, (long long)end, (long long)(st.st_size - end));
	return;
fail:
	if (fd >= 0)
		close(fd);
	r->errors++;
	pr_warn("recovery: cannot finish %s: %s; left as it is", path, strerror(-err));
}

/* Calls fn for each subdirectory of `dir` whose name starts with `prefix`. */
static int each_dir(const char *dir, const char *prefix, char *sub, size_t len,
		    int (*fn)(const char *sub, void *ctx), void *ctx)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int err = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		struct stat st;

		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(sub, len, "%s/%s", dir, e->d_name);
		if (e->d_type != DT_DIR &&
		    (e->d_type != DT_UNKNOWN || stat(sub, &st) || !S_ISDIR(st.st_mode)))
			continue;
		if ((err = fn(sub, ctx)))
			break;
	}
	closedir(d);
	return err;
}

struct recover_ctx {
	const char *id;
	uint64_t seq; /* fresh numbers for names already taken */
	struct files_recovery r;
};

static int recover_hour(const char *dir, void *ctx)
{
	struct recover_ctx *c = ctx;
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;

	if (!d) {
		c->r.errors++;
		pr_warn("recovery: cannot list %s: %s", dir, strerror(errno));
		return 0;
	}
	/* names first: renaming while reading a directory may show an entry twice */
	while ((e = readdir(d))) {
		char **nn;

		if (!hidden_part(e->d_name, c->id))
			continue;
		nn = realloc(names, (n + 1) * sizeof(*nn));
		if (!nn || !(nn[n] = strdup(e->d_name))) {
			names = nn ? nn : names;
			c->r.errors++;
			break;
		}
		names = nn;
		n++;
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		recover_file(dir, names[i], &c->seq, &c->r);
		free(names[i]);
	}
	free(names);
	return 0;
}

static int recover_day(const char *dir, void *ctx)
{
	char sub[PATH_MAX];
	int err = each_dir(dir, "hr=", sub, sizeof(sub), recover_hour, ctx);

	if (err) {
		((struct recover_ctx *)ctx)->r.errors++;
		pr_warn("recovery: cannot list %s: %s", dir, strerror(-err));
	}
	return 0;
}

int files_recover(const char *dir, const char *collector_id, struct files_recovery *out, char *why,
		  size_t len)
{
	struct recover_ctx c = { .id = collector_id, .seq = files_seq_start() };
	char root[PATH_MAX], sub[PATH_MAX];
	int err;

	if (collector_id && files_check_id(collector_id)) {
		snprintf(why, len, "collector id \"%s\" cannot name files", collector_id);
		return -EINVAL;
	}
	snprintf(root, sizeof(root), "%s/flows", dir);
	err = each_dir(root, "dt=", sub, sizeof(sub), recover_day, &c);
	if (err == -ENOENT)
		err = 0;
	if (err) {
		snprintf(why, len, "recovery: cannot list %s: %s", root, strerror(-err));
		return err;
	}
	if (c.r.published || c.r.removed || c.r.errors)
		pr_info("recovery of %s: %llu hidden files published, %llu removed, %llu bytes of "
			"partial members cut, %llu left (errors)",
			root, (unsigned long long)c.r.published, (unsigned long long)c.r.removed,
			(unsigned long long)c.r.bytes_dropped, (unsigned long long)c.r.errors);
	if (out)
		*out = c.r;
	return (int)(c.r.published + c.r.removed);
}
