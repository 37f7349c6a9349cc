// SPDX-License-Identifier: BSD-2-Clause
/* IPFIX (RFC 7011) for the UDP transport (docs/ipfix.md): encoder and strict, bounded decoder. */
#include "ipfix.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ip.h"
#include "log.h"
#include "utf8.h"

#define SET_TEMPLATE	   2 /* RFC 7011 section 3.3.2 */
#define SET_OPTIONS	   3
#define SET_DATA_MIN	   256
#define SET_HEADER	   4
#define VARLEN		   65535 /* RFC 7011 section 7: a variable-length field */
#define ENTERPRISE_BIT	   0x8000
#define CONTAINER_ID_MAX   64
#define COMM_MAX	   FLOW_COMM_LEN
#define LIST_HEADER	   5	/* RFC 6313 section 4.5.1: semantic, field id, element length */
#define LIST_ALL_OF	   0x03 /* RFC 6313 section 4.4: allOf */
#define IE_SRC4		   8
#define IE_SRC6		   27
#define PROTO_TCP	   6
#define FLOW_DIR_INGRESS   0 /* flowDirection (61) */
#define FLOW_DIR_EGRESS	   1
#define BIFLOW_INITIATOR   1 /* biflowDirection (239), RFC 5103 section 6.3 */
#define END_ACTIVE_TIMEOUT 2 /* flowEndReason (136) */
#define END_OF_FLOW	   3
#define IE_OCTETS_IP	   1 /* octetDeltaCount */

_Static_assert(FLOW_COMM_SIZE == COMM_MAX + 1, "comm is the kernel's 16 bytes plus a NUL");
_Static_assert(FLOW_CONTAINER_ID_LEN == CONTAINER_ID_MAX + 1, "container id plus a NUL");
_Static_assert(WIRE_MAX_STRING < 255, "identity strings take a one-byte length (section 7)");

/* ---- elements ----------------------------------------------------------- */

/* What a field carries, for the elements podflow knows; S_NONE: anything else (skipped). */
enum slot {
	S_NONE = 0,
	S_SRC4,
	S_DST4,
	S_SRC6,
	S_DST6,
	S_SPORT,
	S_DPORT,
	S_PROTO,
	S_FLOW_DIR,
	S_BIFLOW_DIR,
	S_END_REASON,
	S_START,
	S_END,
	S_OCT_FWD,
	S_OCT_REV,
	S_PKT_FWD,
	S_PKT_REV,
	S_FLOWS,
	S_CLOSED,
	S_FAILED,
	S_RETRANS,
	S_RESETS,
	S_SRTT,
	S_MIN_RTT,
	S_PID,
	S_ERR,
	S_CGROUP,
	S_COMM,
	S_CONTAINER_ID,
	S_CONTAINER,
	S_DOMAIN,
	S_SENDER_ID,
	S_POD,
	S_NAMESPACE,
	S_NODE,
	S_APP,
	S_WORKLOAD,
	S_REPORT_SEQ,
	S_HB_START,
	S_HB_END,
	S_IP_LIST,
	S_DROP0, /* WIRE_DROP_KERNEL_RING; the others follow in enum wire_drop's order */
	S_DROP_LAST = S_DROP0 + WIRE_DROP__COUNT - 1,
	S__COUNT,
};

enum pen_kind {
	P_IANA = 0,    /* no enterprise bit */
	P_REVERSE = 1, /* RFC 5103 reverse element: PEN 29305, the forward element's id */
	P_OWN = 2,     /* podflow's: the configured PEN */
};

enum ie_type {
	T_UNSIGNED,    /* RFC 7011 section 6.1.1; reduced size allowed (section 6.2) */
	T_DATETIME_MS, /* section 6.1.9: 8 bytes, never reduced */
	T_ADDR4,
	T_ADDR6,
	T_STRING, /* section 6.1.6: UTF-8; podflow's never hold a NUL */
	T_OCTETS,
	T_LIST, /* RFC 6313 basicList */
};

struct element {
	uint16_t id;
	uint8_t pen;   /* enum pen_kind */
	uint8_t type;  /* enum ie_type */
	uint16_t size; /* unsigned: the type's size; strings: the most bytes */
	uint16_t len;  /* what the encoder writes in its templates (VARLEN: variable) */
	const char *name;
};

static const struct element elements[S__COUNT] = {
	[S_SRC4] = { 8, P_IANA, T_ADDR4, 4, 4, "sourceIPv4Address" },
	[S_DST4] = { 12, P_IANA, T_ADDR4, 4, 4, "destinationIPv4Address" },
	[S_SRC6] = { 27, P_IANA, T_ADDR6, 16, 16, "sourceIPv6Address" },
	[S_DST6] = { 28, P_IANA, T_ADDR6, 16, 16, "destinationIPv6Address" },
	[S_SPORT] = { 7, P_IANA, T_UNSIGNED, 2, 2, "sourceTransportPort" },
	[S_DPORT] = { 11, P_IANA, T_UNSIGNED, 2, 2, "destinationTransportPort" },
	[S_PROTO] = { 4, P_IANA, T_UNSIGNED, 1, 1, "protocolIdentifier" },
	[S_FLOW_DIR] = { 61, P_IANA, T_UNSIGNED, 1, 1, "flowDirection" },
	[S_BIFLOW_DIR] = { 239, P_IANA, T_UNSIGNED, 1, 1, "biflowDirection" },
	[S_END_REASON] = { 136, P_IANA, T_UNSIGNED, 1, 1, "flowEndReason" },
	[S_START] = { 152, P_IANA, T_DATETIME_MS, 8, 8, "flowStartMilliseconds" },
	[S_END] = { 153, P_IANA, T_DATETIME_MS, 8, 8, "flowEndMilliseconds" },
	[S_OCT_FWD] = { 401, P_IANA, T_UNSIGNED, 8, 8, "transportOctetDeltaCount" },
	[S_OCT_REV] = { 401, P_REVERSE, T_UNSIGNED, 8, 8, "reverseTransportOctetDeltaCount" },
	[S_PKT_FWD] = { 2, P_IANA, T_UNSIGNED, 8, 8, "packetDeltaCount" },
	[S_PKT_REV] = { 2, P_REVERSE, T_UNSIGNED, 8, 8, "reversePacketDeltaCount" },
	/* RFC 7015 section 7.1; sent reduced to 4 bytes (RFC 7011 section 6.2): flows is a u32 */
	[S_FLOWS] = { 3, P_IANA, T_UNSIGNED, 8, 4, "deltaFlowCount" },
	[S_CLOSED] = { 1, P_OWN, T_UNSIGNED, 4, 4, "podflowClosedCount" },
	[S_FAILED] = { 2, P_OWN, T_UNSIGNED, 4, 4, "podflowFailedCount" },
	[S_RETRANS] = { 3, P_OWN, T_UNSIGNED, 4, 4, "podflowRetransmitCount" },
	[S_RESETS] = { 4, P_OWN, T_UNSIGNED, 4, 4, "podflowResetCount" },
	[S_SRTT] = { 5, P_OWN, T_UNSIGNED, 4, 4, "podflowSrttMicroseconds" },
	[S_MIN_RTT] = { 6, P_OWN, T_UNSIGNED, 4, 4, "podflowMinRttMicroseconds" },
	[S_PID] = { 7, P_OWN, T_UNSIGNED, 4, 4, "podflowProcessId" },
	[S_ERR] = { 8, P_OWN, T_UNSIGNED, 2, 2, "podflowErrno" },
	[S_CGROUP] = { 9, P_OWN, T_UNSIGNED, 8, 8, "podflowCgroupId" },
	/* octetArray, not string: the kernel's comm need not be UTF-8 */
	[S_COMM] = { 10, P_OWN, T_OCTETS, COMM_MAX, VARLEN, "podflowProcessName" },
	[S_CONTAINER_ID] = { 11, P_OWN, T_STRING, CONTAINER_ID_MAX, VARLEN, "podflowContainerId" },
	[S_CONTAINER] = { 12, P_OWN, T_STRING, WIRE_MAX_STRING, VARLEN, "podflowContainerName" },
	[S_DOMAIN] = { 149, P_IANA, T_UNSIGNED, 4, 4, "observationDomainId" },
	[S_SENDER_ID] = { 20, P_OWN, T_UNSIGNED, 8, 8, "podflowSenderId" },
	[S_POD] = { 21, P_OWN, T_STRING, WIRE_MAX_STRING, VARLEN, "podflowPodName" },
	[S_NAMESPACE] = { 22, P_OWN, T_STRING, WIRE_MAX_STRING, VARLEN, "podflowPodNamespace" },
	[S_NODE] = { 23, P_OWN, T_STRING, WIRE_MAX_STRING, VARLEN, "podflowNodeName" },
	[S_APP] = { 24, P_OWN, T_STRING, WIRE_MAX_STRING, VARLEN, "podflowAppName" },
	[S_WORKLOAD] = { 25, P_OWN, T_STRING, WIRE_MAX_STRING, VARLEN, "podflowWorkloadName" },
	[S_REPORT_SEQ] = { 30, P_OWN, T_UNSIGNED, 8, 8, "podflowReportSequence" },
	[S_HB_START] = { 31, P_OWN, T_DATETIME_MS, 8, 8, "podflowHeartbeatStartMilliseconds" },
	[S_HB_END] = { 32, P_OWN, T_DATETIME_MS, 8, 8, "podflowHeartbeatEndMilliseconds" },
	[S_IP_LIST] = { 291, P_IANA, T_LIST, 0, VARLEN, "basicList" },
	[S_DROP0 +
	    WIRE_DROP_KERNEL_RING] = { 33, P_OWN, T_UNSIGNED, 8, 8, "podflowDropsKernelRing" },
	[S_DROP0 + WIRE_DROP_KERNEL_MAP] = { 34, P_OWN, T_UNSIGNED, 8, 8, "podflowDropsKernelMap" },
	[S_DROP0 + WIRE_DROP_TABLE] = { 35, P_OWN, T_UNSIGNED, 8, 8, "podflowDropsTable" },
	[S_DROP0 + WIRE_DROP_BUFFER] = { 36, P_OWN, T_UNSIGNED, 8, 8, "podflowDropsBuffer" },
	[S_DROP0 + WIRE_DROP_REJECTED] = { 37, P_OWN, T_UNSIGNED, 8, 8, "podflowDropsRejected" },
};
_Static_assert(WIRE_DROP__COUNT == 5, "one element per drop reason");

