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
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
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
#define RELOAD_RETRY_MS 500 /* a reload waiting for the state's writer lock */
/*
 * A file is complete when it is closed after writing or renamed into place.
 * IN_CREATE counts only for a symlink (created whole): a regular file just
 * created is still empty, and reading it then could apply half a policy.
 * IN_DELETE is only logged: the policy in force stays until a new file is.
 */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE)
#define TUNE_LOG_MAX 20 /* tuner lines per step; the rest are summed up */
#define EVENTS_RETRY_TICKS 10 /* retry taking the event ring this often */
#define LOOP_SOURCES_MAX 16
#define EVENT_SUBS_MAX 16 /* `burstctl events` following the controller at once */
#define ATTACH_FAILS_MAX 16 /* policy interfaces remembered as failing to attach */
#define DROPPED_UNKNOWN (~0ULL) /* the episode began before this controller */
#define GC_INTERVAL_MS 1000U /* token and flow gc: at a tick, at most this often */
#define GC_LOG_MAX 20 /* expired tokens named per gc; the rest are counted */
#define BIND_CONNS_MAX 256 /* bind connections at once; more are told busy */
#define BIND_ACCEPT_MAX 16 /* accepts per wakeup: others get their turn */
#define BIND_SWEEP_MS 1000U /* bind connections checked for their timeouts this often */
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
	bool dead; /* closed in this round of events: freed after it */
};

/*
 * What a file is now, following symlinks. A change of a file reached
 * through a symlink (a Kubernetes ConfigMap swaps its "..data" link; a
 * deploy tool repoints "current") shows in the folder as an event under
 * another name: comparing this says whether it was the file's.
 */
struct file_sig {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	bool ok;
};

/* A token file's folder and name, watched for changes (wd -1: watch lost). */
struct tf_watch {
	int wd;
	char dir[PATH_MAX]; /* the folder watched: the file's own, or its real one */
	char name[NAME_MAX + 1]; /* the name in it */
	char path[BG_POL_PATH_LEN]; /* the token file, as the policy names it */
	struct file_sig sig; /* what path led to when last looked at */
	bool real; /* the folder a symlink led to (made again at every apply) */
};

struct serve {
	const char *policy_path;
	char policy_dir[PATH_MAX];
	char policy_base[NAME_MAX + 1];
	struct bg_state s;
	struct bg_policy pol;
	bool have_pol;
	int ep, sig_fd, ino_fd, tick_fd, reload_fd, lock_fd, policy_wd;
	/* the policy's own folder when the path is a symlink to another one */
	int target_wd;
	char target_dir[PATH_MAX];
	char target_base[NAME_MAX + 1];
	struct file_sig policy_sig; /* when the policy was last read */
	bool tfw_lost; /* a token file's folder watch went away: re-made at a tick */
	bool tfw_rebuild; /* a symlink's real folder went away: resolve them again */
	int link_fd; /* rtnetlink link notifications: interfaces that appear late */
	bool link_pending; /* a link event still to act on: the state was locked */
	bool reload_deferred; /* a reload waiting for the writer lock ... */
	struct bg_audit_who deferred_who; /* ... and its cause, for the audit */
	/* interfaces that failed to attach, as they were: retried once they change */
	struct {
		char name[IF_NAMESIZE];
		unsigned int ifindex;
	} attach_fails[ATTACH_FAILS_MAX];
	size_t nattach_fails;
	struct tf_watch *tfw;
	size_t ntfw;
	bool changed_token_file; /* what the pending reload is for */
	char changed[BG_POL_PATH_LEN];
	struct loop_src src[LOOP_SOURCES_MAX];
	int nsrc;
	struct bg_ev_reader ev;
	bool ev_on;
	/* `burstctl events` run meanwhile: what the ring gives, passed on */
	int evsub_fd;
	struct loop_src evsub_src;
	bool evsub_paused; /* out of fds: not accepting until the next tick */
	int subs[EVENT_SUBS_MAX];
	size_t nsubs;
	unsigned int ticks;
	struct bg_metrics_server *ms;
	size_t metrics_max_ids;
	struct bg_health h;
	bool journal;
	bool stop;
	/*
	 * The tuner's previous sample: the host's admitted traffic, the
	 * tuned identities' drops (over the tuned list below), and its memory.
	 */
	__u64 prev_pkts, prev_bytes, prev_cut_pkts, prev_cut_bytes, prev_ns;
	bool have_prev;
	struct bg_tune_state tune_st;
	__u64 tune_skipped; /* steps skipped in a row: the writer lock was held */
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
	__u64 bind_swept_ms, bind_refused_logged;
	bool bind_paused; /* out of fds: not listening until the next sweep (a second) */
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
		sv->have_prev = false;
	sv->ntuned = nt;
}

/* ---- Applying the policy ---- */

static void watch_token_files(struct serve *sv, const struct bg_policy *p, bool add);
static void feed_event(struct serve *sv, const struct bg_event *e, bool swept);
static void note_policy(struct serve *sv);
static void bind_update(struct serve *sv, const struct bg_policy *p);

