// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer target for lib/ipfix's decoder: no input crashes it, and what it accepts round-trips. */
/*
 * An input is a flags byte and then datagrams back to back, each as long
 * as its IPFIX header's length field says (or, when that is out of range,
 * the rest of the input, whole): so one input carries templates and the
 * data that uses them.  Bit 0 of the flags honours withdrawals (the TCP
 * mode) instead of ignoring them (UDP).  Every input gets a fresh decoder
 * holding at most 2 exporters of 8 templates, so runs are reproducible and
 * eviction is reached; all datagrams come from one address and port, and
 * the exporters differ by observation domain.
 *
 * A datagram that is refused must be refused with one of the documented
 * codes and a one-line message, and give no message.  One that is taken
 * must give consistent output (records no more than data records, local
 * set exactly when the sender is known), and its records and report are
 * encoded again by lib/ipfix's encoder, decoded by a fresh decoder and must
 * come back the same, field by field: the encoder takes all the decoder
 * gives, and neither loses anything.
 *
 * Seeds: the committed corpus (tests/fuzz/corpus/fuzz_ipfix) is what this
 * target writes into an empty corpus directory, from the encoder: reports
 * of IPv4 and IPv6 records, split at 512 bytes, the longest strings and
 * 64 IPv6 pod IPs, octetDeltaCount templates, a withdrawal, templates sent
 * again mid-report, data without its identity.  To regenerate them:
 *   rm tests/fuzz/corpus/fuzz_ipfix/\* &&
 *   build/fuzz/fuzz_ipfix -runs=0 tests/fuzz/corpus/fuzz_ipfix
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ipfix.h"

#define OUT_MAX (1u << 20)

/* ---- seeds ----------------------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t len;
};

static void buf_send(void *ctx, const void *msg, size_t len, uint32_t records)
{
	struct buf *b = ctx;

	(void)records;
	if (b->len + len > OUT_MAX)
		abort();
	memcpy(b->p + b->len, msg, len);
	b->len += len;
}

static void write_seed(const char *dir, const char *name, const struct buf *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return;
	fwrite(b->p, 1, b->len, f);
	fclose(f);
}

static struct flow_record seed_rec(unsigned i)
{
	struct flow_record r = { 0 };

	r.start_ms = 1700000000000ull + i;
	r.end_ms = 1700000001000ull + i;
	r.bytes_sent = 100 * i;
	r.bytes_received = 2000;
	r.segs_sent = 5;
	r.segs_received = 6 + i;
	r.flows = 2;
	r.closed = 1;
	r.failed = i % 2;
	r.retransmits = i;
	r.srtt_us = 300;
	r.min_rtt_us = 200;
	r.pid = 4242;
	r.local_port = (uint16_t)(i % 3 ? 0 : 40000 + i);
	r.remote_port = 443;
	r.err = i % 2 ? 111 : 0;
	r.family = i % 3 == 1 ? 6 : 4;
	r.direction = i % 2 ? FLOW_DIRECTION_IN : FLOW_DIRECTION_OUT;
	r.local_addr[10] = r.local_addr[11] = 0xff;
	r.remote_addr[10] = r.remote_addr[11] = 0xff;
	r.local_addr[12] = 10;
	r.local_addr[15] = 7;
	r.remote_addr[12] = 10;
	r.remote_addr[15] = (uint8_t)(9 + i);
	if (r.family == 6) {
		r.local_addr[0] = 0xfd;
		r.local_addr[10] = r.local_addr[11] = 0;
	}
	r.cgroup_id = 10 + i;
	memcpy(r.container_id, "0123456789abcdef", 17);
	r.container = i % 2 ? "app" : "";
	memcpy(r.comm, "curl", 5);
	return r;
}

/* A report of `n` records through an encoder of these options, after the flags byte. */
static void seed_report(struct buf *b, const struct ipfix_encoder_opts *o,
			const struct wire_header *h, unsigned n, bool resend)
{
	struct ipfix_encoder *e = ipfix_encoder__new(o, buf_send, b);

	if (!e)
		abort();
	if (ipfix_encoder__begin(e, h, 1700000000))
		abort();
	for (unsigned i = 0; i < n; i++) {
		struct flow_record r = seed_rec(i);

		if (resend && i == n / 2)
			ipfix_encoder__send_templates(e, 1700000001);
		if (ipfix_encoder__add(e, &r))
			abort();
	}
	ipfix_encoder__end(e);
	ipfix_encoder__free(e);
}

