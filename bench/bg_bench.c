// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bg-bench: the measuring half of `make bench`. bench/run sets up the
 * namespaces and the netfilter peers and calls the subcommands below; each
 * prints one JSON object on stdout, raw per-round numbers only. Statistics
 * (ratios, medians, IQRs) are computed by bench/report.py.
 *
 *   bg-bench micro  [--rounds R] [--repeat N]
 *   bg-bench scale  [--sizes N,N,...] [--rounds R] [--repeat N]
 *   bg-bench macro  --tx-ns P --rx-ns P --tx-dev D --rx-dev D --pin DIR
 *                   --sources N --peers NAME[:PORT],... [--rounds R]
 *                   [--slice-ms MS] [--settle-ms MS] [--seed S]
 *   bg-bench accuracy --tx-ns P --rx-ns P --tx-dev D --rx-dev D
 *                   --sources N --rate PPS --burst N [--overload X]
 *                   [--duration S] [--first-burst N]
 *
 * Nothing here passes or fails on a time: a benchmark reports.
 *
 * Time on this machine drifts by tens of percent, so every cost is taken
 * next to its reference in the same round (micro, scale: a bare XDP_DROP
 * program; macro: the XDP_DROP ceiling and the other limiters, in shuffled
 * slices of one flood), and only ratios are meant to be compared.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bg_attach.h"
#include "bg_bench.skel.h"
#include "bg_flow.h"
#include "bg_identity.h"
#include "bg_log.h"
#include "bg_prefix.h"
#include "bg_setup.h"
#include "bg_state.h"
#include "bg_token_reg.h"
#include "pkt.h"

#define MAX_ROUNDS 1000
#define GEN_REPEAT (1U << 20) /* live frames per BPF_PROG_RUN call: >= 1M */
#define GEN_BATCH 64 /* frames per redirect flush, the kernel's default */
#define SRC_BASE_MACRO 0xc6120000U /* 198.18.0.0/16: RFC 2544 benchmark range */
#define DST_ADDR "198.19.0.1"
#define SRC_BASE_SCALE 0x64400000U /* 100.64.0.0/10: never on a wire here */
#define PORT_BASE 9000

static struct {
	int rounds;
	unsigned int repeat;
	const char *sizes;
	const char *tx_ns, *rx_ns, *tx_dev, *rx_dev, *pin, *peers;
	unsigned int sources;
	int slice_ms, settle_ms;
	unsigned int seed;
	double rate, overload, duration;
	unsigned int burst, first_burst;
} arg = {
	.rounds = 15,
	.repeat = 2000000,
	.sizes = "10,1000,100000,1000000",
	.sources = 4096,
	.slice_ms = 250,
	.settle_ms = 50,
	.seed = 1,
	.rate = 1000,
	.overload = 10,
	.duration = 10,
	.burst = 100,
	.first_burst = 300,
};

static void die(const char *what, int err)
{
	fprintf(stderr, "bg-bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (long)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Move the calling thread (only) into the network namespace at path. */
static void enter_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die(path, errno);
	if (setns(fd, CLONE_NEWNET))
		die("setns", errno);
	close(fd);
}

/* Fisher-Yates with rand_r: reproducible from --seed. */
static void shuffle(int *v, int n, unsigned int *seed)
{
	int i, j, t;

	for (i = n - 1; i > 0; i--) {
		j = rand_r(seed) % (i + 1);
		t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

static struct bg_bench *bench_load(void)
{
	struct bg_bench *skel = bg_bench__open_and_load();

	if (!skel)
		die("load bench programs", errno);
	return skel;
}

/* ns per run of prog over frame, and the verdict; repeat runs in-kernel. */
static double time_prog(int fd, const void *frame, size_t len, unsigned int repeat, int *verdict)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (__u32)len,
		    .repeat = repeat);
	int err = bpf_prog_test_run_opts(fd, &o);

	if (err)
		die("BPF_PROG_TEST_RUN", err);
	if (verdict)
		*verdict = (int)o.retval;
	return (double)o.duration; /* the kernel's average, in ns */
}

static size_t build_udp(const char *src, uint8_t *buf, size_t cap)
{
	struct pkt_spec s = {
		.ip = 4, .src = src, .dst = DST_ADDR, .sport = 40000, .dport = PORT_BASE
	};

	return pkt_build(&s, buf, cap);
}

static int add_identity(struct bg_state *s, const char *name, const struct bg_limits *l)
{
	unsigned int mask = BG_LIM_ACTION;

	if (l->rate_pps)
		mask |= BG_LIM_RATE | BG_LIM_BURST;
	if (l->byte_rate_bits)
		mask |= BG_LIM_BYTE_RATE | BG_LIM_BYTE_BURST;
	return bg_identity_add(s, name, l, mask, NULL);
}

static int add_prefix(struct bg_state *s, const char *cidr, const char *name)
{
	struct bg_identity id;
	struct bg_prefix p;
	char err[128];
	int ret;

	ret = bg_prefix_parse(cidr, &p, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bg-bench: %s\n", err);
		return ret;
	}
	ret = bg_identity_get(s, name, &id);
	return ret ? ret : bg_prefix_add(s, &p, id.id);
}

/* A private pin folder per run: never the user's state. */
static void make_pin(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "/sys/fs/bpf/bgbench_%d_%s", getpid(), tag);
}

/* ---- micro: cost per packet of each path, against XDP_DROP ---- */

/*
 * The agent of the token paths: one token, one HTTP/1.1 keep-alive
 * connection that carries it in each request, one connection bound to it
 * through the bind API. MICRO_REQ is a typical API call; the token stage
 * scans it up to the end of the token's value.
 */
#define MICRO_AGENT_SRC "198.18.5.7" /* no prefix: only a token can name it */
#define MICRO_TOKEN "sk-bench-7f3a9c1e5b2d4f60a8e1c3b5d7f9a2c4e6b8d0f1"
#define MICRO_REQ                                   \
	"POST /v1/chat/completions HTTP/1.1\r\n"    \
	"Host: api.example.com\r\n"                 \
	"User-Agent: agent-sdk/1.4\r\n"             \
	"Accept: application/json\r\n"              \
	"Authorization: Bearer " MICRO_TOKEN "\r\n" \
	"Content-Type: application/json\r\n"        \
	"Content-Length: 58\r\n"                    \
	"\r\n"                                      \
	"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
