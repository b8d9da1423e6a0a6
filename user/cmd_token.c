// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* burstctl token add|del|list|show|gc|config */
#include <bpf/bpf.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_audit.h"
#include "bg_flow.h"
#include "bg_identity.h"
#include "bg_log.h"
#include "bg_policy.h"
#include "bg_out.h"
#include "bg_setup.h"
#include "bg_state.h"
#include "bg_time.h"
#include "bg_token_reg.h"
#include "burstctl.h"

#define OBJ "token"
#define TOKEN_BUF (BG_TOKEN_MAX + 3) /* the token, CR, LF */

static int help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	out_help(
		"Usage: burstctl token add identity NAME [ttl DURATION | expires TIME] [--token-file FILE]\n"
		"       burstctl token rotate identity NAME [grace DURATION] [ttl DURATION | expires TIME]\n"
		"                             [--token-file FILE]\n"
		"       burstctl token del FINGERPRINT | --token-file FILE\n"
		"       burstctl token show FINGERPRINT | --token-file FILE\n"
		"       burstctl token list [identity NAME]\n"
		"       burstctl token gc\n"
		"       burstctl token config [header NAME] [scheme WORD|none] [http on|off]\n"
		"                             [http-idle DURATION] [bind-idle DURATION]\n"
		"                             [on-token-expired default|block|IDENTITY]\n"
		"\n"
		"Agent tokens (API keys, service tokens) as identities: a request\n"
		"carrying a registered token is metered against its identity, and\n"
		"so is a connection bound to it (`burstctl bind`).\n"
		"\n"
		"The token is read from standard input (one line) or --token-file,\n"
		"never from the command line, where every user could see it. It is\n"
		"never stored, printed or logged: the maps hold a keyed hash, and\n"
		"you see a FINGERPRINT (12 hex digits) instead. Without FINGERPRINT\n"
		"or --token-file, del and show read the token from standard input.\n"
		"\n"
		"DURATION  90s, 15m, 1h30m, 7d      TIME  RFC 3339: 2026-12-01T10:00:00Z\n"
		"A token past its deadline classifies as unknown traffic at once, in\n"
		"the XDP program itself; `token gc` removes expired tokens.\n"
		"\n"
		"rotate: add the new token (from standard input or --token-file) and,\n"
		"in the same step, give every other live token of the identity an\n"
		"expiry `grace` from now (default 10m; 0: at once), so agents have\n"
		"that long to switch. `token list` shows them as retiring.\n"
		"\n"
		"add, rotate, del and gc are recorded in the audit log (by\n"
		"fingerprint, with your uid, pid and command; `burstctl audit`).\n"
		"\n"
		"config: which header carries tokens (default: authorization, scheme\n"
		"bearer, i.e. \"Authorization: Bearer TOKEN\"; `header X-Api-Key scheme\n"
		"none` for \"X-Api-Key: TOKEN\"), whether HTTP requests are searched at\n"
		"all, and how long flows live without packets: those learnt from\n"
		"requests (http-idle, default 1m) and bindings (bind-idle, default 10m).\n"
		"on-token-expired: what a request whose token is expired or not\n"
		"registered (removed, revoked, made up) is metered as: default (the\n"
		"prefix and default identities, as if it had no token: with a\n"
		"default of allow, unlimited), block (dropped, counted under the\n"
		"identity " BG_POL_EXPIRED_BLOCK_NAME ", made with action block if absent), or an\n"
		"IDENTITY. The safe choice is block, or a limited IDENTITY.\n"
		"\n"
		"Under a policy (`burstctl policy apply`, `burstctl serve`): identities\n"
		"with token_files take their tokens from those files, and each apply\n"
		"removes the others; header and scheme are the policy's\n"
		"(host.http_token_header, http_token_scheme). Tokens added here to\n"
		"identities without token_files are kept.\n");
	return 0;
}

/*
 * An argument we did not expect may be a token pasted on the command line:
 * echo it only if it looks like one of our keywords.
 */