/* Did name fail to attach as it is now (same ifindex)? */
static bool attach_failed_as_is(void *arg, const char *name)
{
	const struct serve *sv = arg;
	unsigned int idx = if_nametoindex(name);
	size_t j;

	for (j = 0; idx && j < sv->nattach_fails; j++)
		if (sv->attach_fails[j].ifindex == idx && !strcmp(sv->attach_fails[j].name, name))
			return true;
	return false;
}

/*
 * Attach where the policy says. An interface it names that is absent now
 * (a NIC whose driver loads late, a VLAN or bond made after boot) or fails
 * is retried when the kernel announces a link change (on_link), not only
 * at the next reload. retry: after a link event, leave out the interfaces
 * that failed as they are (else every event would log the same failure
 * again); a reload tries them all.
 */
static void attach_policy(struct serve *sv, const struct bg_policy *p, bool retry)
{
	struct bg_link *links = NULL;
	int nlinks = 0, ret;
	size_t i, j;

	if (!retry)
		sv->nattach_fails = 0;
	ret = bg_policy_attach(sv->s.pin_path, p, log_line, retry ? attach_failed_as_is : NULL, sv);
	if (!ret) {
		sv->nattach_fails = 0;
		return;
	}
	if (ret == -EWOULDBLOCK) {
		/* a burstctl command holds the writer lock: the next tick tries again */
		sv->link_pending = true;
		return;
	}
	if (!retry)
		slog(sv, LOG_WARNING_,
		     "not attached everywhere the policy says (see the messages above); %s",
		     sv->link_fd >= 0 ?
			     "will retry when an interface appears or is made again, and at every reload" :
			     "will retry at the next reload");
	/*
	 * Those that exist but failed (another XDP program on it, a mode its
	 * driver refuses) are not retried at every link event, which would
	 * log the same failure over and over: only once made again.
	 */
	bg_links_list(sv->s.pin_path, &links, &nlinks);
	/* one entry per name, as the interface is now; gone ones forgotten */
	for (j = 0; j < sv->nattach_fails;) {
		if (if_nametoindex(sv->attach_fails[j].name) != sv->attach_fails[j].ifindex)
			sv->attach_fails[j] = sv->attach_fails[--sv->nattach_fails];
		else
			j++;
	}
	for (i = 0; i < p->nifaces && sv->nattach_fails < ATTACH_FAILS_MAX; i++) {
		unsigned int idx = if_nametoindex(p->ifaces[i].name);

		if (!idx || bg_link_live(links, nlinks, p->ifaces[i].name) ||
		    attach_failed_as_is(sv, p->ifaces[i].name))
			continue;
		snprintf(sv->attach_fails[sv->nattach_fails].name, IF_NAMESIZE, "%s",
			 p->ifaces[i].name);
		sv->attach_fails[sv->nattach_fails++].ifindex = idx;
	}
	free(links);
}

/* A policy interface that exists here, has no live link, and did not just fail as it is. */
static bool attach_wanted(const struct serve *sv)
{
	struct bg_link *links = NULL;
	bool want = false;
	int nlinks = 0;
	size_t i;

	if (!sv->pol.has_ifaces)
		return false;
	bg_links_list(sv->s.pin_path, &links, &nlinks);
	for (i = 0; i < sv->pol.nifaces && !want; i++) {
		const char *name = sv->pol.ifaces[i].name;

		if (!if_nametoindex(name) || bg_link_live(links, nlinks, name))
			continue; /* absent (nothing to try, nothing to log), or done */
		want = !attach_failed_as_is((void *)sv, name);
	}
	free(links);
	return want;
}

static bool policy_iface(const struct serve *sv, const char *name)
{
	size_t i;

	for (i = 0; sv->have_pol && i < sv->pol.nifaces; i++)
		if (!strcmp(sv->pol.ifaces[i].name, name))
			return true;
	return false;
}

/*
 * Attach where a link event says it may now work. Never waits for the
 * state's writer lock (bg_lock_nowait: a long `burstctl batch` may hold
 * it): if it is taken, the next tick tries again.
 */
static void check_links(struct serve *sv)
{
	/* pending after a taken lock: maybe a detach too, which attach_wanted() does not see */
	bool forced = sv->link_pending;

	sv->link_pending = false;
	if (!sv->have_pol || (!forced && !attach_wanted(sv)))
		return;
	attach_policy(sv, &sv->pol, true); /* lock taken: link_pending again */
}

/*
 * Links added, changed or removed. Only those of the policy's interfaces
 * matter (a host with containers sees many others); an overflow (ENOBUFS)
 * means some were lost: look at all. This also re-attaches to an
 * interface deleted and made again (its old link died with it).
 */
