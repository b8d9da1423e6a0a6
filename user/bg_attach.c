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
#include <xdp/libxdp.h>

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
	case BG_MODE_MULTI:
		return "multi";
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

/* multi mode: where burstgate's shim is pinned for an interface */
#define MULTI_SUFFIX "-multi"
static void multi_pin(char *buf, size_t len, const char *pin_path, unsigned long ns, __u32 ifindex)
{
	snprintf(buf, len, "%s/" LINKS_DIR "/ns%lu-if%u" MULTI_SUFFIX, pin_path, ns, ifindex);
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

/*
 * ---- Multi-program mode: libxdp's dispatcher ----
 *
 * libxdp runs each program of a NIC as an freplace (BPF_PROG_TYPE_EXT)
 * extension of one of the ten stub functions ("slots") of its dispatcher
 * program, in priority order, going on to the next on the actions each
 * asked for (burstgate: XDP_PASS). Joining and leaving go through libxdp,
 * which builds a new dispatcher and swaps it in atomically. An upgrade
 * cannot: libxdp would add the new program beside the old (both metering
 * every packet in between) or remove the old first. So burstgate swaps
 * only its own slot, following libxdp's documented protocol (xdp-tools,
 * lib/libxdp/protocol.org: the pins dispatch-IFINDEX-DID/progN-{prog,link}
 * under libxdp's lock). A slot holds one program at a time and an freplace
 * link cannot change its program: for the microseconds between dropping
 * the old link and making the new one, the slot's stub passes packets on
 * unmetered. Buckets and counters stay in the pinned maps.
 */

#define REFUSAL "Compatibility check for dispatcher program failed: "
#define XDP_SLOTS 10 /* slots in libxdp's dispatcher */
/* Why the kernel refused libxdp's dispatcher, from libxdp's own message. */
static char mp_refusal[128];

/* libxdp's messages, like libbpf's, only with -v; keep the refusal's reason. */
static int mp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	char line[256];
	const char *why;

	(void)level;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	why = strstr(line, REFUSAL);
	if (why)
		snprintf(mp_refusal, sizeof(mp_refusal), "%s", why + strlen(REFUSAL));
	bg_dbg("libxdp: %s", line);
	return 0;
}

/* The XDP programs on ifindex as libxdp sees them; NULL when there are none. */
static struct xdp_multiprog *mp_get(__u32 ifindex)
{
	struct xdp_multiprog *mp;

	libxdp_set_print(mp_print);
	mp = xdp_multiprog__get_from_ifindex((int)ifindex);
	return libxdp_get_error(mp) ? NULL : mp;
}

static enum bg_mode mode_of_xdp(enum xdp_attach_mode m)
{
	return m == XDP_MODE_SKB    ? BG_MODE_SKB :
	       m == XDP_MODE_NATIVE ? BG_MODE_NATIVE :
				      BG_MODE_UNKNOWN;
}

/* Program prog_id among the dispatcher's, or NULL (also: not a dispatcher). */
static struct xdp_program *mp_find(const struct xdp_multiprog *mp, __u32 prog_id)
{
	struct xdp_program *p = NULL;

	if (!mp || xdp_multiprog__is_legacy(mp))
		return NULL;
	while ((p = xdp_multiprog__next_prog(p, mp)))
		if (xdp_program__id(p) == prog_id)
			return p;
	return NULL;
}

static __u32 fd_prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/*
 * The multi-mode pin (the program libxdp runs for burstgate on ifindex):
 * the program's id if it still runs in ifindex's dispatcher, else 0.
 * *mpp: that dispatcher (the caller closes it).
 */
static __u32 mp_live(const char *pin, __u32 ifindex, struct xdp_multiprog **mpp)
{
	struct xdp_multiprog *mp;
	__u32 id;
	int fd;

	*mpp = NULL;
	fd = bpf_obj_get(pin);
	if (fd < 0)
		return 0;
	id = fd_prog_id(fd);
	close(fd);
	mp = mp_get(ifindex);
	if (!mp_find(mp, id)) {
		xdp_multiprog__close(mp);
		return 0;
	}
	*mpp = mp;
	return id;
}

