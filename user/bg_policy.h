/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The policy file: a declarative YAML description of every identity (limits,
 * action, adaptive burst bounds, source prefixes, token files), the default
 * identity, host settings and controller settings. See
 * examples/policy.yaml for a commented example and docs/policy.md for the
 * schema.
 *
 * Loading validates everything a later apply needs (names, units, bucket
 * ranges, burst bounds, prefixes and their uniqueness) and builds the XDP
 * config of every identity; bg_policy_read_tokens() then reads the token
 * files and hashes their tokens under the state's secret. So an apply can
 * only fail on the state (its capacity) or the kernel. Every error says
 * FILE:LINE:COLUMN, what is wrong and what is accepted, and never a token.
 */
#ifndef BG_POLICY_H
#define BG_POLICY_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

#include "bg_attach.h"
#include "bg_common.h"
#include "bg_fleet.h"
#include "bg_identity.h"
#include "bg_prefix.h"
#include "bg_token.h"

#define BG_POL_VERSION 1
#define BG_POL_HEADER_LEN 64 /* HTTP header name, NUL-terminated */
#define BG_POL_PATH_LEN BG_CTL_PATH_LEN
#define BG_POL_SOCKET_LEN 108 /* sun_path: the bind socket's path */
#define BG_POL_GROUP_LEN 64
#define BG_POL_HEADER_DEFAULT "Authorization"
#define BG_POL_SCHEME_DEFAULT "bearer"
/* on_token_expired: block meters expired tokens as this identity (action block) */
#define BG_POL_EXPIRED_BLOCK_NAME "expired-tokens"
/* A token file larger than this is refused (it is a list of keys, not data). */
#define BG_TOKEN_FILE_MAX_BYTES (1U << 20)

/* Controller defaults, when the policy leaves them out. */
#define BG_TUNE_INTERVAL_MS_DEFAULT 1000U
#define BG_GROW_BELOW_PCT_DEFAULT 60U
#define BG_SHRINK_ABOVE_PCT_DEFAULT 85U
#define BG_AUDIT_LOG_DEFAULT "/var/log/burstgate/audit.jsonl"

struct bg_pol_prefix {
	struct bg_prefix pfx;
	unsigned int line, col; /* where the policy says it, 1-based */
};

/* Adaptive burst bounds; all 0: the burst is fixed. */
struct bg_tune_bounds {
	__u64 min_pkts;
	__u64 max_pkts;
	__u64 min_bytes;
	__u64 max_bytes;
};

struct bg_pol_tokfile {
	char *path; /* absolute */
	unsigned int line, col; /* where the policy names it, 1-based */
};

/*
 * A token of a token file, hashed under the state's secret by
 * bg_policy_read_tokens(): the token itself is never kept.
 */
struct bg_pol_token {
	__u64 hash; /* the bg_tokens key */
	__u64 fp; /* its fingerprint */
	__u32 ident; /* index into bg_policy.ids */
	__u32 file; /* index into that identity's token_files */
	__u32 line; /* line in the token file, 1-based */
	__u32 pad;
	__s64 expires_unix; /* `expires=TIME` on its line, seconds; 0: never */
};

struct bg_pol_identity {
	char name[BG_NAME_LEN];
	struct bg_limits lim; /* resolved: default bursts filled in */
	struct bg_id_cfg cfg; /* what the XDP program will enforce */
	struct bg_tune_bounds tune;
	struct bg_pol_prefix *pfx;
	size_t npfx;
	struct bg_pol_tokfile *token_files;
	size_t ntoken_files;
	bool has_token_files; /* `token_files:` given (even []): the policy owns its tokens */
	/*
	 * scope: global (docs/fleet.md): lim is the fleet's R and B as parsed;
	 * bg_fleet_localize() moves them to glim and puts this host's share in
	 * lim and cfg.
	 */
	bool global;
	struct bg_limits glim;
	__u64 token_grace_ns; /* token_grace: a token taken out of its files lives this long */
	bool grace_given; /* token_grace said here (else the host's) */
	unsigned int line, col;
};

struct bg_pol_iface {
	char name[IF_NAMESIZE];
	enum bg_mode mode; /* its own, else host.xdp_mode, else auto */
	__u32 prio; /* multi mode: its own, else host.xdp_priority; 0: BG_MP_PRIO_DEFAULT */
	bool mode_given, prio_given; /* said on the interface itself */
	unsigned int line, col;
};

