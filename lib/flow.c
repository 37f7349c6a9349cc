// SPDX-License-Identifier: BSD-2-Clause
/* The flow record's JSON form: the field names are the stable contract of DESIGN.md. */
#include "flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "jsonw.h"

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

bool flow_addr_is_v4mapped(const uint8_t addr[16])
{
	return memcmp(addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0;
}

/* Dotted quad without the stdio machinery inet_ntop() goes through. */
static const char *v4_format(const uint8_t a[4], char *buf, unsigned long len)
{
	char *o = buf;

	if (len < 16)
		return NULL;
	for (int i = 0; i < 4; i++) {
		unsigned int v = a[i];

		if (v >= 100)
			*o++ = (char)('0' + v / 100);
		if (v >= 10)
			*o++ = (char)('0' + v / 10 % 10);
		*o++ = (char)('0' + v % 10);
		*o++ = i < 3 ? '.' : '\0';
	}
	return buf;
}

const char *flow_addr_format(const uint8_t addr[16], char *buf, unsigned long len)
{
	const char *r;

	if (flow_addr_is_v4mapped(addr))
		r = v4_format(addr + 12, buf, len);
	else
		r = inet_ntop(AF_INET6, addr, buf, (socklen_t)len);
	if (!r && len)
		buf[0] = '\0';
	return buf;
}

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

const char *flow_source_name(enum flow_remote_source src)
{
	switch (src) {
	case FLOW_SOURCE_HEARTBEAT:
		return "heartbeat";
	case FLOW_SOURCE_KUBE:
		return "kube";
	case FLOW_SOURCE_SONAR:
		return "sonar";
	case FLOW_SOURCE_UNATTRIBUTED:
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
	jsonw__kv_str(jw, "local_ip", flow_addr_format(r->local_addr, ip, sizeof(ip)));
	jsonw__kv_u64(jw, "local_port", r->local_port);
	jsonw__kv_str(jw, "remote_ip", flow_addr_format(r->remote_addr, ip, sizeof(ip)));
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
