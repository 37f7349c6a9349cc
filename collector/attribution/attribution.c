// SPDX-License-Identifier: BSD-2-Clause
/* The attribution stage: the attributor and the feeds that give it evidence, wired together. */
#define _GNU_SOURCE
#include "attribution.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "attributor.h"
#include "collector_config.h"
#include "duration.h"
#include "files.h"
#include "hold_journal.h"
#include "ip.h"
#include "jsonw.h"
#include "kafka_feed.h"
#include "kube_client.h"
#include "kube_watch.h"
#include "log.h"
#include "metrics.h"
#include "token_review.h"
#include "wire.h"

#define L METRIC_LABELS

struct attribution {
	struct attributor *attr;
	struct kube_watch *kube;
	struct kafka_feed *kafka;
	struct kube_client *review_client; /* the verifier's own: only its thread uses it */
	struct token_review *verifier;	   /* NULL: heartbeats trusted as sent */
	struct hold_journal *journal;	   /* NULL: held records are not journaled */
	/* the replay's: the records of one frame held again */
	struct attr_arena *replay_arena;
	bool *replay_keep;
	uint64_t *replay_refs;
	uint32_t replay_cap;
	bool has_sonar, has_ranges;
	bool kube_synced_once; /* latched: a broken watch later only freezes its watermark */
	char origin[128];      /* this replica, in the ranges it publishes */
};

static int64_t ms(uint64_t ns)
{
	return (int64_t)(ns / DURATION_NS_PER_MS);
}

/* ---- evidence from the feeds, on their threads ----------------------------- */

static void on_kube_assign(void *ctx, const uint8_t ip[16], const struct kube_pod *p, int64_t t)
{
	struct attribution *s = ctx;

	attributor__assign(s->attr, FLOW_SOURCE_KUBE, ip, &p->id, t);
}

static void on_kube_unassign(void *ctx, const uint8_t ip[16], const struct kube_pod *p, int64_t t)
{
	struct attribution *s = ctx;

	attributor__unassign(s->attr, FLOW_SOURCE_KUBE, ip, &p->id, t);
}

static bool ident_empty(const struct flow_identity *k)
{
	return !*k->app && !*k->namespace && !*k->pod && !*k->workload && !*k->node &&
	       !*k->account && !*k->region && !*k->zone;
}

static void on_sonar_assign(void *ctx, const uint8_t ip[16], const struct flow_identity *k,
			    int64_t t)
{
	struct attribution *s = ctx;

	attributor__assign(s->attr, FLOW_SOURCE_SONAR, ip, k, t);
}

static void on_sonar_unassign(void *ctx, const uint8_t ip[16], const struct flow_identity *k,
			      int64_t t)
{
	struct attribution *s = ctx;

	/* an unassign that names nobody ends whoever holds the address */
	attributor__unassign(s->attr, FLOW_SOURCE_SONAR, ip, ident_empty(k) ? NULL : k, t);
}

/* Another replica's heartbeat range: as certain as our own heartbeats. */
static void on_peer_span(void *ctx, const uint8_t ip[16], const struct flow_identity *k,
			 int64_t from, int64_t to)
{
	struct attribution *s = ctx;

	attributor__span(s->attr, FLOW_SOURCE_HEARTBEAT, ip, k, from, to);
}

/* Our heartbeat ranges, for the other replicas (never blocks; drops are counted). */
static void publish(void *ctx, const uint8_t ip[16], const struct flow_identity *id, int64_t from,
		    int64_t to)
{
	struct attribution *s = ctx;

	kafka_feed__publish_span(s->kafka, ip, id, from, to);
}

static int64_t kube_wm(void *ctx)
{
	return kube_watch__watermark(ctx);
}

static int64_t sonar_wm(void *ctx)
{
	return kafka_feed__watermark(ctx);
}

/* ---- the journal of held records ------------------------------------------------- */

/* The journal learns what the attributor's sweep wrote (the attributor's thread). */
static void on_settled(void *ctx, const uint64_t *refs, uint32_t n)
{
	hold_journal__settled(ctx, refs, n);
}

/*
 * How long a segment's heartbeats may still decide a record held at a
 * crash: a record waits at most max_delay from its arrival, and a claim it
 * waits to settle arrived at most heartbeat_grace (plus the skew a span
 * may end ahead by) before it (docs/attribution.md).
 */