struct bg_policy {
	char path[4096]; /* the file, for messages */
	struct bg_pol_identity deflt; /* named "default", never has prefixes */
	struct bg_pol_identity *ids; /* every other identity, in file order */
	size_t nids;
	__u32 shadow; /* host-wide dry run */
	__u32 malformed; /* enum bg_malformed */
	bool has_ifaces; /* the policy says where to attach (else: leave as is) */
	struct bg_pol_iface *ifaces;
	size_t nifaces;
	enum bg_mode xdp_mode; /* host.xdp_mode: for interfaces that say none (auto) */
	__u32 xdp_prio; /* host.xdp_priority (0: BG_MP_PRIO_DEFAULT) */
	/* controller.upgrade_program: false: serve leaves another build's program attached */
	bool no_upgrade;
	__u32 max_ids; /* capacity when the state is created; 0: default */
	__u32 max_pfx;
	struct bg_ctl ctl; /* capacity and tuner settings (generation unused) */
	char http_token_header[BG_POL_HEADER_LEN]; /* as written; default Authorization */
	char http_token_scheme[BG_SCHEME_MAX]; /* lower case; "": none */
	bool header_given, scheme_given; /* said in the file (for the notes) */
	/*
	 * host.on_token_expired: the identity that requests with an expired or
	 * unregistered token are metered as; "": default (they fall through to
	 * the prefix and default stages). `block` names BG_POL_EXPIRED_BLOCK_NAME,
	 * which the policy then gets with action block unless it defines it.
	 */
	char on_token_expired[BG_NAME_LEN];
	char audit_log[BG_POL_PATH_LEN];
	__u64 token_grace_ns; /* host.token_grace: default of identities' token_grace; 0: none */
	char bind_socket[BG_POL_SOCKET_LEN]; /* controller.bind_socket; "": none */
	char bind_group[BG_POL_GROUP_LEN]; /* controller.bind_socket_group; "": root only */
	struct bg_fleet_cfg fleet; /* the fleet section; fleet.engine[0] == 0: none */
	size_t nglobal; /* identities with scope: global */
	size_t npfx4, npfx6, ntuned, ntoken_files; /* totals, for reports */
	/* Filled by bg_policy_read_tokens(): sorted by hash, one per token. */
	struct bg_pol_token *toks;
	size_t ntoks;
	bool toks_loaded;
	size_t loose_files; /* token files readable by group or others */
	char loose_file[BG_POL_PATH_LEN]; /* the first of them */
	size_t expired_lines; /* tokens whose expires= had passed: not registered */
	char expired_line[BG_POL_PATH_LEN + 16]; /* the first of them, "FILE line N" */
};

/* Parse and validate; on error, err holds "FILE:LINE:COL: what (accepted)". */
int bg_policy_load(const char *path, struct bg_policy *p, char *err, size_t errlen);
int bg_policy_parse(const char *name, const char *text, size_t len, struct bg_policy *p, char *err,
		    size_t errlen);
void bg_policy_free(struct bg_policy *p);

/*
 * Read every token file: one token per line, optionally followed by
 * blanks and `expires=TIME` (RFC 3339: the token dies then; a line already
 * past it is skipped and counted in expired_lines); blank lines and lines
 * whose first visible character is # are skipped; spaces, tabs and a CR
 * around a token are dropped. Each token is checked (visible ASCII, 1 to 512 bytes)
 * and hashed under sec; buffers that held tokens are wiped. A token given
 * to two identities is an error; given twice to one, it counts once. All
 * or nothing: on error, err says "POLICY:LINE:COL: token file PATH: line
 * N: what" (the policy's entry for the file), never the token.
 */
int bg_policy_read_tokens(struct bg_policy *p, const struct bg_secret *sec, char *err,
			  size_t errlen);

/* A policy with only the default identity (allow), nothing else. */
void bg_policy_init(struct bg_policy *p);

/* Print as a policy file; bg_policy_parse of the text gives the same policy. */
int bg_policy_write(FILE *f, const struct bg_policy *p);

/*
 * Things worth saying about a valid policy: token files others can read,
 * a custom token header left with the bearer scheme, burst bounds without
 * a capacity to tune against. fn is called once per note.
 */
void bg_policy_notes(const struct bg_policy *p, void (*fn)(void *arg, const char *note), void *arg);

/* An identity's token grace: its own token_grace, else the host's. */
static inline __u64 bg_pol_grace(const struct bg_policy *p, const struct bg_pol_identity *id)
{
	return id->grace_given ? id->token_grace_ns : p->token_grace_ns;
}

/* Does the identity have adaptive bounds? */
static inline bool bg_tune_active(const struct bg_tune_bounds *t)
{
	return t->max_pkts || t->max_bytes;
}

#endif /* BG_POLICY_H */
