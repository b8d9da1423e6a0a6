// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * burstgate XDP program: parse, classify to an identity, meter against the
 * identity's packet and byte buckets, count, and pass or drop.
 */
#include "bg_common.h"
#include "bg_parse.h"
#include "bg_maps.h"
#include "bg_classify.h"

/* Verdict for a packet the parser called malformed, with shadow applied. */
static __always_inline int malformed_verdict(const struct bg_global *g, struct bg_counters *cnt)
{
	if (!g || g->malformed != BG_MALFORMED_DROP)
		return XDP_PASS;
	if (g->shadow_all) {
		bg_inc(cnt, BG_C_MALFORMED_SHADOW);
		return XDP_PASS;
	}
	bg_inc(cnt, BG_C_MALFORMED_DROPPED);
	return XDP_DROP;
}

/* One event into the ring; a full ring loses it, counted. */
static __always_inline void emit_event(struct bg_counters *cnt, __u32 id, __u32 type, __u32 action,
				       __u64 now, __u64 since)
{
	struct bg_event *e = bpf_ringbuf_reserve(&bg_events, sizeof(*e), 0);

	if (!e) {
		bg_inc(cnt, BG_C_EVENTS_LOST);
		return;
	}
	e->ts_ns = now;
	e->since_ns = since;
	e->id = id;
	e->type = type;
	e->action = action;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
}

/*
 * The limited state (see struct bg_id_state). Only a compare-and-swap
 * winner emits, so two CPUs never report the same transition; the common
 * cases (over while limited, conforming while not) only read words on the
 * cache line the meter just used. The "last over" stamp is refreshed at
 * most once per BG_OVER_STAMP_NS: a store per dropped packet would make
 * every CPU of a flood fight for that line.
 */
#define BG_OVER_STAMP_NS (1000000ULL) /* 1 ms, against a 1 s hold */

static __always_inline void track_limited(struct bg_counters *cnt, __u32 id, struct bg_id_state *st,
					  __u32 action, int over, __u64 now)
{
	__u64 since = bg_read_once(st->limited_since_ns);

	if (over) {
		if (now - bg_read_once(st->last_over_ns) >= BG_OVER_STAMP_NS)
			st->last_over_ns = now; /* a plain store: any recent stamp will do */
		if (!since && bg_cmpxchg(&st->limited_since_ns, 0, now) == 0)
			emit_event(cnt, id, BG_EV_LIMITED, action, now, now);
		return;
	}
	if (since && now - bg_read_once(st->last_over_ns) >= BG_EVENT_HOLD_NS &&
	    bg_cmpxchg(&st->limited_since_ns, since, 0) == since)
		emit_event(cnt, id, BG_EV_CLEARED, action, now, since);
}

/* Apply the identity's action and buckets; count the verdict. */
static __always_inline int meter_identity(__u32 id, const struct bg_id_cfg *cfg,
					  const struct bg_global *g, struct bg_counters *cnt,
					  __u32 len)
{
	struct bg_id_state *st;
	struct bg_id_stats *stats;
	__u64 now;
	int over = 0;

	stats = bpf_map_lookup_elem(&bg_id_stats, &id);
	if (!stats)
		return XDP_PASS; /* cannot happen: id was bounds-checked */
	if (cfg->action == BG_ACT_ALLOW)
		goto pass; /* no bucket, no clock, no event: just count */

	st = bpf_map_lookup_elem(&bg_id_state, &id);
	if (!st)
		return XDP_PASS;
	now = bpf_ktime_get_ns(); /* the one clock read of this packet */
	if (cfg->action == BG_ACT_BLOCK) {
		over = 1;
	} else { /* enforce and shadow meter alike */
		switch (bg_meter2(&st->pkt_tat, &cfg->pkt, &st->byte_tat, &cfg->byte, bg_ticks(now),
				  len)) {
		case BG_TAKE_CONFORM:
			break;
		case BG_TAKE_CONTENDED:
			bg_inc(cnt, BG_C_METER_CONTENDED);
			over = 1;
			break;
		default:
			over = 1;
		}
	}
	track_limited(cnt, id, st, cfg->action, over, now);

	if (over && cfg->action != BG_ACT_SHADOW && !(g && g->shadow_all)) {
		stats->dropped_pkts += 1;
		stats->dropped_bytes += len;
		return XDP_DROP;
	}
	if (over) {
		stats->shadow_pkts += 1;
		stats->shadow_bytes += len;
	}
pass:
	stats->passed_pkts += 1;
	stats->passed_bytes += len;
	return XDP_PASS;
}

SEC("xdp")
int bg_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bg_pkt pkt = {};
	struct bg_counters *cnt = bg_counters_get();
	struct bg_id_cfg *cfg;
	struct bg_global *g;
	__u32 zero = 0, id;
	int outcome;

	outcome = bg_parse(data, data_end, &pkt);
	bg_inc(cnt, (__u32)outcome);
	g = bpf_map_lookup_elem(&bg_global, &zero);

	if (bg_parse_malformed(outcome) && g && g->malformed == BG_MALFORMED_DROP)
		return malformed_verdict(g, cnt);
	if (!pkt.ip_ver)
		return XDP_PASS; /* non-IP, or malformed and passed */

	bg_inc(cnt, pkt.ip_ver == 4 ? BG_C_IPV4 : BG_C_IPV6);
	cfg = bg_classify(ctx, &pkt, g, cnt, &id);
	if (!cfg)
		return XDP_PASS;
	return meter_identity(id, cfg, g, cnt, pkt.len);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
