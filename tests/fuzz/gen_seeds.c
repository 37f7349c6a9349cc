// SPDX-License-Identifier: BSD-2-Clause
/* Writes the committed seeds of fuzz_wire and fuzz_h2_request: real batches and real client traffic. */
/*
 * Run once by hand when the wire format or the request changes
 * (`make build/fuzz/gen-seeds && build/fuzz/gen-seeds tests/fuzz/corpus`);
 * not part of `make fuzz` and not linked into anything.  Writes:
 *   fuzz_wire/: one small batch as lib/wire's encoder writes it, in each
 *     encoding, and its bare payload;
 *   fuzz_h2_request/: what an nghttp2 client sends (after the 24-byte
 *     preface, which the target adds: the seeds' mode byte is 1) for a
 *     sidecar's POST of that batch in each encoding with the bearer token,
 *     for several requests on one connection, for a request without a
 *     token, a HEAD, a wrong path, a body declared longer than it is,
 *     headers large enough for CONTINUATION, PING and WINDOW_UPDATE.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nghttp2/nghttp2.h>

#include "wire.h"

#define FUZZ_TOKEN "fuzz-token-0123456789abcdef"

static const char *root;

static void put(const char *target, const char *name, uint8_t mode, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	f = fopen(path, "wb");
	if (!f || (mode && fputc(mode, f) == EOF) || fwrite(p, 1, n, f) != n || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* A small batch: three records (v4 out, v6 in, one still open), two heartbeat IPs. */
static const void *batch(struct wire_encoder *e, size_t *len)
{
	static const uint8_t ips[2][16] = {
		{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 7 },
		{ 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7 },
	};
	struct wire_header h = {
		.sender_id = 1,
		.seq = 2,
		.sender = { .app = "web", .namespace = "shop", .pod = "web-1", .node = "n1" },
		.span_start_ms = 1700000000000ull,
		.span_end_ms = 1700000010000ull,
		.n_ips = 2,
		.ips = ips,
		.drops = { 1, 0, 0, 0, 5 },
	};
	struct flow_record r[3];
	const void *body;

	memset(r, 0, sizeof(r));
	wire_encoder__reset(e);
	for (int i = 0; i < 3; i++) {
		r[i].start_ms = 1700000000000ull;
		r[i].end_ms = 1700000001000ull;
		r[i].flows = 2;
		r[i].closed = 1;
		r[i].bytes_sent = 100;
		r[i].family = 4;
		r[i].direction = FLOW_DIRECTION_OUT;
		r[i].local_addr[10] = r[i].local_addr[11] = 0xff;
		r[i].local_addr[12] = 10;
		r[i].local_addr[15] = 7;
		r[i].remote_addr[10] = r[i].remote_addr[11] = 0xff;
		r[i].remote_addr[12] = 10;
		r[i].remote_addr[15] = 9;
		r[i].local_port = 40000;
		r[i].remote_port = 443;
		r[i].cgroup_id = 10 + (uint64_t)i;
		memcpy(r[i].container_id, "abc", 4);
		r[i].container = "app";
		memcpy(r[i].comm, "curl", 5);
	}
	r[1].family = 6;
	r[1].direction = FLOW_DIRECTION_IN;
	memcpy(r[1].local_addr, ips[1], 16);
	r[2].flows = r[2].closed = 0;
	for (int i = 0; i < 3; i++)
		if (wire_encoder__add(e, &r[i]))
			exit(1);
	if (wire_encoder__finish(e, &h, &body, len))
		exit(1);
	return body;
}

struct body {
	const uint8_t *p;
	size_t len, off;
};

