/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The classification stages that come before the source prefix: the flow
 * table (connections bound through the bind API, and connections whose
 * last request carried a token) and the HTTP token stage. docs/tokens.md
 * has the whole picture; in order, for a TCP or UDP packet with ports:
 *
 *   1. A SYN without ACK starts a connection: an entry left on the same
 *      5-tuple by an earlier connection is removed, and the SYN falls
 *      through (the handshake is never an agent's: no token seen yet).
 *   2. A live BIND entry decides, and the payload is not parsed.
 *   3. A TCP segment that starts an HTTP/1.x request is classified by its
 *      own token alone, and the flow entry is set to that answer (or
 *      removed when there is none): the segments that continue this
 *      request follow it, not an earlier request of the connection.
 *   4. Any other segment takes the identity of a live HTTP entry.
 *
 * Nothing runs until a token has ever been registered (BG_TOK_F_ACTIVE).
 */
#ifndef BG_CLASSIFY_TOKEN_H
#define BG_CLASSIFY_TOKEN_H

#include "bg_maps.h"
#include "bg_parse.h"
#include "bg_http.h"

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define bg_le64_to_cpu(x) (x)
#else
#define bg_le64_to_cpu(x) __builtin_bswap64(x)
#endif

struct http_loop_ctx {
	struct bg_http_scratch *sc;
	const struct bg_tok_cfg *cfg;
};

/*
 * One byte of the window per call. Called through bpf_loop() (Linux 5.17+),
 * so the verifier checks this body once instead of once per byte.
 */
static int http_loop_cb(__u32 i, void *data)
{
	struct http_loop_ctx *c = data;
	struct bg_http_scratch *sc = c->sc;
	const struct bg_tok_cfg *cfg = c->cfg;

	if (!sc || !cfg)
		return 1;
	return bg_http_step(&sc->scan, cfg, sc->buf[i & (BG_HTTP_WINDOW - 1)]);
}

static __always_inline void flow_key_of(const struct bg_pkt *pkt, struct bg_flow_key *k)
{
	__builtin_memcpy(k->saddr, pkt->saddr, sizeof(k->saddr));
	__builtin_memcpy(k->daddr, pkt->daddr, sizeof(k->daddr));
	k->sport = pkt->sport;
	k->dport = pkt->dport;
	k->proto = pkt->l4_proto;
	k->ip_ver = pkt->ip_ver;
	k->pad = 0;
}

/*
 * Header offsets are checked against this before they index the packet:
 * the verifier only trusts a bounds check on a pointer whose variable
 * offset plus size stays below 64 KiB. No real header stack is longer.
 */
#define BG_HDR_OFF_MAX 4096

/* Does the TCP payload start with an HTTP/1.x request line? */
static __always_inline int starts_request(const struct bg_pkt *pkt, void *data, void *data_end)
{
	__u32 off = pkt->payload_off;
	void *p;
	__u64 w;

	barrier_var(off); /* check and use this copy, not a reload */
	if (!off || off > BG_HDR_OFF_MAX)
		return 0;
	p = data + off;
	if (p + BG_HTTP_MIN_REQ > data_end)
		return 0;
	__builtin_memcpy(&w, p, sizeof(w));
	return bg_http_is_request(bg_le64_to_cpu(w));
}

/* The scan's outcome other than a found token, as its counter. */
static __always_inline void count_http_miss(__u32 result)
{
	switch (result) {
	case BG_HTTP_NO_HEADER:
		bg_count(BG_C_HTTP_NO_HEADER);
		break;
	case BG_HTTP_OVERSIZED:
		bg_count(BG_C_HTTP_OVERSIZED);
		break;
	case BG_HTTP_BAD_VALUE:
		bg_count(BG_C_HTTP_BAD_VALUE);
		break;
	default:
		bg_count(BG_C_HTTP_TRUNCATED);
	}
}

/*
 * The scratch map held the request's first bytes, the token among them,
 * and the scanner's state: wipe both before returning, so that no token
 * stays in a map in clear (`bpftool map dump` shows every map).
 */
static __always_inline void wipe_scratch(struct bg_http_scratch *sc)
{
	/* volatile: or clang folds the loop into a memset, which BPF lacks */
	volatile __u64 *w = (volatile __u64 *)sc;
	int i;

	_Static_assert(sizeof(*sc) % 8 == 0, "bg_http_scratch is wiped in 8-byte words");
	BG_UNROLL
	for (i = 0; i < (int)(sizeof(*sc) / 8); i++)
		w[i] = 0;
}

/*
 * A request start: find its token and make the flow entry say so. 0 and
 * *id set on a live registered token; -1 (entry removed) otherwise.
 */
static __always_inline int classify_request(struct xdp_md *ctx, const struct bg_pkt *pkt,
					    const struct bg_tok_cfg *cfg,
					    const struct bg_flow_key *k, struct bg_flow *fl,
					    __u64 now, __u32 *id)
{
	struct bg_http_scratch *sc;
	struct http_loop_ctx lc;
	struct bg_secret *sec;
	struct bg_token *tok;
	__u32 zero = 0, n, result;
	__u64 hash;

	bg_count(BG_C_HTTP_REQUEST);
	sc = bpf_map_lookup_elem(&bg_http_scratch, &zero);
	sec = bpf_map_lookup_elem(&bg_secret, &zero);
	if (!sc || !sec)
		goto none;
	n = pkt->len - pkt->payload_off;
	if (n > BG_HTTP_WINDOW)
		n = BG_HTTP_WINDOW;
	if (n < BG_HTTP_MIN_REQ) /* checked by starts_request(): for the verifier */
		goto none;
	if (bpf_xdp_load_bytes(ctx, pkt->payload_off, sc->buf, n)) {
		wipe_scratch(sc);
		bg_count(BG_C_HTTP_TRUNCATED);
		goto none;
	}
	bg_http_scan_init(&sc->scan, sec->key[0], sec->key[1]);
	lc.sc = sc;
	lc.cfg = cfg;
	bpf_loop(n, http_loop_cb, &lc, 0);
	bg_http_end(&sc->scan);
	result = sc->scan.result;
	hash = sc->scan.hash;
	wipe_scratch(sc);
	if (result != BG_HTTP_FOUND) {
		count_http_miss(result);
		goto none;
	}
	tok = bpf_map_lookup_elem(&bg_tokens, &hash);
	if (!tok) {
		bg_count(BG_C_HTTP_UNKNOWN);
		goto dead;
	}
	if (bg_deadline_passed(tok->deadline_ns, now)) {
		bg_count(BG_C_HTTP_EXPIRED);
		goto dead;
	}
	*id = tok->id;
	if (fl && fl->source == BG_FLOW_HTTP && fl->tok_hash == hash && fl->id == tok->id) {
		fl->last_ns = now; /* the same agent again (keep-alive) */
	} else {
		struct bg_flow nf = {
			.id = tok->id,
			.source = BG_FLOW_HTTP,
			.last_ns = now,
			.idle_ns = cfg->http_idle_ns,
			.deadline_ns = tok->deadline_ns,
			.tok_hash = hash,
		};

		bpf_map_update_elem(&bg_flows, k, &nf, BPF_ANY);
	}
	return 0;

dead:
	/*
	 * on_token_expired: the request, and the segments that continue it, are
	 * the chosen identity's. The flow carries no deadline: the token's is
	 * past, or it has none.
	 */
	if (cfg->flags & BG_TOK_F_EXPIRED_ID) {
		struct bg_flow nf = {
			.id = cfg->expired_id,
			.source = BG_FLOW_HTTP,
			.last_ns = now,
			.idle_ns = cfg->http_idle_ns,
			.tok_hash = hash,
		};

		*id = cfg->expired_id;
		bpf_map_update_elem(&bg_flows, k, &nf, BPF_ANY);
		return 0;
	}
none:
	/* This request has no identity: neither have the segments that follow. */
	if (fl)
		bpf_map_delete_elem(&bg_flows, k);
	return -1;
}

/*
 * Flow and token stages: the BG_C_CLS_* source with *id set, or -1.
 *
 * A global (not inlined, not static) function: the verifier checks it once,
 * on its own, instead of once for every state the parser can leave behind
 * (which tripled the whole program's verification). Its pointer arguments
 * may be NULL as far as the verifier knows, hence the checks.
 */
__attribute__((noinline)) int bg_classify_token(struct xdp_md *ctx, const struct bg_pkt *pkt,
						__u32 *id)
{
	void *data, *data_end;
	struct bg_flow_key k;
	struct bg_tok_cfg *cfg;
	struct bg_flow *fl;
	__u32 zero = 0;
	int req = 0;
	__u64 now;

	if (!ctx || !pkt || !id)
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (pkt->l4_proto != IPPROTO_TCP && pkt->l4_proto != IPPROTO_UDP)
		return -1;
	if (!pkt->sport && !pkt->dport) /* ports not read: fragment, bad L4 */
		return -1;
	cfg = bpf_map_lookup_elem(&bg_tok_cfg, &zero);
	if (!cfg || !(cfg->flags & BG_TOK_F_ACTIVE))
		return -1;

	flow_key_of(pkt, &k);
	fl = bpf_map_lookup_elem(&bg_flows, &k);
	/* The clock only when something needs it: most packets have no entry. */
	now = fl ? bpf_ktime_get_boot_ns() : 0;
	if (fl && !bg_flow_live(fl, now)) {
		bpf_map_delete_elem(&bg_flows, &k);
		bg_count(BG_C_FLOW_EXPIRED);
		fl = NULL;
	}
	if (pkt->l4_proto == IPPROTO_TCP) {
		__u32 off = pkt->l4_off;
		struct tcphdr *th;

		barrier_var(off);
		if (off > BG_HDR_OFF_MAX)
			return -1;
		th = data + off;
		if ((void *)(th + 1) > data_end)
			return -1;
		if (th->syn && !th->ack) {
			if (fl) {
				bpf_map_delete_elem(&bg_flows, &k);
				bg_count(BG_C_FLOW_SYN);
			}
			return -1;
		}
		if (!(fl && fl->source == BG_FLOW_BIND) && (cfg->flags & BG_TOK_F_HTTP))
			req = starts_request(pkt, data, data_end);
	}
	if (req) {
		if (!now)
			now = bpf_ktime_get_boot_ns();
		return classify_request(ctx, pkt, cfg, &k, fl, now, id) ? -1 : BG_C_CLS_HTTP;
	}
	if (!fl)
		return -1;
	if (now - fl->last_ns > BG_FLOW_TOUCH_NS)
		fl->last_ns = now; /* a plain store: any recent time will do */
	*id = fl->id;
	return fl->source == BG_FLOW_BIND ? BG_C_CLS_BIND : BG_C_CLS_FLOW;
}

static __always_inline int classify_token(struct xdp_md *ctx, const struct bg_pkt *pkt, __u32 *id,
					  __u32 *src)
{
	struct bg_tok_cfg *cfg;
	__u32 zero = 0;
	int ret;

	/*
	 * The cheap refusals, inline: a host that never registered a token,
	 * or a packet without ports, does not pay for the call.
	 */
	if ((pkt->l4_proto != IPPROTO_TCP && pkt->l4_proto != IPPROTO_UDP) ||
	    (!pkt->sport && !pkt->dport))
		return -1;
	cfg = bpf_map_lookup_elem(&bg_tok_cfg, &zero);
	if (!cfg || !(cfg->flags & BG_TOK_F_ACTIVE))
		return -1;
	ret = bg_classify_token(ctx, pkt, id);

	if (ret < 0)
		return -1;
	*src = (__u32)ret;
	return 0;
}

#endif /* BG_CLASSIFY_TOKEN_H */
