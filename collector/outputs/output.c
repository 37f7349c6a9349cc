// SPDX-License-Identifier: BSD-2-Clause
/* The output stage: every writer, the Kafka producer, recovery, the age timer, metrics, the exit. */
#define _GNU_SOURCE
#include "output.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "files.h"
#include "files_recover.h"
#include "insight.h"
#include "jsonl.h"
#include "kafka_sink.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"

#define L METRIC_LABELS

/*
 * One writer's outputs.  Its owner's thread (a worker, or the attributor's
 * for the late writer) takes `lock` for each batch, the stage's timer once a
 * tick to publish aged files: two threads at most, the timer's turn a few
 * microseconds unless a file is due, so the hot path is uncontended.
 */
struct output_writer {
	pthread_mutex_t lock;
	struct files *files; /* NULL: off */
	struct jsonl *jsonl; /* NULL: off */
	char label[32];
} __attribute__((aligned(64))); /* no cache line shared between two workers' writers */

struct outputs {
	struct output_writer *w; /* the workers', then the late writer's */
	uint32_t n_w, n_workers; /* every writer; those of ingest workers, IPFIX ones included */
	uint32_t n_http;	 /* of those, the HTTP/2 workers' */
	bool late;
	struct kafka_sink *kafka;  /* NULL: off; shared by every writer (thread-safe) */
	struct files_group *group; /* the writers' file numbers and error episode */
	bool files;		   /* the files' families go on /metrics */
	enum files_compressor files_compressor;
	bool jsonl, null_sink;
	struct insight *insight;	 /* the view tapping what was written; NULL: none */
	struct files_recovery recovered; /* at start-up, for the metrics */
	char id[FILES_ID_MAX + 8];
	char data_dir[4096]; /* for the ready line */
	char topic[256];

	pthread_t thread;
	pthread_mutex_t tlock; /* stop, with tcond */
	pthread_cond_t tcond;
	bool stop, started, closed;
};

/* ---- writers ---------------------------------------------------------------------- */

static int writer_init(struct outputs *s, struct output_writer *w, const struct outputs_opts *o,
		       const char *name, const char *label, char *why, size_t len)
{
	snprintf(w->label, sizeof(w->label), "%s", label);
	if (o->files) {
		struct files_opts fo = {
			.dir = o->data_dir,
			.collector_id = s->id,
			.label = w->label,
			.max_bytes = o->files_max_bytes,
			.max_age_ns = o->files_max_age_ns,
			.compressor = o->files_compressor,
			.null = o->null_sink,
			.group = s->group,
		};

		w->files = files__new(&fo, why, len);
		if (!w->files)
			return -errno;
	}
	if (o->jsonl) {
		char file[64];

		snprintf(file, sizeof(file), "flows-%s.jsonl", name);
		w->jsonl = jsonl__new(o->data_dir, file, o->null_sink, why, len);
		if (!w->jsonl)
			return -errno;
	}
	return 0;
}

/* The batch just written to the JSON-lines file, taken back out (another output failed). */
static void take_back_jsonl(struct output_writer *w, uint64_t mark)
{
	if (w->jsonl && jsonl__rollback(w->jsonl, mark))
		pr_warn("%s: cannot take a failed batch back out of %s: it may be there twice "
			"after the retry",
			w->label, jsonl__path(w->jsonl));
}

/*
 * All or nothing without undoing Kafka (which cannot be undone): the
 * JSON-lines file and the files are written first, then the records are
 * handed to Kafka; if Kafka refuses them (its queue full), the files and
 * the JSON-lines file are taken back, and the sender retries the batch.
 * Under w->lock.
 */
static int write_locked(struct outputs *s, struct output_writer *w, const struct wire_batch *b,
			const bool *keep, uint64_t now, uint64_t *bytes)
{
	uint64_t mark = 0;
	int err;

	if (w->files && files__backoff(w->files, now))
		return -ENOBUFS; /* the disk failed a moment ago: back off at once */
	if (w->jsonl) {
		mark = jsonl__mark(w->jsonl);
		err = jsonl__write(w->jsonl, b, keep, bytes);
		if (err)
			return err;
	}
	if (w->files) {
		uint64_t fb = 0;

		err = files__write(w->files, b, keep, now, &fb);
		if (err) {
			take_back_jsonl(w, mark);
			*bytes = 0;
			return err;
		}
		*bytes = fb;
	}
	if (s->kafka) {
		err = kafka_sink__write(s->kafka, b->records, b->n_records, keep);
		if (err) {
			if (w->files && files__undo(w->files))
				pr_warn("%s: a batch Kafka refused stays in the files (set aside "
					"and cut before they are published)",
					w->label);
			take_back_jsonl(w, mark);
			*bytes = 0;
			return err;
		}
	}
	return 0;
}

