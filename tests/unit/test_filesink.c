// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/outputs/files and files_recover: partitions, gzip members, rotation, undo, recovery. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>
#include <isa-l/igzip_lib.h>

#include "files.h"
#include "files_recover.h"
#include "jsonl.h"
#include "log.h"
#include "wire.h"

#define NS	    1000000000ull
#define T_2311_22   1700000000000ull /* 2023-11-14T22:13:20Z */
#define T_2312_3123 1704067199999ull /* 2023-12-31T23:59:59.999Z */
#define T_2401_0100 1704067200000ull /* 2024-01-01T00:00:00Z */
#define HOUR_MS	    3600000ull

static const struct flow_identity g_local = {
	.app = "checkout",
	.namespace = "shop",
	.pod = "checkout-7d9f8b6c5-x2x8q",
	.node = "node-3",
	.workload = "checkout",
};

/* ---- helpers ---------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* n records, end_ms[i] = end, bytes_sent = base + i (each record names itself) */
static struct flow_record *make_recs(uint32_t n, uint64_t end, uint64_t base)
{
	struct flow_record *r = calloc(n, sizeof(*r));

	assert_non_null(r);
	for (uint32_t i = 0; i < n; i++) {
		r[i].start_ms = end - 5000;
		r[i].end_ms = end;
		r[i].family = 4;
		r[i].direction = FLOW_DIRECTION_OUT;
		r[i].local_addr[10] = r[i].local_addr[11] = 0xff;
		r[i].local_addr[12] = 10;
		r[i].local_addr[15] = 7;
		r[i].remote_addr[10] = r[i].remote_addr[11] = 0xff;
		r[i].remote_addr[12] = 10;
		r[i].remote_addr[15] = (uint8_t)(i + 1);
		r[i].remote_port = 8080;
		r[i].flows = 1;
		r[i].bytes_sent = base + i;
		r[i].local = &g_local;
		snprintf(r[i].comm, sizeof(r[i].comm), "java");
		r[i].container = "web";
	}
	return r;
}

static struct files *new_sink(const struct files_opts *o)
{
	char why[256] = "";
	struct files *fs = files__new(o, why, sizeof(why));

	if (!fs)
		fail_msg("files__new: %s", why);
	return fs;
}

static struct files *open_sink(const char *dir, const char *id, uint64_t max_bytes,
			       uint64_t max_age_ns)
{
	return new_sink(&(struct files_opts){
	    .dir = dir,
	    .collector_id = id,
	    .label = "test",
	    .max_bytes = max_bytes,
	    .max_age_ns = max_age_ns,
	});
}

static struct files *open_sink_with(const char *dir, enum files_compressor c)
{
	return new_sink(&(struct files_opts){
	    .dir = dir, .collector_id = "c", .label = "test", .compressor = c });
}

/* What ISA-L's level 2 makes of `json` as one gzip member, in one call: its size. */
static size_t isal_member_len(const char *json, size_t len)
{
	static uint8_t level_buf[ISAL_DEF_LVL2_DEFAULT];
	struct isal_zstream z;
	size_t cap = len + len / 8 + 1024;
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	isal_deflate_init(&z);
	z.level = 2;
	z.level_buf = level_buf;
	z.level_buf_size = sizeof(level_buf);
	z.gzip_flag = IGZIP_GZIP;
	z.end_of_stream = 1;
	z.flush = NO_FLUSH;
	z.next_in = (uint8_t *)(uintptr_t)json;
	z.avail_in = (uint32_t)len;
	z.next_out = out;
	z.avail_out = (uint32_t)cap;
	assert_int_equal(isal_deflate(&z), COMP_OK);
	assert_int_equal(z.internal_state.state, ZSTATE_END);
	free(out);
	return z.total_out;
}

static size_t glob_count(const char *pattern, char *first, size_t len)
{
	glob_t g;
	size_t n;

	if (glob(pattern, GLOB_PERIOD, NULL, &g))
		return 0;
	n = g.gl_pathc;
	if (first && n)
		snprintf(first, len, "%s", g.gl_pathv[0]);
	globfree(&g);
	return n;
}

/*
 * Decompresses a whole .gz (all members, as zcat does) and checks every line
 * is one JSON object; *sum = sum of bytes_sent, *end_min, *end_max: their end_ms.
 * Returns the number of lines, -1 on any damage.
 */
static long read_gz(const char *path, uint64_t *sum, uint64_t *end_min, uint64_t *end_max)
{
	gzFile f = gzopen(path, "rb");
	char line[8192];
	long n = 0;

	if (!f)
		return -1;
	if (sum)
		*sum = 0;
	if (end_min)
		*end_min = UINT64_MAX;
	if (end_max)
		*end_max = 0;
	while (gzgets(f, line, sizeof(line))) {
		size_t l = strlen(line);
		json_error_t jerr;
		json_t *o;
		uint64_t e;

		if (l == 0 || line[l - 1] != '\n') {
			n = -1;
			break;
		}
		o = json_loads(line, 0, &jerr);
		if (!json_is_object(o)) {
			json_decref(o);
			n = -1;
			break;
		}
		if (sum)
			*sum += (uint64_t)json_integer_value(json_object_get(o, "bytes_sent"));
		e = (uint64_t)json_integer_value(json_object_get(o, "end_ms"));
		if (end_min && e < *end_min)
			*end_min = e;
		if (end_max && e > *end_max)
			*end_max = e;
		json_decref(o);
		n++;
	}
	if (n >= 0) {
		int zerr;

		gzerror(f, &zerr);
		if (zerr != Z_OK && zerr != Z_STREAM_END)
			n = -1;
	}
	gzclose(f);
	return n;
}

/* One gzip member of a file: its compressed size and its JSON (malloc'd). */
struct member {
	size_t gz_len;
	char *json;
	size_t json_len;
};

/*
 * The gzip members of a file, each decompressed and checked alone (its JSON
 * ends a line): how many, or -1 if the file is not all members.  The first
 * `max` are kept in m[] (NULL: none), for the caller to free.
 */
static long read_members(const char *path, struct member *m, long max)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	unsigned char *buf, out[65536];
	z_stream z = { 0 };
	long n = 0;
	size_t off = 0;

	if (fd < 0 || fstat(fd, &st))
		return -1;
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	while (off < (size_t)st.st_size) {
		char *json = NULL;
		size_t json_len = 0;
		int rc;

		assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
		z.next_in = buf + off;
		z.avail_in = (uInt)((size_t)st.st_size - off);
		do {
			size_t got;

			z.next_out = out;
			z.avail_out = sizeof(out);
			rc = inflate(&z, Z_NO_FLUSH);
			got = sizeof(out) - z.avail_out;
			if (n < max && got) {
				json = realloc(json, json_len + got);
				assert_non_null(json);
				memcpy(json + json_len, out, got);
			}
			json_len += got;
		} while (rc == Z_OK);
		if (rc != Z_STREAM_END || out[sizeof(out) - z.avail_out - 1] != '\n') {
			inflateEnd(&z);
			free(json);
			n = -1;
			break;
		}
		if (n < max)
			m[n] = (struct member){ .gz_len = (size_t)st.st_size - z.avail_in - off,
						.json = json,
						.json_len = json_len };
		off = (size_t)st.st_size - z.avail_in;
		inflateEnd(&z);
		n++;
	}
	free(buf);
	return n;
}

