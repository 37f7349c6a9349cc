// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for lib/config: every type's parser, the YAML loader's messages, build, merge, JSON. */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>
#include <jansson.h>

#include "../report.h"
#include "config.h"
#include "config_source.h"
#include "duration.h"
#include "jsonw.h"
#include "log.h"

#define MS  DURATION_NS_PER_MS
#define SEC DURATION_NS_PER_S
#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* A small binary's configuration, one field of every type. */
struct test_config {
	uint64_t interval_ns;
	bool aggregate;
	char *output;
	uint32_t batch_max_records;
	uint64_t buffer_max_bytes;
	uint64_t batch_max_bytes;
	struct config_ports ignore_ports;
	struct config_cidrs ignore_cidrs;
	enum log_level log_level;
	bool enabled;
	char *admin;
	char *labels_file;
	char *scope; /* a string that may not be empty: min 1 */
};

#define OFF(f) offsetof(struct test_config, f)

/* batch.* is split by buffer.max_bytes on purpose: JSON must still nest "batch" once */
static const struct config_key keys[] = {
	{ "interval", "interval", CONFIG_DURATION, OFF(interval_ns), 100 * MS, 3600 * SEC, true,
	  "aggregation interval" },
	{ "aggregate", "aggregate", CONFIG_BOOL, OFF(aggregate), 0, 0, true,
	  "one record per peer | not per connection" },
	{ "output", "output", CONFIG_STRING, OFF(output), 0, 64, false, "- or a file" },
	{ "batch.max_records", "batch-max-records", CONFIG_U32, OFF(batch_max_records), 1, 262144,
	  true, "records per batch" },
	{ "buffer.max_bytes", "buffer-max-bytes", CONFIG_BYTES, OFF(buffer_max_bytes), MiB, GiB,
	  false, "buffer size" },
	{ "batch.max_bytes", "batch-max-bytes", CONFIG_BYTES, OFF(batch_max_bytes), KiB, 64 * MiB,
	  true, "bytes per batch" },
	{ "filters.ignore_ports", "ignore-ports", CONFIG_PORT_LIST, OFF(ignore_ports), 0, 0, true,
	  "ports not recorded" },
	{ "filters.ignore_cidrs", "ignore-cidrs", CONFIG_CIDR_LIST, OFF(ignore_cidrs), 0, 0, true,
	  "peers not recorded" },
	{ "log.level", "log-level", CONFIG_LOG_LEVEL, OFF(log_level), 0, 0, true, "log level" },
	{ "enabled", NULL, CONFIG_BOOL, OFF(enabled), 0, 0, false, "capture at all" },
	{ "admin", "admin", CONFIG_ADDR_PORT, OFF(admin), 0, 0, false, "admin listen address" },
	{ "labels_file", "labels-file", CONFIG_STRING, OFF(labels_file), 0, 0, true,
	  "Downward API labels" },
	{ "scope", "scope", CONFIG_STRING, OFF(scope), 1, 64, false, "what to capture" },
};

static const struct test_config defaults = {
	.interval_ns = 10 * SEC,
	.aggregate = true,
	.output = "-",
	.batch_max_records = 10000,
	.buffer_max_bytes = 16 * MiB,
	.batch_max_bytes = 4 * MiB,
	.ignore_ports = { .n = 1, .port = { 22 } },
	.log_level = LOG_LEVEL_INFO,
	.enabled = true,
	.admin = ":9091",
	.labels_file = NULL,
};

static const struct config_schema schema = {
	.program = "test",
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.defaults = &defaults,
	.size = sizeof(struct test_config),
};

/*
 * The running test's bad inputs for docs/reliability.md: each one
 * set_fails, load_fails or build_fails tried, and each refused as it
 * should be (a test that fails stops before reporting).
 */
static struct report_fault g_tally;

static void tally_start(void)
{
	memset(&g_tally, 0, sizeof(g_tally));
}

/* The tally as the test's figures, once they add up (tests/report.h). */
static void report(const char *test, const char *fault, const char *unit)
{
	struct report_fault f = g_tally;

	f.fault = fault;
	f.unit = unit;
	f.counted_as = "-EINVAL (or the errno) with one line naming the key, file and line";
	f.lost = f.injected - f.delivered - f.counted;
	assert_int_equal(f.lost, 0);
	report_fault_line("config", test, 1, &f);
	tally_start();
}

