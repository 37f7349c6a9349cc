// SPDX-License-Identifier: BSD-2-Clause
/* Drives tests/tools/kube-api, the stand-in Kubernetes API server, through its stdin. */
#define _GNU_SOURCE
#include "kube_api.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "harness.h"

const char *kube_fixtures_dir(void)
{
	static char found[PATH_MAX];
	static const char *const rel[] = { "tests/fixtures/k8s", "../shared/fixtures/k8s" };
	const char *env = getenv("PODFLOW_FIXTURES");
	char exe[PATH_MAX], probe[PATH_MAX + 64];
	ssize_t n;

	if (env && *env)
		return env;
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(probe, sizeof(probe), "%s/SOURCES.md", rel[i]);
		if (access(probe, R_OK) == 0)
			return rel[i];
	}
	/* run from elsewhere: the fixtures are in the checkout the binary was built in */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		for (int up = 0; up < 6; up++) {
			char *slash = strrchr(exe, '/');

			if (!slash)
				break;
			*slash = '\0';
			snprintf(found, sizeof(found), "%.*s/tests/fixtures/k8s",
				 (int)(sizeof(found) - 32), exe);
			snprintf(probe, sizeof(probe), "%s/SOURCES.md", found);
			if (access(probe, R_OK) == 0)
				return found;
		}
	}
	return rel[0];
}

/* One line of the server's stdout, within timeout_ms; malloc'd, or NULL. */
char *api_line(struct api *a, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		char *nl = memchr(a->buf, '\n', a->len);
		struct pollfd pfd = { .fd = a->out_fd, .events = POLLIN };
		uint64_t now = harness_now_ms();
		ssize_t n;

		if (nl) {
			char *line = strndup(a->buf, (size_t)(nl - a->buf));

			a->len -= (size_t)(nl + 1 - a->buf);
			memmove(a->buf, nl + 1, a->len);
			return line;
		}
		if (now >= deadline || a->len == sizeof(a->buf))
			return NULL;
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		n = read(a->out_fd, a->buf + a->len, sizeof(a->buf) - a->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		a->len += (size_t)n;
	}
}

void api_stop(struct api *a)
{
	if (a->pid <= 0)
		return;
	if (a->in_fd >= 0)
		close(a->in_fd); /* EOF on stdin: it exits */
	if (harness_wait(a->pid, 3000) < 0)
		fprintf(stderr, "    kube-api did not exit on EOF (killed)\n");
	close(a->out_fd);
	a->pid = 0;
}

int api_start(struct api *a)
{
	char bin[PATH_MAX], *line;
	const char *fx = kube_fixtures_dir();
	int in[2], out[2];

	memset(a, 0, sizeof(*a));
	a->in_fd = a->out_fd = -1;
	harness_bin("tests/kube-api", bin, sizeof(bin));
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return -errno;
	a->pid = fork();
	if (a->pid < 0)
		return -errno;
	if (a->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl(bin, bin, "--fixtures", fx, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	a->in_fd = in[1];
	a->out_fd = out[0];
	line = api_line(a, 5000);
	if (!line || !atoi(line)) {
		fprintf(stderr, "    kube-api (%s, fixtures %s) did not start\n", bin, fx);
		free(line);
		api_stop(a);
		return -EIO;
	}
	a->port = (uint16_t)atoi(line);
	free(line);
	snprintf(a->url, sizeof(a->url), "http://127.0.0.1:%u", a->port);
	return 0;
}

/* Sends one command; returns the reply's JSON (owned) or NULL (reason printed). */
json_t *api_cmd(struct api *a, const char *fmt, ...)
{
	char *cmd, *line;
	json_t *reply;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	if (write(a->in_fd, cmd, (size_t)n) != n || write(a->in_fd, "\n", 1) != 1) {
		fprintf(stderr, "    kube-api: cannot send %s\n", cmd);
		free(cmd);
		return NULL;
	}
	line = api_line(a, 10000);
	if (!line || strncmp(line, "ok ", 3) != 0) {
		fprintf(stderr, "    kube-api: %s -> %s\n", cmd, line ? line : "(no answer)");
		free(cmd);
		free(line);
		return NULL;
	}
	reply = json_loads(line + 3, 0, NULL);
	free(cmd);
	free(line);
	return reply;
}
