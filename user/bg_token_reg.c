// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_token_reg.h"

#include <bpf/bpf.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bg_flow.h"
#include "bg_log.h"
#include "bg_siphash.h"
#include "bg_time.h"

int bg_secret_get(const struct bg_state *s, struct bg_secret *sec)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(s->secret_fd, &zero, sec))
		return -errno;
	return 0;
}

int bg_tok_cfg_get(const struct bg_state *s, struct bg_tok_cfg *c)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(s->tok_cfg_fd, &zero, c))
		return -errno;
	return 0;
}

int bg_tok_cfg_put(const struct bg_state *s, const struct bg_tok_cfg *c)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(s->tok_cfg_fd, &zero, c, BPF_ANY))
		return -errno;
	return 0;
}

int bg_token_state_init(const struct bg_state *s)
{
	struct bg_secret sec;
	struct bg_tok_cfg c;
	__u32 zero = 0;
	int err;

	err = bg_secret_get(s, &sec);
	if (err)
		goto fail;
	if (!sec.created_unix) {
		/* 32 bytes: both keys. Blocks only until the pool is ready at boot. */
		if (getrandom(&sec, sizeof(sec.key) + sizeof(sec.fp_key), 0) !=
		    (ssize_t)(sizeof(sec.key) + sizeof(sec.fp_key))) {
			err = errno ? -errno : -EIO;
			bg_err("read the kernel's random source (getrandom) for the token secret: %s",
			       strerror(-err));
			return err;
		}
		sec.created_unix = (__u64)time(NULL) ? (__u64)time(NULL) : 1;
		err = bpf_map_update_elem(s->secret_fd, &zero, &sec, BPF_ANY) ? -errno : 0;
		explicit_bzero(&sec, sizeof(sec));
		if (err)
			goto fail;
	}
	explicit_bzero(&sec, sizeof(sec));
	err = bg_tok_cfg_get(s, &c);
	if (err)
		goto fail;
	if (!c.pat_len) {
		bg_tok_cfg_default(&c);
		err = bg_tok_cfg_put(s, &c);
		if (err)
			goto fail;
	}
	return 0;
fail:
	bg_err("initialise the token registry in %s: %s", s->pin_path, strerror(-err));
	return err;
}

int bg_token_check(const char *tok, size_t len, char *err, size_t errlen)
{
	size_t i;

	if (!len) {
		snprintf(err, errlen, "empty (a token is 1 to %d visible ASCII characters)",
			 BG_TOKEN_MAX);
		return -EINVAL;
	}
	if (len > BG_TOKEN_MAX) {
		snprintf(err, errlen, "%zu bytes, longer than the %d bytes a token may have", len,
			 BG_TOKEN_MAX);
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)tok[i];

		if (c < 0x21 || c > 0x7e) {
			snprintf(
				err, errlen,
				"byte %zu of %zu is %s: a token is visible ASCII only (an HTTP header value ends at whitespace, so it could never match)",
				i + 1, len,
				c == ' ' || c == '\t' ? "whitespace" :
				c == '\n'	      ? "a second line" :
				c < 0x20 || c == 0x7f ? "a control character" :
							"not ASCII");
			return -EINVAL;
		}
	}
	return 0;
}

/* Warn when a token file can be read by others than its owner. */
static void check_file_mode(int fd, const char *file)
{
	struct stat st;

	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && (st.st_mode & 0044))
		bg_warn("token file %s is readable by group or others (mode %03o): chmod 600 %s",
			file, (unsigned int)(st.st_mode & 0777), file);
}

int bg_token_read(const char *file, char *buf, size_t cap, size_t *len)
{
	bool use_stdin = !file || !strcmp(file, "-"), tty = false;
	const char *what = use_stdin ? "standard input" : file;
	struct termios old, quiet;
	char err[200];
	size_t n = 0;
	int fd, ret = 0;

	*len = 0;
	if (use_stdin) {
		fd = STDIN_FILENO;
		if (isatty(fd) && !tcgetattr(fd, &old)) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			quiet.c_lflag |= ECHONL;
			tty = !tcsetattr(fd, TCSAFLUSH, &quiet);
			fprintf(stderr, "token (not echoed): ");
		}
	} else {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			bg_err("token file %s: %s", file, strerror(-ret));
			return ret;
		}
		check_file_mode(fd, file);
	}
	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			bg_err("read token from %s: %s", what, strerror(-ret));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (tty && memchr(buf, '\n', n))
			break;
	}
	if (n == cap) {
		bg_err("token from %s: longer than the %d bytes a token may have", what,
		       BG_TOKEN_MAX);
		ret = -EINVAL;
		goto out;
	}
	if (n && buf[n - 1] == '\n')
		n--;
	if (n && buf[n - 1] == '\r')
		n--;
	ret = bg_token_check(buf, n, err, sizeof(err));
	if (ret) {
		if (!n && use_stdin)
			bg_err("no token on standard input (pipe it in, or use --token-file FILE; tokens are never taken from the command line)");
		else
			bg_err("token from %s: %s", what, err);
		goto out;
	}
	*len = n;
