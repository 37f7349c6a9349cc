// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/insight/insight_rebuild: the view rebuilt from the collector's own flow files. */
/*
 * The files are written by the collector's file writer (outputs/files.h),
 * plus a hidden file, a file cut short, bad and over-long lines, and a file
 * of an hour outside the window.  The rebuild feeds the real view
 * (insight.h), and the tests read what reached it back through its API
 * (insight__query: /api/v1/edges and /api/v1/status), as the UI does.  Every
 * record here is a caller's (direction out), so each edge is one key and its
 * figures are that key's sums, reported_by "caller".
 *
 * How the rebuild cuts its batches (at most INSIGHT_REBUILD_BATCH per
 * insight__add) is not checked: the view takes any batch size and shows
 * none of them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>
#include <jansson.h>

#include "clock.h"
#include "files.h"
#include "flow.h"
#include "insight.h"
#include "insight_rebuild.h"
#include "insight_record.h"
#include "jsonw.h"
#include "log.h"
#include "wire.h"

#define HOUR_MS 3600000ull
#define WAIT_MS 30000

/* ---- the view, read through its API ---------------------------------------------- */

/*
 * The rebuild feeds the view at the wall clock, and test_rebuild's window
 * reaches back to half an hour into the previous hour: up to 90 minutes.
 * A default (1 h) view would count the oldest of those records as too old
 * itself; a 2 h one holds every record the rebuild feeds, so its own
 * too_old stays 0 and whatever was skipped, the rebuild skipped.
 */
#define VIEW_WINDOW_MS (2 * HOUR_MS)

static struct insight *view_new(void)
{
	struct insight_opts o = { .window_ms = VIEW_WINDOW_MS };
	struct insight *in = insight__new(&o);

	assert_non_null(in);
	return in;
}

/* The query's parameters: name, value, ..., NULL. */
static const char *arg_of(void *ctx, const char *name)
{
	const char *const *kv = ctx;

	for (; kv && kv[0]; kv += 2)
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	return NULL;
}

static const char *const all_edges[] = { "limit", "1000", NULL };

/*
 * GET path from the view, which must answer 200 with JSON.  Asked at the
 * wall clock: every record here is stamped before it and within the
 * window.  The caller json_decref()s the answer.
 */
static json_t *api_get(struct insight *in, const char *path, const char *const *args)
{
	struct jsonw *jw = jsonw__new();
	json_error_t jerr;
	const char *data;
	size_t len;
	json_t *j;

	assert_non_null(jw);
	assert_int_equal(
	    insight__query(in, path, arg_of, (void *)args, jw, (uint64_t)clock_wall_ms()), 200);
	assert_int_equal(jsonw__error(jw), 0);
	data = jsonw__data(jw, &len);
	j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		print_error("%s: not JSON (%s): %.*s\n", path, jerr.text, (int)len, data);
	assert_true(json_is_object(j));
	jsonw__free(jw);
	return j;
}

static uint64_t ju(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v))
		print_error("no integer \"%s\"\n", k);
	assert_true(json_is_integer(v));
	return (uint64_t)json_integer_value(v);
}

static const char *js(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_string(v))
		print_error("no string \"%s\"\n", k);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

/* The edge from -> to on port in an /api/v1/edges answer (borrowed), NULL when there is none. */
static json_t *edge_of(json_t *answer, const char *from, const char *to, uint64_t port)
{
	json_t *edges = json_object_get(answer, "edges"), *e;
	size_t i;

	assert_true(json_is_array(edges));
	json_array_foreach(edges, i, e)
	{
		if (strcmp(js(e, "from"), from) == 0 && strcmp(js(e, "to"), to) == 0 &&
		    ju(e, "port") == port)
			return e;
	}
	return NULL;
}

