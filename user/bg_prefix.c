// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_prefix.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdbool.h>
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

static bool is_host(const struct bg_prefix *p)
{
	return p->len == (p->family == AF_INET ? 32 : 128);
}

int bg_prefix_map(const struct bg_state *s, const struct bg_prefix *p, union bg_prefix_key *key,
		  size_t *key_size)
{
	memset(key, 0, sizeof(*key));
	if (p->family == AF_INET && is_host(p)) {
		memcpy(&key->host4, p->addr, 4);
		*key_size = sizeof(key->host4);
		return s->host4_fd;
	}
	if (p->family == AF_INET) {
		key->trie4.prefixlen = p->len;
		memcpy(&key->trie4.addr, p->addr, 4);
		*key_size = sizeof(key->trie4);
		return s->pfx4_fd;
	}
	if (is_host(p)) {
		memcpy(key->host6.addr, p->addr, 16);
		*key_size = sizeof(key->host6);
		return s->host6_fd;
	}
	key->trie6.prefixlen = p->len;
	memcpy(key->trie6.addr, p->addr, 16);
	*key_size = sizeof(key->trie6);
	return s->pfx6_fd;
}

__u32 bg_prefix_map_bit(const struct bg_state *s, int fd)
{
	if (fd == s->pfx4_fd)
		return BG_PFX_TRIE4;
	if (fd == s->host4_fd)
		return BG_PFX_HOST4;
	if (fd == s->pfx6_fd)
		return BG_PFX_TRIE6;
	return fd == s->host6_fd ? BG_PFX_HOST6 : 0;
}

/* Read-modify-write of bg_global's pfx_maps alone (bg_global_put keeps it). */
static int flags_write(const struct bg_state *s, __u32 set, __u32 keep)
{
	struct bg_global g;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(s->global_fd, &zero, &g))
		return -errno;
	g.pfx_maps = (g.pfx_maps & keep) | set;
	if (bpf_map_update_elem(s->global_fd, &zero, &g, BPF_ANY))
		return -errno;
	return 0;
}

int bg_prefix_flags_raise(const struct bg_state *s, __u32 bits)
{
	return bits ? flags_write(s, bits, BG_PFX_ALL) : 0;
}

static bool map_empty(int fd)
{
	union bg_prefix_key next;

	return bpf_map_get_next_key(fd, NULL, &next) && errno == ENOENT;
}

int bg_prefix_flags_sync(const struct bg_state *s)
{
	const int fds[] = { s->pfx4_fd, s->host4_fd, s->pfx6_fd, s->host6_fd };
	__u32 keep = 0;
	size_t i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (!map_empty(fds[i]))
			keep |= bg_prefix_map_bit(s, fds[i]);
	return flags_write(s, 0, keep);
}

int bg_prefix_add(const struct bg_state *s, const struct bg_prefix *p, __u32 id)
{
	union bg_prefix_key key;
	size_t key_size;
	char buf[64];
	int fd = bg_prefix_map(s, p, &key, &key_size), err;
	__u32 old;

	err = bg_prefix_flags_raise(s, bg_prefix_map_bit(s, fd));
	if (err)
		return err;
	if (bpf_map_update_elem(fd, &key, &id, BPF_NOEXIST) == 0)
		return 0;
	err = -errno;
	if (err == -EEXIST && bpf_map_lookup_elem(fd, &key, &old) == 0 && old == id)
		return -EALREADY;
	if (err == -EEXIST)
		bg_err("prefix %s already maps to another identity (remove it first with `burstctl prefix del %s`)",
		       bg_prefix_fmt(p, buf, sizeof(buf)), buf);
	else if (err == -ENOSPC || err == -E2BIG)
		bg_err("%s prefix table for %s full (%u entries, the capacity chosen at setup)",
		       is_host(p) ? "host" : "network", p->family == AF_INET ? "IPv4" : "IPv6",
		       s->max_pfx);
	else
		bg_err("prefix add %s: %s", bg_prefix_fmt(p, buf, sizeof(buf)), strerror(-err));
	return err;
}

