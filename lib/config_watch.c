// SPDX-License-Identifier: BSD-2-Clause
/* Notices when a config file changes: inotify on its directory, plus a stat() poll as a fallback. */
#include "config_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duration.h"
#include "log.h"

/*
 * What the kubelet's atomic writer does to the directory: creates ..data_tmp
 * (IN_CREATE), renames it over ..data (IN_MOVED_FROM/IN_MOVED_TO), removes
 * the old timestamped directory (IN_DELETE).  IN_CLOSE_WRITE and IN_ATTRIB
 * catch a plain file edited in place, and IN_MODIFY (a truncate or a write)
 * before its IN_CLOSE_WRITE says a writer is still at it; the _SELF events
 * tell us the watch itself is gone.
 */
#define WATCH_MASK                                                                          \
	(IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_ATTRIB | \
	 IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

/* config.c refuses larger files: one byte beyond is enough to tell two apart */
#define CONTENT_MAX (1u << 20)

/* What stat() says about the file the path resolves to; err != 0 when it does not exist. */
struct fingerprint {
	int err;
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
};

/* The file's bytes as last read, or why they could not be read. */
struct content {
	int err; /* 0, or the errno of open() or read() (ENOENT: no file) */
	char *data;
	size_t len;
};

struct config_watch {
	char *path;
	char *dir;  /* the directory watched: "." for a bare name */
	char *name; /* the path's last component */
	char *via;  /* the first component of a relative symlink target ("..data"), or NULL */
	int ifd;    /* -1: polling only */
	int wd;	    /* -1: the directory watch is down, re-added on each check */
	uint64_t poll_ns;
	uint64_t last_poll_ns;
	bool polled;
	struct fingerprint fp;
	struct content seen;	       /* what the last report (or config_watch__new) read */
	struct content pending;	       /* differs from seen: reported once it settles */
	struct fingerprint pending_fp; /* the stat that went with it */
	bool has_pending;
	uint64_t pending_ns; /* when pending was last found to differ from the read before */
	bool writing;	     /* a write to the file seen, and not yet its close */
	uint64_t write_ns;   /* the last such write */
};

static void take_fingerprint(const char *path, struct fingerprint *fp)
{
	struct stat st;

	memset(fp, 0, sizeof(*fp));
	if (stat(path, &st)) {
		fp->err = errno;
		return;
	}
	fp->dev = st.st_dev;
	fp->ino = st.st_ino;
	fp->size = st.st_size;
	fp->mtime_ns = (int64_t)st.st_mtim.tv_sec * (int64_t)DURATION_NS_PER_S + st.st_mtim.tv_nsec;
	fp->ctime_ns = (int64_t)st.st_ctim.tv_sec * (int64_t)DURATION_NS_PER_S + st.st_ctim.tv_nsec;
}

static bool same_fingerprint(const struct fingerprint *a, const struct fingerprint *b)
{
	return a->err == b->err && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

static void content_free(struct content *c)
{
	free(c->data);
	memset(c, 0, sizeof(*c));
}

/* At most CONTENT_MAX + 1 bytes; O_NONBLOCK so a FIFO put there cannot hang the loop. */
static void read_content(const char *path, struct content *c)
{
	size_t cap = 0;
	int fd;

	memset(c, 0, sizeof(*c));
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		c->err = errno;
		return;
	}
	for (;;) {
		ssize_t n;

		if (c->len == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nd;

			if (cap > CONTENT_MAX)
				break;
			if (ncap > CONTENT_MAX + 1)
				ncap = CONTENT_MAX + 1;
			nd = realloc(c->data, ncap);
			if (!nd) {
				c->err = ENOMEM;
				break;
			}
			c->data = nd;
			cap = ncap;
		}
		n = read(fd, c->data + c->len, cap - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			c->err = errno;
			break;
		}
		if (n == 0)
			break;
		c->len += (size_t)n;
	}
	close(fd);
	if (c->err) {
		free(c->data);
		c->data = NULL;
		c->len = 0;
	}
}

static bool same_content(const struct content *a, const struct content *b)
{
	return a->err == b->err && a->len == b->len &&
	       (!a->len || memcmp(a->data, b->data, a->len) == 0);
}

/*
 * When the path is a symlink with a relative target, the target's first
 * component lives in the watched directory too ("real.yaml", or "..data" for
 * a ConfigMap): events on it matter as much as events on the path's name.
 */
static void update_via(struct config_watch *w)
{
	char target[4096];
	ssize_t n = readlink(w->path, target, sizeof(target) - 1);
	char *slash;

	free(w->via);
	w->via = NULL;
	if (n <= 0 || target[0] == '/')
		return;
	target[n] = '\0';
	slash = strchr(target, '/');
	if (slash)
		*slash = '\0';
	if (strcmp(target, ".") != 0 && strcmp(target, "..") != 0)
		w->via = strdup(target); /* NULL on ENOMEM only loses a hint: the poll remains */
}

static bool relevant(const struct config_watch *w, const char *name)
{
	return strcmp(name, w->name) == 0 || strcmp(name, "..data") == 0 ||
	       strcmp(name, "..data_tmp") == 0 || (w->via && strcmp(name, w->via) == 0);
}

struct config_watch *config_watch__new(const char *path, uint64_t poll_ns)
{
	struct config_watch *w;
	const char *slash;
	struct stat st;
	int err = 0;

	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->ifd = -1;
	w->wd = -1;
	w->poll_ns = poll_ns;
	slash = strrchr(path, '/');
	w->path = strdup(path);
	w->name = strdup(slash ? slash + 1 : path);
	if (!slash)
		w->dir = strdup(".");
	else if (slash == path)
		w->dir = strdup("/");
	else
		w->dir = strndup(path, (size_t)(slash - path));
	if (!w->path || !w->name || !w->dir) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (!w->name[0]) {
		err = -EINVAL; /* "dir/": a directory, not a file */
		goto cleanup;
	}
	if (stat(w->dir, &st)) {
		err = -errno;
		goto cleanup;
	}
	if (!S_ISDIR(st.st_mode)) {
		err = -ENOTDIR;
		goto cleanup;
	}

	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ifd < 0) {
		pr_warn("config watch: inotify_init1: %s; polling %s instead", strerror(errno),
			path);
	} else {
		w->wd = inotify_add_watch(w->ifd, w->dir, WATCH_MASK);
		if (w->wd < 0) {
			pr_warn("config watch: inotify_add_watch %s: %s; polling %s instead",
				w->dir, strerror(errno), path);
			close(w->ifd);
			w->ifd = -1;
		}
	}
	update_via(w);
	take_fingerprint(w->path, &w->fp);
	read_content(w->path, &w->seen);
cleanup:
	if (err) {
		config_watch__free(w);
		errno = -err;
		return NULL;
	}
	return w;
}

