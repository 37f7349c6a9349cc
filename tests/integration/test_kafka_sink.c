// SPDX-License-Identifier: BSD-2-Clause
/* Kafka sink integration tests: collector/kafka_sink against librdkafka's mock cluster, read back with kcat. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka_sink.h"
#include "flow.h"
#include "harness.h"
#include "harness_main.h"
#include "jsonw.h"
#include "kafka_mock.h"
#include "log.h"
#include "metrics.h"

/* app, namespace, pod, node, workload (flow.h's order) */
#define IDENT(a, ns, p, n, w)                                                           \
	{                                                                               \
		.app = (a), .namespace = (ns), .pod = (p), .node = (n), .workload = (w) \
	}

#define TOPIC	  "podflow.flows"
#define WAIT_MS	  30000 /* deadline for anything the sink or kcat should get to */
#define N_IDENTS  9	/* 8 apps and one pod without an app label */
#define NO_APP	  8	/* the index of the app-less identity */
#define RETRY_MS  2	/* a writer refused with -ENOBUFS tries again after this (the 429 path) */
#define SEQ_ROUND 1000000ull
#define API_PRODUCE \
	0 /* the Kafka protocol's ApiKey of ProduceRequest (not in the public headers) */

/* Fast reconnects so a broker brought back is used again within the test's deadlines. */
#define FAST_PROPS "reconnect.backoff.ms", "20", "reconnect.backoff.max.ms", "200"

static const char *const fast_props[] = { FAST_PROPS, NULL };

static const struct flow_identity idents[N_IDENTS] = {
	IDENT("checkout", "shop", "checkout-7d9f5-x2x4q", "node-1", "checkout"),
	IDENT("cart", "shop", "cart-5c8b7-h7k2d", "node-2", "cart"),
	IDENT("payments", "billing", "payments-0", "node-1", "payments"),
	IDENT("search", "catalog", "search-6f4c9-ab12c", "node-3", "search"),
	IDENT("café-ui", "front", "cafe-ui-1", "node-2", "café-ui"), /* UTF-8 in the key */
	IDENT("a", "x", "a-1", "node-1", "a"),			     /* a one-byte key */
	IDENT("inventory-service-with-a-rather-long-application-name", "catalog", "inv-1", "node-3",
	      "inventory"),
	IDENT("auth", "security", "auth-0", "node-1", "auth"),
	IDENT("", "batch", "cron-2841", "node-2", ""),
};
static const struct flow_identity remote_ident = IDENT("db", "data", "db-0", "node-9", "db");

/* ---- the mock cluster, with the error injection kafka_mock.h does not offer ---- */

struct mock {
	rd_kafka_t *owner;
	rd_kafka_mock_cluster_t *mc;
	char *bootstraps;
};

static void mock_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	if (level <= 2)
		pr_warn("kafka-mock: %s: %s", fac, buf);
	else
		pr_debug("kafka-mock: %s: %s", fac, buf);
}

static void mock_free(struct mock *m)
{
	if (!m)
		return;
	if (m->mc)
		rd_kafka_mock_cluster_destroy(m->mc);
	if (m->owner)
		rd_kafka_destroy(m->owner);
	free(m->bootstraps);
	free(m);
}

/* `brokers` brokers, and TOPIC with `partitions` partitions, partition p led by broker p % brokers + 1. */
static struct mock *mock_new(int brokers, int partitions)
{
	struct mock *m = calloc(1, sizeof(*m));
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[256];

	if (!m || !conf)
		goto fail;
	rd_kafka_conf_set_log_cb(conf, mock_log_cb);
	m->owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!m->owner)
		goto fail;
	conf = NULL;
	m->mc = rd_kafka_mock_cluster_new(m->owner, brokers);
	if (!m->mc)
		goto fail;
	m->bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(m->mc));
	if (!m->bootstraps || rd_kafka_mock_topic_create(m->mc, TOPIC, partitions, 1))
		goto fail;
	for (int p = 0; p < partitions; p++)
		if (rd_kafka_mock_partition_set_leader(m->mc, TOPIC, p, p % brokers + 1))
			goto fail;
	return m;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	mock_free(m);
	return NULL;
}

static int broker_down(struct mock *m, int32_t id)
{
	return rd_kafka_mock_broker_set_down(m->mc, id) ? -EIO : 0;
}

static int broker_up(struct mock *m, int32_t id)
{
	return rd_kafka_mock_broker_set_up(m->mc, id) ? -EIO : 0;
}

/* ---- records and what a consumer must read ---- */

/* Record `seq` of identity `app`: every field derived from seq, so every value is distinct. */
static void make_record(struct flow_record *r, uint64_t seq, int app)
{
	static const char hex[] = "0123456789abcdef";

	memset(r, 0, sizeof(*r));
	r->start_ms = 1732700000000ull + seq;
	r->end_ms = r->start_ms + 5000;
	r->bytes_sent = seq;
	r->bytes_received = seq * 3 + 1;
	r->segs_sent = seq % 977;
	r->segs_received = seq % 983;
	r->cgroup_id = 4242 + (uint64_t)app;
	r->flows = 1 + seq % 5;
	r->closed = seq % 2;
	r->failed = seq % 7 == 0;
	r->err = seq % 7 == 0 ? ECONNREFUSED : 0;
	r->retransmits = (uint32_t)(seq % 11);
	r->resets = (uint32_t)(seq % 13 == 0);
	r->srtt_us = 100 + (uint32_t)(seq % 1000);
	r->min_rtt_us = 50;
	r->pid = 1000 + (uint32_t)app;
	r->local_port = 8080;
	r->remote_port = (uint16_t)(1024 + seq % 60000);
	r->family = 4;
	r->direction = seq % 2 ? FLOW_DIRECTION_IN : FLOW_DIRECTION_OUT;
	r->local_addr[10] = r->local_addr[11] = 0xff;
	r->local_addr[12] = 10;
	r->local_addr[13] = (uint8_t)app;
	r->local_addr[15] = 7;
	r->remote_addr[10] = r->remote_addr[11] = 0xff;
	r->remote_addr[12] = 10;
	r->remote_addr[13] = 200;
	r->remote_addr[14] = (uint8_t)(seq >> 8);
	r->remote_addr[15] = (uint8_t)seq;
	/* a comm that is not UTF-8: the JSON must still read back byte for byte */
	memcpy(r->comm, seq % 5 ? "java" : "w\xfforker", seq % 5 ? 4 : 8);
	for (int i = 0; i < 64; i++)
		r->container_id[i] = hex[(seq + (uint64_t)i * (uint64_t)app) % 16];
	r->container = "main";
	r->local = &idents[app];
	r->remote = seq % 3 ? &remote_ident : NULL;
	r->remote_source = seq % 3 ? FLOW_SOURCE_KUBE : FLOW_SOURCE_UNATTRIBUTED;
}

static char *record_json(const struct flow_record *r)
{
	struct jsonw *jw = jsonw__new();
	const char *d;
	char *s = NULL;
	size_t len;

	if (!jw)
		return NULL;
	flow_record_json(r, jw);
	d = jsonw__data(jw, &len);
	if (!jsonw__error(jw))
		s = strndup(d, len);
	jsonw__free(jw);
	return s;
}

/* The values a consumer must read, each exactly once. */
struct expect {
	char **vals;
	size_t n, cap;
};

static int expect_add(struct expect *e, const struct flow_record *r)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 1024;
		char **v = realloc(e->vals, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		e->vals = v;
		e->cap = cap;
	}
	e->vals[e->n] = record_json(r);
	return e->vals[e->n++] ? 0 : -ENOMEM;
}

static void expect_free(struct expect *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->vals[i]);
	free(e->vals);
	memset(e, 0, sizeof(*e));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- kcat: a real consumer ---- */