static long count_members(const char *path)
{
	return read_members(path, NULL, 0);
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : st.st_size;
}

static void mk_tmp(char *dir)
{
	assert_non_null(mkdtemp(dir));
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_ids(void **state)
{
	char buf[FILES_ID_MAX + 1];

	(void)state;
	assert_int_equal(files_check_id("node-3.example_a"), 0);
	assert_int_equal(files_check_id("a"), 0);
	assert_int_equal(files_check_id(""), -EINVAL);
	assert_int_equal(files_check_id(NULL), -EINVAL);
	assert_int_equal(files_check_id(".hidden"), -EINVAL);
	assert_int_equal(files_check_id("a/b"), -EINVAL);
	assert_int_equal(files_check_id("a b"), -EINVAL);
	memset(buf, 'x', FILES_ID_MAX);
	buf[FILES_ID_MAX] = '\0';
	assert_int_equal(files_check_id(buf), 0);
	{
		char longer[FILES_ID_MAX + 2];

		memset(longer, 'x', sizeof(longer) - 1);
		longer[sizeof(longer) - 1] = '\0';
		assert_int_equal(files_check_id(longer), -EINVAL);
	}
	files_default_id(buf, sizeof(buf));
	assert_int_equal(files_check_id(buf), 0);
	assert_int_equal(files_err_class(-ENOSPC), FILES_ERR_NOSPC);
	assert_int_equal(files_err_class(EDQUOT), FILES_ERR_NOSPC);
	assert_int_equal(files_err_class(-EROFS), FILES_ERR_ROFS);
	assert_int_equal(files_err_class(-EACCES), FILES_ERR_ACCESS);
	assert_int_equal(files_err_class(-EIO), FILES_ERR_IO);
	assert_int_equal(files_err_class(-EFBIG), FILES_ERR_OTHER);
	assert_string_equal(files_err_name(FILES_ERR_NOSPC), "nospace");
	assert_string_equal(files_rotation_name(FILES_ROT_AGE), "age");
}

static void test_new_errors(void **state)
{
	struct files_opts o = { .dir = "/nonexistent-pf-dir/data", .collector_id = "c1" };
	char why[256];

	(void)state;
	assert_null(files__new(&o, why, sizeof(why)));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(why, "/nonexistent-pf-dir/data/flows"));
	o.dir = "/tmp";
	o.collector_id = "bad/id";
	assert_null(files__new(&o, why, sizeof(why)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(why, "bad/id"));
	o.collector_id = "c1";
	o.level = 10;
	assert_null(files__new(&o, why, sizeof(why)));
	assert_int_equal(errno, EINVAL);
	o.level = 0;
	o.compressor = (enum files_compressor)7;
	assert_null(files__new(&o, why, sizeof(why)));
	assert_int_equal(errno, EINVAL);
	assert_string_equal(why, "compressor 7: libdeflate or isa-l");
}

/* The names sinks.files.compressor takes, exactly. */
static void test_compressor_names(void **state)
{
	enum files_compressor c = (enum files_compressor)9;

	(void)state;
	assert_int_equal(files_compressor_parse("isa-l", &c), 0);
	assert_int_equal(c, FILES_ISAL);
	assert_int_equal(files_compressor_parse("libdeflate", &c), 0);
	assert_int_equal(c, FILES_LIBDEFLATE);
	assert_int_equal(files_compressor_parse("ISA-L", &c), -EINVAL);
	assert_int_equal(files_compressor_parse("isal", &c), -EINVAL);
	assert_int_equal(files_compressor_parse("zlib", &c), -EINVAL);
	assert_int_equal(files_compressor_parse("", &c), -EINVAL);
	assert_int_equal(files_compressor_parse(NULL, &c), -EINVAL);
	assert_int_equal(c, FILES_LIBDEFLATE); /* a refused name leaves it */
}

/* Records land in the hour of their end_ms (UTC), hidden until published. */
static void test_partition_path(void **state)
{
	char dir[] = "/tmp/pf-filesink-XXXXXX", pat[512], path[512];
	struct flow_record *r = make_recs(6, T_2311_22, 100);
	struct wire_batch b = { .n_records = 6, .records = r };
	struct files_stats st;
	struct files *fs;
	uint64_t bytes = 0, sum, lo, hi;

	(void)state;
	mk_tmp(dir);
	/* 2 in 2023-11-14 22h, 3 in the last ms of 2023, 1 in the first of 2024 */
	r[2].end_ms = r[3].end_ms = r[4].end_ms = T_2312_3123;
	r[5].end_ms = T_2401_0100;
	fs = open_sink(dir, "node-1", 0, 0);
	assert_string_equal(files__path(fs), strcat(strcpy(path, dir), "/flows"));
	assert_int_equal(files__write(fs, &b, NULL, 1 * NS, &bytes), 0);
	assert_true(bytes > 6 * 300);
	files__stats(fs, &st);
	assert_int_equal(st.files_open, 3);
	assert_int_equal(st.records, 6);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.bytes, bytes);
	assert_int_equal(st.files_published, 0);
	/* written, hidden, nothing visible yet */
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/.part-node-1-*.json.gz", dir);
	assert_int_equal(glob_count(pat, path, sizeof(path)), 1);
	assert_int_equal(read_gz(path, &sum, NULL, NULL), 2); /* readable while hidden */
	snprintf(pat, sizeof(pat), "%s/flows/dt=*/hr=*/part-*", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 0);

	assert_int_equal(files__close(fs), 0);
	files__stats(fs, &st);
	assert_int_equal(st.files_open, 0);
	assert_int_equal(st.files_published, 3);
	assert_int_equal(st.rotations[FILES_ROT_CLOSE], 3);
	snprintf(pat, sizeof(pat), "%s/flows/dt=*/hr=*/.part-*", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 0);
	snprintf(pat, sizeof(pat), "%s/flows/dt=*/hr=*/part-*", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 3);

	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/part-node-1-*.json.gz", dir);
	assert_int_equal(glob_count(pat, path, sizeof(path)), 1);
	assert_int_equal(read_gz(path, &sum, &lo, &hi), 2);
	assert_int_equal(sum, 100 + 101);
	assert_int_equal(lo, T_2311_22);
	assert_int_equal(hi, T_2311_22);
	assert_int_equal(count_members(path), 1);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-12-31/hr=23/part-node-1-*.json.gz", dir);
	assert_int_equal(glob_count(pat, path, sizeof(path)), 1);
	assert_int_equal(read_gz(path, &sum, &lo, &hi), 3);
	assert_int_equal(sum, 102 + 103 + 104);
	assert_int_equal(lo, T_2312_3123);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2024-01-01/hr=00/part-node-1-*.json.gz", dir);
	assert_int_equal(glob_count(pat, path, sizeof(path)), 1);
	assert_int_equal(read_gz(path, &sum, &lo, &hi), 1);
	assert_int_equal(sum, 105);
	assert_int_equal(lo, T_2401_0100);
	/* the bytes counted are the bytes in the files */
	{
		off_t total = 0;
		glob_t g;

		snprintf(pat, sizeof(pat), "%s/flows/dt=*/hr=*/part-*", dir);
		assert_int_equal(glob(pat, 0, NULL, &g), 0);
		for (size_t i = 0; i < g.gl_pathc; i++)
			total += file_size(g.gl_pathv[i]);
		globfree(&g);
		assert_int_equal((uint64_t)total, st.bytes_compressed);
	}
	files__free(fs);
	free(r);
	rm_rf(dir);
}

