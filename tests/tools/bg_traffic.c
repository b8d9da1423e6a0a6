// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bg-traffic: a bounded UDP sender and receiver for the network tests and
 * the demo. Every run stops by itself: at --count packets or --duration
 * seconds, whichever comes first (the duration is capped at 120 s).
 *
 *   bg-traffic send --dst ADDR --port N [--src ADDR[,ADDR...]] [--rate PPS]
 *                   [--count N] [--duration S] [--size BYTES]
 *                   [--burst N --every-ms MS]
 *   bg-traffic recv --port N [--bind ADDR] --duration S [--idle-ms MS]
 *
 * Both print one JSON object on stdout. send paces on an absolute schedule
 * (packets due = rate * elapsed), so its rate does not drift with sleep
 * granularity; with --burst it sends N back to back every MS milliseconds.
 * Several --src addresses are used in turn, one socket each, bound to
 * port --sport (default: any), so a test can name the flow beforehand.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SRC 64
#define MAX_DURATION_S 120.0

static int src_port; /* --sport: the source port of every --src socket */

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
	int family;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int parse_addr(const char *s, int port, struct addr *a)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		a->len = sizeof(*in4);
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*in6);
		a->family = AF_INET6;
		return 0;
	}
	fprintf(stderr, "bg-traffic: \"%s\": not an IPv4 or IPv6 address\n", s);
	return -1;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000ULL),
			       .tv_nsec = (long)(t % 1000000000ULL) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int do_send(const char *dst_s, int port, char *srcs, double rate, long count,
		   double duration, int size, long burst, double every_ms)
{
	struct addr dst, src;
	int fds[MAX_SRC], nsrc = 0, i;
	char *buf, *tok, *save = NULL;
	uint64_t start, end, first = 0, last = 0, t;
	long sent = 0, errors = 0, due;

	if (parse_addr(dst_s, port, &dst))
		return 2;
	if (srcs) {
		for (tok = strtok_r(srcs, ",", &save); tok && nsrc < MAX_SRC;
		     tok = strtok_r(NULL, ",", &save)) {
			if (parse_addr(tok, src_port, &src))
				return 2;
			fds[nsrc] = socket(src.family, SOCK_DGRAM, 0);
			if (fds[nsrc] < 0 || bind(fds[nsrc], (struct sockaddr *)&src.ss, src.len)) {
				fprintf(stderr, "bg-traffic: bind %s: %s\n", tok, strerror(errno));
				return 2;
			}
			nsrc++;
		}
	} else {
		fds[nsrc++] = socket(dst.family, SOCK_DGRAM, 0);
		if (fds[0] < 0) {
			perror("bg-traffic: socket");
			return 2;
		}
	}
	buf = calloc(1, (size_t)size);
	if (!buf)
		return 2;

	start = now_ns();
	end = start + (uint64_t)(duration * 1e9);
	while (sent < count) {
		t = now_ns();
		if (t >= end)
			break;
		if (burst > 0) {
			/* burst packets at every tick of every_ms */
			due = ((long)((double)(t - start) / (every_ms * 1e6)) + 1) * burst;
		} else if (rate > 0) {
			due = (long)((double)(t - start) * rate / 1e9) + 1;
		} else {
			due = count; /* as fast as possible */
		}
		if (due > count)
			due = count;
		while (sent < due) {
			int fd = fds[sent % nsrc];
			ssize_t r;

			memcpy(buf, &sent,
			       sizeof(sent) < (size_t)size ? sizeof(sent) : (size_t)size);
			r = sendto(fd, buf, (size_t)size, 0, (struct sockaddr *)&dst.ss, dst.len);
			if (r < 0)
				errors++;
			last = now_ns();
			if (!first)
				first = last;
			sent++;
		}
		if (sent >= count)
			break;
		if (burst > 0) {
			sleep_until(start + (uint64_t)((double)(due / burst) * every_ms * 1e6));
		} else if (rate > 0) {
			uint64_t next = start + (uint64_t)((double)sent * 1e9 / rate);

			if (next > now_ns() + 50000)
				sleep_until(next);
		}
	}
	printf("{\"sent\":%ld,\"errors\":%ld,\"first_ns\":%llu,\"last_ns\":%llu,\"elapsed_s\":%.6f}\n",
	       sent, errors, (unsigned long long)first, (unsigned long long)last,
	       sent > 1 ? (double)(last - first) / 1e9 : 0.0);
	free(buf);
	for (i = 0; i < nsrc; i++)
		close(fds[i]);
	return 0;
}

struct tally {
	char addr[INET6_ADDRSTRLEN];
	long n;
};

