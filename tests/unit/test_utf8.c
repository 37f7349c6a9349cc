// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for lib/utf8: RFC 3629's valid sequences, and each way a byte string is not one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

#define U(s) ((const unsigned char *)(s))

static void test_sequences(void **state)
{
	(void)state;
	assert_int_equal(1, utf8_seq_len(U("a"), 1));
	assert_int_equal(1, utf8_seq_len(U(""), 1));		     /* the NUL is ASCII */
	assert_int_equal(2, utf8_seq_len(U("\xc3\xa9"), 2));	     /* é */
	assert_int_equal(3, utf8_seq_len(U("\xe2\x82\xac"), 3));     /* € */
	assert_int_equal(4, utf8_seq_len(U("\xf0\x9f\x98\x80"), 4)); /* U+1F600 */
	assert_int_equal(4, utf8_seq_len(U("\xf4\x8f\xbf\xbf"), 4)); /* U+10FFFF, the last */
	assert_int_equal(0, utf8_seq_len(U("\xc3\xa9"), 1));	     /* cut */
	assert_int_equal(0, utf8_seq_len(U("a"), 0));
	assert_int_equal(0, utf8_seq_len(U("\x80"), 1));	     /* a continuation byte */
	assert_int_equal(0, utf8_seq_len(U("\xc0\x80"), 2));	     /* overlong NUL */
	assert_int_equal(0, utf8_seq_len(U("\xc1\xbf"), 2));	     /* overlong */
	assert_int_equal(0, utf8_seq_len(U("\xe0\x80\x80"), 3));     /* overlong */
	assert_int_equal(0, utf8_seq_len(U("\xed\xa0\x80"), 3));     /* a surrogate */
	assert_int_equal(0, utf8_seq_len(U("\xf0\x80\x80\x80"), 4)); /* overlong */
	assert_int_equal(0, utf8_seq_len(U("\xf4\x90\x80\x80"), 4)); /* past U+10FFFF */
	assert_int_equal(0, utf8_seq_len(U("\xf5\x80\x80\x80"), 4));
	assert_int_equal(0, utf8_seq_len(U("\xc3\x41"), 2)); /* not a continuation */
}

static void test_strings(void **state)
{
	(void)state;
	assert_int_equal(9, utf8_bad_at(U("caf\xc3\xa9-\xe2\x82\xac!"), 9));
	assert_int_equal(3, utf8_bad_at(U("abc\xff"), 4));
	assert_int_equal(2, utf8_bad_at(U("ab\0c"), 4));     /* a NUL inside is bad */
	assert_int_equal(1, utf8_bad_at(U("a\xe2\x82"), 3)); /* cut at the end */
	assert_int_equal(0, utf8_bad_at(U(""), 0));
	assert_true(utf8_valid("caf\xc3\xa9"));
	assert_true(utf8_valid(""));
	assert_false(utf8_valid("caf\xe9"));
	assert_false(utf8_valid("\xed\xbf\xbf"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequences),
		cmocka_unit_test(test_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
