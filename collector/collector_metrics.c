// SPDX-License-Identifier: BSD-2-Clause
/* The collector's admin callbacks: /metrics, /readyz, /config, /ownership, /api/v1/, the API's token check. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "clock.h"
#include "collector.h"
#include "config.h"
#include "insight.h"
#include "ipfix_listener.h"
#include "metrics.h"
#include "output.h"
#include "attribution.h"
#include "stats.h"
#include "token.h"
#include "webhook.h"
#include "worker.h"

#define L METRIC_LABELS

void collector_metrics(void *ctx, struct metrics_writer *w)
{
	struct collector *c = ctx;
	struct stats s = { 0 };

	for (uint32_t i = 0; i < c->n_workers; i++)
		if (c->workers[i])
			stats_sum(&s, worker__stats(c->workers[i]));
	/* records, their times, sender drops and bytes written: IPFIX's too */
	ipfix_listener__sum_stats(c->ipfix, &s);

	metrics_writer__family(w, "podflow_collector_connections_total", METRIC_COUNTER,
			       "Connections by what became of them.");
	metrics_writer__u64(w, L("result", "accepted"), s.conns_accepted);
	metrics_writer__u64(w, L("result", "refused_max_connections"), s.conns_refused);
	metrics_writer__u64(w, L("result", "refused_per_peer"), s.conns_refused_per_peer);
	metrics_writer__u64(w, L("result", "protocol_error"), s.conns_protocol_errors);
	metrics_writer__u64(w, L("result", "tls_failure"), s.conns_tls_failures);
	metrics_writer__u64(w, L("result", "handshake_timeout"), s.conns_handshake_timeouts);
	metrics_writer__u64(w, L("result", "idle_closed"), s.conns_idle_closed);
	metrics_writer__u64(w, L("result", "write_stalled"), s.conns_write_stalled);
	metrics_writer__u64(w, L("result", "aborted_at_exit"), s.conns_aborted_at_exit);
	metrics_writer__family(w, "podflow_collector_requests_total", METRIC_COUNTER,
			       "Requests answered, by HTTP status.");
	for (int i = 0; i < STATS__COUNT; i++)
		metrics_writer__u64(w, L("code", stats_status_name((enum stats_status)i)),
				    s.requests[i]);
	metrics_writer__family(w, "podflow_collector_requests_refused_total", METRIC_COUNTER,
			       "401s, 413s and 431s by reason (requests_total has their status).");
	for (int i = 0; i < STATS_REFUSED__COUNT; i++)
		metrics_writer__u64(w, L("reason", stats_refusal_name((enum stats_refusal)i)),
				    s.refused[i]);
	metrics_writer__family(w, "podflow_collector_streams_reset_total", METRIC_COUNTER,
			       "HTTP/2 streams reset before an answer, by who reset them.");
	metrics_writer__u64(w, L("by", "peer"), s.streams_reset);
	metrics_writer__u64(w, L("by", "server"), s.streams_rst_sent);
	metrics_writer__counter(w, "podflow_collector_batches_total",
				"Batches decoded and written (answered 204).", s.batches);
	metrics_writer__counter(w, "podflow_collector_records_total", "Records written.",
				s.records);
	metrics_writer__family(w, "podflow_collector_records_rejected_total", METRIC_COUNTER,
			       "Records decoded and not written for their times (their batches "
			       "answered 204), by reason.");
	for (int i = 0; i < STATS_REC__COUNT; i++)
		metrics_writer__u64(
		    w, L("reason", stats_record_reject_name((enum stats_record_reject)i)),
		    s.records_rejected[i]);
	metrics_writer__family(w, "podflow_collector_bytes_total", METRIC_COUNTER,
			       "Bytes: request bodies as received, their decoded size, output.");
	metrics_writer__u64(w, L("kind", "received"), s.bytes_in);
	metrics_writer__u64(w, L("kind", "decoded"), s.bytes_decoded);
	metrics_writer__u64(w, L("kind", "written"), s.bytes_out);
	metrics_writer__counter(
	    w, "podflow_collector_write_errors_total",
	    "Output writes that failed (answered 429, 413 or 503; nothing of the "
	    "batch kept).",
	    s.write_errors);
	metrics_writer__counter(w, "podflow_collector_heartbeats_late_total",
				"Heartbeats that came more than attribution.heartbeat_grace after "
				"their span started (each sender logged once): raise the grace "
				"above the sidecars' interval plus retries.",
				s.heartbeats_late);
	metrics_writer__family(w, "podflow_collector_sender_drops_total", METRIC_COUNTER,
			       "What senders reported losing before their batches, by reason.");
	for (int i = 0; i < WIRE_DROP__COUNT; i++)
		metrics_writer__u64(w, L("reason", wire_drop_name((enum wire_drop)i)), s.drops[i]);
	/* restart-only keys: what the listeners were started with */
	metrics_writer__family(w, "podflow_collector_ingest_auth", METRIC_GAUGE,
			       "1 for each way ingest authenticates senders in force (none: "
			       "neither token_file nor tls.client_ca_file).");
	metrics_writer__u64(w, L("mode", "none"), !c->cfg.token_file && !c->cfg.tls_client_ca);
	metrics_writer__u64(w, L("mode", "token"), c->cfg.token_file != NULL);
	metrics_writer__u64(w, L("mode", "mtls"), c->cfg.tls_client_ca != NULL);
	metrics_writer__gauge(w, "podflow_collector_ingest_open",
			      "1: ingest listens beyond loopback without authentication (warned "
			      "at start; docs/security.md).",
			      c->ingest_open);
	metrics_writer__family(w, "podflow_collector_workers", METRIC_GAUGE,
			       "Worker threads, each with its own listener.");
	metrics_writer__u64(w, NULL, c->n_workers);
	config_source_metrics(&c->src, "podflow_collector", w);
	admin_metrics(w, "podflow_collector",
		      (const struct admin *const[]){
			  c->admin, c->api, c->webhook ? webhook__admin(c->webhook) : NULL },
		      (const char *const[]){ "admin", "api", "webhook" }, 3);
	if (c->webhook)
		webhook__metrics(c->webhook, w);
	if (c->outputs)
		outputs__metrics(c->outputs, w);
	if (c->attribution)
		attribution__metrics(c->attribution, w);
	if (c->insight)
		insight__metrics(c->insight, w);
	if (c->ipfix)
		ipfix_listener__metrics(c->ipfix, w);
}

