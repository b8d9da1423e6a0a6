// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* burstctl policy check|apply|dump */
#include <bpf/bpf.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <yaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bg_apply.h"
#include "bg_attach.h"
#include "bg_audit.h"
#include "bg_events.h"
#include "bg_fleet_sync.h"
#include "bg_log.h"
#include "bg_out.h"
#include "bg_policy.h"
#include "bg_state.h"
#include "burstctl.h"

#define OBJ "policy"
#define SHOW_CHANGES_MAX 200 /* lines printed; the rest are counted */

static int help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	out_help("Usage: burstctl policy check FILE\n"
		 "       burstctl policy apply FILE\n"
		 "       burstctl policy dump\n"
		 "\n"
		 "FILE is a YAML policy: identities (limits, action, burst bounds,\n"
		 "prefixes, token files), the default identity, host and controller\n"
		 "settings (see examples/policy.yaml and burstctl(8)).\n"
		 "\n"
		 "check  validate FILE and read its token files without changing\n"
		 "       anything; errors say FILE:LINE:COLUMN. If the state exists,\n"
		 "       also list what apply would change (tokens by fingerprint).\n"
		 "apply  validate, read every token file, plan, then write: a bad or\n"
		 "       too large policy changes nothing. Identities that stay keep\n"
		 "       their buckets and counters; unchanged ones are not touched at\n"
		 "       all. Logged to the audit log (controller: audit_log).\n"
		 "dump   print the live state as a policy file (apply it to get the\n"
		 "       same state back). Tokens cannot be read back from the state:\n"
		 "       the dump names the token files recorded at the last apply.\n"
		 "\n"
		 "Token files hold one token per line (blank lines and lines starting\n"
		 "with # are skipped), optionally followed by expires=TIME (RFC 3339):\n"
		 "the token is dead from then on. The policy owns the tokens of every identity\n"
		 "that has token_files: an apply leaves it exactly the tokens of its\n"
		 "files, removing tokens added by hand. Identities without token_files\n"
		 "keep the tokens of `burstctl token add`.\n");
	return 0;
}

static void print_change(void *arg, const char *kind, const char *name, const char *line)
{
	(void)arg;
	out_begin_object(NULL);
	out_str("kind", NULL, kind);
	if (*name)
		out_str("identity", NULL, name);
	out_str("change", "  %s\n", line);
	out_end_object();
}

static void print_note(void *arg, const char *note)
{
	(void)arg;
	out_str(NULL, "note: %s\n", note);
}

static void print_summary(const struct bg_policy *p)
{
	size_t i;

	out_str("policy", "%s: valid:", p->path);
	out_u64("identity_count", " %llu identities (and default),", p->nids);
	out_u64("ipv4_prefix_count", " %llu IPv4", p->npfx4);
	out_u64("ipv6_prefix_count", " and %llu IPv6 prefixes,", p->npfx6);
	out_u64("tuned_identity_count", " %llu with adaptive bursts", p->ntuned);
	out_u64("token_count", p->ntoken_files ? ", %llu tokens" : NULL, p->ntoks);
	out_u64("token_file_count", p->ntoken_files ? " in %llu token files" : NULL,
		p->ntoken_files);
	out_begin_array("interfaces");
	if (p->has_ifaces) {
		out_text(", interfaces:");
		for (i = 0; i < p->nifaces; i++)
			out_str(NULL, " %s", p->ifaces[i].name);
		if (!p->nifaces)
			out_text(" none");
	}
	out_end_array();
	out_text("\n");
	out_begin_array("notes");
	bg_policy_notes(p, print_note, NULL);
	out_end_array();
}

static int load(const char *path, struct bg_policy *p)
{
	char err[1024];
	int ret = bg_policy_load(path, p, err, sizeof(err));

	if (ret)
		bg_err("%s", err);
	return ret;
}

/*
 * Read the token files: hashed under the state's secret when there is a
 * state (s not NULL), else only checked (a made-up key: the hashes mean
 * nothing and are not shown).
 */