static char tmpdir[] = "/tmp/test_config.XXXXXX";
static char oldcwd[PATH_MAX];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Every test runs inside a fresh temp dir, so messages name plain "cfg.yaml". */
static int group_setup(void **state)
{
	(void)state;
	if (!getcwd(oldcwd, sizeof(oldcwd)) || !mkdtemp(tmpdir) || chdir(tmpdir))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (chdir(oldcwd))
		return -1;
	return nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *name, const char *text, size_t len)
{
	FILE *f = fopen(name, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* cfg = defaults, then cfg.yaml holding `yaml`; the caller frees cfg. */
static int load(const char *yaml, struct test_config *cfg, char *why, size_t whylen)
{
	write_file("cfg.yaml", yaml, strlen(yaml));
	assert_int_equal(config_copy(&schema, cfg, &defaults), 0);
	return config_load_yaml(&schema, cfg, "cfg.yaml", why, whylen);
}

static void load_ok(const char *yaml, struct test_config *cfg)
{
	char why[256] = "";
	int err = load(yaml, cfg, why, sizeof(why));

	if (err) {
		print_error("%s: unexpected error %d: %s\n", yaml, err, why);
		fail();
	}
}

/* The file must be rejected with exactly `want`. */
static void load_fails(const char *yaml, const char *want)
{
	struct test_config cfg;
	char why[256] = "";
	int err = load(yaml, &cfg, why, sizeof(why));

	config_free(&schema, &cfg);
	g_tally.injected++;
	if (err != -EINVAL || strcmp(why, want) != 0) {
		print_error("yaml:\n%s\nexpected -EINVAL \"%s\", got %d \"%s\"\n", yaml, want, err,
			    why);
		fail();
	}
	g_tally.counted += err < 0;
}

/* config_set on a copy of the defaults must fail with exactly `want`. */
static void set_fails(const char *key, const char *value, const char *want)
{
	struct test_config cfg;
	char why[256] = "";
	int err;

	assert_int_equal(config_copy(&schema, &cfg, &defaults), 0);
	err = config_set(&schema, &cfg, key, value, why, sizeof(why));
	g_tally.injected++;
	if (err != -EINVAL || strcmp(why, want) != 0) {
		print_error("%s=%s: expected -EINVAL \"%s\", got %d \"%s\"\n", key,
			    value ? value : "(null)", want, err, why);
		fail();
	}
	g_tally.counted += err < 0;
	/* a rejected value leaves the field as it was */
	if (config_find_key(&schema, key))
		assert_false(
		    config_differs(&schema, config_find_key(&schema, key), &cfg, &defaults));
	config_free(&schema, &cfg);
}

static void set_ok(struct test_config *cfg, const char *key, const char *value)
{
	char why[256] = "";

	if (config_set(&schema, cfg, key, value, why, sizeof(why))) {
		print_error("%s=%s: unexpected error: %s\n", key, value ? value : "(null)", why);
		fail();
	}
}

/* ---- one parser per type ---- */

static void test_duration(void **state)
{
	struct test_config cfg;

	(void)state;
	tally_start();
	assert_int_equal(config_copy(&schema, &cfg, &defaults), 0);
	set_ok(&cfg, "interval", "500ms");
	assert_int_equal(cfg.interval_ns, 500 * MS);
	set_ok(&cfg, "interval", "1m30s");
	assert_int_equal(cfg.interval_ns, 90 * SEC);
	set_ok(&cfg, "interval", "100ms");
	assert_int_equal(cfg.interval_ns, 100 * MS);
	set_ok(&cfg, "interval", "1h");
	assert_int_equal(cfg.interval_ns, 3600 * SEC);
	config_free(&schema, &cfg);

	set_fails("interval", "10", "interval: expected a duration from 100ms to 1h, got 10");
	set_fails("interval", "99ms", "interval: expected a duration from 100ms to 1h, got 99ms");
	set_fails("interval", "1h1ns", "interval: expected a duration from 100ms to 1h, got 1h1ns");
	set_fails("interval", "10 s", "interval: expected a duration from 100ms to 1h, got 10 s");
	set_fails("interval", "",
		  "interval: expected a duration from 100ms to 1h, got an empty value");
	set_fails("interval", NULL, "interval: expected a duration from 100ms to 1h, got null");
	report("test_duration",
	       "duration without a unit, out of range, with a space, empty or null", "values");
}

static void test_u32(void **state)
{
	struct test_config cfg;

	(void)state;
	tally_start();
	assert_int_equal(config_copy(&schema, &cfg, &defaults), 0);
	set_ok(&cfg, "batch.max_records", "1");
	assert_int_equal(cfg.batch_max_records, 1);
	set_ok(&cfg, "batch.max_records", "262144");
	assert_int_equal(cfg.batch_max_records, 262144);
	config_free(&schema, &cfg);

	set_fails("batch.max_records", "0",
		  "batch.max_records: expected an integer from 1 to 262144, got 0");
	set_fails("batch.max_records", "262145",
		  "batch.max_records: expected an integer from 1 to 262144, got 262145");
	set_fails("batch.max_records", "-1",
		  "batch.max_records: expected an integer from 1 to 262144, got -1");
	set_fails("batch.max_records", "1e3",
		  "batch.max_records: expected an integer from 1 to 262144, got 1e3");
	set_fails("batch.max_records", "0x10",
		  "batch.max_records: expected an integer from 1 to 262144, got 0x10");
	set_fails("batch.max_records", "99999999999999999999",
		  "batch.max_records: expected an integer from 1 to 262144, got "
		  "99999999999999999999");
	report("test_u32", "integer out of range, negative, in exponent or hex notation, huge",
	       "values");
}

static void test_bytes(void **state)
{
	struct test_config cfg;

	(void)state;
	tally_start();
	assert_int_equal(config_copy(&schema, &cfg, &defaults), 0);
	set_ok(&cfg, "batch.max_bytes", "64KiB");
	assert_int_equal(cfg.batch_max_bytes, 64 * KiB);
	set_ok(&cfg, "batch.max_bytes", "4M");
	assert_int_equal(cfg.batch_max_bytes, 4 * MiB);
	set_ok(&cfg, "batch.max_bytes", "1024");
	assert_int_equal(cfg.batch_max_bytes, 1024);
	set_ok(&cfg, "buffer.max_bytes", "1GiB");
	assert_int_equal(cfg.buffer_max_bytes, GiB);
	config_free(&schema, &cfg);

	set_fails("batch.max_bytes", "1023",
		  "batch.max_bytes: expected a size from 1KiB to 64MiB, got 1023");
	set_fails("batch.max_bytes", "65MiB",
		  "batch.max_bytes: expected a size from 1KiB to 64MiB, got 65MiB");
	set_fails("batch.max_bytes", "5MB",
		  "batch.max_bytes: expected a size from 1KiB to 64MiB, got 5MB");
	set_fails("buffer.max_bytes", "2g",
		  "buffer.max_bytes: expected a size from 1MiB to 1GiB, got 2g");
	report("test_bytes", "size out of range or with an SI unit where IEC is meant", "values");
}

static void test_bool(void **state)
{
	static const char *const yes[] = { "true", "True", "TRUE" };
	static const char *const no[] = { "false", "False", "FALSE" };
	struct test_config cfg;

	(void)state;
	tally_start();
	assert_int_equal(config_copy(&schema, &cfg, &defaults), 0);
	for (size_t i = 0; i < 3; i++) {
		set_ok(&cfg, "aggregate", no[i]);
		assert_false(cfg.aggregate);
		set_ok(&cfg, "aggregate", yes[i]);
		assert_true(cfg.aggregate);
	}
	config_free(&schema, &cfg);

	set_fails("aggregate", "yes",
		  "aggregate: expected true or false, got yes (yes/no/on/off are not booleans in "
		  "YAML 1.2)");
	set_fails("aggregate", "Off",
		  "aggregate: expected true or false, got Off (yes/no/on/off are not booleans in "
		  "YAML 1.2)");
	set_fails("aggregate", "1", "aggregate: expected true or false, got 1");
	set_fails("aggregate", "tru", "aggregate: expected true or false, got tru");
	set_fails("aggregate", NULL, "aggregate: expected true or false, got null");
	report("test_bool", "boolean as yes, Off, 1, a typo or null", "values");
}

static void test_log_level(void **state)
{
	struct test_config cfg;

	(void)state;
	tally_start();
	assert_int_equal(config_copy(&schema, &cfg, &defaults), 0);
	set_ok(&cfg, "log.level", "debug");
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	set_ok(&cfg, "log.level", "warn");
	assert_int_equal(cfg.log_level, LOG_LEVEL_WARN);
	config_free(&schema, &cfg);

	set_fails("log.level", "verbose", "log.level: expected warn, info or debug, got verbose");
	set_fails("log.level", "INFO", "log.level: expected warn, info or debug, got INFO");
	report("test_log_level", "log level unknown or in capitals", "values");
}

static void test_addr_port(void **state)
{
	/* lib/listen_addr's rule, the one every listener uses: localhost is 127.0.0.1 */
	static const char *const good[] = {
		":7070",      "127.0.0.1:9091", "[::1]:9091",	       "0.0.0.0:0",
		"[::]:65535", "[fd00::1:2]:80", "[::ffff:10.0.0.1]:1", "localhost:80"
	};
	static const char *const bad[] = { "web.local:80", "1.2.3:80",	  "::1:80",
					   "[::1]",	   "[::1]:",	  "1.2.3.4:65536",
					   "1.2.3.4",	   ":-1",	  "[fe80::1%eth0]:80",
					   "[1.2.3.4]:80", "1.2.3.4:80 ", ":" };
	struct test_config cfg;
	char want[256];

	(void)state;
	tally_start();
	assert_int_equal(config_copy(&schema, &cfg, &defaults), 0);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		set_ok(&cfg, "admin", good[i]);
		assert_string_equal(cfg.admin, good[i]);
	}
	config_free(&schema, &cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want),
			 "admin: expected :PORT, IPv4:PORT, [IPv6]:PORT or localhost:PORT with "
			 "PORT from 0 to 65535, got %s",
			 bad[i]);
		set_fails("admin", bad[i], want);
	}
	/* null or empty: unset, which turns the feature off */
	assert_int_equal(config_copy(&schema, &cfg, &defaults), 0);
	set_ok(&cfg, "admin", "");
	assert_null(cfg.admin);
	set_ok(&cfg, "admin", ":9091");
	set_ok(&cfg, "admin", NULL);
	assert_null(cfg.admin);
	config_free(&schema, &cfg);
	report("test_addr_port", "listen address with a name, no port, a port out of range, a zone",
	       "values");
}

