// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_bindsrv.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bg_log.h"
#include "bg_time.h"
#include "bg_token_reg.h"

#define BIND_DIR_DEFAULT "/run/burstgate"

/*
 * The requests: a name and its fields. A new request is a row here, its
 * fields in parse_fields() and a handler in bg_bindsrv_handle_line().
 */
static const struct bindreq_def {
	const char *name;
	int op;
	int min, max; /* fields after the name */
	const char *usage;
} bindreq_defs[] = {
	{ "BIND", BG_BINDREQ_BIND, 6, 7,
	  "tcp|udp CLIENT-ADDR CLIENT-PORT SERVER-ADDR SERVER-PORT TOKEN [IDLE-SECONDS]" },
	{ "UNBIND", BG_BINDREQ_UNBIND, 5, 6,
	  "tcp|udp CLIENT-ADDR CLIENT-PORT SERVER-ADDR SERVER-PORT [TOKEN]" },
};
#define BINDREQ_FIELDS_MAX 8 /* the most any request has, its name included */

/* IDLE-SECONDS; the message gives the length, not the value: a token may have slipped here */
static int parse_idle(const char *f, __u64 *idle_ns, char *err, size_t errlen)
{
	char *end;
	unsigned long long s = strtoull(f, &end, 10);

	if (*end || !s || f[0] == '-' || s > BG_TTL_MAX_NS / BG_NS_PER_SEC) {
		snprintf(err, errlen, "idle (%zu bytes): not a number of seconds, 1 to %llu",
			 strlen(f), BG_TTL_MAX_NS / BG_NS_PER_SEC);
		return -EINVAL;
	}
	*idle_ns = s * BG_NS_PER_SEC;
	return 0;
}

/* f[0] is the request's name, n fields in all (checked against its row). */
static int parse_fields(char **f, int n, struct bg_bindreq *r, char *err, size_t errlen)
{
	int ret = bg_flow_key_parse(&r->key, f[1], f[2], f[3], f[4], f[5], err, errlen);

	if (ret)
		return ret;
	switch (r->op) {
	case BG_BINDREQ_BIND:
		r->token = f[6];
		r->token_len = strlen(f[6]);
		return n == 8 ? parse_idle(f[7], &r->idle_ns, err, errlen) : 0;
	case BG_BINDREQ_UNBIND:
		if (n == 7) {
			r->token = f[6];
			r->token_len = strlen(f[6]);
		}
		return 0;
	}
	return -EINVAL;
}

