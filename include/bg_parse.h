/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parser shared by the XDP program and the host unit tests.
 *
 * Ethernet, up to BG_VLAN_MAX tags (802.1Q or 802.1ad), IPv4 (options,
 * fragments) or IPv6 (up to BG_IPV6_EXT_MAX extension headers), then TCP or
 * UDP ports. Every path is bounded: the loops have constant trip counts and
 * every read is checked against data_end first, which is also what the
 * verifier demands.
 *
 * The outcome is one of the BG_C_PARSE_* counters. What happens next
 * depends on two facts the parser reports:
 *   - p->ip_ver != 0: the source address is known, so the packet is
 *     classified and metered, even if something after the IP header is
 *     malformed (otherwise a truncated header would bypass every limit);
 *   - bg_parse_malformed(outcome): the malformed verdict applies (pass by
 *     default) to packets the meter did not already drop.
 * Non-IP frames (ARP, LLDP...) are passed and never metered.
 */
#ifndef BG_PARSE_H
#define BG_PARSE_H

#include "bg_compat.h"
#include "bg_common.h"
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#define BG_VLAN_MAX 2
#define BG_IPV6_EXT_MAX 6

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* What the parser learnt. Addresses in network order, the rest host order. */
struct bg_pkt {
	__u32 len; /* frame length in bytes: what the byte bucket is charged */
	__u16 l3_off; /* offset of the IP header */
	__u16 l4_off; /* offset of the L4 header; 0: none */
	__u16 payload_off; /* offset of the TCP/UDP payload; 0: none */
	__u16 sport; /* 0 when there are no ports */
	__u16 dport;
	__u16 vlan[BG_VLAN_MAX]; /* VLAN IDs, outer first */
	__u8 nvlan;
	__u8 ip_ver; /* 4 or 6 once the source is known; 0 before */
	__u8 l4_proto; /* IPPROTO_*, after any IPv6 extension headers */
	__u8 pad;
	__u32 saddr[4]; /* IPv4 in saddr[0] */
	__u32 daddr[4];
};

struct bg_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* The fixed part of hop-by-hop, routing, destination options and AH. */
struct bg_ipv6_opt {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct bg_ipv6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset in 8-byte units << 3, M flag in bit 0 */
	__be32 id;
};

static __always_inline int bg_parse_malformed(int outcome)
{
	return outcome >= BG_C_PARSE_BAD_L4 && outcome <= BG_C_PARSE_BAD_IP;
}

static __always_inline int bg_ipv6_is_ext(__u8 next)
{
	return next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
	       next == IPPROTO_AH || next == IPPROTO_FRAGMENT;
}

static __always_inline int bg_parse_l4(struct bg_pkt *p, void *data, void *l4, void *data_end,
				       __u8 proto)
{
	p->l4_proto = proto;
	p->l4_off = (__u16)(l4 - data);

	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;
		__u32 doff;

		if ((void *)(th + 1) > data_end)
			return BG_C_PARSE_BAD_L4;
		doff = th->doff * 4;
		if (doff < sizeof(*th))
			return BG_C_PARSE_BAD_L4;
		p->sport = bg_ntohs(th->source);
		p->dport = bg_ntohs(th->dest);
		if (l4 + doff <= data_end)
			p->payload_off = (__u16)(p->l4_off + doff);
		return BG_C_PARSE_TCP;
	}
	if (proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > data_end)
			return BG_C_PARSE_BAD_L4;
		p->sport = bg_ntohs(uh->source);
		p->dport = bg_ntohs(uh->dest);
		p->payload_off = (__u16)(p->l4_off + sizeof(*uh));
		return BG_C_PARSE_UDP;
	}
	return BG_C_PARSE_OTHER_L4;
}

