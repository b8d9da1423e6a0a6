// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * GCRA conformance: the bucket arithmetic of include/bg_gcra.h, the same
 * lines the XDP program runs, driven by an injected clock.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "bg_common.h"
#include "bg_gcra.h"
#include "unit.h"

#define SEC 1000000000ULL
#define MS 1000000ULL
#define T0 (1000 * SEC) /* an arbitrary uptime to start from */

struct sim {
	struct bg_bucket pkt;
	struct bg_bucket byte;
	struct bg_id_state st;
};

static void sim_pkts(struct sim *s, __u64 pps, __u64 burst)
{
	memset(s, 0, sizeof(*s));
	CU_ASSERT_EQUAL_FATAL(bg_bucket_set_pkts(&s->pkt, pps, burst), 0);
}

static void sim_bytes(struct sim *s, __u64 bits, __u64 burst)
{
	memset(s, 0, sizeof(*s));
	CU_ASSERT_EQUAL_FATAL(bg_bucket_set_bytes(&s->byte, bits, burst), 0);
}

static int take(struct sim *s, __u64 now_ns, __u32 len)
{
	return bg_meter2(&s->st.pkt_tat, &s->pkt, &s->st.byte_tat, &s->byte, bg_ticks(now_ns), len);
}

/* How many of n back-to-back packets at now conform. */
static __u64 take_many(struct sim *s, __u64 now, __u64 n, __u32 len)
{
	__u64 i, ok = 0;

	for (i = 0; i < n; i++)
		ok += take(s, now, len) == BG_TAKE_CONFORM;
	return ok;
}

/* A full bucket admits exactly burst packets back to back, at any rate. */
static void test_burst_exact(void)
{
	static const __u64 rates[] = {
		1, 7, 1000, 33333, 1000000, 30000000, 100000000, 1000000000
	};
	static const __u64 bursts[] = { 1, 2, 10, 100, 1000, 65535 };
	struct sim s;
	size_t r, b;

	for (r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		for (b = 0; b < sizeof(bursts) / sizeof(bursts[0]); b++) {
			if (rates[r] == 1 && bursts[b] > 70000)
				continue;
			sim_pkts(&s, rates[r], bursts[b]);
			CU_ASSERT_EQUAL(take_many(&s, T0, bursts[b], 64), bursts[b]);
			CU_ASSERT_EQUAL(take(&s, T0, 64), BG_TAKE_EXCEED);
		}
	}
}

/* After draining, one packet per interval comes back, up to the burst. */
static void test_refill(void)
{
	struct sim s;

	sim_pkts(&s, 1000, 10); /* 1 ms per packet */
	CU_ASSERT_EQUAL(take_many(&s, T0, 20, 64), 10);
	CU_ASSERT_EQUAL(take(&s, T0 + MS - 1, 64), BG_TAKE_EXCEED);
	CU_ASSERT_EQUAL(take(&s, T0 + MS, 64), BG_TAKE_CONFORM);
	CU_ASSERT_EQUAL(take(&s, T0 + MS, 64), BG_TAKE_EXCEED);
	/* 5 ms later: 5 more */
	CU_ASSERT_EQUAL(take_many(&s, T0 + 6 * MS, 20, 64), 5);
	/* a long idle refills to the burst, never beyond */
	CU_ASSERT_EQUAL(take_many(&s, T0 + 10 * SEC, 100, 64), 10);
}

/* A dropped packet costs nothing: hammering an empty bucket does not delay refill. */
static void test_drop_is_free(void)
{
	struct sim s;
	__u64 t;

	sim_pkts(&s, 1000, 1);
	CU_ASSERT_EQUAL(take(&s, T0, 64), BG_TAKE_CONFORM);
	for (t = T0; t < T0 + MS; t += 1000)
		CU_ASSERT_EQUAL(take(&s, t, 64), BG_TAKE_EXCEED);
	CU_ASSERT_EQUAL(take(&s, T0 + MS, 64), BG_TAKE_CONFORM);
}

/*
 * Offer 3x the rate, evenly spaced, for dur_ns: what passes is burst plus
 * rate times the time span, give or take one packet.
 */
