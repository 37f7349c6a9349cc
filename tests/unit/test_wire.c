// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for lib/wire: round trips in every encoding, limits, and every rejection. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>
#include <zstd.h>

#include "../report.h"
#include "flow.h"
#include "wire.h"

#define N_ENC	  3
#define REC_SIZE  144 /* docs/wire.md "Record" */
#define R_FLOWS	  48
#define R_CLOSED  52
#define R_FAILED  56
#define R_CONT	  86
#define R_FAMILY  88
#define R_DIR	  89
#define R_COMM	  122
#define R_PAD	  138
#define SMALL_CAP (64u << 10)

static const enum wire_encoding encodings[N_ENC] = { WIRE_ENC_IDENTITY, WIRE_ENC_ZSTD,
						     WIRE_ENC_GZIP };

/* ---- helpers ------------------------------------------------------------ */

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

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
	static const uint8_t base[16] = {
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
	};

	memcpy(a, base, 16);
	a[15] = last;
}

/* A valid connection record: IPv4 out unless changed. */
static struct flow_record rec(uint64_t cgroup_id, const char *container_id, const char *container,
			      const char *comm)
{
	struct flow_record r = { 0 };

	r.start_ms = 1700000000000ull;
	r.end_ms = 1700000010000ull;
	r.bytes_sent = 4096;
	r.bytes_received = 1 << 20;
	r.segs_sent = 12;
	r.segs_received = 800;
	r.flows = 3;
	r.closed = 1;
	r.failed = 0;
	r.retransmits = 2;
	r.resets = 0;
	r.srtt_us = 1500;
	r.min_rtt_us = 900;
	r.pid = 4242;
	r.local_port = 0;
	r.remote_port = 443;
	r.family = 4;
	r.direction = FLOW_DIRECTION_OUT;
	addr_v4(r.local_addr, 10, 0, 0, 7);
	addr_v4(r.remote_addr, 10, 96, 0, 1);
	r.cgroup_id = cgroup_id;
	snprintf(r.container_id, sizeof(r.container_id), "%s", container_id);
	r.container = container;
	snprintf(r.comm, sizeof(r.comm), "%s", comm);
	return r;
}

/* Compares what went in with what came out, field by field. */
static void assert_record(const struct flow_record *want, const struct flow_record *got,
			  const struct wire_batch *b)
{
	size_t comm_len = strnlen(want->comm, 16);

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
	assert_memory_equal(got->comm, want->comm, comm_len);
	for (size_t i = comm_len; i < sizeof(got->comm); i++)
		assert_int_equal(got->comm[i], 0);
	assert_string_equal(got->container_id, want->container_id);
	assert_non_null(got->container);
	assert_string_equal(got->container, want->container ? want->container : "");
	assert_ptr_equal(got->local, &b->sender);
	assert_null(got->remote);
	assert_int_equal(got->remote_source, FLOW_SOURCE_UNATTRIBUTED);
}

static void assert_str(const char *want, const char *got)
{
	assert_non_null(got);
	assert_string_equal(got, want ? want : "");
}

static void assert_header(const struct wire_header *h, const struct wire_batch *b)
{
	assert_int_equal(b->version, 1);
	assert_int_equal(b->flags, 0);
	assert_int_equal(b->sender_id, h->sender_id);
	assert_int_equal(b->seq, h->seq);
	assert_str(h->sender.pod, b->sender.pod);
	assert_str(h->sender.namespace, b->sender.namespace);
	assert_str(h->sender.node, b->sender.node);
	assert_str(h->sender.app, b->sender.app);
	assert_str(h->sender.workload, b->sender.workload);
	assert_int_equal(b->span_start_ms, h->span_start_ms);
	assert_int_equal(b->span_end_ms, h->span_end_ms);
	assert_int_equal(b->n_ips, h->n_ips);
	if (h->n_ips)
		assert_memory_equal(b->ips, h->ips, (size_t)h->n_ips * 16);
	for (int i = 0; i < WIRE_DROP__COUNT; i++)
		assert_int_equal(b->drops[i], h->drops[i]);
}

/* Encodes `n` records under `h`; returns a malloc'd copy of the body. */
static uint8_t *encode(enum wire_encoding enc, const struct wire_header *h,
		       const struct flow_record *recs, size_t n, size_t *len)
{
	struct wire_encoder *e = wire_encoder__new(enc, 0);
	const void *body;
	uint8_t *copy;

	assert_non_null(e);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(wire_encoder__add(e, &recs[i]), 0);
	assert_int_equal(wire_encoder__count(e), n);
	assert_int_equal(wire_encoder__finish(e, h, &body, len), 0);
	if (enc == WIRE_ENC_IDENTITY)
		assert_true(wire_encoder__size(e) >= *len);
	copy = malloc(*len);
	assert_non_null(copy);
	memcpy(copy, body, *len);
	wire_encoder__free(e);
	return copy;
}

static const struct wire_batch *decode_ok(struct wire_decoder *d, const void *body, size_t len,
					  enum wire_encoding enc)
{
	struct wire_batch *b = NULL;
	int rc = wire_decoder__decode(d, body, len, enc, &b);

	if (rc) {
		print_error("%s: decode: %d: %s\n", wire_encoding_name(enc), rc,
			    wire_decoder__error(d));
		fail();
	}
	assert_non_null(b);
	return b;
}

/* Asserts the error code, that the message contains `substr`, and that it is one line. */
/* Decodes a batch that must be refused with `want`, naming `substr`; the rc (fails otherwise). */
static int expect_error(struct wire_decoder *d, const void *body, size_t len,
			enum wire_encoding enc, int want, const char *substr)
{
	struct wire_batch *b = (void *)d;
	int rc = wire_decoder__decode(d, body, len, enc, &b);
	const char *msg = wire_decoder__error(d);

	if (rc != want || !strstr(msg, substr)) {
		print_error("%s, %zu bytes: expected %d with \"%s\", got %d: \"%s\"\n",
			    wire_encoding_name(enc), len, want, substr, rc, msg);
		fail();
	}
	assert_null(b);
	assert_null(strchr(msg, '\n'));
	return rc;
}

/* A test's figures for docs/reliability.md, once they add up (tests/report.h). */
static void report(const char *test, struct report_fault *f)
{
	f->lost = f->injected - f->delivered - f->counted;
	assert_int_equal(f->lost, 0);
	report_fault_line("wire", test, 1, f);
}

static void recrc(uint8_t *body, size_t len)
{
	put_u32(body + 12, (uint32_t)crc32(0, body + 16, (uInt)(len - 16)));
}