/* The templates, field by field, in the order the encoder writes them. */
static const uint8_t flow4_slots[] = {
	S_SRC4,	      S_DST4,	S_SPORT,  S_DPORT,   S_PROTO,	     S_FLOW_DIR,  S_BIFLOW_DIR,
	S_END_REASON, S_START,	S_END,	  S_OCT_FWD, S_OCT_REV,	     S_PKT_FWD,	  S_PKT_REV,
	S_FLOWS,      S_CLOSED, S_FAILED, S_RETRANS, S_RESETS,	     S_SRTT,	  S_MIN_RTT,
	S_PID,	      S_ERR,	S_CGROUP, S_COMM,    S_CONTAINER_ID, S_CONTAINER,
};
static const uint8_t flow6_slots[] = {
	S_SRC6,	      S_DST6,	S_SPORT,  S_DPORT,   S_PROTO,	     S_FLOW_DIR,  S_BIFLOW_DIR,
	S_END_REASON, S_START,	S_END,	  S_OCT_FWD, S_OCT_REV,	     S_PKT_FWD,	  S_PKT_REV,
	S_FLOWS,      S_CLOSED, S_FAILED, S_RETRANS, S_RESETS,	     S_SRTT,	  S_MIN_RTT,
	S_PID,	      S_ERR,	S_CGROUP, S_COMM,    S_CONTAINER_ID, S_CONTAINER,
};
static const uint8_t identity_slots[] = {
	S_DOMAIN, S_SENDER_ID, S_POD, S_NAMESPACE, S_NODE, S_APP, S_WORKLOAD,
};
/* the first list holds the IPv4 addresses, the second the IPv6 ones */
static const uint8_t report_slots[] = {
	S_DOMAIN,  S_SENDER_ID, S_REPORT_SEQ, S_HB_START,  S_HB_END,	S_IP_LIST,
	S_IP_LIST, S_DROP0 + 0, S_DROP0 + 1,  S_DROP0 + 2, S_DROP0 + 3, S_DROP0 + 4,
};

enum kind {
	K_FOREIGN = 0, /* not podflow's: its records are counted and skipped */
	K_FLOW4,
	K_FLOW6,
	K_IDENTITY,
	K_REPORT,
};

struct template_def {
	uint16_t id;
	uint16_t set_id;
	uint8_t kind;
	const uint8_t *slots;
	uint16_t n;
};

#define DEF(id, set, kind, s)               \
	{                                   \
		id, set, kind, s, sizeof(s) \
	}
static const struct template_def defs[] = {
	DEF(IPFIX_TID_FLOW4, SET_TEMPLATE, K_FLOW4, flow4_slots),
	DEF(IPFIX_TID_FLOW6, SET_TEMPLATE, K_FLOW6, flow6_slots),
	DEF(IPFIX_TID_IDENTITY, SET_OPTIONS, K_IDENTITY, identity_slots),
	DEF(IPFIX_TID_REPORT, SET_OPTIONS, K_REPORT, report_slots),
};
#undef DEF

/* The identity strings in wire order (struct wire_header's sender). */
static const char *const id_names[5] = { "pod", "namespace", "node", "app", "workload" };

static const char **id_field(struct flow_identity *id, int i)
{
	const char **f[5] = { &id->pod, &id->namespace, &id->node, &id->app, &id->workload };

	return f[i];
}

