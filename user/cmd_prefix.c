// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* burstctl prefix add|del|list */
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

#define OBJ "prefix"

static int help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	out_help("Usage: burstctl prefix add CIDR identity NAME\n"
		 "       burstctl prefix del CIDR [identity NAME]\n"
		 "       burstctl prefix list [identity NAME]\n"
		 "\n"
		 "CIDR is an IPv4 or IPv6 prefix (198.51.100.0/24, 2001:db8::/48) or a\n"
		 "single address. A packet belongs to the identity of the longest\n"
		 "prefix that holds its source address; none: the default identity.\n"
		 "With `identity NAME`, del refuses to remove a prefix of another\n"
		 "identity.\n");
	return 0;
}

/* Parse "CIDR [identity NAME]"; name is NULL if not given. */
static int parse_args(const char *cmd, int argc, char **argv, bool need_name, struct bg_prefix *p,
		      const char **name)
{
	char err[256];

	*name = NULL;
	if (argc < 1)
		return usage_error(OBJ, "%s: missing CIDR", cmd);
	if (bg_prefix_parse(argv[0], p, err, sizeof(err))) {
		bg_err("prefix %s: %s", cmd, err);
		return -EINVAL;
	}
	argc--;
	argv++;
	if (argc >= 1 && !strcmp(argv[0], "identity")) {
		*name = take_value(OBJ, &argc, &argv);
		if (!*name)
			return -EINVAL;
	}
	if (argc)
		return usage_error(OBJ, "%s: unexpected argument \"%s\"", cmd, argv[0]);
	if (need_name && !*name)
		return usage_error(OBJ, "%s: missing `identity NAME`", cmd);
	return 0;
}

static int lookup_identity(const struct bg_state *s, const char *name, struct bg_identity *id)
{
	int err = bg_identity_get(s, name, id);

	if (err == -ENOENT)
		bg_err("identity \"%s\" does not exist (create it with `burstctl identity add %s ...`)",
		       name, name);
	return err;
}

static int do_add(int argc, char **argv)
{
	struct bg_identity id;
	struct bg_prefix p;
	struct bg_state s;
	const char *name;
	bool same = false;
	char buf[64];
	int err;

	err = parse_args("add", argc, argv, true, &p, &name);
	if (err)
		return err;
	err = bg_state_open_setup(&s, opts.pin_path, BG_OPEN_WRITE | BG_OPEN_CREATE);
	if (err)
		return err;
	err = lookup_identity(&s, name, &id);
	if (!err) {
		err = bg_prefix_add(&s, &p, id.id);
		same = err == -EALREADY;
		if (same)
			err = 0; /* already there, same identity: idempotent */
	}
	if (!err) {
		if (!same)
			warn_controller("prefix add");
		out_begin_object(NULL);
		out_str("prefix", "prefix %s", bg_prefix_fmt(&p, buf, sizeof(buf)));
		out_str("identity", " -> %s", name);
		out_str("result", same ? " (%s: it was there)\n" : "\n",
			same ? "unchanged" : "added");
		out_end_object();
	}
	bg_state_close(&s);
	return err;
}

static int do_del(int argc, char **argv)
{
	struct bg_identity id;
	struct bg_prefix p;
	struct bg_state s;
	const char *name;
	char buf[64];
	__u32 cur;
	int err;

	err = parse_args("del", argc, argv, false, &p, &name);
	if (err)
		return err;
	err = bg_state_open(&s, opts.pin_path, BG_OPEN_WRITE);
	if (err)
		return err;
	bg_prefix_fmt(&p, buf, sizeof(buf));
	err = bg_prefix_lookup(&s, &p, &cur);
	if (err == -ENOENT) {
		bg_err("prefix %s is not configured (see `burstctl prefix list`)", buf);
		goto out;
	}
	if (err)
		goto out;
	if (name) {
		err = lookup_identity(&s, name, &id);
		if (err)
			goto out;
		if (id.id != cur) {
			bg_err("prefix %s belongs to another identity, not %s: nothing removed",
			       buf, name);
			err = -EEXIST;
			goto out;
		}
	}
	err = bg_prefix_del(&s, &p);
	if (err) {
		bg_err("prefix del %s: %s", buf, strerror(-err));
		goto out;
	}
	warn_controller("prefix del");
	out_begin_object(NULL);
	out_str("prefix", "deleted prefix %s\n", buf);
	out_str("result", NULL, "deleted");
	out_end_object();
out:
	bg_state_close(&s);
	return err;
}

static int do_list(int argc, char **argv)
{
	struct bg_prefix_entry *pfx = NULL;
	struct bg_identity *ids = NULL, only;
	size_t n = 0, nids = 0, i, j;
	const char **name_of = NULL; /* identity name per slot */
	const char *name = NULL;
	struct bg_state s;
	char buf[64];
	int err;

	if (argc >= 1 && !strcmp(argv[0], "identity")) {
		name = take_value(OBJ, &argc, &argv);
		if (!name)
			return -EINVAL;
	}
	if (argc)
		return usage_error(OBJ, "list: unexpected argument \"%s\"", argv[0]);
	err = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (err)
		return err;
	if (name) {
		err = lookup_identity(&s, name, &only);
		if (err)
			goto out;
	}
	err = bg_prefix_list(&s, &pfx, &n);
	if (!err)
		err = bg_identity_list(&s, &ids, &nids);
	if (!err) {
		name_of = calloc(s.max_ids, sizeof(*name_of));
		if (!name_of)
			err = -ENOMEM;
	}
	if (err) {
		bg_err("prefix list: %s", strerror(-err));
		goto out;
	}
	for (j = 0; j < nids; j++)
		if (ids[j].id < s.max_ids)
			name_of[ids[j].id] = ids[j].name;
	out_text("%-44s %s\n", "PREFIX", "IDENTITY");
	out_begin_object(NULL);
	out_begin_array("prefixes");
	for (i = 0; i < n; i++) {
		const char *idname = pfx[i].id < s.max_ids ? name_of[pfx[i].id] : NULL;

		if (name && pfx[i].id != only.id)
			continue;
		if (!idname)
			idname = "(deleted)";
		out_begin_object(NULL);
		out_str("prefix", "%-44s ", bg_prefix_fmt(&pfx[i].pfx, buf, sizeof(buf)));
		out_str("identity", "%s\n", idname);
		out_end_object();
	}
	out_end_array();
	out_end_object();
out:
	free(name_of);
	free(pfx);
	free(ids);
	bg_state_close(&s);
	return err;
}

int do_prefix(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "add", do_add },
		{ "del", do_del },
		{ "list", do_list },
		{ NULL, NULL },
	};

	return cmd_select(OBJ, cmds, argc, argv, help);
}