static void check_sustained(__u64 pps, __u64 burst, __u64 dur_ns)
{
	struct sim s;
	__u64 offered = (__u64)((double)pps * 3 * (double)dur_ns / 1e9), i, ok = 0;
	double expect, step = (double)dur_ns / (double)offered;

	sim_pkts(&s, pps, burst);
	for (i = 0; i < offered; i++)
		ok += take(&s, T0 + (__u64)((double)i * step), 64) == BG_TAKE_CONFORM;
	expect = (double)burst + (double)pps * (double)(offered - 1) * step / 1e9;
	CU_ASSERT(fabs((double)ok - expect) <= 1.0 + expect * 1e-4);
	if (fabs((double)ok - expect) > 1.0 + expect * 1e-4)
		printf("\n  sustained %llu pps: passed %llu, expected %.1f\n",
		       (unsigned long long)pps, (unsigned long long)ok, expect);
}

static void test_sustained_rates(void)
{
	check_sustained(1, 1, 100 * SEC);
	check_sustained(1000, 50, 10 * SEC);
	check_sustained(1000000, 1000, 100 * MS);
	check_sustained(30000000, 100, 10 * MS); /* interval 33.3 ns */
	check_sustained(100000000, 1000, 5 * MS); /* 100 Mpps: 10 ns */
}

/* Byte bucket at bits/s: admitted bytes = burst + rate * time, within 0.1%. */
static void check_bytes(__u64 bits, __u64 burst, __u32 frame, __u64 dur_ns)
{
	struct sim s;
	double bytes_per_s = (double)bits / 8;
	__u64 offered = (__u64)(bytes_per_s * 2 * (double)dur_ns / 1e9 / frame), i;
	__u64 ok_bytes = 0;
	double step = (double)dur_ns / (double)offered, expect, err;

	sim_bytes(&s, bits, burst);
	for (i = 0; i < offered; i++)
		if (take(&s, T0 + (__u64)((double)i * step), frame) == BG_TAKE_CONFORM)
			ok_bytes += frame;
	expect = (double)burst + bytes_per_s * (double)(offered - 1) * step / 1e9;
	err = fabs((double)ok_bytes - expect);
	CU_ASSERT(err <= frame || err <= expect * 1e-3);
	if (!(err <= frame || err <= expect * 1e-3))
		printf("\n  %llu bit/s, %u B frames: passed %llu B, expected %.0f\n",
		       (unsigned long long)bits, frame, (unsigned long long)ok_bytes, expect);
}

static void test_byte_rates(void)
{
	check_bytes(1000, 1514, 64, 100 * SEC); /* 1 kbit/s */
	check_bytes(10000000, 64 * 1024, 1500, 1 * SEC); /* 10 mbit */
	check_bytes(10000000000ULL, 64 * 1024, 64, 10 * MS); /* 10 gbit */
	check_bytes(400000000000ULL, 1 << 20, 64, 1 * MS); /* 400 gbit, min frames */
	check_bytes(400000000000ULL, 1 << 20, 1500, 1 * MS);
}

/*
 * Rounding: the rate a bucket really enforces is within 0.1% (in fact far
 * less) of the one asked for, over the whole range the issue names.
 */