static int unexpected(const char *cmd, const char *arg, int pos)
{
	size_t i, n = strlen(arg);
	bool word = n > 0 && n <= 16;

	for (i = 0; word && i < n; i++)
		word = islower((unsigned char)arg[i]) || arg[i] == '-';
	if (word)
		return usage_error(OBJ, "%s: unknown argument \"%s\"", cmd, arg);
	return usage_error(
		OBJ,
		"%s: unexpected argument %d (not shown, in case it is a token: tokens are read from standard input or --token-file FILE, never from the command line)",
		cmd, pos);
}

static __u64 boot_now(void)
{
	struct bg_clock c;

	return bg_clock_now(&c) ? 0 : c.boot_ns;
}

/*
 * One token: in detail (add, show; result names what was done) or as a
 * line of `token list`. JSON has the same fields either way.
 */
static void print_fields(const struct bg_token_entry *e, const char *identity, __u64 now,
			 bool table)
{
	const struct bg_token *t = &e->tok;
	char fp[16], left[40];
	bool dead = bg_token_dead(t, now);
	bool retiring = !dead && (t->flags & BG_TOKF_RETIRING);

	out_str("fingerprint", table ? "%-13s " : "token %s\n",
		bg_fp_fmt(t->fingerprint, fp, sizeof(fp)));
	out_str("identity", table ? "%-20s " : "  identity   %s", identity);
	out_u64("identity_id", table ? NULL : " (id %llu)\n", t->id);
	out_time("created_at", table ? "%-21s " : "  created    %s\n", (int64_t)t->created_unix);
	if (!t->deadline_ns) {
		out_null("expires_at", table ? "never                 " : "  expires    never\n");
		out_null("expires_in_sec", NULL);
	} else {
		out_time("expires_at", table ? "%-21s " : "  expires    %s",
			 (int64_t)t->expires_unix);
		out_u64("expires_in_sec", NULL,
			bg_expiry_left(t->deadline_ns, now) / BG_NS_PER_SEC);
		if (!table)
			out_text(" (%s%s)\n", dead ? "expired" : "in ",
				 dead ? "" :
					bg_fmt_duration(bg_expiry_left(t->deadline_ns, now), left,
							sizeof(left)));
	}
	out_bool("expired", NULL, dead);
	out_bool("retiring", table || !retiring ? NULL : "  retiring   yes (rotated out)\n",
		 retiring);
	if (table)
		out_text("%s\n", dead ? "expired" : retiring ? "retiring" : "live");
}

static void print_entry(const struct bg_token_entry *e, const char *identity, __u64 now, bool table,
			const char *result)
{
	out_begin_object(NULL);
	print_fields(e, identity, now, table);
	if (result)
		out_str("result", NULL, result);
	out_end_object();
}

static bool policy_in_force(const struct bg_state *s)
{
	struct bg_ctl ctl;
	__u32 zero = 0;

	return !bpf_map_lookup_elem(s->ctl_fd, &zero, &ctl) && (ctl.flags & BG_CTL_F_POLICY);
}

/* Does the last policy applied own identity id's tokens (token_files)? */
static bool policy_owns(const struct bg_state *s, __u32 id)
{
	struct bg_rec_key k = { .owner = id, .idx = 0 };
	struct bg_rec_val v;

	return s->rec_fd >= 0 && !bpf_map_lookup_elem(s->rec_fd, &k, &v);
}

static void name_of(const struct bg_state *s, __u32 id, char *name, size_t len)
{
	if (bg_id_name_of(s, id, name, len))
		snprintf(name, len, "(deleted id %u)", id);
}

/* "burstctl token CMD ARGS": what the audit records as the command. */
static void command_line(char *buf, size_t len, const char *cmd, int argc, char **argv)
{
	size_t off = (size_t)snprintf(buf, len, "burstctl token %s", cmd);
	int i;

	for (i = 0; i < argc && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, " %s", argv[i]);
}

/* Append records to the audit log; a failure is a warning, not the command's. */
static void audit(const struct bg_state *s, json_t **recs, size_t n)
{
	char path[BG_CTL_PATH_LEN];
	int ret;

	bg_audit_path(s, path, sizeof(path));
	ret = bg_audit_append(path, recs, n);
	if (ret)
		bg_warn("audit log %s: cannot write it: %s (set controller: audit_log in the policy, or %s)",
			path, strerror(-ret), BG_AUDIT_ENV);
}

