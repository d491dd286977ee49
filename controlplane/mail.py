"""Mail the portal sends (sign-up verification, password reset): plain SMTP with the settings' server."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from controlplane.errors import Unavailable
from controlplane.settings import get_settings


def send_mail(to: str, subject: str, body: str) -> None:
    """One plain-text message; Unavailable when the server cannot take it (the page says so)."""
    settings = get_settings()
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.mail_from, to, subject
    message.set_content(body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise Unavailable(f"mail server {settings.smtp_host}:{settings.smtp_port}: {exc}") from exc
