// SPDX-License-Identifier: BSD-2-Clause
/* The sidecar's IPFIX export over UDP: exact records, standard tools, losses counted. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flow.h"
#include "harness.h"
#include "ip.h"
#include "ipfix.h"
#include "jsonw.h"
#include "wire.h"
#include "workload.h"

#define CONTAINER_ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define WAIT_MS	     15000
#define MAX_REPORTS  1024
#define MAX_HELD     4096

static char g_scope[512];
static char g_container[640];
static char g_tmp[256];

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- a collector in the test: a UDP socket and lib/ipfix's decoder ---------------- */

struct report_seen {
	uint64_t sender_id;
	uint64_t seq;
	uint64_t span_start_ms;
	uint64_t span_end_ms;
	uint32_t n_ips;
	uint8_t ips[WIRE_MAX_IPS][16];
	uint64_t drops[WIRE_DROP__COUNT];
};

struct held {
	size_t len;
	struct ipfix_source src;
	uint8_t *data;
};

struct rx {
	int fd;
	struct ipfix_decoder *dec;
	struct jsonw *jw;
	json_t *records; /* every flow record decoded, as the JSON the sidecar would print */
	struct report_seen reports[MAX_REPORTS];
	size_t n_reports;
	char pod[256], namespace[256], node[256], app[256], workload[256];
	bool identity;
	uint64_t datagrams, decode_errors, seq_new, seq_ok, seq_other;
	uint64_t records_no_sender;
	/* hold: keep the datagrams and decode them later, templates first (a late collector) */
	bool hold;
	struct held held[MAX_HELD];
	size_t n_held;
};

/* A UDP socket on addr ("::" is dual-stack) port 0; its port in *port.  0 or -1. */
static int rx_open(struct rx *rx, int family, const char *addr, uint16_t *port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int zero = 0, big = 4 << 20;

	memset(rx, 0, sizeof(*rx));
	rx->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (rx->fd < 0)
		return -1;
	setsockopt(rx->fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(*port);
		inet_pton(AF_INET, addr, &s->sin_addr);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		setsockopt(rx->fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(*port);
		inet_pton(AF_INET6, addr, &s->sin6_addr);
		len = sizeof(*s);
	}
	if (bind(rx->fd, (struct sockaddr *)&ss, len) ||
	    getsockname(rx->fd, (struct sockaddr *)&ss, &len))
		return -1;
	*port = ntohs(((struct sockaddr_in *)&ss)->sin_port); /* same offset for v6 */
	rx->dec = ipfix_decoder__new(&(struct ipfix_decoder_opts){ 0 });
	rx->jw = jsonw__new();
	rx->records = json_array();
	return rx->dec && rx->jw && rx->records ? 0 : -1;
}

static void rx_close(struct rx *rx)
{
	if (rx->fd > 0)
		close(rx->fd);
	ipfix_decoder__free(rx->dec);
	jsonw__free(rx->jw);
	json_decref(rx->records);
	for (size_t i = 0; i < rx->n_held; i++)
		free(rx->held[i].data);
	memset(rx, 0, sizeof(*rx));
}

static void copy_str(char *dst, const char *src)
{
	snprintf(dst, 256, "%s", src ? src : "");
}

static void rx_decode(struct rx *rx, const struct ipfix_source *src, const void *buf, size_t len)
{
	struct ipfix_msg *m;
	int err = ipfix_decoder__decode(rx->dec, src, buf, len, &m);

	if (err) {
		rx->decode_errors++;
		fprintf(stderr, "    decode: %s\n", ipfix_decoder__error(rx->dec));
		return;
	}
	if (m->seq_status == IPFIX_SEQ_NEW)
		rx->seq_new++;
	else if (m->seq_status == IPFIX_SEQ_OK)
		rx->seq_ok++;
	else
		rx->seq_other++;
	if (!m->sender_known)
		rx->records_no_sender += m->batch.n_records;
	if (m->has_identity) {
		copy_str(rx->pod, m->batch.sender.pod);
		copy_str(rx->namespace, m->batch.sender.namespace);
		copy_str(rx->node, m->batch.sender.node);
		copy_str(rx->app, m->batch.sender.app);
		copy_str(rx->workload, m->batch.sender.workload);
		rx->identity = true;
	}
	if (m->has_report && rx->n_reports < MAX_REPORTS) {
		struct report_seen *r = &rx->reports[rx->n_reports++];

		r->sender_id = m->batch.sender_id;
		r->seq = m->batch.seq;
		r->span_start_ms = m->batch.span_start_ms;
		r->span_end_ms = m->batch.span_end_ms;
		r->n_ips = m->batch.n_ips;
		memcpy(r->ips, m->batch.ips, (size_t)m->batch.n_ips * 16);
		memcpy(r->drops, m->batch.drops, sizeof(r->drops));
	}
	for (uint32_t i = 0; i < m->batch.n_records; i++) {
		const char *data;
		size_t n;
		json_t *rec;

		jsonw__reset(rx->jw);
		flow_record_json(&m->batch.records[i], rx->jw);
		data = jsonw__data(rx->jw, &n);
		rec = json_loadb(data, n, 0, NULL);
		if (rec)
			json_array_append_new(rx->records, rec);
	}
}

/* Reads what has arrived, waiting at most timeout_ms for the first datagram. */
static void rx_poll(struct rx *rx, int timeout_ms)
{
	struct pollfd p = { .fd = rx->fd, .events = POLLIN };
	uint8_t buf[65536];

	if (poll(&p, 1, timeout_ms) <= 0)
		return;
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct ipfix_source src = { 0 };
		ssize_t n = recvfrom(rx->fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &sl);

		if (n < 0)
			break;
		rx->datagrams++;
		ip_from_sockaddr((const struct sockaddr *)&ss, src.addr);
		src.port = ntohs(((const struct sockaddr_in *)&ss)->sin_port); /* v6: same offset */
		if (!rx->hold) {
			rx_decode(rx, &src, buf, (size_t)n);
			continue;
		}
		if (rx->n_held < MAX_HELD) {
			struct held *h = &rx->held[rx->n_held];

			h->data = malloc((size_t)n);
			if (!h->data)
				continue;
			memcpy(h->data, buf, (size_t)n);
			h->len = (size_t)n;
			h->src = src;
			rx->n_held++;
		}
	}
}

static uint16_t first_set_id(const uint8_t *m, size_t len)
{
	return len >= IPFIX_HEADER_SIZE + 2 ? (uint16_t)(m[16] << 8 | m[17]) : 0;
}

/* Decodes what was held: one template message first, then everything in order. */
static void rx_decode_held(struct rx *rx)
{
	for (size_t i = 0; i < rx->n_held; i++) {
		if (first_set_id(rx->held[i].data, rx->held[i].len) == 2) {
			rx_decode(rx, &rx->held[i].src, rx->held[i].data, rx->held[i].len);
			break;
		}
	}
	for (size_t i = 0; i < rx->n_held; i++)
		rx_decode(rx, &rx->held[i].src, rx->held[i].data, rx->held[i].len);
}