static int read_tokens(const struct bg_state *s, struct bg_policy *p)
{
	struct bg_secret none = {};
	char err[1024];
	int ret = s ? bg_policy_prepare(s, p, err, sizeof(err)) :
		      bg_policy_read_tokens(p, &none, err, sizeof(err));

	if (ret)
		bg_err("%s", err);
	return ret;
}

/* Token counts: always in JSON, in text when tokens are involved at all. */
static void print_token_plan(const struct bg_plan *plan)
{
	bool say = plan->ntok_add || plan->ntok_del || plan->ntok_move || plan->ntok_same ||
		   plan->ntok_hand || plan->ntok_retiring;

	out_begin_object("token_changes");
	out_u64("added", say ? "tokens: %llu added" : NULL, plan->ntok_add);
	out_u64("removed", say ? ", %llu removed" : NULL, plan->ntok_del);
	out_u64("moved", say ? ", %llu moved" : NULL, plan->ntok_move - plan->ntok_retire);
	out_u64("retiring",
		say && (plan->ntok_retire || plan->ntok_retiring) ? ", %llu in their token_grace" :
								    NULL,
		plan->ntok_retire + plan->ntok_retiring);
	out_u64("unchanged", say ? ", %llu unchanged" : NULL, plan->ntok_same);
	out_u64("kept_by_hand",
		say ? ", %llu added by hand kept (identities without token_files)\n" : NULL,
		plan->ntok_hand);
	out_end_object();
}

/*
 * A file too bad to read has no audit_log of its own: the refusal goes to
 * the audit log of the policy in force, if there is one.
 */
static void audit_refused_load(const char *path, const char *err)
{
	struct bg_audit_who who = { .via = "cli", .uid = getuid(), .pid = getpid() };
	struct bg_state s;
	struct bg_ctl ctl;
	__u32 zero = 0;

	if (access(opts.pin_path, F_OK) || bg_state_open(&s, opts.pin_path, BG_OPEN_READ))
		return;
	if (bpf_map_lookup_elem(s.ctl_fd, &zero, &ctl) == 0 && (ctl.flags & BG_CTL_F_POLICY))
		bg_audit_write(ctl.audit_log, &who, path, NULL, err);
	bg_state_close(&s);
}

static int do_check(int argc, char **argv)
{
	struct bg_policy p;
	struct bg_state s;
	struct bg_live live;
	struct bg_plan plan;
	bool have_state;
	char err[1024];
	int ret;

	if (argc != 1)
		return usage_error(OBJ, "check: expected exactly one FILE");
	ret = load(argv[0], &p);
	if (ret)
		return ret;
	/* Against the live state, read-only, when there is one. */
	have_state = access(opts.pin_path, F_OK) == 0 &&
		     bg_state_open(&s, opts.pin_path, BG_OPEN_READ) == 0;
	ret = read_tokens(have_state ? &s : NULL, &p);
	if (ret)
		goto out;
	out_begin_object(NULL);
	print_summary(&p);
	if (have_state) {
		/* global identities as this host enforces them: its share (read only) */
		ret = bg_fleet_localize(&s, &p, false);
		if (!ret)
			ret = bg_live_read(&s, &live);
		if (!ret) {
			ret = bg_plan_build(&p, &live, &plan, err, sizeof(err));
			if (ret) {
				bg_err("%s: cannot be applied to %s: %s", p.path, opts.pin_path,
				       err);
			} else {
				out_text("apply to %s", opts.pin_path);
				out_u64("change_count", " would make %llu changes",
					bg_plan_changes(&plan));
				out_u64("identities_unchanged", " (%llu identities unchanged)\n",
					plan.nsame);
				print_token_plan(&plan);
				out_begin_array("changes");
				bg_plan_describe(&plan, SHOW_CHANGES_MAX, print_change, NULL);
				out_end_array();
				bg_plan_free(&plan);
			}
			bg_live_free(&live);
		}
	}
	out_end_object();
out:
	if (have_state)
		bg_state_close(&s);
	bg_policy_free(&p);
	return ret;
}

static void print_attach(void *arg, const char *line)
{
	(void)arg;
	out_str(NULL, "  %s\n", line);
}