int bg_bindreq_parse(char *line, struct bg_bindreq *r, char *err, size_t errlen)
{
	char *f[BINDREQ_FIELDS_MAX + 1], *save = NULL, *t;
	const struct bindreq_def *d = NULL;
	int n = 0;
	size_t i;

	memset(r, 0, sizeof(*r));
	for (t = strtok_r(line, " ", &save); t && n <= BINDREQ_FIELDS_MAX;
	     t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	if (!n) {
		snprintf(err, errlen, "empty request (expected BIND or UNBIND)");
		return -EINVAL;
	}
	for (i = 0; i < sizeof(bindreq_defs) / sizeof(bindreq_defs[0]); i++)
		if (!strcmp(f[0], bindreq_defs[i].name))
			d = &bindreq_defs[i];
	if (!d) {
		snprintf(err, errlen, "unknown request (expected BIND or UNBIND)");
		return -EINVAL;
	}
	r->op = d->op;
	if (n - 1 < d->min || n - 1 > d->max) {
		if (d->min == d->max)
			snprintf(err, errlen, "%s takes %d fields: %s; got %d", d->name, d->min,
				 d->usage, n - 1);
		else
			snprintf(err, errlen, "%s takes %d or %d fields: %s; got %d", d->name,
				 d->min, d->max, d->usage, n - 1);
		return -EINVAL;
	}
	return parse_fields(f, n, r, err, errlen);
}

/* ERR code of a refused request, from the -errno of bg_bind_by()/bg_unbind_by(). */
static const char *err_code(int ret)
{
	switch (ret) {
	case -ENOKEY:
		return BG_BIND_E_UNKNOWN_TOKEN;
	case -EKEYEXPIRED:
		return BG_BIND_E_EXPIRED_TOKEN;
	case -EINVAL:
		return BG_BIND_E_BAD_REQUEST;
	case -ENOENT:
		return BG_BIND_E_NOT_BOUND;
	case -EPERM:
		return BG_BIND_E_FORBIDDEN;
	default:
		return BG_BIND_E_INTERNAL;
	}
}

static void handle_unbind(const struct bg_bindreq_ctx *x, struct bg_bindreq *r, const char *flow,
			  char *reply, size_t replylen, char *log, size_t loglen)
{
	char err[256];
	int ret = bg_unbind_by(x->s, &r->key, r->token, r->token_len, x->uid, err, sizeof(err));

	if (!ret) {
		snprintf(reply, replylen, "OK");
		snprintf(log, loglen, "unbind %s: done", flow);
		return;
	}
	if (ret == -ENOENT)
		snprintf(err, sizeof(err), "%s is not bound", flow);
	snprintf(reply, replylen, "ERR %s %s", err_code(ret), err);
	snprintf(log, loglen, "unbind %s refused: %s", flow, err);
}

static void handle_bind(const struct bg_bindreq_ctx *x, struct bg_bindreq *r, const char *flow,
			char *reply, size_t replylen, char *log, size_t loglen)
{
	struct bg_bind_info info;
	char err[256], fp[16];
	int ret = bg_bind_by(x->s, x->names, &r->key, r->token, r->token_len, r->idle_ns, x->uid,
			     &info, err, sizeof(err));

	if (!ret) {
		bg_fp_fmt(info.fingerprint, fp, sizeof(fp));
		snprintf(reply, replylen, "OK %s %s", info.identity, fp);
		snprintf(log, loglen, "bound %s to identity %s (token %s)", flow, info.identity,
			 fp);
		return;
	}
	snprintf(reply, replylen, "ERR %s %s", err_code(ret), err);
	snprintf(log, loglen, "bind %s refused: %s", flow, err);
}

bool bg_bindsrv_handle(const struct bg_bindreq_ctx *x, char *line, char *reply, size_t replylen,
		       char *log, size_t loglen)
{
	char err[256], flow[160];
	struct bg_bindreq r;
	int ret;

	ret = bg_bindreq_parse(line, &r, err, sizeof(err));
	if (ret) {
		snprintf(reply, replylen, "ERR %s %s", BG_BIND_E_BAD_REQUEST, err);
		snprintf(log, loglen, "bad request: %s", err);
		return false;
	}
	bg_flow_key_fmt(&r.key, flow, sizeof(flow));
	switch (r.op) {
	case BG_BINDREQ_BIND:
		handle_bind(x, &r, flow, reply, replylen, log, loglen);
		break;
	case BG_BINDREQ_UNBIND:
		handle_unbind(x, &r, flow, reply, replylen, log, loglen);
		break;
	}
	if (r.token)
		explicit_bzero(line + (r.token - line), r.token_len);
	return !strncmp(reply, "OK", 2);
}

void bg_bindsrv_handle_line(const struct bg_state *s, char (*names)[BG_NAME_LEN], char *line,
			    char *reply, size_t replylen, char *log, size_t loglen)
{
	const struct bg_bindreq_ctx x = { .s = s, .names = names, .uid = 0 };
	char dummy[8];

	bg_bindsrv_handle(&x, line, reply, replylen, log ? log : dummy,
			  log ? loglen : sizeof(dummy));
}

/* Is somebody serving path? Then we must not take it over. */
static bool socket_alive(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return alive;
}

static int resolve_group(const char *group, gid_t *gid)
{
	struct group *g = getgrnam(group);
	char *end;
	unsigned long v;

	if (g) {
		*gid = g->gr_gid;
		return 0;
	}
	v = strtoul(group, &end, 10);
	if (*group && !*end) {
		*gid = (gid_t)v;
		return 0;
	}
	bg_err("bind serve: group \"%s\": no such group (see /etc/group)", group);
	return -ENOENT;
}

int bg_bindsrv_listen(const char *path, const char *group)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t mode = 0600, old_umask;
	gid_t gid = 0;
	struct stat st;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		bg_err("bind serve: socket path %s: longer than %zu bytes", path,
		       sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	if (group) {
		err = resolve_group(group, &gid);
		if (err)
			return err;
		mode = 0660;
	}
	if (!strcmp(path, BG_BIND_SOCKET_DEFAULT) && mkdir(BIND_DIR_DEFAULT, 0755) &&
	    errno != EEXIST) {
		err = -errno;
		bg_err("bind serve: create %s: %s", BIND_DIR_DEFAULT, strerror(-err));
		return err;
	}
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			bg_err("bind serve: %s exists and is not a socket: remove it or choose another path",
			       path);
			return -EEXIST;
		}
		if (socket_alive(path)) {
			bg_err("bind serve: %s is already being served by another process (stop it first)",
			       path);
			return -EADDRINUSE;
		}
		unlink(path); /* stale: left by a server that died */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		err = -errno;
		bg_err("bind serve: socket: %s", strerror(-err));
		return err;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* Born with no permissions for anyone else: no window before chmod. */
	old_umask = umask(0177);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old_umask);
	if (err) {
		bg_err("bind serve: bind %s: %s", path, strerror(-err));
		goto fail;
	}
	if (chown(path, 0, gid) || chmod(path, mode)) {
		err = -errno;
		bg_err("bind serve: set owner and mode of %s: %s", path, strerror(-err));
		unlink(path);
		goto fail;
	}
	if (listen(fd, 64)) {
		err = -errno;
		bg_err("bind serve: listen on %s: %s", path, strerror(-err));
		unlink(path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}

__u64 bg_bindsrv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

void bg_bindsrv_conn_init(struct bg_bindsrv_conn *c, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->last_ms = bg_bindsrv_now_ms();
	c->uid = (uid_t)-1;
	c->pid = -1;
	if (!getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		c->uid = cred.uid;
		c->pid = cred.pid;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static const char *const result_codes[BG_BIND_R_ERRORS] = {
	[BG_BIND_R_BAD_REQUEST] = BG_BIND_E_BAD_REQUEST,
	[BG_BIND_R_UNKNOWN_TOKEN] = BG_BIND_E_UNKNOWN_TOKEN,
	[BG_BIND_R_EXPIRED_TOKEN] = BG_BIND_E_EXPIRED_TOKEN,
	[BG_BIND_R_NOT_BOUND] = BG_BIND_E_NOT_BOUND,
	[BG_BIND_R_BUSY] = BG_BIND_E_BUSY,
	[BG_BIND_R_INTERNAL] = BG_BIND_E_INTERNAL,
	[BG_BIND_R_FORBIDDEN] = BG_BIND_E_FORBIDDEN,
};

const char *bg_bind_result_code(enum bg_bind_result r)
{
	return r < BG_BIND_R_ERRORS ? result_codes[r] : NULL;
}

enum bg_bind_result bg_bind_reply_result(const char *reply)
{
	size_t i, n;

	if (strncmp(reply, "ERR ", 4))
		return BG_BIND_R_OK;
	for (i = 0; i < BG_BIND_R_ERRORS; i++) {
		n = strlen(result_codes[i]);
		if (!strncmp(reply + 4, result_codes[i], n) &&
		    (!reply[4 + n] || reply[4 + n] == ' '))
			return (enum bg_bind_result)i;
	}
	return BG_BIND_R_INTERNAL;
}

/*
 * A reply fits the socket buffer unless the peer sends requests without
 * reading the replies: then the buffer fills, and rather than wait (and
 * hold up everyone else) the connection is ended. -1 then.
 */
static int reply_line(struct bg_bindsrv_conn *c, const char *reply)
{
	char out[BG_BIND_LINE_MAX + 2];
	int n = snprintf(out, sizeof(out), "%s\n", reply);
	ssize_t sent;

	if (c->stats) {
		c->stats->requests++;
		c->stats->replies[bg_bind_reply_result(reply)]++;
	}
	sent = send(c->fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (sent == n)
		return 0;
	bg_dbg("bind serve: reply to uid %d: %s", (int)c->uid,
	       sent < 0 ? strerror(errno) : "partial");
	return -1;
}

/* refused: anything but a binding made or removed (any client can cause it at will) */
static void conn_log(struct bg_bindsrv_conn *c, const char *msg, bool refused)
{
	char line[600];

	if (!c->log)
		return;
	snprintf(line, sizeof(line), "uid %d: %s", (int)c->uid, msg);
	c->log(line, refused, c->log_arg);
}

int bg_bindsrv_conn_io(const struct bg_state *s, struct bg_bindsrv_conn *c)
{
	char reply[BG_BIND_LINE_MAX], log[512];
	bool answered = false;
	char *nl;
	int reads;

	for (reads = 0; reads < BG_BINDSRV_READS_PER_IO; reads++) {
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			goto over;
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
		while ((nl = memchr(c->buf, '\n', c->len))) {
			size_t used = (size_t)(nl - c->buf) + 1;
			const struct bg_bindreq_ctx x = { s, c->names, c->uid };
			bool ok;
			int r;

			*nl = '\0';
			if (nl > c->buf && nl[-1] == '\r')
				nl[-1] = '\0';
			ok = bg_bindsrv_handle(&x, c->buf, reply, sizeof(reply), log, sizeof(log));
			r = reply_line(c, reply);
			answered = true;
			conn_log(c, log, !ok);
			explicit_bzero(c->buf, used);
			memmove(c->buf, c->buf + used, c->len - used);
			c->len -= used;
			if (r) {
				if (c->stats)
					c->stats->slow_peers++;
				conn_log(c, "closed: it does not read its replies", true);
				goto over;
			}
		}
		if (c->len == sizeof(c->buf) - 1) {
			snprintf(reply, sizeof(reply), "ERR %s line longer than %d bytes",
				 BG_BIND_E_BAD_REQUEST, BG_BIND_LINE_MAX);
			/*
			 * What was sent past the limit is read (a little of it: the
			 * connection ends anyway): closing a Unix socket with input
			 * unread resets it, and the client would lose the reply.
			 */
			for (reads = 0; reads < 8; reads++)
				if (recv(c->fd, c->buf, sizeof(c->buf), 0) <= 0)
					break;
			reply_line(c, reply);
			if (c->stats)
				c->stats->closed_oversize++;
			conn_log(c, "bad request: line longer than the limit: closed", true);
			goto over;
		}
	}
	/* The clock of the partial line starts with its first byte. */
	if (answered)
		c->last_ms = bg_bindsrv_now_ms();
	if (!c->len)
		c->partial_ms = 0;
	else if (answered || !c->partial_ms)
		c->partial_ms = answered ? c->last_ms : bg_bindsrv_now_ms();
	return 1;
over:
	explicit_bzero(c->buf, sizeof(c->buf));
	c->len = 0;
	return 0;
}

int bg_bindsrv_conn_expired(struct bg_bindsrv_conn *c, __u64 now_ms)
{
	char msg[96];

	if (c->partial_ms && now_ms - c->partial_ms >= BG_BINDSRV_PARTIAL_MS) {
		if (c->stats)
			c->stats->closed_stalled++;
		snprintf(msg, sizeof(msg),
			 "closed: %zu bytes of a request, no end of line within %u s", c->len,
			 BG_BINDSRV_PARTIAL_MS / 1000);
		conn_log(c, msg, true);
		goto over;
	}
	if (!c->len && now_ms - c->last_ms >= BG_BINDSRV_IDLE_MS) {
		if (c->stats)
			c->stats->closed_idle++; /* normal: not logged */
		goto over;
	}
	return 0;
over:
	explicit_bzero(c->buf, sizeof(c->buf));
	c->len = 0;
	return 1;
}

static void log_stderr(const char *line, bool refused, void *arg)
{
	char when[32];
	time_t t = time(NULL);

	(void)arg;
	(void)refused;
	bg_fmt_rfc3339((__s64)t, when, sizeof(when));
	fprintf(stderr, "%s %s: bind: %s\n", when, bg_prog_name, line);
}

int bg_bindsrv_run(const struct bg_state *s, int listen_fd, volatile sig_atomic_t *stop)
{
	static struct bg_bindsrv_conn conns[BG_BINDSRV_CONNS_MAX];
	struct pollfd pfd[BG_BINDSRV_CONNS_MAX + 1];
	int idx[BG_BINDSRV_CONNS_MAX + 1];
	/* slot -> name, filled as bindings name them: a bind is O(1) after the first */
	char(*names)[BG_NAME_LEN] = calloc(s->max_ids ? s->max_ids : 1, BG_NAME_LEN);
	__u64 swept_ms = bg_bindsrv_now_ms(), now;
	int i, n, nconn = 0, ret = 0;

	if (!names) {
		bg_err("bind serve: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	for (i = 0; i < BG_BINDSRV_CONNS_MAX; i++)
		conns[i].fd = -1;
	while (!*stop) {
		n = 0;
		pfd[n].fd = listen_fd;
		pfd[n++].events = POLLIN;
		for (i = 0; i < BG_BINDSRV_CONNS_MAX; i++) {
			if (conns[i].fd < 0)
				continue;
			pfd[n].fd = conns[i].fd;
			pfd[n].events = POLLIN;
			idx[n++] = i;
		}
		if (poll(pfd, (nfds_t)n, 1000) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			bg_err("bind serve: poll: %s", strerror(-ret));
			break;
		}
		for (i = 1; i < n; i++) {
			struct bg_bindsrv_conn *c = &conns[idx[i]];

			if (!pfd[i].revents || bg_bindsrv_conn_io(s, c))
				continue;
			close(c->fd);
			c->fd = -1;
			nconn--;
		}
		now = bg_bindsrv_now_ms();
		for (i = 0; i < BG_BINDSRV_CONNS_MAX && now - swept_ms >= 1000; i++) {
			if (conns[i].fd < 0 || !bg_bindsrv_conn_expired(&conns[i], now))
				continue;
			close(conns[i].fd);
			conns[i].fd = -1;
			nconn--;
		}
		if (now - swept_ms >= 1000)
			swept_ms = now;
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (fd < 0)
				continue;
			if (nconn == BG_BINDSRV_CONNS_MAX) {
				static const char busy[] =
					"ERR " BG_BIND_E_BUSY " too many connections, try again\n";

				send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
				close(fd);
				continue;
			}
			for (i = 0; conns[i].fd >= 0; i++)
				;
			bg_bindsrv_conn_init(&conns[i], fd);
			conns[i].log = log_stderr;
			conns[i].names = names;
			nconn++;
		}
	}
	for (i = 0; i < BG_BINDSRV_CONNS_MAX; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	free(names);
	return ret;
}
