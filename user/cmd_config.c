// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* burstctl config show|set: host-wide switches */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bg_log.h"
#include "bg_out.h"
#include "bg_setup.h"
#include "bg_state.h"
#include "burstctl.h"

#define OBJ "config"

static int help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	out_help("Usage: burstctl config show\n"
		 "       burstctl config set [shadow on|off] [malformed pass|drop]\n"
		 "\n"
		 "shadow on    host-wide dry run: nothing is dropped, would-be\n"
		 "             drops are counted as shadow (per identity)\n"
		 "malformed    verdict for packets the parser rejects (truncated\n"
		 "             or invalid headers). drop: dropped before any\n"
		 "             metering. pass (default): passed, and metered like\n"
		 "             any packet when their source address was read.\n");
	return 0;
}

static void print_global(const struct bg_global *g)
{
	out_begin_object(NULL);
	out_bool("shadow", NULL, g->shadow_all);
	out_text("shadow     %s\n", g->shadow_all ? "on" : "off");
	out_str("malformed", "malformed  %s\n",
		g->malformed == BG_MALFORMED_DROP ? "drop" : "pass");
	out_end_object();
}

static int do_show(int argc, char **argv)
{
	struct bg_global g;
	struct bg_state s;
	int err;

	(void)argv;
	if (argc)
		return usage_error(OBJ, "show: takes no arguments");
	err = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (err)
		return err;
	err = bg_global_get(&s, &g);
	if (!err)
		print_global(&g);
	bg_state_close(&s);
	return err;
}

static int do_set(int argc, char **argv)
{
	int shadow = -1, malformed = -1, err;
	struct bg_global g;
	struct bg_state s;
	const char *kw, *v;

	if (!argc)
		return usage_error(OBJ,
				   "set: nothing to change (shadow on|off, malformed pass|drop)");
	while (argc > 0) {
		kw = argv[0];
		if (strcmp(kw, "shadow") && strcmp(kw, "malformed"))
			return usage_error(
				OBJ, "set: unknown setting \"%s\" (use shadow or malformed)", kw);
		v = take_value(OBJ, &argc, &argv);
		if (!v)
			return -EINVAL;
		if (!strcmp(kw, "shadow")) {
			if (strcmp(v, "on") && strcmp(v, "off"))
				return usage_error(OBJ, "set: shadow \"%s\": use on or off", v);
			shadow = !strcmp(v, "on");
		} else {
			if (strcmp(v, "pass") && strcmp(v, "drop"))
				return usage_error(OBJ, "set: malformed \"%s\": use pass or drop",
						   v);
			malformed = !strcmp(v, "drop") ? BG_MALFORMED_DROP : BG_MALFORMED_PASS;
		}
	}
	err = bg_state_open_setup(&s, opts.pin_path, BG_OPEN_WRITE | BG_OPEN_CREATE);
	if (err)
		return err;
	err = bg_global_get(&s, &g);
	if (!err) {
		if (shadow >= 0)
			g.shadow_all = (__u32)shadow;
		if (malformed >= 0)
			g.malformed = (__u32)malformed;
		err = bg_global_put(&s, &g);
	}
	if (err) {
		bg_err("config set: %s", strerror(-err));
	} else {
		warn_controller("config set");
		print_global(&g);
	}
	bg_state_close(&s);
	return err;
}

int do_config(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "show", do_show },
		{ "set", do_set },
		{ NULL, NULL },
	};

	return cmd_select(OBJ, cmds, argc, argv, help);
}
