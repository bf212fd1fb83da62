#!/usr/bin/env python3
# A webhook receiver for tests and for trying Concord's [notify] webhooks by hand: checks each
# Concord-Signature with Python's own HMAC and appends what arrived to a JSON-lines file.
"""Usage: webhook_receiver.py --out FILE [--port N] [--secret-env VAR] [--fail-first N]

Listens on 127.0.0.1 (port 0: any free port) and prints `listening on http://127.0.0.1:PORT`.
Each POST is answered 200 when its signature is valid (401 when not), except the first N valid
ones, which get 503 so that the sender has to retry. Every request is one line in FILE:
{"path", "status", "verified", "event_id", "attempt", "body"}. Standard library only.
"""

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_S = 300


def verify(secret: bytes, header: str, body: bytes) -> bool:
    """Concord's scheme: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    fields = {}
    tags = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "v1":
            tags.append(value)
        else:
            fields[key] = value
    try:
        t = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - t) > TOLERANCE_S:
        return False
    want = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(want, tag) for tag in tags)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--secret-env", default="CONCORD_WEBHOOK_SECRET")
    ap.add_argument("--fail-first", type=int, default=0)
    args = ap.parse_args()
    secret = os.environ.get(args.secret_env, "").encode()
    if not secret:
        print(f"error: the environment variable {args.secret_env} is not set", file=sys.stderr)
        return 2
    lock = threading.Lock()
    state = {"to_fail": args.fail_first}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the http.server API)
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            ok = verify(secret, self.headers.get("concord-signature", ""), body)
            with lock:
                if not ok:
                    status = 401
                elif state["to_fail"] > 0:
                    state["to_fail"] -= 1
                    status = 503
                else:
                    status = 200
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                line = {
                    "path": self.path,
                    "status": status,
                    "verified": ok,
                    "event_id": self.headers.get("concord-event-id"),
                    "attempt": self.headers.get("concord-attempt"),
                    "body": parsed,
                }
                with open(args.out, "a", encoding="utf-8") as f:
                    f.write(json.dumps(line, ensure_ascii=False) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
