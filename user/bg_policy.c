// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Policy loader: libyaml's document API (the whole tree, with the position
 * of every node), walked against the schema. The first error ends the walk;
 * it names FILE:LINE:COLUMN of the offending node, what is wrong, and what
 * is accepted.
 */
#include "bg_policy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "bg_redis.h"
#include "bg_time.h"
#include "bg_token_reg.h"
#include "bg_units.h"

struct ctx {
	yaml_document_t doc;
	const char *file;
	char *err;
	size_t errlen;
	struct bg_policy *p;
	const yaml_node_t *expired_node; /* host.on_token_expired, for messages */
};

/* Report at node n (1-based line and column, as editors count). */
__attribute__((format(printf, 3, 4))) static int fail(struct ctx *c, const yaml_node_t *n,
						      const char *fmt, ...)
{
	size_t off;
	va_list ap;

	off = (size_t)snprintf(c->err, c->errlen, "%s:%zu:%zu: ", c->file,
			       n ? n->start_mark.line + 1 : 1, n ? n->start_mark.column + 1 : 1);
	if (off >= c->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(c->err + off, c->errlen - off, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static yaml_node_t *node(struct ctx *c, int i)
{
	return yaml_document_get_node(&c->doc, i);
}

static const char *kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a value";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

static int want(struct ctx *c, const yaml_node_t *n, yaml_node_type_t t, const char *what)
{
	static const char *const names[] = {
		[YAML_SCALAR_NODE] = "a value",
		[YAML_SEQUENCE_NODE] = "a list",
		[YAML_MAPPING_NODE] = "a mapping",
	};

	if (n->type == t)
		return 0;
	return fail(c, n, "%s: expected %s, found %s", what, names[t], kind_name(n));
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* "key:" with nothing after it (or ~, null): a section left empty. */
static bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = sval(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null");
}

static int scalar(struct ctx *c, const yaml_node_t *n, const char *what, const char **out)
{
	int err = want(c, n, YAML_SCALAR_NODE, what);

	if (err)
		return err;
	*out = sval(n);
	return 0;
}

/* Keys of a mapping: a key must be a scalar, listed, and said once. */
static int check_key(struct ctx *c, const yaml_node_t *map, const yaml_node_pair_t *pair,
		     const char *const *keys, const char *where, const char **key)
{
	const yaml_node_pair_t *q;
	yaml_node_t *k = node(c, pair->key);
	char list[256] = "";
	size_t i, off = 0;

	if (k->type != YAML_SCALAR_NODE)
		return fail(c, k, "%s: keys must be plain names", where);
	*key = sval(k);
	for (q = map->data.mapping.pairs.start; q < pair; q++) {
		yaml_node_t *o = node(c, q->key);

		if (o->type == YAML_SCALAR_NODE && !strcmp(sval(o), *key))
			return fail(c, k, "%s: \"%s\" given twice (first at line %zu)", where, *key,
				    o->start_mark.line + 1);
	}
	for (i = 0; keys[i]; i++) {
		if (!strcmp(keys[i], *key))
			return 0;
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "",
					keys[i]);
		if (off >= sizeof(list))
			off = sizeof(list) - 1;
	}
	return fail(c, k, "%s: unknown key \"%s\" (accepted: %s)", where, *key, list);
}

/* ---- Values ---- */

static int parse_bool(struct ctx *c, const yaml_node_t *n, const char *what, __u32 *out)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no",
										  "off" };
	const char *s;
	size_t i;
	int err = scalar(c, n, what, &s);

	if (err)
		return err;
	for (i = 0; i < 3; i++) {
		if (!strcasecmp(s, yes[i]))
			return *out = 1, 0;
		if (!strcasecmp(s, no[i]))
			return *out = 0, 0;
	}
	return fail(c, n, "%s \"%s\": not a boolean (use true or false)", what, s);
}

/* A unit parser from bg_units.h, its error placed at the node. */
typedef int (*unit_fn)(const char *s, __u64 *v, char *err, size_t errlen);

static int parse_unit(struct ctx *c, const yaml_node_t *n, const char *what, unit_fn fn, __u64 *out)
{
	char e[200];
	const char *s;
	int err = scalar(c, n, what, &s);

	if (err)
		return err;
	if (fn(s, out, e, sizeof(e)))
		return fail(c, n, "%s %s", what, e);
	return 0;
}

static int parse_rate(struct ctx *c, const yaml_node_t *n, const char *what, unit_fn fn, __u64 *out)
{
	int err = parse_unit(c, n, what, fn, out);

	if (!err && !*out && strcasecmp(sval(n), "unlimited"))
		return fail(
			c, n,
			"%s \"%s\": zero is not a rate (use unlimited for no limit, or action: block to drop everything)",
			what, sval(n));
	return err;
}

static int parse_count(struct ctx *c, const yaml_node_t *n, const char *what, unit_fn fn, __u64 min,
		       __u64 *out)
{
	int err = parse_unit(c, n, what, fn, out);

	if (!err && *out < min)
		return fail(c, n, "%s \"%s\": must be at least %llu", what, sval(n),
			    (unsigned long long)min);
	return err;
}

static int parse_pct(struct ctx *c, const yaml_node_t *n, const char *what, __u32 *out)
{
	const char *s;
	char *end;
	long v;
	int err = scalar(c, n, what, &s);

	if (err)
		return err;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end == '%')
		end++;
	if (errno || end == s || *end || v < 1 || v > 100)
		return fail(c, n, "%s \"%s\": expected a percentage from 1%% to 100%%", what, s);
	*out = (__u32)v;
	return 0;
}

static int parse_ms(struct ctx *c, const yaml_node_t *n, const char *what, __u32 lo, __u32 hi,
		    __u32 *out)
{
	const char *s;
	char *end;
	double v;
	int err = scalar(c, n, what, &s);

	if (err)
		return err;
	errno = 0;
	v = strtod(s, &end);
	if (!strcmp(end, "ms"))
		;
	else if (!strcmp(end, "s"))
		v *= 1000;
	else
		return fail(c, n, "%s \"%s\": expected a duration in ms or s (e.g. 500ms, 2s)",
			    what, s);
	if (errno || end == s || v < lo || v > hi)
		return fail(c, n, "%s \"%s\": must be from %ums to %ums", what, s, lo, hi);
	*out = (__u32)v;
	return 0;
}

/* A duration as `token add ttl` takes it (90s, 15m, 1h30m, 7d); "0" if allow0. */
static int parse_duration_node(struct ctx *c, const yaml_node_t *n, const char *what, bool allow0,
			       __u64 *ns)
{
	const char *s;
	char e[256];
	int err = scalar(c, n, what, &s);

	if (err)
		return err;
	if (allow0 && !strcmp(s, "0")) {
		*ns = 0;
		return 0;
	}
	if (bg_parse_duration(s, ns, e, sizeof(e)))
		return fail(c, n, "%s %s%s", what, e, allow0 ? " (or 0 for none)" : "");
	return 0;
}

static int str_copy(struct ctx *c, const yaml_node_t *n, const char *what, char *dst, size_t len)
{
	const char *s;
	int err = scalar(c, n, what, &s);

	if (err)
		return err;
	if (strlen(s) >= len)
		return fail(c, n, "%s: longer than %zu characters", what, len - 1);
	snprintf(dst, len, "%s", s);
	return 0;
}

/* ---- Identities ---- */

static const char *const id_keys[] = {
	"action",	   "rate",	 "burst",	"burst_min",
	"burst_max",	   "bytes_rate", "bytes_burst", "bytes_burst_min",
	"bytes_burst_max", "prefixes",	 "token_files", "scope",
	"token_grace",	   NULL,
};

static int parse_prefixes(struct ctx *c, const yaml_node_t *list, struct bg_pol_identity *id)
{
	yaml_node_item_t *it;
	char e[200];
	int err = want(c, list, YAML_SEQUENCE_NODE, "prefixes");
	size_t n;

	if (err)
		return err;
	n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	id->pfx = calloc(n ? n : 1, sizeof(*id->pfx));
	if (!id->pfx)
		return -ENOMEM;
	for (it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
		yaml_node_t *v = node(c, *it);
		struct bg_pol_prefix *pp = &id->pfx[id->npfx];
		const char *s;

		err = scalar(c, v, "prefix", &s);
		if (err)
			return err;
		if (bg_prefix_parse(s, &pp->pfx, e, sizeof(e)))
			return fail(c, v, "%s", e);
		pp->line = (unsigned int)v->start_mark.line + 1;
		pp->col = (unsigned int)v->start_mark.column + 1;
		id->npfx++;
		if (pp->pfx.family == AF_INET)
			c->p->npfx4++;
		else
			c->p->npfx6++;
	}
	return 0;
}

