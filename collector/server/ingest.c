// SPDX-License-Identifier: BSD-2-Clause
/* One worker's request handling: routing, auth, decoding a batch and writing its records. */
#include "ingest.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "attributor.h"
#include "clock.h"
#include "hold_journal.h"
#include "log.h"
#include "output.h"
#include "stats.h"
#include "token.h"
#include "token_review.h"
#include "wire.h"

struct ingest_late_log {
	pthread_mutex_t lock;
	uint32_t n;
	bool overflow; /* said once that further senders are only counted */
	uint64_t keys[INGEST_LATE_LOGGED_MAX];
};

struct ingest_late_log *ingest_late_log__new(void)
{
	struct ingest_late_log *l = calloc(1, sizeof(*l));

	if (l)
		pthread_mutex_init(&l->lock, NULL);
	return l;
}

void ingest_late_log__free(struct ingest_late_log *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

struct ingest {
	struct stats *stats;
	struct wire_decoder *dec;
	struct outputs *outputs;
	struct output_writer *writer;
	struct token_file *token; /* the collector's, shared; NULL: no auth */
	unsigned int worker;
	struct attributor *attr;	     /* shared; NULL: no attribution */
	const struct ingest_bounds *bounds;  /* shared, live; NULL: only end_ms >= start_ms */
	struct ingest_late_log *late_log;    /* shared; NULL: late heartbeats only counted */
	struct token_review *verifier;	     /* shared; NULL: heartbeats trusted as sent */
	struct hold_journal_writer *journal; /* this worker's; NULL: nothing journaled */
	struct attr_arena *arena;
	bool *keep;	/* per record of the batch in hand: written now */
	uint64_t *refs; /* per held copy of the batch in hand: its journal reference */
	uint32_t cap_keep;
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
	wire_decoder__set_max_records(in->dec, o->max_records);
	in->outputs = o->outputs;
	in->writer = o->writer;
	in->token = o->token;
	in->attr = o->attr;
	in->bounds = o->bounds;
	in->late_log = o->late_log;
	in->verifier = o->verifier;
	in->journal = o->attr ? o->journal : NULL;
	if (in->attr && !(in->arena = attr_arena__new())) {
		snprintf(why, len, "out of memory");
		goto fail;
	}
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
	attr_arena__free(in->arena);
	free(in->keep);
	free(in->refs);
	free(in);
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
	if (in->token && rq->authorization_overlong) {
		/* RFC 6585 section 5: 431 may name the one field at fault; "missing" would be a lie */
		STATS_ADD(in->stats->refused[STATS_REFUSED_AUTHORIZATION], 1);
		snprintf(reason, len,
			 "Authorization header of %zu bytes is longer than any bearer token this "
			 "collector takes (at most %d bytes)",
			 rq->authorization_overlong, INGEST_AUTHORIZATION_MAX);
		return 431;
	}
	if (in->token) {
		/* a failed re-read keeps the previous token in force (logged by token_file) */
		token_file__refresh(in->token, now_ns);
		if (!token_file__check(in->token, rq->authorization, rq->authorization_len)) {
			STATS_ADD(
			    in->stats->refused[rq->authorization ? STATS_REFUSED_TOKEN_WRONG
								 : STATS_REFUSED_TOKEN_MISSING],
			    1);
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
	if (outputs__backoff(in->outputs, in->writer, now_ns) ||
	    (in->journal && hold_journal__backoff(in->journal, now_ns))) {
		/* the disk failed a moment ago: no body read, nothing decoded */
		STATS_ADD(in->stats->write_errors, 1);
		snprintf(reason, len, "the collector's outputs are full or failing: retry later");
		return 429;
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

/*
 * Takes out of the batch (keeping the others in order) every record whose
 * times cannot be true, counted by reason: one that ends before it starts,
 * ends past now + max_skew (a clock ahead; never past INT64_MAX, the
 * schema's BIGINT) or starts before now - max_age (a clock behind, or
 * zeros).  The rest of the batch is written and acknowledged: a sender
 * drops a batch answered 400, and its good records with it.
 */
static void bound_times(struct ingest *in, struct wire_batch *b)
{
	uint64_t rejected[STATS_REC__COUNT] = { 0 }, now = clock_wall_ms(), hi = INT64_MAX, lo = 0;
	uint32_t kept = 0;

	if (in->bounds) {
		uint64_t skew = __atomic_load_n(&in->bounds->max_skew_ms, __ATOMIC_RELAXED);
		uint64_t age = __atomic_load_n(&in->bounds->max_age_ms, __ATOMIC_RELAXED);

		if (skew < INT64_MAX - now)
			hi = now + skew;
		if (age && age < now)
			lo = now - age;
	}
	for (uint32_t i = 0; i < b->n_records; i++) {
		const struct flow_record *r = &b->records[i];
		enum stats_record_reject why;

		if (r->end_ms < r->start_ms)
			why = STATS_REC_END_BEFORE_START;
		else if (r->end_ms > hi)
			why = STATS_REC_FUTURE;
		else if (r->start_ms < lo)
			why = STATS_REC_TOO_OLD;
		else {
			if (kept != i)
				b->records[kept] = *r;
			kept++;
			continue;
		}
		rejected[why]++;
	}
	if (kept == b->n_records)
		return;
	for (int i = 0; i < STATS_REC__COUNT; i++)
		if (rejected[i])
			STATS_ADD(in->stats->records_rejected[i], rejected[i]);
	pr_debug("sender %s/%s (id %016llx, batch %llu): %u of %u records not written: %llu end "
		 "before they start, %llu end in the future, %llu are too old",
		 b->sender.namespace ? b->sender.namespace : "", b->sender.pod ? b->sender.pod : "",
		 (unsigned long long)b->sender_id, (unsigned long long)b->seq, b->n_records - kept,
		 b->n_records, (unsigned long long)rejected[STATS_REC_END_BEFORE_START],
		 (unsigned long long)rejected[STATS_REC_FUTURE],
		 (unsigned long long)rejected[STATS_REC_TOO_OLD]);
	b->n_records = kept;
}

/* FNV-1a of the sender id and namespace/pod: a sender, as the log names it. */
static uint64_t sender_key(const struct wire_batch *b)
{
	const char *f[2] = { b->sender.namespace, b->sender.pod };
	uint64_t h = 0xcbf29ce484222325ull ^ b->sender_id;

	for (int i = 0; i < 2; i++) {
		for (const char *p = f[i] ? f[i] : ""; *p; p++)
			h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
		h = (h ^ '/') * 0x100000001b3ull;
	}
	return h;
}

/*
 * Whether the batch's heartbeat came within attribution.heartbeat_grace of
 * its span's start (struct ingest_bounds): a sidecar's span starts where
 * its last one ended, so a later one means its interval plus its retries
 * exceed the grace.  The grace is a collector key and the interval each
 * sidecar's own; this is where a mismatch shows.
 */
static void check_heartbeat_late(struct ingest *in, const struct wire_batch *b)
{
	uint64_t grace, since, now, late, key;
	struct ingest_late_log *l = in->late_log;
	bool seen = false, log_sender = false, log_overflow = false;
	char who[2 * WIRE_MAX_STRING + 8];

	if (!in->bounds || !wire_batch_claims(b))
		return;
	grace = __atomic_load_n(&in->bounds->heartbeat_grace_ms, __ATOMIC_RELAXED);
	since = __atomic_load_n(&in->bounds->since_ms, __ATOMIC_RELAXED);
	now = (uint64_t)clock_wall_ms();
	if (!grace || b->span_start_ms < since || b->span_start_ms >= now)
		return;
	late = now - b->span_start_ms;
	if (late <= grace)
		return;
	STATS_ADD(in->stats->heartbeats_late, 1);
	if (!l)
		return;
	key = sender_key(b);
	pthread_mutex_lock(&l->lock);
	for (uint32_t i = 0; i < l->n && !seen; i++)
		seen = l->keys[i] == key;
	if (!seen && l->n < INGEST_LATE_LOGGED_MAX) {
		l->keys[l->n++] = key;
		log_sender = true;
	} else if (!seen && !l->overflow) {
		l->overflow = true;
		log_overflow = true;
	}
	pthread_mutex_unlock(&l->lock);
	if (log_overflow)
		pr_warn("late heartbeats from more than %d senders: further senders are only "
			"counted (podflow_collector_heartbeats_late_total)",
			INGEST_LATE_LOGGED_MAX);
	if (!log_sender)
		return;
	snprintf(who, sizeof(who), "%s/%s", b->sender.namespace ? b->sender.namespace : "",
		 b->sender.pod ? b->sender.pod : "");
	log_flatten(who);
	pr_warn("heartbeat from %s (sender %016llx) came %llu ms after its span started, more "
		"than attribution.heartbeat_grace (%llu ms): records of its addresses in between "
		"may have gone out without it; raise heartbeat_grace above that sidecar's "
		"interval plus its retries. Further late heartbeats from it are only counted "
		"(podflow_collector_heartbeats_late_total)",
		who, (unsigned long long)b->sender_id, (unsigned long long)late,
		(unsigned long long)grace);
}

/* Room for one flag (and one journal reference) per record. */
static int keep_room(struct ingest *in, uint32_t n)
{
	uint64_t *r;
	bool *k;

	if (n <= in->cap_keep)
		return 0;
	k = realloc(in->keep, n * sizeof(*k));
	if (!k)
		return -ENOMEM;
	in->keep = k;
	r = realloc(in->refs, n * sizeof(*r));
	if (!r)
		return -ENOMEM;
	in->refs = r;
	in->cap_keep = n;
	return 0;
}

static bool same_name(const char *claimed, const char *proven)
{
	return claimed && !strcmp(claimed, proven);
}

/*
 * The batch's heartbeat, used only if its sender is proven to be the pod
 * it names (docs/attribution.md, "Heartbeats are proven").  Never waits:
 * a token not reviewed yet is queued for the verifier's thread and this
 * heartbeat is not used; the sender's next one (an interval later) is.
 * True when it was used.
 */
static bool heartbeat(struct ingest *in, const struct ingest_proof *proof,
		      const struct wire_batch *b)
{
	struct token_identity id;
	enum token_refusal why = TOKEN_REFUSED_UNAUTHENTICATED;
	char detail[2 * TOKEN_REVIEW_NAME_MAX + 32];

	if (!in->verifier)
		return attributor__heartbeat(in->attr, b);
	if (attributor__heartbeat_empty(in->attr, b))
		return false; /* claims nothing: nothing to prove */
	if (!proof->identity) {
		attributor__heartbeat_refuse(in->attr, ATTR_HB_UNVERIFIED, b, proof->missing);
		return false;
	}
	switch (token_review__lookup(in->verifier, proof->identity, proof->identity_len,
				     clock_wall_ms(), &id, &why)) {
	case TOKEN_PENDING:
		attributor__heartbeat_refuse(in->attr, ATTR_HB_PENDING, b, NULL);
		return false;
	case TOKEN_REFUSED:
		attributor__heartbeat_refuse(in->attr, ATTR_HB_UNAUTHENTICATED, b,
					     token_refusal_name(why));
		return false;
	case TOKEN_VERIFIED:
		break;
	}
	if (!same_name(b->sender.namespace, id.namespace) || !same_name(b->sender.pod, id.pod)) {
		snprintf(detail, sizeof(detail), "its token is pod %s/%s's", id.namespace, id.pod);
		attributor__heartbeat_refuse(in->attr, ATTR_HB_POD_MISMATCH, b, detail);
		return false;
	}
	return attributor__heartbeat_proven(in->attr, b);
}

/*
 * The batch's heartbeat first (its sender's own IPs, which its records'
 * peers may name; *hb: it was used), then a decision for every record:
 * in->keep[i] for those written now; the others are copied for the delay
 * queue (*held: how many were undecided, to be committed or cancelled
 * after the write; *copied: how many copies), except those the attributor
 * cannot copy (out of memory), which it settles unattributed and adds to
 * in->keep: the one write takes them, so none is lost.
 */
static int attribute(struct ingest *in, const struct ingest_proof *proof, struct wire_batch *b,
		     uint32_t *held, uint32_t *copied, bool *hb)
{
	int err = keep_room(in, b->n_records ? b->n_records : 1);

	if (err)
		return err;
	check_heartbeat_late(in, b);
	*hb = heartbeat(in, proof, b);
	*held = attributor__batch(in->attr, in->arena, b, in->keep);
	*copied = *held ? attributor__hold(in->attr, in->arena, b, in->keep) : 0;
	return 0;
}

/*
 * Before the batch's write: its held copies and its heartbeat into the
 * journal (hold_journal.h), the copies told where.  The frame counts once
 * hold_journal__commit marks it after the write; a failed write takes it
 * back.  So a 204 is never sent for held records a crash would lose, and
 * nothing needs taking back out of the outputs (Kafka could not be).
 */
static int journal(struct ingest *in, struct wire_batch *b, uint32_t copied, bool hb)
{
	uint64_t first;
	int err;

	err = hold_journal__append(in->journal, b, in->keep, hb, &first);
	if (err)
		return err;
	for (uint32_t i = 0; i < copied; i++)
		in->refs[i] = first + i;
	if (copied)
		attributor__hold_journaled(in->attr, in->arena, in->refs, 0);
	return 0;
}

int ingest__batch(struct ingest *in, struct wire_batch *b, const struct ingest_proof *proof,
		  struct ingest_result *res)
{
	uint32_t held = 0, copied = 0;
	bool journaled = false;
	int err;

	memset(res, 0, sizeof(*res));
	bound_times(in, b);
	if (in->attr) {
		err = attribute(in, proof, b, &held, &copied, &res->heartbeat);
		if (err) {
			res->failed = INGEST_FAILED_ATTRIBUTE;
			return err;
		}
	}
	if (in->journal && (copied || res->heartbeat)) {
		err = journal(in, b, copied, res->heartbeat);
		if (err) {
			/* as a failed write: nothing of the batch kept */
			if (held)
				attributor__hold_cancel(in->attr, in->arena);
			res->failed = INGEST_FAILED_JOURNAL;
			return err;
		}
		journaled = true;
	}
	/* the one write of the batch: what was decided, and what could not be held */
	err = outputs__write(in->outputs, in->writer, b, in->attr ? in->keep : NULL, &res->bytes);
	if (journaled) {
		if (err)
			hold_journal__take_back(in->journal);
		else
			hold_journal__commit(in->journal);
	}
	if (held) {
		/* held only once written: a batch refused and sent again is never held twice */
		if (err)
			attributor__hold_cancel(in->attr, in->arena);
		else
			attributor__hold_commit(in->attr, in->arena);
	}
	if (err) {
		res->failed = INGEST_FAILED_WRITE;
		res->bytes = 0;
		return err;
	}
	res->held = copied;
	STATS_ADD(in->stats->records, b->n_records);
	STATS_ADD(in->stats->bytes_out, res->bytes);
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
	return 0;
}

int ingest__handle(struct ingest *in, const struct ingest_request *rq, char *reason, size_t len)
{
	const struct ingest_proof proof = {
		.identity = rq->identity,
		.identity_len = rq->identity_len,
		.missing = "no " INGEST_IDENTITY_HEADER " token",
	};
	struct ingest_result res;
	struct wire_batch *b;
	enum wire_encoding enc;
	int err, status;

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
	case -E2BIG:
		STATS_ADD(in->stats->refused[err == -E2BIG ? STATS_REFUSED_RECORDS
							   : STATS_REFUSED_DECODED],
			  1);
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
	err = ingest__batch(in, b, &proof, &res);
	switch (res.failed) {
	case INGEST_FAILED_NONE:
		break;
	case INGEST_FAILED_ATTRIBUTE:
		snprintf(reason, len, "cannot attribute the batch now: %s", strerror(-err));
		return 503;
	case INGEST_FAILED_JOURNAL:
		/* as a failed write: nothing of the batch kept, the sender retries */
		status = outputs_status(err, reason, len);
		STATS_ADD(in->stats->write_errors, 1);
		snprintf(reason, len,
			 "the collector cannot journal the records it holds (%s): retry later",
			 strerror(-err));
		return status;
	case INGEST_FAILED_WRITE:
		status = outputs_status(err, reason, len);
		STATS_ADD(in->stats->write_errors, 1);
		/* the outputs log each episode once; this is per batch */
		pr_debug("worker %u: writing %u records failed: %s; answering %d", in->worker,
			 b->n_records, strerror(-err), status);
		return status;
	}
	STATS_ADD(in->stats->batches, 1);
	STATS_ADD(in->stats->bytes_decoded, decoded_size(rq->body, rq->body_len, enc));
	return 204;
}
