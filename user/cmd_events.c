// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* burstctl events: identities starting and ceasing to be limited, live */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bg_events.h"
#include "bg_identity.h"
#include "bg_log.h"
#include "bg_out.h"
#include "bg_state.h"
#include "bg_time.h"
#include "bg_units.h"
#include "burstctl.h"

static volatile sig_atomic_t stop;

static void on_sigint(int sig)
{
	(void)sig;
	stop = 1;
}

struct ev_ctx {
	const struct bg_state *s;
	unsigned long count;
	unsigned long max; /* 0: no limit */
	__u64 from_ns; /* CLOCK_MONOTONIC: older events (still in the ring) are not shown */
	unsigned long older; /* how many were not */
};

static __u64 clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (__u64)ts.tv_sec * BG_NSEC_PER_SEC + (__u64)ts.tv_nsec;
}

/* The identity's name now, by slot (events are rare: a lookup each is fine). */
static void slot_name(const struct bg_state *s, __u32 id, char *buf, size_t len)
{
	struct bg_identity *ids;
	size_t n, i;

	snprintf(buf, len, "(slot %u)", id);
	if (bg_identity_list(s, &ids, &n))
		return;
	for (i = 0; i < n; i++)
		if (ids[i].id == id)
			snprintf(buf, len, "%s", ids[i].name);
	free(ids);
}

static void print_event(void *arg, const struct bg_event *e, bool swept)
{
	struct ev_ctx *c = arg;
	__u64 real = clock_ns(CLOCK_REALTIME) - (clock_ns(CLOCK_MONOTONIC) - e->ts_ns);
	char when[40], name[BG_NAME_LEN + 16];

	bg_fmt_rfc3339_ms(real, when, sizeof(when));
	if (c->max && c->count >= c->max)
		return; /* one batch may hold more than asked for */
	if (e->ts_ns < c->from_ns) {
		c->older++; /* from before this reader started (or its `since`) */
		return;
	}
	slot_name(c->s, e->id, name, sizeof(name));
	c->count++;
	if (out_is_json()) {
		json_t *o = json_object();
		char *line;

		json_object_set_new(o, "time", json_string(when));
		json_object_set_new(o, "identity", json_string(name));
		json_object_set_new(o, "event", json_string(bg_event_name(e->type)));
		if (e->type == BG_EV_CLEARED) {
			json_object_set_new(o, "limited_for_sec",
					    json_real((double)(e->ts_ns - e->since_ns) / 1e9));
			json_object_set_new(o, "reason",
					    json_string(swept ? "quiet" : "conforming"));
		} else {
			json_object_set_new(o, "action", json_string(bg_action_name(e->action)));
		}
		line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (line)
			printf("%s\n", line);
		free(line);
		json_decref(o);
	} else if (e->type == BG_EV_LIMITED) {
		printf("%s  %-20s limited (%s)\n", when, name, bg_action_name(e->action));
	} else {
		printf("%s  %-20s cleared after %.1f s (%s)\n", when, name,
		       (double)(e->ts_ns - e->since_ns) / 1e9,
		       swept ? "went quiet" : "conforming again");
	}
	fflush(stdout);
}

/*
 * /proc/locks names pids as this /proc's pid namespace sees them, and
 * SO_PEERCRED as ours does: compare them only when the two are the same.
 */
static bool proc_is_ours(void)
{
	char buf[32];
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);

	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strtol(buf, NULL, 10) == (long)getpid();
}

/*
 * The controller reads the ring: follow its feed until count, duration, a
 * signal, or the controller stopping (an error: the events end there).
 */
