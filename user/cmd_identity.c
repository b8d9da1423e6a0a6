// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* burstctl identity add|set|del|list|show */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bg_identity.h"
#include "bg_log.h"
#include "bg_out.h"
#include "bg_prefix.h"
#include "bg_setup.h"
#include "bg_state.h"
#include "bg_units.h"
#include "burstctl.h"

#define OBJ "identity"

static int help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (out_is_json())
		return 0;
	printf("Usage: burstctl identity add NAME [LIMITS]\n"
	       "       burstctl identity set NAME LIMITS\n"
	       "       burstctl identity del NAME\n"
	       "       burstctl identity show NAME\n"
	       "       burstctl identity list\n"
	       "\n"
	       "LIMITS := [rate RATE] [burst PACKETS] [bytes-rate BITRATE]\n"
	       "          [bytes-burst SIZE] [action enforce|shadow|allow|block]\n"
	       "  RATE     packets/s: 500pps, 20kpps, 1mpps, or unlimited\n"
	       "  BITRATE  bits/s: 800kbit, 10mbit, 1gbit; bytes/s as tc spells\n"
	       "           them: 100kbps, 10mbps; or unlimited\n"
	       "  PACKETS  a whole number: how many may pass back to back\n"
	       "  SIZE     bytes: 1514, 64kb, 1mb (1024-based)\n"
	       "\n"
	       "A rate without a burst gets 100 ms worth (at least 1 packet,\n"
	       "1514 bytes). A new rate keeps the existing burst. New identities\n"
	       "enforce; `shadow` only counts what it would drop, `allow` never\n"
	       "limits, `block` drops everything. Changing limits never refills\n"
	       "a bucket or resets a counter.\n");
	return 0;
}

/* A rate of 0 must be said as "unlimited": "rate 0" is probably a mistake. */
static int reject_zero(const char *cmd, const char *kw, const char *v, __u64 x)
{
	if (x || !strcasecmp(v, "unlimited"))
		return 0;
	if (strpbrk(v, "123456789"))
		bg_err("identity %s: %s %s: rounds to 0 (the smallest is %s; use `action block` to drop everything)",
		       cmd, kw, v, strcmp(kw, "rate") ? "8bit" : "1pps");
	else
		bg_err("identity %s: %s %s: zero is not a rate (use `%s unlimited` for no limit, or `action block` to drop everything)",
		       cmd, kw, v, kw);
	return -EINVAL;
}

int identity_parse_limits(const char *cmd, int argc, char **argv, struct bg_limits *l,
			  unsigned int *mask)
{
	char err[256];
	const char *kw, *v;
	int ret;

	memset(l, 0, sizeof(*l));
	*mask = 0;
	while (argc > 0) {
		kw = argv[0];
		if (strcmp(kw, "rate") && strcmp(kw, "burst") && strcmp(kw, "bytes-rate") &&
		    strcmp(kw, "bytes-burst") && strcmp(kw, "action"))
			return usage_error(
				OBJ,
				"%s: unknown argument \"%s\" (expected rate, burst, bytes-rate, bytes-burst or action)",
				cmd, kw);
		v = take_value(OBJ, &argc, &argv);
		if (!v)
			return -EINVAL;
		err[0] = '\0'; /* parsers explain in err; reject_zero prints */
		if (!strcmp(kw, "rate")) {
			ret = bg_parse_pps(v, &l->rate_pps, err, sizeof(err));
			if (!ret)
				ret = reject_zero(cmd, kw, v, l->rate_pps);
			*mask |= BG_LIM_RATE;
		} else if (!strcmp(kw, "burst")) {
			ret = bg_parse_packets(v, &l->burst_pkts, err, sizeof(err));
			if (!ret && !l->burst_pkts) {
				snprintf(err, sizeof(err), "\"%s\": at least 1 packet", v);
				ret = -EINVAL;
			}
			*mask |= BG_LIM_BURST;
		} else if (!strcmp(kw, "bytes-rate")) {
			ret = bg_parse_bitrate(v, &l->byte_rate_bits, err, sizeof(err));
			if (!ret)
				ret = reject_zero(cmd, kw, v, l->byte_rate_bits);
			*mask |= BG_LIM_BYTE_RATE;
		} else if (!strcmp(kw, "bytes-burst")) {
			ret = bg_parse_bytes(v, &l->burst_bytes, err, sizeof(err));
			if (!ret && !l->burst_bytes) {
				snprintf(err, sizeof(err), "\"%s\": at least 64 bytes", v);
				ret = -EINVAL;
			}
			*mask |= BG_LIM_BYTE_BURST;
		} else {
			ret = bg_action_parse(v, &l->action);
			if (ret)
				snprintf(
					err, sizeof(err),
					"\"%s\": unknown action (use enforce, shadow, allow or block)",
					v);
			*mask |= BG_LIM_ACTION;
		}
		if (ret) {
			if (err[0])
				bg_err("identity %s: %s %s", cmd, kw, err);
			return ret;
		}
	}
	return 0;
}