/* One token's record: event, token, who. */
static json_t *token_rec(const char *event, const struct bg_token_entry *e, const char *identity,
			 const struct bg_audit_who *who)
{
	json_t *o = bg_audit_new(event);

	bg_audit_set_token(o, e, identity, NULL);
	bg_audit_set_who(o, who);
	return o;
}

/* Consume "--token-file F" at argv[0]; 1 if it was there. */
static int take_token_file(int *argc, char ***argv, const char **file)
{
	if (strcmp((*argv)[0], "--token-file"))
		return 0;
	*file = take_value(OBJ, argc, argv);
	return *file ? 1 : -EINVAL;
}

/* add and rotate: what they read from the command line. */
struct add_args {
	const char *name, *ttl, *expires, *file, *grace;
	__u64 ttl_ns, grace_ns;
	__s64 when;
};

static int parse_add(const char *cmd, int argc, char **argv, struct add_args *a)
{
	char err[256];
	int ret, pos = 1;

	memset(a, 0, sizeof(*a));
	while (argc > 0) {
		const char *kw = argv[0], **dst;

		ret = take_token_file(&argc, &argv, &a->file);
		if (ret < 0)
			return ret;
		if (ret) {
			pos += 2;
			continue;
		}
		if (!strcmp(kw, "identity"))
			dst = &a->name;
		else if (!strcmp(kw, "ttl"))
			dst = &a->ttl;
		else if (!strcmp(kw, "expires"))
			dst = &a->expires;
		else if (!strcmp(kw, "grace") && !strcmp(cmd, "rotate"))
			dst = &a->grace;
		else
			return unexpected(cmd, kw, pos);
		*dst = take_value(OBJ, &argc, &argv);
		if (!*dst)
			return -EINVAL;
		pos += 2;
	}
	if (!a->name)
		return usage_error(OBJ, "%s: missing \"identity NAME\"", cmd);
	if (a->ttl && a->expires)
		return usage_error(OBJ, "%s: give ttl or expires, not both", cmd);
	if (a->ttl) {
		ret = bg_parse_duration(a->ttl, &a->ttl_ns, err, sizeof(err));
		if (ret) {
			bg_err("token %s: ttl %s", cmd, err);
			return ret;
		}
	}
	if (a->expires) {
		ret = bg_parse_rfc3339(a->expires, &a->when, err, sizeof(err));
		if (ret) {
			bg_err("token %s: expires %s", cmd, err);
			return ret;
		}
	}
	a->grace_ns = BG_ROTATE_GRACE_DEFAULT_NS;
	if (a->grace && strcmp(a->grace, "0")) {
		ret = bg_parse_duration(a->grace, &a->grace_ns, err, sizeof(err));
		if (ret) {
			bg_err("token %s: grace %s (or 0: the old tokens expire at once)", cmd,
			       err);
			return ret;
		}
	} else if (a->grace) {
		a->grace_ns = 0;
	}
	return 0;
}

/* The new token's deadline, from ttl or expires; prints why not. */
static int add_deadline(const char *cmd, const struct add_args *a, const struct bg_clock *now,
			__u64 *deadline, __u64 *exp_unix)
{
	int ret;

	*deadline = *exp_unix = 0;
	if (a->ttl)
		bg_expiry_from_ttl(now, a->ttl_ns, deadline, exp_unix);
	if (!a->expires)
		return 0;
	ret = bg_expiry_from_unix(now, a->when, deadline);
	if (ret == -ETIME)
		bg_err("token %s: expires %s is not in the future", cmd, a->expires);
	else if (ret)
		bg_err("token %s: expires %s is more than 10 years away", cmd, a->expires);
	else
		*exp_unix = (__u64)a->when;
	return ret;
}