static int parse_token_files(struct ctx *c, const yaml_node_t *list, struct bg_pol_identity *id)
{
	yaml_node_item_t *it;
	struct stat st;
	int err = want(c, list, YAML_SEQUENCE_NODE, "token_files");
	size_t n, i;

	if (err)
		return err;
	id->has_token_files = true;
	n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	id->token_files = calloc(n ? n : 1, sizeof(*id->token_files));
	if (!id->token_files)
		return -ENOMEM;
	for (it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
		yaml_node_t *v = node(c, *it);
		struct bg_pol_tokfile *f = &id->token_files[id->ntoken_files];
		const char *s;

		err = scalar(c, v, "token file", &s);
		if (err)
			return err;
		if (s[0] != '/')
			return fail(c, v, "token file \"%s\": must be an absolute path", s);
		if (strlen(s) >= BG_POL_PATH_LEN)
			return fail(c, v, "token file: path longer than %d characters",
				    BG_POL_PATH_LEN - 1);
		for (i = 0; i < id->ntoken_files; i++)
			if (!strcmp(id->token_files[i].path, s))
				return fail(c, v, "token file %s: listed twice (line %u)", s,
					    id->token_files[i].line);
		if (stat(s, &st))
			return fail(c, v, "token file \"%s\": %s", s, strerror(errno));
		if (!S_ISREG(st.st_mode))
			return fail(c, v, "token file \"%s\": not a regular file", s);
		f->path = strdup(s);
		if (!f->path)
			return -ENOMEM;
		f->line = (unsigned int)v->start_mark.line + 1;
		f->col = (unsigned int)v->start_mark.column + 1;
		id->ntoken_files++;
		c->p->ntoken_files++;
	}
	return 0;
}

/* Burst bounds: both or neither, min <= burst <= max, and the max must fit a bucket. */
static int check_bounds(struct ctx *c, const yaml_node_t *where, const char *kind, __u64 *min,
			__u64 *max, const yaml_node_t *nmin, const yaml_node_t *nmax, bool has_rate,
			const yaml_node_t *nburst, __u64 *burst)
{
	if (!nmin && !nmax)
		return 0;
	if (!nmin || !nmax)
		return fail(
			c, nmin ? nmin : nmax,
			"%s_min and %s_max: give both (the tuner moves the burst between them) or neither",
			kind, kind);
	if (!has_rate)
		return fail(c, nmin, "%s_min: needs a %s (the tuner never changes rates)", kind,
			    !strcmp(kind, "burst") ? "rate" : "bytes_rate");
	if (*min > *max)
		return fail(c, nmin, "%s_min %llu is above %s_max %llu", kind,
			    (unsigned long long)*min, kind, (unsigned long long)*max);
	if (nburst && (*burst < *min || *burst > *max))
		return fail(c, nburst, "%s %llu: outside %s_min..%s_max (%llu..%llu)", kind,
			    (unsigned long long)*burst, kind, kind, (unsigned long long)*min,
			    (unsigned long long)*max);
	if (!nburst)
		*burst = *min; /* start cautious: the tuner grows it when there is room */
	(void)where;
	return 0;
}

/* scope: global shares the identity's limits among the fleet's hosts (docs/fleet.md). */
static int check_global(struct ctx *c, const yaml_node_t *n, struct bg_pol_identity *id)
{
	if (id->lim.action != BG_ACT_ENFORCE && id->lim.action != BG_ACT_SHADOW)
		return fail(
			c, n,
			"identity %s: scope: global needs action enforce or shadow (%s has no limit to share)",
			id->name, bg_action_name(id->lim.action));
	if (!id->lim.rate_pps && !id->lim.byte_rate_bits)
		return fail(c, n,
			    "identity %s: scope: global needs a rate or a bytes_rate to share",
			    id->name);
	if (bg_tune_active(&id->tune))
		return fail(
			c, n,
			"identity %s: scope: global does not take burst_min/burst_max (the fleet shares one burst among its hosts; the tuner adapts one host's)",
			id->name);
	id->glim = id->lim;
	c->p->nglobal++;
	return 0;
}

static int parse_identity(struct ctx *c, const yaml_node_t *map, struct bg_pol_identity *id,
			  bool is_default)
{
	const yaml_node_t *nburst = NULL, *nbburst = NULL, *nmin = NULL, *nmax = NULL,
			  *nbmin = NULL, *nbmax = NULL, *nrate = NULL, *nbrate = NULL,
			  *nscope = NULL;
	struct bg_limits l = {}, cur = { .action = is_default ? BG_ACT_ALLOW : BG_ACT_ENFORCE };
	struct bg_tune_bounds *t = &id->tune;
	yaml_node_pair_t *pair;
	unsigned int mask = 0;
	char where[80], e[256];
	const char *key;
	int err;

	snprintf(where, sizeof(where), "identity %s", id->name);
	id->line = (unsigned int)map->start_mark.line + 1;
	id->col = (unsigned int)map->start_mark.column + 1;
	if (is_null(map))
		goto limits; /* "name:" with nothing: all defaults */
	err = want(c, map, YAML_MAPPING_NODE, where);
	if (err)
		return err;
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *v = node(c, pair->value);

		err = check_key(c, map, pair, id_keys, where, &key);
		if (err)
			return err;
		if (!strcmp(key, "action")) {
			const char *s;

			err = scalar(c, v, "action", &s);
			if (!err && bg_action_parse(s, &l.action))
				err = fail(
					c, v,
					"action \"%s\": unknown (use enforce, shadow, allow or block)",
					s);
			mask |= BG_LIM_ACTION;
		} else if (!strcmp(key, "rate")) {
			err = parse_rate(c, v, "rate", bg_parse_pps, &l.rate_pps);
			mask |= BG_LIM_RATE;
			nrate = v;
		} else if (!strcmp(key, "burst")) {
			err = parse_count(c, v, "burst", bg_parse_packets, 1, &l.burst_pkts);
			mask |= BG_LIM_BURST;
			nburst = v;
		} else if (!strcmp(key, "burst_min")) {
			err = parse_count(c, v, "burst_min", bg_parse_packets, 1, &t->min_pkts);
			nmin = v;
		} else if (!strcmp(key, "burst_max")) {
			err = parse_count(c, v, "burst_max", bg_parse_packets, 1, &t->max_pkts);
			nmax = v;
		} else if (!strcmp(key, "bytes_rate")) {
			err = parse_rate(c, v, "bytes_rate", bg_parse_bitrate, &l.byte_rate_bits);
			mask |= BG_LIM_BYTE_RATE;
			nbrate = v;
		} else if (!strcmp(key, "bytes_burst")) {
			err = parse_count(c, v, "bytes_burst", bg_parse_bytes, 64, &l.burst_bytes);
			mask |= BG_LIM_BYTE_BURST;
			nbburst = v;
		} else if (!strcmp(key, "bytes_burst_min")) {
			err = parse_count(c, v, "bytes_burst_min", bg_parse_bytes, 64,
					  &t->min_bytes);
			nbmin = v;
		} else if (!strcmp(key, "bytes_burst_max")) {
			err = parse_count(c, v, "bytes_burst_max", bg_parse_bytes, 64,
					  &t->max_bytes);
			nbmax = v;
		} else if (!strcmp(key, "scope")) {
			const char *s;

			err = scalar(c, v, "scope", &s);
			if (!err && strcmp(s, "local") && strcmp(s, "global"))
				err = fail(
					c, v,
					"scope \"%s\": unknown (use local, this host's limit, or global, the fleet's: docs/fleet.md)",
					s);
			id->global = !err && !strcmp(s, "global");
			nscope = v;
		} else if (is_default) {
			err = fail(
				c, node(c, pair->key),
				"%s: the default identity takes the traffic nothing else claims: it has no %s",
				where, key);
		} else if (!strcmp(key, "prefixes")) {
			err = parse_prefixes(c, v, id);
		} else if (!strcmp(key, "token_grace")) {
			err = parse_duration_node(c, v, "token_grace", true, &id->token_grace_ns);
			id->grace_given = true;
		} else {
			err = parse_token_files(c, v, id);
		}
		if (err)
			return err;
	}
	if (nburst && !(mask & BG_LIM_RATE))
		return fail(c, nburst, "burst: needs a rate (add rate: N[pps|kpps|mpps])");
	if (nbburst && !(mask & BG_LIM_BYTE_RATE))
		return fail(c, nbburst,
			    "bytes_burst: needs a bytes_rate (add bytes_rate: N[kbit|mbit|gbit])");
	err = check_bounds(c, map, "burst", &t->min_pkts, &t->max_pkts, nmin, nmax,
			   nrate && l.rate_pps, nburst, &l.burst_pkts);
	if (!err)
		err = check_bounds(c, map, "bytes_burst", &t->min_bytes, &t->max_bytes, nbmin,
				   nbmax, nbrate && l.byte_rate_bits, nbburst, &l.burst_bytes);
	if (err)
		return err;
	if (nmin)
		mask |= BG_LIM_BURST;
	if (nbmin)
		mask |= BG_LIM_BYTE_BURST;
	if (bg_tune_active(t))
		c->p->ntuned++;
	/* The widest bucket the tuner may set must be representable too. */
	if (t->max_pkts) {
		struct bg_bucket b;

		if (bg_bucket_set_pkts(&b, l.rate_pps, t->max_pkts))
			return fail(
				c, nmax,
				"burst_max %llu at %s: takes longer than 19.5 hours to refill, the longest a bucket can hold",
				(unsigned long long)t->max_pkts, sval(nrate));
	}
	if (t->max_bytes) {
		struct bg_bucket b;

		if (bg_bucket_set_bytes(&b, l.byte_rate_bits, t->max_bytes))
			return fail(
				c, nbmax,
				"bytes_burst_max %s at %s: takes longer than 19.5 hours to refill, the longest a bucket can hold",
				sval(nbmax), sval(nbrate));
	}