/*
 * Where things are in an identity-encoded batch, found by walking the
 * layout docs/wire.md describes (an independent reading of it).
 */
struct layout {
	size_t string[5]; /* u16 length of pod, namespace, node, app, workload */
	size_t heartbeat; /* span_start_ms */
	size_t drops;	  /* u32 count */
	size_t table;	  /* u32 count */
	size_t entry[4];  /* first entries: cgroup_id */
	size_t records;	  /* u32 record_size */
	size_t record[4]; /* first records */
};

static struct layout walk(const uint8_t *b, size_t len)
{
	struct layout l = { 0 };
	size_t o = 16 + 16;
	uint32_t n;

	for (int i = 0; i < 5; i++) {
		l.string[i] = o;
		o += 2 + get_u16(b + o);
	}
	l.heartbeat = o;
	o += 16;
	o += 4 + 16 * (size_t)get_u32(b + o);
	l.drops = o;
	assert_int_equal(get_u32(b + o), WIRE_DROP__COUNT);
	o += 4 + 8 * WIRE_DROP__COUNT;
	l.table = o;
	n = get_u32(b + o);
	o += 4;
	for (uint32_t i = 0; i < n; i++) {
		if (i < 4)
			l.entry[i] = o;
		o += 8;
		o += 2 + get_u16(b + o);
		o += 2 + get_u16(b + o);
	}
	l.records = o;
	assert_int_equal(get_u32(b + o), REC_SIZE);
	n = get_u32(b + o + 4);
	o += 8;
	for (uint32_t i = 0; i < n && i < 4; i++)
		l.record[i] = o + (size_t)i * REC_SIZE;
	assert_int_equal(o + (size_t)n * REC_SIZE, len);
	return l;
}

/* ---- fixtures ------------------------------------------------------------ */

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char long_name[WIRE_MAX_STRING + 1]; /* 253 ASCII bytes */
static char long_utf8[WIRE_MAX_STRING + 1]; /* 253 bytes: 126 x "é" + "x" */
static uint8_t many_ips[WIRE_MAX_IPS][16];

static void init_strings(void)
{
	memset(long_name, 'n', WIRE_MAX_STRING);
	long_name[WIRE_MAX_STRING] = '\0';
	for (int i = 0; i < 126; i++)
		memcpy(long_utf8 + 2 * i, "\xc3\xa9", 2);
	long_utf8[252] = 'x';
	long_utf8[253] = '\0';
	for (int i = 0; i < WIRE_MAX_IPS; i++) {
		if (i % 2)
			addr_v6(many_ips[i], (uint8_t)i);
		else
			addr_v4(many_ips[i], 10, 0, 1, (uint8_t)i);
	}
}

#define N_RICH 9

/* Every kind of record the format carries. */
static void rich_records(struct flow_record r[N_RICH])
{
	r[0] = rec(1001, HEX64, "web", "curl"); /* IPv4 out */

	r[1] = rec(1001, HEX64, "web", "nginx"); /* IPv4 in, same container */
	r[1].direction = FLOW_DIRECTION_IN;
	r[1].local_port = 8080;
	r[1].remote_port = 0;

	r[2] = rec(2002, "", NULL,
		   "\xff\xfe\x80"
		   "abc"); /* IPv6 out, no container id */
	r[2].family = 6;
	addr_v6(r[2].local_addr, 1);
	addr_v6(r[2].remote_addr, 2);

	r[3] = rec(3003, "abc123", long_name, ""); /* IPv6 in, 253-byte name */
	r[3].family = 6;
	r[3].direction = FLOW_DIRECTION_IN;
	addr_v6(r[3].local_addr, 3);
	addr_v6(r[3].remote_addr, 4);
	memcpy(r[3].comm, "0123456789abcdef", 16); /* 16 bytes, no NUL */
	r[3].comm[16] = '\0';

	r[4] = rec(1001, HEX64, "web", "curl"); /* LATE: an RST after the final record */
	r[4].flows = 0;
	r[4].closed = 0;
	r[4].failed = 0;
	r[4].resets = 1;
	r[4].bytes_sent = r[4].bytes_received = r[4].segs_sent = r[4].segs_received = 0;

	r[5] = rec(UINT64_MAX, HEX64, long_utf8, "max"); /* every field at its maximum */
	r[5].start_ms = r[5].end_ms = UINT64_MAX;
	r[5].bytes_sent = r[5].bytes_received = UINT64_MAX;
	r[5].segs_sent = r[5].segs_received = UINT64_MAX;
	r[5].flows = r[5].closed = r[5].failed = UINT32_MAX;
	r[5].retransmits = r[5].resets = r[5].srtt_us = r[5].min_rtt_us = r[5].pid = UINT32_MAX;
	r[5].local_port = r[5].remote_port = r[5].err = 65535;
	r[5].family = 6;
	memset(r[5].local_addr, 0xff, 16);
	memset(r[5].remote_addr, 0xff, 16);

	r[6] = rec(2002, "", NULL, "java"); /* a refused connect, sharing r[2]'s container */
	r[6].flows = r[6].closed = r[6].failed = 1;
	r[6].err = ECONNREFUSED;
	r[6].resets = 1;

	r[7] = rec(0, "ffff", "", "zero"); /* cgroup id 0, an empty name */
	r[7].start_ms = r[7].end_ms = 0;

	r[8] = rec(4004, "", "sidecar", "\x01\x7f\xc3\x28"); /* control bytes, broken UTF-8 */
	r[8].direction = FLOW_DIRECTION_IN;
}

static struct wire_header rich_header(void)
{
	struct wire_header h = {
		.sender_id = 0x0123456789abcdefull,
		.seq = 7,
		.sender = { .app = "web",
			    .namespace = "default",
			    .pod = "web-7d9f8-abcde",
			    .node = "node-1",
			    .workload = long_utf8 },
		.span_start_ms = 1700000000000ull,
		.span_end_ms = 1700000010000ull,
		.n_ips = WIRE_MAX_IPS,
		.ips = (const uint8_t(*)[16])many_ips,
		.drops = { 1, 2, 3, 4, UINT64_MAX },
	};

	return h;
}

#define N_SMALL 2

