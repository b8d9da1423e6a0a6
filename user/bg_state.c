// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Pinned state. Every map lives under the pin folder; the folder itself is
 * the writer lock (flock), so two burstctl processes never hand out the same
 * identity slot. Readers take no lock: every value they read is one map
 * element, copied by the kernel.
 */
#include "bg_state.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bg_log.h"
#include "bg_token.h"
#include "bg_xdp.skel.h"

#define BPFFS_ROOT "/sys/fs/bpf"

enum sizing { SZ_IDS, SZ_PFX, SZ_FIXED };

/* The maps as burstctl expects them; a pin that differs is refused. */
static const struct map_desc {
	const char *name;
	size_t fd_off;
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	enum sizing sizing;
} map_descs[] = {
	{ BG_MAP_ID_CFG, offsetof(struct bg_state, cfg_fd), BPF_MAP_TYPE_ARRAY, sizeof(__u32),
	  sizeof(struct bg_id_cfg), SZ_IDS },
	{ BG_MAP_ID_STATE, offsetof(struct bg_state, state_fd), BPF_MAP_TYPE_ARRAY, sizeof(__u32),
	  sizeof(struct bg_id_state), SZ_IDS },
	{ BG_MAP_ID_STATS, offsetof(struct bg_state, stats_fd), BPF_MAP_TYPE_PERCPU_ARRAY,
	  sizeof(__u32), sizeof(struct bg_id_stats), SZ_IDS },
	{ BG_MAP_ID_NAMES, offsetof(struct bg_state, names_fd), BPF_MAP_TYPE_HASH,
	  sizeof(struct bg_id_name), sizeof(struct bg_id_meta), SZ_IDS },
	{ BG_MAP_PFX4, offsetof(struct bg_state, pfx4_fd), BPF_MAP_TYPE_LPM_TRIE,
	  sizeof(struct bg_pfx4_key), sizeof(__u32), SZ_PFX },
	{ BG_MAP_PFX6, offsetof(struct bg_state, pfx6_fd), BPF_MAP_TYPE_LPM_TRIE,
	  sizeof(struct bg_pfx6_key), sizeof(__u32), SZ_PFX },
	{ BG_MAP_GLOBAL, offsetof(struct bg_state, global_fd), BPF_MAP_TYPE_ARRAY, sizeof(__u32),
	  sizeof(struct bg_global), SZ_FIXED },
	{ BG_MAP_COUNTERS, offsetof(struct bg_state, counters_fd), BPF_MAP_TYPE_PERCPU_ARRAY,
	  sizeof(__u32), sizeof(struct bg_counters), SZ_FIXED },
	{ BG_MAP_HOST4, offsetof(struct bg_state, host4_fd), BPF_MAP_TYPE_HASH, sizeof(__u32),
	  sizeof(__u32), SZ_PFX },
	{ BG_MAP_HOST6, offsetof(struct bg_state, host6_fd), BPF_MAP_TYPE_HASH,
	  sizeof(struct bg_host6_key), sizeof(__u32), SZ_PFX },
	{ BG_MAP_EVENTS, offsetof(struct bg_state, events_fd), BPF_MAP_TYPE_RINGBUF, 0, 0,
	  SZ_FIXED },
	{ BG_MAP_CTL, offsetof(struct bg_state, ctl_fd), BPF_MAP_TYPE_ARRAY, sizeof(__u32),
	  sizeof(struct bg_ctl), SZ_FIXED },
	{ BG_MAP_TOKENS, offsetof(struct bg_state, tokens_fd), BPF_MAP_TYPE_HASH, sizeof(__u64),
	  sizeof(struct bg_token), SZ_FIXED },
	{ BG_MAP_FLOWS, offsetof(struct bg_state, flows_fd), BPF_MAP_TYPE_LRU_HASH,
	  sizeof(struct bg_flow_key), sizeof(struct bg_flow), SZ_FIXED },
	{ BG_MAP_TOK_CFG, offsetof(struct bg_state, tok_cfg_fd), BPF_MAP_TYPE_ARRAY, sizeof(__u32),
	  sizeof(struct bg_tok_cfg), SZ_FIXED },
	{ BG_MAP_SECRET, offsetof(struct bg_state, secret_fd), BPF_MAP_TYPE_ARRAY, sizeof(__u32),
	  sizeof(struct bg_secret), SZ_FIXED },
};
#define N_MAPS (sizeof(map_descs) / sizeof(map_descs[0]))

/*
 * burstctl's own maps (bg_state.h): not in the BPF object, made by
 * create_own_maps(), optional when opening (a state made before them).
 */
