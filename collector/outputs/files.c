// SPDX-License-Identifier: BSD-2-Clause
/* The collector's file output: Hive-partitioned gzip JSON lines, published by atomic rename. */
#define _GNU_SOURCE
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <zlib.h>

#include "flow.h"
#include "jsonw.h"
#include "log.h"
#include "wire.h"

/*
 * A member's JSON up to this size is compressed whole by libdeflate (about
 * 10,000 records: the sidecar's largest batch by default); a larger one is
 * streamed through zlib in JSON_CHUNK pieces instead, still as one member,
 * so that memory stays bounded for any batch.
 */
#define WHOLE_MAX	(8u << 20)
#define JSON_CHUNK	(64u << 10)  /* JSON handed to zlib at a time, past WHOLE_MAX */
#define OUT_CHUNK	(256u << 10) /* compressed bytes handed to write(2) at a time by zlib */
#define WRITEBACK_EVERY (8 << 20)    /* dirty bytes of a file after which writeback starts */
#define SCAN_CHUNK	(256u << 10) /* reads of members checked back */
#define HOUR_MS		3600000ull
/* 9999-12-31 hr=23: a later end_ms (a sender's broken clock) is filed there, not lost */
#define MAX_HOUR     (253402300799999ull / HOUR_MS)
#define NO_PART	     UINT32_MAX
#define GZIP_WINDOW  (15 + 16) /* deflate window 2^15, gzip wrapper (zlib's deflateInit2) */
#define ISAL_LEVEL   2	       /* ISA-L's: fewer bytes than its level 1 at the same speed */
#define ISAL_BUF     ISAL_DEF_LVL2_DEFAULT /* its hash and token buffer at that level */
#define RENAME_TRIES 8
/* DIR/flows, one hour's directory, a file in it */
#define ROOT_MAX 3072
#define DIR_MAX	 (ROOT_MAX + 64)
#define FULL_MAX (DIR_MAX + NAME_MAX + 2)

#define ADD(field, n) __atomic_fetch_add(&(field), (uint64_t)(n), __ATOMIC_RELAXED)
#define SET(field, v) __atomic_store_n(&(field), (uint64_t)(v), __ATOMIC_RELAXED)
#define SUB(field, n) __atomic_fetch_sub(&(field), (uint64_t)(n), __ATOMIC_RELAXED)
#define LOAD(field)   __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* One open hidden file: one hour partition of one writer. */
struct part {
	uint64_t hour; /* end_ms / HOUR_MS */
	int fd;
	/*
	 * Full or aged, but its publish failed: written no more, the publish
	 * retried on every tick (a new file takes the hour's records).
	 */
	bool stuck;
	enum files_rotation stuck_why;
	/* a failed batch left bytes after `size` that ftruncate could not remove */
	bool tail;
	/*
	 * An fsync failed: the kernel may have dropped dirty pages (and the
	 * next fsync reports success), so the members are read back and
	 * checked before the file is published.
	 */
	bool verify;
	/* reached max_bytes: published at the next call (after files__undo's chance) */
	bool full;
	off_t size;    /* end of the last complete member: all a reader may ever see */
	off_t pending; /* bytes of the batch in hand, written after `size` */
	off_t synced;  /* writeback started up to here */
	uint64_t opened_ns, used_ns;
	off_t undo_size;   /* `size` before the last batch, */
	uint64_t undo_gen; /* when that batch is fs->gen */
	/* the batch in hand: records of this part, their place in fs->order */
	uint32_t n_batch, first;
	char dir[DIR_MAX];	 /* DIR/flows/dt=YYYY-MM-DD/hr=HH */
	char name[NAME_MAX + 1]; /* ".part-<id>-<seq>.json.gz" */
};

struct files {
	char id[FILES_ID_MAX + 1];
	char label[64];
	char root[ROOT_MAX]; /* DIR/flows */
	uint64_t max_bytes, max_age_ns;
	bool null;

	struct part **parts; /* unordered; removal swaps in the last */
	uint32_t n_parts, cap_parts;
	int last_publish_err;

	int level;
	enum files_compressor compressor;
	struct libdeflate_compressor *ld; /* libdeflate: whole members */
	z_stream z; /* libdeflate: members past WHOLE_MAX; set up on first use */
	bool z_ready;
	struct isal_zstream *iz; /* ISA-L: every member, streamed */
	uint8_t *iz_buf;	 /* its level's buffer, ISAL_BUF bytes */
	struct jsonw *jw;
	struct flow_json_cache *jc; /* the batch's identity fragments */
	unsigned char *out;
	size_t out_len, out_cap;

	uint32_t *rec_part; /* per record of the batch in hand: index in parts, or NO_PART */
	uint32_t *order;    /* the batch's records grouped by part */
	uint32_t cap_rec;

	uint64_t failed_ns; /* last failed write */
	bool failed;

	/* the last batch written, which files__undo may take back until the next call */
	uint64_t gen;
	bool can_undo;
	uint64_t last_records, last_json, last_compressed;

