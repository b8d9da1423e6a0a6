// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Agent tokens through the real XDP object: real HTTP request bytes in TCP
 * segments (header present, absent, lower case, split, oversized, garbage,
 * HTTP/2), continuation segments, keep-alive with several agents, expiry
 * in the data plane, bindings (library, Unix socket, client library), and
 * the registry on real maps. Needs root; part of the bpf suite.
 */
#include <arpa/inet.h> /* before linux/in.h */
#include <CUnit/CUnit.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bg_bindsrv.h"
#include "bg_client.h"
#include "bg_flow.h"
#include "bg_http.h"
#include "bg_identity.h"
#include "bg_time.h"
#include "bg_token_reg.h"
#include "bpftest.h"
#include "pkt.h"

#define TCP_ACK 0x10
#define TCP_PSH 0x08
#define TCP_SYN 0x02

static __u64 boot_ns(void)
{
	struct bg_clock c;

	CU_ASSERT_EQUAL(bg_clock_now(&c), 0);
	return c.boot_ns;
}

static void add_token(const char *tok, const char *ident, __u64 deadline_ns)
{
	struct bg_token_entry e;
	struct bg_identity id;

	CU_ASSERT_EQUAL_FATAL(bg_identity_get(&st, ident, &id), 0);
	CU_ASSERT_EQUAL_FATAL(bg_token_add(&st, tok, strlen(tok), id.id, deadline_ns, 0, &e), 0);
}

/* Two agents, alice and bob, allowed (counted, never limited). */
static void agents_up(void)
{
	FX_UP();
	add_id("alice", 0, 0, 0, 0, BG_ACT_ALLOW);
	add_id("bob", 0, 0, 0, 0, BG_ACT_ALLOW);
	add_token("tok-alice-0123456789", "alice", 0);
	add_token("tok-bob-abcdef", "bob", 0);
}

/* A TCP segment client:sport -> server:80 carrying payload (may be NULL). */
static struct pkt_spec seg(int ip, __u16 sport, const char *payload, size_t len, __u8 flags)
{
	struct pkt_spec s = { .ip = ip, .proto = IPPROTO_TCP, .sport = sport, .dport = 80 };

	s.tcp_flags = flags;
	s.data = payload;
	s.data_len = payload ? (len ? len : strlen(payload)) : 0;
	return s;
}

static int send_seg(int ip, __u16 sport, const char *payload, size_t len)
{
	struct pkt_spec s = seg(ip, sport, payload, len, TCP_ACK | TCP_PSH);

	return run_spec(&s, NULL);
}

static __u64 passed(const char *ident)
{
	return stats_of(ident).passed_pkts;
}

#define REQ(hdrs) "GET /v1/models HTTP/1.1\r\nHost: api.example\r\n" hdrs "User-Agent: t\r\n\r\n"
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define GARBAGE \
	"\x16\x03\x01\x02\x01\x01\x01\x01\xfc\x03\x03GET / HTTP/1.1\r\nAuthorization: Bearer tok-alice-0123456789\r\n"

struct http_fixture {
	const char *name;
	const char *payload;
	int ip;
	const char *identity; /* whose counters the segment lands in */
	int counter; /* that must count it */
};

/* ---- Requests ---- */

static void test_http_fixtures(void)
{
	static char oversized[BG_TOKEN_MAX + 200];
	const struct http_fixture fx[] = {
		{ "header present", REQ("Authorization: Bearer tok-alice-0123456789\r\n"), 4,
		  "alice", BG_C_CLS_HTTP },
		{ "lower-case header", REQ("authorization: bearer tok-bob-abcdef\r\n"), 4, "bob",
		  BG_C_CLS_HTTP },
		{ "IPv6", REQ("Authorization: Bearer tok-bob-abcdef\r\n"), 6, "bob",
		  BG_C_CLS_HTTP },
		{ "POST, header last",
		  "POST /v1/chat HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 2\r\nAuthorization: Bearer tok-alice-0123456789\r\n\r\n{}",
		  4, "alice", BG_C_CLS_HTTP },
		{ "header absent", REQ(""), 4, "default", BG_C_HTTP_NO_HEADER },
		{ "unknown token", REQ("Authorization: Bearer tok-mallory\r\n"), 4, "default",
		  BG_C_HTTP_UNKNOWN },
		{ "a token's prefix", REQ("Authorization: Bearer tok-alice-012345678\r\n"), 4,
		  "default", BG_C_HTTP_UNKNOWN },
		{ "another scheme", REQ("Authorization: Basic dG9rLWFsaWNl\r\n"), 4, "default",
		  BG_C_HTTP_BAD_VALUE },
		{ "split: value cut by the segment's end",
		  "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer tok-alice-01234", 4,
		  "default", BG_C_HTTP_TRUNCATED },
		{ "split: header in the next segment", "GET / HTTP/1.1\r\nHost: a\r\nAuthoriza", 4,
		  "default", BG_C_HTTP_NO_HEADER },
		{ "oversized value", oversized, 4, "default", BG_C_HTTP_OVERSIZED },
		{ "HTTP/2 preface: not parsed", H2_PREFACE, 4, "default", BG_C_CLS_DEFAULT },
		{ "binary garbage: not parsed", GARBAGE, 4, "default", BG_C_CLS_DEFAULT },
	};
	size_t i;
	int n;

	n = snprintf(oversized, sizeof(oversized), "GET / HTTP/1.1\r\nAuthorization: Bearer ");
	memset(oversized + n, 'x', BG_TOKEN_MAX + 1);
	memcpy(oversized + n + BG_TOKEN_MAX + 1, "\r\n\r\n", 5);

	agents_up();
	for (i = 0; i < sizeof(fx) / sizeof(fx[0]); i++) {
		__u64 p0 = passed(fx[i].identity), c0 = counter((__u32)fx[i].counter);
		__u64 r0 = counter(BG_C_HTTP_REQUEST);
		int v = send_seg(fx[i].ip, (__u16)(10000 + i), fx[i].payload, 0);
		int is_req = strncmp(fx[i].payload, "PRI", 3) && fx[i].payload[0] != '\x16';

		if (v != XDP_PASS || passed(fx[i].identity) != p0 + 1 ||
		    counter((__u32)fx[i].counter) != c0 + 1 ||
		    counter(BG_C_HTTP_REQUEST) != r0 + (__u64)is_req) {
			printf("\n  fixture \"%s\": verdict %d, %s +%llu, counter +%llu, requests +%llu",
			       fx[i].name, v, fx[i].identity,
			       (unsigned long long)(passed(fx[i].identity) - p0),
			       (unsigned long long)(counter((__u32)fx[i].counter) - c0),
			       (unsigned long long)(counter(BG_C_HTTP_REQUEST) - r0));
			CU_FAIL("http fixture");
		}
	}
	fx_down();
}