static const struct map_desc own_descs[] = {
	{ BG_MAP_POL_REC, offsetof(struct bg_state, rec_fd), BPF_MAP_TYPE_HASH,
	  sizeof(struct bg_rec_key), sizeof(struct bg_rec_val), SZ_FIXED },
	{ BG_MAP_BIND_OWN, offsetof(struct bg_state, own_fd), BPF_MAP_TYPE_HASH,
	  sizeof(struct bg_flow_key), sizeof(struct bg_bind_own), SZ_FIXED },
};
#define N_OWN_MAPS (sizeof(own_descs) / sizeof(own_descs[0]))

/* Maps that burstctl makes when it needs them (their owners open them): fleet mode. */
static const char *const extra_pins[] = { "bg_fleet", "bg_fleet_host" };
#define N_EXTRA_PINS (sizeof(extra_pins) / sizeof(extra_pins[0]))

/* Empty folders under the pin path that serve as flock()s. */
static const char *const lock_dirs[] = { BG_LOCK_SERVE, BG_LOCK_EVENTS };

const char *bg_default_pin_path(void)
{
	const char *p = getenv("BURSTGATE_PIN_PATH");

	return p && *p ? p : BG_PIN_PATH_DEFAULT;
}

/* Who holds an flock on this inode: /proc/locks "1: FLOCK ADVISORY WRITE PID MAJ:MIN:INO ..." */
pid_t bg_lock_holder(int fd)
{
	char line[256], type[16];
	unsigned int maj, min;
	unsigned long ino;
	struct stat st;
	pid_t pid = 0;
	int p;
	FILE *f;

	if (fstat(fd, &st))
		return 0;
	f = fopen("/proc/locks", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "->"))
			continue; /* a waiter, not the holder */
		if (sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%lu", type, &p, &maj, &min, &ino) != 5)
			continue;
		if (!strcmp(type, "FLOCK") && ino == st.st_ino && maj == major(st.st_dev) &&
		    min == minor(st.st_dev)) {
			pid = p;
			break;
		}
	}
	fclose(f);
	return pid;
}

int bg_lock_take(const char *pin_path, const char *name, int *fdp, pid_t *holder)
{
	struct stat have, now;
	char path[256];
	int fd, err;

	*holder = 0;
	snprintf(path, sizeof(path), "%s/%s", pin_path, name);
	if (mkdir(path, 0700) && errno != EEXIST) {
		err = -errno;
		bg_err("create %s: %s", path, strerror(-err));
		return err;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		bg_err("open %s: %s", path, strerror(-err));
		return err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (err == -EBUSY)
			*holder = bg_lock_holder(fd);
		close(fd);
		return err;
	}
	/*
	 * Locked, but is it still the folder at that path? `burstctl teardown`
	 * removes it while holding it: a lock on a removed folder locks nothing.
	 */
	if (fstat(fd, &have) || stat(path, &now) || have.st_ino != now.st_ino ||
	    have.st_dev != now.st_dev) {
		bg_err("%s was removed meanwhile (is `burstctl teardown` running?): try again",
		       path);
		close(fd);
		return -ESTALE;
	}
	*fdp = fd;
	return 0;
}

static int *desc_fd(struct bg_state *s, const struct map_desc *d)
{
	return (int *)((char *)s + d->fd_off);
}

static void pin_file(char *buf, size_t len, const char *pin_path, const char *name)
{
	snprintf(buf, len, "%s/%s", pin_path, name);
}

static void explain_eperm(const char *what)
{
	bg_err("%s: permission denied: burstgate needs root (CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN); run it with sudo",
	       what);
}

