// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer target for the Kafka feeds' parsers: no message crashes them or breaks a promise. */
/*
 * An input is one Kafka message: its first byte is the key's length (0: no
 * key; more than is left: the rest), then the key, then the value.  Each
 * input is read as an IP event (ip_event_parse) and as a shared range
 * (ip_event_parse_span), with a fixed "now" so a crash reproduces.
 *
 * A message that is refused must name a reason of enum ip_event_bad and say
 * why in one non-empty line (the feed logs that detail as it is).  A message
 * that is accepted must be what collector/feeds/ip_event.h and
 * docs/ip-events.md promise: every string points into the result's own
 * buffer, is NUL-terminated and at most IP_EVENT_STRING_MAX bytes; the times
 * are within [IP_EVENT_TS_MIN_MS, now + IP_EVENT_TS_FUTURE_MS] (a range's
 * from before its to); an assign or range names somebody; the key, when
 * given, is the same address; and the address survives ip_format then
 * ip_parse.  Then it is written again the way a producer would (a range by
 * ip_event_encode_span, an event by the same jsonw calls in the documented
 * layout), keyed by the address's text, and read again: it must be accepted
 * and give the same values.
 *
 * When the corpus directory it is given (build/fuzz/corpus-fuzz_ip_event
 * under `make fuzz`) is empty, the target writes the documented examples
 * there first, so the fuzzer starts from messages that are accepted.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ip.h"
#include "ip_event.h"
#include "jsonw.h"

#define FUZZ_NOW_MS 1732700000000LL /* 2024-11-27: "now" for every parse */
#define DETAIL_LEN  160		    /* as the feed's own buffer (deliver() in feeds/kafka_feed.c) */

static struct jsonw *jw;
/* large (about 2 KiB each): static rather than on the stack */
static struct ip_event ev, ev2;
static struct ip_event_span sp, sp2;

static const char *const ident_names[8] = {
	"app", "namespace", "pod", "workload", "node", "account", "region", "zone",
};

static const char *ident_at(const struct flow_identity *id, int i)
{
	const char *const fields[8] = {
		id->app,  id->namespace, id->pod,    id->workload,
		id->node, id->account,	 id->region, id->zone,
	};

	return fields[i];
}

/* ---- seeds ---- */

static void write_seed(const char *dir, const char *name, const char *key, const char *val)
{
	size_t kl = key ? strlen(key) : 0;
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return;
	fputc((int)kl, f);
	fwrite(key, 1, kl, f);
	fwrite(val, 1, strlen(val), f);
	fclose(f);
}

/* The examples of docs/ip-events.md and a few more, into `dir` if it is an empty directory. */
static void write_seeds(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *de;

	if (!dp)
		return;
	while ((de = readdir(dp)))
		if (de->d_name[0] != '.')
			break;
	closedir(dp);
	if (de)
		return;
	write_seed(dir, "event-assign", "10.20.30.40",
		   "{\"ip\":\"10.20.30.40\",\"event\":\"assign\",\"ts_ms\":1732699999000,"
		   "\"app\":\"checkout-lb\",\"account\":\"123456789012\",\"region\":\"eu-west-1\","
		   "\"zone\":\"eu-west-1a\"}");
	write_seed(dir, "event-unassign-v6", "2001:0db8:0:0::0001",
		   "{\"ip\":\"2001:db8::1\",\"event\":\"unassign\",\"ts_ms\":1732699999001}");
	write_seed(dir, "event-all-fields", NULL,
		   "{\"ip\":\"::ffff:10.1.2.3\",\"event\":\"assign\",\"ts_ms\":946684800000,"
		   "\"app\":\"lb\",\"namespace\":\"edge\",\"pod\":\"lb-0\",\"workload\":\"lb\","
		   "\"node\":\"n1\",\"account\":\"1234\",\"region\":\"eu\",\"zone\":\"eu-a\","
		   "\"extra\":[1,{\"x\":null}]}");
	write_seed(dir, "span", "10.1.2.3",
		   "{\"ip\":\"10.1.2.3\",\"from_ms\":1732699990000,\"to_ms\":1732699995000,"
		   "\"app\":\"web\",\"namespace\":\"shop\",\"pod\":\"web-1\",\"workload\":\"web\","
		   "\"node\":\"n2\",\"origin\":\"podflow-collector-7c9d5-x2x4q/1\"}");
	write_seed(dir, "span-v6-escapes", "fd00::7",
		   "{\"ip\":\"fd00::7\",\"from_ms\":1732699990000,\"to_ms\":1732703600000,"
		   "\"pod\":\"caf\\u00e9-\\\"1\\\"\",\"zone\":\"\xc3\xa9\",\"origin\":\"r/2\"}");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* the first argument that is not a -flag is the corpus directory */
	for (int i = 1; i < *argc; i++) {
		if ((*argv)[i][0] != '-') {
			write_seeds((*argv)[i]);
			break;
		}
	}
	jw = jsonw__new();
	if (!jw)
		abort();
	return 0;
}

