// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for the export queue: bound, drop-oldest, in-flight, backoff, Retry-After. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch_queue.h"

static struct batch *mk(size_t len, uint32_t records, uint64_t seq)
{
	struct batch *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	b->body = malloc(len);
	assert_non_null(b->body);
	memset(b->body, (int)seq, len);
	b->len = len;
	b->records = records;
	b->seq = seq;
	return b;
}

static void test_fifo_order_and_accounting(void **state)
{
	struct batch_queue *q = batch_queue__new(1000);
	struct batch *b;
	uint64_t wait = 0;

	(void)state;
	assert_int_equal(batch_queue__push(q, mk(100, 10, 1)), 0);
	assert_int_equal(batch_queue__push(q, mk(200, 20, 2)), 0);
	assert_int_equal(batch_queue__bytes(q), 300);
	assert_int_equal(batch_queue__count(q), 2);
	b = batch_queue__take(q, 0, &wait);
	assert_non_null(b);
	assert_int_equal(b->seq, 1);
	assert_int_equal(wait, 0);
	/* the in-flight one is not handed out twice */
	b = batch_queue__take(q, 0, NULL);
	assert_int_equal(b->seq, 2);
	assert_null(batch_queue__take(q, 0, &wait));
	assert_int_equal(wait, UINT64_MAX);
	batch_queue__done(q, b);
	assert_int_equal(batch_queue__bytes(q), 100);
	assert_int_equal(batch_queue__count(q), 1);
	batch_queue__free(q); /* frees the one still in flight */
}

static void test_drop_oldest_not_in_flight(void **state)
{
	struct batch_queue *q = batch_queue__new(1000);
	struct batch *first;

	(void)state;
	assert_int_equal(batch_queue__push(q, mk(400, 4, 1)), 0);
	assert_int_equal(batch_queue__push(q, mk(400, 5, 2)), 0);
	first = batch_queue__take(q, 0, NULL); /* seq 1 is being sent */
	assert_int_equal(first->seq, 1);
	/* 800 + 400 > 1000: seq 2 (oldest not in flight) goes, not seq 1 */
	assert_int_equal(batch_queue__push(q, mk(400, 6, 3)), 5);
	assert_int_equal(batch_queue__bytes(q), 800);
	{
		uint64_t carried[WIRE_DROP__COUNT] = { 0 };

		assert_int_equal(batch_queue__take_dropped(q, carried), 5);
		assert_int_equal(batch_queue__take_dropped(q, carried), 0); /* reset by the take */
	}
	assert_int_equal(batch_queue__take(q, 0, NULL)->seq, 3);
	batch_queue__free(q);
}

static void test_new_batch_dropped_when_rest_in_flight(void **state)
{
	struct batch_queue *q = batch_queue__new(1000);

	(void)state;
	assert_int_equal(batch_queue__push(q, mk(900, 9, 1)), 0);
	assert_non_null(batch_queue__take(q, 0, NULL));
	/* only an in-flight batch could make room: the new one is the one dropped */
	assert_int_equal(batch_queue__push(q, mk(200, 7, 2)), 7);
	assert_int_equal(batch_queue__count(q), 1);
	/* and one larger than the whole buffer is dropped at once */
	assert_int_equal(batch_queue__push(q, mk(1001, 3, 3)), 3);
	{
		uint64_t carried[WIRE_DROP__COUNT] = { 0 };

		assert_int_equal(batch_queue__take_dropped(q, carried), 10);
	}
	batch_queue__free(q);
}

/* A lost batch hands back the loss counts its header carried. */
static void test_carried_counts_handed_back(void **state)
{
	struct batch_queue *q = batch_queue__new(500);
	uint64_t carried[WIRE_DROP__COUNT] = { 1, 0, 0, 0, 0 };
	struct batch *a = mk(300, 3, 1), *b = mk(300, 4, 2);

	(void)state;
	a->carried[WIRE_DROP_KERNEL_RING] = 7;
	a->carried[WIRE_DROP_BUFFER] = 11;
	assert_int_equal(batch_queue__push(q, a), 0);
	/* b pushes a out: a's 3 records are lost, and so are the 7 + 11 it reported */
	assert_int_equal(batch_queue__push(q, b), 3);
	assert_int_equal(batch_queue__take_dropped(q, carried), 3);
	assert_int_equal(carried[WIRE_DROP_KERNEL_RING], 8); /* added to what was there */
	assert_int_equal(carried[WIRE_DROP_BUFFER], 11);
	assert_int_equal(carried[WIRE_DROP_KERNEL_MAP], 0);
	memset(carried, 0, sizeof(carried));
	assert_int_equal(batch_queue__take_dropped(q, carried), 0);
	assert_int_equal(carried[WIRE_DROP_BUFFER], 0);
	batch_queue__free(q);
}

