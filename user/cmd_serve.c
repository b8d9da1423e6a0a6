// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * burstctl serve: the controller. One thread, one epoll loop over:
 *   signalfd   SIGHUP reloads, SIGTERM/SIGINT stop
 *   inotify    the policy file's folder: a change reloads (debounced)
 *   inotify    the folders of the token files: a change reloads too
 *   timerfd    every tune_interval: the tuner, the event sweep, and (at
 *              most once a second) garbage collection of expired tokens
 *              and dead flows
 *   ring       limited/cleared events from the XDP program
 *   HTTP       /metrics (libmicrohttpd, driven from this loop)
 *   bind       the bind socket of agent tokens and its connections
 *              (bg_bindsrv.h), non-blocking: a slow or chatty client is
 *              served in turns and never holds up the loop
 *
 * The controller holds no state the kernel does not: everything is in the
 * pinned maps. Killed, even with SIGKILL, it leaves enforcement running;
 * started again, it applies its policy to the state it finds, which changes
 * nothing that did not change, and carries on (tuned bursts included).
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bg_apply.h"
#include "bg_audit.h"
#include "bg_bindsrv.h"
#include "bg_events.h"
#include "bg_flow.h"
#include "bg_identity.h"
#include "bg_log.h"
#include "bg_metrics.h"
#include "bg_out.h"
#include "bg_policy.h"
#include "bg_state.h"
#include "bg_time.h"
#include "bg_token_reg.h"
#include "bg_tuner.h"
#include "bg_units.h"
#include "burstctl.h"

#define RELOAD_DEBOUNCE_MS 200 /* editors write a file in several steps */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE)
#define TUNE_LOG_MAX 20 /* tuner lines per step; the rest are summed up */
#define EVENTS_RETRY_TICKS 10 /* retry taking the event ring this often */
#define LOOP_SOURCES_MAX 16
#define DROPPED_UNKNOWN (~0ULL) /* the episode began before this controller */
#define GC_INTERVAL_MS 1000U /* token and flow gc: at a tick, at most this often */
#define GC_LOG_MAX 20 /* expired tokens named per gc; the rest are counted */
#define BIND_CONNS_MAX 256 /* bind connections at once; more are told busy */
#define BIND_ACCEPT_MAX 16 /* accepts per wakeup: others get their turn */
#define BIND_IDLE_MS 30000U /* a silent bind connection is closed (clients reconnect) */
#define BIND_ERR_LOG_PER_S 20 /* refused bind requests logged per second */

/* syslog priorities, as journald reads them from a "<N>" prefix */
enum { LOG_ERR_ = 3, LOG_WARNING_ = 4, LOG_NOTICE_ = 5, LOG_INFO_ = 6 };

struct serve;
typedef void (*loop_fn)(struct serve *sv, void *arg, __u32 events);

struct loop_src {
	int fd;
	loop_fn fn;
	void *arg;
};

/* One connection on the bind socket; src first: it is what epoll hands back. */
struct bind_conn {
	struct loop_src src;
	struct bg_bindsrv_conn c;
	struct bind_conn *prev, *next;
	__u64 last_ms; /* CLOCK_MONOTONIC of its last request */
	bool dead; /* closed in this round of events: freed after it */
};

/* A token file's folder and name, watched for changes. */
struct tf_watch {
	int wd;
	char name[NAME_MAX + 1];
	char path[BG_POL_PATH_LEN];
};

struct serve {
	const char *policy_path;
	char policy_dir[PATH_MAX];
	char policy_base[NAME_MAX + 1];
	struct bg_state s;
	struct bg_policy pol;
	bool have_pol;
	int ep, sig_fd, ino_fd, tick_fd, reload_fd, lock_fd, policy_wd;
	struct tf_watch *tfw;
	size_t ntfw;
	bool changed_token_file; /* what the pending reload is for */
	char changed[BG_POL_PATH_LEN];
	struct loop_src src[LOOP_SOURCES_MAX];
	int nsrc;
	struct bg_ev_reader ev;
	bool ev_on;
	unsigned int ticks;
	struct bg_metrics_server *ms;
	size_t metrics_max_ids;
	struct bg_health h;
	bool journal;
	bool stop;
	/* the tuner's previous sample of the host's admitted traffic */
	__u64 prev_pkts, prev_bytes, prev_ns;
	bool have_prev;
	/* slot -> name, for events, and the tuned identities; refreshed after every apply */
	char (*names)[BG_NAME_LEN];
	char (*tuned)[BG_NAME_LEN];
	size_t ntuned;
	__u64 *dropped_at; /* dropped + shadow packets when the episode began */
	__u64 last_gc_ms;
	/* The bind socket: --bind-socket wins over the policy's controller.bind_socket. */
	const char *cli_bind, *cli_group;
	char bind_path[BG_POL_SOCKET_LEN], bind_group[BG_POL_GROUP_LEN];
	int bind_fd;
	struct loop_src bind_src;
	struct bind_conn *conns, *dead_conns;
	size_t nconns;
	__u64 bind_log_sec, bind_log_dropped;
	unsigned int bind_log_n;
	bool bind_paused; /* out of fds: not listening until the next gc */
};

