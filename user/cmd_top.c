// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * burstctl top: identities sorted by rate or drops, refreshed every second,
 * like top(1) for agents. Plain ANSI (clear screen, home), no curses: the
 * screen is redrawn whole each time, and piped output is one frame after
 * another.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bg_fleet.h"
#include "bg_identity.h"
#include "bg_log.h"
#include "bg_metrics.h"
#include "bg_out.h"
#include "bg_state.h"
#include "bg_time.h"
#include "bg_units.h"
#include "burstctl.h"

enum sort_by { SORT_RATE, SORT_DROPS };

struct row {
	const struct bg_snap_id *x;
	double pass_pps, drop_pps, shadow_pps, pass_bps; /* bits per second */
	bool fresh; /* not in the previous frame: no rate yet */
};

static volatile sig_atomic_t stop;

static void on_sig(int sig)
{
	(void)sig;
	stop = 1;
}

static enum sort_by sort_by;

static int cmp_rows(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	double kx = sort_by == SORT_RATE ? x->pass_pps + x->drop_pps : x->drop_pps + x->shadow_pps;
	double ky = sort_by == SORT_RATE ? y->pass_pps + y->drop_pps : y->drop_pps + y->shadow_pps;

	if (kx != ky)
		return kx > ky ? -1 : 1;
	return strcmp(x->x->name, y->x->name);
}

/* Rates between two snapshots; identities are matched by slot and name. */
static struct row *rows_of(const struct bg_snap *prev, const struct bg_snap *cur, size_t *n)
{
	struct row *r = calloc(cur->nids + 1, sizeof(*r));
	double dt = (double)(cur->mono_ns - prev->mono_ns) / 1e9;
	size_t i, j = 0;

	if (!r)
		return NULL;
	for (i = 0; i < cur->nids; i++) {
		const struct bg_snap_id *x = &cur->ids[i], *p = NULL;

		while (j < prev->nids && prev->ids[j].id < x->id)
			j++;
		if (j < prev->nids && prev->ids[j].id == x->id &&
		    !strcmp(prev->ids[j].name, x->name))
			p = &prev->ids[j];
		r[i].x = x;
		r[i].fresh = !p || dt <= 0;
		if (r[i].fresh)
			continue;
		r[i].pass_pps = (double)(x->st.passed_pkts - p->st.passed_pkts) / dt;
		r[i].drop_pps = (double)(x->st.dropped_pkts - p->st.dropped_pkts) / dt;
		r[i].shadow_pps = (double)(x->st.shadow_pkts - p->st.shadow_pkts) / dt;
		r[i].pass_bps = (double)(x->st.passed_bytes - p->st.passed_bytes) * 8 / dt;
	}
	*n = cur->nids;
	qsort(r, *n, sizeof(*r), cmp_rows);
	return r;
}

static const char *fmt_fill(double fill, __u64 burst, char *buf, size_t len)
{
	if (fill < 0 || !burst)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%3.0f%%", 100.0 * fill / (double)burst);
	return buf;
}

