// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The benchmark's own XDP programs. None of them is part of burstgate:
 *
 *   bb_drop    the ceiling: XDP_DROP and nothing else
 *   bb_pass    the receiver while a netfilter peer is active: rewrites the
 *              UDP destination port to that peer's port (each peer's rule
 *              matches only its own port), then XDP_PASS
 *   bb_gen     the traffic generator, run by BPF_PROG_RUN in live-frames
 *              mode: rotates the IPv4 source over n_src addresses, fixes
 *              the IP checksum, and transmits (XDP_TX)
 *   bb_rotate  the scale benchmark's driver under BPF_PROG_TEST_RUN: gives
 *              each run a pseudo-random source among n_src, then tail-calls
 *              the program under test (burstgate, or bb_drop as baseline)
 *
 * Every knob is a .bss variable the bench writes through the skeleton's
 * mmap between runs; the programs only read them.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* bb_pass: UDP destination port of the active netfilter peer (host order). */
volatile __u16 pass_port;

/* bb_gen and bb_rotate: sources are src_base + 0 .. n_src - 1 (host order). */
volatile __u32 src_base;
volatile __u32 n_src;
/* bb_gen: IP header checksum partial sum with the source address zeroed. */
volatile __u32 csum_nosrc;
/* bb_rotate: which slot of bb_next to tail-call. */
volatile __u32 next_slot;

/* Per-CPU packet sequence of bb_gen and bb_rotate. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bb_seq SEC(".maps");

/* bb_rotate's targets: 0 bb_drop, then burstgate programs under test. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} bb_next SEC(".maps");

#define L3_OFF sizeof(struct ethhdr)
#define L4_OFF (L3_OFF + sizeof(struct iphdr)) /* frames have no IP options */

SEC("xdp")
int bb_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int bb_pass(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct udphdr *udp = data + L4_OFF;

	/* Generator frames only: IPv4, UDP, checksum 0 (so no fix-up). */
	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	udp->dest = bpf_htons(pass_port);
	return XDP_PASS;
}

/* Next source index of this CPU's sequence; Knuth's multiplicative hash
 * spreads consecutive packets over all sources (and so over cache lines). */
static __always_inline __u32 next_src(void)
{
	__u32 zero = 0, n = n_src;
	__u64 *seq = bpf_map_lookup_elem(&bb_seq, &zero);
	__u64 s;

	if (!seq || !n)
		return 0;
	s = (*seq)++;
	return (__u32)((s * 2654435761ULL) % n);
}

SEC("xdp")
int bb_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + L3_OFF;
	__u32 src, sum;

	if ((void *)(ip + 1) > data_end)
		return XDP_ABORTED;
	src = src_base + next_src();
	ip->saddr = bpf_htonl(src);
	/* Internet checksum of the header: precomputed sum plus the source. */
	sum = csum_nosrc + (src >> 16) + (src & 0xffff);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	ip->check = bpf_htons((__u16)~sum); /* sum is of big-endian words */
	return XDP_TX;
}

SEC("xdp")
int bb_rotate(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + L3_OFF;

	if ((void *)(ip + 1) > data_end)
		return XDP_ABORTED;
	/* burstgate never reads the checksum: no need to fix it here. */
	ip->saddr = bpf_htonl(src_base + next_src());
	bpf_tail_call(ctx, &bb_next, next_slot);
	return XDP_ABORTED;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
