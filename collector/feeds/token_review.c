// SPDX-License-Identifier: BSD-2-Clause
/* The heartbeat verifier: TokenReviews of the sidecars' projected tokens, off the workers' path. */
#define _GNU_SOURCE
#include "token_review.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "clock.h"
#include "kube_client.h"
#include "log.h"

#define KEY_LEN 32 /* SHA-256 */
#define NIL	(-1)

#define EXTRA_POD_NAME "authentication.kubernetes.io/pod-name"
#define EXTRA_POD_UID  "authentication.kubernetes.io/pod-uid"
#define SA_PREFIX      "system:serviceaccount:"

struct entry {
	uint8_t key[KEY_LEN];
	int64_t expires_ms;
	int32_t next; /* in its bucket's chain, or the free list */
	bool used, verified;
	enum token_refusal refusal;
	struct token_identity id;
};

struct job {
	uint8_t key[KEY_LEN];
	char *token; /* owned; wiped when freed */
	size_t len;
};

struct token_review {
	struct token_review_opts o;
	char *audience;
	pthread_mutex_t lock;
	pthread_cond_t cond, idle;
	pthread_t thread;
	bool started, stop;

	/* the cache: chained hash of entries[cache_max] over buckets[n_buckets] */
	struct entry *entries;
	int32_t *buckets, free_head;
	uint32_t n_buckets, n_entries;

	/* the queue: a ring of queue_max jobs, and the one under review */
	struct job *queue;
	uint32_t q_head, q_len;
	bool busy;
	uint8_t busy_key[KEY_LEN];

	struct token_review_stats st; /* under lock */
};

const char *token_refusal_name(enum token_refusal r)
{
	static const char *const names[TOKEN_REFUSED__COUNT] = {
		[TOKEN_REFUSED_UNAUTHENTICATED] = "unauthenticated",
		[TOKEN_REFUSED_AUDIENCE] = "audience",
		[TOKEN_REFUSED_NOT_POD] = "not_pod",
	};

	return (unsigned)r < TOKEN_REFUSED__COUNT ? names[r] : "?";
}

/* ---- the wire format ---------------------------------------------------- */

static const char *first_extra(const json_t *extra, const char *key)
{
	/* extra values are arrays of strings (UserInfo.extra: map[string][]string) */
	return json_string_value(json_array_get(json_object_get(extra, key), 0));
}

static void refuse(struct token_review_result *out, enum token_refusal r, const char *why)
{
	out->verified = false;
	out->refusal = r;
	snprintf(out->error, sizeof(out->error), "%s", why);
}

static bool copy_field(char *dst, size_t cap, const char *src, size_t n)
{
	if (!n || n >= cap)
		return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

int token_review_parse(const char *body, size_t len, const char *audience,
		       struct token_review_result *out)
{
	json_t *root = json_loadb(body, len, 0, NULL), *status, *user, *extra, *aud, *v;
	const char *kind, *username, *pod, *uid, *err_s, *rest, *colon;
	bool aud_ok = false;
	size_t i;
	int err = 0;

	memset(out, 0, sizeof(*out));
	kind = json_string_value(json_object_get(root, "kind"));
	status = json_object_get(root, "status");
	if (!json_is_object(root) || !kind || strcmp(kind, "TokenReview") != 0 ||
	    !json_is_object(status)) {
		err = -EBADMSG;
		goto cleanup;
	}
	err_s = json_string_value(json_object_get(status, "error"));
	if (!json_is_true(json_object_get(status, "authenticated"))) {
		refuse(out, TOKEN_REFUSED_UNAUTHENTICATED, err_s ? err_s : "not authenticated");
		goto cleanup;
	}
	/*
	 * A client that sets spec.audiences must check that status.audiences
	 * names one of them: an authenticator that is not audience-aware
	 * answers without it (TokenReviewStatus.audiences, authentication/v1).
	 */
	aud = json_object_get(status, "audiences");
	json_array_foreach(aud, i, v) if (json_is_string(v) &&
					  !strcmp(json_string_value(v), audience)) aud_ok = true;
	if (!aud_ok) {
		refuse(out, TOKEN_REFUSED_AUDIENCE, "status.audiences does not name podflow");
		goto cleanup;
	}
	user = json_object_get(status, "user");
	username = json_string_value(json_object_get(user, "username"));
	extra = json_object_get(user, "extra");
	pod = first_extra(extra, EXTRA_POD_NAME);
	uid = first_extra(extra, EXTRA_POD_UID);
	if (!username || strncmp(username, SA_PREFIX, strlen(SA_PREFIX)) != 0) {
		refuse(out, TOKEN_REFUSED_NOT_POD, "not a service account's token");
		goto cleanup;
	}
	rest = username + strlen(SA_PREFIX);
	colon = strchr(rest, ':');
	if (!colon ||
	    !copy_field(out->id.namespace, sizeof(out->id.namespace), rest,
			(size_t)(colon - rest)) ||
	    !copy_field(out->id.service_account, sizeof(out->id.service_account), colon + 1,
			strlen(colon + 1))) {
		refuse(out, TOKEN_REFUSED_NOT_POD, "malformed service account user name");
		goto cleanup;
	}
	if (!pod || !uid || !copy_field(out->id.pod, sizeof(out->id.pod), pod, strlen(pod)) ||
	    !copy_field(out->id.pod_uid, sizeof(out->id.pod_uid), uid, strlen(uid))) {
		refuse(out, TOKEN_REFUSED_NOT_POD, "token bound to no pod (not a projected token)");
		goto cleanup;
	}
	out->verified = true;
cleanup:
	json_decref(root);
	return err;
}

char *token_review_request(const char *token, const char *audience)
{
	json_t *j =
	    json_pack("{s:s, s:s, s:{s:s, s:[s]}}", "apiVersion", "authentication.k8s.io/v1",
		      "kind", "TokenReview", "spec", "token", token, "audiences", audience);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

/* base64url without padding (RFC 7515 section 2); -1 on a bad character. */
static int b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *olen)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		int v;

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-' || c == '+')
			v = 62;
		else if (c == '_' || c == '/')
			v = 63;
		else if (c == '=')
			break;
		else
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	*olen = o;
	return 0;
}