static void explain_refusal(const char *ifname)
{
	bg_err("attach to %s in multi mode: this kernel refuses libxdp's dispatcher (%s): it needs freplace (BPF_PROG_TYPE_EXT) programs, which this kernel does not load. burstgate can run alone on %s (`burstctl attach %s`); to share the NIC with other XDP programs use a kernel that allows freplace (Debian's 6.1 and 6.12 do: see README, \"Sharing the NIC\")",
	       ifname, mp_refusal[0] ? mp_refusal : "no reason given", ifname, ifname);
}

/* Join ifindex's dispatcher (made if there is none) at priority prio; pin: the multi-mode pin. */
static int mp_join(const char *pin_path, const char *ifname, __u32 ifindex, __u32 prio,
		   const char *pin, struct bg_attach_result *res)
{
	enum xdp_attach_mode want = XDP_MODE_UNSPEC; /* native where the driver has it */
	struct xdp_multiprog *mp = mp_get(ifindex), *after = NULL;
	struct xdp_program *xp = NULL, *mine;
	struct bg_xdp *skel = NULL;
	int err;

	if (mp && xdp_multiprog__is_legacy(mp)) {
		struct xdp_program *other = xdp_multiprog__main_prog(mp);

		bg_err("%s runs XDP program \"%s\" (id %u), which is not a libxdp dispatcher: burstgate cannot run beside it. Load that program through libxdp (`xdp-loader load %s FILE`, or its tool's libxdp option) and attach burstgate again, or remove it (`ip link set dev %s xdp off`) if it is not needed",
		       ifname, other ? xdp_program__name(other) : "?",
		       other ? xdp_program__id(other) : 0, ifname, ifname);
		err = -EBUSY;
		goto out;
	}
	if (mp)
		want = xdp_multiprog__attach_mode(
			mp); /* the dispatcher's: all its programs share it */

	/* libxdp loads it, as an extension of its dispatcher */
	err = bg_prog_open(pin_path, &skel);
	if (err)
		goto out;
	xp = xdp_program__from_bpf_obj(bg_prog_obj(skel), "xdp");
	err = (int)libxdp_get_error(xp);
	if (err) {
		xp = NULL;
		bg_err("libxdp: open the program: %s", strerror(-err));
		goto out;
	}
	xdp_program__set_run_prio(xp, prio);
	/* the next program runs on what burstgate passes, not on what it drops */
	xdp_program__set_chain_call_enabled(xp, XDP_PASS, true);

	mp_refusal[0] = '\0';
	err = xdp_program__attach(xp, (int)ifindex, want, 0);
	if (err) {
		if (err == -EOPNOTSUPP || mp_refusal[0])
			explain_refusal(ifname);
		else if (err == -EPERM)
			bg_err("attach to %s in multi mode: permission denied (needs root)",
			       ifname);
		else
			bg_err("attach to %s in multi mode (libxdp): %s (run with -v for libxdp's and the verifier's messages)",
			       ifname, strerror(-err));
		goto out;
	}
	/*
	 * With one program and no dispatcher, libxdp falls back to attaching
	 * it alone when the kernel refuses the dispatcher. Alone is not what
	 * was asked (nothing could join it): take it off again.
	 */
	after = mp_get(ifindex);
	mine = mp_find(after, xdp_program__id(xp));
	if (!mine) {
		xdp_program__detach(xp, (int)ifindex, XDP_MODE_UNSPEC, 0);
		explain_refusal(ifname);
		err = -EOPNOTSUPP;
		goto out;
	}
	if (bpf_obj_pin(xdp_program__fd(xp), pin)) {
		err = -errno;
		bg_err("pin %s: %s (detaching again)", pin, strerror(-err));
		xdp_program__detach(xp, (int)ifindex, XDP_MODE_UNSPEC, 0);
		goto out;
	}
	res->prog_id = xdp_program__id(xp);
	res->xdp_mode = mode_of_xdp(xdp_multiprog__attach_mode(after));
	res->prio = xdp_program__run_prio(mine);
	res->mode = BG_MODE_MULTI;
out:
	xdp_multiprog__close(mp);
	xdp_multiprog__close(after);
	xdp_program__close(xp);
	bg_prog_free(skel);
	return err;
}

