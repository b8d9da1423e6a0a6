// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The bind socket of agent tokens (bg_bindsrv.h has the protocol), served
 * from the loop: non-blocking, so a slow or chatty client is served in
 * turns and never holds up the loop. --bind-socket wins over the policy's
 * controller.bind_socket; a reload that names another path opens it
 * before the old one closes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bg_bindsrv.h"
#include "bg_log.h"
#include "serve.h"

/*
 * Connections at once, and from one uid and one pid (root's uid is not
 * capped, its pids are): more are told busy. A member of the socket's
 * group cannot take every slot, and a server with several workers (one
 * connection each while it binds) gets its share.
 */
#define BIND_CONNS_MAX 256
#define BIND_CONNS_PER_UID 64
#define BIND_CONNS_PER_PID 16
#define BIND_ACCEPT_MAX 16 /* accepts per wakeup: others get their turn */
#define BIND_SWEEP_MS 1000U /* bind connections checked for their timeouts this often */
#define BIND_ERR_LOG_PER_S 20 /* refused bind requests logged per second */

/* One connection on the bind socket. */
struct bind_conn {
	struct loop_src src;
	struct serve_bind *b;
	struct bg_bindsrv_conn c;
	struct bind_conn *prev, *next;
	bool dead; /* closed in this round of events: freed after it */
};

struct serve_bind {
	struct serve *sv;
	char path[BG_POL_SOCKET_LEN], group[BG_POL_GROUP_LEN]; /* served now */
	int fd; /* listening; -1: none */
	struct loop_src src;
	struct bind_conn *conns, *dead_conns;
	size_t nconns;
	__u64 log_sec, log_dropped;
	unsigned int log_n;
	__u64 swept_ms, refused_logged;
	bool paused; /* out of fds: not listening until the next sweep (a second) */
};

/* What the metrics export of the socket (the rest is counted in h.bind). */
static void count(struct serve_bind *b)
{
	b->sv->h.bind_on = b->fd >= 0;
	b->sv->h.bind_connections = b->nconns;
	b->sv->h.bind_connections_max = BIND_CONNS_MAX;
}

static void log_flush(struct serve_bind *b)
{
	if (b->log_dropped)
		slog(b->sv, LOG_INFO_,
		     "bind: %llu more refused requests not logged (at most %d a second; see burstgate_bind_errors_total)",
		     (unsigned long long)b->log_dropped, BIND_ERR_LOG_PER_S);
	b->log_dropped = 0;
}

/*
 * Every binding is logged (its client holds a valid token); refusals, which
 * any client on the socket can cause at will, at most BIND_ERR_LOG_PER_S a
 * second.
 */
static void bind_log(const char *line, bool refused, void *arg)
{
	struct serve_bind *b = arg;
	__u64 sec = loop_now_ms() / 1000;

	if (refused) {
		if (sec != b->log_sec) {
			log_flush(b);
			b->log_sec = sec;
			b->log_n = 0;
		}
		if (b->log_n++ >= BIND_ERR_LOG_PER_S) {
			b->log_dropped++;
			return;
		}
	}
	slog(b->sv, LOG_INFO_, "bind: %s", line);
}

static void conn_close(struct serve_bind *b, struct bind_conn *c)
{
	loop_del(&b->sv->loop, c->c.fd);
	close(c->c.fd);
	c->c.fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		b->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->dead = true;
	c->next = b->dead_conns; /* freed once this round of events is over */
	b->dead_conns = c;
	b->nconns--;
	count(b);
}

static void free_dead_conns(struct serve_bind *b)
{
	struct bind_conn *c;

	while ((c = b->dead_conns)) {
		b->dead_conns = c->next;
		free(c);
	}
}

static void on_conn(void *arg, __u32 events)
{
	struct bind_conn *c = arg;

	(void)events;
	if (c->dead)
		return;
	if (!bg_bindsrv_conn_io(&c->b->sv->s, &c->c))
		conn_close(c->b, c);
}

/* NULL if fd may have a slot; else why not (the busy reply's message). */
static const char *over_cap(const struct serve_bind *b, int fd)
{
	struct ucred cred = { .pid = -1, .uid = (uid_t)-1 };
	socklen_t len = sizeof(cred);
	unsigned int uid_n = 0, pid_n = 0;
	const struct bind_conn *c;

	if (b->nconns >= BIND_CONNS_MAX)
		return "too many connections";
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return NULL;
	for (c = b->conns; c; c = c->next) {
		uid_n += c->c.uid == cred.uid;
		pid_n += c->c.pid == cred.pid;
	}
	if (cred.uid != 0 && uid_n >= BIND_CONNS_PER_UID)
		return "too many connections from your user";
	if (pid_n >= BIND_CONNS_PER_PID)
		return "too many connections from your process";
	return NULL;
}

