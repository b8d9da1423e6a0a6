// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Policy apply on real maps at capacity (a private state with room for 8
 * identities and 4 prefixes per family): a policy that fits only if its
 * removals are written before its additions; a write failing at each step
 * in turn (the bg_plan_fail_* hooks), after which the state is what it was
 * and the audit line says rolled_back (or partial, if the undo fails too);
 * a refused apply that writes nothing. Needs root; part of the bpf suite.
 */
#include <CUnit/CUnit.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bg_attach.h"
#include "bg_apply.h"
#include "bg_audit.h"
#include "bg_identity.h"
#include "bg_policy.h"
#include "bg_setup.h"
#include "bg_state.h"
#include "bpftest.h"

#define MAX_IDS 8 /* slot 0 is the default identity: 7 others */
#define MAX_PFX 4

static char ap_pin[128], ap_dir[64], ap_audit[128];
static struct bg_state ap_st;
static bool ap_open;

static void ap_down(void)
{
	char cmd[160];

	bg_plan_fail_step = bg_plan_fail_undo = 0;
	bg_plan_fail_after = false;
	if (ap_open)
		bg_state_close(&ap_st);
	ap_open = false;
	if (ap_pin[0])
		bg_state_teardown(ap_pin);
	ap_pin[0] = '\0';
	if (ap_dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ap_dir);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", ap_dir);
	}
	ap_dir[0] = '\0';
}

static int ap_setup(void)
{
	ap_down(); /* what a test stopped by a FATAL assert left */
	snprintf(ap_dir, sizeof(ap_dir), "/tmp/bgtest_apply_XXXXXX");
	if (!mkdtemp(ap_dir)) {
		ap_dir[0] = '\0';
		return -1;
	}
	snprintf(ap_audit, sizeof(ap_audit), "%s/audit.jsonl", ap_dir);
	snprintf(ap_pin, sizeof(ap_pin), "/sys/fs/bpf/bgtest_apply_%d", getpid());
	if (bg_state_setup(ap_pin, MAX_IDS, MAX_PFX, NULL) ||
	    bg_state_open(&ap_st, ap_pin, BG_OPEN_READ))
		return -1;
	ap_open = true;
	return 0;
}
#define AP_UP() CU_ASSERT_EQUAL_FATAL(ap_setup(), 0)

/* A token file of the test's folder, for the policies below. */
static void token_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", ap_dir, name);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

/* "@" in the text stands for the test's folder (token file paths). */
static char *expand(const char *text)
{
	size_t n = strlen(text) + 1, i, o = 0;
	char *out;

	for (i = 0; text[i]; i++)
		n += text[i] == '@' ? strlen(ap_dir) : 0;
	out = malloc(n);
	for (i = 0; out && text[i]; i++) {
		if (text[i] == '@') {
			memcpy(out + o, ap_dir, strlen(ap_dir));
			o += strlen(ap_dir);
		} else {
			out[o++] = text[i];
		}
	}
	if (out)
		out[o] = '\0';
	return out;
}

/*
 * Apply a policy as `burstctl policy apply` does, audit line included.
 * Returns bg_policy_apply's result; *result: the plan's (BG_EXEC_NONE if
 * refused).
 */
static int apply(const char *text, enum bg_exec_result *result, char *err, size_t errlen)
{
	struct bg_audit_who who = { .via = "cli", .uid = 0, .pid = getpid() };
	char *t = expand(text);
	struct bg_policy p;
	struct bg_plan plan;
	struct bg_live live;
	int ret;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	ret = bg_policy_parse("test.yaml", t, strlen(t), &p, err, errlen);
	free(t);
	if (ret) {
		fprintf(stderr, "policy: %s\n", err);
		CU_FAIL_FATAL("the test's policy does not parse");
	}
	ret = bg_policy_prepare(&ap_st, &p, err, errlen);
	CU_ASSERT_EQUAL_FATAL(ret, 0);
	ret = bg_policy_apply(&ap_st, &p, &plan, &live, err, errlen);
	if (result)
		*result = plan.result;
	CU_ASSERT_EQUAL(bg_audit_write(ap_audit, &who, "test.yaml",
				       ret ? (plan.result ? &plan : NULL) : &plan,
				       ret ? err : NULL),
			0);
	bg_plan_free(&plan);
	bg_live_free(&live);
	bg_policy_free(&p);
	return ret;
}

