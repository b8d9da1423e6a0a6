#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""An agent of examples/bind_server: connects, sends its token (read from
--token-file) as the first line, reads the server's answer, then uploads
as fast as TCP lets it for --seconds (at most 30) and resets the
connection: what is still queued is not waited for (behind a tight limit
that could take long); the server reports what it received. Prints:
  {"reply": "OK agent", "sent": N, "seconds": S}
Stops by itself: every socket operation has a timeout."""
import argparse
import json
import socket
import struct
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connect", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--seconds", type=float, default=3)
    args = ap.parse_args()
    with open(args.token_file, "rb") as f:
        token = f.read().strip()
    fam = socket.AF_INET6 if ":" in args.connect else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect((args.connect, args.port))
    s.sendall(token + b"\n")
    rf = s.makefile("rb")
    reply = rf.readline().decode(errors="replace").strip()
    out = {"reply": reply, "sent": 0, "seconds": 0.0}
    if reply.startswith("OK"):
        chunk = b"x" * 65536
        t0 = time.monotonic()
        end = t0 + min(args.seconds, 30)
        s.settimeout(0.2)
        while time.monotonic() < end:
            try:
                out["sent"] += s.send(chunk)
            except socket.timeout:
                pass  # the send buffer is full: the path is limited
        out["seconds"] = round(time.monotonic() - t0, 3)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # with linger 0: a reset
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
