// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The packet parser of include/bg_parse.h compiled for the host: every
 * outcome, from real frame bytes.
 */
#include <arpa/inet.h>
#include <linux/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_parse.h"
#include "pkt.h"
#include "unit.h"

struct parse_case {
	const char *name;
	struct pkt_spec spec;
	int outcome;
	int ip_ver; /* 0: source unknown */
	int sport, dport; /* -1: don't care */
	int nvlan;
};

#define UDP(...)                                                                       \
	{                                                                              \
		.ip = 4, .proto = IPPROTO_UDP, .sport = 1111, .dport = 53, __VA_ARGS__ \
	}
#define UDP6(...)                                                                      \
	{                                                                              \
		.ip = 6, .proto = IPPROTO_UDP, .sport = 1111, .dport = 53, __VA_ARGS__ \
	}

static const struct parse_case cases[] = {
	{ "ipv4 udp", UDP(), BG_C_PARSE_UDP, 4, 1111, 53, 0 },
	{ "ipv4 tcp",
	  { .ip = 4, .proto = IPPROTO_TCP, .sport = 40000, .dport = 443 },
	  BG_C_PARSE_TCP,
	  4,
	  40000,
	  443,
	  0 },
	{ "ipv4 tcp with options",
	  { .ip = 4, .proto = IPPROTO_TCP, .sport = 1, .dport = 80, .tcp_doff = 8 },
	  BG_C_PARSE_TCP,
	  4,
	  1,
	  80,
	  0 },
	{ "ipv4 options (ihl 15)", UDP(.ihl = 15), BG_C_PARSE_UDP, 4, 1111, 53, 0 },
	{ "ipv4 icmp", { .ip = 4, .proto = IPPROTO_ICMP }, BG_C_PARSE_OTHER_L4, 4, 0, 0, 0 },
	{ "ipv4 first fragment has ports", UDP(.frag = 0x2000), BG_C_PARSE_UDP, 4, 1111, 53, 0 },
	{ "ipv4 non-first fragment", UDP(.frag = 0x0010), BG_C_PARSE_FRAGMENT, 4, 0, 0, 0 },
	{ "ipv4 last fragment", UDP(.frag = 0x00b9), BG_C_PARSE_FRAGMENT, 4, 0, 0, 0 },
	{ "ipv4 fragment at offset 8", UDP(.frag = 0x2001), BG_C_PARSE_FRAGMENT, 4, 0, 0, 0 },
	{ "ipv4 don't-fragment is not a fragment", UDP(.frag = 0x4000), BG_C_PARSE_UDP, 4, 1111, 53,
	  0 },
	{ "802.1Q", UDP(.nvlan = 1, .vid = { 100 }), BG_C_PARSE_UDP, 4, 1111, 53, 1 },
	{ "QinQ 802.1ad + 802.1Q",
	  UDP(.nvlan = 2, .tpid = { ETH_P_8021AD, ETH_P_8021Q }, .vid = { 10, 20 }), BG_C_PARSE_UDP,
	  4, 1111, 53, 2 },
	{ "three tags", UDP(.nvlan = 3, .vid = { 1, 2, 3 }), BG_C_PARSE_VLAN_LIMIT, 0, -1, -1, 2 },
	{ "arp", { .ethertype = 0x0806 }, BG_C_PARSE_NON_IP, 0, -1, -1, 0 },
	{ "lldp behind a tag",
	  { .ethertype = 0x88cc, .nvlan = 1 },
	  BG_C_PARSE_NON_IP,
	  0,
	  -1,
	  -1,
	  1 },
	{ "ipv6 udp", UDP6(), BG_C_PARSE_UDP, 6, 1111, 53, 0 },
	{ "ipv6 tcp",
	  { .ip = 6, .proto = IPPROTO_TCP, .sport = 5, .dport = 443 },
	  BG_C_PARSE_TCP,
	  6,
	  5,
	  443,
	  0 },
	{ "ipv6 hop-by-hop, dstopts, routing",
	  UDP6(.nnext = 3, .next = { IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_ROUTING }),
	  BG_C_PARSE_UDP, 6, 1111, 53, 0 },
	{ "ipv6 AH", UDP6(.nnext = 1, .next = { IPPROTO_AH }), BG_C_PARSE_UDP, 6, 1111, 53, 0 },
	{ "ipv6 first fragment", UDP6(.nnext = 1, .next = { IPPROTO_FRAGMENT }, .frag6 = 1),
	  BG_C_PARSE_UDP, 6, 1111, 53, 0 },
	{ "ipv6 non-first fragment",
	  UDP6(.nnext = 1, .next = { IPPROTO_FRAGMENT }, .frag6 = 0x0100), BG_C_PARSE_FRAGMENT, 6,
	  0, 0, 0 },
	{ "ipv6 fragment at offset 8",
	  UDP6(.nnext = 1, .next = { IPPROTO_FRAGMENT }, .frag6 = 0x0009), BG_C_PARSE_FRAGMENT, 6,
	  0, 0, 0 },
	{ "ipv6 six extension headers", UDP6(.nnext = 6, .next = { 0, 60, 60, 60, 60, 43 }),
	  BG_C_PARSE_UDP, 6, 1111, 53, 0 },
	{ "ipv6 seven extension headers", UDP6(.nnext = 7, .next = { 0, 60, 60, 60, 60, 60, 43 }),
	  BG_C_PARSE_IPV6_EXT_LIMIT, 6, 0, 0, 0 },
	{ "ipv6 icmpv6", { .ip = 6, .proto = IPPROTO_ICMPV6 }, BG_C_PARSE_OTHER_L4, 6, 0, 0, 0 },
	{ "ipv6 in QinQ", UDP6(.nvlan = 2, .tpid = { ETH_P_8021AD }), BG_C_PARSE_UDP, 6, 1111, 53,
	  2 },
	/* malformed */
	{ "runt ethernet", { .ethertype = 0x0800, .cut = 13 }, BG_C_PARSE_TRUNC_ETH, 0, -1, -1, 0 },
	{ "cut in the vlan tag", UDP(.nvlan = 1, .cut = 16), BG_C_PARSE_TRUNC_VLAN, 0, -1, -1, 0 },
	{ "cut in the ipv4 header", UDP(.cut = 14 + 19), BG_C_PARSE_TRUNC_IP, 0, -1, -1, 0 },
	{ "cut in the ipv4 options", UDP(.ihl = 10, .cut = 14 + 30), BG_C_PARSE_TRUNC_IP, 0, -1, -1,
	  0 },
	{ "ipv4 ihl 4", UDP(.ihl = 4), BG_C_PARSE_BAD_IP, 0, -1, -1, 0 },
	{ "ipv4 version 5", UDP(.ver = 5), BG_C_PARSE_BAD_IP, 0, -1, -1, 0 },
	{ "ipv4 total length < header", UDP(.tot_len = 10), BG_C_PARSE_BAD_IP, 0, -1, -1, 0 },
	{ "ipv6 version 4", UDP6(.ver = 4), BG_C_PARSE_BAD_IP, 0, -1, -1, 0 },
	{ "cut in the ipv6 header", UDP6(.cut = 14 + 39), BG_C_PARSE_TRUNC_IP, 0, -1, -1, 0 },
	{ "cut in an ipv6 extension header", UDP6(.nnext = 1, .next = { 0 }, .cut = 14 + 41),
	  BG_C_PARSE_TRUNC_IP, 6, 0, 0, 0 },
	{ "cut in the udp header", UDP(.cut = 14 + 20 + 7), BG_C_PARSE_BAD_L4, 4, 0, 0, 0 },
	{ "cut in the tcp header",
	  { .ip = 4, .proto = IPPROTO_TCP, .cut = 14 + 20 + 19 },
	  BG_C_PARSE_BAD_L4,
	  4,
	  0,
	  0,
	  0 },
	{ "tcp data offset 4",
	  { .ip = 4, .proto = IPPROTO_TCP, .tcp_doff = 4 },
	  BG_C_PARSE_BAD_L4,
	  4,
	  0,
	  0,
	  0 },
};

