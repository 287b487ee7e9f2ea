"""Answering read-receipt requests: the MDN (RFC 8098) a received mail asked for with
``Disposition-Notification-To``, sent once its documents were accepted or refused.

An MDN is never sent for a receipt (DSN/MDN) and never twice for the same mail: the source
sets ``$MDNSent`` (RFC 3503) once :meth:`MdnResponder.answer` returned ``SENT``. Without an
``mdn`` section the request is only logged. A transient SMTP failure keeps the mail in the
mailbox for the next poll; a permanent refusal is logged and not retried.
"""

from __future__ import annotations

import logging
from enum import Enum

from channels.mssante.config import MdnConfig
from channels.mssante.mime import IncomingMail
from channels.mssante.receipts import REFUSAL_CODE, build_mdn
from channels.mssante.smtp import SmtpSession
from engine.errors import PermanentDeliveryError, RetryableDeliveryError

log = logging.getLogger(__name__)


class Outcome(Enum):
    SENT = "sent"
    NOT_SENT = "not sent"
    """Not asked for, not configured, or refused for good: nothing more to do."""
    RETRY = "retry"
    """The server could not take it now: keep the mail for the next poll."""


class MdnResponder:
    """Builds and sends MDNs for one channel over its own SMTP session."""

    def __init__(self, channel: str, config: MdnConfig | None) -> None:
        self.channel = channel
        self.config = config
        self.session = SmtpSession(config.smtp) if config is not None else None

    def check(self) -> None:
        """Load the TLS files now. Raises ChannelError."""
        if self.session is not None:
            self.session.check()

    async def answer(
        self, mail: IncomingMail, refusal: str | None, uid: int, *, code: str = REFUSAL_CODE
    ) -> Outcome:
        """Send the MDN ``mail`` asked for: ``processed``, or ``processed/Error: <code>^…``."""
        extra = {"channel": self.channel, "uid": uid}
        if not mail.notification_to:
            return Outcome.NOT_SENT
        if self.session is None or self.config is None:
            log.info("MDN requested; no mdn section configured, none sent.", extra=extra)
            return Outcome.NOT_SENT
        sender = self.config.sender
        mdn = build_mdn(
            mail,
            sender=sender,
            reporting_ua=f"Passerelle; {self.channel}",
            refusal=refusal,
            code=code,
        )
        try:
            await self.session.send(mdn.as_bytes(), sender, [mail.notification_to])
        except PermanentDeliveryError as exc:
            log.warning(
                "MDN refused by the server; not resent.", extra={**extra, "error": str(exc)}
            )
            return Outcome.NOT_SENT
        except RetryableDeliveryError as exc:
            log.warning(
                "MDN not sent; will retry at the next poll.", extra={**extra, "error": str(exc)}
            )
            return Outcome.RETRY
        log.info("MDN sent.", extra={**extra, "refused": refusal is not None})
        return Outcome.SENT

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


__all__ = ["MdnResponder", "Outcome"]