static void test_retry_waits(void **state)
{
	struct batch_queue *q = batch_queue__new(1000);
	struct batch *b;
	uint64_t wait = 0;

	(void)state;
	assert_int_equal(batch_queue__push(q, mk(10, 1, 1)), 0);
	b = batch_queue__take(q, 100, NULL);
	b->not_before_ns = 5000;
	batch_queue__retry(q, b);
	assert_null(batch_queue__take(q, 1000, &wait));
	assert_int_equal(wait, 4000);
	b = batch_queue__take(q, 5000, &wait);
	assert_non_null(b);
	assert_int_equal(b->seq, 1);
	batch_queue__done(q, b);
	assert_int_equal(batch_queue__count(q), 0);
	batch_queue__free(q);
}

/* The send spread's hold is lifted at shutdown; a retry's backoff is not. */
static void test_release_held(void **state)
{
	struct batch_queue *q = batch_queue__new(1000);
	struct batch *held = mk(10, 1, 1), *retried;
	uint64_t wait = 0;

	(void)state;
	assert_int_equal(batch_queue__push(q, mk(10, 1, 2)), 0);
	retried = batch_queue__take(q, 100, NULL);
	retried->attempts = 1;
	retried->not_before_ns = 9000;
	batch_queue__retry(q, retried);
	held->not_before_ns = 7000; /* sealed at a cut, due at the sender's offset */
	assert_int_equal(batch_queue__push(q, held), 0);
	assert_null(batch_queue__take(q, 1000, &wait));
	assert_int_equal(wait, 6000);
	batch_queue__release_held(q);
	assert_ptr_equal(batch_queue__take(q, 1000, &wait), held);
	assert_int_equal(held->not_before_ns, 0);
	assert_null(batch_queue__take(q, 1000, &wait));
	assert_int_equal(wait, 8000); /* the retry still backs off */
	batch_queue__done(q, held);
	assert_ptr_equal(batch_queue__take(q, 9000, NULL), retried);
	batch_queue__done(q, retried);
	assert_int_equal(batch_queue__count(q), 0);
	batch_queue__free(q);
}

static void test_backoff(void **state)
{
	const uint64_t base = 100, cap = 3000;

	(void)state;
	/* attempt 0: [50, 100]; rnd picks within, inclusive */
	assert_int_equal(backoff_ns(0, base, cap, 0), 50);
	assert_int_equal(backoff_ns(0, base, cap, 50), 100);
	assert_int_equal(backoff_ns(0, base, cap, 51), 50);
	/* attempt 3: up to 800 */
	assert_int_equal(backoff_ns(3, base, cap, 750), 800);
	/* capped */
	assert_int_equal(backoff_ns(40, base, cap, 2950), 3000);
	assert_int_equal(backoff_ns(1000, base, cap, UINT64_MAX) <= cap, 1);
	for (uint64_t r = 0; r < 5000; r += 7) {
		uint64_t v = backoff_ns(5, base, cap, r);

		assert_true(v >= 50 && v <= 3000);
	}
}

static void test_retry_after(void **state)
{
	const int64_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

	(void)state;
	assert_int_equal(retry_after_seconds("120", now, 300), 120);
	assert_int_equal(retry_after_seconds(" 2 ", now, 300), 2);
	assert_int_equal(retry_after_seconds("0", now, 300), 0);
	assert_int_equal(retry_after_seconds("999999", now, 300), 300);
	assert_int_equal(retry_after_seconds("99999999999999999999999", now, 300), 300);
	assert_int_equal(retry_after_seconds("Sun, 06 Nov 1994 08:50:07 GMT", now, 300), 30);
	assert_int_equal(retry_after_seconds("Sun, 06 Nov 1994 08:00:00 GMT", now, 300), 0);
	assert_int_equal(retry_after_seconds(NULL, now, 300), -1);
	assert_int_equal(retry_after_seconds("", now, 300), -1);
	assert_int_equal(retry_after_seconds("soon", now, 300), -1);
	assert_int_equal(retry_after_seconds("12abc", now, 300), -1);
	assert_int_equal(retry_after_seconds("-5", now, 300), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_order_and_accounting),
		cmocka_unit_test(test_drop_oldest_not_in_flight),
		cmocka_unit_test(test_new_batch_dropped_when_rest_in_flight),
		cmocka_unit_test(test_carried_counts_handed_back),
		cmocka_unit_test(test_retry_waits),
		cmocka_unit_test(test_release_held),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_retry_after),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
