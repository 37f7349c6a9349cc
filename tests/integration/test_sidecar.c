// SPDX-License-Identifier: BSD-2-Clause
/* Sidecar integration tests: real kernel, real cgroups, real TCP in a private netns. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "workload.h"

#define CONTAINER_ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define WAIT_MS	     10000

static char g_scope[512];     /* the "pod": sidecar scope */
static char g_container[640]; /* a container cgroup inside the pod */
static char g_outside[512];   /* a sibling cgroup, out of scope */
static uint64_t g_container_id;

/* ---- record predicates ---- */

struct match {
	const char *direction;
	int64_t local_port;  /* -1 = any */
	int64_t remote_port; /* -1 = any */
	int closed;	     /* 1 = only records with closed >= 1 */
};

static bool match_rec(json_t *r, void *ctx)
{
	struct match *m = ctx;

	if (m->direction && strcmp(rec_str(r, "direction"), m->direction) != 0)
		return false;
	if (m->local_port >= 0 && rec_u64(r, "local_port") != (uint64_t)m->local_port)
		return false;
	if (m->remote_port >= 0 && rec_u64(r, "remote_port") != (uint64_t)m->remote_port)
		return false;
	if (m->closed && rec_u64(r, "closed") == 0)
		return false;
	return true;
}

/* Sum of `key` over all records matching m. */
static uint64_t sum_matching(struct sidecar *sc, struct match *m, const char *key, int *count)
{
	uint64_t sum = 0;

	*count = 0;
	for (size_t i = 0; i < json_array_size(sc->records); i++) {
		json_t *r = json_array_get(sc->records, i);

		if (match_rec(r, m)) {
			sum += rec_u64(r, key);
			(*count)++;
		}
	}
	return sum;
}

/* Stops the sidecar: exit 0 within 2 s and no kernel-side drops. */
static int stop_clean(struct sidecar *sc)
{
	double secs = 0;
	const char *stats;

	ASSERT_EQ_U64("sidecar stopped within 2 s of SIGTERM", 0, sidecar_stop(sc, 2000, &secs));
	ASSERT_TRUE("sidecar exited normally", WIFEXITED(sc->status));
	ASSERT_EQ_U64("sidecar exit code", 0, WEXITSTATUS(sc->status));
	stats = strstr(sc->err_text, "stats at exit:");
	ASSERT_TRUE("stats line at exit", stats != NULL);
	ASSERT_TRUE("no ring-full drops", strstr(stats, " drops_ring_full=0 ") != NULL);
	ASSERT_TRUE("no map-full drops", strstr(stats, " drops_map_full=0 ") != NULL);
	ASSERT_TRUE("no table drops", strstr(stats, " drops_table=0 ") != NULL);
	ASSERT_TRUE("no walk errors", strstr(stats, " walk_errors=0 ") != NULL);
	return 0;
cleanup:
	fprintf(stderr, "    sidecar stderr:\n%s\n", sc->err_text ? sc->err_text : "");
	return 1;
}

/* On failure, what the sidecar printed helps more than any message. */
static void dump_records(struct sidecar *sc)
{
	for (size_t i = 0; i < json_array_size(sc->records); i++) {
		char *s = json_dumps(json_array_get(sc->records, i), JSON_COMPACT);

		fprintf(stderr, "    record: %s\n", s);
		free(s);
	}
}

static void reap_client(struct client_run *run)
{
	if (!run->pid)
		return;
	/* still our unreaped child (a test that failed early)? then stop it */
	if (waitpid(run->pid, NULL, WNOHANG) == 0) {
		kill(run->pid, SIGKILL);
		waitpid(run->pid, NULL, 0);
	}
	client_close(run);
}

/* Every test's cleanup: what the sidecar said on failure, then reap everything. */
static int finish(int ret, struct sidecar *sc, pid_t spid, struct client_run *run)
{
	if (ret && sc->records)
		dump_records(sc);
	if (spid > 0) {
		kill(spid, SIGKILL);
		waitpid(spid, NULL, 0);
	}
	if (run)
		reap_client(run);
	sidecar_free(sc);
	return ret;
}

static const char *const *args_of(const char *mode, const char *interval)
{
	static const char *argv[12];
	int n = 0;

	argv[n++] = "--cgroup";
	argv[n++] = g_scope;
	argv[n++] = "--interval";
	argv[n++] = interval;
	argv[n++] = "--stats-interval";
	argv[n++] = "0";
	if (mode)
		argv[n++] = mode;
	argv[n] = NULL;
	return argv;
}

/* One connection, client and server both in scope: exact out and in records. */
static int exchange_exact(int family, const char *addr, const char *ip_text, uint64_t fam_text)
{
	const size_t req = 12345, resp = 54321;
	struct peer srv = { .family = family, .addr = addr, .req = req, .resp = resp, .conns = 1 };
	struct peer cli = srv;
	struct client_run run = { 0 };
	struct sidecar sc = { 0 };
	pid_t spid = -1, server_pid;
	uint16_t sport = 0, cport = 0;
	int cerr = 0, ret = 1;
	json_t *out, *in;

	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of("--per-connection", "500ms")));
	spid = start_server(&srv, g_container, &sport);
	server_pid = spid;
	ASSERT_TRUE("server started", spid > 0);
	cli.port = sport;
	ASSERT_TRUE("client started", start_client(&cli, g_container, &run) > 0);
	ASSERT_EQ_U64("client report", 0, client_next(&run, &cport, &cerr));
	ASSERT_EQ_U64("connect errno", 0, cerr);
	ASSERT_EQ_U64("client exit", 0, harness_wait(run.pid, WAIT_MS));
	ASSERT_EQ_U64("server exit", 0, harness_wait(spid, WAIT_MS));
	spid = -1;

	out =
	    sidecar_wait_record(&sc, match_rec, &(struct match){ "out", cport, sport, 1 }, WAIT_MS);
	ASSERT_TRUE("out record", out != NULL);
	in = sidecar_wait_record(&sc, match_rec, &(struct match){ "in", sport, cport, 1 }, WAIT_MS);
	ASSERT_TRUE("in record", in != NULL);

	ASSERT_EQ_U64("out family", fam_text, rec_u64(out, "family"));
	ASSERT_STR("out local_ip", ip_text, rec_str(out, "local_ip"));
	ASSERT_STR("out remote_ip", ip_text, rec_str(out, "remote_ip"));
	ASSERT_EQ_U64("out flows", 1, rec_u64(out, "flows"));
	ASSERT_EQ_U64("out closed", 1, rec_u64(out, "closed"));
	ASSERT_EQ_U64("out failed", 0, rec_u64(out, "failed"));
	ASSERT_EQ_U64("out bytes_sent", req, rec_u64(out, "bytes_sent"));
	ASSERT_EQ_U64("out bytes_received", resp, rec_u64(out, "bytes_received"));
	ASSERT_EQ_U64("out retransmits", 0, rec_u64(out, "retransmits"));
	ASSERT_EQ_U64("out resets", 0, rec_u64(out, "resets"));
	ASSERT_TRUE("out segs_sent", rec_u64(out, "segs_sent") >= 3);
	ASSERT_TRUE("out segs_received", rec_u64(out, "segs_received") >= 3);
	ASSERT_TRUE("out srtt_us", rec_u64(out, "srtt_us") > 0);
	ASSERT_TRUE("out min_rtt_us", rec_u64(out, "min_rtt_us") > 0);
	ASSERT_TRUE("min_rtt <= srtt", rec_u64(out, "min_rtt_us") <= rec_u64(out, "srtt_us") * 8);
	ASSERT_EQ_U64("out pid", run.pid, rec_u64(out, "pid"));
	ASSERT_STR("out comm", "pf-client", rec_str(out, "comm"));
	ASSERT_EQ_U64("out cgroup_id", g_container_id, rec_u64(out, "cgroup_id"));
	ASSERT_STR("out container_id", CONTAINER_ID, rec_str(out, "container_id"));
	ASSERT_STR("out remote_source", "unattributed", rec_str(out, "remote_source"));
	ASSERT_TRUE("out start <= end", rec_u64(out, "start_ms") <= rec_u64(out, "end_ms"));

	ASSERT_EQ_U64("in family", fam_text, rec_u64(in, "family"));
	ASSERT_EQ_U64("in flows", 1, rec_u64(in, "flows"));
	ASSERT_EQ_U64("in closed", 1, rec_u64(in, "closed"));
	ASSERT_EQ_U64("in bytes_sent", resp, rec_u64(in, "bytes_sent"));
	ASSERT_EQ_U64("in bytes_received", req, rec_u64(in, "bytes_received"));
	ASSERT_EQ_U64("in pid (the listener's owner)", server_pid, rec_u64(in, "pid"));
	ASSERT_STR("in comm", "pf-server", rec_str(in, "comm"));
	ASSERT_EQ_U64("in cgroup_id", g_container_id, rec_u64(in, "cgroup_id"));
	ret = stop_clean(&sc);
cleanup:
	return finish(ret, &sc, spid, &run);
}

static int test_ipv4_exact(void)
{
	return exchange_exact(AF_INET, "127.0.0.1", "127.0.0.1", 4);
}

static int test_ipv6_exact(void)
{
	return exchange_exact(AF_INET6, "::1", "::1", 6);
}

/* An AF_INET6 socket talking to an IPv4 server is shown as IPv4. */
static int test_v4mapped(void)
{
	struct peer srv = {
		.family = AF_INET, .addr = "127.0.0.1", .req = 100, .resp = 200, .conns = 1
	};
	struct peer cli = {
		.family = AF_INET6, .addr = "::ffff:127.0.0.1", .req = 100, .resp = 200, .conns = 1
	};
	struct client_run run = { 0 };
	struct sidecar sc = { 0 };
	uint16_t sport = 0, cport = 0;
	int cerr = 0, ret = 1;
	pid_t spid = -1;
	json_t *out;

	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of("--per-connection", "500ms")));
	spid = start_server(&srv, g_container, &sport);
	ASSERT_TRUE("server started", spid > 0);
	cli.port = sport;
	ASSERT_TRUE("client started", start_client(&cli, g_container, &run) > 0);
	ASSERT_EQ_U64("client report", 0, client_next(&run, &cport, &cerr));
	ASSERT_EQ_U64("connect errno", 0, cerr);
	ASSERT_EQ_U64("client exit", 0, harness_wait(run.pid, WAIT_MS));
	out =
	    sidecar_wait_record(&sc, match_rec, &(struct match){ "out", cport, sport, 1 }, WAIT_MS);
	ASSERT_TRUE("out record", out != NULL);
	ASSERT_EQ_U64("family", 4, rec_u64(out, "family"));
	ASSERT_STR("local_ip", "127.0.0.1", rec_str(out, "local_ip"));
	ASSERT_STR("remote_ip", "127.0.0.1", rec_str(out, "remote_ip"));
	ASSERT_EQ_U64("bytes_sent", 100, rec_u64(out, "bytes_sent"));
	ASSERT_EQ_U64("bytes_received", 200, rec_u64(out, "bytes_received"));
	ret = stop_clean(&sc);
cleanup:
	return finish(ret, &sc, spid, &run);
}

/* Processes outside the scope cgroup produce no record. */
static int test_outside_cgroup(void)
{
	struct peer osrv = {
		.family = AF_INET, .addr = "127.0.0.1", .req = 500, .resp = 700, .conns = 2
	};
	struct peer ocli = osrv, mcli = osrv;
	struct client_run orun = { 0 }, mrun = { 0 };
	struct sidecar sc = { 0 };
	uint16_t sport = 0, ocport = 0, mcport = 0;
	int cerr = 0, ret = 1;
	pid_t spid = -1;

	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of("--per-connection", "300ms")));
	spid = start_server(&osrv, g_outside, &sport);
	ASSERT_TRUE("outside server started", spid > 0);
	ocli.port = sport;
	ocli.conns = 1;
	ASSERT_TRUE("outside client", start_client(&ocli, g_outside, &orun) > 0);
	ASSERT_EQ_U64("outside client report", 0, client_next(&orun, &ocport, &cerr));
	ASSERT_EQ_U64("outside connect errno", 0, cerr);
	ASSERT_EQ_U64("outside client exit", 0, harness_wait(orun.pid, WAIT_MS));

	/* then a marker connection from inside the scope to the same server */
	mcli.port = sport;
	mcli.conns = 1;
	ASSERT_TRUE("marker client", start_client(&mcli, g_container, &mrun) > 0);
	ASSERT_EQ_U64("marker client report", 0, client_next(&mrun, &mcport, &cerr));
	ASSERT_EQ_U64("marker client exit", 0, harness_wait(mrun.pid, WAIT_MS));
	ASSERT_TRUE("marker out record",
		    sidecar_wait_record(&sc, match_rec, &(struct match){ "out", mcport, sport, 1 },
					WAIT_MS));
	ASSERT_EQ_U64("server exit", 0, harness_wait(spid, WAIT_MS));
	spid = -1;
	ret = stop_clean(&sc);
	if (ret)
		goto cleanup;
	ret = 1;
	/*
	 * The marker's records only (two when a cut fell inside its life: the
	 * walk's and the close's); the outside connection must have none.
	 */
	for (size_t i = 0; i < json_array_size(sc.records); i++) {
		json_t *r = json_array_get(sc.records, i);

		ASSERT_TRUE("no record of the outside client", rec_u64(r, "local_port") != ocport);
		ASSERT_TRUE("no in record of the outside server",
			    !(strcmp(rec_str(r, "direction"), "in") == 0 &&
			      rec_u64(r, "local_port") == sport));
		ASSERT_TRUE("records: only the marker's",
			    match_rec(r, &(struct match){ "out", mcport, sport, 0 }));
	}
	{
		int n;
		struct match m = { "out", mcport, sport, 0 };

		ASSERT_EQ_U64("the marker closed once", 1, sum_matching(&sc, &m, "closed", &n));
		ASSERT_EQ_U64("the marker's bytes", osrv.req,
			      sum_matching(&sc, &m, "bytes_sent", &n));
	}
	ret = 0;
