// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Prometheus formatter on made-up snapshots: the series a dashboard
 * reads, the exposition rules (every sample under a TYPE, counters named
 * _total), label escaping, and the per-scrape cap on identities.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_metrics.h"
#include "unit.h"

static char *format(const struct bg_snap *snap, const struct bg_health *h, size_t max)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CU_ASSERT_EQUAL(bg_metrics_format(f, snap, h, max), 0);
	fclose(f);
	return text;
}

static void make(struct bg_snap *s, size_t n)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	s->ids = calloc(n, sizeof(*s->ids));
	s->nids = n;
	s->max_ids = 1024;
	for (i = 0; i < n; i++) {
		struct bg_snap_id *x = &s->ids[i];

		snprintf(x->name, sizeof(x->name), i ? "agent-%zu" : "default", i);
		x->id = (__u32)i;
		x->st.passed_pkts = 100 * i;
		x->st.dropped_pkts = 10 * i;
		x->st.passed_bytes = 6400 * i;
		x->st.shadow_pkts = i;
		x->pkt_fill = -1;
		x->byte_fill = -1;
	}
	s->counters[BG_C_PARSE_UDP] = 77;
	s->counters[BG_C_CLS_STALE] = 3;
}

static void test_series(void)
{
	struct bg_health h = { .controller = true,
			       .start_unix = 1700000000,
			       .reloads_total = 3,
			       .reload_errors_total = 1,
			       .last_reload_unix = 1700000100,
			       .last_reload_ok = false,
			       .tune_util = 0.25,
			       .tune_demand = 0.5,
			       .tune_grow_total = 9,
			       .tune_skipped_locked_total = 5,
			       .events_limited_total = 2,
			       .gc_tokens_total = 4,
			       .gc_flows_total = 6,
			       .bind_on = true,
			       .bind_connections = 2,
			       .bind_connections_max = 256,
			       .bind = { .requests = 12,
					 .replies = { [BG_BIND_R_UNKNOWN_TOKEN] = 3,
						      [BG_BIND_R_BUSY] = 1,
						      [BG_BIND_R_OK] = 9 },
					 .slow_peers = 5,
					 .refused = 1,
					 .closed_idle = 7,
					 .closed_stalled = 8,
					 .closed_oversize = 11 } };
	struct bg_snap s;
	char *t, want[256];

	make(&s, 3);
	s.tokens_live = 5;
	s.tokens_expired = 2;
	s.tokens_max = 65536;
	s.flows_http = 7;
	s.flows_bind = 1;
	s.ids[1].meta.rate_pps = 500;
	s.ids[1].meta.burst_pkts = 200;
	s.ids[1].pkt_fill = 50;
	s.ids[1].meta.byte_rate_bits = 8000000;
	s.ids[1].meta.burst_bytes = 1000;
	s.ids[1].byte_fill = 1000;
	s.ids[1].limited = true;
	s.ctl.capacity_pps = 100000;
	t = format(&s, &h, 100);
	CU_ASSERT_PTR_NOT_NULL(strstr(
		t,
		"burstgate_identity_packets_total{identity=\"agent-1\",verdict=\"pass\"} 100\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(
		t, "burstgate_identity_packets_total{identity=\"agent-2\",verdict=\"drop\"} 20\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(
		t,
		"burstgate_identity_bytes_total{identity=\"agent-2\",verdict=\"pass\"} 12800\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(
		t, "burstgate_identity_shadow_drop_packets_total{identity=\"agent-2\"} 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(
		t,
		"burstgate_identity_bucket_fill_ratio{identity=\"agent-1\",bucket=\"packets\"} 0.2500\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(
		t,
		"burstgate_identity_bucket_fill_ratio{identity=\"agent-1\",bucket=\"bytes\"} 1.0000\n"));
	/* unlimited buckets have no fill and no limit series */
	CU_ASSERT_PTR_NULL(strstr(t, "burstgate_identity_bucket_fill_ratio{identity=\"agent-2\""));
	CU_ASSERT_PTR_NULL(
		strstr(t, "burstgate_identity_rate_limit_packets_per_second{identity=\"agent-2\""));
	/* base units: bytes per second, not bits */
	CU_ASSERT_PTR_NOT_NULL(strstr(
		t,
		"burstgate_identity_rate_limit_bytes_per_second{identity=\"agent-1\"} 1000000\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(
		t, "burstgate_identity_rate_limit_packets_per_second{identity=\"agent-1\"} 500\n"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(t, "burstgate_identity_burst_packets{identity=\"agent-1\"} 200\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_identity_limited{identity=\"agent-1\"} 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_parse_packets_total{outcome=\"udp\"} 77\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_classify_packets_total{source=\"stale\"} 3\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_controller_up 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_controller_reload_errors_total 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_controller_last_reload_success 0\n"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(t, "burstgate_controller_last_reload_timestamp_seconds 1700000100\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_tuner_utilization_ratio 0.25\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_tuner_demand_ratio 0.5\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_tuner_skipped_locked_total 5\n"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(t, "burstgate_tuner_adjustments_total{direction=\"grow\"} 9\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_events_total{type=\"limited\"} 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_host_capacity_packets_per_second 100000\n"));
	/* attached nowhere: one build_info series, with an empty tag */
	snprintf(want, sizeof(want),
		 "burstgate_build_info{version=\"%s\",commit=\"%s\",prog_tag=\"\"} 1\n", bg_version,
		 bg_commit);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, want));
	/* agent tokens: live and expired tokens, flows by source, gc, the bind socket */
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_tokens{state=\"live\"} 5\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_tokens{state=\"expired\"} 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_tokens_capacity 65536\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_flow_entries{source=\"http\"} 7\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_flow_entries{source=\"bind\"} 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_gc_tokens_removed_total 4\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_gc_flows_removed_total 6\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_bind_connections 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_bind_requests_total 12\n"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(t, "burstgate_bind_errors_total{reason=\"unknown_token\"} 3\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_bind_errors_total{reason=\"busy\"} 1\n"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(t, "burstgate_bind_errors_total{reason=\"bad_request\"} 0\n"));
	/* the bind socket's limits */
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_bind_connections_limit 256\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_bind_connections_refused_total 1\n"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(t, "burstgate_bind_connections_closed_total{reason=\"idle\"} 7\n"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(t, "burstgate_bind_connections_closed_total{reason=\"stalled\"} 8\n"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(t, "burstgate_bind_connections_closed_total{reason=\"oversize\"} 11\n"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(t, "burstgate_bind_connections_closed_total{reason=\"slow_client\"} 5\n"));
	free(t);
	/* without a controller: no controller series, and it says so */
	t = format(&s, NULL, 100);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_controller_up 0\n"));
	CU_ASSERT_PTR_NULL(strstr(t, "burstgate_controller_reloads_total"));
	CU_ASSERT_PTR_NULL(strstr(t, "burstgate_bind_requests_total"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_tokens{state=\"live\"} 5\n"));
	free(t);
	bg_snap_free(&s);
}

/* Every sample has a TYPE before it; counters end in _total; one TYPE per name. */
static void test_exposition_rules(void)
{
	struct bg_health h = { .controller = true, .tune_util = 0.5, .bind_on = true };
	char *t, *line, *save = NULL, types[96][96];
	int ntypes = 0, i, samples = 0;
	struct bg_snap s;

	make(&s, 4);
	t = format(&s, &h, 100);
	for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[96], kind[16];

		if (sscanf(line, "# TYPE %95s %15s", name, kind) == 2) {
			for (i = 0; i < ntypes; i++)
				CU_ASSERT_STRING_NOT_EQUAL(types[i], name);
			if (!strcmp(kind, "counter"))
				CU_ASSERT_PTR_NOT_NULL(strstr(name, "_total"));
			if (ntypes < 96)
				snprintf(types[ntypes++], sizeof(types[0]), "%s", name);
			continue;
		}
		if (line[0] == '#')
			continue;
		samples++;
		sscanf(line, "%95[^{ ]", name);
		for (i = 0; i < ntypes && strcmp(types[i], name); i++)
			;
		if (i == ntypes) {
			printf("\n  sample without TYPE: %s", line);
			CU_FAIL("sample without TYPE");
		}
	}
	CU_ASSERT(samples > 40);
	free(t);
	bg_snap_free(&s);
}

static void test_escape(void)
{
	char out[64];

	bg_metrics_escape("a\"b\\c\nd", out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "a\\\"b\\\\c\\nd");
	bg_metrics_escape("agent-7@x:1", out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "agent-7@x:1");
}

/* Past the cap, identities are summed into "_other": bounded series. */
static void test_cardinality_cap(void)
{
	struct bg_snap s;
	char *t;

	make(&s, 10);
	t = format(&s, NULL, 4);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "{identity=\"agent-3\",verdict=\"pass\"} 300\n"));
	CU_ASSERT_PTR_NULL(strstr(t, "identity=\"agent-4\""));
	/* agents 4..9: 100 * (4 + ... + 9) = 3900 passed */
	CU_ASSERT_PTR_NOT_NULL(strstr(
		t,
		"burstgate_identity_packets_total{identity=\"_other\",verdict=\"pass\"} 3900\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "burstgate_metrics_identities_omitted 6\n"));
	CU_ASSERT_PTR_NULL(strstr(t, "burstgate_identity_limited{identity=\"_other\""));
	free(t);
	bg_snap_free(&s);
}

/* One build_info series per program attached, each tag once. */
static void test_build_info(void)
{
	struct bg_health h = {};
	struct bg_snap s;
	char *t, *p;
	int n = 0;

	make(&s, 1);
	s.nprog_tags = 2;
	memcpy(s.prog_tags[0], "3f4ca94269ed9941", BG_TAG_LEN);
	memcpy(s.prog_tags[1], "bf84aab2435b2c19", BG_TAG_LEN);
	t = format(&s, &h, 100);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "# TYPE burstgate_build_info gauge\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, ",prog_tag=\"3f4ca94269ed9941\"} 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, ",prog_tag=\"bf84aab2435b2c19\"} 1\n"));
	for (p = t; (p = strstr(p, "\nburstgate_build_info{")); p++)
		n++;
	CU_ASSERT_EQUAL(n, 2);
	free(t);
	bg_snap_free(&s);
}

int add_metrics_suite(void)
{
	static const struct unit_test tests[] = {
		{ "the series a dashboard reads", test_series },
		{ "exposition rules: TYPE, _total", test_exposition_rules },
		{ "label escaping", test_escape },
		{ "cardinality cap: the rest as _other", test_cardinality_cap },
		{ "build_info: one series per attached program", test_build_info },
		{ NULL, NULL },
	};

	return unit_add_suite("metrics", tests);
}
