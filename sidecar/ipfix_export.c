// SPDX-License-Identifier: BSD-2-Clause
/* Export of flow records as IPFIX over UDP (docs/ipfix.md): reports, pacing, losses counted. */
#define _GNU_SOURCE
#include "ipfix_export.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "duration.h"
#include "listen_addr.h"
#include "log.h"
#include "podips.h"
#include "sidecar_config.h"

#define MS_NS		     DURATION_NS_PER_MS
#define S_NS		     DURATION_NS_PER_S
#define RESOLVE_POLL_NS	     (20 * MS_NS) /* how often a background resolution is looked at */
#define RESOLVE_RETRY_MIN_NS (1 * S_NS)	  /* no address yet: try again after 1 s, doubling ... */
#define RESOLVE_RETRY_MAX_NS (30 * S_NS)  /* ... to 30 s, as the HTTP/2 path's reconnects */
#define RESOLVE_ON_ERROR_NS  (5 * S_NS)	  /* at most one re-resolution per 5 s of send errors */
#define LOG_EVERY_NS	     (60 * S_NS)  /* a recurring loss is said once a minute */
#define CLOSE_SLEEP_MAX_NS   (100 * MS_NS)

/* A datagram waiting for the rate (or for the first address). */
struct dgram {
	struct dgram *next;
	uint32_t len;
	uint32_t records;
	bool has_report;
	uint64_t carried[WIRE_DROP__COUNT]; /* its report record's drops, when has_report */
	uint8_t data[];
};

/* What the last datagram taken by the kernel held: an ICMP error may come back about it. */
struct sent {
	bool valid;
	bool has_report;
	uint32_t records;
	uint64_t carried[WIRE_DROP__COUNT];
};

/* A background getaddrinfo_a(): one block, so that one never cancelled may be left behind. */
struct resolution {
	struct gaicb cb;
	struct addrinfo hints;
	char host[SIDECAR_HOST_MAX];
	char port[8];
};

struct ipfix_exporter {
	struct ipfix_export_opts o;
	char url[SIDECAR_HOST_MAX + 16];
	char host[SIDECAR_HOST_MAX];
	char port[8];
	bool numeric; /* an IP literal: nothing to resolve, ever */
	struct report_header *rh;
	struct ipfix_encoder *enc;
	int fd; /* the connected UDP socket; -1 until there is an address */
	int family;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	int tfd;		/* one-shot CLOCK_MONOTONIC timer: pacing, templates, resolution */
	uint64_t armed_ns;	/* its deadline; 0: not armed */
	uint64_t hold_until_ns; /* CLOCK_MONOTONIC: no datagram leaves before (send spread) */
	/* resolution of a host name */
	struct resolution *res;	     /* in flight */
	uint64_t resolve_next_ns;    /* the next attempt (0: none due) */
	uint64_t resolve_started_ns; /* the last one began */
	uint32_t resolve_failures;   /* in a row */
	/* the open report */
	bool in_report;
	uint32_t report_records;
	uint64_t report_bytes0;
	uint64_t report_drops[WIRE_DROP__COUNT]; /* what its report record says */
	/* losses since the last report began, for the next one's header */
	uint64_t pending[WIRE_DROP__COUNT];
	/* templates */
	uint64_t templates_sent_ns;
	uint64_t templates_due_ns;
	bool templates_wanted; /* as soon as no report is open */
	/* pacing: a token bucket of bytes, a FIFO of datagrams */
	double tokens;
	uint64_t refill_ns;
	struct dgram *head, *tail;
	uint64_t q_bytes;
	uint32_t q_len;
	uint64_t q_records;
	struct sent last;
	/* recurring conditions are logged at most once a minute */
	uint64_t logged_err_ns[IPFIX_EXPORT_ERR__COUNT];
	uint64_t logged_queue_ns;
	uint64_t logged_encode_ns;
	struct ipfix_export_stats st;
};

static const char *const error_names[IPFIX_EXPORT_ERR__COUNT] = {
	[IPFIX_EXPORT_ERR_WOULD_BLOCK] = "would_block",
	[IPFIX_EXPORT_ERR_NO_BUFFERS] = "no_buffers",
	[IPFIX_EXPORT_ERR_REFUSED] = "refused",
	[IPFIX_EXPORT_ERR_UNREACHABLE] = "unreachable",
	[IPFIX_EXPORT_ERR_TOO_BIG] = "too_big",
	[IPFIX_EXPORT_ERR_OTHER] = "other",
};

