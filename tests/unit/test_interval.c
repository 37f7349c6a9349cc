// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for sidecar/interval: kernel events in, each interval's JSON records out. */
#define _GNU_SOURCE
#include <errno.h>
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

#include <cmocka.h>
#include <jansson.h>

#include "cgroup.h"
#include "flow.h"
#include "interval.h"

#define NS_PER_MS 1000000ULL
#define NS_PER_S  1000000000ULL
/* CLOCK_REALTIME - CLOCK_BOOTTIME of a host booted at 2023-11-14T22:13:20Z */
#define WALL_OFFSET	 (1700000000ULL * NS_PER_S)
#define WALL_MS(boot_ns) (((uint64_t)(boot_ns) + WALL_OFFSET) / NS_PER_MS)

#define CONTAINER_ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define MAX_LINES    16

/* The clock the interval reads: boot time as the test sets it, the wall clock a fixed offset. */
static uint64_t now_boot_ns;

static uint64_t fake_clock(clockid_t id)
{
	switch (id) {
	case CLOCK_BOOTTIME:
		return now_boot_ns;
	case CLOCK_REALTIME:
		return now_boot_ns + WALL_OFFSET;
	default:
		return now_boot_ns + 7 * NS_PER_S; /* monotonic: only the cgroup cache's rescans */
	}
}

static const struct flow_identity pod = {
	.app = "shop",
	.namespace = "prod",
	.pod = "shop-7d9f8-x2k4q",
	.node = "node-1",
	.workload = "shop-7d9f8",
};

struct fixture {
	char scope[64];
	char container[192];
	uint64_t container_cgroup; /* the cgroup id of a containerd container under the scope */
	struct cgroup_names *names;
	char *buf; /* what the interval wrote (open_memstream) */
	size_t len;
	size_t read; /* consumed by take() */
	FILE *out;
	struct interval *iv;
	json_t *lines[MAX_LINES];
	size_t n_lines;
	/* what the walk callback reports */
	struct flow_event walk[4];
	uint64_t walk_ts_before[4]; /* boot time to set before each */
	uint32_t n_walk;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->scope, sizeof(f->scope), "/tmp/podflow-test-interval.XXXXXX");
	assert_non_null(mkdtemp(f->scope));
	snprintf(f->container, sizeof(f->container), "%s/cri-containerd-" CONTAINER_ID ".scope",
		 f->scope);
	assert_int_equal(mkdir(f->container, 0700), 0);
	assert_int_equal(cgroup_id_of(f->container, &f->container_cgroup), 0);
	f->names = cgroup_names__new(f->scope, 16, NS_PER_S);
	assert_non_null(f->names);
	f->out = open_memstream(&f->buf, &f->len);
	assert_non_null(f->out);
	now_boot_ns = 100 * NS_PER_S;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < f->n_lines; i++)
		json_decref(f->lines[i]);
	interval__free(f->iv);
	if (f->out)
		fclose(f->out);
	free(f->buf);
	cgroup_names__free(f->names);
	rmdir(f->container);
	rmdir(f->scope);
	free(f);
	return 0;
}

static void start(struct fixture *f, bool aggregate, uint32_t max_records)
{
	f->iv = interval__new(&(struct interval_opts){ .aggregate = aggregate,
						       .max_records = max_records,
						       .local = &pod,
						       .names = f->names,
						       .out = f->out,
						       .out_name = "memory",
						       .clock = fake_clock });
	assert_non_null(f->iv);
	interval__start(f->iv);
}

/* The records written since the last call, parsed; returns how many. */
static size_t take(struct fixture *f)
{
	for (size_t i = 0; i < f->n_lines; i++)
		json_decref(f->lines[i]);
	f->n_lines = 0;
	fflush(f->out);
	while (f->read < f->len) {
		char *nl = memchr(f->buf + f->read, '\n', f->len - f->read);
		json_error_t err;

		assert_non_null(nl); /* whole lines only */
		assert_true(f->n_lines < MAX_LINES);
		f->lines[f->n_lines] =
		    json_loadb(f->buf + f->read, (size_t)(nl - f->buf) - f->read, 0, &err);
		if (!f->lines[f->n_lines])
			fail_msg("record %zu is not JSON: %s", f->n_lines, err.text);
		f->n_lines++;
		f->read = (size_t)(nl - f->buf) + 1;
	}
	return f->n_lines;
}

