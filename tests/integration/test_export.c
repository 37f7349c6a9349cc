// SPDX-License-Identifier: BSD-2-Clause
/* End to end: real sidecar capturing real connections, posting to a real collector. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "workload.h"

#define CONTAINER_ID "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define WAIT_MS	     15000

static char g_scope[512];
static char g_container[640];
static char g_tmp[256]; /* per-run scratch: data dirs, certificates */

/* ---- the collector, a child process like the sidecar (harness.h) ---- */

/* SIGTERM and reap; returns the exit code, or -1 if it had to be killed. */
static int collector_stop(struct sidecar *c)
{
	if (c->pid <= 0 || c->exited)
		return 0;
	if (sidecar_stop(c, 10000, NULL))
		return -1;
	return WIFEXITED(c->status) ? WEXITSTATUS(c->status) : 128 + WTERMSIG(c->status);
}

/* Sums the collector's records for one direction and service port. */
static struct flow_totals collected(const char *dir, const char *direction, uint16_t port,
				    json_t **keep)
{
	json_t *all = json_array();
	struct flow_totals t = { 0 };

	harness_read_jsonl(dir, all);
	t = flow_totals_of(all, direction, port);
	if (keep)
		*keep = all;
	else
		json_decref(all);
	return t;
}

/* Waits until the collector holds `closed` connections for (direction, port). */
static struct flow_totals wait_collected(const char *dir, const char *direction, uint16_t port,
					 uint64_t closed, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	struct flow_totals t;

	for (;;) {
		t = collected(dir, direction, port, NULL);
		if (t.closed >= closed || harness_now_ms() >= deadline)
			return t;
		usleep(50000);
	}
}

/* Every flow record the collector wrote under dir (lines with a direction), any port. */
static uint64_t records_at(const char *dir)
{
	json_t *all = json_array();
	uint64_t n = 0;

	harness_read_jsonl(dir, all);
	for (size_t i = 0; i < json_array_size(all); i++)
		n += *rec_str(json_array_get(all, i), "direction") != '\0';
	json_decref(all);
	return n;
}

/*
 * The sidecar's records (its exit stats) as a reliability result: those at
 * the collector under `data` delivered, those its exporter dropped (buffer
 * full, refused, abandoned at exit) counted.  The caller asserts lost == 0.
 */
static struct report_fault export_result(const struct sidecar *sc, const char *data)
{
	struct report_fault f = {
		.unit = "records",
		.injected = sidecar_exit_stat(sc, "records"),
		.delivered = data ? records_at(data) : 0,
		.counted = sidecar_exit_stat(sc, "drops_export_buffer") +
			   sidecar_exit_stat(sc, "drops_export_rejected") +
			   sidecar_exit_stat(sc, "drops_export_abandoned"),
		.counted_as = "drops_export_buffer, drops_export_rejected, drops_export_abandoned",
	};

	f.lost = f.injected - f.delivered - f.counted;
	return f;
}

static const char *sidecar_args[24];

/* The sidecar's arguments for exporting to `url`, plus `extra` (NULL-terminated, may be NULL). */
static const char *const *export_args_v(const char *url, const char *const *extra)
{
	int n = 0;

	sidecar_args[n++] = "--cgroup";
	sidecar_args[n++] = g_scope;
	sidecar_args[n++] = "--interval";
	sidecar_args[n++] = "300ms";
	sidecar_args[n++] = "--stats-interval";
	sidecar_args[n++] = "0";
	sidecar_args[n++] = "--output";
	sidecar_args[n++] = url;
	for (int i = 0; extra && extra[i] && n < 23; i++)
		sidecar_args[n++] = extra[i];
	sidecar_args[n] = NULL;
	return sidecar_args;
}

static const char *const *export_args(const char *url, const char *extra1, const char *extra2)
{
	const char *extra[] = { extra1, extra2, NULL };

	return export_args_v(url, extra1 ? extra : NULL);
}

/*
 * Records in the collector's output equal what the sidecar captured: the
 * workload's K connections, both directions, exact bytes, the pod identity
 * from the batch header and the container from its table.
 */