static void test_string(void **state)
{
	char long_ok[1001], too_long[66];
	struct test_config cfg;

	(void)state;
	tally_start();
	memset(long_ok, 'a', sizeof(long_ok) - 1);
	long_ok[sizeof(long_ok) - 1] = '\0';
	memset(too_long, 'b', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';

	assert_int_equal(config_copy(&schema, &cfg, &defaults), 0);
	set_ok(&cfg, "output", "out.json");
	assert_string_equal(cfg.output, "out.json");
	set_ok(&cfg, "output", too_long + 1); /* exactly 64 bytes */
	assert_int_equal(strlen(cfg.output), 64);
	set_ok(&cfg, "output", "caf\xc3\xa9"); /* UTF-8 is not a control character */
	assert_string_equal(cfg.output, "caf\xc3\xa9");
	set_ok(&cfg, "output", "");
	assert_null(cfg.output);
	set_ok(&cfg, "output", "x");
	set_ok(&cfg, "output", NULL);
	assert_null(cfg.output);
	/* max 0: no limit */
	set_ok(&cfg, "labels_file", long_ok);
	assert_string_equal(cfg.labels_file, long_ok);
	config_free(&schema, &cfg);
	assert_null(cfg.labels_file);

	/* a minimum length of 1: empty is refused, not unset (cgroup: "" is not "the default") */
	assert_int_equal(config_copy(&schema, &cfg, &defaults), 0);
	set_ok(&cfg, "scope", "/");
	assert_string_equal(cfg.scope, "/");
	config_free(&schema, &cfg);
	set_fails("scope", "",
		  "scope: expected a non-empty string of at most 64 bytes, got an empty value");
	set_fails("scope", NULL,
		  "scope: expected a non-empty string of at most 64 bytes, got null");
	load_fails("scope: \"\"\n",
		   "cfg.yaml:1: scope: expected a non-empty string of at most 64 bytes, got an "
		   "empty value");
	load_fails("scope:\n",
		   "cfg.yaml:1: scope: expected a non-empty string of at most 64 bytes, got null");

	set_fails("output", too_long, "output: expected at most 64 bytes, got 65");
	set_fails("output", "a\tb", "output: control characters are not allowed (byte 1 is \\x09)");
	set_fails("output", "\x7f", "output: control characters are not allowed (byte 0 is \\x7f)");
	report("test_string", "string empty where one is needed, too long, with control characters",
	       "values");
}

static void test_port_list(void **state)
{
	struct test_config cfg;
	char many[512];
	size_t o = 0;

	(void)state;
	tally_start();
	assert_int_equal(config_copy(&schema, &cfg, &defaults), 0);
	set_ok(&cfg, "filters.ignore_ports", "443,80, 22 ,65535,1");
	assert_int_equal(cfg.ignore_ports.n, 5);
	/* kept sorted */
	assert_int_equal(cfg.ignore_ports.port[0], 1);
	assert_int_equal(cfg.ignore_ports.port[1], 22);
	assert_int_equal(cfg.ignore_ports.port[2], 80);
	assert_int_equal(cfg.ignore_ports.port[3], 443);
	assert_int_equal(cfg.ignore_ports.port[4], 65535);
	/* duplicates folded */
	set_ok(&cfg, "filters.ignore_ports", "443,80,443,80");
	assert_int_equal(cfg.ignore_ports.n, 2);
	assert_int_equal(cfg.ignore_ports.port[0], 80);
	assert_int_equal(cfg.ignore_ports.port[1], 443);
	set_ok(&cfg, "filters.ignore_ports", "");
	assert_int_equal(cfg.ignore_ports.n, 0);
	/* 64 distinct ports plus a duplicate fit: the limit counts what is kept */
	for (int p = 1; p <= CONFIG_MAX_PORTS; p++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "%d,", p);
	snprintf(many + o, sizeof(many) - o, "1");
	set_ok(&cfg, "filters.ignore_ports", many);
	assert_int_equal(cfg.ignore_ports.n, CONFIG_MAX_PORTS);
	config_free(&schema, &cfg);

	snprintf(many + o, sizeof(many) - o, "65");
	set_fails("filters.ignore_ports", many, "filters.ignore_ports: more than 64 ports");
	set_fails("filters.ignore_ports", "0",
		  "filters.ignore_ports: expected a port from 1 to 65535, got 0");
	set_fails("filters.ignore_ports", "80,65536",
		  "filters.ignore_ports: expected a port from 1 to 65535, got 65536");
	set_fails("filters.ignore_ports", "80,,443",
		  "filters.ignore_ports: expected a port from 1 to 65535, got an empty value");
	set_fails("filters.ignore_ports", "80,",
		  "filters.ignore_ports: expected a port from 1 to 65535, got an empty value");
	set_fails("filters.ignore_ports", "http",
		  "filters.ignore_ports: expected a port from 1 to 65535, got http");
	set_fails("filters.ignore_ports", NULL,
		  "filters.ignore_ports: expected a list of ports from 1 to 65535, got null");
	report("test_port_list",
	       "port list over 64 ports, port 0 or over 65535, an empty item, a name", "values");
}

static void assert_cidr(const struct ip_cidr *c, const char *addr6, unsigned int prefix)
{
	uint8_t want[16];

	assert_int_equal(inet_pton(AF_INET6, addr6, want), 1);
	assert_memory_equal(c->addr, want, 16);
	assert_int_equal(c->prefix, prefix);
}

static void test_cidr_list(void **state)
{
	struct test_config cfg;

	(void)state;
	tally_start();
	assert_int_equal(config_copy(&schema, &cfg, &defaults), 0);
	set_ok(&cfg, "filters.ignore_cidrs",
	       "10.1.2.3/8,fd00::1/8,172.31.255.255/12,192.168.1.7/32,1.2.3.4/0,::1/128");
	assert_int_equal(cfg.ignore_cidrs.n, 6);
	assert_cidr(&cfg.ignore_cidrs.cidr[0], "::ffff:10.0.0.0", 104);
	assert_cidr(&cfg.ignore_cidrs.cidr[1], "fd00::", 8);
	assert_cidr(&cfg.ignore_cidrs.cidr[2], "::ffff:172.16.0.0", 108);
	assert_cidr(&cfg.ignore_cidrs.cidr[3], "::ffff:192.168.1.7", 128);
	assert_cidr(&cfg.ignore_cidrs.cidr[4], "::ffff:0.0.0.0", 96);
	assert_cidr(&cfg.ignore_cidrs.cidr[5], "::1", 128);
	/* equal after normalisation: folded */
	set_ok(&cfg, "filters.ignore_cidrs", "10.1.0.0/8,10.2.0.0/8,fd00::/8,fd00::2/8");
	assert_int_equal(cfg.ignore_cidrs.n, 2);
	config_free(&schema, &cfg);

	set_fails("filters.ignore_cidrs", "10.0.0.0/33",
		  "filters.ignore_cidrs: expected a prefix length from 0 to 32 for IPv4, got "
		  "10.0.0.0/33");
	set_fails("filters.ignore_cidrs", "fd00::/129",
		  "filters.ignore_cidrs: expected a prefix length from 0 to 128 for IPv6, got "
		  "fd00::/129");
	static const char *const garbage[] = { "garbage",     "10.0.0.0", "10.0.0.0/",
					       "10.0.0.0/-1", "10.0.0/8", "10.0.0.0/8x",
					       "fd00:::/8",   "/8",	  "host.example/8" };
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		char want[256];

		snprintf(want, sizeof(want),
			 "filters.ignore_cidrs: expected a CIDR such as 10.0.0.0/8 or fd00::/8, "
			 "got %s",
			 garbage[i]);
		set_fails("filters.ignore_cidrs", garbage[i], want);
	}
	report("test_cidr_list", "CIDR with a prefix out of range, no prefix, or not an address",
	       "values");
}

static void test_find_and_unknown(void **state)
{
	const struct config_key *k = config_find_key(&schema, "batch.max_records");

	(void)state;
	tally_start();
	assert_ptr_equal(k, &keys[3]);
	assert_ptr_equal(config_find_flag(&schema, "batch-max-records"), k);
	assert_null(config_find_key(&schema, "batch"));
	assert_null(config_find_key(&schema, "batch-max-records"));
	assert_null(config_find_flag(&schema, "batch.max_records"));
	assert_null(config_find_flag(&schema, "enabled")); /* no flag */
	set_fails("nope", "1", "unknown key 'nope'");
	report("test_find_and_unknown", "a key the configuration does not have", "values");
}

/* ---- YAML ---- */

