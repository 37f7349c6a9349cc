// SPDX-License-Identifier: BSD-2-Clause
/* Periodic timerfds for the binaries' epoll loops. */
#include "timer.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "log.h"

int timer_arm(int fd, uint64_t period_ns)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = (time_t)(period_ns / DURATION_NS_PER_S);
	its.it_value.tv_nsec = (long)(period_ns % DURATION_NS_PER_S);
	its.it_interval = its.it_value;
	return timerfd_settime(fd, 0, &its, NULL) ? -errno : 0;
}

int timer_new(uint64_t period_ns)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	err = timer_arm(fd, period_ns);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

void timer_ack(int fd)
{
	uint64_t expirations;

	if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		pr_debug("timerfd read: %s", strerror(errno));
}
