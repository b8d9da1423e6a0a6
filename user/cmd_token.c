// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* burstctl token add|del|list|show|gc|config */
#include <bpf/bpf.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
static void print_entry(const struct bg_token_entry *e, const char *identity, __u64 now, bool table,
			const char *result)
{
	const struct bg_token *t = &e->tok;
	char fp[16], left[40];
	bool dead = bg_token_dead(t, now);

	out_begin_object(NULL);
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
	if (table)
		out_text("%s\n", dead ? "expired" : "live");
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

/* Consume "--token-file F" at argv[0]; 1 if it was there. */
static int take_token_file(int *argc, char ***argv, const char **file)
{
	if (strcmp((*argv)[0], "--token-file"))
		return 0;
	*file = take_value(OBJ, argc, argv);
	return *file ? 1 : -EINVAL;
}

static int do_add(int argc, char **argv)
{
	const char *name = NULL, *ttl = NULL, *expires = NULL, *file = NULL;
	char tok[TOKEN_BUF], err[256], ident[BG_NAME_LEN];
	__u64 deadline = 0, exp_unix = 0, ttl_ns = 0;
	struct bg_token_entry e;
	struct bg_identity id;
	struct bg_clock now;
	struct bg_state s;
	__s64 when = 0;
	size_t len = 0;
	int ret, pos = 1;

	while (argc > 0) {
		const char *kw = argv[0], **dst;

		ret = take_token_file(&argc, &argv, &file);
		if (ret < 0)
			return ret;
		if (ret) {
			pos += 2;
			continue;
		}
		if (!strcmp(kw, "identity"))
			dst = &name;
		else if (!strcmp(kw, "ttl"))
			dst = &ttl;
		else if (!strcmp(kw, "expires"))
			dst = &expires;
		else
			return unexpected("add", kw, pos);
		*dst = take_value(OBJ, &argc, &argv);
		if (!*dst)
			return -EINVAL;
		pos += 2;
	}
	if (!name)
		return usage_error(OBJ, "add: missing \"identity NAME\"");
	if (ttl && expires)
		return usage_error(OBJ, "add: give ttl or expires, not both");
	if (ttl) {
		ret = bg_parse_duration(ttl, &ttl_ns, err, sizeof(err));
		if (ret) {
			bg_err("token add: ttl %s", err);
			return ret;
		}
	}
	if (expires) {
		ret = bg_parse_rfc3339(expires, &when, err, sizeof(err));
		if (ret) {
			bg_err("token add: expires %s", err);
			return ret;
		}
	}

	/* Check the identity before asking for the token... */
	ret = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (ret)
		return ret;
	ret = bg_identity_get(&s, name, &id);
	bg_state_close(&s);
	if (ret == -ENOENT) {
		bg_err("token add: identity \"%s\" does not exist (create it with `burstctl identity add %s ...`)",
		       name, name);
		return ret;
	}
	if (ret)
		return ret;
	/* ...and read it without holding the writer lock (a terminal may be slow). */
	ret = bg_token_read(file, tok, sizeof(tok), &len);
	if (ret)
		return ret;
	ret = bg_state_open(&s, opts.pin_path, BG_OPEN_WRITE);
	if (ret)
		goto wipe;
	ret = bg_identity_get(&s, name, &id);
	if (ret) {
		bg_err("token add: identity \"%s\" was deleted meanwhile", name);
		goto out;
	}
	ret = bg_clock_now(&now);
	if (ret)
		goto out;
	if (ttl)
		bg_expiry_from_ttl(&now, ttl_ns, &deadline, &exp_unix);
	if (expires) {
		ret = bg_expiry_from_unix(&now, when, &deadline);
		if (ret == -ETIME) {
			bg_err("token add: expires %s is not in the future", expires);
			goto out;
		}
		if (ret) {
			bg_err("token add: expires %s is more than 10 years away", expires);
			goto out;
		}
		exp_unix = (__u64)when;
	}
	ret = bg_token_add(&s, tok, len, id.id, deadline, exp_unix, &e);
	if (!ret && policy_owns(&s, id.id))
		bg_warn("identity %s takes its tokens from the policy's token_files: the next policy apply or reload removes this token (add it to one of those files instead)",
			name);
	if (ret == -EEXIST) {
		char fp[16];

		name_of(&s, e.tok.id, ident, sizeof(ident));
		bg_err("token add: this token is already registered (fingerprint %s, identity %s): to move it, `burstctl token del %s` first",
		       bg_fp_fmt(e.tok.fingerprint, fp, sizeof(fp)), ident, fp);
	} else if (ret == -ENOSPC) {
		bg_err("token add: the token registry is full (%u tokens): remove unused ones (`burstctl token gc`, `burstctl token del`)",
		       BG_MAX_TOKENS_DEFAULT);
	} else if (ret) {
		bg_err("token add: %s", strerror(-ret));
	} else {
		print_entry(&e, name, now.boot_ns, false, "added");
	}
out:
	bg_state_close(&s);
wipe:
	explicit_bzero(tok, sizeof(tok));
	return ret;
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
	struct bg_token_entry e;
	char fp[16], ident[BG_NAME_LEN];
	struct bg_state s;
	size_t flows = 0;
	int ret;

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
	ret = bg_token_gc(&s, now, &toks, &tflows);
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
		{ "add", do_add },   { "del", do_del }, { "show", do_show },
		{ "list", do_list }, { "gc", do_gc },	{ "config", do_tok_config },
		{ NULL, NULL },
	};

	return cmd_select(OBJ, cmds, argc, argv, help);
}
