/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The controller's event loop: one thread, one epoll set. It knows nothing
 * of burstgate: each room of the controller (serve.h) registers its fds,
 * and what it wants done at every tick, after every round of events, and
 * how long the loop may sleep at most (sd-event and libuv work this way).
 *
 * Nothing registered may block: a callback that needs the state's writer
 * lock tries it (bg_lock_nowait) and tries again at a later tick.
 */
#ifndef BG_SERVE_LOOP_H
#define BG_SERVE_LOOP_H

#include <stdbool.h>
#include <linux/types.h>

#define LOOP_HOOKS_MAX 16 /* per kind: tick, round, timeout */

typedef void (*loop_fn)(void *arg, __u32 events);

/*
 * One fd in the loop; the room that adds it owns it (it may be part of a
 * larger struct, as a bind connection is) and keeps it alive until
 * loop_del().
 */
struct loop_src {
	int fd;
	loop_fn fn; /* called with arg and epoll's events when fd is ready */
	void *arg;
};

typedef void (*loop_tick_fn)(void *arg);
typedef void (*loop_round_fn)(void *arg, bool idle); /* idle: the wait timed out */
typedef int (*loop_timeout_fn)(void *arg); /* ms the loop may sleep; -1: any */

struct loop {
	int ep;
	int tick_fd; /* timerfd: the tick */
	struct loop_src tick_src;
	unsigned int ticks;
	bool stop;
	struct {
		loop_tick_fn fn;
		void *arg;
	} tick[LOOP_HOOKS_MAX];
	struct {
		loop_round_fn fn;
		void *arg;
	} round[LOOP_HOOKS_MAX];
	struct {
		loop_timeout_fn fn;
		void *arg;
	} timeout[LOOP_HOOKS_MAX];
	int ntick, nround, ntimeout;
};

int loop_init(struct loop *l); /* 0 or -errno */
void loop_close(struct loop *l); /* the loop's own fds; sources are their owners' */

int loop_add(struct loop *l, struct loop_src *src); /* 0 or -errno */
void loop_del(struct loop *l, int fd);
/* Watch an added src for writing too (a connection with output queued), or not. */
int loop_watch_write(struct loop *l, struct loop_src *src, bool wr);

/* Called at every tick, in the order registered. */
int loop_on_tick(struct loop *l, loop_tick_fn fn, void *arg);
/* Called after every round of events (and after a wait that timed out). */
int loop_on_round(struct loop *l, loop_round_fn fn, void *arg);
/* Asked before every wait: the loop sleeps no longer than the least answer. */
int loop_on_timeout(struct loop *l, loop_timeout_fn fn, void *arg);

/* The tick: every ms from now (again: restarts it at the new interval). */
void loop_tick_every(struct loop *l, __u32 ms);

/* Until loop_stop(); 0, or -errno if epoll fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/* Timers of the rooms' own (timerfd), and the clock they use. */
int loop_timer_new(void); /* fd or -errno */
void loop_timer_arm(int tfd, __u32 ms, bool repeat); /* re-arming restarts the wait */
void loop_timer_drain(int tfd);
__u64 loop_now_ms(void); /* CLOCK_MONOTONIC */

#endif /* BG_SERVE_LOOP_H */