	struct files_group *group; /* numbers and the error episode: shared, or own_group */
	struct files_group *own_group;

	struct files_stats st; /* atomics */
};

/* ---- what a collector's writers share: file numbers, the error episode ---------- */

/*
 * Owned by the output stage (or by a writer made without one) and handed to
 * each writer: no process-wide state, so two stages (or tests) never mix
 * their numbers or their episodes.
 */
struct files_group {
	/*
	 * File numbers come from one counter for all of the group's writers,
	 * so they never collide; it starts at the wall clock in
	 * microseconds, so a restart (which cannot have made a file per
	 * microsecond of the previous run) starts past every number used
	 * before.  A clock stepped back could still repeat one: files are
	 * published with RENAME_NOREPLACE, and a name taken draws another.
	 */
	uint64_t seq;
	/*
	 * A disk that fills up fails every writer at once: one warning for
	 * the episode, which ends at a successful write at least
	 * FILES_BACKOFF_NS after its last failure (so writers failing and
	 * succeeding in turn, on a disk at the edge, stay one episode).
	 */
	int episode;
	uint64_t episode_last_ns, episode_refused;
};

uint64_t files_seq_start(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

struct files_group *files_group__new(void)
{
	struct files_group *g = calloc(1, sizeof(*g));

	if (g)
		g->seq = files_seq_start();
	return g;
}

void files_group__free(struct files_group *g)
{
	free(g);
}

static uint64_t next_seq(uint64_t *seq)
{
	return __atomic_fetch_add(seq, 1, __ATOMIC_RELAXED);
}

static void episode_failure(struct files *fs, const char *what, int err, uint64_t now_ns)
{
	struct files_group *g = fs->group;

	ADD(g->episode_refused, 1);
	SET(g->episode_last_ns, now_ns);
	if (__atomic_exchange_n(&g->episode, 1, __ATOMIC_ACQ_REL))
		return;
	pr_warn("%s: cannot write flow files (%s: %s); batches are refused (429) until writes "
		"succeed again; counted in the files write-error counters",
		fs->label, what, strerror(-err));
}

static void episode_success(struct files *fs, uint64_t now_ns)
{
	struct files_group *g = fs->group;

	if (!__atomic_load_n(&g->episode, __ATOMIC_ACQUIRE) ||
	    now_ns < LOAD(g->episode_last_ns) + FILES_BACKOFF_NS ||
	    !__atomic_exchange_n(&g->episode, 0, __ATOMIC_ACQ_REL))
		return;
	pr_warn("%s: writing flow files again; %llu batches were refused meanwhile", fs->label,
		(unsigned long long)__atomic_exchange_n(&g->episode_refused, 0, __ATOMIC_RELAXED));
}

/* ---- names ------------------------------------------------------------------------ */

static bool id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

int files_check_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > FILES_ID_MAX || id[0] == '.')
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!id_char(id[i]))
			return -EINVAL;
	return 0;
}

int files_compressor_parse(const char *name, enum files_compressor *out)
{
	if (name && !strcmp(name, "libdeflate"))
		*out = FILES_LIBDEFLATE;
	else if (name && !strcmp(name, "isa-l"))
		*out = FILES_ISAL;
	else
		return -EINVAL;
	return 0;
}

const char *files_default_id(char *buf, size_t len)
{
	char host[256] = "";
	size_t n = 0;

	if (gethostname(host, sizeof(host) - 1))
		host[0] = '\0';
	for (; host[n] && n < FILES_ID_MAX && n + 1 < len; n++)
		buf[n] = id_char(host[n]) && !(n == 0 && host[n] == '.') ? host[n] : '_';
	if (len)
		buf[n] = '\0';
	if (n == 0)
		snprintf(buf, len, "collector");
	return buf;
}

enum files_err files_err_class(int err)
{
	switch (err < 0 ? -err : err) {
	case ENOSPC:
	case EDQUOT:
		return FILES_ERR_NOSPC;
	case EROFS:
		return FILES_ERR_ROFS;
	case EACCES:
	case EPERM:
		return FILES_ERR_ACCESS;
	case EIO:
		return FILES_ERR_IO;
	default:
		return FILES_ERR_OTHER;
	}
}

const char *files_err_name(enum files_err e)
{
	static const char *const names[FILES_ERR__COUNT] = {
		[FILES_ERR_NOSPC] = "nospace", [FILES_ERR_ROFS] = "readonly",
		[FILES_ERR_ACCESS] = "access", [FILES_ERR_IO] = "io",
		[FILES_ERR_OTHER] = "other",
	};

	return (unsigned int)e < FILES_ERR__COUNT ? names[e] : "other";
}

const char *files_rotation_name(enum files_rotation r)
{
	static const char *const names[FILES_ROT__COUNT] = {
		[FILES_ROT_SIZE] = "size",
		[FILES_ROT_AGE] = "age",
		[FILES_ROT_CLOSE] = "close",
		[FILES_ROT_LIMIT] = "limit",
	};

	return (unsigned int)r < FILES_ROT__COUNT ? names[r] : "";
}