int64_t token_review_expiry_ms(const char *token, size_t len)
{
	const char *p1 = memchr(token, '.', len), *p2;
	unsigned char buf[4096];
	size_t n;
	json_t *j;
	json_int_t exp;

	if (!p1)
		return 0;
	p2 = memchr(p1 + 1, '.', len - (size_t)(p1 + 1 - token));
	if (!p2 || b64url_decode(p1 + 1, (size_t)(p2 - p1 - 1), buf, sizeof(buf), &n))
		return 0;
	j = json_loadb((const char *)buf, n, 0, NULL);
	exp = json_integer_value(json_object_get(j, "exp"));
	json_decref(j);
	return exp > 0 && exp < INT64_MAX / 1000 ? (int64_t)exp * 1000 : 0;
}

int token_review_kube(void *kube_client, const char *token, const char *audience,
		      struct token_review_result *out)
{
	struct kube_client *c = kube_client;
	struct kube_response rsp;
	char *body = token_review_request(token, audience);
	int err;

	if (!body)
		return -ENOMEM;
	err = kube_client__post(c, TOKEN_REVIEW_PATH, body, &rsp);
	explicit_bzero(body, strlen(body));
	free(body);
	if (err)
		return err; /* reported by the client */
	/* a TokenReview is created: 201 (200 from some aggregated servers) */
	if (rsp.status != 201 && rsp.status != 200) {
		pr_warn("heartbeat verifier: POST %s answered %ld: %.200s (does the collector's "
			"service account may create tokenreviews?)\n",
			TOKEN_REVIEW_PATH, rsp.status, rsp.body);
		return -EACCES;
	}
	err = token_review_parse(rsp.body, rsp.len, audience, out);
	if (err)
		pr_warn("heartbeat verifier: POST %s: the answer is not a TokenReview\n",
			TOKEN_REVIEW_PATH);
	return err;
}

/* ---- the cache ---------------------------------------------------------- */

static void hash_token(const char *token, size_t len, uint8_t key[KEY_LEN])
{
	unsigned int n = KEY_LEN;

	if (!EVP_Digest(token, len, key, &n, EVP_sha256(), NULL))
		memset(key, 0, KEY_LEN); /* cannot happen with the default provider */
}

static uint32_t bucket_of(const struct token_review *tr, const uint8_t key[KEY_LEN])
{
	uint32_t h;

	memcpy(&h, key, sizeof(h));
	return h & (tr->n_buckets - 1);
}

static void unlink_entry(struct token_review *tr, int32_t idx)
{
	int32_t *pp = &tr->buckets[bucket_of(tr, tr->entries[idx].key)];

	while (*pp != NIL && *pp != idx)
		pp = &tr->entries[*pp].next;
	if (*pp == idx)
		*pp = tr->entries[idx].next;
	explicit_bzero(&tr->entries[idx], sizeof(tr->entries[idx]));
	tr->entries[idx].next = tr->free_head;
	tr->free_head = idx;
	tr->n_entries--;
}

