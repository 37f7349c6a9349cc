// SPDX-License-Identifier: BSD-2-Clause
/*
 * pf-fresh: make bench-freshness's two helpers.  `kafka` runs librdkafka's
 * mock cluster in this process, prints its bootstrap servers and writes every
 * message of one topic, as it is consumed, behind the wall-clock time it
 * became readable; `client` makes paced TCP connections (pf-load serve's
 * protocol) and writes each one's close time, so that a record found in
 * Kafka or in a published file can be matched to the closes it covers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define FRESH_MAX_THREADS 64

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int kconf(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char err[256];

	if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "pf-fresh: %s: %s\n", k, err);
		return -EINVAL;
	}
	return 0;
}

/*
 * The mock cluster (one broker) with `topics` created, then one consumer of
 * topics[0] from its start: each message goes to `out` as
 * "<readable wall ns>\t<value>" until SIGTERM.
 */
static int run_kafka(char **topics, int n_topics, const char *out_path)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *owner = NULL, *cons = NULL;
	rd_kafka_mock_cluster_t *mc = NULL;
	rd_kafka_topic_partition_list_t *tp = NULL;
	FILE *out = NULL;
	int ret = -EIO;

	owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!owner) {
		fprintf(stderr, "pf-fresh: %s\n", err);
		goto cleanup;
	}
	mc = rd_kafka_mock_cluster_new(owner, 1);
	if (!mc)
		goto cleanup;
	for (int i = 0; i < n_topics; i++)
		if (rd_kafka_mock_topic_create(mc, topics[i], 1, 1)) {
			fprintf(stderr, "pf-fresh: cannot create topic %s\n", topics[i]);
			goto cleanup;
		}
	out = fopen(out_path, "w");
	if (!out) {
		ret = -errno;
		goto cleanup;
	}
	conf = rd_kafka_conf_new();
	/* fetch what arrives at once: the figure is when a message becomes readable */
	if (kconf(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc)) ||
	    kconf(conf, "group.id", "pf-fresh") || kconf(conf, "fetch.wait.max.ms", "10") ||
	    kconf(conf, "fetch.error.backoff.ms", "10") ||
	    kconf(conf, "enable.auto.commit", "false")) {
		rd_kafka_conf_destroy(conf);
		goto cleanup;
	}
	cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!cons) {
		fprintf(stderr, "pf-fresh: %s\n", err);
		goto cleanup;
	}
	rd_kafka_poll_set_consumer(cons);
	tp = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(tp, topics[0], 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	if (rd_kafka_assign(cons, tp))
		goto cleanup;
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	while (!stop) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 100);
		uint64_t t = now_ns(CLOCK_REALTIME);

		if (!m)
			continue;
		if (!m->err)
			fprintf(out, "%" PRIu64 "\t%.*s\n", t, (int)m->len,
				(const char *)m->payload);
		rd_kafka_message_destroy(m);
		fflush(out);
	}
	ret = 0;
cleanup:
	if (tp)
		rd_kafka_topic_partition_list_destroy(tp);
	if (cons) {
		rd_kafka_consumer_close(cons);
		rd_kafka_destroy(cons);
	}
	if (out)
		fclose(out);
	if (mc)
		rd_kafka_mock_cluster_destroy(mc);
	if (owner)
		rd_kafka_destroy(owner);
	return ret;
}

struct client {
	struct sockaddr_in sa;
	uint64_t rate; /* this thread's connections per second */
	uint64_t duration_ns;
	uint64_t start_ns;  /* CLOCK_MONOTONIC, shared: the threads' schedules interleave */
	uint64_t offset_ns; /* this thread's first connection after start_ns */
	FILE *out;	    /* close times, this thread's own file */
	uint64_t done, failed;
};

/* One connection of pf-load's protocol: an 8-byte request, a 1-byte response, the server's FIN. */
static int one_conn(const struct client *c)
{
	uint32_t hdr[2] = { htole32(8), htole32(1) };
	char buf[16];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ret = -EIO;
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&c->sa, sizeof(c->sa)) ||
	    send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL) != (ssize_t)sizeof(hdr))
		goto cleanup;
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		;
	if (n == 0)
		ret = 0;
