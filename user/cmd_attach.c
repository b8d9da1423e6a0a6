// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* burstctl attach, detach, status, setup, teardown */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bg_attach.h"
#include "bg_token.h"
#include "bg_identity.h"
#include "bg_fleet.h"
#include "bg_log.h"
#include "bg_out.h"
#include "bg_prefix.h"
#include "bg_setup.h"
#include "bg_state.h"
#include "bg_units.h"
#include "bg_version.h"
#include "burstctl.h"

static int attach_help(void)
{
	out_help("Usage: burstctl attach DEV [mode auto|native|skb|multi] [priority N]\n"
		 "\n"
		 "Attach the XDP program to DEV, creating the state if needed.\n"
		 "auto (default) uses native XDP where the driver has it and\n"
		 "generic (skb) XDP otherwise, and joins the other programs\n"
		 "when DEV already runs libxdp's dispatcher. multi runs\n"
		 "burstgate beside other XDP programs through libxdp's\n"
		 "dispatcher, at priority N (lower runs first; default %u:\n"
		 "after packet filters, before load balancers); the next\n"
		 "program sees what burstgate passes. On an interface where\n"
		 "burstgate is already attached this loads the program of this\n"
		 "burstctl and swaps it in: buckets and counters are kept.\n",
		 BG_MP_PRIO_DEFAULT);
	return 0;
}

int do_attach(int argc, char **argv)
{
	struct bg_attach_result res;
	enum bg_mode mode = BG_MODE_AUTO;
	const char *dev, *m;
	char msg[256], how[96];
	__u32 prio = 0;
	int err;

	if (argc < 1 || !strcmp(argv[0], "help"))
		return argc < 1 ? usage_error("attach", "missing DEV") : attach_help();
	dev = argv[0];
	argc--;
	argv++;
	while (argc >= 1) {
		if (!strcmp(argv[0], "mode")) {
			m = take_value("attach", &argc, &argv);
			if (!m)
				return -EINVAL;
			if (!strcmp(m, "native"))
				mode = BG_MODE_NATIVE;
			else if (!strcmp(m, "skb"))
				mode = BG_MODE_SKB;
			else if (!strcmp(m, "multi"))
				mode = BG_MODE_MULTI;
			else if (strcmp(m, "auto"))
				return usage_error(
					"attach", "mode \"%s\": use auto, native, skb or multi", m);
		} else if (!strcmp(argv[0], "priority")) {
			m = take_value("attach", &argc, &argv);
			if (!m)
				return -EINVAL;
			if (bg_parse_u32(m, &prio, msg, sizeof(msg)) || prio < 1 || prio > 1000)
				return usage_error("attach",
						   "priority \"%s\": a whole number from 1 to 1000",
						   m);
		} else {
			return usage_error("attach", "unexpected argument \"%s\"", argv[0]);
		}
	}
	if (prio && mode != BG_MODE_MULTI)
		return usage_error("attach", "priority is for mode multi");

	err = bg_attach_prio(opts.pin_path, dev, mode, prio, &res);
	if (err)
		return err;
	if (res.fell_back)
		bg_warn("%s: the driver has no native XDP; attached in generic (skb) mode, which costs more per packet",
			dev);
	if (res.joined)
		bg_warn("%s already runs libxdp's dispatcher: burstgate joined the programs there",
			dev);
	if (res.mode == BG_MODE_MULTI)
		snprintf(how, sizeof(how), "multi mode, libxdp dispatcher in %s mode, priority %u",
			 bg_mode_name(res.xdp_mode), res.prio);
	else
		snprintf(how, sizeof(how), "%s mode", bg_mode_name(res.mode));
	out_begin_object(NULL);
	out_str("interface", NULL, dev);
	out_str("mode", NULL, bg_mode_name(res.mode));
	out_u64("prog_id", NULL, res.prog_id);
	if (res.mode == BG_MODE_MULTI) {
		out_str("xdp_mode", NULL, bg_mode_name(res.xdp_mode));
		out_u64("priority", NULL, res.prio);
	}
	switch (res.how) {
	case BG_ATTACH_UPDATED:
		out_str("result", NULL, "updated");
		out_u64("old_prog_id", NULL, res.old_prog_id);
		out_text(
			"updated burstgate on %s (%s): program %u replaced by %u, buckets and counters kept\n",
			dev, how, res.old_prog_id, res.prog_id);
		break;
	case BG_ATTACH_REPLACED:
		out_str("result", NULL, "replaced");
		out_u64("old_prog_id", NULL, res.old_prog_id);
		out_text(
			"re-attached burstgate on %s in %s (program %u), buckets and counters kept\n",
			dev, how, res.prog_id);
		break;
	default:
		out_str("result", NULL, "attached");
		out_text("attached burstgate to %s in %s (program %u)\n", dev, how, res.prog_id);
	}
	out_end_object();
	return 0;
}

