// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * burstctl: the control plane of burstgate.
 */
#include "burstctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bg_log.h"
#include "bg_out.h"
#include "bg_state.h"

#ifndef BG_VERSION
#define BG_VERSION "0.1.0"
#endif

struct bg_opts opts;

int bg_exit_code(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return BG_EXIT_OK;
	case ENOENT:
	case ENODEV:
	case ENXIO:
	case ESRCH:
		return BG_EXIT_NOT_FOUND;
	case EBUSY:
	case EAGAIN:
	case EALREADY:
		return BG_EXIT_BUSY;
	case EEXIST:
		return BG_EXIT_EXISTS;
	case EINVAL:
	case ERANGE:
	case EDOM:
	case ETIME:
	case ENOTDIR:
	case ENAMETOOLONG:
	case EBADMSG:
	case EOVERFLOW:
	case EILSEQ:
		return BG_EXIT_INVALID;
	case ENOSPC:
	case E2BIG:
		return BG_EXIT_FULL;
	default:
		return BG_EXIT_FAILED;
	}
}

int usage_error(const char *object, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (object)
		bg_err("%s: %s (see `%s %s help`)", object, msg, bg_prog_name, object);
	else
		bg_err("%s (see `%s help`)", msg, bg_prog_name);
	return -EINVAL;
}

void warn_controller(const char *what)
{
	pid_t holder;
	int fd;

	if (bg_lock_take(opts.pin_path, BG_LOCK_SERVE, &fd, &holder) == 0) {
		close(fd); /* nobody holds it: no controller */
		return;
	}
	if (holder)
		bg_warn("%s: a controller (`burstctl serve`, pid %d) manages this state from its policy file: its next reload reverts this change (make it in the policy file instead)",
			what, (int)holder);
	else
		bg_warn("%s: a controller (`burstctl serve`) manages this state from its policy file: its next reload reverts this change (make it in the policy file instead)",
			what);
}

bool wants_help(int argc, char **argv)
{
	int i;

	if (argc > 0 && !strcmp(argv[0], "help"))
		return true;
	for (i = 0; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	return false;
}

const char *take_value(const char *object, int *argc, char ***argv)
{
	const char *kw = (*argv)[0];

	if (*argc < 2) {
		usage_error(object, "\"%s\" needs a value", kw);
		return NULL;
	}
	*argc -= 2;
	*argv += 2;
	return (*argv)[-1];
}

int cmd_select(const char *object, const struct cmd *cmds, int argc, char **argv,
	       int (*help)(int argc, char **argv))
{
	static char *help_argv[] = { "help", NULL };
	const struct cmd *c;

	if (argc < 1 || !strcmp(argv[0], "help") || !strcmp(argv[0], "-h") ||
	    !strcmp(argv[0], "--help"))
		return help(argc, argv);
	for (c = cmds; c->name; c++) {
		if (strcmp(argv[0], c->name))
			continue;
		if (!wants_help(argc - 1, argv + 1))
			return c->func(argc - 1, argv + 1);
		/*
		 * `identity add --help`, `token add help`: a command's help is
		 * its object's. At the top, each object answers "help" itself
		 * (those with commands through cmd_select again).
		 */
		return object ? help(argc, argv) : c->func(1, help_argv);
	}
	/*
	 * A command is a short word. Anything else is not echoed: it may be a
	 * secret typed in the wrong place (`burstctl bind <token>`), and
	 * stderr goes to logs.
	 */
	if (strlen(argv[0]) <= 24 &&
	    strspn(argv[0], "abcdefghijklmnopqrstuvwxyz-") == strlen(argv[0]))
		return usage_error(object, "unknown command \"%s\"", argv[0]);
	return usage_error(object,
			   "unknown command (%zu characters, not shown: not a command word)",
			   strlen(argv[0]));
}

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	out_help(
		"Usage: %s [OPTIONS] OBJECT COMMAND [ARGS]\n"
		"\n"
		"Per-identity token buckets at the NIC for AI-agent traffic.\n"
		"\n"
		"Objects and commands:\n"
		"  attach DEV [mode M] [priority N]    attach (or upgrade in place) on DEV\n"
		"  detach DEV                          detach from DEV\n"
		"  status                              where attached, capacity, kernel features\n"
		"  stats [identity NAME]               counters and bucket fill\n"
		"  identity add|set|del|list|show      named limits (see `identity help`)\n"
		"  prefix add|del|list                 source prefixes to identities\n"
		"  config show|set                     host-wide shadow mode, malformed verdict\n"
		"  token add|rotate|del|list|show|gc|config   agent tokens to identities\n"
		"  bind add|del|list|serve             connections to agents (TLS, non-HTTP)\n"
		"  setup [max-identities N] [max-prefixes N]   create the pinned state\n"
		"  teardown                            detach everywhere and remove all state\n"
		"  policy check|apply|dump [FILE]      declarative YAML policy (see `policy help`)\n"
		"  serve --policy FILE [--metrics A:P] the controller: reload, tuner, metrics\n"
		"  top [sort rate|drops]               live view of identities, every second\n"
		"  events [since DURATION]             identities starting/stopping being limited\n"
		"  batch FILE                          many identity/prefix commands at once\n"
		"  fleet status [identity NAME]        fleet mode: leases of global identities\n"
		"  audit [--since T] [--identity N]    the audit log: applies, token lifecycle and use\n"
		"  version                             this build, its program, the attached ones\n"
		"\n"
		"Options:\n"
		"  -j, --json          JSON output\n"
		"  -p, --pretty        indented JSON (implies --json)\n"
		"  -v, --verbose       show libbpf's messages and the verifier log\n"
		"  -d, --pin-path DIR  state folder on bpffs (default %s,\n"
		"                      or $BURSTGATE_PIN_PATH)\n"
		"  -h, --help          this help\n"
		"\n"
		"`help`, -h or --help after any object or command shows its help.\n"
		"Exit status: 0 done, 1 refused by the kernel or system, 2 not found,\n"
		"16 busy, 17 already exists, 22 invalid argument or file, 28 full.\n",
		bg_prog_name, BG_PIN_PATH_DEFAULT);
	return 0;
}

