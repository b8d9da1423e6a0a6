/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * burstgate bind client: tell burstgate which agent a connection belongs
 * to, when the agent's token is only visible to the server (TLS ends in
 * the server, or the protocol is not HTTP). After authenticating the agent
 * on an accepted socket, call
 *
 *	struct bg_client_reply r;
 *	if (bg_client_bind(fd, token, token_len, 0, NULL, &r) < 0)
 *		fprintf(stderr, "burstgate: %s\n", r.error); // the connection works anyway
 *
 * (idle_s 0: the server's idle timeout; socket_path NULL: the default) and
 * from then on the connection's packets are metered against that
 * agent's buckets. The library reads the connection's addresses itself
 * (getsockname, getpeername), talks to the bind socket of burstctl
 * (`burstctl bind serve`, or the controller), and needs no privileges
 * beyond access to that socket. It links against libc only.
 *
 * The protocol (docs/tokens.md), one line per request and per reply:
 *   BIND tcp|udp CLIENT-ADDR CLIENT-PORT SERVER-ADDR SERVER-PORT TOKEN [IDLE-SECONDS]
 *   UNBIND tcp|udp CLIENT-ADDR CLIENT-PORT SERVER-ADDR SERVER-PORT [TOKEN]
 *   -> OK IDENTITY FINGERPRINT | OK | ERR CODE MESSAGE
 */
#ifndef BG_CLIENT_H
#define BG_CLIENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Default socket; $BURSTGATE_BIND_SOCKET overrides it, a path argument both. */
#define BG_BIND_SOCKET_DEFAULT "/run/burstgate/bind.sock"
#define BG_BIND_SOCKET_ENV "BURSTGATE_BIND_SOCKET"
/* Longest request or reply line, LF included. */
#define BG_BIND_LINE_MAX 1024
/* How long a call waits for the server, in milliseconds. */
#define BG_BIND_TIMEOUT_MS 2000

/* Error codes of ERR replies. */
#define BG_BIND_E_BAD_REQUEST "bad-request"
#define BG_BIND_E_UNKNOWN_TOKEN "unknown-token"
#define BG_BIND_E_EXPIRED_TOKEN "expired-token"
#define BG_BIND_E_NOT_BOUND "not-bound"
#define BG_BIND_E_BUSY "busy"
#define BG_BIND_E_INTERNAL "internal"
/* the connection is bound by another uid (or learnt): its token, that uid or root only */
#define BG_BIND_E_FORBIDDEN "forbidden"

struct bg_client_reply {
	char identity[48]; /* on success: the agent's identity */
	char fingerprint[16]; /* on success: the token's fingerprint */
	char error[256]; /* on failure: what went wrong, for a log line */
};

/*
 * Bind the connection of sock (TCP or connected UDP, IPv4 or IPv6) to the
 * agent holding token. socket_path NULL: $BURSTGATE_BIND_SOCKET, else
 * BG_BIND_SOCKET_DEFAULT. idle_s: seconds without packets after which the
 * binding lapses; 0 for the server's default. Returns 0, or:
 *   -ENOKEY      the token is not registered
 *   -EKEYEXPIRED the token has expired
 *   -EPERM       the connection is bound already, by another uid with
 *                another token (only that uid or root may replace it)
 *   -EINVAL      the token or the socket cannot be sent (not a TCP/UDP
 *                socket, not connected, token with whitespace or too long)
 *   -EPROTO      the server's reply was not understood
 *   other -errno reaching the server failed (socket missing: -ENOENT;
 *                no permission: -EACCES; no answer in time: -ETIMEDOUT)
 * reply->error always explains a failure; reply may be NULL.
 */
int bg_client_bind(int sock, const char *token, size_t token_len, unsigned int idle_s,
		   const char *socket_path, struct bg_client_reply *reply);

/*
 * Remove the binding of sock's connection (-ENOENT if there was none;
 * -EPERM if another uid bound it: only that uid or root may remove it).
 */
int bg_client_unbind(int sock, const char *socket_path, struct bg_client_reply *reply);

#ifdef __cplusplus
}
#endif

#endif /* BG_CLIENT_H */
