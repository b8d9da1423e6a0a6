/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Finding an agent token in an HTTP/1.x request: shared by the XDP program
 * and the host unit tests, so the tests run the lines the kernel runs.
 *
 * A segment is a request start if its payload begins with a method and a
 * space (bg_http_is_request). Its first BG_HTTP_WINDOW bytes are then fed,
 * one byte per bg_http_step() call, to a small state machine that
 *   1. looks for the configured header at the start of a line: "\n" + name
 *      + ":", the name compared case-insensitively (RFC 9110 5.1), and
 *      stops at the blank line that ends the headers;
 *   2. skips optional whitespace, then, if a scheme is configured (default
 *      "bearer"), requires it (case-insensitively) and at least one space;
 *   3. takes the value up to the next space, tab, CR or LF, hashing it with
 *      SipHash-2-4 as it goes, one 64-bit word per 8 bytes.
 * Every byte costs a bounded amount of work and the state is a handful of
 * scalars, so the XDP program can run the step from a bpf_loop() callback
 * that the verifier checks once, whatever the window size.
 *
 * Only the first matching header line counts. What is deliberately not
 * handled (the caller falls through to the next classification stage):
 * a header or value that continues in the next segment (BG_HTTP_TRUNCATED),
 * a header beyond the window (BG_HTTP_NO_HEADER), obsolete line folding,
 * and anything that is not HTTP/1.x (HTTP/2's preface "PRI * HTTP/2.0" is
 * not a method).
 */
#ifndef BG_HTTP_H
#define BG_HTTP_H

#include "bg_compat.h"
#include "bg_siphash.h"
#include "bg_token.h"

/* The shortest request: "GET / HTTP/1.0\r\n" */
#define BG_HTTP_MIN_REQ 16

enum bg_http_result {
	BG_HTTP_SCANNING = 0, /* not done yet */
	BG_HTTP_FOUND, /* hash holds the value's SipHash */
	BG_HTTP_NO_HEADER, /* end of headers or of the window, no such header */
	BG_HTTP_TRUNCATED, /* header found, value cut by the end of the data */
	BG_HTTP_OVERSIZED, /* value longer than BG_TOKEN_MAX */
	BG_HTTP_BAD_VALUE, /* empty value, or another scheme ("Basic ...") */
};

enum bg_http_phase {
	BG_HP_NAME = 0, /* looking for "\n" + name + ":" */
	BG_HP_OWS, /* whitespace after the colon */
	BG_HP_SCHEME, /* the scheme, then one space */
	BG_HP_SP, /* whitespace after the scheme */
	BG_HP_TOKEN, /* the value */
};

struct bg_http_scan {
	struct bg_sip sip; /* the value's hash so far */
	__u64 word; /* value bytes not yet absorbed, little-endian */
	__u64 hash; /* the result, when BG_HTTP_FOUND */
	__u32 phase; /* enum bg_http_phase */
	__u32 matched; /* bytes of the pattern or scheme matched */
	__u32 tok_len; /* bytes of the value so far */
	__u32 line_len; /* bytes of the current line, CR excluded */
	__u32 result; /* enum bg_http_result */
	__u32 pad;
};

/* Four and eight characters as the little-endian word they load as. */
#define BG_C4(a, b, c, d) \
	((__u64)(__u8)(a) | (__u64)(__u8)(b) << 8 | (__u64)(__u8)(c) << 16 | (__u64)(__u8)(d) << 24)
#define BG_C8(a, b, c, d, e, f, g, h) (BG_C4(a, b, c, d) | BG_C4(e, f, g, h) << 32)
#define BG_MASK(n) ((n) >= 8 ? ~0ULL : (1ULL << (8 * (n))) - 1)

/*
 * w: the first 8 payload bytes, little-endian. 1 if they start an HTTP/1.x
 * request: a method of RFC 9110 (or PATCH), case-sensitive, then a space.
 */
