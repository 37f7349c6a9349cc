// SPDX-License-Identifier: BSD-2-Clause
/* The insight view's Kafka source: a consumer of the flows topic feeding the view (librdkafka). */
#define _GNU_SOURCE
#include "insight_kafka.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "insight.h"
#include "insight_record.h"
#include "log.h"

#define OP_TIMEOUT_MS 500   /* one blocking metadata/offsets call: bounds the stop latency */
#define POLL_MS	      100   /* consumer poll: bounds the stop latency when idle */
#define REFRESH_MS    10000 /* metadata check for new partitions */
#define RETRY_MS      1000  /* ... this soon while the topic is missing or incomplete */
#define REPORT_MS     250   /* progress to the view at most this often */
#define BAD_LOG_MS    60000 /* bad messages: one line at most this often */
#define SLACK_MS      60000 /* records are produced after they end, give or take the clocks */
#define WHY_LEN	      160

#define LOAD(p)	    __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, n)   __atomic_fetch_add((p), (n), __ATOMIC_RELAXED)

struct insight_kafka {
	char *brokers;
	char *topic;
	uint64_t since_ms;
	struct insight *in;
	rd_kafka_t *rk;

	pthread_t thread;
	bool started;
	int stop;

	/* the thread's */
	struct kafka_parts parts;
	bool missing_noted; /* "does not exist yet" said */
	int64_t next_refresh_mono, next_report_mono, next_bad_log_mono;
	uint64_t bad_unlogged; /* bad messages since the last line about them */
	struct insight_flow batch[INSIGHT_KAFKA_BATCH];
	json_t *roots[INSIGHT_KAFKA_BATCH]; /* what the batch's strings point into */
	size_t n_batch;

	/* any thread: atomics */
	uint64_t consumed, added, too_old, bad, errors, rebuilt;
	uint32_t partitions;
	int caught_up;

	struct kafka_errors kerr;
};

static bool stopping(struct insight_kafka *k)
{
	return LOAD(&k->stop) != 0;
}

/* Served on the thread by rd_kafka_consumer_poll. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct insight_kafka *k = opaque;

	(void)rk;
	/*
	 * rd_kafka_assign needs a group.id, so librdkafka looks up a
	 * coordinator it never uses: its troubles say nothing about fetching
	 * (2.0.2 prefixes them "GroupCoordinator").
	 */
	if (strncmp(reason, "GroupCoordinator", 16) == 0) {
		pr_debug("insight kafka: %s", reason);
		return;
	}
	ADD(&k->errors, 1);
	kafka_errors__log(&k->kerr, err, "consumer (%s): %s", k->brokers, reason);
}

static void report(struct insight_kafka *k)
{
	struct insight_source_stats s = {
		.source = "kafka",
		.rebuild = LOAD(&k->caught_up) ? "done" : "running",
		.rebuilt = LOAD(&k->rebuilt),
		.consumed = LOAD(&k->consumed),
		.bad_messages = LOAD(&k->bad),
	};

	insight__set_source_stats(k->in, &s);
}

/* ---- assignment ------------------------------------------------------------------- */

/*
 * Assigns the partitions not assigned yet, each from the offset for the
 * window's start, less the slack (records are produced after they end);
 * records before the window are skipped as they come.
 */
static void assign_new(struct insight_kafka *k, const rd_kafka_metadata_topic_t *mt)
{
	const struct kafka_assign a = {
		.rk = k->rk,
		.errors = &k->kerr,
		.topic = k->topic,
		.since_ms = (int64_t)(k->since_ms > SLACK_MS ? k->since_ms - SLACK_MS : 0),
		.since_what = "the window's start",
		.timeout_ms = OP_TIMEOUT_MS,
		.stop = &k->stop,
		.errored = &k->errors,
	};

	if (kafka_parts__assign_new(&k->parts, mt, &a) <= 0)
		return;
	/* a partition with nothing to replay is caught up at once */
	for (int32_t i = 0; i < k->parts.n; i++) {
		struct kafka_part *p = &k->parts.p[i];

		if (p->assigned && p->next >= p->hi_target)
			p->caught_up = true;
	}
	STORE(&k->partitions, (uint32_t)k->parts.n_assigned);
}

/*
 * Metadata for all topics, not just ours: a request naming a topic makes
 * brokers that cannot be told allow.auto.create.topics=false (Metadata <
 * v4, librdkafka's own mock) create it.
 */
