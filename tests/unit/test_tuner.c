// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The tuner's control law on synthetic counter series: an idle host grows
 * bursts to their maximum, a saturated one shrinks them to their minimum,
 * the dead band holds them, one step never moves more than the budget, and
 * in closed loop (the bursts themselves being the load) it settles without
 * oscillating.
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

static void test_util(void)
{
	struct bg_tune_cfg c = cfg;

	CU_ASSERT_DOUBLE_EQUAL(bg_tune_util(&c, 5000, 0, SEC), 0.5, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(bg_tune_util(&c, 5000, 0, 2 * SEC), 0.25, 1e-9);
	c.capacity_bits = 8000000; /* 1 MB/s */
	/* the larger of packets and bytes */
	CU_ASSERT_DOUBLE_EQUAL(bg_tune_util(&c, 1000, 900000, SEC), 0.9, 1e-9);
	c.capacity_pps = c.capacity_bits = 0;
	CU_ASSERT(bg_tune_util(&c, 1000, 1000, SEC) < 0);
	CU_ASSERT(bg_tune_util(&cfg, 1000, 1000, 0) < 0);
	/* half the band's worth of capacity: 12.5% of 10000 pps over 1 s */
	CU_ASSERT_EQUAL(bg_tune_budget_pkts(&cfg), 1250);
}

/* Idle host: every step grows, monotonically, up to burst_max and no further. */
static void test_idle_grows(void)
{
	struct bg_tune_id t[2];
	int step, last = 10;

	one(&t[0], 10, 200, 10);
	one(&t[1], 5, 5000, 5);
	for (step = 0; step < 60; step++) {
		CU_ASSERT_EQUAL(bg_tune_step(&cfg, 0.05, t, 2), BG_TUNE_GROW);
		CU_ASSERT(t[0].new_pkts >= t[0].burst_pkts);
		CU_ASSERT(t[0].new_pkts <= 200);
		CU_ASSERT(t[1].new_pkts <= 5000);
		commit(t, 2);
		last = (int)t[0].burst_pkts;
	}
	CU_ASSERT_EQUAL(last, 200);
	CU_ASSERT_EQUAL(t[1].burst_pkts, 5000);
}

/* Saturated host: shrinks, monotonically, down to burst_min and no further. */
static void test_saturated_shrinks(void)
{
	struct bg_tune_id t;
	int step;

	one(&t, 10, 2000, 2000);
	for (step = 0; step < 30; step++) {
		CU_ASSERT_EQUAL(bg_tune_step(&cfg, 0.97, &t, 1), BG_TUNE_SHRINK);
		CU_ASSERT(t.new_pkts <= t.burst_pkts);
		CU_ASSERT(t.new_pkts >= 10);
		commit(&t, 1);
	}
	CU_ASSERT_EQUAL(t.burst_pkts, 10);
}

/* Inside the band nothing moves; without a capacity nothing moves either. */
static void test_band_holds(void)
{
	struct bg_tune_id t;
	struct bg_tune_cfg none = cfg;

	one(&t, 10, 2000, 500);
	CU_ASSERT_EQUAL(bg_tune_step(&cfg, 0.70, &t, 1), BG_TUNE_HOLD);
	CU_ASSERT_EQUAL(t.new_pkts, 500);
	CU_ASSERT_EQUAL(bg_tune_step(&cfg, 0.60, &t, 1), BG_TUNE_HOLD);
	CU_ASSERT_EQUAL(bg_tune_step(&cfg, 0.85, &t, 1), BG_TUNE_HOLD);
	none.capacity_pps = 0;
	CU_ASSERT_EQUAL(bg_tune_step(&none, -1.0, &t, 1), BG_TUNE_HOLD);
	CU_ASSERT_EQUAL(t.new_pkts, 500);
}

/* Many identities wanting a lot: the step's total stays within the budget. */
static void test_budget(void)
{
	struct bg_tune_id t[50];
	__u64 sum = 0;
	size_t i;

	for (i = 0; i < 50; i++)
		one(&t[i], 10, 100000, 10);
	bg_tune_step(&cfg, 0.0, t, 50);
	for (i = 0; i < 50; i++) {
		CU_ASSERT(t[i].new_pkts > t[i].burst_pkts); /* everyone moves */
		sum += t[i].new_pkts - t[i].burst_pkts;
	}
	CU_ASSERT(sum <= bg_tune_budget_pkts(&cfg));
	CU_ASSERT(sum >= bg_tune_budget_pkts(&cfg) - 50); /* and the budget is used */
	for (i = 0; i < 50; i++)
		t[i].burst_pkts = 100000;
	bg_tune_step(&cfg, 1.0, t, 50);
	for (sum = 0, i = 0; i < 50; i++)
		sum += t[i].burst_pkts - t[i].new_pkts;
	CU_ASSERT(sum <= bg_tune_budget_pkts(&cfg));
}

/*
 * Closed loop: a bursty agent that uses its whole burst every interval on
 * top of a base load; the utilisation the tuner sees is what its bursts let
 * through. The agent is held between 100 and 50000 packets.
 */
static int simulate(double base_pps, int steps, __u64 *final_burst, double *final_util,
		    int *reversals)
{
	struct bg_tune_id t;
	enum bg_tune_dir prev = BG_TUNE_HOLD, d;
	double u = 0;
	int s, shrinks = 0;

	one(&t, 100, 50000, 100);
	*reversals = 0;
	for (s = 0; s < steps; s++) {
		u = bg_tune_util(&cfg, (__u64)base_pps + t.burst_pkts, 0, SEC);
		d = bg_tune_step(&cfg, u, &t, 1);
		if (d != BG_TUNE_HOLD && prev != BG_TUNE_HOLD && d != prev)
			(*reversals)++;
		if (d != BG_TUNE_HOLD)
			prev = d;
		shrinks += d == BG_TUNE_SHRINK;
		commit(&t, 1);
	}
	*final_burst = t.burst_pkts;
	*final_util = bg_tune_util(&cfg, (__u64)base_pps + t.burst_pkts, 0, SEC);
	return shrinks;
}

static void test_closed_loop_settles(void)
{
	double base, u;
	__u64 burst;
	int rev;

	/* one agent bursting on an idle host: grows into the band, stops there */
	CU_ASSERT_EQUAL(simulate(1000, 100, &burst, &u, &rev), 0);
	CU_ASSERT(u >= 0.60 && u <= 0.85);
	CU_ASSERT(burst > 4000);
	CU_ASSERT_EQUAL(rev, 0);
	/* any base load: never a reversal, ends in the band or at a bound */
	for (base = 0; base <= 12000; base += 250) {
		simulate(base, 200, &burst, &u, &rev);
		CU_ASSERT_EQUAL(rev, 0);
		CU_ASSERT((u >= 0.60 && u <= 0.85) || burst == 100 || burst == 50000);
		if (base >= 9000) {
			CU_ASSERT_EQUAL(burst, 100); /* a busy host: the floor */
		}
	}
}

/* Step changes of the load: the bursts follow each one, then hold. */
static void test_step_changes(void)
{
	static const double load[] = { 0.1, 0.95, 0.7, 0.1 };
	struct bg_tune_id t;
	size_t phase;
	int s;
	__u64 before;

	one(&t, 50, 5000, 50);
	for (phase = 0; phase < 4; phase++) {
		before = t.burst_pkts;
		for (s = 0; s < 40; s++) {
			bg_tune_step(&cfg, load[phase], &t, 1);
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
	CU_ASSERT_EQUAL(bg_tune_step(&c, 0.1, &t, 1), BG_TUNE_GROW);
	CU_ASSERT(t.new_bytes > 1514);
	CU_ASSERT_EQUAL(t.new_pkts, 5); /* no packet capacity: packet burst stays */
}

int add_tuner_suite(void)
{
	static const struct unit_test tests[] = {
		{ "utilisation and budget", test_util },
		{ "idle host: bursts grow to burst_max", test_idle_grows },
		{ "saturated host: bursts shrink to burst_min", test_saturated_shrinks },
		{ "dead band and no capacity: hold", test_band_holds },
		{ "one step stays within the budget", test_budget },
		{ "closed loop: settles, never oscillates", test_closed_loop_settles },
		{ "step changes of the load", test_step_changes },
		{ "byte bursts against the byte capacity", test_bytes },
		{ NULL, NULL },
	};

	return unit_add_suite("tuner", tests);
}