/* ---- bytes (network order, RFC 7011 section 6.1) ----------------------- */

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An unsigned of 1..8 bytes, reduced-size encoding included (RFC 7011 section 6.2). */
static uint64_t get_uint(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* A variable-length field's length prefix: one byte below 255, else 255 and a u16 (section 7). */
static size_t varlen_size(size_t n)
{
	return n < 255 ? 1 : 3;
}

static uint8_t *put_varlen(uint8_t *p, size_t n)
{
	if (n < 255) {
		*p = (uint8_t)n;
		return p + 1;
	}
	p[0] = 255;
	put_u16(p + 1, (uint16_t)n);
	return p + 3;
}

static uint8_t *put_bytes(uint8_t *p, const void *s, size_t n)
{
	p = put_varlen(p, n);
	if (n)
		memcpy(p, s, n);
	return p + n;
}

/* ---- the rules both sides apply ------------------------------------------ */

static size_t hex_bad_at(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return i;
	return n;
}

/*
 * A record the other side would accept: the HTTP/2 path's rules
 * (wire_record_valid), so both transports take the same records, and the
 * container strings, which the wire format checks in its container table.
 * The caller has bounded the strings.  False with the reason in `why`.
 */
static bool record_valid(const struct flow_record *r, size_t id_len, size_t name_len, char *why,
			 size_t len)
{
	size_t bad;

	if (!wire_record_valid(r, why, len))
		return false;
	bad = hex_bad_at(r->container_id, id_len);
	if (bad < id_len) {
		snprintf(why, len, "container_id byte 0x%02x at %zu is not lowercase hex",
			 (uint8_t)r->container_id[bad], bad);
		return false;
	}
	bad = utf8_bad_at((const unsigned char *)r->container, name_len);
	if (bad < name_len) {
		snprintf(why, len, "container name byte 0x%02x at %zu is not UTF-8 (or is a NUL)",
			 (uint8_t)r->container[bad], bad);
		return false;
	}
	return true;
}

/*
 * flowEndReason (136) from the counts: every connection ended (or a late
 * RST after the end) is "end of flow detected", else the interval closed
 * the record with connections still open, "active timeout".  Informative
 * for standard collectors; podflow reads `closed`, not this.
 */
static uint8_t end_reason(const struct flow_record *r)
{
	return r->closed == r->flows ? END_OF_FLOW : END_ACTIVE_TIMEOUT;
}

/* ---- encoder ------------------------------------------------------------ */

struct ipfix_encoder {
	struct ipfix_encoder_opts o;
	ipfix_send_fn send;
	void *ctx;
	uint8_t *buf;
	size_t len;	 /* bytes of the open message; 0: none open */
	size_t set_at;	 /* where the open set starts */
	uint16_t set_id; /* the open set's id; 0: none */
	uint32_t seq;	 /* data records in the messages sent so far (mod 2^32) */
	uint32_t n_data; /* data records in the open message */
	uint32_t n_flow; /* of those, flow records */
	uint32_t export_s;
	bool templates_sent;
	bool in_report;
	struct ipfix_encoder_stats st;
};

struct ipfix_encoder *ipfix_encoder__new(const struct ipfix_encoder_opts *o, ipfix_send_fn send,
					 void *ctx)
{
	struct ipfix_encoder *e;

	if (!o || !send || o->pen == IPFIX_PEN_REVERSE ||
	    (o->max_message &&
	     (o->max_message < IPFIX_MIN_MESSAGE || o->max_message > IPFIX_MAX_MESSAGE)) ||
	    (o->octets != IPFIX_OCTETS_TRANSPORT && o->octets != IPFIX_OCTETS_IP)) {
		errno = EINVAL;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		goto cleanup;
	e->o = *o;
	if (!e->o.pen)
		e->o.pen = IPFIX_DEFAULT_PEN;
	if (!e->o.max_message)
		e->o.max_message = IPFIX_DEFAULT_MAX_MESSAGE;
	e->send = send;
	e->ctx = ctx;
	e->buf = malloc(e->o.max_message);
	if (!e->buf)
		goto cleanup;
	return e;
cleanup:
	ipfix_encoder__free(e);
	errno = ENOMEM;
	return NULL;
}

void ipfix_encoder__free(struct ipfix_encoder *e)
{
	if (!e)
		return;
	free(e->buf);
	free(e);
}

uint32_t ipfix_encoder__seq(const struct ipfix_encoder *e)
{
	return e->seq;
}

const struct ipfix_encoder_stats *ipfix_encoder__stats(const struct ipfix_encoder *e)
{
	return &e->st;
}

static void set_close(struct ipfix_encoder *e)
{
	if (!e->set_id)
		return;
	put_u16(e->buf + e->set_at + 2, (uint16_t)(e->len - e->set_at));
	e->set_id = 0;
}

/* Writes the header and hands the open message over. */
static void msg_finish(struct ipfix_encoder *e)
{
	if (!e->len)
		return;
	set_close(e);
	put_u16(e->buf, IPFIX_VERSION);
	put_u16(e->buf + 2, (uint16_t)e->len);
	put_u32(e->buf + 4, e->export_s);
	/* RFC 7011 sections 3.1, 10.3.2: the data records sent before this message, mod 2^32 */
	put_u32(e->buf + 8, e->seq);
	put_u32(e->buf + 12, e->o.domain_id);
	e->send(e->ctx, e->buf, e->len, e->n_flow);
	e->st.messages++;
	e->st.bytes += e->len;
	e->seq += e->n_data;
	e->len = 0;
	e->n_data = 0;
	e->n_flow = 0;
}

/*
 * Room for a record of `need` bytes in a set `set_id`: a message that
 * cannot take it (and the set header it may need) is sent first.  The
 * caller knows the record fits an empty message (need <= max_message - 20):
 * a flow record or template always does (IPFIX_MIN_MESSAGE), begin() checks
 * its two.
 */
static uint8_t *room(struct ipfix_encoder *e, uint16_t set_id, size_t need)
{
	size_t extra = e->set_id == set_id ? 0 : SET_HEADER;

	if (e->len && e->len + extra + need > e->o.max_message)
		msg_finish(e);
	if (!e->len) {
		e->len = IPFIX_HEADER_SIZE;
		e->set_id = 0;
	}
	if (e->set_id != set_id) {
		set_close(e);
		e->set_at = e->len;
		put_u16(e->buf + e->len, set_id);
		e->len += SET_HEADER;
		e->set_id = set_id;
	}
	e->len += need;
	return e->buf + e->len - need;
}

static uint16_t field_id(const struct ipfix_encoder *e, uint8_t s)
{
	if ((s == S_OCT_FWD || s == S_OCT_REV) && e->o.octets == IPFIX_OCTETS_IP)
		return IE_OCTETS_IP;
	return elements[s].id;
}

static size_t template_size(const struct template_def *t)
{
	size_t n = t->set_id == SET_OPTIONS ? 6 : 4;

	for (uint16_t i = 0; i < t->n; i++)
		n += elements[t->slots[i]].pen == P_IANA ? 4 : 8;
	return n;
}

/* RFC 7011 sections 3.4.1 and 3.4.2.2; the scope is the first field, observationDomainId. */
static void put_template(const struct ipfix_encoder *e, uint8_t *p, const struct template_def *t)
{
	put_u16(p, t->id);
	put_u16(p + 2, t->n);
	p += 4;
	if (t->set_id == SET_OPTIONS) {
		put_u16(p, 1);
		p += 2;
	}
	for (uint16_t i = 0; i < t->n; i++) {
		const struct element *el = &elements[t->slots[i]];

		put_u16(p, (uint16_t)(field_id(e, t->slots[i]) | (el->pen ? ENTERPRISE_BIT : 0)));
		put_u16(p + 2, el->len);
		p += 4;
		if (el->pen) {
			put_u32(p, el->pen == P_REVERSE ? IPFIX_PEN_REVERSE : e->o.pen);
			p += 4;
		}
	}
}

void ipfix_encoder__send_templates(struct ipfix_encoder *e, uint32_t export_s)
{
	uint64_t before;

	msg_finish(e);
	before = e->st.messages;
	e->export_s = export_s;
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		put_template(e, room(e, defs[i].set_id, template_size(&defs[i])), &defs[i]);
	msg_finish(e);
	e->st.template_messages += e->st.messages - before;
	e->templates_sent = true;
}

/* One identity string's length, or -EINVAL (logged). */
static long header_string(const char *field, const char *s)
{
	size_t n = s ? strnlen(s, WIRE_MAX_STRING + 1) : 0;
	size_t bad = utf8_bad_at((const unsigned char *)s, n);

	if (n > WIRE_MAX_STRING) {
		pr_warn("ipfix: sender %s is over %d bytes", field, WIRE_MAX_STRING);
		return -EINVAL;
	}
	if (bad < n) {
		pr_warn("ipfix: sender %s is not UTF-8 (byte %zu)", field, bad);
		return -EINVAL;
	}
	return (long)n;
}

static uint8_t *put_list(uint8_t *p, uint16_t ie, uint16_t elen, const uint8_t (*ips)[16],
			 uint32_t n_ips, uint32_t n)
{
	p = put_varlen(p, LIST_HEADER + (size_t)n * elen);
	p[0] = LIST_ALL_OF;
	put_u16(p + 1, ie);
	put_u16(p + 3, elen);
	p += LIST_HEADER;
	for (uint32_t i = 0; i < n_ips; i++) {
		bool v4 = ip_is_v4mapped(ips[i]);

		if (v4 != (elen == 4))
			continue;
		memcpy(p, v4 ? ips[i] + 12 : ips[i], elen);
		p += elen;
	}
	return p;
}

int ipfix_encoder__begin(struct ipfix_encoder *e, const struct wire_header *h, uint32_t export_s)
{
	const char *strs[5] = { h->sender.pod, h->sender.namespace, h->sender.node, h->sender.app,
				h->sender.workload };
	size_t lens[5], id_size = 4 + 8, rep_size, l4, l6, most;
	uint32_t n4 = 0;
	uint8_t *p;

	for (int i = 0; i < 5; i++) {
		long l = header_string(id_names[i], strs[i]);

		if (l < 0)
			return (int)l;
		lens[i] = (size_t)l;
		id_size += 1 + lens[i];
	}
	if (h->span_start_ms > h->span_end_ms) {
		pr_warn("ipfix: heartbeat span_start_ms %llu after span_end_ms %llu",
			(unsigned long long)h->span_start_ms, (unsigned long long)h->span_end_ms);
		return -EINVAL;
	}
	if (h->n_ips > WIRE_MAX_IPS || (h->n_ips && !h->ips)) {
		pr_warn("ipfix: heartbeat n_ips %u %s", h->n_ips,
			h->n_ips > WIRE_MAX_IPS ? "exceeds 64" : "but no ips");
		return -EINVAL;
	}
	for (uint32_t i = 0; i < h->n_ips; i++)
		n4 += ip_is_v4mapped(h->ips[i]);
	l4 = LIST_HEADER + (size_t)n4 * 4;
	l6 = LIST_HEADER + (size_t)(h->n_ips - n4) * 16;
	rep_size = 4 + 8 * 4 + varlen_size(l4) + l4 + varlen_size(l6) + l6 + 8 * WIRE_DROP__COUNT;
	most = e->o.max_message - IPFIX_HEADER_SIZE - SET_HEADER;
	if (id_size > most || rep_size > most) {
		pr_warn("ipfix: the %s record takes %zu bytes, more than a %u-byte message holds: "
			"raise max_message",
			id_size > most ? "identity" : "report", id_size > most ? id_size : rep_size,
			e->o.max_message);
		return -EMSGSIZE;
	}
	if (!e->templates_sent)
		ipfix_encoder__send_templates(e, export_s);
	msg_finish(e);
	e->export_s = export_s;

	p = room(e, IPFIX_TID_IDENTITY, id_size);
	put_u32(p, e->o.domain_id);
	put_u64(p + 4, h->sender_id);
	p += 12;
	for (int i = 0; i < 5; i++)
		p = put_bytes(p, strs[i], lens[i]);
	/* counted as written: room() may send the message before the next record */
	e->n_data++;

	p = room(e, IPFIX_TID_REPORT, rep_size);
	put_u32(p, e->o.domain_id);
	put_u64(p + 4, h->sender_id);
	put_u64(p + 12, h->seq);
	put_u64(p + 20, h->span_start_ms);
	put_u64(p + 28, h->span_end_ms);
	p += 36;
	p = put_list(p, IE_SRC4, 4, h->ips, h->n_ips, n4);
	p = put_list(p, IE_SRC6, 16, h->ips, h->n_ips, h->n_ips - n4);
	for (int i = 0; i < WIRE_DROP__COUNT; i++, p += 8)
		put_u64(p, h->drops[i]);
	e->n_data++;
	e->in_report = true;
	return 0;
}

/* The bytes of r as a template-256/257 record; the lengths are the checked ones. */
static void put_flow(uint8_t *p, const struct flow_record *r, const uint8_t *slots, uint16_t n,
		     size_t comm_len, size_t id_len, size_t name_len)
{
	bool out = r->direction == FLOW_DIRECTION_OUT;
	/* RFC 5103 section 5.2: the biflow source is the initiator (biflowDirection 1) */
	const uint8_t *src = out ? r->local_addr : r->remote_addr;
	const uint8_t *dst = out ? r->remote_addr : r->local_addr;

	for (uint16_t i = 0; i < n; i++) {
		switch (slots[i]) {
		case S_SRC4:
			memcpy(p, src + 12, 4);
			p += 4;
			break;
		case S_DST4:
			memcpy(p, dst + 12, 4);
			p += 4;
			break;
		case S_SRC6:
			memcpy(p, src, 16);
			p += 16;
			break;
		case S_DST6:
			memcpy(p, dst, 16);
			p += 16;
			break;
		case S_SPORT:
			put_u16(p, out ? r->local_port : r->remote_port);
			p += 2;
			break;
		case S_DPORT:
			put_u16(p, out ? r->remote_port : r->local_port);
			p += 2;
			break;
		case S_PROTO:
			*p++ = PROTO_TCP;
			break;
		case S_FLOW_DIR:
			*p++ = out ? FLOW_DIR_EGRESS : FLOW_DIR_INGRESS;
			break;
		case S_BIFLOW_DIR:
			*p++ = BIFLOW_INITIATOR;
			break;
		case S_END_REASON:
			*p++ = end_reason(r);
			break;
		case S_START:
			put_u64(p, r->start_ms);
			p += 8;
			break;
		case S_END:
			put_u64(p, r->end_ms);
			p += 8;
			break;
		case S_OCT_FWD:
			put_u64(p, out ? r->bytes_sent : r->bytes_received);
			p += 8;
			break;
		case S_OCT_REV:
			put_u64(p, out ? r->bytes_received : r->bytes_sent);
			p += 8;
			break;
		case S_PKT_FWD:
			put_u64(p, out ? r->segs_sent : r->segs_received);
			p += 8;
			break;
		case S_PKT_REV:
			put_u64(p, out ? r->segs_received : r->segs_sent);
			p += 8;
			break;
		case S_FLOWS:
			put_u32(p, r->flows);
			p += 4;
			break;
		case S_CLOSED:
			put_u32(p, r->closed);
			p += 4;
			break;
		case S_FAILED:
			put_u32(p, r->failed);
			p += 4;
			break;
		case S_RETRANS:
			put_u32(p, r->retransmits);
			p += 4;
			break;
		case S_RESETS:
			put_u32(p, r->resets);
			p += 4;
			break;
		case S_SRTT:
			put_u32(p, r->srtt_us);
			p += 4;
			break;
		case S_MIN_RTT:
			put_u32(p, r->min_rtt_us);
			p += 4;
			break;
		case S_PID:
			put_u32(p, r->pid);
			p += 4;
			break;
		case S_ERR:
			put_u16(p, r->err);
			p += 2;
			break;
		case S_CGROUP:
			put_u64(p, r->cgroup_id);
			p += 8;
			break;
		case S_COMM:
			p = put_bytes(p, r->comm, comm_len);
			break;
		case S_CONTAINER_ID:
			p = put_bytes(p, r->container_id, id_len);
			break;
		case S_CONTAINER:
			p = put_bytes(p, r->container, name_len);
			break;
		}
	}
}

int ipfix_encoder__add(struct ipfix_encoder *e, const struct flow_record *r)
{
	const struct template_def *t = &defs[r->family == 6 ? 1 : 0];
	size_t comm_len = strnlen(r->comm, COMM_MAX);
	size_t id_len = strnlen(r->container_id, sizeof(r->container_id));
	size_t name_len = r->container ? strnlen(r->container, WIRE_MAX_STRING + 1) : 0;
	size_t size = 0;
	char why[128];

	if (!e->in_report) {
		pr_debug("ipfix: record not added: no report begun");
		return -EINVAL;
	}
	if (id_len > CONTAINER_ID_MAX || name_len > WIRE_MAX_STRING) {
		pr_debug("ipfix: record not added: container %s too long",
			 id_len > CONTAINER_ID_MAX ? "id" : "name");
		return -EINVAL;
	}
	if (r->start_ms > r->end_ms)
		snprintf(why, sizeof(why), "start_ms %llu after end_ms %llu",
			 (unsigned long long)r->start_ms, (unsigned long long)r->end_ms);
	if (r->start_ms > r->end_ms || !record_valid(r, id_len, name_len, why, sizeof(why))) {
		pr_debug("ipfix: record not added: %s", why);
		return -EINVAL;
	}
	for (uint16_t i = 0; i < t->n; i++)
		if (elements[t->slots[i]].len != VARLEN)
			size += elements[t->slots[i]].len;
	size += 3 + comm_len + id_len + name_len; /* each at most 253 bytes: a 1-byte length */
	put_flow(room(e, t->id, size), r, t->slots, t->n, comm_len, id_len, name_len);
	e->n_data++;
	e->n_flow++;
	e->st.records++;
	return 0;
}

void ipfix_encoder__end(struct ipfix_encoder *e)
{
	msg_finish(e);
	e->in_report = false;
}

/* ---- decoder: templates and exporters ----------------------------------- */

struct field {
	uint32_t pen;
	uint16_t id;
	uint16_t len;
	uint8_t slot;
};

struct tmpl {
	uint16_t id;
	uint16_t set_id;
	uint16_t n_fields;
	uint16_t n_scope;
	uint8_t kind;
	uint32_t min_len; /* a record's least bytes: variable-length fields as 1 */
	struct field f[];
};

struct exporter {
	uint8_t addr[16];
	uint16_t port;
	uint32_t domain;
	struct exporter *hnext;	      /* hash chain */
	struct exporter *prev, *next; /* recency: head = most recently seen */
	struct tmpl **tmpls;	      /* max_templates slots */
	uint32_t n_tmpls;
	bool seq_known;
	uint32_t seq_next;
	bool identity;
	uint64_t sender_id;
	uint64_t report_seq;
	char strs[5][WIRE_MAX_STRING + 1];
};

/* A template change made while parsing a message, undone if the message is refused. */
struct undo {
	uint16_t id;
	struct tmpl *old, *new;
};

/* The identity and report records of the message in hand. */
struct msg_opts {
	bool identity, report;
	uint64_t sender_id;
	char strs[5][WIRE_MAX_STRING + 1];
	uint64_t report_sender_id, report_seq, span_start_ms, span_end_ms;
	uint64_t drops[WIRE_DROP__COUNT];
	uint32_t n_ips;
	uint8_t ips[WIRE_MAX_IPS][16];
};

/* What a message adds to the counters, added when it is taken. */
struct msg_counts {
	uint32_t unknown_sets, foreign, options, added, replaced, refreshed, withdrawn, ignored;
	uint64_t unknown_bytes, padding_nonzero;
};

struct ipfix_decoder {
	struct ipfix_decoder_opts o;
	struct exporter **buckets;
	uint32_t n_buckets; /* a power of 2 */
	struct exporter *head, *tail;
	struct exporter *spare; /* the next new exporter, filled before it is taken */
	struct undo *undo;
	size_t undo_cap, n_undo;
	struct tmpl *scratch; /* the template record being parsed: IPFIX_MAX_FIELDS fields */
	struct flow_record *recs;
	size_t recs_cap;
	uint32_t n_recs;
	char *arena; /* the container names of the message in hand */
	size_t arena_len;
	struct msg_opts mo;
	struct msg_counts mc;
	bool msg_unknown; /* a data set without a template: the records cannot be counted */
	uint32_t n_data;
	uint32_t domain;
	struct ipfix_msg msg;
	struct ipfix_decoder_stats st;
	char err[256];
};

/* Records a one-line error and returns `err`. */
__attribute__((format(printf, 3, 4))) static int fail(struct ipfix_decoder *d, int err,
						      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	return err;
}

const char *ipfix_seq_name(enum ipfix_seq s)
{
	switch (s) {
	case IPFIX_SEQ_NEW:
		return "new";
	case IPFIX_SEQ_OK:
		return "ok";
	case IPFIX_SEQ_GAP:
		return "gap";
	case IPFIX_SEQ_LATE:
		return "late";
	case IPFIX_SEQ_RESET:
		return "reset";
	}
	return "unknown";
}

struct ipfix_decoder *ipfix_decoder__new(const struct ipfix_decoder_opts *o)
{
	struct ipfix_decoder *d;
	uint32_t n = 1;

	if (!o || o->pen == IPFIX_PEN_REVERSE || o->max_exporters > IPFIX_MAX_MAX_EXPORTERS ||
	    o->max_templates > IPFIX_MAX_MAX_TEMPLATES) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		goto cleanup;
	d->o = *o;
	if (!d->o.pen)
		d->o.pen = IPFIX_DEFAULT_PEN;
	if (!d->o.max_exporters)
		d->o.max_exporters = IPFIX_DEFAULT_MAX_EXPORTERS;
	if (!d->o.max_templates)
		d->o.max_templates = IPFIX_DEFAULT_MAX_TEMPLATES;
	while (n < 2 * d->o.max_exporters)
		n <<= 1;
	d->n_buckets = n;
	d->buckets = calloc(n, sizeof(*d->buckets));
	/* container names: each takes at least its length + 1 bytes of the message */
	d->arena = malloc(IPFIX_MAX_MESSAGE + 1);
	d->scratch = malloc(sizeof(*d->scratch) + IPFIX_MAX_FIELDS * sizeof(d->scratch->f[0]));
	if (!d->buckets || !d->arena || !d->scratch)
		goto cleanup;
	return d;
cleanup:
	ipfix_decoder__free(d);
	errno = ENOMEM;
	return NULL;
}

static void exporter_clear_templates(struct exporter *x)
{
	for (uint32_t i = 0; i < x->n_tmpls; i++)
		free(x->tmpls[i]);
	x->n_tmpls = 0;
}

static void exporter_free(struct exporter *x)
{
	if (!x)
		return;
	exporter_clear_templates(x);
	free(x->tmpls);
	free(x);
}

void ipfix_decoder__free(struct ipfix_decoder *d)
{
	struct exporter *x, *next;

	if (!d)
		return;
	for (x = d->head; x; x = next) {
		next = x->next;
		exporter_free(x);
	}
	exporter_free(d->spare);
	free(d->buckets);
	free(d->undo);
	free(d->recs);
	free(d->arena);
	free(d->scratch);
	free(d);
}

const char *ipfix_decoder__error(const struct ipfix_decoder *d)
{
	return d->err;
}

const struct ipfix_decoder_stats *ipfix_decoder__stats(const struct ipfix_decoder *d)
{
	return &d->st;
}

static uint32_t bucket_of(const struct ipfix_decoder *d, const uint8_t addr[16], uint16_t port,
			  uint32_t domain)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 0x100000001b3ull;
	h = (h ^ port) * 0x100000001b3ull;
	h = (h ^ domain) * 0x100000001b3ull;
	return (uint32_t)(h ^ h >> 32) & (d->n_buckets - 1);
}

static struct exporter *exporter_find(struct ipfix_decoder *d, const uint8_t addr[16],
				      uint16_t port, uint32_t domain)
{
	struct exporter *x = d->buckets[bucket_of(d, addr, port, domain)];

	for (; x; x = x->hnext)
		if (x->port == port && x->domain == domain && !memcmp(x->addr, addr, 16))
			return x;
	return NULL;
}

static void lru_unlink(struct ipfix_decoder *d, struct exporter *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		d->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	else
		d->tail = x->prev;
	x->prev = x->next = NULL;
}

static void lru_push(struct ipfix_decoder *d, struct exporter *x)
{
	x->prev = NULL;
	x->next = d->head;
	if (d->head)
		d->head->prev = x;
	d->head = x;
	if (!d->tail)
		d->tail = x;
}

static void hash_remove(struct ipfix_decoder *d, struct exporter *x)
{
	struct exporter **pp = &d->buckets[bucket_of(d, x->addr, x->port, x->domain)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == x) {
			*pp = x->hnext;
			break;
		}
	}
	x->hnext = NULL;
}

