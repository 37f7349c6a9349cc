// SPDX-License-Identifier: BSD-2-Clause
/* IPFIX ingest integration tests: exporters in the test, real collectors over real UDP. */
/*
 * Each test starts real podflow-collector processes with --ipfix-listen
 * and feeds them IPFIX messages that lib/ipfix's encoder writes here, sent
 * from real UDP sockets (an "exporter": one socket, one encoder, one
 * observation domain, as a sidecar), and where the test says so the same
 * batches over HTTP/2 (lib/wire, lib/h2client) to a second collector.
 * What the collectors wrote (the JSON lines of DATA_DIR) and counted (/metrics) is
 * compared with what was sent, exactly.  The exporter logs every message
 * it hands over (its sequence number, flow records, data sets, whether it
 * was sent), so loss is computed from what was sent, never estimated.
 * Loss on the wire is nftables in the suite's network namespace.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flow.h"
#include "h2client.h"
#include "harness.h"
#include "ip.h"
#include "ipfix.h"
#include "kube_api.h"
#include "log.h"
#include "wire.h"
#include "workload.h"

#define WAIT_MS	     10000
#define CONTAINER_ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define MAX_DGRAMS   4096
#define MAX_RECS     8192
#define NFT_TABLE    "podflow_ipfix_test"

static char g_scope[512];
static char g_container[640];
static char g_tmp[256];

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- who sends ------------------------------------------------------------------ */

struct ident {
	const char *app, *ns, *pod, *workload, *node;
};

static const struct ident ID_A = { "alpha", "team-a", "alpha-6d5f7c-x2k9p", "alpha", "node-1" };
static const struct ident ID_B = { "beta", "team-b", "beta-0", "beta", "node-2" };

#define IP_A	  "10.1.0.1"
#define IP_A6	  "fd00:a::1"
#define IP_B	  "10.2.0.2"
#define IP_B6	  "fd00:b::2"
#define IP_NOBODY "10.9.9.9"

/* ---- a collector ------------------------------------------------------------------ */

struct coll {
	struct sidecar p;
	uint16_t port;	/* HTTP/2 ingest */
	uint16_t ipfix; /* UDP */
	uint16_t admin;
	char data[512];
};

/* The port of "ipfix: listening on ADDR:PORT (" in its log; 0 if none. */
static uint16_t ipfix_port(struct sidecar *p)
{
	const char *at = p->err_text ? strstr(p->err_text, "ipfix: listening on ") : NULL;
	const char *sp, *colon;

	if (!at)
		return 0;
	sp = strchr(at + strlen("ipfix: listening on "), ' ');
	if (!sp)
		return 0;
	for (colon = sp; colon > at && *colon != ':'; colon--)
		;
	return (uint16_t)atoi(colon + 1);
}

/*
 * Starts podflow-collector: HTTP/2 and admin on ephemeral ports, IPFIX on
 * `ipfix` (NULL: 127.0.0.1:0), DATA_DIR g_tmp/name, one worker of each,
 * plus `extra`.  0 or -errno.
 */