/* ---- Logging: one line per change, journald-friendly ---- */

__attribute__((format(printf, 3, 4))) static void slog(const struct serve *sv, int prio,
						       const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Under systemd the "<N>" prefix sets the priority and journald adds the time. */
	if (sv->journal)
		fprintf(stderr, "<%d>%s\n", prio, line);
	else
		fprintf(stderr, "burstctl serve: %s%s\n",
			prio <= LOG_ERR_     ? "error: " :
			prio == LOG_WARNING_ ? "warning: " :
					       "",
			line);
}

static void log_change(void *arg, const char *kind, const char *name, const char *line)
{
	(void)kind;
	(void)name;
	slog(arg, LOG_NOTICE_, "%s", line);
}

static void log_line(void *arg, const char *line)
{
	slog(arg, LOG_NOTICE_, "%s", line);
}

static void log_note(void *arg, const char *note)
{
	slog(arg, LOG_WARNING_, "%s", note);
}

/* systemd's readiness protocol, without libsystemd: one datagram. */
static void sd_notify_(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	close(fd);
}

/* ---- The loop ---- */

static int loop_add(struct serve *sv, int fd, loop_fn fn, void *arg)
{
	struct epoll_event e = { .events = EPOLLIN };
	struct loop_src *src;

	if (sv->nsrc >= LOOP_SOURCES_MAX)
		return -ENOSPC;
	src = &sv->src[sv->nsrc++];
	*src = (struct loop_src){ fd, fn, arg };
	e.data.ptr = src;
	if (epoll_ctl(sv->ep, EPOLL_CTL_ADD, fd, &e)) {
		sv->nsrc--;
		return -errno;
	}
	return 0;
}

/* A source that lives elsewhere (a bind connection): removed with loop_del(). */
static int loop_add_src(struct serve *sv, struct loop_src *src)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = src };

	return epoll_ctl(sv->ep, EPOLL_CTL_ADD, src->fd, &e) ? -errno : 0;
}

static void loop_del(struct serve *sv, int fd)
{
	epoll_ctl(sv->ep, EPOLL_CTL_DEL, fd, NULL);
}

static __u64 mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

static void arm(int tfd, __u32 ms, bool repeat)
{
	struct itimerspec it = {};

	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (repeat)
		it.it_interval = it.it_value;
	timerfd_settime(tfd, 0, &it, NULL);
}

static void drain(int fd)
{
	__u64 n;

	if (read(fd, &n, sizeof(n)) < 0)
		return; /* nothing to drain */
}

/* ---- Names of slots, for the events ---- */

static void refresh_names(struct serve *sv)
{
	struct bg_identity *ids;
	size_t n, i;

	if (bg_identity_list(&sv->s, &ids, &n))
		return;
	memset(sv->names, 0, (size_t)sv->s.max_ids * BG_NAME_LEN);
	sv->ntuned = 0;
	for (i = 0; i < n; i++) {
		if (ids[i].id < sv->s.max_ids)
			snprintf(sv->names[ids[i].id], BG_NAME_LEN, "%s", ids[i].name);
		if (ids[i].meta.burst_max_pkts || ids[i].meta.burst_max_bytes)
			snprintf(sv->tuned[sv->ntuned++], BG_NAME_LEN, "%s", ids[i].name);
	}
	free(ids);
}

/* ---- Applying the policy ---- */

static void watch_token_files(struct serve *sv, const struct bg_policy *p, bool add);
static void bind_update(struct serve *sv, const struct bg_policy *p);

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
	if (bg_policy_attach(sv->s.pin_path, p, log_line, sv))
		slog(sv, LOG_WARNING_,
		     "not attached everywhere the policy says (see the messages above); will retry at the next reload");
	bg_policy_notes(p, log_note, sv);
	refresh_names(sv);
	watch_token_files(sv, p, false);
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
		watch_token_files(sv, p, true);
		bg_policy_free(p);
	}
	return ret;
}

static void reload(struct serve *sv, const struct bg_audit_who *who)
{
	struct bg_policy p;
	char err[1024];
	int ret;

	sd_notify_("RELOADING=1");
	ret = load(sv, &p, err, sizeof(err));
	if (ret) {
		slog(sv, LOG_ERR_, "reload refused, still enforcing the previous policy: %s", err);
		bg_audit_write(sv->pol.audit_log, who, sv->policy_path, NULL, err);
		sv->h.reload_errors_total++;
		sv->h.last_reload_unix = (__u64)time(NULL);
		sv->h.last_reload_ok = false;
		sd_notify_("READY=1");
		return;
	}
	ret = apply(sv, &p, who);
	sv->h.last_reload_ok = ret == 0;
	if (ret) {
		sv->h.reload_errors_total++;
		bg_policy_free(&p);
		sd_notify_("READY=1");
		return;
	}
	sv->h.reloads_total++;
	if (p.ctl.tune_interval_ms != sv->pol.ctl.tune_interval_ms)
		arm(sv->tick_fd, p.ctl.tune_interval_ms, true);
	bind_update(sv, &p);
	bg_policy_free(&sv->pol);
	sv->pol = p;
	sd_notify_("READY=1");
}