int do_detach(int argc, char **argv)
{
	int err;

	if (argc >= 1 && !strcmp(argv[0], "help")) {
		out_help("Usage: burstctl detach DEV\n\n"
			 "Detach from DEV. The state (limits, buckets, counters)\n"
			 "stays pinned; `burstctl teardown` removes it. Detaching where\n"
			 "burstgate is not attached succeeds and says so (scripts can\n"
			 "detach without asking first); a DEV that does not exist is an\n"
			 "error (exit 2), as it may be a typing mistake.\n");
		return 0;
	}
	if (argc < 1)
		return usage_error("detach", "missing DEV");
	if (argc > 1)
		return usage_error("detach", "unexpected argument \"%s\"", argv[1]);
	err = bg_detach(opts.pin_path, argv[0]);
	if (err && err != -ENOENT)
		return err;
	out_begin_object(NULL);
	out_str("interface", NULL, argv[0]);
	out_str("result", NULL, err ? "not_attached" : "detached");
	if (err)
		out_text(
			"burstgate was not attached to %s: nothing to detach (`burstctl status` lists where it is)\n",
			argv[0]);
	else
		out_text("detached burstgate from %s\n", argv[0]);
	out_end_object();
	return 0;
}

static void print_feature(const char *key, int v)
{
	if (v < 0) {
		out_null(key, NULL);
		out_text(" %s=unknown", key);
		return;
	}
	out_bool(key, NULL, v);
	out_text(" %s=%s", key, v ? "yes" : "NO");
}

static void status_kernel(void)
{
	struct bg_features f;
	struct utsname u;

	uname(&u);
	if (geteuid() != 0) {
		/* Without privileges every probe fails: that says nothing. */
		out_begin_object("kernel");
		out_str("release", "kernel      %s\n", u.release);
		out_null("features", "features    unknown (probing needs root)\n");
		out_end_object();
		return;
	}
	bg_probe_features(&f);
	out_begin_object("kernel");
	out_str("release", "kernel      %s\n", u.release);
	out_text("features   ");
	out_begin_object("features");
	print_feature("xdp", f.prog_xdp);
	print_feature("lpm_trie", f.map_lpm_trie);
	print_feature("percpu_array", f.map_percpu_array);
	print_feature("mmapable_array", f.map_mmapable);
	print_feature("atomics", f.atomics);
	print_feature("ringbuf", f.ringbuf);
	print_feature("bpf_loop", f.helper_loop);
	print_feature("xdp_load_bytes", f.helper_load_bytes);
	print_feature("xdp_link", f.xdp_link);
	print_feature("btf", f.btf_vmlinux);
	print_feature("xdp_native_veth", f.xdp_native_veth);
	out_end_object();
	out_text("\n");
	out_end_object();
	if (bg_features_missing(&f))
		bg_warn("this kernel lacks %s, which burstgate needs (see \"NO\" above; Linux " BG_KERNEL_MIN
			" or later has it all)",
			bg_features_missing(&f));
}

/*
 * The attached program's tag against the one this burstctl carries
 * (build_tag, "" when it could not be loaded): fields prog_tag and
 * this_build, and a line for the text form.
 */
