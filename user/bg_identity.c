// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_identity.h"

#include <bpf/bpf.h>
#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bg_log.h"
#include "bg_prefix.h"
#include "bg_flow.h"
#include "bg_token_reg.h"
#include "bg_units.h"

#define MIN_FRAME_BYTES 64
#define FULL_FRAME_BYTES 1514

static const char *const action_names[BG_ACT_MAX] = {
	[BG_ACT_ENFORCE] = "enforce",
	[BG_ACT_SHADOW] = "shadow",
	[BG_ACT_ALLOW] = "allow",
	[BG_ACT_BLOCK] = "block",
};

const char *bg_action_name(__u32 action)
{
	return action < BG_ACT_MAX ? action_names[action] : "unknown";
}

int bg_action_parse(const char *s, __u32 *action)
{
	__u32 i;

	for (i = 0; i < BG_ACT_MAX; i++) {
		if (!strcmp(s, action_names[i])) {
			*action = i;
			return 0;
		}
	}
	return -EINVAL;
}

int bg_name_check(const char *name, char *err, size_t errlen)
{
	size_t i, n = strlen(name);

	if (n == 0 || n >= BG_NAME_LEN) {
		snprintf(err, errlen, "identity name \"%s\": must be 1 to %d characters", name,
			 BG_NAME_LEN - 1);
		return -EINVAL;
	}
	/* `identity show help` asks for help */
	if (!strcmp(name, "help")) {
		snprintf(err, errlen, "identity name \"help\": reserved (it asks for help)");
		return -EINVAL;
	}
	if (name[0] == '-') {
		snprintf(err, errlen, "identity name \"%s\": must not start with '-'", name);
		return -EINVAL;
	}
	/* burstgate's own labels start with '_' (identity="_other" in the metrics) */
	if (name[0] == '_') {
		snprintf(
			err, errlen,
			"identity name \"%s\": must not start with '_' (reserved for burstgate's own labels, such as \"_other\" in the metrics)",
			name);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!isalnum(c) && !strchr("_.:@-", c)) {
			snprintf(
				err, errlen,
				"identity name \"%s\": character '%c' not allowed (use letters, digits and _ . : @ -)",
				name, c);
			return -EINVAL;
		}
	}
	return 0;
}

/* Explain a failed bucket setup in the user's terms. */
static int bucket_error(int ret, const char *what, const char *rate, const char *burst,
			const char *range, char *err, size_t errlen)
{
	if (ret == -ERANGE)
		snprintf(
			err, errlen,
			"%s %s at %s: the burst takes longer than 19.5 hours to refill, the longest a bucket can hold (lower the burst or raise the rate)",
			what, burst, rate);
	else
		snprintf(err, errlen, "rate %s: out of range (%s)", rate, range);
	return ret;
}

int bg_limits_apply(struct bg_limits *cur, const struct bg_limits *l, unsigned int mask,
		    struct bg_id_cfg *cfg, char *err, size_t errlen)
{
	struct bg_limits n = *cur;
	char r[32], b[32];
	int ret;

	/* A new rate keeps the burst unless one is given: bursts are explicit. */
	if (mask & BG_LIM_RATE)
		n.rate_pps = l->rate_pps;
	if (mask & BG_LIM_BURST)
		n.burst_pkts = l->burst_pkts;
	if (mask & BG_LIM_BYTE_RATE)
		n.byte_rate_bits = l->byte_rate_bits;
	if (mask & BG_LIM_BYTE_BURST)
		n.burst_bytes = l->burst_bytes;
	if (mask & BG_LIM_ACTION)
		n.action = l->action;

