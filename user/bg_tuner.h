/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Adaptive burst tuning: the control law, pure (no maps, no clock), so the
 * unit tests drive it with synthetic counter series. docs/tuner.md says
 * what it reads, how fast it moves and why it cannot oscillate.
 *
 * Every interval: utilisation u = admitted traffic of the whole host over
 * the declared capacity (the larger of packets and bytes). Below grow_below
 * every tuned burst grows toward its burst_max, above shrink_above it shrinks
 * toward its burst_min, in between nothing moves (the dead band). The sum of
 * the changes of one step is capped at half the band's worth of capacity
 * over one interval, so one step can move u by at most half the band: the
 * controller can never jump over the band, and it stops the first time u is
 * inside it. Rates are never touched.
 */
#ifndef BG_TUNER_H
#define BG_TUNER_H

#include <stddef.h>
#include <linux/types.h>

#include "bg_policy.h"

#define BG_TUNE_GROW_GAIN 4 /* grow by 1/4 of the distance to burst_max */
#define BG_TUNE_SHRINK_GAIN 2 /* shrink by 1/2 of the distance to burst_min */

enum bg_tune_dir {
	BG_TUNE_SHRINK = -1,
	BG_TUNE_HOLD = 0,
	BG_TUNE_GROW = 1,
};

struct bg_tune_cfg {
	__u64 capacity_pps; /* 0: packet bursts are not tuned */
	__u64 capacity_bits; /* 0: byte bursts are not tuned */
	__u32 interval_ms;
	__u32 grow_below_pct;
	__u32 shrink_above_pct;
};

struct bg_tune_id {
	__u32 slot; /* identity index, for the caller */
	struct bg_tune_bounds b;
	__u64 burst_pkts; /* in force now */
	__u64 burst_bytes;
	__u64 new_pkts; /* what the step decided (= burst_* if unchanged) */
	__u64 new_bytes;
};

/*
 * Utilisation (1.0 = capacity) from the host's admitted packets and bytes
 * over dt_ns; the larger of the two declared dimensions. -1 if none is.
 */
double bg_tune_util(const struct bg_tune_cfg *c, __u64 dpkts, __u64 dbytes, __u64 dt_ns);

/* One step: fills new_pkts/new_bytes of every identity; returns the direction. */
enum bg_tune_dir bg_tune_step(const struct bg_tune_cfg *c, double util, struct bg_tune_id *ids,
			      size_t n);

/* The most one step may change the sum of bursts (packets, bytes). */
__u64 bg_tune_budget_pkts(const struct bg_tune_cfg *c);
__u64 bg_tune_budget_bytes(const struct bg_tune_cfg *c);

#endif /* BG_TUNER_H */
