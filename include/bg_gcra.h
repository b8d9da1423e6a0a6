/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * GCRA token buckets: the arithmetic shared by the XDP program and the host.
 *
 * Each bucket is one 64-bit word, the theoretical arrival time (TAT): the
 * time at which the bucket would be full again. A packet of cost c conforms
 * if, after charging c * interval, the TAT is no more than tau ahead of now.
 * Only conforming packets move the TAT, so a dropped packet costs nothing.
 *
 * Time unit: one tick is 2^-10 ns. Integer nanoseconds are too coarse: at
 * 100 Mpps the interval is 10 ns and at 400 Gbit/s a byte is 0.02 ns, so
 * rounding each charge to 1 ns would be off by up to 10% (packets) or 100%
 * (bytes). With 2^-10 ns the worst case, a 64-byte frame at 400 Gbit/s, is
 * charged 1310 instead of 1310.72 ticks: 0.055%.
 *
 * The price is range: a u64 of ticks wraps every 2^54 ns (208 days), so all
 * comparisons are on wrapping differences. A TAT can never legitimately be
 * more than BG_TAU_MAX_TICKS ahead of now, so one further ahead is a relic of
 * an idle bucket from before a wrap and is treated as full. A bucket idle for
 * more than 104 days has a 1 in 256 chance to look drained instead; it then
 * refills at its rate, so it is full again within one burst window (an
 * overdrawn bucket is clamped to empty, see bg_tat_state()). See
 * docs/design.md.
 *
 * Concurrency: the TAT is updated with compare-and-swap, retried while other
 * CPUs win the race. Every admitted packet was charged on a TAT no other CPU
 * had charged concurrently, so the limit is exact across CPUs: no per-CPU
 * split of the rate, no lock, no over-admission (see bg_meter2() for two
 * buckets).
 */
#ifndef BG_GCRA_H
#define BG_GCRA_H

#include "bg_compat.h"

#define BG_TICK_SHIFT 10 /* 1 tick = 2^-10 ns */
#define BG_IVL_FRAC 32 /* interval_fp: ns per unit of cost, 32.32 */
#define BG_NSEC_PER_SEC 1000000000ULL

/* Longest burst window (tau) a bucket may have: 2^46 ns, about 19.5 hours. */
#define BG_TAU_MAX_TICKS (1ULL << 56)

/*
 * Costs above this are clamped so that cost * interval cannot overflow; no
 * single XDP frame comes near it (the largest is below 64 KiB).
 */
#define BG_COST_MAX (1U << 20)

/* Compare-and-swap attempts before a packet is given up on (and counted). */
#define BG_CAS_TRIES 8

/* One bucket's configuration. Written by burstctl, read by the XDP program. */
struct bg_bucket {
	__u64 interval_fp; /* ns per unit of cost, 32.32 fixed point; 0: unlimited */
	__u64 tau; /* burst window in ticks: how far the TAT may run ahead */
};

enum bg_take {
	BG_TAKE_CONFORM = 0, /* within the limit: charged */
	BG_TAKE_EXCEED = 1, /* over the limit: not charged */
	BG_TAKE_CONTENDED = 2, /* lost the CAS race BG_CAS_TRIES times */
};

static __always_inline __u64 bg_ticks(__u64 now_ns)
{
	return now_ns << BG_TICK_SHIFT; /* wraps every 208 days: by design */
}

/*
 * cost * interval in ticks, without 128-bit arithmetic (BPF has none):
 * interval_fp = hi * 2^32 + lo, so cost * interval_fp / 2^22 is
 * (cost * hi) << 10 plus (cost * lo) >> 22. With hi < 2^30 (slowest rate:
 * 1 unit per second) and cost <= BG_COST_MAX neither product overflows.
 * The result is rounded down by less than one tick.
 */
