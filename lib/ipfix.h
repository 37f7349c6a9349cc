/* SPDX-License-Identifier: BSD-2-Clause */
/* IPFIX (RFC 7011) for the UDP transport (docs/ipfix.md): encoder and strict, bounded decoder. */
#ifndef PODFLOW_IPFIX_H
#define PODFLOW_IPFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "wire.h"

/*
 * One IPFIX message per UDP datagram.  The sidecar's reports (the wire
 * batch's header and records) become, per report:
 *
 *   identity options record (template 258): sender id, pod, namespace,
 *     node, app, workload
 *   report options record (template 259): batch seq, heartbeat span, pod
 *     IPs (two RFC 6313 basicLists), drop counters
 *   flow data records (template 256 IPv4, 257 IPv6), standard IANA
 *     elements where one exists, the rest under the configured PEN
 *
 * split into messages of at most max_message bytes.  Templates go in
 * messages of their own (RFC 7011 section 8.4), when the exporter asks and
 * before the encoder's first report.  docs/ipfix.md has every element.
 */
#define IPFIX_VERSION	  10
#define IPFIX_PORT	  4739	/* RFC 7011 section 10.1: the collector's default port */
#define IPFIX_HEADER_SIZE 16	/* RFC 7011 section 3.1 */
#define IPFIX_MAX_MESSAGE 65535 /* the header's length is a u16 */
/* a 1450-byte MTU (VXLAN overlays) with IPv6 and UDP headers (RFC 7011 section 10.3.3) */
#define IPFIX_DEFAULT_MAX_MESSAGE 1400
/*
 * The smallest max_message the encoder takes: RFC 7011 section 10.3.3's
 * size for an unknown path MTU.  Every flow record fits (at most 486 bytes
 * with the headers); an identity or report record may not (five 253-byte
 * strings, 64 IPv6 pod IPs): ipfix_encoder__begin() says so.
 */
#define IPFIX_MIN_MESSAGE 512
/*
 * The default Private Enterprise Number of podflow's own elements: 32473,
 * which RFC 5612 reserves for documentation.  A placeholder that cannot
 * collide with a real vendor's elements: operators set their own PEN, the
 * same on sidecars and collectors.
 */
#define IPFIX_DEFAULT_PEN  32473
#define IPFIX_PEN_REVERSE  29305 /* RFC 5103 section 6.1: reverse elements */
#define IPFIX_TID_FLOW4	   256
#define IPFIX_TID_FLOW6	   257
#define IPFIX_TID_IDENTITY 258
#define IPFIX_TID_REPORT   259

/*
 * Which standard element carries the payload byte counts.  podflow counts
 * TCP payload bytes (records.md), which is transportOctetDeltaCount (401);
 * octetDeltaCount (1) counts IP headers too.  IPFIX_OCTETS_IP exists for
 * collectors that only know element 1 (nfdump 1.7): the values are then
 * payload bytes under a name that promises more.  The decoder takes both.
 */
enum ipfix_octets {
	IPFIX_OCTETS_TRANSPORT = 0, /* transportOctetDeltaCount (401), the default */
	IPFIX_OCTETS_IP = 1,	    /* octetDeltaCount (1) */
};

/* ---- encoder ---------------------------------------------------------- */

/*
 * Called with each finished message, valid only during the call: the
 * exporter sends it (one datagram).  `records` is how many flow records it
 * carries, for the exporter's drop count if the send fails.  A message
 * handed over counts as sent: its data records are in the sequence numbers
 * either way, so the collector sees a failed send as a gap.
 */
typedef void (*ipfix_send_fn)(void *ctx, const void *msg, size_t len, uint32_t records);

struct ipfix_encoder_opts {
	/*
	 * The observation domain: one per sidecar process, so a restart is
	 * a new exporter to the collector (its template cache, sequence and
	 * identity start afresh).  Derive it from wire_header.sender_id
	 * (the low 32 bits; 0 is allowed but RFC 7011 section 3.1 reserves
	 * it for messages about no particular domain: avoid it).
	 */
	uint32_t domain_id;
	uint32_t pen;	      /* 0 = IPFIX_DEFAULT_PEN; not 29305 */
	uint32_t max_message; /* 0 = IPFIX_DEFAULT_MAX_MESSAGE; IPFIX_MIN_MESSAGE..65535 */
	enum ipfix_octets octets;
};

struct ipfix_encoder_stats {
	uint64_t messages;	    /* handed to send_fn, templates included */
	uint64_t template_messages; /* of those, template-only messages */
	uint64_t records;	    /* flow records */
	uint64_t bytes;
};

struct ipfix_encoder;

/*
 * Allocates the one message buffer (max_message bytes); nothing else is
 * allocated afterwards.  NULL with errno EINVAL (an option out of range)
 * or ENOMEM.
 */
struct ipfix_encoder *ipfix_encoder__new(const struct ipfix_encoder_opts *o, ipfix_send_fn send,
					 void *ctx);
