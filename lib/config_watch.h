/* SPDX-License-Identifier: BSD-2-Clause */
/* Notices when a config file mounted from a ConfigMap changes. */
#ifndef PODFLOW_CONFIG_WATCH_H
#define PODFLOW_CONFIG_WATCH_H

#include <stdint.h>

/*
 * The kubelet updates a ConfigMap volume atomically: it writes a new
 * ..YYYY_MM_DD_hh_mm_ss.nnn directory, points a ..data_tmp symlink at it
 * and renames that over ..data; the file the program reads is a symlink
 * through ..data.  An inotify watch on the file itself dies with the first
 * update, so this watches the file's DIRECTORY (IN_CREATE, IN_MOVED_TO,
 * IN_CLOSE_WRITE, IN_DELETE ...) and also polls (stat of the resolved file:
 * device, inode, size, mtime) every `poll_ns` as a fallback for filesystems
 * without inotify.  A plain file edited in place is noticed too.
 *
 * What it reports is a change of the file's CONTENT, once that content is
 * final: the bytes differ from those it last reported, and they (and the
 * file's stat) have stayed the same for CONFIG_WATCH_SETTLE_NS, and no
 * writer is still at it (inotify saw a write to the file and not yet its
 * close; waited for at most CONFIG_WATCH_WRITER_MAX_NS after the last
 * write).  So one kubelet update is one report, however its steps are
 * split between checks (the ..data_tmp symlink appears while the file still
 * reads the old content); a new mtime or an identical file is no report;
 * and a file written in pieces is not reported half-written, where every
 * prefix cut at a line may be valid YAML.  Without inotify only the settle
 * time guards against a writer that pauses.
 */
#define CONFIG_WATCH_SETTLE_NS	   (250ULL * 1000 * 1000)
#define CONFIG_WATCH_WRITER_MAX_NS (10ULL * 1000 * 1000 * 1000)

struct config_watch;

/* NULL with errno set when the directory cannot be watched or polled at all. */
struct config_watch *config_watch__new(const char *path, uint64_t poll_ns);
void config_watch__free(struct config_watch *w);

/* An fd to poll/epoll for readability (the inotify fd; -1 when only polling). */
int config_watch__fd(const struct config_watch *w);

/*
 * Drains pending events and, at most every poll_ns, stats the file; reads
 * it when either says it may have changed.  Returns 1 when its content
 * (or its absence: a deleted file is a change too) differs from what the
 * last 1 reported, or from what it was at config_watch__new, and has
 * settled (above); the caller then reloads and validates.  Else 0.
 * `now_ns` is CLOCK_MONOTONIC.
 */
int config_watch__check(struct config_watch *w, uint64_t now_ns);

/*
 * Milliseconds until check() is due again on its own (the poll, or a
 * change that is settling), for an epoll timeout; events on the fd come
 * sooner.
 */
int config_watch__timeout_ms(const struct config_watch *w, uint64_t now_ns);

#endif /* PODFLOW_CONFIG_WATCH_H */
