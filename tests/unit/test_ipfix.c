// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for lib/ipfix: exact bytes, round trips, sequence numbers, templates, every refusal. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../report.h"
#include "flow.h"
#include "ipfix.h"
#include "wire.h"

#define PEN	   32473 /* IPFIX_DEFAULT_PEN, written out: the tests check the bytes */
#define REV	   29305
#define VAR	   0xffff
#define DOMAIN	   0x01020304u
#define EXPORT_S   0x65000000u
#define MAX_MSGS   4096
#define MAX_GOT	   8192
#define T_FLOW4	   256
#define T_FLOW6	   257
#define T_IDENTITY 258
#define T_REPORT   259

/* ---- captured messages ---------------------------------------------------- */

struct cap {
	size_t n;
	uint8_t *msg[MAX_MSGS];
	size_t len[MAX_MSGS];
	uint32_t recs[MAX_MSGS];
};

static void cap_send(void *ctx, const void *msg, size_t len, uint32_t records)
{
	struct cap *c = ctx;

	assert_true(c->n < MAX_MSGS);
	c->msg[c->n] = malloc(len);
	assert_non_null(c->msg[c->n]);
	memcpy(c->msg[c->n], msg, len);
	c->len[c->n] = len;
	c->recs[c->n] = records;
	c->n++;
}

static void cap_free(struct cap *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->msg[i]);
	c->n = 0;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- records ------------------------------------------------------------- */

static void addr_v4(uint8_t a[16], uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3)
{
	memset(a, 0, 10);
	a[10] = a[11] = 0xff;
	a[12] = b0;
	a[13] = b1;
	a[14] = b2;
	a[15] = b3;
}

static void addr_v6(uint8_t a[16], uint8_t last)
{
	static const uint8_t base[16] = { 0x20, 0x01, 0x0d, 0xb8 };

	memcpy(a, base, 16);
	a[15] = last;
}

/* The record of test_record_bytes: IPv4, out, 10.0.0.7:40000 -> 10.0.0.9:443. */
static struct flow_record rec(void)
{
	struct flow_record r = { 0 };

	r.start_ms = 1700000000000ull;
	r.end_ms = 1700000001000ull;
	r.bytes_sent = 100;
	r.bytes_received = 2000;
	r.segs_sent = 5;
	r.segs_received = 6;
	r.flows = 1;
	r.closed = 1;
	r.retransmits = 2;
	r.srtt_us = 300;
	r.min_rtt_us = 200;
	r.pid = 4242;
	r.local_port = 40000;
	r.remote_port = 443;
	r.family = 4;
	r.direction = FLOW_DIRECTION_OUT;
	addr_v4(r.local_addr, 10, 0, 0, 7);
	addr_v4(r.remote_addr, 10, 0, 0, 9);
	r.cgroup_id = 0x1234;
	memcpy(r.container_id, "abc", 4);
	r.container = "app";
	memcpy(r.comm, "curl", 5);
	return r;
}

/* Every field different from its neighbours and from its defaults; `i` varies it. */
static struct flow_record rec_full(unsigned i, int family, uint8_t direction)
{
	struct flow_record r = { 0 };

	r.start_ms = 1700000000000ull + i;
	r.end_ms = 1700000009000ull + 2 * i;
	r.bytes_sent = 0x0102030405060708ull + i;
	r.bytes_received = UINT64_MAX - i;
	r.segs_sent = 0x1111111111ull + i;
	r.segs_received = 0x2222222222ull + i;
	r.flows = UINT32_MAX - i;
	r.closed = UINT32_MAX - i - 1;
	r.failed = UINT32_MAX - i - 2;
	r.retransmits = 0x33333333u + i;
	r.resets = 0x44444444u + i;
	r.srtt_us = 0x55555555u + i;
	r.min_rtt_us = 0x66666666u + i;
	r.pid = 0x77777777u + i;
	r.local_port = (uint16_t)(1000 + i);
	r.remote_port = (uint16_t)(60000 + i);
	r.err = (uint16_t)(111 + i); /* ECONNREFUSED and on */
	r.family = (uint8_t)family;
	r.direction = direction;
	if (family == 4) {
		addr_v4(r.local_addr, 10, 1, (uint8_t)(i >> 8), (uint8_t)i);
		addr_v4(r.remote_addr, 192, 168, 7, (uint8_t)(i + 1));
	} else {
		addr_v6(r.local_addr, (uint8_t)i);
		addr_v6(r.remote_addr, (uint8_t)(i + 100));
		r.remote_addr[8] = 0xfe;
	}
	r.cgroup_id = 0xfedcba9876543210ull - i;
	snprintf(r.container_id, sizeof(r.container_id), "%064x", i);
	r.container = i % 2 ? "sidecar" : "";
	snprintf(r.comm, sizeof(r.comm), "proc-%u", i);
	return r;
}

static const uint8_t hb_ips[2][16] = {
	{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 7 },
	{ 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7 },
};

static struct wire_header header(void)
{
	struct wire_header h = {
		.sender_id = 0x1122334455667788ull,
		.seq = 7,
		.sender = { .pod = "web-1",
			    .namespace = "shop",
			    .node = "n1",
			    .app = "web",
			    .workload = "web" },
		.span_start_ms = 1700000000000ull,
		.span_end_ms = 1700000010000ull,
		.n_ips = 1,
		.ips = hb_ips,
		.drops = { 1, 0, 0, 0, 5 },
	};

	return h;
}

static struct ipfix_encoder *encoder(struct cap *c, uint32_t max_message)
{
	struct ipfix_encoder_opts o = { .domain_id = DOMAIN, .max_message = max_message };
	struct ipfix_encoder *e = ipfix_encoder__new(&o, cap_send, c);

	assert_non_null(e);
	return e;
}

static struct ipfix_decoder *decoder(uint32_t max_exporters, uint32_t max_templates,
				     bool withdrawals)
{
	struct ipfix_decoder_opts o = {
		.max_exporters = max_exporters,
		.max_templates = max_templates,
		.withdrawals = withdrawals,
	};
	struct ipfix_decoder *d = ipfix_decoder__new(&o);

	assert_non_null(d);
	return d;
}

static const struct ipfix_source src1 = { .addr = { [10] = 0xff, [11] = 0xff, 10, 0, 0, 7 },
					  .port = 50000 };

static struct ipfix_msg *decode_ok(struct ipfix_decoder *d, const struct ipfix_source *s,
				   const void *msg, size_t len)
{
	struct ipfix_msg *m = NULL;
	int rc = ipfix_decoder__decode(d, s, msg, len, &m);

	if (rc) {
		print_error("decode: %d: %s\n", rc, ipfix_decoder__error(d));
		fail();
	}
	assert_non_null(m);
	return m;
}

/* What the decoder gave, copied out of its memory (valid only until its next call). */
struct got {
	size_t n;
	struct flow_record r[MAX_GOT];
	char container[MAX_GOT][WIRE_MAX_STRING + 1];
	bool sender[MAX_GOT]; /* its local was the message's sender */
	size_t reports;
	struct wire_batch hb; /* the last report's */
	uint8_t ips[WIRE_MAX_IPS][16];
	char ids[5][WIRE_MAX_STRING + 1];
};

static void collect(struct got *g, const struct ipfix_msg *m)
{
	const struct wire_batch *b = &m->batch;

	for (uint32_t i = 0; i < b->n_records; i++) {
		assert_true(g->n < MAX_GOT);
		g->r[g->n] = b->records[i];
		assert_non_null(b->records[i].container);
		snprintf(g->container[g->n], sizeof(g->container[0]), "%s",
			 b->records[i].container);
		g->r[g->n].container = g->container[g->n];
		g->sender[g->n] = b->records[i].local == &b->sender && m->sender_known;
		assert_null(b->records[i].remote);
		assert_int_equal(b->records[i].remote_source, FLOW_SOURCE_UNATTRIBUTED);
		g->n++;
	}
	if (m->has_report) {
		g->reports++;
		g->hb = *b;
		memcpy(g->ips, b->ips, (size_t)b->n_ips * 16);
		g->hb.ips = (const uint8_t(*)[16])g->ips;
		if (m->sender_known) {
			const char *s[5] = { b->sender.pod, b->sender.namespace, b->sender.node,
					     b->sender.app, b->sender.workload };

			for (int i = 0; i < 5; i++)
				snprintf(g->ids[i], sizeof(g->ids[i]), "%s", s[i]);
		}
	}
}

static void decode_all(struct ipfix_decoder *d, const struct cap *c, struct got *g)
{
	for (size_t i = 0; i < c->n; i++)
		collect(g, decode_ok(d, &src1, c->msg[i], c->len[i]));
}

static void assert_record(const struct flow_record *want, const struct flow_record *got)
{
	assert_int_equal(got->start_ms, want->start_ms);
	assert_int_equal(got->end_ms, want->end_ms);
	assert_int_equal(got->bytes_sent, want->bytes_sent);
	assert_int_equal(got->bytes_received, want->bytes_received);
	assert_int_equal(got->segs_sent, want->segs_sent);
	assert_int_equal(got->segs_received, want->segs_received);
	assert_int_equal(got->cgroup_id, want->cgroup_id);
	assert_int_equal(got->flows, want->flows);
	assert_int_equal(got->closed, want->closed);
	assert_int_equal(got->failed, want->failed);
	assert_int_equal(got->retransmits, want->retransmits);
	assert_int_equal(got->resets, want->resets);
	assert_int_equal(got->srtt_us, want->srtt_us);
	assert_int_equal(got->min_rtt_us, want->min_rtt_us);
	assert_int_equal(got->pid, want->pid);
	assert_int_equal(got->local_port, want->local_port);
	assert_int_equal(got->remote_port, want->remote_port);
	assert_int_equal(got->err, want->err);
	assert_int_equal(got->family, want->family);
	assert_int_equal(got->direction, want->direction);
	assert_memory_equal(got->local_addr, want->local_addr, 16);
	assert_memory_equal(got->remote_addr, want->remote_addr, 16);
	assert_memory_equal(got->comm, want->comm, sizeof(got->comm));
	assert_string_equal(got->container_id, want->container_id);
	assert_string_equal(got->container, want->container ? want->container : "");
}

