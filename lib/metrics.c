// SPDX-License-Identifier: BSD-2-Clause
/* Prometheus text exposition (format 0.0.4) writer and the lock-free fixed-bucket histogram. */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/*
 * The format: https://prometheus.io/docs/instrumenting/exposition_formats/
 * (text format 0.0.4).  Every line is validated before a byte of it is
 * written, and a line that cannot be completed (ENOMEM) is taken back, so
 * the text is always whole lines; the first error is kept (sticky until
 * reset) and the owner must not serve the text then.
 */
struct metrics_writer {
	char *buf; /* always NUL-terminated */
	size_t len;
	size_t cap;
	int err;  /* the first error */
	bool oom; /* the output could not grow: nothing more is written */
	/* names of the families written so far, to refuse a second one (-EEXIST) */
	char **families;
	size_t n_families;
	size_t cap_families;
	const char *cur; /* current family's name (points into families), NULL: none */
	enum metric_type cur_type;
	bool cur_refused; /* the last family was refused: drop its samples */
};

#define INITIAL_CAP 4096

struct metrics_writer *metrics_writer__new(void)
{
	struct metrics_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->cap = INITIAL_CAP;
	w->buf = malloc(w->cap);
	if (!w->buf) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	w->buf[0] = '\0';
	return w;
}

static void forget_families(struct metrics_writer *w)
{
	for (size_t i = 0; i < w->n_families; i++)
		free(w->families[i]);
	w->n_families = 0;
	w->cur = NULL;
	w->cur_refused = false;
}

void metrics_writer__free(struct metrics_writer *w)
{
	if (!w)
		return;
	forget_families(w);
	free(w->families);
	free(w->buf);
	free(w);
}

void metrics_writer__reset(struct metrics_writer *w)
{
	forget_families(w);
	w->len = 0;
	w->buf[0] = '\0';
	w->err = 0;
	w->oom = false;
}

const char *metrics_writer__text(const struct metrics_writer *w, size_t *len)
{
	*len = w->len;
	return w->buf;
}

int metrics_writer__error(const struct metrics_writer *w)
{
	return w->err;
}

static void set_error(struct metrics_writer *w, int err)
{
	if (!w->err)
		w->err = err;
}

/* Room for `extra` more bytes and the NUL; false (and -ENOMEM) if it cannot grow. */
static bool reserve(struct metrics_writer *w, size_t extra)
{
	size_t cap = w->cap;
	char *nb;

	if (w->len + extra + 1 <= cap)
		return true;
	while (cap < w->len + extra + 1)
		cap *= 2;
	nb = realloc(w->buf, cap);
	if (!nb) {
		w->oom = true;
		set_error(w, -ENOMEM);
		return false;
	}
	w->buf = nb;
	w->cap = cap;
	return true;
}

/*
 * Output goes through put*() and ends a line with end_line(); after an
 * allocation failure put*() stop writing and end_line() takes the partial
 * line back.
 */
