"""The portal over the API tests' seeded tree (operator, two resellers, clients, one user per role), logged in
through its own form; a real SMTP server (aiosmtpd) catches the mail it sends."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from email import message_from_bytes

import pytest

from controlplane.testing.net import free_port
from controlplane.web import create_app
from tests.api.conftest import live, seed, world  # noqa: F401 - fixtures reused here


@pytest.fixture()
def app(clean_db):
    return create_app({"TESTING": True, "API_RATE_LIMIT": "100000/minute", "SERVER_NAME": "portal.test"})


@dataclass
class Mailbox:
    messages: list = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802 - aiosmtpd's hook
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def wait(self, count: int = 1, timeout: float = 10.0) -> list:
        deadline = time.time() + timeout
        while len(self.messages) < count and time.time() < deadline:
            time.sleep(0.05)
        assert len(self.messages) >= count, f"{len(self.messages)} mail(s) arrived, {count} expected"
        return self.messages

    def link(self, index: int = -1) -> str:
        body = self.messages[index].get_payload(decode=True).decode()
        return re.search(r"https?://\S+", body).group(0)


@pytest.fixture()
def mailbox():
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    saved = {k: os.environ.get(k) for k in ("CP_SMTP_HOST", "CP_SMTP_PORT")}
    os.environ.update(CP_SMTP_HOST="127.0.0.1", CP_SMTP_PORT=str(port))
    try:
        yield box
    finally:
        controller.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