static const char *kcat_path(void)
{
	static const char *const paths[] = { "/usr/bin/kcat", "/usr/local/bin/kcat" };

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

struct kcat_result {
	size_t read, missing, dups, disorder;
};

static int kcat_read(struct mock *m, const struct expect *e, int partitions, bool ordered,
		     struct kcat_result *res);

/*
 * Reads the whole topic with kcat (-J: one JSON envelope per message, the
 * key null when there is none) and checks it against `e`: the multiset of
 * values equal, every key the value's local_app (none for ""), every app
 * in the partition murmur2 names, and, where `ordered`, each app's records
 * in the order they were written (bytes_sent grows).  0 or 1.
 */
static int kcat_check(struct mock *m, const struct expect *e, int partitions, bool ordered)
{
	return kcat_read(m, e, partitions, ordered, NULL);
}

/* As kcat_check; with `res`, the counts are given there instead of asserted. */
static int kcat_read(struct mock *m, const struct expect *e, int partitions, bool ordered,
		     struct kcat_result *res)
{
	const char *kcat = kcat_path();
	const char *argv[] = {
		kcat,  "-C", "-q",	  "-b", m->bootstraps, "-t",
		TOPIC, "-o", "beginning", "-e", "-J",	       NULL,
	};
	uint64_t last_seq[N_IDENTS];
	char *out = NULL, *line, *save = NULL, **got = NULL, **want = NULL;
	size_t n = 0, dups = 0, missing = 0, disorder = 0;
	int st, ret = 1;
	json_t *env = NULL;
	size_t cap;

	memset(last_seq, 0, sizeof(last_seq));
	ASSERT_TRUE("kcat installed (make deps)", kcat != NULL);
	st = harness_run_to_file(argv, WAIT_MS, &out);
	ASSERT_EQ_U64("kcat exit", 0, st);
	cap = e->n + 16;
	got = calloc(cap, sizeof(*got));
	want = calloc(e->n + 1, sizeof(*want));
	ASSERT_TRUE("memory", got && want);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *rec, *key;
		const char *app;
		json_error_t jerr;
		int idx = -1;

		env = json_loads(line, 0, &jerr);
		ASSERT_TRUE("kcat -J line is JSON", env != NULL);
		ASSERT_TRUE("a payload", json_is_string(json_object_get(env, "payload")));
		if (n == cap) {
			char **g = realloc(got, (cap *= 2) * sizeof(*got));

			ASSERT_TRUE("memory", g != NULL);
			got = g;
		}
		got[n] = strdup(json_string_value(json_object_get(env, "payload")));
		ASSERT_TRUE("memory", got[n] != NULL);
		rec = json_loads(got[n], 0, &jerr);
		n++;
		ASSERT_TRUE("the value is JSON", rec != NULL);
		app = json_string_value(json_object_get(rec, "local_app"));
		for (int i = 0; app && i < N_IDENTS; i++)
			if (strcmp(app, idents[i].app) == 0)
				idx = i;
		/* an app-less record has no key, so no partition of its own and no order */
		if (idx >= 0 && idx != NO_APP && ordered) {
			uint64_t seq =
			    (uint64_t)json_integer_value(json_object_get(rec, "bytes_sent"));

			/* an app's records are in one partition, read in offset order */
			if (seq <= last_seq[idx] && disorder++ == 0)
				fprintf(stderr, "    app %s: record %llu read after %llu\n", app,
					(unsigned long long)seq, (unsigned long long)last_seq[idx]);
			last_seq[idx] = seq;
		}
		json_decref(rec);
		ASSERT_TRUE("local_app is a known app", idx >= 0);
		key = json_object_get(env, "key");
		if (idx == NO_APP) {
			ASSERT_TRUE("no key without an app", json_is_null(key));
		} else {
			ASSERT_STR("key = local_app", idents[idx].app, json_string_value(key));
			ASSERT_EQ_U64(
			    "partition = murmur2(app)",
			    (kafka_mock_murmur2(idents[idx].app, strlen(idents[idx].app)) &
			     0x7fffffff) %
				(uint32_t)partitions,
			    json_integer_value(json_object_get(env, "partition")));
		}
		json_decref(env);
		env = NULL;
	}
	memcpy(want, e->vals, e->n * sizeof(*want));
	qsort(want, e->n, sizeof(*want), cmp_str);
	qsort(got, n, sizeof(*got), cmp_str);
	for (size_t i = 1; i < n; i++)
		dups += strcmp(got[i - 1], got[i]) == 0;
	for (size_t i = 0, j = 0; i < e->n; i++) {
		while (j < n && strcmp(got[j], want[i]) < 0)
			j++;
		if (j < n && strcmp(got[j], want[i]) == 0)
			j++;
		else
			missing++;
	}
	fprintf(stderr,
		"    kcat read %zu messages: %zu missing, %zu duplicates, %zu out of order\n", n,
		missing, dups, disorder);
	if (res) {
		*res = (struct kcat_result){ n, missing, dups, disorder };
		ret = 0;
		goto cleanup;
	}
	ASSERT_EQ_U64("duplicates", 0, dups);
	ASSERT_EQ_U64("missing", 0, missing);
	ASSERT_EQ_U64("messages read", e->n, n);
	ASSERT_EQ_U64("records of an app out of order", 0, disorder);
	for (size_t i = 0; i < n; i++)
		ASSERT_STR("value", want[i], got[i]);
	ret = 0;
cleanup:
	json_decref(env);
	for (size_t i = 0; got && i < n; i++)
		free(got[i]);
	free(got);
	free(want);
	free(out);
	return ret;
}

/* ---- the sink ---- */

static struct kafka_sink *sink_new(struct mock *m, uint32_t max_queued, uint64_t max_bytes,
				   const char *compression, const char *const *props)
{
	struct kafka_sink_opts o = {
		.brokers = m->bootstraps,
		.topic = TOPIC,
		.compression = compression,
		.linger_ms = -1, /* the default */
		.max_queued = max_queued,
		.max_queued_bytes = max_bytes,
		.props = props ? props : fast_props,
	};
	struct kafka_sink *ks;
	char why[256] = "";

	ks = kafka_sink__new(&o, why, sizeof(why));
	if (!ks)
		fprintf(stderr, "    kafka_sink__new: %s\n", why);
	return ks;
}

#define STAT(field) offsetof(struct kafka_sink_stats, field)

static uint64_t stat_at(struct kafka_sink *ks, size_t off)
{
	struct kafka_sink_stats st;

	kafka_sink__stats(ks, &st);
	return *(uint64_t *)((char *)&st + off);
}

static bool wait_stat(struct kafka_sink *ks, size_t off, uint64_t want, int timeout_ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)timeout_ms;

	do {
		if (stat_at(ks, off) == want)
			return true;
		harness_sleep_ms(5);
	} while (harness_now_ms() < end);
	return stat_at(ks, off) == want;
}

/* The failures of every reason. */
static uint64_t failed_total(const struct kafka_sink_stats *st)
{
	uint64_t failed = 0;

	for (int i = 0; i < KAFKA_FAIL__COUNT; i++)
		failed += st->failed[i];
	return failed;
}

/*
 * kafka_sink__write (and __write_wait below), adding the records it was
 * offered (the kept ones) to *offered: a record offered again after a
 * refusal counts again.
 */
static int write_counted(struct kafka_sink *ks, const struct flow_record *r, uint32_t n,
			 const bool *keep, uint64_t *offered)
{
	for (uint32_t i = 0; i < n; i++)
		*offered += !keep || keep[i];
	return kafka_sink__write(ks, r, n, keep);
}

static int write_wait_counted(struct kafka_sink *ks, const struct flow_record *r, uint32_t n,
			      int timeout_ms, uint64_t *offered)
{
	*offered += n;
	return kafka_sink__write_wait(ks, r, n, NULL, timeout_ms);
}

/* Every record queued is accounted for: delivered, failed, or still in flight. */
static int check_balance(struct kafka_sink *ks)
{
	struct kafka_sink_stats st;
	uint64_t failed = 0;
	int ret = 1;

	kafka_sink__stats(ks, &st);
	for (int i = 0; i < KAFKA_FAIL__COUNT; i++)
		failed += st.failed[i];
	ASSERT_EQ_U64("queued = delivered + failed + in flight", st.queued,
		      st.delivered + failed + st.in_flight);
	if (st.in_flight == 0)
		ASSERT_EQ_U64("no bytes in flight", 0, st.in_flight_bytes);
	ret = 0;
cleanup:
	return ret;
}