/* Each batch is one member; keep[] picks records; the file reads as one stream. */
static void test_members_and_keep(void **state)
{
	char dir[] = "/tmp/pf-filesink-XXXXXX", pat[512], path[512];
	struct flow_record *r = make_recs(1000, T_2311_22, 0);
	struct wire_batch b = { .n_records = 1000, .records = r };
	bool *keep = calloc(1000, sizeof(bool));
	struct files_stats st;
	struct files *fs;
	uint64_t bytes, sum, want = 0;

	(void)state;
	mk_tmp(dir);
	fs = open_sink(dir, "c", 0, 0);
	for (int k = 0; k < 3; k++)
		assert_int_equal(files__write(fs, &b, NULL, NS, &bytes), 0);
	for (uint32_t i = 0; i < 1000; i++) {
		keep[i] = i % 7 == 0;
		if (keep[i])
			want += i;
	}
	assert_int_equal(files__write(fs, &b, keep, NS, &bytes), 0);
	memset(keep, 0, 1000);
	assert_int_equal(files__write(fs, &b, keep, NS, &bytes), 0); /* nothing kept */
	assert_int_equal(bytes, 0);
	files__stats(fs, &st);
	assert_int_equal(st.batches, 4);
	assert_int_equal(st.records, 3000 + 143);
	files__free(fs); /* publishes */
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/part-c-*.json.gz", dir);
	assert_int_equal(glob_count(pat, path, sizeof(path)), 1);
	assert_int_equal(count_members(path), 4);
	assert_int_equal(read_gz(path, &sum, NULL, NULL), 3143);
	assert_int_equal(sum, 3 * (999 * 1000 / 2) + want);
	free(keep);
	free(r);
	rm_rf(dir);
}

/*
 * Compressor isa-l: the same JSON as libdeflate's writer, batch by batch in
 * the same members, each member exactly what ISA-L's level 2 makes of that
 * JSON in one call (so every record went through it, whole).
 */
static void test_isal_members(void **state)
{
	char d1[] = "/tmp/pf-filesink-XXXXXX", d2[] = "/tmp/pf-filesink-XXXXXX";
	char pat[512], p1[512], p2[512];
	struct flow_record *r = make_recs(1000, T_2311_22, 0);
	struct wire_batch b = { .n_records = 1000, .records = r };
	bool keep[1000];
	struct files *fs1, *fs2;
	struct files_stats st1, st2;
	struct member m1[3], m2[3];
	uint64_t bytes1, bytes2, gz = 0;

	(void)state;
	mk_tmp(d1);
	mk_tmp(d2);
	for (uint32_t i = 0; i < 1000; i++)
		keep[i] = i % 3 == 0;
	fs1 = open_sink_with(d1, FILES_LIBDEFLATE);
	fs2 = open_sink_with(d2, FILES_ISAL);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(files__write(fs1, &b, k == 2 ? keep : NULL, NS, &bytes1), 0);
		assert_int_equal(files__write(fs2, &b, k == 2 ? keep : NULL, NS, &bytes2), 0);
		assert_int_equal(bytes2, bytes1);
	}
	files__stats(fs1, &st1);
	files__stats(fs2, &st2);
	files__free(fs1);
	files__free(fs2);
	assert_int_equal(st2.records, 2000 + 334);
	assert_int_equal(st2.bytes, st1.bytes);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/part-c-*.json.gz", d1);
	assert_int_equal(glob_count(pat, p1, sizeof(p1)), 1);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/part-c-*.json.gz", d2);
	assert_int_equal(glob_count(pat, p2, sizeof(p2)), 1);
	assert_int_equal(read_members(p1, m1, 3), 3);
	assert_int_equal(read_members(p2, m2, 3), 3);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(m2[k].json_len, m1[k].json_len);
		assert_memory_equal(m2[k].json, m1[k].json, m1[k].json_len);
		assert_int_equal(m2[k].gz_len, isal_member_len(m1[k].json, m1[k].json_len));
		gz += m2[k].gz_len;
		free(m1[k].json);
		free(m2[k].json);
	}
	assert_int_equal(gz, st2.bytes_compressed);
	assert_int_equal(file_size(p2), (off_t)st2.bytes_compressed);
	free(r);
	rm_rf(d1);
	rm_rf(d2);
}

/*
 * A member whose JSON is past what is compressed whole (8 MiB: the writer
 * streams the rest, through zlib for libdeflate's members) is still one
 * member with every record, between members compressed whole.
 */
static void large_member(enum files_compressor c)
{
	enum { BIG = 30000, SMALL = 10 };
	char dir[] = "/tmp/pf-filesink-XXXXXX", pat[512], path[512];
	struct flow_record *r = make_recs(BIG, T_2311_22, 0);
	struct wire_batch big = { .n_records = BIG, .records = r };
	struct wire_batch small = { .n_records = SMALL, .records = r };
	struct files_stats st;
	struct files *fs;
	uint64_t bytes, sum;

	mk_tmp(dir);
	fs = open_sink_with(dir, c);
	assert_int_equal(files__write(fs, &small, NULL, NS, &bytes), 0);
	assert_int_equal(files__write(fs, &big, NULL, NS, &bytes), 0);
	assert_true(bytes > (8u << 20)); /* the streamed path was taken */
	assert_int_equal(files__write(fs, &small, NULL, NS, &bytes), 0);
	files__stats(fs, &st);
	assert_int_equal(st.batches, 3);
	assert_int_equal(st.records, BIG + 2 * SMALL);
	files__free(fs);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/part-c-*.json.gz", dir);
	assert_int_equal(glob_count(pat, path, sizeof(path)), 1);
	assert_int_equal(count_members(path), 3);
	assert_int_equal(read_gz(path, &sum, NULL, NULL), BIG + 2 * SMALL);
	assert_int_equal(sum, (uint64_t)BIG * (BIG - 1) / 2 + 2 * (SMALL * (SMALL - 1) / 2));
	assert_int_equal(file_size(path), (off_t)st.bytes_compressed);
	free(r);
	rm_rf(dir);
}

