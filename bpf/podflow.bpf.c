// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Cgroup-scoped TCP flow capture: sockops on the scope cgroup, reports per flow. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "flow_event.h"
#include "podflow.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Tunables, set by user space between open and load. */
const volatile __u32 self_tgid = 0;	   /* the sidecar's own connections are never reported */
const volatile __u64 wakeup_bytes = 65536; /* ring fill that forces a reader wakeup */
const volatile __u64 iter_reserve = 8192;  /* free ring bytes the interval walk keeps */
const volatile __u32 fast_mask = FLOW_FAST_SLOTS_MAX - 1; /* the fast slots' count - 1 */

struct flow_kstats kstats = {};
struct flow_controls controls = {}; /* .bss, written live by user space */

/* Service ports whose connections are not tracked: one bit per port. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[FLOW_PORT_WORDS]);
} ignore_ports SEC(".maps");

/* Peers whose connections are not tracked. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 64);
	__type(key, struct flow_cidr_key);
	__type(value, __u8);
} ignore_cidrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); /* resized by user space before load */
} events SEC(".maps");

/*
 * Live connections in scope, keyed by socket cookie.  Not sk_storage: a
 * per-socket storage allocation, its copy to every accepted child and its
 * RCU-deferred free cost ~8 us per connection here (docs/performance.md);
 * a hash entry costs a fraction of that.  Every entry is deleted at
 * TCP_CLOSE, which the kernel guarantees before it frees a socket that left
 * TCP_CLOSE (inet_csk_destroy_sock() warns otherwise).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	/*
	 * Not preallocated: a pod's sidecar holds (and its memory cgroup is
	 * charged) what its open connections use, ~160 B each, not
	 * max_entries' worth from the start (10 MB at the default 65536);
	 * preallocation was no faster (docs/performance.md).
	 */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536); /* resized by user space before load */
	__type(key, __u64);
	__type(value, struct flow_state);
} flows SEC(".maps");

/*
 * The flows' fast path: a direct-mapped table of slots indexed by the
 * cookie's low bits.  A connection claims its slot with one compare-and-
 * swap and frees it with one exchange, without the hash map's bucket lock,
 * allocation and free (about 1.5 us less kernel time per connection,
 * docs/performance.md); one whose slot is taken goes to `flows`
 * (flows_spilled).  A flow is in exactly one of the two: where the slot
 * holds another cookie, `flows` is the place to look.  Cookies come from
 * per-CPU runs of consecutive numbers, so a pod's short-lived connections
 * cycle through the slots and rarely meet.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOW_FAST_SLOTS_MAX); /* resized by user space before load */
	__type(key, __u32);
	__type(value, struct flow_slot);
} fast SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct listener_key);
	__type(value, struct listener_info);
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct closed_flow);
} closed SEC(".maps");

/*
 * Folded closes (aggregate mode): per-CPU sums per record key, in the table
 * `folds` points to.  At each cut user space points `folds` at the other,
 * empty, table; the kernel returns from that update only once every program
 * that could still hold the old table has finished (map-in-map updates wait
 * for an RCU grace period), so user space then reads and empties the old
 * one with no writer left.  A close costs a lookup and a few adds on this
 * CPU's copy instead of an event written to the ring (docs/performance.md).
 */
struct fold_table {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, FLOW_FOLD_KEYS_DEFAULT); /* resized by user space before load */
	__type(key, struct flow_fold_key);
	__type(value, struct flow_fold);
} fold_a SEC(".maps"), fold_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct fold_table);
} folds SEC(".maps") = {
	.values = { &fold_a },
};

static __always_inline struct flow_slot *fast_slot(__u64 cookie)
{
	__u32 i = (__u32)cookie & fast_mask;

	return bpf_map_lookup_elem(&fast, &i);
}

/*
 * The flow of this socket cookie, in its fast slot or in `flows`; NULL: not
 * ours.  *in_slot (if asked for) is the slot holding it, NULL when in `flows`.
 */
static __always_inline struct flow_state *flow_lookup(__u64 cookie, struct flow_slot **in_slot)
{
	struct flow_slot *s = fast_slot(cookie);

	if (s && s->cookie == cookie) {
		if (in_slot)
			*in_slot = s;
		return &s->st;
	}
	if (in_slot)
		*in_slot = NULL;
	return bpf_map_lookup_elem(&flows, &cookie);
}