/* "part-<id>-<seq>.json.gz", hidden with a leading '.' */
static void part_name(char *buf, size_t len, bool hidden, const char *id, uint64_t seq)
{
	snprintf(buf, len, "%spart-%s-%llu.json.gz", hidden ? "." : "", id,
		 (unsigned long long)seq);
}

/* ---- file system helpers ---------------------------------------------------------- */

static int pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		off += w;
		n -= (size_t)w;
	}
	return 0;
}

static int mkdir_one(const char *path)
{
	return mkdir(path, 0755) && errno != EEXIST ? -errno : 0;
}

/* A rename is durable once the directory holding it is (rename(2), fsync(2)). */
int files_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/*
 * RENAME_NOREPLACE, or link + unlink where the file system has no
 * renameat2 flags.
 */
int files_rename_visible(const char *dir, const char *hidden, const char *id, uint64_t *seq,
			 char *vis, size_t vis_len)
{
	char from[FULL_MAX], to[FULL_MAX];

	snprintf(vis, vis_len, "%s", hidden + 1);
	snprintf(from, sizeof(from), "%s/%s", dir, hidden);
	for (int i = 0; i < RENAME_TRIES; i++) {
		snprintf(to, sizeof(to), "%s/%s", dir, vis);
		if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EINVAL || errno == ENOSYS) {
			if (link(from, to) == 0) {
				unlink(from); /* left over, the EEXIST case below ends it */
				return 0;
			}
		}
		if (errno != EEXIST)
			return -errno;
		if (same_file(from, to)) /* a link + unlink cut short: finish it */
			return unlink(from) ? -errno : 0;
		part_name(vis, vis_len, false, id, next_seq(seq));
	}
	return -EEXIST;
}

/* Inflate checks each member's CRC-32 and ISIZE before it returns Z_STREAM_END. */
int files_scan_members(int fd, off_t *end)
{
	unsigned char *in = malloc(SCAN_CHUNK), *out = malloc(SCAN_CHUNK);
	z_stream z = { 0 };
	off_t pos = 0;
	int err = 0, rc;

	*end = 0;
	if (!in || !out || inflateInit2(&z, GZIP_WINDOW) != Z_OK) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		if (z.avail_in == 0) {
			ssize_t n = pread(fd, in, SCAN_CHUNK, pos);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				err = -errno;
				break;
			}
			if (n == 0)
				break;
			z.next_in = in;
			z.avail_in = (uInt)n;
			pos += n;
		}
		z.next_out = out;
		z.avail_out = SCAN_CHUNK;
		rc = inflate(&z, Z_NO_FLUSH);
		if (rc == Z_STREAM_END) {
			*end = pos - (off_t)z.avail_in;
			inflateReset(&z);
			continue;
		}
		if (rc == Z_OK || (rc == Z_BUF_ERROR && z.avail_in == 0))
			continue;
		if (rc == Z_MEM_ERROR)
			err = -ENOMEM;
		break; /* Z_DATA_ERROR, Z_NEED_DICT: not ours past here */
	}
	inflateEnd(&z);
cleanup:
	free(in);
	free(out);
	return err;
}

/* ---- parts ------------------------------------------------------------------------ */

static void hour_dir(const struct files *fs, uint64_t hour, char *buf, size_t len)
{
	time_t t = (time_t)(hour * 3600);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%s/dt=%04d-%02d-%02d/hr=%02d", fs->root, tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
}

static void remove_part(struct files *fs, uint32_t i)
{
	free(fs->parts[i]);
	fs->parts[i] = fs->parts[--fs->n_parts];
	SET(fs->st.files_open, fs->n_parts);
}