void print_prog_tag(const char *ifname, __u32 prog_id, const char *build_tag, bool *differs)
{
	char tag[BG_TAG_LEN];

	if (!prog_id || bg_prog_tag(prog_id, tag)) {
		out_null("prog_tag", NULL);
		out_null("this_build", NULL);
		return;
	}
	out_str("prog_tag", ", tag %s", tag);
	if (!build_tag[0]) {
		out_null("this_build", NULL);
		return;
	}
	out_bool("this_build", NULL, !strcmp(tag, build_tag));
	if (strcmp(tag, build_tag)) {
		out_text(": NOT this burstctl's program");
		bg_warn("%s runs program %u (tag %s), not the one this burstctl carries (tag %s): `burstctl attach %s` upgrades it in place (buckets and counters kept)",
			ifname, prog_id, tag, build_tag, ifname);
		*differs = true;
	} else {
		out_text(": this build");
	}
}

/* This build's program tag, loaded once; "" when it cannot be (no root, no state). */
const char *build_prog_tag(void)
{
	static char tag[BG_TAG_LEN];
	static bool tried;

	if (!tried && geteuid() == 0 && bg_build_prog_tag(opts.pin_path, tag))
		tag[0] = '\0';
	tried = true;
	return tag;
}

static void status_links(void)
{
	struct bg_link *links = NULL;
	bool differs = false;
	int i, n = 0;

	bg_links_list(opts.pin_path, &links, &n);
	out_text("attached   ");
	if (!n)
		out_text(" nowhere");
	out_begin_array("attached");
	for (i = 0; i < n; i++) {
		const struct bg_link *l = &links[i];

		out_begin_object(NULL);
		if (!l->ifindex) {
			out_null("interface", " (defunct: interface removed)");
		} else if (!l->this_netns) {
			out_null("interface", NULL);
			out_text(" ifindex %u in another netns", l->ifindex);
		} else {
			out_str("interface", " %s", l->ifname);
		}
		out_u64("ifindex", NULL, l->ifindex);
		out_bool("this_netns", NULL, l->this_netns);
		out_str("mode", " (%s", bg_mode_name(l->mode));
		if (l->mode == BG_MODE_MULTI && l->ifindex && l->this_netns) {
			/* libxdp's dispatcher holds it: no link of ours */
			out_str("xdp_mode", ": libxdp dispatcher, %s", bg_mode_name(l->xdp_mode));
			out_u64("priority", ", priority %llu", l->prio);
			out_u64("program_count", ", %llu programs", l->nprogs);
			out_u64("prog_id", ", prog %llu", l->prog_id);
		} else {
			out_u64("prog_id", ", prog %llu", l->prog_id);
			out_u64("link_id", ", link %llu", l->link_id);
		}
		if (l->ifindex && l->this_netns)
			print_prog_tag(l->ifname, l->prog_id, build_prog_tag(), &differs);
		out_text(")");
		out_end_object();
	}
	out_end_array();
	out_text("\n");
	free(links);
}

/* How full a hash map is: "NAME  used of max". */
static void status_fill(const char *key, const char *label, int fd, size_t ksz, size_t vsz,
			const char *note)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	void *keys = NULL, *vals = NULL;
	size_t n = 0;

	if (bg_map_read_all(fd, ksz, vsz, &keys, &vals, &n) ||
	    bpf_obj_get_info_by_fd(fd, &info, &len))
		return;
	free(keys);
	free(vals);
	out_begin_object(key);
	out_u64("used", NULL, n);
	out_u64("max", NULL, info.max_entries);
	out_text("%s %zu of %u%s\n", label, n, info.max_entries, note);
	out_end_object();
}