/* A small batch whose bytes the rejection tests edit. */
static uint8_t *small_batch(enum wire_encoding enc, size_t *len, struct flow_record r[N_SMALL],
			    struct wire_header *h)
{
	static const uint8_t ip[1][16] = { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0,
					     7 } };

	r[0] = rec(5, "abc", "app", "curl");
	r[1] = rec(6, "", "", "sshd");
	r[1].family = 6;
	r[1].direction = FLOW_DIRECTION_IN;
	addr_v6(r[1].local_addr, 9);
	addr_v6(r[1].remote_addr, 10);
	*h = (struct wire_header){
		.sender_id = 99,
		.seq = 1,
		.sender = { .pod = "pod-a" },
		.span_start_ms = 10,
		.span_end_ms = 20,
		.n_ips = 1,
		.ips = ip,
	};
	return encode(enc, h, r, N_SMALL, len);
}

/* ---- round trips ---------------------------------------------------------- */

static void test_round_trip_every_encoding(void **state)
{
	struct flow_record r[N_RICH];
	struct wire_header h = rich_header();
	struct wire_decoder *d = wire_decoder__new(0);

	(void)state;
	assert_non_null(d);
	rich_records(r);
	for (int e = 0; e < N_ENC; e++) {
		size_t len;
		uint8_t *body = encode(encodings[e], &h, r, N_RICH, &len);
		const struct wire_batch *b = decode_ok(d, body, len, encodings[e]);

		assert_header(&h, b);
		assert_int_equal(b->n_records, N_RICH);
		for (int i = 0; i < N_RICH; i++)
			assert_record(&r[i], &b->records[i], b);
		/* records sharing a cgroup share one table entry and one name */
		assert_ptr_equal(b->records[0].container, b->records[1].container);
		assert_ptr_equal(b->records[0].container, b->records[4].container);
		assert_ptr_equal(b->records[2].container, b->records[6].container);
		if (encodings[e] == WIRE_ENC_IDENTITY) {
			struct layout l = walk(body, len);

			assert_memory_equal(body, "PFWB\x01\x00\x00\x00", 8);
			assert_int_equal(get_u32(body + 8), len - 16);
			assert_int_equal(get_u32(body + l.table), 6); /* distinct cgroups */
		}
		free(body);
	}
	wire_decoder__free(d);
}

static void test_round_trip_empty(void **state)
{
	struct wire_header h = { 0 }; /* every identity string NULL, no IPs, no drops */
	struct wire_decoder *d = wire_decoder__new(0);

	(void)state;
	assert_non_null(d);
	for (int e = 0; e < N_ENC; e++) {
		size_t len;
		uint8_t *body = encode(encodings[e], &h, NULL, 0, &len);
		const struct wire_batch *b = decode_ok(d, body, len, encodings[e]);

		assert_header(&h, b);
		assert_int_equal(b->n_records, 0);
		if (encodings[e] == WIRE_ENC_IDENTITY)
			/* prefix, ids, 5 empty strings, heartbeat, drops, table, records header */
			assert_int_equal(len, 16 + 16 + 10 + 20 + 44 + 4 + 8);
		free(body);
	}
	wire_decoder__free(d);
}

static void test_round_trip_levels(void **state)
{
	struct flow_record r[N_RICH];
	struct wire_header h = rich_header();
	const struct {
		enum wire_encoding enc;
		int level;
	} cases[] = { { WIRE_ENC_ZSTD, 1 },
		      { WIRE_ENC_ZSTD, 19 },
		      { WIRE_ENC_ZSTD, -5 },
		      { WIRE_ENC_GZIP, 1 },
		      { WIRE_ENC_GZIP, 9 } };
	struct wire_decoder *d = wire_decoder__new(0);

	(void)state;
	rich_records(r);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct wire_encoder *e = wire_encoder__new(cases[c].enc, cases[c].level);
		const struct wire_batch *b;
		const void *body;
		size_t len;

		assert_non_null(e);
		for (int i = 0; i < N_RICH; i++)
			assert_int_equal(wire_encoder__add(e, &r[i]), 0);
		assert_int_equal(wire_encoder__finish(e, &h, &body, &len), 0);
		b = decode_ok(d, body, len, cases[c].enc);
		assert_int_equal(b->n_records, N_RICH);
		assert_record(&r[5], &b->records[5], b);
		wire_encoder__free(e);
	}
	assert_null(wire_encoder__new(WIRE_ENC_ZSTD, 100));
	assert_int_equal(errno, EINVAL);
	assert_null(wire_encoder__new(WIRE_ENC_GZIP, 10));
	assert_int_equal(errno, EINVAL);
	assert_null(wire_encoder__new((enum wire_encoding)7, 0));
	assert_int_equal(errno, ENOTSUP);
	wire_decoder__free(d);
}

/* The encoder's and decoder's memory is reused: results stay right across calls. */
static void test_reuse(void **state)
{
	struct flow_record r[N_RICH], s[N_SMALL];
	struct wire_header h = rich_header(), hs;
	struct wire_decoder *d = wire_decoder__new(0);

	(void)state;
	rich_records(r);
	for (int e = 0; e < N_ENC; e++) {
		struct wire_encoder *enc = wire_encoder__new(encodings[e], 0);
		size_t small_len, len1, len2;
		uint8_t *small = small_batch(encodings[e], &small_len, s, &hs), *first;
		const struct wire_batch *b;
		const void *body;

		for (int i = 0; i < N_RICH; i++)
			assert_int_equal(wire_encoder__add(enc, &r[i]), 0);
		assert_int_equal(wire_encoder__finish(enc, &h, &body, &len1), 0);
		first = malloc(len1);
		memcpy(first, body, len1);
		/* finishing again gives the same body */
		assert_int_equal(wire_encoder__finish(enc, &h, &body, &len2), 0);
		assert_int_equal(len1, len2);
		assert_memory_equal(first, body, len1);

		decode_ok(d, first, len1, encodings[e]);
		b = decode_ok(d, small, small_len, encodings[e]);
		assert_header(&hs, b);
		assert_int_equal(b->n_records, N_SMALL);
		assert_record(&s[1], &b->records[1], b);
		expect_error(d, small, small_len - 1, encodings[e], -EBADMSG, "truncated");
		b = decode_ok(d, first, len1, encodings[e]);
		assert_int_equal(wire_decoder__error(d)[0], '\0');
		assert_header(&h, b);
		for (int i = 0; i < N_RICH; i++)
			assert_record(&r[i], &b->records[i], b);

		/* after a reset the table starts over */
		wire_encoder__reset(enc);
		assert_int_equal(wire_encoder__count(enc), 0);
		assert_int_equal(wire_encoder__add(enc, &r[2]), 0);
		assert_int_equal(wire_encoder__finish(enc, &hs, &body, &len2), 0);
		b = decode_ok(d, body, len2, encodings[e]);
		assert_int_equal(b->n_records, 1);
		assert_record(&r[2], &b->records[0], b);
		free(first);
		free(small);
		wire_encoder__free(enc);
	}
	wire_decoder__free(d);
}

