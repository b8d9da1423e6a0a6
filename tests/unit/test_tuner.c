// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The tuner's control law on synthetic counter series (the clock is the
 * sample's dt): an idle host grows bursts to their maximum, a host loaded
 * for longer than one interval shrinks them to their minimum, the dead band
 * holds them, growth waits for the cool-down and for the demand to fit,
 * one step never moves more than the budget (in packets and bytes alike),
 * and in closed loop, the bursts themselves cutting the load they let
 * through, it settles without oscillating.
 */
#include <math.h>
#include <string.h>

#include "bg_tuner.h"
#include "unit.h"

#define SEC 1000000000ULL

static const struct bg_tune_cfg cfg = {
	.capacity_pps = 10000,
	.interval_ms = 1000,
	.grow_below_pct = 60,
	.shrink_above_pct = 85,
};

static void one(struct bg_tune_id *t, __u64 min, __u64 max, __u64 cur)
{
	memset(t, 0, sizeof(*t));
	t->b.min_pkts = min;
	t->b.max_pkts = max;
	t->burst_pkts = cur;
}

static void commit(struct bg_tune_id *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		t[i].burst_pkts = t[i].new_pkts;
		t[i].burst_bytes = t[i].new_bytes;
	}
}

/* One step of 1 s at utilisation u (of cfg's 10000 pps), with cut packets dropped. */
static enum bg_tune_dir step(struct bg_tune_state *st, double u, __u64 cut, struct bg_tune_id *t,
			     size_t n, struct bg_tune_result *r)
{
	struct bg_tune_sample s = { SEC, (__u64)(u * 10000 + 0.5), 0, cut, 0 };
	struct bg_tune_result scratch;

	return bg_tune_step(&cfg, st, &s, t, n, r ? r : &scratch);
}

