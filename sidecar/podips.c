// SPDX-License-Identifier: BSD-2-Clause
/* The pod's own IP addresses, for the heartbeat every batch carries. */
#include "podips.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ip.h"

/* The distinct addresses found, in order, all of them: what is beyond `max` is counted. */
struct ipset {
	uint8_t (*a)[16];
	uint32_t n, cap;
};

static int ipset_add(struct ipset *set, const uint8_t ip[16])
{
	for (uint32_t i = 0; i < set->n; i++)
		if (memcmp(set->a[i], ip, 16) == 0)
			return 0;
	if (set->n == set->cap) {
		uint32_t cap = set->cap ? set->cap * 2 : 64;
		uint8_t(*a)[16] = realloc(set->a, (size_t)cap * 16);

		if (!a)
			return -ENOMEM;
		set->a = a;
		set->cap = cap;
	}
	memcpy(set->a[set->n++], ip, 16);
	return 0;
}

/* An entry as it goes into the one-line warning: cut, control bytes as '?'. */
static void quote(const char *s, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len && i < 48 && o + 1 < outlen; i++)
		out[o++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[o] = '\0';
	if (len > 48 && o + 4 < outlen)
		strcat(out, "...");
}

/* "a, b,c": the entries between commas, spaces around them trimmed; a trailing comma ends it. */
static uint32_t count_entries(const char *list)
{
	uint32_t n = 0;

	while (*list) {
		n++;
		list += strcspn(list, ",");
		if (*list == ',')
			list++;
	}
	return n;
}

static int from_list(const char *var, const char *list, struct ipset *set,
		     struct pod_ips_dropped *dropped, char *why, unsigned long whylen)
{
	uint32_t total = count_entries(list), i = 0;
	char shown[64];
	int err;

	while (*list) {
		size_t len = strcspn(list, ",");
		uint8_t ip[16];

		i++;
		/* trim spaces around each item */
		while (len && (*list == ' ')) {
			list++;
			len--;
		}
		while (len && list[len - 1] == ' ')
			len--;
		if (ip_parse(list, len, ip)) { /* an empty entry too */
			if (len)
				quote(list, len, shown, sizeof(shown));
			snprintf(
			    why, whylen,
			    "%s: entry %u of %u%s%s%s is %s: the variable is ignored, heartbeats "
			    "claim no address",
			    var, i, total, len ? ", \"" : "", len ? shown : "", len ? "\"," : "",
			    len ? "not an IP address" : "empty");
			set->n = 0;
			dropped->malformed = total;
			return -EINVAL;
		}
		err = ipset_add(set, ip);
		if (err) {
			snprintf(why, whylen, "%s: out of memory reading it", var);
			return err;
		}
		list += strcspn(list, ",");
		if (*list == ',')
			list++;
	}
	return 0;
}

static int from_interfaces(struct ipset *set)
{
	struct ifaddrs *ifa, *i;
	int err = 0;

	if (getifaddrs(&ifa))
		return 0; /* no interfaces to read: an empty heartbeat, not an error */
	for (i = ifa; i && !err; i = i->ifa_next) {
		uint8_t ip[16];

		if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		if (i->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;

			if (IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_LOOPBACK(a))
				continue; /* not routable: no flow from elsewhere targets it */
		}
		if (ip_from_sockaddr(i->ifa_addr, ip))
			continue; /* neither IPv4 nor IPv6 */
		err = ipset_add(set, ip);
	}
	freeifaddrs(ifa);
	return err;
}

int pod_ips(char *(*getenv_fn)(const char *), uint8_t (*out)[16], uint32_t max,
	    struct pod_ips_dropped *dropped, char *why, unsigned long whylen)
{
	const char *var = "POD_IPS", *env = getenv_fn("POD_IPS");
	struct ipset set = { 0 };
	int err;

	memset(dropped, 0, sizeof(*dropped));
	if (whylen)
		why[0] = '\0';
	if (!env || !*env) {
		var = "POD_IP";
		env = getenv_fn("POD_IP");
	}
	if (env && *env) {
		err = from_list(var, env, &set, dropped, why, whylen);
	} else {
		var = "this network namespace's interfaces";
		err = from_interfaces(&set);
		if (err)
			snprintf(why, whylen, "%s: out of memory reading them", var);
	}
	if (err) {
		free(set.a);
		return err;
	}
	if (set.n > max) {
		dropped->over_limit = set.n - max;
		snprintf(
		    why, whylen,
		    "%s: %u addresses, but a heartbeat carries at most %u: the last %u are not "
		    "claimed",
		    var, set.n, max, set.n - max);
		set.n = max;
	}
	if (set.n)
		memcpy(out, set.a, (size_t)set.n * 16);
	free(set.a);
	return (int)set.n;
}
