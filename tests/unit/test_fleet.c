// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Fleet mode: the host side (demand, shares, modes, strict rescale) as pure
 * functions, and the lease script itself, run by a real redis-server that
 * this test starts on a Unix socket of its own (no network, no root).
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bg_fleet.h"
#include "bg_fleet_lua.h"
#include "bg_gcra.h"
#include "bg_policy.h"
#include "unit.h"

static void test_demand(void)
{
	struct bg_limits g = { .rate_pps = 1000, .burst_pkts = 100 };

	/* 500 packets in a second against 1000 pps: half */
	CU_ASSERT_EQUAL(bg_fleet_demand_ppm(&g, 500, 500 * 100, 1000000000ULL), 500000);
	/* twice the limit: demand may exceed a whole */
	CU_ASSERT_EQUAL(bg_fleet_demand_ppm(&g, 1000, 0, 500000000ULL), 2000000);
	CU_ASSERT_EQUAL(bg_fleet_demand_ppm(&g, 1000, 0, 0), 0);
	/* the byte side limited too: the larger ratio counts (800 kbit/s of 1 mbit/s) */
	g.byte_rate_bits = 1000000;
	g.burst_bytes = 10000;
	CU_ASSERT_EQUAL(bg_fleet_demand_ppm(&g, 100, 100000, 1000000000ULL), 800000);
}

static void test_limits(void)
{
	struct bg_limits g = { .rate_pps = 1000,
			       .burst_pkts = 100,
			       .byte_rate_bits = 8000000,
			       .burst_bytes = 100000,
			       .action = BG_ACT_SHADOW },
			 l;

	bg_fleet_limits(&g, 250000, &l);
	CU_ASSERT_EQUAL(l.rate_pps, 250);
	CU_ASSERT_EQUAL(l.burst_pkts, 25);
	CU_ASSERT_EQUAL(l.byte_rate_bits, 2000000);
	CU_ASSERT_EQUAL(l.burst_bytes, 25000);
	CU_ASSERT_EQUAL(l.action, BG_ACT_SHADOW);
	/* rounded down: never more than the share */
	bg_fleet_limits(&g, 333333, &l);
	CU_ASSERT_EQUAL(l.rate_pps, 333);
	CU_ASSERT_EQUAL(l.burst_pkts, 33);
	/* nothing: the smallest bucket there is (0 would mean unlimited) */
	bg_fleet_limits(&g, 0, &l);
	CU_ASSERT_EQUAL(l.rate_pps, 1);
	CU_ASSERT_EQUAL(l.burst_pkts, 1);
	CU_ASSERT_EQUAL(l.byte_rate_bits, 8);
	CU_ASSERT_EQUAL(l.burst_bytes, 64);
	bg_fleet_limits(&g, BG_FLEET_PPM, &l);
	CU_ASSERT_EQUAL(l.rate_pps, 1000);
	CU_ASSERT_EQUAL(l.burst_bytes, 100000);
	/* an unlimited dimension stays unlimited */
	g.byte_rate_bits = g.burst_bytes = 0;
	bg_fleet_limits(&g, 500000, &l);
	CU_ASSERT_EQUAL(l.byte_rate_bits, 0);
	CU_ASSERT_EQUAL(l.burst_bytes, 0);
}

