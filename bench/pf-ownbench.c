// SPDX-License-Identifier: BSD-2-Clause
/*
 * pf-ownbench: what one own_lookup costs at scale -- N addresses with R
 * ranges each, random (address, time) lookups on one thread -- next to a
 * plain hash of the same 16-byte keys, the floor any per-address lookup pays.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * The Makefile links bench tools with lib/ only, never the collector (they
 * need the collector's own libraries), and the store is one self-contained
 * file: compile it in rather than add a rule for one tool.
 */
#include "../collector/attribution/ownership.c"

#define OB_IDENTITIES 5000
#define OB_T0	      1700000000000LL /* Unix ms, Nov 2023 */
#define OB_MIN_MS     60000LL	      /* a range lasts 1 min .. */
#define OB_MAX_MS     3600000LL	      /* .. to 1 h */
#define OB_GAP_MS     600000LL	      /* gaps between ranges up to 10 min */
#define OB_QUERIES    (1u << 21)      /* distinct lookups, replayed in a loop */
#define OB_MISS_PCT   10	      /* lookups of addresses never seen */
#define OB_CHUNK      4096	      /* lookups between two clock reads */
#define EXIT_USAGE    2

struct ob_cfg {
	uint64_t ips;
	uint64_t ranges;
	uint64_t seconds;
	uint64_t seed;
};

static const struct ob_cfg ob_defaults = {
	.ips = 1000000,
	.ranges = 4,
	.seconds = 3,
	.seed = 1,
};

struct query {
	uint8_t ip[16];
	int64_t t;
};

/* Read by nobody: the compiler must still compute every result. */
volatile uint64_t ob_sink;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64: fast, and the same sequence for the same --seed. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int64_t rnd_between(uint64_t *s, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rnd(s) % (uint64_t)(hi - lo + 1));
}

/* 80% v4-mapped (any IPv4 address), 20% in fd00::/8. */
static void random_ip(uint64_t *s, uint8_t ip[16])
{
	uint64_t a = rnd(s), b = rnd(s);

	if (rnd(s) % 100 < 80) {
		memset(ip, 0, 10);
		ip[10] = 0xff;
		ip[11] = 0xff;
		memcpy(ip + 12, &a, 4);
	} else {
		memcpy(ip, &a, 8);
		memcpy(ip + 8, &b, 8);
		ip[0] = 0xfd;
	}
}

/* Pod-like identities, strings the length real ones have. */
static struct flow_identity *make_identities(char **store_out)
{
	struct flow_identity *ids = calloc(OB_IDENTITIES, sizeof(*ids));
	char *buf = malloc((size_t)OB_IDENTITIES * 256), *p = buf;
	static const char *const zones[] = { "us-east-1a", "us-east-1b", "us-east-1c" };

	if (!ids || !buf) {
		free(ids);
		free(buf);
		return NULL;
	}
	for (unsigned i = 0; i < OB_IDENTITIES; i++) {
		unsigned app = i / 5; /* five replicas per app */

		ids[i].app = p;
		p += sprintf(p, "svc-%04u", app) + 1;
		ids[i].namespace = p;
		p += sprintf(p, "team-%02u", app % 60) + 1;
		ids[i].workload = p;
		p += sprintf(p, "svc-%04u-7d9f8c6b5", app) + 1;
		ids[i].pod = p;
		p += sprintf(p, "svc-%04u-7d9f8c6b5-%05x", app, i * 2654435761u & 0xfffff) + 1;
		ids[i].node = p;
		p += sprintf(p, "ip-10-%u-%u-%u.ec2.internal", i % 7, i % 251, i % 239) + 1;
		ids[i].account = "123456789012";
		ids[i].region = "us-east-1";
		ids[i].zone = zones[i % 3];
	}
	*store_out = buf;
	return ids;
}

/* --- the floor: the same keys in a plain open-addressing hash ---------------- */

struct plain_slot {
	uint8_t key[16];
	uint64_t val; /* 0: empty */
};

struct plain {
	struct plain_slot *slots;
	uint64_t mask;
};

/* As the store's table: ip_hash, linear probing, the same capacity (so the same load). */
static int plain_build(struct plain *h, const struct own_store *st)
{
	h->mask = st->mask;
	h->slots = calloc(h->mask + 1, sizeof(*h->slots));
	if (!h->slots)
		return -ENOMEM;
	for (uint64_t i = 0; i <= st->mask; i++) {
		uint64_t j;

		if (!st->slots[i].rec)
			continue;
		for (j = ip_hash(st->slots[i].key) & h->mask; h->slots[j].val;
		     j = (j + 1) & h->mask)
			;
		memcpy(h->slots[j].key, st->slots[i].key, 16);
		h->slots[j].val = i + 1;
	}
	return 0;
}

