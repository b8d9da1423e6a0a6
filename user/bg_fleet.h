/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Fleet mode: one limit per identity across many hosts (docs/fleet.md).
 *
 * Every host's controller holds, per global identity, a lease from the
 * engine (Redis): a share of the identity's rate R and burst B, in
 * millionths ("ppm"), that the engine keeps summing to at most the whole.
 * The host enforces share * R and share * B in its own buckets, so the
 * XDP program never leaves the host. This header is the host side, pure
 * (no maps, no clock, no network), so the unit tests drive it:
 *
 *   - demand: what the identity asked of this host over an interval, as a
 *     fraction of R (admitted + dropped, the larger of packets and bytes);
 *   - the limits a share stands for (rounded down, at least one unit);
 *   - the mode an identity is in, from its last lease and the time:
 *       lease  a lease, renewed in time
 *       held   the engine did not renew it: kept until hold_ms
 *       safe   no lease (engine down or not reached yet): R/N, N the
 *              membership last counted by the engine
 *       open   no lease and the policy says on_engine_down: open: the
 *              whole R and B on this host, as a local identity
 *
 * And the records of the pinned maps bg_fleet (per identity) and
 * bg_fleet_host (this host), written by the controller and read by status,
 * top, identity show and fleet status. The XDP program never reads them,
 * so they live here, not in include/ (as bg_pol_rec in bg_state.h).
 */
#ifndef BG_FLEET_H
#define BG_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "bg_common.h"
#include "bg_identity.h"
#include "bg_state.h"

#define BG_FLEET_PPM 1000000U /* a whole share */

/* Policy defaults and ranges (docs/policy.md, the fleet section). */
#define BG_FLEET_INTERVAL_MS_DEFAULT 500U
#define BG_FLEET_INTERVAL_MS_MIN 50U
#define BG_FLEET_INTERVAL_MS_MAX 10000U
#define BG_FLEET_LEASE_INTERVALS 4U /* a lease lasts this many intervals by default */
#define BG_FLEET_MEMBER_TIMEOUT_MS_DEFAULT 30000U
#define BG_FLEET_FLOOR_PPM_DEFAULT 50000U /* f = 5% */
#define BG_FLEET_HOST_LEN 64 /* host id, NUL-terminated */
#define BG_FLEET_ENGINE_LEN 128 /* redis://HOST:PORT or unix:PATH */
#define BG_FLEET_DEFAULT_PORT 6379

enum bg_fleet_down {
	BG_FLEET_DOWN_SAFE = 0, /* R/N per host from the last membership */
	BG_FLEET_DOWN_OPEN = 1, /* the whole R and B per host */
};

/* The fleet section of a policy (all resolved; engine[0] == 0: none). */
struct bg_fleet_cfg {
	char engine[BG_FLEET_ENGINE_LEN]; /* as written */
	char host[BG_FLEET_HOST_LEN]; /* this host's id in the fleet */
	char password_file[256]; /* "": no AUTH */
	__u32 interval_ms; /* T: one sync batch per interval */
	__u32 lease_ms; /* how long the engine keeps a lease */
	__u32 member_timeout_ms; /* how long a silent host keeps its share reserved */
	__u32 floor_ppm; /* f, in millionths: each host's floor is f * R / N */
	__u32 hosts; /* N to assume before the engine has counted the fleet */
	__u32 on_down; /* enum bg_fleet_down */
};

enum bg_fleet_mode {
	BG_FLEET_NONE = 0, /* not a fleet identity */
	BG_FLEET_LEASE = 1,
	BG_FLEET_HELD = 2,
	BG_FLEET_SAFE = 3,
	BG_FLEET_OPEN = 4,
	BG_FLEET_MODE_MAX,
};

const char *bg_fleet_mode_name(__u32 mode);

/*
 * bg_fleet: HASH from identity name (struct bg_id_name) to this record.
 * Written by the controller (every lease) and by policy apply (a global
 * identity's start), under the writer lock; read by anyone.
 * Times in CLOCK_MONOTONIC milliseconds (0: never).
 */
#define BG_MAP_FLEET "bg_fleet"
struct bg_fleet_rec {
	struct bg_limits global; /* R and B as the policy gives them (action unused) */
	__u32 mode; /* enum bg_fleet_mode, in force now */
	__u32 members; /* N the engine counted at the last lease; 0: never counted */
	__u32 share_ppm; /* the share in force now */
	__u32 lease_ppm; /* the last lease granted */
	__u64 lease_ms; /* when the last lease arrived */
	__u64 hold_ms; /* it is kept until then, renewed or not */
	__u64 mode_since_ms; /* when the mode last changed */
	__u64 demand_ppm; /* the demand last reported (may exceed a whole) */
};

/*
 * bg_fleet_host: ARRAY of one. The fleet section applied last (for
 * `policy dump`, written by apply), and the controller's view of the engine
 * (for `burstctl status` and `fleet status`; the metrics carry the same).
 */
#define BG_MAP_FLEET_HOST "bg_fleet_host"
enum bg_fleet_link {
	BG_FLEET_LINK_NONE = 0, /* no fleet, or no controller yet */
	BG_FLEET_LINK_UP = 1, /* the last batch was answered */
	BG_FLEET_LINK_DOWN = 2, /* the engine cannot be reached (or did not answer in time) */
};