static void put(struct metrics_writer *w, const char *s, size_t n)
{
	if (w->oom || !reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void put_str(struct metrics_writer *w, const char *s)
{
	put(w, s, strlen(s));
}

static void end_line(struct metrics_writer *w, size_t line_start)
{
	put(w, "\n", 1);
	if (w->oom) {
		w->len = line_start;
		w->buf[w->len] = '\0';
	}
}

/* `s` with backslash, newline and (in label values) double quote escaped. */
static void put_escaped(struct metrics_writer *w, const char *s, bool quote)
{
	const char *p = s;

	for (; *p; p++) {
		if (*p != '\\' && *p != '\n' && !(quote && *p == '"'))
			continue;
		put(w, s, (size_t)(p - s));
		put(w, *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : "\\\"", 2);
		s = p + 1;
	}
	put(w, s, (size_t)(p - s));
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names, [a-zA-Z_][a-zA-Z0-9_]* for label names. */
static bool valid_name(const char *s, bool colon)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (colon && c == ':') || (p != s && c >= '0' && c <= '9');

		if (!ok)
			return false;
	}
	return true;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * A label list is valid when it has whole pairs, names that are valid, not
 * reserved ("__" prefix; "le" in a histogram) and not repeated, and values
 * that are UTF-8.
 */
static bool valid_labels(const char *const *labels, bool histogram)
{
	if (!labels)
		return true;
	for (size_t i = 0; labels[i]; i += 2) {
		if (!labels[i + 1] || !valid_name(labels[i], false) ||
		    strncmp(labels[i], "__", 2) == 0 || !utf8_valid(labels[i + 1]))
			return false;
		if (histogram && strcmp(labels[i], "le") == 0)
			return false;
		for (size_t j = 0; j < i; j += 2)
			if (strcmp(labels[i], labels[j]) == 0)
				return false;
	}
	return true;
}

/*
 * The shortest text that reads back as v, spelled as the Go client spells a
 * float (strconv.FormatFloat(v, 'g', -1, 64), which with the shortest
 * precision switches to the exponent form below 1e-4 and from 1e6 on):
 * 0.005, 1, 2.5, 100000, 1e+06, 1e-09.  Prometheus' spellings of NaN and
 * the infinities.
 */
static void format_double(double v, char *out, size_t n)
{
	char e[32];
	int prec, exp;

	if (isnan(v)) {
		snprintf(out, n, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == 0) {
		snprintf(out, n, signbit(v) ? "-0" : "0");
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(e, sizeof(e), "%.*e", prec - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	snprintf(e, sizeof(e), "%.*e", prec - 1, v);
	exp = atoi(strchr(e, 'e') + 1);
	if (exp < -4 || exp >= 6)
		snprintf(out, n, "%s", e);
	else
		snprintf(out, n, "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 0, v);
}

/* `help` may be NULL: no HELP line (promtool's lint flags that, so exported families have one). */
void metrics_writer__family(struct metrics_writer *w, const char *name, enum metric_type type,
			    const char *help)
{
	static const char *const type_names[] = {
		[METRIC_COUNTER] = "counter",
		[METRIC_GAUGE] = "gauge",
		[METRIC_HISTOGRAM] = "histogram",
	};
	size_t line_start;
	char *copy;

	w->cur = NULL;
	w->cur_refused = true;
	if (!valid_name(name, true) || (unsigned int)type > METRIC_HISTOGRAM ||
	    (type == METRIC_COUNTER && !has_suffix(name, "_total")) ||
	    (help && !utf8_valid(help))) {
		set_error(w, -EINVAL);
		return;
	}
	/* linear: a program exports tens of families, and this runs once per scrape */
	for (size_t i = 0; i < w->n_families; i++)
		if (strcmp(w->families[i], name) == 0) {
			set_error(w, -EEXIST);
			return;
		}
	if (w->n_families == w->cap_families) {
		size_t cap = w->cap_families ? w->cap_families * 2 : 32;
		char **nf = realloc(w->families, cap * sizeof(*nf));

		if (!nf) {
			set_error(w, -ENOMEM);
			return;
		}
		w->families = nf;
		w->cap_families = cap;
	}
	copy = strdup(name);
	if (!copy) {
		set_error(w, -ENOMEM);
		return;
	}
	w->families[w->n_families++] = copy;

	if (help) {
		line_start = w->len;
		put_str(w, "# HELP ");
		put_str(w, name);
		put_str(w, " ");
		put_escaped(w, help, false);
		end_line(w, line_start);
	}
	line_start = w->len;
	put_str(w, "# TYPE ");
	put_str(w, name);
	put_str(w, " ");
	put_str(w, type_names[type]);
	end_line(w, line_start);

	w->cur = copy;
	w->cur_type = type;
	w->cur_refused = false;
}

/* name[suffix]{labels[,extra_name="extra_value"]} value\n; labels already validated. */
static void sample_line(struct metrics_writer *w, const char *suffix, const char *const *labels,
			const char *extra_name, const char *extra_value, const char *value)
{
	size_t line_start = w->len;
	bool any = false;

	put_str(w, w->cur);
	if (suffix)
		put_str(w, suffix);
	for (size_t i = 0; labels && labels[i]; i += 2) {
		put_str(w, any ? "," : "{");
		put_str(w, labels[i]);
		put_str(w, "=\"");
		put_escaped(w, labels[i + 1], true);
		put_str(w, "\"");
		any = true;
	}
	if (extra_name) {
		put_str(w, any ? "," : "{");
		put_str(w, extra_name);
		put_str(w, "=\"");
		put_str(w, extra_value);
		put_str(w, "\"");
		any = true;
	}
	if (any)
		put_str(w, "}");
	put_str(w, " ");
	put_str(w, value);
	end_line(w, line_start);
}

/* Whether a sample of `histogram` kind may go into the current family. */
static bool sample_allowed(struct metrics_writer *w, bool histogram, const char *const *labels)
{
	if (w->cur_refused)
		return false; /* the family's refusal is already recorded */
	if (!w->cur || (w->cur_type == METRIC_HISTOGRAM) != histogram ||
	    !valid_labels(labels, histogram)) {
		set_error(w, -EINVAL);
		return false;
	}
	return true;
}

void metrics_writer__counter(struct metrics_writer *w, const char *name, const char *help,
			     uint64_t value)
{
	metrics_writer__family(w, name, METRIC_COUNTER, help);
	metrics_writer__u64(w, NULL, value);
}

void metrics_writer__gauge(struct metrics_writer *w, const char *name, const char *help,
			   uint64_t value)
{
	metrics_writer__family(w, name, METRIC_GAUGE, help);
	metrics_writer__u64(w, NULL, value);
}

void metrics_writer__u64(struct metrics_writer *w, const char *const *labels, uint64_t value)
{
	char v[24];

	if (!sample_allowed(w, false, labels))
		return;
	snprintf(v, sizeof(v), "%" PRIu64, value);
	sample_line(w, NULL, labels, NULL, NULL, v);
}

void metrics_writer__double(struct metrics_writer *w, const char *const *labels, double value)
{
	char v[32];

	if (!sample_allowed(w, false, labels))
		return;
	format_double(value, v, sizeof(v));
	sample_line(w, NULL, labels, NULL, NULL, v);
}

int metrics_histogram_init(struct metrics_histogram *h, const double *bounds, uint32_t n)
{
	if (n > METRICS_MAX_BUCKETS || (n && !bounds))
		return -EINVAL;
	/* ascending, finite and not negative: observations are durations */
	for (uint32_t i = 0; i < n; i++)
		if (!isfinite(bounds[i]) || bounds[i] < 0 || (i && bounds[i] <= bounds[i - 1]))
			return -EINVAL;
	memset(h, 0, sizeof(*h));
	h->n_bounds = n;
	if (n)
		memcpy(h->bounds, bounds, n * sizeof(bounds[0]));
	return 0;
}

void metrics_histogram_observe(struct metrics_histogram *h, uint64_t value_ns)
{
	/*
	 * Both the division and the bound literal are correctly rounded from
	 * the same real number, so 5000000 ns lands in le="0.005" exactly.
	 */
	double s = (double)value_ns / 1e9;
	uint32_t i = 0;

	while (i < h->n_bounds && s > h->bounds[i])
		i++;
	/* relaxed: each is an independent counter; the writer tolerates skew (see below) */
	__atomic_fetch_add(&h->counts[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->sum_ns, value_ns, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
}

void metrics_writer__histogram(struct metrics_writer *w, const char *const *labels,
			       const struct metrics_histogram *h)
{
	uint64_t cum = 0;
	char le[32], v[32];

	if (!sample_allowed(w, true, labels))
		return;
	for (uint32_t i = 0; i <= h->n_bounds; i++) {
		cum += __atomic_load_n(&h->counts[i], __ATOMIC_RELAXED);
		if (i < h->n_bounds)
			format_double(h->bounds[i], le, sizeof(le));
		else
			snprintf(le, sizeof(le), "+Inf");
		snprintf(v, sizeof(v), "%" PRIu64, cum);
		sample_line(w, "_bucket", labels, "le", le, v);
	}
	format_double((double)__atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED) / 1e9, v, sizeof(v));
	sample_line(w, "_sum", labels, NULL, NULL, v);
	/*
	 * _count is the +Inf bucket as read above, not h->count: with
	 * observations racing the scrape the two may differ by a few, and
	 * Prometheus requires le="+Inf" == _count.
	 */
	snprintf(v, sizeof(v), "%" PRIu64, cum);
	sample_line(w, "_count", labels, NULL, NULL, v);
}
