/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Time for token expiry: durations and RFC 3339 times as users write them,
 * and the arithmetic that turns them into a deadline the XDP program can
 * check by itself: CLOCK_BOOTTIME nanoseconds (see bg_token.h). The clock
 * is an argument everywhere, so the unit tests pin it.
 */
#ifndef BG_TIME_H
#define BG_TIME_H

#include <stddef.h>
#include <linux/types.h>

#define BG_NS_PER_SEC 1000000000ULL
/* Longest ttl and farthest expiry accepted: 10 years. */
#define BG_TTL_MAX_NS (10ULL * 366 * 86400 * BG_NS_PER_SEC)

/* One reading of both clocks. */
struct bg_clock {
	__u64 boot_ns; /* CLOCK_BOOTTIME: the XDP program's deadline clock */
	__u64 unix_ns; /* CLOCK_REALTIME: for display and RFC 3339 input */
};

int bg_clock_now(struct bg_clock *c);

/*
 * "90s", "15m", "2h", "7d", "1h30m", "1.5h"; a bare number is seconds.
 * 0 < result <= BG_TTL_MAX_NS.
 */
int bg_parse_duration(const char *s, __u64 *ns, char *err, size_t errlen);
/* "1h30m", "45s", "2d3h"; rounded down to the second. */
const char *bg_fmt_duration(__u64 ns, char *buf, size_t len);

/*
 * RFC 3339 date-time: 2026-12-01T10:00:00Z or ...+02:00 / -05:30, with
 * optional fractional seconds (dropped); 't' and 'z' and a space for 'T'
 * accepted as the RFC allows.
 */
int bg_parse_rfc3339(const char *s, __s64 *unix_s, char *err, size_t errlen);
/* UTC, "2026-12-01T10:00:00Z". */
const char *bg_fmt_rfc3339(__s64 unix_s, char *buf, size_t len);
/* With milliseconds, for records (events, log lines): "2026-12-01T10:00:00.123Z". */
const char *bg_fmt_rfc3339_ms(__u64 unix_ns, char *buf, size_t len);

/*
 * A token living ttl_ns from now: its deadline on the boot clock and, for
 * display, the wall-clock second it dies in.
 */
void bg_expiry_from_ttl(const struct bg_clock *now, __u64 ttl_ns, __u64 *deadline_ns,
			__u64 *expires_unix);
/*
 * A token dying at wall-clock second expires_unix: the same instant on the
 * boot clock. -ETIME if that is not in the future, -ERANGE if beyond
 * BG_TTL_MAX_NS. (If the wall clock is stepped later, the deadline keeps
 * its distance from boot, not from the new wall time.)
 */
int bg_expiry_from_unix(const struct bg_clock *now, __s64 expires_unix, __u64 *deadline_ns);

/* Nanoseconds until deadline_ns (0 once passed; deadline 0 is "never"). */
__u64 bg_expiry_left(__u64 deadline_ns, __u64 now_boot_ns);

#endif /* BG_TIME_H */
