// SPDX-License-Identifier: BSD-2-Clause
/* The write-ahead journal of held records: segments of framed wire batches, tombstones, replay. */
#define _GNU_SOURCE
#include "hold_journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"

#define L METRIC_LABELS

/*
 * A segment is a series of frames, each a 32-byte header and a body, all
 * integers little-endian:
 *
 *   0  u32 magic "PFHJ"
 *   4  u8  kind: FRAME_HELD or FRAME_DONE
 *   5  u8  state: 0 appended, STATE_COMMITTED once its batch was written
 *          (written in place after the batch's write; outside the CRC)
 *   6  u8  held: the body's wire encoding
 *   7  u8  flags: FLAG_HEARTBEAT (held: the body's heartbeat was applied)
 *   8  u32 body length
 *   12 u32 held: records in the body; done: runs in the body
 *   16 u64 held: arrival (Unix ms); done: when written
 *   24 u32 CRC-32 (as gzip's and zlib's) of the header with state and CRC zeroed, then the body
 *   28 u32 0
 *
 * A held frame's body is one wire batch (lib/wire, docs/wire.md): the
 * sender's identity, its heartbeat (IPs and span) when FLAG_HEARTBEAT,
 * and the batch's held records, so a frame is whole by itself.  A done
 * frame's body is runs of settled records: u64 first reference, u32 count.
 */
#define FRAME_MAGIC	0x4a484650u /* "PFHJ" read as a little-endian u32 */
#define HDR_SIZE	32
#define FRAME_HELD	1
#define FRAME_DONE	2
#define STATE_AT	5
#define STATE_COMMITTED 1
#define FLAG_HEARTBEAT	1
#define RUN_SIZE	12
#define ORD_MAX		(1u << HOLD_JOURNAL_ORD_BITS)
/* no frame is larger: a held frame carries at most WIRE_MAX_RECORDS records of 144 bytes */
#define BODY_MAX (64u << 20)
/* what a decoder of held frames accepts (WIRE_MAX_RECORDS records and their header) */
#define DECODED_MAX (48u << 20)
#define ZSTD_LEVEL  1 /* the hot path's cost first: the frames live seconds */
#define SUFFIX	    ".journal"

struct seg {
	uint64_t id;
	uint64_t bytes;
	uint64_t outstanding; /* records journaled here, not settled */
	uint64_t ref_max;     /* the highest segment its tombstones name; 0: none */
	int64_t closed_ms;    /* Unix ms; 0 while a writer appends to it */
	bool open;
	bool held;     /* has held frames (a worker's, not the tombstones') */
	bool evidence; /* has a heartbeat: kept keep_ms once closed */
};

struct hold_journal_writer {
	/* its owner's appends against the tick closing an idle segment */
	pthread_mutex_t lock;
	struct hold_journal *j;
	int fd; /* -1: no segment open */
	uint64_t seg;
	uint64_t size; /* the next frame's offset */
	uint32_t ord;  /* records in the segment so far */
	uint64_t opened_ns;
	uint64_t failed_ns;	  /* the last failed append (monotonic; atomic): the back-off */
	struct wire_encoder *enc; /* held frames' bodies; created at the first */
	/* the last append, until committed or taken back */
	bool pending;
	uint64_t p_off;
	uint32_t p_n, p_ord;
} __attribute__((aligned(64)));

struct hold_journal {
	char dir[PATH_MAX];
	char id[128];
	int dir_fd;
	int lock_fd;
	uint64_t segment_bytes;
	uint64_t segment_ns;
	int64_t keep_ms; /* atomic */
	struct hold_journal_writer *w;
	uint32_t n_w; /* the workers', then the tombstones' */

	pthread_mutex_t lock; /* segs, next_id */
	struct seg *segs;     /* by id, ascending */
	uint32_t n_segs, cap_segs;
	uint64_t next_id;

	struct hold_journal_stats st; /* atomics; the gauges under lock */
	bool append_failing;	      /* atomic: an episode of failed appends (logged once) */
	bool done_failing;	      /* tombstones (the settling thread only) */
	bool replayed;

	/* the settling thread's */
	uint64_t *sorted;
	uint8_t *runs;
	size_t cap_sorted, cap_runs;
};

#define ADD(field, n) __atomic_fetch_add(&(field), (uint64_t)(n), __ATOMIC_RELAXED)
#define LOAD(field)   __atomic_load_n(&(field), __ATOMIC_RELAXED)

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

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

const char *hold_journal_err_name(enum hold_journal_err e)
{
	static const char *const names[HOLD_JOURNAL_ERR__COUNT] = {
		[HOLD_JOURNAL_ERR_NOSPC] = "nospace", [HOLD_JOURNAL_ERR_ROFS] = "readonly",
		[HOLD_JOURNAL_ERR_ACCESS] = "access", [HOLD_JOURNAL_ERR_IO] = "io",
		[HOLD_JOURNAL_ERR_OTHER] = "other",
	};

	return (unsigned)e < HOLD_JOURNAL_ERR__COUNT ? names[e] : "?";
}

static enum hold_journal_err err_class(int err)
{
	switch (-err) {
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return HOLD_JOURNAL_ERR_NOSPC;
	case EROFS:
		return HOLD_JOURNAL_ERR_ROFS;
	case EACCES:
	case EPERM:
		return HOLD_JOURNAL_ERR_ACCESS;
	case EIO:
		return HOLD_JOURNAL_ERR_IO;
	default:
		return HOLD_JOURNAL_ERR_OTHER;
	}
}

static void seg_name(const struct hold_journal *j, uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%s-%020llu" SUFFIX, j->id, (unsigned long long)id);
}

/* The id of <id>-<digits>.journal; 0 for any other name. */
static uint64_t seg_id_of(const struct hold_journal *j, const char *name)
{
	size_t li = strlen(j->id), n = strlen(name), ls = sizeof(SUFFIX) - 1;
	uint64_t id = 0;

	if (n <= li + 1 + ls || strncmp(name, j->id, li) != 0 || name[li] != '-' ||
	    strcmp(name + n - ls, SUFFIX) != 0 || n - ls - li - 1 > 20)
		return 0;
	for (const char *p = name + li + 1; p < name + n - ls; p++) {
		if (*p < '0' || *p > '9' || id > (UINT64_MAX - 9) / 10)
			return 0;
		id = id * 10 + (uint64_t)(*p - '0');
	}
	return id >> (64 - HOLD_JOURNAL_ORD_BITS) ? 0 : id;
}

