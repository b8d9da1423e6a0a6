// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_audit.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bg_time.h"

#define AUDIT_MAX_CHANGES 1000 /* per line; the rest are counted */

static void add_change(void *arg, const char *kind, const char *name, const char *line)
{
	json_t *o = json_object();

	json_object_set_new(o, "kind", json_string(kind));
	if (name && *name)
		json_object_set_new(o, "identity", json_string(name));
	json_object_set_new(o, "change", json_string(line));
	json_array_append_new(arg, o);
}

static int mkdir_parent(const char *path)
{
	char dir[BG_CTL_PATH_LEN];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0750) && errno != EEXIST)
		return -errno;
	return 0;
}

void bg_audit_path(const struct bg_state *s, char *buf, size_t len)
{
	const char *env = getenv(BG_AUDIT_ENV);
	struct bg_ctl ctl;
	__u32 zero = 0;

	if (env && *env)
		snprintf(buf, len, "%s", env);
	else if (s && !bpf_map_lookup_elem(s->ctl_fd, &zero, &ctl) &&
		 (ctl.flags & BG_CTL_F_POLICY) && ctl.audit_log[0] == '/')
		snprintf(buf, len, "%.*s", (int)sizeof(ctl.audit_log), ctl.audit_log);
	else
		snprintf(buf, len, "%s", BG_AUDIT_LOG_DEFAULT);
}

void bg_audit_who_cli(struct bg_audit_who *who, const char *command)
{
	who->via = "cli";
	who->uid = getuid();
	who->pid = getpid();
	who->command = command;
}

void bg_audit_set_time(json_t *o, const char *key, __u64 unix_s)
{
	char buf[40];

	json_object_set_new(o, key,
			    unix_s ? json_string(bg_fmt_rfc3339((__s64)unix_s, buf, sizeof(buf))) :
				     json_null());
}

json_t *bg_audit_new(const char *event)
{
	json_t *o = json_object();
	char when[40];
	struct timespec ts;

	/* docs/json.md: the record's own time has milliseconds; other times are _at */
	clock_gettime(CLOCK_REALTIME, &ts);
	bg_fmt_rfc3339_ms((__u64)ts.tv_sec * BG_NS_PER_SEC + (__u64)ts.tv_nsec, when, sizeof(when));
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "event", json_string(event));
	return o;
}

void bg_audit_set_who(json_t *o, const struct bg_audit_who *who)
{
	struct passwd *pw = getpwuid(who->uid);
	json_t *w = json_object();

	json_object_set_new(w, "via", json_string(who->via));
	json_object_set_new(w, "uid", json_integer(who->uid));
	json_object_set_new(w, "user", pw ? json_string(pw->pw_name) : json_null());
	json_object_set_new(w, "pid", who->pid ? json_integer(who->pid) : json_null());
	if (getenv("SUDO_USER"))
		json_object_set_new(w, "sudo_user", json_string(getenv("SUDO_USER")));
	if (who->command)
		json_object_set_new(w, "command", json_string(who->command));
	json_object_set_new(o, "who", w);
}

void bg_audit_set_token(json_t *o, const struct bg_token_entry *e, const char *identity,
			const char *scope)
{
	char fp[16];

	json_object_set_new(o, "fingerprint",
			    json_string(bg_fp_fmt(e->tok.fingerprint, fp, sizeof(fp))));
	json_object_set_new(o, "identity", identity ? json_string(identity) : json_null());
	json_object_set_new(o, "scope", scope && *scope ? json_string(scope) : json_null());
	bg_audit_set_time(o, "expires_at", e->tok.deadline_ns ? e->tok.expires_unix : 0);
}

