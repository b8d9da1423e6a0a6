// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * burstctl serve: the controller's top room. It parses the options, makes
 * the state and takes the single-instance lock, then starts the rooms of
 * serve/ (serve.h lists them) in order and runs the loop. It owns no
 * concern of its own but the signals.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "bg_apply.h"
#include "bg_log.h"
#include "bg_out.h"
#include "bg_units.h"
#include "burstctl.h"
#include "serve/serve.h"

/* SIGHUP reloads, SIGTERM and SIGINT stop (signalfd: they come through the loop) */
struct signals {
	struct serve *sv;
	int fd;
	struct loop_src src;
};

static void on_signal(void *arg, __u32 events)
{
	struct signals *g = arg;
	struct serve *sv = g->sv;
	struct signalfd_siginfo si;
	struct bg_audit_who who = { .via = "SIGHUP" };

	(void)events;
	if (read(g->fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP && sv->exporter) {
		slog(sv, LOG_INFO_, "SIGHUP from pid %u: no policy to reload (an exporter)",
		     si.ssi_pid);
		return;
	}
	if (si.ssi_signo == SIGHUP) {
		who.uid = si.ssi_uid;
		who.pid = (pid_t)si.ssi_pid;
		slog(sv, LOG_INFO_, "SIGHUP from pid %u (uid %u): reloading %s", si.ssi_pid,
		     si.ssi_uid, sv->policy_path);
		policy_reload(sv, &who);
		return;
	}
	slog(sv, LOG_NOTICE_,
	     "stopping on signal %u; enforcement continues from the pinned program and maps (restart to resume control)",
	     si.ssi_signo);
	loop_stop(&sv->loop);
}

static int signals_start(struct signals *g, struct serve *sv)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	g->sv = sv;
	g->fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (g->fd < 0)
		return -errno;
	g->src = (struct loop_src){ g->fd, on_signal, g };
	return loop_add(&sv->loop, &g->src);
}

static void refresh_names(void *arg)
{
	policy_refresh_names(arg);
}

