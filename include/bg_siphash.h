/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed PRF with a 128-bit
 * key and a 64-bit output, shared by the XDP program (which hashes agent
 * tokens straight out of HTTP requests) and burstctl (which hashes the same
 * tokens when they are registered). Written from the paper; the unit tests
 * check it against the reference implementation's 64 test vectors.
 *
 * Why SipHash: it is a PRF designed for short inputs (tokens are tens of
 * bytes), it is only additions, rotations and xors on four 64-bit words
 * (no tables, no multiplications: cheap and verifier-friendly in BPF), and
 * the kernel itself uses it for the same purpose (keyed hashing of
 * attacker-controlled input). Without the key, nobody can compute which
 * hash a token has, nor find a value that hashes like a registered token
 * other than by guessing online (see docs/tokens.md).
 *
 * The message is absorbed one 64-bit little-endian word at a time, so the
 * XDP program can hash a byte stream as it scans it: bg_sip_init(), then
 * bg_sip_word() for every full word, then bg_sip_final() with the 0-7
 * bytes left and the total length. bg_siphash() does all three on a buffer.
 */
#ifndef BG_SIPHASH_H
#define BG_SIPHASH_H

#include "bg_compat.h"

struct bg_sip {
	__u64 v0, v1, v2, v3;
};

#define BG_SIP_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static __always_inline void bg_sip_round(struct bg_sip *s)
{
	s->v0 += s->v1;
	s->v1 = BG_SIP_ROTL(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = BG_SIP_ROTL(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = BG_SIP_ROTL(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = BG_SIP_ROTL(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = BG_SIP_ROTL(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = BG_SIP_ROTL(s->v2, 32);
}

/* k0, k1: the key's two halves, each read little-endian from its bytes. */
static __always_inline void bg_sip_init(struct bg_sip *s, __u64 k0, __u64 k1)
{
	s->v0 = 0x736f6d6570736575ULL ^ k0;
	s->v1 = 0x646f72616e646f6dULL ^ k1;
	s->v2 = 0x6c7967656e657261ULL ^ k0;
	s->v3 = 0x7465646279746573ULL ^ k1;
}

/* Absorb one full message word (8 bytes, little-endian): 2 rounds. */
static __always_inline void bg_sip_word(struct bg_sip *s, __u64 m)
{
	s->v3 ^= m;
	bg_sip_round(s);
	bg_sip_round(s);
	s->v0 ^= m;
}

/*
 * tail: the last len % 8 bytes, little-endian (byte i at bits 8i..8i+7);
 * len: the message length in bytes. 4 finalization rounds.
 */
static __always_inline __u64 bg_sip_final(struct bg_sip *s, __u64 tail, __u64 len)
{
	bg_sip_word(s, (len << 56) | tail);
	s->v2 ^= 0xff;
	bg_sip_round(s);
	bg_sip_round(s);
	bg_sip_round(s);
	bg_sip_round(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

#ifndef __bpf__
/* Little-endian load of n <= 8 bytes, whatever the CPU's byte order. */
static inline __u64 bg_sip_le(const __u8 *p, __u32 n)
{
	__u64 w = 0;
	__u32 i;

	for (i = 0; i < n && i < 8; i++)
		w |= (__u64)p[i] << (8 * i);
	return w;
}

/* SipHash-2-4 of a buffer (host side; the XDP program streams, see above). */
static inline __u64 bg_siphash(__u64 k0, __u64 k1, const void *msg, __u32 len)
{
	const __u8 *p = (const __u8 *)msg;
	struct bg_sip s;
	__u32 off;

	bg_sip_init(&s, k0, k1);
	for (off = 0; off + 8 <= len; off += 8)
		bg_sip_word(&s, bg_sip_le(p + off, 8));
	return bg_sip_final(&s, bg_sip_le(p + off, len - off), len);
}
#endif

#endif /* BG_SIPHASH_H */
