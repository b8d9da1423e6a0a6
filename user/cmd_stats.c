// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* burstctl stats [identity NAME] */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bg_identity.h"
#include "bg_log.h"
#include "bg_out.h"
#include "bg_state.h"
#include "burstctl.h"

/* Display names of enum bg_counter, grouped; JSON nests by group. */
static const struct {
	const char *group;
	const char *name;
} counter_names[BG_C_MAX] = {
	[BG_C_PARSE_TCP] = { "parse", "tcp" },
	[BG_C_PARSE_UDP] = { "parse", "udp" },
	[BG_C_PARSE_OTHER_L4] = { "parse", "other_l4" },
	[BG_C_PARSE_FRAGMENT] = { "parse", "fragment" },
	[BG_C_PARSE_NON_IP] = { "parse", "non_ip" },
	[BG_C_PARSE_BAD_L4] = { "parse", "bad_l4" },
	[BG_C_PARSE_IPV6_EXT_LIMIT] = { "parse", "ipv6_ext_limit" },
	[BG_C_PARSE_TRUNC_ETH] = { "parse", "trunc_eth" },
	[BG_C_PARSE_TRUNC_VLAN] = { "parse", "trunc_vlan" },
	[BG_C_PARSE_VLAN_LIMIT] = { "parse", "vlan_limit" },
	[BG_C_PARSE_TRUNC_IP] = { "parse", "trunc_ip" },
	[BG_C_PARSE_BAD_IP] = { "parse", "bad_ip" },
	[BG_C_IPV4] = { "ip", "ipv4" },
	[BG_C_IPV6] = { "ip", "ipv6" },
	[BG_C_CLS_PREFIX4] = { "classify", "prefix4" },
	[BG_C_CLS_PREFIX6] = { "classify", "prefix6" },
	[BG_C_CLS_DEFAULT] = { "classify", "default" },
	[BG_C_CLS_STALE] = { "classify", "stale" },
	[BG_C_CLS_BIND] = { "classify", "bind" },
	[BG_C_CLS_HTTP] = { "classify", "http_token" },
	[BG_C_CLS_FLOW] = { "classify", "flow" },
	[BG_C_METER_CONTENDED] = { "meter", "contended" },
	[BG_C_MALFORMED_DROPPED] = { "malformed", "dropped" },
	[BG_C_MALFORMED_SHADOW] = { "malformed", "shadow" },
	[BG_C_EVENTS_LOST] = { "events", "lost" },
	[BG_C_HTTP_REQUEST] = { "http", "requests" },
	[BG_C_HTTP_NO_HEADER] = { "http", "no_header" },
	[BG_C_HTTP_UNKNOWN] = { "http", "unknown_token" },
	[BG_C_HTTP_EXPIRED] = { "http", "expired_token" },
	[BG_C_HTTP_TRUNCATED] = { "http", "truncated" },
	[BG_C_HTTP_OVERSIZED] = { "http", "oversized" },
	[BG_C_HTTP_BAD_VALUE] = { "http", "bad_value" },
	[BG_C_FLOW_EXPIRED] = { "flow", "expired" },
	[BG_C_FLOW_SYN] = { "flow", "syn_reset" },
};
_Static_assert(BG_C_MAX == 34, "counter_names must name every bg_counter");