/* ---- limits --------------------------------------------------------------- */

static void test_max_records(void **state)
{
	struct wire_encoder *e = wire_encoder__new(WIRE_ENC_IDENTITY, 0);
	struct wire_decoder *d = wire_decoder__new(64u << 20); /* a full batch is ~36 MiB */
	struct wire_header h = { .seq = 1 };
	const struct wire_batch *b;
	struct flow_record r;
	const void *body;
	size_t len;

	(void)state;
	assert_non_null(e);
	assert_non_null(d);
	for (uint32_t i = 0; i < WIRE_MAX_RECORDS; i++) {
		r = rec(i % 5, "", NULL, "w");
		r.bytes_sent = i;
		r.pid = i * 3;
		r.remote_port = (uint16_t)i;
		assert_int_equal(wire_encoder__add(e, &r), 0);
	}
	assert_int_equal(wire_encoder__add(e, &r), -E2BIG);
	assert_int_equal(wire_encoder__count(e), WIRE_MAX_RECORDS);
	assert_int_equal(wire_encoder__finish(e, &h, &body, &len), 0);
	assert_true(wire_encoder__size(e) >= len);
	b = decode_ok(d, body, len, WIRE_ENC_IDENTITY);
	assert_int_equal(b->n_records, WIRE_MAX_RECORDS);
	for (uint32_t i = 0; i < WIRE_MAX_RECORDS; i++) {
		r = rec(i % 5, "", NULL, "w");
		r.bytes_sent = i;
		r.pid = i * 3;
		r.remote_port = (uint16_t)i;
		assert_record(&r, &b->records[i], b);
	}
	wire_decoder__free(d);
	wire_encoder__free(e);
}

static void test_max_containers(void **state)
{
	struct wire_encoder *e = wire_encoder__new(WIRE_ENC_ZSTD, 0);
	struct wire_decoder *d = wire_decoder__new(0);
	struct wire_header h = { .seq = 2 };
	const struct wire_batch *b;
	struct flow_record r;
	const void *body;
	char id[65];
	size_t len;

	(void)state;
	for (uint32_t i = 0; i < WIRE_MAX_CONTAINERS; i++) {
		snprintf(id, sizeof(id), "%064x", i);
		r = rec(100 + i, id, long_name, "c");
		assert_int_equal(wire_encoder__add(e, &r), 0);
	}
	r = rec(100 + WIRE_MAX_CONTAINERS, "", NULL, "c");
	assert_int_equal(wire_encoder__add(e, &r), -E2BIG);
	assert_int_equal(wire_encoder__count(e), WIRE_MAX_CONTAINERS);
	/* a known container still fits */
	r = rec(100, "", NULL, "c");
	assert_int_equal(wire_encoder__add(e, &r), 0);
	assert_int_equal(wire_encoder__finish(e, &h, &body, &len), 0);
	b = decode_ok(d, body, len, WIRE_ENC_ZSTD);
	assert_int_equal(b->n_records, WIRE_MAX_CONTAINERS + 1);
	for (uint32_t i = 0; i < WIRE_MAX_CONTAINERS; i++) {
		snprintf(id, sizeof(id), "%064x", i);
		r = rec(100 + i, id, long_name, "c");
		assert_record(&r, &b->records[i], b);
	}
	/* the first record of a cgroup names its container */
	snprintf(id, sizeof(id), "%064x", 0);
	r = rec(100, id, long_name, "c");
	assert_record(&r, &b->records[WIRE_MAX_CONTAINERS], b);
	wire_decoder__free(d);
	wire_encoder__free(e);
}

/* ---- rejections ------------------------------------------------------------ */

static void test_truncations(void **state)
{
	struct wire_decoder *d = wire_decoder__new(0);
	struct flow_record r[N_SMALL];
	struct report_fault f = {
		.fault = "batch cut short at every byte, in every encoding",
		.unit = "malformed batches",
		.counted_as = "-EBADMSG naming what is truncated (400)",
	};
	struct wire_header h;

	(void)state;
	for (int e = 0; e < N_ENC; e++) {
		size_t len;
		uint8_t *body = small_batch(encodings[e], &len, r, &h);

		for (size_t n = 0; n < len; n++) {
			/* a copy of exactly n bytes, so ASan sees any read past them */
			uint8_t *cut = malloc(n ? n : 1);

			memcpy(cut, body, n);
			f.injected++;
			f.counted +=
			    expect_error(d, cut, n, encodings[e], -EBADMSG, "truncated") < 0;
			free(cut);
		}
		free(body);
	}
	wire_decoder__free(d);
	report("test_truncations", &f);
}

static void test_trailing_byte(void **state)
{
	struct wire_decoder *d = wire_decoder__new(0);
	struct flow_record r[N_SMALL];
	struct report_fault f = {
		.fault = "a byte after the end of the batch, in every encoding",
		.unit = "malformed batches",
		.counted_as = "-EBADMSG \"trailing\" (400)",
	};
	struct wire_header h;

	(void)state;
	for (int e = 0; e < N_ENC; e++) {
		size_t len;
		uint8_t *body = small_batch(encodings[e], &len, r, &h);
		uint8_t *more = malloc(len + 1);

		memcpy(more, body, len);
		more[len] = 0;
		f.injected++;
		f.counted += expect_error(d, more, len + 1, encodings[e], -EBADMSG, "trailing") < 0;
		free(more);
		free(body);
	}
	wire_decoder__free(d);
	report("test_trailing_byte", &f);
}

