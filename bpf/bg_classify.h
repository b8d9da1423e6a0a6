/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Classification: which identity does this packet belong to?
 *
 * Stages run in order and the first that answers wins; each stage counts
 * under its own BG_C_CLS_* source: the flow table and agent tokens
 * (bg_classify_token.h: bound connections, HTTP requests carrying a token,
 * the segments that continue them), then the source prefix (LPM tries),
 * then the default identity.
 */
#ifndef BG_CLASSIFY_H
#define BG_CLASSIFY_H

#include "bg_maps.h"
#include "bg_parse.h"
#include "bg_classify_token.h"

/*
 * Longest-prefix match of the source address; 0 on a hit. A host prefix is
 * always the longest, so the exact-address hash answers first; the trie
 * walk (its cost grows with the number of prefixes) only runs on a miss.
 * Maps that hold nothing (pfx_maps, see BG_PFX_*) are not looked in.
 */
static __always_inline int classify_prefix(const struct bg_pkt *pkt, const struct bg_global *g,
					   __u32 *id, __u32 *src)
{
	__u32 maps = g ? g->pfx_maps : BG_PFX_ALL;
	__u32 *hit = NULL;

	if (pkt->ip_ver == 4) {
		struct bg_pfx4_key k = { .prefixlen = 32, .addr = pkt->saddr[0] };

		*src = BG_C_CLS_PREFIX4;
		if (maps & BG_PFX_HOST4)
			hit = bpf_map_lookup_elem(&bg_host4, &k.addr);
		if (!hit && (maps & BG_PFX_TRIE4))
			hit = bpf_map_lookup_elem(&bg_pfx4, &k);
	} else {
		struct bg_pfx6_key k = { .prefixlen = 128 };

		*src = BG_C_CLS_PREFIX6;
		__builtin_memcpy(k.addr, pkt->saddr, sizeof(k.addr));
		if (maps & BG_PFX_HOST6)
			hit = bpf_map_lookup_elem(&bg_host6, k.addr);
		if (!hit && (maps & BG_PFX_TRIE6))
			hit = bpf_map_lookup_elem(&bg_pfx6, &k);
	}
	if (!hit)
		return -1;
	*id = *hit;
	return 0;
}

/*
 * Returns the identity's config and sets *id. A stage may name an identity
 * deleted a moment ago (burstctl clears the identity before its prefixes'
 * removal completes): such packets take the default identity, counted.
 */
static __always_inline struct bg_id_cfg *bg_classify(struct xdp_md *ctx, const struct bg_pkt *pkt,
						     const struct bg_global *g,
						     struct bg_counters *cnt, __u32 *id)
{
	struct bg_id_cfg *cfg;
	__u32 src;

	if (classify_token(ctx, pkt, id, &src) == 0 || classify_prefix(pkt, g, id, &src) == 0) {
		cfg = bpf_map_lookup_elem(&bg_id_cfg, id);
		if (cfg && (cfg->flags & BG_ID_F_IN_USE)) {
			bg_inc(cnt, src);
			return cfg;
		}
		bg_inc(cnt, BG_C_CLS_STALE);
	} else {
		bg_inc(cnt, BG_C_CLS_DEFAULT);
	}
	*id = BG_ID_DEFAULT;
	return bpf_map_lookup_elem(&bg_id_cfg, id);
}

#endif /* BG_CLASSIFY_H */
