// SPDX-License-Identifier: BSD-2-Clause
/* The per-interval data path: events folded into a flow table, flushed as records per interval. */
#include "interval.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "clock.h"
#include "export.h"
#include "flow.h"
#include "flow_table.h"
#include "ipfix_export.h"
#include "jsonw.h"
#include "log.h"

struct interval {
	struct interval_opts o;
	struct flow_table *table;
	bool per_connection; /* the mode the table was built for */
	bool aggregate;	     /* the mode wanted: the table follows at the next flush */
	uint64_t start_ns;   /* CLOCK_BOOTTIME: when the current interval began */
	struct jsonw *jw;    /* one record's JSON line (stream output) */
	bool out_failed;
	struct interval_stats st;
};

static struct flow_table *table_new(bool aggregate, uint32_t max_records)
{
	return flow_table__new(aggregate ? FLOW_TABLE_AGGREGATE : FLOW_TABLE_PER_CONNECTION,
			       max_records);
}

struct interval *interval__new(const struct interval_opts *opts)
{
	struct interval *iv;
	int err;

	if (!opts->exp && !opts->ipx && !opts->out) {
		errno = EINVAL;
		return NULL;
	}
	iv = calloc(1, sizeof(*iv));
	if (!iv)
		return NULL;
	iv->o = *opts;
	if (!iv->o.clock)
		iv->o.clock = clock_ns;
	if (!iv->o.out_name)
		iv->o.out_name = "the output";
	iv->aggregate = opts->aggregate;
	iv->per_connection = !opts->aggregate;
	iv->table = table_new(opts->aggregate, opts->max_records);
	if (!iv->table) {
		err = -errno; /* EINVAL (max_records) or ENOMEM */
		goto cleanup;
	}
	if (opts->out) {
		iv->jw = jsonw__new();
		if (!iv->jw) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	return iv;
cleanup:
	interval__free(iv);
	errno = -err;
	return NULL;
}

void interval__free(struct interval *iv)
{
	if (!iv)
		return;
	flow_table__free(iv->table);
	jsonw__free(iv->jw);
	free(iv);
}

void interval__start(struct interval *iv)
{
	iv->start_ns = iv->o.clock(CLOCK_BOOTTIME);
}

static void output_failed(struct interval *iv)
{
	if (iv->out_failed)
		return;
	iv->out_failed = true;
	pr_warn("writing records to %s failed: %s", iv->o.out_name, strerror(errno));
}

/* flow_table_emit_fn: the record gets the pod's side, then goes out. */
static void write_record(struct flow_record *rec, void *ctx)
{
	struct interval *iv = ctx;
	const char *data;
	size_t len;

	snprintf(
	    rec->container_id, sizeof(rec->container_id), "%s",
	    cgroup_names__container_id(iv->o.names, rec->cgroup_id, iv->o.clock(CLOCK_MONOTONIC)));
	rec->local = iv->o.local;
	rec->remote = NULL;
	rec->remote_source = FLOW_SOURCE_UNATTRIBUTED;
	iv->st.records++;
	if (iv->o.exp) {
		exporter__add(iv->o.exp, rec);
		return;
	}
	if (iv->o.ipx) {
		ipfix_exporter__add(iv->o.ipx, rec);
		return;
	}
	jsonw__reset(iv->jw);
	flow_record_json(rec, iv->jw);
	jsonw__raw_char(iv->jw, '\n');
	if (jsonw__error(iv->jw)) {
		pr_warn("out of memory formatting a record");
		return;
	}
	data = jsonw__data(iv->jw, &len);
	if (fwrite(data, 1, len, iv->o.out) != len)
		output_failed(iv);
}

/* Emits the current interval's records; the next interval begins at `next_start_ns`. */
static void flush(struct interval *iv, uint64_t next_start_ns)
{
	/* kernel timestamps are CLOCK_BOOTTIME; records say wall-clock time */
	int64_t boot_to_wall = (int64_t)(iv->o.clock(CLOCK_REALTIME) - iv->o.clock(CLOCK_BOOTTIME));

	flow_table__flush(iv->table, iv->start_ns, boot_to_wall, write_record, iv);
	iv->start_ns = next_start_ns;
	/* aggregate changed live: the next interval uses the new mode */
	if (iv->per_connection == iv->aggregate) {
		struct flow_table *t = table_new(iv->aggregate, iv->o.max_records);

		if (t) {
			flow_table__free(iv->table);
			iv->table = t;
			iv->per_connection = !iv->aggregate;
		} else {
			pr_warn("out of memory switching the record mode; keeping the old one");
		}
	}
	if (!iv->o.out)
		return;
	if (fflush(iv->o.out))
		output_failed(iv);
}

/*
 * Adds an event, or else a fold, to the table.  More distinct records than
 * max_records: the interval closes early.  The flush replays events
 * deferred by a walk's cut, which may fill the table again, so a second
 * flush can be needed (never more).  -ENOSPC if even that did not do.
 */
static int add_flushing(struct interval *iv, const struct flow_event *ev,
			const struct flow_fold_key *key, const struct flow_fold *f)
{
	for (int tries = 0;; tries++) {
		int err =
		    ev ? flow_table__add(iv->table, ev) : flow_table__add_fold(iv->table, key, f);

		if (err != -ENOSPC)
			return err;
		if (tries == 2)
			return -ENOSPC;
		iv->st.early_flushes++;
		flush(iv, iv->o.clock(CLOCK_BOOTTIME));
	}
}

void interval__add(struct interval *iv, const struct flow_event *ev)
{
	iv->st.events++;
	if (add_flushing(iv, ev, NULL, NULL))
		iv->st.table_drops++;
}

void interval__add_fold(struct interval *iv, const struct flow_fold_key *key,
			const struct flow_fold *f)
{
	iv->st.folded_closes += f->closed;
	if (add_flushing(iv, NULL, key, f))
		iv->st.table_drops += f->closed; /* each one's last deltas */
}

bool interval__folding(const struct interval *iv)
{
	/* the table in use and the one the next flush makes both aggregate */
	return !iv->per_connection && iv->aggregate;
}

void interval__end(struct interval *iv, interval_walk_fn walk, void *ctx)
{
	uint64_t cut = iv->o.clock(CLOCK_BOOTTIME);

	flow_table__set_cut(iv->table, cut);
	if (walk)
		walk(ctx);
	flush(iv, cut);
}

void interval__set_aggregate(struct interval *iv, bool aggregate)
{
	iv->aggregate = aggregate;
}

uint64_t interval_next_cut_ns(uint64_t now_ns, uint64_t interval_ns)
{
	return (now_ns / interval_ns + 1) * interval_ns;
}

bool interval__output_failed(const struct interval *iv)
{
	return iv->out_failed;
}

void interval__stats(const struct interval *iv, struct interval_stats *out)
{
	*out = iv->st;
}