static int64_t journal_keep_ms(const struct collector_config *cfg)
{
	return ms(cfg->max_delay_ns) + ms(cfg->heartbeat_grace_ns) + ms(cfg->heartbeat_max_skew_ns);
}

/* A frame the last run journaled: its heartbeat applied again, its live records held again. */
static int replay_frame(void *ctx, struct wire_batch *b, int64_t arrived_ms, const uint64_t *refs,
			const bool *live)
{
	struct attribution *s = ctx;
	uint32_t want = 0;

	if (b->n_ips)
		attributor__heartbeat(s->attr, b);
	if (b->n_records > s->replay_cap) {
		bool *k = realloc(s->replay_keep, b->n_records * sizeof(*k));
		uint64_t *r;

		if (!k)
			return -ENOMEM;
		s->replay_keep = k;
		r = realloc(s->replay_refs, b->n_records * sizeof(*r));
		if (!r)
			return -ENOMEM;
		s->replay_refs = r;
		s->replay_cap = b->n_records;
	}
	for (uint32_t i = 0; i < b->n_records; i++) {
		s->replay_keep[i] = !live[i];
		if (live[i])
			s->replay_refs[want++] = refs[i];
	}
	if (!want)
		return 0;
	/* every live record copied, or the start fails with the journal as it was */
	if (attributor__hold(s->attr, s->replay_arena, b, s->replay_keep) != want) {
		attributor__hold_cancel(s->attr, s->replay_arena);
		return -ENOMEM;
	}
	attributor__hold_journaled(s->attr, s->replay_arena, s->replay_refs, arrived_ms);
	attributor__hold_commit(s->attr, s->replay_arena);
	return 0;
}

/*
 * DATA_DIR/held, named by the collector id the files use (replicas on one
 * data_dir never read each other's).  Not with null_sink: nothing is
 * written there, so nothing is to keep.
 */
static int open_journal(struct attribution *s, const struct collector_config *cfg,
			uint32_t n_workers, char *why, size_t len)
{
	char dir[4200], id[FILES_ID_MAX + 1];
	struct hold_journal_opts o = {
		.dir = dir,
		.collector_id =
		    cfg->collector_id ? cfg->collector_id : files_default_id(id, sizeof(id)),
		.writers = n_workers,
		.keep_ms = journal_keep_ms(cfg),
	};

	if (cfg->null_sink || !cfg->data_dir)
		return 0;
	snprintf(dir, sizeof(dir), "%s/held", cfg->data_dir);
	s->journal = hold_journal__new(&o, why, len);
	return s->journal ? 0 : -errno;
}

/* What a crash left in the journal, held again before any batch comes (the attributor's). */
static int replay_journal(struct attribution *s, char *why, size_t len)
{
	int err;

	if (!s->journal)
		return 0;
	s->replay_arena = attr_arena__new();
	if (!s->replay_arena) {
		snprintf(why, len, "attribution: out of memory");
		return -ENOMEM;
	}
	err = hold_journal__replay(s->journal, replay_frame, s, why, len);
	attr_arena__free(s->replay_arena);
	s->replay_arena = NULL;
	free(s->replay_keep);
	free(s->replay_refs);
	s->replay_keep = NULL;
	s->replay_refs = NULL;
	return err;
}

struct hold_journal_writer *attribution__journal_writer(struct attribution *s, uint32_t i)
{
	return s->journal ? hold_journal__writer(s->journal, i) : NULL;
}

/* ---- lifecycle ---------------------------------------------------------------- */

static void on_review_error(void *ctx, const char *msg)
{
	(void)ctx;
	/* one line per failed review: the sender's next batch asks again, so this is rare */
	pr_warn("heartbeat verifier: %s", msg);
}

/* Where kube.api points: NULL for the service account's own API server; plain http only when named. */
static const char *kube_url(const struct collector_config *cfg, bool *allow_http)
{
	bool in_cluster = strcmp(cfg->kube_api, "in-cluster") == 0;

	*allow_http = !in_cluster && strncmp(cfg->kube_api, "http://", 7) == 0;
	return in_cluster ? NULL : cfg->kube_api;
}

