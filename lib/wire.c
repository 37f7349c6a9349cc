// SPDX-License-Identifier: BSD-2-Clause
/* The sidecar-to-collector batch format (docs/wire.md): encoder and strict, bounded decoder. */
#include "wire.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libdeflate.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "ip.h"
#include "log.h"
#include "utf8.h"

#define PREFIX_SIZE	   16
#define CONTAINER_ID_MAX   64	/* hex digits of a container id */
#define TABLE_ENTRY_MIN	   12	/* cgroup id and two empty strings */
#define TABLE_SLOTS	   2048 /* cgroup id -> table index, open addressing, load <= 1/2 */
#define ZSTD_LEVEL_DEFAULT 3
#define GZIP_LEVEL_DEFAULT 6
#define GZIP_WINDOW_BITS   (16 + MAX_WBITS) /* gzip wrapper (RFC 1952), 32 KiB window */
#define ZSTD_WINDOWLOG_MIN 10		    /* RFC 8878 3.1.1.1.2: windows start at 1 KiB */
#define OUT_INITIAL	   (64u << 10)	    /* first decompression buffer */

/* The v1 record: offsets of its little-endian fields (docs/wire.md "Record"). */
#define R_START_MS	 0
#define R_END_MS	 8
#define R_BYTES_SENT	 16
#define R_BYTES_RECEIVED 24
#define R_SEGS_SENT	 32
#define R_SEGS_RECEIVED	 40
#define R_FLOWS		 48
#define R_CLOSED	 52
#define R_FAILED	 56
#define R_RETRANSMITS	 60
#define R_RESETS	 64
#define R_SRTT_US	 68
#define R_MIN_RTT_US	 72
#define R_PID		 76
#define R_LOCAL_PORT	 80
#define R_REMOTE_PORT	 82
#define R_ERR		 84
#define R_CONTAINER	 86
#define R_FAMILY	 88
#define R_DIRECTION	 89
#define R_LOCAL_ADDR	 90
#define R_REMOTE_ADDR	 106
#define R_COMM		 122
#define R_COMM_SIZE	 16
#define R_PAD		 138
#define RECORD_SIZE	 144

_Static_assert(R_COMM + R_COMM_SIZE == R_PAD, "comm ends where the padding starts");
_Static_assert(RECORD_SIZE % 8 == 0 && RECORD_SIZE - R_PAD < 8, "padding to a multiple of 8");
_Static_assert(FLOW_COMM_SIZE == R_COMM_SIZE + 1, "flow_record.comm is the wire comm plus a NUL");
_Static_assert(FLOW_CONTAINER_ID_LEN == CONTAINER_ID_MAX + 1, "container id plus a NUL");
_Static_assert(WIRE_MAX_CONTAINERS * 2 <= TABLE_SLOTS, "table index at most half full");
_Static_assert(WIRE_MAX_CONTAINERS <= UINT16_MAX, "records carry a u16 container index");
_Static_assert(WIRE_MAX_STRING <= UINT8_MAX, "encoder keeps string lengths in a u8");

/* ---- shared ----------------------------------------------------------- */

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

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/*
 * Grows *buf to hold `need` elements of `size` bytes (at least half as many
 * again as it had, so appends are amortised).  Callers bound `need` first.
 */
static int grow(void *buf, size_t *cap, size_t need, size_t size)
{
	void **p = buf;
	size_t n = *cap + *cap / 2;
	void *nb;

	if (need <= *cap)
		return 0;
	if (n < need)
		n = need;
	nb = realloc(*p, n * size);
	if (!nb)
		return -ENOMEM;
	*p = nb;
	*cap = n;
	return 0;
}

/* Offset of the first byte that is not a lowercase hex digit, or n. */
static size_t hex_bad_at(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return i;
	return n;
}

/*
 * The record invariants (docs/wire.md "Record"), one check for both sides
 * so the encoder never produces what the decoder rejects.  Returns false
 * and says why in `why`.
 */
bool wire_record_valid(const struct flow_record *r, char *why, size_t len)
{
	bool l4 = ip_is_v4mapped(r->local_addr), r4 = ip_is_v4mapped(r->remote_addr);

	if (r->family != 4 && r->family != 6) {
		snprintf(why, len, "family %u not 4 or 6", r->family);
		return false;
	}
	if (r->family == 4 && !(l4 && r4)) {
		snprintf(why, len, "family 4 but the %s address is not v4-mapped",
			 l4 ? "remote" : "local");
		return false;
	}
	if (r->family == 6 && l4 && r4) {
		snprintf(why, len, "family 6 but both addresses are v4-mapped");
		return false;
	}
	if (r->direction != FLOW_DIRECTION_OUT && r->direction != FLOW_DIRECTION_IN) {
		snprintf(why, len, "direction %u not 1 (out) or 2 (in)", r->direction);
		return false;
	}
	/* a LATE record (an RST after the connection's final record) has flows 0, closed 0 */
	if (r->closed > r->flows) {
		snprintf(why, len, "closed %u > flows %u", r->closed, r->flows);
		return false;
	}
	if (r->failed > r->closed) {
		snprintf(why, len, "failed %u > closed %u", r->failed, r->closed);
		return false;
	}
	return true;
}

/*
 * Slot of `cgroup_id` in a container table's index (slots hold index + 1,
 * 0 = free).  Table entries are `stride` bytes apart and start with their
 * cgroup id; `table` is only read through occupied slots.
 */
static uint32_t slot_of(const uint16_t *slots, uint64_t cgroup_id, const void *table, size_t stride)
{
	uint32_t s = (uint32_t)((cgroup_id * 0x9e3779b97f4a7c15ull) >> 53) & (TABLE_SLOTS - 1);

	for (; slots[s]; s = (s + 1) & (TABLE_SLOTS - 1)) {
		uint64_t id;

		memcpy(&id, (const char *)table + (size_t)(slots[s] - 1) * stride, sizeof(id));
		if (id == cgroup_id)
			break;
	}
	return s;
}

