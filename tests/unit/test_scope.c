// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Token scopes: the matcher of include/bg_scope.h (the lines the XDP
 * program runs) on real request lines, and against a plain byte-by-byte
 * reference written from the documented rules, on a few hundred thousand
 * generated request lines (fuzz-style, fixed seed so a failure repeats;
 * BG_SCOPE_SEED=N picks another). Also the rule and port syntax of
 * user/bg_scope.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_scope_reg.h"
#include "unit.h"

#define BUF 1024 /* the XDP window */

static struct bg_scope make_scope(const char *ports, const char *const *rules)
{
	struct bg_scope sc = {};
	char err[256], tmp[64], *save = NULL, *tok;
	int i;

	sc.flags = BG_SCOPE_F_IN_USE;
	if (ports) {
		snprintf(tmp, sizeof(tmp), "%s", ports);
		for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			CU_ASSERT_EQUAL_FATAL(bg_scope_ports_parse(tok, &sc.port_lo[sc.nports],
								   &sc.port_hi[sc.nports], err,
								   sizeof(err)),
					      0);
			sc.nports++;
		}
	}
	for (i = 0; rules && rules[i]; i++) {
		int r = bg_scope_rule_parse(rules[i], &sc.rule[i], err, sizeof(err));

		if (r)
			fprintf(stderr, "rule \"%s\": %s\n", rules[i], err);
		CU_ASSERT_EQUAL_FATAL(r, 0);
		sc.nrules++;
	}
	return sc;
}

static enum bg_scope_verdict check(const struct bg_scope *sc, const char *req, __u16 port)
{
	__u8 buf[BUF] = {};
	size_t n = strlen(req);

	memcpy(buf, req, n);
	return bg_scope_check(sc, buf, (__u32)n, port);
}

