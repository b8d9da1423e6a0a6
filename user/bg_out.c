// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_out.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_log.h"
#include "bg_time.h"

#define OUT_DEPTH_MAX 16

static bool json_mode;
static bool json_pretty;
static json_t *root;
static json_t *stack[OUT_DEPTH_MAX];
static int depth; /* number of open containers */
static char *help_text; /* out_help() under -j */

void out_init(bool json, bool pretty)
{
	json_mode = json;
	json_pretty = pretty;
}

bool out_is_json(void)
{
	return json_mode;
}

/* Attach v to the innermost open container (or make it the root). */
static void attach(const char *key, json_t *v)
{
	json_t *parent = depth ? stack[depth - 1] : NULL;

	if (!parent) {
		if (root) /* a second top-level value: keep the first */
			json_decref(v);
		else
			root = v;
		return;
	}
	if (json_is_array(parent))
		json_array_append_new(parent, v);
	else
		json_object_set_new(parent, key ? key : "", v);
}

static void push(const char *key, json_t *c)
{
	if (depth >= OUT_DEPTH_MAX) {
		json_decref(c);
		return;
	}
	json_incref(c); /* one reference for the parent, one for the stack */
	attach(key, c);
	stack[depth++] = c;
}

static void pop(void)
{
	if (depth > 0)
		json_decref(stack[--depth]);
}

void out_begin_object(const char *key)
{
	if (json_mode)
		push(key, json_object());
}

void out_end_object(void)
{
	if (json_mode)
		pop();
}

void out_begin_array(const char *key)
{
	if (json_mode)
		push(key, json_array());
}

void out_end_array(void)
{
	if (json_mode)
		pop();
}

/* The text forms: a format that takes exactly the value's type. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

void out_str(const char *key, const char *text, const char *val)
{
	if (json_mode)
		attach(key, val ? json_string(val) : json_null());
	else if (text)
		printf(text, val ? val : "-");
}

void out_u64(const char *key, const char *text, uint64_t val)
{
	if (json_mode)
		attach(key, json_integer((json_int_t)val));
	else if (text)
		printf(text, (unsigned long long)val);
}

void out_i64(const char *key, const char *text, int64_t val)
{
	if (json_mode)
		attach(key, json_integer(val));
	else if (text)
		printf(text, (long long)val);
}

void out_double(const char *key, const char *text, double val)
{
	if (json_mode)
		attach(key, json_real(val));
	else if (text)
		printf(text, val);
}

void out_bool(const char *key, const char *text, bool val)
{
	if (json_mode)
		attach(key, json_boolean(val));
	else if (text)
		printf(text, val ? "yes" : "no");
}

void out_null(const char *key, const char *text)
{
	if (json_mode)
		attach(key, json_null());
	else if (text)
		printf("%s", text);
}

void out_time(const char *key, const char *text, int64_t unix_s)
{
	char buf[40];

	out_str(key, text, bg_fmt_rfc3339(unix_s, buf, sizeof(buf)));
}

void out_json(const char *key, json_t *v)
{
	if (json_mode)
		attach(key, v);
	else
		json_decref(v);
}

void out_text(const char *fmt, ...)
{
	va_list ap;

	if (json_mode)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

void out_help(const char *fmt, ...)
{
	char *more = NULL, *all;
	size_t old = help_text ? strlen(help_text) : 0;
	va_list ap;

	va_start(ap, fmt);
	if (!json_mode) {
		vprintf(fmt, ap);
		va_end(ap);
		return;
	}
	if (vasprintf(&more, fmt, ap) < 0)
		more = NULL;
	va_end(ap);
	if (!more)
		return;
	all = realloc(help_text, old + strlen(more) + 1);
	if (all) {
		memcpy(all + old, more, strlen(more) + 1);
		help_text = all;
	}
	free(more);
}

#pragma GCC diagnostic pop

int out_finish(void)
{
	int err = 0;

	while (depth)
		pop();
	if (json_mode && help_text && !root) {
		root = json_object();
		json_object_set_new(root, "help", json_string(help_text));
	}
	free(help_text);
	help_text = NULL;
	if (json_mode && root) {
		size_t flags = JSON_PRESERVE_ORDER | (json_pretty ? JSON_INDENT(2) : JSON_COMPACT);

		if (json_dumpf(root, stdout, flags) < 0)
			err = -EIO;
		putchar('\n');
	}
	json_decref(root);
	root = NULL;
	if (fflush(stdout) != 0)
		err = -EIO;
	return err;
}

int out_finish_status(int err)
{
	const char *msg = bg_log_captured();

	if (!err || !json_mode) {
		bg_log_flush_captured(1); /* a success after all: say them */
		return out_finish();
	}
	while (depth)
		pop();
	json_decref(root);
	root = json_object();
	json_object_set_new(root, "error", json_string(msg ? msg : strerror(err < 0 ? -err : err)));
	bg_log_flush_captured(0); /* said on stdout */
	return out_finish();
}
