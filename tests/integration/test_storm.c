// SPDX-License-Identifier: BSD-2-Clause
/* A connection storm past the BPF ring: each connection delivered or counted, no app stall. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "workload.h"

#define CONTAINER_ID "5707a5707a5707a5707a5707a5707a5707a5707a5707a5707a5707a5707a0000"
#define WAIT_MS	     15000

/*
 * The storm: N connections opened and closed as fast as STORM_PROCS
 * processes can (one per core here: 1.5 to 2.5 s with the sidecar on this
 * machine, ten of its intervals), to STORM_ADDRS addresses of one server.
 */
#define STORM_CONNS	  60000
#define STORM_PROCS	  2
#define STORM_DEADLINE_MS 30000 /* every connection of a storm done by then */
#define STORM_ADDRS	  8
#define STALL_MS	  500 /* a blocked syscall (a SYN retransmit is 1 s) breaks this */

static char g_scope[512];     /* the pod: the sidecar's scope */
static char g_container[640]; /* the app's container in the pod */
static char g_bare[512];      /* a second cgroup no sidecar captures */
static char g_tmp[256];

/* ---- the storm ---- */

/* A listener outside both cgroups, so only the app's side of a connection is captured. */
static int storm_listen(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/*
	 * The storm must never find the accept queue full (main() raises
	 * somaxconn): a SYN dropped there makes connect() wait a second for
	 * the retransmit, a stall of the test's server, not of the sidecar.
	 */
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, STORM_CONNS) ||
	    getsockname(fd, (struct sockaddr *)&sin, &len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Accepts and closes until killed. */
static int storm_server_main(void *arg)
{
	int lfd = *(int *)arg;

	for (;;) {
		int c = accept(lfd, NULL, NULL);

		if (c >= 0)
			close(c);
		else if (errno != EINTR && errno != ECONNABORTED)
			return 1;
	}
}

struct storm {
	uint16_t port;
	int n;		  /* connections, all processes together */
	int proc;	  /* the slice of [0, n) this process opens */
	uint32_t *lat_us; /* shared: each connection's socket()+connect()+close(), 0 = not done */
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* One storm process: its slice of connections, back to back, each timed. */
static int storm_main(void *arg)
{
	const struct storm *s = arg;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(s->port) };
	int from = s->n * s->proc / STORM_PROCS, to = s->n * (s->proc + 1) / STORM_PROCS;

	for (int i = from; i < to; i++) {
		uint64_t t0 = now_us(), us;
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		/* 127.0.0.1 and the next STORM_ADDRS - 1, all on lo: more 4-tuples (main()) */
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)(i % STORM_ADDRS));

		if (fd < 0) {
			fprintf(stderr, "    storm: socket: %s\n", strerror(errno));
			return 1;
		}
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
			fprintf(stderr, "    storm: connection %d: connect: %s\n", i,
				strerror(errno));
			return 2;
		}
		close(fd);
		us = now_us() - t0;
		s->lat_us[i] = us ? (uint32_t)us : 1;
	}
	return 0;
}

struct storm_result {
	uint64_t wall_ms; /* first connect to last close */
	uint32_t done;	  /* connections completed */
	uint32_t max_us, p99_us, p50_us;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Reads what the daemons write while waiting, so that neither blocks on a full pipe. */
static void poll_daemons(struct sidecar *sc, struct sidecar *c, int timeout_ms)
{
	sidecar_poll(sc, timeout_ms);
	sidecar_poll(c, 0);
}

/*
 * Runs the storm from `cgroup` against `port`: STORM_PROCS processes, n
 * connections.  0 when every process opened and closed all of its
 * connections within STORM_DEADLINE_MS; the latencies in *r either way.
 */
static int storm_run(const char *cgroup, uint16_t port, int n, struct sidecar *sc,
		     struct sidecar *c, struct storm_result *r)
{
	size_t bytes = (size_t)n * sizeof(uint32_t);
	struct storm s = { .port = port, .n = n };
	pid_t pids[STORM_PROCS] = { 0 };
	uint64_t t0 = harness_now_ms(), deadline = t0 + STORM_DEADLINE_MS;
	uint32_t *sorted = NULL;
	int running = 0, failed = 0;
	bool killed = false;

