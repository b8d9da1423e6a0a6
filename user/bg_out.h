/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Output: every field is printed by one call that serves text and JSON
 * alike (as iproute2's print_uint(PRINT_ANY, ...)), so the two cannot drift.
 * In JSON mode the calls build a jansson tree, dumped by out_finish().
 */
#ifndef BG_OUT_H
#define BG_OUT_H

#include <stdbool.h>
#include <stdint.h>

void out_init(bool json, bool pretty);
bool out_is_json(void);

/* Containers: key is the member name inside an object, NULL in an array. */
void out_begin_object(const char *key);
void out_end_object(void);
void out_begin_array(const char *key);
void out_end_array(void);

/* A field: text is a printf format for the text form, or NULL for none. */
void out_str(const char *key, const char *text, const char *val);
void out_u64(const char *key, const char *text, uint64_t val);
void out_i64(const char *key, const char *text, int64_t val);
void out_double(const char *key, const char *text, double val);
void out_bool(const char *key, const char *text, bool val);
void out_null(const char *key, const char *text);
/*
 * A point in time (seconds since the epoch): RFC 3339 in UTC in both forms
 * ("2026-11-27T04:57:55Z"), the one time format of burstctl's JSON.
 */
void out_time(const char *key, const char *text, int64_t unix_s);

/* A ready JSON value (reference taken); nothing in text mode. */
struct json_t;
void out_json(const char *key, struct json_t *v);

/* Text-only decoration (headers, newlines); ignored in JSON mode. */
void out_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Help text: printed as is, or under -j the document {"help": "TEXT"}, so
 * that stdout under -j is always JSON.
 */
void out_help(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print the JSON document, if any; returns 0 or -EIO. */
int out_finish(void);

/*
 * End a command that returned err (0 or -errno). Under -j a failure prints
 * {"error": "MESSAGE"} instead of whatever the command had built (the
 * errors bg_err() kept, or strerror when there were none). Returns 0 or -EIO.
 */
int out_finish_status(int err);

#endif /* BG_OUT_H */
