// SPDX-License-Identifier: BSD-2-Clause
/* The collector's Kafka output: attributed flow records as JSON messages (librdkafka, idempotent). */
#define _GNU_SOURCE
#include "kafka_sink.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "flow.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"

#define POLL_MS	       100 /* the report thread's poll: bounds how long stopping it takes */
#define STATS_MS       "1000"
#define PURGE_MAX_MS   200 /* of a flush's budget, kept for purging and counting the rest */
#define FREE_PURGE_MS  500 /* kafka_sink__free: purged reports get this long */
#define WAIT_SLICE_MS  50  /* kafka_sink__write_wait re-checks at least this often */
#define DEFAULT_CLIENT "podflow-collector"
#define WHO	       "kafka sink" /* what its log lines and messages start with */
/*
 * Kafka v2 record framing on top of key and value (varints for length,
 * timestamp and offset deltas, lengths, header count); librdkafka refuses
 * key + value + this over message.max.bytes at produce time.  Checked here
 * first, generously, so that a refusal is whole and never in mid-batch.
 */
#define RECORD_OVERHEAD 64
/* JSON buffers up to this size are kept for the next write (about 20,000 records) */
#define POOL_KEEP_MAX (16u << 20)

#define LOAD(p)	    __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, n)   __atomic_fetch_add((p), (n), __ATOMIC_RELAXED)

/*
 * What one write formats a batch with: kept between writes (a batch's
 * buffers are as large as the last's), one per writer thread at a time,
 * taken from and given back to the sink's pool.
 */
struct encoder {
	struct encoder *next;
	struct jsonw *jw;
	struct flow_json_cache *jc;
	struct msg {
		size_t start, end; /* of its value in the JSON buffer */
		const char *key;
		size_t key_len;
	} * msgs;
	uint32_t cap;
};

struct kafka_sink {
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	char *topic;
	char *brokers;
	uint32_t max_queued;
	uint64_t max_bytes;
	size_t max_msg; /* message.max.bytes */
	char codec[16]; /* compression.codec in force */

	pthread_t thread;
	bool started;
	int stop;

	/* the bound: reserved by writers, released by delivery reports (seq_cst: see wait_room) */
	uint64_t in_flight, in_flight_bytes;
	int waiters;
	pthread_mutex_t room_lock;
	pthread_cond_t room;

	/* counters, any thread */
	uint64_t queued, delivered, failed[KAFKA_FAIL__COUNT], possibly_persisted;
	uint64_t refused_full, refused_large, refused_error;
	uint64_t queued_bytes, delivered_bytes, tx_bytes, tx_records;
	uint32_t brokers_up, brokers_total;
	int fatal;

	/* a repeated error code is logged at debug until a delivery succeeds again */
	struct kafka_errors errors;

	pthread_mutex_t pool_lock;
	struct encoder *pool; /* free encoders */
};

/* ---- the bound ------------------------------------------------------------------ */

/*
 * Takes room for n records of `bytes` bytes, or none.  Records and bytes
 * are two counters: when the bytes do not fit the records are given back,
 * so another writer may briefly see less room than there is (it retries),
 * never more.
 */