static void test_cases(void)
{
	uint8_t buf[2048];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *c = &cases[i];
		struct bg_pkt p = {};
		size_t len = pkt_build(&c->spec, buf, sizeof(buf));
		int out = bg_parse(buf, buf + len, &p);
		int ok = out == c->outcome && p.ip_ver == c->ip_ver && p.nvlan == c->nvlan &&
			 p.len == len && (c->sport < 0 || p.sport == c->sport) &&
			 (c->dport < 0 || p.dport == c->dport);

		CU_ASSERT(ok);
		if (!ok)
			printf("\n  %s: outcome %d (want %d) ip_ver %d (want %d) ports %u/%u nvlan %u",
			       c->name, out, c->outcome, p.ip_ver, c->ip_ver, p.sport, p.dport,
			       p.nvlan);
		CU_ASSERT_EQUAL(bg_parse_malformed(out), out >= BG_C_PARSE_BAD_L4);
	}
}

/* The addresses, VLAN IDs and offsets later stages rely on. */
static void test_fields(void)
{
	struct pkt_spec s4 = { .ip = 4,
			       .proto = IPPROTO_TCP,
			       .src = "203.0.113.9",
			       .nvlan = 1,
			       .vid = { 0xabc },
			       .payload = 10,
			       .tcp_doff = 6,
			       .sport = 1,
			       .dport = 2 };
	struct pkt_spec s6 = { .ip = 6,
			       .proto = IPPROTO_UDP,
			       .src = "2001:db8:1::42",
			       .nnext = 1,
			       .next = { IPPROTO_HOPOPTS },
			       .sport = 1,
			       .dport = 2 };
	uint8_t buf[2048], want[16];
	struct bg_pkt p = {};
	size_t len;

	len = pkt_build(&s4, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bg_parse(buf, buf + len, &p), BG_C_PARSE_TCP);
	inet_pton(AF_INET, "203.0.113.9", want);
	CU_ASSERT_EQUAL(memcmp(&p.saddr[0], want, 4), 0);
	CU_ASSERT_EQUAL(p.vlan[0], 0xabc);
	CU_ASSERT_EQUAL(p.l3_off, 18);
	CU_ASSERT_EQUAL(p.l4_off, 38);
	CU_ASSERT_EQUAL(p.payload_off, 38 + 24);
	CU_ASSERT_EQUAL(p.l4_proto, IPPROTO_TCP);

	memset(&p, 0, sizeof(p));
	len = pkt_build(&s6, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bg_parse(buf, buf + len, &p), BG_C_PARSE_UDP);
	inet_pton(AF_INET6, "2001:db8:1::42", want);
	CU_ASSERT_EQUAL(memcmp(p.saddr, want, 16), 0);
	CU_ASSERT_EQUAL(p.l4_off, 14 + 40 + 8);
	CU_ASSERT_EQUAL(p.payload_off, 14 + 40 + 8 + 8);
}

