// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The events feed: the ring of limited/cleared events from the XDP
 * program, logged one line each, and passed on to `burstctl events`
 * processes that follow the controller (a ring has one reader: they
 * subscribe here instead of being refused). A ring read by someone else
 * when the controller starts is tried again every EVENTS_RETRY_TICKS.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bg_events.h"
#include "serve.h"

#define EVENTS_RETRY_TICKS 10 /* retry taking the event ring this often */
#define EVENT_SUBS_MAX 16 /* `burstctl events` following the controller at once */
#define DROPPED_UNKNOWN (~0ULL) /* the episode began before this controller */

struct serve_events {
	struct serve *sv;
	struct bg_ev_reader ev;
	bool ev_on; /* this controller reads the ring */
	struct loop_src ring_src;
	unsigned int ticks;
	/* `burstctl events` run meanwhile: what the ring gives, passed on */
	int evsub_fd;
	struct loop_src evsub_src;
	bool evsub_paused; /* out of fds: not accepting until the next tick */
	int subs[EVENT_SUBS_MAX];
	size_t nsubs;
	__u64 *dropped_at; /* by slot: dropped + shadow packets when the episode began */
};

/*
 * Pass an event on to the subscribers. Never waits: one whose socket is full
 * misses it (counted); one that went away is dropped.
 */
static void feed_event(struct serve_events *v, const struct bg_event *e, bool swept)
{
	struct bg_ev_msg m = { .ev = *e, .swept = swept };
	struct serve *sv = v->sv;
	size_t i = 0;

	while (i < v->nsubs) {
		if (send(v->subs[i], &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) == sizeof(m)) {
			i++;
			continue;
		}
		if (errno == EAGAIN || errno == ENOBUFS) {
			sv->h.event_sub_lost_total++;
			i++;
			continue;
		}
		close(v->subs[i]);
		v->subs[i] = v->subs[--v->nsubs];
	}
	sv->h.event_subscribers = v->nsubs;
}

static void on_event(void *arg, const struct bg_event *e, bool swept)
{
	struct serve_events *v = arg;
	struct serve *sv = v->sv;
	const char *name = e->id < sv->s.max_ids ? sv->names[e->id] : "";
	__u64 d[6] = {}, dropped;
	char over[64] = "";

	feed_event(v, e, swept);
	if (!*name) {
		policy_refresh_names(sv);
		name = e->id < sv->s.max_ids && *sv->names[e->id] ? sv->names[e->id] : "(deleted)";
	}
	if (e->id < sv->s.max_ids)
		bg_percpu_sum(&sv->s, sv->s.stats_fd, e->id, d, 6);
	dropped = d[2] + d[4]; /* dropped + shadow packets */
	if (e->type == BG_EV_LIMITED) {
		sv->h.events_limited_total++;
		if (e->id < sv->s.max_ids)
			v->dropped_at[e->id] = dropped;
		slog(sv, LOG_NOTICE_, "event: identity %s limited (%s): packets over its limit",
		     name,
		     e->action == BG_ACT_SHADOW ? "shadow: counted, not dropped" :
						  bg_action_name(e->action));
		return;
	}
	sv->h.events_cleared_total++;
	if (e->id < sv->s.max_ids && v->dropped_at[e->id] != DROPPED_UNKNOWN)
		snprintf(over, sizeof(over), "%llu packets over the limit; ",
			 (unsigned long long)(dropped - v->dropped_at[e->id]));
	slog(sv, LOG_NOTICE_, "event: identity %s no longer limited after %.1f s (%s%s)", name,
	     (double)(e->ts_ns - e->since_ns) / 1e9, over,
	     swept ? "went quiet" : "conforming again");
}

/* Subscribers whose process went away (before an event told). */
static void prune_subs(struct serve_events *v)
{
	size_t i = 0;

	while (i < v->nsubs) {
		struct pollfd p = { .fd = v->subs[i], .events = POLLRDHUP };

		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
			close(v->subs[i]);
			v->subs[i] = v->subs[--v->nsubs];
			continue;
		}
		i++;
	}
	v->sv->h.event_subscribers = v->nsubs;
}

