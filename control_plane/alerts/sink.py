"""Where alert emails go: an SMTP server, or (locally, and in tests) a file of messages."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol


class AlertSink(Protocol):
    def send(self, subject: str, body: str) -> None: ...


class SmtpSink:
    def __init__(self, host: str, port: int, sender: str, recipient: str) -> None:
        self.host, self.port, self.sender, self.recipient = host, port, sender, recipient

    def message(self, subject: str, body: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, self.recipient, subject
        msg.set_content(body)
        return msg

    def send(self, subject: str, body: str) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.send_message(self.message(subject, body))


class FileSink:
    """Appends each email (RFC 5322 text) to a file: the local stand-in for a mail server."""

    def __init__(self, path: Path, sender: str, recipient: str) -> None:
        self.path, self.sender, self.recipient = path, sender, recipient

    def send(self, subject: str, body: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        msg = SmtpSink("", 0, self.sender, self.recipient).message(subject, body)
        with self.path.open("a") as handle:
            handle.write(msg.as_string() + "\n\n")
