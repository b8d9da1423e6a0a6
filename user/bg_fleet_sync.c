// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Fleet sync: leases from the engine into the local buckets (bg_fleet_sync.h). */
#include "bg_fleet_sync.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "bg_fleet_lua.h" /* bg_fleet_lua[]: user/bg_fleet.lua, made by the Makefile */
#include "bg_log.h"
#include "bg_redis.h"

#define RECONNECT_MAX_MS 5000U /* retry a lost engine at most this far apart */
#define SCRIPT_KEY_PREFIX "burstgate:{"

/* Replies that are not an identity's lease. */
enum { TAG_AUTH = -1, TAG_LOAD = -2, TAG_LEAVE = -3 };

struct fid {
	char name[BG_NAME_LEN];
	struct bg_limits global;
	__u32 slot;
	__u64 prev_pkts, prev_bytes, prev_ns; /* admitted + dropped, summed over CPUs */
	bool have_prev;
	__u64 demand_ppm;
	__u64 traffic[4]; /* admitted pps, admitted bit/s, dropped pps, dropped bit/s */
	__u64 prev_adm_pkts, prev_adm_bytes;
	struct bg_fleet_rec rec;
	__u32 applied_ppm; /* the share written in the buckets */
	bool disagree_logged;
};

struct leaving {
	char name[BG_NAME_LEN];
	__u32 share_ppm;
};

struct bg_fleet_sync {
	struct bg_state *s;
	int rec_fd, host_fd, timer_fd;
	struct bg_fleet_hooks hooks;
	struct bg_fleet_cfg cfg;
	struct bg_redis_addr addr;
	char password[512];
	struct bg_redis *r;
	int watched_fd;
	bool watched_wr;
	char sha[48]; /* the script's, once loaded */
	struct fid *ids;
	size_t nids;
	struct leaving *leave;
	size_t nleave;
	/* the batch in flight: one tag per reply expected */
	int *tags;
	size_t ntags, tags_cap, got;
	__u64 sent_us;
	bool inflight, batch_failed;
	bool locked; /* the writer lock is held for this round of writes */
	bool lock_tried;
	/* the link to the engine */
	__u64 next_connect_ms;
	__u32 backoff_ms;
	char last_err[256];
	__u32 logged_modes[BG_FLEET_MODE_MAX]; /* identities per mode at the last log */
	struct bg_fleet_stats st;
};

__attribute__((format(printf, 3, 4))) static void flog(struct bg_fleet_sync *fs, int prio,
						       const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!fs->hooks.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fs->hooks.log(fs->hooks.arg, prio, line);
}

static __u64 now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000 + (__u64)ts.tv_nsec / 1000;
}

/* ---- Localize: a policy's global identities, as this host enforces them ---- */

static unsigned int limits_mask(const struct bg_limits *l)
{
	unsigned int m = BG_LIM_ACTION;

	if (l->rate_pps)
		m |= BG_LIM_RATE | BG_LIM_BURST;
	if (l->byte_rate_bits)
		m |= BG_LIM_BYTE_RATE | BG_LIM_BYTE_BURST;
	return m;
}

static struct bg_pol_identity *pol_id(struct bg_policy *p, size_t i)
{
	return i < p->nids ? &p->ids[i] : &p->deflt;
}