static int export_exact(const char *scheme, const char *const *collector_extra,
			const char *const *sidecar_extra)
{
	const int k = 20;
	const size_t req = 1500, resp = 2700;
	struct sidecar c = { 0 };
	struct sidecar sc = { 0 };
	char listen[64], url[128], data[600];
	const char *cargs[16];
	uint16_t port = harness_free_port(), sport = 0, bound = 0;
	struct flow_totals out, in;
	json_t *all = NULL;
	int ret = 1, n = 0;

	snprintf(data, sizeof(data), "%s/data-%s", g_tmp, scheme);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	snprintf(url, sizeof(url), "%s://127.0.0.1:%u", scheme, port);
	cargs[n++] = "--listen";
	cargs[n++] = listen;
	cargs[n++] = "--data-dir";
	cargs[n++] = data;
	for (int i = 0; collector_extra && collector_extra[i]; i++)
		cargs[n++] = collector_extra[i];
	cargs[n] = NULL;
	ASSERT_EQ_U64("collector start", 0, collector_start(&c, cargs, &bound));
	setenv("POD_NAME", "web-7d9f8b6c5-x2x4z", 1);
	setenv("POD_NAMESPACE", "shop", 1);
	setenv("NODE_NAME", "node-7", 1);
	setenv("POD_APP", "web", 1);
	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, export_args_v(url, sidecar_extra)));
	ASSERT_EQ_U64("workload", 0, exchange(g_container, k, req, resp, &sport));
	out = wait_collected(data, "out", sport, k, WAIT_MS);
	in = wait_collected(data, "in", sport, k, WAIT_MS);
	ASSERT_EQ_U64("out connections at the collector", k, out.closed);
	ASSERT_EQ_U64("out bytes_sent", k * req, out.bytes_sent);
	ASSERT_EQ_U64("out bytes_received", k * resp, out.bytes_received);
	ASSERT_EQ_U64("in connections at the collector", k, in.closed);
	ASSERT_EQ_U64("in bytes_sent", k * resp, in.bytes_sent);
	ASSERT_EQ_U64("in bytes_received", k * req, in.bytes_received);
	collected(data, "out", sport, &all);
	for (size_t i = 0; i < json_array_size(all); i++) {
		json_t *r = json_array_get(all, i);

		if (rec_u64(r, "remote_port") != sport)
			continue;
		ASSERT_STR("local_pod", "web-7d9f8b6c5-x2x4z", rec_str(r, "local_pod"));
		ASSERT_STR("local_namespace", "shop", rec_str(r, "local_namespace"));
		ASSERT_STR("local_node", "node-7", rec_str(r, "local_node"));
		ASSERT_STR("local_app", "web", rec_str(r, "local_app"));
		ASSERT_STR("container_id", CONTAINER_ID, rec_str(r, "container_id"));
		ASSERT_STR("comm", "pf-client", rec_str(r, "comm"));
		/* a loopback peer is inside the sender's own network namespace: itself */
		ASSERT_STR("remote_source", "heartbeat", rec_str(r, "remote_source"));
		ASSERT_STR("remote_pod", "web-7d9f8b6c5-x2x4z", rec_str(r, "remote_pod"));
		ASSERT_STR("remote_namespace", "shop", rec_str(r, "remote_namespace"));
		ASSERT_STR("remote_app", "web", rec_str(r, "remote_app"));
	}
	{
		double secs = 0;

		ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 8000, &secs));
		ASSERT_EQ_U64("sidecar exit code", 0, WEXITSTATUS(sc.status));
		ASSERT_EQ_U64("nothing dropped by the exporter", 0,
			      sidecar_exit_stat(&sc, "drops_export_buffer") +
				  sidecar_exit_stat(&sc, "drops_export_rejected") +
				  sidecar_exit_stat(&sc, "drops_export_abandoned"));
	}
	ASSERT_EQ_U64("collector exit code", 0, collector_stop(&c));
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n    collector:\n%s\n",
			sc.err_text ? sc.err_text : "", c.err_text ? c.err_text : "");
	json_decref(all);
	sidecar_free(&sc);
	sidecar_free(&c);
	unsetenv("POD_NAME");
	unsetenv("POD_NAMESPACE");
	unsetenv("NODE_NAME");
	unsetenv("POD_APP");
	return ret;
}

static int test_h2c_exact(void)
{
	return export_exact("http", NULL, NULL);
}