const char *wire_encoding_name(enum wire_encoding enc)
{
	switch (enc) {
	case WIRE_ENC_IDENTITY:
		return "identity";
	case WIRE_ENC_ZSTD:
		return "zstd";
	case WIRE_ENC_GZIP:
		return "gzip";
	}
	return "unknown";
}

int wire_encoding_parse(const char *content_encoding, enum wire_encoding *out)
{
	static const struct {
		const char *token;
		enum wire_encoding enc;
	} tokens[] = {
		{ "identity", WIRE_ENC_IDENTITY },
		{ "zstd", WIRE_ENC_ZSTD },
		{ "gzip", WIRE_ENC_GZIP },
		{ "x-gzip", WIRE_ENC_GZIP }, /* RFC 9110 8.4.1.3 */
	};
	const char *s = content_encoding ? content_encoding : "";
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n == 0) {
		*out = WIRE_ENC_IDENTITY;
		return 0;
	}
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		if (strlen(tokens[i].token) == n && strncasecmp(s, tokens[i].token, n) == 0) {
			*out = tokens[i].enc;
			return 0;
		}
	}
	return -ENOTSUP;
}

const char *wire_drop_name(enum wire_drop d)
{
	static const char *const names[WIRE_DROP__COUNT] = {
		[WIRE_DROP_KERNEL_RING] = "kernel_ring",
		[WIRE_DROP_KERNEL_MAP] = "kernel_map",
		[WIRE_DROP_TABLE] = "table",
		[WIRE_DROP_BUFFER] = "buffer",
		[WIRE_DROP_REJECTED] = "rejected",
	};

	if ((unsigned int)d >= WIRE_DROP__COUNT)
		return "unknown";
	return names[d];
}

/* ---- encoder ---------------------------------------------------------- */

struct enc_container {
	uint64_t cgroup_id;
	uint8_t id_len;
	uint8_t name_len;
	char id[CONTAINER_ID_MAX];
	char name[WIRE_MAX_STRING];
};
_Static_assert(offsetof(struct enc_container, cgroup_id) == 0, "slot_of() reads it there");

struct wire_encoder {
	enum wire_encoding enc;
	uint8_t *recs; /* records, already in wire form */
	size_t recs_cap;
	uint32_t n_records;
	struct enc_container *table;
	size_t table_cap;
	uint32_t n_table;
	size_t table_bytes; /* the table entries' wire size */
	uint16_t slots[TABLE_SLOTS];
	uint8_t *batch; /* prefix + payload */
	size_t batch_cap;
	uint8_t *out; /* compressed body */
	size_t out_cap;
	ZSTD_CCtx *zc;
	z_stream z;
	bool z_ready;
};

struct wire_encoder *wire_encoder__new(enum wire_encoding enc, int level)
{
	struct wire_encoder *e;
	size_t zr;
	int err = -EINVAL;

