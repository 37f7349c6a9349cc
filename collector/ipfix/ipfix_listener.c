// SPDX-License-Identifier: BSD-2-Clause
/* The collector's IPFIX ingest: UDP sockets and threads, each decoding into the ingest path. */
#define _GNU_SOURCE
#include "ipfix_listener.h"

#include <errno.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "hold_journal.h"
#include "ip.h"
#include "ipfix.h"
#include "ipfix_exporters.h"
#include "listen_addr.h"
#include "log.h"
#include "metrics.h"
#include "output.h"
#include "stats.h"

#define BATCH	     32	   /* datagrams per recvmmsg */
#define DGRAM_MAX    65536 /* an IPFIX message is at most 65535 bytes (its u16 length) */
#define ROUNDS	     64	   /* recvmmsg calls before the stop eventfd is looked at again */
#define DRAIN_ROUNDS 1024  /* at stop: at most this many calls to take what is queued */

/*
 * A report's messages are gathered into one batch (one write of its
 * records, not one per datagram: a gzip member and a write(2) each), for
 * at most GATHERS exporters at once, GATHER_MAX_RECORDS records and
 * GATHER_MAX_NS; and no longer than the socket has more to read.
 */
#define GATHERS		   8
#define GATHER_MAX_RECORDS 4096
#define GATHER_MAX_NS	   (100ull * 1000 * 1000)

/* A batch in hand: messages of one exporter's report, copied out of the decoder. */
struct gather {
	bool open;
	bool claims; /* its first message's heartbeat claims addresses */
	uint64_t opened_ns;
	struct ipfix_exporter_key key;
	struct wire_batch b; /* sender and ips point into strs and ips */
	char strs[5][WIRE_MAX_STRING + 1];
	uint8_t ips[WIRE_MAX_IPS][16];
	struct flow_record *recs; /* container: set at the flush, from name_at */
	uint32_t *name_at;	  /* per record: where its container name is in arena */
	uint32_t n, cap;
	char *arena;
	size_t arena_len, arena_cap;
};

/* What each worker counts besides its decoder; written by the worker only. */
struct counts {
	uint64_t bytes;		    /* datagram bytes received */
	uint64_t refused_source;    /* not from ipfix.allow_cidrs */
	uint64_t oversize;	    /* cut by the buffer (MSG_TRUNC): cannot be an IPFIX message */
	uint64_t decode_errors;	    /* the decoder ran out of memory */
	uint64_t rxq_drops;	    /* the kernel's receive-queue drops (SO_RXQ_OVFL) */
	uint64_t records_accepted;  /* written, or held for attribution */
	uint64_t records_no_sender; /* the exporter's identity unknown: refused */
	uint64_t records_outputs_refused; /* their message refused by the outputs: dropped */
	uint64_t records_time_rejected; /* out of the ingest time bounds (also records_rejected) */
	uint64_t records_error;		/* no memory to attribute them: dropped */
	uint64_t heartbeats_used, heartbeats_not_used, heartbeats_no_sender;
	/* reports naming pod IPs over a span of no time (two in one ms): nothing to claim */
	uint64_t heartbeats_empty;
};

struct worker {
	struct ipfix_listener *l;
	uint32_t id;
	int fd, ev_fd;
	struct ipfix_decoder *dec;
	struct ingest *ingest;
	struct outputs *outputs;	     /* for the backoff check */
	struct output_writer *writer;	     /* this worker's */
	struct hold_journal_writer *journal; /* this worker's; NULL: none */
	bool attributing;		     /* heartbeats are used (or refused) at all */
	struct stats stats;		     /* its ingest's (atomics) */
	struct ipfix_exporters *exporters;
	struct gather g[GATHERS]; /* the batches in hand, one per exporter at most */
	struct counts c;
	uint32_t rxq_seen; /* the socket's drop count as last reported */
	bool warned_malformed, warned_refused, warned_oversize, warned_error;
	/* what the scrape reads, copied after each round of datagrams */
	pthread_mutex_t lock;
	struct counts pub;
	struct ipfix_decoder_stats pub_dec;
	/* recvmmsg's */
	uint8_t *bufs;
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage from[BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(uint32_t))];
		struct cmsghdr align;
	} ctl[BATCH];
	pthread_t thread;
	bool started;
	int result;
};

struct ipfix_listener {
	struct ipfix_listener_opts o;
	struct listen_addr la;
	struct worker *w;
	uint32_t n;
	int rcvbuf; /* the kernel's */
	bool stopped;
};

/* ---- sockets ------------------------------------------------------------------------ */

/*
 * Worker i's socket on the listener's address.  SO_REUSEPORT: the kernel
 * hashes each datagram's 4-tuple to one socket of the group, so one
 * exporter (its address and port) always reaches the same worker while the
 * group does not change.  The receive buffer is what absorbs a burst (every
 * sidecar reports at its interval's end): SO_RCVBUFFORCE goes past
 * net.core.rmem_max with CAP_NET_ADMIN, else SO_RCVBUF is capped by it.
 */
