// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Identity limits, names, actions and prefixes as burstctl validates them. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "bg_identity.h"
#include "bg_prefix.h"
#include "unit.h"

static char err[256];

static void test_defaults(void)
{
	struct bg_limits cur = { .action = BG_ACT_ENFORCE }, l = {};
	struct bg_id_cfg cfg;

	l.rate_pps = 500;
	CU_ASSERT_EQUAL(bg_limits_apply(&cur, &l, BG_LIM_RATE, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cur.burst_pkts, 50); /* 100 ms worth */
	CU_ASSERT_EQUAL(cfg.flags, BG_ID_F_IN_USE);
	CU_ASSERT_NOT_EQUAL(cfg.pkt.interval_fp, 0);
	CU_ASSERT_EQUAL(cfg.byte.interval_fp, 0); /* bytes unlimited */

	l.rate_pps = 5; /* 100 ms of 5 pps rounds to 0: at least 1 */
	cur = (struct bg_limits){ 0 };
	bg_limits_apply(&cur, &l, BG_LIM_RATE, &cfg, err, sizeof(err));
	CU_ASSERT_EQUAL(cur.burst_pkts, 1);

	cur = (struct bg_limits){ 0 };
	l.byte_rate_bits = 10000000;
	bg_limits_apply(&cur, &l, BG_LIM_BYTE_RATE, &cfg, err, sizeof(err));
	CU_ASSERT_EQUAL(cur.burst_bytes, 125000);
	cur = (struct bg_limits){ 0 };
	l.byte_rate_bits = 64000; /* 800 bytes in 100 ms: at least a full frame */
	bg_limits_apply(&cur, &l, BG_LIM_BYTE_RATE, &cfg, err, sizeof(err));
	CU_ASSERT_EQUAL(cur.burst_bytes, 1514);
}

/* `set` merges: a new rate keeps the burst; unlimited clears it. */
static void test_merge(void)
{
	struct bg_limits cur = { .action = BG_ACT_ENFORCE }, l = {};
	struct bg_id_cfg cfg;

	l.rate_pps = 100;
	l.burst_pkts = 7;
	CU_ASSERT_EQUAL(
		bg_limits_apply(&cur, &l, BG_LIM_RATE | BG_LIM_BURST, &cfg, err, sizeof(err)), 0);
	l.rate_pps = 1000;
	CU_ASSERT_EQUAL(bg_limits_apply(&cur, &l, BG_LIM_RATE, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cur.rate_pps, 1000);
	CU_ASSERT_EQUAL(cur.burst_pkts, 7);
	l.action = BG_ACT_SHADOW;
	CU_ASSERT_EQUAL(bg_limits_apply(&cur, &l, BG_LIM_ACTION, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg.action, BG_ACT_SHADOW);
	CU_ASSERT_EQUAL(cur.rate_pps, 1000);
	l.rate_pps = 0;
	CU_ASSERT_EQUAL(bg_limits_apply(&cur, &l, BG_LIM_RATE, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cur.burst_pkts, 0);
	CU_ASSERT_EQUAL(cfg.pkt.interval_fp, 0);
}

static void test_limit_errors(void)
{
	struct bg_limits cur = {}, l = {};
	struct bg_id_cfg cfg;

	l.burst_pkts = 10; /* a burst without a rate */
	CU_ASSERT_EQUAL(bg_limits_apply(&cur, &l, BG_LIM_BURST, &cfg, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "needs a packet rate"));

	l = (struct bg_limits){ .rate_pps = 1, .burst_pkts = 1000000 };
	CU_ASSERT_EQUAL(
		bg_limits_apply(&cur, &l, BG_LIM_RATE | BG_LIM_BURST, &cfg, err, sizeof(err)),
		-ERANGE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "19.5 hours"));

	l = (struct bg_limits){ .byte_rate_bits = 1000000, .burst_bytes = 10 };
	CU_ASSERT_EQUAL(bg_limits_apply(&cur, &l, BG_LIM_BYTE_RATE | BG_LIM_BYTE_BURST, &cfg, err,
					sizeof(err)),
			-EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "64 bytes"));

	l = (struct bg_limits){ .rate_pps = 2000000000ULL };
	CU_ASSERT_EQUAL(bg_limits_apply(&cur, &l, BG_LIM_RATE, &cfg, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "out of range"));
	/* nothing changed on error */
	CU_ASSERT_EQUAL(cur.rate_pps, 0);
}

static void test_names_actions(void)
{
	__u32 a;

	CU_ASSERT_EQUAL(bg_name_check("agent-42.prod@eu:a_b", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bg_name_check("", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(bg_name_check("-x", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(bg_name_check("a b", err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "' '"));
	/* "_other" would be the metrics' aggregate of identities past the cap */
	CU_ASSERT_EQUAL(bg_name_check("_other", err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "reserved"));
	CU_ASSERT_EQUAL(
		bg_name_check("x23456789012345678901234567890123456789012345678", err, sizeof(err)),
		-EINVAL);
	CU_ASSERT_EQUAL(bg_action_parse("shadow", &a), 0);
	CU_ASSERT_EQUAL(a, BG_ACT_SHADOW);
	CU_ASSERT_EQUAL(bg_action_parse("Shadow", &a), -EINVAL); /* exact */
	CU_ASSERT_STRING_EQUAL(bg_action_name(BG_ACT_BLOCK), "block");
}

static void test_prefix_parse(void)
{
	struct bg_prefix p;
	char buf[64];

	CU_ASSERT_EQUAL(bg_prefix_parse("10.1.0.0/16", &p, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(p.family, AF_INET);
	CU_ASSERT_EQUAL(p.len, 16);
	CU_ASSERT_STRING_EQUAL(bg_prefix_fmt(&p, buf, sizeof(buf)), "10.1.0.0/16");
	CU_ASSERT_EQUAL(bg_prefix_parse("192.0.2.7", &p, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(p.len, 32);
	CU_ASSERT_EQUAL(bg_prefix_parse("2001:db8::/32", &p, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(p.family, AF_INET6);
	CU_ASSERT_STRING_EQUAL(bg_prefix_fmt(&p, buf, sizeof(buf)), "2001:db8::/32");
	CU_ASSERT_EQUAL(bg_prefix_parse("0.0.0.0/0", &p, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bg_prefix_parse("2001:db8::1/127", &p, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "did you mean 2001:db8::/127"));
	CU_ASSERT_EQUAL(bg_prefix_parse("10.1.2.3/16", &p, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "did you mean 10.1.0.0/16"));
	CU_ASSERT_EQUAL(bg_prefix_parse("10.1.0.0/33", &p, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(bg_prefix_parse("10.1.0.0/", &p, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(bg_prefix_parse("example.com", &p, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not an IPv4 or IPv6"));
}

int add_limits_suite(void)
{
	static const struct unit_test tests[] = {
		{ "default bursts", test_defaults },
		{ "set merges fields", test_merge },
		{ "limit errors say what to do", test_limit_errors },
		{ "names and actions", test_names_actions },
		{ "prefix parsing", test_prefix_parse },
		{ NULL, NULL },
	};

	return unit_add_suite("limits", tests);
}
