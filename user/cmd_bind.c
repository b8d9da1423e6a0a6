// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* burstctl bind add|del|list|serve: connections to agents, for TLS */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bg_bindsrv.h"
#include "bg_flow.h"
#include "bg_log.h"
#include "bg_out.h"
#include "bg_state.h"
#include "bg_time.h"
#include "bg_token_reg.h"
#include "burstctl.h"

#define OBJ "bind"
#define TOKEN_BUF (BG_TOKEN_MAX + 3)

static int help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	out_help("Usage: burstctl bind add FLOW [idle DURATION] [--token-file FILE]\n"
		 "       burstctl bind del FLOW\n"
		 "       burstctl bind list\n"
		 "       burstctl bind serve [socket PATH] [group GROUP]\n"
		 "\n"
		 "FLOW := proto tcp|udp src ADDR sport PORT dst ADDR dport PORT\n"
		 "        as packets arriving here carry it: src is the client.\n"
		 "\n"
		 "When TLS ends in the server, the NIC never sees the agent's token;\n"
		 "the server does. Binding tells burstgate that a connection belongs\n"
		 "to the agent holding a token (read from standard input or\n"
		 "--token-file, never the command line): its packets are then metered\n"
		 "against that agent's identity until the connection is idle for\n"
		 "DURATION (default: `token config` bind-idle, 10m) or the token\n"
		 "expires. A new connection on the same addresses and ports (a SYN)\n"
		 "ends the binding.\n"
		 "\n"
		 "list shows every entry of the flow table: bindings, and connections\n"
		 "learnt from HTTP requests that carried a token.\n"
		 "\n"
		 "serve answers the bind protocol on a Unix socket (default %s)\n"
		 "until interrupted, for servers using the client library\n"
		 "(client/bg_client.h). The socket is root-only (0600); `group GROUP`\n"
		 "makes it 0660 and owned by GROUP, so that group's servers may bind.\n",
		 BG_BIND_SOCKET_DEFAULT);
	return 0;
}

/* FLOW keywords, in any order; the rest is left for the caller. */
static int parse_flow(const char *cmd, int *argc, char ***argv, struct bg_flow_key *k,
		      const char **file, __u64 *idle_ns)
{
	const char *v[6] = { NULL };
	static const char *const kws[6] = { "proto", "src", "sport", "dst", "dport", "idle" };
	char err[200];
	int i, ret;

	while (*argc > 0) {
		const char *kw = (*argv)[0];

		if (file && !strcmp(kw, "--token-file")) {
			*file = take_value(OBJ, argc, argv);
			if (!*file)
				return -EINVAL;
			continue;
		}
		for (i = 0; i < 6; i++)
			if (!strcmp(kw, kws[i]) && (i < 5 || idle_ns))
				break;
		if (i == 6)
			return usage_error(
				OBJ,
				"%s: unexpected argument (expected proto, src, sport, dst, dport%s)",
				cmd, idle_ns ? ", idle or --token-file" : "");
		v[i] = take_value(OBJ, argc, argv);
		if (!v[i])
			return -EINVAL;
	}
	for (i = 0; i < 5; i++)
		if (!v[i])
			return usage_error(OBJ, "%s: missing \"%s\"", cmd, kws[i]);
	ret = bg_flow_key_parse(k, v[0], v[1], v[2], v[3], v[4], err, sizeof(err));
	if (ret) {
		bg_err("bind %s: %s", cmd, err);
		return ret;
	}
	if (v[5]) {
		/* bg_parse_duration's message quotes the value: a misplaced token, maybe */
		ret = bg_parse_duration(v[5], idle_ns, err, sizeof(err));
		if (ret) {
			bg_err("bind %s: idle (%zu bytes): %s", cmd, strlen(v[5]),
			       ret == -ERANGE ?
				       "out of range (1s to 10 years)" :
				       "not a duration (use a number with s, m, h or d: 90s, 15m, 1h30m, 7d)");
			return ret;
		}
	}
	return 0;
}

static void print_flow_key(const struct bg_flow_key *k)
{
	char a[64];

	out_str("proto", NULL, bg_flow_proto_name(k));
	out_str("src", NULL, bg_flow_addr_fmt(k, true, a, sizeof(a)));
	out_u64("sport", NULL, k->sport);
	out_str("dst", NULL, bg_flow_addr_fmt(k, false, a, sizeof(a)));
	out_u64("dport", NULL, k->dport);
}

static int do_add(int argc, char **argv)
{
	const char *file = NULL;
	char tok[TOKEN_BUF], err[256], flow[160], fp[16], dur[40];
	struct bg_bind_info info;
	struct bg_flow_key k;
	struct bg_state s;
	__u64 idle = 0;
	size_t len;
	int ret;

	ret = parse_flow("add", &argc, &argv, &k, &file, &idle);
	if (ret)
		return ret;
	ret = bg_token_read(file, tok, sizeof(tok), &len);
	if (ret)
		return ret;
	/* One flow map update: no writer lock needed. */
	ret = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (ret)
		goto wipe;
	ret = bg_bind(&s, &k, tok, len, idle, &info, err, sizeof(err));
	bg_flow_key_fmt(&k, flow, sizeof(flow));
	if (ret) {
		bg_err("bind add %s: %s", flow, err);
	} else {
		struct bg_tok_cfg c;

		if (!idle && !bg_tok_cfg_get(&s, &c))
			idle = c.bind_idle_ns;
		out_begin_object(NULL);
		out_text("bound %s", flow);
		print_flow_key(&k);
		out_str("identity", " to identity %s", info.identity);
		out_str("fingerprint", " (token %s", bg_fp_fmt(info.fingerprint, fp, sizeof(fp)));
		out_u64("idle_timeout_sec", NULL, idle / BG_NS_PER_SEC);
		out_text(", idle timeout %s)\n", bg_fmt_duration(idle, dur, sizeof(dur)));
		out_str("result", NULL, "bound");
		out_end_object();
	}
	bg_state_close(&s);
wipe:
	explicit_bzero(tok, sizeof(tok));
	return ret;
}