/* Closed connections of (direction, service port) among the decoded records. */
static uint64_t closed_of(json_t *recs, const char *direction, uint16_t port)
{
	uint64_t n = 0;

	for (size_t i = 0; i < json_array_size(recs); i++) {
		json_t *r = json_array_get(recs, i);
		uint64_t p = strcmp(direction, "out") == 0 ? rec_u64(r, "remote_port")
							   : rec_u64(r, "local_port");

		if (strcmp(rec_str(r, "direction"), direction) == 0 && p == port)
			n += rec_u64(r, "closed");
	}
	return n;
}

/* Waits until k connections to `port` closed each way are among rx's records. */
static bool rx_wait_closed(struct rx *rx, uint16_t port, uint64_t k, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;

	while (closed_of(rx->records, "out", port) < k || closed_of(rx->records, "in", port) < k) {
		if (harness_now_ms() >= deadline)
			return false;
		rx_poll(rx, 50);
	}
	return true;
}

/*
 * One object per connection (direction, local port, remote port) of the
 * service port: a connection an interval cut split is in several
 * per-connection records, whose counts add up; what describes it is the
 * same in each (a difference is kept as "_differs"); the RTTs are the
 * last record's.
 */
static json_t *by_connection(json_t *recs, uint16_t port)
{
	static const char *const sums[] = { "flows",	     "closed",	       "failed",
					    "bytes_sent",    "bytes_received", "segs_sent",
					    "segs_received", "retransmits",    "resets" };
	json_t *out = json_object();

	for (size_t i = 0; i < json_array_size(recs); i++) {
		json_t *r = json_array_get(recs, i), *acc;
		const char *dir = rec_str(r, "direction"), *k;
		uint64_t p =
		    strcmp(dir, "out") == 0 ? rec_u64(r, "remote_port") : rec_u64(r, "local_port");
		char key[64];
		json_t *v;

		if (p != port)
			continue;
		snprintf(key, sizeof(key), "%s %llu %llu", dir,
			 (unsigned long long)rec_u64(r, "local_port"),
			 (unsigned long long)rec_u64(r, "remote_port"));
		acc = json_object_get(out, key);
		if (!acc) {
			json_object_set_new(out, key, json_deep_copy(r));
			continue;
		}
		for (size_t s = 0; s < sizeof(sums) / sizeof(sums[0]); s++)
			json_object_set_new(acc, sums[s],
					    json_integer((json_int_t)(rec_u64(acc, sums[s]) +
								      rec_u64(r, sums[s]))));
		if (rec_u64(r, "start_ms") < rec_u64(acc, "start_ms"))
			json_object_set(acc, "start_ms", json_object_get(r, "start_ms"));
		if (rec_u64(r, "end_ms") >= rec_u64(acc, "end_ms")) {
			json_object_set(acc, "end_ms", json_object_get(r, "end_ms"));
			json_object_set(acc, "srtt_us", json_object_get(r, "srtt_us"));
			json_object_set(acc, "min_rtt_us", json_object_get(r, "min_rtt_us"));
		}
		json_object_foreach(r, k, v)
		{
			bool summed = false;

			for (size_t s = 0; s < sizeof(sums) / sizeof(sums[0]); s++)
				summed |= strcmp(k, sums[s]) == 0;
			if (summed || !strcmp(k, "start_ms") || !strcmp(k, "end_ms") ||
			    !strcmp(k, "srtt_us") || !strcmp(k, "min_rtt_us"))
				continue;
			if (!json_equal(v, json_object_get(acc, k)))
				json_object_set_new(acc, "_differs", json_string(k));
		}
	}
	return out;
}

/* ---- tools run by the tests: dumpcap, tshark, nfcapd, nfdump --------------------- */

struct tool {
	pid_t pid;
	int out_fd, err_fd;
	char *out, *err;
	size_t out_len, err_len;
	int status;
	bool exited;
};

static void append(char **buf, size_t *len, const char *p, size_t n)
{
	char *q = realloc(*buf, *len + n + 1);

	if (!q)
		return;
	memcpy(q + *len, p, n);
	*len += n;
	q[*len] = '\0';
	*buf = q;
}

/* argv[0] from PATH, stdout and stderr piped.  0 or -1. */
static int tool_start(struct tool *t, const char *const *argv)
{
	int out[2], err[2];

	memset(t, 0, sizeof(*t));
	t->out_fd = t->err_fd = -1;
	if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -1;
	t->pid = fork();
	if (t->pid < 0)
		return -1;
	if (t->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	t->out_fd = out[0];
	t->err_fd = err[0];
	fcntl(t->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(t->err_fd, F_SETFL, O_NONBLOCK);
	return 0;
}

static void tool_poll(struct tool *t, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = t->out_fd, .events = POLLIN },
			       { .fd = t->err_fd, .events = POLLIN } };
	char buf[65536];

	if (poll(p, 2, timeout_ms) <= 0)
		return;
	for (int i = 0; i < 2; i++) {
		ssize_t n;

		while (p[i].fd >= 0 && (n = read(p[i].fd, buf, sizeof(buf))) > 0) {
			if (i == 0)
				append(&t->out, &t->out_len, buf, (size_t)n);
			else
				append(&t->err, &t->err_len, buf, (size_t)n);
		}
	}
}

static bool tool_reap(struct tool *t)
{
	if (!t->exited && t->pid > 0 && waitpid(t->pid, &t->status, WNOHANG) == t->pid)
		t->exited = true;
	return t->exited;
}

/* Until `needle` is in its stderr; false at the deadline or if it exited. */
static bool tool_wait_err(struct tool *t, const char *needle, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		tool_poll(t, 50);
		if (t->err && strstr(t->err, needle))
			return true;
		if (tool_reap(t) || harness_now_ms() >= deadline)
			return false;
	}
}

/* Sends sig, reads until it exits (SIGKILL after timeout_ms); its exit code or -1. */
static int tool_stop(struct tool *t, int sig, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;

	if (t->pid <= 0)
		return -1;
	if (!t->exited && sig)
		kill(t->pid, sig);
	while (!tool_reap(t)) {
		tool_poll(t, 20);
		if (harness_now_ms() >= deadline) {
			kill(t->pid, SIGKILL);
			waitpid(t->pid, &t->status, 0);
			t->exited = true;
			return -1;
		}
	}
	tool_poll(t, 0);
	tool_poll(t, 0);
	return WIFEXITED(t->status) ? WEXITSTATUS(t->status) : -1;
}

static void tool_free(struct tool *t)
{
	if (t->pid > 0 && !t->exited) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, &t->status, 0);
	}
	if (t->out_fd >= 0)
		close(t->out_fd);
	if (t->err_fd >= 0)
		close(t->err_fd);
	free(t->out);
	free(t->err);
	memset(t, 0, sizeof(*t));
	t->out_fd = t->err_fd = -1;
}

/* Runs argv to its end; its exit code, stdout in t->out. */
static int tool_run(struct tool *t, const char *const *argv, int timeout_ms)
{
	if (tool_start(t, argv))
		return -1;
	return tool_stop(t, 0, timeout_ms);
}

/* Whether a command is on PATH (the suite's tools come from make deps). */
static bool have(const char *name)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null", name);
	return harness_sh("%s", cmd) == 0;
}

/* ---- the sidecar ---------------------------------------------------------------- */

static const char *g_args[40];

