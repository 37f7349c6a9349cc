// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/peers: the per-address connection cap, its keys and live changes. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "ip.h"
#include "peers.h"

static void v4_key(const char *ip, uint8_t key[16])
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(4242) };

	assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
	assert_int_equal(ip_from_sockaddr((struct sockaddr *)&sa, key), 0);
}

/* IPv4 as v4-mapped, IPv6 as is, the port ignored; other families refused. */
static void test_keys(void **state)
{
	static const uint8_t mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3 };
	struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6, .sin6_port = htons(1) };
	struct sockaddr_in6 other6 = sa6;
	struct sockaddr sun = { .sa_family = AF_UNIX };
	uint8_t k[16], k2[16];

	(void)state;
	v4_key("10.1.2.3", k);
	assert_memory_equal(k, mapped, 16);
	inet_pton(AF_INET6, "fd00::1", &sa6.sin6_addr);
	assert_int_equal(ip_from_sockaddr((struct sockaddr *)&sa6, k), 0);
	assert_memory_equal(k, &sa6.sin6_addr, 16);
	/* a v4-mapped IPv6 peer (a dual-stack listener) is the same peer as its IPv4 self */
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &other6.sin6_addr);
	assert_int_equal(ip_from_sockaddr((struct sockaddr *)&other6, k2), 0);
	assert_memory_equal(k2, mapped, 16);
	assert_int_equal(ip_from_sockaddr(&sun, k), -EAFNOSUPPORT);
}

/* Up to the cap per address, then -EUSERS (nothing counted); other addresses unaffected. */
static void test_cap(void **state)
{
	struct peers *p = peers__new(3);
	uint8_t a[16], b[16];

	(void)state;
	assert_non_null(p);
	v4_key("127.0.0.1", a);
	v4_key("127.0.0.2", b);
	for (int i = 0; i < 3; i++)
		assert_int_equal(peers__acquire(p, a), 0);
	assert_int_equal(peers__acquire(p, a), -EUSERS);
	assert_int_equal(peers__acquire(p, a), -EUSERS);
	assert_int_equal(peers__held(p, a), 3);
	assert_int_equal(peers__acquire(p, b), 0);
	assert_int_equal(peers__held(p, b), 1);
	assert_int_equal(peers__count(p), 2);
	/* a closed connection frees its slot */
	peers__release(p, a);
	assert_int_equal(peers__held(p, a), 2);
	assert_int_equal(peers__acquire(p, a), 0);
	for (int i = 0; i < 3; i++)
		peers__release(p, a);
	peers__release(p, b);
	assert_int_equal(peers__held(p, a), 0);
	assert_int_equal(peers__count(p), 0);
	peers__free(p);
}

/* 0 is no cap; a live change applies to the next accept, and open connections stay counted. */
static void test_live_max(void **state)
{
	struct peers *p = peers__new(0);
	uint8_t a[16];

	(void)state;
	v4_key("192.0.2.7", a);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(peers__acquire(p, a), 0);
	peers__set_max(p, 10);
	assert_int_equal(peers__acquire(p, a), -EUSERS);
	assert_int_equal(peers__held(p, a), 1000);
	for (int i = 0; i < 991; i++)
		peers__release(p, a);
	assert_int_equal(peers__acquire(p, a), 0); /* 9 held: the 10th fits */
	assert_int_equal(peers__acquire(p, a), -EUSERS);
	peers__set_max(p, 0);
	assert_int_equal(peers__acquire(p, a), 0);
	assert_int_equal(peers__held(p, a), 11);
	peers__free(p); /* with entries left: freed too (ASan checks) */
}

/* Many addresses: the table grows and each keeps its own count. */
static void test_many_peers(void **state)
{
	enum { N = 20000 };
	struct peers *p = peers__new(2);
	uint8_t k[16] = { 0 };

	(void)state;
	for (uint32_t i = 0; i < N; i++) {
		memcpy(k + 12, &i, 4);
		assert_int_equal(peers__acquire(p, k), 0);
		assert_int_equal(peers__acquire(p, k), 0);
		assert_int_equal(peers__acquire(p, k), -EUSERS);
	}
	assert_int_equal(peers__count(p), N);
	for (uint32_t i = 0; i < N; i += 2) {
		memcpy(k + 12, &i, 4);
		peers__release(p, k);
		peers__release(p, k);
	}
	assert_int_equal(peers__count(p), N / 2);
	for (uint32_t i = 1; i < N; i += 2) {
		memcpy(k + 12, &i, 4);
		assert_int_equal(peers__held(p, k), 2);
	}
	peers__free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_live_max),
		cmocka_unit_test(test_many_peers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
