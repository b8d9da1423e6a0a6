/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Reading the limited/cleared events (struct bg_event) from the ring.
 *
 * A BPF ring buffer has one consumer position: two readers would steal
 * each other's events. So one process reads at a time, holding an flock on
 * the folder <pin>/events. The controller, when it is that reader, passes
 * every event on to subscribers: `burstctl events` run meanwhile connects
 * to it (bg_events_sub_*) instead of being refused.
 *
 * The XDP program clears an identity that conforms again; one that went
 * quiet while limited is cleared by the reader's sweep (compare-and-swap on
 * the mmapped state, so the two never both report it).
 */
#ifndef BG_EVENTS_H
#define BG_EVENTS_H

#include <stdbool.h>
#include <sys/types.h>

#include "bg_common.h"
#include "bg_state.h"

typedef void (*bg_event_fn)(void *arg, const struct bg_event *e, bool swept);

struct bg_ev_reader {
	const struct bg_state *s;
	struct ring_buffer *rb;
	int lock_fd;
	bg_event_fn fn;
	void *arg;
};

/*
 * Become the ring's reader. -EBUSY (nothing printed) if another process
 * is: *holder (may be NULL) is then its pid when /proc/locks tells, else 0.
 */
int bg_events_open(struct bg_ev_reader *r, const struct bg_state *s, bg_event_fn fn, void *arg,
		   pid_t *holder);
int bg_events_fd(const struct bg_ev_reader *r); /* poll it for input */
int bg_events_consume(struct bg_ev_reader *r); /* events ready: call fn; count or -errno */
int bg_events_sweep(struct bg_ev_reader *r); /* clear quiet identities; count */
void bg_events_close(struct bg_ev_reader *r);

const char *bg_event_name(__u32 type);

/*
 * The controller's event feed: a SOCK_SEQPACKET socket in the abstract
 * namespace, named after the state's pin path (so one per state and per
 * network namespace, nothing to clean up), one struct bg_ev_msg per event.
 * Only root and the controller's own user may subscribe (SO_PEERCRED).
 */
struct bg_ev_msg {
	struct bg_event ev;
	__u32 swept; /* cleared by the reader's sweep (went quiet) */
};

int bg_events_sub_listen(const char *pin_path); /* fd, or -errno */
/*
 * fd, or -errno (-ECONNREFUSED: no feed; -EPERM: the socket is not the
 * ring reader's: not root or our user, or not pid reader when that is known).
 */
int bg_events_sub_connect(const char *pin_path, pid_t reader);

#endif /* BG_EVENTS_H */