bool bg_bpffs_usable(const char *pin_path, char *parent, size_t len)
{
	struct statfs st;
	char *slash;

	snprintf(parent, len, "%s", pin_path);
	if (!strncmp(pin_path, BPFFS_ROOT "/", strlen(BPFFS_ROOT) + 1))
		return true; /* bg_bpffs_ensure mounts it when needed */
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	return statfs(parent, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

int bg_bpffs_ensure(const char *pin_path)
{
	struct statfs st;
	char parent[sizeof(((struct bg_state *)0)->pin_path)];
	char *slash;

	if (strncmp(pin_path, BPFFS_ROOT "/", strlen(BPFFS_ROOT) + 1) != 0) {
		/* A custom location: it must already be on a bpffs. */
		snprintf(parent, sizeof(parent), "%s", pin_path);
		slash = strrchr(parent, '/');
		if (slash && slash != parent)
			*slash = '\0';
		if (statfs(parent, &st) || st.f_type != BPF_FS_MAGIC) {
			bg_err("pin path %s: %s is not on a bpf filesystem (mount one: mount -t bpf bpf DIR)",
			       pin_path, parent);
			return -ENOTDIR;
		}
		return 0;
	}
	if (statfs(BPFFS_ROOT, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", BPFFS_ROOT, "bpf", 0, "mode=0700")) {
		int err = -errno;

		if (err == -EPERM)
			explain_eperm("mount bpffs at " BPFFS_ROOT);
		else
			bg_err("bpffs is not mounted at %s and mounting it failed: %s (try: mount -t bpf bpf %s)",
			       BPFFS_ROOT, strerror(-err), BPFFS_ROOT);
		return err;
	}
	/*
	 * `ip netns exec` remounts /sys, hiding the host's bpffs: state
	 * pinned under this fresh mount would vanish with the command.
	 */
	bg_warn("bpffs was not mounted at %s: mounted it. If you are inside `ip netns exec`, that mount is private to this command and the state will not last; use `nsenter --net=/run/netns/NAME burstctl ...` instead",
		BPFFS_ROOT);
	return 0;
}

static int check_owner(int dir_fd, const char *pin_path);

int bg_lock_nowait;

/* Open the pin folder, optionally locked for writing. */
static int open_dir(const char *pin_path, bool lock)
{
	/* O_NOFOLLOW: the folder itself, not where a planted symlink points */
	int fd = open(pin_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	if (lock && flock(fd, bg_lock_nowait ? LOCK_EX | LOCK_NB : LOCK_EX)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * Open one pinned map and check it is what this burstctl expects. Returns
 * the fd, -ENOENT if not pinned, or another -errno (message printed).
 */
static int open_pinned(const char *pin_path, const struct map_desc *d, struct bpf_map_info *info)
{
	char path[256];
	__u32 len = sizeof(*info);
	int fd;

	pin_file(path, sizeof(path), pin_path, d->name);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fd = -errno;
		if (fd == -EPERM || fd == -EACCES)
			explain_eperm(path);
		else if (fd != -ENOENT)
			bg_err("open pinned map %s: %s", path, strerror(-fd));
		return fd;
	}
	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len)) {
		int err = -errno;

		bg_err("inspect pinned map %s: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	if (info->type != d->type || info->key_size != d->key_size ||
	    info->value_size != d->value_size) {
		bg_err("pinned map %s was made by an incompatible burstgate (type %u, key %u B, value %u B; this build expects type %u, key %u B, value %u B): use the burstctl that made it, or remove the state with `burstctl teardown` (counters are lost)",
		       path, info->type, info->key_size, info->value_size, d->type, d->key_size,
		       d->value_size);
		close(fd);
		return -EPROTO;
	}
	return fd;
}

void bg_state_close(struct bg_state *s)
{
	size_t i;

	if (s->tats && s->tats != MAP_FAILED)
		munmap(s->tats, s->tats_len);
	s->tats = NULL;
	for (i = 0; i < N_MAPS; i++) {
		int *fd = desc_fd(s, &map_descs[i]);

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
	for (i = 0; i < N_OWN_MAPS; i++) {
		int *fd = desc_fd(s, &own_descs[i]);

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
	if (s->dir_fd >= 0)
		close(s->dir_fd); /* releases the flock */
	s->dir_fd = -1;
}

int bg_state_open(struct bg_state *s, const char *pin_path, int flags)
{
	struct bpf_map_info info;
	long page = sysconf(_SC_PAGESIZE);
	size_t i;
	int err;

	memset(s, 0, sizeof(*s));
	s->dir_fd = s->rec_fd = s->own_fd = -1;
	for (i = 0; i < N_MAPS; i++)
		*desc_fd(s, &map_descs[i]) = -1;
	if (strlen(pin_path) >= sizeof(s->pin_path) - 20) {
		bg_err("pin path %s: too long", pin_path);
		return -ENAMETOOLONG;
	}
	snprintf(s->pin_path, sizeof(s->pin_path), "%s", pin_path);

	s->dir_fd = open_dir(pin_path, flags & BG_OPEN_WRITE);
	if (s->dir_fd < 0) {
		err = s->dir_fd;
		if (err == -ENOENT)
			bg_err("no burstgate state at %s: create it with `burstctl setup` (or `burstctl attach DEV`)",
			       pin_path);
		else if (err == -EACCES || err == -EPERM)
			explain_eperm(pin_path);
		else
			bg_err("open %s: %s", pin_path, strerror(-err));
		goto fail;
	}
	err = check_owner(s->dir_fd, pin_path);
	if (err)
		goto fail;

	for (i = 0; i < N_MAPS; i++) {
		const struct map_desc *d = &map_descs[i];
		int fd = open_pinned(pin_path, d, &info);

		if (fd == -ENOENT) {
			bg_err("burstgate state at %s is incomplete (map %s missing): recreate it with `burstctl setup`",
			       pin_path, d->name);
			err = -ENOENT;
			goto fail;
		}
		if (fd < 0) {
			err = fd;
			goto fail;
		}
		*desc_fd(s, d) = fd;
		if (d->sizing == SZ_IDS && !s->max_ids)
			s->max_ids = info.max_entries;
		if (d->sizing == SZ_PFX && !s->max_pfx)
			s->max_pfx = info.max_entries;
	}

	for (i = 0; i < N_OWN_MAPS; i++) {
		int fd = open_pinned(pin_path, &own_descs[i], &info);

		if (fd < 0 && fd != -ENOENT) {
			err = fd;
			goto fail;
		}
		*desc_fd(s, &own_descs[i]) = fd < 0 ? -1 : fd;
	}

	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus < 1) {
		err = s->ncpus ? s->ncpus : -EINVAL;
		bg_err("count possible CPUs: %s", strerror(-err));
		goto fail;
	}

	s->tats_len = ((size_t)s->max_ids * sizeof(struct bg_id_state) + (size_t)page - 1) &
		      ~((size_t)page - 1);
	s->tats = mmap(NULL, s->tats_len, PROT_READ | PROT_WRITE, MAP_SHARED, s->state_fd, 0);
	if (s->tats == MAP_FAILED) {
		err = -errno;
		s->tats = NULL;
		bg_err("mmap bucket state %s/%s: %s", pin_path, BG_MAP_ID_STATE, strerror(-err));
		goto fail;
	}
	return 0;

fail:
	bg_state_close(s);
	return err;
}

/* Size every map of the object: from its pin if present, else as asked. */
static int size_maps(struct bpf_object *obj, const char *pin_path, __u32 max_ids, __u32 max_pfx,
		     int *n_pinned)
{
	struct bpf_map_info info;
	size_t i;
	int err;

	*n_pinned = 0;
	for (i = 0; i < N_MAPS; i++) {
		const struct map_desc *d = &map_descs[i];
		struct bpf_map *m = bpf_object__find_map_by_name(obj, d->name);
		__u32 want = d->sizing == SZ_IDS ? max_ids : d->sizing == SZ_PFX ? max_pfx : 0;
		int fd;

		if (!m) {
			bg_err("BPF object has no map %s: build is broken", d->name);
			return -ENOENT;
		}
		fd = open_pinned(pin_path, d, &info);
		if (fd >= 0) {
			want = info.max_entries;
			close(fd);
			(*n_pinned)++;
		} else if (fd != -ENOENT) {
			return fd;
		}
		if (want) {
			err = bpf_map__set_max_entries(m, want);
			if (err)
				return err;
		}
	}
	return 0;
}

/*
 * Open the embedded object with its maps pinned under pin_path and sized
 * (from the pins where they exist). *n_pinned counts the maps found pinned.
 */
static int open_object(const char *pin_path, __u32 max_ids, __u32 max_pfx, struct bg_xdp **skelp,
		       int *n_pinned)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_path);
	int err;

	*skelp = bg_xdp__open_opts(&opts);
	if (!*skelp) {
		err = -errno;
		bg_err("open embedded BPF object: %s", strerror(-err));
		return err;
	}
	err = size_maps((*skelp)->obj, pin_path, max_ids, max_pfx, n_pinned);
	if (err) {
		bg_xdp__destroy(*skelp);
		*skelp = NULL;
	}
	return err;
}

/* Create whatever maps are missing, by loading the object without programs. */
static int create_maps(const char *pin_path, __u32 max_ids, __u32 max_pfx)
{
	struct bg_xdp *skel;
	int err, n_pinned;

	err = open_object(pin_path, max_ids, max_pfx, &skel, &n_pinned);
	if (err)
		return err;
	bpf_program__set_autoload(skel->progs.bg_xdp, false);
	err = bg_xdp__load(skel);
	if (err) {
		if (err == -EPERM)
			explain_eperm("create maps");
		else
			bg_err("create maps in %s: %s (run with -v for libbpf's log)", pin_path,
			       strerror(-err));
	}
	bg_xdp__destroy(skel);
	return err;
}

/*
 * The policy record (bg_state.h): room for a token file per token and a
 * marker per identity, allocated as used (no prealloc).
 */
/* The maxima of the BPF map fd (for sizing ours after it), or dflt. */
static __u32 max_entries_of(int fd, __u32 dflt)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? dflt : info.max_entries;
}

/* burstctl's own maps that the state lacks (made before them, or new). */
static int create_own_maps(const struct bg_state *s)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);
	const __u32 sizes[N_OWN_MAPS] = {
		/* a record per token file and per identity, and the controller's */
		s->max_ids + max_entries_of(s->tokens_fd, BG_MAX_TOKENS_DEFAULT) + 16,
		/* an owner per bound flow */
		max_entries_of(s->flows_fd, BG_MAX_FLOWS_DEFAULT),
	};
	char path[256];
	size_t i;
	int fd, err = 0;

	for (i = 0; i < N_OWN_MAPS && !err; i++) {
		const struct map_desc *d = &own_descs[i];

		if (*(const int *)((const char *)s + d->fd_off) >= 0)
			continue;
		fd = bpf_map_create(d->type, d->name, d->key_size, d->value_size, sizes[i], &o);
		if (fd < 0) {
			err = -errno;
			bg_err("create map %s in %s: %s", d->name, s->pin_path, strerror(-err));
			return err;
		}
		pin_file(path, sizeof(path), s->pin_path, d->name);
		if (bpf_obj_pin(fd, path) && errno != EEXIST) {
			err = -errno;
			bg_err("pin %s: %s", path, strerror(-err));
		}
		close(fd);
	}
	return err;
}

