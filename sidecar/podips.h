/* SPDX-License-Identifier: BSD-2-Clause */
/* The pod's own IP addresses, for the heartbeat every batch carries. */
#ifndef PODFLOW_PODIPS_H
#define PODFLOW_PODIPS_H

#include <stdint.h>

/*
 * Fills up to `max` addresses (16 bytes each, IPv4 as v4-mapped): from
 * POD_IPS (the Downward API's status.podIPs, comma-separated), else POD_IP,
 * else the addresses of this network namespace's interfaces, without
 * loopback and IPv6 link-local ones.  `getenv_fn` is getenv or a test's.
 * Returns the number found (0 is possible), or -EINVAL when POD_IPS/POD_IP
 * is set but holds something that is not an IP address (`why` says what).
 */
int pod_ips(char *(*getenv_fn)(const char *), uint8_t (*out)[16], uint32_t max, char *why,
	    unsigned long whylen);

/* Parses one textual IPv4/IPv6 address into 16 bytes (v4-mapped).  0 or -EINVAL. */
int pod_ip_parse(const char *s, uint8_t out[16]);

#endif /* PODFLOW_PODIPS_H */