static bool reserve(struct kafka_sink *ks, uint64_t n, uint64_t bytes)
{
	uint64_t cur = __atomic_load_n(&ks->in_flight, __ATOMIC_SEQ_CST);

	do {
		if (cur + n > ks->max_queued)
			return false;
	} while (!__atomic_compare_exchange_n(&ks->in_flight, &cur, cur + n, true, __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	cur = __atomic_load_n(&ks->in_flight_bytes, __ATOMIC_SEQ_CST);
	do {
		if (cur + bytes > ks->max_bytes) {
			__atomic_fetch_sub(&ks->in_flight, n, __ATOMIC_SEQ_CST);
			return false;
		}
	} while (!__atomic_compare_exchange_n(&ks->in_flight_bytes, &cur, cur + bytes, true,
					      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	return true;
}

static void release(struct kafka_sink *ks, uint64_t n, uint64_t bytes)
{
	__atomic_fetch_sub(&ks->in_flight_bytes, bytes, __ATOMIC_SEQ_CST);
	__atomic_fetch_sub(&ks->in_flight, n, __ATOMIC_SEQ_CST);
	/*
	 * A waiter counts itself before it last tries to reserve, we released
	 * before we look: one of us sees the other (both seq_cst), so a waiter
	 * never sleeps through the room made here.
	 */
	if (__atomic_load_n(&ks->waiters, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&ks->room_lock);
		pthread_cond_broadcast(&ks->room);
		pthread_mutex_unlock(&ks->room_lock);
	}
}

/* reserve(), waiting for deliveries to make room until deadline (monotonic ms). */
static bool wait_room(struct kafka_sink *ks, uint64_t n, uint64_t bytes, int64_t deadline)
{
	bool ok = reserve(ks, n, bytes);
	struct timespec ts;
	int64_t now, until;

	if (ok)
		return true;
	pthread_mutex_lock(&ks->room_lock);
	__atomic_fetch_add(&ks->waiters, 1, __ATOMIC_SEQ_CST);
	while (!(ok = reserve(ks, n, bytes)) && (now = clock_mono_ms()) < deadline) {
		until = now + WAIT_SLICE_MS < deadline ? now + WAIT_SLICE_MS : deadline;
		ts.tv_sec = until / 1000;
		ts.tv_nsec = (until % 1000) * 1000000;
		pthread_cond_timedwait(&ks->room, &ks->room_lock, &ts);
	}
	__atomic_fetch_sub(&ks->waiters, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&ks->room_lock);
	return ok;
}

/* ---- writing ------------------------------------------------------------------- */

static void encoder_free(struct encoder *e)
{
	if (!e)
		return;
	jsonw__free(e->jw);
	flow_json_cache__free(e->jc);
	free(e->msgs);
	free(e);
}

/* A free encoder with room for n messages, or NULL (out of memory). */
static struct encoder *encoder_get(struct kafka_sink *ks, uint32_t n)
{
	struct encoder *e;

	pthread_mutex_lock(&ks->pool_lock);
	e = ks->pool;
	if (e)
		ks->pool = e->next;
	pthread_mutex_unlock(&ks->pool_lock);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || !(e->jw = jsonw__new()) || !(e->jc = flow_json_cache__new())) {
			encoder_free(e);
			return NULL;
		}
	}
	if (n > e->cap) {
		struct msg *m = realloc(e->msgs, n * sizeof(*m));

		if (!m) {
			encoder_free(e);
			return NULL;
		}
		e->msgs = m;
		e->cap = n;
	}
	jsonw__reset(e->jw);
	flow_json_cache__reset(e->jc); /* the identities are this batch's */
	return e;
}

static void encoder_put(struct kafka_sink *ks, struct encoder *e)
{
	size_t len;

	if (!e)
		return;
	if (jsonw__data(e->jw, &len) && len > POOL_KEEP_MAX) {
		encoder_free(e); /* an unusually large batch's buffer is not kept */
		return;
	}
	pthread_mutex_lock(&ks->pool_lock);
	e->next = ks->pool;
	ks->pool = e;
	pthread_mutex_unlock(&ks->pool_lock);
}

/* kafka_sink_encode with the batch's identity fragments cached in jc. */
static const char *encode(const struct flow_record *r, struct jsonw *jw, struct flow_json_cache *jc,
			  size_t *key_len)
{
	const char *app = r->local ? r->local->app : NULL;

	flow_record_json_cached(r, jw, jc);
	*key_len = app ? strlen(app) : 0;
	return *key_len ? app : NULL;
}

const char *kafka_sink_encode(const struct flow_record *r, struct jsonw *jw, size_t *key_len)
{
	return encode(r, jw, NULL, key_len);
}

static int write_records(struct kafka_sink *ks, const struct flow_record *recs, uint32_t n,
			 const bool *keep, int timeout_ms)
{
	uint64_t bytes = 0, kept = 0, left = 0, *refused;
	rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;
	struct encoder *e = NULL;
	struct jsonw *jw;
	struct msg *msgs;
	const char *json;
	uint32_t i, k;
	size_t len;
	int err;

	for (i = 0; i < n; i++)
		kept += !keep || keep[i];
	if (kept == 0)
		return 0;
	refused = &ks->refused_error;
	err = -EIO; /* said once, by error_cb */
	if (LOAD(&ks->fatal))
		goto cleanup;
	refused = &ks->refused_large;
	err = -EMSGSIZE;
	if (kept > ks->max_queued)
		goto cleanup;
	refused = &ks->refused_error;
	err = -ENOMEM;
	e = encoder_get(ks, (uint32_t)kept);
	if (!e)
		goto cleanup;
	jw = e->jw;
	msgs = e->msgs;
	/* every value first: the whole batch's size decides, before anything is queued */
	for (i = 0, k = 0, len = 0; i < n; i++) {
		struct msg *m = &msgs[k];

		if (keep && !keep[i])
			continue;
		m->start = len;
		m->key = encode(&recs[i], jw, e->jc, &m->key_len);
		jsonw__data(jw, &len);
		m->end = len;
		if (m->end - m->start + m->key_len + RECORD_OVERHEAD > ks->max_msg) {
			refused = &ks->refused_large;
			err = -EMSGSIZE;
			goto cleanup;
		}
		bytes += m->end - m->start + m->key_len;
		k++;
	}
	if (jsonw__error(jw))
		goto cleanup;
	refused = &ks->refused_large;
	err = -EMSGSIZE;
	if (bytes > ks->max_bytes)
		goto cleanup;
	refused = &ks->refused_full;
	err = -ENOBUFS;
	if (timeout_ms > 0 ? !wait_room(ks, kept, bytes, clock_mono_ms() + timeout_ms)
			   : !reserve(ks, kept, bytes))
		goto cleanup;

	json = jsonw__data(jw, &len);
	for (k = 0; k < kept; k++) {
		/*
		 * F_BLOCK never waits in practice: librdkafka's own limits
		 * are set above ours, so it only covers the moment between a
		 * delivery report releasing our bound and librdkafka freeing
		 * that message.  A full queue would otherwise refuse in
		 * mid-batch, and a batch cannot be taken back.
		 */
		rerr = rd_kafka_producev(
		    ks->rk, RD_KAFKA_V_RKT(ks->rkt),
		    RD_KAFKA_V_KEY((void *)msgs[k].key, msgs[k].key_len),
		    RD_KAFKA_V_VALUE((void *)(json + msgs[k].start), msgs[k].end - msgs[k].start),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK),
		    RD_KAFKA_V_END);
		if (rerr)
			break;
	}
	err = 0;
	if (k < kept) {
		/* give back the room of those not queued */
		for (i = k; i < kept; i++)
			left += msgs[i].end - msgs[i].start + msgs[i].key_len;
		release(ks, kept - k, left);
		if (k == 0) {
			refused = &ks->refused_error;
			err = kafka_errors__log(&ks->errors, rerr, "producing to %s", ks->topic);
			goto cleanup;
		}
		/*
		 * Some are queued and cannot be taken back: refusing the call
		 * would have the sender send them twice.  The rest count as
		 * accepted and failed, as if their delivery had failed.
		 */
		ADD(&ks->failed[kafka_fail_reason(rerr)], kept - k);
		kafka_errors__log(&ks->errors, rerr,
				  "producing to %s: %" PRIu64 " of %" PRIu64 " records lost",
				  ks->topic, kept - k, kept);
	}
	ADD(&ks->queued, kept);
	ADD(&ks->queued_bytes, bytes);
cleanup:
	if (err)
		ADD(refused, kept);
	encoder_put(ks, e);
	return err;
}

int kafka_sink__write(struct kafka_sink *ks, const struct flow_record *recs, uint32_t n,
		      const bool *keep)
{
	return write_records(ks, recs, n, keep, 0);
}

int kafka_sink__write_wait(struct kafka_sink *ks, const struct flow_record *recs, uint32_t n,
			   const bool *keep, int timeout_ms)
{
	return write_records(ks, recs, n, keep, timeout_ms > 0 ? timeout_ms : 0);
}

/* ---- librdkafka callbacks (the report thread, or a flush) ------------------------- */

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kafka_sink *ks = opaque;
	enum kafka_fail why;

	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		ADD(&ks->delivered, 1);
		ADD(&ks->delivered_bytes, m->len + m->key_len);
		/* delivering again: the next failure is worth a warning */
		kafka_errors__recovered(&ks->errors);
	} else {
		why = kafka_fail_reason(m->err);
		ADD(&ks->failed[why], 1);
		/* sent and not acknowledged: a consumer may see it although it counts as failed */
		if (rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED)
			ADD(&ks->possibly_persisted, 1);
		/* purged ones are the flush's doing, said there once */
		if (why != KAFKA_FAIL_PURGED)
			kafka_errors__log(&ks->errors, m->err, "delivering to %s [%d]", ks->topic,
					  m->partition);
	}
	release(ks, 1, m->len + m->key_len);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka_sink *ks = opaque;
	char why[256];

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		/*
		 * The idempotent producer cannot go on without a gap or a
		 * duplicate (e.g. the broker lost acknowledged records):
		 * every queued record fails, writes are refused from now on.
		 */
		err = rd_kafka_fatal_error(rk, why, sizeof(why));
		STORE(&ks->fatal, 1);
		kafka_errors__log(&ks->errors, err,
				  "fatal, the sink refuses every write from now on: %s", why);
		return;
	}
	kafka_errors__log(&ks->errors, err, "producer (%s): %s", ks->brokers, reason);
}