/* The sidecar's arguments: per connection, 300 ms intervals, an admin port, then extra. */
static const char *const *args_for(const char *output, const char *const *extra)
{
	int n = 0;

	g_args[n++] = "--cgroup";
	g_args[n++] = g_scope;
	g_args[n++] = "--interval";
	g_args[n++] = "300ms";
	g_args[n++] = "--per-connection";
	g_args[n++] = "--stats-interval";
	g_args[n++] = "0";
	g_args[n++] = "--admin";
	g_args[n++] = "127.0.0.1:0";
	g_args[n++] = "--output";
	g_args[n++] = output;
	for (int i = 0; extra && extra[i] && n < 39; i++)
		g_args[n++] = extra[i];
	g_args[n] = NULL;
	return g_args;
}

static void set_identity(void)
{
	setenv("POD_NAME", "cart-5c7d9f-abcde", 1);
	setenv("POD_NAMESPACE", "shop", 1);
	setenv("NODE_NAME", "node-3", 1);
	setenv("POD_APP", "cart", 1);
	setenv("POD_WORKLOAD", "5c7d9f", 1);
	setenv("POD_IPS", "10.1.2.3,fd00::7", 1);
}

static void unset_identity(void)
{
	unsetenv("POD_NAME");
	unsetenv("POD_NAMESPACE");
	unsetenv("NODE_NAME");
	unsetenv("POD_APP");
	unsetenv("POD_WORKLOAD");
	unsetenv("POD_IPS");
}

static uint64_t sum_drops(const struct rx *rx, enum wire_drop d)
{
	uint64_t n = 0;

	for (size_t i = 0; i < rx->n_reports; i++)
		n += rx->reports[i].drops[d];
	return n;
}

/*
 * 1. What the sidecar exports over UDP, decoded with lib/ipfix, is what a
 * second sidecar on the same cgroup prints as JSON lines, connection by
 * connection and field by field; the known connections' exact values; the
 * identity, heartbeat (span, pod IPs) and drops of every report; report
 * and IPFIX sequence numbers contiguous.
 */
static int test_records_equal(void)
{
	const int k = 5;
	const size_t req = 1500, resp = 2700;
	struct sidecar sa = { 0 }, sb = { 0 };
	struct rx rx = { 0 };
	char url[64];
	uint16_t port = 0, sport = 0;
	json_t *a = NULL, *b = NULL;
	uint8_t v4[16], v6[16];
	const char *key;
	json_t *ra;
	int ret = 1;

	set_identity();
	ASSERT_EQ_U64("udp socket", 0, rx_open(&rx, AF_INET, "127.0.0.1", &port));
	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", port);
	ASSERT_EQ_U64("sidecar (IPFIX) start", 0, sidecar_start(&sa, args_for(url, NULL)));
	ASSERT_EQ_U64("sidecar (JSON) start", 0, sidecar_start(&sb, args_for("-", NULL)));
	ASSERT_EQ_U64("workload", 0, exchange(g_container, k, req, resp, &sport));
	ASSERT_TRUE("the IPFIX records of every connection",
		    rx_wait_closed(&rx, sport, (uint64_t)k, WAIT_MS));
	{
		uint64_t deadline = harness_now_ms() + WAIT_MS;

		while ((closed_of(sb.records, "out", sport) < (uint64_t)k ||
			closed_of(sb.records, "in", sport) < (uint64_t)k) &&
		       harness_now_ms() < deadline)
			sidecar_poll(&sb, 50);
	}
	ASSERT_EQ_U64("IPFIX sidecar stops", 0, sidecar_stop(&sa, 8000, NULL));
	ASSERT_EQ_U64("JSON sidecar stops", 0, sidecar_stop(&sb, 8000, NULL));
	ASSERT_EQ_U64("IPFIX sidecar exit code", 0, WEXITSTATUS(sa.status));
	ASSERT_EQ_U64("JSON sidecar exit code", 0, WEXITSTATUS(sb.status));
	rx_poll(&rx, 200);
	while (rx.fd > 0 && rx.datagrams < sidecar_exit_stat(&sa, "ipfix_datagrams_sent")) {
		uint64_t before = rx.datagrams;

		rx_poll(&rx, 500);
		if (rx.datagrams == before)
			break;
	}

	/* connection by connection, field by field */
	a = by_connection(rx.records, sport);
	b = by_connection(sb.records, sport);
	ASSERT_EQ_U64("connections in the IPFIX export", 2 * k, json_object_size(a));
	ASSERT_EQ_U64("connections in the JSON lines", 2 * k, json_object_size(b));
	json_object_foreach(a, key, ra)
	{
		json_t *rb = json_object_get(b, key), *v;
		const char *f;

		ASSERT_TRUE("the JSON sidecar has the connection", rb != NULL);
		ASSERT_TRUE("one connection, one description", !json_object_get(ra, "_differs"));
		json_object_foreach(ra, f, v)
		{
			char *va, *vb;
			bool same;

			/*
			 * The span is the connection's own (its first record's start, its
			 * last one's end) however each sidecar cut it, but each converts
			 * kernel time to wall time with its own clock reads: a
			 * millisecond apart at most.
			 */
			if (!strcmp(f, "start_ms") || !strcmp(f, "end_ms")) {
				int64_t d = (int64_t)rec_u64(ra, f) - (int64_t)rec_u64(rb, f);

				same = d >= -1 && d <= 1;
			} else {
				same = json_equal(v, json_object_get(rb, f));
			}
			if (!same) {
				va = json_dumps(v, JSON_ENCODE_ANY);
				vb = json_dumps(json_object_get(rb, f), JSON_ENCODE_ANY);
				fprintf(stderr, "    FAIL %s: %s: IPFIX %s, JSON %s\n", key, f, va,
					vb ? vb : "(none)");
				free(va);
				free(vb);
			}
			ASSERT_TRUE("IPFIX and JSON agree", same);
		}
		/* the known connections' exact values */
		ASSERT_STR("local_ip", "127.0.0.1", rec_str(ra, "local_ip"));
		ASSERT_STR("remote_ip", "127.0.0.1", rec_str(ra, "remote_ip"));
		ASSERT_EQ_U64("family", 4, rec_u64(ra, "family"));
		ASSERT_EQ_U64("closed", 1, rec_u64(ra, "closed"));
		ASSERT_EQ_U64("failed", 0, rec_u64(ra, "failed"));
		ASSERT_STR("container_id", CONTAINER_ID, rec_str(ra, "container_id"));
		ASSERT_STR("local_pod", "cart-5c7d9f-abcde", rec_str(ra, "local_pod"));
		ASSERT_STR("local_namespace", "shop", rec_str(ra, "local_namespace"));
		ASSERT_STR("local_app", "cart", rec_str(ra, "local_app"));
		ASSERT_STR("local_workload", "5c7d9f", rec_str(ra, "local_workload"));
		if (strcmp(rec_str(ra, "direction"), "out") == 0) {
			ASSERT_EQ_U64("out: remote_port", sport, rec_u64(ra, "remote_port"));
			ASSERT_EQ_U64("out: bytes_sent", req, rec_u64(ra, "bytes_sent"));
			ASSERT_EQ_U64("out: bytes_received", resp, rec_u64(ra, "bytes_received"));
			ASSERT_STR("out: comm", "pf-client", rec_str(ra, "comm"));
		} else {
			ASSERT_EQ_U64("in: local_port", sport, rec_u64(ra, "local_port"));
			ASSERT_EQ_U64("in: bytes_sent", resp, rec_u64(ra, "bytes_sent"));
			ASSERT_EQ_U64("in: bytes_received", req, rec_u64(ra, "bytes_received"));
			ASSERT_STR("in: comm", "pf-server", rec_str(ra, "comm"));
		}
	}

	/* every record the sidecar made arrived, with the sender known */
	ASSERT_EQ_U64("records received = records made", sidecar_exit_stat(&sa, "records"),
		      json_array_size(rx.records));
	ASSERT_EQ_U64("records sent", sidecar_exit_stat(&sa, "records"),
		      sidecar_exit_stat(&sa, "ipfix_records_sent"));
	ASSERT_EQ_U64("datagrams received = sent", sidecar_exit_stat(&sa, "ipfix_datagrams_sent"),
		      rx.datagrams);
	ASSERT_EQ_U64("no send error", 0, sidecar_exit_stat(&sa, "ipfix_send_errors"));
	ASSERT_EQ_U64("every record with its sender", 0, rx.records_no_sender);
	ASSERT_EQ_U64("nothing malformed", 0, rx.decode_errors);

	/* the identity and the heartbeat */
	ASSERT_TRUE("an identity record", rx.identity);
	ASSERT_STR("pod", "cart-5c7d9f-abcde", rx.pod);
	ASSERT_STR("namespace", "shop", rx.namespace);
	ASSERT_STR("node", "node-3", rx.node);
	ASSERT_STR("app", "cart", rx.app);
	ASSERT_STR("workload", "5c7d9f", rx.workload);
	ASSERT_TRUE("reports", rx.n_reports >= 2);
	ASSERT_EQ_U64("reports received = reports made", sidecar_exit_stat(&sa, "ipfix_reports"),
		      rx.n_reports);
	ip_parse_str("10.1.2.3", v4);
	ip_parse_str("fd00::7", v6);
	for (size_t i = 0; i < rx.n_reports; i++) {
		const struct report_seen *r = &rx.reports[i];

		ASSERT_EQ_U64("report seq: 1, 2, 3, ...", i + 1, r->seq);
		ASSERT_EQ_U64("one sender id", rx.reports[0].sender_id, r->sender_id);
		ASSERT_TRUE("span in order", r->span_start_ms <= r->span_end_ms);
		if (i)
			ASSERT_EQ_U64("spans contiguous", rx.reports[i - 1].span_end_ms,
				      r->span_start_ms);
		ASSERT_EQ_U64("pod IPs claimed", 2, r->n_ips);
		ASSERT_TRUE("10.1.2.3", memcmp(r->ips[0], v4, 16) == 0);
		ASSERT_TRUE("fd00::7", memcmp(r->ips[1], v6, 16) == 0);
		for (int d = 0; d < WIRE_DROP__COUNT; d++)
			ASSERT_EQ_U64("no drops", 0, r->drops[d]);
	}
	/* IPFIX sequence numbers: the first message new, every other one as expected */
	ASSERT_EQ_U64("first message new", 1, rx.seq_new);
	ASSERT_EQ_U64("every later message in sequence", rx.datagrams - 1, rx.seq_ok);
	ASSERT_EQ_U64("no gap", 0, ipfix_decoder__stats(rx.dec)->seq_gaps);
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar (IPFIX):\n%s\n", sa.err_text ? sa.err_text : "");
	json_decref(a);
	json_decref(b);
	rx_close(&rx);
	sidecar_free(&sa);
	sidecar_free(&sb);
	unset_identity();
	return ret;
}

