// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer target for insight_record: no record text crashes it or breaks a promise. */
/*
 * An input is one record's text (a line of the flow files, one Kafka
 * message).  A refusal must be -EINVAL with one non-empty line naming why.
 * An accepted record must hold what insight_record.h promises: every string
 * is a C string of the parsed object, the direction is out or in, the error
 * class is in range.  It is then written again as the collector writes it
 * (flow_record_json) and read again: the same values must come back.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "flow.h"
#include "insight.h"
#include "insight_record.h"
#include "jsonw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct insight_flow f, g;
	struct flow_identity l, rm;
	struct flow_record r;
	json_t *root = NULL, *root2 = NULL;
	char why[160] = "", why2[160] = "";
	struct jsonw *jw;
	const char *text;
	size_t len;
	int err;

	err = insight_record_parse_text((const char *)data, size, &root, &f, why, sizeof(why));
	if (err) {
		CHECK(err == -EINVAL && !root && why[0] && !strchr(why, '\n'));
		return 0;
	}
	CHECK(root && json_is_object(root));
	CHECK(f.direction == FLOW_DIRECTION_OUT || f.direction == FLOW_DIRECTION_IN);
	CHECK((unsigned int)f.error < INSIGHT_ERROR__COUNT);
	CHECK(f.end_ms <= (uint64_t)INT64_MAX && f.bytes_sent <= (uint64_t)INT64_MAX);
	CHECK(f.local.app && f.local.namespace && f.local.pod && f.local.workload);
	CHECK(f.remote.app && f.remote.namespace && f.remote.pod && f.remote.workload);

	/* written again as the collector writes it, and read again */
	memset(&r, 0, sizeof(r));
	l = f.local;
	rm = f.remote;
	r.end_ms = f.end_ms;
	r.direction = f.direction;
	r.local_port = f.local_port;
	r.remote_port = f.remote_port;
	memcpy(r.remote_addr, f.remote_addr, 16);
	r.flows = f.flows;
	r.closed = f.closed;
	r.failed = f.failed;
	r.bytes_sent = f.bytes_sent;
	r.bytes_received = f.bytes_received;
	r.segs_sent = f.segs_sent;
	r.retransmits = f.retransmits;
	r.resets = f.resets;
	r.srtt_us = f.srtt_us;
	r.local = &l;
	r.remote = &rm;
	jw = jsonw__new();
	CHECK(jw);
	flow_record_json(&r, jw);
	text = jsonw__data(jw, &len);
	err = insight_record_parse_text(text, len, &root2, &g, why2, sizeof(why2));
	if (err)
		fprintf(stderr, "fuzz_insight_record: re-read: %s\n", why2);
	CHECK(err == 0);
	CHECK(g.end_ms == f.end_ms && g.direction == f.direction);
	CHECK(g.local_port == f.local_port && g.remote_port == f.remote_port);
	CHECK(memcmp(g.remote_addr, f.remote_addr, 16) == 0);
	CHECK(g.flows == f.flows && g.closed == f.closed && g.failed == f.failed);
	CHECK(g.bytes_sent == f.bytes_sent);
	CHECK(g.bytes_received == f.bytes_received && g.segs_sent == f.segs_sent);
	CHECK(g.retransmits == f.retransmits && g.resets == f.resets && g.srtt_us == f.srtt_us);
	CHECK(strcmp(g.local.app, f.local.app) == 0 && strcmp(g.remote.app, f.remote.app) == 0);
	CHECK(strcmp(g.local.namespace, f.local.namespace) == 0);
	CHECK(strcmp(g.remote.workload, f.remote.workload) == 0);
	CHECK(g.error == INSIGHT_ERROR_NONE);
	json_decref(root2);
	jsonw__free(jw);
	json_decref(root);
	return 0;
}