/*
 * What the state itself needs in its maps: burstctl's own maps, the
 * global switches and the default identity. What the layers above keep in
 * them (the token secret, the prefix-map bits) is theirs: init, under the
 * same lock (bg_setup.c passes it).
 */
static int init_contents(const char *pin_path, bg_state_init_fn init)
{
	struct bg_state s;
	struct bg_global g = {};
	struct bg_id_cfg cfg = { .flags = BG_ID_F_IN_USE, .action = BG_ACT_ALLOW };
	struct bg_id_name key = { .name = BG_ID_DEFAULT_NAME };
	struct bg_id_meta meta = { .id = BG_ID_DEFAULT };
	__u32 id = BG_ID_DEFAULT;
	int err;

	/* The caller holds the lock; open without taking it again. */
	err = bg_state_open(&s, pin_path, BG_OPEN_READ);
	if (err)
		return err;
	if (s.rec_fd < 0 || s.own_fd < 0)
		err = create_own_maps(&s);
	if (!err)
		err = bg_global_get(&s, &g);
	if (!err && g.max_ids) {
		/* already initialised: only what the layers above re-derive */
		err = init ? init(&s, false) : 0;
		goto out;
	}
	if (err)
		goto out;

	g.max_ids = s.max_ids;
	g.next_id_hint = 1;
	meta.created_unix = (__u64)time(NULL);
	if (bpf_map_update_elem(s.cfg_fd, &id, &cfg, BPF_ANY) ||
	    bpf_map_update_elem(s.names_fd, &key, &meta, BPF_ANY) || bg_global_put(&s, &g)) {
		err = -errno;
		bg_err("initialise state in %s: %s", pin_path, strerror(-err));
	}
	if (!err && init)
		err = init(&s, true);
out:
	bg_state_close(&s);
	return err;
}

