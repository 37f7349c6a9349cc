/* SPDX-License-Identifier: BSD-2-Clause */
/* Per-exporter IPFIX counters for labelled metrics, bounded as the decoder bounds its exporters. */
#ifndef PODFLOW_COLLECTOR_IPFIX_EXPORTERS_H
#define PODFLOW_COLLECTOR_IPFIX_EXPORTERS_H

#include <stddef.h>
#include <stdint.h>

/*
 * An exporter as lib/ipfix's decoder keys it (RFC 7011 section 8.4 over
 * UDP): source address, source port, observation domain.
 */
struct ipfix_exporter_key {
	uint8_t addr[16]; /* IPv4 as v4-mapped */
	uint16_t port;
	uint32_t domain;
};

struct ipfix_exporter_counts {
	uint64_t sequence_gaps;	 /* messages ahead of the expected sequence number */
	uint64_t missed_records; /* the data records those gaps skipped */
	uint64_t unknown_sets;	 /* data sets of a template the exporter had not sent */
};

struct ipfix_exporter_entry {
	struct ipfix_exporter_key key;
	struct ipfix_exporter_counts counts;
};

/*
 * One IPFIX worker's table.  It is touched once per message its decoder
 * took, in the same order, and holds at most as many exporters as the
 * decoder (the least recently seen goes first, as in the decoder): so it
 * holds the decoder's exporters, and an exporter the decoder forgot loses
 * its series.  One thread writes (the worker), another reads (the scrape):
 * a mutex, uncontended but at a scrape.
 */
struct ipfix_exporters;

/* Preallocates `max` entries; NULL with errno EINVAL (max 0) or ENOMEM. */
struct ipfix_exporters *ipfix_exporters__new(uint32_t max);
void ipfix_exporters__free(struct ipfix_exporters *t);

/*
 * The exporter's message was taken: it becomes the most recently seen
 * (new: added, evicting the least recently seen at the bound) and `add` is
 * added to its counts.  No allocation.
 */
void ipfix_exporters__seen(struct ipfix_exporters *t, const struct ipfix_exporter_key *k,
			   const struct ipfix_exporter_counts *add);

/* Exporters held now. */
uint32_t ipfix_exporters__count(struct ipfix_exporters *t);
/* Copies at most `cap` of them, most recently seen first; how many were copied. */
uint32_t ipfix_exporters__snapshot(struct ipfix_exporters *t, struct ipfix_exporter_entry *out,
				   uint32_t cap);

#endif /* PODFLOW_COLLECTOR_IPFIX_EXPORTERS_H */