/* Every prefix of a frame parses without reading past its end. */
static void test_every_truncation(void)
{
	static const struct pkt_spec specs[] = {
		{ .ip = 4, .proto = IPPROTO_TCP, .ihl = 7, .nvlan = 2, .payload = 20 },
		{ .ip = 6, .proto = IPPROTO_UDP, .nnext = 3, .next = { 0, 44, 60 }, .payload = 20 },
	};
	uint8_t buf[2048], *copy;
	size_t s, cut, len;

	for (s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
		len = pkt_build(&specs[s], buf, sizeof(buf));
		for (cut = 0; cut <= len; cut++) {
			struct bg_pkt p = {};
			int out;

			/* an exact-size heap copy, so a stray read would hit redzones */
			copy = malloc(cut ? cut : 1);
			memcpy(copy, buf, cut);
			out = bg_parse(copy, copy + cut, &p);
			CU_ASSERT(out >= 0 && out < BG_C_IPV4);
			free(copy);
		}
	}
}

int add_parse_suite(void)
{
	static const struct unit_test tests[] = {
		{ "outcome of every case", test_cases },
		{ "addresses, VLAN IDs, offsets", test_fields },
		{ "every truncation stays in bounds", test_every_truncation },
		{ NULL, NULL },
	};

	return unit_add_suite("parse", tests);
}
