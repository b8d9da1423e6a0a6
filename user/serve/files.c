// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Following files: the policy and its token files, by inotify on their
 * folders (editors, secret managers and Kubernetes replace files by
 * renaming over them, or swap a symlink). A change asks policy.c for a
 * reload; a folder that goes away is watched for again at every tick.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve.h"

/*
 * A file is complete when it is closed after writing or renamed into place.
 * IN_CREATE counts only for a symlink (created whole): a regular file just
 * created is still empty, and reading it then could apply half a policy.
 * IN_DELETE is only logged: the policy in force stays until a new file is.
 */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE)

/*
 * What a file is now, following symlinks. A change of a file reached
 * through a symlink (a Kubernetes ConfigMap swaps its "..data" link; a
 * deploy tool repoints "current") shows in the folder as an event under
 * another name: comparing this says whether it was the file's.
 */
struct file_sig {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	bool ok;
};

/* A token file's folder and name, watched for changes (wd -1: watch lost). */
struct tf_watch {
	int wd;
	char dir[PATH_MAX]; /* the folder watched: the file's own, or its real one */
	char name[NAME_MAX + 1]; /* the name in it */
	char path[BG_POL_PATH_LEN]; /* the token file, as the policy names it */
	struct file_sig sig; /* what path led to when last looked at */
	bool real; /* the folder a symlink led to (made again at every apply) */
};

struct serve_files {
	struct serve *sv;
	int ino_fd;
	struct loop_src ino_src;
	char policy_dir[PATH_MAX];
	char policy_base[NAME_MAX + 1];
	int policy_wd;
	/* the policy's own folder when the path is a symlink to another one */
	int target_wd;
	char target_dir[PATH_MAX];
	char target_base[NAME_MAX + 1];
	struct file_sig policy_sig; /* when the policy was last read */
	struct tf_watch *tfw;
	size_t ntfw;
	bool tfw_lost; /* a token file's folder watch went away: re-made at a tick */
	bool tfw_rebuild; /* a symlink's real folder went away: resolve them again */
	bool changed_token_file; /* what the pending reload is for */
	char changed[BG_POL_PATH_LEN];
};

static struct file_sig file_sig(const char *path)
{
	struct file_sig g = {};
	struct stat st;

	if (stat(path, &st))
		return g;
	g = (struct file_sig){ st.st_dev, st.st_ino, st.st_size, st.st_mtim, true };
	return g;
}

static bool sig_changed(const struct file_sig *a, const struct file_sig *b)
{
	return a->ok != b->ok || a->dev != b->dev || a->ino != b->ino || a->size != b->size ||
	       a->mtime.tv_sec != b->mtime.tv_sec || a->mtime.tv_nsec != b->mtime.tv_nsec;
}

/*
 * Does event e, in folder dir, say that path changed? The entry it names
 * is path's own (name): yes, unless a regular file was just created there
 * (see WATCH_MASK) or it was deleted. Another entry: if what path leads to
 * is no longer what it was (*last, updated so each change counts once).
 */
static bool file_event(const struct inotify_event *e, const char *dir, const char *path,
		       const char *name, struct file_sig *last)
{
	char entry[PATH_MAX + NAME_MAX + 2];
	struct file_sig now;
	struct stat st;

	if (!strcmp(e->name, name)) {
		if (e->mask & IN_DELETE)
			return false; /* nothing to read: what is in force stays (on_inotify logs it) */
		if (!(e->mask & IN_CREATE))
			return true;
		/* the entry created, not path: path may be a symlink to it */
		snprintf(entry, sizeof(entry), "%s/%s", dir, e->name);
		return !lstat(entry, &st) && S_ISLNK(st.st_mode);
	}
	now = file_sig(path);
	if (!sig_changed(&now, last))
		return false;
	*last = now;
	return true;
}

