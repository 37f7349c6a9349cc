// SPDX-License-Identifier: BSD-2-Clause
/* The sidecar's /metrics, /readyz and /config: its counters in Prometheus form. */
#include <stdio.h>
#include <time.h>

#include "admin.h"
#include "capture.h"
#include "cgroup.h"
#include "clock.h"
#include "config.h"
#include "interval.h"
#include "metrics.h"
#include "sidecar.h"

#define L METRIC_LABELS

/* The UDP exporter's families (docs/config.md), zero unless --output udp://. */
static void ipfix_metrics(struct sidecar *s, struct metrics_writer *w)
{
	struct ipfix_export_stats u = { 0 };

	if (s->ipx)
		ipfix_exporter__stats(s->ipx, &u);
	else
		u = s->ipx_final;
	metrics_writer__counter(w, "podflow_sidecar_ipfix_reports_total",
				"IPFIX reports begun: one per interval, more where a batch would "
				"be split.",
				u.reports);
	metrics_writer__family(w, "podflow_sidecar_ipfix_datagrams_total", METRIC_COUNTER,
			       "IPFIX datagrams (templates included) by outcome.");
	metrics_writer__u64(w, L("result", "sent"), u.datagrams_sent);
	metrics_writer__u64(w, L("result", "dropped_queue_full"), u.datagrams_dropped_queue);
	metrics_writer__u64(w, L("result", "send_error"), u.datagrams_send_error);
	metrics_writer__u64(w, L("result", "abandoned_at_exit"), u.datagrams_abandoned);
	metrics_writer__counter(w, "podflow_sidecar_ipfix_template_datagrams_total",
				"Template messages made (at start, every template period, after "
				"the collector's address changed).",
				u.template_datagrams);
	metrics_writer__counter(w, "podflow_sidecar_ipfix_bytes_sent_total",
				"IPFIX bytes (UDP payload) the kernel took.", u.bytes_sent);
	metrics_writer__family(w, "podflow_sidecar_ipfix_records_total", METRIC_COUNTER,
			       "Flow records by outcome: sent, or lost and why.");
	metrics_writer__u64(w, L("result", "sent"), u.records_sent);
	metrics_writer__u64(w, L("result", "dropped_queue_full"), u.records_dropped_queue);
	metrics_writer__u64(w, L("result", "send_error"), u.records_send_error);
	metrics_writer__u64(w, L("result", "abandoned_at_exit"), u.records_abandoned);
	metrics_writer__u64(w, L("result", "not_encoded"), u.records_invalid);
	metrics_writer__counter(w, "podflow_sidecar_ipfix_datagrams_refused_total",
				"Of the datagrams sent, those an ICMP port unreachable came back "
				"for (ECONNREFUSED at the next send): lost.",
				u.datagrams_refused);
	metrics_writer__counter(w, "podflow_sidecar_ipfix_records_refused_total",
				"Of the records sent, those in refused datagrams: lost, and in the "
				"next report's drops.",
				u.records_refused);
	metrics_writer__family(w, "podflow_sidecar_ipfix_send_errors_total", METRIC_COUNTER,
			       "Errors the UDP socket reported, by errno class.");
	for (int i = 0; i < IPFIX_EXPORT_ERR__COUNT; i++)
		metrics_writer__u64(w, L("reason", ipfix_export_error_name(i)), u.errors[i]);
	metrics_writer__gauge(w, "podflow_sidecar_ipfix_queue_bytes",
			      "IPFIX bytes waiting for the rate (ipfix.max_rate).", u.queue_bytes);
	metrics_writer__gauge(w, "podflow_sidecar_ipfix_queue_datagrams",
			      "Datagrams waiting for the rate.", u.queue_datagrams);
	metrics_writer__family(w, "podflow_sidecar_ipfix_resolutions_total", METRIC_COUNTER,
			       "Look-ups of the udp:// output's host name.");
	metrics_writer__u64(w, L("result", "ok"), u.resolutions_ok);
	metrics_writer__u64(w, L("result", "failed"), u.resolutions_failed);
}

static void prog_misses(void *ctx, const char *name, uint64_t misses)
{
	metrics_writer__u64(ctx, L("program", name), misses);
}

