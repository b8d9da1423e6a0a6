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

/*
 * Set by `burstctl -j`: errors are kept, not printed, so that the command
 * can end with {"error": "..."} on stdout (out_finish_status()) as bpftool
 * does. Warnings still go to stderr. The controller turns it off: its
 * errors are log lines, not the answer of one command.
 */
extern int bg_log_capture;

void bg_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bg_dbg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The errors kept under bg_log_capture, joined by "; " (NULL if none). */
const char *bg_log_captured(void);
/* Forget the kept errors; print them to stderr first if print. */
void bg_log_flush_captured(int print);

/* Route libbpf's messages through bg_verbose. */
void bg_log_setup_libbpf(void);

#endif /* BG_LOG_H */