/* A blank exporter for (addr, port, domain): the spare, allocated if there is none. */
static struct exporter *exporter_spare(struct ipfix_decoder *d, const uint8_t addr[16],
				       uint16_t port, uint32_t domain)
{
	struct exporter *x = d->spare;

	if (!x) {
		x = calloc(1, sizeof(*x));
		if (!x)
			return NULL;
		x->tmpls = calloc(d->o.max_templates, sizeof(*x->tmpls));
		if (!x->tmpls) {
			free(x);
			return NULL;
		}
		d->spare = x;
	}
	exporter_clear_templates(x);
	memcpy(x->addr, addr, 16);
	x->port = port;
	x->domain = domain;
	x->hnext = x->prev = x->next = NULL;
	x->seq_known = false;
	x->seq_next = 0;
	x->identity = false;
	x->sender_id = 0;
	x->report_seq = 0;
	return x;
}

/* The spare becomes a held exporter; the least recently seen makes room if needed. */
static void exporter_take(struct ipfix_decoder *d, struct exporter *x)
{
	struct exporter *victim = NULL;
	uint32_t b = bucket_of(d, x->addr, x->port, x->domain);

	if (d->st.exporters >= d->o.max_exporters) {
		victim = d->tail;
		lru_unlink(d, victim);
		hash_remove(d, victim);
		exporter_clear_templates(victim);
		d->st.exporters_evicted++;
		d->st.exporters--;
	}
	d->spare = victim; /* NULL: the next new exporter allocates */
	x->hnext = d->buckets[b];
	d->buckets[b] = x;
	lru_push(d, x);
	d->st.exporters++;
}

