// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_audit.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
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

int bg_audit_write(const char *log_path, const struct bg_audit_who *who, const char *policy_path,
		   const struct bg_plan *plan, const char *error)
{
	struct passwd *pw = getpwuid(who->uid);
	json_t *o = json_object(), *w = json_object(), *ch;
	char when[40], *line = NULL;
	struct timespec ts;
	struct stat st;
	int fd, err = 0;
	size_t len;

	/* docs/json.md: the record's own time has milliseconds; other times are _at */
	clock_gettime(CLOCK_REALTIME, &ts);
	bg_fmt_rfc3339_ms((__u64)ts.tv_sec * BG_NS_PER_SEC + (__u64)ts.tv_nsec, when, sizeof(when));
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(w, "via", json_string(who->via));
	json_object_set_new(w, "uid", json_integer(who->uid));
	json_object_set_new(w, "user", pw ? json_string(pw->pw_name) : json_null());
	json_object_set_new(w, "pid", who->pid ? json_integer(who->pid) : json_null());
	if (getenv("SUDO_USER"))
		json_object_set_new(w, "sudo_user", json_string(getenv("SUDO_USER")));
	json_object_set_new(o, "who", w);
	json_object_set_new(o, "policy", json_string(policy_path));
	if (stat(policy_path, &st) == 0) {
		json_object_set_new(o, "policy_size_bytes", json_integer(st.st_size));
		json_object_set_new(o, "policy_modified_at",
				    json_string(bg_fmt_rfc3339(st.st_mtime, when, sizeof(when))));
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
	}
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!line)
		return -ENOMEM;
	len = strlen(line);
	line[len++] = '\n'; /* replaces the NUL: written by length */
	mkdir_parent(log_path);
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		err = -errno;
	else if (write(fd, line, len) != (ssize_t)len)
		err = -EIO;
	if (fd >= 0)
		close(fd);
	free(line);
	return err;
}
