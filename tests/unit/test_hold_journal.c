// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests for collector/attribution/hold_journal: what is appended and
 * committed comes back exactly at the next start (records, sender,
 * heartbeat, arrival); tombstones, frames never committed or taken back,
 * a torn last frame, a damaged frame or file, one collector id per
 * directory, segments removed once settled (and kept while their
 * heartbeats or tombstones may be needed), an append the disk refuses.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "attributor.h"
#include "clock.h"
#include "hold_journal.h"
#include "log.h"
#include "wire.h"

#define ID	      "node-1"
#define MAX_GOT	      64
#define DONE_AND_HELD (HOLD_JOURNAL_SEGMENT_MS * 1000)

static const struct flow_identity g_sender = { .app = "checkout",
					       .namespace = "shop",
					       .pod = "checkout-1",
					       .node = "n1",
					       .workload = "checkout-7d" };
static const uint8_t g_ip[1][16] = { { [10] = 0xff, [11] = 0xff, [12] = 10, [15] = 7 } };

/* What a replay handed back. */
struct got {
	uint32_t frames, heartbeats, records;
	struct flow_record rec[MAX_GOT];
	char container[MAX_GOT][32];
	uint64_t refs[MAX_GOT];
	int64_t arrived[MAX_GOT];
	char pod[MAX_GOT][32];
	uint64_t span_start, span_end;
	int fail; /* the callback's answer */
};