static __always_inline __u64 bg_cost_ticks(__u64 interval_fp, __u64 cost)
{
	__u64 hi = interval_fp >> BG_IVL_FRAC;
	__u64 lo = interval_fp & 0xffffffffULL;

	return ((cost * hi) << BG_TICK_SHIFT) + ((cost * lo) >> (BG_IVL_FRAC - BG_TICK_SHIFT));
}

/*
 * Where a bucket stands, from how far its TAT runs ahead of now:
 *   ahead <= 0: full (idle). Further ahead than any bucket can be (more
 *     than BG_TAU_MAX_TICKS): stale from before a clock wrap, also full.
 *   0 < ahead <= tau: partly drained: charges stack on the TAT.
 *   tau < ahead: overdrawn, more debt than the bucket holds: its rate was
 *     raised or its burst lowered since it was charged (or, rarely, a stale
 *     TAT landed here). It is clamped to empty (TAT = now + tau), so it
 *     refills at its current rate at once instead of staying blocked until
 *     the clock catches up with the old debt; clamping never adds tokens.
 */
#define BG_TAT_FULL 0
#define BG_TAT_PARTIAL 1
#define BG_TAT_OVERDRAWN 2

static __always_inline int bg_tat_state(__u64 tat, __u64 tau, __u64 now)
{
	__s64 ahead = (__s64)(tat - now);

	if (ahead <= 0 || (__u64)ahead > BG_TAU_MAX_TICKS)
		return BG_TAT_FULL;
	return (__u64)ahead > tau ? BG_TAT_OVERDRAWN : BG_TAT_PARTIAL;
}

/* Would a charge of inc conform now? Reads only (but clamps an overdraft). */
static __always_inline int bg_bucket_peek(__u64 *tat_p, __u64 tau, __u64 inc, __u64 now)
{
	__u64 tat = bg_read_once(*tat_p);

	switch (bg_tat_state(tat, tau, now)) {
	case BG_TAT_FULL:
		return inc <= tau ? BG_TAKE_CONFORM : BG_TAKE_EXCEED;
	case BG_TAT_OVERDRAWN:
		bg_cmpxchg(tat_p, tat, now + tau); /* lost race: someone moved it */
		return BG_TAKE_EXCEED;
	default:
		return tat + inc - now <= tau ? BG_TAKE_CONFORM : BG_TAKE_EXCEED;
	}
}

/*
 * Charge inc ticks to the bucket whose TAT is at *tat_p if it conforms;
 * *prev and *next say what the compare-and-swap replaced and wrote. now is
 * bg_ticks() of the clock; tau is the bucket's burst window.
 */
static __always_inline int bg_bucket_take(__u64 *tat_p, __u64 tau, __u64 inc, __u64 now,
					  __u64 *prev, __u64 *next)
{
	int i;

	for (i = 0; i < BG_CAS_TRIES; i++) {
		__u64 tat = bg_read_once(*tat_p);
		__u64 n;

		switch (bg_tat_state(tat, tau, now)) {
		case BG_TAT_FULL:
			n = now + inc;
			break;
		case BG_TAT_OVERDRAWN:
			bg_cmpxchg(tat_p, tat, now + tau);
			return BG_TAKE_EXCEED;
		default:
			n = tat + inc;
		}
		if (n - now > tau)
			return BG_TAKE_EXCEED;
		if (bg_cmpxchg(tat_p, tat, n) == tat) {
			*prev = tat;
			*next = n;
			return BG_TAKE_CONFORM;
		}
	}
	return BG_TAKE_CONTENDED;
}

/*
 * Meter one packet of len bytes against a packet bucket and a byte bucket:
 * it conforms only if both have room.
 *
 * With both buckets set, both are first checked without writing, so a
 * packet that one refuses costs the other nothing. Then each is charged by
 * compare-and-swap. The byte bucket can still refuse at that point only if
 * another CPU drained it in between; the packet charge is then undone by
 * compare-and-swap, exactly, if no other packet was charged after it, and
 * otherwise left in place: a blind subtraction could erase another CPU's
 * charge and over-admit, a charge left in place only under-admits.
 */
