// SPDX-License-Identifier: BSD-2-Clause
/* Prints one flow record exactly as the collector formats it, for scripts/schema-check.sh. */
/*
 * record-fields
 *
 * Writes one JSON line: a fully populated record (both identities, a
 * container, a failure) passed through flow_record_json(), the one
 * function the collector's sinks format records with.  The schema check
 * reads the keys and JSON types from it, so the field list it compares
 * docs/schema.md against is the collector's own, never a copy.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "flow.h"
#include "jsonw.h"

int main(int argc, char **argv)
{
	static const struct flow_identity local = {
		.app = "checkout",
		.namespace = "shop",
		.pod = "checkout-7d9f8b6c5-x2x9k",
		.node = "node-a",
		.workload = "checkout",
	};
	static const struct flow_identity remote = {
		.app = "payments",
		.namespace = "shop",
		.pod = "payments-0",
		.workload = "payments",
	};
	struct flow_record r = {
		.start_ms = 1700000000000,
		.end_ms = 1700000010000,
		.bytes_sent = 4096,
		.bytes_received = 512,
		.segs_sent = 9,
		.segs_received = 7,
		.cgroup_id = 4242,
		.flows = 2,
		.closed = 1,
		.failed = 1,
		.retransmits = 1,
		.resets = 1,
		.srtt_us = 250,
		.min_rtt_us = 180,
		.pid = 1234,
		.local_port = 0, /* aggregated: the ephemeral port */
		.remote_port = 8443,
		.err = ECONNREFUSED,
		.family = 4,
		.direction = FLOW_DIRECTION_OUT,
		.local_addr = { [10] = 0xff, [11] = 0xff, 10, 0, 0, 1 },
		.remote_addr = { [10] = 0xff, [11] = 0xff, 10, 0, 0, 2 },
		.container = "app",
		.local = &local,
		.remote = &remote,
		.remote_source = FLOW_SOURCE_KUBE,
	};
	struct jsonw *jw;
	const char *data;
	size_t len;
	int ret = 1;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: record-fields\n");
		return 2;
	}
	memcpy(r.comm, "checkout", sizeof("checkout"));
	memcpy(r.container_id, "0123456789abcdef", sizeof("0123456789abcdef"));
	jw = jsonw__new();
	if (!jw)
		goto cleanup;
	flow_record_json(&r, jw);
	jsonw__raw_char(jw, '\n');
	if (jsonw__error(jw))
		goto cleanup;
	data = jsonw__data(jw, &len);
	if (fwrite(data, 1, len, stdout) != len || fflush(stdout))
		goto cleanup;
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "record-fields: cannot write the record\n");
	jsonw__free(jw);
	return ret;
}