static int do_add_or_rotate(const char *cmd, int argc, char **argv)
{
	char tok[TOKEN_BUF], ident[BG_NAME_LEN], cmdline[512];
	__u64 deadline = 0, exp_unix = 0;
	struct bg_token_entry e, *old = NULL;
	struct bg_audit_who who;
	struct bg_identity id;
	struct bg_clock now;
	struct bg_state s;
	struct add_args a;
	bool rotate = !strcmp(cmd, "rotate");
	size_t len = 0, nold = 0, i;
	json_t *rec;
	int ret;

	command_line(cmdline, sizeof(cmdline), cmd, argc, argv);
	ret = parse_add(cmd, argc, argv, &a);
	if (ret)
		return ret;

	/* Check the identity before asking for the token... */
	ret = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (ret)
		return ret;
	ret = bg_identity_get(&s, a.name, &id);
	if (!ret && rotate && policy_owns(&s, id.id)) {
		bg_err("token rotate: identity %s takes its tokens from the policy's token_files: rotate by replacing the token in its file (the policy's token_grace keeps the old one working that long)",
		       a.name);
		ret = -EPERM;
	}
	bg_state_close(&s);
	if (ret == -ENOENT) {
		bg_err("token %s: identity \"%s\" does not exist (create it with `burstctl identity add %s ...`)",
		       cmd, a.name, a.name);
		return ret;
	}
	if (ret)
		return ret;
	/* ...and read it without holding the writer lock (a terminal may be slow). */
	ret = bg_token_read(a.file, tok, sizeof(tok), &len);
	if (ret)
		return ret;
	ret = bg_state_open(&s, opts.pin_path, BG_OPEN_WRITE);
	if (ret)
		goto wipe;
	ret = bg_identity_get(&s, a.name, &id);
	if (ret) {
		bg_err("token %s: identity \"%s\" was deleted meanwhile", cmd, a.name);
		goto out;
	}
	ret = bg_clock_now(&now);
	if (!ret)
		ret = add_deadline(cmd, &a, &now, &deadline, &exp_unix);
	if (ret)
		goto out;
	ret = bg_token_add(&s, tok, len, id.id, deadline, exp_unix, &e);
	if (!ret && !rotate && policy_owns(&s, id.id))
		bg_warn("identity %s takes its tokens from the policy's token_files: the next policy apply or reload removes this token (add it to one of those files instead)",
			a.name);
	if (ret == -EEXIST) {
		char fp[16];

		name_of(&s, e.tok.id, ident, sizeof(ident));
		bg_err("token %s: this token is already registered (fingerprint %s, identity %s): to move it, `burstctl token del %s` first",
		       cmd, bg_fp_fmt(e.tok.fingerprint, fp, sizeof(fp)), ident, fp);
		goto out;
	} else if (ret == -ENOSPC) {
		bg_err("token %s: the token registry is full (%u tokens): remove unused ones (`burstctl token gc`, `burstctl token del`)",
		       cmd, BG_MAX_TOKENS_DEFAULT);
		goto out;
	} else if (ret) {
		bg_err("token %s: %s", cmd, strerror(-ret));
		goto out;
	}
	if (rotate) {
		__u64 old_deadline, old_unix;

		/* a grace of 0 expires them now: a deadline already reached */
		bg_expiry_from_ttl(&now, a.grace_ns ? a.grace_ns : 1, &old_deadline, &old_unix);
		if (!a.grace_ns)
			old_deadline = now.boot_ns;
		ret = bg_token_retire(&s, id.id, e.hash, old_deadline, old_unix, &old, &nold);
		if (ret)
			bg_err("token rotate: the new token %s is registered, but giving the old ones their expiry failed: %s (run the rotate again, or `burstctl token del` them)",
			       bg_fp_fmt(e.tok.fingerprint, ident, sizeof(ident)), strerror(-ret));
	}
	bg_audit_who_cli(&who, cmdline);
	rec = token_rec(rotate ? "token_rotate" : "token_add", &e, a.name, &who);
	if (rotate) {
		json_t *arr = json_array();

		json_object_set_new(rec, "grace_sec",
				    json_integer((json_int_t)(a.grace_ns / BG_NS_PER_SEC)));
		for (i = 0; i < nold; i++) {
			json_t *r = json_object();
			char fp[16];

			json_object_set_new(
				r, "fingerprint",
				json_string(bg_fp_fmt(old[i].tok.fingerprint, fp, sizeof(fp))));
			bg_audit_set_time(r, "expires_at", old[i].tok.expires_unix);
			json_array_append_new(arr, r);
		}
		json_object_set_new(rec, "retiring_tokens", arr);
	}
	audit(&s, &rec, 1);
	out_begin_object(NULL);
	print_fields(&e, a.name, now.boot_ns, false);
	out_str("result", NULL, rotate ? "rotated" : "added");
	if (rotate) {
		char fp[16], left[40];

		out_begin_array("retiring_tokens");
		if (!nold)
			out_text("  retiring   none (the identity had no other live token)\n");
		for (i = 0; i < nold; i++) {
			__u64 left_ns = bg_expiry_left(old[i].tok.deadline_ns, now.boot_ns);

			out_begin_object(NULL);
			out_text("  %-10s ", i ? "" : "retiring");
			out_str("fingerprint", "token %s",
				bg_fp_fmt(old[i].tok.fingerprint, fp, sizeof(fp)));
			out_time("expires_at", NULL, (int64_t)old[i].tok.expires_unix);
			out_u64("expires_in_sec", NULL, left_ns / BG_NS_PER_SEC);
			out_text(", expires %s%s\n", left_ns ? "in " : "now",
				 left_ns ? bg_fmt_duration(left_ns, left, sizeof(left)) : "");
			out_end_object();
		}
		out_end_array();
	}
	out_end_object();
out:
	free(old);
	bg_state_close(&s);
wipe:
	explicit_bzero(tok, sizeof(tok));
	return ret;
}

