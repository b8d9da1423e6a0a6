// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Following interfaces: attach where the policy says, also to an
 * interface that appears after the policy was applied (a NIC whose driver
 * loads late, a VLAN or bond made after boot) or that is deleted and made
 * again, from rtnetlink's link notifications. An interface that fails as
 * it is (another XDP program on it, a mode its driver refuses) is
 * remembered and tried again only once it changes, so that its failure is
 * not logged at every link event.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bg_apply.h"
#include "bg_attach.h"
#include "serve.h"

#define ATTACH_FAILS_MAX 16 /* policy interfaces remembered as failing to attach */

struct serve_links {
	struct serve *sv;
	int link_fd; /* rtnetlink link notifications; -1: not followed */
	struct loop_src link_src;
	bool link_pending; /* a link event still to act on: the state was locked */
	/* interfaces that failed to attach, as they were: retried once they change */
	struct {
		char name[IF_NAMESIZE];
		unsigned int ifindex;
	} attach_fails[ATTACH_FAILS_MAX];
	size_t nattach_fails;
};

/* Did name fail to attach as it is now (same ifindex)? arg: the controller */
static bool attach_failed_as_is(void *arg, const char *name)
{
	const struct serve_links *l = ((const struct serve *)arg)->links;
	unsigned int idx = if_nametoindex(name);
	size_t j;

	for (j = 0; idx && j < l->nattach_fails; j++)
		if (l->attach_fails[j].ifindex == idx && !strcmp(l->attach_fails[j].name, name))
			return true;
	return false;
}

/*
 * Attach where the policy says. An interface it names that is absent now
 * or fails is retried when the kernel announces a link change (on_link),
 * not only at the next reload. retry: after a link event, leave out the
 * interfaces that failed as they are (else every event would log the same
 * failure again); a reload tries them all.
 */
static void attach_policy(struct serve_links *l, const struct bg_policy *p, bool retry)
{
	struct serve *sv = l->sv;
	struct bg_link *links = NULL;
	int nlinks = 0, ret;
	size_t i, j;

	if (!retry)
		l->nattach_fails = 0;
	ret = bg_policy_attach(sv->s.pin_path, p, slog_line, retry ? attach_failed_as_is : NULL,
			       sv);
	if (!ret) {
		l->nattach_fails = 0;
		return;
	}
	if (ret == -EWOULDBLOCK) {
		/* a burstctl command holds the writer lock: the next tick tries again */
		l->link_pending = true;
		return;
	}
	if (!retry)
		slog(sv, LOG_WARNING_,
		     "not attached everywhere the policy says (see the messages above); %s",
		     l->link_fd >= 0 ?
			     "will retry when an interface appears or is made again, and at every reload" :
			     "will retry at the next reload");
	/*
	 * Those that exist but failed are not retried at every link event,
	 * which would log the same failure over and over: only once made again.
	 */
	bg_links_list(sv->s.pin_path, &links, &nlinks);
	/* one entry per name, as the interface is now; gone ones forgotten */
	for (j = 0; j < l->nattach_fails;) {
		if (if_nametoindex(l->attach_fails[j].name) != l->attach_fails[j].ifindex)
			l->attach_fails[j] = l->attach_fails[--l->nattach_fails];
		else
			j++;
	}
	for (i = 0; i < p->nifaces && l->nattach_fails < ATTACH_FAILS_MAX; i++) {
		unsigned int idx = if_nametoindex(p->ifaces[i].name);

		if (!idx || bg_link_live(links, nlinks, p->ifaces[i].name) ||
		    attach_failed_as_is(sv, p->ifaces[i].name))
			continue;
		snprintf(l->attach_fails[l->nattach_fails].name, IF_NAMESIZE, "%s",
			 p->ifaces[i].name);
		l->attach_fails[l->nattach_fails++].ifindex = idx;
	}
	free(links);
}

void links_attach(struct serve *sv, const struct bg_policy *p)
{
	attach_policy(sv->links, p, false);
}