static void test_interval_precision(void)
{
	static const __u64 pps[] = { 1, 3, 999, 33333, 1000000, 29999999, 100000000 };
	static const __u64 bits[] = { 1000,	      1001,	 64000,
				      10000000,	      999999937, 100000000000ULL,
				      400000000000ULL };
	struct bg_bucket b = {};
	double eff;
	size_t i;

	for (i = 0; i < sizeof(pps) / sizeof(pps[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(bg_bucket_set_pkts(&b, pps[i], 1), 0);
		/* packets per second from ticks per packet */
		eff = 1e9 * 1024.0 / (double)bg_cost_ticks(b.interval_fp, 1);
		CU_ASSERT(fabs(eff / (double)pps[i] - 1) < 1e-3);
	}
	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(bg_bucket_set_bytes(&b, bits[i], 100000), 0);
		/* bits per second from ticks per 64-byte frame */
		eff = 64 * 8 * 1e9 * 1024.0 / (double)bg_cost_ticks(b.interval_fp, 64);
		CU_ASSERT(fabs(eff / (double)bits[i] - 1) < 1e-3);
	}
	/* 100 Mpps is exactly 10 ns per packet */
	bg_bucket_set_pkts(&b, 100000000, 1);
	CU_ASSERT_EQUAL(bg_cost_ticks(b.interval_fp, 1), 10ULL << BG_TICK_SHIFT);
}

static void test_limits(void)
{
	struct bg_bucket b;

	CU_ASSERT_EQUAL(bg_bucket_set_pkts(&b, 0, 1), -22);
	CU_ASSERT_EQUAL(bg_bucket_set_pkts(&b, BG_PPS_MAX + 1, 1), -22);
	CU_ASSERT_EQUAL(bg_bucket_set_pkts(&b, 100, 0), -22);
	CU_ASSERT_EQUAL(bg_bucket_set_pkts(&b, BG_PPS_MAX, 1), 0);
	/* 70000 s of burst at 1 pps fits in 19.5 h; 100000 s does not */
	CU_ASSERT_EQUAL(bg_bucket_set_pkts(&b, 1, 70000), 0);
	CU_ASSERT_EQUAL(bg_bucket_set_pkts(&b, 1, 100000), -34);
	CU_ASSERT_EQUAL(bg_bucket_set_bytes(&b, 7, 1514), -22);
	CU_ASSERT_EQUAL(bg_bucket_set_bytes(&b, BG_BITS_MAX + 1, 1514), -22);
	CU_ASSERT_EQUAL(bg_bucket_set_bytes(&b, BG_BITS_MAX, 1ULL << 40), 0);
	CU_ASSERT_EQUAL(bg_bucket_set_bytes(&b, 1000, 1ULL << 30), -34);
	CU_ASSERT(b.tau <= BG_TAU_MAX_TICKS);
}

/* Packet and byte buckets together: both must have room; a refusal is refunded. */
static void test_both_buckets(void)
{
	struct sim s;
	double fill;

	memset(&s, 0, sizeof(s));
	bg_bucket_set_pkts(&s.pkt, 1000, 10);
	bg_bucket_set_bytes(&s.byte, 8000, 1000); /* 1000 B/s, 1000 B burst */
	/* 300-byte frames: the byte bucket allows 3 */
	CU_ASSERT_EQUAL(take_many(&s, T0, 10, 300), 3);
	/* the 7 refused packets were refunded to the packet bucket */
	fill = bg_bucket_fill(&s.pkt, s.st.pkt_tat, bg_ticks(T0));
	CU_ASSERT(fabs(fill - 7) < 0.01);

	/* the packet bucket refusing first leaves the byte bucket alone */
	memset(&s, 0, sizeof(s));
	bg_bucket_set_pkts(&s.pkt, 1000, 2);
	bg_bucket_set_bytes(&s.byte, 8000000, 10000);
	CU_ASSERT_EQUAL(take_many(&s, T0, 5, 100), 2);
	fill = bg_bucket_fill(&s.byte, s.st.byte_tat, bg_ticks(T0));
	CU_ASSERT(fabs(fill - 9800) < 1);
}

static void test_unlimited(void)
{
	struct sim s;

	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL(take_many(&s, T0, 100000, 1500), 100000);
	CU_ASSERT_EQUAL(s.st.pkt_tat, 0);
	CU_ASSERT_EQUAL(s.st.byte_tat, 0);
	CU_ASSERT(bg_bucket_fill(&s.pkt, 0, bg_ticks(T0)) < 0);
}

static void test_fill(void)
{
	struct sim s;

	sim_pkts(&s, 1000, 50);
	CU_ASSERT(fabs(bg_bucket_fill(&s.pkt, s.st.pkt_tat, bg_ticks(T0)) - 50) < 0.01);
	take_many(&s, T0, 20, 64);
	CU_ASSERT(fabs(bg_bucket_fill(&s.pkt, s.st.pkt_tat, bg_ticks(T0)) - 30) < 0.01);
	CU_ASSERT(fabs(bg_bucket_fill(&s.pkt, s.st.pkt_tat, bg_ticks(T0 + 5 * MS)) - 35) < 0.01);
	CU_ASSERT(fabs(bg_bucket_fill(&s.pkt, s.st.pkt_tat, bg_ticks(T0 + SEC)) - 50) < 0.01);
}

/* The tick clock wraps every 2^54 ns (208 days): nothing changes across it. */
static void test_clock_wrap(void)
{
	const __u64 wrap = 1ULL << 54;
	__u64 t0 = wrap - 5 * MS;
	struct sim s;

	sim_pkts(&s, 1000, 10);
	/* as burstctl creates an identity: both TATs at "now" */
	s.st.pkt_tat = s.st.byte_tat = bg_ticks(t0);
	CU_ASSERT_EQUAL(take_many(&s, t0, 20, 64), 10);
	/* 4 ms before the wrap: 4 more */
	CU_ASSERT_EQUAL(take_many(&s, t0 + 4 * MS, 20, 64), 4);
	/* across the wrap: 3 ms later, 3 more */
	CU_ASSERT_EQUAL(take_many(&s, t0 + 7 * MS, 20, 64), 3);
	/* idle long after: full, exactly */
	CU_ASSERT_EQUAL(take_many(&s, t0 + 10 * SEC, 20, 64), 10);
	/* the first packets ever, at boot (now = 0) */
	sim_pkts(&s, 1000, 3);
	CU_ASSERT_EQUAL(take_many(&s, 0, 5, 64), 3);
}

/* A TAT further ahead than any bucket can be (stale after a wrap) reads as full. */
static void test_stale_tat(void)
{
	struct sim s;

	sim_pkts(&s, 1000, 10);
	s.st.pkt_tat = bg_ticks(T0) + BG_TAU_MAX_TICKS + 1;
	CU_ASSERT_EQUAL(take_many(&s, T0, 20, 64), 10);
}

/*
 * The data plane alone: lowering the burst of a drained bucket neither
 * refills it nor blocks it for the old debt: it is clamped to empty and
 * refills at its rate.
 */
static void test_burst_lowered(void)
{
	struct sim s;

	sim_pkts(&s, 1000, 100);
	CU_ASSERT_EQUAL(take_many(&s, T0, 100, 64), 100);
	CU_ASSERT_EQUAL(bg_bucket_set_pkts(&s.pkt, 1000, 10), 0);
	/* 50 ms later the old debt is still 50 ms, more than the new 10 */
	CU_ASSERT_EQUAL(take(&s, T0 + 50 * MS, 64), BG_TAKE_EXCEED);
	/* ...so the bucket was clamped to empty: 1 ms later, 1 passes */
	CU_ASSERT_EQUAL(take_many(&s, T0 + 51 * MS, 5, 64), 1);
	CU_ASSERT_EQUAL(take_many(&s, T0 + 10 * SEC, 100, 64), 10);
}

/* A config change as burstctl makes it: the TAT rescaled, tokens kept. */
static void change(struct sim *s, __u64 pps, __u64 burst, __u64 now_ns)
{
	struct bg_bucket n = {};

	CU_ASSERT_EQUAL_FATAL(bg_bucket_set_pkts(&n, pps, burst), 0);
	s->st.pkt_tat = bg_bucket_rescale(&s->pkt, &n, s->st.pkt_tat, bg_ticks(now_ns));
	s->pkt = n;
}

/* Raising the rate of a drained bucket: the new rate applies at once. */
static void test_rate_raised(void)
{
	struct sim s;

	sim_pkts(&s, 10, 1000); /* 10 pps, burst 1000: 100 s of debt when drained */
	CU_ASSERT_EQUAL(take_many(&s, T0, 1000, 64), 1000);
	change(&s, 10000, 1000, T0); /* 10 kpps */
	CU_ASSERT_EQUAL(take(&s, T0, 64), BG_TAKE_EXCEED); /* empty, not refilled */
	/* from then on, 10 per ms: not 100 s of silence */
	CU_ASSERT_EQUAL(take_many(&s, T0 + MS, 50, 64), 10);
	/* lowering the rate again keeps it empty: no tokens appear */
	change(&s, 10, 1000, T0 + MS);
	CU_ASSERT_EQUAL(take(&s, T0 + MS, 64), BG_TAKE_EXCEED);
	CU_ASSERT_EQUAL(take_many(&s, T0 + MS + 100 * MS, 50, 64), 1);
}

/* Rescaling keeps the tokens a bucket holds, clamped to the new burst. */
static void test_rescale_tokens(void)
{
	struct bg_bucket o = {}, n = {};
	__u64 now = bg_ticks(T0), tat;
	struct sim s;

	sim_pkts(&s, 100, 50);
	CU_ASSERT_EQUAL(take_many(&s, T0, 20, 64), 20); /* 30 tokens left */
	o = s.pkt;
	bg_bucket_set_pkts(&n, 1000, 50); /* ten times the rate, same burst */
	tat = bg_bucket_rescale(&o, &n, s.st.pkt_tat, now);
	CU_ASSERT(fabs(bg_bucket_fill(&n, tat, now) - 30) < 0.01);
	bg_bucket_set_pkts(&n, 100, 10); /* a smaller burst: clamped */
	tat = bg_bucket_rescale(&o, &n, s.st.pkt_tat, now);
	CU_ASSERT(fabs(bg_bucket_fill(&n, tat, now) - 10) < 0.01);
	bg_bucket_set_pkts(&n, 1, 500); /* a bigger burst: not refilled */
	tat = bg_bucket_rescale(&o, &n, s.st.pkt_tat, now);
	CU_ASSERT(fabs(bg_bucket_fill(&n, tat, now) - 30) < 0.01);
	memset(&n, 0, sizeof(n)); /* to unlimited and back: full */
	CU_ASSERT_EQUAL(bg_bucket_rescale(&o, &n, s.st.pkt_tat, now), now);
	CU_ASSERT_EQUAL(bg_bucket_rescale(&n, &o, s.st.pkt_tat, now), now);
}

/* A TAT between tau and the largest window (stale, or overdrawn): empty, not blocked. */
static void test_overdrawn(void)
{
	struct sim s;

	sim_pkts(&s, 100, 10); /* tau = 100 ms */
	s.st.pkt_tat = bg_ticks(T0) + (BG_TAU_MAX_TICKS >> 1); /* ~9.8 h "ahead" */
	CU_ASSERT_EQUAL(take(&s, T0, 64), BG_TAKE_EXCEED);
	CU_ASSERT_EQUAL(take_many(&s, T0 + 10 * MS, 5, 64), 1);
	CU_ASSERT_EQUAL(take_many(&s, T0 + 10 * SEC, 50, 64), 10);
	CU_ASSERT(bg_bucket_fill(&s.pkt, bg_ticks(T0) + (BG_TAU_MAX_TICKS >> 1), bg_ticks(T0)) ==
		  0);
}

/*
 * The two-bucket undo never erases another CPU's charge. Replayed step by
 * step with the functions bg_meter2() is made of, on one packet bucket of
 * 10 Mpps and burst 1 (100 ns per packet): A is charged, B charges after
 * A's TAT expired (rebasing it), A's byte charge fails and A undoes. A
 * blind subtraction of A's charge would wipe B's and let C through.
 */
static void test_undo_race(void)
{
	struct sim s;
	__u64 a_prev = 0, a_next = 0, b_prev = 0, b_next = 0, now_a = bg_ticks(T0),
	      now_b = bg_ticks(T0 + 150), now_c = bg_ticks(T0 + 160);
	__u64 inc;

	sim_pkts(&s, 10000000, 1);
	inc = bg_cost_ticks(s.pkt.interval_fp, 1);
	CU_ASSERT_EQUAL(bg_bucket_take(&s.st.pkt_tat, s.pkt.tau, inc, now_a, &a_prev, &a_next),
			BG_TAKE_CONFORM);
	CU_ASSERT_EQUAL(bg_bucket_take(&s.st.pkt_tat, s.pkt.tau, inc, now_b, &b_prev, &b_next),
			BG_TAKE_CONFORM);
	/* A's undo, as bg_meter2() does it: a compare-and-swap, which fails here */
	CU_ASSERT_NOT_EQUAL(bg_cmpxchg(&s.st.pkt_tat, a_next, a_prev), a_next);
	CU_ASSERT_EQUAL(s.st.pkt_tat, b_next);
	/* C, 10 ns after B, must wait for B's 100 ns */
	CU_ASSERT_EQUAL(bg_bucket_take(&s.st.pkt_tat, s.pkt.tau, inc, now_c, &a_prev, &a_next),
			BG_TAKE_EXCEED);
	/* and when nothing came in between, the undo is exact */
	sim_pkts(&s, 10000000, 1);
	s.st.pkt_tat = now_a - 5;
	CU_ASSERT_EQUAL(bg_bucket_take(&s.st.pkt_tat, s.pkt.tau, inc, now_a, &a_prev, &a_next),
			BG_TAKE_CONFORM);
	CU_ASSERT_EQUAL(bg_cmpxchg(&s.st.pkt_tat, a_next, a_prev), a_next);
	CU_ASSERT_EQUAL(s.st.pkt_tat, now_a - 5);
}

/* Real threads on one bucket, clock frozen: exactly burst pass in total. */
struct hammer {
	struct sim *s;
	__u64 ok;
	__u64 contended;
};

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	int r;

	for (;;) {
		r = take(h->s, T0, 64);
		if (r == BG_TAKE_CONFORM)
			h->ok++;
		else if (r == BG_TAKE_CONTENDED)
			h->contended++;
		else
			break;
	}
	return NULL;
}

