/* SPDX-License-Identifier: BSD-2-Clause */
/* The injection webhook's server: POST /mutate over HTTPS on the collector's main thread. */
#ifndef PODFLOW_WEBHOOK_H
#define PODFLOW_WEBHOOK_H

#include <stddef.h>

struct admin;
struct collector_config;
struct metrics_writer;

#define WEBHOOK_PATH "/mutate"
/* A reason's warning is logged at most once per this (the rest are counted, then summed up). */
#define WEBHOOK_LOG_PERIOD_NS (60ULL * 1000 * 1000 * 1000)

/*
 * lib/admin.c serves it (its accept queue, deadlines and caps, TLS with
 * the certificate re-read on change, the body limit), on webhook.listen
 * with webhook.cert_file and webhook.key_file; admission.c decides.  Every
 * review is answered 200 with allowed: true (a patch when injected), but a
 * body over webhook.max_body (413).  `cfg` is borrowed and read at every
 * review, so the inject.* keys a reload changes apply to the next review:
 * both run on the owner's thread (collector/main.c's loop), never at once.
 */
struct webhook;

/* NULL with errno set and one line in `why` (address, certificate). */
struct webhook *webhook__new(const struct collector_config *cfg, char *why, size_t whylen);
void webhook__free(struct webhook *w);

/* Its listener, for the owner's loop: admin__fd(), admin__timeout_ms(), admin__run(). */
struct admin *webhook__admin(struct webhook *w);

/* podflow_collector_webhook_*: reviews by outcome and reason, latency, refusals, TLS reloads. */
void webhook__metrics(const struct webhook *w, struct metrics_writer *mw);

#endif /* PODFLOW_WEBHOOK_H */
