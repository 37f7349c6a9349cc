// SPDX-License-Identifier: BSD-2-Clause
/* The pod's own IP addresses, for the heartbeat every batch carries. */
#include "podips.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int pod_ip_parse(const char *s, uint8_t out[16])
{
	struct in_addr a4;

	if (inet_pton(AF_INET, s, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return 0;
	}
	return inet_pton(AF_INET6, s, out) == 1 ? 0 : -EINVAL;
}

static int add_unique(uint8_t (*out)[16], uint32_t max, uint32_t n, const uint8_t ip[16])
{
	for (uint32_t i = 0; i < n; i++)
		if (memcmp(out[i], ip, 16) == 0)
			return (int)n;
	if (n < max)
		memcpy(out[n++], ip, 16);
	return (int)n;
}

static int from_list(const char *list, uint8_t (*out)[16], uint32_t max, char *why,
		     unsigned long whylen)
{
	char item[64];
	int n = 0;

	while (*list) {
		size_t len = strcspn(list, ",");
		uint8_t ip[16];

		/* trim spaces around each item */
		while (len && (*list == ' ')) {
			list++;
			len--;
		}
		while (len && list[len - 1] == ' ')
			len--;
		if (len == 0 || len >= sizeof(item)) {
			snprintf(why, whylen, "POD_IPS/POD_IP: empty or overlong address in \"%s\"",
				 list);
			return -EINVAL;
		}
		memcpy(item, list, len);
		item[len] = '\0';
		if (pod_ip_parse(item, ip)) {
			snprintf(why, whylen, "POD_IPS/POD_IP: \"%s\" is not an IP address", item);
			return -EINVAL;
		}
		n = add_unique(out, max, (uint32_t)n, ip);
		list += strcspn(list, ",");
		if (*list == ',')
			list++;
	}
	return n;
}

int pod_ips(char *(*getenv_fn)(const char *), uint8_t (*out)[16], uint32_t max, char *why,
	    unsigned long whylen)
{
	const char *env = getenv_fn("POD_IPS");
	struct ifaddrs *ifa, *i;
	int n = 0;

	if (!env || !*env)
		env = getenv_fn("POD_IP");
	if (env && *env)
		return from_list(env, out, max, why, whylen);
	if (getifaddrs(&ifa))
		return 0; /* no interfaces to read: an empty heartbeat, not an error */
	for (i = ifa; i; i = i->ifa_next) {
		uint8_t ip[16];

		if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			memset(ip, 0, 10);
			ip[10] = ip[11] = 0xff;
			memcpy(ip + 12, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;

			if (IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_LOOPBACK(a))
				continue; /* not routable: no flow from elsewhere targets it */
			memcpy(ip, a, 16);
		} else {
			continue;
		}
		n = add_unique(out, max, (uint32_t)n, ip);
	}
	freeifaddrs(ifa);
	return n;
}
