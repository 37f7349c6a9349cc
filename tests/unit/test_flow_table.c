// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for sidecar/flow_table: folding kernel events into per-interval records. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow_event.h"
#include "flow_table.h"

#define NS_PER_MS 1000000ULL
#define NS_PER_S  1000000000ULL
/* CLOCK_REALTIME - CLOCK_BOOTTIME of a host booted at 2023-11-14T22:13:20Z */
#define WALL_OFFSET	 ((int64_t)1700000000 * (int64_t)NS_PER_S)
#define WALL_MS(boot_ns) (((uint64_t)(boot_ns) + (uint64_t)WALL_OFFSET) / NS_PER_MS)

#define MAX_RECORDS 16

struct collected {
	uint32_t n;
	struct flow_record recs[MAX_RECORDS];
};

static void collect(struct flow_record *rec, void *ctx)
{
	struct collected *c = ctx;

	assert_true(c->n < MAX_RECORDS);
	/* flow_table records borrow nothing, so a copy outlives the call */
	assert_null(rec->local);
	assert_null(rec->remote);
	assert_null(rec->container);
	c->recs[c->n++] = *rec;
}

static uint32_t flush(struct flow_table *ft, uint64_t interval_start_ns, struct collected *c)
{
	memset(c, 0, sizeof(*c));
	return flow_table__flush(ft, interval_start_ns, WALL_OFFSET, collect, c);
}

static void set_v4(uint8_t addr[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	memset(addr, 0, 16);
	addr[10] = 0xff;
	addr[11] = 0xff;
	addr[12] = a;
	addr[13] = b;
	addr[14] = c;
	addr[15] = d;
}

/*
 * A connection from 10.1.2.3:<port> to 10.9.8.7:443 in cgroup 77, established,
 * begun at 1 s; tests change what they need.
 */
static struct flow_event out_event(uint64_t sock_id, uint16_t local_port, uint8_t kind,
				   uint64_t ts_ns)
{
	struct flow_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.sock_id = sock_id;
	ev.cgroup_id = 77;
	ev.start_ns = 1 * NS_PER_S;
	ev.ts_ns = ts_ns;
	ev.pid = 1234;
	memcpy(ev.comm, "curl", 5);
	ev.local_port = local_port;
	ev.remote_port = 443;
	set_v4(ev.local_addr, 10, 1, 2, 3);
	set_v4(ev.remote_addr, 10, 9, 8, 7);
	ev.family = 2; /* AF_INET */
	ev.kind = kind;
	ev.direction = FLOW_DIRECTION_OUT;
	ev.flags = FLOW_F_ESTABLISHED;
	return ev;
}

/* The record for a sock's ports or service, in the order flush gave them. */
static const struct flow_record *find(const struct collected *c, uint16_t local_port,
				      uint16_t remote_port)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->recs[i].local_port == local_port && c->recs[i].remote_port == remote_port)
			return &c->recs[i];
	print_error("no record with ports %u -> %u among %u\n", local_port, remote_port, c->n);
	fail();
	return NULL;
}

static void test_new_rejects_bad_capacity(void **state)
{
	(void)state;
	errno = 0;
	assert_null(flow_table__new(FLOW_TABLE_AGGREGATE, 0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(flow_table__new(FLOW_TABLE_PER_CONNECTION, (1u << 24) + 1));
	assert_int_equal(errno, EINVAL);
	flow_table__free(NULL);
}

static void test_flush_empty(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_AGGREGATE, 4);
	struct collected c;

	(void)state;
	assert_non_null(ft);
	assert_int_equal(flow_table__count(ft), 0);
	assert_int_equal(flush(ft, 0, &c), 0);
	assert_int_equal(c.n, 0);
	/* twice: flushing an empty table leaves it empty */
	assert_int_equal(flush(ft, 0, &c), 0);
	assert_int_equal(c.n, 0);
	flow_table__free(ft);
}

static void test_aggregate_folds_outgoing(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_AGGREGATE, 8);
	struct flow_event ev[4];
	const struct flow_record *r;
	struct collected c;

	(void)state;
	assert_non_null(ft);
	/* still open, reported by the interval walk */
	ev[0] = out_event(1, 40001, FLOW_KIND_INTERVAL, 9 * NS_PER_S);
	ev[0].bytes_sent = 100;
	ev[0].bytes_received = 1000;
	ev[0].segs_sent = 3;
	ev[0].segs_received = 4;
	ev[0].srtt_us = 300;
	ev[0].min_rtt_us = 0; /* not measured yet: ignored for the minimum */
	/* closed cleanly */
	ev[1] = out_event(2, 40002, FLOW_KIND_CLOSE, 5 * NS_PER_S);
	ev[1].bytes_sent = 200;
	ev[1].bytes_received = 2000;
	ev[1].segs_sent = 5;
	ev[1].segs_received = 6;
	ev[1].retransmits = 2;
	ev[1].srtt_us = 900;
	ev[1].min_rtt_us = 150;
	ev[1].pid = 999; /* not the first seen */
	/* refused: never established */
	ev[2] = out_event(3, 40003, FLOW_KIND_CLOSE, 6 * NS_PER_S);
	ev[2].flags = FLOW_F_FIRST;
	ev[2].segs_sent = 1;
	ev[2].resets = 1;
	ev[2].err = ECONNREFUSED;
	ev[2].min_rtt_us = 0;
	/* timed out: never established; its error is not the first */
	ev[3] = out_event(4, 40004, FLOW_KIND_CLOSE, 7 * NS_PER_S);
	ev[3].flags = FLOW_F_FIRST;
	ev[3].segs_sent = 7;
	ev[3].retransmits = 6;
	ev[3].err = ETIMEDOUT;
	ev[3].srtt_us = 500;
	ev[3].min_rtt_us = 120;
	ev[3].start_ns = 2 * NS_PER_S;

	for (int i = 0; i < 4; i++)
		assert_int_equal(flow_table__add(ft, &ev[i]), 0);
	assert_int_equal(flow_table__count(ft), 1);
	assert_int_equal(flush(ft, 0, &c), 1);
	assert_int_equal(c.n, 1);
	r = &c.recs[0];

	assert_int_equal(r->flows, 4);
	assert_int_equal(r->closed, 3);
	assert_int_equal(r->failed, 2);
	assert_int_equal(r->err, ECONNREFUSED);
	/* the ephemeral port is aggregated away, the service port kept */
	assert_int_equal(r->local_port, 0);
	assert_int_equal(r->remote_port, 443);
	assert_int_equal(r->bytes_sent, 300);
	assert_int_equal(r->bytes_received, 3000);
	assert_int_equal(r->segs_sent, 3 + 5 + 1 + 7);
	assert_int_equal(r->segs_received, 10);
	assert_int_equal(r->retransmits, 8);
	assert_int_equal(r->resets, 1);
	assert_int_equal(r->srtt_us, 900);
	assert_int_equal(r->min_rtt_us, 120);
	assert_int_equal(r->family, 4);
	assert_int_equal(r->direction, FLOW_DIRECTION_OUT);
	assert_int_equal(r->cgroup_id, 77);
	assert_int_equal(r->pid, 1234);
	assert_string_equal(r->comm, "curl");
	assert_memory_equal(r->local_addr, ev[0].local_addr, 16);
	assert_memory_equal(r->remote_addr, ev[0].remote_addr, 16);
	/* earliest start, latest event */
	assert_int_equal(r->start_ms, WALL_MS(1 * NS_PER_S));
	assert_int_equal(r->end_ms, WALL_MS(9 * NS_PER_S));
	assert_int_equal(flow_table__count(ft), 0);
	flow_table__free(ft);
}

