// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/kafka: error codes, failure reasons, error state, properties, stats. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "kafka.h"
#include "log.h"

static void test_fail_reasons(void **state)
{
	static const struct {
		rd_kafka_resp_err_t err;
		enum kafka_fail want;
	} cases[] = {
		{ RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, KAFKA_FAIL_TIMED_OUT },
		{ RD_KAFKA_RESP_ERR__TIMED_OUT, KAFKA_FAIL_TIMED_OUT },
		{ RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, KAFKA_FAIL_TIMED_OUT },
		{ RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, KAFKA_FAIL_TOO_LARGE },
		{ RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, KAFKA_FAIL_TOO_LARGE },
		{ RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, KAFKA_FAIL_TOPIC },
		{ RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, KAFKA_FAIL_TOPIC },
		{ RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, KAFKA_FAIL_TOPIC },
		{ RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, KAFKA_FAIL_AUTH },
		{ RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, KAFKA_FAIL_AUTH },
		{ RD_KAFKA_RESP_ERR__AUTHENTICATION, KAFKA_FAIL_AUTH },
		{ RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED, KAFKA_FAIL_AUTH },
		{ RD_KAFKA_RESP_ERR__PURGE_QUEUE, KAFKA_FAIL_PURGED },
		{ RD_KAFKA_RESP_ERR__PURGE_INFLIGHT, KAFKA_FAIL_PURGED },
		{ RD_KAFKA_RESP_ERR__DESTROY, KAFKA_FAIL_PURGED },
		{ RD_KAFKA_RESP_ERR__FATAL, KAFKA_FAIL_OTHER },
		{ RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS, KAFKA_FAIL_OTHER },
		{ RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, KAFKA_FAIL_OTHER },
		{ RD_KAFKA_RESP_ERR__TRANSPORT, KAFKA_FAIL_OTHER },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (kafka_fail_reason(cases[i].err) != cases[i].want)
			fail_msg("%s: expected %s, got %s", rd_kafka_err2name(cases[i].err),
				 kafka_fail_name(cases[i].want),
				 kafka_fail_name(kafka_fail_reason(cases[i].err)));
	}
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal("timed_out", kafka_fail_name(KAFKA_FAIL_TIMED_OUT));
	assert_string_equal("purged", kafka_fail_name(KAFKA_FAIL_PURGED));
	assert_string_equal("other", kafka_fail_name(KAFKA_FAIL_OTHER));
	assert_string_equal("?", kafka_fail_name(KAFKA_FAIL__COUNT));
}