static struct tmpl *tmpl_find(const struct exporter *x, uint16_t id)
{
	for (uint32_t i = 0; i < x->n_tmpls; i++)
		if (x->tmpls[i]->id == id)
			return x->tmpls[i];
	return NULL;
}

/* Makes `t` the template for `id` (NULL: none); returns the one it replaces.  Room checked. */
static struct tmpl *tmpl_set(struct exporter *x, uint16_t id, struct tmpl *t)
{
	struct tmpl *old;

	for (uint32_t i = 0; i < x->n_tmpls; i++) {
		if (x->tmpls[i]->id != id)
			continue;
		old = x->tmpls[i];
		if (t)
			x->tmpls[i] = t;
		else
			x->tmpls[i] = x->tmpls[--x->n_tmpls];
		return old;
	}
	if (t)
		x->tmpls[x->n_tmpls++] = t;
	return NULL;
}

static int undo_push(struct ipfix_decoder *d, uint16_t id, struct tmpl *old, struct tmpl *new)
{
	if (d->n_undo == d->undo_cap) {
		size_t n = d->undo_cap ? 2 * d->undo_cap : 16;
		struct undo *u = realloc(d->undo, n * sizeof(*u));

		if (!u)
			return -ENOMEM;
		d->undo = u;
		d->undo_cap = n;
	}
	d->undo[d->n_undo++] = (struct undo){ id, old, new };
	return 0;
}

/* The message is refused: its template changes are taken back, newest first. */
static void rollback(struct ipfix_decoder *d, struct exporter *x)
{
	while (d->n_undo) {
		struct undo *u = &d->undo[--d->n_undo];

		tmpl_set(x, u->id, u->old);
		free(u->new);
	}
}

/* The message is taken: the templates it replaced or withdrew go. */
static void commit_templates(struct ipfix_decoder *d)
{
	for (size_t i = 0; i < d->n_undo; i++)
		free(d->undo[i].old);
	d->n_undo = 0;
}

/* ---- decoder: parsing ------------------------------------------------------ */

/* The message in hand, bounds-checked before every read. */
struct cursor {
	struct ipfix_decoder *d;
	struct exporter *x;
	const uint8_t *p;
	size_t len; /* the message's length */
};

static enum slot slot_of(const struct ipfix_decoder *d, uint16_t id, bool ent, uint32_t pen)
{
	enum pen_kind k = !ent ? P_IANA : pen == IPFIX_PEN_REVERSE ? P_REVERSE : P_OWN;

	if (ent && k == P_OWN && pen != d->o.pen)
		return S_NONE;
	/* octetDeltaCount (1) stands for the payload bytes when the exporter chose it */
	if (id == IE_OCTETS_IP && k != P_OWN)
		return k == P_IANA ? S_OCT_FWD : S_OCT_REV;
	for (int s = 1; s < S__COUNT; s++)
		if (elements[s].id == id && elements[s].pen == k)
			return (enum slot)s;
	return S_NONE;
}

/* Whether a known element may have this field length; `why` says what it may have. */
static bool length_ok(enum slot s, uint16_t len, char *why, size_t n)
{
	const struct element *el = &elements[s];

	switch (el->type) {
	case T_UNSIGNED:
		if (len >= 1 && len <= el->size)
			return true;
		snprintf(why, n, "1..%u", el->size);
		return false;
	case T_DATETIME_MS:
	case T_ADDR4:
	case T_ADDR6:
		if (len == el->size)
			return true;
		snprintf(why, n, "%u", el->size);
		return false;
	case T_STRING:
	case T_OCTETS:
		if (len == VARLEN || len <= el->size)
			return true;
		snprintf(why, n, "0..%u or 65535 (variable)", el->size);
		return false;
	case T_LIST:
		if (len == VARLEN || len >= LIST_HEADER)
			return true;
		snprintf(why, n, "%d.. or 65535 (variable)", LIST_HEADER);
		return false;
	}
	return false;
}

/* Whether the template has exactly the fields of `def` (twice for repeated ones), any order. */
static bool has_fields(const struct tmpl *t, const uint8_t counts[S__COUNT],
		       const struct template_def *def)
{
	uint8_t want[S__COUNT] = { 0 };

	if (t->set_id != def->set_id)
		return false;
	if (def->set_id == SET_OPTIONS && (t->n_scope != 1 || t->f[0].slot != S_DOMAIN))
		return false;
	for (uint16_t i = 0; i < def->n; i++)
		want[def->slots[i]]++;
	for (int s = 1; s < S__COUNT; s++)
		if (want[s] && counts[s] != want[s])
			return false;
	return true;
}

/*
 * podflow's record kinds by their fields, whatever the template id and
 * order; extra fields are skipped.  A template missing one of them, or
 * naming one twice, is foreign: its records are counted, never guessed at.
 */
static enum kind classify(const struct tmpl *t)
{
	uint8_t counts[S__COUNT] = { 0 };

	for (uint16_t i = 0; i < t->n_fields; i++)
		if (counts[t->f[i].slot] < UINT8_MAX)
			counts[t->f[i].slot]++;
	if (has_fields(t, counts, &defs[0]) && !counts[S_SRC6] && !counts[S_DST6])
		return K_FLOW4;
	if (has_fields(t, counts, &defs[1]) && !counts[S_SRC4] && !counts[S_DST4])
		return K_FLOW6;
	if (has_fields(t, counts, &defs[2]))
		return K_IDENTITY;
	if (has_fields(t, counts, &defs[3]))
		return K_REPORT;
	return K_FOREIGN;
}

static bool same_template(const struct tmpl *a, const struct tmpl *b)
{
	if (a->set_id != b->set_id || a->n_fields != b->n_fields || a->n_scope != b->n_scope)
		return false;
	for (uint16_t i = 0; i < a->n_fields; i++)
		if (a->f[i].id != b->f[i].id || a->f[i].len != b->f[i].len ||
		    a->f[i].pen != b->f[i].pen)
			return false;
	return true;
}

/*
 * Installs the parsed template (d->scratch), replacing any of the same id.
 * A refresh, the same template again (RFC 7011 section 8.4: the normal
 * case over UDP), allocates nothing.
 */
static int install(struct cursor *c, const struct tmpl *parsed)
{
	struct ipfix_decoder *d = c->d;
	struct tmpl *old = tmpl_find(c->x, parsed->id), *t;
	size_t size = sizeof(*t) + parsed->n_fields * sizeof(t->f[0]);
	int err;

	if (old && same_template(old, parsed)) {
		d->mc.refreshed++;
		return 0;
	}
	if (!old && c->x->n_tmpls >= d->o.max_templates)
		return fail(d, -EBADMSG,
			    "template %u: the exporter already has %u templates, the most "
			    "(max_templates)",
			    parsed->id, c->x->n_tmpls);
	t = malloc(size);
	if (!t)
		return fail(d, -ENOMEM, "out of memory for a template");
	memcpy(t, parsed, size);
	err = undo_push(d, t->id, old, t);
	if (err) {
		free(t);
		return fail(d, err, "out of memory for a template");
	}
	tmpl_set(c->x, t->id, t);
	if (old)
		d->mc.replaced++;
	else
		d->mc.added++;
	return 0;
}

