// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_flow.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_identity.h"
#include "bg_log.h"
#include "bg_time.h"
#include "bg_token_reg.h"

static int parse_addr(const char *s, __u32 out[4], int *ver)
{
	struct in6_addr a6;
	struct in_addr a4;

	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, &a4) == 1) {
		out[0] = a4.s_addr;
		*ver = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6) != 1)
		return -EINVAL;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) { /* what an AF_INET6 socket reports */
		memcpy(&out[0], &a6.s6_addr[12], 4);
		*ver = 4;
		return 0;
	}
	memcpy(out, &a6, 16);
	*ver = 6;
	return 0;
}

static int parse_port(const char *s, __u16 *port)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (*end || v < 1 || v > 65535)
		return -EINVAL;
	*port = (__u16)v;
	return 0;
}

/*
 * The messages name the field and what is wrong with it, never its value: a
 * malformed bind request may carry the token in any field (a field left
 * out shifts the others), and these messages end up in logs.
 */
int bg_flow_key_parse(struct bg_flow_key *k, const char *proto, const char *src, const char *sport,
		      const char *dst, const char *dport, char *err, size_t errlen)
{
	int v4, v6;

	memset(k, 0, sizeof(*k));
	if (!strcmp(proto, "tcp")) {
		k->proto = IPPROTO_TCP;
	} else if (!strcmp(proto, "udp")) {
		k->proto = IPPROTO_UDP;
	} else {
		snprintf(err, errlen, "proto (%zu bytes): neither tcp nor udp", strlen(proto));
		return -EINVAL;
	}
	if (parse_addr(src, k->saddr, &v4)) {
		snprintf(err, errlen, "src (%zu bytes): not an IPv4 or IPv6 address", strlen(src));
		return -EINVAL;
	}
	if (parse_addr(dst, k->daddr, &v6)) {
		snprintf(err, errlen, "dst (%zu bytes): not an IPv4 or IPv6 address", strlen(dst));
		return -EINVAL;
	}
	if (v4 != v6) {
		snprintf(err, errlen, "src is IPv%d and dst IPv%d: both must be the same version",
			 v4, v6);
		return -EINVAL;
	}
	k->ip_ver = (__u8)v4;
	if (parse_port(sport, &k->sport)) {
		snprintf(err, errlen, "sport (%zu bytes): not a port (1-65535)", strlen(sport));
		return -EINVAL;
	}
	if (parse_port(dport, &k->dport)) {
		snprintf(err, errlen, "dport (%zu bytes): not a port (1-65535)", strlen(dport));
		return -EINVAL;
	}
	return 0;
}

const char *bg_flow_proto_name(const struct bg_flow_key *k)
{
	return k->proto == IPPROTO_TCP ? "tcp" : k->proto == IPPROTO_UDP ? "udp" : "?";
}