	memset(r, 0, sizeof(*r));
	s.lat_us = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s.lat_us == MAP_FAILED)
		return -1;
	for (s.proc = 0; s.proc < STORM_PROCS; s.proc++) {
		/* the child gets this copy of s, its slice number in it */
		pids[s.proc] = harness_spawn(cgroup, "pf-storm", storm_main, &s);
		if (pids[s.proc] < 0)
			failed++;
		else
			running++;
	}
	while (running > 0) {
		if (!killed && harness_now_ms() >= deadline) {
			fprintf(stderr, "    storm: not done after %d ms\n", STORM_DEADLINE_MS);
			for (int i = 0; i < STORM_PROCS; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGKILL);
			killed = true;
			failed++;
		}
		for (int i = 0; i < STORM_PROCS; i++) {
			int st;

			if (pids[i] <= 0 || waitpid(pids[i], &st, WNOHANG) != pids[i])
				continue;
			pids[i] = 0;
			running--;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				fprintf(stderr, "    storm process exited with status %d\n", st);
				failed++;
			}
		}
		if (running > 0)
			poll_daemons(sc, c, 10);
	}
	r->wall_ms = harness_now_ms() - t0;
	sorted = malloc(bytes);
	if (sorted) {
		for (int i = 0; i < n; i++)
			if (s.lat_us[i])
				sorted[r->done++] = s.lat_us[i];
		qsort(sorted, r->done, sizeof(*sorted), cmp_u32);
		if (r->done) {
			r->max_us = sorted[r->done - 1];
			r->p99_us = sorted[(size_t)r->done * 99 / 100];
			r->p50_us = sorted[r->done / 2];
		}
	}
	free(sorted);
	munmap(s.lat_us, bytes);
	return failed || !sorted ? -1 : 0;
}

/* ---- what the collector wrote ---- */

/* The collector's records of one direction and service port, summed. */
static struct flow_totals collected(const char *dir, const char *direction, uint16_t port)
{
	json_t *all = json_array();
	struct flow_totals t;

	harness_read_jsonl(dir, all);
	t = flow_totals_of(all, direction, port);
	json_decref(all);
	return t;
}

/* A counter of the sidecar's /metrics; UINT64_MAX when unreadable (no assertion holds then). */
static uint64_t metric(uint16_t admin, const char *sample)
{
	int64_t v = harness_metric_now(admin, sample);

	return v < 0 ? UINT64_MAX : (uint64_t)v;
}

#define M_STARTED  "podflow_sidecar_flows_started_total"
#define M_CLOSED   "podflow_sidecar_flows_closed_total"
#define M_RING	   "podflow_sidecar_drops_total{reason=\"ring_full\"}"
#define M_MAP	   "podflow_sidecar_drops_total{reason=\"map_full\"}"
#define M_TABLE	   "podflow_sidecar_drops_total{reason=\"table\"}"
#define M_DEFERRED "podflow_sidecar_walk_deferred_total"
#define M_WAKEUPS  "podflow_sidecar_ring_wakeups_total"
#define M_FOLDED   "podflow_sidecar_closes_folded_total"
#define M_FOLDFULL "podflow_sidecar_fold_full_total"

/* The sidecar's /metrics now, what the storm's accounting needs. */
struct counts {
	uint64_t started, closed, ring, map, table, deferred, wakeups, folded, fold_full;
};

static void counts_read(uint16_t admin, struct counts *k)
{
	k->started = metric(admin, M_STARTED);
	k->closed = metric(admin, M_CLOSED);
	k->ring = metric(admin, M_RING);
	k->map = metric(admin, M_MAP);
	k->table = metric(admin, M_TABLE);
	k->deferred = metric(admin, M_DEFERRED);
	k->wakeups = metric(admin, M_WAKEUPS);
	k->folded = metric(admin, M_FOLDED);
	k->fold_full = metric(admin, M_FOLDFULL);
}

static char g_collector_data[600];
static const char *const g_collector_args[] = { "--listen", NULL, "--data-dir", g_collector_data,
						NULL };

/*
 * The smallest ring the configuration allows (4 KiB: 28 events, read every
 * 100 ms or when a quarter full), room for 256 live connections, 200 ms
 * intervals, the records to a collector; the admin port for the counters.
 */