/* The same request with the token's header first: the scan ends sooner. */
#define MICRO_REQ_EARLY                             \
	"POST /v1/chat/completions HTTP/1.1\r\n"    \
	"Authorization: Bearer " MICRO_TOKEN "\r\n" \
	"Host: api.example.com\r\n"                 \
	"User-Agent: agent-sdk/1.4\r\n"             \
	"Accept: application/json\r\n"              \
	"Content-Type: application/json\r\n"        \
	"Content-Length: 58\r\n"                    \
	"\r\n"                                      \
	"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
#define MICRO_BODY "{\"role\":\"user\",\"content\":\"the rest of a long request body\"}"
#define MICRO_TLS              \
	"\x17\x03\x03\x01\x20" \
	"opaque application data, as a TLS record carries it"
#define MICRO_HTTP_SPORT 40001
#define MICRO_BIND_SPORT 40002
#define MICRO_EARLY_SPORT 40003
#define MICRO_DPORT 80

/*
 * The paths, each one frame through burstgate's program. Paths with
 * .tokens run on a second state, the same but for the agent's token and
 * bound connection: from the first token on, every TCP and UDP packet
 * goes through the flow and token stages before the prefixes, so that
 * state also times a prefix path, to show what those stages cost traffic
 * that belongs to no agent.
 */
struct micro_path {
	const char *key; /* JSON key and report row */
	const char *label;
	int tokens; /* 1: on the state with the agent's token and binding */
	const char *src; /* IPv4 source */
	int proto; /* 0: UDP; IPPROTO_TCP: an ACK|PSH segment to MICRO_DPORT */
	__u16 sport; /* TCP */
	const char *payload; /* TCP payload */
	int expect; /* verdict the path must give: checked, reported */
	int expect_cls; /* BG_C_CLS_* it must be counted under: checked, reported */
};

static const struct micro_path micro_paths[] = {
	{ .key = "default",
	  .label = "default identity (no prefix matches; allow, counted)",
	  .src = "198.18.9.9",
	  .expect = XDP_PASS,
	  .expect_cls = BG_C_CLS_DEFAULT },
	{ .key = "prefix_conform",
	  .label = "/24-prefix-classified (host hash miss, LPM trie hit), enforce, conforming",
	  .src = "198.18.1.7",
	  .expect = XDP_PASS,
	  .expect_cls = BG_C_CLS_PREFIX4 },
	{ .key = "prefix_exceed",
	  .label = "/24-prefix-classified, enforce, exceeding",
	  .src = "198.18.2.7",
	  .expect = XDP_DROP,
	  .expect_cls = BG_C_CLS_PREFIX4 },
	{ .key = "bytes_pkts",
	  .label = "/24-prefix-classified, packet + byte buckets, conforming",
	  .src = "198.18.3.7",
	  .expect = XDP_PASS,
	  .expect_cls = BG_C_CLS_PREFIX4 },
	{ .key = "host_conform",
	  .label = "/32-prefix-classified (host hash hit), enforce, conforming",
	  .src = "198.18.4.7",
	  .expect = XDP_PASS,
	  .expect_cls = BG_C_CLS_PREFIX4 },
	{ .key = "host_conform_tok",
	  .label = "the same /32 path on a host with tokens (UDP: flow table missed first)",
	  .tokens = 1,
	  .src = "198.18.4.7",
	  .expect = XDP_PASS,
	  .expect_cls = BG_C_CLS_PREFIX4 },
	{ .key = "http_token",
	  .label =
		  "HTTP token: a request with `Authorization: Bearer` (keep-alive), enforce, conforming",
	  .tokens = 1,
	  .src = MICRO_AGENT_SRC,
	  .proto = IPPROTO_TCP,
	  .sport = MICRO_HTTP_SPORT,
	  .payload = MICRO_REQ,
	  .expect = XDP_PASS,
	  .expect_cls = BG_C_CLS_HTTP },
	{ .key = "http_token_early",
	  .label = "the same request with the token's header first",
	  .tokens = 1,
	  .src = MICRO_AGENT_SRC,
	  .proto = IPPROTO_TCP,
	  .sport = MICRO_EARLY_SPORT,
	  .payload = MICRO_REQ_EARLY,
	  .expect = XDP_PASS,
	  .expect_cls = BG_C_CLS_HTTP },
	{ .key = "flow_http",
	  .label = "flow table: a later segment of that request's connection (learnt flow)",
	  .tokens = 1,
	  .src = MICRO_AGENT_SRC,
	  .proto = IPPROTO_TCP,
	  .sport = MICRO_HTTP_SPORT,
	  .payload = MICRO_BODY,
	  .expect = XDP_PASS,
	  .expect_cls = BG_C_CLS_FLOW },
	{ .key = "flow_bind",
	  .label = "flow table: a segment of a connection bound through the bind API",
	  .tokens = 1,
	  .src = MICRO_AGENT_SRC,
	  .proto = IPPROTO_TCP,
	  .sport = MICRO_BIND_SPORT,
	  .payload = MICRO_TLS,
	  .expect = XDP_PASS,
	  .expect_cls = BG_C_CLS_BIND },
};
#define N_MICRO (int)(sizeof(micro_paths) / sizeof(micro_paths[0]))

/* The classification counters, for the check and the report. */
static const struct {
	int c;
	const char *name;
} cls_names[] = {
	{ BG_C_CLS_PREFIX4, "prefix4" }, { BG_C_CLS_PREFIX6, "prefix6" },
	{ BG_C_CLS_DEFAULT, "default" }, { BG_C_CLS_STALE, "stale" },
	{ BG_C_CLS_BIND, "bind" },	 { BG_C_CLS_HTTP, "http" },
	{ BG_C_CLS_FLOW, "flow" },
};
#define N_CLS (int)(sizeof(cls_names) / sizeof(cls_names[0]))