int bg_fleet_localize(struct bg_state *s, struct bg_policy *p, bool write)
{
	char(*names)[BG_NAME_LEN] = NULL;
	struct bg_fleet_rec *recs = NULL;
	__u32 members = 0;
	__u64 now = bg_fleet_now_ms();
	int rec_fd = -1, host_fd = -1, err;
	size_t i, j, n = 0;

	err = bg_fleet_maps_open(s, write && p->nglobal, &rec_fd, &host_fd);
	if (err == -ENOENT)
		err = 0; /* no fleet here yet: every global identity starts */
	if (err)
		return err;
	if (rec_fd >= 0) {
		err = bg_fleet_rec_list(rec_fd, &names, &recs, &n);
		if (err)
			goto out;
	}
	/* the membership this host knew last: its largest N */
	for (j = 0; j < n; j++)
		if (recs[j].members > members)
			members = recs[j].members;
	for (i = 0; i <= p->nids; i++) {
		struct bg_pol_identity *w = pol_id(p, i);
		struct bg_fleet_rec r = {};
		struct bg_limits lim, cur = { .action = w->lim.action };
		char e[256];

		if (!w->global)
			continue;
		for (j = 0; j < n && strcmp(names[j], w->name); j++)
			;
		if (j < n) {
			r = recs[j];
			/* a controller away for a while: its leases may have run out */
			bg_fleet_age(&p->fleet, &r, false, now);
		} else {
			bg_fleet_start(&p->fleet, &r, members, now);
		}
		r.global = w->glim;
		bg_fleet_limits(&w->glim, r.share_ppm, &lim);
		err = bg_limits_apply(&cur, &lim, limits_mask(&lim), &w->cfg, e, sizeof(e));
		if (err) {
			bg_err("fleet: identity %s: its share: %s", w->name, e);
			goto out;
		}
		w->lim = cur;
		if (write && rec_fd >= 0 && (err = bg_fleet_rec_put(rec_fd, w->name, &r))) {
			bg_err("fleet: record identity %s: %s", w->name, strerror(-err));
			goto out;
		}
	}
	if (write && host_fd >= 0) {
		struct bg_fleet_host h = {};

		bg_fleet_host_get(host_fd, &h);
		h.cfg = p->fleet;
		if (!p->nglobal)
			h.cfg.engine[0] = '\0';
		bg_fleet_host_put(host_fd, &h);
	}
	/* identities no longer global: no record (the controller releases them) */
	for (j = 0; write && j < n; j++) {
		for (i = 0; i <= p->nids; i++)
			if (pol_id(p, i)->global && !strcmp(pol_id(p, i)->name, names[j]))
				break;
		if (i > p->nids)
			bg_fleet_rec_del(rec_fd, names[j]);
	}
out:
	free(names);
	free(recs);
	if (rec_fd >= 0)
		close(rec_fd);
	if (host_fd >= 0)
		close(host_fd);
	return err;
}

int bg_fleet_to_policy(const struct bg_state *s, struct bg_policy *p)
{
	struct bg_fleet_host h;
	struct bg_fleet_rec r;
	int rec_fd, host_fd, err;
	size_t i;

	err = bg_fleet_maps_open(s, false, &rec_fd, &host_fd);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	if (!bg_fleet_host_get(host_fd, &h) && h.cfg.engine[0])
		p->fleet = h.cfg;
	for (i = 0; p->fleet.engine[0] && i <= p->nids; i++) {
		struct bg_pol_identity *w = pol_id(p, i);

		if (bg_fleet_rec_get(rec_fd, w->name, &r))
			continue;
		w->global = true;
		w->glim = r.global;
		w->glim.action = w->lim.action;
		p->nglobal++;
	}
	close(rec_fd);
	close(host_fd);
	return 0;
}

/* ---- Writing shares into the buckets ---- */

/* The writer lock, tried once per round of writes (never waited for). */
static bool lock_once(struct bg_fleet_sync *fs)
{
	if (!fs->lock_tried) {
		fs->lock_tried = true;
		fs->locked = flock(fs->s->dir_fd, LOCK_EX | LOCK_NB) == 0;
	}
	return fs->locked;
}

static void unlock_round(struct bg_fleet_sync *fs)
{
	if (fs->locked)
		flock(fs->s->dir_fd, LOCK_UN);
	fs->locked = fs->lock_tried = false;
}

/*
 * Put share into f's buckets. A smaller share is written at once, even
 * while another burstctl holds the writer lock: the engine already counts
 * the smaller one, and waiting would let this host exceed it (one map
 * element, its tokens moved by compare-and-swap). A larger one waits for
 * the lock, and is skipped while it is within 1% of what is in force
 * (the engine counts the lease: not using all of it is safe).
 */
static void apply_share(struct bg_fleet_sync *fs, struct fid *f, __u32 share)
{
	struct bg_limits lim;

	if (share == f->applied_ppm)
		goto out;
	if (share > f->applied_ppm) {
		if (share < BG_FLEET_PPM && share - f->applied_ppm < f->applied_ppm / 100 + 100)
			goto out;
		if (!lock_once(fs)) {
			fs->st.lease_writes_deferred_total++;
			goto out;
		}
	} else {
		lock_once(fs);
	}
	bg_fleet_limits(&f->global, share, &lim);
	if (bg_identity_set_strict(fs->s, f->name, &lim, limits_mask(&lim), NULL))
		goto out; /* said why; tried again at the next change */
	f->applied_ppm = share;
	fs->st.leases_total++;
out:
	f->rec.share_ppm = f->applied_ppm;
	if (fs->rec_fd >= 0)
		bg_fleet_rec_put(fs->rec_fd, f->name, &f->rec);
}

/* ---- The connection ---- */

