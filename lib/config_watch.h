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
 */
struct config_watch;

/* NULL with errno set when the directory cannot be watched or polled at all. */
struct config_watch *config_watch__new(const char *path, uint64_t poll_ns);
void config_watch__free(struct config_watch *w);

/* An fd to poll/epoll for readability (the inotify fd; -1 when only polling). */
int config_watch__fd(const struct config_watch *w);

/*
 * Drains pending events and, at most every poll_ns, stats the file.
 * Returns 1 when the file the path resolves to may have changed since the
 * last call that returned 1 (the caller reloads and validates), else 0.
 * Spurious 1s are allowed (the reload finds nothing to change); missed
 * changes are not.
 */
int config_watch__check(struct config_watch *w, uint64_t now_ns);

#endif /* PODFLOW_CONFIG_WATCH_H */