/* Take burstgate's program (prog_id) off ifindex's dispatcher: the others stay. */
static int mp_leave(const char *ifname, __u32 ifindex, __u32 prog_id)
{
	struct xdp_program *xp;
	int err;

	libxdp_set_print(mp_print);
	xp = xdp_program__from_id(prog_id);
	err = (int)libxdp_get_error(xp);
	if (!err)
		err = xdp_program__detach(xp, (int)ifindex, XDP_MODE_UNSPEC, 0);
	if (err)
		bg_err("detach from %s (libxdp): %s (run with -v for libxdp's messages)", ifname,
		       strerror(-err));
	if (!libxdp_get_error(xp))
		xdp_program__close(xp);
	return err;
}

/* libxdp's pin folder: $LIBXDP_BPFFS/xdp, as libxdp finds it */
static void xdp_pin_dir(char *buf, size_t len)
{
	const char *base = secure_getenv("LIBXDP_BPFFS");

	snprintf(buf, len, "%s/xdp", base && *base ? base : "/sys/fs/bpf");
}

/* The freplace link of prog_fd into slot func of the dispatcher: an fd, or -errno. */
static int slot_link(int prog_fd, int disp_fd, __u32 btf_id)
{
	LIBBPF_OPTS(bpf_link_create_opts, o, .target_btf_id = btf_id);
	int fd = bpf_link_create(prog_fd, disp_fd, 0, &o);

	return fd < 0 ? -errno : fd;
}

/*
 * Upgrade in multi mode (see the top of this part): this build's program
 * into burstgate's slot of the dispatcher mp, whose program old_id it is.
 */
static int mp_swap(const char *pin_path, const char *ifname, __u32 ifindex,
		   const struct xdp_multiprog *mp, __u32 old_id, const char *mpin,
		   struct bg_attach_result *res)
{
	struct xdp_program *disp = xdp_multiprog__main_prog(mp);
	char dir[200], ppath[256], lpath[256], func[8];
	int disp_fd = xdp_program__fd(disp), lock_fd = -1, link_fd = -1, old_link, old_prog = -1;
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), did = xdp_program__id(disp);
	struct bg_xdp *skel = NULL;
	int slot, prog_fd, err;

	xdp_pin_dir(dir, sizeof(dir));
	for (slot = 0; slot < XDP_SLOTS; slot++) {
		snprintf(ppath, sizeof(ppath), "%s/dispatch-%u-%u/prog%d-prog", dir, ifindex, did,
			 slot);
		old_prog = bpf_obj_get(ppath);
		if (old_prog >= 0 && fd_prog_id(old_prog) == old_id)
			break;
		if (old_prog >= 0)
			close(old_prog);
		old_prog = -1;
	}
	if (old_prog < 0) {
		bg_err("upgrade on %s: burstgate's program %u is not among libxdp's pins of dispatcher %u under %s",
		       ifname, old_id, did, dir);
		return -ENOENT;
	}
	snprintf(lpath, sizeof(lpath), "%s/dispatch-%u-%u/prog%d-link", dir, ifindex, did, slot);
	snprintf(func, sizeof(func), "prog%d", slot);

	/* Load first: verified against the slot before anything changes. */
	err = bg_prog_open(pin_path, &skel);
	if (err)
		goto out;
	bpf_program__set_type(bg_prog_bpf(skel), BPF_PROG_TYPE_EXT);
	bpf_program__set_expected_attach_type(bg_prog_bpf(skel), 0);
	err = bpf_program__set_attach_target(bg_prog_bpf(skel), disp_fd, func);
	if (!err)
		err = bg_prog_load_opened(skel);
	if (err)
		goto out;
	prog_fd = bg_prog_fd(skel);
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len)) {
		err = -errno;
		goto out;
	}

	lock_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX)) {
		err = -errno;
		bg_err("lock %s: %s", dir, strerror(-err));
		goto out;
	}
	old_link = bpf_obj_get(lpath);
	if (old_link < 0) {
		err = -errno;
		bg_err("upgrade on %s: %s: %s (did libxdp change the dispatcher meanwhile? try again)",
		       ifname, lpath, strerror(-err));
		goto out;
	}
	/* Unpinned and closed, the old link is gone: the slot is empty now. */
	unlink(lpath);
	close(old_link);
	link_fd = slot_link(prog_fd, disp_fd, info.attach_btf_id);
	if (link_fd < 0) {
		err = link_fd;
		bg_err("upgrade on %s: link the new program into slot %d: %s; putting the old one back",
		       ifname, slot, strerror(-err));
		link_fd = slot_link(old_prog, disp_fd, info.attach_btf_id);
		if (link_fd < 0 || bpf_obj_pin(link_fd, lpath))
			bg_err("%s: burstgate's slot in the dispatcher is EMPTY: `burstctl detach %s` and attach again",
			       ifname, ifname);
		goto out;
	}
	if (bpf_obj_pin(link_fd, lpath) || unlink(ppath) || bpf_obj_pin(prog_fd, ppath) ||
	    (unlink(mpin), bpf_obj_pin(prog_fd, mpin))) {
		err = -errno;
		bg_err("upgrade on %s: pin in %s: %s (the new program runs, but libxdp may not find it: `burstctl detach %s` and attach again)",
		       ifname, dir, strerror(-err), ifname);
		goto out;
	}
	res->prog_id = info.id;
	res->old_prog_id = old_id;
	res->how = BG_ATTACH_UPDATED;