static __always_inline int bg_meter2(__u64 *pkt_tat, const struct bg_bucket *pkt, __u64 *byte_tat,
				     const struct bg_bucket *byte, __u64 now, __u32 len)
{
	__u64 pinc = 0, binc = 0, prev = 0, next = 0, bprev, bnext;
	int ret;

	if (len > BG_COST_MAX)
		len = BG_COST_MAX;
	if (pkt->interval_fp)
		pinc = bg_cost_ticks(pkt->interval_fp, 1);
	if (byte->interval_fp)
		binc = bg_cost_ticks(byte->interval_fp, len);
	if (pinc && binc &&
	    (bg_bucket_peek(pkt_tat, pkt->tau, pinc, now) != BG_TAKE_CONFORM ||
	     bg_bucket_peek(byte_tat, byte->tau, binc, now) != BG_TAKE_CONFORM))
		return BG_TAKE_EXCEED;
	if (pinc) {
		ret = bg_bucket_take(pkt_tat, pkt->tau, pinc, now, &prev, &next);
		if (ret != BG_TAKE_CONFORM)
			return ret;
	}
	if (binc) {
		ret = bg_bucket_take(byte_tat, byte->tau, binc, now, &bprev, &bnext);
		if (ret != BG_TAKE_CONFORM) {
			if (pinc)
				bg_cmpxchg(pkt_tat, next, prev);
			return ret;
		}
	}
	return BG_TAKE_CONFORM;
}

#ifndef __bpf__
/* ---- Host side: turning rates into buckets, and buckets into fill. ---- */

/* Limits of what a bucket can represent (see the overflow notes above). */
#define BG_PPS_MIN 1ULL
#define BG_PPS_MAX 1000000000ULL /* 1 Gpps: interval 1 ns */
#define BG_BITS_MIN 8ULL /* 1 byte/s */
#define BG_BITS_MAX 10000000000000ULL /* 10 Tbit/s */

/* interval_fp of a rate of `per_sec` units per second, rounded to nearest. */
static inline __u64 bg_interval_fp(__u64 per_sec)
{
	const __u64 num = BG_NSEC_PER_SEC << BG_IVL_FRAC; /* < 2^62 */

	return (num + per_sec / 2) / per_sec;
}

/*
 * Packet bucket: rate_pps in [1, 1e9], burst_pkts >= 1. tau is exactly
 * burst * (cost of one packet), so a full bucket admits exactly burst
 * packets back to back whatever the rounding of the interval.
 * Returns 0, or -ERANGE if the burst window exceeds BG_TAU_MAX_TICKS.
 */
static inline int bg_bucket_set_pkts(struct bg_bucket *b, __u64 rate_pps, __u64 burst_pkts)
{
	__u64 ivl, inc;

	if (rate_pps < BG_PPS_MIN || rate_pps > BG_PPS_MAX || burst_pkts < 1)
		return -22; /* -EINVAL */
	ivl = bg_interval_fp(rate_pps);
	inc = bg_cost_ticks(ivl, 1);
	if (burst_pkts > BG_TAU_MAX_TICKS / inc)
		return -34; /* -ERANGE */
	b->interval_fp = ivl;
	b->tau = burst_pkts * inc;
	return 0;
}

/*
 * Byte bucket: rate in bits per second, burst in bytes. The interval per
 * byte is 8e9 / rate_bits ns; 8e9 * 2^32 does not fit in 64 bits, so it is
 * computed as 8 * (q + r / rate) from the 1e9 * 2^32 quotient.
 */
