// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for lib/metrics: exact 0.0.4 exposition text, refusals, the lock-free histogram. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

/* The usual latency buckets of the Prometheus clients, in seconds. */
static const double default_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define N_DEFAULT_BOUNDS (sizeof(default_bounds) / sizeof(default_bounds[0]))

#define LABELS METRIC_LABELS

static int setup(void **state)
{
	*state = metrics_writer__new();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	metrics_writer__free(*state);
	return 0;
}

/* The writer's text must be exactly `want` and the writer error-free. */
static void expect_text(struct metrics_writer *w, const char *want)
{
	size_t len;
	const char *text = metrics_writer__text(w, &len);

	assert_int_equal(metrics_writer__error(w), 0);
	assert_string_equal(text, want);
	assert_int_equal(len, strlen(want));
}

static void test_counter_no_labels(void **state)
{
	struct metrics_writer *w = *state;

	metrics_writer__family(w, "podflow_sidecar_records_total", METRIC_COUNTER,
			       "Records written.");
	metrics_writer__u64(w, NULL, UINT64_MAX);
	expect_text(w, "# HELP podflow_sidecar_records_total Records written.\n"
		       "# TYPE podflow_sidecar_records_total counter\n"
		       "podflow_sidecar_records_total 18446744073709551615\n");
}

/* The one-sample shorthands write exactly what family + u64 would. */
static void test_shorthands(void **state)
{
	struct metrics_writer *w = *state;

	metrics_writer__counter(w, "podflow_x_total", "Xs.", 3);
	metrics_writer__gauge(w, "podflow_y_bytes", "Y.", 0);
	expect_text(w, "# HELP podflow_x_total Xs.\n"
		       "# TYPE podflow_x_total counter\n"
		       "podflow_x_total 3\n"
		       "# HELP podflow_y_bytes Y.\n"
		       "# TYPE podflow_y_bytes gauge\n"
		       "podflow_y_bytes 0\n");
}

static void test_counter_labels(void **state)
{
	struct metrics_writer *w = *state;

	metrics_writer__family(w, "podflow_sidecar_drops_total", METRIC_COUNTER,
			       "Records lost, by reason.");
	metrics_writer__u64(w, LABELS("reason", "ring_full"), 0);
	metrics_writer__u64(w, LABELS("reason", "map_full", "cpu", "3"), 9007199254740993ULL);
	/* an empty list is the same as NULL */
	metrics_writer__u64(w, LABELS(NULL), 7);
	/* no HELP: only TYPE */
	metrics_writer__family(w, "podflow_sidecar_walks_total", METRIC_COUNTER, NULL);
	metrics_writer__u64(w, NULL, 1);
	expect_text(w,
		    "# HELP podflow_sidecar_drops_total Records lost, by reason.\n"
		    "# TYPE podflow_sidecar_drops_total counter\n"
		    "podflow_sidecar_drops_total{reason=\"ring_full\"} 0\n"
		    "podflow_sidecar_drops_total{reason=\"map_full\",cpu=\"3\"} 9007199254740993\n"
		    "podflow_sidecar_drops_total 7\n"
		    "# TYPE podflow_sidecar_walks_total counter\n"
		    "podflow_sidecar_walks_total 1\n");
}

