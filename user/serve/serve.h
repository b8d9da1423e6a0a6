/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * burstctl serve, the controller: its state, and the rooms it is made of.
 *
 * One thread, one event loop (loop.h). Each room owns one concern, keeps
 * its own fds, limits, counters and log throttling in a struct of its own
 * (opaque here), and registers its sources and callbacks on the loop from
 * its *_start(). What is shared lives in struct serve: the state, the
 * policy in force, the health counters the metrics export, the slot names.
 *
 *   ../cmd_serve.c  options, help, wiring: starts the rooms in order, runs the loop
 *   loop.c          the event loop: epoll, the tick, hooks
 *   log.c           log lines (journald priorities), systemd notifications
 *   policy.c        applying the policy: at start, on SIGHUP, on a file change
 *                   (debounced), retried while the writer lock is taken;
 *                   the slot names refreshed after every apply
 *   files.c         following files: the policy and its token files (inotify)
 *   links.c         following interfaces (rtnetlink): attach where the policy
 *                   says once an interface appears; failures remembered
 *   events.c        the events feed: the ring of limited/cleared events, and
 *                   the `burstctl events` subscribers it is passed on to
 *   bind.c          the bind socket of agent tokens and its connections
 *   tuner.c         the adaptive burst tuner, at every tick
 *   metrics.c       the Prometheus endpoint (libmicrohttpd in this loop)
 *   gc.c            expired tokens and dead flows, at most once a second
 *   fleet.c         fleet sync: leases of the global identities from the
 *                   engine (Redis) into the buckets, every fleet interval
 *   upgrade.c       at start: this build's XDP program in place of another
 *                   build's (policy controller.upgrade_program)
 *
 * Without --policy the controller is an exporter of a state configured by
 * hand: metrics, the events feed, a bind socket if asked; nothing that
 * writes (no apply, attach, upgrade, tuner or gc).
 *
 * The controller holds no state the kernel does not: everything is in the
 * pinned maps. Killed, even with SIGKILL, it leaves enforcement running;
 * started again, it applies its policy to the state it finds, which changes
 * nothing that did not change, and carries on (tuned bursts included).
 */
#ifndef BG_SERVE_H
#define BG_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "bg_audit.h"
#include "bg_metrics.h"
#include "bg_policy.h"
#include "bg_state.h"
#include "loop.h"

/* syslog priorities, as journald reads them from a "<N>" prefix */
enum { LOG_ERR_ = 3, LOG_WARNING_ = 4, LOG_NOTICE_ = 5, LOG_INFO_ = 6 };

/* Each room's own state, defined in its file. */
struct serve_policy;
struct serve_files;
struct serve_links;
struct serve_events;
struct serve_bind;
struct serve_tuner;
struct serve_metrics;
struct serve_gc;
struct serve_fleet;

struct serve {
	/* from the command line (cmd_serve.c) */
	const char *policy_path;
	const char *metrics_addr; /* NULL: no metrics endpoint */
	size_t metrics_max_ids;
	const char *cli_bind, *cli_group; /* --bind-socket wins over the policy's */

	struct bg_state s;
	struct bg_policy pol; /* the policy in force (exporter: the defaults) */
	bool have_pol;
	bool exporter; /* no --policy: serve the state as it is, change nothing */
	int lock_fd; /* the single-instance lock (BG_LOCK_SERVE) */
	struct loop loop;
	struct bg_health h; /* what the metrics export; each room counts its own */
	bool journal; /* under systemd: "<N>" priorities, no prefix */

	/* slot -> name, for events, gc and the bind socket; refreshed after every apply */
	char (*names)[BG_NAME_LEN];
	/* the identities with adaptive bursts, for the tuner; idem */
	char (*tuned)[BG_NAME_LEN];
	size_t ntuned;

	struct serve_policy *policy;
	struct serve_files *files;
	struct serve_links *links;
	struct serve_events *events;
	struct serve_bind *bind;
	struct serve_tuner *tuner;
	struct serve_metrics *metrics;
	struct serve_gc *gc;
	struct serve_fleet *fleet;
};

/* log.c: one line per change, journald-friendly */
__attribute__((format(printf, 3, 4))) void slog(const struct serve *sv, int prio, const char *fmt,
						...);
void slog_line(void *sv, const char *line); /* a notice: for the library's callbacks */
void sd_notify_(const char *msg); /* systemd's readiness protocol, without libsystemd */

/*
 * The rooms. *_start() makes what the room needs and registers it on the
 * loop: 0, or -errno when the controller cannot go on (it said why);
 * a room that can do without (no rtnetlink, a busy ring) says so and goes
 * on. *_stop() closes what it opened; safe on a room never started.
 */

/* policy.c */
int policy_start(struct serve *sv); /* the reload timer */
void policy_stop(struct serve *sv);
/* The first apply: token files read, then applied as a reload would. */
int policy_apply_first(struct serve *sv, const struct bg_audit_who *who);
void policy_reload(struct serve *sv, const struct bg_audit_who *who);
void policy_reload_soon(struct serve *sv); /* after a debounce; again: restarts the wait */
void policy_refresh_names(struct serve *sv);

/* files.c */
int files_start(struct serve *sv); /* the policy's folder */
void files_stop(struct serve *sv);
void files_note_policy(struct serve *sv); /* before the policy is read */
/* the token files' folders: of p applied (add false), or also of p refused (add true) */
void files_watch_tokens(struct serve *sv, const struct bg_policy *p, bool add);
/* Why the reload that files_* asked for: false if there is nothing to read. */
bool files_reload_cause(struct serve *sv, struct bg_audit_who *who);

/* links.c */
int links_start(struct serve *sv); /* rtnetlink */
void links_stop(struct serve *sv);
void links_attach(struct serve *sv, const struct bg_policy *p); /* after an apply */

/* events.c */
int events_start(struct serve *sv); /* the ring, if free; the feed */
void events_stop(struct serve *sv);
bool events_reading(const struct serve *sv);

/* bind.c */
int bind_start(struct serve *sv); /* -EADDRNOTAVAIL: wanted, not served */
void bind_stop(struct serve *sv);
void bind_update(struct serve *sv, const struct bg_policy *p); /* after a reload */

/* tuner.c */
int tuner_start(struct serve *sv);
void tuner_stop(struct serve *sv);
void tuner_restart(struct serve *sv); /* another list of tuned identities */

/* metrics.c */
int metrics_start(struct serve *sv); /* if sv->metrics_addr */
void metrics_stop(struct serve *sv);

/* gc.c */
int gc_start(struct serve *sv);
void gc_stop(struct serve *sv);

/* fleet.c: nothing to do without a fleet section and global identities */
int fleet_start(struct serve *sv);
void fleet_stop(struct serve *sv); /* leaves the fleet: safe shares here, the engine told */
void fleet_update(struct serve *sv, const struct bg_policy *p); /* after a reload */

/* upgrade.c: after the first apply */
void upgrade_at_start(struct serve *sv);

#endif /* BG_SERVE_H */
