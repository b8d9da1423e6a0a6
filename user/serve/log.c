// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The controller's log lines and its notifications to systemd. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "serve.h"

void slog(const struct serve *sv, int prio, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Under systemd the "<N>" prefix sets the priority and journald adds the time. */
	if (sv->journal)
		fprintf(stderr, "<%d>%s\n", prio, line);
	else
		fprintf(stderr, "burstctl serve: %s%s\n",
			prio <= LOG_ERR_     ? "error: " :
			prio == LOG_WARNING_ ? "warning: " :
					       "",
			line);
}

/* One datagram to $NOTIFY_SOCKET. */
void sd_notify_(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	close(fd);
}

/* For the library's callbacks that report a line: one notice each. */
void slog_line(void *sv, const char *line)
{
	slog(sv, LOG_NOTICE_, "%s", line);
}
