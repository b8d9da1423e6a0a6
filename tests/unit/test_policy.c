// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The policy loader: good files give the values a user wrote; every kind of
 * bad file is refused with FILE:LINE:COLUMN and a message that says what is
 * accepted; what bg_policy_write prints parses back to the same policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/stat.h>

#include "bg_policy.h"
#include "bg_time.h"
#include "bg_token_reg.h"
#include "unit.h"

static char err[1024];

static int parse(const char *text, struct bg_policy *p)
{
	err[0] = '\0';
	return bg_policy_parse("p.yaml", text, strlen(text), p, err, sizeof(err));
}

static const char good[] = "version: 1\n"
			   "host:\n"
			   "  shadow: on\n"
			   "  malformed: drop\n"
			   "  interfaces: [eth0, { name: eth1, mode: skb }]\n"
			   "  capacity: { rate: 100kpps, bytes_rate: 1gbit }\n"
			   "  max_identities: 200000\n"
			   "  http_token_header: X-Agent-Token\n"
			   "  http_token_scheme: none\n"
			   "  on_token_expired: crawler\n"
			   "controller:\n"
			   "  tune_interval: 500ms\n"
			   "  grow_below: 50%\n"
			   "  shrink_above: 90\n"
			   "  audit_log: /tmp/audit.jsonl\n"
			   "  bind_socket: /run/burstgate/bind.sock\n"
			   "  bind_socket_group: 0\n"
			   "default:\n"
			   "  action: enforce\n"
			   "  rate: 10kpps\n"
			   "identities:\n"
			   "  agent-7:\n"
			   "    rate: 500pps\n"
			   "    burst: 200\n"
			   "    bytes_rate: 20mbit\n"
			   "    prefixes: [203.0.113.0/24, '2001:db8::/48']\n"
			   "  planner:\n"
			   "    rate: 1kpps\n"
			   "    burst_min: 10\n"
			   "    burst_max: 1000\n"
			   "    bytes_rate: 8mbit\n"
			   "    bytes_burst_min: 16kb\n"
			   "    bytes_burst_max: 1mb\n"
			   "  crawler:\n"
			   "    action: shadow\n"
			   "  empty:\n";

static void test_good(void)
{
	struct bg_policy p;
	const struct bg_pol_identity *a, *pl;

	CU_ASSERT_EQUAL_FATAL(parse(good, &p), 0);
	CU_ASSERT_EQUAL(p.shadow, 1);
	CU_ASSERT_EQUAL(p.malformed, BG_MALFORMED_DROP);
	CU_ASSERT(p.has_ifaces);
	CU_ASSERT_EQUAL(p.nifaces, 2);
	CU_ASSERT_STRING_EQUAL(p.ifaces[1].name, "eth1");
	CU_ASSERT_EQUAL(p.ifaces[1].mode, BG_MODE_SKB);
	CU_ASSERT_EQUAL(p.ifaces[0].mode, BG_MODE_AUTO);
	CU_ASSERT_EQUAL(p.ctl.capacity_pps, 100000);
	CU_ASSERT_EQUAL(p.ctl.capacity_bits, 1000000000ULL);
	CU_ASSERT_EQUAL(p.max_ids, 200000);
	CU_ASSERT_STRING_EQUAL(p.http_token_header, "X-Agent-Token");
	CU_ASSERT_STRING_EQUAL(p.http_token_scheme, ""); /* none: the whole value */
	CU_ASSERT_STRING_EQUAL(p.bind_socket, "/run/burstgate/bind.sock");
	CU_ASSERT_STRING_EQUAL(p.bind_group, "0");
	CU_ASSERT_EQUAL(p.ctl.tune_interval_ms, 500);
	CU_ASSERT_EQUAL(p.ctl.grow_below_pct, 50);
	CU_ASSERT_EQUAL(p.ctl.shrink_above_pct, 90);
	CU_ASSERT_STRING_EQUAL(p.audit_log, "/tmp/audit.jsonl");
	CU_ASSERT_EQUAL(p.deflt.lim.action, BG_ACT_ENFORCE);
	CU_ASSERT_EQUAL(p.deflt.lim.rate_pps, 10000);
	CU_ASSERT_EQUAL(p.deflt.lim.burst_pkts, 1000); /* 100 ms worth */
	CU_ASSERT_EQUAL_FATAL(p.nids, 4);
	a = &p.ids[0];
	CU_ASSERT_STRING_EQUAL(a->name, "agent-7");
	CU_ASSERT_EQUAL(a->lim.action, BG_ACT_ENFORCE);
	CU_ASSERT_EQUAL(a->lim.rate_pps, 500);
	CU_ASSERT_EQUAL(a->lim.burst_pkts, 200);
	CU_ASSERT_EQUAL(a->lim.byte_rate_bits, 20000000);
	CU_ASSERT_EQUAL(a->lim.burst_bytes, 250000);
	CU_ASSERT_EQUAL(a->cfg.flags, BG_ID_F_IN_USE);
	CU_ASSERT_NOT_EQUAL(a->cfg.pkt.tau, 0);
	CU_ASSERT_EQUAL_FATAL(a->npfx, 2);
	CU_ASSERT_EQUAL(a->pfx[1].pfx.family, AF_INET6);
	CU_ASSERT_EQUAL(a->pfx[1].line, 26);
	CU_ASSERT_STRING_EQUAL(p.on_token_expired, "crawler");
	pl = &p.ids[1];
	CU_ASSERT_EQUAL(pl->tune.min_pkts, 10);
	CU_ASSERT_EQUAL(pl->tune.max_pkts, 1000);
	CU_ASSERT_EQUAL(pl->lim.burst_pkts, 10); /* starts at burst_min */
	CU_ASSERT_EQUAL(pl->tune.min_bytes, 16384);
	CU_ASSERT_EQUAL(pl->lim.burst_bytes, 16384);
	CU_ASSERT_EQUAL(p.ids[2].lim.action, BG_ACT_SHADOW);
	CU_ASSERT_EQUAL(p.ids[2].lim.rate_pps, 0);
	CU_ASSERT_EQUAL(p.ids[3].lim.action, BG_ACT_ENFORCE);
	CU_ASSERT_EQUAL(p.npfx4, 1);
	CU_ASSERT_EQUAL(p.npfx6, 1);
	CU_ASSERT_EQUAL(p.ntuned, 1);
	bg_policy_free(&p);

	/* empty sections take their defaults */
	CU_ASSERT_EQUAL_FATAL(parse("version: 1\nhost:\ncontroller: ~\nidentities:\n", &p), 0);
	CU_ASSERT_EQUAL(p.nids, 0);
	bg_policy_free(&p);

	/* the smallest policy: the default identity allows, nothing else */
	CU_ASSERT_EQUAL_FATAL(parse("version: 1\n", &p), 0);
	CU_ASSERT_EQUAL(p.nids, 0);
	CU_ASSERT_EQUAL(p.deflt.lim.action, BG_ACT_ALLOW);
	CU_ASSERT(!p.has_ifaces);
	CU_ASSERT_EQUAL(p.ctl.tune_interval_ms, BG_TUNE_INTERVAL_MS_DEFAULT);
	/* tokens in "Authorization: Bearer TOKEN" unless the policy says otherwise */
	CU_ASSERT_STRING_EQUAL(p.http_token_header, "Authorization");
	CU_ASSERT_STRING_EQUAL(p.http_token_scheme, "bearer");
	CU_ASSERT_STRING_EQUAL(p.bind_socket, "");
	bg_policy_free(&p);
}