static int open_socket(struct ipfix_listener *l, uint32_t i, char *why, size_t len)
{
	struct listen_addr *la = &l->la;
	int one = 1, zero = 0, fd, buf = (int)l->o.rcvbuf, got = 0, err;
	socklen_t gl = sizeof(got);
	char addr[96];

	fd = socket(la->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && i == 0 && la->any && errno == EAFNOSUPPORT) {
		/* a kernel without IPv6: ":PORT" means every IPv4 address */
		listen_addr_v4_any(la);
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)))
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)))
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl))
		goto fail;
	if (la->ss.ss_family == AF_INET6 && la->any &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)))
		goto fail;
	if (bind(fd, (struct sockaddr *)&la->ss, la->len))
		goto fail;
	if (i == 0 && listen_addr_port((struct sockaddr *)&la->ss) == 0) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		/* port 0: the first bind picks it, the others join it */
		if (getsockname(fd, (struct sockaddr *)&ss, &sl))
			goto fail;
		listen_addr_set_port(la, listen_addr_port((struct sockaddr *)&ss));
	}
	l->rcvbuf = got;
	return fd;
fail:
	err = -errno;
	snprintf(why, len, "--ipfix-listen %s: %s",
		 listen_addr_format((struct sockaddr *)&la->ss, addr, sizeof(addr)),
		 strerror(-err));
	if (fd >= 0)
		close(fd);
	return err;
}

/* ---- one datagram --------------------------------------------------------------------- */

static bool allowed(const struct ipfix_listener *l, const uint8_t addr[16])
{
	const struct config_cidrs *c = l->o.allow;

	for (uint32_t i = 0; i < c->n; i++)
		if (ip_cidr_contains(&c->cidr[i], addr))
			return true;
	return false;
}

/*
 * The socket's drop count (sk_drops: cumulative, mod 2^32) as read now:
 * what is new since the last reading counts.  A datagram queued before
 * later drops carries an older value than a reading taken meanwhile.
 */
static void rxq_seen(struct worker *w, uint32_t v)
{
	if ((int32_t)(v - w->rxq_seen) <= 0)
		return;
	w->c.rxq_drops += v - w->rxq_seen;
	w->rxq_seen = v;
}

/* The drop count the kernel stamps on each datagram (socket(7), SO_RXQ_OVFL). */
static void rxq_drops(struct worker *w, struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		uint32_t v;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SO_RXQ_OVFL ||
		    cm->cmsg_len < CMSG_LEN(sizeof(v)))
			continue;
		memcpy(&v, CMSG_DATA(cm), sizeof(v));
		rxq_seen(w, v);
	}
}

/*
 * The same count read directly (SO_MEMINFO, SK_MEMINFO_DROPS), once the
 * socket is empty: drops after the last datagram queued reach no cmsg
 * until another datagram comes, which may be an interval later.
 */
static void rxq_drops_now(struct worker *w)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mem);

	if (getsockopt(w->fd, SOL_SOCKET, SO_MEMINFO, mem, &len) == 0 &&
	    len > SK_MEMINFO_DROPS * sizeof(mem[0]))
		rxq_seen(w, mem[SK_MEMINFO_DROPS]);
}

/* One line for the first of a kind per worker; the metric counts them all. */
static void warn_once(struct worker *w, bool *warned, const struct ipfix_source *src,
		      const char *what, const char *metric)
{
	char ip[IP_TEXT_MAX];

	pr_debug("ipfix worker %u: datagram from %s port %u: %s", w->id,
		 ip_format(src->addr, ip, sizeof(ip)), src->port, what);
	if (*warned)
		return;
	*warned = true;
	pr_warn("ipfix worker %u: datagram from %s port %u: %s; further ones are only counted "
		"(%s)",
		w->id, ip_format(src->addr, ip, sizeof(ip)), src->port, what, metric);
}

/*
 * A batch in hand, handed to the ingest path as an HTTP/2 batch is.  UDP
 * has no backpressure: a batch the outputs refuse is dropped and counted,
 * never retried.
 */