static int coll_start(struct coll *c, const char *name, const char *ipfix, const char *const *extra)
{
	const char *args[48];
	int n = 0, err;

	memset(c, 0, sizeof(*c));
	snprintf(c->data, sizeof(c->data), "%s/%s", g_tmp, name);
	if (mkdir(c->data, 0755) && errno != EEXIST)
		return -errno;
	args[n++] = "--listen";
	args[n++] = "127.0.0.1:0";
	args[n++] = "--data-dir";
	args[n++] = c->data;
	args[n++] = "--workers";
	args[n++] = "1";
	args[n++] = "--stats-interval";
	args[n++] = "0";
	args[n++] = "--admin";
	args[n++] = "127.0.0.1:0";
	args[n++] = "--ipfix-listen";
	args[n++] = ipfix ? ipfix : "127.0.0.1:0";
	if (getenv("IPFIX_DEBUG")) {
		args[n++] = "--log-level";
		args[n++] = "debug";
	}
	for (int i = 0; extra && extra[i] && n < 46; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	err = collector_start(&c->p, args, &c->port);
	if (err)
		return err;
	c->admin = harness_admin_port(&c->p, WAIT_MS);
	c->ipfix = ipfix_port(&c->p);
	if (!c->admin || !c->ipfix) {
		fprintf(stderr, "    collector %s: no admin or ipfix line\n", name);
		return -ETIMEDOUT;
	}
	return 0;
}

static int coll_stop(struct coll *c)
{
	if (c->p.exited)
		return WIFEXITED(c->p.status) ? WEXITSTATUS(c->p.status) : -1;
	if (sidecar_stop(&c->p, WAIT_MS, NULL))
		return -1;
	return WIFEXITED(c->p.status) ? WEXITSTATUS(c->p.status) : 128 + WTERMSIG(c->p.status);
}

static void coll_free(struct coll *c, bool failed)
{
	if (c->p.pid > 0)
		sidecar_poll(&c->p, 0);
	if (failed && c->p.err_text)
		fprintf(stderr, "    --- collector %s stderr ---\n%s    ---\n", c->data,
			c->p.err_text);
	sidecar_free(&c->p);
}

/* One sample of /metrics, -1 when absent. */
static int64_t metric(struct coll *c, const char *sample)
{
	sidecar_poll(&c->p, 0); /* keep its stderr pipe drained */
	return harness_metric_now(c->admin, sample);
}

static int64_t wait_metric(struct coll *c, const char *sample, int64_t want, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	int64_t v;

	while ((v = metric(c, sample)) < want && harness_now_ms() < deadline)
		sleep_ms(20);
	return v;
}

#define DECODED	 "podflow_collector_ipfix_datagrams_total{result=\"decoded\"}"
#define HB_USED	 "podflow_collector_ipfix_heartbeats_total{result=\"used\"}"
#define HB_EMPTY "podflow_collector_ipfix_heartbeats_total{result=\"empty\"}"
#define ACCEPTED "podflow_collector_ipfix_records_total{result=\"accepted\"}"

/* Every record the collector wrote (flows-*.jsonl, the late ones too). */
static json_t *written(struct coll *c)
{
	json_t *all = json_array();

	harness_read_jsonl(c->data, all);
	return all;
}

static size_t n_written(struct coll *c)
{
	json_t *a = written(c);
	size_t n = json_array_size(a);

	json_decref(a);
	return n;
}

static bool wait_written(struct coll *c, size_t n, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;

	while (n_written(c) < n && harness_now_ms() < deadline) {
		sidecar_poll(&c->p, 0);
		sleep_ms(20);
	}
	return n_written(c) == n;
}

/* The record whose bytes_sent is `id`; *count how many there are. */
static json_t *find_rec(json_t *arr, uint64_t id, size_t *count)
{
	json_t *found = NULL, *v;
	size_t i;

	*count = 0;
	json_array_foreach(arr, i, v) if (rec_u64(v, "bytes_sent") == id)
	{
		found = v;
		(*count)++;
	}
	return found;
}

/*
 * `promtool check metrics` on its /metrics (Debian's prometheus package):
 * exit 0 and not a word of lint.  0 or -1.
 */
static int promtool_check(struct coll *c)
{
	char path[600], *body = NULL, *out = NULL;
	const char *argv[] = { "/bin/sh", "-c", path, NULL };
	FILE *f;
	int code;

	if (harness_http_get(c->admin, "/metrics", &body) != 200)
		goto fail;
	snprintf(path, sizeof(path), "%s/metrics.txt", c->data);
	f = fopen(path, "w");
	if (!f || fputs(body, f) < 0) {
		if (f)
			fclose(f);
		goto fail;
	}
	fclose(f);
	snprintf(path, sizeof(path), "promtool check metrics < %s/metrics.txt 2>&1", c->data);
	code = harness_run_to_file(argv, WAIT_MS, &out);
	if (code != 0 || (out && *out)) {
		fprintf(stderr, "    promtool: exit %d: %s\n", code, out ? out : "");
		goto fail;
	}
	free(body);
	free(out);
	return 0;
fail:
	free(body);
	free(out);
	return -1;
}

/* ---- records ------------------------------------------------------------------------ */

static const char *const names[] = { "", "web", "sidecar-\xc3\xb8-caf\xc3\xa9" };

/*
 * Record `id` (its bytes_sent) to `remote` over [start, end]: every other
 * field a function of id, so that each differs from its neighbours; the
 * sender fills in its own address (IPv4 or IPv6, as `remote`'s family).
 */
static struct flow_record mkrec(uint64_t id, const char *remote, int64_t start, int64_t end)
{
	struct flow_record r = { 0 };

	r.start_ms = (uint64_t)start;
	r.end_ms = (uint64_t)end;
	r.bytes_sent = id;
	r.bytes_received = 3 * id + 1;
	r.segs_sent = id % 97 + 1;
	r.segs_received = id % 89 + 2;
	r.flows = 1 + id % 3;
	r.closed = id % 2 ? r.flows : 0;
	r.failed = r.closed && id % 5 == 0 ? 1 : 0;
	r.retransmits = (uint32_t)(id % 7);
	r.resets = id % 3 == 0;
	r.srtt_us = (uint32_t)(1000 + id);
	r.min_rtt_us = (uint32_t)(500 + id % 100);
	r.pid = (uint32_t)(4000 + id % 50);
	r.err = id % 11 == 0 ? 111 : 0;
	r.direction = id % 2 ? FLOW_DIRECTION_OUT : FLOW_DIRECTION_IN;
	r.local_port = id % 10 == 0 ? 0 : (uint16_t)(40000 + id % 20000);
	r.remote_port = (uint16_t)(8080 + id % 3);
	snprintf(r.comm, sizeof(r.comm), "ipfix-%llu", (unsigned long long)(id % 1000));
	/* a container per cgroup, as in a batch (the wire's container table is by cgroup) */
	r.cgroup_id = 7000 + id % 4;
	snprintf(r.container_id, sizeof(r.container_id), "%064llx",
		 (unsigned long long)r.cgroup_id * 0x9e3779b97f4a7c15ull);
	r.container = names[r.cgroup_id % 3];
	ip_parse_str(remote, r.remote_addr);
	r.remote_source = FLOW_SOURCE_UNATTRIBUTED;
	return r;
}

/* The sender's side of a record: its own address, of the remote's family. */
static void fill_local(struct flow_record *r, const uint8_t ip4[16], const uint8_t ip6[16])
{
	bool v4 = ip_is_v4mapped(r->remote_addr);

	memcpy(r->local_addr, v4 ? ip4 : ip6, 16);
	r->family = v4 ? 4 : 6;
}

/*
 * The JSON record `j` says exactly what `r` (sent by `id`) says: every
 * field of records.md but the remote side, which attribution names.
 * 0, or -1 after naming the first field that differs.
 */
static int expect_same(json_t *j, const struct flow_record *r, const struct ident *id)
{
	char ip[IP_TEXT_MAX];
	const struct {
		const char *key, *want;
	} s[] = {
		{ "direction", flow_direction_name(r->direction) },
		{ "local_ip", ip_format(r->local_addr, ip, sizeof(ip)) },
		{ "comm", r->comm },
		{ "container_id", r->container_id },
		{ "container", r->container ? r->container : "" },
		{ "local_app", id->app },
		{ "local_namespace", id->ns },
		{ "local_pod", id->pod },
		{ "local_workload", id->workload },
		{ "local_node", id->node },
	};
	const struct {
		const char *key;
		uint64_t want;
	} u[] = {
		{ "start_ms", r->start_ms },
		{ "end_ms", r->end_ms },
		{ "family", r->family },
		{ "local_port", r->local_port },
		{ "remote_port", r->remote_port },
		{ "flows", r->flows },
		{ "closed", r->closed },
		{ "failed", r->failed },
		{ "bytes_sent", r->bytes_sent },
		{ "bytes_received", r->bytes_received },
		{ "segs_sent", r->segs_sent },
		{ "segs_received", r->segs_received },
		{ "retransmits", r->retransmits },
		{ "resets", r->resets },
		{ "srtt_us", r->srtt_us },
		{ "min_rtt_us", r->min_rtt_us },
		{ "pid", r->pid },
		{ "cgroup_id", r->cgroup_id },
	};
	char rip[IP_TEXT_MAX], err[24];

	for (size_t k = 0; k < sizeof(s) / sizeof(s[0]); k++)
		if (strcmp(rec_str(j, s[k].key), s[k].want) != 0) {
			fprintf(stderr, "    FAIL: record %llu: %s: expected \"%s\", got \"%s\"\n",
				(unsigned long long)r->bytes_sent, s[k].key, s[k].want,
				rec_str(j, s[k].key));
			return -1;
		}
	if (strcmp(rec_str(j, "remote_ip"), ip_format(r->remote_addr, rip, sizeof(rip))) ||
	    strcmp(rec_str(j, "error"), flow_err_name(r->err, err, sizeof(err)))) {
		fprintf(stderr, "    FAIL: record %llu: remote_ip %s or error %s differs\n",
			(unsigned long long)r->bytes_sent, rec_str(j, "remote_ip"),
			rec_str(j, "error"));
		return -1;
	}
	for (size_t k = 0; k < sizeof(u) / sizeof(u[0]); k++)
		if (rec_u64(j, u[k].key) != u[k].want) {
			fprintf(stderr, "    FAIL: record %llu: %s: expected %llu, got %llu\n",
				(unsigned long long)r->bytes_sent, u[k].key,
				(unsigned long long)u[k].want,
				(unsigned long long)rec_u64(j, u[k].key));
			return -1;
		}
	return 0;
}

/* ---- an exporter: one UDP socket, one encoder, one observation domain ---------------- */

/* What the exporter handed over, message by message. */
struct dgram {
	uint32_t seq;	    /* the header's: data records before it */
	uint32_t n_flow;    /* flow records in it */
	uint32_t first;	    /* its first flow record: index into exp.recs */
	uint32_t data_sets; /* sets of id >= 256 */
	bool sent;	    /* false: the test kept it back, as if lost */
};

struct exp {
	int fd;
	struct sockaddr_in to;
	struct ipfix_encoder *enc;
	struct ident id;
	uint8_t ip[16], ip6[16];
	uint64_t sender_id, report_seq;
	uint32_t skip; /* the next `skip` messages are not sent */
	struct dgram d[MAX_DGRAMS];
	uint32_t n_d;
	uint32_t in_msgs; /* flow records in the messages so far */
	struct flow_record recs[MAX_RECS];
	uint32_t n_recs;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void on_msg(void *ctx, const void *msg, size_t len, uint32_t records)
{
	struct exp *e = ctx;
	const uint8_t *p = msg;
	struct dgram *d;

	if (e->n_d == MAX_DGRAMS)
		return;
	d = &e->d[e->n_d++];
	d->seq = be32(p + 8);
	d->n_flow = records;
	d->first = e->in_msgs;
	e->in_msgs += records;
	/* RFC 7011 section 3.3.2: set ids 2 and 3 are templates, 256 and up data */
	for (size_t off = IPFIX_HEADER_SIZE; off + 4 <= len;) {
		uint16_t id = (uint16_t)(p[off] << 8 | p[off + 1]);
		uint16_t sl = (uint16_t)(p[off + 2] << 8 | p[off + 3]);

		d->data_sets += id >= 256;
		if (sl < 4)
			break;
		off += sl;
	}
	if (e->skip) {
		e->skip--;
		return;
	}
	d->sent =
	    sendto(e->fd, msg, len, 0, (struct sockaddr *)&e->to, sizeof(e->to)) == (ssize_t)len;
}

/* Data records (flow and options) in message i: what its sequence number covers. */
static uint32_t data_records(const struct exp *e, uint32_t i)
{
	uint32_t next = i + 1 < e->n_d ? e->d[i + 1].seq : ipfix_encoder__seq(e->enc);

	return next - e->d[i].seq;
}

/*
 * An exporter to 127.0.0.1:port from `bind_ip` (NULL: any) for `id`,
 * claiming ip and ip6 in its heartbeats.  0 or -errno.
 */
static int exp_open(struct exp *e, uint16_t port, const char *bind_ip, const struct ident *id,
		    const char *ip, const char *ip6, uint32_t domain)
{
	static uint64_t next_id = 0x1f1f000000000000ull;
	struct ipfix_encoder_opts o = { .domain_id = domain };

	memset(e, 0, sizeof(*e));
	e->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (e->fd < 0)
		return -errno;
	if (bind_ip) {
		struct sockaddr_in b = { .sin_family = AF_INET };

		inet_pton(AF_INET, bind_ip, &b.sin_addr);
		if (bind(e->fd, (struct sockaddr *)&b, sizeof(b)))
			return -errno;
	}
	e->to.sin_family = AF_INET;
	e->to.sin_port = htons(port);
	inet_pton(AF_INET, "127.0.0.1", &e->to.sin_addr);
	e->id = *id;
	e->sender_id = ++next_id;
	if (ip_parse_str(ip, e->ip) || ip_parse_str(ip6, e->ip6))
		return -EINVAL;
	e->enc = ipfix_encoder__new(&o, on_msg, e);
	return e->enc ? 0 : -errno;
}

static void exp_close(struct exp *e)
{
	ipfix_encoder__free(e->enc);
	e->enc = NULL;
	if (e->fd > 0)
		close(e->fd);
	e->fd = -1;
}

static void exp_templates(struct exp *e)
{
	ipfix_encoder__send_templates(e->enc, (uint32_t)time(NULL));
}

/* The batch header a report (or an HTTP/2 batch) of this sender carries. */
static struct wire_header header(uint64_t sender_id, uint64_t seq, const struct ident *id,
				 int64_t from, int64_t to, const uint8_t (*ips)[16])
{
	return (struct wire_header){
		.sender_id = sender_id,
		.seq = seq,
		.sender = { .app = id->app,
			    .namespace = id->ns,
			    .pod = id->pod,
			    .node = id->node,
			    .workload = id->workload },
		.span_start_ms = (uint64_t)from,
		.span_end_ms = (uint64_t)to,
		.n_ips = 2,
		.ips = ips,
		.drops = { 1, 2, 3, 4, 5 },
	};
}

/* One report: the heartbeat (ip, ip6 over [from, to)) and `n` records.  0 or -errno. */
static int exp_report(struct exp *e, int64_t from, int64_t to, const struct flow_record *recs,
		      size_t n)
{
	uint8_t ips[2][16];
	struct wire_header h;
	int err;

	memcpy(ips[0], e->ip, 16);
	memcpy(ips[1], e->ip6, 16);
	h = header(e->sender_id, ++e->report_seq, &e->id, from, to, (const uint8_t(*)[16])ips);
	err = ipfix_encoder__begin(e->enc, &h, (uint32_t)time(NULL));
	for (size_t i = 0; !err && i < n && e->n_recs < MAX_RECS; i++) {
		struct flow_record r = recs[i];

		fill_local(&r, e->ip, e->ip6);
		err = ipfix_encoder__add(e->enc, &r);
		e->recs[e->n_recs++] = r;
	}
	ipfix_encoder__end(e->enc);
	return err;
}

#define REPORT(e, from, to, ...)                                               \
	({                                                                     \
		const struct flow_record r_[] = { __VA_ARGS__ };               \
		exp_report((e), (from), (to), r_, sizeof(r_) / sizeof(r_[0])); \
	})

/* ---- the same batches over HTTP/2 (lib/wire, lib/h2client) ---------------------------- */

struct snd {
	struct h2c *h2;
	struct ident id;
	uint8_t ip[16], ip6[16];
	uint64_t sender_id, seq;
};

static int snd_open(struct snd *s, uint16_t port, const struct exp *like)
{
	char url[128], why[256];
	struct h2c_opts o = {
		.url = url,
		.max_streams = 4,
		.connect_timeout_ns = 5000000000ull,
		.request_timeout_ns = 10000000000ull,
	};

	memset(s, 0, sizeof(*s));
	s->id = like->id;
	s->sender_id = like->sender_id;
	memcpy(s->ip, like->ip, 16);
	memcpy(s->ip6, like->ip6, 16);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/flows", port);
	s->h2 = h2c__new(&o, why, sizeof(why));
	if (!s->h2) {
		fprintf(stderr, "    h2c__new: %s\n", why);
		return -errno;
	}
	return 0;
}

struct done {
	bool done;
	int err, status;
};

static void on_done(void *ctx, int err, int status, const char *retry_after, const char *body)
{
	struct done *d = ctx;

	(void)retry_after;
	(void)body;
	d->done = true;
	d->err = err;
	d->status = status;
}

/* The batch exp_report() sends as IPFIX, as one HTTP/2 POST.  The status, or -errno. */
static int snd_post(struct snd *s, int64_t from, int64_t to, const struct flow_record *recs,
		    size_t n)
{
	static const struct h2c_header hdr[] = {
		{ "content-type", "application/x-podflow-batch" },
		{ "content-encoding", "zstd" },
	};
	struct wire_encoder *e = wire_encoder__new(WIRE_ENC_ZSTD, 0);
	uint8_t ips[2][16];
	struct wire_header h;
	struct done d = { 0 };
	const void *body;
	size_t len;
	int err = -ENOMEM;

	memcpy(ips[0], s->ip, 16);
	memcpy(ips[1], s->ip6, 16);
	h = header(s->sender_id, ++s->seq, &s->id, from, to, (const uint8_t(*)[16])ips);
	if (!e)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct flow_record r = recs[i];

		fill_local(&r, s->ip, s->ip6);
		err = wire_encoder__add(e, &r);
		if (err)
			goto out;
	}
	err = wire_encoder__finish(e, &h, &body, &len);
	if (!err)
		err = h2c__post(s->h2, body, len, hdr, 2, on_done, &d);
	if (err)
		goto out;
	for (uint64_t dl = harness_now_ms() + WAIT_MS; !d.done && harness_now_ms() < dl;)
		h2c__run(s->h2, 100);
	err = !d.done ? -ETIMEDOUT : d.err ? d.err : d.status;
out:
	wire_encoder__free(e);
	return err;
}

#define POST(s, from, to, ...)                                               \
	({                                                                   \
		const struct flow_record r_[] = { __VA_ARGS__ };             \
		snd_post((s), (from), (to), r_, sizeof(r_) / sizeof(r_[0])); \
	})

/* ---- nftables ------------------------------------------------------------------------ */

/* Drops the datagrams to `port` whose place among them (0-based) is `at` mod `every`. */
static int nft_drop_every(uint16_t port, unsigned int every, unsigned int at)
{
	return harness_sh("nft add table inet " NFT_TABLE " && "
			  "nft 'add chain inet " NFT_TABLE
			  " in { type filter hook input priority 0; policy accept; }' && "
			  "nft add rule inet " NFT_TABLE " in udp dport %u numgen inc mod %u == %u "
			  "counter drop",
			  port, every, at);
}

/* The packets the drop rule counted, or -1. */
static int64_t nft_dropped(void)
{
	FILE *f = popen("nft list table inet " NFT_TABLE " 2>/dev/null", "r");
	char line[512];
	int64_t n = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, "counter packets ");

		if (p)
			n = strtoll(p + strlen("counter packets "), NULL, 10);
	}
	pclose(f);
	return n;
}