/*
 * The kernel's folded closes (a flow_fold: one CPU's copy of a key) make the record
 * their CLOSE events would have made, with the events of the same key that
 * still come one by one (an INTERVAL event here) folded in as well.
 */
static void test_fold_matches_events(void **state)
{
	struct flow_table *ev_ft = flow_table__new(FLOW_TABLE_AGGREGATE, 8);
	struct flow_table *fold_ft = flow_table__new(FLOW_TABLE_AGGREGATE, 8);
	struct flow_event walk = out_event(1, 40001, FLOW_KIND_INTERVAL, 9 * NS_PER_S), close[3];
	const struct flow_record *r;
	struct flow_fold_key key;
	struct flow_fold f;
	struct collected a, b;

	(void)state;
	assert_non_null(ev_ft);
	assert_non_null(fold_ft);
	walk.bytes_sent = 100;
	walk.srtt_us = 300;
	close[0] = out_event(2, 40002, FLOW_KIND_CLOSE, 5 * NS_PER_S);
	close[0].bytes_sent = 200;
	close[0].bytes_received = 2000;
	close[0].segs_sent = 5;
	close[0].segs_received = 6;
	close[0].retransmits = 2;
	close[0].srtt_us = 900;
	close[0].min_rtt_us = 150;
	close[1] = out_event(3, 40003, FLOW_KIND_CLOSE, 6 * NS_PER_S);
	close[1].flags = 0; /* refused */
	close[1].segs_sent = 1;
	close[1].resets = 1;
	close[1].err = ECONNREFUSED;
	close[2] = out_event(4, 40004, FLOW_KIND_CLOSE, 7 * NS_PER_S);
	close[2].start_ns = NS_PER_S / 2; /* the earliest */
	close[2].segs_sent = 7;
	close[2].min_rtt_us = 120;

	assert_int_equal(flow_table__add(ev_ft, &walk), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(flow_table__add(ev_ft, &close[i]), 0);

	/* what the kernel folds for the three closes: bpf/podflow.bpf.c fold_close() */
	memset(&key, 0, sizeof(key));
	key.cgroup_id = 77;
	key.direction = FLOW_DIRECTION_OUT;
	memcpy(key.local_addr, walk.local_addr, 16);
	memcpy(key.remote_addr, walk.remote_addr, 16);
	key.remote_port = 443;
	memset(&f, 0, sizeof(f));
	f.start_ns = NS_PER_S / 2;
	f.end_ns = 7 * NS_PER_S;
	f.bytes_sent = 200;
	f.bytes_received = 2000;
	f.segs_sent = 5 + 1 + 7;
	f.segs_received = 6;
	f.closed = 3;
	f.failed = 1;
	f.retransmits = 2;
	f.resets = 1;
	f.srtt_us = 900;
	f.min_rtt_us = 120;
	f.err = ECONNREFUSED;
	f.owner = 1;
	f.pid = 1234;
	memcpy(f.comm, "curl", 5);
	assert_int_equal(flow_table__add(fold_ft, &walk), 0);
	assert_int_equal(flow_table__add_fold(fold_ft, &key, &f), 0);

	assert_int_equal(flush(ev_ft, 0, &a), 1);
	assert_int_equal(flush(fold_ft, 0, &b), 1);
	assert_int_equal(b.recs[0].flows, 4);
	assert_int_equal(b.recs[0].closed, 3);
	assert_int_equal(b.recs[0].failed, 1);
	assert_int_equal(b.recs[0].bytes_sent, 300);
	assert_int_equal(b.recs[0].start_ms, WALL_MS(NS_PER_S / 2));
	assert_int_equal(b.recs[0].end_ms, WALL_MS(9 * NS_PER_S));
	assert_memory_equal(&a.recs[0], &b.recs[0], sizeof(a.recs[0]));

	/*
	 * Folds alone make their record, with the first one's pid and comm; two
	 * CPUs' copies of one key add up (capture__fold_cut() hands each over).
	 */
	assert_int_equal(flow_table__add_fold(fold_ft, &key, &f), 0);
	key.remote_port = 8443;
	f.pid = 4321;
	memcpy(f.comm, "wget", 5);
	assert_int_equal(flow_table__add_fold(fold_ft, &key, &f), 0);
	f.pid = 999;
	f.start_ns = 3 * NS_PER_S;
	f.end_ns = 8 * NS_PER_S;
	f.srtt_us = 950;
	f.min_rtt_us = 100;
	f.err = ETIMEDOUT;
	assert_int_equal(flow_table__add_fold(fold_ft, &key, &f), 0);
	assert_int_equal(flush(fold_ft, 0, &b), 2);
	r = find(&b, 0, 8443);
	assert_int_equal(r->flows, 6);
	assert_int_equal(r->closed, 6);
	assert_int_equal(r->failed, 2);
	assert_int_equal(r->bytes_sent, 400);
	assert_int_equal(r->segs_sent, 26);
	assert_int_equal(r->err, ECONNREFUSED); /* the first one's */
	assert_int_equal(r->srtt_us, 950);
	assert_int_equal(r->min_rtt_us, 100);
	assert_int_equal(r->start_ms, WALL_MS(NS_PER_S / 2));
	assert_int_equal(r->end_ms, WALL_MS(8 * NS_PER_S));
	assert_int_equal(r->pid, 4321);
	assert_string_equal(r->comm, "wget");
	assert_int_equal(find(&b, 0, 443)->pid, 1234);
	flow_table__free(ev_ft);
	flow_table__free(fold_ft);
	fold_ft = flow_table__new(FLOW_TABLE_AGGREGATE, 1);
	assert_non_null(fold_ft);
	assert_int_equal(flow_table__add_fold(fold_ft, &key, &f), 0);
	key.remote_port = 443;
	assert_int_equal(flow_table__add_fold(fold_ft, &key, &f), -ENOSPC);
	flow_table__free(fold_ft);
}

static void test_aggregate_folds_incoming(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_AGGREGATE, 8);
	const struct flow_record *r;
	struct collected c;

	(void)state;
	assert_non_null(ft);
	for (uint16_t i = 0; i < 3; i++) {
		struct flow_event ev = out_event(10 + i, 8080, FLOW_KIND_CLOSE, 3 * NS_PER_S);

		/* clients 10.9.8.7:5000x connect to our service on 8080 */
		ev.direction = FLOW_DIRECTION_IN;
		ev.remote_port = (uint16_t)(50000 + i);
		ev.bytes_received = 10u << i;
		assert_int_equal(flow_table__add(ft, &ev), 0);
	}
	assert_int_equal(flush(ft, 0, &c), 1);
	r = &c.recs[0];
	assert_int_equal(r->direction, FLOW_DIRECTION_IN);
	assert_int_equal(r->local_port, 8080);
	assert_int_equal(r->remote_port, 0);
	assert_int_equal(r->flows, 3);
	assert_int_equal(r->closed, 3);
	assert_int_equal(r->failed, 0);
	assert_int_equal(r->err, 0);
	assert_int_equal(r->bytes_received, 10 + 20 + 40);
	flow_table__free(ft);
}

