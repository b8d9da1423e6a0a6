// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bind_server: the whole bind path in one small program. A TCP server (no
 * TLS here, but it stands for one: burstgate cannot read its payload) whose
 * clients send their agent token as the first line. The server binds the
 * connection to that agent through the client library, then accepts an
 * upload: everything the client sends until it shuts down its side. From
 * the bind on, burstgate meters the connection against the agent's
 * identity, whatever its source address.
 *
 *   bind_server --listen ADDR --port N [--socket PATH] [--duration S] [--max-conns N]
 *
 * Per connection: "TOKEN\n" -> "OK IDENTITY\n" (or "ERR REASON\n" and close),
 * then bytes until EOF -> "RECEIVED N\n" (or until a reset). It stops after --duration seconds
 * (default 30, at most 300) or --max-conns finished connections, and prints
 * one JSON object per connection on stdout:
 *   {"peer":"198.18.0.10:40000","identity":"agent-a","bound":true,"bytes":N,"seconds":S}
 * Build: make (links .output/libburstgate_client.a).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero, accept4 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bg_client.h"

#define MAX_CONNS 64
#define LINE_MAX_BYTES 600 /* a token is at most 512 bytes */
#define AUTH_TIMEOUT_S 5.0

struct conn {
	int fd;
	int authed; /* the token line was read */
	int bound; /* burstgate accepted the bind */
	int eof; /* the client finished its upload (not a reset) */
	size_t len; /* bytes of the token line so far */
	char line[LINE_MAX_BYTES + 1];
	char peer[80];
	char identity[48];
	unsigned long long bytes; /* uploaded after the token line */
	double t0;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(int fd, const char *msg)
{
	if (send(fd, msg, strlen(msg), MSG_NOSIGNAL) < 0)
		perror("bind_server: send");
}

static void finish(struct conn *c, int *done)
{
	char msg[64];

	if (c->authed && c->eof) {
		snprintf(msg, sizeof(msg), "RECEIVED %llu\n", c->bytes);
		say(c->fd, msg);
	}
	printf("{\"peer\":\"%s\",\"identity\":\"%s\",\"bound\":%s,\"bytes\":%llu,\"seconds\":%.3f}\n",
	       c->peer, c->identity, c->bound ? "true" : "false", c->bytes, now_s() - c->t0);
	fflush(stdout);
	close(c->fd);
	c->fd = -1;
	(*done)++;
}

/* The token line is complete: authenticate (by binding) and answer. */
static int authenticate(struct conn *c, const char *socket_path)
{
	struct bg_client_reply r;
	char msg[320];
	size_t n = strcspn(c->line, "\r\n");
	int err;

	err = bg_client_bind(c->fd, c->line, n, 0, socket_path, &r);
	memset(c->line, 0, sizeof(c->line)); /* the token is not kept */
	if (err == -ENOKEY || err == -EKEYEXPIRED || err == -EINVAL) {
		/* burstgate's registry is our user database here: refuse. */
		snprintf(msg, sizeof(msg), "ERR %s\n", r.error);
		say(c->fd, msg);
		fprintf(stderr, "bind_server: %s: refused: %s\n", c->peer, r.error);
		return -1;
	}
	if (err) {
		/* burstgate unreachable: serve anyway, metered by address. */
		fprintf(stderr, "bind_server: %s: not bound: %s\n", c->peer, r.error);
		snprintf(c->identity, sizeof(c->identity), "-");
	} else {
		c->bound = 1;
		snprintf(c->identity, sizeof(c->identity), "%s", r.identity);
		fprintf(stderr, "bind_server: %s: bound to identity %s (token %s)\n", c->peer,
			r.identity, r.fingerprint);
	}
	c->authed = 1;
	c->t0 = now_s();
	snprintf(msg, sizeof(msg), "OK %s\n", c->identity);
	say(c->fd, msg);
	return 0;
}

/* Readable: 0 to keep the connection, -1 when it is over. */
static int serve(struct conn *c, const char *socket_path)
{
	char buf[65536];
	ssize_t n;

	if (!c->authed) {
		n = recv(c->fd, c->line + c->len, LINE_MAX_BYTES - c->len, 0);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
		c->line[c->len] = '\0';
		if (!memchr(c->line, '\n', c->len)) {
			if (c->len == LINE_MAX_BYTES) {
				say(c->fd, "ERR token line too long\n");
				return -1;
			}
			return 0;
		}
		/* Anything after the token line is upload already. */
		c->bytes = c->len - (strchr(c->line, '\n') - c->line) - 1;
		return authenticate(c, socket_path);
	}
	n = recv(c->fd, buf, sizeof(buf), 0);
	if (n <= 0) {
		c->eof = n == 0;
		return -1;
	}
	c->bytes += (unsigned long long)n;
	return 0;
}

static int listen_on(const char *addr, int port)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct sockaddr *sa;
	socklen_t len;
	int fd, one = 1;