static void test_modes(void)
{
	struct bg_fleet_cfg c = { .interval_ms = 500, .lease_ms = 2000, .hosts = 4 };
	struct bg_fleet_rec r = {};

	/* never leased: safe, from fleet.hosts while no membership is known */
	bg_fleet_start(&c, &r, 0, 1000);
	CU_ASSERT_EQUAL(r.mode, BG_FLEET_SAFE);
	CU_ASSERT_EQUAL(r.share_ppm, 250000);
	bg_fleet_start(&c, &r, 3, 1000);
	CU_ASSERT_EQUAL(r.share_ppm, 333333);
	/* a lease: in force until renewed or held out */
	bg_fleet_on_lease(&r, 600000, 3, c.lease_ms, 10000);
	CU_ASSERT_EQUAL(r.mode, BG_FLEET_LEASE);
	CU_ASSERT_EQUAL(r.share_ppm, 600000);
	CU_ASSERT_EQUAL(r.hold_ms, 14000);
	CU_ASSERT_FALSE(bg_fleet_age(&c, &r, true, 11000));
	CU_ASSERT_EQUAL(r.mode, BG_FLEET_LEASE);
	/* not renewed within the lease, or the engine gone: held, same share */
	CU_ASSERT_FALSE(bg_fleet_age(&c, &r, true, 12500));
	CU_ASSERT_EQUAL(r.mode, BG_FLEET_HELD);
	CU_ASSERT_EQUAL(r.share_ppm, 600000);
	r.mode = BG_FLEET_LEASE;
	CU_ASSERT_FALSE(bg_fleet_age(&c, &r, false, 10500));
	CU_ASSERT_EQUAL(r.mode, BG_FLEET_HELD);
	/* held out: safe, R/N of the last membership */
	CU_ASSERT_TRUE(bg_fleet_age(&c, &r, false, 14000));
	CU_ASSERT_EQUAL(r.mode, BG_FLEET_SAFE);
	CU_ASSERT_EQUAL(r.share_ppm, 333333);
	CU_ASSERT_EQUAL(r.mode_since_ms, 14000);
	/* on_engine_down: open: the whole limit */
	c.on_down = BG_FLEET_DOWN_OPEN;
	CU_ASSERT_TRUE(bg_fleet_age(&c, &r, false, 15000));
	CU_ASSERT_EQUAL(r.mode, BG_FLEET_OPEN);
	CU_ASSERT_EQUAL(r.share_ppm, BG_FLEET_PPM);
	/* a lease again */
	bg_fleet_on_lease(&r, 200000, 3, c.lease_ms, 16000);
	CU_ASSERT_EQUAL(r.mode, BG_FLEET_LEASE);
	CU_ASSERT_EQUAL(r.share_ppm, 200000);
}

/* A full bucket whose burst grows keeps its tokens: no burst appears from nowhere. */
static void test_rescale_strict(void)
{
	struct bg_bucket o, n;
	__u64 now = bg_ticks(1000000000000ULL), tat;

	bg_bucket_set_pkts(&o, 100, 10);
	bg_bucket_set_pkts(&n, 400, 40);
	/* full (idle): 10 tokens, as many after (not 40) */
	tat = bg_bucket_rescale_strict(&o, &n, now - 5, now);
	CU_ASSERT_DOUBLE_EQUAL(bg_bucket_fill(&n, tat, now), 10.0, 0.01);
	/* the reload's rescale refills it: why the fleet does not use it */
	tat = bg_bucket_rescale(&o, &n, now - 5, now);
	CU_ASSERT_DOUBLE_EQUAL(bg_bucket_fill(&n, tat, now), 40.0, 0.01);
	/* half full: 5 tokens either way */
	tat = now + o.tau / 2;
	CU_ASSERT_DOUBLE_EQUAL(bg_bucket_fill(&n, bg_bucket_rescale_strict(&o, &n, tat, now), now),
			       5.0, 0.01);
	/* shrinking: clamped to the new burst */
	CU_ASSERT_DOUBLE_EQUAL(bg_bucket_fill(&o, bg_bucket_rescale_strict(&n, &o, now, now), now),
			       10.0, 0.01);
	/* empty stays empty */
	tat = bg_bucket_rescale_strict(&o, &n, now + o.tau, now);
	CU_ASSERT_DOUBLE_EQUAL(bg_bucket_fill(&n, tat, now), 0.0, 0.01);
}

/* ---- The policy's fleet section and scope: global ---- */