static void assert_header(const struct wire_header *h, const struct got *g)
{
	const char *s[5] = { h->sender.pod, h->sender.namespace, h->sender.node, h->sender.app,
			     h->sender.workload };

	for (int i = 0; i < 5; i++)
		assert_string_equal(g->ids[i], s[i] ? s[i] : "");
	assert_int_equal(g->hb.sender_id, h->sender_id);
	assert_int_equal(g->hb.seq, h->seq);
	assert_int_equal(g->hb.span_start_ms, h->span_start_ms);
	assert_int_equal(g->hb.span_end_ms, h->span_end_ms);
	assert_int_equal(g->hb.n_ips, h->n_ips);
	for (int i = 0; i < WIRE_DROP__COUNT; i++)
		assert_int_equal(g->hb.drops[i], h->drops[i]);
}

/* Encodes one report of `n` records; the messages land in `c`. */
static void report(struct ipfix_encoder *e, const struct wire_header *h,
		   const struct flow_record *r, size_t n)
{
	assert_int_equal(ipfix_encoder__begin(e, h, EXPORT_S), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ipfix_encoder__add(e, &r[i]), 0);
	ipfix_encoder__end(e);
}

/* ---- exact bytes ------------------------------------------------------------ */

/* A field specifier as the tests write them (RFC 7011 section 3.2). */
struct spec {
	uint16_t id;
	uint32_t pen; /* 0: none */
	uint16_t len;
};

static const struct spec flow4_spec[27] = {
	{ 8, 0, 4 },	  { 12, 0, 4 },	    { 7, 0, 2 },   { 11, 0, 2 },  { 4, 0, 1 },
	{ 61, 0, 1 },	  { 239, 0, 1 },    { 136, 0, 1 }, { 152, 0, 8 }, { 153, 0, 8 },
	{ 401, 0, 8 },	  { 401, REV, 8 },  { 2, 0, 8 },   { 2, REV, 8 }, { 3, 0, 4 },
	{ 1, PEN, 4 },	  { 2, PEN, 4 },    { 3, PEN, 4 }, { 4, PEN, 4 }, { 5, PEN, 4 },
	{ 6, PEN, 4 },	  { 7, PEN, 4 },    { 8, PEN, 2 }, { 9, PEN, 8 }, { 10, PEN, VAR },
	{ 11, PEN, VAR }, { 12, PEN, VAR },
};
static const struct spec identity_spec[7] = {
	{ 149, 0, 4 },	  { 20, PEN, 8 },   { 21, PEN, VAR }, { 22, PEN, VAR },
	{ 23, PEN, VAR }, { 24, PEN, VAR }, { 25, PEN, VAR },
};
static const struct spec report_spec[12] = {
	{ 149, 0, 4 },	{ 20, PEN, 8 },	 { 30, PEN, 8 },  { 31, PEN, 8 },
	{ 32, PEN, 8 }, { 291, 0, VAR }, { 291, 0, VAR }, { 33, PEN, 8 },
	{ 34, PEN, 8 }, { 35, PEN, 8 },	 { 36, PEN, 8 },  { 37, PEN, 8 },
};

/* A message under construction, for the expected bytes and for hand-made inputs. */
struct mb {
	uint8_t b[IPFIX_MAX_MESSAGE + 64];
	size_t len, set_at;
};

static void mb_u8(struct mb *m, uint8_t v)
{
	m->b[m->len++] = v;
}

static void mb_u16(struct mb *m, uint16_t v)
{
	mb_u8(m, (uint8_t)(v >> 8));
	mb_u8(m, (uint8_t)v);
}

static void mb_u32(struct mb *m, uint32_t v)
{
	mb_u16(m, (uint16_t)(v >> 16));
	mb_u16(m, (uint16_t)v);
}

static void mb_u64(struct mb *m, uint64_t v)
{
	mb_u32(m, (uint32_t)(v >> 32));
	mb_u32(m, (uint32_t)v);
}

static void mb_bytes(struct mb *m, const void *p, size_t n)
{
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

/* A variable-length value, the short length form (RFC 7011 section 7). */
static void mb_var(struct mb *m, const void *p, size_t n)
{
	mb_u8(m, (uint8_t)n);
	mb_bytes(m, p, n);
}

static void mb_begin(struct mb *m, uint32_t seq, uint32_t domain)
{
	m->len = 0;
	mb_u16(m, 10);
	mb_u16(m, 0); /* length, at mb_end */
	mb_u32(m, EXPORT_S);
	mb_u32(m, seq);
	mb_u32(m, domain);
}

static void mb_set(struct mb *m, uint16_t id)
{
	m->set_at = m->len;
	mb_u16(m, id);
	mb_u16(m, 0);
}

static void mb_set_end(struct mb *m)
{
	m->b[m->set_at + 2] = (uint8_t)((m->len - m->set_at) >> 8);
	m->b[m->set_at + 3] = (uint8_t)(m->len - m->set_at);
}

static size_t mb_end(struct mb *m)
{
	m->b[2] = (uint8_t)(m->len >> 8);
	m->b[3] = (uint8_t)m->len;
	return m->len;
}

/* A template record (section 3.4.1), or with scope >= 0 an options template record (3.4.2.2). */
static void mb_template(struct mb *m, uint16_t id, const struct spec *s, size_t n, int scope)
{
	mb_u16(m, id);
	mb_u16(m, (uint16_t)n);
	if (scope >= 0)
		mb_u16(m, (uint16_t)scope);
	for (size_t i = 0; i < n; i++) {
		mb_u16(m, (uint16_t)(s[i].id | (s[i].pen ? 0x8000 : 0)));
		mb_u16(m, s[i].len);
		if (s[i].pen)
			mb_u32(m, s[i].pen);
	}
}

/* Template 256/257's v4 variant with IPv6 addresses: sourceIPv6Address (27) etc. */
static void flow6_spec(struct spec out[27])
{
	memcpy(out, flow4_spec, sizeof(flow4_spec));
	out[0] = (struct spec){ 27, 0, 16 };
	out[1] = (struct spec){ 28, 0, 16 };
}

/*
 * The template message, laid out by hand from RFC 7011 sections 3.1 to
 * 3.4 and compared byte by byte: one template set (2) with 256 and 257,
 * one options template set (3) with 258 and 259 (scope: the first field).
 */
static void test_template_bytes(void **state)
{
	struct cap c = { 0 };
	struct ipfix_encoder *e = encoder(&c, 0);
	struct spec f6[27];
	struct mb m;

	(void)state;
	flow6_spec(f6);
	ipfix_encoder__send_templates(e, EXPORT_S);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.recs[0], 0);

	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_template(&m, T_FLOW4, flow4_spec, 27, -1);
	mb_template(&m, T_FLOW6, f6, 27, -1);
	mb_set_end(&m);
	mb_set(&m, 3);
	mb_template(&m, T_IDENTITY, identity_spec, 7, 1);
	mb_template(&m, T_REPORT, report_spec, 12, 1);
	mb_set_end(&m);
	mb_end(&m);
	/* 16 + (4 + 2 x 168) + (4 + 58 + 90) */
	assert_int_equal(m.len, 508);
	assert_int_equal(c.len[0], m.len);
	assert_memory_equal(c.msg[0], m.b, m.len);
	/* the first field specifier, spelled out: sourceIPv4Address (8), 4 bytes */
	assert_memory_equal(c.msg[0] + 24, "\x00\x08\x00\x04", 4);
	/* reverse transportOctetDeltaCount: enterprise bit on 401, PEN 29305 (RFC 5103) */
	assert_memory_equal(c.msg[0] + 24 + 44, "\x81\x91\x00\x08\x00\x00\x72\x79", 8);
	/* seq unchanged: template records are not data records (section 3.1) */
	assert_int_equal(ipfix_encoder__seq(e), 0);
	assert_int_equal(ipfix_encoder__stats(e)->template_messages, 1);
	ipfix_encoder__free(e);
	cap_free(&c);
}

#define B64(v)                                                                                  \
	(uint8_t)((v) >> 56), (uint8_t)((v) >> 48), (uint8_t)((v) >> 40), (uint8_t)((v) >> 32), \
	    (uint8_t)((v) >> 24), (uint8_t)((v) >> 16), (uint8_t)((v) >> 8), (uint8_t)(v)
#define B32(v) (uint8_t)((v) >> 24), (uint8_t)((v) >> 16), (uint8_t)((v) >> 8), (uint8_t)(v)

/*
 * One known IPv4 record and its report, computed by hand: the identity
 * record (set 258), the report record (set 259, RFC 6313 basicLists) and
 * the flow record (set 256) of rec(), checked byte by byte.
 */