	if (inet_pton(AF_INET, addr, &a4.sin_addr) == 1) {
		sa = (struct sockaddr *)&a4;
		len = sizeof(a4);
	} else if (inet_pton(AF_INET6, addr, &a6.sin6_addr) == 1) {
		sa = (struct sockaddr *)&a6;
		len = sizeof(a6);
	} else {
		fprintf(stderr, "bind_server: --listen %s: not an IPv4 or IPv6 address\n", addr);
		return -1;
	}
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, sa, len) || listen(fd, 16)) {
		fprintf(stderr, "bind_server: listen on %s port %d: %s\n", addr, port,
			strerror(errno));
		return -1;
	}
	return fd;
}

static void peer_text(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char a[64];

	buf[0] = '\0';
	if (getpeername(fd, (struct sockaddr *)&ss, &sl))
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(in->sin_port));
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(in6->sin6_port));
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct conn conns[MAX_CONNS];
	const char *addr = NULL, *socket_path = NULL;
	struct pollfd pfd[MAX_CONNS + 1];
	int idx[MAX_CONNS + 1];
	int port = 0, max_conns = 1000, done = 0, lfd, c, i, n;
	double duration = 30, end;

	static const char usage[] =
		"usage: bind_server --listen ADDR --port N [--socket PATH] [--duration S (<= 300)] [--max-conns N]\n";

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'l':
			addr = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'd':
			duration = atof(optarg);
			break;
		case 'm':
			max_conns = atoi(optarg);
			break;
		case 'h':
			fputs(usage, stdout); /* asked for: not an error */
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!addr || port < 1 || port > 65535 || duration <= 0 || duration > 300 || max_conns < 1) {
		fputs(usage, stderr);
		return 2;
	}
	lfd = listen_on(addr, port);
	if (lfd < 0)
		return 1;
	for (i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;
	fprintf(stderr, "bind_server: listening on %s port %d\n", addr, port);
	end = now_s() + duration;
	while (done < max_conns && now_s() < end) {
		n = 0;
		pfd[n].fd = lfd;
		pfd[n++].events = POLLIN;
		for (i = 0; i < MAX_CONNS; i++) {
			if (conns[i].fd < 0)
				continue;
			if (!conns[i].authed && now_s() - conns[i].t0 > AUTH_TIMEOUT_S) {
				say(conns[i].fd, "ERR no token line in time\n");
				finish(&conns[i], &done);
				continue;
			}
			pfd[n].fd = conns[i].fd;
			pfd[n].events = POLLIN;
			idx[n++] = i;
		}
		if (poll(pfd, (nfds_t)n, 200) < 0 && errno != EINTR)
			break;
		for (i = 1; i < n; i++)
			if (pfd[i].revents && serve(&conns[idx[i]], socket_path))
				finish(&conns[idx[i]], &done);
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			for (i = 0; fd >= 0 && i < MAX_CONNS && conns[i].fd >= 0; i++)
				;
			if (fd >= 0 && i == MAX_CONNS) {
				close(fd);
			} else if (fd >= 0) {
				memset(&conns[i], 0, sizeof(conns[i]));
				conns[i].fd = fd;
				conns[i].t0 = now_s();
				peer_text(fd, conns[i].peer, sizeof(conns[i].peer));
			}
		}
	}
	for (i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			finish(&conns[i], &done);
	close(lfd);
	return 0;
}