/* Statistics (STATISTICS.md in librdkafka): brokers connected, bytes and records sent. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct kafka_sink *ks = opaque;
	uint32_t up = 0, total = 0;
	json_t *root;

	(void)rk;
	root = kafka_stats_brokers(json, len, &up, &total);
	if (!root)
		return 0;
	STORE(&ks->brokers_up, up);
	STORE(&ks->brokers_total, total);
	STORE(&ks->tx_bytes, (uint64_t)json_integer_value(json_object_get(root, "tx_bytes")));
	/* every attempt: a retriable produce error (the broker's or a timeout) sends them again */
	STORE(&ks->tx_records, (uint64_t)json_integer_value(json_object_get(root, "txmsgs")));
	json_decref(root);
	return 0; /* librdkafka frees json */
}

static void *report_main(void *arg)
{
	struct kafka_sink *ks = arg;

	while (!LOAD(&ks->stop))
		rd_kafka_poll(ks->rk, POLL_MS);
	return NULL;
}

/* ---- configuration ------------------------------------------------------------ */

#define SET_BY_SINK "set by the sink itself (its queue bound and delivery reports)"

/* Properties the caller may not give: "key", "why", ..., NULL (kafka_conf_extra's `refused`). */
static const char *const refused_props[] = {
	"queue.buffering.max.messages",
	SET_BY_SINK,
	"queue.buffering.max.kbytes",
	SET_BY_SINK,
	"delivery.report.only.error",
	SET_BY_SINK,
	NULL,
};