	if (enc == WIRE_ENC_ZSTD && (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())) {
		errno = EINVAL;
		return NULL;
	}
	if (enc == WIRE_ENC_GZIP && (level < 0 || level > 9)) {
		errno = EINVAL;
		return NULL;
	}
	if (enc != WIRE_ENC_IDENTITY && enc != WIRE_ENC_ZSTD && enc != WIRE_ENC_GZIP) {
		errno = ENOTSUP;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->enc = enc;
	if (enc == WIRE_ENC_ZSTD) {
		e->zc = ZSTD_createCCtx();
		if (!e->zc) {
			err = -ENOMEM;
			goto cleanup;
		}
		zr = ZSTD_CCtx_setParameter(e->zc, ZSTD_c_compressionLevel,
					    level ? level : ZSTD_LEVEL_DEFAULT);
		if (!ZSTD_isError(zr))
			zr = ZSTD_CCtx_setParameter(e->zc, ZSTD_c_checksumFlag, 1);
		if (ZSTD_isError(zr)) {
			pr_warn("wire: zstd level %d: %s", level, ZSTD_getErrorName(zr));
			goto cleanup;
		}
	} else if (enc == WIRE_ENC_GZIP) {
		int zerr = deflateInit2(&e->z, level ? level : GZIP_LEVEL_DEFAULT, Z_DEFLATED,
					GZIP_WINDOW_BITS, 8, Z_DEFAULT_STRATEGY);

		if (zerr != Z_OK) {
			pr_warn("wire: deflateInit2: %s", zError(zerr));
			err = zerr == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
			goto cleanup;
		}
		e->z_ready = true;
	}
	return e;
cleanup:
	wire_encoder__free(e);
	errno = -err;
	return NULL;
}

void wire_encoder__free(struct wire_encoder *e)
{
	if (!e)
		return;
	if (e->z_ready)
		deflateEnd(&e->z);
	ZSTD_freeCCtx(e->zc);
	free(e->recs);
	free(e->table);
	free(e->batch);
	free(e->out);
	free(e);
}

void wire_encoder__reset(struct wire_encoder *e)
{
	e->n_records = 0;
	e->n_table = 0;
	e->table_bytes = 0;
	memset(e->slots, 0, sizeof(e->slots));
}

uint32_t wire_encoder__count(const struct wire_encoder *e)
{
	return e->n_records;
}

/* Payload bytes before the container table for a header with these strings and IPs. */
static size_t header_size(size_t strings, uint32_t n_ips)
{
	return 16 + 5 * 2 + strings + 20 + (size_t)n_ips * 16 + 4 + 8 * WIRE_DROP__COUNT;
}

size_t wire_encoder__size(const struct wire_encoder *e)
{
	/* the header counted at its largest: the caller uses this as an upper bound */
	return PREFIX_SIZE + header_size(5 * WIRE_MAX_STRING, WIRE_MAX_IPS) + 4 + e->table_bytes +
	       8 + (size_t)e->n_records * RECORD_SIZE;
}

/* The table index of r's container, added if new.  -E2BIG when the table is full. */
static int container_index(struct wire_encoder *e, const struct flow_record *r, uint16_t *idx)
{
	uint32_t s = slot_of(e->slots, r->cgroup_id, e->table, sizeof(*e->table));
	size_t id_len, name_len;
	struct enc_container *c;

	if (e->slots[s]) {
		*idx = (uint16_t)(e->slots[s] - 1);
		return 0;
	}
	if (e->n_table >= WIRE_MAX_CONTAINERS)
		return -E2BIG;
	id_len = strnlen(r->container_id, sizeof(r->container_id));
	name_len = r->container ? strnlen(r->container, WIRE_MAX_STRING + 1) : 0;
	if (id_len > CONTAINER_ID_MAX ||
	    hex_bad_at((const uint8_t *)r->container_id, id_len) < id_len) {
		pr_debug("wire: cgroup %llu: container_id is not 0..64 lowercase hex digits",
			 (unsigned long long)r->cgroup_id);
		return -EINVAL;
	}
	if (name_len > WIRE_MAX_STRING ||
	    utf8_bad_at((const unsigned char *)r->container, name_len) < name_len) {
		pr_debug("wire: cgroup %llu: container name is not <= %d bytes of UTF-8",
			 (unsigned long long)r->cgroup_id, WIRE_MAX_STRING);
		return -EINVAL;
	}
	if (grow(&e->table, &e->table_cap, e->n_table + 1, sizeof(*e->table)))
		return -ENOMEM;
	/* `table` may have moved, but the slot depends only on ids already placed */
	c = &e->table[e->n_table];
	c->cgroup_id = r->cgroup_id;
	c->id_len = (uint8_t)id_len;
	c->name_len = (uint8_t)name_len;
	memcpy(c->id, r->container_id, id_len);
	if (name_len)
		memcpy(c->name, r->container, name_len);
	e->table_bytes += 8 + 2 + id_len + 2 + name_len;
	*idx = (uint16_t)e->n_table;
	e->slots[s] = (uint16_t)++e->n_table;
	return 0;
}

int wire_encoder__add(struct wire_encoder *e, const struct flow_record *r)
{
	char why[128];
	uint16_t idx;
	uint8_t *p;
	size_t comm_len;
	int err;

	if (e->n_records >= WIRE_MAX_RECORDS)
		return -E2BIG;
	/*
	 * Times are the collector's to judge, per record (it drops one that
	 * ends before it starts and keeps the rest of the batch: docs/wire.md
	 * "Record"); a podflow sender never sends such a record.
	 */
	if (r->start_ms > r->end_ms)
		snprintf(why, sizeof(why), "start_ms %llu after end_ms %llu",
			 (unsigned long long)r->start_ms, (unsigned long long)r->end_ms);
	if (r->start_ms > r->end_ms || !wire_record_valid(r, why, sizeof(why))) {
		pr_debug("wire: record not added: %s", why);
		return -EINVAL;
	}
	if (grow(&e->recs, &e->recs_cap, ((size_t)e->n_records + 1) * RECORD_SIZE, 1))
		return -ENOMEM;
	err = container_index(e, r, &idx);
	if (err)
		return err;
	p = e->recs + (size_t)e->n_records * RECORD_SIZE;
	put_u64(p + R_START_MS, r->start_ms);
	put_u64(p + R_END_MS, r->end_ms);
	put_u64(p + R_BYTES_SENT, r->bytes_sent);
	put_u64(p + R_BYTES_RECEIVED, r->bytes_received);
	put_u64(p + R_SEGS_SENT, r->segs_sent);
	put_u64(p + R_SEGS_RECEIVED, r->segs_received);
	put_u32(p + R_FLOWS, r->flows);
	put_u32(p + R_CLOSED, r->closed);
	put_u32(p + R_FAILED, r->failed);
	put_u32(p + R_RETRANSMITS, r->retransmits);
	put_u32(p + R_RESETS, r->resets);
	put_u32(p + R_SRTT_US, r->srtt_us);
	put_u32(p + R_MIN_RTT_US, r->min_rtt_us);
	put_u32(p + R_PID, r->pid);
	put_u16(p + R_LOCAL_PORT, r->local_port);
	put_u16(p + R_REMOTE_PORT, r->remote_port);
	put_u16(p + R_ERR, r->err);
	put_u16(p + R_CONTAINER, idx);
	p[R_FAMILY] = r->family;
	p[R_DIRECTION] = r->direction;
	memcpy(p + R_LOCAL_ADDR, r->local_addr, 16);
	memcpy(p + R_REMOTE_ADDR, r->remote_addr, 16);
	/* the kernel's comm: up to 16 raw bytes, NUL-padded on the wire */
	comm_len = strnlen(r->comm, R_COMM_SIZE);
	memcpy(p + R_COMM, r->comm, comm_len);
	memset(p + R_COMM + comm_len, 0, RECORD_SIZE - R_COMM - comm_len);
	e->n_records++;
	return 0;
}

/* Checks one header string; returns its length, or -EINVAL (logged). */
static long header_string(const char *field, const char *s)
{
	size_t n = s ? strnlen(s, WIRE_MAX_STRING + 1) : 0;

	if (n > WIRE_MAX_STRING) {
		pr_warn("wire: sender %s is over %d bytes", field, WIRE_MAX_STRING);
		return -EINVAL;
	}
	if (utf8_bad_at((const unsigned char *)s, n) < n) {
		pr_warn("wire: sender %s is not UTF-8 (byte %zu)", field,
			utf8_bad_at((const unsigned char *)s, n));
		return -EINVAL;
	}
	return (long)n;
}

static uint8_t *put_string(uint8_t *p, const char *s, size_t n)
{
	put_u16(p, (uint16_t)n);
	if (n)
		memcpy(p + 2, s, n);
	return p + 2 + n;
}

static int compress_zstd(struct wire_encoder *e, size_t n, size_t *len)
{
	ZSTD_inBuffer in = { e->batch, n, 0 };
	ZSTD_outBuffer out;
	size_t zr;

	if (grow(&e->out, &e->out_cap, ZSTD_compressBound(n), 1))
		return -ENOMEM;
	zr = ZSTD_CCtx_reset(e->zc, ZSTD_reset_session_only);
	if (!ZSTD_isError(zr))
		zr = ZSTD_CCtx_setPledgedSrcSize(e->zc, n); /* the frame states its size */
	out = (ZSTD_outBuffer){ e->out, e->out_cap, 0 };
	/* with a ZSTD_compressBound() buffer one call ends the frame (returns 0) */
	if (!ZSTD_isError(zr))
		zr = ZSTD_compressStream2(e->zc, &out, &in, ZSTD_e_end);
	if (ZSTD_isError(zr) || zr != 0) {
		pr_warn("wire: zstd compression failed: %s",
			ZSTD_isError(zr) ? ZSTD_getErrorName(zr) : "frame not ended");
		return ZSTD_getErrorCode(zr) == ZSTD_error_memory_allocation ? -ENOMEM : -EIO;
	}
	*len = out.pos;
	return 0;
}

static int compress_gzip(struct wire_encoder *e, size_t n, size_t *len)
{
	int zerr = deflateReset(&e->z);

	if (zerr != Z_OK) {
		pr_warn("wire: deflateReset: %s", zError(zerr));
		return -EIO;
	}
	if (grow(&e->out, &e->out_cap, deflateBound(&e->z, (uLong)n), 1))
		return -ENOMEM;
	e->z.next_in = e->batch;
	e->z.avail_in = (uInt)n;
	e->z.next_out = e->out;
	e->z.avail_out = (uInt)e->out_cap;
	zerr = deflate(&e->z, Z_FINISH);
	if (zerr != Z_STREAM_END) {
		pr_warn("wire: deflate: %s", e->z.msg ? e->z.msg : zError(zerr));
		return zerr == Z_MEM_ERROR ? -ENOMEM : -EIO;
	}
	*len = e->z.total_out;
	return 0;
}

int wire_encoder__finish(struct wire_encoder *e, const struct wire_header *h, const void **body,
			 size_t *len)
{
	const char *strs[5] = { h->sender.pod, h->sender.namespace, h->sender.node, h->sender.app,
				h->sender.workload };
	static const char *const names[5] = { "pod", "namespace", "node", "app", "workload" };
	size_t lens[5], total = 0, n;
	uint8_t *p;
	int err;

	for (int i = 0; i < 5; i++) {
		long l = header_string(names[i], strs[i]);

		if (l < 0)
			return (int)l;
		lens[i] = (size_t)l;
		total += lens[i];
	}
	if (h->span_start_ms > h->span_end_ms) {
		pr_warn("wire: heartbeat span_start_ms %llu after span_end_ms %llu",
			(unsigned long long)h->span_start_ms, (unsigned long long)h->span_end_ms);
		return -EINVAL;
	}
	if (h->n_ips > WIRE_MAX_IPS || (h->n_ips && !h->ips)) {
		if (h->n_ips > WIRE_MAX_IPS)
			pr_warn("wire: heartbeat n_ips %u exceeds %d", h->n_ips, WIRE_MAX_IPS);
		else
			pr_warn("wire: heartbeat n_ips %u but no ips", h->n_ips);
		return -EINVAL;
	}
	n = PREFIX_SIZE + header_size(total, h->n_ips) + 4 + e->table_bytes + 8 +
	    (size_t)e->n_records * RECORD_SIZE;
	if (grow(&e->batch, &e->batch_cap, n, 1))
		return -ENOMEM;

	p = e->batch + PREFIX_SIZE;
	put_u64(p, h->sender_id);
	put_u64(p + 8, h->seq);
	p += 16;
	for (int i = 0; i < 5; i++)
		p = put_string(p, strs[i], lens[i]);
	put_u64(p, h->span_start_ms);
	put_u64(p + 8, h->span_end_ms);
	put_u32(p + 16, h->n_ips);
	p += 20;
	if (h->n_ips)
		memcpy(p, h->ips, (size_t)h->n_ips * 16);
	p += (size_t)h->n_ips * 16;
	put_u32(p, WIRE_DROP__COUNT);
	p += 4;
	for (int i = 0; i < WIRE_DROP__COUNT; i++, p += 8)
		put_u64(p, h->drops[i]);
	put_u32(p, e->n_table);
	p += 4;
	for (uint32_t i = 0; i < e->n_table; i++) {
		const struct enc_container *c = &e->table[i];

		put_u64(p, c->cgroup_id);
		p = put_string(p + 8, c->id, c->id_len);
		p = put_string(p, c->name, c->name_len);
	}
	put_u32(p, RECORD_SIZE);
	put_u32(p + 4, e->n_records);
	p += 8;
	if (e->n_records)
		memcpy(p, e->recs, (size_t)e->n_records * RECORD_SIZE);

	put_u32(e->batch, WIRE_MAGIC);
	put_u16(e->batch + 4, WIRE_VERSION);
	put_u16(e->batch + 6, 0);
	put_u32(e->batch + 8, (uint32_t)(n - PREFIX_SIZE));
	put_u32(e->batch + 12, libdeflate_crc32(0, e->batch + PREFIX_SIZE, n - PREFIX_SIZE));

	switch (e->enc) {
	case WIRE_ENC_ZSTD:
		err = compress_zstd(e, n, len);
		*body = e->out;
		break;
	case WIRE_ENC_GZIP:
		err = compress_gzip(e, n, len);
		*body = e->out;
		break;
	default:
		err = 0;
		*body = e->batch;
		*len = n;
		break;
	}
	return err;
}

/* ---- decoder ---------------------------------------------------------- */

struct dec_container {
	uint64_t cgroup_id;
	const char *name; /* in the arena */
	char id[FLOW_CONTAINER_ID_LEN];
};
_Static_assert(offsetof(struct dec_container, cgroup_id) == 0, "slot_of() reads it there");

struct wire_decoder {
	size_t max_decoded;
	uint32_t max_records; /* the receiver's cap, at most WIRE_MAX_RECORDS */
	size_t limit;	      /* uncompressed body: max_decoded + the prefix */
	uint8_t *buf;	      /* decompressed body, at most limit + 1 bytes */
	size_t buf_cap;
	char *arena; /* the batch's strings, NUL-terminated; at most the payload size */
	size_t arena_cap, arena_len;
	struct dec_container *table;
	size_t table_cap;
	uint32_t n_table;
	struct flow_record *records;
	size_t records_cap;
	uint16_t slots[TABLE_SLOTS];
	uint8_t ips[WIRE_MAX_IPS][16];
	bool prefix_seen; /* the decompressed prefix has been checked against the limit */
	ZSTD_DCtx *zd;
	z_stream z;
	bool z_ready;
	struct wire_batch batch;
	char err[256];
};

/* Records a one-line error and returns `err`. */
__attribute__((format(printf, 3, 4))) static int fail(struct wire_decoder *d, int err,
						      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	return err;
}

void wire_decoder__set_max_records(struct wire_decoder *d, uint32_t max_records)
{
	d->max_records =
	    max_records && max_records < WIRE_MAX_RECORDS ? max_records : WIRE_MAX_RECORDS;
}

struct wire_decoder *wire_decoder__new(size_t max_decoded)
{
	struct wire_decoder *d = calloc(1, sizeof(*d));
	int wlog = ZSTD_WINDOWLOG_MIN, zerr;
	size_t zr;

