// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Human units: what burstctl accepts, what it refuses, and how it prints. */
#include <errno.h>
#include <string.h>

#include "bg_units.h"
#include "unit.h"

static char err[256];

static __u64 pps(const char *s)
{
	__u64 v = ~0ULL;

	CU_ASSERT_EQUAL(bg_parse_pps(s, &v, err, sizeof(err)), 0);
	return v;
}

static __u64 bits(const char *s)
{
	__u64 v = ~0ULL;

	CU_ASSERT_EQUAL(bg_parse_bitrate(s, &v, err, sizeof(err)), 0);
	return v;
}

static __u64 bytes(const char *s)
{
	__u64 v = ~0ULL;

	CU_ASSERT_EQUAL(bg_parse_bytes(s, &v, err, sizeof(err)), 0);
	return v;
}

static void test_pps(void)
{
	CU_ASSERT_EQUAL(pps("500pps"), 500);
	CU_ASSERT_EQUAL(pps("500"), 500);
	CU_ASSERT_EQUAL(pps("20kpps"), 20000);
	CU_ASSERT_EQUAL(pps("1.5kpps"), 1500);
	CU_ASSERT_EQUAL(pps("100mpps"), 100000000);
	CU_ASSERT_EQUAL(pps("10 KPPS"), 10000);
	CU_ASSERT_EQUAL(pps("unlimited"), 0);
}

static void test_bitrate(void)
{
	CU_ASSERT_EQUAL(bits("1kbit"), 1000);
	CU_ASSERT_EQUAL(bits("10mbit"), 10000000);
	CU_ASSERT_EQUAL(bits("400gbit"), 400000000000ULL);
	CU_ASSERT_EQUAL(bits("2.5gbit"), 2500000000ULL);
	CU_ASSERT_EQUAL(bits("800bit"), 800);
	/* bps and friends are BYTES per second, as in tc */
	CU_ASSERT_EQUAL(bits("100bps"), 800);
	CU_ASSERT_EQUAL(bits("10mbps"), 80000000);
	CU_ASSERT_EQUAL(bits("unlimited"), 0);
}

static void test_bytes(void)
{
	CU_ASSERT_EQUAL(bytes("1514"), 1514);
	CU_ASSERT_EQUAL(bytes("1514b"), 1514);
	CU_ASSERT_EQUAL(bytes("64kb"), 65536);
	CU_ASSERT_EQUAL(bytes("64k"), 65536);
	CU_ASSERT_EQUAL(bytes("1mb"), 1048576);
	CU_ASSERT_EQUAL(bytes("1.5kb"), 1536);
	CU_ASSERT_EQUAL(bytes("2gb"), 2147483648ULL);
}

/* Refusals name the bad text and the accepted forms. */
static void test_errors(void)
{
	__u64 v;

	CU_ASSERT_EQUAL(bg_parse_pps("10 mbps", &v, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"10 mbps\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown unit \"mbps\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "pps, kpps, mpps"));

	CU_ASSERT_EQUAL(bg_parse_bitrate("100", &v, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "needs a unit"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "kbit"));

	CU_ASSERT_EQUAL(bg_parse_bitrate("fast", &v, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a number"));
	CU_ASSERT_EQUAL(bg_parse_bytes("", &v, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(bg_parse_bytes("-5", &v, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(bg_parse_bytes("5 kib", &v, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "1024-based"));
	CU_ASSERT_EQUAL(bg_parse_packets("1.5", &v, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(bg_parse_packets("10x", &v, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(bg_parse_pps("99999999999999999999pps", &v, err, sizeof(err)), -ERANGE);
	CU_ASSERT_EQUAL(bg_parse_bitrate("9999999999tbit", &v, err, sizeof(err)), -ERANGE);
	CU_ASSERT_EQUAL(bg_parse_pps("unlimited", &v, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bg_parse_bytes("unlimited", &v, err, sizeof(err)), -EINVAL);
}

/* What is printed parses back to the same value. */
static void test_format_roundtrip(void)
{
	static const __u64 p[] = { 1, 999, 1000, 1500, 20000, 1000000, 123456789 };
	static const __u64 b[] = { 8, 1000, 1001, 10000000, 400000000000ULL };
	static const __u64 z[] = { 1, 1514, 1024, 65536, 1048576, 1536 };
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		CU_ASSERT_EQUAL(pps(bg_fmt_pps(p[i], buf, sizeof(buf))), p[i]);
	for (i = 0; i < sizeof(b) / sizeof(b[0]); i++)
		CU_ASSERT_EQUAL(bits(bg_fmt_bitrate(b[i], buf, sizeof(buf))), b[i]);
	for (i = 0; i < sizeof(z) / sizeof(z[0]); i++)
		CU_ASSERT_EQUAL(bytes(bg_fmt_bytes(z[i], buf, sizeof(buf))), z[i]);
	CU_ASSERT_STRING_EQUAL(bg_fmt_pps(20000, buf, sizeof(buf)), "20kpps");
	CU_ASSERT_STRING_EQUAL(bg_fmt_bitrate(10000000, buf, sizeof(buf)), "10mbit");
	CU_ASSERT_STRING_EQUAL(bg_fmt_bytes(65536, buf, sizeof(buf)), "64kb");
	CU_ASSERT_STRING_EQUAL(bg_fmt_pps(0, buf, sizeof(buf)), "unlimited");
}

int add_units_suite(void)
{
	static const struct unit_test tests[] = {
		{ "packet rates", test_pps },
		{ "bit and byte rates", test_bitrate },
		{ "sizes", test_bytes },
		{ "errors name the accepted forms", test_errors },
		{ "format round-trips", test_format_roundtrip },
		{ NULL, NULL },
	};

	return unit_add_suite("units", tests);
}