static int help(void)
{
	out_help("Usage: burstctl stats [identity NAME]\n"
		 "\n"
		 "Per identity: packets and bytes passed (shadow included),\n"
		 "dropped, and shadow-dropped (would have been dropped), and the\n"
		 "tokens now in each bucket (what may pass back to back).\n"
		 "Without an identity, also the host-wide parse, IP version,\n"
		 "classification and meter counters, and those of the HTTP token\n"
		 "stage and the flow table (see `burstctl token help`).\n");
	return 0;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC is the clock of bpf_ktime_get_ns(). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

/* Tokens now in a bucket: "37/50" in text, two fields in JSON. */
static void print_tokens(const char *key, const char *burst_key, const struct bg_bucket *b,
			 __u64 tat, __u64 now, __u64 burst)
{
	double fill = bg_bucket_fill(b, tat, now);
	char buf[48];

	if (fill < 0) {
		out_null(key, NULL);
		out_null(burst_key, NULL);
		out_text("%-15s ", "-");
		return;
	}
	fill = floor(fill + 0.5);
	out_double(key, NULL, fill);
	out_u64(burst_key, NULL, burst);
	snprintf(buf, sizeof(buf), "%.0f/%llu", fill, (unsigned long long)burst);
	out_text("%-15s ", buf);
}

static int print_identity(const struct bg_state *s, const struct bg_identity *id, __u64 now)
{
	struct bg_id_stats st;
	const struct bg_id_state *tat = &s->tats[id->id];
	int err;

	err = bg_percpu_sum(s, s->stats_fd, id->id, (__u64 *)&st, sizeof(st) / sizeof(__u64));
	if (err)
		return err;
	out_begin_object(NULL);
	out_str("identity", "%-20s ", id->name);
	out_u64("identity_id", NULL, id->id);
	out_str("action", "%-8s ", bg_action_name(id->cfg.action));
	out_u64("passed_pkts", "%-12llu ", st.passed_pkts);
	out_u64("passed_bytes", "%-13llu ", st.passed_bytes);
	out_u64("dropped_pkts", "%-12llu ", st.dropped_pkts);
	out_u64("dropped_bytes", "%-13llu ", st.dropped_bytes);
	out_u64("shadow_pkts", "%-12llu ", st.shadow_pkts);
	out_u64("shadow_bytes", NULL, st.shadow_bytes);
	print_tokens("pkt_tokens", "burst_pkts", &id->cfg.pkt,
		     __atomic_load_n(&tat->pkt_tat, __ATOMIC_RELAXED), now, id->meta.burst_pkts);
	print_tokens("byte_tokens", "burst_bytes", &id->cfg.byte,
		     __atomic_load_n(&tat->byte_tat, __ATOMIC_RELAXED), now, id->meta.burst_bytes);
	out_text("\n");
	out_end_object();
	return 0;
}

static int print_counters(const struct bg_state *s)
{
	const char *group = NULL;
	struct bg_counters c;
	__u64 v;
	__u32 i;
	int err;

	err = bg_counters_read(s, &c);
	if (err)
		return err;
	out_begin_object("counters");
	for (i = 0; i < BG_C_MAX; i++) {
		v = c.c[i];
		if (!group || strcmp(group, counter_names[i].group)) {
			if (group) {
				out_end_object();
				out_text("\n");
			}
			group = counter_names[i].group;
			out_text("%-10s", group);
			out_begin_object(group);
		}
		out_text(" %s=", counter_names[i].name);
		out_u64(counter_names[i].name, "%llu", v);
	}
	out_end_object();
	out_text("\n");
	out_end_object();
	return 0;
}

int do_stats(int argc, char **argv)
{
	struct bg_identity *ids = NULL, one;
	const char *name = NULL;
	struct bg_state s;
	size_t n = 0, i;
	__u64 now;
	int err;

	if (argc >= 1 && !strcmp(argv[0], "help"))
		return help();
	if (argc >= 1 && !strcmp(argv[0], "identity")) {
		name = take_value("stats", &argc, &argv);
		if (!name)
			return -EINVAL;
	}
	if (argc)
		return usage_error("stats", "unexpected argument \"%s\"", argv[0]);

	err = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (err)
		return err;
	if (name) {
		err = bg_identity_get(&s, name, &one);
		if (err == -ENOENT)
			bg_err("identity \"%s\" does not exist (see `burstctl identity list`)",
			       name);
		if (err)
			goto out;
	} else {
		err = bg_identity_list(&s, &ids, &n);
		if (err) {
			bg_err("stats: list identities: %s", strerror(-err));
			goto out;
		}
	}

	now = bg_ticks(now_ns());
	out_begin_object(NULL);
	out_text("%-20s %-8s %-12s %-13s %-12s %-13s %-12s %-15s %s\n", "IDENTITY", "ACTION",
		 "PASSED_PKTS", "PASSED_BYTES", "DROPPED_PKTS", "DROPPED_BYTES", "SHADOW_PKTS",
		 "PKT_TOKENS", "BYTE_TOKENS");
	out_begin_array("identities");
	if (name)
		err = print_identity(&s, &one, now);
	for (i = 0; !err && i < n; i++)
		err = print_identity(&s, &ids[i], now);
	out_end_array();
	if (!err && !name) {
		out_text("\n");
		err = print_counters(&s);
	}
	out_end_object();
	if (err)
		bg_err("stats: read counters: %s", strerror(-err));
out:
	free(ids);
	bg_state_close(&s);
	return err;
}