static void test_yaml_nesting(void **state)
{
	struct test_config cfg;

	(void)state;
	load_ok("# podflow\n"
		"interval: 500ms\n"
		"aggregate: false\n"
		"output: /var/log/flows.json\n"
		"batch:\n"
		"  max_records: 500\n"
		"  max_bytes: 64KiB\n"
		"buffer: {max_bytes: 32MiB}\n"
		"filters:\n"
		"  ignore_ports: [443, 80, 443]\n"
		"  ignore_cidrs:\n"
		"    - 10.1.2.3/8\n"
		"    - \"fd00::1/8\"\n"
		"log:\n"
		"  level: debug\n"
		"enabled: false\n"
		"admin: '[::1]:7070'\n"
		"labels_file: /etc/podinfo/labels\n",
		&cfg);
	assert_int_equal(cfg.interval_ns, 500 * MS);
	assert_false(cfg.aggregate);
	assert_string_equal(cfg.output, "/var/log/flows.json");
	assert_int_equal(cfg.batch_max_records, 500);
	assert_int_equal(cfg.batch_max_bytes, 64 * KiB);
	assert_int_equal(cfg.buffer_max_bytes, 32 * MiB);
	assert_int_equal(cfg.ignore_ports.n, 2);
	assert_int_equal(cfg.ignore_ports.port[0], 80);
	assert_int_equal(cfg.ignore_ports.port[1], 443);
	assert_int_equal(cfg.ignore_cidrs.n, 2);
	assert_cidr(&cfg.ignore_cidrs.cidr[0], "::ffff:10.0.0.0", 104);
	assert_cidr(&cfg.ignore_cidrs.cidr[1], "fd00::", 8);
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	assert_false(cfg.enabled);
	assert_string_equal(cfg.admin, "[::1]:7070");
	assert_string_equal(cfg.labels_file, "/etc/podinfo/labels");
	config_free(&schema, &cfg);

	/* an empty sequence clears a default list; untouched keys keep their defaults */
	load_ok("filters:\n  ignore_ports: []\n", &cfg);
	assert_int_equal(cfg.ignore_ports.n, 0);
	assert_int_equal(cfg.interval_ns, 10 * SEC);
	assert_string_equal(cfg.output, "-");
	config_free(&schema, &cfg);

	/* a section with every key commented out is empty, not an error */
	load_ok("batch:\n#  max_records: 5\nfilters:\n", &cfg);
	assert_int_equal(cfg.batch_max_records, 10000);
	config_free(&schema, &cfg);

	/* anchors and aliases are YAML, resolved by libyaml */
	load_ok("batch: &b\n  max_records: 7\nbuffer:\n  max_bytes: 2MiB\nlog: {level: warn}\n",
		&cfg);
	assert_int_equal(cfg.batch_max_records, 7);
	config_free(&schema, &cfg);
}

static void test_yaml_unknown_key(void **state)
{
	(void)state;
	tally_start();
	load_fails("# comment\ninterval: 10s\nintervall: 10s\n",
		   "cfg.yaml:3: unknown key 'intervall' (did you mean 'interval'?)");
	load_fails("intrevla: 10s\n",
		   "cfg.yaml:1: unknown key 'intrevla' (did you mean 'interval'?)");
	load_fails(
	    "batch:\n  max_records: 1\n  max_recrods: 5\n",
	    "cfg.yaml:3: unknown key 'batch.max_recrods' (did you mean 'batch.max_records'?)");
	load_fails("bach:\n  max_records: 1\n",
		   "cfg.yaml:1: unknown key 'bach' (did you mean 'batch'?)");
	load_fails("colour: red\n", "cfg.yaml:1: unknown key 'colour'");
	load_fails("log:\n  verbosity: debug\n", "cfg.yaml:2: unknown key 'log.verbosity'");
	load_fails("log:\n  lvl: debug\n",
		   "cfg.yaml:2: unknown key 'log.lvl' (did you mean 'log.level'?)");
	load_fails("batch.max_records: 5\n",
		   "cfg.yaml:1: unknown key 'batch.max_records' (write dotted keys as nested "
		   "mappings)");
	load_fails("? [a, b]\n: 1\n", "cfg.yaml:1: keys must be scalars, got a sequence");
	load_fails("batch:\n  ? {a: 1}\n  : 1\n",
		   "cfg.yaml:2: batch: keys must be scalars, got a mapping");
	report("test_yaml_unknown_key", "config file key misspelt, dotted, or not a scalar",
	       "files");
}

static void test_yaml_wrong_shape(void **state)
{
	(void)state;
	tally_start();
	load_fails("interval: 1s\nbatch: 5\n",
		   "cfg.yaml:2: batch: expected a mapping, got a scalar");
	load_fails("batch:\n  - 1\n", "cfg.yaml:1: batch: expected a mapping, got a sequence");
	load_fails("interval:\n  a: 1\n",
		   "cfg.yaml:1: interval: expected a duration from 100ms to 1h, got a mapping");
	load_fails("interval: [1s]\n",
		   "cfg.yaml:1: interval: expected a duration from 100ms to 1h, got a sequence");
	load_fails("interval:\n",
		   "cfg.yaml:1: interval: expected a duration from 100ms to 1h, got null");
	load_fails("filters:\n  ignore_ports: 22\n",
		   "cfg.yaml:2: filters.ignore_ports: expected a list of ports from 1 to 65535, "
		   "got 22");
	load_fails("filters:\n  ignore_ports:\n",
		   "cfg.yaml:2: filters.ignore_ports: expected a list of ports from 1 to 65535, "
		   "got null");
	load_fails("filters:\n  ignore_cidrs: {a: 1}\n",
		   "cfg.yaml:2: filters.ignore_cidrs: expected a list of CIDRs such as 10.0.0.0/8 "
		   "or fd00::/8, got a mapping");
	load_fails("filters:\n  ignore_ports:\n    - 22\n    - {a: 1}\n",
		   "cfg.yaml:4: filters.ignore_ports: expected a list of ports from 1 to 65535, "
		   "got a mapping in the list");
	load_fails("filters:\n  ignore_ports:\n    - 22\n    -\n",
		   "cfg.yaml:4: filters.ignore_ports: expected a port from 1 to 65535, got null");
	report("test_yaml_wrong_shape",
	       "config file value of the wrong shape (scalar, list, mapping, null)", "files");
}

static void test_yaml_value_errors(void **state)
{
	(void)state;
	tally_start();
	/* the line is the value's, from libyaml's marks */
	load_fails("# podflow\n"
		   "\n"
		   "interval: 10s\n"
		   "batch:\n"
		   "  max_bytes: 1MiB\n"
		   "\n"
		   "  max_records: 0\n",
		   "cfg.yaml:7: batch.max_records: expected an integer from 1 to 262144, got 0");
	load_fails("filters:\n  ignore_ports:\n    - 22\n    - 70000\n",
		   "cfg.yaml:4: filters.ignore_ports: expected a port from 1 to 65535, got 70000");
	load_fails("filters:\n  ignore_cidrs: [10.0.0.0/8,\n    10.0.0.0/33]\n",
		   "cfg.yaml:3: filters.ignore_cidrs: expected a prefix length from 0 to 32 for "
		   "IPv4, got 10.0.0.0/33");
	load_fails("log:\n  level: loud\n",
		   "cfg.yaml:2: log.level: expected warn, info or debug, got loud");
	/* an escaped newline or NUL cannot break the one-line message */
	load_fails("interval: \"1s\\nx\"\n",
		   "cfg.yaml:1: interval: expected a duration from 100ms to 1h, got 1s\\x0ax");
	load_fails("interval: \"1s\\0\"\n",
		   "cfg.yaml:1: interval: expected a duration from 100ms to 1h, got 1s\\x00");
	load_fails("output: \"a\\0b\"\n",
		   "cfg.yaml:1: output: control characters are not allowed (byte 1 is \\x00)");
	report("test_yaml_value_errors",
	       "config file value out of range, escaped newline or NUL in it", "files");
}