out:
	if (tty)
		tcsetattr(fd, TCSAFLUSH, &old);
	if (!use_stdin)
		close(fd);
	if (ret)
		explicit_bzero(buf, cap);
	return ret;
}

void bg_token_hash(const struct bg_secret *sec, const char *tok, size_t len, __u64 *hash, __u64 *fp)
{
	*hash = bg_siphash(sec->key[0], sec->key[1], tok, (__u32)len);
	*fp = bg_siphash(sec->fp_key[0], sec->fp_key[1], tok, (__u32)len) >> (64 - BG_FP_BITS);
}

const char *bg_fp_fmt(__u64 fp, char *buf, size_t len)
{
	snprintf(buf, len, "%0*llx", BG_FP_BITS / 4, (unsigned long long)fp);
	return buf;
}

int bg_fp_parse(const char *s, __u64 *fp)
{
	size_t i;

	if (strlen(s) != BG_FP_BITS / 4)
		return -EINVAL;
	for (i = 0; s[i]; i++)
		if (!isxdigit((unsigned char)s[i]))
			return -EINVAL;
	*fp = strtoull(s, NULL, 16);
	return 0;
}

bool bg_token_dead(const struct bg_token *t, __u64 now_boot_ns)
{
	return bg_deadline_passed(t->deadline_ns, now_boot_ns);
}

int bg_token_cmp(const void *a, const void *b)
{
	const struct bg_token_entry *x = a, *y = b;

	if (x->tok.id != y->tok.id)
		return x->tok.id < y->tok.id ? -1 : 1;
	if (x->tok.created_unix != y->tok.created_unix)
		return x->tok.created_unix < y->tok.created_unix ? -1 : 1;
	return x->tok.fingerprint < y->tok.fingerprint ? -1 :
							 x->tok.fingerprint > y->tok.fingerprint;
}

int bg_tok_cfg_activate(const struct bg_state *s)
{
	struct bg_tok_cfg c;
	int err = bg_tok_cfg_get(s, &c);

	if (err || (c.flags & BG_TOK_F_ACTIVE))
		return err;
	c.flags |= BG_TOK_F_ACTIVE;
	return bg_tok_cfg_put(s, &c);
}

int bg_token_add(const struct bg_state *s, const char *tok, size_t len, __u32 id, __u64 deadline_ns,
		 __u64 expires_unix, struct bg_token_entry *out)
{
	struct bg_token_entry e = {};
	struct bg_secret sec;
	int err;

	err = bg_secret_get(s, &sec);
	if (err)
		return err;
	bg_token_hash(&sec, tok, len, &e.hash, &e.tok.fingerprint);
	explicit_bzero(&sec, sizeof(sec));
	if (!bpf_map_lookup_elem(s->tokens_fd, &e.hash, &out->tok)) {
		out->hash = e.hash;
		/*
		 * An earlier add killed between its two writes left the token
		 * without the stage that reads it: switch the stage on now.
		 */
		err = bg_tok_cfg_activate(s);
		return err ? err : -EEXIST;
	}
	e.tok.id = id;
	e.tok.deadline_ns = deadline_ns;
	e.tok.created_unix = (__u64)time(NULL);
	e.tok.expires_unix = expires_unix;
	if (bpf_map_update_elem(s->tokens_fd, &e.hash, &e.tok, BPF_NOEXIST)) {
		err = -errno;
		return err == -E2BIG ? -ENOSPC : err;
	}
	*out = e;
	return bg_tok_cfg_activate(s);
}

int bg_token_get(const struct bg_state *s, const char *tok, size_t len, struct bg_token_entry *out)
{
	struct bg_secret sec;
	__u64 fp;
	int err;

	err = bg_secret_get(s, &sec);
	if (err)
		return err;
	bg_token_hash(&sec, tok, len, &out->hash, &fp);
	explicit_bzero(&sec, sizeof(sec));
	if (bpf_map_lookup_elem(s->tokens_fd, &out->hash, &out->tok))
		return -errno;
	return 0;
}

int bg_token_list(const struct bg_state *s, struct bg_token_entry **out, size_t *n)
{
	struct bg_token_entry *v;
	struct bg_token *vals;
	__u64 *keys;
	size_t i;
	int err;

	*out = NULL;
	*n = 0;
	err = bg_map_read_all(s->tokens_fd, sizeof(*keys), sizeof(*vals), (void **)&keys,
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
		v[i].hash = keys[i];
		v[i].tok = vals[i];
	}
	if (*n)
		qsort(v, *n, sizeof(*v), bg_token_cmp);
	*out = v;
out:
	free(keys);
	free(vals);
	return err;
}