/* Under lock.  An expired entry is dropped on the way. */
static struct entry *find(struct token_review *tr, const uint8_t key[KEY_LEN], int64_t now)
{
	for (int32_t i = tr->buckets[bucket_of(tr, key)]; i != NIL; i = tr->entries[i].next) {
		if (memcmp(tr->entries[i].key, key, KEY_LEN) != 0)
			continue;
		if (tr->entries[i].expires_ms <= now) {
			unlink_entry(tr, i);
			return NULL;
		}
		return &tr->entries[i];
	}
	return NULL;
}

/* Under lock: the verifier's thread only, so the scan for room never slows a worker. */
static void insert(struct token_review *tr, const uint8_t key[KEY_LEN], int64_t now,
		   int64_t expires, const struct token_review_result *r)
{
	struct entry *e = find(tr, key, now);
	int32_t idx;

	if (e)
		unlink_entry(tr, (int32_t)(e - tr->entries));
	if (tr->free_head == NIL) {
		/* full: the entry that would expire first goes (expired ones first of all) */
		int32_t victim = 0;

		for (uint32_t i = 1; i < tr->o.cache_max; i++)
			if (tr->entries[i].expires_ms < tr->entries[victim].expires_ms)
				victim = (int32_t)i;
		if (tr->entries[victim].expires_ms > now)
			tr->st.evicted++;
		unlink_entry(tr, victim);
	}
	idx = tr->free_head;
	e = &tr->entries[idx];
	tr->free_head = e->next;
	memcpy(e->key, key, KEY_LEN);
	e->expires_ms = expires;
	e->used = true;
	e->verified = r->verified;
	e->refusal = r->refusal;
	e->id = r->id;
	e->next = tr->buckets[bucket_of(tr, key)];
	tr->buckets[bucket_of(tr, key)] = idx;
	tr->n_entries++;
}

/* ---- the verifier's thread ----------------------------------------------- */

static void job_free(struct job *j)
{
	if (j->token) {
		explicit_bzero(j->token, j->len);
		free(j->token);
	}
	j->token = NULL;
}

static void *run(void *arg)
{
	struct token_review *tr = arg;

	pthread_mutex_lock(&tr->lock);
	for (;;) {
		struct token_review_result r;
		struct job j;
		int64_t now, exp, ttl;
		int err;

		while (!tr->stop && !tr->q_len)
			pthread_cond_wait(&tr->cond, &tr->lock);
		if (tr->stop)
			break;
		j = tr->queue[tr->q_head];
		tr->queue[tr->q_head].token = NULL;
		tr->q_head = (tr->q_head + 1) % tr->o.queue_max;
		tr->q_len--;
		tr->busy = true;
		memcpy(tr->busy_key, j.key, KEY_LEN);
		pthread_mutex_unlock(&tr->lock);

		memset(&r, 0, sizeof(r));
		err = tr->o.review(tr->o.review_ctx, j.token, tr->audience, &r);
		now = clock_wall_ms();
		exp = token_review_expiry_ms(j.token, j.len);
		job_free(&j);
		if (!err && !r.verified)
			pr_debug("heartbeat verifier: a token refused (%s): %s\n",
				 token_refusal_name(r.refusal), r.error);

		pthread_mutex_lock(&tr->lock);
		if (err) {
			tr->st.reviews_failed++;
		} else {
			ttl = r.verified ? tr->o.max_ttl_ms : tr->o.refused_ttl_ms;
			if (r.verified)
				tr->st.reviews_verified++;
			else
				tr->st.reviews_refused[r.refusal]++;
			/* never past the token's own expiry: the kubelet has a new one by then */
			insert(tr, j.key, now, exp && exp < now + ttl ? exp : now + ttl, &r);
		}
		tr->busy = false;
		if (!tr->q_len)
			pthread_cond_broadcast(&tr->idle);
	}
	pthread_mutex_unlock(&tr->lock);
	return NULL;
}

/* ---- the API ------------------------------------------------------------ */

enum token_verdict token_review__lookup(struct token_review *tr, const char *token, size_t len,
					int64_t now_ms, struct token_identity *id,
					enum token_refusal *refusal)
{
	enum token_verdict v = TOKEN_PENDING;
	uint8_t key[KEY_LEN];
	struct entry *e;
	bool queued;