static int do_apply(int argc, char **argv)
{
	struct bg_audit_who who = { .via = "cli", .uid = getuid(), .pid = getpid() };
	struct bg_policy p;
	struct bg_state s;
	struct bg_live live;
	struct bg_plan plan;
	char err[1024];
	bool created = false;
	pid_t holder;
	int ret, lock_fd;

	if (argc != 1)
		return usage_error(OBJ, "apply: expected exactly one FILE");
	ret = bg_policy_load(argv[0], &p, err, sizeof(err));
	if (ret) {
		bg_err("%s", err);
		audit_refused_load(argv[0], err);
		return ret;
	}
	ret = bg_policy_state_setup(opts.pin_path, &p, &created);
	if (!ret)
		ret = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (ret)
		goto out;
	/* Every token file is read before anything is written. */
	ret = bg_policy_prepare(&s, &p, err, sizeof(err));
	if (ret) {
		bg_err("%s", err);
		bg_audit_write(p.audit_log, &who, p.path, NULL, err);
		bg_state_close(&s);
		goto out;
	}
	if (bg_lock_take(opts.pin_path, BG_LOCK_SERVE, &lock_fd, &holder) == 0)
		close(lock_fd);
	else if (holder)
		bg_warn("a controller (`burstctl serve`, pid %d) manages this state from its own policy file: its next reload replaces what you apply now",
			(int)holder);

	ret = bg_policy_apply(&s, &p, &plan, &live, err, sizeof(err));
	if (ret) {
		bg_err("policy apply %s: %s", p.path, err);
		bg_audit_write(p.audit_log, &who, p.path, plan.result ? &plan : NULL, err);
		bg_plan_free(&plan);
		bg_live_free(&live);
		bg_state_close(&s);
		goto out;
	}
	created = false; /* applied: the state stays, whatever attaching does */
	out_begin_object(NULL);
	out_str("policy", "applied %s:", p.path);
	out_u64("change_count", " %llu changes", bg_plan_changes(&plan));
	out_u64("identities_unchanged", ", %llu identities unchanged\n", plan.nsame);
	print_token_plan(&plan);
	out_u64("flows_removed", NULL, plan.flows_removed);
	out_u64("flows_moved", NULL, plan.flows_moved);
	if (plan.flows_removed || plan.flows_moved)
		out_text(
			"connections: %zu unbound with their token or identity, %zu moved with their token\n",
			plan.flows_removed, plan.flows_moved);
	out_begin_array("changes");
	bg_plan_describe(&plan, SHOW_CHANGES_MAX, print_change, NULL);
	out_end_array();
	if (bg_audit_write(p.audit_log, &who, p.path, &plan, NULL))
		bg_warn("audit log %s: cannot write it (set controller: audit_log)", p.audit_log);
	bg_plan_free(&plan);
	bg_live_free(&live);
	bg_state_close(&s);
	out_begin_array("attach");
	ret = bg_policy_attach(opts.pin_path, &p, print_attach, NULL, NULL);
	out_end_array();
	out_begin_array("notes");
	bg_policy_notes(&p, print_note, NULL);
	out_end_array();
	out_end_object();
out:
	/* A failed apply leaves no state behind, not even the one made for it. */
	if (created && bg_state_teardown(opts.pin_path))
		bg_warn("the apply failed, but the state it created at %s could not be removed: remove it with `burstctl teardown`",
			opts.pin_path);
	bg_policy_free(&p);
	return ret;
}

/*
 * One node of a YAML document as JSON. Plain scalars that YAML 1.2's core
 * schema reads as integers, booleans or null become those; everything
 * else (quoted, "500pps") stays a string. YAML reads JSON, so the result
 * is itself a policy file.
 */
