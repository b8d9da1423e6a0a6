// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Prometheus endpoint: libmicrohttpd, driven from the loop (its
 * listening and connection fds behind one epoll fd, bg_metrics.c). A
 * scrape reads the maps (bg_snap_read) and the health the rooms count.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bg_log.h"
#include "serve.h"

struct serve_metrics {
	struct serve *sv;
	struct bg_metrics_server *ms;
	struct loop_src src;
};

/* Its fd only wakes the loop: on_round() runs it, once per round. */
static void on_metrics(void *arg, __u32 events)
{
	(void)arg;
	(void)events;
}

static int fill_metrics(void *arg, FILE *f)
{
	struct serve *sv = arg;
	struct bg_snap snap;
	int ret = bg_snap_read(&sv->s, &snap);

	if (ret)
		return ret;
	sv->h.http_on = true;
	bg_metrics_conn_stats(sv->metrics->ms, &sv->h.http_connections, &sv->h.http_evicted_total);
	ret = bg_metrics_format(f, &snap, &sv->h, sv->metrics_max_ids);
	bg_snap_free(&snap);
	return ret;
}

/* MHD's own timeouts: the loop wakes up for them ... */
static int timeout_ms(void *arg)
{
	return bg_metrics_timeout_ms(((struct serve_metrics *)arg)->ms);
}

/*
 * ... and runs after every round: a run with nothing to do is one
 * epoll_wait() of its own set, and waiting until its timeout is exactly
 * due would starve it while other fds keep the loop busy (idle connections
 * would then hold their slots for good, issue 9).
 */
static void on_round(void *arg, bool idle)
{
	(void)idle;
	bg_metrics_run(((struct serve_metrics *)arg)->ms);
}

int metrics_start(struct serve *sv)
{
	struct serve_metrics *m;
	char err[1024];
	int ret;

	if (!sv->metrics_addr)
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	sv->metrics = m;
	m->sv = sv;
	ret = bg_metrics_start(sv->metrics_addr, fill_metrics, sv, &m->ms, err, sizeof(err));
	if (ret) {
		bg_err("serve: %s", err);
		return ret;
	}
	m->src = (struct loop_src){ bg_metrics_fd(m->ms), on_metrics, m };
	loop_add(&sv->loop, &m->src);
	loop_on_timeout(&sv->loop, timeout_ms, m);
	loop_on_round(&sv->loop, on_round, m);
	slog(sv, LOG_NOTICE_, "metrics on http://%s/metrics", sv->metrics_addr);
	return 0;
}

void metrics_stop(struct serve *sv)
{
	if (!sv->metrics)
		return;
	bg_metrics_stop(sv->metrics->ms); /* its fds are its own */
	free(sv->metrics);
	sv->metrics = NULL;
}
