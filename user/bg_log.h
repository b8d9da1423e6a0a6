/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Messages to stderr. Errors say what failed, on what, and what to do:
 *   burstctl: attach: interface "eth9" not found (see `ip link`)
 * libbpf's own chatter is shown only with -v (bg_verbose).
 */
#ifndef BG_LOG_H
#define BG_LOG_H

extern int bg_verbose;
extern const char *bg_prog_name;
/*
 * Set by `burstctl serve` under systemd: every line starts with its syslog
 * priority ("<3>" errors, "<4>" warnings, "<7>" debug) so journald files
 * the library's messages at their level, not all at the stream's default.
 */
extern int bg_log_journal;

void bg_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bg_dbg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Route libbpf's messages through bg_verbose. */
void bg_log_setup_libbpf(void);

#endif /* BG_LOG_H */
