/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Source prefixes (IPv4 and IPv6 LPM tries) mapped to identities. */
#ifndef BG_PREFIX_H
#define BG_PREFIX_H

#include <stddef.h>
#include <linux/types.h>

#include "bg_state.h"

struct bg_prefix {
	int family; /* AF_INET or AF_INET6 */
	__u32 len; /* prefix length in bits */
	__u8 addr[16]; /* network order; IPv4 in the first 4 bytes */
};

struct bg_prefix_entry {
	struct bg_prefix pfx;
	__u32 id;
};

/* "10.1.0.0/16", "2001:db8::/32", or an address alone (a host prefix). */
int bg_prefix_parse(const char *s, struct bg_prefix *p, char *err, size_t errlen);
const char *bg_prefix_fmt(const struct bg_prefix *p, char *buf, size_t len);

/*
 * Where a prefix is kept: host prefixes (/32, /128) in the hash maps
 * bg_host4/bg_host6, the others in the LPM tries. bg_prefix_map() fills key
 * and *key_size and returns the map's fd.
 */
union bg_prefix_key {
	struct bg_pfx4_key trie4;
	struct bg_pfx6_key trie6;
	__u32 host4;
	struct bg_host6_key host6;
};

int bg_prefix_map(const struct bg_state *s, const struct bg_prefix *p, union bg_prefix_key *key,
		  size_t *key_size);

/*
 * The BG_PFX_* bits in bg_global tell the XDP program which prefix maps to
 * look in. Raise a map's bit before writing its first entry; sync after
 * deleting (it drops the bits of maps that became empty). Writers hold the
 * state's writer lock.
 */
__u32 bg_prefix_map_bit(const struct bg_state *s, int fd);
int bg_prefix_flags_raise(const struct bg_state *s, __u32 bits);
int bg_prefix_flags_sync(const struct bg_state *s);

int bg_prefix_add(const struct bg_state *s, const struct bg_prefix *p, __u32 id);
int bg_prefix_del(const struct bg_state *s, const struct bg_prefix *p);
int bg_prefix_lookup(const struct bg_state *s, const struct bg_prefix *p, __u32 *id);

/* Every prefix, IPv4 first; free() the array. */
int bg_prefix_list(const struct bg_state *s, struct bg_prefix_entry **out, size_t *n);

/* Remove every prefix that points at id; *removed counts them. */
int bg_prefix_del_for_id(const struct bg_state *s, __u32 id, size_t *removed);

#endif /* BG_PREFIX_H */
