/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Token scopes (least privilege): which destination ports a token may be
 * used on and, for plaintext HTTP/1.x, which methods and path prefixes.
 * Shared by the XDP program (which checks every request that carries a
 * scoped token), burstctl (the bind API checks the port of a connection
 * bound with a scoped token) and the unit tests, so the tests run the
 * lines the kernel runs. docs/tokens.md, "Scopes", is the user's view.
 *
 * A scope is a list of port ranges (none: any port) and a list of rules
 * (none: any method, any path). A request is in scope when its destination
 * port is in one of the ranges and, if there are rules, one rule names its
 * method and a prefix of its path. Prefixes match whole segments: "/v1/jobs"
 * matches "/v1/jobs", "/v1/jobs/7" and "/v1/jobs?x=1", not "/v1/jobsx"; a
 * prefix that ends in "/" matches everything below it.
 *
 * The path is the request target as sent, compared byte for byte (paths
 * are case-sensitive). A server normalises paths before routing them, so a
 * path that would route elsewhere after normalisation is refused rather
 * than guessed at: a "." or ".." segment (also before ";", Tomcat's path
 * parameters), a backslash, or "%2e", "%2f", "%5c" in any case. So is a
 * target that is not a path ("*", "http://host/..."), and one whose path
 * does not end within BG_SCOPE_PATH_MAX bytes or within the data read
 * (the first segment): what cannot be checked is out of scope.
 *
 * Cost: the path is scanned 8 bytes at a time for the bytes that end it
 * or need a closer look; each rule is then up to BG_SCOPE_PREFIX_MAX / 8
 * word compares. A request without a scoped token never gets here.
 */
#ifndef BG_SCOPE_H
#define BG_SCOPE_H

#include "bg_compat.h"

#define BG_MAP_SCOPES "bg_scopes"

/* Scope ids 1..BG_MAX_SCOPES - 1 index bg_scopes; 0 means "no scope". */
#define BG_MAX_SCOPES 256U
#define BG_SCOPE_NAME_LEN 32 /* NUL-terminated */
#define BG_SCOPE_PORTS 8 /* port ranges per scope */
#define BG_SCOPE_RULES 8 /* method + prefix rules per scope */
#define BG_SCOPE_PREFIX_MAX 64 /* bytes of a path prefix; a multiple of 8 */
#define BG_SCOPE_PATH_MAX 256 /* bytes of path a request may have to be checked */
/* The buffer the matcher reads: at least method, path and 8 bytes of slack. */
#define BG_SCOPE_BUF_MIN (8 + BG_SCOPE_PATH_MAX + 8)

/* HTTP methods, one bit each (RFC 9110, and PATCH). */
enum bg_method {
	BG_M_GET = 1 << 0,
	BG_M_HEAD = 1 << 1,
	BG_M_POST = 1 << 2,
	BG_M_PUT = 1 << 3,
	BG_M_DELETE = 1 << 4,
	BG_M_CONNECT = 1 << 5,
	BG_M_OPTIONS = 1 << 6,
	BG_M_TRACE = 1 << 7,
	BG_M_PATCH = 1 << 8,
};
#define BG_M_ALL 0x1ffU
#define BG_M_COUNT 9

/* One rule: methods and a path prefix. */
struct bg_scope_rule {
	__u16 methods; /* BG_M_* bits, at least one */
	__u16 prefix_len; /* bytes of prefix, 1..BG_SCOPE_PREFIX_MAX; starts with '/' */
	__u32 pad; /* 0 */
	__u64 prefix[BG_SCOPE_PREFIX_MAX / 8]; /* the prefix as little-endian words, 0-padded */
};

#define BG_SCOPE_F_IN_USE (1U << 0) /* the slot holds a scope */
#define BG_SCOPE_OOS_NONE 0xffffffffU /* out of scope: as if there were no token */

/*
 * bg_scopes: ARRAY of BG_MAX_SCOPES, indexed by scope id (bg_token.scope).
 * Written by burstctl (policy apply, the controller) under the state's
 * writer lock, whole values; read by the XDP program for each request that
 * carries a scoped token, and by the bind API.
 */
struct bg_scope {
	__u32 flags; /* BG_SCOPE_F_* */
	__u32 oos_id; /* identity charged for out-of-scope requests, or BG_SCOPE_OOS_NONE */
	__u32 nports; /* port ranges in use; 0: any port */
	__u32 nrules; /* rules in use; 0: any method, any path */
	__u16 port_lo[BG_SCOPE_PORTS]; /* destination port ranges, host order, inclusive */
	__u16 port_hi[BG_SCOPE_PORTS];
	struct bg_scope_rule rule[BG_SCOPE_RULES];
	char name[BG_SCOPE_NAME_LEN]; /* for burstctl; the XDP program never reads it */
};