static void flush(struct worker *w, struct gather *g, uint64_t now_ns)
{
	static const struct ingest_proof proof = {
		.missing = "IPFIX carries no " INGEST_IDENTITY_HEADER " token",
	};
	struct wire_batch *b = &g->b;
	uint32_t n = g->n;
	struct ingest_result res;
	int err;

	if (!g->open)
		return;
	g->open = false;
	b->records = g->recs;
	b->n_records = n;
	for (uint32_t i = 0; i < n; i++) {
		g->recs[i].local = &b->sender;
		g->recs[i].container = g->arena + g->name_at[i];
	}
	if (outputs__backoff(w->outputs, w->writer, now_ns) ||
	    (w->journal && hold_journal__backoff(w->journal, now_ns))) {
		/* the disk failed a moment ago: as HTTP/2's early 429, without the retry */
		w->c.records_outputs_refused += n;
		w->c.heartbeats_not_used += g->claims;
		return;
	}
	err = ingest__batch(w->ingest, b, &proof, &res);
	w->c.records_time_rejected += n - b->n_records;
	if (g->claims) {
		if (res.heartbeat)
			w->c.heartbeats_used++;
		else
			w->c.heartbeats_not_used++;
	}
	switch (res.failed) {
	case INGEST_FAILED_NONE:
		w->c.records_accepted += b->n_records;
		return;
	case INGEST_FAILED_ATTRIBUTE:
		w->c.records_error += b->n_records;
		break;
	case INGEST_FAILED_JOURNAL:
	case INGEST_FAILED_WRITE:
		/* the outputs and the journal log each episode once */
		w->c.records_outputs_refused += b->n_records;
		break;
	}
	pr_debug("ipfix worker %u: %u records of sender %016llx dropped: %s", w->id, b->n_records,
		 (unsigned long long)b->sender_id, strerror(-err));
}

/* Every batch in hand (all: the socket is empty, or the worker stops), or those open too long. */
static void flush_all(struct worker *w, uint64_t now_ns, bool old_only)
{
	for (int i = 0; i < GATHERS; i++)
		if (w->g[i].open && (!old_only || now_ns - w->g[i].opened_ns >= GATHER_MAX_NS))
			flush(w, &w->g[i], now_ns);
}