static void watch(struct bg_fleet_sync *fs)
{
	int fd = bg_redis_fd(fs->r);
	bool wr = bg_redis_want_write(fs->r);

	if (fd == fs->watched_fd && wr == fs->watched_wr)
		return;
	if (fs->hooks.watch)
		fs->hooks.watch(fs->hooks.arg, fs->watched_fd, fd, wr);
	fs->watched_fd = fd;
	fs->watched_wr = wr;
}

static void put_host(struct bg_fleet_sync *fs)
{
	struct bg_fleet_host h = {};

	h.cfg = fs->cfg;
	h.link = fs->st.link;
	h.pid = (__u32)getpid();
	h.link_since_ms = fs->st.link_since_ms;
	h.last_ok_ms = fs->st.last_ok_ms;
	h.syncs_total = fs->st.syncs_total;
	h.sync_errors_total = fs->st.sync_errors_total;
	h.sync_us = fs->st.sync_us;
	h.identities = (__u32)fs->nids;
	if (fs->host_fd >= 0)
		bg_fleet_host_put(fs->host_fd, &h);
}

static void set_link(struct bg_fleet_sync *fs, __u32 link, const char *why)
{
	__u64 now = bg_fleet_now_ms();

	if (link == fs->st.link)
		return;
	if (link == BG_FLEET_LINK_DOWN)
		flog(fs, BG_FLEET_LOG_WARNING,
		     "fleet: engine %s unreachable (%s): leases kept until they end (at most %.1fs), then %s",
		     fs->cfg.engine, why, 2.0 * fs->cfg.lease_ms / 1000,
		     fs->cfg.on_down == BG_FLEET_DOWN_OPEN ?
			     "each global identity gets its whole limit here (on_engine_down: open)" :
			     "safe mode: R/N per host");
	else if (fs->st.link == BG_FLEET_LINK_DOWN)
		flog(fs, BG_FLEET_LOG_NOTICE, "fleet: engine %s answers again after %.1fs",
		     fs->cfg.engine, (double)(now - fs->st.link_since_ms) / 1000);
	else
		flog(fs, BG_FLEET_LOG_NOTICE,
		     "fleet: engine %s answers (host %s, %zu global identit%s)", fs->cfg.engine,
		     fs->cfg.host, fs->nids, fs->nids == 1 ? "y" : "ies");
	fs->st.link = link;
	fs->st.link_since_ms = now;
}

static void fail_link(struct bg_fleet_sync *fs, const char *why)
{
	int old = fs->watched_fd;

	if (fs->inflight)
		fs->st.sync_errors_total++;
	fs->inflight = false;
	fs->ntags = fs->got = 0;
	bg_redis_close(fs->r);
	if (old >= 0 && fs->hooks.watch)
		fs->hooks.watch(fs->hooks.arg, old, -1, false);
	fs->watched_fd = -1;
	fs->watched_wr = false;
	snprintf(fs->last_err, sizeof(fs->last_err), "%s", why);
	set_link(fs, BG_FLEET_LINK_DOWN, why);
	/*
	 * Retry sooner than a lease: a host back within the member timeout
	 * rejoins before the engine forgets it (docs/fleet.md, partitions).
	 */
	fs->backoff_ms = fs->backoff_ms ? fs->backoff_ms * 2 : fs->cfg.interval_ms;
	if (fs->backoff_ms > RECONNECT_MAX_MS)
		fs->backoff_ms = RECONNECT_MAX_MS;
	if (fs->backoff_ms > fs->cfg.lease_ms)
		fs->backoff_ms = fs->cfg.lease_ms;
	fs->next_connect_ms = bg_fleet_now_ms() + fs->backoff_ms;
	put_host(fs);
}