static void nft_clear(void)
{
	harness_sh("nft delete table inet " NFT_TABLE " 2>/dev/null || true");
}

/* ---- the tests ------------------------------------------------------------------------ */

/*
 * Two exporters naming each other by heartbeat (as test_attribution.c's
 * heartbeats_name_each_other does over HTTP/2), over IPFIX to one
 * collector, and the very same batches over HTTP/2 to another: every
 * record is written equal, field by field, attributed the same.  The JSON
 * record has no field only one transport fills, so nothing is ignored in
 * the comparison.  A's report spans several messages (IPv4 and IPv6
 * records, every field varied), so records after the first message take
 * their sender from the identity record that came before.
 */
static int test_same_as_http2(void)
{
	const char *const extra[] = { "--heartbeat-grace", "2s", "--max-delay", "10s", NULL };
	struct coll ci = { 0 }, ch = { 0 };
	struct exp *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct snd ha = { 0 }, hb = { 0 };
	json_t *wi = NULL, *wh = NULL;
	struct flow_record many[40];
	int64_t n0;
	size_t total, i;
	int ret = 1;

	ASSERT_TRUE("memory", a && b);
	ASSERT_EQ_U64("IPFIX collector", 0, -coll_start(&ci, "same-ipfix", NULL, extra));
	ASSERT_EQ_U64("HTTP/2 collector", 0, -coll_start(&ch, "same-h2", NULL, extra));
	ASSERT_EQ_U64("exporter A", 0, -exp_open(a, ci.ipfix, NULL, &ID_A, IP_A, IP_A6, 0xa1));
	ASSERT_EQ_U64("exporter B", 0, -exp_open(b, ci.ipfix, NULL, &ID_B, IP_B, IP_B6, 0xb2));
	ASSERT_EQ_U64("sender A", 0, -snd_open(&ha, ch.port, a));
	ASSERT_EQ_U64("sender B", 0, -snd_open(&hb, ch.port, b));
	exp_templates(a);
	exp_templates(b);

	n0 = harness_wall_ms();
	for (i = 0; i < 40; i++)
		many[i] = mkrec(300 + i,
				i % 4 == 3   ? IP_B6
				: i % 4 == 2 ? "::1"
					     : "127.0.0.1",
				n0 - 1000 + (int64_t)i, n0 - 900 + (int64_t)i);
		/* B first: A has not said it owns IP_A yet */
#define B1                                                                                     \
	mkrec(101, IP_A, n0 - 1400, n0 - 1300), mkrec(102, "127.0.0.1", n0 - 1400, n0 - 1300), \
	    mkrec(104, IP_A6, n0 - 1400, n0 - 1300)
#define A1                                                                                    \
	mkrec(201, IP_B, n0 - 1200, n0 - 1100), mkrec(202, IP_B, n0 - 300, n0 - 200),         \
	    mkrec(203, IP_B, n0 - 800, n0 - 600), mkrec(204, IP_NOBODY, n0 - 1000, n0 - 900), \
	    mkrec(205, "127.0.0.1", n0 - 1000, n0 - 900), mkrec(206, IP_B6, n0 - 1200, n0 - 1100)
	ASSERT_EQ_U64("B report 1", 0, -REPORT(b, n0 - 1500, n0 - 700, B1));
	ASSERT_EQ_U64("B batch 1", 204, POST(&hb, n0 - 1500, n0 - 700, B1));
	ASSERT_EQ_U64("A report 1", 0, -REPORT(a, n0 - 1500, n0, A1));
	ASSERT_EQ_U64("A batch 1", 204, POST(&ha, n0 - 1500, n0, A1));
	ASSERT_EQ_U64("A report 2", 0, -exp_report(a, n0 - 1, n0, many, 40));
	ASSERT_EQ_U64("A batch 2", 204, snd_post(&ha, n0 - 1, n0, many, 40));
	ASSERT_TRUE("A's second report spans several messages", a->n_d >= 4);
	{
		int64_t t = harness_wall_ms();

		/* B's next heartbeat, after a gap: [n0 - 400, now) */
		ASSERT_EQ_U64("B report 2", 0,
			      -REPORT(b, n0 - 400, t, mkrec(103, IP_A, n0 - 100, n0 - 50)));
		ASSERT_EQ_U64("B batch 2", 204,
			      POST(&hb, n0 - 400, t, mkrec(103, IP_A, n0 - 100, n0 - 50)));
	}
#undef A1
#undef B1
	total = a->n_recs + b->n_recs;
	ASSERT_EQ_U64("records sent", 3 + 1 + 6 + 40, total);
	for (i = 0; i < a->n_d; i++)
		ASSERT_TRUE("A's messages all sent", a->d[i].sent);
	for (i = 0; i < b->n_d; i++)
		ASSERT_TRUE("B's messages all sent", b->d[i].sent);
	ASSERT_TRUE("IPFIX: all written", wait_written(&ci, total, WAIT_MS));
	ASSERT_TRUE("HTTP/2: all written", wait_written(&ch, total, WAIT_MS));

	ASSERT_EQ_U64("accepted", total, wait_metric(&ci, ACCEPTED, (int64_t)total, WAIT_MS));
	wi = written(&ci);
	wh = written(&ch);
	for (uint32_t k = 0; k < a->n_recs + b->n_recs; k++) {
		const struct flow_record *r = k < a->n_recs ? &a->recs[k] : &b->recs[k - a->n_recs];
		size_t n1, n2;
		json_t *x = find_rec(wi, r->bytes_sent, &n1), *y = find_rec(wh, r->bytes_sent, &n2);
		const char *key;
		json_t *v;

		ASSERT_EQ_U64("once over IPFIX", 1, n1);
		ASSERT_EQ_U64("once over HTTP/2", 1, n2);
		ASSERT_EQ_U64("as sent", 0, -expect_same(x, r, k < a->n_recs ? &ID_A : &ID_B));
		ASSERT_EQ_U64("same key count", json_object_size(y), json_object_size(x));
		json_object_foreach(y, key, v)
		{
			if (!json_equal(v, json_object_get(x, key))) {
				char *s1 = json_dumps(json_object_get(x, key), JSON_ENCODE_ANY);
				char *s2 = json_dumps(v, JSON_ENCODE_ANY);

				fprintf(stderr, "    FAIL: record %llu: %s: IPFIX %s, HTTP/2 %s\n",
					(unsigned long long)r->bytes_sent, key, s1 ? s1 : "?",
					s2 ? s2 : "?");
				free(s1);
				free(s2);
				goto cleanup;
			}
		}
	}
	{
		static const char *const results[] = { "heartbeat",
						       "kube",
						       "sonar",
						       "unattributed_none",
						       "unattributed_conflict",
						       "unattributed_changed",
						       "unattributed_expired" };
		static const char *const drops[] = { "kernel_ring", "kernel_map", "table", "buffer",
						     "rejected" };
		char s[160];

		for (i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
			snprintf(s, sizeof(s),
				 "podflow_collector_attribution_records_total{result=\"%s\"}",
				 results[i]);
			ASSERT_EQ_U64(s, metric(&ch, s), metric(&ci, s));
		}
		ASSERT_TRUE("heartbeats decided records",
			    metric(&ci, "podflow_collector_"
					"attribution_records_total{"
					"result=\"heartbeat\"}") >= 6);
		for (i = 0; i < sizeof(drops) / sizeof(drops[0]); i++) {
			snprintf(s, sizeof(s),
				 "podflow_collector_sender_drops_total{reason=\"%s\"}", drops[i]);
			ASSERT_EQ_U64(s, 4 * (i + 1), metric(&ci, s));
			ASSERT_EQ_U64(s, metric(&ch, s), metric(&ci, s));
		}
	}
	/* a span per claimed address: two each */
	ASSERT_EQ_U64("heartbeat spans applied", 8,
		      metric(&ci, "podflow_collector_attribution_heartbeats_total"));
	ASSERT_EQ_U64("the same on HTTP/2", 8,
		      metric(&ch, "podflow_collector_attribution_heartbeats_total"));
	ASSERT_EQ_U64("IPFIX heartbeats used", 4,
		      metric(&ci, "podflow_collector_ipfix_heartbeats_total{result=\"used\"}"));
	ASSERT_EQ_U64("datagrams decoded", a->n_d + b->n_d, metric(&ci, DECODED));
	ASSERT_EQ_U64("records accepted", total, metric(&ci, ACCEPTED));
	ASSERT_EQ_U64("records total", total, metric(&ci, "podflow_collector_records_total"));
	ASSERT_EQ_U64("no gaps", 0,
		      metric(&ci, "podflow_collector_ipfix_sequence_total{event=\"gap\"}"));
	ASSERT_EQ_U64("templates added", 8,
		      metric(&ci, "podflow_collector_ipfix_templates_total{event=\"added\"}"));
	ASSERT_EQ_U64("exporters", 2, metric(&ci, "podflow_collector_ipfix_exporters"));
	ASSERT_EQ_U64("IPFIX collector exits 0", 0, coll_stop(&ci));
	ASSERT_EQ_U64("HTTP/2 collector exits 0", 0, coll_stop(&ch));
	ret = 0;
cleanup:
	json_decref(wi);
	json_decref(wh);
	if (a)
		exp_close(a);
	if (b)
		exp_close(b);
	h2c__free(ha.h2);
	h2c__free(hb.h2);
	free(a);
	free(b);
	coll_free(&ci, ret);
	coll_free(&ch, ret);
	return ret;
}