static void test_requests(void)
{
	static const char *const rules[] = { "GET,POST /v1/search", "POST /v1/jobs", "GET /static/",
					     NULL };
	struct bg_scope sc = make_scope("80,8000-8099", rules);
	static const struct {
		const char *req;
		__u16 port;
		enum bg_scope_verdict want;
	} cases[] = {
		{ "GET /v1/search HTTP/1.1\r\nHost: a\r\n\r\n", 80, BG_SCOPE_IN },
		{ "GET /v1/search?q=cats HTTP/1.1\r\n\r\n", 80, BG_SCOPE_IN },
		{ "POST /v1/search/deep/er HTTP/1.1\r\n\r\n", 8080, BG_SCOPE_IN },
		{ "GET /v1/search#frag HTTP/1.1\r\n\r\n", 80, BG_SCOPE_IN },
		{ "POST /v1/jobs HTTP/1.1\r\n\r\n", 8099, BG_SCOPE_IN },
		{ "GET /static/app.js HTTP/1.1\r\n\r\n", 80, BG_SCOPE_IN },
		{ "GET /static/ HTTP/1.1\r\n\r\n", 80, BG_SCOPE_IN },
		{ "GET /v1/search;v=2 HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_PATH },
		{ "GET /v1/search HTTP/1.1\r\n\r\n", 443, BG_SCOPE_OUT_PORT },
		{ "GET /v1/search HTTP/1.1\r\n\r\n", 8100, BG_SCOPE_OUT_PORT },
		{ "DELETE /v1/search HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_METHOD },
		{ "PUT /v1/jobs HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_METHOD },
		{ "GET /v1/jobs HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_PATH }, /* jobs: POST only */
		{ "GET /v1/searchx HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_PATH }, /* segments */
		{ "GET /v1/sear HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_PATH },
		{ "GET /static HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_PATH }, /* prefix is /static/ */
		{ "GET /V1/search HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_PATH }, /* case-sensitive */
		{ "GET /v1/search/../admin HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_UNSAFE },
		{ "GET /v1/search/.. HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_UNSAFE },
		{ "GET /v1/search/./x HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_UNSAFE },
		{ "GET /v1/search/..;/admin HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_UNSAFE },
		{ "GET /v1/search/%2e%2e/admin HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_UNSAFE },
		{ "GET /v1/search%2F..%2Fadmin HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_UNSAFE },
		{ "GET /v1/search\\..\\admin HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_UNSAFE },
		{ "GET /v1/search/a.b/..x/.y HTTP/1.1\r\n\r\n", 80,
		  BG_SCOPE_IN }, /* not segments */
		{ "GET /v1/search/%20%41 HTTP/1.1\r\n\r\n", 80, BG_SCOPE_IN },
		{ "GET /v1/search?next=/../admin HTTP/1.1\r\n\r\n", 80, BG_SCOPE_IN }, /* query */
		{ "GET http://h/v1/search HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_PATH },
		{ "OPTIONS * HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_METHOD },
		{ "GET /v1/search", 80, BG_SCOPE_OUT_LONG }, /* cut before the path ends */
		{ "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 80, BG_SCOPE_OUT_METHOD },
		{ "get /v1/search HTTP/1.1\r\n\r\n", 80, BG_SCOPE_OUT_METHOD },
	};
	char longreq[600];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum bg_scope_verdict got = check(&sc, cases[i].req, cases[i].port);

		if (got != cases[i].want)
			fprintf(stderr, "\n  %s (port %u): got %s, want %s\n", cases[i].req,
				cases[i].port, bg_scope_verdict_name(got),
				bg_scope_verdict_name(cases[i].want));
		CU_ASSERT_EQUAL(got, cases[i].want);
	}
	/* A path of 255 bytes is checked; 256 is not. */
	memset(longreq, 'a', sizeof(longreq));
	memcpy(longreq, "GET /v1/search/", 15);
	strcpy(longreq + 4 + 255, " HTTP/1.1\r\n\r\n");
	CU_ASSERT_EQUAL(check(&sc, longreq, 80), BG_SCOPE_IN);
	memset(longreq, 'a', sizeof(longreq));
	memcpy(longreq, "GET /v1/search/", 15);
	strcpy(longreq + 4 + 256, " HTTP/1.1\r\n\r\n");
	CU_ASSERT_EQUAL(check(&sc, longreq, 80), BG_SCOPE_OUT_LONG);
}

static void test_ports_only(void)
{
	struct bg_scope any = make_scope(NULL, NULL), p = make_scope("443", NULL);

	/* no rules: any method, any path, even what is not HTTP */
	CU_ASSERT_EQUAL(check(&any, "BREW /pot HTTP/1.1\r\n\r\n", 1), BG_SCOPE_IN);
	CU_ASSERT_EQUAL(check(&p, "GET /../etc HTTP/1.1\r\n\r\n", 443), BG_SCOPE_IN);
	CU_ASSERT_EQUAL(check(&p, "GET / HTTP/1.1\r\n\r\n", 444), BG_SCOPE_OUT_PORT);
	CU_ASSERT_TRUE(bg_scope_port_ok(&p, 443));
	CU_ASSERT_FALSE(bg_scope_port_ok(&p, 80));
	CU_ASSERT_TRUE(bg_scope_port_ok(&any, 80));
}

static void test_root_prefix(void)
{
	static const char *const rules[] = { "GET /", NULL };
	struct bg_scope sc = make_scope(NULL, rules);

	CU_ASSERT_EQUAL(check(&sc, "GET / HTTP/1.1\r\n\r\n", 80), BG_SCOPE_IN);
	CU_ASSERT_EQUAL(check(&sc, "GET /anything/at/all HTTP/1.1\r\n\r\n", 80), BG_SCOPE_IN);
	CU_ASSERT_EQUAL(check(&sc, "HEAD / HTTP/1.1\r\n\r\n", 80), BG_SCOPE_OUT_METHOD);
	CU_ASSERT_EQUAL(check(&sc, "GET /.. HTTP/1.1\r\n\r\n", 80), BG_SCOPE_OUT_UNSAFE);
}

static void test_rule_syntax(void)
{
	static const struct {
		const char *in, *out; /* out NULL: refused */
	} cases[] = {
		{ "GET,POST /v1/search", "GET,POST /v1/search" },
		{ "POST,GET /v1/search", "GET,POST /v1/search" },
		{ "/v1/jobs", "/v1/jobs" },
		{ "* /v1/jobs", "/v1/jobs" },
		{ "GET,HEAD,POST,PUT,DELETE,CONNECT,OPTIONS,TRACE,PATCH /", "/" },
		{ "PATCH /a_b-c.d~e", "PATCH /a_b-c.d~e" },
		{ "get /v1", NULL }, /* methods are case-sensitive */
		{ "GET, /v1", NULL },
		{ "GET,POST, /v1", NULL },
		{ "BREW /pot", NULL },
		{ "GET v1/search", NULL },
		{ "GET /v1/search?q", NULL },
		{ "GET /v1/../x", NULL },
		{ "GET /v1/.", NULL },
		{ "GET /v1/%2E", NULL },
		{ "GET /v1\\x", NULL },
		{ "", NULL },
		{ "GET /0123456789012345678901234567890123456789012345678901234567890123", NULL },
		{ "GET /012345678901234567890123456789012345678901234567890123456789012",
		  "GET /012345678901234567890123456789012345678901234567890123456789012" },
	};
	struct bg_scope_rule r;
	char err[256], buf[200];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = bg_scope_rule_parse(cases[i].in, &r, err, sizeof(err));

		if (!cases[i].out) {
			CU_ASSERT_NOT_EQUAL(ret, 0);
			CU_ASSERT_TRUE(err[0] != '\0');
			continue;
		}
		CU_ASSERT_EQUAL(ret, 0);
		if (!ret)
			CU_ASSERT_STRING_EQUAL(bg_scope_rule_fmt(&r, buf, sizeof(buf)),
					       cases[i].out);
	}
	/* the error names what is wrong */
	bg_scope_rule_parse("BREW /pot", &r, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"BREW\""));
}

static void test_port_syntax(void)
{
	struct bg_scope sc = {};
	char err[200], buf[100];
	__u16 lo, hi;

	CU_ASSERT_EQUAL(bg_scope_ports_parse("443", &lo, &hi, err, sizeof(err)), 0);
	CU_ASSERT(lo == 443 && hi == 443);
	CU_ASSERT_EQUAL(bg_scope_ports_parse("8000-8099", &lo, &hi, err, sizeof(err)), 0);
	CU_ASSERT(lo == 8000 && hi == 8099);
	CU_ASSERT_NOT_EQUAL(bg_scope_ports_parse("0", &lo, &hi, err, sizeof(err)), 0);
	CU_ASSERT_NOT_EQUAL(bg_scope_ports_parse("65536", &lo, &hi, err, sizeof(err)), 0);
	CU_ASSERT_NOT_EQUAL(bg_scope_ports_parse("90-80", &lo, &hi, err, sizeof(err)), 0);
	CU_ASSERT_NOT_EQUAL(bg_scope_ports_parse("80-", &lo, &hi, err, sizeof(err)), 0);
	CU_ASSERT_NOT_EQUAL(bg_scope_ports_parse("http", &lo, &hi, err, sizeof(err)), 0);
	CU_ASSERT_NOT_EQUAL(bg_scope_ports_parse("-80", &lo, &hi, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(bg_scope_ports_fmt(&sc, buf, sizeof(buf)), "any");
	sc.nports = 2;
	sc.port_lo[0] = sc.port_hi[0] = 80;
	sc.port_lo[1] = 8000;
	sc.port_hi[1] = 8099;
	CU_ASSERT_STRING_EQUAL(bg_scope_ports_fmt(&sc, buf, sizeof(buf)), "80, 8000-8099");
}

/* ---- The matcher against a plain reference, on generated requests ---- */

static __u64 rng_state;

static __u64 rnd(void)
{
	/* xorshift64*: reproducible from the seed, good enough to cover cases */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static unsigned int rnd_below(unsigned int n)
{
	return (unsigned int)(rnd() % n);
}

static const char *const methods[] = { "GET",	  "HEAD",    "POST",  "PUT",   "DELETE",
				       "CONNECT", "OPTIONS", "TRACE", "PATCH", "BREW",
				       "get",	  "POSTX",   "PRI" };

/* Path bytes that matter to the rules, and some that do not. */
static const char path_alphabet[] = "//////...%%2eEfF5cC\\;?# abv1x\r\n";
static const char *const segments[] = { "v1",  "search", "jobs", "a",	   "..", ".",
					"%2e", "%2F",	 "x.y",	 "static", "" };

struct ref_scope {
	int nports;
	int lo[BG_SCOPE_PORTS], hi[BG_SCOPE_PORTS];
	int nrules;
	unsigned int methods[BG_SCOPE_RULES];
	char prefix[BG_SCOPE_RULES][BG_SCOPE_PREFIX_MAX + 1];
};

static int ref_path_end(char c)
{
	return c == ' ' || c == '?' || c == '#' || c == '\r' || c == '\n';
}

/* Is there a "." or ".." segment starting at p[0] (p[-1] == '/')? */
static int ref_dot_segment(const char *p)
{
	size_t n = 0;

	while (n < 3 && p[n] != '/' && p[n] != ';' && !ref_path_end(p[n]))
		n++;
	return (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.');
}

static int ref_unsafe(const char *p, size_t i)
{
	char a = p[i + 1], b = (char)(p[i + 2] | 0x20);

	if (p[i] == '\\')
		return 1;
	if (p[i] == '%')
		return (a == '2' && (b == 'e' || b == 'f')) || (a == '5' && b == 'c');
	return p[i] == '.' && p[i - 1] == '/' && ref_dot_segment(p + i);
}

static enum bg_scope_verdict ref_check(const struct ref_scope *r, const char *buf, size_t avail,
				       int port)
{
	unsigned int m = 0, any = 0;
	size_t mlen = 0, i, len = 0;
	const char *path;
	int k, found = 0;

	if (r->nports) {
		for (k = 0; k < r->nports; k++)
			found |= port >= r->lo[k] && port <= r->hi[k];
		if (!found)
			return BG_SCOPE_OUT_PORT;
	}
	if (!r->nrules)
		return BG_SCOPE_IN;
	for (k = 0; k < BG_M_COUNT; k++) {
		size_t n = strlen(methods[k]);

		if (!strncmp(buf, methods[k], n) && buf[n] == ' ') {
			m = 1U << k;
			mlen = n;
		}
	}
	for (k = 0; k < r->nrules; k++)
		any |= r->methods[k];
	if (!(m & any))
		return BG_SCOPE_OUT_METHOD;
	path = buf + mlen + 1;
	if (path[0] != '/')
		return BG_SCOPE_OUT_PATH;
	found = 0;
	for (i = 0; i < BG_SCOPE_PATH_MAX; i++) {
		if (ref_path_end(path[i])) {
			found = 1;
			len = i;
			break;
		}
		if (ref_unsafe(path, i))
			return BG_SCOPE_OUT_UNSAFE;
	}
	if (!found || mlen + 1 + len >= avail)
		return BG_SCOPE_OUT_LONG;
	for (k = 0; k < r->nrules; k++) {
		size_t n = strlen(r->prefix[k]);

		if (!(r->methods[k] & m) || n > len || strncmp(path, r->prefix[k], n))
			continue;
		if (n == len || path[n] == '/' || r->prefix[k][n - 1] == '/')
			return BG_SCOPE_IN;
	}
	return BG_SCOPE_OUT_PATH;
}

static void gen_scope(struct ref_scope *r, struct bg_scope *sc)
{
	char err[256], text[120];
	int k;

	memset(r, 0, sizeof(*r));
	memset(sc, 0, sizeof(*sc));
	r->nports = (int)rnd_below(3);
	for (k = 0; k < r->nports; k++) {
		r->lo[k] = 75 + (int)rnd_below(10);
		r->hi[k] = r->lo[k] + (int)rnd_below(3);
		sc->port_lo[k] = (__u16)r->lo[k];
		sc->port_hi[k] = (__u16)r->hi[k];
	}
	sc->nports = (__u32)r->nports;
	r->nrules = (int)rnd_below(BG_SCOPE_RULES + 1);
	for (k = 0; k < r->nrules; k++) {
		int tries = 0;

		do { /* a random valid prefix: segments, sometimes a trailing '/' */
			int nseg = 1 + (int)rnd_below(3), s;
			size_t off = 0;

			for (s = 0; s < nseg; s++)
				off += (size_t)snprintf(r->prefix[k] + off,
							sizeof(r->prefix[k]) - off, "/%s",
							segments[rnd_below(10)]);
			if (rnd_below(4) == 0 && off < BG_SCOPE_PREFIX_MAX)
				strcat(r->prefix[k], "/");
			r->methods[k] = (unsigned int)(rnd() & BG_M_ALL);
			if (!r->methods[k])
				r->methods[k] = BG_M_ALL;
			snprintf(text, sizeof(text), "%s %s",
				 bg_scope_methods_fmt(r->methods[k], err, sizeof(err)),
				 r->prefix[k]);
		} while (bg_scope_rule_parse(text, &sc->rule[k], err, sizeof(err)) &&
			 ++tries < 100);
		CU_ASSERT_FATAL(tries < 100);
	}
	sc->nrules = (__u32)r->nrules;
	sc->flags = BG_SCOPE_F_IN_USE;
}

/* A request line from pieces that exercise the rules, or random bytes. */
static size_t gen_request(char *buf, size_t cap)
{
	size_t off = 0, n, i;
	int mode = (int)rnd_below(10);

	for (i = 0; i < cap; i++) /* what lies beyond the data must not matter */
		buf[i] = (char)rnd();
	if (mode == 0)
		return rnd_below(64); /* garbage */
	off = (size_t)snprintf(buf, cap, "%s ", methods[rnd_below(13)]);
	if (mode == 1) { /* random path bytes */
		n = rnd_below(300);
		buf[off++] = '/';
		for (i = 0; i < n; i++)
			buf[off++] = path_alphabet[rnd_below(sizeof(path_alphabet) - 1)];
	} else { /* segments */
		n = rnd_below(mode == 2 ? 60 : 6);
		for (i = 0; i < n; i++)
			off += (size_t)snprintf(buf + off, cap - off, "%s%s",
						rnd_below(8) ? "/" :
						rnd_below(2) ? ";" :
							       "\\",
						segments[rnd_below(11)]);
		if (!n || rnd_below(5) == 0)
			buf[off++] = '/';
	}
	off += (size_t)snprintf(buf + off, cap - off, "%s HTTP/1.1\r\nHost: x\r\n\r\n",
				rnd_below(4) ? "" :
				rnd_below(2) ? "?q=../%2e" :
					       "#f");
	return rnd_below(6) ? off : rnd_below((unsigned int)off + 1); /* cut short */
}

static void test_fuzz_reference(void)
{
	const char *seed_env = getenv("BG_SCOPE_SEED");
	unsigned long seed = seed_env ? strtoul(seed_env, NULL, 0) : 0x5c09e;
	unsigned int round, req, mismatches = 0, verdicts[6] = {};
	struct ref_scope r;
	struct bg_scope sc;
	char buf[BUF];

	rng_state = seed ? seed : 1;
	for (round = 0; round < 2000; round++) {
		gen_scope(&r, &sc);
		for (req = 0; req < 100; req++) {
			size_t avail = gen_request(buf, sizeof(buf) - 8);
			int port = 74 + (int)rnd_below(15);
			enum bg_scope_verdict got, want;

			buf[sizeof(buf) - 8] = '\0'; /* the reference reads strings */
			got = bg_scope_check(&sc, (const __u8 *)buf, (__u32)avail, (__u16)port);
			want = ref_check(&r, buf, avail, port);
			verdicts[got]++;
			if (got != want && mismatches++ < 5)
				fprintf(stderr,
					"\n  seed %#lx round %u: \"%.*s\" (%zu bytes, port %d): got %s, reference %s\n",
					seed, round, (int)(avail < 120 ? avail : 120), buf, avail,
					port, bg_scope_verdict_name(got),
					bg_scope_verdict_name(want));
		}
	}
	CU_ASSERT_EQUAL(mismatches, 0);
	/* the generator reaches every verdict, or the comparison proves little */
	for (round = 0; round < 6; round++)
		CU_ASSERT(verdicts[round] > 200);
}

int add_scope_suite(void)
{
	static const struct unit_test tests[] = {
		{ "scope: request lines", test_requests },
		{ "scope: ports only", test_ports_only },
		{ "scope: root prefix", test_root_prefix },
		{ "scope: rule syntax", test_rule_syntax },
		{ "scope: port syntax", test_port_syntax },
		{ "scope: matcher = reference on 200000 generated requests", test_fuzz_reference },
		{ NULL, NULL },
	};

	return unit_add_suite("scope", tests);
}