static void print_rate_fields(const struct bg_id_meta *m)
{
	char buf[40];

	if (m->rate_pps) {
		out_u64("rate_pps", NULL, m->rate_pps);
		out_u64("burst_pkts", NULL, m->burst_pkts);
		out_text("  rate        %s, burst %llu packets\n",
			 bg_fmt_pps(m->rate_pps, buf, sizeof(buf)),
			 (unsigned long long)m->burst_pkts);
	} else {
		out_null("rate_pps", "  rate        unlimited\n");
		out_null("burst_pkts", NULL);
	}
	if (m->byte_rate_bits) {
		out_u64("byte_rate_bits_per_sec", NULL, m->byte_rate_bits);
		out_u64("burst_bytes", NULL, m->burst_bytes);
		out_text("  bytes-rate  %s", bg_fmt_bitrate(m->byte_rate_bits, buf, sizeof(buf)));
		out_text(", bytes-burst %s\n", bg_fmt_bytes(m->burst_bytes, buf, sizeof(buf)));
	} else {
		out_null("byte_rate_bits_per_sec", "  bytes-rate  unlimited\n");
		out_null("burst_bytes", NULL);
	}
}

static void print_identity(const struct bg_identity *id, const struct bg_prefix_entry *pfx,
			   size_t npfx)
{
	char buf[64], when[32];
	time_t t = (time_t)id->meta.created_unix;
	struct tm tm;
	size_t i, n;

	out_begin_object(NULL);
	out_str("name", "identity %s", id->name);
	out_u64("id", " (id %llu)\n", id->id);
	out_str("action", "  action      %s\n", bg_action_name(id->cfg.action));
	print_rate_fields(&id->meta);
	out_text("  prefixes   ");
	out_begin_array("prefixes");
	for (n = 0, i = 0; i < npfx; i++) {
		if (pfx[i].id != id->id)
			continue;
		out_str(NULL, " %s", bg_prefix_fmt(&pfx[i].pfx, buf, sizeof(buf)));
		n++;
	}
	out_end_array();
	out_text("%s\n", n ? "" : " none");
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	out_u64("created_unix", NULL, id->meta.created_unix);
	out_text("  created     %s\n", when);
	out_end_object();
}

static int show_one(struct bg_state *s, const char *name)
{
	struct bg_prefix_entry *pfx = NULL;
	struct bg_identity id;
	size_t npfx = 0;
	int err;

	err = bg_identity_get(s, name, &id);
	if (err == -ENOENT) {
		bg_err("identity \"%s\" does not exist (see `burstctl identity list`)", name);
		return err;
	}
	if (err)
		return err;
	err = bg_prefix_list(s, &pfx, &npfx);
	if (err)
		return err;
	print_identity(&id, pfx, npfx);
	free(pfx);
	return 0;
}

static int add_or_set(int argc, char **argv, bool add)
{
	const char *cmd = add ? "add" : "set";
	struct bg_limits l;
	struct bg_state s;
	unsigned int mask;
	const char *name;
	int err;

	if (argc < 1)
		return usage_error(OBJ, "%s: missing NAME", cmd);
	name = argv[0];
	err = identity_parse_limits(cmd, argc - 1, argv + 1, &l, &mask);
	if (err)
		return err;
	if (!add && !mask)
		return usage_error(
			OBJ,
			"set %s: nothing to change (give rate, burst, bytes-rate, bytes-burst or action)",
			name);
	err = bg_state_open_setup(&s, opts.pin_path, BG_OPEN_WRITE | BG_OPEN_CREATE);
	if (err)
		return err;
	err = add ? bg_identity_add(&s, name, &l, mask, NULL) :
		    bg_identity_set(&s, name, &l, mask, NULL);
	if (!err) {
		struct bg_identity id;

		if (bg_identity_get(&s, name, &id) == 0 && id.meta.byte_rate_bits &&
		    id.meta.burst_bytes < 1514)
			bg_warn("identity %s: bytes-burst %llu is smaller than a full Ethernet frame (1514 bytes): larger packets can never pass",
				name, (unsigned long long)id.meta.burst_bytes);
		err = show_one(&s, name);
	}
	bg_state_close(&s);
	return err;
}

