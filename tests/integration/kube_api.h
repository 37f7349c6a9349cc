/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Drives tests/tools/kube-api, the stand-in Kubernetes API server that
 * replays the real fixtures (tests/fixtures/k8s): started as a child,
 * given commands on its stdin, answering one line each on its stdout.
 */
#ifndef PODFLOW_TESTS_KUBE_API_H
#define PODFLOW_TESTS_KUBE_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct api {
	pid_t pid;
	int in_fd, out_fd;
	char buf[65536];
	size_t len;
	uint16_t port;
	char url[64];
};

/* $PODFLOW_FIXTURES, else tests/fixtures/k8s found from here or from the binary. */
const char *kube_fixtures_dir(void);
/* Starts the server on an ephemeral port (a->url); 0 or -errno (reason printed). */
int api_start(struct api *a);
/* Closes its stdin (it exits) and reaps it; idempotent. */
void api_stop(struct api *a);
/* One line of the server's stdout within timeout_ms; malloc'd, or NULL. */
char *api_line(struct api *a, int timeout_ms);
/* Sends one command; returns the reply's JSON (owned) or NULL (reason printed). */
json_t *api_cmd(struct api *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* PODFLOW_TESTS_KUBE_API_H */
