"""An outside SMTP implementation for Mailroom's tests: aiosmtpd (Debian python3-aiosmtpd) with
STARTTLS or implicit TLS and AUTH. Prints "READY" once it accepts connections; received messages
are printed as "MESSAGE <mail_from> <rcpt,...> <bytes>" lines."""
import argparse
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--mode", choices=["starttls", "implicit"], required=True)
p.add_argument("--cert", required=True)
p.add_argument("--key", required=True)
p.add_argument("--user", required=True)
p.add_argument("--password-file", required=True)
a = p.parse_args()
password = open(a.password_file, encoding="utf-8").read()


class Handler:
    async def handle_DATA(self, server, session, envelope):
        print("MESSAGE", envelope.mail_from, ",".join(envelope.rcpt_tos), len(envelope.content), flush=True)
        return "250 OK queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == a.user
        and auth_data.password.decode() == password
    )
    # handled=False makes aiosmtpd send its own 535 (the default, True, leaves the client waiting).
    return AuthResult(success=ok, handled=False)


ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(a.cert, a.key)
common = dict(hostname="127.0.0.1", port=a.port, authenticator=authenticator, auth_required=True)
if a.mode == "starttls":
    controller = Controller(Handler(), tls_context=ctx, require_starttls=True, **common)
else:
    # The whole session is TLS already; aiosmtpd's STARTTLS-oriented check would refuse AUTH.
    controller = Controller(Handler(), ssl_context=ctx, auth_require_tls=False, **common)
controller.start()
print("READY", flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
signal.signal(signal.SIGINT, lambda *_: done.set())
done.wait()
controller.stop()
sys.exit(0)