int outputs__write(struct outputs *o, struct output_writer *w, const struct wire_batch *b,
		   const bool *keep, uint64_t *bytes)
{
	bool any = false;
	int err;

	*bytes = 0;
	for (uint32_t i = 0; i < b->n_records && !any; i++)
		any = !keep || keep[i];
	if (!any)
		return 0;
	pthread_mutex_lock(&w->lock);
	err = write_locked(o, w, b, keep, clock_mono_ns(), bytes);
	pthread_mutex_unlock(&w->lock);
	/* the insight view sees what is in the outputs, once: a refused batch comes again */
	if (!err && o->insight)
		insight__add_records(o->insight, b->records, b->n_records, keep,
				     (uint64_t)clock_wall_ms());
	return err;
}

int outputs__write_late(struct outputs *o, const struct wire_batch *b)
{
	uint64_t bytes;

	if (!o->late)
		return -EINVAL;
	return outputs__write(o, &o->w[o->n_workers], b, NULL, &bytes);
}

bool outputs__backoff(const struct outputs *o, const struct output_writer *w, uint64_t now_ns)
{
	(void)o;
	/* the writer's own thread set it: no lock needed to read it back */
	return w->files && files__backoff(w->files, now_ns);
}

struct output_writer *outputs__writer(struct outputs *o, uint32_t i)
{
	return i < o->n_workers ? &o->w[i] : NULL;
}

int outputs_status(int err, char *reason, size_t len)
{
	int status;

	switch (-err) {
	case ENOBUFS:
	case ENOSPC:
	case EDQUOT:
	case EROFS:
	case EACCES:
	case EPERM:
	case EIO:
		status = 429;
		break;
	case EMSGSIZE:
		status = 413;
		break;
	default:
		status = 503;
		break;
	}
	snprintf(reason, len, "%s",
		 status == 413	   ? "the batch is too large for the Kafka output's queue"
		 : err == -ENOBUFS ? "the collector's outputs are full or failing: retry later"
				   : "the collector cannot write its output now: retry later");
	return status;
}

/* ---- the timer -------------------------------------------------------------------- */

/* Publishes the files open for their max age (and those a batch filled), retries failed publishes. */
static void tick(struct outputs *s)
{
	for (uint32_t i = 0; i < s->n_w; i++) {
		struct output_writer *w = &s->w[i];

		if (!w->files)
			continue;
		pthread_mutex_lock(&w->lock);
		files__tick(w->files, clock_mono_ns()); /* failures: counted, logged, retried */
		pthread_mutex_unlock(&w->lock);
	}
}

/*
 * Ticks every OUTPUTS_TICK_NS (the next tick a full period after a late
 * one: a long publish is not caught up on) until stop_timer.
 */
static void *run(void *arg)
{
	struct outputs *s = arg;
	uint64_t next = clock_mono_ns() + OUTPUTS_TICK_NS, now;

	pthread_mutex_lock(&s->tlock);
	while (!s->stop) {
		struct timespec until = { .tv_sec = (time_t)(next / 1000000000ull),
					  .tv_nsec = (long)(next % 1000000000ull) };

		/* woken early (stop, or spuriously): wait on for the same deadline */
		if (pthread_cond_timedwait(&s->tcond, &s->tlock, &until) != ETIMEDOUT)
			continue;
		pthread_mutex_unlock(&s->tlock);
		tick(s);
		now = clock_mono_ns();
		next =
		    next + OUTPUTS_TICK_NS > now ? next + OUTPUTS_TICK_NS : now + OUTPUTS_TICK_NS;
		pthread_mutex_lock(&s->tlock);
	}
	pthread_mutex_unlock(&s->tlock);
	return NULL;
}

static void stop_timer(struct outputs *s)
{
	if (!s->started)
		return;
	pthread_mutex_lock(&s->tlock);
	s->stop = true;
	pthread_cond_signal(&s->tcond);
	pthread_mutex_unlock(&s->tlock);
	pthread_join(s->thread, NULL);
	s->started = false;
}

/* ---- lifecycle -------------------------------------------------------------------- */

/* The files a previous run left hidden, finished before any writer of ours opens one. */
static int recover(struct outputs *s, const char *dir, char *why, size_t len)
{
	int n = files_recover(dir, s->id, &s->recovered, why, len);

	if (n < 0)
		return n;
	if (n)
		pr_info("files: finished %llu and removed %llu hidden files a previous run left "
			"(%llu bytes of unfinished batches cut)",
			(unsigned long long)s->recovered.published,
			(unsigned long long)s->recovered.removed,
			(unsigned long long)s->recovered.bytes_dropped);
	return 0;
}