static void test_token_files(void)
{
	char path[] = "/tmp/bg_unit_tokXXXXXX", text[512];
	struct bg_policy p;
	int fd = mkstemp(path);

	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	snprintf(text, sizeof(text), "version: 1\nidentities:\n  a:\n    token_files: [\"%s\"]\n",
		 path);
	CU_ASSERT_EQUAL(parse(text, &p), 0);
	CU_ASSERT_EQUAL(p.ntoken_files, 1);
	CU_ASSERT_STRING_EQUAL(p.ids[0].token_files[0].path, path);
	bg_policy_free(&p);
	unlink(path);
	CU_ASSERT_EQUAL(parse(text, &p), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file"));
}

static const struct bg_secret sec = { .key = { 1, 2 }, .fp_key = { 3, 4 } };

/* A policy naming token files a (and b) for identity x, c for y. */
static int parse_tok(const char *a, const char *b, const char *c, struct bg_policy *p)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "version: 1\n"
		 "identities:\n"
		 "  x:\n"
		 "    token_files: [\"%s\"%s%s%s]\n"
		 "  y: { token_files: [%s%s%s] }\n"
		 "  z: { rate: 5pps }\n",
		 a, b ? ", \"" : "", b ? b : "", b ? "\"" : "", c ? "\"" : "", c ? c : "",
		 c ? "\"" : "");
	return parse(text, p);
}

static void file(const char *name, const char *text, char *path)
{
	CU_ASSERT_EQUAL_FATAL(unit_file(name, text, strlen(text), path, 256), 0);
}