/* Segments without a request line follow the request the connection last started. */
static void test_continuation(void)
{
	const char *alice = REQ("Authorization: Bearer tok-alice-0123456789\r\n");
	const char *bob = REQ("Authorization: Bearer tok-bob-abcdef\r\n");
	const char *anon = REQ("");
	struct pkt_spec ack = seg(4, 20000, NULL, 0, TCP_ACK);
	const char *body = "{\"messages\": [\"a long request body, continued\"]}";

	agents_up();
	/* keep-alive: alice's request, its body, a bare ACK */
	send_seg(4, 20000, alice, 0);
	send_seg(4, 20000, body, 0);
	run_spec(&ack, NULL);
	CU_ASSERT_EQUAL(passed("alice"), 3);
	CU_ASSERT_EQUAL(counter(BG_C_CLS_HTTP), 1);
	CU_ASSERT_EQUAL(counter(BG_C_CLS_FLOW), 2);
	/* the next request on the same connection is bob's: so is what follows */
	send_seg(4, 20000, bob, 0);
	send_seg(4, 20000, body, 0);
	CU_ASSERT_EQUAL(passed("bob"), 2);
	CU_ASSERT_EQUAL(passed("alice"), 3);
	/* a request without a token: it and its continuation are nobody's */
	send_seg(4, 20000, anon, 0);
	send_seg(4, 20000, body, 0);
	run_spec(&ack, NULL);
	CU_ASSERT_EQUAL(passed("default"), 3);
	CU_ASSERT_EQUAL(passed("bob"), 2);
	/* and back to alice */
	send_seg(4, 20000, alice, 0);
	run_spec(&ack, NULL);
	CU_ASSERT_EQUAL(passed("alice"), 5);
	/* another connection from the same address knows nothing of this one */
	send_seg(4, 20001, body, 0);
	CU_ASSERT_EQUAL(passed("default"), 4);
	fx_down();
}

/* A token's deadline is enforced by the program itself: no controller runs. */
static void test_expiry(void)
{
	const char *req = REQ("Authorization: Bearer tok-short\r\n");
	struct timespec nap = { 0, 300 * 1000000L };

	agents_up();
	add_token("tok-short", "alice", boot_ns() + 200 * 1000000ULL); /* 200 ms */
	CU_ASSERT_EQUAL(send_seg(4, 21000, req, 0), XDP_PASS);
	CU_ASSERT_EQUAL(send_seg(4, 21000, "body", 0), XDP_PASS);
	CU_ASSERT_EQUAL(passed("alice"), 2);
	nanosleep(&nap, NULL);
	/* the live connection's entry dies with the token... */
	send_seg(4, 21000, "more body", 0);
	CU_ASSERT_EQUAL(passed("default"), 1);
	CU_ASSERT_EQUAL(counter(BG_C_FLOW_EXPIRED), 1);
	/* ...and new requests with it are unknown traffic */
	send_seg(4, 21001, req, 0);
	CU_ASSERT_EQUAL(passed("default"), 2);
	CU_ASSERT_EQUAL(counter(BG_C_HTTP_EXPIRED), 1);
	CU_ASSERT_EQUAL(passed("alice"), 2);
	/* still registered until gc */
	{
		struct bg_token_entry e;
		size_t removed, flows;

		CU_ASSERT_EQUAL(bg_token_get(&st, "tok-short", 9, &e), 0);
		CU_ASSERT_EQUAL(bg_token_gc(&st, boot_ns(), &removed, &flows), 0);
		CU_ASSERT_EQUAL(removed, 1);
		CU_ASSERT_EQUAL(bg_token_get(&st, "tok-short", 9, &e), -ENOENT);
		CU_ASSERT_EQUAL(bg_token_get(&st, "tok-bob-abcdef", 14, &e), 0);
	}
	fx_down();
}

/*
 * on_token_expired: requests with an expired or unregistered token, and the
 * segments that continue them, are metered as the chosen identity; a valid
 * token on the same connection afterwards is its own again; off, they fall
 * through to the prefix and default stages as before.
 */
