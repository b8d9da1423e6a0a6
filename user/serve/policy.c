// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Applying the policy: at start, on SIGHUP, after a change of its file or
 * of a token file (debounced: editors write a file in several steps), and
 * again every RELOAD_RETRY_MS while a burstctl command holds the state's
 * writer lock (a reload never waits for it). After every apply: attach
 * where it says (links.c), watch its token files (files.c), and refresh
 * the slot names the other rooms use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "bg_apply.h"
#include "bg_identity.h"
#include "bg_log.h"
#include "serve.h"

#define RELOAD_DEBOUNCE_MS 200 /* editors write a file in several steps */
#define RELOAD_RETRY_MS 500 /* a reload waiting for the state's writer lock */

struct serve_policy {
	struct serve *sv;
	int reload_fd; /* timerfd: the debounce, or the retry */
	struct loop_src reload_src;
	bool reload_deferred; /* a reload waiting for the writer lock ... */
	struct bg_audit_who deferred_who; /* ... and its cause, for the audit */
};

static void log_change(void *arg, const char *kind, const char *name, const char *line)
{
	(void)kind;
	(void)name;
	slog(arg, LOG_NOTICE_, "%s", line);
}

static void log_note(void *arg, const char *note)
{
	slog(arg, LOG_WARNING_, "%s", note);
}

void policy_refresh_names(struct serve *sv)
{
	struct bg_identity *ids;
	size_t n, i, nt = 0;
	bool changed = false;

	if (bg_identity_list(&sv->s, &ids, &n))
		return;
	memset(sv->names, 0, (size_t)sv->s.max_ids * BG_NAME_LEN);
	for (i = 0; i < n; i++) {
		if (ids[i].id < sv->s.max_ids)
			snprintf(sv->names[ids[i].id], BG_NAME_LEN, "%s", ids[i].name);
		if (!ids[i].meta.burst_max_pkts && !ids[i].meta.burst_max_bytes)
			continue;
		if (nt >= sv->ntuned || strcmp(sv->tuned[nt], ids[i].name))
			changed = true;
		snprintf(sv->tuned[nt++], BG_NAME_LEN, "%s", ids[i].name);
	}
	free(ids);
	/*
	 * The tuner sums the drops of the tuned identities: over another
	 * list, its previous sample compares nothing; it starts over.
	 */
	if (changed || nt != sv->ntuned)
		tuner_restart(sv);
	sv->ntuned = nt;
}

/* p's token files must have been read (bg_policy_prepare). */
static int apply(struct serve *sv, struct bg_policy *p, const struct bg_audit_who *who)
{
	struct bg_live live;
	struct bg_plan plan;
	char err[1024], toks[128];
	size_t n;
	int ret;

	ret = bg_policy_apply(&sv->s, p, &plan, &live, err, sizeof(err));
	sv->h.last_reload_unix = (__u64)time(NULL);
	if (ret) {
		slog(sv, LOG_ERR_, "policy %s not applied: %s", p->path, err);
		bg_audit_write(p->audit_log, who, p->path, plan.result ? &plan : NULL, err);
		bg_plan_free(&plan);
		bg_live_free(&live);
		return ret;
	}
	n = bg_plan_changes(&plan);
	toks[0] = '\0';
	if (plan.ntok_add || plan.ntok_del || plan.ntok_move || plan.ntok_same)
		snprintf(toks, sizeof(toks),
			 "; tokens: %zu added, %zu removed, %zu moved, %zu unchanged",
			 plan.ntok_add, plan.ntok_del, plan.ntok_move, plan.ntok_same);
	slog(sv, LOG_NOTICE_, "policy %s applied (%s): %zu change%s, %zu identities unchanged%s",
	     p->path, who->via, n, n == 1 ? "" : "s", plan.nsame, toks);
	bg_plan_describe(&plan, 100, log_change, sv);
	if (plan.flows_removed || plan.flows_moved)
		slog(sv, LOG_NOTICE_,
		     "connections: %zu unbound with their token or identity, %zu moved with their token",
		     plan.flows_removed, plan.flows_moved);
	if (bg_audit_write(p->audit_log, who, p->path, &plan, NULL))
		slog(sv, LOG_WARNING_, "audit log %s: cannot write it (set controller: audit_log)",
		     p->audit_log);
	bg_plan_free(&plan);
	bg_live_free(&live);
	links_attach(sv, p);
	bg_policy_notes(p, log_note, sv);
	policy_refresh_names(sv);
	files_watch_tokens(sv, p, false);
	return 0;
}