cleanup:
	reap_client(&orun);
	return finish(ret, &sc, spid, &mrun);
}

/* A connection held open across intervals reports per-interval deltas. */
static int test_long_lived_deltas(void)
{
	const size_t chunk = 40000;
	const int chunks = 3;
	struct peer srv = { .family = AF_INET,
			    .addr = "127.0.0.1",
			    .req = chunk,
			    .resp = 0,
			    .conns = 1,
			    .chunks = chunks };
	struct peer cli = srv;
	struct client_run run = { 0 };
	struct sidecar sc = { 0 };
	uint16_t sport = 0, cport = 0;
	int cerr = 0, ret = 1, n = 0, n_in = 0;
	pid_t spid = -1;
	struct match m = { "out", 0, 0, 0 }, m_in = { "in", 0, 0, 0 };
	uint64_t sum = 0;

	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of("--per-connection", "300ms")));
	spid = start_server(&srv, g_container, &sport);
	ASSERT_TRUE("server started", spid > 0);
	cli.port = sport;
	ASSERT_TRUE("client started", start_client(&cli, g_container, &run) > 0);
	ASSERT_EQ_U64("client report", 0, client_next(&run, &cport, &cerr));
	ASSERT_EQ_U64("connect errno", 0, cerr);
	m.local_port = cport;
	m.remote_port = sport;
	m_in.local_port = sport;
	m_in.remote_port = cport;

	for (int i = 1; i <= chunks; i++) {
		uint64_t deadline = harness_now_ms() + WAIT_MS;
		int before;

		sum_matching(&sc, &m, "bytes_sent", &before);
		ASSERT_EQ_U64("go", 1, write(run.control_wr, "g", 1));
		/* wait until the records so far add up to what was sent so far */
		while ((sum = sum_matching(&sc, &m, "bytes_sent", &n)) != chunk * (size_t)i &&
		       harness_now_ms() < deadline)
			sidecar_poll(&sc, 50);
		ASSERT_EQ_U64("records sum to bytes sent so far", chunk * (size_t)i, sum);
		ASSERT_TRUE("a new record for this interval", n > before);
		if (i < chunks) /* after the last chunk the client closes at once */
			ASSERT_TRUE("none closed yet", sum_matching(&sc, &m, "closed", &n) == 0);
	}
	ASSERT_EQ_U64("client exit", 0, harness_wait(run.pid, WAIT_MS));
	ASSERT_EQ_U64("server exit", 0, harness_wait(spid, WAIT_MS));
	spid = -1;
	ASSERT_TRUE("final record",
		    sidecar_wait_record(&sc, match_rec, &(struct match){ "out", cport, sport, 1 },
					WAIT_MS));
	ret = stop_clean(&sc);
	if (ret)
		goto cleanup;
	ret = 1;
	ASSERT_EQ_U64("out total bytes_sent", chunk * chunks,
		      sum_matching(&sc, &m, "bytes_sent", &n));
	ASSERT_TRUE("at least one record per interval it was active in", n >= chunks);
	ASSERT_EQ_U64("out closed once", 1, sum_matching(&sc, &m, "closed", &n));
	ASSERT_EQ_U64("in total bytes_received", chunk * chunks,
		      sum_matching(&sc, &m_in, "bytes_received", &n_in));
	ASSERT_TRUE("in: several interval records", n_in >= chunks);
	for (size_t i = 0; i < json_array_size(sc.records); i++) {
		json_t *r = json_array_get(sc.records, i);

		if (match_rec(r, &m))
			ASSERT_EQ_U64("every out record is one connection", 1, rec_u64(r, "flows"));
	}
	ret = 0;
cleanup:
	return finish(ret, &sc, spid, &run);
}

/* A refused connect is a record: flows 1, failed 1, ECONNREFUSED, zero bytes. */
static int test_refused(void)
{
	struct peer cli = { .family = AF_INET, .addr = "127.0.0.1", .req = 10, .conns = 1 };
	struct client_run run = { 0 };
	struct sidecar sc = { 0 };
	uint16_t port = 0, cport = 0;
	int lfd, cerr = 0, ret = 1;
	uint64_t tried = 0;
	struct report_fault f;
	json_t *r;

	/* a port that was just free: bind, read it, close */
	lfd = tcp_listen(AF_INET, "127.0.0.1", &port);
	ASSERT_TRUE("probe listener", lfd >= 0);
	close(lfd);
	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of("--per-connection", "300ms")));
	cli.port = port;
	ASSERT_TRUE("client started", start_client(&cli, g_container, &run) > 0);
	ASSERT_EQ_U64("client report", 0, client_next(&run, &cport, &cerr));
	tried++;
	ASSERT_EQ_U64("connect errno", ECONNREFUSED, cerr);
	ASSERT_EQ_U64("client exit", 0, harness_wait(run.pid, WAIT_MS));
	r = sidecar_wait_record(&sc, match_rec, &(struct match){ "out", -1, port, 1 }, WAIT_MS);
	ASSERT_TRUE("refused record", r != NULL);
	ASSERT_EQ_U64("flows", 1, rec_u64(r, "flows"));
	ASSERT_EQ_U64("closed", 1, rec_u64(r, "closed"));
	ASSERT_EQ_U64("failed", 1, rec_u64(r, "failed"));
	ASSERT_STR("error", "ECONNREFUSED", rec_str(r, "error"));
	ASSERT_EQ_U64("bytes_sent", 0, rec_u64(r, "bytes_sent"));
	ASSERT_EQ_U64("bytes_received", 0, rec_u64(r, "bytes_received"));
	ASSERT_EQ_U64("resets (the RST that refused it)", 1, rec_u64(r, "resets"));
	ASSERT_EQ_U64("pid", run.pid, rec_u64(r, "pid"));
	f = (struct report_fault){
		.fault = "connect refused (RST to the SYN)",
		.unit = "connections",
		.injected = tried,
		.delivered = rec_u64(r, "failed"),
		.note = "delivered: a record with failed 1 and error ECONNREFUSED",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("the failed connect recorded", 0, f.lost);
	ret = stop_clean(&sc);
	if (!ret)
		harness_report(&f);
cleanup:
	return finish(ret, &sc, -1, &run);
}

/* A connect whose SYNs are dropped times out and is reported as ETIMEDOUT. */
static int test_timed_out(void)
{
	struct peer cli = {
		.family = AF_INET, .addr = "127.0.0.1", .req = 10, .conns = 1, .syncnt = 1
	};
	struct client_run run = { 0 };
	struct sidecar sc = { 0 };
	uint16_t port = 0, cport = 0;
	int lfd = -1, cerr = 0, ret = 1, nft = 0;
	uint64_t tried = 0;
	struct report_fault f;
	json_t *r;

	lfd = tcp_listen(AF_INET, "127.0.0.1", &port);
	ASSERT_TRUE("listener", lfd >= 0);
	ASSERT_EQ_U64("nft drop SYNs", 0,
		      harness_sh("nft add table inet pf_syn && nft add chain inet pf_syn in "
				 "'{ type filter hook input priority 0; }' && nft add rule inet "
				 "pf_syn in tcp dport %u tcp flags syn drop",
				 port));
	nft = 1;
	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of("--per-connection", "300ms")));
	cli.port = port;
	ASSERT_TRUE("client started", start_client(&cli, g_container, &run) > 0);
	/* TCP_SYNCNT 1: one retransmission, then ETIMEDOUT after ~3 s */
	ASSERT_EQ_U64("client report", 0, client_next(&run, &cport, &cerr));
	tried++;
	ASSERT_EQ_U64("connect errno", ETIMEDOUT, cerr);
	ASSERT_EQ_U64("client exit", 0, harness_wait(run.pid, WAIT_MS));
	r = sidecar_wait_record(&sc, match_rec, &(struct match){ "out", -1, port, 1 }, WAIT_MS);
	ASSERT_TRUE("timed-out record", r != NULL);
	ASSERT_EQ_U64("flows", 1, rec_u64(r, "flows"));
	ASSERT_EQ_U64("failed", 1, rec_u64(r, "failed"));
	ASSERT_STR("error", "ETIMEDOUT", rec_str(r, "error"));
	ASSERT_EQ_U64("bytes_sent", 0, rec_u64(r, "bytes_sent"));
	f = (struct report_fault){
		.fault = "every SYN dropped (nftables): connect times out",
		.unit = "connections",
		.injected = tried,
		.delivered = rec_u64(r, "failed"),
		.note = "delivered: a record with failed 1, error ETIMEDOUT, the SYN "
			"retransmissions counted",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("the failed connect recorded", 0, f.lost);
	ret = stop_clean(&sc);
	if (ret)
		goto cleanup;
	ret = 1;
	{
		/*
		 * The SYN and its retransmissions, reported interval by interval.
		 * How many the kernel sends within TCP_SYNCNT=1 depends on its
		 * timeout arithmetic (6.x: time-based, usually 3 SYNs in ~3 s), so
		 * check the invariant: one original SYN, the rest retransmissions.
		 */
		struct match m = { "out", cport, port, 0 };
		int n;
		uint64_t segs = sum_matching(&sc, &m, "segs_sent", &n);
		uint64_t retrans = sum_matching(&sc, &m, "retransmits", &n);

		ASSERT_TRUE("SYN retransmitted at least once", retrans >= 1);
		ASSERT_EQ_U64("SYNs sent = 1 + retransmissions", 1 + retrans, segs);
		ASSERT_EQ_U64("bytes_sent over all records", 0,
			      sum_matching(&sc, &m, "bytes_sent", &n));
	}
	harness_report(&f);
	ret = 0;
cleanup:
	if (nft)
		harness_sh("nft delete table inet pf_syn");
	if (lfd >= 0)
		close(lfd);
	return finish(ret, &sc, -1, &run);
}

/* Packet loss injected with nftables shows as retransmits; bytes stay exact. */
static int test_retransmits(void)
{
	const size_t req = 2 * 1024 * 1024;
	struct peer srv = {
		.family = AF_INET, .addr = "127.0.0.1", .req = req, .resp = 1, .conns = 1
	};
	struct peer cli = srv;
	struct client_run run = { 0 };
	struct sidecar sc = { 0 };
	uint16_t sport = 0, cport = 0;
	int cerr = 0, ret = 1, nft = 0;
	pid_t spid = -1;
	json_t *out, *in;
	struct report_fault f;

	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of("--per-connection", "500ms")));
	spid = start_server(&srv, g_container, &sport);
	ASSERT_TRUE("server started", spid > 0);
	/*
	 * Drop one in 8 data segments towards the server (not the SYN) on
	 * *input*: a drop in the sender's output hook fails the transmit
	 * itself, which TCP simply retries as a first transmission, while a
	 * drop on input is a real loss the sender must detect and retransmit.
	 */
	ASSERT_EQ_U64("nft loss rule", 0,
		      harness_sh("nft add table inet pf_loss && nft add chain inet pf_loss in "
				 "'{ type filter hook input priority 0; }' && nft add rule inet "
				 "pf_loss in tcp dport %u tcp flags != syn meta length gt 200 "
				 "numgen random mod 8 0 counter drop",
				 sport));
	nft = 1;
	cli.port = sport;
	cli.maxseg = 1400;
	ASSERT_TRUE("client started", start_client(&cli, g_container, &run) > 0);
	ASSERT_EQ_U64("client report", 0, client_next(&run, &cport, &cerr));
	ASSERT_EQ_U64("connect errno", 0, cerr);
	ASSERT_EQ_U64("client exit", 0, harness_wait(run.pid, 60000));
	ASSERT_EQ_U64("server exit", 0, harness_wait(spid, WAIT_MS));
	spid = -1;
	out =
	    sidecar_wait_record(&sc, match_rec, &(struct match){ "out", cport, sport, 1 }, WAIT_MS);
	in = sidecar_wait_record(&sc, match_rec, &(struct match){ "in", sport, cport, 1 }, WAIT_MS);
	ASSERT_TRUE("out record", out && in);
	ret = stop_clean(&sc);
	if (ret)
		goto cleanup;
	ret = 1;
	{
		struct match m = { "out", cport, sport, 0 }, mi = { "in", sport, cport, 0 };
		int n;
		uint64_t retrans = sum_matching(&sc, &m, "retransmits", &n);

		fprintf(stderr, "    retransmits=%llu over %d record(s)\n",
			(unsigned long long)retrans, n);
		ASSERT_TRUE("retransmits > 0", retrans > 0);
		ASSERT_EQ_U64("bytes_sent exact despite retransmits", req,
			      sum_matching(&sc, &m, "bytes_sent", &n));
		ASSERT_EQ_U64("server bytes_received", req,
			      sum_matching(&sc, &mi, "bytes_received", &n));
		ASSERT_EQ_U64("server retransmits (its side lost nothing)", 0,
			      sum_matching(&sc, &mi, "retransmits", &n));
		f = (struct report_fault){
			.fault = "1 in 8 data segments dropped on the way (nftables)",
			.unit = "bytes sent",
			.injected = cli.req,
			.delivered = sum_matching(&sc, &m, "bytes_sent", &n),
			.note = "the retransmissions reported (retransmits > 0), each byte once",
		};
		f.lost = f.injected - f.delivered - f.counted;
		ASSERT_EQ_U64("every byte sent recorded once", 0, f.lost);
		harness_report(&f);
	}
	ret = 0;
