// SPDX-License-Identifier: BSD-2-Clause
/* The injection webhook's server: POST /mutate over HTTPS on the collector's main thread. */
#include "webhook.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "admission.h"
#include "clock.h"
#include "collector_config.h"
#include "log.h"
#include "metrics.h"

#define CT_JSON "application/json"

/* Seconds: a review is CPU only (a pod's JSON, microseconds), its body's upload is the rest. */
static const double latency_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
					 0.05,	 0.1,	0.25,	0.5,   1,    2.5 };

/* One reason's warnings: logged once per WEBHOOK_LOG_PERIOD_NS, the rest counted. */
struct log_slot {
	uint64_t last_ns;
	uint64_t suppressed;
};

struct webhook {
	struct admin *admin;
	const struct collector_config *cfg; /* borrowed: the config in force (live keys) */
	uint64_t reviews[ADMISSION_REASON__COUNT];
	struct metrics_histogram latency;
	struct log_slot logged[ADMISSION_REASON__COUNT];
};

/*
 * Errors, and the skips that carry a warning, are logged: once per reason
 * per minute, with how many more there were since.  The rest (injected,
 * opted out, host network ...) are counted, and said at debug level.
 */
static void note(struct webhook *w, const struct admission_result *r, uint64_t now)
{
	struct log_slot *s = &w->logged[r->reason];
	const char *what = admission_outcome_name(admission_reason_outcome(r->reason));

	if (!r->warning[0] && admission_reason_outcome(r->reason) != ADMISSION_OUTCOME_ERROR) {
		pr_debug("webhook: %s: %s (%s)", r->subject[0] ? r->subject : "?", what,
			 admission_reason_name(r->reason));
		return;
	}
	if (s->last_ns && now - s->last_ns < WEBHOOK_LOG_PERIOD_NS) {
		s->suppressed++;
		return;
	}
	if (s->suppressed)
		pr_warn("webhook: %s (%s): %s [and %llu more in the last minute]",
			r->subject[0] ? r->subject : "?", admission_reason_name(r->reason),
			r->warning[0] ? r->warning : what, (unsigned long long)s->suppressed);
	else
		pr_warn("webhook: %s (%s): %s", r->subject[0] ? r->subject : "?",
			admission_reason_name(r->reason), r->warning[0] ? r->warning : what);
	s->last_ns = now;
	s->suppressed = 0;
}

/* admin's POST route: one AdmissionReview, whole. */
static void on_review(void *ctx, const struct admin_post *req, struct admin_reply *reply)
{
	struct webhook *w = ctx;
	struct admission_opts o;
	struct admission_result r;
	uint64_t now;
	int err;

	collector_inject_opts(w->cfg, &o);
	err = admission_review(req->body, req->len, &o, &r);
	now = clock_mono_ns();
	w->reviews[r.reason]++;
	note(w, &r, now);
	if (err) {
		/* not even an answer: the API server's failurePolicy decides */
		reply->status = 500;
		reply->body = strdup("out of memory\n");
		reply->len = reply->body ? strlen(reply->body) : 0;
	} else {
		reply->status = 200;
		reply->content_type = CT_JSON;
		reply->body = r.response; /* admin's now */
		reply->len = r.response_len;
		r.response = NULL;
	}
	admission_result_free(&r);
	metrics_histogram_observe(&w->latency, now - req->started_ns);
}

struct webhook *webhook__new(const struct collector_config *cfg, char *why, size_t whylen)
{
	struct webhook *w = calloc(1, sizeof(*w));
	struct admin_callbacks cb = {
		.post_path = WEBHOOK_PATH,
		.post = on_review,
		.no_probes = true, /* the probes are on the admin port */
	};
	int err;

	if (!w) {
		snprintf(why, whylen, "webhook: out of memory");
		return NULL;
	}
	w->cfg = cfg;
	metrics_histogram_init(&w->latency, latency_bounds,
			       sizeof(latency_bounds) / sizeof(latency_bounds[0]));
	cb.post_max_body = (size_t)cfg->webhook_max_body;
	cb.tls_cert_file = cfg->webhook_cert;
	cb.tls_key_file = cfg->webhook_key;
	cb.ctx = w;
	w->admin = admin__new(cfg->webhook_listen, &cb, why, whylen);
	if (!w->admin) {
		char tmp[1024];

		err = errno;
		/* admin's lines start "admin: " or with the address: say which listener */
		snprintf(tmp, sizeof(tmp), "%s", why);
		snprintf(why, whylen, "webhook.listen: %s",
			 strncmp(tmp, "admin: ", 7) == 0 ? tmp + 7 : tmp);
		free(w);
		errno = err;
		return NULL;
	}
	return w;
}

void webhook__free(struct webhook *w)
{
	if (!w)
		return;
	admin__free(w->admin);
	free(w);
}

struct admin *webhook__admin(struct webhook *w)
{
	return w->admin;
}

void webhook__metrics(const struct webhook *w, struct metrics_writer *mw)
{
	struct admin_stats st;

	admin__stats(w->admin, &st);
	metrics_writer__family(mw, "podflow_collector_webhook_reviews_total", METRIC_COUNTER,
			       "AdmissionReviews answered, by outcome and reason (every one "
			       "allowed the pod; only injected ones carry a patch).");
	for (int i = 0; i < ADMISSION_REASON__COUNT; i++)
		metrics_writer__u64(
		    mw,
		    METRIC_LABELS(
			"outcome",
			admission_outcome_name(admission_reason_outcome((enum admission_reason)i)),
			"reason", admission_reason_name((enum admission_reason)i)),
		    w->reviews[i]);
	metrics_writer__family(mw, "podflow_collector_webhook_latency_seconds", METRIC_HISTOGRAM,
			       "From a review's request head to its answer: its body's upload "
			       "and the decision.");
	metrics_writer__histogram(mw, NULL, &w->latency);
	metrics_writer__counter(mw, "podflow_collector_webhook_requests_too_large_total",
				"Requests refused for a body over webhook.max_body (413), or while "
				"the bodies being read already hold their budget (503).",
				st.post_too_large);
	metrics_writer__family(mw, "podflow_collector_webhook_tls_reloads_total", METRIC_COUNTER,
			       "Webhook certificate reloads, by result (a refused pair keeps the "
			       "previous one in force).");
	metrics_writer__u64(mw, METRIC_LABELS("result", "success"), st.tls_reloads_ok);
	metrics_writer__u64(mw, METRIC_LABELS("result", "failure"), st.tls_reloads_bad);
}
