// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Cgroup-scoped TCP flow capture: marks sockets in scope, reports their counters. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "flow_record.h"
#include "podflow.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Tunables, set by user space between open and load. */
const volatile __u32 self_tgid = 0;	   /* the sidecar's own sockets are never reported */
const volatile __u64 wakeup_bytes = 65536; /* ring fill that forces a reader wakeup */
const volatile __u64 iter_reserve = 8192;  /* free ring bytes the interval walk keeps */

struct flow_kstats kstats = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 21); /* resized by user space before load */
} events SEC(".maps");

/*
 * One entry per TCP socket created in scope.  BPF_F_CLONE copies a
 * listener's entry to every child it accepts, which is how an accepted
 * connection, created in softirq, learns its owner's pid, comm and cgroup.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct sock_info);
} socks SEC(".maps");

static __always_inline long ring_flags(void)
{
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes) {
		__sync_fetch_and_add(&kstats.wakeups, 1);
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}

static __always_inline __u64 next_sock_id(void)
{
	static __u64 sock_seq;

	return __sync_fetch_and_add(&sock_seq, 1) + 1;
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

static __always_inline void read_tuple(struct tcp_sock *tp, struct sock *sk, struct sock_tuple *t)
{
	t->family = sk->__sk_common.skc_family;
	/* inet_sport, unlike skc_num, survives inet_put_port() at close */
	t->local_port = bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
	t->remote_port = bpf_ntohs(sk->__sk_common.skc_dport);
	if (t->family == AF_INET6) {
		BPF_CORE_READ_INTO(&t->local_addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&t->remote_addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		__u32 l = sk->__sk_common.skc_rcv_saddr, r = sk->__sk_common.skc_daddr;

		__builtin_memset(t->local_addr, 0, 10);
		__builtin_memset(t->remote_addr, 0, 10);
		t->local_addr[10] = t->local_addr[11] = 0xff;
		t->remote_addr[10] = t->remote_addr[11] = 0xff;
		__builtin_memcpy(&t->local_addr[12], &l, 4);
		__builtin_memcpy(&t->remote_addr[12], &r, 4);
	}
}

/*
 * Reserve and fill one event: deltas of `now` against the socket's last
 * reported baseline.  The caller holds si->lock.  Returns 0 or -ENOSPC
 * (counted as ring_full).
 */
static __always_inline int emit(struct sock_info *si, const struct sock_counters *now,
				const struct sock_tuple *t, __u8 kind, __u16 err)
{
	__u32 resets = si->resets;
	struct flow_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&kstats.ring_full, 1);
		return -ENOSPC;
	}
	e->sock_id = si->sock_id;
	e->cgroup_id = si->cgroup_id;
	e->start_ns = si->start_ns;
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->bytes_sent = now->bytes_sent - si->rep.bytes_sent;
	e->bytes_received = now->bytes_received - si->rep.bytes_received;
	/* u32 kernel counters: unsigned subtraction is right across a wrap */
	e->segs_sent = now->segs_out - si->rep.segs_out;
	e->segs_received = now->segs_in - si->rep.segs_in;
	e->retransmits = now->total_retrans - si->rep.total_retrans;
	e->resets = resets - si->rep_resets;
	e->srtt_us = now->srtt_us;
	e->min_rtt_us = now->min_rtt_us;
	e->pid = si->pid;
	e->local_port = t->local_port;
	e->remote_port = t->remote_port;
	__builtin_memcpy(e->local_addr, t->local_addr, 16);
	__builtin_memcpy(e->remote_addr, t->remote_addr, 16);
	__builtin_memcpy(e->comm, si->comm, FLOW_COMM_LEN);
	e->err = err;
	e->family = t->family;
	e->kind = kind;
	e->direction = si->direction;
	e->flags = (si->established ? FLOW_F_ESTABLISHED : 0) | (si->reported ? 0 : FLOW_F_FIRST);
	e->_pad[0] = e->_pad[1] = 0;
	bpf_ringbuf_submit(e, ring_flags());

	si->rep = *now;
	si->rep_resets = resets;
	si->reported = 1;
	return 0;
}