static void on_link(struct serve *sv, void *arg, __u32 events)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct nlmsghdr))));
	bool relevant = sv->link_pending;
	ssize_t n;

	(void)arg;
	(void)events;
	for (;;) {
		struct sockaddr_nl from;
		socklen_t flen = sizeof(from);
		const struct nlmsghdr *nh;
		int len;

		n = recvfrom(sv->link_fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC,
			     (struct sockaddr *)&from, &flen);
		if (n < 0 && errno == ENOBUFS) {
			relevant = true;
			continue;
		}
		if (n <= 0)
			break;
		if (from.nl_pid != 0)
			continue; /* not from the kernel */
		if ((size_t)n > sizeof(buf)) {
			relevant = true; /* cut short: look at all */
			continue;
		}
		len = (int)n;
		for (nh = (const struct nlmsghdr *)buf; NLMSG_OK(nh, len);
		     nh = NLMSG_NEXT(nh, len)) {
			const struct ifinfomsg *ifi = NLMSG_DATA(nh);
			const struct rtattr *a = IFLA_RTA(ifi);
			int alen = (int)IFLA_PAYLOAD(nh);

			if (nh->nlmsg_type != RTM_NEWLINK)
				continue;
			for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen))
				if (a->rta_type == IFLA_IFNAME &&
				    memchr(RTA_DATA(a), '\0', RTA_PAYLOAD(a)) &&
				    policy_iface(sv, RTA_DATA(a)))
					relevant = true;
		}
	}
	if (relevant)
		check_links(sv);
}

static int link_watch_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
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
	attach_policy(sv, p, false);
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
		/* the files in force, and those of the refused policy: no duplicates */
		watch_token_files(sv, &sv->pol, false);
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

	/*
	 * The writer lock without waiting: a long `burstctl batch` must not
	 * stall the loop (bind socket, metrics). Held from here, it is the
	 * same lock bg_policy_apply() takes (same open file) and releases.
	 */
	if (flock(sv->s.dir_fd, LOCK_EX | LOCK_NB)) {
		if (!sv->reload_deferred)
			slog(sv, LOG_INFO_,
			     "reload deferred: the state is locked by pid %d (a burstctl command); trying again every %d ms",
			     (int)bg_lock_holder(sv->s.dir_fd), RELOAD_RETRY_MS);
		sv->reload_deferred = true;
		sv->deferred_who = *who;
		arm(sv->reload_fd, RELOAD_RETRY_MS, false);
		return;
	}
	sv->reload_deferred = false;
	sd_notify_("RELOADING=1");
	note_policy(sv);
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

static struct file_sig file_sig(const char *path)
{
	struct file_sig g = {};
	struct stat st;

	if (stat(path, &st))
		return g;
	g = (struct file_sig){ st.st_dev, st.st_ino, st.st_size, st.st_mtim, true };
	return g;
}

static bool sig_changed(const struct file_sig *a, const struct file_sig *b)
{
	return a->ok != b->ok || a->dev != b->dev || a->ino != b->ino || a->size != b->size ||
	       a->mtime.tv_sec != b->mtime.tv_sec || a->mtime.tv_nsec != b->mtime.tv_nsec;
}

/*
 * Does event e, in folder dir, say that path changed? The entry it names
 * is path's own (name): yes, unless a regular file was just created there
 * (see WATCH_MASK) or it was deleted. Another entry: if what path leads to
 * is no longer what it was (*last, updated so each change counts once).
 */
static bool file_event(const struct inotify_event *e, const char *dir, const char *path,
		       const char *name, struct file_sig *last)
{
	char entry[PATH_MAX + NAME_MAX + 2];
	struct file_sig now;
	struct stat st;

	if (!strcmp(e->name, name)) {
		if (e->mask & IN_DELETE)
			return false; /* nothing to read: what is in force stays (on_inotify logs it) */
		if (!(e->mask & IN_CREATE))
			return true;
		/* the entry created, not path: path may be a symlink to it */
		snprintf(entry, sizeof(entry), "%s/%s", dir, e->name);
		return !lstat(entry, &st) && S_ISLNK(st.st_mode);
	}
	now = file_sig(path);
	if (!sig_changed(&now, last))
		return false;
	*last = now;
	return true;
}

/* Is wd used by a token file's watch? (wds are per folder: shared) */
static bool wd_in_use(const struct serve *sv, int wd)
{
	size_t i;

	for (i = 0; i < sv->ntfw; i++)
		if (sv->tfw[i].wd == wd)
			return true;
	return false;
}

/* Before the policy is read: what it is now, and watch its real folder too. */
static void note_policy(struct serve *sv)
{
	char real[PATH_MAX], dir[PATH_MAX], base[PATH_MAX];

	sv->policy_sig = file_sig(sv->policy_path);
	if (!realpath(sv->policy_path, real))
		return; /* gone: the folder's own watch sees it come back */
	snprintf(dir, sizeof(dir), "%s", real);
	snprintf(base, sizeof(base), "%s", real);
	if (!strcmp(dirname(dir), sv->target_dir)) {
		snprintf(sv->target_base, sizeof(sv->target_base), "%s", basename(base));
		return; /* the same folder (maybe another name in it) */
	}
	/* a folder no longer in the way: its events would only cause reloads */
	if (sv->target_wd >= 0 && sv->target_wd != sv->policy_wd && !wd_in_use(sv, sv->target_wd))
		inotify_rm_watch(sv->ino_fd, sv->target_wd);
	sv->target_wd = -1;
	sv->target_dir[0] = '\0';
	if (!strcmp(dir, sv->policy_dir))
		return; /* in the policy's own folder: its watch sees it */
	snprintf(sv->target_dir, sizeof(sv->target_dir), "%s", dir);
	snprintf(sv->target_base, sizeof(sv->target_base), "%s", basename(base));
	sv->target_wd = inotify_add_watch(sv->ino_fd, sv->target_dir, WATCH_MASK);
	if (sv->target_wd < 0) {
		slog(sv, LOG_WARNING_,
		     "%s leads to %s: cannot watch its folder (%s); a change made there is seen only with SIGHUP",
		     sv->policy_path, real, strerror(errno));
		sv->target_dir[0] = '\0';
	}
}

