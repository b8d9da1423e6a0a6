/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The audit log: one JSON object per line, each with "time", "time_unix"
 * and "event":
 *   policy_apply    every policy apply, by hand or by the controller,
 *                   successful or refused: who (uid, user, pid, how), which
 *                   file (with its size, mtime and owner), what changed;
 *   token_add, token_rotate, token_retire, token_move, token_remove,
 *   token_expire    every change in a token's life, by fingerprint, with
 *                   who made it (the command, or the policy and token file);
 * Never a token: tokens are named by fingerprint. Lines are written with
 * one write(2) on an O_APPEND file, so concurrent writers never interleave
 * within a line. docs/tokens.md ("The audit trail") lists every field.
 */
#ifndef BG_AUDIT_H
#define BG_AUDIT_H

#include <jansson.h>
#include <sys/types.h>

#include "bg_apply.h"

/* $BURSTGATE_AUDIT_LOG overrides where burstctl commands write and read it. */
#define BG_AUDIT_ENV "BURSTGATE_AUDIT_LOG"

struct bg_audit_who {
	const char *via; /* "cli", "start", "SIGHUP", "file-change", "gc" */
	uid_t uid; /* who asked: the CLI's user, a signal's sender, the file's owner */
	pid_t pid; /* 0: unknown */
	const char *command; /* the burstctl command line (never a token), or NULL */
};

/*
 * error is NULL on success. On failure, plan is NULL (refused before
 * anything was written) or the plan whose writing failed (its result says
 * whether it was undone). Returns 0 or -errno.
 */
int bg_audit_write(const char *log_path, const struct bg_audit_who *who, const char *policy_path,
		   const struct bg_plan *plan, const char *error);

/*
 * Where burstctl commands write: $BURSTGATE_AUDIT_LOG, else the audit_log of
 * the policy in force (bg_ctl), else BG_AUDIT_LOG_DEFAULT.
 */
void bg_audit_path(const struct bg_state *s, char *buf, size_t len);

/* This burstctl process as the one who acts: "cli", uid, pid, command. */
void bg_audit_who_cli(struct bg_audit_who *who, const char *command);

/* A record of event at the current time ("time", "time_unix", "event"). */
json_t *bg_audit_new(const char *event);
/* Add who (an object "who") to a record. */
void bg_audit_set_who(json_t *o, const struct bg_audit_who *who);
/* Add a token's fingerprint, identity, scope and expiry. */
void bg_audit_set_token(json_t *o, const struct bg_token_entry *e, const char *identity,
			const char *scope);
/* A time as RFC 3339 (UTC); null for 0. */
void bg_audit_set_time(json_t *o, const char *key, __u64 unix_s);

/*
 * Append records (each a JSON object, stolen) as one write: the lines of
 * one action stay together. Creates the file (0640) and its folder.
 */
int bg_audit_append(const char *log_path, json_t *const *recs, size_t n);

/*
 * token_expire records for the tokens garbage collection removed (gone,
 * as bg_token_gc_entries() gives them), one per token.
 */
int bg_audit_expired(const struct bg_state *s, const char *log_path,
		     const struct bg_token_entry *gone, size_t n, const struct bg_audit_who *who);

#endif /* BG_AUDIT_H */
