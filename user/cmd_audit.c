// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* burstctl audit: read the audit log back, filtered. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bg_audit.h"
#include "bg_log.h"
#include "bg_out.h"
#include "bg_state.h"
#include "bg_time.h"
#include "bg_token_reg.h"
#include "burstctl.h"

#define OBJ "audit"

static int help(void)
{
	out_help(
		"Usage: burstctl audit [--since TIME|DURATION] [--identity NAME] [--fingerprint FP]\n"
		"                      [--event EVENT] [--file PATH]\n"
		"\n"
		"Print the audit log: every policy apply, every change in a token's\n"
		"life (token_add, token_rotate, token_retire, token_move, token_remove,\n"
		"token_expire) with who made it. Tokens appear by fingerprint only.\n"
		"\n"
		"--since       records from TIME (RFC 3339) or from DURATION ago (1h, 7d)\n"
		"--identity    records about this identity (a policy apply: if it changed it)\n"
		"--fingerprint records about this token\n"
		"--event       records of this kind (policy_apply, token_add, ...)\n"
		"--file        the log to read; default: $%s, else the audit_log of\n"
		"              the policy in force, else %s\n"
		"\n"
		"With -j: {\"records\": [...]}, each record as the log holds it.\n",
		BG_AUDIT_ENV, BG_AUDIT_LOG_DEFAULT);
	return 0;
}

struct filter {
	__s64 since; /* seconds since the epoch; 0: all */
	const char *identity;
	const char *fingerprint;
	const char *event;
};

