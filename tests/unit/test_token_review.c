// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for collector/feeds/token_review: the TokenReview format, cache, expiry, queue bound. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../report.h"
#include "clock.h"
#include "token_review.h"

/* A test's figures for docs/reliability.md, once they add up (tests/report.h). */
static void report(const char *test, struct report_fault *f)
{
	f->lost = f->injected - f->delivered - f->counted;
	assert_int_equal(f->lost, 0);
	report_fault_line("token_review", test, 1, f);
}

/* A TokenReview answer as the API server gives it (authentication.k8s.io/v1, a projected token). */
static const char ANSWER_OK[] =
    "{\"kind\":\"TokenReview\",\"apiVersion\":\"authentication.k8s.io/v1\","
    "\"metadata\":{\"creationTimestamp\":null},"
    "\"spec\":{\"token\":\"x\",\"audiences\":[\"podflow\"]},"
    "\"status\":{\"authenticated\":true,"
    "\"user\":{\"username\":\"system:serviceaccount:shop:web\","
    "\"uid\":\"b2b3a8d6-5a7d-4c9e-8f0e-2f1c3d4e5f60\","
    "\"groups\":[\"system:serviceaccounts\",\"system:serviceaccounts:shop\","
    "\"system:authenticated\"],"
    "\"extra\":{\"authentication.kubernetes.io/credential-id\":[\"JTI=0c9f\"],"
    "\"authentication.kubernetes.io/node-name\":[\"kind-worker\"],"
    "\"authentication.kubernetes.io/node-uid\":[\"4f1a\"],"
    "\"authentication.kubernetes.io/pod-name\":[\"web-7d9f8b6c5-x2x4z\"],"
    "\"authentication.kubernetes.io/pod-uid\":[\"a1b2c3d4-0000-4000-8000-000000000001\"]}},"
    "\"audiences\":[\"podflow\"]}}";

static void test_parse(void **state)
{
	struct report_fault f = {
		.fault =
		    "TokenReview answer: other audience, unauthenticated, not a pod's, malformed",
		.unit = "review answers",
		.counted_as =
		    "not verified, with the refusal's reason (identity_reviews_total), or "
		    "-EBADMSG",
	};
	struct token_review_result r;
	int rc;

/* an answer that must not verify: refused with `why` */
#define REFUSED(text, len, aud, why)                                       \
	do {                                                               \
		rc = token_review_parse(text, len, aud, &r);               \
		f.injected++;                                              \
		f.counted += rc == 0 && !r.verified && r.refusal == (why); \
		assert_int_equal(rc, 0);                                   \
		assert_false(r.verified);                                  \
		assert_int_equal(r.refusal, why);                          \
	} while (0)
	(void)state;
	assert_int_equal(token_review_parse(ANSWER_OK, strlen(ANSWER_OK), "podflow", &r), 0);
	assert_true(r.verified);
	assert_string_equal(r.id.namespace, "shop");
	assert_string_equal(r.id.service_account, "web");
	assert_string_equal(r.id.pod, "web-7d9f8b6c5-x2x4z");
	assert_string_equal(r.id.pod_uid, "a1b2c3d4-0000-4000-8000-000000000001");

	/* wrong audience: the server answered for another one (or is not audience-aware) */
	REFUSED(ANSWER_OK, strlen(ANSWER_OK), "other", TOKEN_REFUSED_AUDIENCE);

	static const char unauth[] =
	    "{\"kind\":\"TokenReview\",\"apiVersion\":\"authentication.k8s.io/v1\","
	    "\"spec\":{\"token\":\"x\"},\"status\":{\"user\":{},"
	    "\"error\":\"[invalid bearer token, service account token has expired]\"}}";
	REFUSED(unauth, strlen(unauth), "podflow", TOKEN_REFUSED_UNAUTHENTICATED);
	assert_non_null(strstr(r.error, "expired"));

	static const char legacy[] =
	    "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":true,\"audiences\":"
	    "[\"podflow\"],\"user\":{\"username\":\"system:serviceaccount:shop:web\"}}}";
	REFUSED(legacy, strlen(legacy), "podflow", TOKEN_REFUSED_NOT_POD);

	static const char user[] =
	    "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":true,\"audiences\":"
	    "[\"podflow\"],\"user\":{\"username\":\"alice\"}}}";
	REFUSED(user, strlen(user), "podflow", TOKEN_REFUSED_NOT_POD);
#undef REFUSED

	rc = token_review_parse("{\"kind\":\"Status\"}", 17, "podflow", &r);
	f.injected++;
	f.counted += rc < 0;
	assert_int_equal(rc, -EBADMSG);
	rc = token_review_parse("nope", 4, "podflow", &r);
	f.injected++;
	f.counted += rc < 0;
	assert_int_equal(rc, -EBADMSG);
	report("test_parse", &f);
}

