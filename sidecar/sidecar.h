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
#include "ipfix_export.h"
#include "metrics.h"
#include "sidecar_config.h"

struct admin;
struct capture;
struct cgroup_names;
struct config_watch;
struct interval;
struct jsonw;
struct metrics_writer;
struct netns_set;

struct sidecar {
	struct sidecar_config cfg; /* in force: defaults < file < flags, live keys reloaded */
	struct config_source src;  /* --config and the flags; reload counters */
	char scope[PATH_MAX];
	struct identity id;
	struct capture *cap;
	struct interval *iv; /* events in, records out: its counters feed the stats line too */
	struct cgroup_names *names;
	struct netns_set *netns;
	struct exporter *exp; /* --output http(s)://, else NULL */
	struct export_stats exp_final;
	struct ipfix_exporter *ipx; /* --output udp://, else NULL */
	struct ipfix_export_stats ipx_final;
	FILE *out; /* --output - or FILE, else NULL */
	struct admin *admin;
	struct config_watch *watch;
	int t_interval;
	int t_stats;
	int t_scope;
	/* the scope cgroup as the programs see it (check_scope() in main.c) */
	uint64_t scope_id;	/* the cgroup the programs are attached to */
	bool scope_gone;	/* removed, or replaced and not re-attached yet: capture is blind */
	uint64_t scope_gone_ms; /* since when, wall clock */
	char scope_why[256];	/* why re-attaching failed, "" while it did not */
	uint64_t scope_removed; /* times found removed or replaced */
	uint64_t scope_reattached; /* times the programs were attached to a new one */
	/* the stats line and /metrics, with the interval's (interval__stats()) */
	uint64_t walk_errors;
	/* the interval walks' cost (walk_sockets() in main.c): wall time and our CPU time */
	struct metrics_histogram walk_duration;
	uint64_t walk_cpu_ns;  /* this thread's user+sys in walks, the iter programs included */
	uint64_t walk_last_ns; /* wall time of the last walk */
	uint64_t walk_max_ns;  /* of any walk since start */
};

/* admin_callbacks for the sidecar (sidecar_metrics.c); ctx is the struct sidecar. */
void sidecar_metrics(void *ctx, struct metrics_writer *w);
bool sidecar_ready(void *ctx, char *why, size_t whylen);
void sidecar_config_json(void *ctx, struct jsonw *jw);

#endif /* PODFLOW_SIDECAR_H */