/* The last apply's line of the audit log (its tokens' lines follow it), parsed. */
static json_t *last_audit(void)
{
	char line[8192], last[8192] = "";
	json_error_t je;
	FILE *f = fopen(ap_audit, "r");

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "\"event\":\"policy_apply\""))
			memcpy(last, line, sizeof(last));
	fclose(f);
	return json_loads(last, 0, &je);
}

static const char *audit_str(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

/* ---- Snapshots: what a user can read back, and the buckets and counters ---- */

struct snap {
	struct bg_live live;
	struct bg_id_state tats[MAX_IDS];
	char *stats; /* MAX_IDS per-CPU values */
	size_t stride;
};

static size_t stride_of(void)
{
	return ((sizeof(struct bg_id_stats) + 7) & ~(size_t)7) * (size_t)ap_st.ncpus;
}

static int cmp_pfx(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct bg_prefix_entry));
}

static void snap_take(struct snap *sn)
{
	__u32 i;

	memset(sn, 0, sizeof(*sn));
	CU_ASSERT_EQUAL_FATAL(bg_live_read(&ap_st, &sn->live), 0);
	qsort(sn->live.pfx, sn->live.npfx, sizeof(*sn->live.pfx), cmp_pfx);
	memcpy(sn->tats, ap_st.tats, sizeof(sn->tats));
	sn->stride = stride_of();
	sn->stats = calloc(MAX_IDS, sn->stride);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sn->stats);
	for (i = 0; i < MAX_IDS; i++)
		CU_ASSERT_EQUAL(bpf_map_lookup_elem(ap_st.stats_fd, &i, sn->stats + i * sn->stride),
				0);
}

static void snap_free(struct snap *sn)
{
	bg_live_free(&sn->live);
	free(sn->stats);
}

/*
 * The state after equals the state before: identities (slot, config,
 * limits), prefixes, tokens, the policy record, host and controller
 * settings, the token header; and every identity's counters and buckets,
 * except the buckets of an identity whose limits the apply changed (they
 * are rescaled there and back: the same tokens, not the same bits).
 */
static void snap_same(const struct snap *a, const struct snap *b, const char *const *rescaled)
{
	const struct bg_live *x = &a->live, *y = &b->live;
	size_t i, k;

	CU_ASSERT_EQUAL_FATAL(x->nids, y->nids);
	for (i = 0; i < x->nids; i++) {
		const struct bg_identity *h = &x->ids[i];
		bool skip = false;

		CU_ASSERT_STRING_EQUAL(h->name, y->ids[i].name);
		CU_ASSERT_EQUAL(h->id, y->ids[i].id);
		CU_ASSERT(!memcmp(&h->cfg, &y->ids[i].cfg, sizeof(h->cfg)));
		CU_ASSERT(!memcmp(&h->meta, &y->ids[i].meta, sizeof(h->meta)));
		CU_ASSERT(!memcmp(a->stats + h->id * a->stride, b->stats + h->id * b->stride,
				  a->stride));
		for (k = 0; rescaled && rescaled[k]; k++)
			skip |= !strcmp(rescaled[k], h->name);
		if (!skip)
			CU_ASSERT(!memcmp(&a->tats[h->id], &b->tats[h->id], sizeof(a->tats[0])));
	}
	CU_ASSERT_EQUAL_FATAL(x->npfx, y->npfx);
	CU_ASSERT(!memcmp(x->pfx, y->pfx, x->npfx * sizeof(*x->pfx)));
	CU_ASSERT_EQUAL_FATAL(x->ntoks, y->ntoks);
	CU_ASSERT(!memcmp(x->toks, y->toks, x->ntoks * sizeof(*x->toks)));
	CU_ASSERT_EQUAL_FATAL(x->nrec, y->nrec);
	CU_ASSERT(!memcmp(x->rec, y->rec, x->nrec * sizeof(*x->rec)));
	CU_ASSERT(!memcmp(&x->g, &y->g, sizeof(x->g)));
	CU_ASSERT(!memcmp(&x->ctl, &y->ctl, sizeof(x->ctl)));
	CU_ASSERT(!memcmp(&x->tok_cfg, &y->tok_cfg, sizeof(x->tok_cfg)));
}

