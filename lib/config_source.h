/* SPDX-License-Identifier: BSD-2-Clause */
/* Where a binary's configuration comes from: its file and flags, loaded and reloaded. */
#ifndef PODFLOW_CONFIG_SOURCE_H
#define PODFLOW_CONFIG_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct metrics_writer;

struct config_source {
	const struct config_schema *schema;
	/* cross-key checks after the table's own, or NULL; 0 or -EINVAL with the key in `why` */
	int (*validate)(const void *cfg, char *why, size_t len);
	const char *path;	  /* --config FILE, or NULL */
	const char *const *flags; /* from config_parse_args: applied over the file, always */
	/*
	 * --config-optional: the file may be absent, read as no settings at
	 * all (the defaults and the flags), at start and at every reload.
	 * Only the file: its directory must exist, so a path mistyped by hand
	 * is still an error.  For a file mounted from an optional ConfigMap,
	 * an empty directory until the ConfigMap exists (docs/webhook.md).
	 */
	bool optional;
	bool absent; /* optional, and absent at the last load */
	bool loaded; /* a load succeeded once (the next ones are reloads) */
	uint64_t reloads_ok;
	uint64_t reloads_failed;
	bool last_ok; /* the last load or reload succeeded */
};

/*
 * Builds a configuration from defaults, the file and the flags, and
 * validates it.  0, or -EINVAL with one line in `why` naming file, line and
 * key (nothing to free then).  With `optional`, an absent file in a
 * directory that exists is no settings; the change either way is logged.
 */
int config_source_load(struct config_source *src, void *out, char *why, size_t len);

/*
 * The file changed (or may have): loads it again.  Rejected: logs why,
 * counts it, leaves `cfg` as it was and returns -1.  Otherwise swaps the
 * live keys' new values into `cfg` (keys that need a restart keep theirs
 * and are named in one warning), counts it, leaves the previous values in
 * `old` for the caller to compare and then config_free(), and returns how
 * many live keys changed.
 */
int config_source_reload(struct config_source *src, void *cfg, void *old);

/* PREFIX_config_reloads_total{result} and PREFIX_config_last_reload_success. */
void config_source_metrics(const struct config_source *src, const char *prefix,
			   struct metrics_writer *w);

#endif /* PODFLOW_CONFIG_SOURCE_H */
