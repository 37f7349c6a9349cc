// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for lib/file: a whole small file, bounded. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "file.h"

static void test_read(void **state)
{
	char dir[] = "/tmp/podflow-test-file-XXXXXX", path[64], fifo[64], why[256], *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 3000; i++)
		fputs("0123456789", f); /* 30000 bytes: several reads past the first guess */
	fclose(f);
	assert_int_equal(0, file_read(path, 1 << 20, &buf, &len, why, sizeof(why)));
	assert_int_equal(30000, len);
	assert_int_equal('\0', buf[len]);
	assert_int_equal(0, memcmp(buf + 29990, "0123456789", 10));
	free(buf);
	/* exactly the bound is fine, one byte more is refused, and said so */
	assert_int_equal(0, file_read(path, 30000, &buf, &len, why, sizeof(why)));
	free(buf);
	assert_int_equal(-EFBIG, file_read(path, 29999, &buf, &len, why, sizeof(why)));
	assert_non_null(strstr(why, "/f: larger than 29999 bytes, refused"));
	assert_int_equal(0, truncate(path, 2 << 20));
	assert_int_equal(-EFBIG, file_read(path, 1 << 20, &buf, &len, why, sizeof(why)));
	assert_non_null(strstr(why, "larger than 1 MiB, refused"));
	/* empty */
	assert_int_equal(0, truncate(path, 0));
	assert_int_equal(0, file_read(path, 100, &buf, &len, why, sizeof(why)));
	assert_int_equal(0, len);
	assert_string_equal("", buf);
	free(buf);
	/* absent: the errno, the path */
	assert_int_equal(-ENOENT,
			 file_read("/nonexistent-podflow", 100, &buf, &len, why, sizeof(why)));
	assert_string_equal("/nonexistent-podflow: No such file or directory", why);
	/* a FIFO nobody writes to does not hang the caller */
	snprintf(fifo, sizeof(fifo), "%s/p", dir);
	assert_int_equal(0, mkfifo(fifo, 0600));
	assert_int_equal(0, file_read(fifo, 100, &buf, &len, why, sizeof(why)));
	assert_int_equal(0, len);
	free(buf);
	unlink(fifo);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
