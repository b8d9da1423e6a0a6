// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_events.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bg_log.h"

const char *bg_event_name(__u32 type)
{
	switch (type) {
	case BG_EV_LIMITED:
		return "limited";
	case BG_EV_CLEARED:
		return "cleared";
	default:
		return "unknown";
	}
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct bg_ev_reader *r = ctx;

	if (size < sizeof(struct bg_event))
		return 0;
	r->fn(r->arg, data, false);
	return 0;
}

int bg_events_open(struct bg_ev_reader *r, const struct bg_state *s, bg_event_fn fn, void *arg,
		   pid_t *holder)
{
	pid_t who;
	int err;

	memset(r, 0, sizeof(*r));
	r->s = s;
	r->fn = fn;
	r->arg = arg;
	r->lock_fd = -1;
	err = bg_lock_take(s->pin_path, BG_LOCK_EVENTS, &r->lock_fd, &who);
	if (holder)
		*holder = err == -EBUSY ? who : 0;
	if (err)
		return err; /* -EBUSY: the caller says what to do; else bg_lock_take said why */
	r->rb = ring_buffer__new(s->events_fd, on_sample, r, NULL);
	if (!r->rb) {
		err = -errno;
		bg_err("open the event ring: %s", strerror(-err));
		close(r->lock_fd);
		r->lock_fd = -1;
		return err;
	}
	return 0;
}

int bg_events_fd(const struct bg_ev_reader *r)
{
	return ring_buffer__epoll_fd(r->rb);
}

int bg_events_consume(struct bg_ev_reader *r)
{
	return ring_buffer__consume(r->rb);
}

int bg_events_sweep(struct bg_ev_reader *r)
{
	const struct bg_state *s = r->s;
	struct timespec ts;
	__u64 now;
	__u32 id;
	int n = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (__u64)ts.tv_sec * BG_NSEC_PER_SEC + (__u64)ts.tv_nsec;
	for (id = 0; id < s->max_ids; id++) {
		struct bg_id_state *st = &s->tats[id];
		__u64 since = __atomic_load_n(&st->limited_since_ns, __ATOMIC_RELAXED);
		struct bg_event e;

		if (!since ||
		    now - __atomic_load_n(&st->last_over_ns, __ATOMIC_RELAXED) < BG_EVENT_HOLD_NS)
			continue;
		if (!__atomic_compare_exchange_n(&st->limited_since_ns, &since, 0, false,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			continue; /* the XDP program cleared it first, and said so */
		memset(&e, 0, sizeof(e));
		e.ts_ns = now;
		e.since_ns = since;
		e.id = id;
		e.type = BG_EV_CLEARED;
		r->fn(r->arg, &e, true);
		n++;
	}
	return n;
}

void bg_events_close(struct bg_ev_reader *r)
{
	ring_buffer__free(r->rb);
	r->rb = NULL;
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	r->lock_fd = -1;
}

/*
 * "\0burstgate-events:<pin path>", the path made canonical (a trailing
 * slash or a symlink names the same state); the length counts, not a NUL.
 */
static int sub_addr(const char *pin_path, struct sockaddr_un *sa, socklen_t *len)
{
	char real[PATH_MAX];
	int n;

	if (!realpath(pin_path, real))
		return -errno;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "burstgate-events:%s", real);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path) - 1)
		return -ENAMETOOLONG;
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	return 0;
}

/* The feed's socket: listening (the controller's) or connected to it. */
static int sub_socket(const char *pin_path, bool listening)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd, err;

	err = sub_addr(pin_path, &sa, &len);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | (listening ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
	if (listening ? bind(fd, (struct sockaddr *)&sa, len) || listen(fd, 8) :
			connect(fd, (struct sockaddr *)&sa, len)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int bg_events_sub_listen(const char *pin_path)
{
	return sub_socket(pin_path, true);
}

int bg_events_sub_connect(const char *pin_path, pid_t reader)
{
	struct ucred cred = { .pid = 0, .uid = (uid_t)-1 };
	socklen_t clen = sizeof(cred);
	int fd = sub_socket(pin_path, false);

	if (fd < 0)
		return fd;
	/*
	 * An abstract name is anyone's to bind: believe only the process that
	 * holds the ring (by pid when /proc/locks names it) and is root or us.
	 */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) ||
	    (cred.uid != 0 && cred.uid != geteuid()) || (reader && cred.pid != reader)) {
		close(fd);
		return -EPERM;
	}
	return fd;
}