static __always_inline int bg_http_is_request(__u64 w)
{
	return (w & BG_MASK(4)) == BG_C4('G', 'E', 'T', ' ') ||
	       (w & BG_MASK(4)) == BG_C4('P', 'U', 'T', ' ') ||
	       (w & BG_MASK(5)) == BG_C8('P', 'O', 'S', 'T', ' ', 0, 0, 0) ||
	       (w & BG_MASK(5)) == BG_C8('H', 'E', 'A', 'D', ' ', 0, 0, 0) ||
	       (w & BG_MASK(6)) == BG_C8('P', 'A', 'T', 'C', 'H', ' ', 0, 0) ||
	       (w & BG_MASK(6)) == BG_C8('T', 'R', 'A', 'C', 'E', ' ', 0, 0) ||
	       (w & BG_MASK(7)) == BG_C8('D', 'E', 'L', 'E', 'T', 'E', ' ', 0) ||
	       w == BG_C8('O', 'P', 'T', 'I', 'O', 'N', 'S', ' ') ||
	       w == BG_C8('C', 'O', 'N', 'N', 'E', 'C', 'T', ' ');
}

static __always_inline void bg_http_scan_init(struct bg_http_scan *s, __u64 k0, __u64 k1)
{
	bg_sip_init(&s->sip, k0, k1);
	s->word = 0;
	s->hash = 0;
	s->phase = BG_HP_NAME;
	s->matched = 0;
	s->tok_len = 0;
	s->line_len = 0;
	s->result = BG_HTTP_SCANNING;
	s->pad = 0;
}

static __always_inline int bg_http_space(__u8 c)
{
	return c == ' ' || c == '\t';
}

/* Feed one byte. Returns 1 when the scan is over (s->result says how). */
static __always_inline int bg_http_step(struct bg_http_scan *s, const struct bg_tok_cfg *cfg,
					__u8 c)
{
	__u8 lc = c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;

	if (s->phase == BG_HP_NAME) {
		if (c == '\n') {
			if (s->line_len == 0) { /* blank line: end of the headers */
				s->result = BG_HTTP_NO_HEADER;
				return 1;
			}
			s->line_len = 0;
		} else if (c != '\r') {
			s->line_len++;
		}
		/* '\n' only starts the pattern, so a mismatch restarts it at 0 or 1. */
		if (lc == (__u8)cfg->pattern[s->matched & (BG_HDR_PAT_LEN - 1)]) {
			s->matched++;
			if (s->matched >= cfg->pat_len)
				s->phase = BG_HP_OWS;
		} else {
			s->matched = c == '\n';
		}
		return 0;
	}
	if (s->phase == BG_HP_OWS) {
		if (bg_http_space(c))
			return 0;
		s->matched = 0;
		s->phase = cfg->scheme_len ? BG_HP_SCHEME : BG_HP_TOKEN;
	}
	if (s->phase == BG_HP_SCHEME) {
		if (s->matched < cfg->scheme_len) {
			if (lc != (__u8)cfg->scheme[s->matched & (BG_SCHEME_MAX - 1)]) {
				s->result = BG_HTTP_BAD_VALUE;
				return 1;
			}
			s->matched++;
			return 0;
		}
		if (!bg_http_space(c)) { /* "Bearerx": another scheme */
			s->result = BG_HTTP_BAD_VALUE;
			return 1;
		}
		s->phase = BG_HP_SP;
		return 0;
	}
	if (s->phase == BG_HP_SP) {
		if (bg_http_space(c))
			return 0;
		s->phase = BG_HP_TOKEN;
	}
	/* BG_HP_TOKEN */
	if (bg_http_space(c) || c == '\r' || c == '\n') {
		if (!s->tok_len) {
			s->result = BG_HTTP_BAD_VALUE;
			return 1;
		}
		s->hash = bg_sip_final(&s->sip, s->word, s->tok_len);
		s->result = BG_HTTP_FOUND;
		return 1;
	}
	if (s->tok_len >= BG_TOKEN_MAX) {
		s->result = BG_HTTP_OVERSIZED;
		return 1;
	}
	s->word |= (__u64)c << ((s->tok_len & 7) * 8);
	s->tok_len++;
	if (!(s->tok_len & 7)) {
		bg_sip_word(&s->sip, s->word);
		s->word = 0;
	}
	return 0;
}

/* The data ran out before the scan was over: say why. */
static __always_inline void bg_http_end(struct bg_http_scan *s)
{
	if (s->result != BG_HTTP_SCANNING)
		return;
	s->result = s->phase == BG_HP_NAME ? BG_HTTP_NO_HEADER : BG_HTTP_TRUNCATED;
}

#endif /* BG_HTTP_H */
