/* SPDX-License-Identifier: BSD-2-Clause */
/* The sidecar's running state, shared by main.c and the admin callbacks. */
#ifndef PODFLOW_SIDECAR_H
#define PODFLOW_SIDECAR_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config_source.h"
#include "export.h"
#include "identity.h"
#include "sidecar_config.h"

struct admin;
struct capture;
struct cgroup_names;
struct config_watch;
struct flow_table;
struct jsonw;
struct metrics_writer;
struct netns_set;

struct sidecar {
	struct sidecar_config cfg; /* in force: defaults < file < flags, live keys reloaded */
	struct config_source src;  /* --config and the flags; reload counters */
	char scope[PATH_MAX];
	struct identity id;
	struct capture *cap;
	struct flow_table *table;
	bool table_per_connection; /* the mode the table was built for */
	struct cgroup_names *names;
	struct netns_set *netns;
	struct jsonw *jw;
	struct exporter *exp; /* --output http(s)://, else NULL */
	struct export_stats exp_final;
	FILE *out;
	int out_failed;
	struct admin *admin;
	struct config_watch *watch;
	int t_interval;
	int t_stats;
	int t_scope;
	uint64_t interval_start_ns;
	/* the scope cgroup as the programs see it (check_scope() in main.c) */
	uint64_t scope_id;	/* the cgroup the programs are attached to */
	bool scope_gone;	/* removed, or replaced and not re-attached yet: capture is blind */
	uint64_t scope_gone_ms; /* since when, wall clock */
	char scope_why[256];	/* why re-attaching failed, "" while it did not */
	uint64_t scope_removed; /* times found removed or replaced */
	uint64_t scope_reattached; /* times the programs were attached to a new one */
	/* user-space counters: the stats line and /metrics */
	uint64_t events;
	uint64_t records;
	uint64_t early_flushes;
	uint64_t walk_errors;
	uint64_t table_drops; /* cannot happen (see on_event); counted, not assumed */
};

/* admin_callbacks for the sidecar (sidecar_metrics.c); ctx is the struct sidecar. */
void sidecar_metrics(void *ctx, struct metrics_writer *w);
bool sidecar_ready(void *ctx, char *why, size_t whylen);
void sidecar_config_json(void *ctx, struct jsonw *jw);

#endif /* PODFLOW_SIDECAR_H */