static void test_record_bytes(void **state)
{
	static const uint8_t want[] = {
		/* message header (RFC 7011 section 3.1): version 10, length 273, export
		 * time, sequence number 0 (nothing sent before), observation domain */
		0x00, 0x0a, 0x01, 0x11, B32(EXPORT_S), B32(0), B32(DOMAIN),
		/* set 258, 38 bytes: the identity record */
		0x01, 0x02, 0x00, 0x26, B32(DOMAIN), /* scope: observationDomainId */
		B64(0x1122334455667788ull),	     /* podflowSenderId */
		5, 'w', 'e', 'b', '-', '1',	     /* podflowPodName, section 7 */
		4, 's', 'h', 'o', 'p',		     /* podflowPodNamespace */
		2, 'n', '1',			     /* podflowNodeName */
		3, 'w', 'e', 'b',		     /* podflowAppName */
		3, 'w', 'e', 'b',		     /* podflowWorkloadName */
		/* set 259, 96 bytes: the report record */
		0x01, 0x03, 0x00, 0x60, B32(DOMAIN), /* scope */
		B64(0x1122334455667788ull),	     /* podflowSenderId */
		B64(7ull),			     /* podflowReportSequence */
		B64(1700000000000ull),		     /* podflowHeartbeatStartMilliseconds */
		B64(1700000010000ull),		     /* podflowHeartbeatEndMilliseconds */
		9, 0x03, 0x00, 0x08, 0x00, 0x04,     /* basicList: allOf, sourceIPv4Address, 4 */
		10, 0, 0, 7, 5, 0x03, 0x00, 0x1b, 0x00,
		0x10, /* basicList of sourceIPv6Address: empty */
		B64(1ull), B64(0ull), B64(0ull), B64(0ull), B64(5ull), /* drops */
		/* set 256, 123 bytes: the flow record; source = the initiator = local (out) */
		0x01, 0x00, 0x00, 0x7b, 10, 0, 0, 7, /* sourceIPv4Address */
		10, 0, 0, 9,			     /* destinationIPv4Address */
		0x9c, 0x40,			     /* sourceTransportPort 40000 */
		0x01, 0xbb,			     /* destinationTransportPort 443 */
		6,				     /* protocolIdentifier: TCP */
		1,				     /* flowDirection: egress (the pod connected) */
		1,				     /* biflowDirection: initiator */
		3,				     /* flowEndReason: end of flow detected */
		B64(1700000000000ull),		     /* flowStartMilliseconds */
		B64(1700000001000ull),		     /* flowEndMilliseconds */
		B64(100ull),			     /* transportOctetDeltaCount: bytes_sent */
		B64(2000ull),			     /* reverse: bytes_received */
		B64(5ull),			     /* packetDeltaCount: segs_sent */
		B64(6ull),			     /* reverse: segs_received */
		B32(1),				     /* deltaFlowCount, reduced to 4 bytes */
		B32(1), B32(0),			     /* podflowClosedCount, podflowFailedCount */
		B32(2), B32(0),			     /* retransmits, resets */
		B32(300), B32(200),		     /* srtt, min rtt (us) */
		B32(4242),			     /* podflowProcessId */
		0x00, 0x00,			     /* podflowErrno */
		B64(0x1234ull),			     /* podflowCgroupId */
		4, 'c', 'u', 'r', 'l',		     /* podflowProcessName */
		3, 'a', 'b', 'c',		     /* podflowContainerId */
		3, 'a', 'p', 'p',		     /* podflowContainerName */
	};
	struct cap c = { 0 };
	struct ipfix_encoder *e = encoder(&c, 0);
	struct wire_header h = header();
	struct flow_record r = rec();

	(void)state;
	assert_int_equal(sizeof(want), 273);
	report(e, &h, &r, 1);
	assert_int_equal(c.n, 2); /* the templates first (section 8.4), then the report */
	assert_int_equal(c.len[1], sizeof(want));
	assert_memory_equal(c.msg[1], want, sizeof(want));
	assert_int_equal(c.recs[1], 1);
	/* three data records went: the next message's sequence number */
	assert_int_equal(ipfix_encoder__seq(e), 3);
	ipfix_encoder__free(e);
	cap_free(&c);
}

/* ---- round trips ------------------------------------------------------------ */

static void round_trip(const struct wire_header *h, const struct flow_record *r, size_t n,
		       uint32_t max_message)
{
	struct cap c = { 0 };
	struct ipfix_encoder *e = encoder(&c, max_message);
	struct ipfix_decoder *d = decoder(0, 0, false);
	static struct got g;

	memset(&g, 0, sizeof(g));
	report(e, h, r, n);
	decode_all(d, &c, &g);
	assert_int_equal(g.n, n);
	for (size_t i = 0; i < n; i++) {
		assert_record(&r[i], &g.r[i]);
		assert_true(g.sender[i]);
	}
	assert_int_equal(g.reports, 1);
	assert_header(h, &g);
	for (size_t i = 0; i < c.n; i++)
		assert_true(c.len[i] <= (max_message ? max_message : IPFIX_DEFAULT_MAX_MESSAGE));
	assert_int_equal(ipfix_decoder__stats(d)->records, n);
	assert_int_equal(ipfix_decoder__stats(d)->records_no_sender, 0);
	assert_int_equal(ipfix_decoder__stats(d)->seq_gaps, 0);
	ipfix_decoder__free(d);
	ipfix_encoder__free(e);
	cap_free(&c);
}

/* IPv4 and IPv6, out and in, every field at unusual values, in their order. */
static void test_round_trip_every_field(void **state)
{
	struct flow_record r[8];
	struct wire_header h = header();

	(void)state;
	for (unsigned i = 0; i < 8; i++)
		r[i] = rec_full(i, i % 3 ? 4 : 6, i % 2 ? FLOW_DIRECTION_IN : FLOW_DIRECTION_OUT);
	/* an IPv6 record may talk to a v4-mapped peer (docs/wire.md "Record") */
	addr_v4(r[0].remote_addr, 1, 2, 3, 4);
	/* a late RST: flows 0 */
	r[1].flows = r[1].closed = r[1].failed = 0;
	/* zeros and empties */
	memset(r[2].comm, 0, sizeof(r[2].comm));
	r[2].container_id[0] = '\0';
	r[2].container = NULL;
	h.n_ips = 2;
	round_trip(&h, r, 8, 0);
	round_trip(&h, r, 8, IPFIX_MIN_MESSAGE);
	round_trip(&h, r, 8, IPFIX_MAX_MESSAGE);
	round_trip(&h, r, 0, 0); /* a heartbeat without records */
}

/*
 * The longest strings (253-byte UTF-8 names with multi-byte characters,
 * 64-digit container ids, a 16-byte comm that is not UTF-8), 64 IPv6 pod
 * IPs (the list takes the 3-byte length form) and an empty identity.
 */
static void test_round_trip_long_strings(void **state)
{
	static char name[WIRE_MAX_STRING + 1], ident[5][WIRE_MAX_STRING + 1];
	static uint8_t ips[WIRE_MAX_IPS][16];
	struct flow_record r[3];
	struct wire_header h = header();
	size_t n = 0;

	(void)state;
	/* "é" (2 bytes) and "€" (3 bytes) in turn, up to exactly 253 bytes */
	for (int k = 0; n + 3 <= WIRE_MAX_STRING; k++) {
		memcpy(name + n, k % 2 ? "\xe2\x82\xac" : "\xc3\xa9", k % 2 ? 3 : 2);
		n += k % 2 ? 3 : 2;
	}
	while (n < WIRE_MAX_STRING)
		name[n++] = 'x';
	name[n] = '\0';
	assert_int_equal(strlen(name), WIRE_MAX_STRING);
	for (int i = 0; i < 5; i++) {
		memcpy(ident[i], name, sizeof(name));
		ident[i][WIRE_MAX_STRING - 1] = (char)('a' + i);
	}
	h.sender = (struct flow_identity){ .pod = ident[0],
					   .namespace = ident[1],
					   .node = ident[2],
					   .app = ident[3],
					   .workload = ident[4] };
	for (int i = 0; i < WIRE_MAX_IPS; i++)
		addr_v6(ips[i], (uint8_t)i);
	h.ips = (const uint8_t(*)[16])ips;
	h.n_ips = WIRE_MAX_IPS;
	for (unsigned i = 0; i < 3; i++) {
		r[i] = rec_full(i, i == 1 ? 6 : 4, FLOW_DIRECTION_OUT);
		memset(r[i].container_id, 'f', 64);
		r[i].container = name;
		memcpy(r[i].comm, "\xff\xfe\x80kworker/0:1-ev", 16);
	}
	round_trip(&h, r, 3, 0);
	round_trip(&h, r, 3, IPFIX_MAX_MESSAGE);
	h.sender = (struct flow_identity){ 0 };
	h.n_ips = 0;
	round_trip(&h, r, 3, IPFIX_MIN_MESSAGE);
}

/*
 * The comparison: the same records over HTTP/2 (lib/wire) and
 * over IPFIX come out field by field the same, sender identity included;
 * only the transport's own fields differ.
 */
static void test_same_as_wire(void **state)
{
	struct flow_record r[6];
	struct wire_header h = header();
	struct wire_encoder *we = wire_encoder__new(WIRE_ENC_IDENTITY, 0);
	struct wire_decoder *wd = wire_decoder__new(0);
	struct cap c = { 0 };
	struct ipfix_encoder *e = encoder(&c, 0);
	struct ipfix_decoder *d = decoder(0, 0, false);
	static struct got g;
	struct wire_batch *b;
	const void *body;
	size_t len;

	(void)state;
	memset(&g, 0, sizeof(g));
	h.n_ips = 2;
	for (unsigned i = 0; i < 6; i++) {
		r[i] = rec_full(i, i % 2 ? 6 : 4, i % 3 ? FLOW_DIRECTION_IN : FLOW_DIRECTION_OUT);
		r[i].container = "app"; /* wire keeps one name per cgroup */
		assert_int_equal(wire_encoder__add(we, &r[i]), 0);
	}
	assert_int_equal(wire_encoder__finish(we, &h, &body, &len), 0);
	assert_int_equal(wire_decoder__decode(wd, body, len, WIRE_ENC_IDENTITY, &b), 0);
	report(e, &h, r, 6);
	decode_all(d, &c, &g);
	assert_int_equal(g.n, b->n_records);
	for (uint32_t i = 0; i < b->n_records; i++)
		assert_record(&b->records[i], &g.r[i]);
	assert_string_equal(g.ids[0], b->sender.pod);
	assert_string_equal(g.ids[1], b->sender.namespace);
	assert_string_equal(g.ids[2], b->sender.node);
	assert_string_equal(g.ids[3], b->sender.app);
	assert_string_equal(g.ids[4], b->sender.workload);
	assert_int_equal(g.hb.sender_id, b->sender_id);
	assert_int_equal(g.hb.seq, b->seq);
	assert_int_equal(g.hb.span_start_ms, b->span_start_ms);
	assert_int_equal(g.hb.span_end_ms, b->span_end_ms);
	assert_int_equal(g.hb.n_ips, b->n_ips);
	/* IPv4 first, then IPv6 (docs/ipfix.md); header() lists them so */
	assert_memory_equal(g.ips, b->ips, (size_t)b->n_ips * 16);
	assert_memory_equal(g.hb.drops, b->drops, sizeof(b->drops));
	wire_encoder__free(we);
	wire_decoder__free(wd);
	ipfix_encoder__free(e);
	ipfix_decoder__free(d);
	cap_free(&c);
}

/* ---- sizes and sequence numbers ------------------------------------------------ */

/*
 * Many records: every message within max_message, records in order, and
 * each message's sequence number the count of data records before it
 * (RFC 7011 sections 3.1 and 10.3.2).
 */