static __always_inline void ring_fill_note(void)
{
	__u64 fill = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	/* a racy max is fine: it is a gauge for operators, not an accounting */
	if (fill > kstats.ring_fill_max)
		kstats.ring_fill_max = fill;
}

static __always_inline long ring_flags(void)
{
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes) {
		__sync_fetch_and_add(&kstats.wakeups, 1);
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}

/*
 * Cumulative counters of a full TCP socket, read in place (BTF pointer,
 * CO-RE).  Payload, not sequence space: bytes_acked counts the SYN and FIN
 * and bytes_received the FIN, so sent = bytes_sent - bytes_retrans (unique
 * payload put on the wire) and received drops the FIN once tcp_fin() has
 * set SOCK_DONE.
 */
static __always_inline void read_counters(struct tcp_sock *tp, struct sock_counters *c)
{
	__u64 received = tp->bytes_received;
	__u32 min_rtt = tp->rtt_min.s[0].v;

	if (tp->inet_conn.icsk_inet.sk.__sk_common.skc_flags &
	    (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE)))
		received--;
	c->bytes_sent = tp->bytes_sent - tp->bytes_retrans;
	c->bytes_received = received;
	c->segs_out = tp->segs_out;
	c->segs_in = tp->segs_in;
	c->total_retrans = tp->total_retrans;
	c->srtt_us = tp->srtt_us >> 3;		      /* stored <<3, see tcp_rtt_estimator() */
	c->min_rtt_us = min_rtt == ~0U ? 0 : min_rtt; /* ~0U: no sample yet */
}

static __always_inline void read_tuple(struct tcp_sock *tp, struct sock_tuple *t)
{
	struct sock_common *skc = &tp->inet_conn.icsk_inet.sk.__sk_common;

	t->family = skc->skc_family;
	/* inet_sport, unlike skc_num, survives inet_put_port() at close */
	t->local_port = bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
	t->remote_port = bpf_ntohs(skc->skc_dport);
	if (t->family == AF_INET6) {
		BPF_CORE_READ_INTO(&t->local_addr, skc, skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&t->remote_addr, skc, skc_v6_daddr.in6_u.u6_addr8);
	} else {
		__u32 l = skc->skc_rcv_saddr, r = skc->skc_daddr;

		__builtin_memset(t->local_addr, 0, 10);
		__builtin_memset(t->remote_addr, 0, 10);
		t->local_addr[10] = t->local_addr[11] = 0xff;
		t->remote_addr[10] = t->remote_addr[11] = 0xff;
		__builtin_memcpy(&t->local_addr[12], &l, 4);
		__builtin_memcpy(&t->remote_addr[12], &r, 4);
	}
}

/*
 * cgroup v2 id of the socket's cgroup: its creator's, inherited by accepted
 * children.  Plain loads through the BTF pointers (faulting loads the
 * verifier makes safe), which cost a fraction of three probe-read calls.
 */
static __always_inline __u64 sock_cgroup_id(struct tcp_sock *tp)
{
	struct cgroup *cg = tp->inet_conn.icsk_inet.sk.sk_cgrp_data.cgroup;

	return cg ? cg->kn->id : 0;
}

/*
 * One event: deltas of `now` against what this flow already reported.
 * Returns 0, or -1 when the ring is full, which the caller counts: a close
 * or a late reset is lost (ring_full), the walk waits and retries
 * (iter_deferred).  The baseline is kept either way.
 */
static __always_inline int emit(__u64 cookie, struct flow_state *st,
				const struct sock_counters *now, const struct sock_tuple *t,
				__u8 kind, __u16 err)
{
	struct flow_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return -1;
	e->sock_id = cookie;
	e->cgroup_id = st->cgroup_id;
	e->start_ns = st->start_ns;
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->bytes_sent = now->bytes_sent - st->rep.bytes_sent;
	e->bytes_received = now->bytes_received - st->rep.bytes_received;
	/* u32 kernel counters: unsigned subtraction is right across a wrap */
	e->segs_sent = now->segs_out - st->rep.segs_out;
	e->segs_received = now->segs_in - st->rep.segs_in;
	e->retransmits = now->total_retrans - st->rep.total_retrans;
	e->resets = st->resets - st->rep_resets;
	e->srtt_us = now->srtt_us;
	e->min_rtt_us = now->min_rtt_us;
	e->pid = st->pid;
	e->local_port = t->local_port;
	e->remote_port = t->remote_port;
	__builtin_memcpy(e->local_addr, t->local_addr, 16);
	__builtin_memcpy(e->remote_addr, t->remote_addr, 16);
	__builtin_memcpy(e->comm, st->comm, FLOW_COMM_LEN);
	e->err = err;
	e->family = t->family;
	e->kind = kind;
	e->direction = st->direction;
	e->flags = (st->established ? FLOW_F_ESTABLISHED : 0) | (st->reported ? 0 : FLOW_F_FIRST);
	e->_pad[0] = e->_pad[1] = 0;
	st->rep = *now;
	st->rep_resets = st->resets;
	st->reported = 1;
	bpf_ringbuf_submit(e, ring_flags());
	ring_fill_note();
	return 0;
}