	if (!d)
		return NULL;
	if (!max_decoded)
		max_decoded = WIRE_DEFAULT_MAX_DECODED;
	if (max_decoded > UINT32_MAX) /* the prefix's payload length is a u32 */
		max_decoded = UINT32_MAX;
	d->max_decoded = max_decoded;
	d->limit = max_decoded + PREFIX_SIZE;
	d->max_records = WIRE_MAX_RECORDS;
	/*
	 * A zstd window larger than the whole output could ever be only costs
	 * memory: refuse frames asking for one (RFC 8878 3.1.1.1.2).
	 */
	while (wlog < 31 && ((size_t)1 << wlog) < d->limit)
		wlog++;
	d->zd = ZSTD_createDCtx();
	if (!d->zd)
		goto nomem;
	zr = ZSTD_DCtx_setParameter(d->zd, ZSTD_d_windowLogMax, wlog);
	if (ZSTD_isError(zr)) {
		pr_warn("wire: zstd windowLogMax %d: %s", wlog, ZSTD_getErrorName(zr));
		wire_decoder__free(d);
		errno = EINVAL;
		return NULL;
	}
	zerr = inflateInit2(&d->z, GZIP_WINDOW_BITS);
	if (zerr != Z_OK) {
		pr_warn("wire: inflateInit2: %s", zError(zerr));
		goto nomem;
	}
	d->z_ready = true;
	return d;
nomem:
	wire_decoder__free(d);
	errno = ENOMEM;
	return NULL;
}

void wire_decoder__free(struct wire_decoder *d)
{
	if (!d)
		return;
	if (d->z_ready)
		inflateEnd(&d->z);
	ZSTD_freeDCtx(d->zd);
	free(d->buf);
	free(d->arena);
	free(d->table);
	free(d->records);
	free(d);
}

const char *wire_decoder__error(const struct wire_decoder *d)
{
	return d->err;
}

static int check_payload_len(struct wire_decoder *d, uint32_t payload_len)
{
	if (payload_len > d->max_decoded)
		return fail(d, -EMSGSIZE, "payload %u bytes exceeds the %zu-byte limit",
			    payload_len, d->max_decoded);
	return 0;
}

/*
 * Makes room for decompressed output at d->buf + pos.  The buffer doubles
 * but never past limit + 1 bytes: one byte over the limit is enough to
 * know the body is too big.  -EMSGSIZE (no message) when it cannot grow.
 */
static int out_room(struct wire_decoder *d, size_t pos, size_t hint)
{
	size_t want = d->buf_cap ? d->buf_cap * 2 : hint > OUT_INITIAL ? hint : OUT_INITIAL;
	uint8_t *nb;

	if (pos < d->buf_cap)
		return 0;
	if (want > d->limit + 1)
		want = d->limit + 1;
	if (want <= pos)
		return -EMSGSIZE;
	nb = realloc(d->buf, want);
	if (!nb)
		return fail(d, -ENOMEM, "out of memory for a %zu-byte body", want);
	d->buf = nb;
	d->buf_cap = want;
	return 0;
}

/* Decompressed past the limit: the payload is too big, whatever it is. */
static int over_limit(struct wire_decoder *d, const char *codec, size_t in_used, size_t in_len)
{
	return fail(d, -EMSGSIZE,
		    "%s: decompressed body exceeds the %zu-byte limit (stopped after %zu of %zu "
		    "compressed bytes)",
		    codec, d->limit, in_used, in_len);
}

/*
 * Once the first 16 bytes are out, an honest prefix announcing a payload
 * over the limit stops decompression right there.
 */
static int peek_prefix(struct wire_decoder *d, size_t pos)
{
	if (d->prefix_seen || pos < PREFIX_SIZE)
		return 0;
	d->prefix_seen = true;
	if (get_u32(d->buf) != WIRE_MAGIC || get_u16(d->buf + 4) != WIRE_VERSION)
		return 0; /* the parser says what is wrong */
	return check_payload_len(d, get_u32(d->buf + 8));
}

static int unzstd(struct wire_decoder *d, const uint8_t *in, size_t len, size_t *out_len)
{
	ZSTD_inBuffer zin = { in, len, 0 };
	unsigned long long fcs;
	size_t pos = 0, zr;
	int err;

	if (len < 4)
		return fail(d, -EBADMSG, "zstd: truncated: %zu-byte body has no frame magic", len);
	if (get_u32(in) != ZSTD_MAGICNUMBER)
		return fail(d, -EBADMSG, "zstd: magic 0x%08x is not a zstd frame's", get_u32(in));
	fcs = ZSTD_getFrameContentSize(in, len);
	if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != ZSTD_CONTENTSIZE_ERROR && fcs > d->limit)
		return fail(d, -EMSGSIZE,
			    "zstd: frame declares %llu bytes, over the %zu-byte limit", fcs,
			    d->limit);
	zr = ZSTD_DCtx_reset(d->zd, ZSTD_reset_session_only);
	if (ZSTD_isError(zr))
		return fail(d, -EIO, "zstd: %s", ZSTD_getErrorName(zr));
	for (;;) {
		ZSTD_outBuffer zout;

		err = out_room(d, pos, fcs < d->limit ? (size_t)fcs + 1 : 0);
		if (err)
			return err == -EMSGSIZE ? over_limit(d, "zstd", zin.pos, len) : err;
		zout = (ZSTD_outBuffer){ d->buf, d->buf_cap, pos };
		zr = ZSTD_decompressStream(d->zd, &zout, &zin);
		pos = zout.pos;
		if (ZSTD_isError(zr)) {
			switch (ZSTD_getErrorCode(zr)) {
			case ZSTD_error_frameParameter_windowTooLarge:
				return fail(d, -EMSGSIZE,
					    "zstd: frame window exceeds the %zu-byte limit",
					    d->limit);
			case ZSTD_error_memory_allocation:
				return fail(d, -ENOMEM, "zstd: %s", ZSTD_getErrorName(zr));
			default:
				return fail(d, -EBADMSG, "zstd: %s at byte %zu",
					    ZSTD_getErrorName(zr), zin.pos);
			}
		}
		if (pos > d->limit)
			return over_limit(d, "zstd", zin.pos, len);
		err = peek_prefix(d, pos);
		if (err)
			return err;
		if (zr == 0) /* frame decoded, checksum verified, all flushed */
			break;
		if (zin.pos == zin.size && zout.pos < zout.size)
			return fail(d, -EBADMSG,
				    "zstd: truncated: frame incomplete after %zu bytes", len);
	}
	if (zin.pos != len)
		return fail(d, -EBADMSG, "zstd: trailing garbage: %zu bytes after the frame",
			    len - zin.pos);
	*out_len = pos;
	return 0;
}