cleanup:
	close(fd);
	return ret;
}

static void *client_thread(void *arg)
{
	struct client *c = arg;
	uint64_t period = 1000000000ULL / c->rate;

	for (uint64_t i = 0;; i++) {
		uint64_t due = c->start_ns + c->offset_ns + i * period, t;
		struct timespec ts = { .tv_sec = due / 1000000000ULL,
				       .tv_nsec = due % 1000000000ULL };

		if (due - c->start_ns >= c->duration_ns || stop)
			break;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		if (one_conn(c)) {
			c->failed++;
			continue;
		}
		t = now_ns(CLOCK_REALTIME);
		fprintf(c->out, "%" PRIu64 "\n", t);
		c->done++;
	}
	return NULL;
}

/* `threads` paced clients, rate connections/s in all, for `seconds`; close times to out_path. */
static int run_client(const char *addr, int port, uint64_t rate, uint64_t seconds, int threads,
		      const char *out_path)
{
	struct client cl[FRESH_MAX_THREADS];
	pthread_t tid[FRESH_MAX_THREADS];
	uint64_t start = now_ns(CLOCK_MONOTONIC), done = 0, failed = 0;
	FILE *out = fopen(out_path, "w");
	int ret = 0;

	if (!out)
		return -errno;
	for (int i = 0; i < threads; i++) {
		cl[i] = (struct client){ .rate = rate / threads,
					 .duration_ns = seconds * 1000000000ULL,
					 .start_ns = start,
					 .offset_ns = (uint64_t)i * (1000000000ULL / rate) };
		cl[i].sa.sin_family = AF_INET;
		cl[i].sa.sin_port = htons(port);
		if (inet_pton(AF_INET, addr, &cl[i].sa.sin_addr) != 1)
			return -EINVAL;
		cl[i].out = tmpfile();
		if (!cl[i].out || pthread_create(&tid[i], NULL, client_thread, &cl[i]))
			return -EIO;
	}
	for (int i = 0; i < threads; i++) {
		char line[32];

		pthread_join(tid[i], NULL);
		rewind(cl[i].out);
		while (fgets(line, sizeof(line), cl[i].out))
			fputs(line, out);
		fclose(cl[i].out);
		done += cl[i].done;
		failed += cl[i].failed;
	}
	if (fclose(out))
		ret = -errno;
	printf("{\"connections\":%" PRIu64 ",\"failed\":%" PRIu64 "}\n", done, failed);
	return ret;
}

static void usage(void)
{
	fprintf(stderr, "usage: pf-fresh kafka --out FILE TOPIC [TOPIC...]\n"
			"       pf-fresh client --addr A --port P --rate R --seconds S "
			"[--threads N] --out FILE\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL, *addr = "127.0.0.1";
	uint64_t rate = 100, seconds = 10;
	int port = 0, threads = 4, opt, err;

	if (argc < 2) {
		usage();
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	optind = 2;
	while ((opt = getopt_long(argc, argv, "o:a:p:r:s:t:", opts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			out = optarg;
			break;
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'r':
			rate = strtoull(optarg, NULL, 10);
			break;
		case 's':
			seconds = strtoull(optarg, NULL, 10);
			break;
		case 't':
			threads = atoi(optarg);
			break;
		default:
			usage();
			return 2;
		}
	}
	if (!out) {
		usage();
		return 2;
	}
	if (strcmp(argv[1], "kafka") == 0 && optind < argc) {
		err = run_kafka(argv + optind, argc - optind, out);
	} else if (strcmp(argv[1], "client") == 0 && port > 0 && rate > 0 && threads > 0 &&
		   threads <= FRESH_MAX_THREADS && rate >= (uint64_t)threads) {
		err = run_client(addr, port, rate, seconds, threads, out);
	} else {
		usage();
		return 2;
	}
	if (err)
		fprintf(stderr, "pf-fresh: %s\n", strerror(-err));
	return err ? 1 : 0;
}