void config_watch__free(struct config_watch *w)
{
	if (!w)
		return;
	if (w->ifd >= 0)
		close(w->ifd);
	free(w->path);
	free(w->dir);
	free(w->name);
	free(w->via);
	content_free(&w->seen);
	content_free(&w->pending);
	free(w);
}

int config_watch__fd(const struct config_watch *w)
{
	return w->ifd;
}

/*
 * Reads every queued event; true if any may concern the file.  Sets *lost
 * when the watch died.  Keeps track of a writer: IN_MODIFY (a write or a
 * truncate) until the file's IN_CLOSE_WRITE, or until the name is another
 * file's (moved, deleted).
 */
static bool drain(struct config_watch *w, uint64_t now_ns, bool *lost)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;

	for (;;) {
		ssize_t n = read(w->ifd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return true; /* cannot happen; if it does, a spurious reload is harmless */
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				changed = true; /* events were dropped: assume the worst */
				continue;
			}
			if (ev->wd != w->wd)
				continue; /* the IN_IGNORED of a watch we already replaced */
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) {
				changed = true;
				*lost = true;
			} else if (ev->len && relevant(w, ev->name)) {
				changed = true;
				if (ev->mask & IN_MODIFY) {
					w->writing = true;
					w->write_ns = now_ns;
				}
				if (ev->mask &
				    (IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO))
					w->writing = false;
			}
		}
	}
	return changed;
}

int config_watch__check(struct config_watch *w, uint64_t now_ns)
{
	bool changed = false, lost = false;
	struct fingerprint fp, after;
	struct content cur;

	if (w->ifd >= 0) {
		changed = drain(w, now_ns, &lost);
		if (lost && w->wd >= 0) {
			/* after IN_MOVE_SELF the watch follows the directory elsewhere: drop it */
			inotify_rm_watch(w->ifd, w->wd);
			w->wd = -1;
		}
		if (w->wd < 0) {
			w->wd = inotify_add_watch(w->ifd, w->dir, WATCH_MASK);
			/* anything may have happened while nothing was watching */
			if (w->wd >= 0)
				changed = true;
		}
	}
	if (changed || !w->polled || now_ns - w->last_poll_ns >= w->poll_ns) {
		take_fingerprint(w->path, &fp);
		if (!same_fingerprint(&fp, &w->fp))
			changed = true;
		w->fp = fp;
		w->last_poll_ns = now_ns;
		w->polled = true;
	}
	if (changed)
		update_via(w);
	if (!changed && !w->has_pending)
		return 0;

	/* the stat before and after the read: equal, or the file moved under us */
	take_fingerprint(w->path, &fp);
	read_content(w->path, &cur);
	take_fingerprint(w->path, &after);
	w->fp = after;
	if (same_content(&cur, &w->seen)) {
		/*
		 * A new mtime, the same bytes again, a change undone, or a kubelet
		 * step before its rename: nothing to reload.
		 */
		content_free(&cur);
		content_free(&w->pending);
		w->has_pending = false;
		return 0;
	}
	if (!w->has_pending || !same_content(&cur, &w->pending) || !same_fingerprint(&fp, &after) ||
	    !same_fingerprint(&after, &w->pending_fp)) {
		/* new, or still moving: the settle time starts again */
		content_free(&w->pending);
		w->pending = cur;
		w->pending_fp = after;
		w->has_pending = true;
		w->pending_ns = now_ns;
		return 0;
	}
	content_free(&cur);
	if (now_ns - w->pending_ns < CONFIG_WATCH_SETTLE_NS)
		return 0;
	if (w->writing && now_ns - w->write_ns < CONFIG_WATCH_WRITER_MAX_NS)
		return 0; /* still open for writing: its close (or its silence) makes it final */
	content_free(&w->seen);
	w->seen = w->pending;
	memset(&w->pending, 0, sizeof(w->pending));
	w->has_pending = false;
	w->writing = false;
	return 1;
}

int config_watch__timeout_ms(const struct config_watch *w, uint64_t now_ns)
{
	uint64_t due = w->last_poll_ns + w->poll_ns, ms;

	if (!w->polled)
		return 0;
	if (w->has_pending) {
		uint64_t at = w->pending_ns + CONFIG_WATCH_SETTLE_NS;

		if (w->writing && w->write_ns + CONFIG_WATCH_WRITER_MAX_NS > at)
			at = w->write_ns + CONFIG_WATCH_WRITER_MAX_NS;
		if (at < due)
			due = at;
	}
	if (due <= now_ns)
		return 0;
	ms = (due - now_ns + DURATION_NS_PER_MS - 1) / DURATION_NS_PER_MS;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}