/* Room for n more records and `names` more bytes of names; 0 or -ENOMEM. */
static int gather_room(struct gather *g, uint32_t n, size_t names)
{
	if (g->n + n > g->cap) {
		uint32_t cap = g->cap ? g->cap : 64;
		struct flow_record *r;
		uint32_t *at;

		while (cap < g->n + n)
			cap *= 2;
		r = realloc(g->recs, (size_t)cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		g->recs = r;
		at = realloc(g->name_at, (size_t)cap * sizeof(*at));
		if (!at)
			return -ENOMEM;
		g->name_at = at;
		g->cap = cap;
	}
	if (g->arena_len + names > g->arena_cap) {
		size_t cap = g->arena_cap ? g->arena_cap : 4096;
		char *a;

		while (cap < g->arena_len + names)
			cap *= 2;
		a = realloc(g->arena, cap);
		if (!a)
			return -ENOMEM;
		g->arena = a;
		g->arena_cap = cap;
	}
	return 0;
}

static bool same_exporter(const struct ipfix_exporter_key *a, const struct ipfix_exporter_key *b)
{
	return a->port == b->port && a->domain == b->domain && !memcmp(a->addr, b->addr, 16);
}

/* The batch in hand for exporter k, or NULL. */
static struct gather *gather_find(struct worker *w, const struct ipfix_exporter_key *k)
{
	for (int i = 0; i < GATHERS; i++)
		if (w->g[i].open && same_exporter(&w->g[i].key, k))
			return &w->g[i];
	return NULL;
}

/* The batch in hand for exporter k, or a slot for one (the oldest flushed if none is free). */
static struct gather *gather_of(struct worker *w, const struct ipfix_exporter_key *k,
				uint64_t now_ns)
{
	struct gather *g = gather_find(w, k), *oldest = NULL;

	if (g)
		return g;
	for (int i = 0; i < GATHERS; i++) {
		if (!w->g[i].open)
			return &w->g[i];
		if (!oldest || w->g[i].opened_ns < oldest->opened_ns)
			oldest = &w->g[i];
	}
	flush(w, oldest, now_ns);
	return oldest;
}

/*
 * A decoded message joins its exporter's batch in hand.  The first message
 * of a report (its identity and report records: the sender, the
 * heartbeat, the drops) starts a batch; the exporter's next messages of no
 * other report join it.  Records without a known sender are refused (the
 * decoder never guesses one), and so is their heartbeat.
 */
static void take(struct worker *w, const struct ipfix_exporter_key *k, struct ipfix_msg *m,
		 uint64_t now_ns)
{
	const struct wire_batch *mb = &m->batch;
	bool names_ips = w->attributing && m->has_report && mb->n_ips;
	bool claims = names_ips && wire_batch_claims(mb);
	struct gather *g;
	size_t names = 0;

	if (!m->sender_known) {
		w->c.records_no_sender += mb->n_records;
		w->c.heartbeats_no_sender += claims;
		return;
	}
	w->c.heartbeats_empty += names_ips && !claims;
	if (!mb->n_records && !m->has_report) {
		/* templates (or an identity alone): nothing to write or claim */
		if (m->has_identity && (g = gather_find(w, k)))
			flush(w, g, now_ns); /* what comes next may be another sender's */
		return;
	}
	g = gather_of(w, k, now_ns);
	if (g->open && (m->has_identity || m->has_report || mb->sender_id != g->b.sender_id ||
			g->n + mb->n_records > GATHER_MAX_RECORDS))
		flush(w, g, now_ns);
	if (!g->open) {
		g->open = true;
		g->opened_ns = now_ns;
		g->key = *k;
		g->n = 0;
		g->arena_len = 0;
		g->claims = claims;
		g->b = *mb;
		g->b.records = NULL;
		g->b.n_records = 0;
		/* the sender's strings and the pod IPs: the decoder's until its next call */
		for (int i = 0; i < 5; i++) {
			const char **f = i == 0	  ? &g->b.sender.pod
					 : i == 1 ? &g->b.sender.namespace
					 : i == 2 ? &g->b.sender.node
					 : i == 3 ? &g->b.sender.app
						  : &g->b.sender.workload;

			snprintf(g->strs[i], sizeof(g->strs[i]), "%s", *f ? *f : "");
			*f = g->strs[i];
		}
		if (mb->n_ips)
			memcpy(g->ips, mb->ips, (size_t)mb->n_ips * sizeof(g->ips[0]));
		g->b.ips = (const uint8_t(*)[16])g->ips;
	}
	for (uint32_t i = 0; i < mb->n_records; i++)
		names += strlen(mb->records[i].container) + 1;
	if (gather_room(g, mb->n_records, names)) {
		w->c.records_error += mb->n_records;
		return;
	}
	for (uint32_t i = 0; i < mb->n_records; i++) {
		size_t len = strlen(mb->records[i].container);

		g->recs[g->n] = mb->records[i];
		g->name_at[g->n++] = (uint32_t)g->arena_len;
		memcpy(g->arena + g->arena_len, mb->records[i].container, len + 1);
		g->arena_len += len + 1;
	}
}

static void datagram(struct worker *w, uint32_t i, uint64_t now_ns)
{
	struct msghdr *mh = &w->msgs[i].msg_hdr;
	size_t len = w->msgs[i].msg_len;
	struct ipfix_source src = { 0 };
	struct ipfix_exporter_key k = { 0 };
	struct ipfix_exporter_counts add;
	struct ipfix_msg *m;
	char what[300];
	int err;

	rxq_drops(w, mh);
	w->c.bytes += len;
	if (ip_from_sockaddr((struct sockaddr *)&w->from[i], src.addr))
		return; /* not an IP datagram: cannot happen on an AF_INET(6) socket */
	src.port = listen_addr_port((struct sockaddr *)&w->from[i]);
	if (!allowed(w->l, src.addr)) {
		w->c.refused_source++;
		warn_once(w, &w->warned_refused, &src,
			  "refused: the source is not in ipfix.allow_cidrs",
			  "podflow_collector_ipfix_datagrams_total{result=\"refused_source\"}");
		return;
	}
	if (mh->msg_flags & MSG_TRUNC) {
		w->c.oversize++;
		warn_once(w, &w->warned_oversize, &src, "refused: larger than any IPFIX message",
			  "podflow_collector_ipfix_datagrams_total{result=\"oversize\"}");
		return;
	}
	err = ipfix_decoder__decode(w->dec, &src, w->iov[i].iov_base, len, &m);
	if (err) {
		snprintf(what, sizeof(what), "refused: %s", ipfix_decoder__error(w->dec));
		if (err == -ENOMEM) {
			w->c.decode_errors++;
			warn_once(w, &w->warned_error, &src, what,
				  "podflow_collector_ipfix_datagrams_total{result=\"error\"}");
		} else {
			warn_once(w, &w->warned_malformed, &src, what,
				  "podflow_collector_ipfix_datagrams_total{result=\"malformed\"} "
				  "and {result=\"unsupported\"}");
		}
		return;
	}
	add = (struct ipfix_exporter_counts){
		.sequence_gaps = m->seq_status == IPFIX_SEQ_GAP,
		.missed_records = m->missed,
		.unknown_sets = m->unknown_sets,
	};
	k.port = src.port;
	k.domain = m->domain_id;
	memcpy(k.addr, src.addr, 16);
	ipfix_exporters__seen(w->exporters, &k, &add);
	take(w, &k, m, now_ns);
}

/* What the scrape reads: every counter as of the end of this round. */
static void publish(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->pub = w->c;
	w->pub_dec = *ipfix_decoder__stats(w->dec);
	pthread_mutex_unlock(&w->lock);
}

/* Up to `rounds` recvmmsg calls, until the socket is empty.  0, or -errno (the loop fails). */
static int receive(struct worker *w, int rounds)
{
	int err = 0;

	for (int r = 0; r < rounds; r++) {
		uint64_t now;
		int n;

		for (uint32_t i = 0; i < BATCH; i++) {
			struct msghdr *mh = &w->msgs[i].msg_hdr;

			mh->msg_name = &w->from[i];
			mh->msg_namelen = sizeof(w->from[i]);
			mh->msg_iov = &w->iov[i];
			mh->msg_iovlen = 1;
			mh->msg_control = w->ctl[i].buf;
			mh->msg_controllen = sizeof(w->ctl[i].buf);
			mh->msg_flags = 0;
		}
		n = recvmmsg(w->fd, w->msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EBADF || errno == EFAULT || errno == EINVAL ||
			    errno == ENOTSOCK) {
				/* the socket itself is broken: the collector stops (logged) */
				err = -errno;
				pr_warn("ipfix worker %u: recvmmsg: %s", w->id, strerror(-err));
			} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* ENOMEM and the like: the next wake-up tries again */
				pr_debug("ipfix worker %u: recvmmsg: %s", w->id, strerror(errno));
			}
			break;
		}
		now = clock_mono_ns();
		for (int i = 0; i < n; i++)
			datagram(w, (uint32_t)i, now);
		if (n < BATCH)
			break;
		flush_all(w, now, /*old_only=*/true);
		publish(w);
	}
	/* the socket is empty (or failing, or ROUNDS were taken: back soon): what is in hand goes */
	flush_all(w, clock_mono_ns(), /*old_only=*/false);
	rxq_drops_now(w);
	publish(w);
	return err;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	struct pollfd pf[2] = { { .fd = w->fd, .events = POLLIN },
				{ .fd = w->ev_fd, .events = POLLIN } };

	for (;;) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			pr_warn("ipfix worker %u: poll: %s", w->id, strerror(errno));
			w->result = -EIO;
			break;
		}
		if (pf[1].revents) {
			/* stop: what the socket holds already arrived, take it */
			receive(w, DRAIN_ROUNDS);
			break;
		}
		if ((pf[0].revents & POLLIN) && receive(w, ROUNDS)) {
			w->result = -EIO;
			break;
		}
	}
	publish(w);
	if (w->result) {
		uint64_t one = 1;

		if (write(w->l->o.died_fd, &one, sizeof(one)) < 0)
			pr_warn("ipfix worker %u: cannot tell the main thread it stopped", w->id);
	}
	return NULL;
}