cleanup:
	if (nft)
		harness_sh("nft delete table inet pf_loss");
	return finish(ret, &sc, spid, &run);
}

/*
 * Starts srv in the container and a client of it (cli, its port set here),
 * and reads the client's report of each of its cli->conns connects: 0 once
 * all are made without error.
 */
static int connect_all(struct peer *srv, struct peer *cli, struct client_run *run, pid_t *spid,
		       uint16_t *sport)
{
	uint16_t cport = 0;
	int cerr = 0;

	*spid = start_server(srv, g_container, sport);
	ASSERT_TRUE("server started", *spid > 0);
	cli->port = *sport;
	ASSERT_TRUE("client started", start_client(cli, g_container, run) > 0);
	for (int i = 0; i < cli->conns; i++) {
		ASSERT_EQ_U64("client report", 0, client_next(run, &cport, &cerr));
		ASSERT_EQ_U64("connect errno", 0, cerr);
	}
	return 0;
cleanup:
	return 1;
}

/* Aggregated mode folds K connections to one service into one record per side. */
static int test_aggregated(void)
{
	const int k = 5;
	struct peer srv = {
		.family = AF_INET, .addr = "127.0.0.1", .req = 1000, .resp = 2000, .conns = k
	};
	struct peer cli = srv;
	struct client_run run = { 0 };
	struct sidecar sc = { 0 };
	uint16_t sport = 0;
	int ret = 1;
	pid_t spid = -1;
	json_t *out = NULL, *in = NULL;

	/* a 1 h interval: the SIGTERM flush is the one flush, so all K land together */
	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of(NULL, "1h")));
	ASSERT_EQ_U64("k connections made", 0, connect_all(&srv, &cli, &run, &spid, &sport));
	ASSERT_EQ_U64("client exit", 0, harness_wait(run.pid, WAIT_MS));
	ASSERT_EQ_U64("server exit", 0, harness_wait(spid, WAIT_MS));
	spid = -1;
	ret = stop_clean(&sc);
	if (ret)
		goto cleanup;
	ret = 1;
	ASSERT_EQ_U64("records: one per direction", 2, json_array_size(sc.records));
	out = sidecar_wait_record(&sc, match_rec, &(struct match){ "out", 0, sport, 0 }, 0);
	in = sidecar_wait_record(&sc, match_rec, &(struct match){ "in", sport, 0, 0 }, 0);
	ASSERT_TRUE("out record (ephemeral port 0, service port kept)", out != NULL);
	ASSERT_TRUE("in record (service port kept, ephemeral 0)", in != NULL);
	ASSERT_EQ_U64("out flows", k, rec_u64(out, "flows"));
	ASSERT_EQ_U64("out closed", k, rec_u64(out, "closed"));
	ASSERT_EQ_U64("out bytes_sent", 1000 * k, rec_u64(out, "bytes_sent"));
	ASSERT_EQ_U64("out bytes_received", 2000 * k, rec_u64(out, "bytes_received"));
	ASSERT_EQ_U64("out pid", run.pid, rec_u64(out, "pid"));
	ASSERT_EQ_U64("in flows", k, rec_u64(in, "flows"));
	ASSERT_EQ_U64("in closed", k, rec_u64(in, "closed"));
	ASSERT_EQ_U64("in bytes_sent", 2000 * k, rec_u64(in, "bytes_sent"));
	ASSERT_EQ_U64("in bytes_received", 1000 * k, rec_u64(in, "bytes_received"));
	ret = 0;
cleanup:
	return finish(ret, &sc, spid, &run);
}

/* One aggregated record's exact figures. */
static int check_folded(json_t *r, const char *what, uint64_t flows, uint64_t failed, uint64_t sent,
			uint64_t received, const char *error)
{
	ASSERT_TRUE(what, r != NULL);
	ASSERT_EQ_U64("flows", flows, rec_u64(r, "flows"));
	ASSERT_EQ_U64("closed", flows, rec_u64(r, "closed"));
	ASSERT_EQ_U64("failed", failed, rec_u64(r, "failed"));
	ASSERT_EQ_U64("bytes_sent", sent, rec_u64(r, "bytes_sent"));
	ASSERT_EQ_U64("bytes_received", received, rec_u64(r, "bytes_received"));
	ASSERT_STR("error", error, rec_str(r, "error"));
	return 0;
cleanup:
	fprintf(stderr, "    (%s)\n", what);
	return 1;
}

/*
 * Aggregate mode, where the kernel sums closes per record itself: K
 * connections to each of two services and K refused connects (five
 * records), with fold tables of the default size, of one key, and none.
 * The records are the same each time; what differs is how the closes came:
 * all folded (no event at all), one record's folded and the rest as events
 * (fold_full counts them), all as events.
 */
static int folded_run(const char *keys, uint64_t folded, uint64_t full, uint64_t events)
{
	const int k = 20;
	struct peer a = {
		.family = AF_INET, .addr = "127.0.0.1", .req = 100, .resp = 200, .conns = k
	};
	struct peer b = a, ca, cb, cr = { .family = AF_INET, .addr = "127.0.0.1", .conns = k };
	struct client_run ra = { 0 }, rb = { 0 }, rr = { 0 };
	struct sidecar sc = { 0 };
	const char *argv[] = { "--cgroup", g_scope,	  "--interval", "1h", "--stats-interval",
			       "0",	   "--fold-keys", keys,		NULL };
	uint16_t pa = 0, pb = 0, pr = 0, cport = 0;
	pid_t sa = -1, sb = -1;
	int cerr = 0, lfd, ret = 1;

	fprintf(stderr, "    fold_keys %s\n", keys);
	b.req = 300;
	b.resp = 400;
	lfd = tcp_listen(AF_INET, "127.0.0.1", &pr); /* a port just free: refused */
	ASSERT_TRUE("probe listener", lfd >= 0);
	close(lfd);
	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, argv));
	sa = start_server(&a, g_container, &pa);
	sb = start_server(&b, g_container, &pb);
	ASSERT_TRUE("servers started", sa > 0 && sb > 0);
	ca = a;
	ca.port = pa;
	cb = b;
	cb.port = pb;
	cr.port = pr;
	ASSERT_TRUE("client a", start_client(&ca, g_container, &ra) > 0);
	ASSERT_TRUE("client b", start_client(&cb, g_container, &rb) > 0);
	ASSERT_TRUE("client r", start_client(&cr, g_container, &rr) > 0);
	for (int j = 0; j < k; j++) {
		ASSERT_EQ_U64("a", 0, client_next(&ra, &cport, &cerr));
		ASSERT_EQ_U64("connect to a", 0, cerr);
		ASSERT_EQ_U64("b", 0, client_next(&rb, &cport, &cerr));
		ASSERT_EQ_U64("connect to b", 0, cerr);
		ASSERT_EQ_U64("r", 0, client_next(&rr, &cport, &cerr));
		ASSERT_EQ_U64("connect refused", ECONNREFUSED, cerr);
	}
	ASSERT_EQ_U64("client a exits", 0, harness_wait(ra.pid, WAIT_MS));
	ASSERT_EQ_U64("client b exits", 0, harness_wait(rb.pid, WAIT_MS));
	ASSERT_EQ_U64("client r exits", 0, harness_wait(rr.pid, WAIT_MS));
	ASSERT_EQ_U64("server a exits", 0, harness_wait(sa, WAIT_MS));
	sa = -1;
	ASSERT_EQ_U64("server b exits", 0, harness_wait(sb, WAIT_MS));
	sb = -1;
	ret = stop_clean(&sc);
	if (ret)
		goto cleanup;
	ret = 1;
	ASSERT_EQ_U64("records", 5, json_array_size(sc.records));
	if (check_folded(sidecar_wait_record(&sc, match_rec, &(struct match){ "out", 0, pa, 0 }, 0),
			 "out to a", k, 0, 100 * k, 200 * k, "") ||
	    check_folded(sidecar_wait_record(&sc, match_rec, &(struct match){ "in", pa, 0, 0 }, 0),
			 "in on a", k, 0, 200 * k, 100 * k, "") ||
	    check_folded(sidecar_wait_record(&sc, match_rec, &(struct match){ "out", 0, pb, 0 }, 0),
			 "out to b", k, 0, 300 * k, 400 * k, "") ||
	    check_folded(sidecar_wait_record(&sc, match_rec, &(struct match){ "in", pb, 0, 0 }, 0),
			 "in on b", k, 0, 400 * k, 300 * k, "") ||
	    check_folded(sidecar_wait_record(&sc, match_rec, &(struct match){ "out", 0, pr, 0 }, 0),
			 "refused", k, k, 0, 0, "ECONNREFUSED"))
		goto cleanup;
	ASSERT_EQ_U64(
	    "the refusing resets", k,
	    rec_u64(sidecar_wait_record(&sc, match_rec, &(struct match){ "out", 0, pr, 0 }, 0),
		    "resets"));
	ASSERT_EQ_U64("closes", 5 * (uint64_t)k, sidecar_exit_stat(&sc, "flows_closed"));
	ASSERT_EQ_U64("closes folded", folded * k, sidecar_exit_stat(&sc, "closes_folded"));
	ASSERT_EQ_U64("closes past a full fold table", full * k,
		      sidecar_exit_stat(&sc, "fold_full"));
	ASSERT_EQ_U64("events", events * k, sidecar_exit_stat(&sc, "events"));
	ret = 0;
cleanup:
	reap_client(&rb);
	reap_client(&rr);
	if (sb > 0) {
		kill(sb, SIGKILL);
		waitpid(sb, NULL, 0);
	}
	return finish(ret, &sc, sa, &ra);
}

/*
 * Aggregate mode, where the kernel sums closes per record itself: K
 * connections to each of two services and K refused connects (five
 * records), with fold tables of the default size, of one key, and none.
 * The records are the same each time; what differs is how the closes came:
 * all folded (no event at all), one record's folded and the rest as events
 * (fold_full counts them), all as events.
 */
static int test_aggregated_folded_closes(void)
{
	return folded_run("1024", 5, 0, 0) || folded_run("1", 1, 4, 4) || folded_run("0", 0, 0, 5);
}

/*
 * Many short connections from two clients while the interval walk runs every
 * 100 ms: the close path and the walk race on every socket, and the totals
 * must still be exact: each connection counted once, each byte once.
 */
