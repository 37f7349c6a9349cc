// SPDX-License-Identifier: BSD-2-Clause
/* The Kafka attribution topics' messages: IP events and shared ranges, parsed and encoded. */
#define _GNU_SOURCE
#include "ip_event.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ip.h"
#include "jsonw.h"
#include "log.h"
#include "ownership.h"

_Static_assert(IP_EVENT_STRING_MAX == OWN_STRING_MAX, "identity strings: one limit for both");

const char *ip_event_bad_name(enum ip_event_bad b)
{
	static const char *const names[IP_EVENT_BAD__COUNT] = {
		"ok",	  "not_json", "missing_field", "invalid_field",
		"bad_ip", "ts_range", "key_mismatch",
	};

	return (unsigned int)b < IP_EVENT_BAD__COUNT ? names[b] : "?";
}

static const char *const ident_keys[8] = {
	"app", "namespace", "pod", "workload", "node", "account", "region", "zone",
};

static const char **ident_field(struct flow_identity *id, int i)
{
	const char **fields[8] = {
		&id->app,  &id->namespace, &id->pod,	&id->workload,
		&id->node, &id->account,   &id->region, &id->zone,
	};

	return fields[i];
}

static const char *ident_get(const struct flow_identity *id, int i)
{
	const char *v = *ident_field((struct flow_identity *)id, i);

	return v ? v : "";
}

__attribute__((format(printf, 4, 5))) static enum ip_event_bad
bad(enum ip_event_bad why, char *detail, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (detail && len) {
		va_start(ap, fmt);
		vsnprintf(detail, len, fmt, ap);
		va_end(ap);
		/* the detail quotes the message (jansson's text, "ip", the key): keep it one line */
		log_flatten(detail);
	}
	return why;
}

/* The value as a JSON object (*root, to be json_decref'd), or why not. */
static enum ip_event_bad load_object(const void *val, size_t len, json_t **root, char *detail,
				     size_t dlen)
{
	json_error_t jerr;

	*root = NULL;
	if (!val || len == 0)
		return bad(IP_EVENT_BAD_NOT_JSON, detail, dlen, "empty value");
	/* any value and NUL in strings load, so they are refused by name below */
	*root =
	    json_loadb(val, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!*root)
		return bad(IP_EVENT_BAD_NOT_JSON, detail, dlen, "not JSON: %d:%d: %s", jerr.line,
			   jerr.column, jerr.text);
	if (!json_is_object(*root))
		return bad(IP_EVENT_BAD_NOT_JSON, detail, dlen, "not a JSON object");
	return IP_EVENT_OK;
}

static enum ip_event_bad get_ip(json_t *root, uint8_t ip[16], char *detail, size_t dlen)
{
	json_t *v = json_object_get(root, "ip");

	if (!v)
		return bad(IP_EVENT_BAD_MISSING_FIELD, detail, dlen, "no \"ip\"");
	if (!json_is_string(v))
		return bad(IP_EVENT_BAD_INVALID_FIELD, detail, dlen, "\"ip\" is not a string");
	if (ip_parse(json_string_value(v), json_string_length(v), ip) < 0)
		return bad(IP_EVENT_BAD_IP, detail, dlen, "\"ip\" is not an address: \"%.64s\"",
			   json_string_value(v));
	return IP_EVENT_OK;
}

static enum ip_event_bad get_ms(json_t *root, const char *key, int64_t *out, char *detail,
				size_t dlen)
{
	json_t *v = json_object_get(root, key);

	if (!v)
		return bad(IP_EVENT_BAD_MISSING_FIELD, detail, dlen, "no \"%s\"", key);
	if (!json_is_integer(v))
		return bad(IP_EVENT_BAD_INVALID_FIELD, detail, dlen, "\"%s\" is not an integer",
			   key);
	*out = (int64_t)json_integer_value(v);
	return IP_EVENT_OK;
}