int bg_token_get_fp(const struct bg_state *s, __u64 fp, struct bg_token_entry *out)
{
	struct bg_token_entry *v;
	size_t n, i;
	int err;

	err = bg_token_list(s, &v, &n);
	if (err)
		return err;
	err = -ENOENT;
	for (i = 0; i < n; i++) {
		if (v[i].tok.fingerprint == fp) {
			*out = v[i];
			err = 0;
			break;
		}
	}
	free(v);
	return err;
}

int bg_token_del(const struct bg_state *s, __u64 hash, size_t *flows_removed)
{
	if (flows_removed)
		*flows_removed = 0;
	if (bpf_map_delete_elem(s->tokens_fd, &hash))
		return -errno;
	/* Connections learnt or bound through it lose it now, not at idle. */
	return bg_flow_del_for_token(s, hash, flows_removed);
}

static int cmp_entry_hash(const void *a, const void *b)
{
	__u64 x = ((const struct bg_token_entry *)a)->hash,
	      y = ((const struct bg_token_entry *)b)->hash;

	return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * Delete the entries for which dead() holds, then, in one pass over the
 * flow table, every flow learnt or bound through one of them: two listings
 * whatever the number of tokens removed. The removed entries go to *gone
 * (free()) if gone is not NULL.
 */
static int del_where(const struct bg_state *s, bool (*dead)(const struct bg_token_entry *, __u64),
		     __u64 arg, size_t *removed, size_t *flows_removed,
		     struct bg_token_entry **gone)
{
	struct bg_token_entry *v;
	__u64 *hashes = NULL;
	size_t n, i, k = 0, f = 0;
	int err, ferr;

	*removed = 0;
	if (flows_removed)
		*flows_removed = 0;
	if (gone)
		*gone = NULL;
	err = bg_token_list(s, &v, &n);
	if (err)
		return err;
	hashes = calloc(n + 1, sizeof(*hashes));
	if (!hashes) {
		free(v);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		if (!dead(&v[i], arg))
			continue;
		if (bpf_map_delete_elem(s->tokens_fd, &v[i].hash)) {
			if (errno == ENOENT)
				continue; /* removed meanwhile */
			err = -errno;
			break;
		}
		hashes[k] = v[i].hash;
		v[k++] = v[i]; /* i >= k: compacts in place */
	}
	*removed = k;
	if (k) {
		/* Connections learnt or bound through them lose them now, not at idle. */
		qsort(hashes, k, sizeof(*hashes), cmp_u64);
		ferr = bg_flow_del_for_tokens(s, hashes, k, &f);
		err = err ? err : ferr;
		if (flows_removed)
			*flows_removed = f;
	}
	free(hashes);
	if (gone && !err)
		*gone = v;
	else
		free(v);
	return err;
}

static bool expired_at(const struct bg_token_entry *e, __u64 now)
{
	return bg_token_dead(&e->tok, now);
}

static bool of_id(const struct bg_token_entry *e, __u64 id)
{
	return e->tok.id == id;
}

int bg_token_gc(const struct bg_state *s, __u64 now_boot_ns, size_t *removed, size_t *flows_removed)
{
	return del_where(s, expired_at, now_boot_ns, removed, flows_removed, NULL);
}

int bg_token_gc_entries(const struct bg_state *s, __u64 now_boot_ns, struct bg_token_entry **gone,
			size_t *n, size_t *flows_removed)
{
	return del_where(s, expired_at, now_boot_ns, n, flows_removed, gone);
}

int bg_token_del_for_id(const struct bg_state *s, __u32 id, size_t *removed)
{
	return del_where(s, of_id, id, removed, NULL, NULL);
}

int bg_token_retire(const struct bg_state *s, __u32 id, __u64 keep_hash, __u64 deadline_ns,
		    __u64 expires_unix, struct bg_token_entry **out, size_t *n)
{
	struct bg_token_entry *v;
	struct bg_clock now;
	size_t nv, i, k = 0, moved;
	int err;

	*out = NULL;
	*n = 0;
	err = bg_clock_now(&now);
	if (!err)
		err = bg_token_list(s, &v, &nv);
	if (err)
		return err;
	for (i = 0; i < nv; i++) {
		struct bg_token t = v[i].tok;

		if (t.id != id || v[i].hash == keep_hash || bg_token_dead(&t, now.boot_ns))
			continue;
		if (!t.deadline_ns || t.deadline_ns > deadline_ns) {
			t.deadline_ns = deadline_ns;
			t.expires_unix = expires_unix;
		}
		t.flags |= BG_TOKF_RETIRING;
		if (bpf_map_update_elem(s->tokens_fd, &v[i].hash, &t, BPF_EXIST)) {
			if (errno == ENOENT)
				continue; /* removed meanwhile */
			err = -errno;
			break;
		}
		v[k].hash = v[i].hash;
		v[k++].tok = t; /* k <= i: compacts in place, still sorted by hash */
	}
	if (k) {
		qsort(v, k, sizeof(*v), cmp_entry_hash);
		moved = 0;
		if (!err)
			err = bg_flow_follow_tokens(s, v, k, &moved);
	}
	*out = v;
	*n = k;
	return err;
}

int bg_token_count(const struct bg_state *s, __u64 now_boot_ns, size_t *live, size_t *expired)
{
	struct bg_token *vals;
	__u64 *keys;
	size_t n, i;
	int err;

	*live = *expired = 0;
	err = bg_map_read_all(s->tokens_fd, sizeof(*keys), sizeof(*vals), (void **)&keys,
			      (void **)&vals, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		if (bg_token_dead(&vals[i], now_boot_ns))
			(*expired)++;
		else
			(*live)++;
	}
	free(keys);
	free(vals);
	return 0;
}

/* ---- Header config ---- */

void bg_tok_cfg_default(struct bg_tok_cfg *c)
{
	char err[128];

	memset(c, 0, sizeof(*c));
	c->flags = BG_TOK_F_HTTP;
	c->http_idle_ns = BG_HTTP_IDLE_DEFAULT_NS;
	c->bind_idle_ns = BG_BIND_IDLE_DEFAULT_NS;
	bg_tok_cfg_set_header(c, BG_HDR_DEFAULT, err, sizeof(err));
	bg_tok_cfg_set_scheme(c, BG_SCHEME_DEFAULT, err, sizeof(err));
}

/* RFC 9110 tchar */
static bool is_tchar(unsigned char c)
{
	return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c);
}