void sidecar_metrics(void *ctx, struct metrics_writer *w)
{
	struct sidecar *s = ctx;
	struct export_stats e = { 0 };
	struct interval_stats is;
	struct flow_kstats k;
	uint64_t run_ns, run_cnt;

	capture__kstats(s->cap, &k);
	interval__stats(s->iv, &is);
	capture__prog_stats(s->cap, &run_ns, &run_cnt);

	metrics_writer__counter(w, "podflow_sidecar_flows_started_total",
				"Connections tracked in scope (connect() called, or accepted).",
				k.flows_started);
	metrics_writer__counter(w, "podflow_sidecar_flows_closed_total",
				"Tracked connections that reached TCP_CLOSE.", k.flows_closed);
	metrics_writer__counter(w, "podflow_sidecar_flows_spilled_total",
				"Tracked connections kept in the flows hash map because their fast "
				"slot was held by another (more kernel time each, no loss).",
				k.flows_spilled);
	metrics_writer__family(w, "podflow_sidecar_flows_not_tracked_total", METRIC_COUNTER,
			       "Connections in scope deliberately not tracked, by reason.");
	metrics_writer__u64(w, L("reason", "filtered"), k.filtered);
	metrics_writer__u64(w, L("reason", "paused"), k.paused);
	metrics_writer__counter(w, "podflow_sidecar_events_total",
				"Kernel events read from the ring buffer.", is.events);
	metrics_writer__counter(w, "podflow_sidecar_records_total", "Flow records emitted.",
				is.records);
	metrics_writer__counter(w, "podflow_sidecar_closes_folded_total",
				"Closes the kernel summed into their record itself, not events "
				"(aggregate mode), read at the cuts.",
				is.folded_closes);
	metrics_writer__counter(w, "podflow_sidecar_fold_full_total",
				"Closes sent as events because the kernel's fold table had no room "
				"for their record (fold_keys; no loss).",
				k.fold_full);
	metrics_writer__family(w, "podflow_sidecar_drops_total", METRIC_COUNTER,
			       "Losses: events or connections never reported, by reason.");
	metrics_writer__u64(w, L("reason", "ring_full"), k.ring_full);
	metrics_writer__u64(w, L("reason", "map_full"), k.map_full);
	metrics_writer__u64(w, L("reason", "table"), is.table_drops);
	metrics_writer__u64(w, L("reason", "bad_event"), capture__bad_events(s->cap));
	metrics_writer__counter(
	    w, "podflow_sidecar_listener_table_full_total",
	    "Listening sockets not recorded: their accepted connections lack pid and comm.",
	    k.listener_full);
	metrics_writer__gauge(w, "podflow_sidecar_ring_buffer_size_bytes",
			      "Size of the kernel ring buffer.", capture__ring_bytes(s->cap));
	metrics_writer__gauge(
	    w, "podflow_sidecar_ring_buffer_fill_max_bytes",
	    "Most bytes waiting in the ring buffer at a submit since the previous scrape.",
	    capture__take_ring_fill_max(s->cap));
	metrics_writer__counter(w, "podflow_sidecar_walk_deferred_total",
				"Interval walks paused for ring space and resumed (no loss).",
				k.iter_deferred);
	metrics_writer__counter(
	    w, "podflow_sidecar_ring_wakeups_total",
	    "Forced reader wakeups: the ring passed a quarter full between drains.", k.wakeups);
	metrics_writer__counter(
	    w, "podflow_sidecar_early_flushes_total",
	    "Intervals cut short because max_records distinct records were reached.",
	    is.early_flushes);
	metrics_writer__counter(w, "podflow_sidecar_walk_errors_total",
				"Interval walks that failed.", s->walk_errors);
	metrics_writer__family(w, "podflow_sidecar_walk_duration_seconds", METRIC_HISTOGRAM,
			       "Wall time of each interval walk over the tracked sockets, ring "
			       "drain included.");
	metrics_writer__histogram(w, NULL, &s->walk_duration);
	metrics_writer__family(w, "podflow_sidecar_walk_cpu_seconds_total", METRIC_COUNTER,
			       "CPU time (user+sys) the sidecar spent in interval walks, the "
			       "kernel's iterator program included.");
	metrics_writer__double(w, NULL, (double)s->walk_cpu_ns / 1e9);
	metrics_writer__family(w, "podflow_sidecar_walk_last_seconds", METRIC_GAUGE,
			       "Wall time of the last interval walk.");
	metrics_writer__double(w, NULL, (double)s->walk_last_ns / 1e9);
	metrics_writer__family(w, "podflow_sidecar_walk_max_seconds", METRIC_GAUGE,
			       "Wall time of the longest interval walk since start.");
	metrics_writer__double(w, NULL, (double)s->walk_max_ns / 1e9);
	metrics_writer__counter(
	    w, "podflow_sidecar_cgroup_misses_total",
	    "Records whose cgroup was gone before it was named: container_id empty.",
	    cgroup_names__misses(s->names));
	metrics_writer__gauge(w, "podflow_sidecar_capture_enabled",
			      "1 while capturing, 0 while paused.", s->cfg.enabled);
	metrics_writer__gauge(w, "podflow_sidecar_scope_attached",
			      "1 while the programs are attached to the scope cgroup, 0 while it "
			      "is gone (capture is blind).",
			      !s->scope_gone);
	metrics_writer__family(w, "podflow_sidecar_scope_events_total", METRIC_COUNTER,
			       "The scope cgroup found removed (or replaced), and the programs "
			       "re-attached to one created again at its path.");
	metrics_writer__u64(w, L("event", "removed"), s->scope_removed);
	metrics_writer__u64(w, L("event", "reattached"), s->scope_reattached);
	metrics_writer__gauge(w, "podflow_sidecar_bpf_stats_enabled",
			      "1 while kernel BPF run-time statistics are on (bpf_stats).",
			      s->cfg.bpf_stats);
	metrics_writer__family(w, "podflow_sidecar_bpf_run_time_seconds_total", METRIC_COUNTER,
			       "CPU time in the capture programs; advances only while bpf_stats is "
			       "on.");
	metrics_writer__double(w, NULL, (double)run_ns / 1e9);
	metrics_writer__family(
	    w, "podflow_sidecar_bpf_recursion_misses_total", METRIC_COUNTER,
	    "Runs of a tracepoint program the kernel skipped because that program was already "
	    "running on the CPU (a softirq interrupting it): for the reset programs, RSTs not "
	    "counted in their flows' resets.");
	capture__prog_misses(s->cap, prog_misses, w);
	metrics_writer__counter(w, "podflow_sidecar_bpf_runs_total",
				"Capture program runs; advances only while bpf_stats is on.",
				run_cnt);

	if (s->exp)
		exporter__stats(s->exp, &e);
	else
		e = s->exp_final;
	if (s->ipx || s->ipx_final.domain_id) {
		/* the heartbeat's gauges, from whichever exporter builds the headers */
		struct ipfix_export_stats u;

		if (s->ipx)
			ipfix_exporter__stats(s->ipx, &u);
		else
			u = s->ipx_final;
		e.heartbeat_ips = u.header.heartbeat_ips;
		e.pod_ips_over_limit = u.header.pod_ips_over_limit;
		e.pod_ips_malformed = u.header.pod_ips_malformed;
		e.send_offset_ns = u.header.send_offset_ns;
	}
	metrics_writer__family(w, "podflow_sidecar_export_batches_total", METRIC_COUNTER,
			       "Batches sealed for the collector, and delivered.");
	metrics_writer__u64(w, L("result", "sealed"), e.batches_sealed);
	metrics_writer__u64(w, L("result", "delivered"), e.batches_ok);
	metrics_writer__family(w, "podflow_sidecar_export_records_total", METRIC_COUNTER,
			       "Records by outcome: delivered, or lost and why.");
	metrics_writer__u64(w, L("result", "delivered"), e.records_ok);
	metrics_writer__u64(w, L("result", "dropped_buffer_full"), e.records_dropped_buffer);
	metrics_writer__u64(w, L("result", "rejected"), e.records_rejected);
	metrics_writer__u64(w, L("result", "abandoned_at_exit"), e.records_abandoned);
	metrics_writer__family(
	    w, "podflow_sidecar_export_failures_total", METRIC_COUNTER,
	    "Failed delivery attempts, by reason (all but http_4xx are retried).");
	metrics_writer__u64(w, L("reason", "connect"), e.fail_connect);
	metrics_writer__u64(w, L("reason", "timeout"), e.fail_timeout);
	metrics_writer__u64(w, L("reason", "reset"), e.fail_reset);
	metrics_writer__u64(w, L("reason", "goaway"), e.fail_goaway);
	metrics_writer__u64(w, L("reason", "http_429"), e.fail_http_429);
	metrics_writer__u64(w, L("reason", "http_5xx"), e.fail_http_5xx);
	metrics_writer__u64(w, L("reason", "http_4xx"), e.fail_http_4xx);
	metrics_writer__counter(w, "podflow_sidecar_export_retries_total",
				"Batches scheduled for another attempt.", e.retries);
	metrics_writer__gauge(w, "podflow_sidecar_export_buffer_bytes",
			      "Encoded batches held for the collector (queued or in flight).",
			      e.buffer_bytes);
	metrics_writer__gauge(w, "podflow_sidecar_export_buffer_batches",
			      "Batches held for the collector.", e.buffer_batches);
	metrics_writer__gauge(w, "podflow_sidecar_heartbeat_ips",
			      "Pod IPs the last heartbeat claimed (none while capture is blind).",
			      e.heartbeat_ips);
	metrics_writer__family(w, "podflow_sidecar_send_offset_seconds", METRIC_GAUGE,
			       "How long after each interval's cut this pod sends what it cut: its "
			       "fixed place in send_spread (at most a tenth of the interval).");
	metrics_writer__double(w, NULL, (double)e.send_offset_ns / 1e9);
	metrics_writer__family(w, "podflow_sidecar_pod_ips_ignored", METRIC_GAUGE,
			       "Pod IPs the heartbeats do not claim, by reason: beyond the 64 one "
			       "carries, or every entry of a malformed POD_IPS/POD_IP.");
	metrics_writer__u64(w, L("reason", "over_limit"), e.pod_ips_over_limit);
	metrics_writer__u64(w, L("reason", "malformed"), e.pod_ips_malformed);
	ipfix_metrics(s, w);
	if (s->exp) {
		metrics_writer__family(w, "podflow_sidecar_export_latency_seconds",
				       METRIC_HISTOGRAM,
				       "Time from sending a batch to the collector's answer.");
		metrics_writer__histogram(w, NULL, exporter__latency(s->exp));
	}

	config_source_metrics(&s->src, "podflow_sidecar", w);
	admin_metrics(w, "podflow_sidecar", (const struct admin *const[]){ s->admin },
		      (const char *const[]){ "admin" }, 1);
}

