"""A real SMTP server on loopback for the e-mail tests (aiosmtpd): it keeps every message it accepts.

A recipient with "refuse" in the address is answered 550; a message to one with "drop" makes the server close
the connection instead of answering.
"""

from __future__ import annotations

import asyncio
import email
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import default as default_policy

from aiosmtpd.controller import Controller

from core import SmtpSettings
from tests.support.browser import free_port


class Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.greetings = 0  # one EHLO per connection
        self.open = threading.Event()  # clear it to hold every message at DATA until it is set again
        self.open.set()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.greetings += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "refuse" in address:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        while not self.open.is_set():
            await asyncio.sleep(0.05)
        if any("drop" in r for r in envelope.rcpt_tos):
            server.transport.close()
            return "421 closing"
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append((list(envelope.rcpt_tos), message))
        return f"250 2.0.0 Ok: queued as Q{len(self.messages)}"


@contextmanager
def smtp_server() -> Iterator[tuple[Recorder, SmtpSettings]]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield recorder, SmtpSettings(host="127.0.0.1", port=controller.port, security="none",
                                     from_address="billing@riverbend.example", reply_to="ar@riverbend.example")
    finally:
        controller.stop()
