/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The event the kernel side hands to user space, its loss counters and live controls. */
#ifndef PODFLOW_FLOW_EVENT_H
#define PODFLOW_FLOW_EVENT_H

/*
 * Included by bpf/podflow.bpf.c (vmlinux.h types) and by user space
 * (linux/types.h), lib/flow.h included: the one header both sides see, so
 * what both sides name (the direction, the comm length) is defined here
 * once.  Fixed-width fields only, largest first, padding named, so both
 * sides agree on every offset; the _Static_assert below catches drift.
 * Nothing here may include a user-space header.
 */
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define FLOW_COMM_LEN 16 /* TASK_COMM_LEN: the kernel's comm, not always NUL-terminated */

/* flow_event.kind */
enum {
	FLOW_KIND_INTERVAL = 1, /* a live socket's counters moved since the last report */
	FLOW_KIND_CLOSE = 2,	/* the socket reached TCP_CLOSE: last delta of the flow */
	FLOW_KIND_LATE = 3,	/* counters that moved after the close (an RST sent by
				 * tcp_disconnect() or __tcp_close(), which set TCP_CLOSE
				 * first); not a new flow */
};

/*
 * flow_event.direction, and flow_record.direction in user space (lib/flow.h,
 * the wire format, the JSON "out"/"in"): one concept, one set of values.
 * Fields holding it are __u8/uint8_t, never the enum type.
 */
enum flow_direction {
	FLOW_DIRECTION_OUT = 1, /* this side called connect() */
	FLOW_DIRECTION_IN = 2,	/* this side accepted the connection */
};

/* flow_event.flags */
enum {
	FLOW_F_ESTABLISHED = 1 << 0, /* reached ESTABLISHED at some point */
	FLOW_F_FIRST = 1 << 1,	     /* first event of this connection */
};

/*
 * Counters are deltas since the previous event of the same connection
 * (sock_id), except the RTTs, which are the latest values.  Addresses are 16
 * bytes; an AF_INET socket's are stored v4-mapped (::ffff:a.b.c.d).
 */
struct flow_event {
	__u64 sock_id;	  /* the socket cookie: unique per socket until reboot */
	__u64 cgroup_id;  /* cgroup v2 id of the socket (its creator's, inherited on accept) */
	__u64 start_ns;	  /* CLOCK_BOOTTIME ns when the connection began (connect() / accepted) */
	__u64 ts_ns;	  /* CLOCK_BOOTTIME ns of this event */
	__u64 bytes_sent; /* unique payload bytes sent (retransmits not counted twice) */
	__u64 bytes_received; /* payload bytes received in order (FIN excluded) */
	__u32 segs_sent;
	__u32 segs_received;
	__u32 retransmits;
	__u32 resets; /* RSTs sent or received on this socket */
	__u32 srtt_us;
	__u32 min_rtt_us;
	__u32 pid; /* tgid that called connect() (for accepted ones: listen()) */
	__u16 local_port;
	__u16 remote_port;
	__u8 local_addr[16];
	__u8 remote_addr[16];
	char comm[FLOW_COMM_LEN];
	__u16 err;   /* sk_err at close (ECONNREFUSED, ETIMEDOUT, ...), else 0 */
	__u8 family; /* AF_INET or AF_INET6 of the socket */
	__u8 kind;
	__u8 direction;
	__u8 flags;
	__u8 _pad[2];
};

_Static_assert(sizeof(struct flow_event) == 136, "flow_event layout changed");

/*
 * Kernel-side loss and health counters, one instance in the program's .bss,
 * read through the skeleton.  Every counter here is also printed by the
 * sidecar's stats line and exported as a metric.
 */
struct flow_kstats {
	__u64 ring_full;     /* flow_event not reserved: ring buffer full (record lost) */
	__u64 map_full;	     /* connection not tracked: the flows map is full (--max-connections) */
	__u64 listener_full; /* listener not recorded: its accepted flows lack pid and comm */
	__u64 iter_deferred; /* interval walk paused for ring space (no loss, just retried) */
	__u64 flows_started; /* connections tracked (connect() called, or accepted) */
	__u64 flows_closed;  /* tracked connections that reached TCP_CLOSE */
	__u64 wakeups;	     /* forced reader wakeups (fill watermark crossed) */
	__u64 filtered;	     /* connections not tracked: their service port or peer is filtered */
	__u64 paused;	     /* connections not tracked: capture paused (enabled: false) */
	__u64 ring_fill_max; /* most bytes seen waiting in the ring at a submit (a gauge) */
	__u64 flows_spilled; /* tracked in the flows hash map: their fast slot was held */
	__u64 fold_full;     /* closes sent as events: the fold table was full (no loss) */
};

_Static_assert(sizeof(struct flow_kstats) == 96, "flow_kstats layout changed");

/*
 * Live controls, in the program's .data: user space writes them through the
 * skeleton's memory map while the programs run.
 */
struct flow_controls {
	__u32 paused; /* 1: track no new connection (tracked ones are still reported) */
	__u32 fold;   /* 1: closes fold into the kernel's per-record sums (aggregate mode) */
};

/*
 * Folded closes.  In aggregate mode a close is not an event: the kernel adds
 * it to the sums of its record's key, in one of two tables that user space
 * swaps at each cut (podflow.bpf.c, capture.c).  The key is the user-space
 * flow table's in aggregate mode: the service port is the local one for
 * FLOW_DIRECTION_IN and the remote one for FLOW_DIRECTION_OUT, the other 0.
 */
struct flow_fold_key {
	__u64 cgroup_id;
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u8 direction;
	__u8 _pad[3];
};

_Static_assert(sizeof(struct flow_fold_key) == 48, "flow_fold_key layout changed");

/*
 * The sums of one key on one CPU (the table is per CPU; user space adds the
 * CPUs up).  A CPU that folded nothing for the key has closed == 0.
 */
struct flow_fold {
	__u64 start_ns; /* earliest start of the folded connections; 0: none yet */
	__u64 end_ns;	/* latest close (CLOCK_BOOTTIME ns) */
	__u64 bytes_sent;
	__u64 bytes_received;
	__u64 segs_sent;
	__u64 segs_received;
	__u32 closed; /* connections closed: each is also one of the record's flows */
	__u32 failed; /* of them, never established */
	__u32 retransmits;
	__u32 resets;
	__u32 srtt_us;	  /* the largest */
	__u32 min_rtt_us; /* the smallest non-zero; 0: no sample */
	__u32 err;	  /* the first non-zero sk_err */
	__u32 owner;	  /* 1 once pid and comm are set */
	__u32 pid;	  /* pid and comm of the first connection folded on this CPU */
	__u32 _pad;
	char comm[FLOW_COMM_LEN];
};

_Static_assert(sizeof(struct flow_fold) == 104, "flow_fold layout changed");

/* Keys each fold table holds by default: distinct records with closes per interval. */
#define FLOW_FOLD_KEYS_DEFAULT 1024

/* Key of the ignored-peers LPM trie: remote address (v4-mapped), prefix in bits. */
struct flow_cidr_key {
	__u32 prefixlen;
	__u8 addr[16];
};

#define FLOW_PORT_WORDS 1024 /* 65536 bits: one per port */

/*
 * The flows' fast slots (podflow.bpf.c): the largest power of two not above
 * --max-connections, at most this many (96 bytes each, preallocated).
 */
#define FLOW_FAST_SLOTS_MAX 4096

#endif /* PODFLOW_FLOW_EVENT_H */
