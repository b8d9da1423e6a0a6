// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* burstctl fleet status: this host's leases, or every host's for one identity (docs/fleet.md) */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bg_fleet.h"
#include "bg_log.h"
#include "bg_out.h"
#include "bg_redis.h"
#include "bg_state.h"
#include "bg_units.h"
#include "burstctl.h"

#define OBJ "fleet"
#define ENGINE_TIMEOUT_MS 2000

static int help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	out_help("Usage: burstctl fleet status [identity NAME]\n"
		 "\n"
		 "Fleet mode (docs/fleet.md): identities with scope: global share one\n"
		 "limit among the hosts of a fleet, through leases from Redis.\n"
		 "\n"
		 "status                  this host: the engine, the link to it, and\n"
		 "                        each global identity's mode (lease, held,\n"
		 "                        safe, open), share and limits in force\n"
		 "status identity NAME    every host's lease, demand and traffic for\n"
		 "                        NAME, as the engine holds them (asks it)\n");
	return 0;
}

static const char *link_name(__u32 l)
{
	return l == BG_FLEET_LINK_UP ? "up" : l == BG_FLEET_LINK_DOWN ? "down" : "none";
}

/* "1.2s ago" style ages in ms; "never" for 0 */
static const char *age(__u64 now, __u64 t, char *buf, size_t len)
{
	if (!t)
		return "never";
	snprintf(buf, len, "%.1fs", (double)(now - t) / 1000);
	return buf;
}

static int open_maps(struct bg_state *s, int *rec_fd, int *host_fd)
{
	int err = bg_state_open(s, opts.pin_path, BG_OPEN_READ);

	if (err)
		return err;
	err = bg_fleet_maps_open(s, false, rec_fd, host_fd);
	if (err == -ENOENT)
		bg_err("no fleet at %s: apply a policy with a fleet section and scope: global identities (docs/fleet.md)",
		       opts.pin_path);
	else if (err)
		bg_err("fleet maps at %s: %s", opts.pin_path, strerror(-err));
	if (err)
		bg_state_close(s);
	return err;
}

/* rate_pps, burst_pkts, rate_bits_per_sec, burst_bytes (null: unlimited), with a prefix */
static void limits_json(const char *pre, const struct bg_limits *l)
{
	char k[64];

	snprintf(k, sizeof(k), "%srate_pps", pre);
	l->rate_pps ? out_u64(k, NULL, l->rate_pps) : out_null(k, NULL);
	snprintf(k, sizeof(k), "%sburst_pkts", pre);
	l->rate_pps ? out_u64(k, NULL, l->burst_pkts) : out_null(k, NULL);
	snprintf(k, sizeof(k), "%srate_bits_per_sec", pre);
	l->byte_rate_bits ? out_u64(k, NULL, l->byte_rate_bits) : out_null(k, NULL);
	snprintf(k, sizeof(k), "%sburst_bytes", pre);
	l->byte_rate_bits ? out_u64(k, NULL, l->burst_bytes) : out_null(k, NULL);
}

