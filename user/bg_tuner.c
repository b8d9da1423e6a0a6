// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_tuner.h"

double bg_tune_util(const struct bg_tune_cfg *c, __u64 dpkts, __u64 dbytes, __u64 dt_ns)
{
	double secs = (double)dt_ns / 1e9, u = -1.0, v;

	if (secs <= 0)
		return -1.0;
	if (c->capacity_pps) {
		v = (double)dpkts / secs / (double)c->capacity_pps;
		u = v > u ? v : u;
	}
	if (c->capacity_bits) {
		v = (double)dbytes * 8.0 / secs / (double)c->capacity_bits;
		u = v > u ? v : u;
	}
	return u;
}

/* Half the dead band's worth of capacity over one interval. */
static __u64 budget(__u64 per_sec, const struct bg_tune_cfg *c)
{
	double band = (double)(c->shrink_above_pct - c->grow_below_pct) / 100.0;

	if (c->shrink_above_pct <= c->grow_below_pct)
		return 0;
	return (__u64)((double)per_sec * band / 2.0 * (double)c->interval_ms / 1000.0);
}

__u64 bg_tune_budget_pkts(const struct bg_tune_cfg *c)
{
	return budget(c->capacity_pps, c);
}

__u64 bg_tune_budget_bytes(const struct bg_tune_cfg *c)
{
	return budget(c->capacity_bits / 8, c);
}

/* How far each burst wants to move this step (unsigned; dir gives the sign). */
static __u64 want(__u64 cur, __u64 min, __u64 max, enum bg_tune_dir dir)
{
	__u64 d;

	if (!max)
		return 0; /* not tuned in this dimension */
	if (dir == BG_TUNE_GROW) {
		d = cur < max ? max - cur : 0;
		return (d + BG_TUNE_GROW_GAIN - 1) / BG_TUNE_GROW_GAIN;
	}
	d = cur > min ? cur - min : 0;
	return (d + BG_TUNE_SHRINK_GAIN - 1) / BG_TUNE_SHRINK_GAIN;
}

static __u64 clamp(__u64 v, __u64 lo, __u64 hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/*
 * Move one dimension of every identity, the sum of the moves capped at cap:
 * when the wishes add up to more, each gets its share (rounded down, so the
 * sum stays within the cap).
 */
static void move(struct bg_tune_id *ids, size_t n, enum bg_tune_dir dir, __u64 cap, int bytes)
{
	__u64 total = 0, d;
	size_t i;

	for (i = 0; i < n; i++)
		total += bytes ? want(ids[i].burst_bytes, ids[i].b.min_bytes, ids[i].b.max_bytes,
				      dir) :
				 want(ids[i].burst_pkts, ids[i].b.min_pkts, ids[i].b.max_pkts, dir);
	for (i = 0; i < n; i++) {
		struct bg_tune_id *t = &ids[i];
		__u64 cur = bytes ? t->burst_bytes : t->burst_pkts;
		__u64 lo = bytes ? t->b.min_bytes : t->b.min_pkts;
		__u64 hi = bytes ? t->b.max_bytes : t->b.max_pkts;
		__u64 *out = bytes ? &t->new_bytes : &t->new_pkts;

		*out = cur;
		if (!hi)
			continue;
		d = want(cur, lo, hi, dir);
		if (total > cap)
			d = (__u64)((double)d * (double)cap / (double)total);
		*out = clamp(dir == BG_TUNE_GROW ? cur + d : cur - (d < cur ? d : cur), lo, hi);
	}
}

enum bg_tune_dir bg_tune_step(const struct bg_tune_cfg *c, double util, struct bg_tune_id *ids,
			      size_t n)
{
	enum bg_tune_dir dir = BG_TUNE_HOLD;
	size_t i;

	if (util >= 0 && util * 100.0 < (double)c->grow_below_pct)
		dir = BG_TUNE_GROW;
	else if (util >= 0 && util * 100.0 > (double)c->shrink_above_pct)
		dir = BG_TUNE_SHRINK;
	for (i = 0; i < n; i++) {
		ids[i].new_pkts = ids[i].burst_pkts;
		ids[i].new_bytes = ids[i].burst_bytes;
	}
	if (dir == BG_TUNE_HOLD)
		return dir;
	if (c->capacity_pps)
		move(ids, n, dir, bg_tune_budget_pkts(c), 0);
	if (c->capacity_bits)
		move(ids, n, dir, bg_tune_budget_bytes(c), 1);
	return dir;
}