	if (!token || !len || len > TOKEN_REVIEW_TOKEN_MAX)
		return TOKEN_PENDING; /* no token: never verified, nothing to ask */
	hash_token(token, len, key);
	pthread_mutex_lock(&tr->lock);
	e = find(tr, key, now_ms);
	if (e) {
		tr->st.hits++;
		if (e->verified) {
			v = TOKEN_VERIFIED;
			if (id)
				*id = e->id;
		} else {
			v = TOKEN_REFUSED;
			if (refusal)
				*refusal = e->refusal;
		}
		goto out;
	}
	tr->st.misses++;
	/* asked about already: one review per token, however many batches */
	queued = tr->busy && !memcmp(tr->busy_key, key, KEY_LEN);
	for (uint32_t i = 0; i < tr->q_len && !queued; i++)
		queued = !memcmp(tr->queue[(tr->q_head + i) % tr->o.queue_max].key, key, KEY_LEN);
	if (queued)
		goto out;
	if (tr->q_len == tr->o.queue_max) {
		tr->st.queue_full++;
		goto out;
	}
	{
		struct job *j = &tr->queue[(tr->q_head + tr->q_len) % tr->o.queue_max];

		j->token = strndup(token, len);
		if (!j->token)
			goto out; /* asked again at the next batch */
		j->len = len;
		memcpy(j->key, key, KEY_LEN);
		tr->q_len++;
		pthread_cond_signal(&tr->cond);
	}
out:
	pthread_mutex_unlock(&tr->lock);
	return v;
}

int token_review__wait_idle(struct token_review *tr, int timeout_ms)
{
	struct timespec ts;
	int err = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&tr->lock);
	while ((tr->q_len || tr->busy) && !err)
		err = pthread_cond_timedwait(&tr->idle, &tr->lock, &ts);
	pthread_mutex_unlock(&tr->lock);
	return err ? -ETIMEDOUT : 0;
}

void token_review__stats(struct token_review *tr, struct token_review_stats *out)
{
	pthread_mutex_lock(&tr->lock);
	*out = tr->st;
	out->entries = tr->n_entries;
	pthread_mutex_unlock(&tr->lock);
}

struct token_review *token_review__new(const struct token_review_opts *o)
{
	struct token_review *tr = calloc(1, sizeof(*tr));
	int err = ENOMEM;

	if (!tr)
		goto fail;
	tr->o = *o;
	if (!tr->o.review) {
		err = EINVAL;
		goto fail;
	}
	if (!tr->o.cache_max)
		tr->o.cache_max = 4096;
	if (!tr->o.queue_max)
		tr->o.queue_max = 64;
	if (tr->o.max_ttl_ms <= 0)
		tr->o.max_ttl_ms = 300000;
	if (tr->o.refused_ttl_ms <= 0)
		tr->o.refused_ttl_ms = 30000;
	tr->audience = strdup(o->audience ? o->audience : TOKEN_REVIEW_AUDIENCE);
	for (tr->n_buckets = 16; tr->n_buckets < 2 * tr->o.cache_max; tr->n_buckets *= 2)
		;
	tr->entries = calloc(tr->o.cache_max, sizeof(*tr->entries));
	tr->buckets = malloc(tr->n_buckets * sizeof(*tr->buckets));
	tr->queue = calloc(tr->o.queue_max, sizeof(*tr->queue));
	if (!tr->audience || !tr->entries || !tr->buckets || !tr->queue)
		goto fail;
	for (uint32_t i = 0; i < tr->n_buckets; i++)
		tr->buckets[i] = NIL;
	for (uint32_t i = 0; i < tr->o.cache_max; i++)
		tr->entries[i].next = i + 1 < tr->o.cache_max ? (int32_t)(i + 1) : NIL;
	tr->free_head = 0;
	pthread_mutex_init(&tr->lock, NULL);
	pthread_cond_init(&tr->cond, NULL);
	pthread_cond_init(&tr->idle, NULL);
	err = pthread_create(&tr->thread, NULL, run, tr);
	if (err)
		goto fail;
	tr->started = true;
	return tr;
fail:
	token_review__free(tr);
	errno = err;
	return NULL;
}

void token_review__free(struct token_review *tr)
{
	if (!tr)
		return;
	if (tr->started) {
		pthread_mutex_lock(&tr->lock);
		tr->stop = true;
		pthread_cond_signal(&tr->cond);
		pthread_mutex_unlock(&tr->lock);
		pthread_join(tr->thread, NULL);
		pthread_mutex_destroy(&tr->lock);
		pthread_cond_destroy(&tr->cond);
		pthread_cond_destroy(&tr->idle);
	}
	for (uint32_t i = 0; tr->queue && i < tr->q_len; i++)
		job_free(&tr->queue[(tr->q_head + i) % tr->o.queue_max]);
	if (tr->entries)
		OPENSSL_cleanse(tr->entries, tr->o.cache_max * sizeof(*tr->entries));
	free(tr->entries);
	free(tr->buckets);
	free(tr->queue);
	free(tr->audience);
	free(tr);
}