static int show_host(void)
{
	char(*names)[BG_NAME_LEN] = NULL;
	struct bg_fleet_rec *recs = NULL;
	struct bg_fleet_host h = {};
	struct bg_state s;
	__u64 now = bg_fleet_now_ms();
	char a[32], b[32], c[32];
	int rec_fd, host_fd, err;
	size_t n = 0, i;

	err = open_maps(&s, &rec_fd, &host_fd);
	if (err)
		return err;
	bg_fleet_host_get(host_fd, &h);
	err = bg_fleet_rec_list(rec_fd, &names, &recs, &n);
	if (err) {
		bg_err("fleet status: %s", strerror(-err));
		goto out;
	}
	out_begin_object(NULL);
	out_str("engine", "engine      %s\n", h.cfg.engine[0] ? h.cfg.engine : "(none)");
	out_str("host", "host        %s\n", h.cfg.host);
	out_str("link", "link        %s", link_name(h.link));
	if (h.link_since_ms)
		out_text(" for %s", age(now, h.link_since_ms, a, sizeof(a)));
	if (h.pid)
		out_u64("controller_pid", " (controller pid %llu)\n", h.pid);
	else
		out_null("controller_pid", "\n");
	if (h.last_ok_ms)
		out_double("last_sync_age_sec", NULL, (double)(now - h.last_ok_ms) / 1000);
	else
		out_null("last_sync_age_sec", NULL);
	out_text("last sync   %s ago, %.1f ms round trip; %llu batches, %llu failed\n",
		 age(now, h.last_ok_ms, a, sizeof(a)), (double)h.sync_us / 1000,
		 (unsigned long long)h.syncs_total, (unsigned long long)h.sync_errors_total);
	out_double("sync_duration_sec", NULL, (double)h.sync_us / 1e6);
	out_u64("sync_count", NULL, h.syncs_total);
	out_u64("sync_error_count", NULL, h.sync_errors_total);
	out_double("interval_sec", "interval    %gs", h.cfg.interval_ms / 1000.0);
	out_double("lease_sec", ", lease %gs", h.cfg.lease_ms / 1000.0);
	out_double("member_timeout_sec", ", member timeout %gs", h.cfg.member_timeout_ms / 1000.0);
	out_double("floor_ratio", NULL, h.cfg.floor_ppm / 1e6);
	out_text(", floor %.1f%%", h.cfg.floor_ppm / 1e4);
	out_str("on_engine_down", ", on engine down: %s\n",
		h.cfg.on_down == BG_FLEET_DOWN_OPEN ? "open" : "safe");
	out_text("\n%-20s %-6s %8s %8s %12s %12s %10s %8s\n", "IDENTITY", "MODE", "SHARE", "HOSTS",
		 "RATE", "OF", "LEASE-AGE", "DEMAND");
	out_begin_array("identities");
	for (i = 0; i < n; i++) {
		const struct bg_fleet_rec *r = &recs[i];
		struct bg_limits l;
		bool pk = r->global.rate_pps != 0;

		bg_fleet_limits(&r->global, r->share_ppm, &l);
		out_begin_object(NULL);
		out_str("identity", "%-20s ", names[i]);
		out_str("mode", "%-6s ", bg_fleet_mode_name(r->mode));
		out_double("share_ratio", NULL, r->share_ppm / 1e6);
		out_text("%7.2f%% ", r->share_ppm / 1e4);
		out_u64("hosts", "%8llu ", r->members);
		if (pk) {
			out_text("%12s %12s ", bg_fmt_pps(l.rate_pps, a, sizeof(a)),
				 bg_fmt_pps(r->global.rate_pps, b, sizeof(b)));
		} else {
			out_text("%12s %12s ", bg_fmt_bitrate(l.byte_rate_bits, a, sizeof(a)),
				 bg_fmt_bitrate(r->global.byte_rate_bits, b, sizeof(b)));
		}
		limits_json("", &l);
		limits_json("global_", &r->global);
		if (r->lease_ms)
			out_double("lease_age_sec", NULL, (double)(now - r->lease_ms) / 1000);
		else
			out_null("lease_age_sec", NULL);
		out_text("%10s ", age(now, r->lease_ms, c, sizeof(c)));
		out_double("demand_ratio", NULL, r->demand_ppm / 1e6);
		out_text("%7.1f%%\n", r->demand_ppm / 1e4);
		out_end_object();
	}
	out_end_array();
	out_end_object();
out:
	free(names);
	free(recs);
	close(rec_fd);
	close(host_fd);
	bg_state_close(&s);
	return err;
}

static redisContext *engine_connect(const struct bg_fleet_cfg *c)
{
	struct timeval tv = { ENGINE_TIMEOUT_MS / 1000, (ENGINE_TIMEOUT_MS % 1000) * 1000 };
	struct bg_redis_addr a;
	redisContext *rc;
	char err[256];

	if (bg_redis_parse_addr(c->engine, &a, err, sizeof(err))) {
		bg_err("fleet status: %s", err);
		return NULL;
	}
	rc = a.path[0] ? redisConnectUnixWithTimeout(a.path, tv) :
			 redisConnectWithTimeout(a.host, a.port, tv);
	if (!rc || rc->err) {
		bg_err("fleet status: engine %s: %s", c->engine, rc ? rc->errstr : "out of memory");
		if (rc)
			redisFree(rc);
		return NULL;
	}
	redisSetTimeout(rc, tv);
	if (c->password_file[0]) {
		char pw[512] = "";
		FILE *f = fopen(c->password_file, "re");
		redisReply *r;

		if (f) {
			if (!fgets(pw, sizeof(pw), f))
				pw[0] = '\0';
			fclose(f);
		}
		pw[strcspn(pw, "\r\n")] = '\0';
		r = redisCommand(rc, "AUTH %s", pw);
		explicit_bzero(pw, sizeof(pw));
		if (!r || r->type == REDIS_REPLY_ERROR) {
			bg_err("fleet status: engine %s: AUTH: %s", c->engine,
			       r ? r->str : rc->errstr);
			if (r)
				freeReplyObject(r);
			redisFree(rc);
			return NULL;
		}
		freeReplyObject(r);
	}
	return rc;
}

static long long jnum(json_t *o, const char *k)
{
	return (long long)json_number_value(json_object_get(o, k));
}