/* A throwaway CA and server certificate for 127.0.0.1, made with the openssl CLI. */
static int make_certs(const char *dir)
{
	return harness_sh(
	    "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem "
	    "-days 1 -subj /CN=podflow-test-ca >/dev/null 2>&1 && "
	    "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
	    "-subj /CN=127.0.0.1 >/dev/null 2>&1 && "
	    "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext && "
	    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	    "-out server.pem -days 1 -extfile san.ext >/dev/null 2>&1 && "
	    "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr "
	    "-subj /CN=sidecar >/dev/null 2>&1 && "
	    "printf 'extendedKeyUsage=clientAuth\\n' > client.ext && "
	    "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	    "-out client.pem -days 1 -extfile client.ext >/dev/null 2>&1",
	    dir);
}

static int test_tls_exact(void)
{
	char cert[600], key[600], ca[600];
	const char *extra[5];
	int ret = 1;

	ASSERT_EQ_U64("certificates", 0, make_certs(g_tmp));
	snprintf(cert, sizeof(cert), "%s/server.pem", g_tmp);
	snprintf(key, sizeof(key), "%s/server.key", g_tmp);
	snprintf(ca, sizeof(ca), "%s/ca.pem", g_tmp);
	extra[0] = "--tls-cert";
	extra[1] = cert;
	extra[2] = "--tls-key";
	extra[3] = key;
	extra[4] = NULL;
	ret = export_exact("https", extra, (const char *const[]){ "--ca-file", ca, NULL });
cleanup:
	return ret;
}

/* mTLS: the collector requires a client certificate; the sidecar presents one. */
static int test_mtls(void)
{
	char cert[600], key[600], ca[600], ccert[600], ckey[600];
	int ret = 1;

	ASSERT_EQ_U64("certificates", 0, make_certs(g_tmp));
	snprintf(cert, sizeof(cert), "%s/server.pem", g_tmp);
	snprintf(key, sizeof(key), "%s/server.key", g_tmp);
	snprintf(ca, sizeof(ca), "%s/ca.pem", g_tmp);
	snprintf(ccert, sizeof(ccert), "%s/client.pem", g_tmp);
	snprintf(ckey, sizeof(ckey), "%s/client.key", g_tmp);
	ret = export_exact("https",
			   (const char *const[]){ "--tls-cert", cert, "--tls-key", key,
						  "--tls-client-ca", ca, NULL },
			   (const char *const[]){ "--ca-file", ca, "--cert-file", ccert,
						  "--key-file", ckey, NULL });
cleanup:
	return ret;
}

/* mTLS: a sidecar without a client certificate is turned away at the handshake. */
static int test_mtls_refuses_anonymous(void)
{
	struct sidecar sc = { 0 }, c = { 0 };
	char cert[600], key[600], ca[600], listen[64], url[128], data[600];
	uint16_t port = harness_free_port(), sport = 0, bound = 0;
	struct report_fault f;
	int ret = 1;

	ASSERT_EQ_U64("certificates", 0, make_certs(g_tmp));
	snprintf(cert, sizeof(cert), "%s/server.pem", g_tmp);
	snprintf(key, sizeof(key), "%s/server.key", g_tmp);
	snprintf(ca, sizeof(ca), "%s/ca.pem", g_tmp);
	snprintf(data, sizeof(data), "%s/data-anon", g_tmp);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u", port);
	ASSERT_EQ_U64("collector start", 0,
		      collector_start(&c,
				      (const char *const[]){ "--listen", listen, "--data-dir", data,
							     "--tls-cert", cert, "--tls-key", key,
							     "--tls-client-ca", ca, NULL },
				      &bound));
	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, export_args(url, "--ca-file", ca)));
	ASSERT_EQ_U64("workload", 0, exchange(g_container, 3, 10, 10, &sport));
	{
		uint64_t deadline = harness_now_ms() + WAIT_MS;

		while (harness_now_ms() < deadline &&
		       !strstr(sc.err_text ? sc.err_text : "", "retrying with backoff"))
			sidecar_poll(&sc, 50);
	}
	ASSERT_TRUE("the sidecar reports the refusal",
		    strstr(sc.err_text, "retrying with backoff") != NULL);
	ASSERT_EQ_U64("nothing written", 0, collected(data, "out", sport, NULL).records);
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 10000, NULL));
	ASSERT_EQ_U64("undelivered records are counted", sidecar_exit_stat(&sc, "records"),
		      sidecar_exit_stat(&sc, "drops_export_abandoned"));
	ASSERT_EQ_U64("collector stops", 0, collector_stop(&c));
	ASSERT_TRUE("the collector counted failed handshakes",
		    sidecar_exit_stat(&c, "conns_tls_failures") > 0);
	f = export_result(&sc, data);
	f.fault = "sidecar without a client certificate, collector requires mTLS";
	f.counted_as = "drops_export_abandoned; the collector's conns_tls_failures";
	ASSERT_EQ_U64("records: delivered or counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n    collector:\n%s\n",
			sc.err_text ? sc.err_text : "", c.err_text ? c.err_text : "");
	sidecar_free(&sc);
	sidecar_free(&c);
	return ret;
}