/*
 * One writer: records [from, to) of the apps given, in batches, some not
 * kept; refused with -ENOBUFS it tries the same batch again, as a sender
 * answered 429 does.
 */
struct writer {
	struct kafka_sink *ks;
	struct flow_record *recs; /* n, made beforehand */
	bool *keep;		  /* n */
	uint32_t n, batch;
	int pace_us; /* sleep after each batch (0: none) */
	uint64_t refusals, refused_recs, calls;
	int err; /* the first error other than -ENOBUFS */
	pthread_t thread;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	for (uint32_t i = 0; i < w->n; i += w->batch) {
		uint32_t n = w->n - i < w->batch ? w->n - i : w->batch;
		int err;

		while ((err = kafka_sink__write(w->ks, w->recs + i, n, w->keep + i)) == -ENOBUFS) {
			w->refusals++;
			for (uint32_t j = i; j < i + n; j++)
				w->refused_recs += w->keep[j];
			harness_sleep_ms(RETRY_MS);
		}
		w->calls++;
		if (err && !w->err)
			w->err = err;
		if (w->pace_us)
			usleep((useconds_t)w->pace_us);
	}
	return NULL;
}

/*
 * Makes n records for writer `t` of `nthreads`: it writes apps t, t +
 * nthreads, ... in turn (one writer per app keeps an app's order
 * checkable), every 7th not kept.  Kept ones go to `e`.
 */
static int writer_init(struct writer *w, struct kafka_sink *ks, int t, int nthreads, uint32_t n,
		       uint32_t batch, struct expect *e)
{
	int apps[N_IDENTS], n_apps = 0;

	memset(w, 0, sizeof(*w));
	for (int a = t; a < N_IDENTS; a += nthreads)
		apps[n_apps++] = a;
	w->ks = ks;
	w->n = n;
	w->batch = batch;
	w->recs = calloc(n, sizeof(*w->recs));
	w->keep = calloc(n, sizeof(*w->keep));
	if (!w->recs || !w->keep || !n_apps)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		make_record(&w->recs[i], (uint64_t)(t + 1) * SEQ_ROUND + i, apps[i % n_apps]);
		w->keep[i] = i % 7 != 3;
		if (w->keep[i] && expect_add(e, &w->recs[i]))
			return -ENOMEM;
	}
	return 0;
}

static void writer_free(struct writer *w)
{
	free(w->recs);
	free(w->keep);
}

/* ---- tests ---- */

/*
 * 4 writer threads, 20000 records (8 apps and an app-less pod) on 4
 * partitions of 3 brokers: kcat reads back exactly the kept ones, each
 * once, keyed by app, in the app's partition and order.
 */
static int test_records_equal_kcat(void)
{
	enum { THREADS = 4, PER = 5000 };
	struct mock *m = mock_new(3, 4);
	struct writer w[THREADS] = { 0 };
	struct expect e = { 0 };
	struct kafka_sink *ks = NULL;
	struct kafka_sink_stats st;
	uint64_t bytes = 0;
	int ret = 1;

	ASSERT_TRUE("mock cluster", m != NULL);
	ks = sink_new(m, 0, 0, NULL, NULL);
	ASSERT_TRUE("sink", ks != NULL);
	for (int t = 0; t < THREADS; t++)
		ASSERT_EQ_U64("records", 0, writer_init(&w[t], ks, t, THREADS, PER, 100, &e));
	for (size_t i = 0; i < e.n; i++) {
		json_t *v = json_loads(e.vals[i], 0, NULL);
		const char *app = json_string_value(json_object_get(v, "local_app"));

		bytes += strlen(e.vals[i]) + (app ? strlen(app) : 0);
		json_decref(v);
	}
	for (int t = 0; t < THREADS; t++)
		ASSERT_EQ_U64("writer", 0, pthread_create(&w[t].thread, NULL, writer_main, &w[t]));
	for (int t = 0; t < THREADS; t++) {
		pthread_join(w[t].thread, NULL);
		w[t].thread = 0;
		ASSERT_EQ_U64("write", 0, -w[t].err);
		ASSERT_EQ_U64("never refused", 0, w[t].refusals);
	}
	ASSERT_EQ_U64("flush: nothing left", 0, kafka_sink__flush(ks, WAIT_MS));
	kafka_sink__stats(ks, &st);
	ASSERT_EQ_U64("queued", e.n, st.queued);
	ASSERT_EQ_U64("delivered", e.n, st.delivered);
	ASSERT_EQ_U64("queued bytes", bytes, st.queued_bytes);
	ASSERT_EQ_U64("delivered bytes", bytes, st.delivered_bytes);
	for (int i = 0; i < KAFKA_FAIL__COUNT; i++)
		ASSERT_EQ_U64(kafka_fail_name(i), 0, st.failed[i]);
	ASSERT_EQ_U64("refused", 0,
		      st.refused_queue_full + st.refused_too_large + st.refused_error);
	ASSERT_EQ_U64("in flight", 0, st.in_flight);
	ASSERT_EQ_U64("balance", 0, check_balance(ks));
	ASSERT_EQ_U64("kcat", 0, kcat_check(m, &e, 4, true));
	ret = 0;
cleanup:
	for (int t = 0; t < THREADS; t++) {
		if (w[t].thread)
			pthread_join(w[t].thread, NULL);
		writer_free(&w[t]);
	}
	kafka_sink__free(ks);
	mock_free(m);
	expect_free(&e);
	return ret;
}

/*
 * The writers go on while the cluster misbehaves: injected retriable
 * produce errors and a disconnect, a leader down for a second, acks
 * delayed past the request timeout (the records are on the broker, the
 * producer retries them: only idempotence keeps them single), then every
 * broker down.  The bounded queue refuses meanwhile and the writers retry.
 * Then exactly every record, once each, in each app's order.
 */
/*
 * Writers go on while the cluster misbehaves: injected retriable produce
 * errors and a disconnect, a leader down for a second, then every broker
 * down.  The bounded queue refuses meanwhile and the writers retry, as
 * senders answered 429 do.  Returns what kcat read in *res.
 *
 * lost_acks: before the brokers go down, each holds its next produce
 * answers for 1.5 s, so requests it has appended lose their answer with the
 * connection and the producer sends them again.  A broker deduplicates
 * those by producer id and sequence; librdkafka 2.0.2's mock does not (it
 * appends the retry: docs/kafka-sink.md), so only the control run without
 * idempotence uses them, to show duplicates are seen when they happen.
 */
