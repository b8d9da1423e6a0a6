// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Proposal 1 of bench/PROPOSALS.md (host prefixes in a hash map before the
 * trie) is now part of burstgate itself (bpf/bg_classify.h), so this
 * variant is the production program unchanged. TEMPORARY: kept only until
 * bench/bg_bench.c drops its proposal-1 rows; the map below only keeps
 * bg_bench.c's fill code compiling.
 */
#include "bg_common.h"
#include "bg_parse.h"
#include "bg_maps.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BG_MAX_PFX_DEFAULT);
	__type(key, __u32);
	__type(value, __u32);
} bg_p1_host4 SEC(".maps");

#include "../../bpf/bg_xdp.bpf.c"
