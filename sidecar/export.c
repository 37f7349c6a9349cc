// SPDX-License-Identifier: BSD-2-Clause
/* Export of flow records to the collector: batches over one HTTP/2 connection. */
#define _GNU_SOURCE
#include "export.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch_queue.h"
#include "clock.h"
#include "h2client.h"
#include "log.h"
#include "report_header.h"

#define BACKOFF_BASE_NS	   (100ULL * 1000000)	/* first retry after 50-100 ms */
#define BACKOFF_CAP_NS	   (30ULL * 1000000000) /* never wait more than 30 s */
#define RETRY_AFTER_CAP_S  300			/* a collector cannot park us longer */
#define REQUEST_TIMEOUT_MS 30000L
#define CONNECT_TIMEOUT_MS 5000L
#define ERROR_BODY_MAX	   256

/* One in-flight POST: the batch it carries. */
struct request {
	struct exporter *x;
	struct batch *batch;
	uint64_t started_ns;
	bool busy;
};

struct exporter {
	struct export_opts o;
	/* adding thread */
	struct wire_encoder *enc;
	struct report_header *rh; /* sender, seq, heartbeat, capture drops */
	uint32_t logged_add_error;
	/* shared */
	struct batch_queue *q;
	struct h2c *h2;
	char url[1100];
	pthread_t thread;
	bool thread_started;
	volatile int stopping; /* __atomic */
	uint64_t deadline_ns;  /* set before stopping */
	/* export thread */
	struct request *reqs; /* max_in_flight slots */
	uint32_t n_active;
	uint64_t connect_retry_ns; /* no new connection attempt before this */
	uint32_t connect_failures;
	char *token;
	struct stat token_st;
	uint64_t token_checked_ns;
	char *identity; /* the projected token, for the podflow-identity header */
	struct stat identity_st;
	uint32_t consecutive_failures;
	int logged_status[600]; /* a 4xx is logged once per status */
	/* losses the export thread found, for the next header (pending_lock) */
	pthread_mutex_t pending_lock;
	uint64_t pending[WIRE_DROP__COUNT];
	int dropping;		/* in a buffer-full episode, __atomic */
	uint64_t hold_until_ns; /* CLOCK_MONOTONIC: batches sealed now are not sent before */
	uint64_t rng;
	/* stats, __atomic */
	struct export_stats st;
	struct metrics_histogram latency;
};

static uint64_t next_rand(struct exporter *x)
{
	/* xorshift64*: jitter only, no security role */
	x->rng ^= x->rng >> 12;
	x->rng ^= x->rng << 25;
	x->rng ^= x->rng >> 27;
	return x->rng * 0x2545f4914f6cdd1dULL;
}

#define STAT_ADD(x, field, n) __atomic_add_fetch(&(x)->st.field, (n), __ATOMIC_RELAXED)

/* ---- token ------------------------------------------------------------ */