static void test_splitting(void **state)
{
	static const uint32_t sizes[] = { IPFIX_MIN_MESSAGE, 1400, 9000, IPFIX_MAX_MESSAGE };
	static struct flow_record r[1000];
	static struct got g;
	struct wire_header h = header();

	(void)state;
	for (unsigned i = 0; i < 1000; i++)
		r[i] = rec_full(i, i % 7 ? 4 : 6, i % 2 ? FLOW_DIRECTION_IN : FLOW_DIRECTION_OUT);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct cap c = { 0 };
		struct ipfix_encoder *e = encoder(&c, sizes[s]);
		struct ipfix_decoder *d = decoder(0, 0, false);
		uint32_t seq = 0, total = 0;

		memset(&g, 0, sizeof(g));
		report(e, &h, r, 1000);
		report(e, &h, r, 10); /* a second report: identity and report again */
		for (size_t i = 0; i < c.n; i++) {
			struct ipfix_msg *m;

			assert_true(c.len[i] <= sizes[s]);
			assert_int_equal(be16(c.msg[i] + 2), c.len[i]);
			assert_int_equal(be32(c.msg[i] + 8), seq);
			m = decode_ok(d, &src1, c.msg[i], c.len[i]);
			assert_int_equal(m->seq_status, i == 0 ? IPFIX_SEQ_NEW : IPFIX_SEQ_OK);
			assert_int_equal(m->batch.n_records, c.recs[i]);
			seq += m->data_records;
			total += c.recs[i];
			collect(&g, m);
		}
		assert_int_equal(total, 1010);
		assert_int_equal(g.n, 1010);
		for (size_t i = 0; i < 1010; i++)
			assert_record(&r[i < 1000 ? i : i - 1000], &g.r[i]);
		assert_int_equal(seq, 1010 + 4); /* and two options records per report */
		assert_int_equal(ipfix_encoder__seq(e), seq);
		print_message("  max_message %u: %zu messages\n", sizes[s], c.n);
		ipfix_decoder__free(d);
		ipfix_encoder__free(e);
		cap_free(&c);
	}
}

/*
 * Templates again mid-report: the decoder counts a refresh, the
 * sequence numbers do not move; a collector that started after the first
 * templates counts the sets it cannot read (never guesses) until they come.
 */
static void test_template_resend(void **state)
{
	struct cap c = { 0 };
	struct ipfix_encoder *e = encoder(&c, 0);
	struct ipfix_decoder *d = decoder(0, 0, false), *late = decoder(0, 0, false);
	struct wire_header h = header();
	struct flow_record r = rec();
	struct ipfix_msg *m;
	uint32_t seq;

	(void)state;
	assert_int_equal(ipfix_encoder__begin(e, &h, EXPORT_S), 0);
	assert_int_equal(ipfix_encoder__add(e, &r), 0);
	seq = ipfix_encoder__seq(e);
	ipfix_encoder__send_templates(e, EXPORT_S + 1);
	assert_int_equal(ipfix_encoder__seq(e), seq + 3); /* the report's message went first */
	assert_int_equal(ipfix_encoder__add(e, &r), 0);
	ipfix_encoder__end(e);
	/* templates, report + record, templates again, record */
	assert_int_equal(c.n, 4);
	assert_int_equal(be32(c.msg[2] + 8), 3);
	assert_int_equal(be32(c.msg[3] + 8), 3);
	for (size_t i = 0; i < c.n; i++)
		decode_ok(d, &src1, c.msg[i], c.len[i]);
	assert_int_equal(ipfix_decoder__stats(d)->templates_added, 4);
	assert_int_equal(ipfix_decoder__stats(d)->templates_refreshed, 4);
	assert_int_equal(ipfix_decoder__stats(d)->seq_gaps, 0);
	assert_int_equal(ipfix_decoder__stats(d)->records, 2);

	/* the late collector: the report without templates, then the refresh, then data */
	m = decode_ok(late, &src1, c.msg[1], c.len[1]);
	assert_int_equal(m->unknown_sets, 3);
	assert_int_equal(m->batch.n_records, 0);
	assert_false(m->sender_known);
	/* the unknown sets' records could not be counted: no expectation to hold it to */
	m = decode_ok(late, &src1, c.msg[2], c.len[2]);
	assert_int_equal(m->seq_status, IPFIX_SEQ_NEW);
	m = decode_ok(late, &src1, c.msg[3], c.len[3]);
	assert_int_equal(m->seq_status, IPFIX_SEQ_OK);
	assert_int_equal(m->batch.n_records, 1);
	assert_false(m->sender_known); /* its identity record was in an unreadable set */
	assert_null(m->batch.records[0].local);
	assert_int_equal(ipfix_decoder__stats(late)->unknown_sets, 3);
	assert_int_equal(ipfix_decoder__stats(late)->records_no_sender, 1);
	ipfix_decoder__free(d);
	ipfix_decoder__free(late);
	ipfix_encoder__free(e);
	cap_free(&c);
}

/*
 * A flow record in flow4_spec's order (deltaFlowCount in `flows_len`
 * bytes), IPv4 out, 10.0.0.7 -> 10.0.0.9:443, with these strings.
 */
static void mb_flow4(struct mb *m, unsigned flows_len, uint64_t flows, const char *cid,
		     size_t cid_len, const char *name, size_t name_len)
{
	mb_bytes(m, "\x0a\x00\x00\x07\x0a\x00\x00\x09\x9c\x40\x01\xbb\x06\x01\x01\x03", 16);
	mb_u64(m, 1700000000000ull);
	mb_u64(m, 1700000001000ull);
	for (int k = 0; k < 4; k++)
		mb_u64(m, 10);
	while (flows_len--)
		mb_u8(m, (uint8_t)(flows >> (8 * flows_len)));
	for (int k = 0; k < 7; k++)
		mb_u32(m, 0);
	mb_u16(m, 0);
	mb_u64(m, 1);
	mb_var(m, "", 0);
	mb_var(m, cid, cid_len);
	mb_var(m, name, name_len);
}

/* A message of `n` records whose header says `seq`: the data records are counted, not read. */
static size_t seq_msg(struct mb *m, uint32_t seq, int n)
{
	mb_begin(m, seq, DOMAIN);
	mb_set(m, T_FLOW4);
	for (int i = 0; i < n; i++)
		mb_flow4(m, 4, 1, "", 0, "", 0);
	mb_set_end(m);
	return mb_end(m);
}

/* The flow4 template, by hand. */
static size_t templates_msg(struct mb *m, uint32_t domain)
{
	mb_begin(m, 0, domain);
	mb_set(m, 2);
	mb_template(m, T_FLOW4, flow4_spec, 27, -1);
	mb_set_end(m);
	return mb_end(m);
}

static uint64_t missed_sum; /* every `missed` seq_of() saw */

static enum ipfix_seq seq_of(struct ipfix_decoder *d, uint32_t seq, int n, uint32_t *missed,
			     uint32_t *expected)
{
	static struct mb m;
	size_t len = seq_msg(&m, seq, n);
	struct ipfix_msg *out = decode_ok(d, &src1, m.b, len);

	assert_int_equal(out->data_records, n);
	missed_sum += out->missed;
	if (missed)
		*missed = out->missed;
	if (expected)
		*expected = out->seq_expected;
	return out->seq_status;
}

/* Gaps (expected vs got), late and duplicate messages, restarts, and the wrap at 2^32. */
static void test_sequence(void **state)
{
	struct ipfix_decoder *d = decoder(0, 0, false);
	static struct mb m;
	uint32_t missed, expected;

	(void)state;
	missed_sum = 0;
	/* the templates: the exporter's first message, nothing to compare with */
	assert_int_equal(decode_ok(d, &src1, m.b, templates_msg(&m, DOMAIN))->seq_status,
			 IPFIX_SEQ_NEW);
	assert_int_equal(seq_of(d, 0, 2, NULL, NULL), IPFIX_SEQ_OK);
	assert_int_equal(seq_of(d, 2, 3, NULL, NULL), IPFIX_SEQ_OK);
	/* 5 expected, 10 came: 5 records lost (or still to come) */
	assert_int_equal(seq_of(d, 10, 1, &missed, &expected), IPFIX_SEQ_GAP);
	assert_int_equal(missed, 5);
	assert_int_equal(expected, 5);
	/* they arrive late: reported, the expectation (11) stays */
	assert_int_equal(seq_of(d, 5, 5, NULL, &expected), IPFIX_SEQ_LATE);
	assert_int_equal(expected, 11);
	assert_int_equal(seq_of(d, 11, 1, NULL, NULL), IPFIX_SEQ_OK);
	/* a duplicate of the last one */
	assert_int_equal(seq_of(d, 11, 1, NULL, NULL), IPFIX_SEQ_LATE);
	/* far ahead, then a restart from 0: far behind, tracking starts again */
	assert_int_equal(seq_of(d, 100000000, 1, &missed, NULL), IPFIX_SEQ_GAP);
	assert_int_equal(missed, 100000000 - 12);
	assert_int_equal(seq_of(d, 0, 2, NULL, &expected), IPFIX_SEQ_RESET);
	assert_int_equal(expected, 100000001);
	assert_int_equal(seq_of(d, 2, 1, NULL, NULL), IPFIX_SEQ_OK);
	/* to the wrap in two jumps of under 2^31 (RFC 1982 serial arithmetic) */
	assert_int_equal(seq_of(d, 0x7ffffff0u, 1, NULL, NULL), IPFIX_SEQ_GAP);
	assert_int_equal(seq_of(d, 0xfffffff0u, 1, NULL, NULL), IPFIX_SEQ_GAP);
	assert_int_equal(seq_of(d, 0xfffffff1u, 13, NULL, NULL), IPFIX_SEQ_OK);
	/* 0xfffffffe + 3 = 1 (mod 2^32) */
	assert_int_equal(seq_of(d, 0xfffffffeu, 3, NULL, NULL), IPFIX_SEQ_OK);
	assert_int_equal(seq_of(d, 1, 1, NULL, NULL), IPFIX_SEQ_OK);
	assert_int_equal(seq_of(d, 7, 1, &missed, &expected), IPFIX_SEQ_GAP);
	assert_int_equal(missed, 5);
	assert_int_equal(expected, 2);
	/* from before the wrap: behind */
	assert_int_equal(seq_of(d, 0xfffffffeu, 1, NULL, NULL), IPFIX_SEQ_LATE);
	/* a gap across the wrap: 0xfffffff1 expected, 4 came */
	assert_int_equal(seq_of(d, 0x7ffffff0u, 1, NULL, NULL), IPFIX_SEQ_GAP);
	assert_int_equal(seq_of(d, 0xfffffff0u, 1, NULL, NULL), IPFIX_SEQ_GAP);
	assert_int_equal(seq_of(d, 4, 1, &missed, &expected), IPFIX_SEQ_GAP);
	assert_int_equal(expected, 0xfffffff1u);
	assert_int_equal(missed, 19);
	assert_int_equal(ipfix_decoder__stats(d)->seq_gaps, 8);
	assert_int_equal(ipfix_decoder__stats(d)->seq_missed, missed_sum);
	assert_int_equal(ipfix_decoder__stats(d)->seq_late, 3);
	assert_int_equal(ipfix_decoder__stats(d)->seq_resets, 1);
	ipfix_decoder__free(d);
}

