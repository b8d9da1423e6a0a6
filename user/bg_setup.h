/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Making a whole state: the maps (bg_state.c, the bottom layer) and what
 * the layers above keep in them from the start: the token registry's
 * secret and header settings (bg_token_reg.c), the bits saying which
 * prefix maps hold entries (bg_prefix.c). Removing it detaches too, so
 * bg_state_teardown() is bg_attach.h's.
 */
#ifndef BG_SETUP_H
#define BG_SETUP_H

#include <stdbool.h>
#include <linux/types.h>

#include "bg_state.h"

/*
 * Create the state if absent, with the given capacities (0: default).
 * If it exists with other capacities, -EEXIST. *created tells which.
 */
int bg_state_setup(const char *pin_path, __u32 max_ids, __u32 max_pfx, bool *created);

/* bg_state_open(), the state made first (default sizes) if absent and flags has this */
#define BG_OPEN_CREATE (1 << 1)
int bg_state_open_setup(struct bg_state *s, const char *pin_path, int flags);

#endif /* BG_SETUP_H */