static void micro_state(struct bg_state *s)
{
	/* Conforming: 1 Gpps is faster than the test loop can run. */
	struct bg_limits fast = { .rate_pps = 1000000000ULL, .burst_pkts = 1000000 };
	struct bg_limits slow = { .rate_pps = 1, .burst_pkts = 1 };
	struct bg_limits both = { .rate_pps = 1000000000ULL,
				  .burst_pkts = 1000000,
				  .byte_rate_bits = 10000000000000ULL,
				  .burst_bytes = 64ULL << 20 };
	char cidr[32];
	int i, err = 0;

	err |= add_identity(s, "conform", &fast);
	err |= add_identity(s, "exceed", &slow);
	err |= add_identity(s, "bytes", &both);
	err |= add_identity(s, "host", &fast);
	err |= add_identity(s, "agent", &fast);
	err |= add_prefix(s, "198.18.4.7/32", "host");
	err |= add_prefix(s, "198.18.1.0/24", "conform");
	err |= add_prefix(s, "198.18.2.0/24", "exceed");
	err |= add_prefix(s, "198.18.3.0/24", "bytes");
	/* Some unrelated prefixes, so the trie is not trivially small. */
	for (i = 0; i < 64 && !err; i++) {
		snprintf(cidr, sizeof(cidr), "198.18.%d.0/24", 100 + i);
		err = add_prefix(s, cidr, "exceed");
	}
	if (err)
		die("micro: configure identities", -EINVAL);
}

/* The agent's token, registered through the library, and its bound connection. */
static void micro_tokens(struct bg_state *s)
{
	struct bg_token_entry e;
	struct bg_bind_info info;
	struct bg_identity id;
	struct bg_flow_key k;
	char sport[8], dport[8], err[256];
	int ret;

	ret = bg_identity_get(s, "agent", &id);
	if (!ret)
		ret = bg_token_add(s, MICRO_TOKEN, strlen(MICRO_TOKEN), id.id, 0, 0, &e);
	if (ret)
		die("micro: register the agent's token", ret);
	snprintf(sport, sizeof(sport), "%d", MICRO_BIND_SPORT);
	snprintf(dport, sizeof(dport), "%d", MICRO_DPORT);
	ret = bg_flow_key_parse(&k, "tcp", MICRO_AGENT_SRC, sport, DST_ADDR, dport, err,
				sizeof(err));
	if (!ret)
		ret = bg_bind(s, &k, MICRO_TOKEN, strlen(MICRO_TOKEN), 0, &info, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bg-bench: micro: bind: %s\n", err);
		die("micro: bind the agent's connection", ret);
	}
}

static size_t micro_frame(const struct micro_path *p, uint8_t *buf, size_t cap)
{
	struct pkt_spec s = { .ip = 4, .src = p->src, .dst = DST_ADDR };

	if (p->proto != IPPROTO_TCP)
		return build_udp(p->src, buf, cap);
	s.proto = IPPROTO_TCP;
	s.sport = p->sport;
	s.dport = MICRO_DPORT;
	s.tcp_flags = 0x18; /* ACK | PSH */
	s.data = p->payload;
	s.data_len = strlen(p->payload);
	return pkt_build(&s, buf, cap);
}

/* Which classification counter one run of the frame adds to; -1 if none. */
static int micro_classified(const struct bg_state *s, int fd, const uint8_t *frame, size_t len)
{
	struct bg_counters before, after;
	int i;

	if (bg_counters_read(s, &before))
		die("micro: read counters", errno);
	time_prog(fd, frame, len, 1, NULL);
	if (bg_counters_read(s, &after))
		die("micro: read counters", errno);
	for (i = 0; i < N_CLS; i++)
		if (after.c[cls_names[i].c] != before.c[cls_names[i].c])
			return i;
	return -1;
}

/* A private state and its program; tokens: with the agent's token and binding. */
static void micro_setup(int tokens, char *pin, size_t len, struct bg_state *s, struct bg_xdp **prog)
{
	int err;

	make_pin(pin, len, tokens ? "microtok" : "micro");
	err = bg_state_setup(pin, 1024, 1024, NULL);
	if (!err)
		err = bg_prog_load(pin, prog);
	if (!err)
		err = bg_state_open(s, pin, BG_OPEN_WRITE);
	if (err)
		die("micro: set up burstgate state", err);
	micro_state(s);
	if (tokens)
		micro_tokens(s);
}

static int cmd_micro(void)
{
	static uint8_t frames[N_MICRO][2048];
	uint8_t drop_frame[256];
	size_t lens[N_MICRO], drop_len;
	int order[N_MICRO + 1], verdict[N_MICRO] = { 0 }, cls[N_MICRO], fds[2];
	static double t[MAX_ROUNDS][N_MICRO + 1];
	struct bg_bench *bb = bench_load();
	struct bg_xdp *bg[2] = { NULL, NULL };
	struct bg_state s[2];
	char pin[2][128];
	unsigned int seed = arg.seed;
	int i, r, k, drop_fd, v;

	/* Step 1: the two states, the frames. */
	for (k = 0; k < 2; k++) {
		micro_setup(k, pin[k], sizeof(pin[k]), &s[k], &bg[k]);
		fds[k] = bg_prog_fd(bg[k]);
	}
	drop_fd = bpf_program__fd(bb->progs.bb_drop);
	drop_len = build_udp("198.18.1.7", drop_frame, sizeof(drop_frame));
	for (i = 0; i < N_MICRO; i++)
		lens[i] = micro_frame(&micro_paths[i], frames[i], sizeof(frames[i]));
	/* The request first: the continuation segment follows the flow it learns. */
	for (i = 0; i < N_MICRO; i++)
		if (micro_paths[i].expect_cls == BG_C_CLS_HTTP)
			time_prog(fds[1], frames[i], lens[i], 1, NULL);

	/* Step 2: rounds; the first is a warm-up, not kept (JIT images, maps into the caches). */
	for (r = -1; r < arg.rounds; r++) {
		for (k = 0; k <= N_MICRO; k++)
			order[k] = k;
		shuffle(order, N_MICRO + 1, &seed);
		for (k = 0; k <= N_MICRO; k++) {
			i = order[k];
			if (i == N_MICRO) {
				double d =
					time_prog(drop_fd, drop_frame, drop_len, arg.repeat, NULL);

				if (r >= 0)
					t[r][N_MICRO] = d;
				continue;
			}
			double d = time_prog(fds[micro_paths[i].tokens], frames[i], lens[i],
					     arg.repeat, &v);

			if (r >= 0) {
				t[r][i] = d;
				verdict[i] = v;
			}
		}
	}

	/* Step 3: did each path take the stage it is named after? */
	for (i = 0; i < N_MICRO; i++) {
		int tk = micro_paths[i].tokens;

		cls[i] = micro_classified(&s[tk], fds[tk], frames[i], lens[i]);
	}

	printf("{\"repeat\":%u,\"rounds\":%d,\"xdp_drop_ns\":[", arg.repeat, arg.rounds);
	for (r = 0; r < arg.rounds; r++)
		printf("%s%.3f", r ? "," : "", t[r][N_MICRO]);
	printf("],\"paths\":[");
	for (i = 0; i < N_MICRO; i++) {
		const struct micro_path *p = &micro_paths[i];

		printf("%s{\"key\":\"%s\",\"label\":\"%s\",\"frame_bytes\":%zu", i ? "," : "",
		       p->key, p->label, lens[i]);
		if (p->expect_cls == BG_C_CLS_HTTP) {
			const char *end = strstr(p->payload, MICRO_TOKEN);

			/* bytes the token stage scans: up to the end of the token */
			printf(",\"request_bytes\":%zu,\"scanned_bytes\":%zu", strlen(p->payload),
			       (size_t)(end - p->payload) + strlen(MICRO_TOKEN) + 1);
		}
		printf(",\"verdict\":\"%s\",\"verdict_ok\":%s,\"classified\":\"%s\","
		       "\"classified_ok\":%s,\"ns\":[",
		       verdict[i] == XDP_DROP ? "drop" :
		       verdict[i] == XDP_PASS ? "pass" :
						"other",
		       verdict[i] == p->expect ? "true" : "false",
		       cls[i] < 0 ? "none" : cls_names[cls[i]].name,
		       cls[i] >= 0 && cls_names[cls[i]].c == p->expect_cls ? "true" : "false");
		for (r = 0; r < arg.rounds; r++)
			printf("%s%.3f", r ? "," : "", t[r][i]);
		printf("]}");
	}
	printf("]}\n");

	for (k = 0; k < 2; k++) {
		bg_state_close(&s[k]);
		bg_prog_free(bg[k]);
		bg_state_teardown(pin[k]);
	}
	bg_bench__destroy(bb);
	return 0;
}