/* Reads the token file: the first line, without surrounding whitespace. */
static int read_token(const char *path, char **out)
{
	char buf[4096];
	size_t n, start = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	n = strlen(buf);
	while (start < n && (buf[start] == ' ' || buf[start] == '\t'))
		start++;
	while (n > start && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	if (n == start)
		return -ENODATA;
	free(*out);
	*out = strdup(buf + start);
	return *out ? 0 : -ENOMEM;
}

/* The token file's directory is there (only the file may be absent with --token-optional). */
static bool token_dir_exists(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	struct stat st;

	if (!slash)
		return true; /* the working directory */
	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * The kubelet rotates a projected token by swapping a symlink, so the file
 * we stat() is a new inode after each rotation: compare inode, size and
 * mtime, at most once a second.
 */
/* `what` names the token in the log ("bearer token", "identity token"); `flag` its option. */
static void reload_one(const char *path, const char *flag, const char *what, char **tok,
		       struct stat *old)
{
	struct stat st;
	int err;

	if (!path || stat(path, &st))
		return; /* keep the last good token; the error shows as 401s if it matters */
	if (st.st_ino == old->st_ino && st.st_size == old->st_size &&
	    st.st_mtim.tv_sec == old->st_mtim.tv_sec && st.st_mtim.tv_nsec == old->st_mtim.tv_nsec)
		return;
	err = read_token(path, tok);
	if (err) {
		pr_warn("--%s %s: %s; keeping the previous token", flag, path, strerror(-err));
		return;
	}
	*old = st;
	pr_info("%s re-read from %s", what, path);
}

static void maybe_reload_token(struct exporter *x, uint64_t now)
{
	if (now - x->token_checked_ns < 1000000000ULL)
		return;
	x->token_checked_ns = now;
	reload_one(x->o.token_file, "token-file", "bearer token", &x->token, &x->token_st);
	/* the identity token is rotated by the kubelet (expirationSeconds) like the ingest one */
	reload_one(x->o.identity_token_file, "identity-token-file", "identity token", &x->identity,
		   &x->identity_st);
}

/* ---- adding thread: batches -------------------------------------------- */

void exporter__set_claim(struct exporter *x, bool claim, uint64_t until_ms)
{
	report_header__set_claim(x->rh, claim, until_ms);
}

void exporter__hold(struct exporter *x, uint64_t spread_ns)
{
	uint64_t offset = report_header__send_offset_ns(x->rh, spread_ns);

	x->hold_until_ns = offset ? clock_mono_ns() + offset : 0;
}

void exporter__seal(struct exporter *x)
{
	uint8_t ips[WIRE_MAX_IPS][16];
	struct wire_header h;
	struct batch *b;
	const void *body;
	size_t len;
	int n, err;

	report_header__next(x->rh, &h, ips);
	/* the export side's own losses travel in the next header too */
	/* with what lost batches could no longer report (their carried counts) */
	h.drops[WIRE_DROP_BUFFER] += batch_queue__take_dropped(x->q, h.drops);
	pthread_mutex_lock(&x->pending_lock);
	for (int i = 0; i < WIRE_DROP__COUNT; i++) {
		h.drops[i] += x->pending[i];
		x->pending[i] = 0;
	}
	pthread_mutex_unlock(&x->pending_lock);

	err = wire_encoder__finish(x->enc, &h, &body, &len);
	if (err) {
		/* cannot happen with valid options; never silent */
		pr_warn("encoding a batch of %u records failed: %s; they are dropped",
			wire_encoder__count(x->enc), strerror(-err));
		STAT_ADD(x, records_dropped_buffer, wire_encoder__count(x->enc));
		wire_encoder__reset(x->enc);
		return;
	}
	b = calloc(1, sizeof(*b));
	if (b)
		b->body = malloc(len);
	if (!b || !b->body) {
		pr_warn("out of memory queueing a batch of %u records; they are dropped",
			wire_encoder__count(x->enc));
		STAT_ADD(x, records_dropped_buffer, wire_encoder__count(x->enc));
		if (b)
			free(b);
		wire_encoder__reset(x->enc);
		return;
	}
	memcpy(b->body, body, len);
	memcpy(b->carried, h.drops, sizeof(b->carried));
	b->len = len;
	b->records = wire_encoder__count(x->enc);
	b->seq = h.seq;
	b->not_before_ns = x->hold_until_ns; /* 0 or monotonic: due at once once past */
	wire_encoder__reset(x->enc);
	STAT_ADD(x, batches_sealed, 1);
	n = (int)batch_queue__push(x->q, b);
	if (n) {
		STAT_ADD(x, records_dropped_buffer, (uint64_t)n);
		/* once per episode: the counters say how many, the log says when */
		if (!__atomic_exchange_n(&x->dropping, 1, __ATOMIC_RELAXED))
			pr_warn("export buffer full (%zu bytes): dropping the oldest batches "
				"(counted in drops_export_buffer and in the next batch header)",
				x->o.buffer_max_bytes);
	}
	h2c__wakeup(x->h2);
}

void exporter__add(struct exporter *x, const struct flow_record *r)
{
	int err = wire_encoder__add(x->enc, r);

	if (err == -E2BIG) {
		exporter__seal(x);
		err = wire_encoder__add(x->enc, r); /* an empty batch always takes one */
	}
	if (err) {
		if (!x->logged_add_error++)
			pr_warn("cannot add a record to a batch: %s; such records are dropped and "
				"counted (records_dropped_buffer)",
				strerror(-err));
		STAT_ADD(x, records_dropped_buffer, 1);
		return;
	}
	if (wire_encoder__count(x->enc) >= x->o.batch_max_records ||
	    wire_encoder__size(x->enc) >= x->o.batch_max_bytes)
		exporter__seal(x);
}

/* ---- export thread: requests ------------------------------------------- */

static void retry_later(struct exporter *x, struct batch *b, uint64_t delay_ns)
{
	b->attempts++;
	b->not_before_ns = clock_mono_ns() + delay_ns;
	STAT_ADD(x, retries, 1);
	batch_queue__retry(x->q, b);
}

/* h2c_done_fn: a POST ended, with a response (err 0) or without one. */
static void finished(void *ctx, int err, int status, const char *retry_after, const char *body)
{
	struct request *rq = ctx;
	struct exporter *x = rq->x;
	struct batch *b = rq->batch;
	int64_t ra;

	rq->busy = false;
	rq->batch = NULL;
	x->n_active--;
	metrics_histogram_observe(&x->latency, clock_mono_ns() - rq->started_ns);
	if (!err && status >= 200 && status < 300) {
		if (x->consecutive_failures)
			pr_info("collector %s reachable again after %u failed attempts",
				h2c__url(x->h2), x->consecutive_failures);
		x->consecutive_failures = 0;
		__atomic_store_n(&x->dropping, 0, __ATOMIC_RELAXED);
		STAT_ADD(x, batches_ok, 1);
		STAT_ADD(x, records_ok, b->records);
		batch_queue__done(x->q, b);
		return;
	}
	if (err == -ETIMEDOUT)
		STAT_ADD(x, fail_timeout, 1);
	else if (err == -EAGAIN)
		STAT_ADD(x, fail_goaway, 1);
	else if (err == -EPROTO)
		STAT_ADD(x, fail_connect, 1); /* a TLS handshake the collector refused */
	else if (err)
		STAT_ADD(x, fail_reset, 1);
	else if (status == 429)
		STAT_ADD(x, fail_http_429, 1);
	else if (status >= 500)
		STAT_ADD(x, fail_http_5xx, 1);
	else if (status >= 400)
		STAT_ADD(x, fail_http_4xx, 1);
	if (!err && status >= 400 && status < 500 && status != 429) {
		/* the collector will never take this batch: drop it, count it, say why once */
		if (!x->logged_status[status]) {
			x->logged_status[status] = 1;
			pr_warn(
			    "collector %s refused a batch with HTTP %d: %.*s; refused batches are "
			    "dropped and counted (drops_export_rejected)",
			    h2c__url(x->h2), status,
			    body && body[0] ? (int)strcspn(body, "\r\n") : 12,
			    body && body[0] ? body : "(no message)");
		}
		STAT_ADD(x, records_rejected, b->records);
		pthread_mutex_lock(&x->pending_lock);
		x->pending[WIRE_DROP_REJECTED] += b->records;
		for (int i = 0; i < WIRE_DROP__COUNT; i++)
			x->pending[i] += b->carried[i]; /* its header never counted */
		pthread_mutex_unlock(&x->pending_lock);
		batch_queue__done(x->q, b);
		return;
	}
	if (err == -EAGAIN) {
		/* refused by a GOAWAY before the server processed it: send again at once */
		batch_queue__retry(x->q, b);
		return;
	}
	if (x->consecutive_failures++ == 0) {
		if (err)
			pr_warn("collector %s: %s; retrying with backoff, batches are buffered",
				h2c__url(x->h2), strerror(-err));
		else
			pr_warn("collector %s answered HTTP %d; retrying with backoff",
				h2c__url(x->h2), status);
	}
	if (!err && (status == 429 || status == 503) &&
	    (ra = retry_after_seconds(retry_after, (int64_t)(clock_wall_ms() / 1000),
				      RETRY_AFTER_CAP_S)) >= 0) {
		retry_later(x, b, (uint64_t)ra * 1000000000ULL);
		return;
	}
	retry_later(x, b, backoff_ns(b->attempts, BACKOFF_BASE_NS, BACKOFF_CAP_NS, next_rand(x)));
}

static int start_request(struct exporter *x, struct request *rq, struct batch *b)
{
	struct h2c_header h[4];
	char auth[4200];
	size_t n = 0;
	int err;

	h[n++] = (struct h2c_header){ "content-type", "application/x-podflow-batch" };
	if (x->o.encoding != WIRE_ENC_IDENTITY)
		h[n++] =
		    (struct h2c_header){ "content-encoding", wire_encoding_name(x->o.encoding) };
	if (x->token) {
		snprintf(auth, sizeof(auth), "Bearer %s", x->token);
		h[n++] = (struct h2c_header){ "authorization", auth };
	}
	/*
	 * The pod's proof of who it is (docs/attribution.md, "Heartbeats are
	 * proven"): a bearer credential like the ingest token, so as exposed
	 * as it over cleartext; production sends it over TLS.
	 */
	if (x->identity)
		h[n++] = (struct h2c_header){ "podflow-identity", x->identity };
	rq->x = x;
	rq->batch = b;
	rq->busy = true;
	rq->started_ns = clock_mono_ns();
	x->n_active++;
	err = h2c__post(x->h2, b->body, b->len, h, n, finished, rq);
	if (err) {
		rq->busy = false;
		rq->batch = NULL;
		x->n_active--;
	}
	return err;
}

static void *export_thread(void *arg)
{
	struct exporter *x = arg;

	for (;;) {
		uint64_t now = clock_mono_ns(), wait = UINT64_MAX;
		int timeout_ms;

		maybe_reload_token(x, now);
		/* fill free slots, oldest batch first; no reconnect storm while the collector is down */
		for (uint32_t i = 0; i < x->o.max_in_flight && now >= x->connect_retry_ns; i++) {
			struct batch *b;
			int err;

			if (x->reqs[i].busy)
				continue;
			b = batch_queue__take(x->q, now, &wait);
			if (!b)
				break;
			err = start_request(x, &x->reqs[i], b);
			if (err == -EBUSY) {
				batch_queue__retry(x->q,
						   b); /* no stream free now: later, as it was */
				break;
			}
			if (err) {
				/* could not even connect: the batch waits, and so does the next try */
				STAT_ADD(x, fail_connect, 1);
				if (x->consecutive_failures++ == 0)
					pr_warn(
					    "collector %s: %s; retrying with backoff, batches are "
					    "buffered",
					    h2c__url(x->h2), strerror(-err));
				x->connect_retry_ns =
				    now + backoff_ns(x->connect_failures++, BACKOFF_BASE_NS,
						     BACKOFF_CAP_NS, next_rand(x));
				STAT_ADD(x, retries, 1);
				batch_queue__retry(x->q, b);
				break;
			}
			x->connect_failures = 0;
		}
		if (__atomic_load_n(&x->stopping, __ATOMIC_ACQUIRE)) {
			if (x->n_active == 0 && batch_queue__count(x->q) == 0)
				break;
			if (now >= x->deadline_ns)
				break;
		}
		if (now < x->connect_retry_ns && x->connect_retry_ns - now < wait)
			wait = x->connect_retry_ns - now;
		timeout_ms = wait == UINT64_MAX ? 1000 : (int)(wait / 1000000 + 1);
		if (timeout_ms > 1000)
			timeout_ms = 1000;
		h2c__run(x->h2, timeout_ms);
	}
	/* out of time, or done: what is left is abandoned, counted and said */
	h2c__free(x->h2); /* completes in-flight requests with -ECANCELED: retried into the queue */
	x->h2 = NULL;
	for (struct batch *b; (b = batch_queue__take(x->q, UINT64_MAX, NULL));) {
		STAT_ADD(x, records_abandoned, b->records);
		batch_queue__done(x->q, b);
	}
	return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

struct exporter *exporter__new(const struct export_opts *opts, char *why, size_t whylen)
{
	struct exporter *x = calloc(1, sizeof(*x));
	int err;

	if (!x)
		return NULL;
	x->o = *opts;
	pthread_mutex_init(&x->pending_lock, NULL);
	{
		/* 1 ms .. 30 s: a healthy collector on the same network answers in ms */
		static const double bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
						 0.25,	0.5,	1,     2.5,  5,	    10,	  30 };

		metrics_histogram_init(&x->latency, bounds, sizeof(bounds) / sizeof(bounds[0]));
	}
	if (opts->cert_file && !opts->key_file) {
		snprintf(why, whylen, "--cert-file needs --key-file");
		err = -EINVAL;
		goto cleanup;
	}
	const char *files[] = { opts->ca_file, opts->cert_file, opts->key_file };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (files[i] && access(files[i], R_OK)) {
			err = -errno;
			snprintf(why, whylen, "%s: %s", files[i], strerror(-err));
			goto cleanup;
		}
	}
	if (opts->token_file) {
		err = read_token(opts->token_file, &x->token);
		if (err == -ENOENT && opts->token_optional && token_dir_exists(opts->token_file)) {
			/*
			 * An optional Secret not created yet: its volume is an empty
			 * directory.  Batches go without a token (a collector that wants
			 * one answers 401: counted as rejected) until the file appears,
			 * within a second (maybe_reload_token(): its stat differs from
			 * this zeroed one).
			 */
			pr_warn(
			    "--token-file %s is absent (--token-optional): sending without a token "
			    "until it appears",
			    opts->token_file);
			err = 0;
		} else if (err) {
			snprintf(why, whylen, "--token-file %s: %s", opts->token_file,
				 err == -ENODATA ? "empty" : strerror(-err));
			goto cleanup;
		} else {
			stat(opts->token_file, &x->token_st);
		}
		x->token_checked_ns = clock_mono_ns();
	}
	if (opts->identity_token_file) {
		err = read_token(opts->identity_token_file, &x->identity);
		if (err) {
			snprintf(why, whylen, "--identity-token-file %s: %s",
				 opts->identity_token_file,
				 err == -ENODATA ? "empty" : strerror(-err));
			goto cleanup;
		}
		stat(opts->identity_token_file, &x->identity_st);
		x->token_checked_ns = clock_mono_ns();
	}
	x->rh = report_header__new(opts->sender, opts->drops_fn, opts->drops_ctx);
	x->enc = wire_encoder__new(opts->encoding, 0);
	x->q = batch_queue__new(opts->buffer_max_bytes);
	x->reqs = calloc(opts->max_in_flight, sizeof(*x->reqs));
	if (!x->rh || !x->enc || !x->q || !x->reqs) {
		err = -ENOMEM;
		snprintf(why, whylen, "out of memory");
		goto cleanup;
	}
	x->rng = report_header__sender_id(x->rh) | 1; /* jitter: any non-zero seed */
	{
		const char *hp = strstr(opts->url, "://");
		const char *path = hp ? strchr(hp + 3, '/') : NULL;

		/* a bare http(s)://HOST:PORT means the collector's ingest endpoint */
		if (hp && (!path || path[1] == '\0'))
			snprintf(x->url, sizeof(x->url), "%.*s/v1/flows",
				 (int)(path ? path - opts->url : (long)strlen(opts->url)),
				 opts->url);
		else
			snprintf(x->url, sizeof(x->url), "%s", opts->url);
	}
	{
		struct h2c_opts ho = { .url = x->url,
				       .ca_file = opts->ca_file,
				       .cert_file = opts->cert_file,
				       .key_file = opts->key_file,
				       .max_streams = opts->max_in_flight,
				       .connect_timeout_ns = CONNECT_TIMEOUT_MS * 1000000ULL,
				       .request_timeout_ns = REQUEST_TIMEOUT_MS * 1000000ULL };
		char w[512];

		x->h2 = h2c__new(&ho, w, sizeof(w));
		if (!x->h2) {
			err = -errno;
			snprintf(why, whylen, "--output %s", w);
			goto cleanup;
		}
	}
	err = -pthread_create(&x->thread, NULL, export_thread, x);
	if (err) {
		snprintf(why, whylen, "cannot start the export thread: %s", strerror(-err));
		goto cleanup;
	}
	x->thread_started = true;
	return x;
cleanup:
	exporter__close(x, 0, NULL);
	errno = -err;
	return NULL;
}

void exporter__close(struct exporter *x, uint64_t grace_ns, struct export_stats *final)
{
	struct export_stats st = { 0 };

	if (!x)
		return;
	if (x->thread_started) {
		/* what the send spread holds goes now: the grace is for delivery */
		x->hold_until_ns = 0;
		exporter__seal(x);
		batch_queue__release_held(x->q);
		x->deadline_ns = clock_mono_ns() + grace_ns;
		__atomic_store_n(&x->stopping, 1, __ATOMIC_RELEASE);
		h2c__wakeup(x->h2);
		pthread_join(x->thread, NULL);
		exporter__stats(x, &st);
		if (st.records_abandoned)
			pr_warn(
			    "%llu records not delivered to %s within the shutdown grace: dropped",
			    (unsigned long long)st.records_abandoned, x->o.url);
	}
	if (final)
		*final = st;
	h2c__free(x->h2); /* when the thread never started */
	free(x->reqs);
	batch_queue__free(x->q);
	wire_encoder__free(x->enc);
	report_header__free(x->rh);
	free(x->token);
	if (x->identity) {
		explicit_bzero(x->identity, strlen(x->identity));
		free(x->identity);
	}
	pthread_mutex_destroy(&x->pending_lock);
	free(x);
}

void exporter__stats(const struct exporter *x, struct export_stats *out)
{
	out->batches_sealed = __atomic_load_n(&x->st.batches_sealed, __ATOMIC_RELAXED);
	out->batches_ok = __atomic_load_n(&x->st.batches_ok, __ATOMIC_RELAXED);
	out->records_ok = __atomic_load_n(&x->st.records_ok, __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&x->st.retries, __ATOMIC_RELAXED);
	out->records_dropped_buffer =
	    __atomic_load_n(&x->st.records_dropped_buffer, __ATOMIC_RELAXED);
	out->records_rejected = __atomic_load_n(&x->st.records_rejected, __ATOMIC_RELAXED);
	out->records_abandoned = __atomic_load_n(&x->st.records_abandoned, __ATOMIC_RELAXED);
	out->buffer_bytes = batch_queue__bytes(x->q);
	out->buffer_batches = batch_queue__count(x->q);
	out->fail_connect = __atomic_load_n(&x->st.fail_connect, __ATOMIC_RELAXED);
	out->fail_timeout = __atomic_load_n(&x->st.fail_timeout, __ATOMIC_RELAXED);
	out->fail_reset = __atomic_load_n(&x->st.fail_reset, __ATOMIC_RELAXED);
	out->fail_goaway = __atomic_load_n(&x->st.fail_goaway, __ATOMIC_RELAXED);
	out->fail_http_429 = __atomic_load_n(&x->st.fail_http_429, __ATOMIC_RELAXED);
	out->fail_http_5xx = __atomic_load_n(&x->st.fail_http_5xx, __ATOMIC_RELAXED);
	out->fail_http_4xx = __atomic_load_n(&x->st.fail_http_4xx, __ATOMIC_RELAXED);
	out->consecutive_failures = __atomic_load_n(&x->consecutive_failures, __ATOMIC_RELAXED);
	{
		struct report_header_stats hs;

		report_header__stats(x->rh, &hs);
		out->heartbeat_ips = hs.heartbeat_ips;
		out->pod_ips_over_limit = hs.pod_ips_over_limit;
		out->pod_ips_malformed = hs.pod_ips_malformed;
		out->send_offset_ns = hs.send_offset_ns;
	}
}

bool exporter__dropping(const struct exporter *x)
{
	return __atomic_load_n(&x->dropping, __ATOMIC_RELAXED) != 0;
}

const struct metrics_histogram *exporter__latency(const struct exporter *x)
{
	return &x->latency;
}

void exporter__set_limits(struct exporter *x, uint32_t batch_max_records, size_t batch_max_bytes,
			  size_t buffer_max_bytes)
{
	x->o.batch_max_records = batch_max_records;
	x->o.batch_max_bytes = batch_max_bytes;
	x->o.buffer_max_bytes = buffer_max_bytes;
	batch_queue__set_max(x->q, buffer_max_bytes);
}
