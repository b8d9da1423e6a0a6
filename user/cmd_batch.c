// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * burstctl batch FILE: many provisioning commands, one state open.
 *
 * Each line is a burstctl command as typed after `burstctl`, as in
 * `bpftool batch file`. Only the commands that provision in bulk are
 * accepted (identity add|set|del, prefix add|del): they run in-process on
 * the state opened once, under one writer lock held for the whole file, and
 * print nothing per line. One process per command costs a few milliseconds
 * each, and `identity add` also prints the identity with its prefixes,
 * which lists every prefix: 100k identities would take hours that way.
 *
 * Lines run in order; the first that fails stops the batch, is reported as
 * FILE:LINE, and the lines before it stay applied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_identity.h"
#include "bg_log.h"
#include "bg_out.h"
#include "bg_prefix.h"
#include "bg_setup.h"
#include "bg_state.h"
#include "burstctl.h"

#define OBJ "batch"
#define BATCH_MAX_ARGS 32

static int help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	out_help("Usage: burstctl batch FILE\n"
		 "\n"
		 "Runs the commands in FILE (- for standard input), one per line,\n"
		 "as they would be typed after `burstctl`, on one open state under\n"
		 "one writer lock. Accepted:\n"
		 "  identity add NAME [LIMITS]     identity set NAME LIMITS\n"
		 "  identity del NAME\n"
		 "  prefix add CIDR identity NAME  prefix del CIDR [identity NAME]\n"
		 "Blank lines and lines starting with # are skipped; \"double quotes\"\n"
		 "group words. The first failing line stops the batch and is named\n"
		 "as FILE:LINE; the lines before it stay applied.\n");
	return 0;
}

/* Split line into words in place; returns the count or -E2BIG / -EINVAL. */
static int split_words(char *line, char **argv)
{
	char *p = line, *w;
	int argc = 0;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (!*p || (*p == '#' && argc == 0))
			return argc;
		if (argc == BATCH_MAX_ARGS)
			return -E2BIG;
		if (*p == '"') {
			w = ++p;
			p = strchr(p, '"');
			if (!p)
				return -EINVAL;
		} else {
			w = p;
			while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
				p++;
		}
		argv[argc++] = w;
		if (!*p)
			return argc;
		*p++ = '\0';
	}
}

static int find_identity(const struct bg_state *s, const char *name, struct bg_identity *id)
{
	int err = bg_identity_get(s, name, id);

	if (err == -ENOENT)
		bg_err("identity \"%s\" does not exist (add it earlier in the batch)", name);
	return err;
}

/* prefix add CIDR identity NAME | prefix del CIDR [identity NAME] */
static int batch_prefix(struct bg_state *s, int argc, char **argv)
{
	struct bg_identity id;
	struct bg_prefix p;
	const char *name = NULL;
	char err[256];
	bool add;
	__u32 cur;
	int ret;

	if (argc < 2 || (strcmp(argv[0], "add") && strcmp(argv[0], "del")))
		return usage_error(OBJ, "prefix: expected add or del and a CIDR");
	add = !strcmp(argv[0], "add");
	if (bg_prefix_parse(argv[1], &p, err, sizeof(err))) {
		bg_err("prefix %s: %s", argv[0], err);
		return -EINVAL;
	}
	if (argc == 4 && !strcmp(argv[2], "identity"))
		name = argv[3];
	else if (argc != 2)
		return usage_error(OBJ, "prefix %s: unexpected argument \"%s\"", argv[0], argv[2]);
	if (add) {
		if (!name)
			return usage_error(OBJ, "prefix add: missing `identity NAME`");
		ret = find_identity(s, name, &id);
		if (!ret)
			ret = bg_prefix_add(s, &p, id.id);
		return ret == -EALREADY ? 0 : ret;
	}
	if (name) {
		ret = find_identity(s, name, &id);
		if (!ret)
			ret = bg_prefix_lookup(s, &p, &cur);
		if (!ret && cur != id.id) {
			bg_err("prefix %s belongs to another identity, not %s", argv[1], name);
			return -EEXIST;
		}
		if (ret)
			return ret;
	}
	ret = bg_prefix_del(s, &p);
	if (ret == -ENOENT)
		bg_err("prefix %s is not configured", argv[1]);
	return ret;
}

/* identity add NAME [LIMITS] | set NAME LIMITS | del NAME */
static int batch_identity(struct bg_state *s, int argc, char **argv)
{
	struct bg_limits l;
	unsigned int mask;
	int ret;

	if (argc < 2)
		return usage_error(OBJ, "identity: expected add, set or del and a NAME");
	if (!strcmp(argv[0], "del")) {
		if (argc != 2)
			return usage_error(OBJ, "identity del: expected exactly one NAME");
		return bg_identity_del(s, argv[1]);
	}
	if (strcmp(argv[0], "add") && strcmp(argv[0], "set"))
		return usage_error(OBJ, "identity %s: cannot be batched (use add, set or del)",
				   argv[0]);
	ret = identity_parse_limits(argv[0], argc - 2, argv + 2, &l, &mask);
	if (ret)
		return ret;
	if (!strcmp(argv[0], "add"))
		return bg_identity_add(s, argv[1], &l, mask, NULL);
	if (!mask)
		return usage_error(OBJ, "identity set %s: nothing to change", argv[1]);
	return bg_identity_set(s, argv[1], &l, mask, NULL);
}

int do_batch(int argc, char **argv)
{
	char *line = NULL, *words[BATCH_MAX_ARGS];
	const char *file;
	size_t cap = 0;
	long lineno = 0, done = 0;
	struct bg_state s;
	FILE *f;
	int err = 0, n;

	if (argc == 1 && !strcmp(argv[0], "help"))
		return help(argc, argv);
	if (argc != 1)
		return usage_error(OBJ, "expected exactly one FILE (- for standard input)");
	file = argv[0];
	f = strcmp(file, "-") ? fopen(file, "r") : stdin;
	if (!f) {
		err = -errno;
		bg_err("batch: open %s: %s", file, strerror(-err));
		return err;
	}
	err = bg_state_open_setup(&s, opts.pin_path, BG_OPEN_WRITE | BG_OPEN_CREATE);
	if (err)
		goto out_file;

	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		n = split_words(line, words);
		if (n == 0)
			continue;
		if (n < 0) {
			err = n;
			bg_err("batch %s:%ld: %s", file, lineno,
			       n == -E2BIG ? "too many words" : "unterminated quote");
			break;
		}
		if (!strcmp(words[0], "identity"))
			err = batch_identity(&s, n - 1, words + 1);
		else if (!strcmp(words[0], "prefix"))
			err = batch_prefix(&s, n - 1, words + 1);
		else
			err = usage_error(OBJ, "\"%s\" cannot be batched (use identity or prefix)",
					  words[0]);
		if (err) {
			bg_err("batch %s:%ld: stopped here; %ld commands before it were applied",
			       file, lineno, done);
			break;
		}
		done++;
	}
	if (!err && ferror(f)) {
		err = -EIO;
		bg_err("batch: read %s: %s", file, strerror(EIO));
	}
	bg_state_close(&s);
	if (done)
		warn_controller("batch");
	if (!err) {
		out_begin_object(NULL);
		out_str("file", "batch %s: ", file);
		out_u64("command_count", "%llu commands applied\n", (unsigned long long)done);
		out_end_object();
	}
out_file:
	free(line);
	if (f != stdin)
		fclose(f);
	return err;
}
