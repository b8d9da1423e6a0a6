// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* burstctl version: this build, the program it carries, the programs attached */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bg_attach.h"
#include "bg_out.h"
#include "bg_version.h"
#include "burstctl.h"

int do_version(int argc, char **argv)
{
	struct bg_link *links = NULL;
	const char *tag;
	bool differs = false;
	int i, n = 0;

	if (wants_help(argc, argv)) {
		out_help("Usage: burstctl version\n\n"
			 "This burstctl's release and git commit, the tag of the XDP\n"
			 "program it carries (loading it needs root and a state), and\n"
			 "the tag of the program attached on each interface, with\n"
			 "whether it is this build's (`bpftool prog` shows the same tags).\n");
		return 0;
	}
	if (argc)
		return usage_error("version", "takes no arguments");
	out_begin_object(NULL);
	out_str("version", "burstctl %s", bg_version);
	out_str("commit", " (commit %s)\n", bg_commit);
	tag = access(opts.pin_path, F_OK) == 0 ? build_prog_tag() : "";
	if (tag[0])
		out_str("prog_tag", "program   tag %s (the XDP program this burstctl carries)\n",
			tag);
	else
		out_null(
			"prog_tag",
			geteuid() ?
				"program   tag unknown (loading it needs root)\n" :
				"program   tag unknown (loading it needs a state: `burstctl setup`)\n");
	bg_links_list(opts.pin_path, &links, &n);
	out_begin_array("attached");
	for (i = 0; i < n; i++) {
		if (!links[i].ifindex || !links[i].this_netns)
			continue;
		out_begin_object(NULL);
		out_str("interface", "attached  %s", links[i].ifname);
		out_str("mode", " (%s", bg_mode_name(links[i].mode));
		out_u64("prog_id", ", program %llu", links[i].prog_id);
		print_prog_tag(links[i].ifname, links[i].prog_id, tag, &differs);
		out_text(")\n");
		out_end_object();
	}
	out_end_array();
	free(links);
	out_end_object();
	return 0;
}
