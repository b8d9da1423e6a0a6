/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Fleet sync: the controller's room for fleet mode (docs/fleet.md).
 *
 * Every interval T it reads the counters of the policy's global
 * identities, sends the engine one pipelined batch (one EVALSHA of the
 * lease script per identity that had traffic or whose lease is due), and
 * writes each lease it gets back into the identity's buckets, keeping
 * their tokens (bg_identity_set_strict()). Between batches it ages the
 * leases: not renewed, a lease is held until it ends, then the identity
 * falls to its safe share R/N (or the whole R, on_engine_down: open).
 * Each change of the link to the engine and of the modes is logged once.
 *
 * It owns two fds that the controller's loop watches: a timer
 * (bg_fleet_sync_timer_fd(), for reading: bg_fleet_sync_on_timer()) and
 * the engine's connection (read, and write while it has output:
 * bg_fleet_sync_on_io()), which comes and goes with reconnects: the room
 * says through hooks->watch() which fd to watch how. Nothing here blocks the loop,
 * except bg_fleet_sync_leave() at exit (bounded).
 */
#ifndef BG_FLEET_SYNC_H
#define BG_FLEET_SYNC_H

#include <stdbool.h>
#include <linux/types.h>

#include "bg_fleet.h"
#include "bg_policy.h"
#include "bg_state.h"

struct bg_fleet_sync;

/* syslog priorities, as journald reads them */
enum {
	BG_FLEET_LOG_ERR = 3,
	BG_FLEET_LOG_WARNING = 4,
	BG_FLEET_LOG_NOTICE = 5,
	BG_FLEET_LOG_INFO = 6
};

struct bg_fleet_hooks {
	void *arg;
	void (*log)(void *arg, int prio, const char *line);
	/*
	 * Watch fd for reading (always) and writing (if wr): add it, or
	 * change how it is watched; old_fd (-1: none) is no longer to be
	 * watched (closed already, or about to be).
	 */
	void (*watch)(void *arg, int old_fd, int fd, bool wr);
};

int bg_fleet_sync_timer_fd(const struct bg_fleet_sync *fs);

/*
 * A room for the state s (opened for writing, kept by the caller) and
 * policy p's fleet section. The bg_fleet maps must exist (bg_fleet_localize
 * makes them); the state's identities must be applied.
 */
int bg_fleet_sync_new(struct bg_state *s, const struct bg_policy *p,
		      const struct bg_fleet_hooks *hooks, struct bg_fleet_sync **out, char *err,
		      size_t errlen);

/*
 * After each apply: the policy's global identities and settings. Identities
 * no longer global are released at the engine. -EAGAIN: the engine, the
 * host id or the password file changed: free the room and make a new one.
 */
int bg_fleet_sync_set_policy(struct bg_fleet_sync *fs, const struct bg_policy *p);

void bg_fleet_sync_on_timer(struct bg_fleet_sync *fs);
void bg_fleet_sync_on_io(struct bg_fleet_sync *fs);

/* Stats, for the metrics. */
void bg_fleet_sync_stats(const struct bg_fleet_sync *fs, struct bg_fleet_stats *st);

/*
 * Leaving at exit: every global identity drops to its safe share here,
 * and the engine is told (so the rest of each lease is free for the other
 * hosts at once); waits for the answer at most timeout_ms.
 */
void bg_fleet_sync_leave(struct bg_fleet_sync *fs, int timeout_ms);
void bg_fleet_sync_free(struct bg_fleet_sync *fs);

/*
 * Policy apply and reload, before planning: put in p every global
 * identity's limits in force on this host (its lease or safe share) in
 * place of the fleet's R and B (kept in the identity's glim), so that an
 * apply neither changes a lease nor grants the whole R to one host. A new
 * global identity starts in the engine-down mode (safe: R/N, N the last
 * membership this host knew, else fleet.hosts). With write, records the
 * identities in the bg_fleet map (made if absent: under the writer lock)
 * and drops the records of identities no longer global.
 */
int bg_fleet_localize(struct bg_state *s, struct bg_policy *p, bool write);

/*
 * `policy dump`: mark p's global identities with the fleet's limits (from
 * their records) and fill in the fleet section applied last.
 */
int bg_fleet_to_policy(const struct bg_state *s, struct bg_policy *p);

#endif /* BG_FLEET_SYNC_H */
