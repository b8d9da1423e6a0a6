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
#include "bg_token_reg.h"
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
	snprintf(live->ctl.http_token_header, sizeof(live->ctl.http_token_header), "%s",
		 p.http_token_header);
	bg_tok_cfg_default(&live->tok_cfg); /* as `burstctl setup` leaves it */
	live->max_toks = 64;
	bg_policy_free(&p);
}

static const struct bg_secret sec = { .key = { 5, 6 }, .fp_key = { 7, 8 } };

static void want(const char *text, struct bg_policy *p)
{
	CU_ASSERT_EQUAL_FATAL(bg_policy_parse("want.yaml", text, strlen(text), p, err, sizeof(err)),
			      0);
	CU_ASSERT_EQUAL_FATAL(bg_policy_read_tokens(p, &sec, err, sizeof(err)), 0);
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

/* ---- Tokens ---- */

static char tokdir[3][256];

/* Token files f0..f2 with these contents; their paths in tokdir[]. */
static void tok_files(const char *f0, const char *f1, const char *f2)
{
	const char *text[3] = { f0, f1, f2 };
	char name[16];
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "apply%d", i);
		CU_ASSERT_EQUAL_FATAL(
			unit_file(name, text[i], strlen(text[i]), tokdir[i], sizeof(tokdir[i])), 0);
	}
}

/* Register tok for slot id in the live state, as `token add` would. */
static void live_tok(struct bg_live *live, const char *tok, __u32 id, __u64 deadline)
{
	struct bg_token_entry *e;
	size_t i;

	live->toks = realloc(live->toks, (live->ntoks + 1) * sizeof(*live->toks));
	e = &live->toks[live->ntoks];
	memset(e, 0, sizeof(*e));
	bg_token_hash(&sec, tok, strlen(tok), &e->hash, &e->tok.fingerprint);
	e->tok.id = id;
	e->tok.deadline_ns = deadline;
	/* keep it sorted by hash, as bg_live_read does */
	for (i = live->ntoks++; i > 0 && live->toks[i - 1].hash > live->toks[i].hash; i--) {
		struct bg_token_entry t = live->toks[i];

		live->toks[i] = live->toks[i - 1];
		live->toks[i - 1] = t;
	}
}

/* Record token files for slot, as an earlier apply would have. */
static void live_rec(struct bg_live *live, __u32 slot, const char *path)
{
	struct bg_rec_entry *e;

	live->rec = realloc(live->rec, (live->nrec + 1) * sizeof(*live->rec));
	e = &live->rec[live->nrec++];
	memset(e, 0, sizeof(*e));
	e->k.owner = slot;
	e->v.count = 1;
	snprintf(e->v.str, sizeof(e->v.str), "%s", path);
}

static __u64 fp_of(const char *tok)
{
	__u64 h, fp;

	bg_token_hash(&sec, tok, strlen(tok), &h, &fp);
	return fp;
}

static const struct bg_plan_tok *find_tok(const struct bg_plan_tok *v, size_t n, const char *tok)
{
	__u64 fp = fp_of(tok);
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].tok.fingerprint == fp)
			return &v[i];
	return NULL;
}

struct lines {
	char text[4096];
};

static void collect(void *arg, const char *kind, const char *name, const char *line)
{
	struct lines *l = arg;
	size_t off = strlen(l->text);

	(void)kind;
	(void)name;
	snprintf(l->text + off, sizeof(l->text) - off, "%s\n", line);
}

/*
 * a owns its tokens (token_files recorded), c does not. The new policy
 * keeps t1 with a, moves t2 to b (which now owns its tokens), adds t4;
 * b's token t3 is not in b's files and goes, so does h2 (added by hand to
 * a); h1 (by hand, c has no token_files) stays.
 */