static void test_gauges(void **state)
{
	struct metrics_writer *w = *state;

	metrics_writer__family(w, "podflow_flows", METRIC_GAUGE, "Open flows.");
	metrics_writer__u64(w, NULL, 42);
	metrics_writer__family(w, "podflow_value", METRIC_GAUGE, "Doubles.");
	metrics_writer__double(w, LABELS("v", "half"), 0.5);
	metrics_writer__double(w, LABELS("v", "nano"), 1e-9);
	metrics_writer__double(w, LABELS("v", "nan"), NAN);
	metrics_writer__double(w, LABELS("v", "inf"), INFINITY);
	metrics_writer__double(w, LABELS("v", "-inf"), -INFINITY);
	metrics_writer__double(w, LABELS("v", "zero"), 0.0);
	metrics_writer__double(w, LABELS("v", "one"), 1.0);
	metrics_writer__double(w, LABELS("v", "tenth"), 0.1);
	metrics_writer__double(w, LABELS("v", "third"), 1.0 / 3);
	metrics_writer__double(w, LABELS("v", "neg"), -2.5);
	metrics_writer__double(w, LABELS("v", "fixed"), 123456.789);
	metrics_writer__double(w, LABELS("v", "1e6"), 1e6);
	metrics_writer__double(w, LABELS("v", "big"), 1.8446744073709552e19);
	metrics_writer__double(w, LABELS("v", "1e-4"), 0.0001);
	metrics_writer__double(w, LABELS("v", "max"), 1.7976931348623157e308);
	expect_text(w, "# HELP podflow_flows Open flows.\n"
		       "# TYPE podflow_flows gauge\n"
		       "podflow_flows 42\n"
		       "# HELP podflow_value Doubles.\n"
		       "# TYPE podflow_value gauge\n"
		       "podflow_value{v=\"half\"} 0.5\n"
		       "podflow_value{v=\"nano\"} 1e-09\n"
		       "podflow_value{v=\"nan\"} NaN\n"
		       "podflow_value{v=\"inf\"} +Inf\n"
		       "podflow_value{v=\"-inf\"} -Inf\n"
		       "podflow_value{v=\"zero\"} 0\n"
		       "podflow_value{v=\"one\"} 1\n"
		       "podflow_value{v=\"tenth\"} 0.1\n"
		       "podflow_value{v=\"third\"} 0.3333333333333333\n"
		       "podflow_value{v=\"neg\"} -2.5\n"
		       "podflow_value{v=\"fixed\"} 123456.789\n"
		       "podflow_value{v=\"1e6\"} 1e+06\n"
		       "podflow_value{v=\"big\"} 1.8446744073709552e+19\n"
		       "podflow_value{v=\"1e-4\"} 0.0001\n"
		       "podflow_value{v=\"max\"} 1.7976931348623157e+308\n");
}

/* Every double printed must read back as itself (shortest round trip, not %g's 6 digits). */
static void test_double_round_trip(void **state)
{
	struct metrics_writer *w = *state;
	double v = 1e-300;
	size_t len;
	const char *text, *p;
	int n = 0;

	metrics_writer__family(w, "podflow_rt", METRIC_GAUGE, "Round trip.");
	for (int i = 0; i < 2000; i++, v *= 1.4142135623730951)
		metrics_writer__double(w, NULL, v);
	assert_int_equal(metrics_writer__error(w), 0);
	text = metrics_writer__text(w, &len);
	v = 1e-300;
	for (p = strstr(text, "\npodflow_rt "); p; p = strstr(p + 1, "\npodflow_rt ")) {
		assert_true(strtod(p + strlen("\npodflow_rt "), NULL) == v);
		v *= 1.4142135623730951;
		n++;
	}
	assert_int_equal(n, 2000);
}

static void test_label_escaping(void **state)
{
	struct metrics_writer *w = *state;

	metrics_writer__family(w, "podflow_escape_total", METRIC_COUNTER, "Escapes.");
	metrics_writer__u64(w, LABELS("pod", "a\\b\"c\nd", "ns", "caf\xc3\xa9 {x=1}"), 1);
	expect_text(w,
		    "# HELP podflow_escape_total Escapes.\n"
		    "# TYPE podflow_escape_total counter\n"
		    "podflow_escape_total{pod=\"a\\\\b\\\"c\\nd\",ns=\"caf\xc3\xa9 {x=1}\"} 1\n");
}

static void test_help_escaping(void **state)
{
	struct metrics_writer *w = *state;

	/* HELP escapes backslash and newline only: a quote stays as it is */
	metrics_writer__family(w, "podflow_help", METRIC_GAUGE,
			       "Back\\slash,\nnew line, \"quoted\".");
	metrics_writer__u64(w, NULL, 0);
	expect_text(w, "# HELP podflow_help Back\\\\slash,\\nnew line, \"quoted\".\n"
		       "# TYPE podflow_help gauge\n"
		       "podflow_help 0\n");
}