/* Is wd used by a token file's watch? (wds are per folder: shared) */
static bool wd_in_use(const struct serve_files *f, int wd)
{
	size_t i;

	for (i = 0; i < f->ntfw; i++)
		if (f->tfw[i].wd == wd)
			return true;
	return false;
}

/* Before the policy is read: what it is now, and watch its real folder too. */
void files_note_policy(struct serve *sv)
{
	struct serve_files *f = sv->files;
	char real[PATH_MAX], dir[PATH_MAX], base[PATH_MAX];

	f->policy_sig = file_sig(sv->policy_path);
	if (!realpath(sv->policy_path, real))
		return; /* gone: the folder's own watch sees it come back */
	snprintf(dir, sizeof(dir), "%s", real);
	snprintf(base, sizeof(base), "%s", real);
	if (!strcmp(dirname(dir), f->target_dir)) {
		snprintf(f->target_base, sizeof(f->target_base), "%s", basename(base));
		return; /* the same folder (maybe another name in it) */
	}
	/* a folder no longer in the way: its events would only cause reloads */
	if (f->target_wd >= 0 && f->target_wd != f->policy_wd && !wd_in_use(f, f->target_wd))
		inotify_rm_watch(f->ino_fd, f->target_wd);
	f->target_wd = -1;
	f->target_dir[0] = '\0';
	if (!strcmp(dir, f->policy_dir))
		return; /* in the policy's own folder: its watch sees it */
	snprintf(f->target_dir, sizeof(f->target_dir), "%s", dir);
	snprintf(f->target_base, sizeof(f->target_base), "%s", basename(base));
	f->target_wd = inotify_add_watch(f->ino_fd, f->target_dir, WATCH_MASK);
	if (f->target_wd < 0) {
		slog(sv, LOG_WARNING_,
		     "%s leads to %s: cannot watch its folder (%s); a change made there is seen only with SIGHUP",
		     sv->policy_path, real, strerror(errno));
		f->target_dir[0] = '\0';
	}
}

/* A watch removed by the kernel: its folder was deleted or unmounted. */
static void watch_gone(struct serve_files *f, int wd)
{
	size_t i;

	if (wd == f->policy_wd) {
		slog(f->sv, LOG_WARNING_,
		     "%s: the folder is gone; still enforcing the last policy, watching for it to come back",
		     f->policy_dir);
		f->policy_wd = -1;
	}
	if (wd == f->target_wd) {
		f->target_wd = -1;
		f->target_dir[0] = '\0';
	}
	for (i = 0; i < f->ntfw; i++)
		if (f->tfw[i].wd == wd && f->tfw[i].real) {
			/* kubelet removes the old ..2026_* folder after a swap */
			f->tfw[i].wd = -1;
			f->tfw_rebuild = true;
		} else if (f->tfw[i].wd == wd) {
			slog(f->sv, LOG_WARNING_,
			     "token file %s: its folder %s is gone; its tokens stay in force, watching for it to come back",
			     f->tfw[i].path, f->tfw[i].dir);
			f->tfw[i].wd = -1;
			f->tfw_lost = true;
		}
}