static void test_large_member(void **state)
{
	(void)state;
	large_member(FILES_LIBDEFLATE);
}

static void test_large_member_isal(void **state)
{
	(void)state;
	large_member(FILES_ISAL);
}

/* A file reaching max_bytes is published at the next call after the batch that filled it. */
static void test_rotation_size(void **state)
{
	char dir[] = "/tmp/pf-filesink-XXXXXX", pat[512];
	struct flow_record *r = make_recs(200, T_2311_22, 0);
	struct wire_batch b = { .n_records = 200, .records = r };
	struct files_stats st;
	struct files *fs;
	uint64_t bytes, member;
	glob_t g;

	(void)state;
	mk_tmp(dir);
	/* every batch its own file */
	fs = open_sink(dir, "c", 1, 0);
	for (int k = 0; k < 5; k++)
		assert_int_equal(files__write(fs, &b, NULL, NS, &bytes), 0);
	files__stats(fs, &st);
	assert_int_equal(st.rotations[FILES_ROT_SIZE], 4);
	assert_int_equal(st.files_open, 1);
	assert_int_equal(files__tick(fs, 2 * NS), 0); /* the last one out: full, not aged */
	files__stats(fs, &st);
	assert_int_equal(st.rotations[FILES_ROT_SIZE], 5);
	assert_int_equal(st.rotations[FILES_ROT_AGE], 0);
	assert_int_equal(st.files_published, 5);
	assert_int_equal(st.files_open, 0);
	member = st.bytes_compressed / 5; /* the same records make the same member */
	assert_int_equal(member * 5, st.bytes_compressed);
	files__free(fs);
	rm_rf(dir);

	/* three members per file: 7 batches -> 2 files of 3, 1 of 1 (published at close) */
	strcpy(dir, "/tmp/pf-filesink-XXXXXX");
	mk_tmp(dir);
	fs = open_sink(dir, "c", 2 * member + 1, 0);
	for (int k = 0; k < 7; k++)
		assert_int_equal(files__write(fs, &b, NULL, NS, &bytes), 0);
	files__stats(fs, &st);
	assert_int_equal(st.rotations[FILES_ROT_SIZE], 2);
	assert_int_equal(st.files_open, 1);
	assert_int_equal(files__close(fs), 0);
	files__stats(fs, &st);
	assert_int_equal(st.rotations[FILES_ROT_CLOSE], 1);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/part-c-*.json.gz", dir);
	assert_int_equal(glob(pat, 0, NULL, &g), 0);
	assert_int_equal(g.gl_pathc, 3);
	{
		long m[3];

		for (int i = 0; i < 3; i++) {
			m[i] = count_members(g.gl_pathv[i]);
			assert_int_equal(file_size(g.gl_pathv[i]), m[i] * (long)member);
			assert_int_equal(read_gz(g.gl_pathv[i], NULL, NULL, NULL), 200 * m[i]);
		}
		/* names sort by number: the order they were opened in */
		assert_int_equal(m[0], 3);
		assert_int_equal(m[1], 3);
		assert_int_equal(m[2], 1);
	}
	globfree(&g);
	files__free(fs);
	free(r);
	rm_rf(dir);
}

/* max_age from when a file was opened; the tick publishes, an empty hour is not a file. */
static void test_rotation_age(void **state)
{
	char dir[] = "/tmp/pf-filesink-XXXXXX", pat[512];
	struct flow_record *r = make_recs(10, T_2311_22, 0);
	struct wire_batch b = { .n_records = 10, .records = r };
	struct files_stats st;
	struct files *fs;
	uint64_t bytes;

	(void)state;
	mk_tmp(dir);
	fs = open_sink(dir, "c", 0, 10 * NS);
	assert_int_equal(files__write(fs, &b, NULL, 1 * NS, &bytes), 0);
	assert_int_equal(files__write(fs, &b, NULL, 9 * NS, &bytes), 0); /* no renewal */
	assert_int_equal(files__tick(fs, 11 * NS - 1), 0);
	files__stats(fs, &st);
	assert_int_equal(st.files_published, 0);
	assert_int_equal(files__tick(fs, 11 * NS), 0);
	files__stats(fs, &st);
	assert_int_equal(st.files_published, 1);
	assert_int_equal(st.rotations[FILES_ROT_AGE], 1);
	assert_int_equal(st.files_open, 0);
	/* the same hour again: a new file */
	assert_int_equal(files__write(fs, &b, NULL, 12 * NS, &bytes), 0);
	files__stats(fs, &st);
	assert_int_equal(st.files_open, 1);
	assert_int_equal(files__tick(fs, 21 * NS), 0);
	files__stats(fs, &st);
	assert_int_equal(st.files_open, 1);
	assert_int_equal(files__tick(fs, 22 * NS), 0);
	files__stats(fs, &st);
	assert_int_equal(st.rotations[FILES_ROT_AGE], 2);
	assert_int_equal(st.rotations[FILES_ROT_CLOSE], 0);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/part-c-*.json.gz", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 2);
	files__free(fs);
	free(r);
	rm_rf(dir);
}