/* The hour's open file, or a new one (its directories made as needed).  Index or -errno. */
static int64_t part_for(struct files *fs, uint64_t hour, uint64_t now_ns)
{
	char path[FULL_MAX], dt[DIR_MAX];
	struct part *p;
	int err;

	for (uint32_t i = 0; i < fs->n_parts; i++)
		if (fs->parts[i]->hour == hour && !fs->parts[i]->stuck)
			return i;
	if (fs->n_parts == fs->cap_parts) {
		uint32_t cap = fs->cap_parts ? 2 * fs->cap_parts : FILES_MAX_OPEN;
		struct part **np = realloc(fs->parts, cap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		fs->parts = np;
		fs->cap_parts = cap;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->hour = hour;
	hour_dir(fs, hour, p->dir, sizeof(p->dir));
	snprintf(dt, sizeof(dt), "%.*s", (int)(strrchr(p->dir, '/') - p->dir), p->dir);
	if ((err = mkdir_one(fs->root)) || (err = mkdir_one(dt)) || (err = mkdir_one(p->dir)))
		goto fail;
	for (;;) {
		part_name(p->name, sizeof(p->name), true, fs->id, next_seq(&fs->group->seq));
		snprintf(path, sizeof(path), "%s/%s", p->dir, p->name);
		/* read too: a publish after a failed fsync checks the members */
		p->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (p->fd >= 0)
			break;
		if (errno != EEXIST) {
			err = -errno;
			goto fail;
		}
	}
	p->opened_ns = p->used_ns = now_ns;
	fs->parts[fs->n_parts++] = p;
	SET(fs->st.files_open, fs->n_parts);
	return fs->n_parts - 1;
fail:
	free(p);
	return err;
}

/*
 * fsync, rename into place, fsync the directory; the part is then closed and
 * removed.  On failure it stays, stuck, for the next tick (or for the next
 * start's recovery if the process exits first); never visible unsynced.
 */
static int publish(struct files *fs, uint32_t i, enum files_rotation why)
{
	struct part *p = fs->parts[i];
	char vis[NAME_MAX + 1], path[FULL_MAX];
	const char *what = "fsync";
	struct stat st;
	off_t end;
	int err;

	if (fstat(p->fd, &st) == 0 && st.st_nlink == 0) {
		/* someone removed it (a retention job, an operator): its records are gone */
		if (p->size) {
			pr_warn("%s: %s/%s was deleted while open; %lld bytes of records in it "
				"are lost",
				fs->label, p->dir, p->name, (long long)p->size);
			ADD(fs->st.publish_errors[FILES_ERR_OTHER], 1);
		}
		close(p->fd);
		remove_part(fs, i);
		return 0; /* nothing left to retry */
	}
	if (p->verify) {
		what = "read back";
		if ((err = files_scan_members(p->fd, &end)))
			goto fail;
		if (end < p->size) {
			pr_warn("%s: %s/%s: after a failed fsync only %lld of its %lld bytes read "
				"back as whole members; the rest is cut",
				fs->label, p->dir, p->name, (long long)end, (long long)p->size);
			p->size = end;
			p->tail = true;
		}
	}
	if (p->tail) {
		what = "ftruncate";
		if (ftruncate(p->fd, p->size)) {
			err = -errno;
			goto fail;
		}
		p->tail = false;
	}
	if (p->size == 0) {
		/* opened for a batch that failed: nothing to show */
		snprintf(path, sizeof(path), "%s/%s", p->dir, p->name);
		close(p->fd);
		unlink(path);
		remove_part(fs, i);
		return 0;
	}
	what = "fsync";
	if (fsync(p->fd)) {
		err = -errno;
		p->verify = true;
		goto fail;
	}
	p->verify = false;
	what = "rename";
	err = files_rename_visible(p->dir, p->name, fs->id, &fs->group->seq, vis, sizeof(vis));
	if (err)
		goto fail;
	err = files_sync_dir(p->dir);
	if (err) {
		/* visible and whole; only its name might not survive a power cut */
		ADD(fs->st.publish_errors[files_err_class(err)], 1);
		pr_warn("%s: %s/%s published, but fsync of the directory failed: %s", fs->label,
			p->dir, vis, strerror(-err));
	}
	if (p->stuck)
		pr_warn("%s: %s/%s published after earlier failures", fs->label, p->dir, vis);
	pr_debug("%s: published %s/%s (%lld bytes, %s)", fs->label, p->dir, vis, (long long)p->size,
		 files_rotation_name(why));
	close(p->fd);
	ADD(fs->st.files_published, 1);
	ADD(fs->st.rotations[why], 1);
	remove_part(fs, i);
	return 0;
fail:
	ADD(fs->st.publish_errors[files_err_class(err)], 1);
	fs->last_publish_err = err;
	if (!p->stuck)
		pr_warn("%s: cannot publish %s/%s (%s: %s); it stays hidden and is retried every "
			"tick",
			fs->label, p->dir, p->name, what, strerror(-err));
	p->stuck = true;
	p->stuck_why = why;
	return err;
}

/* Over FILES_MAX_OPEN writable files: publish the least recently written. */
static void enforce_limit(struct files *fs)
{
	for (;;) {
		uint32_t open = 0, lru = NO_PART;

		for (uint32_t i = 0; i < fs->n_parts; i++) {
			if (fs->parts[i]->stuck)
				continue;
			open++;
			if (lru == NO_PART || fs->parts[i]->used_ns < fs->parts[lru]->used_ns)
				lru = i;
		}
		if (open <= FILES_MAX_OPEN)
			return;
		publish(fs, lru, FILES_ROT_LIMIT); /* a failure makes it stuck: not counted */
	}
}

/*
 * What the last batch left to do, at the start of the next call: the undo
 * window closes, full files are published, the open files cut to the limit.
 */
static void settle(struct files *fs)
{
	fs->can_undo = false;
	for (uint32_t i = fs->n_parts; i-- > 0;)
		if (fs->parts[i]->full && !fs->parts[i]->stuck)
			publish(fs, i, FILES_ROT_SIZE); /* a failure: stuck, retried on tick */
	enforce_limit(fs);
}

/* ---- the writer ------------------------------------------------------------------- */

struct files *files__new(const struct files_opts *o, char *why, size_t len)
{
	struct files *fs = calloc(1, sizeof(*fs));
	int err = -ENOMEM, level = o->level ? o->level : FILES_DEFAULT_LEVEL;

	if (!fs) {
		snprintf(why, len, "out of memory");
		goto fail;
	}
	if (files_check_id(o->collector_id)) {
		snprintf(why, len,
			 "collector id \"%s\": 1 to %d bytes of A-Z a-z 0-9 _ . -, not starting "
			 "with '.'",
			 o->collector_id ? o->collector_id : "", FILES_ID_MAX);
		err = -EINVAL;
		goto fail;
	}
	if (level < 1 || level > 9) {
		snprintf(why, len, "gzip level %d: 1 to 9", level);
		err = -EINVAL;
		goto fail;
	}
	if (o->compressor != FILES_LIBDEFLATE && o->compressor != FILES_ISAL) {
		snprintf(why, len, "compressor %d: %s", (int)o->compressor, FILES_COMPRESSOR_NAMES);
		err = -EINVAL;
		goto fail;
	}
	if (!o->dir || !*o->dir || strlen(o->dir) + sizeof("/flows") > ROOT_MAX) {
		snprintf(why, len, "data dir: empty or too long");
		err = -EINVAL;
		goto fail;
	}
	snprintf(fs->id, sizeof(fs->id), "%s", o->collector_id);
	snprintf(fs->label, sizeof(fs->label), "%s", o->label ? o->label : "files");
	snprintf(fs->root, sizeof(fs->root), "%s/flows", o->dir);
	fs->max_bytes = o->max_bytes ? o->max_bytes : FILES_DEFAULT_MAX_BYTES;
	fs->max_age_ns = o->max_age_ns ? o->max_age_ns : FILES_DEFAULT_MAX_AGE_NS;
	fs->null = o->null;
	fs->group = o->group;
	if (!fs->group && !(fs->group = fs->own_group = files_group__new())) {
		snprintf(why, len, "out of memory");
		goto fail;
	}
	if (fs->null)
		return fs;
	if ((err = mkdir_one(o->dir)) || (err = mkdir_one(fs->root))) {
		snprintf(why, len, "data dir: cannot create %s: %s", fs->root, strerror(-err));
		goto fail;
	}
	fs->level = level;
	fs->compressor = o->compressor;
	fs->jw = jsonw__new();
	fs->jc = flow_json_cache__new();
	fs->out = malloc(OUT_CHUNK);
	fs->out_cap = OUT_CHUNK;
	if (fs->compressor == FILES_ISAL) {
		fs->iz = malloc(sizeof(*fs->iz));
		fs->iz_buf = malloc(ISAL_BUF);
	} else {
		fs->ld = libdeflate_alloc_compressor(level);
	}
	if (!fs->jw || !fs->jc || !fs->out || !(fs->ld || (fs->iz && fs->iz_buf))) {
		snprintf(why, len, "out of memory");
		err = -ENOMEM;
		goto fail;
	}
	return fs;
fail:
	files__free(fs);
	errno = -err;
	return NULL;
}

void files__free(struct files *fs)
{
	if (!fs)
		return;
	files__close(fs);
	/* what close could not publish stays hidden: the next start's recovery finishes it */
	while (fs->n_parts) {
		close(fs->parts[0]->fd);
		remove_part(fs, 0);
	}
	if (fs->z_ready)
		deflateEnd(&fs->z);
	libdeflate_free_compressor(fs->ld);
	free(fs->iz);
	free(fs->iz_buf);
	jsonw__free(fs->jw);
	flow_json_cache__free(fs->jc);
	free(fs->out);
	free(fs->parts);
	free(fs->rec_part);
	free(fs->order);
	files_group__free(fs->own_group);
	free(fs);
}

const char *files__path(const struct files *fs)
{
	return fs->null ? "(null sink)" : fs->root;
}

static int rec_room(struct files *fs, uint32_t n)
{
	uint32_t *a, *b;

	if (n <= fs->cap_rec)
		return 0;
	a = realloc(fs->rec_part, n * sizeof(*a));
	if (!a)
		return -ENOMEM;
	fs->rec_part = a;
	b = realloc(fs->order, n * sizeof(*b));
	if (!b)
		return -ENOMEM;
	fs->order = b;
	fs->cap_rec = n;
	return 0;
}

/* Writes what deflate has produced so far, after the part's batch bytes. */
static int flush_out(struct files *fs, struct part *p)
{
	int err;

	if (!fs->out_len)
		return 0;
	err = pwrite_all(p->fd, fs->out, fs->out_len, p->size + p->pending);
	if (err)
		return err;
	p->pending += (off_t)fs->out_len;
	fs->out_len = 0;
	return 0;
}

/* Feeds JSON to zlib; `flush` Z_FINISH ends the member (the gzip trailer). */
static int deflate_feed(struct files *fs, struct part *p, const char *data, size_t len, int flush)
{
	z_stream *z = &fs->z;
	int rc, err;

	z->next_in = (Bytef *)data;
	z->avail_in = (uInt)len;
	for (;;) {
		z->next_out = fs->out + fs->out_len;
		z->avail_out = (uInt)(OUT_CHUNK - fs->out_len);
		rc = deflate(z, flush);
		fs->out_len = OUT_CHUNK - z->avail_out;
		if (rc == Z_STREAM_ERROR)
			return -EINVAL;
		if (fs->out_len == OUT_CHUNK) {
			if ((err = flush_out(fs, p)))
				return err;
			continue;
		}
		if (flush == Z_FINISH ? rc == Z_STREAM_END : z->avail_in == 0)
			break;
	}
	return flush == Z_FINISH ? flush_out(fs, p) : 0;
}

/* Feeds JSON to ISA-L; `last` ends the member (the gzip trailer). */
static int isal_feed(struct files *fs, struct part *p, const char *data, size_t len, bool last)
{
	struct isal_zstream *z = fs->iz;
	int err;

	z->next_in = (uint8_t *)(uintptr_t)data;
	z->avail_in = (uint32_t)len;
	z->end_of_stream = last;
	z->flush = NO_FLUSH;
	for (;;) {
		z->next_out = fs->out + fs->out_len;
		z->avail_out = (uint32_t)(OUT_CHUNK - fs->out_len);
		if (isal_deflate(z) != COMP_OK)
			return -EINVAL;
		fs->out_len = OUT_CHUNK - z->avail_out;
		if (fs->out_len == OUT_CHUNK) {
			if ((err = flush_out(fs, p)))
				return err;
			continue;
		}
		if (last ? z->internal_state.state == ZSTATE_END : z->avail_in == 0)
			break;
	}
	return last ? flush_out(fs, p) : 0;
}

/* Starts a streamed member: the compressor's stream reset, nothing of it written yet. */
static int member_begin(struct files *fs)
{
	fs->out_len = 0;
	if (fs->compressor == FILES_ISAL) {
		isal_deflate_init(fs->iz);
		fs->iz->level = ISAL_LEVEL;
		fs->iz->level_buf = fs->iz_buf;
		fs->iz->level_buf_size = ISAL_BUF;
		fs->iz->gzip_flag = IGZIP_GZIP;
		return 0;
	}
	if (!fs->z_ready) {
		if (deflateInit2(&fs->z, fs->level, Z_DEFLATED, GZIP_WINDOW, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return -ENOMEM;
		fs->z_ready = true;
		return 0;
	}
	return deflateReset(&fs->z) == Z_OK ? 0 : -EINVAL;
}

/* Feeds JSON to the streamed member; `last` ends it (and writes what is left). */
static int member_feed(struct files *fs, struct part *p, const char *data, size_t len, bool last)
{
	if (fs->compressor == FILES_ISAL)
		return isal_feed(fs, p, data, len, last);
	return deflate_feed(fs, p, data, len, last ? Z_FINISH : Z_NO_FLUSH);
}

/*
 * The rest of a member too large for WHOLE_MAX, streamed (libdeflate's
 * members through zlib at the same level): the JSON already in fs->jw,
 * then records idx[from..n) in JSON_CHUNK pieces.  Still one member (one
 * CRC-32 and ISIZE).
 */
static int stream_member(struct files *fs, struct part *p, const struct wire_batch *b,
			 const uint32_t *idx, uint32_t from, uint32_t n, uint64_t *json)
{
	const char *data;
	size_t len;
	int err;

	if ((err = member_begin(fs)))
		return err;
	for (uint32_t k = from;;) {
		data = jsonw__data(fs->jw, &len);
		if (k < n && len < JSON_CHUNK) {
			flow_record_json_cached(&b->records[idx[k++]], fs->jw, fs->jc);
			jsonw__raw_char(fs->jw, '\n');
			continue;
		}
		if (jsonw__error(fs->jw))
			return -ENOMEM;
		if ((err = member_feed(fs, p, data, len, k == n)))
			return err;
		*json += len;
		jsonw__reset(fs->jw);
		if (k == n)
			return 0;
	}
}

/*
 * The batch's records of part p as one gzip member at p's end, compressed
 * whole (libdeflate: one call, one write; ISA-L: one call, a write per
 * OUT_CHUNK).  *json: bytes before deflate.
 */
static int write_member(struct files *fs, struct part *p, const struct wire_batch *b,
			uint64_t *json)
{
	const uint32_t *idx = fs->order + p->first;
	const char *data;
	size_t len = 0, bound, n;
	int err;

	jsonw__reset(fs->jw);
	for (uint32_t k = 0; k < p->n_batch; k++) {
		if (len >= WHOLE_MAX)
			return stream_member(fs, p, b, idx, k, p->n_batch, json);
		flow_record_json_cached(&b->records[idx[k]], fs->jw, fs->jc);
		jsonw__raw_char(fs->jw, '\n');
		jsonw__data(fs->jw, &len);
	}
	if (jsonw__error(fs->jw))
		return -ENOMEM;
	data = jsonw__data(fs->jw, &len);
	if (fs->compressor == FILES_ISAL) {
		if ((err = member_begin(fs)) || (err = isal_feed(fs, p, data, len, true)))
			return err;
		*json += len;
		return 0;
	}
	bound = libdeflate_gzip_compress_bound(fs->ld, len);
	if (bound > fs->out_cap) {
		unsigned char *o = realloc(fs->out, bound);

		if (!o)
			return -ENOMEM;
		fs->out = o;
		fs->out_cap = bound;
	}
	n = libdeflate_gzip_compress(fs->ld, data, len, fs->out, fs->out_cap);
	if (n == 0)
		return -EINVAL; /* cannot happen: the buffer is the bound */
	err = pwrite_all(p->fd, fs->out, n, p->size + p->pending);
	if (err)
		return err;
	p->pending += (off_t)n;
	*json += len;
	return 0;
}

/* Groups the batch's kept records by part (opening parts as needed): fs->order, p->first. */
static int assign(struct files *fs, const struct wire_batch *b, const bool *keep, uint64_t now_ns,
		  uint32_t *n_kept)
{
	uint64_t last_hour = UINT64_MAX;
	uint32_t last = NO_PART, at = 0;

	*n_kept = 0;
	for (uint32_t i = 0; i < b->n_records; i++) {
		uint64_t hour = b->records[i].end_ms / HOUR_MS;

		fs->rec_part[i] = NO_PART;
		if (keep && !keep[i])
			continue;
		if (hour > MAX_HOUR)
			hour = MAX_HOUR;
		if (hour != last_hour) {
			int64_t p = part_for(fs, hour, now_ns);

			if (p < 0)
				return (int)p;
			last = (uint32_t)p;
			last_hour = hour;
		}
		fs->rec_part[i] = last;
		fs->parts[last]->n_batch++;
		(*n_kept)++;
	}
	for (uint32_t i = 0; i < fs->n_parts; i++) {
		fs->parts[i]->first = at;
		at += fs->parts[i]->n_batch;
		fs->parts[i]->n_batch = 0; /* counts again while placing */
	}
	for (uint32_t i = 0; i < b->n_records; i++) {
		struct part *p;

		if (fs->rec_part[i] == NO_PART)
			continue;
		p = fs->parts[fs->rec_part[i]];
		fs->order[p->first + p->n_batch++] = i;
	}
	return 0;
}

/*
 * Undoes a failed batch: every file it touched cut back to where the batch
 * began (`pending` does not count the bytes of a write that failed half way).
 */
static void undo_failed(struct files *fs)
{
	for (uint32_t i = 0; i < fs->n_parts; i++) {
		struct part *p = fs->parts[i];

		if (!p->n_batch)
			continue;
		if (ftruncate(p->fd, p->size)) {
			/*
			 * A reader must never see the partial member: the file
			 * takes no more batches and is cut before its publish
			 * (or by the next start's recovery).
			 */
			pr_warn(
			    "%s: cannot cut a failed batch off %s/%s: %s; the file is set aside",
			    fs->label, p->dir, p->name, strerror(errno));
			p->tail = true;
			p->stuck = true;
			p->stuck_why = FILES_ROT_AGE; /* counted so when it is published */
		}
		p->pending = 0;
	}
}

int files__write(struct files *fs, const struct wire_batch *b, const bool *keep, uint64_t now_ns,
		 uint64_t *bytes)
{
	uint64_t json = 0, compressed = 0;
	uint32_t n_kept = 0, n_stuck = 0;
	const char *what = "open";
	int err;

	*bytes = 0;
	if (fs->null)
		return 0;
	settle(fs);
	fs->gen++;
	fs->last_records = fs->last_json = fs->last_compressed = 0;
	for (uint32_t i = 0; i < fs->n_parts; i++) {
		fs->parts[i]->n_batch = 0;
		fs->parts[i]->pending = 0;
		n_stuck += fs->parts[i]->stuck;
	}
	if (n_stuck >= FILES_MAX_OPEN) {
		/* the disk takes no fsync or rename: refuse before piling up more */
		err = fs->last_publish_err ? fs->last_publish_err : -EIO;
		what = "publish";
		goto fail;
	}
	err = rec_room(fs, b->n_records);
	if (!err)
		err = assign(fs, b, keep, now_ns, &n_kept);
	if (err)
		goto fail;
	if (n_kept == 0) {
		fs->can_undo = true; /* all held back for attribution: nothing to undo */
		return 0;
	}
	what = "write";
	flow_json_cache__reset(fs->jc); /* the identities are this batch's */
	for (uint32_t i = 0; i < fs->n_parts; i++) {
		struct part *p = fs->parts[i];

		if (p->n_batch && (err = write_member(fs, p, b, &json)))
			goto fail;
	}
	for (uint32_t i = 0; i < fs->n_parts; i++) {
		struct part *p = fs->parts[i];

		if (!p->n_batch)
			continue;
		compressed += (uint64_t)p->pending;
		p->undo_size = p->size;
		p->undo_gen = fs->gen;
		p->size += p->pending;
		p->pending = 0;
		p->used_ns = now_ns;
		/* start writeback early: the fsync at publish then waits for little */
		if (p->size - p->synced >= WRITEBACK_EVERY) {
			sync_file_range(p->fd, p->synced, p->size - p->synced,
					SYNC_FILE_RANGE_WRITE);
			p->synced = p->size;
		}
	}
	ADD(fs->st.batches, 1);
	ADD(fs->st.records, n_kept);
	ADD(fs->st.bytes, json);
	ADD(fs->st.bytes_compressed, compressed);
	*bytes = json;
	fs->failed = false;
	fs->can_undo = true;
	fs->last_records = n_kept;
	fs->last_json = json;
	fs->last_compressed = compressed;
	episode_success(fs, now_ns);
	for (uint32_t i = 0; i < fs->n_parts; i++)
		fs->parts[i]->full = (uint64_t)fs->parts[i]->size >= fs->max_bytes;
	return 0;
fail:
	undo_failed(fs);
	ADD(fs->st.write_errors[files_err_class(err)], 1);
	fs->failed = true;
	fs->failed_ns = now_ns;
	episode_failure(fs, what, err, now_ns);
	return err;
}

int files__undo(struct files *fs)
{
	int first = 0;

	if (fs->null)
		return 0;
	if (!fs->can_undo)
		return -ENOENT;
	fs->can_undo = false;
	for (uint32_t i = 0; i < fs->n_parts; i++) {
		struct part *p = fs->parts[i];

		if (p->undo_gen != fs->gen)
			continue;
		if (ftruncate(p->fd, p->undo_size)) {
			if (!first)
				first = -errno;
			/* as for a failed batch: set aside, cut before its publish */
			pr_warn("%s: cannot take a batch back off %s/%s: %s; the file is set aside",
				fs->label, p->dir, p->name, strerror(errno));
			p->tail = true;
			p->stuck = true;
			p->stuck_why = FILES_ROT_AGE;
		}
		p->size = p->undo_size;
		p->full = false;
		if (p->synced > p->size)
			p->synced = p->size;
		p->undo_gen = 0;
	}
	if (fs->last_records) {
		SUB(fs->st.batches, 1);
		SUB(fs->st.records, fs->last_records);
		SUB(fs->st.bytes, fs->last_json);
		SUB(fs->st.bytes_compressed, fs->last_compressed);
	}
	fs->last_records = fs->last_json = fs->last_compressed = 0;
	return first;
}

int files__tick(struct files *fs, uint64_t now_ns)
{
	int first = 0, err;

	if (fs->null)
		return 0;
	settle(fs);
	for (uint32_t i = fs->n_parts; i-- > 0;) {
		struct part *p = fs->parts[i];

		if (p->stuck)
			err = publish(fs, i, p->stuck_why);
		else if (now_ns >= p->opened_ns + fs->max_age_ns)
			err = publish(fs, i, FILES_ROT_AGE);
		else
			continue;
		if (err && !first)
			first = err;
	}
	return first;
}

int files__close(struct files *fs)
{
	int first = 0, err;

	if (!fs || fs->null)
		return 0;
	settle(fs);
	/* every file's writeback at once: the fsyncs below then overlap, not queue */
	files__writeback(fs);
	for (uint32_t i = fs->n_parts; i-- > 0;) {
		struct part *p = fs->parts[i];

		err = publish(fs, i, p->stuck ? p->stuck_why : FILES_ROT_CLOSE);
		if (!err)
			continue;
		if (!first)
			first = err;
		pr_warn("%s: %s/%s left hidden; the next start's recovery finishes it", fs->label,
			p->dir, p->name);
		close(p->fd);
		remove_part(fs, i);
	}
	return first;
}

void files__writeback(struct files *fs)
{
	if (!fs || fs->null)
		return;
	for (uint32_t i = 0; i < fs->n_parts; i++)
		if (!fs->parts[i]->tail)
			sync_file_range(fs->parts[i]->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

bool files__backoff(const struct files *fs, uint64_t now_ns)
{
	return fs->failed && now_ns < fs->failed_ns + FILES_BACKOFF_NS;
}

void files__stats(const struct files *fs, struct files_stats *out)
{
	memset(out, 0, sizeof(*out));
	files_stats_sum(out, &fs->st);
}

void files_stats_sum(struct files_stats *dst, const struct files_stats *src)
{
	dst->batches += LOAD(src->batches);
	dst->records += LOAD(src->records);
	dst->bytes += LOAD(src->bytes);
	dst->bytes_compressed += LOAD(src->bytes_compressed);
	dst->files_published += LOAD(src->files_published);
	dst->files_open += LOAD(src->files_open);
	for (int i = 0; i < FILES_ROT__COUNT; i++)
		dst->rotations[i] += LOAD(src->rotations[i]);
	for (int i = 0; i < FILES_ERR__COUNT; i++) {
		dst->write_errors[i] += LOAD(src->write_errors[i]);
		dst->publish_errors[i] += LOAD(src->publish_errors[i]);
	}
}