/*
 * /sys/fs/bpf is world-writable (sticky): anyone may create our folder
 * first and could then unlink the pins in it. Only use a folder that root
 * owns and no one else can write.
 */
static int check_owner(int dir_fd, const char *pin_path)
{
	struct stat st;

	if (fstat(dir_fd, &st))
		return -errno;
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		bg_err("pin folder %s is owned by uid %u with mode %03o, not root-only: someone else made it; remove it (rmdir %s) and try again",
		       pin_path, (unsigned int)st.st_uid, (unsigned int)(st.st_mode & 0777),
		       pin_path);
		return -EPERM;
	}
	return 0;
}

static int probe_mmapable(void);

int bg_state_create(const char *pin_path, __u32 max_ids, __u32 max_pfx, bg_state_init_fn init,
		    bool *created)
{
	struct bpf_map_info info;
	int dir_fd, err = 0, n_present = 0;
	__u32 have_ids = 0, have_pfx = 0;
	size_t i;

	if (created)
		*created = false;
	err = bg_bpffs_ensure(pin_path);
	if (err)
		return err;
	/* Before touching bpffs (it is world-writable): can we make maps at all? */
	if (probe_mmapable() == -EPERM) {
		explain_eperm("create state");
		return -EPERM;
	}
	if (mkdir(pin_path, 0700) && errno != EEXIST) {
		err = -errno;
		if (err == -EPERM || err == -EACCES)
			explain_eperm(pin_path);
		else
			bg_err("create %s: %s", pin_path, strerror(-err));
		return err;
	}
	dir_fd = open_dir(pin_path, true);
	if (dir_fd < 0) {
		if (dir_fd != -EWOULDBLOCK) /* bg_lock_nowait: the caller tries again */
			bg_err("lock %s: %s", pin_path, strerror(-dir_fd));
		return dir_fd;
	}
	err = check_owner(dir_fd, pin_path);
	if (err)
		goto out;

	for (i = 0; i < N_MAPS; i++) {
		int fd = open_pinned(pin_path, &map_descs[i], &info);

		if (fd == -ENOENT)
			continue;
		if (fd < 0) {
			err = fd;
			goto out;
		}
		close(fd);
		n_present++;
		if (map_descs[i].sizing == SZ_IDS)
			have_ids = info.max_entries;
		if (map_descs[i].sizing == SZ_PFX)
			have_pfx = info.max_entries;
	}
	if (n_present && ((max_ids && have_ids && max_ids != have_ids) ||
			  (max_pfx && have_pfx && max_pfx != have_pfx))) {
		bg_err("state at %s already exists with room for %u identities and %u prefixes per family; capacities are fixed at creation (remove it with `burstctl teardown` first; counters are lost)",
		       pin_path, have_ids, have_pfx);
		err = -EEXIST;
		goto out;
	}
	if (n_present < (int)N_MAPS) {
		err = create_maps(pin_path, max_ids ? max_ids : BG_MAX_IDS_DEFAULT,
				  max_pfx ? max_pfx : BG_MAX_PFX_DEFAULT);
		if (err)
			goto out;
		if (created)
			*created = n_present == 0;
	}
	err = init_contents(pin_path, init);
out:
	close(dir_fd);
	return err;
}