/* More hours than FILES_MAX_OPEN: the least recently written goes out. */
static void test_open_limit(void **state)
{
	char dir[] = "/tmp/pf-filesink-XXXXXX", pat[512];
	uint32_t n = FILES_MAX_OPEN + 4;
	struct flow_record *r = make_recs(n, T_2311_22, 0);
	struct wire_batch one = { .n_records = 1 }, all = { .n_records = n, .records = r };
	struct files_stats st;
	struct files *fs;
	uint64_t bytes;

	(void)state;
	mk_tmp(dir);
	for (uint32_t i = 0; i < n; i++)
		r[i].end_ms = T_2311_22 + i * HOUR_MS;
	fs = open_sink(dir, "c", 0, 0);
	/* one hour per batch: the 17th opens one too many; the next call publishes the first */
	for (uint32_t i = 0; i <= FILES_MAX_OPEN; i++) {
		one.records = &r[i];
		assert_int_equal(files__write(fs, &one, NULL, (i + 1) * NS, &bytes), 0);
	}
	files__stats(fs, &st);
	assert_int_equal(st.files_open, FILES_MAX_OPEN + 1);
	assert_int_equal(files__tick(fs, 20 * NS), 0);
	files__stats(fs, &st);
	assert_int_equal(st.rotations[FILES_ROT_LIMIT], 1);
	assert_int_equal(st.files_open, FILES_MAX_OPEN);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/part-c-*.json.gz", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 1);
	assert_int_equal(files__close(fs), 0);
	/* one batch over 20 hours: all of them open while it is written, 4 out after */
	assert_int_equal(files__write(fs, &all, NULL, 100 * NS, &bytes), 0);
	files__stats(fs, &st);
	assert_int_equal(st.files_open, n);
	assert_int_equal(files__tick(fs, 101 * NS), 0);
	files__stats(fs, &st);
	assert_int_equal(st.rotations[FILES_ROT_LIMIT], 1 + 4);
	assert_int_equal(st.files_open, FILES_MAX_OPEN);
	assert_int_equal(st.records, FILES_MAX_OPEN + 1 + n);
	files__free(fs);
	snprintf(pat, sizeof(pat), "%s/flows/dt=*/hr=*/part-c-*.json.gz", dir);
	assert_int_equal(glob_count(pat, NULL, 0), FILES_MAX_OPEN + 1 + n);
	free(r);
	rm_rf(dir);
}

/*
 * files__undo takes the last batch back from every file it touched (one
 * it opened is left empty, never published), and only right after it.
 */
static void test_undo(void **state)
{
	char dir[] = "/tmp/pf-filesink-XXXXXX", pat[512], p22[512], p23[512];
	struct flow_record *a = make_recs(100, T_2311_22, 0);
	struct flow_record *b2 = make_recs(100, T_2311_22, 1000);
	struct wire_batch ba = { .n_records = 100, .records = a };
	struct wire_batch bb = { .n_records = 100, .records = b2 };
	struct files_stats st, before;
	struct files *fs;
	uint64_t bytes, sum;
	off_t s22;

	(void)state;
	mk_tmp(dir);
	for (int i = 50; i < 100; i++)
		b2[i].end_ms = T_2311_22 + HOUR_MS;
	fs = open_sink(dir, "c", 0, 0);
	assert_int_equal(files__undo(fs), -ENOENT); /* nothing written yet */
	assert_int_equal(files__write(fs, &ba, NULL, NS, &bytes), 0);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/.part-c-*.json.gz", dir);
	assert_int_equal(glob_count(pat, p22, sizeof(p22)), 1);
	s22 = file_size(p22);
	files__stats(fs, &before);
	assert_int_equal(files__write(fs, &bb, NULL, NS, &bytes), 0);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=23/.part-c-*.json.gz", dir);
	assert_int_equal(glob_count(pat, p23, sizeof(p23)), 1);
	assert_true(file_size(p22) > s22);
	assert_true(file_size(p23) > 0);
	assert_int_equal(files__undo(fs), 0);
	assert_int_equal(file_size(p22), s22);
	assert_int_equal(file_size(p23), 0);
	files__stats(fs, &st);
	assert_int_equal(st.records, before.records);
	assert_int_equal(st.batches, before.batches);
	assert_int_equal(st.bytes, before.bytes);
	assert_int_equal(st.bytes_compressed, before.bytes_compressed);
	assert_int_equal(files__undo(fs), -ENOENT); /* once */
	/* the sender's retry of the first batch's hour only, then a tick: no undo */
	assert_int_equal(files__write(fs, &ba, NULL, NS, &bytes), 0);
	assert_int_equal(files__tick(fs, 2 * NS), 0);
	assert_int_equal(files__undo(fs), -ENOENT);
	files__free(fs);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/part-c-*.json.gz", dir);
	assert_int_equal(glob_count(pat, p22, sizeof(p22)), 1);
	assert_int_equal(count_members(p22), 2);
	assert_int_equal(read_gz(p22, &sum, NULL, NULL), 200);
	assert_int_equal(sum, 2 * (99 * 100 / 2));
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=23/*part-*", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 0); /* left empty: removed, not published */

	/* a batch that fills its file can still be taken back: the publish waits */
	rm_rf(dir);
	strcpy(dir + strlen(dir) - 6, "XXXXXX");
	mk_tmp(dir);
	fs = open_sink(dir, "c", 1, 0);
	assert_int_equal(files__write(fs, &ba, NULL, NS, &bytes), 0);
	assert_int_equal(files__undo(fs), 0);
	assert_int_equal(files__tick(fs, 2 * NS), 0);
	files__stats(fs, &st);
	assert_int_equal(st.files_published, 0);
	assert_int_equal(st.records, 0);
	snprintf(pat, sizeof(pat), "%s/flows/dt=*/hr=*/part-*", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 0);
	files__free(fs); /* the empty file: removed */
	snprintf(pat, sizeof(pat), "%s/flows/dt=*/hr=*/*part-*", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 0);
	free(a);
	free(b2);
	rm_rf(dir);
}

/*
 * Two writers (two threads' sinks) never share a name, in the same hour:
 * with their own numbers, and drawing from one group's as the output stage's do.
 */
static void test_two_writers(void **state)
{
	char dir[] = "/tmp/pf-filesink-XXXXXX", pat[512], why[256];
	struct flow_record *r = make_recs(5, T_2311_22, 0);
	struct wire_batch b = { .n_records = 5, .records = r };
	struct files_group *g = files_group__new();
	struct files_opts o = { .dir = dir, .collector_id = "same", .group = g };
	struct files *a, *c;
	uint64_t bytes;

	(void)state;
	assert_non_null(g);
	mk_tmp(dir);
	a = open_sink(dir, "same", 0, 0);
	c = open_sink(dir, "same", 0, 0);
	assert_int_equal(files__write(a, &b, NULL, NS, &bytes), 0);
	assert_int_equal(files__write(c, &b, NULL, NS, &bytes), 0);
	files__free(a);
	files__free(c);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/part-same-*.json.gz", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 2);
	a = files__new(&o, why, sizeof(why));
	c = files__new(&o, why, sizeof(why));
	assert_non_null(a);
	assert_non_null(c);
	assert_int_equal(files__write(a, &b, NULL, NS, &bytes), 0);
	assert_int_equal(files__write(c, &b, NULL, NS, &bytes), 0);
	files__free(a);
	files__free(c);
	assert_int_equal(glob_count(pat, NULL, 0), 4);
	files_group__free(g);
	free(r);
	rm_rf(dir);
}

