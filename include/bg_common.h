/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Definitions shared by the XDP program and burstctl: map names, keys and
 * values, actions and counters. One header for both sides, so the two can
 * never disagree on a layout. Every field says its unit and byte order.
 */
#ifndef BG_COMMON_H
#define BG_COMMON_H

#include "bg_compat.h"
#include "bg_gcra.h"

/* Where the maps are pinned, one file per map named after the map. */
#define BG_PIN_PATH_DEFAULT "/sys/fs/bpf/burstgate"

/* Map names: the pin file names, 15 characters or fewer. */
#define BG_MAP_ID_CFG "bg_id_cfg"
#define BG_MAP_ID_STATE "bg_id_state"
#define BG_MAP_ID_STATS "bg_id_stats"
#define BG_MAP_ID_NAMES "bg_id_names"
#define BG_MAP_PFX4 "bg_pfx4"
#define BG_MAP_PFX6 "bg_pfx6"
#define BG_MAP_HOST4 "bg_host4"
#define BG_MAP_HOST6 "bg_host6"
#define BG_MAP_GLOBAL "bg_global"
#define BG_MAP_COUNTERS "bg_counters"
#define BG_MAP_EVENTS "bg_events"
#define BG_MAP_CTL "bg_ctl"

/* Default capacities; `burstctl setup` can choose others at creation. */
#define BG_MAX_IDS_DEFAULT 16384U
#define BG_MAX_PFX_DEFAULT 65536U

/* Identity 0 always exists: it meters traffic nothing else classifies. */
#define BG_ID_DEFAULT 0
#define BG_ID_DEFAULT_NAME "default"
#define BG_NAME_LEN 48 /* identity name, NUL-terminated, so 47 characters */

enum bg_action {
	BG_ACT_ENFORCE = 0, /* drop what exceeds the buckets */
	BG_ACT_SHADOW = 1, /* pass everything, count would-be drops */
	BG_ACT_ALLOW = 2, /* never limit, still count */
	BG_ACT_BLOCK = 3, /* drop everything */
	BG_ACT_MAX,
};

#define BG_ID_F_IN_USE (1U << 0) /* slot holds a live identity */

/*
 * bg_id_cfg: ARRAY indexed by identity. What the XDP program enforces.
 * Written by burstctl (whole value; a packet racing the update may see a
 * mix of old and new buckets for that one lookup), read per packet.
 */
struct bg_id_cfg {
	__u32 flags; /* BG_ID_F_* */
	__u32 action; /* enum bg_action */
	struct bg_bucket pkt; /* packets; interval_fp 0: unlimited */
	struct bg_bucket byte; /* bytes of L2 frame; interval_fp 0: unlimited */
};

/*
 * bg_id_state: ARRAY indexed by identity, BPF_F_MMAPABLE. The two TATs in
 * ticks (see bg_gcra.h), written only by compare-and-swap, by the XDP
 * program and, through mmap, by burstctl (reset on identity creation).
 *
 * limited_since_ns and last_over_ns drive the "limited" events: the XDP
 * program sets limited_since_ns (0 -> now, compare-and-swap, the winner
 * emits BG_EV_LIMITED) on the first packet over the limit, stamps
 * last_over_ns on every packet over it, and clears limited_since_ns (the
 * winner emits BG_EV_CLEARED) on the first conforming packet
 * BG_EVENT_HOLD_NS after the last one over. An identity that goes quiet
 * while limited is cleared the same way by the event reader, through mmap.
 * All in CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns); 32 bytes, so one
 * identity's state shares one cache line.
 */
struct bg_id_state {
	__u64 pkt_tat;
	__u64 byte_tat;
	__u64 limited_since_ns; /* 0: not limited */
	__u64 last_over_ns; /* last packet over the limit (dropped or shadow) */
};

/* How long an identity must conform before it counts as no longer limited. */
#define BG_EVENT_HOLD_NS 1000000000ULL

/*
 * bg_events: RINGBUF of struct bg_event, written by the XDP program (and
 * nobody else), read by one reader at a time (`burstctl events` or the
 * controller). At most one BG_EV_LIMITED and one BG_EV_CLEARED per identity
 * per BG_EVENT_HOLD_NS: never one event per dropped packet. A full ring
 * loses the event and counts BG_C_EVENTS_LOST.
 */
#define BG_EVENTS_BYTES (256 * 1024) /* a power of two, a multiple of the page */