static int do_add(int argc, char **argv)
{
	return do_add_or_rotate("add", argc, argv);
}

static int do_rotate(int argc, char **argv)
{
	return do_add_or_rotate("rotate", argc, argv);
}

/*
 * The entry named by "FINGERPRINT", "--token-file F", or standard input.
 * Prints why when there is none.
 */
static int find_entry(const char *cmd, const struct bg_state *s, int argc, char **argv,
		      struct bg_token_entry *e)
{
	const char *file = NULL;
	char tok[TOKEN_BUF];
	size_t len;
	__u64 fp;
	int ret;

	if (argc == 1 && !bg_fp_parse(argv[0], &fp)) {
		ret = bg_token_get_fp(s, fp, e);
		if (ret == -ENOENT)
			bg_err("token %s: no token has fingerprint %s (see `burstctl token list`)",
			       cmd, argv[0]);
		return ret;
	}
	if (argc == 1)
		return unexpected(cmd, argv[0], 1);
	if (argc) {
		ret = take_token_file(&argc, &argv, &file);
		if (ret <= 0 || argc)
			return ret < 0 ?
				       ret :
				       usage_error(OBJ,
						   "%s: expected FINGERPRINT or --token-file FILE",
						   cmd);
	}
	ret = bg_token_read(file, tok, sizeof(tok), &len);
	if (ret)
		return ret;
	ret = bg_token_get(s, tok, len, e);
	explicit_bzero(tok, sizeof(tok));
	if (ret == -ENOENT)
		bg_err("token %s: that token is not registered", cmd);
	return ret;
}