static int push_tag(struct bg_fleet_sync *fs, int tag)
{
	if (fs->ntags == fs->tags_cap) {
		size_t cap = fs->tags_cap ? fs->tags_cap * 2 : 64;
		int *t = realloc(fs->tags, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		fs->tags = t;
		fs->tags_cap = cap;
	}
	fs->tags[fs->ntags++] = tag;
	return 0;
}

static int send_cmd(struct bg_fleet_sync *fs, int tag, int argc, const char **argv)
{
	size_t lens[16];
	int i, err;

	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	err = bg_redis_append(fs->r, argc, argv, lens);
	return err ? err : push_tag(fs, tag);
}

/* AUTH (if a password is set) and SCRIPT LOAD: the start of every connection. */
static int send_hello(struct bg_fleet_sync *fs)
{
	const char *auth[] = { "AUTH", fs->password };
	const char *load[] = { "SCRIPT", "LOAD", bg_fleet_lua };
	int err = 0;

	if (fs->password[0])
		err = send_cmd(fs, TAG_AUTH, 2, auth);
	return err ? err : send_cmd(fs, TAG_LOAD, 3, load);
}

static void connect_engine(struct bg_fleet_sync *fs)
{
	char err[256];

	if (bg_redis_connect(fs->r, err, sizeof(err))) {
		fail_link(fs, err);
		return;
	}
	fs->ntags = fs->got = 0;
	fs->inflight = true; /* the hello is a batch of its own */
	fs->batch_failed = false;
	fs->sent_us = now_us();
	if (send_hello(fs)) {
		fail_link(fs, "out of memory");
		return;
	}
	watch(fs);
}

/* ---- The batch ---- */

static void script_key(const char *name, char *key, size_t len)
{
	snprintf(key, len, SCRIPT_KEY_PREFIX "%s}", name);
}

static int send_lease(struct bg_fleet_sync *fs, int tag, const char *name, __u64 demand,
		      __u32 inforce, const char *op, __u32 members, const struct bg_limits *g,
		      const __u64 *traffic)
{
	char key[BG_NAME_LEN + 16], d[24], f[16], lease[16], member[16], floor[16], n[16], lim[96],
		tr[96];
	const char *argv[] = { "EVALSHA", fs->sha, "1",	  key, fs->cfg.host, d, f, op,
			       lease,	  member,  floor, n,   lim,	     tr };

	script_key(name, key, sizeof(key));
	snprintf(d, sizeof(d), "%llu", (unsigned long long)demand);
	snprintf(f, sizeof(f), "%u", inforce);
	snprintf(lease, sizeof(lease), "%u", fs->cfg.lease_ms);
	snprintf(member, sizeof(member), "%u", fs->cfg.member_timeout_ms);
	snprintf(floor, sizeof(floor), "%u", fs->cfg.floor_ppm);
	snprintf(n, sizeof(n), "%u", members);
	snprintf(lim, sizeof(lim), "%llu:%llu:%llu:%llu", (unsigned long long)g->rate_pps,
		 (unsigned long long)g->burst_pkts, (unsigned long long)g->byte_rate_bits,
		 (unsigned long long)g->burst_bytes);
	snprintf(tr, sizeof(tr), "%llu %llu %llu %llu", (unsigned long long)traffic[0],
		 (unsigned long long)traffic[1], (unsigned long long)traffic[2],
		 (unsigned long long)traffic[3]);
	return send_cmd(fs, tag, 14, argv);
}

/* Is f's lease worth a call in this batch? Traffic, no lease, or one soon due. */
static bool due(const struct bg_fleet_sync *fs, const struct fid *f, __u64 now)
{
	return f->demand_ppm || f->rec.mode != BG_FLEET_LEASE ||
	       now + 2ULL * fs->cfg.interval_ms >= f->rec.lease_ms + fs->cfg.lease_ms;
}

static void send_batch(struct bg_fleet_sync *fs)
{
	static const __u64 none[4];
	__u64 now = bg_fleet_now_ms();
	size_t i, n = 0;
	int err = 0;

	fs->ntags = fs->got = 0;
	fs->batch_failed = false;
	for (i = 0; !err && i < fs->nleave; i++)
		err = send_lease(fs, TAG_LEAVE, fs->leave[i].name, 0, fs->leave[i].share_ppm,
				 "leave", 0, &(struct bg_limits){}, none);
	fs->nleave = 0;
	for (i = 0; !err && i < fs->nids; i++) {
		struct fid *f = &fs->ids[i];

		if (!due(fs, f, now))
			continue;
		err = send_lease(fs, (int)i, f->name, f->demand_ppm, f->applied_ppm, "sync",
				 f->rec.members, &f->global, f->traffic);
		n++;
	}
	if (err) {
		fail_link(fs, "out of memory");
		return;
	}
	if (!fs->ntags)
		return;
	fs->inflight = true;
	fs->sent_us = now_us();
	fs->st.syncs_total++;
	watch(fs);
}

static void on_lease(struct bg_fleet_sync *fs, struct fid *f, const redisReply *rp)
{
	__u64 now = bg_fleet_now_ms();
	long long v[4];
	size_t i;

	if (rp->type != REDIS_REPLY_ARRAY || rp->elements != 4)
		goto bad;
	for (i = 0; i < 4; i++) {
		if (rp->element[i]->type != REDIS_REPLY_INTEGER)
			goto bad;
		v[i] = rp->element[i]->integer;
	}
	if (v[0] < 0 || v[0] > BG_FLEET_PPM || v[1] < 1)
		goto bad;
	if ((v[3] & 2) && !f->disagree_logged) {
		flog(fs, BG_FLEET_LOG_WARNING,
		     "fleet: identity %s: the hosts' policies give it different limits: the fleet may admit up to the largest (make them the same)",
		     f->name);
		f->disagree_logged = true;
	} else if (!(v[3] & 2)) {
		f->disagree_logged = false;
	}
	bg_fleet_on_lease(&f->rec, (__u32)v[0], (__u32)v[1], fs->cfg.lease_ms, now);
	f->rec.demand_ppm = f->demand_ppm;
	if ((__u32)v[1] > fs->st.members)
		fs->st.members = (__u32)v[1];
	apply_share(fs, f, f->rec.share_ppm);
	return;
bad:
	fs->batch_failed = true;
	snprintf(fs->last_err, sizeof(fs->last_err), "unexpected reply to the lease script");
}

static void on_reply(void *arg, redisReply *rp)
{
	struct bg_fleet_sync *fs = arg;
	int tag;

	if (fs->got >= fs->ntags)
		return; /* nothing was asked: not ours */
	tag = fs->tags[fs->got++];
	if (rp->type == REDIS_REPLY_ERROR) {
		fs->batch_failed = true;
		snprintf(fs->last_err, sizeof(fs->last_err), "%s", rp->str);
		if (!strncmp(rp->str, "NOSCRIPT", 8))
			fs->sha[0] = '\0'; /* flushed or failed over: load it again */
	} else if (tag == TAG_LOAD) {
		if (rp->type == REDIS_REPLY_STRING && rp->len < sizeof(fs->sha))
			snprintf(fs->sha, sizeof(fs->sha), "%s", rp->str);
	} else if (tag >= 0 && (size_t)tag < fs->nids) {
		on_lease(fs, &fs->ids[tag], rp);
	}
}

static void batch_done(struct bg_fleet_sync *fs)
{
	fs->inflight = false;
	unlock_round(fs);
	if (fs->batch_failed) {
		fs->st.sync_errors_total++;
		/* an error reply: the engine is there but refuses (AUTH, OOM, a read-only replica) */
		set_link(fs, BG_FLEET_LINK_DOWN, fs->last_err);
	} else {
		fs->st.sync_us = now_us() - fs->sent_us;
		fs->st.last_ok_ms = bg_fleet_now_ms();
		fs->backoff_ms = 0;
		set_link(fs, BG_FLEET_LINK_UP, NULL);
	}
	put_host(fs);
}

void bg_fleet_sync_on_io(struct bg_fleet_sync *fs)
{
	char err[256];
	bool first = !fs->sha[0];

	if (!bg_redis_connected(fs->r))
		return;
	if (bg_redis_io(fs->r, on_reply, fs, err, sizeof(err))) {
		fail_link(fs, err);
		return;
	}
	if (fs->inflight && fs->got >= fs->ntags) {
		batch_done(fs);
		/* the first connection learns the script's sha only now: sync at once */
		if (first && fs->sha[0] && fs->st.link == BG_FLEET_LINK_UP)
			send_batch(fs);
	}
	watch(fs);
}

/* ---- Every interval ---- */

static void measure(struct bg_fleet_sync *fs, struct fid *f, __u64 now_ns)
{
	struct bg_id_stats st;
	__u64 pkts, bytes, dt;

	if (bg_percpu_sum(fs->s, fs->s->stats_fd, f->slot, (__u64 *)&st, 6))
		return;
	pkts = st.passed_pkts + st.dropped_pkts;
	bytes = st.passed_bytes + st.dropped_bytes;
	if (f->have_prev && pkts >= f->prev_pkts && now_ns > f->prev_ns) {
		dt = now_ns - f->prev_ns;
		f->demand_ppm = bg_fleet_demand_ppm(&f->global, pkts - f->prev_pkts,
						    bytes - f->prev_bytes, dt);
		f->traffic[0] = (st.passed_pkts - f->prev_adm_pkts) * 1000000000ULL / dt;
		f->traffic[1] = (st.passed_bytes - f->prev_adm_bytes) * 8 * 1000000000ULL / dt;
		f->traffic[2] = (pkts - f->prev_pkts) * 1000000000ULL / dt - f->traffic[0];
		f->traffic[3] = (bytes - f->prev_bytes) * 8 * 1000000000ULL / dt - f->traffic[1];
	}
	f->prev_pkts = pkts;
	f->prev_bytes = bytes;
	f->prev_adm_pkts = st.passed_pkts;
	f->prev_adm_bytes = st.passed_bytes;
	f->prev_ns = now_ns;
	f->have_prev = true;
}

/* One line per change of how many identities are in each mode off lease. */
static void log_modes(struct bg_fleet_sync *fs)
{
	__u32 n[BG_FLEET_MODE_MAX] = {};
	size_t i;

	for (i = 0; i < fs->nids; i++)
		n[fs->ids[i].rec.mode < BG_FLEET_MODE_MAX ? fs->ids[i].rec.mode : 0]++;
	if (n[BG_FLEET_SAFE] > fs->logged_modes[BG_FLEET_SAFE])
		flog(fs, BG_FLEET_LOG_WARNING,
		     "fleet: %u global identit%s in safe mode: no lease renewed in time, each limited here to R/N of the last membership",
		     n[BG_FLEET_SAFE], n[BG_FLEET_SAFE] == 1 ? "y" : "ies");
	if (n[BG_FLEET_OPEN] > fs->logged_modes[BG_FLEET_OPEN])
		flog(fs, BG_FLEET_LOG_WARNING,
		     "fleet: %u global identit%s open: no lease renewed in time, each gets its whole limit here (on_engine_down: open)",
		     n[BG_FLEET_OPEN], n[BG_FLEET_OPEN] == 1 ? "y" : "ies");
	if (n[BG_FLEET_LEASE] == fs->nids && fs->nids &&
	    fs->logged_modes[BG_FLEET_LEASE] != n[BG_FLEET_LEASE] &&
	    (fs->logged_modes[BG_FLEET_SAFE] || fs->logged_modes[BG_FLEET_OPEN] ||
	     fs->logged_modes[BG_FLEET_HELD]))
		flog(fs, BG_FLEET_LOG_NOTICE, "fleet: every global identity is on a lease again");
	memcpy(fs->logged_modes, n, sizeof(n));
	memcpy(fs->st.by_mode, n, sizeof(n));
}

void bg_fleet_sync_on_timer(struct bg_fleet_sync *fs)
{
	__u64 now = bg_fleet_now_ms(), exp;
	bool ok;
	size_t i;

	if (read(fs->timer_fd, &exp, sizeof(exp)) < 0)
		exp = 0; /* woken for nothing: carry on */
	/* a batch not answered within an interval: the engine is not there */
	if (fs->inflight && now_us() - fs->sent_us > (__u64)fs->cfg.interval_ms * 1000)
		fail_link(fs, "no answer within the sync interval");
	ok = fs->st.link == BG_FLEET_LINK_UP;
	for (i = 0; i < fs->nids; i++) {
		struct fid *f = &fs->ids[i];

		__u32 mode = f->rec.mode;

		measure(fs, f, now * 1000000ULL);
		bg_fleet_age(&fs->cfg, &f->rec, ok, now);
		if (f->rec.share_ppm != f->applied_ppm)
			apply_share(fs, f, f->rec.share_ppm);
		else if (f->rec.mode != mode && fs->rec_fd >= 0)
			bg_fleet_rec_put(fs->rec_fd, f->name, &f->rec); /* for status, top */
	}
	unlock_round(fs);
	log_modes(fs);
	if (!bg_redis_connected(fs->r)) {
		if (now >= fs->next_connect_ms)
			connect_engine(fs);
	} else if (!fs->inflight && fs->sha[0]) {
		send_batch(fs);
	} else if (!fs->inflight) {
		/* connected, the script not loaded (NOSCRIPT): load it, sync at the answer */
		fs->ntags = fs->got = 0;
		fs->inflight = true;
		fs->batch_failed = false;
		fs->sent_us = now_us();
		if (send_hello(fs))
			fail_link(fs, "out of memory");
		watch(fs);
	}
	put_host(fs);
}

/* ---- Policy ---- */

static int find(const struct fid *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return (int)i;
	return -1;
}

int bg_fleet_sync_set_policy(struct bg_fleet_sync *fs, const struct bg_policy *p)
{
	struct bg_fleet_cfg old = fs->cfg;
	struct fid *ids;
	struct leaving *lv;
	size_t i, n = 0;
	int j;

	ids = calloc(p->nids + 1, sizeof(*ids));
	lv = realloc(fs->leave, (fs->nleave + fs->nids + 1) * sizeof(*lv));
	if (!ids || !lv) {
		free(ids);
		if (lv)
			fs->leave = lv;
		return -ENOMEM;
	}
	fs->leave = lv;
	for (i = 0; i <= p->nids; i++) {
		const struct bg_pol_identity *w = i < p->nids ? &p->ids[i] : &p->deflt;
		struct bg_identity cur;
		struct fid *f = &ids[n];

		if (!w->global)
			continue;
		j = find(fs->ids, fs->nids, w->name);
		if (j >= 0)
			*f = fs->ids[j]; /* keeps its counters' last sample */
		snprintf(f->name, sizeof(f->name), "%s", w->name);
		f->global = w->glim;
		if (bg_identity_get(fs->s, w->name, &cur) == 0) {
			if (f->slot != cur.id)
				f->have_prev = false;
			f->slot = cur.id;
		}
		if (fs->rec_fd < 0 || bg_fleet_rec_get(fs->rec_fd, w->name, &f->rec))
			memset(&f->rec, 0, sizeof(f->rec));
		f->applied_ppm = f->rec.share_ppm;
		n++;
	}
	/* released at the next batch: the other hosts need not wait for the lease to end */
	for (i = 0; i < fs->nids; i++)
		if (find(ids, n, fs->ids[i].name) < 0) {
			snprintf(fs->leave[fs->nleave].name, BG_NAME_LEN, "%s", fs->ids[i].name);
			fs->leave[fs->nleave++].share_ppm = 0;
		}
	/* the batch in flight answers for the old list: its replies are dropped */
	for (i = 0; i < fs->ntags; i++)
		if (fs->tags[i] >= 0)
			fs->tags[i] = find(ids, n, fs->ids[fs->tags[i]].name);
	free(fs->ids);
	fs->ids = ids;
	fs->nids = n;
	fs->cfg = p->fleet;
	/* the modes as they are now are not news: only changes are logged */
	memset(fs->logged_modes, 0, sizeof(fs->logged_modes));
	for (i = 0; i < n; i++)
		fs->logged_modes[ids[i].rec.mode < BG_FLEET_MODE_MAX ? ids[i].rec.mode : 0]++;
	if (strcmp(old.engine, fs->cfg.engine) || strcmp(old.host, fs->cfg.host) ||
	    strcmp(old.password_file, fs->cfg.password_file)) {
		/* another engine or host id: start over (bg_fleet_sync_new checked it parses) */
		fs->nleave = 0;
		return -EAGAIN;
	}
	if (old.interval_ms != fs->cfg.interval_ms) {
		struct itimerspec it = {};

		it.it_value.tv_sec = fs->cfg.interval_ms / 1000;
		it.it_value.tv_nsec = (long)(fs->cfg.interval_ms % 1000) * 1000000L;
		it.it_interval = it.it_value;
		timerfd_settime(fs->timer_fd, 0, &it, NULL);
	}
	put_host(fs);
	return 0;
}

/* ---- Life ---- */

static int read_password(const char *path, char *buf, size_t len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f) {
		snprintf(err, errlen, "fleet.password_file %s: %s", path, strerror(errno));
		return -errno;
	}
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0'; /* the first line */
	if (!buf[0]) {
		snprintf(err, errlen, "fleet.password_file %s: empty", path);
		return -EINVAL;
	}
	return 0;
}

