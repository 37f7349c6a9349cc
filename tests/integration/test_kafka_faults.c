// SPDX-License-Identifier: BSD-2-Clause
/* Kafka faults on both of the collector's paths at once: produce errors on the flows, fetch delays on the IP events. */
/*
 * One real podflow-collector against one librdkafka mock cluster living in
 * this process: broker 1 leads the flows topic (sinks.kafka), broker 2 the
 * IP events topic (the Sonar-style feed attribution waits for).  While the
 * feed's fetches are held back for seconds (an answered Fetch request kept
 * back by the broker: a slow or overloaded broker, a congested link), the
 * brokers answer the sink's produce requests with retriable errors after a
 * delay.  Every record a batch answered 204 must then be in the topic
 * exactly once, in the files exactly once, and named after the owner the
 * late events gave its remote address: none unattributed.
 *
 * The fetch delay is longer than the feed's watermark lag: the watermark
 * used to come from the high watermark of the last Fetch answer, as old as
 * the delay, and passed the events still unread, so every record waiting
 * for them went out unattributed ("none") seconds before they came.  It
 * now comes from high watermarks the feed asks for (docs/ip-events.md,
 * "Watermark").
 *
 * Batches are encoded here (lib/wire) and posted over one HTTP/2 connection
 * (lib/h2client); each record is told apart by its bytes_sent (its "id").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <zlib.h>

#include "collector_client.h"
#include "flow.h"
#include "harness.h"
#include "harness_main.h"
#include "kafka.h"
#include "kafka_mock.h"

#define WAIT_MS	 15000
#define EVENTS	 "podflow.ip-events"
#define FLOWS	 "podflow.flows"
#define B_FLOWS	 1 /* the broker leading the flows topic: produce errors */
#define B_EVENTS 2 /* the broker leading the IP events topic: fetch delays */
/* the Kafka protocol's ApiKeys (not in librdkafka's public headers) */
#define API_PRODUCE 0
#define API_FETCH   1

/*
 * The fetch delay: longer than the feed's watermark lag (5 s, the time an
 * event may take to reach its topic), shorter than max_delay, so every
 * record can and must wait for its owner.
 */
#define FETCH_DELAY_MS 7000
#define MAX_DELAY      "15s"
#define LAG_MS	       5000 /* KAFKA_FEED_LAG_MS */

#define N_OWNED	  4 /* addresses the IP events give an owner */
#define N_BATCHES 6 /* batches posted while the events' fetch is held */
#define PER_OWNED 8 /* records to each owned address per batch */
#define PER_LOOP  3 /* records to loopback per batch: decided at once, produced at once */
#define ID0	  1000

static char g_tmp[256];

static const struct pod_ident ID_S = { "sigma", "team-s", "sigma-84d2-k7j6h", "sigma", "node-4" };
#define IP_S "10.50.0.1"

/* The owners the IP events name: app, and the workload "<app>-lb" (namespace edge). */
static const char *const owner_app[N_OWNED] = { "lb-alpha", "lb-beta", "lb-gamma", "lb-delta" };
static const char *const owner_workload[N_OWNED] = { "lb-alpha-lb", "lb-beta-lb", "lb-gamma-lb",
						     "lb-delta-lb" };
static const char *const owner_ip[N_OWNED] = { "10.77.0.1", "10.77.0.2", "10.77.0.3",
					       "fd00:77::4" };

/* The retriable produce errors, each answered after its delay: two rounds. */
static const struct {
	rd_kafka_resp_err_t err;
	int rtt_ms;
} produce_faults[] = {
	{ RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, 150 },
	{ RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 400 },
	{ RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, 50 },
	{ RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 250 },
	{ RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, 100 },
};
#define N_FAULTS (sizeof(produce_faults) / sizeof(produce_faults[0]))

/* ---- the collector -------------------------------------------------------------- */

/*
 * Starts podflow-collector, DATA_DIR g_tmp/collector: the IP events feed
 * (no ranges topic: one replica), the flows to Kafka and to the files.
 * 0 or -errno.
 */
