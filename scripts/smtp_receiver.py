#!/usr/bin/env python3
# An SMTP server for tests and for trying Concord's [email] by hand (aiosmtpd from PyPI): takes
# mail on 127.0.0.1, optionally only after AUTH, and keeps each message as a .eml file.
"""Usage: smtp_receiver.py --port N --out DIR [--user NAME --password-env VAR]
                         [--tls-cert PEM --tls-key PEM]

With --tls-cert and --tls-key the server offers STARTTLS and refuses mail (and AUTH) on a
connection that has not upgraded to TLS.

Prints `listening on 127.0.0.1:PORT` once ready. Each message is written atomically to
DIR/<n>.eml with two extra headers first: X-Envelope-To (the RCPT TO addresses) and
X-Authenticated-As (the AUTH login, or "-"), and decoded by Python's email package to
DIR/<n>.json: {envelope_to, authenticated_as, tls, from, to, reply_to, subject, body}.
"""

import argparse
import email
import email.policy
import json
import logging
import os
import signal
import ssl
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Keep:
    def __init__(self, out: str):
        self.out = out
        self.n = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's API)
        with self.lock:
            self.n += 1
            n = self.n
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else "-"
        head = (
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
            f"X-Authenticated-As: {login}\r\n"
        ).encode()
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        decoded = {
            "envelope_to": envelope.rcpt_tos,
            "authenticated_as": login,
            # aiosmtpd keeps the TLS session's details once STARTTLS has upgraded the connection.
            "tls": session.ssl is not None,
            "from": str(parsed["from"]),
            "to": str(parsed["to"]),
            "reply_to": str(parsed["reply-to"]),
            "subject": str(parsed["subject"]),
            "body": body.get_content() if body is not None else "",
        }
        base = os.path.join(self.out, f"{n:04}")
        for ext, data in ((".eml", head + envelope.original_content), (".json", json.dumps(decoded, ensure_ascii=False).encode())):
            with open(base + ext + ".tmp", "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(base + ext + ".tmp", base + ext)
        return "250 OK"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--user", default="")
    ap.add_argument("--password-env", default="CONCORD_SMTP_PASSWORD")
    ap.add_argument("--tls-cert", default="")
    ap.add_argument("--tls-key", default="")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    password = os.environ.get(args.password_env, "")
    if args.user and not password:
        print(f"error: the environment variable {args.password_env} is not set", file=sys.stderr)
        return 2

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == args.user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)

    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    controller = Controller(
        Keep(args.out),
        hostname="127.0.0.1",
        port=args.port,
        authenticator=authenticator if args.user else None,
        auth_required=bool(args.user),
        # Without a certificate (loopback tests only) AUTH goes over the plain connection.
        auth_require_tls=tls is not None,
        tls_context=tls,
        require_starttls=tls is not None,
    )
    controller.start()
    print(f"listening on 127.0.0.1:{args.port}", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
