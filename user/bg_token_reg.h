/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The token registry: agent tokens (API keys, service tokens) mapped to
 * identities, over the pinned maps of bg_token.h. A token itself is never
 * stored, printed or logged: the maps hold its SipHash under a secret key,
 * humans see a fingerprint under another key. Buffers that held a token
 * are wiped (explicit_bzero) by the functions that filled them.
 */
#ifndef BG_TOKEN_REG_H
#define BG_TOKEN_REG_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "bg_state.h"
#include "bg_token.h"

/* Defaults of the header config. */
#define BG_HDR_DEFAULT "authorization"
#define BG_SCHEME_DEFAULT "bearer"
#define BG_HTTP_IDLE_DEFAULT_NS (60ULL * 1000000000ULL)
#define BG_BIND_IDLE_DEFAULT_NS (600ULL * 1000000000ULL)
/* `token rotate` without grace: how long the old tokens keep working. */
#define BG_ROTATE_GRACE_DEFAULT_NS (600ULL * 1000000000ULL)

/* One registry entry, as listed. */
struct bg_token_entry {
	__u64 hash; /* the map key */
	struct bg_token tok;
};

/* First use: the secret from getrandom() and the default header config. */
int bg_token_state_init(const struct bg_state *s);

/*
 * A token must be 1..BG_TOKEN_MAX bytes of visible ASCII: an HTTP header
 * value ends at whitespace, so anything else could never match. The
 * message in err names the offending byte's position, never the token.
 */
int bg_token_check(const char *tok, size_t len, char *err, size_t errlen);

/*
 * Read a token from file (NULL or "-": standard input, prompting without
 * echo on a terminal). One line; its line ending is dropped. Prints what
 * is wrong. buf holds BG_TOKEN_MAX + 1 bytes; wipe it after use.
 */
int bg_token_read(const char *file, char *buf, size_t cap, size_t *len);

/* The map key and the fingerprint of a token under the secret (pure). */
void bg_token_hash(const struct bg_secret *sec, const char *tok, size_t len, __u64 *hash,
		   __u64 *fp);
/* Fingerprints: 12 lower-case hex digits. */
const char *bg_fp_fmt(__u64 fp, char *buf, size_t len);
int bg_fp_parse(const char *s, __u64 *fp);

int bg_secret_get(const struct bg_state *s, struct bg_secret *sec);

/*
 * Register a token for identity id, dying at deadline_ns on the boot clock
 * (0: never; expires_unix for display). -EEXIST if already registered
 * (*out then says to whom), -ENOSPC if the registry is full.
 */
int bg_token_add(const struct bg_state *s, const char *tok, size_t len, __u32 id, __u64 deadline_ns,
		 __u64 expires_unix, struct bg_token_entry *out);
/* Look a token up by its value, or by fingerprint. -ENOENT if absent. */
int bg_token_get(const struct bg_state *s, const char *tok, size_t len, struct bg_token_entry *out);
int bg_token_get_fp(const struct bg_state *s, __u64 fp, struct bg_token_entry *out);
/* Remove one entry and every flow bound through it. */
int bg_token_del(const struct bg_state *s, __u64 hash, size_t *flows_removed);
/* All entries, by identity then creation; free() the array. */
int bg_token_list(const struct bg_state *s, struct bg_token_entry **out, size_t *n);
/* Remove the entries dead at now_boot_ns (and their flows). */
int bg_token_gc(const struct bg_state *s, __u64 now_boot_ns, size_t *removed,
		size_t *flows_removed);
/* The same, giving the entries removed (free() *gone): for the controller's log. */
int bg_token_gc_entries(const struct bg_state *s, __u64 now_boot_ns, struct bg_token_entry **gone,
			size_t *n, size_t *flows_removed);
/* Registered tokens, live and dead at now_boot_ns (dead ones wait for gc). */
int bg_token_count(const struct bg_state *s, __u64 now_boot_ns, size_t *live, size_t *expired);
/*
 * Rotation: every live token of identity id but keep_hash gets a deadline
 * no later than deadline_ns (expires_unix for display) and is marked
 * BG_TOKF_RETIRING; connections learnt or bound through them follow the
 * new deadline. The entries changed, as they are now, in *out (free()).
 */
int bg_token_retire(const struct bg_state *s, __u32 id, __u64 keep_hash, __u64 deadline_ns,
		    __u64 expires_unix, struct bg_token_entry **out, size_t *n);
/* Remove every token of an identity (it is being deleted). */
int bg_token_del_for_id(const struct bg_state *s, __u32 id, size_t *removed);

/* Pure helpers of the above, for the unit tests. */
bool bg_token_dead(const struct bg_token *t, __u64 now_boot_ns);
int bg_token_cmp(const void *a, const void *b);

/* ---- Header config ---- */

int bg_tok_cfg_get(const struct bg_state *s, struct bg_tok_cfg *c);
int bg_tok_cfg_put(const struct bg_state *s, const struct bg_tok_cfg *c);
void bg_tok_cfg_default(struct bg_tok_cfg *c);
/* A header name: an RFC 9110 token (letters, digits, !#$%&'*+-.^_`|~). */
int bg_tok_cfg_set_header(struct bg_tok_cfg *c, const char *name, char *err, size_t errlen);
/* scheme NULL or "none": the whole value is the token. */
int bg_tok_cfg_set_scheme(struct bg_tok_cfg *c, const char *scheme, char *err, size_t errlen);
/* The configured header name (lower case) and scheme ("" for none). */
void bg_tok_cfg_header(const struct bg_tok_cfg *c, char *name, size_t len);
void bg_tok_cfg_scheme(const struct bg_tok_cfg *c, char *scheme, size_t len);

/* The name of identity id (tokens and flows hold the index). -ENOENT if none. */
int bg_id_name_of(const struct bg_state *s, __u32 id, char *name, size_t len);

/* Mark the stages active (first token): needs the writer lock. */
int bg_tok_cfg_activate(const struct bg_state *s);

#endif /* BG_TOKEN_REG_H */
