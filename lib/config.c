// SPDX-License-Identifier: BSD-2-Clause
/* Table-driven configuration: one parser per type, shared by the YAML file (libyaml) and flags. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "cli.h"
#include "duration.h"
#include "file.h"
#include "jsonw.h"
#include "ip.h"
#include "listen_addr.h"
#include "log.h"

#define CONFIG_FILE_MAX (1u << 20) /* a ConfigMap holds at most 1 MiB in total */
#define KEY_MAX		256	   /* longest dotted key looked up; longer ones are unknown */
#define GOT_MAX		64	   /* bytes of an offending value quoted back in a message */
#define REASON_MAX	256

static const char *const level_names[] = { "warn", "info", "debug" };

static void *field(const struct config_key *k, void *cfg)
{
	return (char *)cfg + k->offset;
}

static const void *cfield(const struct config_key *k, const void *cfg)
{
	return (const char *)cfg + k->offset;
}

static bool owns_string(const struct config_key *k)
{
	return k->type == CONFIG_STRING || k->type == CONFIG_ADDR_PORT;
}

static bool is_list(const struct config_key *k)
{
	return k->type == CONFIG_PORT_LIST || k->type == CONFIG_CIDR_LIST;
}

static const char *level_name(enum log_level l)
{
	return (unsigned int)l < sizeof(level_names) / sizeof(level_names[0]) ? level_names[l]
									      : "?";
}

/* Exact binary units where they fit ("16MiB"), else plain bytes: what cli_parse_bytes reads. */
static char *bytes_format(uint64_t n, char *buf, size_t len)
{
	static const struct {
		const char *suffix;
		unsigned int shift;
	} units[] = { { "GiB", 30 }, { "MiB", 20 }, { "KiB", 10 } };

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (n && !(n & ((1ULL << units[i].shift) - 1))) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(n >> units[i].shift),
				 units[i].suffix);
			return buf;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)n);
	return buf;
}

/*
 * An offending value as it goes into a one-line message: "null" for a YAML
 * null, control bytes as \xNN so the message stays one line, long values cut.
 */
