/* SPDX-License-Identifier: BSD-2-Clause */
/* Reading a whole small file (configuration, certificates, keys), bounded. */
#ifndef PODFLOW_FILE_H
#define PODFLOW_FILE_H

#include <stddef.h>

/*
 * The whole of `path` into a malloc'd buffer (*out, NUL-terminated after
 * its *len bytes), refusing more than `max` bytes.  Opened O_NONBLOCK, so a
 * FIFO put there cannot hang the caller's loop.  0, or -errno with `why`
 * ("PATH: reason"): -EFBIG over max, -ENOMEM, or open's and read's errors.
 */
int file_read(const char *path, size_t max, char **out, size_t *len, char *why, size_t whylen);

#endif /* PODFLOW_FILE_H */
