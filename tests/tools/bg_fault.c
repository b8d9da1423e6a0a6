// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The fault hook of .output/tests/burstctl-fault: burstctl linked with this
 * file and `-Wl,--wrap=` for every libbpf call that writes a map, so that
 * each write the process makes goes through write_point() first. The
 * release burstctl has none of it.
 *
 *   BG_FAULT_KILL_AT=N   SIGKILL the process just before its N-th write
 *                        (1-based): what a `kill -9` (or the OOM killer, or
 *                        a power cut as far as the maps are concerned) does
 *                        between two writes. N beyond the last write: the
 *                        command runs to its end.
 *   BG_FAULT_TRACE=FILE  append one line per write: "N what map".
 *
 * A SIGKILL cannot stop a bpf() system call halfway (a batch update runs
 * to its end in the kernel), so the points between two calls are every
 * point a kill can hit. Writes through a map's mmap (no system call) call
 * bg_fault_hook, which this file sets.
 */
#include <bpf/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "bg_state.h"

static long kill_at = -1;
static long writes;
static FILE *trace;

static void write_point(const char *what, int fd)
{
	writes++;
	if (trace) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			info.name[0] = '\0';
		fprintf(trace, "%ld %s %s\n", writes, what, fd < 0 ? "mmap" : info.name);
		fflush(trace);
	}
	if (writes == kill_at)
		raise(SIGKILL);
}

static void mmap_point(const char *what)
{
	write_point(what, -1);
}

__attribute__((constructor)) static void fault_init(void)
{
	const char *at = getenv("BG_FAULT_KILL_AT"), *path = getenv("BG_FAULT_TRACE");

	if (at)
		kill_at = strtol(at, NULL, 10);
	if (path)
		trace = fopen(path, "a");
	bg_fault_hook = mmap_point;
}

int __real_bpf_map_update_elem(int fd, const void *key, const void *value, __u64 flags);
int __real_bpf_map_delete_elem(int fd, const void *key);
int __real_bpf_map_update_batch(int fd, const void *keys, const void *values, __u32 *count,
				const struct bpf_map_batch_opts *opts);
int __real_bpf_map_delete_batch(int fd, const void *keys, __u32 *count,
				const struct bpf_map_batch_opts *opts);

int __wrap_bpf_map_update_elem(int fd, const void *key, const void *value, __u64 flags);
int __wrap_bpf_map_delete_elem(int fd, const void *key);
int __wrap_bpf_map_update_batch(int fd, const void *keys, const void *values, __u32 *count,
				const struct bpf_map_batch_opts *opts);
int __wrap_bpf_map_delete_batch(int fd, const void *keys, __u32 *count,
				const struct bpf_map_batch_opts *opts);

int __wrap_bpf_map_update_elem(int fd, const void *key, const void *value, __u64 flags)
{
	write_point("update", fd);
	return __real_bpf_map_update_elem(fd, key, value, flags);
}

int __wrap_bpf_map_delete_elem(int fd, const void *key)
{
	write_point("delete", fd);
	return __real_bpf_map_delete_elem(fd, key);
}

int __wrap_bpf_map_update_batch(int fd, const void *keys, const void *values, __u32 *count,
				const struct bpf_map_batch_opts *opts)
{
	write_point("update_batch", fd);
	return __real_bpf_map_update_batch(fd, keys, values, count, opts);
}

int __wrap_bpf_map_delete_batch(int fd, const void *keys, __u32 *count,
				const struct bpf_map_batch_opts *opts)
{
	write_point("delete_batch", fd);
	return __real_bpf_map_delete_batch(fd, keys, count, opts);
}