/*
 * Exact match. Host prefixes: one hash lookup. An LPM lookup cannot tell a
 * prefix from a shorter one that covers it, so for the others this walks
 * the trie: fine for a command, not for a packet.
 */
int bg_prefix_lookup(const struct bg_state *s, const struct bg_prefix *p, __u32 *id)
{
	struct bg_prefix_entry *all;
	union bg_prefix_key key;
	size_t n, i, key_size;
	int err, fd;

	if (is_host(p)) {
		fd = bg_prefix_map(s, p, &key, &key_size);
		return bpf_map_lookup_elem(fd, &key, id) ? -errno : 0;
	}
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
	union bg_prefix_key key;
	size_t key_size;
	int fd = bg_prefix_map(s, p, &key, &key_size);

	if (bpf_map_delete_elem(fd, &key))
		return -errno;
	return bg_prefix_flags_sync(s);
}

/* The prefix a key of map `kind` stands for (see bg_prefix_map()). */
enum map_kind { TRIE4, TRIE6, HOST4, HOST6 };

static void key_to_prefix(enum map_kind kind, const union bg_prefix_key *k, struct bg_prefix *p)
{
	memset(p, 0, sizeof(*p));
	p->family = kind == TRIE4 || kind == HOST4 ? AF_INET : AF_INET6;
	switch (kind) {
	case TRIE4:
		p->len = k->trie4.prefixlen;
		memcpy(p->addr, &k->trie4.addr, 4);
		break;
	case TRIE6:
		p->len = k->trie6.prefixlen;
		memcpy(p->addr, k->trie6.addr, 16);
		break;
	case HOST4:
		p->len = 32;
		memcpy(p->addr, &k->host4, 4);
		break;
	case HOST6:
		p->len = 128;
		memcpy(p->addr, k->host6.addr, 16);
		break;
	}
}

static size_t key_size(enum map_kind kind)
{
	switch (kind) {
	case TRIE4:
		return sizeof(struct bg_pfx4_key);
	case TRIE6:
		return sizeof(struct bg_pfx6_key);
	case HOST4:
		return sizeof(__u32);
	default:
		return sizeof(struct bg_host6_key);
	}
}

/* One map's entries, appended to *v (batch reads: bg_map_read_all). */
static int list_map(int fd, enum map_kind kind, struct bg_prefix_entry **v, size_t *n, size_t *cap)
{
	size_t ksz = key_size(kind), cnt = 0, i;
	union bg_prefix_key key;
	char *keys = NULL;
	__u32 *ids = NULL;
	int err;

	err = bg_map_read_all(fd, ksz, sizeof(*ids), (void **)&keys, (void **)&ids, &cnt);
	if (err)
		return err;
	if (*n + cnt > *cap) {
		struct bg_prefix_entry *tmp = realloc(*v, (*n + cnt + 1) * sizeof(**v));

		if (!tmp) {
			err = -ENOMEM;
			goto out;
		}
		*v = tmp;
		*cap = *n + cnt + 1;
	}
	for (i = 0; i < cnt; i++) {
		memset(&key, 0, sizeof(key));
		memcpy(&key, keys + i * ksz, ksz);
		key_to_prefix(kind, &key, &(*v)[*n].pfx);
		(*v)[*n].id = ids[i];
		(*n)++;
	}
out:
	free(keys);
	free(ids);
	return err;
}

/* Every prefix, IPv4 then IPv6, each family's host prefixes last. */
int bg_prefix_list(const struct bg_state *s, struct bg_prefix_entry **out, size_t *n)
{
	struct bg_prefix_entry *v = NULL;
	size_t cap = 0;
	int err;

	*n = 0;
	err = list_map(s->pfx4_fd, TRIE4, &v, n, &cap);
	if (!err)
		err = list_map(s->host4_fd, HOST4, &v, n, &cap);
	if (!err)
		err = list_map(s->pfx6_fd, TRIE6, &v, n, &cap);
	if (!err)
		err = list_map(s->host6_fd, HOST6, &v, n, &cap);
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
