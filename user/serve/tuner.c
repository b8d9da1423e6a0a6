// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The adaptive burst tuner, at every tick: a sample of the host's admitted
 * traffic and of the tuned identities' drops, one step of bg_tuner.h, and
 * the bursts it decides written under the writer lock (never waited for).
 * docs/tuner.md explains the rule.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#include "bg_identity.h"
#include "bg_tuner.h"
#include "bg_units.h"
#include "serve.h"

#define TUNE_LOG_MAX 20 /* tuner lines per step; the rest are summed up */

struct serve_tuner {
	struct serve *sv;
	/*
	 * The previous sample: the host's admitted traffic, the tuned
	 * identities' drops (over sv->tuned), and the tuner's memory.
	 */
	__u64 prev_pkts, prev_bytes, prev_cut_pkts, prev_cut_bytes, prev_ns;
	bool have_prev;
	struct bg_tune_state st;
	__u64 skipped; /* steps skipped in a row: the writer lock was held */
};

void tuner_restart(struct serve *sv)
{
	if (sv->tuner)
		sv->tuner->have_prev = false;
}

/* One log line per burst changed (dimension: "burst" or "bytes_burst"). */
static void tune_log(struct serve *sv, const char *name, const char *dim, const char *from,
		     const char *to, const struct bg_tune_result *r)
{
	const struct bg_ctl *c = &sv->pol.ctl;
	bool grow = r->dir == BG_TUNE_GROW;

	slog(sv, LOG_INFO_, "tuner: identity %s %s %s -> %s (utilisation %.0f%% %s %u%%: %s)", name,
	     dim, from, to, r->util * 100, grow ? "below" : "above",
	     grow ? c->grow_below_pct : c->shrink_above_pct, grow ? "growing" : "shrinking");
}

/*
 * Write the bursts a step decided, under the state's writer lock, taken
 * without waiting: a burstctl command holding it (an apply of thousands of
 * identities, a batch) must not stall the event loop (bind socket,
 * metrics), and a step missed is made up by the next one. Each identity
 * is read again under the lock; one changed meanwhile by hand is left
 * alone until the next step. Returns the number of bursts changed.
 */
static size_t tune_write(struct serve_tuner *tu, struct bg_tune_id *t,
			 const struct bg_identity *cur, size_t n, const struct bg_tune_result *r)
{
	struct serve *sv = tu->sv;
	size_t i, logged = 0;

	if (flock(sv->s.dir_fd, LOCK_EX | LOCK_NB)) {
		sv->h.tune_skipped_locked_total++;
		if (!tu->skipped++) {
			pid_t holder = bg_lock_holder(sv->s.dir_fd);
			char who[32] = "";

			if (holder)
				snprintf(who, sizeof(who), " (pid %d)", (int)holder);
			slog(sv, LOG_NOTICE_,
			     "tuner: the writer lock of %s is held by another process%s: steps skipped until it is released",
			     sv->s.pin_path, who);
		}
		return 0;
	}
	if (tu->skipped)
		slog(sv, LOG_NOTICE_, "tuner: writer lock free again after %llu step%s skipped",
		     (unsigned long long)tu->skipped, tu->skipped == 1 ? "" : "s");
	tu->skipped = 0;
	for (i = 0; i < n; i++) {
		const struct bg_identity *was = &cur[t[i].slot];
		struct bg_limits l = { .burst_pkts = t[i].new_pkts, .burst_bytes = t[i].new_bytes };
		struct bg_identity now;
		unsigned int mask = 0;
		char a[32], b[32];

		if (t[i].new_pkts != t[i].burst_pkts)
			mask |= BG_LIM_BURST;
		if (t[i].new_bytes != t[i].burst_bytes)
			mask |= BG_LIM_BYTE_BURST;
		if (!mask || bg_identity_get(&sv->s, was->name, &now) || now.id != was->id ||
		    memcmp(&now.meta, &was->meta, sizeof(now.meta)))
			continue;
		/* keeps the TATs: a smaller burst takes effect as the bucket drains */
		if (bg_identity_set(&sv->s, was->name, &l, mask, NULL))
			continue;
		if (r->dir == BG_TUNE_GROW)
			sv->h.tune_grow_total++;
		else
			sv->h.tune_shrink_total++;
		if (logged++ >= TUNE_LOG_MAX)
			continue;
		if (mask & BG_LIM_BURST) {
			snprintf(a, sizeof(a), "%llu", (unsigned long long)t[i].burst_pkts);
			snprintf(b, sizeof(b), "%llu", (unsigned long long)t[i].new_pkts);
			tune_log(sv, was->name, "burst", a, b, r);
		}
		if (mask & BG_LIM_BYTE_BURST)
			tune_log(sv, was->name, "bytes_burst",
				 bg_fmt_bytes(t[i].burst_bytes, a, sizeof(a)),
				 bg_fmt_bytes(t[i].new_bytes, b, sizeof(b)), r);
	}
	flock(sv->s.dir_fd, LOCK_UN);
	return logged;
}

