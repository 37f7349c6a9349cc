// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for lib/utf8: RFC 3629's valid sequences, and each way a byte string is not one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../report.h"
#include "utf8.h"

#define U(s) ((const unsigned char *)(s))

/* A test's figures for docs/reliability.md, once they add up (tests/report.h). */
static void report(const char *test, struct report_fault *f)
{
	f->lost = f->injected - f->delivered - f->counted;
	assert_int_equal(f->lost, 0);
	report_fault_line("utf8", test, 1, f);
}

static void test_sequences(void **state)
{
	struct report_fault f = {
		.fault =
		    "UTF-8 sequence cut, overlong, a surrogate, past U+10FFFF, bad continuation",
		.unit = "sequences",
		.counted_as = "length 0: not UTF-8, the string refused",
	};

/* a sequence that is not UTF-8: length 0 */
#define BAD(s, n)                                    \
	do {                                         \
		size_t len_ = utf8_seq_len(U(s), n); \
                                                     \
		f.injected++;                        \
		f.counted += len_ == 0;              \
		assert_int_equal(0, len_);           \
	} while (0)
	(void)state;
	assert_int_equal(1, utf8_seq_len(U("a"), 1));
	assert_int_equal(1, utf8_seq_len(U(""), 1));		     /* the NUL is ASCII */
	assert_int_equal(2, utf8_seq_len(U("\xc3\xa9"), 2));	     /* é */
	assert_int_equal(3, utf8_seq_len(U("\xe2\x82\xac"), 3));     /* € */
	assert_int_equal(4, utf8_seq_len(U("\xf0\x9f\x98\x80"), 4)); /* U+1F600 */
	assert_int_equal(4, utf8_seq_len(U("\xf4\x8f\xbf\xbf"), 4)); /* U+10FFFF, the last */
	BAD("\xc3\xa9", 1);					     /* cut */
	BAD("a", 0);
	BAD("\x80", 1);		    /* a continuation byte */
	BAD("\xc0\x80", 2);	    /* overlong NUL */
	BAD("\xc1\xbf", 2);	    /* overlong */
	BAD("\xe0\x80\x80", 3);	    /* overlong */
	BAD("\xed\xa0\x80", 3);	    /* a surrogate */
	BAD("\xf0\x80\x80\x80", 4); /* overlong */
	BAD("\xf4\x90\x80\x80", 4); /* past U+10FFFF */
	BAD("\xf5\x80\x80\x80", 4);
	BAD("\xc3\x41", 2); /* not a continuation */
#undef BAD
	report("test_sequences", &f);
}

static void test_strings(void **state)
{
	struct report_fault f = {
		.fault = "string with a bad byte, a NUL inside, cut at the end, a surrogate",
		.unit = "strings",
		.counted_as = "the offset of the first bad byte: the string refused",
	};

/* a string that is not UTF-8: bad at `at`, before its end */
#define BAD_AT(s, n, at)                           \
	do {                                       \
		size_t at_ = utf8_bad_at(U(s), n); \
                                                   \
		f.injected++;                      \
		f.counted += at_ < (n);            \
		assert_int_equal(at, at_);         \
	} while (0)
#define INVALID(s)                        \
	do {                              \
		bool ok_ = utf8_valid(s); \
                                          \
		f.injected++;             \
		f.counted += !ok_;        \
		assert_false(ok_);        \
	} while (0)
	(void)state;
	assert_int_equal(9, utf8_bad_at(U("caf\xc3\xa9-\xe2\x82\xac!"), 9));
	BAD_AT("abc\xff", 4, 3);
	BAD_AT("ab\0c", 4, 2);	   /* a NUL inside is bad */
	BAD_AT("a\xe2\x82", 3, 1); /* cut at the end */
	assert_int_equal(0, utf8_bad_at(U(""), 0));
	assert_true(utf8_valid("caf\xc3\xa9"));
	assert_true(utf8_valid(""));
	INVALID("caf\xe9");
	INVALID("\xed\xbf\xbf");
#undef BAD_AT
#undef INVALID
	report("test_strings", &f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequences),
		cmocka_unit_test(test_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
