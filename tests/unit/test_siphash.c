// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * SipHash-2-4 (include/bg_siphash.h) against the published test vectors,
 * and the HTTP token scanner (include/bg_http.h) on real request bytes:
 * the same lines the XDP program runs.
 */
#include <string.h>

#include "bg_http.h"
#include "bg_siphash.h"
#include "bg_token_reg.h"
#include "unit.h"

/*
 * The 64 vectors of the SipHash reference implementation (vectors.h,
 * vectors_sip64): key 00 01 .. 0f, message 00 01 .. (i-1) for i = 0..63.
 * The reference lists the 8 output bytes; here as the little-endian u64.
 */
static const __u64 sip64_vectors[64] = {
	0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL, 0x0d6c8009d9a94f5aULL, 0x85676696d7fb7e2dULL,
	0xcf2794e0277187b7ULL, 0x18765564cd99a68dULL, 0xcbc9466e58fee3ceULL, 0xab0200f58b01d137ULL,
	0x93f5f5799a932462ULL, 0x9e0082df0ba9e4b0ULL, 0x7a5dbbc594ddb9f3ULL, 0xf4b32f46226bada7ULL,
	0x751e8fbc860ee5fbULL, 0x14ea5627c0843d90ULL, 0xf723ca908e7af2eeULL, 0xa129ca6149be45e5ULL,
	0x3f2acc7f57c29bdbULL, 0x699ae9f52cbe4794ULL, 0x4bc1b3f0968dd39cULL, 0xbb6dc91da77961bdULL,
	0xbed65cf21aa2ee98ULL, 0xd0f2cbb02e3b67c7ULL, 0x93536795e3a33e88ULL, 0xa80c038ccd5ccec8ULL,
	0xb8ad50c6f649af94ULL, 0xbce192de8a85b8eaULL, 0x17d835b85bbb15f3ULL, 0x2f2e6163076bcfadULL,
	0xde4daaaca71dc9a5ULL, 0xa6a2506687956571ULL, 0xad87a3535c49ef28ULL, 0x32d892fad841c342ULL,
	0x7127512f72f27cceULL, 0xa7f32346f95978e3ULL, 0x12e0b01abb051238ULL, 0x15e034d40fa197aeULL,
	0x314dffbe0815a3b4ULL, 0x027990f029623981ULL, 0xcadcd4e59ef40c4dULL, 0x9abfd8766a33735cULL,
	0x0e3ea96b5304a7d0ULL, 0xad0c42d6fc585992ULL, 0x187306c89bc215a9ULL, 0xd4a60abcf3792b95ULL,
	0xf935451de4f21df2ULL, 0xa9538f0419755787ULL, 0xdb9acddff56ca510ULL, 0xd06c98cd5c0975ebULL,
	0xe612a3cb9ecba951ULL, 0xc766e62cfcadaf96ULL, 0xee64435a9752fe72ULL, 0xa192d576b245165aULL,
	0x0a8787bf8ecb74b2ULL, 0x81b3e73d20b49b6fULL, 0x7fa8220ba3b2eceaULL, 0x245731c13ca42499ULL,
	0xb78dbfaf3a8d83bdULL, 0xea1ad565322a1a0bULL, 0x60e61c23a3795013ULL, 0x6606d7e446282b93ULL,
	0x6ca4ecb15c5f91e1ULL, 0x9f626da15c9625f3ULL, 0xe51b38608ef25f57ULL, 0x958a324ceb064572ULL,
};