/* An edge the callers reported, with exactly these figures. */
static void expect_edge(json_t *answer, const char *from, const char *to, uint64_t port,
			uint64_t flows, uint64_t bytes_sent, uint64_t bytes_received)
{
	json_t *e = edge_of(answer, from, to, port);

	if (!e)
		print_error("no edge %s -> %s:%llu\n", from, to, (unsigned long long)port);
	assert_non_null(e);
	assert_string_equal(js(e, "reported_by"), "caller");
	assert_int_equal(ju(e, "flows"), flows);
	assert_int_equal(ju(e, "failed"), 0);
	assert_int_equal(ju(e, "bytes_sent"), bytes_sent);
	assert_int_equal(ju(e, "bytes_received"), bytes_received);
}

/* ---- files ----------------------------------------------------------------------- */

static const struct flow_identity id_web = { .app = "web", .namespace = "shop", .pod = "web-1" };
static const struct flow_identity id_api = { .app = "api", .namespace = "shop", .pod = "api-1" };
static const struct flow_identity id_db = { .app = "db", .namespace = "data", .pod = "db-0" };
static const struct flow_identity id_old = { .app = "old", .namespace = "x", .pod = "old-0" };
static const struct flow_identity id_hidden = { .app = "hidden", .namespace = "x" };
static const struct flow_identity id_cut = { .app = "cut", .namespace = "x" };

static struct flow_record rec(const struct flow_identity *local, const struct flow_identity *remote,
			      uint16_t port, uint64_t end_ms, uint64_t bytes_sent)
{
	struct flow_record r = {
		.start_ms = end_ms - 5000,
		.end_ms = end_ms,
		.family = 4,
		.direction = FLOW_DIRECTION_OUT,
		.remote_port = port,
		.flows = 1,
		.closed = 1,
		.bytes_sent = bytes_sent,
		.bytes_received = 2 * bytes_sent,
		.local = local,
		.remote = remote,
		.remote_source = FLOW_SOURCE_KUBE,
	};

	r.local_addr[10] = r.local_addr[11] = r.remote_addr[10] = r.remote_addr[11] = 0xff;
	r.local_addr[12] = 10;
	r.remote_addr[12] = 10;
	r.remote_addr[15] = (uint8_t)port;
	return r;
}

static void write_batch(struct files *fs, struct flow_record *r, uint32_t n)
{
	struct wire_batch b = { .n_records = n, .records = r };
	uint64_t bytes;

	assert_int_equal(files__write(fs, &b, NULL, clock_mono_ns(), &bytes), 0);
}

/* One record's line, as the files hold it. */
static char *line_of(const struct flow_record *r)
{
	struct jsonw *jw = jsonw__new();
	const char *d;
	char *out;
	size_t len;

	assert_non_null(jw);
	flow_record_json(r, jw);
	d = jsonw__data(jw, &len);
	assert_true(asprintf(&out, "%.*s\n", (int)len, d) > 0);
	jsonw__free(jw);
	return out;
}

/* DIR/flows/dt=.../hr=... of end_ms, made. */
static void hour_dir(const char *dir, uint64_t end_ms, char *out, size_t len)
{
	time_t t = (time_t)(end_ms / 1000);
	struct tm tm;
	char sub[64];

	gmtime_r(&t, &tm);
	strftime(sub, sizeof(sub), "dt=%Y-%m-%d/hr=%H", &tm);
	snprintf(out, len, "%s/flows/%s", dir, sub);
	assert_int_equal(system(NULL) != 0, 1);
	{
		char cmd[1024];

		snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", out);
		assert_int_equal(system(cmd), 0);
	}
}

/* Appends one gzip member holding `text` to path. */
static void gz_member(const char *path, const char *text, size_t n)
{
	gzFile g = gzopen(path, "ab");

	assert_non_null(g);
	assert_int_equal(gzwrite(g, text, (unsigned int)n), (int)n);
	assert_int_equal(gzclose(g), Z_OK);
}

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

static struct insight_rebuild_stats wait_finished(struct insight_rebuild *r)
{
	struct insight_rebuild_stats s;
	uint64_t deadline = clock_mono_ns() / 1000000 + WAIT_MS;

