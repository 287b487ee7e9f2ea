"""The IMAP client against a real Dovecot: certificates on both sides, both TLS modes,
keywords, moves."""

from __future__ import annotations

import ssl
import tempfile

import pytest

from channels.mssante.imap import ImapMailbox
from engine.errors import ChannelError
from engine.pki import write_dev_pki
from tests.channels.mssante.builders import mail
from tests.channels.mssante.conftest import source_config
from tests.support.dovecot import Dovecot

pytestmark = pytest.mark.integration


def mailbox(dovecot: Dovecot, user: str, security: str, context: ssl.SSLContext) -> ImapMailbox:
    return ImapMailbox(source_config(dovecot, user, security=security).imap, context)


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_a_client_without_certificate_cannot_log_in(dovecot: Dovecot, security: str) -> None:
    user = dovecot.new_user()
    bare = ssl.create_default_context(cafile=str(dovecot.pki.ca_cert))  # no client cert
    with pytest.raises(ChannelError):
        mailbox(dovecot, user, security, bare).connect()
    with_cert = source_config(dovecot, user, security=security).imap.tls.context()
    box = mailbox(dovecot, user, security, with_cert)
    box.connect()
    box.close()


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_a_server_certificate_from_another_ca_is_refused(dovecot: Dovecot, security: str) -> None:
    other = write_dev_pki(tempfile.mkdtemp(prefix="passerelle-other-pki-"))
    context = ssl.create_default_context(cafile=str(other.ca_cert))
    context.load_cert_chain(dovecot.pki.client_cert, dovecot.pki.client_key)
    with pytest.raises(ChannelError, match="CERTIFICATE_VERIFY_FAILED"):
        mailbox(dovecot, dovecot.new_user(), security, context).connect()


def test_summaries_keywords_and_moves(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    for n in range(3):
        dovecot.append(user, mail(xdm=None, message_id=f"<m{n}@x.mssante.fr>"))
    cfg = source_config(dovecot, user)
    box = ImapMailbox(cfg.imap, cfg.imap.tls.context())
    box.connect()
    try:
        box.ensure_folder("Processed")
        box.ensure_folder("Processed")  # idempotent
        box.select("INBOX")
        assert box.keywords
        uids = box.search()
        summaries = box.summaries(uids)
        assert [s.uid for s in summaries] == uids and len(uids) == 3
        assert all(s.size > 0 and not s.flags & {"\\Seen"} for s in summaries)
        raw = box.fetch(uids[0])
        assert b"<m0@x.mssante.fr>" in raw and box.fetch(uids[0], header_only=True) in raw
        box.add_flags(uids[0], "$PasserelleIntake")
        assert "$PasserelleIntake" in box.summaries([uids[0]])[0].flags
        box.move(uids[0], "Processed")
        assert box.contains("Processed", "<m0@x.mssante.fr>", "INBOX")
        assert not box.contains("Processed", "<m1@x.mssante.fr>", "INBOX")
        box.settle(uids[1], "Processed", "<m1@x.mssante.fr>", "INBOX", check=True)
        assert len(box.search()) == 1
    finally:
        box.close()
    assert len(dovecot.messages(user, "Processed")) == 2
