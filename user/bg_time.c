// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_time.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int bg_clock_now(struct bg_clock *c)
{
	struct timespec b, r;

	if (clock_gettime(CLOCK_BOOTTIME, &b) || clock_gettime(CLOCK_REALTIME, &r))
		return -errno;
	c->boot_ns = (__u64)b.tv_sec * BG_NS_PER_SEC + (__u64)b.tv_nsec;
	c->unix_ns = (__u64)r.tv_sec * BG_NS_PER_SEC + (__u64)r.tv_nsec;
	return 0;
}

static const struct {
	char unit;
	__u64 ns;
} dur_units[] = {
	{ 's', BG_NS_PER_SEC },
	{ 'm', 60 * BG_NS_PER_SEC },
	{ 'h', 3600 * BG_NS_PER_SEC },
	{ 'd', 86400 * BG_NS_PER_SEC },
};

int bg_parse_duration(const char *s, __u64 *ns, char *err, size_t errlen)
{
	const char *p = s;
	double total = 0;
	size_t i;

	if (!*s)
		goto bad;
	while (*p) {
		size_t span = strspn(p, "0123456789.");
		char num[32], *end;
		double v;

		if (!span || span >= sizeof(num))
			goto bad;
		memcpy(num, p, span);
		num[span] = '\0';
		v = strtod(num, &end);
		if (*end)
			goto bad;
		p += span;
		if (!*p) { /* a bare number: seconds, and only alone */
			if (p != s + strlen(s) || total)
				goto bad;
			total = v * BG_NS_PER_SEC;
			break;
		}
		for (i = 0; i < sizeof(dur_units) / sizeof(dur_units[0]); i++)
			if (*p == dur_units[i].unit)
				break;
		if (i == sizeof(dur_units) / sizeof(dur_units[0]))
			goto bad;
		total += v * (double)dur_units[i].ns;
		p++;
	}
	if (total < 1.0 * BG_NS_PER_SEC) {
		snprintf(err, errlen, "\"%s\": at least 1s", s);
		return -ERANGE;
	}
	if (total > (double)BG_TTL_MAX_NS) {
		snprintf(err, errlen, "\"%s\": at most 10 years", s);
		return -ERANGE;
	}
	*ns = (__u64)llround(total);
	return 0;
bad:
	snprintf(err, errlen,
		 "\"%s\": not a duration (use a number with s, m, h or d: 90s, 15m, 1h30m, 7d)", s);
	return -EINVAL;
}

const char *bg_fmt_duration(__u64 ns, char *buf, size_t len)
{
	__u64 s = ns / BG_NS_PER_SEC;
	__u64 d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
	size_t off = 0;

	buf[0] = '\0';
	if (d)
		off += (size_t)snprintf(buf + off, len - off, "%llud", (unsigned long long)d);
	if (h && off < len)
		off += (size_t)snprintf(buf + off, len - off, "%lluh", (unsigned long long)h);
	if (m && off < len)
		off += (size_t)snprintf(buf + off, len - off, "%llum", (unsigned long long)m);
	if ((sec || !off) && off < len)
		snprintf(buf + off, len - off, "%llus", (unsigned long long)sec);
	return buf;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 ? 28 + leap : days[m - 1];
}

int bg_parse_rfc3339(const char *s, __s64 *unix_s, char *err, size_t errlen)
{
	int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0, sign = 0;
	const char *p;
	struct tm tm;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		goto bad;
	p = s + n;
	if (*p != 'T' && *p != 't' && *p != ' ')
		goto bad;
	p++;
	if (sscanf(p, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 || n != 8)
		goto bad;
	p += n;
	if (*p == '.') { /* fractional seconds: dropped */
		p++;
		if (!isdigit((unsigned char)*p))
			goto bad;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59)
			goto bad;
		p += 1 + n;
	} else {
		goto bad;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 60)
		goto bad;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec == 60 ? 59 : sec; /* a leap second: close enough */
	t = timegm(&tm);
	*unix_s = (__s64)t - (__s64)sign * (oh * 3600 + om * 60);
	return 0;
bad:
	snprintf(
		err, errlen,
		"\"%s\": not an RFC 3339 time (use 2026-12-01T10:00:00Z or 2026-12-01T12:00:00+02:00)",
		s);
	return -EINVAL;
}

const char *bg_fmt_rfc3339(__s64 unix_s, char *buf, size_t len)
{
	time_t t = (time_t)unix_s;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "@%lld", (long long)unix_s);
	return buf;
}

const char *bg_fmt_rfc3339_ms(__u64 unix_ns, char *buf, size_t len)
{
	time_t t = (time_t)(unix_ns / BG_NS_PER_SEC);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(buf, len, "@%llu", (unsigned long long)unix_ns);
	else
		snprintf(buf + strlen(buf), len - strlen(buf), ".%03lluZ",
			 (unsigned long long)(unix_ns % BG_NS_PER_SEC / 1000000));
	return buf;
}

void bg_expiry_from_ttl(const struct bg_clock *now, __u64 ttl_ns, __u64 *deadline_ns,
			__u64 *expires_unix)
{
	*deadline_ns = now->boot_ns + ttl_ns;
	*expires_unix = (now->unix_ns + ttl_ns) / BG_NS_PER_SEC;
}

int bg_expiry_from_unix(const struct bg_clock *now, __s64 expires_unix, __u64 *deadline_ns)
{
	__s64 now_s = (__s64)(now->unix_ns / BG_NS_PER_SEC);
	__u64 left;

	if (expires_unix <= now_s)
		return -ETIME;
	if ((__u64)(expires_unix - now_s) > BG_TTL_MAX_NS / BG_NS_PER_SEC)
		return -ERANGE;
	left = (__u64)expires_unix * BG_NS_PER_SEC - now->unix_ns;
	*deadline_ns = now->boot_ns + left;
	return 0;
}

__u64 bg_expiry_left(__u64 deadline_ns, __u64 now_boot_ns)
{
	if (!deadline_ns || now_boot_ns >= deadline_ns)
		return 0;
	return deadline_ns - now_boot_ns;
}
