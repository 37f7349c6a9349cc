// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector_config_validate: the combinations of keys that cannot work, refused. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../report.h"
#include "collector_config.h"
#include "config.h"

/* A test's figures for docs/reliability.md, once they add up (tests/report.h). */
static void report(const char *test, struct report_fault *f)
{
	f->lost = f->injected - f->delivered - f->counted;
	assert_int_equal(f->lost, 0);
	report_fault_line("collector_config", test, 1, f);
}

/*
 * The defaults, then `flags` (key, value, ..., NULL) as the command line
 * sets them, then the validation; its result, with its line in `why`.
 */
static int check(const char *const *flags, char *why, size_t len)
{
	struct collector_config cfg;
	int err;

	why[0] = '\0';
	err = config_build(&collector_config_schema, &cfg, NULL, flags, why, len);
	if (err)
		return err;
	err = collector_config_validate(&cfg, why, len);
	config_free(&collector_config_schema, &cfg);
	return err;
}

static void expect_ok(const char *const *flags)
{
	char why[1024];

	if (check(flags, why, sizeof(why))) {
		print_error("refused: %s\n", why);
		fail();
	}
}

/* A configuration refused with -EINVAL and the line `want`; counted in *f. */
static void expect_refused(const char *const *flags, const char *want, struct report_fault *f)
{
	char why[1024];
	int err = check(flags, why, sizeof(why));

	assert_int_equal(err, -EINVAL);
	assert_string_equal(why, want);
	f->injected++;
	f->counted += err < 0;
}

#define REFUSED_AS "-EINVAL, one line naming the keys: the collector does not start (exit 2)"

#define FLAGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_defaults(void **state)
{
	(void)state;
	expect_ok(FLAGS(NULL));
}

/* Sonar events: a record they name waits for their watermark, 5 s behind. */
static void test_max_delay_sonar_lag(void **state)
{
	static const char want[] =
	    "attribution.max_delay: 5s is not above the IP events watermark lag (5s): with "
	    "kafka.brokers and attribution.sonar_topic set, every record the Sonar events would "
	    "name expires unattributed first; raise attribution.max_delay (--max-delay) above "
	    "5s, or set attribution.sonar_topic to \"\"";
	struct report_fault f = {
		.fault = "attribution.max_delay not above the IP events watermark lag",
		.unit = "configurations",
		.counted_as = REFUSED_AS,
	};

	(void)state;
	expect_refused(FLAGS("kafka.brokers", "kafka:9092", "attribution.max_delay", "5s"), want,
		       &f);
	expect_refused(FLAGS("kafka.brokers", "kafka:9092", "attribution.max_delay", "0s"),
		       "attribution.max_delay: 0s is not above the IP events watermark lag (5s): "
		       "with kafka.brokers and attribution.sonar_topic set, every record the Sonar "
		       "events would name expires unattributed first; raise attribution.max_delay "
		       "(--max-delay) above 5s, or set attribution.sonar_topic to \"\"",
		       &f);
	expect_ok(FLAGS("kafka.brokers", "kafka:9092", "attribution.max_delay", "5001ms"));
	/* no Sonar events consumed: nothing waits for them */
	expect_ok(FLAGS("attribution.max_delay", "5s"));
	expect_ok(FLAGS("kafka.brokers", "kafka:9092", "attribution.sonar_topic", "",
			"attribution.max_delay", "5s"));
	expect_ok(FLAGS("kafka.brokers", "kafka:9092", "attribution.enabled", "false",
			"attribution.max_delay", "1s"));
	report("test_max_delay_sonar_lag", &f);
}

/* The pod watch: a record it names waits until now - kube.lag passes its end. */
static void test_max_delay_kube_lag(void **state)
{
	struct report_fault f = {
		.fault = "attribution.max_delay not above kube.lag with the pod watch on",
		.unit = "configurations",
		.counted_as = REFUSED_AS,
	};

	(void)state;
	expect_refused(
	    FLAGS("kube.api", "in-cluster", "kube.lag", "10s", "attribution.max_delay", "10s"),
	    "attribution.max_delay: 10s is not above kube.lag 10s: with kube.api set, "
	    "every record the pod watch would name expires unattributed first; raise "
	    "attribution.max_delay (--max-delay) or lower kube.lag (--kube-lag)",
	    &f);
	expect_refused(FLAGS("kube.api", "in-cluster", "attribution.max_delay", "500ms"),
		       "attribution.max_delay: 500ms is not above kube.lag 1s: with kube.api set, "
		       "every record the pod watch would name expires unattributed first; raise "
		       "attribution.max_delay (--max-delay) or lower kube.lag (--kube-lag)",
		       &f);
	expect_ok(
	    FLAGS("kube.api", "in-cluster", "kube.lag", "10s", "attribution.max_delay", "11s"));
	/* no lag: decided on arrival, even with no wait at all */
	expect_ok(FLAGS("kube.api", "in-cluster", "kube.lag", "0s", "attribution.max_delay", "0s"));
	expect_ok(FLAGS("kube.lag", "10s", "attribution.max_delay", "10s"));
	report("test_max_delay_kube_lag", &f);
}