static void on_inotify(struct serve *sv, void *arg, __u32 events)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *e;
	bool hit = false, tok = false;
	ssize_t n;
	char *p;
	size_t i;

	(void)arg;
	(void)events;

	while ((n = read(sv->ino_fd, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + n; p += sizeof(*e) + e->len) {
			e = (const struct inotify_event *)p;
			if (e->mask & IN_Q_OVERFLOW) {
				/* events were lost: reload (an unchanged policy changes nothing) */
				slog(sv, LOG_INFO_,
				     "file watch: events lost (queue full): reloading to be sure");
				hit = true;
				continue;
			}
			if (e->mask & IN_IGNORED) {
				/* the folder was deleted or unmounted: its watch is gone */
				if (e->wd == sv->policy_wd) {
					slog(sv, LOG_WARNING_,
					     "%s: the folder is gone; still enforcing the last policy, watching for it to come back",
					     sv->policy_dir);
					sv->policy_wd = -1;
				}
				if (e->wd == sv->target_wd) {
					sv->target_wd = -1;
					sv->target_dir[0] = '\0';
				}
				for (i = 0; i < sv->ntfw; i++)
					if (sv->tfw[i].wd == e->wd && sv->tfw[i].real) {
						/* kubelet removes the old ..2026_* folder after a swap */
						sv->tfw[i].wd = -1;
						sv->tfw_rebuild = true;
					} else if (sv->tfw[i].wd == e->wd) {
						slog(sv, LOG_WARNING_,
						     "token file %s: its folder %s is gone; its tokens stay in force, watching for it to come back",
						     sv->tfw[i].path, sv->tfw[i].dir);
						sv->tfw[i].wd = -1;
						sv->tfw_lost = true;
					}
				continue;
			}
			if (!e->len)
				continue;
			if ((e->mask & IN_DELETE) && e->wd == sv->policy_wd &&
			    !strcmp(e->name, sv->policy_base))
				slog(sv, LOG_WARNING_,
				     "%s was deleted: still enforcing the last policy applied, until a new one is written there",
				     sv->policy_path);
			for (i = 0; i < sv->ntfw; i++)
				if ((e->mask & IN_DELETE) && e->wd == sv->tfw[i].wd &&
				    !strcmp(e->name, sv->tfw[i].name))
					slog(sv, LOG_WARNING_,
					     "token file %s was deleted: its tokens stay in force until it is written again or the policy no longer names it",
					     sv->tfw[i].path);
			if ((e->wd == sv->policy_wd &&
			     file_event(e, sv->policy_dir, sv->policy_path, sv->policy_base,
					&sv->policy_sig)) ||
			    (e->wd == sv->target_wd &&
			     file_event(e, sv->target_dir, sv->policy_path, sv->target_base,
					&sv->policy_sig))) {
				hit = true;
				tok = false;
				continue;
			}
			for (i = 0; i < sv->ntfw; i++) {
				if (e->wd != sv->tfw[i].wd ||
				    !file_event(e, sv->tfw[i].dir, sv->tfw[i].path, sv->tfw[i].name,
						&sv->tfw[i].sig))
					continue;
				/* a token file: rotation reloads too */
				if (!hit)
					tok = true;
				hit = true;
				snprintf(sv->changed, sizeof(sv->changed), "%s", sv->tfw[i].path);
				break;
			}
		}
	}
	if (hit) {
		sv->changed_token_file = tok;
		arm(sv->reload_fd, RELOAD_DEBOUNCE_MS, false); /* re-arming restarts the wait */
	}
}

/* At a tick: watches lost with their folder, made again once it is back. */
static void rewatch(struct serve *sv)
{
	if (sv->policy_wd < 0) {
		sv->policy_wd = inotify_add_watch(sv->ino_fd, sv->policy_dir, WATCH_MASK);
		if (sv->policy_wd >= 0) {
			slog(sv, LOG_INFO_, "%s: the folder is back: watching it again",
			     sv->policy_dir);
			sv->changed_token_file = false;
			arm(sv->reload_fd, RELOAD_DEBOUNCE_MS, false);
		}
	}
	if (sv->tfw_rebuild && sv->have_pol) {
		sv->tfw_rebuild = false;
		watch_token_files(sv, &sv->pol, false); /* every realpath() again */
	}
	if (sv->tfw_lost) {
		size_t i;

		sv->tfw_lost = false;
		for (i = 0; i < sv->ntfw; i++) {
			if (sv->tfw[i].wd >= 0 || sv->tfw[i].real)
				continue;
			sv->tfw[i].wd = inotify_add_watch(sv->ino_fd, sv->tfw[i].dir, WATCH_MASK);
			if (sv->tfw[i].wd < 0) {
				sv->tfw_lost = true; /* still gone: the next tick tries again */
				continue;
			}
			slog(sv, LOG_INFO_, "token file %s: its folder is back: watching it again",
			     sv->tfw[i].path);
			snprintf(sv->changed, sizeof(sv->changed), "%s", sv->tfw[i].path);
			sv->changed_token_file = true;
			arm(sv->reload_fd, RELOAD_DEBOUNCE_MS, false);
		}
	}
}

