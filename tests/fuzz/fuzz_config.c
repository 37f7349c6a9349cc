// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer target for the YAML configuration loader: no file crashes it, what it accepts round-trips. */
/*
 * Each input is a configuration file, loaded the way the binaries load
 * theirs (config_source_load: the defaults, the file through the key table,
 * then the binary's own cross-key validation), once with the collector's
 * schema and once with the sidecar's.  The file is a memfd read through
 * /proc/self/fd, so nothing touches the disk.
 *
 * A refusal must be a negative errno with one non-empty line naming why
 * (config.h: file, line and key), and must leave nothing allocated (the
 * leak checker sees to that).  An accepted configuration is written as the
 * /config endpoint writes it (config_to_json), and that JSON, which is
 * YAML's flow style, is loaded again through the same source: it must be
 * accepted and give the same value for every key (config_differs).  One
 * thing of the JSON cannot be read back by design: an unset string that
 * may not be empty (`cgroup`, `insight.kafka_group`) is written null, and a
 * null is refused for it (config.h: `min` 1), so those members are dropped
 * from the text first, which leaves the key at its default (unset).  That
 * holds the parsers and the writer to each other: a duration written back
 * as text, a CIDR in its canonical form, a string with any escapes.
 * Applying it over the defaults (config_merge_live, the reload path) must
 * leave a configuration equal to it in every live key.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "collector_config.h"
#include "config.h"
#include "config_source.h"
#include "jsonw.h"
#include "log.h"
#include "sidecar_config.h"

static int fd = -1;
static char path[64];

static int validate_collector(const void *cfg, char *why, size_t len)
{
	return collector_config_validate(cfg, why, len);
}

static int validate_sidecar(const void *cfg, char *why, size_t len)
{
	return sidecar_config_validate(cfg, why, len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* the loader logs nothing it refuses (why says it), but reloads would: keep it quiet */
	log_init("fuzz_config", LOG_LEVEL_WARN);
	fd = memfd_create("fuzz_config.yaml", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

static void put_file(const void *p, size_t n)
{
	if (ftruncate(fd, 0) || (n && pwrite(fd, p, n, 0) != (ssize_t)n))
		abort();
}

/*
 * Drops the members `"NAME":null` of the keys that refuse a null from the
 * JSON text (in place; the new length).  Inside a JSON string every quote
 * is escaped, so `"NAME":null` with bare quotes is always a member.
 */
static size_t drop_nulls(const struct config_schema *s, char *t, size_t n)
{
	for (size_t i = 0; i < s->n_keys; i++) {
		const struct config_key *k = &s->keys[i];
		const char *leaf = strrchr(k->key, '.');
		char pat[96];
		size_t plen;
		char *p;

		if (k->type != CONFIG_STRING || k->min < 1)
			continue;
		leaf = leaf ? leaf + 1 : k->key;
		plen = (size_t)snprintf(pat, sizeof(pat), "\"%s\":null", leaf);
		p = memmem(t, n, pat, plen);
		if (!p)
			continue;
		/* the comma before it, else the one after it */
		if (p > t && p[-1] == ',') {
			p--;
			plen++;
		} else if ((size_t)(p - t) + plen < n && p[plen] == ',') {
			plen++;
		}
		memmove(p, p + plen, n - (size_t)(p - t) - plen);
		n -= plen;
	}
	return n;
}

static void check_why(const char *why, int err)
{
	CHECK(err == -EINVAL || err == -ENOMEM || err == -EFBIG, "error %d: %s", err, why);
	CHECK(why[0] && !strchr(why, '\n'), "message \"%s\"", why);
}

static void one(const struct config_schema *s, int (*validate)(const void *, char *, size_t),
		const uint8_t *data, size_t size)
{
	struct config_source src = { .schema = s, .validate = validate, .path = path };
	void *cfg = calloc(1, s->size), *again = calloc(1, s->size), *live = calloc(1, s->size);
	char why[2048], restart[1024];
	struct jsonw *jw = jsonw__new();
	const char *json;
	char *text = NULL;
	size_t len;
	int err;

	CHECK(cfg && again && live && jw, "out of memory");
	put_file(data, size);
	err = config_source_load(&src, cfg, why, sizeof(why));
	if (err) {
		check_why(why, err);
		goto cleanup;
	}

	/* written as /config writes it, and read back */
	config_to_json(s, cfg, jw);
	CHECK(!jsonw__error(jw), "config_to_json failed");
	json = jsonw__data(jw, &len);
	text = malloc(len + 1);
	CHECK(text, "out of memory");
	memcpy(text, json, len);
	len = drop_nulls(s, text, len);
	put_file(text, len);
	err = config_source_load(&src, again, why, sizeof(why));
	CHECK(err == 0, "%s: its JSON refused: %s\n%.*s", s->program, why, (int)len, text);
	for (size_t i = 0; i < s->n_keys; i++)
		CHECK(!config_differs(s, &s->keys[i], cfg, again),
		      "%s: %s changed reading back %.*s", s->program, s->keys[i].key, (int)len,
		      text);

	/* a reload from the defaults to it: every live key takes its value */
	CHECK(config_copy(s, live, s->defaults) == 0, "config_copy");
	err = config_merge_live(s, live, cfg, restart, sizeof(restart));
	CHECK(err >= 0, "config_merge_live: %d", err);
	CHECK(strlen(restart) < sizeof(restart), "restart list");
	for (size_t i = 0; i < s->n_keys; i++)
		CHECK(!s->keys[i].live || !config_differs(s, &s->keys[i], live, cfg),
		      "%s: live key %s not applied", s->program, s->keys[i].key);
	config_free(s, live);
	config_free(s, again);
	config_free(s, cfg);
cleanup:
	free(text);
	jsonw__free(jw);
	free(live);
	free(again);
	free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(&collector_config_schema, validate_collector, data, size);
	one(&sidecar_config_schema, validate_sidecar, data, size);
	return 0;
}
