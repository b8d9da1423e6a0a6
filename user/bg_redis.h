/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A non-blocking Redis connection for an event loop, on hiredis: commands
 * are queued (pipelined) and written when the socket can take them;
 * replies are handed back in order as they arrive. The caller's loop
 * watches bg_redis_fd() for reading, and for writing while
 * bg_redis_want_write() says so, and calls bg_redis_io() on either.
 * Nothing here blocks (but the name lookup of an engine given by host
 * name: give an address, or a name in /etc/hosts).
 */
#ifndef BG_REDIS_H
#define BG_REDIS_H

#include <stdbool.h>
#include <stddef.h>

struct redisReply;

/* An engine address: redis://HOST[:PORT] or unix:PATH (the policy's fleet.engine). */
struct bg_redis_addr {
	char host[128]; /* "" for a Unix socket */
	int port;
	char path[108];
};

/* 0, or -EINVAL with err saying what is accepted. */
int bg_redis_parse_addr(const char *s, struct bg_redis_addr *a, char *err, size_t errlen);

struct bg_redis;

struct bg_redis *bg_redis_new(const struct bg_redis_addr *a);
void bg_redis_free(struct bg_redis *r);

/* Start connecting (closing any connection first). 0, or -errno: err says why. */
int bg_redis_connect(struct bg_redis *r, char *err, size_t errlen);
void bg_redis_close(struct bg_redis *r);
bool bg_redis_connected(const struct bg_redis *r); /* a connection is open or opening */
int bg_redis_fd(const struct bg_redis *r); /* -1 when closed */
bool bg_redis_want_write(const struct bg_redis *r);

/* Queue one command; 0 or -ENOMEM / -ENOTCONN. */
int bg_redis_append(struct bg_redis *r, int argc, const char **argv, const size_t *lens);

/*
 * Write what is queued, read what came. fn gets each reply in order (it
 * must not keep it: freed after the call). 0, or -errno with err saying
 * why: the connection is then closed, and what was queued is lost.
 */
typedef void (*bg_redis_reply_fn)(void *arg, struct redisReply *reply);
int bg_redis_io(struct bg_redis *r, bg_redis_reply_fn fn, void *arg, char *err, size_t errlen);

#endif /* BG_REDIS_H */
