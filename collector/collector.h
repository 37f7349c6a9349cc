/* SPDX-License-Identifier: BSD-2-Clause */
/* The collector's running state, shared by main.c and the admin callbacks. */
#ifndef PODFLOW_COLLECTOR_H
#define PODFLOW_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector_config.h"
#include "config_source.h"
#include "ingest.h"

#define COLLECTOR_MAX_WORKERS 256

struct admin;
struct config_watch;
struct jsonw;
struct metrics_writer;
struct attribution;
struct outputs;
struct peers;
struct token_file;
struct worker;
struct admin_args;
struct webhook;
struct insight;
struct insight_rebuild;
struct insight_kafka;
struct ipfix_listener;

struct collector {
	struct collector_config cfg; /* in force: defaults < file < flags, live keys reloaded */
	struct config_source src;    /* --config and the flags; reload counters */
	struct worker *workers[COLLECTOR_MAX_WORKERS];
	uint32_t n_workers;
	bool listening;		      /* every worker started */
	bool ingest_open;	      /* ingest beyond loopback, no token, no client CA */
	struct admin *admin;	      /* probes and /metrics; NULL: none */
	struct admin *api;	      /* /config, /ownership; NULL: none */
	struct token_file *api_token; /* the API's bearer token; NULL: none asked */
	struct webhook *webhook;      /* POST /mutate (webhook/webhook.h); NULL: none */
	struct config_watch *watch;
	struct attribution *attribution;  /* NULL when attribution.enabled is false */
	struct outputs *outputs;	  /* every writer, the Kafka producer (output.h) */
	struct peers *peers;		  /* connections per client address, every worker's */
	struct ingest_bounds bounds;	  /* record time bounds the workers read (live) */
	struct ingest_late_log *late_log; /* senders whose late heartbeats were logged */
	struct insight *insight;	  /* the /api/v1/ view (insight.h); NULL: insight off */
	struct insight_rebuild *insight_rebuild; /* reading the files back at start */
	struct insight_kafka *insight_kafka;	 /* source kafka: the flows topic's consumer */
	struct ipfix_listener *ipfix;		 /* IPFIX over UDP (docs/ipfix.md); NULL: none */
};

/* admin_callbacks for the collector (collector_metrics.c); ctx is the struct collector. */
void collector_metrics(void *ctx, struct metrics_writer *w);
bool collector_ready(void *ctx, char *why, size_t whylen);
void collector_config_json(void *ctx, struct jsonw *jw);
int collector_json(void *ctx, const char *path, const struct admin_args *args, struct jsonw *jw);
/* The API listener's authorize callback: Bearer <the api.token_file token>. */
bool collector_api_authorize(void *ctx, const char *authorization);

#endif /* PODFLOW_COLLECTOR_H */
