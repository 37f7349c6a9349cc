/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The attribution stage as the collector runs it: the attributor, and the
 * feeds that give it evidence besides heartbeats (the Kubernetes pod watch,
 * the Kafka IP events and the ranges other replicas share), wired together.
 * docs/attribution.md.
 */
#ifndef PODFLOW_COLLECTOR_SOURCES_H
#define PODFLOW_COLLECTOR_SOURCES_H

#include <stdbool.h>
#include <stddef.h>

struct admin_args;
struct attributor;
struct collector_config;
struct jsonw;
struct metrics_writer;

struct sources;

/*
 * Creates the attributor and, as configured, the pod watch (kube.api) and
 * the Kafka feed (kafka.brokers with a topic); nothing runs yet.  NULL with
 * errno set and one line in `why`.
 */
struct wire_batch;
/*
 * `write`/`write_ctx`: where the attributor's thread writes records decided
 * late (attr_opts.write); `tick` is called on that thread every 250 ms.
 */
struct sources *sources__new(const struct collector_config *cfg,
			     int (*write)(void *ctx, const struct wire_batch *b),
			     void (*tick)(void *ctx), void *write_ctx, char *why, size_t len);
/* Starts the attributor's thread and the feeds.  0 or -errno with `why`. */
int sources__start(struct sources *s, char *why, size_t len);
/* What ingest hands its batches to. */
struct attributor *sources__attributor(struct sources *s);
/* Live keys: max_delay, retention, heartbeat_grace, heartbeat_max_skew. */
void sources__reload(struct sources *s, const struct collector_config *cfg);
/* Every configured feed has caught up once (the pod watch synced, Kafka replayed). */
bool sources__ready(struct sources *s, char *why, size_t len);
void sources__metrics(struct sources *s, struct metrics_writer *w);
/* One line of the attribution counters, for the stats line. */
const char *sources__format(struct sources *s, char *buf, size_t len);
/* The admin endpoint's /ownership?ip=ADDR: 200, or 400 with an error object. */
int sources__ownership(struct sources *s, const struct admin_args *args, struct jsonw *jw);
/*
 * Stops the feeds, then decides what is still held back (as the evidence
 * allows, else unattributed) and writes it.  Call once ingest has stopped.
 */
void sources__stop(struct sources *s);
/* Stops first if needed, frees.  NULL is fine. */
void sources__free(struct sources *s);

#endif /* PODFLOW_COLLECTOR_SOURCES_H */