static void test_prefix(void **state)
{
	struct wire_decoder *d = wire_decoder__new(0);
	struct flow_record r[N_SMALL];
	struct report_fault f = {
		.fault = "bad magic, version, flags, CRC or encoding; an empty body",
		.unit = "malformed batches",
		.counted_as = "-EBADMSG, -EPROTONOSUPPORT or -ENOTSUP naming the field",
	};
	struct wire_header h;
	size_t len;
	uint8_t *body = small_batch(WIRE_ENC_IDENTITY, &len, r, &h);

#define REFUSED(call)                    \
	do {                             \
		f.injected++;            \
		f.counted += (call) < 0; \
	} while (0)
	(void)state;
	body[0] = 'X';
	REFUSED(expect_error(d, body, len, WIRE_ENC_IDENTITY, -EBADMSG, "bad magic 0x42574658"));
	body[0] = 'P';
	put_u16(body + 4, 2);
	REFUSED(expect_error(d, body, len, WIRE_ENC_IDENTITY, -EPROTONOSUPPORT, "version 2"));
	put_u16(body + 4, 1);
	put_u16(body + 6, 0x8000);
	REFUSED(expect_error(d, body, len, WIRE_ENC_IDENTITY, -EBADMSG, "flags 0x8000"));
	put_u16(body + 6, 0);
	body[20] ^= 1;
	REFUSED(expect_error(d, body, len, WIRE_ENC_IDENTITY, -EBADMSG, "CRC mismatch"));
	body[20] ^= 1;
	decode_ok(d, body, len, WIRE_ENC_IDENTITY);
	REFUSED(expect_error(d, body, len, (enum wire_encoding)3, -ENOTSUP, "encoding 3"));
	REFUSED(expect_error(d, NULL, 0, WIRE_ENC_IDENTITY, -EBADMSG,
			     "truncated: prefix needs 16 bytes"));
#undef REFUSED
	free(body);
	wire_decoder__free(d);
	report("test_prefix", &f);
}

/* Payloads over the decoder's cap: -EMSGSIZE in every encoding. */
static void test_over_cap(void **state)
{
	struct wire_decoder *d = wire_decoder__new(4096);
	struct wire_header h = { .seq = 3 };
	struct flow_record r[64];
	struct report_fault f = {
		.fault = "batch over the decoder's size cap, in every encoding",
		.unit = "malformed batches",
		.counted_as = "-EMSGSIZE naming the limit (413)",
	};

	(void)state;
	for (int i = 0; i < 64; i++)
		r[i] = rec((uint64_t)i, "", NULL, "big");
	for (int e = 0; e < N_ENC; e++) {
		size_t len;
		uint8_t *body = encode(encodings[e], &h, r, 64, &len);

		f.injected++;
		f.counted += expect_error(d, body, len, encodings[e], -EMSGSIZE, "-byte limit") < 0;
		free(body);
	}
	wire_decoder__free(d);
	report("test_over_cap", &f);
}

/* The "stopped after N of M compressed bytes" numbers of an over-limit message. */
static void assert_stopped_early(struct wire_decoder *d)
{
	const char *s = strstr(wire_decoder__error(d), "stopped after ");
	size_t used, total;

	assert_non_null(s);
	assert_int_equal(sscanf(s, "stopped after %zu of %zu", &used, &total), 2);
	if (used * 4 > total) {
		print_error("read %zu of %zu compressed bytes before stopping\n", used, total);
		fail();
	}
}

static void test_zstd_bombs(void **state)
{
	struct wire_decoder *d = wire_decoder__new(SMALL_CAP);
	size_t nblocks = 2048, len = 6 + 4 * nblocks, zlen, zcap;
	uint8_t *bomb = malloc(len), *zeros, *z;
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	struct report_fault f = {
		.fault =
		    "zstd bombs: 8 KiB to 256 MiB, undeclared size, huge declared size or window",
		.unit = "malformed batches",
		.counted_as = "-EMSGSIZE, having read a fraction of the input",
	};
	ZSTD_outBuffer out;
	ZSTD_inBuffer in;

	(void)state;
	/*
	 * Hand-made (RFC 8878 3.1.1): no content size, 128 KiB window, 2048 RLE
	 * blocks of 128 KiB zeros: 8 KiB expanding to 256 MiB.
	 */
	put_u32(bomb, ZSTD_MAGICNUMBER);
	bomb[4] = 0x00;	  /* FHD: no content size, not single segment, no checksum */
	bomb[5] = 7 << 3; /* window 2^(10+7) */
	for (size_t i = 0; i < nblocks; i++) {
		uint32_t bh = (uint32_t)(i == nblocks - 1) | 1u << 1 | (128u << 10) << 3;

		bomb[6 + 4 * i] = (uint8_t)bh;
		bomb[6 + 4 * i + 1] = (uint8_t)(bh >> 8);
		bomb[6 + 4 * i + 2] = (uint8_t)(bh >> 16);
		bomb[6 + 4 * i + 3] = 0;
	}
	f.injected++;
	f.counted +=
	    expect_error(d, bomb, len, WIRE_ENC_ZSTD, -EMSGSIZE, "decompressed body exceeds") < 0;
	assert_stopped_early(d);

	/*
	 * libzstd's own: 16 MiB of zeros streamed, so the frame does not declare
	 * its size, with a window the cap allows
	 */
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 17)));
	zeros = calloc(1, 16u << 20);
	zcap = ZSTD_compressBound(16u << 20);
	z = malloc(zcap);
	out = (ZSTD_outBuffer){ z, zcap, 0 };
	for (size_t off = 0; off < (16u << 20); off += 1u << 20) {
		in = (ZSTD_inBuffer){ zeros + off, 1u << 20, 0 };
		assert_false(ZSTD_isError(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_continue)));
	}
	in = (ZSTD_inBuffer){ NULL, 0, 0 };
	assert_int_equal(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_end), 0);
	zlen = out.pos;
	assert_true(zlen < 8192);
	assert_int_equal(ZSTD_getFrameContentSize(z, zlen), ZSTD_CONTENTSIZE_UNKNOWN);
	f.injected++;
	f.counted +=
	    expect_error(d, z, zlen, WIRE_ENC_ZSTD, -EMSGSIZE, "decompressed body exceeds") < 0;
	assert_stopped_early(d);

	/* a frame declaring more than the cap is refused before decompressing anything */
	zlen = ZSTD_compress(z, zcap, zeros, 1u << 20, 3);
	assert_false(ZSTD_isError(zlen));
	f.injected++;
	f.counted +=
	    expect_error(d, z, zlen, WIRE_ENC_ZSTD, -EMSGSIZE, "frame declares 1048576 bytes") < 0;

	/* a window bigger than the cap could ever need */
	bomb[5] = 20 << 3;
	f.injected++;
	f.counted += expect_error(d, bomb, len, WIRE_ENC_ZSTD, -EMSGSIZE, "window") < 0;

	ZSTD_freeCCtx(cc);
	free(z);
	free(zeros);
	free(bomb);
	wire_decoder__free(d);
	report("test_zstd_bombs", &f);
}