/* ---- template management ------------------------------------------------------ */

/* A withdrawal set (RFC 7011 section 8.1): template `id`, field count 0. */
static size_t withdrawal_msg(struct mb *m, uint16_t set, uint16_t id)
{
	mb_begin(m, 0, DOMAIN);
	mb_set(m, set);
	mb_u16(m, id);
	mb_u16(m, 0);
	mb_set_end(m);
	return mb_end(m);
}

static void test_withdrawal(void **state)
{
	struct ipfix_decoder *udp = decoder(0, 0, false), *tcp = decoder(0, 0, true);
	static struct mb m;
	struct cap c = { 0 };
	struct ipfix_encoder *e = encoder(&c, 0);
	struct ipfix_msg *out;
	size_t len;

	(void)state;
	ipfix_encoder__send_templates(e, EXPORT_S);
	decode_ok(udp, &src1, c.msg[0], c.len[0]);
	decode_ok(tcp, &src1, c.msg[0], c.len[0]);
	/* over UDP: checked, counted, ignored (section 8.4) */
	len = withdrawal_msg(&m, 2, T_FLOW4);
	decode_ok(udp, &src1, m.b, len);
	assert_int_equal(ipfix_decoder__stats(udp)->withdrawals_ignored, 1);
	assert_int_equal(seq_of(udp, 0, 1, NULL, NULL), IPFIX_SEQ_OK);
	assert_int_equal(ipfix_decoder__stats(udp)->unknown_sets, 0);
	/* honoured: the template is gone, its data is unknown */
	decode_ok(tcp, &src1, m.b, len);
	assert_int_equal(ipfix_decoder__stats(tcp)->withdrawals, 1);
	len = seq_msg(&m, 0, 1);
	out = decode_ok(tcp, &src1, m.b, len);
	assert_int_equal(out->unknown_sets, 1);
	assert_int_equal(out->data_records, 0);
	/* a template it does not have: ignored (section 8.1) */
	decode_ok(tcp, &src1, m.b, withdrawal_msg(&m, 2, 999));
	assert_int_equal(ipfix_decoder__stats(tcp)->withdrawals_ignored, 1);
	/* all options templates (id 3 in set 3), then all data templates (2 in 2) */
	decode_ok(tcp, &src1, m.b, withdrawal_msg(&m, 3, 3));
	assert_int_equal(ipfix_decoder__stats(tcp)->withdrawals, 2);
	decode_ok(tcp, &src1, m.b, withdrawal_msg(&m, 2, 2));
	assert_int_equal(ipfix_decoder__stats(tcp)->withdrawals, 3);
	/* nothing left: the report's three sets are unknown */
	report(e, &(struct wire_header){ .sender_id = 1 }, (struct flow_record[]){ rec() }, 1);
	out = decode_ok(tcp, &src1, c.msg[1], c.len[1]);
	assert_int_equal(out->unknown_sets, 3);
	/* the refresh brings them back */
	decode_ok(tcp, &src1, c.msg[0], c.len[0]);
	assert_int_equal(ipfix_decoder__stats(tcp)->templates_added, 8);
	out = decode_ok(tcp, &src1, c.msg[1], c.len[1]);
	assert_int_equal(out->batch.n_records, 1);
	assert_true(out->sender_known);
	ipfix_decoder__free(udp);
	ipfix_decoder__free(tcp);
	ipfix_encoder__free(e);
	cap_free(&c);
}

/* Data before any template: counted, skipped, never guessed. */
static void test_unknown_template(void **state)
{
	struct ipfix_decoder *d = decoder(0, 0, false);
	static struct mb m;
	struct ipfix_msg *out;
	size_t len = seq_msg(&m, 0, 4);

	(void)state;
	out = decode_ok(d, &src1, m.b, len);
	assert_int_equal(out->unknown_sets, 1);
	assert_int_equal(out->data_records, 0);
	assert_int_equal(out->batch.n_records, 0);
	assert_int_equal(ipfix_decoder__stats(d)->unknown_sets, 1);
	assert_int_equal(ipfix_decoder__stats(d)->unknown_set_bytes, len - 20);
	/* the template of another exporter (domain) does not help this one */
	decode_ok(d, &src1, m.b, templates_msg(&m, DOMAIN + 1));
	out = decode_ok(d, &src1, m.b, seq_msg(&m, 4, 4));
	assert_int_equal(out->unknown_sets, 1);
	assert_int_equal(out->seq_status, IPFIX_SEQ_NEW);
	assert_int_equal(ipfix_decoder__stats(d)->unknown_sets, 2);
	ipfix_decoder__free(d);
}

/*
 * Records whose sender is not known are returned flagged, local NULL,
 * counted: before the identity record, and after a report naming another
 * sender id than the identity held (a second process on the same key).
 */
static void test_no_sender(void **state)
{
	struct cap c = { 0 };
	struct ipfix_encoder *e = encoder(&c, IPFIX_MIN_MESSAGE);
	struct ipfix_decoder *d = decoder(0, 0, false);
	struct wire_header h = header();
	struct flow_record r[10];
	struct ipfix_msg *m;
	size_t last;

	(void)state;
	for (unsigned i = 0; i < 10; i++)
		r[i] = rec_full(i, 4, FLOW_DIRECTION_OUT);
	report(e, &h, r, 10);
	assert_true(c.n >= 4);
	decode_ok(d, &src1, c.msg[0], c.len[0]); /* templates */
	/* the report's first message (identity, report) lost: the rest have no sender */
	m = decode_ok(d, &src1, c.msg[2], c.len[2]);
	assert_false(m->sender_known);
	assert_true(m->batch.n_records > 0);
	assert_null(m->batch.sender.pod);
	assert_int_equal(m->batch.sender_id, 0);
	for (uint32_t i = 0; i < m->batch.n_records; i++)
		assert_null(m->batch.records[i].local);
	assert_int_equal(ipfix_decoder__stats(d)->records_no_sender, m->batch.n_records);
	/* then it comes (late): known from here on */
	m = decode_ok(d, &src1, c.msg[1], c.len[1]);
	assert_true(m->sender_known);
	assert_true(m->has_identity && m->has_report);
	assert_string_equal(m->batch.sender.pod, "web-1");
	last = c.n - 1;
	m = decode_ok(d, &src1, c.msg[last], c.len[last]);
	assert_true(m->sender_known);
	assert_ptr_equal(m->batch.records[0].local, &m->batch.sender);

	/* another sender id in a report, its identity lost: forgotten, not misattributed */
	cap_free(&c);
	h.sender_id++;
	report(e, &h, r, 1);
	assert_int_equal(c.n, 1);
	/* drop the identity set (the first after the header) by hand */
	{
		uint8_t *p = c.msg[0];
		size_t id_len = be16(p + 18), len = c.len[0] - id_len;

		memmove(p + 16, p + 16 + id_len, c.len[0] - 16 - id_len);
		p[2] = (uint8_t)(len >> 8);
		p[3] = (uint8_t)len;
		m = decode_ok(d, &src1, p, len);
	}
	assert_false(m->sender_known);
	assert_true(m->has_report);
	assert_int_equal(m->batch.n_records, 1);
	assert_null(m->batch.records[0].local);
	assert_int_equal(ipfix_decoder__stats(d)->sender_mismatches, 1);
	ipfix_decoder__free(d);
	ipfix_encoder__free(e);
	cap_free(&c);
}

/* ---- malformed input ---------------------------------------------------------- */

/* The test_record_bytes message, for mutations: its records' offsets. */
#define ID_AT  20  /* identity record */
#define REP_AT 58  /* report record */
#define REC_AT 154 /* flow record */

struct bad {
	const char *what;
	int err;
	const char *substr;
};

/* Decodes `b` expecting `want` and `substr`; 1 when refused so, fails otherwise. */
static int refused(struct ipfix_decoder *d, const uint8_t *b, size_t len, const struct bad *want)
{
	struct ipfix_msg *m = (void *)d;
	int rc = ipfix_decoder__decode(d, &src1, b, len, &m);
	const char *msg = ipfix_decoder__error(d);

	if (rc != want->err || !strstr(msg, want->substr)) {
		print_error("%s: expected %d with \"%s\", got %d: \"%s\"\n", want->what, want->err,
			    want->substr, rc, msg);
		fail();
	}
	assert_null(m);
	assert_null(strchr(msg, '\n'));
	return 1;
}

/*
 * Every way a message is malformed, each refused with its code and a
 * message naming what: the header, sets, templates, records and values.
 * A refused message changes nothing: the valid message decodes after
 * each, as before.
 */
