/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The heartbeat verifier: proves which pod a sidecar is by the projected
 * service-account token it sends (audience "podflow"), asking the API
 * server with a TokenReview (POST /apis/authentication.k8s.io/v1/
 * tokenreviews; docs/attribution.md, "Heartbeats are proven").
 *
 * Workers never wait for the API server: token_review__lookup answers from
 * a cache keyed by the token's SHA-256 (an entry lives until the token's
 * `exp`, at most max_ttl; a refusal at most refused_ttl) and, on a miss,
 * queues the token (bounded: a full queue is counted and the token asked
 * about at the sender's next batch) for the verifier's own thread, which
 * makes the reviews one at a time through its review function.
 */
#ifndef PODFLOW_COLLECTOR_TOKEN_REVIEW_H
#define PODFLOW_COLLECTOR_TOKEN_REVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_REVIEW_AUDIENCE  "podflow"
#define TOKEN_REVIEW_PATH      "/apis/authentication.k8s.io/v1/tokenreviews"
#define TOKEN_REVIEW_HEADER    "podflow-identity" /* the request header a sidecar sends it in */
#define TOKEN_REVIEW_TOKEN_MAX 8192		  /* longer tokens are refused unread */
#define TOKEN_REVIEW_NAME_MAX  254		  /* a DNS subdomain, and its NUL */
#define TOKEN_REVIEW_UID_MAX   64

/* The pod a token was issued to, as the API server says. */
struct token_identity {
	char namespace[TOKEN_REVIEW_NAME_MAX];
	char service_account[TOKEN_REVIEW_NAME_MAX];
	char pod[TOKEN_REVIEW_NAME_MAX];
	char pod_uid[TOKEN_REVIEW_UID_MAX];
};

enum token_verdict {
	TOKEN_VERIFIED, /* *id is the token's pod */
	TOKEN_PENDING,	/* not known yet: queued (or the queue was full) */
	TOKEN_REFUSED,	/* the API server does not vouch for it as a pod's "podflow" token */
};

/* Why a review refused a token (counted by reason). */
enum token_refusal {
	TOKEN_REFUSED_UNAUTHENTICATED, /* status.authenticated false (expired, revoked, forged) */
	TOKEN_REFUSED_AUDIENCE,	       /* status.audiences lacks "podflow" */
	TOKEN_REFUSED_NOT_POD,	       /* not a service account's, or bound to no pod */
	TOKEN_REFUSED__COUNT,
};
const char *token_refusal_name(enum token_refusal r);

struct token_review_result {
	bool verified;
	enum token_refusal refusal; /* when !verified */
	struct token_identity id;   /* when verified */
	char error[128];	    /* status.error, or what was wrong, for the log */
};

/*
 * Reads a TokenReview answer (the API server's JSON): verified only when
 * status.authenticated is true, status.audiences names `audience`, the
 * user is system:serviceaccount:NS:SA and the extra fields name the pod
 * (authentication.kubernetes.io/pod-name and pod-uid).  0, or -EBADMSG for
 * an answer that is not a TokenReview.
 */
int token_review_parse(const char *body, size_t len, const char *audience,
		       struct token_review_result *out);
/* The TokenReview to POST for `token` (malloc'd JSON), or NULL. */
char *token_review_request(const char *token, const char *audience);
/* The token's `exp` claim in Unix ms (read, not verified: the review does that), or 0. */
int64_t token_review_expiry_ms(const char *token, size_t len);

/*
 * One review, on the verifier's thread: 0 with *out filled, or -errno
 * when no answer came (a transport failure, a non-201 answer): nothing is
 * cached then, and the token is asked about again at its next lookup.
 */
typedef int (*token_review_fn)(void *ctx, const char *token, const char *audience,
			       struct token_review_result *out);

struct token_review_opts {
	const char *audience;	/* NULL: TOKEN_REVIEW_AUDIENCE */
	uint32_t cache_max;	/* entries; 0 = 4096 */
	uint32_t queue_max;	/* tokens waiting for a review; 0 = 64 */
	int64_t max_ttl_ms;	/* a verified entry at most; 0 = 300000 */
	int64_t refused_ttl_ms; /* a refused entry at most; 0 = 30000 */
	token_review_fn review;
	void *review_ctx;
};

struct token_review_stats {
	uint64_t reviews_verified, reviews_refused[TOKEN_REFUSED__COUNT], reviews_failed;
	uint64_t hits, misses;
	uint64_t queue_full; /* misses not queued: the queue was full */
	uint64_t evicted;    /* entries dropped before their time, the cache being full */
	uint64_t entries;    /* held now */
};

struct token_review;

/* Starts the verifier's thread.  NULL with errno set. */
struct token_review *token_review__new(const struct token_review_opts *o);
/* Stops the thread (a review in progress finishes first); NULL is fine. */
void token_review__free(struct token_review *tr);
/*
 * Any thread, never blocks on the API server: the token's verdict as of
 * `now_ms` (Unix ms).  On a miss the token is queued (copied) and
 * TOKEN_PENDING returned.  `id` is filled for TOKEN_VERIFIED, `refusal`
 * (may be NULL) for TOKEN_REFUSED.
 */
enum token_verdict token_review__lookup(struct token_review *tr, const char *token, size_t len,
					int64_t now_ms, struct token_identity *id,
					enum token_refusal *refusal);
/* Waits until nothing is queued or under review (tests); 0 or -ETIMEDOUT. */
int token_review__wait_idle(struct token_review *tr, int timeout_ms);
void token_review__stats(struct token_review *tr, struct token_review_stats *out);

/* A review function over a kube_client (kube_client.h), which only the verifier's thread uses. */
struct kube_client;
int token_review_kube(void *kube_client, const char *token, const char *audience,
		      struct token_review_result *out);

#endif /* PODFLOW_COLLECTOR_TOKEN_REVIEW_H */