static void test_aggregate_separates_keys(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_AGGREGATE, 8);
	struct flow_event base = out_event(1, 40001, FLOW_KIND_CLOSE, 2 * NS_PER_S), ev;
	const struct flow_record *r;
	struct collected c;
	uint32_t total = 0;

	(void)state;
	assert_non_null(ft);
	assert_int_equal(flow_table__add(ft, &base), 0);
	/* same key, another ephemeral port: folds */
	ev = base;
	ev.sock_id = 2;
	ev.local_port = 40002;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flow_table__count(ft), 1);

	/* other direction (the same ports seen as an accepted connection) */
	ev = base;
	ev.sock_id = 3;
	ev.direction = FLOW_DIRECTION_IN;
	ev.bytes_sent = 3;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	/* other remote IP */
	ev = base;
	ev.sock_id = 4;
	set_v4(ev.remote_addr, 10, 9, 8, 8);
	ev.bytes_sent = 4;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	/* other cgroup (container) */
	ev = base;
	ev.sock_id = 5;
	ev.cgroup_id = 78;
	ev.bytes_sent = 5;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	/* other service port */
	ev = base;
	ev.sock_id = 6;
	ev.remote_port = 8443;
	ev.bytes_sent = 6;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	/* other local IP */
	ev = base;
	ev.sock_id = 7;
	set_v4(ev.local_addr, 10, 1, 2, 4);
	ev.bytes_sent = 7;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flow_table__count(ft), 6);

	assert_int_equal(flush(ft, 0, &c), 6);
	assert_int_equal(c.n, 6);
	for (uint32_t i = 0; i < c.n; i++) {
		r = &c.recs[i];
		total += r->flows;
		if (r->bytes_sent == 0) { /* the base key */
			assert_int_equal(r->flows, 2);
			assert_int_equal(r->cgroup_id, 77);
			assert_int_equal(r->remote_port, 443);
			continue;
		}
		assert_int_equal(r->flows, 1);
		switch (r->bytes_sent) {
		case 3:
			assert_int_equal(r->direction, FLOW_DIRECTION_IN);
			/* for an accepted connection the local port is the service */
			assert_int_equal(r->local_port, 40001);
			assert_int_equal(r->remote_port, 0);
			break;
		case 4:
			assert_int_equal(r->remote_addr[15], 8);
			break;
		case 5:
			assert_int_equal(r->cgroup_id, 78);
			break;
		case 6:
			assert_int_equal(r->remote_port, 8443);
			break;
		case 7:
			assert_int_equal(r->local_addr[15], 4);
			break;
		default:
			fail_msg("unexpected record with bytes_sent %llu",
				 (unsigned long long)r->bytes_sent);
		}
	}
	assert_int_equal(total, 7);
	flow_table__free(ft);
}