/* ---- scale: cost and memory with 10 ... 1M identities ---- */

#define MAX_SIZES 6

struct scale_state {
	unsigned int n;
	char pin[128];
	struct bg_state s;
	struct bg_xdp *prog;
	double populate_s;
	unsigned long long memlock[32]; /* per map of scale_maps, bytes */
};

/* memlock of a map as the kernel accounts it (fdinfo), in bytes. */
static unsigned long long map_memlock(int fd)
{
	char path[64], line[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

/*
 * Every map of the state, in the order scale_fds() gives their fds. The
 * report separates those sized by the identities and prefixes from those
 * of a fixed size (counters, the event ring, the flow table ...).
 */
static const char *const scale_maps[] = {
	BG_MAP_ID_CFG, BG_MAP_ID_STATE, BG_MAP_ID_STATS, BG_MAP_ID_NAMES, BG_MAP_PFX4,
	BG_MAP_PFX6,   BG_MAP_HOST4,	BG_MAP_HOST6,	 BG_MAP_GLOBAL,	  BG_MAP_COUNTERS,
	BG_MAP_EVENTS, BG_MAP_CTL,	BG_MAP_TOKENS,	 BG_MAP_FLOWS,	  BG_MAP_TOK_CFG,
	BG_MAP_SECRET, BG_MAP_POL_REC,
};
#define N_SCALE_MAPS 17 /* checked below */
_Static_assert(sizeof(scale_maps) / sizeof(scale_maps[0]) == N_SCALE_MAPS, "scale_maps");

static void scale_fds(const struct bg_state *s, int *fd)
{
	const int all[] = { s->cfg_fd,	  s->state_fd, s->stats_fd,  s->names_fd,  s->pfx4_fd,
			    s->pfx6_fd,	  s->host4_fd, s->host6_fd,  s->global_fd, s->counters_fd,
			    s->events_fd, s->ctl_fd,   s->tokens_fd, s->flows_fd,  s->tok_cfg_fd,
			    s->secret_fd, s->rec_fd };

	_Static_assert(sizeof(all) / sizeof(all[0]) == N_SCALE_MAPS, "one fd per map");
	memcpy(fd, all, sizeof(all));
}

/*
 * n identities, each enforcing a conforming packet bucket, each with one
 * /32 prefix: 100.64.0.0 + i. Through the library, the calls burstctl makes.
 */
static void scale_populate(struct scale_state *st)
{
	struct bg_limits l = { .rate_pps = 1000000000ULL, .burst_pkts = 1000000 };
	struct bg_prefix p = { .family = AF_INET, .len = 32 };
	struct bg_identity id;
	char name[32];
	unsigned int i;
	__u32 a;
	double t0;
	int err, m, fds[N_SCALE_MAPS];

	make_pin(st->pin, sizeof(st->pin), "scale");
	snprintf(st->pin + strlen(st->pin), sizeof(st->pin) - strlen(st->pin), "%u", st->n);
	t0 = now_s();
	err = bg_state_setup(st->pin, st->n + 1, st->n, NULL);
	if (!err)
		err = bg_state_open(&st->s, st->pin, BG_OPEN_WRITE);
	if (err)
		die("scale: set up state", err);
	for (i = 0; i < st->n; i++) {
		snprintf(name, sizeof(name), "id%u", i);
		err = bg_identity_add(&st->s, name, &l, BG_LIM_RATE | BG_LIM_BURST, &id);
		a = htonl(SRC_BASE_SCALE + i);
		memcpy(p.addr, &a, 4);
		if (!err)
			err = bg_prefix_add(&st->s, &p, id.id);
		if (err)
			die("scale: add identity", err);
	}
	st->populate_s = now_s() - t0;
	err = bg_prog_load(st->pin, &st->prog);
	if (err)
		die("scale: load burstgate", err);
	scale_fds(&st->s, fds);
	for (m = 0; m < N_SCALE_MAPS; m++)
		st->memlock[m] = fds[m] < 0 ? 0 : map_memlock(fds[m]);
}

static int cmd_scale(void)
{
	static struct scale_state st[MAX_SIZES];
	static double t[MAX_ROUNDS][MAX_SIZES + 1], hot[MAX_ROUNDS][MAX_SIZES];
	struct bg_bench *bb = bench_load();
	uint8_t frame[256];
	size_t len = build_udp("100.64.0.1", frame, sizeof(frame));
	uint8_t hot_frame[256];
	size_t hot_len = build_udp("100.64.0.1", hot_frame, sizeof(hot_frame));
	int nsz = 0, order[MAX_SIZES + 1], i, k, r, m, v, slot, fd;
	unsigned int seed = arg.seed;
	char *list = strdup(arg.sizes), *tok, *save = NULL;

	for (tok = strtok_r(list, ",", &save); tok && nsz < MAX_SIZES;
	     tok = strtok_r(NULL, ",", &save))
		st[nsz++].n = (unsigned int)strtoul(tok, NULL, 10);
	free(list);

	fd = bpf_program__fd(bb->progs.bb_drop);
	slot = 0;
	if (bpf_map_update_elem(bpf_map__fd(bb->maps.bb_next), &slot, &fd, BPF_ANY))
		die("scale: prog array", errno);
	for (i = 0; i < nsz; i++) {
		fprintf(stderr, "bg-bench scale: %u identities...\n", st[i].n);
		scale_populate(&st[i]);
		fd = bg_prog_fd(st[i].prog);
		slot = i + 1;
		if (bpf_map_update_elem(bpf_map__fd(bb->maps.bb_next), &slot, &fd, BPF_ANY))
			die("scale: tail call into burstgate", errno);
	}

	bb->bss->src_base = SRC_BASE_SCALE;
	fd = bpf_program__fd(bb->progs.bb_rotate);
	for (r = -1; r < arg.rounds; r++) {
		for (k = 0; k <= nsz; k++)
			order[k] = k;
		shuffle(order, nsz + 1, &seed);
		for (k = 0; k <= nsz; k++) {
			i = order[k];
			/* Baseline: the same rotation, then XDP_DROP. */
			bb->bss->next_slot = i == nsz ? 0 : (__u32)i + 1;
			bb->bss->n_src = i == nsz ? st[nsz - 1].n : st[i].n;
			double d = time_prog(fd, frame, len, arg.repeat, &v);

			if (i < nsz && v != XDP_PASS)
				die("scale: burstgate did not pass a conforming packet", -EPROTO);
			if (r >= 0)
				t[r][i] = d;
			if (i == nsz)
				continue;
			/* One hot source: what the trie's depth costs without cache misses. */
			d = time_prog(bg_prog_fd(st[i].prog), hot_frame, hot_len, arg.repeat, NULL);
			if (r >= 0)
				hot[r][i] = d;
		}
	}

	printf("{\"repeat\":%u,\"rounds\":%d,\"rotate_drop_ns\":[", arg.repeat, arg.rounds);
	for (r = 0; r < arg.rounds; r++)
		printf("%s%.3f", r ? "," : "", t[r][nsz]);
	printf("],\"sizes\":[");
	for (i = 0; i < nsz; i++) {
		unsigned long long total = 0;

		printf("%s{\"identities\":%u,\"populate_s\":%.3f,\"memlock\":{", i ? "," : "",
		       st[i].n, st[i].populate_s);
		for (m = 0; m < N_SCALE_MAPS; m++) {
			printf("%s\"%s\":%llu", m ? "," : "", scale_maps[m], st[i].memlock[m]);
			total += st[i].memlock[m];
		}
		printf("},\"memlock_total\":%llu,\"ns\":[", total);
		for (r = 0; r < arg.rounds; r++)
			printf("%s%.3f", r ? "," : "", t[r][i]);
		printf("],\"hot_ns\":[");
		for (r = 0; r < arg.rounds; r++)
			printf("%s%.3f", r ? "," : "", hot[r][i]);
		printf("]}");
	}
	printf("]}\n");

	for (i = 0; i < nsz; i++) {
		bg_state_close(&st[i].s);
		bg_prog_free(st[i].prog);
		bg_state_teardown(st[i].pin);
	}
	bg_bench__destroy(bb);
	return 0;
}

/* ---- the generator: BPF_PROG_RUN in live-frames mode ---- */

struct gen {
	struct bg_bench *bb;
	int cpu;
	const char *ns, *dev;
	uint8_t frame[128];
	size_t len;
	/* paced mode: pps > 0 sends pps for duration s in small chunks */
	double pps, duration;
	unsigned int one_shot; /* > 0: send exactly this many, then stop */
	atomic_bool *stop;
	/* results */
	unsigned long long sent;
	double t_first, t_last;
	int err;
};

static int gen_run(struct gen *g, int ifindex, unsigned int n)
{
	struct xdp_md ctx = { .data_end = (__u32)g->len, .ingress_ifindex = (__u32)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = g->frame, .data_size_in = (__u32)g->len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = n,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = GEN_BATCH);

	return bpf_prog_test_run_opts(bpf_program__fd(g->bb->progs.bb_gen), &o);
}

static void *gen_thread(void *p)
{
	struct gen *g = p;
	int ifindex, err;
	double t0, due;
	unsigned long long chunk, want;

	pin_cpu(g->cpu);
	enter_netns(g->ns);
	ifindex = (int)if_nametoindex(g->dev);
	if (!ifindex) {
		g->err = -errno;
		return NULL;
	}
	g->t_first = now_s();
	if (g->one_shot) {
		g->err = gen_run(g, ifindex, g->one_shot);
		g->sent = g->one_shot;
		g->t_last = now_s();
		return NULL;
	}
	if (g->pps <= 0) {
		/* Flood: as fast as this CPU can, until told to stop. */
		while (!atomic_load(g->stop)) {
			err = gen_run(g, ifindex, GEN_REPEAT);
			if (err) {
				g->err = err;
				break;
			}
			g->sent += GEN_REPEAT;
		}
		g->t_last = now_s();
		return NULL;
	}
	/* Paced: on an absolute schedule, in chunks of about 2 ms. */
	t0 = g->t_first;
	chunk = (unsigned long long)(g->pps / 500) + 1;
	for (;;) {
		double t = now_s();

		if (t - t0 >= g->duration || atomic_load(g->stop))
			break;
		want = (unsigned long long)((t - t0) * g->pps) + 1;
		if (want <= g->sent) {
			due = t0 + (double)(g->sent + chunk) / g->pps;
			sleep_s(due - t > 0 ? due - t : 0);
			continue;
		}
		want -= g->sent;
		if (want > 4 * chunk)
			want = 4 * chunk;
		err = gen_run(g, ifindex, (unsigned int)want);
		if (err) {
			g->err = err;
			break;
		}
		g->sent += want;
		g->t_last = now_s();
	}
	return NULL;
}

/* The generator's frame: UDP to DST_ADDR, Ethernet to the receiver's MAC. */
static void gen_frame(struct gen *g, const uint8_t *dst_mac, const uint8_t *src_mac)
{
	const uint8_t *ip;
	__u32 sum = 0;
	int i;

	g->len = build_udp("0.0.0.0", g->frame, sizeof(g->frame));
	memcpy(g->frame, dst_mac, 6);
	memcpy(g->frame + 6, src_mac, 6);
	ip = g->frame + 14;
	for (i = 0; i < 20; i += 2)
		sum += (__u32)(ip[i] << 8 | ip[i + 1]); /* saddr and check are 0 */
	g->bb->bss->csum_nosrc = sum;
}

/* MAC address of dev in the calling thread's namespace. */
static void dev_mac(const char *dev, uint8_t *mac)
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr))
		die(dev, errno);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
}

