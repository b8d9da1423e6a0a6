/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Applying a policy to the live state: diff, then swap.
 *
 * bg_plan_build() is pure: from the policy (its token files already read
 * and hashed, bg_policy_read_tokens()) and a snapshot of the live state it
 * computes every change (identities added, removed, changed; prefixes
 * added, removed, moved; tokens added, removed, moved; host settings) and
 * the slot of every new identity, and checks the result fits the state's
 * capacity. Nothing is written until the whole plan exists, so a bad
 * policy or a policy too large changes nothing.
 *
 * Tokens: the policy owns the tokens of every identity that has a
 * `token_files` key (even `[]`): after an apply they are exactly the tokens
 * of its files, whatever `burstctl token add` did. Identities without the
 * key keep the tokens added by hand. A removed identity loses its tokens
 * and flows, and so does one whose `token_files` key is dropped (the files
 * its tokens came from are no longer given).
 *
 * bg_plan_exec() writes it with batch map operations, in an order that never
 * touches an unchanged identity (its slot, buckets, counters and prefixes
 * stay as they are, so none of its packets is dropped or misclassified) and
 * gives a moved prefix or token no gap (a move is one in-place update).
 * Changed identities keep their buckets' TATs and counters.
 *
 * Capacity holds at every step, not only at the end: removed tokens go
 * before added ones, and a prefix map that could not hold its additions
 * next to the entries they replace has its removals written first (else the
 * additions go first, so that an address covered by a removed prefix and an
 * added one never falls through). The plan checks the peak of every map.
 * Should a write still fail midway (the kernel out of memory, a map filled
 * behind the plan's back), bg_plan_exec() undoes what it wrote from the old
 * values the plan holds (and the buckets and counters of removed identities
 * whose slots it reused, saved before), and says whether that worked
 * (plan->result).
 */
#ifndef BG_APPLY_H
#define BG_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "bg_identity.h"
#include "bg_policy.h"
#include "bg_prefix.h"
#include "bg_state.h"
#include "bg_time.h"
#include "bg_token_reg.h"

/* The live state, as read from the maps. */
struct bg_live {
	struct bg_identity *ids; /* sorted by id; ids[i].meta holds bounds too */
	size_t nids;
	struct bg_prefix_entry *pfx;
	size_t npfx;
	struct bg_global g;
	struct bg_ctl ctl;
	__u32 max_ids; /* capacity of the identity arrays */
	__u32 max_pfx; /* per family */
	struct bg_token_entry *toks; /* the registry, sorted by hash */
	size_t ntoks;
	__u32 max_toks;
	struct bg_tok_cfg tok_cfg;
	struct bg_rec_entry *rec; /* the policy record (bg_state.h), by owner, idx */
	size_t nrec;
	struct bg_clock now; /* when it was read: token grace is counted from it */
};

struct bg_rec_entry {
	struct bg_rec_key k;
	struct bg_rec_val v;
};

int bg_live_read(const struct bg_state *s, struct bg_live *live);
void bg_live_free(struct bg_live *live);

struct bg_plan_id {
	const struct bg_pol_identity *want;
	const struct bg_identity *have; /* NULL for an addition */
	__u32 slot;
	struct bg_limits lim; /* what will be in force (a tuned burst kept) */
	struct bg_id_cfg cfg;
	char what[200]; /* "rate 500pps -> 1kpps, burst 50 -> 100" */
};

struct bg_plan_pfx {
	struct bg_prefix pfx;
	__u32 old_id; /* removals and moves */
	__u32 new_id; /* additions and moves */
	const char *old_name;
	const char *new_name;
};

struct bg_plan_tok {
	__u64 hash; /* the bg_tokens key */
	__u32 old_id; /* removals and moves */
	__u32 new_id; /* additions and moves */
	const char *old_name;
	const char *new_name;
	const char *file; /* additions and moves: the token file ... */
	__u32 line; /* ... and line that has it */
	const char *why; /* removals: why */
	struct bg_token tok; /* the value to write (removals: the value removed) */
	struct bg_token old; /* moves: the value replaced (to undo) */
	bool retire; /* a move in place: out of its token_files, kept for its token_grace */
};

/* What bg_plan_exec() did. */
enum bg_exec_result {
	BG_EXEC_NONE = 0, /* not run */
	BG_EXEC_DONE, /* every step written */
	BG_EXEC_ROLLED_BACK, /* a step failed; everything written was undone */
	BG_EXEC_PARTIAL, /* a step failed and undoing failed too: plan->steps_done */
};

struct bg_plan {
	struct bg_plan_id *add, *set;
	size_t nadd, nset, nsame;
	const struct bg_identity **del;
	size_t ndel;
	struct bg_plan_pfx *pfx_add, *pfx_del, *pfx_move;
	size_t npfx_add, npfx_del, npfx_move;
	bool reuse; /* a removed identity's slot is reused: remove before adding */
	struct bg_plan_tok *tok_add, *tok_del, *tok_move;
	size_t ntok_add, ntok_del, ntok_move;
	size_t ntok_same; /* from the policy's files, already in place */
	size_t ntok_hand; /* added by hand to identities without token_files: kept */
	size_t ntok_retire; /* of the moves: taken out of token_files, kept for their grace */
	size_t ntok_retiring; /* rotated out earlier, still in their grace: left alone */
	/* The policy record: entries to write and to remove. */
	struct bg_rec_entry *rec_put;
	size_t nrec_put;
	struct bg_rec_key *rec_del;
	size_t nrec_del;
	struct bg_rec_entry *rec_old; /* entries removed or replaced, as they were */
	size_t nrec_old;
	/* Kept identities whose token_files list changed: what, for the log. */
	struct bg_plan_files {
		const char *name;
		char what[400];
	} * files;
	size_t nfiles;
	bool global_changed, ctl_changed, tok_cfg_changed;
	struct bg_global g; /* host settings to write */
	struct bg_ctl ctl;
	struct bg_tok_cfg tok_cfg; /* header config (and the stages switched on) */
	char host_what[400];
	/* The live values the writes replace, to undo them. */
	struct bg_global g_old;
	struct bg_ctl ctl_old;
	struct bg_tok_cfg tok_cfg_old;
	/* Slot reuse: the removed identities' buckets and counters, kept by bg_plan_exec(). */
	struct bg_plan_saved {
		__u32 slot;
		struct bg_id_state tat;
	} * saved;
	void *saved_stats; /* per slot, the per-CPU bg_id_stats as the map returns them */
	size_t nsaved;
	/*
	 * Prefix maps (trie4, host4, trie6, host6: bit 0..3) whose removals
	 * are written before their additions: those that could not hold both.
	 */
	unsigned int pfx_del_first;
	/* Filled in by bg_plan_exec(): connections unbound and moved with their token. */
	size_t flows_removed, flows_moved;
	enum bg_exec_result result;
	const char *failed_step; /* the step that failed, when one did */
	char steps_done[256]; /* BG_EXEC_PARTIAL: the steps that stay written */
};

int bg_plan_build(const struct bg_policy *p, const struct bg_live *live, struct bg_plan *plan,
		  char *err, size_t errlen);
void bg_plan_free(struct bg_plan *plan);
size_t bg_plan_changes(const struct bg_plan *plan);

/*
 * Write the plan. The state must be open, the caller must hold the writer
 * lock, and the live state the plan was built from must still be allocated
 * (the plan points into it). On an error midway every step written is
 * undone (plan->result BG_EXEC_ROLLED_BACK), except connections already
 * unbound with their tokens; if undoing fails too, plan->result is
 * BG_EXEC_PARTIAL and plan->steps_done says what stays. Every step is
 * idempotent, so applying the same policy again converges.
 */
int bg_plan_exec(struct bg_state *s, struct bg_plan *plan);

/*
 * Test hooks, for the tests of bg_plan_exec() alone (nothing else sets
 * them): with bg_plan_fail_step = k, the k-th step bg_plan_exec() writes
 * (1-based; failed_step names it) fails with -EIO, before writing or, with
 * bg_plan_fail_after, after; with bg_plan_fail_undo = k, undoing the k-th
 * step fails. 0: off.
 */
extern int bg_plan_fail_step;
extern bool bg_plan_fail_after;
extern int bg_plan_fail_undo;

/*
 * Report each change as one line ("identity agent-7 added: ..."), at most
 * max lines, then one line saying how many more. fn is called per line.
 */
void bg_plan_describe(const struct bg_plan *plan, size_t max,
		      void (*fn)(void *arg, const char *kind, const char *name, const char *line),
		      void *arg);

/* The live state as a policy (for `policy dump`); free with bg_policy_free. */
int bg_live_to_policy(const struct bg_state *s, const struct bg_live *live, struct bg_policy *p);

/*
 * Read the policy's token files and hash their tokens under the state's
 * secret (bg_policy_read_tokens): before bg_plan_build or bg_policy_apply.
 * err as bg_policy_read_tokens says it.
 */
int bg_policy_prepare(const struct bg_state *s, struct bg_policy *p, char *err, size_t errlen);

/*
 * Everything `policy apply` and the controller do: lock, read, plan, write
 * identities, prefixes, tokens and host settings, unlock. (Attaching is
 * bg_policy_attach(), outside the lock: bg_attach takes it itself.) The
 * policy's tokens must have been read (bg_policy_prepare). When a plan was
 * made, even if writing it failed (plan_out->result says how), *plan_out
 * and *live_out (if not NULL) receive it and the live state it was built
 * from: free both. Otherwise they are zeroed.
 */
int bg_policy_apply(struct bg_state *s, struct bg_policy *p, struct bg_plan *plan_out,
		    struct bg_live *live_out, char *err, size_t errlen);

/*
 * Create the state with the policy's capacities if there is none; if there
 * is one with other capacities, keep it and warn (capacities are fixed at
 * creation). *created (if not NULL) says whether it was created, for the
 * caller to remove it again if the apply is refused.
 */
int bg_policy_state_setup(const char *pin_path, const struct bg_policy *p, bool *created);

/*
 * Attach to the policy's interfaces not yet attached, detach the others.
 * skip (may be NULL): an interface for which it returns true is not tried
 * (the controller's retry leaves out those that failed as they are).
 */
int bg_policy_attach(const char *pin_path, const struct bg_policy *p,
		     void (*fn)(void *arg, const char *line),
		     bool (*skip)(void *arg, const char *ifname), void *arg);

#endif /* BG_APPLY_H */