int policy_apply_first(struct serve *sv, const struct bg_audit_who *who)
{
	char err[1024];
	int ret = bg_policy_prepare(&sv->s, &sv->pol, err, sizeof(err));

	if (ret) {
		bg_err("serve: %s", err);
		bg_audit_write(sv->pol.audit_log, who, sv->policy_path, NULL, err);
		return ret;
	}
	ret = apply(sv, &sv->pol, who);
	if (ret)
		return ret;
	sv->h.reloads_total = 1;
	sv->h.last_reload_ok = true;
	return 0;
}

/*
 * Load the policy and read its token files; err says what is wrong. A token
 * file that fails is watched too, so that fixing it reloads.
 */
static int load(struct serve *sv, struct bg_policy *p, char *err, size_t errlen)
{
	int ret = bg_policy_load(sv->policy_path, p, err, errlen);

	if (ret)
		return ret;
	ret = bg_policy_prepare(&sv->s, p, err, errlen);
	if (ret) {
		/* the files in force, and those of the refused policy: no duplicates */
		files_watch_tokens(sv, &sv->pol, false);
		files_watch_tokens(sv, p, true);
		bg_policy_free(p);
	}
	return ret;
}

void policy_reload(struct serve *sv, const struct bg_audit_who *who)
{
	struct serve_policy *r = sv->policy;
	struct bg_policy p;
	char err[1024];
	int ret;

	/*
	 * The writer lock without waiting: a long `burstctl batch` must not
	 * stall the loop (bind socket, metrics). Held from here, it is the
	 * same lock bg_policy_apply() takes (same open file) and releases.
	 */
	if (flock(sv->s.dir_fd, LOCK_EX | LOCK_NB)) {
		if (!r->reload_deferred)
			slog(sv, LOG_INFO_,
			     "reload deferred: the state is locked by pid %d (a burstctl command); trying again every %d ms",
			     (int)bg_lock_holder(sv->s.dir_fd), RELOAD_RETRY_MS);
		r->reload_deferred = true;
		r->deferred_who = *who;
		loop_timer_arm(r->reload_fd, RELOAD_RETRY_MS, false);
		return;
	}
	r->reload_deferred = false;
	sd_notify_("RELOADING=1");
	files_note_policy(sv);
	ret = load(sv, &p, err, sizeof(err));
	if (ret) {
		flock(sv->s.dir_fd, LOCK_UN);
		slog(sv, LOG_ERR_, "reload refused, still enforcing the previous policy: %s", err);
		bg_audit_write(sv->pol.audit_log, who, sv->policy_path, NULL, err);
		sv->h.reload_errors_total++;
		sv->h.last_reload_unix = (__u64)time(NULL);
		sv->h.last_reload_ok = false;
		sd_notify_("READY=1");
		return;
	}
	ret = apply(sv, &p, who);
	flock(sv->s.dir_fd, LOCK_UN); /* apply released it already: in case it did not get so far */
	sv->h.last_reload_ok = ret == 0;
	if (ret) {
		sv->h.reload_errors_total++;
		bg_policy_free(&p);
		sd_notify_("READY=1");
		return;
	}
	sv->h.reloads_total++;
	if (p.ctl.tune_interval_ms != sv->pol.ctl.tune_interval_ms)
		loop_tick_every(&sv->loop, p.ctl.tune_interval_ms);
	bind_update(sv, &p);
	fleet_update(sv, &p);
	bg_policy_free(&sv->pol);
	sv->pol = p;
	sd_notify_("READY=1");
}

void policy_reload_soon(struct serve *sv)
{
	loop_timer_arm(sv->policy->reload_fd, RELOAD_DEBOUNCE_MS, false);
}

static void on_reload_timer(void *arg, __u32 events)
{
	struct serve_policy *r = arg;
	struct bg_audit_who who = { .via = "file-change" };

	(void)events;
	loop_timer_drain(r->reload_fd);
	if (r->reload_deferred) {
		/* waiting for the lock: try again, as what it was (a SIGHUP keeps its sender) */
		who = r->deferred_who;
		policy_reload(r->sv, &who);
		return;
	}
	if (files_reload_cause(r->sv, &who))
		policy_reload(r->sv, &who);
}

int policy_start(struct serve *sv)
{
	struct serve_policy *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	sv->policy = r;
	r->sv = sv;
	r->reload_fd = loop_timer_new();
	if (r->reload_fd < 0)
		return r->reload_fd;
	r->reload_src = (struct loop_src){ r->reload_fd, on_reload_timer, r };
	return loop_add(&sv->loop, &r->reload_src);
}

void policy_stop(struct serve *sv)
{
	struct serve_policy *r = sv->policy;

	if (!r)
		return;
	if (r->reload_fd >= 0)
		close(r->reload_fd);
	free(r);
	sv->policy = NULL;
}