static void test_tokens_diff(void)
{
	struct bg_live live;
	struct bg_policy p;
	struct bg_plan plan;
	struct lines l = { "" };
	const struct bg_plan_tok *t;
	char text[1024], fpbuf[16];
	size_t i;

	tok_files("s3cr3t-t1\n", "s3cr3t-t2\ns3cr3t-t4\n", "unused\n");
	live_from(base, 16, &live);
	live_tok(&live, "s3cr3t-t1", 1, 0);
	live_tok(&live, "s3cr3t-t2", 1, 0);
	live_tok(&live, "s3cr3t-t3", 2, 0);
	live_tok(&live, "s3cr3t-h1", 3, 0);
	live_tok(&live, "s3cr3t-h2", 1, 0);
	live_rec(&live, 1, tokdir[0]);
	snprintf(text, sizeof(text),
		 "version: 1\n"
		 "identities:\n"
		 "  a: { rate: 100pps, burst: 10, prefixes: [10.0.0.0/8], token_files: [\"%s\"] }\n"
		 "  b: { rate: 100pps, prefixes: [10.1.0.0/16], token_files: [\"%s\"] }\n"
		 "  c: { action: block, prefixes: [10.2.0.0/16, '2001:db8::/32'] }\n",
		 tokdir[0], tokdir[1]);
	want(text, &p);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plan.nsame, 4); /* no identity changes */
	CU_ASSERT_EQUAL(plan.ntok_same, 1); /* t1 */
	CU_ASSERT_EQUAL(plan.ntok_hand, 1); /* h1 */
	CU_ASSERT_EQUAL_FATAL(plan.ntok_add, 1);
	t = find_tok(plan.tok_add, plan.ntok_add, "s3cr3t-t4");
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(t->new_id, 2);
	CU_ASSERT_EQUAL(t->line, 2);
	CU_ASSERT_EQUAL(t->tok.deadline_ns, 0);
	CU_ASSERT_EQUAL_FATAL(plan.ntok_move, 1);
	t = find_tok(plan.tok_move, plan.ntok_move, "s3cr3t-t2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(t->old_id, 1);
	CU_ASSERT_EQUAL(t->new_id, 2);
	CU_ASSERT_EQUAL(t->tok.id, 2);
	CU_ASSERT_EQUAL_FATAL(plan.ntok_del, 2);
	t = find_tok(plan.tok_del, plan.ntok_del, "s3cr3t-t3");
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_STRING_EQUAL(t->why, "not in the identity's token_files");
	CU_ASSERT_PTR_NOT_NULL(find_tok(plan.tok_del, plan.ntok_del, "s3cr3t-h2"));
	/* b's token files are new: recorded, and said */
	CU_ASSERT_EQUAL_FATAL(plan.nfiles, 1);
	CU_ASSERT_STRING_EQUAL(plan.files[0].name, "b");
	CU_ASSERT_EQUAL_FATAL(plan.nrec_put, 1);
	CU_ASSERT_EQUAL(plan.rec_put[0].k.owner, 2);
	CU_ASSERT_STRING_EQUAL(plan.rec_put[0].v.str, tokdir[1]);
	CU_ASSERT_EQUAL(plan.nrec_del, 0);
	/* the first token: the data-plane stages go on */
	CU_ASSERT(plan.tok_cfg.flags & BG_TOK_F_ACTIVE);
	CU_ASSERT_EQUAL(bg_plan_changes(&plan), 5);
	/* the log names tokens by fingerprint, never in clear */
	bg_plan_describe(&plan, 100, collect, &l);
	snprintf(text, sizeof(text), "token %s: a -> b (%s line 1)\n",
		 bg_fp_fmt(fp_of("s3cr3t-t2"), fpbuf, sizeof(fpbuf)), tokdir[1]);
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text, text));
	snprintf(text, sizeof(text),
		 "token %s removed from b (not in the identity's token_files)\n",
		 bg_fp_fmt(fp_of("s3cr3t-t3"), fpbuf, sizeof(fpbuf)));
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text, text));
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text, "identity b: token_files none -> "));
	CU_ASSERT_PTR_NULL(strstr(l.text, "s3cr3t"));
	bg_plan_free(&plan);
	bg_policy_free(&p);

	/* a token of a file that had an expiry (added by hand with a ttl) stops expiring */
	for (i = 0; i < live.ntoks; i++)
		if (live.toks[i].tok.fingerprint == fp_of("s3cr3t-t1"))
			live.toks[i].tok.deadline_ns = 5;
	snprintf(text, sizeof(text),
		 "version: 1\n"
		 "identities:\n"
		 "  a: { rate: 100pps, burst: 10, prefixes: [10.0.0.0/8], token_files: [\"%s\"] }\n"
		 "  b: { rate: 100pps, prefixes: [10.1.0.0/16] }\n"
		 "  c: { action: block, prefixes: [10.2.0.0/16, '2001:db8::/32'] }\n",
		 tokdir[0]);
	want(text, &p);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	t = find_tok(plan.tok_move, plan.ntok_move, "s3cr3t-t1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(t->old_id, t->new_id);
	CU_ASSERT_EQUAL(t->tok.deadline_ns, 0);
	bg_plan_free(&plan);
	bg_policy_free(&p);
	bg_live_free(&live);
}

