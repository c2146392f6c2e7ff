"""A greylisting SMTP server for Mailroom's sidecar tests: aiosmtpd (Debian python3-aiosmtpd), an
outside implementation. The first RCPT TO for each address listed in --greylist is answered
451 4.7.1; later ones are accepted. Prints "READY" once it listens and one
"MESSAGE <message-id> <rcpt,...>" line per message it takes."""
import argparse
import email
import signal
import sys
import threading

from aiosmtpd.controller import Controller

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--greylist", default="")
a = p.parse_args()
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
        print("MESSAGE", msg.get("Message-ID", "-"), ",".join(envelope.rcpt_tos), flush=True)
        return "250 OK queued"


controller = Controller(Handler(), hostname="127.0.0.1", port=a.port)
controller.start()
print("READY", flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
signal.signal(signal.SIGINT, lambda *_: done.set())
done.wait()
controller.stop()
sys.exit(0)
