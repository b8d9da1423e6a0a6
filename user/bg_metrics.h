/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Counters out: a snapshot of the live state (identities, their counters,
 * bucket fill, the host-wide counters), and the Prometheus text exposition
 * of a snapshot plus the controller's health. The formatter is pure, so the
 * unit tests check it on made-up snapshots. docs/controller.md (Metrics) lists every
 * metric; identity names are the only unbounded label, capped per scrape.
 */
#ifndef BG_METRICS_H
#define BG_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

#include "bg_bindsrv.h"
#include "bg_fleet.h"
#include "bg_common.h"
#include "bg_state.h"
#include "bg_version.h"

#define BG_SNAP_TAGS 8 /* distinct attached programs named in burstgate_build_info */

/* Per-scrape cap on identities exported one by one (the rest: "_other"). */
#define BG_METRICS_MAX_IDS_DEFAULT 1000U

struct bg_snap_id {
	char name[BG_NAME_LEN];
	__u32 id;
	__u32 action;
	struct bg_id_stats st;
	struct bg_id_meta meta;
	double pkt_fill; /* tokens now, in packets; -1: unlimited */
	double byte_fill; /* in bytes; -1: unlimited */
	bool limited; /* in a limited episode (see struct bg_id_state) */
};

struct bg_snap {
	struct bg_snap_id *ids; /* sorted by id: identity 0 (default) first */
	size_t nids;
	__u32 max_ids;
	__u64 counters[BG_C_MAX];
	struct bg_global g;
	struct bg_ctl ctl;
	__u64 mono_ns; /* CLOCK_MONOTONIC when read */
	/* Agent tokens and the flow table (batch reads: a few syscalls each). */
	__u64 tokens_live, tokens_expired, tokens_max;
	__u64 flows_http, flows_bind, flows_max;
	/* The programs attached in this network namespace: their tags, each once. */
	char prog_tags[BG_SNAP_TAGS][BG_TAG_LEN];
	size_t nprog_tags;
};

int bg_snap_read(const struct bg_state *s, struct bg_snap *snap);
void bg_snap_free(struct bg_snap *snap);

/*
 * Packets and bytes passed by every identity slot, summed (a few batch
 * lookups, however many identities): the host's admitted traffic.
 */
int bg_stats_total(const struct bg_state *s, __u64 *pkts, __u64 *bytes);

/* What the controller knows about itself; all zero outside `burstctl serve`. */
struct bg_health {
	bool controller; /* a controller is filling this in */
	bool no_policy; /* an exporter (serve without --policy): no reloads to tell */
	__u64 start_unix;
	__u64 reloads_total; /* successful applies, the first one included */
	__u64 reload_errors_total;
	__u64 last_reload_unix; /* last attempt */
	bool last_reload_ok;
	double tune_util; /* -1: no capacity declared */
	double tune_demand; /* tune_util plus the tuned identities' drops; -1: idem */
	__u64 tune_grow_total; /* bursts grown, one per identity per step */
	__u64 tune_shrink_total;
	__u64 tune_skipped_locked_total; /* steps not written: the writer lock was held */
	__u64 events_limited_total;
	__u64 events_cleared_total;
	/* `burstctl events` processes following the controller's feed */
	__u64 event_subscribers;
	__u64 event_sub_lost_total; /* events a slow subscriber missed */
	/* Garbage collection of expired tokens and dead flows. */
	__u64 gc_tokens_total;
	__u64 gc_flows_total;
	/* The bind socket, when the controller serves it. */
	bool bind_on;
	__u64 bind_connections;
	__u64 bind_connections_max; /* more are refused (busy) */
	struct bg_bindsrv_stats bind;
	/* Fleet mode (docs/fleet.md), when the policy has global identities. */
	struct bg_fleet_stats fleet;
	/* The metrics endpoint itself (bg_metrics_conn_stats). */
	bool http_on;
	__u64 http_connections;
	__u64 http_evicted_total;
};

/* Prometheus text format 0.0.4. Returns 0 or -EIO. */
int bg_metrics_format(FILE *f, const struct bg_snap *snap, const struct bg_health *h,
		      size_t max_ids);

/* Label value escaping (\\, \", \n), for the formatter and its tests. */
void bg_metrics_escape(const char *in, char *out, size_t len);

/*
 * The HTTP endpoint (libmicrohttpd), driven by the caller's event loop.
 * Connections at once, and from one address (more are closed at once).
 */
#define BG_METRICS_CONNS_MAX 64U
#define BG_METRICS_CONNS_PER_IP 8U
struct bg_metrics_server;
typedef int (*bg_metrics_fill_fn)(void *arg, FILE *f);

/* addr: "HOST:PORT", "[V6]:PORT" or ":PORT" (all addresses). */
int bg_metrics_start(const char *addr, bg_metrics_fill_fn fill, void *arg,
		     struct bg_metrics_server **out, char *err, size_t errlen);
/*
 * An fd to poll for input, and the longest the loop may sleep (ms, -1:
 * any). Call bg_metrics_run() when the fd is readable and whenever the
 * timeout is due (0), even if other fds keep the loop busy: connection
 * timeouts and making room for new connections happen there.
 */
int bg_metrics_fd(struct bg_metrics_server *m);
int bg_metrics_timeout_ms(struct bg_metrics_server *m);
void bg_metrics_run(struct bg_metrics_server *m);
/* Connections open now, and those shut down to make room (since start). */
void bg_metrics_conn_stats(const struct bg_metrics_server *m, __u64 *open, __u64 *evicted);
void bg_metrics_stop(struct bg_metrics_server *m);

#endif /* BG_METRICS_H */