static int do_recv(const char *bind_s, int port, double duration, int idle_ms)
{
	struct tally tally[MAX_SRC * 4] = {};
	struct addr local;
	struct sockaddr_storage from;
	socklen_t flen;
	char buf[65536], name[INET6_ADDRSTRLEN];
	uint64_t end, last = 0;
	long total = 0;
	int fd, ntally = 0, i, one = 1, rcvbuf = 8 << 20;

	if (parse_addr(bind_s, port, &local))
		return 2;
	fd = socket(local.family, SOCK_DGRAM, 0);
	if (fd < 0)
		return 2;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&local.ss, local.len)) {
		fprintf(stderr, "bg-traffic: bind %s port %d: %s\n", bind_s, port, strerror(errno));
		return 2;
	}
	/* Ready: tests wait for this line before sending. */
	fprintf(stderr, "bg-traffic: listening\n");
	end = now_ns() + (uint64_t)(duration * 1e9);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t t = now_ns();
		int wait_ms;

		if (t >= end || (last && idle_ms > 0 && t - last > (uint64_t)idle_ms * 1000000ULL))
			break;
		wait_ms = (int)((end - t) / 1000000ULL) + 1;
		if (idle_ms > 0 && wait_ms > idle_ms)
			wait_ms = idle_ms;
		if (poll(&p, 1, wait_ms) <= 0)
			continue;
		flen = sizeof(from);
		if (recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen) < 0)
			continue;
		last = now_ns();
		total++;
		if (from.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&from)->sin_addr, name,
				  sizeof(name));
		else
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&from)->sin6_addr, name,
				  sizeof(name));
		for (i = 0; i < ntally && strcmp(tally[i].addr, name); i++)
			;
		if (i == ntally && ntally < (int)(sizeof(tally) / sizeof(tally[0]))) {
			snprintf(tally[ntally].addr, sizeof(tally[0].addr), "%s", name);
			tally[ntally++].n = 0;
		}
		if (i < ntally)
			tally[i].n++;
	}
	printf("{\"received\":%ld,\"by_source\":{", total);
	for (i = 0; i < ntally; i++)
		printf("%s\"%s\":%ld", i ? "," : "", tally[i].addr, tally[i].n);
	printf("}}\n");
	close(fd);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bg-traffic send --dst ADDR --port N [--src A[,B...]] [--sport N] [--rate PPS]\n"
		"                       [--count N] [--duration S] [--size BYTES]\n"
		"                       [--burst N --every-ms MS]\n"
		"       bg-traffic recv --port N [--bind ADDR] --duration S [--idle-ms MS]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dst", required_argument, NULL, 'D' },
		{ "port", required_argument, NULL, 'P' },
		{ "src", required_argument, NULL, 'S' },
		{ "rate", required_argument, NULL, 'r' },
		{ "count", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ "burst", required_argument, NULL, 'b' },
		{ "every-ms", required_argument, NULL, 'e' },
		{ "bind", required_argument, NULL, 'B' },
		{ "idle-ms", required_argument, NULL, 'i' },
		{ "sport", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dst = NULL, *bind_s = "0.0.0.0";
	char *srcs = NULL;
	double rate = 0, duration = 10, every_ms = 100;
	long count = 1000000000L, burst = 0;
	int port = 0, size = 64, idle_ms = 0, c;

	if (argc < 2) {
		usage();
		return 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'D':
			dst = optarg;
			break;
		case 'P':
			port = atoi(optarg);
			break;
		case 'S':
			srcs = optarg;
			break;
		case 'r':
			rate = atof(optarg);
			break;
		case 'c':
			count = atol(optarg);
			break;
		case 'd':
			duration = atof(optarg);
			break;
		case 's':
			size = atoi(optarg);
			break;
		case 'b':
			burst = atol(optarg);
			break;
		case 'e':
			every_ms = atof(optarg);
			break;
		case 'B':
			bind_s = optarg;
			break;
		case 'i':
			idle_ms = atoi(optarg);
			break;
		case 'p':
			src_port = atoi(optarg);
			break;
		default:
			usage();
			return 2;
		}
	}
	if (port <= 0 || port > 65535 || duration <= 0 || size < 1 || size > 65000 || count < 1 ||
	    every_ms <= 0) {
		usage();
		return 2;
	}
	if (duration > MAX_DURATION_S)
		duration = MAX_DURATION_S;
	if (!strcmp(argv[1], "send")) {
		if (!dst) {
			usage();
			return 2;
		}
		return do_send(dst, port, srcs, rate, count, duration, size, burst, every_ms);
	}
	if (!strcmp(argv[1], "recv"))
		return do_recv(bind_s, port, duration, idle_ms);
	usage();
	return 2;
}