/*
 * The collector goes away for 10 s while connections keep coming, then
 * returns on the same port: the sidecar buffers, retries, and every record
 * arrives exactly once.
 */
static int test_collector_down_10s(void)
{
	const size_t req = 800, resp = 1600;
	struct sidecar c = { 0 };
	struct sidecar sc = { 0 };
	char listen[64], url[128], data[600];
	uint16_t port = harness_free_port(), sport = 0, sport2 = 0, sport3 = 0, bound = 0;
	const char *cargs[5];
	struct flow_totals t;
	struct report_fault f;
	uint64_t down_at, retries = 0, down_conns = 0;
	char note[128];
	int ret = 1;

	snprintf(data, sizeof(data), "%s/data-down", g_tmp);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
	cargs[0] = "--listen";
	cargs[1] = listen;
	cargs[2] = "--data-dir";
	cargs[3] = data;
	cargs[4] = NULL;
	ASSERT_EQ_U64("collector start", 0, collector_start(&c, cargs, &bound));
	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, export_args(url, NULL, NULL)));
	ASSERT_EQ_U64("workload before", 0, exchange(g_container, 10, req, resp, &sport));
	ASSERT_EQ_U64("delivered before", 10,
		      wait_collected(data, "out", sport, 10, WAIT_MS).closed);

	/* a rolling restart: the collector finishes what it has and goes */
	ASSERT_EQ_U64("collector stopped", 0, collector_stop(&c));
	sidecar_free(&c);
	down_at = harness_now_ms();
	ASSERT_EQ_U64("workload while down (1)", 0, exchange(g_container, 30, req, resp, &sport2));
	while (harness_now_ms() < down_at + 5000)
		sidecar_poll(&sc, 100);
	ASSERT_EQ_U64("workload while down (2)", 0, exchange(g_container, 30, req, resp, &sport3));
	while (harness_now_ms() < down_at + 10000)
		sidecar_poll(&sc, 100);
	ASSERT_EQ_U64("collector restarted", 0, collector_start(&c, cargs, &bound));

	t = wait_collected(data, "out", sport2, 30, WAIT_MS + 30000);
	ASSERT_EQ_U64("connections made while down, delivered", 30, t.closed);
	down_conns += t.closed;
	ASSERT_EQ_U64("their bytes", 30 * req, t.bytes_sent);
	t = wait_collected(data, "out", sport3, 30, WAIT_MS);
	ASSERT_EQ_U64("second wave delivered", 30, t.closed);
	down_conns += t.closed;
	ASSERT_EQ_U64("second wave bytes", 30 * resp, t.bytes_received);
	t = wait_collected(data, "in", sport3, 30, WAIT_MS);
	ASSERT_EQ_U64("second wave, server side", 30, t.closed);
	/* exactly once: nothing written twice */
	ASSERT_EQ_U64("first wave still exactly once", 10,
		      collected(data, "out", sport, NULL).closed);
	{
		double secs = 0;

		ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 8000, &secs));
		retries = sidecar_exit_stat(&sc, "export_retries");
		ASSERT_TRUE("the exporter retried", retries > 0);
		ASSERT_EQ_U64("nothing dropped", 0,
			      sidecar_exit_stat(&sc, "drops_export_buffer") +
				  sidecar_exit_stat(&sc, "drops_export_abandoned"));
	}
	ASSERT_EQ_U64("collector exit code", 0, collector_stop(&c));
	f = export_result(&sc, data);
	f.fault = "collector down 10 s while the sidecar exports";
	snprintf(note, sizeof(note),
		 "each record once; the %llu connections made while down all in them; %llu "
		 "export retries",
		 (unsigned long long)down_conns, (unsigned long long)retries);
	f.note = note;
	ASSERT_EQ_U64("records: each at the collector once", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n    collector:\n%s\n",
			sc.err_text ? sc.err_text : "", c.err_text ? c.err_text : "");
	sidecar_free(&sc);
	sidecar_free(&c);
	return ret;
}