static enum ip_event_bad check_ms(const char *key, int64_t t, int64_t now_ms, char *detail,
				  size_t dlen)
{
	if (t < IP_EVENT_TS_MIN_MS || t > now_ms + IP_EVENT_TS_FUTURE_MS)
		return bad(IP_EVENT_BAD_TS, detail, dlen,
			   "\"%s\" %" PRId64 " is before 2000 or after now + 1 h", key, t);
	return IP_EVENT_OK;
}

/* An optional string into buf: absent -> "". */
static enum ip_event_bad get_str(json_t *root, const char *key, char *buf, const char **out,
				 char *detail, size_t dlen)
{
	json_t *v = json_object_get(root, key);
	size_t n;

	*out = buf;
	buf[0] = '\0';
	if (!v)
		return IP_EVENT_OK;
	if (!json_is_string(v))
		return bad(IP_EVENT_BAD_INVALID_FIELD, detail, dlen, "\"%s\" is not a string", key);
	n = json_string_length(v);
	if (n > IP_EVENT_STRING_MAX)
		return bad(IP_EVENT_BAD_INVALID_FIELD, detail, dlen,
			   "\"%s\" is longer than %d bytes", key, IP_EVENT_STRING_MAX);
	if (memchr(json_string_value(v), '\0', n))
		return bad(IP_EVENT_BAD_INVALID_FIELD, detail, dlen, "\"%s\" holds a NUL", key);
	memcpy(buf, json_string_value(v), n + 1);
	return IP_EVENT_OK;
}

/* The eight identity fields; fails unless at least one is set. */
static enum ip_event_bad get_ident(json_t *root, struct flow_identity *id,
				   char (*strings)[IP_EVENT_STRING_MAX + 1], bool required,
				   char *detail, size_t dlen)
{
	enum ip_event_bad b;
	bool any = false;

	for (int i = 0; i < 8; i++) {
		b = get_str(root, ident_keys[i], strings[i], ident_field(id, i), detail, dlen);
		if (b != IP_EVENT_OK)
			return b;
		any |= strings[i][0] != '\0';
	}
	if (required && !any)
		return bad(IP_EVENT_BAD_MISSING_FIELD, detail, dlen, "no identity field");
	return IP_EVENT_OK;
}

/* Messages are keyed by the address's text: a key naming another address is a producer bug. */
static enum ip_event_bad check_key(const void *key, size_t key_len, const uint8_t ip[16],
				   char *detail, size_t dlen)
{
	uint8_t k[16];

	if (!key || key_len == 0)
		return IP_EVENT_OK;
	if (ip_parse(key, key_len, k) < 0 || memcmp(k, ip, 16) != 0)
		return bad(IP_EVENT_BAD_KEY, detail, dlen, "key \"%.*s\" is not \"ip\"",
			   (int)(key_len > 64 ? 64 : key_len), (const char *)key);
	return IP_EVENT_OK;
}

enum ip_event_bad ip_event_parse(const void *val, size_t len, const void *key, size_t key_len,
				 int64_t now_ms, struct ip_event *out, char *detail,
				 size_t detail_len)
{
	enum ip_event_bad b;
	json_t *root, *ev;
	const char *s;

	if (detail && detail_len)
		detail[0] = '\0';
	b = load_object(val, len, &root, detail, detail_len);
	if (b != IP_EVENT_OK)
		goto cleanup;
	b = get_ip(root, out->ip, detail, detail_len);
	if (b != IP_EVENT_OK)
		goto cleanup;
	ev = json_object_get(root, "event");
	if (!ev) {
		b = bad(IP_EVENT_BAD_MISSING_FIELD, detail, detail_len, "no \"event\"");
		goto cleanup;
	}
	s = json_string_value(ev);
	if (s && strcmp(s, "assign") == 0 && json_string_length(ev) == 6) {
		out->assign = true;
	} else if (s && strcmp(s, "unassign") == 0 && json_string_length(ev) == 8) {
		out->assign = false;
	} else {
		b = bad(IP_EVENT_BAD_INVALID_FIELD, detail, detail_len,
			"\"event\" is not \"assign\" or \"unassign\"");
		goto cleanup;
	}
	b = get_ms(root, "ts_ms", &out->ts_ms, detail, detail_len);
	if (b == IP_EVENT_OK)
		b = check_ms("ts_ms", out->ts_ms, now_ms, detail, detail_len);
	if (b != IP_EVENT_OK)
		goto cleanup;
	/* an unassign without identity means "whoever holds it" */
	b = get_ident(root, &out->id, out->strings, out->assign, detail, detail_len);
	if (b != IP_EVENT_OK)
		goto cleanup;
	b = check_key(key, key_len, out->ip, detail, detail_len);
cleanup:
	json_decref(root);
	return b;
}

