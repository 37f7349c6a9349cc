// SPDX-License-Identifier: BSD-2-Clause
/* librdkafka glue shared by the collector's Kafka clients: errors, logs, config, stats, assignment. */
#define _GNU_SOURCE
#include "kafka.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "log.h"

/* ---- error codes ------------------------------------------------------------ */

const char *kafka_fail_name(enum kafka_fail f)
{
	static const char *const names[KAFKA_FAIL__COUNT] = {
		"timed_out", "too_large", "topic", "auth", "purged", "other",
	};

	return (unsigned int)f < KAFKA_FAIL__COUNT ? names[f] : "?";
}

int kafka_rd_errno(int rd_err)
{
	switch ((rd_kafka_resp_err_t)rd_err) {
	case RD_KAFKA_RESP_ERR_NO_ERROR:
		return 0;
	case RD_KAFKA_RESP_ERR__TIMED_OUT:
	case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
	case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
		return -ETIMEDOUT;
	case RD_KAFKA_RESP_ERR__TRANSPORT:
		return -ECONNRESET;
	case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
	case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
	case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
	case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
		return -ENOTCONN;
	case RD_KAFKA_RESP_ERR__RESOLVE:
		return -EHOSTUNREACH;
	case RD_KAFKA_RESP_ERR__QUEUE_FULL:
		return -ENOBUFS;
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
		return -EMSGSIZE;
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
		return -ENOENT;
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
	case RD_KAFKA_RESP_ERR_INVALID_REQUEST:
		return -EINVAL;
	case RD_KAFKA_RESP_ERR__AUTHENTICATION:
	case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
		return -EACCES;
	case RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED:
	case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
	case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
		return -EOPNOTSUPP;
	case RD_KAFKA_RESP_ERR__DESTROY:
	case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
	case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
		return -ECANCELED;
	default:
		return -EIO;
	}
}

enum kafka_fail kafka_fail_reason(int rd_err)
{
	switch (kafka_rd_errno(rd_err)) {
	case -ETIMEDOUT:
		return KAFKA_FAIL_TIMED_OUT;
	case -EMSGSIZE:
		return KAFKA_FAIL_TOO_LARGE;
	case -ENOENT:
		return KAFKA_FAIL_TOPIC;
	case -EACCES:
		return KAFKA_FAIL_AUTH;
	case -ECANCELED:
		return KAFKA_FAIL_PURGED;
	default:
		return KAFKA_FAIL_OTHER;
	}
}

/* ---- the error state of a client ---------------------------------------------- */

void kafka_errors__init(struct kafka_errors *e, const char *who)
{
	memset(e, 0, sizeof(*e));
	e->who = who;
	pthread_mutex_init(&e->lock, NULL);
}

void kafka_errors__destroy(struct kafka_errors *e)
{
	if (!e)
		return;
	pthread_mutex_destroy(&e->lock);
}

int kafka_errors__log(struct kafka_errors *e, int rd_err, const char *fmt, ...)
{
	const char *msg = rd_kafka_err2str((rd_kafka_resp_err_t)rd_err);
	char ctx[512];
	bool repeat;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&e->lock);
	/* the context is cut first: the library's message must survive */
	snprintf(e->last, sizeof(e->last), "%.*s: %s", (int)sizeof(e->last) - 64, ctx, msg);
	e->last_ms = clock_wall_ms();
	repeat = e->last_logged == rd_err;
	e->last_logged = rd_err;
	/* set under the lock: a recovery either sees it or comes before this error */
	__atomic_store_n(&e->errored, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&e->lock);
	if (repeat)
		pr_debug("%s: %s: %s", e->who, ctx, msg);
	else
		pr_warn("%s: %s: %s", e->who, ctx, msg);
	return kafka_rd_errno(rd_err);
}

void kafka_errors__recovered(struct kafka_errors *e)
{
	/* the sink recovers at every delivery: the lock only when there is something to undo */
	if (!__atomic_load_n(&e->errored, __ATOMIC_ACQUIRE))
		return;
	__atomic_store_n(&e->errored, 0, __ATOMIC_RELEASE);
	pthread_mutex_lock(&e->lock);
	e->last_logged = 0;
	pthread_mutex_unlock(&e->lock);
}

void kafka_errors__last(struct kafka_errors *e, char out[KAFKA_ERROR_MAX], int64_t *when_ms)
{
	pthread_mutex_lock(&e->lock);
	memcpy(out, e->last, sizeof(e->last));
	*when_ms = e->last_ms;
	pthread_mutex_unlock(&e->lock);
}

/* ---- configuration ------------------------------------------------------------ */

/*
 * librdkafka's own log lines.  Connection failures ("FAIL") also come to
 * the clients' error callbacks, which log them once with context: here
 * they are debug.
 */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	if (level <= 4 && strcmp(fac, "FAIL") != 0)
		pr_warn("rdkafka: %s: %s", fac, buf);
	else if (level == 5)
		pr_info("rdkafka: %s: %s", fac, buf);
	else
		pr_debug("rdkafka: %s: %s", fac, buf);
}