static int do_add(int argc, char **argv)
{
	return add_or_set(argc, argv, true);
}

static int do_set(int argc, char **argv)
{
	return add_or_set(argc, argv, false);
}

static int do_del(int argc, char **argv)
{
	struct bg_state s;
	int err;

	if (argc != 1)
		return usage_error(OBJ, "del: expected exactly one NAME");
	err = bg_state_open(&s, opts.pin_path, BG_OPEN_WRITE);
	if (err)
		return err;
	err = bg_identity_del(&s, argv[0]);
	if (!err) {
		out_begin_object(NULL);
		out_str("deleted", "deleted identity %s\n", argv[0]);
		out_end_object();
	}
	bg_state_close(&s);
	return err;
}

static int do_show(int argc, char **argv)
{
	struct bg_state s;
	int err;

	if (argc != 1)
		return usage_error(OBJ, "show: expected exactly one NAME");
	err = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (err)
		return err;
	err = show_one(&s, argv[0]);
	bg_state_close(&s);
	return err;
}

static int do_list(int argc, char **argv)
{
	struct bg_prefix_entry *pfx = NULL;
	struct bg_identity *ids = NULL;
	size_t n = 0, npfx = 0, i, cnt;
	__u32 *npfx_of = NULL; /* prefixes per identity slot */
	struct bg_state s;
	char buf[40];
	int err;

	(void)argv;
	if (argc)
		return usage_error(OBJ, "list: takes no arguments");
	err = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (err)
		return err;
	err = bg_identity_list(&s, &ids, &n);
	if (!err)
		err = bg_prefix_list(&s, &pfx, &npfx);
	if (!err) {
		npfx_of = calloc(s.max_ids, sizeof(*npfx_of));
		if (!npfx_of)
			err = -ENOMEM;
	}
	if (err) {
		bg_err("identity list: %s", strerror(-err));
		goto out;
	}
	for (i = 0; i < npfx; i++)
		if (pfx[i].id < s.max_ids)
			npfx_of[pfx[i].id]++;
	out_text("%-6s %-20s %-8s %-10s %-8s %-11s %-11s %s\n", "ID", "NAME", "ACTION", "RATE",
		 "BURST", "BYTES-RATE", "BYTES-BURST", "PREFIXES");
	out_begin_array(NULL);
	for (i = 0; i < n; i++) {
		const struct bg_id_meta *m = &ids[i].meta;

		cnt = ids[i].id < s.max_ids ? npfx_of[ids[i].id] : 0;
		out_begin_object(NULL);
		out_u64("id", "%-6llu ", ids[i].id);
		out_str("name", "%-20s ", ids[i].name);
		out_str("action", "%-8s ", bg_action_name(ids[i].cfg.action));
		if (m->rate_pps) {
			out_u64("rate_pps", NULL, m->rate_pps);
			out_text("%-10s ", bg_fmt_pps(m->rate_pps, buf, sizeof(buf)));
			out_u64("burst_pkts", "%-8llu ", m->burst_pkts);
		} else {
			out_null("rate_pps", "-          ");
			out_null("burst_pkts", "-        ");
		}
		if (m->byte_rate_bits) {
			out_u64("byte_rate_bits_per_sec", NULL, m->byte_rate_bits);
			out_text("%-11s ", bg_fmt_bitrate(m->byte_rate_bits, buf, sizeof(buf)));
			out_u64("burst_bytes", NULL, m->burst_bytes);
			out_text("%-11s ", bg_fmt_bytes(m->burst_bytes, buf, sizeof(buf)));
		} else {
			out_null("byte_rate_bits_per_sec", "-           ");
			out_null("burst_bytes", "-           ");
		}
		out_u64("prefixes", "%llu\n", cnt);
		out_end_object();
	}
	out_end_array();
out:
	free(npfx_of);
	free(ids);
	free(pfx);
	bg_state_close(&s);
	return err;
}

int do_identity(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "add", do_add },   { "set", do_set },	  { "del", do_del },
		{ "show", do_show }, { "list", do_list }, { NULL, NULL },
	};

	return cmd_select(OBJ, cmds, argc, argv, help);
}