static void on_inotify(void *arg, __u32 events)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct serve_files *f = arg;
	struct serve *sv = f->sv;
	const struct inotify_event *e;
	bool hit = false, tok = false;
	ssize_t n;
	char *p;
	size_t i;

	(void)events;
	while ((n = read(f->ino_fd, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + n; p += sizeof(*e) + e->len) {
			e = (const struct inotify_event *)p;
			if (e->mask & IN_Q_OVERFLOW) {
				/* events were lost: reload (an unchanged policy changes nothing) */
				slog(sv, LOG_INFO_,
				     "file watch: events lost (queue full): reloading to be sure");
				hit = true;
				continue;
			}
			if (e->mask & IN_IGNORED) {
				watch_gone(f, e->wd);
				continue;
			}
			if (!e->len)
				continue;
			if ((e->mask & IN_DELETE) && e->wd == f->policy_wd &&
			    !strcmp(e->name, f->policy_base))
				slog(sv, LOG_WARNING_,
				     "%s was deleted: still enforcing the last policy applied, until a new one is written there",
				     sv->policy_path);
			for (i = 0; i < f->ntfw; i++)
				if ((e->mask & IN_DELETE) && e->wd == f->tfw[i].wd &&
				    !strcmp(e->name, f->tfw[i].name))
					slog(sv, LOG_WARNING_,
					     "token file %s was deleted: its tokens stay in force until it is written again or the policy no longer names it",
					     f->tfw[i].path);
			if ((e->wd == f->policy_wd && file_event(e, f->policy_dir, sv->policy_path,
								 f->policy_base, &f->policy_sig)) ||
			    (e->wd == f->target_wd && file_event(e, f->target_dir, sv->policy_path,
								 f->target_base, &f->policy_sig))) {
				hit = true;
				tok = false;
				continue;
			}
			for (i = 0; i < f->ntfw; i++) {
				if (e->wd != f->tfw[i].wd ||
				    !file_event(e, f->tfw[i].dir, f->tfw[i].path, f->tfw[i].name,
						&f->tfw[i].sig))
					continue;
				/* a token file: rotation reloads too */
				if (!hit)
					tok = true;
				hit = true;
				snprintf(f->changed, sizeof(f->changed), "%s", f->tfw[i].path);
				break;
			}
		}
	}
	if (hit) {
		f->changed_token_file = tok;
		policy_reload_soon(sv); /* re-arming restarts the wait */
	}
}

bool files_reload_cause(struct serve *sv, struct bg_audit_who *who)
{
	struct serve_files *f = sv->files;
	struct stat st;

	if (stat(sv->policy_path, &st)) {
		slog(sv, LOG_WARNING_, "%s is gone: still enforcing the last policy applied",
		     sv->policy_path);
		return false;
	}
	who->uid = st.st_uid; /* the best a file change can tell: its owner */
	if (f->changed_token_file)
		slog(sv, LOG_INFO_, "token file %s changed: reloading %s", f->changed,
		     sv->policy_path);
	else
		slog(sv, LOG_INFO_, "%s changed: reloading", sv->policy_path);
	return true;
}

/* At a tick: watches lost with their folder, made again once it is back. */
static void rewatch(void *arg)
{
	struct serve_files *f = arg;
	struct serve *sv = f->sv;

	if (f->policy_wd < 0) {
		f->policy_wd = inotify_add_watch(f->ino_fd, f->policy_dir, WATCH_MASK);
		if (f->policy_wd >= 0) {
			slog(sv, LOG_INFO_, "%s: the folder is back: watching it again",
			     f->policy_dir);
			f->changed_token_file = false;
			policy_reload_soon(sv);
		}
	}
	if (f->tfw_rebuild && sv->have_pol) {
		f->tfw_rebuild = false;
		files_watch_tokens(sv, &sv->pol, false); /* every realpath() again */
	}
	if (f->tfw_lost) {
		size_t i;

		f->tfw_lost = false;
		for (i = 0; i < f->ntfw; i++) {
			if (f->tfw[i].wd >= 0 || f->tfw[i].real)
				continue;
			f->tfw[i].wd = inotify_add_watch(f->ino_fd, f->tfw[i].dir, WATCH_MASK);
			if (f->tfw[i].wd < 0) {
				f->tfw_lost = true; /* still gone: the next tick tries again */
				continue;
			}
			slog(sv, LOG_INFO_, "token file %s: its folder is back: watching it again",
			     f->tfw[i].path);
			snprintf(f->changed, sizeof(f->changed), "%s", f->tfw[i].path);
			f->changed_token_file = true;
			policy_reload_soon(sv);
		}
	}
}

