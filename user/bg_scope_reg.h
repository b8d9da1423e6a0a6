/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Token scopes on the burstctl side: parsing and printing the rules and
 * port ranges of include/bg_scope.h ("GET,POST /v1/search", "8000-8099").
 */
#ifndef BG_SCOPE_REG_H
#define BG_SCOPE_REG_H

#include <stdbool.h>
#include <stddef.h>

#include "bg_scope.h"

/*
 * A rule: "[METHODS ]PREFIX": METHODS is "*" or a comma-separated list of
 * GET HEAD POST PUT DELETE CONNECT OPTIONS TRACE PATCH (upper case, as on
 * the wire); none means any. PREFIX starts with '/', has at most
 * BG_SCOPE_PREFIX_MAX visible ASCII bytes, and nothing a request could
 * not match (whitespace, '?', '#', a dot segment, '%2e' ...).
 */
int bg_scope_rule_parse(const char *text, struct bg_scope_rule *r, char *err, size_t errlen);
/* "GET,POST /v1/search", or "/v1/search" for any method. */
const char *bg_scope_rule_fmt(const struct bg_scope_rule *r, char *buf, size_t len);
/* The prefix alone, NUL-terminated. */
const char *bg_scope_prefix(const struct bg_scope_rule *r, char *buf, size_t len);
/* "GET,POST" or "*" */
const char *bg_scope_methods_fmt(__u32 methods, char *buf, size_t len);

/* A port range: "443" or "8000-8099" (1-65535). */
int bg_scope_ports_parse(const char *text, __u16 *lo, __u16 *hi, char *err, size_t errlen);
/* "80, 8000-8099", or "any" with none. */
const char *bg_scope_ports_fmt(const struct bg_scope *sc, char *buf, size_t len);

/* A scope name: like an identity name (letters, digits, - _ .), 1..31 bytes. */
int bg_scope_name_check(const char *name, char *err, size_t errlen);

/* Why a request was out of scope, in a word ("port", "method", ...). */
const char *bg_scope_verdict_name(enum bg_scope_verdict v);

#endif /* BG_SCOPE_REG_H */