/* Splits a tshark field ("a,b,c") into at most max parts; the count. */
static size_t split_list(char *s, char **parts, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *p = strtok_r(s, ",", &save); p && n < max; p = strtok_r(NULL, ",", &save))
		parts[n++] = p;
	return n;
}

/* The last "Packets: N" dumpcap wrote on stderr (its running count). */
static uint64_t dumpcap_packets(const char *err)
{
	const char *p = err, *last = NULL;

	while (p && (p = strstr(p, "Packets: "))) {
		last = p;
		p += 9;
	}
	return last ? strtoull(last + 9, NULL, 10) : 0;
}

/*
 * 2. A real capture (dumpcap on the namespace's lo, IPv6 destination)
 * decoded by Wireshark's cflow dissector: no malformed packet, no expert
 * warning, and the known connections with their addresses, ports,
 * direction and octets both ways.
 */
static int test_tshark(void)
{
	const int k = 3;
	const size_t req = 1234, resp = 4321;
	struct sidecar sc = { 0 };
	struct tool cap = { 0 }, ts = { 0 };
	struct rx rx = { 0 };
	char url[64], pcap[600], filter[64], decode_as[64];
	uint16_t port = 0, sport = 0;
	uint64_t sent, flows = 0, packets = 0, fwd = 0, rev = 0;
	int ret = 1;

	cap.out_fd = cap.err_fd = ts.out_fd = ts.err_fd = -1;
	ASSERT_TRUE("tshark and dumpcap installed (make deps)", have("tshark") && have("dumpcap"));
	ASSERT_EQ_U64("udp socket", 0, rx_open(&rx, AF_INET6, "::1", &port));
	snprintf(url, sizeof(url), "udp://[::1]:%u", port);
	snprintf(pcap, sizeof(pcap), "%s/ipfix.pcapng", g_tmp);
	snprintf(filter, sizeof(filter), "udp port %u", port);
	snprintf(decode_as, sizeof(decode_as), "udp.port==%u,cflow", port);
	ASSERT_EQ_U64("dumpcap", 0,
		      tool_start(&cap, (const char *const[]){ "dumpcap", "-i", "lo", "-f", filter,
							      "-w", pcap, NULL }));
	ASSERT_TRUE("dumpcap capturing", tool_wait_err(&cap, "Capturing on", 10000));
	ASSERT_EQ_U64("sidecar start", 0, sidecar_start(&sc, args_for(url, NULL)));
	ASSERT_EQ_U64("workload", 0, exchange(g_container, k, req, resp, &sport));
	ASSERT_TRUE("the records at the test's socket",
		    rx_wait_closed(&rx, sport, (uint64_t)k, WAIT_MS));
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 8000, NULL));
	ASSERT_EQ_U64("sidecar exit code", 0, WEXITSTATUS(sc.status));
	sent = sidecar_exit_stat(&sc, "ipfix_datagrams_sent");
	{
		/* every datagram is on lo (and so in the capture) once the socket has it */
		uint64_t deadline = harness_now_ms() + 5000;

		while (rx.datagrams < sent && harness_now_ms() < deadline)
			rx_poll(&rx, 50);
	}
	ASSERT_EQ_U64("datagrams at the socket", sent, rx.datagrams);
	{
		/* dumpcap gets packets in blocks, up to its timeout later: wait for its count */
		uint64_t deadline = harness_now_ms() + 5000;

		while (dumpcap_packets(cap.err) < sent && harness_now_ms() < deadline)
			tool_poll(&cap, 50);
	}
	ASSERT_EQ_U64("packets dumpcap has", sent, dumpcap_packets(cap.err));
	ASSERT_EQ_U64("dumpcap ends", 0, tool_stop(&cap, SIGINT, 10000));

	/* no malformed packet, no expert warning or error */
	ASSERT_EQ_U64("tshark", 0,
		      tool_run(&ts,
			       (const char *const[]){
				   "tshark", "-n", "-r", pcap, "-d", decode_as, "-Y",
				   "_ws.malformed || _ws.expert.severity >= warning", NULL },
			       20000));
	if (ts.out && ts.out[0])
		fprintf(stderr, "    tshark found:\n%s\n", ts.out);
	ASSERT_TRUE("no malformed packet or warning", !ts.out || !ts.out[0]);
	tool_free(&ts);

	/* the flows as Wireshark reads them */
	ASSERT_EQ_U64("tshark fields", 0,
		      tool_run(&ts,
			       (const char *const[]){ "tshark", "-n",
						      "-r",	pcap,
						      "-d",	decode_as,
						      "-Y",	"cflow",
						      "-T",	"fields",
						      "-e",	"cflow.srcaddr",
						      "-e",	"cflow.dstaddr",
						      "-e",	"cflow.srcport",
						      "-e",	"cflow.dstport",
						      "-e",	"cflow.direction",
						      "-e",	"cflow.transport_octet_delta_count",
						      NULL },
			       20000));
	fprintf(stderr, "    tshark -T fields:\n%s", ts.out ? ts.out : "");
	{
		char *save = NULL;

		for (char *line = strtok_r(ts.out ? ts.out : (char *)"", "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char *col[6] = { 0 }, *src[64], *dst[64], *sp[64], *dp[64], *dir[64],
			     *oct[128];
			size_t nf, c = 0;

			packets++;
			for (char *p = line; c < 6; c++) {
				char *tab = strchr(p, '\t');

				col[c] = p;
				if (!tab)
					break;
				*tab = '\0';
				p = tab + 1;
			}
			if (c < 5 || !col[0][0])
				continue; /* templates, reports */
			nf = split_list(col[0], src, 64);
			ASSERT_EQ_U64("dst per flow", nf, split_list(col[1], dst, 64));
			ASSERT_EQ_U64("sport per flow", nf, split_list(col[2], sp, 64));
			ASSERT_EQ_U64("dport per flow", nf, split_list(col[3], dp, 64));
			ASSERT_EQ_U64("direction per flow", nf, split_list(col[4], dir, 64));
			ASSERT_EQ_U64("octets both ways per flow", 2 * nf,
				      split_list(col[5], oct, 128));
			for (size_t i = 0; i < nf; i++) {
				if (strtoul(dp[i], NULL, 10) != sport)
					continue;
				flows++;
				/* the source is the initiator, the client, in both records */
				ASSERT_STR("source address", "127.0.0.1", src[i]);
				ASSERT_STR("destination address", "127.0.0.1", dst[i]);
				ASSERT_TRUE("source port: the client's ephemeral one",
					    strtoul(sp[i], NULL, 10) != 0 &&
						strtoul(sp[i], NULL, 10) != sport);
				ASSERT_TRUE("direction 0 (ingress) or 1 (egress)",
					    !strcmp(dir[i], "0") || !strcmp(dir[i], "1"));
				ASSERT_EQ_U64("initiator's octets", req,
					      strtoull(oct[2 * i], NULL, 10));
				ASSERT_EQ_U64("responder's octets (reverse 401)", resp,
					      strtoull(oct[2 * i + 1], NULL, 10));
				fwd += strtoull(oct[2 * i], NULL, 10);
				rev += strtoull(oct[2 * i + 1], NULL, 10);
			}
		}
	}
	ASSERT_EQ_U64("every datagram a cflow packet", sent, packets);
	ASSERT_EQ_U64("flows of the connections (out and in)", 2 * k, flows);
	ASSERT_EQ_U64("initiators' octets", 2 * k * req, fwd);
	ASSERT_EQ_U64("responders' octets", 2 * k * resp, rev);
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n    dumpcap:\n%s\n    tshark:\n%s\n",
			sc.err_text ? sc.err_text : "", cap.err ? cap.err : "",
			ts.err ? ts.err : "");
	tool_free(&cap);
	tool_free(&ts);
	rx_close(&rx);
	sidecar_free(&sc);
	return ret;
}