static ssize_t body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *ud)
{
	struct body *b = src->ptr;
	size_t n = b->len - b->off < len ? b->len - b->off : len;

	(void)s;
	(void)id;
	(void)ud;
	memcpy(buf, b->p + b->off, n);
	b->off += n;
	if (b->off == b->len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

#define NV(n, v)                                                                           \
	{                                                                                  \
		(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE \
	}

struct req {
	const char *method, *path, *encoding, *authorization, *content_length, *big;
	struct body *body;
};

static void submit(nghttp2_session *h2, const struct req *r, nghttp2_data_provider *prd)
{
	nghttp2_nv nv[10] = { NV(":method", r->method), NV(":scheme", "http"),
			      NV(":authority", "collector:7070"), NV(":path", r->path),
			      NV("content-type", "application/x-podflow-batch") };
	size_t n = 5;

	if (r->encoding)
		nv[n++] = (nghttp2_nv)NV("content-encoding", r->encoding);
	if (r->authorization)
		nv[n++] = (nghttp2_nv)NV("authorization", r->authorization);
	if (r->content_length)
		nv[n++] = (nghttp2_nv)NV("content-length", r->content_length);
	if (r->big)
		nv[n++] = (nghttp2_nv)NV("x-padding", r->big);
	prd->source.ptr = r->body;
	prd->read_callback = body_read;
	if (nghttp2_submit_request(h2, NULL, nv, n, r->body ? prd : NULL, NULL) < 0)
		exit(1);
}

/* What a client session sends for `reqs` (and extra frames), the preface left out. */
static void traffic(const char *name, const struct req *reqs, int n, int extra)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_data_provider prd[8];
	nghttp2_session *h2;
	uint8_t *out = NULL;
	size_t len = 0;

	if (nghttp2_session_callbacks_new(&cbs) || nghttp2_session_client_new(&h2, cbs, NULL))
		exit(1);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_submit_settings(h2, NGHTTP2_FLAG_NONE, NULL, 0);
	for (int i = 0; i < n; i++)
		submit(h2, &reqs[i], &prd[i]);
	if (extra & 1)
		nghttp2_submit_ping(h2, NGHTTP2_FLAG_NONE, (const uint8_t *)"podflow!");
	if (extra & 4)
		nghttp2_submit_window_update(h2, NGHTTP2_FLAG_NONE, 0, 65536);
	for (;;) {
		const uint8_t *p;
		ssize_t k = nghttp2_session_mem_send(h2, &p);

		if (k < 0)
			exit(1);
		if (k == 0)
			break;
		out = realloc(out, len + (size_t)k);
		if (!out)
			exit(1);
		memcpy(out + len, p, (size_t)k);
		len += (size_t)k;
	}
	/* the client's session starts with the preface: the target adds it (mode 1) */
	if (len < 24 || memcmp(out, NGHTTP2_CLIENT_MAGIC, 24))
		exit(1);
	put("fuzz_h2_request", name, 1, out + 24, len - 24);
	free(out);
	nghttp2_session_del(h2);
}

int main(int argc, char **argv)
{
	static const char *const enc_name[] = { "identity", "zstd", "gzip" };
	struct body b[3];
	char big[6000];
	size_t len;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
		return 2;
	}
	root = argv[1];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int e = 0; e < 3; e++) {
		struct wire_encoder *we = wire_encoder__new((enum wire_encoding)e, 0);
		const uint8_t *p;
		char name[64];

		if (!we)
			return 1;
		p = batch(we, &len);
		put("fuzz_wire", enc_name[e], 0, p, len);
		if (e == WIRE_ENC_IDENTITY)
			put("fuzz_wire", "payload", 0, p + 16, len - 16);
		b[e].p = malloc(len);
		if (!b[e].p)
			return 1;
		memcpy((void *)b[e].p, p, len);
		b[e].len = len;
		b[e].off = 0;
		snprintf(name, sizeof(name), "post-%s", enc_name[e]);
		traffic(name,
			(struct req[]){ { "POST", "/v1/flows", e ? enc_name[e] : NULL,
					  "Bearer " FUZZ_TOKEN, NULL, NULL, &b[e] } },
			1, 0);
		b[e].off = 0;
		wire_encoder__free(we);
	}
	for (int e = 0; e < 3; e++)
		b[e].off = 0;
	traffic("post-three-streams",
		(struct req[]){
		    { "POST", "/v1/flows", "zstd", "Bearer " FUZZ_TOKEN, NULL, NULL, &b[1] },
		    { "POST", "/v1/flows", "gzip", "bearer " FUZZ_TOKEN, NULL, NULL, &b[2] },
		    { "POST", "/v1/flows", "identity", "Bearer " FUZZ_TOKEN, NULL, NULL, &b[0] } },
		3, 1 | 4);
	b[1].off = 0;
	traffic("post-no-token",
		(struct req[]){ { "POST", "/v1/flows", "zstd", NULL, NULL, NULL, &b[1] } }, 1, 0);
	b[1].off = 0;
	traffic("post-wrong-token",
		(struct req[]){ { "POST", "/v1/flows", "zstd", "Bearer nope", NULL, NULL, &b[1] } },
		1, 4);
	traffic("head", (struct req[]){ { "HEAD", "/v1/flows", NULL, NULL, NULL, NULL, NULL } }, 1,
		0);
	traffic(
	    "wrong-path",
	    (struct req[]){ { "POST", "/v2/x?y", "br", "Bearer " FUZZ_TOKEN, NULL, NULL, NULL } },
	    1, 0);
	b[0].off = 0;
	traffic("content-length-longer",
		(struct req[]){
		    { "POST", "/v1/flows", NULL, "Bearer " FUZZ_TOKEN, "100000", NULL, &b[0] } },
		1, 0);
	traffic("big-headers",
		(struct req[]){
		    { "POST", "/v1/flows", "zstd", "Bearer " FUZZ_TOKEN, NULL, big, NULL } },
		1, 0);
	return 0;
}
