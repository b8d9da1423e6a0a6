/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The server side of the bind protocol (client/bg_client.h has the
 * protocol): a Unix stream socket on which servers report "this connection
 * belongs to the agent holding token T".
 *
 * Built to live in someone else's event loop (the controller's): make the
 * listening socket with bg_bindsrv_listen(), accept() when it is readable,
 * bg_bindsrv_conn_init() the new fd, and call bg_bindsrv_conn_io() each
 * time it is readable until it returns 0, and bg_bindsrv_conn_expired()
 * about once a second (the timeouts). Nothing blocks: the fds are
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
#include <linux/types.h>

#include "bg_client.h"
#include "bg_flow.h"
#include "bg_state.h"

/* Connections served at once by bg_bindsrv_run(); more are told "busy". */
#define BG_BINDSRV_CONNS_MAX 64
/*
 * Reads per bg_bindsrv_conn_io() call: a client that keeps sending is
 * served in turns with everything else in the loop (level-triggered polling
 * brings it back), never for as long as it likes.
 */
#define BG_BINDSRV_READS_PER_IO 4
/*
 * A request arrives in one write (the client library sends it so): a
 * connection holding part of a line for this long is closed, so that a
 * client trickling bytes cannot hold a connection slot.
 */
#define BG_BINDSRV_PARTIAL_MS 5000U
/* A connection without a request for this long is closed (clients reconnect). */
#define BG_BINDSRV_IDLE_MS 30000U

/* Replies by outcome, for the metrics: the ERR codes of bg_client.h. */
enum bg_bind_result {
	BG_BIND_R_BAD_REQUEST,
	BG_BIND_R_UNKNOWN_TOKEN,
	BG_BIND_R_EXPIRED_TOKEN,
	BG_BIND_R_NOT_BOUND,
	BG_BIND_R_BUSY,
	BG_BIND_R_INTERNAL,
	BG_BIND_R_FORBIDDEN,
	BG_BIND_R_ERRORS, /* the errors above; then: */
	BG_BIND_R_OK = BG_BIND_R_ERRORS,
	BG_BIND_R_MAX,
};

struct bg_bindsrv_stats {
	__u64 requests; /* lines answered, OK or ERR */
	__u64 replies[BG_BIND_R_MAX]; /* by outcome */
	__u64 slow_peers; /* connections closed: replies not read */
	__u64 refused; /* connections turned away at once: too many open */
	__u64 closed_idle; /* closed: no request for BG_BINDSRV_IDLE_MS */
	__u64 closed_stalled; /* closed: part of a line for BG_BINDSRV_PARTIAL_MS */
	__u64 closed_oversize; /* closed: a line longer than BG_BIND_LINE_MAX */
};

/* "bad-request", ... (the ERR code), or NULL for OK. */
const char *bg_bind_result_code(enum bg_bind_result r);
/* Of a reply line: OK, or its ERR code. */
enum bg_bind_result bg_bind_reply_result(const char *reply);

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

/* What a request is served with: the state, the slot names, the peer. */
struct bg_bindreq_ctx {
	const struct bg_state *s;
	char (*names)[BG_NAME_LEN]; /* bg_id_name_cached()'s table; may be NULL */
	uid_t uid; /* the peer's (SO_PEERCRED): whose bindings it may change */
};

/*
 * Serve one request line (bg_bindreq_parse() says which requests there
 * are; each has its handler): the reply (without LF) in reply, a line for
 * the server's log in log, both free of the token. true: OK; false:
 * refused (ERR), which any client can cause at will: log it throttled.
 */
bool bg_bindsrv_handle(const struct bg_bindreq_ctx *x, char *line, char *reply, size_t replylen,
		       char *log, size_t loglen);

/*
 * The same as root (no peer), for tools and tests. Serve one request line: the reply (without LF) in reply, and in log (if
 * not NULL) a line for the server's log, both free of the token (and of
 * every field's value, when the request is malformed: a field left out
 * shifts the token into another). names: the caller's table of slot names
 * (bg_id_name_cached()), so that a binding costs a few map lookups however
 * many identities there are; NULL: scan them.
 */
void bg_bindsrv_handle_line(const struct bg_state *s, char (*names)[BG_NAME_LEN], char *line,
			    char *reply, size_t replylen, char *log, size_t loglen);

/*
 * Listen at path: mode 0600 owned by root, or with group (a group name or
 * number) 0660 owned by root:group. A stale socket file (nobody answers)
 * is replaced; a live one is an error. The parent folder must exist,
 * except for the default's (/run/burstgate), created 0755. Prints errors.
 */
int bg_bindsrv_listen(const char *path, const char *group);

struct bg_bindsrv_conn {
	int fd;
	uid_t uid; /* the peer, from SO_PEERCRED: for the log and bg_bindreq_ctx */
	pid_t pid; /* idem: the controller caps connections per uid and per pid */
	size_t len; /* bytes in buf */
	char buf[BG_BIND_LINE_MAX + 1];
	__u64 last_ms; /* CLOCK_MONOTONIC: accepted, or its last request */
	__u64 partial_ms; /* when the partial line in buf began; 0: none */
	char (*names)[BG_NAME_LEN]; /* bg_bindsrv_handle_line()'s; may be NULL */
	/* Called with each log line (refused: not a binding made or removed); NULL: no log. */
	void (*log)(const char *line, bool refused, void *arg);
	void *log_arg;
	struct bg_bindsrv_stats *stats; /* counted into if not NULL */
};

void bg_bindsrv_conn_init(struct bg_bindsrv_conn *c, int fd);
/*
 * Read what is there (at most BG_BINDSRV_READS_PER_IO reads) and answer
 * every complete request. 1: keep the connection; 0: it is over (peer
 * closed, a line too long, or a peer that does not read its replies and
 * whose socket buffer is full): close fd. Never blocks.
 */
int bg_bindsrv_conn_io(const struct bg_state *s, struct bg_bindsrv_conn *c);
/*
 * Has c outlived a limit at now_ms (bg_bindsrv_now_ms())? Part of a line
 * for BG_BINDSRV_PARTIAL_MS, or no request for BG_BINDSRV_IDLE_MS: then
 * counted and 1 (close fd); 0 otherwise. Call it about once a second.
 */
int bg_bindsrv_conn_expired(struct bg_bindsrv_conn *c, __u64 now_ms);
__u64 bg_bindsrv_now_ms(void);

/*
 * Serve until *stop is set (from a signal handler); logs to stderr. One
 * instance per process (its connection table is static). A controller with
 * its own loop uses bg_bindsrv_conn_io() instead, and its periodic cleanup
 * calls bg_token_gc() and bg_flow_gc().
 */
int bg_bindsrv_run(const struct bg_state *s, int listen_fd, volatile sig_atomic_t *stop);

#endif /* BG_BINDSRV_H */