static void test_gzip_bomb(void **state)
{
	struct wire_decoder *d = wire_decoder__new(SMALL_CAP);
	size_t n = 16u << 20;
	uint8_t *zeros = calloc(1, n), *z;
	z_stream zs = { 0 };
	struct report_fault f = {
		.fault = "gzip bomb: a few KB expanding to 16 MiB",
		.unit = "malformed batches",
		.counted_as = "-EMSGSIZE, having read a fraction of the input",
	};

	(void)state;
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + 15, 9, Z_DEFAULT_STRATEGY), Z_OK);
	z = malloc(deflateBound(&zs, n));
	zs.next_in = zeros;
	zs.avail_in = (uInt)n;
	zs.next_out = z;
	zs.avail_out = (uInt)deflateBound(&zs, n);
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	assert_true(zs.total_out < 20000); /* a few KB expanding to 16 MiB */
	f.injected++;
	f.counted += expect_error(d, z, zs.total_out, WIRE_ENC_GZIP, -EMSGSIZE,
				  "decompressed body exceeds") < 0;
	assert_stopped_early(d);
	deflateEnd(&zs);
	free(z);
	free(zeros);
	wire_decoder__free(d);
	report("test_gzip_bomb", &f);
}

/*
 * Every single-bit flip of a small batch.  Identity: always an error (the
 * CRC).  zstd and gzip: an error, or the identical batch where the flip
 * turns the body into another valid encoding of the same bytes (a match
 * distance moved to another run of zeros, a gzip MTIME bit): a flip never
 * yields different data.
 */