/* A buffer far too small for 10 s of batches: the oldest go, and are counted. */
static int test_buffer_overflow_counted(void)
{
	struct sidecar sc = { 0 };
	char url[128];
	uint16_t port = harness_free_port(), sport = 0;
	struct report_fault f;
	int ret = 1;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u", port); /* nobody listens */
	sidecar_args[0] = NULL;
	{
		const char *args[] = { "--cgroup",
				       g_scope,
				       "--interval",
				       "200ms",
				       "--per-connection",
				       "--stats-interval",
				       "0",
				       "--output",
				       url,
				       "--buffer-max-bytes",
				       "65536",
				       "--encoding",
				       "identity",
				       "--shutdown-grace",
				       "1s",
				       NULL };

		ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args));
	}
	/* per-connection identity batches: 600 records are far more than 64 KiB */
	ASSERT_EQ_U64("workload", 0, exchange(g_container, 600, 10, 10, &sport));
	{
		double secs = 0;
		uint64_t dropped, abandoned;

		ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 8000, &secs));
		dropped = sidecar_exit_stat(&sc, "drops_export_buffer");
		abandoned = sidecar_exit_stat(&sc, "drops_export_abandoned");
		fprintf(stderr, "    dropped from the buffer %llu, abandoned at exit %llu\n",
			(unsigned long long)dropped, (unsigned long long)abandoned);
		ASSERT_TRUE("oldest dropped and counted", dropped > 0 && dropped != UINT64_MAX);
		/* every record is accounted for: delivered (none here), dropped or abandoned */
		ASSERT_EQ_U64("records = dropped + abandoned", sidecar_exit_stat(&sc, "records"),
			      dropped + abandoned);
		ASSERT_TRUE("said in the log", strstr(sc.err_text, "export buffer full") != NULL);
	}
	f = export_result(&sc, NULL);
	f.fault = "no collector and a 64 KiB export buffer: the oldest batches dropped";
	f.delivered = sidecar_exit_stat(&sc, "export_records_ok");
	f.lost = f.injected - f.delivered - f.counted;
	f.counted_as = "drops_export_buffer (logged), drops_export_abandoned at exit";
	ASSERT_EQ_U64("records: every one counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n", sc.err_text ? sc.err_text : "");
	sidecar_free(&sc);
	return ret;
}

/* The collector's exit stats: a key's value, or UINT64_MAX when absent. */
static uint64_t collector_stat(const struct sidecar *c, const char *key)
{
	return sidecar_exit_stat(c, key);
}

/*
 * What the export buffer dropped while the collector was down reaches the
 * collector in later batch headers, exactly: dropped batches hand the counts
 * they carried back to the next header.
 */