static void refresh(struct insight_kafka *k)
{
	const struct rd_kafka_metadata *md = NULL;
	const rd_kafka_metadata_topic_t *mt = NULL;
	rd_kafka_resp_err_t rerr;

	rerr = rd_kafka_metadata(k->rk, /*all_topics=*/1, NULL, &md, OP_TIMEOUT_MS);
	if (rerr) {
		ADD(&k->errors, 1);
		kafka_errors__log(&k->kerr, rerr, "metadata from %s", k->brokers);
		k->parts.complete = false;
		return;
	}
	mt = kafka_metadata_topic(md, k->topic);
	if (!mt || mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
		/* expected until the sink's first record creates it: said once */
		if (!k->missing_noted)
			pr_warn("insight kafka: topic %s does not exist yet; checking every %d ms",
				k->topic, RETRY_MS);
		k->missing_noted = true;
		k->parts.complete = false;
	} else if (mt->err) {
		ADD(&k->errors, 1);
		kafka_errors__log(&k->kerr, mt->err, "%s: metadata", k->topic);
		k->parts.complete = false;
	} else {
		assign_new(k, mt);
	}
	rd_kafka_metadata_destroy(md);
}

/* ---- messages --------------------------------------------------------------------- */

static void flush_batch(struct insight_kafka *k)
{
	if (!k->n_batch)
		return;
	insight__add(k->in, k->batch, k->n_batch, (uint64_t)clock_wall_ms());
	for (size_t i = 0; i < k->n_batch; i++)
		json_decref(k->roots[i]);
	ADD(&k->added, k->n_batch);
	if (!LOAD(&k->caught_up))
		ADD(&k->rebuilt, k->n_batch);
	k->n_batch = 0;
}

static void count_bad(struct insight_kafka *k, const rd_kafka_message_t *m, const char *why)
{
	int64_t mono = clock_mono_ms();

	ADD(&k->bad, 1);
	if (mono < k->next_bad_log_mono) {
		k->bad_unlogged++;
		return;
	}
	k->next_bad_log_mono = mono + BAD_LOG_MS;
	pr_warn("insight kafka: %s [%d] offset %" PRId64 ": skipped, %s (%" PRIu64
		" more skipped since the last such line; at most one a minute)",
		k->topic, m->partition, m->offset, why, k->bad_unlogged);
	k->bad_unlogged = 0;
}

static void part_advanced(struct kafka_part *p, int64_t next)
{
	if (next > p->next)
		p->next = next;
	if (p->next >= p->hi_target)
		p->caught_up = true;
}

static void handle(struct insight_kafka *k, const rd_kafka_message_t *m)
{
	struct insight_flow *f = &k->batch[k->n_batch];
	struct kafka_part *p = kafka_parts__get(&k->parts, m->partition);
	char why[WHY_LEN];
	json_t *root;

	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		/* the offset of an EOF event is the end: position == high watermark */
		if (p)
			part_advanced(p, m->offset);
		return;
	}
	if (m->err) {
		ADD(&k->errors, 1);
		kafka_errors__log(&k->kerr, m->err, "consuming %s [%d]", k->topic, m->partition);
		return;
	}
	if (!p)
		return;
	ADD(&k->consumed, 1);
	part_advanced(p, m->offset + 1);
	if (!m->payload) {
		count_bad(k, m, "record: an empty message");
		return;
	}
	if (insight_record_parse_text(m->payload, m->len, &root, f, why, sizeof(why))) {
		count_bad(k, m, why);
		return;
	}
	if (f->end_ms < k->since_ms) {
		ADD(&k->too_old, 1);
		json_decref(root);
		return;
	}
	k->roots[k->n_batch++] = root;
}

/* After a flush: what the view holds now includes every backlog. */
static void check_caught_up(struct insight_kafka *k)
{
	if (LOAD(&k->caught_up) || !kafka_parts__caught_up(&k->parts))
		return;
	STORE(&k->caught_up, 1);
	kafka_errors__recovered(&k->kerr);
	pr_info("insight kafka: %s: caught up (%d partitions, %" PRIu64
		" records in the window, %" PRIu64 " older, %" PRIu64 " bad)",
		k->topic, k->parts.n_assigned, LOAD(&k->added), LOAD(&k->too_old), LOAD(&k->bad));
	report(k);
}

static void *consume_main(void *arg)
{
	struct insight_kafka *k = arg;
	rd_kafka_message_t *m;
	int64_t mono;

	report(k);
	while (!stopping(k)) {
		mono = clock_mono_ms();
		if (mono >= k->next_refresh_mono) {
			refresh(k);
			k->next_refresh_mono =
			    clock_mono_ms() + (k->parts.complete ? REFRESH_MS : RETRY_MS);
		}
		m = rd_kafka_consumer_poll(k->rk, POLL_MS);
		while (m) {
			handle(k, m);
			rd_kafka_message_destroy(m);
			m = k->n_batch < INSIGHT_KAFKA_BATCH && !stopping(k)
				? rd_kafka_consumer_poll(k->rk, 0)
				: NULL;
		}
		flush_batch(k);
		check_caught_up(k);
		mono = clock_mono_ms();
		if (mono >= k->next_report_mono) {
			k->next_report_mono = mono + REPORT_MS;
			report(k);
		}
	}
	for (size_t i = 0; i < k->n_batch; i++)
		json_decref(k->roots[i]);
	k->n_batch = 0;
	return NULL;
}