/*
 * Ready: the programs are attached to the scope cgroup (not the case while
 * it is gone) and nothing is being lost on the way out.  A collector that is merely down does not make
 * the sidecar unready while the buffer still holds everything: a readiness
 * probe on /readyz must not take every pod out of service because the
 * collector restarts.
 */
bool sidecar_ready(void *ctx, char *why, size_t whylen)
{
	struct sidecar *s = ctx;
	struct export_stats e;

	if (!s->cap) {
		snprintf(why, whylen, "capture not attached");
		return false;
	}
	if (s->scope_gone) {
		uint64_t now_ms = (uint64_t)clock_wall_ms();

		snprintf(
		    why, whylen, "cgroup %s is gone (%llu ms ago): capture is blind%s%s", s->scope,
		    (unsigned long long)(now_ms > s->scope_gone_ms ? now_ms - s->scope_gone_ms : 0),
		    s->scope_why[0] ? "; re-attaching failed: " : "", s->scope_why);
		return false;
	}
	if (s->exp) {
		exporter__stats(s->exp, &e);
		if (exporter__dropping(s->exp)) {
			snprintf(why, whylen,
				 "exporter: buffer full (%llu bytes), dropping records "
				 "(%llu consecutive failed attempts)",
				 (unsigned long long)e.buffer_bytes,
				 (unsigned long long)e.consecutive_failures);
			return false;
		}
	}
	return true;
}

void sidecar_config_json(void *ctx, struct jsonw *jw)
{
	struct sidecar *s = ctx;

	config_to_json(&sidecar_config_schema, &s->cfg, jw);
}
