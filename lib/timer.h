/* SPDX-License-Identifier: BSD-2-Clause */
/* Periodic timerfds for the binaries' epoll loops. */
#ifndef PODFLOW_TIMER_H
#define PODFLOW_TIMER_H

#include <stdint.h>

/* A non-blocking CLOCK_MONOTONIC timerfd firing every period_ns (0: disarmed); fd or -errno. */
int timer_new(uint64_t period_ns);
/* Re-arms it: the next expiry is one new period from now.  0 or -errno. */
int timer_arm(int fd, uint64_t period_ns);
/* Consumes the expirations so the fd is quiet until the next one. */
void timer_ack(int fd);

#endif /* PODFLOW_TIMER_H */