	for (;;) {
		insight_rebuild__stats(r, &s);
		if (s.finished || clock_mono_ns() / 1000000 > deadline)
			break;
		usleep(5000);
	}
	assert_true(s.finished);
	return s;
}

/* ---- tests ----------------------------------------------------------------------- */

#define N_BIG 2500 /* one batch of the writer's: more than two of the rebuild's */

static void test_rebuild(void **state)
{
	uint64_t now = (uint64_t)clock_wall_ms();
	/* half an hour into the previous hour: the window spans two hour directories */
	uint64_t since = now / HOUR_MS * HOUR_MS - HOUR_MS / 2;
	struct files_opts fo = { .collector_id = "t1", .label = "test" };
	char dir[] = "/tmp/pf-insight-rebuild-XXXXXX", hdir[512], path[1024], why[256] = "";
	struct flow_record *big, r[4];
	struct insight_rebuild_stats s;
	struct insight_rebuild *rb;
	struct insight *in;
	struct files *fs;
	char *l1, *l2, *junk;
	json_t *edges, *st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fo.dir = dir;
	fs = files__new(&fo, why, sizeof(why));
	assert_non_null(fs);

	/* in the window: two hours' files */
	r[0] = rec(&id_web, &id_api, 8080, since + 60000, 100);
	r[1] = rec(&id_web, &id_api, 8080, now - 1000, 200);
	r[2] = rec(&id_web, &id_db, 5432, since, 7); /* end_ms == since: in */
	/* in a listed hour but before the window: skipped */
	r[3] = rec(&id_old, &id_db, 5432, since - 1, 1000);
	write_batch(fs, r, 4);
	big = calloc(N_BIG, sizeof(*big));
	assert_non_null(big);
	for (int i = 0; i < N_BIG; i++)
		big[i] = rec(&id_db, &id_api, 9000, now - 2000, 1);
	write_batch(fs, big, N_BIG);
	/* an hour outside the window: never listed */
	r[0] = rec(&id_old, &id_api, 8080, since - 2 * HOUR_MS, 5000);
	write_batch(fs, r, 1);
	assert_int_equal(files__close(fs), 0); /* published: visible names */
	files__free(fs);

	/* a hidden file (being written) in a window hour: skipped */
	hour_dir(dir, now, hdir, sizeof(hdir));
	r[0] = rec(&id_hidden, &id_api, 8080, now - 1000, 1);
	l1 = line_of(&r[0]);
	snprintf(path, sizeof(path), "%s/.part-t2-1.json.gz", hdir);
	gz_member(path, l1, strlen(l1));
	free(l1);

	/* cut short: one whole member, then 20 bytes of the next */
	r[0] = rec(&id_cut, &id_api, 8080, now - 1000, 3);
	l1 = line_of(&r[0]);
	snprintf(path, sizeof(path), "%s/part-t2-2.json.gz", hdir);
	gz_member(path, l1, strlen(l1));
	{
		struct stat st;
		off_t whole;

		assert_int_equal(stat(path, &st), 0);
		whole = st.st_size;
		gz_member(path, l1, strlen(l1));
		assert_int_equal(truncate(path, whole + 20), 0);
	}
	free(l1);

	/* a bad line and an over-long one among good lines; a last line without its newline */
	r[0] = rec(&id_cut, &id_db, 5432, now - 1000, 11);
	l1 = line_of(&r[0]);
	r[1] = rec(&id_cut, &id_db, 5432, now - 1000, 13);
	l2 = line_of(&r[1]);
	snprintf(path, sizeof(path), "%s/part-t2-3.json.gz", hdir);
	gz_member(path, "not json\n", 9);
	gz_member(path, l1, strlen(l1));
	junk = malloc(INSIGHT_RECORD_MAX_TEXT + 2);
	assert_non_null(junk);
	memset(junk, 'x', INSIGHT_RECORD_MAX_TEXT + 1);
	junk[INSIGHT_RECORD_MAX_TEXT + 1] = '\n';
	gz_member(path, junk, INSIGHT_RECORD_MAX_TEXT + 2);
	gz_member(path, l2, strlen(l2));
	gz_member(path, "{\"end_ms\":", 10);
	free(junk);
	free(l1);
	free(l2);

	in = view_new();
	rb = insight_rebuild__new(dir, since, in, why, sizeof(why));
	assert_non_null(rb);
	s = wait_finished(rb);
	/* joined: its last report ("done") is in the view */
	insight_rebuild__free(rb);
	assert_false(s.failed);
	/* the writer's files of the two window hours, the cut one and the bad-lines one */
	assert_int_equal(s.files, 2 + 2);
	assert_int_equal(s.files_read, 4);
	/* 3 + N_BIG of the writer's, 1 of the cut file, 2 of the bad-lines one */
	assert_int_equal(s.records, 3 + N_BIG + 1 + 2);
	assert_int_equal(s.too_old, 1);
	/* the cut member, "not json", the over-long line, the last line without a newline */
	assert_int_equal(s.errors, 4);

	/* what reached the view: those records, each on its edge, and nothing else */
	edges = api_get(in, "/api/v1/edges", all_edges);
	expect_edge(edges, "shop/web", "shop/api", 8080, /*flows=*/2, /*sent=*/300,
		    /*received=*/600);
	expect_edge(edges, "shop/web", "data/db", 5432, 1, 7, 14);
	expect_edge(edges, "data/db", "shop/api", 9000, N_BIG, N_BIG, 2 * N_BIG);
	expect_edge(edges, "x/cut", "shop/api", 8080, 1, 3, 6);
	expect_edge(edges, "x/cut", "data/db", 5432, 2, 24, 48);
	assert_null(edge_of(edges, "x/hidden", "shop/api", 8080));
	assert_null(edge_of(edges, "x/old", "shop/api", 8080));
	assert_null(edge_of(edges, "x/old", "data/db", 5432));
	assert_int_equal(ju(edges, "total"), 5);
	json_decref(edges);

	/* the source's figures, as /api/v1/status shows them */
	st = api_get(in, "/api/v1/status", NULL);
	assert_string_equal(js(st, "source"), "output");
	assert_string_equal(js(st, "rebuild"), "done");
	assert_int_equal(ju(st, "rebuilt"), 3 + N_BIG + 1 + 2);
	assert_int_equal(ju(st, "rebuild_files"), 4);
	assert_int_equal(ju(st, "rebuild_errors"), 4);
	/* the view's own count: every record it was fed, none it found too old */
	assert_int_equal(ju(st, "records"), 3 + N_BIG + 1 + 2);
	assert_int_equal(ju(st, "too_old"), 0);
	assert_int_equal(ju(st, "edges"), 5);
	json_decref(st);

	insight__free(in);
	free(big);
	rm_rf(dir);
}

