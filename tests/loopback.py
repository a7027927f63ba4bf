"""Loopback helpers for the tests that talk to real servers on 127.0.0.1."""

import contextlib
import email
import email.policy
import socket
import time
from collections.abc import Iterator

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now (for a server to start on, or to be refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping every message it receives (with its envelope recipients in X-Envelope-To)."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[tuple[str, str]]:
        """(subject, text) of every message to ``address``."""
        return [
            (message["Subject"], message.get_content())
            for message in self.messages
            if message["X-Envelope-To"] == address
        ]

    def wait_for(self, address: str, subject_start: str, timeout: float = 20) -> email.message.EmailMessage:
        """The first message to ``address`` whose subject starts so, once it arrives (another process sends it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if message["X-Envelope-To"] == address and message["Subject"].startswith(subject_start):
                    return message
            time.sleep(0.2)
        raise AssertionError(f"no {subject_start!r} mail to {address}")


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd): its inbox and port."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def send_mail_to(settings, port: int) -> None:
    """Django's SMTP backend, in this process, to the server on ``port``."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