static inline uint64_t plain_get(const struct plain *h, const uint8_t ip[16])
{
	for (uint64_t i = ip_hash(ip) & h->mask;; i = (i + 1) & h->mask) {
		const struct plain_slot *s = &h->slots[i];

		if (!s->val || !memcmp(s->key, ip, 16))
			return s->val;
	}
}

/* --- command line ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f, "usage: pf-ownbench [--ips N] [--ranges R] [--seconds S] [--seed X]\n"
		   "  --ips N      addresses in the store (default 1000000)\n"
		   "  --ranges R   ranges per address, spans and events mixed (default 4)\n"
		   "  --seconds S  how long lookups are timed (default 3)\n"
		   "  --seed X     random seed (default 1)\n");
}

/* strtoull alone accepts "-1" (as ULLONG_MAX) and trailing junk: refuse both. */
static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || v < min || v > max) {
		fprintf(stderr,
			"pf-ownbench: %s: '%s' is not a number in [%" PRIu64 ", %" PRIu64 "]\n",
			opt, s, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct ob_cfg *cfg)
{
	static const struct option opts[] = {
		{ "ips", required_argument, NULL, 'n' },
		{ "ranges", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, err = 0;

	while (!err && (opt = getopt_long(argc, argv, "n:r:s:x:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			err = parse_u64("--ips", optarg, 1, 100000000, &cfg->ips);
			break;
		case 'r':
			err = parse_u64("--ranges", optarg, 1, 1000, &cfg->ranges);
			break;
		case 's':
			err = parse_u64("--seconds", optarg, 1, 3600, &cfg->seconds);
			break;
		case 'x':
			err = parse_u64("--seed", optarg, 0, UINT64_MAX, &cfg->seed);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL; /* getopt_long printed why */
		}
	}
	if (!err && optind < argc) {
		fprintf(stderr, "pf-ownbench: unexpected argument '%s'\n", argv[optind]);
		err = -EINVAL;
	}
	if (err)
		usage(stderr);
	return err;
}

/* --- main -------------------------------------------------------------------- */

/*
 * Each address gets `ranges` pieces of evidence along its own timeline:
 * heartbeat spans (45%), kube ASSIGNs (35%, each ended by the next kube
 * event), kube UNASSIGNs (10%) and sonar ASSIGNs (10%), with gaps between,
 * each naming a random identity.  Returns the end of the timeline.
 */
static int64_t fill_one(struct own_store *st, const uint8_t ip[16], const struct flow_identity *ids,
			uint64_t ranges, uint64_t *s, uint64_t *refused)
{
	int64_t t = OB_T0 + rnd_between(s, 0, OB_GAP_MS);

	for (uint64_t k = 0; k < ranges; k++) {
		const struct flow_identity *id = &ids[rnd(s) % OB_IDENTITIES];
		int64_t d = rnd_between(s, OB_MIN_MS, OB_MAX_MS);
		unsigned kind = (unsigned)(rnd(s) % 100);
		int err;

		if (kind < 45)
			err = own_span(st, FLOW_SOURCE_HEARTBEAT, ip, id, t, t + d);
		else if (kind < 80)
			err = own_assign(st, FLOW_SOURCE_KUBE, ip, id, t);
		else if (kind < 90)
			err = own_unassign(st, FLOW_SOURCE_KUBE, ip, NULL, t);
		else
			err = own_assign(st, FLOW_SOURCE_SONAR, ip, id, t);
		*refused += err != 0;
		t += d + rnd_between(s, 0, OB_GAP_MS);
	}
	return t;
}

int main(int argc, char **argv)
{
	struct ob_cfg cfg = ob_defaults;
	struct flow_identity *ids = NULL;
	struct own_store *st = NULL;
	struct query *q = NULL;
	struct plain plain = { 0 };
	struct own_stats os;
	uint64_t s, refused = 0, n = 0, verdicts[3] = { 0 }, conflicts = 0, sink = 0;
	int64_t *ends = NULL;
	uint8_t(*ips)[16] = NULL;
	char *id_strings = NULL;
	double t0, build_s, look_s, plain_s;
	int rc = 1;

	if (parse_args(argc, argv, &cfg))
		return EXIT_USAGE;
	s = cfg.seed;
	ids = make_identities(&id_strings);
	ips = malloc(cfg.ips * sizeof(*ips));
	ends = malloc(cfg.ips * sizeof(*ends));
	q = malloc(OB_QUERIES * sizeof(*q));
	/* room for everything: this measures lookups, not eviction */
	st = own_store__new(&(struct own_limits){ .max_ranges = cfg.ips * cfg.ranges + 1 });
	if (!ids || !ips || !ends || !q || !st) {
		fprintf(stderr, "pf-ownbench: out of memory\n");
		goto cleanup;
	}

	t0 = now_s();
	for (uint64_t i = 0; i < cfg.ips; i++) {
		random_ip(&s, ips[i]);
		ends[i] = fill_one(st, ips[i], ids, cfg.ranges, &s, &refused);
	}
	build_s = now_s() - t0;
	if (refused) {
		fprintf(stderr, "pf-ownbench: %" PRIu64 " pieces of evidence refused\n", refused);
		goto cleanup;
	}
	own_stats(st, &os);

	/* a known address at a time within (or just past) its timeline, or a stranger */
	for (uint32_t i = 0; i < OB_QUERIES; i++) {
		if (rnd(&s) % 100 < OB_MISS_PCT) {
			random_ip(&s, q[i].ip);
			q[i].t = rnd_between(&s, OB_T0, OB_T0 + OB_MAX_MS);
		} else {
			uint64_t k = rnd(&s) % cfg.ips;

			memcpy(q[i].ip, ips[k], 16);
			q[i].t = rnd_between(&s, OB_T0 - OB_GAP_MS, ends[k] + OB_GAP_MS);
		}
	}

	t0 = now_s();
	for (;;) {
		for (uint32_t i = 0; i < OB_CHUNK; i++) {
			const struct query *x = &q[(n + i) & (OB_QUERIES - 1)];
			struct own_answer a;
			enum own_verdict v = own_lookup(st, x->ip, x->t, &a);

			verdicts[v]++;
			conflicts += a.conflict;
			sink += (uintptr_t)a.id;
		}
		n += OB_CHUNK;
		look_s = now_s() - t0;
		if (look_s >= (double)cfg.seconds)
			break;
	}

	if (plain_build(&plain, st)) {
		fprintf(stderr, "pf-ownbench: out of memory\n");
		goto cleanup;
	}
	t0 = now_s();
	for (uint64_t i = 0; i < n; i++)
		sink += plain_get(&plain, q[i & (OB_QUERIES - 1)].ip);
	plain_s = now_s() - t0;
	ob_sink = sink;

	printf("pf-ownbench: %" PRIu64 " addresses x %" PRIu64
	       " ranges, %u identities, seed %" PRIu64 "\n\n",
	       cfg.ips, cfg.ranges, OB_IDENTITIES, cfg.seed);
	printf("  build\n");
	printf("    %-26s %14" PRIu64 "  in %.2f s (%.0f ns each)\n", "evidence applied",
	       cfg.ips * cfg.ranges, build_s, build_s * 1e9 / (double)(cfg.ips * cfg.ranges));
	printf("    %-26s %14" PRIu64 "\n", "addresses", os.ips);
	printf("    %-26s %14" PRIu64 "  (%" PRIu64 " folded as duplicates)\n", "ranges held",
	       os.ranges, os.duplicates);
	printf("    %-26s %14" PRIu64 "\n", "identities", os.identities);
	printf("    %-26s %14.1f MiB (%.1f bytes per range, %.1f per address)\n", "memory held",
	       (double)os.bytes / 1048576.0, (double)os.bytes / (double)os.ranges,
	       (double)os.bytes / (double)os.ips);
	printf("\n  lookups, one thread, %" PRIu64 " each (random address and time)\n", n);
	printf("    %-26s %14s %12s\n", "", "lookups/s", "ns/lookup");
	printf("    %-26s %12.2f M %12.1f\n", "own_lookup", (double)n / look_s / 1e6,
	       look_s * 1e9 / (double)n);
	printf("    %-26s %12.2f M %12.1f\n", "plain hash, 16-byte keys", (double)n / plain_s / 1e6,
	       plain_s * 1e9 / (double)n);
	printf("    %-26s %14s %11.2fx\n", "own_lookup / plain", "", look_s / plain_s);
	printf("\n  verdicts: found %.1f%%, wait %.1f%%, none %.1f%% (conflict %.2f%%)\n",
	       100.0 * (double)verdicts[OWN_FOUND] / (double)n,
	       100.0 * (double)verdicts[OWN_WAIT] / (double)n,
	       100.0 * (double)verdicts[OWN_NONE] / (double)n,
	       100.0 * (double)conflicts / (double)n);
	rc = 0;
cleanup:
	own_store__free(st);
	free(plain.slots);
	free(q);
	free(ends);
	free(ips);
	free(ids);
	free(id_strings);
	return rc;
}
