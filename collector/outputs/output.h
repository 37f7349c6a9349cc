/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * One writer's outputs, all or nothing: the Hive-partitioned files
 * (filesink), the Kafka topic (kafka_sink, shared by every writer) and the
 * optional plain JSON-lines file (sink).  A batch is in every enabled output
 * or in none, so a sender's retry never duplicates anything.
 */
#ifndef PODFLOW_COLLECTOR_OUTPUT_H
#define PODFLOW_COLLECTOR_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kafka_sink;
struct wire_batch;

struct output_opts {
	const char *data_dir;
	const char *name;  /* "w0", "late": the JSON-lines file is DATA_DIR/flows-<name>.jsonl */
	const char *label; /* for log lines: "worker 0", "late records" */
	bool files;	   /* DATA_DIR/flows/dt=../hr=../part-*.json.gz (docs/files.md) */
	const char *collector_id; /* with files */
	uint64_t files_max_bytes;
	uint64_t files_max_age_ns;
	bool jsonl;		  /* DATA_DIR/flows-<name>.jsonl too */
	bool null_sink;		  /* format and write nothing (benchmarks); Kafka still gets them */
	struct kafka_sink *kafka; /* shared, borrowed; NULL: no Kafka */
};

struct output;

/* NULL with errno set and one line in `why`. */
struct output *output__new(const struct output_opts *o, char *why, size_t len);
/* Publishes the open files (output__close), frees.  NULL is fine. */
void output__free(struct output *out);

/*
 * Writes the records of `b` (those with keep[i] when keep is not NULL) to
 * every enabled output, or to none.  0, or:
 *   -ENOBUFS  Kafka's queue is full, or the disk failed a moment ago (answer 429);
 *   -ENOSPC, -EDQUOT, -EROFS, -EACCES, -EIO ...  a file write failed (429: the
 *             sender backs off and retries; nothing of the batch is anywhere);
 *   -EMSGSIZE the batch can never fit Kafka's bound (413);
 *   other     -errno (503: -EIO from a fatal Kafka producer, -ENOENT no topic).
 * *bytes: JSON bytes written to the files (or the JSON-lines file).
 */
int output__write(struct output *out, const struct wire_batch *b, const bool *keep,
		  uint64_t *bytes);
/* The files failed a moment ago: answer 429 before reading a body (now: monotonic ns). */
bool output__backoff(const struct output *out, uint64_t now_ns);
/* Publishes files open for max_age; call at least once a second. */
void output__tick(struct output *out, uint64_t now_ns);
/* Publishes every open file (SIGTERM); 0 or the first -errno. */
int output__close(struct output *out);
struct filesink *output__files(struct output *out);

#endif /* PODFLOW_COLLECTOR_OUTPUT_H */
