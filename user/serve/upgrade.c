// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * At start: the XDP program attached where this controller's state is
 * attached may be another build's (burstgate was upgraded, the controller
 * restarted). Swap this build's in, in place, as `burstctl attach` does:
 * buckets and counters are kept. Not with `controller: upgrade_program:
 * false`, and not without a policy (an exporter changes nothing): then it
 * is only said.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_attach.h"
#include "bg_log.h"
#include "bg_version.h"
#include "serve.h"

void upgrade_at_start(struct serve *sv)
{
	char mine[BG_TAG_LEN], tag[BG_TAG_LEN], now[BG_TAG_LEN];
	struct bg_attach_result res;
	struct bg_link *links = NULL;
	int i, n = 0, err;

	bg_links_list(sv->s.pin_path, &links, &n);
	for (i = 0; i < n && !links[i].this_netns; i++)
		;
	if (i == n) /* attached nowhere here: nothing to compare */
		goto out;
	err = bg_build_prog_tag(sv->s.pin_path, mine);
	if (err) {
		slog(sv, LOG_WARNING_,
		     "cannot load this build's program to compare it with the attached ones: %s",
		     strerror(-err));
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct bg_link *l = &links[i];

		if (!l->ifindex || !l->this_netns || bg_prog_tag(l->prog_id, tag) ||
		    !strcmp(tag, mine))
			continue;
		if (sv->exporter || sv->pol.no_upgrade) {
			slog(sv, LOG_WARNING_,
			     "%s runs program %u (tag %s), not this build's (tag %s): not upgraded (%s); `burstctl attach %s` upgrades it in place",
			     l->ifname, l->prog_id, tag, mine,
			     sv->exporter ? "no policy: the exporter changes nothing" :
					    "controller.upgrade_program: false",
			     l->ifname);
			continue;
		}
		err = bg_attach(sv->s.pin_path, l->ifname, BG_MODE_AUTO, &res);
		if (err) {
			slog(sv, LOG_ERR_,
			     "%s runs program %u (tag %s), not this build's (tag %s): the upgrade failed (%s); it keeps enforcing with the old one",
			     l->ifname, l->prog_id, tag, mine, strerror(-err));
			continue;
		}
		if (bg_prog_tag(res.prog_id, now))
			snprintf(now, sizeof(now), "?");
		slog(sv, LOG_NOTICE_,
		     "upgraded the program on %s in place (%s mode): program %u (tag %s) -> %u (tag %s, burstctl %s, commit %s); buckets and counters kept",
		     l->ifname, bg_mode_name(res.mode), l->prog_id, tag, res.prog_id, now,
		     bg_version, bg_commit);
	}
out:
	free(links);
}