/* Why a request is out of scope (0: it is in scope). */
enum bg_scope_verdict {
	BG_SCOPE_IN = 0,
	BG_SCOPE_OUT_PORT, /* destination port in no range */
	BG_SCOPE_OUT_METHOD, /* no rule has its method */
	BG_SCOPE_OUT_PATH, /* rules have the method, none the path */
	BG_SCOPE_OUT_UNSAFE, /* dot segment, backslash, encoded '.', '/' or '\' */
	BG_SCOPE_OUT_LONG, /* the path does not end where it can be read */
};

/* Bytes as the little-endian word they load as. */
#define BG_SC4(a, b, c, d) \
	((__u64)(__u8)(a) | (__u64)(__u8)(b) << 8 | (__u64)(__u8)(c) << 16 | (__u64)(__u8)(d) << 24)
#define BG_SC8(a, b, c, d, e, f, g, h) (BG_SC4(a, b, c, d) | BG_SC4(e, f, g, h) << 32)
#define BG_SMASK(n) ((n) >= 8 ? ~0ULL : (1ULL << (8 * (n))) - 1)

/*
 * w: the first 8 bytes of a TCP payload, little-endian. The method's bit
 * and *len its length if they start "METHOD "; 0 otherwise.
 */
static __always_inline __u32 bg_scope_method(__u64 w, __u32 *len)
{
	__u32 m = 0, n = 0;

	if ((w & BG_SMASK(4)) == BG_SC4('G', 'E', 'T', ' '))
		m = BG_M_GET, n = 3;
	else if ((w & BG_SMASK(5)) == BG_SC8('P', 'O', 'S', 'T', ' ', 0, 0, 0))
		m = BG_M_POST, n = 4;
	else if ((w & BG_SMASK(4)) == BG_SC4('P', 'U', 'T', ' '))
		m = BG_M_PUT, n = 3;
	else if ((w & BG_SMASK(5)) == BG_SC8('H', 'E', 'A', 'D', ' ', 0, 0, 0))
		m = BG_M_HEAD, n = 4;
	else if ((w & BG_SMASK(7)) == BG_SC8('D', 'E', 'L', 'E', 'T', 'E', ' ', 0))
		m = BG_M_DELETE, n = 6;
	else if ((w & BG_SMASK(6)) == BG_SC8('P', 'A', 'T', 'C', 'H', ' ', 0, 0))
		m = BG_M_PATCH, n = 5;
	else if (w == BG_SC8('O', 'P', 'T', 'I', 'O', 'N', 'S', ' '))
		m = BG_M_OPTIONS, n = 7;
	else if ((w & BG_SMASK(6)) == BG_SC8('T', 'R', 'A', 'C', 'E', ' ', 0, 0))
		m = BG_M_TRACE, n = 5;
	else if (w == BG_SC8('C', 'O', 'N', 'N', 'E', 'C', 'T', ' '))
		m = BG_M_CONNECT, n = 7;
	*len = n;
	return m;
}

/* Is the destination port in scope? */
static __always_inline int bg_scope_port_ok(const struct bg_scope *sc, __u16 port)
{
	__u32 i, n = sc->nports;

	if (!n)
		return 1;
	BG_UNROLL
	for (i = 0; i < BG_SCOPE_PORTS; i++)
		if (i < n && port >= sc->port_lo[i] && port <= sc->port_hi[i])
			return 1;
	return 0;
}

/*
 * Load 8 bytes at any offset. The BPF buffer is a map value, where the
 * verifier allows unaligned loads (and so do the JITs of the architectures
 * XDP runs on at speed); the host build goes through memcpy.
 */
#ifdef __bpf__
#define bg_scope_load(p) (*(const __u64 *)(p))
#else
static inline __u64 bg_scope_load(const __u8 *p)
{
	__u64 w;

	__builtin_memcpy(&w, p, sizeof(w));
	return w;
}
#endif

/* The high bit of every byte of w equal to c (exact for the lowest one). */
#define BG_ONES 0x0101010101010101ULL
#define BG_HIGHS 0x8080808080808080ULL
static __always_inline __u64 bg_bytes_eq(__u64 w, __u8 c)
{
	__u64 x = w ^ (BG_ONES * c);

	return (x - BG_ONES) & ~x & BG_HIGHS;
}

/* Bytes that end a path, and where a segment ends. */
static __always_inline int bg_path_end(__u8 c)
{
	return c == ' ' || c == '?' || c == '#' || c == '\r' || c == '\n';
}

static __always_inline int bg_seg_end(__u8 c)
{
	return c == '/' || c == ';' || bg_path_end(c);
}