/* ---- Event sources ---- */

static void on_signal(struct serve *sv, void *arg, __u32 events)
{
	struct signalfd_siginfo si;
	struct bg_audit_who who = { .via = "SIGHUP" };

	(void)arg;
	(void)events;
	if (read(sv->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		who.uid = si.ssi_uid;
		who.pid = (pid_t)si.ssi_pid;
		slog(sv, LOG_INFO_, "SIGHUP from pid %u (uid %u): reloading %s", si.ssi_pid,
		     si.ssi_uid, sv->policy_path);
		reload(sv, &who);
		return;
	}
	slog(sv, LOG_NOTICE_,
	     "stopping on signal %u; enforcement continues from the pinned program and maps (restart to resume control)",
	     si.ssi_signo);
	sv->stop = true;
}

static void on_inotify(struct serve *sv, void *arg, __u32 events)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *e;
	bool hit = false;
	ssize_t n;
	char *p;
	size_t i;

	(void)arg;
	(void)events;

	n = read(sv->ino_fd, buf, sizeof(buf));
	for (p = buf; n > 0 && p < buf + n; p += sizeof(*e) + e->len) {
		e = (const struct inotify_event *)p;
		if (!e->len)
			continue;
		if (e->wd == sv->policy_wd && !strcmp(e->name, sv->policy_base)) {
			hit = true;
			sv->changed_token_file = false;
		}
		for (i = 0; i < sv->ntfw && !hit; i++) {
			if (e->wd == sv->tfw[i].wd && !strcmp(e->name, sv->tfw[i].name)) {
				hit = true; /* a token file: rotation reloads too */
				sv->changed_token_file = true;
				snprintf(sv->changed, sizeof(sv->changed), "%s", sv->tfw[i].path);
			}
		}
	}
	if (hit)
		arm(sv->reload_fd, RELOAD_DEBOUNCE_MS, false); /* re-arming restarts the wait */
}

static void on_reload_timer(struct serve *sv, void *arg, __u32 events)
{
	struct bg_audit_who who = { .via = "file-change" };
	struct stat st;

	(void)arg;
	(void)events;
	drain(sv->reload_fd);
	if (stat(sv->policy_path, &st)) {
		slog(sv, LOG_WARNING_, "%s is gone: still enforcing the last policy applied",
		     sv->policy_path);
		return;
	}
	who.uid = st.st_uid; /* the best a file change can tell: its owner */
	if (sv->changed_token_file)
		slog(sv, LOG_INFO_, "token file %s changed: reloading %s", sv->changed,
		     sv->policy_path);
	else
		slog(sv, LOG_INFO_, "%s changed: reloading", sv->policy_path);
	reload(sv, &who);
}

static void on_event(void *arg, const struct bg_event *e, bool swept)
{
	struct serve *sv = arg;
	const char *name = e->id < sv->s.max_ids ? sv->names[e->id] : "";
	__u64 d[6] = {}, dropped;
	char over[64] = "";

	if (!*name) {
		refresh_names(sv);
		name = e->id < sv->s.max_ids && *sv->names[e->id] ? sv->names[e->id] : "(deleted)";
	}
	if (e->id < sv->s.max_ids)
		bg_percpu_sum(&sv->s, sv->s.stats_fd, e->id, d, 6);
	dropped = d[2] + d[4]; /* dropped + shadow packets */
	if (e->type == BG_EV_LIMITED) {
		sv->h.events_limited_total++;
		if (e->id < sv->s.max_ids)
			sv->dropped_at[e->id] = dropped;
		slog(sv, LOG_NOTICE_, "event: identity %s limited (%s): packets over its limit",
		     name,
		     e->action == BG_ACT_SHADOW ? "shadow: counted, not dropped" :
						  bg_action_name(e->action));
		return;
	}
	sv->h.events_cleared_total++;
	if (e->id < sv->s.max_ids && sv->dropped_at[e->id] != DROPPED_UNKNOWN)
		snprintf(over, sizeof(over), "%llu packets over the limit; ",
			 (unsigned long long)(dropped - sv->dropped_at[e->id]));
	slog(sv, LOG_NOTICE_, "event: identity %s no longer limited after %.1f s (%s%s)", name,
	     (double)(e->ts_ns - e->since_ns) / 1e9, over,
	     swept ? "went quiet" : "conforming again");
}

static void on_ring(struct serve *sv, void *arg, __u32 events)
{
	(void)arg;
	(void)events;
	bg_events_consume(&sv->ev);
}

static void on_metrics(struct serve *sv, void *arg, __u32 events)
{
	(void)arg;
	(void)events;
	bg_metrics_run(sv->ms);
}

static int fill_metrics(void *arg, FILE *f)
{
	struct serve *sv = arg;
	struct bg_snap snap;
	int ret = bg_snap_read(&sv->s, &snap);

	if (ret)
		return ret;
	sv->h.bind_on = sv->bind_fd >= 0;
	sv->h.bind_connections = sv->nconns;
	ret = bg_metrics_format(f, &snap, &sv->h, sv->metrics_max_ids);
	bg_snap_free(&snap);
	return ret;
}

