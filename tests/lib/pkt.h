/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Test packet builder, shared by the host parser tests and the BPF
 * fixtures: a spec in, real frame bytes out.
 */
#ifndef BG_TEST_PKT_H
#define BG_TEST_PKT_H

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <stdint.h>
#include <string.h>

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

struct pkt_spec {
	int nvlan; /* tags to add, outer first */
	uint16_t tpid[3]; /* 0: 802.1Q */
	uint16_t vid[3];
	uint16_t ethertype; /* 0: from ip */
	int ip; /* 4 or 6; 0 with ethertype for non-IP */
	const char *src; /* default 198.18.0.1 / 2001:db8::1 */
	const char *dst;
	int ihl; /* IPv4 header words; 0: 5 (options are NOPs) */
	uint16_t frag; /* IPv4 flags+offset field, host order */
	uint16_t tot_len; /* IPv4 total length override; 0: computed */
	int ver; /* override IP version field; 0: normal */
	int nnext; /* how many IPv6 extension headers */
	int next[8]; /* their protocol numbers, in order */
	uint16_t frag6; /* IPv6 fragment header offset+M field */
	int proto; /* IPPROTO_*; 0: UDP */
	uint16_t sport, dport;
	int tcp_doff; /* TCP header words; 0: 5 */
	uint8_t tcp_flags; /* TCP flags byte (SYN 0x02, ACK 0x10, PSH 0x08) */
	size_t payload; /* bytes after L4 */
	const void *data; /* payload bytes: data_len of them instead of a pattern */
	size_t data_len;
	size_t cut; /* nonzero: truncate the frame to this many bytes */
};

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Build the frame into buf; returns its length. */
static inline size_t pkt_build(const struct pkt_spec *s, uint8_t *buf,
			       size_t cap)
{
	size_t off = 0, l3, l4, len, i;
	int proto = s->proto ? s->proto : IPPROTO_UDP;
	uint16_t et;

	memset(buf, 0, cap);
	/* Ethernet: locally administered MACs */
	memcpy(buf, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	off = 12;
	for (i = 0; i < (size_t)s->nvlan; i++) {
		put16(buf + off, s->tpid[i] ? s->tpid[i] : ETH_P_8021Q);
		put16(buf + off + 2, s->vid[i]);
		off += 4;
	}
	et = s->ethertype ? s->ethertype : s->ip == 6 ? ETH_P_IPV6 : ETH_P_IP;
	put16(buf + off, et);
	off += 2;
	l3 = off;

	if (s->ip == 4) {
		size_t hl = (size_t)(s->ihl ? s->ihl : 5) * 4;

		buf[off] = (uint8_t)(((s->ver ? s->ver : 4) << 4) | (hl / 4));
		buf[off + 6] = (uint8_t)(s->frag >> 8);
		buf[off + 7] = (uint8_t)s->frag;
		buf[off + 8] = 64;
		buf[off + 9] = (uint8_t)proto;
		inet_pton(AF_INET, s->src ? s->src : "198.18.0.1", buf + off + 12);
		inet_pton(AF_INET, s->dst ? s->dst : "198.18.0.2", buf + off + 16);
		for (i = 20; i < hl; i++)
			buf[off + i] = 1; /* NOP options */
		off += hl;
	} else if (s->ip == 6) {
		uint8_t *nh;

		buf[off] = (uint8_t)((s->ver ? s->ver : 6) << 4);
		buf[off + 7] = 64;
		inet_pton(AF_INET6, s->src ? s->src : "2001:db8::1", buf + off + 8);
		inet_pton(AF_INET6, s->dst ? s->dst : "2001:db8::2", buf + off + 24);
		nh = buf + off + 6;
		off += 40;
		for (i = 0; i < (size_t)s->nnext && i < 8; i++) {
			*nh = (uint8_t)s->next[i];
			nh = buf + off;
			if (s->next[i] == IPPROTO_FRAGMENT) {
				put16(buf + off + 2, s->frag6);
				off += 8;
			} else if (s->next[i] == IPPROTO_AH) {
				buf[off + 1] = 1; /* (1 + 2) * 4 = 12 bytes */
				off += 12;
			} else {
				buf[off + 1] = 0; /* (0 + 1) * 8 = 8 bytes */
				off += 8;
			}
		}
		*nh = (uint8_t)proto;
	}

	l4 = off;
	if (s->ip) {
		if (proto == IPPROTO_TCP) {
			put16(buf + off, s->sport);
			put16(buf + off + 2, s->dport);
			buf[off + 12] = (uint8_t)((s->tcp_doff ? s->tcp_doff : 5) << 4);
			buf[off + 13] = s->tcp_flags;
			off += (size_t)(s->tcp_doff && s->tcp_doff > 5 ? s->tcp_doff : 5) * 4;
		} else if (proto == IPPROTO_UDP) {
			put16(buf + off, s->sport);
			put16(buf + off + 2, s->dport);
			put16(buf + off + 4, (uint16_t)(8 + s->payload));
			off += 8;
		} else {
			off += 8; /* ICMP-sized */
		}
	}
	if (s->data) {
		memcpy(buf + off, s->data, s->data_len);
		off += s->data_len;
	} else {
		for (i = 0; i < s->payload; i++)
			buf[off + i] = (uint8_t)('a' + i % 26);
		off += s->payload;
	}
	len = off;

	if (s->ip == 4)
		put16(buf + l3 + 2, s->tot_len ? s->tot_len : (uint16_t)(len - l3));
	else if (s->ip == 6)
		put16(buf + l3 + 4, (uint16_t)(len - l3 - 40));
	(void)l4;
	if (len < 60) /* Ethernet minimum, as on the wire */
		len = 60;
	if (s->cut && s->cut < len)
		len = s->cut;
	return len;
}

#endif /* BG_TEST_PKT_H */
