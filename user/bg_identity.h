/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Identities: named, with a packet bucket, a byte bucket and an action.
 * A library over the pinned maps, used by burstctl and by the tests.
 * Mutating calls expect the state opened with BG_OPEN_WRITE.
 */
#ifndef BG_IDENTITY_H
#define BG_IDENTITY_H

#include <stddef.h>
#include <linux/types.h>

#include "bg_common.h"
#include "bg_state.h"

/* Limits as a user states them; 0 rates mean unlimited. */
struct bg_limits {
	__u64 rate_pps;
	__u64 burst_pkts; /* 0: default, 100 ms worth of rate (at least 1) */
	__u64 byte_rate_bits; /* bits per second */
	__u64 burst_bytes; /* 0: default, 100 ms worth (at least 1514) */
	__u32 action; /* enum bg_action */
};

/* Which fields of struct bg_limits a command gave. */
enum {
	BG_LIM_RATE = 1 << 0,
	BG_LIM_BURST = 1 << 1,
	BG_LIM_BYTE_RATE = 1 << 2,
	BG_LIM_BYTE_BURST = 1 << 3,
	BG_LIM_ACTION = 1 << 4,
};

struct bg_identity {
	char name[BG_NAME_LEN];
	__u32 id;
	struct bg_id_meta meta; /* limits as given (defaults resolved) */
	struct bg_id_cfg cfg; /* what the XDP program enforces */
};

const char *bg_action_name(__u32 action);
int bg_action_parse(const char *s, __u32 *action);

/* Names: 1-47 characters of [A-Za-z0-9_.:@-], not starting with '-'. */
int bg_name_check(const char *name, char *err, size_t errlen);

/*
 * Merge the given fields of *l into *cur (the identity's current limits),
 * resolve default bursts, and build the XDP config. On -EINVAL/-ERANGE the
 * message in err says which argument is wrong and what is accepted.
 */
int bg_limits_apply(struct bg_limits *cur, const struct bg_limits *l, unsigned int mask,
		    struct bg_id_cfg *cfg, char *err, size_t errlen);

int bg_identity_add(struct bg_state *s, const char *name, const struct bg_limits *l,
		    unsigned int mask, struct bg_identity *out);
int bg_identity_set(struct bg_state *s, const char *name, const struct bg_limits *l,
		    unsigned int mask, struct bg_identity *out);
/*
 * bg_identity_set() whose buckets keep exactly their tokens: a full bucket
 * whose burst grows is not refilled (bg_bucket_rescale_strict()). For
 * limits that move between hosts, the fleet's leases (docs/fleet.md).
 */
int bg_identity_set_strict(struct bg_state *s, const char *name, const struct bg_limits *l,
			   unsigned int mask, struct bg_identity *out);
int bg_identity_del(struct bg_state *s, const char *name);
int bg_identity_get(const struct bg_state *s, const char *name, struct bg_identity *out);

/* All identities, sorted by id; free() the array. */
int bg_identity_list(const struct bg_state *s, struct bg_identity **out, size_t *n);

/*
 * The name of identity slot id through a table kept by a long-running
 * caller (names[slot], s->max_ids entries, "" where unknown): one map
 * lookup confirms the table's name still belongs to id; a miss or a stale
 * entry (the identity renamed or its slot reused by hand) falls back to
 * bg_id_name_of(), a scan of every identity, and updates the table, so the
 * scan is paid once per change, not once per call. -ENOENT: no identity.
 */
int bg_id_name_cached(const struct bg_state *s, char (*names)[BG_NAME_LEN], __u32 id, char *name,
		      size_t len);

/*
 * Before and after a live identity's config changes from o to n, keep its
 * buckets' tokens (bg_bucket_rescale()). A bucket whose window shrinks is
 * rescaled before the new config is written (BG_RESCALE_BEFORE), one whose
 * window grows after (BG_RESCALE_AFTER): at every instant the TAT is valid
 * for whichever config a packet reads.
 */
enum { BG_RESCALE_BEFORE, BG_RESCALE_AFTER };
void bg_identity_rescale(const struct bg_state *s, __u32 id, const struct bg_id_cfg *o,
			 const struct bg_id_cfg *n, int when);

/* Reset one identity's buckets to full (atomically, through the mmap). */
void bg_identity_reset_buckets(const struct bg_state *s, __u32 id);

#endif /* BG_IDENTITY_H */