/*
 * The one assertion helper (a field of a record, as a number or a string):
 * names the field, prints expected and got, and fails at the caller's line.
 */
#define check_u64(rec, key, want) check_u64_at(rec, key, want, __FILE__, __LINE__)
#define check_str(rec, key, want) check_str_at(rec, key, want, __FILE__, __LINE__)

static void check_u64_at(const json_t *rec, const char *key, uint64_t want, const char *file,
			 int line)
{
	const json_t *v = json_object_get(rec, key);

	if (json_is_integer(v) && (uint64_t)json_integer_value(v) == want)
		return;
	if (json_is_integer(v))
		print_error("%s: expected %llu, got %llu\n", key, (unsigned long long)want,
			    (unsigned long long)json_integer_value(v));
	else
		print_error("%s: expected %llu, got no number\n", key, (unsigned long long)want);
	_fail(file, line);
}

static void check_str_at(const json_t *rec, const char *key, const char *want, const char *file,
			 int line)
{
	const json_t *v = json_object_get(rec, key);

	if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
		return;
	if (json_is_string(v))
		print_error("%s: expected \"%s\", got \"%s\"\n", key, want, json_string_value(v));
	else
		print_error("%s: expected \"%s\", got no string\n", key, want);
	_fail(file, line);
}

static void set_v4(uint8_t addr[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	memset(addr, 0, 16);
	addr[10] = addr[11] = 0xff;
	addr[12] = a;
	addr[13] = b;
	addr[14] = c;
	addr[15] = d;
}

/*
 * A connection of the container from 10.1.2.3:<port> to 10.9.8.7:443,
 * established, begun at `start_ns`, reported at `ts_ns`; tests change what
 * they need.
 */
static struct flow_event event(const struct fixture *f, uint64_t sock_id, uint16_t local_port,
			       uint8_t kind, uint64_t start_ns, uint64_t ts_ns)
{
	struct flow_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.sock_id = sock_id;
	ev.cgroup_id = f->container_cgroup;
	ev.start_ns = start_ns;
	ev.ts_ns = ts_ns;
	ev.bytes_sent = 1000 * sock_id;
	ev.bytes_received = 2000 * sock_id;
	ev.segs_sent = (uint32_t)(10 * sock_id);
	ev.segs_received = (uint32_t)(20 * sock_id);
	ev.srtt_us = (uint32_t)(100 * sock_id);
	ev.min_rtt_us = (uint32_t)(50 * sock_id);
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

/* The record with these ports among those taken; fails when there is none. */
static const json_t *find(const struct fixture *f, uint64_t local_port, uint64_t remote_port)
{
	for (size_t i = 0; i < f->n_lines; i++)
		if ((uint64_t)json_integer_value(json_object_get(f->lines[i], "local_port")) ==
			local_port &&
		    (uint64_t)json_integer_value(json_object_get(f->lines[i], "remote_port")) ==
			remote_port)
			return f->lines[i];
	fail_msg("no record with ports %llu -> %llu among %zu", (unsigned long long)local_port,
		 (unsigned long long)remote_port, f->n_lines);
	return NULL;
}

#define check_stats(f, events, records, early_flushes) \
	check_stats_at(f, events, records, early_flushes, __FILE__, __LINE__)

static void check_stat(const char *name, uint64_t want, uint64_t got, const char *file, int line)
{
	if (want == got)
		return;
	print_error("%s: expected %llu, got %llu\n", name, (unsigned long long)want,
		    (unsigned long long)got);
	_fail(file, line);
}

/* The interval's counters; table_drops is always 0. */
static void check_stats_at(const struct fixture *f, uint64_t events, uint64_t records,
			   uint64_t early_flushes, const char *file, int line)
{
	struct interval_stats st;

	interval__stats(f->iv, &st);
	check_stat("events", events, st.events, file, line);
	check_stat("records", records, st.records, file, line);
	check_stat("early_flushes", early_flushes, st.early_flushes, file, line);
	check_stat("table_drops", 0, st.table_drops, file, line);
}

/* interval_walk_fn: reports the fixture's walk events, each at its own boot time. */
static void walk(void *ctx)
{
	struct fixture *f = ctx;

	for (uint32_t i = 0; i < f->n_walk; i++) {
		now_boot_ns = f->walk_ts_before[i];
		interval__add(f->iv, &f->walk[i]);
	}
}

static void test_new_needs_an_output(void **state)
{
	struct fixture *f = *state;

	errno = 0;
	assert_null(interval__new(&(struct interval_opts){
	    .aggregate = true, .max_records = 4, .local = &pod, .names = f->names }));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(interval__new(&(struct interval_opts){ .aggregate = true,
							   .max_records = 0,
							   .local = &pod,
							   .names = f->names,
							   .out = f->out }));
	assert_int_equal(errno, EINVAL);
	interval__free(NULL);
}

/*
 * Two connections to one service fold into one record, written only when
 * the interval ends, with the pod's identity, the container, and times in
 * wall-clock ms.
 */
static void test_aggregated_record(void **state)
{
	struct fixture *f = *state;
	struct flow_event ev;
	const json_t *r;

	start(f, /*aggregate=*/true, 16);
	ev = event(f, 1, 40001, FLOW_KIND_CLOSE, 101 * NS_PER_S, 102 * NS_PER_S);
	ev.retransmits = 3;
	ev.resets = 1;
	ev.flags |= FLOW_F_FIRST;
	interval__add(f->iv, &ev);
	ev = event(f, 2, 40002, FLOW_KIND_INTERVAL, 103 * NS_PER_S, 104 * NS_PER_S);
	interval__add(f->iv, &ev);
	assert_int_equal(take(f), 0); /* nothing before the interval ends */
	check_stats(f, /*events=*/2, /*records=*/0, /*early_flushes=*/0);

	now_boot_ns = 110 * NS_PER_S;
	interval__end(f->iv, NULL, NULL);
	assert_int_equal(take(f), 1);
	r = f->lines[0];
	check_u64(r, "start_ms", WALL_MS(101 * NS_PER_S));
	check_u64(r, "end_ms", WALL_MS(104 * NS_PER_S));
	check_u64(r, "family", 4);
	check_str(r, "direction", "out");
	check_str(r, "local_ip", "10.1.2.3");
	check_u64(r, "local_port", 0); /* the ephemeral port is aggregated away */
	check_str(r, "remote_ip", "10.9.8.7");
	check_u64(r, "remote_port", 443);
	check_u64(r, "flows", 2);
	check_u64(r, "closed", 1);
	check_u64(r, "failed", 0);
	check_str(r, "error", "");
	check_u64(r, "bytes_sent", 3000);
	check_u64(r, "bytes_received", 6000);
	check_u64(r, "segs_sent", 30);
	check_u64(r, "segs_received", 60);
	check_u64(r, "retransmits", 3);
	check_u64(r, "resets", 1);
	check_u64(r, "srtt_us", 200);	/* the worst of the folded flows */
	check_u64(r, "min_rtt_us", 50); /* the best */
	check_u64(r, "pid", 1234);
	check_str(r, "comm", "curl");
	check_u64(r, "cgroup_id", f->container_cgroup);
	check_str(r, "container_id", CONTAINER_ID);
	check_str(r, "container", "");
	check_str(r, "local_app", "shop");
	check_str(r, "local_namespace", "prod");
	check_str(r, "local_pod", "shop-7d9f8-x2k4q");
	check_str(r, "local_node", "node-1");
	check_str(r, "local_workload", "shop-7d9f8");
	check_str(r, "remote_app", "");
	check_str(r, "remote_pod", "");
	check_str(r, "remote_source", "unattributed");
	check_stats(f, 2, 1, 0);
	assert_false(interval__output_failed(f->iv));

	/* an interval without events writes nothing */
	now_boot_ns = 120 * NS_PER_S;
	interval__end(f->iv, NULL, NULL);
	assert_int_equal(take(f), 0);
	check_stats(f, 2, 1, 0);
}

/*
 * Accepted connections fold by the local (service) port; a connect that
 * never got established is counted as failed, with its error.  A cgroup
 * outside the scope's containers gets no container id.
 */
static void test_incoming_and_failed(void **state)
{
	struct fixture *f = *state;
	struct flow_event ev;
	const json_t *r;

	start(f, /*aggregate=*/true, 16);
	for (uint64_t sock = 1; sock <= 2; sock++) {
		ev = event(f, sock, 8080, FLOW_KIND_CLOSE, 101 * NS_PER_S, 102 * NS_PER_S);
		ev.direction = FLOW_DIRECTION_IN;
		ev.remote_port = (uint16_t)(50000 + sock);
		interval__add(f->iv, &ev);
	}
	ev = event(f, 3, 40003, FLOW_KIND_CLOSE, 103 * NS_PER_S, 104 * NS_PER_S);
	ev.flags = FLOW_F_FIRST; /* never established: refused */
	ev.err = ECONNREFUSED;
	ev.bytes_sent = ev.bytes_received = 0;
	ev.cgroup_id = 424242; /* no such cgroup under the scope */
	interval__add(f->iv, &ev);

	now_boot_ns = 110 * NS_PER_S;
	interval__end(f->iv, NULL, NULL);
	assert_int_equal(take(f), 2);
	r = find(f, 8080, 0);
	check_str(r, "direction", "in");
	check_u64(r, "flows", 2);
	check_u64(r, "closed", 2);
	check_u64(r, "failed", 0);
	check_u64(r, "bytes_sent", 3000);
	check_str(r, "container_id", CONTAINER_ID);
	r = find(f, 0, 443);
	check_str(r, "direction", "out");
	check_u64(r, "flows", 1);
	check_u64(r, "closed", 1);
	check_u64(r, "failed", 1);
	check_str(r, "error", "ECONNREFUSED");
	check_u64(r, "cgroup_id", 424242);
	check_str(r, "container_id", "");
	check_stats(f, 3, 2, 0);
}

/*
 * The walk reports live connections at the end of the interval: what it
 * reports is in this interval, and the next one begins at the cut (when
 * the walk began), not when the records were written.  A close stamped
 * after the cut belongs to the next interval (the walk may have reported
 * the same connection already: it must not count twice in one interval).
 */
static void test_walk_and_cut(void **state)
{
	struct fixture *f = *state;
	const uint64_t cut = 110 * NS_PER_S;
	struct flow_event ev;
	const json_t *r;

	start(f, /*aggregate=*/false, 16);
	ev = event(f, 1, 40001, FLOW_KIND_INTERVAL, 1 * NS_PER_S, 105 * NS_PER_S);
	interval__add(f->iv, &ev);
	f->walk[0] = event(f, 2, 40002, FLOW_KIND_INTERVAL, 1 * NS_PER_S, cut + 1 * NS_PER_MS);
	f->walk_ts_before[0] = cut + 1 * NS_PER_MS;
	f->walk[1] = event(f, 3, 40003, FLOW_KIND_CLOSE, 108 * NS_PER_S, cut + 2 * NS_PER_MS);
	f->walk_ts_before[1] = cut + 2 * NS_PER_MS;
	f->walk[2] = event(f, 4, 40004, FLOW_KIND_CLOSE, 108 * NS_PER_S, cut - 1);
	f->walk_ts_before[2] = cut + 3 * NS_PER_MS;
	f->n_walk = 3;

	now_boot_ns = cut;
	interval__end(f->iv, walk, f);
	assert_int_equal(take(f), 3);
	/* begun in an earlier interval: reported from this one's start */
	r = find(f, 40001, 443);
	check_u64(r, "start_ms", WALL_MS(100 * NS_PER_S));
	check_u64(r, "end_ms", WALL_MS(105 * NS_PER_S));
	check_u64(r, "flows", 1);
	check_u64(r, "closed", 0);
	r = find(f, 40002, 443);
	check_u64(r, "start_ms", WALL_MS(100 * NS_PER_S));
	check_u64(r, "end_ms", WALL_MS(cut + 1 * NS_PER_MS));
	check_u64(r, "bytes_sent", 2000);
	r = find(f, 40004, 443);
	check_u64(r, "start_ms", WALL_MS(108 * NS_PER_S));
	check_u64(r, "end_ms", WALL_MS(cut - 1));
	check_u64(r, "closed", 1);
	check_stats(f, /*events=*/4, /*records=*/3, /*early_flushes=*/0);

	/* the close after the cut, in the interval that began at the cut */
	f->n_walk = 0;
	now_boot_ns = 120 * NS_PER_S;
	interval__end(f->iv, walk, f);
	assert_int_equal(take(f), 1);
	r = find(f, 40003, 443);
	check_u64(r, "start_ms", WALL_MS(cut));
	check_u64(r, "end_ms", WALL_MS(cut + 2 * NS_PER_MS));
	check_u64(r, "flows", 1);
	check_u64(r, "closed", 1);
	check_u64(r, "bytes_sent", 3000);
	check_stats(f, 4, 4, 0);
}

/*
 * max_records distinct records reached: the interval is closed early, its
 * records written at once, and the next one begins then.
 */
static void test_early_flush(void **state)
{
	struct fixture *f = *state;
	struct flow_event ev;
	const json_t *r;

	start(f, /*aggregate=*/false, 2);
	ev = event(f, 1, 40001, FLOW_KIND_INTERVAL, 101 * NS_PER_S, 102 * NS_PER_S);
	interval__add(f->iv, &ev);
	ev = event(f, 2, 40002, FLOW_KIND_INTERVAL, 101 * NS_PER_S, 103 * NS_PER_S);
	interval__add(f->iv, &ev);
	assert_int_equal(take(f), 0);
	now_boot_ns = 104 * NS_PER_S;
	ev = event(f, 3, 40003, FLOW_KIND_CLOSE, 101 * NS_PER_S, 104 * NS_PER_S);
	interval__add(f->iv, &ev);
	assert_int_equal(take(f), 2); /* written at once, not at the interval's end */
	r = find(f, 40001, 443);
	check_u64(r, "start_ms", WALL_MS(101 * NS_PER_S));
	check_u64(r, "end_ms", WALL_MS(102 * NS_PER_S));
	r = find(f, 40002, 443);
	check_u64(r, "end_ms", WALL_MS(103 * NS_PER_S));
	check_stats(f, 3, 2, 1);

	now_boot_ns = 110 * NS_PER_S;
	interval__end(f->iv, NULL, NULL);
	assert_int_equal(take(f), 1);
	r = find(f, 40003, 443);
	check_u64(r, "start_ms", WALL_MS(104 * NS_PER_S)); /* the early flush began it */
	check_u64(r, "end_ms", WALL_MS(104 * NS_PER_S));
	check_u64(r, "closed", 1);
	check_stats(f, 3, 3, 1);
}

/*
 * The early flush replays the closes deferred by the cut, which can fill
 * the table again: a second early flush makes room, and nothing is dropped.
 */
static void test_deferred_refill_flushes_twice(void **state)
{
	struct fixture *f = *state;
	const uint64_t cut = 110 * NS_PER_S;
	const json_t *r;

	start(f, /*aggregate=*/false, 1);
	f->walk[0] = event(f, 1, 40001, FLOW_KIND_CLOSE, 105 * NS_PER_S, cut + 1 * NS_PER_MS);
	f->walk_ts_before[0] = cut + 1 * NS_PER_MS;
	f->walk[1] = event(f, 2, 40002, FLOW_KIND_INTERVAL, 105 * NS_PER_S, cut + 2 * NS_PER_MS);
	f->walk_ts_before[1] = cut + 2 * NS_PER_MS;
	f->walk[2] = event(f, 3, 40003, FLOW_KIND_INTERVAL, 105 * NS_PER_S, cut + 3 * NS_PER_MS);
	f->walk_ts_before[2] = cut + 3 * NS_PER_MS;
	f->n_walk = 3;

	now_boot_ns = cut;
	interval__end(f->iv, walk, f);
	assert_int_equal(take(f), 3);
	/* the first early flush: the walk's report */
	check_u64(f->lines[0], "local_port", 40002);
	check_u64(f->lines[0], "start_ms", WALL_MS(105 * NS_PER_S));
	/* the second: the deferred close, in the interval the first began */
	check_u64(f->lines[1], "local_port", 40001);
	check_u64(f->lines[1], "closed", 1);
	check_u64(f->lines[1], "start_ms", WALL_MS(cut + 3 * NS_PER_MS));
	check_u64(f->lines[1], "end_ms", WALL_MS(cut + 3 * NS_PER_MS));
	/* the interval's end: the last report */
	r = f->lines[2];
	check_u64(r, "local_port", 40003);
	check_u64(r, "start_ms", WALL_MS(cut + 3 * NS_PER_MS));
	check_stats(f, 3, 3, 2);
}

/* A live change of the record mode takes effect when the interval ends, not within it. */
static void test_mode_change_at_interval_end(void **state)
{
	struct fixture *f = *state;
	struct flow_event ev;

	start(f, /*aggregate=*/true, 16);
	for (int round = 0; round < 3; round++) {
		for (uint64_t sock = 1; sock <= 2; sock++) {
			ev = event(f, sock, (uint16_t)(40000 + sock), FLOW_KIND_INTERVAL,
				   101 * NS_PER_S, (101 + sock) * NS_PER_S);
			interval__add(f->iv, &ev);
		}
		if (round == 0) {
			interval__set_aggregate(f->iv, false);
		} else if (round == 1) {
			/* changed and changed back within an interval: no change */
			interval__set_aggregate(f->iv, true);
			interval__set_aggregate(f->iv, false);
		}
		now_boot_ns += 10 * NS_PER_S;
		interval__end(f->iv, NULL, NULL);
		if (round == 0) {
			assert_int_equal(take(f), 1);
			check_u64(find(f, 0, 443), "flows", 2);
		} else {
			assert_int_equal(take(f), 2);
			check_u64(find(f, 40001, 443), "flows", 1);
			check_u64(find(f, 40002, 443), "flows", 1);
		}
	}
	check_stats(f, 6, 5, 0);
}

/* A stream that cannot be written: reported once, so the sidecar can exit. */
static void test_output_failure(void **state)
{
	struct fixture *f = *state;
	FILE *full = fopen("/dev/full", "we");
	struct flow_event ev;

	assert_non_null(full);
	f->iv = interval__new(&(struct interval_opts){ .aggregate = true,
						       .max_records = 4,
						       .local = &pod,
						       .names = f->names,
						       .out = full,
						       .out_name = "/dev/full",
						       .clock = fake_clock });
	assert_non_null(f->iv);
	interval__start(f->iv);
	ev = event(f, 1, 40001, FLOW_KIND_CLOSE, 101 * NS_PER_S, 102 * NS_PER_S);
	interval__add(f->iv, &ev);
	assert_false(interval__output_failed(f->iv));
	now_boot_ns = 110 * NS_PER_S;
	interval__end(f->iv, NULL, NULL);
	assert_true(interval__output_failed(f->iv));
	check_stats(f, 1, 1, 0);
	interval__free(f->iv); /* it borrows the stream */
	f->iv = NULL;
	fclose(full);
}

/* Cuts fall on wall-clock multiples of the interval, whatever the start (sidecars align). */
static void test_next_cut(void **state)
{
	(void)state;
	assert_int_equal(1700000010000000000ULL,
			 interval_next_cut_ns(/*now_ns=*/1700000003250000000ULL, 10 * NS_PER_S));
	/* at a cut exactly: the next one, never a zero-length interval */
	assert_int_equal(1700000020000000000ULL,
			 interval_next_cut_ns(1700000010000000000ULL, 10 * NS_PER_S));
	assert_int_equal(1700000010000000000ULL,
			 interval_next_cut_ns(1700000009999999999ULL, 10 * NS_PER_S));
	/* multiples of 300 ms since the epoch: 1700000003.250 s -> 1700000003.400 s */
	assert_int_equal(1700000003400000000ULL,
			 interval_next_cut_ns(1700000003250000000ULL, 300 * NS_PER_MS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_needs_an_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aggregated_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incoming_and_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_and_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_early_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_refill_flushes_twice, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mode_change_at_interval_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_failure, setup, teardown),
		cmocka_unit_test(test_next_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