	if (!n.rate_pps && (mask & BG_LIM_BURST)) {
		snprintf(err, errlen,
			 "burst %llu: needs a packet rate (add `rate N[pps|kpps|mpps]`)",
			 (unsigned long long)l->burst_pkts);
		return -EINVAL;
	}
	if (!n.byte_rate_bits && (mask & BG_LIM_BYTE_BURST)) {
		snprintf(err, errlen,
			 "bytes-burst %s: needs a byte rate (add `bytes-rate N[kbit|mbit|gbit]`)",
			 bg_fmt_bytes(l->burst_bytes, b, sizeof(b)));
		return -EINVAL;
	}
	if (!n.rate_pps)
		n.burst_pkts = 0;
	else if (!n.burst_pkts)
		n.burst_pkts = n.rate_pps / 10 ? n.rate_pps / 10 : 1;
	if (!n.byte_rate_bits)
		n.burst_bytes = 0;
	else if (!n.burst_bytes)
		n.burst_bytes = n.byte_rate_bits / 80 > FULL_FRAME_BYTES ? n.byte_rate_bits / 80 :
									   FULL_FRAME_BYTES;
	if (n.byte_rate_bits && n.burst_bytes < MIN_FRAME_BYTES) {
		snprintf(
			err, errlen,
			"bytes-burst %s: smaller than the smallest Ethernet frame (64 bytes), so nothing could pass",
			bg_fmt_bytes(n.burst_bytes, b, sizeof(b)));
		return -EINVAL;
	}

	memset(cfg, 0, sizeof(*cfg));
	cfg->flags = BG_ID_F_IN_USE;
	cfg->action = n.action;
	if (n.rate_pps) {
		ret = bg_bucket_set_pkts(&cfg->pkt, n.rate_pps, n.burst_pkts);
		if (ret) {
			snprintf(b, sizeof(b), "%llu", (unsigned long long)n.burst_pkts);
			return bucket_error(ret, "burst", bg_fmt_pps(n.rate_pps, r, sizeof(r)), b,
					    "1pps to 1000mpps", err, errlen);
		}
	}
	if (n.byte_rate_bits) {
		ret = bg_bucket_set_bytes(&cfg->byte, n.byte_rate_bits, n.burst_bytes);
		if (ret)
			return bucket_error(ret, "bytes-burst",
					    bg_fmt_bitrate(n.byte_rate_bits, r, sizeof(r)),
					    bg_fmt_bytes(n.burst_bytes, b, sizeof(b)),
					    "8bit to 10tbit", err, errlen);
	}
	*cur = n;
	return 0;
}

static void meta_to_limits(const struct bg_id_meta *m, __u32 action, struct bg_limits *l)
{
	l->rate_pps = m->rate_pps;
	l->burst_pkts = m->burst_pkts;
	l->byte_rate_bits = m->byte_rate_bits;
	l->burst_bytes = m->burst_bytes;
	l->action = action;
}

static void limits_to_meta(const struct bg_limits *l, struct bg_id_meta *m)
{
	m->rate_pps = l->rate_pps;
	m->burst_pkts = l->burst_pkts;
	m->byte_rate_bits = l->byte_rate_bits;
	m->burst_bytes = l->burst_bytes;
}

static void name_key(const char *name, struct bg_id_name *k)
{
	memset(k, 0, sizeof(*k));
	strncpy(k->name, name, sizeof(k->name) - 1);
}

void bg_identity_reset_buckets(const struct bg_state *s, __u32 id)
{
	struct timespec ts;
	__u64 now;

	/*
	 * A TAT of now means full. (0 would too, except within a burst
	 * window of the clock's wrap, where 0 looks like "ahead".) The
	 * store is atomic against the CPUs running the program.
	 */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = bg_ticks((__u64)ts.tv_sec * BG_NSEC_PER_SEC + (__u64)ts.tv_nsec);
	__atomic_store_n(&s->tats[id].pkt_tat, now, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->tats[id].byte_tat, now, __ATOMIC_SEQ_CST);
	/* and not limited: a reused slot must not carry its last owner's episode */
	__atomic_store_n(&s->tats[id].limited_since_ns, 0, __ATOMIC_SEQ_CST);
}

static __u64 now_ticks(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return bg_ticks((__u64)ts.tv_sec * BG_NSEC_PER_SEC + (__u64)ts.tv_nsec);
}

static void rescale_bucket(__u64 *tat_p, const struct bg_bucket *o, const struct bg_bucket *n,
			   bool strict)
{
	__u64 tat, now;
	int i;

	/* compare-and-swap against the CPUs charging the bucket meanwhile */
	for (i = 0; i < 64; i++) {
		tat = __atomic_load_n(tat_p, __ATOMIC_RELAXED);
		now = now_ticks();
		if (__sync_val_compare_and_swap(tat_p, tat,
						strict ? bg_bucket_rescale_strict(o, n, tat, now) :
							 bg_bucket_rescale(o, n, tat, now)) == tat)
			return;
	}
}