static int test_many_flows_exact(void)
{
	const int per_client = 1500, clients = 2;
	struct peer srv = { .family = AF_INET,
			    .addr = "127.0.0.1",
			    .req = 321,
			    .resp = 1234,
			    .conns = per_client * clients };
	struct peer cli = srv;
	struct client_run run[2] = { { 0 } };
	struct sidecar sc = { 0 };
	uint16_t sport = 0, cport = 0;
	int cerr = 0, ret = 1, n;
	pid_t spid = -1;
	struct match out = { "out", 0, 0, 0 }, in = { "in", 0, 0, 0 };
	const uint64_t total = (uint64_t)per_client * clients;

	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of(NULL, "100ms")));
	spid = start_server(&srv, g_container, &sport);
	ASSERT_TRUE("server started", spid > 0);
	cli.port = sport;
	cli.conns = per_client;
	for (int c = 0; c < clients; c++)
		ASSERT_TRUE("client started", start_client(&cli, g_container, &run[c]) > 0);
	for (int c = 0; c < clients; c++) {
		for (int i = 0; i < per_client; i++) {
			ASSERT_EQ_U64("client report", 0, client_next(&run[c], &cport, &cerr));
			ASSERT_EQ_U64("connect errno", 0, cerr);
		}
		ASSERT_EQ_U64("client exit", 0, harness_wait(run[c].pid, 60000));
	}
	ASSERT_EQ_U64("server exit", 0, harness_wait(spid, 60000));
	spid = -1;
	out.remote_port = sport;
	in.local_port = sport;
	{
		uint64_t deadline = harness_now_ms() + WAIT_MS;

		while ((sum_matching(&sc, &out, "closed", &n) < total ||
			sum_matching(&sc, &in, "closed", &n) < total) &&
		       harness_now_ms() < deadline)
			sidecar_poll(&sc, 50);
	}
	ret = stop_clean(&sc);
	if (ret)
		goto cleanup;
	ret = 1;
	fprintf(stderr, "    %llu connections folded into %zu records\n", (unsigned long long)total,
		json_array_size(sc.records));
	/*
	 * `closed` counts each connection exactly once; `flows` counts a
	 * connection in every interval it was active in, so one that straddles
	 * a walk is in two records.
	 */
	ASSERT_EQ_U64("out closed", total, sum_matching(&sc, &out, "closed", &n));
	ASSERT_TRUE("out flows >= connections", sum_matching(&sc, &out, "flows", &n) >= total);
	ASSERT_EQ_U64("out failed", 0, sum_matching(&sc, &out, "failed", &n));
	ASSERT_EQ_U64("out bytes_sent", total * 321, sum_matching(&sc, &out, "bytes_sent", &n));
	ASSERT_EQ_U64("out bytes_received", total * 1234,
		      sum_matching(&sc, &out, "bytes_received", &n));
	ASSERT_EQ_U64("in closed", total, sum_matching(&sc, &in, "closed", &n));
	ASSERT_TRUE("in flows >= connections", sum_matching(&sc, &in, "flows", &n) >= total);
	ASSERT_EQ_U64("in bytes_sent", total * 1234, sum_matching(&sc, &in, "bytes_sent", &n));
	ASSERT_EQ_U64("in bytes_received", total * 321,
		      sum_matching(&sc, &in, "bytes_received", &n));
	ret = 0;
cleanup:
	reap_client(&run[1]);
	return finish(ret, &sc, spid, &run[0]);
}

/* An abortive close (SO_LINGER 0) is a reset on both sides. */
static int test_resets(void)
{
	struct peer srv = {
		.family = AF_INET, .addr = "127.0.0.1", .req = 300, .resp = 400, .conns = 1
	};
	struct peer cli = srv;
	struct client_run run = { 0 };
	struct sidecar sc = { 0 };
	uint16_t sport = 0, cport = 0;
	int cerr = 0, ret = 1;
	pid_t spid = -1;
	json_t *out, *in;
	struct report_fault f;

	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of("--per-connection", "300ms")));
	spid = start_server(&srv, g_container, &sport);
	ASSERT_TRUE("server started", spid > 0);
	cli.port = sport;
	cli.linger_rst = 1;
	ASSERT_TRUE("client started", start_client(&cli, g_container, &run) > 0);
	ASSERT_EQ_U64("client report", 0, client_next(&run, &cport, &cerr));
	ASSERT_EQ_U64("client exit", 0, harness_wait(run.pid, WAIT_MS));
	ASSERT_EQ_U64("server exit", 0, harness_wait(spid, WAIT_MS));
	spid = -1;
	out =
	    sidecar_wait_record(&sc, match_rec, &(struct match){ "out", cport, sport, 1 }, WAIT_MS);
	in = sidecar_wait_record(&sc, match_rec, &(struct match){ "in", sport, cport, 1 }, WAIT_MS);
	ASSERT_TRUE("records", out && in);
	ASSERT_EQ_U64("out resets (sent)", 1, rec_u64(out, "resets"));
	ASSERT_EQ_U64("in resets (received)", 1, rec_u64(in, "resets"));
	ASSERT_STR("in error", "ECONNRESET", rec_str(in, "error"));
	ASSERT_EQ_U64("out bytes_sent", 300, rec_u64(out, "bytes_sent"));
	ASSERT_EQ_U64("in bytes_sent", 400, rec_u64(in, "bytes_sent"));
	/* a connection is two ends, each with its record */
	f = (struct report_fault){
		.fault = "connection closed with an RST (SO_LINGER 0)",
		.unit = "connection ends",
		.injected = 2 * (uint64_t)cli.conns,
		.delivered = rec_u64(out, "resets") + rec_u64(in, "resets"),
		.note = "delivered: the reset on the record of each end, ECONNRESET on the "
			"receiver's",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("the reset recorded at both ends", 0, f.lost);
	ret = stop_clean(&sc);
	if (!ret)
		harness_report(&f);
cleanup:
	return finish(ret, &sc, spid, &run);
}

/* Whether `ss -tin` shows `needle` for the TCP socket whose local port is `port`. */
static bool ss_shows(uint16_t port, const char *needle)
{
	char cmd[96], line[4096];
	bool found = false;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ss -tinH 'sport = :%u' 2>/dev/null", port);
	p = popen(cmd, "r");
	if (!p)
		return false;
	while (fgets(line, sizeof(line), p))
		found |= strstr(line, needle) != NULL;
	pclose(p);
	return found;
}

/* SIGTERM reports open flows, then exits 0 within 2 s. */
static int test_sigterm_reports_open(void)
{
	struct peer srv = {
		.family = AF_INET, .addr = "127.0.0.1", .req = 777, .resp = 888, .conns = 1
	};
	struct peer cli = srv;
	struct client_run run = { 0 };
	struct sidecar sc = { 0 };
	uint16_t sport = 0, cport = 0;
	int cerr = 0, ret = 1;
	pid_t spid = -1;
	json_t *out, *in;

	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of("--per-connection", "1h")));
	spid = start_server(&srv, g_container, &sport);
	ASSERT_TRUE("server started", spid > 0);
	cli.port = sport;
	cli.hold = 1;
	ASSERT_TRUE("client started", start_client(&cli, g_container, &run) > 0);
	ASSERT_EQ_U64("client report", 0, client_next(&run, &cport, &cerr));
	ASSERT_EQ_U64("connect errno", 0, cerr);
	/*
	 * Both exchanges are done once the client's socket has received the
	 * whole answer and the server's has it acknowledged (ss; the server's
	 * wchan, tried before, says "wait" already while it accepts or reads
	 * the request, and the walk then saw no bytes yet).
	 */
	{
		uint64_t deadline = harness_now_ms() + WAIT_MS;
		int done = 0;

		while (!done && harness_now_ms() < deadline) {
			/* the answer arrived, and the client's ACK of it too */
			done = ss_shows(cport, "bytes_received:888 ") &&
			       ss_shows(sport, "bytes_acked:888 ");
			if (!done)
				usleep(10000);
		}
		ASSERT_TRUE("the client received the answer", done);
	}
	ret = stop_clean(&sc);
	if (ret)
		goto cleanup;
	ret = 1;
	out = sidecar_wait_record(&sc, match_rec, &(struct match){ "out", cport, sport, 0 }, 0);
	in = sidecar_wait_record(&sc, match_rec, &(struct match){ "in", sport, cport, 0 }, 0);
	ASSERT_TRUE("open flows reported at exit", out && in);
	ASSERT_EQ_U64("out closed", 0, rec_u64(out, "closed"));
	ASSERT_EQ_U64("out flows", 1, rec_u64(out, "flows"));
	ASSERT_EQ_U64("out bytes_sent", 777, rec_u64(out, "bytes_sent"));
	ASSERT_EQ_U64("out bytes_received", 888, rec_u64(out, "bytes_received"));
	ASSERT_EQ_U64("in bytes_sent", 888, rec_u64(in, "bytes_sent"));
	{
		struct report_fault f = {
			.fault = "SIGTERM with a connection still open",
			.unit = "connections",
			.injected = (uint64_t)cli.conns,
			.delivered = rec_u64(out, "flows"),
			.note = "reported at exit with its bytes, closed 0; exit within 2 s",
		};

		f.lost = f.injected - f.delivered - f.counted;
		ASSERT_EQ_U64("the open connection reported", 0, f.lost);
		harness_report(&f);
	}
	ret = 0;
cleanup:
	return finish(ret, &sc, spid, &run);
}

/*
 * A ring far too small for one walk: the walk must pause (EAGAIN), let the
 * reader drain, and resume at the same socket, so every open connection is
 * still reported exactly once with exact bytes, and nothing is dropped.
 */
static int test_walk_pauses_for_ring_space(void)
{
	const int k = 300;
	struct peer srv = { .family = AF_INET,
			    .addr = "127.0.0.1",
			    .req = 1111,
			    .resp = 2222,
			    .conns = k,
			    .hold = 1 };
	struct peer cli = srv;
	struct client_run run = { 0 };
	struct sidecar sc = { 0 };
	const char *args[] = {
		"--cgroup",	g_scope, "--interval",	     "1h", "--per-connection",
		"--ring-bytes", "4096",	 "--stats-interval", "0",  NULL
	};
	uint16_t sport = 0;
	int ret = 1, n;
	pid_t spid = -1;
	struct match out = { "out", -1, 0, 0 }, in = { "in", 0, -1, 0 };
	uint64_t deferred = 0;
	struct report_fault f;
	char fault[96];
	const char *p;

	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args));
	ASSERT_EQ_U64("k connections made", 0, connect_all(&srv, &cli, &run, &spid, &sport));
	/* all k exchanged (the server answered each) once its resp bytes are in */
	{
		uint64_t deadline = harness_now_ms() + WAIT_MS;
		char path[64], buf[256];
		int done = 0;

		snprintf(path, sizeof(path), "/proc/%d/wchan", spid);
		while (!done && harness_now_ms() < deadline) {
			FILE *f = fopen(path, "r");

			if (f) {
				done = fgets(buf, sizeof(buf), f) && strstr(buf, "pause");
				fclose(f);
			}
			if (!done)
				usleep(10000);
		}
		ASSERT_TRUE("server answered every connection", done);
	}
	ret = stop_clean(&sc); /* the SIGTERM walk reports all k open flows */
	if (ret)
		goto cleanup;
	ret = 1;
	out.remote_port = sport;
	in.local_port = sport;
	ASSERT_EQ_U64("out records", k, (sum_matching(&sc, &out, "flows", &n), n));
	ASSERT_EQ_U64("out flows", k, sum_matching(&sc, &out, "flows", &n));
	ASSERT_EQ_U64("out bytes_sent", (uint64_t)k * 1111,
		      sum_matching(&sc, &out, "bytes_sent", &n));
	ASSERT_EQ_U64("out bytes_received", (uint64_t)k * 2222,
		      sum_matching(&sc, &out, "bytes_received", &n));
	ASSERT_EQ_U64("in flows", k, sum_matching(&sc, &in, "flows", &n));
	ASSERT_EQ_U64("in bytes_received", (uint64_t)k * 1111,
		      sum_matching(&sc, &in, "bytes_received", &n));
	p = strstr(sc.err_text, "iter_deferred=");
	ASSERT_TRUE("stats show iter_deferred", p != NULL);
	deferred = strtoull(p + strlen("iter_deferred="), NULL, 10);
	fprintf(stderr, "    the walk paused %llu times for ring space\n",
		(unsigned long long)deferred);
	ASSERT_TRUE("the walk had to pause", deferred > 0);
	snprintf(fault, sizeof(fault), "ring buffer of 4 KiB for a walk of %d open connections", k);
	f = (struct report_fault){
		.fault = fault,
		.unit = "connections",
		.injected = (uint64_t)k,
		.delivered = sum_matching(&sc, &out, "flows", &n),
		.counted = sidecar_exit_stat(&sc, "drops_ring_full"),
		.counted_as = "drops_ring_full (none)",
		.note =
		    "the walk paused for ring space and resumed at the same socket; bytes exact",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every open connection reported once", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	return finish(ret, &sc, spid, &run);
}

/* One sample's value as a double from Prometheus text ("name" or "name{labels}"), or -1. */
static double sample_value(const char *text, const char *sample)
{
	size_t len = strlen(sample);

	for (const char *p = text; (p = strstr(p, sample)) != NULL; p += len) {
		if ((p == text || p[-1] == '\n') && p[len] == ' ')
			return strtod(p + len + 1, NULL);
	}
	return -1;
}

/*
 * The interval walk's own metrics (bench-sidecar's scale phase reads them):
 * every walk counted once in the histogram, its buckets consistent, the
 * walks' CPU time never above their wall time (one thread), the last walk
 * no longer than the longest.
 */
