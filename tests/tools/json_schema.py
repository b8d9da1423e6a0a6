#!/usr/bin/python3
"""Check burstctl's JSON against the schema written in docs/json.md.

The schema lives in that page's ```schema blocks, in a small notation a
reader can follow without knowing JSON Schema (docs/json.md explains it):

    Name = TYPE                  a named shape
    identity list -> TYPE        what `burstctl -j identity list` prints
    events -> lines TYPE         one TYPE per line (JSON Lines)

TYPE: str int num bool null time time_ms any, "literal", Name, [TYPE],
{key: TYPE, key?: TYPE} (exactly these keys; key? may be absent),
{*: TYPE} (any snake_case keys), A|B, TYPE? (or null).

    json_schema.py SCHEMA_MD lint             the schema obeys the naming rules
    json_schema.py SCHEMA_MD check CMD FILE   FILE holds what CMD printed
    json_schema.py SCHEMA_MD commands         the commands the schema names

Standard library only: it runs under Debian's /usr/bin/python3.
"""
import json
import re
import sys

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
TIME_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
BASIC = {"str", "int", "num", "bool", "null", "time", "time_ms", "any"}


class SchemaError(Exception):
    pass


def tokenize(text):
    toks = re.findall(r'"[^"]*"|[A-Za-z_][A-Za-z0-9_]*\??|[{}\[\]:,|?*]', text)
    rest = re.sub(r'"[^"]*"|[A-Za-z_][A-Za-z0-9_]*\??|[{}\[\]:,|?*]|\s+', "", text)
    if rest:
        raise SchemaError("cannot read %r in %r" % (rest, text))
    return toks


class Parser:
    def __init__(self, text):
        self.t = tokenize(text)
        self.i = 0

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, want=None):
        tok = self.peek()
        if tok is None or (want and tok != want):
            raise SchemaError("expected %r, found %r in %s" % (want, tok, " ".join(self.t)))
        self.i += 1
        return tok

    def type(self):
        alts = [self.alt()]
        while self.peek() == "|":
            self.take()
            alts.append(self.alt())
        return alts[0] if len(alts) == 1 else ("or", alts)

    def alt(self):
        tok = self.take()
        nullable = False
        if tok.endswith("?") and len(tok) > 1:
            tok, nullable = tok[:-1], True
        if tok == "[":
            t = ("list", self.type())
            self.take("]")
        elif tok == "{":
            t = self.obj()
        elif tok.startswith('"'):
            t = ("lit", tok[1:-1])
        elif tok in BASIC:
            t = (tok,)
        else:
            t = ("ref", tok)
        if self.peek() == "?":
            self.take()
            nullable = True
        return ("or", [t, ("null",)]) if nullable else t

    def obj(self):
        if self.peek() == "*":
            self.take()
            self.take(":")
            t = ("map", self.type())
            self.take("}")
            return t
        fields = {}
        while self.peek() != "}":
            key = self.take()
            optional = key.endswith("?")
            key = key.rstrip("?")
            if self.peek() == "?":
                self.take()
                optional = True
            self.take(":")
            fields[key] = (self.type(), optional)
            if self.peek() == ",":
                self.take()
        self.take("}")
        return ("obj", fields)


def load(md):
    """Named shapes and command outputs from the ```schema blocks."""
    blocks = re.findall(r"```schema\n(.*?)```", open(md).read(), re.S)
    lines = []
    for b in blocks:
        for raw in b.splitlines():
            raw = raw.split("#", 1)[0].rstrip()
            if not raw.strip():
                continue
            if raw[0].isspace() and lines:
                lines[-1] += " " + raw.strip()
            else:
                lines.append(raw)
    names, cmds = {}, {}
    for line in lines:
        if "->" in line:
            lhs, rhs = (s.strip() for s in line.split("->", 1))
            stream = rhs.startswith("lines ")
            p = Parser(rhs[6:] if stream else rhs)
            t = p.type()
            if p.peek() is not None:
                raise SchemaError("trailing %r after %s" % (p.peek(), lhs))
            for cmd in expand(lhs):
                cmds[cmd] = (stream, t)
        elif "=" in line:
            name, rhs = (s.strip() for s in line.split("=", 1))
            p = Parser(rhs)
            names[name] = p.type()
            if p.peek() is not None:
                raise SchemaError("trailing %r after %s" % (p.peek(), name))
        else:
            raise SchemaError("neither NAME = TYPE nor COMMAND -> TYPE: %r" % line)
    return names, cmds


def expand(lhs):
    """'identity add|set|show' -> three commands."""
    words = lhs.split()
    out = [""]
    for w in words:
        out = [(o + " " + alt).strip() for o in out for alt in w.split("|")]
    return out


