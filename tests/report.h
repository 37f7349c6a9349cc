/* SPDX-License-Identifier: BSD-2-Clause */
/* One result of a fault or bad-input test for docs/reliability.md (make reliability-report). */
#ifndef PODFLOW_TEST_REPORT_H
#define PODFLOW_TEST_REPORT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * What a test did to podflow and what became of it, in units the test
 * names ("records", "connections", "requests", ...):
 *   injected   units the fault or the bad input touched
 *   delivered  of those, units that came out where they were meant to
 *              (written, attributed, answered); 0 where nothing should
 *   counted    units not delivered that podflow counted (a metric, an
 *              exit stat, an error answer), named in counted_as
 *   lost       units neither delivered nor counted: silent loss
 * The test asserts its figures before it reports them; the report script
 * refuses a line whose lost is not 0.
 */
struct report_fault {
	const char *fault; /* what was done, in words */
	const char *unit;  /* what the figures count */
	uint64_t injected;
	uint64_t delivered;
	uint64_t counted;
	uint64_t lost;
	const char *counted_as; /* the metrics, stats or answers that counted them */
	const char *note;	/* optional: duplicates, what "delivered" means here */
};

/*
 * Appends the result as one JSON line to $PODFLOW_RELIABILITY_OUT (when
 * set) and says it on stderr.  `suite` and `test` name where it came from.
 */
static inline void report_fault_line(const char *suite, const char *test, int passed,
				     const struct report_fault *f)
{
	const char *path = getenv("PODFLOW_RELIABILITY_OUT");
	json_t *o;
	FILE *out;

	fprintf(stderr,
		"    reliability: %s: injected %llu %s, delivered %llu, counted %llu, lost %llu\n",
		f->fault, (unsigned long long)f->injected, f->unit,
		(unsigned long long)f->delivered, (unsigned long long)f->counted,
		(unsigned long long)f->lost);
	if (!path || !*path)
		return;
	o = json_pack("{s:s, s:s, s:b, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "suite", suite,
		      "test", test, "passed", passed, "fault", f->fault, "unit", f->unit,
		      "injected", (json_int_t)f->injected, "delivered", (json_int_t)f->delivered,
		      "counted", (json_int_t)f->counted, "lost", (json_int_t)f->lost, "counted_as",
		      f->counted_as ? f->counted_as : "", "note", f->note ? f->note : "");
	out = o ? fopen(path, "a") : NULL;
	if (out) {
		json_dumpf(o, out, JSON_COMPACT);
		fputc('\n', out);
		fclose(out);
	} else {
		fprintf(stderr, "    reliability: cannot append to %s\n", path);
	}
	json_decref(o);
}

#endif