/* The format: one token per line, comments and blanks skipped, hashed under the secret. */
static void test_token_read(void)
{
	char a[256], b[256], c[256];
	struct bg_policy p;
	__u64 h, fp;
	size_t i;

	file("a", "s3cr3t-a1\r\n# a comment\n\n   s3cr3t-a2\t\n", a);
	file("b", "s3cr3t-b1", b); /* no final newline */
	CU_ASSERT_EQUAL_FATAL(parse_tok(a, b, NULL, &p), 0);
	CU_ASSERT(p.ids[0].has_token_files);
	CU_ASSERT_EQUAL(p.ids[0].ntoken_files, 2);
	CU_ASSERT_EQUAL(p.ids[0].token_files[1].line, 4);
	CU_ASSERT(p.ids[1].has_token_files); /* [] : the policy owns y's tokens (none) */
	CU_ASSERT_EQUAL(p.ids[1].ntoken_files, 0);
	CU_ASSERT(!p.ids[2].has_token_files); /* no key: y's tokens are left alone */
	CU_ASSERT(!p.toks_loaded);
	CU_ASSERT_EQUAL_FATAL(bg_policy_read_tokens(&p, &sec, err, sizeof(err)), 0);
	CU_ASSERT(p.toks_loaded);
	CU_ASSERT_EQUAL_FATAL(p.ntoks, 3);
	bg_token_hash(&sec, "s3cr3t-a2", 9, &h, &fp);
	for (i = 0; i < p.ntoks && p.toks[i].hash != h; i++)
		;
	CU_ASSERT_FATAL(i < p.ntoks);
	CU_ASSERT_EQUAL(p.toks[i].fp, fp);
	CU_ASSERT_EQUAL(p.toks[i].ident, 0);
	CU_ASSERT_EQUAL(p.toks[i].file, 0);
	CU_ASSERT_EQUAL(p.toks[i].line, 4); /* after a comment and a blank line */
	for (i = 1; i < p.ntoks; i++)
		CU_ASSERT(p.toks[i - 1].hash < p.toks[i].hash);
	bg_policy_free(&p);

	/* expires=TIME after a token: its expiry; a line already past it is skipped */
	file("exp",
	     "s3cr3t-e1 expires=2099-01-01T00:00:00Z\ns3cr3t-e2\n"
	     "s3cr3t-e3\texpires=2001-01-01T00:00:00Z\r\n",
	     c);
	CU_ASSERT_EQUAL_FATAL(parse_tok(c, NULL, NULL, &p), 0);
	CU_ASSERT_EQUAL_FATAL(bg_policy_read_tokens(&p, &sec, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(p.ntoks, 2);
	CU_ASSERT_EQUAL(p.expired_lines, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(p.expired_line, "line 3"));
	bg_token_hash(&sec, "s3cr3t-e1", 9, &h, &fp);
	for (i = 0; i < p.ntoks && p.toks[i].hash != h; i++)
		;
	CU_ASSERT_FATAL(i < p.ntoks);
	CU_ASSERT_EQUAL(p.toks[i].expires_unix, 4070908800LL);
	CU_ASSERT_EQUAL(p.toks[1 - i].expires_unix, 0); /* e2: never */
	bg_policy_free(&p);

	/* the same token twice for one identity counts once */
	file("dup", "s3cr3t-a1\n", c);
	CU_ASSERT_EQUAL_FATAL(parse_tok(a, c, NULL, &p), 0);
	CU_ASSERT_EQUAL(bg_policy_read_tokens(&p, &sec, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(p.ntoks, 2);
	bg_policy_free(&p);
}

/*
 * Bad token files: the error names the policy's entry for the file
 * (POLICY:LINE:COL), the file and the line in it, and never the token.
 */
static void test_token_errors(void)
{
	static const struct {
		const char *name, *text, *says;
	} bad[] = {
		{ "space", "s3cr3t-ok\nmy s3cr3t\n",
		  "line 2: after the token (byte 3) comes something other than expires=TIME (6 bytes, not shown" },
		{ "bad expiry", "s3cr3t-ok expires=tomorrow\n", "line 1: expires=\"tomorrow\"" },
		{ "two tokens", "s3cr3t-one s3cr3t-two\n", "line 1: after the token (byte 11)" },
		{ "long", NULL, "line 1: token 600 bytes, longer than the 512 bytes" },
		{ "utf8", "s3cr3t-\xc3\xa9\n", "line 1: token byte 8 of 9 is not ASCII" },
		{ "ctl", "s3cr3t\x01x\n", "line 1: token byte 7 of 8 is a control character" },
		{ "empty", "# nothing here\n\n", "holds no token (one token per line" },
	};
	char a[256], where[700], longtok[602];
	struct bg_policy p;
	size_t i;

	memset(longtok, 'k', 600);
	longtok[600] = '\n';
	longtok[601] = '\0';
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		file(bad[i].name, bad[i].text ? bad[i].text : longtok, a);
		CU_ASSERT_EQUAL_FATAL(parse_tok(a, NULL, NULL, &p), 0);
		snprintf(where, sizeof(where), "p.yaml:4:19: token file %s: %s", a, bad[i].says);
		if (bg_policy_read_tokens(&p, &sec, err, sizeof(err)) != -EINVAL ||
		    strncmp(err, where, strlen(where)) || strstr(err, "s3cr3t") ||
		    strstr(err, "kkkk")) {
			printf("\n  token file \"%s\": %s\n  want: %s", bad[i].name, err, where);
			CU_FAIL("bad token file");
		}
		CU_ASSERT(!p.toks_loaded);
		CU_ASSERT_EQUAL(p.ntoks, 0); /* all or nothing */
		bg_policy_free(&p);
	}

	/* gone between the check and the read: the same position */
	file("gone", "s3cr3t\n", a);
	CU_ASSERT_EQUAL_FATAL(parse_tok(a, NULL, NULL, &p), 0);
	unlink(a);
	snprintf(where, sizeof(where), "p.yaml:4:19: token file %s: No such file or directory", a);
	CU_ASSERT_EQUAL(bg_policy_read_tokens(&p, &sec, err, sizeof(err)), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, where);
	bg_policy_free(&p);
}

/* One token, two identities: refused at the second one's entry, token not shown. */
static void test_token_twice(void)
{
	char a[256], c[256], where[900];
	struct bg_policy p;
	int col;

	file("x1", "s3cr3t-shared\n", a);
	file("y1", "s3cr3t-y\ns3cr3t-shared\n", c);
	CU_ASSERT_EQUAL_FATAL(parse_tok(a, NULL, c, &p), 0);
	col = (int)strlen("  y: { token_files: [") + 1;
	snprintf(
		where, sizeof(where),
		"p.yaml:5:%d: token file %s: line 2: the same token as line 1 of %s, given to identity x (a token belongs to one identity)",
		col, c, a);
	CU_ASSERT_EQUAL(bg_policy_read_tokens(&p, &sec, err, sizeof(err)), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, where);
	CU_ASSERT_PTR_NULL(strstr(err, "s3cr3t"));
	bg_policy_free(&p);

	/* and a file listed twice for one identity is a mistake said at once */
	CU_ASSERT_EQUAL(parse_tok(a, a, NULL, &p), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "listed twice (line 4)"));
}

static void note_fn(void *arg, const char *note)
{
	if (strstr(note, "chmod 600") || strstr(note, "Bearer TOKEN"))
		(*(int *)arg)++;
}

/* Notes: token files others can read; a custom header left with the bearer scheme. */
static void test_token_notes(void)
{
	char a[256], text[512];
	struct bg_policy p;
	int n = 0;

	file("loose", "s3cr3t\n", a);
	chmod(a, 0644);
	snprintf(text, sizeof(text),
		 "version: 1\nhost: { http_token_header: X-Api-Key }\n"
		 "identities: { x: { token_files: [\"%s\"] } }\n",
		 a);
	CU_ASSERT_EQUAL_FATAL(parse(text, &p), 0);
	CU_ASSERT_EQUAL_FATAL(bg_policy_read_tokens(&p, &sec, err, sizeof(err)), 0);
	bg_policy_notes(&p, note_fn, &n);
	CU_ASSERT_EQUAL(n, 2);
	bg_policy_free(&p);
}

static void collect_note(void *arg, const char *note)
{
	char *buf = arg;

	snprintf(buf + strlen(buf), 2048 - strlen(buf), "%s\n", note);
}

/* Limits under an action that ignores them: a note each (default included). */
static void test_limits_ignored_notes(void)
{
	char notes[2048] = "";
	struct bg_policy p;

	CU_ASSERT_EQUAL_FATAL(parse("version: 1\ndefault: { rate: 20pps, burst: 10 }\n"
				    "identities:\n  a: { rate: 5pps, action: block }\n"
				    "  b: { rate: 5pps }\n  c: { action: allow }\n",
				    &p),
			      0);
	bg_policy_notes(&p, collect_note, notes);
	CU_ASSERT_PTR_NOT_NULL(strstr(
		notes,
		"default has limits but action allow, which ignores them: nothing of it is metered (add `action: enforce`"));
	CU_ASSERT_PTR_NOT_NULL(strstr(notes, "identity a has limits but action block"));
	CU_ASSERT_PTR_NULL(strstr(notes, "identity b "));
	CU_ASSERT_PTR_NULL(strstr(notes, "identity c "));
	bg_policy_free(&p);
}

/* Every kind of bad file: where, and what the message must say. */
static const struct {
	const char *name;
	const char *text;
	const char *where;
	const char *says;
} bad[] = {
	{ "not yaml", "version: 1\nidentities: [\n", "p.yaml:3:1:", "not valid YAML" },
	{ "tab indent", "version: 1\nhost:\n\tshadow: on\n", "p.yaml:3:", "not valid YAML" },
	{ "empty", "", "p.yaml:1:1:", "empty file" },
	{ "not a mapping", "- a\n- b\n", "p.yaml:1:1:", "expected a mapping, found a list" },
	{ "no version", "identities: {}\n", "p.yaml:1:1:", "missing `version: 1`" },
	{ "wrong version", "version: 2\n", "p.yaml:1:10:", "policy version 1" },
	{ "unknown top key", "version: 1\nidentites: {}\n", "p.yaml:2:1:",
	  "unknown key \"identites\" (accepted: version, host, controller, default, identities, fleet)" },
	{ "duplicate key", "version: 1\nversion: 1\n",
	  "p.yaml:2:1:", "given twice (first at line 1)" },
	{ "unknown identity key", "version: 1\nidentities:\n  a:\n    rat: 5pps\n",
	  "p.yaml:4:5:", "unknown key \"rat\" (accepted: action, rate, burst" },
	{ "bad unit", "version: 1\nidentities:\n  a:\n    rate: 10 mbit\n",
	  "p.yaml:4:11:", "unknown unit \"mbit\" (use pps, kpps, mpps" },
	{ "zero rate", "version: 1\nidentities:\n  a:\n    rate: 0\n",
	  "p.yaml:4:11:", "zero is not a rate" },
	{ "burst without rate", "version: 1\nidentities:\n  a:\n    burst: 5\n",
	  "p.yaml:4:12:", "burst: needs a rate" },
	{ "fractional burst", "version: 1\nidentities:\n  a:\n    rate: 5\n    burst: 2.5\n",
	  "p.yaml:5:12:", "not a whole number of packets" },
	{ "tiny bytes burst",
	  "version: 1\nidentities:\n  a:\n    bytes_rate: 1mbit\n    bytes_burst: 10\n",
	  "p.yaml:5:18:", "must be at least 64" },
	{ "window too long", "version: 1\nidentities:\n  a:\n    rate: 1pps\n    burst: 100000\n",
	  "p.yaml:4:11:", "19.5 hours" },
	{ "bad action", "version: 1\nidentities:\n  a:\n    action: stop\n",
	  "p.yaml:4:13:", "use enforce, shadow, allow or block" },
	{ "bad name", "version: 1\nidentities:\n  \"a b\": {}\n", "p.yaml:3:3:", "not allowed" },
	{ "default in identities", "version: 1\nidentities:\n  default: {}\n",
	  "p.yaml:3:3:", "top-level default: section" },
	{ "duplicate identity", "version: 1\nidentities:\n  a: {}\n  b: {}\n  a: {}\n",
	  "p.yaml:5:3:", "identity a: defined twice (first at line 3)" },
	{ "prefix host bits", "version: 1\nidentities:\n  a:\n    prefixes: [10.1.2.3/8]\n",
	  "p.yaml:4:16:", "did you mean 10.0.0.0/8" },
	{ "prefix not a list", "version: 1\nidentities:\n  a:\n    prefixes: 10.0.0.0/8\n",
	  "p.yaml:4:15:", "prefixes: expected a list" },
	{ "prefix twice",
	  "version: 1\nidentities:\n  a:\n    prefixes: [10.0.0.0/8]\n  b:\n    prefixes: [10.0.0.0/8]\n",
	  "p.yaml:6:16:", "already given to identity a at line 4" },
	{ "only burst_min", "version: 1\nidentities:\n  a:\n    rate: 5\n    burst_min: 2\n",
	  "p.yaml:5:16:", "give both" },
	{ "min above max",
	  "version: 1\nidentities:\n  a:\n    rate: 5\n    burst_min: 20\n    burst_max: 2\n",
	  "p.yaml:5:16:", "burst_min 20 is above burst_max 2" },
	{ "burst outside bounds",
	  "version: 1\nidentities:\n  a:\n    rate: 5\n    burst: 1\n    burst_min: 2\n    burst_max: 9\n",
	  "p.yaml:5:12:", "outside burst_min..burst_max (2..9)" },
	{ "bounds without rate",
	  "version: 1\nidentities:\n  a:\n    burst_min: 2\n    burst_max: 9\n",
	  "p.yaml:4:16:", "needs a rate (the tuner never changes rates)" },
	{ "default with prefixes", "version: 1\ndefault:\n  prefixes: [10.0.0.0/8]\n",
	  "p.yaml:3:3:", "it has no prefixes" },
	{ "relative token file", "version: 1\nidentities:\n  a:\n    token_files: [tok]\n",
	  "p.yaml:4:19:", "must be an absolute path" },
	{ "bad bool", "version: 1\nhost:\n  shadow: maybe\n",
	  "p.yaml:3:11:", "not a boolean (use true or false)" },
	{ "bad malformed", "version: 1\nhost:\n  malformed: eat\n",
	  "p.yaml:3:14:", "use pass or drop" },
	{ "bad mode", "version: 1\nhost:\n  interfaces: [{ name: eth0, mode: fast }]\n",
	  "p.yaml:3:36:", "use auto, native, skb or multi" },
	{ "interface twice", "version: 1\nhost:\n  interfaces: [eth0, eth0]\n",
	  "p.yaml:3:22:", "listed twice" },
	{ "bad header", "version: 1\nhost:\n  http_token_header: \"X Token\"\n",
	  "p.yaml:3:22:", "character ' ' cannot appear in a header name" },
	{ "bad scheme", "version: 1\nhost:\n  http_token_scheme: \"Bearer x\"\n",
	  "p.yaml:3:22:", "cannot appear in an auth scheme (use bearer, none" },
	{ "scheme too long", "version: 1\nhost:\n  http_token_scheme: abcdefghijklmnopq\n",
	  "p.yaml:3:22:", "must be 1 to 15 characters" },
	{ "token files not a list", "version: 1\nidentities:\n  a:\n    token_files: /etc/t\n",
	  "p.yaml:4:18:", "token_files: expected a list" },
	{ "token files for default", "version: 1\ndefault:\n  token_files: []\n",
	  "p.yaml:3:3:", "the default identity takes the traffic nothing else claims" },
	{ "relative bind socket", "version: 1\ncontroller:\n  bind_socket: bind.sock\n",
	  "p.yaml:3:16:", "must be an absolute path" },
	{ "group without socket", "version: 1\ncontroller:\n  bind_socket_group: 0\n",
	  "p.yaml:3:22:", "needs a bind_socket" },
	{ "unknown group",
	  "version: 1\ncontroller:\n  bind_socket: /run/b.sock\n  bind_socket_group: no-such-grp\n",
	  "p.yaml:4:22:", "no such group here" },
	{ "bad interval", "version: 1\ncontroller:\n  tune_interval: 5\n",
	  "p.yaml:3:18:", "expected a duration in ms or s" },
	{ "interval too short", "version: 1\ncontroller:\n  tune_interval: 10ms\n",
	  "p.yaml:3:18:", "must be from 100ms to 60000ms" },
	{ "band inverted", "version: 1\ncontroller:\n  grow_below: 90%\n  shrink_above: 80%\n",
	  "p.yaml:3:15:", "must be below shrink_above" },
	{ "bad percent", "version: 1\ncontroller:\n  grow_below: 150%\n",
	  "p.yaml:3:15:", "percentage from 1% to 100%" },
	{ "relative audit log", "version: 1\ncontroller:\n  audit_log: audit.jsonl\n",
	  "p.yaml:3:14:", "must be an absolute path" },
	{ "capacity zero", "version: 1\nhost:\n  capacity: { rate: 0 }\n",
	  "p.yaml:3:21:", "zero is not a rate" },
	{ "capacity unknown key", "version: 1\nhost:\n  capacity: { pps: 5 }\n",
	  "p.yaml:3:15:", "unknown key \"pps\" (accepted: rate, bytes_rate)" },
	{ "identities a list", "version: 1\nidentities: [a, b]\n",
	  "p.yaml:2:13:", "identities: expected a mapping, found a list" },
	{ "on_token_expired: undefined identity",
	  "version: 1\nhost:\n  on_token_expired: jail\nidentities: { a: {} }\n", "p.yaml:3:21:",
	  "identity \"jail\" is not defined under identities (define it, or use default or block)" },
	{ "on_token_expired: bad name", "version: 1\nhost:\n  on_token_expired: \"a b\"\n",
	  "p.yaml:3:21:", "(use default, block or an identity's name)" },
	{ "bad token grace", "version: 1\nhost:\n  token_grace: 10 minutes\n",
	  "p.yaml:3:16:", "token_grace " },
	{ "identity token grace", "version: 1\nidentities:\n  a: { token_grace: -1m }\n",
	  "p.yaml:3:21:", "(or 0 for none)" },
	{ "bad xdp mode", "version: 1\nhost:\n  xdp_mode: multiple\n",
	  "p.yaml:3:13:", "xdp_mode \"multiple\": use auto, native, skb or multi" },
	{ "priority zero", "version: 1\nhost:\n  xdp_mode: multi\n  xdp_priority: 0\n",
	  "p.yaml:4:17:", "a whole number from 1 (first) to 1000" },
	{ "priority without multi", "version: 1\nhost:\n  xdp_priority: 30\n",
	  "p.yaml:3:3:", "xdp_priority is for xdp_mode: multi" },
	{ "interface priority without multi",
	  "version: 1\nhost:\n  interfaces: [{ name: e0, mode: skb, priority: 5 }]\n",
	  "p.yaml:3:3:", "interface e0 (line 3): priority is for mode multi" },
};

/* host.on_token_expired: default, block (an identity it adds), or a name. */
static void test_on_token_expired(void)
{
	struct bg_policy p;

	CU_ASSERT_EQUAL_FATAL(parse("version: 1\nhost: { on_token_expired: default }\n", &p), 0);
	CU_ASSERT_STRING_EQUAL(p.on_token_expired, "");
	bg_policy_free(&p);
	CU_ASSERT_EQUAL_FATAL(
		parse("version: 1\nhost: { on_token_expired: jail }\nidentities: { jail: { rate: 5pps } }\n",
		      &p),
		0);
	CU_ASSERT_STRING_EQUAL(p.on_token_expired, "jail");
	CU_ASSERT_EQUAL(p.nids, 1);
	bg_policy_free(&p);
	/* block: the identity it names, with action block, unless defined */
	CU_ASSERT_EQUAL_FATAL(
		parse("version: 1\nhost: { on_token_expired: block }\nidentities: { a: {} }\n", &p),
		0);
	CU_ASSERT_STRING_EQUAL(p.on_token_expired, BG_POL_EXPIRED_BLOCK_NAME);
	CU_ASSERT_EQUAL_FATAL(p.nids, 2);
	CU_ASSERT_STRING_EQUAL(p.ids[1].name, BG_POL_EXPIRED_BLOCK_NAME);
	CU_ASSERT_EQUAL(p.ids[1].cfg.action, BG_ACT_BLOCK);
	bg_policy_free(&p);
	CU_ASSERT_EQUAL_FATAL(parse("version: 1\nhost: { on_token_expired: block }\n"
				    "identities: { expired-tokens: { rate: 1pps } }\n",
				    &p),
			      0);
	CU_ASSERT_EQUAL_FATAL(p.nids, 1);
	CU_ASSERT_EQUAL(p.ids[0].cfg.action, BG_ACT_ENFORCE);
	bg_policy_free(&p);
}

/* host.xdp_mode and xdp_priority for the interfaces that say none */
static void test_multi(void)
{
	static const char text[] = "version: 1\n"
				   "host:\n"
				   "  interfaces: [e0, { name: e1, mode: native },\n"
				   "               { name: e2, priority: 40 }]\n"
				   "  xdp_mode: multi\n"
				   "  xdp_priority: 30\n";
	struct bg_policy p, q;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(parse(text, &p), 0);
	CU_ASSERT_EQUAL_FATAL(p.nifaces, 3);
	CU_ASSERT_EQUAL(p.ifaces[0].mode, BG_MODE_MULTI);
	CU_ASSERT_EQUAL(p.ifaces[0].prio, 30);
	CU_ASSERT_EQUAL(p.ifaces[1].mode, BG_MODE_NATIVE);
	CU_ASSERT_EQUAL(p.ifaces[2].mode, BG_MODE_MULTI);
	CU_ASSERT_EQUAL(p.ifaces[2].prio, 40);
	/* written out per interface, and read back the same */
	f = open_memstream(&out, &len);
	bg_policy_write(f, &p);
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "{ name: e2, mode: multi, priority: 40 }"));
	CU_ASSERT_EQUAL_FATAL(parse(out, &q), 0);
	CU_ASSERT_EQUAL(q.ifaces[0].mode, BG_MODE_MULTI);
	CU_ASSERT_EQUAL(q.ifaces[0].prio, 30);
	CU_ASSERT_EQUAL(q.ifaces[1].mode, BG_MODE_NATIVE);
	bg_policy_free(&p);
	bg_policy_free(&q);
	free(out);
}