/* Occurrences of "dst port = N" in nfcapd -E's dump of the records it stored. */
static uint64_t nfcapd_records_to(const char *dump, uint16_t port)
{
	uint64_t n = 0;

	for (const char *p = dump; p && (p = strstr(p, "dst port")); p += 8) {
		const char *eq = strchr(p, '=');

		if (eq && strtoul(eq + 1, NULL, 10) == port)
			n++;
	}
	return n;
}

/*
 * 3. nfdump 1.7, which knows only octetDeltaCount: with ipfix.octets ip,
 * nfcapd stores the export and nfdump lists the known connections with
 * their bytes both ways (biflow: in and out bytes).
 */
static int test_nfdump(void)
{
	const int k = 3;
	const size_t req = 1111, resp = 2222;
	struct sidecar sc = { 0 };
	struct tool cap = { 0 }, nd = { 0 };
	char url[64], dir[600], portstr[16];
	uint16_t port, sport = 0;
	uint64_t lines = 0;
	int ret = 1;

	cap.out_fd = cap.err_fd = nd.out_fd = nd.err_fd = -1;
	ASSERT_TRUE("nfcapd and nfdump installed (make deps)", have("nfcapd") && have("nfdump"));
	port = harness_free_port();
	snprintf(portstr, sizeof(portstr), "%u", port);
	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", port);
	snprintf(dir, sizeof(dir), "%s/nfcapd", g_tmp);
	ASSERT_EQ_U64("nfcapd dir", 0, harness_sh("mkdir -p %s", dir));
	/* -E dumps each stored record on stdout: line-buffered, it says when they are in */
	ASSERT_EQ_U64(
	    "nfcapd", 0,
	    tool_start(&cap, (const char *const[]){ "stdbuf", "-oL", "nfcapd", "-E", "-p", portstr,
						    "-w", dir, "-t", "60", NULL }));
	ASSERT_TRUE("nfcapd listening", tool_wait_err(&cap, "Startup", 10000));
	ASSERT_EQ_U64("sidecar start", 0,
		      sidecar_start(&sc, args_for(url, (const char *const[]){ "--ipfix-octets",
									      "ip", NULL })));
	ASSERT_EQ_U64("workload", 0, exchange(g_container, k, req, resp, &sport));
	{
		uint64_t deadline = harness_now_ms() + WAIT_MS;

		while (nfcapd_records_to(cap.out, sport) < 2 * (uint64_t)k &&
		       harness_now_ms() < deadline)
			tool_poll(&cap, 50);
	}
	ASSERT_EQ_U64("records nfcapd stored", 2 * k, nfcapd_records_to(cap.out, sport));
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 8000, NULL));
	ASSERT_EQ_U64("sidecar exit code", 0, WEXITSTATUS(sc.status));
	ASSERT_EQ_U64("nfcapd ends", 0, tool_stop(&cap, SIGTERM, 10000));
	ASSERT_EQ_U64(
	    "nfdump", 0,
	    tool_run(&nd,
		     (const char *const[]){ "nfdump", "-q", "-R", dir, "-o",
					    "fmt:%sa|%da|%sp|%dp|%ibyt|%obyt|%fl|%pr", NULL },
		     20000));
	fprintf(stderr, "    nfdump -o fmt:%%sa|%%da|%%sp|%%dp|%%ibyt|%%obyt|%%fl|%%pr:\n%s",
		nd.out ? nd.out : "");
	{
		char *save = NULL;

		for (char *line = strtok_r(nd.out ? nd.out : (char *)"", "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char sa[64], da[64], pr[16];
			unsigned long sp, dp, ibyt, obyt, fl;

			if (sscanf(line, " %63[^|]| %63[^|]| %lu| %lu| %lu| %lu| %lu| %15s", sa, da,
				   &sp, &dp, &ibyt, &obyt, &fl, pr) != 8 ||
			    dp != sport)
				continue;
			lines++;
			ASSERT_TRUE("source 127.0.0.1", strstr(sa, "127.0.0.1") != NULL);
			ASSERT_TRUE("destination 127.0.0.1", strstr(da, "127.0.0.1") != NULL);
			ASSERT_TRUE("source port: the client's", sp != 0 && sp != sport);
			ASSERT_EQ_U64("in bytes: the initiator's", req, ibyt);
			ASSERT_EQ_U64("out bytes: the responder's", resp, obyt);
			ASSERT_EQ_U64("flows", 1, fl);
			ASSERT_STR("protocol", "TCP", pr);
		}
	}
	ASSERT_EQ_U64("flows nfdump lists (out and in records)", 2 * k, lines);
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n    nfcapd:\n%s\n    nfdump:\n%s\n",
			sc.err_text ? sc.err_text : "", cap.err ? cap.err : "",
			nd.err ? nd.err : "");
	tool_free(&cap);
	tool_free(&nd);
	sidecar_free(&sc);
	return ret;
}