static void on_reload_timer(struct serve *sv, void *arg, __u32 events)
{
	struct bg_audit_who who = { .via = "file-change" };
	struct stat st;

	(void)arg;
	(void)events;
	drain(sv->reload_fd);
	if (sv->reload_deferred) {
		/* waiting for the lock: try again, as what it was (a SIGHUP keeps its sender) */
		who = sv->deferred_who;
		reload(sv, &who);
		return;
	}
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

	feed_event(sv, e, swept);
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

/*
 * Pass an event on to the subscribers. Never waits: one whose socket is full
 * misses it (counted); one that went away is dropped.
 */
static void feed_event(struct serve *sv, const struct bg_event *e, bool swept)
{
	struct bg_ev_msg m = { .ev = *e, .swept = swept };
	size_t i = 0;

	while (i < sv->nsubs) {
		if (send(sv->subs[i], &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) == sizeof(m)) {
			i++;
			continue;
		}
		if (errno == EAGAIN || errno == ENOBUFS) {
			sv->h.event_sub_lost_total++;
			i++;
			continue;
		}
		close(sv->subs[i]);
		sv->subs[i] = sv->subs[--sv->nsubs];
	}
	sv->h.event_subscribers = sv->nsubs;
}

/* Subscribers whose process went away (before an event told). */
static void prune_subs(struct serve *sv)
{
	size_t i = 0;

	while (i < sv->nsubs) {
		struct pollfd p = { .fd = sv->subs[i], .events = POLLRDHUP };

		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
			close(sv->subs[i]);
			sv->subs[i] = sv->subs[--sv->nsubs];
			continue;
		}
		i++;
	}
	sv->h.event_subscribers = sv->nsubs;
}

static void on_evsub(struct serve *sv, void *arg, __u32 events)
{
	int fd;

	(void)arg;
	(void)events;
	while ((fd = accept4(sv->evsub_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		struct ucred cred = { .pid = 0, .uid = (uid_t)-1 };
		socklen_t len = sizeof(cred);

		/* identity names and their limits: root's, or this controller's user's */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
		    (cred.uid != 0 && cred.uid != geteuid())) {
			slog(sv, LOG_WARNING_,
			     "events: refused a subscriber (uid %d): root or this controller's user only",
			     (int)cred.uid);
			close(fd);
			continue;
		}
		prune_subs(sv);
		if (sv->nsubs == EVENT_SUBS_MAX) {
			slog(sv, LOG_WARNING_,
			     "events: refused a subscriber (pid %d): %d already follow the events",
			     (int)cred.pid, EVENT_SUBS_MAX);
			close(fd);
			continue;
		}
		sv->subs[sv->nsubs++] = fd;
		sv->h.event_subscribers = sv->nsubs;
		slog(sv, LOG_INFO_, "events: pid %d follows the events", (int)cred.pid);
	}
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
		/*
		 * The connection stays queued, and epoll would wake us for it
		 * at once, forever: stop listening until the next tick.
		 */
		slog(sv, LOG_WARNING_,
		     "events: cannot accept a subscriber (%s): paused until the next tick",
		     strerror(errno));
		loop_del(sv, sv->evsub_fd);
		sv->evsub_paused = true;
	}
}

/* Once this controller reads the ring: only the reader has events to give. */
static void evsub_start(struct serve *sv)
{
	sv->evsub_fd = bg_events_sub_listen(sv->s.pin_path);
	sv->evsub_src = (struct loop_src){ sv->evsub_fd, on_evsub, NULL };
	if (sv->evsub_fd >= 0 && !loop_add_src(sv, &sv->evsub_src))
		return;
	slog(sv, LOG_WARNING_,
	     "events: `burstctl events` cannot follow them here (%s); they are in this log",
	     strerror(sv->evsub_fd < 0 ? -sv->evsub_fd : ENOSPC));
	if (sv->evsub_fd >= 0)
		close(sv->evsub_fd);
	sv->evsub_fd = -1;
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
	sv->h.bind_connections_max = BIND_CONNS_MAX;
	ret = bg_metrics_format(f, &snap, &sv->h, sv->metrics_max_ids);
	bg_snap_free(&snap);
	return ret;
}

/* ---- The tuner ---- */

/* One log line per burst changed (dimension: "burst" or "bytes_burst"). */
static void tune_log(struct serve *sv, const char *name, const char *dim, const char *from,
		     const char *to, const struct bg_tune_result *r)
{
	const struct bg_ctl *c = &sv->pol.ctl;
	bool grow = r->dir == BG_TUNE_GROW;

	slog(sv, LOG_INFO_, "tuner: identity %s %s %s -> %s (utilisation %.0f%% %s %u%%: %s)", name,
	     dim, from, to, r->util * 100, grow ? "below" : "above",
	     grow ? c->grow_below_pct : c->shrink_above_pct, grow ? "growing" : "shrinking");
}