const char *bg_flow_addr_fmt(const struct bg_flow_key *k, bool src, char *buf, size_t len)
{
	const __u32 *a = src ? k->saddr : k->daddr;

	if (!inet_ntop(k->ip_ver == 6 ? AF_INET6 : AF_INET, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

const char *bg_flow_key_fmt(const struct bg_flow_key *k, char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	const char *o = k->ip_ver == 6 ? "[" : "", *c = k->ip_ver == 6 ? "]" : "";

	bg_flow_addr_fmt(k, true, s, sizeof(s));
	bg_flow_addr_fmt(k, false, d, sizeof(d));
	snprintf(buf, len, "%s %s%s%s:%u -> %s%s%s:%u", bg_flow_proto_name(k), o, s, c, k->sport, o,
		 d, c, k->dport);
	return buf;
}

int bg_bind(const struct bg_state *s, const struct bg_flow_key *k, const char *tok, size_t len,
	    __u64 idle_ns, struct bg_bind_info *out, char *err, size_t errlen)
{
	return bg_bind_named(s, NULL, k, tok, len, idle_ns, out, err, errlen);
}

int bg_bind_named(const struct bg_state *s, char (*names)[BG_NAME_LEN], const struct bg_flow_key *k,
		  const char *tok, size_t len, __u64 idle_ns, struct bg_bind_info *out, char *err,
		  size_t errlen)
{
	return bg_bind_by(s, names, k, tok, len, idle_ns, 0, out, err, errlen);
}

/*
 * May uid replace or remove the entry of connection k? tok_hash: of the
 * token the request carries (0: none). Root may; anyone may take a
 * connection without a live entry; a request with the token the entry
 * was bound or learnt with may; and the uid that bound it (bg_bind_own,
 * counted only while it describes this binding). 0 or -EPERM (err says
 * whose it is, never with a token).
 */
static int may_change(const struct bg_state *s, const struct bg_flow_key *k, __u32 uid,
		      __u64 tok_hash, __u64 now_ns, char *err, size_t errlen)
{
	struct bg_bind_own o = {};
	struct bg_flow f;
	char flow[160];
	bool known;

	if (!uid || bpf_map_lookup_elem(s->flows_fd, k, &f) || !bg_flow_live(&f, now_ns))
		return 0;
	if (tok_hash && f.tok_hash == tok_hash)
		return 0;
	known = f.source == BG_FLOW_BIND && s->own_fd >= 0 &&
		!bpf_map_lookup_elem(s->own_fd, k, &o) && o.tok_hash == f.tok_hash;
	if (known && o.uid == uid)
		return 0;
	bg_flow_key_fmt(k, flow, sizeof(flow));
	if (known)
		snprintf(
			err, errlen,
			"%s is bound by uid %u: only that user, root, or a request with the connection's token may change it",
			flow, o.uid);
	else
		snprintf(
			err, errlen,
			"%s is %s: only root or a request with the connection's token may change it",
			flow,
			f.source == BG_FLOW_BIND ? "bound by another user" :
						   "learnt from an HTTP request");
	return -EPERM;
}

int bg_bind_by(const struct bg_state *s, char (*names)[BG_NAME_LEN], const struct bg_flow_key *k,
	       const char *tok, size_t len, __u64 idle_ns, __u32 uid, struct bg_bind_info *out,
	       char *err, size_t errlen)
{
	struct bg_bind_own own = { .uid = uid };
	struct bg_token_entry e;
	struct bg_id_cfg cfg;
	struct bg_tok_cfg tc;
	struct bg_clock now;
	struct bg_flow f = {};
	char fp[16];
	int ret;

	memset(out, 0, sizeof(*out));
	ret = bg_token_check(tok, len, err, errlen);
	if (ret)
		return ret;
	ret = bg_token_get(s, tok, len, &e);
	if (ret == -ENOENT) {
		snprintf(err, errlen,
			 "unknown token: no such token is registered (see `burstctl token list`)");
		return -ENOKEY;
	}
	if (ret)
		goto fail;
	out->id = e.tok.id;
	out->fingerprint = e.tok.fingerprint;
	out->deadline_ns = e.tok.deadline_ns;
	bg_fp_fmt(e.tok.fingerprint, fp, sizeof(fp));
	ret = bg_clock_now(&now);
	if (ret)
		goto fail;
	if (bg_token_dead(&e.tok, now.boot_ns)) {
		snprintf(err, errlen,
			 "token %s has expired (add a new one with `burstctl token add`)", fp);
		return -EKEYEXPIRED;
	}
	if (bpf_map_lookup_elem(s->cfg_fd, &e.tok.id, &cfg) || !(cfg.flags & BG_ID_F_IN_USE) ||
	    (names ? bg_id_name_cached(s, names, e.tok.id, out->identity, sizeof(out->identity)) :
		     bg_id_name_of(s, e.tok.id, out->identity, sizeof(out->identity)))) {
		snprintf(err, errlen, "token %s names an identity that was just deleted", fp);
		return -ENOKEY;
	}
	ret = may_change(s, k, uid, e.hash, now.boot_ns, err, errlen);
	if (ret)
		return ret;
	ret = bg_tok_cfg_get(s, &tc);
	if (ret)
		goto fail;
	f.id = e.tok.id;
	f.source = BG_FLOW_BIND;
	f.last_ns = now.boot_ns;
	f.idle_ns = idle_ns ? idle_ns : tc.bind_idle_ns;
	f.deadline_ns = e.tok.deadline_ns;
	f.tok_hash = e.hash;
	if (bpf_map_update_elem(s->flows_fd, k, &f, BPF_ANY)) {
		ret = -errno;
		goto fail;
	}
	/* full (gc removes the records of dead flows): only the token or root may then change it */
	own.tok_hash = e.hash;
	if (s->own_fd >= 0 && bpf_map_update_elem(s->own_fd, k, &own, BPF_ANY))
		bg_dbg("bind: owner of a binding not recorded: %s", strerror(errno));
	return 0;
fail:
	snprintf(err, errlen, "flow table in %s: %s", s->pin_path, strerror(-ret));
	return ret;
}

int bg_unbind(const struct bg_state *s, const struct bg_flow_key *k)
{
	if (s->own_fd >= 0)
		bpf_map_delete_elem(s->own_fd, k);
	if (bpf_map_delete_elem(s->flows_fd, k))
		return -errno;
	return 0;
}

int bg_unbind_by(const struct bg_state *s, const struct bg_flow_key *k, const char *tok, size_t len,
		 __u32 uid, char *err, size_t errlen)
{
	struct bg_token_entry e = {};
	struct bg_clock now;
	int ret;

	if (tok) {
		ret = bg_token_check(tok, len, err, errlen);
		if (ret)
			return ret;
		ret = bg_token_get(s, tok, len, &e);
		if (ret && ret != -ENOENT)
			goto fail;
	}
	ret = bg_clock_now(&now);
	if (ret)
		goto fail;
	ret = may_change(s, k, uid, e.hash, now.boot_ns, err, errlen);
	if (ret)
		return ret;
	ret = bg_unbind(s, k);
	if (ret && ret != -ENOENT)
		goto fail;
	return ret;
fail:
	snprintf(err, errlen, "flow table in %s: %s", s->pin_path, strerror(-ret));
	return ret;
}

int bg_flow_list(const struct bg_state *s, struct bg_flow_entry **out, size_t *n)
{
	struct bg_flow_key *keys;
	struct bg_flow *vals;
	struct bg_flow_entry *v;
	size_t i;
	int err;

	*out = NULL;
	*n = 0;
	err = bg_map_read_all(s->flows_fd, sizeof(*keys), sizeof(*vals), (void **)&keys,
			      (void **)&vals, n);
	if (err)
		return err;
	v = calloc(*n + 1, sizeof(*v));
	if (!v) {
		err = -ENOMEM;
		*n = 0;
		goto out;
	}
	for (i = 0; i < *n; i++) {
		v[i].key = keys[i];
		v[i].flow = vals[i];
	}
	*out = v;
out:
	free(keys);
	free(vals);
	return err;
}

/* Listed first, then deleted: deleting while walking restarts the walk. */
static int del_where(const struct bg_state *s, bool (*match)(const struct bg_flow *, __u64),
		     __u64 arg, size_t *removed)
{
	struct bg_flow_entry *v;
	size_t n, i, cnt = 0;
	int err;

	err = bg_flow_list(s, &v, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		if (!match(&v[i].flow, arg) || bpf_map_delete_elem(s->flows_fd, &v[i].key))
			continue;
		if (s->own_fd >= 0 && v[i].flow.source == BG_FLOW_BIND)
			bpf_map_delete_elem(s->own_fd, &v[i].key);
		cnt++;
	}
	free(v);
	if (removed)
		*removed = cnt;
	return 0;
}

static bool of_token(const struct bg_flow *f, __u64 hash)
{
	return f->tok_hash == hash;
}

static bool of_id(const struct bg_flow *f, __u64 id)
{
	return f->id == id;
}

static bool dead_at(const struct bg_flow *f, __u64 now)
{
	return !bg_flow_live(f, now);
}

int bg_flow_del_for_token(const struct bg_state *s, __u64 tok_hash, size_t *removed)
{
	return del_where(s, of_token, tok_hash, removed);
}

int bg_flow_del_for_tokens(const struct bg_state *s, const __u64 *hashes, size_t n, size_t *removed)
{
	struct bg_flow_entry *v;
	size_t nf, i, lo, hi, cnt = 0;
	int err;

	*removed = 0;
	if (!n)
		return 0;
	err = bg_flow_list(s, &v, &nf);
	if (err)
		return err;
	for (i = 0; i < nf; i++) {
		__u64 h = v[i].flow.tok_hash;

		for (lo = 0, hi = n; lo < hi;) { /* hashes is sorted */
			size_t mid = (lo + hi) / 2;

			if (hashes[mid] < h)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < n && hashes[lo] == h && !bpf_map_delete_elem(s->flows_fd, &v[i].key))
			cnt++;
	}
	free(v);
	*removed = cnt;
	return 0;
}

int bg_flow_follow_tokens(const struct bg_state *s, const struct bg_token_entry *toks, size_t n,
			  size_t *updated)
{
	struct bg_flow_entry *v;
	size_t nf, i, lo, hi, cnt = 0;
	int err;

	*updated = 0;
	if (!n)
		return 0;
	err = bg_flow_list(s, &v, &nf);
	if (err)
		return err;
	for (i = 0; i < nf; i++) {
		struct bg_flow *f = &v[i].flow;

		for (lo = 0, hi = n; lo < hi;) { /* toks is sorted by hash */
			size_t mid = (lo + hi) / 2;

			if (toks[mid].hash < f->tok_hash)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == n || toks[lo].hash != f->tok_hash ||
		    (f->id == toks[lo].tok.id && f->deadline_ns == toks[lo].tok.deadline_ns))
			continue;
		f->id = toks[lo].tok.id;
		f->deadline_ns = toks[lo].tok.deadline_ns;
		/* An update replaces the element: a packet racing it refreshes the old copy. */
		if (!bpf_map_update_elem(s->flows_fd, &v[i].key, f, BPF_EXIST))
			cnt++;
	}
	free(v);
	*updated = cnt;
	return 0;
}

int bg_flow_count(const struct bg_state *s, size_t *http, size_t *bind)
{
	struct bg_flow_key *keys;
	struct bg_flow *vals;
	size_t n, i;
	int err;

	*http = *bind = 0;
	err = bg_map_read_all(s->flows_fd, sizeof(*keys), sizeof(*vals), (void **)&keys,
			      (void **)&vals, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		if (vals[i].source == BG_FLOW_BIND)
			(*bind)++;
		else
			(*http)++;
	}
	free(keys);
	free(vals);
	return 0;
}

int bg_flow_del_for_id(const struct bg_state *s, __u32 id, size_t *removed)
{
	return del_where(s, of_id, id, removed);
}

/*
 * Owner records whose binding went another way (the kernel's LRU made
 * room, the data plane replaced it): checked only when there are more
 * records than bindings, so a steady state costs one batch read.
 */
static void own_gc(const struct bg_state *s)
{
	struct bg_flow_key *keys;
	struct bg_bind_own *own;
	size_t n, i, http, bind;
	struct bg_flow f;

	if (s->own_fd < 0 || bg_flow_count(s, &http, &bind) ||
	    bg_map_read_all(s->own_fd, sizeof(*keys), sizeof(*own), (void **)&keys, (void **)&own,
			    &n))
		return;
	for (i = 0; n > bind && i < n; i++)
		if (bpf_map_lookup_elem(s->flows_fd, &keys[i], &f) || f.source != BG_FLOW_BIND ||
		    f.tok_hash != own[i].tok_hash)
			bpf_map_delete_elem(s->own_fd, &keys[i]);
	free(keys);
	free(own);
}

int bg_flow_gc(const struct bg_state *s, __u64 now_boot_ns, size_t *removed)
{
	int err = del_where(s, dead_at, now_boot_ns, removed);

	if (!err)
		own_gc(s);
	return err;
}
