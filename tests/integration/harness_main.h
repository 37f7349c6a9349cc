/* SPDX-License-Identifier: BSD-2-Clause */
/* Integration-test support: the main() of the suites that need no root and no kernel feature. */
#ifndef PODFLOW_IT_HARNESS_MAIN_H
#define PODFLOW_IT_HARNESS_MAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

/* A suite as harness_main runs it; the fields after `tests` are what it asks for. */
struct harness_suite {
	const char *name; /* harness_run's "<name>: P/N passed"; lib/log's "integration_<name>" */
	const struct harness_test *tests;
	size_t n_tests;
	/* this variable set (and not empty): lib/log at debug level in this process */
	const char *debug_env;
	/*
	 * A temp dir for everything the tests make, /tmp/<tmp_prefix>-XXXXXX,
	 * its path written to tmp (tmp_len bytes); removed when every test
	 * passed, kept (and named) for a look otherwise.  NULL: none.
	 */
	const char *tmp_prefix;
	char *tmp;
	size_t tmp_len;
	/*
	 * As root (CI), a private network namespace with lo up, entered before
	 * any test binds a port: what the tests start (collectors, mock
	 * brokers, servers on fixed ports) never meets the host's ports.
	 * Without root they run on the host's loopback, which works as well.
	 */
	bool netns;
	/* RLIMIT_NOFILE raised to its hard limit: the tests hold a thousand sockets or more */
	bool nofile;
};

/* Designators for harness_suite: the tests of an array, the temp dir in a char array. */
#define HARNESS_TESTS(t)	 .tests = (t), .n_tests = sizeof(t) / sizeof((t)[0])
#define HARNESS_TMP(buf, prefix) .tmp_prefix = (prefix), .tmp = (buf), .tmp_len = sizeof(buf)

/*
 * SIGPIPE ignored (a peer the test cut must not kill it), libcurl's global
 * state, lib/log, then what the suite asks for; runs the tests
 * (harness_run: only those whose name contains argv[1], when given) and
 * undoes it all.  The exit status: 0 when every test passed, else 1 (a
 * set-up that failed says so, "...: FAIL").  Nothing here skips: these
 * suites need no root and no kernel feature, in CI or not.
 */
int harness_main(const struct harness_suite *s, int argc, char **argv);

#endif /* PODFLOW_IT_HARNESS_MAIN_H */
