// SPDX-License-Identifier: BSD-2-Clause
/* One worker's request handling: routing, auth, decoding a batch and writing its records. */
#include "ingest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "log.h"
#include "sink.h"
#include "stats.h"
#include "token.h"
#include "wire.h"

struct ingest {
	struct stats *stats;
	struct wire_decoder *dec;
	struct sink *sink;
	struct token_file *token; /* the collector's, shared; NULL: no auth */
	unsigned int worker;
};

struct ingest *ingest__new(const struct ingest_opts *o, struct stats *stats, char *why, size_t len)
{
	struct ingest *in = calloc(1, sizeof(*in));
	int err = ENOMEM;

	if (!in) {
		snprintf(why, len, "out of memory");
		goto fail;
	}
	in->stats = stats;
	in->worker = o->worker;
	in->dec = wire_decoder__new(o->max_decoded);
	if (!in->dec) {
		snprintf(why, len, "out of memory");
		goto fail;
	}
	in->sink = sink__new(o->data_dir, o->worker, o->null_sink, why, len);
	if (!in->sink) {
		err = errno;
		goto fail;
	}
	in->token = o->token;
	return in;
fail:
	ingest__free(in);
	errno = err;
	return NULL;
}

void ingest__free(struct ingest *in)
{
	if (!in)
		return;
	wire_decoder__free(in->dec);
	sink__free(in->sink);
	free(in);
}

const char *ingest__output(const struct ingest *in)
{
	return sink__path(in->sink);
}

/* "/v1/flows" or "/v1/flows?..." */
static bool is_ingest_path(const char *path)
{
	size_t n = strlen(INGEST_PATH);

	return path && strncmp(path, INGEST_PATH, n) == 0 && (path[n] == '\0' || path[n] == '?');
}

int ingest__check_headers(struct ingest *in, const struct ingest_request *rq, uint64_t now_ns,
			  char *reason, size_t len)
{
	enum wire_encoding enc;

	if (!is_ingest_path(rq->path)) {
		snprintf(reason, len, "no such path; batches go to POST %s", INGEST_PATH);
		return 404;
	}
	if (!rq->method || strcmp(rq->method, "POST") != 0) {
		snprintf(reason, len, "%s takes POST only", INGEST_PATH);
		return 405;
	}
	if (in->token) {
		/* a failed re-read keeps the previous token in force (logged by token_file) */
		token_file__refresh(in->token, now_ns);
		if (!token_file__check(in->token, rq->authorization, rq->authorization_len)) {
			snprintf(reason, len, "%s",
				 rq->authorization ? "wrong bearer token"
						   : "missing Authorization: Bearer <token>");
			return 401;
		}
	}
	if (wire_encoding_parse(rq->content_encoding, &enc)) {
		snprintf(reason, len, "unsupported Content-Encoding; use zstd, gzip or identity");
		return 415;
	}
	return 0;
}

/*
 * The uncompressed size of an accepted body, for the bytes_decoded counter:
 * wire.h has no accessor for it, but both codecs state it in their framing
 * (the zstd frame header's content size, the gzip trailer's ISIZE, RFC 1952
 * section 2.3.1), and the decoder has just verified the data.  0 if unknown.
 */
static uint64_t decoded_size(const void *body, size_t len, enum wire_encoding enc)
{
	const unsigned char *p = body;

	switch (enc) {
	case WIRE_ENC_IDENTITY:
		return len;
	case WIRE_ENC_ZSTD: {
		unsigned long long n = ZSTD_getFrameContentSize(body, len);

		return n == ZSTD_CONTENTSIZE_UNKNOWN || n == ZSTD_CONTENTSIZE_ERROR ? 0 : n;
	}
	case WIRE_ENC_GZIP:
		if (len < 18)
			return 0;
		return (uint64_t)p[len - 4] | (uint64_t)p[len - 3] << 8 |
		       (uint64_t)p[len - 2] << 16 | (uint64_t)p[len - 1] << 24;
	}
	return 0;
}

int ingest__handle(struct ingest *in, const struct ingest_request *rq, char *reason, size_t len)
{
	const struct wire_batch *b;
	enum wire_encoding enc;
	uint64_t bytes;
	int err;

	if (wire_encoding_parse(rq->content_encoding, &enc)) {
		snprintf(reason, len, "unsupported Content-Encoding; use zstd, gzip or identity");
		return 415;
	}
	err = wire_decoder__decode(in->dec, rq->body, rq->body_len, enc, &b);
	switch (err) {
	case 0:
		break;
	case -ENOTSUP:
		snprintf(reason, len, "%s", wire_decoder__error(in->dec));
		return 415;
	case -EMSGSIZE:
		snprintf(reason, len, "%s", wire_decoder__error(in->dec));
		return 413;
	case -EPROTONOSUPPORT:
	case -EBADMSG:
		snprintf(reason, len, "malformed batch: %s", wire_decoder__error(in->dec));
		return 400;
	default:
		snprintf(reason, len, "cannot decode the batch now: %s", strerror(-err));
		return 503;
	}
	err = sink__write_batch(in->sink, b, NULL, &bytes);
	if (err) {
		STATS_ADD(in->stats->write_errors, 1);
		pr_warn("worker %u: writing %u records to %s failed: %s; answering 503", in->worker,
			b->n_records, sink__path(in->sink), strerror(-err));
		snprintf(reason, len, "the collector cannot write its output now");
		return 503;
	}
	STATS_ADD(in->stats->batches, 1);
	STATS_ADD(in->stats->records, b->n_records);
	STATS_ADD(in->stats->bytes_decoded, decoded_size(rq->body, rq->body_len, enc));
	STATS_ADD(in->stats->bytes_out, bytes);
	for (int i = 0; i < WIRE_DROP__COUNT; i++) {
		if (!b->drops[i])
			continue;
		STATS_ADD(in->stats->drops[i], b->drops[i]);
		pr_debug("sender %s/%s (id %016llx, batch %llu) reports %llu %s drops",
			 b->sender.namespace ? b->sender.namespace : "",
			 b->sender.pod ? b->sender.pod : "", (unsigned long long)b->sender_id,
			 (unsigned long long)b->seq, (unsigned long long)b->drops[i],
			 wire_drop_name((enum wire_drop)i));
	}
	return 204;
}
