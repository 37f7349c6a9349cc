// SPDX-License-Identifier: BSD-2-Clause
/* One writer's plain JSON-lines file: the records of accepted batches, appended, readable live. */
#include "jsonl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flow.h"
#include "jsonw.h"
#include "log.h"
#include "wire.h"

/* JSON is handed to the kernel in chunks of about this size: bounded memory for any batch */
#define JSONL_CHUNK (256u << 10)

struct jsonl {
	int fd;
	bool null_sink;
	off_t size; /* where the next batch begins: we are the file's only writer */
	struct jsonw *jw;
	struct flow_json_cache *jc; /* the batch's identity fragments */
	char path[PATH_MAX];
};

struct jsonl *jsonl__new(const char *dir, const char *name, bool null_sink, char *why, size_t len)
{
	struct jsonl *s = calloc(1, sizeof(*s));
	struct stat st;
	int err;

	if (!s || !(s->jw = jsonw__new()) || !(s->jc = flow_json_cache__new())) {
		snprintf(why, len, "out of memory");
		err = -ENOMEM;
		goto fail;
	}
	s->fd = -1;
	s->null_sink = null_sink;
	snprintf(s->path, sizeof(s->path), "%s/%s", dir, name);
	if (null_sink)
		return s;
	s->fd = open(s->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (s->fd < 0 || fstat(s->fd, &st)) {
		err = -errno;
		snprintf(why, len, "--data-dir: cannot open %s: %s", s->path, strerror(-err));
		goto fail;
	}
	s->size = st.st_size;
	return s;
fail:
	jsonl__free(s);
	errno = -err;
	return NULL;
}

void jsonl__free(struct jsonl *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	jsonw__free(s->jw);
	flow_json_cache__free(s->jc);
	free(s);
}

uint64_t jsonl__mark(const struct jsonl *s)
{
	return (uint64_t)s->size;
}

int jsonl__rollback(struct jsonl *s, uint64_t mark)
{
	if (s->null_sink || (off_t)mark >= s->size)
		return 0;
	if (ftruncate(s->fd, (off_t)mark))
		return -errno;
	s->size = (off_t)mark;
	return 0;
}

const char *jsonl__path(const struct jsonl *s)
{
	return s->null_sink ? "(null sink)" : s->path;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int flush_chunk(struct jsonl *s, uint64_t *bytes)
{
	const char *data;
	size_t len;
	int err;

	if (jsonw__error(s->jw))
		return -ENOMEM;
	data = jsonw__data(s->jw, &len);
	err = write_all(s->fd, data, len);
	if (err)
		return err;
	*bytes += len;
	jsonw__reset(s->jw);
	return 0;
}

int jsonl__write(struct jsonl *s, const struct wire_batch *b, const bool *keep, uint64_t *bytes)
{
	size_t len;
	int err = 0;

	*bytes = 0;
	if (s->null_sink)
		return 0; /* the baseline: ingest without any output cost */
	jsonw__reset(s->jw);
	flow_json_cache__reset(s->jc); /* the identities are this batch's */
	for (uint32_t i = 0; i < b->n_records; i++) {
		if (keep && !keep[i])
			continue;
		flow_record_json_cached(&b->records[i], s->jw, s->jc);
		jsonw__raw_char(s->jw, '\n');
		jsonw__data(s->jw, &len);
		if (len >= JSONL_CHUNK && (err = flush_chunk(s, bytes)))
			goto fail;
	}
	err = flush_chunk(s, bytes);
	if (err)
		goto fail;
	s->size += (off_t)*bytes;
	return 0;
fail:
	jsonw__reset(s->jw);
	/* always: a short write (a full disk) leaves bytes *bytes does not count */
	if (ftruncate(s->fd, s->size)) {
		struct stat st;

		/* the file now ends in part of a batch; say so, and continue after it */
		pr_warn("%s: cannot remove a partly written batch: %s", s->path, strerror(errno));
		if (fstat(s->fd, &st) == 0)
			s->size = st.st_size;
	}
	*bytes = 0;
	return err;
}
