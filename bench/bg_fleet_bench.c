// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bg-fleet-bench: fleet mode against the two naive schemes, side by side in
 * one run, and what a sync costs the engine (bench/run fleet; docs/fleet.md).
 *
 *   bg-fleet-bench --redis SOCKET [--duration S] [--hosts 2,4,8,16]
 *                  [--intervals 100,500,2000] > fleet.json
 *
 * Accuracy and utilisation, simulated on a virtual clock (1 ms steps):
 * H hosts, each with a packet bucket (the GCRA of include/bg_gcra.h, as the
 * XDP program meters), fed by a demand that cycles every 10 s through four
 * shapes, twice the global rate R in total: even over the hosts, all on one
 * host, moving from host to host every 2 s, and random on/off bursts. Three
 * ways of holding R across the hosts:
 *   fleet     burstgate's: every interval T each host calls the lease script
 *             (user/bg_fleet.lua, in the real redis-server at SOCKET, on the
 *             virtual clock) and enforces its lease in its bucket, as the
 *             controller does (bg_fleet.h, strict rescale);
 *   static    each host enforces R/H and B/H, no coordination;
 *   shared    one bucket for all hosts, as if every packet asked one shared
 *             counter: exact, at one engine round trip per packet.
 * Per run: the worst window (1 s and 10 s) as admitted / (R*t + B), and the
 * utilisation: admitted over what one global bucket would admit of the same
 * demand (the shared scheme, by construction 1.0).
 *
 * Engine costs, measured on the real server (wall clock): the script's time
 * per call with 3 to 1000 hosts on the key (Redis's own usec_per_call, and
 * the client's pipelined rate), the bytes of a call and of its reply, and a
 * shared-counter call (a one-bucket GCRA script) for comparison. The sizing
 * table of bench/REPORT.md is computed from these.
 */
#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bg_fleet.h"
#include "bg_fleet_lua.h"
#include "bg_gcra.h"

#define R_PPS 2000ULL
#define B_PKTS 200ULL
#define SLOT_MS 100 /* accounting resolution */
#define MAX_HOSTS 64

static redisContext *rc;
static char sha[48];
static unsigned int seed = 14;

/* ---- the engine ---- */

static redisReply *cmd(const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(rc, fmt, ap);
	va_end(ap);
	if (!r) {
		fprintf(stderr, "bg-fleet-bench: redis: %s\n", rc->errstr);
		exit(1);
	}
	return r;
}

/* One lease call for identity id (virtual now_ms); the grant in ppm and N. */
static void lease_call(const char *id, const char *host, __u64 demand, __u32 inforce,
		       __u32 lease_ms, __u32 member_ms, __u32 n_last, __u64 now_ms, __u32 *grant,
		       __u32 *n)
{
	redisReply *r =
		cmd("EVALSHA %s 1 burstgate:{%s} %s %llu %u sync %u %u 50000 %u %llu:%llu:0:0 "
		    "0 %llu",
		    sha, id, host, (unsigned long long)demand, inforce, lease_ms, member_ms, n_last,
		    R_PPS, B_PKTS, (unsigned long long)now_ms);

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
		fprintf(stderr, "bg-fleet-bench: script: %s\n",
			r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		exit(1);
	}
	*grant = (__u32)r->element[0]->integer;
	*n = (__u32)r->element[1]->integer;
	freeReplyObject(r);
}

/* ---- the simulation ---- */

enum scheme { FLEET, STATIC, SHARED };

struct host {
	struct bg_bucket b;
	__u64 tat;
	double carry; /* fractional packets of demand */
	__u64 offered, admitted; /* this interval, for the demand */
	struct bg_fleet_rec rec;
	__u32 applied;
};

/* Demand of host h at ms t, packets per second: the four shapes, 10 s each. */
static double demand_pps(int h, int hosts, __u64 t, const int *bursty)
{
	double total = 2.0 * R_PPS;

	switch ((t / 10000) % 4) {
	case 0:
		return total / hosts;
	case 1:
		return h == 0 ? total : 0;
	case 2:
		return h == (int)((t / 2000) % (__u64)hosts) ? total : 0;
	default:
		return bursty[h] ? 2.0 * total / hosts : 0;
	}
}

/* The host's bucket at share, its tokens kept (a first one starts full). */
static void set_share(struct host *x, __u32 share, __u64 now_ticks)
{
	struct bg_limits g = { .rate_pps = R_PPS, .burst_pkts = B_PKTS }, l;
	struct bg_bucket nb;

	bg_fleet_limits(&g, share, &l);
	bg_bucket_set_pkts(&nb, l.rate_pps, l.burst_pkts);
	x->tat = x->b.interval_fp ? bg_bucket_rescale_strict(&x->b, &nb, x->tat, now_ticks) :
				    now_ticks;
	x->b = nb;
	x->applied = share;
}

struct result {
	double worst_1s, worst_10s; /* admitted / (R t + B) */
	double utilisation;
	__u64 calls;
};

static void run(enum scheme sc, int hosts, __u32 interval_ms, __u64 duration_ms, const __u64 *ideal,
		struct result *res, __u64 *admitted_slots)
{
	struct bg_fleet_cfg cfg = { .interval_ms = interval_ms,
				    .lease_ms = BG_FLEET_LEASE_INTERVALS * interval_ms,
				    .member_timeout_ms =
					    3 * BG_FLEET_LEASE_INTERVALS * interval_ms + 1000,
				    .floor_ppm = 50000,
				    .hosts = (__u32)hosts };
	struct host hs[MAX_HOSTS] = {};
	int bursty[MAX_HOSTS] = {};
	char id[64], name[16];
	__u64 t, base = 1000000; /* virtual ms: away from 0 */
	__u64 nslots = duration_ms / SLOT_MS, total = 0, ideal_total = 0;
	size_t k, w;
	int h;

	memset(res, 0, sizeof(*res));
	/* a key of its own per run: fresh engine state */
	snprintf(id, sizeof(id), "bench-%d-%d-%u-%u", (int)sc, hosts, interval_ms, rand_r(&seed));
	for (h = 0; h < hosts; h++) {
		__u64 now = bg_ticks((base)*1000000ULL);

		if (sc == STATIC) {
			bg_bucket_set_pkts(&hs[h].b, R_PPS / (__u64)hosts, B_PKTS / (__u64)hosts);
		} else if (sc == SHARED) {
			bg_bucket_set_pkts(&hs[h].b, R_PPS, B_PKTS); /* only hs[0] is used */
		} else {
			bg_fleet_start(&cfg, &hs[h].rec, (__u32)hosts, base);
			set_share(&hs[h], hs[h].rec.share_ppm, now);
		}
	}
	for (t = 0; t < duration_ms; t++) {
		__u64 ms = base + t, now = bg_ticks(ms * 1000000ULL);

		if (t % 500 == 0)
			for (h = 0; h < hosts; h++)
				bursty[h] = rand_r(&seed) % 3 == 0;
		for (h = 0; h < hosts; h++) {
			struct host *x = &hs[h];
			struct host *bk = sc == SHARED ? &hs[0] : x;
			__u64 prev, next;
			int n;

			x->carry += demand_pps(h, hosts, t, bursty) / 1000.0;
			n = (int)x->carry;
			x->carry -= n;
			for (; n > 0; n--) {
				x->offered++;
				if (bg_bucket_take(&bk->tat, bk->b.tau,
						   bg_cost_ticks(bk->b.interval_fp, 1), now, &prev,
						   &next) == BG_TAKE_CONFORM) {
					x->admitted++;
					admitted_slots[t / SLOT_MS]++;
				}
			}
			if (sc != FLEET)
				continue;
			/* host h syncs at its own phase of the interval */
			if ((t + (__u64)h * interval_ms / (__u64)hosts) % interval_ms == 0) {
				struct bg_limits g = { .rate_pps = R_PPS, .burst_pkts = B_PKTS };
				__u64 d = bg_fleet_demand_ppm(&g, x->offered, 0,
							      (__u64)interval_ms * 1000000ULL);
				__u32 grant, nn;

				snprintf(name, sizeof(name), "h%d", h);
				lease_call(id, name, d, x->applied, cfg.lease_ms,
					   cfg.member_timeout_ms, x->rec.members, ms, &grant, &nn);
				res->calls++;
				bg_fleet_on_lease(&x->rec, grant, nn, cfg.lease_ms, ms);
				x->offered = x->admitted = 0;
			}
			bg_fleet_age(&cfg, &x->rec, true, ms);
			if (x->rec.share_ppm != x->applied)
				set_share(x, x->rec.share_ppm, now);
		}
	}
	/* worst windows, sliding by a slot */
	for (w = 10; w <= 100; w += 90) {
		double worst = 0;
		__u64 sum = 0;

		for (k = 0; k < nslots; k++) {
			sum += admitted_slots[k];
			if (k >= w)
				sum -= admitted_slots[k - w];
			if (k + 1 >= w) {
				double r =
					(double)sum / ((double)R_PPS * (double)w * SLOT_MS / 1000 +
						       (double)B_PKTS);

				if (r > worst)
					worst = r;
			}
		}
		if (w == 10)
			res->worst_1s = worst;
		else
			res->worst_10s = worst;
	}
	for (k = 0; k < nslots; k++) {
		total += admitted_slots[k];
		ideal_total += ideal ? ideal[k] : admitted_slots[k];
	}
	res->utilisation = ideal_total ? (double)total / (double)ideal_total : 1.0;
}

/* ---- engine costs ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long info_num(const char *section, const char *key)
{
	redisReply *r = cmd("INFO %s", section);
	const char *p = strstr(r->str, key);
	long long v = p ? atoll(p + strlen(key) + 1) : -1;

	freeReplyObject(r);
	return v;
}

static double cmdstat_usec(const char *cmdname)
{
	char key[64];
	redisReply *r = cmd("INFO commandstats");
	const char *p;
	double v = -1;

	snprintf(key, sizeof(key), "cmdstat_%s:", cmdname);
	p = strstr(r->str, key);
	if (p && (p = strstr(p, "usec_per_call=")))
		v = atof(p + 14);
	freeReplyObject(r);
	return v;
}

/*
 * The script on a key that n hosts hold, as the controller calls it:
 * pipelined, 100 calls a batch. Redis's usec_per_call, the client's rate,
 * and the bytes each way per call.
 */
static void cost(int n, FILE *out, bool last)
{
	const int calls = n >= 1000 ? 2000 : 5000;
	long long in0, out0, in1, out1;
	char id[32], host[16];
	double t0, t1;
	int i, j;

	snprintf(id, sizeof(id), "cost-%d", n);
	for (i = 0; i < n; i++) { /* n hosts on the key, leases running */
		redisReply *r = cmd("EVALSHA %s 1 burstgate:{%s} h%d 100000 0 sync 600000 1800000 "
				    "50000 0 %llu:%llu:0:0 %s",
				    sha, id, i, R_PPS, B_PKTS, "10 10 0 0");

		freeReplyObject(r);
	}
	freeReplyObject(cmd("CONFIG RESETSTAT"));
	in0 = info_num("stats", "total_net_input_bytes");
	out0 = info_num("stats", "total_net_output_bytes");
	t0 = now_s();
	for (i = 0; i < calls; i += 100) {
		for (j = 0; j < 100; j++) {
			snprintf(host, sizeof(host), "h%d", (i + j) % n);
			redisAppendCommand(
				rc,
				"EVALSHA %s 1 burstgate:{%s} %s 100000 %u sync 600000 1800000 "
				"50000 0 %llu:%llu:0:0 %s",
				sha, id, host, 100000U, R_PPS, B_PKTS, "1000 8000000 10 80000");
		}
		for (j = 0; j < 100; j++) {
			void *r;

			if (redisGetReply(rc, &r) != REDIS_OK) {
				fprintf(stderr, "bg-fleet-bench: redis: %s\n", rc->errstr);
				exit(1);
			}
			freeReplyObject(r);
		}
	}
	t1 = now_s();
	/* INFO's own bytes are counted too: small beside thousands of calls */
	in1 = info_num("stats", "total_net_input_bytes");
	out1 = info_num("stats", "total_net_output_bytes");
	fprintf(out,
		"    {\"hosts_on_key\": %d, \"calls\": %d, \"redis_usec_per_call\": %.2f, "
		"\"client_calls_per_sec\": %.0f, \"bytes_in_per_call\": %.1f, "
		"\"bytes_out_per_call\": %.1f}%s\n",
		n, calls, cmdstat_usec("evalsha"), calls / (t1 - t0), (double)(in1 - in0) / calls,
		(double)(out1 - out0) / calls, last ? "" : ",");
}

/* The shared counter: one GCRA bucket in Redis, one call per packet. */
static const char shared_lua[] = "local t = redis.call('TIME') local now = t[1] * 1e6 + t[2] "
				 "local tat = tonumber(redis.call('GET', KEYS[1]) or now) "
				 "local inc, tau = tonumber(ARGV[1]), tonumber(ARGV[2]) "
				 "if tat < now then tat = now end "
				 "if tat + inc - now > tau then return 0 end "
				 "redis.call('SET', KEYS[1], tat + inc) return 1";

static void shared_cost(FILE *out)
{
	const int calls = 20000;
	redisReply *r = cmd("SCRIPT LOAD %s", shared_lua);
	char ssha[48];
	double t0, t1;
	int i, j;

	snprintf(ssha, sizeof(ssha), "%s", r->str);
	freeReplyObject(r);
	freeReplyObject(cmd("CONFIG RESETSTAT"));
	t0 = now_s();
	for (i = 0; i < calls; i += 100) {
		for (j = 0; j < 100; j++)
			redisAppendCommand(rc, "EVALSHA %s 1 shared {x} 500 100000", ssha);
		for (j = 0; j < 100; j++) {
			void *rp;

			if (redisGetReply(rc, &rp) != REDIS_OK)
				exit(1);
			freeReplyObject(rp);
		}
	}
	t1 = now_s();
	fprintf(out,
		"  \"shared_counter_cost\": {\"redis_usec_per_call\": %.2f, "
		"\"client_calls_per_sec\": %.0f},\n",
		cmdstat_usec("evalsha"), calls / (t1 - t0));
}

static int parse_list(const char *s, int *v, int max)
{
	int n = 0;

	while (s && *s && n < max) {
		v[n++] = atoi(s);
		s = strchr(s, ',');
		if (s)
			s++;
	}
	return n;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "redis", required_argument, NULL, 'r' },
					    { "duration", required_argument, NULL, 'd' },
					    { "hosts", required_argument, NULL, 'H' },
					    { "intervals", required_argument, NULL, 'T' },
					    { NULL, 0, NULL, 0 } };
	int hosts[8] = { 2, 4, 8, 16 }, ivl[8] = { 100, 500, 2000 }, nh = 4, ni = 3;
	static const int cost_n[] = { 3, 10, 100, 1000 };
	const char *sock = NULL;
	__u64 duration_ms = 120000, *ideal, *slots;
	struct result res;
	redisReply *r;
	int c, i, j;
	bool first = true;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'r')
			sock = optarg;
		else if (c == 'd')
			duration_ms = (__u64)(atof(optarg) * 1000);
		else if (c == 'H')
			nh = parse_list(optarg, hosts, 8);
		else if (c == 'T')
			ni = parse_list(optarg, ivl, 8);
		else
			return 2;
	}
	if (!sock || duration_ms < 20000) {
		fprintf(stderr, "usage: bg-fleet-bench --redis SOCKET [--duration S (>= 20)] "
				"[--hosts 2,4,8,16] [--intervals 100,500,2000]\n");
		return 2;
	}
	rc = redisConnectUnix(sock);
	if (!rc || rc->err) {
		fprintf(stderr, "bg-fleet-bench: redis at %s: %s\n", sock, rc ? rc->errstr : "?");
		return 1;
	}
	r = cmd("SCRIPT LOAD %s", bg_fleet_lua);
	snprintf(sha, sizeof(sha), "%s", r->str);
	freeReplyObject(r);
	ideal = calloc(duration_ms / SLOT_MS + 1, sizeof(*ideal));
	slots = calloc(duration_ms / SLOT_MS + 1, sizeof(*slots));
	if (!ideal || !slots)
		return 1;

	printf("{\n  \"rate_pps\": %llu, \"burst_pkts\": %llu, \"duration_s\": %.0f,\n", R_PPS,
	       B_PKTS, duration_ms / 1000.0);
	printf("  \"runs\": [\n");
	for (i = 0; i < nh; i++) {
		/* the same demand for every scheme of a host count: reseed */
		unsigned int s0 = 14 + (unsigned int)hosts[i];

		seed = s0;
		memset(ideal, 0, (duration_ms / SLOT_MS + 1) * sizeof(*ideal));
		run(SHARED, hosts[i], 1000, duration_ms, NULL, &res, ideal);
		printf("%s    {\"scheme\": \"shared\", \"hosts\": %d, \"interval_ms\": null, "
		       "\"worst_1s\": %.4f, \"worst_10s\": %.4f, \"utilisation\": %.4f, "
		       "\"engine_calls_per_sec\": %.0f}",
		       first ? "" : ",\n", hosts[i], res.worst_1s, res.worst_10s, res.utilisation,
		       (double)(2 * R_PPS)); /* one per packet offered */
		first = false;
		seed = s0;
		memset(slots, 0, (duration_ms / SLOT_MS + 1) * sizeof(*slots));
		run(STATIC, hosts[i], 1000, duration_ms, ideal, &res, slots);
		printf(",\n    {\"scheme\": \"static\", \"hosts\": %d, \"interval_ms\": null, "
		       "\"worst_1s\": %.4f, \"worst_10s\": %.4f, \"utilisation\": %.4f, "
		       "\"engine_calls_per_sec\": 0}",
		       hosts[i], res.worst_1s, res.worst_10s, res.utilisation);
		for (j = 0; j < ni; j++) {
			seed = s0;
			memset(slots, 0, (duration_ms / SLOT_MS + 1) * sizeof(*slots));
			run(FLEET, hosts[i], (__u32)ivl[j], duration_ms, ideal, &res, slots);
			printf(",\n    {\"scheme\": \"fleet\", \"hosts\": %d, \"interval_ms\": %d, "
			       "\"worst_1s\": %.4f, \"worst_10s\": %.4f, \"utilisation\": %.4f, "
			       "\"engine_calls_per_sec\": %.1f}",
			       hosts[i], ivl[j], res.worst_1s, res.worst_10s, res.utilisation,
			       (double)res.calls * 1000.0 / (double)duration_ms);
		}
	}
	printf("\n  ],\n");
	shared_cost(stdout);
	printf("  \"lease_script_cost\": [\n");
	for (i = 0; i < (int)(sizeof(cost_n) / sizeof(cost_n[0])); i++)
		cost(cost_n[i], stdout, i + 1 == (int)(sizeof(cost_n) / sizeof(cost_n[0])));
	printf("  ]\n}\n");
	free(ideal);
	free(slots);
	redisFree(rc);
	return 0;
}
