"""The ``mssante`` source: an applicative mailbox polled over IMAP.

Per mail, oldest first (mails already committed but not yet moved go last):

1. fetch it (``BODY.PEEK``: ``\\Seen`` is not set); a mail over ``max_mail_size`` is
   refused from its header alone;
2. a DSN or MDN is recorded as one message (``message/delivery-status`` or
   ``message/disposition-notification``) naming the delivery it is about;
3. otherwise every document of its IHE_XDM.ZIP is accepted as one message; a mail that
   cannot be understood is recorded with ``Intake.reject`` and the reason;
4. an MDN answers a ``Disposition-Notification-To`` (when ``mdn`` is configured);
5. only then is the mail moved (IMAP MOVE) to ``processed_folder`` or ``error_folder``.

Restart safety: the keyword ``$PasserelleIntake`` is set before the first commit and
``$PasserelleDone`` after the last one (``$MDNSent`` once the MDN went). A mail found
again with ``$PasserelleDone`` is only answered and moved; one with ``$PasserelleIntake``
only is compared with the store (:mod:`.dedupe`) and only its missing documents are
accepted. So a crash anywhere loses no mail and stores no document twice. A store failure
leaves the mail in the mailbox for the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

from channels.mssante.config import MssanteSourceConfig
from channels.mssante.dedupe import DEDUPE_KEY, StoreIndex, document_key
from channels.mssante.imap import ImapMailbox, MailSummary
from channels.mssante.mdn import MdnResponder, Outcome
from channels.mssante.mime import IncomingMail, MailError, parse_mail, sniff_message_id
from channels.mssante.receipts import REFUSAL_CODE, read_receipt
from channels.mssante.unpack import DocumentMessage, documents_of, mail_metadata, receipt_record
from engine.components import Intake, Source
from engine.errors import ChannelError, StoreError
from engine.registry import source

log = logging.getLogger(__name__)
INTAKE_FLAG, DONE_FLAG, MDN_FLAG = "$PasserelleIntake", "$PasserelleDone", "$MDNSent"
RFC822 = "message/rfc822"


@source("mssante", config=MssanteSourceConfig)
class MssanteSource(Source[MssanteSourceConfig]):
    """Polls an MSSanté applicative mailbox (IMAP, TLS or STARTTLS, client certificate)."""

    def __init__(self, name: str, config: MssanteSourceConfig) -> None:
        super().__init__(name, config)
        self._context: ssl.SSLContext | None = None
        self._mailbox: ImapMailbox | None = None
        self._intake: Intake | None = None
        self._index: StoreIndex | None = None
        self._mdn = MdnResponder(name, config.mdn)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def describe(self) -> str:
        scheme = "imaps" if self.config.imap.security == "tls" else "imap+starttls"
        return f"{scheme}://{self.config.imap.host}:{self.config.imap.port}/{self.config.mailbox}"

    async def attach(self, intake: Intake) -> None:
        """Load TLS files and bind the intake, without polling. Raises ChannelError."""
        self._context = self.config.imap.tls.context()
        self._mdn.check()
        self._intake = intake
        self._index = StoreIndex(intake, self.name)

    async def start(self, intake: Intake) -> None:
        await self.attach(intake)
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"mssante-{self.name}")

    async def stop(self) -> None:
        """Finish the mail in hand, then log out. Idempotent."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop()
        await self._mdn.close()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.poll()
            except (ChannelError, StoreError) as exc:
                log.warning("Mailbox poll failed; will retry.", extra=self._extra(error=str(exc)))
                await self._drop()
            except Exception:
                log.exception("Mailbox poll failed unexpectedly; will retry.", extra=self._extra())
                await self._drop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.config.poll_interval)

    def _extra(self, **more: object) -> dict[str, object]:
        return {"channel": self.name, **more}

    async def _drop(self) -> None:
        mailbox, self._mailbox = self._mailbox, None
        if mailbox is not None:
            await asyncio.to_thread(mailbox.close)

    async def _open(self) -> ImapMailbox:
        if self._mailbox is not None:
            return self._mailbox
        if self._context is None:
            raise ChannelError(f"channel '{self.name}' is not attached to an intake")
        mailbox = ImapMailbox(self.config.imap, self._context)

        def connect() -> None:
            mailbox.connect()
            for folder in (self.config.processed_folder, self.config.error_folder):
                mailbox.ensure_folder(folder)
            mailbox.select(self.config.mailbox)

        try:
            await asyncio.to_thread(connect)
        except ChannelError:
            await asyncio.to_thread(mailbox.close)
            raise
        self._mailbox = mailbox
        return mailbox

    async def poll(self) -> int:
        """Handle up to ``batch_size`` mails now; returns how many were moved.

        Raises:
            ChannelError: the mailbox cannot be reached (the caller retries later).
            StoreError: a commit failed (the mail stays in the mailbox).
        """
        async with self._lock:
            try:
                mailbox = await self._open()
                uids = await asyncio.to_thread(mailbox.search)
            except ChannelError:  # a stale connection: one fresh try
                await self._drop()
                mailbox = await self._open()
                uids = await asyncio.to_thread(mailbox.search)
            summaries = await asyncio.to_thread(mailbox.summaries, uids)
            summaries.sort(key=lambda s: (DONE_FLAG in s.flags, s.uid))
            moved = 0
            for summary in summaries[: self.config.batch_size]:
                if self._stopping.is_set():
                    break
                moved += await self._handle(mailbox, summary)
            return moved

    async def _handle(self, mailbox: ImapMailbox, s: MailSummary) -> bool:
        limit = self.config.limits.max_mail_size
        if s.size > limit:
            head = await asyncio.to_thread(mailbox.fetch, s.uid, header_only=True)
            try:
                mail: IncomingMail | None = parse_mail(head, max_size=len(head) + 1)
            except MailError:
                mail = None
            reason = f"the mail of {s.size} bytes exceeds the limit of {limit}"
            return await self._refuse(mailbox, s, head, mail, reason)
        raw = await asyncio.to_thread(mailbox.fetch, s.uid)
        try:
            mail = parse_mail(raw, max_size=limit)
        except MailError as exc:
            return await self._refuse(mailbox, s, raw, None, str(exc), exc.code)
        receipt = read_receipt(mail)
        if receipt is not None:
            assert self._index is not None
            match = await self._index.delivery(receipt.delivery_id, receipt.original_message_id)
            record = receipt_record(mail, raw, receipt, None if match is None else match.found)
            await self._commit(mailbox, s, mail.message_id, [record])
            await self._settle(mailbox, s, mail.message_id, self.config.processed_folder)
            log.info(
                "Receipt recorded.",
                extra=self._extra(
                    uid=s.uid,
                    kind=receipt.kind,
                    status=receipt.status,
                    delivery_id=receipt.delivery_id,
                    matched=record.metadata["mssante.receipt.matched"],
                ),
            )
            return True
        try:
            documents = documents_of(mail, self.config.limits, strict=self.config.strict_integrity)
        except MailError as exc:
            return await self._refuse(mailbox, s, raw, mail, str(exc), exc.code)
        await self._commit(mailbox, s, mail.message_id, documents)
        if not await self._answer(mailbox, s, mail, None):
            return False
        await self._settle(mailbox, s, mail.message_id, self.config.processed_folder)
        log.info(
            "Mail processed.",
            extra=self._extra(uid=s.uid, mail_message_id=mail.message_id, documents=len(documents)),
        )
        return True

    async def _refuse(
        self,
        mailbox: ImapMailbox,
        s: MailSummary,
        raw: bytes,
        mail: IncomingMail | None,
        reason: str,
        code: str = REFUSAL_CODE,
    ) -> bool:
        if mail is not None:
            message_id, facts = mail.message_id, mail_metadata(mail)
        else:
            message_id = sniff_message_id(raw)
            facts = {"mssante.message_id": message_id}
        facts[DEDUPE_KEY] = document_key(message_id, "refused")
        record = DocumentMessage(raw, RFC822, facts)
        await self._commit(mailbox, s, message_id, [record], refusal=reason)
        if mail is not None and not await self._answer(mailbox, s, mail, reason, code):
            return False
        await self._settle(mailbox, s, message_id, self.config.error_folder)
        log.warning(
            "Mail refused.", extra=self._extra(uid=s.uid, mail_message_id=message_id, reason=reason)
        )
        return True

    async def _settle(
        self, mailbox: ImapMailbox, s: MailSummary, message_id: str, folder: str
    ) -> None:
        """The acknowledgement: move the mail out of the polled folder."""
        await asyncio.to_thread(
            mailbox.settle,
            s.uid,
            folder,
            message_id,
            self.config.mailbox,
            check=DONE_FLAG in s.flags,
        )

    async def _commit(
        self,
        mailbox: ImapMailbox,
        s: MailSummary,
        message_id: str,
        records: list[DocumentMessage],
        *,
        refusal: str | None = None,
    ) -> None:
        """Accept (or reject) each record not committed yet; see the module docstring."""
        assert self._intake is not None and self._index is not None
        if DONE_FLAG in s.flags:
            return
        done: set[str] = set()
        if INTAKE_FLAG in s.flags or not mailbox.keywords:
            if self._index.available:
                done = await self._index.keys_for(message_id)
            elif INTAKE_FLAG in s.flags:
                log.warning(
                    "Mail handled again but the intake offers no store to check for duplicates.",
                    extra=self._extra(uid=s.uid),
                )
        else:
            await asyncio.to_thread(mailbox.add_flags, s.uid, INTAKE_FLAG)
        for record in records:
            if record.key in done:
                log.info("Already stored; skipped.", extra=self._extra(uid=s.uid, key=record.key))
                continue
            if refusal is None:
                await self._intake.accept(
                    self.name, record.raw, record.content_type, record.metadata
                )
            else:
                await self._intake.reject(
                    self.name, record.raw, record.content_type, record.metadata, refusal
                )
        if mailbox.keywords:
            await asyncio.to_thread(mailbox.add_flags, s.uid, DONE_FLAG)

    async def _answer(
        self,
        mailbox: ImapMailbox,
        s: MailSummary,
        mail: IncomingMail,
        refusal: str | None,
        code: str = REFUSAL_CODE,
    ) -> bool:
        """Send the MDN the mail asked for (once); False to keep the mail for the next poll."""
        if MDN_FLAG in s.flags:
            return True
        outcome = await self._mdn.answer(mail, refusal, s.uid, code=code)
        if outcome is Outcome.SENT and mailbox.keywords:
            await asyncio.to_thread(mailbox.add_flags, s.uid, MDN_FLAG)
        return outcome is not Outcome.RETRY


__all__ = ["DONE_FLAG", "INTAKE_FLAG", "MDN_FLAG", "MssanteSource"]