/* ---- invariants ---- */

static void check_refused(enum ip_event_bad b, const char *detail, const char *what)
{
	CHECK(b > IP_EVENT_OK && b < IP_EVENT_BAD__COUNT, "%s: reason %d", what, (int)b);
	CHECK(ip_event_bad_name(b) && ip_event_bad_name(b)[0], "%s: reason %d has no name", what,
	      (int)b);
	CHECK(memchr(detail, '\0', DETAIL_LEN), "%s: detail not NUL-terminated", what);
	CHECK(detail[0], "%s: %s with an empty detail", what, ip_event_bad_name(b));
	CHECK(!strpbrk(detail, "\r\n"), "%s: %s: detail not one line: \"%s\"", what,
	      ip_event_bad_name(b), detail);
}

/* s is one of `strings` (n buffers of IP_EVENT_STRING_MAX + 1), NUL-terminated. */
static void check_string(const char *s, const char (*strings)[IP_EVENT_STRING_MAX + 1], size_t n,
			 const char *what)
{
	const char *lo = strings[0], *hi = strings[n];

	CHECK(s, "%s is NULL", what);
	CHECK(s >= lo && s < hi && (size_t)(s - lo) % (IP_EVENT_STRING_MAX + 1) == 0,
	      "%s does not point to its buffer", what);
	CHECK(memchr(s, '\0', IP_EVENT_STRING_MAX + 1), "%s not NUL-terminated", what);
}

static void check_ident(const struct flow_identity *id,
			const char (*strings)[IP_EVENT_STRING_MAX + 1], bool required)
{
	bool any = false;

	for (int i = 0; i < 8; i++) {
		check_string(ident_at(id, i), strings, 8, ident_names[i]);
		any |= ident_at(id, i)[0] != '\0';
	}
	CHECK(any || !required, "accepted with no identity field");
}

static void check_ts(int64_t t, const char *what)
{
	CHECK(t >= IP_EVENT_TS_MIN_MS && t <= FUZZ_NOW_MS + IP_EVENT_TS_FUTURE_MS,
	      "%s %lld out of range", what, (long long)t);
}

/* The address's text, checked to read back as the same address. */
static const char *check_ip(const uint8_t ip[16], const void *key, size_t key_len, char *text)
{
	uint8_t back[16];

	ip_format(ip, text, IP_TEXT_MAX);
	CHECK(text[0], "an accepted address has no text");
	CHECK(ip_parse(text, strlen(text), back) == 0 && memcmp(back, ip, 16) == 0,
	      "address text \"%s\" does not read back", text);
	if (key && key_len) {
		CHECK(ip_parse(key, key_len, back) == 0 && memcmp(back, ip, 16) == 0,
		      "accepted with key \"%.*s\" for %s", (int)key_len, (const char *)key, text);
	}
	return text;
}

static void same_ident(const struct flow_identity *a, const struct flow_identity *b)
{
	for (int i = 0; i < 8; i++)
		CHECK(strcmp(ident_at(a, i), ident_at(b, i)) == 0, "%s \"%s\" became \"%s\"",
		      ident_names[i], ident_at(a, i), ident_at(b, i));
}