static void test_malformed(void **state)
{
	struct cap c = { 0 };
	struct ipfix_encoder *e = encoder(&c, 0);
	struct ipfix_decoder *d = decoder(0, 6, false);
	struct wire_header h = header();
	struct flow_record r = rec();
	static struct mb m;
	static uint8_t b[IPFIX_MAX_MESSAGE];
	const uint8_t *good;
	size_t glen, len;
	uint64_t n = 0, refused_n = 0;
	struct ipfix_msg *out;

	(void)state;
	report(e, &h, &r, 1);
	good = c.msg[1];
	glen = c.len[1];
	decode_ok(d, &src1, c.msg[0], c.len[0]);
	decode_ok(d, &src1, good, glen);

#define BAD(what_, err_, substr_)                                  \
	do {                                                       \
		const struct bad want_ = { what_, err_, substr_ }; \
                                                                   \
		print_message("  %s\n", what_);                    \
		n++;                                               \
		refused_n += refused(d, b, len, &want_);           \
		out = decode_ok(d, &src1, good, glen);             \
		assert_int_equal(out->batch.n_records, 1);         \
		assert_true(out->sender_known);                    \
	} while (0)
#define EDIT(what_, err_, substr_, edit_)  \
	do {                               \
		memcpy(b, good, glen);     \
		len = glen;                \
		edit_;                     \
		BAD(what_, err_, substr_); \
	} while (0)
#define BUILT(what_, err_, substr_)        \
	do {                               \
		len = mb_end(&m);          \
		memcpy(b, m.b, len);       \
		BAD(what_, err_, substr_); \
	} while (0)

	/* the header (RFC 7011 section 3.1) */
	EDIT("truncated header", -EBADMSG, "short of the 16-byte message header", len = 15);
	EDIT("empty datagram", -EBADMSG, "truncated: 0 bytes", len = 0);
	EDIT("version 9 (NetFlow v9)", -EPROTONOSUPPORT, "version 9 not supported", b[1] = 9);
	EDIT("version 5", -EPROTONOSUPPORT, "version 5 not supported", b[1] = 5);
	EDIT("length short of the header", -EBADMSG, "message length 15, short", b[2] = 0;
	     b[3] = 15);
	EDIT("length beyond the datagram", -EBADMSG, "truncated: message length 273, datagram 272",
	     len = glen - 1);
	EDIT("datagram longer than the message", -EBADMSG, "trailing: 1 bytes after the 273",
	     b[glen] = 0;
	     len = glen + 1);
	/* sets (section 3.3) */
	EDIT("set length < 4", -EBADMSG, "set 258 at offset 16: length 3 < 4", b[19] = 3);
	EDIT("set length beyond the message", -EBADMSG, "length 300 beyond the message", b[18] = 1;
	     b[19] = 44);
	EDIT("bytes after the last set, short of a set header", -EBADMSG,
	     "trailing: 3 bytes after the last set at offset 273",
	     b[glen] = b[glen + 1] = b[glen + 2] = 0;
	     len = glen + 3; b[2] = (uint8_t)(len >> 8); b[3] = (uint8_t)len);
	EDIT("reserved set id 1", -EBADMSG, "id 1 is reserved", b[16] = 0; b[17] = 1);
	EDIT("reserved set id 255", -EBADMSG, "id 255 is reserved", b[16] = 0; b[17] = 255);
	/* flow records and values */
	EDIT("protocol UDP", -EBADMSG, "record 0: protocolIdentifier 17, not 6",
	     b[REC_AT + 12] = 17);
	EDIT("flowDirection 2", -EBADMSG, "flowDirection 2, not 0 (ingress) or 1",
	     b[REC_AT + 13] = 2);
	EDIT("biflowDirection arbitrary", -EBADMSG, "biflowDirection 0, not 1", b[REC_AT + 14] = 0);
	EDIT("closed > flows", -EBADMSG, "closed 5 > flows 1", b[REC_AT + 71] = 5);
	EDIT("failed > closed", -EBADMSG, "failed 2 > closed 1", b[REC_AT + 75] = 2);
	EDIT("comm with a NUL", -EBADMSG, "podflowProcessName: 4 bytes with a NUL",
	     b[REC_AT + 108] = 0);
	EDIT("container id not hex", -EBADMSG, "container_id byte 0x41 at 1",
	     b[REC_AT + 113] = 'A');
	EDIT("container name not UTF-8", -EBADMSG, "container name byte 0xff at 2",
	     b[REC_AT + 118] = 0xff);
	EDIT("variable-length field overruns its set", -EBADMSG,
	     "record 0: field 26 overruns the set", b[REC_AT + 115] = 200);
	EDIT("3-byte length overruns its set", -EBADMSG, "record 0: field 26 overruns the set",
	     b[REC_AT + 115] = 255);
	EDIT("record cut by its set", -EBADMSG, "record 0: field 25 overruns the set",
	     b[REC_AT - 1] = 0x7b - 8;
	     b[glen - 8] = 0; b[2] = (uint8_t)((glen - 8) >> 8); b[3] = (uint8_t)(glen - 8);
	     len = glen - 8);
	/* options records */
	EDIT("identity scope not the message's domain", -EBADMSG,
	     "scope observationDomainId 16909061 is not the message's 16909060", b[ID_AT + 3] = 5);
	EDIT("identity string not UTF-8", -EBADMSG, "identity pod: byte 0xc3 at 4",
	     b[ID_AT + 17] = 0xc3);
	EDIT("report scope not the message's domain", -EBADMSG,
	     "report: scope observationDomainId 16909061", b[REP_AT + 3] = 5);
	EDIT("heartbeat ending before it starts", -EBADMSG, "heartbeat span start",
	     b[REP_AT + 20] = 9);
	EDIT("basicList semantic", -EBADMSG, "basicList semantic 0x01, not allOf",
	     b[REP_AT + 37] = 1);
	EDIT("basicList of another element", -EBADMSG, "basicList of element 0x000c length 4",
	     b[REP_AT + 39] = 12);
	EDIT("basicList content not whole addresses", -EBADMSG, "of 16-byte addresses",
	     b[REP_AT + 39] = 27;
	     b[REP_AT + 41] = 16);
	EDIT("two IPv4 lists", -EBADMSG, "two lists of IPv4 addresses", b[REP_AT + 49] = 8;
	     b[REP_AT + 51] = 4);
	EDIT("two identity records", -EBADMSG, "a second identity record",
	     memcpy(b + REP_AT - 4, "\x01\x02", 2));

	/* templates (sections 3.4 and 8), built by hand */
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_template(&m, 255, flow4_spec, 27, -1);
	mb_set_end(&m);
	BUILT("template id < 256", -EBADMSG, "id 255 < 256");
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_u16(&m, 300);
	mb_u16(&m, IPFIX_MAX_FIELDS + 1);
	for (int i = 0; i <= IPFIX_MAX_FIELDS; i++)
		mb_u32(&m, 0x00010004);
	mb_set_end(&m);
	BUILT("field count over the bound", -EBADMSG, "template 300: field count 65 over 64");
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_template(&m, 300, flow4_spec, 27, -1);
	m.len -= 10;
	mb_set_end(&m);
	BUILT("template cut in its fields", -EBADMSG, "template 300 ends in its field specifiers");
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_template(&m, 300, flow4_spec, 27, -1);
	m.len -= 2; /* the last field's PEN, cut */
	mb_set_end(&m);
	BUILT("enterprise number cut", -EBADMSG, "template 300 ends in its field specifiers");
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_template(&m, 300, (const struct spec[]){ { 7, 0, 0 } }, 1, -1);
	mb_set_end(&m);
	BUILT("field length 0 for a fixed element", -EBADMSG,
	      "template 300 field 0 (sourceTransportPort): length 0, not 1..2");
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_template(&m, 300, (const struct spec[]){ { 8, 0, 5 } }, 1, -1);
	mb_set_end(&m);
	BUILT("address of 5 bytes", -EBADMSG, "(sourceIPv4Address): length 5, not 4");
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_template(&m, 300, (const struct spec[]){ { 152, 0, VAR } }, 1, -1);
	mb_set_end(&m);
	BUILT("variable length for a fixed element", -EBADMSG,
	      "(flowStartMilliseconds): length 65535, not 8");
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_template(&m, 300, (const struct spec[]){ { 21, PEN, 254 } }, 1, -1);
	mb_set_end(&m);
	BUILT("fixed string longer than its bound", -EBADMSG,
	      "(podflowPodName): length 254, not 0..253");
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_template(&m, 300, (const struct spec[]){ { 5000, 0, 0 }, { 5001, 0, 0 } }, 2, -1);
	mb_set_end(&m);
	BUILT("records of 0 bytes", -EBADMSG, "template 300: records of at least 0 bytes");
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 3);
	mb_template(&m, 300, identity_spec, 7, 0);
	mb_set_end(&m);
	BUILT("options template, scope count 0", -EBADMSG, "scope field count 0, not 1..7");
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 3);
	mb_template(&m, 300, identity_spec, 7, 8);
	mb_set_end(&m);
	BUILT("options template, scope count > field count", -EBADMSG,
	      "scope field count 8, not 1..7");
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 3);
	mb_u16(&m, 300);
	mb_u16(&m, 7);
	mb_set_end(&m);
	BUILT("options template header cut", -EBADMSG, "truncated: options template 300 header");
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_u16(&m, 3);
	mb_u16(&m, 0);
	mb_set_end(&m);
	BUILT("withdrawal of all, wrong id", -EBADMSG, "withdrawal of template id 3");
	/* seven templates for an exporter that may hold six; the first ones are not kept */
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	for (uint16_t i = 0; i < 3; i++)
		mb_template(&m, 300 + i, flow4_spec, 27, -1);
	mb_set_end(&m);
	BUILT("templates over max_templates", -EBADMSG,
	      "template 302: the exporter already has 6 templates");
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_template(&m, 300, flow4_spec, 27, -1); /* valid, then */
	mb_set_end(&m);
	mb_set(&m, 300);
	for (int i = 0; i < 106; i++) /* a record of it, its comm overrunning the set */
		mb_u8(&m, 0);
	mb_u8(&m, 200);
	mb_bytes(&m, "\0\0\0", 3);
	mb_set_end(&m);
	BUILT("a valid template then a bad record of it", -EBADMSG, "overruns the set");
	/* a report with 65 pod IPs */
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, T_REPORT);
	mb_u32(&m, DOMAIN);
	mb_u64(&m, 0x1122334455667788ull);
	mb_u64(&m, 7);
	mb_u64(&m, 1);
	mb_u64(&m, 2);
	mb_u8(&m, 255);
	mb_u16(&m, 5 + 65 * 4);
	mb_bytes(&m, "\x03\x00\x08\x00\x04", 5);
	for (int i = 0; i < 65; i++)
		mb_u32(&m, 0x0a000000u + (uint32_t)i);
	mb_var(&m, "\x03\x00\x1b\x00\x10", 5);
	for (int i = 0; i < 5; i++)
		mb_u64(&m, 0);
	mb_set_end(&m);
	BUILT("65 pod IPs", -EBADMSG, "more than 64 pod IPs");
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, T_REPORT);
	mb_u32(&m, DOMAIN);
	for (int i = 0; i < 4; i++)
		mb_u64(&m, 1);
	mb_u8(&m, 255); /* a list of 500 bytes in a set of 40 more */
	mb_u16(&m, 500);
	for (int i = 0; i < 40; i++)
		mb_u8(&m, 0);
	mb_set_end(&m);
	BUILT("options record cut", -EBADMSG, "overruns the set");

	/* values of variable length over their bounds */
	{
		static char long_str[300];

		memset(long_str, 'a', sizeof(long_str));
		mb_begin(&m, 0, DOMAIN);
		mb_set(&m, T_FLOW4);
		mb_flow4(&m, 4, 1, long_str, 65, "", 0);
		mb_set_end(&m);
		BUILT("container id of 65 bytes", -EBADMSG, "podflowContainerId: 65 bytes");
		mb_begin(&m, 0, DOMAIN);
		mb_set(&m, T_FLOW4);
		mb_flow4(&m, 4, 1, "", 0, long_str, 254);
		mb_set_end(&m);
		BUILT("container name of 254 bytes", -EBADMSG, "podflowContainerName: 254 bytes");
		mb_begin(&m, 0, DOMAIN);
		mb_set(&m, T_IDENTITY);
		mb_u32(&m, DOMAIN);
		mb_u64(&m, 1);
		mb_var(&m, long_str, 254);
		for (int i = 0; i < 4; i++)
			mb_var(&m, "", 0);
		mb_set_end(&m);
		BUILT("identity string of 254 bytes", -EBADMSG,
		      "identity pod: 254 bytes, more than 253");
	}
	/* deltaFlowCount in its full 8 bytes (unsigned64), over a u32 */
	{
		struct spec s8[27];

		memcpy(s8, flow4_spec, sizeof(s8));
		s8[14].len = 8;
		mb_begin(&m, 0, DOMAIN);
		mb_set(&m, 2);
		mb_template(&m, 300, s8, 27, -1);
		mb_set_end(&m);
		mb_set(&m, 300);
		mb_flow4(&m, 8, 1ull << 32, "", 0, "", 0);
		mb_set_end(&m);
		BUILT("deltaFlowCount over 2^32 - 1", -EBADMSG, "deltaFlowCount 4294967296 over");
	}
	/* pod IP lists */
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, T_REPORT);
	mb_u32(&m, DOMAIN);
	for (int i = 0; i < 4; i++)
		mb_u64(&m, 1);
	mb_var(&m, "\x03\x00\x08\x00\x04", 5);
	mb_var(&m, "\x03\x00\x1b\x00\x10\0\0\0\0\0\0\0\0\0\0\xff\xff\x01\x02\x03\x04", 21);
	for (int i = 0; i < 5; i++)
		mb_u64(&m, 0);
	mb_set_end(&m);
	BUILT("v4-mapped address in the IPv6 list", -EBADMSG,
	      "v4-mapped address in the IPv6 list (entry 0)");
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, T_REPORT);
	mb_u32(&m, DOMAIN);
	for (int i = 0; i < 4; i++)
		mb_u64(&m, 1);
	mb_var(&m, "\x03\x00\x08", 3);
	mb_var(&m, "\x03\x00\x1b\x00\x10", 5);
	for (int i = 0; i < 5; i++)
		mb_u64(&m, 0);
	mb_set_end(&m);
	BUILT("basicList shorter than its header", -EBADMSG,
	      "basicList of 3 bytes, its header is 5");

	/* nothing of the refused messages stayed: the 300s are unknown */
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 300);
	mb_u32(&m, 0);
	mb_set_end(&m);
	out = decode_ok(d, &src1, m.b, mb_end(&m));
	assert_int_equal(out->unknown_sets, 1);
	assert_int_equal(ipfix_decoder__stats(d)->templates_added, 4);
	assert_int_equal(ipfix_decoder__stats(d)->malformed + ipfix_decoder__stats(d)->unsupported,
			 n);
	assert_int_equal(refused_n, n);
	report_fault_line("ipfix", "test_malformed", 1,
			  &(struct report_fault){
			      .fault = "malformed IPFIX messages",
			      .unit = "messages",
			      .injected = n,
			      .delivered = 0,
			      .counted = refused_n,
			      .lost = n - refused_n,
			      .counted_as = "-EBADMSG / -EPROTONOSUPPORT naming the field "
					    "(ipfix_decoder_stats malformed, unsupported)",
			  });