/*
 * Final report of a closed flow, from the counters the close path saved.
 * Exactly one caller wins: whoever holds si->lock while closed && !final_done.
 */
static __always_inline void emit_final_locked(struct sock_info *si)
{
	if (si->final_done)
		return;
	si->final_done = 1;
	emit(si, &si->fin, &si->fin_tuple, FLOW_KIND_CLOSE, si->fin_err);
}

static __always_inline int try_lock(struct sock_info *si)
{
	return __sync_val_compare_and_swap(&si->lock, 0, 1) == 0;
}

static __always_inline void unlock(struct sock_info *si)
{
	__sync_lock_test_and_set(&si->lock, 0);
}

/* (Re)start flow accounting on a socket entering SYN_SENT or SYN_RECV. */
static __always_inline void flow_begin(struct sock_info *si, __u8 direction)
{
	si->sock_id = next_sock_id();
	si->start_ns = bpf_ktime_get_boot_ns();
	si->direction = direction;
	si->established = 0;
	si->reported = 0;
	si->closed = 0;
	si->final_done = 0;
	si->resets = 0;
	si->rep_resets = 0;
	__builtin_memset(&si->rep, 0, sizeof(si->rep));
	__sync_fetch_and_add(&kstats.flows_started, 1);
}

SEC("cgroup/sock_create")
int sock_create(struct bpf_sock *ctx)
{
	struct sock_info *si;
	__u64 pid_tgid;

	if (ctx->type != SOCK_STREAM || ctx->protocol != IPPROTO_TCP)
		return 1;
	if (ctx->family != AF_INET && ctx->family != AF_INET6)
		return 1;
	pid_tgid = bpf_get_current_pid_tgid();
	if ((__u32)(pid_tgid >> 32) == self_tgid)
		return 1;

	si = bpf_sk_storage_get(&socks, ctx, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!si) {
		__sync_fetch_and_add(&kstats.storage_fail, 1);
		return 1; /* never refuse the application's socket */
	}
	si->pid = pid_tgid >> 32;
	si->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(si->comm, sizeof(si->comm));
	__sync_fetch_and_add(&kstats.sockets_tracked, 1);
	return 1;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, struct sock *sk, int oldstate, int newstate)
{
	struct sock_info *si;
	struct tcp_sock *tp;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	si = bpf_sk_storage_get(&socks, sk, NULL, 0);
	if (!si)
		return 0; /* not created in scope */

	switch (newstate) {
	case TCP_SYN_SENT:
		flow_begin(si, FLOW_DIR_OUT);
		return 0;
	case TCP_SYN_RECV:
		/* a child just cloned from the listener, entry included */
		if (oldstate == TCP_LISTEN) {
			flow_begin(si, FLOW_DIR_IN);
			__sync_fetch_and_add(&kstats.sockets_tracked, 1);
		}
		return 0;
	case TCP_ESTABLISHED:
		si->established = 1;
		return 0;
	case TCP_CLOSE:
		break;
	default:
		return 0;
	}

	if (!si->direction || si->closed)
		return 0; /* a listener or never-connected socket: no flow */
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 0;
	/*
	 * Save the final counters and tuple before publishing `closed`: the
	 * interval walk may hold the lock right now, and if so it emits the
	 * final record from these saved values (the socket may be freed and
	 * its memory reused once we return).
	 */
	read_counters(tp, &si->fin);
	read_tuple(tp, sk, &si->fin_tuple);
	si->fin_err = sk->sk_err;
	__sync_lock_test_and_set(&si->closed, 1);
	__sync_fetch_and_add(&kstats.flows_closed, 1);
	if (try_lock(si)) {
		emit_final_locked(si);
		unlock(si);
	}
	return 0;
}

