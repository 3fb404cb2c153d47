"""An SMTP server for the outbound-mail tests: aiosmtpd (Debian python3-aiosmtpd) that stores
each accepted message as a file under DIR/<recipient>/, and behaves by the recipient's local part
so concurrent tests do not disturb each other:

  tempfail<N>-...@  answers 451 to the first N attempts (per recipient), then accepts
  reject-...@       answers 550 (a permanent refusal)
  slow<S>-...@      waits S seconds before answering the end of DATA; a client that leaves
                    meanwhile has not handed the message over, and nothing is stored
  imap-...@         delivered into that Dovecot user's INBOX (a Maildir under MAILDIRS, the
                    third argument, when given): real mail a connector then reads over IMAP
  anything else     accepted at once

Any user name and password authenticate (plain text is allowed: loopback only).
Usage: smtp_sink.py PORT DIR [MAILDIRS]
"""

import asyncio
import os
import re
import sys
import time
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Sink:
    def __init__(self, root, maildirs=None):
        self.root = root
        self.maildirs = maildirs
        self.attempts = {}

    def deliver(self, local, content):
        """Into Maildir MAILDIRS/<user>/new, owned like MAILDIRS (Dovecot's user moves it)."""
        owner = os.stat(self.maildirs)
        box = os.path.join(self.maildirs, local)
        for sub in ("", "new", "cur", "tmp"):
            path = os.path.join(box, sub)
            os.makedirs(path, exist_ok=True)
            os.chown(path, owner.st_uid, owner.st_gid)
        name = "%d.%s.sink" % (time.time_ns(), uuid.uuid4().hex)
        tmp = os.path.join(box, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(content)
        os.chown(tmp, owner.st_uid, owner.st_gid)
        os.rename(tmp, os.path.join(box, "new", name))

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject-"):
            return "550 5.1.1 mailbox unavailable (test sink refuses " + address + ")"
        match = re.match(r"tempfail(\d+)-", local)
        if match:
            seen = self.attempts.get(address, 0) + 1
            self.attempts[address] = seen
            if seen <= int(match.group(1)):
                return "451 4.3.0 try again later (attempt %d)" % seen
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for address in envelope.rcpt_tos:
            match = re.match(r"slow(\d+)-", address.split("@", 1)[0].lower())
            if match:
                # Cancelled here when the client disconnects: nothing is stored.
                await asyncio.sleep(int(match.group(1)))
        for address in envelope.rcpt_tos:
            local = address.split("@", 1)[0].lower()
            if local.startswith("imap-") and self.maildirs:
                self.deliver(local, envelope.original_content or envelope.content)
                continue
            folder = os.path.join(self.root, address.lower())
            os.makedirs(folder, exist_ok=True)
            name = "%d-%s.eml" % (time.time_ns(), uuid.uuid4().hex)
            tmp = os.path.join(folder, "." + name)
            with open(tmp, "wb") as f:
                f.write(envelope.original_content or envelope.content)
            os.rename(tmp, os.path.join(folder, name))
        return "250 OK stored"


def authenticate(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=True)


def main():
    port, root = int(sys.argv[1]), sys.argv[2]
    maildirs = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
    os.makedirs(root, exist_ok=True)
    controller = Controller(
        Sink(root, maildirs),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        asyncio.new_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
