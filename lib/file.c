// SPDX-License-Identifier: BSD-2-Clause
/* Reading a whole small file, bounded. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read(const char *path, size_t max, char **out, size_t *len, char *why, size_t whylen)
{
	size_t cap = 4096, n = 0;
	char *buf = NULL, *nb;
	struct stat st;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		snprintf(why, whylen, "%s: %s", path, strerror(-err));
		return err;
	}
	/* a regular file's size is the first guess; it may still grow while read */
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && (size_t)st.st_size < max)
		cap = (size_t)st.st_size + 1;
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap || !buf) {
			if (buf)
				cap = cap > max / 2 ? max + 2 : cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				err = -ENOMEM;
				snprintf(why, whylen, "%s: out of memory", path);
				goto cleanup;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			snprintf(why, whylen, "%s: %s", path, strerror(-err));
			goto cleanup;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			err = -EFBIG;
			if (max % (1u << 20) == 0)
				snprintf(why, whylen, "%s: larger than %zu MiB, refused", path,
					 max >> 20);
			else
				snprintf(why, whylen, "%s: larger than %zu bytes, refused", path,
					 max);
			goto cleanup;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
cleanup:
	free(buf);
	close(fd);
	return err;
}