/*
 * A removed identity takes its tokens along (by hand or not); an identity
 * whose token_files key goes loses the tokens of those files.
 */
static void test_tokens_dropped(void)
{
	static const char next[] = "version: 1\n"
				   "identities:\n"
				   "  a: { rate: 100pps, burst: 10, prefixes: [10.0.0.0/8] }\n"
				   "  b: { rate: 100pps, prefixes: [10.1.0.0/16] }\n";
	struct bg_live live;
	struct bg_policy p;
	struct bg_plan plan;
	const struct bg_plan_tok *t;

	tok_files("s3cr3t-t1\n", "x\n", "y\n");
	live_from(base, 16, &live);
	live_tok(&live, "s3cr3t-t1", 1, 0); /* a's, from its file */
	live_tok(&live, "s3cr3t-c1", 3, 0); /* c's, by hand */
	live_tok(&live, "s3cr3t-b1", 2, 0); /* b's, by hand: b has no token_files */
	live_rec(&live, 1, tokdir[0]);
	want(next, &p);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(plan.ntok_del, 2);
	t = find_tok(plan.tok_del, plan.ntok_del, "s3cr3t-c1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_STRING_EQUAL(t->why, "its identity is removed");
	t = find_tok(plan.tok_del, plan.ntok_del, "s3cr3t-t1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_STRING_EQUAL(t->why, "the identity's token_files are no longer given");
	CU_ASSERT_EQUAL(plan.ntok_hand, 1);
	CU_ASSERT_EQUAL_FATAL(plan.nrec_del, 1); /* a's record */
	CU_ASSERT_EQUAL(plan.rec_del[0].owner, 1);
	CU_ASSERT_EQUAL_FATAL(plan.nfiles, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(plan.files[0].what, " -> none"));
	bg_plan_free(&plan);
	bg_policy_free(&p);
	bg_live_free(&live);
}

static void live_apply(struct bg_live *live, const struct bg_plan *plan);

/*
 * token_grace: a token taken out of its identity's files keeps working
 * until the grace is over (and its connections with it), is left alone at
 * the applies in between, comes back to life if put back in a file, and
 * goes at once when its grace is over or the identity has none.
 */
static void test_tokens_grace(void)
{
	struct bg_live live;
	struct bg_policy p;
	struct bg_plan plan;
	struct lines l = { "" };
	const struct bg_plan_tok *t;
	char text[1024];

	tok_files("s3cr3t-t1\ns3cr3t-t2\n", "s3cr3t-t1\ns3cr3t-t3\n", "s3cr3t-t1\n");
	live_from(base, 16, &live);
	live.now.boot_ns = 1000 * BG_NS_PER_SEC;
	live.now.unix_ns = 1800000000ULL * BG_NS_PER_SEC;
	live_tok(&live, "s3cr3t-t1", 1, 0);
	live_tok(&live, "s3cr3t-t2", 1, 0);
	live_rec(&live, 1, tokdir[0]);
	snprintf(
		text, sizeof(text),
		"version: 1\n"
		"host: { token_grace: 1h }\n"
		"identities:\n"
		"  a: { rate: 100pps, prefixes: [10.0.0.0/8], token_files: [\"%s\"], token_grace: 10m }\n"
		"  b: { rate: 100pps, prefixes: [10.1.0.0/16] }\n"
		"  c: { action: block, prefixes: [10.2.0.0/16, '2001:db8::/32'] }\n",
		tokdir[1]);
	want(text, &p);
	CU_ASSERT_EQUAL(bg_pol_grace(&p, &p.ids[0]), 600 * BG_NS_PER_SEC);
	CU_ASSERT_EQUAL(bg_pol_grace(&p, &p.ids[1]), 3600 * BG_NS_PER_SEC);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plan.ntok_del, 0);
	CU_ASSERT_EQUAL(plan.ntok_add, 1); /* t3 */
	CU_ASSERT_EQUAL(plan.ntok_retire, 1);
	t = find_tok(plan.tok_move, plan.ntok_move, "s3cr3t-t2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_TRUE(t->retire);
	CU_ASSERT_EQUAL(t->old_id, 1);
	CU_ASSERT_EQUAL(t->new_id, 1);
	CU_ASSERT_EQUAL(t->tok.deadline_ns, 1600 * BG_NS_PER_SEC);
	CU_ASSERT_EQUAL(t->tok.expires_unix, 1800000600ULL);
	CU_ASSERT(t->tok.flags & BG_TOKF_RETIRING);
	bg_plan_describe(&plan, 100, collect, &l);
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text, "not in its token_files any more: works until "));
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text, "identity a: token_grace none -> 10m"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text, "token_grace 0 -> 1h"));
	live_apply(&live, &plan);
	bg_plan_free(&plan);

	/* the next apply, within the grace: nothing to do */
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	l.text[0] = '\0';
	bg_plan_describe(&plan, 100, collect, &l);
	if (bg_plan_changes(&plan))
		printf("\n%s", l.text);
	CU_ASSERT_EQUAL(bg_plan_changes(&plan), 0);
	CU_ASSERT_EQUAL(plan.ntok_retiring, 1);
	bg_plan_free(&plan);

	/* past the grace: it goes */
	live.now.boot_ns = 1601 * BG_NS_PER_SEC;
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(find_tok(plan.tok_del, plan.ntok_del, "s3cr3t-t2"));
	bg_plan_free(&plan);

	/* within it, but back in the file: no longer retiring, no expiry */
	live.now.boot_ns = 1100 * BG_NS_PER_SEC;
	bg_policy_free(&p);
	snprintf(text, sizeof(text),
		 "version: 1\n"
		 "identities:\n"
		 "  a: { rate: 100pps, prefixes: [10.0.0.0/8], token_files: [\"%s\", \"%s\"] }\n"
		 "  b: { rate: 100pps, prefixes: [10.1.0.0/16] }\n"
		 "  c: { action: block, prefixes: [10.2.0.0/16, '2001:db8::/32'] }\n",
		 tokdir[0], tokdir[1]);
	want(text, &p);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	t = find_tok(plan.tok_move, plan.ntok_move, "s3cr3t-t2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_FALSE(t->retire);
	CU_ASSERT_EQUAL(t->tok.deadline_ns, 0);
	CU_ASSERT_FALSE(t->tok.flags & BG_TOKF_RETIRING);
	bg_plan_free(&plan);

	/* no grace any more: out of the files means removed at once */
	bg_policy_free(&p);
	snprintf(text, sizeof(text),
		 "version: 1\n"
		 "identities:\n"
		 "  a: { rate: 100pps, prefixes: [10.0.0.0/8], token_files: [\"%s\"] }\n"
		 "  b: { rate: 100pps, prefixes: [10.1.0.0/16] }\n"
		 "  c: { action: block, prefixes: [10.2.0.0/16, '2001:db8::/32'] }\n",
		 tokdir[2]);
	want(text, &p);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(find_tok(plan.tok_del, plan.ntok_del, "s3cr3t-t2"));
	CU_ASSERT_PTR_NOT_NULL(find_tok(plan.tok_del, plan.ntok_del, "s3cr3t-t3"));
	CU_ASSERT_EQUAL(plan.ntok_retire, 0);
	bg_plan_free(&plan);
	bg_policy_free(&p);
	bg_live_free(&live);
}