/* The heartbeat verifier (attribution.verify_heartbeats): TokenReviews through a client of its own. */
static int new_verifier(struct attribution *s, const struct collector_config *cfg, char *why,
			size_t len)
{
	struct kube_client_opts co = {
		.token_file = cfg->kube_token_file,
		.ca_file = cfg->kube_ca_file,
		.list_timeout_ms = 10000, /* one review */
	};
	struct token_review_opts to = { .review = token_review_kube };
	char w[512];

	co.api_url = kube_url(cfg, &co.allow_http);
	s->review_client = kube_client__new(&co, on_review_error, s, w, sizeof(w));
	if (!s->review_client) {
		snprintf(why, len, "attribution.verify_heartbeats: kube.api: %s", w);
		return -errno;
	}
	to.review_ctx = s->review_client;
	s->verifier = token_review__new(&to);
	if (!s->verifier) {
		snprintf(why, len, "attribution.verify_heartbeats: cannot start its thread: %s",
			 strerror(errno));
		return -errno;
	}
	return 0;
}

static const char *topic(const char *t)
{
	return t && *t ? t : NULL;
}

static int new_kube(struct attribution *s, const struct collector_config *cfg, char *why,
		    size_t len)
{
	struct kube_opts o = {
		.token_file = cfg->kube_token_file,
		.ca_file = cfg->kube_ca_file,
		.lag_ms = (int32_t)ms(cfg->kube_lag_ns),
	};
	struct kube_callbacks cb = { .assign = on_kube_assign,
				     .unassign = on_kube_unassign,
				     .ctx = s };
	char w[512];

	o.api_url = kube_url(cfg, &o.allow_http);
	if (o.allow_http)
		pr_warn("kube.api %s: plain http, the token travels in the clear (for tests only)",
			cfg->kube_api);
	s->kube = kube_watch__new(&o, &cb, w, sizeof(w));
	if (!s->kube) {
		snprintf(why, len, "kube.api: %s", w);
		return -errno;
	}
	return 0;
}

static int new_kafka(struct attribution *s, const struct collector_config *cfg, char *why,
		     size_t len)
{
	char host[64] = "";
	struct kafka_feed_opts o = {
		.brokers = cfg->kafka_brokers,
		.sonar_topic = topic(cfg->sonar_topic),
		.ranges_topic = topic(cfg->ranges_topic),
		.origin = s->origin,
		.retention_ms = ms(cfg->retention_ns),
	};
	struct kafka_feed_callbacks cb = {
		.assign = on_sonar_assign,
		.unassign = on_sonar_unassign,
		.span = on_peer_span,
		.ctx = s,
	};
	char w[512];

	gethostname(host, sizeof(host) - 1);
	snprintf(s->origin, sizeof(s->origin), "%s/%d", host[0] ? host : "collector", getpid());
	s->has_sonar = o.sonar_topic != NULL;
	s->has_ranges = o.ranges_topic != NULL;
	if (!s->has_sonar && !s->has_ranges) {
		pr_warn(
		    "kafka.brokers is set but both attribution topics are empty: no Kafka feed");
		return 0;
	}
	s->kafka = kafka_feed__new(&o, &cb, w, sizeof(w));
	if (!s->kafka) {
		snprintf(why, len, "kafka.brokers: %s", w);
		return -errno;
	}
	return 0;
}

