// SPDX-License-Identifier: BSD-2-Clause
/* ADDR:PORT for listening sockets (ingest, admin, API): parsing, formatting, loopback. */
#include "listen_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, uint16_t *out)
{
	unsigned long v;
	char *end;

	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 5)
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int listen_addr_parse(const char *s, struct listen_addr *out)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon;
	uint16_t port;
	size_t hlen;

	memset(out, 0, sizeof(*out));
	if (!s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		hlen = (size_t)(close - s - 1);
		colon = close + 1;
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (parse_port(colon + 1, &port) ||
		    inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		out->len = sizeof(*sin6);
		return 0;
	}
	/* an IPv6 literal needs brackets: "::1:80" is ambiguous */
	colon = strchr(s, ':');
	if (!colon || strchr(colon + 1, ':'))
		return -EINVAL;
	if (parse_port(colon + 1, &port))
		return -EINVAL;
	hlen = (size_t)(colon - s);
	if (hlen == 0) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons(port);
		out->len = sizeof(*sin6);
		out->any = true;
		return 0;
	}
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -EINVAL;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	out->len = sizeof(*sin);
	return 0;
}

void listen_addr_v4_any(struct listen_addr *a)
{
	uint16_t port = listen_addr_port((const struct sockaddr *)&a->ss);
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;

	memset(&a->ss, 0, sizeof(a->ss));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_ANY);
	sin->sin_port = htons(port);
	a->len = sizeof(*sin);
}

void listen_addr_set_port(struct listen_addr *a, uint16_t port)
{
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
}

bool listen_addr_is_loopback(const struct listen_addr *a)
{
	const struct in6_addr *v6 = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;

	if (a->ss.ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr) >> 24) == 127;
	if (a->ss.ss_family != AF_INET6)
		return false;
	return IN6_IS_ADDR_LOOPBACK(v6) || (IN6_IS_ADDR_V4MAPPED(v6) && v6->s6_addr[12] == 127);
}

uint16_t listen_addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

const char *listen_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, listen_addr_port(sa));
	} else {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, listen_addr_port(sa));
	}
	return buf;
}