/* Table full: c's slot goes to e; c's token, now e's, must not point at e's slot early. */
static void test_tokens_reuse(void)
{
	struct bg_live live;
	struct bg_policy p;
	struct bg_plan plan;
	char text[1024];

	tok_files("s3cr3t-c1\n", "x\n", "y\n");
	live_from(base, 4, &live);
	live_tok(&live, "s3cr3t-c1", 3, 0);
	snprintf(text, sizeof(text),
		 "version: 1\n"
		 "identities:\n"
		 "  a: { rate: 100pps, burst: 10, prefixes: [10.0.0.0/8] }\n"
		 "  b: { rate: 100pps, prefixes: [10.1.0.0/16] }\n"
		 "  e: { token_files: [\"%s\"] }\n",
		 tokdir[0]);
	want(text, &p);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	CU_ASSERT(plan.reuse);
	CU_ASSERT_EQUAL(plan.add[0].slot, 3);
	CU_ASSERT_EQUAL(plan.ntok_move, 0);
	CU_ASSERT_EQUAL_FATAL(plan.ntok_del, 1);
	CU_ASSERT_EQUAL_FATAL(plan.ntok_add, 1);
	CU_ASSERT_EQUAL(plan.tok_add[0].new_id, 3);
	CU_ASSERT_EQUAL(plan.tok_del[0].hash, plan.tok_add[0].hash);
	bg_plan_free(&plan);
	bg_policy_free(&p);
	bg_live_free(&live);
}