limits:
	if (bg_limits_apply(&cur, &l, mask, &id->cfg, e, sizeof(e)))
		return fail(c, nrate ? nrate : nbrate ? nbrate : map, "%s: %s", where, e);
	id->lim = cur;
	if (id->global)
		return check_global(c, nscope, id);
	return 0;
}

static int parse_identities(struct ctx *c, const yaml_node_t *map)
{
	yaml_node_pair_t *pair;
	char e[256];
	size_t n;
	int err = want(c, map, YAML_MAPPING_NODE, "identities");

	if (err)
		return err;
	n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	c->p->ids = calloc(n ? n : 1, sizeof(*c->p->ids));
	if (!c->p->ids)
		return -ENOMEM;
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = node(c, pair->key);
		struct bg_pol_identity *id = &c->p->ids[c->p->nids];
		const char *name;

		err = scalar(c, k, "identity name", &name);
		if (err)
			return err;
		if (bg_name_check(name, e, sizeof(e)))
			return fail(c, k, "%s", e);
		if (!strcmp(name, BG_ID_DEFAULT_NAME))
			return fail(
				c, k,
				"identity \"default\": give its limits in the top-level default: section");
		snprintf(id->name, sizeof(id->name), "%s", name);
		c->p->nids++; /* counted first, so bg_policy_free sees what it holds */
		err = parse_identity(c, node(c, pair->value), id, false);
		if (err)
			return err;
		id->line = (unsigned int)k->start_mark.line + 1;
		id->col = (unsigned int)k->start_mark.column + 1;
	}
	return 0;
}

/* ---- Host and controller ---- */

static int parse_mode(struct ctx *c, const yaml_node_t *v, const char *what, enum bg_mode *mode)
{
	const char *s;
	int err = scalar(c, v, what, &s);

	if (err)
		return err;
	if (!strcmp(s, "native"))
		*mode = BG_MODE_NATIVE;
	else if (!strcmp(s, "skb"))
		*mode = BG_MODE_SKB;
	else if (!strcmp(s, "multi"))
		*mode = BG_MODE_MULTI;
	else if (!strcmp(s, "auto"))
		*mode = BG_MODE_AUTO;
	else
		return fail(c, v, "%s \"%s\": use auto, native, skb or multi", what, s);
	return 0;
}

/* multi mode's place in libxdp's dispatcher: lower runs first */
static int parse_prio(struct ctx *c, const yaml_node_t *v, __u32 *prio)
{
	const char *s;
	char e[128];
	int err = scalar(c, v, "priority", &s);

	if (!err && (bg_parse_u32(s, prio, e, sizeof(e)) || *prio < 1 || *prio > 1000))
		err = fail(c, v, "priority \"%s\": a whole number from 1 (first) to 1000", s);
	return err;
}

/* host.xdp_mode and host.xdp_priority: for the interfaces that say none */
static int iface_defaults(struct ctx *c, const yaml_node_t *host)
{
	size_t i;

	for (i = 0; i < c->p->nifaces; i++) {
		struct bg_pol_iface *f = &c->p->ifaces[i];

		if (!f->mode_given)
			f->mode = c->p->xdp_mode;
		if (!f->prio_given)
			f->prio = c->p->xdp_prio;
		if (f->prio_given && f->mode != BG_MODE_MULTI)
			return fail(
				c, host,
				"interface %s (line %u): priority is for mode multi (libxdp's dispatcher)",
				f->name, f->line);
	}
	return 0;
}

static int parse_ifaces(struct ctx *c, const yaml_node_t *list)
{
	static const char *const keys[] = { "name", "mode", "priority", NULL };
	yaml_node_item_t *it;
	int err = want(c, list, YAML_SEQUENCE_NODE, "interfaces");
	size_t n, i;

	if (err)
		return err;
	n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	c->p->ifaces = calloc(n ? n : 1, sizeof(*c->p->ifaces));
	if (!c->p->ifaces)
		return -ENOMEM;
	c->p->has_ifaces = true;
	for (it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
		yaml_node_t *v = node(c, *it), *nname = v;
		struct bg_pol_iface *f = &c->p->ifaces[c->p->nifaces];
		const char *key, *s;

		f->mode = BG_MODE_AUTO;
		if (v->type == YAML_MAPPING_NODE) {
			yaml_node_pair_t *pair;

			nname = NULL;
			for (pair = v->data.mapping.pairs.start; pair < v->data.mapping.pairs.top;
			     pair++) {
				yaml_node_t *pv = node(c, pair->value);

				err = check_key(c, v, pair, keys, "interface", &key);
				if (err)
					return err;
				if (!strcmp(key, "name")) {
					nname = pv;
					continue;
				}
				if (!strcmp(key, "priority")) {
					err = parse_prio(c, pv, &f->prio);
					if (err)
						return err;
					f->prio_given = true;
					continue;
				}
				err = parse_mode(c, pv, "interface mode", &f->mode);
				if (err)
					return err;
				f->mode_given = true;
			}
			if (!nname)
				return fail(c, v, "interface: needs a name");
		}
		err = scalar(c, nname, "interface", &s);
		if (err)
			return err;
		if (!*s || strlen(s) >= IF_NAMESIZE || strchr(s, '/') || strchr(s, ' '))
			return fail(c, nname, "interface \"%s\": not an interface name", s);
		for (i = 0; i < c->p->nifaces; i++)
			if (!strcmp(c->p->ifaces[i].name, s))
				return fail(c, nname, "interface %s: listed twice (line %u)", s,
					    c->p->ifaces[i].line);
		snprintf(f->name, sizeof(f->name), "%s", s);
		f->line = (unsigned int)nname->start_mark.line + 1;
		f->col = (unsigned int)nname->start_mark.column + 1;
		c->p->nifaces++;
	}
	return 0;
}

static int parse_capacity(struct ctx *c, const yaml_node_t *map)
{
	static const char *const keys[] = { "rate", "bytes_rate", NULL };
	yaml_node_pair_t *pair;
	const char *key;
	int err = want(c, map, YAML_MAPPING_NODE, "capacity");

	for (pair = map->data.mapping.pairs.start; !err && pair < map->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *v = node(c, pair->value);

		err = check_key(c, map, pair, keys, "capacity", &key);
		if (err)
			break;
		if (!strcmp(key, "rate"))
			err = parse_rate(c, v, "capacity rate", bg_parse_pps,
					 &c->p->ctl.capacity_pps);
		else
			err = parse_rate(c, v, "capacity bytes_rate", bg_parse_bitrate,
					 &c->p->ctl.capacity_bits);
	}
	return err;
}