static int test_walk_metrics(void)
{
	const int k = 40;
	struct peer srv = {
		.family = AF_INET, .addr = "127.0.0.1", .req = 10, .resp = 20, .conns = k, .hold = 1
	};
	struct peer cli = srv;
	struct client_run run = { 0 };
	struct sidecar sc = { 0 };
	const char *args[] = { "--cgroup", g_scope,   "--interval",  "200ms", "--stats-interval",
			       "0",	   "--admin", "127.0.0.1:0", NULL };
	uint16_t sport = 0, admin;
	double count, sum, inf, cpu, last, max, count2 = 0;
	uint64_t deadline;
	char *body = NULL;
	int ret = 1;
	pid_t spid = -1;

	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args));
	admin = harness_admin_port(&sc, WAIT_MS);
	ASSERT_TRUE("admin port", admin != 0);
	ASSERT_EQ_U64("k connections made", 0, connect_all(&srv, &cli, &run, &spid, &sport));
	/* five walks over the k open connections (200 ms apart) */
	deadline = harness_now_ms() + WAIT_MS;
	do {
		free(body);
		body = NULL;
		ASSERT_EQ_U64("GET /metrics", 200, harness_http_get(admin, "/metrics", &body));
		count = sample_value(body, "podflow_sidecar_walk_duration_seconds_count");
		if (count < 5)
			harness_sleep_ms(50);
	} while (count < 5 && harness_now_ms() < deadline);
	ASSERT_TRUE("five walks counted", count >= 5);
	sum = sample_value(body, "podflow_sidecar_walk_duration_seconds_sum");
	inf = sample_value(body, "podflow_sidecar_walk_duration_seconds_bucket{le=\"+Inf\"}");
	cpu = sample_value(body, "podflow_sidecar_walk_cpu_seconds_total");
	last = sample_value(body, "podflow_sidecar_walk_last_seconds");
	max = sample_value(body, "podflow_sidecar_walk_max_seconds");
	fprintf(stderr, "    %.0f walks: %.6f s wall, %.6f s CPU, last %.6f s, max %.6f s\n", count,
		sum, cpu, last, max);
	ASSERT_TRUE("+Inf bucket is the count", inf == count);
	ASSERT_TRUE("walks took time", sum > 0 && last > 0);
	ASSERT_TRUE("CPU time measured", cpu > 0);
	/* the walk runs on one thread: its CPU cannot exceed its wall time */
	ASSERT_TRUE("walk CPU <= walk wall time", cpu <= sum);
	ASSERT_TRUE("last <= max <= sum", last <= max && max <= sum);
	/* and the next walks are counted too */
	deadline = harness_now_ms() + WAIT_MS;
	while (harness_now_ms() < deadline) {
		free(body);
		body = NULL;
		ASSERT_EQ_U64("GET /metrics", 200, harness_http_get(admin, "/metrics", &body));
		count2 = sample_value(body, "podflow_sidecar_walk_duration_seconds_count");
		if (count2 >= count + 2)
			break;
		harness_sleep_ms(50);
	}
	ASSERT_TRUE("walks go on being counted", count2 >= count + 2);
	ret = stop_clean(&sc);
cleanup:
	free(body);
	return finish(ret, &sc, spid, &run);
}

/*
 * More live connections than fast slots (bpf/podflow.bpf.c): --max-connections
 * 128 gives 128 slots, and 100 held connections are 200 tracked flows, so at
 * least 72 find their slot held and go to the flows hash map.  Every flow,
 * in a slot or in the map, is reported exactly (an interval record of each
 * side while held, the close after), nothing is lost, and every slot and map
 * entry is given back: the same connections again are all tracked.
 */
static int test_fast_slots_spill_exact(void)
{
	const int k = 100;
	struct peer srv = { .family = AF_INET,
			    .addr = "127.0.0.1",
			    .req = 333,
			    .resp = 4444,
			    .conns = k,
			    .hold = 1 };
	struct peer cli = srv;
	struct client_run run = { 0 };
	struct sidecar sc = { 0 };
	const char *args[] = {
		"--cgroup",	    g_scope, "--interval", "100ms", "--max-connections", "128",
		"--stats-interval", "0",     NULL
	};
	struct match out = { "out", 0, 0, 0 }, in = { "in", 0, 0, 0 };
	uint16_t sport = 0;
	uint64_t spilled, deadline;
	int ret = 1, n;
	pid_t spid = -1;

	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args));
	for (int round = 0; round < 2; round++) {
		ASSERT_EQ_U64("k connections made", 0,
			      connect_all(&srv, &cli, &run, &spid, &sport));
		out.remote_port = sport;
		in.local_port = sport;
		/* all held at once: each side's bytes reported by the walks */
		deadline = harness_now_ms() + WAIT_MS;
		while ((sum_matching(&sc, &out, "bytes_received", &n) < (uint64_t)k * srv.resp ||
			sum_matching(&sc, &in, "bytes_received", &n) < (uint64_t)k * srv.req) &&
		       harness_now_ms() < deadline)
			sidecar_poll(&sc, 50);
		ASSERT_EQ_U64("held: out bytes_received", (uint64_t)k * srv.resp,
			      sum_matching(&sc, &out, "bytes_received", &n));
		ASSERT_EQ_U64("held: in bytes_received", (uint64_t)k * srv.req,
			      sum_matching(&sc, &in, "bytes_received", &n));
		ASSERT_EQ_U64("held: none closed", 0, sum_matching(&sc, &out, "closed", &n));
		/* then every socket closed (the processes' exit) */
		kill(spid, SIGKILL);
		waitpid(spid, NULL, 0);
		spid = -1;
		reap_client(&run);
		memset(&run, 0, sizeof(run));
		deadline = harness_now_ms() + WAIT_MS;
		while ((sum_matching(&sc, &out, "closed", &n) < (uint64_t)k ||
			sum_matching(&sc, &in, "closed", &n) < (uint64_t)k) &&
		       harness_now_ms() < deadline)
			sidecar_poll(&sc, 50);
		ASSERT_EQ_U64("out closed", k, sum_matching(&sc, &out, "closed", &n));
		ASSERT_EQ_U64("in closed", k, sum_matching(&sc, &in, "closed", &n));
		ASSERT_EQ_U64("out bytes_sent", (uint64_t)k * srv.req,
			      sum_matching(&sc, &out, "bytes_sent", &n));
		ASSERT_EQ_U64("out bytes_received", (uint64_t)k * srv.resp,
			      sum_matching(&sc, &out, "bytes_received", &n));
		ASSERT_EQ_U64("in bytes_sent", (uint64_t)k * srv.resp,
			      sum_matching(&sc, &in, "bytes_sent", &n));
		ASSERT_EQ_U64("in bytes_received", (uint64_t)k * srv.req,
			      sum_matching(&sc, &in, "bytes_received", &n));
		ASSERT_EQ_U64("out failed", 0, sum_matching(&sc, &out, "failed", &n));
	}
	/* stop_clean: no map-full, ring-full or table drops in either round */
	ret = stop_clean(&sc);
	if (ret)
		goto cleanup;
	ret = 1;
	spilled = sidecar_exit_stat(&sc, "flows_spilled");
	fprintf(stderr,
		"    2 x %d held connections (%d flows each time), 128 fast slots: %llu "
		"flows in the hash map\n",
		k, 2 * k, (unsigned long long)spilled);
	ASSERT_EQ_U64("flows tracked", 4 * (uint64_t)k, sidecar_exit_stat(&sc, "flows_started"));
	ASSERT_EQ_U64("flows closed", 4 * (uint64_t)k, sidecar_exit_stat(&sc, "flows_closed"));
	/* 200 live flows, 128 slots: at least 72 spill each round */
	ASSERT_TRUE("at least 72 flows spilled per round", spilled >= 2 * (2 * (uint64_t)k - 128));
	ASSERT_TRUE("no more spilled than flows tracked", spilled <= 4 * (uint64_t)k);
	ret = 0;
cleanup:
	return finish(ret, &sc, spid, &run);
}

/*
 * Processes in scope but in another network namespace (a node-wide scope
 * sees many): their open connections are still reported every interval, by
 * a walk the sidecar runs inside that namespace.
 */
static int other_netns_main(void *arg)
{
	struct peer *p = arg;
	uint16_t port;
	int lfd, c, cfd, err;
	pid_t cli;

	if (harness_netns_enter())
		return 1;
	lfd = tcp_listen(AF_INET, "127.0.0.1", &port);
	if (lfd < 0)
		return 2;
	cli = fork();
	if (cli == 0) {
		cfd = tcp_connect(AF_INET, "127.0.0.1", port, &err);
		if (cfd < 0 || send_all(cfd, p->req, 'q'))
			_exit(3);
		pause();
		_exit(0);
	}
	c = accept(lfd, NULL, NULL);
	if (c < 0 || recv_n(c, p->req) != (ssize_t)p->req)
		return 4;
	report(p->report_fd, &port, sizeof(port));
	pause();
	return 0;
}

static int test_other_netns_walked(void)
{
	struct peer w = { .req = 45678 };
	struct sidecar sc = { 0 };
	uint16_t port = 0;
	int fds[2] = { -1, -1 }, ret = 1;
	pid_t pid = -1;
	json_t *out, *in;

	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of("--per-connection", "300ms")));
	ASSERT_EQ_U64("pipe", 0, pipe(fds));
	w.report_fd = fds[1];
	pid = harness_spawn(g_container, "pf-netns", other_netns_main, &w);
	ASSERT_TRUE("workload started", pid > 0);
	ASSERT_EQ_U64("workload exchanged its bytes", 0, read_exact(fds[0], &port, sizeof(port)));
	/* still open: only an interval walk in that namespace can report these */
	out = sidecar_wait_record(&sc, match_rec, &(struct match){ "out", -1, port, 0 }, WAIT_MS);
	in = sidecar_wait_record(&sc, match_rec, &(struct match){ "in", port, -1, 0 }, WAIT_MS);
	ASSERT_TRUE("interval records from the other namespace", out && in);
	ASSERT_EQ_U64("out closed", 0, rec_u64(out, "closed"));
	ASSERT_EQ_U64("out bytes_sent", 45678, rec_u64(out, "bytes_sent"));
	ASSERT_EQ_U64("in bytes_received", 45678, rec_u64(in, "bytes_received"));
	ASSERT_STR("in comm", "pf-netns", rec_str(in, "comm"));
	ret = stop_clean(&sc);
cleanup:
	if (fds[0] >= 0) {
		close(fds[0]);
		close(fds[1]);
	}
	return finish(ret, &sc, pid, NULL);
}

/* A listener older than the sidecar: its accepted flows are reported, owner unknown. */
static int test_listener_before_sidecar(void)
{
	struct peer srv = {
		.family = AF_INET, .addr = "127.0.0.1", .req = 10, .resp = 20, .conns = 1
	};
	struct peer cli = srv;
	struct client_run run = { 0 };
	struct sidecar sc = { 0 };
	uint16_t sport = 0, cport = 0;
	int cerr = 0, ret = 1;
	pid_t spid = -1;
	json_t *in;

	spid = start_server(&srv, g_container, &sport); /* listening before we attach */
	ASSERT_TRUE("server started", spid > 0);
	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of("--per-connection", "300ms")));
	cli.port = sport;
	ASSERT_TRUE("client started", start_client(&cli, g_container, &run) > 0);
	ASSERT_EQ_U64("client report", 0, client_next(&run, &cport, &cerr));
	ASSERT_EQ_U64("client exit", 0, harness_wait(run.pid, WAIT_MS));
	in = sidecar_wait_record(&sc, match_rec, &(struct match){ "in", sport, cport, 1 }, WAIT_MS);
	ASSERT_TRUE("in record", in != NULL);
	ASSERT_EQ_U64("in bytes_received", 10, rec_u64(in, "bytes_received"));
	ASSERT_EQ_U64("in pid: unknown", 0, rec_u64(in, "pid"));
	ASSERT_STR("in comm: unknown", "", rec_str(in, "comm"));
	ASSERT_EQ_U64("in cgroup_id: from the socket", g_container_id, rec_u64(in, "cgroup_id"));
	ret = stop_clean(&sc);
cleanup:
	return finish(ret, &sc, spid, &run);
}

/* test_cli_errors's tally: command lines tried, and refused as expected */
static uint64_t g_cli_tried, g_cli_refused;