static int do_del(int argc, char **argv)
{
	char fp[16], ident[BG_NAME_LEN], cmdline[512];
	struct bg_audit_who who;
	struct bg_token_entry e;
	struct bg_state s;
	size_t flows = 0;
	json_t *rec;
	int ret;

	/* a token given as an argument is refused by find_entry() before this is used */
	command_line(cmdline, sizeof(cmdline), "del", argc, argv);
	ret = bg_state_open(&s, opts.pin_path, BG_OPEN_WRITE);
	if (ret)
		return ret;
	ret = find_entry("del", &s, argc, argv, &e);
	if (ret)
		goto out;
	name_of(&s, e.tok.id, ident, sizeof(ident));
	ret = bg_token_del(&s, e.hash, &flows);
	if (ret) {
		bg_err("token del: %s", strerror(-ret));
		goto out;
	}
	bg_audit_who_cli(&who, cmdline);
	rec = token_rec("token_remove", &e, ident, &who);
	json_object_set_new(rec, "reason", json_string("deleted by hand"));
	json_object_set_new(rec, "flows_removed", json_integer((json_int_t)flows));
	audit(&s, &rec, 1);
	out_begin_object(NULL);
	out_str("fingerprint", "deleted token %s", bg_fp_fmt(e.tok.fingerprint, fp, sizeof(fp)));
	out_str("identity", " (identity %s)", ident);
	out_str("result", NULL, "deleted");
	out_u64("flows_removed", "; %llu connections unbound\n", flows);
	out_end_object();
out:
	bg_state_close(&s);
	return ret;
}

static int do_show(int argc, char **argv)
{
	struct bg_token_entry e;
	char ident[BG_NAME_LEN];
	struct bg_state s;
	int ret;

	ret = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (ret)
		return ret;
	ret = find_entry("show", &s, argc, argv, &e);
	if (!ret) {
		name_of(&s, e.tok.id, ident, sizeof(ident));
		print_entry(&e, ident, boot_now(), false, NULL);
	}
	bg_state_close(&s);
	return ret;
}

static int do_list(int argc, char **argv)
{
	struct bg_token_entry *v = NULL;
	const char *only = NULL;
	char ident[BG_NAME_LEN];
	struct bg_identity oid;
	struct bg_state s;
	size_t n = 0, i;
	__u64 now;
	int ret;

	if (argc && !strcmp(argv[0], "identity")) {
		only = take_value(OBJ, &argc, &argv);
		if (!only)
			return -EINVAL;
	}
	if (argc)
		return unexpected("list", argv[0], 1);
	ret = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (ret)
		return ret;
	if (only) {
		ret = bg_identity_get(&s, only, &oid);
		if (ret) {
			bg_err("token list: identity \"%s\" does not exist (see `burstctl identity list`)",
			       only);
			goto out;
		}
	}
	ret = bg_token_list(&s, &v, &n);
	if (ret) {
		bg_err("token list: %s", strerror(-ret));
		goto out;
	}
	now = boot_now();
	out_text("%-13s %-20s %-21s %-21s %s\n", "FINGERPRINT", "IDENTITY", "CREATED", "EXPIRES",
		 "STATE");
	out_begin_object(NULL);
	out_begin_array("tokens");
	for (i = 0; i < n; i++) {
		if (only && v[i].tok.id != oid.id)
			continue;
		name_of(&s, v[i].tok.id, ident, sizeof(ident));
		print_entry(&v[i], ident, now, true, NULL);
	}
	out_end_array();
	out_end_object();
out:
	free(v);
	bg_state_close(&s);
	return ret;
}

static int do_gc(int argc, char **argv)
{
	size_t toks = 0, tflows = 0, flows = 0;
	struct bg_token_entry *gone = NULL;
	struct bg_audit_who who;
	struct bg_state s;
	__u64 now;
	int ret;

	(void)argv;
	if (argc)
		return usage_error(OBJ, "gc: takes no arguments");
	ret = bg_state_open(&s, opts.pin_path, BG_OPEN_WRITE);
	if (ret)
		return ret;
	now = boot_now();
	ret = bg_token_gc_entries(&s, now, &gone, &toks, &tflows);
	if (!ret && toks) {
		char path[BG_CTL_PATH_LEN];

		bg_audit_who_cli(&who, "burstctl token gc");
		bg_audit_path(&s, path, sizeof(path));
		if (bg_audit_expired(&s, path, gone, toks, &who))
			bg_warn("audit log %s: cannot write it", path);
	}
	free(gone);
	if (!ret)
		ret = bg_flow_gc(&s, now, &flows);
	if (ret) {
		bg_err("token gc: %s", strerror(-ret));
	} else {
		out_begin_object(NULL);
		out_u64("tokens_removed", "removed %llu expired tokens", toks);
		out_u64("flows_removed", " and %llu dead flows\n", tflows + flows);
		out_end_object();
	}
	bg_state_close(&s);
	return ret;
}