void ipfix_encoder__free(struct ipfix_encoder *e);

/*
 * Sends the four templates now, in one message of their own (more if
 * max_message is small), after finishing any open message.  The exporter
 * calls it at start (RFC 7011 section 8.4 suggests a few times) and
 * periodically after: UDP loses templates too, and a collector that
 * restarts needs them again.  If it has not been called before the first
 * report, ipfix_encoder__begin() calls it.  Template records do not count
 * in sequence numbers.  `export_s`: Unix seconds for the message header.
 */
void ipfix_encoder__send_templates(struct ipfix_encoder *e, uint32_t export_s);

/*
 * Starts a report: finishes any open message, then opens one with the
 * identity and report options records of `h` (its strings and IPs are
 * copied; drops are the counts since the previous report, as on HTTP/2).
 * Returns 0, or -EINVAL (a header the decoder would refuse: a string over
 * WIRE_MAX_STRING bytes or not UTF-8, n_ips over WIRE_MAX_IPS or without
 * ips, a span ending before it starts; logged), or -EMSGSIZE (its
 * identity or report record is larger than a max_message message holds:
 * at most IPFIX_DEFAULT_MAX_MESSAGE holds any; logged), and starts nothing.
 */
int ipfix_encoder__begin(struct ipfix_encoder *e, const struct wire_header *h, uint32_t export_s);

/*
 * Adds one record to the open report, in order: a message that cannot
 * take it is sent and the record opens the next one.  local/remote
 * identity and remote_source are not carried (the identity record names
 * the sender; attribution is the collector's).  Returns 0, or -EINVAL
 * when no report is open or the record is one the decoder would refuse
 * (the rules of docs/wire.md "Record", and start_ms after end_ms; logged at
 * debug level) and adds nothing.  Cost: the record's checks and its 109 to
 * 466 bytes written into the message buffer; no allocation, and one
 * send_fn call per filled message.
 */
int ipfix_encoder__add(struct ipfix_encoder *e, const struct flow_record *r);

/* Ends the report: sends its last message.  No-op when no message is open. */
void ipfix_encoder__end(struct ipfix_encoder *e);

/* Data records numbered so far: the next message's sequence number (RFC 7011 section 3.1). */
uint32_t ipfix_encoder__seq(const struct ipfix_encoder *e);
const struct ipfix_encoder_stats *ipfix_encoder__stats(const struct ipfix_encoder *e);

/* ---- decoder ---------------------------------------------------------- */

#define IPFIX_MAX_FIELDS	    64	 /* fields in one template: more is malformed */
#define IPFIX_DEFAULT_MAX_TEMPLATES 16	 /* per exporter; podflow's use 4 */
#define IPFIX_MAX_MAX_TEMPLATES	    1024 /* the most max_templates may be */
#define IPFIX_DEFAULT_MAX_EXPORTERS 1024
#define IPFIX_MAX_MAX_EXPORTERS	    (1u << 16)
/*
 * How far behind the expected sequence number a message may be and still
 * count as late (reordered or duplicated) rather than as an exporter that
 * started counting again.
 */
#define IPFIX_SEQ_LATE_WINDOW 65536u

struct ipfix_decoder_opts {
	uint32_t pen;		/* 0 = IPFIX_DEFAULT_PEN: the exporters' PEN */
	uint32_t max_exporters; /* 0 = IPFIX_DEFAULT_MAX_EXPORTERS */
	uint32_t max_templates; /* per exporter, 0 = IPFIX_DEFAULT_MAX_TEMPLATES */
	/*
	 * false (UDP): template withdrawals are checked, counted and
	 * otherwise ignored, as RFC 7011 section 8.4 requires of a UDP
	 * collector.  true: honoured as section 8.1 says (over TCP or SCTP).
	 */
	bool withdrawals;
};

/* Where a message came from.  An exporter is (address, port, observation domain). */
struct ipfix_source {
	uint8_t addr[16]; /* IPv4 as v4-mapped */
	uint16_t port;	  /* host order */
};

/* A message's sequence number against what the exporter's earlier messages imply. */
enum ipfix_seq {
	IPFIX_SEQ_NEW = 0,   /* nothing to compare with: the exporter's first message (or first
			    * since it was evicted), or its previous message had data sets
			    * without a known template, whose records could not be counted */
	IPFIX_SEQ_OK = 1,    /* as expected */
	IPFIX_SEQ_GAP = 2,   /* ahead: `missed` data records lost (or still to come, reordered) */
	IPFIX_SEQ_LATE = 3,  /* behind by at most IPFIX_SEQ_LATE_WINDOW: reordered or
			      * duplicated; the expectation stays where it was */
	IPFIX_SEQ_RESET = 4, /* further behind: the exporter counts from scratch (a restart
			      * with the same domain); tracking starts again here */
};

const char *ipfix_seq_name(enum ipfix_seq s);

