/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The attribution stage as the collector runs it: the attributor, and the
 * feeds that give it evidence besides heartbeats (the Kubernetes pod watch,
 * the Kafka IP events and the ranges other replicas share), wired together.
 * docs/attribution.md.
 */
#ifndef PODFLOW_COLLECTOR_ATTRIBUTION_H
#define PODFLOW_COLLECTOR_ATTRIBUTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct admin_args;
struct attributor;
struct collector_config;
struct jsonw;
struct metrics_writer;

struct attribution;

/*
 * Creates the attributor and, as configured, the pod watch (kube.api) and
 * the Kafka feed (kafka.brokers with a topic); nothing runs yet.  NULL with
 * errno set and one line in `why`.
 */
struct wire_batch;
/*
 * `write`/`write_ctx`: where the attributor's thread hands records decided
 * late (attr_opts.write: the output stage's outputs__write_late).  Unless
 * null_sink, the journal of held records (DATA_DIR/held, one writer per
 * each of `n_workers`) is opened and what a crash left in it is held
 * again (logged in one line) before this returns.
 */
struct attribution *attribution__new(const struct collector_config *cfg, uint32_t n_workers,
				     int (*write)(void *ctx, const struct wire_batch *b),
				     void *write_ctx, char *why, size_t len);
/* Starts the attributor's thread and the feeds.  0 or -errno with `why`. */
int attribution__start(struct attribution *s, char *why, size_t len);
/* What ingest hands its batches to. */
struct attributor *attribution__attributor(struct attribution *s);
/* Ingest worker i's journal writer (ingest_opts.journal); NULL: no journal. */
struct hold_journal_writer;
struct hold_journal_writer *attribution__journal_writer(struct attribution *s, uint32_t i);
/* The heartbeat verifier ingest proves heartbeats with; NULL: heartbeats trusted as sent. */
struct token_review;
struct token_review *attribution__verifier(struct attribution *s);
/* Live keys: max_delay, retention, heartbeat_grace, heartbeat_max_skew. */
void attribution__reload(struct attribution *s, const struct collector_config *cfg);
/* Every configured feed has caught up once (the pod watch synced, Kafka replayed). */
bool attribution__ready(struct attribution *s, char *why, size_t len);
void attribution__metrics(struct attribution *s, struct metrics_writer *w);
/* One line of the attribution counters, for the stats line. */
const char *attribution__format(struct attribution *s, char *buf, size_t len);
/* The admin endpoint's /ownership?ip=ADDR: 200, or 400 with an error object. */
int attribution__ownership(struct attribution *s, const struct admin_args *args, struct jsonw *jw);
/*
 * Stops the feeds, then decides what is still held back (as the evidence
 * allows, else unattributed) and writes it.  Call once ingest has stopped.
 */
void attribution__stop(struct attribution *s);
/* Stops first if needed, frees.  NULL is fine. */
void attribution__free(struct attribution *s);

#endif /* PODFLOW_COLLECTOR_ATTRIBUTION_H */