/* Runs the sidecar expecting it to fail: exit code and one stderr line. */
static int expect_failure(const char *const *args, int code, const char *needle, uid_t uid)
{
	int err[2], ret = 1, st;
	char bin[512], text[8192];
	const char *argv[16];
	ssize_t n, len = 0;
	pid_t pid;
	int a = 0;

	g_cli_tried++;
	argv[a++] = harness_bin("podflow-sidecar", bin, sizeof(bin));
	for (int i = 0; args[i] && a < 15; i++)
		argv[a++] = args[i];
	argv[a] = NULL;
	if (pipe(err))
		return 1;
	pid = fork();
	if (pid == 0) {
		dup2(err[1], 2);
		close(1);
		if (uid && (setgroups(0, NULL) || setgid(uid) || setuid(uid)))
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(err[1]);
	while (len < (ssize_t)sizeof(text) - 1 &&
	       (n = read(err[0], text + len, sizeof(text) - 1 - (size_t)len)) > 0)
		len += n;
	text[len] = '\0';
	close(err[0]);
	st = harness_wait(pid, WAIT_MS);
	ASSERT_EQ_U64("exit code", (uint64_t)code, (uint64_t)st);
	ASSERT_TRUE("stderr names the problem", strstr(text, needle) != NULL);
	ASSERT_EQ_U64("stderr is one line", 1, (uint64_t)(strchr(text, '\n') == text + len - 1));
	g_cli_refused++;
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar %s printed: %s\n", args[0], text);
	return ret;
}

static int test_cli_errors(void)
{
	char mount_rel[600];
	struct report_fault f;
	int ret = 1;

	g_cli_tried = g_cli_refused = 0;
	ASSERT_EQ_U64("interval without unit", 0,
		      expect_failure((const char *const[]){ "--interval", "10", NULL }, 2,
				     "--interval: expected a duration from 100ms to 1h, got 10",
				     0));
	ASSERT_EQ_U64("interval too short", 0,
		      expect_failure((const char *const[]){ "--interval", "5ms", NULL }, 2,
				     "from 100ms to 1h", 0));
	ASSERT_EQ_U64("unknown option", 0,
		      expect_failure((const char *const[]){ "--bogus", NULL }, 2, "--bogus", 0));
	ASSERT_EQ_U64(
	    "missing cgroup", 0,
	    expect_failure((const char *const[]){ "--cgroup", "/no/such/cgroup-pf", NULL }, 2,
			   "--cgroup /no/such/cgroup-pf", 0));
	ASSERT_EQ_U64("ring not a power of two", 0,
		      expect_failure((const char *const[]){ "--ring-bytes", "5000", NULL }, 2,
				     "ring_bytes: 5000 is not a power of two", 0));
	snprintf(mount_rel, sizeof(mount_rel), "%s/cgroup.procs", g_scope);
	ASSERT_EQ_U64(
	    "a file, not a cgroup dir", 0,
	    expect_failure((const char *const[]){ "--cgroup", mount_rel, NULL }, 2, "--cgroup", 0));
	/* empty is not "the default", and not the whole node (that is --cgroup /) */
	ASSERT_EQ_U64(
	    "empty --cgroup", 0,
	    expect_failure((const char *const[]){ "--cgroup", "", NULL }, 2,
			   "podflow-sidecar: error: --cgroup: expected a non-empty string "
			   "of at most 4096 bytes, got an empty value",
			   0));
	{
		char path[] = "/tmp/podflow-it-cgroup-XXXXXX", want[256];
		int fd = mkstemp(path), bad;
		static const char *const yaml[] = { "cgroup: \"\"\n", "cgroup:\n" };
		static const char *const got[] = { "an empty value", "null" };

		ASSERT_TRUE("temp file", fd >= 0);
		close(fd);
		for (int i = 0; i < 2; i++) {
			FILE *f = fopen(path, "w");

			if (f) {
				fputs(yaml[i], f);
				fclose(f);
			}
			snprintf(want, sizeof(want),
				 "%s:1: cgroup: expected a non-empty string of at most 4096 bytes, "
				 "got %s",
				 path, got[i]);
			bad = expect_failure((const char *const[]){ "--config", path, NULL }, 2,
					     want, 0);
			if (bad)
				unlink(path);
			ASSERT_EQ_U64("empty cgroup key", 0, bad);
		}
		unlink(path);
	}
	/* not root: a clear message naming what is missing, exit 1 */
	ASSERT_EQ_U64("unprivileged", 0,
		      expect_failure((const char *const[]){ "--cgroup", g_scope, NULL }, 1,
				     "CAP_BPF", 65534));
	f = (struct report_fault){
		.fault = "bad option, value, cgroup or config key; run without privileges",
		.unit = "command lines",
		.injected = g_cli_tried,
		.counted = g_cli_refused,
		.counted_as = "exit 2 (usage) or 1 (startup) with one line naming the problem",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("each refused, named", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	return ret;
}

/* ---- the scope cgroup removed and created again ---- */

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The pod of these tests: PREFIX-<pid>-NAME with its container; 0 or -1. */
static int gone_pod_create(const char *name, char *scope, size_t slen, char *container, size_t clen)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "podflow-it-%d-%s", getpid(), name);
	if (harness_cgroup_create(rel, scope, slen))
		return -1;
	snprintf(rel, sizeof(rel), "podflow-it-%d-%s/cri-containerd-%s.scope", getpid(), name,
		 CONTAINER_ID);
	return harness_cgroup_create(rel, container, clen) ? -1 : 0;
}

/* /readyz until it answers `want` (the body in *body, owned), within timeout_ms; ms it took or -1. */
static long wait_readyz(uint16_t port, long want, char **body, int timeout_ms)
{
	uint64_t t0 = harness_now_ms();

	for (;;) {
		long st = harness_http_get(port, "/readyz", body);

		if (st == want)
			return (long)(harness_now_ms() - t0);
		if (harness_now_ms() >= t0 + (uint64_t)timeout_ms)
			return -1;
		free(*body);
		*body = NULL;
		usleep(20000);
	}
}

/* Waits until the closed out and in records of service port `sport` reach k each. */
static void wait_closed(struct sidecar *sc, uint16_t sport, int k)
{
	struct match out = { "out", -1, sport, 0 }, in = { "in", sport, -1, 0 };
	uint64_t deadline = harness_now_ms() + WAIT_MS;
	int n;

	while ((sum_matching(sc, &out, "closed", &n) < (uint64_t)k ||
		sum_matching(sc, &in, "closed", &n) < (uint64_t)k) &&
	       harness_now_ms() < deadline)
		sidecar_poll(sc, 50);
}

#define SEALED		 "podflow_sidecar_export_batches_total{result=\"sealed\"}"
#define SCOPE_ATTACHED	 "podflow_sidecar_scope_attached"
#define SCOPE_REMOVED	 "podflow_sidecar_scope_events_total{event=\"removed\"}"
#define SCOPE_REATTACHED "podflow_sidecar_scope_events_total{event=\"reattached\"}"

/*
 * The scope cgroup removed and created again at the same path: the programs
 * were attached to the cgroup that died, and the sidecar went on capturing
 * nothing, ready, silent.  While it is gone: not ready, the reason on
 * /readyz, the metric and one log line, within the stated second.  Once the
 * same path is back: re-attached (logged, counted) within a second, and the
 * connections of a process in the new cgroup are recorded exactly.
 */
static int test_scope_removed_and_recreated(void)
{
	const int before = 5, after = 20;
	const size_t req = 1000, resp = 3000;
	char scope[512], container[640], want[700], *body = NULL;
	const char *args[] = { "--cgroup",	   scope, "--interval",	      "300ms",
			       "--stats-interval", "0",	  "--per-connection", "--admin",
			       "127.0.0.1:0",	   NULL };
	struct match out = { "out", -1, 0, 0 }, in = { "in", 0, -1, 0 };
	struct sidecar sc = { 0 };
	uint16_t aport, p1 = 0, p2 = 0;
	uint64_t old_id, new_id, made = 0, recorded = 0;
	struct report_fault f;
	struct stat st;
	int ret = 1, n;
	long ms;

	ASSERT_EQ_U64("pod cgroup", 0,
		      gone_pod_create("gone", scope, sizeof(scope), container, sizeof(container)));
	old_id = harness_cgroup_id(container);
	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args));
	aport = harness_admin_port(&sc, 2000);
	ASSERT_TRUE("admin port", aport != 0);
	ASSERT_TRUE("ready", wait_readyz(aport, 200, &body, 0) >= 0);
	free(body);
	body = NULL;
	ASSERT_EQ_U64("attached", 1, harness_metric_now(aport, SCOPE_ATTACHED));

	/* before: recorded */
	ASSERT_EQ_U64("connections before", 0, exchange(container, before, req, resp, &p1));
	made += before;
	wait_closed(&sc, p1, before);
	out.remote_port = p1;
	in.local_port = p1;
	recorded += sum_matching(&sc, &out, "closed", &n);
	ASSERT_EQ_U64("before: out closed", before, sum_matching(&sc, &out, "closed", &n));
	ASSERT_EQ_U64("before: out bytes_sent", before * req,
		      sum_matching(&sc, &out, "bytes_sent", &n));
	ASSERT_EQ_U64("before: in bytes_received", before * req,
		      sum_matching(&sc, &in, "bytes_received", &n));

	/* removed */
	harness_cgroup_destroy(scope);
	ASSERT_TRUE("the cgroup is gone", stat(scope, &st) != 0 && errno == ENOENT);
	ms = wait_readyz(aport, 503, &body, 3000);
	fprintf(stderr, "    not ready %ld ms after the removal\n", ms);
	ASSERT_TRUE("not ready within the second (and scheduling)", ms >= 0 && ms <= 1500);
	snprintf(want, sizeof(want), "cgroup %s is gone", scope);
	ASSERT_TRUE("/readyz says why", strstr(body, want) != NULL);
	free(body);
	body = NULL;
	ASSERT_EQ_U64("metric: not attached", 0, harness_metric_now(aport, SCOPE_ATTACHED));
	ASSERT_EQ_U64("metric: removal counted", 1, harness_metric_now(aport, SCOPE_REMOVED));
	ASSERT_EQ_U64("metric: no re-attach yet", 0, harness_metric_now(aport, SCOPE_REATTACHED));
	sidecar_poll(&sc, 100);
	snprintf(want, sizeof(want), "warn: cgroup %s is gone: capture is blind", scope);
	ASSERT_TRUE("logged", strstr(sc.err_text, want) != NULL);
	ASSERT_EQ_U64("alive", 200, (uint64_t)harness_http_get(aport, "/healthz", &body));
	free(body);
	body = NULL;

	/* created again, same path: re-attached within the second */
	ASSERT_EQ_U64("pod cgroup again", 0,
		      gone_pod_create("gone", scope, sizeof(scope), container, sizeof(container)));
	new_id = harness_cgroup_id(container);
	ASSERT_TRUE("a new cgroup", new_id != old_id);
	ms = wait_readyz(aport, 200, &body, 3000);
	fprintf(stderr, "    ready again %ld ms after the re-creation\n", ms);
	ASSERT_TRUE("ready again within the second (and scheduling)", ms >= 0 && ms <= 1500);
	free(body);
	body = NULL;
	ASSERT_EQ_U64("metric: attached", 1, harness_metric_now(aport, SCOPE_ATTACHED));
	ASSERT_EQ_U64("metric: re-attach counted", 1, harness_metric_now(aport, SCOPE_REATTACHED));
	ASSERT_EQ_U64("metric: one removal", 1, harness_metric_now(aport, SCOPE_REMOVED));
	sidecar_poll(&sc, 100);
	snprintf(want, sizeof(want), "cgroup %s was created again: programs re-attached", scope);
	ASSERT_TRUE("logged", strstr(sc.err_text, want) != NULL);

	/* after: 20 connections of a process in the new cgroup, exactly */
	ASSERT_EQ_U64("connections after", 0, exchange(container, after, req, resp, &p2));
	made += after;
	wait_closed(&sc, p2, after);
	out.remote_port = p2;
	in.local_port = p2;
	recorded += sum_matching(&sc, &out, "closed", &n);
	ASSERT_EQ_U64("after: out closed", after, sum_matching(&sc, &out, "closed", &n));
	ASSERT_EQ_U64("after: out bytes_sent", after * req,
		      sum_matching(&sc, &out, "bytes_sent", &n));
	ASSERT_EQ_U64("after: out bytes_received", after * resp,
		      sum_matching(&sc, &out, "bytes_received", &n));
	ASSERT_EQ_U64("after: in closed", after, sum_matching(&sc, &in, "closed", &n));
	ASSERT_EQ_U64("after: in bytes_sent", after * resp,
		      sum_matching(&sc, &in, "bytes_sent", &n));
	ASSERT_EQ_U64("after: in bytes_received", after * req,
		      sum_matching(&sc, &in, "bytes_received", &n));
	for (size_t i = 0; i < json_array_size(sc.records); i++) {
		json_t *r = json_array_get(sc.records, i);

		if (match_rec(r, &out) || match_rec(r, &in)) {
			ASSERT_EQ_U64("after: the new cgroup's id", new_id,
				      rec_u64(r, "cgroup_id"));
			ASSERT_STR("after: container_id", CONTAINER_ID, rec_str(r, "container_id"));
		}
	}
	ret = stop_clean(&sc);
	if (ret)
		goto cleanup;
	ret = 1;
	ASSERT_TRUE("stats line counts both",
		    strstr(sc.err_text, " scope_removed=1 scope_reattached=1") != NULL);
	f = (struct report_fault){
		.fault = "the pod's scope cgroup removed, then created again at the same path",
		.unit = "connections",
		.injected = made,
		.delivered = recorded,
		.note =
		    "while gone: not ready with the reason, scope_events{removed}, one warning; "
		    "re-attached within a second, the new cgroup's connections exact",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every connection before and after recorded", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	free(body);
	harness_cgroup_destroy(scope);
	return finish(ret, &sc, -1, NULL);
}

