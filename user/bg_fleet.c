// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Fleet mode, host side: demand, shares, modes, and the pinned records (bg_fleet.h). */
#include "bg_fleet.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bg_log.h"

static const char *const mode_names[BG_FLEET_MODE_MAX] = {
	[BG_FLEET_NONE] = "local", [BG_FLEET_LEASE] = "lease", [BG_FLEET_HELD] = "held",
	[BG_FLEET_SAFE] = "safe",  [BG_FLEET_OPEN] = "open",
};

const char *bg_fleet_mode_name(__u32 mode)
{
	return mode < BG_FLEET_MODE_MAX ? mode_names[mode] : "?";
}

/* units over dt_ns against a rate of per_s units per second, in ppm */
static __u64 ratio_ppm(__u64 units, __u64 dt_ns, __u64 per_s)
{
	double r = (double)units * 1e9 / (double)dt_ns / (double)per_s * BG_FLEET_PPM;

	return r > 1e15 ? (__u64)1e15 : (__u64)r;
}

__u64 bg_fleet_demand_ppm(const struct bg_limits *g, __u64 pkts, __u64 bytes, __u64 dt_ns)
{
	__u64 p = 0, b = 0;

	if (!dt_ns)
		return 0;
	if (g->rate_pps)
		p = ratio_ppm(pkts, dt_ns, g->rate_pps);
	if (g->byte_rate_bits)
		b = ratio_ppm(bytes * 8, dt_ns, g->byte_rate_bits);
	return p > b ? p : b;
}

/* v * share, rounded down, at least min */
static __u64 part(__u64 v, __u32 share_ppm, __u64 min)
{
	__u64 r = (__u64)((double)v * share_ppm / BG_FLEET_PPM);

	if (share_ppm >= BG_FLEET_PPM)
		return v;
	return r < min ? min : r;
}

void bg_fleet_limits(const struct bg_limits *g, __u32 share_ppm, struct bg_limits *out)
{
	*out = *g;
	if (g->rate_pps) {
		out->rate_pps = part(g->rate_pps, share_ppm, 1);
		out->burst_pkts = part(g->burst_pkts, share_ppm, 1);
	}
	if (g->byte_rate_bits) {
		out->byte_rate_bits = part(g->byte_rate_bits, share_ppm, 8);
		out->burst_bytes = part(g->burst_bytes, share_ppm, 64); /* the smallest frame */
	}
}

__u32 bg_fleet_safe_ppm(__u32 members)
{
	return BG_FLEET_PPM / (members ? members : 1);
}

void bg_fleet_on_lease(struct bg_fleet_rec *r, __u32 share_ppm, __u32 members, __u32 lease_ms,
		       __u64 now_ms)
{
	if (r->mode != BG_FLEET_LEASE)
		r->mode_since_ms = now_ms;
	r->mode = BG_FLEET_LEASE;
	r->share_ppm = r->lease_ppm = share_ppm > BG_FLEET_PPM ? BG_FLEET_PPM : share_ppm;
	r->members = members;
	r->lease_ms = now_ms;
	r->hold_ms = now_ms + 2ULL * lease_ms;
}

static void down_mode(const struct bg_fleet_cfg *c, struct bg_fleet_rec *r, __u32 *mode,
		      __u32 *share)
{
	if (c->on_down == BG_FLEET_DOWN_OPEN) {
		*mode = BG_FLEET_OPEN;
		*share = BG_FLEET_PPM;
	} else {
		*mode = BG_FLEET_SAFE;
		*share = bg_fleet_safe_ppm(r->members ? r->members : c->hosts);
	}
}

bool bg_fleet_age(const struct bg_fleet_cfg *c, struct bg_fleet_rec *r, bool engine_ok,
		  __u64 now_ms)
{
	__u32 mode, share;
	bool changed;

	if ((r->mode == BG_FLEET_LEASE || r->mode == BG_FLEET_HELD) && now_ms < r->hold_ms) {
		share = r->lease_ppm;
		mode = engine_ok && now_ms < r->lease_ms + c->lease_ms ? BG_FLEET_LEASE :
									 BG_FLEET_HELD;
	} else {
		down_mode(c, r, &mode, &share);
	}
	changed = share != r->share_ppm;
	if (mode != r->mode)
		r->mode_since_ms = now_ms;
	r->mode = mode;
	r->share_ppm = share;
	return changed;
}

void bg_fleet_start(const struct bg_fleet_cfg *c, struct bg_fleet_rec *r, __u32 members,
		    __u64 now_ms)
{
	r->members = members;
	r->lease_ppm = 0;
	r->lease_ms = r->hold_ms = 0;
	r->mode_since_ms = now_ms;
	down_mode(c, r, &r->mode, &r->share_ppm);
}