static const __u8 ref_key[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

static void test_vectors(void)
{
	__u64 k0 = bg_sip_le(ref_key, 8), k1 = bg_sip_le(ref_key + 8, 8);
	__u8 msg[64];
	int i, bad = 0;

	CU_ASSERT_EQUAL(k0, 0x0706050403020100ULL);
	for (i = 0; i < 64; i++)
		msg[i] = (__u8)i;
	for (i = 0; i < 64; i++)
		bad += bg_siphash(k0, k1, msg, (__u32)i) != sip64_vectors[i];
	CU_ASSERT_EQUAL(bad, 0);
	/* The first vector, as the reference prints it: 31 0e 0e dd 47 db 6f 72. */
	CU_ASSERT_EQUAL(bg_siphash(k0, k1, msg, 0), 0x726fdb47dd0e0e31ULL);
}

/* Streaming one byte at a time, as the scanner does, gives the same hash. */
static void test_streaming(void)
{
	__u64 k0 = 0x0123456789abcdefULL, k1 = 0xfedcba9876543210ULL;
	char msg[100];
	int len, i, bad = 0;

	for (i = 0; i < 100; i++)
		msg[i] = (char)('!' + i % 90);
	for (len = 0; len < 100; len++) {
		struct bg_sip s;
		__u64 w = 0;

		bg_sip_init(&s, k0, k1);
		for (i = 0; i < len; i++) {
			w |= (__u64)(__u8)msg[i] << ((i & 7) * 8);
			if ((i & 7) == 7) {
				bg_sip_word(&s, w);
				w = 0;
			}
		}
		bad += bg_sip_final(&s, w, (__u64)len) != bg_siphash(k0, k1, msg, (__u32)len);
	}
	CU_ASSERT_EQUAL(bad, 0);
	/* Another key, another hash: it is keyed. */
	CU_ASSERT_NOT_EQUAL(bg_siphash(k0, k1, msg, 32), bg_siphash(k0 ^ 1, k1, msg, 32));
	CU_ASSERT_NOT_EQUAL(bg_siphash(k0, k1, msg, 32), bg_siphash(k0, k1 ^ 1, msg, 32));
}

/* ---- HTTP scanner ---- */

#define K0 0x1111111111111111ULL
#define K1 0x2222222222222222ULL

/* What the XDP program does: the window, one byte at a time, then the end. */
static struct bg_http_scan scan(const struct bg_tok_cfg *cfg, const char *req, size_t len)
{
	struct bg_http_scan s;
	size_t i, n = len < BG_HTTP_WINDOW ? len : BG_HTTP_WINDOW;

	bg_http_scan_init(&s, K0, K1);
	for (i = 0; i < n; i++)
		if (bg_http_step(&s, cfg, (__u8)req[i]))
			break;
	bg_http_end(&s);
	return s;
}

struct http_fixture {
	const char *name;
	const char *req;
	int result;
	const char *token; /* FOUND: the value whose hash must come out */
};

#define GARBAGE "GET \x01\xff\x00\x80\r\n\x7f\xfe" /* NUL inside */

static const struct http_fixture bearer_fixtures[] = {
	{ "bearer", "GET /v1/models HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer tok-123\r\n\r\n",
	  BG_HTTP_FOUND, "tok-123" },
	{ "lower-case name and scheme",
	  "POST /v1/chat HTTP/1.1\r\nhost: api\r\nauthorization: bearer tok-123\r\n\r\n",
	  BG_HTTP_FOUND, "tok-123" },
	{ "upper case, no space after colon, spaces and tab",
	  "GET / HTTP/1.1\r\nAUTHORIZATION:BEARER \t  tok-123   \r\n\r\n", BG_HTTP_FOUND,
	  "tok-123" },
	{ "first header line", "GET / HTTP/1.1\r\nAuthorization: Bearer a\r\n\r\n", BG_HTTP_FOUND,
	  "a" },
	{ "bare LF line ends", "GET / HTTP/1.0\nAuthorization: Bearer abc\n\n", BG_HTTP_FOUND,
	  "abc" },
	{ "value ends at a space", "GET / HTTP/1.1\r\nAuthorization: Bearer abc def\r\n\r\n",
	  BG_HTTP_FOUND, "abc" },
	{ "the first of two headers",
	  "GET / HTTP/1.1\r\nAuthorization: Bearer one\r\nAuthorization: Bearer two\r\n\r\n",
	  BG_HTTP_FOUND, "one" },
	{ "absent", "GET / HTTP/1.1\r\nHost: api\r\nAccept: */*\r\n\r\n", BG_HTTP_NO_HEADER, NULL },
	{ "only in the body",
	  "POST / HTTP/1.1\r\nContent-Length: 40\r\n\r\nAuthorization: Bearer tok-123\r\n",
	  BG_HTTP_NO_HEADER, NULL },
	{ "a longer name is another header",
	  "GET / HTTP/1.1\r\nX-Authorization: Bearer tok-123\r\n\r\n", BG_HTTP_NO_HEADER, NULL },
	{ "name as a value", "GET / HTTP/1.1\r\nX-Note: Authorization: Bearer t\r\n\r\n",
	  BG_HTTP_NO_HEADER, NULL },
	{ "another scheme", "GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n",
	  BG_HTTP_BAD_VALUE, NULL },
	{ "scheme glued to more", "GET / HTTP/1.1\r\nAuthorization: Bearerx tok\r\n\r\n",
	  BG_HTTP_BAD_VALUE, NULL },
	{ "scheme without a value", "GET / HTTP/1.1\r\nAuthorization: Bearer\r\n\r\n",
	  BG_HTTP_BAD_VALUE, NULL },
	{ "empty value after the scheme", "GET / HTTP/1.1\r\nAuthorization: Bearer   \r\n\r\n",
	  BG_HTTP_BAD_VALUE, NULL },
	{ "split in the value", "GET / HTTP/1.1\r\nAuthorization: Bearer tok-1", BG_HTTP_TRUNCATED,
	  NULL },
	{ "CR ends the value at the segment's end",
	  "GET / HTTP/1.1\r\nAuthorization: Bearer tok-1\r", BG_HTTP_FOUND, "tok-1" },
	{ "split in the scheme", "GET / HTTP/1.1\r\nAuthorization: Bea", BG_HTTP_TRUNCATED, NULL },
	{ "split in the name", "GET / HTTP/1.1\r\nAuthoriz", BG_HTTP_NO_HEADER, NULL },
};

static struct bg_tok_cfg cfg_of(const char *header, const char *scheme)
{
	struct bg_tok_cfg c;
	char err[128];

	bg_tok_cfg_default(&c);
	CU_ASSERT_EQUAL(bg_tok_cfg_set_header(&c, header, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bg_tok_cfg_set_scheme(&c, scheme, err, sizeof(err)), 0);
	return c;
}

static void run_fixtures(const struct bg_tok_cfg *c, const struct http_fixture *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct bg_http_scan s = scan(c, f[i].req, strlen(f[i].req));

		if (s.result != (__u32)f[i].result ||
		    (f[i].token &&
		     s.hash != bg_siphash(K0, K1, f[i].token, (__u32)strlen(f[i].token)))) {
			printf("\n  fixture \"%s\": result %u, want %d", f[i].name, s.result,
			       f[i].result);
			CU_FAIL("http fixture");
		}
	}
}

static void test_http_bearer(void)
{
	struct bg_tok_cfg c = cfg_of("Authorization", "Bearer");

	run_fixtures(&c, bearer_fixtures, sizeof(bearer_fixtures) / sizeof(bearer_fixtures[0]));
	/* binary garbage after a method, NUL bytes included */
	CU_ASSERT_EQUAL(scan(&c, GARBAGE, sizeof(GARBAGE) - 1).result, BG_HTTP_NO_HEADER);
}

static void test_http_custom_header(void)
{
	static const struct http_fixture f[] = {
		{ "x-api-key", "GET / HTTP/1.1\r\nX-Api-Key: k-9\r\n\r\n", BG_HTTP_FOUND, "k-9" },
		{ "any case", "GET / HTTP/1.1\r\nx-API-key:k-9\r\n\r\n", BG_HTTP_FOUND, "k-9" },
		{ "no scheme: the whole value", "GET / HTTP/1.1\r\nX-Api-Key: Bearer k-9\r\n\r\n",
		  BG_HTTP_FOUND, "Bearer" },
		{ "the default header is not looked at",
		  "GET / HTTP/1.1\r\nAuthorization: Bearer k-9\r\n\r\n", BG_HTTP_NO_HEADER, NULL },
	};
	struct bg_tok_cfg c = cfg_of("X-Api-Key", "none");

	CU_ASSERT_EQUAL(c.pat_len, 11);
	CU_ASSERT_EQUAL(memcmp(c.pattern, "\nx-api-key:", 11), 0);
	CU_ASSERT_EQUAL(c.scheme_len, 0);
	run_fixtures(&c, f, sizeof(f) / sizeof(f[0]));
}

/* Every value length around the 8-byte words, and the length limit. */
static void test_http_lengths(void)
{
	struct bg_tok_cfg c = cfg_of("Authorization", "bearer");
	char req[BG_HTTP_WINDOW + 64], tok[BG_TOKEN_MAX + 2];
	int len, bad = 0;
	struct bg_http_scan s;

	for (len = 1; len <= 40; len++) {
		memset(tok, 'A' + len % 26, (size_t)len);
		tok[len - 1] = 'z';
		tok[len] = '\0';
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nAuthorization: Bearer %s\r\n\r\n",
			 tok);
		s = scan(&c, req, strlen(req));
		bad += s.result != BG_HTTP_FOUND || s.hash != bg_siphash(K0, K1, tok, (__u32)len);
	}
	CU_ASSERT_EQUAL(bad, 0);

	/* BG_TOKEN_MAX bytes: found; one more: oversized */
	memset(tok, 'x', BG_TOKEN_MAX);
	tok[BG_TOKEN_MAX] = '\0';
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nAuthorization: Bearer %s\r\n\r\n", tok);
	s = scan(&c, req, strlen(req));
	CU_ASSERT_EQUAL(s.result, BG_HTTP_FOUND);
	CU_ASSERT_EQUAL(s.hash, bg_siphash(K0, K1, tok, BG_TOKEN_MAX));
	tok[BG_TOKEN_MAX] = 'x';
	tok[BG_TOKEN_MAX + 1] = '\0';
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nAuthorization: Bearer %s\r\n\r\n", tok);
	CU_ASSERT_EQUAL(scan(&c, req, strlen(req)).result, BG_HTTP_OVERSIZED);
}