static void test_cas_threads(void)
{
	enum { NTHREADS = 4, BURST = 200000 };
	struct hammer h[NTHREADS] = {};
	pthread_t th[NTHREADS];
	__u64 total = 0;
	struct sim s;
	int i;

	memset(&s, 0, sizeof(s));
	/* 1 Mpps, a 200000-packet burst, clock frozen */
	bg_bucket_set_pkts(&s.pkt, 1000000, BURST);
	for (i = 0; i < NTHREADS; i++) {
		h[i].s = &s;
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, hammer_run, &h[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		total += h[i].ok;
	}
	CU_ASSERT_EQUAL(total, BURST);
}

/*
 * The same with both buckets, the byte bucket binding (half the packet
 * budget). Never more than the byte bucket's worth passes. Fewer only by
 * what contention cost: a packet that lost the byte bucket's race
 * BG_CAS_TRIES times after its packet charge, which another CPU's charge
 * kept from being undone, is given up (conservative), at most one each.
 */
static void test_cas_threads_two_buckets(void)
{
	enum { NTHREADS = 4, FRAMES = 50000 };
	struct hammer h[NTHREADS] = {};
	pthread_t th[NTHREADS];
	__u64 total = 0, contended = 0;
	struct sim s;
	int i;

	memset(&s, 0, sizeof(s));
	bg_bucket_set_pkts(&s.pkt, 1000000, 2 * FRAMES);
	bg_bucket_set_bytes(&s.byte, 1000000000ULL * 8, 64ULL * FRAMES);
	for (i = 0; i < NTHREADS; i++) {
		h[i].s = &s;
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, hammer_run, &h[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		total += h[i].ok;
		contended += h[i].contended;
	}
	CU_ASSERT(total <= FRAMES);
	/* the byte burst's rounding may cost one frame */
	CU_ASSERT(total + contended + 1 >= FRAMES);
}

int add_gcra_suite(void)
{
	static const struct unit_test tests[] = {
		{ "burst of N passes exactly N", test_burst_exact },
		{ "refill at the configured rate", test_refill },
		{ "a dropped packet costs nothing", test_drop_is_free },
		{ "sustained overload: burst + rate*time", test_sustained_rates },
		{ "byte bucket 1 kbit/s to 400 Gbit/s", test_byte_rates },
		{ "interval rounding under 0.1%", test_interval_precision },
		{ "range limits and errors", test_limits },
		{ "packet and byte buckets together", test_both_buckets },
		{ "unlimited buckets", test_unlimited },
		{ "bucket fill", test_fill },
		{ "clock wrap and boot", test_clock_wrap },
		{ "stale TAT reads as full", test_stale_tat },
		{ "lowered burst: empty, refills at once", test_burst_lowered },
		{ "raised rate applies at once", test_rate_raised },
		{ "rescale keeps tokens", test_rescale_tokens },
		{ "overdrawn or stale TAT: empty, not blocked", test_overdrawn },
		{ "two-bucket undo never erases a charge", test_undo_race },
		{ "CAS exact across threads", test_cas_threads },
		{ "CAS exact across threads, two buckets", test_cas_threads_two_buckets },
		{ NULL, NULL },
	};

	return unit_add_suite("gcra", tests);
}
