// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Unit tests: no privileges, pure logic from the shared headers and lib. */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

int unit_add_suite(const char *name, const struct unit_test *tests)
{
	CU_pSuite s = CU_add_suite(name, NULL, NULL);

	if (!s)
		return -1;
	for (; tests->name; tests++)
		if (!CU_add_test(s, tests->name, tests->fn))
			return -1;
	return 0;
}

static char tmpdir[64];

int unit_file(const char *name, const char *text, size_t len, char *path, size_t pathlen)
{
	int fd;

	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/bg_unit_XXXXXX");
		if (!mkdtemp(tmpdir)) {
			tmpdir[0] = '\0';
			return -errno;
		}
	}
	snprintf(path, pathlen, "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

static void remove_tmpdir(void)
{
	char path[512];
	struct dirent *e;
	DIR *d;

	if (!tmpdir[0] || !(d = opendir(tmpdir)))
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(tmpdir);
}

int main(void)
{
	unsigned int failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	if (add_gcra_suite() || add_units_suite() || add_parse_suite() || add_limits_suite() ||
	    add_policy_suite() || add_apply_suite() || add_tuner_suite() || add_metrics_suite() ||
	    add_siphash_suite() || add_tokens_suite() || add_fleet_suite() || add_scope_suite()) {
		fprintf(stderr, "unit: registering tests failed\n");
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	/* a suite whose setup failed (a missing redis-server) fails the run */
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
		 CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	remove_tmpdir();
	return failed ? 1 : 0;
}