/* A UDP port on 127.0.0.1 that nobody has bound (bound and closed just now). */
static uint16_t closed_udp_port(void)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(s);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint16_t port = 0;

	if (fd >= 0 && !bind(fd, (struct sockaddr *)&s, len) &&
	    !getsockname(fd, (struct sockaddr *)&s, &len))
		port = ntohs(s.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int64_t metric(uint16_t aport, const char *sample)
{
	return harness_metric_now(aport, sample);
}

/*
 * 4a. Nothing listens at the export's port: every datagram comes back as
 * an ICMP port unreachable, which the next send reports (ECONNREFUSED):
 * counted, the records lost counted, the application and the sidecar's
 * loop untouched.  Then a collector binds the port: the next reports carry
 * exactly the records lost before it (drops "buffer").
 */
static int test_closed_port(void)
{
	const int k = 10, k2 = 3;
	struct sidecar sc = { 0 };
	struct rx rx = { 0 };
	char url[64], note[192];
	uint16_t port = closed_udp_port(), sport = 0, sport2 = 0, aport;
	uint64_t t0, app_ms, records, sent, refused, send_err, delivered, lost, body_ok;
	int ret = 1;

	rx.fd = -1;
	ASSERT_TRUE("a closed port", port != 0);
	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", port);
	ASSERT_EQ_U64(
	    "sidecar start", 0,
	    sidecar_start(&sc, args_for(url, (const char *const[]){ "--ipfix-template-interval",
								    "1s", NULL })));
	aport = harness_admin_port(&sc, 2000);
	ASSERT_TRUE("admin port", aport != 0);
	t0 = harness_now_ms();
	ASSERT_EQ_U64("the application's connections all succeed", 0,
		      exchange(g_container, k, 100, 200, &sport));
	app_ms = harness_now_ms() - t0;
	{
		uint64_t deadline = harness_now_ms() + WAIT_MS;

		while (metric(aport, "podflow_sidecar_ipfix_records_refused_total") +
			       metric(aport, "podflow_sidecar_ipfix_records_total{result=\"send_"
					     "error\"}") <
			   2 * k &&
		       harness_now_ms() < deadline)
			sleep_ms(50);
	}
	ASSERT_TRUE("ECONNREFUSED counted",
		    metric(aport, "podflow_sidecar_ipfix_send_errors_total{reason=\"refused\"}") >
			0);
	ASSERT_TRUE(
	    "every record so far refused or not sent, counted",
	    metric(aport, "podflow_sidecar_ipfix_records_refused_total") +
		    metric(aport, "podflow_sidecar_ipfix_records_total{result=\"send_error\"}") >=
		2 * k);
	{
		char *body = NULL;

		body_ok = harness_http_get(aport, "/healthz", &body) == 200;
		free(body);
	}
	ASSERT_TRUE("the sidecar's loop answers", body_ok);

	/* a collector comes: it learns what was lost before it from the next reports */
	ASSERT_EQ_U64("collector socket", 0, rx_open(&rx, AF_INET, "127.0.0.1", &port));
	rx.hold = true;
	ASSERT_EQ_U64("workload after", 0, exchange(g_container, k2, 100, 200, &sport2));
	{
		/* the templates (1 s period), then a report after them */
		uint64_t deadline = harness_now_ms() + WAIT_MS;
		bool templates = false, report_after = false;

		while (!report_after && harness_now_ms() < deadline) {
			rx_poll(&rx, 50);
			for (size_t i = 0; i < rx.n_held; i++) {
				uint16_t id = first_set_id(rx.held[i].data, rx.held[i].len);

				templates |= id == 2;
				report_after |= templates && id == IPFIX_TID_IDENTITY;
			}
		}
		ASSERT_TRUE("templates and a report reached the collector", report_after);
	}
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 8000, NULL));
	rx_poll(&rx, 200);
	rx_decode_held(&rx);

	records = sidecar_exit_stat(&sc, "records");
	sent = sidecar_exit_stat(&sc, "ipfix_records_sent");
	refused = sidecar_exit_stat(&sc, "ipfix_records_refused");
	send_err = sidecar_exit_stat(&sc, "drops_ipfix_send");
	delivered = json_array_size(rx.records);
	fprintf(stderr,
		"    records %llu: sent %llu (refused %llu, received %llu), not sent %llu; "
		"send errors %llu; the application's %d connections in %llu ms\n",
		(unsigned long long)records, (unsigned long long)sent, (unsigned long long)refused,
		(unsigned long long)delivered, (unsigned long long)send_err,
		(unsigned long long)sidecar_exit_stat(&sc, "ipfix_send_errors"), k,
		(unsigned long long)app_ms);
	ASSERT_EQ_U64("sidecar exit code", 0, WEXITSTATUS(sc.status));
	ASSERT_EQ_U64("every record sent or counted", records,
		      sent + send_err + sidecar_exit_stat(&sc, "drops_ipfix_queue") +
			  sidecar_exit_stat(&sc, "drops_ipfix_abandoned") +
			  sidecar_exit_stat(&sc, "drops_ipfix_not_encoded"));
	ASSERT_TRUE("records refused", refused >= 2 * (uint64_t)k);
	ASSERT_EQ_U64("every sent record refused or received", sent, refused + delivered);
	ASSERT_EQ_U64("the later connections arrived (out)", k2,
		      closed_of(rx.records, "out", sport2));
	ASSERT_EQ_U64("the later connections arrived (in)", k2,
		      closed_of(rx.records, "in", sport2));
	ASSERT_EQ_U64("the lost records in the reports' drops", refused + send_err,
		      sum_drops(&rx, WIRE_DROP_BUFFER));
	ASSERT_EQ_U64("nothing malformed", 0, rx.decode_errors);
	lost = records - delivered - refused - send_err;
	ASSERT_EQ_U64("nothing lost uncounted", 0, lost);
	snprintf(note, sizeof(note),
		 "%llu refused (ECONNREFUSED after each), %llu not sent; the application's %d "
		 "connections took %llu ms",
		 (unsigned long long)refused, (unsigned long long)send_err, k,
		 (unsigned long long)app_ms);
	harness_report(&(struct report_fault){
	    .fault = "IPFIX export to a UDP port nobody listens on, then a collector binds it",
	    .unit = "records",
	    .injected = records,
	    .delivered = delivered,
	    .counted = refused + send_err,
	    .lost = lost,
	    .counted_as = "podflow_sidecar_ipfix_records_refused_total, "
			  "podflow_sidecar_ipfix_records_total{result=\"send_error\"}, the next "
			  "reports' drops (buffer)",
	    .note = note,
	});
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n", sc.err_text ? sc.err_text : "");
	rx_close(&rx);
	sidecar_free(&sc);
	return ret;
}

