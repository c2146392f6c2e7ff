"""An outside SMTP implementation for Mailroom's tests: aiosmtpd (Debian python3-aiosmtpd), in
cleartext, with STARTTLS or with implicit TLS, optionally with AUTH (required when --user is given)
and greylisting (the first RCPT TO of each address listed in --greylist is answered 451 4.7.1,
later ones are accepted). Prints "READY" once it accepts connections, and one
"MESSAGE <message-id> <rcpt,...> <bytes>" line per message it takes."""
import argparse
import email
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--mode", choices=["plain", "starttls", "implicit"], default="plain")
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--user")
p.add_argument("--password-file")
p.add_argument("--greylist", default="")
a = p.parse_args()
password = open(a.password_file, encoding="utf-8").read() if a.password_file else None
greylist = {x.lower() for x in a.greylist.split(",") if x}
seen = set()


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        key = address.lower()
        if key in greylist and key not in seen:
            seen.add(key)
            return "451 4.7.1 Greylisted, please try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content)
        rcpts = ",".join(envelope.rcpt_tos)
        print("MESSAGE", msg.get("Message-ID", "-"), rcpts, len(envelope.content), flush=True)
        return "250 OK queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == a.user
        and auth_data.password.decode() == password
    )
    # handled=False makes aiosmtpd send its own 535 (the default, True, leaves the client waiting).
    return AuthResult(success=ok, handled=False)


common = dict(hostname="127.0.0.1", port=a.port)
if a.user:
    common.update(authenticator=authenticator, auth_required=True)
if a.mode != "plain":
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.cert, a.key)
if a.mode == "starttls":
    controller = Controller(Handler(), tls_context=ctx, require_starttls=True, **common)
elif a.mode == "implicit":
    # The whole session is TLS already; aiosmtpd's STARTTLS-oriented check would refuse AUTH.
    controller = Controller(Handler(), ssl_context=ctx, auth_require_tls=False, **common)
else:
    controller = Controller(Handler(), **common)
controller.start()
print("READY", flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
signal.signal(signal.SIGINT, lambda *_: done.set())
done.wait()
controller.stop()
sys.exit(0)
