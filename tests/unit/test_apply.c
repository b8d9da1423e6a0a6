// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The apply diff, on made-up live states: what stays untouched, what
 * changes in place (keeping slot, buckets, counters), what is added where,
 * what is removed, how prefixes move, and what does not fit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bg_apply.h"
#include "unit.h"

static char err[1024];

/* A live state as if `text` had been applied into slots 1, 2, 3... */
static void live_from(const char *text, __u32 max_ids, struct bg_live *live)
{
	struct bg_policy p;
	size_t i, j, n = 0;

	CU_ASSERT_EQUAL_FATAL(
		bg_policy_parse("live.yaml", text, strlen(text), &p, err, sizeof(err)), 0);
	memset(live, 0, sizeof(*live));
	live->max_ids = max_ids;
	live->max_pfx = 16;
	live->g.next_id_hint = 1;
	live->ids = calloc(p.nids + 1, sizeof(*live->ids));
	live->pfx = calloc(p.npfx4 + p.npfx6 + 1, sizeof(*live->pfx));
	for (i = 0; i <= p.nids; i++) {
		const struct bg_pol_identity *w = i ? &p.ids[i - 1] : &p.deflt;
		struct bg_identity *h = &live->ids[i];

		snprintf(h->name, sizeof(h->name), "%s", w->name);
		h->id = (__u32)i;
		h->cfg = w->cfg;
		h->meta.id = h->id;
		h->meta.rate_pps = w->lim.rate_pps;
		h->meta.burst_pkts = w->lim.burst_pkts;
		h->meta.byte_rate_bits = w->lim.byte_rate_bits;
		h->meta.burst_bytes = w->lim.burst_bytes;
		h->meta.burst_min_pkts = w->tune.min_pkts;
		h->meta.burst_max_pkts = w->tune.max_pkts;
		for (j = 0; j < w->npfx; j++)
			live->pfx[n++] = (struct bg_prefix_entry){ w->pfx[j].pfx, h->id };
	}
	live->nids = p.nids + 1;
	live->npfx = n;
	/* as bg_plan_exec leaves it: the policy's controller settings */
	live->ctl = p.ctl;
	live->ctl.flags = BG_CTL_F_POLICY;
	snprintf(live->ctl.audit_log, sizeof(live->ctl.audit_log), "%s", p.audit_log);
	bg_policy_free(&p);
}

static void want(const char *text, struct bg_policy *p)
{
	CU_ASSERT_EQUAL_FATAL(bg_policy_parse("want.yaml", text, strlen(text), p, err, sizeof(err)),
			      0);
}

static const char base[] = "version: 1\n"
			   "identities:\n"
			   "  a: { rate: 100pps, burst: 10, prefixes: [10.0.0.0/8] }\n"
			   "  b: { rate: 100pps, prefixes: [10.1.0.0/16] }\n"
			   "  c: { action: block, prefixes: [10.2.0.0/16, '2001:db8::/32'] }\n";

static void test_nothing_changes(void)
{
	struct bg_live live;
	struct bg_policy p;
	struct bg_plan plan;

	live_from(base, 16, &live);
	want(base, &p);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bg_plan_changes(&plan), 0);
	CU_ASSERT_EQUAL(plan.nsame, 4); /* a, b, c and default */
	bg_plan_free(&plan);
	bg_policy_free(&p);
	bg_live_free(&live);
}

static void test_diff(void)
{
	static const char next[] =
		"version: 1\n"
		"host: { shadow: true }\n"
		"identities:\n"
		"  a: { rate: 100pps, burst: 10, prefixes: [10.0.0.0/8, 10.9.0.0/16] }\n"
		"  b: { rate: 200pps, prefixes: [10.1.0.0/16] }\n"
		"  d: { rate: 5pps, prefixes: [10.2.0.0/16] }\n";
	struct bg_live live;
	struct bg_policy p;
	struct bg_plan plan;
	char buf[64];

	live_from(base, 16, &live);
	want(next, &p);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plan.nsame, 2); /* a and default: not touched at all */
	CU_ASSERT_EQUAL_FATAL(plan.nset, 1);
	CU_ASSERT_STRING_EQUAL(plan.set[0].want->name, "b");
	CU_ASSERT_EQUAL(plan.set[0].slot, 2); /* in place: same slot, same buckets */
	CU_ASSERT_PTR_NOT_NULL(strstr(plan.set[0].what, "rate 100pps -> 200pps"));
	/* b's burst was the default (10 = 100 ms of 100 pps); it is re-derived: 20 */
	CU_ASSERT_EQUAL(plan.set[0].lim.burst_pkts, 20);
	CU_ASSERT_EQUAL_FATAL(plan.nadd, 1);
	CU_ASSERT_STRING_EQUAL(plan.add[0].want->name, "d");
	CU_ASSERT(plan.add[0].slot >= 4); /* a fresh slot, not c's */
	CU_ASSERT(!plan.reuse);
	CU_ASSERT_EQUAL_FATAL(plan.ndel, 1);
	CU_ASSERT_STRING_EQUAL(plan.del[0]->name, "c");
	CU_ASSERT_EQUAL_FATAL(plan.npfx_move, 1);
	CU_ASSERT_STRING_EQUAL(bg_prefix_fmt(&plan.pfx_move[0].pfx, buf, sizeof(buf)),
			       "10.2.0.0/16");
	CU_ASSERT_EQUAL(plan.pfx_move[0].old_id, 3);
	CU_ASSERT_EQUAL(plan.pfx_move[0].new_id, plan.add[0].slot);
	CU_ASSERT_EQUAL_FATAL(plan.npfx_add, 1);
	CU_ASSERT_STRING_EQUAL(bg_prefix_fmt(&plan.pfx_add[0].pfx, buf, sizeof(buf)),
			       "10.9.0.0/16");
	CU_ASSERT_EQUAL(plan.pfx_add[0].new_id, 1);
	CU_ASSERT_EQUAL_FATAL(plan.npfx_del, 1);
	CU_ASSERT_EQUAL(plan.pfx_del[0].pfx.family, AF_INET6);
	CU_ASSERT(plan.global_changed);
	CU_ASSERT_EQUAL(plan.g.shadow_all, 1);
	CU_ASSERT_EQUAL(bg_plan_changes(&plan), 7);
	bg_plan_free(&plan);
	bg_policy_free(&p);
	bg_live_free(&live);
}