static int do_del(int argc, char **argv)
{
	struct bg_flow_key k;
	struct bg_state s;
	char flow[160];
	int ret;

	ret = parse_flow("del", &argc, &argv, &k, NULL, NULL);
	if (ret)
		return ret;
	ret = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (ret)
		return ret;
	bg_flow_key_fmt(&k, flow, sizeof(flow));
	ret = bg_unbind(&s, &k);
	if (ret == -ENOENT) {
		bg_err("bind del: %s is not in the flow table (see `burstctl bind list`)", flow);
	} else if (ret) {
		bg_err("bind del %s: %s", flow, strerror(-ret));
	} else {
		out_begin_object(NULL);
		out_text("unbound %s\n", flow);
		print_flow_key(&k);
		out_str("result", NULL, "unbound");
		out_end_object();
	}
	bg_state_close(&s);
	return ret;
}

static int do_list(int argc, char **argv)
{
	struct bg_flow_entry *v = NULL;
	char ident[BG_NAME_LEN], a[64], ep[80], buf[40];
	struct bg_clock now;
	struct bg_state s;
	size_t n = 0, i;
	int ret;

	(void)argv;
	if (argc)
		return usage_error(OBJ, "list: takes no arguments");
	ret = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (ret)
		return ret;
	ret = bg_flow_list(&s, &v, &n);
	if (!ret)
		ret = bg_clock_now(&now);
	if (ret) {
		bg_err("bind list: %s", strerror(-ret));
		goto out;
	}
	out_text("%-6s %-5s %-28s %-28s %-16s %-8s %-8s %s\n", "SOURCE", "PROTO", "CLIENT",
		 "SERVER", "IDENTITY", "IDLE", "TIMEOUT", "STATE");
	out_begin_object(NULL);
	out_begin_array("flows");
	for (i = 0; i < n; i++) {
		const struct bg_flow *f = &v[i].flow;
		const struct bg_flow_key *k = &v[i].key;
		__u64 idle = now.boot_ns > f->last_ns ? now.boot_ns - f->last_ns : 0;
		bool live = bg_flow_live(f, now.boot_ns);

		if (bg_id_name_of(&s, f->id, ident, sizeof(ident)))
			snprintf(ident, sizeof(ident), "(id %u)", f->id);
		out_begin_object(NULL);
		out_str("source", "%-6s ", f->source == BG_FLOW_BIND ? "bind" : "http");
		print_flow_key(k);
		out_text("%-5s ", bg_flow_proto_name(k));
		snprintf(ep, sizeof(ep), k->ip_ver == 6 ? "[%s]:%u" : "%s:%u",
			 bg_flow_addr_fmt(k, true, a, sizeof(a)), k->sport);
		out_text("%-28s ", ep);
		snprintf(ep, sizeof(ep), k->ip_ver == 6 ? "[%s]:%u" : "%s:%u",
			 bg_flow_addr_fmt(k, false, a, sizeof(a)), k->dport);
		out_text("%-28s ", ep);
		out_str("identity", "%-16s ", ident);
		out_u64("identity_id", NULL, f->id);
		out_u64("idle_sec", NULL, idle / BG_NS_PER_SEC);
		out_text("%-8s ", bg_fmt_duration(idle, buf, sizeof(buf)));
		out_u64("idle_timeout_sec", NULL, f->idle_ns / BG_NS_PER_SEC);
		out_text("%-8s ", bg_fmt_duration(f->idle_ns, buf, sizeof(buf)));
		if (f->deadline_ns)
			out_u64("token_expires_in_sec", NULL,
				bg_expiry_left(f->deadline_ns, now.boot_ns) / BG_NS_PER_SEC);
		else
			out_null("token_expires_in_sec", NULL);
		out_bool("live", NULL, live);
		out_text("%s\n", live ? "live" : "dead");
		out_end_object();
	}
	out_end_array();
	out_end_object();
out:
	free(v);
	bg_state_close(&s);
	return ret;
}

static volatile sig_atomic_t stop_serving;

static void on_signal(int sig)
{
	(void)sig;
	stop_serving = 1;
}

static int do_bind_serve(int argc, char **argv)
{
	const char *path = BG_BIND_SOCKET_DEFAULT, *group = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	struct bg_state s;
	int fd, ret;

	while (argc > 0) {
		const char *kw = argv[0], **dst;

		if (!strcmp(kw, "socket"))
			dst = &path;
		else if (!strcmp(kw, "group"))
			dst = &group;
		else
			return usage_error(OBJ, "serve: unknown argument (use socket or group)");
		*dst = take_value(OBJ, &argc, &argv);
		if (!*dst)
			return -EINVAL;
	}
	ret = bg_state_open(&s, opts.pin_path, BG_OPEN_READ);
	if (ret)
		return ret;
	fd = bg_bindsrv_listen(path, group);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	bg_log_capture = 0; /* a server from here on: its errors are log lines */
	fprintf(stderr, "%s: serving the bind protocol on %s (mode %s) until interrupted\n",
		bg_prog_name, path, group ? "0660" : "0600");
	ret = bg_bindsrv_run(&s, fd, &stop_serving);
	close(fd);
	unlink(path);
out:
	bg_state_close(&s);
	return ret;
}

int do_bind(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "add", do_add },	    { "del", do_del }, { "list", do_list },
		{ "serve", do_bind_serve }, { NULL, NULL },
	};

	return cmd_select(OBJ, cmds, argc, argv, help);
}