static int gunzip(struct wire_decoder *d, const uint8_t *in, size_t len, size_t *out_len)
{
	size_t pos = 0;
	int zerr, err;

	if (len > UINT_MAX)
		return fail(d, -EMSGSIZE, "gzip: %zu-byte body exceeds the %zu-byte limit", len,
			    d->limit);
	zerr = inflateReset(&d->z);
	if (zerr != Z_OK)
		return fail(d, -EIO, "gzip: inflateReset: %s", zError(zerr));
	d->z.next_in = (Bytef *)in;
	d->z.avail_in = (uInt)len;
	for (;;) {
		size_t room;

		err = out_room(d, pos, 0);
		if (err)
			return err == -EMSGSIZE ? over_limit(d, "gzip", d->z.total_in, len) : err;
		room = d->buf_cap - pos;
		d->z.next_out = d->buf + pos;
		d->z.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
		zerr = inflate(&d->z, Z_NO_FLUSH);
		pos = (size_t)(d->z.next_out - d->buf);
		if (pos > d->limit)
			return over_limit(d, "gzip", d->z.total_in, len);
		err = peek_prefix(d, pos);
		if (err)
			return err;
		if (zerr == Z_STREAM_END)
			break;
		switch (zerr) {
		case Z_OK:
			continue;
		case Z_BUF_ERROR:
			if (d->z.avail_out == 0)
				continue; /* out of room: grow */
			if (d->z.avail_in == 0)
				return fail(d, -EBADMSG,
					    "gzip: truncated: stream incomplete after %zu bytes",
					    len);
			return fail(d, -EBADMSG, "gzip: inflate made no progress at byte %lu",
				    d->z.total_in);
		case Z_MEM_ERROR:
			return fail(d, -ENOMEM, "gzip: out of memory");
		default:
			return fail(d, -EBADMSG, "gzip: %s at byte %lu",
				    d->z.msg ? d->z.msg : zError(zerr), d->z.total_in);
		}
	}
	if (d->z.avail_in)
		return fail(d, -EBADMSG, "gzip: trailing garbage: %u bytes after the member",
			    d->z.avail_in);
	*out_len = pos;
	return 0;
}