static int show_identity(const char *name)
{
	struct bg_fleet_host h = {};
	struct bg_fleet_rec rec = {};
	struct bg_state s;
	redisReply *t = NULL, *r = NULL;
	redisContext *rc = NULL;
	long long now, sum = 0;
	int rec_fd, host_fd, err;
	char key[BG_NAME_LEN + 16];
	size_t i;

	err = open_maps(&s, &rec_fd, &host_fd);
	if (err)
		return err;
	bg_fleet_host_get(host_fd, &h);
	if (bg_fleet_rec_get(rec_fd, name, &rec)) {
		bg_err("identity \"%s\" is not global here (see `burstctl fleet status`)", name);
		err = -ENOENT;
		goto out;
	}
	rc = engine_connect(&h.cfg);
	if (!rc) {
		err = -EHOSTUNREACH;
		goto out;
	}
	snprintf(key, sizeof(key), "burstgate:{%s}", name);
	t = redisCommand(rc, "TIME");
	r = t ? redisCommand(rc, "HGETALL %s", key) : NULL;
	if (!t || !r || t->type != REDIS_REPLY_ARRAY || r->type != REDIS_REPLY_ARRAY) {
		bg_err("fleet status: engine %s: %s", h.cfg.engine,
		       r && r->type == REDIS_REPLY_ERROR ? r->str : rc->errstr);
		err = -EIO;
		goto out;
	}
	now = atoll(t->element[0]->str) * 1000 + atoll(t->element[1]->str) / 1000;
	out_begin_object(NULL);
	out_str("identity", "identity %s", name);
	out_text(": rate %llu pps, burst %llu, bytes_rate %llu bit/s, bytes_burst %llu B\n",
		 (unsigned long long)rec.global.rate_pps, (unsigned long long)rec.global.burst_pkts,
		 (unsigned long long)rec.global.byte_rate_bits,
		 (unsigned long long)rec.global.burst_bytes);
	limits_json("global_", &rec.global);
	out_text("%-20s %-7s %8s %10s %10s %10s %10s %10s\n", "HOST", "STATE", "LEASE", "RATE",
		 "DEMAND", "PASSED/s", "DROPPED/s", "EXPIRES");
	out_begin_array("hosts");
	for (i = 0; i + 1 < r->elements; i += 2) {
		json_t *j;
		const char *state, *st;
		unsigned long long tr[4] = {};
		long long l, e, m;
		char b[32];

		if (!strcmp(r->element[i]->str, "_meta"))
			continue;
		j = json_loads(r->element[i + 1]->str, 0, NULL);
		if (!j)
			continue;
		l = jnum(j, "l");
		e = jnum(j, "e");
		m = jnum(j, "m");
		st = json_string_value(json_object_get(j, "st"));
		if (st)
			sscanf(st, "%llu %llu %llu %llu", &tr[0], &tr[1], &tr[2], &tr[3]);
		state = now < e ? "live" : now < m ? (l ? "silent" : "left") : "gone";
		if (now < e)
			sum += l;
		out_begin_object(NULL);
		out_str("host", "%-20s ", r->element[i]->str);
		out_str("state", "%-7s ", state);
		out_double("lease_ratio", NULL, l / 1e6);
		out_text("%7.2f%% ", l / 1e4);
		out_text("%10s ",
			 bg_fmt_pps((__u64)((double)rec.global.rate_pps * l / BG_FLEET_PPM), b,
				    sizeof(b)));
		out_double("demand_ratio", NULL, jnum(j, "d") / 1e6);
		out_text("%9.1f%% ", jnum(j, "d") / 1e4);
		out_u64("passed_pps", "%10llu ", tr[0]);
		out_u64("dropped_pps", "%10llu ", tr[2]);
		out_u64("passed_bits_per_sec", NULL, tr[1]);
		out_u64("dropped_bits_per_sec", NULL, tr[3]);
		out_double("expires_in_sec", "%9.1fs\n", (double)(e - now) / 1000);
		out_end_object();
		json_decref(j);
	}
	out_end_array();
	out_double("leased_ratio", NULL, sum / 1e6);
	out_text("leased: %.2f%% of the limit\n", sum / 1e4);
	out_end_object();
out:
	if (t)
		freeReplyObject(t);
	if (r)
		freeReplyObject(r);
	if (rc)
		redisFree(rc);
	close(rec_fd);
	close(host_fd);
	bg_state_close(&s);
	return err;
}

static int fleet_status(int argc, char **argv)
{
	if (!argc)
		return show_host();
	if (argc == 2 && !strcmp(argv[0], "identity"))
		return show_identity(argv[1]);
	return usage_error(OBJ, "status: expected nothing or `identity NAME`");
}

int do_fleet(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "status", fleet_status },
		{ NULL, NULL },
	};

	return cmd_select(OBJ, cmds, argc, argv, help);
}
