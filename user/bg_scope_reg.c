// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_scope_reg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In bit order of enum bg_method. */
static const char *const method_names[BG_M_COUNT] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
};

static int method_bit(const char *s, size_t n)
{
	int i;

	for (i = 0; i < BG_M_COUNT; i++)
		if (strlen(method_names[i]) == n && !strncmp(s, method_names[i], n))
			return 1 << i;
	return 0;
}

static int parse_methods(const char *s, size_t n, __u16 *out, char *err, size_t errlen)
{
	size_t i = 0;

	*out = 0;
	if (n == 1 && s[0] == '*') {
		*out = BG_M_ALL;
		return 0;
	}
	while (i < n) {
		size_t j = i;
		int bit;

		while (j < n && s[j] != ',')
			j++;
		bit = method_bit(s + i, j - i);
		if (!bit) {
			snprintf(
				err, errlen,
				"method \"%.*s\": unknown (use GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT, TRACE, comma-separated, or *)",
				(int)(j - i), s + i);
			return -EINVAL;
		}
		*out |= (__u16)bit;
		i = j + 1;
		if (j + 1 == n) {
			snprintf(err, errlen, "methods \"%.*s\": ends with a comma", (int)n, s);
			return -EINVAL;
		}
	}
	return 0;
}

/* Would a request whose path starts with this prefix ever be in scope? */
static int check_prefix(const char *p, size_t n, char *err, size_t errlen)
{
	__u8 buf[BG_SCOPE_PREFIX_MAX + 8] = {};
	size_t i;

	if (!n || p[0] != '/') {
		snprintf(err, errlen, "path prefix \"%.*s\": must start with /", (int)n, p);
		return -EINVAL;
	}
	if (n > BG_SCOPE_PREFIX_MAX) {
		snprintf(err, errlen, "path prefix \"%.*s\": longer than %d bytes", (int)n, p,
			 BG_SCOPE_PREFIX_MAX);
		return -EINVAL;
	}
	memcpy(buf + 1, p, n);
	buf[0] = ' ';
	buf[n + 1] = ' ';
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c <= 0x20 || c >= 0x7f || bg_path_end(c)) {
			snprintf(
				err, errlen,
				"path prefix \"%.*s\": byte %zu cannot be in a path (no whitespace, ?, # or non-ASCII; a scope matches paths, not queries)",
				(int)n, p, i + 1);
			return -EINVAL;
		}
		if ((c == '.' || c == '%' || c == '\\') && bg_path_unsafe_at(buf + 1 + i)) {
			snprintf(
				err, errlen,
				"path prefix \"%.*s\": a dot segment, backslash or encoded . / \\ at byte %zu: requests with these are always out of scope",
				(int)n, p, i + 1);
			return -EINVAL;
		}
	}
	return 0;
}

int bg_scope_rule_parse(const char *text, struct bg_scope_rule *r, char *err, size_t errlen)
{
	const char *sp = strchr(text, ' '), *prefix = text;
	size_t n, i;
	int ret;

	memset(r, 0, sizeof(*r));
	r->methods = BG_M_ALL;
	if (sp) {
		ret = parse_methods(text, (size_t)(sp - text), &r->methods, err, errlen);
		if (ret)
			return ret;
		prefix = sp;
		while (*prefix == ' ')
			prefix++;
	}
	n = strlen(prefix);
	ret = check_prefix(prefix, n, err, errlen);
	if (ret)
		return ret;
	r->prefix_len = (__u16)n;
	for (i = 0; i < n; i++)
		r->prefix[i / 8] |= (__u64)(__u8)prefix[i] << (8 * (i % 8));
	return 0;
}

const char *bg_scope_prefix(const struct bg_scope_rule *r, char *buf, size_t len)
{
	size_t i, n = r->prefix_len < BG_SCOPE_PREFIX_MAX ? r->prefix_len : BG_SCOPE_PREFIX_MAX;

	if (!len)
		return buf;
	for (i = 0; i < n && i + 1 < len; i++)
		buf[i] = (char)(r->prefix[i / 8] >> (8 * (i % 8)));
	buf[i] = '\0';
	return buf;
}

