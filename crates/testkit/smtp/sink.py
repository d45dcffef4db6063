"""A loopback SMTP server for flexsync's tests: aiosmtpd (PyPI) receives, Python's own email
package reads each message back, and one JSON file per message lands in a folder.

Usage: sink.py OUT_DIR PORT [USER PASSWORD]
With USER and PASSWORD the server advertises AUTH (PLAIN, LOGIN; no TLS needed on loopback) and
refuses mail from a client that has not logged in with them. Prints READY once it listens.
"""

import email
import email.policy
import json
import pathlib
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def structure(part):
    """The MIME tree as text, e.g. multipart/mixed(multipart/alternative(text/plain,text/html),application/json)."""
    if part.is_multipart():
        inner = ",".join(structure(p) for p in part.iter_parts())
        return f"{part.get_content_type()}({inner})"
    return part.get_content_type()


def leaves(message):
    for part in message.walk():
        if part.is_multipart():
            continue
        content = part.get_content()
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        yield {
            "content_type": part.get_content_type(),
            "disposition": part.get_content_disposition(),
            "filename": part.get_filename(),
            "content": content,
        }


def login_of(session):
    """The user name the client logged in with, if it did."""
    data = getattr(session, "auth_data", None)
    if isinstance(data, LoginPassword):
        return data.login.decode()
    return None


class Sink:
    def __init__(self, out):
        self.out = out
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "login": login_of(session),
            "subject": str(message["subject"]),
            "from": str(message["from"]),
            "to": str(message["to"]),
            "structure": structure(message),
            "parts": list(leaves(message)),
        }
        path = self.out / f"{self.count:04}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record))
        temporary.rename(path)
        return "250 Message accepted for delivery"


def main():
    out = pathlib.Path(sys.argv[1])
    port = int(sys.argv[2])
    options = {}
    if len(sys.argv) == 5:
        user, password = sys.argv[3].encode(), sys.argv[4].encode()

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (user, password)
            return AuthResult(success=ok, auth_data=auth_data if ok else None)

        options = {"authenticator": authenticator, "auth_required": True, "auth_require_tls": False}
    controller = Controller(Sink(out), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print("READY", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