enum bg_event_type {
	BG_EV_LIMITED = 1, /* the first packet over the limit */
	BG_EV_CLEARED = 2, /* conforming again, BG_EVENT_HOLD_NS after the last over */
};

struct bg_event {
	__u64 ts_ns; /* CLOCK_MONOTONIC ns */
	__u64 since_ns; /* CLEARED: when the episode began; LIMITED: = ts_ns */
	__u32 id; /* identity index */
	__u32 type; /* enum bg_event_type */
	__u32 action; /* enum bg_action at the time */
	__u32 pad;
};

/*
 * bg_id_stats: PERCPU_ARRAY indexed by identity; burstctl sums the CPUs.
 * passed counts everything handed to the stack, shadow included; shadow is
 * the part of passed that enforcement would have dropped.
 */
struct bg_id_stats {
	__u64 passed_pkts;
	__u64 passed_bytes;
	__u64 dropped_pkts;
	__u64 dropped_bytes;
	__u64 shadow_pkts;
	__u64 shadow_bytes;
};

/*
 * bg_id_names: HASH from name to identity. Only burstctl uses it; it is a
 * pinned map so that every burstctl, now or later, sees the same names.
 * Also keeps the limits as the user gave them, for display.
 */
struct bg_id_name {
	char name[BG_NAME_LEN]; /* NUL-padded */
};

struct bg_id_meta {
	__u32 id; /* index into the identity arrays */
	__u32 pad;
	__u64 rate_pps; /* 0: unlimited */
	__u64 burst_pkts;
	__u64 byte_rate_bits; /* bits per second; 0: unlimited */
	__u64 burst_bytes;
	__u64 created_unix; /* seconds since the epoch */
	/*
	 * Adaptive burst bounds (see docs/tuner.md); 0 and 0: not tuned.
	 * burst_pkts / burst_bytes above are then the bursts in force now.
	 */
	__u64 burst_min_pkts;
	__u64 burst_max_pkts;
	__u64 burst_min_bytes;
	__u64 burst_max_bytes;
};

/*
 * Source prefixes to identity (__u32). Host prefixes (/32, /128) live in
 * the hash maps bg_host4 (key: the IPv4 address, network order) and
 * bg_host6 (key: struct bg_host6_key); all others in the LPM tries bg_pfx4
 * and bg_pfx6. A host prefix is always the longest match, so the XDP program
 * tries the hash first and the trie only on a miss: one hash lookup instead
 * of a trie walk that grows with the number of prefixes (bench/REPORT.md).
 */
struct bg_pfx4_key {
	__u32 prefixlen; /* bits, 0..32 */
	__u32 addr; /* network byte order */
};

struct bg_pfx6_key {
	__u32 prefixlen; /* bits, 0..128 */
	__u8 addr[16]; /* network byte order */
};

struct bg_host6_key {
	__u8 addr[16]; /* network byte order */
};

/* Verdict for packets too malformed to classify (the default: pass). */
enum bg_malformed {
	BG_MALFORMED_PASS = 0,
	BG_MALFORMED_DROP = 1,
};

/* bg_global: ARRAY of one. Host-wide switches, written by burstctl. */
struct bg_global {
	__u32 shadow_all; /* 1: dry run, nothing is dropped */
	__u32 malformed; /* enum bg_malformed */
	__u32 max_ids; /* capacity of the identity arrays, set at creation */
	__u32 next_id_hint; /* burstctl: where to look for a free slot */
	__u32 pfx_maps; /* BG_PFX_*: prefix maps that may hold entries */
	__u32 pad;
	__u32 reserved[10]; /* zero: room for switches to come, same layout */
};

/*
 * Which prefix maps the XDP program needs to look in. A bit is raised
 * before the first entry goes into its map and dropped only once the map is
 * empty again, so a packet never misses a prefix; an empty map costs no
 * lookup (an unknown source would otherwise pay a hash miss and a trie walk
 * per family). Written only by bg_prefix_flags_*() in burstctl.
 */
#define BG_PFX_TRIE4 (1U << 0)
#define BG_PFX_HOST4 (1U << 1)
#define BG_PFX_TRIE6 (1U << 2)
#define BG_PFX_HOST6 (1U << 3)
#define BG_PFX_ALL (BG_PFX_TRIE4 | BG_PFX_HOST4 | BG_PFX_TRIE6 | BG_PFX_HOST6)

/*
 * bg_ctl: ARRAY of one. The controller settings of the last policy applied
 * (burstctl only, never read by the XDP program), so that `burstctl policy
 * dump` can print the live state as a policy that round-trips.
 */
