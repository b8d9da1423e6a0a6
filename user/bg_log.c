// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_log.h"

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>

int bg_verbose;
const char *bg_prog_name = "burstctl";
int bg_log_journal;

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

void bg_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(3, "", fmt, ap);
	va_end(ap);
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