/* ---- ethtool statistics of the receiver ---- */

struct ethstats {
	int fd;
	char dev[IFNAMSIZ];
	struct ethtool_stats *st;
	int n;
	int idx_rx; /* rx_queue_0_xdp_packets: frames the receiver took */
};

static void eth_open(struct ethstats *e, const char *dev)
{
	struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };
	struct ethtool_gstrings *gs;
	struct ifreq ifr = {};
	int i;

	e->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(e->dev, sizeof(e->dev), "%s", dev);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	ifr.ifr_data = (void *)&di;
	if (e->fd < 0 || ioctl(e->fd, SIOCETHTOOL, &ifr))
		die("ethtool drvinfo", errno);
	e->n = (int)di.n_stats;
	gs = calloc(1, sizeof(*gs) + (size_t)e->n * ETH_GSTRING_LEN);
	e->st = calloc(1, sizeof(*e->st) + (size_t)e->n * sizeof(__u64));
	if (!gs || !e->st)
		die("ethtool", ENOMEM);
	gs->cmd = ETHTOOL_GSTRINGS;
	gs->string_set = ETH_SS_STATS;
	gs->len = (__u32)e->n;
	ifr.ifr_data = (void *)gs;
	if (ioctl(e->fd, SIOCETHTOOL, &ifr))
		die("ethtool strings", errno);
	e->idx_rx = -1;
	for (i = 0; i < e->n; i++)
		if (!strcmp((char *)gs->data + i * ETH_GSTRING_LEN, "rx_queue_0_xdp_packets"))
			e->idx_rx = i;
	free(gs);
	if (e->idx_rx < 0)
		die("ethtool: no rx_queue_0_xdp_packets (is the receiver a veth?)", ENOENT);
}

