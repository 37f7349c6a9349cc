// SPDX-License-Identifier: BSD-2-Clause
/* The flow record's JSON form: the field names are the stable contract of DESIGN.md. */
#include "flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ip.h"
#include "jsonw.h"

const char *flow_err_name(uint16_t err, char *buf, unsigned long len)
{
	static const struct {
		uint16_t err;
		const char *name;
	} names[] = {
		{ ECONNREFUSED, "ECONNREFUSED" },
		{ ETIMEDOUT, "ETIMEDOUT" },
		{ ECONNRESET, "ECONNRESET" },
		{ EHOSTUNREACH, "EHOSTUNREACH" },
		{ ENETUNREACH, "ENETUNREACH" },
		{ ECONNABORTED, "ECONNABORTED" },
		{ EPIPE, "EPIPE" },
		{ EPROTO, "EPROTO" },
		{ ENETDOWN, "ENETDOWN" },
		{ EHOSTDOWN, "EHOSTDOWN" },
	};

	if (err == 0)
		return "";
	for (unsigned int i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].err == err)
			return names[i].name;
	snprintf(buf, len, "E%u", err);
	return buf;
}

const char *flow_direction_name(uint8_t direction)
{
	return direction == FLOW_DIRECTION_IN ? "in" : "out";
}

const char *flow_source_name(enum flow_source src)
{
	switch (src) {
	case FLOW_SOURCE_HEARTBEAT:
		return "heartbeat";
	case FLOW_SOURCE_KUBE:
		return "kube";
	case FLOW_SOURCE_SONAR:
		return "sonar";
	case FLOW_SOURCE_UNATTRIBUTED:
	case FLOW_SOURCE__COUNT:
		break;
	}
	return "unattributed";
}

/*
 * The record is written in one pass into room reserved once for all of its
 * bounded fields (keys, numbers, addresses, comm, container id), then the
 * container name and the two identities (cached fragments or written in
 * place), then the tail: no call, strlen or escape check per key.  Its bytes
 * are exactly those of the jsonw__kv_* calls it replaced, field for field
 * (tests/unit/test_jsonw.c compares the two on tricky strings).
 */

#define LIT(o, s) ((char *)memcpy((o), (s), sizeof(s) - 1) + sizeof(s) - 1)
#define IP_TEXT	  64 /* ip_format's buffer */
#define ERR_TEXT  16 /* flow_err_name's */
/* keys and punctuation of the bounded part, generously; its values at their longest */
#define HEAD_KEYS 512
#define HEAD_MAX                                                                          \
	(HEAD_KEYS + 17 * JSONW_U64_MAX + JSONW_STR_MAX(3) + 2 * JSONW_STR_MAX(IP_TEXT) + \
	 JSONW_STR_MAX(ERR_TEXT) + JSONW_STR_MAX(FLOW_COMM_SIZE) +                        \
	 JSONW_STR_MAX(FLOW_CONTAINER_ID_LEN))
#define TAIL_MAX (32 + JSONW_STR_MAX(16))

static const struct flow_identity no_identity = { 0 };
static const char no_container[] = "";

enum frag_kind {
	FRAG_CONTAINER,
	FRAG_LOCAL,
	FRAG_REMOTE,
};

static size_t slen(const char *s)
{
	return s ? strlen(s) : 0;
}

static char *put_s(char *o, const char *s)
{
	return jsonw_put_str(o, s ? s : "", slen(s));
}

static char *put_sn(char *o, const char *s, size_t max)
{
	return jsonw_put_str(o, s, strnlen(s, max));
}

/* The most bytes frag_write writes for p. */
static size_t frag_max(enum frag_kind kind, const void *p)
{
	const struct flow_identity *id = p;

	switch (kind) {
	case FRAG_CONTAINER:
		return 16 + JSONW_STR_MAX(slen(p));
	case FRAG_LOCAL:
		return 96 + JSONW_STR_MAX(slen(id->app)) + JSONW_STR_MAX(slen(id->namespace)) +
		       JSONW_STR_MAX(slen(id->pod)) + JSONW_STR_MAX(slen(id->node)) +
		       JSONW_STR_MAX(slen(id->workload));
	case FRAG_REMOTE:
		return 96 + JSONW_STR_MAX(slen(id->app)) + JSONW_STR_MAX(slen(id->namespace)) +
		       JSONW_STR_MAX(slen(id->pod)) + JSONW_STR_MAX(slen(id->workload));
	}
	return 0;
}