static void test_ipv6_family(void **state)
{
	static const uint8_t local6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static const uint8_t remote6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
	struct flow_table *ft = flow_table__new(FLOW_TABLE_AGGREGATE, 4);
	struct flow_event ev = out_event(1, 40001, FLOW_KIND_CLOSE, 2 * NS_PER_S);
	struct collected c;

	(void)state;
	assert_non_null(ft);
	/* an AF_INET6 socket talking IPv4 (v4-mapped) is an IPv4 flow to the user */
	ev.family = 10; /* AF_INET6 */
	assert_int_equal(flow_table__add(ft, &ev), 0);
	memcpy(ev.local_addr, local6, 16);
	memcpy(ev.remote_addr, remote6, 16);
	ev.sock_id = 2;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flush(ft, 0, &c), 2);
	assert_int_equal(c.recs[0].family, 4);
	assert_int_equal(c.recs[1].family, 6);
	assert_memory_equal(c.recs[1].local_addr, local6, 16);
	assert_memory_equal(c.recs[1].remote_addr, remote6, 16);
	flow_table__free(ft);
}

static void test_comm_without_nul(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_AGGREGATE, 4);
	struct flow_event ev = out_event(1, 40001, FLOW_KIND_CLOSE, 2 * NS_PER_S);
	struct collected c;

	(void)state;
	assert_non_null(ft);
	/* the kernel's comm fills all 16 bytes when the name is 16 long */
	memcpy(ev.comm, "0123456789abcdef", FLOW_COMM_LEN);
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flush(ft, 0, &c), 1);
	assert_int_equal(strnlen(c.recs[0].comm, sizeof(c.recs[0].comm)), 16);
	assert_string_equal(c.recs[0].comm, "0123456789abcdef");
	flow_table__free(ft);
}

static void test_per_connection_keeps_ports(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_PER_CONNECTION, 8);
	struct flow_event a = out_event(1, 40001, FLOW_KIND_CLOSE, 4 * NS_PER_S);
	struct flow_event b = out_event(2, 40002, FLOW_KIND_INTERVAL, 5 * NS_PER_S);
	const struct flow_record *r;
	struct collected c;

	(void)state;
	assert_non_null(ft);
	a.bytes_sent = 11;
	b.bytes_sent = 22;
	assert_int_equal(flow_table__add(ft, &a), 0);
	assert_int_equal(flow_table__add(ft, &b), 0);
	/* same 4-tuple as a, but another connection (the port was reused) */
	a.sock_id = 3;
	a.bytes_sent = 33;
	assert_int_equal(flow_table__add(ft, &a), 0);
	assert_int_equal(flow_table__count(ft), 3);
	assert_int_equal(flush(ft, 0, &c), 3);

	r = find(&c, 40002, 443);
	assert_int_equal(r->flows, 1);
	assert_int_equal(r->closed, 0);
	assert_int_equal(r->bytes_sent, 22);
	for (uint32_t i = 0; i < c.n; i++) {
		r = &c.recs[i];
		assert_int_equal(r->flows, 1);
		assert_int_equal(r->remote_port, 443);
		if (r->local_port == 40001) {
			assert_int_equal(r->closed, 1);
			assert_true(r->bytes_sent == 11 || r->bytes_sent == 33);
		}
	}
	assert_int_equal(c.recs[0].bytes_sent + c.recs[1].bytes_sent + c.recs[2].bytes_sent,
			 11 + 22 + 33);
	flow_table__free(ft);
}