#undef BUILT
#undef EDIT
#undef BAD
	ipfix_decoder__free(d);
	ipfix_encoder__free(e);
	cap_free(&c);
}

/* ---- bounds -------------------------------------------------------------------- */

/*
 * At most max_exporters (address, port, domain) held: the least recently
 * seen goes, counted, with its templates (its data is then unknown).
 */
static size_t empty_set_msg(struct mb *m, uint32_t domain)
{
	mb_begin(m, 0, domain);
	mb_set(m, T_FLOW4);
	mb_set_end(m);
	return mb_end(m);
}

/* Whether the exporter (s, domain) still has its template 256. */
static bool known(struct ipfix_decoder *d, const struct ipfix_source *s, uint32_t domain)
{
	static struct mb m;

	return decode_ok(d, s, m.b, empty_set_msg(&m, domain))->unknown_sets == 0;
}

static void test_exporter_bound(void **state)
{
	struct ipfix_decoder *d = decoder(2, 0, false);
	struct ipfix_source s2 = src1;
	static struct mb m;

	(void)state;
	s2.port++;
	decode_ok(d, &src1, m.b, templates_msg(&m, 1)); /* A */
	decode_ok(d, &s2, m.b, templates_msg(&m, 1));	/* B: another port */
	assert_int_equal(ipfix_decoder__stats(d)->exporters, 2);
	assert_true(known(d, &src1, 1)); /* A seen again: B is now the least recent */
	/* C, another domain at A's address and port: B goes */
	decode_ok(d, &src1, m.b, templates_msg(&m, 2));
	assert_int_equal(ipfix_decoder__stats(d)->exporters_evicted, 1);
	assert_true(known(d, &src1, 1));
	assert_true(known(d, &src1, 2));
	/* B again: new, without its template; it pushes out A, the least recent now */
	assert_false(known(d, &s2, 1));
	assert_int_equal(ipfix_decoder__stats(d)->exporters_evicted, 2);
	assert_true(known(d, &src1, 2));
	assert_int_equal(ipfix_decoder__stats(d)->exporters, 2);
	ipfix_decoder__free(d);
}

/* ---- what else the decoder takes ------------------------------------------------- */

/*
 * Templates podflow did not write but that say the same (fields in another
 * order, reduced sizes, the 3-byte length form, an element it does not
 * know, octetDeltaCount) decode the same; one missing a field, or under
 * another PEN, is foreign: counted, skipped.  Padding is accepted, non-zero
 * padding counted (RFC 7011 section 9.1).
 */
static void test_lenient_and_foreign(void **state)
{
	struct ipfix_decoder *d = decoder(0, 0, false);
	struct spec s[28];
	static struct mb m;
	struct flow_record want = rec();
	struct ipfix_msg *out;

	(void)state;
	/* reversed field order, packetDeltaCount in 2 bytes, an unknown element at the end */
	for (int i = 0; i < 27; i++)
		s[i] = flow4_spec[26 - i];
	s[26 - 12].len = 2;
	s[27] = (struct spec){ 9999, 0, 3 };
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_template(&m, 400, s, 28, -1);
	mb_set_end(&m);
	mb_set(&m, 400);
	mb_u8(&m, 255); /* podflowContainerName in the 3-byte form (section 7) */
	mb_u16(&m, 3);
	mb_bytes(&m, "app", 3);
	mb_var(&m, "abc", 3);
	mb_var(&m, "curl", 4);
	mb_u64(&m, 0x1234);
	mb_u16(&m, 0);
	mb_u32(&m, 4242);
	mb_u32(&m, 200);
	mb_u32(&m, 300);
	mb_u32(&m, 0);
	mb_u32(&m, 2);
	mb_u32(&m, 0);
	mb_u32(&m, 1);
	mb_u32(&m, 1);
	mb_u64(&m, 6);
	mb_u16(&m, 5); /* packetDeltaCount, reduced */
	mb_u64(&m, 2000);
	mb_u64(&m, 100);
	mb_u64(&m, 1700000001000ull);
	mb_u64(&m, 1700000000000ull);
	mb_bytes(&m, "\x03\x01\x01\x06\x01\xbb\x9c\x40\x0a\x00\x00\x09\x0a\x00\x00\x07", 16);
	mb_bytes(&m, "xyz", 3);
	mb_u8(&m, 0); /* padding, zero */
	mb_set_end(&m);
	out = decode_ok(d, &src1, m.b, mb_end(&m));
	assert_int_equal(out->batch.n_records, 1);
	assert_record(&want, &out->batch.records[0]);
	assert_int_equal(ipfix_decoder__stats(d)->padding_nonzero, 0);

	/* octetDeltaCount (1) in place of 401, and non-zero padding */
	memcpy(s, flow4_spec, sizeof(flow4_spec));
	s[10].id = 1;
	s[11].id = 1;
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_template(&m, 401, s, 27, -1);
	mb_set_end(&m);
	mb_set(&m, 401);
	mb_bytes(&m, "\x0a\x00\x00\x07\x0a\x00\x00\x09\x9c\x40\x01\xbb\x06\x01\x01\x03", 16);
	mb_u64(&m, 1700000000000ull);
	mb_u64(&m, 1700000001000ull);
	mb_u64(&m, 100);
	mb_u64(&m, 2000);
	mb_u64(&m, 5);
	mb_u64(&m, 6);
	mb_u32(&m, 1);
	mb_u32(&m, 1);
	mb_u32(&m, 0);
	mb_u32(&m, 2);
	mb_u32(&m, 0);
	mb_u32(&m, 300);
	mb_u32(&m, 200);
	mb_u32(&m, 4242);
	mb_u16(&m, 0);
	mb_u64(&m, 0x1234);
	mb_var(&m, "curl", 4);
	mb_var(&m, "abc", 3);
	mb_var(&m, "app", 3);
	mb_bytes(&m, "\x00\x07", 2); /* padding, not zero */
	mb_set_end(&m);
	out = decode_ok(d, &src1, m.b, mb_end(&m));
	assert_int_equal(out->batch.n_records, 1);
	assert_record(&want, &out->batch.records[0]);
	assert_int_equal(ipfix_decoder__stats(d)->padding_nonzero, 1);

	/* foreign: one field missing; under another PEN */
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_template(&m, 402, flow4_spec, 26, -1);
	memcpy(s, flow4_spec, sizeof(flow4_spec));
	for (int i = 15; i < 27; i++)
		s[i].pen = 12345;
	mb_template(&m, 403, s, 27, -1);
	mb_bytes(&m, "\x00\x00\x00", 3); /* padding: shorter than any template record */
	mb_set_end(&m);
	/* options templates padded to 8 bytes: zeros, 4 or more */
	mb_set(&m, 3);
	mb_template(&m, 404, identity_spec, 7, 1);
	mb_bytes(&m, "\x00\x00\x00\x00\x00\x00", 6);
	mb_set_end(&m);
	mb_set(&m, 402);
	mb_bytes(&m, "\x0a\x00\x00\x07\x0a\x00\x00\x09\x9c\x40\x01\xbb\x06\x01\x01\x03", 16);
	for (int i = 0; i < 100; i++)
		mb_u8(&m, 0);
	mb_set_end(&m);
	out = decode_ok(d, &src1, m.b, mb_end(&m));
	assert_int_equal(out->foreign_records, 1);
	assert_int_equal(out->batch.n_records, 0);
	assert_int_equal(ipfix_decoder__stats(d)->templates_added, 5);

	/* 400 defined anew, differently: replaced (RFC 7011 section 8.4), read the new way */
	mb_begin(&m, 0, DOMAIN);
	mb_set(&m, 2);
	mb_template(&m, 400, flow4_spec, 27, -1);
	mb_bytes(&m, "\x00\x01", 2); /* template set padding, not zero: accepted, counted */
	mb_set_end(&m);
	mb_set(&m, 400);
	mb_flow4(&m, 4, 9, "ab", 2, "", 0);
	mb_set_end(&m);
	out = decode_ok(d, &src1, m.b, mb_end(&m));
	assert_int_equal(out->batch.n_records, 1);
	assert_int_equal(out->batch.records[0].flows, 9);
	assert_string_equal(out->batch.records[0].container_id, "ab");
	assert_int_equal(ipfix_decoder__stats(d)->templates_replaced, 1);
	assert_int_equal(ipfix_decoder__stats(d)->padding_nonzero, 2);
	ipfix_decoder__free(d);
}

