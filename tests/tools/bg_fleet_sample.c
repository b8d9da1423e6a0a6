// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bg-fleet-sample: the fleet test's clock on the hosts' counters. Opens the
 * state of every host given (read only) and, every --interval-ms until
 * --duration seconds or SIGTERM, prints one line: the time before and after
 * the reads (CLOCK_REALTIME, s), then passed and dropped packets of the
 * identity on each host. The reads of one round take microseconds, so a
 * window between two rounds is known to within a few of them.
 *
 *   bg-fleet-sample --identity NAME [--interval-ms MS] [--duration S] PIN...
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bg_identity.h"
#include "bg_state.h"

#define MAX_HOSTS 8

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "identity", required_argument, NULL, 'i' },
					    { "interval-ms", required_argument, NULL, 'm' },
					    { "duration", required_argument, NULL, 'd' },
					    { NULL, 0, NULL, 0 } };
	struct bg_state s[MAX_HOSTS];
	__u32 slot[MAX_HOSTS];
	const char *name = NULL;
	long interval_ms = 100;
	double duration = 300, t_end;
	int n = 0, i, c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'i')
			name = optarg;
		else if (c == 'm')
			interval_ms = atol(optarg);
		else if (c == 'd')
			duration = atof(optarg);
		else
			return 2;
	}
	if (!name || optind >= argc || argc - optind > MAX_HOSTS || interval_ms < 1) {
		fprintf(stderr,
			"usage: bg-fleet-sample --identity NAME [--interval-ms MS] [--duration S] PIN...\n");
		return 2;
	}
	for (; optind < argc; optind++, n++) {
		struct bg_identity id;

		if (bg_state_open(&s[n], argv[optind], BG_OPEN_READ) ||
		    bg_identity_get(&s[n], name, &id)) {
			fprintf(stderr, "bg-fleet-sample: %s: no identity %s\n", argv[optind],
				name);
			return 1;
		}
		slot[n] = id.id;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	setvbuf(stdout, NULL, _IOLBF, 0);
	t_end = now_s() + duration;
	while (!stop && now_s() < t_end) {
		struct bg_id_stats st[MAX_HOSTS];
		double t0 = now_s(), t1;

		for (i = 0; i < n; i++)
			if (bg_percpu_sum(&s[i], s[i].stats_fd, slot[i], (__u64 *)&st[i], 6))
				memset(&st[i], 0, sizeof(st[i]));
		t1 = now_s();
		printf("%.6f %.6f", t0, t1);
		for (i = 0; i < n; i++)
			printf(" %llu %llu", (unsigned long long)st[i].passed_pkts,
			       (unsigned long long)st[i].dropped_pkts);
		printf("\n");
		usleep((useconds_t)interval_ms * 1000);
	}
	for (i = 0; i < n; i++)
		bg_state_close(&s[i]);
	return 0;
}