static char *got_format(const char *v, size_t len, char *buf, size_t buflen)
{
	size_t o = 0;

	if (!v) {
		snprintf(buf, buflen, "null");
		return buf;
	}
	if (!len) {
		snprintf(buf, buflen, "an empty value");
		return buf;
	}
	for (size_t i = 0; i < len && i < GOT_MAX && o + 5 < buflen; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	if (len > GOT_MAX && o + 4 < buflen)
		strcat(buf, "...");
	return buf;
}

/* What a key accepts, as the end of "expected ..." ("a duration from 100ms to 1h"). */
static char *describe(const struct config_key *k, char *buf, size_t len)
{
	char a[32], b[32];

	switch (k->type) {
	case CONFIG_BOOL:
		snprintf(buf, len, "true or false");
		break;
	case CONFIG_U32:
		snprintf(buf, len, "an integer from %llu to %llu", (unsigned long long)k->min,
			 (unsigned long long)(k->max > UINT32_MAX ? UINT32_MAX : k->max));
		break;
	case CONFIG_BYTES:
		snprintf(buf, len, "a size from %s to %s", bytes_format(k->min, a, sizeof(a)),
			 bytes_format(k->max, b, sizeof(b)));
		break;
	case CONFIG_DURATION:
		snprintf(buf, len, "a duration from %s to %s",
			 duration_format(k->min, a, sizeof(a)),
			 duration_format(k->max, b, sizeof(b)));
		break;
	case CONFIG_STRING:
		if (k->max)
			snprintf(buf, len, "a%s string of at most %llu bytes",
				 k->min ? " non-empty" : "", (unsigned long long)k->max);
		else
			snprintf(buf, len, "a%s string", k->min ? " non-empty" : "");
		break;
	case CONFIG_LOG_LEVEL:
		snprintf(buf, len, "warn, info or debug");
		break;
	case CONFIG_ADDR_PORT:
		snprintf(buf, len,
			 ":PORT, IPv4:PORT, [IPv6]:PORT or localhost:PORT with PORT from 0 to "
			 "65535");
		break;
	case CONFIG_PORT_LIST:
		snprintf(buf, len, "a list of ports from 1 to 65535");
		break;
	case CONFIG_CIDR_LIST:
		snprintf(buf, len, "a list of CIDRs such as 10.0.0.0/8 or fd00::/8");
		break;
	default:
		snprintf(buf, len, "a value");
		break;
	}
	return buf;
}

/* "expected <what the key takes>, got <v>" into why; returns -EINVAL. */
static int expected(const struct config_key *k, const char *v, size_t len, char *why, size_t wl)
{
	char d[128], g[GOT_MAX * 4 + 8];

	snprintf(why, wl, "expected %s, got %s", describe(k, d, sizeof(d)),
		 got_format(v, len, g, sizeof(g)));
	return -EINVAL;
}

static int parse_bool(const char *v, bool *out)
{
	/* the YAML 1.2 core schema's spellings, nothing else */
	static const char *const t[] = { "true", "True", "TRUE" };
	static const char *const f[] = { "false", "False", "FALSE" };

	for (size_t i = 0; i < 3; i++) {
		if (strcmp(v, t[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(v, f[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* YAML 1.1 booleans that YAML 1.2 (and so this parser) reads as strings. */
static bool is_yaml11_bool(const char *v)
{
	static const char *const words[] = { "yes", "no", "on", "off", "y", "n" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(v, words[i]) == 0)
			return true;
	return false;
}

/* Adds one port, keeping the list sorted and free of duplicates. */
static int port_add(struct config_ports *l, const char *v, size_t len, char *why, size_t wl)
{
	char buf[8], g[GOT_MAX * 4 + 8];
	uint32_t p, i;

	/* v is not terminated when it comes from a comma-separated flag */
	if (v && len < sizeof(buf)) {
		memcpy(buf, v, len);
		buf[len] = '\0';
	}
	if (!v || len >= sizeof(buf) || memchr(v, '\0', len) || cli_parse_u32(buf, 1, 65535, &p)) {
		snprintf(why, wl, "expected a port from 1 to 65535, got %s",
			 got_format(v, len, g, sizeof(g)));
		return -EINVAL;
	}
	for (i = 0; i < l->n && l->port[i] < p; i++)
		;
	if (i < l->n && l->port[i] == p)
		return 0;
	if (l->n == CONFIG_MAX_PORTS) {
		snprintf(why, wl, "more than %d ports", CONFIG_MAX_PORTS);
		return -EINVAL;
	}
	memmove(&l->port[i + 1], &l->port[i], (l->n - i) * sizeof(l->port[0]));
	l->port[i] = (uint16_t)p;
	l->n++;
	return 0;
}

/* Adds one "ADDR/PREFIX" (ip_cidr_parse: IPv4 as v4-mapped /(96 + n)); duplicates folded. */
static int cidr_add(struct config_cidrs *l, const char *v, size_t len, char *why, size_t wl)
{
	char g[GOT_MAX * 4 + 8];
	struct ip_cidr c;
	unsigned int maxp = 0;
	int err = ip_cidr_parse(v, len, &c, &maxp);

	if (err == -ERANGE) {
		snprintf(why, wl, "expected a prefix length from 0 to %u for %s, got %s", maxp,
			 maxp == 128 ? "IPv6" : "IPv4", got_format(v, len, g, sizeof(g)));
		return -EINVAL;
	}
	if (err) {
		snprintf(why, wl, "expected a CIDR such as 10.0.0.0/8 or fd00::/8, got %s",
			 got_format(v, len, g, sizeof(g)));
		return -EINVAL;
	}
	for (uint32_t i = 0; i < l->n; i++)
		if (memcmp(&l->cidr[i], &c, sizeof(c)) == 0)
			return 0;
	if (l->n == CONFIG_MAX_CIDRS) {
		snprintf(why, wl, "more than %d CIDRs", CONFIG_MAX_CIDRS);
		return -EINVAL;
	}
	l->cidr[l->n++] = c;
	return 0;
}

/* One list element of either list type, appended to `list` (a struct config_ports/cidrs). */
static int list_add(const struct config_key *k, void *list, const char *v, size_t len, char *why,
		    size_t wl)
{
	if (k->type == CONFIG_PORT_LIST)
		return port_add(list, v, len, why, wl);
	return cidr_add(list, v, len, why, wl);
}

/* A list from flag text: comma-separated, spaces around the commas ignored, "" = empty. */
static int list_set_text(const struct config_key *k, void *cfg, const char *v, char *why, size_t wl)
{
	union {
		struct config_ports ports;
		struct config_cidrs cidrs;
	} tmp;
	const char *p = v;
	size_t size = k->type == CONFIG_PORT_LIST ? sizeof(tmp.ports) : sizeof(tmp.cidrs);
	int err;

	if (!v)
		return expected(k, NULL, 0, why, wl);
	memset(&tmp, 0, sizeof(tmp));
	while (*p) {
		const char *end = strchr(p, ','), *b = p, *e;

		if (!end)
			end = p + strlen(p);
		e = end;
		while (b < e && *b == ' ')
			b++;
		while (e > b && e[-1] == ' ')
			e--;
		err = list_add(k, &tmp, b, (size_t)(e - b), why, wl);
		if (err)
			return err;
		p = *end ? end + 1 : end;
		if (*end && !*p)
			return list_add(k, &tmp, p, 0, why, wl); /* a trailing comma */
	}
	memcpy(field(k, cfg), &tmp, size);
	return 0;
}

/*
 * The one parser per type.  `v` is the value's text of `len` bytes, NULL for
 * a YAML null.  The reason goes to why without the key; -EINVAL or -ENOMEM.
 */
static int set_value(const struct config_key *k, void *cfg, const char *v, size_t len, char *why,
		     size_t wl)
{
	void *f = field(k, cfg);
	uint64_t u64;
	uint32_t u32;
	char *dup;

	if (k->type == CONFIG_STRING) {
		/*
		 * min 1: empty is refused rather than read as "unset", where the
		 * default it would silently fall back to is not what an empty
		 * value looks like it asks for (cgroup: "" is not the pod).
		 */
		if (k->min && (!v || !len))
			return expected(k, v, len, why, wl);
		if (v && len) {
			if (k->max && len > k->max) {
				snprintf(why, wl, "expected at most %llu bytes, got %zu",
					 (unsigned long long)k->max, len);
				return -EINVAL;
			}
			for (size_t i = 0; i < len; i++) {
				unsigned char c = (unsigned char)v[i];

				if (c < 0x20 || c == 0x7f) {
					snprintf(why, wl,
						 "control characters are not allowed (byte %zu is "
						 "\\x%02x)",
						 i, c);
					return -EINVAL;
				}
			}
			dup = strndup(v, len);
			if (!dup) {
				snprintf(why, wl, "out of memory");
				return -ENOMEM;
			}
		} else {
			dup = NULL; /* null or empty: unset */
		}
		free(*(char **)f);
		*(char **)f = dup;
		return 0;
	}
	/* an address may be left unset, like a string: the feature is then off */
	if (k->type == CONFIG_ADDR_PORT && (!v || len == 0)) {
		free(*(char **)f);
		*(char **)f = NULL;
		return 0;
	}
	/* every other type: a null is an error, and so is a NUL inside (YAML's "\0") */
	if (!v || memchr(v, '\0', len))
		return expected(k, v, len, why, wl);
	if (is_list(k))
		return list_set_text(k, cfg, v, why, wl);

	switch (k->type) {
	case CONFIG_BOOL:
		if (parse_bool(v, f) == 0)
			return 0;
		if (is_yaml11_bool(v)) {
			char g[GOT_MAX * 4 + 8];

			snprintf(why, wl,
				 "expected true or false, got %s (yes/no/on/off are not booleans "
				 "in YAML 1.2)",
				 got_format(v, len, g, sizeof(g)));
			return -EINVAL;
		}
		return expected(k, v, len, why, wl);
	case CONFIG_U32:
		if (cli_parse_u32(v, k->min > UINT32_MAX ? UINT32_MAX : (uint32_t)k->min,
				  k->max > UINT32_MAX ? UINT32_MAX : (uint32_t)k->max, &u32))
			return expected(k, v, len, why, wl);
		*(uint32_t *)f = u32;
		return 0;
	case CONFIG_BYTES:
		if (cli_parse_bytes(v, k->min, k->max, &u64))
			return expected(k, v, len, why, wl);
		*(uint64_t *)f = u64;
		return 0;
	case CONFIG_DURATION:
		if (duration_parse(v, &u64) || u64 < k->min || u64 > k->max)
			return expected(k, v, len, why, wl);
		*(uint64_t *)f = u64;
		return 0;
	case CONFIG_LOG_LEVEL: {
		enum log_level l;

		if (log_level_parse(v, &l))
			return expected(k, v, len, why, wl);
		*(enum log_level *)f = l;
		return 0;
	}
	case CONFIG_ADDR_PORT: {
		struct listen_addr la;

		if (listen_addr_parse(v, &la))
			return expected(k, v, len, why, wl);
		dup = strdup(v);
		if (!dup) {
			snprintf(why, wl, "out of memory");
			return -ENOMEM;
		}
		free(*(char **)f);
		*(char **)f = dup;
		return 0;
	}
	default:
		snprintf(why, wl, "unsupported type %d in the schema", (int)k->type);
		return -EINVAL;
	}
}

const struct config_key *config_find_key(const struct config_schema *s, const char *key)
{
	for (size_t i = 0; i < s->n_keys; i++)
		if (strcmp(s->keys[i].key, key) == 0)
			return &s->keys[i];
	return NULL;
}

const struct config_key *config_find_flag(const struct config_schema *s, const char *flag)
{
	for (size_t i = 0; i < s->n_keys; i++)
		if (s->keys[i].flag && strcmp(s->keys[i].flag, flag) == 0)
			return &s->keys[i];
	return NULL;
}

int config_set(const struct config_schema *s, void *cfg, const char *key, const char *value,
	       char *why, size_t whylen)
{
	const struct config_key *k = config_find_key(s, key);
	char reason[REASON_MAX];
	int err;

	if (!k) {
		snprintf(why, whylen, "unknown key '%s'", key);
		return -EINVAL;
	}
	err = set_value(k, cfg, value, value ? strlen(value) : 0, reason, sizeof(reason));
	if (err)
		snprintf(why, whylen, "%s: %s", key, reason);
	return err;
}

/* ---- YAML ---- */

/* Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t rows[3][KEY_MAX + 1];
	size_t *pp = rows[0], *p = rows[1], *c = rows[2];

	if (la > KEY_MAX || lb > KEY_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		p[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t *t;

		c[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = p[j - 1] + cost;

			if (p[j] + 1 < v)
				v = p[j] + 1;
			if (c[j - 1] + 1 < v)
				v = c[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			c[j] = v;
		}
		t = pp;
		pp = p;
		p = c;
		c = t;
	}
	return p[lb];
}

static size_t count_dots(const char *s, size_t n)
{
	size_t d = 0;

	for (size_t i = 0; i < n; i++)
		d += s[i] == '.';
	return d;
}

/* The known key or section at the same depth closest to `path`, if within 2 edits. */
static bool suggest(const struct config_schema *s, const char *path, char *out, size_t outlen)
{
	size_t best = 3, depth = count_dots(path, strlen(path));
	char cand[KEY_MAX + 1];

	for (size_t i = 0; i < s->n_keys; i++) {
		const char *key = s->keys[i].key;
		size_t n = 0;

		/* each key and each of its sections ("batch" for "batch.max_records") */
		for (const char *p = key;; p++) {
			if (*p != '.' && *p != '\0')
				continue;
			n = (size_t)(p - key);
			if (n <= KEY_MAX && count_dots(key, n) == depth) {
				size_t d;

				memcpy(cand, key, n);
				cand[n] = '\0';
				d = edit_distance(path, cand);
				if (d < best) {
					best = d;
					snprintf(out, outlen, "%s", cand);
				}
			}
			if (!*p)
				break;
		}
	}
	return best <= 2;
}

/* True when some key lives under `path` ("batch" for "batch.max_records"). */
static bool is_section(const struct config_schema *s, const char *path)
{
	size_t n = strlen(path);

	for (size_t i = 0; i < s->n_keys; i++)
		if (strncmp(s->keys[i].key, path, n) == 0 && s->keys[i].key[n] == '.')
			return true;
	return false;
}

struct yaml_ctx {
	const struct config_schema *s;
	void *cfg;
	const char *path;
	yaml_document_t *doc;
	char *why;
	size_t whylen;
};

/* "<file>:<line>: <message>" into why; returns err. */
static int yerr(struct yaml_ctx *y, int err, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int yerr(struct yaml_ctx *y, int err, size_t line, const char *fmt, ...)
{
	char msg[REASON_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(y->why, y->whylen, "%s:%zu: %s", y->path, line, msg);
	return err;
}

static size_t line_of(const yaml_node_t *n)
{
	return n->start_mark.line + 1; /* libyaml counts from 0 */
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* A plain scalar that YAML 1.2's core schema reads as null: "", "~", "null". */
static bool is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static int set_scalar(struct yaml_ctx *y, const struct config_key *k, const yaml_node_t *v)
{
	char reason[REASON_MAX];
	int err;

	err = set_value(k, y->cfg, is_null(v) ? NULL : (const char *)v->data.scalar.value,
			v->data.scalar.length, reason, sizeof(reason));
	if (err)
		return yerr(y, err, line_of(v), "%s: %s", k->key, reason);
	return 0;
}

static int set_sequence(struct yaml_ctx *y, const struct config_key *k, const yaml_node_t *seq)
{
	union {
		struct config_ports ports;
		struct config_cidrs cidrs;
	} tmp;
	char reason[REASON_MAX], d[128];
	int err;

	memset(&tmp, 0, sizeof(tmp));
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *n = yaml_document_get_node(y->doc, *it);

		if (!n || n->type != YAML_SCALAR_NODE)
			return yerr(y, -EINVAL, n ? line_of(n) : line_of(seq),
				    "%s: expected %s, got %s in the list", k->key,
				    describe(k, d, sizeof(d)), n ? node_kind(n) : "nothing");
		err = list_add(k, &tmp, is_null(n) ? NULL : (const char *)n->data.scalar.value,
			       n->data.scalar.length, reason, sizeof(reason));
		if (err)
			return yerr(y, err, line_of(n), "%s: %s", k->key, reason);
	}
	memcpy(field(k, y->cfg), &tmp,
	       k->type == CONFIG_PORT_LIST ? sizeof(tmp.ports) : sizeof(tmp.cidrs));
	return 0;
}

/* One mapping at `prefix` ("" at the top, else "batch."): every pair a known key or section. */
static int load_mapping(struct yaml_ctx *y, const yaml_node_t *map, const char *prefix)
{
	size_t plen = strlen(prefix);

	for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(y->doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(y->doc, pair->value);
		char path[KEY_MAX + 1], hint[KEY_MAX + 1], d[128], g[GOT_MAX * 4 + 8];
		const struct config_key *k;
		const char *name;
		size_t nlen;
		int err;

		if (!kn || !vn)
			return yerr(y, -EINVAL, line_of(map), "malformed YAML document");
		if (kn->type != YAML_SCALAR_NODE)
			return yerr(y, -EINVAL, line_of(kn), "%.*s%skeys must be scalars, got %s",
				    (int)(plen ? plen - 1 : 0), prefix, plen ? ": " : "",
				    node_kind(kn));
		name = (const char *)kn->data.scalar.value;
		nlen = kn->data.scalar.length;
		if (plen + nlen > KEY_MAX || memchr(name, '\0', nlen))
			return yerr(y, -EINVAL, line_of(kn), "unknown key '%s%s'", prefix,
				    got_format(name, nlen, g, sizeof(g)));
		snprintf(path, sizeof(path), "%s%s", prefix, name);
		if (memchr(name, '.', nlen))
			return yerr(y, -EINVAL, line_of(kn),
				    "unknown key '%s' (write dotted keys as nested mappings)",
				    got_format(path, strlen(path), g, sizeof(g)));
		/* every earlier pair was a known key (else we stopped): this loop stays short */
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pair; q++) {
			yaml_node_t *qk = yaml_document_get_node(y->doc, q->key);

			if (qk && qk->data.scalar.length == nlen &&
			    memcmp(qk->data.scalar.value, name, nlen) == 0)
				return yerr(y, -EINVAL, line_of(kn),
					    "%s: duplicate key (first at line %zu)", path,
					    line_of(qk));
		}

		k = config_find_key(y->s, path);
		if (k && is_list(k)) {
			if (vn->type == YAML_SEQUENCE_NODE)
				err = set_sequence(y, k, vn);
			else
				err =
				    yerr(y, -EINVAL, line_of(kn), "%s: expected %s, got %s", path,
					 describe(k, d, sizeof(d)),
					 vn->type == YAML_SCALAR_NODE
					     ? got_format(is_null(vn)
							      ? NULL
							      : (const char *)vn->data.scalar.value,
							  vn->data.scalar.length, g, sizeof(g))
					     : node_kind(vn));
		} else if (k) {
			if (vn->type == YAML_SCALAR_NODE)
				err = set_scalar(y, k, vn);
			else
				err = yerr(y, -EINVAL, line_of(kn), "%s: expected %s, got %s", path,
					   describe(k, d, sizeof(d)), node_kind(vn));
		} else if (is_section(y->s, path)) {
			if (vn->type == YAML_MAPPING_NODE) {
				char sub[KEY_MAX + 2];

				snprintf(sub, sizeof(sub), "%s.", path);
				err = load_mapping(y, vn, sub);
			} else if (is_null(vn)) {
				err = 0; /* "batch:" with every key under it commented out */
			} else {
				err = yerr(y, -EINVAL, line_of(kn),
					   "%s: expected a mapping, got %s", path, node_kind(vn));
			}
		} else if (suggest(y->s, path, hint, sizeof(hint))) {
			err = yerr(y, -EINVAL, line_of(kn), "unknown key '%s' (did you mean '%s'?)",
				   got_format(path, strlen(path), g, sizeof(g)), hint);
		} else {
			err = yerr(y, -EINVAL, line_of(kn), "unknown key '%s'",
				   got_format(path, strlen(path), g, sizeof(g)));
		}
		if (err)
			return err;
	}
	return 0;
}

/* libyaml's failure as "<file>:<line>: YAML syntax error: <problem>" (or ENOMEM). */
static int syntax_error(struct yaml_ctx *y, const yaml_parser_t *p, const char *buf, size_t n)
{
	size_t line = p->problem_mark.line + 1;

	if (p->error == YAML_MEMORY_ERROR) {
		snprintf(y->why, y->whylen, "%s: out of memory parsing YAML", y->path);
		return -ENOMEM;
	}
	if (p->error == YAML_READER_ERROR) {
		/* the reader reports a byte offset, not a mark */
		line = 1;
		for (size_t i = 0; i < p->problem_offset && i < n; i++)
			line += buf[i] == '\n';
	}
	return yerr(y, -EINVAL, line, "YAML syntax error: %s",
		    p->problem ? p->problem : "unknown error");
}

/*
 * An empty document (no bytes, only comments, "---" or "null" alone) is
 * refused: it is what a file truncated while being written, or a template
 * that rendered nothing, looks like, and reading it as "every key at its
 * default" silently turned a paused capture back on and dropped the
 * filters.  Every key at its default is written explicitly: {}.
 */
static int empty_document(const char *path, char *why, size_t whylen)
{
	snprintf(why, whylen,
		 "%s: no settings in the file (it is empty or only comments): refused; write {} "
		 "to run on the defaults",
		 path);
	return -EINVAL;
}

int config_load_yaml(const struct config_schema *s, void *cfg, const char *path, char *why,
		     size_t whylen)
{
	struct yaml_ctx y = { .s = s, .cfg = cfg, .path = path, .why = why, .whylen = whylen };
	yaml_document_t doc, extra;
	bool have_doc = false;
	yaml_parser_t parser;
	yaml_node_t *root;
	char *buf = NULL;
	size_t n = 0;
	int err;

	err = file_read(path, CONFIG_FILE_MAX, &buf, &n, why, whylen);
	if (err)
		return err;
	if (!yaml_parser_initialize(&parser)) {
		free(buf);
		snprintf(why, whylen, "%s: out of memory", path);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, n);
	if (!yaml_parser_load(&parser, &doc)) {
		err = syntax_error(&y, &parser, buf, n);
		goto cleanup;
	}
	have_doc = true;
	y.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		/* libyaml's end of stream: nothing but comments, if anything */
		err = empty_document(path, why, whylen);
		goto cleanup;
	}

	/* one document per file: a second one would silently be ignored */
	if (!yaml_parser_load(&parser, &extra)) {
		err = syntax_error(&y, &parser, buf, n);
		goto cleanup;
	}
	if (yaml_document_get_root_node(&extra)) {
		err = yerr(&y, -EINVAL, line_of(yaml_document_get_root_node(&extra)),
			   "more than one YAML document");
		yaml_document_delete(&extra);
		goto cleanup;
	}
	yaml_document_delete(&extra);

	if (is_null(root)) /* "---" or "null" alone */
		err = empty_document(path, why, whylen);
	else if (root->type == YAML_MAPPING_NODE)
		err = load_mapping(&y, root, "");
	else
		err = yerr(&y, -EINVAL, line_of(root),
			   "expected a mapping of keys at the top level, got %s", node_kind(root));
cleanup:
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	free(buf);
	return err;
}

/* ---- whole configurations ---- */

int config_copy(const struct config_schema *s, void *dst, const void *src)
{
	memcpy(dst, src, s->size);
	/* first drop the borrowed pointers, so a failure below frees only our copies */
	for (size_t i = 0; i < s->n_keys; i++)
		if (owns_string(&s->keys[i]))
			*(char **)field(&s->keys[i], dst) = NULL;
	for (size_t i = 0; i < s->n_keys; i++) {
		const struct config_key *k = &s->keys[i];
		const char *v;

		if (!owns_string(k))
			continue;
		v = *(char *const *)cfield(k, src);
		if (!v)
			continue;
		*(char **)field(k, dst) = strdup(v);
		if (!*(char **)field(k, dst)) {
			config_free(s, dst);
			memset(dst, 0, s->size);
			return -ENOMEM;
		}
	}
	return 0;
}

void config_free(const struct config_schema *s, void *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < s->n_keys; i++) {
		if (!owns_string(&s->keys[i]))
			continue;
		free(*(char **)field(&s->keys[i], cfg));
		*(char **)field(&s->keys[i], cfg) = NULL;
	}
}

int config_build(const struct config_schema *s, void *out, const char *path,
		 const char *const *flags, char *why, size_t whylen)
{
	int err;

	if (whylen)
		why[0] = '\0';
	err = config_copy(s, out, s->defaults);
	if (err) {
		snprintf(why, whylen, "out of memory");
		return err;
	}
	if (path) {
		err = config_load_yaml(s, out, path, why, whylen);
		if (err)
			goto fail;
	}
	for (size_t i = 0; flags && flags[i]; i += 2) {
		const struct config_key *k = config_find_key(s, flags[i]);
		char reason[REASON_MAX];

		if (!k)
			k = config_find_flag(s, flags[i]);
		if (!k) {
			snprintf(why, whylen, "unknown option '%s'", flags[i]);
			err = -EINVAL;
			goto fail;
		}
		err = set_value(k, out, flags[i + 1], flags[i + 1] ? strlen(flags[i + 1]) : 0,
				reason, sizeof(reason));
		if (err) {
			if (k->flag)
				snprintf(why, whylen, "--%s: %s", k->flag, reason);
			else
				snprintf(why, whylen, "%s: %s", k->key, reason);
			goto fail;
		}
	}
	return 0;
fail:
	config_free(s, out);
	memset(out, 0, s->size);
	return err;
}

bool config_differs(const struct config_schema *s, const struct config_key *k, const void *a,
		    const void *b)
{
	const void *fa = cfield(k, a), *fb = cfield(k, b);

	(void)s;
	switch (k->type) {
	case CONFIG_BOOL:
		return *(const bool *)fa != *(const bool *)fb;
	case CONFIG_U32:
		return *(const uint32_t *)fa != *(const uint32_t *)fb;
	case CONFIG_BYTES:
	case CONFIG_DURATION:
		return *(const uint64_t *)fa != *(const uint64_t *)fb;
	case CONFIG_LOG_LEVEL:
		return *(const enum log_level *)fa != *(const enum log_level *)fb;
	case CONFIG_STRING:
	case CONFIG_ADDR_PORT: {
		const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;

		if (!sa || !sb)
			return sa != sb;
		return strcmp(sa, sb) != 0;
	}
	case CONFIG_PORT_LIST: {
		const struct config_ports *pa = fa, *pb = fb;

		return pa->n != pb->n || memcmp(pa->port, pb->port, pa->n * sizeof(pa->port[0]));
	}
	case CONFIG_CIDR_LIST: {
		const struct config_cidrs *ca = fa, *cb = fb;

		return ca->n != cb->n || memcmp(ca->cidr, cb->cidr, ca->n * sizeof(ca->cidr[0]));
	}
	}
	return false;
}

/* The size of a key's field, for the types copied by value. */
static size_t value_size(const struct config_key *k)
{
	switch (k->type) {
	case CONFIG_BOOL:
		return sizeof(bool);
	case CONFIG_U32:
		return sizeof(uint32_t);
	case CONFIG_BYTES:
	case CONFIG_DURATION:
		return sizeof(uint64_t);
	case CONFIG_LOG_LEVEL:
		return sizeof(enum log_level);
	case CONFIG_PORT_LIST:
		return sizeof(struct config_ports);
	case CONFIG_CIDR_LIST:
		return sizeof(struct config_cidrs);
	default:
		return 0;
	}
}

int config_merge_live(const struct config_schema *s, void *running, const void *loaded,
		      char *restart, size_t restartlen)
{
	size_t used = 0;
	int applied = 0;

	if (restartlen)
		restart[0] = '\0';
	for (size_t i = 0; i < s->n_keys; i++) {
		const struct config_key *k = &s->keys[i];

		if (!config_differs(s, k, running, loaded))
			continue;
		if (!k->live) {
			if (used + 1 < restartlen) {
				int w = snprintf(restart + used, restartlen - used, "%s%s",
						 used ? ", " : "", k->key);

				if (w > 0)
					used += (size_t)w < restartlen - used
						    ? (size_t)w
						    : restartlen - used - 1;
			}
			continue;
		}
		if (owns_string(k)) {
			const char *v = *(char *const *)cfield(k, loaded);
			char *dup = NULL;

			if (v && !(dup = strdup(v)))
				return -ENOMEM;
			free(*(char **)field(k, running));
			*(char **)field(k, running) = dup;
		} else {
			memcpy(field(k, running), cfield(k, loaded), value_size(k));
		}
		applied++;
	}
	return applied;
}

/* ---- output ---- */

static void value_json(const struct config_key *k, const void *cfg, const char *name,
		       struct jsonw *jw)
{
	const void *f = cfield(k, cfg);
	char buf[64];

	switch (k->type) {
	case CONFIG_BOOL:
		jsonw__kv_bool(jw, name, *(const bool *)f);
		break;
	case CONFIG_U32:
		jsonw__kv_u64(jw, name, *(const uint32_t *)f);
		break;
	case CONFIG_BYTES:
		jsonw__kv_u64(jw, name, *(const uint64_t *)f);
		break;
	case CONFIG_DURATION:
		jsonw__kv_str(jw, name, duration_format(*(const uint64_t *)f, buf, sizeof(buf)));
		break;
	case CONFIG_LOG_LEVEL:
		jsonw__kv_str(jw, name, level_name(*(const enum log_level *)f));
		break;
	case CONFIG_STRING:
	case CONFIG_ADDR_PORT:
		if (*(char *const *)f)
			jsonw__kv_str(jw, name, *(char *const *)f);
		else
			jsonw__kv_null(jw, name);
		break;
	case CONFIG_PORT_LIST: {
		const struct config_ports *p = f;

		jsonw__kv_arr_begin(jw, name);
		for (uint32_t i = 0; i < p->n && i < CONFIG_MAX_PORTS; i++)
			jsonw__arr_u64(jw, p->port[i]);
		jsonw__arr_end(jw);
		break;
	}
	case CONFIG_CIDR_LIST: {
		const struct config_cidrs *c = f;

		jsonw__kv_arr_begin(jw, name);
		for (uint32_t i = 0; i < c->n && i < CONFIG_MAX_CIDRS; i++)
			jsonw__arr_str(jw, ip_cidr_format(&c->cidr[i], buf, sizeof(buf)));
		jsonw__arr_end(jw);
		break;
	}
	}
}

/*
 * The members under the first plen bytes of `prefix` (a key's own text, so
 * "batch." is passed as ("batch.max_records", 6)), in table order, each
 * section once even when its keys are not adjacent in the table.
 */
static void level_json(const struct config_schema *s, const void *cfg, struct jsonw *jw,
		       const char *prefix, size_t plen)
{
	for (size_t i = 0; i < s->n_keys; i++) {
		const struct config_key *k = &s->keys[i];
		const char *rest = k->key + plen, *dot;
		char name[KEY_MAX + 1];
		size_t nlen;
		bool seen = false;

		if (strncmp(k->key, prefix, plen) != 0)
			continue;
		dot = strchr(rest, '.');
		nlen = dot ? (size_t)(dot - rest) : strlen(rest);
		for (size_t j = 0; j < i && !seen; j++)
			seen = strncmp(s->keys[j].key, k->key, plen + nlen) == 0 &&
			       (s->keys[j].key[plen + nlen] == '.' ||
				s->keys[j].key[plen + nlen] == '\0');
		if (seen || nlen > KEY_MAX)
			continue;
		memcpy(name, rest, nlen);
		name[nlen] = '\0';
		if (!dot) {
			value_json(k, cfg, name, jw);
			continue;
		}
		jsonw__kv_obj_begin(jw, name);
		level_json(s, cfg, jw, k->key, plen + nlen + 1);
		jsonw__obj_end(jw);
	}
}

void config_to_json(const struct config_schema *s, const void *cfg, struct jsonw *jw)
{
	jsonw__obj_begin(jw);
	level_json(s, cfg, jw, "", 0);
	jsonw__obj_end(jw);
}

static const char *type_name(enum config_type t)
{
	switch (t) {
	case CONFIG_BOOL:
		return "bool";
	case CONFIG_U32:
		return "integer";
	case CONFIG_BYTES:
		return "bytes";
	case CONFIG_DURATION:
		return "duration";
	case CONFIG_STRING:
		return "string";
	case CONFIG_LOG_LEVEL:
		return "log level";
	case CONFIG_ADDR_PORT:
		return "address:port";
	case CONFIG_PORT_LIST:
		return "port list";
	case CONFIG_CIDR_LIST:
		return "CIDR list";
	}
	return "?";
}

/* A value as text for the docs table ("10s", "16MiB", "22, 80", "(unset)"). */
static void value_text(const struct config_key *k, const void *cfg, char *buf, size_t len)
{
	const void *f = cfield(k, cfg);
	char c[64];
	size_t o = 0;

	switch (k->type) {
	case CONFIG_BOOL:
		snprintf(buf, len, "%s", *(const bool *)f ? "true" : "false");
		break;
	case CONFIG_U32:
		snprintf(buf, len, "%u", *(const uint32_t *)f);
		break;
	case CONFIG_BYTES:
		bytes_format(*(const uint64_t *)f, buf, len);
		break;
	case CONFIG_DURATION:
		duration_format(*(const uint64_t *)f, buf, len);
		break;
	case CONFIG_LOG_LEVEL:
		snprintf(buf, len, "%s", level_name(*(const enum log_level *)f));
		break;
	case CONFIG_STRING:
	case CONFIG_ADDR_PORT:
		snprintf(buf, len, "%s", *(char *const *)f ? *(char *const *)f : "(unset)");
		break;
	case CONFIG_PORT_LIST:
	case CONFIG_CIDR_LIST: {
		const struct config_ports *p = f;
		const struct config_cidrs *l = f;
		uint32_t n = k->type == CONFIG_PORT_LIST ? p->n : l->n;
		uint32_t max = k->type == CONFIG_PORT_LIST ? CONFIG_MAX_PORTS : CONFIG_MAX_CIDRS;

		snprintf(buf, len, "(none)");
		for (uint32_t i = 0; i < n && i < max && o + 1 < len; i++) {
			if (k->type == CONFIG_PORT_LIST)
				snprintf(c, sizeof(c), "%u", p->port[i]);
			else
				ip_cidr_format(&l->cidr[i], c, sizeof(c));
			int w = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", c);

			if (w < 0)
				break;
			o += (size_t)w < len - o ? (size_t)w : len - o - 1;
		}
		break;
	}
	}
}

static void range_text(const struct config_key *k, char *buf, size_t len)
{
	char a[32], b[32];

	switch (k->type) {
	case CONFIG_BOOL:
		snprintf(buf, len, "true, false");
		break;
	case CONFIG_U32:
		snprintf(buf, len, "%llu to %llu", (unsigned long long)k->min,
			 (unsigned long long)(k->max > UINT32_MAX ? UINT32_MAX : k->max));
		break;
	case CONFIG_BYTES:
		snprintf(buf, len, "%s to %s", bytes_format(k->min, a, sizeof(a)),
			 bytes_format(k->max, b, sizeof(b)));
		break;
	case CONFIG_DURATION:
		snprintf(buf, len, "%s to %s", duration_format(k->min, a, sizeof(a)),
			 duration_format(k->max, b, sizeof(b)));
		break;
	case CONFIG_STRING:
		if (k->min && k->max)
			snprintf(buf, len, "1 to %llu bytes, not empty",
				 (unsigned long long)k->max);
		else if (k->min)
			snprintf(buf, len, "not empty");
		else if (k->max)
			snprintf(buf, len, "at most %llu bytes", (unsigned long long)k->max);
		else
			snprintf(buf, len, " ");
		break;
	case CONFIG_LOG_LEVEL:
		snprintf(buf, len, "warn, info, debug");
		break;
	case CONFIG_ADDR_PORT:
		snprintf(buf, len, "port 0 to 65535");
		break;
	case CONFIG_PORT_LIST:
		snprintf(buf, len, "1 to 65535, at most %d", CONFIG_MAX_PORTS);
		break;
	case CONFIG_CIDR_LIST:
		snprintf(buf, len, "at most %d", CONFIG_MAX_CIDRS);
		break;
	}
}

/* Table cell text: '|' would end the cell, a newline the row. */
static void md_cell(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n')
			fputc(' ', out);
		else
			fputc(*s, out);
	}
}

void config_print_markdown(const struct config_schema *s, FILE *out)
{
	fputs("| key | flag | type | default | range | live | help |\n", out);
	fputs("|-----|------|------|---------|-------|------|------|\n", out);
	for (size_t i = 0; i < s->n_keys; i++) {
		const struct config_key *k = &s->keys[i];
		char def[512], range[96];

		value_text(k, s->defaults, def, sizeof(def));
		range_text(k, range, sizeof(range));
		fputs("| `", out);
		md_cell(out, k->key);
		if (k->flag)
			fprintf(out, "` | `--%s` | %s | `", k->flag, type_name(k->type));
		else
			fprintf(out, "` | (file only) | %s | `", type_name(k->type));
		md_cell(out, def);
		fputs("` | ", out);
		md_cell(out, range);
		fprintf(out, " | %s | ", k->live ? "yes" : "restart");
		md_cell(out, k->help ? k->help : "");
		fputs(" |\n", out);
	}
}