static const char good_fleet[] = "version: 1\n"
				 "fleet:\n"
				 "  engine: redis://[2001:db8::5]:7000\n"
				 "  host: web-3\n"
				 "  interval: 250ms\n"
				 "  floor: 2.5%\n"
				 "  hosts: 4\n"
				 "  on_engine_down: open\n"
				 "identities:\n"
				 "  agent-7:\n"
				 "    scope: global\n"
				 "    rate: 1000pps\n"
				 "    burst: 200\n"
				 "  local-1:\n"
				 "    scope: local\n"
				 "    rate: 10pps\n";

static void test_policy_fleet(void)
{
	struct bg_policy p, q;
	char err[512], *buf = NULL;
	size_t len = 0;
	FILE *f;

	CU_ASSERT_FATAL(bg_policy_parse("p.yaml", good_fleet, sizeof(good_fleet) - 1, &p, err,
					sizeof(err)) == 0);
	CU_ASSERT_STRING_EQUAL(p.fleet.engine, "redis://[2001:db8::5]:7000");
	CU_ASSERT_STRING_EQUAL(p.fleet.host, "web-3");
	CU_ASSERT_EQUAL(p.fleet.interval_ms, 250);
	CU_ASSERT_EQUAL(p.fleet.lease_ms, 1000); /* 4 intervals */
	CU_ASSERT_EQUAL(p.fleet.member_timeout_ms, BG_FLEET_MEMBER_TIMEOUT_MS_DEFAULT);
	CU_ASSERT_EQUAL(p.fleet.floor_ppm, 25000);
	CU_ASSERT_EQUAL(p.fleet.hosts, 4);
	CU_ASSERT_EQUAL(p.fleet.on_down, BG_FLEET_DOWN_OPEN);
	CU_ASSERT_EQUAL(p.nglobal, 1);
	CU_ASSERT_TRUE(p.ids[0].global);
	CU_ASSERT_EQUAL(p.ids[0].glim.rate_pps, 1000);
	CU_ASSERT_FALSE(p.ids[1].global);
	/* written and read back: the same fleet, the same scopes */
	f = open_memstream(&buf, &len);
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL(bg_policy_write(f, &p), 0);
	fclose(f);
	CU_ASSERT_FATAL(bg_policy_parse("dump", buf, len, &q, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(memcmp(&q.fleet, &p.fleet, sizeof(p.fleet)), 0);
	CU_ASSERT_TRUE(q.ids[0].global);
	CU_ASSERT_EQUAL(q.ids[0].glim.burst_pkts, 200);
	CU_ASSERT_FALSE(q.ids[1].global);
	bg_policy_free(&q);
	bg_policy_free(&p);
	free(buf);
}

/* Each bad policy is refused where it is wrong, saying what is accepted. */
static void test_policy_fleet_bad(void)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "version: 1\nidentities:\n  a:\n    scope: global\n    rate: 10pps\n",
		  "p.yaml:1:1: identities with scope: global need a fleet section" },
		{ "version: 1\nfleet:\n  host: x\n", "fleet: needs an engine" },
		{ "version: 1\nfleet:\n  engine: http://x\n",
		  "use redis://HOST[:PORT] or unix:/PATH" },
		{ "version: 1\nfleet:\n  engine: redis://x:99999\n", "a port 1-65535" },
		{ "version: 1\nfleet:\n  engine: unix:rel\n", "needs an absolute path" },
		{ "version: 1\nfleet:\n  engine: redis://x\n  host: _x\n",
		  "host \"_x\": a host id" },
		{ "version: 1\nfleet:\n  engine: redis://x\n  interval: 1s\n  lease: 1500ms\n",
		  "p.yaml:5:10: lease 1500ms: must be at least twice the interval" },
		{ "version: 1\nfleet:\n  engine: redis://x\n  member_timeout: 5s\n",
		  "member_timeout 5000ms: must be at least 3 leases" },
		{ "version: 1\nfleet:\n  engine: redis://x\n  floor: 60%\n", "from 0% to 50%" },
		{ "version: 1\nfleet:\n  engine: redis://x\n  on_engine_down: closed\n",
		  "use safe, R/N per host, or open" },
		{ "version: 1\nfleet:\n  engine: redis://x\nidentities:\n  a:\n    scope: world\n",
		  "p.yaml:6:12: scope \"world\": unknown (use local" },
		{ "version: 1\nfleet:\n  engine: redis://x\nidentities:\n  a:\n    scope: global\n",
		  "scope: global needs a rate or a bytes_rate" },
		{ "version: 1\nfleet:\n  engine: redis://x\nidentities:\n  a:\n    scope: global\n"
		  "    action: allow\n",
		  "scope: global needs action enforce or shadow" },
		{ "version: 1\nfleet:\n  engine: redis://x\nidentities:\n  a:\n    scope: global\n"
		  "    rate: 10pps\n    burst_min: 1\n    burst_max: 20\n",
		  "scope: global does not take burst_min/burst_max" },
	};
	struct bg_policy p;
	char err[512];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = bg_policy_parse("p.yaml", bad[i].text, strlen(bad[i].text), &p, err,
					  sizeof(err));

		if (ret != -EINVAL || !strstr(err, bad[i].want)) {
			printf("\n  case %zu: ret %d, message: %s\n  want: ...%s...", i, ret, err,
			       bad[i].want);
			CU_FAIL("bad fleet policy");
		}
		if (!ret)
			bg_policy_free(&p);
	}
}