/* The seeds, into `dir` if it is an empty directory. */
static void write_seeds(const char *dir)
{
	static const uint8_t ips[2][16] = {
		{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 7 },
		{ 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7 },
	};
	static uint8_t many[WIRE_MAX_IPS][16];
	static char name[WIRE_MAX_STRING + 1];
	struct wire_header h = {
		.sender_id = 0x1122334455667788ull,
		.seq = 2,
		.sender = { .app = "web", .namespace = "shop", .pod = "web-1", .node = "n1" },
		.span_start_ms = 1700000000000ull,
		.span_end_ms = 1700000010000ull,
		.n_ips = 2,
		.ips = ips,
		.drops = { 1, 0, 0, 0, 5 },
	};
	struct ipfix_encoder_opts o = { .domain_id = 7 };
	struct buf b = { .p = malloc(OUT_MAX) };
	DIR *dp = opendir(dir);
	struct dirent *de;

	if (!dp || !b.p) {
		if (dp)
			closedir(dp);
		free(b.p);
		return;
	}
	while ((de = readdir(dp)))
		if (de->d_name[0] != '.')
			break;
	closedir(dp);
	if (de) {
		free(b.p);
		return;
	}
#define SEED(label, flags, ...)             \
	do {                                \
		b.len = 0;                  \
		b.p[b.len++] = flags;       \
		__VA_ARGS__;                \
		write_seed(dir, label, &b); \
	} while (0)
	SEED("report", 0, seed_report(&b, &o, &h, 6, false));
	SEED("report-tcp", 1, seed_report(&b, &o, &h, 6, false));
	o.max_message = IPFIX_MIN_MESSAGE;
	SEED("split", 0, seed_report(&b, &o, &h, 20, false));
	SEED("resend", 0, seed_report(&b, &o, &h, 8, true));
	o.max_message = 0;
	o.octets = IPFIX_OCTETS_IP;
	SEED("octets-ip", 0, seed_report(&b, &o, &h, 4, false));
	o.octets = IPFIX_OCTETS_TRANSPORT;
	memset(name, 'n', WIRE_MAX_STRING);
	memcpy(name, "\xc3\xa9\xe2\x82\xac", 5);
	for (int i = 0; i < WIRE_MAX_IPS; i++) {
		many[i][0] = 0x20;
		many[i][1] = 0x01;
		many[i][15] = (uint8_t)i;
	}
	{
		struct wire_header lh = h;

		lh.sender = (struct flow_identity){
			.pod = name, .namespace = name, .node = name, .app = name, .workload = name
		};
		lh.ips = (const uint8_t(*)[16])many;
		lh.n_ips = WIRE_MAX_IPS;
		o.max_message = IPFIX_MAX_MESSAGE;
		SEED("long", 0, seed_report(&b, &o, &lh, 3, false));
		o.max_message = 0;
	}
	/* a withdrawal of template 256 (RFC 7011 section 8.1), then data for it */
	SEED("withdraw", 1, seed_report(&b, &o, &h, 2, false);
	     memcpy(b.p + b.len,
		    "\x00\x0a\x00\x18\x65\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x07"
		    "\x00\x02\x00\x08\x01\x00\x00\x00",
		    24);
	     b.len += 24; seed_report(&b, &o, &h, 2, false));
	/* a second domain: two exporters, then a third (eviction) */
	SEED("domains", 0, seed_report(&b, &o, &h, 2, false); o.domain_id = 8;
	     seed_report(&b, &o, &h, 2, false); o.domain_id = 9; seed_report(&b, &o, &h, 2, false);
	     o.domain_id = 7);
#undef SEED
	free(b.p);
}

/* ---- the target -------------------------------------------------------------- */

static struct buf out;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* the first argument that is not a -flag is the corpus directory */
	for (int i = 1; i < *argc; i++) {
		if ((*argv)[i][0] != '-') {
			write_seeds((*argv)[i]);
			break;
		}
	}
	out.p = malloc(OUT_MAX);
	if (!out.p)
		abort();
	return 0;
}