/*
 * True when configuration says to leave this connection alone: its service
 * port (the remote one for connect(), the local one for accept) or its
 * peer's address is in the filters.
 */
static __always_inline bool filtered(struct tcp_sock *tp, __u8 direction)
{
	struct sock_common *skc = &tp->inet_conn.icsk_inet.sk.__sk_common;
	struct flow_cidr_key key = { .prefixlen = 128 };
	__u32 zero = 0;
	__u64 *bits;
	__u16 port;

	port = direction == FLOW_DIRECTION_OUT ? bpf_ntohs(skc->skc_dport) : skc->skc_num;
	bits = bpf_map_lookup_elem(&ignore_ports, &zero);
	if (bits && (bits[(port >> 6) & (FLOW_PORT_WORDS - 1)] & (1ULL << (port & 63))))
		return true;
	if (skc->skc_family == AF_INET6) {
		BPF_CORE_READ_INTO(&key.addr, skc, skc_v6_daddr.in6_u.u6_addr8);
	} else {
		__u32 r = skc->skc_daddr;

		key.addr[10] = key.addr[11] = 0xff;
		__builtin_memcpy(&key.addr[12], &r, 4);
	}
	return bpf_map_lookup_elem(&ignore_cidrs, &key) != NULL;
}

static __always_inline void flow_begin(struct bpf_sock_ops *skops, struct tcp_sock *tp,
				       __u8 direction, const struct listener_info *owner)
{
	struct flow_state st = {};
	struct flow_slot *slot;
	__u64 cookie;

	if (controls.paused) {
		__sync_fetch_and_add(&kstats.paused, 1);
		return;
	}
	if (filtered(tp, direction)) {
		__sync_fetch_and_add(&kstats.filtered, 1);
		return;
	}
	cookie = bpf_get_socket_cookie(skops);
	st.cgroup_id = sock_cgroup_id(tp);
	st.start_ns = bpf_ktime_get_boot_ns();
	st.direction = direction;
	if (owner) {
		st.pid = owner->pid;
		__builtin_memcpy(st.comm, owner->comm, sizeof(st.comm));
	} else if (direction == FLOW_DIRECTION_OUT) {
		st.pid = bpf_get_current_pid_tgid() >> 32; /* connect() runs in its caller */
		bpf_get_current_comm(st.comm, sizeof(st.comm));
	}
	st.established = direction == FLOW_DIRECTION_IN;
	slot = fast_slot(cookie);
	if (slot && (slot->cookie == cookie ||
		     __sync_val_compare_and_swap(&slot->cookie, 0, cookie) == 0)) {
		/* this socket's own events are serialized by its lock: none reads it half written */
		slot->st = st;
	} else if (bpf_map_update_elem(&flows, &cookie, &st, BPF_ANY)) {
		__sync_fetch_and_add(&kstats.map_full, 1);
		return;
	} else {
		__sync_fetch_and_add(&kstats.flows_spilled, 1);
	}
	/* ask for BPF_SOCK_OPS_STATE_CB on this socket: TCP_CLOSE ends the flow */
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
	__sync_fetch_and_add(&kstats.flows_started, 1);
}