/* on_token_expired in words: "default" or the identity's name. */
static void expired_name(const struct bg_state *s, const struct bg_tok_cfg *c, char *buf,
			 size_t len)
{
	if (!(c->flags & BG_TOK_F_EXPIRED_ID))
		snprintf(buf, len, "default");
	else if (bg_id_name_of(s, c->expired_id, buf, len))
		snprintf(buf, len, "default"); /* its identity is gone: the XDP falls back */
}

static void print_cfg(const struct bg_state *s, const struct bg_tok_cfg *c)
{
	char name[BG_HDR_NAME_MAX + 1], scheme[BG_SCHEME_MAX], buf[40], exp[BG_NAME_LEN];

	bg_tok_cfg_header(c, name, sizeof(name));
	bg_tok_cfg_scheme(c, scheme, sizeof(scheme));
	expired_name(s, c, exp, sizeof(exp));
	out_begin_object(NULL);
	out_str("header", "header            %s\n", name);
	if (scheme[0])
		out_str("scheme", "scheme            %s\n", scheme);
	else
		out_null("scheme", "scheme            none (the whole value is the token)\n");
	out_bool("http", NULL, c->flags & BG_TOK_F_HTTP);
	out_text("http              %s\n", c->flags & BG_TOK_F_HTTP ? "on" : "off");
	out_bool("active", NULL, c->flags & BG_TOK_F_ACTIVE);
	out_text("active            %s\n",
		 c->flags & BG_TOK_F_ACTIVE ?
			 "yes (tokens were registered: the XDP stages run)" :
			 "no (no token registered yet: the XDP stages are skipped)");
	out_u64("http_idle_sec", NULL, c->http_idle_ns / BG_NS_PER_SEC);
	out_text("http-idle         %s\n", bg_fmt_duration(c->http_idle_ns, buf, sizeof(buf)));
	out_u64("bind_idle_sec", NULL, c->bind_idle_ns / BG_NS_PER_SEC);
	out_text("bind-idle         %s\n", bg_fmt_duration(c->bind_idle_ns, buf, sizeof(buf)));
	out_str("on_token_expired", "on-token-expired  %s", exp);
	out_text("%s\n",
		 strcmp(exp, "default") ?
			 "" :
			 " (expired and unknown tokens are metered by prefix or as default)");
	out_end_object();
}

/*
 * The identity of `on-token-expired V` (its slot in *id), or -1 for
 * default. block makes its identity (action block) when absent.
 */
static int expired_target(struct bg_state *s, const char *v, __s64 *id)
{
	struct bg_limits l = { .action = BG_ACT_BLOCK };
	struct bg_identity ident;
	const char *name = !strcmp(v, "block") ? BG_POL_EXPIRED_BLOCK_NAME : v;
	int ret;

	*id = -1;
	if (!strcmp(v, "default"))
		return 0;
	ret = bg_identity_get(s, name, &ident);
	if (ret == -ENOENT && name != v) {
		ret = bg_identity_add(s, name, &l, BG_LIM_ACTION, &ident);
		if (!ret)
			out_text("made identity %s (action block) for expired tokens\n", name);
	}
	if (ret == -ENOENT)
		bg_err("token config: on-token-expired %s: no such identity (use default, block, or an identity of `burstctl identity list`)",
		       v);
	if (!ret)
		*id = ident.id;
	return ret;
}