int bg_state_remove(const char *pin_path, int (*detach)(const char *pin_path))
{
	int lock_fds[sizeof(lock_dirs) / sizeof(lock_dirs[0])] = { -1, -1 };
	char path[256];
	int dir_fd, err = 0;
	size_t i;

	dir_fd = open_dir(pin_path, true);
	if (dir_fd < 0) {
		if (dir_fd == -ENOENT) /* the caller says what that means */
			return -ENOENT;
		bg_err("open %s: %s", pin_path, strerror(-dir_fd));
		return dir_fd;
	}
	/*
	 * A running controller or event reader would go on with maps that no
	 * longer exist (and a controller would re-attach on its next reload):
	 * refuse, and hold their locks to the end so neither starts mid-way.
	 */
	for (i = 0; i < sizeof(lock_dirs) / sizeof(lock_dirs[0]); i++) {
		pid_t holder;
		int r = bg_lock_take(pin_path, lock_dirs[i], &lock_fds[i], &holder);

		if (r == -EBUSY) {
			char who[32] = "";

			if (holder)
				snprintf(who, sizeof(who), " (pid %d)", (int)holder);
			bg_err("`burstctl %s`%s is running on %s: stop it first (e.g. `systemctl stop burstgate`), then tear down",
			       lock_dirs[i], who, pin_path);
			err = r;
			goto out;
		}
		if (r) {
			err = r; /* bg_lock_take said why */
			goto out;
		}
	}
	err = detach ? detach(pin_path) : 0;
	for (i = 0; i < N_MAPS + N_OWN_MAPS + N_EXTRA_PINS; i++) {
		pin_file(path, sizeof(path), pin_path,
			 i < N_MAPS		 ? map_descs[i].name :
			 i < N_MAPS + N_OWN_MAPS ? own_descs[i - N_MAPS].name :
						   extra_pins[i - N_MAPS - N_OWN_MAPS]);
		if (unlink(path) && errno != ENOENT) {
			err = -errno;
			bg_err("unpin %s: %s", path, strerror(-err));
		}
	}
	/*
	 * The lock folders last, still held: a serve or events starting now
	 * finds its folder gone under its flock and gives up (bg_lock_take).
	 */
	for (i = 0; i < sizeof(lock_dirs) / sizeof(lock_dirs[0]); i++) {
		pin_file(path, sizeof(path), pin_path, lock_dirs[i]);
		if (rmdir(path) && errno != ENOENT) {
			err = -errno;
			bg_err("remove %s: %s", path, strerror(-err));
		}
	}
	if (rmdir(pin_path) && errno != ENOENT) {
		err = -errno;
		bg_err("remove %s: %s (something else is pinned there)", pin_path, strerror(-err));
	}
out:
	for (i = 0; i < sizeof(lock_dirs) / sizeof(lock_dirs[0]); i++)
		if (lock_fds[i] >= 0)
			close(lock_fds[i]);
	close(dir_fd);
	return err;
}