/* controller.upgrade_program: true by default, false written back */
static void test_upgrade_program(void)
{
	struct bg_policy p, q;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(parse("version: 1\n", &p), 0);
	CU_ASSERT_FALSE(p.no_upgrade);
	bg_policy_free(&p);
	CU_ASSERT_EQUAL_FATAL(parse("version: 1\ncontroller: { upgrade_program: false }\n", &p), 0);
	CU_ASSERT_TRUE(p.no_upgrade);
	f = open_memstream(&out, &len);
	bg_policy_write(f, &p);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(parse(out, &q), 0);
	CU_ASSERT_TRUE(q.no_upgrade);
	bg_policy_free(&p);
	bg_policy_free(&q);
	free(out);
	CU_ASSERT_NOT_EQUAL(parse("version: 1\ncontroller: { upgrade_program: maybe }\n", &p), 0);
}

static void test_bad(void)
{
	struct bg_policy p;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = parse(bad[i].text, &p);

		if (ret != -EINVAL || strncmp(err, bad[i].where, strlen(bad[i].where)) ||
		    !strstr(err, bad[i].says)) {
			printf("\n  bad file \"%s\": ret %d, message: %s\n  want: %s ... %s",
			       bad[i].name, ret, err, bad[i].where, bad[i].says);
			CU_FAIL("bad file");
		}
		if (!ret)
			bg_policy_free(&p);
	}
}

