// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for sidecar/report_header: sequence, contiguous spans, the claim, drops since last. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "ip.h"
#include "report_header.h"

/* The capture's cumulative losses, as the sidecar's drops function reports them. */
static uint64_t g_cumul[WIRE_DROP__COUNT];

static void drops(void *ctx, uint64_t cumulative[WIRE_DROP__COUNT])
{
	(void)ctx;
	memcpy(cumulative, g_cumul, sizeof(g_cumul));
}

static const struct flow_identity pod = { .pod = "web-1", .namespace = "shop", .app = "web" };

static void test_sequence_spans_ips(void **state)
{
	uint8_t ips[WIRE_MAX_IPS][16], want[16];
	struct report_header_stats st;
	struct report_header *rh;
	struct wire_header h;
	uint64_t t0 = (uint64_t)clock_wall_ms(), prev_end = 0;

	(void)state;
	setenv("POD_IPS", "10.1.2.3", 1);
	rh = report_header__new(&pod, drops, NULL);
	assert_non_null(rh);
	for (uint64_t i = 1; i <= 3; i++) {
		report_header__next(rh, &h, ips);
		assert_int_equal(h.seq, i);
		assert_int_equal(h.sender_id, report_header__sender_id(rh));
		assert_string_equal(h.sender.pod, "web-1");
		assert_true(h.span_start_ms <= h.span_end_ms);
		if (i == 1)
			assert_true(h.span_start_ms >= t0);
		else
			assert_int_equal(h.span_start_ms, prev_end); /* contiguous */
		prev_end = h.span_end_ms;
		assert_int_equal(h.n_ips, 1);
		assert_int_equal(ip_parse_str("10.1.2.3", want), 0);
		assert_memory_equal(h.ips[0], want, 16);
	}
	report_header__stats(rh, &st);
	assert_int_equal(st.heartbeat_ips, 1);
	report_header__free(rh);
	unsetenv("POD_IPS");
}

static void test_claim(void **state)
{
	uint8_t ips[WIRE_MAX_IPS][16];
	struct report_header_stats st;
	struct report_header *rh;
	struct wire_header h;
	uint64_t until;

	(void)state;
	setenv("POD_IPS", "10.1.2.3,fd00::7", 1);
	rh = report_header__new(&pod, NULL, NULL);
	assert_non_null(rh);
	/* blind: no address, whatever the pod has */
	report_header__set_claim(rh, false, 0);
	report_header__next(rh, &h, ips);
	assert_int_equal(h.n_ips, 0);
	report_header__stats(rh, &st);
	assert_int_equal(st.heartbeat_ips, 0);
	/* claimed up to a moment already past: the span ends there, and the next one too */
	until = h.span_end_ms;
	report_header__set_claim(rh, true, until);
	report_header__next(rh, &h, ips);
	assert_int_equal(h.n_ips, 2);
	assert_int_equal(h.span_start_ms, until);
	assert_int_equal(h.span_end_ms, until); /* never past the claim, never before the start */
	/* claimed up to each report again */
	report_header__set_claim(rh, true, UINT64_MAX);
	report_header__next(rh, &h, ips);
	assert_int_equal(h.span_start_ms, until);
	assert_true(h.span_end_ms >= until);
	report_header__free(rh);
	unsetenv("POD_IPS");
}

static void test_drops_since_previous(void **state)
{
	uint8_t ips[WIRE_MAX_IPS][16];
	struct report_header *rh;
	struct wire_header h;

	(void)state;
	memset(g_cumul, 0, sizeof(g_cumul));
	g_cumul[WIRE_DROP_KERNEL_RING] = 5;
	rh = report_header__new(&pod, drops, NULL);
	assert_non_null(rh);
	report_header__next(rh, &h, ips);
	assert_int_equal(h.drops[WIRE_DROP_KERNEL_RING], 5);
	report_header__next(rh, &h, ips);
	assert_int_equal(h.drops[WIRE_DROP_KERNEL_RING], 0);
	g_cumul[WIRE_DROP_KERNEL_RING] = 7;
	g_cumul[WIRE_DROP_TABLE] = 1;
	report_header__next(rh, &h, ips);
	assert_int_equal(h.drops[WIRE_DROP_KERNEL_RING], 2);
	assert_int_equal(h.drops[WIRE_DROP_TABLE], 1);
	assert_int_equal(h.drops[WIRE_DROP_BUFFER], 0); /* the transport's own: the caller's */
	report_header__free(rh);
}

/*
 * Each sender's place in the send spread: fixed for the sender, inside the
 * spread, and spread evenly over a thousand senders (ten buckets of an
 * expected 100 each; 50 or 150 is over five standard deviations off).
 */
static void test_send_offset(void **state)
{
	const uint64_t spread = 500 * 1000 * 1000ull + 7;
	uint32_t bucket[10] = { 0 };

	(void)state;
	for (int i = 0; i < 1000; i++) {
		struct report_header *rh = report_header__new(&pod, NULL, NULL);
		uint64_t off;

		assert_non_null(rh);
		off = report_header__send_offset_ns(rh, spread);
		assert_true(off < spread);
		assert_int_equal(report_header__send_offset_ns(rh, spread), off);
		assert_int_equal(report_header__send_offset_ns(rh, 0), 0);
		assert_int_equal(report_header__send_offset_ns(rh, 1), 0);
		bucket[off * 10 / spread]++;
		report_header__free(rh);
	}
	for (int i = 0; i < 10; i++) {
		assert_in_range(bucket[i], 50, 150);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequence_spans_ips),
		cmocka_unit_test(test_claim),
		cmocka_unit_test(test_drops_since_previous),
		cmocka_unit_test(test_send_offset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