static void test_bit_flips(void **state)
{
	struct wire_decoder *d = wire_decoder__new(0);
	struct flow_record r[N_SMALL];
	struct report_fault f = {
		.fault = "every single-bit flip of a batch, in every encoding",
		.unit = "flipped batches",
		.counted_as = "-EBADMSG, -EMSGSIZE or -EPROTONOSUPPORT with a reason",
		.note = "delivered: the flip left another valid encoding of the same batch "
			"(compressed only), decoded identical",
	};
	struct wire_header h;

	(void)state;
	for (int e = 0; e < N_ENC; e++) {
		size_t len, same = 0;
		uint8_t *body = small_batch(encodings[e], &len, r, &h);

		decode_ok(d, body, len, encodings[e]);
		for (size_t bit = 0; bit < len * 8; bit++) {
			struct wire_batch *b;
			int rc;

			body[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			f.injected++;
			rc = wire_decoder__decode(d, body, len, encodings[e], &b);
			if (rc == 0 && encodings[e] == WIRE_ENC_IDENTITY) {
				print_error("flipping bit %zu (byte %zu of %zu) went unnoticed\n",
					    bit, bit / 8, len);
				fail();
			}
			if (rc == 0) {
				assert_header(&h, b);
				assert_int_equal(b->n_records, N_SMALL);
				for (int i = 0; i < N_SMALL; i++)
					assert_record(&r[i], &b->records[i], b);
				same++;
				f.delivered++;
			} else {
				assert_true(rc == -EBADMSG || rc == -EMSGSIZE ||
					    rc == -EPROTONOSUPPORT);
				assert_true(wire_decoder__error(d)[0] != '\0');
				f.counted++;
			}
			body[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		print_message("  %s: %zu bits flipped, %zu errors, %zu the identical batch\n",
			      wire_encoding_name(encodings[e]), len * 8, len * 8 - same, same);
		decode_ok(d, body, len, encodings[e]);
		free(body);
	}
	wire_decoder__free(d);
	report("test_bit_flips", &f);
}

/* One edit of an identity batch, CRC recomputed: the decoder must name the field. */
struct violation {
	const char *what;
	void (*edit)(uint8_t *b, const struct layout *l);
	const char *substr;
};

#define EDIT(name) static void name(uint8_t *b, const struct layout *l)

EDIT(family_5)
{
	b[l->record[0] + R_FAMILY] = 5;
}
EDIT(family_6_v4)
{
	b[l->record[0] + R_FAMILY] = 6;
}
EDIT(family_4_v6)
{
	b[l->record[1] + R_FAMILY] = 4;
}
EDIT(direction_0)
{
	b[l->record[0] + R_DIR] = 0;
}
EDIT(direction_3)
{
	b[l->record[1] + R_DIR] = 3;
}
EDIT(container_oob)
{
	put_u16(b + l->record[1] + R_CONT, 2);
}
EDIT(closed_over_flows)
{
	put_u32(b + l->record[0] + R_CLOSED, 4); /* flows 3 */
}
EDIT(failed_over_closed)
{
	put_u32(b + l->record[0] + R_FAILED, 2); /* closed 1 */
}
EDIT(late_closed)
{
	put_u32(b + l->record[0] + R_FLOWS, 0); /* closed 1 */
}
EDIT(start_after_end)
{
	put_u64(b + l->record[1], 1700000010001ull);
}
EDIT(span_start_after_end)
{
	put_u64(b + l->heartbeat, 21);
}
EDIT(n_ips_65)
{
	put_u32(b + l->heartbeat + 16, 65);
}
EDIT(drop_count_4)
{
	put_u32(b + l->drops, 4);
}
EDIT(drop_count_6)
{
	put_u32(b + l->drops, 6);
}
EDIT(pod_not_utf8)
{
	b[l->string[0] + 2 + 1] = 0xff;
}
EDIT(pod_overlong)
{
	b[l->string[0] + 2] = 0xc0; /* "\xc0\x8f": an overlong encoding */
	b[l->string[0] + 3] = 0x8f;
}
EDIT(pod_nul)
{
	b[l->string[0] + 2 + 4] = 0;
}
EDIT(pod_too_long)
{
	put_u16(b + l->string[0], 254);
}
EDIT(container_id_upper)
{
	b[l->entry[0] + 8 + 2 + 1] = 'B'; /* "abc" -> "aBc" */
}
EDIT(container_id_too_long)
{
	put_u16(b + l->entry[0] + 8, 65);
}
EDIT(container_name_not_utf8)
{
	b[l->entry[0] + 8 + 2 + 3 + 2 + 2] = 0x80; /* "app" -> "ap\x80" */
}
EDIT(cgroup_duplicate)
{
	put_u64(b + l->entry[1], 5);
}
EDIT(table_count)
{
	put_u32(b + l->table, WIRE_MAX_CONTAINERS + 1);
}
EDIT(table_count_huge)
{
	put_u32(b + l->table, 0xffffffff);
}
EDIT(table_count_short)
{
	put_u32(b + l->table, 30); /* 30 entries need 360 bytes: more than is left */
}
EDIT(padding)
{
	b[l->record[1] + R_PAD + 5] = 1;
}
EDIT(comm_after_nul)
{
	b[l->record[0] + R_COMM + 10] = 'x'; /* "curl\0\0..." */
}
EDIT(record_size)
{
	put_u32(b + l->records, 152);
}
EDIT(record_count_max)
{
	put_u32(b + l->records + 4, WIRE_MAX_RECORDS + 1);
}
EDIT(record_count_more)
{
	put_u32(b + l->records + 4, 3);
}
EDIT(record_count_less)
{
	put_u32(b + l->records + 4, 1);
}

static void test_field_violations(void **state)
{
	static const struct violation cases[] = {
		{ "family 5", family_5, "record 0: family 5 not 4 or 6" },
		{ "family 6, v4-mapped", family_6_v4, "record 0: family 6 but both" },
		{ "family 4, IPv6", family_4_v6, "record 1: family 4 but the local address" },
		{ "direction 0", direction_0, "record 0: direction 0" },
		{ "direction 3", direction_3, "record 1: direction 3" },
		{ "container index", container_oob, "record 1: container index 2 out of range" },
		{ "closed > flows", closed_over_flows, "record 0: closed 4 > flows 3" },
		{ "failed > closed", failed_over_closed, "record 0: failed 2 > closed 1" },
		{ "flows 0, closed 1", late_closed, "record 0: closed 1 > flows 0" },
		{ "span", span_start_after_end,
		  "heartbeat: span_start_ms 21 after span_end_ms 20" },
		{ "n_ips", n_ips_65, "heartbeat: n_ips 65 exceeds 64" },
		{ "drops 4", drop_count_4, "drops: count 4" },
		{ "drops 6", drop_count_6, "drops: count 6" },
		{ "pod UTF-8", pod_not_utf8, "sender pod: byte 0xff at 1 is not UTF-8" },
		{ "pod overlong", pod_overlong, "sender pod: byte 0xc0 at 0 is not UTF-8" },
		{ "pod NUL", pod_nul, "sender pod: byte 0x00 at 4" },
		{ "pod length", pod_too_long, "sender pod: length 254 exceeds 253" },
		{ "hex", container_id_upper,
		  "container 0 container_id: byte 0x42 at 1 is not lowercase hex" },
		{ "id length", container_id_too_long,
		  "container 0 container_id: length 65 exceeds 64" },
		{ "name", container_name_not_utf8,
		  "container 0 name: byte 0x80 at 2 is not UTF-8" },
		{ "cgroup dup", cgroup_duplicate,
		  "container 1: cgroup_id 5 duplicates container 0" },
		{ "table count", table_count, "container table: count 1025 exceeds 1024" },
		{ "table huge", table_count_huge, "container table: count 4294967295 exceeds" },
		{ "table short", table_count_short, "truncated: container table needs 360 bytes" },
		{ "padding", padding, "record 1: padding byte 5 is 0x01, not zero" },
		{ "comm", comm_after_nul, "record 0: comm byte 10 is 0x78 after its NUL" },
		{ "record size", record_size, "records: record_size 152" },
		{ "record count", record_count_max, "records: count 262145 exceeds 262144" },
		{ "records more", record_count_more, "truncated: records needs 432 bytes" },
		{ "records fewer", record_count_less,
		  "trailing: 144 bytes after the last of 1 records" },
	};
	struct wire_decoder *d = wire_decoder__new(0);
	struct flow_record r[N_SMALL];
	struct wire_header h;
	size_t len;
	uint8_t *body = small_batch(WIRE_ENC_IDENTITY, &len, r, &h), *b = malloc(len);
	struct layout l = walk(body, len);
	struct report_fault f = {
		.fault = "one field out of range, CRC still right (family, counts, UTF-8, ...)",
		.unit = "malformed batches",
		.counted_as = "-EBADMSG naming the record and field (400)",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(b, body, len);
		cases[i].edit(b, &l);
		recrc(b, len);
		print_message("  %s\n", cases[i].what);
		f.injected++;
		f.counted +=
		    expect_error(d, b, len, WIRE_ENC_IDENTITY, -EBADMSG, cases[i].substr) < 0;
	}
	free(b);
	free(body);
	wire_decoder__free(d);
	report("test_field_violations", &f);
}

/*
 * A record that ends before it starts is the collector's to drop, alone
 * (docs/wire.md "Record"): the decoder hands it over as it came, and the
 * batch with it.
 */
static void test_start_after_end_decoded(void **state)
{
	struct wire_decoder *d = wire_decoder__new(0);
	struct flow_record r[N_SMALL];
	struct wire_batch *out;
	struct wire_header h;
	size_t len;
	uint8_t *body = small_batch(WIRE_ENC_IDENTITY, &len, r, &h);
	struct layout l = walk(body, len);

	(void)state;
	start_after_end(body, &l);
	recrc(body, len);
	assert_int_equal(wire_decoder__decode(d, body, len, WIRE_ENC_IDENTITY, &out), 0);
	assert_int_equal(out->n_records, N_SMALL);
	assert_int_equal(out->records[1].start_ms, 1700000010001ull);
	assert_int_equal(out->records[1].end_ms, r[1].end_ms);
	assert_true(out->records[1].start_ms > out->records[1].end_ms);
	assert_int_equal(out->records[0].start_ms, r[0].start_ms);
	free(body);
	wire_decoder__free(d);
}

/* The encoder refuses what the decoder would reject, and a record ending before it starts. */
static void test_encoder_rejects(void **state)
{
	struct wire_encoder *e = wire_encoder__new(WIRE_ENC_IDENTITY, 0);
	struct flow_record ok = rec(1, "abc", "app", "curl"), r;
	static const uint8_t ip[1][16];
	char long_str[300];
	struct wire_header h = { .seq = 1 };
	struct report_fault f = {
		.fault = "the sender given records or a header the decoder would refuse",
		.unit = "records and headers",
		.counted_as = "-EINVAL from the encoder: never sent",
	};
	const void *body;
	size_t len;

#define REFUSED(call)                           \
	do {                                    \
		int rc_ = (call);               \
                                                \
		f.injected++;                   \
		f.counted += rc_ < 0;           \
		assert_int_equal(rc_, -EINVAL); \
	} while (0)
	(void)state;
	r = ok;
	r.family = 5;
	REFUSED(wire_encoder__add(e, &r));
	r = ok;
	r.family = 6;
	REFUSED(wire_encoder__add(e, &r));
	r = ok;
	addr_v6(r.remote_addr, 1);
	REFUSED(wire_encoder__add(e, &r));
	r = ok;
	r.direction = 0;
	REFUSED(wire_encoder__add(e, &r));
	r = ok;
	r.start_ms = r.end_ms + 1;
	REFUSED(wire_encoder__add(e, &r));
	r = ok;
	r.closed = r.flows + 1;
	REFUSED(wire_encoder__add(e, &r));
	r = ok;
	r.failed = r.closed + 1;
	REFUSED(wire_encoder__add(e, &r));
	r = ok;
	strcpy(r.container_id, "ABC");
	REFUSED(wire_encoder__add(e, &r));
	r = ok;
	memset(r.container_id, 'a', sizeof(r.container_id)); /* 65 digits, no NUL */
	REFUSED(wire_encoder__add(e, &r));
	r = ok;
	memset(long_str, 'x', 254);
	long_str[254] = '\0';
	r.container = long_str;
	REFUSED(wire_encoder__add(e, &r));
	r = ok;
	r.container = "\xff";
	REFUSED(wire_encoder__add(e, &r));
	assert_int_equal(wire_encoder__count(e), 0);

	/* a bad container id is fine when the cgroup is already known: the first one counts */
	assert_int_equal(wire_encoder__add(e, &ok), 0);
	r = ok;
	strcpy(r.container_id, "ABC");
	assert_int_equal(wire_encoder__add(e, &r), 0);
	assert_int_equal(wire_encoder__count(e), 2);

	h.sender.pod = long_str;
	REFUSED(wire_encoder__finish(e, &h, &body, &len));
	h.sender.pod = NULL;
	h.sender.workload = "caf\xc3";
	REFUSED(wire_encoder__finish(e, &h, &body, &len));
	h.sender.workload = NULL;
	h.n_ips = WIRE_MAX_IPS + 1;
	h.ips = (const uint8_t(*)[16])many_ips;
	REFUSED(wire_encoder__finish(e, &h, &body, &len));
	h.n_ips = 1;
	h.ips = NULL;
	REFUSED(wire_encoder__finish(e, &h, &body, &len));
	h.ips = ip;
	h.span_start_ms = 2;
	h.span_end_ms = 1;
	REFUSED(wire_encoder__finish(e, &h, &body, &len));
	h.span_end_ms = 2;
	long_str[WIRE_MAX_STRING] = '\0';
	h.sender.pod = long_str;
	assert_int_equal(wire_encoder__finish(e, &h, &body, &len), 0);
	wire_encoder__free(e);
#undef REFUSED
	report("test_encoder_rejects", &f);
}

/* ---- names ------------------------------------------------------------------- */

static void test_encoding_parse(void **state)
{
	const struct {
		const char *in;
		int rc;
		enum wire_encoding enc;
	} cases[] = {
		{ NULL, 0, WIRE_ENC_IDENTITY },
		{ "", 0, WIRE_ENC_IDENTITY },
		{ " \t", 0, WIRE_ENC_IDENTITY },
		{ "identity", 0, WIRE_ENC_IDENTITY },
		{ "IDENTITY", 0, WIRE_ENC_IDENTITY },
		{ "zstd", 0, WIRE_ENC_ZSTD },
		{ " ZStd ", 0, WIRE_ENC_ZSTD },
		{ "gzip", 0, WIRE_ENC_GZIP },
		{ "\tGZIP\r\n", 0, WIRE_ENC_GZIP },
		{ "x-gzip", 0, WIRE_ENC_GZIP },
		{ "X-Gzip", 0, WIRE_ENC_GZIP },
		{ "br", -ENOTSUP, 0 },
		{ "deflate", -ENOTSUP, 0 },
		{ "gzip, zstd", -ENOTSUP, 0 },
		{ "zstdx", -ENOTSUP, 0 },
		{ "gzi", -ENOTSUP, 0 },
		{ "z std", -ENOTSUP, 0 },
		{ "identity;q=1", -ENOTSUP, 0 },
	};
	struct report_fault f = {
		.fault = "Content-Encoding not identity, zstd or gzip (br, lists, parameters)",
		.unit = "header values",
		.counted_as = "-ENOTSUP (415)",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum wire_encoding enc = (enum wire_encoding)99;
		int rc = wire_encoding_parse(cases[i].in, &enc);

		assert_int_equal(rc, cases[i].rc);
		if (cases[i].rc == 0)
			assert_int_equal(enc, cases[i].enc);
		f.injected += cases[i].rc != 0;
		f.counted += rc < 0;
	}
	for (int e = 0; e < N_ENC; e++) {
		enum wire_encoding enc;

		assert_int_equal(wire_encoding_parse(wire_encoding_name(encodings[e]), &enc), 0);
		assert_int_equal(enc, encodings[e]);
	}
	assert_string_equal(wire_encoding_name(WIRE_ENC_IDENTITY), "identity");
	assert_string_equal(wire_encoding_name(WIRE_ENC_ZSTD), "zstd");
	assert_string_equal(wire_encoding_name(WIRE_ENC_GZIP), "gzip");
	assert_string_equal(wire_encoding_name((enum wire_encoding)9), "unknown");
	report("test_encoding_parse", &f);
}

static void test_drop_names(void **state)
{
	(void)state;
	assert_string_equal(wire_drop_name(WIRE_DROP_KERNEL_RING), "kernel_ring");
	assert_string_equal(wire_drop_name(WIRE_DROP_KERNEL_MAP), "kernel_map");
	assert_string_equal(wire_drop_name(WIRE_DROP_TABLE), "table");
	assert_string_equal(wire_drop_name(WIRE_DROP_BUFFER), "buffer");
	assert_string_equal(wire_drop_name(WIRE_DROP_REJECTED), "rejected");
	assert_string_equal(wire_drop_name(WIRE_DROP__COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_every_encoding),
		cmocka_unit_test(test_round_trip_empty),
		cmocka_unit_test(test_round_trip_levels),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_max_records),
		cmocka_unit_test(test_max_containers),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_trailing_byte),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_over_cap),
		cmocka_unit_test(test_zstd_bombs),
		cmocka_unit_test(test_gzip_bomb),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_field_violations),
		cmocka_unit_test(test_start_after_end_decoded),
		cmocka_unit_test(test_encoder_rejects),
		cmocka_unit_test(test_encoding_parse),
		cmocka_unit_test(test_drop_names),
	};

	init_strings();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