static void test_yaml_bool(void **state)
{
	struct test_config cfg;

	(void)state;
	tally_start();
	load_fails("aggregate: yes\n",
		   "cfg.yaml:1: aggregate: expected true or false, got yes (yes/no/on/off are not "
		   "booleans in YAML 1.2)");
	load_fails("interval: 1s\nenabled: off\n",
		   "cfg.yaml:2: enabled: expected true or false, got off (yes/no/on/off are not "
		   "booleans in YAML 1.2)");
	load_fails("enabled: N\n",
		   "cfg.yaml:1: enabled: expected true or false, got N (yes/no/on/off are not "
		   "booleans in YAML 1.2)");
	load_fails("enabled: ~\n", "cfg.yaml:1: enabled: expected true or false, got null");
	load_ok("aggregate: FALSE\nenabled: False\n", &cfg);
	assert_false(cfg.aggregate);
	assert_false(cfg.enabled);
	config_free(&schema, &cfg);
	report("test_yaml_bool", "config file boolean as yes, off, N or ~", "files");
}

static void test_yaml_null_string(void **state)
{
	static const char *const nulls[] = { "output:\n", "output: ~\n", "output: null\n",
					     "output: NULL\n", "output: \"\"\n" };
	struct test_config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
		load_ok(nulls[i], &cfg);
		assert_null(cfg.output);
		config_free(&schema, &cfg);
	}
	/* quoted, "null" is a string */
	load_ok("output: \"null\"\nlabels_file: '~'\n", &cfg);
	assert_string_equal(cfg.output, "null");
	assert_string_equal(cfg.labels_file, "~");
	config_free(&schema, &cfg);
}

static void test_yaml_duplicate(void **state)
{
	(void)state;
	tally_start();
	load_fails("interval: 1s\naggregate: true\ninterval: 2s\n",
		   "cfg.yaml:3: interval: duplicate key (first at line 1)");
	load_fails("batch:\n  max_records: 1\n  max_records: 2\n",
		   "cfg.yaml:3: batch.max_records: duplicate key (first at line 2)");
	load_fails("batch:\n  max_records: 1\nbatch:\n  max_bytes: 4KiB\n",
		   "cfg.yaml:3: batch: duplicate key (first at line 1)");
	report("test_yaml_duplicate", "config file key given twice", "files");
}

static void test_yaml_syntax_error(void **state)
{
	(void)state;
	tally_start();
	load_fails("interval: 10s\nbatch: max_records: 5\n",
		   "cfg.yaml:2: YAML syntax error: mapping values are not allowed in this context");
	load_fails("interval: 10s\nfilters:\n  ignore_ports: [22\n",
		   "cfg.yaml:4: YAML syntax error: did not find expected ',' or ']'");
	load_fails("interval: 1s\nbatch:\n\tmax_records: 1\n",
		   "cfg.yaml:3: YAML syntax error: found character that cannot start any token");
	load_fails("a: 1\nout\xff: x\n",
		   "cfg.yaml:2: YAML syntax error: invalid leading UTF-8 octet");
	load_fails("interval: *nope\n", "cfg.yaml:1: YAML syntax error: found undefined alias");
	report("test_yaml_syntax_error",
	       "config file not YAML (bad mapping, unclosed list, tab, bad UTF-8)", "files");
}

/*
 * An empty document is refused like any invalid file: a file truncated to
 * nothing, or with every line commented out, must not silently become "all
 * defaults".  All defaults is asked for explicitly with an empty mapping.
 */
static void test_yaml_empty_and_top_level(void **state)
{
	static const char *const empty[] = { "",     "# nothing yet\n", "---\n",    "~\n",
					     "\n\n", "null\n",		"--- # c\n" };
	struct test_config cfg;
	char want[256];

	(void)state;
	tally_start();
	snprintf(want, sizeof(want),
		 "cfg.yaml: no settings in the file (it is empty or only comments): refused; "
		 "write {} to run on the defaults");
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++)
		load_fails(empty[i], want);
	load_ok("{}\n", &cfg);
	for (size_t k = 0; k < schema.n_keys; k++)
		assert_false(config_differs(&schema, &keys[k], &cfg, &defaults));
	config_free(&schema, &cfg);
	load_ok("# every default\n{}\n", &cfg);
	config_free(&schema, &cfg);
	load_fails("- interval\n- 10s\n",
		   "cfg.yaml:1: expected a mapping of keys at the top level, got a sequence");
	load_fails("# c\njust text\n",
		   "cfg.yaml:2: expected a mapping of keys at the top level, got a scalar");
	load_fails("interval: 1s\n---\ninterval: 2s\n", "cfg.yaml:3: more than one YAML document");
	load_fails("interval: 1s\n---\n- [\n",
		   "cfg.yaml:4: YAML syntax error: did not find expected node content");
	report("test_yaml_empty_and_top_level",
	       "config file empty, only comments, not a mapping, two documents", "files");
}

static void test_yaml_file_errors(void **state)
{
	size_t n = (size_t)MiB;
	struct test_config cfg;
	char why[256] = "";
	char *big = malloc(n + 1);
	int err;

	(void)state;
	tally_start();
	assert_non_null(big);
	/* exactly 1 MiB, a key and comments: accepted */
	memset(big, '#', n);
	memcpy(big, "interval: 5s\n", 13);
	big[n - 1] = '\n';
	write_file("big.yaml", big, n);
	assert_int_equal(config_copy(&schema, &cfg, &defaults), 0);
	assert_int_equal(config_load_yaml(&schema, &cfg, "big.yaml", why, sizeof(why)), 0);
	/* one byte more: refused before parsing */
	big[n - 1] = '#';
	big[n] = '\n';
	write_file("big.yaml", big, n + 1);
	err = config_load_yaml(&schema, &cfg, "big.yaml", why, sizeof(why));
	g_tally.injected++;
	g_tally.counted += err < 0;
	assert_int_equal(err, -EFBIG);
	assert_string_equal(why, "big.yaml: larger than 1 MiB, refused");
	free(big);

	err = config_load_yaml(&schema, &cfg, "missing.yaml", why, sizeof(why));
	g_tally.injected++;
	g_tally.counted += err < 0;
	assert_int_equal(err, -ENOENT);
	assert_string_equal(why, "missing.yaml: No such file or directory");
	err = config_load_yaml(&schema, &cfg, ".", why, sizeof(why));
	g_tally.injected++;
	g_tally.counted += err < 0;
	assert_int_equal(err, -EISDIR);
	assert_string_equal(why, ".: Is a directory");
	config_free(&schema, &cfg);
	report("test_yaml_file_errors", "config file over 1 MiB, missing, or a directory", "files");
}

static void test_yaml_partial_result_frees(void **state)
{
	struct test_config cfg;
	char why[256];

	(void)state;
	/* strings set before the error belong to cfg: config_free releases them (ASan checks) */
	assert_int_equal(
	    load("output: a.json\nlabels_file: l\nadmin: ':1'\nbatch: x\n", &cfg, why, sizeof(why)),
	    -EINVAL);
	assert_string_equal(cfg.output, "a.json");
	config_free(&schema, &cfg);
}

/* ---- whole configurations ---- */