static void rescale(const struct bg_state *s, __u32 id, const struct bg_id_cfg *o,
		    const struct bg_id_cfg *n, int when, bool strict)
{
	struct bg_id_state *st = &s->tats[id];

	if (memcmp(&o->pkt, &n->pkt, sizeof(o->pkt)) &&
	    (n->pkt.tau < o->pkt.tau) == (when == BG_RESCALE_BEFORE))
		rescale_bucket(&st->pkt_tat, &o->pkt, &n->pkt, strict);
	if (memcmp(&o->byte, &n->byte, sizeof(o->byte)) &&
	    (n->byte.tau < o->byte.tau) == (when == BG_RESCALE_BEFORE))
		rescale_bucket(&st->byte_tat, &o->byte, &n->byte, strict);
}

void bg_identity_rescale(const struct bg_state *s, __u32 id, const struct bg_id_cfg *o,
			 const struct bg_id_cfg *n, int when)
{
	rescale(s, id, o, n, when, false);
}

int bg_identity_get(const struct bg_state *s, const char *name, struct bg_identity *out)
{
	struct bg_id_name k;

	name_key(name, &k);
	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(s->names_fd, &k, &out->meta))
		return -errno; /* -ENOENT: no such identity */
	snprintf(out->name, sizeof(out->name), "%s", k.name);
	out->id = out->meta.id;
	if (bpf_map_lookup_elem(s->cfg_fd, &out->id, &out->cfg))
		return -errno;
	return 0;
}

int bg_id_name_cached(const struct bg_state *s, char (*names)[BG_NAME_LEN], __u32 id, char *name,
		      size_t len)
{
	struct bg_id_meta meta;
	struct bg_id_name k;
	int ret;

	if (id >= s->max_ids)
		return -ENOENT;
	if (names[id][0]) {
		name_key(names[id], &k);
		if (!bpf_map_lookup_elem(s->names_fd, &k, &meta) && meta.id == id) {
			snprintf(name, len, "%s", names[id]);
			return 0;
		}
	}
	ret = bg_id_name_of(s, id, names[id], BG_NAME_LEN);
	if (ret) {
		names[id][0] = '\0';
		return ret;
	}
	snprintf(name, len, "%s", names[id]);
	return 0;
}

/* A free slot, searching from the hint; identity 0 is never free. */
static int find_free_id(const struct bg_state *s, __u32 hint, __u32 *id)
{
	struct bg_id_cfg cfg;
	__u32 i, cand;

	for (i = 0; i < s->max_ids - 1; i++) {
		cand = 1 + (hint - 1 + i) % (s->max_ids - 1);
		if (bpf_map_lookup_elem(s->cfg_fd, &cand, &cfg))
			return -errno;
		if (!(cfg.flags & BG_ID_F_IN_USE)) {
			*id = cand;
			return 0;
		}
	}
	return -ENOSPC;
}

static void table_full(const struct bg_state *s)
{
	bg_err("identity table full (%u identities, the capacity chosen at setup): delete unused identities, or recreate the state with `burstctl teardown` and `burstctl setup max-identities N`",
	       s->max_ids);
}