static void test_per_connection_latest_rtt(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_PER_CONNECTION, 8);
	struct flow_event ev;
	const struct flow_record *r;
	struct collected c;

	(void)state;
	assert_non_null(ft);
	/* events of one connection, not in ts order (e.g. across CPUs' rings) */
	ev = out_event(1, 40001, FLOW_KIND_INTERVAL, 20 * NS_PER_S);
	ev.srtt_us = 300;
	ev.min_rtt_us = 100;
	ev.bytes_sent = 1;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	ev = out_event(1, 40001, FLOW_KIND_INTERVAL, 10 * NS_PER_S);
	ev.srtt_us = 5000; /* older: not the latest, and not a max either */
	ev.min_rtt_us = 50;
	ev.bytes_sent = 2;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	ev = out_event(1, 40001, FLOW_KIND_CLOSE, 30 * NS_PER_S);
	ev.srtt_us = 0; /* newest, but no sample: keeps the last known values */
	ev.min_rtt_us = 0;
	ev.bytes_sent = 4;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flow_table__count(ft), 1);
	assert_int_equal(flush(ft, 0, &c), 1);
	r = &c.recs[0];
	assert_int_equal(r->srtt_us, 300);
	assert_int_equal(r->min_rtt_us, 100);
	assert_int_equal(r->bytes_sent, 7);
	assert_int_equal(r->local_port, 40001);
	assert_int_equal(r->closed, 1);
	/* one connection, however many of its events landed in this interval */
	assert_int_equal(r->flows, 1);
	assert_int_equal(r->end_ms, WALL_MS(30 * NS_PER_S));

	/* a newer sample replaces a larger older one */
	ev = out_event(5, 40005, FLOW_KIND_INTERVAL, 40 * NS_PER_S);
	ev.srtt_us = 800;
	ev.min_rtt_us = 200;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	ev.ts_ns = 41 * NS_PER_S;
	ev.srtt_us = 250;
	ev.min_rtt_us = 190;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flush(ft, 35 * NS_PER_S, &c), 1);
	assert_int_equal(c.recs[0].srtt_us, 250);
	assert_int_equal(c.recs[0].min_rtt_us, 190);
	flow_table__free(ft);
}

static void test_per_connection_deferral_full(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_PER_CONNECTION, 2);
	const uint64_t cut = 20 * NS_PER_S;
	struct flow_event ev;
	const struct flow_record *r;
	struct collected c;

	(void)state;
	assert_non_null(ft);
	flow_table__set_cut(ft, cut);
	/* two late closes fill the deferral buffer */
	ev = out_event(8, 40008, FLOW_KIND_CLOSE, cut + 1);
	assert_int_equal(flow_table__add(ft, &ev), 0);
	ev = out_event(9, 40009, FLOW_KIND_CLOSE, cut + 2);
	assert_int_equal(flow_table__add(ft, &ev), 0);
	/* the walk reports sock 1, which then closes: the close cannot be deferred */
	ev = out_event(1, 40001, FLOW_KIND_INTERVAL, cut + 3);
	ev.bytes_sent = 100;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	ev = out_event(1, 40001, FLOW_KIND_CLOSE, cut + 4);
	ev.bytes_sent = 5;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flush(ft, 10 * NS_PER_S, &c), 1);
	r = find(&c, 40001, 443);
	assert_int_equal(r->flows, 1);
	assert_int_equal(r->closed, 1);
	assert_int_equal(r->bytes_sent, 105);
	/* the deferred ones, one connection each */
	assert_int_equal(flush(ft, cut, &c), 2);
	assert_int_equal(find(&c, 40008, 443)->flows, 1);
	assert_int_equal(find(&c, 40009, 443)->flows, 1);
	flow_table__free(ft);
}

static void test_interval_times(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_PER_CONNECTION, 8);
	const uint64_t interval_start = 10 * NS_PER_S;
	struct flow_event ev;
	const struct flow_record *r;
	struct collected c;

	(void)state;
	assert_non_null(ft);
	/* begun before this interval: reported from the interval's start */
	ev = out_event(1, 40001, FLOW_KIND_INTERVAL, 12345678900ULL);
	ev.start_ns = 5 * NS_PER_S;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	/* begun inside it */
	ev = out_event(2, 40002, FLOW_KIND_CLOSE, 13999999999ULL);
	ev.start_ns = 11500000001ULL;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	/* an event stamped before the interval began (a late one): end never precedes start */
	ev = out_event(3, 40003, FLOW_KIND_CLOSE, 9 * NS_PER_S);
	ev.start_ns = 8 * NS_PER_S;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flush(ft, interval_start, &c), 3);

	r = find(&c, 40001, 443);
	assert_int_equal(r->start_ms, 1700000010000ULL);
	assert_int_equal(r->end_ms, 1700000012345ULL);
	r = find(&c, 40002, 443);
	assert_int_equal(r->start_ms, 1700000011500ULL);
	assert_int_equal(r->end_ms, 1700000013999ULL);
	r = find(&c, 40003, 443);
	assert_int_equal(r->start_ms, 1700000010000ULL);
	assert_int_equal(r->end_ms, 1700000010000ULL);
	flow_table__free(ft);
}

static void test_boot_to_wall_offsets(void **state)
{
	static const struct {
		int64_t offset;
		uint64_t start_ms, end_ms;
	} cases[] = {
		{ 0, 2000, 3456 },
		{ -(int64_t)(1 * NS_PER_S), 1000, 2456 },
		{ 999999, 2000, 3457 },
		{ (int64_t)1700000000 * (int64_t)NS_PER_S, 1700000002000ULL, 1700000003456ULL },
	};
	struct flow_table *ft = flow_table__new(FLOW_TABLE_AGGREGATE, 4);
	struct collected c;

	(void)state;
	assert_non_null(ft);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct flow_event ev = out_event(1, 40001, FLOW_KIND_CLOSE, 3456789012ULL);

		ev.start_ns = 2 * NS_PER_S;
		assert_int_equal(flow_table__add(ft, &ev), 0);
		memset(&c, 0, sizeof(c));
		assert_int_equal(flow_table__flush(ft, 0, cases[i].offset, collect, &c), 1);
		assert_int_equal(c.recs[0].start_ms, cases[i].start_ms);
		assert_int_equal(c.recs[0].end_ms, cases[i].end_ms);
	}
	flow_table__free(ft);
}