static const char *g_sidecar_args[] = { "--cgroup",
					g_scope,
					"--interval",
					"200ms",
					"--ring-bytes",
					"4096",
					"--max-connections",
					"256",
					"--stats-interval",
					"0",
					"--output",
					NULL, /* the collector's URL */
					"--admin",
					"127.0.0.1:0",
					"--fold-keys",
					NULL, /* the storm's */
					NULL };

/*
 * The storm from the app's container while the sidecar captures the pod.
 * A connection the flow map has no room for is counted once in
 * drops_map_full and never reported.  A tracked one ends in exactly one
 * close report, which reaches the collector, where `closed` counts it, or
 * finds the ring full, where drops_ring_full counts it.  Nothing else can
 * move drops_ring_full here: an interval report the walk makes of an open
 * one waits for ring space, and a late RST report follows only an abortive
 * close, which the storm never makes (it sends no data and closes with a
 * FIN; the RST a connect() may send to an old connection's TIME_WAIT, when
 * a port comes round again, is counted in that connection's own close
 * report).  So, exactly,
 *   closed at the collector + drops_ring_full + drops_map_full == N.
 * The same storm from a cgroup the sidecar does not capture is the app's
 * baseline; a normal connection afterwards is reported exactly.
 *
 * `fold_keys` "0": every close is a ring event, and the 4 KiB ring
 * overflows (drops_ring_full > 0).  The default (1024): the kernel sums
 * the closes per record itself (closes_folded), so the same storm puts no
 * close through the ring and loses none.
 */