int bg_tok_cfg_set_header(struct bg_tok_cfg *c, const char *name, char *err, size_t errlen)
{
	size_t n = strlen(name), i;

	if (!n || n > BG_HDR_NAME_MAX) {
		snprintf(err, errlen, "header \"%s\": must be 1 to %d characters", name,
			 BG_HDR_NAME_MAX);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (!is_tchar((unsigned char)name[i])) {
			snprintf(
				err, errlen,
				"header \"%s\": character '%c' cannot appear in a header name (letters, digits and !#$%%&'*+-.^_`|~)",
				name, name[i]);
			return -EINVAL;
		}
	}
	memset(c->pattern, 0, sizeof(c->pattern));
	c->pattern[0] = '\n';
	for (i = 0; i < n; i++)
		c->pattern[1 + i] = (char)tolower((unsigned char)name[i]);
	c->pattern[1 + n] = ':';
	c->pat_len = (__u32)n + 2;
	return 0;
}

int bg_tok_cfg_set_scheme(struct bg_tok_cfg *c, const char *scheme, char *err, size_t errlen)
{
	size_t n, i;

	memset(c->scheme, 0, sizeof(c->scheme));
	c->scheme_len = 0;
	if (!scheme || !strcmp(scheme, "none"))
		return 0;
	n = strlen(scheme);
	if (!n || n >= BG_SCHEME_MAX) {
		snprintf(err, errlen, "scheme \"%s\": must be 1 to %d characters (or none)", scheme,
			 BG_SCHEME_MAX - 1);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (!is_tchar((unsigned char)scheme[i])) {
			snprintf(err, errlen,
				 "scheme \"%s\": character '%c' cannot appear in an auth scheme",
				 scheme, scheme[i]);
			return -EINVAL;
		}
		c->scheme[i] = (char)tolower((unsigned char)scheme[i]);
	}
	c->scheme_len = (__u32)n;
	return 0;
}

void bg_tok_cfg_header(const struct bg_tok_cfg *c, char *name, size_t len)
{
	size_t n = c->pat_len >= 2 && c->pat_len <= BG_HDR_PAT_LEN ? c->pat_len - 2 : 0;

	snprintf(name, len, "%.*s", (int)n, c->pattern + 1);
}

void bg_tok_cfg_scheme(const struct bg_tok_cfg *c, char *scheme, size_t len)
{
	size_t n = c->scheme_len < BG_SCHEME_MAX ? c->scheme_len : 0;

	snprintf(scheme, len, "%.*s", (int)n, c->scheme);
}

int bg_id_name_of(const struct bg_state *s, __u32 id, char *name, size_t len)
{
	struct bg_id_name key, next;
	struct bg_id_meta meta;
	void *prev = NULL;

	while (bpf_map_get_next_key(s->names_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(s->names_fd, &key, &meta) && meta.id == id) {
			snprintf(name, len, "%.*s", (int)sizeof(key.name), key.name);
			return 0;
		}
	}
	return -ENOENT;
}
