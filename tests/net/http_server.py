#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A real HTTP/1.1 server for the network tests (the standard library's
http.server, threaded, keep-alive). Answers every GET with "ok", counts the
requests per X-Agent header (GET ...?bytes=N answers N bytes instead, at
most 16 MiB), and stops by itself after --duration seconds
(or on SIGTERM), printing {"requests": {AGENT: N, ...}} on stdout.
Prints "listening" on stderr once it accepts connections."""
import argparse
import collections
import http.server
import json
import signal
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--duration", type=float, default=60)
    args = ap.parse_args()
    counts = collections.Counter()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as API servers do
        disable_nagle_algorithm = True  # headers and body: no 40 ms stalls

        def do_GET(self):
            with lock:
                counts[self.headers.get("X-Agent", "-")] += 1
            body = b"ok\n"
            if "?bytes=" in self.path:
                n = self.path.split("?bytes=", 1)[1]
                body = b"x" * min(int(n) if n.isdigit() else 0, 16 << 20)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *a):
            pass

    class Server(http.server.ThreadingHTTPServer):
        address_family = __import__("socket").AF_INET6 if ":" in args.bind else \
            __import__("socket").AF_INET
        daemon_threads = True

    srv = Server((args.bind, args.port), Handler)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1})
    t.start()
    print("listening", file=sys.stderr, flush=True)
    done.wait(min(args.duration, 300))
    srv.shutdown()
    t.join()
    with lock:
        print(json.dumps({"requests": dict(counts)}), flush=True)


if __name__ == "__main__":
    main()
