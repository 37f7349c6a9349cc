/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Kernel-only types of the capture programs: the per-socket state. */
#ifndef PODFLOW_BPF_H
#define PODFLOW_BPF_H

/* Macros vmlinux.h cannot carry. */
#define AF_INET	 2
#define AF_INET6 10
#define ENOSPC	 28

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
 * sk_storage value.  Owner fields are written once at sock_create (copied
 * to accepted children by BPF_F_CLONE).  Flow fields are reset at
 * SYN_SENT/SYN_RECV.  `rep` is the baseline already reported; it and every
 * emit are serialised by `lock` (a try-lock: neither side ever spins), and
 * `closed` hands the final report to whoever holds the lock.
 */
struct sock_info {
	/* owner */
	__u64 cgroup_id;
	__u32 pid;
	char comm[16];
	/* flow */
	__u64 sock_id;
	__u64 start_ns;
	struct sock_counters rep;
	struct sock_counters fin;
	struct sock_tuple fin_tuple;
	__u32 resets; /* atomically incremented by the reset tracepoints */
	__u32 rep_resets;
	__u32 lock;
	__u32 closed;
	__u32 final_done;
	__u16 fin_err;
	__u8 direction;
	__u8 established;
	__u8 reported;
	__u8 _pad[7];
};

#endif /* PODFLOW_BPF_H */
