/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The fixture of the bpf suite (test_prog.c), shared by its test files:
 * fresh pinned state and program per test, frames through
 * BPF_PROG_TEST_RUN, counters as `burstctl stats` reads them.
 */
#ifndef BG_BPFTEST_H
#define BG_BPFTEST_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdint.h>

#include "bg_common.h"
#include "bg_state.h"

struct pkt_spec;

extern char pin_path[128];
extern struct bg_state st;
extern int prog_fd;

int fx_up(void);
void fx_down(void);
#define FX_UP() CU_ASSERT_EQUAL_FATAL(fx_up(), 0)

/* One frame through the program: its XDP verdict. */
int run_frame(int fd, const uint8_t *buf, size_t len);
int run_spec(const struct pkt_spec *s, size_t *len_out);
void run_n(const struct pkt_spec *s, int n, int *pass, int *drop);

__u64 counter(__u32 c);
struct bg_id_stats stats_of(const char *name);
void add_id(const char *name, __u64 pps, __u64 burst, __u64 bits, __u64 bburst, __u32 action);
void add_pfx(const char *cidr, const char *name);

/* test_tokens.c */
void add_token_tests(CU_pSuite s);

/* test_apply.c: a suite of its own, with its own small state */
void add_apply_tests(void);

/* test_crash.c: commands killed at every write, then frames probed */
void add_crash_tests(void);

#endif /* BG_BPFTEST_H */