static void test_histogram(void **state)
{
	struct metrics_writer *w = *state;
	struct metrics_histogram h;

	assert_int_equal(metrics_histogram_init(&h, default_bounds, N_DEFAULT_BOUNDS), 0);
	metrics_histogram_observe(&h, /*ns=*/1);	      /* first bucket */
	metrics_histogram_observe(&h, /*ns=*/5000000);	      /* exactly 0.005: le is <= */
	metrics_histogram_observe(&h, /*ns=*/5000001);	      /* second */
	metrics_histogram_observe(&h, /*ns=*/300000000);      /* middle: 0.5 */
	metrics_histogram_observe(&h, /*ns=*/1000000000);     /* exactly 1 */
	metrics_histogram_observe(&h, /*ns=*/10000000000);    /* exactly 10, the last bound */
	metrics_histogram_observe(&h, /*ns=*/20000000000ULL); /* +Inf */
	assert_int_equal(h.count, 7);
	assert_int_equal(h.sum_ns, 31310000002ULL);

	metrics_writer__family(w, "podflow_export_seconds", METRIC_HISTOGRAM,
			       "Export batch latency.");
	metrics_writer__histogram(w, LABELS("stage", "send"), &h);
	metrics_writer__histogram(w, NULL, &h);
	expect_text(w, "# HELP podflow_export_seconds Export batch latency.\n"
		       "# TYPE podflow_export_seconds histogram\n"
		       "podflow_export_seconds_bucket{stage=\"send\",le=\"0.005\"} 2\n"
		       "podflow_export_seconds_bucket{stage=\"send\",le=\"0.01\"} 3\n"
		       "podflow_export_seconds_bucket{stage=\"send\",le=\"0.025\"} 3\n"
		       "podflow_export_seconds_bucket{stage=\"send\",le=\"0.05\"} 3\n"
		       "podflow_export_seconds_bucket{stage=\"send\",le=\"0.1\"} 3\n"
		       "podflow_export_seconds_bucket{stage=\"send\",le=\"0.25\"} 3\n"
		       "podflow_export_seconds_bucket{stage=\"send\",le=\"0.5\"} 4\n"
		       "podflow_export_seconds_bucket{stage=\"send\",le=\"1\"} 5\n"
		       "podflow_export_seconds_bucket{stage=\"send\",le=\"2.5\"} 5\n"
		       "podflow_export_seconds_bucket{stage=\"send\",le=\"5\"} 5\n"
		       "podflow_export_seconds_bucket{stage=\"send\",le=\"10\"} 6\n"
		       "podflow_export_seconds_bucket{stage=\"send\",le=\"+Inf\"} 7\n"
		       "podflow_export_seconds_sum{stage=\"send\"} 31.310000002\n"
		       "podflow_export_seconds_count{stage=\"send\"} 7\n"
		       "podflow_export_seconds_bucket{le=\"0.005\"} 2\n"
		       "podflow_export_seconds_bucket{le=\"0.01\"} 3\n"
		       "podflow_export_seconds_bucket{le=\"0.025\"} 3\n"
		       "podflow_export_seconds_bucket{le=\"0.05\"} 3\n"
		       "podflow_export_seconds_bucket{le=\"0.1\"} 3\n"
		       "podflow_export_seconds_bucket{le=\"0.25\"} 3\n"
		       "podflow_export_seconds_bucket{le=\"0.5\"} 4\n"
		       "podflow_export_seconds_bucket{le=\"1\"} 5\n"
		       "podflow_export_seconds_bucket{le=\"2.5\"} 5\n"
		       "podflow_export_seconds_bucket{le=\"5\"} 5\n"
		       "podflow_export_seconds_bucket{le=\"10\"} 6\n"
		       "podflow_export_seconds_bucket{le=\"+Inf\"} 7\n"
		       "podflow_export_seconds_sum 31.310000002\n"
		       "podflow_export_seconds_count 7\n");
}

