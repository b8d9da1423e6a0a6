// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* burstgate bind client: see bg_client.h. libc only. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero, accept4 */
#endif
#include "bg_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define ADDR_TEXT 64 /* INET6_ADDRSTRLEN, rounded up */

/* Explain a failure in reply->error; returns err. */
static int __attribute__((format(printf, 3, 4)))
fail(struct bg_client_reply *r, int err, const char *fmt, ...)
{
	va_list ap;

	if (r) {
		va_start(ap, fmt);
		vsnprintf(r->error, sizeof(r->error), fmt, ap);
		va_end(ap);
	}
	return err;
}

/* One end of the connection as text; IPv4-mapped IPv6 as plain IPv4. */
static int addr_text(const struct sockaddr_storage *ss, char *addr, size_t len, unsigned int *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		*port = ntohs(in->sin_port);
		return inet_ntop(AF_INET, &in->sin_addr, addr, (socklen_t)len) ? 0 : -EINVAL;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		*port = ntohs(in6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], addr,
					 (socklen_t)len) ?
				       0 :
				       -EINVAL;
		return inet_ntop(AF_INET6, &in6->sin6_addr, addr, (socklen_t)len) ? 0 : -EINVAL;
	}
	return -EINVAL;
}

/* "tcp CLIENT PORT SERVER PORT" of sock, as the server's packets see it. */
static int tuple_text(int sock, char *buf, size_t len, struct bg_client_reply *r)
{
	struct sockaddr_storage local, peer;
	socklen_t ll = sizeof(local), pl = sizeof(peer), ol;
	char la[ADDR_TEXT], pa[ADDR_TEXT];
	unsigned int lp, pp;
	int proto = 0;

	ol = sizeof(proto);
	if (getsockopt(sock, SOL_SOCKET, SO_PROTOCOL, &proto, &ol))
		return fail(r, -errno, "socket: SO_PROTOCOL: %s", strerror(errno));
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return fail(r, -EINVAL, "socket: not TCP or UDP");
	if (getsockname(sock, (struct sockaddr *)&local, &ll))
		return fail(r, -errno, "socket: getsockname: %s", strerror(errno));
	if (getpeername(sock, (struct sockaddr *)&peer, &pl))
		return fail(r, -errno, "socket: getpeername (is it connected?): %s",
			    strerror(errno));
	if (addr_text(&local, la, sizeof(la), &lp) || addr_text(&peer, pa, sizeof(pa), &pp))
		return fail(r, -EINVAL, "socket: not an IPv4 or IPv6 connection");
	snprintf(buf, len, "%s %s %u %s %u", proto == IPPROTO_TCP ? "tcp" : "udp", pa, pp, la, lp);
	return 0;
}

static int wait_fd(int fd, short events, struct timespec *deadline)
{
	struct timespec now;
	struct pollfd p = { .fd = fd, .events = events };
	long ms;
	int n;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (deadline->tv_sec - now.tv_sec) * 1000 +
		     (deadline->tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)ms);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* Send one request line, read one reply line into reply (NUL-terminated). */