static __always_inline void listener_start(struct bpf_sock_ops *skops, struct tcp_sock *tp)
{
	struct listener_key key = { .netns_cookie = bpf_get_netns_cookie(skops),
				    .port = (__u16)skops->local_port };
	struct listener_info li = {};
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	li.cookie = bpf_get_socket_cookie(skops);
	li.cgroup_id = sock_cgroup_id(tp);
	li.pid = pid_tgid >> 32;
	li.ignore = li.pid == self_tgid;
	bpf_get_current_comm(li.comm, sizeof(li.comm));
	if (bpf_map_update_elem(&listeners, &key, &li, BPF_ANY)) {
		__sync_fetch_and_add(&kstats.listener_full, 1);
		return;
	}
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

static __always_inline void listener_stop(struct bpf_sock_ops *skops)
{
	struct listener_key key = { .netns_cookie = bpf_get_netns_cookie(skops),
				    .port = (__u16)skops->local_port };
	struct listener_info *li = bpf_map_lookup_elem(&listeners, &key);

	if (li && li->cookie == bpf_get_socket_cookie(skops))
		bpf_map_delete_elem(&listeners, &key);
}

/*
 * TCP_CLOSE straight from a synchronized state (not the orderly
 * FIN_WAIT2/LAST_ACK/CLOSING paths, not a failed connect) is an abort, a
 * reset or a timeout: tcp_disconnect() and __tcp_close() set TCP_CLOSE and
 * then send their RST, which must still be reported with this flow.
 */
static __always_inline bool abortive(int oldstate, struct tcp_sock *tp)
{
	struct sock *sk = &tp->inet_conn.icsk_inet.sk;
	bool linger0 = (sk->__sk_common.skc_flags &
			(1UL << bpf_core_enum_value(enum sock_flags, SOCK_LINGER))) &&
		       !sk->sk_lingertime;

	return oldstate == TCP_ESTABLISHED || oldstate == TCP_CLOSE_WAIT ||
	       oldstate == TCP_FIN_WAIT1 || oldstate == TCP_SYN_RECV ||
	       (oldstate == TCP_FIN_WAIT2 && linger0);
}

/*
 * *p = v unless `keep` holds for the value now (cur), against nested and
 * other runs: a failed swap means another close moved the value, so the
 * loop ends once it stands at least where this close puts it (eight tries,
 * never all needed, end it anyway).
 */
#define CAS_BOUND(name, type, keep)                                                  \
	static __always_inline void name(type *p, type v)                            \
	{                                                                            \
		for (int i = 0; i < 8; i++) {                                        \
			type cur = *(volatile type *)p;                              \
			if ((keep) || __sync_val_compare_and_swap(p, cur, v) == cur) \
				return;                                              \
		}                                                                    \
	}

CAS_BOUND(max_u64, __u64, cur >= v)
CAS_BOUND(min_u64, __u64, (cur && cur <= v)) /* 0: none yet */
CAS_BOUND(max_u32, __u32, cur >= v)
CAS_BOUND(min_u32, __u32, !v || (cur && cur <= v)) /* 0: no sample, or none yet */

/*
 * Adds a close to its record's sums on this CPU.  Returns 0, or -1 when
 * the table holds no room for a new key: the caller sends the close as an
 * event instead (fold_full), so nothing is lost.  Atomic adds: a softirq
 * close may interrupt a process-context one on this CPU, for the same key.
 */
static __always_inline int fold_close(const struct flow_state *st, const struct sock_counters *now,
				      const struct sock_tuple *t, __u32 err)
{
	struct flow_fold_key k = {};
	struct flow_fold *f;
	__u32 zero = 0;
	void *tab;

	tab = bpf_map_lookup_elem(&folds, &zero);
	if (!tab)
		return -1;
	k.cgroup_id = st->cgroup_id;
	k.direction = st->direction;
	__builtin_memcpy(k.local_addr, t->local_addr, 16);
	__builtin_memcpy(k.remote_addr, t->remote_addr, 16);
	if (st->direction == FLOW_DIRECTION_IN)
		k.local_port = t->local_port;
	else
		k.remote_port = t->remote_port;
	f = bpf_map_lookup_elem(tab, &k);
	if (!f) {
		struct flow_fold z = {};

		/* -EEXIST: a nested close made it first; full: no key, as below */
		bpf_map_update_elem(tab, &k, &z, BPF_NOEXIST);
		f = bpf_map_lookup_elem(tab, &k);
		if (!f)
			return -1;
	}
	if (__sync_val_compare_and_swap(&f->owner, 0, 1) == 0) {
		f->pid = st->pid;
		__builtin_memcpy(f->comm, st->comm, FLOW_COMM_LEN);
	}
	__sync_fetch_and_add(&f->bytes_sent, now->bytes_sent - st->rep.bytes_sent);
	__sync_fetch_and_add(&f->bytes_received, now->bytes_received - st->rep.bytes_received);
	/* u32 kernel counters: unsigned subtraction is right across a wrap */
	__sync_fetch_and_add(&f->segs_sent, (__u32)(now->segs_out - st->rep.segs_out));
	__sync_fetch_and_add(&f->segs_received, (__u32)(now->segs_in - st->rep.segs_in));
	__sync_fetch_and_add(&f->retransmits, now->total_retrans - st->rep.total_retrans);
	__sync_fetch_and_add(&f->resets, st->resets - st->rep_resets);
	if (!st->established)
		__sync_fetch_and_add(&f->failed, 1);
	if (err)
		__sync_val_compare_and_swap(&f->err, 0, err);
	min_u64(&f->start_ns, st->start_ns);
	max_u64(&f->end_ns, bpf_ktime_get_boot_ns());
	max_u32(&f->srtt_us, now->srtt_us);
	min_u32(&f->min_rtt_us, now->min_rtt_us);
	/* last: user space reads only after the swap, but a CPU's closed != 0 marks it used */
	__sync_fetch_and_add(&f->closed, 1);
	return 0;
}

static __always_inline void flow_end(struct bpf_sock_ops *skops, struct tcp_sock *tp, int oldstate)
{
	__u64 cookie = bpf_get_socket_cookie(skops);
	struct sock_counters now;
	struct flow_slot *slot;
	struct flow_state *st;
	struct sock_tuple t;
	bool abort, folded = false;

	st = flow_lookup(cookie, &slot);
	if (!st)
		return;
	read_counters(tp, &now);
	read_tuple(tp, &t);
	abort = abortive(oldstate, tp);
	/* an abortive close stays an event: a LATE reset may follow it (late_reset()) */
	if (controls.fold && !abort) {
		folded = fold_close(st, &now, &t, tp->inet_conn.icsk_inet.sk.sk_err) == 0;
		if (!folded)
			__sync_fetch_and_add(&kstats.fold_full, 1);
	}
	if (!folded &&
	    emit(cookie, st, &now, &t, FLOW_KIND_CLOSE, tp->inet_conn.icsk_inet.sk.sk_err))
		__sync_fetch_and_add(&kstats.ring_full, 1);
	__sync_fetch_and_add(&kstats.flows_closed, 1);
	if (abort) {
		/* rare by definition, so this copy costs nothing overall */
		struct closed_flow cf = { .st = *st, .t = t };

		cf.srtt_us = now.srtt_us;
		cf.min_rtt_us = now.min_rtt_us;
		bpf_map_update_elem(&closed, &cookie, &cf, BPF_ANY);
	}
	if (slot)
		/* an exchange: every write to the slot is done before another may claim it */
		__sync_lock_test_and_set(&slot->cookie, 0);
	else
		bpf_map_delete_elem(&flows, &cookie);
}

/*
 * Attached to the scope cgroup: the kernel runs it only for sockets whose
 * cgroup is the scope or below it (an accepted socket inherits its
 * listener's), so scoping costs nothing for the rest of the host.
 */
SEC("sockops")
int sock_ops(struct bpf_sock_ops *skops)
{
	struct listener_key lkey;
	struct listener_info *li;
	struct flow_state *st;
	struct bpf_sock *sk;
	struct tcp_sock *tp;
	__u64 cookie;

	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
	case BPF_SOCK_OPS_STATE_CB:
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		cookie = bpf_get_socket_cookie(skops);
		st = flow_lookup(cookie, NULL);
		if (st)
			st->established = 1;
		return 1;
	default:
		return 1; /* leave skops->reply alone: the kernel's defaults stand */
	}
	/* most state changes are not the close: leave before any other work */
	if (skops->op == BPF_SOCK_OPS_STATE_CB && skops->args[1] != TCP_CLOSE)
		return 1;
	sk = skops->sk;
	if (!sk)
		return 1;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 1;

	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		if ((__u32)(bpf_get_current_pid_tgid() >> 32) != self_tgid)
			flow_begin(skops, tp, FLOW_DIRECTION_OUT, NULL);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		/* softirq: the owner is whoever called listen() on this port */
		lkey.netns_cookie = bpf_get_netns_cookie(skops);
		lkey.port = (__u16)skops->local_port;
		__builtin_memset(lkey._pad, 0, sizeof(lkey._pad));
		li = bpf_map_lookup_elem(&listeners, &lkey);
		if (!li || !li->ignore)
			flow_begin(skops, tp, FLOW_DIRECTION_IN, li);
		break;
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		listener_start(skops, tp);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[0] == TCP_LISTEN)
			listener_stop(skops);
		else
			flow_end(skops, tp, (int)skops->args[0]);
		break;
	}
	return 1;
}

