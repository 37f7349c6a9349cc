// SPDX-License-Identifier: BSD-2-Clause
/* Notices when a config file changes: inotify on its directory, plus a stat() poll as a fallback. */
#include "config_watch.h"

#include <errno.h>
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
 * catch a plain file edited in place; the _SELF events tell us the watch
 * itself is gone.
 */
#define WATCH_MASK                                                                          \
	(IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_ATTRIB | \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

/* What stat() says about the file the path resolves to; err != 0 when it does not exist. */
struct fingerprint {
	int err;
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
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
	free(w);
}

int config_watch__fd(const struct config_watch *w)
{
	return w->ifd;
}

/* Reads every queued event; true if any may concern the file.  Sets *lost when the watch died. */
static bool drain(struct config_watch *w, bool *lost)
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
			}
		}
	}
	return changed;
}

int config_watch__check(struct config_watch *w, uint64_t now_ns)
{
	bool changed = false, lost = false;
	struct fingerprint fp;

	if (w->ifd >= 0) {
		changed = drain(w, &lost);
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
	return changed ? 1 : 0;
}