/* Fleet mode (docs/fleet.md): the engine, the link, the modes of the global identities. */
static void status_fleet(const struct bg_state *s)
{
	char(*names)[BG_NAME_LEN] = NULL;
	struct bg_fleet_rec *recs = NULL;
	__u32 by[BG_FLEET_MODE_MAX] = {};
	struct bg_fleet_host h;
	__u64 now = bg_fleet_now_ms(), oldest = 0;
	size_t n = 0, i;

	if (bg_fleet_read(s, &names, &recs, &n, &h) || !h.cfg.engine[0]) {
		out_null("fleet", "fleet       off (no global identities)\n");
		goto out;
	}
	for (i = 0; i < n; i++) {
		by[recs[i].mode < BG_FLEET_MODE_MAX ? recs[i].mode : 0]++;
		if ((recs[i].mode == BG_FLEET_LEASE || recs[i].mode == BG_FLEET_HELD) &&
		    now - recs[i].lease_ms > oldest)
			oldest = now - recs[i].lease_ms;
	}
	out_begin_object("fleet");
	out_str("host", "fleet       host %s", h.cfg.host);
	out_str("engine", " at %s", h.cfg.engine);
	out_str("link", ": link %s",
		h.link == BG_FLEET_LINK_UP   ? "up" :
		h.link == BG_FLEET_LINK_DOWN ? "down" :
					       "none");
	if (h.link == BG_FLEET_LINK_NONE)
		out_text(" (no controller yet)");
	out_u64("identity_count", ", %llu global", n);
	out_begin_object("modes");
	out_u64("lease", " (%llu lease", by[BG_FLEET_LEASE]);
	out_u64("held", ", %llu held", by[BG_FLEET_HELD]);
	out_u64("safe", ", %llu safe", by[BG_FLEET_SAFE]);
	out_u64("open", ", %llu open)", by[BG_FLEET_OPEN]);
	out_end_object();
	out_double("oldest_lease_age_sec", ", oldest lease %.1fs", (double)oldest / 1000);
	out_u64("sync_error_count", ", %llu sync errors", h.sync_errors_total);
	out_double("sync_duration_sec", NULL, (double)h.sync_us / 1e6);
	out_text(", last sync %.1f ms\n", (double)h.sync_us / 1000);
	out_end_object();
out:
	free(names);
	free(recs);
}

int do_status(int argc, char **argv)
{
	struct bg_prefix_entry *pfx = NULL;
	struct bg_identity *ids = NULL;
	size_t nids = 0, npfx = 0, i, n4 = 0;
	struct bg_global g = {};
	char parent[256];
	struct bg_state s;
	bool have;

	if (argc == 1 && !strcmp(argv[0], "help")) {
		out_help("Usage: burstctl status\n\n"
			 "The state folder and how full each table is, the host-wide\n"
			 "switches, where burstgate is attached, and which kernel\n"
			 "features it needs this kernel has (probing needs root).\n");
		return 0;
	}
	if (argc)
		return usage_error("status", "takes no arguments");

	out_begin_object(NULL);
	out_str("pin_path", "state       %s", opts.pin_path);
	/* Opening quietly: a host with no state yet is not an error here. */
	have = access(opts.pin_path, F_OK) == 0 &&
	       bg_state_open(&s, opts.pin_path, BG_OPEN_READ) == 0;
	out_bool("state", NULL, have);
	if (!have && geteuid() != 0) {
		out_text(" (not readable: run as root)\n");
	} else if (!have && !bg_bpffs_usable(opts.pin_path, parent, sizeof(parent))) {
		out_text(
			" (none, and none can be made here: %s is not on a bpf filesystem; use a folder under /sys/fs/bpf, or mount one: mount -t bpf bpf %s)\n",
			parent, parent);
	} else if (!have) {
		out_text(" (none yet: `burstctl setup` or `burstctl attach DEV` creates it)\n");
	} else {
		out_text("\n");
		bg_identity_list(&s, &ids, &nids);
		bg_prefix_list(&s, &pfx, &npfx);
		bg_global_get(&s, &g);
		for (i = 0; i < npfx; i++)
			n4 += pfx[i].pfx.family == AF_INET;
		out_begin_object("identity_table");
		out_u64("used", "identities  %llu", nids);
		out_u64("max", " of %llu\n", s.max_ids);
		out_end_object();
		out_begin_object("prefix_tables");
		out_u64("ipv4", "prefixes    %llu IPv4", n4);
		out_u64("ipv6", ", %llu IPv6", npfx - n4);
		out_u64("max_per_map",
			" (each map, host and network per family, holds up to %llu)\n", s.max_pfx);
		out_end_object();
		status_fill("token_table", "tokens     ", s.tokens_fd, sizeof(__u64),
			    sizeof(struct bg_token), "");
		status_fill("flow_table", "flows      ", s.flows_fd, sizeof(struct bg_flow_key),
			    sizeof(struct bg_flow),
			    " (when full, the least recently used make room)");
		out_bool("shadow", NULL, g.shadow_all);
		out_text("shadow      %s\n",
			 g.shadow_all ? "on (host-wide dry run: nothing is dropped)" : "off");
		out_str("malformed", "malformed   %s\n",
			g.malformed == BG_MALFORMED_DROP ? "drop" : "pass");
		status_fleet(&s);
		status_links();
		bg_state_close(&s);
	}
	status_kernel();
	out_end_object();
	free(ids);
	free(pfx);
	return 0;
}