/* A hidden file removed under the writer (a retention job): counted, logged, not retried. */
static void test_deleted_while_open(void **state)
{
	char dir[] = "/tmp/pf-filesink-XXXXXX", pat[512], path[512];
	struct flow_record *r = make_recs(10, T_2311_22, 0);
	struct wire_batch b = { .n_records = 10, .records = r };
	struct files_stats st;
	struct files *fs;
	uint64_t bytes;

	(void)state;
	mk_tmp(dir);
	fs = open_sink(dir, "c", 0, 0);
	assert_int_equal(files__write(fs, &b, NULL, NS, &bytes), 0);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/.part-c-*.json.gz", dir);
	assert_int_equal(glob_count(pat, path, sizeof(path)), 1);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(files__close(fs), 0);
	files__stats(fs, &st);
	assert_int_equal(st.files_open, 0);
	assert_int_equal(st.files_published, 0);
	assert_int_equal(st.publish_errors[FILES_ERR_OTHER], 1);
	snprintf(pat, sizeof(pat), "%s/flows/dt=*/hr=*/*part-*", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 0);
	/* the hour goes on in a new file */
	assert_int_equal(files__write(fs, &b, NULL, NS, &bytes), 0);
	files__free(fs);
	assert_int_equal(glob_count(pat, NULL, 0), 1);
	free(r);
	rm_rf(dir);
}

#define CHILD_CHECK(c)                                                                        \
	do {                                                                                  \
		if (!(c)) {                                                                   \
			fprintf(stderr, "child %s:%d: failed: %s\n", __FILE__, __LINE__, #c); \
			_exit(1);                                                             \
		}                                                                             \
	} while (0)

/*
 * A batch that fails half way (here the file size limit: EFBIG, the same
 * path as ENOSPC) leaves every file it touched as it was, in two hours.
 * In a child: RLIMIT_FSIZE is the process's.
 */
static void failing_child(const char *dir)
{
	struct flow_record *small = make_recs(50, T_2311_22, 0);
	struct flow_record *mixed = make_recs(4000, T_2311_22 + HOUR_MS, 1000000);
	struct wire_batch b1 = { .n_records = 50, .records = small };
	struct wire_batch b2 = { .n_records = 4000, .records = mixed };
	char pat[512], p22[512], p23[512];
	struct files_stats st;
	struct files *fs;
	struct rlimit rl;
	uint64_t bytes, sum;
	off_t s22, s23;

	signal(SIGXFSZ, SIG_IGN);
	/* the first 10 records of the big batch go to hour 22 (a small member), the rest to 23 */
	for (int i = 0; i < 10; i++)
		mixed[i].end_ms = T_2311_22;
	for (int i = 10; i < 4000; i++)
		mixed[i].bytes_sent = (uint64_t)random(); /* poorly compressible: a big member */
	fs = open_sink(dir, "c", 0, 0);
	b1.records = small;
	CHILD_CHECK(files__write(fs, &b1, NULL, NS, &bytes) == 0);
	small[0].end_ms = T_2311_22 + HOUR_MS;
	b1.n_records = 1;
	CHILD_CHECK(files__write(fs, &b1, NULL, NS, &bytes) == 0);
	b1.n_records = 50;
	small[0].end_ms = T_2311_22;
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/.part-c-*.json.gz", dir);
	CHILD_CHECK(glob_count(pat, p22, sizeof(p22)) == 1);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=23/.part-c-*.json.gz", dir);
	CHILD_CHECK(glob_count(pat, p23, sizeof(p23)) == 1);
	s22 = file_size(p22);
	s23 = file_size(p23);
	CHILD_CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0);
	rl.rlim_cur = (rlim_t)(s23 + 20000); /* hour 22's small member fits, 23's does not */
	CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
	CHILD_CHECK(files__write(fs, &b2, NULL, 2 * NS, &bytes) == -EFBIG);
	CHILD_CHECK(bytes == 0);
	CHILD_CHECK(file_size(p22) == s22);
	CHILD_CHECK(file_size(p23) == s23);
	files__stats(fs, &st);
	CHILD_CHECK(st.write_errors[FILES_ERR_OTHER] == 1);
	CHILD_CHECK(st.batches == 2);
	CHILD_CHECK(st.records == 51);
	CHILD_CHECK(files__backoff(fs, 2 * NS));
	CHILD_CHECK(files__backoff(fs, 3 * NS - 1));
	CHILD_CHECK(!files__backoff(fs, 3 * NS));
	/* the sender retries once there is room: all of it, once */
	rl.rlim_cur = RLIM_INFINITY;
	CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
	CHILD_CHECK(files__write(fs, &b2, NULL, 3 * NS, &bytes) == 0);
	CHILD_CHECK(!files__backoff(fs, 3 * NS));
	CHILD_CHECK(files__close(fs) == 0);
	files__free(fs);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/part-c-*.json.gz", dir);
	CHILD_CHECK(glob_count(pat, p22, sizeof(p22)) == 1);
	CHILD_CHECK(count_members(p22) == 2);
	CHILD_CHECK(read_gz(p22, &sum, NULL, NULL) == 60);
	CHILD_CHECK(sum == 49 * 50 / 2 + (10 * 1000000 + 45));
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=23/part-c-*.json.gz", dir);
	CHILD_CHECK(glob_count(pat, p23, sizeof(p23)) == 1);
	CHILD_CHECK(count_members(p23) == 2);
	CHILD_CHECK(read_gz(p23, NULL, NULL, NULL) == 1 + 3990);
	free(small);
	free(mixed);
	_exit(0);
}