struct attribution *attribution__new(const struct collector_config *cfg, uint32_t n_workers,
				     int (*write)(void *ctx, const struct wire_batch *b),
				     void *write_ctx, char *why, size_t len)
{
	struct attribution *s = calloc(1, sizeof(*s));
	struct attr_opts o = {
		.max_delay_ms = ms(cfg->max_delay_ns),
		.retention_ms = ms(cfg->retention_ns),
		.heartbeat_grace_ms = ms(cfg->heartbeat_grace_ns),
		.heartbeat_max_skew_ms = ms(cfg->heartbeat_max_skew_ns),
		.max_delayed = cfg->max_delayed,
		.max_ranges = cfg->max_ranges,
		.write = write,
		.write_ctx = write_ctx,
	};
	int err;

	if (!s) {
		snprintf(why, len, "attribution: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	/* the feeds first: the attributor's options name them */
	if (cfg->kube_api && *cfg->kube_api && (err = new_kube(s, cfg, why, len)))
		goto fail;
	if (cfg->kafka_brokers && *cfg->kafka_brokers && (err = new_kafka(s, cfg, why, len)))
		goto fail;
	/* auto: proven wherever there is an API server to prove them with */
	if (cfg->kube_api && *cfg->kube_api &&
	    !(cfg->verify_heartbeats && !strcmp(cfg->verify_heartbeats, "off")) &&
	    (err = new_verifier(s, cfg, why, len)))
		goto fail;
	if (s->kube) {
		o.watermark[FLOW_SOURCE_KUBE] = kube_wm;
		o.watermark_ctx[FLOW_SOURCE_KUBE] = s->kube;
		o.watermark_lag_ms[FLOW_SOURCE_KUBE] = ms(cfg->kube_lag_ns);
	}
	if (s->kafka && s->has_sonar) {
		o.watermark[FLOW_SOURCE_SONAR] = sonar_wm;
		o.watermark_ctx[FLOW_SOURCE_SONAR] = s->kafka;
	}
	if (s->kafka && s->has_ranges) {
		o.publish = publish;
		o.publish_ctx = s;
	}
	/* before the attributor: its options name it */
	if ((err = open_journal(s, cfg, n_workers, why, len)))
		goto fail;
	if (s->journal) {
		o.settled = on_settled;
		o.settled_ctx = s->journal;
	}
	s->attr = attributor__new(&o, why, len);
	if (!s->attr) {
		err = -errno;
		goto fail;
	}
	if ((err = replay_journal(s, why, len)))
		goto fail;
	return s;
fail:
	attribution__free(s);
	errno = -err;
	return NULL;
}

int attribution__start(struct attribution *s, char *why, size_t len)
{
	int err = attributor__start(s->attr);

	if (!err && s->kube)
		err = kube_watch__start(s->kube);
	if (!err && s->kafka)
		err = kafka_feed__start(s->kafka);
	if (err)
		snprintf(why, len, "attribution: cannot start its threads: %s", strerror(-err));
	else
		pr_info("attribution: heartbeats%s%s%s", s->kube ? ", Kubernetes pod watch" : "",
			s->has_sonar ? ", Kafka IP events" : "",
			s->has_ranges ? ", ranges shared with other replicas" : "");
	return err;
}

struct token_review *attribution__verifier(struct attribution *s)
{
	return s->verifier;
}

static void verifier_metrics(struct token_review *v, struct metrics_writer *w)
{
	struct token_review_stats st;

	token_review__stats(v, &st);
	metrics_writer__family(w, "podflow_collector_identity_reviews_total", METRIC_COUNTER,
			       "TokenReviews of sidecars' identity tokens, by result.");
	metrics_writer__u64(w, L("result", "verified"), st.reviews_verified);
	for (int i = 0; i < TOKEN_REFUSED__COUNT; i++)
		metrics_writer__u64(w, L("result", token_refusal_name((enum token_refusal)i)),
				    st.reviews_refused[i]);
	metrics_writer__u64(w, L("result", "failed"), st.reviews_failed);
	metrics_writer__family(w, "podflow_collector_identity_cache_total", METRIC_COUNTER,
			       "Identity cache lookups and what became of them.");
	metrics_writer__u64(w, L("result", "hit"), st.hits);
	metrics_writer__u64(w, L("result", "miss"), st.misses);
	metrics_writer__u64(w, L("result", "queue_full"), st.queue_full);
	metrics_writer__u64(w, L("result", "evicted"), st.evicted);
	metrics_writer__family(w, "podflow_collector_identity_cache_entries", METRIC_GAUGE,
			       "Identity tokens whose review is cached.");
	metrics_writer__u64(w, NULL, st.entries);
}

struct attributor *attribution__attributor(struct attribution *s)
{
	return s->attr;
}

void attribution__reload(struct attribution *s, const struct collector_config *cfg)
{
	attributor__set_limits(s->attr, ms(cfg->max_delay_ns), ms(cfg->retention_ns),
			       ms(cfg->heartbeat_grace_ns), ms(cfg->heartbeat_max_skew_ns));
	if (s->journal)
		hold_journal__set_keep(s->journal, journal_keep_ms(cfg));
}

bool attribution__ready(struct attribution *s, char *why, size_t len)
{
	/*
	 * Once only: a watch that breaks later freezes its watermark (records
	 * wait), and taking every replica out of service for an API server
	 * hiccup would make sidecars buffer for nothing.
	 */
	if (s->kube && !__atomic_load_n(&s->kube_synced_once, __ATOMIC_RELAXED)) {
		if (!kube_watch__synced(s->kube)) {
			snprintf(why, len, "the Kubernetes pod watch has not synced yet");
			return false;
		}
		__atomic_store_n(&s->kube_synced_once, true, __ATOMIC_RELAXED);
	}
	if (s->kafka && !kafka_feed__ready(s->kafka)) {
		snprintf(why, len, "the Kafka attribution topics are still being replayed");
		return false;
	}
	return true;
}

void attribution__stop(struct attribution *s)
{
	/* no evidence arrives while the held-back records are decided for the last time */
	kube_watch__stop(s->kube);
	kafka_feed__stop(s->kafka);
	if (s->review_client)
		kube_client__cancel(s->review_client); /* a review in progress ends now */
	attributor__stop(s->attr);
}

void attribution__free(struct attribution *s)
{
	if (!s)
		return;
	attribution__stop(s);
	token_review__free(s->verifier); /* its thread is the client's only user */
	kube_client__free(s->review_client);
	attributor__free(s->attr);
	hold_journal__free(s->journal); /* after the attributor's last records settled it */
	kube_watch__free(s->kube);
	kafka_feed__free(s->kafka);
	free(s);
}

/* ---- what it tells ------------------------------------------------------------ */

static void kube_metrics(struct kube_watch *k, struct metrics_writer *w)
{
	struct kube_stats st;

	kube_watch__stats(k, &st);
	metrics_writer__family(w, "podflow_collector_kube_requests_total", METRIC_COUNTER,
			       "Pod watch requests and what became of them.");
	metrics_writer__u64(w, L("kind", "list"), st.lists);
	metrics_writer__u64(w, L("kind", "list_page"), st.list_pages);
	metrics_writer__u64(w, L("kind", "watch"), st.watches);
	metrics_writer__u64(w, L("kind", "reconnect"), st.reconnects);
	metrics_writer__u64(w, L("kind", "relist_410"), st.relists_410);
	metrics_writer__u64(w, L("kind", "relist_410_stream"), st.relists_410_stream);
	metrics_writer__u64(w, L("kind", "stream_end"), st.stream_ends);
	metrics_writer__family(w, "podflow_collector_kube_events_total", METRIC_COUNTER,
			       "Pod watch events by type.");
	metrics_writer__u64(w, L("type", "ADDED"), st.added);
	metrics_writer__u64(w, L("type", "MODIFIED"), st.modified);
	metrics_writer__u64(w, L("type", "DELETED"), st.deleted);
	metrics_writer__u64(w, L("type", "BOOKMARK"), st.bookmark);
	metrics_writer__u64(w, L("type", "ERROR"), st.error);
	metrics_writer__family(w, "podflow_collector_kube_errors_total", METRIC_COUNTER,
			       "Pod watch failures by kind.");
	metrics_writer__u64(w, L("kind", "bad_event"), st.bad_events);
	metrics_writer__u64(w, L("kind", "oversized_event"), st.oversized_events);
	metrics_writer__u64(w, L("kind", "http"), st.http_errors);
	metrics_writer__u64(w, L("kind", "auth"), st.auth_failures);
	metrics_writer__u64(w, L("kind", "transport"), st.transport_errors);
	metrics_writer__gauge(w, "podflow_collector_kube_pods", "Pods the watch knows.", st.pods);
	metrics_writer__gauge(w, "podflow_collector_kube_ips", "Pod IPs currently assigned.",
			      st.ips);
	metrics_writer__gauge(w, "podflow_collector_kube_synced",
			      "1 once the first list is done and the watch is healthy.",
			      kube_watch__synced(k));
	metrics_writer__gauge(w, "podflow_collector_kube_watermark_ms",
			      "Up to when the pod watch's view is complete (Unix ms).",
			      (uint64_t)kube_watch__watermark(k));
}

static void kafka_topic_metrics(struct metrics_writer *w, const char *topic,
				const struct kafka_topic_stats *t)
{
	metrics_writer__u64(w, L("topic", topic, "result", "applied"), t->applied);
	metrics_writer__u64(w, L("topic", topic, "result", "too_old"), t->too_old);
	metrics_writer__u64(w, L("topic", topic, "result", "own"), t->own);
	for (int i = 1; i < IP_EVENT_BAD__COUNT; i++)
		metrics_writer__u64(w, L("topic", topic, "result", ip_event_bad_name(i)),
				    t->bad[i]);
}

static void kafka_metrics(struct attribution *s, struct metrics_writer *w)
{
	struct kafka_feed_stats st;

	kafka_feed__stats(s->kafka, &st);
	metrics_writer__family(w, "podflow_collector_kafka_messages_total", METRIC_COUNTER,
			       "Attribution messages consumed, by topic and what became of them.");
	if (s->has_sonar)
		kafka_topic_metrics(w, "ip_events", &st.sonar);
	if (s->has_ranges)
		kafka_topic_metrics(w, "ranges", &st.ranges);
	metrics_writer__family(w, "podflow_collector_kafka_lag_messages", METRIC_GAUGE,
			       "Messages between the feed's position and the end, by topic.");
	if (s->has_sonar)
		metrics_writer__u64(w, L("topic", "ip_events"), st.sonar.lag);
	if (s->has_ranges)
		metrics_writer__u64(w, L("topic", "ranges"), st.ranges.lag);
	metrics_writer__family(w, "podflow_collector_kafka_published_total", METRIC_COUNTER,
			       "Heartbeat ranges published for the other replicas, by outcome.");
	metrics_writer__u64(w, L("result", "queued"), st.published);
	metrics_writer__u64(w, L("result", "delivered"), st.delivered);
	metrics_writer__u64(w, L("result", "dropped_queue_full"), st.dropped);
	for (int i = 0; i < KAFKA_FAIL__COUNT; i++)
		metrics_writer__u64(w, L("result", kafka_fail_name(i)), st.failed[i]);
	metrics_writer__gauge(w, "podflow_collector_kafka_brokers_up",
			      "Brokers the attribution consumer is connected to.", st.brokers_up);
	metrics_writer__gauge(w, "podflow_collector_kafka_healthy",
			      "1 while the IP events watermark may advance.", st.healthy);
	metrics_writer__gauge(w, "podflow_collector_kafka_ready",
			      "1 once every attribution topic has been replayed.",
			      kafka_feed__ready(s->kafka));
	metrics_writer__gauge(w, "podflow_collector_kafka_watermark_ms",
			      "Up to when the IP events view is complete (Unix ms).",
			      s->has_sonar ? (uint64_t)st.watermark_ms : 0);
}

const char *attribution__format(struct attribution *s, char *buf, size_t len)
{
	struct attr_stats a;

	attributor__stats(s->attr, &a);
	snprintf(buf, len,
		 "attributed_heartbeat=%" PRIu64 " attributed_kube=%" PRIu64
		 " attributed_sonar=%" PRIu64 " unattributed_none=%" PRIu64
		 " unattributed_conflict=%" PRIu64 " unattributed_changed=%" PRIu64
		 " unattributed_expired=%" PRIu64 " unattributed_evicted=%" PRIu64
		 " delayed_total=%" PRIu64 " delayed_now=%" PRIu64 " late_write_errors=%" PRIu64,
		 a.decided[FLOW_SOURCE_HEARTBEAT], a.decided[FLOW_SOURCE_KUBE],
		 a.decided[FLOW_SOURCE_SONAR], a.unattributed_none, a.unattributed_conflict,
		 a.unattributed_changed, a.unattributed_expired, a.unattributed_evicted,
		 a.delayed_total, a.delayed_now, a.late_write_errors);
	return buf;
}

void attribution__metrics(struct attribution *s, struct metrics_writer *w)
{
	attributor__metrics(s->attr, w);
	if (s->journal)
		hold_journal__metrics(s->journal, w);
	if (s->verifier)
		verifier_metrics(s->verifier, w);
	if (s->kube)
		kube_metrics(s->kube, w);
	if (s->kafka)
		kafka_metrics(s, w);
}

int attribution__ownership(struct attribution *s, const struct admin_args *args, struct jsonw *jw)
{
	const char *text = admin_arg(args, "ip");
	uint8_t ip[16];

	if (ip_parse_str(text, ip)) {
		jsonw__obj_begin(jw);
		jsonw__kv_str(jw, "error",
			      text ? "ip: not an IPv4 or IPv6 address" : "missing ?ip=ADDRESS");
		jsonw__obj_end(jw);
		return 400;
	}
	attributor__ranges_json(s->attr, ip, jw);
	return 200;
}