/* The socket's cookie if it has one (0: never asked for, so never ours). */
static __always_inline __u64 sk_cookie(struct sock_common *skc)
{
	return (__u64)skc->skc_cookie.counter;
}

/* An RST the kernel sent after the close reported the flow: a LATE event. */
static __always_inline void late_reset(__u64 cookie)
{
	struct closed_flow *cf = bpf_map_lookup_elem(&closed, &cookie);
	struct sock_counters now = {};
	struct flow_state st;

	if (!cf)
		return;
	st = cf->st;
	st.resets++;
	/* counters unchanged since the close: only the reset is new */
	now = st.rep;
	now.srtt_us = cf->srtt_us;
	now.min_rtt_us = cf->min_rtt_us;
	if (emit(cookie, &st, &now, &cf->t, FLOW_KIND_LATE, 0))
		__sync_fetch_and_add(&kstats.ring_full, 1);
	bpf_map_delete_elem(&closed, &cookie);
}

static __always_inline void count_reset(struct sock *sk, bool sent)
{
	struct flow_state *st;
	__u64 cookie;

	if (!sk)
		return; /* a stateless reset: no socket of ours */
	cookie = sk_cookie(&sk->__sk_common);
	if (!cookie)
		return;
	st = flow_lookup(cookie, NULL);
	if (st)
		__sync_fetch_and_add(&st->resets, 1);
	else if (sent)
		late_reset(cookie);
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tcp_receive_reset, struct sock *sk)
{
	count_reset(sk, false);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tcp_send_reset, struct sock *sk)
{
	count_reset(sk, true);
	return 0;
}