static void event(const uint8_t *val, size_t len, const uint8_t *key, size_t key_len)
{
	char detail[DETAIL_LEN], text[IP_TEXT_MAX];
	enum ip_event_bad b, b2;
	const char *out;
	size_t n;

	b = ip_event_parse(val, len, key, key_len, FUZZ_NOW_MS, &ev, detail, sizeof(detail));
	/* the detail is optional: without it the verdict is the same */
	b2 = ip_event_parse(val, len, key, key_len, FUZZ_NOW_MS, &ev2, NULL, 0);
	CHECK(b2 == b, "event: %s without a detail, %s with one", ip_event_bad_name(b2),
	      ip_event_bad_name(b));
	if (b != IP_EVENT_OK) {
		check_refused(b, detail, "event");
		return;
	}
	CHECK(detail[0] == '\0', "event: accepted with detail \"%s\"", detail);
	check_ts(ev.ts_ms, "ts_ms");
	check_ident(&ev.id, ev.strings, ev.assign);
	check_ip(ev.ip, key, key_len, text);

	/* as a producer writes it (docs/ip-events.md), keyed by the text */
	jsonw__reset(jw);
	jsonw__obj_begin(jw);
	jsonw__kv_str(jw, "ip", text);
	jsonw__kv_str(jw, "event", ev.assign ? "assign" : "unassign");
	jsonw__kv_i64(jw, "ts_ms", ev.ts_ms);
	for (int i = 0; i < 8; i++) {
		if (ident_at(&ev.id, i)[0])
			jsonw__kv_str(jw, ident_names[i], ident_at(&ev.id, i));
	}
	jsonw__obj_end(jw);
	CHECK(jsonw__error(jw) == 0, "event: writing it again failed");
	out = jsonw__data(jw, &n);
	b = ip_event_parse(out, n, text, strlen(text), FUZZ_NOW_MS, &ev2, detail, sizeof(detail));
	CHECK(b == IP_EVENT_OK, "event: written again, %s: %s: %.*s", ip_event_bad_name(b), detail,
	      (int)n, out);
	CHECK(memcmp(ev.ip, ev2.ip, 16) == 0, "event: ip changed");
	CHECK(ev.assign == ev2.assign, "event: assign changed");
	CHECK(ev.ts_ms == ev2.ts_ms, "event: ts_ms %lld became %lld", (long long)ev.ts_ms,
	      (long long)ev2.ts_ms);
	same_ident(&ev.id, &ev2.id);
}

static void span(const uint8_t *val, size_t len, const uint8_t *key, size_t key_len)
{
	char detail[DETAIL_LEN], text[IP_TEXT_MAX];
	enum ip_event_bad b, b2;
	const char *out;
	size_t n;
	int rc;

	b = ip_event_parse_span(val, len, key, key_len, FUZZ_NOW_MS, &sp, detail, sizeof(detail));
	b2 = ip_event_parse_span(val, len, key, key_len, FUZZ_NOW_MS, &sp2, NULL, 0);
	CHECK(b2 == b, "span: %s without a detail, %s with one", ip_event_bad_name(b2),
	      ip_event_bad_name(b));
	if (b != IP_EVENT_OK) {
		check_refused(b, detail, "span");
		return;
	}
	CHECK(detail[0] == '\0', "span: accepted with detail \"%s\"", detail);
	check_ts(sp.from_ms, "from_ms");
	check_ts(sp.to_ms, "to_ms");
	CHECK(sp.from_ms < sp.to_ms, "span: from_ms %lld not before to_ms %lld",
	      (long long)sp.from_ms, (long long)sp.to_ms);
	check_ident(&sp.id, sp.strings, true);
	check_string(sp.origin, sp.strings, 9, "origin");
	CHECK(sp.origin[0], "span: accepted with an empty origin");
	check_ip(sp.ip, key, key_len, text);

	/* what kafka_feed__publish_span would send, read back as another replica would */
	jsonw__reset(jw);
	rc = ip_event_encode_span(jw, sp.ip, &sp.id, sp.from_ms, sp.to_ms, sp.origin);
	CHECK(rc == 0, "span: re-encoding: %d", rc);
	out = jsonw__data(jw, &n);
	b = ip_event_parse_span(out, n, text, strlen(text), FUZZ_NOW_MS, &sp2, detail,
				sizeof(detail));
	CHECK(b == IP_EVENT_OK, "span: re-encoded, %s: %s: %.*s", ip_event_bad_name(b), detail,
	      (int)n, out);
	CHECK(memcmp(sp.ip, sp2.ip, 16) == 0, "span: ip changed");
	CHECK(sp.from_ms == sp2.from_ms && sp.to_ms == sp2.to_ms,
	      "span: [%lld, %lld) became [%lld, %lld)", (long long)sp.from_ms, (long long)sp.to_ms,
	      (long long)sp2.from_ms, (long long)sp2.to_ms);
	CHECK(strcmp(sp.origin, sp2.origin) == 0, "span: origin \"%s\" became \"%s\"", sp.origin,
	      sp2.origin);
	same_ident(&sp.id, &sp2.id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *key = NULL, *val;
	size_t key_len = 0, len;

	if (size == 0)
		return 0;
	key_len = data[0] < size - 1 ? data[0] : size - 1;
	if (key_len)
		key = data + 1;
	val = data + 1 + key_len;
	len = size - 1 - key_len;
	event(val, len, key, key_len);
	span(val, len, key, key_len);
	return 0;
}