out:
	if (link_fd >= 0)
		close(link_fd);
	if (lock_fd >= 0)
		close(lock_fd);
	if (old_prog >= 0)
		close(old_prog);
	bg_prog_free(skel);
	return err;
}

/* Multi mode on ifindex: join its dispatcher, or (already there) upgrade in place. */
static int attach_multi(const char *pin_path, const char *ifname, __u32 ifindex, __u32 prio,
			struct bg_attach_result *res)
{
	struct xdp_multiprog *mp;
	char pin[256];
	__u32 old_id;
	int err;

	multi_pin(pin, sizeof(pin), pin_path, netns_ino(), ifindex);
	old_id = mp_live(pin, ifindex, &mp);
	if (old_id) {
		struct xdp_program *mine = mp_find(mp, old_id);

		res->mode = BG_MODE_MULTI;
		res->xdp_mode = mode_of_xdp(xdp_multiprog__attach_mode(mp));
		res->prio = xdp_program__run_prio(mine);
		if (prio && prio != res->prio)
			bg_warn("%s: burstgate stays at priority %u in the dispatcher (libxdp cannot move a program): `burstctl detach %s` and attach again to run it at %u",
				ifname, res->prio, ifname, prio);
		err = mp_swap(pin_path, ifname, ifindex, mp, old_id, pin, res);
		xdp_multiprog__close(mp);
		return err;
	}
	if (unlink(pin) ==
	    0) /* its dispatcher went away (interface gone, xdp-loader unload --all) */
		bg_dbg("removed stale multi-mode pin %s", pin);
	err = mp_join(pin_path, ifname, ifindex, prio ? prio : BG_MP_PRIO_DEFAULT, pin, res);
	if (res->how != BG_ATTACH_REPLACED)
		res->how = BG_ATTACH_NEW;
	return err;
}