/* ---- The lease script, in a real redis-server ---- */

static pid_t redis_pid = -1;
static char redis_sock[96];
static redisContext *rc;
static char sha[48];

static int redis_start(void)
{
	int i;

	snprintf(redis_sock, sizeof(redis_sock), "/tmp/bg_unit_redis.%d.sock", (int)getpid());
	redis_pid = fork();
	if (redis_pid == 0) {
		/* quiet: its banner is not the tests' output */
		if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
			_exit(127);
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", redis_sock,
		       "--save", "", "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100; i++) {
		int status;

		if (waitpid(redis_pid, &status, WNOHANG) == redis_pid) {
			redis_pid = -1;
			return -ENOENT;
		}
		rc = redisConnectUnix(redis_sock);
		if (rc && !rc->err)
			return 0;
		if (rc)
			redisFree(rc);
		rc = NULL;
		usleep(20000);
	}
	return -ETIMEDOUT;
}

static void redis_stop(void)
{
	if (rc)
		redisFree(rc);
	rc = NULL;
	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
	}
	redis_pid = -1;
	unlink(redis_sock);
}

struct grant {
	long long lease, n, known, flags;
};

/* One call of the script: host h asks for demand d holding f (ppm) on identity id. */
static int call(const char *id, const char *h, long long d, long long f, const char *op,
		long long lease_ms, long long member_ms, long long floor_ppm, long long n_last,
		const char *lim, struct grant *g)
{
	char key[96];
	redisReply *r;
	int ret = -EIO;

	snprintf(key, sizeof(key), "burstgate:{%s}", id);
	r = redisCommand(rc, "EVALSHA %s 1 %s %s %lld %lld %s %lld %lld %lld %lld %s %s", sha, key,
			 h, d, f, op, lease_ms, member_ms, floor_ppm, n_last, lim, "0 0 0 0");
	if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
		g->lease = r->element[0]->integer;
		g->n = r->element[1]->integer;
		g->known = r->element[2]->integer;
		g->flags = r->element[3]->integer;
		ret = 0;
	} else if (r && r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "script error: %s\n", r->str);
	}
	if (r)
		freeReplyObject(r);
	return ret;
}

/* call() with the test's usual settings: lease 300 ms, member 1 s, floor 5% */
static long long ask(const char *id, const char *h, long long d, long long f)
{
	struct grant g;

	if (call(id, h, d, f, "sync", 300, 1000, 50000, 0, "100:10:0:0", &g))
		return -1;
	return g.lease;
}

