// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_tuner.h"

#include <limits.h>

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

/* Half the dead band's worth of capacity (per second) over one interval. */
static __u64 budget(__u64 per_sec, const struct bg_tune_cfg *c)
{
	double band = (double)(c->shrink_above_pct - c->grow_below_pct) / 100.0;

	if (c->shrink_above_pct <= c->grow_below_pct)
		return 0;
	return (__u64)((double)per_sec * band / 2.0 * (double)c->interval_ms / 1000.0);
}

void bg_tune_budgets(const struct bg_tune_cfg *c, const struct bg_tune_sample *s, __u64 *pkts,
		     __u64 *bytes)
{
	__u64 bp = budget(c->capacity_pps, c), bb = budget(c->capacity_bits / 8, c), size;

	*pkts = bp;
	*bytes = bb;
	if (!c->capacity_pps || !c->capacity_bits)
		return; /* one dimension measured: the other cannot move u */
	/*
	 * An identity tuned in one dimension only moves the other too: its
	 * packet burst grown by k lets k packets of its size more through.
	 * The traffic a step releases or cuts is the tuned identities' own,
	 * so their dropped packets give the size; failing that, the host's.
	 */
	if (s && s->cut_pkts)
		size = s->cut_bytes / s->cut_pkts;
	else if (s && s->passed_pkts)
		size = s->passed_bytes / s->passed_pkts;
	else
		size = BG_TUNE_FRAME_BYTES;
	if (!size)
		size = 1;
	*pkts = bp < bb / size ? bp : bb / size;
	*bytes = bb < bp * size ? bb : bp * size;
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

/* The direction, from the two ratios and the memory; updates the memory. */
static enum bg_tune_why decide(const struct bg_tune_cfg *c, struct bg_tune_state *st, double u,
			       double d, enum bg_tune_dir *dir)
{
	*dir = BG_TUNE_HOLD;
	if (u < 0)
		return BG_TUNE_NO_CAPACITY;
	if (u * 100.0 > (double)c->shrink_above_pct) {
		/*
		 * One loaded interval may be one agent's burst: shrink only
		 * when the load lasts, and hold growth for a while after
		 * the host was last seen loaded.
		 */
		st->cooldown = BG_TUNE_COOLDOWN;
		if (st->above < UINT_MAX)
			st->above++;
		if (st->above < BG_TUNE_SHRINK_AFTER)
			return BG_TUNE_CONFIRM;
		*dir = BG_TUNE_SHRINK;
		return BG_TUNE_MOVE;
	}
	st->above = 0;
	if (st->cooldown) {
		st->cooldown--;
		return u * 100.0 < (double)c->grow_below_pct ? BG_TUNE_COOLING : BG_TUNE_BAND;
	}
	if (u * 100.0 >= (double)c->grow_below_pct)
		return BG_TUNE_BAND;
	/*
	 * Larger bursts let through at most what is dropped now: if that
	 * would take the host above H, growing would only make the next
	 * step shrink again.
	 */
	if (d * 100.0 > (double)c->shrink_above_pct)
		return BG_TUNE_DEMAND;
	*dir = BG_TUNE_GROW;
	return BG_TUNE_MOVE;
}

enum bg_tune_dir bg_tune_step(const struct bg_tune_cfg *c, struct bg_tune_state *st,
			      const struct bg_tune_sample *s, struct bg_tune_id *ids, size_t n,
			      struct bg_tune_result *r)
{
	size_t i;

	r->util = bg_tune_util(c, s->passed_pkts, s->passed_bytes, s->dt_ns);
	r->demand = bg_tune_util(c, s->passed_pkts + s->cut_pkts, s->passed_bytes + s->cut_bytes,
				 s->dt_ns);
	bg_tune_budgets(c, s, &r->budget_pkts, &r->budget_bytes);
	r->why = decide(c, st, r->util, r->demand, &r->dir);
	for (i = 0; i < n; i++) {
		ids[i].new_pkts = ids[i].burst_pkts;
		ids[i].new_bytes = ids[i].burst_bytes;
	}
	if (r->dir == BG_TUNE_HOLD)
		return r->dir;
	if (c->capacity_pps)
		move(ids, n, r->dir, r->budget_pkts, 0);
	if (c->capacity_bits)
		move(ids, n, r->dir, r->budget_bytes, 1);
	return r->dir;
}