static const char *str_of(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static bool changes_name(const json_t *rec, const char *identity)
{
	const json_t *ch = json_object_get(rec, "changes"), *c;
	size_t i;

	json_array_foreach(ch, i, c) if (!strcmp(str_of(c, "identity"), identity)) return true;
	return false;
}

static bool keep(const json_t *rec, const struct filter *f)
{
	const char *event = str_of(rec, "event");

	if (!*event) /* written before records had an event: a policy apply */
		event = "policy_apply";
	if (f->since) {
		char err[128];
		__s64 t = 0;

		if (bg_parse_rfc3339(str_of(rec, "time"), &t, err, sizeof(err)) || t < f->since)
			return false;
	}
	if (f->event && strcmp(event, f->event))
		return false;
	if (f->fingerprint && strcmp(str_of(rec, "fingerprint"), f->fingerprint))
		return false;
	if (f->identity && strcmp(str_of(rec, "identity"), f->identity) &&
	    strcmp(str_of(rec, "from_identity"), f->identity) && !changes_name(rec, f->identity))
		return false;
	return true;
}

static long long int_of(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* "root (uid 0) pid 4242 via cli: burstctl token add ..." */
static void who_text(const json_t *rec, char *buf, size_t len)
{
	const json_t *w = json_object_get(rec, "who");
	const char *user = str_of(w, "user"), *cmd = str_of(w, "command");
	size_t off;

	if (!w) {
		snprintf(buf, len, "-");
		return;
	}
	off = (size_t)snprintf(buf, len, "%s%suid %lld", user, *user ? " " : "", int_of(w, "uid"));
	if (json_integer_value(json_object_get(w, "pid")) && off < len)
		off += (size_t)snprintf(buf + off, len - off, " pid %lld", int_of(w, "pid"));
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, " via %s", str_of(w, "via"));
	if (*cmd && off < len)
		off += (size_t)snprintf(buf + off, len - off, ": %s", cmd);
	if (*str_of(rec, "policy") && strcmp(str_of(rec, "event"), "policy_apply") && off < len)
		snprintf(buf + off, len - off, " (policy %s)", str_of(rec, "policy"));
}

/* One line per record: what happened, in words. */
static void print_text(const json_t *rec)
{
	const char *event = str_of(rec, "event"), *fp = str_of(rec, "fingerprint");
	const char *ident = str_of(rec, "identity");
	char who[600], what[800];

	if (!*event)
		event = "policy_apply";
	who_text(rec, who, sizeof(who));
	if (!strcmp(event, "policy_apply")) {
		snprintf(what, sizeof(what), "%s %s%s%s (%lld changes); by %s",
			 str_of(rec, "policy"), str_of(rec, "result"),
			 json_object_get(rec, "error") ? ": " : "", str_of(rec, "error"),
			 int_of(rec, "change_count"), who);
	} else {
		size_t off = 0;

		what[0] = '\0';
		if (json_object_get(rec, "from_identity"))
			off += (size_t)snprintf(what + off, sizeof(what) - off, "from %s; ",
						str_of(rec, "from_identity"));
		if (*str_of(rec, "reason") && off < sizeof(what))
			off += (size_t)snprintf(what + off, sizeof(what) - off, "%s; ",
						str_of(rec, "reason"));
		if (*str_of(rec, "token_file") && off < sizeof(what))
			off += (size_t)snprintf(what + off, sizeof(what) - off, "%s line %lld; ",
						str_of(rec, "token_file"),
						int_of(rec, "token_file_line"));
		if (*str_of(rec, "expires_at") && off < sizeof(what))
			off += (size_t)snprintf(what + off, sizeof(what) - off, "expires %s; ",
						str_of(rec, "expires_at"));
		if (json_array_size(json_object_get(rec, "retiring_tokens")) && off < sizeof(what))
			off += (size_t)snprintf(
				what + off, sizeof(what) - off,
				"%zu old tokens retiring (grace %llds); ",
				json_array_size(json_object_get(rec, "retiring_tokens")),
				int_of(rec, "grace_sec"));
		if (off < sizeof(what))
			snprintf(what + off, sizeof(what) - off, "by %s", who);
	}
	out_text("%-24s  %-14s %-12s  %-20s %s\n", str_of(rec, "time"), event, *fp ? fp : "-",
		 *ident ? ident : "-", what);
}

static int parse_since(const char *v, __s64 *since)
{
	char err[256];
	__u64 ns;

	if (!bg_parse_rfc3339(v, since, err, sizeof(err)))
		return 0;
	if (!bg_parse_duration(v, &ns, err, sizeof(err))) {
		*since = (__s64)time(NULL) - (__s64)(ns / BG_NS_PER_SEC);
		return 0;
	}
	return usage_error(
		OBJ, "--since \"%s\": not a time (2026-12-01T10:00:00Z) nor a duration (1h, 7d)",
		v);
}

int do_audit(int argc, char **argv)
{
	const char *file = NULL;
	struct filter f = {};
	char path[BG_CTL_PATH_LEN], *line = NULL;
	size_t cap = 0, lineno = 0, bad = 0, kept = 0;
	struct bg_state s;
	ssize_t n;
	FILE *in;
	int ret;

	if (argc && (!strcmp(argv[0], "help") || wants_help(argc, argv)))
		return help();
	while (argc > 0) {
		const char *kw = argv[0], *v;

		if (strcmp(kw, "--since") && strcmp(kw, "--identity") &&
		    strcmp(kw, "--fingerprint") && strcmp(kw, "--event") && strcmp(kw, "--file"))
			return usage_error(
				OBJ,
				"unknown argument \"%s\" (use --since, --identity, --fingerprint, --event or --file)",
				kw);
		v = take_value(OBJ, &argc, &argv);
		if (!v)
			return -EINVAL;
		if (!strcmp(kw, "--since")) {
			ret = parse_since(v, &f.since);
			if (ret)
				return ret;
		} else if (!strcmp(kw, "--identity")) {
			f.identity = v;
		} else if (!strcmp(kw, "--fingerprint")) {
			__u64 fp;

			if (bg_fp_parse(v, &fp))
				return usage_error(OBJ, "--fingerprint \"%s\": 12 hex digits", v);
			f.fingerprint = v;
		} else if (!strcmp(kw, "--event")) {
			f.event = v;
		} else {
			file = v;
		}
	}
	if (file) {
		snprintf(path, sizeof(path), "%s", file);
	} else if (!access(opts.pin_path, F_OK) &&
		   !bg_state_open(&s, opts.pin_path, BG_OPEN_READ)) {
		bg_audit_path(&s, path, sizeof(path));
		bg_state_close(&s);
	} else {
		bg_audit_path(NULL, path, sizeof(path));
	}
	in = fopen(path, "re");
	if (!in) {
		ret = -errno;
		bg_err("audit: %s: %s%s", path, strerror(-ret),
		       ret == -ENOENT ? " (nothing audited yet, or another log: --file PATH)" : "");
		return ret;
	}
	out_text("%-24s  %-14s %-12s  %-20s %s\n", "TIME", "EVENT", "FINGERPRINT", "IDENTITY",
		 "WHAT");
	out_begin_object(NULL);
	out_str("audit_log", NULL, path);
	out_begin_array("records");
	while ((n = getline(&line, &cap, in)) > 0) {
		json_error_t jerr;
		json_t *rec;

		lineno++;
		rec = json_loadb(line, (size_t)n, 0, &jerr);
		if (!json_is_object(rec)) {
			if (bad++ < 3)
				bg_warn("audit: %s:%zu: not a JSON object (skipped): %s", path,
					lineno, jerr.text);
			json_decref(rec);
			continue;
		}
		if (keep(rec, &f)) {
			kept++;
			print_text(rec);
			out_json(NULL, rec);
		} else {
			json_decref(rec);
		}
	}
	free(line);
	fclose(in);
	if (bad > 3)
		bg_warn("audit: %s: %zu lines in all were not JSON objects (skipped)", path, bad);
	out_end_array();
	out_u64("record_count", NULL, kept);
	out_u64("lines_skipped", NULL, bad);
	out_end_object();
	return 0;
}
