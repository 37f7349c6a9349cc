// SPDX-License-Identifier: BSD-2-Clause
/* Where a binary's configuration comes from: its file and flags, loaded and reloaded. */
#include "config_source.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "metrics.h"

/*
 * With --config-optional: 1 when the file is absent and its directory
 * exists (no settings), 0 when the file is there (or cannot be told: the
 * read says why), -errno with `why` when the directory is not there.
 */
static int optional_absent(const char *path, char *why, size_t len)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	struct stat st;
	int err;

	if (stat(path, &st) == 0 || errno != ENOENT)
		return 0;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return 1;
	err = stat(dir, &st) ? -errno : -ENOTDIR;
	snprintf(why, len,
		 "--config %s: its directory %s: %s (with --config-optional only the file may be "
		 "absent)",
		 path, dir, strerror(-err));
	return err;
}

int config_source_load(struct config_source *src, void *out, char *why, size_t len)
{
	const char *path = src->path;
	bool absent = false;
	int err;

	if (path && src->optional) {
		err = optional_absent(path, why, len);
		if (err < 0)
			return err;
		absent = err == 1;
		if (absent)
			path = NULL;
	}
	err = config_build(src->schema, out, path, src->flags, why, len);
	if (err)
		return err;
	err = src->validate ? src->validate(out, why, len) : 0;
	if (!err) {
		if (absent && (!src->loaded || !src->absent))
			pr_info("--config %s is absent (--config-optional): the defaults and flags "
				"are in force until it appears",
				src->path);
		src->absent = absent;
		src->loaded = true;
		src->last_ok = true;
		return 0;
	}
	config_free(src->schema, out);
	/* the table's checks name file and line; these name the key only */
	if (src->path) {
		char tmp[1024];

		snprintf(tmp, sizeof(tmp), "%s: %s", src->path, why);
		snprintf(why, len, "%s", tmp);
	}
	return err;
}

int config_source_reload(struct config_source *src, void *cfg, void *old)
{
	char why[2048], restart[1024];
	int changed, err;
	/* the loaded copy lives on the heap: the binaries' structs are not known here */
	void *loaded = calloc(1, src->schema->size);

	if (!loaded || config_copy(src->schema, old, cfg)) {
		free(loaded);
		src->reloads_failed++;
		src->last_ok = false;
		pr_warn("configuration rejected: out of memory; the running configuration stays in "
			"force");
		return -1;
	}
	err = config_source_load(src, loaded, why, sizeof(why));
	if (err) {
		config_free(src->schema, old);
		free(loaded);
		src->reloads_failed++;
		src->last_ok = false;
		pr_warn("configuration rejected: %s; the running configuration stays in force",
			why);
		return -1;
	}
	changed = config_merge_live(src->schema, cfg, loaded, restart, sizeof(restart));
	config_free(src->schema, loaded);
	free(loaded);
	if (changed < 0) {
		/* cfg is whole, with some of the new values: the caller compares with old */
		src->reloads_failed++;
		src->last_ok = false;
		pr_warn("configuration %s: out of memory applying it; part of it is in force",
			src->path);
		return 0;
	}
	src->reloads_ok++;
	src->last_ok = true;
	if (changed)
		pr_info("configuration %s reloaded: %d setting%s changed", src->path, changed,
			changed == 1 ? "" : "s");
	if (restart[0])
		pr_warn("configuration %s: %s changed but cannot change while running: restart "
			"required (the running values stay)",
			src->path, restart);
	return changed;
}

void config_source_metrics(const struct config_source *src, const char *prefix,
			   struct metrics_writer *w)
{
	char name[128];

	snprintf(name, sizeof(name), "%s_config_reloads_total", prefix);
	metrics_writer__family(w, name, METRIC_COUNTER, "Configuration reloads, by result.");
	metrics_writer__u64(w, (const char *const[]){ "result", "success", NULL }, src->reloads_ok);
	metrics_writer__u64(w, (const char *const[]){ "result", "failure", NULL },
			    src->reloads_failed);
	snprintf(name, sizeof(name), "%s_config_last_reload_success", prefix);
	metrics_writer__family(w, name, METRIC_GAUGE,
			       "1 when the last configuration load succeeded, 0 when it was "
			       "rejected.");
	metrics_writer__u64(w, NULL, src->last_ok);
}
