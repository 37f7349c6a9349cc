// SPDX-License-Identifier: BSD-2-Clause
/* The collector's counters: per-worker sets, their sum and the stats line. */
#include "stats.h"

#include <stdio.h>

static const int status_codes[STATS__COUNT] = {
	[STATS_204] = 204, [STATS_400] = 400, [STATS_401] = 401, [STATS_404] = 404,
	[STATS_405] = 405, [STATS_408] = 408, [STATS_413] = 413, [STATS_415] = 415,
	[STATS_429] = 429, [STATS_431] = 431, [STATS_503] = 503, [STATS_OTHER] = 0,
};

enum stats_status stats_status_index(int status)
{
	for (int i = 0; i < STATS_OTHER; i++)
		if (status_codes[i] == status)
			return (enum stats_status)i;
	return STATS_OTHER;
}

const char *stats_status_name(enum stats_status s)
{
	static const char *const names[STATS__COUNT] = {
		"204", "400", "401", "404", "405", "408",
		"413", "415", "429", "431", "503", "other",
	};

	return s < STATS__COUNT ? names[s] : "other";
}

const char *stats_record_reject_name(enum stats_record_reject r)
{
	static const char *const names[STATS_REC__COUNT] = { "end_before_start", "future",
							     "too_old" };

	return r < STATS_REC__COUNT ? names[r] : "unknown";
}

const char *stats_refusal_name(enum stats_refusal r)
{
	static const char *const names[STATS_REFUSED__COUNT] = {
		"header_list_too_large", "authorization_too_long", "token_missing",
		"token_wrong",		 "body_too_large",	   "decoded_too_large",
		"too_many_records",
	};

	return r < STATS_REFUSED__COUNT ? names[r] : "unknown";
}

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void stats_sum(struct stats *dst, const struct stats *src)
{
	/* every field is a uint64_t: sum them as an array */
	const uint64_t *s = (const uint64_t *)src;
	uint64_t *d = (uint64_t *)dst;

	_Static_assert(sizeof(struct stats) % sizeof(uint64_t) == 0, "stats: u64 fields only");
	for (size_t i = 0; i < sizeof(struct stats) / sizeof(uint64_t); i++)
		d[i] += load(&s[i]);
}

char *stats_format(const struct stats *s, char *buf, size_t len)
{
	size_t off = 0;
	int n;

#define APPEND(...)                                                              \
	do {                                                                     \
		n = snprintf(buf + off, off < len ? len - off : 0, __VA_ARGS__); \
		if (n > 0)                                                       \
			off += (size_t)n;                                        \
	} while (0)

	if (len)
		buf[0] = '\0';
	APPEND("conns_accepted=%llu conns_refused=%llu conns_refused_per_peer=%llu "
	       "conns_protocol_errors=%llu "
	       "conns_tls_failures=%llu conns_handshake_timeouts=%llu conns_idle_closed=%llu "
	       "conns_write_stalled=%llu conns_aborted_at_exit=%llu",
	       (unsigned long long)s->conns_accepted, (unsigned long long)s->conns_refused,
	       (unsigned long long)s->conns_refused_per_peer,
	       (unsigned long long)s->conns_protocol_errors,
	       (unsigned long long)s->conns_tls_failures,
	       (unsigned long long)s->conns_handshake_timeouts,
	       (unsigned long long)s->conns_idle_closed, (unsigned long long)s->conns_write_stalled,
	       (unsigned long long)s->conns_aborted_at_exit);
	for (int i = 0; i < STATS__COUNT; i++)
		APPEND(" requests_%s=%llu", stats_status_name((enum stats_status)i),
		       (unsigned long long)s->requests[i]);
	APPEND(
	    " streams_reset=%llu streams_rst_sent=%llu batches=%llu records=%llu bytes_in=%llu bytes_decoded=%llu "
	    "bytes_out=%llu write_errors=%llu",
	    (unsigned long long)s->streams_reset, (unsigned long long)s->streams_rst_sent,
	    (unsigned long long)s->batches, (unsigned long long)s->records,
	    (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_decoded,
	    (unsigned long long)s->bytes_out, (unsigned long long)s->write_errors);
	APPEND(" heartbeats_late=%llu", (unsigned long long)s->heartbeats_late);
	for (int i = 0; i < WIRE_DROP__COUNT; i++)
		APPEND(" sender_drops_%s=%llu", wire_drop_name((enum wire_drop)i),
		       (unsigned long long)s->drops[i]);
	for (int i = 0; i < STATS_REC__COUNT; i++)
		APPEND(" records_rejected_%s=%llu",
		       stats_record_reject_name((enum stats_record_reject)i),
		       (unsigned long long)s->records_rejected[i]);
	for (int i = 0; i < STATS_REFUSED__COUNT; i++)
		APPEND(" refused_%s=%llu", stats_refusal_name((enum stats_refusal)i),
		       (unsigned long long)s->refused[i]);
#undef APPEND
	return buf;
}