/* Reads the uncompressed batch front to back; every length is checked before use. */
struct cursor {
	struct wire_decoder *d;
	const uint8_t *p;
	size_t len;
	size_t off; /* from the start of the batch, prefix included */
};

static int need(struct cursor *c, size_t n, const char *what)
{
	if (c->len - c->off >= n)
		return 0;
	return fail(c->d, -EBADMSG, "truncated: %s needs %zu bytes at offset %zu, %zu left", what,
		    n, c->off, c->len - c->off);
}

/* A u16-length string of at most `max` bytes; `where` names it in errors. */
static int get_string(struct cursor *c, const char *where, size_t max, const uint8_t **s, size_t *n)
{
	int err = need(c, 2, where);

	if (err)
		return err;
	*n = get_u16(c->p + c->off);
	if (*n > max)
		return fail(c->d, -EBADMSG, "%s: length %zu exceeds %zu", where, *n, max);
	c->off += 2;
	err = need(c, *n, where);
	if (err)
		return err;
	*s = c->p + c->off;
	c->off += *n;
	return 0;
}

/* A UTF-8 string without NUL, copied NUL-terminated into the arena. */
static int get_text(struct cursor *c, const char *where, const char **out)
{
	const uint8_t *s;
	size_t n, bad;
	char *a;
	int err = get_string(c, where, WIRE_MAX_STRING, &s, &n);

	if (err)
		return err;
	bad = utf8_bad_at(s, n);
	if (bad < n)
		return fail(c->d, -EBADMSG, "%s: byte 0x%02x at %zu is not UTF-8 (or is a NUL)",
			    where, s[bad], bad);
	/* the arena holds payload_len bytes: each string took n + 2 of them, needs n + 1 */
	a = c->d->arena + c->d->arena_len;
	memcpy(a, s, n);
	a[n] = '\0';
	c->d->arena_len += n + 1;
	*out = a;
	return 0;
}

