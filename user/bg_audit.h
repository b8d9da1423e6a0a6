/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The audit log: one JSON object per line for every policy apply, by hand
 * or by the controller, successful or refused: who (uid, user, pid, how),
 * when, which file (with its size, mtime and owner), and what changed. A line is written with one write(2) on an O_APPEND file, so
 * concurrent writers never interleave within a line.
 */
#ifndef BG_AUDIT_H
#define BG_AUDIT_H

#include <sys/types.h>

#include "bg_apply.h"

struct bg_audit_who {
	const char *via; /* "cli", "start", "SIGHUP", "file-change" */
	uid_t uid; /* who asked: the CLI's user, a signal's sender, the file's owner */
	pid_t pid; /* 0: unknown */
};

/*
 * error is NULL on success. On failure, plan is NULL (refused before
 * anything was written) or the plan whose writing failed (its result says
 * whether it was undone). Returns 0 or -errno.
 */
int bg_audit_write(const char *log_path, const struct bg_audit_who *who, const char *policy_path,
		   const struct bg_plan *plan, const char *error);

#endif /* BG_AUDIT_H */
