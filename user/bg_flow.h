/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The flow table (bg_token.h): connections bound to an agent through the
 * bind API, and those the XDP program learnt from HTTP requests. Binding
 * writes one map element and takes no lock, so a long-running server can
 * bind while other burstctl commands run.
 */
#ifndef BG_FLOW_H
#define BG_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "bg_state.h"
#include "bg_token.h"

struct bg_flow_entry {
	struct bg_flow_key key;
	struct bg_flow flow;
};

/*
 * A connection as the XDP program sees its packets: src is the client (the
 * peer of an accepted socket), dst this host. Addresses as text; an IPv4
 * address mapped into IPv6 (::ffff:a.b.c.d) is taken as the IPv4 address,
 * as packets carry it. The message in err names the bad argument and its
 * length, never its value (it may be a misplaced token).
 */
int bg_flow_key_parse(struct bg_flow_key *k, const char *proto, const char *src, const char *sport,
		      const char *dst, const char *dport, char *err, size_t errlen);
/* "tcp 198.18.1.10:40000 -> 198.18.1.1:9000" ([v6]:port for IPv6). */
const char *bg_flow_key_fmt(const struct bg_flow_key *k, char *buf, size_t len);
/* Parts for JSON: protocol name, "ADDR", port. */
const char *bg_flow_proto_name(const struct bg_flow_key *k);
const char *bg_flow_addr_fmt(const struct bg_flow_key *k, bool src, char *buf, size_t len);

struct bg_bind_info {
	__u32 id; /* the identity */
	char identity[BG_NAME_LEN];
	__u64 fingerprint; /* of the token */
	__u64 deadline_ns; /* the token's, 0: never */
};

/*
 * Bind a connection to the identity of the agent holding tok, for idle_ns
 * without packets (0: the configured default) and never past the token's
 * deadline. -ENOKEY unknown token, -EKEYEXPIRED expired token; err says
 * so in words (never with the token).
 */
int bg_bind(const struct bg_state *s, const struct bg_flow_key *k, const char *tok, size_t len,
	    __u64 idle_ns, struct bg_bind_info *out, char *err, size_t errlen);
/*
 * The same, naming the identity through the caller's table of slot names
 * (bg_id_name_cached()): a few map lookups, however many identities there
 * are, where bg_bind() scans them all. Servers that bind for a living use
 * this one. names NULL: bg_bind().
 */
int bg_bind_named(const struct bg_state *s, char (*names)[BG_NAME_LEN], const struct bg_flow_key *k,
		  const char *tok, size_t len, __u64 idle_ns, struct bg_bind_info *out, char *err,
		  size_t errlen);
/*
 * The bind socket's: the same, on behalf of uid (the peer's, SO_PEERCRED).
 * A live entry of the connection may be replaced only by root, the uid
 * that bound it, or a request with the token it was bound or learnt with
 * (bg_state.h, bg_bind_own): else -EPERM, err says whose it is. bg_bind()
 * and bg_bind_named() bind as root.
 */
int bg_bind_by(const struct bg_state *s, char (*names)[BG_NAME_LEN], const struct bg_flow_key *k,
	       const char *tok, size_t len, __u64 idle_ns, __u32 uid, struct bg_bind_info *out,
	       char *err, size_t errlen);
/* Remove a connection's entry, bound or learnt. -ENOENT if none. */
int bg_unbind(const struct bg_state *s, const struct bg_flow_key *k);
/* The same on behalf of uid, under the rule of bg_bind_by(); tok may be NULL. */
int bg_unbind_by(const struct bg_state *s, const struct bg_flow_key *k, const char *tok, size_t len,
		 __u32 uid, char *err, size_t errlen);

/* Every entry; free() the array. */
int bg_flow_list(const struct bg_state *s, struct bg_flow_entry **out, size_t *n);

/* Removal by predicate over the listed entries. */
int bg_flow_del_for_token(const struct bg_state *s, __u64 tok_hash, size_t *removed);
int bg_flow_del_for_id(const struct bg_state *s, __u32 id, size_t *removed);
/* Those of any of n tokens (hashes sorted ascending): one pass over the table. */
int bg_flow_del_for_tokens(const struct bg_state *s, const __u64 *hashes, size_t n,
			   size_t *removed);
/*
 * Connections learnt or bound through one of n tokens (sorted by hash)
 * take that token's identity and deadline as it is now: after a rotation
 * gives old tokens a grace, their connections end with it. One pass.
 */
struct bg_token_entry;
int bg_flow_follow_tokens(const struct bg_state *s, const struct bg_token_entry *toks, size_t n,
			  size_t *updated);
/* Entries in the table by source (learnt from HTTP, bound), live or idle. */
int bg_flow_count(const struct bg_state *s, size_t *http, size_t *bind);
int bg_flow_gc(const struct bg_state *s, __u64 now_boot_ns, size_t *removed);

#endif /* BG_FLOW_H */