int bg_audit_append(const char *log_path, json_t *const *recs, size_t n)
{
	char *buf = NULL, *line;
	size_t len = 0, i;
	FILE *mem;
	int fd, err = 0;

	mem = open_memstream(&buf, &len);
	for (i = 0; i < n; i++) {
		line = mem ? json_dumps(recs[i], JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		if (line)
			fprintf(mem, "%s\n", line);
		else
			err = -ENOMEM;
		free(line);
		json_decref(recs[i]);
	}
	if (!mem)
		return -ENOMEM;
	if (fclose(mem) || err) {
		free(buf);
		return -ENOMEM;
	}
	if (!len) {
		free(buf);
		return 0;
	}
	mkdir_parent(log_path);
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		err = -errno;
	else if (write(fd, buf, len) != (ssize_t)len)
		err = -EIO;
	if (fd >= 0)
		close(fd);
	free(buf);
	return err;
}

/* One token change of a policy apply, as a record of its own. */
static json_t *plan_token_rec(const char *event, const struct bg_plan_tok *t,
			      const struct bg_audit_who *who, const char *policy_path)
{
	struct bg_token_entry e = { .hash = t->hash, .tok = t->tok };
	json_t *o = bg_audit_new(event);

	bg_audit_set_token(o, &e, t->new_name ? t->new_name : t->old_name, NULL);
	if (t->old_name && t->new_name && strcmp(t->old_name, t->new_name))
		json_object_set_new(o, "from_identity", json_string(t->old_name));
	if (t->why)
		json_object_set_new(o, "reason", json_string(t->why));
	if (t->file) {
		json_object_set_new(o, "token_file", json_string(t->file));
		json_object_set_new(o, "token_file_line", json_integer(t->line));
	}
	bg_audit_set_who(o, who);
	json_object_set_new(o, "policy", json_string(policy_path));
	return o;
}

int bg_audit_write(const char *log_path, const struct bg_audit_who *who, const char *policy_path,
		   const struct bg_plan *plan, const char *error)
{
	json_t *o = bg_audit_new("policy_apply"), *ch, **recs;
	struct stat st;
	size_t n = 1, i;
	int err;

	bg_audit_set_who(o, who);
	json_object_set_new(o, "policy", json_string(policy_path));
	if (stat(policy_path, &st) == 0) {
		json_object_set_new(o, "policy_size_bytes", json_integer(st.st_size));
		bg_audit_set_time(o, "policy_modified_at", (__u64)st.st_mtime);
		json_object_set_new(o, "policy_owner_uid", json_integer(st.st_uid));
	}
	/*
	 * refused: nothing written; rolled_back: a write failed midway and
	 * everything written was undone; partial: the undo failed too.
	 */
	json_object_set_new(o, "result",
			    json_string(!error				      ? "applied" :
					!plan || plan->result == BG_EXEC_NONE ? "refused" :
					plan->result == BG_EXEC_PARTIAL	      ? "partial" :
										"rolled_back"));
	if (error)
		json_object_set_new(o, "error", json_string(error));
	if (error && plan && plan->failed_step)
		json_object_set_new(o, "failed_step", json_string(plan->failed_step));
	if (error && plan && plan->result == BG_EXEC_PARTIAL)
		json_object_set_new(o, "still_written", json_string(plan->steps_done));
	if (plan && !error) {
		ch = json_array();
		bg_plan_describe(plan, AUDIT_MAX_CHANGES, add_change, ch);
		json_object_set_new(o, "change_count",
				    json_integer((json_int_t)bg_plan_changes(plan)));
		json_object_set_new(o, "identities_unchanged",
				    json_integer((json_int_t)plan->nsame));
		json_object_set_new(o, "changes", ch);
		n += plan->ntok_add + plan->ntok_del + plan->ntok_move;
	}
	recs = calloc(n, sizeof(*recs));
	if (!recs) {
		json_decref(o);
		return -ENOMEM;
	}
	recs[0] = o;
	n = 1;
	/* Each token's life, by token: what `burstctl audit --identity` follows. */
	for (i = 0; plan && !error && i < plan->ntok_add; i++)
		recs[n++] = plan_token_rec("token_add", &plan->tok_add[i], who, policy_path);
	for (i = 0; plan && !error && i < plan->ntok_move; i++)
		recs[n++] = plan_token_rec(plan->tok_move[i].retire ? "token_retire" : "token_move",
					   &plan->tok_move[i], who, policy_path);
	for (i = 0; plan && !error && i < plan->ntok_del; i++)
		recs[n++] = plan_token_rec("token_remove", &plan->tok_del[i], who, policy_path);
	err = bg_audit_append(log_path, recs, n);
	free(recs);
	return err;
}

int bg_audit_expired(const struct bg_state *s, const char *log_path,
		     const struct bg_token_entry *gone, size_t n, const struct bg_audit_who *who)
{
	json_t **recs = calloc(n + 1, sizeof(*recs));
	char ident[BG_NAME_LEN];
	size_t i;
	int err;

	if (!recs)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (bg_id_name_of(s, gone[i].tok.id, ident, sizeof(ident)))
			snprintf(ident, sizeof(ident), "(deleted id %u)", gone[i].tok.id);
		recs[i] = bg_audit_new("token_expire");
		bg_audit_set_token(recs[i], &gone[i], ident, NULL);
		if (gone[i].tok.flags & BG_TOKF_RETIRING)
			json_object_set_new(recs[i], "reason",
					    json_string("rotated out: grace over"));
		bg_audit_set_who(recs[i], who);
	}
	err = bg_audit_append(log_path, recs, n);
	free(recs);
	return err;
}
