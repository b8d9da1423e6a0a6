// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The token registry's rules (what a token may be, keys and fingerprints,
 * the header config), the bind protocol's parser, and the expiry math with
 * a pinned clock. The same operations on real maps run in the bpf suite.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bg_bindsrv.h"
#include "bg_flow.h"
#include "bg_siphash.h"
#include "bg_time.h"
#include "bg_token_reg.h"
#include "unit.h"

static char err[512];
/* A state with no maps: bad requests are refused before any map is read. */
static const struct bg_state no_state;

/* ---- What a token may be ---- */

static void test_token_check(void)
{
	char big[BG_TOKEN_MAX + 1];

	memset(big, 'a', sizeof(big));
	CU_ASSERT_EQUAL(bg_token_check("sk-live-0123456789", 18, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bg_token_check("a", 1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bg_token_check(big, BG_TOKEN_MAX, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bg_token_check(big, BG_TOKEN_MAX + 1, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "longer than the 512 bytes"));
	CU_ASSERT_EQUAL(bg_token_check("", 0, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "empty"));

	/* The message points at the byte and never repeats the token. */
	CU_ASSERT_EQUAL(bg_token_check("secret value", 12, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "byte 7 of 12 is whitespace"));
	CU_ASSERT_PTR_NULL(strstr(err, "secret"));
	CU_ASSERT_EQUAL(bg_token_check("two\nlines", 9, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "a second line"));
	CU_ASSERT_EQUAL(bg_token_check("caf\xc3\xa9", 5, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not ASCII"));
	CU_ASSERT_EQUAL(bg_token_check("a\x01", 2, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "control character"));
}

/* ---- Keys and fingerprints ---- */

static void test_token_keys(void)
{
	struct bg_secret a = { .key = { 1, 2 }, .fp_key = { 3, 4 }, .created_unix = 1 };
	struct bg_secret b = a;
	__u64 h1, f1, h2, f2, h3, f3;
	char buf[32];

	bg_token_hash(&a, "tok-a", 5, &h1, &f1);
	bg_token_hash(&a, "tok-a", 5, &h2, &f2);
	CU_ASSERT_EQUAL(h1, h2); /* deterministic */
	CU_ASSERT_EQUAL(f1, f2);
	CU_ASSERT_EQUAL(h1, bg_siphash(1, 2, "tok-a", 5)); /* what XDP computes */
	CU_ASSERT_EQUAL(f1 >> BG_FP_BITS, 0); /* 48 bits */
	CU_ASSERT_NOT_EQUAL(f1, h1 >> (64 - BG_FP_BITS)); /* not the key's bits */
	bg_token_hash(&a, "tok-b", 5, &h3, &f3);
	CU_ASSERT_NOT_EQUAL(h1, h3);
	CU_ASSERT_NOT_EQUAL(f1, f3);
	/* another secret: other keys and fingerprints for the same token */
	b.key[0] ^= 1;
	b.fp_key[1] ^= 1;
	bg_token_hash(&b, "tok-a", 5, &h3, &f3);
	CU_ASSERT_NOT_EQUAL(h1, h3);
	CU_ASSERT_NOT_EQUAL(f1, f3);

	CU_ASSERT_STRING_EQUAL(bg_fp_fmt(0x0000abcdef01ULL, buf, sizeof(buf)), "0000abcdef01");
	CU_ASSERT_EQUAL(bg_fp_parse("0000abcdef01", &f2), 0);
	CU_ASSERT_EQUAL(f2, 0xabcdef01ULL);
	CU_ASSERT_EQUAL(bg_fp_parse(bg_fp_fmt(f1, buf, sizeof(buf)), &f2), 0);
	CU_ASSERT_EQUAL(f2, f1);
	CU_ASSERT_EQUAL(bg_fp_parse("abcdef01", &f2), -EINVAL); /* too short */
	CU_ASSERT_EQUAL(bg_fp_parse("0000abcdef0g", &f2), -EINVAL);
	CU_ASSERT_EQUAL(bg_fp_parse("0000abcdef012", &f2), -EINVAL);
}

/* Listing order and which entries gc removes. */
static void test_registry_rules(void)
{
	struct bg_token_entry e[3] = {
		{ .hash = 1, .tok = { .id = 2, .created_unix = 10, .fingerprint = 5 } },
		{ .hash = 2, .tok = { .id = 1, .created_unix = 20, .fingerprint = 9 } },
		{ .hash = 3, .tok = { .id = 1, .created_unix = 15, .fingerprint = 7 } },
	};
	struct bg_token t = { .deadline_ns = 1000 };

	qsort(e, 3, sizeof(e[0]), bg_token_cmp);
	CU_ASSERT_EQUAL(e[0].hash, 3); /* identity 1, older first */
	CU_ASSERT_EQUAL(e[1].hash, 2);
	CU_ASSERT_EQUAL(e[2].hash, 1);

	CU_ASSERT_FALSE(bg_token_dead(&t, 999));
	CU_ASSERT_TRUE(bg_token_dead(&t, 1000)); /* dead at its deadline */
	CU_ASSERT_TRUE(bg_token_dead(&t, 5000));
	t.deadline_ns = 0; /* never */
	CU_ASSERT_FALSE(bg_token_dead(&t, ~0ULL));
}

static void test_header_config(void)
{
	struct bg_tok_cfg c;
	char name[80], scheme[20];

	bg_tok_cfg_default(&c);
	CU_ASSERT_EQUAL(c.flags, BG_TOK_F_HTTP); /* not active until a token exists */
	bg_tok_cfg_header(&c, name, sizeof(name));
	bg_tok_cfg_scheme(&c, scheme, sizeof(scheme));
	CU_ASSERT_STRING_EQUAL(name, "authorization");
	CU_ASSERT_STRING_EQUAL(scheme, "bearer");
	CU_ASSERT_EQUAL(memcmp(c.pattern, "\nauthorization:", 15), 0);
	CU_ASSERT_EQUAL(c.pat_len, 15);

	CU_ASSERT_EQUAL(bg_tok_cfg_set_header(&c, "X-Agent-Token", err, sizeof(err)), 0);
	bg_tok_cfg_header(&c, name, sizeof(name));
	CU_ASSERT_STRING_EQUAL(name, "x-agent-token");
	CU_ASSERT_EQUAL(bg_tok_cfg_set_header(&c, "Bad Header", err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot appear in a header name"));
	CU_ASSERT_EQUAL(bg_tok_cfg_set_header(&c, "X:Y", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(bg_tok_cfg_set_header(&c, "", err, sizeof(err)), -EINVAL);
	memset(name, 'h', 65);
	name[65] = '\0';
	CU_ASSERT_EQUAL(bg_tok_cfg_set_header(&c, name, err, sizeof(err)), -EINVAL);
	name[64] = '\0';
	CU_ASSERT_EQUAL(bg_tok_cfg_set_header(&c, name, err, sizeof(err)), 0);
	CU_ASSERT(c.pat_len <= BG_HDR_PAT_LEN);

	CU_ASSERT_EQUAL(bg_tok_cfg_set_scheme(&c, "none", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.scheme_len, 0);
	CU_ASSERT_EQUAL(bg_tok_cfg_set_scheme(&c, "Token", err, sizeof(err)), 0);
	bg_tok_cfg_scheme(&c, scheme, sizeof(scheme));
	CU_ASSERT_STRING_EQUAL(scheme, "token");
	CU_ASSERT_EQUAL(bg_tok_cfg_set_scheme(&c, "abcdefghijklmnop", err, sizeof(err)), -EINVAL);
}

/* ---- The bind protocol ---- */

static void test_bind_request(void)
{
	struct bg_bindreq r;
	char line[256];
	__u32 a;

	snprintf(line, sizeof(line), "BIND tcp 198.18.1.10 40000 198.18.1.1 9000 tok-1");
	CU_ASSERT_EQUAL_FATAL(bg_bindreq_parse(line, &r, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.op, BG_BINDREQ_BIND);
	CU_ASSERT_EQUAL(r.key.proto, IPPROTO_TCP);
	CU_ASSERT_EQUAL(r.key.ip_ver, 4);
	inet_pton(AF_INET, "198.18.1.10", &a);
	CU_ASSERT_EQUAL(r.key.saddr[0], a);
	CU_ASSERT_EQUAL(r.key.saddr[1], 0);
	CU_ASSERT_EQUAL(r.key.sport, 40000); /* host order, as struct bg_pkt */
	CU_ASSERT_EQUAL(r.key.dport, 9000);
	CU_ASSERT_EQUAL(r.token_len, 5);
	CU_ASSERT_EQUAL(memcmp(r.token, "tok-1", 5), 0);
	CU_ASSERT_EQUAL(r.idle_ns, 0);

	/* an AF_INET6 socket's view of an IPv4 client is the IPv4 flow */
	snprintf(line, sizeof(line), "BIND udp ::ffff:198.18.1.10 5 ::ffff:198.18.1.1 6 t 30");
	CU_ASSERT_EQUAL_FATAL(bg_bindreq_parse(line, &r, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.key.ip_ver, 4);
	CU_ASSERT_EQUAL(r.key.saddr[0], a);
	CU_ASSERT_EQUAL(r.key.proto, IPPROTO_UDP);
	CU_ASSERT_EQUAL(r.idle_ns, 30 * BG_NS_PER_SEC);

	snprintf(line, sizeof(line), "UNBIND tcp 2001:db8::10 1 2001:db8::1 443");
	CU_ASSERT_EQUAL_FATAL(bg_bindreq_parse(line, &r, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.op, BG_BINDREQ_UNBIND);
	CU_ASSERT_EQUAL(r.key.ip_ver, 6);
	CU_ASSERT_PTR_NULL(r.token);

	/* the connection's token: what lets another uid unbind it */
	snprintf(line, sizeof(line), "UNBIND tcp 198.18.1.10 40000 198.18.1.1 9000 tok-1");
	CU_ASSERT_EQUAL_FATAL(bg_bindreq_parse(line, &r, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.op, BG_BINDREQ_UNBIND);
	CU_ASSERT_EQUAL(r.token_len, 5);
	CU_ASSERT_EQUAL(memcmp(r.token, "tok-1", 5), 0);

	struct {
		const char *line, *msg;
	} bad[] = {
		{ "", "empty request" },
		{ "HELLO", "unknown request" },
		{ "BIND tcp 198.18.1.10 40000 198.18.1.1 9000", "6 or 7 fields" },
		{ "UNBIND tcp 198.18.1.10 40000 198.18.1.1 9000 tok x", "5 or 6 fields" },
		{ "BIND tcp 198.18.1.10 40000 198.18.1.1 9000 tok 5 x y z", "6 or 7 fields" },
		{ "BIND sctp 198.18.1.10 1 198.18.1.1 2 t",
		  "proto (4 bytes): neither tcp nor udp" },
		{ "BIND tcp 198.18.1.300 1 198.18.1.1 2 t", "src (12 bytes): not an IPv4 or IPv6" },
		{ "BIND tcp 198.18.1.1 1 2001:db8::1 2 t", "src is IPv4 and dst IPv6" },
		{ "BIND tcp 198.18.1.1 0 198.18.1.2 2 t", "sport (1 bytes): not a port" },
		{ "BIND tcp 198.18.1.1 1 198.18.1.2 65536 t", "dport (5 bytes): not a port" },
		{ "BIND tcp 198.18.1.1 1 198.18.1.2 2 t -5", "idle (2 bytes): not a number" },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "%s", bad[i].line);
		CU_ASSERT_EQUAL(bg_bindreq_parse(line, &r, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].msg)) {
			printf("\n  \"%s\": message \"%s\"", bad[i].line, err);
			CU_FAIL("bind request error message");
		}
	}
}

/*
 * A malformed request may carry the token in any field (a field left out
 * shifts it into the next one): neither the reply nor the log line may
 * repeat it, whichever field it lands in.
 */
static void test_bind_request_no_echo(void)
{
	static const char secret[] = "sk-SECRET-4f9a2c";
	static const char *const tmpl[] = {
		"BIND %s 198.18.1.10 1 198.18.1.1 2 tok",
		"BIND tcp %s 1 198.18.1.1 2 tok",
		"BIND tcp 198.18.1.10 %s 198.18.1.1 2 tok",
		"BIND tcp 198.18.1.10 1 %s 2 tok",
		"BIND tcp 198.18.1.10 1 198.18.1.1 %s tok",
		"BIND tcp 198.18.1.10 1 198.18.1.1 2 tok %s",
		"BIND tcp 198.18.1.10 1 198.18.1.1 %s", /* the port left out */
		"BIND tcp 198.18.1.10 198.18.1.1 2 %s 30", /* a port left out: shifted */
		"UNBIND tcp 198.18.1.10 1 198.18.1.1 %s",
		"UNBIND tcp 198.18.1.10 1 198.18.1.1 2 tok %s",
		"UNBIND tcp 198.18.1.10 1 198.18.1.1 %s tok",
		"%s",
	};
	char line[256], reply[BG_BIND_LINE_MAX], log[512];
	size_t i;

	for (i = 0; i < sizeof(tmpl) / sizeof(tmpl[0]); i++) {
		struct bg_bindreq r;

		snprintf(line, sizeof(line), tmpl[i], secret);
		CU_ASSERT_EQUAL(bg_bindreq_parse(line, &r, err, sizeof(err)), -EINVAL);
		CU_ASSERT_PTR_NULL(strstr(err, "SECRET"));
		snprintf(line, sizeof(line), tmpl[i], secret);
		reply[0] = log[0] = '\0';
		bg_bindsrv_handle_line(&no_state, NULL, line, reply, sizeof(reply), log,
				       sizeof(log));
		CU_ASSERT_PTR_NOT_NULL(strstr(reply, "ERR bad-request "));
		CU_ASSERT_PTR_NOT_NULL(strstr(log, "bad request: "));
		if (strstr(err, "SECRET") || strstr(reply, "SECRET") || strstr(log, "SECRET"))
			printf("\n  \"%s\": \"%s\" / \"%s\"", tmpl[i], reply, log);
		CU_ASSERT_PTR_NULL(strstr(reply, "SECRET"));
		CU_ASSERT_PTR_NULL(strstr(log, "SECRET"));
	}
}

/*
 * The limits of one bind connection, on a socketpair (no state needed: bad
 * requests never reach the maps): a line over the limit is refused and the
 * connection closed; part of a line is given BG_BINDSRV_PARTIAL_MS, a
 * silent connection BG_BINDSRV_IDLE_MS, each counted.
 */
static void test_bind_conn_limits(void)
{
	struct bg_bindsrv_stats stats = {};
	struct bg_bindsrv_conn c;
	char big[BG_BIND_LINE_MAX + 100], buf[256];
	int sv[2];
	ssize_t n;
	__u64 t0;

	/* oversize: answered, closed, counted */
	CU_ASSERT_FATAL(!socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
	bg_bindsrv_conn_init(&c, sv[1]);
	c.stats = &stats;
	memset(big, 'x', sizeof(big));
	CU_ASSERT_EQUAL(send(sv[0], big, sizeof(big), 0), (ssize_t)sizeof(big));
	CU_ASSERT_EQUAL(bg_bindsrv_conn_io(&no_state, &c), 0);
	n = recv(sv[0], buf, sizeof(buf) - 1, 0);
	CU_ASSERT_FATAL(n > 0);
	buf[n] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "ERR bad-request line longer than 1024 bytes"));
	CU_ASSERT_EQUAL(stats.closed_oversize, 1);
	CU_ASSERT_EQUAL(stats.replies[BG_BIND_R_BAD_REQUEST], 1);
	close(sv[0]);
	close(sv[1]);

	/* part of a line: its clock starts at its first byte, whatever follows */
	CU_ASSERT_FATAL(!socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
	bg_bindsrv_conn_init(&c, sv[1]);
	c.stats = &stats;
	t0 = c.last_ms;
	CU_ASSERT_EQUAL(bg_bindsrv_conn_expired(&c, t0 + BG_BINDSRV_PARTIAL_MS), 0);
	CU_ASSERT_EQUAL(send(sv[0], "BIND tcp ", 9, 0), 9);
	CU_ASSERT_EQUAL(bg_bindsrv_conn_io(&no_state, &c), 1);
	CU_ASSERT(c.partial_ms >= t0);
	t0 = c.partial_ms;
	CU_ASSERT_EQUAL(send(sv[0], "1", 1, 0), 1); /* a trickle does not restart it */
	CU_ASSERT_EQUAL(bg_bindsrv_conn_io(&no_state, &c), 1);
	CU_ASSERT_EQUAL(c.partial_ms, t0);
	CU_ASSERT_EQUAL(bg_bindsrv_conn_expired(&c, t0 + BG_BINDSRV_PARTIAL_MS - 1), 0);
	CU_ASSERT_EQUAL(bg_bindsrv_conn_expired(&c, t0 + BG_BINDSRV_PARTIAL_MS), 1);
	CU_ASSERT_EQUAL(stats.closed_stalled, 1);
	CU_ASSERT_EQUAL(c.len, 0);
	close(sv[0]);
	close(sv[1]);

	/* a whole line answered: no partial clock; idle from the answer on */
	CU_ASSERT_FATAL(!socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
	bg_bindsrv_conn_init(&c, sv[1]);
	c.stats = &stats;
	CU_ASSERT_EQUAL(send(sv[0], "HELLO\n", 6, 0), 6);
	CU_ASSERT_EQUAL(bg_bindsrv_conn_io(&no_state, &c), 1);
	CU_ASSERT_EQUAL(c.partial_ms, 0);
	t0 = c.last_ms;
	CU_ASSERT_EQUAL(bg_bindsrv_conn_expired(&c, t0 + BG_BINDSRV_PARTIAL_MS), 0);
	CU_ASSERT_EQUAL(bg_bindsrv_conn_expired(&c, t0 + BG_BINDSRV_IDLE_MS - 1), 0);
	CU_ASSERT_EQUAL(bg_bindsrv_conn_expired(&c, t0 + BG_BINDSRV_IDLE_MS), 1);
	CU_ASSERT_EQUAL(stats.closed_idle, 1);
	CU_ASSERT_EQUAL(stats.closed_stalled, 1);
	close(sv[0]);
	close(sv[1]);
}

/* ---- Expiry math ---- */

static void test_durations(void)
{
	static const struct {
		const char *s;
		__u64 ns;
	} ok[] = {
		{ "90", 90 * BG_NS_PER_SEC },
		{ "90s", 90 * BG_NS_PER_SEC },
		{ "15m", 900 * BG_NS_PER_SEC },
		{ "2h", 7200 * BG_NS_PER_SEC },
		{ "7d", 7 * 86400 * BG_NS_PER_SEC },
		{ "1h30m", 5400 * BG_NS_PER_SEC },
		{ "1.5h", 5400 * BG_NS_PER_SEC },
		{ "1d2h3m4s", 93784 * BG_NS_PER_SEC },
		{ "1.5", 1500000000ULL },
	};
	static const char *const bad[] = { "", "m", "15x", "-5m", "0x10s", "1e3h", "5m 2s", "1 5" };
	char buf[40];
	__u64 ns;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CU_ASSERT_EQUAL(bg_parse_duration(ok[i].s, &ns, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(ns, ok[i].ns);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(bg_parse_duration(bad[i], &ns, err, sizeof(err)), -EINVAL);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "90s, 15m, 1h30m, 7d"));
	}
	CU_ASSERT_EQUAL(bg_parse_duration("0s", &ns, err, sizeof(err)), -ERANGE);
	CU_ASSERT_EQUAL(bg_parse_duration("0.5s", &ns, err, sizeof(err)), -ERANGE);
	CU_ASSERT_EQUAL(bg_parse_duration("4000d", &ns, err, sizeof(err)), -ERANGE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "10 years"));

	CU_ASSERT_STRING_EQUAL(bg_fmt_duration(5400 * BG_NS_PER_SEC, buf, sizeof(buf)), "1h30m");
	CU_ASSERT_STRING_EQUAL(bg_fmt_duration(93784 * BG_NS_PER_SEC, buf, sizeof(buf)),
			       "1d2h3m4s");
	CU_ASSERT_STRING_EQUAL(bg_fmt_duration(999999999, buf, sizeof(buf)), "0s");
	CU_ASSERT_STRING_EQUAL(bg_fmt_duration(60 * BG_NS_PER_SEC, buf, sizeof(buf)), "1m");
}

static void test_rfc3339(void)
{
	char buf[40];
	__s64 t;

	CU_ASSERT_EQUAL(bg_parse_rfc3339("2026-12-01T10:00:00Z", &t, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(t, 1796119200);
	CU_ASSERT_STRING_EQUAL(bg_fmt_rfc3339(t, buf, sizeof(buf)), "2026-12-01T10:00:00Z");
	CU_ASSERT_EQUAL(bg_parse_rfc3339("2026-12-01T12:00:00+02:00", &t, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(t, 1796119200);
	CU_ASSERT_EQUAL(bg_parse_rfc3339("2026-12-01t04:30:00.123456-05:30", &t, err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(t, 1796119200);
	CU_ASSERT_EQUAL(bg_parse_rfc3339("2028-02-29 00:00:00z", &t, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(t, 1835395200);
	CU_ASSERT_EQUAL(bg_parse_rfc3339("1970-01-01T00:00:00Z", &t, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(t, 0);

	static const char *const bad[] = {
		"2026-12-01",
		"2026-12-01T10:00:00", /* no offset: ambiguous */
		"2027-02-29T00:00:00Z",
		"2026-13-01T00:00:00Z",
		"2026-12-01T24:00:00Z",
		"2026-12-01T10:00:00+2:00",
		"2026-12-01T10:00:00Zjunk",
		"2026-12-01T10:00:00.Z",
		"26-12-01T10:00:00Z",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(bg_parse_rfc3339(bad[i], &t, err, sizeof(err)), -EINVAL);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "RFC 3339"));
	}
}

static void test_expiry_math(void)
{
	/* booted 1000 s ago, 2026-12-01T10:00:00.25Z */
	const struct bg_clock now = { .boot_ns = 1000 * BG_NS_PER_SEC,
				      .unix_ns = 1796119200ULL * BG_NS_PER_SEC + 250000000 };
	__u64 deadline, exp;

	/* ttl 15m: dies 900 s later on the boot clock; shown as that second */
	bg_expiry_from_ttl(&now, 900 * BG_NS_PER_SEC, &deadline, &exp);
	CU_ASSERT_EQUAL(deadline, 1900 * BG_NS_PER_SEC);
	CU_ASSERT_EQUAL(exp, 1796119200ULL + 900);
	CU_ASSERT_EQUAL(bg_expiry_left(deadline, now.boot_ns), 900 * BG_NS_PER_SEC);
	CU_ASSERT_EQUAL(bg_expiry_left(deadline, deadline - 1), 1);
	CU_ASSERT_EQUAL(bg_expiry_left(deadline, deadline), 0);
	CU_ASSERT_EQUAL(bg_expiry_left(0, now.boot_ns), 0); /* never */

	/* an absolute time 60 s ahead: 59.75 s on the boot clock */
	CU_ASSERT_EQUAL(bg_expiry_from_unix(&now, 1796119260, &deadline), 0);
	CU_ASSERT_EQUAL(deadline, 1000 * BG_NS_PER_SEC + 59750000000ULL);
	/* now or past: refused */
	CU_ASSERT_EQUAL(bg_expiry_from_unix(&now, 1796119200, &deadline), -ETIME);
	CU_ASSERT_EQUAL(bg_expiry_from_unix(&now, 1000, &deadline), -ETIME);
	CU_ASSERT_EQUAL(bg_expiry_from_unix(&now, 1796119200LL + 11LL * 366 * 86400, &deadline),
			-ERANGE);

	/* the data plane's rule: dead from the deadline on */
	CU_ASSERT_FALSE(bg_deadline_passed(1900, 1899));
	CU_ASSERT_TRUE(bg_deadline_passed(1900, 1900));
	CU_ASSERT_FALSE(bg_deadline_passed(0, ~0ULL));
}

static void test_flow_liveness(void)
{
	struct bg_flow f = { .last_ns = 1000, .idle_ns = 100, .deadline_ns = 0 };

	CU_ASSERT_TRUE(bg_flow_live(&f, 1000));
	CU_ASSERT_TRUE(bg_flow_live(&f, 1099));
	CU_ASSERT_FALSE(bg_flow_live(&f, 1100)); /* idle for idle_ns: dead */
	CU_ASSERT_TRUE(bg_flow_live(&f, 990)); /* last_ns stored a little ahead */
	f.deadline_ns = 1050; /* the token dies first */
	CU_ASSERT_TRUE(bg_flow_live(&f, 1049));
	CU_ASSERT_FALSE(bg_flow_live(&f, 1050));
}

int add_tokens_suite(void)
{
	static const struct unit_test tests[] = {
		{ "what a token may be", test_token_check },
		{ "map keys and fingerprints", test_token_keys },
		{ "registry order and expiry", test_registry_rules },
		{ "header config", test_header_config },
		{ "bind protocol requests", test_bind_request },
		{ "bind request errors never repeat a field", test_bind_request_no_echo },
		{ "bind connection limits", test_bind_conn_limits },
		{ "durations", test_durations },
		{ "RFC 3339 times", test_rfc3339 },
		{ "expiry math on a pinned clock", test_expiry_math },
		{ "flow liveness", test_flow_liveness },
		{ NULL, NULL },
	};

	return unit_add_suite("tokens", tests);
}