/* An RST sent after TCP_CLOSE: one FLOW_KIND_LATE event.  Caller holds the lock. */
static __always_inline void emit_late_reset(struct sock_info *si)
{
	__u32 resets = si->resets;
	struct flow_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&kstats.ring_full, 1);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->sock_id = si->sock_id;
	e->cgroup_id = si->cgroup_id;
	e->start_ns = si->start_ns;
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->resets = resets - si->rep_resets;
	e->srtt_us = si->fin.srtt_us;
	e->min_rtt_us = si->fin.min_rtt_us;
	e->pid = si->pid;
	e->local_port = si->fin_tuple.local_port;
	e->remote_port = si->fin_tuple.remote_port;
	__builtin_memcpy(e->local_addr, si->fin_tuple.local_addr, 16);
	__builtin_memcpy(e->remote_addr, si->fin_tuple.remote_addr, 16);
	__builtin_memcpy(e->comm, si->comm, FLOW_COMM_LEN);
	e->family = si->fin_tuple.family;
	e->kind = FLOW_KIND_LATE;
	e->direction = si->direction;
	e->flags = si->established ? FLOW_F_ESTABLISHED : 0;
	bpf_ringbuf_submit(e, ring_flags());
	si->rep_resets = resets;
}

static __always_inline void count_reset(struct sock *sk)
{
	struct sock_info *si;

	if (!sk)
		return; /* a stateless reset: no socket of ours */
	si = bpf_sk_storage_get(&socks, sk, NULL, 0);
	if (!si || !si->direction)
		return;
	__sync_fetch_and_add(&si->resets, 1);
	if (!__sync_fetch_and_add(&si->closed, 0))
		return; /* the next report of this live socket carries it */
	/*
	 * tcp_disconnect() (SO_LINGER 0) and __tcp_close() with unread data
	 * set TCP_CLOSE before sending their RST, so the flow's final report
	 * may already be out: this reset follows it as a LATE event.
	 */
	if (try_lock(si)) {
		if (!si->final_done)
			emit_final_locked(si); /* includes this reset */
		else
			emit_late_reset(si);
		unlock(si);
	} else {
		/* the interval walk is emitting the final right now */
		__sync_fetch_and_add(&kstats.late_lost, 1);
	}
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tcp_receive_reset, struct sock *sk)
{
	count_reset(sk);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tcp_send_reset, struct sock *sk)
{
	count_reset(sk);
	return 0;
}

/*
 * Interval walk over the tracked sockets only (not every TCP socket of the
 * host).  User space reads the iterator once per aggregation interval; each
 * live socket whose counters moved gets one FLOW_KIND_INTERVAL event.
 * Returning 1 stops the read with EAGAIN and re-visits this socket on the
 * next read, which is how the walk waits for the reader to make ring space
 * instead of losing events.
 */
SEC("iter/bpf_sk_storage_map")
int dump_socks(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	struct sock_info *si = ctx->value;
	struct sock *sk = ctx->sk;
	struct sock_counters now;
	struct sock_tuple t;
	struct tcp_sock *tp;

	if (!sk || !si)
		return 0;
	if (!si->direction || si->final_done)
		return 0;
	if (bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) -
		bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) <
	    iter_reserve) {
		__sync_fetch_and_add(&kstats.iter_deferred, 1);
		return 1;
	}
	if (!try_lock(si))
		return 0; /* the close path is reporting this socket right now */

	if (si->closed) {
		emit_final_locked(si);
		goto out;
	}
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		goto out;
	read_counters(tp, &now);
	read_tuple(tp, sk, &t);
	/*
	 * Full barrier, then re-check: if the socket closed while we read it,
	 * the values may come from freed (SLAB_TYPESAFE_BY_RCU) memory; the
	 * close path saved the real ones.
	 */
	if (__sync_fetch_and_add(&si->closed, 0)) {
		emit_final_locked(si);
		goto out;
	}
	if (si->reported && now.bytes_sent == si->rep.bytes_sent &&
	    now.bytes_received == si->rep.bytes_received && now.segs_out == si->rep.segs_out &&
	    now.segs_in == si->rep.segs_in && si->resets == si->rep_resets)
		goto out; /* idle this interval: no record */
	emit(si, &now, &t, FLOW_KIND_INTERVAL, 0);
out:
	unlock(si);
	/* a close that found the lock taken left its final report to us */
	if (si->closed && !si->final_done && try_lock(si)) {
		emit_final_locked(si);
		unlock(si);
	}
	return 0;
}