static void test_build_precedence(void **state)
{
	static const char *const flags[] = { "batch.max_records", "700",       "log-level", "debug",
					     "ignore-ports",	  "8080,9090", NULL };
	struct test_config cfg;
	char why[256] = "";

	(void)state;
	write_file("cfg.yaml",
		   "interval: 30s\nbatch:\n  max_records: 500\noutput: file.json\n"
		   "filters:\n  ignore_ports: [1]\n",
		   strlen("interval: 30s\nbatch:\n  max_records: 500\noutput: file.json\n"
			  "filters:\n  ignore_ports: [1]\n"));
	assert_int_equal(config_build(&schema, &cfg, "cfg.yaml", flags, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	/* the file overrides a default */
	assert_int_equal(cfg.interval_ns, 30 * SEC);
	assert_string_equal(cfg.output, "file.json");
	/* a flag overrides the file (by key or by flag name) */
	assert_int_equal(cfg.batch_max_records, 700);
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg.ignore_ports.n, 2);
	assert_int_equal(cfg.ignore_ports.port[0], 8080);
	assert_int_equal(cfg.ignore_ports.port[1], 9090);
	/* untouched keys keep their defaults, strings as owned copies */
	assert_true(cfg.aggregate);
	assert_int_equal(cfg.buffer_max_bytes, 16 * MiB);
	assert_int_equal(cfg.batch_max_bytes, 4 * MiB);
	assert_string_equal(cfg.admin, ":9091");
	assert_ptr_not_equal(cfg.admin, defaults.admin);
	assert_null(cfg.labels_file);
	config_free(&schema, &cfg);

	/* no file, no flags: the defaults */
	assert_int_equal(config_build(&schema, &cfg, NULL, NULL, why, sizeof(why)), 0);
	for (size_t k = 0; k < schema.n_keys; k++)
		assert_false(config_differs(&schema, &keys[k], &cfg, &defaults));
	config_free(&schema, &cfg);
}

static void build_fails(const char *path, const char *const *flags, int want_err, const char *want)
{
	static const struct test_config zero;
	struct test_config cfg;
	char why[256] = "";
	int err;

	memset(&cfg, 0xa5, sizeof(cfg));
	err = config_build(&schema, &cfg, path, flags, why, sizeof(why));
	g_tally.injected++;
	if (err != want_err || strcmp(why, want) != 0) {
		print_error("expected %d \"%s\", got %d \"%s\"\n", want_err, want, err, why);
		fail();
	}
	g_tally.counted += err < 0;
	/* nothing leaks (ASan) and nothing dangles */
	assert_memory_equal(&cfg, &zero, sizeof(cfg));
}

static void test_build_failures(void **state)
{
	static const char *const bad_flag[] = { "output", "x.json", "batch-max-records", "0",
						NULL };
	static const char *const bad_noflag[] = { "enabled", "maybe", NULL };
	static const char *const unknown[] = { "output", "x.json", "nope", "1", NULL };
	static const char *const good[] = { "output", "x.json", NULL };

	(void)state;
	tally_start();
	build_fails(NULL, bad_flag, -EINVAL,
		    "--batch-max-records: expected an integer from 1 to 262144, got 0");
	build_fails(NULL, bad_noflag, -EINVAL, "enabled: expected true or false, got maybe");
	build_fails(NULL, unknown, -EINVAL, "unknown option 'nope'");
	build_fails(NULL, (const char *const[]){ "scope", "", NULL }, -EINVAL,
		    "--scope: expected a non-empty string of at most 64 bytes, got an empty value");
	write_file("bad.yaml", "output: a\nintervall: 1s\n", strlen("output: a\nintervall: 1s\n"));
	build_fails("bad.yaml", good, -EINVAL,
		    "bad.yaml:2: unknown key 'intervall' (did you mean 'interval'?)");
	build_fails("missing.yaml", good, -ENOENT, "missing.yaml: No such file or directory");
	report("test_build_failures",
	       "flag or key with a bad value, unknown option, bad or missing file",
	       "configurations");
}

static void test_copy_free(void **state)
{
	struct test_config a, b;

	(void)state;
	assert_int_equal(config_copy(&schema, &a, &defaults), 0);
	assert_string_equal(a.output, "-");
	assert_ptr_not_equal(a.output, defaults.output);
	assert_null(a.labels_file);
	set_ok(&a, "labels_file", "/l");
	set_ok(&a, "filters.ignore_cidrs", "10.0.0.0/8");

	assert_int_equal(config_copy(&schema, &b, &a), 0);
	assert_ptr_not_equal(b.labels_file, a.labels_file);
	assert_string_equal(b.labels_file, "/l");
	assert_ptr_not_equal(b.admin, a.admin);
	for (size_t k = 0; k < schema.n_keys; k++)
		assert_false(config_differs(&schema, &keys[k], &a, &b));

	/* freeing one leaves the other intact */
	config_free(&schema, &a);
	assert_null(a.output);
	assert_string_equal(b.labels_file, "/l");
	config_free(&schema, &a); /* twice is harmless: pointers were cleared */
	config_free(&schema, &b);
	config_free(&schema, NULL);
}

static void test_differs(void **state)
{
	const struct config_key *out = config_find_key(&schema, "output");
	const struct config_key *ports = config_find_key(&schema, "filters.ignore_ports");
	struct test_config a, b;

	(void)state;
	assert_int_equal(config_copy(&schema, &a, &defaults), 0);
	assert_int_equal(config_copy(&schema, &b, &defaults), 0);
	assert_false(config_differs(&schema, out, &a, &b));
	set_ok(&a, "output", NULL);
	assert_true(config_differs(&schema, out, &a, &b));
	assert_true(config_differs(&schema, out, &b, &a));
	set_ok(&b, "output", NULL);
	assert_false(config_differs(&schema, out, &a, &b));
	/* the same ports in another order are the same list */
	set_ok(&a, "filters.ignore_ports", "80,443");
	set_ok(&b, "filters.ignore_ports", "443,80");
	assert_false(config_differs(&schema, ports, &a, &b));
	config_free(&schema, &a);
	config_free(&schema, &b);
}

static void test_merge_live(void **state)
{
	struct test_config running, loaded;
	char restart[128], small[10];

	(void)state;
	assert_int_equal(config_build(&schema, &running, NULL, NULL, restart, sizeof(restart)), 0);
	assert_int_equal(config_copy(&schema, &loaded, &running), 0);

	/* nothing changed */
	assert_int_equal(config_merge_live(&schema, &running, &loaded, restart, sizeof(restart)),
			 0);
	assert_string_equal(restart, "");

	set_ok(&loaded, "interval", "1s");		   /* live */
	set_ok(&loaded, "output", "other.json");	   /* restart */
	set_ok(&loaded, "buffer.max_bytes", "32MiB");	   /* restart */
	set_ok(&loaded, "filters.ignore_ports", "80,443"); /* live */
	set_ok(&loaded, "log.level", "debug");		   /* live */
	set_ok(&loaded, "labels_file", "/labels");	   /* live, a string */
	assert_int_equal(config_merge_live(&schema, &running, &loaded, restart, sizeof(restart)),
			 4);
	assert_string_equal(restart, "output, buffer.max_bytes");
	/* live keys applied */
	assert_int_equal(running.interval_ns, SEC);
	assert_int_equal(running.ignore_ports.n, 2);
	assert_int_equal(running.ignore_ports.port[1], 443);
	assert_int_equal(running.log_level, LOG_LEVEL_DEBUG);
	assert_string_equal(running.labels_file, "/labels");
	assert_ptr_not_equal(running.labels_file, loaded.labels_file);
	/* restart keys kept */
	assert_string_equal(running.output, "-");
	assert_int_equal(running.buffer_max_bytes, 16 * MiB);

	/* again: nothing live left to apply, the restart keys still differ */
	assert_int_equal(config_merge_live(&schema, &running, &loaded, restart, sizeof(restart)),
			 0);
	assert_string_equal(restart, "output, buffer.max_bytes");
	/* a short buffer truncates, terminated */
	memset(small, 'X', sizeof(small));
	assert_int_equal(config_merge_live(&schema, &running, &loaded, small, sizeof(small)), 0);
	assert_string_equal(small, "output, b");

	/* a live string unset */
	set_ok(&loaded, "labels_file", NULL);
	assert_int_equal(config_merge_live(&schema, &running, &loaded, restart, sizeof(restart)),
			 1);
	assert_null(running.labels_file);

	config_free(&schema, &loaded);
	config_free(&schema, &running);
}

static json_t *to_json(const struct test_config *cfg)
{
	struct jsonw *jw = jsonw__new();
	json_error_t jerr;
	const char *data;
	json_t *j;
	size_t len;

	assert_non_null(jw);
	config_to_json(&schema, cfg, jw);
	assert_int_equal(jsonw__error(jw), 0);
	data = jsonw__data(jw, &len);
	j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		print_error("jansson: %s in %.*s\n", jerr.text, (int)len, data);
		fail();
	}
	jsonw__free(jw);
	return j;
}