/* Counters that differ per identity, so a reset or a swap shows. */
static void fill_stats(void)
{
	size_t stride = stride_of();
	char *v = calloc(1, stride);
	__u32 i;
	int c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	for (i = 0; i < MAX_IDS; i++) {
		for (c = 0; c < ap_st.ncpus; c++) {
			struct bg_id_stats *s = (void *)(v + c * (stride / (size_t)ap_st.ncpus));

			s->passed_pkts = 1000 * i + (__u64)c + 1;
			s->dropped_pkts = i + 7;
		}
		CU_ASSERT_EQUAL(bpf_map_update_elem(ap_st.stats_fd, &i, v, BPF_ANY), 0);
	}
	free(v);
}

/* ---- The policies ---- */

/*
 * Before: the IPv4 trie and the IPv6 host hash full (4 each), 7 identities
 * (the table full), tokens from files.
 */
static const char *const POL_FULL =
	"version: 1\n"
	"host: { shadow: false }\n"
	"identities:\n"
	"  a: { rate: 100pps, prefixes: [10.0.1.0/24, 10.0.2.0/24] }\n"
	"  b: { rate: 200pps, prefixes: [10.0.3.0/24, 10.0.4.0/24],\n"
	"       token_files: [@/b] }\n"
	"  c: { rate: 300pps, prefixes: [2001:db8::1/128, 2001:db8::2/128] }\n"
	"  d: { rate: 400pps, prefixes: [2001:db8::3/128, 2001:db8::4/128] }\n"
	"  e: { rate: 500pps, token_files: [@/e] }\n"
	"  f: { rate: 600pps, token_files: [@/f] }\n"
	"  g: { rate: 700pps }\n";

/*
 * After, without reuse (g removed, nothing added): a and b each swap a /24
 * for another, d swaps a /128, one prefix moves from c to d; b's rate
 * changes; e's token moves to b, f's tokens are dropped; shadow on.
 */
static const char *const POL_SWAP =
	"version: 1\n"
	"host: { shadow: true }\n"
	"identities:\n"
	"  a: { rate: 100pps, prefixes: [10.0.1.0/24, 10.0.5.0/24] }\n"
	"  b: { rate: 250pps, prefixes: [10.0.3.0/24, 10.0.6.0/24],\n"
	"       token_files: [@/b, @/e] }\n"
	"  c: { rate: 300pps, prefixes: [2001:db8::1/128] }\n"
	"  d: { rate: 400pps, prefixes: [2001:db8::2/128, 2001:db8::3/128,\n"
	"                                2001:db8::9/128] }\n"
	"  e: { rate: 500pps }\n"
	"  f: { rate: 600pps, token_files: [] }\n";

/*
 * After, with slot reuse (the table full): e, f, g removed, h, i, j added;
 * their slots are reused; c's prefixes move to h, e's token to i; a changed.
 */
static const char *const POL_REUSE =
	"version: 1\n"
	"identities:\n"
	"  a: { rate: 150pps, prefixes: [10.0.1.0/24, 10.0.7.0/24] }\n"
	"  b: { rate: 200pps, prefixes: [10.0.3.0/24, 10.0.4.0/24],\n"
	"       token_files: [@/b] }\n"
	"  c: { rate: 300pps }\n"
	"  d: { rate: 400pps, prefixes: [2001:db8::3/128, 2001:db8::4/128] }\n"
	"  h: { rate: 800pps, prefixes: [2001:db8::1/128, 2001:db8::2/128] }\n"
	"  i: { rate: 900pps, token_files: [@/e] }\n"
	"  j: { rate: 1kpps, token_files: [@/j] }\n";

