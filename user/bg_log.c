// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_log.h"

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bg_verbose;
const char *bg_prog_name = "burstctl";
int bg_log_journal;
int bg_log_capture;
static char *captured; /* errors kept under bg_log_capture, "; " between them */

/* prio: the syslog priority, for journald (bg_log_journal) */
static void vmsg(int prio, const char *tag, const char *fmt, va_list ap)
{
	if (bg_log_journal)
		fprintf(stderr, "<%d>%s", prio, tag);
	else
		fprintf(stderr, "%s: %s", bg_prog_name, tag);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void capture(const char *fmt, va_list ap)
{
	size_t old = captured ? strlen(captured) : 0;
	char *line = NULL, *all;

	if (vasprintf(&line, fmt, ap) < 0)
		return;
	all = realloc(captured, old + strlen(line) + 3);
	if (all) {
		snprintf(all + old, strlen(line) + 3, "%s%s", old ? "; " : "", line);
		captured = all;
	}
	free(line);
}

void bg_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (bg_log_capture)
		capture(fmt, ap);
	else
		vmsg(3, "", fmt, ap);
	va_end(ap);
}

const char *bg_log_captured(void)
{
	return captured;
}

void bg_log_flush_captured(int print)
{
	if (captured && print)
		fprintf(stderr, "%s: %s\n", bg_prog_name, captured);
	free(captured);
	captured = NULL;
}

void bg_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(4, "warning: ", fmt, ap);
	va_end(ap);
}

void bg_dbg(const char *fmt, ...)
{
	va_list ap;

	if (!bg_verbose)
		return;
	va_start(ap, fmt);
	vmsg(7, "debug: ", fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	/* Even warnings: burstctl explains its own failures; -v shows why. */
	if (!bg_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void bg_log_setup_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