static int faults_start(struct coll *c, const char *brokers)
{
	const struct coll_conf conf = { .dir = g_tmp, .debug_env = "KAFKA_DEBUG" };
	const char *const args[] = {
		"--collector-id",
		"faults-1",
		"--kafka-brokers",
		brokers,
		"--ranges-topic",
		"",
		"--kafka-linger",
		"5ms",
		/* an address no heartbeat claims is no sidecar's 1 s on: Sonar's watermark decides */
		"--heartbeat-grace",
		"1s",
		"--max-delay",
		MAX_DELAY,
		NULL,
	};

	return coll__start(c, &conf, "collector", args);
}

#define SINK(res)     "podflow_collector_kafka_sink_records_total{result=\"" res "\"}"
#define WATERMARK     "podflow_collector_kafka_watermark_ms"
#define DELAYED_NOW   "podflow_collector_attribution_delayed_records"
#define DELAYED_TOTAL "podflow_collector_attribution_delayed_total"
#define DELAY_HIST    "podflow_collector_attribution_delay_seconds"
#define SENT_RECORDS  "podflow_collector_kafka_sink_sent_records_total"
#define EVENTS_APPLIED \
	"podflow_collector_kafka_messages_total{topic=\"ip_events\",result=\"applied\"}"

/* How far the IP events watermark has been behind the wall clock, at most, while watched. */
static int64_t g_wm_behind_max;

/* The coll__wait_* hook, set once the feed is ready: before, it has no watermark to watch. */
static void watch_watermark(struct coll *c, void *ctx)
{
	int64_t wm = coll__metric(c, WATERMARK), behind;

	(void)ctx;
	if (wm <= 0)
		return;
	behind = harness_wall_ms() - wm;
	if (behind > g_wm_behind_max)
		g_wm_behind_max = behind;
}

/*
 * Polls `sample` until it is at least `want` and has not changed for
 * stable_ms (longer than the statistics interval it comes from).
 */
static int64_t wait_settled(struct coll *c, const char *sample, int64_t want, int stable_ms,
			    int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms, since = harness_now_ms();
	int64_t v = coll__metric(c, sample), last = v;

	while (harness_now_ms() < deadline) {
		harness_sleep_ms(50);
		v = coll__metric(c, sample);
		if (v != last) {
			last = v;
			since = harness_now_ms();
		} else if (v >= want && harness_now_ms() - since >= (uint64_t)stable_ms) {
			break;
		}
	}
	return v;
}

/* Polls until every record held back is decided (none waits), watching the watermark. */
static bool wait_none_held(struct coll *c, int64_t held, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		bool done =
		    coll__metric(c, DELAYED_TOTAL) == held && coll__metric(c, DELAYED_NOW) == 0;

		if (done || harness_now_ms() >= deadline)
			return done;
		watch_watermark(c, NULL);
		harness_sleep_ms(20);
	}
}

/* ---- the IP events -------------------------------------------------------------- */

static int produce_assign(struct kafka_mock *m, int owner, int64_t ts)
{
	char val[512];
	int n;

	n = snprintf(val, sizeof(val),
		     "{\"ip\":\"%s\",\"event\":\"assign\",\"ts_ms\":%lld,\"app\":\"%s\","
		     "\"namespace\":\"edge\",\"workload\":\"%s-lb\",\"account\":\"123456789012\","
		     "\"region\":\"eu-west-1\",\"zone\":\"eu-west-1a\"}",
		     owner_ip[owner], (long long)ts, owner_app[owner], owner_app[owner]);
	return kafka_mock__produce(m, EVENTS, -1, owner_ip[owner], val, (size_t)n, 0);
}

/* ---- what came out ---------------------------------------------------------------- */