static int parse_u32_node(struct ctx *c, const yaml_node_t *n, const char *what, __u32 min,
			  __u32 *out)
{
	char e[200];
	const char *s;
	int err = scalar(c, n, what, &s);

	if (err)
		return err;
	if (bg_parse_u32(s, out, e, sizeof(e)) || *out < min)
		return fail(c, n, "%s \"%s\": expected a whole number from %u to 4294967295", what,
			    s, min);
	return 0;
}

/* host.on_token_expired: default | block | IDENTITY (resolved in resolve_expired) */
static int parse_expired(struct ctx *c, const yaml_node_t *v)
{
	const char *s;
	char e[256];
	int err = scalar(c, v, "on_token_expired", &s);

	if (err)
		return err;
	if (!strcmp(s, "default"))
		s = "";
	else if (!strcmp(s, "block"))
		s = BG_POL_EXPIRED_BLOCK_NAME;
	else if (bg_name_check(s, e, sizeof(e)))
		return fail(c, v, "on_token_expired: %s (use default, block or an identity's name)",
			    e);
	snprintf(c->p->on_token_expired, sizeof(c->p->on_token_expired), "%s", s);
	c->expired_node = v;
	return 0;
}

/*
 * The identity on_token_expired names must be one of the policy's; `block`
 * adds its identity (action block) when the policy does not define it.
 */
