/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The output stage: the one owner of every writer.  Per writer (each ingest
 * worker, and one for the records the attributor decides late) the
 * Hive-partitioned files (files.h) and the optional plain JSON-lines file
 * (jsonl.h); for all of them the Kafka producer (kafka_sink.h), the
 * start-up recovery of the files, the collector id, the timer that
 * publishes files by age, the metrics and the exit.  A batch is in every
 * enabled output or in none, so a sender's retry never duplicates anything.
 */
#ifndef PODFLOW_COLLECTOR_OUTPUT_H
#define PODFLOW_COLLECTOR_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "files.h"

struct insight;
struct kafka_sink_opts;
struct metrics_writer;
struct wire_batch;

#define OUTPUTS_TICK_NS	     (100ull * 1000 * 1000) /* the timer: files' age, failed publishes */
#define OUTPUTS_FLUSH_MIN_MS 100 /* Kafka's flush at exit, however late it comes */

struct outputs_opts {
	const char *data_dir;
	bool files;		  /* DATA_DIR/flows/dt=../hr=../part-*.json.gz (docs/files.md) */
	const char *collector_id; /* in the files' names; NULL: the host name */
	uint64_t files_max_bytes; /* 0: the default */
	uint64_t files_max_age_ns;
	enum files_compressor files_compressor;
	bool jsonl;	  /* DATA_DIR/flows-w<N>.jsonl and flows-late.jsonl too */
	bool null_sink;	  /* format and write nothing (benchmarks); Kafka still gets them */
	uint32_t writers; /* one per ingest worker (at least 1) */
	/* and one per IPFIX worker (docs/ipfix.md), after them: flows-ipfix<N>.jsonl */
	uint32_t ipfix_writers;
	bool late; /* and one for the records the attributor decides late */
	/* the flows topic; NULL: no Kafka.  Copied by kafka_sink__new. */
	const struct kafka_sink_opts *kafka;
	/* the insight view, handed every batch once written (insight.h); NULL: none */
	struct insight *insight;
};

struct outputs;
/* One writer's outputs: only its owner's thread writes through it. */
struct output_writer;

/*
 * Finishes the files a crash left (files_recover.h, logged, kept for the
 * metrics), creates the Kafka producer and every writer, and starts the
 * timer thread.  NULL with errno set and one line in `why`.
 */
struct outputs *outputs__new(const struct outputs_opts *o, char *why, size_t len);
/*
 * The exit: stops the timer, publishes every writer's open files (their
 * writeback started together first), then flushes Kafka until deadline_ns
 * (CLOCK_MONOTONIC; 0, or already past: OUTPUTS_FLUSH_MIN_MS), what is left
 * then purged and counted.  Call once no writer writes any more (ingest
 * stopped, the attributor's last records handed over).  0, or the first
 * -errno of a file that could not be published (it stays hidden: the next
 * start's recovery finishes it).
 */
int outputs__close(struct outputs *o, uint64_t deadline_ns);
/* Closes first if needed (with the minimum flush), frees.  NULL is fine. */
void outputs__free(struct outputs *o);

/*
 * Worker i's writer, i < opts.writers; it hands it to its ingest.  IPFIX
 * worker k's is writer opts.writers + k.
 */
struct output_writer *outputs__writer(struct outputs *o, uint32_t i);

/*
 * Writes the records of `b` (those with keep[i] when keep is not NULL) to
 * every enabled output of writer `w`, or to none: the JSON-lines file and
 * the files first, then Kafka; if Kafka refuses, the files and the
 * JSON-lines file are taken back.  On w's owner's thread only.  0, or:
 *   -ENOBUFS  Kafka's queue is full, or the disk failed a moment ago (429);
 *   -ENOSPC, -EDQUOT, -EROFS, -EACCES, -EPERM, -EIO  a file write failed
 *             (429: the sender backs off and retries);
 *   -EMSGSIZE the batch can never fit Kafka's bound (413);
 *   other     -errno (503: -EIO from a fatal Kafka producer is 429 as any
 *             EIO, -ENOENT no topic, -ENOMEM).
 * Whatever it returns but 0, nothing of the batch is in any output.
 * *bytes: JSON bytes written to the files (or the JSON-lines file).
 */
int outputs__write(struct outputs *o, struct output_writer *w, const struct wire_batch *b,
		   const bool *keep, uint64_t *bytes);
/*
 * The records the attributor decided late (every record of `b`), through
 * the late writer, all or nothing as outputs__write; on the attributor's
 * thread only (its attr_opts.write).  -EINVAL without opts.late.
 */
int outputs__write_late(struct outputs *o, const struct wire_batch *b);
/* w's files failed a moment ago: answer 429 before reading a body (now: monotonic ns). */
bool outputs__backoff(const struct outputs *o, const struct output_writer *w, uint64_t now_ns);

/*
 * What a failed write earns (the -errno of outputs__write): 429 when
 * waiting helps (Kafka's queue full, a disk full, read-only or failing:
 * the sender backs off and retries, nothing of the batch was kept), 413
 * when it never will fit, else 503; and the reason line for the answer.
 */
int outputs_status(int err, char *reason, size_t len);

/* Every output's families: podflow_collector_files_* and podflow_collector_kafka_sink_*. */
void outputs__metrics(struct outputs *o, struct metrics_writer *mw);
/* False (and why) once the Kafka producer failed for good. */
bool outputs__ready(struct outputs *o, char *why, size_t len);
/* "DIR/flows/ (gzip JSON lines) ...", the outputs in force, for the ready line. */
const char *outputs__describe(const struct outputs *o, char *buf, size_t len);

#endif /* PODFLOW_COLLECTOR_OUTPUT_H */