static void test_request(void **state)
{
	char *s = token_review_request("tok", "podflow");

	(void)state;
	assert_string_equal(s,
			    "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\","
			    "\"spec\":{\"token\":\"tok\",\"audiences\":[\"podflow\"]}}");
	free(s);
}

static char *b64url(const char *in)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = strlen(in), o = 0;
	char *out = malloc(n * 2 + 4);
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		acc = acc << 8 | (unsigned char)in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = a[(acc >> bits) & 63];
		}
	}
	if (bits)
		out[o++] = a[(acc << (6 - bits)) & 63];
	out[o] = '\0';
	return out;
}

/* A JWT-shaped token expiring at exp_s (Unix s), unique by `tag`. */
static char *jwt(const char *tag, int64_t exp_s)
{
	char payload[256], *h = b64url("{\"alg\":\"RS256\",\"kid\":\"k\"}"), *p, *t;

	snprintf(payload, sizeof(payload),
		 "{\"aud\":[\"podflow\"],\"exp\":%lld,\"sub\":\"system:serviceaccount:shop:%s\"}",
		 (long long)exp_s, tag);
	p = b64url(payload);
	if (asprintf(&t, "%s.%s.c2lnbmF0dXJl", h, p) < 0)
		t = NULL;
	free(h);
	free(p);
	return t;
}

static void test_expiry_claim(void **state)
{
	char *t = jwt("web", 1700000600);

	(void)state;
	assert_int_equal(token_review_expiry_ms(t, strlen(t)), 1700000600000ll);
	assert_int_equal(token_review_expiry_ms("opaque", 6), 0);
	assert_int_equal(token_review_expiry_ms("a.!!!.c", 7), 0);
	free(t);
}

/* The fake API server: tokens starting "good" are web's pod, "bad" unauthenticated; can block. */
struct fake {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool blocked;
	int calls;
	bool fail;
};

static int fake_review(void *ctx, const char *token, const char *audience,
		       struct token_review_result *out)
{
	struct fake *f = ctx;

	assert_string_equal(audience, "podflow");
	pthread_mutex_lock(&f->lock);
	while (f->blocked)
		pthread_cond_wait(&f->cond, &f->lock);
	f->calls++;
	pthread_mutex_unlock(&f->lock);
	if (f->fail)
		return -ECONNREFUSED;
	if (!strncmp(token, "bad", 3)) {
		out->verified = false;
		out->refusal = TOKEN_REFUSED_UNAUTHENTICATED;
		return 0;
	}
	out->verified = true;
	snprintf(out->id.namespace, sizeof(out->id.namespace), "shop");
	snprintf(out->id.pod, sizeof(out->id.pod), "%s", strstr(token, "pod2") ? "web-2" : "web-1");
	return 0;
}

static struct fake F = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static struct token_review *start(uint32_t cache_max, uint32_t queue_max)
{
	struct token_review_opts o = {
		.cache_max = cache_max,
		.queue_max = queue_max,
		.review = fake_review,
		.review_ctx = &F,
	};

	F.calls = 0;
	F.blocked = false;
	F.fail = false;
	return token_review__new(&o);
}

static enum token_verdict look(struct token_review *tr, const char *t, int64_t now,
			       struct token_identity *id)
{
	return token_review__lookup(tr, t, strlen(t), now, id, NULL);
}

static void test_cache(void **state)
{
	struct token_review *tr = start(0, 0);
	int64_t now = clock_wall_ms();
	struct token_review_stats st;
	struct token_identity id;
	enum token_refusal why;
	/* the fake reads the tag in clear: the good one's is inside the JWT's payload */
	char *good = jwt("good-pod1", now / 1000 + 600), *bad = strdup("bad-token");

	(void)state;
	assert_non_null(tr);
	/* a miss: pending, asked once however often it is looked up before the answer */
	pthread_mutex_lock(&F.lock);
	F.blocked = true; /* the answer comes only once the test says so */
	pthread_mutex_unlock(&F.lock);
	assert_int_equal(look(tr, good, now, &id), TOKEN_PENDING);
	assert_int_equal(look(tr, good, now, &id), TOKEN_PENDING);
	pthread_mutex_lock(&F.lock);
	F.blocked = false;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
	assert_int_equal(token_review__wait_idle(tr, 5000), 0);
	assert_int_equal(look(tr, good, now, &id), TOKEN_VERIFIED);
	assert_string_equal(id.namespace, "shop");
	assert_string_equal(id.pod, "web-1");
	assert_int_equal(look(tr, good, now + 1000, &id), TOKEN_VERIFIED);
	assert_int_equal(F.calls, 1);

	/* unauthenticated: refused, and the refusal cached too */
	assert_int_equal(look(tr, bad, now, &id), TOKEN_PENDING);
	assert_int_equal(token_review__wait_idle(tr, 5000), 0);
	assert_int_equal(token_review__lookup(tr, bad, strlen(bad), now, &id, &why), TOKEN_REFUSED);
	assert_int_equal(why, TOKEN_REFUSED_UNAUTHENTICATED);
	assert_int_equal(F.calls, 2);
	/* ... for at most refused_ttl (30 s): then asked again */
	assert_int_equal(look(tr, bad, now + 31000, &id), TOKEN_PENDING);
	assert_int_equal(token_review__wait_idle(tr, 5000), 0);
	assert_int_equal(F.calls, 3);

	/* no token: pending, nothing asked */
	assert_int_equal(token_review__lookup(tr, NULL, 0, now, &id, NULL), TOKEN_PENDING);
	token_review__stats(tr, &st);
	assert_int_equal(st.reviews_verified, 1);
	assert_int_equal(st.reviews_refused[TOKEN_REFUSED_UNAUTHENTICATED], 2);
	token_review__free(tr);
	free(good);
	free(bad);
}

