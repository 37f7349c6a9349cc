/* SPDX-License-Identifier: BSD-2-Clause */
/* Table-driven configuration: one struct per binary, filled from defaults, YAML and flags. */
#ifndef PODFLOW_CONFIG_H
#define PODFLOW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ip.h"
#include <stdio.h>

struct jsonw;

/*
 * A binary describes its configuration once, as a table of keys; the same
 * table drives the YAML file (libyaml), the command-line flags, validation,
 * live reload and the effective-config dump.  Keys are dotted paths into
 * nested YAML mappings ("batch.max_records" is `batch: {max_records: ...}`).
 */
enum config_type {
	CONFIG_BOOL,	  /* bool: true/false (YAML 1.2 core schema only) */
	CONFIG_U32,	  /* uint32_t, decimal, in [min, max] */
	CONFIG_BYTES,	  /* uint64_t: "65536", "16MiB", "4KiB", in [min, max] */
	CONFIG_DURATION,  /* uint64_t ns: "500ms", "10s", "1m30s", in [min, max] ns */
	CONFIG_STRING,	  /* char * (owned by the struct; NULL = unset), max `max` bytes */
	CONFIG_LOG_LEVEL, /* enum log_level: warn, info, debug */
	CONFIG_ADDR_PORT, /* char *: ":7070", "127.0.0.1:9091", "[::1]:9091" (validated) */
	CONFIG_PORT_LIST, /* struct config_ports: YAML sequence of ports 1..65535 */
	CONFIG_CIDR_LIST, /* struct config_cidrs: YAML sequence of "10.0.0.0/8", "fd00::/8" */
};

#define CONFIG_MAX_PORTS 64
#define CONFIG_MAX_CIDRS 64

struct config_ports {
	uint32_t n;
	uint16_t port[CONFIG_MAX_PORTS];
};

struct config_cidrs {
	uint32_t n;
	struct ip_cidr cidr[CONFIG_MAX_CIDRS]; /* ip.h: IPv4 as v4-mapped /(96 + n) */
};

struct config_key {
	const char *key;  /* "interval", "batch.max_records" */
	const char *flag; /* the command-line flag without "--" ("batch-max-records"), or NULL */
	enum config_type type;
	size_t offset; /* offsetof(struct ..._config, field) */
	/*
	 * Numeric types: the inclusive range.  STRING: the longest value in
	 * `max` (0: no limit); `min` 1 refuses an empty or null value, which
	 * otherwise unsets the string.
	 */
	uint64_t min;
	uint64_t max;
	bool live;	  /* can change while running; else a change needs a restart */
	const char *help; /* one line, for --help, docs/config.md and /config */
};

/* A configuration's table and defaults: what the functions below work from. */
struct config_schema {
	const char *program; /* "podflow-sidecar" */
	const struct config_key *keys;
	size_t n_keys;
	const void *defaults; /* a struct of the binary's config type */
	size_t size;	      /* sizeof that struct */
};

/*
 * Parses one textual value for `key` into cfg (flags, and the YAML scalars
 * go through this too, so one parser per type serves both).  Returns 0 or
 * -EINVAL (or -ENOMEM) with "KEY: why" in `why` (e.g. "interval: expected a
 * duration from 100ms to 1h, got 10").  A NULL or empty value unsets a
 * STRING (is refused when its `min` is 1); a list takes "22,80"
 * (comma-separated) and is replaced whole.
 */
int config_set(const struct config_schema *s, void *cfg, const char *key, const char *value,
	       char *why, size_t whylen);

/* The table entry for a dotted key or a flag name; NULL if none. */
const struct config_key *config_find_key(const struct config_schema *s, const char *key);
const struct config_key *config_find_flag(const struct config_schema *s, const char *flag);