const char *ipfix_export_error_name(enum ipfix_export_error e)
{
	return (unsigned)e < IPFIX_EXPORT_ERR__COUNT ? error_names[e] : "other";
}

static enum ipfix_export_error classify(int err)
{
	switch (err) {
	case EAGAIN:
		return IPFIX_EXPORT_ERR_WOULD_BLOCK;
	case ENOBUFS:
	case ENOMEM:
		return IPFIX_EXPORT_ERR_NO_BUFFERS;
	case ECONNREFUSED:
		return IPFIX_EXPORT_ERR_REFUSED;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENETDOWN:
		return IPFIX_EXPORT_ERR_UNREACHABLE;
	case EMSGSIZE:
		return IPFIX_EXPORT_ERR_TOO_BIG;
	default:
		return IPFIX_EXPORT_ERR_OTHER;
	}
}

static uint32_t export_s(void)
{
	return (uint32_t)(clock_wall_ms() / 1000);
}

static bool log_due(uint64_t *logged_ns, uint64_t now)
{
	if (*logged_ns && now - *logged_ns < LOG_EVERY_NS)
		return false;
	*logged_ns = now;
	return true;
}

/* ---- the timer ----------------------------------------------------------- */

/* The earliest thing the exporter waits for, on its one-shot timer. */
static void arm(struct ipfix_exporter *x)
{
	uint64_t now = clock_mono_ns(), next = UINT64_MAX;
	struct itimerspec its = { 0 };

	/* templates wait for the open report's end (report_close() sends them) */
	if (!x->in_report)
		next = x->templates_wanted ? now : x->templates_due_ns;

	if (x->head && x->fd >= 0) {
		double need = (double)x->head->len - x->tokens;
		uint64_t at = now;

		if (need > 0)
			at += (uint64_t)(need * 1e9 / (double)x->o.max_rate) + 1000;
		if (at < x->hold_until_ns)
			at = x->hold_until_ns;
		if (at < next)
			next = at;
	}
	if (x->res && now + RESOLVE_POLL_NS < next)
		next = now + RESOLVE_POLL_NS;
	if (x->resolve_next_ns && x->resolve_next_ns < next)
		next = x->resolve_next_ns;
	if (next == UINT64_MAX)
		return;
	if (next <= now)
		next = now + 1;
	/* armed sooner already: it fires, and run() arms it again */
	if (x->armed_ns && x->armed_ns <= next)
		return;
	its.it_value.tv_sec = (time_t)(next / S_NS);
	its.it_value.tv_nsec = (long)(next % S_NS);
	if (timerfd_settime(x->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		x->armed_ns = next;
}

/* ---- losses ------------------------------------------------------------- */

/*
 * Records that will not reach the collector travel in the next report's
 * header as WIRE_DROP_BUFFER, the HTTP/2 path's "lost on the way out"; a
 * lost report record's own counts go with them (the HTTP/2 path's
 * carried counts), so what it could no longer say is said once, later.
 */
static void lost(struct ipfix_exporter *x, uint32_t records, const uint64_t *carried)
{
	x->pending[WIRE_DROP_BUFFER] += records;
	if (carried)
		for (int i = 0; i < WIRE_DROP__COUNT; i++)
			x->pending[i] += carried[i];
}

/*
 * ECONNREFUSED is the kernel passing on an ICMP port unreachable that came
 * back for a datagram sent before (RFC 1122 section 4.1.3.3; Linux reports
 * it at the next call on a connected socket).  Which one it was is not
 * said: the last one taken is counted, which is exact where each datagram
 * is refused before the next goes (loopback, a closed port on the same
 * host) and an undercount where several were on their way (the
 * collector's sequence numbers show the rest as a gap).
 */
static void refused_last(struct ipfix_exporter *x)
{
	if (!x->last.valid)
		return;
	x->last.valid = false;
	x->st.datagrams_refused++;
	x->st.records_refused += x->last.records;
	lost(x, x->last.records, x->last.has_report ? x->last.carried : NULL);
}

static void count_error(struct ipfix_exporter *x, int err)
{
	enum ipfix_export_error c = classify(err);

	x->st.errors[c]++;
	if (log_due(&x->logged_err_ns[c], clock_mono_ns()))
		pr_warn(
		    "ipfix: %s: %s: datagrams are lost and counted "
		    "(podflow_sidecar_ipfix_send_errors_total{reason=\"%s\"}: %llu so far; said "
		    "at most once a minute)",
		    x->url, strerror(err), error_names[c], (unsigned long long)x->st.errors[c]);
}

/* An error the socket holds from an ICMP message about an earlier datagram. */
static void check_socket_error(struct ipfix_exporter *x)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (x->fd < 0 || getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &len) || !err)
		return;
	count_error(x, err);
	if (err == ECONNREFUSED)
		refused_last(x);
}