static unsigned long long eth_rx(struct ethstats *e)
{
	struct ifreq ifr = {};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", e->dev);
	e->st->cmd = ETHTOOL_GSTATS;
	e->st->n_stats = (__u32)e->n;
	ifr.ifr_data = (void *)e->st;
	if (ioctl(e->fd, SIOCETHTOOL, &ifr))
		die("ethtool stats", errno);
	return e->st->data[e->idx_rx];
}

/* ---- macro: one flood, limiters switched in shuffled slices ---- */

#define MAX_PEERS 8

struct peer {
	char name[32];
	int port; /* netfilter peers: the UDP port their rule matches */
	int prog_fd;
};

static int cmd_macro(void)
{
	static double pps[MAX_ROUNDS][MAX_PEERS];
	struct peer peers[MAX_PEERS];
	struct bg_bench *bb = bench_load();
	struct bg_xdp *bg = NULL;
	struct ethstats es;
	atomic_bool stop = false;
	struct gen g = { .bb = bb, .cpu = 0, .stop = &stop };
	uint8_t rx_mac[6], tx_mac[6];
	char *list, *tok, *save = NULL;
	unsigned int seed = arg.seed;
	int npeers = 0, order[MAX_PEERS], link_fd, i, k, r, err;
	pthread_t th;
	double t0, t1;
	unsigned long long c0, c1;

	if (!arg.tx_ns || !arg.rx_ns || !arg.tx_dev || !arg.rx_dev || !arg.peers)
		die("macro: needs --tx-ns --rx-ns --tx-dev --rx-dev --peers", EINVAL);
	if (arg.sources < 1 || arg.sources > 65536)
		die("macro: --sources must be 1 to 65536", EINVAL);
	list = strdup(arg.peers);
	for (tok = strtok_r(list, ",", &save); tok && npeers < MAX_PEERS;
	     tok = strtok_r(NULL, ",", &save)) {
		struct peer *p = &peers[npeers++];
		char *colon = strchr(tok, ':');

		p->port = colon ? atoi(colon + 1) : 0;
		if (colon)
			*colon = '\0';
		snprintf(p->name, sizeof(p->name), "%s", tok);
		if (!strcmp(p->name, "burstgate")) {
			if (!arg.pin)
				die("macro: burstgate needs --pin", EINVAL);
			err = bg_prog_load(arg.pin, &bg);
			if (err)
				die("macro: load burstgate", err);
			p->prog_fd = bg_prog_fd(bg);
		} else if (!strcmp(p->name, "xdp_drop")) {
			p->prog_fd = bpf_program__fd(bb->progs.bb_drop);
		} else {
			if (!p->port)
				die("macro: a netfilter peer needs NAME:PORT", EINVAL);
			p->prog_fd = bpf_program__fd(bb->progs.bb_pass);
		}
	}
	free(list);

	/* The controller lives in the receiver's namespace, on CPU 0. */
	pin_cpu(0);
	enter_netns(arg.rx_ns);
	dev_mac(arg.rx_dev, rx_mac);
	eth_open(&es, arg.rx_dev);
	link_fd = bpf_link_create(peers[0].prog_fd, (int)if_nametoindex(arg.rx_dev), BPF_XDP, NULL);
	if (link_fd < 0)
		die("macro: attach XDP to the receiver", link_fd);
	enter_netns(arg.tx_ns);
	dev_mac(arg.tx_dev, tx_mac);
	enter_netns(arg.rx_ns);

	bb->bss->src_base = SRC_BASE_MACRO;
	bb->bss->n_src = arg.sources;
	g.ns = arg.tx_ns;
	g.dev = arg.tx_dev;
	gen_frame(&g, rx_mac, tx_mac);
	if (pthread_create(&th, NULL, gen_thread, &g))
		die("macro: start generator", errno);
	sleep_s(1.0); /* warm up: every limiter has seen every source once */

	for (r = -1; r < arg.rounds && !g.err; r++) {
		for (k = 0; k < npeers; k++)
			order[k] = k;
		shuffle(order, npeers, &seed);
		for (k = 0; k < npeers; k++) {
			const struct peer *p = &peers[order[k]];

			bb->bss->pass_port = (__u16)p->port;
			err = bpf_link_update(link_fd, p->prog_fd, NULL);
			if (err)
				die("macro: switch XDP program", err);
			sleep_s(arg.settle_ms / 1000.0);
			c0 = eth_rx(&es);
			t0 = now_s();
			sleep_s(arg.slice_ms / 1000.0);
			c1 = eth_rx(&es);
			t1 = now_s();
			if (r >= 0)
				pps[r][order[k]] = (double)(c1 - c0) / (t1 - t0);
		}
	}
	atomic_store(&stop, true);
	pthread_join(th, NULL);
	close(link_fd);
	if (g.err)
		die("macro: generator (BPF_PROG_RUN live frames)", g.err);

	printf("{\"sources\":%u,\"rounds\":%d,\"slice_ms\":%d,\"settle_ms\":%d,"
	       "\"generator_pps\":%.0f,\"peers\":[",
	       arg.sources, arg.rounds, arg.slice_ms, arg.settle_ms,
	       (double)g.sent / (g.t_last - g.t_first));
	for (i = 0; i < npeers; i++) {
		printf("%s{\"name\":\"%s\",\"pps\":[", i ? "," : "", peers[i].name);
		for (r = 0; r < arg.rounds; r++)
			printf("%s%.0f", r ? "," : "", pps[r][i]);
		printf("]}");
	}
	printf("]}\n");
	bg_prog_free(bg);
	bg_bench__destroy(bb);
	return 0;
}