static void test_no_data_dir(void **state)
{
	struct insight *in = view_new();
	struct insight_rebuild_stats s;
	struct insight_rebuild *rb;
	char why[256] = "";
	json_t *st;

	(void)state;
	rb = insight_rebuild__new("/nonexistent-pf-insight", 0, in, why, sizeof(why));
	assert_non_null(rb);
	s = wait_finished(rb);
	insight_rebuild__free(rb);
	assert_false(s.failed);
	assert_int_equal(s.files, 0);
	assert_int_equal(s.records, 0);
	st = api_get(in, "/api/v1/status", NULL);
	assert_string_equal(js(st, "source"), "output");
	assert_string_equal(js(st, "rebuild"), "done");
	assert_int_equal(ju(st, "rebuilt"), 0);
	assert_int_equal(ju(st, "rebuild_files"), 0);
	assert_int_equal(ju(st, "records"), 0);
	json_decref(st);
	insight__free(in);
}

static void test_unlistable(void **state)
{
	char dir[] = "/tmp/pf-insight-rebuild-XXXXXX", flows[512], why[256] = "";
	struct insight *in = view_new();
	struct insight_rebuild_stats s;
	struct insight_rebuild *rb;
	json_t *st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* "flows" is a file, not a directory: ENOTDIR, whoever runs the test */
	snprintf(flows, sizeof(flows), "%s/flows", dir);
	close(open(flows, O_CREAT | O_WRONLY, 0600));
	rb = insight_rebuild__new(dir, 0, in, why, sizeof(why));
	assert_non_null(rb);
	insight_rebuild__stats(rb, &s);
	assert_true(s.finished);
	assert_true(s.failed);
	assert_int_equal(s.errors, 1);
	/* reported by insight_rebuild__new itself, before it returns */
	st = api_get(in, "/api/v1/status", NULL);
	assert_string_equal(js(st, "source"), "output");
	assert_string_equal(js(st, "rebuild"), "failed");
	assert_int_equal(ju(st, "rebuild_errors"), 1);
	json_decref(st);
	insight_rebuild__free(rb);
	insight__free(in);
	rm_rf(dir);
}