/*
 * Loss on the wire: nftables drops every 4th datagram to the collector's
 * port.  Each report's records are counted lost by the sequence numbers
 * (the missed data records: the flow records of the dropped messages plus
 * their identity and report records), per exporter and in total; every
 * record written is one that was sent, exactly, once.
 */
static int test_loss_counted_as_gaps(void)
{
	const char *const extra[] = { "--no-attribution", NULL };
	struct coll c = { 0 };
	struct exp *e = calloc(1, sizeof(*e));
	struct flow_record recs[60];
	uint64_t missed = 0, lost_flow = 0, lost_msgs = 0, gaps = 0, kept = 0;
	json_t *w = NULL;
	char s[256];
	int64_t n0;
	bool run = false;
	int ret = 1;

	ASSERT_TRUE("memory", e != NULL);
	ASSERT_EQ_U64("collector", 0, -coll_start(&c, "loss", NULL, extra));
	ASSERT_EQ_U64("nft drop rule", 0, nft_drop_every(c.ipfix, 4, 2));
	ASSERT_EQ_U64("exporter", 0, -exp_open(e, c.ipfix, NULL, &ID_A, IP_A, IP_A6, 0x10c5));
	exp_templates(e);
	n0 = harness_wall_ms();
	for (int rep = 0; rep < 6; rep++) {
		for (int i = 0; i < 60; i++)
			recs[i] = mkrec(1000 * (rep + 1) + (uint64_t)i, i % 5 == 4 ? IP_B6 : IP_B,
					n0 - 2000, n0 - 1000);
		ASSERT_EQ_U64("report", 0, -exp_report(e, n0 - 2000, n0 - 1000, recs, 60));
	}
	/* a last message to compare with: templates, kept by the rule (not at 2 mod 4) */
	exp_templates(e);
	if ((e->n_d - 1) % 4 == 2)
		exp_templates(e);
	for (uint32_t i = 0; i < e->n_d; i++) {
		bool dropped = i % 4 == 2;

		ASSERT_TRUE("handed to the kernel", e->d[i].sent);
		if (dropped) {
			lost_msgs++;
			lost_flow += e->d[i].n_flow;
			missed += data_records(e, i);
			run = run || data_records(e, i) > 0;
		} else {
			kept++;
			gaps += run;
			run = false;
		}
	}
	ASSERT_TRUE("several datagrams dropped", lost_msgs >= 10);
	ASSERT_EQ_U64("the decoded datagrams", kept,
		      wait_metric(&c, DECODED, (int64_t)kept, WAIT_MS));
	ASSERT_EQ_U64("nftables dropped", lost_msgs, nft_dropped());
	ASSERT_TRUE("written", wait_written(&c, e->n_recs - lost_flow, WAIT_MS));

	w = written(&c);
	for (uint32_t i = 0; i < e->n_d; i++)
		for (uint32_t k = e->d[i].first; k < e->d[i].first + e->d[i].n_flow; k++) {
			size_t n;
			json_t *j = find_rec(w, e->recs[k].bytes_sent, &n);

			ASSERT_EQ_U64(i % 4 == 2 ? "lost record not written"
						 : "record written once",
				      i % 4 == 2 ? 0 : 1, n);
			if (j)
				ASSERT_EQ_U64("exact", 0, -expect_same(j, &e->recs[k], &ID_A));
		}
	ASSERT_EQ_U64("nothing else written", e->n_recs - lost_flow, json_array_size(w));
	ASSERT_EQ_U64("missed records", missed,
		      metric(&c, "podflow_collector_ipfix_missed_records_total"));
	ASSERT_EQ_U64("gaps", gaps,
		      metric(&c, "podflow_collector_ipfix_sequence_total{event=\"gap\"}"));
	snprintf(s, sizeof(s),
		 "podflow_collector_ipfix_exporter_missed_records_total{exporter=\"127.0.0.1\","
		 "port=\"%u\",domain=\"%u\"}",
		 (unsigned)sock_local_port(e->fd), 0x10c5);
	ASSERT_EQ_U64("missed records of the exporter", missed, metric(&c, s));
	snprintf(s, sizeof(s),
		 "podflow_collector_ipfix_exporter_sequence_gaps_total{exporter=\"127.0.0.1\","
		 "port=\"%u\",domain=\"%u\"}",
		 (unsigned)sock_local_port(e->fd), 0x10c5);
	ASSERT_EQ_U64("gaps of the exporter", gaps, metric(&c, s));
	ASSERT_EQ_U64("accepted", e->n_recs - lost_flow, metric(&c, ACCEPTED));
	ASSERT_EQ_U64("none without a sender", 0,
		      metric(&c, "podflow_collector_ipfix_records_total{result=\"no_sender\"}"));
	ASSERT_EQ_U64("no kernel drops", 0,
		      metric(&c, "podflow_collector_ipfix_receive_queue_drops_total"));
	ASSERT_EQ_U64("promtool takes the labelled families", 0, -promtool_check(&c));
	ASSERT_EQ_U64("collector exits 0", 0, coll_stop(&c));
	snprintf(s, sizeof(s),
		 "%llu of %u datagrams dropped; missed_records_total %llu = their %llu flow "
		 "records and %llu options records",
		 (unsigned long long)lost_msgs, e->n_d, (unsigned long long)missed,
		 (unsigned long long)lost_flow, (unsigned long long)(missed - lost_flow));
	harness_report(&(struct report_fault){
	    .fault = "every 4th IPFIX datagram dropped on the way (nftables)",
	    .unit = "records",
	    .injected = lost_flow,
	    .delivered = 0,
	    .counted = lost_flow,
	    .lost = 0,
	    .counted_as = "podflow_collector_ipfix_missed_records_total and "
			  "podflow_collector_ipfix_exporter_missed_records_total (sequence gaps)",
	    .note = s,
	});
	ret = 0;
cleanup:
	nft_clear();
	json_decref(w);
	if (e)
		exp_close(e);
	free(e);
	coll_free(&c, ret);
	return ret;
}