/* Below what the quickest sidecar needs (interval 100ms + a retry): the table's floor. */
static void test_heartbeat_grace_floor(void **state)
{
	struct report_fault f = {
		.fault = "attribution.heartbeat_grace under its 1 s floor",
		.unit = "configurations",
		.counted_as = REFUSED_AS,
	};

	(void)state;
	expect_refused(FLAGS("attribution.heartbeat_grace", "999ms"),
		       "--heartbeat-grace: expected a duration from 1s to 1h, got 999ms", &f);
	expect_ok(FLAGS("attribution.heartbeat_grace", "1s"));
	report("test_heartbeat_grace_floor", &f);
}

static void test_topics_distinct(void **state)
{
	struct report_fault f = {
		.fault = "two of the flow, IP event and range topics the same",
		.unit = "configurations",
		.counted_as = REFUSED_AS,
	};

	(void)state;
	expect_refused(FLAGS("kafka.brokers", "kafka:9092", "attribution.ranges_topic", "t",
			     "attribution.sonar_topic", "t"),
		       "attribution.sonar_topic and attribution.ranges_topic are both t: the feed "
		       "would read the replicas' ranges as IP events and the IP events as ranges "
		       "(every message refused); give them different topics",
		       &f);
	expect_refused(
	    FLAGS("kafka.brokers", "kafka:9092", "sinks.kafka.topic", "podflow.ip-events"),
	    "sinks.kafka.topic and attribution.sonar_topic are both podflow.ip-events: "
	    "the flow records would land in the topic the attribution feed reads (every "
	    "one refused there); give them different topics",
	    &f);
	expect_refused(
	    FLAGS("kafka.brokers", "kafka:9092", "sinks.kafka.topic", "podflow.ip-ranges"),
	    "sinks.kafka.topic and attribution.ranges_topic are both podflow.ip-ranges: "
	    "the flow records would land in the topic the attribution feed reads (every "
	    "one refused there); give them different topics",
	    &f);
	/* what is not consumed or not produced cannot collide */
	expect_ok(FLAGS("sinks.kafka.topic", "podflow.ip-events"));
	expect_ok(FLAGS("kafka.brokers", "kafka:9092", "sinks.kafka.topic", "podflow.ip-events",
			"attribution.sonar_topic", ""));
	expect_ok(FLAGS("kafka.brokers", "kafka:9092", "sinks.kafka.topic", "podflow.ip-ranges",
			"sinks.kafka.enabled", "false", "insight.enabled", "false"));
	expect_ok(FLAGS("kafka.brokers", "kafka:9092", "attribution.ranges_topic", "",
			"attribution.sonar_topic", ""));
	report("test_topics_distinct", &f);
}

static void test_outputs_somewhere(void **state)
{
	static const char want[] =
	    "sinks.files.enabled, sinks.jsonl.enabled and sinks.kafka.enabled (with "
	    "kafka.brokers) are all off, and insight.enabled too: every record would be accepted "
	    "and written nowhere; enable a sink, or set null_sink (--null-sink) to count and "
	    "discard on purpose";
	struct report_fault f = {
		.fault = "every sink and the insight view off: records written nowhere",
		.unit = "configurations",
		.counted_as = REFUSED_AS,
	};

	(void)state;
	expect_refused(FLAGS("sinks.files.enabled", "false", "insight.enabled", "false"), want, &f);
	/* sinks.kafka.enabled is on by default, but without brokers it produces nothing */
	expect_refused(FLAGS("sinks.files.enabled", "false", "insight.enabled", "false",
			     "sinks.kafka.enabled", "true"),
		       want, &f);
	expect_ok(
	    FLAGS("sinks.files.enabled", "false", "insight.enabled", "false", "null_sink", "true"));
	expect_ok(FLAGS("sinks.files.enabled", "false", "insight.enabled", "false",
			"sinks.jsonl.enabled", "true"));
	expect_ok(FLAGS("sinks.files.enabled", "false", "insight.enabled", "false", "kafka.brokers",
			"kafka:9092"));
	/* the view alone is a use of the records (the web UI of a lab collector) */
	expect_ok(FLAGS("sinks.files.enabled", "false"));
	report("test_outputs_somewhere", &f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_max_delay_sonar_lag),
		cmocka_unit_test(test_max_delay_kube_lag),
		cmocka_unit_test(test_heartbeat_grace_floor),
		cmocka_unit_test(test_topics_distinct),
		cmocka_unit_test(test_outputs_somewhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