static void same_string(const char *a, const char *b, const char *what)
{
	CHECK(a && b, "%s missing", what);
	CHECK(strcmp(a, b) == 0, "%s \"%s\" became \"%s\"", what, a, b);
}

static void same_record(const struct flow_record *a, const struct flow_record *b, uint32_t i)
{
	/* numeric fields one by one: the struct has padding and pointers */
#define SAME(f)                                                                                \
	CHECK(a->f == b->f, "record %u: " #f " %llu became %llu", i, (unsigned long long)a->f, \
	      (unsigned long long)b->f)
	SAME(start_ms);
	SAME(end_ms);
	SAME(bytes_sent);
	SAME(bytes_received);
	SAME(segs_sent);
	SAME(segs_received);
	SAME(cgroup_id);
	SAME(flows);
	SAME(closed);
	SAME(failed);
	SAME(retransmits);
	SAME(resets);
	SAME(srtt_us);
	SAME(min_rtt_us);
	SAME(pid);
	SAME(local_port);
	SAME(remote_port);
	SAME(err);
	SAME(family);
	SAME(direction);
	SAME(remote_source);
#undef SAME
	CHECK(memcmp(a->local_addr, b->local_addr, 16) == 0, "record %u: local_addr", i);
	CHECK(memcmp(a->remote_addr, b->remote_addr, 16) == 0, "record %u: remote_addr", i);
	CHECK(memcmp(a->comm, b->comm, sizeof(a->comm)) == 0, "record %u: comm", i);
	same_string(a->container_id, b->container_id, "container_id");
	same_string(a->container, b->container, "container");
	CHECK(b->remote == NULL, "record %u: remote set", i);
}

static void check_output(const struct ipfix_msg *m)
{
	const struct wire_batch *b = &m->batch;

	CHECK(b->n_records <= m->data_records, "%u records of %u data records", b->n_records,
	      m->data_records);
	CHECK(b->n_ips <= WIRE_MAX_IPS, "n_ips %u", b->n_ips);
	CHECK(m->has_report || (!b->n_ips && !b->span_start_ms && !b->span_end_ms),
	      "a heartbeat without a report record");
	CHECK(m->sender_known || (!b->sender.pod && !b->sender_id), "a sender while unknown");
	for (uint32_t i = 0; i < b->n_records; i++) {
		const struct flow_record *r = &b->records[i];

		CHECK(r->local == (m->sender_known ? &b->sender : NULL), "record %u: local", i);
		CHECK(r->container != NULL, "record %u: container NULL", i);
		CHECK(r->family == 4 || r->family == 6, "record %u: family %u", i, r->family);
	}
}