/* ---- The tuner ---- */

/*
 * One tuner step. Reads the host's admitted traffic (batch lookups) and the
 * tuned identities only (listed at the last apply), so a state of 100,000
 * identities with a few tuned ones costs a few syscalls per interval.
 */
static void tune(struct serve *sv)
{
	const struct bg_ctl *c = &sv->pol.ctl;
	struct bg_tune_cfg tc = { c->capacity_pps, c->capacity_bits, c->tune_interval_ms,
				  c->grow_below_pct, c->shrink_above_pct };
	struct bg_tune_id *t = NULL;
	struct bg_identity *cur = NULL;
	__u64 pkts, bytes, now;
	size_t i, n = 0, logged = 0;
	enum bg_tune_dir dir;
	struct timespec ts;
	double u;

	if (!c->capacity_pps && !c->capacity_bits) {
		sv->h.tune_util = -1;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (__u64)ts.tv_sec * BG_NSEC_PER_SEC + (__u64)ts.tv_nsec;
	if (bg_stats_total(&sv->s, &pkts, &bytes))
		return;
	if (!sv->have_prev || pkts < sv->prev_pkts || bytes < sv->prev_bytes) {
		/* first sample, or a slot was reused (its counters zeroed): start over */
		sv->have_prev = true;
		goto out;
	}
	u = bg_tune_util(&tc, pkts - sv->prev_pkts, bytes - sv->prev_bytes, now - sv->prev_ns);
	sv->h.tune_util = u;
	if (!sv->ntuned)
		goto out;
	t = calloc(sv->ntuned, sizeof(*t));
	cur = calloc(sv->ntuned, sizeof(*cur));
	if (!t || !cur)
		goto out;
	for (i = 0; i < sv->ntuned; i++) {
		const struct bg_id_meta *m = &cur[n].meta;

		if (bg_identity_get(&sv->s, sv->tuned[i], &cur[n]))
			continue; /* removed by hand meanwhile */
		t[n].slot = (__u32)n;
		t[n].b = (struct bg_tune_bounds){ m->burst_min_pkts, m->burst_max_pkts,
						  m->burst_min_bytes, m->burst_max_bytes };
		t[n].burst_pkts = m->burst_pkts;
		t[n].burst_bytes = m->burst_bytes;
		n++;
	}
	dir = bg_tune_step(&tc, u, t, n);
	if (dir == BG_TUNE_HOLD)
		goto out;
	flock(sv->s.dir_fd, LOCK_EX);
	for (i = 0; i < n; i++) {
		const char *name = cur[t[i].slot].name;
		struct bg_limits l = { .burst_pkts = t[i].new_pkts, .burst_bytes = t[i].new_bytes };
		unsigned int mask = 0;
		char a[32], b[32];

		if (t[i].new_pkts != t[i].burst_pkts)
			mask |= BG_LIM_BURST;
		if (t[i].new_bytes != t[i].burst_bytes)
			mask |= BG_LIM_BYTE_BURST;
		/* keeps the TATs: a smaller burst takes effect as the bucket drains */
		if (!mask || bg_identity_set(&sv->s, name, &l, mask, NULL))
			continue;
		if (dir == BG_TUNE_GROW)
			sv->h.tune_grow_total++;
		else
			sv->h.tune_shrink_total++;
		if (logged++ >= TUNE_LOG_MAX)
			continue;
		if (mask & BG_LIM_BURST)
			slog(sv, LOG_INFO_,
			     "tuner: identity %s burst %llu -> %llu (utilisation %.0f%% %s %u%%: %s)",
			     name, (unsigned long long)t[i].burst_pkts,
			     (unsigned long long)t[i].new_pkts, u * 100,
			     dir == BG_TUNE_GROW ? "below" : "above",
			     dir == BG_TUNE_GROW ? c->grow_below_pct : c->shrink_above_pct,
			     dir == BG_TUNE_GROW ? "growing" : "shrinking");
		if (mask & BG_LIM_BYTE_BURST)
			slog(sv, LOG_INFO_,
			     "tuner: identity %s bytes_burst %s -> %s (utilisation %.0f%% %s %u%%: %s)",
			     name, bg_fmt_bytes(t[i].burst_bytes, a, sizeof(a)),
			     bg_fmt_bytes(t[i].new_bytes, b, sizeof(b)), u * 100,
			     dir == BG_TUNE_GROW ? "below" : "above",
			     dir == BG_TUNE_GROW ? c->grow_below_pct : c->shrink_above_pct,
			     dir == BG_TUNE_GROW ? "growing" : "shrinking");
	}
	flock(sv->s.dir_fd, LOCK_UN);
	if (logged > TUNE_LOG_MAX)
		slog(sv, LOG_INFO_, "tuner: ... and %zu more bursts %s", logged - TUNE_LOG_MAX,
		     dir == BG_TUNE_GROW ? "grown" : "shrunk");
out:
	sv->prev_pkts = pkts;
	sv->prev_bytes = bytes;
	sv->prev_ns = now;
	free(t);
	free(cur);
}

/* ---- Token files: a change reloads the policy ---- */

/*
 * Watch the folders of the token files (editors and secret managers
 * replace files by renaming over them): those of the policy applied, after
 * every apply; with add, also those of a policy refused for a token file.
 */
static void watch_token_files(struct serve *sv, const struct bg_policy *p, bool add)
{
	char dir[PATH_MAX], base[PATH_MAX];
	struct tf_watch *v;
	size_t i, j, n = 0;

	if (!add) {
		for (i = 0; i < sv->ntfw; i++)
			if (sv->tfw[i].wd != sv->policy_wd) /* EINVAL if shared: fine */
				inotify_rm_watch(sv->ino_fd, sv->tfw[i].wd);
		sv->ntfw = 0;
	}
	v = realloc(sv->tfw, (sv->ntfw + p->ntoken_files + 1) * sizeof(*v));
	if (!v)
		return;
	n = sv->ntfw;
	for (i = 0; i < p->nids; i++) {
		for (j = 0; j < p->ids[i].ntoken_files; j++) {
			const char *path = p->ids[i].token_files[j].path;

			snprintf(dir, sizeof(dir), "%s", path);
			snprintf(base, sizeof(base), "%s", path);
			v[n].wd = inotify_add_watch(sv->ino_fd, dirname(dir), WATCH_MASK);
			if (v[n].wd < 0) {
				slog(sv, LOG_WARNING_,
				     "token file %s: cannot watch its folder (%s): reload with SIGHUP after changing it",
				     path, strerror(errno));
				continue;
			}
			snprintf(v[n].path, sizeof(v[0].path), "%s", path);
			snprintf(v[n++].name, sizeof(v[0].name), "%s", basename(base));
		}
	}
	sv->tfw = v;
	sv->ntfw = n;
}

/* ---- The bind socket ---- */

static void bind_log_flush(struct serve *sv)
{
	if (sv->bind_log_dropped)
		slog(sv, LOG_INFO_,
		     "bind: %llu more refused requests not logged (at most %d a second; see burstgate_bind_errors_total)",
		     (unsigned long long)sv->bind_log_dropped, BIND_ERR_LOG_PER_S);
	sv->bind_log_dropped = 0;
}

/*
 * Every binding is logged (its client holds a valid token); refusals, which
 * any client on the socket can cause at will, at most BIND_ERR_LOG_PER_S a
 * second.
 */
static void bind_log(const char *line, void *arg)
{
	struct serve *sv = arg;
	__u64 sec = mono_ms() / 1000;

	if (!strstr(line, ": bound ") && !strstr(line, ": unbind ")) {
		if (sec != sv->bind_log_sec) {
			bind_log_flush(sv);
			sv->bind_log_sec = sec;
			sv->bind_log_n = 0;
		}
		if (sv->bind_log_n++ >= BIND_ERR_LOG_PER_S) {
			sv->bind_log_dropped++;
			return;
		}
	}
	slog(sv, LOG_INFO_, "bind: %s", line);
}

static void bind_close(struct serve *sv, struct bind_conn *c)
{
	loop_del(sv, c->c.fd);
	close(c->c.fd);
	c->c.fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		sv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->dead = true;
	c->next = sv->dead_conns; /* freed once this round of events is over */
	sv->dead_conns = c;
	sv->nconns--;
}

static void free_dead_conns(struct serve *sv)
{
	struct bind_conn *c;

	while ((c = sv->dead_conns)) {
		sv->dead_conns = c->next;
		free(c);
	}
}

static void on_bind_conn(struct serve *sv, void *arg, __u32 events)
{
	struct bind_conn *c = arg;

	(void)events;
	if (c->dead)
		return;
	c->last_ms = mono_ms();
	if (!bg_bindsrv_conn_io(&sv->s, &c->c))
		bind_close(sv, c);
}

static void on_bind_accept(struct serve *sv, void *arg, __u32 events)
{
	static const char busy[] = "ERR " BG_BIND_E_BUSY " too many connections, try again\n";
	struct bind_conn *c;
	int i, fd;

	(void)arg;
	(void)events;
	for (i = 0; i < BIND_ACCEPT_MAX; i++) {
		fd = accept4(sv->bind_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			/* out of fds: stop listening until the next gc, not spin on it */
			slog(sv, LOG_WARNING_, "bind socket: accept: %s: paused for a second",
			     strerror(errno));
			loop_del(sv, sv->bind_fd);
			sv->bind_paused = true;
			return;
		}
		if (fd < 0)
			return; /* EAGAIN: no more waiting */
		c = sv->nconns < BIND_CONNS_MAX ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				bg_dbg("bind: busy reply: %s", strerror(errno));
			close(fd);
			sv->h.bind.replies[BG_BIND_R_BUSY]++;
			continue;
		}
		bg_bindsrv_conn_init(&c->c, fd);
		c->c.log = bind_log;
		c->c.log_arg = sv;
		c->c.stats = &sv->h.bind;
		c->src = (struct loop_src){ fd, on_bind_conn, c };
		c->last_ms = mono_ms();
		if (loop_add_src(sv, &c->src)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = sv->conns;
		if (sv->conns)
			sv->conns->prev = c;
		sv->conns = c;
		sv->nconns++;
	}
}

/* Stop listening (connections already open are served to their end). */
static void bind_unlisten(struct serve *sv)
{
	if (sv->bind_fd < 0)
		return;
	loop_del(sv, sv->bind_fd);
	sv->bind_paused = false;
	close(sv->bind_fd);
	unlink(sv->bind_path);
	slog(sv, LOG_NOTICE_, "bind socket %s closed", sv->bind_path);
	sv->bind_fd = -1;
	sv->bind_path[0] = sv->bind_group[0] = '\0';
}

static void bind_stop(struct serve *sv)
{
	bind_unlisten(sv);
	while (sv->conns)
		bind_close(sv, sv->conns);
}

/*
 * Serve the bind socket the command line or the policy names, if it is not
 * the one served already. A new path is opened before the old one closes.
 */
static void bind_update(struct serve *sv, const struct bg_policy *p)
{
	const char *path = sv->cli_bind ? sv->cli_bind : p->bind_socket;
	const char *group = sv->cli_bind ? sv->cli_group : p->bind_group;
	int fd;

	if (!group || !*group)
		group = NULL;
	if (!strcmp(path, sv->bind_path) && !strcmp(group ? group : "", sv->bind_group))
		return;
	if (!strcmp(path, sv->bind_path) || !*path)
		bind_unlisten(sv); /* same path, new group; or none wanted */
	if (!*path)
		return;
	fd = bg_bindsrv_listen(path, group);
	if (fd < 0) {
		slog(sv, LOG_ERR_, "bind socket %s: not served (see the message above)", path);
		return;
	}
	bind_unlisten(sv);
	sv->bind_fd = fd;
	snprintf(sv->bind_path, sizeof(sv->bind_path), "%s", path);
	snprintf(sv->bind_group, sizeof(sv->bind_group), "%s", group ? group : "");
	sv->bind_src = (struct loop_src){ fd, on_bind_accept, NULL };
	if (loop_add_src(sv, &sv->bind_src)) {
		slog(sv, LOG_ERR_, "bind socket %s: %s", path, strerror(errno));
		bind_unlisten(sv);
		return;
	}
	slog(sv, LOG_NOTICE_, "serving the bind protocol on %s (mode %s%s)%s", path,
	     group ? "0660, group " : "0600, root only", group ? group : "",
	     sv->cli_bind && p->bind_socket[0] ? " (--bind-socket overrides the policy's)" : "");
}

/* ---- Garbage collection: expired tokens, dead flows, silent bind clients ---- */

static void gc(struct serve *sv)
{
	struct bg_token_entry *gone = NULL;
	size_t n = 0, tflows = 0, flows = 0, i;
	struct bind_conn *c, *next;
	struct bg_clock now;
	__u64 ms = mono_ms();
	char fp[16];
	int err;

	sv->last_gc_ms = ms;
	bind_log_flush(sv);
	if (sv->bind_paused && sv->bind_fd >= 0 && !loop_add_src(sv, &sv->bind_src))
		sv->bind_paused = false;
	for (c = sv->conns; c; c = next) {
		next = c->next;
		if (ms - c->last_ms >= BIND_IDLE_MS)
			bind_close(sv, c);
	}
	if (bg_clock_now(&now))
		return;
	/* The writer lock, as `burstctl token gc` takes it; held elsewhere: next time. */
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

static void on_tick(struct serve *sv, void *arg, __u32 events)
{
	int err;

	(void)arg;
	(void)events;
	drain(sv->tick_fd);
	sv->ticks++;
	tune(sv);
	if (sv->ev_on) {
		bg_events_sweep(&sv->ev);
	} else if (sv->ticks % EVENTS_RETRY_TICKS == 1) {
		err = bg_events_open(&sv->ev, &sv->s, on_event, sv);
		if (!err && loop_add(sv, bg_events_fd(&sv->ev), on_ring, NULL) == 0) {
			sv->ev_on = true;
			slog(sv, LOG_INFO_, "reading the event ring now");
		} else if (!err) {
			bg_events_close(&sv->ev);
		}
	}
	/* (a tick may come a millisecond early: 10% slack) */
	if (mono_ms() - sv->last_gc_ms >= GC_INTERVAL_MS * 9 / 10)
		gc(sv);
}

/* ---- Setup ---- */

static int help(void)
{
	if (!out_is_json())
		printf("Usage: burstctl serve --policy FILE [--metrics ADDR:PORT]\n"
		       "                      [--metrics-max-identities N]\n"
		       "                      [--bind-socket PATH [--bind-socket-group GROUP]]\n"
		       "\n"
		       "The controller: applies FILE (its token files included), attaches\n"
		       "where it says, reloads it on SIGHUP and whenever it or one of its\n"
		       "token files changes, tunes adaptive bursts, removes expired tokens\n"
		       "and dead flows, logs every change (one line each, journald-friendly;\n"
		       "tokens by fingerprint) and every limited/cleared event, keeps the\n"
		       "audit log, serves Prometheus metrics on http://ADDR:PORT/metrics and\n"
		       "the bind protocol of agent tokens on a Unix socket.\n"
		       "\n"
		       "One controller per state: a second one is refused. Stopping or\n"
		       "killing it leaves enforcement running; starting it again adopts the\n"
		       "state as it is (no bucket, counter or tuned burst is reset).\n"
		       "\n"
		       "--metrics-max-identities N  identities exported one by one per scrape\n"
		       "                            (default %u; the rest are summed up as\n"
		       "                            identity=\"_other\")\n"
		       "--bind-socket PATH          serve the bind protocol there (servers that\n"
		       "                            end TLS report which agent a connection\n"
		       "                            is: client/bg_client.h); root only (0600).\n"
		       "                            Overrides the policy's controller.bind_socket\n"
		       "--bind-socket-group GROUP   make the socket 0660 and owned by GROUP, so\n"
		       "                            that group's servers may bind\n",
		       BG_METRICS_MAX_IDS_DEFAULT);
	return 0;
}

static int setup_inotify(struct serve *sv)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", sv->policy_path);
	snprintf(sv->policy_dir, sizeof(sv->policy_dir), "%s", dirname(tmp));
	snprintf(tmp, sizeof(tmp), "%s", sv->policy_path);
	snprintf(sv->policy_base, sizeof(sv->policy_base), "%s", basename(tmp));
	sv->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (sv->ino_fd < 0)
		return -errno;
	/* The folder, not the file: editors replace files by renaming over them. */
	sv->policy_wd = inotify_add_watch(sv->ino_fd, sv->policy_dir, WATCH_MASK);
	if (sv->policy_wd < 0)
		return -errno;
	return 0;
}

static void close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* Only what this file opened: the ring's and MHD's fds belong to them. */
static void cleanup(struct serve *sv)
{
	bind_stop(sv);
	free_dead_conns(sv);
	free(sv->tfw);
	if (sv->ev_on)
		bg_events_close(&sv->ev);
	bg_metrics_stop(sv->ms);
	if (sv->have_pol)
		bg_policy_free(&sv->pol);
	bg_state_close(&sv->s);
	free(sv->names);
	free(sv->tuned);
	free(sv->dropped_at);
	close_fd(sv->ino_fd);
	close_fd(sv->tick_fd);
	close_fd(sv->reload_fd);
	close_fd(sv->sig_fd);
	close_fd(sv->ep);
	close_fd(sv->lock_fd); /* the single-instance lock goes last */
}

int do_serve(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "metrics-max-identities", required_argument, NULL, 'M' },
		{ "bind-socket", required_argument, NULL, 'b' },
		{ "bind-socket-group", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	static struct serve sv_;
	struct serve *sv = &sv_;
	struct bg_audit_who who = { .via = "start", .uid = getuid(), .pid = getpid() };
	const char *metrics = NULL;
	char err[1024];
	sigset_t mask;
	pid_t holder;
	int c, ret;

	if (argc >= 1 && !strcmp(argv[0], "help"))
		return help();
	memset(sv, 0, sizeof(*sv));
	sv->ep = sv->sig_fd = sv->ino_fd = sv->tick_fd = sv->reload_fd = sv->lock_fd = -1;
	sv->bind_fd = sv->policy_wd = -1;
	sv->metrics_max_ids = BG_METRICS_MAX_IDS_DEFAULT;
	sv->h.tune_util = -1;
	sv->journal = getenv("JOURNAL_STREAM") != NULL;
	/* argv[0] is the first argument here: getopt wants a program name before it */
	argc++;
	argv--;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			sv->policy_path = optarg;
			break;
		case 'm':
			metrics = optarg;
			break;
		case 'M': {
			__u32 v;

			if (bg_parse_u32(optarg, &v, err, sizeof(err)))
				return usage_error("serve", "--metrics-max-identities %s: %s",
						   optarg, err);
			sv->metrics_max_ids = v;
			break;
		}
		case 'b':
			if (optarg[0] != '/')
				return usage_error("serve",
						   "--bind-socket %s: must be an absolute path",
						   optarg);
			if (strlen(optarg) >= BG_POL_SOCKET_LEN)
				return usage_error("serve",
						   "--bind-socket: longer than %d characters",
						   BG_POL_SOCKET_LEN - 1);
			sv->cli_bind = optarg;
			break;
		case 'g':
			sv->cli_group = optarg;
			break;
		default:
			return usage_error("serve", "unknown option");
		}
	}
	if (optind < argc)
		return usage_error("serve", "unexpected argument \"%s\"", argv[optind]);
	if (!sv->policy_path)
		return usage_error("serve", "missing --policy FILE");
	if (sv->cli_group && !sv->cli_bind)
		return usage_error("serve", "--bind-socket-group needs --bind-socket PATH");

	/* 1. the policy must be valid before anything is touched (token files: step 4) */
	ret = bg_policy_load(sv->policy_path, &sv->pol, err, sizeof(err));
	if (ret) {
		bg_err("serve: %s", err);
		return ret;
	}
	sv->have_pol = true;

	/* 2. the state (created with the policy's capacities if absent), one controller */
	ret = bg_policy_state_setup(opts.pin_path, &sv->pol, NULL);
	if (ret)
		goto out;
	ret = bg_lock_take(opts.pin_path, BG_LOCK_SERVE, &sv->lock_fd, &holder);
	if (ret == -EBUSY) {
		char who[32] = "";

		if (holder)
			snprintf(who, sizeof(who), " (pid %d)", (int)holder);
		bg_err("serve: another controller%s already serves the state at %s; only one may (stop it first, e.g. systemctl stop burstgate, or give this one another state with -d)",
		       who, opts.pin_path);
		goto out;
	}
	if (ret)
		goto out;
	ret = bg_state_open(&sv->s, opts.pin_path, BG_OPEN_READ);
	if (ret)
		goto out;
	sv->names = calloc(sv->s.max_ids, BG_NAME_LEN);
	sv->tuned = calloc(sv->s.max_ids, BG_NAME_LEN);
	sv->dropped_at = calloc(sv->s.max_ids, sizeof(__u64));
	if (!sv->names || !sv->tuned || !sv->dropped_at) {
		ret = -ENOMEM;
		goto out;
	}
	memset(sv->dropped_at, 0xff, sv->s.max_ids * sizeof(__u64)); /* DROPPED_UNKNOWN */

	/* 3. signals, file watch, timers, before the first apply: nothing is missed */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sv->ep = epoll_create1(EPOLL_CLOEXEC);
	sv->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	sv->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	sv->reload_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	ret = setup_inotify(sv);
	if (ret || sv->ep < 0 || sv->sig_fd < 0 || sv->tick_fd < 0 || sv->reload_fd < 0) {
		ret = ret ? ret : -errno;
		bg_err("serve: set up the event loop: %s", strerror(-ret));
		goto out;
	}
	loop_add(sv, sv->sig_fd, on_signal, NULL);
	loop_add(sv, sv->ino_fd, on_inotify, NULL);
	loop_add(sv, sv->tick_fd, on_tick, NULL);
	loop_add(sv, sv->reload_fd, on_reload_timer, NULL);

	/* 4. adopt the state: read the token files, apply the policy to what is there */
	sv->h.controller = true;
	sv->h.start_unix = (__u64)time(NULL);
	slog(sv, LOG_NOTICE_, "controller for %s starting (pid %d), policy %s", opts.pin_path,
	     (int)getpid(), sv->policy_path);
	ret = bg_policy_prepare(&sv->s, &sv->pol, err, sizeof(err));
	if (ret) {
		bg_err("serve: %s", err);
		bg_audit_write(sv->pol.audit_log, &who, sv->policy_path, NULL, err);
		goto out;
	}
	ret = apply(sv, &sv->pol, &who);
	if (ret)
		goto out;
	sv->h.reloads_total = 1;
	sv->h.last_reload_ok = true;

	/* 5. events, metrics, the tick */
	ret = bg_events_open(&sv->ev, &sv->s, on_event, sv);
	if (!ret) {
		sv->ev_on = true;
		loop_add(sv, bg_events_fd(&sv->ev), on_ring, NULL);
	} else {
		slog(sv, LOG_WARNING_,
		     "events: the ring is being read by someone else: retrying every %u ticks",
		     EVENTS_RETRY_TICKS);
	}
	bind_update(sv, &sv->pol);
	if ((sv->cli_bind || sv->pol.bind_socket[0]) && sv->bind_fd < 0) {
		ret = -EADDRNOTAVAIL;
		goto out; /* bg_bindsrv_listen said why */
	}
	if (metrics) {
		ret = bg_metrics_start(metrics, fill_metrics, sv, &sv->ms, err, sizeof(err));
		if (ret) {
			bg_err("serve: %s", err);
			goto out;
		}
		loop_add(sv, bg_metrics_fd(sv->ms), on_metrics, NULL);
		slog(sv, LOG_NOTICE_, "metrics on http://%s/metrics", metrics);
	}
	arm(sv->tick_fd, sv->pol.ctl.tune_interval_ms, true);
	slog(sv, LOG_NOTICE_, "ready: tuner every %u ms, events %s", sv->pol.ctl.tune_interval_ms,
	     sv->ev_on ? "read here" : "not read (busy)");
	sd_notify_("READY=1");

	/* 6. the loop */
	while (!sv->stop) {
		struct epoll_event evs[16];
		int timeout = sv->ms ? bg_metrics_timeout_ms(sv->ms) : -1, n, i;

		n = epoll_wait(sv->ep, evs, 16, timeout);
		if (n < 0 && errno != EINTR) {
			ret = -errno;
			bg_err("serve: epoll: %s", strerror(-ret));
			break;
		}
		for (i = 0; i < n && !sv->stop; i++) {
			struct loop_src *src = evs[i].data.ptr;

			src->fn(sv, src->arg, evs[i].events);
		}
		free_dead_conns(sv); /* after the round: its events may name them */
		if (sv->ms && n == 0)
			bg_metrics_run(sv->ms); /* MHD's own timeouts */
	}
	sd_notify_("STOPPING=1");
out:
	cleanup(sv);
	return ret;
}