static void test_histogram_empty_and_no_bounds(void **state)
{
	struct metrics_writer *w = *state;
	struct metrics_histogram h, only_inf;
	static const double bounds[] = { 1e-6, 0.0001, 1e6 };

	assert_int_equal(metrics_histogram_init(&h, bounds, 3), 0);
	assert_int_equal(metrics_histogram_init(&only_inf, NULL, 0), 0);
	metrics_histogram_observe(&only_inf, /*ns=*/1500000000);
	metrics_writer__family(w, "podflow_a_seconds", METRIC_HISTOGRAM, "A.");
	metrics_writer__histogram(w, NULL, &h);
	metrics_writer__family(w, "podflow_b_seconds", METRIC_HISTOGRAM, "B.");
	metrics_writer__histogram(w, NULL, &only_inf);
	expect_text(w, "# HELP podflow_a_seconds A.\n"
		       "# TYPE podflow_a_seconds histogram\n"
		       "podflow_a_seconds_bucket{le=\"1e-06\"} 0\n"
		       "podflow_a_seconds_bucket{le=\"0.0001\"} 0\n"
		       "podflow_a_seconds_bucket{le=\"1e+06\"} 0\n"
		       "podflow_a_seconds_bucket{le=\"+Inf\"} 0\n"
		       "podflow_a_seconds_sum 0\n"
		       "podflow_a_seconds_count 0\n"
		       "# HELP podflow_b_seconds B.\n"
		       "# TYPE podflow_b_seconds histogram\n"
		       "podflow_b_seconds_bucket{le=\"+Inf\"} 1\n"
		       "podflow_b_seconds_sum 1.5\n"
		       "podflow_b_seconds_count 1\n");
}

static void test_histogram_init_refuses(void **state)
{
	struct metrics_histogram h;
	double many[METRICS_MAX_BUCKETS + 1];

	(void)state;
	for (int i = 0; i <= METRICS_MAX_BUCKETS; i++)
		many[i] = i + 1;
	assert_int_equal(metrics_histogram_init(&h, many, METRICS_MAX_BUCKETS), 0);
	assert_int_equal(metrics_histogram_init(&h, many, METRICS_MAX_BUCKETS + 1), -EINVAL);
	assert_int_equal(metrics_histogram_init(&h, (const double[]){ 1, 0.5 }, 2), -EINVAL);
	assert_int_equal(metrics_histogram_init(&h, (const double[]){ 1, 1 }, 2), -EINVAL);
	assert_int_equal(metrics_histogram_init(&h, (const double[]){ 1, NAN }, 2), -EINVAL);
	assert_int_equal(metrics_histogram_init(&h, (const double[]){ 1, INFINITY }, 2), -EINVAL);
	assert_int_equal(metrics_histogram_init(&h, (const double[]){ -1, 1 }, 2), -EINVAL);
	assert_int_equal(metrics_histogram_init(&h, NULL, 1), -EINVAL);
}

/*
 * One refused call on a fresh writer, after valid set-up calls that wrote
 * `before`: the error is `err` and the text is still `before`.
 */
enum setup_family {
	SETUP_NONE,
	SETUP_COUNTER, /* family_counter() */
	SETUP_HIST,    /* family_hist() */
	SETUP_GAUGE,   /* podflow_ok gauge */
};

struct refusal {
	const char *what;
	void (*call)(struct metrics_writer *w);
	int err;
	enum setup_family before;
	bool family; /* a family was refused: the samples after it are dropped too */
};

static void family_counter(struct metrics_writer *w)
{
	metrics_writer__family(w, "podflow_ok_total", METRIC_COUNTER, "Fine.");
}

static void family_hist(struct metrics_writer *w)
{
	metrics_writer__family(w, "podflow_ok_seconds", METRIC_HISTOGRAM, "Fine.");
}

static struct metrics_histogram one_bucket;