/* ---- the listener --------------------------------------------------------------------- */

static int worker_init(struct ipfix_listener *l, struct worker *w, uint32_t i,
		       const struct ingest_opts *io, char *why, size_t len)
{
	struct ipfix_decoder_opts dopts = {
		.pen = l->o.pen,
		.max_exporters = l->o.max_exporters,
		.max_templates = l->o.max_templates,
		.withdrawals = false, /* UDP: RFC 7011 section 8.4 */
	};
	char w_why[256];

	w->l = l;
	w->id = i;
	w->ev_fd = -1;
	pthread_mutex_init(&w->lock, NULL);
	w->fd = open_socket(l, i, why, len);
	if (w->fd < 0)
		return w->fd;
	w->ev_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->ev_fd < 0) {
		int err = -errno;

		snprintf(why, len, "ipfix worker %u: eventfd: %s", i, strerror(-err));
		return err;
	}
	w->dec = ipfix_decoder__new(&dopts);
	w->exporters = ipfix_exporters__new(l->o.max_exporters);
	w->bufs = malloc((size_t)BATCH * DGRAM_MAX);
	if (!w->dec || !w->exporters || !w->bufs) {
		snprintf(why, len, "ipfix worker %u: %s", i, strerror(errno));
		return -ENOMEM;
	}
	for (uint32_t k = 0; k < BATCH; k++) {
		w->iov[k].iov_base = w->bufs + (size_t)k * DGRAM_MAX;
		w->iov[k].iov_len = DGRAM_MAX;
	}
	w->ingest = ingest__new(io, &w->stats, w_why, sizeof(w_why));
	if (!w->ingest) {
		snprintf(why, len, "ipfix worker %u: %s", i, w_why);
		return -ENOMEM;
	}
	w->outputs = io->outputs;
	w->writer = io->writer;
	w->journal = io->attr ? io->journal : NULL;
	w->attributing = io->attr != NULL;
	return 0;
}

static void worker_fini(struct worker *w)
{
	if (!w->l)
		return;
	ingest__free(w->ingest);
	ipfix_decoder__free(w->dec);
	ipfix_exporters__free(w->exporters);
	free(w->bufs);
	for (int i = 0; i < GATHERS; i++) {
		free(w->g[i].recs);
		free(w->g[i].name_at);
		free(w->g[i].arena);
	}
	if (w->fd >= 0)
		close(w->fd);
	if (w->ev_fd >= 0)
		close(w->ev_fd);
	pthread_mutex_destroy(&w->lock);
}