/*
 * Write the bursts a step decided, under the state's writer lock, taken
 * without waiting: a burstctl command holding it (an apply of thousands of
 * identities, a batch) must not stall the event loop (bind socket,
 * metrics), and a step missed is made up by the next one. Each identity
 * is read again under the lock; one changed meanwhile by hand is left
 * alone until the next step. Returns the number of bursts changed.
 */
static size_t tune_write(struct serve *sv, struct bg_tune_id *t, const struct bg_identity *cur,
			 size_t n, const struct bg_tune_result *r)
{
	size_t i, logged = 0;

	if (flock(sv->s.dir_fd, LOCK_EX | LOCK_NB)) {
		sv->h.tune_skipped_locked_total++;
		if (!sv->tune_skipped++) {
			pid_t holder = bg_lock_holder(sv->s.dir_fd);
			char who[32] = "";

			if (holder)
				snprintf(who, sizeof(who), " (pid %d)", (int)holder);
			slog(sv, LOG_NOTICE_,
			     "tuner: the writer lock of %s is held by another process%s: steps skipped until it is released",
			     sv->s.pin_path, who);
		}
		return 0;
	}
	if (sv->tune_skipped)
		slog(sv, LOG_NOTICE_, "tuner: writer lock free again after %llu step%s skipped",
		     (unsigned long long)sv->tune_skipped, sv->tune_skipped == 1 ? "" : "s");
	sv->tune_skipped = 0;
	for (i = 0; i < n; i++) {
		const struct bg_identity *was = &cur[t[i].slot];
		struct bg_limits l = { .burst_pkts = t[i].new_pkts, .burst_bytes = t[i].new_bytes };
		struct bg_identity now;
		unsigned int mask = 0;
		char a[32], b[32];

		if (t[i].new_pkts != t[i].burst_pkts)
			mask |= BG_LIM_BURST;
		if (t[i].new_bytes != t[i].burst_bytes)
			mask |= BG_LIM_BYTE_BURST;
		if (!mask || bg_identity_get(&sv->s, was->name, &now) || now.id != was->id ||
		    memcmp(&now.meta, &was->meta, sizeof(now.meta)))
			continue;
		/* keeps the TATs: a smaller burst takes effect as the bucket drains */
		if (bg_identity_set(&sv->s, was->name, &l, mask, NULL))
			continue;
		if (r->dir == BG_TUNE_GROW)
			sv->h.tune_grow_total++;
		else
			sv->h.tune_shrink_total++;
		if (logged++ >= TUNE_LOG_MAX)
			continue;
		if (mask & BG_LIM_BURST) {
			snprintf(a, sizeof(a), "%llu", (unsigned long long)t[i].burst_pkts);
			snprintf(b, sizeof(b), "%llu", (unsigned long long)t[i].new_pkts);
			tune_log(sv, was->name, "burst", a, b, r);
		}
		if (mask & BG_LIM_BYTE_BURST)
			tune_log(sv, was->name, "bytes_burst",
				 bg_fmt_bytes(t[i].burst_bytes, a, sizeof(a)),
				 bg_fmt_bytes(t[i].new_bytes, b, sizeof(b)), r);
	}
	flock(sv->s.dir_fd, LOCK_UN);
	return logged;
}

/*
 * One tuner step. Reads the host's admitted traffic (batch lookups) and the
 * tuned identities only (listed at the last apply), so a state of 100,000
 * identities with a few tuned ones costs a few syscalls per interval. What
 * the tuned identities dropped is the demand that larger bursts would let
 * through (docs/tuner.md).
 */
