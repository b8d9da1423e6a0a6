// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A non-blocking, pipelined Redis connection on hiredis (bg_redis.h). */
#include "bg_redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct bg_redis {
	struct bg_redis_addr a;
	redisContext *c;
	bool connecting; /* the connect has not completed yet */
};

int bg_redis_parse_addr(const char *s, struct bg_redis_addr *a, char *err, size_t errlen)
{
	const char *hp, *colon;
	char *end;
	long port = 6379;
	size_t n;

	memset(a, 0, sizeof(*a));
	if (!strncmp(s, "unix:", 5)) {
		if (s[5] != '/' || strlen(s + 5) >= sizeof(a->path)) {
			snprintf(err, errlen,
				 "engine \"%s\": unix: needs an absolute path of at most %zu bytes",
				 s, sizeof(a->path) - 1);
			return -EINVAL;
		}
		snprintf(a->path, sizeof(a->path), "%s", s + 5);
		return 0;
	}
	if (strncmp(s, "redis://", 8)) {
		snprintf(
			err, errlen,
			"engine \"%s\": use redis://HOST[:PORT] or unix:/PATH (TLS is not built in: see docs/fleet.md)",
			s);
		return -EINVAL;
	}
	hp = s + 8;
	if (*hp == '[') { /* [IPv6]:port */
		const char *rb = strchr(hp, ']');

		if (!rb || (rb[1] && rb[1] != ':'))
			goto bad;
		n = (size_t)(rb - hp - 1);
		hp++;
		colon = rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = strchr(hp, ':');
		n = colon ? (size_t)(colon - hp) : strlen(hp);
	}
	if (!n || n >= sizeof(a->host) || memchr(hp, '/', n) || memchr(hp, '@', n))
		goto bad;
	memcpy(a->host, hp, n);
	if (colon && *colon == ':') {
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
			goto bad;
	}
	a->port = (int)port;
	return 0;
bad:
	snprintf(
		err, errlen,
		"engine \"%s\": not redis://HOST[:PORT] (a host name or address, [IPv6], a port 1-65535; no user, password or database: see fleet.password_file)",
		s);
	return -EINVAL;
}

struct bg_redis *bg_redis_new(const struct bg_redis_addr *a)
{
	struct bg_redis *r = calloc(1, sizeof(*r));

	if (r)
		r->a = *a;
	return r;
}

void bg_redis_close(struct bg_redis *r)
{
	if (r->c)
		redisFree(r->c);
	r->c = NULL;
	r->connecting = false;
}

void bg_redis_free(struct bg_redis *r)
{
	if (!r)
		return;
	bg_redis_close(r);
	free(r);
}

int bg_redis_connect(struct bg_redis *r, char *err, size_t errlen)
{
	bg_redis_close(r);
	r->c = r->a.path[0] ? redisConnectUnixNonBlock(r->a.path) :
			      redisConnectNonBlock(r->a.host, r->a.port);
	if (!r->c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (r->c->err) {
		snprintf(err, errlen, "%s", r->c->errstr);
		bg_redis_close(r);
		return -ECONNREFUSED;
	}
	r->connecting = true;
	return 0;
}

bool bg_redis_connected(const struct bg_redis *r)
{
	return r->c != NULL;
}

int bg_redis_fd(const struct bg_redis *r)
{
	return r->c ? r->c->fd : -1;
}

bool bg_redis_want_write(const struct bg_redis *r)
{
	/* hiredis keeps what is not written yet in c->obuf (an sds string) */
	return r->c && (r->connecting || (r->c->obuf && r->c->obuf[0]));
}

int bg_redis_append(struct bg_redis *r, int argc, const char **argv, const size_t *lens)
{
	if (!r->c)
		return -ENOTCONN;
	return redisAppendCommandArgv(r->c, argc, argv, lens) == REDIS_OK ? 0 : -ENOMEM;
}

static int fail(struct bg_redis *r, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s", what);
	bg_redis_close(r);
	return -EIO;
}

int bg_redis_io(struct bg_redis *r, bg_redis_reply_fn fn, void *arg, char *err, size_t errlen)
{
	void *reply;
	int done = 0, soerr = 0;
	socklen_t len = sizeof(soerr);

	if (!r->c)
		return -ENOTCONN;
	if (r->connecting) {
		/* the non-blocking connect completed, or failed */
		if (getsockopt(r->c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr)
			return fail(r, err, errlen, strerror(soerr));
		r->connecting = false;
	}
	while (r->c->obuf && r->c->obuf[0] && !done) {
		size_t before = strlen(r->c->obuf);

		if (redisBufferWrite(r->c, &done) != REDIS_OK)
			return fail(r, err, errlen,
				    r->c->errstr[0] ? r->c->errstr : "write failed");
		if (!done && strlen(r->c->obuf) == before)
			break; /* the socket is full (EAGAIN): when it is writable again */
	}
	/* Read what is there; an EAGAIN read is not an error for hiredis. */
	if (redisBufferRead(r->c) != REDIS_OK)
		return fail(r, err, errlen,
			    r->c->err == REDIS_ERR_EOF ? "connection closed by the engine" :
			    r->c->errstr[0]	       ? r->c->errstr :
							 "read failed");
	for (;;) {
		if (redisGetReplyFromReader(r->c, &reply) != REDIS_OK)
			return fail(r, err, errlen, "malformed reply");
		if (!reply)
			break;
		fn(arg, reply);
		freeReplyObject(reply);
		if (!r->c)
			return -ENOTCONN; /* fn closed it */
	}
	return 0;
}