int bg_identity_add(struct bg_state *s, const char *name, const struct bg_limits *l,
		    unsigned int mask, struct bg_identity *out)
{
	struct bg_limits cur = { .action = BG_ACT_ENFORCE };
	struct bg_global g;
	struct bg_id_name k;
	struct bg_id_meta meta = {};
	struct bg_id_cfg cfg, clear = {};
	char err[256];
	__u32 id;
	int ret;

	ret = bg_name_check(name, err, sizeof(err));
	if (ret)
		goto bad;
	ret = bg_limits_apply(&cur, l, mask, &cfg, err, sizeof(err));
	if (ret)
		goto bad;
	name_key(name, &k);
	if (bpf_map_lookup_elem(s->names_fd, &k, &meta) == 0) {
		bg_err("identity \"%s\" already exists (change it with `burstctl identity set %s ...`)",
		       name, name);
		return -EEXIST;
	}
	ret = bg_global_get(s, &g);
	if (!ret)
		ret = find_free_id(s, g.next_id_hint ? g.next_id_hint : 1, &id);
	if (ret == -ENOSPC) {
		table_full(s);
		return ret;
	}
	if (ret)
		goto fail;

	/* A reused slot must not inherit its last owner's buckets or counters. */
	bg_identity_reset_buckets(s, id);
	ret = bg_percpu_zero(s, s->stats_fd, id, sizeof(struct bg_id_stats));
	if (ret)
		goto fail;
	if (bpf_map_update_elem(s->cfg_fd, &id, &cfg, BPF_ANY)) {
		ret = -errno;
		goto fail;
	}
	memset(&meta, 0, sizeof(meta));
	meta.id = id;
	meta.created_unix = (__u64)time(NULL);
	limits_to_meta(&cur, &meta);
	if (bpf_map_update_elem(s->names_fd, &k, &meta, BPF_NOEXIST)) {
		ret = -errno;
		bpf_map_update_elem(s->cfg_fd, &id, &clear, BPF_ANY);
		if (ret == -E2BIG || ret == -ENOSPC)
			table_full(s);
		else
			bg_err("identity add %s: %s", name, strerror(-ret));
		return ret;
	}
	g.next_id_hint = id + 1 < s->max_ids ? id + 1 : 1;
	bg_global_put(s, &g); /* only a hint: a failure costs a longer search */
	if (out)
		return bg_identity_get(s, name, out);
	return 0;

bad:
	bg_err("identity add: %s", err);
	return ret;
fail:
	bg_err("identity add %s: %s (nothing was added)", name, strerror(-ret));
	return ret;
}

static int set_limits(struct bg_state *s, const char *name, const struct bg_limits *l,
		      unsigned int mask, struct bg_identity *out, bool strict)
{
	struct bg_identity cur;
	struct bg_limits lim;
	struct bg_id_cfg cfg;
	struct bg_id_name k;
	char err[256];
	int ret;

	ret = bg_identity_get(s, name, &cur);
	if (ret == -ENOENT) {
		bg_err("identity \"%s\" does not exist (create it with `burstctl identity add %s ...`)",
		       name, name);
		return ret;
	}
	if (ret)
		return ret;
	meta_to_limits(&cur.meta, cur.cfg.action, &lim);
	ret = bg_limits_apply(&lim, l, mask, &cfg, err, sizeof(err));
	if (ret) {
		bg_err("identity set %s: %s", name, err);
		return ret;
	}
	/* Each bucket keeps its tokens (clamped to a lower burst): never refilled. */
	rescale(s, cur.id, &cur.cfg, &cfg, BG_RESCALE_BEFORE, strict);
	if (bpf_map_update_elem(s->cfg_fd, &cur.id, &cfg, BPF_ANY)) {
		ret = -errno;
		bg_err("identity set %s: write its limits: %s", name, strerror(-ret));
		return ret;
	}
	rescale(s, cur.id, &cur.cfg, &cfg, BG_RESCALE_AFTER, strict);
	limits_to_meta(&lim, &cur.meta);
	name_key(name, &k);
	if (bpf_map_update_elem(s->names_fd, &k, &cur.meta, BPF_EXIST)) {
		ret = -errno;
		bg_err("identity set %s: record its limits: %s", name, strerror(-ret));
		return ret;
	}
	if (out)
		return bg_identity_get(s, name, out);
	return 0;
}

/* on_token_expired naming id: back to default (a reused slot must not inherit it). */
static int expired_target_gone(struct bg_state *s, const struct bg_identity *id)
{
	struct bg_tok_cfg tc;
	int ret;

	if (bg_tok_cfg_get(s, &tc) || !(tc.flags & BG_TOK_F_EXPIRED_ID) || tc.expired_id != id->id)
		return 0;
	tc.flags &= ~BG_TOK_F_EXPIRED_ID;
	tc.expired_id = 0;
	ret = bg_tok_cfg_put(s, &tc);
	if (!ret)
		bg_warn("identity %s was what expired tokens are metered as (on_token_expired): they fall back to default now",
			id->name);
	return ret;
}

int bg_identity_set(struct bg_state *s, const char *name, const struct bg_limits *l,
		    unsigned int mask, struct bg_identity *out)
{
	return set_limits(s, name, l, mask, out, false);
}