/* One identity too many for the table, and one prefix too many for the trie. */
static const char *const POL_BIG =
	"version: 1\n"
	"identities:\n"
	"  a: { rate: 100pps, prefixes: [10.0.1.0/24, 10.0.2.0/24,\n"
	"                                10.0.8.0/24, 10.0.9.0/24, 10.1.0.0/16] }\n"
	"  b: { rate: 1pps }\n  c: { rate: 1pps }\n  d: { rate: 1pps }\n"
	"  e: { rate: 1pps }\n  f: { rate: 1pps }\n  g: { rate: 1pps }\n"
	"  h: { rate: 1pps }\n";

static void full_state(void)
{
	char err[1024];

	AP_UP();
	token_file("b", "tok-b-1\ntok-b-2\n");
	token_file("e", "tok-e-1\n");
	token_file("f", "tok-f-1\ntok-f-2\n");
	token_file("j", "tok-j-1\n");
	CU_ASSERT_EQUAL_FATAL(apply(POL_FULL, NULL, err, sizeof(err)), 0);
	fill_stats();
}

static __u32 prefix_id(const char *cidr)
{
	struct bg_prefix p;
	char err[128];
	__u32 id = ~0U;

	CU_ASSERT_EQUAL_FATAL(bg_prefix_parse(cidr, &p, err, sizeof(err)), 0);
	if (bg_prefix_lookup(&ap_st, &p, &id))
		return ~0U;
	return id;
}

static __u32 id_of(const char *name)
{
	struct bg_identity h;

	return bg_identity_get(&ap_st, name, &h) ? ~0U : h.id;
}