/* Under lock: the index of segment `id`, or n_segs. */
static uint32_t seg_find(const struct hold_journal *j, uint64_t id)
{
	uint32_t lo = 0, hi = j->n_segs;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (j->segs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < j->n_segs && j->segs[lo].id == id ? lo : j->n_segs;
}

/* Under lock: appends (ids only grow). 0 or -ENOMEM. */
static int seg_push(struct hold_journal *j, const struct seg *s)
{
	if (j->n_segs == j->cap_segs) {
		uint32_t cap = j->cap_segs ? j->cap_segs * 2 : 64;
		struct seg *n = realloc(j->segs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		j->segs = n;
		j->cap_segs = cap;
	}
	j->segs[j->n_segs++] = *s;
	ADD(j->st.segments, 1);
	return 0;
}

/* Under lock. */
static void seg_remove(struct hold_journal *j, uint32_t i)
{
	j->st.disk_bytes -= j->segs[i].bytes;
	j->st.segments--;
	memmove(&j->segs[i], &j->segs[i + 1], (j->n_segs - i - 1) * sizeof(*j->segs));
	j->n_segs--;
}

/* ---- lifecycle -------------------------------------------------------------------- */

struct hold_journal *hold_journal__new(const struct hold_journal_opts *o, char *why, size_t len)
{
	struct hold_journal *j = calloc(1, sizeof(*j));
	char lock[PATH_MAX];
	int err = -ENOMEM;

	if (!j) {
		snprintf(why, len, "hold journal: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	j->dir_fd = j->lock_fd = -1;
	pthread_mutex_init(&j->lock, NULL);
	if (!o->dir || !*o->dir || !o->collector_id || !*o->collector_id ||
	    strchr(o->collector_id, '/') || strlen(o->collector_id) >= sizeof(j->id) ||
	    strlen(o->dir) + sizeof(j->id) + 32 > sizeof(j->dir)) {
		snprintf(why, len, "hold journal: bad directory or collector id");
		err = -EINVAL;
		goto fail;
	}
	snprintf(j->dir, sizeof(j->dir), "%s", o->dir);
	snprintf(j->id, sizeof(j->id), "%s", o->collector_id);
	j->segment_bytes = o->segment_bytes ? o->segment_bytes : HOLD_JOURNAL_SEGMENT_BYTES;
	j->segment_ns =
	    (uint64_t)(o->segment_ms > 0 ? o->segment_ms : HOLD_JOURNAL_SEGMENT_MS) * 1000000ull;
	j->keep_ms = o->keep_ms;
	if (mkdir(j->dir, 0755) && errno != EEXIST) {
		err = -errno;
		snprintf(why, len, "hold journal: cannot create %s: %s", j->dir, strerror(-err));
		goto fail;
	}
	j->dir_fd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dir_fd < 0) {
		err = -errno;
		snprintf(why, len, "hold journal: %s: %s", j->dir, strerror(-err));
		goto fail;
	}
	/*
	 * One collector per id: a second one would replay the first's
	 * segments and remove them while it still appends (flock: released
	 * by the kernel however the holder ends, SIGKILL included).
	 */
	snprintf(lock, sizeof(lock), "%s.lock", j->id);
	j->lock_fd = openat(j->dir_fd, lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (j->lock_fd < 0 || flock(j->lock_fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		if (err == -EWOULDBLOCK)
			snprintf(why, len,
				 "hold journal: another collector with id %s uses %s (%s/%s is "
				 "locked): give each replica on one data_dir its own collector_id",
				 j->id, j->dir, j->dir, lock);
		else
			snprintf(why, len, "hold journal: %s/%s: %s", j->dir, lock, strerror(-err));
		if (err == -EWOULDBLOCK)
			err = -EBUSY;
		goto fail;
	}
	j->n_w = (o->writers ? o->writers : 1) + 1;
	j->w = aligned_alloc(__alignof__(*j->w), j->n_w * sizeof(*j->w));
	if (!j->w) {
		snprintf(why, len, "hold journal: out of memory");
		goto fail;
	}
	memset(j->w, 0, j->n_w * sizeof(*j->w));
	for (uint32_t i = 0; i < j->n_w; i++) {
		pthread_mutex_init(&j->w[i].lock, NULL);
		j->w[i].j = j;
		j->w[i].fd = -1;
	}
	/* never an id an earlier run used, even one whose segments are gone */
	j->next_id = (uint64_t)(clock_wall_ms() / 1000) << 8;
	return j;
fail:
	hold_journal__free(j);
	errno = -err;
	return NULL;
}

/* Closes w's segment (the tick, or the exit). */
static void close_current(struct hold_journal_writer *w)
{
	struct hold_journal *j = w->j;
	uint32_t i;

	if (w->fd < 0)
		return;
	close(w->fd);
	w->fd = -1;
	pthread_mutex_lock(&j->lock);
	i = seg_find(j, w->seg);
	if (i < j->n_segs) {
		j->segs[i].open = false;
		j->segs[i].closed_ms = clock_wall_ms();
	}
	pthread_mutex_unlock(&j->lock);
}

void hold_journal__free(struct hold_journal *j)
{
	uint64_t outstanding = 0;
	char name[PATH_MAX];

	if (!j)
		return;
	for (uint32_t i = 0; j->w && i < j->n_w; i++) {
		close_current(&j->w[i]);
		wire_encoder__free(j->w[i].enc);
		pthread_mutex_destroy(&j->w[i].lock);
	}
	for (uint32_t i = 0; i < j->n_segs; i++)
		outstanding += j->segs[i].outstanding;
	/* nothing held any more: no record to replay, no heartbeat one would need */
	for (uint32_t i = 0; !outstanding && j->dir_fd >= 0 && i < j->n_segs; i++) {
		seg_name(j, j->segs[i].id, name, sizeof(name));
		if (unlinkat(j->dir_fd, name, 0) && errno != ENOENT)
			pr_warn("hold journal: cannot remove %s/%s: %s", j->dir, name,
				strerror(errno));
	}
	if (outstanding)
		pr_info("hold journal: %llu held records not written stay in %s for the next start",
			(unsigned long long)outstanding, j->dir);
	if (j->lock_fd >= 0)
		close(j->lock_fd);
	if (j->dir_fd >= 0)
		close(j->dir_fd);
	pthread_mutex_destroy(&j->lock);
	free(j->w);
	free(j->segs);
	free(j->sorted);
	free(j->runs);
	free(j);
}

struct hold_journal_writer *hold_journal__writer(struct hold_journal *j, uint32_t i)
{
	return j && i + 1 < j->n_w ? &j->w[i] : NULL;
}

void hold_journal__set_keep(struct hold_journal *j, int64_t keep_ms)
{
	__atomic_store_n(&j->keep_ms, keep_ms, __ATOMIC_RELAXED);
}

/* ---- appending -------------------------------------------------------------------- */

/* Under w->lock: a fresh segment for w.  0 or -errno. */
static int open_segment(struct hold_journal_writer *w)
{
	struct hold_journal *j = w->j;
	struct seg s = { .open = true };
	char name[PATH_MAX];
	int fd, err;

	pthread_mutex_lock(&j->lock);
	s.id = j->next_id++;
	err = seg_push(j, &s);
	pthread_mutex_unlock(&j->lock);
	if (err)
		return err;
	seg_name(j, s.id, name, sizeof(name));
	/* no O_APPEND: the commit mark is written in place (pwrite appends under O_APPEND) */
	fd = openat(j->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		pthread_mutex_lock(&j->lock);
		seg_remove(j, seg_find(j, s.id));
		pthread_mutex_unlock(&j->lock);
		return err;
	}
	w->fd = fd;
	w->seg = s.id;
	w->size = 0;
	w->ord = 0;
	w->opened_ns = clock_mono_ns();
	return 0;
}

/*
 * Under w->lock: writes header + body at w->size, whole or not at all: a
 * short write is cut off again; if that fails too the segment is closed
 * (what follows must not come after a partial frame).  0 or -errno.
 */
static int write_frame(struct hold_journal_writer *w, const uint8_t *hdr, const void *body,
		       size_t len)
{
	struct iovec iov[2] = { { (void *)hdr, HDR_SIZE }, { (void *)body, len } };
	size_t total = HDR_SIZE + len, done = 0;
	int err = 0;

	while (done < total) {
		struct iovec v[2];
		int n = 0;
		ssize_t r;

		for (int i = 0, at = 0; i < 2; at += (int)iov[i].iov_len, i++) {
			size_t off = done > (size_t)at ? done - (size_t)at : 0;

			if (off >= iov[i].iov_len)
				continue;
			v[n].iov_base = (uint8_t *)iov[i].iov_base + off;
			v[n++].iov_len = iov[i].iov_len - off;
		}
		r = pwritev(w->fd, v, n, (off_t)(w->size + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? -errno : -ENOSPC;
			break;
		}
		done += (size_t)r;
	}
	if (!err)
		return 0;
	if (done && ftruncate(w->fd, (off_t)w->size)) {
		ADD(w->j->st.cut_errors, 1);
		close_current(w);
	}
	return err;
}

/* CRC of a header (state and CRC taken as 0) and its body. */
static uint32_t frame_crc(const uint8_t *hdr, const void *body, size_t len)
{
	uint8_t h[HDR_SIZE];

	memcpy(h, hdr, HDR_SIZE);
	h[STATE_AT] = 0;
	put_u32(h + 24, 0);
	return libdeflate_crc32(libdeflate_crc32(0, h, HDR_SIZE), body, len);
}

static void frame_header(uint8_t *h, int kind, int state, int enc, int flags, size_t len,
			 uint32_t n, int64_t t_ms, const void *body)
{
	memset(h, 0, HDR_SIZE);
	put_u32(h, FRAME_MAGIC);
	h[4] = (uint8_t)kind;
	h[STATE_AT] = (uint8_t)state;
	h[6] = (uint8_t)enc;
	h[7] = (uint8_t)flags;
	put_u32(h + 8, (uint32_t)len);
	put_u32(h + 12, n);
	put_u64(h + 16, (uint64_t)t_ms);
	put_u32(h + 24, frame_crc(h, body, len));
}

/* Under w->lock: a segment with room for n more records and len more bytes. */
static int room(struct hold_journal_writer *w, uint32_t n)
{
	if (w->fd >= 0 && (w->size >= w->j->segment_bytes || w->ord + n > ORD_MAX ||
			   clock_mono_ns() - w->opened_ns >= w->j->segment_ns))
		close_current(w);
	return w->fd >= 0 ? 0 : open_segment(w);
}

static void append_failed(struct hold_journal *j, int err)
{
	bool was = false;

	ADD(j->st.append_errors[err_class(err)], 1);
	if (__atomic_compare_exchange_n(&j->append_failing, &was, true, false, __ATOMIC_RELAXED,
					__ATOMIC_RELAXED))
		pr_warn("hold journal: cannot append to %s: %s; batches with records to hold are "
			"answered as a failed write (429) until it works again "
			"(podflow_collector_hold_journal_append_errors_total)",
			j->dir, strerror(-err));
}

int hold_journal__append(struct hold_journal_writer *w, const struct wire_batch *b,
			 const bool *keep, bool heartbeat, uint64_t *first_ref)
{
	struct hold_journal *j = w->j;
	struct wire_header h = { .sender_id = b->sender_id, .seq = b->seq, .sender = b->sender };
	uint8_t hdr[HDR_SIZE];
	const void *body;
	uint32_t n = 0, i;
	size_t len;
	bool was = true;
	int err;

	*first_ref = 0;
	if (heartbeat) {
		h.span_start_ms = b->span_start_ms;
		h.span_end_ms = b->span_end_ms;
		h.n_ips = b->n_ips;
		h.ips = b->ips;
	}
	if (!w->enc && !(w->enc = wire_encoder__new(WIRE_ENC_ZSTD, ZSTD_LEVEL))) {
		err = -ENOMEM;
		goto fail;
	}
	wire_encoder__reset(w->enc);
	for (i = 0; i < b->n_records; i++) {
		if (keep[i])
			continue;
		/* as decoded: only what the decoder accepted, in at most WIRE_MAX_RECORDS */
		err = wire_encoder__add(w->enc, &b->records[i]);
		if (err)
			goto fail;
		n++;
	}
	if (!n && !heartbeat)
		return 0;
	err = wire_encoder__finish(w->enc, &h, &body, &len);
	if (err)
		goto fail;
	frame_header(hdr, FRAME_HELD, 0, WIRE_ENC_ZSTD, heartbeat ? FLAG_HEARTBEAT : 0, len, n,
		     clock_wall_ms(), body);
	pthread_mutex_lock(&w->lock);
	err = room(w, n);
	if (!err)
		err = write_frame(w, hdr, body, len);
	if (err) {
		pthread_mutex_unlock(&w->lock);
		goto fail;
	}
	w->pending = true;
	w->p_off = w->size;
	w->p_n = n;
	w->p_ord = w->ord;
	w->size += HDR_SIZE + len;
	w->ord += n;
	pthread_mutex_lock(&j->lock);
	i = seg_find(j, w->seg);
	if (i < j->n_segs) {
		j->segs[i].outstanding += n;
		j->segs[i].bytes += HDR_SIZE + len;
		j->segs[i].held = true;
		j->segs[i].evidence |= heartbeat;
	}
	j->st.outstanding += n;
	j->st.disk_bytes += HDR_SIZE + len;
	pthread_mutex_unlock(&j->lock);
	*first_ref = HOLD_JOURNAL_REF(w->seg, w->p_ord);
	pthread_mutex_unlock(&w->lock);
	ADD(j->st.frames_held, 1);
	ADD(j->st.bytes, HDR_SIZE + len);
	ADD(j->st.records_journaled, n);
	if (__atomic_compare_exchange_n(&j->append_failing, &was, false, false, __ATOMIC_RELAXED,
					__ATOMIC_RELAXED))
		pr_info("hold journal: appending to %s works again", j->dir);
	return 0;
fail:
	append_failed(j, err);
	__atomic_store_n(&w->failed_ns, clock_mono_ns(), __ATOMIC_RELAXED);
	return err;
}

bool hold_journal__backoff(const struct hold_journal_writer *w, uint64_t now_ns)
{
	uint64_t failed = __atomic_load_n(&w->failed_ns, __ATOMIC_RELAXED);

	return failed && now_ns - failed < HOLD_JOURNAL_BACKOFF_NS;
}

void hold_journal__commit(struct hold_journal_writer *w)
{
	static const uint8_t committed = STATE_COMMITTED;

	pthread_mutex_lock(&w->lock);
	/* one byte of a page just written: it stays in the page cache as the frame does */
	if (w->pending && pwrite(w->fd, &committed, 1, (off_t)(w->p_off + STATE_AT)) != 1) {
		if (__atomic_fetch_add(&w->j->st.commit_errors, 1, __ATOMIC_RELAXED) == 0)
			pr_warn("hold journal: cannot mark a frame committed in %s: %s; its held "
				"records are lost if the collector crashes before it writes them "
				"(podflow_collector_hold_journal_errors_total{kind=\"commit\"})",
				w->j->dir, strerror(errno));
	}
	w->pending = false;
	pthread_mutex_unlock(&w->lock);
}

void hold_journal__take_back(struct hold_journal_writer *w)
{
	struct hold_journal *j = w->j;
	uint64_t cut = 0;
	uint32_t i;

	pthread_mutex_lock(&w->lock);
	if (!w->pending) {
		pthread_mutex_unlock(&w->lock);
		return;
	}
	/*
	 * The last frame of its segment (the tick closes none with a frame
	 * pending): cut off if it can be; if not, it stays uncommitted, never
	 * replayed either way.
	 */
	if (w->fd >= 0) {
		if (ftruncate(w->fd, (off_t)w->p_off) == 0) {
			cut = w->size - w->p_off;
			w->size = w->p_off;
			w->ord = w->p_ord;
		} else {
			ADD(j->st.cut_errors, 1);
		}
	}
	pthread_mutex_lock(&j->lock);
	i = seg_find(j, w->seg);
	if (i < j->n_segs) {
		j->segs[i].outstanding -= w->p_n;
		j->segs[i].bytes -= cut;
	}
	j->st.outstanding -= w->p_n;
	j->st.disk_bytes -= cut;
	pthread_mutex_unlock(&j->lock);
	ADD(j->st.records_journaled, -(uint64_t)w->p_n);
	ADD(j->st.taken_back, 1);
	w->pending = false;
	pthread_mutex_unlock(&w->lock);
}

/* ---- settling --------------------------------------------------------------------- */

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

static int grow(void *buf, size_t *cap, size_t need, size_t size)
{
	void *n;
	size_t c = *cap ? *cap : 256;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	n = realloc(*(void **)buf, c * size);
	if (!n)
		return -ENOMEM;
	*(void **)buf = n;
	*cap = c;
	return 0;
}

/*
 * Under lock: whether segment i may go.  Closed, nothing outstanding, its
 * heartbeats past keep_ms, and no segment with held frames its tombstones
 * may name still there (else a replay would hold those records again).
 */
static bool deletable(const struct hold_journal *j, uint32_t i, int64_t now, int64_t keep)
{
	const struct seg *s = &j->segs[i];

	if (s->open || s->outstanding || (s->evidence && now < s->closed_ms + keep))
		return false;
	for (uint32_t k = 0; s->ref_max && k < j->n_segs && j->segs[k].id <= s->ref_max; k++)
		if (k != i && j->segs[k].held)
			return false;
	return true;
}

/* Closes the segments open for segment_ms, removes those that may go. */
static void tick(struct hold_journal *j)
{
	int64_t now = clock_wall_ms(), keep = LOAD(j->keep_ms);
	uint64_t mono = clock_mono_ns();
	char name[PATH_MAX];

	for (uint32_t i = 0; i < j->n_w; i++) {
		struct hold_journal_writer *w = &j->w[i];

		pthread_mutex_lock(&w->lock);
		if (w->fd >= 0 && !w->pending && mono - w->opened_ns >= j->segment_ns)
			close_current(w);
		pthread_mutex_unlock(&w->lock);
	}
	pthread_mutex_lock(&j->lock);
	for (uint32_t i = 0; i < j->n_segs;) {
		if (!deletable(j, i, now, keep)) {
			i++;
			continue;
		}
		seg_name(j, j->segs[i].id, name, sizeof(name));
		if (unlinkat(j->dir_fd, name, 0) && errno != ENOENT) {
			if (__atomic_fetch_add(&j->st.unlink_errors, 1, __ATOMIC_RELAXED) == 0)
				pr_warn("hold journal: cannot remove %s/%s: %s (retried)", j->dir,
					name, strerror(errno));
			i++;
			continue;
		}
		seg_remove(j, i);
	}
	pthread_mutex_unlock(&j->lock);
}

/* The tombstones of the sorted refs as runs in j->runs; their count. */
static uint32_t make_runs(struct hold_journal *j, uint32_t n)
{
	uint32_t runs = 0;

	for (uint32_t i = 0; i < n;) {
		uint32_t k = i + 1;
		uint8_t *p = j->runs + (size_t)runs * RUN_SIZE;

		while (k < n && j->sorted[k] == j->sorted[k - 1] + 1 &&
		       j->sorted[k] >> HOLD_JOURNAL_ORD_BITS ==
			   j->sorted[i] >> HOLD_JOURNAL_ORD_BITS)
			k++;
		put_u64(p, j->sorted[i]);
		put_u32(p + 8, k - i);
		runs++;
		i = k;
	}
	return runs;
}

/* Appends a tombstone frame of n_runs runs through the last writer.  0 or -errno. */
static int append_done(struct hold_journal *j, uint32_t n_runs, uint64_t ref_max)
{
	struct hold_journal_writer *w = &j->w[j->n_w - 1];
	size_t len = (size_t)n_runs * RUN_SIZE;
	uint8_t hdr[HDR_SIZE];
	uint32_t i;
	int err;

	frame_header(hdr, FRAME_DONE, STATE_COMMITTED, 0, 0, len, n_runs, clock_wall_ms(), j->runs);
	pthread_mutex_lock(&w->lock);
	err = room(w, 0);
	if (!err)
		err = write_frame(w, hdr, j->runs, len);
	if (!err) {
		w->size += HDR_SIZE + len;
		pthread_mutex_lock(&j->lock);
		i = seg_find(j, w->seg);
		if (i < j->n_segs) {
			j->segs[i].bytes += HDR_SIZE + len;
			if (ref_max > j->segs[i].ref_max)
				j->segs[i].ref_max = ref_max;
		}
		j->st.disk_bytes += HDR_SIZE + len;
		pthread_mutex_unlock(&j->lock);
	}
	pthread_mutex_unlock(&w->lock);
	if (!err) {
		ADD(j->st.frames_done, 1);
		ADD(j->st.bytes, HDR_SIZE + len);
	}
	return err;
}

void hold_journal__settled(struct hold_journal *j, const uint64_t *refs, uint32_t n)
{
	uint32_t m = 0;
	int err = 0;

	if (!j)
		return;
	for (uint32_t i = 0; i < n; i++)
		m += refs[i] != 0;
	if (m && (grow(&j->sorted, &j->cap_sorted, m, sizeof(*j->sorted)) ||
		  grow(&j->runs, &j->cap_runs, (size_t)m * RUN_SIZE, 1))) {
		err = -ENOMEM;
	} else if (m) {
		m = 0;
		for (uint32_t i = 0; i < n; i++)
			if (refs[i])
				j->sorted[m++] = refs[i];
		qsort(j->sorted, m, sizeof(*j->sorted), cmp_u64);
		err = append_done(j, make_runs(j, m), j->sorted[m - 1] >> HOLD_JOURNAL_ORD_BITS);
	}
	/* settled whatever became of the tombstone: their records are written */
	pthread_mutex_lock(&j->lock);
	for (uint32_t k = 0, i = j->n_segs; k < n; k++) {
		uint64_t seg = refs[k] >> HOLD_JOURNAL_ORD_BITS;

		if (!refs[k])
			continue;
		if (i >= j->n_segs || j->segs[i].id != seg)
			i = seg_find(j, seg);
		if (i < j->n_segs && j->segs[i].outstanding)
			j->segs[i].outstanding--;
		if (j->st.outstanding)
			j->st.outstanding--;
	}
	pthread_mutex_unlock(&j->lock);
	ADD(j->st.records_settled, m);
	if (err) {
		ADD(j->st.done_errors, 1);
		if (!j->done_failing)
			pr_warn(
			    "hold journal: cannot append the tombstones of %u records written "
			    "late: %s; a crash before their segments are removed writes them "
			    "again (podflow_collector_hold_journal_errors_total{kind=\"done\"})",
			    n, strerror(-err));
		j->done_failing = true;
	} else if (n) {
		j->done_failing = false;
	}
	tick(j);
}

/* ---- replay ----------------------------------------------------------------------- */

struct rseg {
	uint64_t id;
	int fd;
	uint64_t size;
	int64_t mtime_ms;
	uint64_t ref_max;
	bool held, evidence, skip;
};

struct replay {
	struct hold_journal *j;
	struct rseg *segs;
	uint32_t n_segs;
	uint64_t *done; /* runs: first ref, count; sorted by first ref */
	size_t n_done, cap_done;
	uint8_t *body;
	size_t cap_body;
	uint64_t *refs;
	bool *live;
	size_t cap_refs, cap_live;
	struct wire_decoder *dec;
	uint64_t max_ref_seg;
};

enum frame_read {
	FR_END,
	FR_OK,
	FR_TORN,    /* cut short: the crash came during its write */
	FR_DAMAGED, /* whole but not what was written */
	FR_IOERR,
};

/* The frame at off: its header in hdr, its body in r->body. */
static enum frame_read read_frame(struct replay *r, const struct rseg *s, uint64_t off,
				  uint8_t *hdr)
{
	uint32_t len, n;
	ssize_t got;

	if (off == s->size)
		return FR_END;
	if (s->size - off < HDR_SIZE)
		return FR_TORN;
	got = pread(s->fd, hdr, HDR_SIZE, (off_t)off);
	if (got != HDR_SIZE)
		return got < 0 ? FR_IOERR : FR_TORN;
	len = get_u32(hdr + 8);
	n = get_u32(hdr + 12);
	if (get_u32(hdr) != FRAME_MAGIC || (hdr[4] != FRAME_HELD && hdr[4] != FRAME_DONE) ||
	    len > BODY_MAX || (hdr[4] == FRAME_DONE && (uint64_t)n * RUN_SIZE != len) ||
	    (hdr[4] == FRAME_HELD && n > WIRE_MAX_RECORDS))
		return FR_DAMAGED;
	if (s->size - off - HDR_SIZE < len)
		return FR_TORN;
	if (grow(&r->body, &r->cap_body, len ? len : 1, 1))
		return FR_IOERR;
	got = len ? pread(s->fd, r->body, len, (off_t)(off + HDR_SIZE)) : 0;
	if (got != (ssize_t)len)
		return got < 0 ? FR_IOERR : FR_TORN;
	return frame_crc(hdr, r->body, len) == get_u32(hdr + 24) ? FR_OK : FR_DAMAGED;
}

/* Copies [off, size) of a damaged segment to <name>.corrupt.  0 or -errno. */
static int set_aside(struct hold_journal *j, const struct rseg *s, uint64_t off)
{
	char name[PATH_MAX], aside[PATH_MAX + 16];
	uint8_t buf[65536];
	int fd, err = 0;

	seg_name(j, s->id, name, sizeof(name));
	snprintf(aside, sizeof(aside), "%s.corrupt", name);
	fd = openat(j->dir_fd, aside, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (!err && off < s->size) {
		ssize_t got = pread(s->fd, buf, sizeof(buf), (off_t)off);

		if (got <= 0 || write(fd, buf, (size_t)got) != got)
			err = got < 0 || errno ? -errno : -EIO;
		else
			off += (uint64_t)got;
	}
	close(fd);
	return err;
}

static void note_ref_seg(struct replay *r, uint64_t seg)
{
	if (seg > r->max_ref_seg)
		r->max_ref_seg = seg;
}

/*
 * First pass over one segment: frames checked, tombstones collected, a
 * torn end cut off, a damaged frame and what follows set aside.
 */
static void scan_segment(struct replay *r, struct rseg *s)
{
	struct hold_journal *j = r->j;
	uint8_t hdr[HDR_SIZE];
	uint64_t off = 0;
	enum frame_read fr;
	char name[PATH_MAX];
	int err = 0;

	seg_name(j, s->id, name, sizeof(name));
	while ((fr = read_frame(r, s, off, hdr)) == FR_OK) {
		uint32_t n = get_u32(hdr + 12), len = get_u32(hdr + 8);

		if (hdr[4] == FRAME_DONE) {
			if (grow(&r->done, &r->cap_done, (r->n_done + n) * 2, sizeof(*r->done))) {
				fr = FR_IOERR;
				break;
			}
			for (uint32_t i = 0; i < n; i++) {
				uint64_t ref = get_u64(r->body + (size_t)i * RUN_SIZE);

				r->done[r->n_done * 2] = ref;
				r->done[r->n_done * 2 + 1] =
				    get_u32(r->body + (size_t)i * RUN_SIZE + 8);
				r->n_done++;
				if (ref >> HOLD_JOURNAL_ORD_BITS > s->ref_max)
					s->ref_max = ref >> HOLD_JOURNAL_ORD_BITS;
			}
			note_ref_seg(r, s->ref_max);
		} else {
			s->held = true;
			s->evidence |=
			    hdr[STATE_AT] == STATE_COMMITTED && (hdr[7] & FLAG_HEARTBEAT);
		}
		off += HDR_SIZE + len;
	}
	if (fr == FR_END)
		return;
	if (fr == FR_IOERR) {
		ADD(j->st.replay_unreadable, 1);
		pr_warn("hold journal: cannot read %s/%s: %s; left as it is, not replayed", j->dir,
			name, strerror(errno ? errno : EIO));
		s->skip = true;
		return;
	}
	if (fr == FR_DAMAGED && (err = set_aside(j, s, off))) {
		ADD(j->st.replay_unreadable, 1);
		pr_warn("hold journal: %s/%s has a damaged frame at byte %llu that cannot be set "
			"aside (%s): left as it is, not replayed",
			j->dir, name, (unsigned long long)off, strerror(-err));
		s->skip = true;
		return;
	}
	if (ftruncate(s->fd, (off_t)off)) {
		ADD(j->st.replay_unreadable, 1);
		pr_warn("hold journal: cannot cut %s/%s at byte %llu: %s; left as it is, not "
			"replayed",
			j->dir, name, (unsigned long long)off, strerror(errno));
		s->skip = true;
		return;
	}
	ADD(j->st.replay_cut_bytes, s->size - off);
	if (fr == FR_TORN) {
		ADD(j->st.replay_torn, 1);
		pr_info("hold journal: %s/%s: its last frame was cut short by the crash (%llu "
			"bytes cut off; that batch was never answered 204)",
			j->dir, name, (unsigned long long)(s->size - off));
	} else {
		ADD(j->st.replay_corrupt, 1);
		pr_warn("hold journal: %s/%s is damaged at byte %llu: the %llu bytes from there "
			"are set aside in %s.corrupt, not replayed",
			j->dir, name, (unsigned long long)off, (unsigned long long)(s->size - off),
			name);
	}
	s->size = off;
}

static int cmp_run(const void *x, const void *y)
{
	return cmp_u64(x, y);
}

/* Whether a tombstone names ref. */
static bool is_done(const struct replay *r, uint64_t ref)
{
	size_t lo = 0, hi = r->n_done;

	/* the last run starting at or before ref */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->done[mid * 2] <= ref)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* runs never overlap: a record is settled once (a replayed one keeps its reference) */
	return lo && ref - r->done[(lo - 1) * 2] < r->done[(lo - 1) * 2 + 1];
}

/* Second pass: every committed held frame to fn.  0 or fn's -errno. */
static int replay_segment(struct replay *r, struct rseg *s, uint64_t *outstanding,
			  hold_journal_replay_fn fn, void *ctx)
{
	struct hold_journal *j = r->j;
	uint8_t hdr[HDR_SIZE];
	uint64_t off = 0;
	uint32_t ord = 0;
	enum frame_read fr;
	char name[PATH_MAX];

	seg_name(j, s->id, name, sizeof(name));
	while ((fr = read_frame(r, s, off, hdr)) == FR_OK) {
		uint32_t n = get_u32(hdr + 12), len = get_u32(hdr + 8), n_live = 0;
		struct wire_batch *b;
		int err;

		off += HDR_SIZE + len;
		if (hdr[4] != FRAME_HELD)
			continue;
		if (ord + (uint64_t)n > ORD_MAX) {
			ADD(j->st.replay_corrupt, 1);
			pr_warn(
			    "hold journal: %s/%s: a frame past the segment's records; the rest is "
			    "not replayed",
			    j->dir, name);
			break;
		}
		if (hdr[STATE_AT] != STATE_COMMITTED) {
			/* its batch's write failed, or the crash came before the batch was answered */
			ADD(j->st.replay_uncommitted, n);
			ord += n;
			continue;
		}
		err = wire_decoder__decode(r->dec, r->body, len, (enum wire_encoding)hdr[6], &b);
		if (err || b->n_records != n) {
			ADD(j->st.replay_corrupt, 1);
			pr_warn(
			    "hold journal: %s/%s: a frame at byte %llu does not decode (%s); its "
			    "%u records are not replayed",
			    j->dir, name, (unsigned long long)(off - HDR_SIZE - len),
			    err ? wire_decoder__error(r->dec) : "record count", n);
			ord += n;
			continue;
		}
		if (grow(&r->refs, &r->cap_refs, n ? n : 1, sizeof(*r->refs)) ||
		    grow(&r->live, &r->cap_live, n ? n : 1, sizeof(*r->live)))
			return -ENOMEM;
		for (uint32_t i = 0; i < n; i++) {
			r->refs[i] = HOLD_JOURNAL_REF(s->id, ord + i);
			r->live[i] = !is_done(r, r->refs[i]);
			n_live += r->live[i];
		}
		if (!(hdr[7] & FLAG_HEARTBEAT))
			b->n_ips = 0;
		if (n_live || b->n_ips) {
			err = fn(ctx, b, (int64_t)get_u64(hdr + 16), r->refs, r->live);
			if (err)
				return err;
		}
		*outstanding += n_live;
		ADD(j->st.replay_held, n_live);
		ADD(j->st.replay_written, n - n_live);
		ADD(j->st.replay_heartbeats, b->n_ips ? 1 : 0);
		ord += n;
	}
	if (fr == FR_IOERR) {
		ADD(j->st.replay_unreadable, 1);
		pr_warn("hold journal: cannot read %s/%s any more: %s; the rest is not replayed",
			j->dir, name, strerror(errno ? errno : EIO));
	}
	return 0;
}

static int cmp_rseg(const void *x, const void *y)
{
	const struct rseg *a = x, *b = y;

	return a->id < b->id ? -1 : a->id > b->id;
}

/* The segments of this id the directory holds, opened, oldest first. */
static int list_segments(struct replay *r, char *why, size_t len)
{
	struct hold_journal *j = r->j;
	int fd = dup(j->dir_fd), err = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	uint32_t cap = 0;

	if (!d) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		snprintf(why, len, "hold journal: cannot list %s: %s", j->dir, strerror(-err));
		return err;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		uint64_t id = seg_id_of(j, e->d_name);
		struct rseg *s;
		struct stat st;

		if (!id)
			continue;
		if (r->n_segs == cap) {
			struct rseg *n = realloc(r->segs, (cap ? cap * 2 : 16) * sizeof(*n));

			if (!n) {
				err = -ENOMEM;
				snprintf(why, len, "hold journal: out of memory");
				break;
			}
			r->segs = n;
			cap = cap ? cap * 2 : 16;
		}
		s = &r->segs[r->n_segs];
		*s = (struct rseg){ .id = id };
		note_ref_seg(r, id);
		s->fd = openat(j->dir_fd, e->d_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (s->fd < 0 || fstat(s->fd, &st) || !S_ISREG(st.st_mode)) {
			ADD(j->st.replay_unreadable, 1);
			pr_warn("hold journal: cannot open %s/%s: %s; left as it is, not replayed",
				j->dir, e->d_name, s->fd < 0 ? strerror(errno) : "not a file");
			if (s->fd >= 0)
				close(s->fd);
			continue;
		}
		s->size = (uint64_t)st.st_size;
		s->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		r->n_segs++;
	}
	closedir(d);
	if (r->n_segs)
		qsort(r->segs, r->n_segs, sizeof(*r->segs), cmp_rseg);
	return err;
}

int hold_journal__replay(struct hold_journal *j, hold_journal_replay_fn fn, void *ctx, char *why,
			 size_t len)
{
	struct replay r = { .j = j };
	uint64_t outstanding, total = 0;
	int err;

	if (j->replayed) {
		snprintf(why, len, "hold journal: replayed already");
		return -EALREADY;
	}
	j->replayed = true;
	r.dec = wire_decoder__new(DECODED_MAX);
	if (!r.dec) {
		snprintf(why, len, "hold journal: out of memory");
		return -ENOMEM;
	}
	err = list_segments(&r, why, len);
	for (uint32_t i = 0; !err && i < r.n_segs; i++)
		scan_segment(&r, &r.segs[i]);
	if (r.n_done)
		qsort(r.done, r.n_done, 2 * sizeof(*r.done), cmp_run);
	for (uint32_t i = 0; !err && i < r.n_segs; i++) {
		struct rseg *s = &r.segs[i];
		struct seg g = { .id = s->id,
				 .ref_max = s->ref_max,
				 .closed_ms = s->mtime_ms,
				 .held = s->held,
				 .evidence = s->evidence };

		if (s->skip)
			continue;
		outstanding = 0;
		err = replay_segment(&r, s, &outstanding, fn, ctx);
		if (err) {
			snprintf(why, len, "hold journal: replaying %s: %s", j->dir,
				 strerror(-err));
			break;
		}
		g.outstanding = outstanding;
		g.bytes = s->size;
		pthread_mutex_lock(&j->lock);
		err = seg_push(j, &g);
		if (!err) {
			j->st.outstanding += outstanding;
			j->st.disk_bytes += s->size;
		}
		pthread_mutex_unlock(&j->lock);
		if (err)
			snprintf(why, len, "hold journal: out of memory");
		total += outstanding;
		ADD(j->st.replay_segments, 1);
	}
	/* the next segments come after every id seen, named or named by a tombstone */
	if (r.max_ref_seg + 1 > j->next_id)
		j->next_id = r.max_ref_seg + 1;
	if (!err && r.n_segs)
		pr_info("hold journal: replayed %llu held records (%llu already written, %llu of "
			"batches never acknowledged skipped) and %llu heartbeats from %u segments "
			"in %s; %llu torn, %llu damaged, %llu unreadable",
			(unsigned long long)total, (unsigned long long)LOAD(j->st.replay_written),
			(unsigned long long)LOAD(j->st.replay_uncommitted),
			(unsigned long long)LOAD(j->st.replay_heartbeats), r.n_segs, j->dir,
			(unsigned long long)LOAD(j->st.replay_torn),
			(unsigned long long)LOAD(j->st.replay_corrupt),
			(unsigned long long)LOAD(j->st.replay_unreadable));
	for (uint32_t i = 0; i < r.n_segs; i++)
		close(r.segs[i].fd);
	free(r.segs);
	free(r.done);
	free(r.body);
	free(r.refs);
	free(r.live);
	wire_decoder__free(r.dec);
	return err;
}

/* ---- what it tells ---------------------------------------------------------------- */

void hold_journal__stats(struct hold_journal *j, struct hold_journal_stats *out)
{
	const uint64_t *src = (const uint64_t *)&j->st;
	uint64_t *dst = (uint64_t *)out;

	_Static_assert(sizeof(*out) % sizeof(uint64_t) == 0, "counters only");
	pthread_mutex_lock(&j->lock);
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = LOAD(src[i]);
	pthread_mutex_unlock(&j->lock);
}

void hold_journal__metrics(struct hold_journal *j, struct metrics_writer *w)
{
	struct hold_journal_stats s;

	hold_journal__stats(j, &s);
	metrics_writer__family(w, "podflow_collector_hold_journal_frames_total", METRIC_COUNTER,
			       "Frames appended to the journal of held records: a batch's held "
			       "records and heartbeat, or tombstones of records written late.");
	metrics_writer__u64(w, L("kind", "held"), s.frames_held);
	metrics_writer__u64(w, L("kind", "done"), s.frames_done);
	metrics_writer__counter(w, "podflow_collector_hold_journal_bytes_total",
				"Bytes appended to the journal.", s.bytes);
	metrics_writer__family(w, "podflow_collector_hold_journal_records_total", METRIC_COUNTER,
			       "Held records journaled, and of those settled (written late).");
	metrics_writer__u64(w, L("event", "journaled"), s.records_journaled);
	metrics_writer__u64(w, L("event", "settled"), s.records_settled);
	metrics_writer__counter(w, "podflow_collector_hold_journal_taken_back_total",
				"Frames taken back: their batch's write failed.", s.taken_back);
	metrics_writer__family(w, "podflow_collector_hold_journal_append_errors_total",
			       METRIC_COUNTER,
			       "Batches whose frame could not be appended (answered as a failed "
			       "write, 429 or 503; nothing of them kept), by class.");
	for (int i = 0; i < HOLD_JOURNAL_ERR__COUNT; i++)
		metrics_writer__u64(w, L("class", hold_journal_err_name(i)), s.append_errors[i]);
	metrics_writer__family(w, "podflow_collector_hold_journal_errors_total", METRIC_COUNTER,
			       "Other journal failures: tombstones not appended (done), frames "
			       "not marked committed (commit), failed appends not cut off (cut), "
			       "settled segments not removed (unlink, retried).");
	metrics_writer__u64(w, L("kind", "done"), s.done_errors);
	metrics_writer__u64(w, L("kind", "commit"), s.commit_errors);
	metrics_writer__u64(w, L("kind", "cut"), s.cut_errors);
	metrics_writer__u64(w, L("kind", "unlink"), s.unlink_errors);
	metrics_writer__gauge(w, "podflow_collector_hold_journal_segments",
			      "Journal segments on disk.", s.segments);
	metrics_writer__gauge(w, "podflow_collector_hold_journal_disk_bytes",
			      "Bytes the journal's segments hold.", s.disk_bytes);
	metrics_writer__gauge(w, "podflow_collector_hold_journal_outstanding_records",
			      "Journaled held records not written yet.", s.outstanding);
	metrics_writer__family(w, "podflow_collector_hold_journal_replay_records_total",
			       METRIC_COUNTER,
			       "Records read back at start: held again, skipped as written "
			       "(tombstone), skipped as never acknowledged (uncommitted).");
	metrics_writer__u64(w, L("result", "held"), s.replay_held);
	metrics_writer__u64(w, L("result", "written"), s.replay_written);
	metrics_writer__u64(w, L("result", "uncommitted"), s.replay_uncommitted);
	metrics_writer__counter(w, "podflow_collector_hold_journal_replay_heartbeats_total",
				"Heartbeats applied again at start.", s.replay_heartbeats);
	metrics_writer__family(w, "podflow_collector_hold_journal_replay_segments_total",
			       METRIC_COUNTER,
			       "Segments read at start, and those torn (last frame cut off), "
			       "damaged (set aside from the damaged frame on) or unreadable.");
	metrics_writer__u64(w, L("result", "read"), s.replay_segments);
	metrics_writer__u64(w, L("result", "torn"), s.replay_torn);
	metrics_writer__u64(w, L("result", "damaged"), s.replay_corrupt);
	metrics_writer__u64(w, L("result", "unreadable"), s.replay_unreadable);
	metrics_writer__counter(w, "podflow_collector_hold_journal_replay_cut_bytes_total",
				"Bytes cut off or set aside at start.", s.replay_cut_bytes);
}
