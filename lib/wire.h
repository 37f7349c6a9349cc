/* SPDX-License-Identifier: BSD-2-Clause */
/* The sidecar-to-collector batch format (docs/wire.md): encoder and strict decoder. */
#ifndef PODFLOW_WIRE_H
#define PODFLOW_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

/*
 * A batch on the wire is an HTTP body, compressed as its Content-Encoding
 * says.  Uncompressed it is, all integers little-endian:
 *
 *   prefix   magic "PFWB", version, flags, payload length, CRC-32 of payload
 *   payload  sender id and batch sequence, sender identity strings,
 *            heartbeat (time span, pod IPs), drop counters since the
 *            previous batch, container table, then fixed-size records
 *
 * docs/wire.md has the byte layout.  Every limit below is enforced by the
 * decoder; the encoder refuses to produce what the decoder would reject.
 */
#define WIRE_MAGIC		 0x42574650u /* "PFWB" read as a little-endian u32 */
#define WIRE_VERSION		 1
#define WIRE_MAX_STRING		 253	     /* bytes of one identity string (a DNS-1123 name) */
#define WIRE_MAX_IPS		 64	     /* pod IPs in one heartbeat */
#define WIRE_MAX_CONTAINERS	 1024	     /* container table entries */
#define WIRE_MAX_RECORDS	 262144	     /* records in one batch */
#define WIRE_DEFAULT_MAX_DECODED (32u << 20) /* decoder's default cap on the payload */

enum wire_encoding {
	WIRE_ENC_IDENTITY = 0, /* "identity" (no Content-Encoding) */
	WIRE_ENC_ZSTD = 1,     /* "zstd" (RFC 8878), the default */
	WIRE_ENC_GZIP = 2,     /* "gzip" (RFC 1952) */
};

/* The Content-Encoding token for `enc`. */
const char *wire_encoding_name(enum wire_encoding enc);
/*
 * Parses a Content-Encoding header value (NULL or "" = identity; tokens are
 * case-insensitive).  Returns 0, or -ENOTSUP for anything else (HTTP 415).
 */
int wire_encoding_parse(const char *content_encoding, enum wire_encoding *out);

/* What the sender lost since its previous batch, by reason. */
enum wire_drop {
	WIRE_DROP_KERNEL_RING = 0, /* kernel events lost: ring buffer full */
	WIRE_DROP_KERNEL_MAP = 1,  /* connections not tracked: kernel flow map full */
	WIRE_DROP_TABLE = 2,	   /* events that fit no interval table */
	WIRE_DROP_BUFFER = 3,	   /* records dropped from a full export buffer (oldest first) */
	WIRE_DROP_REJECTED = 4,	   /* records in batches the collector refused with a 4xx */
	WIRE_DROP__COUNT = 5,
};

const char *wire_drop_name(enum wire_drop d);

/* The batch header: who sends, the heartbeat, and what was lost. */
struct wire_header {
	uint64_t sender_id; /* random per sender process: tells restarts apart */
	uint64_t seq;	    /* batch number from this sender, from 1 */
	/* the exporting pod; strings borrowed, NULL = "" */
	struct flow_identity sender;
	/* heartbeat: the pod owned these IPs from span_start_ms to span_end_ms */
	uint64_t span_start_ms;
	uint64_t span_end_ms;
	uint32_t n_ips;
	const uint8_t (*ips)[16]; /* 16 bytes each, IPv4 as v4-mapped */
	uint64_t drops[WIRE_DROP__COUNT];
};

/*
 * The rules every transport holds a record to (docs/wire.md "Record"):
 * family and addresses agree, a direction, closed <= flows, failed <=
 * closed.  False with the reason in `why`.
 */
bool wire_record_valid(const struct flow_record *r, char *why, size_t len);

/* ---- encoder ---------------------------------------------------------- */

struct wire_encoder;

/* `level`: the codec's compression level, 0 = its default. */
struct wire_encoder *wire_encoder__new(enum wire_encoding enc, int level);
void wire_encoder__free(struct wire_encoder *e);
/* Forgets the records added so far (keeps the memory). */
void wire_encoder__reset(struct wire_encoder *e);