/* One watch: the folder of path, for its last component. false: not made. */
static bool watch_one(struct serve_files *f, struct tf_watch *w, const char *path)
{
	char dir[PATH_MAX], base[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	snprintf(w->dir, sizeof(w->dir), "%s", dirname(dir));
	snprintf(w->name, sizeof(w->name), "%s", basename(base));
	w->wd = inotify_add_watch(f->ino_fd, w->dir, WATCH_MASK);
	return w->wd >= 0;
}

/*
 * Watch the folders of the token files (editors and secret managers
 * replace files by renaming over them): those of the policy applied, after
 * every apply; with add, also those of a policy refused for a token file.
 */
void files_watch_tokens(struct serve *sv, const struct bg_policy *p, bool add)
{
	struct serve_files *f = sv->files;
	char real[PATH_MAX];
	struct tf_watch *v;
	size_t i, j, n = 0;

	if (!add) {
		for (i = 0; i < f->ntfw; i++)
			if (f->tfw[i].wd >= 0 && f->tfw[i].wd != f->policy_wd &&
			    f->tfw[i].wd != f->target_wd) /* EINVAL if shared: fine */
				inotify_rm_watch(f->ino_fd, f->tfw[i].wd);
		f->ntfw = 0;
	}
	/* two per file: its folder, and its real folder if it is a symlink */
	v = realloc(f->tfw, (f->ntfw + 2 * p->ntoken_files + 1) * sizeof(*v));
	if (!v)
		return;
	n = f->ntfw;
	for (i = 0; i < p->nids; i++) {
		for (j = 0; j < p->ids[i].ntoken_files; j++) {
			const char *path = p->ids[i].token_files[j].path;

			snprintf(v[n].path, sizeof(v[0].path), "%s", path);
			v[n].sig = file_sig(path);
			v[n].real = false;
			if (!watch_one(f, &v[n], path)) {
				slog(sv, LOG_WARNING_,
				     "token file %s: cannot watch its folder (%s): trying again every tick; until then reload with SIGHUP after changing it",
				     path, strerror(errno));
				f->tfw_lost = true; /* kept with wd -1: rewatch() retries */
			}
			n++;
			if (v[n - 1].wd < 0 || !realpath(path, real) || !strcmp(real, path))
				continue;
			v[n] = v[n - 1];
			v[n].real = true;
			if (watch_one(f, &v[n], real) && v[n].wd != v[n - 1].wd)
				n++; /* events there under the real name, for the same path */
		}
	}
	f->tfw = v;
	f->ntfw = n;
}

int files_start(struct serve *sv)
{
	struct serve_files *f = calloc(1, sizeof(*f));
	char tmp[PATH_MAX];
	int ret;

	if (!f)
		return -ENOMEM;
	sv->files = f;
	f->sv = sv;
	f->ino_fd = f->policy_wd = f->target_wd = -1;
	snprintf(tmp, sizeof(tmp), "%s", sv->policy_path);
	snprintf(f->policy_dir, sizeof(f->policy_dir), "%s", dirname(tmp));
	snprintf(tmp, sizeof(tmp), "%s", sv->policy_path);
	snprintf(f->policy_base, sizeof(f->policy_base), "%s", basename(tmp));
	f->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (f->ino_fd < 0)
		return -errno;
	/* The folder, not the file: editors replace files by renaming over them. */
	f->policy_wd = inotify_add_watch(f->ino_fd, f->policy_dir, WATCH_MASK);
	if (f->policy_wd < 0)
		return -errno;
	files_note_policy(sv);
	f->ino_src = (struct loop_src){ f->ino_fd, on_inotify, f };
	ret = loop_add(&sv->loop, &f->ino_src);
	return ret ? ret : loop_on_tick(&sv->loop, rewatch, f);
}

void files_stop(struct serve *sv)
{
	struct serve_files *f = sv->files;

	if (!f)
		return;
	free(f->tfw);
	if (f->ino_fd >= 0)
		close(f->ino_fd);
	free(f);
	sv->files = NULL;
}