/* The token lifecycle keys: grace (host default, identity's own), audit, warnings. */
static void test_token_keys(void)
{
	static const char text[] = "version: 1\n"
				   "host: { token_grace: 10m }\n"
				   "identities:\n"
				   "  a: { token_grace: 1h30m }\n"
				   "  b: { token_grace: 0 }\n"
				   "  c: {}\n";
	struct bg_policy p;

	CU_ASSERT_EQUAL_FATAL(parse(text, &p), 0);
	CU_ASSERT_EQUAL(p.token_grace_ns, 600 * BG_NS_PER_SEC);
	CU_ASSERT_EQUAL(bg_pol_grace(&p, &p.ids[0]), 5400 * BG_NS_PER_SEC);
	CU_ASSERT_EQUAL(bg_pol_grace(&p, &p.ids[1]), 0);
	CU_ASSERT_TRUE(p.ids[1].grace_given);
	CU_ASSERT_EQUAL(bg_pol_grace(&p, &p.ids[2]), 600 * BG_NS_PER_SEC);
	bg_policy_free(&p);
}

/* write -> parse gives the same policy, field by field. */
static void test_roundtrip(void)
{
	struct bg_policy a, b;
	char *text = NULL;
	size_t len = 0, i, j;
	FILE *f;

	char tf[256], more[2048];

	file("rt", "s3cr3t\n", tf);
	snprintf(more, sizeof(more), "%s    token_files: [\"%s\"]\n  owned:\n    token_files: []\n",
		 good, tf);
	CU_ASSERT_EQUAL_FATAL(parse(more, &a), 0);
	f = open_memstream(&text, &len);
	CU_ASSERT_EQUAL(bg_policy_write(f, &a), 0);
	fclose(f);
	if (parse(text, &b)) {
		printf("\n  %s\n%s", err, text);
		CU_FAIL_FATAL("written policy does not parse");
	}
	CU_ASSERT_EQUAL(a.shadow, b.shadow);
	CU_ASSERT_EQUAL(a.malformed, b.malformed);
	CU_ASSERT_EQUAL(a.nifaces, b.nifaces);
	CU_ASSERT_EQUAL(memcmp(&a.ctl, &b.ctl, sizeof(a.ctl)), 0);
	CU_ASSERT_EQUAL(a.max_ids, b.max_ids);
	CU_ASSERT_STRING_EQUAL(a.http_token_header, b.http_token_header);
	CU_ASSERT_STRING_EQUAL(a.http_token_scheme, b.http_token_scheme);
	CU_ASSERT_STRING_EQUAL(a.on_token_expired, b.on_token_expired);
	CU_ASSERT_STRING_EQUAL(a.bind_socket, b.bind_socket);
	CU_ASSERT_STRING_EQUAL(a.bind_group, b.bind_group);
	CU_ASSERT_STRING_EQUAL(a.audit_log, b.audit_log);
	CU_ASSERT_EQUAL(memcmp(&a.deflt.cfg, &b.deflt.cfg, sizeof(a.deflt.cfg)), 0);
	CU_ASSERT_EQUAL_FATAL(a.nids, b.nids);
	CU_ASSERT(b.ids[b.nids - 1].has_token_files); /* `token_files: []` survives */
	CU_ASSERT(b.ids[b.nids - 2].has_token_files);
	for (i = 0; i < a.nids; i++) {
		CU_ASSERT_STRING_EQUAL(a.ids[i].name, b.ids[i].name);
		CU_ASSERT_EQUAL(memcmp(&a.ids[i].lim, &b.ids[i].lim, sizeof(a.ids[i].lim)), 0);
		CU_ASSERT_EQUAL(memcmp(&a.ids[i].cfg, &b.ids[i].cfg, sizeof(a.ids[i].cfg)), 0);
		CU_ASSERT_EQUAL(memcmp(&a.ids[i].tune, &b.ids[i].tune, sizeof(a.ids[i].tune)), 0);
		CU_ASSERT_EQUAL(a.ids[i].has_token_files, b.ids[i].has_token_files);
		CU_ASSERT_EQUAL_FATAL(a.ids[i].ntoken_files, b.ids[i].ntoken_files);
		for (j = 0; j < a.ids[i].ntoken_files; j++)
			CU_ASSERT_STRING_EQUAL(a.ids[i].token_files[j].path,
					       b.ids[i].token_files[j].path);
		CU_ASSERT_EQUAL_FATAL(a.ids[i].npfx, b.ids[i].npfx);
		for (j = 0; j < a.ids[i].npfx; j++)
			CU_ASSERT_EQUAL(memcmp(&a.ids[i].pfx[j].pfx, &b.ids[i].pfx[j].pfx,
					       sizeof(struct bg_prefix)),
					0);
	}
	bg_policy_free(&a);
	bg_policy_free(&b);
	free(text);
}