int do_setup(int argc, char **argv)
{
	__u32 max_ids = 0, max_pfx = 0;
	char err[256];
	bool created;
	int ret;

	while (argc > 0) {
		const char *kw = argv[0], *v;
		__u32 *dst;

		if (!strcmp(kw, "help")) {
			out_help("Usage: burstctl setup [max-identities N] [max-prefixes N]\n\n"
				 "Create the pinned state (done implicitly by attach and\n"
				 "identity add, with %u identities and %u prefixes per\n"
				 "family). Capacities are fixed at creation.\n",
				 BG_MAX_IDS_DEFAULT, BG_MAX_PFX_DEFAULT);
			return 0;
		}
		if (!strcmp(kw, "max-identities"))
			dst = &max_ids;
		else if (!strcmp(kw, "max-prefixes"))
			dst = &max_pfx;
		else
			return usage_error("setup", "unknown argument \"%s\"", kw);
		v = take_value("setup", &argc, &argv);
		if (!v)
			return -EINVAL;
		if (bg_parse_u32(v, dst, err, sizeof(err)) || *dst < 2) {
			bg_err("setup: %s %s: expected a whole number from 2 to 4294967295", kw, v);
			return -EINVAL;
		}
	}
	ret = bg_state_setup(opts.pin_path, max_ids, max_pfx, &created);
	if (ret)
		return ret;
	out_begin_object(NULL);
	out_str("pin_path", NULL, opts.pin_path);
	out_str("result", NULL, created ? "created" : "kept");
	out_text("%s state at %s\n", created ? "created" : "kept existing", opts.pin_path);
	out_end_object();
	return 0;
}

int do_teardown(int argc, char **argv)
{
	int err;

	if (argc && !strcmp(argv[0], "help")) {
		out_help("Usage: burstctl teardown\n\n"
			 "Detach from every interface and remove all pinned state:\n"
			 "identities, prefixes, buckets and counters are lost.\n"
			 "Refused while `burstctl serve` or `burstctl events` runs on\n"
			 "the same state: stop it first. Without a state it succeeds\n"
			 "and says there was nothing to remove.\n");
		return 0;
	}
	if (argc)
		return usage_error("teardown", "unexpected argument \"%s\"", argv[0]);
	err = bg_state_teardown(opts.pin_path);
	if (err && err != -ENOENT)
		return err;
	out_begin_object(NULL);
	out_str("pin_path", NULL, opts.pin_path);
	out_str("result", NULL, err ? "absent" : "removed");
	if (err)
		out_text("no burstgate state at %s: nothing to remove\n", opts.pin_path);
	else
		out_text("removed burstgate state at %s\n", opts.pin_path);
	out_end_object();
	return 0;
}
