// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer target for the collector's HTTP/2 server side: client bytes from the fuzzer into a real conn. */
/*
 * As tests/unit/test_conn.c does, a real conn (server/conn.c: its nghttp2
 * server session, limits and deadlines) runs over one end of a socketpair
 * with an explicit clock; here the other end writes the fuzzer's bytes
 * instead of an nghttp2 client's, and what the connection answers is read
 * and dropped.  Behind it is the real ingest (bearer token, decoding
 * identity, zstd and gzip bodies, record bounds, an attributor that is not
 * started) writing to the null sink.
 *
 * An input is one mode byte, then the client's bytes:
 *   bit 0      the client preface ("PRI * HTTP/2.0...", 24 bytes) goes
 *              first, so mutations work on the frames, not on finding it;
 *   bits 1-3   k: the bytes go in chunks of 4^k bytes (at least 1/256 of
 *              them), the connection called after each one (k = 0: all at
 *              once), so frames split across reads;
 *   bit 4      after the bytes, the clock moves past the request deadline
 *              (408 for what is open), then past the idle deadline;
 *   bit 5      a graceful shutdown (GOAWAY) half-way through the bytes;
 *   bit 6      the client's end is shut for writing at the end (EOF).
 * The clock advances 1 ms per chunk.  Each input is bounded in time by
 * its size: at most INPUT_MAX bytes, and 64 calls per chunk.
 *
 * Whatever the bytes, nothing crashes or leaks, and once the connection is
 * freed every body byte it reserved is given back to the worker's budget
 * (worker_buffered is 0 again).
 *
 * Seeds (tests/fuzz/corpus/fuzz_h2_request) are real client traffic, a
 * sidecar's POST of a batch in every encoding and others, written by
 * tests/fuzz/gen_seeds.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "attributor.h"
#include "conn.h"
#include "ingest.h"
#include "log.h"
#include "output.h"
#include "stats.h"

#define S	   1000000000ull
#define T0	   (1000 * S)
#define INPUT_MAX  (64u << 10)
#define MAX_CHUNKS 256
/* the token the seeds present (gen_seeds.c writes the same) */
#define FUZZ_TOKEN "fuzz-token-0123456789abcdef"

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* test_conn.c's limits, with a small body cap so 413 and 429 are in reach */
static const struct conn_limits lim = {
	.max_body = 64 << 10,
	.max_conn_buffered = 96 << 10,
	.max_worker_buffered = 1 << 30,
	.max_streams = 8,
	.max_header_list = 4096,
	.handshake_ns = 10 * S,
	.idle_ns = 120 * S,
	.request_ns = 30 * S,
	.linger_ns = S,
};

static char dir[64];
static struct stats stats;
static size_t worker_buffered;
static struct outputs *outputs;
static struct attributor *attr;
static struct token_file *token;
static struct ingest *ingest;
static struct conn_env env;