/*
 * One tuner step. Reads the host's admitted traffic (batch lookups) and the
 * tuned identities only (listed at the last apply), so a state of 100,000
 * identities with a few tuned ones costs a few syscalls per interval. What
 * the tuned identities dropped is the demand that larger bursts would let
 * through (docs/tuner.md).
 */
static void tune(void *arg)
{
	struct serve_tuner *tu = arg;
	struct serve *sv = tu->sv;
	const struct bg_ctl *c = &sv->pol.ctl;
	struct bg_tune_cfg tc = { c->capacity_pps, c->capacity_bits, c->tune_interval_ms,
				  c->grow_below_pct, c->shrink_above_pct };
	__u64 pkts, bytes, cut_pkts = 0, cut_bytes = 0, now;
	struct bg_tune_id *t = NULL;
	struct bg_identity *cur = NULL;
	struct bg_tune_sample smp;
	struct bg_tune_result r;
	size_t i, n = 0, logged;
	struct timespec ts;

	if (!c->capacity_pps && !c->capacity_bits) {
		sv->h.tune_util = sv->h.tune_demand = -1;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (__u64)ts.tv_sec * BG_NSEC_PER_SEC + (__u64)ts.tv_nsec;
	if (bg_stats_total(&sv->s, &pkts, &bytes))
		return;
	if (sv->ntuned) {
		t = calloc(sv->ntuned, sizeof(*t));
		cur = calloc(sv->ntuned, sizeof(*cur));
		if (!t || !cur)
			goto out_free;
	}
	for (i = 0; i < sv->ntuned; i++) {
		const struct bg_id_meta *m = &cur[n].meta;
		__u64 v[6];

		if (bg_identity_get(&sv->s, sv->tuned[i], &cur[n]))
			continue; /* removed by hand meanwhile */
		if (!bg_percpu_sum(&sv->s, sv->s.stats_fd, cur[n].id, v, 6)) {
			cut_pkts += v[2]; /* dropped; shadow packets were passed */
			cut_bytes += v[3];
		}
		t[n].slot = (__u32)n;
		t[n].b = (struct bg_tune_bounds){ m->burst_min_pkts, m->burst_max_pkts,
						  m->burst_min_bytes, m->burst_max_bytes };
		t[n].burst_pkts = m->burst_pkts;
		t[n].burst_bytes = m->burst_bytes;
		n++;
	}
	if (!tu->have_prev || pkts < tu->prev_pkts || bytes < tu->prev_bytes ||
	    cut_pkts < tu->prev_cut_pkts || cut_bytes < tu->prev_cut_bytes) {
		/* first sample, another tuned list, or a slot was reused (its counters zeroed) */
		tu->have_prev = true;
		goto out;
	}
	smp = (struct bg_tune_sample){
		.dt_ns = now - tu->prev_ns,
		.passed_pkts = pkts - tu->prev_pkts,
		.passed_bytes = bytes - tu->prev_bytes,
		.cut_pkts = cut_pkts - tu->prev_cut_pkts,
		.cut_bytes = cut_bytes - tu->prev_cut_bytes,
	};
	bg_tune_step(&tc, &tu->st, &smp, t, n, &r);
	sv->h.tune_util = r.util;
	sv->h.tune_demand = r.demand;
	if (r.dir == BG_TUNE_HOLD)
		goto out;
	for (i = 0; i < n; i++)
		if (t[i].new_pkts != t[i].burst_pkts || t[i].new_bytes != t[i].burst_bytes)
			break;
	if (i == n)
		goto out; /* every burst at its bound already: no lock to take */
	logged = tune_write(tu, t, cur, n, &r);
	if (logged > TUNE_LOG_MAX)
		slog(sv, LOG_INFO_, "tuner: ... and %zu more bursts %s", logged - TUNE_LOG_MAX,
		     r.dir == BG_TUNE_GROW ? "grown" : "shrunk");
out:
	tu->prev_pkts = pkts;
	tu->prev_bytes = bytes;
	tu->prev_cut_pkts = cut_pkts;
	tu->prev_cut_bytes = cut_bytes;
	tu->prev_ns = now;
out_free:
	free(t);
	free(cur);
}

int tuner_start(struct serve *sv)
{
	struct serve_tuner *tu = calloc(1, sizeof(*tu));

	if (!tu)
		return -ENOMEM;
	sv->tuner = tu;
	tu->sv = sv;
	sv->h.tune_util = sv->h.tune_demand = -1;
	return loop_on_tick(&sv->loop, tune, tu);
}

void tuner_stop(struct serve *sv)
{
	free(sv->tuner);
	sv->tuner = NULL;
}
