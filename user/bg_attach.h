/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Attaching the XDP program to interfaces, through bpf_links pinned under
 * <pin path>/links/, so the attachment outlives burstctl, cannot be
 * replaced by accident by another tool, and can be upgraded in place.
 *
 * Or, in multi-program mode, through libxdp's dispatcher beside other XDP
 * programs: the dispatcher and its links are libxdp's (pinned under
 * /sys/fs/bpf/xdp), and <pin path>/links/ holds a pin of the program
 * libxdp runs for burstgate on each interface, "ns<N>-if<I>-multi".
 */
#ifndef BG_ATTACH_H
#define BG_ATTACH_H

#include <net/if.h>
#include <stdbool.h>
#include <linux/types.h>

enum bg_mode {
	BG_MODE_AUTO = 0, /* native if the driver has it, else generic */
	BG_MODE_NATIVE,
	BG_MODE_SKB,
	BG_MODE_MULTI, /* through libxdp's dispatcher, beside other programs */
	BG_MODE_UNKNOWN,
};

const char *bg_mode_name(enum bg_mode m);

struct bg_link {
	char ifname[IF_NAMESIZE]; /* "" if not in this network namespace */
	__u32 ifindex; /* 0: the interface is gone (defunct link) */
	__u32 link_id;
	__u32 prog_id;
	enum bg_mode mode;
	bool this_netns;
	char pin[256];
	/* multi mode: the dispatcher's own mode (native or skb), burstgate's priority */
	enum bg_mode xdp_mode;
	__u32 prio;
	__u32 nprogs; /* programs in the dispatcher, burstgate's included */
};

enum bg_attach_how {
	BG_ATTACH_NEW, /* was not attached */
	BG_ATTACH_UPDATED, /* program swapped atomically, no gap */
	BG_ATTACH_REPLACED, /* mode changed: detached and attached again */
};

struct bg_attach_result {
	enum bg_attach_how how;
	enum bg_mode mode;
	__u32 prog_id;
	__u32 old_prog_id;
	bool fell_back; /* asked auto, driver had no native XDP */
	/* multi mode */
	enum bg_mode xdp_mode; /* the dispatcher's mode */
	__u32 prio;
	bool joined; /* asked auto: the NIC already had a libxdp dispatcher */
};

/*
 * Where burstgate runs in a libxdp dispatcher by default (lower runs
 * first): after packet filters (xdp-filter runs at 10), before load
 * balancers and everything else that keeps libxdp's default of 50.
 */
#define BG_MP_PRIO_DEFAULT 20U

/* Attach (or upgrade) on ifname; prio: multi mode only, 0 = BG_MP_PRIO_DEFAULT. */
int bg_attach_prio(const char *pin_path, const char *ifname, enum bg_mode mode, __u32 prio,
		   struct bg_attach_result *res);
int bg_attach(const char *pin_path, const char *ifname, enum bg_mode mode,
	      struct bg_attach_result *res);
/*
 * Detach from ifname: 0, or -ENOENT without a message when burstgate is not
 * attached there (or there is no state): the caller says what that means.
 */
int bg_detach(const char *pin_path, const char *ifname);
int bg_links_list(const char *pin_path, struct bg_link **links, int *n);
int bg_links_detach_all(const char *pin_path);
/*
 * Detach every interface attached through this state and unpin it all.
 * -ENOENT, without a message, when there is no state.
 */
int bg_state_teardown(const char *pin_path);
/* Is ifname, in this network namespace, among links[0..n) with a live link? */
bool bg_link_live(const struct bg_link *links, int n, const char *ifname);

#endif /* BG_ATTACH_H */
