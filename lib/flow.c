// SPDX-License-Identifier: BSD-2-Clause
/* The flow record's JSON form: the field names are the stable contract of DESIGN.md. */
#include "flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ip.h"
#include "jsonw.h"

const char *flow_err_name(uint16_t err, char *buf, unsigned long len)
{
	static const struct {
		uint16_t err;
		const char *name;
	} names[] = {
		{ ECONNREFUSED, "ECONNREFUSED" },
		{ ETIMEDOUT, "ETIMEDOUT" },
		{ ECONNRESET, "ECONNRESET" },
		{ EHOSTUNREACH, "EHOSTUNREACH" },
		{ ENETUNREACH, "ENETUNREACH" },
		{ ECONNABORTED, "ECONNABORTED" },
		{ EPIPE, "EPIPE" },
		{ EPROTO, "EPROTO" },
		{ ENETDOWN, "ENETDOWN" },
		{ EHOSTDOWN, "EHOSTDOWN" },
	};

	if (err == 0)
		return "";
	for (unsigned int i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].err == err)
			return names[i].name;
	snprintf(buf, len, "E%u", err);
	return buf;
}

const char *flow_direction_name(uint8_t direction)
{
	return direction == FLOW_DIRECTION_IN ? "in" : "out";
}

const char *flow_source_name(enum flow_source src)
{
	switch (src) {
	case FLOW_SOURCE_HEARTBEAT:
		return "heartbeat";
	case FLOW_SOURCE_KUBE:
		return "kube";
	case FLOW_SOURCE_SONAR:
		return "sonar";
	case FLOW_SOURCE_UNATTRIBUTED:
	case FLOW_SOURCE__COUNT:
		break;
	}
	return "unattributed";
}

void flow_record_json(const struct flow_record *r, struct jsonw *jw)
{
	static const struct flow_identity none = { 0 };
	const struct flow_identity *l = r->local ? r->local : &none;
	const struct flow_identity *rm = r->remote ? r->remote : &none;
	char ip[64], errbuf[16];

	jsonw__obj_begin(jw);
	jsonw__kv_u64(jw, "start_ms", r->start_ms);
	jsonw__kv_u64(jw, "end_ms", r->end_ms);
	jsonw__kv_u64(jw, "family", r->family);
	jsonw__kv_str(jw, "direction", flow_direction_name(r->direction));
	jsonw__kv_str(jw, "local_ip", ip_format(r->local_addr, ip, sizeof(ip)));
	jsonw__kv_u64(jw, "local_port", r->local_port);
	jsonw__kv_str(jw, "remote_ip", ip_format(r->remote_addr, ip, sizeof(ip)));
	jsonw__kv_u64(jw, "remote_port", r->remote_port);
	jsonw__kv_u64(jw, "flows", r->flows);
	jsonw__kv_u64(jw, "closed", r->closed);
	jsonw__kv_u64(jw, "failed", r->failed);
	jsonw__kv_str(jw, "error", flow_err_name(r->err, errbuf, sizeof(errbuf)));
	jsonw__kv_u64(jw, "bytes_sent", r->bytes_sent);
	jsonw__kv_u64(jw, "bytes_received", r->bytes_received);
	jsonw__kv_u64(jw, "segs_sent", r->segs_sent);
	jsonw__kv_u64(jw, "segs_received", r->segs_received);
	jsonw__kv_u64(jw, "retransmits", r->retransmits);
	jsonw__kv_u64(jw, "resets", r->resets);
	jsonw__kv_u64(jw, "srtt_us", r->srtt_us);
	jsonw__kv_u64(jw, "min_rtt_us", r->min_rtt_us);
	jsonw__kv_u64(jw, "pid", r->pid);
	jsonw__kv_strn(jw, "comm", r->comm, strnlen(r->comm, sizeof(r->comm)));
	jsonw__kv_u64(jw, "cgroup_id", r->cgroup_id);
	jsonw__kv_str(jw, "container_id", r->container_id);
	jsonw__kv_str(jw, "container", r->container);
	jsonw__kv_str(jw, "local_app", l->app);
	jsonw__kv_str(jw, "local_namespace", l->namespace);
	jsonw__kv_str(jw, "local_pod", l->pod);
	jsonw__kv_str(jw, "local_node", l->node);
	jsonw__kv_str(jw, "local_workload", l->workload);
	jsonw__kv_str(jw, "remote_app", rm->app);
	jsonw__kv_str(jw, "remote_namespace", rm->namespace);
	jsonw__kv_str(jw, "remote_pod", rm->pod);
	jsonw__kv_str(jw, "remote_workload", rm->workload);
	jsonw__kv_str(jw, "remote_source", flow_source_name(r->remote_source));
	jsonw__obj_end(jw);
}