/* Files listed at the call, not later: a file published after it is not read. */
static void test_listed_at_start_and_stops(void **state)
{
	uint64_t now = (uint64_t)clock_wall_ms();
	struct files_opts fo = { .collector_id = "t3", .label = "test" };
	char dir[] = "/tmp/pf-insight-rebuild-XXXXXX", why[256] = "";
	struct insight_rebuild_stats s;
	struct insight_rebuild *rb;
	struct flow_record *many;
	struct insight *in;
	struct files *fs;
	json_t *edges, *st;
	uint64_t t0;
	int n = 4000;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fo.dir = dir;
	many = calloc((size_t)n, sizeof(*many));
	assert_non_null(many);
	for (int i = 0; i < n; i++)
		many[i] = rec(&id_web, &id_api, 8080, now - 1000, 1);
	fs = files__new(&fo, why, sizeof(why));
	assert_non_null(fs);
	for (int k = 0; k < 10; k++) {
		write_batch(fs, many, (uint32_t)n);
		assert_int_equal(files__close(fs), 0); /* one file per batch */
	}
	in = view_new();
	rb = insight_rebuild__new(dir, now - HOUR_MS, in, why, sizeof(why));
	assert_non_null(rb);
	/* written after the listing: never read */
	write_batch(fs, many, 1);
	assert_int_equal(files__close(fs), 0);
	files__free(fs);
	insight_rebuild__stats(rb, &s);
	assert_int_equal(s.files, 10);
	/* stopped between batches: promptly, whatever is left to read */
	t0 = clock_mono_ns();
	insight_rebuild__free(rb);
	assert_true(clock_mono_ns() - t0 < 500 * 1000000ull);
	/* what it fed stays in that view; the second rebuild gets a fresh one */
	insight__free(in);

	in = view_new();
	rb = insight_rebuild__new(dir, now - HOUR_MS, in, why, sizeof(why));
	assert_non_null(rb);
	s = wait_finished(rb);
	insight_rebuild__free(rb);
	assert_int_equal(s.files, 11);
	assert_int_equal(s.records, 10 * (uint64_t)n + 1);
	edges = api_get(in, "/api/v1/edges", all_edges);
	expect_edge(edges, "shop/web", "shop/api", 8080, 10 * (uint64_t)n + 1, 10 * (uint64_t)n + 1,
		    2 * (10 * (uint64_t)n + 1));
	assert_int_equal(ju(edges, "total"), 1);
	json_decref(edges);
	st = api_get(in, "/api/v1/status", NULL);
	assert_string_equal(js(st, "rebuild"), "done");
	assert_int_equal(ju(st, "rebuilt"), 10 * (uint64_t)n + 1);
	assert_int_equal(ju(st, "rebuild_files"), 11);
	json_decref(st);
	insight__free(in);
	free(many);
	rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rebuild),
		cmocka_unit_test(test_no_data_dir),
		cmocka_unit_test(test_unlistable),
		cmocka_unit_test(test_listed_at_start_and_stops),
	};

	log_init("test_insight_rebuild", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