/* A free UDP port on 127.0.0.1 just now, or 0. */
static uint16_t free_udp_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	uint16_t port = 0;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &l))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/*
 * A collector started after the exporter sent its templates: the data
 * sets of the next report have no template there.  Counted (in total and
 * for the exporter), nothing of them written, no gap claimed; once the
 * exporter sends its templates again, its next report is written whole.
 */
static int test_template_less(void)
{
	const char *const extra[] = { "--no-attribution", NULL };
	struct coll c = { 0 };
	struct exp *e = calloc(1, sizeof(*e));
	struct flow_record recs[30];
	uint16_t port = free_udp_port();
	uint32_t sets = 0, first_report, before;
	char listen[64], s[256];
	json_t *w = NULL;
	int64_t n0 = harness_wall_ms();
	int ret = 1;

	ASSERT_TRUE("memory and a port", e && port);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	ASSERT_EQ_U64("exporter", 0, -exp_open(e, port, NULL, &ID_B, IP_B, IP_B6, 0x7e));
	exp_templates(e); /* nobody listens yet */
	ASSERT_EQ_U64("collector", 0, -coll_start(&c, "template-less", listen, extra));
	for (int i = 0; i < 30; i++)
		recs[i] = mkrec(5000 + (uint64_t)i, i % 3 ? IP_A : IP_A6, n0 - 2000, n0 - 1000);
	before = e->n_d;
	ASSERT_EQ_U64("report without templates", 0,
		      -exp_report(e, n0 - 2000, n0 - 1000, recs, 30));
	first_report = e->n_recs;
	for (uint32_t i = before; i < e->n_d; i++)
		sets += e->d[i].data_sets;
	ASSERT_TRUE("a report of several messages", e->n_d - before >= 3);
	ASSERT_EQ_U64("decoded", e->n_d - 1, wait_metric(&c, DECODED, e->n_d - 1, WAIT_MS));
	ASSERT_EQ_U64("unknown sets", sets,
		      metric(&c, "podflow_collector_ipfix_unknown_sets_total"));
	snprintf(s, sizeof(s),
		 "podflow_collector_ipfix_exporter_unknown_sets_total{exporter=\"127.0.0.1\","
		 "port=\"%u\",domain=\"%u\"}",
		 (unsigned)sock_local_port(e->fd), 0x7e);
	ASSERT_EQ_U64("unknown sets of the exporter", sets, metric(&c, s));
	ASSERT_EQ_U64("nothing written", 0, n_written(&c));
	ASSERT_EQ_U64("nothing accepted", 0, metric(&c, ACCEPTED));
	ASSERT_EQ_U64("no gap claimed", 0,
		      metric(&c, "podflow_collector_ipfix_missed_records_total"));

	exp_templates(e);
	for (int i = 0; i < 30; i++)
		recs[i] = mkrec(6000 + (uint64_t)i, i % 3 ? IP_A : IP_A6, n0 - 1000, n0 - 500);
	ASSERT_EQ_U64("report after the templates", 0,
		      -exp_report(e, n0 - 1000, n0 - 500, recs, 30));
	ASSERT_TRUE("the second report written", wait_written(&c, 30, WAIT_MS));
	w = written(&c);
	for (uint32_t k = 0; k < e->n_recs; k++) {
		size_t n;
		json_t *j = find_rec(w, e->recs[k].bytes_sent, &n);

		ASSERT_EQ_U64(k < first_report ? "template-less not written" : "written once",
			      k < first_report ? 0 : 1, n);
		if (j)
			ASSERT_EQ_U64("exact", 0, -expect_same(j, &e->recs[k], &ID_B));
	}
	ASSERT_EQ_U64("still the same unknown sets", sets,
		      metric(&c, "podflow_collector_ipfix_unknown_sets_total"));
	ASSERT_EQ_U64("no gap claimed after", 0,
		      metric(&c, "podflow_collector_ipfix_missed_records_total"));
	ASSERT_EQ_U64("collector exits 0", 0, coll_stop(&c));
	snprintf(s, sizeof(s), "%u data sets in %u messages", sets, e->n_d - before);
	harness_report(&(struct report_fault){
	    .fault = "IPFIX data sets before the collector has their templates",
	    .unit = "records",
	    .injected = first_report,
	    .delivered = 0,
	    .counted = first_report,
	    .lost = 0,
	    .counted_as = "podflow_collector_ipfix_unknown_sets_total and "
			  "podflow_collector_ipfix_exporter_unknown_sets_total (per set: the "
			  "records of a set without its template cannot be counted one by one)",
	    .note = s,
	});
	ret = 0;
cleanup:
	json_decref(w);
	if (e)
		exp_close(e);
	free(e);
	coll_free(&c, ret);
	return ret;
}