static void test_on_token_expired(void)
{
	const char *old = REQ("Authorization: Bearer tok-old\r\n");
	const char *made_up = REQ("Authorization: Bearer tok-nobody-knows\r\n");
	const char *alice = REQ("Authorization: Bearer tok-alice-0123456789\r\n");
	struct bg_identity jail;
	struct bg_tok_cfg c;

	agents_up();
	add_id("jail", 10, 0, 0, 0, BG_ACT_BLOCK);
	CU_ASSERT_EQUAL_FATAL(bg_identity_get(&st, "jail", &jail), 0);
	add_token("tok-old", "alice", boot_ns() - 1); /* expired a moment ago */
	/* off: expired and unknown tokens are nobody's */
	CU_ASSERT_EQUAL(send_seg(4, 23000, old, 0), XDP_PASS);
	CU_ASSERT_EQUAL(send_seg(4, 23001, made_up, 0), XDP_PASS);
	CU_ASSERT_EQUAL(passed("default"), 2);
	/* on: both are jail's (action block: dropped), with their continuations */
	CU_ASSERT_EQUAL(bg_tok_cfg_get(&st, &c), 0);
	c.flags |= BG_TOK_F_EXPIRED_ID;
	c.expired_id = jail.id;
	CU_ASSERT_EQUAL(bg_tok_cfg_put(&st, &c), 0);
	CU_ASSERT_EQUAL(send_seg(4, 23002, old, 0), XDP_DROP);
	CU_ASSERT_EQUAL(send_seg(4, 23002, "body", 0), XDP_DROP);
	CU_ASSERT_EQUAL(send_seg(4, 23003, made_up, 0), XDP_DROP);
	CU_ASSERT_EQUAL(stats_of("jail").dropped_pkts, 3);
	CU_ASSERT_EQUAL(passed("default"), 2);
	CU_ASSERT_EQUAL(passed("alice"), 0);
	CU_ASSERT_EQUAL(counter(BG_C_HTTP_EXPIRED), 2);
	CU_ASSERT_EQUAL(counter(BG_C_HTTP_UNKNOWN), 2);
	/* a live token on that connection takes it back */
	CU_ASSERT_EQUAL(send_seg(4, 23002, alice, 0), XDP_PASS);
	CU_ASSERT_EQUAL(send_seg(4, 23002, "body", 0), XDP_PASS);
	CU_ASSERT_EQUAL(passed("alice"), 2);
	/* deleting the identity turns it off: its slot may be reused */
	CU_ASSERT_EQUAL(bg_identity_del(&st, "jail"), 0);
	CU_ASSERT_EQUAL(bg_tok_cfg_get(&st, &c), 0);
	CU_ASSERT_FALSE(c.flags & BG_TOK_F_EXPIRED_ID);
	CU_ASSERT_EQUAL(send_seg(4, 23004, old, 0), XDP_PASS);
	CU_ASSERT_EQUAL(passed("default"), 3);
	fx_down();
}

/* The HTTP flow's idle timeout. */
static void test_http_idle(void)
{
	struct timespec nap = { 1, 200 * 1000000L };
	struct bg_tok_cfg c;

	agents_up();
	CU_ASSERT_EQUAL(bg_tok_cfg_get(&st, &c), 0);
	c.http_idle_ns = 1000000000ULL; /* 1 s */
	CU_ASSERT_EQUAL(bg_tok_cfg_put(&st, &c), 0);
	send_seg(4, 22000, REQ("Authorization: Bearer tok-alice-0123456789\r\n"), 0);
	send_seg(4, 22000, "body", 0);
	CU_ASSERT_EQUAL(passed("alice"), 2);
	nanosleep(&nap, NULL);
	send_seg(4, 22000, "late body", 0);
	CU_ASSERT_EQUAL(passed("alice"), 2);
	CU_ASSERT_EQUAL(passed("default"), 1);
	CU_ASSERT_EQUAL(counter(BG_C_FLOW_EXPIRED), 1);
	fx_down();
}

