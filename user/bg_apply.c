// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_apply.h"
#include "bg_time.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bg_attach.h"
#include "bg_fleet_sync.h"
#include "bg_setup.h"
#include "bg_flow.h"
#include "bg_log.h"
#include "bg_time.h"
#include "bg_units.h"

/* ---- Reading the live state ---- */

static int cmp_tok_hash(const void *a, const void *b)
{
	__u64 x = ((const struct bg_token_entry *)a)->hash,
	      y = ((const struct bg_token_entry *)b)->hash;

	return x < y ? -1 : x > y;
}

static int cmp_rec_key(const struct bg_rec_key *x, const struct bg_rec_key *y)
{
	if (x->owner != y->owner)
		return x->owner < y->owner ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_rec(const void *a, const void *b)
{
	return cmp_rec_key(&((const struct bg_rec_entry *)a)->k,
			   &((const struct bg_rec_entry *)b)->k);
}

static int read_rec(const struct bg_state *s, struct bg_live *live)
{
	struct bg_rec_key *keys;
	struct bg_rec_val *vals;
	size_t i, n;
	int err;

	if (s->rec_fd < 0)
		return 0; /* a state older than the record: nothing recorded */
	err = bg_map_read_all(s->rec_fd, sizeof(*keys), sizeof(*vals), (void **)&keys,
			      (void **)&vals, &n);
	if (err)
		return err;
	live->rec = calloc(n + 1, sizeof(*live->rec));
	if (!live->rec) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		live->rec[i].k = keys[i];
		live->rec[i].v = vals[i];
		live->rec[i].v.str[BG_REC_STR_LEN - 1] = '\0';
	}
	live->nrec = n;
	qsort(live->rec, n, sizeof(*live->rec), cmp_rec);
out:
	free(keys);
	free(vals);
	return err;
}

int bg_live_read(const struct bg_state *s, struct bg_live *live)
{
	struct bpf_map_info info = {};
	__u32 zero = 0, len = sizeof(info);
	int err;

	memset(live, 0, sizeof(*live));
	live->max_ids = s->max_ids;
	live->max_pfx = s->max_pfx;
	err = bg_identity_list(s, &live->ids, &live->nids);
	if (!err)
		err = bg_prefix_list(s, &live->pfx, &live->npfx);
	if (!err)
		err = bg_global_get(s, &live->g);
	if (!err && bpf_map_lookup_elem(s->ctl_fd, &zero, &live->ctl))
		err = -errno;
	if (!err)
		err = bg_token_list(s, &live->toks, &live->ntoks);
	if (!err) {
		qsort(live->toks, live->ntoks, sizeof(*live->toks), cmp_tok_hash);
		if (!bpf_obj_get_info_by_fd(s->tokens_fd, &info, &len))
			live->max_toks = info.max_entries;
		err = bg_tok_cfg_get(s, &live->tok_cfg);
	}
	if (!err)
		err = read_rec(s, live);
	if (!err)
		err = bg_clock_now(&live->now);
	if (err)
		bg_live_free(live);
	return err;
}

void bg_live_free(struct bg_live *live)
{
	free(live->ids);
	free(live->pfx);
	free(live->toks);
	free(live->rec);
	live->ids = NULL;
	live->pfx = NULL;
	live->toks = NULL;
	live->rec = NULL;
	live->nids = live->npfx = live->ntoks = live->nrec = 0;
}

/* ---- The diff ---- */

static int cmp_have_name(const void *a, const void *b)
{
	return strcmp((*(const struct bg_identity *const *)a)->name,
		      (*(const struct bg_identity *const *)b)->name);
}

