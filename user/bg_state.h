/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The pinned state: the maps under the pin folder (BG_PIN_PATH_DEFAULT),
 * how to create them, open them, lock them, and load the XDP program so it
 * reuses them.
 */
#ifndef BG_STATE_H
#define BG_STATE_H

#include <stdbool.h>
#include <sys/types.h>
#include <linux/types.h>

#include "bg_common.h"

struct bg_xdp; /* the generated skeleton */

/*
 * Folders under the pin path, flock()ed by one process at a time: the
 * controller (`burstctl serve`), and the reader of the event ring.
 */
#define BG_LOCK_SERVE "serve"
#define BG_LOCK_EVENTS "events"

/*
 * Set by the controller once it runs its loop: the state's writer lock is
 * tried, never waited for; a caller finding it taken gets -EWOULDBLOCK
 * (and nothing printed) and tries again later. Commands wait, as usual.
 */
extern int bg_lock_nowait;

/*
 * Take an exclusive flock on the folder <pin>/name (created if absent),
 * without waiting. -EBUSY if another process holds it; *holder is then its
 * pid when /proc/locks tells (else 0).
 */
int bg_lock_take(const char *pin_path, const char *name, int *fd, pid_t *holder);

/* The pid holding an flock on fd's inode, from /proc/locks; 0 if unknown. */
pid_t bg_lock_holder(int fd);

struct bg_state {
	char pin_path[200];
	int dir_fd; /* the pin folder; flock()ed while writing */
	int cfg_fd;
	int state_fd;
	int stats_fd;
	int names_fd;
	int pfx4_fd;
	int pfx6_fd;
	int host4_fd; /* host prefixes: /32 */
	int host6_fd; /* and /128 */
	int global_fd;
	int counters_fd;
	int events_fd; /* ring buffer of struct bg_event */
	int ctl_fd; /* struct bg_ctl: controller settings */
	int tokens_fd; /* agent tokens (bg_token.h) */
	int flows_fd;
	int tok_cfg_fd;
	int secret_fd;
	int rec_fd; /* bg_pol_rec; -1 in a state made before it (setup adds it) */
	int own_fd; /* bg_bind_own; idem */
	struct bg_id_state *tats; /* bg_id_state, mmapped */
	size_t tats_len;
	__u32 max_ids;
	__u32 max_pfx;
	int ncpus; /* possible CPUs: the stride of per-CPU values */
};

/*
 * bg_pol_rec: HASH (no prealloc), burstctl only. What the last policy
 * applied said that the data-plane maps cannot tell: the token files of
 * each identity that has `token_files` (the tokens themselves are only
 * hashed into bg_tokens) and the controller's bind socket, so that `policy
 * dump` prints them and the next apply knows which identities' tokens the
 * policy owned. Written by `policy apply` and the controller under the
 * writer lock. The XDP program never reads it, so it is defined here and
 * created by burstctl rather than by the BPF object (include/ holds what
 * both sides share).
 */
#define BG_MAP_POL_REC "bg_pol_rec"
#define BG_REC_STR_LEN 256
#define BG_REC_CTL 0xffffffffU /* owner of the controller settings */
#define BG_REC_IDSET 0x80000000U /* owner BG_REC_IDSET | slot: an identity's token settings */
enum {
	BG_REC_BIND_SOCKET = 0,
	BG_REC_BIND_GROUP = 1,
	BG_REC_TOKEN_GRACE = 2, /* seconds, in decimal (BG_REC_CTL: the host's; IDSET: its own) */
};

struct bg_rec_key {
	__u32 owner; /* identity slot (its token files), or BG_REC_CTL */
	__u32 idx; /* token file index, or BG_REC_BIND_* */
};

struct bg_rec_val {
	__u32 count; /* the identity's token files (0: `token_files: []`) */
	__u32 pad;
	char str[BG_REC_STR_LEN]; /* a path or group name, NUL-terminated */
};

/*
 * bg_bind_own: HASH (no prealloc) by struct bg_flow_key, burstctl only.
 * Who bound a connection through the bind socket (bg_flow.c): a binding
 * may be replaced or removed only by the same uid, root, or a request
 * carrying the connection's token. The record counts only while the
 * connection's entry in bg_flows is a binding with the same token (a
 * record outliving its flow is ignored, and removed by gc). Written by
 * the bind server and gc; the XDP program never reads it.
 */
#define BG_MAP_BIND_OWN "bg_bind_own"

struct bg_bind_own {
	__u32 uid; /* the binder's, from SO_PEERCRED */
	__u32 pad;
	__u64 tok_hash; /* the token it bound with: the flow's tok_hash */
};

enum {
	BG_OPEN_READ = 0, /* the state must exist */
	BG_OPEN_WRITE = 1 << 0, /* hold the writer lock until close */
	/* 1 << 1: BG_OPEN_CREATE, bg_state_open_setup() (bg_setup.h) */
};

/* The pin path: $BURSTGATE_PIN_PATH, else BG_PIN_PATH_DEFAULT. */
const char *bg_default_pin_path(void);

