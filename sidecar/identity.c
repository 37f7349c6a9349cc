// SPDX-License-Identifier: BSD-2-Clause
/* The exporting pod's identity: Downward API env vars and labels file. */
#include "identity.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABELS_MAX_BYTES (256 * 1024) /* Kubernetes caps all labels far below this */

static void set(char *dst, const char *src)
{
	snprintf(dst, IDENTITY_FIELD_MAX, "%s", src ? src : "");
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Appends code point cp as UTF-8; returns bytes written or 0 if it does not fit. */
static size_t put_utf8(char *o, size_t room, unsigned long cp)
{
	if (cp < 0x80 && room >= 1) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800 && room >= 2) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000 && room >= 3) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	if (cp < 0x110000 && room >= 4) {
		o[0] = (char)(0xf0 | (cp >> 18));
		o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[3] = (char)(0x80 | (cp & 0x3f));
		return 4;
	}
	return 0;
}

/*
 * Unquotes a Go double-quoted string starting at *p (on the opening quote),
 * as produced by strconv.Quote: \a \b \f \n \r \t \v \\ \" \xNN \uNNNN
 * \UNNNNNNNN.  Returns 0 and advances *p past the closing quote, or -EINVAL.
 */
static int go_unquote(const char **p, char *out, size_t len)
{
	const char *s = *p;
	size_t o = 0;

	if (*s++ != '"')
		return -EINVAL;
	while (*s && *s != '"' && *s != '\n') {
		unsigned long cp;
		int digits = 0;
		char c = *s++;

		if (c != '\\') {
			if (o + 1 < len)
				out[o++] = c;
			continue;
		}
		c = *s++;
		switch (c) {
		case 'a':
			cp = '\a';
			break;
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'v':
			cp = '\v';
			break;
		case '\\':
			cp = '\\';
			break;
		case '"':
			cp = '"';
			break;
		case 'x':
			digits = 2;
			break;
		case 'u':
			digits = 4;
			break;
		case 'U':
			digits = 8;
			break;
		default:
			return -EINVAL;
		}
		if (digits) {
			cp = 0;
			for (int i = 0; i < digits; i++) {
				int v = hexval(*s++);

				if (v < 0)
					return -EINVAL;
				cp = cp << 4 | (unsigned long)v;
			}
			if (c == 'x') { /* a raw byte, not a code point */
				if (o + 1 < len)
					out[o++] = (char)cp;
				continue;
			}
		}
		if (len > o + 1)
			o += put_utf8(out + o, len - o - 1, cp);
	}
	if (*s != '"')
		return -EINVAL;
	*p = s + 1;
	if (len)
		out[o] = '\0';
	return 0;
}

int identity_label(const char *text, const char *key, char *out, size_t len, int *bad_line)
{
	size_t klen = strlen(key);
	const char *line = text;
	int lineno = 0, found = 0;

	while (line && *line) {
		const char *eol = strchr(line, '\n'),
			   *eq = memchr(line, '=', eol ? (size_t)(eol - line) : strlen(line));
		char tmp[1024];

		lineno++;
		if (line[0] == '\n' || line[0] == '\0') {
			line = eol ? eol + 1 : NULL;
			continue;
		}
		if (!eq || eq == line) {
			*bad_line = lineno;
			return -EINVAL;
		}
		const char *v = eq + 1;

		if (go_unquote(&v, tmp, sizeof(tmp)) || (*v != '\n' && *v != '\0')) {
			*bad_line = lineno;
			return -EINVAL;
		}
		if ((size_t)(eq - line) == klen && strncmp(line, key, klen) == 0) {
			snprintf(out, len, "%s", tmp);
			found = 1;
		}
		line = eol ? eol + 1 : NULL;
	}
	return found;
}

static char *read_small_file(const char *path, int *err)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f) {
		*err = -errno;
		return NULL;
	}
	buf = malloc(LABELS_MAX_BYTES + 1);
	if (!buf) {
		fclose(f);
		*err = -ENOMEM;
		return NULL;
	}
	errno = 0;
	n = fread(buf, 1, LABELS_MAX_BYTES + 1, f);
	if (ferror(f)) { /* e.g. EISDIR: a read error is not an empty labels file */
		*err = errno ? -errno : -EIO;
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	if (n > LABELS_MAX_BYTES) {
		free(buf);
		*err = -EFBIG;
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* "web-7d9f8b6c5-x2x4z" with hash "7d9f8b6c5" -> "web"; "db-0" -> "db". */
static void workload_from(const char *pod, const char *hash, int strip_hash, char *out)
{
	char needle[IDENTITY_FIELD_MAX + 2];
	const char *at;

	out[0] = '\0';
	if (strip_hash) {
		snprintf(needle, sizeof(needle), "-%s-", hash);
		at = strstr(pod, needle);
		if (at && at > pod)
			snprintf(out, IDENTITY_FIELD_MAX, "%.*s", (int)(at - pod), pod);
		return;
	}
	at = strrchr(pod, '-');
	if (at && at > pod)
		snprintf(out, IDENTITY_FIELD_MAX, "%.*s", (int)(at - pod), pod);
}

int identity_load(struct identity *id, char *(*getenv_fn)(const char *), const char *labels_file,
		  char *why, size_t whylen)
{
	char val[IDENTITY_FIELD_MAX];
	char *text;
	int err = 0, bad = 0, r;

	memset(id, 0, sizeof(*id));
	set(id->pod, getenv_fn("POD_NAME"));
	set(id->namespace, getenv_fn("POD_NAMESPACE"));
	set(id->node, getenv_fn("NODE_NAME"));
	set(id->app, getenv_fn("POD_APP"));
	set(id->workload, getenv_fn("POD_WORKLOAD"));

	if (labels_file) {
		text = read_small_file(labels_file, &err);
		if (!text) {
			snprintf(why, whylen, "--labels-file %s: %s", labels_file, strerror(-err));
			return err;
		}
		if (!id->app[0]) {
			r = identity_label(text, "app.kubernetes.io/name", val, sizeof(val), &bad);
			if (r == 0)
				r = identity_label(text, "app", val, sizeof(val), &bad);
			if (r == 1)
				set(id->app, val);
		} else {
			r = identity_label(text, "app", val, sizeof(val),
					   &bad); /* validates the file */
		}
		if (r >= 0 && !id->workload[0] && id->pod[0]) {
			r = identity_label(text, "pod-template-hash", val, sizeof(val), &bad);
			if (r == 1) {
				workload_from(id->pod, val, 1, id->workload);
			} else if (r == 0) {
				r = identity_label(text, "controller-revision-hash", val,
						   sizeof(val), &bad);
				if (r == 1)
					workload_from(id->pod, val, 0, id->workload);
			}
		}
		free(text);
		if (r < 0) {
			snprintf(why, whylen, "--labels-file %s: line %d: expected key=\"value\"",
				 labels_file, bad);
			return r;
		}
	}
	id->view.app = id->app;
	id->view.namespace = id->namespace;
	id->view.pod = id->pod;
	id->view.node = id->node;
	id->view.workload = id->workload;
	return 0;
}