/* ---- resolution ----------------------------------------------------------- */

static void resolve_start(struct ipfix_exporter *x);

/* Connects the socket to one of the addresses; true if one was taken (or was in use already). */
static bool use_addresses(struct ipfix_exporter *x, const struct addrinfo *ai)
{
	char buf[INET6_ADDRSTRLEN + 16];
	bool moved = x->fd >= 0;
	int err = 0;

	for (const struct addrinfo *a = ai; a; a = a->ai_next) {
		int fd = x->fd;

		if (x->fd >= 0 && a->ai_addrlen == x->peer_len &&
		    memcmp(a->ai_addr, &x->peer, a->ai_addrlen) == 0)
			return true; /* the address in use is still one of the name's */
		if (fd < 0 || a->ai_family != x->family) {
			fd = socket(a->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd < 0) {
				err = errno;
				continue;
			}
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen)) {
			err = errno;
			if (fd != x->fd)
				close(fd);
			continue;
		}
		if (fd != x->fd) {
			if (x->fd >= 0)
				close(x->fd);
			x->fd = fd;
		}
		x->family = a->ai_family;
		memcpy(&x->peer, a->ai_addr, a->ai_addrlen);
		x->peer_len = a->ai_addrlen;
		x->last.valid = false;
		pr_info("ipfix: exporting to %s at %s%s", x->url,
			listen_addr_format(a->ai_addr, buf, sizeof(buf)),
			moved ? " (the name's address changed: templates sent again)" : "");
		/* a new address may be a new collector: it needs the templates (run() sends them) */
		if (moved)
			x->templates_wanted = true;
		return true;
	}
	if (err)
		pr_warn("ipfix: %s: cannot use its address: %s", x->url, strerror(err));
	return false;
}

static void resolve_done(struct ipfix_exporter *x, bool ok, const char *why)
{
	uint64_t now = clock_mono_ns();

	if (ok) {
		x->st.resolutions_ok++;
		x->resolve_failures = 0;
		return;
	}
	x->st.resolutions_failed++;
	if (x->resolve_failures++ == 0)
		pr_warn("ipfix: %s: %s; %s", x->url, why,
			x->fd >= 0 ? "still sending to the address it had"
				   : "datagrams wait in the queue until it resolves; retrying");
	if (x->fd < 0) {
		uint64_t wait = RESOLVE_RETRY_MIN_NS;

		for (uint32_t i = 1; i < x->resolve_failures && wait < RESOLVE_RETRY_MAX_NS; i++)
			wait *= 2;
		x->resolve_next_ns =
		    now + (wait < RESOLVE_RETRY_MAX_NS ? wait : RESOLVE_RETRY_MAX_NS);
	}
}

/* Looks the host up: at once for an IP literal, in the background for a name. */
static void resolve_start(struct ipfix_exporter *x)
{
	struct gaicb *list[1];
	struct resolution *r;
	int err;

	x->resolve_next_ns = 0;
	x->resolve_started_ns = clock_mono_ns();
	if (x->numeric) {
		struct addrinfo hints = { .ai_socktype = SOCK_DGRAM,
					  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV },
				*ai = NULL;
		bool ok;

		err = getaddrinfo(x->host, x->port, &hints, &ai);
		ok = !err && use_addresses(x, ai);
		if (ai)
			freeaddrinfo(ai);
		resolve_done(x, ok, err ? gai_strerror(err) : "no usable address");
		return;
	}
	if (x->res)
		return; /* one at a time */
	r = calloc(1, sizeof(*r));
	if (!r) {
		resolve_done(x, false, "out of memory");
		return;
	}
	snprintf(r->host, sizeof(r->host), "%s", x->host);
	snprintf(r->port, sizeof(r->port), "%s", x->port);
	/* no AI_ADDRCONFIG: in a namespace with only loopback it would hide every address */
	r->hints.ai_socktype = SOCK_DGRAM;
	r->hints.ai_flags = AI_NUMERICSERV;
	r->cb.ar_name = r->host;
	r->cb.ar_service = r->port;
	r->cb.ar_request = &r->hints;
	list[0] = &r->cb;
	err = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
	if (err) {
		free(r);
		resolve_done(x, false, gai_strerror(err));
		return;
	}
	x->res = r;
}

