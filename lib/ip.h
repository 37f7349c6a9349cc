/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * IP addresses as every part of podflow keeps them: 16 bytes, IPv4 as
 * v4-mapped (::ffff:a.b.c.d), so one key and one comparison serve both
 * families.  Text and socket addresses in, text out, CIDR prefixes.
 */
#ifndef PODFLOW_IP_H
#define PODFLOW_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IP_TEXT_MAX 46 /* INET6_ADDRSTRLEN: the longest text, NUL included */

struct sockaddr;

/*
 * "10.1.2.3" (kept v4-mapped) or any IPv6 text inet_pton() takes; nothing
 * else (no port, zone, prefix, or spaces).  `len` bytes of `text`, which
 * need not be NUL-terminated (a JSON value, a query argument).  0 or
 * -EINVAL, with `out` untouched.
 */
int ip_parse(const char *text, size_t len, uint8_t out[16]);
/* The same for a NUL-terminated string (NULL: -EINVAL). */
int ip_parse_str(const char *text, uint8_t out[16]);

/* The address of an AF_INET (kept v4-mapped) or AF_INET6 sockaddr; 0 or -EAFNOSUPPORT. */
int ip_from_sockaddr(const struct sockaddr *sa, uint8_t out[16]);

/* True for ::ffff:a.b.c.d. */
bool ip_is_v4mapped(const uint8_t a[16]);
/* 127.0.0.0/8 (v4-mapped) or ::1: inside the host's (or the pod's) own network namespace. */
bool ip_is_loopback(const uint8_t a[16]);
/* Dotted quad for v4-mapped, RFC 5952 otherwise; "" when buf is too small.  Returns buf. */
const char *ip_format(const uint8_t a[16], char *buf, size_t len);

/* A prefix of the 16-byte form: an IPv4 /n is /(96 + n). */
struct ip_cidr {
	uint8_t addr[16]; /* host bits cleared */
	uint8_t prefix;	  /* 0..128 */
};

/*
 * "ADDR/PREFIX" (10.0.0.0/8, fd00::/8), `len` bytes, host bits cleared.
 * 0, -EINVAL (not a CIDR) or -ERANGE (the prefix is longer than the family
 * allows: `*max` says how long it may be).
 */
int ip_cidr_parse(const char *text, size_t len, struct ip_cidr *out, unsigned int *max);
bool ip_cidr_contains(const struct ip_cidr *c, const uint8_t a[16]);
/* "10.0.0.0/8" (v4-mapped, prefix >= 96) or "fd00::/8"; returns buf (len >= 56). */
char *ip_cidr_format(const struct ip_cidr *c, char *buf, size_t len);

#endif /* PODFLOW_IP_H */
