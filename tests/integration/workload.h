/* SPDX-License-Identifier: BSD-2-Clause */
/* Integration-test workloads: TCP servers and clients in forked children. */
#ifndef PODFLOW_WORKLOAD_H
#define PODFLOW_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What a server or client child does; children talk to the test through pipes. */
struct peer {
	int family;
	const char *addr;      /* where the client connects (server binds the same family) */
	const char *bind_addr; /* server bind address (defaults to addr) */
	uint16_t port;	       /* server port: clients connect to it; a server binds it if set */
	size_t req;	       /* bytes the client sends per connection */
	size_t resp;	       /* bytes the server answers per connection */
	int conns;	       /* connections (server accepts this many) */
	int report_fd;	       /* child -> parent: ports, results */
	int control_fd;	       /* parent -> child: go signals (long-lived test) */
	int chunks;	       /* long-lived: send req bytes this many times, one per go */
	int linger_rst;	       /* close with SO_LINGER {1,0}: an RST instead of a FIN */
	int syncnt;	       /* TCP_SYNCNT, 0 = default */
	int maxseg;	       /* TCP_MAXSEG, 0 = default */
	int hold;	       /* keep every connection open until killed (both sides) */
	const char *netns;     /* a network namespace file to enter first, or NULL */
};

struct client_run {
	pid_t pid;
	int report_rd;
	int control_wr;
};

/* Writes all of v to fd or exits the child (code 110). */
void report(int fd, const void *v, size_t n);
/* Reads exactly n bytes within 10 s.  0, -ETIMEDOUT or -EIO. */
int read_exact(int fd, void *buf, size_t n);
/* Starts a server child in `cgroup`; returns its pid, its port in *port. */
pid_t start_server(struct peer *p, const char *cgroup, uint16_t *port);
/* Starts a client child in `cgroup`, connecting to p->port. */
pid_t start_client(struct peer *p, const char *cgroup, struct client_run *run);
/* Next connection's local port and connect() errno from a client. */
int client_next(struct client_run *run, uint16_t *lport, int *err);
void client_close(struct client_run *run);
/*
 * k connections from a client in `cgroup` to a server there on 127.0.0.1
 * (req bytes out, resp bytes back, each closed), both children reaped.
 * *sport: the server's port (0: a free one, returned there).  0 or -1.
 */
int exchange(const char *cgroup, int k, size_t req, size_t resp, uint16_t *sport);

#endif /* PODFLOW_WORKLOAD_H */
