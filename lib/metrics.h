/* SPDX-License-Identifier: BSD-2-Clause */
/* Prometheus text exposition (format 0.0.4) and a fixed-bucket histogram. */
#ifndef PODFLOW_METRICS_H
#define PODFLOW_METRICS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Programs keep their own counters; at scrape time a collect callback
 * writes them through a metrics_writer, which does the format: HELP and TYPE
 * once per family, label escaping (backslash, quote, newline), samples of
 * one family together, integers printed exactly, +Inf buckets, _sum and
 * _count.  Names follow Prometheus conventions (podflow_<component>_...,
 * _total for counters, base units _seconds / _bytes); labels never carry
 * IPs, ports or any other per-flow value.
 */
enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
};

struct metrics_writer;

struct metrics_writer *metrics_writer__new(void);
void metrics_writer__free(struct metrics_writer *w);
/* Empties the output (keeps the memory). */
void metrics_writer__reset(struct metrics_writer *w);
/* The text so far; valid until the next call on w. */
const char *metrics_writer__text(const struct metrics_writer *w, size_t *len);
/*
 * 0, or the first error (sticky until reset): -ENOMEM if the output could
 * not grow, -EINVAL for a refused name, label or sample, -EEXIST for a
 * repeated family.
 */
int metrics_writer__error(const struct metrics_writer *w);

/*
 * Starts a family; every sample written until the next family belongs to
 * it.  A second family with the same name is a programming error: it is
 * ignored, with -EEXIST from metrics_writer__error().
 */
void metrics_writer__family(struct metrics_writer *w, const char *name, enum metric_type type,
			    const char *help);

/*
 * One sample of the current counter or gauge family.  `labels` is NULL or
 * a NULL-terminated list of name, value pairs: { "reason", "ring_full", NULL }.
 */
void metrics_writer__u64(struct metrics_writer *w, const char *const *labels, uint64_t value);
void metrics_writer__double(struct metrics_writer *w, const char *const *labels, double value);

/* A family of one unlabelled sample: the common case. */
void metrics_writer__counter(struct metrics_writer *w, const char *name, const char *help,
			     uint64_t value);
void metrics_writer__gauge(struct metrics_writer *w, const char *name, const char *help,
			   uint64_t value);

/* A label list for the calls above: METRIC_LABELS("reason", "ring_full"). */
#define METRIC_LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/*
 * A histogram with fixed upper bounds (seconds, ascending), lock-free to
 * observe from any thread.  At most METRICS_MAX_BUCKETS bounds.
 */
#define METRICS_MAX_BUCKETS 24

struct metrics_histogram {
	uint32_t n_bounds;
	double bounds[METRICS_MAX_BUCKETS];
	uint64_t counts[METRICS_MAX_BUCKETS + 1]; /* per bucket (not cumulative); last = +Inf */
	uint64_t sum_ns;			  /* of the observed values, in ns */
	uint64_t count;
};

/* 0, or -EINVAL when the bounds are not ascending, not finite and >= 0, or too many. */
int metrics_histogram_init(struct metrics_histogram *h, const double *bounds, uint32_t n);
/* Records one observation (nanoseconds).  Any thread (atomic adds). */
void metrics_histogram_observe(struct metrics_histogram *h, uint64_t value_ns);
/* Writes the current histogram family's samples: cumulative _bucket, _sum (s), _count. */
void metrics_writer__histogram(struct metrics_writer *w, const char *const *labels,
			       const struct metrics_histogram *h);

#endif /* PODFLOW_METRICS_H */