/* One object per line, so branches adding objects merge cleanly. */
/* clang-format off */
static const struct cmd objects[] = {
	{ "attach", do_attach },
	{ "detach", do_detach },
	{ "status", do_status },
	{ "stats", do_stats },
	{ "identity", do_identity },
	{ "prefix", do_prefix },
	{ "config", do_config },
	{ "token", do_token },
	{ "bind", do_bind },
	{ "policy", do_policy },
	{ "serve", do_serve },
	{ "top", do_top },
	{ "events", do_events },
	{ "setup", do_setup },
	{ "teardown", do_teardown },
	{ "batch", do_batch },
	{ "fleet", do_fleet },
	{ "audit", do_audit },
	{ "version", do_version },
	{ NULL, NULL },
};
/* clang-format on */

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "pin-path", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static char *only[] = { NULL, NULL }; /* -h, -V: the command they stand for */
	int c, err = 0, ret;

	opts.pin_path = bg_default_pin_path();
	opterr = 0; /* our own message, in JSON under -j */
	/* '+': options only before the object, as in bpftool. */
	while (!err && (c = getopt_long(argc, argv, "+jpvd:hV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			opts.json = true;
			break;
		case 'p':
			opts.json = true;
			opts.pretty = true;
			break;
		case 'v':
			bg_verbose = 1;
			break;
		case 'd':
			opts.pin_path = optarg;
			break;
		case 'h':
			only[0] = "help";
			break;
		case 'V':
			if (!only[0])
				only[0] = "version";
			break;
		default:
			err = -EINVAL;
		}
	}
	out_init(opts.json, opts.pretty);
	/*
	 * Under -j a command's errors become its JSON answer. The controller
	 * is no command with an answer: its errors are log lines, at once.
	 */
	bg_log_capture = opts.json && !(optind < argc && !strcmp(argv[optind], "serve"));
	bg_log_setup_libbpf();
	if (err) {
		/* optind already moved past the bad one */
		const char *bad = argv[optind - 1];

		if (optopt && strchr("d", optopt))
			usage_error(NULL, "option \"%s\" needs a value", bad);
		else
			usage_error(NULL, "unknown option \"%s\" (options go before the object)",
				    bad);
	} else if (only[0]) {
		err = cmd_select(NULL, objects, 1, only, do_help);
	} else {
		err = cmd_select(NULL, objects, argc - optind, argv + optind, do_help);
	}
	ret = out_finish_status(err);
	return bg_exit_code(err ? err : ret);
}