static int write_none(void *ctx, const struct wire_batch *b)
{
	(void)ctx;
	(void)b;
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct attr_opts ao = {
		.max_delay_ms = 30000,
		.retention_ms = 3600000,
		.heartbeat_grace_ms = 20000,
		.heartbeat_max_skew_ms = 5000,
		.max_delayed = 4096,
		.max_ranges = 4096,
		.write = write_none,
	};
	struct ingest_opts io = { 0 };
	char path[128], why[256];
	FILE *f;

	(void)argc;
	(void)argv;
	/* per-request events are counted, but a refused heartbeat is logged once per sender */
	log_init("fuzz_h2_request", LOG_LEVEL_WARN);
	snprintf(dir, sizeof(dir), "/tmp/podflow-fuzz-h2-XXXXXX");
	CHECK(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/token", dir);
	f = fopen(path, "w");
	CHECK(f && fputs(FUZZ_TOKEN "\n", f) >= 0 && fclose(f) == 0, "%s", path);
	token = token_file__new(path, INGEST_TOKEN_RECHECK, why, sizeof(why));
	CHECK(token, "token: %s", why);
	outputs =
	    outputs__new(&(struct outputs_opts){ .data_dir = dir, .null_sink = true, .writers = 1 },
			 why, sizeof(why));
	CHECK(outputs, "outputs: %s", why);
	attr = attributor__new(&ao, why, sizeof(why));
	CHECK(attr, "attributor: %s", why);
	io.outputs = outputs;
	io.writer = outputs__writer(outputs, 0);
	io.token = token;
	io.attr = attr;
	io.max_decoded = 256 << 10;
	ingest = ingest__new(&io, &stats, why, sizeof(why));
	CHECK(ingest, "ingest: %s", why);
	env = (struct conn_env){
		.lim = &lim, .ingest = ingest, .stats = &stats, .worker_buffered = &worker_buffered
	};
	return 0;
}

/* Reads and drops what the connection wrote. */
static void drain(int fd)
{
	uint8_t buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* Calls the connection until it wants no more input now; false once it is to be freed. */
static bool run(struct conn *c, int cfd, uint64_t now)
{
	for (int i = 0; i < 64; i++) {
		uint32_t ev = conn__io(c, EPOLLIN | EPOLLOUT, now);

		drain(cfd);
		if (ev == 0)
			return false;
		if (!(ev & CONN_MORE))
			return true;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t now = T0;
	uint8_t mode, *in;
	size_t n, off = 0, chunk;
	bool open = true, shut = false;
	struct conn *c;
	int sv[2];

	if (size < 1 || size > INPUT_MAX)
		return 0;
	mode = data[0];
	data++;
	size--;
	/* the client's bytes: the preface first when asked */
	in = malloc(sizeof(preface) + size);
	CHECK(in, "malloc");
	n = 0;
	if (mode & 1) {
		memcpy(in, preface, sizeof(preface) - 1);
		n = sizeof(preface) - 1;
	}
	memcpy(in + n, data, size);
	n += size;
	chunk = (mode >> 1) & 7 ? (size_t)1 << (2 * ((mode >> 1) & 7)) : n;
	if (chunk < n / MAX_CHUNKS)
		chunk = n / MAX_CHUNKS; /* each input stays fast */

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0,
	      "socketpair: %s", strerror(errno));
	c = conn__new(&env, sv[0], now);
	CHECK(c, "conn__new: %s", strerror(errno));

	while (open && off < n) {
		size_t want = n - off < chunk ? n - off : chunk;
		ssize_t w = write(sv[1], in + off, want);

		if (w < 0) {
			/* the socket is full (the connection stopped reading) or closed */
			if (errno != EAGAIN)
				break;
			w = 0;
		}
		off += (size_t)w;
		now += 1000000;
		open = run(c, sv[1], now);
		if (open && (mode & 0x20) && !shut && off >= n / 2) {
			shut = true;
			open = conn__shutdown(c, now) != 0;
			drain(sv[1]);
		}
		if (w == 0 && open) {
			/* nothing went: the connection holds back (flow control, linger) */
			open = conn__tick(c, now) != 0;
			drain(sv[1]);
			if (write(sv[1], in + off, 1) != 1)
				break;
			off++;
		}
	}
	if (open && (mode & 0x40)) {
		shutdown(sv[1], SHUT_WR);
		open = run(c, sv[1], now);
	}
	if (open && (mode & 0x10)) {
		now += lim.request_ns + 1;
		open = conn__tick(c, now) != 0 && run(c, sv[1], now);
		if (open) {
			now += lim.idle_ns + 1;
			open = conn__tick(c, now) != 0 && run(c, sv[1], now);
		}
	}
	conn__free(c);
	close(sv[1]);
	CHECK(worker_buffered == 0, "%zu body bytes still charged to the worker", worker_buffered);
	free(in);
	return 0;
}
