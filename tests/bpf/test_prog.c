// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The real XDP object, loaded with its maps in a private pin folder, driven
 * by BPF_PROG_TEST_RUN with real frames: verdicts and counters, as a user
 * would read them with `burstctl stats`. Needs root.
 *
 * BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header, so the
 * "runt" case is covered by the host parser tests only.
 */
#include <arpa/inet.h> /* before linux/in.h, or the two collide */
#include <CUnit/Basic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bg_attach.h"
#include "bg_events.h"
#include "bg_identity.h"
#include "bg_log.h"
#include "bg_parse.h"
#include "bg_prefix.h"
#include "bg_setup.h"
#include "bg_state.h"
#include "bpftest.h"
#include "pkt.h"

/* The fixture: fresh state and program for every test. */
char pin_path[128];
struct bg_state st;
static struct bg_xdp *skel;
int prog_fd = -1;

int fx_up(void)
{
	snprintf(pin_path, sizeof(pin_path), "/sys/fs/bpf/bgtest_%d", getpid());
	if (bg_state_setup(pin_path, 1024, 1024, NULL))
		return -1;
	if (bg_prog_load(pin_path, &skel))
		return -1;
	prog_fd = bg_prog_fd(skel);
	return bg_state_open(&st, pin_path, BG_OPEN_READ);
}

void fx_down(void)
{
	bg_state_close(&st);
	bg_prog_free(skel);
	skel = NULL;
	prog_fd = -1;
	bg_state_teardown(pin_path);
}

/* Run one frame through the program; returns the XDP verdict. */
int run_frame(int fd, const uint8_t *buf, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = (__u32)len, .repeat = 1);
	int err = bpf_prog_test_run_opts(fd, &o);

	CU_ASSERT_EQUAL(err, 0);
	return err ? -1 : (int)o.retval;
}

int run_spec(const struct pkt_spec *s, size_t *len_out)
{
	uint8_t buf[2048];
	size_t len = pkt_build(s, buf, sizeof(buf));

	if (len_out)
		*len_out = len;
	return run_frame(prog_fd, buf, len);
}

/* Run n copies; count verdicts. */
void run_n(const struct pkt_spec *s, int n, int *pass, int *drop)
{
	int i, v;

	*pass = *drop = 0;
	for (i = 0; i < n; i++) {
		v = run_spec(s, NULL);
		*pass += v == XDP_PASS;
		*drop += v == XDP_DROP;
	}
}

__u64 counter(__u32 c)
{
	struct bg_counters all = {};

	CU_ASSERT_EQUAL(bg_counters_read(&st, &all), 0);
	return c < BG_C_MAX ? all.c[c] : 0;
}

struct bg_id_stats stats_of(const char *name)
{
	struct bg_id_stats s = {};
	struct bg_identity id;

	CU_ASSERT_EQUAL_FATAL(bg_identity_get(&st, name, &id), 0);
	CU_ASSERT_EQUAL(
		bg_percpu_sum(&st, st.stats_fd, id.id, (__u64 *)&s, sizeof(s) / sizeof(__u64)), 0);
	return s;
}

void add_id(const char *name, __u64 pps, __u64 burst, __u64 bits, __u64 bburst, __u32 action)
{
	struct bg_limits l = { .rate_pps = pps,
			       .burst_pkts = burst,
			       .byte_rate_bits = bits,
			       .burst_bytes = bburst,
			       .action = action };
	unsigned int mask = BG_LIM_ACTION | (pps ? BG_LIM_RATE | BG_LIM_BURST : 0) |
			    (bits ? BG_LIM_BYTE_RATE | BG_LIM_BYTE_BURST : 0);

	CU_ASSERT_EQUAL_FATAL(bg_identity_add(&st, name, &l, mask, NULL), 0);
}

