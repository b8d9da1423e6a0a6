// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Garbage collection: expired tokens (and the connections bound or learnt
 * through them) and idle or expired flows, at a tick, at most once every
 * GC_INTERVAL_MS, under the writer lock as `burstctl token gc` takes it
 * (held elsewhere: the next time).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "bg_flow.h"
#include "bg_time.h"
#include "bg_token_reg.h"
#include "serve.h"

#define GC_INTERVAL_MS 1000U /* token and flow gc: at a tick, at most this often */
#define GC_LOG_MAX 20 /* expired tokens named per gc; the rest are counted */

struct serve_gc {
	struct serve *sv;
	__u64 last_ms;
};

static void gc(struct serve *sv)
{
	struct bg_token_entry *gone = NULL;
	size_t n = 0, tflows = 0, flows = 0, i;
	struct bg_clock now;
	char fp[16];
	int err;

	if (bg_clock_now(&now))
		return;
	if (flock(sv->s.dir_fd, LOCK_EX | LOCK_NB))
		return;
	err = bg_token_gc_entries(&sv->s, now.boot_ns, &gone, &n, &tflows);
	if (!err)
		err = bg_flow_gc(&sv->s, now.boot_ns, &flows);
	flock(sv->s.dir_fd, LOCK_UN);
	if (err)
		slog(sv, LOG_WARNING_, "gc: %s", strerror(-err));
	for (i = 0; i < n && i < GC_LOG_MAX; i++) {
		__u32 id = gone[i].tok.id;

		slog(sv, LOG_INFO_, "gc: token %s of identity %s expired: removed",
		     bg_fp_fmt(gone[i].tok.fingerprint, fp, sizeof(fp)),
		     id < sv->s.max_ids && *sv->names[id] ? sv->names[id] : "(deleted)");
	}
	if (n) {
		struct bg_audit_who who = { .via = "gc", .uid = getuid(), .pid = getpid() };

		/* each token's end, in the audit log too (by fingerprint) */
		if (bg_audit_expired(&sv->s, sv->pol.audit_log, gone, n, &who))
			slog(sv, LOG_WARNING_, "audit log %s: cannot write it", sv->pol.audit_log);
	}
	if (n)
		slog(sv, LOG_INFO_,
		     "gc: removed %zu expired token%s and %zu connection%s bound or learnt through them",
		     n, n == 1 ? "" : "s", tflows, tflows == 1 ? "" : "s");
	if (flows)
		slog(sv, LOG_INFO_,
		     "gc: removed %zu idle or expired connection%s from the flow table", flows,
		     flows == 1 ? "" : "s");
	sv->h.gc_tokens_total += n;
	sv->h.gc_flows_total += tflows + flows;
	free(gone);
}

static void on_tick(void *arg)
{
	struct serve_gc *g = arg;

	/* (a tick may come a millisecond early: 10% slack) */
	if (loop_now_ms() - g->last_ms < GC_INTERVAL_MS * 9 / 10)
		return;
	g->last_ms = loop_now_ms();
	gc(g->sv);
}

int gc_start(struct serve *sv)
{
	struct serve_gc *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	sv->gc = g;
	g->sv = sv;
	return loop_on_tick(&sv->loop, on_tick, g);
}

void gc_stop(struct serve *sv)
{
	free(sv->gc);
	sv->gc = NULL;
}
