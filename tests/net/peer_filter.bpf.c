// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Another XDP program for tests/net/test_multi.sh, loaded through libxdp
 * beside burstgate: it drops IPv4 UDP to port PEER_DROP_PORT, passes the
 * rest, and counts in its own map the UDP it passes, what it drops, and
 * all else (neighbour discovery and the like), so the test can tell which
 * program saw (and dropped) which of its packets.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define PEER_DROP_PORT 7777

enum { PEER_UDP_PASSED = 0, PEER_DROPPED = 1, PEER_OTHER = 2 };

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME); /* under xdp-loader's --pin-path */
} peer_counts SEC(".maps");

static __always_inline int count(__u32 what, int verdict)
{
	__u64 *c = bpf_map_lookup_elem(&peer_counts, &what);

	if (c)
		(*c)++;
	return verdict;
}

SEC("xdp")
int peer_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->protocol != IPPROTO_UDP || ip->ihl != 5)
		return count(PEER_OTHER, XDP_PASS);
	udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > end)
		return count(PEER_OTHER, XDP_PASS);
	if (udp->dest != bpf_htons(PEER_DROP_PORT))
		return count(PEER_UDP_PASSED, XDP_PASS);
	return count(PEER_DROPPED, XDP_DROP);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