static int chaos(bool idempotent, bool lost_acks, struct kcat_result *res)
{
	enum { THREADS = 3, PER = 8000 };
	/* KAFKA_RDDEBUG=eos,msg,...: librdkafka's debug contexts (with KAFKA_DEBUG=1 to see them) */
	const char *dbg = getenv("KAFKA_RDDEBUG");
	const char *props[16] = {
		FAST_PROPS,
		"retry.backoff.ms",
		"20",
	};
	int np = 6;
	struct mock *m = mock_new(3, 3);
	struct writer w[THREADS] = { 0 };
	struct expect e = { 0 };
	struct kafka_sink *ks = NULL;
	struct kafka_sink_stats st;
	uint64_t refusals = 0, refused_recs = 0;
	struct report_fault f;
	int ret = 1;

	ASSERT_TRUE("mock cluster", m != NULL);
	if (dbg) {
		props[np++] = "debug";
		props[np++] = dbg;
	}
	if (!idempotent) {
		props[np++] = "enable.idempotence";
		props[np++] = "false";
	}
	ks = sink_new(m, /*max_queued=*/3000, 0, NULL, props);
	ASSERT_TRUE("sink", ks != NULL);
	for (int t = 0; t < THREADS; t++) {
		ASSERT_EQ_U64("records", 0, writer_init(&w[t], ks, t, THREADS, PER, 50, &e));
		w[t].pace_us = 25000; /* ~ 4 s of writing: the trouble below happens meanwhile */
	}
	for (int t = 0; t < THREADS; t++)
		ASSERT_EQ_U64("writer", 0, pthread_create(&w[t].thread, NULL, writer_main, &w[t]));

	harness_sleep_ms(200);
	rd_kafka_mock_push_request_errors(
	    m->mc, API_PRODUCE, 6, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
	    RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
	    RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
	    RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
	harness_sleep_ms(300);
	ASSERT_EQ_U64("broker 2 down", 0, broker_down(m, 2));
	harness_sleep_ms(1000);
	ASSERT_EQ_U64("broker 2 up", 0, broker_up(m, 2));
	harness_sleep_ms(500);
	for (int32_t b = 1; lost_acks && b <= 3; b++)
		ASSERT_EQ_U64("answers held", 0,
			      rd_kafka_mock_broker_push_request_error_rtts(
				  m->mc, b, API_PRODUCE, 2, RD_KAFKA_RESP_ERR_NO_ERROR, 1500,
				  RD_KAFKA_RESP_ERR_NO_ERROR, 1500));
	harness_sleep_ms(700);
	ASSERT_EQ_U64("all down", 0, broker_down(m, -1));
	harness_sleep_ms(800);
	ASSERT_EQ_U64("all up", 0, broker_up(m, -1));

	for (int t = 0; t < THREADS; t++) {
		pthread_join(w[t].thread, NULL);
		w[t].thread = 0;
		ASSERT_EQ_U64("write", 0, -w[t].err);
		refusals += w[t].refusals;
		refused_recs += w[t].refused_recs;
	}
	ASSERT_EQ_U64("flush: nothing left", 0, kafka_sink__flush(ks, WAIT_MS));
	kafka_sink__stats(ks, &st);
	fprintf(stderr, "    %s: %zu records, %llu writes refused (queue full) and retried\n",
		idempotent ? "idempotent" : "NOT idempotent", e.n, (unsigned long long)refusals);
	ASSERT_TRUE("the queue filled while the brokers were down", refusals > 0);
	ASSERT_EQ_U64("queued", e.n, st.queued);
	ASSERT_EQ_U64("delivered", e.n, st.delivered);
	for (int i = 0; i < KAFKA_FAIL__COUNT; i++)
		ASSERT_EQ_U64(kafka_fail_name(i), 0, st.failed[i]);
	ASSERT_EQ_U64("records refused", refused_recs, st.refused_queue_full);
	ASSERT_EQ_U64("fatal", 0, st.fatal);
	ASSERT_EQ_U64("balance", 0, check_balance(ks));
	ASSERT_EQ_U64("kcat", 0, kcat_read(m, &e, 3, true, res));
	if (!res) {
		/* kcat_read asserted: exactly these records, each once, in each app's order */
		f = (struct report_fault){
			.fault = "produce errors, a leader down, then every broker down",
			.unit = "records",
			.injected = e.n,
			.delivered = st.delivered,
			.counted = failed_total(&st),
			.counted_as = "failed_total{reason}",
			.note = "no duplicates, each app in order; writes refused (queue full) "
				"meanwhile and retried",
		};
		f.lost = f.injected - f.delivered - f.counted;
		ASSERT_EQ_U64("every record on the topic once", 0, f.lost);
		harness_report(&f);
	}
	ret = 0;
cleanup:
	for (int t = 0; t < THREADS; t++) {
		if (w[t].thread)
			pthread_join(w[t].thread, NULL);
		writer_free(&w[t]);
	}
	kafka_sink__free(ks);
	mock_free(m);
	expect_free(&e);
	return ret;
}

static int test_chaos_no_loss_no_dups(void)
{
	return chaos(/*idempotent=*/true, /*lost_acks=*/false, NULL);
}

/*
 * The control: the same trouble, answers lost with the connection, and no
 * idempotence.  The records sent again are read twice: kcat_check would
 * have caught them.
 */
static int test_chaos_control_without_idempotence(void)
{
	struct kcat_result res = { 0 };
	int ret = 1;

	ASSERT_EQ_U64("chaos", 0, chaos(/*idempotent=*/false, /*lost_acks=*/true, &res));
	ASSERT_EQ_U64("none missing", 0, res.missing);
	ASSERT_TRUE("duplicates seen", res.dups > 0);
	ret = 0;
cleanup:
	return ret;
}

/* Records [from, to) of app `app`, all kept. */
static struct flow_record *make_records(uint64_t from, uint32_t n, int app)
{
	struct flow_record *r = calloc(n, sizeof(*r));

	for (uint32_t i = 0; r && i < n; i++)
		make_record(&r[i], from + i, app);
	return r;
}

/*
 * A full queue refuses a whole write, never part of it; a write larger
 * than the queue can ever hold is -EMSGSIZE; the bytes bound likewise.
 * Only what was accepted reaches the topic.
 */
static int test_queue_full_all_or_nothing(void)
{
	struct mock *m = mock_new(1, 1);
	struct flow_record *r = make_records(SEQ_ROUND, 300, 0);
	bool keep[300], none[10] = { false };
	struct kafka_sink *ks = NULL, *kb = NULL;
	struct expect e = { 0 };
	struct kafka_sink_stats st, st_b;
	uint64_t ten_bytes = 0, offered = 0;
	struct report_fault f;
	int ret = 1;

	ASSERT_TRUE("mock cluster", m && r);
	/* nothing is delivered while the broker is down: the queue only fills */
	ASSERT_EQ_U64("broker down", 0, broker_down(m, 1));
	ks = sink_new(m, /*max_queued=*/100, 0, NULL, NULL);
	ASSERT_TRUE("sink", ks != NULL);
	ASSERT_EQ_U64("60 fit", 0, write_counted(ks, r, 60, NULL, &offered));
	ASSERT_EQ_U64("60 more do not", -ENOBUFS, write_counted(ks, r + 60, 60, NULL, &offered));
	kafka_sink__stats(ks, &st);
	ASSERT_EQ_U64("in flight", 60, st.in_flight);
	ASSERT_EQ_U64("queued", 60, st.queued);
	ASSERT_EQ_U64("refused, all 60", 60, st.refused_queue_full);
	/* 40 of 80, by keep: exactly the room left */
	for (int i = 0; i < 80; i++)
		keep[i] = i % 2 == 0;
	ASSERT_EQ_U64("40 kept of 80 fit", 0, write_counted(ks, r + 60, 80, keep, &offered));
	ASSERT_EQ_U64("one more does not", -ENOBUFS, write_counted(ks, r + 140, 1, NULL, &offered));
	ASSERT_EQ_U64("none kept: nothing to do", 0,
		      write_counted(ks, r + 140, 10, none, &offered));
	ASSERT_EQ_U64("larger than the queue", -EMSGSIZE,
		      write_counted(ks, r + 141, 101, NULL, &offered));
	kafka_sink__stats(ks, &st);
	ASSERT_EQ_U64("in flight", 100, st.in_flight);
	ASSERT_EQ_U64("queued", 100, st.queued);
	ASSERT_EQ_U64("refused", 61, st.refused_queue_full);
	ASSERT_EQ_U64("too large", 101, st.refused_too_large);
	for (int i = 0; i < 60; i++)
		ASSERT_EQ_U64("expect", 0, expect_add(&e, &r[i]));
	for (int i = 0; i < 80; i++)
		if (keep[i])
			ASSERT_EQ_U64("expect", 0, expect_add(&e, &r[60 + i]));

	/* the bytes bound: exactly ten records' worth */
	for (int i = 250; i < 260; i++) {
		char *v = record_json(&r[i]);

		ASSERT_TRUE("json", v != NULL);
		ten_bytes += strlen(v) + strlen(idents[0].app);
		free(v);
	}
	kb = sink_new(m, 100, ten_bytes, NULL, NULL);
	ASSERT_TRUE("sink", kb != NULL);
	ASSERT_EQ_U64("eleven do not fit the bytes", -EMSGSIZE,
		      write_counted(kb, r + 250, 11, NULL, &offered));
	ASSERT_EQ_U64("ten fit", 0, write_counted(kb, r + 250, 10, NULL, &offered));
	ASSERT_EQ_U64("no byte left", -ENOBUFS, write_counted(kb, r + 260, 1, NULL, &offered));
	kafka_sink__stats(kb, &st);
	ASSERT_EQ_U64("bytes in flight", ten_bytes, st.in_flight_bytes);
	ASSERT_EQ_U64("records in flight", 10, st.in_flight);
	for (int i = 250; i < 260; i++)
		ASSERT_EQ_U64("expect", 0, expect_add(&e, &r[i]));

	ASSERT_EQ_U64("broker up", 0, broker_up(m, 1));
	ASSERT_EQ_U64("flush", 0, kafka_sink__flush(ks, WAIT_MS));
	ASSERT_EQ_U64("flush", 0, kafka_sink__flush(kb, WAIT_MS));
	kafka_sink__stats(ks, &st);
	ASSERT_EQ_U64("delivered", 100, st.delivered);
	ASSERT_EQ_U64("room again", 0, st.in_flight);
	ASSERT_EQ_U64("balance", 0, check_balance(ks));
	ASSERT_EQ_U64("balance", 0, check_balance(kb));
	ASSERT_EQ_U64("kcat", 0, kcat_check(m, &e, 1, false));
	kafka_sink__stats(kb, &st_b);
	f = (struct report_fault){
		.fault = "writes past the queue's records or bytes bound, broker down",
		.unit = "records offered",
		.injected = offered,
		.delivered = st.delivered + st_b.delivered,
		.counted = st.refused_queue_full + st.refused_too_large + st_b.refused_queue_full +
			   st_b.refused_too_large,
		.counted_as = "-ENOBUFS (429) or -EMSGSIZE (413) for the whole write, "
			      "records_total{result=\"refused_*\"}",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every record delivered or refused whole and counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	kafka_sink__free(ks);
	kafka_sink__free(kb);
	mock_free(m);
	expect_free(&e);
	free(r);
	return ret;
}

struct later {
	struct mock *m;
	int after_ms;
};

static void *broker_up_later(void *arg)
{
	struct later *l = arg;

	harness_sleep_ms(l->after_ms);
	broker_up(l->m, 1);
	return NULL;
}

/* The attributor's path: no one to answer 429 to, so it waits for room, within its deadline. */
static int test_write_wait(void)
{
	struct mock *m = mock_new(1, 1);
	struct flow_record *r = make_records(2 * SEQ_ROUND, 30, 1);
	struct later l = { m, 500 };
	struct kafka_sink *ks = NULL;
	struct kafka_sink_stats st;
	pthread_t th = 0;
	uint64_t t0, took, offered = 0;
	struct report_fault f;
	int ret = 1;

	ASSERT_TRUE("mock cluster", m && r);
	ASSERT_EQ_U64("broker down", 0, broker_down(m, 1));
	ks = sink_new(m, /*max_queued=*/20, 0, NULL, NULL);
	ASSERT_TRUE("sink", ks != NULL);
	ASSERT_EQ_U64("20 fit", 0, write_counted(ks, r, 20, NULL, &offered));
	t0 = harness_now_ms();
	ASSERT_EQ_U64("no room within 300 ms", -ENOBUFS,
		      write_wait_counted(ks, r + 20, 5, /*timeout_ms=*/300, &offered));
	took = harness_now_ms() - t0;
	fprintf(stderr, "    refused after %llu ms\n", (unsigned long long)took);
	ASSERT_TRUE("waited its deadline", took >= 300 && took < 1300);
	ASSERT_EQ_U64("thread", 0, pthread_create(&th, NULL, broker_up_later, &l));
	t0 = harness_now_ms();
	ASSERT_EQ_U64("room once delivered", 0,
		      write_wait_counted(ks, r + 20, 10, /*timeout_ms=*/WAIT_MS, &offered));
	took = harness_now_ms() - t0;
	fprintf(stderr, "    room after %llu ms (the broker came back after %d ms)\n",
		(unsigned long long)took, l.after_ms);
	ASSERT_TRUE("not before the broker was back", took >= 400);
	ASSERT_EQ_U64("flush", 0, kafka_sink__flush(ks, WAIT_MS));
	kafka_sink__stats(ks, &st);
	ASSERT_EQ_U64("delivered", 30, st.delivered);
	ASSERT_EQ_U64("refused", 5, st.refused_queue_full);
	f = (struct report_fault){
		.fault = "broker down while the attributor writes and waits for room",
		.unit = "records offered",
		.injected = offered,
		.delivered = st.delivered,
		.counted = failed_total(&st) + st.refused_queue_full,
		.counted_as = "-ENOBUFS once the wait's deadline passed, refused_queue_full",
		.note = "the refused records offered again once the broker was back, delivered",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every record delivered", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	if (th)
		pthread_join(th, NULL);
	kafka_sink__free(ks);
	mock_free(m);
	free(r);
	return ret;
}

/* Records that cannot be delivered in message.timeout.ms fail as timed_out; the sink goes on after. */
static int test_timed_out_counted(void)
{
	static const char *const props[] = { FAST_PROPS, "message.timeout.ms", "1000", NULL };
	struct mock *m = mock_new(1, 1);
	struct flow_record *r = make_records(3 * SEQ_ROUND, 40, 2);
	struct kafka_sink *ks = NULL;
	struct kafka_sink_stats st;
	struct expect e = { 0 };
	uint64_t offered = 0, delivered_down;
	struct report_fault f;
	int ret = 1;

	ASSERT_TRUE("mock cluster", m && r);
	ASSERT_EQ_U64("broker down", 0, broker_down(m, 1));
	ks = sink_new(m, 0, 0, NULL, props);
	ASSERT_TRUE("sink", ks != NULL);
	ASSERT_EQ_U64("write", 0, write_counted(ks, r, 30, NULL, &offered));
	ASSERT_TRUE("timed out", wait_stat(ks, STAT(failed[KAFKA_FAIL_TIMED_OUT]), 30, WAIT_MS));
	kafka_sink__stats(ks, &st);
	delivered_down = st.delivered;
	ASSERT_EQ_U64("delivered", 0, delivered_down);
	ASSERT_EQ_U64("in flight", 0, st.in_flight);
	ASSERT_EQ_U64("never sent", 0, st.possibly_persisted);
	ASSERT_TRUE("the error kept", strstr(st.last_error, "timed out") != NULL);
	fprintf(stderr, "    last error: %s\n", st.last_error);

	ASSERT_EQ_U64("broker up", 0, broker_up(m, 1));
	ASSERT_EQ_U64("write after", 0, kafka_sink__write(ks, r + 30, 10, NULL));
	ASSERT_EQ_U64("flush", 0, kafka_sink__flush(ks, WAIT_MS));
	kafka_sink__stats(ks, &st);
	ASSERT_EQ_U64("delivered after", 10, st.delivered);
	ASSERT_EQ_U64("timed out", 30, st.failed[KAFKA_FAIL_TIMED_OUT]);
	ASSERT_EQ_U64("balance", 0, check_balance(ks));
	for (int i = 30; i < 40; i++)
		ASSERT_EQ_U64("expect", 0, expect_add(&e, &r[i]));
	ASSERT_EQ_U64("kcat", 0, kcat_check(m, &e, 1, true));
	f = (struct report_fault){
		.fault = "broker down past message.timeout.ms",
		.unit = "records",
		.injected = offered,
		.delivered = delivered_down,
		.counted = st.failed[KAFKA_FAIL_TIMED_OUT],
		.counted_as = "failed_total{reason=\"timed_out\"}, the error kept",
		.note = "the records written once the broker was back delivered",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every record that could not be delivered counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	kafka_sink__free(ks);
	mock_free(m);
	expect_free(&e);
	free(r);
	return ret;
}

/*
 * Errors the producer does not retry fail the records of that request,
 * counted by reason (auth, too_large, ...); the sink goes on with the next.
 */
static int test_permanent_errors_by_reason(void)
{
	static const struct {
		rd_kafka_resp_err_t err;
		enum kafka_fail reason;
	} cases[] = {
		{ RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, KAFKA_FAIL_AUTH },
		{ RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, KAFKA_FAIL_TOO_LARGE },
		{ RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS, KAFKA_FAIL_OTHER },
	};
	/* one write, one request: its records share its fate */
	static const char *const props[] = { FAST_PROPS, "linger.ms", "200", NULL };
	struct mock *m = mock_new(1, 1);
	struct flow_record *r = make_records(4 * SEQ_ROUND, 100, 3);
	struct kafka_sink *ks = NULL;
	struct kafka_sink_stats st;
	struct expect e = { 0 };
	uint64_t at = 0, end, refusals = 0, offered = 0, failed;
	struct report_fault f;
	int ret = 1, err;

	ASSERT_TRUE("mock cluster", m && r);
	ks = sink_new(m, 0, 0, NULL, props);
	ASSERT_TRUE("sink", ks != NULL);
	/* a first record, so the producer has its id and the topic's leader before the errors */
	ASSERT_EQ_U64("write", 0, kafka_sink__write(ks, r, 1, NULL));
	ASSERT_EQ_U64("flush", 0, kafka_sink__flush(ks, WAIT_MS));
	ASSERT_EQ_U64("expect", 0, expect_add(&e, &r[0]));
	at = 1;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		rd_kafka_mock_push_request_errors(m->mc, API_PRODUCE, 1, cases[c].err);
		ASSERT_EQ_U64("write", 0, write_counted(ks, r + at, 20, NULL, &offered));
		ASSERT_EQ_U64("flush", 0, kafka_sink__flush(ks, WAIT_MS));
		at += 20;
		kafka_sink__stats(ks, &st);
		fprintf(stderr, "    %s: %s\n", rd_kafka_err2name(cases[c].err), st.last_error);
		ASSERT_EQ_U64(kafka_fail_name(cases[c].reason), 20, st.failed[cases[c].reason]);
		/*
		 * The next write goes through; after an error about the topic
		 * librdkafka refuses it at once (-EACCES) until its next
		 * metadata, and the sender, answered 503, tries again.
		 */
		for (end = harness_now_ms() + WAIT_MS;
		     (err = kafka_sink__write(ks, r + at, 5, NULL)) && harness_now_ms() < end;
		     harness_sleep_ms(20)) {
			ASSERT_EQ_U64("refused for the topic", -EACCES, err);
			refusals++;
		}
		ASSERT_EQ_U64("write after", 0, err);
		ASSERT_EQ_U64("flush", 0, kafka_sink__flush(ks, WAIT_MS));
		for (int i = 0; i < 5; i++)
			ASSERT_EQ_U64("expect", 0, expect_add(&e, &r[at + i]));
		at += 5;
	}
	kafka_sink__stats(ks, &st);
	fprintf(stderr, "    writes refused meanwhile: %llu\n", (unsigned long long)refusals);
	ASSERT_EQ_U64("delivered", 1 + 3 * 5, st.delivered);
	ASSERT_EQ_U64("refused", refusals * 5, st.refused_error);
	ASSERT_EQ_U64("fatal", 0, st.fatal);
	ASSERT_EQ_U64("balance", 0, check_balance(ks));
	ASSERT_EQ_U64("kcat", 0, kcat_check(m, &e, 1, true));
	failed = 0;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		failed += st.failed[cases[c].reason];
	f = (struct report_fault){
		.fault = "produce answered with an error not retried (auth, too large, other)",
		.unit = "records",
		.injected = offered,
		.counted = failed,
		.counted_as = "failed_total{reason}, the error kept",
		.note = "writes after each refused (-EACCES, 503) until the next metadata, then "
			"delivered",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every failed record counted by reason", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	kafka_sink__free(ks);
	mock_free(m);
	expect_free(&e);
	free(r);
	return ret;
}

/*
 * SIGTERM: what is delivered within the budget is; the rest is purged and
 * counted, and flush returns within its budget.
 */
static int test_flush_within_budget(void)
{
	struct mock *m = mock_new(1, 1);
	struct flow_record *r = make_records(5 * SEQ_ROUND, 1500, 4);
	struct kafka_sink *ks = NULL;
	struct kafka_sink_stats st;
	struct expect e = { 0 };
	uint64_t t0, took, offered = 0, delivered_before;
	struct report_fault f;
	int ret = 1, left;

	ASSERT_TRUE("mock cluster", m && r);
	ks = sink_new(m, 0, 0, NULL, NULL);
	ASSERT_TRUE("sink", ks != NULL);
	ASSERT_EQ_U64("write", 0, kafka_sink__write(ks, r, 1000, NULL));
	t0 = harness_now_ms();
	ASSERT_EQ_U64("flush: all delivered", 0, kafka_sink__flush(ks, 5000));
	fprintf(stderr, "    1000 records flushed in %llu ms\n",
		(unsigned long long)(harness_now_ms() - t0));
	for (int i = 0; i < 1000; i++)
		ASSERT_EQ_U64("expect", 0, expect_add(&e, &r[i]));

	kafka_sink__stats(ks, &st);
	delivered_before = st.delivered;
	ASSERT_EQ_U64("broker down", 0, broker_down(m, 1));
	ASSERT_EQ_U64("write", 0, write_counted(ks, r + 1000, 500, NULL, &offered));
	t0 = harness_now_ms();
	left = kafka_sink__flush(ks, 1000);
	took = harness_now_ms() - t0;
	fprintf(stderr,
		"    flush(1000 ms) with the broker down: %d left, returned after %llu ms\n", left,
		(unsigned long long)took);
	ASSERT_EQ_U64("left", 500, left);
	ASSERT_TRUE("within the budget (+100 ms of scheduling)", took <= 1100);
	/*
	 * rd_kafka_purge() hands the purge to the broker thread, which here is
	 * in its reconnect backoff: the purged messages' reports may still be
	 * coming when flush's budget is spent (under ASan, 142 of 500 within
	 * its 200 ms once).  The sink's report thread counts the rest: each is
	 * counted, shortly after.
	 */
	for (uint64_t until = harness_now_ms() + 3000;; harness_sleep_ms(10)) {
		kafka_sink__stats(ks, &st);
		if (st.failed[KAFKA_FAIL_PURGED] >= 500 || harness_now_ms() > until)
			break;
	}
	ASSERT_EQ_U64("purged", 500, st.failed[KAFKA_FAIL_PURGED]);
	ASSERT_EQ_U64("in flight", 0, st.in_flight);
	ASSERT_EQ_U64("delivered", 1000, st.delivered);
	ASSERT_EQ_U64("balance", 0, check_balance(ks));
	f = (struct report_fault){
		.fault = "stop (flush with a 1 s budget) while the broker is down",
		.unit = "records",
		.injected = offered,
		.delivered = st.delivered - delivered_before,
		.counted = st.failed[KAFKA_FAIL_PURGED],
		.counted_as = "failed_total{reason=\"purged\"}",
		.note = "flush returned within its budget",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every record left at the deadline purged and counted", 0, f.lost);
	/* the queue's room is back: the sink takes writes again */
	ASSERT_EQ_U64("broker up", 0, broker_up(m, 1));
	ASSERT_EQ_U64("write after", 0, kafka_sink__write(ks, r + 1000, 7, NULL));
	ASSERT_EQ_U64("flush", 0, kafka_sink__flush(ks, WAIT_MS));
	for (int i = 1000; i < 1007; i++)
		ASSERT_EQ_U64("expect", 0, expect_add(&e, &r[i]));
	ASSERT_EQ_U64("kcat", 0, kcat_check(m, &e, 1, false));
	harness_report(&f);
	ret = 0;
cleanup:
	kafka_sink__free(ks);
	mock_free(m);
	expect_free(&e);
	free(r);
	return ret;
}

/* Freeing with records still queued purges and counts them, promptly. */
static int test_free_purges(void)
{
	struct mock *m = mock_new(1, 1);
	struct flow_record *r = make_records(6 * SEQ_ROUND, 50, 5);
	struct kafka_sink *ks = NULL;
	uint64_t t0;
	int ret = 1;

	ASSERT_TRUE("mock cluster", m && r);
	ASSERT_EQ_U64("broker down", 0, broker_down(m, 1));
	ks = sink_new(m, 0, 0, NULL, NULL);
	ASSERT_TRUE("sink", ks != NULL);
	ASSERT_EQ_U64("write", 0, kafka_sink__write(ks, r, 50, NULL));
	t0 = harness_now_ms();
	kafka_sink__free(ks);
	ks = NULL;
	ASSERT_TRUE("free within a second", harness_now_ms() - t0 < 1000);
	kafka_sink__free(NULL);
	ret = 0;
cleanup:
	kafka_sink__free(ks);
	mock_free(m);
	free(r);
	return ret;
}

/*
 * The broker answers a first batch with "out of order sequence number"
 * (it lost records it had acknowledged, say): the idempotent producer
 * cannot go on without a gap or a duplicate, so librdkafka stops it.  The sink counts the queued records as failed, says
 * so (stats.fatal), and refuses every write after with -EIO (503).
 */
static int test_fatal_refuses_writes(void)
{
	struct mock *m = mock_new(1, 1);
	struct flow_record *r = make_records(9 * SEQ_ROUND, 20, 6);
	struct kafka_sink *ks = NULL;
	struct kafka_sink_stats st;
	uint64_t offered = 0, delivered_before;
	struct report_fault f;
	int ret = 1;

	ASSERT_TRUE("mock cluster", m && r);
	ks = sink_new(m, 0, 0, NULL, NULL);
	ASSERT_TRUE("sink", ks != NULL);
	ASSERT_EQ_U64("write", 0, kafka_sink__write(ks, r, 1, NULL));
	ASSERT_EQ_U64("flush", 0, kafka_sink__flush(ks, WAIT_MS));
	kafka_sink__stats(ks, &st);
	delivered_before = st.delivered;
	rd_kafka_mock_push_request_errors(m->mc, API_PRODUCE, 1,
					  RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
	ASSERT_EQ_U64("write", 0, write_counted(ks, r + 1, 10, NULL, &offered));
	ASSERT_EQ_U64("flush", 0, kafka_sink__flush(ks, WAIT_MS));
	/*
	 * librdkafka queues the fatal error event after the failed messages'
	 * delivery reports: flush returns once the reports are in, and the
	 * sink's report thread may take the event a poll later (seen under ASan).
	 */
	for (uint64_t until = harness_now_ms() + 3000;; harness_sleep_ms(10)) {
		kafka_sink__stats(ks, &st);
		if (st.fatal || harness_now_ms() > until)
			break;
	}
	fprintf(stderr, "    fatal %d, last error: %s\n", st.fatal, st.last_error);
	ASSERT_TRUE("fatal", st.fatal);
	ASSERT_EQ_U64("the 10 failed", 10, st.failed[KAFKA_FAIL_OTHER]);
	ASSERT_EQ_U64("refused after", -EIO, write_counted(ks, r + 11, 5, NULL, &offered));
	kafka_sink__stats(ks, &st);
	ASSERT_EQ_U64("refused counted", 5, st.refused_error);
	ASSERT_EQ_U64("delivered", 1, st.delivered);
	ASSERT_EQ_U64("balance", 0, check_balance(ks));
	f = (struct report_fault){
		.fault = "fatal producer error (out-of-order sequence)",
		.unit = "records",
		.injected = offered,
		.delivered = st.delivered - delivered_before,
		.counted = failed_total(&st) + st.refused_error,
		.counted_as = "failed_total{reason=\"other\"} for those queued, -EIO (503) and "
			      "refused_error for writes after; fatal 1",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every record failed or refused, counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	kafka_sink__free(ks);
	mock_free(m);
	free(r);
	return ret;
}

/* The metrics families, with the values of a known run. */
static int test_metrics(void)
{
	struct mock *m = mock_new(1, 1);
	struct flow_record *r = make_records(7 * SEQ_ROUND, 12, NO_APP);
	struct metrics_writer *mw = metrics_writer__new();
	struct kafka_sink *ks = NULL;
	struct kafka_sink_stats st;
	const char *text;
	char line[160];
	size_t len;
	int ret = 1;

	ASSERT_TRUE("mock cluster", m && r && mw);
	ks = sink_new(m, /*max_queued=*/10, 0, NULL, NULL);
	ASSERT_TRUE("sink", ks != NULL);
	ASSERT_EQ_U64("write", 0, kafka_sink__write(ks, r, 10, NULL));
	ASSERT_EQ_U64("full", -ENOBUFS, kafka_sink__write(ks, r + 10, 2, NULL));
	ASSERT_EQ_U64("flush", 0, kafka_sink__flush(ks, WAIT_MS));
	for (uint64_t end = harness_now_ms() + WAIT_MS; harness_now_ms() < end;
	     harness_sleep_ms(10)) {
		kafka_sink__stats(ks, &st);
		if (st.brokers_up == 1)
			break;
	}
	kafka_sink__stats(ks, &st);
	kafka_sink__metrics(ks, mw);
	ASSERT_EQ_U64("metrics", 0, metrics_writer__error(mw));
	text = metrics_writer__text(mw, &len);
#define HAS(...)                                                                            \
	do {                                                                                \
		snprintf(line, sizeof(line), __VA_ARGS__);                                  \
		if (!strstr(text, line)) {                                                  \
			fprintf(stderr, "    FAIL metrics: no \"%s\" in:\n%s", line, text); \
			goto cleanup;                                                       \
		}                                                                           \
	} while (0)
	HAS("# TYPE podflow_collector_kafka_sink_records_total counter\n");
	HAS("podflow_collector_kafka_sink_records_total{result=\"queued\"} 10\n");
	HAS("podflow_collector_kafka_sink_records_total{result=\"delivered\"} 10\n");
	HAS("podflow_collector_kafka_sink_records_total{result=\"refused_queue_full\"} 2\n");
	HAS("podflow_collector_kafka_sink_failed_total{reason=\"purged\"} 0\n");
	HAS("podflow_collector_kafka_sink_failed_total{reason=\"timed_out\"} 0\n");
	HAS("podflow_collector_kafka_sink_bytes_total{result=\"delivered\"} %llu\n",
	    (unsigned long long)st.delivered_bytes);
	HAS("podflow_collector_kafka_sink_in_flight_records 0\n");
	HAS("podflow_collector_kafka_sink_max_queued_records 10\n");
	HAS("podflow_collector_kafka_sink_brokers_up 1\n");
	HAS("podflow_collector_kafka_sink_fatal 0\n");
	HAS("# TYPE podflow_collector_kafka_sink_sent_bytes_total counter\n");
#undef HAS
	ASSERT_TRUE("bytes", st.delivered_bytes > 10 * 500);
	ret = 0;
cleanup:
	kafka_sink__free(ks);
	metrics_writer__free(mw);
	mock_free(m);
	free(r);
	return ret;
}

static int test_bad_options(void)
{
	static const char *const unknown[] = { "no.such.property", "1", NULL };
	static const char *const bad_value[] = { "producer.linger.ms", "soon", NULL };
	static const char *const no_value[] = { "linger.ms", NULL };
	static const char *const bound[] = { "queue.buffering.max.messages", "5", NULL };
	static const char *const bound2[] = { "producer.queue.buffering.max.kbytes", "5", NULL };
	static const char *const dr_err[] = { "delivery.report.only.error", "true", NULL };
	static const char *const consumer_only[] = { "consumer.fetch.wait.max.ms", "soon", NULL };
	struct kafka_sink_opts o = { .brokers = "127.0.0.1:9" };
	struct kafka_sink *ks = NULL;
	uint64_t tried = 0, refused = 0;
	struct report_fault f;
	char why[256];
	int ret = 1;

#define REFUSED(what, needle)                                                                      \
	do {                                                                                       \
		why[0] = '\0';                                                                     \
		errno = 0;                                                                         \
		tried++;                                                                           \
		ks = kafka_sink__new(&o, why, sizeof(why));                                        \
		ASSERT_TRUE(what, ks == NULL);                                                     \
		ASSERT_EQ_U64(what, EINVAL, errno);                                                \
		if (!strstr(why, needle)) {                                                        \
			fprintf(stderr, "    FAIL %s: \"%s\" not in \"%s\"\n", what, needle, why); \
			goto cleanup;                                                              \
		}                                                                                  \
		refused++;                                                                         \
	} while (0)

	o.brokers = NULL;
	REFUSED("no brokers", "no brokers");
	o.brokers = "";
	REFUSED("empty brokers", "no brokers");
	o.brokers = "127.0.0.1:9";
	o.compression = "brotli";
	REFUSED("compression", "brotli");
	o.compression = "zstd";
	o.props = unknown;
	REFUSED("unknown property", "no.such.property");
	o.props = bad_value;
	REFUSED("bad value", "linger.ms");
	o.props = no_value;
	REFUSED("no value", "linger.ms: no value");
	o.props = bound;
	REFUSED("the sink's bound", "queue.buffering.max.messages: set by the sink");
	o.props = bound2;
	REFUSED("the sink's bound", "queue.buffering.max.kbytes: set by the sink");
	o.props = dr_err;
	REFUSED("delivery reports", "delivery.report.only.error");
	o.props = consumer_only; /* not the producer's: ignored */
	ks = kafka_sink__new(&o, why, sizeof(why));
	ASSERT_TRUE("good options", ks != NULL);
	kafka_sink__free(ks);
	ks = NULL;
	f = (struct report_fault){
		.fault = "Kafka sink options missing, unknown, malformed or the sink's own",
		.unit = "option sets",
		.injected = tried,
		.counted = refused,
		.counted_as = "EINVAL with the reason naming the option",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each refused, named", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	kafka_sink__free(ks);
	return ret;
#undef REFUSED
}

/* ---- throughput: records/s per core of write + delivery (printed, not asserted) ---- */

struct cpu_snap {
	int n;
	struct {
		pid_t tid;
		char comm[32];
		uint64_t ticks;
	} t[256];
};

static void cpu_snap(struct cpu_snap *s)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;

	s->n = 0;
	while (d && (de = readdir(d)) && s->n < 256) {
		char path[300], buf[512], *p;
		unsigned long ut, st;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			   &st) == 2) {
			char *open = strchr(buf, '(');

			s->t[s->n].tid = atoi(de->d_name);
			snprintf(s->t[s->n].comm, sizeof(s->t[s->n].comm), "%.*s",
				 (int)(p - open - 1), open + 1);
			s->t[s->n].ticks = ut + st;
			s->n++;
		}
		fclose(f);
	}
	if (d)
		closedir(d);
}

/* CPU seconds between two snapshots of the threads whose name has `part` (NULL: all). */
static double cpu_delta(const struct cpu_snap *a, const struct cpu_snap *b, const char *part,
			pid_t only)
{
	uint64_t ticks = 0;

	for (int i = 0; i < b->n; i++) {
		uint64_t before = 0;

		if (only ? b->t[i].tid != only : part && !strstr(b->t[i].comm, part))
			continue;
		for (int j = 0; j < a->n; j++)
			if (a->t[j].tid == b->t[i].tid)
				before = a->t[j].ticks;
		ticks += b->t[i].ticks - before;
	}
	return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

struct bench {
	struct kafka_sink *ks;
	struct flow_record *recs;
	uint32_t n, batch;
	uint64_t refusals;
	pid_t tid;
	double thread_cpu;
};

static void *bench_writer(void *arg)
{
	struct bench *b = arg;
	struct timespec ts;

	b->tid = gettid();
	for (uint32_t i = 0; i < b->n; i += b->batch)
		while (kafka_sink__write(b->ks, b->recs + i, b->batch, NULL) == -ENOBUFS) {
			b->refusals++;
			harness_sleep_ms(1);
		}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	b->thread_cpu = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	return NULL;
}

static int bench_codec(const char *codec, struct flow_record *recs, uint32_t n)
{
	struct mock *m = mock_new(1, 3);
	struct bench b = { .recs = recs, .n = n, .batch = 500 };
	struct cpu_snap *before = calloc(1, sizeof(*before)), *after = calloc(1, sizeof(*after));
	struct kafka_sink_stats st;
	uint64_t t0, t1;
	pthread_t th;
	double sink_cpu, mock_cpu, wall;
	int ret = 1;

	ASSERT_TRUE("mock cluster", m && before && after);
	b.ks = sink_new(m, 0, 0, codec, NULL);
	ASSERT_TRUE("sink", b.ks != NULL);
	/* connected and with the producer id before the clock starts */
	ASSERT_EQ_U64("warm up", 0, kafka_sink__write(b.ks, recs, 1, NULL));
	ASSERT_EQ_U64("warm up", 0, kafka_sink__flush(b.ks, WAIT_MS));
	cpu_snap(before);
	t0 = harness_now_ms();
	ASSERT_EQ_U64("writer", 0, pthread_create(&th, NULL, bench_writer, &b));
	pthread_join(th, NULL);
	ASSERT_EQ_U64("flush", 0, kafka_sink__flush(b.ks, 120000));
	t1 = harness_now_ms();
	cpu_snap(after);
	/* the statistics that count the bytes sent come every second */
	harness_sleep_ms(1100);
	kafka_sink__stats(b.ks, &st);
	ASSERT_EQ_U64("delivered", (uint64_t)n + 1, st.delivered);
	wall = (double)(t1 - t0) / 1000;
	/* the writer, the report thread and librdkafka's threads; the mock broker apart */
	mock_cpu = cpu_delta(before, after, "mock", 0);
	sink_cpu = b.thread_cpu + cpu_delta(before, after, "kafka-sink", 0) +
		   cpu_delta(before, after, "rdk:", 0) - cpu_delta(before, after, "rdk:mock", 0);
	fprintf(
	    stderr,
	    "    %-6s %u records in %.2f s wall (%.0f/s); CPU s: writer %.2f, writer+librdkafka "
	    "%.2f, mock broker %.2f => %.0f records/s per core (write + delivery); "
	    "%.0f value bytes/record, %.0f sent/record (x%.1f)\n",
	    codec, n, wall, n / wall, b.thread_cpu, sink_cpu, mock_cpu,
	    sink_cpu > 0 ? n / sink_cpu : 0.0, (double)st.queued_bytes / (n + 1),
	    (double)st.tx_bytes / (n + 1),
	    st.tx_bytes ? (double)st.queued_bytes / (double)st.tx_bytes : 0.0);
	if (getenv("KAFKA_DEBUG"))
		for (int i = 0; i < after->n; i++)
			fprintf(stderr, "      thread %s: %.2f s\n", after->t[i].comm,
				cpu_delta(before, after, NULL, after->t[i].tid));
	ret = 0;
cleanup:
	kafka_sink__free(b.ks);
	mock_free(m);
	free(before);
	free(after);
	return ret;
}

static int test_throughput(void)
{
	static const char *const codecs[] = { "zstd", "lz4", "snappy", "gzip", "none" };
	uint32_t n =
	    getenv("KAFKA_SINK_BENCH_N") ? (uint32_t)atoi(getenv("KAFKA_SINK_BENCH_N")) : 200000;
	struct flow_record *recs = calloc(n, sizeof(*recs));
	int ret = 1;

	ASSERT_TRUE("memory", recs && n >= 1000);
	for (uint32_t i = 0; i < n; i++)
		make_record(&recs[i], 8 * SEQ_ROUND + i, (int)(i % N_IDENTS));
	for (size_t c = 0; c < sizeof(codecs) / sizeof(codecs[0]); c++)
		ASSERT_EQ_U64(codecs[c], 0, bench_codec(codecs[c], recs, n));
	ret = 0;
cleanup:
	free(recs);
	return ret;
}

static const struct harness_test tests[] = {
	{ "records_equal_kcat", test_records_equal_kcat },
	{ "chaos_no_loss_no_dups", test_chaos_no_loss_no_dups },
	{ "chaos_control_without_idempotence", test_chaos_control_without_idempotence },
	{ "queue_full_all_or_nothing", test_queue_full_all_or_nothing },
	{ "write_wait", test_write_wait },
	{ "timed_out_counted", test_timed_out_counted },
	{ "permanent_errors_by_reason", test_permanent_errors_by_reason },
	{ "flush_within_budget", test_flush_within_budget },
	{ "free_purges", test_free_purges },
	{ "fatal_refuses_writes", test_fatal_refuses_writes },
	{ "metrics", test_metrics },
	{ "bad_options", test_bad_options },
	{ "throughput", test_throughput },
};

int main(int argc, char **argv)
{
	/* KAFKA_DEBUG=1: the sink's and librdkafka's debug lines too */
	static const struct harness_suite suite = {
		.name = "kafka_sink",
		HARNESS_TESTS(tests),
		.debug_env = "KAFKA_DEBUG",
	};

	return harness_main(&suite, argc, argv);
}