static int storm(const char *fold_keys)
{
	const uint64_t n = STORM_CONNS;
	struct sidecar sc = { 0 }, c = { 0 };
	struct storm_result with = { 0 }, without = { 0 };
	char listen_at[64], url[128], note[256];
	uint16_t port = harness_free_port(), bound = 0, admin = 0, sport = 0, nport = 0;
	struct flow_totals storm = { 0 }, out = { 0 }, in = { 0 };
	struct counts k = { 0 };
	const char *cargs[sizeof(g_collector_args) / sizeof(g_collector_args[0])];
	const char *sargs[sizeof(g_sidecar_args) / sizeof(g_sidecar_args[0])];
	uint64_t drops = 0;
	pid_t srv = -1;
	int lfd = -1, ret = 1;
	char *body = NULL;

	snprintf(g_collector_data, sizeof(g_collector_data), "%s/data", g_tmp);
	snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%u", port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
	memcpy(cargs, g_collector_args, sizeof(cargs));
	cargs[1] = listen_at;
	memcpy(sargs, g_sidecar_args, sizeof(sargs));
	sargs[11] = url;
	sargs[15] = fold_keys;
	ASSERT_EQ_U64("collector start", 0, collector_start(&c, cargs, &bound));
	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, sargs));
	admin = harness_admin_port(&sc, WAIT_MS);
	ASSERT_TRUE("admin port", admin != 0);
	lfd = storm_listen(&sport);
	ASSERT_TRUE("storm listener", lfd >= 0);
	srv = harness_spawn(NULL, "pf-storm-srv", storm_server_main, &lfd);
	ASSERT_TRUE("storm server", srv > 0);

	/* the baseline: the same storm from a cgroup outside the scope */
	ASSERT_EQ_U64("storm without the sidecar: all done in time", 0,
		      storm_run(g_bare, sport, STORM_CONNS, &sc, &c, &without));
	ASSERT_EQ_U64("the sidecar saw none of it", 0, metric(admin, M_STARTED));
	ASSERT_EQ_U64("storm with the sidecar: all done in time", 0,
		      storm_run(g_container, sport, STORM_CONNS, &sc, &c, &with));
	fprintf(stderr,
		"    %llu connections, %d processes, socket()+connect()+close() each: with the "
		"sidecar %llu ms, max %.1f ms, p99 %.3f ms, p50 %.3f ms; without %llu ms, max %.1f "
		"ms, p99 %.3f ms, p50 %.3f ms\n",
		(unsigned long long)n, STORM_PROCS, (unsigned long long)with.wall_ms,
		with.max_us / 1000.0, with.p99_us / 1000.0, with.p50_us / 1000.0,
		(unsigned long long)without.wall_ms, without.max_us / 1000.0,
		without.p99_us / 1000.0, without.p50_us / 1000.0);
	ASSERT_EQ_U64("connections done with the sidecar", n, with.done);
	ASSERT_EQ_U64("connections done without the sidecar", n, without.done);
	ASSERT_TRUE("no connection stalled the app with the sidecar",
		    with.max_us < STALL_MS * 1000);

	/* until every close is seen, every report read, every batch written */
	{
		uint64_t deadline = harness_now_ms() + WAIT_MS;

		for (;;) {
			counts_read(admin, &k);
			storm = collected(g_collector_data, "out", sport);
			if ((k.started + k.map == n && k.closed == k.started &&
			     storm.closed + k.ring + k.map == n) ||
			    harness_now_ms() >= deadline)
				break;
			poll_daemons(&sc, &c, 100);
		}
	}
	drops = k.ring + k.map;
	fprintf(stderr,
		"    kernel side: %llu tracked, %llu closed; collector: %llu closed in %llu "
		"records (flows %llu, resets %llu); drops: ring_full %llu, map_full %llu, table "
		"%llu; walk paused %llu times, %llu forced wakeups\n",
		(unsigned long long)k.started, (unsigned long long)k.closed,
		(unsigned long long)storm.closed, (unsigned long long)storm.records,
		(unsigned long long)storm.flows, (unsigned long long)storm.resets,
		(unsigned long long)k.ring, (unsigned long long)k.map, (unsigned long long)k.table,
		(unsigned long long)k.deferred, (unsigned long long)k.wakeups);
	ASSERT_EQ_U64("tracked: all but the map_full ones", n - k.map, k.started);
	ASSERT_EQ_U64("tracked connections closed", k.started, k.closed);
	ASSERT_EQ_U64("every connection delivered or counted: closed + ring_full + map_full", n,
		      storm.closed + k.ring + k.map);
	if (strcmp(fold_keys, "0") == 0) {
		ASSERT_TRUE("the storm overflowed the ring", k.ring > 0);
		ASSERT_EQ_U64("no close folded", 0, k.folded);
	} else {
		/* the storm's 8 records fit the fold table: every close summed in the kernel */
		ASSERT_EQ_U64("no close lost to the ring", 0, k.ring);
		ASSERT_EQ_U64("every close at the collector folded", storm.closed, k.folded);
		ASSERT_EQ_U64("fold table never full", 0, k.fold_full);
	}
	ASSERT_EQ_U64("table drops", 0, k.table);
	ASSERT_EQ_U64("failed connects reported", 0, storm.failed);
	ASSERT_EQ_U64("bytes reported for the storm (it sent none)", 0,
		      storm.bytes_sent + storm.bytes_received);

	/* healthy after: ready, and a normal connection reported exactly */
	ASSERT_EQ_U64("ready after the storm", 200, harness_http_get(admin, "/readyz", &body));
	ASSERT_EQ_U64("a normal connection after the storm", 0,
		      exchange(g_container, 1, 4321, 8765, &nport));
	{
		uint64_t deadline = harness_now_ms() + WAIT_MS;

		do {
			poll_daemons(&sc, &c, 50);
			out = collected(g_collector_data, "out", nport);
			in = collected(g_collector_data, "in", nport);
		} while ((out.closed < 1 || in.closed < 1) && harness_now_ms() < deadline);
	}
	ASSERT_EQ_U64("out closed", 1, out.closed);
	ASSERT_EQ_U64("out flows", 1, out.flows);
	ASSERT_EQ_U64("out bytes_sent", 4321, out.bytes_sent);
	ASSERT_EQ_U64("out bytes_received", 8765, out.bytes_received);
	ASSERT_EQ_U64("out resets", 0, out.resets);
	ASSERT_EQ_U64("in closed", 1, in.closed);
	ASSERT_EQ_U64("in flows", 1, in.flows);
	ASSERT_EQ_U64("in bytes_sent", 8765, in.bytes_sent);
	ASSERT_EQ_U64("in bytes_received", 4321, in.bytes_received);

	/* the same counts at exit, and in the batch headers the collector summed */
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 8000, NULL));
	ASSERT_EQ_U64("sidecar exit code", 0, WIFEXITED(sc.status) ? WEXITSTATUS(sc.status) : 99);
	ASSERT_EQ_U64("drops_ring_full at exit", k.ring, sidecar_exit_stat(&sc, "drops_ring_full"));
	ASSERT_EQ_U64("drops_map_full at exit", k.map, sidecar_exit_stat(&sc, "drops_map_full"));
	ASSERT_EQ_U64("nothing dropped by the exporter", 0,
		      sidecar_exit_stat(&sc, "drops_export_buffer") +
			  sidecar_exit_stat(&sc, "drops_export_rejected") +
			  sidecar_exit_stat(&sc, "drops_export_abandoned"));
	ASSERT_EQ_U64("collector exit code", 0, harness_child_stop(&c));
	ASSERT_EQ_U64("ring drops in the batch headers", k.ring,
		      sidecar_exit_stat(&c, "sender_drops_kernel_ring"));
	ASSERT_EQ_U64("map drops in the batch headers", k.map,
		      sidecar_exit_stat(&c, "sender_drops_kernel_map"));

	snprintf(note, sizeof(note),
		 "ring_full %llu, map_full %llu; app max socket+connect+close %.1f ms (p99 %.2f "
		 "ms) vs %.1f ms (p99 %.2f ms) without the sidecar",
		 (unsigned long long)k.ring, (unsigned long long)k.map, with.max_us / 1000.0,
		 with.p99_us / 1000.0, without.max_us / 1000.0, without.p99_us / 1000.0);
	harness_report(&(struct report_fault){
	    .fault = strcmp(fold_keys, "0") == 0
			 ? "connection storm past the BPF ring's capacity (fold_keys 0)"
			 : "the same storm, closes folded in the kernel (the default)",
	    .unit = "connections",
	    .injected = n,
	    .delivered = storm.closed,
	    .counted = drops,
	    .lost = n - storm.closed - drops,
	    .counted_as = "podflow_sidecar_drops_total{reason=\"ring_full\"} and "
			  "{reason=\"map_full\"} (drops_ring_full, drops_map_full), in the batch "
			  "headers: podflow_collector_sender_drops_total{reason=\"kernel_ring\"} "
			  "and {reason=\"kernel_map\"}",
	    .note = note });
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n    collector:\n%s\n",
			sc.err_text ? sc.err_text : "", c.err_text ? c.err_text : "");
	if (srv > 0) {
		kill(srv, SIGKILL);
		waitpid(srv, NULL, 0);
	}
	if (lfd >= 0)
		close(lfd);
	free(body);
	sidecar_free(&sc);
	sidecar_free(&c);
	return ret;
}

