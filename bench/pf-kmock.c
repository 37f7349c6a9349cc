// SPDX-License-Identifier: BSD-2-Clause
/*
 * pf-kmock: make bench-collector's Kafka arm.  `serve` runs librdkafka's mock
 * cluster (rdkafka_mock.h) in this process with one topic created, prints
 * its bootstrap servers on a line and runs until SIGTERM or SIGINT; `count`
 * reads that topic back from its start, every partition, as a consumer, and
 * prints how many messages it holds and their bytes as one JSON line.  The
 * mock cluster is librdkafka's, not a Kafka broker: figures against it are
 * the producer's cost, not a cluster's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_PARTITIONS 256

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int kconf(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char err[256];

	if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "pf-kmock: %s: %s\n", k, err);
		return -EINVAL;
	}
	return 0;
}

/* The cluster lives in a client handle of its own, which never connects anywhere. */
static int serve(const char *topic, int brokers, int partitions)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_mock_cluster_t *mc;
	struct sigaction sa = { .sa_handler = on_signal };
	char err[256];
	rd_kafka_t *owner;
	rd_kafka_resp_err_t rerr;

	owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!owner) {
		fprintf(stderr, "pf-kmock: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(owner, brokers);
	if (!mc) {
		fprintf(stderr, "pf-kmock: cannot start the mock cluster\n");
		rd_kafka_destroy(owner);
		return 1;
	}
	rerr = rd_kafka_mock_topic_create(mc, topic, partitions, 1);
	if (rerr) {
		fprintf(stderr, "pf-kmock: topic %s: %s\n", topic, rd_kafka_err2str(rerr));
		rd_kafka_mock_cluster_destroy(mc);
		rd_kafka_destroy(owner);
		return 1;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	while (!stop)
		pause();
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(owner);
	return 0;
}

/*
 * Every partition's high watermark (no transactions: one offset per
 * message), then every message consumed from offset 0 until each partition
 * reached its watermark: the count printed is of messages read, each a JSON
 * object (checked by its first and last byte).
 */
static int count(const char *brokers, const char *topic, int timeout_ms)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *parts = NULL;
	const struct rd_kafka_metadata *md = NULL;
	int64_t high[MAX_PARTITIONS] = { 0 }, pos[MAX_PARTITIONS] = { 0 }, end, want = 0, gone = 0;
	uint64_t n = 0, bytes = 0, bad = 0;
	rd_kafka_topic_t *rkt = NULL;
	rd_kafka_t *rk = NULL;
	char err[256];
	int np = 0, rc = 1, done = 0;

	if (kconf(conf, "bootstrap.servers", brokers) || kconf(conf, "group.id", "pf-kmock") ||
	    kconf(conf, "enable.auto.commit", "false") ||
	    kconf(conf, "fetch.max.bytes", "52428800") ||
	    kconf(conf, "max.partition.fetch.bytes", "10485760")) {
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "pf-kmock: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	end = now_ms() + timeout_ms;
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (!rkt || rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) || md->topic_cnt != 1 ||
	    md->topics[0].partition_cnt <= 0 || md->topics[0].partition_cnt > MAX_PARTITIONS) {
		fprintf(stderr, "pf-kmock: no metadata for topic %s\n", topic);
		goto cleanup;
	}
	np = md->topics[0].partition_cnt;
	parts = rd_kafka_topic_partition_list_new(np);
	for (int p = 0; p < np; p++) {
		int64_t low;

		if (rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high[p], timeout_ms) !=
		    RD_KAFKA_RESP_ERR_NO_ERROR) {
			fprintf(stderr, "pf-kmock: no watermarks for %s [%d]\n", topic, p);
			goto cleanup;
		}
		want += high[p];
		gone += low; /* before the log's start: the mock cluster's own retention */
		done += high[p] == low;
		rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
		    RD_KAFKA_OFFSET_BEGINNING;
	}
	if (rd_kafka_assign(rk, parts)) {
		fprintf(stderr, "pf-kmock: cannot assign the partitions\n");
		goto cleanup;
	}
	while (done < np && now_ms() < end) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (!m)
			continue;
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				fprintf(stderr, "pf-kmock: %s\n", rd_kafka_message_errstr(m));
		} else if (m->partition >= 0 && m->partition < np &&
			   pos[m->partition] < high[m->partition]) {
			const char *v = m->payload;

			n++;
			bytes += m->len;
			bad += !(m->len >= 2 && v[0] == '{' && v[m->len - 1] == '}');
			pos[m->partition] = m->offset + 1;
			done += pos[m->partition] == high[m->partition];
		}
		rd_kafka_message_destroy(m);
	}
	printf("{\"records\":%" PRIu64 ",\"watermarks\":%" PRId64 ",\"before_start\":%" PRId64
	       ",\"bytes\":%" PRIu64 ",\"not_json\":%" PRIu64
	       ",\"partitions\":%d,\"complete\":%s}\n",
	       n, want, gone, bytes, bad, np, done == np ? "true" : "false");
	rc = done == np ? 0 : 1;
cleanup:
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	if (md)
		rd_kafka_metadata_destroy(md);
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return rc;
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: pf-kmock serve [--topic T] [--brokers N] [--partitions P]\n"
	    "       pf-kmock count --bootstrap HOST:PORT,... [--topic T] [--timeout-ms MS]\n"
	    "serve: librdkafka's mock cluster with topic T (podflow.flows) of P partitions (6)\n"
	    "on N brokers (3); prints its bootstrap servers, runs until SIGTERM.\n"
	    "count: reads topic T back from its start; prints {records, watermarks, bytes,\n"
	    "not_json, partitions, complete}; exits 1 unless every partition was read to its end.\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "topic", required_argument, NULL, 't' },
		{ "brokers", required_argument, NULL, 'b' },
		{ "partitions", required_argument, NULL, 'p' },
		{ "bootstrap", required_argument, NULL, 's' },
		{ "timeout-ms", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *topic = "podflow.flows", *bootstrap = NULL, *cmd;
	int brokers = 3, partitions = 6, timeout_ms = 60000, c;

	if (argc < 2) {
		usage();
		return 2;
	}
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			topic = optarg;
			break;
		case 'b':
			brokers = atoi(optarg);
			break;
		case 'p':
			partitions = atoi(optarg);
			break;
		case 's':
			bootstrap = optarg;
			break;
		case 'w':
			timeout_ms = atoi(optarg);
			break;
		default:
			usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (strcmp(cmd, "serve") == 0 && brokers > 0 && partitions > 0 &&
	    partitions <= MAX_PARTITIONS)
		return serve(topic, brokers, partitions);
	if (strcmp(cmd, "count") == 0 && bootstrap && timeout_ms > 0)
		return count(bootstrap, topic, timeout_ms);
	usage();
	return 2;
}