static const struct bg_identity *find_name(const struct bg_identity **byname, size_t n,
					   const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = strcmp(byname[mid]->name, name);

		if (!r)
			return byname[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* live->ids is sorted by id. */
static const struct bg_identity *find_id(const struct bg_live *live, __u32 id)
{
	size_t lo = 0, hi = live->nids;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (live->ids[mid].id == id)
			return &live->ids[mid];
		if (live->ids[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static __u64 clamp(__u64 v, __u64 lo, __u64 hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static int build_cfg(const struct bg_limits *want, struct bg_limits *out, struct bg_id_cfg *cfg)
{
	unsigned int mask = BG_LIM_ACTION | BG_LIM_RATE | BG_LIM_BYTE_RATE;
	struct bg_limits cur = {};

	if (want->rate_pps)
		mask |= BG_LIM_BURST;
	if (want->byte_rate_bits)
		mask |= BG_LIM_BYTE_BURST;
	if (bg_limits_apply(&cur, want, mask, cfg, NULL, 0))
		return -EINVAL; /* the policy loader validated it: cannot happen */
	*out = cur;
	return 0;
}

static void append(char *buf, size_t len, const char *fmt, const char *a, const char *b)
{
	size_t off = strlen(buf);

	if (off < len)
		snprintf(buf + off, len - off, fmt, off ? ", " : "", a, b);
}

/* "rate 500pps -> 1kpps, burst 50 -> 100": what differs, in the user's units. */
static void describe_diff(const struct bg_identity *h, const struct bg_limits *n,
			  const struct bg_tune_bounds *t, char *buf, size_t len)
{
	const struct bg_id_meta *m = &h->meta;
	char a[48], b[48];

	buf[0] = '\0';
	if (h->cfg.action != n->action)
		append(buf, len, "%saction %s -> %s", bg_action_name(h->cfg.action),
		       bg_action_name(n->action));
	if (m->rate_pps != n->rate_pps)
		append(buf, len, "%srate %s -> %s", bg_fmt_pps(m->rate_pps, a, sizeof(a)),
		       bg_fmt_pps(n->rate_pps, b, sizeof(b)));
	if (m->burst_pkts != n->burst_pkts) {
		snprintf(a, sizeof(a), "%llu", (unsigned long long)m->burst_pkts);
		snprintf(b, sizeof(b), "%llu", (unsigned long long)n->burst_pkts);
		append(buf, len, "%sburst %s -> %s", a, b);
	}
	if (m->burst_min_pkts != t->min_pkts || m->burst_max_pkts != t->max_pkts) {
		snprintf(a, sizeof(a), "%llu..%llu", (unsigned long long)m->burst_min_pkts,
			 (unsigned long long)m->burst_max_pkts);
		snprintf(b, sizeof(b), "%llu..%llu", (unsigned long long)t->min_pkts,
			 (unsigned long long)t->max_pkts);
		append(buf, len, "%sburst bounds %s -> %s", a, b);
	}
	if (m->byte_rate_bits != n->byte_rate_bits)
		append(buf, len, "%sbytes_rate %s -> %s",
		       bg_fmt_bitrate(m->byte_rate_bits, a, sizeof(a)),
		       bg_fmt_bitrate(n->byte_rate_bits, b, sizeof(b)));
	if (m->burst_bytes != n->burst_bytes)
		append(buf, len, "%sbytes_burst %s -> %s",
		       bg_fmt_bytes(m->burst_bytes, a, sizeof(a)),
		       bg_fmt_bytes(n->burst_bytes, b, sizeof(b)));
	if (m->burst_min_bytes != t->min_bytes || m->burst_max_bytes != t->max_bytes) {
		snprintf(a, sizeof(a), "%llu..%llu", (unsigned long long)m->burst_min_bytes,
			 (unsigned long long)m->burst_max_bytes);
		snprintf(b, sizeof(b), "%llu..%llu", (unsigned long long)t->min_bytes,
			 (unsigned long long)t->max_bytes);
		append(buf, len, "%sbytes_burst bounds %s -> %s", a, b);
	}
}

static void describe_new(const struct bg_limits *n, char *buf, size_t len)
{
	char a[48], b[48];

	snprintf(buf, len, "%s", bg_action_name(n->action));
	if (n->rate_pps) {
		snprintf(b, sizeof(b), "%llu", (unsigned long long)n->burst_pkts);
		append(buf, len, "%srate %s, burst %s", bg_fmt_pps(n->rate_pps, a, sizeof(a)), b);
	}
	if (n->byte_rate_bits)
		append(buf, len, "%sbytes_rate %s, bytes_burst %s",
		       bg_fmt_bitrate(n->byte_rate_bits, a, sizeof(a)),
		       bg_fmt_bytes(n->burst_bytes, b, sizeof(b)));
}

/*
 * What an existing identity will have: the policy's limits, except that a
 * burst the tuner manages keeps its current value (clamped to the new
 * bounds), so a reload does not undo the tuning.
 */
static int effective(const struct bg_pol_identity *w, const struct bg_identity *h,
		     struct bg_limits *lim, struct bg_id_cfg *cfg)
{
	struct bg_limits l = w->lim;

	if (h && w->tune.max_pkts && h->meta.burst_max_pkts)
		l.burst_pkts = clamp(h->meta.burst_pkts, w->tune.min_pkts, w->tune.max_pkts);
	if (h && w->tune.max_bytes && h->meta.burst_max_bytes)
		l.burst_bytes = clamp(h->meta.burst_bytes, w->tune.min_bytes, w->tune.max_bytes);
	return build_cfg(&l, lim, cfg);
}

static bool same(const struct bg_identity *h, const struct bg_limits *l,
		 const struct bg_tune_bounds *t)
{
	const struct bg_id_meta *m = &h->meta;

	return h->cfg.action == l->action && m->rate_pps == l->rate_pps &&
	       m->burst_pkts == l->burst_pkts && m->byte_rate_bits == l->byte_rate_bits &&
	       m->burst_bytes == l->burst_bytes && m->burst_min_pkts == t->min_pkts &&
	       m->burst_max_pkts == t->max_pkts && m->burst_min_bytes == t->min_bytes &&
	       m->burst_max_bytes == t->max_bytes && (h->cfg.flags & BG_ID_F_IN_USE);
}

/* Compare identity changes, additions and removals. */
static int plan_identities(const struct bg_policy *p, const struct bg_live *live,
			   const struct bg_identity **byname, struct bg_plan *plan, char *inwant,
			   __u32 *slot_of, char *err, size_t errlen)
{
	const struct bg_identity *h;
	struct bg_plan_id *pi;
	size_t i;
	int ret;

	for (i = 0; i <= p->nids; i++) {
		const struct bg_pol_identity *w = i < p->nids ? &p->ids[i] : &p->deflt;
		struct bg_limits lim;
		struct bg_id_cfg cfg;

		h = find_name(byname, live->nids, w->name);
		if (w == &p->deflt && (!h || h->id != BG_ID_DEFAULT)) {
			snprintf(
				err, errlen,
				"the state has no default identity in slot 0: it is damaged (recreate it with `burstctl teardown` and `burstctl setup`)");
			return -EPROTO;
		}
		ret = effective(w, h, &lim, &cfg);
		if (ret)
			return ret;
		if (h) {
			inwant[h - live->ids] = 1;
			if (i < p->nids)
				slot_of[i] = h->id;
			if (same(h, &lim, &w->tune)) {
				plan->nsame++;
				continue;
			}
			pi = &plan->set[plan->nset++];
			describe_diff(h, &lim, &w->tune, pi->what, sizeof(pi->what));
			pi->slot = h->id;
		} else {
			pi = &plan->add[plan->nadd++];
			describe_new(&lim, pi->what, sizeof(pi->what));
		}
		pi->want = w;
		pi->have = h;
		pi->lim = lim;
		pi->cfg = cfg;
	}
	for (i = 0; i < live->nids; i++)
		if (!inwant[i] && live->ids[i].id != BG_ID_DEFAULT)
			plan->del[plan->ndel++] = &live->ids[i];
	return 0;
}

/*
 * Slots for the additions: never-used ones first; a removed one only if
 * full. Without reuse every new identity has a free slot, so the table holds
 * them next to the removed ones (the peak); with it, removals go first.
 */
static int plan_slots(const struct bg_live *live, struct bg_plan *plan, char *err, size_t errlen)
{
	__u32 max = live->max_ids, hint = live->g.next_id_hint, slot, i;
	size_t k = 0, d = 0, total;
	char *used;

	total = plan->nsame + plan->nset + plan->nadd;
	if (total > max) {
		snprintf(
			err, errlen,
			"the policy has %zu identities (default included) but the state holds at most %u: recreate it larger (`burstctl teardown`, then `burstctl setup max-identities N`; counters are lost) or set host: max_identities before the state is first created",
			total, max);
		return -ENOSPC;
	}
	used = calloc(max, 1);
	if (!used)
		return -ENOMEM;
	for (i = 0; i < live->nids; i++)
		if (live->ids[i].id < max)
			used[live->ids[i].id] = 1;
	used[BG_ID_DEFAULT] = 1;
	if (!hint || hint >= max)
		hint = 1;
	for (i = 0; i < max - 1 && k < plan->nadd; i++) {
		slot = 1 + (hint - 1 + i) % (max - 1);
		if (!used[slot])
			plan->add[k++].slot = slot;
	}
	for (; k < plan->nadd && d < plan->ndel; d++, k++) {
		plan->add[k].slot = plan->del[d]->id;
		plan->reuse = true;
	}
	free(used);
	return 0;
}

struct want_pfx {
	struct bg_prefix pfx;
	__u32 id;
	const char *name;
};

static int cmp_prefix(const struct bg_prefix *x, const struct bg_prefix *y)
{
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

static int cmp_want_pfx(const void *a, const void *b)
{
	return cmp_prefix(&((const struct want_pfx *)a)->pfx, &((const struct want_pfx *)b)->pfx);
}

static int cmp_live_pfx(const void *a, const void *b)
{
	return cmp_prefix(&((const struct bg_prefix_entry *)a)->pfx,
			  &((const struct bg_prefix_entry *)b)->pfx);
}

static const char *name_of(const struct bg_live *live, __u32 id)
{
	const struct bg_identity *h = find_id(live, id);

	return h ? h->name : "(deleted)";
}

/* The prefix maps, in the order of bg_plan.pfx_del_first's bits. */
#define PFX_MAPS 4

static unsigned int pfx_map_idx(const struct bg_prefix *p)
{
	bool host = p->len == (p->family == AF_INET ? 32U : 128U);

	return (p->family == AF_INET ? 0 : 2) + host;
}

/*
 * Each map must hold its entries at every step, not only at the end: a
 * map with room for its additions next to the entries they replace gets
 * them first (no address falls through meanwhile); one without has its
 * removals written first. Moves are in-place updates.
 */
static int plan_pfx_peak(const struct bg_live *live, struct bg_plan *plan, char *err, size_t errlen)
{
	static const char *const what[PFX_MAPS] = { "IPv4 network", "IPv4 host", "IPv6 network",
						    "IPv6 host" };
	size_t have[PFX_MAPS] = {}, add[PFX_MAPS] = {}, del[PFX_MAPS] = {}, i;
	unsigned int m;

	for (i = 0; i < live->npfx; i++)
		have[pfx_map_idx(&live->pfx[i].pfx)]++;
	for (i = 0; i < plan->npfx_add; i++)
		add[pfx_map_idx(&plan->pfx_add[i].pfx)]++;
	for (i = 0; i < plan->npfx_del; i++)
		del[pfx_map_idx(&plan->pfx_del[i].pfx)]++;
	plan->pfx_del_first = 0;
	for (m = 0; m < PFX_MAPS; m++) {
		if (have[m] - del[m] + add[m] > live->max_pfx) {
			snprintf(
				err, errlen,
				"the %s prefix map would hold %zu prefixes but has room for %u: recreate the state larger (`burstctl setup max-prefixes N`)",
				what[m], have[m] - del[m] + add[m], live->max_pfx);
			return -ENOSPC;
		}
		if (plan->reuse || have[m] + add[m] > live->max_pfx)
			plan->pfx_del_first |= 1U << m;
	}
	return 0;
}

/* slot_of[i]: the slot p->ids[i] will have (kept, or given by plan_slots). */
static int plan_prefixes(const struct bg_policy *p, const struct bg_live *live,
			 struct bg_plan *plan, const __u32 *slot_of, char *err, size_t errlen)
{
	struct bg_prefix_entry *have = NULL;
	struct want_pfx *w = NULL;
	size_t nw = 0, i, j, a, b, n4 = 0, n6 = 0;
	char *deleted = NULL; /* by slot: the identity in it is removed */
	int ret = -ENOMEM;

	w = calloc(p->npfx4 + p->npfx6 + 1, sizeof(*w));
	have = calloc(live->npfx + 1, sizeof(*have));
	deleted = calloc(live->max_ids + 1, 1);
	plan->pfx_add = calloc(p->npfx4 + p->npfx6 + 1, sizeof(*plan->pfx_add));
	plan->pfx_move = calloc(p->npfx4 + p->npfx6 + 1, sizeof(*plan->pfx_move));
	plan->pfx_del = calloc(live->npfx + 1, sizeof(*plan->pfx_del));
	if (!w || !have || !deleted || !plan->pfx_add || !plan->pfx_move || !plan->pfx_del)
		goto out;
	for (i = 0; i < plan->ndel; i++)
		if (plan->del[i]->id < live->max_ids)
			deleted[plan->del[i]->id] = 1;
	for (i = 0; i < p->nids; i++) {
		const struct bg_pol_identity *id = &p->ids[i];
		__u32 slot = slot_of[i];

		for (j = 0; j < id->npfx; j++) {
			w[nw].pfx = id->pfx[j].pfx;
			w[nw].id = slot;
			w[nw].name = id->name;
			nw++;
			if (id->pfx[j].pfx.family == AF_INET)
				n4++;
			else
				n6++;
		}
	}
	if (n4 > live->max_pfx || n6 > live->max_pfx) {
		snprintf(
			err, errlen,
			"the policy has %zu IPv4 and %zu IPv6 prefixes but the state holds at most %u per family: recreate it larger (`burstctl setup max-prefixes N`)",
			n4, n6, live->max_pfx);
		ret = -ENOSPC;
		goto out;
	}
	memcpy(have, live->pfx, live->npfx * sizeof(*have));
	qsort(w, nw, sizeof(*w), cmp_want_pfx);
	qsort(have, live->npfx, sizeof(*have), cmp_live_pfx);
	for (a = 0, b = 0; a < nw || b < live->npfx;) {
		int r = a == nw ? 1 : b == live->npfx ? -1 : cmp_prefix(&w[a].pfx, &have[b].pfx);
		struct bg_plan_pfx *x;

		if (r < 0) {
			x = &plan->pfx_add[plan->npfx_add++];
			*x = (struct bg_plan_pfx){ .pfx = w[a].pfx,
						   .new_id = w[a].id,
						   .new_name = w[a].name };
			a++;
		} else if (r > 0) {
			x = &plan->pfx_del[plan->npfx_del++];
			*x = (struct bg_plan_pfx){ .pfx = have[b].pfx,
						   .old_id = have[b].id,
						   .old_name = name_of(live, have[b].id) };
			b++;
		} else {
			if (w[a].id != have[b].id) {
				bool split = plan->reuse && have[b].id < live->max_ids &&
					     deleted[have[b].id];

				/* from a slot about to be reused: remove first, add after */
				x = split ? &plan->pfx_del[plan->npfx_del++] :
					    &plan->pfx_move[plan->npfx_move++];
				*x = (struct bg_plan_pfx){ .pfx = w[a].pfx,
							   .old_id = have[b].id,
							   .new_id = w[a].id,
							   .old_name = name_of(live, have[b].id),
							   .new_name = w[a].name };
				if (split)
					plan->pfx_add[plan->npfx_add++] = *x;
			}
			a++;
			b++;
		}
	}
	ret = plan_pfx_peak(live, plan, err, errlen);
out:
	if (ret == -ENOMEM)
		snprintf(err, errlen, "out of memory planning prefixes");
	free(w);
	free(have);
	free(deleted);
	return ret;
}

/* ---- Tokens and the policy record ---- */

/* Records of slot owner (live->rec is sorted): [*first, return). */
static size_t rec_range(const struct bg_live *live, __u32 owner, size_t *first)
{
	size_t lo = 0, hi = live->nrec, end;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (live->rec[mid].k.owner < owner)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < live->nrec && live->rec[end].k.owner == owner; end++)
		;
	*first = lo;
	return end;
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

static bool in_sorted(const __u32 *v, size_t n, __u32 x)
{
	return n && bsearch(&x, v, n, sizeof(*v), cmp_u32);
}

/*
 * A token of a file: its line's expires= (w->expires_unix, 0: never), as a
 * deadline on the boot clock of now. Past or too far: dead at once (the
 * reader skipped those already passed when it read the file).
 */
static void tok_value(struct bg_token *t, __u32 id, const struct bg_pol_token *w,
		      const struct bg_token *have, const struct bg_clock *now)
{
	memset(t, 0, sizeof(*t));
	if (have)
		*t = *have; /* keep its creation time */
	t->id = id;
	t->fingerprint = w->fp;
	t->deadline_ns = 0;
	t->expires_unix = 0;
	t->flags &= ~BG_TOKF_RETIRING; /* back in a file: no longer rotated out */
	if (w->expires_unix) {
		if (bg_expiry_from_unix(now, w->expires_unix, &t->deadline_ns))
			t->deadline_ns = 1; /* expired (or beyond 10 years: refused as such) */
		t->expires_unix = (__u64)w->expires_unix;
	}
}

/*
 * A token taken out of its identity's token_files, with a token_grace:
 * rather than removed, it keeps working until the grace is over (gc then
 * removes it). One already rotated out keeps its deadline. Returns false
 * when the token has to go now after all (its deadline has passed).
 */
static bool plan_retire(const struct bg_live *live, struct bg_plan *plan,
			const struct bg_token_entry *l, __u64 grace_ns)
{
	struct bg_plan_tok *x;
	__u64 deadline, exp_unix;

	if (bg_token_dead(&l->tok, live->now.boot_ns))
		return false;
	if (l->tok.flags & BG_TOKF_RETIRING) {
		plan->ntok_retiring++;
		return true;
	}
	bg_expiry_from_ttl(&live->now, grace_ns, &deadline, &exp_unix);
	x = &plan->tok_move[plan->ntok_move++];
	*x = (struct bg_plan_tok){ .hash = l->hash, .old_id = l->tok.id, .new_id = l->tok.id };
	x->old_name = x->new_name = name_of(live, l->tok.id);
	x->old = l->tok;
	x->tok = l->tok;
	x->tok.flags |= BG_TOKF_RETIRING;
	if (!x->tok.deadline_ns || x->tok.deadline_ns > deadline) {
		x->tok.deadline_ns = deadline;
		x->tok.expires_unix = exp_unix;
	}
	x->retire = true;
	x->why = "not in the identity's token_files: working until its token_grace is over";
	plan->ntok_retire++;
	return true;
}

/*
 * The merge of the policy's tokens (p->toks, by hash) with the registry's
 * (live->toks, by hash). gone: the slots of removed identities, sorted.
 */
static int plan_tokens(const struct bg_policy *p, const struct bg_live *live, struct bg_plan *plan,
		       const __u32 *slot_of, const __u32 *gone, size_t ngone, char *err,
		       size_t errlen)
{
	__u32 *owned = calloc(live->max_ids + 1, sizeof(*owned)); /* slot -> policy index + 1 */
	size_t a = 0, b = 0, i, first, after;
	struct bg_plan_tok *x = NULL;
	const struct bg_clock *now = &live->now;

	plan->tok_add = calloc(p->ntoks + 1, sizeof(*plan->tok_add));
	plan->tok_move = calloc(p->ntoks + live->ntoks + 1, sizeof(*plan->tok_move));
	plan->tok_del = calloc(live->ntoks + 1, sizeof(*plan->tok_del));
	if (!owned || !plan->tok_add || !plan->tok_move || !plan->tok_del) {
		free(owned);
		snprintf(err, errlen, "out of memory planning %zu tokens", p->ntoks + live->ntoks);
		return -ENOMEM;
	}
	for (i = 0; i < p->nids; i++)
		if (p->ids[i].has_token_files && slot_of[i] < live->max_ids)
			owned[slot_of[i]] = (__u32)i + 1;
	while (a < p->ntoks || b < live->ntoks) {
		int r = a == p->ntoks			     ? 1 :
			b == live->ntoks		     ? -1 :
			p->toks[a].hash < live->toks[b].hash ? -1 :
							       p->toks[a].hash > live->toks[b].hash;
		const struct bg_token_entry *l = r >= 0 ? &live->toks[b++] : NULL;
		const struct bg_pol_token *w;
		const struct bg_pol_identity *wid;
		__u64 grace;
		__u32 to;
		bool dead;

		if (r > 0) {
			/* registered, in no token file */
			dead = !find_id(live, l->tok.id) || in_sorted(gone, ngone, l->tok.id);
			if (!dead && !(l->tok.id < live->max_ids && owned[l->tok.id]) &&
			    rec_range(live, l->tok.id, &first) == first) {
				plan->ntok_hand++; /* by hand, for an identity the policy leaves alone */
				continue;
			}
			grace = !dead && owned[l->tok.id] ?
					bg_pol_grace(p, &p->ids[owned[l->tok.id] - 1]) :
					0;
			if (grace && plan_retire(live, plan, l, grace))
				continue;
			x = &plan->tok_del[plan->ntok_del++];
			*x = (struct bg_plan_tok){ .hash = l->hash, .old_id = l->tok.id };
			x->tok = l->tok;
			x->old_name = name_of(live, l->tok.id);
			x->why = dead ? "its identity is removed" :
				 owned[l->tok.id] ?
					"not in the identity's token_files" :
					"the identity's token_files are no longer given";
			continue;
		}
		w = &p->toks[a++];
		wid = &p->ids[w->ident];
		to = slot_of[w->ident];
		if (!l) {
			/* in a token file, not registered */
			x = &plan->tok_add[plan->ntok_add++];
			*x = (struct bg_plan_tok){ .hash = w->hash, .new_id = to };
			tok_value(&x->tok, to, w, NULL, now);
		} else {
			dead = in_sorted(gone, ngone, l->tok.id);
			if (l->tok.id == to && !dead && !(l->tok.flags & BG_TOKF_RETIRING) &&
			    l->tok.expires_unix == (__u64)w->expires_unix &&
			    !l->tok.deadline_ns == !w->expires_unix) {
				plan->ntok_same++;
				continue;
			}
			if (plan->reuse && dead) {
				/* from a slot about to be reused: remove first, add after */
				x = &plan->tok_del[plan->ntok_del++];
				*x = (struct bg_plan_tok){ .hash = l->hash, .old_id = l->tok.id };
				x->tok = l->tok;
				x->old_name = name_of(live, l->tok.id);
				x->why = "moving to another identity";
				x = &plan->tok_add[plan->ntok_add++];
				*x = (struct bg_plan_tok){ .hash = w->hash, .new_id = to };
				tok_value(&x->tok, to, w, NULL, now);
			} else {
				x = &plan->tok_move[plan->ntok_move++];
				*x = (struct bg_plan_tok){ .hash = w->hash,
							   .old_id = l->tok.id,
							   .new_id = to };
				x->old_name = name_of(live, l->tok.id);
				x->old = l->tok;
				tok_value(&x->tok, to, w, &l->tok, now);
			}
		}
		x->new_name = wid->name;
		x->file = wid->token_files[w->file].path;
		x->line = w->line;
	}
	free(owned);
	/* removals are written first: the end is the peak */
	after = live->ntoks - plan->ntok_del + plan->ntok_add;
	if (live->max_toks && after > live->max_toks) {
		snprintf(
			err, errlen,
			"the registry would hold %zu tokens (%zu from token files, %zu added by hand) but has room for %u: remove tokens, or recreate the state",
			after, p->ntoks, plan->ntok_hand, live->max_toks);
		return -ENOSPC;
	}
	return 0;
}

/* "a, b" or "[]" (key given, no file) or "none" (no key), for the log. */
static void files_text(char *buf, size_t len, const struct bg_live *live, __u32 slot,
		       const struct bg_pol_identity *id)
{
	size_t off = 0, i, first, end;

	buf[0] = '\0';
	if (id) {
		if (!id->has_token_files)
			snprintf(buf, len, "none");
		else if (!id->ntoken_files)
			snprintf(buf, len, "[]");
		for (i = 0; i < id->ntoken_files && off < len; i++)
			off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
						id->token_files[i].path);
		return;
	}
	end = rec_range(live, slot, &first);
	if (first == end)
		snprintf(buf, len, "none");
	else if (!live->rec[first].v.count)
		snprintf(buf, len, "[]");
	for (i = first; i < end && live->rec[i].v.count && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i > first ? ", " : "",
					live->rec[i].v.str);
}

static void rec_set(struct bg_rec_entry *e, __u32 owner, __u32 idx, __u32 count, const char *str)
{
	memset(e, 0, sizeof(*e));
	e->k.owner = owner;
	e->k.idx = idx;
	e->v.count = count;
	snprintf(e->v.str, sizeof(e->v.str), "%s", str);
}

static const char *rec_str(const struct bg_live *live, __u32 owner, __u32 idx)
{
	size_t first, end = rec_range(live, owner, &first);

	for (; first < end; first++)
		if (live->rec[first].k.idx == idx)
			return live->rec[first].v.str;
	return "";
}

/* A record of seconds ("" for none) as a duration, "none" for none. */
static void secs_text(char *buf, size_t len, const char *rec)
{
	unsigned long long v = strtoull(rec, NULL, 10);

	if (!*rec)
		snprintf(buf, len, "none");
	else if (!v)
		snprintf(buf, len, "0");
	else
		bg_fmt_duration(v * BG_NS_PER_SEC, buf, len);
}

/*
 * A controller setting in seconds, recorded (for `policy dump`) unless it
 * is its default; a change is a host change.
 */
static void ctl_secs(struct bg_plan *plan, const struct bg_live *live, struct bg_rec_entry *e,
		     size_t *nw, __u32 idx, const char *what, __u64 secs, __u64 deflt)
{
	char have[64], next[64], rec[32] = "";

	if (secs != deflt) {
		snprintf(rec, sizeof(rec), "%llu", (unsigned long long)secs);
		rec_set(e, BG_REC_CTL, idx, 0, rec);
		(*nw)++;
	}
	if (!strcmp(rec_str(live, BG_REC_CTL, idx), rec))
		return;
	snprintf(rec, sizeof(rec), "%llu", (unsigned long long)deflt);
	secs_text(have, sizeof(have),
		  *rec_str(live, BG_REC_CTL, idx) ? rec_str(live, BG_REC_CTL, idx) : rec);
	snprintf(rec, sizeof(rec), "%llu", (unsigned long long)secs);
	secs_text(next, sizeof(next), rec);
	snprintf(rec, sizeof(rec), "%.12s -> %.12s", have, next);
	append(plan->host_what, sizeof(plan->host_what), "%s%s %s", what, rec);
	plan->ctl_changed = true;
}

/* The record the policy leaves (token files by slot, the bind socket), diffed. */
static int plan_records(const struct bg_policy *p, const struct bg_live *live, struct bg_plan *plan,
			const __u32 *slot_of, const char *is_new)
{
	struct bg_rec_entry *want;
	size_t n = 2, nw = 0, i, j, a, b;
	char have[400], next[400], secs[32], gh[40], gn[40];

	for (i = 0; i < p->nids; i++)
		n += p->ids[i].ntoken_files + 2;
	n += 1;
	want = calloc(n, sizeof(*want));
	plan->rec_put = calloc(n, sizeof(*plan->rec_put));
	plan->rec_del = calloc(live->nrec + 1, sizeof(*plan->rec_del));
	plan->rec_old = calloc(live->nrec + 1, sizeof(*plan->rec_old));
	plan->files = calloc(2 * p->nids + 1, sizeof(*plan->files)); /* token_files, token_grace */
	if (!want || !plan->rec_put || !plan->rec_del || !plan->rec_old || !plan->files) {
		free(want);
		return -ENOMEM;
	}
	for (i = 0; i < p->nids; i++) {
		const struct bg_pol_identity *id = &p->ids[i];

		if (id->has_token_files && !id->ntoken_files)
			rec_set(&want[nw++], slot_of[i], 0, 0, "");
		for (j = 0; id->has_token_files && j < id->ntoken_files; j++)
			rec_set(&want[nw++], slot_of[i], (__u32)j, (__u32)id->ntoken_files,
				id->token_files[j].path);
		secs[0] = '\0';
		if (id->grace_given) {
			snprintf(secs, sizeof(secs), "%llu",
				 (unsigned long long)(id->token_grace_ns / BG_NS_PER_SEC));
			rec_set(&want[nw++], BG_REC_IDSET | slot_of[i], BG_REC_TOKEN_GRACE, 0,
				secs);
		}
		if (is_new[i])
			continue;
		secs_text(gh, sizeof(gh),
			  rec_str(live, BG_REC_IDSET | slot_of[i], BG_REC_TOKEN_GRACE));
		secs_text(gn, sizeof(gn), secs);
		if (strcmp(gh, gn)) {
			plan->files[plan->nfiles].name = id->name;
			snprintf(plan->files[plan->nfiles++].what, sizeof(plan->files[0].what),
				 "token_grace %s -> %s", gh, gn);
		}
		files_text(have, sizeof(have), live, slot_of[i], NULL);
		files_text(next, sizeof(next), live, slot_of[i], id);
		if (strcmp(have, next)) {
			plan->files[plan->nfiles].name = id->name;
			snprintf(plan->files[plan->nfiles++].what, sizeof(plan->files[0].what),
				 "token_files %.190s -> %.190s", have, next);
		}
	}
	ctl_secs(plan, live, &want[nw], &nw, BG_REC_TOKEN_GRACE, "token_grace",
		 p->token_grace_ns / BG_NS_PER_SEC, 0);
	if (p->bind_socket[0])
		rec_set(&want[nw++], BG_REC_CTL, BG_REC_BIND_SOCKET, 0, p->bind_socket);
	if (p->bind_group[0])
		rec_set(&want[nw++], BG_REC_CTL, BG_REC_BIND_GROUP, 0, p->bind_group);
	qsort(want, nw, sizeof(*want), cmp_rec);
	for (a = 0, b = 0; a < nw || b < live->nrec;) {
		int r = a == nw		? 1 :
			b == live->nrec ? -1 :
					  cmp_rec_key(&want[a].k, &live->rec[b].k);

		if (r < 0 || (r == 0 && memcmp(&want[a].v, &live->rec[b].v, sizeof(want[a].v))))
			plan->rec_put[plan->nrec_put++] = want[a];
		else if (r > 0)
			plan->rec_del[plan->nrec_del++] = live->rec[b].k;
		if (r > 0 || (r == 0 && memcmp(&want[a].v, &live->rec[b].v, sizeof(want[a].v))))
			plan->rec_old[plan->nrec_old++] = live->rec[b];
		a += r <= 0;
		b += r >= 0;
	}
	/* the bind socket: a controller setting */
	if (strcmp(rec_str(live, BG_REC_CTL, BG_REC_BIND_SOCKET), p->bind_socket) ||
	    strcmp(rec_str(live, BG_REC_CTL, BG_REC_BIND_GROUP), p->bind_group)) {
		snprintf(have, sizeof(have), "%.110s%s%.64s",
			 *rec_str(live, BG_REC_CTL, BG_REC_BIND_SOCKET) ?
				 rec_str(live, BG_REC_CTL, BG_REC_BIND_SOCKET) :
				 "none",
			 *rec_str(live, BG_REC_CTL, BG_REC_BIND_GROUP) ? " group " : "",
			 rec_str(live, BG_REC_CTL, BG_REC_BIND_GROUP));
		snprintf(next, sizeof(next), "%.110s%s%.64s",
			 p->bind_socket[0] ? p->bind_socket : "none",
			 p->bind_group[0] ? " group " : "", p->bind_group);
		append(plan->host_what, sizeof(plan->host_what), "%sbind_socket %.180s -> %.180s",
		       have, next);
		plan->ctl_changed = true;
	}
	free(want);
	return 0;
}

/*
 * What tok_cfg does with expired tokens: "default" or the identity's name
 * (false, and "(slot N)", when no identity has that slot).
 */
static bool expired_name(const struct bg_live *live, const struct bg_tok_cfg *t, char *buf,
			 size_t len)
{
	size_t i;

	snprintf(buf, len, "default");
	if (!(t->flags & BG_TOK_F_EXPIRED_ID))
		return true;
	for (i = 0; i < live->nids; i++) {
		if (live->ids[i].id == t->expired_id) {
			snprintf(buf, len, "%s", live->ids[i].name);
			return true;
		}
	}
	snprintf(buf, len, "(slot %u)", t->expired_id);
	return false;
}

static void plan_host(const struct bg_policy *p, const struct bg_live *live, struct bg_plan *plan,
		      const __u32 *slot_of)
{
	const struct bg_ctl *o = &live->ctl;
	struct bg_ctl *c = &plan->ctl;
	char e[256], hx[BG_HDR_NAME_MAX + 1], hy[BG_HDR_NAME_MAX + 1];
	bool hdr_changed = false;

	plan->g = live->g;
	plan->g_old = live->g;
	plan->ctl_old = live->ctl;
	plan->tok_cfg_old = live->tok_cfg;
	plan->g.shadow_all = p->shadow;
	plan->g.malformed = p->malformed;
	plan->host_what[0] = '\0';
	if (live->g.shadow_all != p->shadow)
		append(plan->host_what, sizeof(plan->host_what), "%sshadow %s -> %s",
		       live->g.shadow_all ? "on" : "off", p->shadow ? "on" : "off");
	if (live->g.malformed != p->malformed)
		append(plan->host_what, sizeof(plan->host_what), "%smalformed %s -> %s",
		       live->g.malformed == BG_MALFORMED_DROP ? "drop" : "pass",
		       p->malformed == BG_MALFORMED_DROP ? "drop" : "pass");
	plan->global_changed = plan->host_what[0] != '\0';

	*c = p->ctl;
	c->flags = BG_CTL_F_POLICY | (p->has_ifaces ? BG_CTL_F_IFACES : 0) |
		   (p->no_upgrade ? BG_CTL_F_NO_UPGRADE : 0);
	snprintf(c->audit_log, sizeof(c->audit_log), "%s", p->audit_log);
	snprintf(c->http_token_header, sizeof(c->http_token_header), "%s", p->http_token_header);
	c->generation = o->generation;
	c->applied_unix = o->applied_unix;
	if (o->capacity_pps != c->capacity_pps || o->capacity_bits != c->capacity_bits) {
		char a[48], b[48], x[48], y[48];

		snprintf(a, sizeof(a), "%s", bg_fmt_pps(o->capacity_pps, x, sizeof(x)));
		snprintf(b, sizeof(b), "%s", bg_fmt_pps(c->capacity_pps, y, sizeof(y)));
		append(plan->host_what, sizeof(plan->host_what), "%scapacity rate %s -> %s", a, b);
		snprintf(a, sizeof(a), "%s", bg_fmt_bitrate(o->capacity_bits, x, sizeof(x)));
		snprintf(b, sizeof(b), "%s", bg_fmt_bitrate(c->capacity_bits, y, sizeof(y)));
		append(plan->host_what, sizeof(plan->host_what), "%scapacity bytes_rate %s -> %s",
		       a, b);
	}
	/* Which header carries tokens: the policy's; the rest as `token config` left it. */
	plan->tok_cfg = live->tok_cfg;
	bg_tok_cfg_set_header(&plan->tok_cfg, p->http_token_header, e, sizeof(e));
	bg_tok_cfg_set_scheme(&plan->tok_cfg, p->http_token_scheme[0] ? p->http_token_scheme : NULL,
			      e, sizeof(e));
	if (plan->ntok_add)
		plan->tok_cfg.flags |= BG_TOK_F_ACTIVE; /* the XDP stages run from now on */
	/* on_token_expired: the policy's, by the slot its identity will have */
	plan->tok_cfg.flags &= ~BG_TOK_F_EXPIRED_ID;
	plan->tok_cfg.expired_id = 0;
	for (size_t i = 0; p->on_token_expired[0] && i < p->nids; i++) {
		if (strcmp(p->ids[i].name, p->on_token_expired))
			continue;
		plan->tok_cfg.flags |= BG_TOK_F_EXPIRED_ID;
		plan->tok_cfg.expired_id = slot_of[i];
	}
	if ((live->tok_cfg.flags ^ plan->tok_cfg.flags) & BG_TOK_F_EXPIRED_ID ||
	    live->tok_cfg.expired_id != plan->tok_cfg.expired_id) {
		char was[BG_NAME_LEN + 16];

		expired_name(live, &live->tok_cfg, was, sizeof(was));
		append(plan->host_what, sizeof(plan->host_what), "%son_token_expired %s -> %s", was,
		       p->on_token_expired[0] ? p->on_token_expired : "default");
		hdr_changed = true; /* a host change like the header's */
	}
	plan->tok_cfg_changed = memcmp(&plan->tok_cfg, &live->tok_cfg, sizeof(plan->tok_cfg)) != 0;
	bg_tok_cfg_header(&live->tok_cfg, hx, sizeof(hx));
	bg_tok_cfg_header(&plan->tok_cfg, hy, sizeof(hy));
	if (strcmp(hx, hy)) {
		append(plan->host_what, sizeof(plan->host_what), "%shttp_token_header %s -> %s", hx,
		       hy);
		hdr_changed = true;
	}
	bg_tok_cfg_scheme(&live->tok_cfg, hx, sizeof(hx));
	bg_tok_cfg_scheme(&plan->tok_cfg, hy, sizeof(hy));
	if (strcmp(hx, hy)) {
		append(plan->host_what, sizeof(plan->host_what), "%shttp_token_scheme %s -> %s",
		       hx[0] ? hx : "none", hy[0] ? hy : "none");
		hdr_changed = true;
	}

	plan->ctl_changed = o->capacity_pps != c->capacity_pps ||
			    o->capacity_bits != c->capacity_bits ||
			    o->tune_interval_ms != c->tune_interval_ms ||
			    o->grow_below_pct != c->grow_below_pct ||
			    o->shrink_above_pct != c->shrink_above_pct || o->flags != c->flags ||
			    strcmp(o->audit_log, c->audit_log) ||
			    strcmp(o->http_token_header, c->http_token_header) || hdr_changed;
}

int bg_plan_build(const struct bg_policy *p, const struct bg_live *live, struct bg_plan *plan,
		  char *err, size_t errlen)
{
	const struct bg_identity **byname = NULL;
	__u32 *slot_of = NULL, *gone = NULL;
	char *inwant = NULL, *is_new = NULL;
	size_t i;
	int ret = -ENOMEM;

	memset(plan, 0, sizeof(*plan));
	slot_of = calloc(p->nids + 1, sizeof(*slot_of));
	byname = calloc(live->nids + 1, sizeof(*byname));
	inwant = calloc(live->nids + 1, 1);
	plan->add = calloc(p->nids + 1, sizeof(*plan->add));
	plan->set = calloc(p->nids + 1, sizeof(*plan->set));
	plan->del = calloc(live->nids + 1, sizeof(*plan->del));
	if (!byname || !inwant || !slot_of || !plan->add || !plan->set || !plan->del) {
		snprintf(err, errlen, "out of memory planning %zu identities", p->nids);
		goto out;
	}
	for (i = 0; i < live->nids; i++)
		byname[i] = &live->ids[i];
	qsort(byname, live->nids, sizeof(*byname), cmp_have_name);
	ret = plan_identities(p, live, byname, plan, inwant, slot_of, err, errlen);
	if (!ret)
		ret = plan_slots(live, plan, err, errlen);
	for (i = 0; !ret && i < plan->nadd; i++)
		if (plan->add[i].want != &p->deflt)
			slot_of[plan->add[i].want - p->ids] = plan->add[i].slot;
	if (!ret)
		ret = plan_prefixes(p, live, plan, slot_of, err, errlen);
	if (!ret && p->ntoken_files && !p->toks_loaded) {
		snprintf(err, errlen, "%s: token files not read (bg_policy_prepare)", p->path);
		ret = -EINVAL;
	}
	gone = calloc(plan->ndel + 1, sizeof(*gone));
	is_new = calloc(p->nids + 1, 1);
	if (!ret && (!gone || !is_new))
		ret = -ENOMEM;
	for (i = 0; !ret && i < plan->ndel; i++)
		gone[i] = plan->del[i]->id;
	if (!ret)
		qsort(gone, plan->ndel, sizeof(*gone), cmp_u32);
	for (i = 0; !ret && i < plan->nadd; i++)
		if (plan->add[i].want != &p->deflt)
			is_new[plan->add[i].want - p->ids] = 1;
	if (!ret)
		ret = plan_tokens(p, live, plan, slot_of, gone, plan->ndel, err, errlen);
	if (!ret)
		plan_host(p, live, plan, slot_of);
	if (!ret)
		ret = plan_records(p, live, plan, slot_of, is_new);
	if (ret == -ENOMEM)
		snprintf(err, errlen, "out of memory planning the apply");
	if (!ret && (plan->ctl_changed || plan->global_changed) && !plan->host_what[0])
		snprintf(plan->host_what, sizeof(plan->host_what), "controller settings changed");
out:
	free(byname);
	free(inwant);
	free(slot_of);
	free(gone);
	free(is_new);
	if (ret)
		bg_plan_free(plan);
	return ret;
}

void bg_plan_free(struct bg_plan *plan)
{
	free(plan->add);
	free(plan->set);
	free(plan->del);
	free(plan->pfx_add);
	free(plan->pfx_del);
	free(plan->pfx_move);
	free(plan->tok_add);
	free(plan->tok_del);
	free(plan->tok_move);
	free(plan->rec_put);
	free(plan->rec_del);
	free(plan->rec_old);
	free(plan->files);
	free(plan->saved);
	free(plan->saved_stats);
	memset(plan, 0, sizeof(*plan));
}

size_t bg_plan_changes(const struct bg_plan *plan)
{
	return plan->nadd + plan->nset + plan->ndel + plan->npfx_add + plan->npfx_del +
	       plan->npfx_move + plan->ntok_add + plan->ntok_del + plan->ntok_move + plan->nfiles +
	       (plan->global_changed || plan->ctl_changed);
}

void bg_plan_describe(const struct bg_plan *plan, size_t max,
		      void (*fn)(void *arg, const char *kind, const char *name, const char *line),
		      void *arg)
{
	size_t i, n = 0, total = bg_plan_changes(plan);
	char line[512], buf[64], when[40];

#define EMIT(kind, name, ...)                                      \
	do {                                                       \
		if (n++ < max) {                                   \
			snprintf(line, sizeof(line), __VA_ARGS__); \
			fn(arg, kind, name, line);                 \
		}                                                  \
	} while (0)

	for (i = 0; i < plan->nadd; i++)
		EMIT("identity_added", plan->add[i].want->name, "identity %s added: %s",
		     plan->add[i].want->name, plan->add[i].what);
	for (i = 0; i < plan->nset; i++)
		EMIT("identity_changed", plan->set[i].want->name, "identity %s: %s",
		     plan->set[i].want->name, plan->set[i].what);
	for (i = 0; i < plan->ndel; i++)
		EMIT("identity_removed", plan->del[i]->name,
		     "identity %s removed (its buckets and counters are gone)", plan->del[i]->name);
	for (i = 0; i < plan->npfx_add; i++)
		EMIT("prefix_added", plan->pfx_add[i].new_name, "prefix %s added -> %s",
		     bg_prefix_fmt(&plan->pfx_add[i].pfx, buf, sizeof(buf)),
		     plan->pfx_add[i].new_name);
	for (i = 0; i < plan->npfx_move; i++)
		EMIT("prefix_moved", plan->pfx_move[i].new_name, "prefix %s: %s -> %s",
		     bg_prefix_fmt(&plan->pfx_move[i].pfx, buf, sizeof(buf)),
		     plan->pfx_move[i].old_name, plan->pfx_move[i].new_name);
	for (i = 0; i < plan->npfx_del; i++)
		EMIT("prefix_removed", plan->pfx_del[i].old_name, "prefix %s removed (was %s)",
		     bg_prefix_fmt(&plan->pfx_del[i].pfx, buf, sizeof(buf)),
		     plan->pfx_del[i].old_name);
	/* Tokens by fingerprint only: a token never reaches a log or the audit. */
	for (i = 0; i < plan->ntok_add; i++)
		EMIT("token_added", plan->tok_add[i].new_name,
		     "token %s added -> %s%s%s (%s line %u)",
		     bg_fp_fmt(plan->tok_add[i].tok.fingerprint, buf, sizeof(buf)),
		     plan->tok_add[i].new_name,
		     plan->tok_add[i].tok.expires_unix ? ", expires " : "",
		     plan->tok_add[i].tok.expires_unix ?
			     bg_fmt_rfc3339((__s64)plan->tok_add[i].tok.expires_unix, when,
					    sizeof(when)) :
			     "",
		     plan->tok_add[i].file, plan->tok_add[i].line);
	for (i = 0; i < plan->ntok_move; i++) {
		const struct bg_plan_tok *t = &plan->tok_move[i];

		if (t->retire)
			EMIT("token_retiring", t->new_name,
			     "token %s of %s: not in its token_files any more: works until %s (token_grace)",
			     bg_fp_fmt(t->tok.fingerprint, buf, sizeof(buf)), t->new_name,
			     bg_fmt_rfc3339((__s64)t->tok.expires_unix, when, sizeof(when)));
		else if (t->old_id == t->new_id && !t->tok.expires_unix)
			EMIT("token_changed", t->new_name,
			     "token %s of %s: no longer expires (%s line %u lists it)",
			     bg_fp_fmt(t->tok.fingerprint, buf, sizeof(buf)), t->new_name, t->file,
			     t->line);
		else if (t->old_id == t->new_id)
			EMIT("token_changed", t->new_name,
			     "token %s of %s: expires %s (%s line %u)",
			     bg_fp_fmt(t->tok.fingerprint, buf, sizeof(buf)), t->new_name,
			     bg_fmt_rfc3339((__s64)t->tok.expires_unix, when, sizeof(when)),
			     t->file, t->line);
		else
			EMIT("token_moved", t->new_name, "token %s: %s -> %s (%s line %u)",
			     bg_fp_fmt(t->tok.fingerprint, buf, sizeof(buf)), t->old_name,
			     t->new_name, t->file, t->line);
	}
	for (i = 0; i < plan->ntok_del; i++)
		EMIT("token_removed", plan->tok_del[i].old_name, "token %s removed from %s (%s)",
		     bg_fp_fmt(plan->tok_del[i].tok.fingerprint, buf, sizeof(buf)),
		     plan->tok_del[i].old_name, plan->tok_del[i].why);
	for (i = 0; i < plan->nfiles; i++)
		EMIT("token_files_changed", plan->files[i].name, "identity %s: %s",
		     plan->files[i].name, plan->files[i].what);
	if (plan->global_changed || plan->ctl_changed)
		EMIT("host_changed", "", "host: %s", plan->host_what);
#undef EMIT
	if (total > max) {
		snprintf(line, sizeof(line), "... and %zu more changes", total - max);
		fn(arg, "more", "", line);
	}
}

/* ---- Writing: batch operations, one syscall per map where the kernel can ---- */

/*
 * Batch update, falling back to one element at a time where the map type
 * has no batch operation (LPM tries before Linux 6.x, for one).
 */
/*
 * Batch writes, with a fallback element by element. After a failed batch
 * the count libbpf reports is not to be trusted (it is left untouched when
 * the call fails before doing anything), so the fallback redoes every
 * element: updates with BPF_ANY and deletes of gone keys are idempotent.
 */
static int update_many(int fd, const void *keys, size_t ksz, const void *vals, size_t vsz, size_t n,
		       __u64 flags)
{
	LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = flags);
	__u32 count = (__u32)n;
	size_t i;

	if (!n)
		return 0;
	if (bpf_map_update_batch(fd, keys, vals, &count, &o) == 0 && count == n)
		return 0;
	for (i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, (const char *)keys + i * ksz,
					(const char *)vals + i * vsz, flags))
			return -errno;
	return 0;
}

static int delete_many(int fd, const void *keys, size_t ksz, size_t n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	__u32 count = (__u32)n;
	size_t i;

	if (!n)
		return 0;
	if (bpf_map_delete_batch(fd, keys, &count, &o) == 0 && count == n)
		return 0;
	for (i = 0; i < n; i++)
		if (bpf_map_delete_elem(fd, (const char *)keys + i * ksz) && errno != ENOENT)
			return -errno;
	return 0;
}

static void name_key(const char *name, struct bg_id_name *k)
{
	size_t n = strnlen(name, sizeof(k->name) - 1);

	memset(k, 0, sizeof(*k));
	memcpy(k->name, name, n);
}

static void fill_meta(struct bg_id_meta *m, __u32 slot, const struct bg_limits *l,
		      const struct bg_tune_bounds *t, __u64 created)
{
	memset(m, 0, sizeof(*m));
	m->id = slot;
	m->rate_pps = l->rate_pps;
	m->burst_pkts = l->burst_pkts;
	m->byte_rate_bits = l->byte_rate_bits;
	m->burst_bytes = l->burst_bytes;
	m->created_unix = created;
	m->burst_min_pkts = t->min_pkts;
	m->burst_max_pkts = t->max_pkts;
	m->burst_min_bytes = t->min_bytes;
	m->burst_max_bytes = t->max_bytes;
}

/* A per-CPU value of bg_id_stats: each CPU's copy 8-byte aligned. */
static size_t stats_stride(const struct bg_state *s)
{
	return ((sizeof(struct bg_id_stats) + 7) & ~(size_t)7) * (size_t)s->ncpus;
}

/* Identities in ids[0..n): config, then names (set) or state + config + names (add). */
static int write_ids(struct bg_state *s, const struct bg_plan_id *ids, size_t n, bool add)
{
	struct bg_id_name *keys = calloc(n + 1, sizeof(*keys));
	struct bg_id_meta *metas = calloc(n + 1, sizeof(*metas));
	struct bg_id_cfg *cfgs = calloc(n + 1, sizeof(*cfgs));
	__u32 *slots = calloc(n + 1, sizeof(*slots));
	void *zeros = NULL;
	__u64 now = (__u64)time(NULL);
	size_t i;
	int err = -ENOMEM;

	if (!keys || !metas || !cfgs || !slots)
		goto out;
	for (i = 0; i < n; i++) {
		slots[i] = ids[i].slot;
		cfgs[i] = ids[i].cfg;
		name_key(ids[i].want->name, &keys[i]);
		fill_meta(&metas[i], ids[i].slot, &ids[i].lim, &ids[i].want->tune,
			  ids[i].have ? ids[i].have->meta.created_unix : now);
	}
	if (add) {
		/* A reused slot must not inherit its last owner's buckets or counters. */
		zeros = calloc(n + 1, stats_stride(s));
		if (!zeros)
			goto out;
		for (i = 0; i < n; i++)
			bg_identity_reset_buckets(s, slots[i]);
		err = update_many(s->stats_fd, slots, sizeof(*slots), zeros, stats_stride(s), n,
				  BPF_ANY);
		if (err)
			goto out;
	}
	/* Changed identities keep their buckets' tokens (bg_identity_rescale()). */
	for (i = 0; i < n; i++)
		if (ids[i].have)
			bg_identity_rescale(s, slots[i], &ids[i].have->cfg, &cfgs[i],
					    BG_RESCALE_BEFORE);
	err = update_many(s->cfg_fd, slots, sizeof(*slots), cfgs, sizeof(*cfgs), n, BPF_ANY);
	for (i = 0; !err && i < n; i++)
		if (ids[i].have)
			bg_identity_rescale(s, slots[i], &ids[i].have->cfg, &cfgs[i],
					    BG_RESCALE_AFTER);
	if (!err)
		err = update_many(s->names_fd, keys, sizeof(*keys), metas, sizeof(*metas), n,
				  BPF_ANY);
out:
	free(keys);
	free(metas);
	free(cfgs);
	free(slots);
	free(zeros);
	return err;
}

/*
 * Identities back as they were (have): config and name. A slot whose
 * config was changed (read back: the step may have been written only in
 * part) keeps its buckets' tokens through the change back
 * (bg_identity_rescale()); a cleared one (removed) never had its buckets
 * touched.
 */
static int restore_ids(struct bg_state *s, const struct bg_identity *const *have, size_t n)
{
	struct bg_id_name *keys = calloc(n + 1, sizeof(*keys));
	struct bg_id_meta *metas = calloc(n + 1, sizeof(*metas));
	struct bg_id_cfg *cfgs = calloc(n + 1, sizeof(*cfgs));
	struct bg_id_cfg *cur = calloc(n + 1, sizeof(*cur));
	__u32 *slots = calloc(n + 1, sizeof(*slots));
	size_t i;
	int err = -ENOMEM;

	if (!keys || !metas || !cfgs || !cur || !slots)
		goto out;
	for (i = 0; i < n; i++) {
		slots[i] = have[i]->id;
		cfgs[i] = have[i]->cfg;
		metas[i] = have[i]->meta;
		name_key(have[i]->name, &keys[i]);
		if (bpf_map_lookup_elem(s->cfg_fd, &slots[i], &cur[i])) {
			err = -errno;
			goto out;
		}
		if (!(cur[i].flags & BG_ID_F_IN_USE))
			cur[i] = cfgs[i]; /* cleared: nothing to rescale */
		bg_identity_rescale(s, slots[i], &cur[i], &cfgs[i], BG_RESCALE_BEFORE);
	}
	err = update_many(s->cfg_fd, slots, sizeof(*slots), cfgs, sizeof(*cfgs), n, BPF_ANY);
	for (i = 0; !err && i < n; i++)
		bg_identity_rescale(s, slots[i], &cur[i], &cfgs[i], BG_RESCALE_AFTER);
	if (!err)
		err = update_many(s->names_fd, keys, sizeof(*keys), metas, sizeof(*metas), n,
				  BPF_ANY);
out:
	free(keys);
	free(metas);
	free(cfgs);
	free(cur);
	free(slots);
	return err;
}

/* Slots and names to clear: removals (del) or additions undone. */
static int clear_ids(struct bg_state *s, const __u32 *slots_in, const char *const *names, size_t n)
{
	struct bg_id_name *keys = calloc(n + 1, sizeof(*keys));
	struct bg_id_cfg *clear = calloc(n + 1, sizeof(*clear));
	int err = -ENOMEM;
	size_t i;

	if (!keys || !clear)
		goto out;
	for (i = 0; i < n; i++)
		name_key(names[i], &keys[i]);
	err = update_many(s->cfg_fd, slots_in, sizeof(*slots_in), clear, sizeof(*clear), n,
			  BPF_ANY);
	if (!err)
		err = delete_many(s->names_fd, keys, sizeof(*keys), n);
out:
	free(keys);
	free(clear);
	return err;
}

static int del_ids(struct bg_state *s, const struct bg_plan *plan)
{
	const char **names = calloc(plan->ndel + 1, sizeof(*names));
	__u32 *slots = calloc(plan->ndel + 1, sizeof(*slots));
	size_t i;
	int err = -ENOMEM;

	if (names && slots) {
		for (i = 0; i < plan->ndel; i++) {
			slots[i] = plan->del[i]->id;
			names[i] = plan->del[i]->name;
		}
		err = clear_ids(s, slots, names, plan->ndel);
	}
	free(names);
	free(slots);
	return err;
}

/*
 * Slot reuse: the new identities reset the buckets and counters of the
 * removed ones whose slots they take. Keep those first, to give them back
 * if the apply is undone.
 */
static int save_reused(struct bg_state *s, struct bg_plan *plan)
{
	size_t i, stride = stats_stride(s);

	if (!plan->reuse || plan->saved)
		return 0;
	plan->saved = calloc(plan->ndel + 1, sizeof(*plan->saved));
	plan->saved_stats = calloc(plan->ndel + 1, stride);
	if (!plan->saved || !plan->saved_stats)
		return -ENOMEM;
	for (i = 0; i < plan->ndel; i++) {
		__u32 slot = plan->del[i]->id;
		struct bg_id_state *t = &s->tats[slot];

		plan->saved[i].slot = slot;
		plan->saved[i].tat.pkt_tat = __atomic_load_n(&t->pkt_tat, __ATOMIC_SEQ_CST);
		plan->saved[i].tat.byte_tat = __atomic_load_n(&t->byte_tat, __ATOMIC_SEQ_CST);
		plan->saved[i].tat.limited_since_ns =
			__atomic_load_n(&t->limited_since_ns, __ATOMIC_SEQ_CST);
		plan->saved[i].tat.last_over_ns =
			__atomic_load_n(&t->last_over_ns, __ATOMIC_SEQ_CST);
		if (bpf_map_lookup_elem(s->stats_fd, &slot, (char *)plan->saved_stats + i * stride))
			return -errno;
	}
	plan->nsaved = plan->ndel;
	return 0;
}

static int restore_reused(struct bg_state *s, const struct bg_plan *plan)
{
	__u32 *slots = calloc(plan->nsaved + 1, sizeof(*slots));
	size_t i;
	int err;

	if (!slots)
		return -ENOMEM;
	for (i = 0; i < plan->nsaved; i++) {
		const struct bg_plan_saved *v = &plan->saved[i];
		struct bg_id_state *t = &s->tats[v->slot];

		slots[i] = v->slot;
		__atomic_store_n(&t->pkt_tat, v->tat.pkt_tat, __ATOMIC_SEQ_CST);
		__atomic_store_n(&t->byte_tat, v->tat.byte_tat, __ATOMIC_SEQ_CST);
		__atomic_store_n(&t->limited_since_ns, v->tat.limited_since_ns, __ATOMIC_SEQ_CST);
		__atomic_store_n(&t->last_over_ns, v->tat.last_over_ns, __ATOMIC_SEQ_CST);
	}
	err = update_many(s->stats_fd, slots, sizeof(*slots), plan->saved_stats, stats_stride(s),
			  plan->nsaved, BPF_ANY);
	free(slots);
	return err;
}

/* New identities out; the slots they reused get their buckets and counters back. */
static int undo_add_ids(struct bg_state *s, const struct bg_plan *plan)
{
	const char **names = calloc(plan->nadd + 1, sizeof(*names));
	__u32 *slots = calloc(plan->nadd + 1, sizeof(*slots));
	size_t i;
	int err = -ENOMEM;

	if (names && slots) {
		for (i = 0; i < plan->nadd; i++) {
			slots[i] = plan->add[i].slot;
			names[i] = plan->add[i].want->name;
		}
		err = clear_ids(s, slots, names, plan->nadd);
	}
	if (!err)
		err = restore_reused(s, plan);
	free(names);
	free(slots);
	return err;
}

static int undo_set_ids(struct bg_state *s, const struct bg_plan *plan)
{
	const struct bg_identity **have = calloc(plan->nset + 1, sizeof(*have));
	size_t i;
	int err = -ENOMEM;

	if (have) {
		for (i = 0; i < plan->nset; i++)
			have[i] = plan->set[i].have;
		err = restore_ids(s, have, plan->nset);
	}
	free(have);
	return err;
}

static int undo_del_ids(struct bg_state *s, const struct bg_plan *plan)
{
	return restore_ids(s, plan->del, plan->ndel);
}

/*
 * Prefixes go to four maps (bg_prefix_map(): host prefixes in hash maps,
 * the others in the tries); each map gets one batch per kind of write.
 */
struct pfx_batch {
	int fd;
	size_t ksz, n;
	union bg_prefix_key *keys; /* packed at the map's own key size */
	__u32 *vals;
};

/* Sort v[0..n) into the maps' batches; values: new_id, or old_id with old. */
static int pfx_batches(const struct bg_state *s, const struct bg_plan_pfx *v, size_t n, bool old,
		       struct pfx_batch b[PFX_MAPS])
{
	const int fds[PFX_MAPS] = { s->pfx4_fd, s->host4_fd, s->pfx6_fd, s->host6_fd };
	size_t i, m;

	memset(b, 0, PFX_MAPS * sizeof(*b));
	for (m = 0; m < PFX_MAPS; m++) {
		b[m].fd = fds[m];
		b[m].keys = calloc(n + 1, sizeof(*b[m].keys));
		b[m].vals = calloc(n + 1, sizeof(*b[m].vals));
		if (!b[m].keys || !b[m].vals)
			return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		union bg_prefix_key k;
		size_t sz;
		int fd = bg_prefix_map(s, &v[i].pfx, &k, &sz);

		m = pfx_map_idx(&v[i].pfx);
		if (fd != b[m].fd)
			return -EINVAL;
		memcpy((char *)b[m].keys + b[m].n * sz, &k, sz);
		b[m].ksz = sz;
		b[m].vals[b[m].n++] = old ? v[i].old_id : v[i].new_id;
	}
	return 0;
}

static void pfx_batches_free(struct pfx_batch b[PFX_MAPS])
{
	size_t m;

	for (m = 0; m < PFX_MAPS; m++) {
		free(b[m].keys);
		free(b[m].vals);
	}
}

/*
 * Updates (BPF_ANY: in place for a key already there, no gap). A trie full
 * to its last entry refuses even an in-place update before Linux 6.14
 * (-ENOSPC): such a move is written as a removal and an addition.
 */
static int pfx_put(const struct bg_state *s, const struct pfx_batch *b)
{
	size_t i;
	int err;

	if (!b->n)
		return 0;
	/* the XDP program must look in the map before it holds them */
	err = bg_prefix_flags_raise(s, bg_prefix_map_bit(s, b->fd));
	if (err || !update_many(b->fd, b->keys, b->ksz, b->vals, sizeof(__u32), b->n, BPF_ANY))
		return err;
	for (i = 0; i < b->n; i++) {
		const void *k = (const char *)b->keys + i * b->ksz;
		__u32 old;

		if (!bpf_map_update_elem(b->fd, k, &b->vals[i], BPF_ANY))
			continue;
		/* a full hash map says E2BIG: the same thing */
		err = errno == E2BIG ? -ENOSPC : -errno;
		if (err != -ENOSPC || bpf_map_lookup_elem(b->fd, k, &old))
			return err; /* a new key, no room: the plan's count was wrong */
		if (bpf_map_delete_elem(b->fd, k) ||
		    bpf_map_update_elem(b->fd, k, &b->vals[i], BPF_ANY))
			return -errno;
	}
	return 0;
}

static int pfx_del(const struct pfx_batch *b)
{
	return delete_many(b->fd, b->keys, b->ksz, b->n);
}

/*
 * The prefix step: per map, removals first where the plan says the map
 * could not hold both (pfx_del_first), else additions first. dels, puts:
 * which of the two to write (the slot-reuse order writes them apart).
 */
static int write_prefixes(struct bg_state *s, const struct bg_plan *plan, bool dels, bool puts)
{
	struct pfx_batch add[PFX_MAPS] = {}, mv[PFX_MAPS] = {}, del[PFX_MAPS] = {};
	int err;
	size_t m;

	err = pfx_batches(s, plan->pfx_add, plan->npfx_add, false, add);
	if (!err)
		err = pfx_batches(s, plan->pfx_move, plan->npfx_move, false, mv);
	if (!err)
		err = pfx_batches(s, plan->pfx_del, plan->npfx_del, true, del);
	for (m = 0; m < PFX_MAPS && !err; m++) {
		bool first = plan->pfx_del_first & (1U << m);

		if (dels && first)
			err = pfx_del(&del[m]);
		if (!err && puts)
			err = pfx_put(s, &mv[m]);
		if (!err && puts)
			err = pfx_put(s, &add[m]);
		if (!err && dels && !first)
			err = pfx_del(&del[m]);
	}
	if (!err && dels)
		err = bg_prefix_flags_sync(s);
	pfx_batches_free(add);
	pfx_batches_free(mv);
	pfx_batches_free(del);
	return err;
}

/* Every prefix as it was: additions out, removals back, moves back. */
static int undo_prefixes(struct bg_state *s, const struct bg_plan *plan)
{
	struct pfx_batch add[PFX_MAPS] = {}, mv[PFX_MAPS] = {}, del[PFX_MAPS] = {};
	int err;
	size_t m;

	err = pfx_batches(s, plan->pfx_add, plan->npfx_add, false, add);
	if (!err)
		err = pfx_batches(s, plan->pfx_move, plan->npfx_move, true, mv);
	if (!err)
		err = pfx_batches(s, plan->pfx_del, plan->npfx_del, true, del);
	for (m = 0; m < PFX_MAPS && !err; m++) {
		err = pfx_del(&add[m]);
		if (!err)
			err = pfx_put(s, &del[m]);
		if (!err)
			err = pfx_put(s, &mv[m]);
	}
	if (!err)
		err = bg_prefix_flags_sync(s);
	pfx_batches_free(add);
	pfx_batches_free(mv);
	pfx_batches_free(del);
	return err;
}

/* Tokens from v[0..n) (a, then b), with the value tok, or old if old. */
static int put_tokens(struct bg_state *s, const struct bg_plan_tok *a, size_t na,
		      const struct bg_plan_tok *b, size_t nb, bool old)
{
	size_t n = na + nb, i;
	__u64 *keys = calloc(n + 1, sizeof(*keys)), now = (__u64)time(NULL);
	struct bg_token *vals = calloc(n + 1, sizeof(*vals));
	int err = -ENOMEM;

	if (!keys || !vals)
		goto out;
	for (i = 0; i < n; i++) {
		const struct bg_plan_tok *t = i < na ? &a[i] : &b[i - na];

		keys[i] = t->hash;
		vals[i] = old && i >= na ? t->old : t->tok;
		if (!vals[i].created_unix)
			vals[i].created_unix = now;
	}
	err = update_many(s->tokens_fd, keys, sizeof(*keys), vals, sizeof(*vals), n, BPF_ANY);
	if (err == -E2BIG)
		err = -ENOSPC;
out:
	free(keys);
	free(vals);
	return err;
}

static int del_tokens(struct bg_state *s, const struct bg_plan_tok *v, size_t n)
{
	__u64 *keys = calloc(n + 1, sizeof(*keys));
	size_t i;
	int err;

	if (!keys)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		keys[i] = v[i].hash;
	err = delete_many(s->tokens_fd, keys, sizeof(*keys), n);
	free(keys);
	return err;
}

/* Additions and moves: one batch (a move rewrites the value in place). */
static int write_tokens(struct bg_state *s, const struct bg_plan *plan)
{
	return put_tokens(s, plan->tok_add, plan->ntok_add, plan->tok_move, plan->ntok_move, false);
}

static int undo_tok_puts(struct bg_state *s, const struct bg_plan *plan)
{
	int err = del_tokens(s, plan->tok_add, plan->ntok_add);

	return err ? err : put_tokens(s, NULL, 0, plan->tok_move, plan->ntok_move, true);
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

static int cmp_move(const void *a, const void *b)
{
	return cmp_u64(&((const struct bg_plan_tok *)a)->hash,
		       &((const struct bg_plan_tok *)b)->hash);
}

/*
 * One pass over the flow table: with del, remove the connections of removed
 * tokens and removed identities (a reused slot must not inherit them); with
 * move, point those of moved tokens at their new identity.
 */
static int fix_flows(struct bg_state *s, struct bg_plan *plan, bool del, bool move)
{
	struct bg_flow_entry *v = NULL;
	struct bg_plan_tok *moves = NULL;
	__u64 *dels = NULL;
	__u32 *gone = NULL;
	size_t n = 0, i;
	int err = -ENOMEM;

	del = del && (plan->ntok_del || plan->ndel);
	move = move && plan->ntok_move;
	if (!del && !move)
		return 0;
	dels = calloc(plan->ntok_del + 1, sizeof(*dels));
	gone = calloc(plan->ndel + 1, sizeof(*gone));
	moves = calloc(plan->ntok_move + 1, sizeof(*moves));
	if (!dels || !gone || !moves)
		goto out;
	for (i = 0; i < plan->ntok_del; i++)
		dels[i] = plan->tok_del[i].hash;
	for (i = 0; i < plan->ndel; i++)
		gone[i] = plan->del[i]->id;
	memcpy(moves, plan->tok_move, plan->ntok_move * sizeof(*moves));
	qsort(dels, plan->ntok_del, sizeof(*dels), cmp_u64);
	qsort(gone, plan->ndel, sizeof(*gone), cmp_u32);
	qsort(moves, plan->ntok_move, sizeof(*moves), cmp_move);
	err = bg_flow_list(s, &v, &n);
	for (i = 0; !err && i < n; i++) {
		struct bg_flow *f = &v[i].flow;
		struct bg_plan_tok key = { .hash = f->tok_hash };
		const struct bg_plan_tok *m;

		if (del && ((plan->ntok_del &&
			     bsearch(&f->tok_hash, dels, plan->ntok_del, sizeof(*dels), cmp_u64)) ||
			    in_sorted(gone, plan->ndel, f->id))) {
			if (!bpf_map_delete_elem(s->flows_fd, &v[i].key))
				plan->flows_removed++;
			continue;
		}
		m = move ? bsearch(&key, moves, plan->ntok_move, sizeof(*moves), cmp_move) : NULL;
		if (!m || f->id != m->old_id ||
		    (m->old_id == m->new_id && f->deadline_ns == m->tok.deadline_ns))
			continue;
		/*
		 * The connection follows its token: to its new identity, and to
		 * its new deadline (a token rotated out takes its connections
		 * with it when its grace ends). An update replaces the element:
		 * a packet racing it refreshes the old copy.
		 */
		f->id = m->new_id;
		f->deadline_ns = m->tok.deadline_ns;
		if (!bpf_map_update_elem(s->flows_fd, &v[i].key, f, BPF_EXIST) &&
		    m->old_id != m->new_id)
			plan->flows_moved++;
	}
out:
	free(v);
	free(dels);
	free(gone);
	free(moves);
	return err;
}

/* Records: keys out, then entries in. */
static int put_records(struct bg_state *s, const struct bg_rec_key *del, size_t ndel,
		       const struct bg_rec_entry *put, size_t nput)
{
	struct bg_rec_key *keys;
	struct bg_rec_val *vals;
	size_t i;
	int err;

	if (!ndel && !nput)
		return 0;
	if (s->rec_fd < 0)
		return -ENOENT; /* bg_policy_state_setup makes it */
	err = delete_many(s->rec_fd, del, sizeof(*del), ndel);
	if (err || !nput)
		return err;
	keys = calloc(nput, sizeof(*keys));
	vals = calloc(nput, sizeof(*vals));
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nput; i++) {
		keys[i] = put[i].k;
		vals[i] = put[i].v;
	}
	err = update_many(s->rec_fd, keys, sizeof(*keys), vals, sizeof(*vals), nput, BPF_ANY);
out:
	free(keys);
	free(vals);
	return err;
}

/* The policy record: stale entries out, new and changed ones in. */
static int write_records(struct bg_state *s, const struct bg_plan *plan)
{
	return put_records(s, plan->rec_del, plan->nrec_del, plan->rec_put, plan->nrec_put);
}

static int undo_records(struct bg_state *s, const struct bg_plan *plan)
{
	struct bg_rec_key *keys = calloc(plan->nrec_put + 1, sizeof(*keys));
	size_t i;
	int err;

	if (!keys)
		return -ENOMEM;
	for (i = 0; i < plan->nrec_put; i++)
		keys[i] = plan->rec_put[i].k;
	err = put_records(s, keys, plan->nrec_put, plan->rec_old, plan->nrec_old);
	free(keys);
	return err;
}

/* ---- The steps of an apply, each with its undo ---- */

enum step {
	ST_SET, /* changed identities, in place */
	ST_ADD, /* new identities */
	ST_TOK_CFG, /* the HTTP token header config */
	ST_TOK_DEL, /* tokens removed */
	ST_TOK_PUT, /* tokens added and moved */
	ST_PFX, /* prefixes, per map in the order the plan chose */
	ST_PFX_DEL, /* slot reuse: prefix removals alone ... */
	ST_PFX_PUT, /* ... and additions and moves later */
	ST_DEL, /* removed identities */
	ST_FLOWS_DEL, /* connections of removed tokens and identities (not undone) */
	ST_FLOWS, /* those, and connections of moved tokens moved along */
	ST_FLOWS_MOVE, /* slot reuse: the moves alone, at the end */
	ST_REC, /* the policy record */
	ST_GLOBAL, /* host settings */
	ST_CTL, /* controller settings, the policy's generation: last */
	ST_MAX,
};

static const char *const step_name[ST_MAX] = {
	[ST_SET] = "identities changed",
	[ST_ADD] = "identities added",
	[ST_TOK_CFG] = "token header",
	[ST_TOK_DEL] = "tokens removed",
	[ST_TOK_PUT] = "tokens added and moved",
	[ST_PFX] = "prefixes",
	[ST_PFX_DEL] = "prefixes removed",
	[ST_PFX_PUT] = "prefixes added and moved",
	[ST_DEL] = "identities removed",
	[ST_FLOWS_DEL] = "connections unbound",
	[ST_FLOWS] = "connections unbound and moved",
	[ST_FLOWS_MOVE] = "connections moved",
	[ST_REC] = "policy record",
	[ST_GLOBAL] = "host settings",
	[ST_CTL] = "controller settings",
};

int bg_plan_fail_step;
bool bg_plan_fail_after;
int bg_plan_fail_undo;

static int write_ctl(struct bg_state *s, const struct bg_ctl *ctl)
{
	__u32 zero = 0;

	return bpf_map_update_elem(s->ctl_fd, &zero, ctl, BPF_ANY) ? -errno : 0;
}

static int do_step(struct bg_state *s, struct bg_plan *plan, enum step st)
{
	switch (st) {
	case ST_SET:
		return write_ids(s, plan->set, plan->nset, false);
	case ST_ADD:
		return write_ids(s, plan->add, plan->nadd, true);
	case ST_TOK_CFG:
		return plan->tok_cfg_changed ? bg_tok_cfg_put(s, &plan->tok_cfg) : 0;
	case ST_TOK_DEL:
		return del_tokens(s, plan->tok_del, plan->ntok_del);
	case ST_TOK_PUT:
		return write_tokens(s, plan);
	case ST_PFX:
		return write_prefixes(s, plan, true, true);
	case ST_PFX_DEL:
		return write_prefixes(s, plan, true, false);
	case ST_PFX_PUT:
		return write_prefixes(s, plan, false, true);
	case ST_DEL:
		return del_ids(s, plan);
	case ST_FLOWS_DEL:
		return fix_flows(s, plan, true, false);
	case ST_FLOWS:
		return fix_flows(s, plan, true, true);
	case ST_FLOWS_MOVE:
		return fix_flows(s, plan, false, true);
	case ST_REC:
		return write_records(s, plan);
	case ST_GLOBAL:
		return bg_global_put(s, &plan->g);
	case ST_CTL:
		return write_ctl(s, &plan->ctl);
	default:
		return -EINVAL;
	}
}

/* Make the step's elements as they were, whether it was written whole or in part. */
static int undo_step(struct bg_state *s, struct bg_plan *plan, enum step st)
{
	switch (st) {
	case ST_SET:
		return undo_set_ids(s, plan);
	case ST_ADD:
		return undo_add_ids(s, plan);
	case ST_TOK_CFG:
		return plan->tok_cfg_changed ? bg_tok_cfg_put(s, &plan->tok_cfg_old) : 0;
	case ST_TOK_DEL:
		return put_tokens(s, plan->tok_del, plan->ntok_del, NULL, 0, false);
	case ST_TOK_PUT:
		return undo_tok_puts(s, plan);
	case ST_PFX:
	case ST_PFX_DEL:
	case ST_PFX_PUT:
		return undo_prefixes(s, plan);
	case ST_DEL:
		return undo_del_ids(s, plan);
	case ST_REC:
		return undo_records(s, plan);
	case ST_GLOBAL:
		return bg_global_put(s, &plan->g_old);
	case ST_CTL:
		return write_ctl(s, &plan->ctl_old);
	default:
		return 0; /* connections: a removed binding is not brought back */
	}
}

int bg_plan_exec(struct bg_state *s, struct bg_plan *plan)
{
	/*
	 * Without slot reuse: new identities in fresh slots first; then the
	 * header config; tokens removed, then added and moved (a move is one
	 * in-place update: no gap); prefixes (bg_plan.pfx_del_first); removed
	 * identities; the record; host settings. The connections of removed
	 * tokens and identities come after every step that can fail for room:
	 * an unbound connection is not bound again by an undo.
	 */
	static const enum step normal[] = { ST_SET,	ST_ADD,	  ST_TOK_CFG, ST_TOK_DEL,
					    ST_TOK_PUT, ST_PFX,	  ST_DEL,     ST_REC,
					    ST_GLOBAL,	ST_FLOWS, ST_CTL };
	/*
	 * Table full: the removed identities make room first (their traffic
	 * falls to default meanwhile; their connections are unbound before
	 * their slot changes hands), then the new ones take their slots.
	 */
	static const enum step reuse[] = { ST_SET,	 ST_TOK_DEL, ST_PFX_DEL, ST_DEL,
					   ST_FLOWS_DEL, ST_ADD,     ST_TOK_CFG, ST_TOK_PUT,
					   ST_PFX_PUT,	 ST_REC,     ST_GLOBAL,	 ST_FLOWS_MOVE,
					   ST_CTL };
	const enum step *order = plan->reuse ? reuse : normal;
	size_t n =
		plan->reuse ? sizeof(reuse) / sizeof(reuse[0]) : sizeof(normal) / sizeof(normal[0]);
	size_t i, j, off = 0;
	int err = 0, uerr = 0;

	plan->flows_removed = plan->flows_moved = 0;
	plan->steps_done[0] = '\0';
	plan->failed_step = NULL;
	if (plan->nadd)
		plan->g.next_id_hint = plan->add[plan->nadd - 1].slot + 1 < s->max_ids ?
					       plan->add[plan->nadd - 1].slot + 1 :
					       1;
	/* The last write says the apply happened: generation and time. */
	plan->ctl.generation = plan->ctl_old.generation + 1;
	plan->ctl.applied_unix = (__u64)time(NULL);
	for (i = 0; i < n && !err; i++) {
		bool hook = bg_plan_fail_step && (size_t)bg_plan_fail_step == i + 1;

		if (hook && !bg_plan_fail_after) {
			err = -EIO;
			break;
		}
		if (order[i] == ST_ADD)
			err = save_reused(s, plan);
		if (!err)
			err = do_step(s, plan, order[i]);
		if (!err && hook)
			err = -EIO;
		if (err)
			break;
	}
	if (!err) {
		plan->result = BG_EXEC_DONE;
		return 0;
	}
	plan->failed_step = step_name[order[i]];
	/*
	 * Step i failed, maybe halfway: undo it and every one before, last
	 * first. An undo that fails leaves its step (or part of it) written:
	 * the others are still undone, and steps_done names what stays.
	 */
	for (j = i + 1; j-- > 0;) {
		int r = bg_plan_fail_undo && (size_t)bg_plan_fail_undo == j + 1 ?
				-EIO :
				undo_step(s, plan, order[j]);

		if (!r)
			continue;
		uerr = r;
		if (off < sizeof(plan->steps_done))
			off += (size_t)snprintf(plan->steps_done + off,
						sizeof(plan->steps_done) - off, "%s%s",
						off ? ", " : "", step_name[order[j]]);
	}
	plan->result = uerr ? BG_EXEC_PARTIAL : BG_EXEC_ROLLED_BACK;
	return err;
}

/* ---- Dump ---- */

static int cmp_pfx_entry_id(const void *a, const void *b)
{
	const struct bg_prefix_entry *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return cmp_prefix(&x->pfx, &y->pfx);
}

static void live_identity(const struct bg_identity *h, struct bg_pol_identity *id)
{
	const struct bg_id_meta *m = &h->meta;

	snprintf(id->name, sizeof(id->name), "%s", h->name);
	id->lim.action = h->cfg.action;
	id->lim.rate_pps = m->rate_pps;
	id->lim.burst_pkts = m->burst_pkts;
	id->lim.byte_rate_bits = m->byte_rate_bits;
	id->lim.burst_bytes = m->burst_bytes;
	id->cfg = h->cfg;
	id->tune.min_pkts = m->burst_min_pkts;
	id->tune.max_pkts = m->burst_max_pkts;
	id->tune.min_bytes = m->burst_min_bytes;
	id->tune.max_bytes = m->burst_max_bytes;
}

/* The token files recorded for slot at the last apply. */
static int live_token_files(const struct bg_live *live, __u32 slot, struct bg_pol_identity *id)
{
	size_t first, end = rec_range(live, slot, &first), i;

	if (first == end)
		return 0;
	id->has_token_files = true;
	id->token_files = calloc(end - first, sizeof(*id->token_files));
	if (!id->token_files)
		return -ENOMEM;
	for (i = first; i < end && live->rec[i].v.count; i++) {
		id->token_files[id->ntoken_files].path = strdup(live->rec[i].v.str);
		if (!id->token_files[id->ntoken_files].path)
			return -ENOMEM;
		id->ntoken_files++;
	}
	return 0;
}

int bg_live_to_policy(const struct bg_state *s, const struct bg_live *live, struct bg_policy *p)
{
	struct bg_prefix_entry *pfx = NULL;
	struct bg_link *links = NULL;
	size_t i, j = 0;
	int nlinks = 0, k;

	bg_policy_init(p);
	p->shadow = live->g.shadow_all;
	p->malformed = live->g.malformed;
	p->max_ids = live->max_ids;
	p->max_pfx = live->max_pfx;
	if (live->ctl.flags & BG_CTL_F_POLICY) {
		p->ctl.capacity_pps = live->ctl.capacity_pps;
		p->ctl.capacity_bits = live->ctl.capacity_bits;
		p->ctl.tune_interval_ms = live->ctl.tune_interval_ms;
		p->ctl.grow_below_pct = live->ctl.grow_below_pct;
		p->ctl.shrink_above_pct = live->ctl.shrink_above_pct;
		snprintf(p->audit_log, sizeof(p->audit_log), "%s", live->ctl.audit_log);
		p->no_upgrade = !!(live->ctl.flags & BG_CTL_F_NO_UPGRADE);
	}
	/*
	 * The header in force; spelt as the policy wrote it if that is still the
	 * one (bg_tok_cfg keeps it in lower case), else as `token config` set it.
	 */
	bg_tok_cfg_header(&live->tok_cfg, p->http_token_header, sizeof(p->http_token_header));
	if ((live->ctl.flags & BG_CTL_F_POLICY) &&
	    !strcasecmp(live->ctl.http_token_header, p->http_token_header))
		snprintf(p->http_token_header, sizeof(p->http_token_header), "%s",
			 live->ctl.http_token_header);
	bg_tok_cfg_scheme(&live->tok_cfg, p->http_token_scheme, sizeof(p->http_token_scheme));
	p->header_given = p->scheme_given = true;
	if ((live->tok_cfg.flags & BG_TOK_F_EXPIRED_ID) &&
	    !expired_name(live, &live->tok_cfg, p->on_token_expired, sizeof(p->on_token_expired)))
		p->on_token_expired[0] = '\0'; /* its identity is gone: the XDP falls back anyway */
	snprintf(p->bind_socket, sizeof(p->bind_socket), "%.107s",
		 rec_str(live, BG_REC_CTL, BG_REC_BIND_SOCKET));
	snprintf(p->bind_group, sizeof(p->bind_group), "%.63s",
		 rec_str(live, BG_REC_CTL, BG_REC_BIND_GROUP));
	p->token_grace_ns =
		strtoull(rec_str(live, BG_REC_CTL, BG_REC_TOKEN_GRACE), NULL, 10) * BG_NS_PER_SEC;
	if (live->ctl.flags & BG_CTL_F_IFACES) {
		p->has_ifaces = true;
		bg_links_list(s->pin_path, &links, &nlinks);
		p->ifaces = calloc((size_t)nlinks + 1, sizeof(*p->ifaces));
		if (!p->ifaces)
			goto nomem;
		for (k = 0; k < nlinks; k++) {
			if (!links[k].this_netns || !links[k].ifindex || !links[k].ifname[0])
				continue;
			snprintf(p->ifaces[p->nifaces].name, IF_NAMESIZE, "%s", links[k].ifname);
			p->ifaces[p->nifaces].prio =
				links[k].mode == BG_MODE_MULTI ? links[k].prio : 0;
			p->ifaces[p->nifaces++].mode =
				links[k].mode == BG_MODE_UNKNOWN ? BG_MODE_AUTO : links[k].mode;
		}
	}
	p->ids = calloc(live->nids + 1, sizeof(*p->ids));
	pfx = calloc(live->npfx + 1, sizeof(*pfx));
	if (!p->ids || !pfx)
		goto nomem;
	memcpy(pfx, live->pfx, live->npfx * sizeof(*pfx));
	qsort(pfx, live->npfx, sizeof(*pfx), cmp_pfx_entry_id);
	for (i = 0; i < live->nids; i++) {
		const struct bg_identity *h = &live->ids[i];
		struct bg_pol_identity *id;
		size_t first;

		if (h->id == BG_ID_DEFAULT) {
			live_identity(h, &p->deflt);
			continue;
		}
		id = &p->ids[p->nids++];
		live_identity(h, id);
		if (bg_tune_active(&id->tune))
			p->ntuned++;
		if (live_token_files(live, h->id, id))
			goto nomem;
		if (*rec_str(live, BG_REC_IDSET | h->id, BG_REC_TOKEN_GRACE)) {
			id->grace_given = true;
			id->token_grace_ns =
				strtoull(rec_str(live, BG_REC_IDSET | h->id, BG_REC_TOKEN_GRACE),
					 NULL, 10) *
				BG_NS_PER_SEC;
		}
		p->ntoken_files += id->ntoken_files;
		while (j < live->npfx && pfx[j].id < h->id)
			j++; /* prefixes of no live identity: stale, not part of a policy */
		first = j;
		while (j < live->npfx && pfx[j].id == h->id)
			j++;
		if (j == first)
			continue;
		id->pfx = calloc(j - first, sizeof(*id->pfx));
		if (!id->pfx)
			goto nomem;
		for (; first < j; first++) {
			id->pfx[id->npfx++].pfx = pfx[first].pfx;
			if (pfx[first].pfx.family == AF_INET)
				p->npfx4++;
			else
				p->npfx6++;
		}
	}
	free(pfx);
	free(links);
	return bg_fleet_to_policy(s, p); /* global identities, the fleet section */
nomem:
	free(pfx);
	free(links);
	bg_policy_free(p);
	return -ENOMEM;
}

/* ---- The whole apply ---- */

int bg_policy_prepare(const struct bg_state *s, struct bg_policy *p, char *err, size_t errlen)
{
	struct bg_secret sec;
	int ret;

	ret = bg_secret_get(s, &sec);
	if (ret) {
		snprintf(err, errlen, "read the token secret of %s: %s", s->pin_path,
			 strerror(-ret));
		return ret;
	}
	ret = bg_policy_read_tokens(p, &sec, err, errlen);
	explicit_bzero(&sec, sizeof(sec));
	return ret;
}

int bg_policy_apply(struct bg_state *s, struct bg_policy *p, struct bg_plan *plan_out,
		    struct bg_live *live_out, char *err, size_t errlen)
{
	struct bg_plan plan;
	struct bg_live live;
	int ret;

	if (plan_out && live_out) {
		memset(plan_out, 0, sizeof(*plan_out));
		memset(live_out, 0, sizeof(*live_out));
	}
	/* The writer lock: no other burstctl changes the state under us. */
	if (flock(s->dir_fd, LOCK_EX)) {
		ret = -errno;
		snprintf(err, errlen, "lock %s: %s", s->pin_path, strerror(-ret));
		return ret;
	}
	/* global identities: this host's share, not the fleet's limit (docs/fleet.md) */
	ret = bg_fleet_localize(s, p, true);
	if (ret) {
		snprintf(err, errlen, "fleet records in %s: %s", s->pin_path, strerror(-ret));
		goto unlock;
	}
	ret = bg_live_read(s, &live);
	if (ret) {
		snprintf(err, errlen, "read the state at %s: %s", s->pin_path, strerror(-ret));
		goto unlock;
	}
	ret = bg_plan_build(p, &live, &plan, err, errlen);
	if (ret) {
		bg_live_free(&live);
		goto unlock;
	}
	ret = bg_plan_exec(s, &plan);
	if (ret) {
		char flows[96] = "";

		if (plan.flows_removed)
			snprintf(flows, sizeof(flows),
				 " (the %zu connections unbound stay unbound)", plan.flows_removed);
		if (plan.result == BG_EXEC_ROLLED_BACK)
			snprintf(
				err, errlen,
				"writing the state failed at step \"%s\": %s; everything written was undone, the state is as it was%s: apply again once memory is free or whatever filled the maps is gone",
				plan.failed_step, strerror(-ret), flows);
		else
			snprintf(
				err, errlen,
				"writing the state failed at step \"%s\": %s, and undoing it failed too; still written (in part or whole): %s%s: apply the policy again to complete it, or the previous one to go back",
				plan.failed_step, strerror(-ret), plan.steps_done, flows);
	}
	if (plan_out && live_out) {
		*plan_out = plan;
		*live_out = live;
	} else {
		bg_plan_free(&plan);
		bg_live_free(&live);
	}
unlock:
	flock(s->dir_fd, LOCK_UN);
	return ret;
}

int bg_policy_attach(const char *pin_path, const struct bg_policy *p,
		     void (*fn)(void *arg, const char *line),
		     bool (*skip)(void *arg, const char *ifname), void *arg)
{
	struct bg_attach_result res;
	struct bg_link *links = NULL;
	char line[256];
	int nlinks = 0, k, ret = 0, r;
	size_t i;

	if (!p->has_ifaces)
		return 0;
	bg_links_list(pin_path, &links, &nlinks);
	for (i = 0; i < p->nifaces; i++) {
		if (bg_link_live(links, nlinks, p->ifaces[i].name))
			continue; /* already attached: leave the program as it is */
		if (skip && skip(arg, p->ifaces[i].name)) {
			ret = ret ? ret : -ECANCELED; /* still not attached */
			continue;
		}
		r = bg_attach_prio(pin_path, p->ifaces[i].name, p->ifaces[i].mode,
				   p->ifaces[i].prio, &res);
		if (r) {
			/* the lock taken (bg_lock_nowait) says most: try it all again */
			ret = r == -EWOULDBLOCK || !ret ? r : ret;
			continue;
		}
		snprintf(line, sizeof(line), "attached to %s in %s mode (program %u)",
			 p->ifaces[i].name, bg_mode_name(res.mode), res.prog_id);
		fn(arg, line);
	}
	for (k = 0; k < nlinks; k++) {
		bool want = false;

		if (links[k].link_id && !links[k].ifindex) {
			/*
			 * Defunct: its interface was deleted, and a link never
			 * comes back to life (an interface made again under the
			 * same name got a new link above). Its pin only keeps
			 * an old program alive.
			 */
			if (unlink(links[k].pin) && errno != ENOENT) {
				r = -errno;
				bg_err("remove the link of a deleted interface (%s): %s",
				       links[k].pin, strerror(-r));
				ret = ret ? ret : r;
				continue;
			}
			snprintf(line, sizeof(line), "removed link %u: its interface was deleted",
				 links[k].link_id);
			fn(arg, line);
			continue;
		}
		if (!links[k].this_netns || !links[k].ifindex || !links[k].ifname[0])
			continue;
		for (i = 0; i < p->nifaces; i++)
			if (!strcmp(links[k].ifname, p->ifaces[i].name))
				want = true;
		if (want)
			continue;
		r = bg_detach(pin_path, links[k].ifname);
		if (r == -ENOENT) /* detached meanwhile: done */
			continue;
		if (r) {
			ret = r == -EWOULDBLOCK || !ret ? r : ret;
			continue;
		}
		snprintf(line, sizeof(line), "detached from %s (not in the policy)",
			 links[k].ifname);
		fn(arg, line);
	}
	free(links);
	return ret;
}

int bg_policy_state_setup(const char *pin_path, const struct bg_policy *p, bool *created)
{
	char path[256];
	struct bg_state s;
	int ret;

	if (created)
		*created = false;
	snprintf(path, sizeof(path), "%s/" BG_MAP_ID_CFG, pin_path);
	if (access(path, F_OK))
		return bg_state_setup(pin_path, p->max_ids, p->max_pfx, created);
	ret = bg_state_setup(pin_path, 0, 0, NULL);
	if (ret || (!p->max_ids && !p->max_pfx))
		return ret;
	if (bg_state_open(&s, pin_path, BG_OPEN_READ))
		return 0; /* the apply that follows says what is wrong */
	if ((p->max_ids && p->max_ids != s.max_ids) || (p->max_pfx && p->max_pfx != s.max_pfx))
		bg_warn("the policy asks for room for %u identities and %u prefixes, but the state at %s was created with %u and %u: capacities are fixed at creation (recreate it with `burstctl teardown` to change them; counters are lost)",
			p->max_ids ? p->max_ids : s.max_ids, p->max_pfx ? p->max_pfx : s.max_pfx,
			pin_path, s.max_ids, s.max_pfx);
	bg_state_close(&s);
	return 0;
}
