// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for sidecar/identity: Downward API labels parsing and the pod identity. */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "identity.h"

/* What the kubelet writes for `fieldRef: metadata.labels` (Go strconv.Quote values). */
static const char labels_text[] = "app=\"web\"\n"
				  "app.kubernetes.io/name=\"checkout\"\n"
				  "pod-template-hash=\"7d9f8b6c5\"\n"
				  "quoted=\"a \\\"b\\\" \\\\ c\\tz\"\n"
				  "unicode=\"caf\\u00e9\"\n";

/* ---- identity_label ---- */

static void expect_label(const char *text, const char *key, const char *want)
{
	char out[256];
	int bad = -1, r;

	memset(out, 'X', sizeof(out));
	r = identity_label(text, key, out, sizeof(out), &bad);
	if (r != 1 || strcmp(out, want) != 0) {
		print_error("%s: expected 1 and \"%s\", got %d and \"%.*s\"\n", key, want, r,
			    (int)strnlen(out, sizeof(out)), out);
		fail();
	}
	/* bad_line is only written on failure */
	assert_int_equal(bad, -1);
}

static void expect_bad(const char *text, int want_line)
{
	char out[64] = "untouched";
	int bad = 0;

	assert_int_equal(identity_label(text, "app", out, sizeof(out), &bad), -EINVAL);
	if (bad != want_line) {
		print_error("expected line %d, got %d, for:\n%s\n", want_line, bad, text);
		fail();
	}
}

static void test_label_values(void **state)
{
	(void)state;
	expect_label(labels_text, "app", "web");
	expect_label(labels_text, "app.kubernetes.io/name", "checkout");
	expect_label(labels_text, "pod-template-hash", "7d9f8b6c5");
	expect_label(labels_text, "quoted", "a \"b\" \\ c\tz");
	expect_label(labels_text, "unicode", "caf\xc3\xa9");
}

static void test_label_missing(void **state)
{
	char out[16] = "untouched";
	int bad = -1;

	(void)state;
	assert_int_equal(identity_label(labels_text, "tier", out, sizeof(out), &bad), 0);
	/* a key that is a prefix of a present one, or has one as prefix, is not present */
	assert_int_equal(identity_label(labels_text, "ap", out, sizeof(out), &bad), 0);
	assert_int_equal(identity_label(labels_text, "app.kubernetes.io", out, sizeof(out), &bad),
			 0);
	assert_int_equal(identity_label(labels_text, "App", out, sizeof(out), &bad), 0);
	assert_int_equal(identity_label("", "app", out, sizeof(out), &bad), 0);
	assert_string_equal(out, "untouched");
	assert_int_equal(bad, -1);
}

static void test_label_escapes(void **state)
{
	(void)state;
	expect_label("k=\"\\a\\b\\f\\n\\r\\t\\v\"", "k", "\a\b\f\n\r\t\v");
	expect_label("k=\"\\x41\\x62\"", "k", "Ab");
	expect_label("k=\"\\u20ac \\u00E9\"", "k", "\xe2\x82\xac \xc3\xa9");
	expect_label("k=\"\\U0001F600\"", "k", "\xf0\x9f\x98\x80");
	/* raw UTF-8, as strconv.Quote leaves printable runes */
	expect_label("k=\"caf\xc3\xa9\"", "k", "caf\xc3\xa9");
	expect_label("k=\"\"", "k", "");
	/* a value may contain '=' and spaces */
	expect_label("k=\"a=b c\"", "k", "a=b c");
}

static void test_label_layout(void **state)
{
	(void)state;
	/* no trailing newline; blank lines skipped */
	expect_label("a=\"1\"\n\nb=\"2\"", "b", "2");
	expect_label("\n\na=\"1\"\n", "a", "1");
	/* a repeated key: the last one counts */
	expect_label("a=\"1\"\na=\"2\"\n", "a", "2");
}

static void test_label_truncates(void **state)
{
	char out[4];
	int bad = -1;

	(void)state;
	assert_int_equal(
	    identity_label(labels_text, "app.kubernetes.io/name", out, sizeof(out), &bad), 1);
	assert_string_equal(out, "che");
}

static void test_label_malformed(void **state)
{
	(void)state;
	expect_bad("novalue\n", 1);
	expect_bad("k=unquoted\n", 1);
	expect_bad("k=\"unterminated\n", 1);
	expect_bad("app=\"web\"\nnovalue\n", 2);
	expect_bad("app=\"web\"\nk=unquoted\n", 2);
	expect_bad("app=\"web\"\ntier=\"front\"\nk=\"unterminated\n", 3);
	expect_bad("app=\"web\"\n\nk=\"unterminated", 3); /* blank lines count */
	expect_bad("=\"v\"\n", 1);			  /* empty key */
	expect_bad("k=\"v\"x\n", 1);			  /* after the closing quote */
	expect_bad("k=\"v\" \n", 1);
	expect_bad("k=\"\\q\"\n", 1);	  /* not a Go escape */
	expect_bad("k=\"\\u00zz\"\n", 1); /* not hex */
	expect_bad("k=\"\\x4\"\n", 1);	  /* too short */
	expect_bad("k=\"abc\\", 1);	  /* escape at the end of the text */
	expect_bad("k=\"abc\\\n\"\n", 1);
	/* the whole text is checked, not just up to the key */
	expect_bad("app=\"web\"\nnovalue\n", 2);
}