static void test_long_lived_deltas(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_AGGREGATE, 4);
	/* per interval: kernel deltas, the last one at close */
	static const struct {
		uint8_t kind;
		uint64_t ts_ns, interval_start_ns, bytes_sent, bytes_received;
		uint32_t segs_sent, retransmits;
	} steps[] = {
		{ FLOW_KIND_INTERVAL, 9 * NS_PER_S, 0, 1000, 50, 4, 0 },
		{ FLOW_KIND_INTERVAL, 19 * NS_PER_S, 10 * NS_PER_S, 2000, 70, 6, 1 },
		{ FLOW_KIND_CLOSE, 25 * NS_PER_S, 20 * NS_PER_S, 500, 9, 2, 3 },
	};
	uint64_t sent = 0, received = 0;
	uint32_t segs = 0, retrans = 0;
	struct collected c;

	(void)state;
	assert_non_null(ft);
	for (size_t i = 0; i < 3; i++) {
		struct flow_event ev = out_event(1, 40001, steps[i].kind, steps[i].ts_ns);
		const struct flow_record *r;

		ev.bytes_sent = steps[i].bytes_sent;
		ev.bytes_received = steps[i].bytes_received;
		ev.segs_sent = steps[i].segs_sent;
		ev.retransmits = steps[i].retransmits;
		if (i == 0)
			ev.flags |= FLOW_F_FIRST;
		assert_int_equal(flow_table__add(ft, &ev), 0);
		assert_int_equal(flush(ft, steps[i].interval_start_ns, &c), 1);
		r = &c.recs[0];
		/* each interval's record carries that interval's delta only */
		assert_int_equal(r->flows, 1);
		assert_int_equal(r->closed, i == 2 ? 1 : 0);
		assert_int_equal(r->failed, 0);
		assert_int_equal(r->bytes_sent, steps[i].bytes_sent);
		assert_int_equal(r->bytes_received, steps[i].bytes_received);
		assert_int_equal(r->segs_sent, steps[i].segs_sent);
		assert_int_equal(r->retransmits, steps[i].retransmits);
		assert_int_equal(r->start_ms, i == 0 ? WALL_MS(1 * NS_PER_S)
						     : WALL_MS(steps[i].interval_start_ns));
		assert_int_equal(r->end_ms, WALL_MS(steps[i].ts_ns));
		sent += r->bytes_sent;
		received += r->bytes_received;
		segs += r->segs_sent;
		retrans += r->retransmits;
	}
	assert_int_equal(sent, 3500);
	assert_int_equal(received, 129);
	assert_int_equal(segs, 12);
	assert_int_equal(retrans, 4);
	flow_table__free(ft);
}

static void test_cut_defers_late_close(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_PER_CONNECTION, 8);
	const uint64_t cut = 20 * NS_PER_S;
	struct flow_event ev;
	const struct flow_record *r;
	struct collected c;

	(void)state;
	assert_non_null(ft);
	flow_table__set_cut(ft, cut);
	/* the walk reports sock 1 after the cut: this interval */
	ev = out_event(1, 40001, FLOW_KIND_INTERVAL, cut + 500 * NS_PER_MS);
	ev.bytes_sent = 10;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	/* sock 2 closed before the cut: this interval */
	ev = out_event(2, 40002, FLOW_KIND_CLOSE, cut - 1);
	ev.bytes_sent = 20;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	/* sock 4 closed exactly at the cut: this interval */
	ev = out_event(4, 40004, FLOW_KIND_CLOSE, cut);
	ev.bytes_sent = 40;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	/* sock 3 closed after the cut: next interval */
	ev = out_event(3, 40003, FLOW_KIND_CLOSE, cut + 1);
	ev.bytes_sent = 30;
	ev.start_ns = 15 * NS_PER_S;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flow_table__count(ft), 3);

	assert_int_equal(flush(ft, 10 * NS_PER_S, &c), 3);
	find(&c, 40001, 443);
	assert_int_equal(find(&c, 40002, 443)->bytes_sent, 20);
	assert_int_equal(find(&c, 40004, 443)->bytes_sent, 40);
	for (uint32_t i = 0; i < c.n; i++)
		assert_int_not_equal(c.recs[i].local_port, 40003);

	/* replayed into the next interval */
	assert_int_equal(flow_table__count(ft), 1);
	/* the cut is over: a late close now counts where it lands */
	ev = out_event(5, 40005, FLOW_KIND_CLOSE, cut + 2);
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flow_table__count(ft), 2);
	assert_int_equal(flush(ft, cut, &c), 2);
	r = find(&c, 40003, 443);
	assert_int_equal(r->flows, 1);
	assert_int_equal(r->closed, 1);
	assert_int_equal(r->bytes_sent, 30);
	assert_int_equal(r->start_ms, WALL_MS(cut));
	assert_int_equal(r->end_ms, WALL_MS(cut + 1));
	find(&c, 40005, 443);
	assert_int_equal(flow_table__count(ft), 0);
	flow_table__free(ft);
}

