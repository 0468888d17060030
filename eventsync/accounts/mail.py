"""E-mail for invitations and password resets, over SMTP (EVENTSYNC_SMTP_HOST, _PORT,
_FROM; _STARTTLS, _USER and _PASSWORD when the relay wants them). Without
EVENTSYNC_SMTP_HOST nothing is sent: the console shows an invitation's link to the
person who made it, and password reset says to ask a workspace admin."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from eventsync import settings
from eventsync.errors import EventsyncError

TIMEOUT = 15.0


class MailError(EventsyncError):
    """The mail server could not be reached or refused the message (a fault of the
    system, not of what the person typed)."""


def configured() -> bool:
    return settings.load().smtp_host is not None


def send(to: str, subject: str, body: str) -> None:
    host = settings.load().smtp_host
    if host is None:
        raise MailError("no mail server is configured (EVENTSYNC_SMTP_HOST)")
    message = EmailMessage()
    config = settings.load()
    message["From"] = config.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    try:
        with smtplib.SMTP(host, config.smtp_port, timeout=TIMEOUT) as smtp:
            if config.smtp_starttls:
                smtp.starttls()
            if config.smtp_user and config.smtp_password:
                smtp.login(config.smtp_user, config.smtp_password.get_secret_value())
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"the mail server did not take the message: {type(exc).__name__}") from None
