// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_prefix.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bg_common.h"
#include "bg_log.h"

int bg_prefix_parse(const char *s, struct bg_prefix *p, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 8], canon[64], *slash, *end;
	__u32 maxlen, bits, i;
	unsigned long len;

	memset(p, 0, sizeof(*p));
	if (strlen(s) >= sizeof(addr))
		goto bad;
	snprintf(addr, sizeof(addr), "%s", s);
	slash = strchr(addr, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, addr, p->addr) == 1) {
		p->family = AF_INET;
		maxlen = 32;
	} else if (inet_pton(AF_INET6, addr, p->addr) == 1) {
		p->family = AF_INET6;
		maxlen = 128;
	} else {
		goto bad;
	}
	p->len = maxlen;
	if (slash) {
		errno = 0;
		len = strtoul(slash + 1, &end, 10);
		if (errno || *end || end == slash + 1 || len > maxlen) {
			snprintf(err, errlen, "prefix \"%s\": length must be 0 to %u", s, maxlen);
			return -EINVAL;
		}
		p->len = (__u32)len;
	}
	/* Host bits set is almost always a typo: refuse, as ip route does. */
	for (i = 0; i < maxlen / 8; i++) {
		bits = i * 8 >= p->len ? 0 : p->len - i * 8 >= 8 ? 8 : p->len - i * 8;
		if (p->addr[i] & (__u8) ~(0xff00 >> bits)) {
			struct bg_prefix c = *p;
			__u32 j;

			for (j = 0; j < maxlen / 8; j++) {
				__u32 b = j * 8 >= p->len     ? 0 :
					  p->len - j * 8 >= 8 ? 8 :
								p->len - j * 8;
				c.addr[j] &= (__u8)(0xff00 >> b);
			}
			snprintf(err, errlen, "prefix \"%s\": host bits are set (did you mean %s?)",
				 s, bg_prefix_fmt(&c, canon, sizeof(canon)));
			return -EINVAL;
		}
	}
	return 0;
bad:
	snprintf(
		err, errlen,
		"prefix \"%s\": not an IPv4 or IPv6 address or CIDR prefix (e.g. 10.1.0.0/16, 2001:db8::/32)",
		s);
	return -EINVAL;
}

const char *bg_prefix_fmt(const struct bg_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(p->family, p->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, p->len);
	return buf;
}

/* The trie and key for a prefix; key must have room for a bg_pfx6_key. */
static int trie_key(const struct bg_state *s, const struct bg_prefix *p, void *key)
{
	if (p->family == AF_INET) {
		struct bg_pfx4_key *k = key;

		k->prefixlen = p->len;
		memcpy(&k->addr, p->addr, 4);
		return s->pfx4_fd;
	}
	struct bg_pfx6_key *k6 = key;

	k6->prefixlen = p->len;
	memcpy(k6->addr, p->addr, 16);
	return s->pfx6_fd;
}

int bg_prefix_add(const struct bg_state *s, const struct bg_prefix *p, __u32 id)
{
	struct bg_pfx6_key key = {};
	char buf[64];
	int fd = trie_key(s, p, &key), err;
	__u32 old;

	if (bpf_map_update_elem(fd, &key, &id, BPF_NOEXIST) == 0)
		return 0;
	err = -errno;
	if (err == -EEXIST && bpf_map_lookup_elem(fd, &key, &old) == 0 && old == id)
		return -EALREADY;
	if (err == -EEXIST)
		bg_err("prefix %s already maps to another identity (remove it first with `burstctl prefix del %s`)",
		       bg_prefix_fmt(p, buf, sizeof(buf)), buf);
	else if (err == -ENOSPC || err == -E2BIG)
		bg_err("prefix table for %s full (%u prefixes, the capacity chosen at setup)",
		       p->family == AF_INET ? "IPv4" : "IPv6", s->max_pfx);
	else
		bg_err("prefix add %s: %s", bg_prefix_fmt(p, buf, sizeof(buf)), strerror(-err));
	return err;
}

/*
 * Exact match. An LPM lookup cannot tell a prefix from a shorter one that
 * covers it, so this walks the trie: fine for a command, not for a packet.
 */
int bg_prefix_lookup(const struct bg_state *s, const struct bg_prefix *p, __u32 *id)
{
	struct bg_prefix_entry *all;
	size_t n, i;
	int err;

	err = bg_prefix_list(s, &all, &n);
	if (err)
		return err;
	err = -ENOENT;
	for (i = 0; i < n; i++) {
		if (all[i].pfx.family == p->family && all[i].pfx.len == p->len &&
		    !memcmp(all[i].pfx.addr, p->addr, 16)) {
			*id = all[i].id;
			err = 0;
			break;
		}
	}
	free(all);
	return err;
}

int bg_prefix_del(const struct bg_state *s, const struct bg_prefix *p)
{
	struct bg_pfx6_key key = {};
	int fd = trie_key(s, p, &key);

	if (bpf_map_delete_elem(fd, &key))
		return -errno;
	return 0;
}

static int list_trie(int fd, int family, struct bg_prefix_entry **v, size_t *n, size_t *cap)
{
	struct bg_pfx6_key key, next;
	void *prev = NULL;
	__u32 id;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &id))
			continue; /* deleted while we listed */
		if (*n == *cap) {
			struct bg_prefix_entry *tmp;

			*cap = *cap ? *cap * 2 : 64;
			tmp = realloc(*v, *cap * sizeof(**v));
			if (!tmp)
				return -ENOMEM;
			*v = tmp;
		}
		memset(&(*v)[*n], 0, sizeof(**v));
		(*v)[*n].pfx.family = family;
		(*v)[*n].pfx.len = key.prefixlen;
		memcpy((*v)[*n].pfx.addr, key.addr, family == AF_INET ? 4 : 16);
		(*v)[*n].id = id;
		(*n)++;
	}
	return errno == ENOENT ? 0 : -errno;
}

int bg_prefix_list(const struct bg_state *s, struct bg_prefix_entry **out, size_t *n)
{
	struct bg_prefix_entry *v = NULL;
	size_t cap = 0;
	int err;

	*n = 0;
	err = list_trie(s->pfx4_fd, AF_INET, &v, n, &cap);
	if (!err)
		err = list_trie(s->pfx6_fd, AF_INET6, &v, n, &cap);
	if (err) {
		free(v);
		*n = 0;
		return err;
	}
	*out = v;
	return 0;
}

int bg_prefix_del_for_id(const struct bg_state *s, __u32 id, size_t *removed)
{
	struct bg_prefix_entry *all;
	size_t n, i;
	int err;

	*removed = 0;
	err = bg_prefix_list(s, &all, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		if (all[i].id != id)
			continue;
		err = bg_prefix_del(s, &all[i].pfx);
		if (err && err != -ENOENT)
			break;
		err = 0;
		(*removed)++;
	}
	free(all);
	return err;
}
