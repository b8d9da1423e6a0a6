/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Agent tokens as identities: the maps shared by the XDP program and
 * burstctl for the token registry, the flow table and their configuration,
 * and the expiry rules both sides apply. See docs/tokens.md.
 *
 * Clock: every deadline and flow timestamp here is CLOCK_BOOTTIME in
 * nanoseconds (bpf_ktime_get_boot_ns() in BPF, clock_gettime(CLOCK_BOOTTIME)
 * in burstctl). Unlike CLOCK_MONOTONIC (bpf_ktime_get_ns(), the buckets'
 * clock) it keeps counting while the machine is suspended, so a token given
 * 15 minutes dies 15 minutes of real time later; unlike the wall clock it
 * never jumps. The wall-clock times are kept beside it for display only.
 */
#ifndef BG_TOKEN_H
#define BG_TOKEN_H

#include "bg_compat.h"

/* Map names: the pin file names, 15 characters or fewer. */
#define BG_MAP_TOKENS "bg_tokens"
#define BG_MAP_FLOWS "bg_flows"
#define BG_MAP_TOK_CFG "bg_tok_cfg"
#define BG_MAP_SECRET "bg_secret"

#define BG_MAX_TOKENS_DEFAULT 65536U
#define BG_MAX_FLOWS_DEFAULT 65536U

/* A token: 1 to BG_TOKEN_MAX bytes of visible ASCII (0x21-0x7e). */
#define BG_TOKEN_MAX 512
/* Bytes of a request's first segment searched for the header. */
#define BG_HTTP_WINDOW 1024
/* Header name, e.g. "Authorization" or "X-Api-Key". */
#define BG_HDR_NAME_MAX 64
/* "\n" + lower-case name + ":"; a power of two, for index masking in BPF. */
#define BG_HDR_PAT_LEN 128
/* Auth scheme, e.g. "bearer", at most 15 characters; a power of two too. */
#define BG_SCHEME_MAX 16
/* Fingerprints shown to humans: this many bits, as 12 hex digits. */
#define BG_FP_BITS 48

/*
 * bg_secret: ARRAY of one, BPF_F_RDONLY_PROG. Made once by burstctl from
 * getrandom() when the state is created; never printed. key is the
 * SipHash key of the registry (token -> map key), fp_key that of the
 * fingerprints, so a fingerprint says nothing about a map key.
 */
struct bg_secret {
	__u64 key[2]; /* SipHash-2-4 key halves k0, k1 */
	__u64 fp_key[2];
	__u64 created_unix; /* seconds since the epoch; 0: no secret yet */
};

#define BG_TOK_F_ACTIVE (1U << 0) /* a token was ever registered: run the stages */
#define BG_TOK_F_HTTP (1U << 1) /* look for tokens in HTTP/1.x requests */
/*
 * on_token_expired: a request carrying a token that is expired or not
 * registered (removed, revoked, made up) is metered as identity expired_id,
 * with the segments that continue it, instead of falling through to the
 * prefix and default stages. Bit 3: bit 2 is agent_ports' (issue 11).
 */
#define BG_TOK_F_EXPIRED_ID (1U << 3)

/*
 * bg_tok_cfg: ARRAY of one. Which header carries the token, and timeouts.
 * Written by burstctl (whole value, under the state's writer lock), read
 * per packet. Until BG_TOK_F_ACTIVE is set the XDP program skips the flow
 * and token stages entirely, so hosts that use none pay nothing.
 */
struct bg_tok_cfg {
	__u32 flags; /* BG_TOK_F_* */
	__u32 pat_len; /* bytes of pattern in use: 1 + name length + 1 */
	__u32 scheme_len; /* bytes of scheme; 0: the whole value is the token */
	__u32 expired_id; /* identity index for BG_TOK_F_EXPIRED_ID */
	__u64 http_idle_ns; /* a flow learnt from a request dies this long idle */
	__u64 bind_idle_ns; /* idle timeout of a binding that names none */
	char pattern[BG_HDR_PAT_LEN]; /* "\n" + lower-case header name + ":" */
	char scheme[BG_SCHEME_MAX]; /* lower case, e.g. "bearer"; NUL-padded */
};

/*
 * bg_tokens: HASH from the token's SipHash under bg_secret.key (a __u64) to
 * what it stands for. Written by burstctl; read by the XDP program and by
 * the bind API.
 */
/* bg_token.flags: burstctl's; the XDP program does not read them. */
#define BG_TOKF_RETIRING (1U << 0) /* rotated out: lives until deadline_ns (the grace) */

struct bg_token {
	__u32 id; /* identity index */
	__u32 flags; /* BG_TOKF_* */
	__u64 deadline_ns; /* CLOCK_BOOTTIME ns from which it is dead; 0: never */
	__u64 created_unix; /* wall clock, seconds: display only */
	__u64 expires_unix; /* wall clock, seconds: display only; 0: never */
	__u64 fingerprint; /* BG_FP_BITS of SipHash under bg_secret.fp_key */
};

enum bg_flow_source {
	BG_FLOW_HTTP = 1, /* learnt from a request carrying a token */
	BG_FLOW_BIND = 2, /* reported through the bind API */
};

/*
 * bg_flows: LRU_HASH from a connection's 5-tuple, as the packets arriving
 * at the XDP program carry it (source = the client), to its identity.
 * Written by the XDP program (BG_FLOW_HTTP) and the bind API (BG_FLOW_BIND);
 * burstctl removes entries (unbind, token del, gc). The LRU evicts the
 * least recently used entry when full.
 */
struct bg_flow_key {
	__u32 saddr[4]; /* network order; IPv4 in saddr[0], the rest 0 */
	__u32 daddr[4];
	__u16 sport; /* host order, as in struct bg_pkt */
	__u16 dport;
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 ip_ver; /* 4 or 6 */
	__u16 pad; /* 0 */
};

struct bg_flow {
	__u32 id; /* identity index */
	__u32 source; /* enum bg_flow_source */
	__u64 last_ns; /* CLOCK_BOOTTIME ns of the last packet (1 s granularity) */
	__u64 idle_ns; /* dead after this long without a packet */
	__u64 deadline_ns; /* the token's deadline, copied; 0: never */
	__u64 tok_hash; /* the token's map key: `token del` drops its flows */
};

/* last_ns is refreshed at most this often: one store per flow per second. */
#define BG_FLOW_TOUCH_NS 1000000000ULL

static __always_inline int bg_deadline_passed(__u64 deadline_ns, __u64 now_ns)
{
	return deadline_ns && now_ns >= deadline_ns;
}

/*
 * A flow is live until idle_ns passes without a packet or its token's
 * deadline passes. last_ns may be a little ahead of now (another CPU
 * stored it): a negative idle time counts as live.
 */
static __always_inline int bg_flow_live(const struct bg_flow *f, __u64 now_ns)
{
	__s64 idle = (__s64)(now_ns - f->last_ns);

	return idle < (__s64)f->idle_ns && !bg_deadline_passed(f->deadline_ns, now_ns);
}

#endif /* BG_TOKEN_H */
