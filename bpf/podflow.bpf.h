/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Kernel-only types of the capture programs: per-flow and per-listener state. */
#ifndef PODFLOW_BPF_H
#define PODFLOW_BPF_H

#include "flow_event.h"

/* Macros vmlinux.h cannot carry. */
#define AF_INET	 2
#define AF_INET6 10

/* Cumulative counters of one socket, as the kernel keeps them. */
struct sock_counters {
	__u64 bytes_sent; /* unique payload bytes sent */
	__u64 bytes_received;
	__u32 segs_out;
	__u32 segs_in;
	__u32 total_retrans;
	__u32 srtt_us;
	__u32 min_rtt_us;
	__u32 _pad;
};

struct sock_tuple {
	__u8 local_addr[16]; /* v4-mapped for AF_INET */
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u16 family;
	__u16 _pad;
};

/*
 * One entry per connection in scope, keyed by socket cookie, from connect()
 * or accept-time creation to TCP_CLOSE.  Every writer runs under the
 * socket's lock (sockops callbacks from tcp_set_state() and friends, the
 * reset tracepoints, the iter/tcp walk, which takes lock_sock_fast()), so
 * reading `rep` and reporting the delta cannot race.
 */
struct flow_state {
	__u64 cgroup_id;
	__u64 start_ns;
	struct sock_counters rep; /* what has been reported so far */
	__u32 pid;
	__u32 resets;
	__u32 rep_resets;
	__u8 direction; /* FLOW_DIRECTION_* */
	__u8 established;
	__u8 reported;
	__u8 _pad;
	char comm[FLOW_COMM_LEN];
};

/* One slot of the flows' fast path (podflow.bpf.c): cookie 0 is a free slot. */
struct flow_slot {
	__u64 cookie;
	struct flow_state st;
};

/* Listening sockets in scope, so accepted connections know their owner. */
struct listener_key {
	__u64 netns_cookie;
	__u16 port;
	__u8 _pad[6];
};

struct listener_info {
	__u64 cookie; /* the listening socket's, so a SO_REUSEPORT sibling does not delete it */
	__u64 cgroup_id;
	__u32 pid;
	__u8 ignore; /* the sidecar's own listener: its connections are not reported */
	__u8 _pad[3];
	char comm[FLOW_COMM_LEN];
};

/*
 * A flow that closed abnormally (straight to TCP_CLOSE from a state where
 * the kernel may still send an RST: tcp_disconnect() and __tcp_close()
 * set TCP_CLOSE first), kept briefly so that RST is reported with it.
 */
struct closed_flow {
	struct flow_state st;
	struct sock_tuple t;
	__u32 srtt_us;
	__u32 min_rtt_us;
};

#endif /* PODFLOW_BPF_H */