/* ,"container":"..." or one side's identity fields, at o; returns the end. */
static char *frag_write(char *o, enum frag_kind kind, const void *p)
{
	const struct flow_identity *id = p;

	switch (kind) {
	case FRAG_CONTAINER:
		o = LIT(o, ",\"container\":");
		return put_s(o, p);
	case FRAG_LOCAL:
		o = put_s(LIT(o, ",\"local_app\":"), id->app);
		o = put_s(LIT(o, ",\"local_namespace\":"), id->namespace);
		o = put_s(LIT(o, ",\"local_pod\":"), id->pod);
		o = put_s(LIT(o, ",\"local_node\":"), id->node);
		return put_s(LIT(o, ",\"local_workload\":"), id->workload);
	case FRAG_REMOTE:
		o = put_s(LIT(o, ",\"remote_app\":"), id->app);
		o = put_s(LIT(o, ",\"remote_namespace\":"), id->namespace);
		o = put_s(LIT(o, ",\"remote_pod\":"), id->pod);
		return put_s(LIT(o, ",\"remote_workload\":"), id->workload);
	}
	return o;
}

/* ---- the cache ------------------------------------------------------------------ */

#define CACHE_SLOTS 512		      /* a power of two */
#define CACHE_MAX   (CACHE_SLOTS / 2) /* fragments per batch; past it, written in place */
#define ARENA_MAX   (4u << 20)	      /* their bytes, likewise */

struct flow_json_cache {
	struct slot {
		const void *p;
		uint32_t gen; /* the slot is in use when it is the cache's */
		uint8_t kind;
		uint32_t off, len;
	} slot[CACHE_SLOTS];
	uint32_t gen, used;
	char *arena;
	size_t arena_len, arena_cap;
};

struct flow_json_cache *flow_json_cache__new(void)
{
	struct flow_json_cache *c = calloc(1, sizeof(*c));

	if (c)
		c->gen = 1;
	return c;
}

void flow_json_cache__free(struct flow_json_cache *c)
{
	if (!c)
		return;
	free(c->arena);
	free(c);
}

void flow_json_cache__reset(struct flow_json_cache *c)
{
	if (!c)
		return;
	c->used = 0;
	c->arena_len = 0;
	if (++c->gen == 0) { /* wrapped: no slot may look current */
		memset(c->slot, 0, sizeof(c->slot));
		c->gen = 1;
	}
}

/* The fragment of (kind, p), made on first use; NULL when the cache is full. */
static const struct slot *cache_get(struct flow_json_cache *c, enum frag_kind kind, const void *p)
{
	uint64_t h = ((uint64_t)(uintptr_t)p ^ (uint64_t)kind) * 0x9e3779b97f4a7c15ull;
	uint32_t i = (uint32_t)(h >> 32) & (CACHE_SLOTS - 1);
	struct slot *s;
	size_t max;

	for (;; i = (i + 1) & (CACHE_SLOTS - 1)) {
		s = &c->slot[i];
		if (s->gen != c->gen)
			break;
		if (s->p == p && s->kind == kind)
			return s;
	}
	if (c->used >= CACHE_MAX)
		return NULL;
	max = frag_max(kind, p);
	if (c->arena_len + max > c->arena_cap) {
		size_t cap = c->arena_cap ? 2 * c->arena_cap : 16384;
		char *a;

		while (cap < c->arena_len + max)
			cap *= 2;
		if (cap > ARENA_MAX)
			return NULL;
		a = realloc(c->arena, cap);
		if (!a)
			return NULL;
		c->arena = a;
		c->arena_cap = cap;
	}
	s->p = p;
	s->kind = (uint8_t)kind;
	s->gen = c->gen;
	s->off = (uint32_t)c->arena_len;
	s->len =
	    (uint32_t)(frag_write(c->arena + c->arena_len, kind, p) - (c->arena + c->arena_len));
	c->arena_len += s->len;
	c->used++;
	return s;
}

