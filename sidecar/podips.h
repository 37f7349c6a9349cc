/* SPDX-License-Identifier: BSD-2-Clause */
/* The pod's own IP addresses, for the heartbeat every batch carries. */
#ifndef PODFLOW_PODIPS_H
#define PODFLOW_PODIPS_H

#include <stdint.h>

/* What pod_ips() did not claim, for one warning and the metrics. */
struct pod_ips_dropped {
	uint32_t over_limit; /* distinct addresses beyond `max` */
	uint32_t malformed;  /* entries of a malformed variable: all of them */
};

/*
 * Fills up to `max` addresses (16 bytes each, IPv4 as v4-mapped, duplicates
 * folded): from POD_IPS (the Downward API's status.podIPs, comma-separated),
 * else POD_IP, else the addresses of this network namespace's interfaces,
 * without loopback and IPv6 link-local ones.  `getenv_fn` is getenv or a
 * test's.  Returns the number stored (0 is possible), or -EINVAL when the
 * variable holds an entry that is not an IP address: the whole variable is
 * then ignored (nothing stored, every entry counted in `malformed`; a
 * heartbeat claims nothing rather than the rest of a value that is wrong).
 * Whenever something is left out, `why` holds one line naming the variable,
 * what was wrong and what is not claimed; else it is "".
 */
int pod_ips(char *(*getenv_fn)(const char *), uint8_t (*out)[16], uint32_t max,
	    struct pod_ips_dropped *dropped, char *why, unsigned long whylen);

#endif /* PODFLOW_PODIPS_H */