struct ipfix_listener *ipfix_listener__new(const struct ipfix_listener_opts *o, char *why,
					   size_t len)
{
	struct ipfix_listener *l;
	int err = EINVAL;

	if (!o->workers || !o->allow || !o->ingest) {
		snprintf(why, len, "ipfix: no workers, allow-list or ingest");
		errno = EINVAL;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(why, len, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	l->o = *o;
	l->o.ingest = NULL; /* borrowed only for __new */
	if (listen_addr_parse(o->listen, &l->la)) {
		snprintf(why, len, "--ipfix-listen %s: expected :PORT, IP:PORT or [IPv6]:PORT",
			 o->listen);
		goto fail;
	}
	l->w = calloc(o->workers, sizeof(*l->w));
	if (!l->w) {
		snprintf(why, len, "out of memory");
		err = ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < o->workers; i++) {
		int e = worker_init(l, &l->w[i], i, &o->ingest[i], why, len);

		l->n = i + 1;
		if (e) {
			err = -e;
			goto fail;
		}
	}
	return l;
fail:
	ipfix_listener__free(l);
	errno = err;
	return NULL;
}

int ipfix_listener__start(struct ipfix_listener *l)
{
	for (uint32_t i = 0; i < l->n; i++) {
		int err = pthread_create(&l->w[i].thread, NULL, run, &l->w[i]);

		if (err)
			return -err;
		l->w[i].started = true;
	}
	return 0;
}

int ipfix_listener__stop(struct ipfix_listener *l)
{
	uint64_t one = 1;
	int ret = 0;

	if (!l || l->stopped)
		return 0;
	l->stopped = true;
	for (uint32_t i = 0; i < l->n; i++)
		if (l->w[i].started && write(l->w[i].ev_fd, &one, sizeof(one)) < 0)
			pr_warn("ipfix worker %u: cannot signal it to stop: %s", i,
				strerror(errno));
	for (uint32_t i = 0; i < l->n; i++) {
		if (!l->w[i].started)
			continue;
		pthread_join(l->w[i].thread, NULL);
		l->w[i].started = false;
		if (l->w[i].result)
			ret = -EIO;
	}
	return ret;
}

void ipfix_listener__free(struct ipfix_listener *l)
{
	if (!l)
		return;
	ipfix_listener__stop(l);
	for (uint32_t i = 0; l->w && i < l->n; i++)
		worker_fini(&l->w[i]);
	free(l->w);
	free(l);
}

const char *ipfix_listener__describe(const struct ipfix_listener *l, char *buf, size_t len)
{
	char addr[96];

	snprintf(buf, len, "%s (UDP, %u worker%s, receive buffer %d bytes each, from %u CIDRs)",
		 listen_addr_format((const struct sockaddr *)&l->la.ss, addr, sizeof(addr)), l->n,
		 l->n == 1 ? "" : "s", l->rcvbuf, l->o.allow->n);
	return buf;
}

const char *ipfix_listener__address(const struct ipfix_listener *l, char *buf, size_t len)
{
	return listen_addr_format((const struct sockaddr *)&l->la.ss, buf, len);
}

bool ipfix_listener__beyond_loopback(const struct ipfix_listener *l)
{
	return !listen_addr_is_loopback(&l->la);
}

uint64_t ipfix_listener__rcvbuf(const struct ipfix_listener *l)
{
	return (uint64_t)l->rcvbuf;
}

void ipfix_listener__sum_stats(const struct ipfix_listener *l, struct stats *sum)
{
	for (uint32_t i = 0; l && i < l->n; i++)
		stats_sum(sum, &l->w[i].stats);
}

/* ---- metrics ---------------------------------------------------------------------------- */

static int key_cmp(const void *a, const void *b)
{
	const struct ipfix_exporter_key *x = &((const struct ipfix_exporter_entry *)a)->key;
	const struct ipfix_exporter_key *y = &((const struct ipfix_exporter_entry *)b)->key;
	int c = memcmp(x->addr, y->addr, 16);

	if (c)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->domain < y->domain ? -1 : x->domain > y->domain;
}

/*
 * Every worker's exporters, sorted, one entry per key: the kernel keeps an
 * exporter on one socket, but a datagram that came before the group was
 * whole (port 0 at start) may have met another.  *n of them, malloc'd.
 */
static struct ipfix_exporter_entry *exporters_all(struct ipfix_listener *l, uint32_t *n)
{
	struct ipfix_exporter_entry *e;
	uint64_t cap = 0;
	uint32_t k = 0, j = 0;

	*n = 0;
	for (uint32_t i = 0; i < l->n; i++)
		cap += ipfix_exporters__count(l->w[i].exporters);
	e = malloc((cap ? cap : 1) * sizeof(*e));
	if (!e)
		return NULL;
	for (uint32_t i = 0; i < l->n && k < cap; i++)
		k += ipfix_exporters__snapshot(l->w[i].exporters, e + k, (uint32_t)(cap - k));
	qsort(e, k, sizeof(*e), key_cmp);
	for (uint32_t i = 0; i < k; i++) {
		if (j && !key_cmp(&e[j - 1], &e[i])) {
			e[j - 1].counts.sequence_gaps += e[i].counts.sequence_gaps;
			e[j - 1].counts.missed_records += e[i].counts.missed_records;
			e[j - 1].counts.unknown_sets += e[i].counts.unknown_sets;
			continue;
		}
		e[j++] = e[i];
	}
	*n = j;
	return e;
}

static void exporter_family(struct metrics_writer *mw, const char *name, const char *help,
			    const struct ipfix_exporter_entry *e, uint32_t n, size_t off)
{
	metrics_writer__family(mw, name, METRIC_COUNTER, help);
	for (uint32_t i = 0; i < n; i++) {
		char ip[IP_TEXT_MAX], port[8], dom[12];
		uint64_t v;

		memcpy(&v, (const char *)&e[i].counts + off, sizeof(v));
		snprintf(port, sizeof(port), "%u", e[i].key.port);
		snprintf(dom, sizeof(dom), "%u", e[i].key.domain);
		metrics_writer__u64(mw,
				    METRIC_LABELS("exporter",
						  ip_format(e[i].key.addr, ip, sizeof(ip)), "port",
						  port, "domain", dom),
				    v);
	}
}

#define L METRIC_LABELS

void ipfix_listener__metrics(struct ipfix_listener *l, struct metrics_writer *mw)
{
	struct ipfix_decoder_stats d = { 0 };
	struct counts c = { 0 };
	struct ipfix_exporter_entry *e;
	uint32_t n_e;

	for (uint32_t i = 0; i < l->n; i++) {
		struct worker *w = &l->w[i];
		const uint64_t *s;
		uint64_t *t;

		pthread_mutex_lock(&w->lock);
		s = (const uint64_t *)&w->pub;
		t = (uint64_t *)&c;
		for (size_t k = 0; k < sizeof(c) / sizeof(uint64_t); k++)
			t[k] += s[k];
		d.messages += w->pub_dec.messages;
		d.malformed += w->pub_dec.malformed;
		d.unsupported += w->pub_dec.unsupported;
		d.records += w->pub_dec.records;
		d.options_records += w->pub_dec.options_records;
		d.unknown_sets += w->pub_dec.unknown_sets;
		d.unknown_set_bytes += w->pub_dec.unknown_set_bytes;
		d.foreign_records += w->pub_dec.foreign_records;
		d.templates_added += w->pub_dec.templates_added;
		d.templates_replaced += w->pub_dec.templates_replaced;
		d.templates_refreshed += w->pub_dec.templates_refreshed;
		d.withdrawals_ignored += w->pub_dec.withdrawals_ignored;
		d.sender_mismatches += w->pub_dec.sender_mismatches;
		d.exporters_evicted += w->pub_dec.exporters_evicted;
		d.seq_gaps += w->pub_dec.seq_gaps;
		d.seq_missed += w->pub_dec.seq_missed;
		d.seq_late += w->pub_dec.seq_late;
		d.seq_resets += w->pub_dec.seq_resets;
		d.padding_nonzero += w->pub_dec.padding_nonzero;
		d.exporters += w->pub_dec.exporters;
		pthread_mutex_unlock(&w->lock);
	}
	_Static_assert(sizeof(struct counts) % sizeof(uint64_t) == 0, "counts: u64 fields only");

	metrics_writer__family(mw, "podflow_collector_ipfix_datagrams_total", METRIC_COUNTER,
			       "IPFIX datagrams received, by what became of them.");
	metrics_writer__u64(mw, L("result", "decoded"), d.messages);
	metrics_writer__u64(mw, L("result", "malformed"), d.malformed);
	metrics_writer__u64(mw, L("result", "unsupported"), d.unsupported);
	metrics_writer__u64(mw, L("result", "refused_source"), c.refused_source);
	metrics_writer__u64(mw, L("result", "oversize"), c.oversize);
	metrics_writer__u64(mw, L("result", "error"), c.decode_errors);
	metrics_writer__counter(mw, "podflow_collector_ipfix_bytes_total",
				"Bytes of the IPFIX datagrams received.", c.bytes);
	metrics_writer__counter(mw, "podflow_collector_ipfix_receive_queue_drops_total",
				"Datagrams the kernel dropped on the IPFIX sockets (receive "
				"buffer full: SO_RXQ_OVFL), as the next datagram reports them.",
				c.rxq_drops);
	metrics_writer__family(mw, "podflow_collector_ipfix_records_total", METRIC_COUNTER,
			       "Flow records decoded from IPFIX, by what became of them.");
	metrics_writer__u64(mw, L("result", "accepted"), c.records_accepted);
	metrics_writer__u64(mw, L("result", "no_sender"), c.records_no_sender);
	metrics_writer__u64(mw, L("result", "outputs_refused"), c.records_outputs_refused);
	metrics_writer__u64(mw, L("result", "time_rejected"), c.records_time_rejected);
	metrics_writer__u64(mw, L("result", "error"), c.records_error);
	metrics_writer__counter(mw, "podflow_collector_ipfix_options_records_total",
				"Identity and report options records decoded.", d.options_records);
	metrics_writer__counter(mw, "podflow_collector_ipfix_foreign_records_total",
				"Records of templates that are not podflow's (another PEN?): "
				"skipped.",
				d.foreign_records);
	metrics_writer__counter(mw, "podflow_collector_ipfix_unknown_sets_total",
				"Data sets of a template the exporter had not sent: skipped, "
				"never guessed.",
				d.unknown_sets);
	metrics_writer__family(mw, "podflow_collector_ipfix_templates_total", METRIC_COUNTER,
			       "Templates received: new, defined anew differently, sent again.");
	metrics_writer__u64(mw, L("event", "added"), d.templates_added);
	metrics_writer__u64(mw, L("event", "replaced"), d.templates_replaced);
	metrics_writer__u64(mw, L("event", "refreshed"), d.templates_refreshed);
	metrics_writer__counter(
	    mw, "podflow_collector_ipfix_withdrawals_ignored_total",
	    "Template withdrawals ignored (RFC 7011 section 8.4: not over UDP).",
	    d.withdrawals_ignored);
	metrics_writer__counter(mw, "podflow_collector_ipfix_sender_mismatches_total",
				"Reports naming another sender id than the identity held (another "
				"process behind the same exporter): its records get no sender.",
				d.sender_mismatches);
	metrics_writer__family(mw, "podflow_collector_ipfix_sequence_total", METRIC_COUNTER,
			       "Messages whose sequence number was ahead (gap), behind (late: "
			       "reordered or duplicated) or restarted (reset).");
	metrics_writer__u64(mw, L("event", "gap"), d.seq_gaps);
	metrics_writer__u64(mw, L("event", "late"), d.seq_late);
	metrics_writer__u64(mw, L("event", "reset"), d.seq_resets);
	metrics_writer__counter(mw, "podflow_collector_ipfix_missed_records_total",
				"Data records (flow and options) the sequence gaps skipped: lost "
				"on the way, or reordered.",
				d.seq_missed);
	metrics_writer__family(mw, "podflow_collector_ipfix_heartbeats_total", METRIC_COUNTER,
			       "IPFIX reports claiming pod IPs: used, not used (refused by the "
			       "attribution's rules, or dropped), or without a known sender; and "
			       "empty: naming them over a span of no time, so claiming nothing.");
	metrics_writer__u64(mw, L("result", "used"), c.heartbeats_used);
	metrics_writer__u64(mw, L("result", "not_used"), c.heartbeats_not_used);
	metrics_writer__u64(mw, L("result", "no_sender"), c.heartbeats_no_sender);
	metrics_writer__u64(mw, L("result", "empty"), c.heartbeats_empty);
	metrics_writer__gauge(mw, "podflow_collector_ipfix_exporters",
			      "Exporters the decoders hold now.", d.exporters);
	metrics_writer__counter(mw, "podflow_collector_ipfix_exporters_evicted_total",
				"Exporters forgotten to make room (ipfix.max_exporters): their "
				"templates must come again.",
				d.exporters_evicted);
	metrics_writer__gauge(mw, "podflow_collector_ipfix_workers",
			      "IPFIX threads, each with its own socket.", l->n);
	metrics_writer__gauge(mw, "podflow_collector_ipfix_receive_buffer_bytes",
			      "Each IPFIX socket's receive buffer, as the kernel set it.",
			      (uint64_t)l->rcvbuf);
	metrics_writer__gauge(mw, "podflow_collector_ipfix_open",
			      "1: IPFIX listens beyond loopback; UDP cannot be authenticated "
			      "(warned at start; docs/security.md).",
			      ipfix_listener__beyond_loopback(l));

	e = exporters_all(l, &n_e);
	exporter_family(mw, "podflow_collector_ipfix_exporter_sequence_gaps_total",
			"Per exporter the decoders hold: messages ahead of the expected sequence "
			"number.",
			e, e ? n_e : 0, offsetof(struct ipfix_exporter_counts, sequence_gaps));
	exporter_family(mw, "podflow_collector_ipfix_exporter_missed_records_total",
			"Per exporter the decoders hold: data records its sequence gaps skipped.",
			e, e ? n_e : 0, offsetof(struct ipfix_exporter_counts, missed_records));
	exporter_family(mw, "podflow_collector_ipfix_exporter_unknown_sets_total",
			"Per exporter the decoders hold: data sets of a template it had not sent.",
			e, e ? n_e : 0, offsetof(struct ipfix_exporter_counts, unknown_sets));
	free(e);
}
