/* SPDX-License-Identifier: BSD-2-Clause */
/* Export of flow records as IPFIX over UDP (docs/ipfix.md): reports, pacing, losses counted. */
#ifndef PODFLOW_IPFIX_EXPORT_H
#define PODFLOW_IPFIX_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "ipfix.h"
#include "report_header.h"

struct ipfix_export_opts {
	const char *url; /* udp://HOST:PORT or udp://[IPV6]:PORT */
	uint32_t max_message;
	uint32_t pen;
	enum ipfix_octets octets;
	uint64_t template_interval_ns;
	uint64_t max_rate;  /* bytes per second */
	uint64_t max_burst; /* bytes, at least max_message */
	uint64_t max_queue; /* bytes */
	/* a report is ended early, like an HTTP/2 batch, at this many records or IPFIX bytes */
	uint32_t batch_max_records;
	uint64_t batch_max_bytes;
	const struct flow_identity *sender; /* borrowed for the exporter's life */
	report_drops_fn drops_fn;	    /* called at every report */
	void *drops_ctx;
};

/* Why the socket refused a datagram, by errno class (the metric's `reason` label). */
enum ipfix_export_error {
	IPFIX_EXPORT_ERR_WOULD_BLOCK = 0, /* EAGAIN: the socket's send buffer is full */
	IPFIX_EXPORT_ERR_NO_BUFFERS = 1,  /* ENOBUFS, ENOMEM: the qdisc or the kernel */
	IPFIX_EXPORT_ERR_REFUSED = 2,	  /* ECONNREFUSED: an ICMP port unreachable */
	IPFIX_EXPORT_ERR_UNREACHABLE = 3, /* EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENETDOWN */
	IPFIX_EXPORT_ERR_TOO_BIG = 4,	  /* EMSGSIZE: over the path MTU or the socket's limit */
	IPFIX_EXPORT_ERR_OTHER = 5,
	IPFIX_EXPORT_ERR__COUNT = 6,
};

const char *ipfix_export_error_name(enum ipfix_export_error e);

/*
 * Every record handed to the exporter ends in exactly one of records_sent,
 * records_dropped_queue, records_send_error, records_abandoned or
 * records_invalid (or is still queued: queue_records).  records_refused
 * is a part of records_sent the destination's host sent back.
 */
struct ipfix_export_stats {
	uint64_t reports;	     /* reports begun: one per interval, more for a split */
	uint64_t template_datagrams; /* of the datagrams made, template messages */
	uint64_t datagrams_sent;     /* taken by the kernel */
	uint64_t bytes_sent;	     /* their IPFIX bytes (UDP payload) */
	uint64_t records_sent;
	uint64_t datagrams_dropped_queue; /* the pacing queue was full */
	uint64_t records_dropped_queue;
	uint64_t datagrams_send_error; /* the socket refused them (errors below) */
	uint64_t records_send_error;
	uint64_t datagrams_refused; /* sent, then an ICMP port unreachable came back for them */
	uint64_t records_refused;
	uint64_t datagrams_abandoned; /* still queued when the shutdown grace ran out */
	uint64_t records_abandoned;
	uint64_t records_invalid; /* refused by the encoder: cannot happen with captured records */
	uint64_t errors[IPFIX_EXPORT_ERR__COUNT];
	uint64_t queue_bytes;
	uint64_t queue_datagrams;
	uint64_t queue_records;
	uint64_t resolutions_ok; /* of a host name: at start and again (docs/ipfix.md) */
	uint64_t resolutions_failed;
	uint32_t domain_id;
	struct report_header_stats header;
};

struct ipfix_exporter;

/*
 * Checks the options, opens the encoder and a non-blocking UDP socket
 * connected to the URL's address (a host name is resolved in the
 * background, never on the caller's thread; datagrams wait in the queue
 * until it is) and sends the templates.  NULL with errno set and one line
 * in `why`: EINVAL for a URL or option the config check let through, or a
 * pod identity too long for max_message; ENOMEM.
 */
struct ipfix_exporter *ipfix_exporter__new(const struct ipfix_export_opts *o, char *why,
					   size_t whylen);

/*
 * Adds a record to the current report, beginning one (its header: the
 * heartbeat and the drops since the previous report) if none is open.
 * Never blocks: a full message is sent at once if the rate allows, queued
 * if the queue has room, else dropped and counted.
 */
void ipfix_exporter__add(struct ipfix_exporter *x, const struct flow_record *r);
/* Ends the current report, or sends one without records (the heartbeat). */
void ipfix_exporter__seal(struct ipfix_exporter *x);
/* As exporter__hold(): the datagrams of the reports from now on wait for this sender's offset. */
void ipfix_exporter__hold(struct ipfix_exporter *x, uint64_t spread_ns);
/* As report_header__set_claim(), for the reports begun from now on. */
void ipfix_exporter__set_claim(struct ipfix_exporter *x, bool claim, uint64_t until_ms);

/*
 * The exporter's timerfd, for the caller's epoll: when it is readable,
 * call ipfix_exporter__run(), which sends what the rate allows, the
 * templates when due, and follows a host name's resolution.
 */
int ipfix_exporter__fd(const struct ipfix_exporter *x);
void ipfix_exporter__run(struct ipfix_exporter *x);

/* Live changes (the caller's thread): report limits, pacing, the template period. */
void ipfix_exporter__set_limits(struct ipfix_exporter *x, uint32_t batch_max_records,
				uint64_t batch_max_bytes);
void ipfix_exporter__set_pacing(struct ipfix_exporter *x, uint64_t max_rate, uint64_t max_burst,
				uint64_t max_queue);
void ipfix_exporter__set_template_interval(struct ipfix_exporter *x, uint64_t ns);

/*
 * Ends the open report, then sends what is queued at the rate for up to
 * `grace_ns`; what is left is counted (abandoned) and logged.  Frees
 * everything; `final` (may be NULL) gets the last statistics.  NULL is
 * fine.
 */
void ipfix_exporter__close(struct ipfix_exporter *x, uint64_t grace_ns,
			   struct ipfix_export_stats *final);

void ipfix_exporter__stats(const struct ipfix_exporter *x, struct ipfix_export_stats *out);

#endif /* PODFLOW_IPFIX_EXPORT_H */