def lint(names, cmds):
    """The naming rules of docs/json.md, checked on the schema itself."""
    errs = []

    def walk(t, where):
        kind = t[0]
        if kind == "obj":
            for key, (ft, _) in t[1].items():
                w = where + "." + key
                if not SNAKE.match(key):
                    errs.append("%s: not snake_case" % w)
                times = kinds_of(ft)
                if key.endswith("_at") and not times <= {"time", "null"}:
                    errs.append("%s: a key ending in _at holds a time" % w)
                if key == "time" and times != {"time_ms"}:
                    errs.append("%s: a record's time has milliseconds (time_ms)" % w)
                if times & {"time", "time_ms"} and not (key.endswith("_at") or key == "time"):
                    errs.append("%s: a time's key ends in _at (or is a record's time)" % w)
                if re.search(r"_(s|secs|seconds|unix|ns|ms)$", key):
                    errs.append("%s: durations end in _sec, times in _at" % w)
                walk(ft, w)
        elif kind in ("list", "map"):
            walk(t[1], where + "[]")
        elif kind == "or":
            for a in t[1]:
                walk(a, where)
        elif kind == "ref" and t[1] not in names:
            errs.append("%s: unknown shape %s" % (where, t[1]))

    def kinds_of(t):
        if t[0] == "or":
            return set().union(*(kinds_of(a) for a in t[1]))
        if t[0] == "ref" and t[1] in names:
            return kinds_of(names[t[1]])
        return {t[0]}

    for n, t in names.items():
        walk(t, n)
    for c, (_, t) in cmds.items():
        if t[0] not in ("obj", "ref", "or"):
            errs.append("%s: every command prints an object" % c)
        walk(t, c)
    return errs


def check(names, t, v, where):
    kind = t[0]
    if kind == "any":
        return []
    if kind == "ref":
        return check(names, names[t[1]], v, where)
    if kind == "or":
        tried = [check(names, a, v, where) for a in t[1]]
        if any(not e for e in tried):
            return []
        return min(tried, key=len)
    if kind == "null":
        return [] if v is None else ["%s: %r is not null" % (where, v)]
    if kind == "str":
        return [] if isinstance(v, str) else ["%s: %r is not a string" % (where, v)]
    if kind == "lit":
        return [] if v == t[1] else ["%s: %r is not %r" % (where, v, t[1])]
    if kind == "int":
        ok = isinstance(v, int) and not isinstance(v, bool)
        return [] if ok else ["%s: %r is not an integer" % (where, v)]
    if kind == "num":
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        return [] if ok else ["%s: %r is not a number" % (where, v)]
    if kind == "bool":
        return [] if isinstance(v, bool) else ["%s: %r is not true/false" % (where, v)]
    if kind in ("time", "time_ms"):
        ok = isinstance(v, str) and (TIME if kind == "time" else TIME_MS).match(v)
        return [] if ok else ["%s: %r is not an RFC 3339 UTC %s" % (where, v, kind)]
    if kind == "list":
        if not isinstance(v, list):
            return ["%s: %r is not a list" % (where, v)]
        errs = []
        for i, x in enumerate(v):
            errs += check(names, t[1], x, "%s[%d]" % (where, i))
        return errs
    if kind == "map":
        if not isinstance(v, dict):
            return ["%s: not an object" % where]
        errs = []
        for k, x in v.items():
            if not SNAKE.match(k):
                errs.append("%s.%s: not snake_case" % (where, k))
            errs += check(names, t[1], x, where + "." + k)
        return errs
    if kind == "obj":
        if not isinstance(v, dict):
            return ["%s: %r is not an object" % (where, v)]
        errs = []
        for k in v:
            if k not in t[1]:
                errs.append("%s.%s: not in the schema (docs/json.md)" % (where, k))
        for k, (ft, optional) in t[1].items():
            if k not in v:
                if not optional:
                    errs.append("%s.%s: missing" % (where, k))
                continue
            errs += check(names, ft, v[k], where + "." + k)
        return errs
    raise SchemaError("unknown kind %r" % (kind,))


def main():
    md, what = sys.argv[1], sys.argv[2]
    names, cmds = load(md)
    if what == "lint":
        errs = lint(names, cmds)
        for e in errs:
            print("schema: " + e)
        return 1 if errs else 0
    if what == "commands":
        print("\n".join(sorted(cmds)))
        return 0
    cmd, path = sys.argv[3], sys.argv[4]
    if cmd not in cmds:
        print("%s: no schema for `%s` in %s" % (path, cmd, md))
        return 1
    stream, t = cmds[cmd]
    text = open(path).read()
    docs = [l for l in text.splitlines() if l.strip()] if stream else [text]
    if not docs:
        print("%s: `%s` printed nothing" % (path, cmd))
        return 1
    errs = []
    for i, d in enumerate(docs):
        try:
            v = json.loads(d)
        except ValueError as e:
            errs.append("line %d: not JSON (%s): %.80s" % (i + 1, e, d))
            continue
        # an error or a help answer is the same for every command
        if isinstance(v, dict) and set(v) in ({"error"}, {"help"}):
            errs += check(names, names["Error" if "error" in v else "Help"], v, cmd)
        else:
            errs += check(names, t, v, cmd)
    for e in errs[:20]:
        print("schema: " + e)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