static void on_accept(void *arg, __u32 events)
{
	struct serve_bind *b = arg;
	struct serve *sv = b->sv;
	struct bind_conn *c;
	const char *why;
	int i, fd;

	(void)events;
	for (i = 0; i < BIND_ACCEPT_MAX; i++) {
		fd = accept4(b->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			/* out of fds: stop listening for a second (sweep), not spin on it */
			slog(sv, LOG_WARNING_, "bind socket: accept: %s: paused for a second",
			     strerror(errno));
			loop_del(&sv->loop, b->fd);
			b->paused = true;
			return;
		}
		if (fd < 0)
			return; /* EAGAIN: no more waiting */
		why = over_cap(b, fd);
		c = why ? NULL : calloc(1, sizeof(*c));
		if (!c) {
			char busy[96];
			int n = snprintf(busy, sizeof(busy), "ERR %s %s, try again\n",
					 BG_BIND_E_BUSY, why ? why : "out of memory");

			if (send(fd, busy, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				bg_dbg("bind: busy reply: %s", strerror(errno));
			close(fd);
			sv->h.bind.replies[BG_BIND_R_BUSY]++;
			sv->h.bind.refused++;
			continue;
		}
		bg_bindsrv_conn_init(&c->c, fd);
		c->b = b;
		c->c.log = bind_log;
		c->c.log_arg = b;
		c->c.stats = &sv->h.bind;
		c->c.names = sv->names; /* refreshed after every apply: binds in O(1) */
		c->src = (struct loop_src){ fd, on_conn, c };
		if (loop_add(&sv->loop, &c->src)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = b->conns;
		if (b->conns)
			b->conns->prev = c;
		b->conns = c;
		b->nconns++;
		count(b);
	}
}

/* Stop listening (connections already open are served to their end). */
static void unlisten(struct serve_bind *b)
{
	if (b->fd < 0)
		return;
	loop_del(&b->sv->loop, b->fd);
	b->paused = false;
	close(b->fd);
	unlink(b->path);
	slog(b->sv, LOG_NOTICE_, "bind socket %s closed", b->path);
	b->fd = -1;
	b->path[0] = b->group[0] = '\0';
	count(b);
}

/*
 * Serve the bind socket the command line or the policy names, if it is not
 * the one served already. A new path is opened before the old one closes.
 */
void bind_update(struct serve *sv, const struct bg_policy *p)
{
	struct serve_bind *b = sv->bind;
	const char *path = sv->cli_bind ? sv->cli_bind : p->bind_socket;
	const char *group = sv->cli_bind ? sv->cli_group : p->bind_group;
	int fd;

	if (!group || !*group)
		group = NULL;
	if (!strcmp(path, b->path) && !strcmp(group ? group : "", b->group))
		return;
	if (!strcmp(path, b->path) || !*path)
		unlisten(b); /* same path, new group; or none wanted */
	if (!*path)
		return;
	fd = bg_bindsrv_listen(path, group);
	if (fd < 0) {
		slog(sv, LOG_ERR_, "bind socket %s: not served (see the message above)", path);
		return;
	}
	unlisten(b);
	b->fd = fd;
	snprintf(b->path, sizeof(b->path), "%s", path);
	snprintf(b->group, sizeof(b->group), "%s", group ? group : "");
	b->src = (struct loop_src){ fd, on_accept, b };
	if (loop_add(&sv->loop, &b->src)) {
		slog(sv, LOG_ERR_, "bind socket %s: %s", path, strerror(errno));
		unlisten(b);
		return;
	}
	count(b);
	slog(sv, LOG_NOTICE_, "serving the bind protocol on %s (mode %s%s)%s", path,
	     group ? "0660, group " : "0600, root only", group ? group : "",
	     sv->cli_bind && p->bind_socket[0] ? " (--bind-socket overrides the policy's)" : "");
}

/*
 * Once a second, after a round of the loop (which wakes up for it while
 * connections are open): close the bind connections past their timeouts,
 * say how many connections were turned away, listen again after running
 * out of fds. Then free the connections closed in the round.
 */
static void on_round(void *arg, bool idle)
{
	struct serve_bind *b = arg;
	struct serve *sv = b->sv;
	struct bind_conn *c, *next;
	__u64 ms = loop_now_ms(), refused = sv->h.bind.refused - b->refused_logged;

	(void)idle;
	if (ms - b->swept_ms < BIND_SWEEP_MS)
		goto out;
	b->swept_ms = ms;
	log_flush(b);
	if (b->paused && b->fd >= 0 && !loop_add(&sv->loop, &b->src))
		b->paused = false;
	for (c = b->conns; c; c = next) {
		next = c->next;
		if (bg_bindsrv_conn_expired(&c->c, ms))
			conn_close(b, c);
	}
	if (refused)
		slog(sv, LOG_WARNING_,
		     "bind socket: %llu connection%s refused (busy): %zu open (at most %d, %d per uid, %d per pid)",
		     (unsigned long long)refused, refused == 1 ? "" : "s", b->nconns,
		     BIND_CONNS_MAX, BIND_CONNS_PER_UID, BIND_CONNS_PER_PID);
	b->refused_logged = sv->h.bind.refused;
out:
	free_dead_conns(b); /* after the round: its events may name them */
}

/* Open connections have timeouts: wake up to enforce them (and to log). */
static int timeout_ms(void *arg)
{
	const struct serve_bind *b = arg;

	if (b->conns || b->paused || b->log_dropped || b->sv->h.bind.refused != b->refused_logged)
		return (int)BIND_SWEEP_MS;
	return -1;
}

int bind_start(struct serve *sv)
{
	struct serve_bind *b = calloc(1, sizeof(*b));
	int err;

	if (!b)
		return -ENOMEM;
	sv->bind = b;
	b->sv = sv;
	b->fd = -1;
	count(b);
	err = loop_on_round(&sv->loop, on_round, b);
	if (!err)
		err = loop_on_timeout(&sv->loop, timeout_ms, b);
	if (err)
		return err;
	bind_update(sv, &sv->pol);
	if ((sv->cli_bind || sv->pol.bind_socket[0]) && b->fd < 0)
		return -EADDRNOTAVAIL; /* bg_bindsrv_listen said why */
	return 0;
}

void bind_stop(struct serve *sv)
{
	struct serve_bind *b = sv->bind;

	if (!b)
		return;
	unlisten(b);
	while (b->conns)
		conn_close(b, b->conns);
	free_dead_conns(b);
	free(b);
	sv->bind = NULL;
}