/* ---- accuracy: admitted under 10x overload from two CPUs ---- */

struct receiver {
	const char *ns;
	atomic_bool *stop;
	atomic_int timing; /* 1: record arrival times (the overload phase) */
	unsigned int nsrc;
	unsigned long long *count; /* per source index */
	double *first_s, *last_s; /* per source: kernel receive timestamps */
	unsigned long long other;
	int ready;
};

/* The kernel's receive time of a datagram: first and last per source. */
static void note_arrival(struct receiver *rc, __u32 idx, struct msghdr *m)
{
	struct cmsghdr *c;
	struct timespec ts;
	double t;

	for (c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
		if (!rc->first_s[idx])
			rc->first_s[idx] = t;
		rc->last_s[idx] = t;
	}
}

static void *recv_thread(void *p)
{
	struct receiver *rc = p;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT_BASE) };
	struct sockaddr_in from[64];
	struct mmsghdr msgs[64];
	struct iovec iov[64];
	char buf[64][128], ctl[64][CMSG_SPACE(sizeof(struct timespec))];
	struct timeval tmo = { .tv_usec = 20000 }; /* to notice the stop flag */
	int fd, one = 1, big = 8 << 20, i, n;

	enter_netns(rc->ns);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	inet_pton(AF_INET, DST_ADDR, &a.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)))
		die("accuracy: receiver socket", errno);
	for (i = 0; i < 64; i++) {
		iov[i].iov_base = buf[i];
		iov[i].iov_len = sizeof(buf[i]);
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &from[i];
		msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
		msgs[i].msg_hdr.msg_control = ctl[i];
		msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
	}
	rc->ready = 1;
	while (!atomic_load(rc->stop)) {
		/* recvmmsg's own timeout only runs once a datagram came. */
		n = recvmmsg(fd, msgs, 64, MSG_WAITFORONE, NULL);
		for (i = 0; i < n; i++) {
			__u32 idx = ntohl(from[i].sin_addr.s_addr) - SRC_BASE_MACRO;

			if (idx < rc->nsrc) {
				rc->count[idx]++;
				if (atomic_load(&rc->timing))
					note_arrival(rc, idx, &msgs[i].msg_hdr);
			} else {
				rc->other++;
			}
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
			msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
		}
	}
	close(fd);
	return NULL;
}

static unsigned long long sum_counts(const unsigned long long *c, unsigned int n)
{
	unsigned long long s = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		s += c[i];
	return s;
}

/* Phase 2 of accuracy: overload from both CPUs, g[0] and g[1]. */
static void overload_phase(struct gen *g, struct receiver *rc, const unsigned long long *count,
			   unsigned long long *before, double *t_start, double *t_end)
{
	pthread_t th[2];
	int c;

	/*
	 * Phase 2 starts with full buckets (idle for twice the time a bucket
	 * takes to fill), so what it admits must be burst + rate * time.
	 */
	sleep_s(2.0 * arg.burst / arg.rate);
	memcpy(before, count, arg.sources * sizeof(*count));
	atomic_store(&rc->timing, 1);
	for (c = 0; c < 2; c++) {
		g[c].one_shot = 0;
		g[c].sent = 0;
		g[c].pps = arg.rate * arg.overload * arg.sources / 2;
		g[c].duration = arg.duration;
		if (pthread_create(&th[c], NULL, gen_thread, &g[c]))
			die("accuracy: generator", errno);
	}
	for (c = 0; c < 2; c++) {
		pthread_join(th[c], NULL);
		if (g[c].err)
			die("accuracy: generator", g[c].err);
	}
	/* From before the first frame was sent to after the last one was. */
	*t_start = g[0].t_first < g[1].t_first ? g[0].t_first : g[1].t_first;
	*t_end = g[0].t_last > g[1].t_last ? g[0].t_last : g[1].t_last;
}

