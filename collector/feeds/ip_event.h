/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The messages of the Kafka attribution topics (docs/ip-events.md), read
 * and written: Sonar-style IP events ("address X assigned to / released by
 * owner O at time T") and the heartbeat ranges collector replicas share.
 * Pure: no Kafka, no clock (the caller says what "now" is), so the feed
 * (kafka_feed.c), the unit tests and the fuzzer use the very same code.
 *
 * Addresses are 16 bytes, IPv4 as v4-mapped (::ffff:a.b.c.d); times are
 * Unix milliseconds.
 */
#ifndef PODFLOW_COLLECTOR_IP_EVENT_H
#define PODFLOW_COLLECTOR_IP_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

struct jsonw;

#define IP_EVENT_STRING_MAX   253 /* longest identity or origin string (= OWN_STRING_MAX) */
#define IP_EVENT_TS_MIN_MS    946684800000LL /* 2000-01-01T00:00:00Z: older times are bad */
#define IP_EVENT_TS_FUTURE_MS 3600000LL	     /* clock skew accepted: times up to now + 1 h */

/* Why a message is bad. */
enum ip_event_bad {
	IP_EVENT_OK = 0,
	IP_EVENT_BAD_NOT_JSON,	    /* empty, not JSON, duplicate keys, or not an object */
	IP_EVENT_BAD_MISSING_FIELD, /* a required field absent (or an identity-less assign/span) */
	IP_EVENT_BAD_INVALID_FIELD, /* wrong type, unknown "event", string too long or with NUL */
	IP_EVENT_BAD_IP,	    /* "ip" is not an IPv4 or IPv6 address */
	IP_EVENT_BAD_TS,	    /* a time before 2000, beyond now + 1 h, or from_ms >= to_ms */
	IP_EVENT_BAD_KEY,	    /* the message key is not the same address as "ip" */
	IP_EVENT_BAD__COUNT,
};

/* "ok", "not_json", "missing_field", "invalid_field", "bad_ip", "ts_range", "key_mismatch". */
const char *ip_event_bad_name(enum ip_event_bad b);

/* One IP event.  id's strings point into `strings` (absent fields: ""). */
struct ip_event {
	uint8_t ip[16];
	bool assign; /* else unassign */
	int64_t ts_ms;
	struct flow_identity id;
	char strings[8][IP_EVENT_STRING_MAX + 1];
};

/* One shared range.  id's strings and origin point into `strings` (absent fields: ""). */
struct ip_event_span {
	uint8_t ip[16];
	int64_t from_ms;
	int64_t to_ms;
	struct flow_identity id;
	const char *origin;
	char strings[9][IP_EVENT_STRING_MAX + 1];
};

/*
 * Reads one message of the IP events topic (key may be NULL).  IP_EVENT_OK
 * and *out filled, or the reason it is bad with one line in `detail` (may
 * be NULL).  now_ms bounds how far in the future ts_ms may be.
 */
enum ip_event_bad ip_event_parse(const void *val, size_t len, const void *key, size_t key_len,
				 int64_t now_ms, struct ip_event *out, char *detail,
				 size_t detail_len);

/* The same for one message of the ranges topic. */
enum ip_event_bad ip_event_parse_span(const void *val, size_t len, const void *key, size_t key_len,
				      int64_t now_ms, struct ip_event_span *out, char *detail,
				      size_t detail_len);

/*
 * Appends one ranges-topic message to jw; identity fields that are NULL
 * count as "" (left out).  0, -EINVAL (from_ms < 0, from_ms >= to_ms, no
 * identity field, a string over IP_EVENT_STRING_MAX, an empty or NULL
 * origin; nothing is written then), or jsonw's -ENOMEM.
 */
int ip_event_encode_span(struct jsonw *jw, const uint8_t ip[16], const struct flow_identity *id,
			 int64_t from_ms, int64_t to_ms, const char *origin);

#endif /* PODFLOW_COLLECTOR_IP_EVENT_H */