/*
 * One decoded message.  `batch` is built as the HTTP/2 path builds a
 * struct wire_batch, so the collector hands it to the same ingest path:
 *
 *   batch.sender, sender_id   the exporter's identity: from this message's
 *                             identity record or the last one it sent
 *   batch.seq                 its report's batch seq: from this message's
 *                             report record or the last one it sent
 *   span, ips, drops          this message's report record; zero without
 *                             one (a message that claims nothing)
 *   records                   this message's flow records, in order, with
 *                             local = &batch.sender, remote NULL,
 *                             remote_source unattributed, container
 *                             never NULL
 *
 * When sender_known is false (the exporter's identity record has not
 * arrived yet, or its report names another sender id than the identity
 * held, or it restarted its sequence), batch.sender is all NULL,
 * sender_id 0 and every record's `local` NULL: the caller must count and
 * hold or refuse those records and must not use the heartbeat; they are
 * never given a sender by guess.
 */
struct ipfix_msg {
	uint32_t domain_id;
	uint32_t export_time; /* Unix seconds, as the exporter stamped it */
	uint32_t seq;	      /* the header's sequence number */
	enum ipfix_seq seq_status;
	uint32_t seq_expected; /* what the earlier messages implied (not for NEW) */
	uint32_t missed;       /* GAP: seq - seq_expected, mod 2^32 */
	uint32_t data_records; /* every data record in the message, options and foreign ones too */
	uint32_t unknown_sets; /* data sets skipped: no template known for their id */
	uint32_t foreign_records; /* records of templates that are not podflow's: skipped */
	bool sender_known;
	bool has_identity; /* the message carried the identity record */
	bool has_report;   /* the message carried the report record */
	struct wire_batch batch;
};

/* Cumulative counts since the decoder was made; the collector exports them as metrics. */
struct ipfix_decoder_stats {
	uint64_t messages;	    /* decoded */
	uint64_t malformed;	    /* refused: -EBADMSG */
	uint64_t unsupported;	    /* refused: -EPROTONOSUPPORT (a version other than 10) */
	uint64_t records;	    /* flow records returned */
	uint64_t records_no_sender; /* of those, returned with sender_known false */
	uint64_t options_records;   /* identity and report records */
	uint64_t unknown_sets;	    /* data sets without a known template: skipped, never guessed */
	uint64_t unknown_set_bytes;
	uint64_t foreign_records;     /* records of other templates: skipped */
	uint64_t templates_added;     /* a new template id */
	uint64_t templates_replaced;  /* an id defined anew, differently (RFC 7011 section 8.4) */
	uint64_t templates_refreshed; /* the same template sent again */
	uint64_t withdrawals;	      /* honoured (opts.withdrawals) */
	uint64_t withdrawals_ignored; /* over UDP (RFC 7011 section 8.4), or of a template the
				       * exporter does not have (section 8.1) */
	uint64_t sender_mismatches;   /* a report naming another sender id than the identity held */
	uint64_t exporters_evicted;   /* the least recently seen, to make room */
	uint64_t seq_gaps;	      /* messages with IPFIX_SEQ_GAP */
	uint64_t seq_missed;	      /* their `missed` records, summed */
	uint64_t seq_late;	      /* messages with IPFIX_SEQ_LATE */
	uint64_t seq_resets;	      /* messages with IPFIX_SEQ_RESET */
	uint64_t padding_nonzero; /* sets with non-zero padding: accepted (RFC 7011 section 9.1) */
	uint32_t exporters;	  /* held now */
};

struct ipfix_decoder;

/* NULL with errno EINVAL (an option out of range) or ENOMEM. */
struct ipfix_decoder *ipfix_decoder__new(const struct ipfix_decoder_opts *o);
void ipfix_decoder__free(struct ipfix_decoder *d);

/*
 * Decodes one datagram from `src`.  A message is taken or refused whole:
 * a refused one changes nothing (no template, sequence or identity state;
 * only the counters).  On success *out is valid until the next call on
 * `d`; the caller may change its records.  Returns 0 or:
 *   -EPROTONOSUPPORT  version not 10 (NetFlow v9 is 9)
 *   -EBADMSG          malformed: a length beyond the datagram or short of
 *                     a header, a reserved set id, a bad template, a record
 *                     overrunning its set, a value out of range, ...
 *                     (docs/ipfix.md "What the decoder refuses")
 *   -ENOMEM           out of memory: the message may be fine
 * ipfix_decoder__error() then says what, in one line.  Memory: per
 * exporter, at most max_templates templates of at most IPFIX_MAX_FIELDS
 * fields; per call, buffers bounded by the datagram's size.  Not thread
 * safe: one decoder per receiving thread, and all messages of an exporter
 * to the same decoder.
 */
int ipfix_decoder__decode(struct ipfix_decoder *d, const struct ipfix_source *src, const void *msg,
			  size_t len, struct ipfix_msg **out);
const char *ipfix_decoder__error(const struct ipfix_decoder *d);
const struct ipfix_decoder_stats *ipfix_decoder__stats(const struct ipfix_decoder *d);

#endif /* PODFLOW_IPFIX_H */