void add_pfx(const char *cidr, const char *name)
{
	struct bg_identity id;
	struct bg_prefix p;
	char err[128];

	CU_ASSERT_EQUAL_FATAL(bg_prefix_parse(cidr, &p, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(bg_identity_get(&st, name, &id), 0);
	CU_ASSERT_EQUAL_FATAL(bg_prefix_add(&st, &p, id.id), 0);
}

static void set_global(int shadow, int malformed)
{
	struct bg_global g;

	CU_ASSERT_EQUAL_FATAL(bg_global_get(&st, &g), 0);
	g.shadow_all = (__u32)shadow;
	g.malformed = (__u32)malformed;
	CU_ASSERT_EQUAL_FATAL(bg_global_put(&st, &g), 0);
}

/* ---- Parse outcomes, through the kernel ---- */

struct fixture {
	const char *name;
	struct pkt_spec spec;
	int verdict;
	int outcome; /* the BG_C_PARSE_* counter that must count it */
	int metered; /* classified (to the default identity here) */
};

#define V4(...)                                              \
	{                                                    \
		.ip = 4, .sport = 1, .dport = 2, __VA_ARGS__ \
	} /* UDP unless .proto */
#define V6(...)                                              \
	{                                                    \
		.ip = 6, .sport = 1, .dport = 2, __VA_ARGS__ \
	}

static const struct fixture parse_fixtures[] = {
	{ "ipv4 udp", V4(), XDP_PASS, BG_C_PARSE_UDP, 1 },
	{ "ipv4 tcp", V4(.proto = IPPROTO_TCP), XDP_PASS, BG_C_PARSE_TCP, 1 },
	{ "ipv4 icmp", V4(.proto = IPPROTO_ICMP), XDP_PASS, BG_C_PARSE_OTHER_L4, 1 },
	{ "ipv4 options", V4(.ihl = 15), XDP_PASS, BG_C_PARSE_UDP, 1 },
	{ "ipv4 fragment", V4(.frag = 0x0040), XDP_PASS, BG_C_PARSE_FRAGMENT, 1 },
	{ "ipv4 fragment at 8", V4(.frag = 0x2001), XDP_PASS, BG_C_PARSE_FRAGMENT, 1 },
	{ "ipv4 first fragment (MF, offset 0)", V4(.frag = 0x2000), XDP_PASS, BG_C_PARSE_UDP, 1 },
	{ "ipv6 tcp", V6(.proto = IPPROTO_TCP), XDP_PASS, BG_C_PARSE_TCP, 1 },
	{ "ipv6 ext headers", V6(.nnext = 4, .next = { 0, 60, 43, 51 }), XDP_PASS, BG_C_PARSE_UDP,
	  1 },
	{ "ipv6 fragment", V6(.nnext = 1, .next = { 44 }, .frag6 = 0x0800), XDP_PASS,
	  BG_C_PARSE_FRAGMENT, 1 },
	{ "ipv6 too many ext headers", V6(.nnext = 7, .next = { 0, 60, 60, 60, 60, 60, 60 }),
	  XDP_PASS, BG_C_PARSE_IPV6_EXT_LIMIT, 1 },
	{ "802.1Q", V4(.nvlan = 1, .vid = { 7 }), XDP_PASS, BG_C_PARSE_UDP, 1 },
	{ "QinQ", V6(.nvlan = 2, .tpid = { ETH_P_8021AD }), XDP_PASS, BG_C_PARSE_UDP, 1 },
	{ "three tags", V4(.nvlan = 3), XDP_PASS, BG_C_PARSE_VLAN_LIMIT, 0 },
	{ "arp", { .ethertype = 0x0806 }, XDP_PASS, BG_C_PARSE_NON_IP, 0 },
	{ "cut vlan", V4(.nvlan = 1, .cut = 15), XDP_PASS, BG_C_PARSE_TRUNC_VLAN, 0 },
	{ "cut ipv4", V4(.cut = 30), XDP_PASS, BG_C_PARSE_TRUNC_IP, 0 },
	{ "ipv4 ihl 3", V4(.ihl = 3), XDP_PASS, BG_C_PARSE_BAD_IP, 0 },
	{ "ipv6 bad version", V6(.ver = 7), XDP_PASS, BG_C_PARSE_BAD_IP, 0 },
	{ "cut udp", V4(.cut = 14 + 20 + 4), XDP_PASS, BG_C_PARSE_BAD_L4, 1 },
	{ "tcp doff 2", V4(.proto = IPPROTO_TCP, .tcp_doff = 2), XDP_PASS, BG_C_PARSE_BAD_L4, 1 },
	{ "cut ipv6 ext", V6(.nnext = 1, .next = { 0 }, .cut = 14 + 40 + 1), XDP_PASS,
	  BG_C_PARSE_TRUNC_IP, 1 },
};

static void test_parse_fixtures(void)
{
	size_t i;

	FX_UP();
	for (i = 0; i < sizeof(parse_fixtures) / sizeof(parse_fixtures[0]); i++) {
		const struct fixture *f = &parse_fixtures[i];
		__u64 before = counter((__u32)f->outcome);
		__u64 dflt = counter(BG_C_CLS_DEFAULT);
		struct bg_id_stats s0 = stats_of("default"), s1;
		int v = run_spec(&f->spec, NULL);

		s1 = stats_of("default");
		if (v != f->verdict || counter((__u32)f->outcome) != before + 1 ||
		    counter(BG_C_CLS_DEFAULT) != dflt + (__u64)f->metered ||
		    s1.passed_pkts != s0.passed_pkts + (__u64)f->metered) {
			printf("\n  fixture \"%s\": verdict %d, outcome counter +%llu, classified +%llu",
			       f->name, v,
			       (unsigned long long)(counter((__u32)f->outcome) - before),
			       (unsigned long long)(counter(BG_C_CLS_DEFAULT) - dflt));
			CU_FAIL("parse fixture");
		}
	}
	fx_down();
}

/* malformed drop: dropped and counted, unless the host is in shadow. */
static void test_malformed_verdict(void)
{
	struct pkt_spec bad = V4(.ihl = 3), cut = V4(.cut = 40), arp = { .ethertype = 0x0806 };

	FX_UP();
	set_global(0, BG_MALFORMED_DROP);
	CU_ASSERT_EQUAL(run_spec(&bad, NULL), XDP_DROP);
	CU_ASSERT_EQUAL(run_spec(&cut, NULL), XDP_DROP);
	CU_ASSERT_EQUAL(run_spec(&arp, NULL), XDP_PASS);
	CU_ASSERT_EQUAL(counter(BG_C_MALFORMED_DROPPED), 2);
	/* dropped before metering: the identity never saw them */
	CU_ASSERT_EQUAL(stats_of("default").passed_pkts, 0);
	set_global(1, BG_MALFORMED_DROP);
	CU_ASSERT_EQUAL(run_spec(&bad, NULL), XDP_PASS);
	CU_ASSERT_EQUAL(counter(BG_C_MALFORMED_SHADOW), 1);
	CU_ASSERT_EQUAL(counter(BG_C_MALFORMED_DROPPED), 2);
	fx_down();
}

/* ---- Classification ---- */

static void test_longest_prefix(void)
{
	struct pkt_spec host = V4(.src = "198.18.5.7"), in24 = V4(.src = "198.18.5.8"),
			in16 = V4(.src = "198.18.9.9"), out = V4(.src = "192.0.2.1");
	struct bg_prefix_entry *all;
	size_t len, n;

	FX_UP();
	add_id("wide", 0, 0, 0, 0, BG_ACT_ALLOW);
	add_id("narrow", 0, 0, 0, 0, BG_ACT_ALLOW);
	add_id("one", 0, 0, 0, 0, BG_ACT_ALLOW);
	add_pfx("198.18.0.0/16", "wide");
	add_pfx("198.18.5.0/24", "narrow");
	add_pfx("198.18.5.7/32", "one"); /* a host prefix: the hash map, tried first */
	run_spec(&host, NULL);
	run_spec(&in24, &len);
	run_spec(&in16, NULL);
	run_spec(&in16, NULL);
	run_spec(&out, NULL);
	CU_ASSERT_EQUAL(stats_of("one").passed_pkts, 1);
	CU_ASSERT_EQUAL(stats_of("narrow").passed_pkts, 1);
	CU_ASSERT_EQUAL(stats_of("narrow").passed_bytes, len);
	CU_ASSERT_EQUAL(stats_of("wide").passed_pkts, 2);
	CU_ASSERT_EQUAL(stats_of("default").passed_pkts, 1);
	CU_ASSERT_EQUAL(counter(BG_C_CLS_PREFIX4), 4);
	CU_ASSERT_EQUAL(counter(BG_C_CLS_DEFAULT), 1);
	CU_ASSERT_EQUAL(counter(BG_C_IPV4), 5);
	/* all three are listed, the host prefix as a /32 */
	CU_ASSERT_EQUAL_FATAL(bg_prefix_list(&st, &all, &n), 0);
	CU_ASSERT_EQUAL(n, 3);
	free(all);
	/* removing the host prefix hands its address back to the /24 */
	{
		struct bg_prefix p;
		char err[128];
		__u32 id;

		CU_ASSERT_EQUAL(bg_prefix_parse("198.18.5.7", &p, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(bg_prefix_lookup(&st, &p, &id), 0);
		CU_ASSERT_EQUAL(bg_prefix_del(&st, &p), 0);
		CU_ASSERT_EQUAL(bg_prefix_lookup(&st, &p, &id), -ENOENT);
	}
	run_spec(&host, NULL);
	CU_ASSERT_EQUAL(stats_of("narrow").passed_pkts, 2);
	CU_ASSERT_EQUAL(stats_of("one").passed_pkts, 1);

	/* two host prefixes, one removed: the other is still looked up */
	{
		struct pkt_spec h2 = V4(.src = "198.18.5.9");
		struct bg_prefix p;
		struct bg_global g;
		char err[128];

		add_pfx("198.18.5.7/32", "one");
		add_pfx("198.18.5.9/32", "one");
		CU_ASSERT_EQUAL(bg_prefix_parse("198.18.5.7", &p, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(bg_prefix_del(&st, &p), 0);
		CU_ASSERT_EQUAL(bg_global_get(&st, &g), 0);
		CU_ASSERT(g.pfx_maps & BG_PFX_HOST4);
		run_spec(&h2, NULL);
		CU_ASSERT_EQUAL(stats_of("one").passed_pkts, 2);
		/* the last one removed: the hash map is no longer looked in */
		CU_ASSERT_EQUAL(bg_prefix_parse("198.18.5.9", &p, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(bg_prefix_del(&st, &p), 0);
		CU_ASSERT_EQUAL(bg_global_get(&st, &g), 0);
		CU_ASSERT_FALSE(g.pfx_maps & BG_PFX_HOST4);
		CU_ASSERT(g.pfx_maps & BG_PFX_TRIE4);
		run_spec(&h2, NULL);
		CU_ASSERT_EQUAL(stats_of("narrow").passed_pkts, 3);
	}
	fx_down();
}

static void test_ipv6_prefix_and_vlans(void)
{
	struct pkt_spec a = V6(.src = "2001:db8:aa::1"),
			b = V6(.src = "2001:db8:aa:bb::1", .nvlan = 2, .tpid = { ETH_P_8021AD }),
			c = V6(.src = "2001:db8:ff::1"),
			v4 = V4(.src = "203.0.113.5", .nvlan = 2, .tpid = { ETH_P_8021AD });

	FX_UP();
	add_id("v6", 0, 0, 0, 0, BG_ACT_ALLOW);
	add_id("v6host", 0, 0, 0, 0, BG_ACT_ALLOW);
	add_id("v4", 0, 0, 0, 0, BG_ACT_ALLOW);
	add_pfx("2001:db8:aa::/48", "v6");
	add_pfx("2001:db8:aa:bb::1", "v6host");
	add_pfx("203.0.113.0/24", "v4");
	run_spec(&a, NULL);
	run_spec(&b, NULL);
	run_spec(&c, NULL);
	run_spec(&v4, NULL);
	CU_ASSERT_EQUAL(stats_of("v6").passed_pkts, 1);
	CU_ASSERT_EQUAL(stats_of("v6host").passed_pkts, 1);
	CU_ASSERT_EQUAL(stats_of("v4").passed_pkts, 1);
	CU_ASSERT_EQUAL(stats_of("default").passed_pkts, 1);
	CU_ASSERT_EQUAL(counter(BG_C_CLS_PREFIX6), 2);
	CU_ASSERT_EQUAL(counter(BG_C_IPV6), 3);
	fx_down();
}

/* A prefix left pointing at a cleared identity falls to the default, counted. */
static void test_stale_identity(void)
{
	struct pkt_spec p = V4(.src = "198.18.1.1");
	struct bg_id_cfg clear = {};
	struct bg_identity id;

	FX_UP();
	add_id("gone", 1, 1, 0, 0, BG_ACT_BLOCK);
	add_pfx("198.18.1.0/24", "gone");
	CU_ASSERT_EQUAL(bg_identity_get(&st, "gone", &id), 0);
	CU_ASSERT_EQUAL(bpf_map_update_elem(st.cfg_fd, &id.id, &clear, BPF_ANY), 0);
	CU_ASSERT_EQUAL(run_spec(&p, NULL), XDP_PASS);
	CU_ASSERT_EQUAL(counter(BG_C_CLS_STALE), 1);
	CU_ASSERT_EQUAL(stats_of("default").passed_pkts, 1);
	fx_down();
}

/* Deleting an identity removes its prefixes; a reused slot starts clean. */
static void test_delete_and_reuse(void)
{
	struct pkt_spec p = V4(.src = "198.18.1.1");
	struct bg_prefix_entry *pfx;
	struct bg_identity a, b;
	size_t n;
	int pass, drop;

	FX_UP();
	add_id("a", 1, 2, 0, 0, BG_ACT_ENFORCE);
	add_pfx("198.18.1.0/24", "a");
	run_n(&p, 5, &pass, &drop);
	CU_ASSERT_EQUAL(pass, 2);
	CU_ASSERT_EQUAL(bg_identity_get(&st, "a", &a), 0);
	CU_ASSERT_EQUAL(bg_identity_del(&st, "a"), 0);
	CU_ASSERT_EQUAL(bg_prefix_list(&st, &pfx, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	free(pfx);
	run_n(&p, 5, &pass, &drop);
	CU_ASSERT_EQUAL(pass, 5); /* default: allow */
	/* the next identity may take the same slot: fresh counters and buckets */
	add_id("b", 1, 3, 0, 0, BG_ACT_ENFORCE);
	CU_ASSERT_EQUAL(bg_identity_get(&st, "b", &b), 0);
	CU_ASSERT_EQUAL(stats_of("b").dropped_pkts, 0);
	add_pfx("198.18.1.0/24", "b");
	run_n(&p, 5, &pass, &drop);
	CU_ASSERT_EQUAL(pass, 3);
	CU_ASSERT_EQUAL(bg_identity_del(&st, "default"), -EINVAL);
	fx_down();
}

/* ---- Actions ---- */

static void test_actions(void)
{
	struct pkt_spec e = V4(.src = "198.18.0.1"), s = V4(.src = "198.18.0.2"),
			a = V4(.src = "198.18.0.3"), b = V4(.src = "198.18.0.4");
	struct bg_id_stats x;
	size_t len;
	int pass, drop, i;

	FX_UP();
	/* 1 packet/s, burst 5: in a test's few ms, exactly 5 conform */
	add_id("enforce", 1, 5, 0, 0, BG_ACT_ENFORCE);
	add_id("shadow", 1, 5, 0, 0, BG_ACT_SHADOW);
	add_id("allow", 1, 5, 0, 0, BG_ACT_ALLOW);
	add_id("block", 0, 0, 0, 0, BG_ACT_BLOCK);
	add_pfx("198.18.0.1", "enforce");
	add_pfx("198.18.0.2", "shadow");
	add_pfx("198.18.0.3", "allow");
	add_pfx("198.18.0.4", "block");

	/* enforce: the first 5 pass, then every one drops */
	for (i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(run_spec(&e, &len), i < 5 ? XDP_PASS : XDP_DROP);
	x = stats_of("enforce");
	CU_ASSERT_EQUAL(x.passed_pkts, 5);
	CU_ASSERT_EQUAL(x.dropped_pkts, 5);
	CU_ASSERT_EQUAL(x.passed_bytes, 5 * len);
	CU_ASSERT_EQUAL(x.dropped_bytes, 5 * len);
	CU_ASSERT_EQUAL(x.shadow_pkts, 0);

	run_n(&s, 10, &pass, &drop);
	x = stats_of("shadow");
	CU_ASSERT_EQUAL(pass, 10);
	CU_ASSERT_EQUAL(x.passed_pkts, 10);
	CU_ASSERT_EQUAL(x.shadow_pkts, 5);
	CU_ASSERT_EQUAL(x.shadow_bytes, 5 * len);
	CU_ASSERT_EQUAL(x.dropped_pkts, 0);

	run_n(&a, 10, &pass, &drop);
	CU_ASSERT_EQUAL(pass, 10);
	CU_ASSERT_EQUAL(stats_of("allow").shadow_pkts, 0);

	run_n(&b, 10, &pass, &drop);
	CU_ASSERT_EQUAL(drop, 10);
	CU_ASSERT_EQUAL(stats_of("block").dropped_pkts, 10);
	fx_down();
}

/* The host-wide shadow switch: nothing drops, would-be drops are counted. */
static void test_global_shadow(void)
{
	struct pkt_spec e = V4(.src = "198.18.0.1"), b = V4(.src = "198.18.0.4");
	struct bg_id_stats x;
	int pass, drop;

	FX_UP();
	add_id("enforce", 1, 5, 0, 0, BG_ACT_ENFORCE);
	add_id("block", 0, 0, 0, 0, BG_ACT_BLOCK);
	add_pfx("198.18.0.1", "enforce");
	add_pfx("198.18.0.4", "block");
	set_global(1, BG_MALFORMED_PASS);
	run_n(&e, 10, &pass, &drop);
	CU_ASSERT_EQUAL(pass, 10);
	x = stats_of("enforce");
	CU_ASSERT_EQUAL(x.shadow_pkts, 5);
	CU_ASSERT_EQUAL(x.dropped_pkts, 0);
	run_n(&b, 4, &pass, &drop);
	CU_ASSERT_EQUAL(pass, 4);
	CU_ASSERT_EQUAL(stats_of("block").shadow_pkts, 4);
	/* back to enforcing: the bucket was charged in shadow, so it is empty */
	set_global(0, BG_MALFORMED_PASS);
	run_n(&e, 3, &pass, &drop);
	CU_ASSERT_EQUAL(drop, 3);
	fx_down();
}

/* ---- Buckets ---- */

static void test_byte_bucket(void)
{
	struct pkt_spec p = V4(.src = "198.18.0.9", .payload = 300 - 42);
	struct bg_identity id;
	int pass, drop;
	size_t len;

	FX_UP();
	/* 8 kbit/s = 1000 B/s, 1000 B burst; 300-byte frames: 3 fit */
	add_id("bytes", 0, 0, 8000, 1000, BG_ACT_ENFORCE);
	add_pfx("198.18.0.9", "bytes");
	run_spec(&p, &len);
	CU_ASSERT_EQUAL(len, 300);
	run_n(&p, 9, &pass, &drop);
	CU_ASSERT_EQUAL(pass, 2);
	CU_ASSERT_EQUAL(stats_of("bytes").passed_bytes, 900);
	CU_ASSERT_EQUAL(stats_of("bytes").dropped_bytes, 7 * 300);

	/* both buckets: the byte bucket refuses, the packet bucket is refunded */
	CU_ASSERT_EQUAL(bg_identity_get(&st, "bytes", &id), 0);
	{
		struct bg_limits l = { .rate_pps = 1, .burst_pkts = 10 };

		CU_ASSERT_EQUAL(bg_identity_set(&st, "bytes", &l, BG_LIM_RATE | BG_LIM_BURST, &id),
				0);
	}
	bg_identity_reset_buckets(&st, id.id);
	run_n(&p, 10, &pass, &drop);
	CU_ASSERT_EQUAL(pass, 3);
	{
		struct timespec ts;
		double fill;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		fill = bg_bucket_fill(
			&id.cfg.pkt, st.tats[id.id].pkt_tat,
			bg_ticks((__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec));
		CU_ASSERT(fabs(fill - 7) < 0.5);
	}
	fx_down();
}

/* The default identity's limits apply to unknown traffic. */
static void test_default_limited(void)
{
	struct pkt_spec p = V4(.src = "192.0.2.99");
	struct bg_limits l = { .rate_pps = 1, .burst_pkts = 4, .action = BG_ACT_ENFORCE };
	int pass, drop;

	FX_UP();
	CU_ASSERT_EQUAL(bg_identity_set(&st, "default", &l,
					BG_LIM_RATE | BG_LIM_BURST | BG_LIM_ACTION, NULL),
			0);
	run_n(&p, 10, &pass, &drop);
	CU_ASSERT_EQUAL(pass, 4);
	CU_ASSERT_EQUAL(drop, 6);
	fx_down();
}

/*
 * Loading a new build of the program reuses the pinned maps: a drained
 * bucket stays drained and counters carry on.
 */
static void test_reload_keeps_state(void)
{
	struct pkt_spec p = V4(.src = "198.18.0.1");
	struct bg_xdp *skel2 = NULL;
	uint8_t buf[256];
	size_t len = pkt_build(&p, buf, sizeof(buf));
	int i, fd2;

	FX_UP();
	/*
	 * 1 byte/s with room for two 60-byte frames: after those, the next
	 * frame's worth takes 30 s to refill, longer than any slow verifier
	 * pass (a 1 pps bucket refilled during one under emulation).
	 */
	CU_ASSERT_EQUAL(len, 60);
	add_id("agent", 0, 0, 8, 150, BG_ACT_ENFORCE);
	add_pfx("198.18.0.1", "agent");
	for (i = 0; i < 5; i++)
		run_frame(prog_fd, buf, len);
	CU_ASSERT_EQUAL_FATAL(bg_prog_load(pin_path, &skel2), 0);
	fd2 = bg_prog_fd(skel2);
	CU_ASSERT_NOT_EQUAL(fd2, prog_fd);
	CU_ASSERT_EQUAL(run_frame(fd2, buf, len), XDP_DROP);
	CU_ASSERT_EQUAL(stats_of("agent").passed_pkts, 2);
	CU_ASSERT_EQUAL(stats_of("agent").dropped_pkts, 4);
	bg_prog_free(skel2);
	fx_down();
}

/* Many runs in one call (repeat): counters are exact. */
static void test_repeat_exact(void)
{
	struct pkt_spec p = V4(.src = "198.18.0.1");
	uint8_t buf[256];
	size_t len = pkt_build(&p, buf, sizeof(buf));
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = (__u32)len,
		    .repeat = 100000);

	FX_UP();
	add_id("agent", 1, 1000, 0, 0, BG_ACT_SHADOW);
	add_pfx("198.18.0.0/16", "agent");
	CU_ASSERT_EQUAL(bpf_prog_test_run_opts(prog_fd, &o), 0);
	CU_ASSERT_EQUAL(stats_of("agent").passed_pkts, 100000);
	/* 1000 burst, plus at most a few refilled during the run */
	CU_ASSERT(stats_of("agent").shadow_pkts >= 100000 - 1000 - 5);
	CU_ASSERT(stats_of("agent").shadow_pkts <= 100000 - 1000);
	CU_ASSERT_EQUAL(counter(BG_C_METER_CONTENDED), 0);
	fx_down();
}

/* ---- Limited / cleared events ---- */

struct ev_log {
	struct bg_event ev[16];
	bool swept[16];
	int n;
};

static void collect(void *arg, const struct bg_event *e, bool swept)
{
	struct ev_log *l = arg;

	if (l->n < 16) {
		l->ev[l->n] = *e;
		l->swept[l->n++] = swept;
	}
}

/*
 * One event when an identity starts being limited, however many packets
 * it then drops; one when it conforms again a second after the last one
 * over; and the reader's sweep clears one that went quiet.
 */
static void test_events(void)
{
	struct pkt_spec p = V4(.src = "198.18.0.1");
	struct bg_ev_reader r;
	struct bg_identity id;
	struct ev_log log = {};
	int pass, drop;

	FX_UP();
	add_id("agent", 1, 2, 0, 0, BG_ACT_ENFORCE);
	add_pfx("198.18.0.1", "agent");
	CU_ASSERT_EQUAL_FATAL(bg_identity_get(&st, "agent", &id), 0);
	CU_ASSERT_EQUAL_FATAL(bg_events_open(&r, &st, collect, &log, NULL), 0);
	run_n(&p, 2, &pass, &drop);
	bg_events_consume(&r);
	CU_ASSERT_EQUAL(log.n, 0); /* within the burst: nothing to say */
	run_n(&p, 200, &pass, &drop);
	CU_ASSERT_EQUAL(drop, 200);
	bg_events_consume(&r);
	CU_ASSERT_EQUAL_FATAL(log.n, 1); /* 200 drops, one event */
	CU_ASSERT_EQUAL(log.ev[0].type, BG_EV_LIMITED);
	CU_ASSERT_EQUAL(log.ev[0].id, id.id);
	CU_ASSERT_EQUAL(log.ev[0].action, BG_ACT_ENFORCE);
	CU_ASSERT_NOT_EQUAL(st.tats[id.id].limited_since_ns, 0);
	/* a second on, the bucket has a token again: conforming, cleared */
	usleep(1100 * 1000);
	CU_ASSERT_EQUAL(run_spec(&p, NULL), XDP_PASS);
	bg_events_consume(&r);
	CU_ASSERT_EQUAL_FATAL(log.n, 2);
	CU_ASSERT_EQUAL(log.ev[1].type, BG_EV_CLEARED);
	CU_ASSERT_EQUAL(log.ev[1].since_ns, log.ev[0].ts_ns);
	CU_ASSERT(log.ev[1].ts_ns - log.ev[1].since_ns >= BG_EVENT_HOLD_NS);
	CU_ASSERT(!log.swept[1]);
	CU_ASSERT_EQUAL(st.tats[id.id].limited_since_ns, 0);
	/* limited again, then quiet: the sweep clears it, once */
	run_n(&p, 5, &pass, &drop);
	bg_events_consume(&r);
	CU_ASSERT_EQUAL_FATAL(log.n, 3);
	CU_ASSERT_EQUAL(bg_events_sweep(&r), 0); /* too early */
	usleep(1100 * 1000);
	CU_ASSERT_EQUAL(bg_events_sweep(&r), 1);
	CU_ASSERT_EQUAL(bg_events_sweep(&r), 0);
	CU_ASSERT_EQUAL_FATAL(log.n, 4);
	CU_ASSERT_EQUAL(log.ev[3].type, BG_EV_CLEARED);
	CU_ASSERT(log.swept[3]);
	CU_ASSERT_EQUAL(counter(BG_C_EVENTS_LOST), 0);
	bg_events_close(&r);
	fx_down();
}

/* The ring has one reader: a second is refused while the first holds it. */
static void test_events_one_reader(void)
{
	struct bg_ev_reader a, b;
	struct ev_log log = {};

	FX_UP();
	CU_ASSERT_EQUAL_FATAL(bg_events_open(&a, &st, collect, &log, NULL), 0);
	CU_ASSERT_EQUAL(bg_events_open(&b, &st, collect, &log, NULL), -EBUSY);
	bg_events_close(&a);
	CU_ASSERT_EQUAL_FATAL(bg_events_open(&b, &st, collect, &log, NULL), 0);
	bg_events_close(&b);
	fx_down();
}

int main(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{ "parse outcome fixtures", test_parse_fixtures },
		{ "malformed verdict and shadow", test_malformed_verdict },
		{ "longest IPv4 prefix wins", test_longest_prefix },
		{ "IPv6 prefixes and VLAN stacks", test_ipv6_prefix_and_vlans },
		{ "stale identity falls to default", test_stale_identity },
		{ "delete removes prefixes, reuse is clean", test_delete_and_reuse },
		{ "enforce, shadow, allow, block", test_actions },
		{ "host-wide shadow", test_global_shadow },
		{ "byte bucket and refund", test_byte_bucket },
		{ "default identity limits unknown traffic", test_default_limited },
		{ "reloading the program keeps state", test_reload_keeps_state },
		{ "repeat counts exactly", test_repeat_exact },
		{ "limited/cleared events: one per episode", test_events },
		{ "event ring: one reader at a time", test_events_one_reader },
	};
	unsigned int failed;
	CU_pSuite s;
	size_t i;

	if (geteuid() != 0) {
		printf("SKIP: bpf tests need root (BPF_PROG_TEST_RUN, map creation)\n");
		return 77;
	}
	if (bg_probe_atomics() != 1) {
		printf("SKIP: this kernel has no BPF atomics (needs 5.12+)\n");
		return 77;
	}
	bg_prog_name = "bpf_tests";
	bg_log_setup_libbpf();
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("xdp", NULL, NULL);
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		CU_add_test(s, tests[i].name, tests[i].fn);
	add_token_tests(s);
	add_apply_tests();
	add_crash_tests();
	CU_basic_set_mode(CU_BRM_VERBOSE);
	/* BPF_TESTS_SUITE=NAME (xdp, apply, crash): that suite alone, to iterate */
	if (getenv("BPF_TESTS_SUITE")) {
		s = CU_get_suite(getenv("BPF_TESTS_SUITE"));
		if (!s) {
			printf("no suite \"%s\"\n", getenv("BPF_TESTS_SUITE"));
			CU_cleanup_registry();
			return 2;
		}
		CU_basic_run_suite(s);
	} else {
		CU_basic_run_tests();
	}
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	/* a FATAL assert skips fx_down(): never leave pins behind */
	if (skel)
		fx_down();
	return failed ? 1 : 0;
}