int bg_fleet_sync_new(struct bg_state *s, const struct bg_policy *p,
		      const struct bg_fleet_hooks *hooks, struct bg_fleet_sync **out, char *err,
		      size_t errlen)
{
	struct bg_fleet_sync *fs = calloc(1, sizeof(*fs));
	struct itimerspec it = {};
	int ret;

	*out = NULL;
	if (!fs)
		return -ENOMEM;
	fs->s = s;
	fs->hooks = *hooks;
	fs->cfg = p->fleet;
	fs->timer_fd = fs->rec_fd = fs->host_fd = fs->watched_fd = -1;
	ret = bg_redis_parse_addr(p->fleet.engine, &fs->addr, err, errlen);
	if (!ret && p->fleet.password_file[0])
		ret = read_password(p->fleet.password_file, fs->password, sizeof(fs->password), err,
				    errlen);
	if (ret)
		goto fail;
	ret = bg_fleet_maps_open(s, true, &fs->rec_fd, &fs->host_fd);
	if (ret) {
		snprintf(err, errlen, "fleet: the bg_fleet maps: %s", strerror(-ret));
		goto fail;
	}
	fs->r = bg_redis_new(&fs->addr);
	fs->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!fs->r || fs->timer_fd < 0) {
		ret = fs->r ? -errno : -ENOMEM;
		snprintf(err, errlen, "fleet: %s", strerror(-ret));
		goto fail;
	}
	it.it_value.tv_nsec = 1000000; /* the first sync at once */
	it.it_interval.tv_sec = fs->cfg.interval_ms / 1000;
	it.it_interval.tv_nsec = (long)(fs->cfg.interval_ms % 1000) * 1000000L;
	timerfd_settime(fs->timer_fd, 0, &it, NULL);
	fs->st.on = true;
	ret = bg_fleet_sync_set_policy(fs, p);
	if (ret) {
		snprintf(err, errlen, "fleet: %s", strerror(-ret));
		goto fail;
	}
	*out = fs;
	return 0;