/* At capacity, a policy that fits only if removals go first is applied. */
static void test_apply_removals_first(void)
{
	enum bg_exec_result r;
	char err[1024];

	full_state();
	CU_ASSERT_EQUAL(apply(POL_SWAP, &r, err, sizeof(err)), 0);
	if (r != BG_EXEC_DONE)
		fprintf(stderr, "apply: %s\n", err);
	CU_ASSERT_EQUAL(r, BG_EXEC_DONE);
	CU_ASSERT_EQUAL(prefix_id("10.0.5.0/24"), id_of("a"));
	CU_ASSERT_EQUAL(prefix_id("10.0.6.0/24"), id_of("b"));
	CU_ASSERT_EQUAL(prefix_id("10.0.2.0/24"), ~0U);
	CU_ASSERT_EQUAL(prefix_id("2001:db8::2/128"), id_of("d"));
	CU_ASSERT_EQUAL(prefix_id("2001:db8::9/128"), id_of("d"));
	CU_ASSERT_EQUAL(prefix_id("2001:db8::4/128"), ~0U);
	CU_ASSERT_EQUAL(id_of("g"), ~0U);
	/* and at full identity table, new identities take the removed slots */
	CU_ASSERT_EQUAL(apply(POL_FULL, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(apply(POL_REUSE, &r, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(r, BG_EXEC_DONE);
	CU_ASSERT_EQUAL(prefix_id("2001:db8::1/128"), id_of("h"));
	CU_ASSERT_EQUAL(id_of("e"), ~0U);
	ap_down();
}

/*
 * Each step fails in turn, before or after it writes: the state is then
 * what it was, the error and the audit line say so and name the step.
 */
static void fail_each_step(const char *pol, const char *const *rescaled, bool after)
{
	struct snap before, now;
	enum bg_exec_result r;
	char err[1024];
	int k, ret = -1;
	json_t *o;

	full_state();
	snap_take(&before);
	for (k = 1; k < 30 && ret; k++) {
		bg_plan_fail_step = k;
		bg_plan_fail_after = after;
		ret = apply(pol, &r, err, sizeof(err));
		if (!ret)
			break; /* past the last step */
		CU_ASSERT_EQUAL(ret, -EIO);
		CU_ASSERT_EQUAL(r, BG_EXEC_ROLLED_BACK);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "everything written was undone"));
		snap_take(&now);
		snap_same(&before, &now, rescaled);
		snap_free(&now);
		o = last_audit();
		CU_ASSERT_PTR_NOT_NULL_FATAL(o);
		CU_ASSERT_STRING_EQUAL(audit_str(o, "result"), "rolled_back");
		CU_ASSERT(audit_str(o, "failed_step")[0] != '\0');
		CU_ASSERT_PTR_NOT_NULL(strstr(audit_str(o, "error"), audit_str(o, "failed_step")));
		json_decref(o);
	}
	bg_plan_fail_step = 0;
	bg_plan_fail_after = false;
	/* every step was made to fail once; the last run, past them, applies */
	CU_ASSERT_EQUAL(ret, 0);
	CU_ASSERT(k > 10);
	o = last_audit();
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(audit_str(o, "result"), "applied");
	json_decref(o);
	snap_free(&before);
	ap_down();
}

static const char *const swap_rescaled[] = { "b", NULL };
static const char *const reuse_rescaled[] = { "a", NULL };

static void test_apply_rollback_before(void)
{
	fail_each_step(POL_SWAP, swap_rescaled, false);
}

static void test_apply_rollback_after(void)
{
	fail_each_step(POL_SWAP, swap_rescaled, true);
}

static void test_apply_rollback_reuse(void)
{
	fail_each_step(POL_REUSE, reuse_rescaled, false);
	fail_each_step(POL_REUSE, reuse_rescaled, true);
}

/* The undo fails too: "partial", naming what stays written. */
static void test_apply_partial(void)
{
	enum bg_exec_result r;
	char err[1024];
	json_t *o;

	full_state();
	bg_plan_fail_step = 4;
	bg_plan_fail_after = true;
	bg_plan_fail_undo = 1; /* the changed identities stay changed */
	CU_ASSERT_EQUAL(apply(POL_SWAP, &r, err, sizeof(err)), -EIO);
	CU_ASSERT_EQUAL(r, BG_EXEC_PARTIAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "undoing it failed too"));
	o = last_audit();
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(audit_str(o, "result"), "partial");
	CU_ASSERT_STRING_EQUAL(audit_str(o, "still_written"), "identities changed");
	json_decref(o);
	ap_down();
}

/* Too large for the state: refused, nothing written. */
static void test_apply_refused(void)
{
	struct snap before, now;
	enum bg_exec_result r;
	char err[1024];
	json_t *o;

	full_state();
	snap_take(&before);
	CU_ASSERT_EQUAL(apply(POL_BIG, &r, err, sizeof(err)), -ENOSPC);
	CU_ASSERT_EQUAL(r, BG_EXEC_NONE);
	snap_take(&now);
	snap_same(&before, &now, NULL);
	snap_free(&now);
	o = last_audit();
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(audit_str(o, "result"), "refused");
	CU_ASSERT_PTR_NULL(json_object_get(o, "failed_step"));
	json_decref(o);
	snap_free(&before);
	ap_down();
}

static int apply_suite_clean(void)
{
	ap_down(); /* a FATAL assert skips a test's own ap_down() */
	return 0;
}

void add_apply_tests(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{ "apply at capacity: removals before additions", test_apply_removals_first },
		{ "apply failing at each step is undone", test_apply_rollback_before },
		{ "apply failing after each step is undone", test_apply_rollback_after },
		{ "apply with slot reuse failing at each step is undone",
		  test_apply_rollback_reuse },
		{ "apply whose undo fails says what stays", test_apply_partial },
		{ "apply too large is refused, nothing written", test_apply_refused },
	};
	CU_pSuite s = CU_add_suite("apply", NULL, apply_suite_clean);
	size_t i;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		CU_add_test(s, tests[i].name, tests[i].fn);
}