__u64 bg_fleet_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

/* ---- The pinned maps ---- */

static int open_or_create(const struct bg_state *s, const char *name, enum bpf_map_type type,
			  __u32 ksz, __u32 vsz, __u32 max, __u32 flags, bool create)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[256];
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", s->pin_path, name);
	fd = bpf_obj_get(path);
	if (fd < 0 && (errno != ENOENT || !create))
		return -errno;
	if (fd >= 0) {
		if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.key_size != ksz ||
		    info.value_size != vsz) {
			bg_err("pinned map %s was made by an incompatible burstgate (key %u B, value %u B; this build expects %u and %u): remove it (rm %s) and restart the controller",
			       path, info.key_size, info.value_size, ksz, vsz, path);
			close(fd);
			return -EPROTO;
		}
		return fd;
	}
	fd = bpf_map_create(type, name, ksz, vsz, max, &o);
	if (fd < 0) {
		err = -errno;
		bg_err("create map %s in %s: %s", name, s->pin_path, strerror(-err));
		return err;
	}
	if (bpf_obj_pin(fd, path) && errno != EEXIST) {
		err = -errno;
		bg_err("pin %s: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

int bg_fleet_maps_open(const struct bg_state *s, bool create, int *rec_fd, int *host_fd)
{
	*rec_fd = open_or_create(s, BG_MAP_FLEET, BPF_MAP_TYPE_HASH, sizeof(struct bg_id_name),
				 sizeof(struct bg_fleet_rec), s->max_ids + 1, BPF_F_NO_PREALLOC,
				 create);
	if (*rec_fd < 0)
		return *rec_fd;
	*host_fd = open_or_create(s, BG_MAP_FLEET_HOST, BPF_MAP_TYPE_ARRAY, sizeof(__u32),
				  sizeof(struct bg_fleet_host), 1, 0, create);
	if (*host_fd < 0) {
		int err = *host_fd;

		close(*rec_fd);
		*rec_fd = -1;
		return err;
	}
	return 0;
}

static void key_of(const char *name, struct bg_id_name *k)
{
	memset(k, 0, sizeof(*k));
	strncpy(k->name, name, sizeof(k->name) - 1);
}

int bg_fleet_rec_get(int fd, const char *name, struct bg_fleet_rec *r)
{
	struct bg_id_name k;

	key_of(name, &k);
	return bpf_map_lookup_elem(fd, &k, r) ? -errno : 0;
}

int bg_fleet_rec_put(int fd, const char *name, const struct bg_fleet_rec *r)
{
	struct bg_id_name k;

	key_of(name, &k);
	return bpf_map_update_elem(fd, &k, r, BPF_ANY) ? -errno : 0;
}

int bg_fleet_rec_del(int fd, const char *name)
{
	struct bg_id_name k;

	key_of(name, &k);
	return bpf_map_delete_elem(fd, &k) && errno != ENOENT ? -errno : 0;
}

int bg_fleet_host_get(int fd, struct bg_fleet_host *h)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(fd, &k, h) ? -errno : 0;
}

int bg_fleet_host_put(int fd, const struct bg_fleet_host *h)
{
	__u32 k = 0;

	return bpf_map_update_elem(fd, &k, h, BPF_ANY) ? -errno : 0;
}

int bg_fleet_rec_list(int fd, char (**names)[BG_NAME_LEN], struct bg_fleet_rec **recs, size_t *n)
{
	void *keys = NULL, *vals = NULL;
	int err;

	err = bg_map_read_all(fd, sizeof(struct bg_id_name), sizeof(struct bg_fleet_rec), &keys,
			      &vals, n);
	if (err)
		return err;
	*names = keys; /* struct bg_id_name is one char[BG_NAME_LEN] */
	*recs = vals;
	return 0;
}

int bg_fleet_read(const struct bg_state *s, char (**names)[BG_NAME_LEN], struct bg_fleet_rec **recs,
		  size_t *n, struct bg_fleet_host *host)
{
	int rec_fd, host_fd, err;

	*names = NULL;
	*recs = NULL;
	*n = 0;
	memset(host, 0, sizeof(*host));
	err = bg_fleet_maps_open(s, false, &rec_fd, &host_fd);
	if (err)
		return err == -ENOENT ? 0 : err;
	bg_fleet_host_get(host_fd, host);
	err = bg_fleet_rec_list(rec_fd, names, recs, n);
	close(rec_fd);
	close(host_fd);
	return err;
}

const struct bg_fleet_rec *bg_fleet_find(char (*names)[BG_NAME_LEN],
					 const struct bg_fleet_rec *recs, size_t n,
					 const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return &recs[i];
	return NULL;
}