static const char *fmt_rate(double v, char *buf, size_t len)
{
	if (v >= 1e9)
		snprintf(buf, len, "%.1fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.1fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
	return buf;
}

/* The fleet's records, read once per frame: mode and share of the global identities. */
static char (*fl_names)[BG_NAME_LEN];
static struct bg_fleet_rec *fl_recs;
static size_t fl_n;

static void fleet_reload(const struct bg_state *s)
{
	struct bg_fleet_host h;

	free(fl_names);
	free(fl_recs);
	if (bg_fleet_read(s, &fl_names, &fl_recs, &fl_n, &h))
		fl_n = 0;
}

static void frame_json(const struct row *r, size_t n)
{
	json_t *o = json_object(), *a = json_array();
	const struct bg_fleet_rec *fr;
	char *line;
	size_t i;

	struct timespec ts;
	char when[40];

	clock_gettime(CLOCK_REALTIME, &ts);
	bg_fmt_rfc3339_ms((__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec, when, sizeof(when));
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "sort", json_string(sort_by == SORT_RATE ? "rate" : "drops"));
	for (i = 0; i < n; i++) {
		json_t *e = json_object();

		json_object_set_new(e, "identity", json_string(r[i].x->name));
		json_object_set_new(e, "action", json_string(bg_action_name(r[i].x->action)));
		json_object_set_new(e, "passed_pps", json_real(r[i].pass_pps));
		json_object_set_new(e, "dropped_pps", json_real(r[i].drop_pps));
		json_object_set_new(e, "shadow_pps", json_real(r[i].shadow_pps));
		json_object_set_new(e, "passed_bits_per_sec", json_real(r[i].pass_bps));
		json_object_set_new(
			e, "pkt_fill_ratio",
			r[i].x->pkt_fill >= 0 && r[i].x->meta.burst_pkts ?
				json_real(r[i].x->pkt_fill / (double)r[i].x->meta.burst_pkts) :
				json_null());
		json_object_set_new(e, "burst_pkts",
				    r[i].x->meta.rate_pps ? json_integer(r[i].x->meta.burst_pkts) :
							    json_null());
		json_object_set_new(e, "limited", json_boolean(r[i].x->limited));
		fr = bg_fleet_find(fl_names, fl_recs, fl_n, r[i].x->name);
		json_object_set_new(e, "fleet_mode",
				    fr ? json_string(bg_fleet_mode_name(fr->mode)) : json_null());
		json_object_set_new(e, "fleet_share_ratio",
				    fr ? json_real(fr->share_ppm / 1e6) : json_null());
		json_array_append_new(a, e);
	}
	json_object_set_new(o, "identities", a);
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (line)
		printf("%s\n", line);
	free(line);
	json_decref(o);
}

/*
 * Fixed columns after the name: ACTION PASS/s DROP/s SHADOW/s BITS/s LIMIT
 * FILL BURST STATE, each with a space before it. The name gets the rest of
 * the terminal (within NAME_MIN..NAME_MAX), so a frame fits 80 columns.
 */
#define FIXED_COLS (8 + 7 + 7 + 9 + 7 + 9 + 5 + 7 + 8)
#define NAME_MIN 10
#define NAME_MAX_W 32

/* One line, cut to the terminal's width (cols 0: not a terminal, no cut). */
__attribute__((format(printf, 2, 3))) static void line_out(int cols, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* the last column too would wrap in some terminals: stop one short */
	if (cols > 1 && strlen(buf) >= (size_t)cols)
		buf[cols - 1] = '\0';
	printf("%s\n", buf);
}

/*
 * rows, cols: the terminal's size (0: unknown or not a terminal). Every
 * line but the last ends in a newline, so a full frame is rows - 1 lines:
 * the title never scrolls away.
 */
static void frame_text(const struct bg_snap *cur, const struct row *r, size_t n, bool tty, int rows,
		       int cols)
{
	char when[16], a[16], b[16], c[16], d[16], e[16], f[16], rate[24], name[NAME_MAX_W + 1];
	const struct bg_fleet_rec *fr;
	char st[48];
	int w = tty && cols > 0 ? cols - 1 - FIXED_COLS : NAME_MAX_W;
	time_t t = time(NULL);
	size_t i, shown = n;
	struct tm tm;

	if (w < NAME_MIN)
		w = NAME_MIN;
	if (w > NAME_MAX_W)
		w = NAME_MAX_W;
	if (!tty)
		cols = 0;
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	if (tty)
		printf("\033[H\033[2J");
	/* the state's path last: on a narrow terminal it is what gets cut */
	line_out(cols, "burstgate top - %s - %zu identities%s - sorted by %s - %s", when, cur->nids,
		 cur->g.shadow_all ? " - SHADOW (dry run)" : "",
		 sort_by == SORT_RATE ? "rate" : "drops", opts.pin_path);
	line_out(cols, "%s", tty ? "keys: r sort by rate, d sort by drops, q quit" : "");
	line_out(cols, "%-*s %-7s %6s %6s %8s %6s %8s %4s %6s %s", w, "IDENTITY", "ACTION",
		 "PASS/s", "DROP/s", "SHADOW/s", "BITS/s", "LIMIT", "FILL", "BURST", "STATE");
	/* title, keys, headings, and a spare line; one more for "... N more" */
	if (tty && rows > 5 && n > (size_t)rows - 4)
		shown = (size_t)rows - 5;
	for (i = 0; i < shown; i++) {
		const struct bg_snap_id *x = r[i].x;

		if (x->meta.rate_pps)
			bg_fmt_pps(x->meta.rate_pps, rate, sizeof(rate));
		else
			snprintf(rate, sizeof(rate), "-");
		snprintf(f, sizeof(f), "%llu", (unsigned long long)x->meta.burst_pkts);
		/* a name longer than its column ends in '~' (-j has it whole) */
		snprintf(name, sizeof(name), "%.*s", NAME_MAX_W, x->name);
		if (strlen(x->name) > (size_t)w) {
			name[w - 1] = '~';
			name[w] = '\0';
		}
		fr = bg_fleet_find(fl_names, fl_recs, fl_n, x->name);
		if (fr)
			snprintf(st, sizeof(st), "%s%sfleet %s %.0f%%", x->limited ? "LIMITED" : "",
				 x->limited ? ", " : "", bg_fleet_mode_name(fr->mode),
				 fr->share_ppm / 1e4);
		else
			snprintf(st, sizeof(st), "%s", x->limited ? "LIMITED" : "");
		line_out(cols, "%-*s %-7s %6s %6s %8s %6s %8s %4s %6s %s", w, name,
			 bg_action_name(x->action),
			 r[i].fresh ? "-" : fmt_rate(r[i].pass_pps, a, sizeof(a)),
			 r[i].fresh ? "-" : fmt_rate(r[i].drop_pps, b, sizeof(b)),
			 r[i].fresh ? "-" : fmt_rate(r[i].shadow_pps, c, sizeof(c)),
			 r[i].fresh ? "-" : fmt_rate(r[i].pass_bps, d, sizeof(d)), rate,
			 fmt_fill(x->pkt_fill, x->meta.burst_pkts, e, sizeof(e)),
			 x->meta.rate_pps ? f : "-", st);
	}
	if (shown < n)
		line_out(cols, "... %zu more (a larger terminal shows more; -j lists all)",
			 n - shown);
	if (!tty)
		printf("\n");
	fflush(stdout);
}

int do_top(int argc, char **argv)
{
	struct termios saved, raw;
	struct bg_snap prev = {}, cur = {};
	struct bg_state s;
	struct winsize ws;
	unsigned long count = 0, frames = 0;
	double interval = 1.0;
	bool tty = isatty(STDOUT_FILENO), keys;
	char err[128];
	int ret;

	sort_by = SORT_RATE;
	while (argc > 0) {
		const char *kw = argv[0], *v;
		__u32 x;

		if (!strcmp(kw, "help")) {
			out_help(
				"Usage: burstctl top [sort rate|drops] [interval SECONDS] [count N]\n"
				"\n"
				"Identities by packet rate (passed + dropped) or by drops (dropped\n"
				"+ shadow), refreshed every interval (1 s): pass, drop and shadow\n"
				"rates, bits/s passed, the configured rate, the packet bucket's\n"
				"fill, the burst in force (the tuner's, if tuned), and LIMITED while\n"
				"the identity is being limited. Keys: r, d, q. count N stops after\n"
				"N frames; -j prints one JSON object per frame.\n");
			return 0;
		}
		if (strcmp(kw, "sort") && strcmp(kw, "interval") && strcmp(kw, "count"))
			return usage_error("top", "unknown argument \"%s\"", kw);
		v = take_value("top", &argc, &argv);
		if (!v)
			return -EINVAL;
		if (!strcmp(kw, "sort")) {
			if (!strcmp(v, "drops"))
				sort_by = SORT_DROPS;
			else if (strcmp(v, "rate"))
				return usage_error("top", "sort \"%s\": use rate or drops", v);
			continue;
		}
		if (bg_parse_u32(v, &x, err, sizeof(err)) || !x || x > 3600)
			return usage_error("top", "%s %s: expected a whole number from 1 to 3600",
					   kw, v);
		if (!strcmp(kw, "count"))
			count = x;
		else
			interval = x;
	}
	ret = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (ret)
		return ret;
	ret = bg_snap_read(&s, &prev);
	if (ret)
		goto out;
	keys = tty && isatty(STDIN_FILENO) && !out_is_json() &&
	       tcgetattr(STDIN_FILENO, &saved) == 0;
	if (keys) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	while (!stop && (!count || frames < count)) {
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		struct timespec ts;
		__u64 due, now;
		struct row *r;
		size_t n;
		char k;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		due = (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000 +
		      (__u64)(interval * 1000);
		/* wait for the next frame, reacting to keys meanwhile */
		for (;;) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			now = (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
			if (stop || now >= due)
				break;
			if (!keys) {
				poll(NULL, 0, (int)(due - now));
				continue;
			}
			if (poll(&p, 1, (int)(due - now)) > 0 && read(STDIN_FILENO, &k, 1) == 1) {
				if (k == 'q')
					stop = 1;
				else if (k == 'r' || k == 'd') {
					sort_by = k == 'r' ? SORT_RATE : SORT_DROPS;
					break; /* redraw now, sorted the new way */
				}
			}
		}
		if (stop)
			break;
		ret = bg_snap_read(&s, &cur);
		if (ret)
			break;
		r = rows_of(&prev, &cur, &n);
		if (!r) {
			ret = -ENOMEM;
			bg_snap_free(&cur);
			break;
		}
		fleet_reload(&s);
		if (out_is_json())
			frame_json(r, n);
		else if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
			frame_text(&cur, r, n, tty, ws.ws_row, ws.ws_col);
		else
			frame_text(&cur, r, n, tty, 0, 0);
		free(r);
		bg_snap_free(&prev);
		prev = cur;
		memset(&cur, 0, sizeof(cur));
		frames++;
	}
	if (keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
out:
	bg_snap_free(&prev);
	bg_state_close(&s);
	return ret;
}