/* Encodes what `m` gave again and decodes it with a fresh decoder: the same must come back. */
static void round_trip(struct ipfix_msg *m)
{
	struct wire_batch *b = &m->batch;
	struct ipfix_encoder_opts eo = { .domain_id = m->domain_id, .max_message = 65535 };
	struct wire_header h = { .sender_id = b->sender_id, .seq = b->seq, .sender = b->sender };
	struct ipfix_encoder *e;
	struct ipfix_decoder *d;
	struct ipfix_msg *c;
	size_t off = 0;
	uint32_t got = 0;
	int rc;

	if (m->has_report) {
		h.span_start_ms = b->span_start_ms;
		h.span_end_ms = b->span_end_ms;
		h.n_ips = b->n_ips;
		h.ips = b->ips;
		memcpy(h.drops, b->drops, sizeof(h.drops));
	}
	e = ipfix_encoder__new(&eo, buf_send, &out);
	d = ipfix_decoder__new(&(struct ipfix_decoder_opts){ 0 });
	CHECK(e && d, "out of memory");
	out.len = 0;
	rc = ipfix_encoder__begin(e, &h, m->export_time);
	CHECK(rc == 0, "re-encoding the header: %d", rc);
	/*
	 * A record that ends before it starts is decoded (the collector drops
	 * it, alone) but never encoded: put it in order for the round trip.
	 */
	for (uint32_t i = 0; i < b->n_records; i++) {
		if (b->records[i].start_ms > b->records[i].end_ms)
			b->records[i].start_ms = b->records[i].end_ms;
		rc = ipfix_encoder__add(e, &b->records[i]);
		CHECK(rc == 0, "re-encoding record %u: %d", i, rc);
	}
	ipfix_encoder__end(e);
	while (off < out.len) {
		size_t len = (size_t)out.p[off + 2] << 8 | out.p[off + 3];

		rc = ipfix_decoder__decode(d, NULL, out.p + off, len, &c);
		CHECK(rc == 0, "decoding the re-encoded message: %d: %s", rc,
		      ipfix_decoder__error(d));
		/* the first message holds the templates only; every other one a sender */
		CHECK(c->sender_known || (!off && !c->batch.n_records && !c->has_report),
		      "the re-encoded sender unknown");
		CHECK(c->seq_status == IPFIX_SEQ_NEW || c->seq_status == IPFIX_SEQ_OK, "seq %s",
		      ipfix_seq_name(c->seq_status));
		CHECK(c->unknown_sets == 0 && c->foreign_records == 0, "unknown or foreign");
		if (c->has_report && m->has_report) {
			CHECK(c->batch.span_start_ms == b->span_start_ms &&
				  c->batch.span_end_ms == b->span_end_ms,
			      "span");
			CHECK(c->batch.n_ips == b->n_ips, "n_ips %u became %u", b->n_ips,
			      c->batch.n_ips);
			CHECK(!b->n_ips || !memcmp(c->batch.ips, b->ips, (size_t)b->n_ips * 16),
			      "ips");
			CHECK(!memcmp(c->batch.drops, b->drops, sizeof(b->drops)), "drops");
			CHECK(c->batch.seq == b->seq, "seq");
		}
		if (m->sender_known && c->sender_known) {
			CHECK(c->batch.sender_id == b->sender_id, "sender_id");
			same_string(b->sender.pod, c->batch.sender.pod, "pod");
			same_string(b->sender.namespace, c->batch.sender.namespace, "namespace");
			same_string(b->sender.node, c->batch.sender.node, "node");
			same_string(b->sender.app, c->batch.sender.app, "app");
			same_string(b->sender.workload, c->batch.sender.workload, "workload");
		}
		for (uint32_t i = 0; i < c->batch.n_records; i++, got++) {
			CHECK(got < b->n_records, "more records than went in");
			same_record(&b->records[got], &c->batch.records[i], got);
		}
		off += len;
	}
	CHECK(got == b->n_records, "%u records of %u came back", got, b->n_records);
	ipfix_encoder__free(e);
	ipfix_decoder__free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ipfix_source src = { .addr = { [10] = 0xff, [11] = 0xff, 10, 0, 0, 1 },
						 .port = 4739 };
	struct ipfix_decoder *d;
	size_t off = 1;

	if (size < 1)
		return 0;
	d = ipfix_decoder__new(&(struct ipfix_decoder_opts){
	    .max_exporters = 2, .max_templates = 8, .withdrawals = data[0] & 1 });
	CHECK(d, "out of memory");
	while (off < size) {
		size_t rest = size - off, len = rest;
		struct ipfix_msg *m = (void *)d;
		int rc;

		if (rest >= 4) {
			size_t l = (size_t)data[off + 2] << 8 | data[off + 3];

			if (l >= IPFIX_HEADER_SIZE && l <= rest)
				len = l;
		}
		rc = ipfix_decoder__decode(d, &src, data + off, len, &m);
		if (rc) {
			const char *msg = ipfix_decoder__error(d);

			CHECK(rc == -EBADMSG || rc == -EPROTONOSUPPORT || rc == -ENOMEM,
			      "unexpected error %d: %s", rc, msg);
			CHECK(msg[0] && !strchr(msg, '\n'), "message \"%s\"", msg);
			CHECK(m == NULL, "message set on error");
		} else {
			check_output(m);
			round_trip(m);
		}
		off += len;
	}
	CHECK(ipfix_decoder__stats(d)->exporters <= 2, "exporters over the bound");
	ipfix_decoder__free(d);
	return 0;
}
