// SPDX-License-Identifier: BSD-2-Clause
/* Integration-test workloads: TCP servers and clients in forked children. */
#define _GNU_SOURCE
#include "workload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define WORKLOAD_WAIT_MS 10000
#define EXCHANGE_WAIT_MS 20000 /* a workload's children to finish */

void report(int fd, const void *v, size_t n)
{
	if (write(fd, v, n) != (ssize_t)n)
		_exit(110);
}

/* The child enters p->netns (e.g. /run/netns/NAME) before any socket, or exits. */
static void enter_netns(const struct peer *p)
{
	int fd;

	if (!p->netns)
		return;
	fd = open(p->netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		fprintf(stderr, "    cannot enter %s: %s\n", p->netns, strerror(errno));
		_exit(121);
	}
	close(fd);
}

static int server_main(void *arg)
{
	struct peer *p = arg;
	uint16_t port;
	int lfd;

	enter_netns(p);
	/* a server binds p->port when the test chose one, else any free port */
	lfd = tcp_listen_on(p->family, p->bind_addr ? p->bind_addr : p->addr, p->port, &port);

	if (lfd < 0)
		return 1;
	report(p->report_fd, &port, sizeof(port));
	for (int i = 0; i < p->conns; i++) {
		int c = accept(lfd, NULL, NULL);
		ssize_t got;

		if (c < 0)
			return 2;
		got = recv_n(c, p->req * (size_t)(p->chunks ? p->chunks : 1));
		if (got < 0 && got != -ECONNRESET)
			return 3;
		if (p->resp && send_all(c, p->resp, 'r'))
			return 4;
		if (p->hold)
			continue; /* leak it on purpose: open until we are killed */
		/* wait for the client's close so the client side closes first */
		recv_n(c, SIZE_MAX);
		close(c);
	}
	if (p->hold)
		pause();
	close(lfd);
	return 0;
}

static int client_main(void *arg)
{
	struct peer *p = arg;

	enter_netns(p);
	for (int i = 0; i < p->conns; i++) {
		int fd, err, one = 1;
		uint16_t lport;

		fd = socket(p->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return 1;
		if (p->syncnt)
			setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &p->syncnt, sizeof(p->syncnt));
		if (p->maxseg)
			setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &p->maxseg, sizeof(p->maxseg));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		{
			struct sockaddr_storage ss = { 0 };
			socklen_t len;

			if (p->family == AF_INET) {
				struct sockaddr_in *s = (struct sockaddr_in *)&ss;

				s->sin_family = AF_INET;
				s->sin_port = htons(p->port);
				inet_pton(AF_INET, p->addr, &s->sin_addr);
				len = sizeof(*s);
			} else {
				struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

				s->sin6_family = AF_INET6;
				s->sin6_port = htons(p->port);
				inet_pton(AF_INET6, p->addr, &s->sin6_addr);
				len = sizeof(*s);
			}
			err = connect(fd, (struct sockaddr *)&ss, len) ? errno : 0;
		}
		lport = sock_local_port(fd);
		report(p->report_fd, &lport, sizeof(lport));
		report(p->report_fd, &err, sizeof(err));
		if (err) {
			close(fd);
			continue;
		}
		for (int c = 0; c < (p->chunks ? p->chunks : 1); c++) {
			char go;

			if (p->chunks && read(p->control_fd, &go, 1) != 1)
				return 5;
			if (send_all(fd, p->req, 'q'))
				return 2;
		}
		if (p->resp && recv_n(fd, p->resp) != (ssize_t)p->resp)
			return 3;
		if (p->hold)
			continue; /* open until we are killed */
		if (p->linger_rst) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };

			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(fd);
	}
	if (p->hold)
		pause();
	return 0;
}

int read_exact(int fd, void *buf, size_t n)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t got = 0;

	while (got < n) {
		ssize_t r;

		if (poll(&pfd, 1, WORKLOAD_WAIT_MS) <= 0)
			return -ETIMEDOUT;
		r = read(fd, (char *)buf + got, n - got);
		if (r <= 0)
			return -EIO;
		got += (size_t)r;
	}
	return 0;
}

/* Starts a server child in `cgroup`; returns its pid, port in *port. */
pid_t start_server(struct peer *p, const char *cgroup, uint16_t *port)
{
	int fds[2];
	pid_t pid;

	if (pipe(fds))
		return -1;
	p->report_fd = fds[1];
	pid = harness_spawn(cgroup, "pf-server", server_main, p);
	close(fds[1]);
	if (pid > 0 && read_exact(fds[0], port, sizeof(*port))) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(fds[0]);
	return pid;
}

pid_t start_client(struct peer *p, const char *cgroup, struct client_run *run)
{
	int rep[2], ctl[2];

	if (pipe(rep) || pipe(ctl))
		return -1;
	p->report_fd = rep[1];
	p->control_fd = ctl[0];
	run->pid = harness_spawn(cgroup, "pf-client", client_main, p);
	close(rep[1]);
	close(ctl[0]);
	run->report_rd = rep[0];
	run->control_wr = ctl[1];
	return run->pid;
}

/* Next connection's local port and connect() errno from a client. */
int client_next(struct client_run *run, uint16_t *lport, int *err)
{
	if (read_exact(run->report_rd, lport, sizeof(*lport)) ||
	    read_exact(run->report_rd, err, sizeof(*err)))
		return -1;
	return 0;
}

void client_close(struct client_run *run)
{
	close(run->report_rd);
	close(run->control_wr);
}

int exchange(const char *cgroup, int k, size_t req, size_t resp, uint16_t *sport)
{
	struct peer srv = { .family = AF_INET,
			    .addr = "127.0.0.1",
			    .req = req,
			    .resp = resp,
			    .conns = k,
			    .port = *sport };
	struct peer cli = srv;
	struct client_run run = { 0 };
	uint16_t cport;
	int cerr, ret = -1;
	pid_t spid = start_server(&srv, cgroup, sport);

	if (spid <= 0)
		return -1;
	cli.port = *sport;
	if (start_client(&cli, cgroup, &run) <= 0)
		goto out;
	for (int i = 0; i < k; i++)
		if (client_next(&run, &cport, &cerr) || cerr)
			goto out;
	if (harness_wait(run.pid, EXCHANGE_WAIT_MS) || harness_wait(spid, EXCHANGE_WAIT_MS))
		goto out;
	run.pid = 0;
	spid = -1;
	ret = 0;
out:
	if (spid > 0) {
		kill(spid, SIGKILL);
		waitpid(spid, NULL, 0);
	}
	if (run.pid > 0 && waitpid(run.pid, NULL, WNOHANG) == 0) {
		kill(run.pid, SIGKILL);
		waitpid(run.pid, NULL, 0);
	}
	if (run.report_rd > 0)
		client_close(&run);
	return ret;
}
