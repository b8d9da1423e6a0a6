/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef BG_UNIT_H
#define BG_UNIT_H

#include <CUnit/CUnit.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

/* Register a suite of NULL-terminated tests. */
int unit_add_suite(const char *name, const struct unit_test *tests);

/*
 * Write text to a file NAME (mode 0600) in this run's own temporary
 * folder, removed when the tests end; its path in path. 0 or -errno.
 */
int unit_file(const char *name, const char *text, size_t len, char *path, size_t pathlen);

int add_gcra_suite(void);
int add_units_suite(void);
int add_parse_suite(void);
int add_limits_suite(void);
int add_policy_suite(void);
int add_apply_suite(void);
int add_tuner_suite(void);
int add_metrics_suite(void);
int add_siphash_suite(void);
int add_tokens_suite(void);
int add_fleet_suite(void);
int add_scope_suite(void);

#endif