struct outputs *outputs__new(const struct outputs_opts *o, char *why, size_t len)
{
	struct outputs *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;
	int err = -ENOMEM;

	if (!s) {
		snprintf(why, len, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	s->n_http = o->writers ? o->writers : 1;
	s->n_workers = s->n_http + o->ipfix_writers;
	s->late = o->late;
	s->n_w = s->n_workers + (o->late ? 1 : 0);
	s->files = o->files;
	s->files_compressor = o->files_compressor;
	s->jsonl = o->jsonl;
	s->null_sink = o->null_sink;
	s->insight = o->insight;
	pthread_mutex_init(&s->tlock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->tcond, &ca);
	pthread_condattr_destroy(&ca);
	if (o->collector_id)
		snprintf(s->id, sizeof(s->id), "%s", o->collector_id);
	else
		files_default_id(s->id, sizeof(s->id));
	snprintf(s->data_dir, sizeof(s->data_dir), "%s", o->data_dir ? o->data_dir : "");
	s->group = files_group__new();
	s->w = aligned_alloc(__alignof__(*s->w), s->n_w * sizeof(*s->w));
	if (s->w) {
		memset(s->w, 0, s->n_w * sizeof(*s->w));
		for (uint32_t i = 0; i < s->n_w; i++)
			pthread_mutex_init(&s->w[i].lock, NULL);
	}
	if (!s->group || !s->w) {
		snprintf(why, len, "out of memory");
		goto fail;
	}
	if (o->files && !o->null_sink && (err = recover(s, o->data_dir, why, len)))
		goto fail;
	if (o->kafka) {
		char w[512];

		snprintf(s->topic, sizeof(s->topic), "%s",
			 o->kafka->topic && *o->kafka->topic ? o->kafka->topic
							     : KAFKA_SINK_DEFAULT_TOPIC);
		s->kafka = kafka_sink__new(o->kafka, w, sizeof(w));
		if (!s->kafka) {
			err = -errno;
			snprintf(why, len, "sinks.kafka: %s", w);
			goto fail;
		}
	}
	for (uint32_t i = 0; i < s->n_w; i++) {
		char name[16], label[32];

		if (i < s->n_http) {
			snprintf(name, sizeof(name), "w%u", i);
			snprintf(label, sizeof(label), "worker %u", i);
		} else if (i < s->n_workers) {
			snprintf(name, sizeof(name), "ipfix%u", i - s->n_http);
			snprintf(label, sizeof(label), "IPFIX worker %u", i - s->n_http);
		} else {
			snprintf(name, sizeof(name), "late");
			snprintf(label, sizeof(label), "late records");
		}
		err = writer_init(s, &s->w[i], o, name, label, why, len);
		if (err)
			goto fail;
	}
	err = -pthread_create(&s->thread, NULL, run, s);
	if (err) {
		snprintf(why, len, "outputs: cannot start the timer thread: %s", strerror(-err));
		goto fail;
	}
	s->started = true;
	return s;
fail:
	s->closed = true; /* nothing was written: nothing to publish or flush */
	outputs__free(s);
	errno = -err;
	return NULL;
}

int outputs__close(struct outputs *o, uint64_t deadline_ns)
{
	uint64_t now;
	int first = 0, err;

	if (!o || o->closed)
		return 0;
	o->closed = true;
	stop_timer(o);
	/* every writer's writeback at once: the fsyncs below then overlap, not queue */
	for (uint32_t i = 0; i < o->n_w; i++)
		files__writeback(o->w[i].files);
	for (uint32_t i = 0; i < o->n_w; i++) {
		err = o->w[i].files ? files__close(o->w[i].files) : 0;
		if (!err)
			continue;
		if (!first)
			first = err;
		pr_warn("%s: some files could not be published; the next start finishes them",
			o->w[i].label);
	}
	if (o->kafka) {
		/* what is still undelivered then is purged, logged and counted by the sink */
		now = clock_mono_ns();
		kafka_sink__flush(o->kafka, deadline_ns > now + OUTPUTS_FLUSH_MIN_MS * 1000000ull
						? (int)((deadline_ns - now) / 1000000)
						: OUTPUTS_FLUSH_MIN_MS);
	}
	return first;
}

void outputs__free(struct outputs *o)
{
	if (!o)
		return;
	outputs__close(o, 0);
	stop_timer(o);
	for (uint32_t i = 0; o->w && i < o->n_w; i++) {
		files__free(o->w[i].files);
		jsonl__free(o->w[i].jsonl);
		pthread_mutex_destroy(&o->w[i].lock);
	}
	kafka_sink__free(o->kafka);
	files_group__free(o->group);
	free(o->w);
	pthread_mutex_destroy(&o->tlock);
	pthread_cond_destroy(&o->tcond);
	free(o);
}

/* ---- what it tells ---------------------------------------------------------------- */

/* Every writer's files (the workers' and the late writer's), summed; recovery's counts. */
static void files_metrics(struct outputs *o, struct metrics_writer *mw)
{
	const struct files_recovery *r = &o->recovered;
	struct files_stats s = { 0 }, one;

	for (uint32_t i = 0; i < o->n_w; i++) {
		if (!o->w[i].files)
			continue;
		files__stats(o->w[i].files, &one);
		files_stats_sum(&s, &one);
	}
	metrics_writer__counter(mw, "podflow_collector_files_published_total",
				"Files renamed into place (recovery's not included).",
				s.files_published);
	metrics_writer__family(mw, "podflow_collector_files_rotations_total", METRIC_COUNTER,
			       "Why files were published.");
	for (int i = 0; i < FILES_ROT__COUNT; i++)
		metrics_writer__u64(mw, L("reason", files_rotation_name(i)), s.rotations[i]);
	metrics_writer__gauge(mw, "podflow_collector_files_open", "Hidden files open now.",
			      s.files_open);
	metrics_writer__counter(mw, "podflow_collector_files_records_total", "Records written.",
				s.records);
	metrics_writer__counter(mw, "podflow_collector_files_batches_total",
				"Batches written (one gzip member per hour each).", s.batches);
	metrics_writer__counter(mw, "podflow_collector_files_bytes_total",
				"JSON bytes, before compression.", s.bytes);
	metrics_writer__counter(mw, "podflow_collector_files_compressed_bytes_total",
				"Bytes written to the files.", s.bytes_compressed);
	metrics_writer__family(mw, "podflow_collector_files_write_errors_total", METRIC_COUNTER,
			       "Batches the files refused (nothing of them kept; answered 429).");
	for (int i = 0; i < FILES_ERR__COUNT; i++)
		metrics_writer__u64(mw, L("class", files_err_name(i)), s.write_errors[i]);
	metrics_writer__family(mw, "podflow_collector_files_publish_errors_total", METRIC_COUNTER,
			       "fsync, rename or directory fsync failures (retried).");
	for (int i = 0; i < FILES_ERR__COUNT; i++)
		metrics_writer__u64(mw, L("class", files_err_name(i)), s.publish_errors[i]);
	metrics_writer__family(mw, "podflow_collector_files_recovered_total", METRIC_COUNTER,
			       "Hidden files a previous run left, finished at start-up.");
	metrics_writer__u64(mw, L("action", "published"), r->published);
	metrics_writer__u64(mw, L("action", "removed"), r->removed);
	metrics_writer__u64(mw, L("action", "error"), r->errors);
	metrics_writer__counter(mw, "podflow_collector_files_recovered_cut_bytes_total",
				"Bytes of unfinished batches cut at start-up.", r->bytes_dropped);
}

void outputs__metrics(struct outputs *o, struct metrics_writer *mw)
{
	if (o->files)
		files_metrics(o, mw);
	if (o->kafka)
		kafka_sink__metrics(o->kafka, mw);
}

bool outputs__ready(struct outputs *o, char *why, size_t len)
{
	struct kafka_sink_stats ks;

	if (!o->kafka)
		return true;
	kafka_sink__stats(o->kafka, &ks);
	if (!ks.fatal)
		return true;
	snprintf(why, len, "the Kafka producer of %s failed for good: %s", o->topic, ks.last_error);
	return false;
}

const char *outputs__describe(const struct outputs *o, char *buf, size_t len)
{
	bool files = !o->null_sink && o->files, jsonl = !o->null_sink && o->jsonl;
	const char *gz = o->files_compressor == FILES_ISAL ? "/flows/ (gzip JSON lines, ISA-L)"
							   : "/flows/ (gzip JSON lines)";

	snprintf(buf, len, "%s%s%s%s%s%s%s", o->null_sink ? "null sink, nothing written" : "",
		 files ? o->data_dir : "", files ? gz : "", jsonl ? " DATA_DIR/flows-*.jsonl" : "",
		 o->kafka ? " Kafka topic " : "", o->kafka ? o->topic : "",
		 !o->null_sink && !files && !jsonl && !o->kafka ? "none" : "");
	return buf;
}