static int on_frame(void *ctx, struct wire_batch *b, int64_t arrived_ms, const uint64_t *refs,
		    const bool *live)
{
	struct got *g = ctx;

	if (g->fail)
		return g->fail;
	g->frames++;
	if (b->n_ips) {
		g->heartbeats++;
		g->span_start = b->span_start_ms;
		g->span_end = b->span_end_ms;
		assert_int_equal(1, b->n_ips);
		assert_memory_equal(g_ip[0], b->ips[0], 16);
	}
	for (uint32_t i = 0; i < b->n_records; i++) {
		uint32_t k = g->records;

		if (!live[i])
			continue;
		assert_true(k < MAX_GOT);
		g->rec[k] = b->records[i];
		snprintf(g->container[k], sizeof(g->container[k]), "%s",
			 b->records[i].container ? b->records[i].container : "");
		snprintf(g->pod[k], sizeof(g->pod[k]), "%s", b->sender.pod);
		g->refs[k] = refs[i];
		g->arrived[k] = arrived_ms;
		g->records++;
	}
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

struct dir {
	char path[64], held[96];
};

static void dir_new(struct dir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/podflow-test-journal-XXXXXX");
	assert_non_null(mkdtemp(d->path));
	snprintf(d->held, sizeof(d->held), "%s/held", d->path);
}

static void dir_free(struct dir *d)
{
	nftw(d->path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Files in the journal directory whose name ends with `suffix`; the first's path in first. */
static int count_files(const struct dir *d, const char *suffix, char *first, size_t len)
{
	DIR *dd = opendir(d->held);
	struct dirent *e;
	int n = 0;

	if (!dd)
		return 0;
	while ((e = readdir(dd))) {
		size_t l = strlen(e->d_name), ls = strlen(suffix);

		if (l < ls || strcmp(e->d_name + l - ls, suffix) != 0)
			continue;
		if (!n && first)
			snprintf(first, len, "%s/%s", d->held, e->d_name);
		n++;
	}
	closedir(dd);
	return n;
}

static off_t fsize(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : st.st_size;
}

static struct hold_journal *open_journal(const struct dir *d, const char *id, int64_t keep_ms,
					 int64_t segment_ms)
{
	struct hold_journal_opts o = { .dir = d->held,
				       .collector_id = id,
				       .writers = 2,
				       .keep_ms = keep_ms,
				       .segment_ms = segment_ms };
	char why[512] = "";
	struct hold_journal *j = hold_journal__new(&o, why, sizeof(why));

	if (!j)
		fail_msg("hold_journal__new: %s", why);
	return j;
}

/* A record every field of which says `id`. */
static struct flow_record rec(uint32_t id)
{
	struct flow_record r = { .start_ms = 1700000000000ull + id,
				 .end_ms = 1700000001000ull + id,
				 .bytes_sent = 1000 + id,
				 .bytes_received = 2000 + id,
				 .segs_sent = 3 + id,
				 .segs_received = 4 + id,
				 .cgroup_id = 42 + id, /* one container table entry each */
				 .flows = 2,
				 .closed = 1,
				 .retransmits = id % 3,
				 .resets = 1,
				 .srtt_us = 500 + id,
				 .min_rtt_us = 100 + id,
				 .pid = 4000 + id,
				 .local_port = 40000,
				 .remote_port = (uint16_t)(8000 + id),
				 .family = 4,
				 .direction = FLOW_DIRECTION_OUT,
				 .container = "web" };

	r.local_addr[10] = r.local_addr[11] = r.remote_addr[10] = r.remote_addr[11] = 0xff;
	r.local_addr[12] = 10;
	r.local_addr[15] = 7;
	r.remote_addr[12] = 10;
	r.remote_addr[14] = (uint8_t)(id >> 8);
	r.remote_addr[15] = (uint8_t)id;
	snprintf(r.comm, sizeof(r.comm), "curl-%u", id);
	snprintf(r.container_id, sizeof(r.container_id), "abc%04x", id);
	return r;
}

/* The fields the wire carries are equal (not local, remote, remote_source: the collector's). */
static void assert_same(const struct flow_record *want, const struct flow_record *got,
			const char *container)
{
	assert_int_equal(want->start_ms, got->start_ms);
	assert_int_equal(want->end_ms, got->end_ms);
	assert_int_equal(want->bytes_sent, got->bytes_sent);
	assert_int_equal(want->bytes_received, got->bytes_received);
	assert_int_equal(want->segs_sent, got->segs_sent);
	assert_int_equal(want->segs_received, got->segs_received);
	assert_int_equal(want->cgroup_id, got->cgroup_id);
	assert_int_equal(want->flows, got->flows);
	assert_int_equal(want->closed, got->closed);
	assert_int_equal(want->retransmits, got->retransmits);
	assert_int_equal(want->resets, got->resets);
	assert_int_equal(want->srtt_us, got->srtt_us);
	assert_int_equal(want->min_rtt_us, got->min_rtt_us);
	assert_int_equal(want->pid, got->pid);
	assert_int_equal(want->local_port, got->local_port);
	assert_int_equal(want->remote_port, got->remote_port);
	assert_int_equal(want->family, got->family);
	assert_int_equal(want->direction, got->direction);
	assert_memory_equal(want->local_addr, got->local_addr, 16);
	assert_memory_equal(want->remote_addr, got->remote_addr, 16);
	assert_string_equal(want->comm, got->comm);
	assert_string_equal(want->container_id, got->container_id);
	assert_string_equal(want->container, container);
}

/* n records from `first` on, held where keep is false (keep NULL: all held). */
/* The k-th record a replay handed back is rec(id). */
static void check(const struct got *g, uint32_t k, uint32_t id)
{
	struct flow_record want = rec(id);

	assert_true(k < g->records);
	assert_same(&want, &g->rec[k], g->container[k]);
}

static uint64_t append(struct hold_journal *j, uint32_t writer, uint32_t first, uint32_t n,
		       const bool *keep, bool heartbeat, bool commit)
{
	struct flow_record r[16];
	bool held[16];
	struct wire_batch b = { .sender_id = 77,
				.seq = first,
				.sender = g_sender,
				.span_start_ms = 1700000000000ull,
				.span_end_ms = 1700000002000ull,
				.n_ips = 1,
				.ips = g_ip,
				.n_records = n,
				.records = r };
	uint64_t ref = 0;

	assert_true(n <= 16);
	for (uint32_t i = 0; i < n; i++) {
		r[i] = rec(first + i);
		held[i] = keep ? keep[i] : false;
	}
	assert_int_equal(
	    0, hold_journal__append(hold_journal__writer(j, writer), &b, held, heartbeat, &ref));
	if (commit)
		hold_journal__commit(hold_journal__writer(j, writer));
	return ref;
}

static void replay(struct hold_journal *j, struct got *g)
{
	char why[512] = "";

	memset(g, 0, sizeof(*g));
	if (hold_journal__replay(j, on_frame, g, why, sizeof(why)))
		fail_msg("hold_journal__replay: %s", why);
}

/* Appended and committed: back exactly, in order, with their references and arrival. */
static void test_round_trip(void **state)
{
	struct dir d;
	struct hold_journal *j;
	struct hold_journal_stats st;
	struct got g;
	int64_t before = clock_wall_ms(), after;
	uint64_t r1, r2, r3;

	(void)state;
	dir_new(&d);
	j = open_journal(&d, ID, 60000, 0);
	r1 = append(j, 0, 1, 3, (bool[]){ false, true, false }, true, true);
	r2 = append(j, 1, 10, 1, NULL, false, true);
	r3 = append(j, 0, 20, 2, (bool[]){ true, true }, true, true); /* its heartbeat alone */
	after = clock_wall_ms();
	assert_int_not_equal(0, r1);
	assert_int_not_equal(0, r2);
	assert_int_not_equal(r1 >> HOLD_JOURNAL_ORD_BITS, r2 >> HOLD_JOURNAL_ORD_BITS);
	assert_int_equal(r1 + 2, r3); /* same segment, the next place */
	hold_journal__stats(j, &st);
	assert_int_equal(3, st.frames_held);
	assert_int_equal(3, st.records_journaled);
	assert_int_equal(3, st.outstanding);
	assert_int_equal(2, st.segments);
	hold_journal__free(j); /* nothing settled: everything stays */
	assert_int_equal(2, count_files(&d, ".journal", NULL, 0));

	j = open_journal(&d, ID, 60000, 0);
	replay(j, &g);
	assert_int_equal(3, g.frames);
	assert_int_equal(2, g.heartbeats);
	assert_int_equal(1700000000000ull, g.span_start);
	assert_int_equal(1700000002000ull, g.span_end);
	assert_int_equal(3, g.records);
	/* the segments in the order they were opened: writer 0's first */
	check(&g, 0, 1);
	check(&g, 1, 3);
	check(&g, 2, 10);
	assert_int_equal(r1, g.refs[0]);
	assert_int_equal(r1 + 1, g.refs[1]);
	assert_int_equal(r2, g.refs[2]);
	for (int i = 0; i < 3; i++) {
		assert_string_equal("checkout-1", g.pod[i]);
		assert_true(g.arrived[i] >= before && g.arrived[i] <= after);
	}
	hold_journal__stats(j, &st);
	assert_int_equal(3, st.replay_held);
	assert_int_equal(2, st.replay_heartbeats);
	assert_int_equal(2, st.replay_segments);
	assert_int_equal(3, st.outstanding);
	/* new segments come after the replayed ones, whose records are outstanding again */
	assert_true(append(j, 0, 30, 1, NULL, false, true) >> HOLD_JOURNAL_ORD_BITS > r2 >>
		    HOLD_JOURNAL_ORD_BITS);
	hold_journal__settled(j, (uint64_t[]){ r1, r1 + 1, r2 }, 3);
	hold_journal__stats(j, &st);
	assert_int_equal(1, st.outstanding);
	hold_journal__free(j);
	dir_free(&d);
}

/* Records with a tombstone are not held again; a frame with nothing left is not handed back. */
static void test_tombstones(void **state)
{
	struct dir d;
	struct hold_journal *j;
	struct hold_journal_stats st;
	struct got g;
	uint64_t r1, r2;

	(void)state;
	dir_new(&d);
	j = open_journal(&d, ID, 60000, 0);
	r1 = append(j, 0, 1, 3, NULL, false, true);
	r2 = append(j, 1, 10, 3, NULL, false, true);
	hold_journal__settled(j, (uint64_t[]){ r1 + 2, r1, 0, r2 + 1, r1 + 1 }, 5);
	hold_journal__stats(j, &st);
	assert_int_equal(1, st.frames_done);
	assert_int_equal(4, st.records_settled);
	assert_int_equal(2, st.outstanding);
	hold_journal__free(j);

	j = open_journal(&d, ID, 60000, 0);
	replay(j, &g);
	assert_int_equal(1, g.frames);
	assert_int_equal(2, g.records);
	assert_int_equal(r2, g.refs[0]);
	assert_int_equal(r2 + 2, g.refs[1]);
	check(&g, 0, 10);
	check(&g, 1, 12);
	hold_journal__stats(j, &st);
	assert_int_equal(2, st.replay_held);
	assert_int_equal(4, st.replay_written);
	/* the rest written now: a clean exit leaves nothing */
	hold_journal__settled(j, (uint64_t[]){ r2, r2 + 2 }, 2);
	hold_journal__free(j);
	assert_int_equal(0, count_files(&d, ".journal", NULL, 0));
	dir_free(&d);
}

/*
 * A frame whose batch's write failed (taken back), or that the crash
 * caught before its batch was written (never committed): never replayed.
 */
static void test_uncommitted(void **state)
{
	struct dir d;
	struct hold_journal *j;
	struct hold_journal_stats st;
	char seg[512];
	struct got g;
	off_t size;

	(void)state;
	dir_new(&d);
	j = open_journal(&d, ID, 60000, 0);
	append(j, 0, 1, 2, NULL, true, true);
	assert_int_equal(1, count_files(&d, ".journal", seg, sizeof(seg)));
	size = fsize(seg);
	append(j, 0, 5, 3, NULL, true, false);
	hold_journal__take_back(hold_journal__writer(j, 0));
	assert_int_equal(size, fsize(seg)); /* cut off */
	hold_journal__stats(j, &st);
	assert_int_equal(1, st.taken_back);
	assert_int_equal(2, st.outstanding);
	assert_int_equal(2, st.records_journaled);
	append(j, 0, 8, 4, NULL, true, false); /* the crash: its batch never written */
	hold_journal__free(j);

	j = open_journal(&d, ID, 60000, 0);
	replay(j, &g);
	assert_int_equal(2, g.records);
	assert_int_equal(1, g.heartbeats);
	check(&g, 0, 1);
	check(&g, 1, 2);
	hold_journal__stats(j, &st);
	assert_int_equal(4, st.replay_uncommitted);
	hold_journal__free(j);
	dir_free(&d);
}

/*
 * A last frame the crash cut short (in its header, in its body, its last
 * byte) is cut off, counted; the frame before it is replayed.
 */
static void test_torn_tail(void **state)
{
	for (int at = 0; at < 3; at++) {
		struct dir d;
		struct hold_journal *j;
		struct hold_journal_stats st;
		char seg[512];
		struct got g;
		off_t one, two, cut;

		(void)state;
		dir_new(&d);
		j = open_journal(&d, ID, 60000, 0);
		append(j, 0, 1, 2, NULL, false, true);
		assert_int_equal(1, count_files(&d, ".journal", seg, sizeof(seg)));
		one = fsize(seg);
		append(j, 0, 3, 2, NULL, true, true);
		two = fsize(seg);
		hold_journal__free(j);
		cut = at == 0 ? one + 10 : at == 1 ? one + 40 : two - 1;
		assert_true(cut < two);
		assert_int_equal(0, truncate(seg, cut));
		j = open_journal(&d, ID, 60000, 0);
		replay(j, &g);
		assert_int_equal(2, g.records);
		assert_int_equal(0, g.heartbeats); /* frame 2's was cut off with it */
		check(&g, 1, 2);
		hold_journal__stats(j, &st);
		assert_int_equal(1, st.replay_torn);
		assert_int_equal(0, st.replay_corrupt);
		assert_int_equal(cut - one, st.replay_cut_bytes);
		assert_int_equal(one, fsize(seg));
		hold_journal__free(j);
		dir_free(&d);
	}
}

/*
 * A damaged frame (a flipped bit): it and what follows are set aside in
 * <segment>.corrupt, counted; the frames before are replayed.  A file of
 * garbage with a segment's name, and another collector id's segment, never
 * stop a start.
 */
static void test_damaged(void **state)
{
	struct dir d;
	struct hold_journal *j;
	struct hold_journal_stats st;
	char seg[512], aside[600], path[256];
	struct got g;
	off_t one, three;
	uint8_t byte;
	int fd;

	(void)state;
	dir_new(&d);
	j = open_journal(&d, ID, 60000, 0);
	append(j, 0, 1, 2, NULL, true, true);
	assert_int_equal(1, count_files(&d, ".journal", seg, sizeof(seg)));
	one = fsize(seg);
	append(j, 0, 3, 2, NULL, false, true);
	append(j, 0, 5, 2, NULL, false, true);
	three = fsize(seg);
	hold_journal__free(j);
	/* a bit of frame 2's body flipped */
	fd = open(seg, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(1, pread(fd, &byte, 1, one + 40));
	byte ^= 0x10;
	assert_int_equal(1, pwrite(fd, &byte, 1, one + 40));
	close(fd);
	/* garbage under a segment's name, and another collector's segment */
	snprintf(path, sizeof(path), "%s/" ID "-00000000000000000001.journal", d.held);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(40, write(fd, "not a frame, not a frame, not a frame...", 40));
	close(fd);
	snprintf(path, sizeof(path), "%s/other-00000000000000000001.journal", d.held);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);

	j = open_journal(&d, ID, 60000, 0);
	replay(j, &g);
	assert_int_equal(2, g.records);
	check(&g, 1, 2);
	hold_journal__stats(j, &st);
	assert_int_equal(2, st.replay_corrupt);
	assert_int_equal(0, st.replay_torn);
	assert_int_equal(three - one + 40, st.replay_cut_bytes);
	assert_int_equal(one, fsize(seg));
	snprintf(aside, sizeof(aside), "%s.corrupt", seg);
	assert_int_equal(three - one, fsize(aside));
	assert_int_equal(2, count_files(&d, ".corrupt", NULL, 0));
	assert_int_equal(0, fsize(path)); /* another id's: untouched */
	hold_journal__free(j);
	dir_free(&d);
}

/* One collector per id and directory; ids never see each other's segments. */
static void test_ids(void **state)
{
	struct dir d;
	struct hold_journal_opts o = { .writers = 1 };
	struct hold_journal *a, *b;
	char why[512] = "";
	struct got g;

	(void)state;
	dir_new(&d);
	a = open_journal(&d, ID, 60000, 0);
	o.dir = d.held;
	o.collector_id = ID;
	assert_null(hold_journal__new(&o, why, sizeof(why)));
	assert_int_equal(EBUSY, errno);
	assert_non_null(strstr(why, "another collector with id " ID));
	append(a, 0, 1, 2, NULL, true, true);
	b = open_journal(&d, "node-2", 60000, 0);
	replay(b, &g);
	assert_int_equal(0, g.frames);
	append(b, 0, 5, 1, NULL, false, true);
	hold_journal__free(b);
	hold_journal__free(a); /* its lock goes with it */
	a = open_journal(&d, ID, 60000, 0);
	replay(a, &g);
	assert_int_equal(2, g.records);
	hold_journal__free(a);
	dir_free(&d);
}

/*
 * Segments go once closed and settled; one with heartbeats only after
 * keep_ms; one of tombstones only once no segment they may name is left.
 */
static void test_segments_removed(void **state)
{
	struct dir d;
	struct hold_journal *j;
	struct hold_journal_stats st;
	uint64_t r1, r2;

	(void)state;
	dir_new(&d);
	j = open_journal(&d, ID, /*keep_ms=*/0, /*segment_ms=*/1);
	r1 = append(j, 0, 1, 2, NULL, false, true);
	r2 = append(j, 1, 5, 2, NULL, false, true);
	usleep(2000);
	hold_journal__settled(j, (uint64_t[]){ r1 }, 1);
	/* the two closed by age; a tombstone segment naming r1's, which is not settled yet */
	assert_int_equal(3, count_files(&d, ".journal", NULL, 0));
	usleep(2000);
	hold_journal__settled(j, (uint64_t[]){ r1 + 1, r2 }, 2);
	/*
	 * r1's segment went, and the first tombstones (naming only it) with it;
	 * r2's has one outstanding: kept, and the open tombstone segment
	 */
	hold_journal__stats(j, &st);
	assert_int_equal(1, st.outstanding);
	assert_int_equal(2, count_files(&d, ".journal", NULL, 0));
	usleep(2000);
	hold_journal__settled(j, (uint64_t[]){ r2 + 1 }, 1);
	usleep(2000);
	hold_journal__settled(j, NULL, 0); /* the last tombstone segment closes, and goes */
	assert_int_equal(0, count_files(&d, ".journal", NULL, 0));
	hold_journal__stats(j, &st);
	assert_int_equal(0, st.segments);
	assert_int_equal(0, st.disk_bytes);
	assert_int_equal(0, st.outstanding);
	hold_journal__free(j);

	/* heartbeats: kept keep_ms after closing, though settled */
	j = open_journal(&d, ID, /*keep_ms=*/DONE_AND_HELD, /*segment_ms=*/1);
	r1 = append(j, 0, 1, 1, NULL, true, true);
	append(j, 1, 5, 1, NULL, false, false);
	hold_journal__take_back(hold_journal__writer(j, 1)); /* its segment left empty */
	usleep(2000);
	hold_journal__settled(j, (uint64_t[]){ r1 }, 1);
	usleep(2000);
	hold_journal__settled(j, NULL, 0);
	/* the heartbeat's segment, and the tombstones that name it */
	assert_int_equal(2, count_files(&d, ".journal", NULL, 0));
	hold_journal__set_keep(j, 0);
	hold_journal__settled(j, NULL, 0);
	assert_int_equal(0, count_files(&d, ".journal", NULL, 0));
	hold_journal__free(j);
	dir_free(&d);
}

/* A clean exit with nothing outstanding leaves no segment; with some, all stay. */
static void test_clean_exit(void **state)
{
	struct dir d;
	struct hold_journal *j;
	uint64_t r;

	(void)state;
	dir_new(&d);
	j = open_journal(&d, ID, 60000, 0);
	r = append(j, 0, 1, 2, NULL, true, true);
	append(j, 1, 5, 0, NULL, true, true);
	hold_journal__settled(j, (uint64_t[]){ r, r + 1 }, 2);
	assert_int_equal(3, count_files(&d, ".journal", NULL, 0));
	hold_journal__free(j);
	assert_int_equal(0, count_files(&d, ".journal", NULL, 0));
	dir_free(&d);
}

/*
 * The disk refuses (a file size limit: EFBIG, as ENOSPC would): nothing of
 * the frame stays, counted by class; the next append works once it can.
 */
static void test_append_fails(void **state)
{
	struct dir d;
	struct hold_journal *j;
	struct hold_journal_stats st;
	struct rlimit saved, small;
	struct flow_record r[4];
	struct wire_batch b = { .sender = g_sender, .n_records = 4, .records = r };
	char seg[512];
	struct got g;
	uint64_t ref = 1;
	off_t size;
	int err;

	(void)state;
	for (int i = 0; i < 4; i++)
		r[i] = rec((uint32_t)i);
	dir_new(&d);
	j = open_journal(&d, ID, 60000, 0);
	append(j, 0, 1, 1, NULL, false, true);
	assert_int_equal(1, count_files(&d, ".journal", seg, sizeof(seg)));
	size = fsize(seg);
	assert_false(hold_journal__backoff(hold_journal__writer(j, 0), clock_mono_ns()));
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(0, getrlimit(RLIMIT_FSIZE, &saved));
	small = saved;
	small.rlim_cur = (rlim_t)size + 40; /* the next frame's header, and a bit */
	assert_int_equal(0, setrlimit(RLIMIT_FSIZE, &small));
	err = hold_journal__append(hold_journal__writer(j, 0), &b,
				   (bool[]){ false, false, false, false }, false, &ref);
	assert_int_equal(0, setrlimit(RLIMIT_FSIZE, &saved));
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(-EFBIG, err);
	assert_int_equal(0, ref);
	/* for a second, ingest answers 429 before reading a body */
	assert_true(hold_journal__backoff(hold_journal__writer(j, 0), clock_mono_ns()));
	assert_false(hold_journal__backoff(hold_journal__writer(j, 1), clock_mono_ns()));
	assert_false(hold_journal__backoff(hold_journal__writer(j, 0),
					   clock_mono_ns() + HOLD_JOURNAL_BACKOFF_NS));
	assert_int_equal(size, fsize(seg));		  /* the part that went in was cut off */
	hold_journal__commit(hold_journal__writer(j, 0)); /* nothing pending: no effect */
	hold_journal__stats(j, &st);
	assert_int_equal(1, st.append_errors[HOLD_JOURNAL_ERR_NOSPC]);
	assert_int_equal(1, st.outstanding);
	assert_string_equal("nospace", hold_journal_err_name(HOLD_JOURNAL_ERR_NOSPC));
	append(j, 0, 7, 1, NULL, false, true);
	hold_journal__free(j);
	j = open_journal(&d, ID, 60000, 0);
	replay(j, &g);
	assert_int_equal(2, g.records);
	check(&g, 1, 7);
	hold_journal__free(j);
	dir_free(&d);
}

/* A replay callback's failure stops the start; the segments stay as they were. */
static void test_replay_fails(void **state)
{
	struct dir d;
	struct hold_journal *j;
	struct got g = { .fail = -ENOMEM };
	char why[512] = "";

	(void)state;
	dir_new(&d);
	j = open_journal(&d, ID, 60000, 0);
	append(j, 0, 1, 2, NULL, true, true);
	hold_journal__free(j);
	j = open_journal(&d, ID, 60000, 0);
	assert_int_equal(-ENOMEM, hold_journal__replay(j, on_frame, &g, why, sizeof(why)));
	assert_non_null(strstr(why, "Cannot allocate memory"));
	hold_journal__free(j);
	assert_int_equal(1, count_files(&d, ".journal", NULL, 0));
	j = open_journal(&d, ID, 60000, 0);
	replay(j, &g);
	assert_int_equal(2, g.records);
	hold_journal__free(j);
	dir_free(&d);
}

/* ---- with the attributor: what it writes late is settled; what it could not write stays ---- */

struct late {
	uint64_t written, unattributed;
	int fail;
};

static int late_write(void *ctx, const struct wire_batch *b)
{
	struct late *l = ctx;

	if (l->fail)
		return l->fail;
	l->written += b->n_records;
	for (uint32_t i = 0; i < b->n_records; i++)
		l->unattributed += b->records[i].remote_source == FLOW_SOURCE_UNATTRIBUTED;
	return 0;
}

static void on_settled(void *ctx, const uint64_t *refs, uint32_t n)
{
	hold_journal__settled(ctx, refs, n);
}

static struct attributor *new_attributor(struct hold_journal *j, struct late *l)
{
	struct attr_opts o = { .max_delay_ms = 30000,
			       .retention_ms = 3600000,
			       .heartbeat_grace_ms = 30000,
			       .heartbeat_max_skew_ms = 5000,
			       .max_delayed = 64,
			       .max_ranges = 1000,
			       .write = late_write,
			       .write_ctx = l,
			       .settled = on_settled,
			       .settled_ctx = j };
	char why[256];
	struct attributor *a = attributor__new(&o, why, sizeof(why));

	if (!a)
		fail_msg("attributor__new: %s", why);
	return a;
}

/*
 * As ingest holds a batch: decided (none: nobody is known, within the
 * grace), copied, journaled, stamped, committed; `arrived` as a replay
 * does (0: now).
 */
static void hold_batch(struct attributor *a, struct attr_arena *ar, struct hold_journal *j,
		       uint32_t first, uint32_t n, int64_t arrived)
{
	struct flow_record r[8];
	struct wire_batch b = { .sender = g_sender, .n_records = n, .records = r };
	int64_t now = clock_wall_ms();
	uint64_t ref, refs[8];
	bool keep[8];

	for (uint32_t i = 0; i < n; i++) {
		r[i] = rec(first + i);
		r[i].start_ms = (uint64_t)now - 2000;
		r[i].end_ms = (uint64_t)now - 1000;
	}
	assert_int_equal(n, attributor__batch(a, ar, &b, keep));
	assert_int_equal(n, attributor__hold(a, ar, &b, keep));
	assert_int_equal(0,
			 hold_journal__append(hold_journal__writer(j, 0), &b, keep, false, &ref));
	for (uint32_t i = 0; i < n; i++)
		refs[i] = ref + i;
	attributor__hold_journaled(a, ar, refs, arrived);
	hold_journal__commit(hold_journal__writer(j, 0));
	attributor__hold_commit(a, ar);
}

/*
 * The journal wired to the attributor as the collector wires it: records
 * written late are settled (a replayed one past max_delay at the first
 * retry); at a clean exit nothing stays; if the exit's write fails, the
 * journal keeps them for the next start.
 */
static void test_with_attributor(void **state)
{
	struct dir d;
	struct hold_journal *j;
	struct hold_journal_stats st;
	struct attributor *a;
	struct attr_arena *ar = attr_arena__new();
	struct attr_stats as;
	struct late l = { 0 };
	int64_t deadline;
	struct got g;

	(void)state;
	assert_non_null(ar);
	dir_new(&d);
	j = open_journal(&d, ID, 60000, 0);
	a = new_attributor(j, &l);
	hold_batch(a, ar, j, 1, 3, 0);
	/* as replayed: arrived a minute ago, past max_delay: written at the first retry */
	hold_batch(a, ar, j, 10, 2, clock_wall_ms() - 60000);
	assert_int_equal(0, attributor__start(a));
	deadline = clock_wall_ms() + 5000;
	do {
		usleep(10000);
		hold_journal__stats(j, &st);
	} while (st.records_settled < 2 && clock_wall_ms() < deadline);
	assert_int_equal(2, l.written);
	attributor__stats(a, &as);
	assert_int_equal(2, as.unattributed_expired);
	assert_int_equal(2, st.records_settled);
	assert_int_equal(3, st.outstanding);
	/* the exit: the rest written, settled; nothing left to keep */
	attributor__free(a);
	assert_int_equal(5, l.written);
	hold_journal__stats(j, &st);
	assert_int_equal(0, st.outstanding);
	hold_journal__free(j);
	assert_int_equal(0, count_files(&d, ".journal", NULL, 0));

	/* the exit's write fails: the journal keeps them for the next start */
	j = open_journal(&d, ID, 60000, 0);
	l = (struct late){ .fail = -ENOSPC };
	a = new_attributor(j, &l);
	hold_batch(a, ar, j, 20, 3, 0);
	attributor__free(a);
	hold_journal__free(j);
	j = open_journal(&d, ID, 60000, 0);
	replay(j, &g);
	assert_int_equal(3, g.records);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(rec(20 + i).bytes_sent, g.rec[i].bytes_sent);
	hold_journal__free(j);
	attr_arena__free(ar);
	dir_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),	 cmocka_unit_test(test_tombstones),
		cmocka_unit_test(test_uncommitted),	 cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_damaged),		 cmocka_unit_test(test_ids),
		cmocka_unit_test(test_segments_removed), cmocka_unit_test(test_clean_exit),
		cmocka_unit_test(test_append_fails),	 cmocka_unit_test(test_replay_fails),
		cmocka_unit_test(test_with_attributor),
	};

	log_init("test_hold_journal", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
