// SPDX-License-Identifier: BSD-2-Clause
/* pf-send: load and replay tool for the collector: N senders post wire batches over HTTP/2 or IPFIX. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flow.h"
#include "cli.h"
#include "h2client.h"
#include "ipfix.h"
#include "listen_addr.h"
#include "log.h"
#include "wire.h"

#define EXIT_USAGE  2
#define MAX_SENDERS 4096
#define MAX_STATUS  600
#define BASE_MS	    1700000000000ull /* the fixed base time: Nov 2023, Unix ms */
#define INTERVAL_MS 10000ull	     /* a record's span, and a batch's by default */

/*
 * Senders use lib/h2client (nghttp2) rather than libcurl: libcurl 7.88
 * (Debian 12) cannot reuse an HTTP/2 prior-knowledge connection (curl
 * issue #10634), and a sender opening a connection per batch is not what a
 * sidecar does.
 */
struct opts {
	const char *url;
	const char *ipfix;	/* HOST:PORT: each batch as an IPFIX report over UDP instead */
	struct listen_addr dst; /* ipfix's, parsed */
	uint64_t rate;		/* IPFIX: records/s per sender, 0 = as fast as it can */
	uint32_t max_message;	/* IPFIX: bytes per datagram, 0 = the encoder's default */
	uint32_t senders;
	uint32_t batches;
	uint32_t records;
	uint32_t parallel; /* streams in flight per sender (its one connection) */
	uint32_t first_sender;
	uint64_t drops; /* reported per batch under each drop reason */
	enum wire_encoding enc;
	const char *token;
	const char *cacert;
	long timeout_ms;
	bool remote_peers; /* remote_addr: another sender's pod IP, not 198.18/15 */
	bool apps;	   /* each sender its own app and one of 10 namespaces */
	uint64_t span_ms;  /* 0: batch b spans [base + b*10 s, +10 s); else all [base, +span_ms) */
	bool now;	   /* base time: the wall clock at start, not BASE_MS */
	uint64_t ago_ms;   /* ... minus this */
	uint64_t base_ms;  /* set once, before any sender starts */
};

static const struct opts opts_defaults = {
	.senders = 1,
	.batches = 1,
	.records = 100,
	.parallel = 1,
	.enc = WIRE_ENC_ZSTD,
	.timeout_ms = 30000,
};

