// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Unit tests: no privileges, pure logic from the shared headers and lib. */
#include <CUnit/Basic.h>
#include <stdio.h>

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

int main(void)
{
	unsigned int failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	if (add_gcra_suite() || add_units_suite() || add_parse_suite() || add_limits_suite() ||
	    add_policy_suite() || add_apply_suite() || add_tuner_suite() || add_metrics_suite() ||
	    add_siphash_suite() || add_tokens_suite()) {
		fprintf(stderr, "unit: registering tests failed\n");
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
