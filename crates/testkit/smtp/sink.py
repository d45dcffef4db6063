"""A loopback SMTP server for flexsync's tests: aiosmtpd (PyPI) receives, Python's own email
package reads each message back, and one JSON file per message lands in a folder.

Usage: sink.py OUT_DIR PORT [--login USER PASSWORD] [--tls starttls|implicit]
With --login the server advertises AUTH (PLAIN, LOGIN; no TLS needed on loopback) and refuses
mail from a client that has not logged in with them. With --tls it speaks TLS with a certificate
for 127.0.0.1 and localhost from a certificate authority made for this run (trustme, PyPI), whose
certificate it writes to OUT_DIR/ca.pem: `starttls` requires STARTTLS before any mail, `implicit`
is TLS from the first byte. Prints READY once it listens.
"""

import argparse
import ssl

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
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "parts": list(leaves(message)),
        }
        path = self.out / f"{self.count:04}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record))
        temporary.rename(path)
        return "250 Message accepted for delivery"


def tls_context(out):
    """A server context with a certificate from a new authority; the authority's PEM in out."""
    import trustme

    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(out / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("port", type=int)
    parser.add_argument("--login", nargs=2, metavar=("USER", "PASSWORD"))
    parser.add_argument("--tls", choices=["starttls", "implicit"])
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    options = {}
    if args.login:
        user, password = args.login[0].encode(), args.login[1].encode()

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (user, password)
            return AuthResult(success=ok, auth_data=auth_data if ok else None)

        options.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    if args.tls == "starttls":
        options.update(tls_context=tls_context(out), require_starttls=True)
    elif args.tls == "implicit":
        options.update(ssl_context=tls_context(out))
    controller = Controller(Sink(out), hostname="127.0.0.1", port=args.port, **options)
    controller.start()
    print("READY", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