struct sender {
	const struct opts *o;
	uint32_t index; /* global: first_sender + i */
	pthread_t thread;
	uint64_t status[MAX_STATUS];
	uint64_t transport_errors;
	uint64_t unsent; /* batches never sent: the connection was gone */
	uint64_t connections;
	bool failed; /* a request got no response: stop sending */
	uint64_t bytes_sent;
	uint64_t records_sent;
	uint64_t records_ok;
	uint64_t datagrams; /* IPFIX: messages handed to the kernel */
	uint64_t send_errors;
	int fd; /* IPFIX: the sender's connected UDP socket */
	char first_error[256];
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: pf-send --url http[s]://HOST:PORT/v1/flows [options]\n"
	    "       pf-send --ipfix HOST:PORT [options]\n"
	    "N senders, each with its own HTTP/2 connection (prior knowledge, or TLS + ALPN h2) and identity (pod sender-<i>),\n"
	    "each POSTs M batches of R synthetic records; prints one JSON line of totals.\n"
	    "With --ipfix each sender has its own UDP socket and IPFIX exporter (observation domain\n"
	    "s + 1, docs/ipfix.md) and sends each batch as one report, templates first; UDP says\n"
	    "nothing back: records_ok is what was handed to the kernel, the collector's metrics say\n"
	    "what arrived.\n\n"
	    "  --senders N          concurrent senders (1)\n"
	    "  --batches M          batches per sender (1)\n"
	    "  --records R          records per batch (100)\n"
	    "  --parallel K         streams in flight on each sender's connection (1)\n"
	    "  --first-sender S     number the senders from S (0)\n"
	    "  --encoding ENC       zstd, gzip or identity (zstd)\n"
	    "  --drops N            report N drops of each reason in every batch header (0)\n"
	    "  --token T            send Authorization: Bearer T\n"
	    "  --cacert FILE        CA certificate for https:// URLs\n"
	    "  --timeout-ms MS      per-request timeout (30000)\n"
	    "  --rate R             IPFIX: at most R records/s per sender (0: as fast as it can)\n"
	    "  --max-message BYTES  IPFIX: largest datagram (512..65535; default 1400)\n"
	    "  --apps               sender s is app app-<s> (workload too) in namespace ns-<s %% 10>\n"
	    "                       (default: every sender is app pf-send in namespace bench)\n"
	    "  --remote peers       remote_ip of record r from sender s: the pod IP of sender\n"
	    "                       S + (s - S + 1 + r) %% N (S = --first-sender, N = --senders),\n"
	    "                       the IP that sender states in its heartbeats (default: 198.18.b.r)\n"
	    "  --span-ms MS         every batch's heartbeat span is [T0, T0 + MS), so a sender's\n"
	    "                       first batch covers the whole run; records lie inside it\n"
	    "  --now                base time T0 = the wall clock at start (ms), not 1700000000000\n"
	    "  --ago MS             base time T0 = the wall clock at start minus MS: heartbeats\n"
	    "                       older than the collector's grace are settled (decide at once)\n\n"
	    "Record r of batch b from sender s (all 0-based) has, among others:\n"
	    "  bytes_sent = s*10^12 + b*10^6 + r, bytes_received = 2*bytes_sent,\n"
	    "  segs_sent = r+1, segs_received = b+1, start_ms = T0 + b*10000 (T0 = 1700000000000),\n"
	    "  end_ms = start_ms + 10000, local_pod sender-<s>, local_ip 10.<s/256>.<s%%256>.1,\n"
	    "  cgroup_id 1000 + r%%4; batch b's heartbeat: local_ip over [start_ms, end_ms).\n"
	    "  With --span-ms MS: start_ms = T0 + (b %% k)*i, end_ms = start_ms + i, where\n"
	    "  i = min(10000, MS) and k = MS / i, so [start_ms, end_ms) lies in [T0, T0 + MS).\n"
	    "Exit status: 0 when every batch got 204, 1 otherwise, 2 for usage errors.\n");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void v4mapped(uint8_t addr[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	memset(addr, 0, 16);
	addr[10] = addr[11] = 0xff;
	addr[12] = a;
	addr[13] = b;
	addr[14] = c;
	addr[15] = d;
}

/* Batch b's records' span [*start, *end), inside its heartbeat's (see usage()). */
static void record_window(const struct opts *o, uint32_t b, uint64_t *start, uint64_t *end)
{
	uint64_t i = INTERVAL_MS;

	if (o->span_ms) {
		i = o->span_ms < INTERVAL_MS ? o->span_ms : INTERVAL_MS;
		*start = o->base_ms + (b % (o->span_ms / i)) * i;
	} else {
		*start = o->base_ms + (uint64_t)b * INTERVAL_MS;
	}
	*end = *start + i;
}

/* The synthetic record r of batch b from sender s: every value derivable by a test. */
static void make_record(const struct opts *o, uint32_t s, uint32_t b, uint32_t r,
			struct flow_record *rec, char *container, size_t clen)
{
	memset(rec, 0, sizeof(*rec));
	record_window(o, b, &rec->start_ms, &rec->end_ms);
	rec->family = 4;
	rec->direction = r % 2 ? FLOW_DIRECTION_IN : FLOW_DIRECTION_OUT;
	v4mapped(rec->local_addr, 10, (uint8_t)(s >> 8), (uint8_t)s, 1);
	if (o->remote_peers) {
		/* a peer's pod IP, as that peer states it in its heartbeats (build_batch) */
		uint32_t x = o->first_sender + (s - o->first_sender + 1 + r) % o->senders;

		v4mapped(rec->remote_addr, 10, (uint8_t)(x >> 8), (uint8_t)x, 1);
	} else {
		v4mapped(rec->remote_addr, 198, 18, (uint8_t)b, (uint8_t)r);
	}
	rec->local_port = (uint16_t)(r % 2 ? 8080 : 40000 + r % 20000);
	rec->remote_port = (uint16_t)(r % 2 ? 40000 + r % 20000 : 443);
	rec->flows = 1 + r % 3;
	rec->closed = r % 2;
	rec->bytes_sent = (uint64_t)s * 1000000000000ull + (uint64_t)b * 1000000 + r;
	rec->bytes_received = 2 * rec->bytes_sent;
	rec->segs_sent = r + 1;
	rec->segs_received = b + 1;
	rec->retransmits = r % 5;
	rec->resets = r % 7 == 0;
	rec->srtt_us = 100 + r;
	rec->min_rtt_us = 50 + r % 50;
	rec->pid = 1000 + s;
	snprintf(rec->comm, sizeof(rec->comm), "pf-send");
	rec->cgroup_id = 1000 + r % 4;
	snprintf(rec->container_id, sizeof(rec->container_id), "%064llx",
		 (unsigned long long)rec->cgroup_id);
	snprintf(container, clen, "app-%u", r % 4);
	rec->container = container;
}

/* One request slot: a batch in flight on the sender's connection. */
struct req {
	struct sender *sd;
	bool active;
	uint32_t batch;
	void *body; /* borrowed by h2c until `done` runs */
	size_t len;
};

static void set_error(struct sender *sd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(struct sender *sd, const char *fmt, ...)
{
	va_list ap;

	if (sd->first_error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(sd->first_error, sizeof(sd->first_error), fmt, ap);
	va_end(ap);
}

static int build_batch(struct sender *sd, struct wire_encoder *e, uint32_t b, struct req *rq)
{
	const struct opts *o = sd->o;
	char pod[64], app[64], ns[32], containers[4][16];
	uint8_t ip[1][16];
	struct wire_header h = { 0 };
	struct flow_record rec;
	const void *body;
	size_t len;
	int err;

	wire_encoder__reset(e);
	for (uint32_t r = 0; r < o->records; r++) {
		make_record(o, sd->index, b, r, &rec, containers[r % 4], sizeof(containers[0]));
		err = wire_encoder__add(e, &rec);
		if (err)
			return err;
	}
	snprintf(pod, sizeof(pod), "sender-%u", sd->index);
	snprintf(app, sizeof(app), "app-%u", sd->index);
	snprintf(ns, sizeof(ns), "ns-%u", sd->index % 10);
	h.sender_id = 0x7066000000000000ull + sd->index;
	h.seq = (uint64_t)b + 1;
	h.sender = (struct flow_identity){ .app = o->apps ? app : "pf-send",
					   .namespace = o->apps ? ns : "bench",
					   .pod = pod,
					   .node = "node-pf",
					   .workload = o->apps ? app : "pf-send" };
	if (o->span_ms) {
		h.span_start_ms = o->base_ms;
		h.span_end_ms = o->base_ms + o->span_ms;
	} else {
		record_window(o, b, &h.span_start_ms, &h.span_end_ms);
	}
	v4mapped(ip[0], 10, (uint8_t)(sd->index >> 8), (uint8_t)sd->index, 1);
	h.n_ips = 1;
	h.ips = (const uint8_t(*)[16])ip;
	for (int i = 0; i < WIRE_DROP__COUNT; i++)
		h.drops[i] = o->drops;
	err = wire_encoder__finish(e, &h, &body, &len);
	if (err)
		return err;
	/* the encoder's buffer is reused by the next batch: in-flight bodies need their own */
	free(rq->body);
	rq->body = malloc(len ? len : 1);
	if (!rq->body)
		return -ENOMEM;
	memcpy(rq->body, body, len);
	rq->len = len;
	return 0;
}

static void on_done(void *ctx, int err, int status, const char *retry_after, const char *body)
{
	struct req *rq = ctx;
	struct sender *sd = rq->sd;

	(void)retry_after;
	rq->active = false;
	if (err) {
		/* no response: the connection is gone (or refused the stream); this sender stops */
		sd->transport_errors++;
		sd->failed = true;
		set_error(sd, "batch %u: %s", rq->batch, strerror(-err));
		return;
	}
	if (status > 0 && status < MAX_STATUS)
		sd->status[status]++;
	if (status == 204)
		sd->records_ok += sd->o->records;
	else
		set_error(sd, "%d %.*s", status, (int)strcspn(body ? body : "", "\n"),
			  body ? body : "");
}

static void *sender_main(void *arg)
{
	struct sender *sd = arg;
	const struct opts *o = sd->o;
	struct h2c_opts ho = { .url = o->url,
			       .ca_file = o->cacert,
			       .max_streams = o->parallel,
			       .connect_timeout_ns = 10ull * 1000000000,
			       .request_timeout_ns = (uint64_t)o->timeout_ms * 1000000 };
	struct h2c_header hdr[3];
	struct wire_encoder *e = wire_encoder__new(o->enc, 0);
	struct req *reqs = calloc(o->parallel, sizeof(*reqs));
	char authz[4200], why[512];
	struct h2c *c = NULL;
	uint32_t next = 0, n_hdr = 0;

	if (!e || !reqs) {
		set_error(sd, "out of memory");
		goto cleanup;
	}
	c = h2c__new(&ho, why, sizeof(why));
	if (!c) {
		set_error(sd, "%s", why);
		goto cleanup;
	}
	hdr[n_hdr++] = (struct h2c_header){ "content-type", "application/octet-stream" };
	if (o->enc != WIRE_ENC_IDENTITY)
		hdr[n_hdr++] =
		    (struct h2c_header){ "content-encoding", wire_encoding_name(o->enc) };
	if (o->token) {
		snprintf(authz, sizeof(authz), "Bearer %s", o->token);
		hdr[n_hdr++] = (struct h2c_header){ "authorization", authz };
	}
	for (;;) {
		for (uint32_t i = 0; i < o->parallel && !sd->failed && next < o->batches; i++) {
			struct req *rq = &reqs[i];
			int err;

			if (rq->active)
				continue;
			err = build_batch(sd, e, next, rq);
			if (err) {
				set_error(sd, "cannot encode batch %u: %s", next, strerror(-err));
				sd->failed = true;
				break;
			}
			rq->sd = sd;
			rq->batch = next;
			rq->active = true;
			err = h2c__post(c, rq->body, rq->len, hdr, n_hdr, on_done, rq);
			if (err) {
				rq->active = false;
				set_error(sd, "post: %s", strerror(-err));
				sd->failed = true;
				break;
			}
			next++;
			sd->bytes_sent += rq->len;
			sd->records_sent += o->records;
		}
		if (!h2c__in_flight(c))
			break;
		h2c__run(c, 1000);
	}
cleanup:
	sd->unsent += o->batches - next;
	sd->connections = c ? h2c__connections(c) : 0;
	h2c__free(c);
	for (uint32_t i = 0; reqs && i < o->parallel; i++)
		free(reqs[i].body);
	free(reqs);
	wire_encoder__free(e);
	return NULL;
}

/* ---- IPFIX (--ipfix) ---------------------------------------------------------------- */

/* The encoder's message: one datagram on the sender's connected socket. */
static void ipfix_send(void *ctx, const void *msg, size_t len, uint32_t records)
{
	struct sender *sd = ctx;

	(void)records;
	if (send(sd->fd, msg, len, 0) == (ssize_t)len) {
		sd->datagrams++;
		sd->bytes_sent += len;
		return;
	}
	/* ECONNREFUSED: an ICMP port unreachable for an earlier datagram; nobody listens */
	sd->send_errors++;
	set_error(sd, "send: %s", strerror(errno));
}

/*
 * One exporter: batch b is one report (the same header and records an
 * HTTP/2 batch carries), so both transports carry the same load.
 */
static void *ipfix_sender_main(void *arg)
{
	struct sender *sd = arg;
	const struct opts *o = sd->o;
	struct ipfix_encoder_opts eo = { .domain_id = sd->index + 1,
					 .max_message = o->max_message };
	struct ipfix_encoder *e = NULL;
	char pod[64], app[64], ns[32], containers[4][16];
	struct flow_record rec;
	uint8_t ip[1][16];
	double t0 = now_s();
	uint32_t b = 0;

	sd->fd = socket(o->dst.ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sd->fd < 0 || connect(sd->fd, (const struct sockaddr *)&o->dst.ss, o->dst.len)) {
		set_error(sd, "socket: %s", strerror(errno));
		goto cleanup;
	}
	e = ipfix_encoder__new(&eo, ipfix_send, sd);
	if (!e) {
		set_error(sd, "ipfix_encoder__new: %s", strerror(errno));
		goto cleanup;
	}
	ipfix_encoder__send_templates(e, (uint32_t)(o->base_ms / 1000));
	for (; b < o->batches; b++) {
		struct wire_header h = { 0 };

		snprintf(pod, sizeof(pod), "sender-%u", sd->index);
		snprintf(app, sizeof(app), "app-%u", sd->index);
		snprintf(ns, sizeof(ns), "ns-%u", sd->index % 10);
		h.sender_id = 0x7066000000000000ull + sd->index;
		h.seq = (uint64_t)b + 1;
		h.sender = (struct flow_identity){ .app = o->apps ? app : "pf-send",
						   .namespace = o->apps ? ns : "bench",
						   .pod = pod,
						   .node = "node-pf",
						   .workload = o->apps ? app : "pf-send" };
		if (o->span_ms) {
			h.span_start_ms = o->base_ms;
			h.span_end_ms = o->base_ms + o->span_ms;
		} else {
			record_window(o, b, &h.span_start_ms, &h.span_end_ms);
		}
		v4mapped(ip[0], 10, (uint8_t)(sd->index >> 8), (uint8_t)sd->index, 1);
		h.n_ips = 1;
		h.ips = (const uint8_t(*)[16])ip;
		for (int i = 0; i < WIRE_DROP__COUNT; i++)
			h.drops[i] = o->drops;
		if (ipfix_encoder__begin(e, &h, (uint32_t)(h.span_end_ms / 1000))) {
			set_error(sd, "batch %u: the report's header does not fit a message", b);
			break;
		}
		for (uint32_t r = 0; r < o->records; r++) {
			make_record(o, sd->index, b, r, &rec, containers[r % 4],
				    sizeof(containers[0]));
			if (ipfix_encoder__add(e, &rec) == 0)
				sd->records_sent++;
		}
		ipfix_encoder__end(e);
		if (o->rate) {
			/* paced: record n leaves no earlier than n / rate seconds after the start */
			double ahead = (double)sd->records_sent / (double)o->rate - (now_s() - t0);

			if (ahead > 0) {
				struct timespec ts = {
					(time_t)ahead, (long)((ahead - (double)(time_t)ahead) * 1e9)
				};

				nanosleep(&ts, NULL);
			}
		}
	}
	/* what reached the kernel; the collector says what it took */
	sd->records_ok = sd->send_errors ? 0 : sd->records_sent;
	sd->status[204] = sd->send_errors ? 0 : b;
cleanup:
	sd->unsent += o->batches - b;
	ipfix_encoder__free(e);
	if (sd->fd >= 0)
		close(sd->fd);
	return NULL;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum {
		OPT_URL = 256,
		OPT_SENDERS,
		OPT_BATCHES,
		OPT_RECORDS,
		OPT_PARALLEL,
		OPT_FIRST,
		OPT_ENCODING,
		OPT_DROPS,
		OPT_TOKEN,
		OPT_CACERT,
		OPT_TIMEOUT,
		OPT_REMOTE,
		OPT_APPS,
		OPT_SPAN,
		OPT_NOW,
		OPT_AGO,
		OPT_IPFIX,
		OPT_RATE,
		OPT_MAX_MESSAGE,
		OPT_HELP,
	};
	static const struct option lo[] = {
		{ "url", required_argument, NULL, OPT_URL },
		{ "senders", required_argument, NULL, OPT_SENDERS },
		{ "batches", required_argument, NULL, OPT_BATCHES },
		{ "records", required_argument, NULL, OPT_RECORDS },
		{ "parallel", required_argument, NULL, OPT_PARALLEL },
		{ "first-sender", required_argument, NULL, OPT_FIRST },
		{ "encoding", required_argument, NULL, OPT_ENCODING },
		{ "drops", required_argument, NULL, OPT_DROPS },
		{ "token", required_argument, NULL, OPT_TOKEN },
		{ "cacert", required_argument, NULL, OPT_CACERT },
		{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
		{ "remote", required_argument, NULL, OPT_REMOTE },
		{ "apps", no_argument, NULL, OPT_APPS },
		{ "span-ms", required_argument, NULL, OPT_SPAN },
		{ "now", no_argument, NULL, OPT_NOW },
		{ "ago", required_argument, NULL, OPT_AGO },
		{ "ipfix", required_argument, NULL, OPT_IPFIX },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "max-message", required_argument, NULL, OPT_MAX_MESSAGE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t v;
	int c, idx = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, &idx)) != -1) {
		switch (c) {
		case OPT_URL:
			o->url = optarg;
			break;
		case OPT_SENDERS:
			if (cli_parse_u32(optarg, 1, MAX_SENDERS, &o->senders))
				goto bad;
			break;
		case OPT_BATCHES:
			if (cli_parse_u32(optarg, 1, 1u << 30, &o->batches))
				goto bad;
			break;
		case OPT_RECORDS:
			if (cli_parse_u32(optarg, 1, WIRE_MAX_RECORDS, &o->records))
				goto bad;
			break;
		case OPT_PARALLEL:
			if (cli_parse_u32(optarg, 1, 1024, &o->parallel))
				goto bad;
			break;
		case OPT_FIRST:
			if (cli_parse_u32(optarg, 0, 1000000, &o->first_sender))
				goto bad;
			break;
		case OPT_ENCODING:
			if (wire_encoding_parse(optarg, &o->enc))
				goto bad;
			break;
		case OPT_DROPS:
			if (cli_parse_u32(optarg, 0, 1u << 30, &v))
				goto bad;
			o->drops = v;
			break;
		case OPT_TOKEN:
			o->token = optarg;
			break;
		case OPT_CACERT:
			o->cacert = optarg;
			break;
		case OPT_TIMEOUT:
			if (cli_parse_u32(optarg, 1, 3600000, &v))
				goto bad;
			o->timeout_ms = v;
			break;
		case OPT_APPS:
			o->apps = true;
			break;
		case OPT_REMOTE:
			/* one mode for now; a word, so others can come without a new flag */
			if (strcmp(optarg, "peers") != 0) {
				fprintf(stderr, "pf-send: --remote %s: the only mode is peers\n",
					optarg);
				return -EINVAL;
			}
			o->remote_peers = true;
			break;
		case OPT_SPAN:
			/* up to 30 days: a run's whole time, never a date */
			if (cli_parse_u32(optarg, 1, 30u * 86400000u, &v))
				goto bad;
			o->span_ms = v;
			break;
		case OPT_NOW:
			o->now = true;
			break;
		case OPT_AGO:
			if (cli_parse_u32(optarg, 0, 30u * 86400000u, &v))
				goto bad;
			o->now = true;
			o->ago_ms = v;
			break;
		case OPT_IPFIX:
			o->ipfix = optarg;
			if (listen_addr_parse(optarg, &o->dst) || o->dst.any ||
			    !listen_addr_port((struct sockaddr *)&o->dst.ss)) {
				fprintf(stderr,
					"pf-send: --ipfix %s: expected IP:PORT or [IPv6]:PORT\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_RATE:
			if (cli_parse_u32(optarg, 0, 1u << 30, &v))
				goto bad;
			o->rate = v;
			break;
		case OPT_MAX_MESSAGE:
			if (cli_parse_u32(optarg, IPFIX_MIN_MESSAGE, IPFIX_MAX_MESSAGE, &v))
				goto bad;
			o->max_message = v;
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr,
				"pf-send: %s: unknown option or missing argument (see --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (!o->url == !o->ipfix || optind < argc) {
		fprintf(stderr, "pf-send: --url or --ipfix is required, and nothing else (see "
				"--help)\n");
		return -EINVAL;
	}

	if (o->first_sender + o->senders > 65536) {
		fprintf(stderr, "pf-send: sender numbers must stay below 65536\n");
		return -EINVAL;
	}
	return 0;
bad:
	fprintf(stderr, "pf-send: --%s %s: out of range or not a number (see --help)\n",
		lo[idx].name, optarg);
	return -EINVAL;
}

/* Wall-clock Unix milliseconds. */
static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	struct opts o = opts_defaults;
	struct sender *sd;
	uint64_t status[MAX_STATUS] = { 0 }, errors = 0, unsent = 0, bytes = 0, sent = 0, ok = 0,
		 conns = 0, datagrams = 0, send_errors = 0;
	const char *first_error = "";
	double t0, elapsed;
	bool first = true;

	log_init("pf-send", LOG_LEVEL_WARN);
	if (parse_args(argc, argv, &o))
		return EXIT_USAGE;
	/*
	 * The collector's attribution prunes ownership that ended more than
	 * its retention (1 h) ago and treats heartbeats older than its grace
	 * as all in: a 2023 base time makes every peer look long gone.
	 */
	o.base_ms = o.now ? wall_ms() - o.ago_ms : BASE_MS;
	signal(SIGPIPE, SIG_IGN);
	if (!o.ipfix) {
		/* URL and CA problems are usage errors: found before any sender starts */
		struct h2c_opts ho = { .url = o.url, .ca_file = o.cacert, .max_streams = 1 };
		char why[512];
		struct h2c *c = h2c__new(&ho, why, sizeof(why));

		if (!c) {
			fprintf(stderr, "pf-send: %s\n", why);
			return EXIT_USAGE;
		}
		h2c__free(c);
	}
	sd = calloc(o.senders, sizeof(*sd));
	if (!sd) {
		fprintf(stderr, "pf-send: out of memory\n");
		return 1;
	}
	t0 = now_s();
	for (uint32_t i = 0; i < o.senders; i++) {
		sd[i].o = &o;
		sd[i].index = o.first_sender + i;
		sd[i].fd = -1;
		if (pthread_create(&sd[i].thread, NULL, o.ipfix ? ipfix_sender_main : sender_main,
				   &sd[i])) {
			fprintf(stderr, "pf-send: cannot start sender %u\n", i);
			return 1;
		}
	}
	for (uint32_t i = 0; i < o.senders; i++) {
		pthread_join(sd[i].thread, NULL);
		for (int c = 0; c < MAX_STATUS; c++)
			status[c] += sd[i].status[c];
		errors += sd[i].transport_errors;
		unsent += sd[i].unsent;
		conns += sd[i].connections;
		bytes += sd[i].bytes_sent;
		sent += sd[i].records_sent;
		ok += sd[i].records_ok;
		datagrams += sd[i].datagrams;
		send_errors += sd[i].send_errors;
		if (!first_error[0] && sd[i].first_error[0])
			first_error = sd[i].first_error;
	}
	elapsed = now_s() - t0;

	printf("{\"transport\":\"%s\",\"senders\":%u,\"batches\":%llu,\"records_per_batch\":%u,"
	       "\"batches_ok\":%llu,",
	       o.ipfix ? "ipfix" : "http2", o.senders, (unsigned long long)o.senders * o.batches,
	       o.records, (unsigned long long)status[204]);
	if (o.ipfix)
		printf("\"datagrams\":%llu,\"send_errors\":%llu,", (unsigned long long)datagrams,
		       (unsigned long long)send_errors);
	printf("\"status\":{");
	for (int c = 0; c < MAX_STATUS; c++) {
		if (!status[c])
			continue;
		printf("%s\"%d\":%llu", first ? "" : ",", c, (unsigned long long)status[c]);
		first = false;
	}
	printf("},\"transport_errors\":%llu,\"unsent\":%llu,\"connections\":%llu,"
	       "\"records_sent\":%llu,"
	       "\"records_ok\":%llu,\"bytes_sent\":%llu,\"elapsed_s\":%.3f,\"records_per_s\":%.0f,"
	       "\"first_error\":\"",
	       (unsigned long long)errors, (unsigned long long)unsent, (unsigned long long)conns,
	       (unsigned long long)sent, (unsigned long long)ok, (unsigned long long)bytes, elapsed,
	       elapsed > 0 ? (double)ok / elapsed : 0.0);
	for (const char *p = first_error; *p; p++)
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p >= 0x20)
			putchar(*p);
	printf("\"}\n");
	fflush(stdout);
	free(sd);
	return status[204] == (uint64_t)o.senders * o.batches ? 0 : 1;
}