static void test_tokens_full(void)
{
	struct bg_live live;
	struct bg_policy p;
	struct bg_plan plan;
	char text[1024];

	tok_files("s3cr3t-1\ns3cr3t-2\ns3cr3t-3\n", "x\n", "y\n");
	live_from(base, 16, &live);
	live.max_toks = 3;
	live_tok(&live, "s3cr3t-h", 2, 0); /* by hand, kept */
	snprintf(text, sizeof(text),
		 "version: 1\n"
		 "identities:\n"
		 "  a: { rate: 100pps, burst: 10, prefixes: [10.0.0.0/8], token_files: [\"%s\"] }\n"
		 "  b: { rate: 100pps, prefixes: [10.1.0.0/16] }\n"
		 "  c: { action: block, prefixes: [10.2.0.0/16, '2001:db8::/32'] }\n",
		 tokdir[0]);
	want(text, &p);
	CU_ASSERT_EQUAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), -ENOSPC);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(err, "would hold 4 tokens (3 from token files, 1 added by hand)"));
	bg_policy_free(&p);
	bg_live_free(&live);
}

static void test_tokens_host(void)
{
	static const char next[] =
		"version: 1\n"
		"host: { http_token_header: X-Api-Key, http_token_scheme: none }\n"
		"controller: { bind_socket: /run/bg.sock, bind_socket_group: 0 }\n"
		"identities:\n"
		"  a: { rate: 100pps, burst: 10, prefixes: [10.0.0.0/8] }\n"
		"  b: { rate: 100pps, prefixes: [10.1.0.0/16] }\n"
		"  c: { action: block, prefixes: [10.2.0.0/16, '2001:db8::/32'] }\n";
	struct bg_live live;
	struct bg_policy p;
	struct bg_plan plan;
	char name[80];

	live_from(base, 16, &live);
	want(next, &p);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	CU_ASSERT(plan.ctl_changed);
	CU_ASSERT(plan.tok_cfg_changed);
	bg_tok_cfg_header(&plan.tok_cfg, name, sizeof(name));
	CU_ASSERT_STRING_EQUAL(name, "x-api-key");
	CU_ASSERT_EQUAL(plan.tok_cfg.scheme_len, 0);
	CU_ASSERT(plan.tok_cfg.flags & BG_TOK_F_HTTP); /* what `token config` set stays */
	CU_ASSERT_PTR_NOT_NULL(
		strstr(plan.host_what, "http_token_header authorization -> x-api-key"));
	CU_ASSERT_PTR_NOT_NULL(strstr(plan.host_what, "http_token_scheme bearer -> none"));
	CU_ASSERT_PTR_NOT_NULL(strstr(plan.host_what, "bind_socket none -> /run/bg.sock group 0"));
	CU_ASSERT_EQUAL(plan.nrec_put, 2);
	CU_ASSERT_EQUAL(bg_plan_changes(&plan), 1);
	bg_plan_free(&plan);
	bg_policy_free(&p);
	bg_live_free(&live);
}

/* What bg_plan_exec leaves in the maps, applied to the made-up live state. */
static void live_apply(struct bg_live *live, const struct bg_plan *plan)
{
	size_t i, j;

	for (i = 0; i < plan->ntok_add; i++) {
		live->toks = realloc(live->toks, (live->ntoks + 1) * sizeof(*live->toks));
		live->toks[live->ntoks].hash = plan->tok_add[i].hash;
		live->toks[live->ntoks++].tok = plan->tok_add[i].tok;
	}
	for (i = 0; i < live->ntoks; i++) {
		for (j = 0; j < plan->ntok_move; j++)
			if (plan->tok_move[j].hash == live->toks[i].hash)
				live->toks[i].tok = plan->tok_move[j].tok;
		for (j = 0; j < plan->ntok_del; j++)
			if (plan->tok_del[j].hash == live->toks[i].hash)
				live->toks[i--] = live->toks[--live->ntoks];
	}
	for (i = 1; i < live->ntoks; i++) /* by hash */
		for (j = i; j > 0 && live->toks[j - 1].hash > live->toks[j].hash; j--) {
			struct bg_token_entry t = live->toks[j];

			live->toks[j] = live->toks[j - 1];
			live->toks[j - 1] = t;
		}
	free(live->rec);
	live->rec = calloc(plan->nrec_put + 1, sizeof(*live->rec));
	memcpy(live->rec, plan->rec_put, plan->nrec_put * sizeof(*live->rec));
	live->nrec = plan->nrec_put; /* by key already: bg_plan_build sorts them */
	live->ctl = plan->ctl;
	live->tok_cfg = plan->tok_cfg;
}

