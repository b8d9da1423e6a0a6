// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Fleet sync on the loop: the room of bg_fleet_sync.h wired to the
 * controller: its timer and its connection to the engine registered here,
 * its log lines through slog, its numbers into the metrics. Runs only
 * while the policy has a fleet section and global identities.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_fleet_sync.h"
#include "serve.h"

#define LEAVE_WAIT_MS 300 /* at exit, the engine's answer to "leaving" */

struct serve_fleet {
	struct serve *sv;
	struct bg_fleet_sync *fs;
	struct loop_src timer_src;
	struct loop_src conn_src; /* fd -1: no connection */
};

static void flog(void *arg, int prio, const char *line)
{
	slog(((struct serve_fleet *)arg)->sv, prio, "%s", line);
}

static void refresh(struct serve_fleet *f)
{
	bg_fleet_sync_stats(f->fs, &f->sv->h.fleet);
}

static void watch(void *arg, int old_fd, int fd, bool wr)
{
	struct serve_fleet *f = arg;
	struct loop *l = &f->sv->loop;

	if (old_fd != fd) {
		if (old_fd >= 0)
			loop_del(l, old_fd); /* closed already: then epoll forgot it */
		f->conn_src.fd = fd;
		if (fd >= 0 && loop_add(l, &f->conn_src))
			slog(f->sv, LOG_ERR_, "fleet: watch the engine's connection: %s",
			     strerror(errno));
	}
	if (fd >= 0)
		loop_watch_write(l, &f->conn_src, wr);
}

static void on_timer(void *arg, __u32 events)
{
	struct serve_fleet *f = arg;

	(void)events;
	bg_fleet_sync_on_timer(f->fs);
	refresh(f);
}

static void on_conn(void *arg, __u32 events)
{
	struct serve_fleet *f = arg;

	(void)events;
	bg_fleet_sync_on_io(f->fs);
	refresh(f);
}

static bool wanted(const struct bg_policy *p)
{
	return p->fleet.engine[0] && p->nglobal;
}

static int start(struct serve *sv, const struct bg_policy *p)
{
	struct bg_fleet_hooks hooks = { .log = flog, .watch = watch };
	struct serve_fleet *f = calloc(1, sizeof(*f));
	char err[512];
	int ret;

	if (!f)
		return -ENOMEM;
	f->sv = sv;
	f->conn_src = (struct loop_src){ -1, on_conn, f };
	hooks.arg = f;
	sv->fleet = f;
	ret = bg_fleet_sync_new(&sv->s, p, &hooks, &f->fs, err, sizeof(err));
	if (ret) {
		slog(sv, LOG_ERR_, "%s", err);
		free(f);
		sv->fleet = NULL;
		return ret;
	}
	f->timer_src = (struct loop_src){ bg_fleet_sync_timer_fd(f->fs), on_timer, f };
	ret = loop_add(&sv->loop, &f->timer_src);
	if (ret) {
		slog(sv, LOG_ERR_, "fleet: watch its timer: %s", strerror(-ret));
		bg_fleet_sync_free(f->fs);
		free(f);
		sv->fleet = NULL;
		return ret;
	}
	refresh(f);
	slog(sv, LOG_NOTICE_,
	     "fleet: host %s, engine %s, %zu global identit%s, sync every %u ms, leases of %u ms",
	     p->fleet.host, p->fleet.engine, p->nglobal, p->nglobal == 1 ? "y" : "ies",
	     p->fleet.interval_ms, p->fleet.lease_ms);
	return 0;
}

int fleet_start(struct serve *sv)
{
	if (!wanted(&sv->pol))
		return 0;
	return start(sv, &sv->pol);
}

void fleet_stop(struct serve *sv)
{
	struct serve_fleet *f = sv->fleet;

	if (!f)
		return;
	bg_fleet_sync_leave(f->fs, LEAVE_WAIT_MS);
	loop_del(&sv->loop, f->timer_src.fd);
	bg_fleet_sync_free(f->fs); /* its watch() takes the connection off the loop */
	free(f);
	sv->fleet = NULL;
	memset(&sv->h.fleet, 0, sizeof(sv->h.fleet));
}

void fleet_update(struct serve *sv, const struct bg_policy *p)
{
	int ret;

	if (sv->fleet && wanted(p)) {
		ret = bg_fleet_sync_set_policy(sv->fleet->fs, p);
		if (ret != -EAGAIN)
			return;
		slog(sv, LOG_NOTICE_,
		     "fleet: the engine, host id or password changed: reconnecting");
	}
	if (sv->fleet)
		fleet_stop(sv);
	if (wanted(p) && start(sv, p))
		slog(sv, LOG_ERR_,
		     "fleet: not started: global identities stay at their share in force (safe: R/N) until the next reload");
}