/* /ownership?ip= of a collector's API port: its heartbeat ranges, [from, to) each. */
static int heartbeat_ranges(uint16_t admin, const char *ip, int64_t (*r)[2], int max)
{
	char path[128], *body = NULL;
	json_t *j, *a;
	int n = 0;

	snprintf(path, sizeof(path), "/ownership?ip=%s", ip);
	if (harness_http_get(admin, path, &body) != 200) {
		free(body);
		return -1;
	}
	j = json_loads(body, 0, NULL);
	free(body);
	a = json_object_get(j, "ranges");
	for (size_t i = 0; i < json_array_size(a) && n < max; i++) {
		json_t *e = json_array_get(a, i);

		if (strcmp(rec_str(e, "source"), "heartbeat") != 0)
			continue;
		r[n][0] = json_integer_value(json_object_get(e, "from_ms"));
		r[n][1] = json_is_null(json_object_get(e, "to_ms"))
			      ? -1
			      : json_integer_value(json_object_get(e, "to_ms"));
		n++;
	}
	json_decref(j);
	return n;
}

/*
 * While its scope is gone the sidecar sees nothing, and its heartbeats must
 * not go on claiming the pod's IPs (the pod may be gone and its IP given to
 * another).  At a real collector: one heartbeat range for the pod's IP that
 * ends before the removal, and one that starts after the re-creation.
 */
static int test_scope_gone_heartbeats_claim_nothing(void)
{
	static const char ip[] = "10.99.7.7";
	char scope[512], container[640], data[] = "/tmp/podflow-it-hb-XXXXXX", url[64];
	char *body = NULL;
	const char *args[] = { "--cgroup",	   scope, "--interval", "300ms",
			       "--stats-interval", "0",	  "--admin",	"127.0.0.1:0",
			       "--output",	   url,	  NULL };
	struct sidecar sc = { 0 }, coll = { 0 };
	uint16_t lport = 0, admin, aport;
	uint64_t removed_ms, recreate_ms, deadline, blind, claimed_blind = 0;
	int64_t r[4][2], sealed;
	struct report_fault f;
	int ret = 1, n = 0;

	ASSERT_TRUE("data dir", mkdtemp(data) != NULL);
	ASSERT_EQ_U64("pod cgroup", 0,
		      gone_pod_create("hb", scope, sizeof(scope), container, sizeof(container)));
	ASSERT_EQ_U64("collector start", 0,
		      collector_start(&coll,
				      (const char *const[]){ "--listen", "127.0.0.1:0", "--admin",
							     "127.0.0.1:0", "--data-dir", data,
							     "--stats-interval", "0", NULL },
				      &lport));
	admin = harness_api_port(&coll, 2000); /* /ownership is on the API port */
	ASSERT_TRUE("collector API port", admin != 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", lport);
	setenv("POD_IPS", ip, 1);
	setenv("POD_NAME", "gone-pod", 1);
	setenv("POD_NAMESPACE", "it", 1);
	n = sidecar_start(&sc, args);
	unsetenv("POD_IPS");
	unsetenv("POD_NAME");
	unsetenv("POD_NAMESPACE");
	ASSERT_EQ_U64("sidecar start", 0, n);
	aport = harness_admin_port(&sc, 2000);
	ASSERT_TRUE("sidecar admin port", aport != 0);

	/* claimed while capturing: one range, growing */
	deadline = harness_now_ms() + WAIT_MS;
	while (
	    ((n = heartbeat_ranges(admin, ip, r, 4)) != 1 || r[0][1] < (int64_t)wall_ms() - 600) &&
	    harness_now_ms() < deadline)
		usleep(50000);
	ASSERT_EQ_U64("one heartbeat range while capturing", 1, n);

	harness_cgroup_destroy(scope);
	removed_ms = wall_ms();
	ASSERT_TRUE("not ready", wait_readyz(aport, 503, &body, 3000) >= 0);
	free(body);
	body = NULL;
	/* blind for a few intervals, each sealing a heartbeat */
	sealed = harness_metric_now(aport, SEALED);
	deadline = harness_now_ms() + WAIT_MS;
	while (harness_metric_now(aport, SEALED) < sealed + 3 && harness_now_ms() < deadline)
		usleep(50000);
	recreate_ms = wall_ms();
	blind = (uint64_t)(harness_metric_now(aport, SEALED) - sealed);
	ASSERT_EQ_U64("pod cgroup again", 0,
		      gone_pod_create("hb", scope, sizeof(scope), container, sizeof(container)));
	ASSERT_TRUE("ready again", wait_readyz(aport, 200, &body, 3000) >= 0);
	free(body);
	body = NULL;

	/* claimed again: a second range, after a gap that covers the blind time */
	deadline = harness_now_ms() + WAIT_MS;
	while (((n = heartbeat_ranges(admin, ip, r, 4)) != 2 ||
		r[1][1] < (int64_t)recreate_ms + 600) &&
	       harness_now_ms() < deadline)
		usleep(50000);
	fprintf(stderr, "    removed at %llu, created again at %llu; ranges:",
		(unsigned long long)removed_ms, (unsigned long long)recreate_ms);
	for (int i = 0; i < n && i < 4; i++)
		fprintf(stderr, " [%lld, %lld)", (long long)r[i][0], (long long)r[i][1]);
	fprintf(stderr, "\n");
	ASSERT_EQ_U64("two heartbeat ranges", 2, n);
	ASSERT_TRUE("the claim ends before the removal", r[0][1] <= (int64_t)removed_ms);
	ASSERT_TRUE("and starts again after the re-creation", r[1][0] >= (int64_t)recreate_ms);
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 8000, NULL));
	/* a claim over any of the blind time: a range that starts before it ends and ends after */
	for (int i = 0; i < n; i++)
		claimed_blind += r[i][0] < (int64_t)recreate_ms &&
				 (r[i][1] < 0 || r[i][1] > (int64_t)removed_ms);
	f = (struct report_fault){
		.fault = "scope cgroup gone while the sidecar sends heartbeats",
		.unit = "heartbeats",
		.injected = blind,
		.delivered = claimed_blind ? 0 : blind,
		.note = "delivered: sealed while blind and claiming no IP; the pod IP's claim ends "
			"before the removal, starts again after the re-creation",
	};
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("no heartbeat claimed the IP while blind", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	free(body);
	if (ret) {
		fprintf(stderr, "    sidecar:\n%s\n", sc.err_text ? sc.err_text : "");
		fprintf(stderr, "    collector:\n%s\n", coll.err_text ? coll.err_text : "");
	}
	sidecar_free(&sc);
	sidecar_stop(&coll, 8000, NULL);
	sidecar_free(&coll);
	harness_cgroup_destroy(scope);
	harness_sh("rm -rf %s", data);
	return ret;
}

/*
 * POD_IPS is what the heartbeats claim.  Beyond the 64 addresses one
 * carries, or malformed: said once, naming the variable and what is left
 * out, and on /metrics; never silently cut or silently empty.
 */
static int pod_ips_case(const char *value, const char *warning, int64_t stated, int64_t over_limit,
			int64_t malformed, struct report_fault *f)
{
	char url[64], *body = NULL;
	const char *args[] = {
		"--cgroup", g_scope,	   "--interval", "300ms", "--stats-interval", "0",
		"--admin",  "127.0.0.1:0", "--output",	 url,	  "--shutdown-grace", "0s",
		NULL
	};
	struct sidecar sc = { 0 };
	uint16_t aport, closed_port = 0;
	uint64_t deadline;
	int ret = 1, lfd, err;

	/* a collector that is not there: the heartbeats are sealed all the same */
	lfd = tcp_listen(AF_INET, "127.0.0.1", &closed_port);
	ASSERT_TRUE("probe listener", lfd >= 0);
	close(lfd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", closed_port);
	setenv("POD_IPS", value, 1);
	err = sidecar_start(&sc, args);
	unsetenv("POD_IPS");
	ASSERT_EQ_U64("sidecar start", 0, err);
	aport = harness_admin_port(&sc, 2000);
	ASSERT_TRUE("admin port", aport != 0);
	/* three heartbeats at least */
	deadline = harness_now_ms() + WAIT_MS;
	while (harness_metric_now(aport, SEALED) < 3 && harness_now_ms() < deadline)
		usleep(50000);
	sidecar_poll(&sc, 100);
	ASSERT_TRUE("warned", strstr(sc.err_text, warning) != NULL);
	ASSERT_TRUE("once", strstr(strstr(sc.err_text, warning) + 1, warning) == NULL);
	ASSERT_EQ_U64("addresses stated", stated,
		      harness_metric_now(aport, "podflow_sidecar_heartbeat_ips"));
	ASSERT_EQ_U64(
	    "left out: over the limit", over_limit,
	    harness_metric_now(aport, "podflow_sidecar_pod_ips_ignored{reason=\"over_limit\"}"));
	ASSERT_EQ_U64(
	    "left out: malformed", malformed,
	    harness_metric_now(aport, "podflow_sidecar_pod_ips_ignored{reason=\"malformed\"}"));
	/* the addresses given: entries between commas */
	f->injected += 1;
	for (const char *c = value; *c; c++)
		f->injected += *c == ',';
	f->delivered += (uint64_t)harness_metric_now(aport, "podflow_sidecar_heartbeat_ips");
	f->counted += (uint64_t)harness_metric_now(
			  aport, "podflow_sidecar_pod_ips_ignored{reason=\"over_limit\"}") +
		      (uint64_t)harness_metric_now(
			  aport, "podflow_sidecar_pod_ips_ignored{reason=\"malformed\"}");
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 5000, NULL));
	ret = 0;
cleanup:
	free(body);
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n", sc.err_text ? sc.err_text : "");
	sidecar_free(&sc);
	return ret;
}

static int test_pod_ips_refusals_warned(void)
{
	struct report_fault f = {
		.fault = "POD_IPS with over 64 addresses, or a malformed entry",
		.unit = "addresses",
		.counted_as = "pod_ips_ignored{reason} and one warning naming what is left out",
		.note = "delivered: claimed by the heartbeats; a malformed list is ignored whole",
	};
	char many[2048];
	size_t o = 0;
	int ret = 1;

	for (int i = 1; i <= 70; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "%s10.98.0.%d", i > 1 ? "," : "",
				      i);
	ASSERT_EQ_U64(
	    "70 addresses", 0,
	    pod_ips_case(many,
			 "warn: POD_IPS: 70 addresses, but a heartbeat carries at most 64: "
			 "the last 6 are not claimed",
			 64, 6, 0, &f));
	ASSERT_EQ_U64("malformed", 0,
		      pod_ips_case("10.98.0.1, not-an-ip,10.98.0.2",
				   "warn: POD_IPS: entry 2 of 3, \"not-an-ip\", is not an IP "
				   "address: the variable is ignored, heartbeats claim no address",
				   0, 0, 3, &f));
	f.lost = f.injected - f.delivered - f.counted;
	ASSERT_EQ_U64("every address claimed or counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	return ret;
}

/* ---- flows that end while the app still holds the socket ---- */

/*
 * The app's side of the tests below, in the container: it connects to the
 * test's listeners (outside the scope, so only this side is captured), does
 * what `mode` says, reports to `up` and keeps its sockets open until `down`
 * is closed.
 */
enum held_mode {
	HELD_RESET,	 /* send 100, then wait: the peer resets the connection */
	HELD_RECONNECT,	 /* 100 out / 50 in, connect(AF_UNSPEC), then the same socket to port2 */
	HELD_RTO_EXPIRY, /* send 100 (acked), then 1000 into a black hole, TCP_USER_TIMEOUT */
};

struct held_app {
	enum held_mode mode;
	uint16_t port, port2;
	int up[2], down[2];
};

static int held_connect(int fd, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return connect(fd, (struct sockaddr *)&sin, sizeof(sin)) ? -errno : 0;
}

static int held_app_main(void *arg)
{
	struct held_app *a = arg;
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	int fd = socket(AF_INET, SOCK_STREAM, 0), timeout_ms = 1500;
	uint16_t lport;
	char c;

	close(a->up[0]);
	close(a->down[1]);
	if (fd < 0 || held_connect(fd, a->port))
		return 2;
	if (a->mode == HELD_RTO_EXPIRY &&
	    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout_ms, sizeof(timeout_ms)))
		return 3;
	lport = sock_local_port(fd);
	if (send_all(fd, 100, 'a'))
		return 4;
	if (a->mode == HELD_RECONNECT) {
		if (recv_n(fd, 50) != 50)
			return 5;
		/* tcp_disconnect(): an RST from ESTABLISHED, the socket back to CLOSE */
		if (connect(fd, &unspec, sizeof(unspec)))
			return 6;
		if (held_connect(fd, a->port2) || send_all(fd, 300, 'b') || recv_n(fd, 30) != 30)
			return 7;
	}
	report(a->up[1], &lport, sizeof(lport));
	if (a->mode == HELD_RTO_EXPIRY) {
		/* the test's nftables rule drops what follows: told so, send into it */
		if (read(a->down[0], &c, 1) != 1 || send_all(fd, 1000, 'c'))
			return 8;
	}
	/* hold every socket until the test is done with its records */
	while (read(a->down[0], &c, 1) > 0)
		;
	close(fd);
	return 0;
}

