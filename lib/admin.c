// SPDX-License-Identifier: BSD-2-Clause
/* The admin HTTP endpoint on libmicrohttpd, run from the owner's epoll loop. */
#define _GNU_SOURCE
#include "admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cli.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"

/*
 * A scraper gets at most ADMIN_MAX_CONNECTIONS sockets and
 * ADMIN_IDLE_TIMEOUT_S of silence per connection: a client that connects
 * and says nothing (or reads nothing) is closed, and cannot hold the port.
 */
#define ADMIN_MAX_CONNECTIONS 64
#define ADMIN_IDLE_TIMEOUT_S  10

#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CT_TEXT	   "text/plain; charset=utf-8"
#define CT_JSON	   "application/json"

struct admin {
	struct MHD_Daemon *daemon;
	struct admin_callbacks cb;
	struct metrics_writer *mw; /* reused by every scrape: one thread serves them all */
	struct jsonw *jw;
	int epoll_fd;
	unsigned short port;
	bool warned_metrics; /* the collect callback's error was logged once */
	/* while starting: MHD's last message and the errno it was written with */
	bool starting;
	int start_errno;
	char start_msg[256];
};

/*
 * MHD's messages.  While starting they are kept for `why` (the caller
 * reports start failures); afterwards they are about single clients
 * (resets, timeouts, malformed requests), so debug only.
 */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct admin *a = cls;
	int saved = errno; /* MHD logs right after the failing call */
	size_t n;

	if (a->starting) {
		a->start_errno = saved;
		vsnprintf(a->start_msg, sizeof(a->start_msg), fmt, ap);
		n = strcspn(a->start_msg, "\r\n");
		a->start_msg[n] = '\0';
	} else if (log_level_current >= LOG_LEVEL_DEBUG) {
		char line[256];

		vsnprintf(line, sizeof(line), fmt, ap);
		pr_debug("admin: %s", line);
	}
	errno = saved;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *type,
			     const char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret = MHD_NO;

	/* a copy: the writers' buffers are reused by the next request */
	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES)
		goto cleanup;
	/* RFC 9110 section 15.5.6: a 405 lists the methods that are allowed */
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES)
		goto cleanup;
	ret = MHD_queue_response(conn, status, resp);
cleanup:
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int status,
				  const char *text)
{
	return reply(conn, status, CT_TEXT, text, strlen(text));
}

static enum MHD_Result serve_metrics(struct admin *a, struct MHD_Connection *conn)
{
	const char *text;
	char msg[128];
	size_t len;
	int err;

	metrics_writer__reset(a->mw);
	if (a->cb.metrics)
		a->cb.metrics(a->cb.ctx, a->mw);
	err = metrics_writer__error(a->mw);
	if (err) {
		/* never a partial exposition: Prometheus would keep what parsed */
		if (!a->warned_metrics)
			pr_warn("admin: /metrics: the exposition could not be written: %s",
				strerror(-err));
		a->warned_metrics = true;
		snprintf(msg, sizeof(msg), "metrics: the exposition could not be written: %s\n",
			 strerror(-err));
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
	}
	text = metrics_writer__text(a->mw, &len);
	return reply(conn, MHD_HTTP_OK, CT_METRICS, text, len);
}

static enum MHD_Result serve_ready(struct admin *a, struct MHD_Connection *conn)
{
	char why[256] = "", body[sizeof(why) + 1];

	if (!a->cb.ready || a->cb.ready(a->cb.ctx, why, sizeof(why)))
		return reply_text(conn, MHD_HTTP_OK, "ready\n");
	why[sizeof(why) - 1] = '\0';
	why[strcspn(why, "\r\n")] = '\0'; /* one line, whatever the callback wrote */
	snprintf(body, sizeof(body), "%s\n", why[0] ? why : "not ready");
	return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static enum MHD_Result serve_config(struct admin *a, struct MHD_Connection *conn)
{
	const char *data;
	size_t len;

	if (!a->cb.config)
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	jsonw__reset(a->jw);
	a->cb.config(a->cb.ctx, a->jw);
	jsonw__raw_char(a->jw, '\n');
	if (jsonw__error(a->jw))
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "config: out of memory writing the JSON\n");
	data = jsonw__data(a->jw, &len);
	return reply(conn, MHD_HTTP_OK, CT_JSON, data, len);
}

struct admin_args {
	struct MHD_Connection *conn;
};

