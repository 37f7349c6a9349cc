// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer target for lib/wire's decoder: no input crashes it, and what it accepts round-trips. */
/*
 * Each input is decoded four ways, by a decoder capped at 1 MiB:
 *   - as an identity, zstd and gzip body;
 *   - as a bare payload, behind a prefix built here (magic, version 1,
 *     flags 0, its length and CRC), so from an empty corpus the fuzzer
 *     works on the payload parser at once instead of first having to find
 *     the magic and a matching length.
 * The fuzz build compiles lib/ with -DWIRE_FUZZING (the Makefile's fuzz
 * rule), under which the decoder skips exactly one check, the payload
 * CRC-32, so mutated identity bodies (and decompressed ones) reach the
 * payload parser too.  Nothing else changes.
 *
 * From an empty corpus the fuzzer would first have to discover a payload of
 * at least 102 bytes with a drop count of 5 and a record size of 144, while
 * libFuzzer starts from 4-byte inputs.  Nothing generated is committed, so
 * when the corpus directory it is given (build/fuzz/corpus-fuzz_wire under
 * `make fuzz`) is empty, the target writes its own seeds there first: one
 * small batch in each encoding and as a bare payload.
 *
 * A decode that fails must return one of the documented codes with a
 * one-line message.  A decode that succeeds is re-encoded (identity),
 * decoded again by a second decoder and must give the same batch, field by
 * field: the encoder accepts all the decoder accepts, and neither loses
 * anything.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "fuzz.h"
#include "wire.h"

#define FUZZ_CAP (1u << 20)

static struct wire_decoder *dec, *redec;
static struct wire_encoder *enc;
static uint8_t *framed;

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void write_seed(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return;
	fwrite(p, 1, n, f);
	fclose(f);
}

/* A small valid batch in every encoding, into `dir` if it is an empty directory. */
static void write_seeds(const char *dir)
{
	static const uint8_t ips[2][16] = {
		{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 7 },
		{ 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7 },
	};
	struct wire_header h = {
		.sender_id = 1,
		.seq = 2,
		.sender = { .app = "web", .namespace = "default", .pod = "web-1", .node = "n1" },
		.span_start_ms = 1000,
		.span_end_ms = 2000,
		.n_ips = 2,
		.ips = ips,
		.drops = { 1, 0, 0, 0, 5 },
	};
	struct flow_record r[3] = { 0 };
	DIR *dp = opendir(dir);
	struct dirent *de;

	if (!dp)
		return;
	while ((de = readdir(dp)))
		if (de->d_name[0] != '.')
			break;
	closedir(dp);
	if (de)
		return;
	for (int i = 0; i < 3; i++) {
		r[i].start_ms = 1000;
		r[i].end_ms = 1500;
		r[i].flows = 2;
		r[i].closed = 1;
		r[i].bytes_sent = 100;
		r[i].family = 4;
		r[i].direction = FLOW_DIRECTION_OUT;
		r[i].local_addr[10] = r[i].local_addr[11] = 0xff;
		r[i].remote_addr[10] = r[i].remote_addr[11] = 0xff;
		r[i].remote_port = 443;
		r[i].cgroup_id = 10 + (uint64_t)(i % 2);
		memcpy(r[i].container_id, "abc", 4);
		r[i].container = "app";
		memcpy(r[i].comm, "curl", 5);
	}
	r[1].family = 6;
	r[1].direction = FLOW_DIRECTION_IN;
	memcpy(r[1].local_addr, ips[1], 16);
	r[2].flows = r[2].closed = 0; /* LATE */
	for (int e = 0; e < 3; e++) {
		struct wire_encoder *we = wire_encoder__new((enum wire_encoding)e, 0);
		const void *body;
		size_t len;

		if (!we)
			continue;
		for (int i = 0; i < 3; i++)
			wire_encoder__add(we, &r[i]);
		if (wire_encoder__finish(we, &h, &body, &len) == 0) {
			write_seed(dir, wire_encoding_name((enum wire_encoding)e), body, len);
			if (e == WIRE_ENC_IDENTITY)
				write_seed(dir, "payload", (const uint8_t *)body + 16, len - 16);
		}
		wire_encoder__free(we);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* the first argument that is not a -flag is the corpus directory */
	for (int i = 1; i < *argc; i++) {
		if ((*argv)[i][0] != '-') {
			write_seeds((*argv)[i]);
			break;
		}
	}
	dec = wire_decoder__new(FUZZ_CAP);
	redec = wire_decoder__new(FUZZ_CAP);
	enc = wire_encoder__new(WIRE_ENC_IDENTITY, 0);
	framed = malloc(16 + FUZZ_CAP);
	if (!dec || !redec || !enc || !framed)
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

static void check_error(struct wire_decoder *d, int rc)
{
	const char *msg = wire_decoder__error(d);

	CHECK(rc == -EBADMSG || rc == -EMSGSIZE || rc == -EPROTONOSUPPORT || rc == -ENOMEM,
	      "unexpected error %d: %s", rc, msg);
	CHECK(msg[0] && !strchr(msg, '\n'), "message \"%s\"", msg);
}

static void round_trip(const struct wire_batch *b)
{
	struct wire_header h = {
		.sender_id = b->sender_id,
		.seq = b->seq,
		.sender = b->sender,
		.span_start_ms = b->span_start_ms,
		.span_end_ms = b->span_end_ms,
		.n_ips = b->n_ips,
		.ips = b->ips,
	};
	struct wire_batch *c;
	const void *body;
	size_t len;
	int rc;

	memcpy(h.drops, b->drops, sizeof(h.drops));
	wire_encoder__reset(enc);
	/*
	 * A record that ends before it starts is decoded (the collector drops
	 * it, alone) but never encoded: put it in order for the round trip.
	 */
	for (uint32_t i = 0; i < b->n_records; i++)
		if (b->records[i].start_ms > b->records[i].end_ms)
			b->records[i].start_ms = b->records[i].end_ms;
	for (uint32_t i = 0; i < b->n_records; i++) {
		rc = wire_encoder__add(enc, &b->records[i]);
		CHECK(rc == 0, "re-encoding record %u: %d", i, rc);
		CHECK(b->records[i].local == &b->sender, "record %u: local", i);
	}
	rc = wire_encoder__finish(enc, &h, &body, &len);
	CHECK(rc == 0, "re-encoding the header: %d", rc);
	rc = wire_decoder__decode(redec, body, len, WIRE_ENC_IDENTITY, &c);
	CHECK(rc == 0, "decoding the re-encoded batch: %d: %s", rc, wire_decoder__error(redec));

	CHECK(c->version == b->version && c->flags == b->flags, "version/flags");
	CHECK(c->sender_id == b->sender_id && c->seq == b->seq, "sender_id/seq");
	same_string(b->sender.pod, c->sender.pod, "pod");
	same_string(b->sender.namespace, c->sender.namespace, "namespace");
	same_string(b->sender.node, c->sender.node, "node");
	same_string(b->sender.app, c->sender.app, "app");
	same_string(b->sender.workload, c->sender.workload, "workload");
	CHECK(c->span_start_ms == b->span_start_ms && c->span_end_ms == b->span_end_ms, "span");
	CHECK(c->n_ips == b->n_ips, "n_ips %u became %u", b->n_ips, c->n_ips);
	CHECK(!b->n_ips || memcmp(c->ips, b->ips, (size_t)b->n_ips * 16) == 0, "ips");
	CHECK(memcmp(c->drops, b->drops, sizeof(b->drops)) == 0, "drops");
	CHECK(c->n_records == b->n_records, "n_records %u became %u", b->n_records, c->n_records);
	for (uint32_t i = 0; i < b->n_records; i++)
		same_record(&b->records[i], &c->records[i], i);
}

static void one(const uint8_t *data, size_t size, enum wire_encoding e)
{
	struct wire_batch *b;
	int rc = wire_decoder__decode(dec, data, size, e, &b);

	if (rc) {
		check_error(dec, rc);
		CHECK(b == NULL, "batch set on error");
		return;
	}
	round_trip(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size, WIRE_ENC_IDENTITY);
	one(data, size, WIRE_ENC_ZSTD);
	one(data, size, WIRE_ENC_GZIP);
	if (size <= FUZZ_CAP) {
		memcpy(framed, "PFWB\x01\x00\x00\x00", 8); /* magic, version 1, flags 0 */
		put_u32(framed + 8, (uint32_t)size);
		put_u32(framed + 12, (uint32_t)crc32(0, data, (uInt)size));
		if (size)
			memcpy(framed + 16, data, size);
		one(framed, 16 + size, WIRE_ENC_IDENTITY);
	}
	return 0;
}
