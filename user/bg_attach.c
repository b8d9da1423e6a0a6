// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bg_attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bg_log.h"
#include "bg_setup.h"

#define LINKS_DIR "links"

const char *bg_mode_name(enum bg_mode m)
{
	switch (m) {
	case BG_MODE_AUTO:
		return "auto";
	case BG_MODE_NATIVE:
		return "native";
	case BG_MODE_SKB:
		return "skb";
	default:
		return "unknown";
	}
}

/*
 * ifindexes are per network namespace but bpffs is not: the pin name
 * carries the namespace's inode number as well.
 */
static unsigned long netns_ino(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : (unsigned long)st.st_ino;
}

static void link_pin(char *buf, size_t len, const char *pin_path, unsigned long ns, __u32 ifindex)
{
	snprintf(buf, len, "%s/" LINKS_DIR "/ns%lu-if%u", pin_path, ns, ifindex);
}

static enum bg_mode query_mode(__u32 ifindex, __u32 prog_id)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query((int)ifindex, 0, &q))
		return BG_MODE_UNKNOWN;
	if (q.drv_prog_id == prog_id)
		return BG_MODE_NATIVE;
	if (q.skb_prog_id == prog_id)
		return BG_MODE_SKB;
	return BG_MODE_UNKNOWN;
}

