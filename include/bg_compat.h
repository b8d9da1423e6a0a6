/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Lets the shared headers (bucket math, packet parser) compile both for the
 * BPF target and for the host, so the unit tests run the very lines the
 * kernel runs.
 */
#ifndef BG_COMPAT_H
#define BG_COMPAT_H

#include <linux/types.h>

#ifdef __bpf__
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define bg_ntohs(x) bpf_ntohs(x)
#define bg_htons(x) bpf_htons(x)
#define bg_ntohl(x) bpf_ntohl(x)
/* Constant-trip loops are unrolled: cheapest for the verifier and the CPU. */
#define BG_UNROLL _Pragma("unroll")
#else /* host */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define bg_ntohs(x) ntohs(x)
#define bg_htons(x) htons(x)
#define bg_ntohl(x) ntohl(x)
#define BG_UNROLL
#endif

/*
 * One 64-bit compare-and-swap. In BPF this becomes BPF_ATOMIC|BPF_CMPXCHG
 * (kernel 5.12+, clang -mcpu=v3); on the host, the same builtin.
 */
#define bg_cmpxchg(ptr, old, new) __sync_val_compare_and_swap(ptr, old, new)
#define bg_atomic_add(ptr, val) __sync_fetch_and_add(ptr, val)
#define bg_read_once(x) (*(volatile __typeof__(x) *)&(x))

#endif /* BG_COMPAT_H */