/* The shipped example is valid (its token file line is commented out). */
static void test_example(void)
{
	struct bg_policy p;
	int ret = bg_policy_load(BG_SRCDIR "/examples/policy.yaml", &p, err, sizeof(err));

	if (ret)
		printf("\n  %s", err);
	CU_ASSERT_EQUAL_FATAL(ret, 0);
	CU_ASSERT(p.nids >= 3);
	CU_ASSERT(p.ntuned >= 1);
	bg_policy_free(&p);
}

int add_policy_suite(void)
{
	static const struct unit_test tests[] = {
		{ "good file, every field", test_good },
		{ "token files must exist", test_token_files },
		{ "token files: one token per line, hashed, positions", test_token_read },
		{ "bad token files: POLICY:LINE:COL, file line, never the token",
		  test_token_errors },
		{ "one token, two identities: refused", test_token_twice },
		{ "token notes: loose file modes, bearer on a custom header", test_token_notes },
		{ "token_grace: the host's, an identity's own", test_token_keys },
		{ "every kind of bad file: FILE:LINE:COL and what is accepted", test_bad },
		{ "write then parse round-trips", test_roundtrip },
		{ "host.on_token_expired", test_on_token_expired },
		{ "multi mode: xdp_mode, priorities", test_multi },
		{ "controller.upgrade_program", test_upgrade_program },
		{ "notes: limits an action ignores", test_limits_ignored_notes },
		{ "the shipped example is valid", test_example },
		{ NULL, NULL },
	};

	return unit_add_suite("policy", tests);
}