/*
 * 4b. Pacing: a rate of 16 KiB/s with an 8 KiB queue and a burst of 200
 * records at once.  What waits beyond the queue is dropped and counted,
 * the loop never waits (the admin port answers at once), the queue drains
 * at the rate, the next reports carry the drops and the collector's
 * sequence numbers show the gap.  The destination is a host name
 * (localhost), resolved in the background.
 */
static int test_pacing(void)
{
	const int k = 100;
	struct sidecar sc = { 0 };
	struct rx rx = { 0 };
	char url[64], note[160];
	uint16_t port = 0, sport = 0, aport;
	uint64_t records, sent, dropped, delivered, lost, get_ms = 0, t0;
	int ret = 1;

	rx.fd = -1;
	ASSERT_EQ_U64("udp socket", 0, rx_open(&rx, AF_INET6, "::", &port));
	snprintf(url, sizeof(url), "udp://localhost:%u", port);
	ASSERT_EQ_U64(
	    "sidecar start", 0,
	    sidecar_start(&sc, args_for(url, (const char *const[]){
						 "--ipfix-max-rate", "16KiB", "--ipfix-max-burst",
						 "2KiB", "--ipfix-max-queue", "8KiB", NULL })));
	aport = harness_admin_port(&sc, 2000);
	ASSERT_TRUE("admin port", aport != 0);
	ASSERT_EQ_U64("workload", 0, exchange(g_container, k, 10, 10, &sport));
	{
		/* the interval's records went past the queue: the loop still answers at once */
		uint64_t deadline = harness_now_ms() + WAIT_MS;

		while (metric(aport, "podflow_sidecar_ipfix_records_total{result=\"dropped_queue_"
				     "full\"}") <= 0 &&
		       harness_now_ms() < deadline)
			rx_poll(&rx, 20);
		t0 = harness_now_ms();
		ASSERT_TRUE("queue bounded",
			    metric(aport, "podflow_sidecar_ipfix_queue_bytes") <= 8192);
		get_ms = harness_now_ms() - t0;
	}
	ASSERT_TRUE("dropped by the pacer",
		    metric(aport, "podflow_sidecar_ipfix_records_total{result=\"dropped_queue_"
				  "full\"}") > 0);
	{
		/* the queue drains at the rate */
		uint64_t deadline = harness_now_ms() + WAIT_MS;

		while ((closed_of(rx.records, "out", sport) + closed_of(rx.records, "in", sport) ==
			    0 ||
			metric(aport, "podflow_sidecar_ipfix_queue_bytes") != 0) &&
		       harness_now_ms() < deadline)
			rx_poll(&rx, 50);
	}
	ASSERT_EQ_U64("queue drained", 0, metric(aport, "podflow_sidecar_ipfix_queue_bytes"));
	ASSERT_EQ_U64("the name resolved", 1,
		      metric(aport, "podflow_sidecar_ipfix_resolutions_total{result=\"ok\"}") >= 1);
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 10000, NULL));
	ASSERT_EQ_U64("sidecar exit code", 0, WEXITSTATUS(sc.status));
	for (uint64_t before = UINT64_MAX; before != rx.datagrams;) {
		before = rx.datagrams;
		rx_poll(&rx, 300);
	}
	records = sidecar_exit_stat(&sc, "records");
	sent = sidecar_exit_stat(&sc, "ipfix_records_sent");
	dropped = sidecar_exit_stat(&sc, "drops_ipfix_queue");
	delivered = json_array_size(rx.records);
	fprintf(stderr,
		"    records %llu: sent %llu, received %llu, dropped by the pacer %llu; the "
		"reports' drops %llu; sequence gaps %llu (%llu data records missed); a scrape "
		"with the queue full took %llu ms\n",
		(unsigned long long)records, (unsigned long long)sent,
		(unsigned long long)delivered, (unsigned long long)dropped,
		(unsigned long long)sum_drops(&rx, WIRE_DROP_BUFFER),
		(unsigned long long)ipfix_decoder__stats(rx.dec)->seq_gaps,
		(unsigned long long)ipfix_decoder__stats(rx.dec)->seq_missed,
		(unsigned long long)get_ms);
	ASSERT_TRUE("the name was looked up and used",
		    strstr(sc.err_text, "ipfix: exporting to udp://localhost:") != NULL);
	ASSERT_TRUE("some dropped", dropped > 0);
	ASSERT_TRUE("some sent", sent > 0);
	ASSERT_EQ_U64("every record sent or dropped", records,
		      sent + dropped + sidecar_exit_stat(&sc, "drops_ipfix_abandoned"));
	ASSERT_EQ_U64("nothing abandoned: the queue drained", 0,
		      sidecar_exit_stat(&sc, "drops_ipfix_abandoned"));
	ASSERT_EQ_U64("no send error", 0, sidecar_exit_stat(&sc, "ipfix_send_errors"));
	ASSERT_EQ_U64("every sent record received", sent, delivered);
	ASSERT_EQ_U64("the drops in the next reports", dropped, sum_drops(&rx, WIRE_DROP_BUFFER));
	ASSERT_TRUE("the collector sees the gap",
		    ipfix_decoder__stats(rx.dec)->seq_missed >= dropped);
	ASSERT_EQ_U64("nothing malformed", 0, rx.decode_errors);
	lost = records - delivered - dropped;
	ASSERT_EQ_U64("nothing lost uncounted", 0, lost);
	snprintf(note, sizeof(note),
		 "16 KiB/s, 2 KiB burst, 8 KiB queue; %llu of %llu records dropped by the pacer",
		 (unsigned long long)dropped, (unsigned long long)records);
	harness_report(&(struct report_fault){
	    .fault = "IPFIX pacing: a burst of records past the rate and the queue",
	    .unit = "records",
	    .injected = records,
	    .delivered = delivered,
	    .counted = dropped,
	    .lost = lost,
	    .counted_as = "podflow_sidecar_ipfix_records_total{result=\"dropped_queue_full\"}, "
			  "the next reports' drops (buffer), the collector's sequence gap",
	    .note = note,
	});
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n", sc.err_text ? sc.err_text : "");
	rx_close(&rx);
	sidecar_free(&sc);
	return ret;
}