static void resolve_poll(struct ipfix_exporter *x)
{
	struct resolution *r = x->res;
	int err;
	bool ok;

	if (!r)
		return;
	err = gai_error(&r->cb);
	if (err == EAI_INPROGRESS)
		return;
	x->res = NULL;
	ok = !err && use_addresses(x, r->cb.ar_result);
	if (r->cb.ar_result)
		freeaddrinfo(r->cb.ar_result);
	free(r);
	resolve_done(x, ok, err ? gai_strerror(err) : "no usable address");
}

/*
 * "Re-resolved on failure", as the HTTP/2 path resolves again for each new
 * connection: a send error that says the address may be wrong starts a
 * background resolution, at most one per RESOLVE_ON_ERROR_NS.
 */
static void resolve_after_error(struct ipfix_exporter *x, int err)
{
	enum ipfix_export_error c = classify(err);

	if (x->numeric || x->res ||
	    (c != IPFIX_EXPORT_ERR_REFUSED && c != IPFIX_EXPORT_ERR_UNREACHABLE) ||
	    clock_mono_ns() - x->resolve_started_ns < RESOLVE_ON_ERROR_NS)
		return;
	resolve_start(x);
}

/* ---- sending -------------------------------------------------------------- */

/* Whether the message carries a report record (set 259): its drops are then ours to carry. */
static bool holds_report(const uint8_t *m, size_t len)
{
	for (size_t off = IPFIX_HEADER_SIZE; off + 4 <= len;) {
		uint16_t id = (uint16_t)(m[off] << 8 | m[off + 1]);
		uint16_t set_len = (uint16_t)(m[off + 2] << 8 | m[off + 3]);

		if (id == IPFIX_TID_REPORT)
			return true;
		if (set_len < 4)
			break;
		off += set_len;
	}
	return false;
}

static void refill(struct ipfix_exporter *x, uint64_t now)
{
	if (now > x->refill_ns) {
		x->tokens += (double)(now - x->refill_ns) * (double)x->o.max_rate / 1e9;
		if (x->tokens > (double)x->o.max_burst)
			x->tokens = (double)x->o.max_burst;
	}
	x->refill_ns = now;
}