static __always_inline int bg_parse_ipv4(struct bg_pkt *p, void *data, void *l3, void *data_end)
{
	struct iphdr *ip = l3;
	__u32 hlen;

	if ((void *)(ip + 1) > data_end)
		return BG_C_PARSE_TRUNC_IP;
	if (ip->version != 4 || ip->ihl < 5)
		return BG_C_PARSE_BAD_IP;
	hlen = ip->ihl * 4;
	if (bg_ntohs(ip->tot_len) < hlen)
		return BG_C_PARSE_BAD_IP;
	if (l3 + hlen > data_end)
		return BG_C_PARSE_TRUNC_IP; /* options cut short */

	p->l3_off = (__u16)(l3 - data);
	p->ip_ver = 4;
	p->saddr[0] = ip->saddr;
	p->daddr[0] = ip->daddr;
	p->l4_proto = ip->protocol;
	/* Only the first fragment carries the L4 header. */
	if (ip->frag_off & bg_htons(0x1fff))
		return BG_C_PARSE_FRAGMENT;
	return bg_parse_l4(p, data, l3 + hlen, data_end, ip->protocol);
}

static __always_inline int bg_parse_ipv6(struct bg_pkt *p, void *data, void *l3, void *data_end)
{
	struct ipv6hdr *ip6 = l3;
	void *cur;
	__u8 next;
	int i;

	if ((void *)(ip6 + 1) > data_end)
		return BG_C_PARSE_TRUNC_IP;
	if (ip6->version != 6)
		return BG_C_PARSE_BAD_IP;

	p->l3_off = (__u16)(l3 - data);
	p->ip_ver = 6;
	__builtin_memcpy(p->saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->daddr, &ip6->daddr, 16);
	next = ip6->nexthdr;
	cur = ip6 + 1;

	BG_UNROLL
	for (i = 0; i < BG_IPV6_EXT_MAX; i++) {
		if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS) {
			struct bg_ipv6_opt *opt = cur;

			if ((void *)(opt + 1) > data_end)
				return BG_C_PARSE_TRUNC_IP;
			next = opt->nexthdr;
			cur += (opt->hdrlen + 1) * 8;
		} else if (next == IPPROTO_AH) {
			struct bg_ipv6_opt *opt = cur;

			if ((void *)(opt + 1) > data_end)
				return BG_C_PARSE_TRUNC_IP;
			next = opt->nexthdr;
			cur += (opt->hdrlen + 2) * 4;
		} else if (next == IPPROTO_FRAGMENT) {
			struct bg_ipv6_frag *fh = cur;

			if ((void *)(fh + 1) > data_end)
				return BG_C_PARSE_TRUNC_IP;
			next = fh->nexthdr;
			p->l4_proto = next;
			if (fh->frag_off & bg_htons(0xfff8))
				return BG_C_PARSE_FRAGMENT;
			cur = fh + 1;
		} else {
			break; /* not an extension header: the L4 header */
		}
	}
	if (bg_ipv6_is_ext(next)) {
		p->l4_proto = next;
		return BG_C_PARSE_IPV6_EXT_LIMIT;
	}
	return bg_parse_l4(p, data, cur, data_end, next);
}

/* Parse the frame in [data, data_end) into *p (which must start zeroed). */
static __always_inline int bg_parse(void *data, void *data_end, struct bg_pkt *p)
{
	struct ethhdr *eth = data;
	void *cur;
	__be16 proto;
	int i;

	p->len = (__u32)(data_end - data);
	if ((void *)(eth + 1) > data_end)
		return BG_C_PARSE_TRUNC_ETH;
	proto = eth->h_proto;
	cur = eth + 1;

	BG_UNROLL
	for (i = 0; i < BG_VLAN_MAX; i++) {
		struct bg_vlan_hdr *vh = cur;

		if (proto != bg_htons(ETH_P_8021Q) && proto != bg_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > data_end)
			return BG_C_PARSE_TRUNC_VLAN;
		p->vlan[i] = bg_ntohs(vh->tci) & 0x0fff;
		p->nvlan = i + 1;
		proto = vh->encap_proto;
		cur = vh + 1;
	}
	if (proto == bg_htons(ETH_P_8021Q) || proto == bg_htons(ETH_P_8021AD))
		return BG_C_PARSE_VLAN_LIMIT;

	if (proto == bg_htons(ETH_P_IP))
		return bg_parse_ipv4(p, data, cur, data_end);
	if (proto == bg_htons(ETH_P_IPV6))
		return bg_parse_ipv6(p, data, cur, data_end);
	return BG_C_PARSE_NON_IP;
}

#endif /* BG_PARSE_H */