static void r_name_digit(struct metrics_writer *w)
{
	metrics_writer__family(w, "9podflow_total", METRIC_COUNTER, "x");
}
static void r_name_dash(struct metrics_writer *w)
{
	metrics_writer__family(w, "podflow-bad_total", METRIC_COUNTER, "x");
}
static void r_name_empty(struct metrics_writer *w)
{
	metrics_writer__family(w, "", METRIC_GAUGE, "x");
}
static void r_name_null(struct metrics_writer *w)
{
	metrics_writer__family(w, NULL, METRIC_GAUGE, "x");
}
static void r_name_space(struct metrics_writer *w)
{
	metrics_writer__family(w, "podflow x", METRIC_GAUGE, "x");
}
static void r_counter_suffix(struct metrics_writer *w)
{
	metrics_writer__family(w, "podflow_records", METRIC_COUNTER, "x");
}
static void r_bad_type(struct metrics_writer *w)
{
	metrics_writer__family(w, "podflow_x", (enum metric_type)7, "x");
}
static void r_help_not_utf8(struct metrics_writer *w)
{
	metrics_writer__family(w, "podflow_x", METRIC_GAUGE, "bad \xff byte");
}
static void r_sample_first(struct metrics_writer *w)
{
	metrics_writer__u64(w, NULL, 1);
}
static void r_double_first(struct metrics_writer *w)
{
	metrics_writer__double(w, NULL, 1);
}
static void r_hist_first(struct metrics_writer *w)
{
	metrics_writer__histogram(w, NULL, &one_bucket);
}
static void r_label_dash(struct metrics_writer *w)
{
	family_counter(w);
	metrics_writer__u64(w, LABELS("bad-label", "v"), 1);
}
static void r_label_digit(struct metrics_writer *w)
{
	family_counter(w);
	metrics_writer__u64(w, LABELS("1x", "v"), 1);
}
static void r_label_colon(struct metrics_writer *w)
{
	family_counter(w);
	metrics_writer__u64(w, LABELS("a:b", "v"), 1);
}
static void r_label_reserved(struct metrics_writer *w)
{
	family_counter(w);
	metrics_writer__u64(w, LABELS("__name__", "v"), 1);
}
static void r_label_no_value(struct metrics_writer *w)
{
	family_counter(w);
	metrics_writer__u64(w, LABELS("a", "v", "b"), 1);
}
static void r_label_twice(struct metrics_writer *w)
{
	family_counter(w);
	metrics_writer__u64(w, LABELS("a", "v", "a", "w"), 1);
}
static void r_label_not_utf8(struct metrics_writer *w)
{
	family_counter(w);
	metrics_writer__double(w, LABELS("a", "\xc3("), 1);
}
static void r_hist_le_label(struct metrics_writer *w)
{
	family_hist(w);
	metrics_writer__histogram(w, LABELS("le", "1"), &one_bucket);
}
static void r_hist_in_counter(struct metrics_writer *w)
{
	family_counter(w);
	metrics_writer__histogram(w, NULL, &one_bucket);
}
static void r_u64_in_hist(struct metrics_writer *w)
{
	family_hist(w);
	metrics_writer__u64(w, NULL, 1);
}
static void r_double_in_hist(struct metrics_writer *w)
{
	family_hist(w);
	metrics_writer__double(w, NULL, 1);
}
static void r_family_twice(struct metrics_writer *w)
{
	family_counter(w);
	metrics_writer__family(w, "podflow_ok_total", METRIC_COUNTER, "Again.");
}
static void r_family_twice_other_type(struct metrics_writer *w)
{
	metrics_writer__family(w, "podflow_ok", METRIC_GAUGE, "Fine.");
	metrics_writer__family(w, "podflow_ok", METRIC_HISTOGRAM, "Again.");
}

static const struct refusal refusals[] = {
	{ "metric name starts with a digit", r_name_digit, -EINVAL, SETUP_NONE, true },
	{ "metric name with a dash", r_name_dash, -EINVAL, SETUP_NONE, true },
	{ "empty metric name", r_name_empty, -EINVAL, SETUP_NONE, true },
	{ "NULL metric name", r_name_null, -EINVAL, SETUP_NONE, true },
	{ "metric name with a space", r_name_space, -EINVAL, SETUP_NONE, true },
	{ "counter without _total", r_counter_suffix, -EINVAL, SETUP_NONE, true },
	{ "unknown type", r_bad_type, -EINVAL, SETUP_NONE, true },
	{ "HELP not UTF-8", r_help_not_utf8, -EINVAL, SETUP_NONE, true },
	{ "u64 before any family", r_sample_first, -EINVAL, SETUP_NONE, false },
	{ "double before any family", r_double_first, -EINVAL, SETUP_NONE, false },
	{ "histogram before any family", r_hist_first, -EINVAL, SETUP_NONE, false },
	{ "label name with a dash", r_label_dash, -EINVAL, SETUP_COUNTER, false },
	{ "label name starts with a digit", r_label_digit, -EINVAL, SETUP_COUNTER, false },
	{ "label name with a colon", r_label_colon, -EINVAL, SETUP_COUNTER, false },
	{ "reserved label name", r_label_reserved, -EINVAL, SETUP_COUNTER, false },
	{ "label without a value", r_label_no_value, -EINVAL, SETUP_COUNTER, false },
	{ "label twice", r_label_twice, -EINVAL, SETUP_COUNTER, false },
	{ "label value not UTF-8", r_label_not_utf8, -EINVAL, SETUP_COUNTER, false },
	{ "le label in a histogram", r_hist_le_label, -EINVAL, SETUP_HIST, false },
	{ "histogram sample in a counter family", r_hist_in_counter, -EINVAL, SETUP_COUNTER,
	  false },
	{ "u64 sample in a histogram family", r_u64_in_hist, -EINVAL, SETUP_HIST, false },
	{ "double sample in a histogram family", r_double_in_hist, -EINVAL, SETUP_HIST, false },
	{ "family twice", r_family_twice, -EEXIST, SETUP_COUNTER, true },
	{ "family twice, other type", r_family_twice_other_type, -EEXIST, SETUP_GAUGE, true },
};