/*
 * What the engine counts for identity id now, from its own records, by the
 * rules the script states: a running lease at the larger of its value and
 * what the host said it enforces, a silent host at max(lease, safe) until
 * its member timeout.
 */
static long long counted(const char *id)
{
	char key[96];
	redisReply *r, *t;
	long long sum = 0, now;
	size_t i;

	t = redisCommand(rc, "TIME");
	now = atoll(t->element[0]->str) * 1000 + atoll(t->element[1]->str) / 1000;
	freeReplyObject(t);
	snprintf(key, sizeof(key), "burstgate:{%s}", id);
	r = redisCommand(rc, "HGETALL %s", key);
	for (i = 0; r && i + 1 < r->elements; i += 2) {
		json_t *j;
		long long l, s, e, m, f;

		if (!strcmp(r->element[i]->str, "_meta"))
			continue;
		j = json_loads(r->element[i + 1]->str, 0, NULL);
		l = (long long)json_number_value(json_object_get(j, "l"));
		s = (long long)json_number_value(json_object_get(j, "s"));
		e = (long long)json_number_value(json_object_get(j, "e"));
		m = (long long)json_number_value(json_object_get(j, "m"));
		f = (long long)json_number_value(json_object_get(j, "f"));
		if (now < e)
			sum += l > f ? l : f;
		else if (now < m)
			sum += l > s ? l : s;
		json_decref(j);
	}
	if (r)
		freeReplyObject(r);
	return sum;
}