static void test_to_json(void **state)
{
	struct test_config cfg;
	json_t *j, *o, *a;

	(void)state;
	load_ok("interval: 1m30s\n"
		"batch: {max_records: 500}\n"
		"filters:\n"
		"  ignore_ports: [443, 80]\n"
		"  ignore_cidrs: [10.1.2.3/8, fd00::1/8]\n"
		"log: {level: debug}\n",
		&cfg);
	j = to_json(&cfg);
	/* one member per top-level key or section, "batch" once although split in the table */
	assert_int_equal(json_object_size(j), 11);
	assert_string_equal(json_string_value(json_object_get(j, "interval")), "1m30s");
	assert_true(json_is_true(json_object_get(j, "aggregate")));
	assert_string_equal(json_string_value(json_object_get(j, "output")), "-");
	o = json_object_get(j, "batch");
	assert_int_equal(json_object_size(o), 2);
	assert_int_equal(json_integer_value(json_object_get(o, "max_records")), 500);
	assert_int_equal(json_integer_value(json_object_get(o, "max_bytes")), 4 * MiB);
	o = json_object_get(j, "buffer");
	assert_int_equal(json_integer_value(json_object_get(o, "max_bytes")), 16 * MiB);
	o = json_object_get(j, "filters");
	a = json_object_get(o, "ignore_ports");
	assert_int_equal(json_array_size(a), 2);
	assert_int_equal(json_integer_value(json_array_get(a, 0)), 80);
	assert_int_equal(json_integer_value(json_array_get(a, 1)), 443);
	a = json_object_get(o, "ignore_cidrs");
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(json_string_value(json_array_get(a, 0)), "10.0.0.0/8");
	assert_string_equal(json_string_value(json_array_get(a, 1)), "fd00::/8");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "log"), "level")),
			    "debug");
	assert_true(json_is_true(json_object_get(j, "enabled")));
	assert_string_equal(json_string_value(json_object_get(j, "admin")), ":9091");
	assert_true(json_is_null(json_object_get(j, "labels_file")));
	assert_true(json_is_null(json_object_get(j, "scope")));
	json_decref(j);
	config_free(&schema, &cfg);

	/* empty lists are empty arrays */
	load_ok("filters: {ignore_ports: []}\n", &cfg);
	j = to_json(&cfg);
	o = json_object_get(j, "filters");
	assert_true(json_is_array(json_object_get(o, "ignore_ports")));
	assert_int_equal(json_array_size(json_object_get(o, "ignore_ports")), 0);
	assert_int_equal(json_array_size(json_object_get(o, "ignore_cidrs")), 0);
	json_decref(j);
	config_free(&schema, &cfg);
}

static void test_markdown(void **state)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0, lines = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	config_print_markdown(&schema, f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(buf, "| key | flag | type | default | range | live | help |\n"
				    "|-----|------|------|---------|-------|------|------|\n"));
	assert_non_null(
	    strstr(buf, "| `interval` | `--interval` | duration | `10s` | 100ms to 1h | yes | "
			"aggregation interval |\n"));
	assert_non_null(strstr(
	    buf, "| `aggregate` | `--aggregate` | bool | `true` | true, false | yes | one record "
		 "per peer \\| not per connection |\n"));
	assert_non_null(strstr(
	    buf,
	    "| `batch.max_records` | `--batch-max-records` | integer | `10000` | 1 to 262144 | yes "
	    "| records per batch |\n"));
	assert_non_null(strstr(
	    buf, "| `buffer.max_bytes` | `--buffer-max-bytes` | bytes | `16MiB` | 1MiB to 1GiB | "
		 "restart | buffer size |\n"));
	assert_non_null(strstr(
	    buf, "| `filters.ignore_ports` | `--ignore-ports` | port list | `22` | 1 to 65535, at "
		 "most 64 | yes | ports not recorded |\n"));
	assert_non_null(
	    strstr(buf, "| `filters.ignore_cidrs` | `--ignore-cidrs` | CIDR list | `(none)` |"));
	assert_non_null(strstr(
	    buf, "| `log.level` | `--log-level` | log level | `info` | warn, info, debug |"));
	assert_non_null(strstr(buf,
			       "| `admin` | `--admin` | address:port | `:9091` | port 0 to 65535 | "
			       "restart |"));
	assert_non_null(strstr(buf, "| `enabled` | (file only) | bool | `true` |"));
	assert_non_null(strstr(buf, "| `labels_file` | `--labels-file` | string | `(unset)` |"));
	assert_non_null(
	    strstr(buf, "| `output` | `--output` | string | `-` | at most 64 bytes | restart |"));
	assert_non_null(strstr(
	    buf,
	    "| `scope` | `--scope` | string | `(unset)` | 1 to 64 bytes, not empty | restart |"));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		lines++;
	assert_int_equal(lines, 2 + schema.n_keys);
	free(buf);
}