static int help(void)
{
	out_help("Usage: burstctl serve --policy FILE [--metrics ADDR:PORT]\n"
		 "                      [--metrics-max-identities N]\n"
		 "                      [--bind-socket PATH [--bind-socket-group GROUP]]\n"
		 "       burstctl serve --metrics ADDR:PORT [...]   (no policy: an exporter)\n"
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
		 "state as it is (no bucket, counter or tuned burst is reset), and\n"
		 "swaps this build's XDP program in where another build's is\n"
		 "attached (unless the policy says controller.upgrade_program: false).\n"
		 "\n"
		 "Without --policy it serves a state configured by hand as it is:\n"
		 "metrics, the events feed, a bind socket if asked; it applies,\n"
		 "attaches, upgrades, tunes and collects nothing.\n"
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

/* The rooms last started first; each closes only what it opened. */
static void cleanup(struct serve *sv, struct signals *g)
{
	fleet_stop(sv);
	gc_stop(sv);
	metrics_stop(sv);
	bind_stop(sv);
	events_stop(sv);
	tuner_stop(sv);
	links_stop(sv);
	files_stop(sv);
	policy_stop(sv);
	if (sv->have_pol)
		bg_policy_free(&sv->pol);
	bg_state_close(&sv->s);
	free(sv->names);
	free(sv->tuned);
	if (g->fd >= 0)
		close(g->fd);
	loop_close(&sv->loop);
	if (sv->lock_fd >= 0)
		close(sv->lock_fd); /* the single-instance lock goes last */
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
	static struct signals sig_;
	struct serve *sv = &sv_;
	struct signals *sig = &sig_;
	struct bg_audit_who who = { .via = "start", .uid = getuid(), .pid = getpid() };
	char err[1024];
	pid_t holder;
	int c, ret;

	if (argc >= 1 && !strcmp(argv[0], "help"))
		return help();
	memset(sv, 0, sizeof(*sv));
	sv->lock_fd = sig->fd = sv->loop.ep = sv->loop.tick_fd = -1;
	sv->metrics_max_ids = BG_METRICS_MAX_IDS_DEFAULT;
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
			sv->metrics_addr = optarg;
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
	if (!sv->policy_path && !sv->metrics_addr)
		return usage_error(
			"serve",
			"missing --policy FILE (or --metrics ADDR:PORT alone, to export a state configured by hand)");
	sv->exporter = !sv->policy_path;
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

	/*
	 * 1. the policy must be valid before anything is touched (token files:
	 * step 4); an exporter has the defaults (the tick, the events).
	 */
	if (sv->exporter)
		ret = bg_policy_parse("(none)", "version: 1\n", 11, &sv->pol, err, sizeof(err));
	else
		ret = bg_policy_load(sv->policy_path, &sv->pol, err, sizeof(err));
	if (ret) {
		bg_err("serve: %s", err);
		return ret;
	}
	sv->have_pol = true;

	/*
	 * 2. the state (created with the policy's capacities if absent; an
	 * exporter's must exist), one controller
	 */
	if (sv->exporter && access(opts.pin_path, F_OK)) {
		bg_err("serve: no burstgate state at %s to export: configure one (burstctl attach, identity add, ...) or give --policy FILE",
		       opts.pin_path);
		ret = -ENOENT;
		goto out;
	}
	ret = sv->exporter ? 0 : bg_policy_state_setup(opts.pin_path, &sv->pol, NULL);
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
	if (!sv->names || !sv->tuned) {
		ret = -ENOMEM;
		goto out;
	}

	/* 3. signals, file watch, link watch, before the first apply: nothing is missed */
	ret = loop_init(&sv->loop);
	if (!ret)
		ret = signals_start(sig, sv);
	if (!ret && !sv->exporter)
		ret = policy_start(sv);
	if (!ret && !sv->exporter)
		ret = files_start(sv);
	if (ret) {
		bg_err("serve: set up the event loop: %s", strerror(-ret));
		goto out;
	}
	ret = sv->exporter ? 0 : links_start(sv); /* without rtnetlink: said, and goes on */
	if (ret)
		goto out;

	/* 4. adopt the state: read the token files, apply the policy to what is there */
	sv->h.controller = true;
	sv->h.start_unix = (__u64)time(NULL);
	sv->h.no_policy = sv->exporter;
	if (sv->exporter) {
		slog(sv, LOG_NOTICE_,
		     "exporter for %s starting (pid %d), no policy: the state is served as it is (nothing applied, attached, upgraded, tuned or collected)",
		     opts.pin_path, (int)getpid());
		policy_refresh_names(sv);
		/* identities added by hand get their names in events */
		ret = loop_on_tick(&sv->loop, refresh_names, sv);
	} else {
		slog(sv, LOG_NOTICE_, "controller for %s starting (pid %d), policy %s",
		     opts.pin_path, (int)getpid(), sv->policy_path);
		ret = tuner_start(sv);
		if (!ret)
			ret = policy_apply_first(sv, &who);
	}
	if (ret)
		goto out;
	upgrade_at_start(sv); /* an exporter only says it */

	/*
	 * 5. the rooms that serve: events, the bind socket, metrics, gc; then
	 * the tick. At every tick they run in the order started: file and
	 * link retries, the tuner, the events sweep, gc.
	 */
	ret = events_start(sv);
	if (!ret)
		ret = bind_start(sv);
	if (!ret)
		ret = metrics_start(sv);
	if (!ret && !sv->exporter)
		ret = gc_start(sv);
	if (!ret && !sv->exporter)
		ret = fleet_start(sv);
	if (ret)
		goto out;
	loop_tick_every(&sv->loop, sv->pol.ctl.tune_interval_ms);
	if (sv->exporter)
		slog(sv, LOG_NOTICE_, "ready (exporter): events %s",
		     events_reading(sv) ? "read here" : "not read (busy)");
	else
		slog(sv, LOG_NOTICE_, "ready: tuner every %u ms, events %s",
		     sv->pol.ctl.tune_interval_ms,
		     events_reading(sv) ? "read here" : "not read (busy)");
	sd_notify_("READY=1");

	/*
	 * 6. the loop. From here nothing waits for the state's writer lock:
	 * a command may hold it for long (a `batch` of 100k lines), and the
	 * bind socket, metrics and events must go on; what needs it retries.
	 */
	bg_lock_nowait = 1;
	ret = loop_run(&sv->loop);
	if (ret)
		bg_err("serve: epoll: %s", strerror(-ret));
	sd_notify_("STOPPING=1");
out:
	cleanup(sv, sig);
	return ret;
}