static void test_custom_header(void)
{
	struct bg_tok_cfg c;
	char err[128];

	agents_up();
	CU_ASSERT_EQUAL(bg_tok_cfg_get(&st, &c), 0);
	CU_ASSERT_EQUAL(bg_tok_cfg_set_header(&c, "X-Api-Key", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bg_tok_cfg_set_scheme(&c, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bg_tok_cfg_put(&st, &c), 0);
	send_seg(4, 23000, REQ("x-api-key: tok-bob-abcdef\r\n"), 0);
	CU_ASSERT_EQUAL(passed("bob"), 1);
	send_seg(4, 23001, REQ("Authorization: Bearer tok-bob-abcdef\r\n"), 0);
	CU_ASSERT_EQUAL(passed("default"), 1);
	CU_ASSERT_EQUAL(counter(BG_C_HTTP_NO_HEADER), 1);
	/* http off: requests are not parsed at all */
	c.flags &= ~BG_TOK_F_HTTP;
	CU_ASSERT_EQUAL(bg_tok_cfg_put(&st, &c), 0);
	send_seg(4, 23002, REQ("x-api-key: tok-bob-abcdef\r\n"), 0);
	CU_ASSERT_EQUAL(passed("default"), 2);
	CU_ASSERT_EQUAL(counter(BG_C_HTTP_REQUEST), 2);
	fx_down();
}

/* Before any token is registered the stages do nothing at all. */
static void test_inactive_until_first_token(void)
{
	FX_UP();
	add_id("alice", 0, 0, 0, 0, BG_ACT_ALLOW);
	send_seg(4, 24000, REQ("Authorization: Bearer tok-alice-0123456789\r\n"), 0);
	CU_ASSERT_EQUAL(counter(BG_C_HTTP_REQUEST), 0);
	CU_ASSERT_EQUAL(passed("default"), 1);
	add_token("tok-alice-0123456789", "alice", 0);
	send_seg(4, 24000, REQ("Authorization: Bearer tok-alice-0123456789\r\n"), 0);
	CU_ASSERT_EQUAL(counter(BG_C_HTTP_REQUEST), 1);
	CU_ASSERT_EQUAL(passed("alice"), 1);
	fx_down();
}

/* Two agents behind one address: one over its limit, the other untouched. */
static void test_two_agents_one_address(void)
{
	const char *a = REQ("Authorization: Bearer tok-alice-0123456789\r\n");
	const char *b = REQ("Authorization: Bearer tok-bob-abcdef\r\n");
	int i, va = 0, vb = 0;

	FX_UP();
	add_id("alice", 1, 3, 0, 0, BG_ACT_ENFORCE); /* 1 pps, burst 3 */
	add_id("bob", 1, 1000, 0, 0, BG_ACT_ENFORCE);
	add_token("tok-alice-0123456789", "alice", 0);
	add_token("tok-bob-abcdef", "bob", 0);
	for (i = 0; i < 10; i++) {
		va += send_seg(4, 25000, a, 0) == XDP_PASS; /* same source address, */
		vb += send_seg(4, 25001, b, 0) == XDP_PASS; /* two connections */
	}
	CU_ASSERT_EQUAL(va, 3);
	CU_ASSERT_EQUAL(vb, 10);
	CU_ASSERT_EQUAL(stats_of("alice").dropped_pkts, 7);
	CU_ASSERT_EQUAL(stats_of("bob").dropped_pkts, 0);
	fx_down();
}

/* ---- Bindings ---- */

static void key_of(struct bg_flow_key *k, const char *proto, int ip, __u16 sport, __u16 dport)
{
	char err[128];

	CU_ASSERT_EQUAL_FATAL(bg_flow_key_parse(k, proto, ip == 4 ? "198.18.0.1" : "2001:db8::1",
						"1", ip == 4 ? "198.18.0.2" : "2001:db8::2", "1",
						err, sizeof(err)),
			      0);
	k->sport = sport;
	k->dport = dport;
}

static void test_bind(void)
{
	struct bg_flow_key k, u, v6;
	struct bg_bind_info info;
	struct pkt_spec udp = { .ip = 4, .sport = 5353, .dport = 4433 };
	struct pkt_spec syn = seg(4, 26000, NULL, 0, TCP_SYN);
	struct bg_flow_entry *fl;
	char err[256];
	size_t n;

	agents_up();
	key_of(&k, "tcp", 4, 26000, 80);
	key_of(&u, "udp", 4, 5353, 4433);
	key_of(&v6, "tcp", 6, 26001, 80);
	CU_ASSERT_EQUAL(bg_bind(&st, &k, "tok-bob-abcdef", 14, 0, &info, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(info.identity, "bob");
	CU_ASSERT_EQUAL(bg_bind(&st, &u, "tok-alice-0123456789", 20, 0, &info, err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(bg_bind(&st, &v6, "tok-alice-0123456789", 20, 0, &info, err, sizeof(err)),
			0);

	/* opaque payload (TLS records) of the bound connection: bob's */
	send_seg(4, 26000,
		 "\x17\x03\x03\x01\x20"
		 "encrypted-application-data......",
		 0);
	/* a request line with alice's token: the binding still decides */
	send_seg(4, 26000, REQ("Authorization: Bearer tok-alice-0123456789\r\n"), 0);
	CU_ASSERT_EQUAL(passed("bob"), 2);
	CU_ASSERT_EQUAL(counter(BG_C_CLS_BIND), 2);
	CU_ASSERT_EQUAL(counter(BG_C_HTTP_REQUEST), 0);
	run_spec(&udp, NULL); /* UDP (QUIC-like) binding */
	send_seg(6, 26001, "opaque", 0);
	CU_ASSERT_EQUAL(passed("alice"), 2);

	CU_ASSERT_EQUAL(bg_flow_list(&st, &fl, &n), 0);
	CU_ASSERT_EQUAL(n, 3);
	free(fl);

	/* a new connection on the same 5-tuple (a SYN) ends the binding */
	run_spec(&syn, NULL);
	CU_ASSERT_EQUAL(counter(BG_C_FLOW_SYN), 1);
	send_seg(4, 26000, "opaque", 0);
	CU_ASSERT_EQUAL(passed("bob"), 2);
	CU_ASSERT_EQUAL(passed("default"), 2); /* the SYN and this */

	/* unbind */
	CU_ASSERT_EQUAL(bg_unbind(&st, &u), 0);
	CU_ASSERT_EQUAL(bg_unbind(&st, &u), -ENOENT);
	run_spec(&udp, NULL);
	CU_ASSERT_EQUAL(passed("default"), 3);

	/* refusals say why, without the token */
	CU_ASSERT_EQUAL(bg_bind(&st, &k, "tok-nobody", 10, 0, &info, err, sizeof(err)), -ENOKEY);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown token"));
	CU_ASSERT_PTR_NULL(strstr(err, "tok-nobody"));
	add_token("tok-old", "alice", boot_ns() + 1);
	CU_ASSERT_EQUAL(bg_bind(&st, &k, "tok-old", 7, 0, &info, err, sizeof(err)), -EKEYEXPIRED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "expired"));
	CU_ASSERT_EQUAL(bg_bind(&st, &k, "tok old", 7, 0, &info, err, sizeof(err)), -EINVAL);
	fx_down();
}

/*
 * Servers name the identity through their table of slot names: filled on a
 * miss, and an entry gone stale (another name, or one that no longer
 * exists) is caught by its one-lookup check, never reported.
 */
static void test_bind_names_table(void)
{
	struct bg_identity bob, alice;
	struct bg_bind_info info;
	struct bg_flow_key k;
	char(*names)[BG_NAME_LEN];
	char err[256];

	agents_up();
	names = calloc(st.max_ids, BG_NAME_LEN);
	CU_ASSERT_PTR_NOT_NULL_FATAL(names);
	CU_ASSERT_EQUAL_FATAL(bg_identity_get(&st, "bob", &bob), 0);
	CU_ASSERT_EQUAL_FATAL(bg_identity_get(&st, "alice", &alice), 0);
	key_of(&k, "tcp", 4, 26100, 80);
	CU_ASSERT_EQUAL(
		bg_bind_named(&st, names, &k, "tok-bob-abcdef", 14, 0, &info, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(info.identity, "bob");
	CU_ASSERT_STRING_EQUAL(names[bob.id], "bob"); /* filled on the miss */
	/* stale: a name that does not exist any more */
	snprintf(names[bob.id], BG_NAME_LEN, "mallory");
	CU_ASSERT_EQUAL(
		bg_bind_named(&st, names, &k, "tok-bob-abcdef", 14, 0, &info, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(info.identity, "bob");
	CU_ASSERT_STRING_EQUAL(names[bob.id], "bob");
	/* stale: a name that exists, in another slot */
	snprintf(names[bob.id], BG_NAME_LEN, "alice");
	CU_ASSERT_EQUAL(
		bg_bind_named(&st, names, &k, "tok-bob-abcdef", 14, 0, &info, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(info.identity, "bob");
	CU_ASSERT_STRING_EQUAL(names[bob.id], "bob");
	CU_ASSERT_EQUAL(bg_bind_named(&st, names, &k, "tok-alice-0123456789", 20, 0, &info, err,
				      sizeof(err)),
			0);
	CU_ASSERT_STRING_EQUAL(info.identity, "alice");
	CU_ASSERT_STRING_EQUAL(names[alice.id], "alice");
	free(names);
	fx_down();
}

/* A binding lapses after its idle timeout; a deleted token's bindings go at once. */
static void test_bind_lifetime(void)
{
	struct bg_flow_key k1, k2;
	struct bg_bind_info info;
	struct bg_token_entry e;
	struct timespec nap = { 1, 100 * 1000000L };
	char err[256];
	size_t flows;

	agents_up();
	key_of(&k1, "tcp", 4, 27000, 80);
	key_of(&k2, "tcp", 4, 27001, 80);
	CU_ASSERT_EQUAL(
		bg_bind(&st, &k1, "tok-bob-abcdef", 14, 1000000000ULL, &info, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bg_bind(&st, &k2, "tok-alice-0123456789", 20, 0, &info, err, sizeof(err)),
			0);
	send_seg(4, 27000, "x", 0);
	send_seg(4, 27001, "x", 0);
	CU_ASSERT_EQUAL(passed("bob"), 1);
	CU_ASSERT_EQUAL(passed("alice"), 1);
	nanosleep(&nap, NULL);
	send_seg(4, 27000, "x", 0); /* idle 1.1 s > 1 s */
	CU_ASSERT_EQUAL(passed("default"), 1);
	/* revoking alice's token unbinds her connection now, not at idle */
	CU_ASSERT_EQUAL(bg_token_get(&st, "tok-alice-0123456789", 20, &e), 0);
	CU_ASSERT_EQUAL(bg_token_del(&st, e.hash, &flows), 0);
	CU_ASSERT_EQUAL(flows, 1);
	send_seg(4, 27001, "x", 0);
	CU_ASSERT_EQUAL(passed("alice"), 1);
	CU_ASSERT_EQUAL(passed("default"), 2);
	fx_down();
}

/*
 * Whose a binding is (bg_bind_by, bg_unbind_by): another uid needs the
 * connection's token, root does not, a dead flow is anyone's. The owner's
 * record goes with its flow: at unbind, at gc of a dead flow, and when the
 * flow went another way (here: deleted behind our back, as the kernel's
 * LRU does).
 */
static void test_bind_owner(void)
{
	struct timespec nap = { 1, 100 * 1000000L };
	struct bg_flow_key k, k2;
	struct bg_bind_info info;
	struct bg_bind_own o;
	struct bg_clock now;
	char err[256];
	size_t n;

	agents_up();
	CU_ASSERT_FATAL(st.own_fd >= 0);
	key_of(&k, "tcp", 4, 28000, 80);
	key_of(&k2, "tcp", 4, 28001, 80);
	CU_ASSERT_EQUAL(
		bg_bind_by(&st, NULL, &k, "tok-bob-abcdef", 14, 0, 1000, &info, err, sizeof(err)),
		0);
	CU_ASSERT_EQUAL_FATAL(bpf_map_lookup_elem(st.own_fd, &k, &o), 0);
	CU_ASSERT_EQUAL(o.uid, 1000);
	CU_ASSERT_EQUAL(bg_unbind_by(&st, &k, NULL, 0, 1001, err, sizeof(err)), -EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "bound by uid 1000"));
	CU_ASSERT_EQUAL(bg_bind_by(&st, NULL, &k, "tok-alice-0123456789", 20, 0, 1001, &info, err,
				   sizeof(err)),
			-EPERM);
	CU_ASSERT_EQUAL(bg_unbind_by(&st, &k, "tok-alice-0123456789", 20, 1001, err, sizeof(err)),
			-EPERM);
	CU_ASSERT_EQUAL(bg_unbind_by(&st, &k, "tok-bob-abcdef", 14, 1001, err, sizeof(err)), 0);
	CU_ASSERT_NOT_EQUAL(bpf_map_lookup_elem(st.own_fd, &k, &o), 0);
	CU_ASSERT_EQUAL(
		bg_bind_by(&st, NULL, &k, "tok-bob-abcdef", 14, 0, 1000, &info, err, sizeof(err)),
		0);
	CU_ASSERT_EQUAL(bg_unbind_by(&st, &k, NULL, 0, 0, err, sizeof(err)), 0); /* root */

	/* a dead flow is anyone's; gc takes its owner with it */
	CU_ASSERT_EQUAL(bg_bind_by(&st, NULL, &k, "tok-bob-abcdef", 14, 1000000000ULL, 1000, &info,
				   err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(bg_bind_by(&st, NULL, &k2, "tok-bob-abcdef", 14, 1000000000ULL, 1000, &info,
				   err, sizeof(err)),
			0);
	nanosleep(&nap, NULL);
	CU_ASSERT_EQUAL(bg_bind_by(&st, NULL, &k2, "tok-alice-0123456789", 20, 0, 1001, &info, err,
				   sizeof(err)),
			0);
	CU_ASSERT_EQUAL_FATAL(bg_clock_now(&now), 0);
	CU_ASSERT_EQUAL(bg_flow_gc(&st, now.boot_ns, &n), 0);
	CU_ASSERT_EQUAL(n, 1); /* k: dead */
	CU_ASSERT_NOT_EQUAL(bpf_map_lookup_elem(st.own_fd, &k, &o), 0);
	CU_ASSERT_EQUAL_FATAL(bpf_map_lookup_elem(st.own_fd, &k2, &o), 0);
	CU_ASSERT_EQUAL(o.uid, 1001);
	/* the flow gone another way: its record is swept at the next gc */
	CU_ASSERT_EQUAL(bpf_map_delete_elem(st.flows_fd, &k2), 0);
	CU_ASSERT_EQUAL(bg_flow_gc(&st, now.boot_ns, &n), 0);
	CU_ASSERT_NOT_EQUAL(bpf_map_lookup_elem(st.own_fd, &k2, &o), 0);
	fx_down();
}

/* ---- The registry on real maps ---- */

static bool map_holds(int fd, size_t ksz, size_t vsz, const char *needle)
{
	char key[64], next[64], val[512];
	void *prev = NULL;
	bool found = false;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, ksz);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, val))
			continue;
		found |= memmem(key, ksz, needle, strlen(needle)) != NULL;
		found |= memmem(val, vsz, needle, strlen(needle)) != NULL;
	}
	return found;
}

static void test_registry(void)
{
	struct bg_token_entry e, e2, *v;
	struct bg_identity id;
	char err[256];
	size_t n, removed;

	agents_up();
	/* a second token for bob (rotation) */
	add_token("tok-bob-next", "bob", 0);
	CU_ASSERT_EQUAL(bg_token_list(&st, &v, &n), 0);
	CU_ASSERT_EQUAL(n, 3);
	free(v);
	/* the same token again: refused, and says to whom it belongs */
	CU_ASSERT_EQUAL(bg_identity_get(&st, "alice", &id), 0);
	CU_ASSERT_EQUAL(bg_token_add(&st, "tok-bob-next", 12, id.id, 0, 0, &e), -EEXIST);
	CU_ASSERT_NOT_EQUAL(e.tok.id, id.id);
	/* found by value and by fingerprint alike */
	CU_ASSERT_EQUAL(bg_token_get(&st, "tok-bob-next", 12, &e), 0);
	CU_ASSERT_EQUAL(bg_token_get_fp(&st, e.tok.fingerprint, &e2), 0);
	CU_ASSERT_EQUAL(e2.hash, e.hash);
	CU_ASSERT_EQUAL(bg_token_get_fp(&st, e.tok.fingerprint ^ 1, &e2), -ENOENT);
	/* no map holds a token in clear, nor the secret's owner a known key */
	CU_ASSERT_FALSE(map_holds(st.tokens_fd, 8, sizeof(struct bg_token), "tok-"));
	CU_ASSERT_FALSE(map_holds(st.tok_cfg_fd, 4, sizeof(struct bg_tok_cfg), "tok-"));
	{
		struct bg_secret sec;

		CU_ASSERT_EQUAL(bg_secret_get(&st, &sec), 0);
		CU_ASSERT_NOT_EQUAL(sec.created_unix, 0);
		CU_ASSERT(sec.key[0] || sec.key[1]);
		CU_ASSERT(sec.key[0] != sec.fp_key[0]);
	}
	/* deleting bob removes his tokens and connections; the slot comes back clean */
	{
		struct bg_flow_key k;
		struct bg_bind_info info;

		key_of(&k, "tcp", 4, 28000, 80);
		CU_ASSERT_EQUAL(bg_bind(&st, &k, "tok-bob-next", 12, 0, &info, err, sizeof(err)),
				0);
	}
	CU_ASSERT_EQUAL(bg_identity_del(&st, "bob"), 0);
	CU_ASSERT_EQUAL(bg_token_get(&st, "tok-bob-next", 12, &e), -ENOENT);
	CU_ASSERT_EQUAL(bg_token_get(&st, "tok-bob-abcdef", 14, &e), -ENOENT);
	CU_ASSERT_EQUAL(bg_flow_gc(&st, boot_ns(), &removed), 0);
	CU_ASSERT_EQUAL(bg_token_list(&st, &v, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	free(v);
	add_id("carol", 0, 0, 0, 0, BG_ACT_ALLOW); /* may reuse bob's slot */
	send_seg(4, 28000, "x", 0);
	send_seg(4, 28001, REQ("Authorization: Bearer tok-bob-next\r\n"), 0);
	CU_ASSERT_EQUAL(passed("carol"), 0);
	CU_ASSERT_EQUAL(passed("default"), 2);
	fx_down();
}

/* ---- The bind socket and the client library ---- */

static volatile sig_atomic_t srv_stop;

static void *serve_thread(void *arg)
{
	int fd = *(int *)arg;

	bg_bindsrv_run(&st, fd, &srv_stop);
	return NULL;
}

/* A TCP connection on loopback: the client and the server's accepted socket. */
static void tcp_pair(int *cli, int *acc, __u16 *cport, __u16 *sport)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	CU_ASSERT_FATAL(l >= 0 && !bind(l, (struct sockaddr *)&a, sizeof(a)) && !listen(l, 1));
	getsockname(l, (struct sockaddr *)&a, &len);
	*sport = ntohs(a.sin_port);
	*cli = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(!connect(*cli, (struct sockaddr *)&a, sizeof(a)));
	*acc = accept(l, NULL, NULL);
	CU_ASSERT_FATAL(*acc >= 0);
	len = sizeof(a);
	getsockname(*cli, (struct sockaddr *)&a, &len);
	*cport = ntohs(a.sin_port);
	close(l);
}

static void test_bind_socket(void)
{
	char path[160], err[256];
	struct bg_client_reply r;
	struct bg_flow_entry *fl;
	struct bg_flow_key k;
	struct stat sb;
	pthread_t th;
	int lfd, cli, acc, ret;
	__u16 cport, sport;
	size_t n, i;
	bool found = false;

	agents_up();
	add_token("tok-gone", "alice", boot_ns() + 1);
	snprintf(path, sizeof(path), "/tmp/bgtest_bind_%d.sock", getpid());
	lfd = bg_bindsrv_listen(path, NULL);
	CU_ASSERT_FATAL(lfd >= 0);
	CU_ASSERT_EQUAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0600); /* root only by default */
	CU_ASSERT_EQUAL(sb.st_uid, 0);
	/* a second server on a live socket is refused */
	CU_ASSERT_EQUAL(bg_bindsrv_listen(path, NULL), -EADDRINUSE);
	srv_stop = 0;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, serve_thread, &lfd), 0);

	tcp_pair(&cli, &acc, &cport, &sport);
	ret = bg_client_bind(acc, "tok-bob-abcdef", 14, 0, path, &r);
	CU_ASSERT_EQUAL(ret, 0);
	CU_ASSERT_STRING_EQUAL(r.identity, "bob");
	CU_ASSERT_EQUAL(strlen(r.fingerprint), 12);
	/* the entry is the connection as the server's packets carry it */
	snprintf(err, sizeof(err), "%u", cport);
	{
		char sp[8];

		snprintf(sp, sizeof(sp), "%u", sport);
		CU_ASSERT_EQUAL(bg_flow_key_parse(&k, "tcp", "127.0.0.1", err, "127.0.0.1", sp, err,
						  sizeof(err)),
				0);
	}
	CU_ASSERT_EQUAL(bg_flow_list(&st, &fl, &n), 0);
	for (i = 0; i < n; i++)
		found |= !memcmp(&fl[i].key, &k, sizeof(k)) && fl[i].flow.source == BG_FLOW_BIND;
	free(fl);
	CU_ASSERT_TRUE(found);

	/* refusals: each with its own code and a message */
	ret = bg_client_bind(acc, "tok-nobody", 10, 0, path, &r);
	CU_ASSERT_EQUAL(ret, -ENOKEY);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.error, "unknown token"));
	ret = bg_client_bind(acc, "tok-gone", 8, 0, path, &r);
	CU_ASSERT_EQUAL(ret, -EKEYEXPIRED);
	ret = bg_client_bind(acc, "tok bad", 7, 0, path, &r);
	CU_ASSERT_EQUAL(ret, -EINVAL);
	ret = bg_client_bind(acc, "tok-bob-abcdef", 14, 0, "/tmp/bgtest_nosuch.sock", &r);
	CU_ASSERT_EQUAL(ret, -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.error, "bind serve"));
	/* not a connected TCP/UDP socket */
	{
		int u = socket(AF_UNIX, SOCK_STREAM, 0);

		CU_ASSERT_EQUAL(bg_client_bind(u, "tok-bob-abcdef", 14, 0, path, &r), -EINVAL);
		close(u);
	}
	CU_ASSERT_EQUAL(bg_client_unbind(acc, path, &r), 0);
	CU_ASSERT_EQUAL(bg_client_unbind(acc, path, &r), -ENOENT);

	srv_stop = 1;
	pthread_join(th, NULL);
	close(lfd);
	unlink(path);
	close(cli);
	close(acc);

	/* group access: 0660 and the group */
	lfd = bg_bindsrv_listen(path, "0");
	CU_ASSERT(lfd >= 0);
	CU_ASSERT_EQUAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0660);
	close(lfd);
	/* a stale socket (nobody serving) is replaced */
	lfd = bg_bindsrv_listen(path, NULL);
	CU_ASSERT(lfd >= 0);
	close(lfd);
	unlink(path);
	CU_ASSERT_EQUAL(bg_bindsrv_listen(path, "no-such-group-bg"), -ENOENT);
	fx_down();
}

/*
 * The connection handler as the controller's loop drives it: a client that
 * floods is served in turns (a bounded share per call), every request is
 * answered in order, and a client that never reads its replies is
 * disconnected instead of being waited for.
 */
static void test_bind_conn_turns(void)
{
	static const char req[] = "UNBIND tcp 192.0.2.1 1000 192.0.2.2 80\n";
	struct bg_bindsrv_stats stats = {};
	struct bg_bindsrv_conn c;
	static char buf[65536], many[500 * sizeof(req)];
	int sv[2], i, calls, sndbuf = 4096;
	size_t got = 0, n, len = 0;
	ssize_t r;

	agents_up();
	CU_ASSERT_FATAL(!socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
	bg_bindsrv_conn_init(&c, sv[1]);
	c.stats = &stats;
	for (i = 0; i < 500; i++, len += sizeof(req) - 1)
		memcpy(many + len, req, sizeof(req) - 1);
	CU_ASSERT_EQUAL(send(sv[0], many, len, 0), (ssize_t)len); /* 500 requests at once */
	/* one call: a share, not all 500 */
	CU_ASSERT_EQUAL(bg_bindsrv_conn_io(&st, &c), 1);
	CU_ASSERT(stats.requests > 0);
	CU_ASSERT(stats.requests <=
		  BG_BINDSRV_READS_PER_IO * (BG_BIND_LINE_MAX / (sizeof(req) - 1) + 1));
	/* more calls (the loop comes back while there is input): all answered, in order */
	for (calls = 1; stats.requests < 500 && calls < 1000; calls++) {
		CU_ASSERT_EQUAL_FATAL(bg_bindsrv_conn_io(&st, &c), 1);
		while ((r = recv(sv[0], buf, sizeof(buf), 0)) > 0)
			got += (size_t)r;
	}
	while ((r = recv(sv[0], buf, sizeof(buf), 0)) > 0)
		got += (size_t)r;
	CU_ASSERT_EQUAL(stats.requests, 500);
	CU_ASSERT_EQUAL(stats.replies[BG_BIND_R_NOT_BOUND], 500);
	n = strlen("ERR not-bound tcp 192.0.2.1:1000 -> 192.0.2.2:80 is not bound\n");
	CU_ASSERT_EQUAL(got, 500 * n);
	CU_ASSERT(calls > 1);

	/* a client that sends and never reads: the replies fill its buffer, it is dropped */
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	for (calls = 0; calls < 10000; calls++) {
		if (send(sv[0], many, len, 0) < 0 && errno != EAGAIN)
			break;
		if (!bg_bindsrv_conn_io(&st, &c))
			break;
	}
	CU_ASSERT(calls < 10000);
	CU_ASSERT_EQUAL(stats.slow_peers, 1);
	close(sv[0]);
	close(sv[1]);
	fx_down();
}

/* ---- Cost: measured and reported, never asserted ---- */

static void test_report_cost(void)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	uint8_t buf[2048];
	struct pkt_spec req = seg(4, 29000, REQ("Authorization: Bearer tok-alice-0123456789\r\n"),
				  0, TCP_ACK | TCP_PSH);
	struct pkt_spec body = seg(4, 29000, "body", 0, TCP_ACK);
	struct pkt_spec udp = { .ip = 4, .sport = 1, .dport = 2 };
	const struct {
		const char *what;
		struct pkt_spec *s;
	} runs[] = { { "HTTP request with token", &req },
		     { "continuation segment", &body },
		     { "UDP, no flow", &udp } };
	size_t i;

	agents_up();
	CU_ASSERT_EQUAL(bpf_obj_get_info_by_fd(prog_fd, &info, &len), 0);
	printf("\n    verifier: %u instructions processed, %u xlated instructions",
	       info.verified_insns, info.xlated_prog_len / 8);
	for (i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		size_t n = pkt_build(runs[i].s, buf, sizeof(buf));
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = (__u32)n,
			    .repeat = 20000);

		CU_ASSERT_EQUAL(bpf_prog_test_run_opts(prog_fd, &o), 0);
		printf("\n    %-24s %5u ns/packet (BPF_PROG_TEST_RUN, %u-byte frame)", runs[i].what,
		       o.duration, (unsigned int)n);
	}
	printf("\n   ");
	fx_down();
}

/* Does any key or value of the map (every CPU's copy) hold needle? */
static int any_map_holds(int fd, const struct bpf_map_info *info, const char *needle)
{
	size_t vsz = info->value_size, nl = strlen(needle);
	char key[512], next[512], *val;
	void *prev = NULL;
	int found = 0;

	if (info->type == BPF_MAP_TYPE_PERCPU_ARRAY || info->type == BPF_MAP_TYPE_PERCPU_HASH ||
	    info->type == BPF_MAP_TYPE_LRU_PERCPU_HASH)
		vsz = ((vsz + 7) & ~(size_t)7) * (size_t)libbpf_num_possible_cpus();
	if (info->key_size > sizeof(key))
		return 0;
	val = calloc(1, vsz + 1);
	while (val && !found && bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, info->key_size);
		prev = key;
		if (memmem(key, info->key_size, needle, nl))
			found = 1;
		else if (bpf_map_lookup_elem(fd, key, val) == 0 && memmem(val, vsz, needle, nl))
			found = 1;
	}
	free(val);
	return found;
}

/*
 * After requests carrying tokens went through, no token is in any map the
 * program uses, pinned or not (the HTTP scratch map held the request).
 */
static void test_no_token_in_maps(void)
{
	static const char *const tokens[] = { "tok-alice-0123456789", "tok-bob-abcdef" };
	struct bpf_prog_info pi = {};
	__u32 ids[64], len = sizeof(pi), i, t;

	agents_up();
	CU_ASSERT_EQUAL(send_seg(4, 2001, REQ("Authorization: Bearer tok-alice-0123456789\r\n"), 0),
			XDP_PASS);
	CU_ASSERT_EQUAL(send_seg(4, 2002, REQ("Authorization: Bearer tok-bob-abcdef\r\n"), 0),
			XDP_PASS);
	CU_ASSERT_EQUAL(passed("alice"), 1);
	CU_ASSERT_EQUAL(passed("bob"), 1);
	pi.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	pi.map_ids = (__u64)(unsigned long)ids;
	CU_ASSERT_EQUAL_FATAL(bpf_obj_get_info_by_fd(prog_fd, &pi, &len), 0);
	CU_ASSERT(pi.nr_map_ids > 10);
	for (i = 0; i < pi.nr_map_ids && i < sizeof(ids) / sizeof(ids[0]); i++) {
		struct bpf_map_info mi = {};
		__u32 mlen = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &mi, &mlen) == 0 && mi.type != BPF_MAP_TYPE_RINGBUF)
			for (t = 0; t < 2; t++)
				if (any_map_holds(fd, &mi, tokens[t])) {
					printf("\n  token %s found in map %s", tokens[t], mi.name);
					CU_FAIL("a token in a map");
				}
		close(fd);
	}
	fx_down();
}