rd_kafka_conf_t *kafka_conf_new(void *opaque)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (!conf)
		return NULL;
	rd_kafka_conf_set_opaque(conf, opaque);
	rd_kafka_conf_set_log_cb(conf, log_cb);
	return conf;
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *who, const char *key, const char *val,
		   char *why, size_t len)
{
	char err[256];

	if (rd_kafka_conf_set(conf, key, val, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		snprintf(why, len, "%s property %s: %s", who, key, err);
		return -EINVAL;
	}
	return 0;
}

int kafka_conf_extra(rd_kafka_conf_t *conf, const char *who, const char *const *props,
		     const char *mine, const char *other, const char *const *refused, char *why,
		     size_t len)
{
	size_t ml = strlen(mine), ol = strlen(other);
	int err;

	for (size_t i = 0; props && props[i]; i += 2) {
		const char *key = props[i];

		if (!props[i + 1]) {
			snprintf(why, len, "%s property %s: no value", who, key);
			return -EINVAL;
		}
		if (strncmp(key, other, ol) == 0)
			continue;
		if (strncmp(key, mine, ml) == 0)
			key += ml;
		for (size_t j = 0; refused && refused[j]; j += 2) {
			if (strcmp(key, refused[j]) == 0) {
				snprintf(why, len, "%s property %s: %s", who, key, refused[j + 1]);
				return -EINVAL;
			}
		}
		err = kafka_conf_set(conf, who, key, props[i + 1], why, len);
		if (err)
			return err;
	}
	return 0;
}

rd_kafka_t *kafka_new(int type, rd_kafka_conf_t *conf, const char *who, char *why, size_t len)
{
	char err[256];
	rd_kafka_t *rk;

	rk = rd_kafka_new((rd_kafka_type_t)type, conf, err, sizeof(err));
	if (!rk) {
		snprintf(why, len, "%s %s: %s", who,
			 type == RD_KAFKA_CONSUMER ? "consumer" : "producer", err);
		/* rd_kafka_new owns conf only once it succeeds */
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

/* ---- statistics ---------------------------------------------------------------- */

bool kafka_broker_up(const char *state)
{
	/* UPDATE: connected, its metadata being refreshed */
	return state && (strcmp(state, "UP") == 0 || strcmp(state, "UPDATE") == 0);
}

json_t *kafka_stats_brokers(const char *json, size_t len, uint32_t *up, uint32_t *total)
{
	json_t *root, *b;
	const char *name;

	root = json_loadb(json, len, 0, NULL);
	if (!root)
		return NULL;
	*up = 0;
	*total = 0;
	json_object_foreach(json_object_get(root, "brokers"), name, b)
	{
		/* bootstrap-only and logical entries have nodeid -1 */
		if (!json_is_integer(json_object_get(b, "nodeid")) ||
		    json_integer_value(json_object_get(b, "nodeid")) < 0)
			continue;
		if (strcmp(json_string_value(json_object_get(b, "source")) ?: "", "logical") == 0)
			continue;
		(*total)++;
		*up += kafka_broker_up(json_string_value(json_object_get(b, "state")));
	}
	return root;
}

/* ---- partitions a consumer assigns itself ------------------------------------- */

#define COUNT(p) ((p) ? (void)__atomic_fetch_add((p), 1, __ATOMIC_RELAXED) : (void)0)

static bool stopping(const struct kafka_assign *a)
{
	return a->stop && __atomic_load_n(a->stop, __ATOMIC_ACQUIRE) != 0;
}

static int grow_parts(struct kafka_parts *t, int32_t n)
{
	struct kafka_part *p;

	if (n <= t->n)
		return 0;
	p = realloc(t->p, (size_t)n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p + t->n, 0, (size_t)(n - t->n) * sizeof(*p));
	t->p = p;
	t->n = n;
	return 0;
}

/* Transient: retry at the next metadata check rather than replay from the beginning. */
static bool transient(rd_kafka_resp_err_t err)
{
	switch (kafka_rd_errno(err)) {
	case -ETIMEDOUT:
	case -ECONNRESET:
	case -ENOTCONN:
	case -EHOSTUNREACH:
		return true;
	default:
		return false;
	}
}

/* kafka_errors__log, counted in a->errored. */
#define LOG_ERR(a, rd_err, ...) \
	(COUNT((a)->errored), kafka_errors__log((a)->errors, (rd_err), __VA_ARGS__))

int kafka_parts__assign_new(struct kafka_parts *t, const struct rd_kafka_metadata_topic *mt,
			    const struct kafka_assign *a)
{
	rd_kafka_topic_partition_list_t *l = NULL;
	int64_t *lo = NULL, *hi = NULL;
	rd_kafka_resp_err_t rerr;
	rd_kafka_error_t *aerr;
	int32_t max_id = -1;
	int err = 0, n = 0;

	for (int i = 0; i < mt->partition_cnt; i++)
		if (mt->partitions[i].id > max_id)
			max_id = mt->partitions[i].id;
	lo = calloc((size_t)mt->partition_cnt + 1, sizeof(*lo));
	hi = calloc((size_t)mt->partition_cnt + 1, sizeof(*hi));
	l = rd_kafka_topic_partition_list_new(mt->partition_cnt);
	if (grow_parts(t, max_id + 1) || !lo || !hi || !l) {
		pr_warn("%s: %s: out of memory assigning partitions", a->errors->who, a->topic);
		t->complete = false;
		err = -ENOMEM;
		goto cleanup;
	}
	t->complete = true;
	for (int i = 0; i < mt->partition_cnt && !stopping(a); i++) {
		int32_t id = mt->partitions[i].id;

		if (id < 0 || t->p[id].assigned)
			continue;
		rerr = rd_kafka_query_watermark_offsets(a->rk, a->topic, id, &lo[n], &hi[n],
							a->timeout_ms);
		if (rerr) {
			err = LOG_ERR(a, rerr, "%s [%d]: watermarks", a->topic, id);
			t->complete = false;
			continue;
		}
		rd_kafka_topic_partition_list_add(l, a->topic, id)->offset = a->since_ms;
		n++;
	}
	if (n == 0 || stopping(a))
		goto cleanup;
	rerr = rd_kafka_offsets_for_times(a->rk, l, a->timeout_ms);
	if (rerr && transient(rerr)) {
		err = LOG_ERR(a, rerr, "%s: offsets for %s", a->topic, a->since_what);
		t->complete = false;
		goto cleanup;
	}
	for (int i = 0; i < l->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &l->elems[i];

		if (!rerr && !tp->err && tp->offset >= 0) {
			COUNT(a->by_time);
			continue;
		}
		if (tp->err && transient(tp->err)) {
			err = LOG_ERR(a, tp->err, "%s [%d]: offset for %s", a->topic, tp->partition,
				      a->since_what);
			tp->offset = RD_KAFKA_OFFSET_INVALID;
			continue;
		}
		/* no offset for that time: from the beginning */
		tp->offset = lo[i];
		tp->err = RD_KAFKA_RESP_ERR_NO_ERROR;
		COUNT(a->from_start);
	}
	/* drop the partitions left for the next call */
	for (int i = l->cnt - 1; i >= 0; i--) {
		if (l->elems[i].offset == RD_KAFKA_OFFSET_INVALID) {
			t->complete = false;
			rd_kafka_topic_partition_list_del_by_idx(l, i);
			memmove(&hi[i], &hi[i + 1], (size_t)(l->cnt - i) * sizeof(*hi));
		}
	}
	if (l->cnt == 0)
		goto cleanup;
	aerr = rd_kafka_incremental_assign(a->rk, l);
	if (aerr) {
		err = LOG_ERR(a, rd_kafka_error_code(aerr), "%s: assign: %s", a->topic,
			      rd_kafka_error_string(aerr));
		rd_kafka_error_destroy(aerr);
		t->complete = false;
		goto cleanup;
	}
	for (int i = 0; i < l->cnt; i++) {
		struct kafka_part *p = &t->p[l->elems[i].partition];

		p->assigned = true;
		p->caught_up = false;
		p->next = l->elems[i].offset;
		p->hi_target = hi[i];
		p->current_ms = 0;
		p->probe_hi = 0;
		p->probe_ms = 0;
		t->n_assigned++;
		pr_info("%s: %s [%d]: from offset %" PRId64 ", backlog to %" PRId64, a->errors->who,
			a->topic, l->elems[i].partition, p->next, p->hi_target);
	}
	err = l->cnt;
cleanup:
	if (l)
		rd_kafka_topic_partition_list_destroy(l);
	free(lo);
	free(hi);
	return err;
}

struct kafka_part *kafka_parts__get(struct kafka_parts *t, int32_t id)
{
	return id >= 0 && id < t->n && t->p[id].assigned ? &t->p[id] : NULL;
}

bool kafka_parts__caught_up(const struct kafka_parts *t)
{
	if (t->n_assigned == 0 || !t->complete)
		return false;
	for (int32_t i = 0; i < t->n; i++)
		if (t->p[i].assigned && !t->p[i].caught_up)
			return false;
	return true;
}

void kafka_parts__free(struct kafka_parts *t)
{
	if (!t)
		return;
	free(t->p);
	*t = (struct kafka_parts){ 0 };
}

const struct rd_kafka_metadata_topic *kafka_metadata_topic(const struct rd_kafka_metadata *md,
							   const char *topic)
{
	for (int i = 0; i < md->topic_cnt; i++)
		if (strcmp(md->topics[i].topic, topic) == 0)
			return &md->topics[i];
	return NULL;
}
