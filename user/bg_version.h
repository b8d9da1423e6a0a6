/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Which build this burstctl is, and which XDP program it carries. The
 * program is named by its tag: the hash the kernel computes over the
 * program's instructions at load (map references left out), the same for
 * every load of one build on one kernel, and shown by `bpftool prog`.
 */
#ifndef BG_VERSION_H
#define BG_VERSION_H

#include <stddef.h>
#include <linux/types.h>

#define BG_TAG_LEN 17 /* 16 hex digits and the NUL */

extern const char bg_version[]; /* the release, "0.1.0" */
extern const char bg_commit[]; /* the git commit, "-dirty" with local changes, or "unknown" */

/* The tag of program prog_id as 16 hex digits; -errno if it cannot be read. */
int bg_prog_tag(__u32 prog_id, char tag[BG_TAG_LEN]);

/*
 * The tag of the program this burstctl carries: loads it against the
 * state at pin_path (which must exist) without attaching it. About 0.1 s.
 */
int bg_build_prog_tag(const char *pin_path, char tag[BG_TAG_LEN]);

#endif /* BG_VERSION_H */
