// SPDX-License-Identifier: BSD-2-Clause
/* One writer's outputs, all or nothing: files, Kafka and the optional JSON-lines file. */
#define _GNU_SOURCE
#include "output.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "filesink.h"
#include "kafka_sink.h"
#include "log.h"
#include "sink.h"
#include "wire.h"

struct output {
	struct filesink *files; /* NULL: off */
	struct sink *jsonl;	/* NULL: off */
	struct kafka_sink *kafka;
	char label[64];
};

/* The batch just written to the JSON-lines file, taken back out (another output failed). */
static void take_back_jsonl(struct output *out, uint64_t mark)
{
	if (out->jsonl && sink__rollback(out->jsonl, mark))
		pr_warn("%s: cannot take a failed batch back out of %s: it may be there twice "
			"after the retry",
			out->label, sink__path(out->jsonl));
}

struct output *output__new(const struct output_opts *o, char *why, size_t len)
{
	struct output *out = calloc(1, sizeof(*out));
	int err = ENOMEM;

	if (!out) {
		snprintf(why, len, "out of memory");
		goto fail;
	}
	snprintf(out->label, sizeof(out->label), "%s", o->label ? o->label : o->name);
	out->kafka = o->kafka;
	if (o->files) {
		struct filesink_opts fo = {
			.dir = o->data_dir,
			.collector_id = o->collector_id,
			.label = out->label,
			.max_bytes = o->files_max_bytes,
			.max_age_ns = o->files_max_age_ns,
			.null = o->null_sink,
		};

		out->files = filesink__new(&fo, why, len);
		if (!out->files) {
			err = errno;
			goto fail;
		}
	}
	if (o->jsonl) {
		char name[64];

		snprintf(name, sizeof(name), "flows-%s.jsonl", o->name);
		out->jsonl = sink__new_named(o->data_dir, name, o->null_sink, why, len);
		if (!out->jsonl) {
			err = errno;
			goto fail;
		}
	}
	return out;
fail:
	output__free(out);
	errno = err;
	return NULL;
}

void output__free(struct output *out)
{
	if (!out)
		return;
	filesink__free(out->files);
	sink__free(out->jsonl);
	free(out);
}

/*
 * All or nothing without undoing Kafka (which cannot be undone): the
 * JSON-lines file and the files are written first, then the records are
 * handed to Kafka; if Kafka refuses them (its queue full), the files and
 * the JSON-lines file are taken back, and the sender retries the batch.
 */
int output__write(struct output *out, const struct wire_batch *b, const bool *keep, uint64_t *bytes)
{
	uint64_t now = clock_mono_ns(), mark = 0;
	bool any = false;
	int err;

	*bytes = 0;
	for (uint32_t i = 0; i < b->n_records && !any; i++)
		any = !keep || keep[i];
	if (!any)
		return 0;
	if (out->files && filesink__backoff(out->files, now))
		return -ENOBUFS; /* the disk failed a moment ago: back off at once */
	if (out->jsonl) {
		mark = sink__mark(out->jsonl);
		err = sink__write_batch(out->jsonl, b, keep, bytes);
		if (err)
			return err;
	}
	if (out->files) {
		uint64_t fb = 0;

		err = filesink__write(out->files, b, keep, now, &fb);
		if (err) {
			take_back_jsonl(out, mark);
			return err;
		}
		*bytes = fb;
	}
	if (out->kafka) {
		err = kafka_sink__write(out->kafka, b->records, b->n_records, keep);
		if (err) {
			if (out->files && filesink__undo(out->files))
				pr_warn("%s: a batch Kafka refused stays in the files (set aside "
					"and cut before they are published)",
					out->label);
			take_back_jsonl(out, mark);
			return err;
		}
	}
	return 0;
}

bool output__backoff(const struct output *out, uint64_t now_ns)
{
	return out->files && filesink__backoff(out->files, now_ns);
}

void output__tick(struct output *out, uint64_t now_ns)
{
	if (out->files)
		filesink__tick(out->files, now_ns);
}

int output__close(struct output *out)
{
	return out->files ? filesink__close(out->files) : 0;
}

struct filesink *output__files(struct output *out)
{
	return out->files;
}