/*
 * Interval walk.  User space reads this iterator once per interval (in each
 * network namespace with sockets in scope); the kernel holds each socket's
 * lock (lock_sock_fast()) while this runs, so it cannot race a close.  A
 * live flow whose counters moved gets one FLOW_KIND_INTERVAL event.
 * Returning 1 stops the read() with EAGAIN and re-visits this socket on the
 * next read: that is how the walk waits for the reader to make ring space
 * instead of losing or deferring events.
 */
SEC("iter/tcp")
int walk_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct sock_counters now;
	struct flow_state *st;
	struct sock_tuple t;
	struct tcp_sock *tp;
	__u64 cookie;

	if (!skc)
		return 0;
	/*
	 * Never ours: a TIME_WAIT socket keeps its full socket's cookie, but that
	 * flow ended at TCP_CLOSE, before; a request socket has no flow yet.  A
	 * pod closing first keeps a minute of its connections in TIME_WAIT, all
	 * of them walked: leave before the lookup that would miss.
	 */
	if (skc->skc_state == TCP_TIME_WAIT || skc->skc_state == TCP_NEW_SYN_RECV)
		return 0;
	cookie = sk_cookie(skc);
	if (!cookie)
		return 0;
	st = flow_lookup(cookie, NULL);
	if (!st)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0; /* a TIME_WAIT or request socket sharing the cookie */
	read_counters(tp, &now);
	if (st->reported && now.bytes_sent == st->rep.bytes_sent &&
	    now.bytes_received == st->rep.bytes_received && now.segs_out == st->rep.segs_out &&
	    now.segs_in == st->rep.segs_in && st->resets == st->rep_resets)
		return 0; /* idle this interval: no record */
	if (bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) -
		bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) <
	    iter_reserve) {
		__sync_fetch_and_add(&kstats.iter_deferred, 1);
		return 1;
	}
	read_tuple(tp, &t);
	/*
	 * Other CPUs filled the ring since the check: wait as above.  Counted
	 * as ring_full, this report (whose delta the next one carries) would
	 * read as a lost connection and break closed + ring_full + map_full
	 * = connections (tests/integration/test_storm.c).
	 */
	if (emit(cookie, st, &now, &t, FLOW_KIND_INTERVAL, 0)) {
		__sync_fetch_and_add(&kstats.iter_deferred, 1);
		return 1;
	}
	return 0;
}