/*
 * Garbage, malformed and unsupported datagrams are counted and the
 * listener carries on; an exporter outside ipfix.allow_cidrs is refused
 * and counted; records whose exporter's identity never arrived (the
 * report's first message lost) are counted, not written, and that
 * exporter's next report is written.
 */
static int test_garbage_refused_no_sender(void)
{
	const char *const extra[] = { "--no-attribution", "--ipfix-allow-cidrs", "127.0.0.1/32",
				      NULL };
	struct coll c = { 0 };
	struct exp *good = calloc(1, sizeof(*good)), *out = calloc(1, sizeof(*out)),
		   *lost = calloc(1, sizeof(*lost));
	struct flow_record recs[20];
	uint8_t junk[2000], msg[64];
	uint32_t no_sender = 0, refused_recs, lost_first;
	int64_t n0 = harness_wall_ms();
	uint64_t bad = 0, unsupported = 0;
	json_t *w = NULL;
	char s[200];
	int ret = 1;

	ASSERT_TRUE("memory", good && out && lost);
	ASSERT_EQ_U64("collector", 0, -coll_start(&c, "garbage", NULL, extra));
	ASSERT_EQ_U64("exporter", 0, -exp_open(good, c.ipfix, NULL, &ID_A, IP_A, IP_A6, 1));
	ASSERT_EQ_U64("outsider", 0, -exp_open(out, c.ipfix, "127.0.0.2", &ID_B, IP_B, IP_B6, 2));
	ASSERT_EQ_U64("exporter losing an identity", 0,
		      -exp_open(lost, c.ipfix, NULL, &ID_B, IP_B, IP_B6, 3));

	/* garbage of every kind, from the allowed address */
	srand(7);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();
	{
		const struct {
			const void *p;
			size_t len;
		} g[] = {
			{ junk, 0 }, { junk, 15 }, { junk, 200 }, { junk, 1999 },
			{ msg, 16 }, { msg, 24 },  { msg, 20 },	  { msg, 16 + 4 },
		};

		memset(msg, 0, sizeof(msg));
		msg[1] = 9; /* NetFlow v9's version: unsupported */
		msg[3] = 16;
		for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
			if (i == 5) {
				/* IPFIX, its length beyond the datagram */
				msg[1] = 10;
				msg[3] = 40;
			}
			if (i == 6) {
				/* IPFIX, a set of a reserved id */
				msg[3] = 20;
				msg[17] = 1;
				msg[19] = 4;
			}
			if (i == 7) {
				/* IPFIX, a set longer than the message */
				msg[17] = 2;
				msg[19] = 40;
			}
			ASSERT_TRUE("garbage sent", sendto(good->fd, g[i].p, g[i].len, 0,
							   (struct sockaddr *)&good->to,
							   sizeof(good->to)) == (ssize_t)g[i].len);
			bad++;
			/* a whole header with a version other than 10 is not IPFIX (v9: NetFlow) */
			if (g[i].len >= 16 && (((const uint8_t *)g[i].p)[0] != 0 ||
					       ((const uint8_t *)g[i].p)[1] != 10))
				unsupported++;
		}
	}
	/* the outsider: a whole report refused */
	exp_templates(out);
	for (int i = 0; i < 20; i++)
		recs[i] = mkrec(7000 + (uint64_t)i, IP_A, n0 - 2000, n0 - 1000);
	ASSERT_EQ_U64("outsider's report", 0, -exp_report(out, n0 - 2000, n0 - 1000, recs, 20));
	refused_recs = out->n_recs;
	/* the exporter whose report's first message (identity, report) is lost */
	exp_templates(lost);
	lost->skip = 1;
	for (int i = 0; i < 20; i++)
		recs[i] = mkrec(8000 + (uint64_t)i, IP_A, n0 - 2000, n0 - 1000);
	ASSERT_EQ_U64("a report without its first message", 0,
		      -exp_report(lost, n0 - 2000, n0 - 1000, recs, 20));
	lost_first = lost->d[1].n_flow;
	for (uint32_t i = 2; i < lost->n_d; i++)
		no_sender += lost->d[i].n_flow;
	ASSERT_TRUE("a report of several messages", lost->n_d >= 4 && no_sender > 0);
	for (int i = 0; i < 20; i++)
		recs[i] = mkrec(8100 + (uint64_t)i, IP_A, n0 - 1000, n0 - 500);
	ASSERT_EQ_U64("its next report", 0, -exp_report(lost, n0 - 1000, n0 - 500, recs, 20));
	/* and the well-behaved exporter, after all that */
	exp_templates(good);
	for (int i = 0; i < 20; i++)
		recs[i] = mkrec(9000 + (uint64_t)i, IP_B, n0 - 2000, n0 - 1000);
	ASSERT_EQ_U64("good report", 0, -exp_report(good, n0 - 2000, n0 - 1000, recs, 20));

	ASSERT_TRUE("the good records written", wait_written(&c, 20 + 20, WAIT_MS));
	/* the counters are published a round of datagrams at a time: the last one's */
	ASSERT_EQ_U64("accepted", 40, wait_metric(&c, ACCEPTED, 40, WAIT_MS));
	w = written(&c);
	for (uint32_t k = 0; k < good->n_recs; k++) {
		size_t n;
		json_t *j = find_rec(w, good->recs[k].bytes_sent, &n);

		ASSERT_EQ_U64("good: written once", 1, n);
		ASSERT_EQ_U64("good: exact", 0, -expect_same(j, &good->recs[k], &ID_A));
	}
	for (uint32_t k = 0; k < lost->n_recs; k++) {
		size_t n;
		json_t *j = find_rec(w, lost->recs[k].bytes_sent, &n);

		ASSERT_EQ_U64("only the next report", k >= 20 ? 1 : 0, n);
		if (j)
			ASSERT_EQ_U64("next report: exact", 0,
				      -expect_same(j, &lost->recs[k], &ID_B));
	}
	ASSERT_EQ_U64("nothing else", 40, json_array_size(w));
	ASSERT_TRUE("some of each", unsupported >= 1 && unsupported < bad);
	ASSERT_EQ_U64("malformed", bad - unsupported,
		      metric(&c, "podflow_collector_ipfix_datagrams_total{result=\"malformed\"}"));
	ASSERT_EQ_U64(
	    "unsupported", unsupported,
	    metric(&c, "podflow_collector_ipfix_datagrams_total{result=\"unsupported\"}"));
	ASSERT_EQ_U64(
	    "refused: the outsider's every datagram", out->n_d,
	    metric(&c, "podflow_collector_ipfix_datagrams_total{result=\"refused_source\"}"));
	ASSERT_EQ_U64("records without a sender", no_sender,
		      metric(&c, "podflow_collector_ipfix_records_total{result=\"no_sender\"}"));
	ASSERT_EQ_U64("accepted", 40, metric(&c, ACCEPTED));
	ASSERT_TRUE("the refusal logged once",
		    strstr(c.p.err_text, "127.0.0.2") &&
			strstr(c.p.err_text, "not in ipfix.allow_cidrs"));
	ASSERT_EQ_U64("collector exits 0", 0, coll_stop(&c));
	snprintf(s, sizeof(s), "%llu malformed or unsupported datagrams", (unsigned long long)bad);
	harness_report(&(struct report_fault){
	    .fault = "garbage, truncated, NetFlow v9 and malformed IPFIX datagrams",
	    .unit = "datagrams",
	    .injected = bad,
	    .delivered = 0,
	    .counted = bad,
	    .lost = 0,
	    .counted_as = "podflow_collector_ipfix_datagrams_total{result=\"malformed\"} and "
			  "{result=\"unsupported\"}",
	    .note = s,
	});
	harness_report(&(struct report_fault){
	    .fault = "an IPFIX exporter outside ipfix.allow_cidrs",
	    .unit = "datagrams",
	    .injected = out->n_d,
	    .delivered = 0,
	    .counted = out->n_d,
	    .lost = 0,
	    .counted_as = "podflow_collector_ipfix_datagrams_total{result=\"refused_source\"}",
	    .note = "its records are never decoded",
	});
	snprintf(s, sizeof(s),
		 "the report's first message and its %u records lost before the collector; the "
		 "%u records after it counted, none given a sender",
		 lost_first, no_sender);
	harness_report(&(struct report_fault){
	    .fault = "IPFIX records whose exporter's identity record was lost",
	    .unit = "records",
	    .injected = no_sender,
	    .delivered = 0,
	    .counted = no_sender,
	    .lost = 0,
	    .counted_as = "podflow_collector_ipfix_records_total{result=\"no_sender\"}",
	    .note = s,
	});
	(void)refused_recs;
	ret = 0;