/* Writes the sidecar's config file whole (a rename: the watch never reads half of it). */
static int write_config(const char *path, const char *text)
{
	char tmp[700];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fputs(text, f);
	if (fclose(f))
		return -1;
	return rename(tmp, path);
}

/*
 * 5. A collector that starts after the sidecar has nothing to decode with
 * until the templates come again: within one template period.  The
 * sidecar starts with an hour between templates and the collector misses
 * the first ones (its reports are unknown sets, never guessed at); then
 * ipfix.template_interval becomes 1s in the config file, live: the
 * templates come at once and then every second, and the next report
 * decodes whole.
 */
static int test_late_collector(void)
{
	struct sidecar sc = { 0 };
	struct rx rx = { 0 };
	char url[64], cfg[600];
	uint16_t port = 0;
	uint64_t reloaded_at = 0, decoded_at = 0, templates = 0, deadline;
	int ret = 1;

	rx.fd = -1;
	set_identity();
	snprintf(cfg, sizeof(cfg), "%s/sidecar.yaml", g_tmp);
	ASSERT_EQ_U64("config", 0, write_config(cfg, "ipfix:\n  template_interval: 1h\n"));
	ASSERT_EQ_U64("udp socket", 0, rx_open(&rx, AF_INET, "127.0.0.1", &port));
	rx.hold = true; /* the collector is not there yet: what comes now is not decoded */
	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", port);
	ASSERT_EQ_U64(
	    "sidecar start", 0,
	    sidecar_start(&sc, args_for(url, (const char *const[]){ "--config", cfg, NULL })));
	rx_poll(&rx, 100);
	for (size_t i = 0; i < rx.n_held; i++)
		free(rx.held[i].data);
	rx.n_held = 0;
	rx.hold = false;
	/* the collector starts: two reports, and nothing it can decode */
	deadline = harness_now_ms() + WAIT_MS;
	while (ipfix_decoder__stats(rx.dec)->unknown_sets < 4 && harness_now_ms() < deadline)
		rx_poll(&rx, 50);
	ASSERT_TRUE("reports without templates: skipped",
		    ipfix_decoder__stats(rx.dec)->unknown_sets >= 4);
	ASSERT_EQ_U64("no report decoded", 0, rx.n_reports);
	ASSERT_EQ_U64("no identity", 0, rx.identity);

	ASSERT_EQ_U64("config: templates every second", 0,
		      write_config(cfg, "ipfix:\n  template_interval: 1s\n"));
	deadline = harness_now_ms() + WAIT_MS;
	while (!strstr(sc.err_text, "reloaded: 1 setting changed") && harness_now_ms() < deadline)
		sidecar_poll(&sc, 20);
	ASSERT_TRUE("reloaded", strstr(sc.err_text, "reloaded: 1 setting changed") != NULL);
	reloaded_at = harness_now_ms();
	/* the templates at once and a second later, and the next report decoded, in 1.6 s */
	while ((!decoded_at || harness_now_ms() < reloaded_at + 1600) &&
	       harness_now_ms() < reloaded_at + 5000) {
		rx_poll(&rx, 20);
		if (!decoded_at && rx.n_reports)
			decoded_at = harness_now_ms();
	}
	templates = ipfix_decoder__stats(rx.dec)->templates_refreshed +
		    ipfix_decoder__stats(rx.dec)->templates_added;
	ASSERT_TRUE("a report decoded", rx.n_reports > 0);
	ASSERT_TRUE("the identity with it", rx.identity);
	ASSERT_STR("pod", "cart-5c7d9f-abcde", rx.pod);
	fprintf(stderr,
		"    after the reload: a report decoded in %llu ms; %llu template records in "
		"1.6 s\n",
		(unsigned long long)(decoded_at - reloaded_at), (unsigned long long)templates);
	ASSERT_TRUE("decoded within the period and an interval",
		    decoded_at - reloaded_at <= 1000 + 300 + 500);
	ASSERT_TRUE("the templates at once, then every second (4 each)", templates >= 2 * 4);
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 8000, NULL));
	ASSERT_EQ_U64("sidecar exit code", 0, WEXITSTATUS(sc.status));
	ASSERT_EQ_U64("nothing malformed", 0, rx.decode_errors);
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "    sidecar:\n%s\n", sc.err_text ? sc.err_text : "");
	rx_close(&rx);
	sidecar_free(&sc);
	unset_identity();
	return ret;
}

/*
 * The send spread over UDP (test_export.c's send_spread_after_the_cut has
 * HTTP/2): the templates go at start, and each interval's report, cut on a
 * wall-clock multiple of 2 s, no sooner than the sidecar's offset after the
 * cut, within the 200 ms a tenth of the interval allows.
 */
static int test_send_spread(void)
{
	struct rx rx = { .fd = -1 };
	struct sidecar sc = { 0 };
	uint8_t buf[65536];
	char url[64];
	uint16_t port = 0, admin;
	int64_t at_ns = -1;
	uint64_t deadline;
	int ret = 1;

	ASSERT_EQ_U64("receiver", 0, -rx_open(&rx, AF_INET, "127.0.0.1", &port));
	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", port);
	ASSERT_EQ_U64("sidecar start", 0,
		      sidecar_start(&sc, (const char *const[]){
					     "--cgroup", g_scope, "--interval", "2s",
					     "--send-spread", "1s", "--stats-interval", "0",
					     "--admin", "127.0.0.1:0", "--output", url, NULL }));
	admin = harness_admin_port(&sc, 5000);
	ASSERT_TRUE("admin port", admin != 0);
	deadline = harness_now_ms() + 5000;
	while (at_ns < 0 && harness_now_ms() < deadline) {
		struct pollfd p = { .fd = rx.fd, .events = POLLIN };
		struct timespec ts;
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		while ((n = recv(rx.fd, buf, sizeof(buf), 0)) > 0)
			if (at_ns < 0 &&
			    first_set_id(buf, (size_t)n) >= 256) /* data, not templates */
				at_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	}
	ASSERT_TRUE("a report after the first cut", at_ns >= 0);
	ASSERT_EQ_U64("reported at its offset after the cut", 0,
		      harness_check_send_offset(admin, at_ns, 2000000000, 0.2));
	ret = 0;
cleanup:
	if (ret && sc.err_text)
		fprintf(stderr, "    sidecar:\n%s\n", sc.err_text);
	sidecar_stop(&sc, 8000, NULL);
	sidecar_free(&sc);
	rx_close(&rx);
	return ret;
}

static const struct harness_test tests[] = {
	{ "records_equal_json_lines", test_records_equal },
	{ "tshark_decodes_capture", test_tshark },
	{ "nfdump_lists_flows", test_nfdump },
	{ "closed_port_counted", test_closed_port },
	{ "pacing_drops_counted", test_pacing },
	{ "late_collector_template_period_live", test_late_collector },
	{ "send_spread_after_the_cut", test_send_spread },
};

int main(int argc, char **argv)
{
	int failed = harness_require_root();

	if (failed)
		return failed;
	if (harness_pod_setup("podflow-ipfix-export", CONTAINER_ID, g_scope, g_container,
			      sizeof(g_scope), g_tmp, sizeof(g_tmp)))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	failed = harness_run("ipfix_export", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
	harness_cgroup_destroy(g_scope);
	harness_sh("rm -rf %s", g_tmp);
	return failed ? 1 : 0;
}