/* ---- lifecycle -------------------------------------------------------------------- */

static const char *const refused_props[] = {
	"group.id",
	"set by insight.group_id",
	"enable.auto.commit",
	"the view commits nothing: it replays its window at each start",
	"enable.partition.eof",
	"the consumer needs it to know when it has caught up",
	NULL,
};

static rd_kafka_t *make_consumer(struct insight_kafka *k, const struct insight_kafka_opts *o,
				 char *why, size_t len)
{
	rd_kafka_conf_t *conf = kafka_conf_new(k);

	if (!conf) {
		snprintf(why, len, "insight kafka: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	rd_kafka_conf_set_error_cb(conf, error_cb);
	if (kafka_conf_set(conf, "insight kafka", "bootstrap.servers", o->brokers, why, len) ||
	    kafka_conf_set(conf, "insight kafka", "client.id", "podflow-collector-insight", why,
			   len) ||
	    /* rd_kafka_assign needs one; the view never joins the group nor commits */
	    kafka_conf_set(conf, "insight kafka", "group.id", o->group_id, why, len) ||
	    kafka_conf_set(conf, "insight kafka", "enable.auto.commit", "false", why, len) ||
	    kafka_conf_set(conf, "insight kafka", "enable.auto.offset.store", "false", why, len) ||
	    kafka_conf_set(conf, "insight kafka", "enable.partition.eof", "true", why, len) ||
	    kafka_conf_set(conf, "insight kafka", "auto.offset.reset", "earliest", why, len) ||
	    kafka_conf_extra(conf, "insight kafka", o->props, "consumer.", "producer.",
			     refused_props, why, len)) {
		rd_kafka_conf_destroy(conf);
		errno = EINVAL;
		return NULL;
	}
	/* owns conf, whatever the outcome */
	return kafka_new(RD_KAFKA_CONSUMER, conf, "insight kafka", why, len);
}

struct insight_kafka *insight_kafka__new(const struct insight_kafka_opts *o, struct insight *in,
					 char *why, size_t len)
{
	struct insight_kafka *k = NULL;
	int err = -EINVAL;

	if (!o->brokers || !o->brokers[0]) {
		snprintf(why, len, "insight kafka: no brokers");
		goto cleanup;
	}
	if (!o->group_id || !o->group_id[0]) {
		snprintf(why, len, "insight kafka: no group id");
		goto cleanup;
	}
	err = -ENOMEM;
	k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(why, len, "insight kafka: out of memory");
		goto cleanup;
	}
	kafka_errors__init(&k->kerr, "insight kafka");
	k->in = in;
	k->since_ms = o->since_ms;
	k->brokers = strdup(o->brokers);
	k->topic = strdup(o->topic && o->topic[0] ? o->topic : INSIGHT_KAFKA_DEFAULT_TOPIC);
	if (!k->brokers || !k->topic) {
		snprintf(why, len, "insight kafka: out of memory");
		goto cleanup;
	}
	k->rk = make_consumer(k, o, why, len);
	if (!k->rk) {
		err = -errno;
		goto cleanup;
	}
	/* messages and errors both come through rd_kafka_consumer_poll */
	rd_kafka_poll_set_consumer(k->rk);
	err = -pthread_create(&k->thread, NULL, consume_main, k);
	if (err) {
		snprintf(why, len, "insight kafka: cannot start its thread: %s", strerror(-err));
		goto cleanup;
	}
	k->started = true;
	return k;
cleanup:
	insight_kafka__free(k);
	errno = -err;
	return NULL;
}

void insight_kafka__free(struct insight_kafka *k)
{
	if (!k)
		return;
	if (k->started) {
		STORE(&k->stop, 1);
		pthread_join(k->thread, NULL);
	}
	/* nothing to leave or commit: the consumer never joins its group */
	if (k->rk)
		rd_kafka_destroy_flags(k->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	kafka_parts__free(&k->parts);
	free(k->brokers);
	free(k->topic);
	kafka_errors__destroy(&k->kerr);
	free(k);
}

void insight_kafka__stats(struct insight_kafka *k, struct insight_kafka_stats *out)
{
	int64_t when;

	memset(out, 0, sizeof(*out));
	out->consumed = LOAD(&k->consumed);
	out->added = LOAD(&k->added);
	out->too_old = LOAD(&k->too_old);
	out->bad_messages = LOAD(&k->bad);
	out->errors = LOAD(&k->errors);
	out->rebuilt = LOAD(&k->rebuilt);
	out->partitions = LOAD(&k->partitions);
	out->caught_up = LOAD(&k->caught_up) != 0;
	kafka_errors__last(&k->kerr, out->last_error, &when);
}