static int follow_feed(int fd, struct ev_ctx *c, __u64 end)
{
	while (!stop && (!c->max || c->count < c->max)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct bg_ev_msg m;
		ssize_t n;

		if (end && clock_ns(CLOCK_MONOTONIC) >= end)
			return 0;
		if (poll(&p, 1, 250) <= 0)
			continue;
		n = recv(fd, &m, sizeof(m), 0);
		if (n == (ssize_t)sizeof(m)) {
			print_event(c, &m.ev, m.swept);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		bg_err("events: the controller stopped (or refused this reader: see its log); run `burstctl events` again to read the ring itself");
		return -ECONNRESET;
	}
	return 0;
}

int do_events(int argc, char **argv)
{
	unsigned long max_count = 0;
	double duration = 0;
	struct bg_ev_reader r;
	struct bg_state s;
	struct ev_ctx c = {};
	__u64 since_ns = 0; /* replay this far back; 0: live only */
	bool noted = false;
	char err[128];
	__u64 end = 0, next_sweep;
	pid_t holder;
	int ret;

	while (argc > 0) {
		const char *kw = argv[0], *v;
		__u32 x;

		if (!strcmp(kw, "help")) {
			out_help(
				"Usage: burstctl events [since DURATION|all] [count N] [duration SECONDS]\n"
				"\n"
				"Follow identities as they start being limited (a packet over\n"
				"the limit: dropped, or counted in shadow) and stop (conforming\n"
				"again, or quiet, for %.0f s). At most one of each per identity\n"
				"per second: never one event per dropped packet. With -j, one\n"
				"JSON object per line. The ring has one reader: while\n"
				"`burstctl serve` reads it, this follows the controller's\n"
				"feed of the same events instead (root only).\n"
				"\n"
				"Live by default: events still in the ring from before it started\n"
				"are not shown (it says how many). since DURATION (90s, 15m, 1h)\n"
				"first replays those of the last DURATION, since all every one\n"
				"the ring still holds (--since is the same keyword).\n",
				BG_EVENT_HOLD_NS / 1e9);
			return 0;
		}
		if (strcmp(kw, "count") && strcmp(kw, "duration") && strcmp(kw, "since") &&
		    strcmp(kw, "--since"))
			return usage_error("events", "unknown argument \"%s\"", kw);
		v = take_value("events", &argc, &argv);
		if (!v)
			return -EINVAL;
		if (!strcmp(kw, "since") || !strcmp(kw, "--since")) {
			if (!strcmp(v, "all")) {
				since_ns = UINT64_MAX;
			} else if (bg_parse_duration(v, &since_ns, err, sizeof(err))) {
				return usage_error(
					"events", "since %s (use a duration: 90s, 15m, 1h; or all)",
					err);
			}
			continue;
		}
		if (bg_parse_u32(v, &x, err, sizeof(err)) || !x)
			return usage_error("events", "%s %s: expected a whole number above 0", kw,
					   v);
		if (!strcmp(kw, "count"))
			max_count = x;
		else
			duration = x;
	}
	ret = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (ret)
		return ret;
	c.s = &s;
	c.max = max_count;
	c.from_ns = clock_ns(CLOCK_MONOTONIC);
	c.from_ns = since_ns >= c.from_ns ? 0 : c.from_ns - since_ns;
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	if (duration > 0)
		end = clock_ns(CLOCK_MONOTONIC) + (__u64)(duration * 1e9);
	ret = bg_events_open(&r, &s, print_event, &c, &holder);
	if (ret == -EBUSY) {
		int fd = bg_events_sub_connect(opts.pin_path, proc_is_ours() ? holder : 0);

		if (fd >= 0) {
			bg_dbg("the ring is read by process %d: following its feed", (int)holder);
			if (since_ns)
				bg_warn("the controller (pid %d) reads the event ring: only live events can be followed; earlier ones are in its log",
					(int)holder);
			ret = follow_feed(fd, &c, end);
			close(fd);
			goto out;
		}
		if (fd == -EPERM)
			bg_err("the event feed for %s is served by a process that does not read the ring (not root, or not pid %d): not followed",
			       opts.pin_path, (int)holder);
		else if (holder)
			bg_err("the event ring of %s is being read by process %d, which passes no events on (a `burstctl events`; or a controller in another network namespace: its log has them); a ring has one reader",
			       opts.pin_path, (int)holder);
		else
			bg_err("the event ring of %s is being read by another process; a ring has one reader",
			       opts.pin_path);
	}
	if (ret)
		goto out;
	next_sweep = clock_ns(CLOCK_MONOTONIC) + BG_NSEC_PER_SEC;
	while (!stop && (!max_count || c.count < max_count)) {
		struct pollfd p = { .fd = bg_events_fd(&r), .events = POLLIN };
		__u64 now = clock_ns(CLOCK_MONOTONIC);

		if (end && now >= end)
			break;
		if (now >= next_sweep) {
			bg_events_sweep(&r);
			next_sweep = now + BG_NSEC_PER_SEC / 4;
		}
		if (poll(&p, 1, 250) > 0)
			bg_events_consume(&r);
		if (c.older && !noted) {
			/* the ring kept them from before: say so, once, not on stdout */
			fprintf(stderr,
				"%s: events: %lu event%s from before %s not shown (`burstctl events since 10m` replays them)\n",
				bg_prog_name, c.older, c.older == 1 ? "" : "s",
				since_ns ? "the `since` window" : "this started");
			noted = true;
		}
	}
	bg_events_close(&r);
out:
	bg_state_close(&s);
	return ret;
}