static int test_storm_counted_never_stalls(void)
{
	return storm("0");
}

static int test_storm_folded_nothing_lost(void)
{
	return storm("1024");
}

static const struct harness_test tests[] = {
	{ "storm_counted_never_stalls", test_storm_counted_never_stalls },
	{ "storm_folded_nothing_lost", test_storm_folded_nothing_lost },
};

int main(int argc, char **argv)
{
	char rel[256];
	int failed = harness_require_root();

	if (failed)
		return failed;
	if (harness_pod_setup("podflow-storm", CONTAINER_ID, g_scope, g_container, sizeof(g_scope),
			      g_tmp, sizeof(g_tmp)))
		return 1;
	snprintf(rel, sizeof(rel), "podflow-storm-%d-bare", getpid());
	if (harness_cgroup_create(rel, g_bare, sizeof(g_bare))) {
		fprintf(stderr, "cannot create cgroup %s: FAIL\n", rel);
		harness_cgroup_destroy(g_scope);
		return 1;
	}
	/*
	 * Two storms to one server, their client ends left in TIME_WAIT (a
	 * port comes round again after a second: tcp_tw_reuse's loopback
	 * default).  Over STORM_ADDRS addresses and this private namespace's
	 * own port range, widened, connect() finds a free port at once; its
	 * somaxconn, raised, lets the accept queue hold a whole storm.
	 */
	if (harness_sh("echo '10000 65000' > /proc/sys/net/ipv4/ip_local_port_range && "
		       "echo %d > /proc/sys/net/core/somaxconn",
		       STORM_CONNS)) {
		harness_cgroup_destroy(g_scope);
		harness_cgroup_destroy(g_bare);
		harness_sh("rm -rf %s", g_tmp);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);

	failed = harness_run("storm", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
	harness_cgroup_destroy(g_scope);
	harness_cgroup_destroy(g_bare);
	harness_sh("rm -rf %s", g_tmp);
	return failed ? 1 : 0;
}
