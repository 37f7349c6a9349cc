// SPDX-License-Identifier: BSD-2-Clause
/* IP addresses in the 16-byte form every part of podflow keeps. */
#include "ip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* A NUL-terminated copy of text[0..len) in buf, or false (too long, or a NUL inside). */
static bool copy_text(const char *text, size_t len, char *buf, size_t size)
{
	if (!text || len == 0 || len >= size || memchr(text, '\0', len))
		return false;
	memcpy(buf, text, len);
	buf[len] = '\0';
	return true;
}

/* inet_pton() of both families into the 16-byte form; 0 or -EINVAL. */
static int parse_addr(const char *s, uint8_t out[16])
{
	uint8_t a[16];

	if (inet_pton(AF_INET, s, a + 12) == 1) {
		memcpy(a, v4mapped_prefix, sizeof(v4mapped_prefix));
	} else if (inet_pton(AF_INET6, s, a) != 1) {
		return -EINVAL;
	}
	memcpy(out, a, 16);
	return 0;
}

int ip_parse(const char *text, size_t len, uint8_t out[16])
{
	char buf[IP_TEXT_MAX];

	if (!copy_text(text, len, buf, sizeof(buf)))
		return -EINVAL;
	return parse_addr(buf, out);
}

int ip_parse_str(const char *text, uint8_t out[16])
{
	return text ? ip_parse(text, strlen(text), out) : -EINVAL;
}

int ip_from_sockaddr(const struct sockaddr *sa, uint8_t out[16])
{
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return 0;
	}
	if (sa->sa_family == AF_INET) {
		memcpy(out, v4mapped_prefix, sizeof(v4mapped_prefix));
		memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	return -EAFNOSUPPORT;
}

bool ip_is_v4mapped(const uint8_t a[16])
{
	return memcmp(a, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0;
}

bool ip_is_loopback(const uint8_t a[16])
{
	static const uint8_t v6[16] = { [15] = 1 };

	if (ip_is_v4mapped(a))
		return a[12] == 127;
	return memcmp(a, v6, 16) == 0;
}

/* Dotted quad without the stdio machinery inet_ntop() goes through (the record writer's hot path). */
static const char *v4_format(const uint8_t a[4], char *buf, size_t len)
{
	char *o = buf;

	if (len < 16)
		return NULL;
	for (int i = 0; i < 4; i++) {
		unsigned int v = a[i];

		if (v >= 100)
			*o++ = (char)('0' + v / 100);
		if (v >= 10)
			*o++ = (char)('0' + v / 10 % 10);
		*o++ = (char)('0' + v % 10);
		*o++ = i < 3 ? '.' : '\0';
	}
	return buf;
}

const char *ip_format(const uint8_t a[16], char *buf, size_t len)
{
	const char *r;

	if (ip_is_v4mapped(a))
		r = v4_format(a + 12, buf, len);
	else
		r = inet_ntop(AF_INET6, a, buf, (socklen_t)len);
	if (!r && len)
		buf[0] = '\0';
	return buf;
}

int ip_cidr_parse(const char *text, size_t len, struct ip_cidr *out, unsigned int *max)
{
	char buf[IP_TEXT_MAX + 8], *slash;
	struct ip_cidr c = { 0 };
	uint32_t prefix;
	bool v6;

	if (!copy_text(text, len, buf, sizeof(buf)))
		return -EINVAL;
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	v6 = strchr(buf, ':') != NULL;
	if (parse_addr(buf, c.addr) || ip_is_v4mapped(c.addr) == v6)
		return -EINVAL; /* ::ffff:a.b.c.d/n: write the IPv4 form */
	if (cli_parse_u32(slash + 1, 0, UINT32_MAX, &prefix))
		return -EINVAL;
	if (max)
		*max = v6 ? 128 : 32;
	if (prefix > (v6 ? 128u : 32u))
		return -ERANGE;
	c.prefix = (uint8_t)(v6 ? prefix : 96 + prefix);
	for (unsigned int b = 0; b < 16; b++) {
		unsigned int first = b * 8;

		if (first >= c.prefix)
			c.addr[b] = 0;
		else if (first + 8 > c.prefix)
			c.addr[b] &= (uint8_t)(0xff << (8 - (c.prefix - first)));
	}
	*out = c;
	return 0;
}

bool ip_cidr_contains(const struct ip_cidr *c, const uint8_t a[16])
{
	unsigned int full = c->prefix / 8, rest = c->prefix % 8;

	if (memcmp(c->addr, a, full) != 0)
		return false;
	return !rest || ((a[full] ^ c->addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

char *ip_cidr_format(const struct ip_cidr *c, char *buf, size_t len)
{
	char a[IP_TEXT_MAX];
	bool v4 = c->prefix >= 96 && ip_is_v4mapped(c->addr);

	if (v4)
		ip_format(c->addr, a, sizeof(a));
	else if (!inet_ntop(AF_INET6, c->addr, a, sizeof(a)))
		a[0] = '\0';
	snprintf(buf, len, "%s/%u", a, v4 ? c->prefix - 96u : c->prefix);
	return buf;
}