int bg_prog_open(const char *pin_path, struct bg_xdp **skelp)
{
	struct bg_xdp *skel;
	int err, n_pinned;

	*skelp = NULL;
	err = open_object(pin_path, 0, 0, &skel, &n_pinned);
	if (err)
		return err;
	if (n_pinned != (int)N_MAPS) {
		bg_err("burstgate state at %s is incomplete: run `burstctl setup`", pin_path);
		bg_xdp__destroy(skel);
		return -ENOENT;
	}
	*skelp = skel;
	return 0;
}

int bg_prog_load_opened(struct bg_xdp *skel)
{
	int err = bg_xdp__load(skel);

	if (err) {
		struct bg_features f;
		const char *missing;

		bg_probe_features(&f);
		missing = bg_features_missing(&f);
		if (err == -EPERM)
			explain_eperm("load XDP program");
		else if (missing)
			bg_err("load XDP program: this kernel lacks %s; burstgate needs Linux " BG_KERNEL_MIN
			       " or later (`burstctl status` lists what it found)",
			       missing);
		else
			bg_err("load XDP program: %s (run with -v to see the verifier log)",
			       strerror(-err));
	}
	return err;
}

int bg_prog_load(const char *pin_path, struct bg_xdp **skelp)
{
	struct bg_xdp *skel;
	int err;

	*skelp = NULL;
	err = bg_prog_open(pin_path, &skel);
	if (err)
		return err;
	err = bg_prog_load_opened(skel);
	if (err) {
		bg_xdp__destroy(skel);
		return err;
	}
	*skelp = skel;
	return 0;
}

void bg_prog_free(struct bg_xdp *skel)
{
	bg_xdp__destroy(skel);
}

int bg_prog_fd(struct bg_xdp *skel)
{
	return bpf_program__fd(skel->progs.bg_xdp);
}

struct bpf_object *bg_prog_obj(struct bg_xdp *skel)
{
	return skel->obj;
}

struct bpf_program *bg_prog_bpf(struct bg_xdp *skel)
{
	return skel->progs.bg_xdp;
}

/* ---- Kernel feature probes ---- */

/*
 * Load a three-instruction XDP program that does a 64-bit compare-and-swap
 * on the stack. The verifier rejects the opcode on kernels before 5.12.
 */
int bg_probe_atomics(void)
{
	struct bpf_insn insns[] = {
		/* *(u64 *)(r10 - 8) = 0 */
		{ .code = BPF_ST | BPF_MEM | BPF_DW, .dst_reg = BPF_REG_10, .off = -8, .imm = 0 },
		/* r0 = 0; r1 = 1 */
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 1 },
		/* r0 = cmpxchg(r10 - 8, r0, r1) */
		{ .code = BPF_STX | BPF_ATOMIC | BPF_DW,
		  .dst_reg = BPF_REG_10,
		  .src_reg = BPF_REG_1,
		  .off = -8,
		  .imm = BPF_CMPXCHG },
		/* return XDP_PASS */
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd;

	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "bg_probe", "GPL", insns,
			   sizeof(insns) / sizeof(insns[0]), NULL);
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno == EPERM ? -EPERM : 0;
}

static int probe_mmapable(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_MMAPABLE);
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "bg_probe", 4, 8, 1, &o);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno == EPERM ? -EPERM : 0;
}

static int kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma, mi;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return -EINVAL;
	return ma > major || (ma == major && mi >= minor);
}

void bg_probe_features(struct bg_features *f)
{
	f->prog_xdp = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, NULL);
	f->map_lpm_trie = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_LPM_TRIE, NULL);
	f->map_percpu_array = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_PERCPU_ARRAY, NULL);
	f->map_mmapable = probe_mmapable();
	f->atomics = bg_probe_atomics();
	f->ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL);
	f->helper_loop = libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_loop, NULL);
	f->helper_load_bytes =
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_xdp_load_bytes, NULL);
	/* No side-effect-free probe for XDP links exists; they came in 5.9. */
	f->xdp_link = kernel_at_least(5, 9);
	f->btf_vmlinux = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	f->xdp_native_veth = bg_probe_veth_native();
}

const char *bg_features_missing(const struct bg_features *f)
{
	if (f->prog_xdp == 0)
		return "XDP programs";
	if (f->map_lpm_trie == 0)
		return "LPM trie maps";
	if (f->map_mmapable == 0)
		return "mmapable array maps (Linux 5.5)";
	if (f->ringbuf == 0)
		return "BPF ring buffers (Linux 5.8)";
	if (f->xdp_link == 0)
		return "BPF links for XDP (Linux 5.9)";
	if (f->atomics == 0)
		return "BPF atomic compare-and-swap (Linux 5.12)";
	if (f->helper_loop == 0)
		return "the bpf_loop helper (Linux 5.17)";
	if (f->helper_load_bytes == 0)
		return "the bpf_xdp_load_bytes helper (Linux 5.18)";
	return NULL;
}