static bool compression_ok(const char *c)
{
	static const char *const codecs[] = { "lz4", "zstd", "gzip", "snappy", "none" };

	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if (strcmp(c, codecs[i]) == 0)
			return true;
	return false;
}

static rd_kafka_conf_t *make_conf(struct kafka_sink *ks, const struct kafka_sink_opts *o, char *why,
				  size_t len)
{
	rd_kafka_conf_t *conf = kafka_conf_new(ks);
	char linger[16], batch[16], msgs[16], kbytes[24], max_msg[24], idem[8];
	size_t max_msg_len = sizeof(max_msg), codec_len = sizeof(ks->codec),
	       idem_len = sizeof(idem);
	uint64_t kb;

	if (!conf) {
		snprintf(why, len, "kafka sink: out of memory");
		return NULL;
	}
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
	rd_kafka_conf_set_stats_cb(conf, stats_cb);
	snprintf(linger, sizeof(linger), "%d",
		 o->linger_ms >= 0 ? o->linger_ms : KAFKA_SINK_DEFAULT_LINGER_MS);
	snprintf(batch, sizeof(batch), "%d",
		 o->batch_messages > 0 ? o->batch_messages : KAFKA_SINK_DEFAULT_BATCH);
	/*
	 * librdkafka's own bounds sit above ours (see write_records' F_BLOCK):
	 * twice ours, so they never refuse what our bound let in.
	 */
	snprintf(msgs, sizeof(msgs), "%" PRIu64,
		 (uint64_t)ks->max_queued * 2 > INT32_MAX ? INT32_MAX
							  : (uint64_t)ks->max_queued * 2);
	kb = ks->max_bytes * 2 / 1024 + 1024;
	snprintf(kbytes, sizeof(kbytes), "%" PRIu64, kb > INT32_MAX ? INT32_MAX : kb);
	if (kafka_conf_set(conf, WHO, "bootstrap.servers", o->brokers, why, len) ||
	    kafka_conf_set(conf, WHO, "client.id",
			   o->client_id && *o->client_id ? o->client_id : DEFAULT_CLIENT, why,
			   len) ||
	    /* acks=all, retries, at most 5 in flight, in order: exactly once per partition */
	    kafka_conf_set(conf, WHO, "enable.idempotence", "true", why, len) ||
	    kafka_conf_set(conf, WHO, "compression.codec",
			   o->compression ?: KAFKA_SINK_DEFAULT_COMPRESSION, why, len) ||
	    kafka_conf_set(conf, WHO, "linger.ms", linger, why, len) ||
	    kafka_conf_set(conf, WHO, "batch.num.messages", batch, why, len) ||
	    kafka_conf_set(conf, WHO, "queue.buffering.max.messages", msgs, why, len) ||
	    kafka_conf_set(conf, WHO, "queue.buffering.max.kbytes", kbytes, why, len) ||
	    /* the Java producer's: an app lands in the partition Kafka Streams or Connect expect */
	    kafka_conf_set(conf, WHO, "partitioner", "murmur2_random", why, len) ||
	    kafka_conf_set(conf, WHO, "statistics.interval.ms", STATS_MS, why, len) ||
	    kafka_conf_extra(conf, WHO, o->props, "producer.", "consumer.", refused_props, why,
			     len))
		goto fail;
	/* what is in force once the caller's properties are applied */
	if (rd_kafka_conf_get(conf, "message.max.bytes", max_msg, &max_msg_len) !=
		RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_get(conf, "compression.codec", ks->codec, &codec_len) !=
		RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_get(conf, "enable.idempotence", idem, &idem_len) != RD_KAFKA_CONF_OK) {
		snprintf(why, len, "kafka sink: cannot read its configuration back");
		goto fail;
	}
	ks->max_msg = strtoull(max_msg, NULL, 10);
	if (strcmp(idem, "true") != 0)
		pr_warn("kafka sink: enable.idempotence=%s: retries may duplicate and reorder "
			"records",
			idem);
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/* ---- lifecycle -------------------------------------------------------------------- */

struct kafka_sink *kafka_sink__new(const struct kafka_sink_opts *o, char *why, size_t len)
{
	const char *topic = o->topic && *o->topic ? o->topic : KAFKA_SINK_DEFAULT_TOPIC;
	struct kafka_sink *ks = NULL;
	rd_kafka_conf_t *conf = NULL;
	int err = -EINVAL;

	if (!o->brokers || !o->brokers[0]) {
		snprintf(why, len, "kafka sink: no brokers");
		goto fail;
	}
	if (o->compression && !compression_ok(o->compression)) {
		snprintf(why, len,
			 "kafka sink: compression \"%s\" is not one of lz4, zstd, gzip, snappy, "
			 "none",
			 o->compression);
		goto fail;
	}
	err = -ENOMEM;
	ks = calloc(1, sizeof(*ks));
	if (!ks) {
		snprintf(why, len, "kafka sink: out of memory");
		goto fail;
	}
	kafka_errors__init(&ks->errors, WHO);
	pthread_mutex_init(&ks->room_lock, NULL);
	pthread_mutex_init(&ks->pool_lock, NULL);
	{
		pthread_condattr_t ca;

		/* wait_room's deadlines are monotonic */
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&ks->room, &ca);
		pthread_condattr_destroy(&ca);
	}
	ks->max_queued = o->max_queued ? o->max_queued : KAFKA_SINK_DEFAULT_MAX_QUEUED;
	/* records are 0.5 to 1 KB of JSON: the bytes bound only stops unusually large ones */
	ks->max_bytes = o->max_queued_bytes
			    ? o->max_queued_bytes
			    : (uint64_t)ks->max_queued * KAFKA_SINK_BYTES_PER_QUEUED;
	ks->topic = strdup(topic);
	ks->brokers = strdup(o->brokers);
	if (!ks->topic || !ks->brokers) {
		snprintf(why, len, "kafka sink: out of memory");
		goto fail;
	}
	err = -EINVAL;
	conf = make_conf(ks, o, why, len);
	if (!conf)
		goto fail;
	/* kafka_new owns conf now, whatever comes of it */
	ks->rk = kafka_new(RD_KAFKA_PRODUCER, conf, WHO, why, len);
	if (!ks->rk)
		goto fail;
	ks->rkt = rd_kafka_topic_new(ks->rk, ks->topic, NULL);
	if (!ks->rkt) {
		err = kafka_rd_errno(rd_kafka_last_error());
		snprintf(why, len, "kafka sink topic %s: %s", ks->topic,
			 rd_kafka_err2str(rd_kafka_last_error()));
		goto fail;
	}
	err = -pthread_create(&ks->thread, NULL, report_main, ks);
	if (err) {
		snprintf(why, len, "kafka sink: cannot start its thread: %s", strerror(-err));
		goto fail;
	}
	pthread_setname_np(ks->thread, "kafka-sink");
	ks->started = true;
	pr_info("kafka sink: topic %s on %s, compression %s, at most %" PRIu32 " records / %" PRIu64
		" bytes queued",
		ks->topic, ks->brokers, ks->codec, ks->max_queued, ks->max_bytes);
	return ks;
fail:
	kafka_sink__free(ks);
	errno = -err;
	return NULL;
}