/* One datagram to the kernel, now.  Never blocks; an error drops it, counted. */
static void send_one(struct ipfix_exporter *x, const void *msg, uint32_t len, uint32_t records,
		     const uint64_t *carried)
{
	for (int attempt = 0;; attempt++) {
		ssize_t n = send(x->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		int err;

		if (n == (ssize_t)len)
			break;
		err = n < 0 ? errno : EMSGSIZE;
		if (err == EINTR && attempt < 3)
			continue;
		count_error(x, err);
		/* the refusal was about an earlier datagram: this one was never tried, once more */
		if (err == ECONNREFUSED) {
			refused_last(x);
			if (attempt == 0)
				continue;
		}
		x->st.datagrams_send_error++;
		x->st.records_send_error += records;
		lost(x, records, carried);
		resolve_after_error(x, err);
		return;
	}
	x->st.datagrams_sent++;
	x->st.bytes_sent += len;
	x->st.records_sent += records;
	x->tokens -= (double)len;
	x->last.valid = true;
	x->last.records = records;
	x->last.has_report = carried != NULL;
	if (carried)
		memcpy(x->last.carried, carried, sizeof(x->last.carried));
}

static void enqueue(struct ipfix_exporter *x, const void *msg, uint32_t len, uint32_t records,
		    const uint64_t *carried)
{
	struct dgram *d = NULL;

	if (x->q_bytes + len <= x->o.max_queue)
		d = malloc(sizeof(*d) + len);
	if (!d) {
		x->st.datagrams_dropped_queue++;
		x->st.records_dropped_queue += records;
		lost(x, records, carried);
		if (log_due(&x->logged_queue_ns, clock_mono_ns()))
			pr_warn(
			    "ipfix: %s: the queue holds %llu bytes (ipfix.max_queue) waiting for "
			    "the rate (ipfix.max_rate %llu bytes/s): new datagrams are dropped and "
			    "counted (podflow_sidecar_ipfix_records_total{result=\"dropped_queue_"
			    "full\"}, the next report's drops; said at most once a minute)",
			    x->url, (unsigned long long)x->q_bytes,
			    (unsigned long long)x->o.max_rate);
		return;
	}
	d->next = NULL;
	d->len = len;
	d->records = records;
	d->has_report = carried != NULL;
	if (carried)
		memcpy(d->carried, carried, sizeof(d->carried));
	memcpy(d->data, msg, len);
	if (x->tail)
		x->tail->next = d;
	else
		x->head = d;
	x->tail = d;
	x->q_bytes += len;
	x->q_len++;
	x->q_records += records;
	arm(x);
}

static struct dgram *dequeue(struct ipfix_exporter *x)
{
	struct dgram *d = x->head;

	if (!d)
		return NULL;
	x->head = d->next;
	if (!x->head)
		x->tail = NULL;
	x->q_bytes -= d->len;
	x->q_len--;
	x->q_records -= d->records;
	return d;
}

/* Sends the queue's head while the rate allows. */
static void drain(struct ipfix_exporter *x, uint64_t now)
{
	if (x->fd < 0 || now < x->hold_until_ns)
		return;
	refill(x, now);
	while (x->head && x->tokens >= (double)x->head->len) {
		struct dgram *d = dequeue(x);

		send_one(x, d->data, d->len, d->records, d->has_report ? d->carried : NULL);
		free(d);
	}
}

/*
 * ipfix_send_fn: each finished message.  It goes at once if nothing waits
 * before it and the rate allows, else it waits in the queue.  Never calls
 * back into the encoder (it is in the middle of a call).
 */
static void on_message(void *ctx, const void *msg, size_t len, uint32_t records)
{
	struct ipfix_exporter *x = ctx;
	const uint64_t *carried = holds_report(msg, len) ? x->report_drops : NULL;
	uint64_t now = clock_mono_ns();

	if (x->fd >= 0 && !x->head && now >= x->hold_until_ns) {
		refill(x, now);
		if (x->tokens >= (double)len) {
			send_one(x, msg, (uint32_t)len, records, carried);
			return;
		}
	}
	enqueue(x, msg, (uint32_t)len, records, carried);
}

/* ---- reports and templates ------------------------------------------------ */

static void send_templates(struct ipfix_exporter *x)
{
	bool periodic = !x->templates_wanted;

	ipfix_encoder__send_templates(x->enc, export_s());
	x->templates_wanted = false;
	x->templates_sent_ns = clock_mono_ns();
	x->templates_due_ns = x->templates_sent_ns + x->o.template_interval_ns;
	/*
	 * UDP has no connection whose failure says the collector moved: a
	 * name is looked up again every template period too, and an address
	 * that changed gets the templates at once.
	 */
	if (periodic && !x->numeric)
		resolve_start(x);
}

/* Templates when due, never inside a report (they go in messages of their own). */
static void maybe_templates(struct ipfix_exporter *x)
{
	if (x->in_report)
		return;
	if (x->templates_wanted || clock_mono_ns() >= x->templates_due_ns)
		send_templates(x);
}

static void not_encoded(struct ipfix_exporter *x, uint32_t records, int err)
{
	x->st.records_invalid += records;
	x->pending[WIRE_DROP_BUFFER] += records;
	if (log_due(&x->logged_encode_ns, clock_mono_ns()))
		pr_warn(
		    "ipfix: a record could not be encoded: %s; dropped and counted "
		    "(podflow_sidecar_ipfix_records_total{result=\"not_encoded\"}; said at most "
		    "once a minute)",
		    strerror(-err));
}

static int report_open(struct ipfix_exporter *x)
{
	uint8_t ips[WIRE_MAX_IPS][16];
	struct wire_header h;
	int err;

	maybe_templates(x);
	check_socket_error(x); /* a refusal of the last datagram goes in this header */
	report_header__next(x->rh, &h, ips);
	for (int i = 0; i < WIRE_DROP__COUNT; i++)
		h.drops[i] += x->pending[i];
	/* what goes wrong while this report is written is the next one's */
	memset(x->pending, 0, sizeof(x->pending));
	memcpy(x->report_drops, h.drops, sizeof(h.drops));
	err = ipfix_encoder__begin(x->enc, &h, export_s());
	if (err) {
		/*
		 * The identity fitted max_message at start; the heartbeat's
		 * addresses (the interfaces' fallback) may have grown past it.
		 */
		for (int i = 0; i < WIRE_DROP__COUNT; i++)
			x->pending[i] += h.drops[i];
		return err;
	}
	x->in_report = true;
	x->report_records = 0;
	x->report_bytes0 = ipfix_encoder__stats(x->enc)->bytes;
	x->st.reports++;
	return 0;
}

static void report_close(struct ipfix_exporter *x)
{
	ipfix_encoder__end(x->enc);
	x->in_report = false;
	maybe_templates(x);
	arm(x); /* the template period, which waited for the report */
}

void ipfix_exporter__add(struct ipfix_exporter *x, const struct flow_record *r)
{
	int err = x->in_report ? 0 : report_open(x);

	if (!err)
		err = ipfix_encoder__add(x->enc, r);
	if (err) {
		not_encoded(x, 1, err);
		return;
	}
	/* split as the HTTP/2 path seals a batch early: each part has its own header */
	if (++x->report_records >= x->o.batch_max_records ||
	    ipfix_encoder__stats(x->enc)->bytes - x->report_bytes0 >= x->o.batch_max_bytes)
		report_close(x);
}

void ipfix_exporter__hold(struct ipfix_exporter *x, uint64_t spread_ns)
{
	uint64_t offset = report_header__send_offset_ns(x->rh, spread_ns);

	x->hold_until_ns = offset ? clock_mono_ns() + offset : 0;
	x->armed_ns = 0; /* the head's wait changed */
	arm(x);
}

void ipfix_exporter__seal(struct ipfix_exporter *x)
{
	int err = x->in_report ? 0 : report_open(x);

	if (err) {
		if (log_due(&x->logged_encode_ns, clock_mono_ns()))
			pr_warn(
			    "ipfix: a report could not be begun: %s (said at most once a minute)",
			    strerror(-err));
		return;
	}
	report_close(x);
}

void ipfix_exporter__set_claim(struct ipfix_exporter *x, bool claim, uint64_t until_ms)
{
	report_header__set_claim(x->rh, claim, until_ms);
}

/* ---- the loop's side -------------------------------------------------------- */

int ipfix_exporter__fd(const struct ipfix_exporter *x)
{
	return x->tfd;
}

void ipfix_exporter__run(struct ipfix_exporter *x)
{
	uint64_t expirations, now = clock_mono_ns();

	if (read(x->tfd, &expirations, sizeof(expirations)) == sizeof(expirations) ||
	    (x->armed_ns && now >= x->armed_ns))
		x->armed_ns = 0;
	if (x->res)
		resolve_poll(x);
	else if (x->resolve_next_ns && now >= x->resolve_next_ns)
		resolve_start(x);
	maybe_templates(x);
	drain(x, clock_mono_ns());
	arm(x);
}

void ipfix_exporter__set_limits(struct ipfix_exporter *x, uint32_t batch_max_records,
				uint64_t batch_max_bytes)
{
	x->o.batch_max_records = batch_max_records;
	x->o.batch_max_bytes = batch_max_bytes;
}

void ipfix_exporter__set_pacing(struct ipfix_exporter *x, uint64_t max_rate, uint64_t max_burst,
				uint64_t max_queue)
{
	refill(x, clock_mono_ns()); /* the time so far at the old rate */
	x->o.max_rate = max_rate;
	x->o.max_burst = max_burst;
	x->o.max_queue = max_queue; /* a smaller queue drains; new datagrams see the new bound */
	if (x->tokens > (double)max_burst)
		x->tokens = (double)max_burst;
	x->armed_ns = 0; /* the head's wait changed either way */
	arm(x);
}

void ipfix_exporter__set_template_interval(struct ipfix_exporter *x, uint64_t ns)
{
	x->o.template_interval_ns = ns;
	if (!x->templates_wanted)
		x->templates_due_ns = x->templates_sent_ns + ns;
	x->armed_ns = 0;
	arm(x);
}

/* ---- lifecycle -------------------------------------------------------------- */

static void nop_send(void *ctx, const void *msg, size_t len, uint32_t records)
{
	(void)ctx;
	(void)msg;
	(void)len;
	(void)records;
}

/*
 * The pod's identity record must fit one message: checked once here, with
 * a scratch encoder, so that a max_message too small for the names is a
 * start-up error and not every report lost.
 */
static int check_identity_fits(const struct ipfix_encoder_opts *eo,
			       const struct flow_identity *sender, char *why, size_t whylen)
{
	uint8_t ips[WIRE_MAX_IPS][16];
	struct pod_ips_dropped dropped;
	struct wire_header h = { .seq = 1, .sender = *sender, .ips = (const uint8_t(*)[16])ips };
	struct ipfix_encoder *e = ipfix_encoder__new(eo, nop_send, NULL);
	char w[256];
	int n, err;

	if (!e) {
		err = -errno;
		snprintf(why, whylen, "ipfix: cannot make the encoder: %s", strerror(-err));
		return err;
	}
	n = pod_ips(getenv, ips, WIRE_MAX_IPS, &dropped, w, sizeof(w));
	h.n_ips = n > 0 ? (uint32_t)n : 0;
	err = ipfix_encoder__begin(e, &h, export_s());
	ipfix_encoder__free(e);
	if (err == -EMSGSIZE)
		snprintf(
		    why, whylen,
		    "ipfix.max_message %u: the pod's identity or heartbeat record does not fit "
		    "one message: raise it (1400 holds any)",
		    eo->max_message);
	else if (err)
		snprintf(why, whylen, "ipfix: the pod's identity cannot be encoded: %s",
			 strerror(-err));
	return err;
}

struct ipfix_exporter *ipfix_exporter__new(const struct ipfix_export_opts *o, char *why,
					   size_t whylen)
{
	struct ipfix_exporter *x = calloc(1, sizeof(*x));
	struct ipfix_encoder_opts eo;
	uint16_t port;
	uint8_t a[16];
	char dur[32];
	int err;

	if (!x)
		return NULL;
	x->o = *o;
	x->fd = -1;
	x->tfd = -1;
	snprintf(x->url, sizeof(x->url), "%s", o->url);
	x->o.url = x->url;
	if (sidecar_udp_output(o->url, x->host, sizeof(x->host), &port, why, whylen) != 1) {
		if (strncmp(o->url, "udp://", 6) != 0)
			snprintf(why, whylen, "%s is not udp://HOST:PORT", o->url);
		err = -EINVAL;
		goto cleanup;
	}
	snprintf(x->port, sizeof(x->port), "%u", port);
	x->numeric = inet_pton(AF_INET, x->host, a) == 1 || inet_pton(AF_INET6, x->host, a) == 1;
	if (!o->max_rate || o->max_burst < o->max_message) {
		snprintf(why, whylen, "ipfix: max_rate 0, or max_burst under max_message");
		err = -EINVAL;
		goto cleanup;
	}
	x->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (x->tfd < 0) {
		err = -errno;
		snprintf(why, whylen, "ipfix: timerfd: %s", strerror(-err));
		goto cleanup;
	}
	x->rh = report_header__new(o->sender, o->drops_fn, o->drops_ctx);
	if (!x->rh) {
		err = -ENOMEM;
		snprintf(why, whylen, "out of memory");
		goto cleanup;
	}
	/* RFC 7011 section 3.1: 0 is for messages about no particular domain */
	x->st.domain_id = (uint32_t)report_header__sender_id(x->rh);
	if (!x->st.domain_id)
		x->st.domain_id = 1;
	eo = (struct ipfix_encoder_opts){ .domain_id = x->st.domain_id,
					  .pen = o->pen,
					  .max_message = o->max_message,
					  .octets = o->octets };
	err = check_identity_fits(&eo, o->sender, why, whylen);
	if (err)
		goto cleanup;
	x->enc = ipfix_encoder__new(&eo, on_message, x);
	if (!x->enc) {
		err = -errno;
		snprintf(why, whylen, "ipfix: cannot make the encoder: %s", strerror(-err));
		goto cleanup;
	}
	x->tokens = (double)o->max_burst;
	x->refill_ns = clock_mono_ns();
	resolve_start(x);
	pr_info("ipfix: observation domain %u, PEN %u, %s octets, messages of at most %u bytes, "
		"templates every %s, at most %llu bytes/s (bursts of %llu)",
		x->st.domain_id, o->pen ? o->pen : IPFIX_DEFAULT_PEN,
		o->octets == IPFIX_OCTETS_IP ? "octetDeltaCount (ip)"
					     : "transportOctetDeltaCount (transport)",
		o->max_message, duration_format(o->template_interval_ns, dur, sizeof(dur)),
		(unsigned long long)o->max_rate, (unsigned long long)o->max_burst);
	/* RFC 7011 section 8.4: the templates first, then again every period */
	x->templates_wanted = true;
	send_templates(x);
	arm(x);
	return x;
cleanup:
	ipfix_exporter__close(x, 0, NULL);
	errno = -err;
	return NULL;
}

void ipfix_exporter__close(struct ipfix_exporter *x, uint64_t grace_ns,
			   struct ipfix_export_stats *final)
{
	uint64_t deadline;

	if (!x)
		return;
	if (x->in_report)
		report_close(x);
	x->hold_until_ns = 0; /* what the send spread holds goes now */
	deadline = clock_mono_ns() + grace_ns;
	for (;;) {
		uint64_t now = clock_mono_ns(), sleep_ns = CLOSE_SLEEP_MAX_NS;
		struct timespec ts;

		resolve_poll(x);
		drain(x, now);
		if (!x->head || now >= deadline)
			break;
		if (x->fd >= 0) {
			double need = (double)x->head->len - x->tokens;
			uint64_t wait = (uint64_t)(need * 1e9 / (double)x->o.max_rate) + 1000;

			if (wait < sleep_ns)
				sleep_ns = wait;
		}
		if (deadline - now < sleep_ns)
			sleep_ns = deadline - now;
		ts.tv_sec = (time_t)(sleep_ns / S_NS);
		ts.tv_nsec = (long)(sleep_ns % S_NS);
		nanosleep(&ts, NULL);
	}
	check_socket_error(x); /* the last datagram refused, on a path as short as loopback */
	for (struct dgram *d; (d = dequeue(x));) {
		x->st.datagrams_abandoned++;
		x->st.records_abandoned += d->records;
		free(d);
	}
	if (x->st.records_abandoned)
		pr_warn("ipfix: %llu records in %llu datagrams not sent to %s within the shutdown "
			"grace: dropped",
			(unsigned long long)x->st.records_abandoned,
			(unsigned long long)x->st.datagrams_abandoned, x->url);
	if (final)
		ipfix_exporter__stats(x, final);
	if (x->res && gai_cancel(&x->res->cb) == EAI_NOTCANCELED) {
		const struct gaicb *list[1] = { &x->res->cb };
		struct timespec ts = { .tv_sec = 1 };

		/* it writes into its block when done: wait a little, else leave the block to it */
		if (gai_suspend(list, 1, &ts) == 0 || gai_error(&x->res->cb) != EAI_INPROGRESS) {
			if (x->res->cb.ar_result)
				freeaddrinfo(x->res->cb.ar_result);
			free(x->res);
		}
	} else if (x->res) {
		/* cancelled, or done (EAI_ALLDONE) with its result to free */
		if (x->res->cb.ar_result)
			freeaddrinfo(x->res->cb.ar_result);
		free(x->res);
	}
	ipfix_encoder__free(x->enc);
	report_header__free(x->rh);
	if (x->fd >= 0)
		close(x->fd);
	if (x->tfd >= 0)
		close(x->tfd);
	free(x);
}

void ipfix_exporter__stats(const struct ipfix_exporter *x, struct ipfix_export_stats *out)
{
	*out = x->st;
	if (x->enc)
		out->template_datagrams = ipfix_encoder__stats(x->enc)->template_messages;
	out->queue_bytes = x->q_bytes;
	out->queue_datagrams = x->q_len;
	out->queue_records = x->q_records;
	if (x->rh)
		report_header__stats(x->rh, &out->header);
}