/* ---- Small map helpers ---- */

int bg_percpu_sum(const struct bg_state *s, int fd, __u32 key, __u64 *sums, int nfields)
{
	size_t stride = ((size_t)nfields * sizeof(__u64) + 7) & ~(size_t)7;
	__u64 *vals;
	int cpu, i, err = 0;

	vals = calloc((size_t)s->ncpus, stride);
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &key, vals)) {
		err = -errno;
		goto out;
	}
	memset(sums, 0, (size_t)nfields * sizeof(__u64));
	for (cpu = 0; cpu < s->ncpus; cpu++) {
		const __u64 *v = (const __u64 *)((const char *)vals + cpu * stride);

		for (i = 0; i < nfields; i++)
			sums[i] += v[i];
	}
out:
	free(vals);
	return err;
}

int bg_percpu_zero(const struct bg_state *s, int fd, __u32 key, size_t value_size)
{
	size_t stride = (value_size + 7) & ~(size_t)7;
	void *vals = calloc((size_t)s->ncpus, stride);
	int err = 0;

	if (!vals)
		return -ENOMEM;
	if (bpf_map_update_elem(fd, &key, vals, BPF_ANY))
		err = -errno;
	free(vals);
	return err;
}

int bg_counters_read(const struct bg_state *s, struct bg_counters *out)
{
	return bg_percpu_sum(s, s->counters_fd, 0, out->c, BG_C_MAX);
}

int bg_global_get(const struct bg_state *s, struct bg_global *g)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(s->global_fd, &zero, g))
		return -errno;
	return 0;
}

int bg_global_put(const struct bg_state *s, const struct bg_global *g)
{
	struct bg_global cur, v = *g;
	__u32 zero = 0;

	/* pfx_maps belongs to bg_prefix_flags_*(): a stale copy must not win */
	if (bpf_map_lookup_elem(s->global_fd, &zero, &cur) == 0)
		v.pfx_maps = cur.pfx_maps;
	if (bpf_map_update_elem(s->global_fd, &zero, &v, BPF_ANY))
		return -errno;
	return 0;
}

void (*bg_fault_hook)(const char *what);

int bg_map_read_all(int fd, size_t ksz, size_t vsz, void **keysp, void **valsp, size_t *np)
{
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	size_t n = 0, cap = 0, chunk = 1024;
	char *keys = NULL, *vals = NULL, *tmp;
	/*
	 * The batch cursor: a bucket number for hash maps, a key for the
	 * others (arrays, tries: the kernel's generic batch): room for either.
	 */
	__u64 in[8] = {}, out[8] = {};
	bool first = true, batch = ksz <= sizeof(in);
	int err = 0;

	*keysp = *valsp = NULL;
	*np = 0;
	for (;;) {
		__u32 count = (__u32)chunk;

		if (n + chunk > cap) {
			cap = n + chunk;
			tmp = realloc(keys, cap * ksz);
			if (!tmp)
				goto nomem;
			keys = tmp;
			tmp = realloc(vals, cap * vsz);
			if (!tmp)
				goto nomem;
			vals = tmp;
		}
		if (!batch) {
			/* element by element: next key after the last one read */
			if (bpf_map_get_next_key(fd, n ? keys + (n - 1) * ksz : NULL,
						 keys + n * ksz))
				break;
			if (!bpf_map_lookup_elem(fd, keys + n * ksz, vals + n * vsz))
				n++;
			continue;
		}
		err = bpf_map_lookup_batch(fd, first ? NULL : in, out, keys + n * ksz,
					   vals + n * vsz, &count, &o) ?
			      -errno :
			      0;
		if (err == -ENOSPC && chunk < (1U << 20)) {
			chunk *= 2; /* one bucket holds more than a batch: retry wider */
			continue;
		}
		if (first && err && err != -ENOENT) {
			batch = false; /* no batch for this map type here */
			continue;
		}
		if (err && err != -ENOENT)
			goto fail;
		n += count;
		if (err == -ENOENT)
			break; /* the last batch */
		memcpy(in, out, sizeof(in));
		first = false;
	}
	*keysp = keys;
	*valsp = vals;
	*np = n;
	return 0;
nomem:
	err = -ENOMEM;
fail:
	free(keys);
	free(vals);
	return err;
}