static int resolve_expired(struct ctx *c)
{
	struct bg_policy *p = c->p;
	struct bg_pol_identity *ids, *id;
	struct bg_limits l = { .action = BG_ACT_BLOCK };
	size_t i;

	if (!p->on_token_expired[0])
		return 0;
	for (i = 0; i < p->nids; i++)
		if (!strcmp(p->ids[i].name, p->on_token_expired))
			return 0;
	if (strcmp(p->on_token_expired, BG_POL_EXPIRED_BLOCK_NAME))
		return fail(
			c, c->expired_node,
			"on_token_expired: identity \"%s\" is not defined under identities (define it, or use default or block)",
			p->on_token_expired);
	ids = realloc(p->ids, (p->nids + 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	p->ids = ids;
	id = &ids[p->nids++];
	memset(id, 0, sizeof(*id));
	snprintf(id->name, sizeof(id->name), "%s", BG_POL_EXPIRED_BLOCK_NAME);
	id->lim.action = BG_ACT_BLOCK;
	bg_limits_apply(&id->lim, &l, BG_LIM_ACTION, &id->cfg, NULL, 0);
	id->line = (unsigned int)c->expired_node->start_mark.line + 1;
	id->col = (unsigned int)c->expired_node->start_mark.column + 1;
	return 0;
}

static int parse_host(struct ctx *c, const yaml_node_t *map)
{
	static const char *const keys[] = { "shadow",
					    "malformed",
					    "interfaces",
					    "capacity",
					    "max_identities",
					    "max_prefixes",
					    "http_token_header",
					    "http_token_scheme",
					    "on_token_expired",
					    "token_grace",
					    "xdp_mode",
					    "xdp_priority",
					    NULL };
	struct bg_tok_cfg scratch = {};
	yaml_node_pair_t *pair;
	const char *key, *s;
	char e[256];
	int err = want(c, map, YAML_MAPPING_NODE, "host");

	for (pair = map->data.mapping.pairs.start; !err && pair < map->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *v = node(c, pair->value);

		err = check_key(c, map, pair, keys, "host", &key);
		if (err)
			break;
		if (!strcmp(key, "shadow")) {
			err = parse_bool(c, v, "shadow", &c->p->shadow);
		} else if (!strcmp(key, "malformed")) {
			err = scalar(c, v, "malformed", &s);
			if (!err && !strcmp(s, "drop"))
				c->p->malformed = BG_MALFORMED_DROP;
			else if (!err && strcmp(s, "pass"))
				err = fail(c, v, "malformed \"%s\": use pass or drop", s);
		} else if (!strcmp(key, "interfaces")) {
			err = parse_ifaces(c, v);
		} else if (!strcmp(key, "xdp_mode")) {
			err = parse_mode(c, v, "xdp_mode", &c->p->xdp_mode);
		} else if (!strcmp(key, "xdp_priority")) {
			err = parse_prio(c, v, &c->p->xdp_prio);
		} else if (!strcmp(key, "capacity")) {
			err = parse_capacity(c, v);
		} else if (!strcmp(key, "max_identities")) {
			err = parse_u32_node(c, v, "max_identities", 2, &c->p->max_ids);
		} else if (!strcmp(key, "max_prefixes")) {
			err = parse_u32_node(c, v, "max_prefixes", 2, &c->p->max_pfx);
		} else if (!strcmp(key, "token_grace")) {
			err = parse_duration_node(c, v, "token_grace", true, &c->p->token_grace_ns);
		} else if (!strcmp(key, "http_token_header")) {
			/* the same rules as `burstctl token config header` */
			err = str_copy(c, v, "http_token_header", c->p->http_token_header,
				       sizeof(c->p->http_token_header));
			if (!err &&
			    bg_tok_cfg_set_header(&scratch, c->p->http_token_header, e, sizeof(e)))
				err = fail(c, v, "http_token_header: %s", e);
			c->p->header_given = true;
		} else if (!strcmp(key, "on_token_expired")) {
			err = parse_expired(c, v);
		} else {
			err = scalar(c, v, "http_token_scheme", &s);
			if (!err && bg_tok_cfg_set_scheme(&scratch, s, e, sizeof(e)))
				err = fail(
					c, v,
					"http_token_scheme: %s (use bearer, none for a header whose whole value is the token, or another scheme word)",
					e);
			if (!err)
				bg_tok_cfg_scheme(&scratch, c->p->http_token_scheme,
						  sizeof(c->p->http_token_scheme));
			c->p->scheme_given = true;
		}
	}
	if (!err && c->p->xdp_prio && c->p->xdp_mode != BG_MODE_MULTI)
		err = fail(c, map, "xdp_priority is for xdp_mode: multi (libxdp's dispatcher)");
	return err ? err : iface_defaults(c, map);
}

/* The bind socket: a path the controller may create a Unix socket at. */
static int parse_socket(struct ctx *c, const yaml_node_t *v)
{
	int err = str_copy(c, v, "bind_socket", c->p->bind_socket, sizeof(c->p->bind_socket));

	if (!err && c->p->bind_socket[0] != '/')
		err = fail(c, v, "bind_socket \"%s\": must be an absolute path", c->p->bind_socket);
	return err;
}

static int parse_group(struct ctx *c, const yaml_node_t *v)
{
	int err = str_copy(c, v, "bind_socket_group", c->p->bind_group, sizeof(c->p->bind_group));
	const char *g = c->p->bind_group;

	if (!err && !getgrnam(g) && (!*g || strspn(g, "0123456789") != strlen(g)))
		err = fail(
			c, v,
			"bind_socket_group \"%s\": no such group here (a name from /etc/group, or a number)",
			g);
	return err;
}

static int parse_controller(struct ctx *c, const yaml_node_t *map)
{
	static const char *const keys[] = { "tune_interval",   "grow_below",  "shrink_above",
					    "audit_log",       "bind_socket", "bind_socket_group",
					    "upgrade_program", NULL };
	yaml_node_pair_t *pair;
	const char *key;
	int err = want(c, map, YAML_MAPPING_NODE, "controller");
	const yaml_node_t *ngrow = NULL, *ngroup = NULL;

	for (pair = map->data.mapping.pairs.start; !err && pair < map->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *v = node(c, pair->value);

		err = check_key(c, map, pair, keys, "controller", &key);
		if (err)
			break;
		if (!strcmp(key, "tune_interval")) {
			err = parse_ms(c, v, "tune_interval", 100, 60000,
				       &c->p->ctl.tune_interval_ms);
		} else if (!strcmp(key, "grow_below")) {
			err = parse_pct(c, v, "grow_below", &c->p->ctl.grow_below_pct);
			ngrow = v;
		} else if (!strcmp(key, "shrink_above")) {
			err = parse_pct(c, v, "shrink_above", &c->p->ctl.shrink_above_pct);
			ngrow = ngrow ? ngrow : v;
		} else if (!strcmp(key, "bind_socket")) {
			err = parse_socket(c, v);
		} else if (!strcmp(key, "bind_socket_group")) {
			err = parse_group(c, v);
			ngroup = v;
		} else if (!strcmp(key, "upgrade_program")) {
			__u32 up = 1;

			err = parse_bool(c, v, "upgrade_program", &up);
			c->p->no_upgrade = !up;
		} else {
			err = str_copy(c, v, "audit_log", c->p->audit_log, sizeof(c->p->audit_log));
			if (!err && c->p->audit_log[0] != '/')
				err = fail(c, v, "audit_log \"%s\": must be an absolute path",
					   c->p->audit_log);
		}
	}
	if (!err && c->p->ctl.grow_below_pct >= c->p->ctl.shrink_above_pct)
		err = fail(
			c, ngrow,
			"grow_below (%u%%) must be below shrink_above (%u%%): the band between them is where the tuner rests",
			c->p->ctl.grow_below_pct, c->p->ctl.shrink_above_pct);
	if (!err && ngroup && !c->p->bind_socket[0])
		err = fail(
			c, ngroup,
			"bind_socket_group: needs a bind_socket (the group may use that socket)");
	return err;
}

/* ---- Fleet ---- */

/* A host id: 1-63 characters of [A-Za-z0-9_.:@-], not starting with '_' (the script's own). */
static bool host_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= BG_FLEET_HOST_LEN || s[0] == '_' || s[0] == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-") ==
	       n;
}

static int parse_fleet(struct ctx *c, const yaml_node_t *map)
{
	static const char *const keys[] = { "engine",	      "host",  "interval", "lease",
					    "member_timeout", "floor", "hosts",	   "on_engine_down",
					    "password_file",  NULL };
	struct bg_fleet_cfg *f = &c->p->fleet;
	const yaml_node_t *nengine = NULL, *nlease = NULL, *nmember = NULL;
	yaml_node_pair_t *pair;
	struct bg_redis_addr a;
	const char *key, *s;
	char e[256];
	int err = want(c, map, YAML_MAPPING_NODE, "fleet");

	for (pair = map->data.mapping.pairs.start; !err && pair < map->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *v = node(c, pair->value);

		err = check_key(c, map, pair, keys, "fleet", &key);
		if (err)
			break;
		if (!strcmp(key, "engine")) {
			err = str_copy(c, v, "engine", f->engine, sizeof(f->engine));
			if (!err && bg_redis_parse_addr(f->engine, &a, e, sizeof(e)))
				err = fail(c, v, "%s", e);
			nengine = v;
		} else if (!strcmp(key, "host")) {
			err = str_copy(c, v, "host", f->host, sizeof(f->host));
			if (!err && !host_id_ok(f->host))
				err = fail(
					c, v,
					"host \"%s\": a host id is 1-63 characters of letters, digits and _ . : @ -, not starting with _ or -",
					f->host);
		} else if (!strcmp(key, "interval")) {
			err = parse_ms(c, v, "interval", BG_FLEET_INTERVAL_MS_MIN,
				       BG_FLEET_INTERVAL_MS_MAX, &f->interval_ms);
		} else if (!strcmp(key, "lease")) {
			err = parse_ms(c, v, "lease", 100, 600000, &f->lease_ms);
			nlease = v;
		} else if (!strcmp(key, "member_timeout")) {
			err = parse_ms(c, v, "member_timeout", 300, 3600000, &f->member_timeout_ms);
			nmember = v;
		} else if (!strcmp(key, "floor")) {
			char *end;
			double pct;

			err = scalar(c, v, "floor", &s);
			if (err)
				break;
			errno = 0;
			pct = strtod(s, &end);
			if (errno || end == s || strcmp(end, "%") || pct < 0 || pct > 50)
				err = fail(c, v,
					   "floor \"%s\": expected a percentage from 0%% to 50%%",
					   s);
			f->floor_ppm = (__u32)(pct * 10000 + 0.5);
		} else if (!strcmp(key, "hosts")) {
			err = parse_u32_node(c, v, "hosts", 1, &f->hosts);
		} else if (!strcmp(key, "on_engine_down")) {
			err = scalar(c, v, "on_engine_down", &s);
			if (!err && !strcmp(s, "safe"))
				f->on_down = BG_FLEET_DOWN_SAFE;
			else if (!err && !strcmp(s, "open"))
				f->on_down = BG_FLEET_DOWN_OPEN;
			else if (!err)
				err = fail(
					c, v,
					"on_engine_down \"%s\": unknown (use safe, R/N per host, or open, the whole limit per host)",
					s);
		} else {
			err = str_copy(c, v, "password_file", f->password_file,
				       sizeof(f->password_file));
			if (!err && f->password_file[0] != '/')
				err = fail(c, v, "password_file \"%s\": must be an absolute path",
					   f->password_file);
		}
	}
	if (err)
		return err;
	if (!nengine)
		return fail(c, map, "fleet: needs an engine (redis://HOST[:PORT] or unix:/PATH)");
	if (!f->lease_ms)
		f->lease_ms = BG_FLEET_LEASE_INTERVALS * f->interval_ms;
	if (f->lease_ms < 2 * f->interval_ms)
		return fail(
			c, nlease ? nlease : map,
			"lease %ums: must be at least twice the interval (%ums): a lease is renewed every interval and must outlive a late answer",
			f->lease_ms, f->interval_ms);
	if (f->member_timeout_ms < 3 * f->lease_ms)
		return fail(
			c, nmember ? nmember : map,
			"member_timeout %ums: must be at least 3 leases (%ums): a silent host's share stays reserved while it may still use its lease",
			f->member_timeout_ms, 3 * f->lease_ms);
	return 0;
}

/* ---- Whole-policy checks ---- */

struct pfx_ref {
	const struct bg_pol_prefix *pp;
	const struct bg_pol_identity *id;
};

static int cmp_pfx(const void *a, const void *b)
{
	const struct bg_prefix *x = &((const struct pfx_ref *)a)->pp->pfx;
	const struct bg_prefix *y = &((const struct pfx_ref *)b)->pp->pfx;
	int r;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	r = memcmp(x->addr, y->addr, 16);
	if (r)
		return r;
	/* equal prefixes: file order, so the error points at the second */
	return ((const struct pfx_ref *)a)->pp->line < ((const struct pfx_ref *)b)->pp->line ? -1 :
											       1;
}

static int cmp_name(const void *a, const void *b)
{
	const struct bg_pol_identity *x = *(const struct bg_pol_identity *const *)a;
	const struct bg_pol_identity *y = *(const struct bg_pol_identity *const *)b;
	int r = strcmp(x->name, y->name);

	return r ? r : (x->line < y->line ? -1 : 1);
}

static int check_unique(struct ctx *c)
{
	struct bg_policy *p = c->p;
	const struct bg_pol_identity **byname;
	struct pfx_ref *refs;
	size_t i, j, n = 0;
	char buf[64];
	int err = 0;

	byname = calloc(p->nids ? p->nids : 1, sizeof(*byname));
	refs = calloc(p->npfx4 + p->npfx6 + 1, sizeof(*refs));
	if (!byname || !refs) {
		err = -ENOMEM;
		goto out;
	}
	/* libyaml accepts a repeated key; a policy must not. */
	for (i = 0; i < p->nids; i++)
		byname[i] = &p->ids[i];
	qsort(byname, p->nids, sizeof(*byname), cmp_name);
	for (i = 1; i < p->nids; i++) {
		if (!strcmp(byname[i]->name, byname[i - 1]->name)) {
			snprintf(c->err, c->errlen,
				 "%s:%u:%u: identity %s: defined twice (first at line %u)", c->file,
				 byname[i]->line, byname[i]->col, byname[i]->name,
				 byname[i - 1]->line);
			err = -EINVAL;
			goto out;
		}
	}
	for (i = 0; i < p->nids; i++)
		for (j = 0; j < p->ids[i].npfx; j++)
			refs[n++] = (struct pfx_ref){ &p->ids[i].pfx[j], &p->ids[i] };
	qsort(refs, n, sizeof(*refs), cmp_pfx);
	for (i = 1; i < n; i++) {
		const struct bg_prefix *x = &refs[i].pp->pfx, *y = &refs[i - 1].pp->pfx;

		if (x->family == y->family && x->len == y->len && !memcmp(x->addr, y->addr, 16)) {
			snprintf(
				c->err, c->errlen,
				"%s:%u:%u: prefix %s: already given to identity %s at line %u (a prefix belongs to one identity)",
				c->file, refs[i].pp->line, refs[i].pp->col,
				bg_prefix_fmt(x, buf, sizeof(buf)), refs[i - 1].id->name,
				refs[i - 1].pp->line);
			err = -EINVAL;
			goto out;
		}
	}
out:
	free(byname);
	free(refs);
	return err;
}

void bg_policy_init(struct bg_policy *p)
{
	struct bg_limits l = {};

	memset(p, 0, sizeof(*p));
	snprintf(p->deflt.name, sizeof(p->deflt.name), BG_ID_DEFAULT_NAME);
	p->deflt.lim.action = BG_ACT_ALLOW;
	bg_limits_apply(&p->deflt.lim, &l, 0, &p->deflt.cfg, NULL, 0);
	p->ctl.tune_interval_ms = BG_TUNE_INTERVAL_MS_DEFAULT;
	p->ctl.grow_below_pct = BG_GROW_BELOW_PCT_DEFAULT;
	p->ctl.shrink_above_pct = BG_SHRINK_ABOVE_PCT_DEFAULT;
	snprintf(p->audit_log, sizeof(p->audit_log), "%s", BG_AUDIT_LOG_DEFAULT);
	snprintf(p->http_token_header, sizeof(p->http_token_header), "%s", BG_POL_HEADER_DEFAULT);
	snprintf(p->http_token_scheme, sizeof(p->http_token_scheme), "%s", BG_POL_SCHEME_DEFAULT);
	p->fleet.interval_ms = BG_FLEET_INTERVAL_MS_DEFAULT;
	p->fleet.member_timeout_ms = BG_FLEET_MEMBER_TIMEOUT_MS_DEFAULT;
	p->fleet.floor_ppm = BG_FLEET_FLOOR_PPM_DEFAULT;
	p->fleet.hosts = 1;
	p->fleet.on_down = BG_FLEET_DOWN_SAFE;
	if (gethostname(p->fleet.host, sizeof(p->fleet.host)) || !host_id_ok(p->fleet.host))
		snprintf(p->fleet.host, sizeof(p->fleet.host), "localhost");
}

static int parse_root(struct ctx *c, const yaml_node_t *root)
{
	static const char *const keys[] = { "version",	  "host",  "controller", "default",
					    "identities", "fleet", NULL };
	const yaml_node_t *nfleet = NULL;
	yaml_node_pair_t *pair;
	bool has_version = false;
	const char *key, *s;
	int err;

	if (!root)
		return fail(c, NULL, "empty file (a policy needs at least `version: 1`)");
	err = want(c, root, YAML_MAPPING_NODE, "policy");
	if (err)
		return err;
	for (pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *v = node(c, pair->value);

		err = check_key(c, root, pair, keys, "policy", &key);
		if (err)
			return err;
		if (strcmp(key, "version") && is_null(v))
			continue; /* an empty section: its defaults */
		if (!strcmp(key, "version")) {
			err = scalar(c, v, "version", &s);
			if (!err && strcmp(s, "1"))
				err = fail(c, v,
					   "version \"%s\": this burstctl reads policy version 1",
					   s);
			has_version = true;
		} else if (!strcmp(key, "host")) {
			err = parse_host(c, v);
		} else if (!strcmp(key, "controller")) {
			err = parse_controller(c, v);
		} else if (!strcmp(key, "default")) {
			err = parse_identity(c, v, &c->p->deflt, true);
		} else if (!strcmp(key, "fleet")) {
			err = parse_fleet(c, v);
			nfleet = v;
		} else {
			err = parse_identities(c, v);
		}
		if (err)
			return err;
	}
	if (!has_version)
		return fail(c, root, "missing `version: 1` (the policy format's version)");
	if (c->p->nglobal && !nfleet)
		return fail(
			c, root,
			"identities with scope: global need a fleet section (fleet: engine: redis://HOST:PORT; docs/fleet.md)");
	err = check_unique(c);
	return err ? err : resolve_expired(c);
}

int bg_policy_parse(const char *name, const char *text, size_t len, struct bg_policy *p, char *err,
		    size_t errlen)
{
	struct ctx c = { .file = name, .err = err, .errlen = errlen, .p = p };
	yaml_parser_t parser;
	int ret;

	bg_policy_init(p);
	snprintf(p->path, sizeof(p->path), "%s", name);
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &c.doc)) {
		const yaml_mark_t *m = parser.problem_mark.line || parser.problem_mark.column ?
					       &parser.problem_mark :
					       &parser.context_mark;

		snprintf(err, errlen, "%s:%zu:%zu: not valid YAML: %s%s%s", name, m->line + 1,
			 m->column + 1, parser.problem ? parser.problem : "syntax error",
			 parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	ret = parse_root(&c, yaml_document_get_root_node(&c.doc));
	yaml_document_delete(&c.doc);
	yaml_parser_delete(&parser);
	if (ret == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", name);
	if (ret)
		bg_policy_free(p);
	return ret;
}

int bg_policy_load(const char *path, struct bg_policy *p, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f, *mem;
	char buf[65536];
	size_t n;
	int ret;

	bg_policy_init(p);
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	mem = open_memstream(&text, &len);
	if (!mem) {
		fclose(f);
		return -ENOMEM;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, mem);
	ret = ferror(f) ? -EIO : 0;
	fclose(f);
	fclose(mem);
	if (ret)
		snprintf(err, errlen, "%s: read error", path);
	else
		ret = bg_policy_parse(path, text, len, p, err, errlen);
	free(text);
	return ret;
}

static void free_identity(struct bg_pol_identity *id)
{
	size_t i;

	for (i = 0; i < id->ntoken_files; i++)
		free(id->token_files[i].path);
	free(id->token_files);
	free(id->pfx);
	id->token_files = NULL;
	id->pfx = NULL;
}

void bg_policy_free(struct bg_policy *p)
{
	size_t i;

	free_identity(&p->deflt);
	for (i = 0; i < p->nids; i++)
		free_identity(&p->ids[i]);
	free(p->ids);
	free(p->ifaces);
	free(p->toks);
	p->ids = NULL;
	p->ifaces = NULL;
	p->toks = NULL;
	p->nids = p->nifaces = p->ntoks = 0;
	p->toks_loaded = false;
}

/* ---- Writing ---- */

/* Double-quoted YAML scalar: only " and \ need escaping in our values. */
static void put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void write_limits(FILE *f, const struct bg_pol_identity *id, const char *ind)
{
	const struct bg_limits *l = id->global ? &id->glim : &id->lim;
	char buf[48];

	fprintf(f, "%saction: %s\n", ind, bg_action_name(l->action));
	if (id->global)
		fprintf(f, "%sscope: global\n", ind);
	if (l->rate_pps) {
		fprintf(f, "%srate: %s\n", ind, bg_fmt_pps(l->rate_pps, buf, sizeof(buf)));
		fprintf(f, "%sburst: %llu\n", ind, (unsigned long long)l->burst_pkts);
		if (id->tune.max_pkts)
			fprintf(f, "%sburst_min: %llu\n%sburst_max: %llu\n", ind,
				(unsigned long long)id->tune.min_pkts, ind,
				(unsigned long long)id->tune.max_pkts);
	}
	if (l->byte_rate_bits) {
		fprintf(f, "%sbytes_rate: %s\n", ind,
			bg_fmt_bitrate(l->byte_rate_bits, buf, sizeof(buf)));
		fprintf(f, "%sbytes_burst: %s\n", ind,
			bg_fmt_bytes(l->burst_bytes, buf, sizeof(buf)));
		if (id->tune.max_bytes) {
			fprintf(f, "%sbytes_burst_min: %s\n", ind,
				bg_fmt_bytes(id->tune.min_bytes, buf, sizeof(buf)));
			fprintf(f, "%sbytes_burst_max: %s\n", ind,
				bg_fmt_bytes(id->tune.max_bytes, buf, sizeof(buf)));
		}
	}
}

int bg_policy_write(FILE *f, const struct bg_policy *p)
{
	char buf[64];
	size_t i, j;

	fprintf(f, "version: %d\n", BG_POL_VERSION);
	fprintf(f, "host:\n  shadow: %s\n  malformed: %s\n", p->shadow ? "true" : "false",
		p->malformed == BG_MALFORMED_DROP ? "drop" : "pass");
	if (p->has_ifaces) {
		fprintf(f, "  interfaces:%s\n", p->nifaces ? "" : " []");
		for (i = 0; i < p->nifaces; i++) {
			fprintf(f, "    - { name: %s, mode: %s", p->ifaces[i].name,
				bg_mode_name(p->ifaces[i].mode));
			if (p->ifaces[i].mode == BG_MODE_MULTI && p->ifaces[i].prio)
				fprintf(f, ", priority: %u", p->ifaces[i].prio);
			fprintf(f, " }\n");
		}
	}
	if (p->ctl.capacity_pps || p->ctl.capacity_bits) {
		fprintf(f, "  capacity:\n");
		if (p->ctl.capacity_pps)
			fprintf(f, "    rate: %s\n",
				bg_fmt_pps(p->ctl.capacity_pps, buf, sizeof(buf)));
		if (p->ctl.capacity_bits)
			fprintf(f, "    bytes_rate: %s\n",
				bg_fmt_bitrate(p->ctl.capacity_bits, buf, sizeof(buf)));
	}
	if (p->max_ids)
		fprintf(f, "  max_identities: %u\n", p->max_ids);
	if (p->max_pfx)
		fprintf(f, "  max_prefixes: %u\n", p->max_pfx);
	fprintf(f, "  http_token_header: %s\n  http_token_scheme: %s\n", p->http_token_header,
		p->http_token_scheme[0] ? p->http_token_scheme : "none");
	if (p->on_token_expired[0]) {
		fprintf(f, "  on_token_expired: ");
		put_quoted(f, p->on_token_expired);
		fprintf(f, "\n");
	}
	if (p->token_grace_ns)
		fprintf(f, "  token_grace: %s\n",
			bg_fmt_duration(p->token_grace_ns, buf, sizeof(buf)));
	fprintf(f, "controller:\n  tune_interval: %ums\n  grow_below: %u%%\n  shrink_above: %u%%\n",
		p->ctl.tune_interval_ms, p->ctl.grow_below_pct, p->ctl.shrink_above_pct);
	fprintf(f, "  audit_log: ");
	put_quoted(f, p->audit_log);
	if (p->bind_socket[0]) {
		fprintf(f, "\n  bind_socket: ");
		put_quoted(f, p->bind_socket);
	}
	if (p->bind_group[0]) {
		fprintf(f, "\n  bind_socket_group: ");
		put_quoted(f, p->bind_group);
	}
	if (p->no_upgrade)
		fprintf(f, "\n  upgrade_program: false");
	fprintf(f, "\n");
	if (p->fleet.engine[0]) {
		const struct bg_fleet_cfg *fl = &p->fleet;

		fprintf(f, "fleet:\n  engine: ");
		put_quoted(f, fl->engine);
		fprintf(f, "\n  host: ");
		put_quoted(f, fl->host);
		fprintf(f, "\n  interval: %ums\n  lease: %ums\n  member_timeout: %ums\n",
			fl->interval_ms, fl->lease_ms, fl->member_timeout_ms);
		fprintf(f, "  floor: %g%%\n  hosts: %u\n  on_engine_down: %s\n",
			fl->floor_ppm / 10000.0, fl->hosts,
			fl->on_down == BG_FLEET_DOWN_OPEN ? "open" : "safe");
		if (fl->password_file[0]) {
			fprintf(f, "  password_file: ");
			put_quoted(f, fl->password_file);
			fprintf(f, "\n");
		}
	}
	fprintf(f, "default:\n");
	write_limits(f, &p->deflt, "  ");
	fprintf(f, "identities:%s\n", p->nids ? "" : " {}");
	for (i = 0; i < p->nids; i++) {
		const struct bg_pol_identity *id = &p->ids[i];

		fprintf(f, "  ");
		put_quoted(f, id->name);
		fprintf(f, ":\n");
		write_limits(f, id, "    ");
		if (id->npfx) {
			fprintf(f, "    prefixes: [");
			for (j = 0; j < id->npfx; j++)
				fprintf(f, "%s%s", j ? ", " : "",
					bg_prefix_fmt(&id->pfx[j].pfx, buf, sizeof(buf)));
			fprintf(f, "]\n");
		}
		if (id->has_token_files) {
			fprintf(f, "    token_files: [");
			for (j = 0; j < id->ntoken_files; j++) {
				fprintf(f, "%s", j ? ", " : "");
				put_quoted(f, id->token_files[j].path);
			}
			fprintf(f, "]\n");
		}
		if (id->grace_given)
			fprintf(f, "    token_grace: %s\n",
				id->token_grace_ns ?
					bg_fmt_duration(id->token_grace_ns, buf, sizeof(buf)) :
					"0");
	}
	return ferror(f) ? -EIO : 0;
}

void bg_policy_notes(const struct bg_policy *p, void (*fn)(void *arg, const char *note), void *arg)
{
	char note[512];
	size_t i, np = 0, nb = 0;

	if (p->loose_files) {
		snprintf(
			note, sizeof(note),
			"token file %s%s is readable by group or others: tokens are credentials (chmod 600)",
			p->loose_file, p->loose_files > 1 ? " (and others)" : "");
		fn(arg, note);
	}
	/* limits an action ignores: probably a forgotten `action: enforce` */
	for (i = 0; i <= p->nids; i++) {
		const struct bg_pol_identity *id = i < p->nids ? &p->ids[i] : &p->deflt;

		if ((id->lim.action != BG_ACT_ALLOW && id->lim.action != BG_ACT_BLOCK) ||
		    (!id->lim.rate_pps && !id->lim.byte_rate_bits))
			continue;
		if (id->lim.action == BG_ACT_ALLOW)
			snprintf(
				note, sizeof(note),
				"%s%s has limits but action allow, which ignores them: nothing of it is metered (add `action: enforce`, or `action: shadow` to see what they would drop)",
				id == &p->deflt ? "" : "identity ", id->name);
		else
			snprintf(
				note, sizeof(note),
				"%s%s has limits but action block, which drops everything: the limits never apply",
				id == &p->deflt ? "" : "identity ", id->name);
		fn(arg, note);
	}
	if (p->expired_lines) {
		snprintf(
			note, sizeof(note),
			"%zu token%s past %s expires= not registered (%s%s): remove %s from the file",
			p->expired_lines, p->expired_lines == 1 ? "" : "s",
			p->expired_lines == 1 ? "its" : "their", p->expired_line,
			p->expired_lines > 1 ? " and others" : "",
			p->expired_lines == 1 ? "it" : "them");
		fn(arg, note);
	}
	if (p->header_given && !p->scheme_given &&
	    strcasecmp(p->http_token_header, "authorization")) {
		snprintf(
			note, sizeof(note),
			"http_token_header %s with the default scheme bearer: requests must carry \"%s: Bearer TOKEN\" (http_token_scheme: none for \"%s: TOKEN\")",
			p->http_token_header, p->http_token_header, p->http_token_header);
		fn(arg, note);
	}
	for (i = 0; i < p->nids; i++) {
		if (p->ids[i].grace_given && p->ids[i].token_grace_ns &&
		    !p->ids[i].has_token_files) {
			snprintf(
				note, sizeof(note),
				"identity %s: token_grace without token_files does nothing (it is the grace of tokens taken out of token files; `burstctl token rotate` takes its own)",
				p->ids[i].name);
			fn(arg, note);
		}
	}
	for (i = 0; i < p->nids; i++) {
		np += p->ids[i].tune.max_pkts && !p->ctl.capacity_pps;
		nb += p->ids[i].tune.max_bytes && !p->ctl.capacity_bits;
	}
	np += p->deflt.tune.max_pkts && !p->ctl.capacity_pps;
	nb += p->deflt.tune.max_bytes && !p->ctl.capacity_bits;
	if (np) {
		snprintf(
			note, sizeof(note),
			"%zu identit%s burst_min/burst_max but host.capacity.rate is not declared: their bursts stay where they are (the tuner needs a capacity to compare the load with)",
			np, np == 1 ? "y has" : "ies have");
		fn(arg, note);
	}
	if (nb) {
		snprintf(
			note, sizeof(note),
			"%zu identit%s bytes_burst_min/bytes_burst_max but host.capacity.bytes_rate is not declared: their byte bursts stay where they are",
			nb, nb == 1 ? "y has" : "ies have");
		fn(arg, note);
	}
}

/* ---- Token files ---- */

/* "POLICY:LINE:COL: token file PATH: ...", at the policy's entry for the file. */
__attribute__((format(printf, 5, 6))) static int tok_fail(const struct bg_policy *p,
							  const struct bg_pol_tokfile *f, char *err,
							  size_t errlen, const char *fmt, ...)
{
	size_t off;
	va_list ap;

	off = (size_t)snprintf(err, errlen, "%s:%u:%u: token file %s: ", p->path, f->line, f->col,
			       f->path);
	if (off < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + off, errlen - off, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int add_tok(struct bg_policy *p, size_t *cap, const struct bg_pol_token *t)
{
	struct bg_pol_token *v;

	if (p->ntoks == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		v = realloc(p->toks, *cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->toks = v;
	}
	p->toks[p->ntoks++] = *t;
	return 0;
}

/*
 * "TOKEN" or "TOKEN expires=TIME": *n becomes the token's length. Messages
 * never quote the line: what follows the token may be another token.
 */
static int split_expiry(const char *line, size_t *n, __s64 *expires_unix, char *e, size_t elen)
{
	const char *rest, *end = line + *n;
	char when[64], why[128];
	size_t tn;

	*expires_unix = 0;
	for (tn = 0; tn < *n && line[tn] != ' ' && line[tn] != '\t'; tn++)
		;
	if (tn == *n)
		return 0;
	for (rest = line + tn; rest < end && (*rest == ' ' || *rest == '\t'); rest++)
		;
	if ((size_t)(end - rest) <= strlen("expires=") || strncmp(rest, "expires=", 8) ||
	    (size_t)(end - rest) - 8 >= sizeof(when)) {
		snprintf(
			e, elen,
			"after the token (byte %zu) comes something other than expires=TIME (%zu bytes, not shown: a token cannot hold a blank)",
			tn + 1, (size_t)(end - rest));
		return -EINVAL;
	}
	memcpy(when, rest + 8, (size_t)(end - rest) - 8);
	when[(size_t)(end - rest) - 8] = '\0';
	if (bg_parse_rfc3339(when, expires_unix, why, sizeof(why))) {
		snprintf(e, elen, "expires=%s (an RFC 3339 time: 2026-12-01T10:00:00Z)", why);
		return -EINVAL;
	}
	if (*expires_unix <= 0) {
		snprintf(e, elen, "expires=%s: before 1970", when);
		return -EINVAL;
	}
	*n = tn;
	return 0;
}

/* The tokens of one file; buf holds the whole file and is wiped by the caller. */
static int parse_tok_lines(struct bg_policy *p, __u32 ident, __u32 fi, char *buf, size_t len,
			   const struct bg_secret *sec, size_t *cap, char *err, size_t errlen)
{
	const struct bg_pol_tokfile *f = &p->ids[ident].token_files[fi];
	struct bg_pol_token t = { .ident = ident, .file = fi };
	size_t start, end, found = 0;
	__s64 now_s = (__s64)time(NULL);
	char e[384];
	int ret;

	for (start = 0; start < len; start = end + 1) {
		char *line = buf + start;
		size_t n;

		t.line++;
		end = start;
		while (end < len && buf[end] != '\n')
			end++;
		n = end - start;
		/* blanks and a CR around the token are not part of it */
		while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
			n--;
		while (n && (*line == ' ' || *line == '\t')) {
			line++;
			n--;
		}
		if (!n || *line == '#')
			continue;
		if (split_expiry(line, &n, &t.expires_unix, e, sizeof(e)))
			return tok_fail(p, f, err, errlen, "line %u: %s", t.line, e);
		if (bg_token_check(line, n, e, sizeof(e)))
			return tok_fail(p, f, err, errlen, "line %u: token %s", t.line, e);
		if (t.expires_unix && t.expires_unix <= now_s) {
			found++;
			if (!p->expired_lines++)
				snprintf(p->expired_line, sizeof(p->expired_line), "%s line %u",
					 f->path, t.line);
			continue; /* dead already: as good as absent (on_token_expired says what it gets) */
		}
		bg_token_hash(sec, line, n, &t.hash, &t.fp);
		ret = add_tok(p, cap, &t);
		if (ret)
			return ret;
		found++;
	}
	if (!found)
		return tok_fail(
			p, f, err, errlen,
			"holds no token (one token per line; blank lines and lines starting with # are skipped)");
	return 0;
}

static int read_tok_file(struct bg_policy *p, __u32 ident, __u32 fi, const struct bg_secret *sec,
			 size_t *cap, char *err, size_t errlen)
{
	const struct bg_pol_tokfile *f = &p->ids[ident].token_files[fi];
	size_t len = 0, size;
	struct stat st;
	char *buf = NULL;
	ssize_t r;
	int fd, ret;

	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tok_fail(p, f, err, errlen, "%s%s", strerror(errno),
				errno == EACCES ? " (it is read by the user running burstctl)" :
						  "");
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		ret = tok_fail(p, f, err, errlen, "not a regular file");
		goto out;
	}
	if (st.st_size > BG_TOKEN_FILE_MAX_BYTES) {
		ret = tok_fail(p, f, err, errlen, "%lld bytes: a token file holds at most %u",
			       (long long)st.st_size, BG_TOKEN_FILE_MAX_BYTES);
		goto out;
	}
	if ((st.st_mode & 0044) && !p->loose_files++)
		snprintf(p->loose_file, sizeof(p->loose_file), "%s", f->path);
	size = (size_t)st.st_size;
	buf = malloc(size + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	/* Read one byte more than its size: a file growing meanwhile is read again later. */
	while (len <= size) {
		r = read(fd, buf + len, size + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = tok_fail(p, f, err, errlen, "read: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > size) {
		ret = tok_fail(p, f, err, errlen, "changed while being read: try again");
		goto out;
	}
	ret = parse_tok_lines(p, ident, fi, buf, len, sec, cap, err, errlen);
out:
	if (buf) {
		explicit_bzero(buf, size + 1);
		free(buf);
	}
	close(fd);
	return ret;
}

/* By hash; equal hashes in file order (identity, file, line). */
static int cmp_tok(const void *a, const void *b)
{
	const struct bg_pol_token *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->ident != y->ident)
		return x->ident < y->ident ? -1 : 1;
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

int bg_policy_read_tokens(struct bg_policy *p, const struct bg_secret *sec, char *err,
			  size_t errlen)
{
	size_t cap = 0, i, j, k;
	int ret = 0;

	free(p->toks);
	p->toks = NULL;
	p->ntoks = 0;
	p->loose_files = 0;
	p->expired_lines = 0;
	p->toks_loaded = false;
	for (i = 0; i < p->nids && !ret; i++)
		for (j = 0; j < p->ids[i].ntoken_files && !ret; j++)
			ret = read_tok_file(p, (__u32)i, (__u32)j, sec, &cap, err, errlen);
	if (ret)
		goto fail;
	qsort(p->toks, p->ntoks, sizeof(*p->toks), cmp_tok);
	for (i = 0, k = 0; i < p->ntoks; i++) {
		const struct bg_pol_token *t = &p->toks[i], *first = k ? &p->toks[k - 1] : NULL;

		if (first && first->hash == t->hash) {
			const struct bg_pol_identity *a = &p->ids[first->ident];
			const struct bg_pol_identity *b = &p->ids[t->ident];

			if (first->ident == t->ident) {
				/* the same token twice for one identity: once, the longer lived */
				if (!t->expires_unix ||
				    (first->expires_unix && t->expires_unix > first->expires_unix))
					p->toks[k - 1].expires_unix = t->expires_unix;
				continue;
			}
			ret = tok_fail(
				p, &b->token_files[t->file], err, errlen,
				"line %u: the same token as line %u of %s, given to identity %s (a token belongs to one identity)",
				t->line, first->line, a->token_files[first->file].path, a->name);
			goto fail;
		}
		p->toks[k++] = *t;
	}
	p->ntoks = k;
	p->toks_loaded = true;
	return 0;
fail:
	if (ret == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory reading token files", p->path);
	free(p->toks);
	p->toks = NULL;
	p->ntoks = 0;
	return ret;
}