static void test_refusals(void **state)
{
	struct metrics_writer *w = *state, *ref = metrics_writer__new();

	assert_non_null(ref);
	assert_int_equal(metrics_histogram_init(&one_bucket, (const double[]){ 1 }, 1), 0);
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		const struct refusal *r = &refusals[i];
		size_t len, ref_len;
		const char *text, *before;

		metrics_writer__reset(w);
		metrics_writer__reset(ref);
		r->call(w);
		if (r->before == SETUP_COUNTER)
			family_counter(ref);
		else if (r->before == SETUP_HIST)
			family_hist(ref);
		else if (r->before == SETUP_GAUGE)
			metrics_writer__family(ref, "podflow_ok", METRIC_GAUGE, "Fine.");
		text = metrics_writer__text(w, &len);
		before = metrics_writer__text(ref, &ref_len);
		if (metrics_writer__error(w) != r->err || strcmp(text, before) != 0 ||
		    len != ref_len) {
			print_error("%s: expected error %d and text \"%s\", got %d and \"%s\"\n",
				    r->what, r->err, before, metrics_writer__error(w), text);
			metrics_writer__free(ref);
			fail();
		}
		if (r->family) {
			/* its samples are dropped, not filed under the family before it */
			metrics_writer__u64(w, NULL, 1);
			metrics_writer__double(w, NULL, 1);
			metrics_writer__histogram(w, NULL, &one_bucket);
			assert_string_equal(metrics_writer__text(w, &len), before);
			assert_int_equal(metrics_writer__error(w), r->err);
		}
	}
	metrics_writer__free(ref);
}

/* The first error stays, and later valid calls still write whole lines. */
static void test_error_sticky(void **state)
{
	struct metrics_writer *w = *state;

	metrics_writer__family(w, "podflow_bad", METRIC_COUNTER, "No _total.");
	metrics_writer__u64(w, NULL, 1);
	metrics_writer__family(w, "podflow_good", METRIC_GAUGE, "Fine.");
	metrics_writer__u64(w, LABELS("bad-label", "x"), 2);
	metrics_writer__u64(w, NULL, 3);
	metrics_writer__family(w, "podflow_good", METRIC_GAUGE, "Again.");
	assert_int_equal(metrics_writer__error(w), -EINVAL);
	assert_string_equal(metrics_writer__text(w, &(size_t){ 0 }), "# HELP podflow_good Fine.\n"
								     "# TYPE podflow_good gauge\n"
								     "podflow_good 3\n");
}

static void test_reset(void **state)
{
	struct metrics_writer *w = *state;
	size_t len;

	metrics_writer__family(w, "podflow_x_total", METRIC_COUNTER, "X.");
	metrics_writer__u64(w, NULL, 1);
	metrics_writer__family(w, "podflow_x_total", METRIC_COUNTER, "X.");
	assert_int_equal(metrics_writer__error(w), -EEXIST);
	metrics_writer__reset(w);
	assert_int_equal(metrics_writer__error(w), 0);
	assert_string_equal(metrics_writer__text(w, &len), "");
	assert_int_equal(len, 0);
	/* the same family again after a reset: a new scrape */
	metrics_writer__family(w, "podflow_x_total", METRIC_COUNTER, "X.");
	metrics_writer__u64(w, NULL, 2);
	expect_text(w, "# HELP podflow_x_total X.\n"
		       "# TYPE podflow_x_total counter\n"
		       "podflow_x_total 2\n");
}