struct bg_fleet_host {
	struct bg_fleet_cfg cfg; /* the fleet section applied last (engine[0] == 0: none) */
	__u32 link; /* enum bg_fleet_link */
	__u32 pid; /* the controller that writes this */
	__u64 link_since_ms; /* CLOCK_MONOTONIC ms */
	__u64 last_ok_ms; /* the last batch answered */
	__u64 syncs_total; /* batches sent */
	__u64 sync_errors_total; /* batches failed: no connection, timeout, error reply */
	__u64 sync_us; /* the last batch's round trip, microseconds */
	__u32 identities; /* global identities synced */
	__u32 pad;
};

/* What the metrics and `burstctl status` show (also in bg_fleet_host). */
struct bg_fleet_stats {
	bool on;
	__u32 link; /* enum bg_fleet_link */
	__u64 link_since_ms;
	__u64 syncs_total;
	__u64 sync_errors_total;
	__u64 sync_us; /* the last batch's round trip */
	__u64 last_ok_ms; /* 0: never */
	__u64 leases_total; /* leases written */
	__u64 lease_writes_deferred_total; /* increases left for the next interval: lock held */
	__u32 identities;
	__u32 by_mode[BG_FLEET_MODE_MAX];
	__u64 oldest_lease_ms; /* the age of the oldest lease in force (held), 0: none */
	__u32 members; /* the largest N the engine told */
};

/* ---- Pure: demand, limits, modes ---- */

/*
 * Demand as a fraction of the global limits, in ppm: (admitted + dropped)
 * over dt_ns, against R (packets) and R (bits); the larger of the two
 * dimensions that are limited. 0 if dt_ns is 0.
 */
__u64 bg_fleet_demand_ppm(const struct bg_limits *global, __u64 pkts, __u64 bytes, __u64 dt_ns);

/*
 * The limits a share stands for: each limited dimension's rate and burst
 * times share, rounded down, at least one unit (1 pps, 1 packet, 8 bit/s,
 * 64 bytes, the smallest frame: a bucket cannot be zero, which would mean
 * unlimited). Action and
 * unlimited dimensions as in global.
 */
void bg_fleet_limits(const struct bg_limits *global, __u32 share_ppm, struct bg_limits *out);

/* The share of a host in safe mode: a whole over N (N 0 counts as 1). */
__u32 bg_fleet_safe_ppm(__u32 members);

/*
 * A lease arrived at now_ms: share, the membership it came with and how
 * long the engine keeps it. The host keeps it until now + 2 * lease_ms:
 * one lease for itself, and one for the leases the engine granted others
 * while still counting this one (docs/fleet.md, engine down).
 */
void bg_fleet_on_lease(struct bg_fleet_rec *r, __u32 share_ppm, __u32 members, __u32 lease_ms,
		       __u64 now_ms);

/*
 * The mode and share of r at now_ms, with no lease arrived: a lease not
 * renewed within lease_ms is held until hold_ms, then the engine-down
 * mode (safe R/N or open). engine_ok says whether the last batch was
 * answered (a lease is "held" only when the engine is not). Returns
 * whether the share in force changed.
 */
bool bg_fleet_age(const struct bg_fleet_cfg *c, struct bg_fleet_rec *r, bool engine_ok,
		  __u64 now_ms);

/* A new global identity, never leased: the engine-down mode from members (or c->hosts). */
void bg_fleet_start(const struct bg_fleet_cfg *c, struct bg_fleet_rec *r, __u32 members,
		    __u64 now_ms);

/* ---- The pinned maps ---- */

/* Open (create: under the writer lock) bg_fleet and bg_fleet_host; -ENOENT if absent. */
int bg_fleet_maps_open(const struct bg_state *s, bool create, int *rec_fd, int *host_fd);
int bg_fleet_rec_get(int fd, const char *name, struct bg_fleet_rec *r);
int bg_fleet_rec_put(int fd, const char *name, const struct bg_fleet_rec *r);
int bg_fleet_rec_del(int fd, const char *name);
int bg_fleet_host_get(int fd, struct bg_fleet_host *h);
int bg_fleet_host_put(int fd, const struct bg_fleet_host *h);

/* Every record: names (BG_NAME_LEN each) and records in two arrays of n; free() both. */
int bg_fleet_rec_list(int fd, char (**names)[BG_NAME_LEN], struct bg_fleet_rec **recs, size_t *n);

/*
 * Every record of the state s in one go (for status and top): n 0 when
 * the state has no fleet maps. free() both arrays.
 */
int bg_fleet_read(const struct bg_state *s, char (**names)[BG_NAME_LEN], struct bg_fleet_rec **recs,
		  size_t *n, struct bg_fleet_host *host);
/* The record of name among n read by bg_fleet_read(); NULL if none. */
const struct bg_fleet_rec *bg_fleet_find(char (*names)[BG_NAME_LEN],
					 const struct bg_fleet_rec *recs, size_t n,
					 const char *name);

/* CLOCK_MONOTONIC in milliseconds. */
__u64 bg_fleet_now_ms(void);

#endif /* BG_FLEET_H */