/* ---- identity_load ---- */

struct env_var {
	const char *name;
	const char *value;
};

/* The environment fake_getenv reads; a test points this at its own table. */
static const struct env_var *fake_env;

static char *fake_getenv(const char *name)
{
	for (const struct env_var *e = fake_env; e && e->name; e++)
		if (strcmp(e->name, name) == 0)
			return (char *)e->value;
	return NULL;
}

static const struct env_var pod_env[] = {
	{ "POD_NAME", "web-7d9f8b6c5-x2x4z" },
	{ "POD_NAMESPACE", "shop" },
	{ "NODE_NAME", "node-1" },
	{ NULL, NULL },
};

struct tmp {
	char dir[256];
	char path[512]; /* the labels file */
};

static int setup_tmp(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	strcpy(t->dir, "/tmp/podflow-test-identity.XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/labels", t->dir);
	fake_env = NULL;
	*state = t;
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int teardown_tmp(void **state)
{
	struct tmp *t = *state;
	int rc;

	rc = nftw(t->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	free(t);
	fake_env = NULL;
	return rc;
}

/* Writes the labels file and returns its path. */
static const char *labels(void **state, const char *text)
{
	struct tmp *t = *state;
	FILE *f = fopen(t->path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	return t->path;
}

static void assert_view(const struct identity *id)
{
	assert_ptr_equal(id->view.app, id->app);
	assert_ptr_equal(id->view.namespace, id->namespace);
	assert_ptr_equal(id->view.pod, id->pod);
	assert_ptr_equal(id->view.node, id->node);
	assert_ptr_equal(id->view.workload, id->workload);
}

static void test_load_deployment(void **state)
{
	struct identity id;
	char why[256] = "";

	fake_env = pod_env;
	assert_int_equal(
	    identity_load(&id, fake_getenv, labels(state, labels_text), why, sizeof(why)), 0);
	assert_string_equal(id.pod, "web-7d9f8b6c5-x2x4z");
	assert_string_equal(id.namespace, "shop");
	assert_string_equal(id.node, "node-1");
	/* app.kubernetes.io/name wins over app */
	assert_string_equal(id.app, "checkout");
	/* the ReplicaSet's hash and the pod's suffix stripped */
	assert_string_equal(id.workload, "web");
	assert_string_equal(why, "");
	assert_view(&id);
	assert_string_equal(id.view.app, "checkout");
}

static void test_load_app_label_only(void **state)
{
	struct identity id;
	char why[256];

	fake_env = pod_env;
	assert_int_equal(
	    identity_load(&id, fake_getenv, labels(state, "app=\"web\"\n"), why, sizeof(why)), 0);
	assert_string_equal(id.app, "web");
	/* no hash label: the workload is not guessed from the pod name */
	assert_string_equal(id.workload, "");
	assert_view(&id);
}

static void test_load_env_wins(void **state)
{
	static const struct env_var env[] = {
		{ "POD_NAME", "web-7d9f8b6c5-x2x4z" },
		{ "POD_APP", "frontend" },
		{ "POD_WORKLOAD", "web-canary" },
		{ NULL, NULL },
	};
	struct identity id;
	char why[256];

	fake_env = env;
	assert_int_equal(
	    identity_load(&id, fake_getenv, labels(state, labels_text), why, sizeof(why)), 0);
	assert_string_equal(id.app, "frontend");
	assert_string_equal(id.workload, "web-canary");
	assert_string_equal(id.namespace, "");
	assert_string_equal(id.node, "");
	assert_view(&id);
}

static void test_load_statefulset(void **state)
{
	static const struct env_var env[] = {
		{ "POD_NAME", "db-0" },
		{ NULL, NULL },
	};
	struct identity id;
	char why[256];

	fake_env = env;
	assert_int_equal(
	    identity_load(&id, fake_getenv,
			  labels(state, "app=\"db\"\n"
					"controller-revision-hash=\"db-5d8f7c9b4\"\n"
					"statefulset.kubernetes.io/pod-name=\"db-0\"\n"),
			  why, sizeof(why)),
	    0);
	assert_string_equal(id.workload, "db");
	assert_string_equal(id.app, "db");
}

static void test_load_daemonset(void **state)
{
	static const struct env_var env[] = {
		{ "POD_NAME", "node-exporter-x2x4z" },
		{ NULL, NULL },
	};
	struct identity id;
	char why[256];

	fake_env = env;
	assert_int_equal(identity_load(&id, fake_getenv,
				       labels(state, "controller-revision-hash=\"6b5f9c7d8\"\n"
						     "pod-template-generation=\"3\"\n"),
				       why, sizeof(why)),
			 0);
	assert_string_equal(id.workload, "node-exporter");
	assert_string_equal(id.app, "");
}

static void test_load_workload_not_derivable(void **state)
{
	static const struct env_var env[] = {
		{ "POD_NAME", "web-abc-x2x4z" },
		{ NULL, NULL },
	};
	struct identity id;
	char why[256];

	/* the hash is not in the pod's name: empty rather than a guess */
	fake_env = env;
	assert_int_equal(
	    identity_load(&id, fake_getenv, labels(state, labels_text), why, sizeof(why)), 0);
	assert_string_equal(id.workload, "");
	/* no pod name: nothing to derive from */
	fake_env = NULL;
	assert_int_equal(
	    identity_load(&id, fake_getenv, labels(state, labels_text), why, sizeof(why)), 0);
	assert_string_equal(id.workload, "");
	assert_string_equal(id.app, "checkout");
}

static void test_load_nothing(void **state)
{
	struct identity id;
	char why[256];

	(void)state;
	fake_env = NULL;
	memset(&id, 'X', sizeof(id));
	assert_int_equal(identity_load(&id, fake_getenv, NULL, why, sizeof(why)), 0);
	assert_string_equal(id.app, "");
	assert_string_equal(id.namespace, "");
	assert_string_equal(id.pod, "");
	assert_string_equal(id.node, "");
	assert_string_equal(id.workload, "");
	assert_view(&id);
}

static void test_load_long_value(void **state)
{
	static char longname[400];
	static const struct env_var env[] = {
		{ "POD_NAMESPACE", longname },
		{ NULL, NULL },
	};
	struct identity id;
	char why[256];

	(void)state;
	memset(longname, 'n', sizeof(longname) - 1);
	fake_env = env;
	assert_int_equal(identity_load(&id, fake_getenv, NULL, why, sizeof(why)), 0);
	assert_int_equal(strlen(id.namespace), IDENTITY_FIELD_MAX - 1);
	assert_memory_equal(id.namespace, longname, IDENTITY_FIELD_MAX - 1);
}

static void test_load_missing_file(void **state)
{
	struct tmp *t = *state;
	char path[600], why[1024], want[1024];
	struct identity id;

	fake_env = pod_env;
	snprintf(path, sizeof(path), "%s/no-such-labels", t->dir);
	snprintf(want, sizeof(want), "--labels-file %s: %s", path, strerror(ENOENT));
	assert_int_equal(identity_load(&id, fake_getenv, path, why, sizeof(why)), -ENOENT);
	assert_string_equal(why, want);
}

static void test_load_unreadable_file(void **state)
{
	struct tmp *t = *state;
	char why[1024], want[1024];
	struct identity id;

	/*
	 * A directory opens but cannot be read: a read error, not an empty
	 * labels file.  (Permission bits cannot make a file unreadable here:
	 * the tests may run as root.)
	 */
	fake_env = pod_env;
	snprintf(want, sizeof(want), "--labels-file %s: %s", t->dir, strerror(EISDIR));
	assert_int_equal(identity_load(&id, fake_getenv, t->dir, why, sizeof(why)), -EISDIR);
	assert_string_equal(why, want);
}

static void test_load_malformed_file(void **state)
{
	static const struct env_var env[] = {
		{ "POD_NAME", "web-7d9f8b6c5-x2x4z" },
		{ "POD_APP", "frontend" },
		{ NULL, NULL },
	};
	struct tmp *t = *state;
	char why[1024], want[1024];
	struct identity id;

	snprintf(want, sizeof(want), "--labels-file %s: line 2: expected key=\"value\"", t->path);
	fake_env = pod_env;
	assert_int_equal(identity_load(&id, fake_getenv, labels(state, "app=\"web\"\nk=unquoted\n"),
				       why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, want);
	/* even when the environment already has everything the file would give */
	fake_env = env;
	why[0] = '\0';
	assert_int_equal(identity_load(&id, fake_getenv, labels(state, "app=\"web\"\nk=unquoted\n"),
				       why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_values),
		cmocka_unit_test(test_label_missing),
		cmocka_unit_test(test_label_escapes),
		cmocka_unit_test(test_label_layout),
		cmocka_unit_test(test_label_truncates),
		cmocka_unit_test(test_label_malformed),
		cmocka_unit_test_setup_teardown(test_load_deployment, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_load_app_label_only, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_load_env_wins, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_load_statefulset, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_load_daemonset, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_load_workload_not_derivable, setup_tmp,
						teardown_tmp),
		cmocka_unit_test_setup_teardown(test_load_nothing, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_load_long_value, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_load_missing_file, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_load_unreadable_file, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_load_malformed_file, setup_tmp, teardown_tmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
