/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Adaptive burst tuning: the control law, pure (no maps, no clock), so the
 * unit tests drive it with synthetic counter series. docs/tuner.md says
 * what it reads, how fast it moves and why it does not oscillate.
 *
 * Every interval two ratios to the declared capacity (the larger of the
 * packet and byte ratios): u, the traffic the host admitted, and the
 * demand d, u plus what the tuned identities had dropped (the traffic that
 * larger bursts could let through). Above shrink_above (u > H) for two
 * intervals in a row, every tuned burst shrinks toward its burst_min; below
 * grow_below (u < L), and only if d <= H and no interval above H came in
 * the last BG_TUNE_COOLDOWN, every tuned burst grows toward its burst_max;
 * otherwise nothing moves. The sum of the changes of one step is capped at
 * half the dead band's worth of capacity over one interval, in packets and
 * in bytes consistently. Rates are never touched.
 */
#ifndef BG_TUNER_H
#define BG_TUNER_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "bg_policy.h"

#define BG_TUNE_GROW_GAIN 4 /* grow by 1/4 of the distance to burst_max */
#define BG_TUNE_SHRINK_GAIN 2 /* shrink by 1/2 of the distance to burst_min */
#define BG_TUNE_SHRINK_AFTER 2 /* intervals above H in a row before a shrink */
#define BG_TUNE_COOLDOWN 5 /* intervals not above H before growth resumes */
#define BG_TUNE_FRAME_BYTES 1514 /* bytes per packet when none were measured */

enum bg_tune_dir {
	BG_TUNE_SHRINK = -1,
	BG_TUNE_HOLD = 0,
	BG_TUNE_GROW = 1,
};

/* Why a step held (BG_TUNE_MOVE: it did not). */
enum bg_tune_why {
	BG_TUNE_MOVE,
	BG_TUNE_NO_CAPACITY, /* nothing declared, or no time elapsed */
	BG_TUNE_BAND, /* L <= u <= H */
	BG_TUNE_CONFIRM, /* above H, but not yet BG_TUNE_SHRINK_AFTER intervals in a row */
	BG_TUNE_COOLING, /* below L, but above H less than BG_TUNE_COOLDOWN intervals ago */
	BG_TUNE_DEMAND, /* below L, but the dropped traffic would take the host above H */
};

struct bg_tune_cfg {
	__u64 capacity_pps; /* 0: packet bursts are not tuned */
	__u64 capacity_bits; /* 0: byte bursts are not tuned */
	__u32 interval_ms;
	__u32 grow_below_pct;
	__u32 shrink_above_pct;
};

/* What one interval measured (counter differences). */
struct bg_tune_sample {
	__u64 dt_ns; /* the interval's length */
	__u64 passed_pkts; /* admitted by the host: every identity, the default included */
	__u64 passed_bytes;
	__u64 cut_pkts; /* dropped by the tuned identities: latent demand */
	__u64 cut_bytes;
};

/* The law's memory between steps; zero it to start. */
struct bg_tune_state {
	unsigned int above; /* intervals above H in a row */
	unsigned int cooldown; /* intervals left before growth may resume */
};

struct bg_tune_id {
	__u32 slot; /* identity index, for the caller */
	struct bg_tune_bounds b;
	__u64 burst_pkts; /* in force now */
	__u64 burst_bytes;
	__u64 new_pkts; /* what the step decided (= burst_* if unchanged) */
	__u64 new_bytes;
};

struct bg_tune_result {
	enum bg_tune_dir dir;
	enum bg_tune_why why;
	double util; /* u: admitted over capacity; -1 if no capacity */
	double demand; /* d: admitted + cut over capacity; -1 if no capacity */
	__u64 budget_pkts; /* the most this step may change the sum of bursts */
	__u64 budget_bytes;
};

/*
 * Utilisation (1.0 = capacity) from packets and bytes over dt_ns; the larger
 * of the two declared dimensions. -1 if none is.
 */
double bg_tune_util(const struct bg_tune_cfg *c, __u64 dpkts, __u64 dbytes, __u64 dt_ns);

/*
 * The step budgets (packets, bytes) for a sample: half the band's worth of
 * each capacity over one interval. With both capacities declared, the two
 * are made consistent through the mean packet size of the cut traffic (of
 * the admitted traffic if nothing was cut, else BG_TUNE_FRAME_BYTES): a
 * packet burst that grows lets that many bytes more through, and a byte
 * burst that grows that many packets more.
 */
void bg_tune_budgets(const struct bg_tune_cfg *c, const struct bg_tune_sample *s, __u64 *pkts,
		     __u64 *bytes);

/*
 * One step: updates *st, fills new_pkts/new_bytes of every identity and *r.
 * Returns the direction (r->dir).
 */
enum bg_tune_dir bg_tune_step(const struct bg_tune_cfg *c, struct bg_tune_state *st,
			      const struct bg_tune_sample *s, struct bg_tune_id *ids, size_t n,
			      struct bg_tune_result *r);

#endif /* BG_TUNER_H */
