/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Human units for rates and sizes, as tc(8) spells them:
 *   packet rates  pps, kpps, mpps (a bare number is pps)
 *   bit rates     bit, kbit, mbit, gbit, tbit        (bits per second)
 *                 bps, kbps, mbps, gbps, tbps        (BYTES per second, as tc)
 *   sizes         b, k|kb, m|mb, g|gb (1024-based; a bare number is bytes)
 *   packet counts a bare number (or pkts)
 * Rate prefixes are decimal (k = 1000), size prefixes binary (k = 1024),
 * again as in tc. "unlimited" is accepted for rates and parses as 0.
 * Numbers may have a fraction ("1.5mbit"); the result is rounded to the
 * nearest unit. Parsers return 0, or -EINVAL/-ERANGE and a message in err
 * that names the accepted forms.
 */
#ifndef BG_UNITS_H
#define BG_UNITS_H

#include <linux/types.h>
#include <stddef.h>

int bg_parse_pps(const char *s, __u64 *pps, char *err, size_t errlen);
int bg_parse_bitrate(const char *s, __u64 *bits, char *err, size_t errlen);
int bg_parse_packets(const char *s, __u64 *pkts, char *err, size_t errlen);
int bg_parse_bytes(const char *s, __u64 *bytes, char *err, size_t errlen);
int bg_parse_u32(const char *s, __u32 *v, char *err, size_t errlen);

/* Formatting picks the largest unit that keeps the value exact. */
const char *bg_fmt_pps(__u64 pps, char *buf, size_t len);
const char *bg_fmt_bitrate(__u64 bits, char *buf, size_t len);
const char *bg_fmt_bytes(__u64 bytes, char *buf, size_t len);

#endif /* BG_UNITS_H */