enum ip_event_bad ip_event_parse_span(const void *val, size_t len, const void *key, size_t key_len,
				      int64_t now_ms, struct ip_event_span *out, char *detail,
				      size_t detail_len)
{
	enum ip_event_bad b;
	json_t *root;

	if (detail && detail_len)
		detail[0] = '\0';
	b = load_object(val, len, &root, detail, detail_len);
	if (b != IP_EVENT_OK)
		goto cleanup;
	b = get_ip(root, out->ip, detail, detail_len);
	if (b == IP_EVENT_OK)
		b = get_ms(root, "from_ms", &out->from_ms, detail, detail_len);
	if (b == IP_EVENT_OK)
		b = get_ms(root, "to_ms", &out->to_ms, detail, detail_len);
	if (b == IP_EVENT_OK)
		b = check_ms("from_ms", out->from_ms, now_ms, detail, detail_len);
	if (b == IP_EVENT_OK)
		b = check_ms("to_ms", out->to_ms, now_ms, detail, detail_len);
	if (b != IP_EVENT_OK)
		goto cleanup;
	if (out->from_ms >= out->to_ms) {
		b = bad(IP_EVENT_BAD_TS, detail, detail_len, "\"from_ms\" is not before \"to_ms\"");
		goto cleanup;
	}
	if (!json_object_get(root, "origin")) {
		b = bad(IP_EVENT_BAD_MISSING_FIELD, detail, detail_len, "no \"origin\"");
		goto cleanup;
	}
	b = get_str(root, "origin", out->strings[8], &out->origin, detail, detail_len);
	if (b == IP_EVENT_OK && out->origin[0] == '\0')
		b = bad(IP_EVENT_BAD_INVALID_FIELD, detail, detail_len, "\"origin\" is empty");
	if (b != IP_EVENT_OK)
		goto cleanup;
	b = get_ident(root, &out->id, out->strings, true, detail, detail_len);
	if (b != IP_EVENT_OK)
		goto cleanup;
	b = check_key(key, key_len, out->ip, detail, detail_len);
cleanup:
	json_decref(root);
	return b;
}

static bool str_ok(const char *s, bool empty_ok)
{
	size_t n = s ? strlen(s) : 0;

	return n <= IP_EVENT_STRING_MAX && (empty_ok || n > 0);
}

int ip_event_encode_span(struct jsonw *jw, const uint8_t ip[16], const struct flow_identity *id,
			 int64_t from_ms, int64_t to_ms, const char *origin)
{
	char text[IP_TEXT_MAX];
	bool any = false;

	if (!id || from_ms < 0 || from_ms >= to_ms || !str_ok(origin, false))
		return -EINVAL;
	for (int i = 0; i < 8; i++) {
		if (!str_ok(ident_get(id, i), true))
			return -EINVAL;
		any |= ident_get(id, i)[0] != '\0';
	}
	if (!any)
		return -EINVAL;
	jsonw__obj_begin(jw);
	jsonw__kv_str(jw, "ip", ip_format(ip, text, sizeof(text)));
	jsonw__kv_i64(jw, "from_ms", from_ms);
	jsonw__kv_i64(jw, "to_ms", to_ms);
	for (int i = 0; i < 8; i++) {
		if (ident_get(id, i)[0])
			jsonw__kv_str(jw, ident_keys[i], ident_get(id, i));
	}
	jsonw__kv_str(jw, "origin", origin);
	jsonw__obj_end(jw);
	return jsonw__error(jw);
}
