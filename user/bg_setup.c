// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_setup.h"

#include "bg_prefix.h"
#include "bg_token_reg.h"

/* Under the state's writer lock (bg_state_create). */
static int init_contents(const struct bg_state *s, bool fresh)
{
	int err = bg_token_state_init(s); /* the secret, the header config */

	/* adopted: re-derive which prefix maps hold entries (a fresh state has none) */
	if (!err && !fresh)
		err = bg_prefix_flags_sync(s);
	return err;
}

int bg_state_setup(const char *pin_path, __u32 max_ids, __u32 max_pfx, bool *created)
{
	return bg_state_create(pin_path, max_ids, max_pfx, init_contents, created);
}

int bg_state_open_setup(struct bg_state *s, const char *pin_path, int flags)
{
	if (flags & BG_OPEN_CREATE) {
		int err = bg_state_setup(pin_path, 0, 0, NULL);

		if (err)
			return err;
	}
	return bg_state_open(s, pin_path, flags & ~BG_OPEN_CREATE);
}
