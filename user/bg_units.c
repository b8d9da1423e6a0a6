// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_units.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct unit {
	const char *name;
	__u64 mult;
};

static const struct unit pps_units[] = {
	{ "", 1 }, { "pps", 1 }, { "kpps", 1000 }, { "mpps", 1000000 }, { NULL, 0 },
};
#define PPS_FORMS "pps, kpps, mpps"

static const struct unit bit_units[] = {
	{ "bit", 1 },
	{ "kbit", 1000ULL },
	{ "mbit", 1000000ULL },
	{ "gbit", 1000000000ULL },
	{ "tbit", 1000000000000ULL },
	{ "bps", 8 },
	{ "kbps", 8000ULL },
	{ "mbps", 8000000ULL },
	{ "gbps", 8000000000ULL },
	{ "tbps", 8000000000000ULL },
	{ NULL, 0 },
};
#define BIT_FORMS "bit, kbit, mbit, gbit, tbit for bits/s; bps, kbps, mbps, gbps for bytes/s"

static const struct unit pkt_units[] = {
	{ "", 1 }, { "pkt", 1 }, { "pkts", 1 }, { "packets", 1 }, { NULL, 0 },
};
#define PKT_FORMS "a whole number of packets"

static const struct unit byte_units[] = {
	{ "", 1 },	     { "b", 1 },	   { "k", 1ULL << 10 }, { "kb", 1ULL << 10 },
	{ "m", 1ULL << 20 }, { "mb", 1ULL << 20 }, { "g", 1ULL << 30 }, { "gb", 1ULL << 30 },
	{ NULL, 0 },
};
#define BYTE_FORMS "b, kb, mb, gb (1024-based) or a bare number of bytes"

/*
 * Parse "<digits>[.<digits>][ ]<unit>" exactly, in integers: mantissa and
 * count of decimals, then mantissa * mult / 10^decimals rounded to nearest.
 */
static int parse_unit(const char *s, const struct unit *units, const char *forms,
		      bool allow_unlimited, __u64 *out, char *err, size_t errlen)
{
	__u64 mant = 0, div = 1, v;
	const char *p = s;
	int digits = 0, decimals = 0;
	const struct unit *u;

	if (allow_unlimited && !strcasecmp(s, "unlimited")) {
		*out = 0;
		return 0;
	}
	while (isspace((unsigned char)*p))
		p++;
	for (; isdigit((unsigned char)*p); p++, digits++) {
		if (__builtin_mul_overflow(mant, 10, &mant) ||
		    __builtin_add_overflow(mant, (__u64)(*p - '0'), &mant))
			goto too_big;
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, decimals++) {
			if (decimals >= 9)
				continue; /* beyond a nano-unit: ignored */
			if (__builtin_mul_overflow(mant, 10, &mant) ||
			    __builtin_add_overflow(mant, (__u64)(*p - '0'), &mant))
				goto too_big;
			div *= 10;
		}
	}
	if (!digits && !decimals) {
		snprintf(err, errlen, "\"%s\": not a number (use %s%s)", s, forms,
			 allow_unlimited ? ", or unlimited" : "");
		return -EINVAL;
	}
	while (*p == ' ')
		p++;
	for (u = units; u->name; u++)
		if (!strcasecmp(p, u->name))
			break;
	if (!u->name) {
		if (*p)
			snprintf(err, errlen, "\"%s\": unknown unit \"%s\" (use %s)", s, p, forms);
		else
			snprintf(err, errlen, "\"%s\": needs a unit (use %s)", s, forms);
		return -EINVAL;
	}
	if (__builtin_mul_overflow(mant, u->mult, &v))
		goto too_big;
	*out = (v + div / 2) / div;
	return 0;

too_big:
	snprintf(err, errlen, "\"%s\": number too large", s);
	return -ERANGE;
}

int bg_parse_pps(const char *s, __u64 *pps, char *err, size_t errlen)
{
	return parse_unit(s, pps_units, PPS_FORMS, true, pps, err, errlen);
}

int bg_parse_bitrate(const char *s, __u64 *bits, char *err, size_t errlen)
{
	return parse_unit(s, bit_units, BIT_FORMS, true, bits, err, errlen);
}

int bg_parse_packets(const char *s, __u64 *pkts, char *err, size_t errlen)
{
	int ret;

	if (strchr(s, '.')) {
		snprintf(err, errlen, "\"%s\": not %s", s, PKT_FORMS);
		return -EINVAL;
	}
	ret = parse_unit(s, pkt_units, PKT_FORMS, false, pkts, err, errlen);
	return ret;
}

int bg_parse_bytes(const char *s, __u64 *bytes, char *err, size_t errlen)
{
	return parse_unit(s, byte_units, BYTE_FORMS, false, bytes, err, errlen);
}

int bg_parse_u32(const char *s, __u32 *v, char *err, size_t errlen)
{
	__u64 x;
	int ret;

	ret = bg_parse_packets(s, &x, err, errlen);
	if (ret)
		return ret;
	if (x > 0xffffffffULL) {
		snprintf(err, errlen, "\"%s\": larger than 4294967295", s);
		return -ERANGE;
	}
	*v = (__u32)x;
	return 0;
}

/* Largest unit in the table (ordered ascending) that divides v exactly. */
static const char *fmt_exact(__u64 v, const struct unit *units, int n, char *buf, size_t len)
{
	int i;

	for (i = n - 1; i > 0; i--)
		if (v >= units[i].mult && v % units[i].mult == 0)
			break;
	snprintf(buf, len, "%llu%s", (unsigned long long)(v / units[i].mult), units[i].name);
	return buf;
}

const char *bg_fmt_pps(__u64 pps, char *buf, size_t len)
{
	static const struct unit u[] = { { "pps", 1 }, { "kpps", 1000 }, { "mpps", 1000000 } };

	if (!pps)
		return snprintf(buf, len, "unlimited"), buf;
	return fmt_exact(pps, u, 3, buf, len);
}

const char *bg_fmt_bitrate(__u64 bits, char *buf, size_t len)
{
	if (!bits)
		return snprintf(buf, len, "unlimited"), buf;
	return fmt_exact(bits, bit_units, 5, buf, len);
}

const char *bg_fmt_bytes(__u64 bytes, char *buf, size_t len)
{
	static const struct unit u[] = {
		{ "b", 1 }, { "kb", 1ULL << 10 }, { "mb", 1ULL << 20 }, { "gb", 1ULL << 30 }
	};

	return fmt_exact(bytes, u, 4, buf, len);
}