/*
 * Table full: the removed identity's slot is reused. A prefix moving away
 * from it is removed first and added back (it must not point at the slot's
 * new owner meanwhile).
 */
static void test_reuse_when_full(void)
{
	static const char next[] = "version: 1\n"
				   "identities:\n"
				   "  a: { rate: 100pps, burst: 10, prefixes: [10.0.0.0/8] }\n"
				   "  b: { rate: 100pps, prefixes: [10.1.0.0/16, 10.2.0.0/16] }\n"
				   "  e: { prefixes: [10.3.0.0/16] }\n";
	struct bg_live live;
	struct bg_policy p;
	struct bg_plan plan;
	char buf[64];
	size_t i;

	live_from(base, 4, &live); /* slots 0..3 all used */
	want(next, &p);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	CU_ASSERT(plan.reuse);
	CU_ASSERT_EQUAL(plan.add[0].slot, 3);
	CU_ASSERT_EQUAL(plan.npfx_move, 0);
	CU_ASSERT_EQUAL(plan.npfx_del, 2); /* 10.2/16 (split) and c's IPv6 prefix */
	CU_ASSERT_EQUAL_FATAL(plan.npfx_add, 2);
	for (i = 0; i < 2; i++) {
		bg_prefix_fmt(&plan.pfx_add[i].pfx, buf, sizeof(buf));
		CU_ASSERT_EQUAL(plan.pfx_add[i].new_id, strcmp(buf, "10.2.0.0/16") ? 3U : 2U);
	}
	bg_plan_free(&plan);
	bg_policy_free(&p);
	bg_live_free(&live);
}

static void test_too_large(void)
{
	static const char next[] = "version: 1\nidentities: { a: {}, b: {}, c: {}, d: {} }\n";
	static const char pfx[] =
		"version: 1\nidentities:\n  a: { prefixes: [10.0.0.0/8, 10.1.0.0/16, 10.2.0.0/16] }\n";
	struct bg_live live;
	struct bg_policy p;
	struct bg_plan plan;

	live_from(base, 4, &live);
	want(next, &p);
	CU_ASSERT_EQUAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), -ENOSPC);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "5 identities (default included)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "setup max-identities N"));
	bg_policy_free(&p);
	live.max_pfx = 2;
	want(pfx, &p);
	CU_ASSERT_EQUAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), -ENOSPC);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "3 IPv4"));
	bg_policy_free(&p);
	bg_live_free(&live);
}

/* A burst the tuner moved stays where it is (clamped to new bounds). */
static void test_tuned_burst_kept(void)
{
	static const char tuned[] =
		"version: 1\nidentities:\n  t: { rate: 1kpps, burst_min: 10, burst_max: 100 }\n";
	static const char narrower[] =
		"version: 1\nidentities:\n  t: { rate: 1kpps, burst_min: 10, burst_max: 30 }\n";
	struct bg_live live;
	struct bg_policy p;
	struct bg_plan plan;

	live_from(tuned, 16, &live);
	live.ids[1].meta.burst_pkts = 55; /* where the tuner took it */
	want(tuned, &p);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bg_plan_changes(&plan), 0);
	bg_plan_free(&plan);
	bg_policy_free(&p);
	want(narrower, &p);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(plan.nset, 1);
	CU_ASSERT_EQUAL(plan.set[0].lim.burst_pkts, 30);
	CU_ASSERT_PTR_NOT_NULL(strstr(plan.set[0].what, "burst 55 -> 30"));
	bg_plan_free(&plan);
	bg_policy_free(&p);
	bg_live_free(&live);
}

static void count_line(void *arg, const char *kind, const char *name, const char *line)
{
	(void)kind;
	(void)name;
	(void)line;
	(*(int *)arg)++;
}

static void test_describe_caps(void)
{
	static const char next[] = "version: 1\nidentities: { x1: {}, x2: {}, x3: {}, x4: {} }\n";
	struct bg_live live;
	struct bg_policy p;
	struct bg_plan plan;
	int n = 0;

	live_from(base, 16, &live);
	want(next, &p);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	bg_plan_describe(&plan, 3, count_line, &n);
	CU_ASSERT_EQUAL(n, 4); /* 3 lines, then "... and N more" */
	bg_plan_free(&plan);
	bg_policy_free(&p);
	bg_live_free(&live);
}

int add_apply_suite(void)
{
	static const struct unit_test tests[] = {
		{ "same policy: no change at all", test_nothing_changes },
		{ "diff: kept, changed in place, added, removed, moved", test_diff },
		{ "full table: removed slot reused, prefix split", test_reuse_when_full },
		{ "too large: refused before any write", test_too_large },
		{ "a tuned burst survives a reload", test_tuned_burst_kept },
		{ "change lines are capped", test_describe_caps },
		{ NULL, NULL },
	};

	return unit_add_suite("apply diff", tests);
}