int bg_identity_set_strict(struct bg_state *s, const char *name, const struct bg_limits *l,
			   unsigned int mask, struct bg_identity *out)
{
	return set_limits(s, name, l, mask, out, true);
}

int bg_identity_del(struct bg_state *s, const char *name)
{
	struct bg_identity cur;
	struct bg_id_cfg clear = {};
	struct bg_id_name k;
	struct bg_rec_key rk;
	size_t removed;
	int ret;

	ret = bg_identity_get(s, name, &cur);
	if (ret == -ENOENT) {
		bg_err("identity \"%s\" does not exist (see `burstctl identity list`)", name);
		return ret;
	}
	if (ret)
		return ret;
	if (cur.id == BG_ID_DEFAULT) {
		bg_err("identity \"%s\" is the default identity and cannot be deleted (change its limits with `burstctl identity set %s ...`)",
		       name, name);
		return -EINVAL;
	}
	ret = expired_target_gone(s, &cur);
	if (ret)
		return ret;
	/*
	 * Tokens and connections first (a reused slot must not inherit them),
	 * then prefixes, so its traffic moves to the default identity: a
	 * failure on the way leaves an identity that still meters its own
	 * prefixes, and running the command again finishes the job.
	 */
	ret = bg_token_del_for_id(s, cur.id, &removed);
	if (!ret)
		ret = bg_flow_del_for_id(s, cur.id, &removed);
	if (!ret)
		ret = bg_prefix_del_for_id(s, cur.id, &removed);
	if (ret) {
		bg_err("identity del %s: removing its tokens, connections and prefixes failed: %s (run the command again)",
		       name, strerror(-ret));
		return ret;
	}
	/* and the token files a policy recorded for the slot (bg_state.h) */
	for (rk.owner = cur.id, rk.idx = 0; s->rec_fd >= 0; rk.idx++)
		if (bpf_map_delete_elem(s->rec_fd, &rk))
			break;
	if (bpf_map_update_elem(s->cfg_fd, &cur.id, &clear, BPF_ANY) ||
	    (name_key(name, &k), bpf_map_delete_elem(s->names_fd, &k))) {
		ret = -errno;
		bg_err("identity del %s: %s (run the command again)", name, strerror(-ret));
		return ret;
	}
	return 0;
}

static int cmp_id(const void *a, const void *b)
{
	const struct bg_identity *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Every identity in two batch reads, names (hash) and configs (array),
 * instead of three system calls per identity: a state of 100,000 is read
 * in a few dozen calls.
 */
int bg_identity_list(const struct bg_state *s, struct bg_identity **out, size_t *n)
{
	struct bg_id_name *keys = NULL;
	struct bg_id_meta *metas = NULL;
	struct bg_id_cfg *cfgs = NULL;
	struct bg_identity *v = NULL;
	__u32 *slots = NULL;
	size_t nnames = 0, ncfg = 0, i;
	int ret;

	*out = NULL;
	*n = 0;
	ret = bg_map_read_all(s->names_fd, sizeof(*keys), sizeof(*metas), (void **)&keys,
			      (void **)&metas, &nnames);
	if (!ret)
		ret = bg_map_read_all(s->cfg_fd, sizeof(*slots), sizeof(*cfgs), (void **)&slots,
				      (void **)&cfgs, &ncfg);
	if (ret)
		goto out;
	v = calloc(nnames + 1, sizeof(*v));
	if (!v) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nnames; i++) {
		struct bg_identity *e = &v[*n];

		keys[i].name[sizeof(keys[i].name) - 1] = '\0';
		snprintf(e->name, sizeof(e->name), "%s", keys[i].name);
		e->meta = metas[i];
		e->id = metas[i].id;
		/* an array's batch returns its slots in order, all of them */
		if (e->id >= ncfg || slots[e->id] != e->id) {
			ret = -EUCLEAN; /* a name pointing past the table */
			goto out;
		}
		e->cfg = cfgs[e->id];
		(*n)++;
	}
	qsort(v, *n, sizeof(*v), cmp_id);
	*out = v;
	v = NULL;
out:
	if (ret)
		*n = 0;
	free(v);
	free(keys);
	free(metas);
	free(cfgs);
	free(slots);
	return ret;
}
