/* SPDX-License-Identifier: BSD-2-Clause */
/* ADDR:PORT for listening sockets (ingest, admin, API): parsing, formatting, loopback. */
#ifndef PODFLOW_LISTEN_ADDR_H
#define PODFLOW_LISTEN_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct listen_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	/*
	 * ":PORT" (no host): every address, IPv6 dual-stack (IPV6_V6ONLY off)
	 * so IPv4 clients arrive as v4-mapped; the caller falls back to
	 * 0.0.0.0 where the kernel has no IPv6.
	 */
	bool any;
};

/*
 * Accepts ":PORT", "IPV4:PORT", "[IPV6]:PORT" and "localhost:PORT" (=
 * 127.0.0.1); PORT 0..65535, 0 = the kernel picks one.  Host names are not
 * resolved: a listener's address is never a DNS question.  Returns 0 or
 * -EINVAL.
 */
int listen_addr_parse(const char *s, struct listen_addr *out);
/* The IPv4 wildcard for a dual-stack ":PORT" address on a kernel without IPv6. */
void listen_addr_v4_any(struct listen_addr *a);
void listen_addr_set_port(struct listen_addr *a, uint16_t port);
/*
 * Whether only this host can reach the address: in 127.0.0.0/8, ::1, or
 * 127.0.0.0/8 as v4-mapped IPv6.  Every address (":PORT", 0.0.0.0, [::]) is
 * not.
 */
bool listen_addr_is_loopback(const struct listen_addr *a);
uint16_t listen_addr_port(const struct sockaddr *sa);
/* "127.0.0.1:7070", "[::1]:7070"; returns buf (len >= 64). */
const char *listen_addr_format(const struct sockaddr *sa, char *buf, size_t len);

#endif /* PODFLOW_LISTEN_ADDR_H */