/* A mode change failed after the old attachment came off: put it back. */
static void restore(const char *pin_path, const char *ifname, __u32 ifindex, enum bg_mode cur,
		    __u32 prio, struct bg_attach_result *res)
{
	struct bg_attach_result back = *res;
	struct bg_xdp *skel = NULL;
	char pin[256];
	bool ok = false;
	int fd;

	if (cur == BG_MODE_MULTI) {
		ok = !attach_multi(pin_path, ifname, ifindex, prio, &back);
	} else if (!bg_prog_load(pin_path, &skel)) {
		link_pin(pin, sizeof(pin), pin_path, netns_ino(), ifindex);
		fd = create_link(bg_prog_fd(skel), ifname, ifindex, cur, &back);
		ok = fd >= 0 && !bpf_obj_pin(fd, pin);
		if (fd >= 0 && !ok)
			bpf_link_detach(fd);
		if (fd >= 0)
			close(fd);
		bg_prog_free(skel);
	}
	if (ok)
		bg_err("%s: kept burstgate attached in %s mode, as before", ifname,
		       bg_mode_name(back.mode));
	else
		bg_err("%s: could not attach again in %s mode either: burstgate is NOT attached to %s now (`burstctl attach %s%s` to retry)",
		       ifname, bg_mode_name(cur), ifname, ifname,
		       cur == BG_MODE_MULTI ? " mode multi" : "");
}

int bg_attach(const char *pin_path, const char *ifname, enum bg_mode mode,
	      struct bg_attach_result *res)
{
	return bg_attach_prio(pin_path, ifname, mode, 0, res);
}

int bg_attach_prio(const char *pin_path, const char *ifname, enum bg_mode mode, __u32 prio,
		   struct bg_attach_result *res)
{
	struct bpf_prog_info pinfo = {};
	struct bpf_link_info linfo;
	struct xdp_multiprog *mp = NULL;
	struct bg_xdp *skel = NULL;
	char pin[256], mpin[256], dir[256];
	__u32 ifindex, mp_id = 0, mp_prio = 0, plen = sizeof(pinfo);
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

	link_pin(pin, sizeof(pin), pin_path, netns_ino(), ifindex);
	link_fd = bpf_obj_get(pin);
	if (link_fd >= 0 && (link_info(link_fd, &linfo) || !linfo.xdp.ifindex)) {
		/* The interface went away since: the old link is dead. */
		bg_dbg("removing defunct link pin %s", pin);
		close(link_fd);
		link_fd = -1;
		unlink(pin);
	}
	multi_pin(mpin, sizeof(mpin), pin_path, netns_ino(), ifindex);
	if (link_fd < 0)
		mp_id = mp_live(mpin, ifindex, &mp);
	if (mp_id)
		mp_prio = xdp_program__run_prio(mp_find(mp, mp_id));
	if (link_fd < 0 && mode == BG_MODE_AUTO) {
		struct xdp_multiprog *there = mp_id ? NULL : mp_get(ifindex);

		/* Beside other programs already (a libxdp dispatcher): join them. */
		if (mp_id || (there && !xdp_multiprog__is_legacy(there))) {
			res->joined = !mp_id;
			mode = BG_MODE_MULTI;
		}
		xdp_multiprog__close(there);
	}

	if (mode == BG_MODE_MULTI) {
		if (link_fd >= 0) {
			/* From a link of our own to multi mode: detach, then join. */
			res->old_prog_id = linfo.prog_id;
			cur = query_mode(ifindex, linfo.prog_id);
			if (bpf_link_detach(link_fd)) {
				err = -errno;
				bg_err("detach %s to change mode: %s", ifname, strerror(-err));
				goto out;
			}
			unlink(pin);
			res->how = BG_ATTACH_REPLACED;
		}
		err = attach_multi(pin_path, ifname, ifindex, prio, res);
		if (err && res->how == BG_ATTACH_REPLACED)
			restore(pin_path, ifname, ifindex, cur, 0, res);
		goto out;
	}

	err = bg_prog_load(pin_path, &skel);
	if (err)
		goto out;
	prog_fd = bg_prog_fd(skel);
	if (bpf_obj_get_info_by_fd(prog_fd, &pinfo, &plen) == 0)
		res->prog_id = pinfo.id;