/* A policy interface that exists here, has no live link, and did not just fail as it is. */
static bool attach_wanted(const struct serve_links *l)
{
	const struct serve *sv = l->sv;
	struct bg_link *links = NULL;
	bool want = false;
	int nlinks = 0;
	size_t i;

	if (!sv->pol.has_ifaces)
		return false;
	bg_links_list(sv->s.pin_path, &links, &nlinks);
	for (i = 0; i < sv->pol.nifaces && !want; i++) {
		const char *name = sv->pol.ifaces[i].name;

		if (!if_nametoindex(name) || bg_link_live(links, nlinks, name))
			continue; /* absent (nothing to try, nothing to log), or done */
		want = !attach_failed_as_is((void *)sv, name);
	}
	free(links);
	return want;
}

static bool policy_iface(const struct serve *sv, const char *name)
{
	size_t i;

	for (i = 0; sv->have_pol && i < sv->pol.nifaces; i++)
		if (!strcmp(sv->pol.ifaces[i].name, name))
			return true;
	return false;
}

/*
 * Attach where a link event says it may now work. Never waits for the
 * state's writer lock (bg_lock_nowait: a long `burstctl batch` may hold
 * it): if it is taken, the next tick tries again.
 */
static void check_links(struct serve_links *l)
{
	/* pending after a taken lock: maybe a detach too, which attach_wanted() does not see */
	bool forced = l->link_pending;

	l->link_pending = false;
	if (!l->sv->have_pol || (!forced && !attach_wanted(l)))
		return;
	attach_policy(l, &l->sv->pol, true); /* lock taken: link_pending again */
}

static void on_tick(void *arg)
{
	struct serve_links *l = arg;

	if (l->link_pending)
		check_links(l);
}

/*
 * Links added, changed or removed. Only those of the policy's interfaces
 * matter (a host with containers sees many others); an overflow (ENOBUFS)
 * means some were lost: look at all. This also re-attaches to an
 * interface deleted and made again (its old link died with it).
 */
static void on_link(void *arg, __u32 events)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct nlmsghdr))));
	struct serve_links *l = arg;
	bool relevant = l->link_pending;
	ssize_t n;

	(void)events;
	for (;;) {
		struct sockaddr_nl from;
		socklen_t flen = sizeof(from);
		const struct nlmsghdr *nh;
		int len;

		n = recvfrom(l->link_fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC,
			     (struct sockaddr *)&from, &flen);
		if (n < 0 && errno == ENOBUFS) {
			relevant = true;
			continue;
		}
		if (n <= 0)
			break;
		if (from.nl_pid != 0)
			continue; /* not from the kernel */
		if ((size_t)n > sizeof(buf)) {
			relevant = true; /* cut short: look at all */
			continue;
		}
		len = (int)n;
		for (nh = (const struct nlmsghdr *)buf; NLMSG_OK(nh, len);
		     nh = NLMSG_NEXT(nh, len)) {
			const struct ifinfomsg *ifi = NLMSG_DATA(nh);
			const struct rtattr *a = IFLA_RTA(ifi);
			int alen = (int)IFLA_PAYLOAD(nh);

			if (nh->nlmsg_type != RTM_NEWLINK)
				continue;
			for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen))
				if (a->rta_type == IFLA_IFNAME &&
				    memchr(RTA_DATA(a), '\0', RTA_PAYLOAD(a)) &&
				    policy_iface(l->sv, RTA_DATA(a)))
					relevant = true;
		}
	}
	if (relevant)
		check_links(l);
}

static int link_watch_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int links_start(struct serve *sv)
{
	struct serve_links *l = calloc(1, sizeof(*l));
	int err;

	if (!l)
		return -ENOMEM;
	sv->links = l;
	l->sv = sv;
	l->link_fd = link_watch_open();
	l->link_src = (struct loop_src){ l->link_fd, on_link, l };
	err = l->link_fd < 0 ? l->link_fd : loop_add(&sv->loop, &l->link_src);
	if (err) {
		slog(sv, LOG_WARNING_,
		     "interfaces: cannot follow link changes (rtnetlink: %s): an interface that appears later is attached at the next reload",
		     strerror(-err));
		if (l->link_fd >= 0)
			close(l->link_fd);
		l->link_fd = -1;
	}
	/* a retry after a taken writer lock needs no link watch */
	return loop_on_tick(&sv->loop, on_tick, l);
}

void links_stop(struct serve *sv)
{
	struct serve_links *l = sv->links;

	if (!l)
		return;
	if (l->link_fd >= 0)
		close(l->link_fd);
	free(l);
	sv->links = NULL;
}
