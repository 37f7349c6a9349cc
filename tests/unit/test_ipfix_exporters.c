// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/ipfix/ipfix_exporters: the bounded per-exporter counters. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ipfix.h"
#include "ipfix_exporters.h"

static struct ipfix_exporter_key key(uint8_t a, uint16_t port, uint32_t domain)
{
	struct ipfix_exporter_key k = { .port = port, .domain = domain };

	k.addr[10] = k.addr[11] = 0xff;
	k.addr[12] = 10;
	k.addr[15] = a;
	return k;
}

static bool same_key(const struct ipfix_exporter_key *x, const struct ipfix_exporter_key *y)
{
	return x->port == y->port && x->domain == y->domain && !memcmp(x->addr, y->addr, 16);
}

static void test_counts_and_recency(void **state)
{
	struct ipfix_exporters *t = ipfix_exporters__new(8);
	struct ipfix_exporter_key a = key(1, 4000, 7), b = key(2, 4000, 7), c = key(1, 4001, 7),
				  d = key(1, 4000, 8);
	struct ipfix_exporter_counts one = { 1, 10, 100 }, none = { 0 };
	struct ipfix_exporter_entry e[8];

	(void)state;
	assert_non_null(t);
	ipfix_exporters__seen(t, &a, &one);
	ipfix_exporters__seen(t, &b, &none);
	ipfix_exporters__seen(t, &c, &one);
	ipfix_exporters__seen(t, &d, &none);
	ipfix_exporters__seen(t, &a, &one);
	/* the port and the domain are part of the key */
	assert_int_equal(4, ipfix_exporters__count(t));
	assert_int_equal(4, ipfix_exporters__snapshot(t, e, 8));
	assert_true(same_key(&e[0].key, &a)); /* most recent first */
	assert_true(same_key(&e[1].key, &d));
	assert_true(same_key(&e[2].key, &c));
	assert_true(same_key(&e[3].key, &b));
	assert_int_equal(2, e[0].counts.sequence_gaps);
	assert_int_equal(20, e[0].counts.missed_records);
	assert_int_equal(200, e[0].counts.unknown_sets);
	assert_int_equal(0, e[1].counts.missed_records);
	assert_int_equal(1, e[2].counts.sequence_gaps);
	assert_int_equal(2, ipfix_exporters__snapshot(t, e, 2));
	ipfix_exporters__free(t);
	assert_null(ipfix_exporters__new(0));
	assert_int_equal(EINVAL, errno);
}

/* Against a plain array kept in recency order, over many random touches. */
static void test_bounded_lru(void **state)
{
	enum { MAX = 16, KEYS = 40 };
	struct ipfix_exporters *t = ipfix_exporters__new(MAX);
	struct ipfix_exporter_entry e[MAX];
	uint32_t model[MAX], n = 0;
	uint64_t counts[KEYS] = { 0 };

	(void)state;
	assert_non_null(t);
	srand(11);
	for (int round = 0; round < 20000; round++) {
		uint32_t k = (uint32_t)rand() % KEYS, at = n;
		struct ipfix_exporter_key kk = key((uint8_t)k, (uint16_t)(1000 + k % 3), k / 3);
		struct ipfix_exporter_counts add = { .missed_records = 1 };

		for (uint32_t i = 0; i < n; i++)
			if (model[i] == k)
				at = i;
		if (at == n) {
			if (n == MAX) {
				counts[model[MAX - 1]] = 0; /* evicted: its series starts again */
				at = MAX - 1;
			} else {
				n++;
			}
		}
		memmove(&model[1], &model[0], at * sizeof(model[0]));
		model[0] = k;
		counts[k]++;
		ipfix_exporters__seen(t, &kk, &add);
	}
	assert_int_equal(n, ipfix_exporters__snapshot(t, e, MAX));
	for (uint32_t i = 0; i < n; i++) {
		struct ipfix_exporter_key kk =
		    key((uint8_t)model[i], (uint16_t)(1000 + model[i] % 3), model[i] / 3);

		assert_true(same_key(&e[i].key, &kk));
		assert_int_equal(counts[model[i]], e[i].counts.missed_records);
	}
	ipfix_exporters__free(t);
}

struct sent {
	uint8_t buf[IPFIX_DEFAULT_MAX_MESSAGE];
	size_t len;
};

static void on_msg(void *ctx, const void *msg, size_t len, uint32_t records)
{
	struct sent *s = ctx;

	(void)records;
	memcpy(s->buf, msg, len);
	s->len = len;
}

/*
 * Fed the messages the decoder took, in its order, the table holds the
 * decoder's exporters: the one the decoder forgot (whose templates are
 * gone) is the one the table forgot.
 */
static void test_mirrors_the_decoder(void **state)
{
	struct ipfix_decoder_opts o = { .max_exporters = 3 };
	struct ipfix_decoder *d = ipfix_decoder__new(&o);
	struct ipfix_exporters *t = ipfix_exporters__new(3);
	struct ipfix_exporter_entry e[4];
	struct sent s;
	struct ipfix_msg *m;

	(void)state;
	assert_non_null(d);
	assert_non_null(t);
	for (uint32_t x = 1; x <= 4; x++) {
		struct ipfix_encoder_opts eo = { .domain_id = x };
		struct ipfix_encoder *enc = ipfix_encoder__new(&eo, on_msg, &s);
		struct ipfix_exporter_key k = key((uint8_t)x, 4739, x);
		struct ipfix_source src = { .port = 4739 };
		struct ipfix_exporter_counts none = { 0 };

		assert_non_null(enc);
		memcpy(src.addr, k.addr, 16);
		ipfix_encoder__send_templates(enc, 1);
		assert_int_equal(0, ipfix_decoder__decode(d, &src, s.buf, s.len, &m));
		ipfix_exporters__seen(t, &k, &none);
		ipfix_encoder__free(enc);
	}
	assert_int_equal(1, ipfix_decoder__stats(d)->exporters_evicted);
	assert_int_equal(3, ipfix_decoder__stats(d)->exporters);
	assert_int_equal(3, ipfix_exporters__snapshot(t, e, 4));
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(4 - i, e[i].key.domain); /* 4, 3, 2: exporter 1 went */
	ipfix_exporters__free(t);
	ipfix_decoder__free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_and_recency),
		cmocka_unit_test(test_bounded_lru),
		cmocka_unit_test(test_mirrors_the_decoder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