/* A header that starts past the window is not seen. */
static void test_http_window(void)
{
	struct bg_tok_cfg c = cfg_of("Authorization", "bearer");
	char req[2048], pad[1100];
	size_t len;

	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX-Pad: %s\r\nAuthorization: Bearer t\r\n\r\n",
		 pad);
	len = strlen(req);
	CU_ASSERT(len > BG_HTTP_WINDOW);
	CU_ASSERT_EQUAL(scan(&c, req, len).result, BG_HTTP_NO_HEADER);
	/* ... and one whose value the window cuts is truncated: "tok" at 1022 */
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX-Pad: %.*s\r\nAuthorization: Bearer tok\r\n",
		 BG_HTTP_WINDOW - 2 - 23 - 24, pad);
	CU_ASSERT_EQUAL(strstr(req, "tok") - req, BG_HTTP_WINDOW - 2);
	CU_ASSERT_EQUAL(scan(&c, req, strlen(req)).result, BG_HTTP_TRUNCATED);
}

static __u64 w8(const char *s)
{
	__u8 b[8] = { 0 };

	memcpy(b, s, strlen(s) < 8 ? strlen(s) : 8);
	return bg_sip_le(b, 8);
}

static void test_http_methods(void)
{
	static const char *const yes[] = { "GET / HT", "POST /v1", "PUT /a H",
					   "DELETE /", "HEAD / H", "OPTIONS ",
					   "PATCH /x", "CONNECT ", "TRACE / " };
	static const char *const no[] = { "PRI * HT", /* the HTTP/2 preface */
					  "HTTP/1.1",
					  "get / HT",
					  "GETX / H",
					  "POSTAL /",
					  "\x16\x03\x01\x02\x00\x01\x00\x01", /* TLS ClientHello */
					  "        ",
					  "OPTIONS/" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		CU_ASSERT_EQUAL(bg_http_is_request(w8(yes[i])), 1);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		CU_ASSERT_EQUAL(bg_http_is_request(w8(no[i])), 0);
}

int add_siphash_suite(void)
{
	static const struct unit_test tests[] = {
		{ "SipHash-2-4 reference vectors", test_vectors },
		{ "streaming hash equals buffer hash", test_streaming },
		{ "http: Authorization: Bearer fixtures", test_http_bearer },
		{ "http: custom header, no scheme", test_http_custom_header },
		{ "http: value lengths and limit", test_http_lengths },
		{ "http: the window", test_http_window },
		{ "http: request methods", test_http_methods },
		{ NULL, NULL },
	};

	return unit_add_suite("siphash+http", tests);
}
