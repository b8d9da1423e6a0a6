/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * burstctl: [OPTIONS] OBJECT COMMAND [ARGS], in the grammar of bpftool and
 * ip. Each object has a table of commands matched exactly (no prefixes), and
 * `help` at every level.
 */
#ifndef BURSTCTL_H
#define BURSTCTL_H

#include <stdbool.h>
#include <linux/types.h>

/*
 * Exit status: a small documented set (burstctl(8), EXIT STATUS). The
 * numbers are the errno of each kind, as burstctl has always used, so
 * scripts written against 2, 16, 22 and 28 keep working; every other errno
 * folds into one of these (bg_exit_code()).
 */
enum bg_exit {
	BG_EXIT_OK = 0,
	BG_EXIT_FAILED =
		1, /* refused by the kernel or the system: permissions, verifier, driver, I/O */
	BG_EXIT_NOT_FOUND = 2, /* no state, identity, prefix, token, interface or file */
	BG_EXIT_BUSY = 16, /* another controller or event reader holds it: try later or stop it */
	BG_EXIT_EXISTS = 17, /* already exists (or exists with other capacities) */
	BG_EXIT_INVALID = 22, /* bad command line, value or policy file */
	BG_EXIT_FULL = 28, /* a table is full */
};

/* The exit status for a command's result (0 or -errno). */
int bg_exit_code(int err);

/*
 * After a change by hand to a state that exists: when a controller runs on
 * it, warn that its next reload reverts the change (what: the command).
 */
void warn_controller(const char *what);

/* "help" first, or -h / --help anywhere (before a "--"). */
bool wants_help(int argc, char **argv);

struct cmd {
	const char *name;
	int (*func)(int argc, char **argv);
};

struct bg_opts {
	bool json;
	bool pretty;
	const char *pin_path;
};
extern struct bg_opts opts;

/*
 * Run the command named by argv[0] from cmds; with no argv, or "help",
 * run help. Unknown commands are an error that names the object's help.
 */
int cmd_select(const char *object, const struct cmd *cmds, int argc, char **argv,
	       int (*help)(int argc, char **argv));

/* Report a usage error on object and return -EINVAL. */
int usage_error(const char *object, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Consume "KEYWORD VALUE": checks VALUE exists; returns it or NULL. */
const char *take_value(const char *object, int *argc, char ***argv);

int do_attach(int argc, char **argv);
int do_detach(int argc, char **argv);
int do_status(int argc, char **argv);
int do_version(int argc, char **argv);
/* cmd_attach.c: the attached program's tag against this build's (status, version) */
const char *build_prog_tag(void);
void print_prog_tag(const char *ifname, __u32 prog_id, const char *build_tag, bool *differs);
int do_stats(int argc, char **argv);
int do_identity(int argc, char **argv);
int do_prefix(int argc, char **argv);
int do_config(int argc, char **argv);
int do_setup(int argc, char **argv);
int do_teardown(int argc, char **argv);
int do_policy(int argc, char **argv);
int do_serve(int argc, char **argv);
int do_top(int argc, char **argv);
int do_events(int argc, char **argv);
int do_token(int argc, char **argv);
int do_bind(int argc, char **argv);
int do_batch(int argc, char **argv);
int do_fleet(int argc, char **argv);
int do_audit(int argc, char **argv);

struct bg_limits;
/* LIMITS of `identity add|set` (cmd_identity.c), shared with batch. */
int identity_parse_limits(const char *cmd, int argc, char **argv, struct bg_limits *l,
			  unsigned int *mask);

#endif /* BURSTCTL_H */