static int link_info(int fd, struct bpf_link_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

static int resolve_ifindex(const char *ifname, __u32 *ifindex)
{
	*ifindex = if_nametoindex(ifname);
	if (!*ifindex) {
		bg_err("interface \"%s\" not found in this network namespace (see `ip link`)",
		       ifname);
		return -ENODEV;
	}
	return 0;
}

static int lock_state(const char *pin_path)
{
	int fd = open(pin_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (flock(fd, bg_lock_nowait ? LOCK_EX | LOCK_NB : LOCK_EX)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Refuse to displace an XDP program that is not ours. */
static int check_foreign(const char *ifname, __u32 ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd;

	if (bpf_xdp_query((int)ifindex, 0, &q) || !q.prog_id)
		return 0;
	fd = bpf_prog_get_fd_by_id(q.prog_id);
	if (fd >= 0) {
		bpf_obj_get_info_by_fd(fd, &info, &len);
		close(fd);
	}
	bg_err("%s already runs XDP program \"%s\" (id %u) that burstgate did not attach through this state; burstgate will not replace it: remove it first (ip link set dev %s xdp off) if it is not needed",
	       ifname, info.name, q.prog_id, ifname);
	return -EBUSY;
}

static int create_link(int prog_fd, const char *ifname, __u32 ifindex, enum bg_mode mode,
		       struct bg_attach_result *res)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts);
	int fd;

	res->mode = mode == BG_MODE_SKB ? BG_MODE_SKB : BG_MODE_NATIVE;
	opts.flags = mode == BG_MODE_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	fd = bpf_link_create(prog_fd, (int)ifindex, BPF_XDP, &opts);
	if (fd < 0 && mode == BG_MODE_AUTO && (errno == EOPNOTSUPP || errno == EINVAL)) {
		/* The driver has no native XDP: generic mode still works. */
		res->fell_back = true;
		res->mode = BG_MODE_SKB;
		opts.flags = XDP_FLAGS_SKB_MODE;
		fd = bpf_link_create(prog_fd, (int)ifindex, BPF_XDP, &opts);
	}
	if (fd < 0) {
		int err = -errno;

		if (err == -EOPNOTSUPP || (err == -EINVAL && mode == BG_MODE_NATIVE))
			bg_err("attach to %s in %s mode: the driver does not support it (use `mode skb` for generic XDP)",
			       ifname, bg_mode_name(res->mode));
		else if (err == -EBUSY || err == -EEXIST)
			bg_err("attach to %s: another XDP program is attached (see `ip link show dev %s`)",
			       ifname, ifname);
		else if (err == -EPERM)
			bg_err("attach to %s: permission denied (needs root)", ifname);
		else
			bg_err("attach to %s: %s (run with -v for details)", ifname,
			       strerror(-err));
		return err;
	}
	return fd;
}

int bg_attach(const char *pin_path, const char *ifname, enum bg_mode mode,
	      struct bg_attach_result *res)
{
	struct bpf_prog_info pinfo = {};
	struct bpf_link_info linfo;
	struct bg_xdp *skel = NULL;
	char pin[256], dir[256];
	__u32 ifindex, plen = sizeof(pinfo);
	int lock_fd = -1, link_fd = -1, prog_fd, err;
	enum bg_mode cur = BG_MODE_AUTO;

	memset(res, 0, sizeof(*res));
	err = resolve_ifindex(ifname, &ifindex);
	if (err)
		return err;
	err = bg_state_setup(pin_path, 0, 0, NULL);
	if (err)
		return err;
	snprintf(dir, sizeof(dir), "%s/" LINKS_DIR, pin_path);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		err = -errno;
		bg_err("create %s: %s", dir, strerror(-err));
		return err;
	}
	lock_fd = lock_state(pin_path);
	if (lock_fd < 0) {
		if (lock_fd != -EWOULDBLOCK) /* bg_lock_nowait: the caller tries again */
			bg_err("lock %s: %s", pin_path, strerror(-lock_fd));
		return lock_fd;
	}

	err = bg_prog_load(pin_path, &skel);
	if (err)
		goto out;
	prog_fd = bg_prog_fd(skel);
	if (bpf_obj_get_info_by_fd(prog_fd, &pinfo, &plen) == 0)
		res->prog_id = pinfo.id;

	link_pin(pin, sizeof(pin), pin_path, netns_ino(), ifindex);
	link_fd = bpf_obj_get(pin);
	if (link_fd >= 0 && (link_info(link_fd, &linfo) || !linfo.xdp.ifindex)) {
		/* The interface went away since: the old link is dead. */
		bg_dbg("removing defunct link pin %s", pin);
		close(link_fd);
		link_fd = -1;
		unlink(pin);
	}

	if (link_fd >= 0) {
		res->old_prog_id = linfo.prog_id;
		cur = query_mode(ifindex, linfo.prog_id);
		if (mode == BG_MODE_AUTO || mode == cur) {
			/* Same mode: swap the program under the link, no gap. */
			if (bpf_link_update(link_fd, prog_fd, NULL)) {
				err = -errno;
				bg_err("update program on %s: %s", ifname, strerror(-err));
				goto out;
			}
			res->how = BG_ATTACH_UPDATED;
			res->mode = cur;
			goto out;
		}
		/* Mode change: the kernel cannot do it in place. */
		if (bpf_link_detach(link_fd)) {
			err = -errno;
			bg_err("detach %s to change mode: %s", ifname, strerror(-err));
			goto out;
		}
		close(link_fd);
		link_fd = -1;
		unlink(pin);
		res->how = BG_ATTACH_REPLACED;
	} else {
		err = check_foreign(ifname, ifindex);
		if (err)
			goto out;
		res->how = BG_ATTACH_NEW;
	}

	link_fd = create_link(prog_fd, ifname, ifindex, mode, res);
	if (link_fd < 0 && res->how == BG_ATTACH_REPLACED) {
		/* The new mode failed: never leave the interface unprotected. */
		struct bg_attach_result back = *res;

		err = link_fd;
		link_fd = create_link(prog_fd, ifname, ifindex, cur, &back);
		if (link_fd >= 0)
			bg_err("%s: kept burstgate attached in %s mode, as before", ifname,
			       bg_mode_name(back.mode));
		else
			bg_err("%s: could not attach again in %s mode either: burstgate is NOT attached to %s now (`burstctl attach %s` to retry)",
			       ifname, bg_mode_name(cur), ifname, ifname);
		if (link_fd >= 0 && bpf_obj_pin(link_fd, pin))
			bpf_link_detach(link_fd);
		goto out;
	}
	if (link_fd < 0) {
		err = link_fd;
		goto out;
	}
	if (bpf_obj_pin(link_fd, pin)) {
		err = -errno;
		bg_err("pin link %s: %s (detaching again)", pin, strerror(-err));
		bpf_link_detach(link_fd);
	}
out:
	if (link_fd >= 0)
		close(link_fd);
	bg_prog_free(skel);
	close(lock_fd);
	return err;
}

int bg_detach(const char *pin_path, const char *ifname)
{
	char pin[256];
	__u32 ifindex;
	int lock_fd, fd, err;

	err = resolve_ifindex(ifname, &ifindex);
	if (err)
		return err;
	lock_fd = lock_state(pin_path);
	if (lock_fd == -ENOENT) /* no state: attached nowhere */
		return -ENOENT;
	if (lock_fd < 0) {
		if (lock_fd != -EWOULDBLOCK) /* bg_lock_nowait: the caller tries again */
			bg_err("lock %s: %s", pin_path, strerror(-lock_fd));
		return lock_fd;
	}
	link_pin(pin, sizeof(pin), pin_path, netns_ino(), ifindex);
	fd = bpf_obj_get(pin);
	if (fd < 0) {
		err = -ENOENT;
		goto out;
	}
	if (bpf_link_detach(fd)) {
		err = -errno;
		bg_err("detach from %s: %s", ifname, strerror(-err));
	} else if (unlink(pin)) {
		err = -errno;
		bg_err("unpin %s: %s", pin, strerror(-err));
	}
	close(fd);
out:
	close(lock_fd);
	return err;
}

static int parse_pin_name(const char *name, unsigned long *ns, __u32 *ifindex)
{
	return sscanf(name, "ns%lu-if%u", ns, ifindex) == 2 ? 0 : -EINVAL;
}

int bg_links_list(const char *pin_path, struct bg_link **out, int *n)
{
	struct bg_link *links = NULL, *l;
	struct bpf_link_info info;
	unsigned long ns, here = netns_ino();
	char dir[256];
	struct dirent *de;
	__u32 ifindex;
	DIR *d;
	int fd, cap = 0;

	*out = NULL;
	*n = 0;
	snprintf(dir, sizeof(dir), "%s/" LINKS_DIR, pin_path);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (parse_pin_name(de->d_name, &ns, &ifindex))
			continue;
		if (*n == cap) {
			struct bg_link *tmp;

			cap = cap ? cap * 2 : 8;
			tmp = realloc(links, (size_t)cap * sizeof(*links));
			if (!tmp) {
				closedir(d);
				free(links);
				return -ENOMEM;
			}
			links = tmp;
		}
		l = &links[*n];
		memset(l, 0, sizeof(*l));
		if (snprintf(l->pin, sizeof(l->pin), "%s/%s", dir, de->d_name) >=
		    (int)sizeof(l->pin))
			continue; /* not a name we made */
		(*n)++;
		l->this_netns = ns == here;
		l->mode = BG_MODE_UNKNOWN;
		fd = bpf_obj_get(l->pin);
		if (fd < 0)
			continue;
		if (link_info(fd, &info) == 0) {
			l->link_id = info.id;
			l->prog_id = info.prog_id;
			l->ifindex = info.xdp.ifindex;
		}
		close(fd);
		if (l->ifindex && l->this_netns) {
			if (!if_indextoname(l->ifindex, l->ifname))
				l->ifname[0] = '\0';
			l->mode = query_mode(l->ifindex, l->prog_id);
		}
	}
	closedir(d);
	*out = links;
	return 0;
}

bool bg_link_live(const struct bg_link *links, int n, const char *ifname)
{
	int k;

	for (k = 0; k < n; k++)
		if (links[k].this_netns && links[k].ifindex && !strcmp(links[k].ifname, ifname))
			return true;
	return false;
}

int bg_links_detach_all(const char *pin_path)
{
	struct bg_link *links;
	char dir[256];
	int i, n, fd, err;

	err = bg_links_list(pin_path, &links, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		fd = bpf_obj_get(links[i].pin);
		if (fd >= 0) {
			if (links[i].ifindex && bpf_link_detach(fd))
				bg_warn("detach link %s: %s", links[i].pin, strerror(errno));
			close(fd);
		}
		if (unlink(links[i].pin)) {
			err = -errno;
			bg_err("unpin %s: %s", links[i].pin, strerror(-err));
		}
	}
	free(links);
	snprintf(dir, sizeof(dir), "%s/" LINKS_DIR, pin_path);
	if (rmdir(dir) && errno != ENOENT) {
		err = -errno;
		bg_err("remove %s: %s", dir, strerror(-err));
	}
	return err;
}

int bg_state_teardown(const char *pin_path)
{
	return bg_state_remove(pin_path, bg_links_detach_all);
}