static void test_rd_errno(void **state)
{
	(void)state;
	assert_int_equal(0, kafka_rd_errno(RD_KAFKA_RESP_ERR_NO_ERROR));
	assert_int_equal(-ETIMEDOUT, kafka_rd_errno(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT));
	assert_int_equal(-ECONNRESET, kafka_rd_errno(RD_KAFKA_RESP_ERR__TRANSPORT));
	assert_int_equal(-ENOTCONN, kafka_rd_errno(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN));
	assert_int_equal(-ENOBUFS, kafka_rd_errno(RD_KAFKA_RESP_ERR__QUEUE_FULL));
	assert_int_equal(-ENOENT, kafka_rd_errno(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
	assert_int_equal(-EACCES, kafka_rd_errno(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
	assert_int_equal(-ECANCELED, kafka_rd_errno(RD_KAFKA_RESP_ERR__PURGE_QUEUE));
	assert_int_equal(-EIO, kafka_rd_errno(RD_KAFKA_RESP_ERR__FATAL));
}

/* The last error keeps the librdkafka message whole, the context cut first. */
static void test_errors(void **state)
{
	char last[KAFKA_ERROR_MAX], ctx[600];
	struct kafka_errors e;
	int64_t when = -1;

	(void)state;
	kafka_errors__init(&e, "kafka test");
	kafka_errors__last(&e, last, &when);
	assert_string_equal("", last);
	assert_int_equal(0, when);
	assert_int_equal(-ETIMEDOUT, kafka_errors__log(&e, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
						       "delivering to %s", "t"));
	kafka_errors__last(&e, last, &when);
	assert_non_null(strstr(last, "delivering to t: "));
	assert_non_null(strstr(last, rd_kafka_err2str(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)));
	assert_true(when > 0);
	/* repeated, then recovered: the state only says what to log at, the last error stays */
	kafka_errors__log(&e, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, "again");
	kafka_errors__recovered(&e);
	kafka_errors__recovered(&e);
	kafka_errors__last(&e, last, &when);
	assert_non_null(strstr(last, "again: "));
	memset(ctx, 'c', sizeof(ctx) - 1);
	ctx[sizeof(ctx) - 1] = '\0';
	kafka_errors__log(&e, RD_KAFKA_RESP_ERR__TRANSPORT, "%s", ctx);
	kafka_errors__last(&e, last, &when);
	assert_true(strlen(last) < KAFKA_ERROR_MAX);
	assert_non_null(strstr(last, rd_kafka_err2str(RD_KAFKA_RESP_ERR__TRANSPORT)));
	kafka_errors__destroy(&e);
	kafka_errors__destroy(NULL);
}

static void test_conf_extra(void **state)
{
	static const char *const props[] = {
		"producer.linger.ms", "7", "consumer.linger.ms", "8", "client.id", "x", NULL,
	};
	static const char *const refused[] = { "linger.ms", "mine", NULL };
	static const char *const no_value[] = { "client.id", NULL };
	static const char *const unknown[] = { "consumer.no.such.property", "1", NULL };
	rd_kafka_conf_t *conf = kafka_conf_new(NULL);
	char why[256], val[16];
	size_t n = sizeof(val);

	(void)state;
	assert_non_null(conf);
	assert_int_equal(0, kafka_conf_extra(conf, "kafka", props, "producer.", "consumer.", NULL,
					     why, sizeof(why)));
	assert_int_equal(RD_KAFKA_CONF_OK, rd_kafka_conf_get(conf, "linger.ms", val, &n));
	assert_string_equal("7", val);
	n = sizeof(val);
	assert_int_equal(RD_KAFKA_CONF_OK, rd_kafka_conf_get(conf, "client.id", val, &n));
	assert_string_equal("x", val);
	/* the other handle's key is never even looked at */
	assert_int_equal(0, kafka_conf_extra(conf, "kafka", unknown, "producer.", "consumer.", NULL,
					     why, sizeof(why)));
	assert_int_equal(-EINVAL, kafka_conf_extra(conf, "kafka", unknown, "consumer.", "producer.",
						   NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "kafka property no.such.property: "));
	assert_int_equal(-EINVAL, kafka_conf_extra(conf, "kafka x", props, "producer.", "consumer.",
						   refused, why, sizeof(why)));
	assert_string_equal("kafka x property linger.ms: mine", why);
	assert_int_equal(-EINVAL, kafka_conf_extra(conf, "kafka", no_value, "producer.",
						   "consumer.", NULL, why, sizeof(why)));
	assert_string_equal("kafka property client.id: no value", why);
	assert_int_equal(-EINVAL,
			 kafka_conf_set(conf, "kafka", "linger.ms", "soon", why, sizeof(why)));
	assert_non_null(strstr(why, "kafka property linger.ms: "));
	rd_kafka_conf_destroy(conf);
}

static void test_stats_brokers(void **state)
{
	static const char doc[] =
	    "{\"brokers\":{"
	    "\"b:9092/bootstrap\":{\"nodeid\":-1,\"state\":\"UP\",\"source\":\"configured\"},"
	    "\"GroupCoordinator\":{\"nodeid\":1,\"state\":\"UP\",\"source\":\"logical\"},"
	    "\"b1:9092/1\":{\"nodeid\":1,\"state\":\"UP\",\"source\":\"learned\"},"
	    "\"b2:9092/2\":{\"nodeid\":2,\"state\":\"UPDATE\",\"source\":\"learned\"},"
	    "\"b3:9092/3\":{\"nodeid\":3,\"state\":\"DOWN\",\"source\":\"learned\"},"
	    "\"b4:9092/4\":{\"nodeid\":\"4\",\"state\":\"UP\"}},"
	    "\"tx_bytes\":42}";
	uint32_t up = 99, total = 99;
	json_t *root;

	(void)state;
	assert_true(kafka_broker_up("UP"));
	assert_true(kafka_broker_up("UPDATE"));
	assert_false(kafka_broker_up("DOWN"));
	assert_false(kafka_broker_up("up"));
	assert_false(kafka_broker_up(NULL));
	root = kafka_stats_brokers(doc, strlen(doc), &up, &total);
	assert_non_null(root);
	assert_int_equal(3, total);
	assert_int_equal(2, up);
	assert_int_equal(42, json_integer_value(json_object_get(root, "tx_bytes")));
	json_decref(root);
	up = total = 99;
	assert_null(kafka_stats_brokers("{", 1, &up, &total));
	assert_int_equal(99, up);
	assert_int_equal(99, total);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fail_reasons), cmocka_unit_test(test_names),
		cmocka_unit_test(test_rd_errno),     cmocka_unit_test(test_errors),
		cmocka_unit_test(test_conf_extra),   cmocka_unit_test(test_stats_brokers),
	};

	log_init("test_kafka", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