static void test_util(void)
{
	struct bg_tune_cfg c = cfg;
	struct bg_tune_sample s = { 2 * SEC, 5000, 0, 5000, 0 };
	struct bg_tune_state st = {};
	struct bg_tune_result r;
	__u64 bp, bb;

	CU_ASSERT_DOUBLE_EQUAL(bg_tune_util(&c, 5000, 0, SEC), 0.5, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(bg_tune_util(&c, 5000, 0, 2 * SEC), 0.25, 1e-9);
	c.capacity_bits = 8000000; /* 1 MB/s */
	/* the larger of packets and bytes */
	CU_ASSERT_DOUBLE_EQUAL(bg_tune_util(&c, 1000, 900000, SEC), 0.9, 1e-9);
	c.capacity_pps = c.capacity_bits = 0;
	CU_ASSERT(bg_tune_util(&c, 1000, 1000, SEC) < 0);
	CU_ASSERT(bg_tune_util(&cfg, 1000, 1000, 0) < 0);
	/* half the band's worth of capacity: 12.5% of 10000 pps over 1 s */
	bg_tune_budgets(&cfg, NULL, &bp, &bb);
	CU_ASSERT_EQUAL(bp, 1250);
	CU_ASSERT_EQUAL(bb, 0);
	/* the sample's own clock: 5000 passed over 2 s is 25%, with the cut 50% */
	bg_tune_step(&cfg, &st, &s, NULL, 0, &r);
	CU_ASSERT_DOUBLE_EQUAL(r.util, 0.25, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(r.demand, 0.50, 1e-9);
	CU_ASSERT_EQUAL(r.dir, BG_TUNE_GROW);
	/* no capacity: nothing measured, nothing moves, no memory kept */
	c = cfg;
	c.capacity_pps = 0;
	CU_ASSERT_EQUAL(bg_tune_step(&c, &st, &s, NULL, 0, &r), BG_TUNE_HOLD);
	CU_ASSERT_EQUAL(r.why, BG_TUNE_NO_CAPACITY);
	CU_ASSERT(r.util < 0);
}

/* Idle host: every step grows, monotonically, up to burst_max and no further. */
static void test_idle_grows(void)
{
	struct bg_tune_state st = {};
	struct bg_tune_id t[2];
	int s, last = 10;

	one(&t[0], 10, 200, 10);
	one(&t[1], 5, 5000, 5);
	for (s = 0; s < 60; s++) {
		CU_ASSERT_EQUAL(step(&st, 0.05, 0, t, 2, NULL), BG_TUNE_GROW);
		CU_ASSERT(t[0].new_pkts >= t[0].burst_pkts);
		CU_ASSERT(t[0].new_pkts <= 200);
		CU_ASSERT(t[1].new_pkts <= 5000);
		commit(t, 2);
		last = (int)t[0].burst_pkts;
	}
	CU_ASSERT_EQUAL(last, 200);
	CU_ASSERT_EQUAL(t[1].burst_pkts, 5000);
}

/*
 * Loaded host: the first interval above H only counts; from the second in
 * a row on, every step shrinks, monotonically, down to burst_min.
 */
static void test_saturated_shrinks(void)
{
	struct bg_tune_state st = {};
	struct bg_tune_result r;
	struct bg_tune_id t;
	int s;

	one(&t, 10, 2000, 2000);
	CU_ASSERT_EQUAL(step(&st, 0.97, 0, &t, 1, &r), BG_TUNE_HOLD);
	CU_ASSERT_EQUAL(r.why, BG_TUNE_CONFIRM);
	CU_ASSERT_EQUAL(t.new_pkts, 2000);
	for (s = 0; s < 30; s++) {
		CU_ASSERT_EQUAL(step(&st, 0.97, 0, &t, 1, NULL), BG_TUNE_SHRINK);
		CU_ASSERT(t.new_pkts <= t.burst_pkts);
		CU_ASSERT(t.new_pkts >= 10);
		commit(&t, 1);
	}
	CU_ASSERT_EQUAL(t.burst_pkts, 10);
}

/* Inside the band nothing moves, its edges included. */
static void test_band_holds(void)
{
	struct bg_tune_state st = {};
	struct bg_tune_result r;
	struct bg_tune_id t;

	one(&t, 10, 2000, 500);
	CU_ASSERT_EQUAL(step(&st, 0.70, 0, &t, 1, &r), BG_TUNE_HOLD);
	CU_ASSERT_EQUAL(r.why, BG_TUNE_BAND);
	CU_ASSERT_EQUAL(t.new_pkts, 500);
	CU_ASSERT_EQUAL(step(&st, 0.60, 0, &t, 1, NULL), BG_TUNE_HOLD);
	CU_ASSERT_EQUAL(step(&st, 0.85, 0, &t, 1, NULL), BG_TUNE_HOLD);
	CU_ASSERT_EQUAL(step(&st, 0.85, 0, &t, 1, NULL), BG_TUNE_HOLD);
	CU_ASSERT_EQUAL(t.new_pkts, 500);
}

/*
 * One loaded interval (an agent's burst on an idle host) moves no burst,
 * but holds growth for the cool-down; growth resumes after it.
 */
static void test_one_loaded_interval(void)
{
	struct bg_tune_state st = {};
	struct bg_tune_result r;
	struct bg_tune_id t;
	int s;

	one(&t, 10, 2000, 500);
	CU_ASSERT_EQUAL(step(&st, 1.5, 0, &t, 1, NULL), BG_TUNE_HOLD);
	CU_ASSERT_EQUAL(t.new_pkts, 500);
	for (s = 0; s < BG_TUNE_COOLDOWN; s++) {
		CU_ASSERT_EQUAL(step(&st, 0.05, 0, &t, 1, &r), BG_TUNE_HOLD);
		CU_ASSERT_EQUAL(r.why, BG_TUNE_COOLING);
	}
	CU_ASSERT_EQUAL(step(&st, 0.05, 0, &t, 1, NULL), BG_TUNE_GROW);
	CU_ASSERT(t.new_pkts > 500);
	/* intervals in the band count toward the cool-down too */
	step(&st, 1.5, 0, &t, 1, NULL);
	for (s = 0; s < BG_TUNE_COOLDOWN; s++)
		CU_ASSERT_EQUAL(step(&st, 0.70, 0, &t, 1, NULL), BG_TUNE_HOLD);
	CU_ASSERT_EQUAL(step(&st, 0.05, 0, &t, 1, NULL), BG_TUNE_GROW);
}

/*
 * After a shrink the host is quiet but the tuned agents drop what the
 * smaller bursts cut: as long as that would take the host above H, growth
 * waits (the latent demand); once it fits below H, it grows.
 */
static void test_latent_demand(void)
{
	struct bg_tune_state st = {};
	struct bg_tune_result r;
	struct bg_tune_id t;
	int s;

	one(&t, 10, 2000, 1000);
	step(&st, 0.95, 0, &t, 1, NULL);
	CU_ASSERT_EQUAL(step(&st, 0.95, 0, &t, 1, NULL), BG_TUNE_SHRINK);
	commit(&t, 1);
	/* 40% passed, 5000 packets cut: demand 90% > 85% */
	for (s = 0; s < 3 * BG_TUNE_COOLDOWN; s++) {
		CU_ASSERT_EQUAL(step(&st, 0.40, 5000, &t, 1, &r), BG_TUNE_HOLD);
		CU_ASSERT_DOUBLE_EQUAL(r.demand, 0.90, 1e-9);
		CU_ASSERT_EQUAL(t.new_pkts, t.burst_pkts);
	}
	CU_ASSERT_EQUAL(r.why, BG_TUNE_DEMAND);
	/* the demand at H exactly fits */
	CU_ASSERT_EQUAL(step(&st, 0.40, 4500, &t, 1, NULL), BG_TUNE_GROW);
}

/* Many identities wanting a lot: the step's total stays within the budget. */
static void test_budget(void)
{
	struct bg_tune_state st = {};
	struct bg_tune_id t[50];
	__u64 sum = 0, bp, bb;
	size_t i;

	bg_tune_budgets(&cfg, NULL, &bp, &bb);
	for (i = 0; i < 50; i++)
		one(&t[i], 10, 100000, 10);
	step(&st, 0.0, 0, t, 50, NULL);
	for (i = 0; i < 50; i++) {
		CU_ASSERT(t[i].new_pkts > t[i].burst_pkts); /* everyone moves */
		sum += t[i].new_pkts - t[i].burst_pkts;
	}
	CU_ASSERT(sum <= bp);
	CU_ASSERT(sum >= bp - 50); /* and the budget is used */
	for (i = 0; i < 50; i++)
		t[i].burst_pkts = 100000;
	step(&st, 1.0, 0, t, 50, NULL);
	step(&st, 1.0, 0, t, 50, NULL);
	for (sum = 0, i = 0; i < 50; i++) {
		CU_ASSERT(t[i].new_pkts < t[i].burst_pkts);
		sum += t[i].burst_pkts - t[i].new_pkts;
	}
	CU_ASSERT(sum <= bp);
}

/*
 * Packets and bytes consistently: with both capacities declared, an
 * identity tuned in packets only, sending full frames, grows by at most
 * half the band's worth of bytes too (and one tuned in bytes only, sending
 * small packets, by at most half the band's worth of packets).
 */
static void test_budget_units(void)
{
	struct bg_tune_cfg c = cfg;
	struct bg_tune_sample s = { SEC, 1000, 1000 * 1500, 1000, 1000 * 1500 };
	struct bg_tune_state st = {};
	struct bg_tune_result r;
	struct bg_tune_id t;
	__u64 half_pkts, half_bytes, bp, bb;

	c.capacity_bits = 80000000; /* 10 MB/s: half the band over 1 s is 1.25 MB */
	half_pkts = 1250;
	half_bytes = 1250000;
	one(&t, 10, 100000, 10);
	bg_tune_step(&c, &st, &s, &t, 1, &r);
	CU_ASSERT_EQUAL(r.dir, BG_TUNE_GROW);
	/* 1500-byte packets: the bytes bind, 1.25 MB / 1500 = 833 packets */
	CU_ASSERT_EQUAL(r.budget_pkts, half_bytes / 1500);
	CU_ASSERT((t.new_pkts - t.burst_pkts) * 1500 <= half_bytes);
	CU_ASSERT(t.new_pkts - t.burst_pkts >= half_bytes / 1500 - 1);
	/* 100-byte packets: the packets bind, and the bytes follow them */
	memset(&t, 0, sizeof(t));
	t.b.min_bytes = 1514;
	t.b.max_bytes = 100000000;
	t.burst_bytes = 1514;
	s = (struct bg_tune_sample){ SEC, 1000, 100000, 1000, 100000 };
	bg_tune_step(&c, &st, &s, &t, 1, &r);
	CU_ASSERT_EQUAL(r.budget_pkts, half_pkts);
	CU_ASSERT_EQUAL(r.budget_bytes, half_pkts * 100);
	CU_ASSERT((t.new_bytes - t.burst_bytes) / 100 <= half_pkts);
	/* the size is the cut traffic's; the admitted one's without cut; a frame without either */
	s = (struct bg_tune_sample){ SEC, 1000, 64000, 0, 0 };
	bg_tune_budgets(&c, &s, &bp, &bb);
	CU_ASSERT_EQUAL(bb, half_pkts * 64);
	bg_tune_budgets(&c, NULL, &bp, &bb);
	CU_ASSERT_EQUAL(bp, half_bytes / BG_TUNE_FRAME_BYTES);
	CU_ASSERT_EQUAL(bb, half_bytes);
}

/*
 * Closed loop with latent demand: a tuned agent bursts k times per
 * interval, s packets each time, its bucket full again before each burst
 * (so it passes k x min(s, burst) and drops the rest), on top of a base
 * load that is not tuned. Its burst is held between 10 and 1000. A burst
 * changed by one packet thus moves the load by k packets: up to 40 times
 * the step budget's assumption of one burst per interval.
 */
struct loop {
	int reversals; /* grow after shrink or shrink after grow */
	int last_move; /* the last step that changed the burst */
	__u64 burst; /* at the end */
	struct bg_tune_result r; /* of the last step */
};

static void simulate(unsigned int k, __u64 s, __u64 base, bool see_drops, int steps,
		     struct loop *out)
{
	struct bg_tune_state st = {};
	enum bg_tune_dir prev = BG_TUNE_HOLD, d;
	struct bg_tune_id t;
	int i;

	one(&t, 10, 1000, 10);
	memset(out, 0, sizeof(*out));
	for (i = 0; i < steps; i++) {
		__u64 passed = k * (s < t.burst_pkts ? s : t.burst_pkts);
		struct bg_tune_sample smp = { SEC, base + passed, 0, see_drops ? k * s - passed : 0,
					      0 };

		d = bg_tune_step(&cfg, &st, &smp, &t, 1, &out->r);
		if (d != BG_TUNE_HOLD && prev != BG_TUNE_HOLD && d != prev)
			out->reversals++;
		if (d != BG_TUNE_HOLD)
			prev = d;
		if (t.new_pkts != t.burst_pkts)
			out->last_move = i;
		commit(&t, 1);
	}
	out->burst = t.burst_pkts;
}

static void test_closed_loop_settles(void)
{
	unsigned int k;
	__u64 s, base;
	struct loop l;
	int bad = 0;

	for (k = 1; k <= 40; k++)
		for (s = 25; s <= 3200; s *= 2)
			for (base = 0; base <= 12000; base += 250) {
				simulate(k, s, base, true, 300, &l);
				/* never a reversal; still after 100 steps at most */
				bad += l.reversals != 0 || l.last_move >= 100;
				/* and at rest: in the band, at a bound, or below L
				 * only because the demand would not fit below H */
				bad += !(l.r.why == BG_TUNE_BAND || l.burst == 10 ||
					 l.burst == 1000 || l.r.why == BG_TUNE_DEMAND);
				/* a demand that fits: the burst grew to what it needs */
				if ((base + k * s) * 100 <= 85 * 10000 && base * 100 < 60 * 10000)
					bad += l.burst < (s < 1000 ? s : 1000) &&
					       l.r.why != BG_TUNE_BAND;
				if (base >= 8600) /* busy without the agent: the floor */
					bad += l.burst != 10;
			}
	CU_ASSERT_EQUAL(bad, 0);
	/* an agent wanting 70% on a host at 10%: grows into the band, stops there */
	simulate(10, 700, 1000, true, 100, &l);
	CU_ASSERT(l.r.util >= 0.60 && l.r.util <= 0.85);
	CU_ASSERT_EQUAL(l.r.why, BG_TUNE_BAND);
	CU_ASSERT(l.burst >= 500 && l.burst < 1000);
	CU_ASSERT_EQUAL(l.reversals, 0);
	/* wanting 110%: it would not fit below H, so it does not grow at all */
	simulate(10, 1000, 1000, true, 100, &l);
	CU_ASSERT_EQUAL(l.r.why, BG_TUNE_DEMAND);
	CU_ASSERT_EQUAL(l.burst, 10);
}

/*
 * The same loops with the drops hidden (the tuner seeing only the admitted
 * traffic, as it did before): cutting the bursts then looks like a quiet
 * host, and it oscillates. This is what the demand is measured for, and
 * shows the simulation above can see an oscillation.
 */
static void test_closed_loop_blind_oscillates(void)
{
	struct loop l;

	simulate(18, 800, 1250, false, 300, &l);
	CU_ASSERT(l.reversals > 10);
	CU_ASSERT(l.last_move > 250);
	simulate(18, 800, 1250, true, 300, &l);
	CU_ASSERT_EQUAL(l.reversals, 0);
}

/*
 * A steady load at a threshold, measured with noise (±1% every other
 * interval): never a reversal. At H the bursts hold (never two intervals
 * above in a row); at L they only grow.
 */
static void test_threshold_noise(void)
{
	struct bg_tune_state st = {};
	enum bg_tune_dir d;
	struct bg_tune_id t;
	int s, shrinks = 0, grows = 0;

	one(&t, 10, 2000, 500);
	for (s = 0; s < 200; s++) {
		d = step(&st, s % 2 ? 0.86 : 0.84, 0, &t, 1, NULL);
		shrinks += d == BG_TUNE_SHRINK;
		grows += d == BG_TUNE_GROW;
		commit(&t, 1);
	}
	CU_ASSERT_EQUAL(shrinks, 0);
	CU_ASSERT_EQUAL(grows, 0);
	CU_ASSERT_EQUAL(t.burst_pkts, 500);
	for (s = 0; s < 200; s++) {
		d = step(&st, s % 2 ? 0.61 : 0.59, 0, &t, 1, NULL);
		shrinks += d == BG_TUNE_SHRINK;
		grows += d == BG_TUNE_GROW;
		CU_ASSERT(t.new_pkts >= t.burst_pkts);
		commit(&t, 1);
	}
	CU_ASSERT_EQUAL(shrinks, 0);
	CU_ASSERT(grows > 0);
	CU_ASSERT_EQUAL(t.burst_pkts, 2000);
}

/* Step changes of the load: the bursts follow each one, then hold. */
static void test_step_changes(void)
{
	static const double load[] = { 0.1, 0.95, 0.7, 0.1 };
	struct bg_tune_state st = {};
	struct bg_tune_id t;
	size_t phase;
	int s;
	__u64 before;

	one(&t, 50, 5000, 50);
	for (phase = 0; phase < 4; phase++) {
		before = t.burst_pkts;
		for (s = 0; s < 40; s++) {
			step(&st, load[phase], 0, &t, 1, NULL);
			commit(&t, 1);
		}
		if (load[phase] < 0.6) {
			CU_ASSERT_EQUAL(t.burst_pkts, 5000);
		} else if (load[phase] > 0.85) {
			CU_ASSERT_EQUAL(t.burst_pkts, 50);
		} else {
			CU_ASSERT_EQUAL(t.burst_pkts, before);
		}
	}
}

/* Byte bursts are tuned against the byte capacity, independently. */
static void test_bytes(void)
{
	struct bg_tune_cfg c = cfg;
	struct bg_tune_sample s = { SEC, 0, 1000000, 0, 0 };
	struct bg_tune_state st = {};
	struct bg_tune_result r;
	struct bg_tune_id t;

	c.capacity_pps = 0;
	c.capacity_bits = 80000000; /* 10 MB/s: budget 1.25 MB */
	memset(&t, 0, sizeof(t));
	t.b.min_bytes = 1514;
	t.b.max_bytes = 1 << 20;
	t.burst_bytes = 1514;
	t.b.min_pkts = 5;
	t.b.max_pkts = 50;
	t.burst_pkts = 5;
	CU_ASSERT_EQUAL(bg_tune_step(&c, &st, &s, &t, 1, &r), BG_TUNE_GROW);
	CU_ASSERT_DOUBLE_EQUAL(r.util, 0.1, 1e-9);
	CU_ASSERT_EQUAL(r.budget_bytes, 1250000);
	CU_ASSERT(t.new_bytes > 1514);
	CU_ASSERT_EQUAL(t.new_pkts, 5); /* no packet capacity: packet burst stays */
}

int add_tuner_suite(void)
{
	static const struct unit_test tests[] = {
		{ "utilisation, demand and budget", test_util },
		{ "idle host: bursts grow to burst_max", test_idle_grows },
		{ "loaded host: bursts shrink to burst_min from the 2nd interval",
		  test_saturated_shrinks },
		{ "dead band: hold", test_band_holds },
		{ "one loaded interval: no shrink, growth cools down", test_one_loaded_interval },
		{ "latent demand: no growth while the drops would not fit", test_latent_demand },
		{ "one step stays within the budget", test_budget },
		{ "packets and bytes: one budget, consistent units", test_budget_units },
		{ "closed loop with latent demand: settles, never oscillates",
		  test_closed_loop_settles },
		{ "closed loop blind to drops: oscillates", test_closed_loop_blind_oscillates },
		{ "steady load at a threshold, with noise: no reversal", test_threshold_noise },
		{ "step changes of the load", test_step_changes },
		{ "byte bursts against the byte capacity", test_bytes },
		{ NULL, NULL },
	};

	return unit_add_suite("tuner", tests);
}
