// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "loop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_EVENTS_MAX 16 /* events taken per wait */

static void on_tick(void *arg, __u32 events)
{
	struct loop *l = arg;
	int i;

	(void)events;
	loop_timer_drain(l->tick_fd);
	l->ticks++;
	for (i = 0; i < l->ntick; i++)
		l->tick[i].fn(l->tick[i].arg);
}

int loop_init(struct loop *l)
{
	*l = (struct loop){ .ep = -1, .tick_fd = -1 };
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	if (l->ep < 0)
		return -errno;
	l->tick_fd = loop_timer_new();
	if (l->tick_fd < 0)
		return l->tick_fd;
	l->tick_src = (struct loop_src){ l->tick_fd, on_tick, l };
	return loop_add(l, &l->tick_src);
}

void loop_close(struct loop *l)
{
	if (l->tick_fd >= 0)
		close(l->tick_fd);
	if (l->ep >= 0)
		close(l->ep);
	l->tick_fd = l->ep = -1;
}

int loop_add(struct loop *l, struct loop_src *src)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = src };

	return epoll_ctl(l->ep, EPOLL_CTL_ADD, src->fd, &e) ? -errno : 0;
}

int loop_watch_write(struct loop *l, struct loop_src *src, bool wr)
{
	struct epoll_event e = { .events = EPOLLIN | (wr ? EPOLLOUT : 0), .data.ptr = src };

	return epoll_ctl(l->ep, EPOLL_CTL_MOD, src->fd, &e) ? -errno : 0;
}

void loop_del(struct loop *l, int fd)
{
	epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
}

int loop_on_tick(struct loop *l, loop_tick_fn fn, void *arg)
{
	if (l->ntick >= LOOP_HOOKS_MAX)
		return -ENOSPC;
	l->tick[l->ntick].fn = fn;
	l->tick[l->ntick++].arg = arg;
	return 0;
}

int loop_on_round(struct loop *l, loop_round_fn fn, void *arg)
{
	if (l->nround >= LOOP_HOOKS_MAX)
		return -ENOSPC;
	l->round[l->nround].fn = fn;
	l->round[l->nround++].arg = arg;
	return 0;
}

int loop_on_timeout(struct loop *l, loop_timeout_fn fn, void *arg)
{
	if (l->ntimeout >= LOOP_HOOKS_MAX)
		return -ENOSPC;
	l->timeout[l->ntimeout].fn = fn;
	l->timeout[l->ntimeout++].arg = arg;
	return 0;
}

void loop_tick_every(struct loop *l, __u32 ms)
{
	loop_timer_arm(l->tick_fd, ms, true);
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

int loop_run(struct loop *l)
{
	while (!l->stop) {
		struct epoll_event evs[LOOP_EVENTS_MAX];
		int timeout = -1, n, i;

		for (i = 0; i < l->ntimeout; i++) {
			int t = l->timeout[i].fn(l->timeout[i].arg);

			if (t >= 0 && (timeout < 0 || t < timeout))
				timeout = t;
		}
		n = epoll_wait(l->ep, evs, LOOP_EVENTS_MAX, timeout);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (i = 0; i < n && !l->stop; i++) {
			struct loop_src *src = evs[i].data.ptr;

			src->fn(src->arg, evs[i].events);
		}
		/* after the round: what it closed may be freed now (its events named it) */
		for (i = 0; i < l->nround; i++)
			l->round[i].fn(l->round[i].arg, n == 0);
	}
	return 0;
}

int loop_timer_new(void)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	return fd < 0 ? -errno : fd;
}

void loop_timer_arm(int tfd, __u32 ms, bool repeat)
{
	struct itimerspec it = {};

	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (repeat)
		it.it_interval = it.it_value;
	timerfd_settime(tfd, 0, &it, NULL);
}

void loop_timer_drain(int tfd)
{
	__u64 n;

	if (read(tfd, &n, sizeof(n)) < 0)
		return; /* nothing to drain */
}

__u64 loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}
