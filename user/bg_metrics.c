// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_metrics.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "bg_attach.h"
#include "bg_flow.h"
#include "bg_identity.h"
#include "bg_time.h"
#include "bg_token_reg.h"

/* ---- Snapshot ---- */

static __u32 max_entries(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.max_entries;
}

/* Token and flow gauges; left at 0 if the maps cannot be read. */
static void read_tokens(const struct bg_state *s, struct bg_snap *snap)
{
	struct bg_clock now;
	size_t a, b;

	if (!bg_clock_now(&now) && !bg_token_count(s, now.boot_ns, &a, &b)) {
		snap->tokens_live = a;
		snap->tokens_expired = b;
	}
	if (!bg_flow_count(s, &a, &b)) {
		snap->flows_http = a;
		snap->flows_bind = b;
	}
	snap->tokens_max = max_entries(s->tokens_fd);
	snap->flows_max = max_entries(s->flows_fd);
}

/* The tags of the programs attached here, each once (burstgate_build_info). */
static void read_prog_tags(const struct bg_state *s, struct bg_snap *snap)
{
	struct bg_link *links = NULL;
	char tag[BG_TAG_LEN];
	int n = 0, i;
	size_t j;

	bg_links_list(s->pin_path, &links, &n);
	for (i = 0; i < n && snap->nprog_tags < BG_SNAP_TAGS; i++) {
		if (!links[i].ifindex || !links[i].this_netns || bg_prog_tag(links[i].prog_id, tag))
			continue;
		for (j = 0; j < snap->nprog_tags && strcmp(snap->prog_tags[j], tag); j++)
			;
		if (j == snap->nprog_tags)
			memcpy(snap->prog_tags[snap->nprog_tags++], tag, BG_TAG_LEN);
	}
	free(links);
}

