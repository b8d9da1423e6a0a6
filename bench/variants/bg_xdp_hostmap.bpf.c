// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Proposal 1 of bench/PROPOSALS.md, built to be measured, never deployed:
 * burstgate's own program (bpf/bg_xdp.bpf.c, included whole below) with
 * one change, in classification: an IPv4 source is looked up first in a
 * hash map of host (/32) prefixes, and in the LPM trie only on a miss.
 * A host prefix is always the longest match, so verdicts are unchanged.
 *
 * bg-bench fills bg_p1_host4 from the /32 entries of the state's bg_pfx4; the
 * trie keeps them too. Everything else is the production code, unchanged.
 */
#include "bg_common.h"
#include "bg_parse.h"
#include "bg_maps.h"

/* Host prefixes: IPv4 address (network order) to identity. bg-bench only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BG_MAX_PFX_DEFAULT); /* bg-bench sizes it */
	__type(key, __u32);
	__type(value, __u32);
} bg_p1_host4 SEC(".maps");

/* Take the place of bpf/bg_classify.h: same stages, host map first. */
#define BG_CLASSIFY_H

static __always_inline int classify_prefix(const struct bg_pkt *pkt, __u32 *id, __u32 *src)
{
	__u32 *hit;

	if (pkt->ip_ver == 4) {
		struct bg_pfx4_key k = { .prefixlen = 32, .addr = pkt->saddr[0] };

		hit = bpf_map_lookup_elem(&bg_p1_host4, &k.addr);
		if (!hit)
			hit = bpf_map_lookup_elem(&bg_pfx4, &k);
		*src = BG_C_CLS_PREFIX4;
	} else {
		struct bg_pfx6_key k = { .prefixlen = 128 };

		__builtin_memcpy(k.addr, pkt->saddr, sizeof(k.addr));
		hit = bpf_map_lookup_elem(&bg_pfx6, &k);
		*src = BG_C_CLS_PREFIX6;
	}
	if (!hit)
		return -1;
	*id = *hit;
	return 0;
}

/* As in bpf/bg_classify.h. */
static __always_inline struct bg_id_cfg *bg_classify(struct xdp_md *ctx, const struct bg_pkt *pkt,
						     struct bg_counters *cnt, __u32 *id)
{
	struct bg_id_cfg *cfg;
	__u32 src;

	(void)ctx; /* the token stages are not part of this variant */
	if (classify_prefix(pkt, id, &src) == 0) {
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

#include "../../bpf/bg_xdp.bpf.c"