/* RFC 7011 section 8.1, ignored over UDP (section 8.4). */
static int withdraw(struct cursor *c, uint16_t set_id, uint16_t id)
{
	struct ipfix_decoder *d = c->d;
	struct exporter *x = c->x;
	bool any = false;
	int err;

	if (!d->o.withdrawals) {
		d->mc.ignored++;
		return 0;
	}
	for (uint32_t i = 0; i < x->n_tmpls;) {
		struct tmpl *t = x->tmpls[i];

		/* id == set_id: every template of that set (all data, or all options, templates) */
		if (t->set_id != set_id || (id != set_id && t->id != id)) {
			i++;
			continue;
		}
		err = undo_push(d, t->id, t, NULL);
		if (err)
			return fail(d, err, "out of memory for a withdrawal");
		tmpl_set(x, t->id, NULL); /* moves the last one here: look at i again */
		any = true;
	}
	if (any)
		d->mc.withdrawn++;
	else
		d->mc.ignored++; /* section 8.1: a template it does not have; "MUST ignore" */
	return 0;
}

static int truncated(struct ipfix_decoder *d, uint16_t id, size_t off)
{
	return fail(d, -EBADMSG,
		    "truncated: template %u ends in its field specifiers at offset %zu", id, off);
}

/* One template record at *off of a set ending at `end`, parsed into d->scratch. */
static int parse_template(struct cursor *c, uint16_t set_id, size_t *off, size_t end)
{
	struct ipfix_decoder *d = c->d;
	size_t o = *off, hdr = set_id == SET_OPTIONS ? 6 : 4;
	uint16_t id, count, scope = 0;
	uint32_t min_len = 0;
	struct tmpl *t;
	char why[64];

	id = get_u16(c->p + o);
	count = get_u16(c->p + o + 2);
	if (count == 0) {
		/* a withdrawal is 4 bytes in either set (section 8.1) */
		*off = o + 4;
		if (id < SET_DATA_MIN && id != set_id)
			return fail(d, -EBADMSG,
				    "set %u at offset %zu: withdrawal of template id %u (< 256, "
				    "and not %u for all)",
				    set_id, o, id, set_id);
		return withdraw(c, set_id, id);
	}
	if (id < SET_DATA_MIN)
		return fail(d, -EBADMSG, "template at offset %zu: id %u < 256", o, id);
	if (count > IPFIX_MAX_FIELDS)
		return fail(d, -EBADMSG, "template %u: field count %u over %d", id, count,
			    IPFIX_MAX_FIELDS);
	if (end - o < hdr)
		return fail(d, -EBADMSG, "truncated: options template %u header at offset %zu", id,
			    o);
	if (set_id == SET_OPTIONS) {
		scope = get_u16(c->p + o + 4);
		/* section 3.4.2.2: "The Scope Field Count MUST NOT be zero" */
		if (scope == 0 || scope > count)
			return fail(d, -EBADMSG,
				    "options template %u: scope field count %u, not 1..%u", id,
				    scope, count);
	}
	o += hdr;
	t = d->scratch;
	t->id = id;
	t->set_id = set_id;
	t->n_fields = count;
	t->n_scope = scope;
	for (uint16_t i = 0; i < count; i++) {
		struct field *f = &t->f[i];
		uint16_t raw;

		if (end - o < 4)
			return truncated(d, id, o);
		raw = get_u16(c->p + o);
		f->id = raw & ~ENTERPRISE_BIT;
		f->len = get_u16(c->p + o + 2);
		f->pen = 0;
		o += 4;
		if (raw & ENTERPRISE_BIT) {
			if (end - o < 4)
				return truncated(d, id, o);
			f->pen = get_u32(c->p + o);
			o += 4;
		}
		f->slot = (uint8_t)slot_of(d, f->id, raw & ENTERPRISE_BIT, f->pen);
		if (f->slot != S_NONE && !length_ok(f->slot, f->len, why, sizeof(why)))
			return fail(d, -EBADMSG, "template %u field %u (%s): length %u, not %s", id,
				    i, elements[f->slot].name, f->len, why);
		min_len += f->len == VARLEN ? 1 : f->len;
	}
	/* section 9: padding is what is shorter than the least record; a record must be some */
	if (min_len == 0 || min_len > IPFIX_MAX_MESSAGE - IPFIX_HEADER_SIZE - SET_HEADER)
		return fail(d, -EBADMSG, "template %u: records of at least %u bytes cannot be", id,
			    min_len);
	t->min_len = min_len;
	t->kind = (uint8_t)classify(t);
	*off = o;
	return install(c, t);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int parse_template_set(struct cursor *c, uint16_t set_id, size_t off, size_t end)
{
	int err;

	/*
	 * Section 3.3.1: padding is shorter than the least record, 4 bytes (a
	 * withdrawal).  An exporter aligning an options template set to 8
	 * bytes may pad 4 or more: zeros to the end are padding, never a
	 * record (template id 0 is no template).
	 */
	while (end - off >= 4) {
		if (!get_u16(c->p + off) && all_zero(c->p + off, end - off))
			return 0;
		err = parse_template(c, set_id, &off, end);
		if (err)
			return err;
	}
	for (; off < end; off++)
		if (c->p[off]) {
			c->d->mc.padding_nonzero++;
			break;
		}
	return 0;
}

/* One field's value in a data record. */
struct value {
	const uint8_t *p;
	size_t n;
};

/* A UTF-8 string of at most `max` bytes without NUL, copied NUL-terminated to `out`. */
static int get_text(struct ipfix_decoder *d, const struct value *v, size_t max, const char *what,
		    char *out)
{
	size_t bad = utf8_bad_at(v->p, v->n);

	if (v->n > max)
		return fail(d, -EBADMSG, "%s: %zu bytes, more than %zu", what, v->n, max);
	if (bad < v->n)
		return fail(d, -EBADMSG, "%s: byte 0x%02x at %zu is not UTF-8 (or is a NUL)", what,
			    v->p[bad], bad);
	memcpy(out, v->p, v->n);
	out[v->n] = '\0';
	return 0;
}

/* One RFC 6313 basicList of pod IPs (section 4.5.1), appended to the message's. */
static int get_ips(struct ipfix_decoder *d, const struct value *v, bool *seen4, bool *seen6)
{
	struct msg_opts *m = &d->mo;
	uint16_t fid, elen;
	size_t n;
	bool v4;

	if (v->n < LIST_HEADER)
		return fail(d, -EBADMSG, "report: basicList of %zu bytes, its header is 5", v->n);
	fid = get_u16(v->p + 1);
	elen = get_u16(v->p + 3);
	if (v->p[0] != LIST_ALL_OF)
		return fail(d, -EBADMSG, "report: basicList semantic 0x%02x, not allOf (0x03)",
			    v->p[0]);
	if (!((fid == IE_SRC4 && elen == 4) || (fid == IE_SRC6 && elen == 16)))
		return fail(d, -EBADMSG,
			    "report: basicList of element 0x%04x length %u, not sourceIPv4Address "
			    "(8, 4) or sourceIPv6Address (27, 16)",
			    fid, elen);
	v4 = fid == IE_SRC4;
	if (v4 ? *seen4 : *seen6)
		return fail(d, -EBADMSG, "report: two lists of IPv%d addresses", v4 ? 4 : 6);
	*(v4 ? seen4 : seen6) = true;
	n = v->n - LIST_HEADER;
	if (n % elen)
		return fail(d, -EBADMSG, "report: basicList of %zu bytes of %u-byte addresses", n,
			    elen);
	if (m->n_ips + n / elen > WIRE_MAX_IPS)
		return fail(d, -EBADMSG, "report: more than %d pod IPs", WIRE_MAX_IPS);
	for (const uint8_t *p = v->p + LIST_HEADER; p < v->p + v->n; p += elen) {
		uint8_t *ip = m->ips[m->n_ips++];

		if (v4) {
			memset(ip, 0, 10);
			ip[10] = ip[11] = 0xff;
			memcpy(ip + 12, p, 4);
		} else {
			memcpy(ip, p, 16);
			/* one spelling per address: an IPv4 one belongs in the IPv4 list */
			if (ip_is_v4mapped(ip))
				return fail(d, -EBADMSG,
					    "report: v4-mapped address in the IPv6 list (entry %u)",
					    (unsigned)((p - v->p - LIST_HEADER) / 16));
		}
	}
	return 0;
}

/* The raw values of a flow record, before they are turned into a struct flow_record. */
struct flow_vals {
	uint8_t src[16], dst[16];
	uint64_t u[S__COUNT]; /* the unsigned and dateTime slots */
	struct value comm, container_id, container;
};

static int flow_value(struct flow_vals *fv, enum slot s, const struct value *v)
{
	switch (s) {
	case S_SRC4:
	case S_DST4: {
		uint8_t *a = s == S_SRC4 ? fv->src : fv->dst;

		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, v->p, 4);
		return 0;
	}
	case S_SRC6:
		memcpy(fv->src, v->p, 16);
		return 0;
	case S_DST6:
		memcpy(fv->dst, v->p, 16);
		return 0;
	case S_COMM:
		fv->comm = *v;
		return 0;
	case S_CONTAINER_ID:
		fv->container_id = *v;
		return 0;
	case S_CONTAINER:
		fv->container = *v;
		return 0;
	case S_NONE:
		return 0; /* not podflow's: skipped (RFC 7011 section 9) */
	default:
		/* length_ok() held these to 1..8 bytes */
		if (elements[s].type == T_UNSIGNED || elements[s].type == T_DATETIME_MS)
			fv->u[s] = get_uint(v->p, v->n);
		return 0;
	}
}

/* The struct flow_record of a flow data record's values (the encoder's put_flow, reversed). */
static int flow_build(struct ipfix_decoder *d, struct flow_vals *fv, enum kind k,
		      struct flow_record *r)
{
	uint64_t *u = fv->u;
	bool out;
	char why[128];