static json_t *yaml_to_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	yaml_node_pair_t *pair;
	yaml_node_item_t *item;
	json_t *j;

	if (!n || depth > 32)
		return json_null();
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		const char *v = (const char *)n->data.scalar.value;
		char *end;
		long long x;

		if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			return json_string(v);
		if (!strcmp(v, "true") || !strcmp(v, "false"))
			return json_boolean(!strcmp(v, "true"));
		if (!*v || !strcmp(v, "null") || !strcmp(v, "~"))
			return json_null();
		errno = 0;
		x = strtoll(v, &end, 10);
		if (!*end && !errno && (isdigit((unsigned char)v[0]) || v[0] == '-'))
			return json_integer(x);
		return json_string(v);
	}
	case YAML_SEQUENCE_NODE:
		j = json_array();
		for (item = n->data.sequence.items.start; item < n->data.sequence.items.top; item++)
			json_array_append_new(
				j,
				yaml_to_json(doc, yaml_document_get_node(doc, *item), depth + 1));
		return j;
	case YAML_MAPPING_NODE:
		j = json_object();
		for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
			yaml_node_t *k = yaml_document_get_node(doc, pair->key);

			if (k && k->type == YAML_SCALAR_NODE)
				json_object_set_new(
					j, (const char *)k->data.scalar.value,
					yaml_to_json(doc, yaml_document_get_node(doc, pair->value),
						     depth + 1));
		}
		return j;
	default:
		return json_null();
	}
}

/* The policy as JSON: bg_policy_write's YAML, read back (one writer for both). */
static int dump_json(const struct bg_policy *p)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int ret;

	if (!f)
		return -ENOMEM;
	ret = bg_policy_write(f, p);
	if (fclose(f) && !ret)
		ret = -EIO;
	if (ret)
		goto out;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		ret = -EIO;
	} else {
		out_json("policy", yaml_to_json(&doc, yaml_document_get_root_node(&doc), 0));
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
out:
	free(buf);
	return ret;
}

/* Tokens of identities without recorded token files: not the policy's. */
static size_t hand_tokens(const struct bg_live *live)
{
	size_t i, n = 0, lo, hi;

	for (i = 0; i < live->ntoks; i++) {
		__u32 id = live->toks[i].tok.id;

		for (lo = 0, hi = live->nrec; lo < hi;) { /* rec is sorted by owner */
			size_t mid = (lo + hi) / 2;

			if (live->rec[mid].k.owner < id)
				lo = mid + 1;
			else
				hi = mid;
		}
		n += lo == live->nrec || live->rec[lo].k.owner != id;
	}
	return n;
}

static int do_dump(int argc, char **argv)
{
	struct bg_policy p;
	struct bg_state s;
	struct bg_live live;
	size_t hand = 0;
	int ret;

	(void)argv;
	if (argc)
		return usage_error(OBJ, "dump: takes no arguments");
	ret = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (ret)
		return ret;
	ret = bg_live_read(&s, &live);
	if (!ret) {
		ret = bg_live_to_policy(&s, &live, &p);
		hand = hand_tokens(&live);
		bg_live_free(&live);
	}
	if (!ret && out_is_json()) {
		out_begin_object(NULL);
		out_str("pin_path", NULL, opts.pin_path);
		out_u64("tokens_by_hand", NULL, hand);
		ret = dump_json(&p);
		out_end_object();
		bg_policy_free(&p);
		if (ret)
			bg_err("policy dump: %s", strerror(-ret));
	} else if (!ret) {
		printf("# burstgate policy: the live state of %s\n", opts.pin_path);
		printf("# token_files: the files recorded at the last apply (the state keeps\n"
		       "# no token); applying this dump reads them again.\n");
		if (hand)
			printf("# %zu token%s added with `burstctl token add` to identities without\n"
			       "# token_files %s not part of a policy: an apply keeps %s.\n",
			       hand, hand == 1 ? "" : "s", hand == 1 ? "is" : "are",
			       hand == 1 ? "it" : "them");
		ret = bg_policy_write(stdout, &p);
		bg_policy_free(&p);
	} else {
		bg_err("policy dump: read the state: %s", strerror(-ret));
	}
	bg_state_close(&s);
	return ret;
}

int do_policy(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "check", do_check },
		{ "apply", do_apply },
		{ "dump", do_dump },
		{ NULL, NULL },
	};

	return cmd_select(OBJ, cmds, argc, argv, help);
}
