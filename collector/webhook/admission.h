/* SPDX-License-Identifier: BSD-2-Clause */
/* The injection webhook's decisions: an AdmissionReview in, its answer and the JSON patch out. */
#ifndef PODFLOW_ADMISSION_H
#define PODFLOW_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Pure: bytes in, bytes out, no I/O, no clock, no globals; the HTTP side
 * (webhook.c) counts and logs.  The rule, in the order it is applied
 * (docs/webhook.md):
 *
 *   1. The body must be an AdmissionReview admission.k8s.io/v1 with a
 *      request carrying a uid, for a Pod (kind v1 Pod, resource pods, no
 *      subresource) with an object holding metadata and spec.containers,
 *      within the bounds below.  Otherwise: error (by reason).
 *   2. operation other than CREATE: skipped, not_create.
 *   3. already carrying the sidecar (a container or init container named
 *      podflow-sidecar) or the annotation podflow.io/status: injected:
 *      skipped, already_injected.  So the webhook run on its own output
 *      patches nothing (idempotent), and a reinvocation is a no-op.
 *   4. annotation podflow.io/inject: "false" (or the label of that name
 *      "false"): skipped, opted_out; an annotation of any value but "true"
 *      or "false": skipped, invalid_annotation (with a warning: a typo
 *      never injects by surprise nor hides that it did not).
 *   5. the collector's own pods (labels app.kubernetes.io/name: podflow and
 *      app.kubernetes.io/component: collector): skipped, collector_pod.
 *   6. spec.hostNetwork true: skipped, host_network (the sidecar's scope
 *      would be the node's network namespace; warned when the pod asked
 *      with "true").
 *   7. a volume named like one of the patch's (podflow-*): skipped,
 *      name_conflict (with a warning: the patched pod would be invalid).
 *   8. otherwise: injected.  The webhook does not see namespace labels:
 *      it is sent only pods of namespaces labelled podflow.io/inject=enabled
 *      (the webhook configuration's namespaceSelector) and pods that opt in
 *      elsewhere (the chart: a second entry selecting the label
 *      podflow.io/inject=true), so a pod without the annotation that
 *      reaches it is injected.
 *
 * Every answer allows the pod (allowed: true); only "injected" carries a
 * patch.  Errors and the warned skips carry one warning in
 * response.warnings (kubectl prints it).
 */
#define ADMISSION_MAX_CONTAINERS 256  /* in containers, and in initContainers */
#define ADMISSION_MAX_VOLUMES	 1024 /* spec.volumes */
#define ADMISSION_MAX_UID	 128  /* request.uid bytes */
#define ADMISSION_MAX_NAME	 253  /* names, namespaces, generateName */
#define ADMISSION_MAX_WARNING	 200  /* bytes of the one warning */
#define ADMISSION_SIDECAR_NAME	 "podflow-sidecar"
#define ADMISSION_ANNOT_INJECT	 "podflow.io/inject"
#define ADMISSION_ANNOT_STATUS	 "podflow.io/status"
#define ADMISSION_API_VERSION	 "admission.k8s.io/v1"
#define ADMISSION_CGROUP_HOST	 "/sys/fs/cgroup"
#define ADMISSION_CGROUP_MOUNT	 "/host/sys/fs/cgroup"
#define ADMISSION_CONFIG_DIR	 "/etc/podflow/sidecar"
#define ADMISSION_CONFIG_FILE	 ADMISSION_CONFIG_DIR "/sidecar.yaml"
#define ADMISSION_TOKEN_DIR	 "/var/run/secrets/podflow"
#define ADMISSION_TOKEN_FILE	 ADMISSION_TOKEN_DIR "/token"
/*
 * The pod's projected service-account token for the collector (audience
 * podflow), which proves the pod's heartbeats (docs/attribution.md); the
 * kubelet rotates it before it expires.
 */
#define ADMISSION_IDENTITY_DIR	    "/var/run/secrets/podflow-identity"
#define ADMISSION_IDENTITY_FILE	    ADMISSION_IDENTITY_DIR "/token"
#define ADMISSION_IDENTITY_AUDIENCE "podflow"
#define ADMISSION_IDENTITY_SECONDS  600
#define ADMISSION_PODINFO_DIR	    "/etc/podinfo"
#define ADMISSION_PODINFO_LABELS    ADMISSION_PODINFO_DIR "/labels"

/*
 * What the answer was, one value per metric series:
 * podflow_collector_webhook_reviews_total{outcome, reason}.
 */
enum admission_reason {
	/* outcome "injected" */
	ADMISSION_INJECTED_NATIVE,    /* native_sidecar: an init container, restartPolicy Always */
	ADMISSION_INJECTED_CONTAINER, /* container: a regular container, placed first */
	/* outcome "skipped" */
	ADMISSION_SKIP_NOT_CREATE,
	ADMISSION_SKIP_ALREADY_INJECTED,
	ADMISSION_SKIP_OPTED_OUT,
	ADMISSION_SKIP_INVALID_ANNOTATION,
	ADMISSION_SKIP_COLLECTOR,
	ADMISSION_SKIP_HOST_NETWORK,
	ADMISSION_SKIP_NAME_CONFLICT,
	/* outcome "error": nothing injected, the pod allowed all the same */
	ADMISSION_ERR_MALFORMED_JSON,	   /* not JSON (garbage, truncated, duplicate keys) */
	ADMISSION_ERR_MALFORMED_REVIEW,	   /* not an AdmissionReview with a request and a uid */
	ADMISSION_ERR_UNSUPPORTED_VERSION, /* apiVersion other than admission.k8s.io/v1 */
	ADMISSION_ERR_NOT_A_POD,	   /* a review of something else than creating a Pod */
	ADMISSION_ERR_MALFORMED_POD, /* the object is not a Pod with metadata and containers */
	ADMISSION_ERR_OVER_LIMITS,   /* more containers, volumes or longer names than bounded */
	ADMISSION_ERR_INTERNAL,	     /* out of memory building the answer */
	ADMISSION_REASON__COUNT,
};

enum admission_outcome {
	ADMISSION_OUTCOME_INJECTED,
	ADMISSION_OUTCOME_SKIPPED,
	ADMISSION_OUTCOME_ERROR,
	ADMISSION_OUTCOME__COUNT,
};

/* "native_sidecar", "already_injected", "malformed_json", ...: the metric's label values. */
const char *admission_reason_name(enum admission_reason r);
enum admission_outcome admission_reason_outcome(enum admission_reason r);
/* "injected", "skipped", "error". */
const char *admission_outcome_name(enum admission_outcome o);

/* What the patch injects (the inject.* keys; borrowed strings). */
struct admission_opts {
	const char *image;
	const char *pull_policy; /* Always, IfNotPresent, Never */
	bool native_sidecar;
	const char *collector_url;
	const char *config_map;	  /* NULL or "": no ConfigMap volume, no --config */
	const char *token_secret; /* NULL or "": no token volume, no --token-file */
	const char *cpu_request;  /* Kubernetes quantities; NULL or "": not set */
	const char *memory_request;
	const char *cpu_limit;
	const char *memory_limit;
};

/*
 * Checks the options as a patch would carry them, so that a patched pod is
 * never refused by the API server for our sake (which would fail the pod's
 * creation whatever the failurePolicy): the image non-empty without
 * whitespace, a known pull policy, an http(s) URL, DNS-1123 names,
 * quantities (a request not above its limit).  0 or -EINVAL with
 * "inject.KEY: why" in `why`.
 */
int admission_check_opts(const struct admission_opts *o, char *why, size_t whylen);

/*
 * A Kubernetes quantity ("20m", "32Mi", "1.5", "2G", "1e3") as a number of
 * base units; 0 or -EINVAL.  Only the canonical suffixes: m, k, M, G, T, P,
 * E, Ki, Mi, Gi, Ti, Pi, Ei, or an exponent e/E<n>; no sign.
 */
int admission_quantity(const char *s, long double *out);

struct admission_result {
	enum admission_reason reason;
	char *response;	     /* malloc'd AdmissionReview JSON; NULL only out of memory */
	size_t response_len; /* its length */
	char *patch;	     /* malloc'd JSON Patch (before base64); NULL unless injected */
	char subject[ADMISSION_MAX_NAME * 2 + 8]; /* "namespace/name" (or generateName*), or "" */
	char warning[ADMISSION_MAX_WARNING];	  /* the response's warning, or "" */
};

/*
 * Decides on one AdmissionReview (`len` bytes, no NUL needed) and writes
 * the answer.  Always fills `r` (free with admission_result_free); returns
 * 0, or -ENOMEM when not even the answer could be built (r->response NULL,
 * reason ADMISSION_ERR_INTERNAL).
 */
int admission_review(const char *body, size_t len, const struct admission_opts *o,
		     struct admission_result *r);
void admission_result_free(struct admission_result *r);

/* A JSON Pointer reference token (RFC 6901 section 3): '~' as "~0", '/' as "~1". 0 or -ENOSPC. */
int admission_pointer_escape(const char *key, char *out, size_t len);

#endif /* PODFLOW_ADMISSION_H */