static __always_inline __u8 bg_lower(__u8 c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/*
 * Is byte p[0] (one of '.', '%', '\') the start of something a server
 * would normalise? p[-1] and p[1], p[2] are readable (the caller's slack).
 */
static __always_inline int bg_path_unsafe_at(const __u8 *p)
{
	__u8 c = p[0], n1 = p[1], n2 = p[2];

	if (c == '\\')
		return 1;
	if (c == '%')
		return (n1 == '2' && (bg_lower(n2) == 'e' || bg_lower(n2) == 'f')) ||
		       (n1 == '5' && bg_lower(n2) == 'c');
	/* a segment "." or ".." (the lowest byte bg_bytes_eq() flags is exact, not those above) */
	return c == '.' && p[-1] == '/' && (bg_seg_end(n1) || (n1 == '.' && bg_seg_end(n2)));
}

/* Index (0-7) of the lowest byte whose high bit is set in m (m != 0). */
static __always_inline __u32 bg_low_byte(__u64 m)
{
	__u64 low = m & -m;
	__u32 i = 0;

	if (low >> 32) {
		i += 4;
		low >>= 32;
	}
	if (low >> 16) {
		i += 2;
		low >>= 16;
	}
	if (low >> 8)
		i += 1;
	return i;
}

/*
 * The length of the path at buf[start] (buf[start] == '/'), or -1 if it
 * does not end within BG_SCOPE_PATH_MAX bytes and before avail, or -2 if
 * something in it would be normalised by the server.
 * buf holds at least start + BG_SCOPE_PATH_MAX + 8 readable bytes.
 */
static __always_inline int bg_scope_path_len(const __u8 *buf, __u32 start, __u32 avail)
{
	__u32 k, j;

	/* a bounded loop (Linux 5.3+), not unrolled: 32 rounds of a long body */
	for (k = 0; k < BG_SCOPE_PATH_MAX; k += 8) {
		const __u8 *p = buf + start + k;
		__u64 w = bg_scope_load(p);
		__u64 end = bg_bytes_eq(w, ' ') | bg_bytes_eq(w, '?') | bg_bytes_eq(w, '#') |
			    bg_bytes_eq(w, '\r') | bg_bytes_eq(w, '\n');
		__u64 risky = bg_bytes_eq(w, '.') | bg_bytes_eq(w, '%') | bg_bytes_eq(w, '\\');
		__u32 len = BG_SCOPE_PATH_MAX;

		if (end) {
			len = k + bg_low_byte(end);
			/* only what comes before the end is the path */
			risky &= (end & -end) - 1;
		}
		if (risky) {
			BG_UNROLL
			for (j = 0; j < 8; j++)
				if (((risky >> (8 * j)) & 0x80) && bg_path_unsafe_at(p + j))
					return -2;
		}
		if (end)
			return start + len < avail ? (int)len : -1;
	}
	return -1;
}

/* Does rule r name this path (length path_len, at buf[start])? */
static __always_inline int bg_scope_rule_match(const struct bg_scope_rule *r, const __u8 *buf,
					       __u32 start, __u32 path_len)
{
	__u32 n = r->prefix_len, k;

	if (!n || n > BG_SCOPE_PREFIX_MAX || n > path_len)
		return 0;
	BG_UNROLL
	for (k = 0; k < BG_SCOPE_PREFIX_MAX / 8; k++) {
		if (8 * k >= n)
			break;
		if ((bg_scope_load(buf + start + 8 * k) & BG_SMASK(n - 8 * k)) != r->prefix[k])
			return 0;
	}
	/* whole segments: the prefix ends in '/', or the path ends or goes on with '/' */
	return n == path_len || buf[start + n] == '/' || buf[start + n - 1] == '/';
}

/*
 * Is a request in scope? buf: the segment's first bytes (avail of them are
 * data), at least BG_SCOPE_BUF_MIN readable; it starts with the request
 * line. dport: host order.
 */
static __always_inline enum bg_scope_verdict
bg_scope_check(const struct bg_scope *sc, const __u8 *buf, __u32 avail, __u16 dport)
{
	__u32 m, mlen, i, nr = sc->nrules, any = 0;
	int plen;

	if (!bg_scope_port_ok(sc, dport))
		return BG_SCOPE_OUT_PORT;
	if (!nr)
		return BG_SCOPE_IN;
	m = bg_scope_method(bg_scope_load(buf), &mlen);
	BG_UNROLL
	for (i = 0; i < BG_SCOPE_RULES; i++)
		if (i < nr)
			any |= sc->rule[i].methods;
	if (!(any & m))
		return BG_SCOPE_OUT_METHOD;
	if (buf[mlen + 1] != '/') /* "*", absolute-form: not a path */
		return BG_SCOPE_OUT_PATH;
	plen = bg_scope_path_len(buf, mlen + 1, avail);
	if (plen == -2)
		return BG_SCOPE_OUT_UNSAFE;
	if (plen < 0)
		return BG_SCOPE_OUT_LONG;
	BG_UNROLL
	for (i = 0; i < BG_SCOPE_RULES; i++)
		if (i < nr && (sc->rule[i].methods & m) &&
		    bg_scope_rule_match(&sc->rule[i], buf, mlen + 1, (__u32)plen))
			return BG_SCOPE_IN;
	return BG_SCOPE_OUT_PATH;
}

#endif /* BG_SCOPE_H */