/* Ready once every worker listens and every attribution feed has caught up. */
bool collector_ready(void *ctx, char *why, size_t whylen)
{
	struct collector *c = ctx;

	if (!c->listening) {
		snprintf(why, whylen, "listeners not up yet");
		return false;
	}
	if (c->outputs && !outputs__ready(c->outputs, why, whylen))
		return false;
	return !c->attribution || attribution__ready(c->attribution, why, whylen);
}

/* /ownership?ip=ADDR: the ranges attribution holds for one address. */
int collector_json(void *ctx, const char *path, const struct admin_args *args, struct jsonw *jw)
{
	struct collector *c = ctx;

	if (c->insight && strncmp(path, "/api/v1/", 8) == 0)
		return insight__api(c->insight, path, args, jw, (uint64_t)clock_wall_ms());
	if (strcmp(path, "/ownership") != 0 || !c->attribution)
		return 404;
	return attribution__ownership(c->attribution, args, jw);
}

void collector_config_json(void *ctx, struct jsonw *jw)
{
	struct collector *c = ctx;

	config_to_json(&collector_config_schema, &c->cfg, jw);
}

bool collector_api_authorize(void *ctx, const char *authorization)
{
	struct collector *c = ctx;

	if (!c->api_token)
		return true;
	/* a rotated token is honoured within INGEST_TOKEN_RECHECK; a failed re-read keeps the old */
	token_file__refresh(c->api_token, clock_mono_ns());
	return authorization &&
	       token_file__check(c->api_token, authorization, strlen(authorization));
}
