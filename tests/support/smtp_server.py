#!/usr/bin/env python3
"""A real SMTP server for the email channel's integration tests (tests/email.rs).

Speaks SMTP over TCP on 127.0.0.1 with aiosmtpd, in one of three modes:

  --tls none      plain SMTP (AUTH allowed without TLS when --user is given)
  --tls starttls  STARTTLS offered and required before MAIL/AUTH
  --tls tls       implicit TLS from the first byte (SMTPS)

--cert/--key name the PEM certificate chain and key for the TLS modes. With
--user/--password, AUTH PLAIN and LOGIN are offered and required; a wrong password
gets aiosmtpd's 535. Recipients whose local part is "busy" get a 450 and "nobody" a
550, so the client's handling of 4xx and 5xx replies can be tested.

Prints "PORT <n>" on stdout once it accepts connections, then one JSON line per
received message: the envelope ("mail_from", "rcpt_tos"), the raw "data", "tls",
"auth_user", and the message as Python's own MIME parser reads it ("subject", "from",
"to", "message_id", and the decoded "text" and "html" parts), so the Rust test checks
what a mail client would show rather than lettre's encoding choices.
Runs until stdin closes (the test holds the pipe) or it is killed.
"""

import argparse
import asyncio
import email
import email.policy
import json
import logging
import ssl
import sys
import warnings

try:
    from aiosmtpd.smtp import SMTP, AuthResult
except ImportError:  # pragma: no cover - reported to the Rust test verbatim
    print("ERROR aiosmtpd is not installed: pip install aiosmtpd", flush=True)
    sys.exit(3)


class Recorder:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local == "busy":
            return "450 4.2.1 Mailbox busy, try again later"
        if local == "nobody":
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        record = {
            "subject": message["subject"],
            "from": message["from"],
            "to": message["to"],
            "message_id": message["message-id"],
            "content_type": message.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            # session.ssl is only set by STARTTLS; implicit TLS shows on the transport.
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "auth_user": session.auth_data.login.decode()
            if session.authenticated and session.auth_data is not None
            else None,
        }
        print(json.dumps(record), flush=True)
        return "250 Message accepted"


def make_authenticator(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            mechanism in ("LOGIN", "PLAIN")
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticate


async def main():
    # Expected failures (a client refusing our certificate, a wrong password) would
    # otherwise print tracebacks and warnings into the Rust test output.
    logging.basicConfig(level=logging.CRITICAL)
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser()
    parser.add_argument("--tls", choices=["none", "starttls", "tls"], default="none")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    context = None
    if args.tls != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    kwargs = {"hostname": "smtp.test", "ident": "balance-alert test SMTP"}
    if args.tls == "starttls":
        kwargs.update(tls_context=context, require_starttls=True)
    if args.user is not None:
        kwargs.update(
            authenticator=make_authenticator(args.user, args.password),
            auth_required=True,
            # Over implicit TLS the session is already encrypted; with --tls none the
            # test deliberately allows AUTH in clear to exercise that configuration.
            auth_require_tls=args.tls == "starttls",
        )

    loop = asyncio.get_running_loop()
    handler = Recorder()
    server = await loop.create_server(
        lambda: SMTP(handler, loop=loop, **kwargs),
        host="127.0.0.1",
        port=0,
        ssl=context if args.tls == "tls" else None,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)

    # Stop when the test process goes away (its end of our stdin closes).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
