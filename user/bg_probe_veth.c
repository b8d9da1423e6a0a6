// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Does this kernel run native (driver-mode) XDP on veth? That is where the
 * tests and many container hosts attach. Asked without touching the host:
 * a child process enters a fresh network namespace, creates a veth pair
 * there over rtnetlink, attaches a two-instruction program in driver mode,
 * and exits; the namespace and everything in it vanish with it.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bg_state.h"

struct nlreq {
	struct nlmsghdr n;
	struct ifinfomsg i;
	char buf[512];
};

static struct rtattr *add_attr(struct nlreq *r, int type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->n.nlmsg_len));

	a->rta_type = (unsigned short)type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	r->n.nlmsg_len = NLMSG_ALIGN(r->n.nlmsg_len) + RTA_ALIGN(a->rta_len);
	return a;
}

static void end_nest(struct nlreq *r, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)((char *)r + r->n.nlmsg_len - (char *)nest);
}

/* ip link add bgp0 type veth peer name bgp1, in the current namespace */
static int make_veth(void)
{
	struct nlreq r = {};
	struct ifinfomsg peer = {};
	struct rtattr *info, *data, *p;
	struct {
		struct nlmsghdr n;
		struct nlmsgerr e;
	} ack;
	int fd, err;

	r.n.nlmsg_len = NLMSG_LENGTH(sizeof(r.i));
	r.n.nlmsg_type = RTM_NEWLINK;
	r.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	add_attr(&r, IFLA_IFNAME, "bgp0", 5);
	info = add_attr(&r, IFLA_LINKINFO, NULL, 0);
	add_attr(&r, IFLA_INFO_KIND, "veth", 5);
	data = add_attr(&r, IFLA_INFO_DATA, NULL, 0);
	p = add_attr(&r, VETH_INFO_PEER, &peer, sizeof(peer));
	add_attr(&r, IFLA_IFNAME, "bgp1", 5);
	end_nest(&r, p);
	end_nest(&r, data);
	end_nest(&r, info);

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (send(fd, &r, r.n.nlmsg_len, 0) < 0 || recv(fd, &ack, sizeof(ack), 0) < 0)
		err = -errno;
	else
		err = ack.n.nlmsg_type == NLMSG_ERROR ? ack.e.error : -EPROTO;
	close(fd);
	return err;
}

static int child(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd, ifindex;

	if (unshare(CLONE_NEWNET) || make_veth())
		return 2;
	ifindex = (int)if_nametoindex("bgp0");
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "bg_probe", "GPL", insns, 2, NULL);
	if (!ifindex || fd < 0)
		return 2;
	return bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL) ? 1 : 0;
}

int bg_probe_veth_native(void)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(child());
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -ECHILD;
	switch (WEXITSTATUS(status)) {
	case 0:
		return 1;
	case 1:
		return 0;
	default:
		return -EOPNOTSUPP; /* could not set up the probe */
	}
}