const char *bg_scope_methods_fmt(__u32 methods, char *buf, size_t len)
{
	size_t off = 0;
	int i;

	if ((methods & BG_M_ALL) == BG_M_ALL) {
		snprintf(buf, len, "*");
		return buf;
	}
	buf[0] = '\0';
	for (i = 0; i < BG_M_COUNT && off < len; i++)
		if (methods & (1U << i))
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "",
						method_names[i]);
	return buf;
}

const char *bg_scope_rule_fmt(const struct bg_scope_rule *r, char *buf, size_t len)
{
	char m[80], p[BG_SCOPE_PREFIX_MAX + 1];

	bg_scope_prefix(r, p, sizeof(p));
	if ((r->methods & BG_M_ALL) == BG_M_ALL)
		snprintf(buf, len, "%s", p);
	else
		snprintf(buf, len, "%s %s", bg_scope_methods_fmt(r->methods, m, sizeof(m)), p);
	return buf;
}

static int parse_port(const char *s, char **end, __u16 *out)
{
	unsigned long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, end, 10);
	if (errno || v < 1 || v > 65535)
		return -EINVAL;
	*out = (__u16)v;
	return 0;
}

int bg_scope_ports_parse(const char *text, __u16 *lo, __u16 *hi, char *err, size_t errlen)
{
	char *end;

	if (parse_port(text, &end, lo))
		goto bad;
	*hi = *lo;
	if (*end == '-' && parse_port(end + 1, &end, hi))
		goto bad;
	if (*end)
		goto bad;
	if (*hi < *lo) {
		snprintf(err, errlen, "port range \"%s\": the first port is above the last", text);
		return -EINVAL;
	}
	return 0;
bad:
	snprintf(err, errlen, "port \"%s\": use a port (1-65535) or a range such as 8000-8099",
		 text);
	return -EINVAL;
}

const char *bg_scope_ports_fmt(const struct bg_scope *sc, char *buf, size_t len)
{
	size_t off = 0;
	__u32 i;

	if (!sc->nports) {
		snprintf(buf, len, "any");
		return buf;
	}
	buf[0] = '\0';
	for (i = 0; i < sc->nports && i < BG_SCOPE_PORTS && off < len; i++) {
		if (sc->port_lo[i] == sc->port_hi[i])
			off += (size_t)snprintf(buf + off, len - off, "%s%u", i ? ", " : "",
						sc->port_lo[i]);
		else
			off += (size_t)snprintf(buf + off, len - off, "%s%u-%u", i ? ", " : "",
						sc->port_lo[i], sc->port_hi[i]);
	}
	return buf;
}

int bg_scope_name_check(const char *name, char *err, size_t errlen)
{
	size_t i, n = strlen(name);

	if (!n || n >= BG_SCOPE_NAME_LEN) {
		snprintf(err, errlen, "scope name \"%s\": must be 1 to %d characters", name,
			 BG_SCOPE_NAME_LEN - 1);
		return -EINVAL;
	}
	if (name[0] == '-' || name[0] == '_') {
		snprintf(err, errlen, "scope name \"%s\": must not start with '%c'", name, name[0]);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!isalnum(c) && !strchr("_.:@-", c)) {
			snprintf(
				err, errlen,
				"scope name \"%s\": character '%c' not allowed (use letters, digits and _ . : @ -)",
				name, c);
			return -EINVAL;
		}
	}
	if (!strcmp(name, "none")) {
		snprintf(err, errlen, "scope name \"none\": reserved (it means no scope)");
		return -EINVAL;
	}
	return 0;
}

const char *bg_scope_verdict_name(enum bg_scope_verdict v)
{
	switch (v) {
	case BG_SCOPE_IN:
		return "in_scope";
	case BG_SCOPE_OUT_PORT:
		return "port";
	case BG_SCOPE_OUT_METHOD:
		return "method";
	case BG_SCOPE_OUT_PATH:
		return "path";
	case BG_SCOPE_OUT_UNSAFE:
		return "unsafe_path";
	case BG_SCOPE_OUT_LONG:
		return "long_path";
	}
	return "unknown";
}