static int parse_header(struct cursor *c, struct wire_batch *b)
{
	static const char *const where[5] = { "sender pod", "sender namespace", "sender node",
					      "sender app", "sender workload" };
	const char **strs[5] = { &b->sender.pod, &b->sender.namespace, &b->sender.node,
				 &b->sender.app, &b->sender.workload };
	struct wire_decoder *d = c->d;
	const uint8_t *p;
	uint32_t n;
	int err;

	err = need(c, 16, "sender_id and seq");
	if (err)
		return err;
	b->sender_id = get_u64(c->p + c->off);
	b->seq = get_u64(c->p + c->off + 8);
	c->off += 16;
	for (int i = 0; i < 5; i++) {
		err = get_text(c, where[i], strs[i]);
		if (err)
			return err;
	}

	err = need(c, 20, "heartbeat");
	if (err)
		return err;
	p = c->p + c->off;
	b->span_start_ms = get_u64(p);
	b->span_end_ms = get_u64(p + 8);
	n = get_u32(p + 16);
	if (b->span_start_ms > b->span_end_ms)
		return fail(d, -EBADMSG, "heartbeat: span_start_ms %llu after span_end_ms %llu",
			    (unsigned long long)b->span_start_ms,
			    (unsigned long long)b->span_end_ms);
	if (n > WIRE_MAX_IPS)
		return fail(d, -EBADMSG, "heartbeat: n_ips %u exceeds %d", n, WIRE_MAX_IPS);
	c->off += 20;
	err = need(c, (size_t)n * 16, "heartbeat IPs");
	if (err)
		return err;
	memcpy(d->ips, c->p + c->off, (size_t)n * 16);
	c->off += (size_t)n * 16;
	b->n_ips = n;
	b->ips = (const uint8_t(*)[16])d->ips;

	err = need(c, 4, "drops");
	if (err)
		return err;
	n = get_u32(c->p + c->off);
	if (n != WIRE_DROP__COUNT)
		return fail(d, -EBADMSG, "drops: count %u, version 1 carries %d", n,
			    WIRE_DROP__COUNT);
	c->off += 4;
	err = need(c, 8 * WIRE_DROP__COUNT, "drops");
	if (err)
		return err;
	for (int i = 0; i < WIRE_DROP__COUNT; i++, c->off += 8)
		b->drops[i] = get_u64(c->p + c->off);
	return 0;
}

static int parse_table(struct cursor *c)
{
	struct wire_decoder *d = c->d;
	char where[48];
	uint32_t n;
	int err;

	err = need(c, 4, "container table count");
	if (err)
		return err;
	n = get_u32(c->p + c->off);
	if (n > WIRE_MAX_CONTAINERS)
		return fail(d, -EBADMSG, "container table: count %u exceeds %d", n,
			    WIRE_MAX_CONTAINERS);
	c->off += 4;
	err = need(c, (size_t)n * TABLE_ENTRY_MIN, "container table");
	if (err)
		return err;
	if (grow(&d->table, &d->table_cap, n, sizeof(*d->table)))
		return fail(d, -ENOMEM, "out of memory for %u containers", n);
	memset(d->slots, 0, sizeof(d->slots));
	for (d->n_table = 0; d->n_table < n; d->n_table++) {
		struct dec_container *t = &d->table[d->n_table];
		uint32_t i = d->n_table, s;
		const uint8_t *id;
		size_t id_len, bad;

		snprintf(where, sizeof(where), "container %u", i);
		err = need(c, 8, where);
		if (err)
			return err;
		t->cgroup_id = get_u64(c->p + c->off);
		c->off += 8;
		s = slot_of(d->slots, t->cgroup_id, d->table, sizeof(*d->table));
		if (d->slots[s])
			return fail(d, -EBADMSG,
				    "container %u: cgroup_id %llu duplicates container %u", i,
				    (unsigned long long)t->cgroup_id, d->slots[s] - 1u);
		d->slots[s] = (uint16_t)(i + 1);

		snprintf(where, sizeof(where), "container %u container_id", i);
		err = get_string(c, where, CONTAINER_ID_MAX, &id, &id_len);
		if (err)
			return err;
		bad = hex_bad_at(id, id_len);
		if (bad < id_len)
			return fail(d, -EBADMSG, "%s: byte 0x%02x at %zu is not lowercase hex",
				    where, id[bad], bad);
		memcpy(t->id, id, id_len);
		t->id[id_len] = '\0';

		snprintf(where, sizeof(where), "container %u name", i);
		err = get_text(c, where, &t->name);
		if (err)
			return err;
	}
	return 0;
}

static int parse_record(struct cursor *c, uint32_t i, struct flow_record *r)
{
	struct wire_decoder *d = c->d;
	const uint8_t *p = c->p + c->off;
	const struct dec_container *t;
	uint16_t idx = get_u16(p + R_CONTAINER);
	size_t comm_len;
	char why[128];

	if (idx >= d->n_table)
		return fail(d, -EBADMSG,
			    "record %u: container index %u out of range (table has %u)", i, idx,
			    d->n_table);
	for (int k = R_PAD; k < RECORD_SIZE; k++)
		if (p[k])
			return fail(d, -EBADMSG, "record %u: padding byte %d is 0x%02x, not zero",
				    i, k - R_PAD, p[k]);
	comm_len = strnlen((const char *)p + R_COMM, R_COMM_SIZE);
	for (size_t k = comm_len; k < R_COMM_SIZE; k++)
		if (p[R_COMM + k])
			return fail(d, -EBADMSG, "record %u: comm byte %zu is 0x%02x after its NUL",
				    i, k, p[R_COMM + k]);
	t = &d->table[idx];
	memset(r, 0, sizeof(*r));
	r->start_ms = get_u64(p + R_START_MS);
	r->end_ms = get_u64(p + R_END_MS);
	r->bytes_sent = get_u64(p + R_BYTES_SENT);
	r->bytes_received = get_u64(p + R_BYTES_RECEIVED);
	r->segs_sent = get_u64(p + R_SEGS_SENT);
	r->segs_received = get_u64(p + R_SEGS_RECEIVED);
	r->flows = get_u32(p + R_FLOWS);
	r->closed = get_u32(p + R_CLOSED);
	r->failed = get_u32(p + R_FAILED);
	r->retransmits = get_u32(p + R_RETRANSMITS);
	r->resets = get_u32(p + R_RESETS);
	r->srtt_us = get_u32(p + R_SRTT_US);
	r->min_rtt_us = get_u32(p + R_MIN_RTT_US);
	r->pid = get_u32(p + R_PID);
	r->local_port = get_u16(p + R_LOCAL_PORT);
	r->remote_port = get_u16(p + R_REMOTE_PORT);
	r->err = get_u16(p + R_ERR);
	r->family = p[R_FAMILY];
	r->direction = p[R_DIRECTION];
	memcpy(r->local_addr, p + R_LOCAL_ADDR, 16);
	memcpy(r->remote_addr, p + R_REMOTE_ADDR, 16);
	memcpy(r->comm, p + R_COMM, R_COMM_SIZE);
	if (!wire_record_valid(r, why, sizeof(why)))
		return fail(d, -EBADMSG, "record %u: %s", i, why);
	r->cgroup_id = t->cgroup_id;
	memcpy(r->container_id, t->id, sizeof(r->container_id));
	r->container = t->name;
	r->local = &d->batch.sender;
	r->remote = NULL;
	r->remote_source = FLOW_SOURCE_UNATTRIBUTED;
	c->off += RECORD_SIZE;
	return 0;
}

