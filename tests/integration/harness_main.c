// SPDX-License-Identifier: BSD-2-Clause
/* Integration-test support: the main() of the suites that need no root and no kernel feature. */
#define _GNU_SOURCE
#include "harness_main.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

static void raise_nofile(void)
{
	struct rlimit nofile;

	/* the children (a collector) inherit it: they hold as many sockets */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
}

int harness_main(const struct harness_suite *s, int argc, char **argv)
{
	const char *debug = s->debug_env ? getenv(s->debug_env) : NULL;
	char ident[96];
	int failed;

	signal(SIGPIPE, SIG_IGN);
	if (s->nofile)
		raise_nofile();
	if (s->tmp) {
		snprintf(s->tmp, s->tmp_len, "/tmp/%s-XXXXXX", s->tmp_prefix);
		if (!mkdtemp(s->tmp)) {
			fprintf(stderr, "cannot create a temp dir: FAIL\n");
			return 1;
		}
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "curl_global_init: FAIL\n");
		return 1;
	}
	snprintf(ident, sizeof(ident), "integration_%s", s->name);
	log_init(ident, debug && *debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	if (s->netns && geteuid() == 0 && harness_netns_enter()) {
		fprintf(stderr, "cannot create a network namespace: FAIL\n");
		return 1;
	}
	failed = harness_run(s->name, s->tests, s->n_tests, argc, argv);
	curl_global_cleanup();
	if (s->tmp && !failed)
		harness_sh("rm -rf %s", s->tmp);
	else if (s->tmp)
		fprintf(stderr, "  (outputs kept in %s)\n", s->tmp);
	return failed ? 1 : 0;
}