static void put_frag(struct jsonw *jw, struct flow_json_cache *c, enum frag_kind kind,
		     const void *p)
{
	const struct slot *s = c ? cache_get(c, kind, p) : NULL;
	char *o;

	if (s) {
		jsonw__raw(jw, c->arena + s->off, s->len);
		return;
	}
	o = jsonw__room(jw, frag_max(kind, p));
	if (o)
		jsonw__commit(jw, frag_write(o, kind, p));
}

/* ---- the record ----------------------------------------------------------------- */

void flow_record_json_cached(const struct flow_record *r, struct jsonw *jw,
			     struct flow_json_cache *c)
{
	char ip[IP_TEXT], errbuf[ERR_TEXT];
	char *o = jsonw__room(jw, HEAD_MAX);

	if (!o)
		return;
	o = jsonw_put_u64(LIT(o, "{\"start_ms\":"), r->start_ms);
	o = jsonw_put_u64(LIT(o, ",\"end_ms\":"), r->end_ms);
	o = jsonw_put_u64(LIT(o, ",\"family\":"), r->family);
	o = put_s(LIT(o, ",\"direction\":"), flow_direction_name(r->direction));
	o = put_s(LIT(o, ",\"local_ip\":"), ip_format(r->local_addr, ip, sizeof(ip)));
	o = jsonw_put_u64(LIT(o, ",\"local_port\":"), r->local_port);
	o = put_s(LIT(o, ",\"remote_ip\":"), ip_format(r->remote_addr, ip, sizeof(ip)));
	o = jsonw_put_u64(LIT(o, ",\"remote_port\":"), r->remote_port);
	o = jsonw_put_u64(LIT(o, ",\"flows\":"), r->flows);
	o = jsonw_put_u64(LIT(o, ",\"closed\":"), r->closed);
	o = jsonw_put_u64(LIT(o, ",\"failed\":"), r->failed);
	o = put_s(LIT(o, ",\"error\":"), flow_err_name(r->err, errbuf, sizeof(errbuf)));
	o = jsonw_put_u64(LIT(o, ",\"bytes_sent\":"), r->bytes_sent);
	o = jsonw_put_u64(LIT(o, ",\"bytes_received\":"), r->bytes_received);
	o = jsonw_put_u64(LIT(o, ",\"segs_sent\":"), r->segs_sent);
	o = jsonw_put_u64(LIT(o, ",\"segs_received\":"), r->segs_received);
	o = jsonw_put_u64(LIT(o, ",\"retransmits\":"), r->retransmits);
	o = jsonw_put_u64(LIT(o, ",\"resets\":"), r->resets);
	o = jsonw_put_u64(LIT(o, ",\"srtt_us\":"), r->srtt_us);
	o = jsonw_put_u64(LIT(o, ",\"min_rtt_us\":"), r->min_rtt_us);
	o = jsonw_put_u64(LIT(o, ",\"pid\":"), r->pid);
	o = put_sn(LIT(o, ",\"comm\":"), r->comm, sizeof(r->comm));
	o = jsonw_put_u64(LIT(o, ",\"cgroup_id\":"), r->cgroup_id);
	o = put_sn(LIT(o, ",\"container_id\":"), r->container_id, sizeof(r->container_id));
	jsonw__commit(jw, o);
	put_frag(jw, c, FRAG_CONTAINER, r->container ? r->container : no_container);
	put_frag(jw, c, FRAG_LOCAL, r->local ? r->local : &no_identity);
	put_frag(jw, c, FRAG_REMOTE, r->remote ? r->remote : &no_identity);
	o = jsonw__room(jw, TAIL_MAX);
	if (!o)
		return;
	o = put_s(LIT(o, ",\"remote_source\":"), flow_source_name(r->remote_source));
	*o++ = '}';
	jsonw__commit(jw, o);
}

void flow_record_json(const struct flow_record *r, struct jsonw *jw)
{
	flow_record_json_cached(r, jw, NULL);
}