/* The lines of the whole topic, one payload each, read with kcat (-J envelopes). */
static int kcat_payloads(struct kafka_mock *m, json_t *out)
{
	const char *kcat = access("/usr/bin/kcat", X_OK) == 0 ? "/usr/bin/kcat" : "kcat";
	const char *argv[] = {
		kcat,	     "-C", "-q", "-b", kafka_mock__bootstraps(m), "-t", FLOWS, "-o",
		"beginning", "-e", "-J", NULL,
	};
	char *text = NULL, *line, *save = NULL;
	int st, ret = -EIO;

	st = harness_run_to_file(argv, WAIT_MS, &text);
	if (st != 0) {
		fprintf(stderr, "    kcat exited %d\n", st);
		goto out;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *env = json_loads(line, 0, NULL);
		json_t *pl = json_object_get(env, "payload");

		if (!json_is_string(pl)) {
			fprintf(stderr, "    kcat: not an envelope with a payload: %s\n", line);
			json_decref(env);
			goto out;
		}
		if (strcmp(json_string_value(json_object_get(env, "key")) ?: "", ID_S.app) != 0) {
			fprintf(stderr, "    kcat: key is not the local app: %s\n", line);
			json_decref(env);
			goto out;
		}
		json_array_append_new(out, json_string(json_string_value(pl)));
		json_decref(env);
	}
	ret = 0;
out:
	free(text);
	return ret;
}

/* Every line (without its newline) of every file `pattern` matches, gzip or plain. */
static int file_lines(const char *pattern, json_t *out, size_t *files)
{
	glob_t g = { 0 };
	int ret = 0;

	*files = 0;
	if (glob(pattern, 0, NULL, &g) != 0)
		return 0;
	for (size_t f = 0; f < g.gl_pathc && !ret; f++) {
		gzFile gz = gzopen(g.gl_pathv[f], "rb"); /* reads plain files as they are */
		char buf[8192];

		if (!gz) {
			ret = -EIO;
			break;
		}
		(*files)++;
		while (gzgets(gz, buf, sizeof(buf))) {
			size_t n = strlen(buf);

			if (n == 0 || buf[n - 1] != '\n') {
				fprintf(stderr, "    %s: a line longer than %zu or unterminated\n",
					g.gl_pathv[f], sizeof(buf));
				ret = -EIO;
				break;
			}
			buf[n - 1] = '\0';
			json_array_append_new(out, json_string(buf));
		}
		gzclose(gz);
	}
	globfree(&g);
	return ret;
}