/*
 * policy -> apply -> dump -> parse -> apply: nothing changes. The dump has
 * the token files recorded at apply (tokens cannot be read back), the
 * header as the policy spelt it, the scheme and the bind socket.
 */
static void test_dump_roundtrip(void)
{
	struct bg_policy p, d, again;
	struct bg_state s = { .pin_path = "/nonexistent" };
	struct bg_live live;
	struct bg_plan plan;
	char text[2048], *dump = NULL;
	size_t len = 0;
	FILE *f;

	tok_files("s3cr3t-1\ns3cr3t-2\n", "s3cr3t-3\n", "y\n");
	live_from(base, 16, &live);
	live_tok(&live, "s3cr3t-hand", 2, 0); /* b: by hand, not the policy's */
	snprintf(
		text, sizeof(text),
		"version: 1\n"
		"host: { http_token_header: X-Agent-Token, http_token_scheme: none, token_grace: 90s }\n"
		"controller: { bind_socket: /run/bg.sock }\n"
		"identities:\n"
		"  a: { rate: 100pps, burst: 10, prefixes: [10.0.0.0/8],\n"
		"       token_files: [\"%s\", \"%s\"] }\n"
		"  b: { rate: 100pps, prefixes: [10.1.0.0/16], token_grace: 0 }\n"
		"  c: { action: block, prefixes: [10.2.0.0/16, '2001:db8::/32'], token_files: [] }\n",
		tokdir[0], tokdir[1]);
	want(text, &p);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&p, &live, &plan, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plan.ntok_add, 3);
	live_apply(&live, &plan);
	bg_plan_free(&plan);

	CU_ASSERT_EQUAL_FATAL(bg_live_to_policy(&s, &live, &d), 0);
	f = open_memstream(&dump, &len);
	CU_ASSERT_EQUAL(bg_policy_write(f, &d), 0);
	fclose(f);
	bg_policy_free(&d);
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, "http_token_header: X-Agent-Token\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, "http_token_scheme: none\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, "bind_socket: \"/run/bg.sock\"\n"));
	snprintf(text, sizeof(text), "token_files: [\"%s\", \"%s\"]\n", tokdir[0], tokdir[1]);
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, text));
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, "token_files: []\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, "  token_grace: 1m30s\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, "    token_grace: 0\n"));
	CU_ASSERT_PTR_NULL(strstr(dump, "s3cr3t"));

	CU_ASSERT_EQUAL_FATAL(bg_policy_parse("dump.yaml", dump, len, &again, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(bg_policy_read_tokens(&again, &sec, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(bg_plan_build(&again, &live, &plan, err, sizeof(err)), 0);
	if (bg_plan_changes(&plan)) {
		struct lines l = { "" };

		bg_plan_describe(&plan, 20, collect, &l);
		printf("\n%s", l.text);
	}
	CU_ASSERT_EQUAL(bg_plan_changes(&plan), 0);
	CU_ASSERT_EQUAL(plan.ntok_same, 3);
	CU_ASSERT_EQUAL(plan.ntok_hand, 1);
	bg_plan_free(&plan);
	bg_policy_free(&again);
	bg_policy_free(&p);
	bg_live_free(&live);
	free(dump);
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
		{ "tokens: added, moved, removed; by-hand ones kept where not owned",
		  test_tokens_diff },
		{ "tokens: removed with their identity or their token_files key",
		  test_tokens_dropped },
		{ "tokens: a move out of a reused slot is removed, then added", test_tokens_reuse },
		{ "tokens: token_grace keeps a token out of its files working, then not",
		  test_tokens_grace },
		{ "tokens: registry too small, refused before any write", test_tokens_full },
		{ "header and scheme, bind socket: host changes", test_tokens_host },
		{ "dump round-trips: token files recorded, header, bind socket",
		  test_dump_roundtrip },
		{ NULL, NULL },
	};

	return unit_add_suite("apply diff", tests);
}