static inline int bg_bucket_set_bytes(struct bg_bucket *b, __u64 rate_bits, __u64 burst_bytes)
{
	const __u64 num = BG_NSEC_PER_SEC << BG_IVL_FRAC;
	__u64 q, r, ivl, per_byte;

	if (rate_bits < BG_BITS_MIN || rate_bits > BG_BITS_MAX || burst_bytes < 1)
		return -22;
	q = num / rate_bits;
	r = num % rate_bits;
	ivl = 8 * q + (8 * r + rate_bits / 2) / rate_bits;
	per_byte = bg_cost_ticks(ivl, 1) + 1; /* upper bound on ticks/byte */
	if (burst_bytes > BG_TAU_MAX_TICKS / per_byte)
		return -34;
	/* burst_bytes * ivl may need more than 2^20 cost: split it. */
	b->interval_fp = ivl;
	b->tau = (burst_bytes >> 20) * bg_cost_ticks(ivl, 1ULL << 20) +
		 bg_cost_ticks(ivl, burst_bytes & ((1ULL << 20) - 1));
	return 0;
}

/*
 * A bucket's config changes from o to n: the TAT for the new config that
 * keeps the bucket's tokens (clamped to the new burst). The TAT holds debt
 * in time, and a new rate or burst would read the same time as another
 * number of tokens: lowering a rate would refill a drained bucket. Full
 * stays full and empty stays empty; an unlimited side means full.
 */
static inline __u64 bg_bucket_rescale(const struct bg_bucket *o, const struct bg_bucket *n,
				      __u64 tat, __u64 now)
{
	double per_o, per_n, tokens;

	if (!o->interval_fp || !n->interval_fp)
		return now;
	switch (bg_tat_state(tat, o->tau, now)) {
	case BG_TAT_FULL:
		return now;
	case BG_TAT_OVERDRAWN:
		return now + n->tau;
	default:
		break;
	}
	per_o = (double)o->interval_fp; /* the 2^-22 scale cancels out */
	per_n = (double)n->interval_fp;
	tokens = (double)(o->tau - (tat - now)) / per_o * per_n; /* in new ticks */
	if (tokens >= (double)n->tau)
		return now;
	return now + n->tau - (__u64)tokens;
}

/*
 * As bg_bucket_rescale(), but the tokens are kept exactly, full or not: a
 * full bucket whose burst grows is not refilled (it holds its old burst's
 * worth and fills at the new rate). Fleet leases move burst between hosts
 * every interval; with "full stays full" a share leaving a drained host
 * would reappear as fresh tokens on an idle one, and the fleet could admit
 * more than its burst B (docs/fleet.md, the accuracy bound).
 */
static inline __u64 bg_bucket_rescale_strict(const struct bg_bucket *o, const struct bg_bucket *n,
					     __u64 tat, __u64 now)
{
	double tokens;
	__u64 ahead;

	if (!o->interval_fp || !n->interval_fp)
		return now;
	switch (bg_tat_state(tat, o->tau, now)) {
	case BG_TAT_FULL:
		ahead = 0;
		break;
	case BG_TAT_OVERDRAWN:
		return now + n->tau;
	default:
		ahead = tat - now;
		break;
	}
	tokens = (double)(o->tau - ahead) / (double)o->interval_fp * (double)n->interval_fp;
	if (tokens >= (double)n->tau)
		return now;
	return now + n->tau - (__u64)tokens;
}

/*
 * How many units of cost (packets or bytes) the bucket would admit right
 * now, back to back: tau minus how far the TAT runs ahead, over the cost of
 * one unit. Host only: uses floating point.
 */
static inline double bg_bucket_fill(const struct bg_bucket *b, __u64 tat, __u64 now)
{
	__s64 ahead = (__s64)(tat - now);
	double per_unit;

	if (!b->interval_fp)
		return -1.0; /* unlimited */
	if (ahead <= 0 || (__u64)ahead > BG_TAU_MAX_TICKS)
		ahead = 0;
	if ((__u64)ahead >= b->tau)
		return 0.0;
	per_unit = (double)b->interval_fp / (double)(1ULL << (BG_IVL_FRAC - BG_TICK_SHIFT));
	return (double)(b->tau - (__u64)ahead) / per_unit;
}
#endif /* !__bpf__ */

#endif /* BG_GCRA_H */