cleanup:
	json_decref(w);
	if (good)
		exp_close(good);
	if (out)
		exp_close(out);
	if (lost)
		exp_close(lost);
	free(good);
	free(out);
	free(lost);
	coll_free(&c, ret);
	return ret;
}

/* The process `pid` is stopped (state T in /proc/PID/stat), within timeout_ms. */
static bool wait_stopped(pid_t pid, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	char path[64], buf[256];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	do {
		FILE *f = fopen(path, "r");
		char *p = NULL;

		if (f) {
			if (fgets(buf, sizeof(buf), f))
				p = strrchr(buf, ')');
			fclose(f);
		}
		if (p && p[1] == ' ' && p[2] == 'T')
			return true;
		sleep_ms(5);
	} while (harness_now_ms() < deadline);
	return false;
}

/*
 * The kernel's receive queue overflows: the collector is stopped
 * (SIGSTOP) while an exporter sends a report of a few hundred datagrams
 * into a small receive buffer.  Those the queue held are written, the
 * rest are counted by the kernel (SO_RXQ_OVFL, which the next datagram
 * carries) and by the sequence numbers: nothing lost uncounted.
 */
static int test_receive_queue_overflow(void)
{
	const char *const extra[] = { "--no-attribution", "--ipfix-rcvbuf", "64KiB", NULL };
	struct coll c = { 0 };
	struct exp *e = calloc(1, sizeof(*e));
	static struct flow_record recs[2000];
	uint32_t first, last, decoded, held = 0, missed = 0;
	uint64_t drops, flow_written = 0;
	int64_t n0 = harness_wall_ms();
	json_t *w = NULL;
	char s[200];
	int ret = 1;

	ASSERT_TRUE("memory", e != NULL);
	ASSERT_EQ_U64("collector", 0, -coll_start(&c, "overflow", NULL, extra));
	ASSERT_EQ_U64("exporter", 0, -exp_open(e, c.ipfix, NULL, &ID_A, IP_A, IP_A6, 0x0f));
	exp_templates(e);
	ASSERT_EQ_U64("templates decoded", 1, wait_metric(&c, DECODED, 1, WAIT_MS));
	ASSERT_EQ_U64("SIGSTOP", 0, kill(c.p.pid, SIGSTOP));
	ASSERT_TRUE("stopped", wait_stopped(c.p.pid, WAIT_MS));
	for (int i = 0; i < 2000; i++)
		recs[i] = mkrec(20000 + (uint64_t)i, IP_B, n0 - 2000, n0 - 1000);
	first = e->n_d;
	ASSERT_EQ_U64("report", 0, -exp_report(e, n0 - 2000, n0 - 1000, recs, 2000));
	last = e->n_d;
	ASSERT_EQ_U64("SIGCONT", 0, kill(c.p.pid, SIGCONT));
	/* one more, after the drops: it carries their count */
	exp_templates(e);
	drops = 0;
	for (uint64_t dl = harness_now_ms() + WAIT_MS; harness_now_ms() < dl; sleep_ms(20)) {
		drops = (uint64_t)metric(&c, "podflow_collector_ipfix_receive_queue_drops_total");
		if ((uint64_t)metric(&c, DECODED) + drops == e->n_d)
			break;
	}
	decoded = (uint32_t)metric(&c, DECODED);
	ASSERT_EQ_U64("every datagram decoded or counted dropped", e->n_d, decoded + drops);
	ASSERT_TRUE("the queue overflowed", drops > 0);
	/* the queue kept the first ones: the messages first .. first + held - 1 */
	held = decoded - 2;
	for (uint32_t i = first; i < first + held; i++)
		flow_written += e->d[i].n_flow;
	for (uint32_t i = first + held; i < last; i++)
		missed += data_records(e, i);
	ASSERT_TRUE("written", wait_written(&c, flow_written, WAIT_MS));
	w = written(&c);
	for (uint32_t i = first; i < last; i++)
		for (uint32_t k = e->d[i].first; k < e->d[i].first + e->d[i].n_flow; k++) {
			size_t n;
			json_t *j = find_rec(w, e->recs[k].bytes_sent, &n);

			ASSERT_EQ_U64("held: written once; dropped: not", i < first + held ? 1 : 0,
				      n);
			if (j)
				ASSERT_EQ_U64("exact", 0, -expect_same(j, &e->recs[k], &ID_A));
		}
	ASSERT_EQ_U64("missed records", missed,
		      metric(&c, "podflow_collector_ipfix_missed_records_total"));
	snprintf(s, sizeof(s),
		 "%u datagrams sent while stopped, %u held by a %lld-byte receive buffer",
		 last - first, held,
		 (long long)metric(&c, "podflow_collector_ipfix_receive_buffer_bytes"));
	ASSERT_EQ_U64("collector exits 0", 0, coll_stop(&c));
	harness_report(&(struct report_fault){
	    .fault = "IPFIX receive queue overflow (the collector stopped, SIGSTOP)",
	    .unit = "datagrams",
	    .injected = last - first,
	    .delivered = held,
	    .counted = drops,
	    .lost = last - first - held - drops,
	    .counted_as = "podflow_collector_ipfix_receive_queue_drops_total (SO_RXQ_OVFL) and "
			  "podflow_collector_ipfix_missed_records_total",
	    .note = s,
	});
	ret = 0;
cleanup:
	if (c.p.pid > 0 && !c.p.exited)
		kill(c.p.pid, SIGCONT);
	json_decref(w);
	if (e)
		exp_close(e);
	free(e);
	coll_free(&c, ret);
	return ret;
}

/*
 * Heartbeats where they must be proven (kube.api set: a verifier runs):
 * IPFIX cannot carry the podflow-identity token, so every heartbeat over
 * it is refused as unverified and counted; the records are still written.
 */
static int test_heartbeats_unverified(void)
{
	struct api api = { 0 };
	struct coll c = { 0 };
	struct exp *e = calloc(1, sizeof(*e));
	int64_t n0 = harness_wall_ms();
	int ret = 1;

	ASSERT_TRUE("memory", e != NULL);
	ASSERT_EQ_U64("kube-api starts", 0, -api_start(&api));
	ASSERT_EQ_U64(
	    "collector", 0,
	    -coll_start(&c, "unverified", NULL,
			(const char *const[]){ "--kube-api", api.url, "--max-delay", "5s", NULL }));
	ASSERT_TRUE("the warning says why", strstr(c.p.err_text, "listening on 127.0.0.1") != NULL);
	ASSERT_EQ_U64("exporter", 0, -exp_open(e, c.ipfix, NULL, &ID_A, IP_A, IP_A6, 0x44));
	exp_templates(e);
	ASSERT_EQ_U64("report", 0,
		      -REPORT(e, n0 - 1500, n0, mkrec(1, IP_B, n0 - 1000, n0 - 900),
			      mkrec(2, "127.0.0.1", n0 - 1000, n0 - 900)));
	ASSERT_EQ_U64("refused as unverified", 1,
		      wait_metric(&c,
				  "podflow_collector_attribution_heartbeats_refused_total{reason="
				  "\"unverified\"}",
				  1, WAIT_MS));
	ASSERT_EQ_U64("not used", 1,
		      wait_metric(&c,
				  "podflow_collector_ipfix_heartbeats_total{result=\"not_used\"}",
				  1, WAIT_MS));
	ASSERT_EQ_U64("none used", 0, metric(&c, "podflow_collector_attribution_heartbeats_total"));
	ASSERT_EQ_U64("accepted", 2, metric(&c, ACCEPTED));
	/* a report over no time (in the same millisecond as the one before) claims nothing */
	ASSERT_EQ_U64("report of no span", 0,
		      -REPORT(e, n0, n0, mkrec(3, IP_B, n0 - 1000, n0 - 900)));
	ASSERT_EQ_U64("its records taken", 3, wait_metric(&c, ACCEPTED, 3, WAIT_MS));
	ASSERT_EQ_U64("counted empty", 1, metric(&c, HB_EMPTY));
	ASSERT_EQ_U64("not tried: still one not used", 1,
		      metric(&c, "podflow_collector_ipfix_heartbeats_total{result=\"not_used\"}"));
	ASSERT_EQ_U64("no more refused", 1,
		      metric(&c, "podflow_collector_attribution_heartbeats_refused_total{reason="
				 "\"unverified\"}"));
	ASSERT_EQ_U64("collector exits 0", 0, coll_stop(&c));
	ASSERT_EQ_U64("written at exit at the latest", 3, n_written(&c));
	ret = 0;
cleanup:
	if (e)
		exp_close(e);
	free(e);
	coll_free(&c, ret);
	api_stop(&api);
	return ret;
}