	if (mp_id) {
		/* From multi mode to a mode of our own: only when burstgate is alone. */
		if (xdp_multiprog__program_count(mp) > 1) {
			bg_err("%s runs %d other XDP programs through libxdp's dispatcher: burstgate can only run there in multi mode (`burstctl attach %s mode multi`)",
			       ifname, xdp_multiprog__program_count(mp) - 1, ifname);
			err = -EBUSY;
			goto out;
		}
		err = mp_leave(ifname, ifindex, mp_id);
		if (err)
			goto out;
		unlink(mpin);
		res->old_prog_id = mp_id;
		res->how = BG_ATTACH_REPLACED;
		cur = BG_MODE_MULTI;
	} else if (link_fd >= 0) {
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
		err = link_fd;
		restore(pin_path, ifname, ifindex, cur, mp_prio, res);
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
	xdp_multiprog__close(mp);
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
		struct xdp_multiprog *mp;
		__u32 id;

		/* multi mode: only burstgate's program leaves the dispatcher */
		multi_pin(pin, sizeof(pin), pin_path, netns_ino(), ifindex);
		id = mp_live(pin, ifindex, &mp);
		xdp_multiprog__close(mp);
		if (id) {
			err = mp_leave(ifname, ifindex, id);
			if (!err && unlink(pin)) {
				err = -errno;
				bg_err("unpin %s: %s", pin, strerror(-err));
			}
			goto out;
		}
		unlink(pin); /* a stale one: its dispatcher is gone */
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

/* "ns<N>-if<I>" (a link), or "ns<N>-if<I>-multi" (*multi: the shim's pin) */
static int parse_pin_name(const char *name, unsigned long *ns, __u32 *ifindex, bool *multi)
{
	int end = 0;

	if (sscanf(name, "ns%lu-if%u%n", ns, ifindex, &end) != 2)
		return -EINVAL;
	*multi = !strcmp(name + end, MULTI_SUFFIX);
	return *multi || !name[end] ? 0 : -EINVAL;
}

/* A multi-mode pin: is the shim still in its interface's dispatcher? */
static void multi_info(struct bg_link *l, __u32 ifindex)
{
	struct xdp_multiprog *mp;
	struct xdp_program *mine;

	l->mode = BG_MODE_MULTI;
	if (!l->this_netns) {
		l->ifindex = ifindex; /* cannot look into another namespace's NICs */
		return;
	}
	l->prog_id = mp_live(l->pin, ifindex, &mp);
	if (!l->prog_id)
		return; /* ifindex 0: defunct */
	mine = mp_find(mp, l->prog_id);
	l->ifindex = ifindex;
	l->xdp_mode = mode_of_xdp(xdp_multiprog__attach_mode(mp));
	l->prio = xdp_program__run_prio(mine);
	l->nprogs = (__u32)xdp_multiprog__program_count(mp);
	xdp_multiprog__close(mp);
	if (!if_indextoname(ifindex, l->ifname))
		l->ifname[0] = '\0';
}

int bg_links_list(const char *pin_path, struct bg_link **out, int *n)
{
	struct bg_link *links = NULL, *l;
	struct bpf_link_info info;
	unsigned long ns, here = netns_ino();
	char dir[256];
	struct dirent *de;
	__u32 ifindex;
	bool multi;
	DIR *d;
	int fd, cap = 0;

	*out = NULL;
	*n = 0;
	snprintf(dir, sizeof(dir), "%s/" LINKS_DIR, pin_path);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (parse_pin_name(de->d_name, &ns, &ifindex, &multi))
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
		if (multi) {
			multi_info(l, ifindex);
			continue;
		}
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
		if (links[i].mode == BG_MODE_MULTI) {
			struct xdp_multiprog *mp;
			__u32 id = 0;

			if (links[i].this_netns && links[i].ifindex)
				id = mp_live(links[i].pin, links[i].ifindex, &mp);
			if (id) {
				xdp_multiprog__close(mp);
				mp_leave(links[i].ifname, links[i].ifindex, id);
			} else if (!links[i].this_netns && (fd = bpf_obj_get(links[i].pin)) >= 0) {
				/* libxdp finds dispatchers by ifindex: only from in there */
				bg_warn("burstgate's program (id %u) stays in the XDP dispatcher of ifindex %u in another network namespace: remove it from there (`xdp-loader unload --id %u IFNAME`)",
					fd_prog_id(fd), links[i].ifindex, fd_prog_id(fd));
				close(fd);
			}
		} else if ((fd = bpf_obj_get(links[i].pin)) >= 0) {
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