const char *admin_arg(const struct admin_args *args, const char *name)
{
	return MHD_lookup_connection_value(args->conn, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result serve_json(struct admin *a, struct MHD_Connection *conn, const char *url)
{
	struct admin_args args = { .conn = conn };
	const char *data;
	size_t len;
	int status;

	jsonw__reset(a->jw);
	status = a->cb.json(a->cb.ctx, url, &args, a->jw);
	if (status == MHD_HTTP_NOT_FOUND)
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	jsonw__raw_char(a->jw, '\n');
	if (jsonw__error(a->jw))
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "out of memory writing the JSON\n");
	data = jsonw__data(a->jw, &len);
	return reply(conn, (unsigned int)status, CT_JSON, data, len);
}

/*
 * GET and HEAD are answered on the second call, once MHD has the whole
 * request: an answer queued on the first call, before MHD knows there is
 * no body, makes it close the connection, and scrapers keep theirs open.
 * Other methods are answered at once, and MHD closes the connection rather
 * than read a body nobody wants.  HEAD is GET without the body, which MHD
 * leaves out itself (keeping Content-Length).
 */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_cls)
{
	static int seen; /* the marker for "first call done" */
	struct admin *a = cls;

	(void)version;
	(void)upload_data;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (!*req_cls) {
		*req_cls = &seen;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a GET with a body: ignored */
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(a, conn);
	if (strcmp(url, "/healthz") == 0)
		return reply_text(conn, MHD_HTTP_OK, "ok\n");
	if (strcmp(url, "/readyz") == 0)
		return serve_ready(a, conn);
	if (strcmp(url, "/config") == 0)
		return serve_config(a, conn);
	if (a->cb.json)
		return serve_json(a, conn, url);
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/*
 * ":PORT" (every address: *any set), "IPv4:PORT" or "[IPv6]:PORT"; no
 * names are resolved.  0 or -EINVAL.
 */
static int parse_addr(const char *s, struct sockaddr_storage *ss, bool *any)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	const char *colon, *host = s;
	char buf[INET6_ADDRSTRLEN];
	size_t host_len;
	uint32_t port;

	memset(ss, 0, sizeof(*ss));
	*any = false;
	colon = strrchr(s, ':');
	if (!colon || cli_parse_u32(colon + 1, 0, 65535, &port))
		return -EINVAL;
	host_len = (size_t)(colon - s);
	if (s[0] == '[') {
		if (host_len < 2 || s[host_len - 1] != ']')
			return -EINVAL;
		host++;
		host_len -= 2;
	}
	if (host_len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, host, host_len);
	buf[host_len] = '\0';

	if (host_len == 0 && s[0] != '[') {
		*any = true;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons((uint16_t)port);
	} else if (s[0] == '[') {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
			return -EINVAL;
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, buf, &sin->sin_addr) != 1)
			return -EINVAL;
	}
	return 0;
}

/*
 * Why MHD did not start, as -errno: the errno its last message was logged
 * with, if the message carries that errno's text (else it may be stale),
 * or -EIO.  The message itself is a poorer `why`: it names the port
 * argument, which is 0 here (the address goes in MHD_OPTION_SOCK_ADDR).
 */
static int start_errno(const struct admin *a)
{
	if (a->start_errno && strstr(a->start_msg, strerror(a->start_errno)))
		return -a->start_errno;
	return -EIO;
}

/* Whether the kernel has IPv6 at all (it may be built without, or the module not loaded). */
static bool have_ipv6(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

struct admin *admin__new(const char *addr, const struct admin_callbacks *cb, char *why,
			 size_t whylen)
{
	struct sockaddr_storage ss;
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	struct admin *a = NULL;
	const char *reason;
	char dummy[1];
	bool any;
	int err;

	if (!why) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	if (!addr || parse_addr(addr, &ss, &any)) {
		snprintf(why, whylen,
			 "admin: bad address \"%s\" (want IPv4:PORT, [IPv6]:PORT or :PORT)",
			 addr ? addr : "(null)");
		errno = EINVAL;
		return NULL;
	}
	if (any && !have_ipv6()) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		in_port_t port = ((struct sockaddr_in6 *)&ss)->sin6_port;

		memset(&ss, 0, sizeof(ss));
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = port;
	}
	/* MHD takes the sockaddr's size from this flag, not from the family */
	if (ss.ss_family == AF_INET6)
		flags |= any ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;

	a = calloc(1, sizeof(*a));
	if (!a) {
		err = -ENOMEM;
		snprintf(why, whylen, "admin: out of memory");
		goto cleanup;
	}
	if (cb)
		a->cb = *cb;
	a->mw = metrics_writer__new();
	a->jw = jsonw__new();
	if (!a->mw || !a->jw) {
		err = -ENOMEM;
		snprintf(why, whylen, "admin: out of memory");
		goto cleanup;
	}

	a->starting = true;
	/* the logger first, so that messages about the options that follow reach it */
	a->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, handle, a, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a,
	    MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)ADMIN_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)ADMIN_IDLE_TIMEOUT_S, MHD_OPTION_END);
	a->starting = false;
	if (!a->daemon) {
		err = start_errno(a);
		reason = err != -EIO ? strerror(-err) : a->start_msg;
		snprintf(why, whylen, "admin: cannot listen on %s: %s", addr,
			 reason[0] ? reason : "libmicrohttpd could not start");
		goto cleanup;
	}

	info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || info->epoll_fd < 0) {
		err = -EIO;
		snprintf(why, whylen, "admin: %s: libmicrohttpd has no epoll fd", addr);
		goto cleanup;
	}
	a->epoll_fd = info->epoll_fd;
	info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (!info) {
		err = -EIO;
		snprintf(why, whylen, "admin: %s: libmicrohttpd does not report its port", addr);
		goto cleanup;
	}
	a->port = info->port;
	return a;

cleanup:
	admin__free(a);
	errno = -err;
	return NULL;
}

void admin__free(struct admin *a)
{
	if (!a)
		return;
	if (a->daemon)
		MHD_stop_daemon(a->daemon);
	metrics_writer__free(a->mw);
	jsonw__free(a->jw);
	free(a);
}

int admin__fd(const struct admin *a)
{
	return a->epoll_fd;
}

int admin__timeout_ms(const struct admin *a)
{
	MHD_UNSIGNED_LONG_LONG t;

	if (MHD_get_timeout(a->daemon, &t) != MHD_YES)
		return -1;
	return t > INT_MAX ? INT_MAX : (int)t;
}

void admin__run(struct admin *a)
{
	/* MHD_NO only for a daemon started in another mode: not ours */
	MHD_run(a->daemon);
}

unsigned short admin__port(const struct admin *a)
{
	return a->port;
}