static int test_drops_reach_collector(void)
{
	struct sidecar sc = { 0 }, c = { 0 };
	char listen[64], url[128], data[600];
	uint16_t port = harness_free_port(), sport = 0, sport2 = 0, bound = 0;
	const char *cargs[5];
	uint64_t dropped, reported;
	struct report_fault f;
	int ret = 1;

	snprintf(data, sizeof(data), "%s/data-drops", g_tmp);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
	cargs[0] = "--listen";
	cargs[1] = listen;
	cargs[2] = "--data-dir";
	cargs[3] = data;
	cargs[4] = NULL;
	{
		const char *args[] = { "--cgroup",
				       g_scope,
				       "--interval",
				       "200ms",
				       "--per-connection",
				       "--stats-interval",
				       "0",
				       "--output",
				       url,
				       "--buffer-max-bytes",
				       "65536",
				       "--encoding",
				       "identity",
				       NULL };

		ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args));
	}
	ASSERT_EQ_U64("workload while nobody listens", 0,
		      exchange(g_container, 600, 10, 10, &sport));
	/* two more seconds down: the exporter fails, backs off, keeps buffering */
	{
		uint64_t until = harness_now_ms() + 2000;

		while (harness_now_ms() < until)
			sidecar_poll(&sc, 100);
	}
	ASSERT_TRUE("the exporter saw the collector down",
		    strstr(sc.err_text, "retrying with backoff") != NULL);
	ASSERT_EQ_U64("collector start", 0, collector_start(&c, cargs, &bound));
	/* a marker after the backlog: once it is in, so are the headers before it */
	ASSERT_EQ_U64("marker workload", 0, exchange(g_container, 3, 10, 10, &sport2));
	ASSERT_EQ_U64("marker delivered", 3, wait_collected(data, "out", sport2, 3, 45000).closed);
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 8000, NULL));
	ASSERT_EQ_U64("collector stops", 0, collector_stop(&c));
	dropped = sidecar_exit_stat(&sc, "drops_export_buffer");
	reported = collector_stat(&c, "sender_drops_buffer");
	fprintf(stderr, "    dropped by the sidecar %llu, reported to the collector %llu\n",
		(unsigned long long)dropped, (unsigned long long)reported);
	ASSERT_TRUE("some were dropped", dropped > 0 && dropped != UINT64_MAX);
	ASSERT_EQ_U64("every drop reported", dropped, reported);
	ASSERT_EQ_U64("nothing abandoned", 0, sidecar_exit_stat(&sc, "drops_export_abandoned"));
	f = export_result(&sc, data);
	f.fault = "export buffer overflows while the collector is down, then it returns";
	f.counted_as = "drops_export_buffer, reported to the collector (sender_drops_buffer)";
	ASSERT_EQ_U64("records: delivered or dropped and counted", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n    collector:\n%s\n",
			sc.err_text ? sc.err_text : "", c.err_text ? c.err_text : "");
	sidecar_free(&sc);
	sidecar_free(&c);
	return ret;
}

/* Both ends rotate the bearer token the kubelet way: the flow goes on. */
static int swap_token(const char *dir, const char *token, int gen)
{
	return harness_sh("cd %s && mkdir -p ..%d && printf '%%s\\n' '%s' > ..%d/token && "
			  "ln -sfn ..%d ..data_tmp && mv -T ..data_tmp ..data && "
			  "ln -sfn ..data/token token",
			  dir, gen, token, gen, gen);
}

static int test_token_rotation(void)
{
	struct sidecar sc = { 0 }, c = { 0 };
	char listen[64], url[128], data[600], cdir[600], sdir[600], ctok[700], stok[700];
	uint16_t port = harness_free_port(), sport = 0, sport2 = 0, bound = 0;
	const char *cargs[7];
	struct report_fault f;
	int ret = 1;

	snprintf(data, sizeof(data), "%s/data-token", g_tmp);
	snprintf(cdir, sizeof(cdir), "%s/ctoken", g_tmp);
	snprintf(sdir, sizeof(sdir), "%s/stoken", g_tmp);
	mkdir(cdir, 0700);
	mkdir(sdir, 0700);
	ASSERT_EQ_U64("tokens", 0, swap_token(cdir, "alpha-1", 1) | swap_token(sdir, "alpha-1", 1));
	snprintf(ctok, sizeof(ctok), "%s/token", cdir);
	snprintf(stok, sizeof(stok), "%s/token", sdir);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
	cargs[0] = "--listen";
	cargs[1] = listen;
	cargs[2] = "--data-dir";
	cargs[3] = data;
	cargs[4] = "--token-file";
	cargs[5] = ctok;
	cargs[6] = NULL;
	ASSERT_EQ_U64("collector start", 0, collector_start(&c, cargs, &bound));
	ASSERT_EQ_U64("sidecar start", 0,
		      sidecar_start(&sc, export_args(url, "--token-file", stok)));
	ASSERT_EQ_U64("workload", 0, exchange(g_container, 5, 100, 200, &sport));
	ASSERT_EQ_U64("delivered with the first token", 5,
		      wait_collected(data, "out", sport, 5, WAIT_MS).closed);
	/* rotate both; each end re-reads within a second of the swap */
	ASSERT_EQ_U64("rotate", 0, swap_token(cdir, "beta-2", 2) | swap_token(sdir, "beta-2", 2));
	{
		uint64_t deadline = harness_now_ms() + 5000;

		while (harness_now_ms() < deadline &&
		       !(strstr(sc.err_text ? sc.err_text : "", "bearer token re-read") &&
			 strstr(c.err_text ? c.err_text : "", "token reloaded"))) {
			sidecar_poll(&sc, 50);
			sidecar_poll(&c, 50);
		}
	}
	ASSERT_TRUE("the sidecar re-read it", strstr(sc.err_text, "bearer token re-read") != NULL);
	ASSERT_TRUE("the collector re-read it", strstr(c.err_text, "token reloaded") != NULL);
	ASSERT_EQ_U64("workload after rotation", 0, exchange(g_container, 5, 100, 200, &sport2));
	ASSERT_EQ_U64("delivered with the second token", 5,
		      wait_collected(data, "out", sport2, 5, WAIT_MS).closed);
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 8000, NULL));
	/* only record-less heartbeats could meet the second between the two re-reads */
	ASSERT_EQ_U64("no records refused", 0, sidecar_exit_stat(&sc, "drops_export_rejected"));
	ASSERT_EQ_U64("collector stops", 0, collector_stop(&c));
	f = export_result(&sc, data);
	f.fault = "bearer token rotated at both ends while the sidecar exports";
	ASSERT_EQ_U64("records: each at the collector", 0, f.lost);
	harness_report(&f);
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n    collector:\n%s\n",
			sc.err_text ? sc.err_text : "", c.err_text ? c.err_text : "");
	sidecar_free(&sc);
	sidecar_free(&c);
	return ret;
}