static int transact(const char *path, const char *req, size_t reqlen, char *line, size_t cap,
		    struct bg_client_reply *r)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timespec deadline;
	size_t off = 0, got = 0;
	int fd, err = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(r, -ENAMETOOLONG, "bind socket %s: path too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail(r, -errno, "bind socket %s: socket: %s", path, strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += BG_BIND_TIMEOUT_MS / 1000;
	deadline.tv_nsec += (BG_BIND_TIMEOUT_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	/* A Unix stream connect completes at once or fails (EAGAIN: backlog full). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		fail(r, err,
		     "connect to bind socket %s: %s (is `burstctl bind serve` or the controller running, and may this user use the socket?)",
		     path, strerror(-err));
		goto out;
	}
	while (off < reqlen) {
		ssize_t n = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			err = wait_fd(fd, POLLOUT, &deadline);
			if (err)
				goto io_fail;
			continue;
		}
		if (n < 0) {
			err = -errno;
			goto io_fail;
		}
		off += (size_t)n;
	}
	for (;;) {
		ssize_t n = recv(fd, line + got, cap - 1 - got, 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			err = wait_fd(fd, POLLIN, &deadline);
			if (err)
				goto io_fail;
			continue;
		}
		if (n < 0) {
			err = -errno;
			goto io_fail;
		}
		if (n == 0) {
			err = -EPROTO;
			fail(r, err, "bind socket %s: closed without a reply", path);
			goto out;
		}
		got += (size_t)n;
		line[got] = '\0';
		if (memchr(line, '\n', got)) {
			*strchr(line, '\n') = '\0';
			break;
		}
		if (got == cap - 1) {
			err = -EPROTO;
			fail(r, err, "bind socket %s: reply too long", path);
			goto out;
		}
	}
	goto out;
io_fail:
	fail(r, err, "talk to bind socket %s: %s", path, strerror(-err));
out:
	close(fd);
	return err;
}

/* "OK ..." or "ERR code message" into reply; the call's result. */
static int parse_reply(char *line, struct bg_client_reply *r)
{
	static const struct {
		const char *code;
		int err;
	} codes[] = {
		{ BG_BIND_E_UNKNOWN_TOKEN, -ENOKEY }, { BG_BIND_E_EXPIRED_TOKEN, -EKEYEXPIRED },
		{ BG_BIND_E_BAD_REQUEST, -EINVAL },   { BG_BIND_E_NOT_BOUND, -ENOENT },
		{ BG_BIND_E_BUSY, -EBUSY },	      { BG_BIND_E_FORBIDDEN, -EPERM },
		{ BG_BIND_E_INTERNAL, -EIO },
	};
	char *save = NULL, *tok;
	size_t i;

	tok = strtok_r(line, " ", &save);
	if (tok && !strcmp(tok, "OK")) {
		char *id = strtok_r(NULL, " ", &save), *fp = strtok_r(NULL, " ", &save);

		if (r) {
			snprintf(r->identity, sizeof(r->identity), "%s", id ? id : "");
			snprintf(r->fingerprint, sizeof(r->fingerprint), "%s", fp ? fp : "");
		}
		return 0;
	}
	if (tok && !strcmp(tok, "ERR")) {
		char *code = strtok_r(NULL, " ", &save), *msg = strtok_r(NULL, "", &save);

		if (r)
			snprintf(r->error, sizeof(r->error), "burstgate: %s", msg ? msg : "error");
		for (i = 0; code && i < sizeof(codes) / sizeof(codes[0]); i++)
			if (!strcmp(code, codes[i].code))
				return codes[i].err;
		return -EPROTO;
	}
	if (r)
		snprintf(r->error, sizeof(r->error), "burstgate: reply not understood");
	return -EPROTO;
}

static const char *socket_path_of(const char *path)
{
	const char *env = getenv(BG_BIND_SOCKET_ENV);

	if (path && *path)
		return path;
	return env && *env ? env : BG_BIND_SOCKET_DEFAULT;
}

static int request(int sock, const char *verb, const char *token, size_t token_len,
		   unsigned int idle_s, const char *socket_path, struct bg_client_reply *r)
{
	char req[BG_BIND_LINE_MAX + 1], line[BG_BIND_LINE_MAX + 1], tuple[200], idle[16] = "";
	size_t i, off;
	int err;

	if (r)
		memset(r, 0, sizeof(*r));
	err = tuple_text(sock, tuple, sizeof(tuple), r);
	if (err)
		return err;
	for (i = 0; i < token_len; i++) {
		if ((unsigned char)token[i] < 0x21 || (unsigned char)token[i] > 0x7e)
			return fail(
				r, -EINVAL,
				"token: byte %zu is whitespace, a control character or not ASCII",
				i + 1);
	}
	if (token && !token_len)
		return fail(r, -EINVAL, "token: empty");
	if (idle_s)
		snprintf(idle, sizeof(idle), " %u", idle_s);
	off = (size_t)snprintf(req, sizeof(req), "%s %s%s", verb, tuple, token ? " " : "");
	if (off + token_len + strlen(idle) + 1 >= sizeof(req))
		return fail(r, -EINVAL, "token: too long (%zu bytes)", token_len);
	if (token)
		memcpy(req + off, token, token_len);
	off += token_len;
	off += (size_t)snprintf(req + off, sizeof(req) - off, "%s\n", idle);
	err = transact(socket_path_of(socket_path), req, off, line, sizeof(line), r);
	explicit_bzero(req, sizeof(req));
	if (err)
		return err;
	return parse_reply(line, r);
}

int bg_client_bind(int sock, const char *token, size_t token_len, unsigned int idle_s,
		   const char *socket_path, struct bg_client_reply *reply)
{
	if (!token)
		return fail(reply, -EINVAL, "token: missing");
	return request(sock, "BIND", token, token_len, idle_s, socket_path, reply);
}

int bg_client_unbind(int sock, const char *socket_path, struct bg_client_reply *reply)
{
	return request(sock, "UNBIND", NULL, 0, 0, socket_path, reply);
}