static int parse_records(struct cursor *c, struct wire_batch *b)
{
	struct wire_decoder *d = c->d;
	uint32_t size, n;
	size_t bytes;
	int err;

	err = need(c, 8, "records header");
	if (err)
		return err;
	size = get_u32(c->p + c->off);
	n = get_u32(c->p + c->off + 4);
	if (size != RECORD_SIZE)
		return fail(d, -EBADMSG, "records: record_size %u, version 1 records are %d bytes",
			    size, RECORD_SIZE);
	if (n > WIRE_MAX_RECORDS)
		return fail(d, -EBADMSG, "records: count %u exceeds %d", n, WIRE_MAX_RECORDS);
	if (n > d->max_records)
		return fail(d, -E2BIG, "records: %u in one batch, over this receiver's %u", n,
			    d->max_records);
	c->off += 8;
	bytes = (size_t)n * RECORD_SIZE;
	err = need(c, bytes, "records");
	if (err)
		return err;
	if (c->len - c->off > bytes)
		return fail(d, -EBADMSG, "trailing: %zu bytes after the last of %u records",
			    c->len - c->off - bytes, n);
	if (grow(&d->records, &d->records_cap, n, sizeof(*d->records)))
		return fail(d, -ENOMEM, "out of memory for %u records", n);
	for (uint32_t i = 0; i < n; i++) {
		err = parse_record(c, i, &d->records[i]);
		if (err)
			return err;
	}
	b->n_records = n;
	b->records = d->records;
	return 0;
}

static int parse(struct wire_decoder *d, const uint8_t *p, size_t len)
{
	struct cursor c = { .d = d, .p = p, .len = len };
	struct wire_batch *b = &d->batch;
	uint32_t magic, payload_len, crc;
	uint16_t version, flags;
	int err;

	err = need(&c, PREFIX_SIZE, "prefix");
	if (err)
		return err;
	magic = get_u32(p);
	version = get_u16(p + 4);
	flags = get_u16(p + 6);
	payload_len = get_u32(p + 8);
	crc = get_u32(p + 12);
	if (magic != WIRE_MAGIC)
		return fail(d, -EBADMSG, "bad magic 0x%08x, not 0x%08x (\"PFWB\")", magic,
			    WIRE_MAGIC);
	if (version != WIRE_VERSION)
		return fail(d, -EPROTONOSUPPORT,
			    "version %u not supported (this decoder speaks %d)", version,
			    WIRE_VERSION);
	if (flags)
		return fail(d, -EBADMSG, "flags 0x%04x not 0 in version 1", flags);
	err = check_payload_len(d, payload_len);
	if (err)
		return err;
	c.off = PREFIX_SIZE;
	if (len - PREFIX_SIZE < payload_len)
		return need(&c, payload_len, "payload");
	if (len - PREFIX_SIZE > payload_len)
		return fail(d, -EBADMSG, "trailing: %zu bytes after the %u-byte payload",
			    len - PREFIX_SIZE - payload_len, payload_len);
#ifndef WIRE_FUZZING
	/* fuzz builds skip only this check, so the fuzzer reaches the payload parser */
	{
		uint32_t got = libdeflate_crc32(0, p + PREFIX_SIZE, payload_len);

		if (got != crc)
			return fail(d, -EBADMSG,
				    "CRC mismatch: payload CRC-32 0x%08x, prefix says 0x%08x", got,
				    crc);
	}
#else
	(void)crc;
#endif
	/* strings take n + 2 payload bytes and n + 1 arena bytes: the payload size bounds them */
	if (grow(&d->arena, &d->arena_cap, (size_t)payload_len + 1, 1))
		return fail(d, -ENOMEM, "out of memory for a %u-byte payload", payload_len);
	d->arena_len = 0;
	d->n_table = 0;
	memset(b, 0, sizeof(*b));
	b->version = version;
	b->flags = flags;
	err = parse_header(&c, b);
	if (!err)
		err = parse_table(&c);
	if (!err)
		err = parse_records(&c, b);
	return err;
}

int wire_decoder__decode(struct wire_decoder *d, const void *body, size_t len,
			 enum wire_encoding enc, struct wire_batch **out)
{
	const uint8_t *p = body;
	size_t n = len;
	int err;

	*out = NULL;
	d->err[0] = '\0';
	d->prefix_seen = false;
	if (!body)
		len = n = 0;
	switch (enc) {
	case WIRE_ENC_IDENTITY:
		err = 0;
		break;
	case WIRE_ENC_ZSTD:
		err = unzstd(d, body, len, &n);
		p = d->buf;
		break;
	case WIRE_ENC_GZIP:
		err = gunzip(d, body, len, &n);
		p = d->buf;
		break;
	default:
		return fail(d, -ENOTSUP, "encoding %d not supported", (int)enc);
	}
	if (!err)
		err = parse(d, p, n);
	if (err)
		return err;
	*out = &d->batch;
	return 0;
}