static void test_expiry(void **state)
{
	struct token_review *tr = start(0, 0);
	int64_t now = clock_wall_ms();
	struct token_identity id;
	/* expires in 60 s: cached until then, not for max_ttl (5 min) */
	char *soon = jwt("good-pod1-soon", now / 1000 + 60), *opaque = strdup("good-opaque");

	(void)state;
	assert_int_equal(look(tr, soon, now, &id), TOKEN_PENDING);
	assert_int_equal(look(tr, opaque, now, &id), TOKEN_PENDING);
	assert_int_equal(token_review__wait_idle(tr, 5000), 0);
	assert_int_equal(look(tr, soon, now + 30000, &id), TOKEN_VERIFIED);
	assert_int_equal(look(tr, soon, now + 61000, &id), TOKEN_PENDING);
	/* a token without exp: max_ttl */
	assert_int_equal(look(tr, opaque, now + 200000, &id), TOKEN_VERIFIED);
	assert_int_equal(look(tr, opaque, now + 301000, &id), TOKEN_PENDING);
	assert_int_equal(token_review__wait_idle(tr, 5000), 0);
	token_review__free(tr);
	free(soon);
	free(opaque);
}

static void test_queue_bound(void **state)
{
	struct token_review *tr = start(0, /*queue_max=*/2);
	int64_t now = clock_wall_ms();
	struct token_review_stats st;
	struct token_identity id;
	char t[32];

	(void)state;
	pthread_mutex_lock(&F.lock);
	F.blocked = true;
	pthread_mutex_unlock(&F.lock);
	/* the first is taken by the thread (blocked in its review), two wait, the rest don't */
	assert_int_equal(look(tr, "good-0", now, &id), TOKEN_PENDING);
	for (int i = 0; i < 100; i++) {
		token_review__stats(tr, &st);
		if (st.misses == 1 && !st.queue_full)
			usleep(1000); /* let the thread take it; bounded below */
	}
	for (int i = 1; i < 6; i++) {
		snprintf(t, sizeof(t), "good-%d", i);
		/* never blocks, however full the queue */
		assert_int_equal(look(tr, t, now, &id), TOKEN_PENDING);
	}
	token_review__stats(tr, &st);
	assert_in_range(st.queue_full, 3, 4);
	pthread_mutex_lock(&F.lock);
	F.blocked = false;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
	assert_int_equal(token_review__wait_idle(tr, 5000), 0);
	assert_int_equal(look(tr, "good-0", now, &id), TOKEN_VERIFIED);
	assert_int_equal(look(tr, "good-5", now, &id), TOKEN_PENDING); /* asked now */
	assert_int_equal(token_review__wait_idle(tr, 5000), 0);
	token_review__free(tr);
}

static void test_eviction_and_failure(void **state)
{
	struct token_review *tr = start(/*cache_max=*/2, 0);
	int64_t now = clock_wall_ms();
	struct token_review_stats st;
	struct token_identity id;
	struct report_fault f = {
		.fault = "the API server's TokenReview fails",
		.unit = "lookups",
		.counted_as = "pending (the heartbeat unproven), reviews_failed; nothing cached, "
			      "asked again",
	};
	char t[32];

	(void)state;
	for (int i = 0; i < 3; i++) {
		snprintf(t, sizeof(t), "good-%d", i);
		look(tr, t, now, &id);
		assert_int_equal(token_review__wait_idle(tr, 5000), 0);
	}
	token_review__stats(tr, &st);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.evicted, 1);
	/* a failed review caches nothing: asked again */
	F.fail = true;
	assert_int_equal(look(tr, "good-x", now, &id), TOKEN_PENDING);
	f.injected++;
	assert_int_equal(token_review__wait_idle(tr, 5000), 0);
	assert_int_equal(look(tr, "good-x", now, &id), TOKEN_PENDING);
	f.injected++;
	assert_int_equal(token_review__wait_idle(tr, 5000), 0);
	token_review__stats(tr, &st);
	assert_int_equal(st.reviews_failed, 2);
	f.counted = st.reviews_failed;
	token_review__free(tr);
	report("test_eviction_and_failure", &f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_expiry_claim),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_queue_bound),
		cmocka_unit_test(test_eviction_and_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