/* Closed connections, bytes and records of the collector's records for (direction, port). */
static struct flow_totals collected(struct coll *c, const char *direction, uint16_t port,
				    json_t **keep)
{
	json_t *all = written(c);
	struct flow_totals t = { 0 };

	t = flow_totals_of(all, direction, port);
	if (keep)
		*keep = all;
	else
		json_decref(all);
	return t;
}

static struct flow_totals wait_collected(struct coll *c, const char *direction, uint16_t port,
					 uint64_t closed)
{
	uint64_t deadline = harness_now_ms() + WAIT_MS;
	struct flow_totals t;

	for (;;) {
		t = collected(c, direction, port, NULL);
		if (t.closed >= closed || harness_now_ms() >= deadline)
			return t;
		sidecar_poll(&c->p, 0);
		sleep_ms(50);
	}
}

/*
 * End to end: a real sidecar on the pod's cgroup exports over UDP
 * (--output udp://) to a real collector: the records of K real
 * connections with known byte counts arrive exact, both directions, with
 * the pod's identity from the identity record and the container from the
 * records; every datagram the sidecar sent is decoded, none missed.
 */
static int test_sidecar_exports_udp(void)
{
	const int k = 20;
	const size_t req = 1500, resp = 2700;
	struct coll c = { 0 };
	struct sidecar sc = { 0 };
	char url[64];
	uint16_t sport = 0;
	struct flow_totals out, in;
	json_t *all = NULL;
	uint64_t sent, datagrams, reports, deadline;
	int64_t used, empty;
	int ret = 1;

	ASSERT_EQ_U64("collector", 0, -coll_start(&c, "sidecar", NULL, NULL));
	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", c.ipfix);
	setenv("POD_NAME", "web-7d9f8b6c5-x2x4z", 1);
	setenv("POD_NAMESPACE", "shop", 1);
	setenv("NODE_NAME", "node-7", 1);
	setenv("POD_APP", "web", 1);
	setenv("POD_IP", "10.77.0.1", 1);
	ASSERT_EQ_U64("sidecar start", 0,
		      sidecar_start(&sc, (const char *const[]){ "--cgroup", g_scope, "--interval",
								"300ms", "--stats-interval", "0",
								"--output", url, NULL }));
	ASSERT_EQ_U64("workload", 0, exchange(g_container, k, req, resp, &sport));
	out = wait_collected(&c, "out", sport, k);
	in = wait_collected(&c, "in", sport, k);
	ASSERT_EQ_U64("out connections at the collector", k, out.closed);
	ASSERT_EQ_U64("out bytes_sent", k * req, out.bytes_sent);
	ASSERT_EQ_U64("out bytes_received", k * resp, out.bytes_received);
	ASSERT_EQ_U64("in connections at the collector", k, in.closed);
	ASSERT_EQ_U64("in bytes_sent", k * resp, in.bytes_sent);
	ASSERT_EQ_U64("in bytes_received", k * req, in.bytes_received);
	collected(&c, "out", sport, &all);
	for (size_t i = 0; i < json_array_size(all); i++) {
		json_t *r = json_array_get(all, i);

		if (strcmp(rec_str(r, "direction"), "out") || rec_u64(r, "remote_port") != sport)
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
	}
	ASSERT_EQ_U64("sidecar stops", 0, sidecar_stop(&sc, 8000, NULL));
	ASSERT_EQ_U64("sidecar exit code", 0, WEXITSTATUS(sc.status));
	sent = sidecar_exit_stat(&sc, "ipfix_records_sent");
	datagrams = sidecar_exit_stat(&sc, "ipfix_datagrams_sent");
	ASSERT_TRUE("the sidecar's IPFIX stats", sent != UINT64_MAX && datagrams != UINT64_MAX);
	ASSERT_EQ_U64("nothing dropped by the exporter", 0,
		      sidecar_exit_stat(&sc, "drops_ipfix_queue") +
			  sidecar_exit_stat(&sc, "drops_ipfix_send") +
			  sidecar_exit_stat(&sc, "drops_ipfix_abandoned") +
			  sidecar_exit_stat(&sc, "drops_ipfix_not_encoded"));
	/* its last report goes at exit: every datagram decoded, every record taken */
	ASSERT_EQ_U64("datagrams decoded", datagrams,
		      wait_metric(&c, DECODED, (int64_t)datagrams, WAIT_MS));
	ASSERT_EQ_U64("records taken", sent, wait_metric(&c, ACCEPTED, (int64_t)sent, WAIT_MS));
	ASSERT_EQ_U64("none missed", 0, metric(&c, "podflow_collector_ipfix_missed_records_total"));
	/*
	 * The pod's address, claimed by every report, each used once; but a
	 * report in the same millisecond as the one before (the first, when
	 * the sidecar starts on a cut's millisecond; the one at exit, when
	 * SIGTERM comes in a cut's) spans no time and claims nothing: counted
	 * empty.  A report without records (the one at exit) waits in its
	 * exporter's batch in hand for up to 100 ms after its datagram is
	 * decoded.
	 */
	reports = sidecar_exit_stat(&sc, "ipfix_reports");
	deadline = harness_now_ms() + WAIT_MS;
	while ((used = metric(&c, HB_USED)) + (empty = metric(&c, HB_EMPTY)) < (int64_t)reports &&
	       harness_now_ms() < deadline)
		sleep_ms(20);
	ASSERT_EQ_U64("heartbeats used, or empty", reports, (uint64_t)(used + empty));
	ASSERT_TRUE("no report but the first and the last empty", empty >= 0 && empty <= 2);
	ASSERT_EQ_U64("heartbeats not used", 0,
		      metric(&c, "podflow_collector_ipfix_heartbeats_total{result=\"not_used\"}"));
	ASSERT_EQ_U64("written", sent, wait_written(&c, sent, WAIT_MS) ? sent : n_written(&c));
	ASSERT_EQ_U64("collector exits 0", 0, coll_stop(&c));
	ret = 0;
cleanup:
	if (ret && sc.err_text)
		fprintf(stderr, "    --- sidecar stderr ---\n%s    ---\n", sc.err_text);
	json_decref(all);
	sidecar_free(&sc);
	coll_free(&c, ret);
	unsetenv("POD_NAME");
	unsetenv("POD_NAMESPACE");
	unsetenv("NODE_NAME");
	unsetenv("POD_APP");
	unsetenv("POD_IP");
	return ret;
}

static const struct harness_test tests[] = {
	{ "same_as_http2", test_same_as_http2 },
	{ "loss_counted_as_gaps", test_loss_counted_as_gaps },
	{ "template_less_until_templates", test_template_less },
	{ "garbage_refused_no_sender", test_garbage_refused_no_sender },
	{ "receive_queue_overflow", test_receive_queue_overflow },
	{ "heartbeats_unverified", test_heartbeats_unverified },
	{ "sidecar_exports_udp", test_sidecar_exports_udp },
};

int main(int argc, char **argv)
{
	int failed = harness_require_root();

	if (failed)
		return failed;
	/* a private network namespace (nftables rules, ports) and a pod's cgroups */
	if (harness_pod_setup("podflow-ipfix", CONTAINER_ID, g_scope, g_container, sizeof(g_scope),
			      g_tmp, sizeof(g_tmp)))
		return 1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "curl_global_init: FAIL\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	log_init("integration_ipfix", getenv("IPFIX_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	failed = harness_run("ipfix", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
	curl_global_cleanup();
	harness_cgroup_destroy(g_scope);
	if (!failed)
		harness_sh("rm -rf %s", g_tmp);
	else
		fprintf(stderr, "  (outputs kept in %s)\n", g_tmp);
	return failed ? 1 : 0;
}