int bg_snap_read(const struct bg_state *s, struct bg_snap *snap)
{
	struct bg_identity *ids = NULL;
	struct timespec ts;
	__u32 zero = 0;
	size_t n = 0, i;
	__u64 now;
	int err;

	memset(snap, 0, sizeof(*snap));
	snap->max_ids = s->max_ids;
	read_prog_tags(s, snap);
	err = bg_identity_list(s, &ids, &n);
	if (err)
		return err;
	snap->ids = calloc(n + 1, sizeof(*snap->ids));
	if (!snap->ids) {
		free(ids);
		return -ENOMEM;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (__u64)ts.tv_sec * BG_NSEC_PER_SEC + (__u64)ts.tv_nsec;
	snap->mono_ns = now;
	for (i = 0; i < n; i++) {
		struct bg_snap_id *x = &snap->ids[snap->nids];
		const struct bg_id_state *st = &s->tats[ids[i].id];

		if (bg_percpu_sum(s, s->stats_fd, ids[i].id, (__u64 *)&x->st,
				  sizeof(x->st) / sizeof(__u64)))
			continue; /* deleted meanwhile */
		snprintf(x->name, sizeof(x->name), "%s", ids[i].name);
		x->id = ids[i].id;
		x->action = ids[i].cfg.action;
		x->meta = ids[i].meta;
		x->pkt_fill = bg_bucket_fill(&ids[i].cfg.pkt,
					     __atomic_load_n(&st->pkt_tat, __ATOMIC_RELAXED),
					     bg_ticks(now));
		x->byte_fill = bg_bucket_fill(&ids[i].cfg.byte,
					      __atomic_load_n(&st->byte_tat, __ATOMIC_RELAXED),
					      bg_ticks(now));
		x->limited = __atomic_load_n(&st->limited_since_ns, __ATOMIC_RELAXED) != 0;
		snap->nids++;
	}
	free(ids);
	{
		struct bg_counters c;

		if (bg_counters_read(s, &c) == 0)
			memcpy(snap->counters, c.c, sizeof(c.c));
	}
	bg_global_get(s, &snap->g);
	bpf_map_lookup_elem(s->ctl_fd, &zero, &snap->ctl);
	read_tokens(s, snap);
	return 0;
}

int bg_stats_total(const struct bg_state *s, __u64 *pkts, __u64 *bytes)
{
	const size_t chunk = 4096;
	size_t vsz = sizeof(struct bg_id_stats) * (size_t)s->ncpus;
	__u32 *keys = calloc(chunk, sizeof(*keys)), out_batch = 0, n, i, cpu;
	struct bg_id_stats *vals = calloc(chunk, vsz);
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	__u64 start = 0;
	bool first = true;
	int err = 0;

	*pkts = *bytes = 0;
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	while (start < s->max_ids) {
		bool end;
		int r;

		n = (__u32)chunk;
		r = bpf_map_lookup_batch(s->stats_fd, first ? NULL : &out_batch, &out_batch, keys,
					 vals, &n, &o);
		end = r && errno == ENOENT; /* the last batch (maybe with entries) */
		if (r && !end) {
			/* no batch lookup here: one element at a time */
			__u64 v[6];

			*pkts = *bytes = 0;
			for (i = 0; i < s->max_ids; i++) {
				if (bg_percpu_sum(s, s->stats_fd, i, v, 6))
					continue;
				*pkts += v[0];
				*bytes += v[1];
			}
			goto out;
		}
		for (i = 0; i < n; i++)
			for (cpu = 0; cpu < (__u32)s->ncpus; cpu++) {
				const struct bg_id_stats *x =
					&vals[(size_t)i * (size_t)s->ncpus + cpu];

				*pkts += x->passed_pkts;
				*bytes += x->passed_bytes;
			}
		first = false;
		start += n;
		if (!n || end)
			break;
	}
out:
	free(keys);
	free(vals);
	return err;
}

void bg_snap_free(struct bg_snap *snap)
{
	free(snap->ids);
	snap->ids = NULL;
	snap->nids = 0;
}

/* ---- Formatter ---- */

void bg_metrics_escape(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 3 < len; in++) {
		if (*in == '\\' || *in == '"') {
			out[o++] = '\\';
			out[o++] = *in;
		} else if (*in == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Host-wide counters: metric name and label of each enum bg_counter. */
static const struct {
	const char *metric;
	const char *label; /* NULL: the metric has no label */
	const char *value;
} counter_metrics[BG_C_MAX] = {
	[BG_C_PARSE_TCP] = { "burstgate_parse_packets_total", "outcome", "tcp" },
	[BG_C_PARSE_UDP] = { "burstgate_parse_packets_total", "outcome", "udp" },
	[BG_C_PARSE_OTHER_L4] = { "burstgate_parse_packets_total", "outcome", "other_l4" },
	[BG_C_PARSE_FRAGMENT] = { "burstgate_parse_packets_total", "outcome", "fragment" },
	[BG_C_PARSE_NON_IP] = { "burstgate_parse_packets_total", "outcome", "non_ip" },
	[BG_C_PARSE_BAD_L4] = { "burstgate_parse_packets_total", "outcome", "bad_l4" },
	[BG_C_PARSE_IPV6_EXT_LIMIT] = { "burstgate_parse_packets_total", "outcome",
					"ipv6_ext_limit" },
	[BG_C_PARSE_TRUNC_ETH] = { "burstgate_parse_packets_total", "outcome", "trunc_eth" },
	[BG_C_PARSE_TRUNC_VLAN] = { "burstgate_parse_packets_total", "outcome", "trunc_vlan" },
	[BG_C_PARSE_VLAN_LIMIT] = { "burstgate_parse_packets_total", "outcome", "vlan_limit" },
	[BG_C_PARSE_TRUNC_IP] = { "burstgate_parse_packets_total", "outcome", "trunc_ip" },
	[BG_C_PARSE_BAD_IP] = { "burstgate_parse_packets_total", "outcome", "bad_ip" },
	[BG_C_IPV4] = { "burstgate_ip_packets_total", "version", "4" },
	[BG_C_IPV6] = { "burstgate_ip_packets_total", "version", "6" },
	[BG_C_CLS_PREFIX4] = { "burstgate_classify_packets_total", "source", "prefix4" },
	[BG_C_CLS_PREFIX6] = { "burstgate_classify_packets_total", "source", "prefix6" },
	[BG_C_CLS_DEFAULT] = { "burstgate_classify_packets_total", "source", "default" },
	[BG_C_CLS_STALE] = { "burstgate_classify_packets_total", "source", "stale" },
	[BG_C_CLS_BIND] = { "burstgate_classify_packets_total", "source", "bind" },
	[BG_C_CLS_HTTP] = { "burstgate_classify_packets_total", "source", "http" },
	[BG_C_CLS_FLOW] = { "burstgate_classify_packets_total", "source", "flow" },
	[BG_C_METER_CONTENDED] = { "burstgate_meter_contended_packets_total", NULL, NULL },
	[BG_C_MALFORMED_DROPPED] = { "burstgate_malformed_packets_total", "verdict", "drop" },
	[BG_C_MALFORMED_SHADOW] = { "burstgate_malformed_packets_total", "verdict", "shadow" },
	[BG_C_EVENTS_LOST] = { "burstgate_events_lost_total", NULL, NULL },
	[BG_C_HTTP_REQUEST] = { "burstgate_http_requests_total", NULL, NULL },
	[BG_C_HTTP_NO_HEADER] = { "burstgate_http_token_misses_total", "reason", "no_header" },
	[BG_C_HTTP_UNKNOWN] = { "burstgate_http_token_misses_total", "reason", "unknown_token" },
	[BG_C_HTTP_EXPIRED] = { "burstgate_http_token_misses_total", "reason", "expired_token" },
	[BG_C_HTTP_TRUNCATED] = { "burstgate_http_token_misses_total", "reason", "truncated" },
	[BG_C_HTTP_OVERSIZED] = { "burstgate_http_token_misses_total", "reason", "oversized" },
	[BG_C_HTTP_BAD_VALUE] = { "burstgate_http_token_misses_total", "reason", "bad_value" },
	[BG_C_FLOW_EXPIRED] = { "burstgate_flow_entries_removed_total", "reason", "expired" },
	[BG_C_FLOW_SYN] = { "burstgate_flow_entries_removed_total", "reason", "syn" },
};
_Static_assert(BG_C_MAX == 34, "counter_metrics must name every bg_counter");

static const char *counter_help(const char *metric)
{
	if (strstr(metric, "parse"))
		return "Packets seen by XDP, by parse outcome (each packet counts once).";
	if (strstr(metric, "_ip_"))
		return "Metered packets by IP version.";
	if (strstr(metric, "classify"))
		return "Metered packets by classification source (stale: matched a deleted identity, took the default).";
	if (strstr(metric, "contended"))
		return "Packets treated as over the limit after losing the bucket compare-and-swap repeatedly.";
	if (strstr(metric, "malformed"))
		return "Malformed packets dropped (or, in shadow mode, that would have been).";
	if (strstr(metric, "http_requests"))
		return "TCP segments that start an HTTP/1.x request (scanned for an agent token).";
	if (strstr(metric, "token_misses"))
		return "HTTP requests whose token header gave no live registered token, by reason.";
	if (strstr(metric, "flow_entries"))
		return "Flow-table entries removed in the data plane, by reason.";
	return "Limited/cleared events lost because the event ring was full.";
}

static void host_counters(FILE *f, const struct bg_snap *snap)
{
	const char *last = "";
	size_t i;

	for (i = 0; i < BG_C_MAX; i++) {
		const char *m = counter_metrics[i].metric;

		if (strcmp(m, last))
			head(f, m, "counter", counter_help(m));
		last = m;
		if (counter_metrics[i].label)
			fprintf(f, "%s{%s=\"%s\"} %llu\n", m, counter_metrics[i].label,
				counter_metrics[i].value, (unsigned long long)snap->counters[i]);
		else
			fprintf(f, "%s %llu\n", m, (unsigned long long)snap->counters[i]);
	}
}

/* One identity's (or the "_other" aggregate's) series of one metric. */
enum id_metric {
	M_PKTS,
	M_BYTES,
	M_SHADOW_PKTS,
	M_SHADOW_BYTES,
	M_FILL,
	M_RATE_PKTS,
	M_RATE_BYTES,
	M_BURST_PKTS,
	M_BURST_BYTES,
	M_LIMITED,
	M_MAX,
};

static const struct {
	const char *name;
	const char *type;
	const char *help;
} id_metrics[M_MAX] = {
	[M_PKTS] = { "burstgate_identity_packets_total", "counter",
		     "Packets metered for the identity, by verdict (pass includes shadow)." },
	[M_BYTES] = { "burstgate_identity_bytes_total", "counter",
		      "Bytes (L2 frames) metered for the identity, by verdict." },
	[M_SHADOW_PKTS] = { "burstgate_identity_shadow_drop_packets_total", "counter",
			    "Packets passed that enforcement would have dropped (shadow)." },
	[M_SHADOW_BYTES] = { "burstgate_identity_shadow_drop_bytes_total", "counter",
			     "Bytes passed that enforcement would have dropped (shadow)." },
	[M_FILL] = { "burstgate_identity_bucket_fill_ratio", "gauge",
		     "Tokens in the bucket now over its burst (1: full, 0: empty); limited buckets only." },
	[M_RATE_PKTS] = { "burstgate_identity_rate_limit_packets_per_second", "gauge",
			  "Configured sustained packet rate; absent: unlimited." },
	[M_RATE_BYTES] = { "burstgate_identity_rate_limit_bytes_per_second", "gauge",
			   "Configured sustained byte rate; absent: unlimited." },
	[M_BURST_PKTS] = { "burstgate_identity_burst_packets", "gauge",
			   "Burst allowance in force (the tuner moves it between its bounds)." },
	[M_BURST_BYTES] = { "burstgate_identity_burst_bytes", "gauge",
			    "Byte burst allowance in force." },
	[M_LIMITED] = { "burstgate_identity_limited", "gauge",
			"1 while the identity is being limited (dropped or shadow-dropped within the last second)." },
};

static void id_series(FILE *f, enum id_metric m, const char *lbl, const struct bg_snap_id *x)
{
	const char *n = id_metrics[m].name;
	unsigned long long v;

	switch (m) {
	case M_PKTS:
		fprintf(f, "%s{identity=\"%s\",verdict=\"pass\"} %llu\n", n, lbl,
			(unsigned long long)x->st.passed_pkts);
		fprintf(f, "%s{identity=\"%s\",verdict=\"drop\"} %llu\n", n, lbl,
			(unsigned long long)x->st.dropped_pkts);
		return;
	case M_BYTES:
		fprintf(f, "%s{identity=\"%s\",verdict=\"pass\"} %llu\n", n, lbl,
			(unsigned long long)x->st.passed_bytes);
		fprintf(f, "%s{identity=\"%s\",verdict=\"drop\"} %llu\n", n, lbl,
			(unsigned long long)x->st.dropped_bytes);
		return;
	case M_SHADOW_PKTS:
		v = x->st.shadow_pkts;
		break;
	case M_SHADOW_BYTES:
		v = x->st.shadow_bytes;
		break;
	case M_FILL:
		if (x->pkt_fill >= 0 && x->meta.burst_pkts)
			fprintf(f, "%s{identity=\"%s\",bucket=\"packets\"} %.4f\n", n, lbl,
				x->pkt_fill / (double)x->meta.burst_pkts);
		if (x->byte_fill >= 0 && x->meta.burst_bytes)
			fprintf(f, "%s{identity=\"%s\",bucket=\"bytes\"} %.4f\n", n, lbl,
				x->byte_fill / (double)x->meta.burst_bytes);
		return;
	case M_RATE_PKTS:
		if (!x->meta.rate_pps)
			return;
		v = x->meta.rate_pps;
		break;
	case M_RATE_BYTES:
		if (!x->meta.byte_rate_bits)
			return;
		v = x->meta.byte_rate_bits / 8;
		break;
	case M_BURST_PKTS:
		if (!x->meta.rate_pps)
			return;
		v = x->meta.burst_pkts;
		break;
	case M_BURST_BYTES:
		if (!x->meta.byte_rate_bits)
			return;
		v = x->meta.burst_bytes;
		break;
	default:
		v = x->limited;
	}
	fprintf(f, "%s{identity=\"%s\"} %llu\n", n, lbl, v);
}

static void add_stats(struct bg_id_stats *a, const struct bg_id_stats *b)
{
	a->passed_pkts += b->passed_pkts;
	a->passed_bytes += b->passed_bytes;
	a->dropped_pkts += b->dropped_pkts;
	a->dropped_bytes += b->dropped_bytes;
	a->shadow_pkts += b->shadow_pkts;
	a->shadow_bytes += b->shadow_bytes;
}

static void gauge(FILE *f, const char *name, const char *help, double v)
{
	head(f, name, "gauge", help);
	fprintf(f, "%s %.17g\n", name, v);
}

static void counter(FILE *f, const char *name, const char *help, __u64 v)
{
	head(f, name, "counter", help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

/* Fleet mode (docs/fleet.md): the link to the engine, the modes, the syncs. */
static void fleet_series(FILE *f, const struct bg_fleet_stats *st)
{
	__u32 m;

	if (!st->on)
		return;
	gauge(f, "burstgate_fleet_engine_up",
	      "1 if the fleet's engine (Redis) answered the last sync batch, else 0.",
	      st->link == BG_FLEET_LINK_UP);
	head(f, "burstgate_fleet_identities", "gauge",
	     "Global identities by mode: lease (renewed in time), held (not renewed, kept until it ends), safe (R/N), open (the whole limit here).");
	for (m = BG_FLEET_LEASE; m < BG_FLEET_MODE_MAX; m++)
		fprintf(f, "burstgate_fleet_identities{mode=\"%s\"} %u\n", bg_fleet_mode_name(m),
			st->by_mode[m]);
	gauge(f, "burstgate_fleet_lease_age_seconds",
	      "Age of the oldest lease in force on this host (0: none); above the lease time it is held, not renewed.",
	      (double)st->oldest_lease_ms / 1000);
	counter(f, "burstgate_fleet_syncs_total", "Sync batches sent to the engine.",
		st->syncs_total);
	counter(f, "burstgate_fleet_sync_errors_total",
		"Sync batches that failed: no connection, no answer within the interval, an error reply.",
		st->sync_errors_total);
	gauge(f, "burstgate_fleet_sync_duration_seconds",
	      "Round trip of the last sync batch answered.", (double)st->sync_us / 1e6);
	counter(f, "burstgate_fleet_lease_writes_total",
		"Shares written into this host's buckets (leases, safe or open mode).",
		st->leases_total);
	counter(f, "burstgate_fleet_lease_writes_deferred_total",
		"Larger shares left for the next interval: another burstctl held the writer lock.",
		st->lease_writes_deferred_total);
	gauge(f, "burstgate_fleet_hosts", "Hosts of the fleet as the engine last counted them.",
	      st->members);
}

int bg_metrics_format(FILE *f, const struct bg_snap *snap, const struct bg_health *h,
		      size_t max_ids)
{
	size_t n = snap->nids < max_ids ? snap->nids : max_ids, i;
	struct bg_snap_id other = { .name = "_other", .pkt_fill = -1, .byte_fill = -1 };
	char lbl[BG_NAME_LEN * 2 + 1], ver[64], commit[128];
	int m;

	head(f, "burstgate_build_info", "gauge",
	     "This burstctl's release and commit, and the tag of the XDP program attached (bpftool prog shows it): one series per program attached, prog_tag=\"\" when attached nowhere.");
	bg_metrics_escape(bg_version, ver, sizeof(ver));
	bg_metrics_escape(bg_commit, commit, sizeof(commit));
	for (i = 0; i < snap->nprog_tags || (!i && !snap->nprog_tags); i++)
		fprintf(f, "burstgate_build_info{version=\"%s\",commit=\"%s\",prog_tag=\"%s\"} 1\n",
			ver, commit, snap->nprog_tags ? snap->prog_tags[i] : "");
	/* Identities: the first max_ids by index (stable across scrapes), the rest summed. */
	for (i = n; i < snap->nids; i++)
		add_stats(&other.st, &snap->ids[i].st);
	for (m = 0; m < M_MAX; m++) {
		head(f, id_metrics[m].name, id_metrics[m].type, id_metrics[m].help);
		for (i = 0; i < n; i++) {
			bg_metrics_escape(snap->ids[i].name, lbl, sizeof(lbl));
			id_series(f, (enum id_metric)m, lbl, &snap->ids[i]);
		}
		if (snap->nids > n && m <= M_SHADOW_BYTES)
			id_series(f, (enum id_metric)m, "_other", &other);
	}
	gauge(f, "burstgate_identities", "Identities configured, the default included.",
	      (double)snap->nids);
	gauge(f, "burstgate_identities_capacity", "Identities the state can hold.",
	      (double)snap->max_ids);
	gauge(f, "burstgate_metrics_identities_omitted",
	      "Identities past the per-scrape cap, summed into identity=\"_other\".",
	      (double)(snap->nids - n));
	gauge(f, "burstgate_shadow_mode", "1 when the host is in dry run (nothing is dropped).",
	      snap->g.shadow_all);
	host_counters(f, snap);
	if (snap->ctl.capacity_pps)
		gauge(f, "burstgate_host_capacity_packets_per_second",
		      "Declared host capacity the tuner works against.",
		      (double)snap->ctl.capacity_pps);
	if (snap->ctl.capacity_bits)
		gauge(f, "burstgate_host_capacity_bytes_per_second",
		      "Declared host capacity the tuner works against.",
		      (double)snap->ctl.capacity_bits / 8.0);
	head(f, "burstgate_tokens", "gauge",
	     "Agent tokens in the registry: live, and expired (they match nothing) until gc removes them.");
	fprintf(f, "burstgate_tokens{state=\"live\"} %llu\n",
		(unsigned long long)snap->tokens_live);
	fprintf(f, "burstgate_tokens{state=\"expired\"} %llu\n",
		(unsigned long long)snap->tokens_expired);
	gauge(f, "burstgate_tokens_capacity", "Tokens the registry can hold.",
	      (double)snap->tokens_max);
	head(f, "burstgate_flow_entries", "gauge",
	     "Connections in the flow table by source: learnt from HTTP requests, bound through the bind API (idle ones until gc).");
	fprintf(f, "burstgate_flow_entries{source=\"http\"} %llu\n",
		(unsigned long long)snap->flows_http);
	fprintf(f, "burstgate_flow_entries{source=\"bind\"} %llu\n",
		(unsigned long long)snap->flows_bind);
	gauge(f, "burstgate_flow_entries_capacity",
	      "Connections the flow table holds (least recently used evicted past it).",
	      (double)snap->flows_max);
	gauge(f, "burstgate_policy_generation", "Policy applies to this state so far.",
	      (double)snap->ctl.generation);
	gauge(f, "burstgate_policy_applied_timestamp_seconds",
	      "When a policy was last applied to this state (Unix time).",
	      (double)snap->ctl.applied_unix);

	/* The controller's health. */
	gauge(f, "burstgate_controller_up", "1 when these metrics come from a running controller.",
	      h && h->controller);
	if (!h || !h->controller)
		return ferror(f) ? -EIO : 0;
	gauge(f, "burstgate_controller_start_time_seconds",
	      "When the controller started (Unix time).", (double)h->start_unix);
	gauge(f, "burstgate_controller_policy",
	      "1 when the controller applies a policy, 0 for an exporter of a state configured by hand (serve without --policy).",
	      !h->no_policy);
	if (!h->no_policy) {
		counter(f, "burstgate_controller_reloads_total",
			"Policy loads applied successfully, the first included.", h->reloads_total);
		counter(f, "burstgate_controller_reload_errors_total",
			"Policy loads refused (bad file, too large, kernel error); the running policy stays.",
			h->reload_errors_total);
		gauge(f, "burstgate_controller_last_reload_timestamp_seconds",
		      "When the last policy load was attempted (Unix time).",
		      (double)h->last_reload_unix);
		gauge(f, "burstgate_controller_last_reload_success",
		      "1 if the last policy load was applied, 0 if it was refused.",
		      h->last_reload_ok);
	}
	if (h->tune_util >= 0)
		gauge(f, "burstgate_tuner_utilization_ratio",
		      "Admitted traffic over declared capacity in the last tuner interval.",
		      h->tune_util);
	if (h->tune_demand >= 0)
		gauge(f, "burstgate_tuner_demand_ratio",
		      "Admitted traffic plus what the tuned identities dropped, over declared capacity, in the last tuner interval.",
		      h->tune_demand);
	head(f, "burstgate_tuner_adjustments_total", "counter",
	     "Burst changes made by the tuner, one per identity per step.");
	fprintf(f, "burstgate_tuner_adjustments_total{direction=\"grow\"} %llu\n",
		(unsigned long long)h->tune_grow_total);
	fprintf(f, "burstgate_tuner_adjustments_total{direction=\"shrink\"} %llu\n",
		(unsigned long long)h->tune_shrink_total);
	counter(f, "burstgate_tuner_skipped_locked_total",
		"Tuner steps not written because another burstctl held the state's writer lock.",
		h->tune_skipped_locked_total);
	head(f, "burstgate_events_total", "counter",
	     "Identities starting (limited) and ceasing (cleared) to be limited.");
	fprintf(f, "burstgate_events_total{type=\"limited\"} %llu\n",
		(unsigned long long)h->events_limited_total);
	fprintf(f, "burstgate_events_total{type=\"cleared\"} %llu\n",
		(unsigned long long)h->events_cleared_total);
	gauge(f, "burstgate_event_subscribers",
	      "`burstctl events` processes following the controller's event feed.",
	      (double)h->event_subscribers);
	counter(f, "burstgate_event_subscriber_lost_total",
		"Events not passed on to a subscriber that did not keep up.",
		h->event_sub_lost_total);
	counter(f, "burstgate_gc_tokens_removed_total",
		"Expired tokens removed by the controller's garbage collection.",
		h->gc_tokens_total);
	counter(f, "burstgate_gc_flows_removed_total",
		"Flow-table entries removed by the controller's garbage collection (dead, or of an expired token).",
		h->gc_flows_total);
	fleet_series(f, &h->fleet);
	if (h->http_on) {
		gauge(f, "burstgate_metrics_http_connections",
		      "Connections open on this metrics endpoint.", (double)h->http_connections);
		gauge(f, "burstgate_metrics_http_connections_limit",
		      "Connections the metrics endpoint serves at once.", BG_METRICS_CONNS_MAX);
		counter(f, "burstgate_metrics_http_evicted_total",
			"Metrics connections shut down to make room (the oldest without a request).",
			h->http_evicted_total);
	}
	if (!h->bind_on)
		return ferror(f) ? -EIO : 0;
	gauge(f, "burstgate_bind_connections", "Connections open on the bind socket.",
	      (double)h->bind_connections);
	counter(f, "burstgate_bind_requests_total",
		"Requests answered on the bind socket (BIND and UNBIND, accepted or not).",
		h->bind.requests);
	head(f, "burstgate_bind_errors_total", "counter",
	     "Bind socket requests refused, by reason (the ERR code; busy: too many connections).");
	for (i = 0; i < BG_BIND_R_ERRORS; i++) {
		char reason[32];
		size_t k;

		snprintf(reason, sizeof(reason), "%s", bg_bind_result_code((enum bg_bind_result)i));
		for (k = 0; reason[k]; k++)
			if (reason[k] == '-')
				reason[k] = '_';
		fprintf(f, "burstgate_bind_errors_total{reason=\"%s\"} %llu\n", reason,
			(unsigned long long)h->bind.replies[i]);
	}
	counter(f, "burstgate_bind_slow_clients_total",
		"Bind socket connections closed because the client did not read its replies.",
		h->bind.slow_peers);
	gauge(f, "burstgate_bind_connections_limit",
	      "Connections the bind socket serves at once; more are refused (busy).",
	      (double)h->bind_connections_max);
	counter(f, "burstgate_bind_connections_refused_total",
		"Bind socket connections refused at once (answered busy): as many as the limit were open.",
		h->bind.refused);
	head(f, "burstgate_bind_connections_closed_total", "counter",
	     "Bind socket connections closed by the server, by reason (idle: no request for 30 s; stalled: part of a request for 5 s; oversize: a line over 1024 bytes; slow_client: replies not read).");
	fprintf(f, "burstgate_bind_connections_closed_total{reason=\"idle\"} %llu\n",
		(unsigned long long)h->bind.closed_idle);
	fprintf(f, "burstgate_bind_connections_closed_total{reason=\"stalled\"} %llu\n",
		(unsigned long long)h->bind.closed_stalled);
	fprintf(f, "burstgate_bind_connections_closed_total{reason=\"oversize\"} %llu\n",
		(unsigned long long)h->bind.closed_oversize);
	fprintf(f, "burstgate_bind_connections_closed_total{reason=\"slow_client\"} %llu\n",
		(unsigned long long)h->bind.slow_peers);
	return ferror(f) ? -EIO : 0;
}

/* ---- HTTP ---- */

/*
 * The endpoint must not be wedged by a local user holding connections
 * that never finish a request: anyone who can reach the port can open
 * them. So: at most BG_METRICS_CONNS_MAX connections at once and
 * BG_METRICS_CONNS_PER_IP from one address (a Prometheus server needs one
 * or two); a connection idle for BG_METRICS_IDLE_S is closed (the loop
 * runs MHD whenever its timeouts are due, not only when it is idle); and
 * once BG_METRICS_CONNS_ROOM of the slots are taken, each new connection
 * shuts down the oldest one without a whole request, so MHD never reaches
 * its limit and keeps taking connections from the listen queue: a scraper
 * (whose request is in its socket by the time it is accepted) always gets
 * in, from any address, behind however many idle ones (a local user can
 * connect from every address of 127.0.0.0/8, so the per-address limit
 * alone does not do it). With none of those, the oldest connection at
 * least BG_METRICS_EVICT_MS old goes (a keep-alive scraper reconnects; a
 * client that sent a request and does not read the answer stays no
 * longer). A trickled request keeps a connection alive past the idle
 * timeout; only this eviction ends it.
 */
/* MHD accepts up to 10 in a row before anything it closes is gone: room for them */
#define BG_METRICS_CONNS_ROOM (BG_METRICS_CONNS_MAX - 16)
#define BG_METRICS_IDLE_S 10U
#define BG_METRICS_EVICT_MS 1000U
#define BG_METRICS_CHECK_MS 250 /* crowded: look for one to evict this often */

struct metrics_conn {
	int fd; /* -1: slot free */
	__u64 start_ms; /* CLOCK_MONOTONIC */
	bool requested; /* a whole request came in */
	bool evicted; /* shut down by us; MHD closes it at its next run */
};

struct bg_metrics_server {
	struct MHD_Daemon *d;
	bg_metrics_fill_fn fill;
	void *arg;
	struct metrics_conn conns[BG_METRICS_CONNS_MAX];
	unsigned int nconns; /* open, evicted ones included until MHD closes them */
	__u64 evicted_total;
	__u64 checked_ms;
};

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

static bool crowded(const struct bg_metrics_server *m)
{
	return m->nconns >= BG_METRICS_CONNS_ROOM;
}

/* Crowded: shut down the oldest connection without a request, else the oldest if old enough. */
static void make_room(struct bg_metrics_server *m)
{
	struct metrics_conn *victim = NULL, *c;
	__u64 now = now_ms();
	unsigned int i, live = 0;

	m->checked_ms = now;
	for (i = 0; i < BG_METRICS_CONNS_MAX; i++)
		live += m->conns[i].fd >= 0 && !m->conns[i].evicted;
	if (live < BG_METRICS_CONNS_ROOM)
		return;
	for (i = 0; i < BG_METRICS_CONNS_MAX; i++) {
		c = &m->conns[i];
		if (c->fd < 0 || c->evicted ||
		    (c->requested && now - c->start_ms < BG_METRICS_EVICT_MS))
			continue;
		if (!victim || (victim->requested && !c->requested) ||
		    (victim->requested == c->requested && c->start_ms < victim->start_ms))
			victim = c;
	}
	if (!victim)
		return;
	shutdown(victim->fd, SHUT_RDWR); /* MHD reads the end and closes it */
	victim->evicted = true;
	m->evicted_total++;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct bg_metrics_server *m = cls;
	const union MHD_ConnectionInfo *i;
	struct metrics_conn *mc = *socket_context;
	unsigned int k;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (mc) {
			mc->fd = -1;
			m->nconns--;
		}
		*socket_context = NULL;
		return;
	}
	i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	for (k = 0; i && k < BG_METRICS_CONNS_MAX; k++) {
		if (m->conns[k].fd >= 0)
			continue;
		m->conns[k] = (struct metrics_conn){ .fd = i->connect_fd, .start_ms = now_ms() };
		*socket_context = &m->conns[k];
		m->nconns++;
		break;
	}
	if (crowded(m))
		make_room(m);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **con_cls)
{
	struct bg_metrics_server *m = cls;
	struct MHD_Response *r;
	const char *type = "text/plain; version=0.0.4; charset=utf-8";
	char *buf = NULL;
	size_t len = 0;
	unsigned int status = MHD_HTTP_OK;
	enum MHD_Result ret;
	FILE *f;

	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	(void)version;
	(void)upload;
	(void)upload_len;
	(void)con_cls;
	if (ci && ci->socket_context)
		((struct metrics_conn *)ci->socket_context)->requested = true;
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		static char msg[] = "only GET /metrics\n";

		r = MHD_create_response_from_buffer(sizeof(msg) - 1, msg, MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		goto send;
	}
	f = open_memstream(&buf, &len);
	if (!f)
		return MHD_NO;
	if (!strcmp(url, "/metrics")) {
		if (m->fill(m->arg, f))
			status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	} else {
		fprintf(f, "burstgate: see /metrics\n");
		status = MHD_HTTP_NOT_FOUND;
	}
	fclose(f);
	r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
send:
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static int parse_addr(const char *addr, struct sockaddr_storage *ss, bool *any, char *err,
		      size_t errlen)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(addr, ':');
	unsigned long port;
	char *end;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (!colon)
		goto bad;
	port = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || !port || port > 65535)
		goto bad;
	hl = (size_t)(colon - addr);
	if (hl >= sizeof(host))
		goto bad;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	*any = hl == 0;
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		memmove(host, host + 1, hl - 1);
	}
	if (*any || inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((unsigned short)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((unsigned short)port);
		return 0;
	}
bad:
	snprintf(
		err, errlen,
		"--metrics \"%s\": expected ADDR:PORT (127.0.0.1:9477, [::1]:9477, or :9477 for every address)",
		addr);
	return -EINVAL;
}

int bg_metrics_start(const char *addr, bg_metrics_fill_fn fill, void *arg,
		     struct bg_metrics_server **out, char *err, size_t errlen)
{
	struct bg_metrics_server *m;
	struct sockaddr_storage ss;
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	bool any;
	int ret;

	ret = parse_addr(addr, &ss, &any, err, errlen);
	if (ret)
		return ret;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fill = fill;
	m->arg = arg;
	for (unsigned int k = 0; k < BG_METRICS_CONNS_MAX; k++)
		m->conns[k].fd = -1;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (any)
		m->d = MHD_start_daemon(
			flags | MHD_USE_DUAL_STACK, ntohs(((struct sockaddr_in *)&ss)->sin_port),
			NULL, NULL, handle, m, MHD_OPTION_CONNECTION_TIMEOUT, BG_METRICS_IDLE_S,
			MHD_OPTION_CONNECTION_LIMIT, BG_METRICS_CONNS_MAX,
			MHD_OPTION_PER_IP_CONNECTION_LIMIT, BG_METRICS_CONNS_PER_IP,
			MHD_OPTION_NOTIFY_CONNECTION, on_connection, m, MHD_OPTION_END);
	else
		m->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, m, MHD_OPTION_SOCK_ADDR,
					(struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT,
					BG_METRICS_IDLE_S, MHD_OPTION_CONNECTION_LIMIT,
					BG_METRICS_CONNS_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
					BG_METRICS_CONNS_PER_IP, MHD_OPTION_NOTIFY_CONNECTION,
					on_connection, m, MHD_OPTION_END);
	if (!m->d) {
		snprintf(
			err, errlen,
			"--metrics %s: cannot listen there (address in use, or not an address of this host)",
			addr);
		free(m);
		return -EADDRINUSE;
	}
	*out = m;
	return 0;
}

int bg_metrics_fd(struct bg_metrics_server *m)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD);

	return i ? i->epoll_fd : -1;
}

int bg_metrics_timeout_ms(struct bg_metrics_server *m)
{
	MHD_UNSIGNED_LONG_LONG t;
	int ms = -1;

	if (MHD_get_timeout(m->d, &t) == MHD_YES)
		ms = t > 60000 ? 60000 : (int)t;
	if (crowded(m)) {
		/* wake up to make room, even if no connection says anything */
		__u64 since = now_ms() - m->checked_ms;
		int due = since >= BG_METRICS_CHECK_MS ? 0 : BG_METRICS_CHECK_MS - (int)since;

		if (ms < 0 || due < ms)
			ms = due;
	}
	return ms;
}

void bg_metrics_run(struct bg_metrics_server *m)
{
	MHD_run(m->d);
	if (crowded(m))
		make_room(m);
}

void bg_metrics_conn_stats(const struct bg_metrics_server *m, __u64 *open, __u64 *evicted)
{
	*open = m->nconns;
	*evicted = m->evicted_total;
}

void bg_metrics_stop(struct bg_metrics_server *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->d);
	free(m);
}
