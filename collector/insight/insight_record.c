// SPDX-License-Identifier: BSD-2-Clause
/* Reads one attributed record (flow_record_json's object) into the insight view's struct insight_flow. */
#include "insight_record.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ip.h"
#include "log.h"

/*
 * An integer field in [0, max].  A missing field is 0 unless `required`.
 * jansson keeps integers as json_int_t (long long): text beyond its range
 * is refused by the parser already, so a uint64_t counter above INT64_MAX
 * cannot arrive here (docs/schema.md: every integer is below 2^63).
 */
static int get_uint(const json_t *o, const char *key, uint64_t max, bool required, uint64_t *out,
		    char *why, size_t len)
{
	const json_t *v = json_object_get(o, key);
	json_int_t i;

	*out = 0;
	if (!v) {
		if (!required)
			return 0;
		snprintf(why, len, "%s: missing", key);
		return -EINVAL;
	}
	if (!json_is_integer(v))
		goto bad;
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i > max)
		goto bad;
	*out = (uint64_t)i;
	return 0;
bad:
	snprintf(why, len, "%s: expected an integer from 0 to %" PRIu64, key, max);
	return -EINVAL;
}

/* A string field; a missing one is "" (the view's "unknown"). */
static int get_str(const json_t *o, const char *key, const char **out, char *why, size_t len)
{
	const json_t *v = json_object_get(o, key);

	*out = "";
	if (!v)
		return 0;
	if (!json_is_string(v)) {
		snprintf(why, len, "%s: expected a string", key);
		return -EINVAL;
	}
	*out = json_string_value(v);
	return 0;
}

#define U16 UINT16_MAX
#define U32 UINT32_MAX
#define I64 ((uint64_t)INT64_MAX)

int insight_record_parse(const json_t *o, struct insight_flow *f, char *why, size_t len)
{
	/* the integer fields: where they go and how wide that is */
	const struct {
		const char *key;
		uint64_t max;
		bool required;
		void *dst;
		int size;
	} ints[] = {
		{ "end_ms", I64, true, &f->end_ms, 8 },
		{ "local_port", U16, false, &f->local_port, 2 },
		{ "remote_port", U16, false, &f->remote_port, 2 },
		{ "flows", U32, false, &f->flows, 4 },
		{ "closed", U32, false, &f->closed, 4 },
		{ "failed", U32, false, &f->failed, 4 },
		{ "bytes_sent", I64, false, &f->bytes_sent, 8 },
		{ "bytes_received", I64, false, &f->bytes_received, 8 },
		{ "segs_sent", I64, false, &f->segs_sent, 8 },
		{ "retransmits", U32, false, &f->retransmits, 4 },
		{ "resets", U32, false, &f->resets, 4 },
		{ "srtt_us", U32, false, &f->srtt_us, 4 },
	};
	const struct {
		const char *key;
		const char **dst;
	} strs[] = {
		{ "local_app", &f->local.app },
		{ "local_namespace", &f->local.namespace },
		{ "local_pod", &f->local.pod },
		{ "local_node", &f->local.node },
		{ "local_workload", &f->local.workload },
		{ "remote_app", &f->remote.app },
		{ "remote_namespace", &f->remote.namespace },
		{ "remote_pod", &f->remote.pod },
		{ "remote_workload", &f->remote.workload },
	};
	const char *s;
	uint64_t v;
	int err;

	memset(f, 0, sizeof(*f));
	if (!json_is_object(o)) {
		snprintf(why, len, "record: expected a JSON object");
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		err = get_uint(o, ints[i].key, ints[i].max, ints[i].required, &v, why, len);
		if (err)
			return err;
		/* in range by the check above */
		if (ints[i].size == 8)
			*(uint64_t *)ints[i].dst = v;
		else if (ints[i].size == 4)
			*(uint32_t *)ints[i].dst = (uint32_t)v;
		else
			*(uint16_t *)ints[i].dst = (uint16_t)v;
	}
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		err = get_str(o, strs[i].key, strs[i].dst, why, len);
		if (err)
			return err;
	}

	/* required: which side called decides the edge's direction */
	if (!json_object_get(o, "direction")) {
		snprintf(why, len, "direction: missing");
		return -EINVAL;
	}
	err = get_str(o, "direction", &s, why, len);
	if (err)
		return err;
	if (strcmp(s, "out") == 0) {
		f->direction = FLOW_DIRECTION_OUT;
	} else if (strcmp(s, "in") == 0) {
		f->direction = FLOW_DIRECTION_IN;
	} else {
		snprintf(why, len, "direction: expected \"out\" or \"in\"");
		return -EINVAL;
	}

	err = get_str(o, "remote_ip", &s, why, len);
	if (err)
		return err;
	if (s[0] &&
	    ip_parse(s, json_string_length(json_object_get(o, "remote_ip")), f->remote_addr)) {
		snprintf(why, len, "remote_ip: expected an IPv4 or IPv6 address");
		return -EINVAL;
	}

	err = get_str(o, "error", &s, why, len);
	if (err)
		return err;
	f->error = s[0] ? insight_error_from_name(s) : INSIGHT_ERROR_NONE;
	return 0;
}

int insight_record_parse_text(const char *text, size_t n, json_t **root, struct insight_flow *f,
			      char *why, size_t len)
{
	json_error_t jerr;
	json_t *o;
	int err;

	*root = NULL;
	if (n > INSIGHT_RECORD_MAX_TEXT) {
		snprintf(why, len, "record: longer than %u bytes", INSIGHT_RECORD_MAX_TEXT);
		return -EINVAL;
	}
	/* no JSON_ALLOW_NUL: every string the view borrows is a C string */
	o = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		snprintf(why, len, "record: invalid JSON: %s (column %d)", jerr.text, jerr.column);
		/* jansson quotes the text near the error: one line for the logs */
		log_flatten(why);
		return -EINVAL;
	}
	err = insight_record_parse(o, f, why, len);
	if (err) {
		json_decref(o);
		return err;
	}
	*root = o;
	return 0;
}