static void on_evsub(void *arg, __u32 events)
{
	struct serve_events *v = arg;
	struct serve *sv = v->sv;
	int fd;

	(void)events;
	while ((fd = accept4(v->evsub_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		struct ucred cred = { .pid = 0, .uid = (uid_t)-1 };
		socklen_t len = sizeof(cred);

		/* identity names and their limits: root's, or this controller's user's */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
		    (cred.uid != 0 && cred.uid != geteuid())) {
			slog(sv, LOG_WARNING_,
			     "events: refused a subscriber (uid %d): root or this controller's user only",
			     (int)cred.uid);
			close(fd);
			continue;
		}
		prune_subs(v);
		if (v->nsubs == EVENT_SUBS_MAX) {
			slog(sv, LOG_WARNING_,
			     "events: refused a subscriber (pid %d): %d already follow the events",
			     (int)cred.pid, EVENT_SUBS_MAX);
			close(fd);
			continue;
		}
		v->subs[v->nsubs++] = fd;
		sv->h.event_subscribers = v->nsubs;
		slog(sv, LOG_INFO_, "events: pid %d follows the events", (int)cred.pid);
	}
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
		/*
		 * The connection stays queued, and epoll would wake us for it
		 * at once, forever: stop listening until the next tick.
		 */
		slog(sv, LOG_WARNING_,
		     "events: cannot accept a subscriber (%s): paused until the next tick",
		     strerror(errno));
		loop_del(&sv->loop, v->evsub_fd);
		v->evsub_paused = true;
	}
}

/* Once this controller reads the ring: only the reader has events to give. */
static void evsub_start(struct serve_events *v)
{
	struct serve *sv = v->sv;
	int err;

	v->evsub_fd = bg_events_sub_listen(sv->s.pin_path);
	v->evsub_src = (struct loop_src){ v->evsub_fd, on_evsub, v };
	err = v->evsub_fd < 0 ? v->evsub_fd : loop_add(&sv->loop, &v->evsub_src);
	if (!err)
		return;
	slog(sv, LOG_WARNING_,
	     "events: `burstctl events` cannot follow them here (%s); they are in this log",
	     strerror(-err));
	if (v->evsub_fd >= 0)
		close(v->evsub_fd);
	v->evsub_fd = -1;
}

static void on_ring(void *arg, __u32 events)
{
	struct serve_events *v = arg;

	(void)events;
	bg_events_consume(&v->ev);
}

/* Become the ring's reader: 0, or -errno (-EBUSY: someone else reads it). */
static int ring_open(struct serve_events *v)
{
	int err = bg_events_open(&v->ev, &v->sv->s, on_event, v, NULL);

	if (err)
		return err;
	v->ring_src = (struct loop_src){ bg_events_fd(&v->ev), on_ring, v };
	err = loop_add(&v->sv->loop, &v->ring_src);
	if (err) {
		bg_events_close(&v->ev);
		return err;
	}
	v->ev_on = true;
	return 0;
}

static void on_tick(void *arg)
{
	struct serve_events *v = arg;

	v->ticks++;
	if (v->evsub_paused && !loop_add(&v->sv->loop, &v->evsub_src))
		v->evsub_paused = false;
	if (v->ev_on)
		bg_events_sweep(&v->ev);
	else if (v->ticks % EVENTS_RETRY_TICKS == 1 && !ring_open(v)) {
		slog(v->sv, LOG_INFO_, "reading the event ring now");
		evsub_start(v);
	}
}

bool events_reading(const struct serve *sv)
{
	return sv->events && sv->events->ev_on;
}

int events_start(struct serve *sv)
{
	struct serve_events *v = calloc(1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	sv->events = v;
	v->sv = sv;
	v->evsub_fd = -1;
	v->dropped_at = malloc(sv->s.max_ids * sizeof(__u64));
	if (!v->dropped_at)
		return -ENOMEM;
	memset(v->dropped_at, 0xff, sv->s.max_ids * sizeof(__u64)); /* DROPPED_UNKNOWN */
	if (!ring_open(v))
		evsub_start(v);
	else
		slog(sv, LOG_WARNING_,
		     "events: the ring is being read by someone else: retrying every %u ticks",
		     EVENTS_RETRY_TICKS);
	return loop_on_tick(&sv->loop, on_tick, v);
}

/* Only what this room opened: the ring's fd belongs to the reader. */
void events_stop(struct serve *sv)
{
	struct serve_events *v = sv->events;

	if (!v)
		return;
	if (v->ev_on)
		bg_events_close(&v->ev);
	if (v->evsub_fd >= 0)
		close(v->evsub_fd);
	while (v->nsubs)
		close(v->subs[--v->nsubs]);
	free(v->dropped_at);
	free(v);
	sv->events = NULL;
}