/* An encoder in IPFIX_OCTETS_IP mode: element 1 in its templates, the same records back. */
static void test_octets_ip(void **state)
{
	struct ipfix_encoder_opts o = { .domain_id = DOMAIN, .octets = IPFIX_OCTETS_IP };
	struct cap c = { 0 };
	struct ipfix_encoder *e = ipfix_encoder__new(&o, cap_send, &c);
	struct ipfix_decoder *d = decoder(0, 0, false);
	struct flow_record r[2] = { rec_full(1, 4, FLOW_DIRECTION_IN),
				    rec_full(2, 6, FLOW_DIRECTION_OUT) };
	struct wire_header h = header();
	static struct got g;

	(void)state;
	memset(&g, 0, sizeof(g));
	assert_non_null(e);
	report(e, &h, r, 2);
	/* template 256's 11th field: octetDeltaCount (1), 8 bytes */
	assert_memory_equal(c.msg[0] + 24 + 40, "\x00\x01\x00\x08", 4);
	decode_all(d, &c, &g);
	assert_int_equal(g.n, 2);
	assert_record(&r[0], &g.r[0]);
	assert_record(&r[1], &g.r[1]);
	ipfix_decoder__free(d);
	ipfix_encoder__free(e);
	cap_free(&c);
}

/* The encoder refuses what the decoder would, and options out of range. */
static void test_encoder_rejects(void **state)
{
	struct cap c = { 0 };
	struct ipfix_encoder *e = encoder(&c, 0), *small = encoder(&c, IPFIX_MIN_MESSAGE);
	struct flow_record ok = rec(), r;
	struct wire_header h = header(), hb;
	static char long_str[300], big[WIRE_MAX_STRING + 1];
	static uint8_t ips[WIRE_MAX_IPS][16];

	(void)state;
	/* no report begun */
	assert_int_equal(ipfix_encoder__add(e, &ok), -EINVAL);
	assert_int_equal(ipfix_encoder__begin(e, &h, EXPORT_S), 0);
	r = ok;
	r.family = 5;
	assert_int_equal(ipfix_encoder__add(e, &r), -EINVAL);
	r = ok;
	r.family = 6;
	assert_int_equal(ipfix_encoder__add(e, &r), -EINVAL);
	r = ok;
	addr_v6(r.remote_addr, 1);
	assert_int_equal(ipfix_encoder__add(e, &r), -EINVAL);
	r = ok;
	r.direction = 0;
	assert_int_equal(ipfix_encoder__add(e, &r), -EINVAL);
	r = ok;
	r.closed = 2;
	assert_int_equal(ipfix_encoder__add(e, &r), -EINVAL);
	r = ok;
	r.failed = 1;
	r.closed = 0;
	assert_int_equal(ipfix_encoder__add(e, &r), -EINVAL);
	r = ok;
	r.start_ms = r.end_ms + 1;
	assert_int_equal(ipfix_encoder__add(e, &r), -EINVAL);
	r = ok;
	memcpy(r.container_id, "ABC", 4);
	assert_int_equal(ipfix_encoder__add(e, &r), -EINVAL);
	r = ok;
	memset(r.container_id, 'a', sizeof(r.container_id)); /* no NUL: 65 digits */
	assert_int_equal(ipfix_encoder__add(e, &r), -EINVAL);
	r = ok;
	memset(long_str, 'x', sizeof(long_str) - 1);
	r.container = long_str;
	assert_int_equal(ipfix_encoder__add(e, &r), -EINVAL);
	r.container = "\xff";
	assert_int_equal(ipfix_encoder__add(e, &r), -EINVAL);
	assert_int_equal(ipfix_encoder__stats(e)->records, 0);
	ipfix_encoder__end(e);

	hb = h;
	hb.sender.pod = long_str;
	assert_int_equal(ipfix_encoder__begin(e, &hb, EXPORT_S), -EINVAL);
	hb = h;
	hb.sender.app = "\xc3";
	assert_int_equal(ipfix_encoder__begin(e, &hb, EXPORT_S), -EINVAL);
	hb = h;
	hb.span_start_ms = hb.span_end_ms + 1;
	assert_int_equal(ipfix_encoder__begin(e, &hb, EXPORT_S), -EINVAL);
	hb = h;
	hb.n_ips = WIRE_MAX_IPS + 1;
	assert_int_equal(ipfix_encoder__begin(e, &hb, EXPORT_S), -EINVAL);
	hb = h;
	hb.ips = NULL;
	assert_int_equal(ipfix_encoder__begin(e, &hb, EXPORT_S), -EINVAL);
	/* 512-byte messages: the largest identity does not fit, nor 64 IPv6 pod IPs */
	memset(big, 'n', WIRE_MAX_STRING);
	hb = h;
	hb.sender = (struct flow_identity){
		.pod = big, .namespace = big, .node = big, .app = big, .workload = big
	};
	assert_int_equal(ipfix_encoder__begin(small, &hb, EXPORT_S), -EMSGSIZE);
	assert_int_equal(ipfix_encoder__begin(e, &hb, EXPORT_S), 0);
	ipfix_encoder__end(e);
	hb = h;
	for (int i = 0; i < WIRE_MAX_IPS; i++)
		addr_v6(ips[i], (uint8_t)i);
	hb.ips = (const uint8_t(*)[16])ips;
	hb.n_ips = WIRE_MAX_IPS;
	assert_int_equal(ipfix_encoder__begin(small, &hb, EXPORT_S), -EMSGSIZE);
	assert_int_equal(ipfix_encoder__begin(e, &hb, EXPORT_S), 0);
	ipfix_encoder__end(e);

	/* options */
	assert_null(
	    ipfix_encoder__new(&(struct ipfix_encoder_opts){ .max_message = 511 }, cap_send, &c));
	assert_int_equal(errno, EINVAL);
	assert_null(
	    ipfix_encoder__new(&(struct ipfix_encoder_opts){ .max_message = 65536 }, cap_send, &c));
	assert_null(ipfix_encoder__new(&(struct ipfix_encoder_opts){ .pen = REV }, cap_send, &c));
	assert_null(ipfix_encoder__new(&(struct ipfix_encoder_opts){ 0 }, NULL, &c));
	assert_null(ipfix_decoder__new(&(struct ipfix_decoder_opts){ .pen = REV }));
	assert_null(ipfix_decoder__new(
	    &(struct ipfix_decoder_opts){ .max_templates = IPFIX_MAX_MAX_TEMPLATES + 1 }));
	assert_null(ipfix_decoder__new(
	    &(struct ipfix_decoder_opts){ .max_exporters = IPFIX_MAX_MAX_EXPORTERS + 1 }));
	assert_string_equal(ipfix_seq_name(IPFIX_SEQ_GAP), "gap");
	ipfix_encoder__free(e);
	ipfix_encoder__free(small);
	ipfix_encoder__free(NULL);
	ipfix_decoder__free(NULL);
	cap_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_template_bytes),
		cmocka_unit_test(test_record_bytes),
		cmocka_unit_test(test_round_trip_every_field),
		cmocka_unit_test(test_round_trip_long_strings),
		cmocka_unit_test(test_same_as_wire),
		cmocka_unit_test(test_splitting),
		cmocka_unit_test(test_template_resend),
		cmocka_unit_test(test_sequence),
		cmocka_unit_test(test_withdrawal),
		cmocka_unit_test(test_unknown_template),
		cmocka_unit_test(test_no_sender),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_exporter_bound),
		cmocka_unit_test(test_lenient_and_foreign),
		cmocka_unit_test(test_octets_ip),
		cmocka_unit_test(test_encoder_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