static void test_cut_no_double_count(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_AGGREGATE, 8);
	const uint64_t cut = 20 * NS_PER_S;
	struct flow_event ev;
	struct collected c;

	(void)state;
	assert_non_null(ft);
	flow_table__set_cut(ft, cut);
	/* the walk reports the connection, then it closes while the walk runs */
	ev = out_event(1, 40001, FLOW_KIND_INTERVAL, cut + 1000);
	ev.bytes_sent = 100;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	ev = out_event(1, 40001, FLOW_KIND_CLOSE, cut + 2000);
	ev.bytes_sent = 5;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flush(ft, 10 * NS_PER_S, &c), 1);
	assert_int_equal(c.recs[0].flows, 1);
	assert_int_equal(c.recs[0].closed, 0);
	assert_int_equal(c.recs[0].bytes_sent, 100);
	assert_int_equal(flush(ft, cut, &c), 1);
	assert_int_equal(c.recs[0].flows, 1);
	assert_int_equal(c.recs[0].closed, 1);
	assert_int_equal(c.recs[0].bytes_sent, 5);
	flow_table__free(ft);
}

static void test_cut_deferral_full_loses_nothing(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_AGGREGATE, 1);
	const uint64_t cut = 20 * NS_PER_S;
	struct flow_event ev;
	struct collected c;

	(void)state;
	assert_non_null(ft);
	flow_table__set_cut(ft, cut);
	/* room to defer one event; the second late close is counted now instead */
	ev = out_event(1, 40001, FLOW_KIND_CLOSE, cut + 1);
	ev.bytes_sent = 1;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	ev = out_event(2, 40002, FLOW_KIND_CLOSE, cut + 2);
	ev.bytes_sent = 2;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flush(ft, 0, &c), 1);
	assert_int_equal(c.recs[0].flows, 1);
	assert_int_equal(c.recs[0].bytes_sent, 2);
	assert_int_equal(flush(ft, cut, &c), 1);
	assert_int_equal(c.recs[0].flows, 1);
	assert_int_equal(c.recs[0].bytes_sent, 1);
	flow_table__free(ft);
}

static void test_late_reset(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_AGGREGATE, 4);
	const uint64_t cut = 20 * NS_PER_S;
	struct flow_event ev;
	struct collected c;

	(void)state;
	assert_non_null(ft);
	/* an RST sent after TCP_CLOSE follows the flow's final report */
	ev = out_event(1, 40001, FLOW_KIND_CLOSE, 5 * NS_PER_S);
	ev.bytes_sent = 10;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	ev = out_event(1, 40001, FLOW_KIND_LATE, 5 * NS_PER_S + 1000000);
	ev.resets = 1;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flush(ft, 0, &c), 1);
	/* the same flow: counted once, closed once, its reset added */
	assert_int_equal(c.recs[0].flows, 1);
	assert_int_equal(c.recs[0].closed, 1);
	assert_int_equal(c.recs[0].resets, 1);
	assert_int_equal(c.recs[0].bytes_sent, 10);
	assert_int_equal(c.recs[0].end_ms, WALL_MS(5 * NS_PER_S) + 1);

	/* after the cut, a LATE event stays with its close: here the close is in */
	flow_table__set_cut(ft, cut);
	ev = out_event(2, 40002, FLOW_KIND_CLOSE, cut - 1);
	assert_int_equal(flow_table__add(ft, &ev), 0);
	ev = out_event(2, 40002, FLOW_KIND_LATE, cut + 1);
	ev.resets = 1;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flush(ft, 10 * NS_PER_S, &c), 1);
	assert_int_equal(c.recs[0].flows, 1);
	assert_int_equal(c.recs[0].closed, 1);
	assert_int_equal(c.recs[0].resets, 1);
	assert_int_equal(flush(ft, cut, &c), 0);

	/* ... and here the close was deferred, so its LATE event goes with it */
	flow_table__set_cut(ft, cut);
	ev = out_event(3, 40003, FLOW_KIND_CLOSE, cut + 1);
	assert_int_equal(flow_table__add(ft, &ev), 0);
	ev = out_event(3, 40003, FLOW_KIND_LATE, cut + 2);
	ev.resets = 1;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flush(ft, 10 * NS_PER_S, &c), 0);
	assert_int_equal(flush(ft, cut, &c), 1);
	assert_int_equal(c.recs[0].flows, 1);
	assert_int_equal(c.recs[0].closed, 1);
	assert_int_equal(c.recs[0].resets, 1);

	/* a LATE event whose close was already written stands alone: flows 0 */
	ev = out_event(4, 40004, FLOW_KIND_LATE, cut + 3);
	ev.resets = 1;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flush(ft, cut, &c), 1);
	assert_int_equal(c.recs[0].flows, 0);
	assert_int_equal(c.recs[0].closed, 0);
	assert_int_equal(c.recs[0].failed, 0);
	assert_int_equal(c.recs[0].resets, 1);
	flow_table__free(ft);
}

