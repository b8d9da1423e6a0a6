// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* burstctl identity add|set|del|list|show */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
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
	out_help("Usage: burstctl identity add NAME [LIMITS]\n"
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

/* The four limits: unlimited is null in JSON, "-" in the list's text. */
static void print_limits(const struct bg_id_meta *m, bool table)
{
	char buf[40];

	if (m->rate_pps) {
		out_u64("rate_pps", NULL, m->rate_pps);
		out_u64("burst_pkts", NULL, m->burst_pkts);
		bg_fmt_pps(m->rate_pps, buf, sizeof(buf));
		if (table)
			out_text("%-10s %-8llu ", buf, (unsigned long long)m->burst_pkts);
		else
			out_text("  rate        %s, burst %llu packets\n", buf,
				 (unsigned long long)m->burst_pkts);
	} else {
		out_null("rate_pps", NULL);
		out_null("burst_pkts", NULL);
		out_text(table ? "%-10s %-8s " : "  rate        unlimited\n", "-", "-");
	}
	if (m->byte_rate_bits) {
		out_u64("rate_bits_per_sec", NULL, m->byte_rate_bits);
		out_u64("burst_bytes", NULL, m->burst_bytes);
		bg_fmt_bitrate(m->byte_rate_bits, buf, sizeof(buf));
		out_text(table ? "%-11s " : "  bytes-rate  %s", buf);
		bg_fmt_bytes(m->burst_bytes, buf, sizeof(buf));
		out_text(table ? "%-11s " : ", bytes-burst %s\n", buf);
	} else {
		out_null("rate_bits_per_sec", NULL);
		out_null("burst_bytes", NULL);
		out_text(table ? "%-11s %-11s " : "  bytes-rate  unlimited\n", "-", "-");
	}
}

static int cmp_pfx_id(const void *a, const void *b)
{
	const struct bg_prefix_entry *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	/* then IPv4 first, by address and length: the same order every time */
	if (x->pfx.family != y->pfx.family)
		return x->pfx.family == AF_INET ? -1 : 1;
	if (memcmp(x->pfx.addr, y->pfx.addr, sizeof(x->pfx.addr)))
		return memcmp(x->pfx.addr, y->pfx.addr, sizeof(x->pfx.addr));
	return x->pfx.len < y->pfx.len ? -1 : x->pfx.len > y->pfx.len;
}

/* Sort by identity, then: the first of identity id's prefixes, and how many. */
static const struct bg_prefix_entry *prefixes_of(const struct bg_prefix_entry *pfx, size_t npfx,
						 __u32 id, size_t *n)
{
	size_t lo = 0, hi = npfx;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (pfx[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (*n = 0; lo + *n < npfx && pfx[lo + *n].id == id; (*n)++)
		;
	return pfx + lo;
}

/*
 * One identity: in detail (show, add, set; result names what was done) or
 * as a line of `identity list`. JSON has the same fields either way.
 * pfx: the prefixes sorted by identity (cmp_pfx_id).
 */
static void print_identity(const struct bg_identity *id, const struct bg_prefix_entry *pfx,
			   size_t npfx, bool table, const char *result)
{
	char buf[64];
	size_t i, n;

	pfx = prefixes_of(pfx, npfx, id->id, &n);
	out_begin_object(NULL);
	if (table) {
		out_u64("identity_id", "%-6llu ", id->id);
		out_str("identity", "%-20s ", id->name);
		out_str("action", "%-8s ", bg_action_name(id->cfg.action));
	} else {
		out_str("identity", "identity %s", id->name);
		out_u64("identity_id", " (id %llu)\n", id->id);
		out_str("action", "  action      %s\n", bg_action_name(id->cfg.action));
	}
	print_limits(&id->meta, table);
	out_text(table ? "%zu" : "  prefixes   ", n);
	out_begin_array("prefixes");
	for (i = 0; i < n; i++)
		out_str(NULL, table ? NULL : " %s", bg_prefix_fmt(&pfx[i].pfx, buf, sizeof(buf)));
	out_end_array();
	if (!table)
		out_text("%s\n", n ? "" : " none");
	out_time("created_at", table ? NULL : "  created     %s\n", (int64_t)id->meta.created_unix);
	if (result)
		out_str("result", NULL, result);
	out_text(table ? "\n" : "");
	out_end_object();
}

static int show_one(struct bg_state *s, const char *name, const char *result)
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
	qsort(pfx, npfx, sizeof(*pfx), cmp_pfx_id);
	print_identity(&id, pfx, npfx, false, result);
	free(pfx);
	return 0;
}

/* Limits that cannot work as given: said, not refused (the change is valid). */
static void warn_limits(const struct bg_identity *id, bool limits_given)
{
	const char *name = id->name;
	bool limited = id->meta.rate_pps || id->meta.byte_rate_bits;

	if (id->meta.byte_rate_bits && id->meta.burst_bytes < 1514)
		bg_warn("identity %s: bytes-burst %llu is smaller than a full Ethernet frame (1514 bytes): larger packets can never pass",
			name, (unsigned long long)id->meta.burst_bytes);
	if (limits_given && limited && id->cfg.action == BG_ACT_ALLOW)
		bg_warn("identity %s: its action allow ignores its limits: nothing of it is metered (`identity set %s action enforce` applies them, `action shadow` shows what they would drop)",
			name, name);
	if (limits_given && limited && id->cfg.action == BG_ACT_BLOCK)
		bg_warn("identity %s: its action block drops everything: its limits never apply",
			name);
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
		bool limits = mask & (BG_LIM_RATE | BG_LIM_BURST | BG_LIM_BYTE_RATE |
				      BG_LIM_BYTE_BURST | BG_LIM_ACTION);
		struct bg_identity id;

		if (bg_identity_get(&s, name, &id) == 0)
			warn_limits(&id, limits);
		warn_controller(add ? "identity add" : "identity set");
		err = show_one(&s, name, add ? "added" : "updated");
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
		warn_controller("identity del");
		out_begin_object(NULL);
		out_str("identity", "deleted identity %s\n", argv[0]);
		out_str("result", NULL, "deleted");
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
	err = show_one(&s, argv[0], NULL);
	bg_state_close(&s);
	return err;
}

static int do_list(int argc, char **argv)
{
	struct bg_prefix_entry *pfx = NULL;
	struct bg_identity *ids = NULL;
	size_t n = 0, npfx = 0, i;
	struct bg_state s;
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
	if (err) {
		bg_err("identity list: %s", strerror(-err));
		goto out;
	}
	qsort(pfx, npfx, sizeof(*pfx), cmp_pfx_id);
	out_text("%-6s %-20s %-8s %-10s %-8s %-11s %-11s %s\n", "ID", "NAME", "ACTION", "RATE",
		 "BURST", "BYTES-RATE", "BYTES-BURST", "PREFIXES");
	out_begin_object(NULL);
	out_begin_array("identities");
	for (i = 0; i < n; i++)
		print_identity(&ids[i], pfx, npfx, true, NULL);
	out_end_array();
	out_end_object();
out:
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