static void test_failed_batch_undone(void **state)
{
	char dir[] = "/tmp/pf-filesink-XXXXXX";
	int st;
	pid_t pid;

	(void)state;
	mk_tmp(dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		failing_child(dir);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	rm_rf(dir);
}

/* A writer that dies without publishing: its hidden files stay (the crash recovery's input). */
static void die_child(const char *dir, const char *id, uint32_t batches)
{
	struct flow_record *r = make_recs(100, T_2311_22, 0);
	struct wire_batch b = { .n_records = 100, .records = r };
	struct files *fs = open_sink(dir, id, 0, 0);
	uint64_t bytes;

	for (uint32_t k = 0; k < batches; k++)
		CHILD_CHECK(files__write(fs, &b, NULL, NS, &bytes) == 0);
	_exit(0); /* no close: as a crash */
}

static void run_die_child(const char *dir, const char *id, uint32_t batches)
{
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		die_child(dir, id, batches);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void append_bytes(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static void test_recover(void **state)
{
	char dir[] = "/tmp/pf-filesink-XXXXXX", pat[512], path[512], hid[512], other[512];
	char why[256];
	struct files_recovery rec, total = { 0 };
	unsigned char *member;
	uint64_t sum;
	off_t good, msize;
	int fd;

	(void)state;
	mk_tmp(dir);
	/* nothing there yet: nothing to do, and no error */
	assert_int_equal(files_recover(dir, "c", &rec, why, sizeof(why)), 0);
	run_die_child(dir, "c", 3);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/.part-c-*.json.gz", dir);
	assert_int_equal(glob_count(pat, hid, sizeof(hid)), 1);
	good = file_size(hid);
	msize = good / 3;
	assert_int_equal(msize * 3, good);
	/* a crash mid-write: the first half of one more member */
	member = malloc((size_t)msize);
	fd = open(hid, O_RDONLY);
	assert_int_equal(read(fd, member, (size_t)msize), msize);
	close(fd);
	append_bytes(hid, member, (size_t)msize / 2);
	/* a file that holds no complete member, and an empty one */
	snprintf(path, sizeof(path), "%s/flows/dt=2023-11-14/hr=22/.part-c-17.json.gz", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_int_equal(write(fd, member, 10), 10);
	close(fd);
	snprintf(path, sizeof(path), "%s/flows/dt=2023-11-14/hr=22/.part-c-18.json.gz", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	close(fd);
	/* a whole member after garbage: the prefix ends at the garbage */
	snprintf(path, sizeof(path), "%s/flows/dt=2023-11-14/hr=22/.part-c-19.json.gz", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_int_equal(write(fd, member, (size_t)msize), msize);
	assert_int_equal(write(fd, "garbage!", 8), 8);
	assert_int_equal(write(fd, member, (size_t)msize), msize);
	close(fd);
	/* another collector's, which may be live: not ours to touch */
	run_die_child(dir, "other", 1);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/.part-other-*.json.gz", dir);
	assert_int_equal(glob_count(pat, other, sizeof(other)), 1);

	assert_int_equal(files_recover(dir, "c", &rec, why, sizeof(why)), 4);
	total.published += rec.published;
	assert_int_equal(rec.published, 2);
	assert_int_equal(rec.removed, 2);
	assert_int_equal(rec.errors, 0);
	assert_int_equal(rec.bytes_dropped, (uint64_t)(msize / 2) + 10 + 8 + (uint64_t)msize);
	/* the first: three members, 300 records, visible under its own name */
	snprintf(path, sizeof(path), "%s/%s", dir, "flows/dt=2023-11-14/hr=22/");
	strcat(path, strrchr(hid, '/') + 2);
	assert_int_equal(file_size(path), good);
	assert_int_equal(count_members(path), 3);
	assert_int_equal(read_gz(path, &sum, NULL, NULL), 300);
	assert_int_equal(sum, 3 * (99 * 100 / 2));
	snprintf(path, sizeof(path), "%s/flows/dt=2023-11-14/hr=22/part-c-19.json.gz", dir);
	assert_int_equal(count_members(path), 1);
	assert_int_equal(read_gz(path, NULL, NULL, NULL), 100);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/.part-c-*", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 0);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/part-c-1[78].json.gz", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 0);
	assert_int_equal(access(other, F_OK), 0);

	/* any collector's (id NULL); a visible name already taken gets a fresh number */
	snprintf(hid, sizeof(hid), "%s/flows/dt=2023-11-14/hr=22/.part-c-19.json.gz", dir);
	fd = open(hid, O_WRONLY | O_CREAT, 0644);
	assert_int_equal(write(fd, member, (size_t)msize), msize);
	close(fd);
	assert_int_equal(files_recover(dir, NULL, &rec, why, sizeof(why)), 2);
	total.published += rec.published;
	assert_int_equal(rec.published, 2);
	assert_int_equal(rec.bytes_dropped, 0);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/part-c-19.json.gz", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 1); /* the first, untouched */
	snprintf(path, sizeof(path), "%s/flows/dt=2023-11-14/hr=22/part-c-19.json.gz", dir);
	assert_int_equal(file_size(path), msize);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/part-c-*.json.gz", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 3);
	snprintf(pat, sizeof(pat), "%s/flows/dt=2023-11-14/hr=22/part-other-*.json.gz", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 1);
	snprintf(pat, sizeof(pat), "%s/flows/dt=*/hr=*/.*.json.gz", dir);
	assert_int_equal(glob_count(pat, NULL, 0), 0);
	/* what each run did is returned, not kept process-wide (the output stage keeps it) */
	assert_true(total.published >= 4);
	assert_int_equal(files_recover(dir, "bad/id", &rec, why, sizeof(why)), -EINVAL);
	free(member);
	rm_rf(dir);
}

static void test_null(void **state)
{
	char dir[] = "/tmp/pf-filesink-XXXXXX", path[512];
	struct flow_record *r = make_recs(3, T_2311_22, 0);
	struct wire_batch b = { .n_records = 3, .records = r };
	struct files_opts o = { .dir = dir, .collector_id = "c", .null = true };
	struct files_stats st;
	struct files *fs;
	uint64_t bytes = 1;
	char why[256];

	(void)state;
	mk_tmp(dir);
	fs = files__new(&o, why, sizeof(why));
	assert_non_null(fs);
	assert_string_equal(files__path(fs), "(null sink)");
	assert_int_equal(files__write(fs, &b, NULL, NS, &bytes), 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(files__tick(fs, 1000 * NS), 0);
	assert_int_equal(files__close(fs), 0);
	files__stats(fs, &st);
	assert_int_equal(st.records, 0);
	files__free(fs);
	snprintf(path, sizeof(path), "%s/flows", dir);
	assert_int_equal(access(path, F_OK), -1);
	free(r);
	rm_rf(dir);
}

static void test_stats_sum(void **state)
{
	struct files_stats a = { .records = 3, .files_open = 1 }, b = { .records = 4 }, sum = { 0 };

	(void)state;
	a.write_errors[FILES_ERR_NOSPC] = 2;
	b.write_errors[FILES_ERR_NOSPC] = 5;
	b.rotations[FILES_ROT_AGE] = 7;
	b.publish_errors[FILES_ERR_IO] = 1;
	files_stats_sum(&sum, &a);
	files_stats_sum(&sum, &b);
	assert_int_equal(sum.records, 7);
	assert_int_equal(sum.files_open, 1);
	assert_int_equal(sum.write_errors[FILES_ERR_NOSPC], 7);
	assert_int_equal(sum.rotations[FILES_ROT_AGE], 7);
	assert_int_equal(sum.publish_errors[FILES_ERR_IO], 1);
}

/* ---- throughput (printed, never asserted) ------------------------------------------ */

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Records like a real node's: a few pods and containers, many peers, real-looking counters. */
static struct flow_record *realistic(uint32_t n, struct flow_identity *peers, int n_peers)
{
	static const char *const comms[] = { "java", "nginx", "envoy", "python3", "node" };
	static const uint16_t ports[] = { 8080, 443, 5432, 6379, 9092, 53 };
	struct flow_record *r = calloc(n, sizeof(*r));
	uint64_t s = 0x9e3779b97f4a7c15ull;

	assert_non_null(r);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t x = xorshift(&s);

		r[i].end_ms = T_2311_22 + i * 5;
		r[i].start_ms = r[i].end_ms - 5000 + x % 5000;
		r[i].family = 4;
		r[i].direction = x & 1 ? FLOW_DIRECTION_OUT : FLOW_DIRECTION_IN;
		r[i].local_addr[10] = r[i].local_addr[11] = 0xff;
		r[i].local_addr[12] = 10;
		r[i].local_addr[14] = 3;
		r[i].local_addr[15] = (uint8_t)(7 + x % 5);
		r[i].remote_addr[10] = r[i].remote_addr[11] = 0xff;
		r[i].remote_addr[12] = 10;
		r[i].remote_addr[13] = (uint8_t)(x >> 8);
		r[i].remote_addr[14] = (uint8_t)(x >> 16);
		r[i].remote_addr[15] = (uint8_t)(x >> 24);
		r[i].remote_port = ports[(x >> 32) % 6];
		r[i].flows = 1 + (uint32_t)(x >> 40) % 20;
		r[i].closed = r[i].flows / 2;
		r[i].bytes_sent = xorshift(&s) % 2000000;
		r[i].bytes_received = xorshift(&s) % 20000000;
		r[i].segs_sent = r[i].bytes_sent / 1400 + 3;
		r[i].segs_received = r[i].bytes_received / 1400 + 3;
		r[i].retransmits = (uint32_t)(x >> 50) % 3;
		r[i].srtt_us = 100 + (uint32_t)(xorshift(&s) % 20000);
		r[i].min_rtt_us = r[i].srtt_us / 2;
		r[i].pid = 1000 + (uint32_t)(x % 5);
		r[i].cgroup_id = 5000 + x % 5;
		snprintf(r[i].comm, sizeof(r[i].comm), "%s", comms[x % 5]);
		for (int k = 0; k < 64; k++)
			r[i].container_id[k] = "0123456789abcdef"[(k * 7 + x % 5) % 16];
		r[i].container = comms[x % 5];
		r[i].local = &g_local;
		r[i].remote = x % 10 ? &peers[(x >> 12) % (uint64_t)n_peers] : NULL;
		r[i].remote_source = r[i].remote ? FLOW_SOURCE_KUBE : FLOW_SOURCE_UNATTRIBUTED;
	}
	return r;
}

static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One writer's CPU per record over `batches` writes of b, printed with its bytes. */
static void bench_sink(const struct files_opts *o, const struct wire_batch *b, int batches,
		       const char *name)
{
	struct files *fs = new_sink(o);
	struct files_stats st;
	uint64_t bytes;
	double t0, cpu;

	t0 = thread_cpu_s();
	for (int k = 0; k < batches; k++)
		assert_int_equal(files__write(fs, b, NULL, NS, &bytes), 0);
	cpu = thread_cpu_s() - t0;
	files__stats(fs, &st);
	print_message("bench: filesink %-16s %8.0f records/s/core, %5.1f B/record "
		      "(JSON %5.1f, ratio %4.1f)\n",
		      name, (double)batches * b->n_records / cpu,
		      (double)st.bytes_compressed / (double)st.records,
		      (double)st.bytes / (double)st.records,
		      (double)st.bytes / (double)st.bytes_compressed);
	files__free(fs);
}

static void bench(void **state)
{
	enum { N = 1000, BATCHES = 50, PEERS = 40 };
	static char names[PEERS][3][48];
	struct flow_identity peers[PEERS];
	struct flow_record *r;
	struct wire_batch b = { .n_records = N };
	const char *env = getenv("FILESINK_BENCH_BATCHES");
	int batches = env ? atoi(env) : BATCHES;
	char dir[] = "/tmp/pf-filesink-XXXXXX", why[256];
	uint64_t bytes;

	(void)state;
	for (int i = 0; i < PEERS; i++) {
		snprintf(names[i][0], sizeof(names[i][0]), "svc-%d", i);
		snprintf(names[i][1], sizeof(names[i][1]), "team-%d", i % 6);
		snprintf(names[i][2], sizeof(names[i][2]), "svc-%d-5d8c7b9f4-%05d", i,
			 i * 7919 % 99999);
		peers[i] = (struct flow_identity){ .app = names[i][0],
						   .namespace = names[i][1],
						   .pod = names[i][2],
						   .workload = names[i][0] };
	}
	r = realistic(N, peers, PEERS);
	b.records = r;
	mk_tmp(dir);
	/* the old sink (plain JSON lines) on the same records: the reference */
	{
		struct jsonl *s = jsonl__new(dir, "flows-w0.jsonl", false, why, sizeof(why));
		uint64_t total = 0;
		double t0;

		assert_non_null(s);
		t0 = thread_cpu_s();
		for (int k = 0; k < batches; k++) {
			assert_int_equal(jsonl__write(s, &b, NULL, &bytes), 0);
			total += bytes;
		}
		print_message(
		    "bench: json lines (old sink)  %8.0f records/s/core, %5.1f B/record\n",
		    (double)batches * N / (thread_cpu_s() - t0),
		    (double)total / ((double)batches * N));
		jsonl__free(s);
	}
	for (int level = 1; level <= 9; level++) {
		char name[32];

		if (level > 6 && level != 9)
			continue;
		snprintf(name, sizeof(name), "gzip level %d", level);
		bench_sink(
		    &(struct files_opts){ .dir = dir, .collector_id = "bench", .level = level }, &b,
		    batches, name);
	}
	bench_sink(
	    &(struct files_opts){ .dir = dir, .collector_id = "bench", .compressor = FILES_ISAL },
	    &b, batches, "isa-l (level 2)");
	free(r);
	rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_new_errors),
		cmocka_unit_test(test_partition_path),
		cmocka_unit_test(test_members_and_keep),
		cmocka_unit_test(test_compressor_names),
		cmocka_unit_test(test_isal_members),
		cmocka_unit_test(test_large_member),
		cmocka_unit_test(test_large_member_isal),
		cmocka_unit_test(test_rotation_size),
		cmocka_unit_test(test_rotation_age),
		cmocka_unit_test(test_open_limit),
		cmocka_unit_test(test_undo),
		cmocka_unit_test(test_two_writers),
		cmocka_unit_test(test_deleted_while_open),
		cmocka_unit_test(test_failed_batch_undone),
		cmocka_unit_test(test_recover),
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_stats_sum),
		cmocka_unit_test(bench),
	};

	log_init("test_filesink", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
