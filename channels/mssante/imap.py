"""A blocking IMAP4rev1 mailbox client (stdlib :mod:`imaplib`), run in a worker thread.

Why imaplib: it does implicit TLS and STARTTLS with any ``ssl.SSLContext`` (so a client
certificate), is typed, and adds no dependency; aioimaplib has no STARTTLS and is
GPL-3.0-only. Only the few commands intake needs are used: SELECT, UID SEARCH, UID FETCH,
UID STORE, UID MOVE (or COPY + STORE \\Deleted + EXPUNGE without the MOVE extension).

Every failure (network, TLS, a NO/BAD answer, an unreadable response) raises
:class:`~engine.errors.ChannelError`; the caller drops the connection and retries later.
Nothing here logs mail content.
"""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from channels.mssante.config import ServerConfig
from engine.errors import ChannelError

_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_DATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_ERRORS = (imaplib.IMAP4.error, OSError, ssl.SSLError, EOFError, ValueError)


@dataclass(frozen=True, slots=True)
class MailSummary:
    """What a mail is before it is downloaded: UID, size, flags, arrival time (UTC)."""

    uid: int
    size: int
    flags: frozenset[str]
    arrived: datetime


class _Imap4Tls(imaplib.IMAP4_SSL):
    """IMAP over implicit TLS, checking the certificate against ``server_hostname``."""

    def __init__(
        self, host: str, port: int, *, context: ssl.SSLContext, timeout: float, sni: str
    ) -> None:
        self._sni = sni
        super().__init__(host, port, ssl_context=context, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        base: Any = imaplib.IMAP4  # _create_socket is not in the stubs
        sock: socket.socket = base._create_socket(self, timeout)
        context: ssl.SSLContext = self.ssl_context
        try:
            return context.wrap_socket(sock, server_hostname=self._sni)
        except BaseException:
            sock.close()  # a failed handshake (timeout, reset, bad certificate) leaks nothing
            raise


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ok(result: tuple[str, list[Any]], what: str) -> list[Any]:
    status, data = result
    if status != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("ascii", "replace")
        raise ChannelError(f"IMAP {what} failed: {detail[:200]}")
    return data


def _arrived(text: bytes) -> datetime:
    try:
        return datetime.strptime(text.decode("ascii").strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return datetime.now(UTC)


class ImapMailbox:
    """One authenticated IMAP connection. Not thread-safe: one caller at a time."""

    def __init__(self, config: ServerConfig, context: ssl.SSLContext) -> None:
        self.config = config
        self.context = context
        self._conn: imaplib.IMAP4 | None = None
        self.keywords = False
        """True when the selected folder keeps custom keywords (PERMANENTFLAGS ``\\*``)."""

    def _call(self, what: str, fn: Any, *args: Any) -> list[Any]:
        try:
            return _ok(fn(*args), what)
        except ChannelError:
            raise
        except _ERRORS as exc:
            raise ChannelError(f"IMAP {what} failed: {type(exc).__name__}: {exc}") from exc

    def connect(self) -> None:
        """Open the connection (TLS or STARTTLS), log in. Raises ChannelError."""
        cfg = self.config
        sni = cfg.tls.server_hostname or cfg.host
        try:
            if cfg.security == "tls":
                conn: imaplib.IMAP4 = _Imap4Tls(
                    cfg.host, cfg.port, context=self.context, timeout=cfg.timeout, sni=sni
                )
            else:
                conn = imaplib.IMAP4(cfg.host, cfg.port, timeout=cfg.timeout)
                self._conn = conn  # closed by close() below if STARTTLS fails
                conn.host = sni  # imaplib checks the certificate against .host
                _ok(conn.starttls(self.context), "STARTTLS")
            self._conn = conn
            _ok(conn.login(cfg.username, cfg.password.get_secret_value()), "LOGIN")
        except ChannelError:
            self.close()
            raise
        except _ERRORS as exc:
            self.close()
            raise ChannelError(f"IMAP connection failed: {type(exc).__name__}: {exc}") from exc

    @property
    def conn(self) -> imaplib.IMAP4:
        if self._conn is None:
            raise ChannelError("IMAP connection is not open")
        return self._conn

    def close(self) -> None:
        """Log out and close; never raises."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.logout()
        except Exception:  # closing a broken connection
            try:
                conn.shutdown()
            except Exception:
                return

    def ensure_folder(self, name: str) -> None:
        """Create ``name`` unless it exists."""
        listed = self._call("LIST", self.conn.list, '""', _quote(name))
        if any(isinstance(x, bytes) for x in listed):
            return
        self._call("CREATE", self.conn.create, _quote(name))

    def select(self, name: str) -> None:
        self._call("SELECT", self.conn.select, _quote(name))
        _, flags = self.conn.response("PERMANENTFLAGS")
        self.keywords = any(isinstance(f, bytes) and b"\\*" in f for f in flags or [])

    def search(self) -> list[int]:
        """UIDs of the mails not marked deleted, oldest first."""
        data = self._call("SEARCH", self.conn.uid, "SEARCH", "UNDELETED")
        return sorted(int(n) for n in b" ".join(d for d in data if d).split())

    def summaries(self, uids: list[int]) -> list[MailSummary]:
        if not uids:
            return []
        wanted = ",".join(str(u) for u in uids)
        data = self._call(
            "FETCH", self.conn.uid, "FETCH", wanted, "(UID RFC822.SIZE FLAGS INTERNALDATE)"
        )
        out = []
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if not isinstance(line, bytes):
                continue
            uid, size, flags = _UID.search(line), _SIZE.search(line), _FLAGS.search(line)
            date = _DATE.search(line)
            if uid and size:
                names = flags.group(1).decode("ascii", "replace").split() if flags else []
                when = _arrived(date.group(1)) if date else datetime.now(UTC)
                out.append(
                    MailSummary(int(uid.group(1)), int(size.group(1)), frozenset(names), when)
                )
        return sorted(out, key=lambda s: s.uid)

    def fetch(self, uid: int, *, header_only: bool = False) -> bytes:
        """The mail's bytes (or its header), without setting \\Seen."""
        part = "BODY.PEEK[HEADER]" if header_only else "BODY.PEEK[]"
        data = self._call("FETCH", self.conn.uid, "FETCH", str(uid), f"({part})")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        raise ChannelError(f"IMAP FETCH of UID {uid} returned no content")

    def add_flags(self, uid: int, *flags: str) -> None:
        self._call(
            "STORE", self.conn.uid, "STORE", str(uid), "+FLAGS.SILENT", f"({' '.join(flags)})"
        )

    def move(self, uid: int, folder: str) -> None:
        """Move one mail (MOVE), else COPY + \\Deleted + (UID) EXPUNGE."""
        if "MOVE" in self.conn.capabilities:
            self._call("MOVE", self.conn.uid, "MOVE", str(uid), _quote(folder))
            return
        self._call("COPY", self.conn.uid, "COPY", str(uid), _quote(folder))
        self._remove(uid)

    def _remove(self, uid: int) -> None:
        self.add_flags(uid, "\\Deleted")
        if "UIDPLUS" in self.conn.capabilities:
            self._call("EXPUNGE", self.conn.uid, "EXPUNGE", str(uid))
        else:
            self._call("EXPUNGE", self.conn.expunge)

    def contains(self, folder: str, message_id: str, back_to: str) -> bool:
        """True when ``folder`` holds a mail with this Message-ID; ``back_to`` is selected
        again afterwards."""
        self._call("EXAMINE", self.conn.select, _quote(folder), True)
        try:
            data = self._call(
                "SEARCH", self.conn.uid, "SEARCH", "HEADER", "Message-ID", _quote(message_id)
            )
            return bool(b"".join(d for d in data if d).strip())
        finally:
            self.select(back_to)

    def settle(self, uid: int, folder: str, message_id: str, mailbox: str, *, check: bool) -> None:
        """Move the mail to ``folder``; with ``check``, first look there for a copy left by a
        MOVE interrupted by a crash (servers copy then expunge), and only remove it then."""
        if check and message_id and self.contains(folder, message_id, mailbox):
            self._remove(uid)
            return
        self.move(uid, folder)


__all__ = ["ImapMailbox", "MailSummary"]