	memset(r, 0, sizeof(*r));
	if (u[S_PROTO] != PROTO_TCP)
		return fail(d, -EBADMSG, "protocolIdentifier %llu, not 6 (TCP)",
			    (unsigned long long)u[S_PROTO]);
	if (u[S_BIFLOW_DIR] != BIFLOW_INITIATOR)
		return fail(d, -EBADMSG, "biflowDirection %llu, not 1 (initiator)",
			    (unsigned long long)u[S_BIFLOW_DIR]);
	if (u[S_FLOW_DIR] != FLOW_DIR_INGRESS && u[S_FLOW_DIR] != FLOW_DIR_EGRESS)
		return fail(d, -EBADMSG, "flowDirection %llu, not 0 (ingress) or 1 (egress)",
			    (unsigned long long)u[S_FLOW_DIR]);
	if (u[S_FLOWS] > UINT32_MAX)
		return fail(d, -EBADMSG, "deltaFlowCount %llu over 4294967295",
			    (unsigned long long)u[S_FLOWS]);
	if (fv->comm.n > COMM_MAX || (fv->comm.n && memchr(fv->comm.p, 0, fv->comm.n)))
		return fail(d, -EBADMSG, "podflowProcessName: %zu bytes%s, not 0..16 without NUL",
			    fv->comm.n, fv->comm.n > COMM_MAX ? "" : " with a NUL");
	if (fv->container_id.n > CONTAINER_ID_MAX)
		return fail(d, -EBADMSG, "podflowContainerId: %zu bytes, more than 64",
			    fv->container_id.n);
	if (fv->container.n > WIRE_MAX_STRING)
		return fail(d, -EBADMSG, "podflowContainerName: %zu bytes, more than %d",
			    fv->container.n, WIRE_MAX_STRING);
	out = u[S_FLOW_DIR] == FLOW_DIR_EGRESS;
	r->direction = out ? FLOW_DIRECTION_OUT : FLOW_DIRECTION_IN;
	r->family = k == K_FLOW4 ? 4 : 6;
	memcpy(r->local_addr, out ? fv->src : fv->dst, 16);
	memcpy(r->remote_addr, out ? fv->dst : fv->src, 16);
	r->local_port = (uint16_t)(out ? u[S_SPORT] : u[S_DPORT]);
	r->remote_port = (uint16_t)(out ? u[S_DPORT] : u[S_SPORT]);
	r->bytes_sent = out ? u[S_OCT_FWD] : u[S_OCT_REV];
	r->bytes_received = out ? u[S_OCT_REV] : u[S_OCT_FWD];
	r->segs_sent = out ? u[S_PKT_FWD] : u[S_PKT_REV];
	r->segs_received = out ? u[S_PKT_REV] : u[S_PKT_FWD];
	r->start_ms = u[S_START];
	r->end_ms = u[S_END];
	r->flows = (uint32_t)u[S_FLOWS];
	r->closed = (uint32_t)u[S_CLOSED];
	r->failed = (uint32_t)u[S_FAILED];
	r->retransmits = (uint32_t)u[S_RETRANS];
	r->resets = (uint32_t)u[S_RESETS];
	r->srtt_us = (uint32_t)u[S_SRTT];
	r->min_rtt_us = (uint32_t)u[S_MIN_RTT];
	r->pid = (uint32_t)u[S_PID];
	r->err = (uint16_t)u[S_ERR];
	r->cgroup_id = u[S_CGROUP];
	if (fv->comm.n)
		memcpy(r->comm, fv->comm.p, fv->comm.n);
	if (fv->container_id.n)
		memcpy(r->container_id, fv->container_id.p, fv->container_id.n);
	/* the arena holds the message's bytes: each name took its length + 1 of them */
	r->container = d->arena + d->arena_len;
	if (fv->container.n)
		memcpy(d->arena + d->arena_len, fv->container.p, fv->container.n);
	d->arena[d->arena_len + fv->container.n] = '\0';
	if (!record_valid(r, fv->container_id.n, fv->container.n, why, sizeof(why)))
		return fail(d, -EBADMSG, "%s", why);
	d->arena_len += fv->container.n + 1;
	r->remote_source = FLOW_SOURCE_UNATTRIBUTED;
	return 0;
}

static int identity_value(struct ipfix_decoder *d, enum slot s, const struct value *v)
{
	struct msg_opts *m = &d->mo;

	switch (s) {
	case S_DOMAIN:
		if (get_uint(v->p, v->n) != d->domain)
			return fail(d, -EBADMSG,
				    "identity: scope observationDomainId %llu is not the message's "
				    "%u",
				    (unsigned long long)get_uint(v->p, v->n), d->domain);
		return 0;
	case S_SENDER_ID:
		m->sender_id = get_uint(v->p, v->n);
		return 0;
	case S_POD:
	case S_NAMESPACE:
	case S_NODE:
	case S_APP:
	case S_WORKLOAD: {
		int i = s - S_POD;
		char what[32];

		snprintf(what, sizeof(what), "identity %s", id_names[i]);
		return get_text(d, v, WIRE_MAX_STRING, what, m->strs[i]);
	}
	default:
		return 0;
	}
}

static int report_value(struct ipfix_decoder *d, enum slot s, const struct value *v, bool *seen4,
			bool *seen6)
{
	struct msg_opts *m = &d->mo;

	switch (s) {
	case S_DOMAIN:
		if (get_uint(v->p, v->n) != d->domain)
			return fail(
			    d, -EBADMSG,
			    "report: scope observationDomainId %llu is not the message's %u",
			    (unsigned long long)get_uint(v->p, v->n), d->domain);
		return 0;
	case S_SENDER_ID:
		m->report_sender_id = get_uint(v->p, v->n);
		return 0;
	case S_REPORT_SEQ:
		m->report_seq = get_uint(v->p, v->n);
		return 0;
	case S_HB_START:
		m->span_start_ms = get_uint(v->p, v->n);
		return 0;
	case S_HB_END:
		m->span_end_ms = get_uint(v->p, v->n);
		return 0;
	case S_IP_LIST:
		return get_ips(d, v, seen4, seen6);
	default:
		if (s >= S_DROP0 && s <= S_DROP_LAST)
			m->drops[s - S_DROP0] = get_uint(v->p, v->n);
		return 0;
	}
}

/*
 * One data record of template `t` at *off (end: the set's end).  Every
 * length is checked against the set before the bytes are read.
 */
static int parse_record(struct cursor *c, const struct tmpl *t, size_t *off, size_t end,
			uint32_t idx, size_t set_at)
{
	struct ipfix_decoder *d = c->d;
	struct flow_vals fv;
	size_t o = *off;
	bool seen4 = false, seen6 = false;
	uint16_t i;
	int err = 0;

	if (t->kind == K_FLOW4 || t->kind == K_FLOW6)
		memset(&fv, 0, sizeof(fv));
	if (t->kind == K_IDENTITY || t->kind == K_REPORT) {
		bool *seen = t->kind == K_IDENTITY ? &d->mo.identity : &d->mo.report;

		if (*seen)
			return fail(d, -EBADMSG,
				    "set at offset %zu: a second %s record in one message", set_at,
				    t->kind == K_IDENTITY ? "identity" : "report");
		*seen = true;
		if (t->kind == K_REPORT)
			d->mo.n_ips = 0;
	}
	for (i = 0; i < t->n_fields && !err; i++) {
		const struct field *f = &t->f[i];
		struct value v;

		v.n = f->len;
		if (f->len == VARLEN) {
			if (end - o < 1)
				goto overrun;
			v.n = c->p[o++];
			if (v.n == 255) {
				/* section 7: the 3-byte form, allowed below 255 too */
				if (end - o < 2)
					goto overrun;
				v.n = get_u16(c->p + o);
				o += 2;
			}
		}
		if (end - o < v.n)
			goto overrun;
		v.p = c->p + o;
		o += v.n;
		switch (t->kind) {
		case K_FLOW4:
		case K_FLOW6:
			err = flow_value(&fv, (enum slot)f->slot, &v);
			break;
		case K_IDENTITY:
			err = identity_value(d, (enum slot)f->slot, &v);
			break;
		case K_REPORT:
			err = report_value(d, (enum slot)f->slot, &v, &seen4, &seen6);
			break;
		default:
			break;
		}
	}
	if (!err && (t->kind == K_FLOW4 || t->kind == K_FLOW6)) {
		err = flow_build(d, &fv, (enum kind)t->kind, &d->recs[d->n_recs]);
		if (!err)
			d->n_recs++;
	}
	if (!err && t->kind == K_REPORT && d->mo.span_start_ms > d->mo.span_end_ms)
		err = fail(d, -EBADMSG, "heartbeat span start %llu after its end %llu",
			   (unsigned long long)d->mo.span_start_ms,
			   (unsigned long long)d->mo.span_end_ms);
	if (err == -EBADMSG) {
		/* say where, in front of what was wrong */
		char why[sizeof(d->err)];

		memcpy(why, d->err, sizeof(why));
		return fail(d, err, "set at offset %zu (template %u) record %u: %s", set_at, t->id,
			    idx, why);
	}
	if (err)
		return err;
	if (t->kind == K_IDENTITY || t->kind == K_REPORT)
		d->mc.options++;
	else if (t->kind == K_FOREIGN)
		d->mc.foreign++;
	*off = o;
	return 0;
overrun:
	return fail(d, -EBADMSG,
		    "set at offset %zu (template %u) record %u: field %u overruns the set (at "
		    "offset %zu, set ends at %zu)",
		    set_at, t->id, idx, i, o, end);
}

