/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps. All pinned by name (see BG_PIN_PATH_DEFAULT), so they outlive
 * burstctl and are reused, not recreated, when a new build of the program
 * is loaded: upgrading never resets a bucket or a counter. One set of maps
 * serves every interface: identity limits are host-wide.
 *
 * Sizes here are defaults; burstctl sets max_entries before loading, to the
 * capacity chosen when the state was first created.
 */
#ifndef BG_MAPS_H
#define BG_MAPS_H

#include "bg_common.h"
#include "bg_http.h" /* and bg_token.h */

/* What each identity's limits are. Written by burstctl. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BG_MAX_IDS_DEFAULT);
	__type(key, __u32);
	__type(value, struct bg_id_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_id_cfg SEC(".maps");

/*
 * The buckets' TATs. Written by compare-and-swap from every CPU at once;
 * mmapable so burstctl can reset them with the same atomic operation.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BG_MAX_IDS_DEFAULT);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct bg_id_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_id_state SEC(".maps");

/* Per-identity verdict counters; per CPU, so no atomics are needed. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BG_MAX_IDS_DEFAULT);
	__type(key, __u32);
	__type(value, struct bg_id_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_id_stats SEC(".maps");

/* Identity names and limits as given. burstctl only; never read here. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BG_MAX_IDS_DEFAULT);
	__type(key, struct bg_id_name);
	__type(value, struct bg_id_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_id_names SEC(".maps");

/* Source prefix to identity. The LPM trie requires BPF_F_NO_PREALLOC. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BG_MAX_PFX_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bg_pfx4_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_pfx4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BG_MAX_PFX_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bg_pfx6_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_pfx6 SEC(".maps");

/*
 * Host prefixes (/32, /128) to identity: one hash lookup, tried first. Not
 * preallocated: memory follows the prefixes in use (an IPv4-only host pays
 * nothing for bg_host6); lookups cost the same, only burstctl's writes
 * allocate.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BG_MAX_PFX_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_host4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BG_MAX_PFX_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bg_host6_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_host6 SEC(".maps");

/* Host-wide switches (shadow, malformed verdict). Written by burstctl. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bg_global);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_global SEC(".maps");

/* Parse, classification and meter counters (struct bg_counters), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bg_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_counters SEC(".maps");

/* Limited / cleared events (struct bg_event). Written here, read by one reader. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, BG_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_events SEC(".maps");

/* Controller settings of the last policy applied. burstctl only; never read here. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bg_ctl);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_ctl SEC(".maps");

/* The counters of this CPU: fetched once per packet, then bg_inc()ed. */
static __always_inline struct bg_counters *bg_counters_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&bg_counters, &zero);
}

static __always_inline void bg_inc(struct bg_counters *cnt, __u32 counter)
{
	if (cnt && counter < BG_C_MAX)
		cnt->c[counter] += 1; /* per-CPU, softirq context: no atomic needed */
}

/* For code that has no counters pointer at hand (global functions). */
static __always_inline void bg_count(__u32 counter)
{
	bg_inc(bg_counters_get(), counter);
}

/* ---- Agent tokens (bg_token.h, docs/tokens.md) ---- */

/* Token hash to identity and deadline. Written by burstctl. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BG_MAX_TOKENS_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct bg_token);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_tokens SEC(".maps");

/*
 * Connection to identity: learnt here from requests, or bound by the bind
 * API. Per-connection packets mostly stay on one CPU (RSS), and a racing
 * update only decides which of two fresh identities a segment takes.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BG_MAX_FLOWS_DEFAULT);
	__type(key, struct bg_flow_key);
	__type(value, struct bg_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_flows SEC(".maps");

/* Which header carries tokens, timeouts, on/off. Written by burstctl. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bg_tok_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_tok_cfg SEC(".maps");

/* The SipHash keys. Written once by burstctl; the program cannot write. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__type(key, __u32);
	__type(value, struct bg_secret);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bg_secret SEC(".maps");

/*
 * Per-CPU scratch for the HTTP stage: the request's first bytes, copied
 * once, and the scanner's state. Map memory rather than the stack: the
 * window exceeds the 512-byte stack, and values the verifier cannot see
 * (map contents) keep the bpf_loop() callback a single verification pass.
 * Holds nothing between packets, so it is not pinned.
 */
struct bg_http_scratch {
	struct bg_http_scan scan;
	__u8 buf[BG_HTTP_WINDOW];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bg_http_scratch);
} bg_http_scratch SEC(".maps");

#endif /* BG_MAPS_H */