static int cmp_json_str(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

/* The array of strings, sorted, as a C array of borrowed pointers (malloc'd). */
static json_t **sorted(json_t *arr)
{
	size_t n = json_array_size(arr);
	json_t **v = calloc(n + 1, sizeof(*v));

	for (size_t i = 0; v && i < n; i++)
		v[i] = json_array_get(arr, i);
	if (v)
		qsort(v, n, sizeof(*v), cmp_json_str);
	return v;
}

/* `a` and `b` hold the same lines, as many times each.  0, or -1 after saying where. */
static int same_lines(json_t *a, const char *what_a, json_t *b, const char *what_b)
{
	size_t n = json_array_size(a);
	json_t **va = sorted(a), **vb = sorted(b);
	int ret = -1;

	if (!va || !vb)
		goto out;
	if (n != json_array_size(b)) {
		fprintf(stderr, "    FAIL: %zu lines in %s, %zu in %s\n", n, what_a,
			json_array_size(b), what_b);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(json_string_value(va[i]), json_string_value(vb[i])) != 0) {
			fprintf(stderr, "    FAIL: %s and %s differ:\n      %s\n      %s\n", what_a,
				what_b, json_string_value(va[i]), json_string_value(vb[i]));
			goto out;
		}
	ret = 0;
out:
	free(va);
	free(vb);
	return ret;
}

/* What record `id` must say of its remote side. */
struct want {
	const char *app, *ns, *workload, *source;
};

/*
 * Every line of `lines` is a record of ours, each of the n ids [ID0, ID0 +
 * n) comes exactly once, and says what want[id - ID0] says.  *dups: ids
 * seen more than once; *missing: ids never seen; *wrong: ids with another
 * remote side.  0 when all three are 0.
 */
static int check_records(json_t *lines, const char *where, const struct want *want, size_t n,
			 size_t *dups, size_t *missing, size_t *wrong)
{
	unsigned *seen = calloc(n, sizeof(*seen));
	size_t i;
	json_t *l;

	*dups = *missing = *wrong = 0;
	if (!seen)
		return -1;
	json_array_foreach(lines, i, l)
	{
		json_t *r = json_loads(json_string_value(l), 0, NULL);
		uint64_t id = r ? rec_u64(r, "bytes_sent") : 0;
		const struct want *w;
		bool bad = false;

		if (!r || id < ID0 || id >= ID0 + n) {
			fprintf(stderr, "    FAIL: %s: not one of our records: %s\n", where,
				json_string_value(l));
			json_decref(r);
			(*wrong)++;
			continue;
		}
		w = &want[id - ID0];
		if (seen[id - ID0]++) {
			(*dups)++;
			json_decref(r);
			continue;
		}
		bad |= strcmp(rec_str(r, "remote_app"), w->app) != 0;
		bad |= strcmp(rec_str(r, "remote_namespace"), w->ns) != 0;
		bad |= strcmp(rec_str(r, "remote_workload"), w->workload) != 0;
		bad |= strcmp(rec_str(r, "remote_source"), w->source) != 0;
		bad |= strcmp(rec_str(r, "local_app"), ID_S.app) != 0;
		bad |= strcmp(rec_str(r, "local_pod"), ID_S.pod) != 0;
		if (bad && (*wrong)++ < 5)
			fprintf(
			    stderr,
			    "    FAIL: %s: record %llu: remote %s/%s/%s (%s), expected %s/%s/%s "
			    "(%s)\n",
			    where, (unsigned long long)id, rec_str(r, "remote_app"),
			    rec_str(r, "remote_namespace"), rec_str(r, "remote_workload"),
			    rec_str(r, "remote_source"), w->app, w->ns, w->workload, w->source);
		json_decref(r);
	}
	for (i = 0; i < n; i++)
		*missing += seen[i] == 0;
	free(seen);
	fprintf(stderr, "    %s: %zu lines: %zu missing, %zu duplicates, %zu wrong\n", where,
		json_array_size(lines), *missing, *dups, *wrong);
	return *dups || *missing || *wrong ? -1 : 0;
}

/* ---- the test ------------------------------------------------------------------------ */

/*
 * The feed's next Fetch to broker 2 is answered FETCH_DELAY_MS late, and
 * the events naming the owners are produced just after the broker took that
 * Fetch (so its answer, when it comes, does not have them).  The records
 * to those owners, posted meanwhile, wait for the events.  At the same
 * time broker 1 answers the sink's produce requests with retriable errors,
 * in two rounds: the first hits the records decided at once (loopback, the
 * sender's own pod), the second the records decided late, once the events
 * have come.
 */
static int test_produce_errors_and_fetch_delay(void)
{
	enum { N_SONAR = N_BATCHES * N_OWNED * PER_OWNED, N_LOOP = N_BATCHES * PER_LOOP };
	const size_t n = N_SONAR + N_LOOP;
	struct kafka_mock *m = NULL;
	rd_kafka_mock_cluster_t *mc;
	struct coll c = { 0 };
	struct snd s = { 0 };
	struct want *want = NULL;
	json_t *kafka = json_array(), *files = json_array(), *jsonl = json_array();
	size_t dups, missing, wrong, n_files, cnt, first_round = N_FAULTS / 2 + 1;
	int64_t n0, t_assign, delivered, sent, delay_sum, waited_le5, t_delayed;
	uint64_t t_fetch_taken;
	char brokers[256], pattern[700], note[1024], counted_as[256];
	uint64_t id = ID0;
	int ret = 1;

	want = calloc(n, sizeof(*want));
	ASSERT_TRUE("memory", want && kafka && files && jsonl);
	g_wm_behind_max = 0;
	m = kafka_mock__new(2);
	ASSERT_TRUE("mock cluster", m);
	mc = kafka_mock__cluster(m);
	ASSERT_EQ_U64("events topic", 0, -kafka_mock__topic(m, EVENTS, 2));
	ASSERT_EQ_U64("flows topic", 0, -kafka_mock__topic(m, FLOWS, 3));
	for (int p = 0; p < 2; p++)
		ASSERT_EQ_U64("events leader", 0, -kafka_mock__leader(m, EVENTS, p, B_EVENTS));
	for (int p = 0; p < 3; p++)
		ASSERT_EQ_U64("flows leader", 0, -kafka_mock__leader(m, FLOWS, p, B_FLOWS));
	snprintf(brokers, sizeof(brokers), "%s", kafka_mock__bootstraps(m));
	ASSERT_EQ_U64("collector starts", 0, -faults_start(&c, brokers));
	ASSERT_TRUE("ready once the events topic is replayed", coll__wait_ready(&c, 200, WAIT_MS));
	c.on_wait = watch_watermark;
	ASSERT_EQ_U64("sender", 0, -snd__open(&s, c.port, &ID_S, IP_S));
	/* a v6 flow has a v6 local side */
	ASSERT_EQ_U64("sender's IPv6", 0, -snd__dual_stack(&s, "fd00:50::1"));

	/* produce errors, first round: the records decided at once meet them */
	for (size_t i = 0; i < first_round; i++)
		ASSERT_EQ_U64("push produce error", 0,
			      rd_kafka_mock_broker_push_request_error_rtts(
				  mc, B_FLOWS, API_PRODUCE, 1, produce_faults[i].err,
				  produce_faults[i].rtt_ms));
	/* the feed's next Fetch of the events is answered FETCH_DELAY_MS late */
	ASSERT_EQ_U64("push fetch delay", 0,
		      rd_kafka_mock_broker_push_request_error_rtts(
			  mc, B_EVENTS, API_FETCH, 1, RD_KAFKA_RESP_ERR_NO_ERROR, FETCH_DELAY_MS));
	/* the broker has taken that Fetch (and written its answer, to be sent late) */
	for (uint64_t end = harness_now_ms() + 3000;; harness_sleep_ms(5)) {
		cnt = 1;
		rd_kafka_mock_broker_error_stack_cnt(mc, B_EVENTS, API_FETCH, &cnt);
		if (cnt == 0 || harness_now_ms() > end)
			break;
	}
	ASSERT_EQ_U64("the feed's Fetch taken", 0, cnt);
	t_fetch_taken = harness_now_ms();

	/*
	 * The owners' events, 1.5 s after the time they name (within the 5 s an
	 * event may take to reach its topic); the records start after it.
	 */
	n0 = harness_wall_ms();
	t_assign = n0 - 1500;
	for (int o = 0; o < N_OWNED; o++)
		ASSERT_EQ_U64("assign event", 0, -produce_assign(m, o, t_assign));
	ASSERT_EQ_U64("events in the topic", 0, -kafka_mock__flush(m, WAIT_MS));

	for (int b = 0; b < N_BATCHES; b++) {
		struct flow_record r[N_OWNED * PER_OWNED + PER_LOOP];
		size_t k = 0;
		int64_t start = t_assign + 100 + b * 100, end = start + 500;

		for (int o = 0; o < N_OWNED; o++)
			for (int j = 0; j < PER_OWNED; j++, id++) {
				want[id - ID0] = (struct want){ owner_app[o], "edge",
								owner_workload[o], "sonar" };
				r[k++] = snd_record(id, owner_ip[o], start, end);
			}
		for (int j = 0; j < PER_LOOP; j++, id++) {
			want[id - ID0] =
			    (struct want){ ID_S.app, ID_S.ns, ID_S.workload, "heartbeat" };
			r[k++] = snd_record(id, "127.0.0.1", start, end);
		}
		ASSERT_EQ_U64("batch answered", 204,
			      snd__post(&s, t_assign, harness_wall_ms(), r, k));
	}

	/*
	 * The records decided at once get through the first round of produce
	 * errors while the others still wait for the events; then the second
	 * round, for the records decided late.
	 */
	ASSERT_EQ_U64("loopback records delivered through the produce errors", N_LOOP,
		      coll__wait_metric(&c, SINK("delivered"), N_LOOP, WAIT_MS));
	cnt = 1;
	rd_kafka_mock_broker_error_stack_cnt(mc, B_FLOWS, API_PRODUCE, &cnt);
	ASSERT_EQ_U64("first round of produce errors all answered", 0, cnt);
	t_delayed = coll__metric(&c, DELAYED_NOW);
	fprintf(stderr, "    %llu ms into the fetch delay: %lld records waiting for the events\n",
		(unsigned long long)(harness_now_ms() - t_fetch_taken), (long long)t_delayed);
	ASSERT_EQ_U64("the records to the owners still wait", N_SONAR, t_delayed);
	ASSERT_TRUE("still within the fetch delay",
		    harness_now_ms() - t_fetch_taken < FETCH_DELAY_MS);
	for (size_t i = first_round; i < N_FAULTS; i++)
		ASSERT_EQ_U64("push produce error", 0,
			      rd_kafka_mock_broker_push_request_error_rtts(
				  mc, B_FLOWS, API_PRODUCE, 1, produce_faults[i].err,
				  produce_faults[i].rtt_ms));

	/* the events arrive, late; the records go out named, through the second round */
	ASSERT_EQ_U64("events applied", N_OWNED,
		      coll__wait_metric(&c, EVENTS_APPLIED, N_OWNED, WAIT_MS));
	ASSERT_TRUE("every record held back decided", wait_none_held(&c, N_SONAR, WAIT_MS));
	fprintf(stderr, "    decided: %lld sonar, %lld unattributed (none), %lld heartbeat\n",
		(long long)coll__result(&c, "sonar"),
		(long long)coll__result(&c, "unattributed_none"),
		(long long)coll__result(&c, "heartbeat"));
	/* with the watermark of the Fetch answers: all 192 "none", ~2.5 s before the events came */
	ASSERT_EQ_U64("unattributed none", 0, coll__result(&c, "unattributed_none"));
	ASSERT_EQ_U64("decided by sonar", N_SONAR, coll__result(&c, "sonar"));
	ASSERT_EQ_U64("every record delivered to Kafka", n,
		      coll__wait_metric(&c, SINK("delivered"), (int64_t)n, WAIT_MS));
	fprintf(stderr, "    all delivered %llu ms after the fetch was taken\n",
		(unsigned long long)(harness_now_ms() - t_fetch_taken));
	cnt = 1;
	rd_kafka_mock_broker_error_stack_cnt(mc, B_FLOWS, API_PRODUCE, &cnt);
	ASSERT_EQ_U64("second round of produce errors all answered", 0, cnt);

	/* what the metrics say: decisions, and the faults seen */
	ASSERT_EQ_U64("decided by heartbeat (loopback)", N_LOOP, coll__result(&c, "heartbeat"));
	ASSERT_EQ_U64("unattributed changed", 0, coll__result(&c, "unattributed_changed"));
	ASSERT_EQ_U64("unattributed conflict", 0, coll__result(&c, "unattributed_conflict"));
	ASSERT_EQ_U64("unattributed expired", 0, coll__result(&c, "unattributed_expired"));
	ASSERT_EQ_U64("unattributed evicted", 0, coll__result(&c, "unattributed_evicted"));
	ASSERT_EQ_U64("records written", n, coll__metric(&c, "podflow_collector_records_total"));
	ASSERT_EQ_U64("queued for Kafka", n, coll__metric(&c, SINK("queued")));
	ASSERT_EQ_U64("refused by Kafka's bound", 0, coll__metric(&c, SINK("refused_queue_full")));
	for (int r = 0; r < KAFKA_FAIL__COUNT; r++) {
		char sample[128];

		snprintf(sample, sizeof(sample),
			 "podflow_collector_kafka_sink_failed_total{reason=\"%s\"}",
			 kafka_fail_name((enum kafka_fail)r));
		ASSERT_EQ_U64(sample, 0, coll__metric(&c, sample));
	}
	ASSERT_EQ_U64("possibly persisted", 0,
		      coll__metric(&c, "podflow_collector_kafka_sink_possibly_persisted_total"));
	ASSERT_EQ_U64("in flight", 0,
		      coll__metric(&c, "podflow_collector_kafka_sink_in_flight_records"));
	/*
	 * The retries: records sent more than once (statistics, every second).
	 * Each produce error sent again the records of its request, at least one.
	 */
	delivered = coll__metric(&c, SINK("delivered"));
	sent = wait_settled(&c, SENT_RECORDS, delivered + (int64_t)N_FAULTS, 1200, 5000);
	fprintf(stderr, "    sink: %lld records sent for %lld delivered: %lld sent again\n",
		(long long)sent, (long long)delivered, (long long)(sent - delivered));
	ASSERT_TRUE("every produce error made records be sent again",
		    sent >= delivered + (int64_t)N_FAULTS);
	/* the fetch delay: the watermark held back, the records waited for it */
	delay_sum = coll__metric(&c, DELAY_HIST "_sum");
	waited_le5 = coll__metric(&c, DELAY_HIST "_bucket{le=\"5\"}");
	fprintf(stderr,
		"    IP events watermark at most %lld ms behind; %lld records waited %lld s in all "
		"(%lld at most 5 s)\n",
		(long long)g_wm_behind_max, (long long)coll__metric(&c, DELAYED_TOTAL),
		(long long)delay_sum, (long long)waited_le5);
	ASSERT_EQ_U64("records that waited", N_SONAR, coll__metric(&c, DELAYED_TOTAL));
	ASSERT_TRUE("the watermark fell behind by the fetch delay",
		    g_wm_behind_max >= LAG_MS + FETCH_DELAY_MS / 2);
	ASSERT_EQ_U64("none waited less than 5 s", 0, waited_le5);

	/* Kafka: each record exactly once, named right */
	ASSERT_EQ_U64("kcat", 0, -kcat_payloads(m, kafka));
	ASSERT_EQ_U64("Kafka: exactly once, attributed", 0,
		      -check_records(kafka, "kafka", want, n, &dups, &missing, &wrong));

	/* files: published at exit, the same records as Kafka's, line for line */
	ASSERT_EQ_U64("exit code", 0, harness_child_stop(&c.p));
	snprintf(pattern, sizeof(pattern), "%s/flows/dt=*/hr=*/part-*.json.gz", c.data);
	ASSERT_EQ_U64("files read", 0, -file_lines(pattern, files, &n_files));
	ASSERT_TRUE("published files", n_files > 0);
	ASSERT_EQ_U64("files: exactly once, attributed", 0,
		      -check_records(files, "files", want, n, &dups, &missing, &wrong));
	ASSERT_EQ_U64("files = Kafka", 0, -same_lines(files, "the files", kafka, "Kafka"));
	snprintf(pattern, sizeof(pattern), "%s/flows-*.jsonl", c.data);
	ASSERT_EQ_U64("jsonl read", 0, -file_lines(pattern, jsonl, &n_files));
	ASSERT_EQ_U64("jsonl = Kafka", 0, -same_lines(jsonl, "the JSON lines", kafka, "Kafka"));

	snprintf(counted_as, sizeof(counted_as),
		 "nothing undelivered; the faults in %s (retries), %s and %s (the fetch delay)",
		 SENT_RECORDS, WATERMARK, DELAY_HIST);
	snprintf(note, sizeof(note),
		 "%zu retriable produce errors injected (NOT_LEADER_FOR_PARTITION, "
		 "REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS; answered after 50-400 ms), fetch "
		 "delayed %d ms; retries counted in %s (%lld records sent for %lld delivered); "
		 "the IP events watermark held back (%lld ms behind at most), %d records "
		 "waited for their owners' events and went out attributed (sonar), %d at once "
		 "(heartbeat); Kafka, the files and the JSON lines hold each record exactly "
		 "once, the same lines",
		 N_FAULTS, FETCH_DELAY_MS, SENT_RECORDS, (long long)sent, (long long)delivered,
		 (long long)g_wm_behind_max, N_SONAR, N_LOOP);
	harness_report(&(struct report_fault){
	    .fault = "Kafka produce errors and fetch delays at once",
	    .unit = "records",
	    .injected = n,
	    .delivered = n, /* each in Kafka (and the files) exactly once, attributed: above */
	    .counted = 0,
	    .lost = 0,
	    .counted_as = counted_as,
	    .note = note,
	});
	ret = 0;
cleanup:
	snd__close(&s);
	coll__free(&c, ret);
	kafka_mock__free(m);
	json_decref(kafka);
	json_decref(files);
	json_decref(jsonl);
	free(want);
	return ret;
}

static const struct harness_test tests[] = {
	{ "produce_errors_and_fetch_delay", test_produce_errors_and_fetch_delay },
};

int main(int argc, char **argv)
{
	/* as root (CI), a private network namespace: the mock's ports meet nobody else's */
	static const struct harness_suite suite = {
		.name = "kafka_faults",
		HARNESS_TESTS(tests),
		.debug_env = "KAFKA_DEBUG",
		HARNESS_TMP(g_tmp, "podflow-kafka-faults-it"),
		.netns = true,
	};

	return harness_main(&suite, argc, argv);
}
