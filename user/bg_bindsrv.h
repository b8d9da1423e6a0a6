/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The server side of the bind protocol (client/bg_client.h has the
 * protocol): a Unix stream socket on which servers report "this connection
 * belongs to the agent holding token T".
 *
 * Built to live in someone else's event loop (the controller's): make the
 * listening socket with bg_bindsrv_listen(), accept() when it is readable,
 * bg_bindsrv_conn_init() the new fd, and call bg_bindsrv_conn_io() each
 * time it is readable until it returns 0. Nothing blocks: the fds are
 * non-blocking and replies are a line each. bg_bindsrv_run() is such a
 * loop, for `burstctl bind serve`.
 *
 * The state is opened without the writer lock: a binding is one flow map
 * update, so the server never holds up other burstctl commands.
 */
#ifndef BG_BINDSRV_H
#define BG_BINDSRV_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "bg_client.h"
#include "bg_flow.h"
#include "bg_state.h"

/* Connections served at once by bg_bindsrv_run(); more are told "busy". */
#define BG_BINDSRV_CONNS_MAX 64

enum { BG_BINDREQ_BIND = 1, BG_BINDREQ_UNBIND = 2 };

struct bg_bindreq {
	int op; /* BG_BINDREQ_* */
	struct bg_flow_key key;
	const char *token; /* BIND: inside the parsed line, not NUL-terminated */
	size_t token_len;
	__u64 idle_ns; /* 0: the configured default */
};

/*
 * Parse one request line (without its LF; modified in place). On error,
 * err says what is wrong without quoting the token.
 */
int bg_bindreq_parse(char *line, struct bg_bindreq *r, char *err, size_t errlen);

/*
 * Serve one request line: the reply (without LF) in reply, and in log (if
 * not NULL) a line for the server's log, both free of the token.
 */
void bg_bindsrv_handle_line(const struct bg_state *s, char *line, char *reply, size_t replylen,
			    char *log, size_t loglen);

/*
 * Listen at path: mode 0600 owned by root, or with group (a group name or
 * number) 0660 owned by root:group. A stale socket file (nobody answers)
 * is replaced; a live one is an error. The parent folder must exist,
 * except for the default's (/run/burstgate), created 0755. Prints errors.
 */
int bg_bindsrv_listen(const char *path, const char *group);

struct bg_bindsrv_conn {
	int fd;
	uid_t uid; /* the peer, from SO_PEERCRED: for the log */
	size_t len; /* bytes in buf */
	char buf[BG_BIND_LINE_MAX + 1];
	/* Called with each log line; NULL: no log. */
	void (*log)(const char *line, void *arg);
	void *log_arg;
};

void bg_bindsrv_conn_init(struct bg_bindsrv_conn *c, int fd);
/*
 * Read what is there and answer every complete request. 1: keep the
 * connection; 0: it is over (peer closed, or a line too long): close fd.
 */
int bg_bindsrv_conn_io(const struct bg_state *s, struct bg_bindsrv_conn *c);

/*
 * Serve until *stop is set (from a signal handler); logs to stderr. One
 * instance per process (its connection table is static). A controller with
 * its own loop uses bg_bindsrv_conn_io() instead, and its periodic cleanup
 * calls bg_token_gc() and bg_flow_gc().
 */
int bg_bindsrv_run(const struct bg_state *s, int listen_fd, volatile sig_atomic_t *stop);

#endif /* BG_BINDSRV_H */