/* Purges what is queued or in flight and serves the purge reports, for up to wait_ms. */
static void purge(struct kafka_sink *ks, int wait_ms)
{
	int64_t end = clock_mono_ms() + wait_ms;

	rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	while (LOAD(&ks->in_flight) && clock_mono_ms() < end)
		rd_kafka_poll(ks->rk, 10);
}

int kafka_sink__flush(struct kafka_sink *ks, int timeout_ms)
{
	int purge_ms, deliver_ms;
	rd_kafka_resp_err_t rerr;
	int64_t end;
	uint64_t left;

	if (timeout_ms < 0)
		timeout_ms = 0;
	purge_ms = timeout_ms / 5 < PURGE_MAX_MS ? timeout_ms / 5 : PURGE_MAX_MS;
	deliver_ms = timeout_ms - purge_ms;
	/*
	 * Sends at once whatever lingers, and serves delivery reports on this
	 * thread too.  Done, the report thread may still be inside the
	 * callbacks of the last batch it took: give it a moment.
	 */
	rerr = rd_kafka_flush(ks->rk, deliver_ms);
	end = clock_mono_ms() + purge_ms;
	while (rerr == RD_KAFKA_RESP_ERR_NO_ERROR && LOAD(&ks->in_flight) && clock_mono_ms() < end)
		rd_kafka_poll(ks->rk, 1);
	left = LOAD(&ks->in_flight);
	if (!left)
		return 0;
	pr_warn("kafka sink: %" PRIu64 " records to %s not delivered within %d ms: purged", left,
		ks->topic, deliver_ms);
	purge(ks, (int)(end - clock_mono_ms()));
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

void kafka_sink__free(struct kafka_sink *ks)
{
	uint64_t left;

	if (!ks)
		return;
	if (ks->started) {
		STORE(&ks->stop, 1);
		pthread_join(ks->thread, NULL);
	}
	if (ks->rk) {
		left = LOAD(&ks->in_flight);
		if (left) {
			pr_warn("kafka sink: %" PRIu64 " records to %s still queued: purged", left,
				ks->topic);
			purge(ks, FREE_PURGE_MS);
		}
		if (ks->rkt)
			rd_kafka_topic_destroy(ks->rkt);
		rd_kafka_destroy(ks->rk);
	}
	free(ks->topic);
	free(ks->brokers);
	while (ks->pool) {
		struct encoder *e = ks->pool;

		ks->pool = e->next;
		encoder_free(e);
	}
	pthread_cond_destroy(&ks->room);
	pthread_mutex_destroy(&ks->room_lock);
	pthread_mutex_destroy(&ks->pool_lock);
	kafka_errors__destroy(&ks->errors);
	free(ks);
}

/* ---- what it did ------------------------------------------------------------------- */

void kafka_sink__stats(struct kafka_sink *ks, struct kafka_sink_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->queued = LOAD(&ks->queued);
	out->delivered = LOAD(&ks->delivered);
	for (int i = 0; i < KAFKA_FAIL__COUNT; i++)
		out->failed[i] = LOAD(&ks->failed[i]);
	out->possibly_persisted = LOAD(&ks->possibly_persisted);
	out->refused_queue_full = LOAD(&ks->refused_full);
	out->refused_too_large = LOAD(&ks->refused_large);
	out->refused_error = LOAD(&ks->refused_error);
	out->queued_bytes = LOAD(&ks->queued_bytes);
	out->delivered_bytes = LOAD(&ks->delivered_bytes);
	out->tx_bytes = LOAD(&ks->tx_bytes);
	out->tx_records = LOAD(&ks->tx_records);
	out->in_flight = __atomic_load_n(&ks->in_flight, __ATOMIC_SEQ_CST);
	out->in_flight_bytes = __atomic_load_n(&ks->in_flight_bytes, __ATOMIC_SEQ_CST);
	out->max_queued = ks->max_queued;
	out->max_queued_bytes = ks->max_bytes;
	out->brokers_up = LOAD(&ks->brokers_up);
	out->brokers_total = LOAD(&ks->brokers_total);
	out->fatal = LOAD(&ks->fatal) != 0;
	kafka_errors__last(&ks->errors, out->last_error, &out->last_error_ms);
}

#define L METRIC_LABELS

void kafka_sink__metrics(struct kafka_sink *ks, struct metrics_writer *w)
{
	struct kafka_sink_stats st;

	kafka_sink__stats(ks, &st);
	metrics_writer__family(w, "podflow_collector_kafka_sink_records_total", METRIC_COUNTER,
			       "Flow records given to the Kafka sink, by what became of them.");
	metrics_writer__u64(w, L("result", "queued"), st.queued);
	metrics_writer__u64(w, L("result", "delivered"), st.delivered);
	metrics_writer__u64(w, L("result", "refused_queue_full"), st.refused_queue_full);
	metrics_writer__u64(w, L("result", "refused_too_large"), st.refused_too_large);
	metrics_writer__u64(w, L("result", "refused_error"), st.refused_error);
	metrics_writer__family(w, "podflow_collector_kafka_sink_failed_total", METRIC_COUNTER,
			       "Queued flow records finally not delivered, by reason.");
	for (int i = 0; i < KAFKA_FAIL__COUNT; i++)
		metrics_writer__u64(w, L("reason", kafka_fail_name(i)), st.failed[i]);
	metrics_writer__counter(w, "podflow_collector_kafka_sink_possibly_persisted_total",
				"Failed records that were sent and may be on the broker anyway.",
				st.possibly_persisted);
	metrics_writer__family(w, "podflow_collector_kafka_sink_bytes_total", METRIC_COUNTER,
			       "Key and value bytes of the records, queued and delivered.");
	metrics_writer__u64(w, L("result", "queued"), st.queued_bytes);
	metrics_writer__u64(w, L("result", "delivered"), st.delivered_bytes);
	metrics_writer__counter(w, "podflow_collector_kafka_sink_sent_bytes_total",
				"Bytes sent to the brokers, compressed, requests included.",
				st.tx_bytes);
	metrics_writer__counter(
	    w, "podflow_collector_kafka_sink_sent_records_total",
	    "Records sent to the brokers, each attempt counted: beyond delivered "
	    "and failed, retries.",
	    st.tx_records);
	metrics_writer__gauge(w, "podflow_collector_kafka_sink_in_flight_records",
			      "Records queued or in flight, not yet delivered or failed.",
			      st.in_flight);
	metrics_writer__gauge(w, "podflow_collector_kafka_sink_in_flight_bytes",
			      "Key and value bytes of the records in flight.", st.in_flight_bytes);
	metrics_writer__gauge(w, "podflow_collector_kafka_sink_max_queued_records",
			      "The bound on records in flight: past it, writes are refused (429).",
			      st.max_queued);
	metrics_writer__gauge(w, "podflow_collector_kafka_sink_max_queued_bytes",
			      "The bound on bytes in flight.", st.max_queued_bytes);
	metrics_writer__gauge(w, "podflow_collector_kafka_sink_brokers_up",
			      "Brokers the flow producer is connected to.", st.brokers_up);
	metrics_writer__gauge(w, "podflow_collector_kafka_sink_fatal",
			      "1 once the idempotent producer hit a fatal error (writes fail).",
			      st.fatal);
}