static int do_tok_config(int argc, char **argv)
{
	struct bg_tok_cfg c, want;
	struct bg_state s;
	char err[256];
	const char *kw, *v;
	int ret, http = -1;
	bool hdr = false, sch = false;
	const char *expired = NULL;
	__u64 http_idle = 0, bind_idle = 0;

	/* Parse into a scratch config first: nothing is written on an error. */
	memset(&want, 0, sizeof(want));
	while (argc > 0) {
		kw = argv[0];
		if (strcmp(kw, "header") && strcmp(kw, "scheme") && strcmp(kw, "http") &&
		    strcmp(kw, "http-idle") && strcmp(kw, "bind-idle") &&
		    strcmp(kw, "on-token-expired"))
			return usage_error(
				OBJ,
				"config: unknown setting \"%s\" (use header, scheme, http, http-idle, bind-idle or on-token-expired)",
				kw);
		v = take_value(OBJ, &argc, &argv);
		if (!v)
			return -EINVAL;
		ret = 0;
		err[0] = '\0';
		if (!strcmp(kw, "header")) {
			ret = bg_tok_cfg_set_header(&want, v, err, sizeof(err));
			hdr = true;
		} else if (!strcmp(kw, "scheme")) {
			ret = bg_tok_cfg_set_scheme(&want, v, err, sizeof(err));
			sch = true;
		} else if (!strcmp(kw, "on-token-expired")) {
			if (strcmp(v, "default") && strcmp(v, "block") &&
			    bg_name_check(v, err, sizeof(err)))
				return usage_error(
					OBJ,
					"config: on-token-expired: %s (use default, block or an identity)",
					err);
			expired = v;
		} else if (!strcmp(kw, "http")) {
			if (strcmp(v, "on") && strcmp(v, "off"))
				return usage_error(OBJ, "config: http \"%s\": use on or off", v);
			http = !strcmp(v, "on");
		} else {
			ret = bg_parse_duration(v,
						!strcmp(kw, "http-idle") ? &http_idle : &bind_idle,
						err, sizeof(err));
		}
		if (ret) {
			bg_err("token config: %s%s%s", strchr(err, '"') == err ? kw : "",
			       strchr(err, '"') == err ? " " : "", err);
			return ret;
		}
	}
	ret = bg_state_open_setup(&s, opts.pin_path,
				  hdr || sch || http >= 0 || http_idle || bind_idle || expired ?
					  BG_OPEN_WRITE | BG_OPEN_CREATE :
					  BG_OPEN_READ);
	if (ret)
		return ret;
	ret = bg_tok_cfg_get(&s, &c);
	if (ret)
		goto fail;
	if (hdr) {
		memcpy(c.pattern, want.pattern, sizeof(c.pattern));
		c.pat_len = want.pat_len;
	}
	if (sch) {
		memcpy(c.scheme, want.scheme, sizeof(c.scheme));
		c.scheme_len = want.scheme_len;
	}
	if (http >= 0)
		c.flags = http ? c.flags | BG_TOK_F_HTTP : c.flags & ~BG_TOK_F_HTTP;
	if (http_idle)
		c.http_idle_ns = http_idle;
	if (bind_idle)
		c.bind_idle_ns = bind_idle;
	if (expired) {
		__s64 id;

		ret = expired_target(&s, expired, &id);
		if (ret) {
			bg_state_close(&s);
			return ret;
		}
		c.flags = id < 0 ? c.flags & ~BG_TOK_F_EXPIRED_ID : c.flags | BG_TOK_F_EXPIRED_ID;
		c.expired_id = id < 0 ? 0 : (__u32)id;
	}
	if (hdr || sch || http >= 0 || http_idle || bind_idle || expired)
		ret = bg_tok_cfg_put(&s, &c);
	if (ret)
		goto fail;
	if ((hdr || sch) && policy_in_force(&s))
		bg_warn("a policy is in force here: its host.http_token_header and http_token_scheme (default Authorization, bearer) replace this at its next apply or reload");
	if (expired && policy_in_force(&s))
		bg_warn("a policy is in force here: its host.on_token_expired (default: default) replaces this at its next apply or reload");
	print_cfg(&s, &c);
	bg_state_close(&s);
	return 0;
fail:
	bg_err("token config: %s", strerror(-ret));
	bg_state_close(&s);
	return ret;
}

int do_token(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "add", do_add },	     { "rotate", do_rotate }, { "del", do_del },
		{ "show", do_show },	     { "list", do_list },     { "gc", do_gc },
		{ "config", do_tok_config }, { NULL, NULL },
	};

	return cmd_select(OBJ, cmds, argc, argv, help);
}