static int parse_data_set(struct cursor *c, uint16_t set_id, size_t off, size_t end)
{
	struct ipfix_decoder *d = c->d;
	const struct tmpl *t = tmpl_find(c->x, set_id);
	size_t set_at = off - SET_HEADER;
	uint32_t idx = 0;
	int err;

	if (!t) {
		/* RFC 7011 section 9.3 lets a collector keep them for a template to come: not
		 * done (records of a reused id would be misread); counted and skipped */
		d->mc.unknown_sets++;
		d->mc.unknown_bytes += end - off;
		d->msg_unknown = true;
		return 0;
	}
	if (t->kind == K_FLOW4 || t->kind == K_FLOW6) {
		size_t most = d->n_recs + (end - off) / t->min_len;

		if (most > d->recs_cap) {
			struct flow_record *r = realloc(d->recs, most * sizeof(*r));

			if (!r)
				return fail(d, -ENOMEM, "out of memory for %zu records", most);
			d->recs = r;
			d->recs_cap = most;
		}
	}
	/* section 9: what is left shorter than the least record is padding */
	while (end - off >= t->min_len) {
		err = parse_record(c, t, &off, end, idx++, set_at);
		if (err)
			return err;
		d->n_data++;
	}
	for (; off < end; off++)
		if (c->p[off]) {
			/* section 3.3.1 says zeros, section 9.1 that this is not malformed */
			d->mc.padding_nonzero++;
			break;
		}
	return 0;
}

static int parse_sets(struct cursor *c)
{
	struct ipfix_decoder *d = c->d;
	size_t off = IPFIX_HEADER_SIZE;
	int err;

	while (off < c->len) {
		uint16_t id, len;

		if (c->len - off < SET_HEADER)
			return fail(
			    d, -EBADMSG,
			    "trailing: %zu bytes after the last set at offset %zu, short of "
			    "a set header",
			    c->len - off, off);
		id = get_u16(c->p + off);
		len = get_u16(c->p + off + 2);
		if (len < SET_HEADER)
			return fail(d, -EBADMSG, "set %u at offset %zu: length %u < 4", id, off,
				    len);
		if (len > c->len - off)
			return fail(d, -EBADMSG,
				    "set %u at offset %zu: length %u beyond the message (%zu bytes "
				    "left)",
				    id, off, len, c->len - off);
		if (id == SET_TEMPLATE || id == SET_OPTIONS)
			err = parse_template_set(c, id, off + SET_HEADER, off + len);
		else if (id >= SET_DATA_MIN)
			err = parse_data_set(c, id, off + SET_HEADER, off + len);
		else
			err = fail(d, -EBADMSG,
				   "set at offset %zu: id %u is reserved (RFC 7011 section 3.3.2)",
				   off, id);
		if (err)
			return err;
		off += len;
	}
	return 0;
}

/* The sequence number against the exporter's expectation (RFC 7011 section 3.1; mod 2^32). */
static enum ipfix_seq seq_check(struct exporter *x, uint32_t seq, uint32_t *missed)
{
	uint32_t ahead = seq - x->seq_next;

	*missed = 0;
	if (!x->seq_known)
		return IPFIX_SEQ_NEW;
	if (ahead == 0)
		return IPFIX_SEQ_OK;
	if (ahead < 0x80000000u) {
		*missed = ahead;
		return IPFIX_SEQ_GAP;
	}
	return (uint32_t)-ahead <= IPFIX_SEQ_LATE_WINDOW ? IPFIX_SEQ_LATE : IPFIX_SEQ_RESET;
}

/* The message is taken: exporter state, counters and the output. */
static void commit(struct ipfix_decoder *d, struct exporter *x, bool is_new, uint32_t seq,
		   uint32_t export_time)
{
	struct ipfix_msg *m = &d->msg;
	struct msg_opts *mo = &d->mo;
	struct ipfix_decoder_stats *st = &d->st;
	uint32_t missed, expected;
	enum ipfix_seq ss;

	commit_templates(d);
	if (is_new)
		exporter_take(d, x);
	else if (d->head != x) {
		lru_unlink(d, x);
		lru_push(d, x);
	}
	expected = x->seq_next;
	ss = seq_check(x, seq, &missed);
	if (ss != IPFIX_SEQ_LATE) {
		/* a late message leaves the expectation where the newest one put it */
		x->seq_next = seq + d->n_data;
		x->seq_known = !d->msg_unknown;
	}
	if (mo->identity) {
		x->identity = true;
		x->sender_id = mo->sender_id;
		memcpy(x->strs, mo->strs, sizeof(x->strs));
	} else if (ss == IPFIX_SEQ_RESET) {
		x->identity = false; /* a restart: its identity comes again */
	}
	if (mo->report) {
		if (x->identity && x->sender_id != mo->report_sender_id) {
			/* another process behind the same exporter key: never misattribute */
			x->identity = false;
			st->sender_mismatches++;
		}
		x->report_seq = mo->report_seq;
	}

	memset(m, 0, sizeof(*m));
	m->domain_id = x->domain;
	m->export_time = export_time;
	m->seq = seq;
	m->seq_status = ss;
	m->seq_expected = ss == IPFIX_SEQ_NEW ? 0 : expected;
	m->missed = missed;
	m->data_records = d->n_data;
	m->unknown_sets = d->mc.unknown_sets;
	m->foreign_records = d->mc.foreign;
	m->sender_known = x->identity;
	m->has_identity = mo->identity;
	m->has_report = mo->report;
	if (x->identity) {
		for (int i = 0; i < 5; i++)
			*id_field(&m->batch.sender, i) = x->strs[i];
		m->batch.sender_id = x->sender_id;
	}
	m->batch.seq = x->report_seq;
	if (mo->report) {
		m->batch.span_start_ms = mo->span_start_ms;
		m->batch.span_end_ms = mo->span_end_ms;
		m->batch.n_ips = mo->n_ips;
		m->batch.ips = (const uint8_t(*)[16])mo->ips;
		memcpy(m->batch.drops, mo->drops, sizeof(mo->drops));
	}
	m->batch.n_records = d->n_recs;
	m->batch.records = d->recs;
	for (uint32_t i = 0; i < d->n_recs; i++)
		d->recs[i].local = x->identity ? &m->batch.sender : NULL;

	st->messages++;
	st->records += d->n_recs;
	st->records_no_sender += x->identity ? 0 : d->n_recs;
	st->options_records += d->mc.options;
	st->unknown_sets += d->mc.unknown_sets;
	st->unknown_set_bytes += d->mc.unknown_bytes;
	st->foreign_records += d->mc.foreign;
	st->templates_added += d->mc.added;
	st->templates_replaced += d->mc.replaced;
	st->templates_refreshed += d->mc.refreshed;
	st->withdrawals += d->mc.withdrawn;
	st->withdrawals_ignored += d->mc.ignored;
	st->padding_nonzero += d->mc.padding_nonzero;
	st->seq_gaps += ss == IPFIX_SEQ_GAP;
	st->seq_missed += missed;
	st->seq_late += ss == IPFIX_SEQ_LATE;
	st->seq_resets += ss == IPFIX_SEQ_RESET;
}

int ipfix_decoder__decode(struct ipfix_decoder *d, const struct ipfix_source *src, const void *msg,
			  size_t len, struct ipfix_msg **out)
{
	static const struct ipfix_source none;
	const uint8_t *p = msg;
	struct cursor c = { .d = d, .p = p };
	uint16_t version, mlen;
	struct exporter *x;
	bool is_new;
	int err;

	*out = NULL;
	d->err[0] = '\0';
	if (!src)
		src = &none;
	if (!p)
		len = 0;
	if (len < IPFIX_HEADER_SIZE) {
		d->st.malformed++;
		return fail(d, -EBADMSG,
			    "truncated: %zu bytes, short of the 16-byte message header", len);
	}
	version = get_u16(p);
	if (version != IPFIX_VERSION) {
		d->st.unsupported++;
		return fail(d, -EPROTONOSUPPORT, "version %u not supported (IPFIX is 10)", version);
	}
	mlen = get_u16(p + 2);
	err = 0;
	if (mlen < IPFIX_HEADER_SIZE)
		err = fail(d, -EBADMSG, "message length %u, short of its 16-byte header", mlen);
	else if (mlen > len)
		err = fail(d, -EBADMSG, "truncated: message length %u, datagram %zu bytes", mlen,
			   len);
	else if (mlen < len)
		/* one message per datagram: anything after it is not IPFIX */
		err = fail(d, -EBADMSG, "trailing: %zu bytes after the %u-byte message", len - mlen,
			   mlen);
	if (err) {
		d->st.malformed++;
		return err;
	}
	d->domain = get_u32(p + 12);
	x = exporter_find(d, src->addr, src->port, d->domain);
	is_new = !x;
	if (is_new) {
		x = exporter_spare(d, src->addr, src->port, d->domain);
		if (!x)
			return fail(d, -ENOMEM, "out of memory for an exporter");
	}
	c.x = x;
	c.len = mlen;
	memset(&d->mo, 0, sizeof(d->mo));
	memset(&d->mc, 0, sizeof(d->mc));
	d->msg_unknown = false;
	d->n_data = 0;
	d->n_recs = 0;
	d->arena_len = 0;
	d->n_undo = 0;
	err = parse_sets(&c);
	if (err) {
		rollback(d, x);
		if (err == -EBADMSG)
			d->st.malformed++;
		return err;
	}
	commit(d, x, is_new, get_u32(p + 8), get_u32(p + 4));
	*out = &d->msg;
	return 0;
}