static int cmd_accuracy(void)
{
	struct bg_bench *bb = bench_load();
	atomic_bool stop = false, rstop = false;
	unsigned long long *count, *first, *before;
	struct receiver rc = { .ns = arg.rx_ns, .stop = &rstop, .nsrc = arg.sources };
	struct gen g[2];
	uint8_t rx_mac[6], tx_mac[6];
	pthread_t rth;
	double t_start, t_end, burst_s;
	unsigned int i;
	int c;

	if (!arg.tx_ns || !arg.rx_ns || !arg.tx_dev || !arg.rx_dev)
		die("accuracy: needs --tx-ns --rx-ns --tx-dev --rx-dev", EINVAL);
	count = calloc(arg.sources, sizeof(*count));
	first = calloc(arg.sources, sizeof(*first));
	before = calloc(arg.sources, sizeof(*before));
	rc.count = count;
	rc.first_s = calloc(arg.sources, sizeof(double));
	rc.last_s = calloc(arg.sources, sizeof(double));
	if (!count || !first || !before || !rc.first_s || !rc.last_s)
		die("accuracy", ENOMEM);
	enter_netns(arg.rx_ns);
	dev_mac(arg.rx_dev, rx_mac);
	enter_netns(arg.tx_ns);
	dev_mac(arg.tx_dev, tx_mac);

	bb->bss->src_base = SRC_BASE_MACRO;
	bb->bss->n_src = arg.sources;
	for (c = 0; c < 2; c++) {
		memset(&g[c], 0, sizeof(g[c]));
		g[c].bb = bb;
		g[c].cpu = c;
		g[c].ns = arg.tx_ns;
		g[c].dev = arg.tx_dev;
		g[c].stop = &stop;
		gen_frame(&g[c], rx_mac, tx_mac);
	}
	if (pthread_create(&rth, NULL, recv_thread, &rc))
		die("accuracy: receiver", errno);
	while (!rc.ready)
		sleep_s(0.01);

	/* Phase 1: the first burst, back to back from one CPU, full buckets. */
	g[0].one_shot = arg.first_burst * arg.sources;
	gen_thread(&g[0]);
	burst_s = g[0].t_last - g[0].t_first;
	if (g[0].err)
		die("accuracy: generator", g[0].err);
	sleep_s(0.05);
	memcpy(first, count, arg.sources * sizeof(*count));

	/* --duration 0: the first burst only. */
	t_start = t_end = 0;
	if (arg.duration > 0)
		overload_phase(&g[0], &rc, count, before, &t_start, &t_end);
	sleep_s(0.2);
	atomic_store(&rstop, true);
	pthread_join(rth, NULL);

	printf("{\"sources\":%u,\"rate_pps\":%.0f,\"burst\":%u,\"overload\":%.1f,"
	       "\"first_burst_sent_per_source\":%u,\"first_burst_s\":%.6f,"
	       "\"span_s\":%.6f,\"sent_phase2\":%llu,\"other_sources\":%llu,"
	       "\"first\":[",
	       arg.sources, arg.rate, arg.burst, arg.overload, arg.first_burst, burst_s,
	       t_end - t_start, g[0].sent + g[1].sent, rc.other);
	for (i = 0; i < arg.sources; i++)
		printf("%s%llu", i ? "," : "", first[i]);
	printf("],\"admitted\":[");
	for (i = 0; i < arg.sources; i++)
		printf("%s%llu", i ? "," : "", count[i] - before[i]);
	/* The window each source was admitted in, seen by the receiver. */
	printf("],\"window_s\":[");
	for (i = 0; i < arg.sources; i++)
		printf("%s%.6f", i ? "," : "", rc.last_s[i] - rc.first_s[i]);
	printf("],\"admitted_total\":%llu}\n",
	       sum_counts(count, arg.sources) - sum_counts(before, arg.sources));
	free(count);
	free(first);
	free(before);
	free(rc.first_s);
	free(rc.last_s);
	bg_bench__destroy(bb);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bg-bench micro [--rounds R] [--repeat N]\n"
		"       bg-bench scale [--sizes N,N,...] [--rounds R] [--repeat N]\n"
		"       bg-bench macro --tx-ns P --rx-ns P --tx-dev D --rx-dev D [--pin DIR]\n"
		"                      --sources N --peers NAME[:PORT],... [--rounds R]\n"
		"                      [--slice-ms MS] [--settle-ms MS] [--seed S]\n"
		"       bg-bench accuracy --tx-ns P --rx-ns P --tx-dev D --rx-dev D\n"
		"                      --sources N --rate PPS --burst N [--overload X]\n"
		"                      [--duration S] [--first-burst N]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'n' },
		{ "sizes", required_argument, NULL, 'z' },
		{ "tx-ns", required_argument, NULL, 'T' },
		{ "rx-ns", required_argument, NULL, 'R' },
		{ "tx-dev", required_argument, NULL, 'a' },
		{ "rx-dev", required_argument, NULL, 'b' },
		{ "pin", required_argument, NULL, 'p' },
		{ "peers", required_argument, NULL, 'P' },
		{ "sources", required_argument, NULL, 's' },
		{ "slice-ms", required_argument, NULL, 'l' },
		{ "settle-ms", required_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 'e' },
		{ "rate", required_argument, NULL, 'q' },
		{ "burst", required_argument, NULL, 'u' },
		{ "overload", required_argument, NULL, 'o' },
		{ "duration", required_argument, NULL, 'd' },
		{ "first-burst", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	if (argc < 2) {
		usage();
		return 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'r':
			arg.rounds = atoi(optarg);
			break;
		case 'n':
			arg.repeat = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'z':
			arg.sizes = optarg;
			break;
		case 'T':
			arg.tx_ns = optarg;
			break;
		case 'R':
			arg.rx_ns = optarg;
			break;
		case 'a':
			arg.tx_dev = optarg;
			break;
		case 'b':
			arg.rx_dev = optarg;
			break;
		case 'p':
			arg.pin = optarg;
			break;
		case 'P':
			arg.peers = optarg;
			break;
		case 's':
			arg.sources = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'l':
			arg.slice_ms = atoi(optarg);
			break;
		case 'S':
			arg.settle_ms = atoi(optarg);
			break;
		case 'e':
			arg.seed = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'q':
			arg.rate = atof(optarg);
			break;
		case 'u':
			arg.burst = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'o':
			arg.overload = atof(optarg);
			break;
		case 'd':
			arg.duration = atof(optarg);
			break;
		case 'f':
			arg.first_burst = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
			return 2;
		}
	}
	if (arg.rounds < 1 || arg.rounds > MAX_ROUNDS || arg.repeat < 1 || arg.sources < 1) {
		usage();
		return 2;
	}
	bg_log_setup_libbpf();
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(argv[1], "micro"))
		return cmd_micro();
	if (!strcmp(argv[1], "scale"))
		return cmd_scale();
	if (!strcmp(argv[1], "macro"))
		return cmd_macro();
	if (!strcmp(argv[1], "accuracy"))
		return cmd_accuracy();
	usage();
	return 2;
}