fail:
	bg_fleet_sync_free(fs);
	return ret;
}

int bg_fleet_sync_timer_fd(const struct bg_fleet_sync *fs)
{
	return fs->timer_fd;
}

void bg_fleet_sync_stats(const struct bg_fleet_sync *fs, struct bg_fleet_stats *st)
{
	__u64 now = bg_fleet_now_ms();
	size_t i;

	*st = fs->st;
	st->identities = (__u32)fs->nids;
	st->oldest_lease_ms = 0;
	for (i = 0; i < fs->nids; i++) {
		const struct bg_fleet_rec *r = &fs->ids[i].rec;

		if ((r->mode == BG_FLEET_LEASE || r->mode == BG_FLEET_HELD) &&
		    now - r->lease_ms > st->oldest_lease_ms)
			st->oldest_lease_ms = now - r->lease_ms;
	}
}

void bg_fleet_sync_leave(struct bg_fleet_sync *fs, int timeout_ms)
{
	static const __u64 none[4];
	__u64 until = bg_fleet_now_ms() + (__u64)timeout_ms;
	struct pollfd pfd;
	size_t i;
	int err = 0;

	/* here first: from now on this host enforces its safe share, whatever happens */
	for (i = 0; i < fs->nids; i++) {
		struct fid *f = &fs->ids[i];
		__u32 safe = bg_fleet_safe_ppm(f->rec.members ? f->rec.members : fs->cfg.hosts);

		f->rec.mode = BG_FLEET_SAFE;
		f->rec.mode_since_ms = bg_fleet_now_ms();
		apply_share(fs, f, safe < f->applied_ppm ? safe : f->applied_ppm);
	}
	unlock_round(fs);
	if (!bg_redis_connected(fs->r) || !fs->sha[0] || fs->inflight || !fs->nids)
		return;
	fs->ntags = fs->got = 0;
	for (i = 0; !err && i < fs->nids; i++)
		err = send_lease(fs, TAG_LEAVE, fs->ids[i].name, 0, fs->ids[i].applied_ppm, "leave",
				 0, &fs->ids[i].global, none);
	fs->inflight = !err;
	while (fs->inflight && fs->got < fs->ntags && bg_fleet_now_ms() < until) {
		char e[256];

		pfd.fd = bg_redis_fd(fs->r);
		pfd.events = POLLIN | (bg_redis_want_write(fs->r) ? POLLOUT : 0);
		if (poll(&pfd, 1, (int)(until - bg_fleet_now_ms())) <= 0)
			break;
		if (bg_redis_io(fs->r, on_reply, fs, e, sizeof(e)))
			break;
	}
	if (fs->inflight && fs->got >= fs->ntags)
		flog(fs, BG_FLEET_LOG_NOTICE,
		     "fleet: left the fleet: %zu global identit%s at the safe share here, the rest of the leases free for the other hosts",
		     fs->nids, fs->nids == 1 ? "y" : "ies");
	fs->inflight = false;
}

void bg_fleet_sync_free(struct bg_fleet_sync *fs)
{
	if (!fs)
		return;
	if (fs->hooks.watch && fs->watched_fd >= 0)
		fs->hooks.watch(fs->hooks.arg, fs->watched_fd, -1, false);
	bg_redis_free(fs->r);
	if (fs->timer_fd >= 0)
		close(fs->timer_fd);
	if (fs->rec_fd >= 0)
		close(fs->rec_fd);
	if (fs->host_fd >= 0)
		close(fs->host_fd);
	free(fs->ids);
	free(fs->leave);
	free(fs->tags);
	free(fs);
}
