// SPDX-License-Identifier: BSD-2-Clause
/* What every report says in its header, on either transport: sender, sequence, heartbeat, drops. */
#define _GNU_SOURCE
#include "report_header.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "podips.h"

struct report_header {
	const struct flow_identity *sender;
	report_drops_fn drops_fn;
	void *drops_ctx;
	uint64_t sender_id;
	uint64_t seq;
	uint64_t span_start_ms;
	uint64_t drops_last[WIRE_DROP__COUNT];
	bool claim_ips;		 /* report_header__set_claim */
	uint64_t claim_until_ms; /* UINT64_MAX: up to each report */
	bool logged_pod_ips;
	/* read by the admin endpoint, __atomic */
	struct report_header_stats st;
};

/*
 * The pod's IPs for a heartbeat (read each time: the interfaces of the
 * fallback can change).  What is left out is said once (the environment
 * does not change while we run) and kept in the stats, whose last values
 * are gauges.
 */
static uint32_t heartbeat_ips(struct report_header *rh, uint8_t (*ips)[16])
{
	struct pod_ips_dropped dropped;
	char why[256];
	int n = pod_ips(getenv, ips, WIRE_MAX_IPS, &dropped, why, sizeof(why));

	if (why[0] && !rh->logged_pod_ips) {
		rh->logged_pod_ips = true;
		pr_warn("%s (podflow_sidecar_pod_ips_ignored)", why);
	}
	__atomic_store_n(&rh->st.pod_ips_over_limit, dropped.over_limit, __ATOMIC_RELAXED);
	__atomic_store_n(&rh->st.pod_ips_malformed, dropped.malformed, __ATOMIC_RELAXED);
	return n > 0 ? (uint32_t)n : 0;
}

struct report_header *report_header__new(const struct flow_identity *sender,
					 report_drops_fn drops_fn, void *drops_ctx)
{
	struct report_header *rh = calloc(1, sizeof(*rh));
	uint8_t ips[WIRE_MAX_IPS][16];

	if (!rh)
		return NULL;
	rh->sender = sender;
	rh->drops_fn = drops_fn;
	rh->drops_ctx = drops_ctx;
	if (getrandom(&rh->sender_id, sizeof(rh->sender_id), 0) != sizeof(rh->sender_id))
		rh->sender_id = clock_mono_ns() ^ ((uint64_t)getpid() << 32);
	rh->span_start_ms = (uint64_t)clock_wall_ms();
	rh->claim_ips = true;
	rh->claim_until_ms = UINT64_MAX;
	/* what POD_IPS leaves out is said at start, not one interval later */
	heartbeat_ips(rh, ips);
	return rh;
}

void report_header__free(struct report_header *rh)
{
	free(rh);
}

void report_header__set_claim(struct report_header *rh, bool claim, uint64_t until_ms)
{
	rh->claim_ips = claim;
	rh->claim_until_ms = until_ms;
}

void report_header__next(struct report_header *rh, struct wire_header *h, uint8_t (*ips)[16])
{
	uint64_t cumul[WIRE_DROP__COUNT] = { 0 };

	memset(h, 0, sizeof(*h));
	h->sender_id = rh->sender_id;
	h->seq = ++rh->seq;
	h->sender = *rh->sender;
	h->span_start_ms = rh->span_start_ms;
	h->span_end_ms = (uint64_t)clock_wall_ms();
	h->n_ips = heartbeat_ips(rh, ips);
	if (!rh->claim_ips)
		h->n_ips = 0; /* blind: this span claims nothing */
	else if (h->span_end_ms > rh->claim_until_ms)
		h->span_end_ms = rh->claim_until_ms; /* never past what the caller vouched for */
	if (h->span_end_ms < h->span_start_ms)
		h->span_end_ms = h->span_start_ms; /* the wall clock stepped back */
	__atomic_store_n(&rh->st.heartbeat_ips, h->n_ips, __ATOMIC_RELAXED);
	h->ips = (const uint8_t(*)[16])ips;
	if (rh->drops_fn)
		rh->drops_fn(rh->drops_ctx, cumul);
	for (int i = 0; i < WIRE_DROP__COUNT; i++) {
		h->drops[i] = cumul[i] - rh->drops_last[i];
		rh->drops_last[i] = cumul[i];
	}
	rh->span_start_ms = h->span_end_ms;
}

uint64_t report_header__sender_id(const struct report_header *rh)
{
	return rh->sender_id;
}

uint64_t report_header__send_offset_ns(struct report_header *rh, uint64_t spread_ns)
{
	/* splitmix64's finalizer: the id's bits, all mixed into the low ones */
	uint64_t z = rh->sender_id + 0x9e3779b97f4a7c15ULL, off = 0;

	if (spread_ns) {
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		off = (z ^ (z >> 31)) % spread_ns;
	}
	__atomic_store_n(&rh->st.send_offset_ns, off, __ATOMIC_RELAXED);
	return off;
}

void report_header__stats(const struct report_header *rh, struct report_header_stats *out)
{
	out->heartbeat_ips = __atomic_load_n(&rh->st.heartbeat_ips, __ATOMIC_RELAXED);
	out->pod_ips_over_limit = __atomic_load_n(&rh->st.pod_ips_over_limit, __ATOMIC_RELAXED);
	out->send_offset_ns = __atomic_load_n(&rh->st.send_offset_ns, __ATOMIC_RELAXED);
	out->pod_ips_malformed = __atomic_load_n(&rh->st.pod_ips_malformed, __ATOMIC_RELAXED);
}