void add_token_tests(CU_pSuite s)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{ "tokens: HTTP request fixtures", test_http_fixtures },
		{ "tokens: continuation segments, keep-alive", test_continuation },
		{ "tokens: expiry in the data plane", test_expiry },
		{ "tokens: idle timeout of learnt flows", test_http_idle },
		{ "tokens: on_token_expired", test_on_token_expired },
		{ "tokens: custom header, http off", test_custom_header },
		{ "tokens: nothing runs before the first token", test_inactive_until_first_token },
		{ "tokens: two agents on one address", test_two_agents_one_address },
		{ "bind: bound connections, SYN, unbind", test_bind },
		{ "bind: idle timeout and revocation", test_bind_lifetime },
		{ "bind: identity names from the server's table", test_bind_names_table },
		{ "bind: whose a binding is, and its owner's record", test_bind_owner },
		{ "tokens: registry on real maps", test_registry },
		{ "bind: Unix socket and client library", test_bind_socket },
		{ "bind: a flood is served in turns, a peer not reading is dropped",
		  test_bind_conn_turns },
		{ "tokens: no token in any map after requests", test_no_token_in_maps },
		{ "tokens: cost report", test_report_cost },
	};
	size_t i;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		CU_add_test(s, tests[i].name, tests[i].fn);
}
