// SPDX-License-Identifier: BSD-2-Clause
/* pf-http: a small real HTTP workload (libmicrohttpd server, libcurl client) for the demo. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return -ERANGE;
	*out = (unsigned long)v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: pf-http serve --port P [--addr 127.0.0.1|::1] [--body BYTES]\n"
		   "       pf-http get URL [--count N] [--interval-ms MS]\n"
		   "serve answers GET with a body of BYTES; get makes N requests, each on a\n"
		   "new connection, and prints one line of totals.\n");
}

static char *body;
static size_t body_len;

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_size, void **req_cls)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)cls;
	(void)url;
	(void)version;
	(void)upload_data;
	(void)upload_size;
	if (!*req_cls) { /* first call for this request: headers only */
		*req_cls = conn;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/plain");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static int serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "addr", required_argument, NULL, 'a' },
		{ "body", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	const char *addr = "127.0.0.1";
	unsigned long port = 0, blen = 1024;
	struct sockaddr_storage ss = { 0 };
	struct MHD_Daemon *d;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'p' && !parse_uint(optarg, 65535, &port))
			continue;
		if (c == 'a') {
			addr = optarg;
			continue;
		}
		if (c == 'b' && !parse_uint(optarg, 64u << 20, &blen))
			continue;
		fprintf(stderr, "pf-http serve: bad option or value (see --help)\n");
		return EXIT_USAGE;
	}
	if (!port) {
		fprintf(stderr, "pf-http serve: --port is required\n");
		return EXIT_USAGE;
	}
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			goto bad_addr;
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			goto bad_addr;
	}
	body_len = blen;
	body = malloc(body_len ? body_len : 1);
	if (!body)
		return 1;
	memset(body, 'x', body_len);
	d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR,
			     &ss, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "pf-http serve: cannot listen on %s:%lu\n", addr, port);
		free(body);
		return 1;
	}
	fprintf(stderr, "pf-http: serving on %s port %lu\n", addr, port);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop)
		pause();
	MHD_stop_daemon(d);
	free(body);
	return 0;
bad_addr:
	fprintf(stderr, "pf-http serve: --addr %s: not an IP address\n", addr);
	return EXIT_USAGE;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	size_t *total = userdata;

	(void)ptr;
	*total += size * nmemb;
	return size * nmemb;
}

static int get(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long count = 1, interval_ms = 0, ok = 0, failed = 0;
	size_t bytes = 0;
	const char *url;
	CURL *curl;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n' && !parse_uint(optarg, 10000000, &count))
			continue;
		if (c == 'i' && !parse_uint(optarg, 60000, &interval_ms))
			continue;
		fprintf(stderr, "pf-http get: bad option or value (see --help)\n");
		return EXIT_USAGE;
	}
	if (optind >= argc) {
		fprintf(stderr, "pf-http get: URL required\n");
		return EXIT_USAGE;
	}
	url = argv[optind];
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return 1;
	curl = curl_easy_init();
	if (!curl)
		return 1;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &bytes);
	curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L); /* one connection per request */
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	signal(SIGTERM, on_signal);
	for (unsigned long i = 0; i < count && !stop; i++) {
		CURLcode rc = curl_easy_perform(curl);

		if (rc == CURLE_OK)
			ok++;
		else
			failed++;
		if (interval_ms && i + 1 < count) {
			struct timespec ts = { (time_t)(interval_ms / 1000),
					       (long)(interval_ms % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	printf("pf-http get %s: %lu ok, %lu failed, %zu body bytes\n", url, ok, failed, bytes);
	curl_easy_cleanup(curl);
	curl_global_cleanup();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (strcmp(argv[1], "serve") == 0)
		return serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "get") == 0)
		return get(argc - 1, argv + 1);
	fprintf(stderr, "pf-http: unknown command '%s' (serve or get)\n", argv[1]);
	return EXIT_USAGE;
}
