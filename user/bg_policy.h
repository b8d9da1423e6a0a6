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
 * config of every identity, so an apply can only fail on the state (its
 * capacity) or the kernel. Every error says FILE:LINE:COLUMN, what is wrong
 * and what is accepted.
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
#include "bg_identity.h"
#include "bg_prefix.h"

#define BG_POL_VERSION 1
#define BG_POL_HEADER_LEN 64 /* HTTP header name, NUL-terminated */
#define BG_POL_PATH_LEN BG_CTL_PATH_LEN

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

struct bg_pol_identity {
	char name[BG_NAME_LEN];
	struct bg_limits lim; /* resolved: default bursts filled in */
	struct bg_id_cfg cfg; /* what the XDP program will enforce */
	struct bg_tune_bounds tune;
	struct bg_pol_prefix *pfx;
	size_t npfx;
	char **token_files; /* absolute paths; loaded by issue 3's token code */
	size_t ntoken_files;
	unsigned int line, col;
};

struct bg_pol_iface {
	char name[IF_NAMESIZE];
	enum bg_mode mode;
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
	__u32 max_ids; /* capacity when the state is created; 0: default */
	__u32 max_pfx;
	struct bg_ctl ctl; /* capacity and tuner settings (generation unused) */
	char http_token_header[BG_POL_HEADER_LEN]; /* "": none; issue 3 */
	char audit_log[BG_POL_PATH_LEN];
	size_t npfx4, npfx6, ntuned, ntoken_files; /* totals, for reports */
};

/* Parse and validate; on error, err holds "FILE:LINE:COL: what (accepted)". */
int bg_policy_load(const char *path, struct bg_policy *p, char *err, size_t errlen);
int bg_policy_parse(const char *name, const char *text, size_t len, struct bg_policy *p, char *err,
		    size_t errlen);
void bg_policy_free(struct bg_policy *p);

/* A policy with only the default identity (allow), nothing else. */
void bg_policy_init(struct bg_policy *p);

/* Print as a policy file; bg_policy_parse of the text gives the same policy. */
int bg_policy_write(FILE *f, const struct bg_policy *p);

/*
 * Things worth saying about a valid policy: parts that wait for agent
 * tokens (issue 3), burst bounds without a capacity to tune against.
 * fn is called once per note.
 */
void bg_policy_notes(const struct bg_policy *p, void (*fn)(void *arg, const char *note), void *arg);

/* Does the identity have adaptive bounds? */
static inline bool bg_tune_active(const struct bg_tune_bounds *t)
{
	return t->max_pkts || t->max_bytes;
}

#endif /* BG_POLICY_H */