/* Far past the initial buffer and the initial family table. */
static void test_grows(void **state)
{
	struct metrics_writer *w = *state;
	char name[64], value[32], last[160];
	size_t len;
	const char *text;

	for (int f = 0; f < 100; f++) {
		snprintf(name, sizeof(name), "podflow_family_%d_total", f);
		metrics_writer__family(w, name, METRIC_COUNTER, "Many.");
		for (int i = 0; i < 200; i++) {
			snprintf(value, sizeof(value), "pod-%d", i);
			metrics_writer__u64(w, LABELS("pod", value), (uint64_t)f * 1000 + i);
		}
	}
	assert_int_equal(metrics_writer__error(w), 0);
	text = metrics_writer__text(w, &len);
	assert_int_equal(strlen(text), len);
	snprintf(last, sizeof(last), "\n%s{pod=\"pod-199\"} 99199\n", name);
	assert_true(len > strlen(last));
	assert_string_equal(text + len - strlen(last), last);
	assert_non_null(strstr(text, "\npodflow_family_0_total{pod=\"pod-0\"} 0\n"));
}

/* ---- concurrency ---- */

#define N_THREADS  4
#define N_OBSERVES 100000
static const uint64_t base_ns[4] = { 1000000, 7000000, 30000000, 2000000000 };
static const double conc_bounds[] = { 0.005, 0.01, 0.05, 1 };

/* Thread t's j-th value; every value stays in the bucket of its base (j % 4). */
static uint64_t conc_value(int t, int j)
{
	return base_ns[j % 4] + (uint64_t)(j % 1000) * 7 + (uint64_t)t;
}

static void *observer(void *arg)
{
	struct metrics_histogram *h = arg;
	static int next_id;
	int t = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);

	for (int j = 0; j < N_OBSERVES; j++)
		metrics_histogram_observe(h, conc_value(t, j));
	return NULL;
}

static void test_histogram_concurrent(void **state)
{
	struct metrics_writer *w = *state;
	struct metrics_histogram h;
	pthread_t th[N_THREADS];
	uint64_t want_sum = 0;

	assert_int_equal(metrics_histogram_init(&h, conc_bounds, 4), 0);
	for (int t = 0; t < N_THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, observer, &h), 0);
	for (int t = 0; t < N_THREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	for (int t = 0; t < N_THREADS; t++)
		for (int j = 0; j < N_OBSERVES; j++)
			want_sum += conc_value(t, j);
	/* 4 * 25000 * (1 ms + 7 ms + 30 ms + 2 s) + 4 * 100 * 7 * 499500 + 100000 * (0+1+2+3) */
	assert_int_equal(want_sum, 203801399200000ULL);

	assert_int_equal(h.count, N_THREADS * N_OBSERVES);
	assert_int_equal(h.sum_ns, want_sum);
	assert_int_equal(h.counts[0], N_THREADS * N_OBSERVES / 4);
	assert_int_equal(h.counts[1], N_THREADS * N_OBSERVES / 4);
	assert_int_equal(h.counts[2], N_THREADS * N_OBSERVES / 4);
	assert_int_equal(h.counts[3], 0);
	assert_int_equal(h.counts[4], N_THREADS * N_OBSERVES / 4);

	metrics_writer__family(w, "podflow_conc_seconds", METRIC_HISTOGRAM, "Concurrent.");
	metrics_writer__histogram(w, NULL, &h);
	expect_text(w, "# HELP podflow_conc_seconds Concurrent.\n"
		       "# TYPE podflow_conc_seconds histogram\n"
		       "podflow_conc_seconds_bucket{le=\"0.005\"} 100000\n"
		       "podflow_conc_seconds_bucket{le=\"0.01\"} 200000\n"
		       "podflow_conc_seconds_bucket{le=\"0.05\"} 300000\n"
		       "podflow_conc_seconds_bucket{le=\"1\"} 300000\n"
		       "podflow_conc_seconds_bucket{le=\"+Inf\"} 400000\n"
		       "podflow_conc_seconds_sum 203801.3992\n"
		       "podflow_conc_seconds_count 400000\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_counter_no_labels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shorthands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counter_labels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gauges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_double_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_label_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_help_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_histogram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_histogram_empty_and_no_bounds, setup,
						teardown),
		cmocka_unit_test(test_histogram_init_refuses),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_sticky, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_histogram_concurrent, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