/*
 * Reads a YAML file into cfg (which the caller has initialised, normally with
 * config_copy() from the defaults: cfg must own its strings, as replaced
 * ones are freed): a mapping whose keys are the table's, nested by the dots.
 * Returns 0, or a negative errno with ONE line in `why` naming the file, the
 * line and the key: "config.yaml:7: batch.max_records: expected an integer
 * from 1 to 262144, got 0", "config.yaml:3: unknown key 'intervall'",
 * "config.yaml:5: YAML syntax error: mapping values are not allowed here".
 * On failure cfg holds a partial result: callers load into a scratch copy.
 * Files over 1 MiB are refused, and so is an empty document (nothing, only
 * comments, "---" alone): every key at its default is written "{}".
 */
int config_load_yaml(const struct config_schema *s, void *cfg, const char *path, char *why,
		     size_t whylen);

/*
 * Builds the effective configuration: defaults, then the file (if `path`),
 * then `flags` (a NULL-terminated list of key, value pairs the command line
 * set, applied last: flags win).  Into `out`, which the caller frees with
 * config_free().  0 or a negative errno with one line in `why`.
 */
int config_build(const struct config_schema *s, void *out, const char *path,
		 const char *const *flags, char *why, size_t whylen);

/* Deep copy (strings duplicated); 0 or -ENOMEM. */
int config_copy(const struct config_schema *s, void *dst, const void *src);
/* Frees the strings a config owns (not the struct itself). */
void config_free(const struct config_schema *s, void *cfg);

/*
 * Compares a running config with a newly loaded one.  Live keys that differ
 * are applied to `running` (the caller then acts on them); keys that cannot
 * change live keep their running value and are listed, comma-separated, in
 * `restart` (empty when none).  Returns the number of live keys applied, or
 * -ENOMEM (running stays valid, with the keys applied so far).
 */
int config_merge_live(const struct config_schema *s, void *running, const void *loaded,
		      char *restart, size_t restartlen);

/* True when the field for `key` differs between a and b. */
bool config_differs(const struct config_schema *s, const struct config_key *k, const void *a,
		    const void *b);

/* Writes cfg as one JSON object, nested like the YAML ("batch": {"max_records": ...}). */
void config_to_json(const struct config_schema *s, const void *cfg, struct jsonw *jw);

/* A Markdown table of every key (type, default, range, live), for docs/config.md. */
void config_print_markdown(const struct config_schema *s, FILE *out);

/* The most flags one command line may set. */
#define CONFIG_MAX_FLAGS 64

/* A flag without an argument that sets `key` to `value` ("--per-connection"). */
struct config_switch {
	const char *flag;
	const char *key;
	const char *value;
	const char *help;
};

/* What a binary's command line has beyond its table's flags. */
struct config_cli {
	const char *usage_head; /* --help's first lines: usage, what the program does */
	const char *usage_tail; /* --help's last lines */
	const struct config_switch *switches;
	size_t n_switches;
	/*
	 * Non-NULL: --config-optional is offered and sets it (the --config
	 * file may be absent: config_source.h).  Not a key: the file cannot
	 * say whether it may be missing.
	 */
	bool *config_optional;
};

/* Room for the NULL-terminated key/value pairs config_parse_args fills. */
#define CONFIG_FLAGS_LEN (2 * CONFIG_MAX_FLAGS + 2)

/*
 * The command line: --config FILE into *config_path; every table key that
 * has a flag (--KEY-FLAG VALUE) and every switch into `flags`, the
 * NULL-terminated key/value pairs config_build applies over the file (it
 * holds CONFIG_FLAGS_LEN entries, pointing into argv).  --help prints the
 * usage, --help-config the Markdown key table, on stdout.  Returns 0 (run),
 * 1 (help printed: exit 0) or -EINVAL (the reason logged: exit 2).
 */
int config_parse_args(const struct config_schema *s, const struct config_cli *cli, int argc,
		      char **argv, const char **config_path, const char **flags);

#endif /* PODFLOW_CONFIG_H */