/*
 * Adds one record.  Its container (cgroup_id, container_id, container name)
 * goes into the batch's container table, once per cgroup id.  local/remote
 * identity and remote_source are not carried: the header names the sender,
 * and attribution is the collector's.  Returns 0, -E2BIG when the batch
 * is full (WIRE_MAX_RECORDS or WIRE_MAX_CONTAINERS): finish it and start
 * another, or -EINVAL when the decoder would reject the record (docs/wire.md
 * "Record": family, direction, times, counts, container id and name).
 */
int wire_encoder__add(struct wire_encoder *e, const struct flow_record *r);
uint32_t wire_encoder__count(const struct wire_encoder *e);
/*
 * Uncompressed size the batch would have now (for a byte limit on batches),
 * counting the header at its largest, so an upper bound.  A batch of
 * WIRE_MAX_RECORDS is about 36 MiB, over WIRE_DEFAULT_MAX_DECODED: bound
 * batches by this size too.
 */
size_t wire_encoder__size(const struct wire_encoder *e);

/*
 * Serialises header + records and compresses them.  *body stays valid until
 * the next call on `e`.  Returns 0, -EINVAL (a header field the decoder
 * would reject; logged), or -ENOMEM / -EIO (the codec failed; logged).
 */
int wire_encoder__finish(struct wire_encoder *e, const struct wire_header *h, const void **body,
			 size_t *len);

/* ---- decoder ---------------------------------------------------------- */

/* A decoded batch.  Everything points into the decoder's memory. */
struct wire_batch {
	uint16_t version;
	uint16_t flags;
	uint64_t sender_id;
	uint64_t seq;
	struct flow_identity sender;
	uint64_t span_start_ms;
	uint64_t span_end_ms;
	uint32_t n_ips;
	const uint8_t (*ips)[16];
	uint64_t drops[WIRE_DROP__COUNT];
	uint32_t n_records;
	/*
	 * Records with local = &sender, container_id and container filled from
	 * the container table, remote = NULL, remote_source unattributed.
	 */
	struct flow_record *records;
};

/*
 * Whether the batch's heartbeat claims anything: its sender's IPs over a
 * span of some time (a report in the same millisecond as the one before
 * names them over none).
 */
static inline bool wire_batch_claims(const struct wire_batch *b)
{
	return b->n_ips && b->span_end_ms > b->span_start_ms;
}

struct wire_decoder;

/* `max_decoded`: cap on the uncompressed payload, 0 = WIRE_DEFAULT_MAX_DECODED. */
struct wire_decoder *wire_decoder__new(size_t max_decoded);
void wire_decoder__free(struct wire_decoder *d);
/*
 * A receiver's own cap on the records of one batch, below the format's
 * WIRE_MAX_RECORDS (0: the format's): a batch of more is -E2BIG (413), not
 * malformed.
 */
void wire_decoder__set_max_records(struct wire_decoder *d, uint32_t max_records);

/*
 * Decodes one body.  On success *out is valid until the next call on `d`;
 * the caller may change its records (the collector names their remote side).
 * Returns 0 or:
 *   -ENOTSUP          encoding not supported                 (HTTP 415)
 *   -EMSGSIZE         payload over max_decoded                (HTTP 413)
 *   -E2BIG            more records than wire_decoder__set_max_records
 *                     allows                                 (HTTP 413)
 *   -EPROTONOSUPPORT  a version this decoder does not speak  (HTTP 400)
 *   -EBADMSG          anything malformed: truncated, trailing bytes, bad
 *                     magic, CRC mismatch, a length, count or enum out of
 *                     range, a string that is not UTF-8      (HTTP 400)
 * wire_decoder__error() then says what, in one line, for the response.
 * Never allocates more than max_decoded plus what its counts, each checked
 * against the remaining input first, require.
 */
int wire_decoder__decode(struct wire_decoder *d, const void *body, size_t len,
			 enum wire_encoding enc, struct wire_batch **out);
const char *wire_decoder__error(const struct wire_decoder *d);

#endif /* PODFLOW_WIRE_H */