static int script_setup(void)
{
	redisReply *r;
	int err = redis_start();

	if (err) {
		fprintf(stderr,
			"FAIL: the fleet script tests need redis-server (Debian package redis-server; `make deps` installs it)\n");
		return err;
	}
	r = redisCommand(rc, "SCRIPT LOAD %s", bg_fleet_lua);
	if (!r || r->type != REDIS_REPLY_STRING) {
		fprintf(stderr, "FAIL: SCRIPT LOAD: %s\n", r && r->str ? r->str : "no reply");
		if (r)
			freeReplyObject(r);
		return -EIO;
	}
	snprintf(sha, sizeof(sha), "%s", r->str);
	freeReplyObject(r);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Three hosts, all over the limit: equal thirds within two rounds, never more than a whole. */
static void test_script_even(void)
{
	long long a, b, c;
	int round;

	CU_ASSERT_FATAL(rc != NULL);
	sleep_ms(0);
	/* a new key learns first: a host gets no more than it holds (1/3 each) */
	for (round = 0; round < 2; round++) {
		a = ask("even", "a", 800000, 333333);
		b = ask("even", "b", 800000, 333333);
		c = ask("even", "c", 800000, 333333);
		CU_ASSERT(a <= 333333 && b <= 333333 && c <= 333333);
		CU_ASSERT(counted("even") <= BG_FLEET_PPM);
	}
	sleep_ms(650); /* past learning (two leases) */
	for (round = 0; round < 3; round++) {
		a = ask("even", "a", 800000, a);
		b = ask("even", "b", 800000, b);
		c = ask("even", "c", 800000, c);
		CU_ASSERT(counted("even") <= BG_FLEET_PPM);
	}
	CU_ASSERT(a >= 333000 && a <= 333334);
	CU_ASSERT(b >= 333000 && b <= 333334);
	CU_ASSERT(c >= 333000 && c <= 333334);
}

/* All demand on one host: it gets all but the idle hosts' floors (f/N each). */
static void test_script_one_host(void)
{
	long long a = 0, b = 0, c = 0;
	int round;

	sleep_ms(0);
	ask("one", "a", 0, 333333);
	ask("one", "b", 0, 333333);
	ask("one", "c", 0, 333333);
	sleep_ms(650);
	for (round = 0; round < 3; round++) {
		a = ask("one", "a", 3000000, a ? a : 333333);
		b = ask("one", "b", 0, b ? b : 333333);
		c = ask("one", "c", 0, c ? c : 333333);
		CU_ASSERT(counted("one") <= BG_FLEET_PPM);
	}
	/* floor 5% over N = 3: 16666 each for the idle ones */
	CU_ASSERT_EQUAL(b, 16666);
	CU_ASSERT_EQUAL(c, 16666);
	CU_ASSERT(a >= BG_FLEET_PPM - 2 * 16666 - 2 && a <= BG_FLEET_PPM - 2 * 16666);
	/* demand moves to c: it gets the room a gives back once a has said it is in force */
	for (round = 0; round < 3; round++) {
		a = ask("one", "a", 0, a);
		b = ask("one", "b", 0, b);
		c = ask("one", "c", 3000000, c);
		CU_ASSERT(counted("one") <= BG_FLEET_PPM);
	}
	CU_ASSERT(c >= BG_FLEET_PPM - 2 * 16666 - 2);
}

/*
 * Under demand below the limit every host gets its demand, and the rest
 * goes to the hosts that have some. Max-min: a small demand is met whole
 * while two large ones split what is left.
 */
static void test_script_maxmin(void)
{
	long long a = 0, b = 0, c = 0;
	int round;

	ask("mm", "a", 0, 0);
	sleep_ms(650);
	for (round = 0; round < 3; round++) {
		a = ask("mm", "a", 100000, a);
		b = ask("mm", "b", 900000, b);
		c = ask("mm", "c", 900000, c);
		CU_ASSERT(counted("mm") <= BG_FLEET_PPM);
	}
	CU_ASSERT(a >= 100000 && a <= 100001);
	CU_ASSERT(b >= 449000 && b <= 450000);
	CU_ASSERT(c >= 449000 && c <= 450000);
	/* below the limit: demand met, the surplus shared by the hosts that have demand */
	for (round = 0; round < 3; round++) {
		a = ask("mm", "a", 100000, a);
		b = ask("mm", "b", 200000, b);
		c = ask("mm", "c", 0, c);
		CU_ASSERT(counted("mm") <= BG_FLEET_PPM);
	}
	CU_ASSERT_EQUAL(c, 16666);
	CU_ASSERT(a > 100000 && b > 200000);
	CU_ASSERT(a + b + c >= BG_FLEET_PPM - 2);
}

/*
 * A host goes silent: its lease counts until its member timeout (it may
 * still enforce it), then its share is free. A host that leaves says what
 * it keeps (its safe share): the rest is free at once.
 */
static void test_script_silent_leave(void)
{
	long long a = 0, b = 0, c = 0;
	struct grant g;
	int round;

	ask("sl", "a", 0, 0);
	sleep_ms(650);
	for (round = 0; round < 3; round++) {
		a = ask("sl", "a", 3000000, a);
		b = ask("sl", "b", 3000000, b);
		c = ask("sl", "c", 3000000, c);
	}
	/* c silent past its lease: still counted, at max(lease, safe) */
	sleep_ms(350);
	a = ask("sl", "a", 3000000, a);
	b = ask("sl", "b", 3000000, b);
	a = ask("sl", "a", 3000000, a);
	CU_ASSERT(a + b <= BG_FLEET_PPM - 333333);
	CU_ASSERT(counted("sl") <= BG_FLEET_PPM);
	/* past its member timeout (1 s): forgotten, its share free */
	sleep_ms(1050);
	a = ask("sl", "a", 3000000, a);
	b = ask("sl", "b", 3000000, b);
	a = ask("sl", "a", 3000000, a);
	b = ask("sl", "b", 3000000, b);
	a = ask("sl", "a", 3000000, a);
	CU_ASSERT(call("sl", "b", 3000000, b, "sync", 300, 1000, 50000, 0, "100:10:0:0", &g) == 0);
	b = g.lease;
	CU_ASSERT_EQUAL(g.n, 2);
	CU_ASSERT(a + b >= BG_FLEET_PPM - 2);
	/* b leaves keeping 1/2: a may take the rest at once, not b's half */
	CU_ASSERT(call("sl", "b", 0, 500000, "leave", 300, 1000, 50000, 0, "100:10:0:0", &g) == 0);
	a = ask("sl", "a", 3000000, a);
	CU_ASSERT(a <= 500000 && a >= 499000);
	CU_ASSERT(counted("sl") <= BG_FLEET_PPM);
}

/*
 * An engine restarted (the key is new): hosts not heard from yet, of the
 * membership the first caller knew, are counted at their safe share; and
 * no host gets more than it holds until the old leases have run out.
 */
static void test_script_restart(void)
{
	struct grant g;

	/* a host in safe mode (1/3), the first to call the restarted engine */
	CU_ASSERT(call("rs", "a", 3000000, 333333, "sync", 300, 1000, 50000, 3, "100:10:0:0", &g) ==
		  0);
	CU_ASSERT_EQUAL(g.n, 3);
	CU_ASSERT_EQUAL(g.known, 1);
	CU_ASSERT(g.flags & 1); /* learning */
	CU_ASSERT(g.lease <= 333334);
	/* a host still in safe mode gets no more than it holds while learning */
	CU_ASSERT(call("rs", "b", 3000000, 200000, "sync", 300, 1000, 50000, 3, "100:10:0:0", &g) ==
		  0);
	CU_ASSERT(g.lease <= 200000);
	CU_ASSERT_EQUAL(g.known, 2);
	/* policies that disagree on the limits are flagged */
	CU_ASSERT(call("rs", "c", 0, 0, "sync", 300, 1000, 50000, 3, "200:10:0:0", &g) == 0);
	CU_ASSERT(g.flags & 2);
	CU_ASSERT(counted("rs") <= BG_FLEET_PPM);
}

/*
 * Many hosts, random demands, random silences, over several leases: the
 * engine never counts more than a whole. The invariant every bound rests on.
 */
static void test_script_random(void)
{
	const char *hosts[] = { "h0", "h1", "h2", "h3", "h4", "h5" };
	long long held[6] = {};
	unsigned int seed = 14;
	int i, k;

	for (i = 0; i < 600; i++) {
		k = (int)(rand_r(&seed) % 6);
		if (rand_r(&seed) % 8 == 0)
			continue; /* a host that stays silent this time */
		held[k] = ask("rnd", hosts[k],
			      rand_r(&seed) % 3 ? (long long)(rand_r(&seed) % 900000) : 0, held[k]);
		CU_ASSERT(held[k] >= 0);
		if (i % 20 == 0) {
			CU_ASSERT(counted("rnd") <= BG_FLEET_PPM);
			sleep_ms(rand_r(&seed) % 120);
		}
	}
	CU_ASSERT(counted("rnd") <= BG_FLEET_PPM);
}

static int script_init(void)
{
	return script_setup() ? -1 : 0;
}

static int script_clean(void)
{
	redis_stop();
	return 0;
}

int add_fleet_suite(void)
{
	static const struct unit_test pure[] = {
		{ "demand", test_demand },
		{ "limits", test_limits },
		{ "modes", test_modes },
		{ "rescale_strict", test_rescale_strict },
		{ "policy", test_policy_fleet },
		{ "policy_bad", test_policy_fleet_bad },
		{ NULL, NULL },
	};
	static const struct unit_test script[] = {
		{ "even", test_script_even },
		{ "one_host", test_script_one_host },
		{ "maxmin", test_script_maxmin },
		{ "silent_leave", test_script_silent_leave },
		{ "restart", test_script_restart },
		{ "random", test_script_random },
		{ NULL, NULL },
	};
	CU_pSuite s;
	size_t i;

	if (unit_add_suite("fleet", pure))
		return -1;
	s = CU_add_suite("fleet_script", script_init, script_clean);
	if (!s)
		return -1;
	for (i = 0; script[i].name; i++)
		if (!CU_add_test(s, script[i].name, script[i].fn))
			return -1;
	return 0;
}