static void tune(struct serve *sv)
{
	const struct bg_ctl *c = &sv->pol.ctl;
	struct bg_tune_cfg tc = { c->capacity_pps, c->capacity_bits, c->tune_interval_ms,
				  c->grow_below_pct, c->shrink_above_pct };
	__u64 pkts, bytes, cut_pkts = 0, cut_bytes = 0, now;
	struct bg_tune_id *t = NULL;
	struct bg_identity *cur = NULL;
	struct bg_tune_sample smp;
	struct bg_tune_result r;
	size_t i, n = 0, logged;
	struct timespec ts;

	if (!c->capacity_pps && !c->capacity_bits) {
		sv->h.tune_util = sv->h.tune_demand = -1;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (__u64)ts.tv_sec * BG_NSEC_PER_SEC + (__u64)ts.tv_nsec;
	if (bg_stats_total(&sv->s, &pkts, &bytes))
		return;
	if (sv->ntuned) {
		t = calloc(sv->ntuned, sizeof(*t));
		cur = calloc(sv->ntuned, sizeof(*cur));
		if (!t || !cur)
			goto out_free;
	}
	for (i = 0; i < sv->ntuned; i++) {
		const struct bg_id_meta *m = &cur[n].meta;
		__u64 v[6];

		if (bg_identity_get(&sv->s, sv->tuned[i], &cur[n]))
			continue; /* removed by hand meanwhile */
		if (!bg_percpu_sum(&sv->s, sv->s.stats_fd, cur[n].id, v, 6)) {
			cut_pkts += v[2]; /* dropped; shadow packets were passed */
			cut_bytes += v[3];
		}
		t[n].slot = (__u32)n;
		t[n].b = (struct bg_tune_bounds){ m->burst_min_pkts, m->burst_max_pkts,
						  m->burst_min_bytes, m->burst_max_bytes };
		t[n].burst_pkts = m->burst_pkts;
		t[n].burst_bytes = m->burst_bytes;
		n++;
	}
	if (!sv->have_prev || pkts < sv->prev_pkts || bytes < sv->prev_bytes ||
	    cut_pkts < sv->prev_cut_pkts || cut_bytes < sv->prev_cut_bytes) {
		/* first sample, another tuned list, or a slot was reused (its counters zeroed) */
		sv->have_prev = true;
		goto out;
	}
	smp = (struct bg_tune_sample){
		.dt_ns = now - sv->prev_ns,
		.passed_pkts = pkts - sv->prev_pkts,
		.passed_bytes = bytes - sv->prev_bytes,
		.cut_pkts = cut_pkts - sv->prev_cut_pkts,
		.cut_bytes = cut_bytes - sv->prev_cut_bytes,
	};
	bg_tune_step(&tc, &sv->tune_st, &smp, t, n, &r);
	sv->h.tune_util = r.util;
	sv->h.tune_demand = r.demand;
	if (r.dir == BG_TUNE_HOLD)
		goto out;
	for (i = 0; i < n; i++)
		if (t[i].new_pkts != t[i].burst_pkts || t[i].new_bytes != t[i].burst_bytes)
			break;
	if (i == n)
		goto out; /* every burst at its bound already: no lock to take */
	logged = tune_write(sv, t, cur, n, &r);
	if (logged > TUNE_LOG_MAX)
		slog(sv, LOG_INFO_, "tuner: ... and %zu more bursts %s", logged - TUNE_LOG_MAX,
		     r.dir == BG_TUNE_GROW ? "grown" : "shrunk");
out:
	sv->prev_pkts = pkts;
	sv->prev_bytes = bytes;
	sv->prev_cut_pkts = cut_pkts;
	sv->prev_cut_bytes = cut_bytes;
	sv->prev_ns = now;
out_free:
	free(t);
	free(cur);
}

/* ---- Token files: a change reloads the policy ---- */

/*
 * Watch the folders of the token files (editors and secret managers
 * replace files by renaming over them): those of the policy applied, after
 * every apply; with add, also those of a policy refused for a token file.
 */
/* One watch: the folder of path, for its last component. false: not made. */
static bool watch_one(struct serve *sv, struct tf_watch *w, const char *path)
{
	char dir[PATH_MAX], base[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	snprintf(w->dir, sizeof(w->dir), "%s", dirname(dir));
	snprintf(w->name, sizeof(w->name), "%s", basename(base));
	w->wd = inotify_add_watch(sv->ino_fd, w->dir, WATCH_MASK);
	return w->wd >= 0;
}

static void watch_token_files(struct serve *sv, const struct bg_policy *p, bool add)
{
	char real[PATH_MAX];
	struct tf_watch *v;
	size_t i, j, n = 0;

	if (!add) {
		for (i = 0; i < sv->ntfw; i++)
			if (sv->tfw[i].wd >= 0 && sv->tfw[i].wd != sv->policy_wd &&
			    sv->tfw[i].wd != sv->target_wd) /* EINVAL if shared: fine */
				inotify_rm_watch(sv->ino_fd, sv->tfw[i].wd);
		sv->ntfw = 0;
	}
	/* two per file: its folder, and its real folder if it is a symlink */
	v = realloc(sv->tfw, (sv->ntfw + 2 * p->ntoken_files + 1) * sizeof(*v));
	if (!v)
		return;
	n = sv->ntfw;
	for (i = 0; i < p->nids; i++) {
		for (j = 0; j < p->ids[i].ntoken_files; j++) {
			const char *path = p->ids[i].token_files[j].path;

			snprintf(v[n].path, sizeof(v[0].path), "%s", path);
			v[n].sig = file_sig(path);
			v[n].real = false;
			if (!watch_one(sv, &v[n], path)) {
				slog(sv, LOG_WARNING_,
				     "token file %s: cannot watch its folder (%s): trying again every tick; until then reload with SIGHUP after changing it",
				     path, strerror(errno));
				sv->tfw_lost = true; /* kept with wd -1: rewatch() retries */
			}
			n++;
			if (v[n - 1].wd < 0 || !realpath(path, real) || !strcmp(real, path))
				continue;
			v[n] = v[n - 1];
			v[n].real = true;
			if (watch_one(sv, &v[n], real) && v[n].wd != v[n - 1].wd)
				n++; /* events there under the real name, for the same path */
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
			/* out of fds: stop listening for a second (bind_sweep), not spin on it */
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
			sv->h.bind.refused++;
			continue;
		}
		bg_bindsrv_conn_init(&c->c, fd);
		c->c.log = bind_log;
		c->c.log_arg = sv;
		c->c.stats = &sv->h.bind;
		c->c.names = sv->names; /* refreshed after every apply: binds in O(1) */
		c->src = (struct loop_src){ fd, on_bind_conn, c };
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

/*
 * Once a second, from the loop (which wakes up for it while connections
 * are open): close the bind connections past their timeouts, say how many
 * connections were turned away, listen again after running out of fds.
 */
static void bind_sweep(struct serve *sv)
{
	struct bind_conn *c, *next;
	__u64 ms = mono_ms(), refused = sv->h.bind.refused - sv->bind_refused_logged;

	if (ms - sv->bind_swept_ms < BIND_SWEEP_MS)
		return;
	sv->bind_swept_ms = ms;
	bind_log_flush(sv);
	if (sv->bind_paused && sv->bind_fd >= 0 && !loop_add_src(sv, &sv->bind_src))
		sv->bind_paused = false;
	for (c = sv->conns; c; c = next) {
		next = c->next;
		if (bg_bindsrv_conn_expired(&c->c, ms))
			bind_close(sv, c);
	}
	if (refused)
		slog(sv, LOG_WARNING_,
		     "bind socket: %llu connection%s refused (busy): %d open already, the most served at once",
		     (unsigned long long)refused, refused == 1 ? "" : "s", BIND_CONNS_MAX);
	sv->bind_refused_logged = sv->h.bind.refused;
}

/* ---- Garbage collection: expired tokens, dead flows ---- */

static void gc(struct serve *sv)
{
	struct bg_token_entry *gone = NULL;
	size_t n = 0, tflows = 0, flows = 0, i;
	struct bg_clock now;
	char fp[16];
	int err;

	sv->last_gc_ms = mono_ms();
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
	rewatch(sv);
	if (sv->link_pending)
		check_links(sv);
	if (sv->evsub_paused && !loop_add_src(sv, &sv->evsub_src))
		sv->evsub_paused = false;
	tune(sv);
	if (sv->ev_on) {
		bg_events_sweep(&sv->ev);
	} else if (sv->ticks % EVENTS_RETRY_TICKS == 1) {
		err = bg_events_open(&sv->ev, &sv->s, on_event, sv, NULL);
		if (!err && loop_add(sv, bg_events_fd(&sv->ev), on_ring, NULL) == 0) {
			sv->ev_on = true;
			slog(sv, LOG_INFO_, "reading the event ring now");
			evsub_start(sv);
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
	close_fd(sv->link_fd);
	close_fd(sv->evsub_fd);
	while (sv->nsubs)
		close(sv->subs[--sv->nsubs]);
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
		{ "help", no_argument, NULL, 'h' },
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
	sv->link_fd = sv->evsub_fd = -1;
	sv->bind_fd = sv->policy_wd = sv->target_wd = -1;
	sv->metrics_max_ids = BG_METRICS_MAX_IDS_DEFAULT;
	sv->h.tune_util = sv->h.tune_demand = -1;
	sv->journal = getenv("JOURNAL_STREAM") != NULL;
	bg_log_journal = sv->journal; /* the library's errors and warnings at their priority */
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
		case 'h':
			return help();
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

	/*
	 * The controller holds token files' contents and the state's token
	 * hashing key in memory for as long as it runs: no core dump of it,
	 * and no ptrace or /proc/PID/mem by anyone but root.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		bg_warn("serve: cannot turn core dumps off (prctl: %s): a crash may write token secrets to a core file",
			strerror(errno));

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
	note_policy(sv);
	loop_add(sv, sv->sig_fd, on_signal, NULL);
	loop_add(sv, sv->ino_fd, on_inotify, NULL);
	loop_add(sv, sv->tick_fd, on_tick, NULL);
	loop_add(sv, sv->reload_fd, on_reload_timer, NULL);
	sv->link_fd = link_watch_open();
	if (sv->link_fd < 0 || loop_add(sv, sv->link_fd, on_link, NULL)) {
		slog(sv, LOG_WARNING_,
		     "interfaces: cannot follow link changes (rtnetlink: %s): an interface that appears later is attached at the next reload",
		     strerror(sv->link_fd < 0 ? -sv->link_fd : ENOSPC));
		close_fd(sv->link_fd);
		sv->link_fd = -1;
	}

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
	ret = bg_events_open(&sv->ev, &sv->s, on_event, sv, NULL);
	if (!ret) {
		sv->ev_on = true;
		loop_add(sv, bg_events_fd(&sv->ev), on_ring, NULL);
		evsub_start(sv);
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

	/*
	 * 6. the loop. From here nothing waits for the state's writer lock:
	 * a command may hold it for long (a `batch` of 100k lines), and the
	 * bind socket, metrics and events must go on; what needs it retries.
	 */
	bg_lock_nowait = 1;

	while (!sv->stop) {
		struct epoll_event evs[16];
		int timeout = sv->ms ? bg_metrics_timeout_ms(sv->ms) : -1, n, i;

		/* open bind connections have timeouts: wake up to enforce them (and to log) */
		if ((sv->conns || sv->bind_paused || sv->bind_log_dropped ||
		     sv->h.bind.refused != sv->bind_refused_logged) &&
		    (timeout < 0 || timeout > (int)BIND_SWEEP_MS))
			timeout = (int)BIND_SWEEP_MS;

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
		bind_sweep(sv);
		free_dead_conns(sv); /* after the round: its events may name them */
		if (sv->ms && n == 0)
			bg_metrics_run(sv->ms); /* MHD's own timeouts */
	}
	sd_notify_("STOPPING=1");
out:
	cleanup(sv);
	return ret;
}