int bg_state_open(struct bg_state *s, const char *pin_path, int flags);
void bg_state_close(struct bg_state *s);

/*
 * This file is the bottom layer: it calls nothing of burstgate's but the
 * log. What the layers above keep in the state is theirs to make and
 * remove, through these hooks; bg_state_setup() (bg_setup.h) and
 * bg_state_teardown() (bg_attach.h) are what commands call.
 *
 * init: called under the writer lock once the state's own contents are
 * there; fresh: they were just made (else: an existing state, adopted).
 */
typedef int (*bg_state_init_fn)(const struct bg_state *s, bool fresh);

/*
 * Create the state if absent, with the given capacities (0: default).
 * If it exists with other capacities, -EEXIST. *created tells which.
 */
int bg_state_create(const char *pin_path, __u32 max_ids, __u32 max_pfx, bg_state_init_fn init,
		    bool *created);

/*
 * Unpin it all, holding the serve and events locks (refused while either
 * runs); -ENOENT, without a message, when there is no state. detach (may be NULL) runs first, with the locks held.
 */
int bg_state_remove(const char *pin_path, int (*detach)(const char *pin_path));

/*
 * Open and load the XDP program with every map reused from the pins.
 * The state must exist. On success *skel is loaded and owned by the caller.
 */
int bg_prog_load(const char *pin_path, struct bg_xdp **skel);
/* The same in two steps, to set the program's type and target between them (libxdp's freplace). */
int bg_prog_open(const char *pin_path, struct bg_xdp **skel);
int bg_prog_load_opened(struct bg_xdp *skel);
void bg_prog_free(struct bg_xdp *skel);
int bg_prog_fd(struct bg_xdp *skel);
struct bpf_object *bg_prog_obj(struct bg_xdp *skel);
struct bpf_program *bg_prog_bpf(struct bg_xdp *skel);

/*
 * Could a state be made at pin_path (no side effects)? Below /sys/fs/bpf
 * yes (bg_bpffs_ensure mounts it); elsewhere only if its parent, left in
 * parent, is on a bpffs.
 */
bool bg_bpffs_usable(const char *pin_path, char *parent, size_t len);

/* Ensure bpffs is mounted at /sys/fs/bpf when the pin path is below it. */
int bg_bpffs_ensure(const char *pin_path);

/* Kernel features: 1 present, 0 absent, <0 could not tell. */
struct bg_features {
	int prog_xdp;
	int map_lpm_trie;
	int map_percpu_array;
	int map_mmapable;
	int atomics; /* BPF_CMPXCHG, kernel 5.12+ */
	int ringbuf; /* BPF ring buffer (limited/cleared events), 5.8+ */
	int helper_loop; /* bpf_loop (the HTTP token scan), 5.17+ */
	int helper_load_bytes; /* bpf_xdp_load_bytes (the HTTP token scan), 5.18+ */
	int xdp_link; /* bpf_link for XDP, kernel 5.9+ */
	int xdp_native_veth; /* driver-mode XDP on veth */
	int btf_vmlinux;
};
void bg_probe_features(struct bg_features *f);
int bg_probe_atomics(void);

/* The oldest kernel with everything burstgate needs (bpf_xdp_load_bytes). */
#define BG_KERNEL_MIN "5.18"

/* The first required feature f lacks, and the kernel that brought it; NULL if none. */
const char *bg_features_missing(const struct bg_features *f);
int bg_probe_veth_native(void); /* bg_probe_veth.c */

/* Per-CPU helpers: read and sum, or zero, one element. */
int bg_percpu_sum(const struct bg_state *s, int fd, __u32 key, __u64 *sums, int nfields);
int bg_percpu_zero(const struct bg_state *s, int fd, __u32 key, size_t value_size);

/* The host-wide counters, summed over the CPUs. */
int bg_counters_read(const struct bg_state *s, struct bg_counters *out);
/*
 * Every element of a map (hash, array, LPM trie): keys and values in two
 * arrays of n (free() both). Batch lookups (a few syscalls for 65,536
 * elements), or element by element where the kernel has no batch for the
 * map type. vsz: a per-CPU map's value is one 8-byte aligned copy per CPU.
 */
int bg_map_read_all(int fd, size_t ksz, size_t vsz, void **keys, void **vals, size_t *n);

/* Read the host-wide switches. */
int bg_global_get(const struct bg_state *s, struct bg_global *g);
int bg_global_put(const struct bg_state *s, const struct bg_global *g);

/*
 * Tests only (tests/tools/bg_fault.c, linked into burstctl-fault): called
 * before each write through a map's mmap, as the libbpf calls that write a
 * map are, so that a test can kill the process at any write. NULL in
 * burstctl.
 */
extern void (*bg_fault_hook)(const char *what);

static inline void bg_fault_point(const char *what)
{
	if (bg_fault_hook)
		bg_fault_hook(what);
}

#endif /* BG_STATE_H */