static void test_capacity(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_AGGREGATE, 2);
	struct flow_event a = out_event(1, 40001, FLOW_KIND_CLOSE, 2 * NS_PER_S);
	struct flow_event b = a, d = a;
	struct collected c;
	uint64_t sent = 0;

	(void)state;
	assert_non_null(ft);
	a.bytes_sent = 1;
	b.sock_id = 2;
	b.remote_port = 80;
	b.bytes_sent = 10;
	d.sock_id = 3;
	d.remote_port = 8080;
	d.bytes_sent = 100;
	assert_int_equal(flow_table__add(ft, &a), 0);
	assert_int_equal(flow_table__add(ft, &b), 0);
	assert_int_equal(flow_table__add(ft, &d), -ENOSPC);
	assert_int_equal(flow_table__count(ft), 2);
	/* a full table still folds into the keys it has */
	a.sock_id = 4;
	assert_int_equal(flow_table__add(ft, &a), 0);
	assert_int_equal(flow_table__count(ft), 2);

	/* the caller's response to -ENOSPC: flush early, add again */
	assert_int_equal(flush(ft, 0, &c), 2);
	for (uint32_t i = 0; i < c.n; i++)
		sent += c.recs[i].bytes_sent;
	assert_int_equal(find(&c, 0, 443)->flows, 2);
	assert_int_equal(find(&c, 0, 80)->flows, 1);
	assert_int_equal(flow_table__add(ft, &d), 0);
	assert_int_equal(flush(ft, 0, &c), 1);
	assert_int_equal(find(&c, 0, 8080)->flows, 1);
	sent += c.recs[0].bytes_sent;
	assert_int_equal(sent, 1 + 10 + 100 + 1);
	flow_table__free(ft);
}

static void test_reusable_after_flush(void **state)
{
	struct flow_table *ft = flow_table__new(FLOW_TABLE_AGGREGATE, 4);
	struct flow_event ev = out_event(1, 40001, FLOW_KIND_CLOSE, 2 * NS_PER_S);
	struct collected c;

	(void)state;
	assert_non_null(ft);
	ev.bytes_sent = 7;
	ev.err = ECONNRESET;
	ev.srtt_us = 900;
	ev.min_rtt_us = 900;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flush(ft, 0, &c), 1);
	/* the same key again starts from zero: nothing carried over */
	ev = out_event(2, 40002, FLOW_KIND_INTERVAL, 12 * NS_PER_S);
	ev.bytes_sent = 3;
	ev.srtt_us = 100;
	ev.min_rtt_us = 90;
	ev.pid = 4321;
	assert_int_equal(flow_table__add(ft, &ev), 0);
	assert_int_equal(flow_table__count(ft), 1);
	assert_int_equal(flush(ft, 10 * NS_PER_S, &c), 1);
	assert_int_equal(c.recs[0].flows, 1);
	assert_int_equal(c.recs[0].closed, 0);
	assert_int_equal(c.recs[0].bytes_sent, 3);
	assert_int_equal(c.recs[0].err, 0);
	assert_int_equal(c.recs[0].srtt_us, 100);
	assert_int_equal(c.recs[0].min_rtt_us, 90);
	assert_int_equal(c.recs[0].pid, 4321);
	assert_int_equal(c.recs[0].start_ms, WALL_MS(10 * NS_PER_S));
	flow_table__free(ft);
}

struct tally {
	uint32_t records;
	uint32_t flows;
	uint32_t wrong; /* records whose flows is not 2 */
	uint8_t seen[1001];
};

static void tally(struct flow_record *rec, void *ctx)
{
	struct tally *t = ctx;

	t->records++;
	t->flows += rec->flows;
	if (rec->flows != 2)
		t->wrong++;
	if (rec->remote_port >= 1 && rec->remote_port <= 1000)
		t->seen[rec->remote_port]++;
}

static void test_many_keys(void **state)
{
	/* fill a table to capacity twice over: every key is found again and folds */
	enum { N = 1000 };
	struct flow_table *ft = flow_table__new(FLOW_TABLE_AGGREGATE, N);
	struct flow_event ev = out_event(1, 40001, FLOW_KIND_CLOSE, 2 * NS_PER_S);
	struct tally *t = calloc(1, sizeof(*t));

	(void)state;
	assert_non_null(ft);
	assert_non_null(t);
	for (int round = 0; round < 2; round++) {
		for (uint32_t i = 0; i < N; i++) {
			ev.sock_id = (uint64_t)round * N + i;
			ev.remote_port = (uint16_t)(1 + i);
			assert_int_equal(flow_table__add(ft, &ev), 0);
		}
	}
	assert_int_equal(flow_table__count(ft), N);
	ev.remote_port = N + 1;
	assert_int_equal(flow_table__add(ft, &ev), -ENOSPC);
	assert_int_equal(flow_table__flush(ft, 0, 0, tally, t), N);
	assert_int_equal(t->records, N);
	assert_int_equal(t->flows, 2 * N);
	assert_int_equal(t->wrong, 0);
	for (uint32_t i = 1; i <= N; i++)
		assert_int_equal(t->seen[i], 1);
	free(t);
	flow_table__free(ft);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_rejects_bad_capacity),
		cmocka_unit_test(test_flush_empty),
		cmocka_unit_test(test_aggregate_folds_outgoing),
		cmocka_unit_test(test_fold_matches_events),
		cmocka_unit_test(test_aggregate_folds_incoming),
		cmocka_unit_test(test_aggregate_separates_keys),
		cmocka_unit_test(test_ipv6_family),
		cmocka_unit_test(test_comm_without_nul),
		cmocka_unit_test(test_per_connection_keeps_ports),
		cmocka_unit_test(test_per_connection_latest_rtt),
		cmocka_unit_test(test_per_connection_deferral_full),
		cmocka_unit_test(test_interval_times),
		cmocka_unit_test(test_boot_to_wall_offsets),
		cmocka_unit_test(test_long_lived_deltas),
		cmocka_unit_test(test_cut_defers_late_close),
		cmocka_unit_test(test_cut_no_double_count),
		cmocka_unit_test(test_cut_deferral_full_loses_nothing),
		cmocka_unit_test(test_late_reset),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_reusable_after_flush),
		cmocka_unit_test(test_many_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