/* The command line the table makes: flags, switches, --config, help, errors. */
static void test_parse_args(void **state)
{
	static const struct config_switch sw[] = {
		{ "per-connection", "aggregate", "false", "one record per connection" },
	};
	static const struct config_cli cli = { .usage_head = "Usage: test\n",
					       .switches = sw,
					       .n_switches = 1 };
	const char *flags[CONFIG_FLAGS_LEN], *path = NULL;
	char a0[] = "test", a1[] = "--interval", a2[] = "0", a3[] = "--per-connection",
	     a4[] = "--config", a5[] = "/etc/podflow/x.yaml", a6[] = "--batch-max-records=7",
	     a7[] = "stray", a8[] = "--enabled", a9[] = "--help", a10[] = "--interval";
	struct test_config cfg;
	char why[256] = "";

	(void)state;
	char *ok[] = { a0, a1, a2, a3, a4, a5, a6, NULL };
	assert_int_equal(config_parse_args(&schema, &cli, 7, ok, &path, flags), 0);
	assert_string_equal(path, "/etc/podflow/x.yaml");
	/* key/value pairs in command-line order; "0" for a duration gains its unit */
	assert_string_equal(flags[0], "interval");
	assert_string_equal(flags[1], "0s");
	assert_string_equal(flags[2], "aggregate");
	assert_string_equal(flags[3], "false");
	assert_string_equal(flags[4], "batch.max_records");
	assert_string_equal(flags[5], "7");
	assert_null(flags[6]);
	/* and config_build takes them: 0s is out of range, and the flag is named */
	assert_int_equal(config_build(&schema, &cfg, NULL, flags, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "--interval: expected a duration from 100ms to 1h, got 0s");

	char *stray[] = { a0, a7, NULL };
	assert_int_equal(config_parse_args(&schema, &cli, 2, stray, &path, flags), -EINVAL);
	/* a file-only key has no flag */
	char *fileonly[] = { a0, a8, NULL };
	assert_int_equal(config_parse_args(&schema, &cli, 2, fileonly, &path, flags), -EINVAL);
	/* a flag missing its value */
	char *missing[] = { a0, a10, NULL };
	assert_int_equal(config_parse_args(&schema, &cli, 2, missing, &path, flags), -EINVAL);
	/* help: printed, and the caller exits 0 */
	char *help[] = { a0, a9, NULL };
	assert_int_equal(config_parse_args(&schema, &cli, 2, help, &path, flags), 1);
}

static int batch_fits_buffer(const void *cfg, char *why, size_t len)
{
	const struct test_config *c = cfg;

	if (c->batch_max_bytes <= c->buffer_max_bytes)
		return 0;
	snprintf(why, len, "batch.max_bytes: larger than buffer.max_bytes");
	return -EINVAL;
}

/* Load, then reloads: live keys swapped, restart keys kept, rejections counted, flags win. */
static void test_source_reload(void **state)
{
	static const char *const flags[] = { "log.level", "debug", NULL };
	struct config_source src = {
		.schema = &schema, .validate = batch_fits_buffer, .path = "src.yaml", .flags = flags
	};
	struct test_config cfg, old;
	char why[256] = "";
	struct report_fault f = {
		.fault =
		    "reload of garbage, a cross-key conflict, an emptied or commented-out file",
		.unit = "reloads",
		.counted_as =
		    "rejected, reloads_failed (config_reloads_total{result=\"failure\"}); "
		    "the running values stay",
	};

	(void)state;
	write_file("src.yaml", "interval: 20s\noutput: a.json\n", 29);
	assert_int_equal(config_source_load(&src, &cfg, why, sizeof(why)), 0);
	assert_true(src.last_ok);
	assert_int_equal(cfg.interval_ns, 20 * SEC);
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);

	/* interval is live, output needs a restart, log.level is pinned by its flag */
	write_file("src.yaml", "interval: 5s\noutput: b.json\nlog:\n  level: warn\n", 47);
	assert_int_equal(config_source_reload(&src, &cfg, &old), 1);
	assert_int_equal(old.interval_ns, 20 * SEC);
	assert_int_equal(cfg.interval_ns, 5 * SEC);
	assert_string_equal(cfg.output, "a.json");
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	config_free(&schema, &old);
	assert_int_equal(src.reloads_ok, 1);

	/* garbage: rejected, counted, nothing changes */
	write_file("src.yaml", "interval: [\n", 12);
	assert_int_equal(config_source_reload(&src, &cfg, &old), -1);
	f.injected++;
	assert_int_equal(cfg.interval_ns, 5 * SEC);
	assert_false(src.last_ok);
	assert_int_equal(src.reloads_failed, 1);

	/* the binary's own cross-key check rejects too, and names the file */
	write_file("src.yaml", "batch:\n  max_bytes: 32MiB\n", 26);
	assert_int_equal(config_source_load(&src, &old, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "src.yaml: batch.max_bytes: larger than buffer.max_bytes");
	assert_int_equal(config_source_reload(&src, &cfg, &old), -1);
	f.injected++;
	assert_int_equal(src.reloads_failed, 2);

	/* good again: counted, and the gauge's source flips back */
	write_file("src.yaml", "interval: 5s\naggregate: false\n", 30);
	assert_int_equal(config_source_reload(&src, &cfg, &old), 1);
	config_free(&schema, &old);
	assert_true(src.last_ok);
	assert_int_equal(src.reloads_ok, 2);
	assert_false(cfg.aggregate);

	/* emptied (truncated, or every line commented out): rejected, not "all defaults" */
	write_file("src.yaml", "", 0);
	assert_int_equal(config_source_reload(&src, &cfg, &old), -1);
	f.injected++;
	write_file("src.yaml", "# aggregate: true\n", 18);
	assert_int_equal(config_source_reload(&src, &cfg, &old), -1);
	f.injected++;
	assert_int_equal(src.reloads_failed, 4);
	f.counted = src.reloads_failed;
	assert_int_equal(src.reloads_ok, 2);
	assert_false(src.last_ok);
	assert_false(cfg.aggregate);
	assert_int_equal(cfg.interval_ns, 5 * SEC);
	assert_int_equal(config_source_load(&src, &old, why, sizeof(why)), -EINVAL);
	assert_string_equal(why,
			    "src.yaml: no settings in the file (it is empty or only comments): "
			    "refused; write {} to run on the defaults");
	config_free(&schema, &cfg);
	f.lost = f.injected - f.delivered - f.counted;
	assert_int_equal(f.lost, 0);
	report_fault_line("config", "test_source_reload", 1, &f);
}

/*
 * --config-optional: the file absent in a directory that exists reads as
 * no settings (defaults and flags), at start and at reloads, and appears
 * and goes live; a missing directory is still an error, and so is an
 * absent file without the flag.
 */
static void test_source_optional(void **state)
{
	static const char *const flags[] = { "log.level", "debug", NULL };
	struct config_source src = {
		.schema = &schema, .path = "cm/opt.yaml", .flags = flags, .optional = true
	};
	struct config_source strict = { .schema = &schema, .path = "cm/opt.yaml" };
	struct config_source nodir = { .schema = &schema,
				       .path = "none/opt.yaml",
				       .optional = true };
	const char *const argv_[] = { "test", "--config", "cm/opt.yaml", "--config-optional",
				      NULL };
	bool optional = false;
	static const struct config_cli cli = { .usage_head = "Usage: test\n" };
	struct config_cli with = cli;
	const char *parsed[CONFIG_FLAGS_LEN], *path = NULL;
	struct test_config cfg, old;
	char why[256] = "";

	(void)state;
	assert_int_equal(mkdir("cm", 0755), 0);
	/* absent, optional: the defaults, with the flags over them */
	assert_int_equal(config_source_load(&src, &cfg, why, sizeof(why)), 0);
	assert_true(src.absent);
	assert_true(src.last_ok);
	assert_int_equal(cfg.interval_ns, 10 * SEC);
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	/* absent, not optional: an error, as ever */
	assert_int_equal(config_source_load(&strict, &old, why, sizeof(why)), -ENOENT);
	assert_string_equal(why, "cm/opt.yaml: No such file or directory");
	/* its directory missing: an error, optional or not */
	assert_int_equal(config_source_load(&nodir, &old, why, sizeof(why)), -ENOENT);
	assert_string_equal(why, "--config none/opt.yaml: its directory none: No such file or "
				 "directory (with --config-optional only the file may be absent)");

	/* it appears: a reload puts it in force */
	write_file("cm/opt.yaml", "interval: 5s\n", 13);
	assert_int_equal(config_source_reload(&src, &cfg, &old), 1);
	config_free(&schema, &old);
	assert_false(src.absent);
	assert_int_equal(cfg.interval_ns, 5 * SEC);
	/* it goes: back to the defaults, a success and not a rejection */
	assert_int_equal(unlink("cm/opt.yaml"), 0);
	assert_int_equal(config_source_reload(&src, &cfg, &old), 1);
	config_free(&schema, &old);
	assert_true(src.absent);
	assert_true(src.last_ok);
	assert_int_equal(src.reloads_ok, 2);
	assert_int_equal(src.reloads_failed, 0);
	assert_int_equal(cfg.interval_ns, 10 * SEC);
	/* present but broken: rejected as ever, optional or not */
	write_file("cm/opt.yaml", "interval: [\n", 12);
	assert_int_equal(config_source_reload(&src, &cfg, &old), -1);
	assert_int_equal(src.reloads_failed, 1);
	config_free(&schema, &cfg);

	/* the flag: only where the binary offers it */
	assert_int_equal(config_parse_args(&schema, &cli, 4, (char **)argv_, &path, parsed),
			 -EINVAL);
	with.config_optional = &optional;
	assert_int_equal(config_parse_args(&schema, &with, 4, (char **)argv_, &path, parsed), 0);
	assert_true(optional);
	assert_string_equal(path, "cm/opt.yaml");
	assert_null(parsed[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_u32),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_log_level),
		cmocka_unit_test(test_addr_port),
		cmocka_unit_test(test_string),
		cmocka_unit_test(test_port_list),
		cmocka_unit_test(test_cidr_list),
		cmocka_unit_test(test_find_and_unknown),
		cmocka_unit_test(test_yaml_nesting),
		cmocka_unit_test(test_yaml_unknown_key),
		cmocka_unit_test(test_yaml_wrong_shape),
		cmocka_unit_test(test_yaml_value_errors),
		cmocka_unit_test(test_yaml_bool),
		cmocka_unit_test(test_yaml_null_string),
		cmocka_unit_test(test_yaml_duplicate),
		cmocka_unit_test(test_yaml_syntax_error),
		cmocka_unit_test(test_yaml_empty_and_top_level),
		cmocka_unit_test(test_yaml_file_errors),
		cmocka_unit_test(test_yaml_partial_result_frees),
		cmocka_unit_test(test_build_precedence),
		cmocka_unit_test(test_build_failures),
		cmocka_unit_test(test_copy_free),
		cmocka_unit_test(test_differs),
		cmocka_unit_test(test_merge_live),
		cmocka_unit_test(test_to_json),
		cmocka_unit_test(test_markdown),
		cmocka_unit_test(test_parse_args),
		cmocka_unit_test(test_source_reload),
		cmocka_unit_test(test_source_optional),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