/* Starts the app; with lport, waits for the local port it reports once connected. */
static pid_t held_app_start(struct held_app *a, uint16_t *lport)
{
	pid_t pid;

	if (pipe(a->up) || pipe(a->down))
		return -1;
	pid = harness_spawn(g_container, "pf-held", held_app_main, a);
	close(a->up[1]);
	close(a->down[0]);
	if (pid > 0 && lport && read_exact(a->up[0], lport, sizeof(*lport))) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	return pid;
}

static void held_app_end(struct held_app *a, pid_t pid)
{
	if (a->down[1] >= 0)
		close(a->down[1]);
	a->down[1] = -1;
	if (a->up[0] >= 0)
		close(a->up[0]);
	a->up[0] = -1;
	if (pid > 0 && harness_wait(pid, WAIT_MS) < 0)
		waitpid(pid, NULL, 0);
}

static int accept_within(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	return poll(&p, 1, WAIT_MS) == 1 ? accept(lfd, NULL, NULL) : -1;
}

/* An RST received ends the flow when it comes, not when the app closes its socket. */
static int test_reset_while_held(void)
{
	struct held_app a = { .mode = HELD_RESET, .up = { -1, -1 }, .down = { -1, -1 } };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct sidecar sc = { 0 };
	uint16_t lport = 0;
	int lfd = -1, afd = -1, ret = 1;
	pid_t app = -1;
	json_t *r;

	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of("--per-connection", "300ms")));
	lfd = tcp_listen(AF_INET, "127.0.0.1", &a.port);
	ASSERT_TRUE("listener", lfd >= 0);
	app = held_app_start(&a, &lport);
	ASSERT_TRUE("app connected", app > 0);
	afd = accept_within(lfd);
	ASSERT_TRUE("accepted", afd >= 0);
	ASSERT_EQ_U64("100 bytes in", 100, (uint64_t)recv_n(afd, 100));
	ASSERT_EQ_U64("200 bytes out", 0, send_all(afd, 200, 'r'));
	setsockopt(afd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(afd); /* an RST to the app, which keeps its socket open */
	afd = -1;
	r = sidecar_wait_record(&sc, match_rec, &(struct match){ "out", lport, a.port, 1 },
				WAIT_MS);
	ASSERT_TRUE("closed record while the app holds the socket", r != NULL);
	ASSERT_TRUE("app still running", waitpid(app, NULL, WNOHANG) == 0);
	ASSERT_EQ_U64("closed", 1, rec_u64(r, "closed"));
	ASSERT_EQ_U64("failed", 0, rec_u64(r, "failed"));
	ASSERT_STR("error", "ECONNRESET", rec_str(r, "error"));
	ASSERT_EQ_U64("resets", 1, rec_u64(r, "resets"));
	ASSERT_EQ_U64("bytes_sent", 100, rec_u64(r, "bytes_sent"));
	ASSERT_EQ_U64("bytes_received", 200, rec_u64(r, "bytes_received"));
	ASSERT_EQ_U64("pid", app, rec_u64(r, "pid"));
	held_app_end(&a, app);
	app = -1;
	ret = stop_clean(&sc);
cleanup:
	if (afd >= 0)
		close(afd);
	if (lfd >= 0)
		close(lfd);
	held_app_end(&a, app);
	return finish(ret, &sc, -1, NULL);
}

/* connect(AF_UNSPEC), then connect() again on the same socket: two flows, each exact. */
static int test_disconnect_reconnect(void)
{
	struct held_app a = { .mode = HELD_RECONNECT, .up = { -1, -1 }, .down = { -1, -1 } };
	struct sidecar sc = { 0 };
	uint16_t lport = 0;
	int lfd = -1, lfd2 = -1, afd = -1, afd2 = -1, ret = 1, n;
	struct match m1 = { "out", -1, 0, 0 }, m2 = { "out", -1, 0, 0 };
	pid_t app = -1;

	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of("--per-connection", "300ms")));
	lfd = tcp_listen(AF_INET, "127.0.0.1", &a.port);
	lfd2 = tcp_listen(AF_INET, "127.0.0.1", &a.port2);
	ASSERT_TRUE("listeners", lfd >= 0 && lfd2 >= 0);
	app = held_app_start(&a, NULL); /* it reports its port after the reconnect */
	ASSERT_TRUE("app started", app > 0);
	afd = accept_within(lfd);
	ASSERT_TRUE("first accepted", afd >= 0);
	ASSERT_EQ_U64("first: 100 bytes in", 100, (uint64_t)recv_n(afd, 100));
	ASSERT_EQ_U64("first: 50 bytes out", 0, send_all(afd, 50, 'x'));
	afd2 = accept_within(lfd2);
	ASSERT_TRUE("second accepted (same socket)", afd2 >= 0);
	ASSERT_EQ_U64("second: 300 bytes in", 300, (uint64_t)recv_n(afd2, 300));
	ASSERT_EQ_U64("second: 30 bytes out", 0, send_all(afd2, 30, 'y'));
	ASSERT_EQ_U64("app reported", 0, read_exact(a.up[0], &lport, sizeof(lport)));
	m1.remote_port = a.port;
	m1.closed = 1;
	ASSERT_TRUE("first flow closed at the disconnect",
		    sidecar_wait_record(&sc, match_rec, &m1, WAIT_MS) != NULL);
	held_app_end(&a, app); /* the app closes the socket: the second flow ends */
	app = -1;
	m2.remote_port = a.port2;
	m2.closed = 1;
	ASSERT_TRUE("second flow closed",
		    sidecar_wait_record(&sc, match_rec, &m2, WAIT_MS) != NULL);
	ret = stop_clean(&sc);
	if (ret)
		goto cleanup;
	ret = 1;
	/* per interval a record each: the sums are the flows' */
	m1.closed = m2.closed = 0;
	ASSERT_EQ_U64("first: closed", 1, sum_matching(&sc, &m1, "closed", &n));
	ASSERT_EQ_U64("first: bytes_sent", 100, sum_matching(&sc, &m1, "bytes_sent", &n));
	ASSERT_EQ_U64("first: bytes_received", 50, sum_matching(&sc, &m1, "bytes_received", &n));
	ASSERT_EQ_U64("first: resets (the disconnect's RST)", 1,
		      sum_matching(&sc, &m1, "resets", &n));
	ASSERT_EQ_U64("second: closed", 1, sum_matching(&sc, &m2, "closed", &n));
	ASSERT_EQ_U64("second: bytes_sent", 300, sum_matching(&sc, &m2, "bytes_sent", &n));
	ASSERT_EQ_U64("second: bytes_received", 30, sum_matching(&sc, &m2, "bytes_received", &n));
	ASSERT_EQ_U64("second: resets", 0, sum_matching(&sc, &m2, "resets", &n));
	ret = 0;
cleanup:
	if (afd >= 0)
		close(afd);
	if (afd2 >= 0)
		close(afd2);
	if (lfd >= 0)
		close(lfd);
	if (lfd2 >= 0)
		close(lfd2);
	held_app_end(&a, app);
	return finish(ret, &sc, -1, NULL);
}

/*
 * An established flow whose peer goes silent (nftables drops everything to
 * it): the retransmission timeout expires (TCP_USER_TIMEOUT 1.5 s) and the
 * flow ends with ETIMEDOUT then, while the app still holds the socket.
 */
static int test_rto_expiry_while_held(void)
{
	struct held_app a = { .mode = HELD_RTO_EXPIRY, .up = { -1, -1 }, .down = { -1, -1 } };
	struct sidecar sc = { 0 };
	uint16_t lport = 0;
	int lfd = -1, afd = -1, ret = 1, nft = 0, n;
	pid_t app = -1;
	struct report_fault f;
	json_t *r;

	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_of("--per-connection", "300ms")));
	lfd = tcp_listen(AF_INET, "127.0.0.1", &a.port);
	ASSERT_TRUE("listener", lfd >= 0);
	app = held_app_start(&a, &lport);
	ASSERT_TRUE("app connected", app > 0);
	afd = accept_within(lfd);
	ASSERT_TRUE("accepted", afd >= 0);
	ASSERT_EQ_U64("100 bytes in", 100, (uint64_t)recv_n(afd, 100));
	ASSERT_EQ_U64("nft black hole", 0,
		      harness_sh("nft add table inet pf_rto && nft add chain inet pf_rto in "
				 "'{ type filter hook input priority 0; }' && nft add rule inet "
				 "pf_rto in tcp dport %u drop",
				 a.port));
	nft = 1;
	ASSERT_EQ_U64("app told to send", 1, (uint64_t)write(a.down[1], "g", 1));
	r = sidecar_wait_record(&sc, match_rec, &(struct match){ "out", lport, a.port, 1 },
				WAIT_MS);
	ASSERT_TRUE("closed record while the app holds the socket", r != NULL);
	ASSERT_TRUE("app still running", waitpid(app, NULL, WNOHANG) == 0);
	ASSERT_STR("error", "ETIMEDOUT", rec_str(r, "error"));
	ASSERT_EQ_U64("failed (it was established)", 0, rec_u64(r, "failed"));
	held_app_end(&a, app);
	app = -1;
	ret = stop_clean(&sc);
	if (ret)
		goto cleanup;
	ret = 1;
	{
		struct match m = { "out", lport, a.port, 0 };

		ASSERT_EQ_U64("bytes_sent (each byte once)", 1100,
			      sum_matching(&sc, &m, "bytes_sent", &n));
		ASSERT_TRUE("retransmitted", sum_matching(&sc, &m, "retransmits", &n) >= 1);
		ASSERT_EQ_U64("closed", 1, sum_matching(&sc, &m, "closed", &n));
		f = (struct report_fault){
			.fault = "established peer silenced (nftables): retransmission timeout",
			.unit = "connections",
			.injected = 1,
			.delivered = sum_matching(&sc, &m, "closed", &n),
			.note = "delivered: closed with error ETIMEDOUT when the timeout expired, "
				"the app still holding the socket",
		};
		f.lost = f.injected - f.delivered - f.counted;
		ASSERT_EQ_U64("the timeout recorded", 0, f.lost);
		harness_report(&f);
	}
	ret = 0;
cleanup:
	if (nft)
		harness_sh("nft delete table inet pf_rto");
	if (afd >= 0)
		close(afd);
	if (lfd >= 0)
		close(lfd);
	held_app_end(&a, app);
	return finish(ret, &sc, -1, NULL);
}

static const struct harness_test tests[] = {
	{ "ipv4_out_and_in_exact", test_ipv4_exact },
	{ "outside_cgroup_no_record", test_outside_cgroup },
	{ "ipv6_out_and_in_exact", test_ipv6_exact },
	{ "v4mapped_shown_as_ipv4", test_v4mapped },
	{ "long_lived_interval_deltas", test_long_lived_deltas },
	{ "refused_connect", test_refused },
	{ "timed_out_connect", test_timed_out },
	{ "retransmits_under_loss", test_retransmits },
	{ "aggregated_folds_k_flows", test_aggregated },
	{ "aggregated_closes_folded_in_kernel", test_aggregated_folded_closes },
	{ "resets_both_sides", test_resets },
	{ "reset_while_app_holds_socket", test_reset_while_held },
	{ "disconnect_reconnect_two_flows", test_disconnect_reconnect },
	{ "rto_expiry_while_app_holds_socket", test_rto_expiry_while_held },
	{ "many_flows_exact_under_walks", test_many_flows_exact },
	{ "sigterm_reports_open_flows", test_sigterm_reports_open },
	{ "walk_pauses_for_ring_space", test_walk_pauses_for_ring_space },
	{ "walk_metrics", test_walk_metrics },
	{ "fast_slots_spill_exact", test_fast_slots_spill_exact },
	{ "other_netns_walked", test_other_netns_walked },
	{ "listener_before_sidecar", test_listener_before_sidecar },
	{ "cli_errors", test_cli_errors },
	{ "scope_removed_and_recreated", test_scope_removed_and_recreated },
	{ "scope_gone_heartbeats_claim_nothing", test_scope_gone_heartbeats_claim_nothing },
	{ "pod_ips_refusals_warned", test_pod_ips_refusals_warned },
};

int main(int argc, char **argv)
{
	char rel[256];
	int failed = harness_require_root();

	if (failed)
		return failed;
	if (harness_pod_setup("podflow-it", CONTAINER_ID, g_scope, g_container, sizeof(g_scope),
			      NULL, 0))
		return 1;
	snprintf(rel, sizeof(rel), "podflow-it-%d-outside", getpid());
	harness_cgroup_create(rel, g_outside, sizeof(g_outside));
	g_container_id = harness_cgroup_id(g_container);
	signal(SIGPIPE, SIG_IGN);

	failed = harness_run("sidecar", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
	harness_cgroup_destroy(g_scope);
	harness_cgroup_destroy(g_outside);
	return failed ? 1 : 0;
}