#define BG_CTL_PATH_LEN 256

struct bg_ctl {
	__u64 capacity_pps; /* host capacity for the tuner; 0: not declared */
	__u64 capacity_bits; /* bits per second; 0: not declared */
	__u32 tune_interval_ms; /* tuner period */
	__u32 grow_below_pct; /* grow bursts while utilisation is below this */
	__u32 shrink_above_pct; /* shrink them while it is above this */
	__u32 flags; /* BG_CTL_F_* */
	__u64 applied_unix; /* last policy apply, seconds since the epoch */
	__u64 generation; /* policy applies so far */
	char audit_log[BG_CTL_PATH_LEN]; /* NUL-terminated path */
	char http_token_header[64]; /* NUL-terminated; "": none */
};

#define BG_CTL_F_POLICY (1U << 0) /* a policy has been applied */
#define BG_CTL_F_IFACES (1U << 1) /* the policy says where to attach */
#define BG_CTL_F_NO_UPGRADE (1U << 2) /* controller.upgrade_program: false */

/*
 * bg_counters: PERCPU_ARRAY of one struct bg_counters, indexed by enum
 * bg_counter: one lookup per packet fetches them all. Each packet counts
 * exactly once among the BG_C_PARSE_* outcomes, and once among the
 * BG_C_CLS_* sources if it was metered.
 */
enum bg_counter {
	/* parse outcomes (see bg_parse.h for which are metered) */
	BG_C_PARSE_TCP = 0,
	BG_C_PARSE_UDP,
	BG_C_PARSE_OTHER_L4, /* ICMP, ESP, ...: no ports */
	BG_C_PARSE_FRAGMENT, /* non-first fragment: no ports */
	BG_C_PARSE_NON_IP, /* ARP, LLDP, ...: passed, never metered */
	BG_C_PARSE_BAD_L4, /* TCP/UDP header cut short or invalid */
	BG_C_PARSE_IPV6_EXT_LIMIT, /* too many IPv6 extension headers */
	BG_C_PARSE_TRUNC_ETH,
	BG_C_PARSE_TRUNC_VLAN,
	BG_C_PARSE_VLAN_LIMIT, /* more than two VLAN tags */
	BG_C_PARSE_TRUNC_IP,
	BG_C_PARSE_BAD_IP, /* wrong version, IHL < 5, total length < IHL */
	/* IP version of the metered packets */
	BG_C_IPV4,
	BG_C_IPV6,
	/* classification source */
	BG_C_CLS_PREFIX4,
	BG_C_CLS_PREFIX6,
	BG_C_CLS_DEFAULT,
	BG_C_CLS_STALE, /* matched a deleted identity: took the default */
	BG_C_CLS_BIND, /* a connection bound through the bind API */
	BG_C_CLS_HTTP, /* an HTTP request carrying a registered, live token */
	BG_C_CLS_FLOW, /* a later segment of a connection whose request had one */
	/* meter */
	BG_C_METER_CONTENDED, /* CAS lost BG_CAS_TRIES times: treated as over */
	BG_C_MALFORMED_DROPPED, /* dropped by the malformed verdict */
	BG_C_MALFORMED_SHADOW, /* would have been, but the host is in shadow */
	/* events */
	BG_C_EVENTS_LOST, /* the event ring was full: a limited event was lost */
	/* HTTP token stage (bg_http.h): each request start counts once here */
	BG_C_HTTP_REQUEST, /* TCP segments starting an HTTP/1.x request */
	BG_C_HTTP_NO_HEADER, /* no configured header in the window */
	BG_C_HTTP_UNKNOWN, /* a value that is no registered token */
	BG_C_HTTP_EXPIRED, /* a registered token past its deadline */
	BG_C_HTTP_TRUNCATED, /* a value cut by the end of the segment or window */
	BG_C_HTTP_OVERSIZED, /* a value longer than BG_TOKEN_MAX */
	BG_C_HTTP_BAD_VALUE, /* an empty value or another auth scheme */
	/* flow table (bg_token.h) */
	BG_C_FLOW_EXPIRED, /* entry past its idle timeout or token deadline */
	BG_C_FLOW_SYN, /* a SYN removed the entry of an earlier connection */
	BG_C_MAX,
};

struct bg_counters {
	__u64 c[BG_C_MAX]; /* packets (or events), per enum bg_counter */
};

#endif /* BG_COMMON_H */
