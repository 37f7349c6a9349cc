/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * One attributed record as the collector writes it (flow_record_json: a line
 * of the flow files, one Kafka message; docs/schema.md) read back into the
 * insight view's struct insight_flow: the insight view's sources other than
 * the in-process tap (insight_rebuild.h, insight_kafka.h) read with it.
 */
#ifndef PODFLOW_COLLECTOR_INSIGHT_RECORD_H
#define PODFLOW_COLLECTOR_INSIGHT_RECORD_H

#include <stddef.h>

#include "insight.h"

struct json_t;

/* The longest record text insight_record_parse_text takes (a line, a message). */
#define INSIGHT_RECORD_MAX_TEXT (1u << 20)

/*
 * Fills *f from one record object.  `end_ms` and `direction` ("out" or
 * "in") are required; every other field the view uses may be absent (0,
 * "", the all-zero address), but when present must have the schema's type
 * and fit the view's field: integers >= 0 (ports to 65535, counts and
 * srtt_us to 2^32 - 1), remote_ip an address ip_parse() takes, error a name
 * flow_err_name() writes ("" for none).  Fields the view does not use are
 * not looked at.  Strings point into `o`, which the caller keeps until it
 * is done with *f.
 *
 * 0, or -EINVAL with one line in `why` naming the field ("flows: expected
 * an integer from 0 to 4294967295"); *f is then unspecified.
 */
int insight_record_parse(const struct json_t *o, struct insight_flow *f, char *why, size_t len);

/*
 * The same from text (`n` bytes, no NUL needed; at most
 * INSIGHT_RECORD_MAX_TEXT): on success *root is the parsed object the
 * strings of *f point into, which the caller json_decref()s after use.  On
 * failure *root is NULL and -EINVAL says why (invalid JSON, with jansson's
 * reason and column, or a field as above).
 */
int insight_record_parse_text(const char *text, size_t n, struct json_t **root,
			      struct insight_flow *f, char *why, size_t len);

#endif /* PODFLOW_COLLECTOR_INSIGHT_RECORD_H */