/*
 * The send spread: the sidecar cuts on wall-clock multiples of the interval
 * (2 s here) and posts what it cut at its own offset after the cut, within
 * send_spread capped at a tenth of the interval (1 s asked, 200 ms in
 * force).  The collector here is a bare TCP listener: the sidecar connects
 * lazily, at its first post, so the connection's arrival is the post's
 * time.  It must come no sooner than the cut plus the offset the sidecar
 * reports, and not long after.
 */
static int test_send_spread(void)
{
	struct sidecar sc = { 0 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct pollfd p = { .events = POLLIN };
	struct timespec ts;
	char url[64];
	uint16_t admin;
	int ret = 1;

	p.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_TRUE("listener", p.fd >= 0 && !bind(p.fd, (struct sockaddr *)&a, sizeof(a)) &&
				    !listen(p.fd, 4) &&
				    !getsockname(p.fd, (struct sockaddr *)&a, &alen));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(a.sin_port));
	ASSERT_EQ_U64(
	    "sidecar start", 0,
	    sidecar_start(&sc, (const char *const[]){ "--cgroup", g_scope, "--interval", "2s",
						      "--send-spread", "1s", "--stats-interval",
						      "0", "--admin", "127.0.0.1:0", "--output",
						      url, "--shutdown-grace", "0s", NULL }));
	admin = harness_admin_port(&sc, 5000);
	ASSERT_TRUE("admin port", admin != 0);
	ASSERT_EQ_U64("the first post within an interval and its spread", 1, poll(&p, 1, 5000));
	clock_gettime(CLOCK_REALTIME, &ts);
	ASSERT_EQ_U64("posted at its offset after the cut", 0,
		      harness_check_send_offset(admin, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec,
						2000000000, 0.2));
	ret = 0;
cleanup:
	if (ret && sc.err_text)
		fprintf(stderr, "    sidecar:\n%s\n", sc.err_text);
	sidecar_stop(&sc, 8000, NULL);
	sidecar_free(&sc);
	if (p.fd >= 0)
		close(p.fd);
	return ret;
}

static const struct harness_test tests[] = {
	{ "h2c_records_equal_capture", test_h2c_exact },
	{ "tls_records_equal_capture", test_tls_exact },
	{ "mtls_client_certificate", test_mtls },
	{ "mtls_refuses_anonymous", test_mtls_refuses_anonymous },
	{ "collector_down_10s_no_loss", test_collector_down_10s },
	{ "buffer_overflow_counted", test_buffer_overflow_counted },
	{ "drops_reach_the_collector", test_drops_reach_collector },
	{ "token_rotation", test_token_rotation },
	{ "send_spread_after_the_cut", test_send_spread },
};

int main(int argc, char **argv)
{
	int failed = harness_require_root();

	if (failed)
		return failed;
	if (harness_pod_setup("podflow-export", CONTAINER_ID, g_scope, g_container, sizeof(g_scope),
			      g_tmp, sizeof(g_tmp)))
		return 1;
	signal(SIGPIPE, SIG_IGN);

	failed = harness_run("export", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
	harness_cgroup_destroy(g_scope);
	harness_sh("rm -rf %s", g_tmp);
	return failed ? 1 : 0;
}
