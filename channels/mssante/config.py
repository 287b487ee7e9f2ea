"""Config models of the ``mssante`` source (IMAP mailbox) and destination (SMTP).

MSSanté applicative mailboxes authenticate with a TLS client certificate (an IGC Santé
"Organisation" certificate) on top of the account login, so ``tls.cert_file`` and
``tls.key_file`` are required. Files are read when the component starts or opens
(ChannelError then), not when the configuration is validated.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from engine import tls
from engine.components import ComponentConfig
from engine.config.types import ByteSize, Duration, HostPort
from engine.formats.xds.config import XdsMetadataConfig
from engine.tls import TlsVersion

Security = Literal["tls", "starttls"]
_FOLDER_FORBIDDEN = set('"\\*%') | {chr(n) for n in range(32)}


class ClientTlsConfig(ComponentConfig):
    """TLS towards an MSSanté operator: server verified, client certificate presented."""

    cert_file: Path = Field(description="PEM client certificate (the organisation certificate).")
    key_file: Path = Field(description="PEM private key of the client certificate.")
    ca_file: Path | None = Field(
        default=None, description="PEM CA bundle that verifies the server; system store if unset."
    )
    server_hostname: str | None = Field(
        default=None, description="Name checked in the server certificate; the host if unset."
    )
    min_version: TlsVersion = Field(
        default="1.2", description="Lowest TLS version offered (never below 1.2)."
    )

    def context(self) -> ssl.SSLContext:
        """A client context (server certificate and host name checked).

        Raises:
            ChannelError: a file is missing or unreadable, or the key does not match.
        """
        return tls.client_context(
            ca_file=self.ca_file,
            cert_file=self.cert_file,
            key_file=self.key_file,
            min_version=self.min_version,
            error="cannot load the MSSanté TLS configuration",
        )


class ServerConfig(ComponentConfig):
    """Where and how to connect: address, implicit TLS or STARTTLS, account, timeouts."""

    address: HostPort = Field(description="Host and port of the server.", examples=["imap.x:993"])
    security: Security = Field(
        default="starttls",
        description="`tls`: TLS from the first byte (993, 465); `starttls`: upgrade (143, 587).",
    )
    tls: ClientTlsConfig = Field(description="Client certificate and server verification.")
    username: str = Field(min_length=1, description="Account name (the mailbox address).")
    password: SecretStr = Field(description="Account password; use ${ENV_VAR}, never a value.")
    timeout: Duration = Field(
        default="30s", validate_default=True, gt=0, description="Timeout of each network step."
    )

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]


def _folder(value: str) -> str:
    if not value or set(value) & _FOLDER_FORBIDDEN or not value.isascii():
        raise ValueError("a folder name is printable ASCII without quotes, \\, * or %")
    return value


class XdmLimits(ComponentConfig):
    """Safety limits applied to every received mail and its IHE_XDM.ZIP."""

    max_mail_size: ByteSize = Field(
        default="50MiB", validate_default=True, gt=0, description="Larger mails are refused unread."
    )
    max_entries: int = Field(default=500, ge=1, description="Most files in one archive.")
    max_document_size: ByteSize = Field(
        default="50MiB", validate_default=True, gt=0, description="Largest unpacked file."
    )
    max_total_size: ByteSize = Field(
        default="200MiB", validate_default=True, gt=0, description="Largest unpacked archive."
    )
    max_ratio: int = Field(
        default=200,
        ge=10,
        description="Largest expansion ratio of a file and of the whole archive (zip bomb guard).",
    )


class MdnConfig(ComponentConfig):
    """Answering read-receipt requests (Disposition-Notification-To) with RFC 8098 MDNs."""

    sender: str = Field(description="From address of the MDNs (the applicative mailbox).")
    smtp: ServerConfig = Field(description="SMTP submission server used to send the MDNs.")


class MssanteSourceConfig(ComponentConfig):
    """An MSSanté applicative mailbox polled over IMAP (implicit TLS or STARTTLS + client
    certificate); one message per document of each mail's IHE_XDM.ZIP."""

    imap: ServerConfig = Field(description="The IMAP server and account of the mailbox.")
    mailbox: str = Field(default="INBOX", description="Folder polled for new mails.")
    processed_folder: str = Field(
        default="Processed", description="Where a mail goes once its documents are stored."
    )
    error_folder: str = Field(
        default="Errors", description="Where a mail that cannot be understood goes."
    )
    poll_interval: Duration = Field(
        default="30s", validate_default=True, gt=0, description="Pause between two polls."
    )
    batch_size: int = Field(default=50, ge=1, description="Most mails handled per poll.")
    strict_integrity: bool = Field(
        default=False,
        description="Refuse a mail whose documents' hash or size differ from METADATA.XML "
        "(default: accept and record `xdm.hash_ok=false`).",
    )
    limits: XdmLimits = Field(default_factory=XdmLimits, description="Safety limits.")
    mdn: MdnConfig | None = Field(
        default=None, description="Send MDNs when asked; without it, requests are only recorded."
    )

    @field_validator("mailbox", "processed_folder", "error_folder")
    @classmethod
    def _folders(cls, value: str) -> str:
        return _folder(value)


class MssanteDestinationConfig(XdsMetadataConfig):
    """Sends each CDA as an MSSanté mail: IHE_XDM.ZIP + PDF rendition, X-MSS-* headers,
    DSN request, over SMTP with STARTTLS (or implicit TLS) and a client certificate."""

    smtp: ServerConfig = Field(description="SMTP submission server of the operator.")
    sender: str = Field(description="From address: the applicative mailbox.")
    to: tuple[str, ...] = Field(default=(), description="Recipients of every mail.")
    recipients_metadata: str | None = Field(
        default=None,
        description="Message metadata key with more recipients (comma separated).",
        examples=["mssante.to"],
    )
    trusted_domains: tuple[str, ...] = Field(
        default=("mssante.fr",),
        min_length=1,
        description="Recipient domains allowed (a domain and its subdomains); others are refused.",
    )
    nil: str = Field(
        min_length=1, description="X-MSS-NIL: the product reference registered with the ANS."
    )
    subject: str = Field(
        default="XDM/1.0/DDM+{title}",
        description="Subject template: {title}, {family}, {given}, {birth_date} (dd/mm/yyyy).",
    )
    body: str = Field(
        default="Veuillez trouver ci-joint le document {title}.",
        description="Plain-text body template (same placeholders as the subject).",
    )
    end_of_exchange: bool = Field(
        default=False, description="Write `X-MSS-MES: FIN` (the patient cannot reply)."
    )
    read_receipt: bool = Field(
        default=True, description="Ask for an MDN (Disposition-Notification-To: sender)."
    )
    dsn_notify: tuple[Literal["SUCCESS", "FAILURE", "DELAY"], ...] = Field(
        default=("SUCCESS", "FAILURE"), description="DSN NOTIFY on each recipient (RFC 3461)."
    )
    require_dsn: bool = Field(
        default=False, description="Refuse to send through a server without the DSN extension."
    )
    trusted_domains_file: Path | None = Field(
        default=None,
        description="The ANS allowlist (liste blanche) of MSSanté domains: a recipient's "
        "domain must be listed exactly (one domain per line, '#' comments; or the XML list, "
        "each domain the text of an element named domain/domaine). Replaces trusted_domains.",
        examples=["/etc/passerelle/mssante/liste-blanche.txt"],
    )
    to_patient: bool = Field(
        default=False,
        description="Also send to the patient's mailbox <INS>@patient.mssante.fr, built from "
        "the qualified INS of the document (refused when it has none).",
    )
    source_id: str | None = Field(
        default=None,
        description="XDS sourceId OID of the submission set (your system's OID); when unset "
        "a stable OID under 2.25 derived from the sender address.",
        examples=["1.2.250.1.999.1.1"],
    )
    content_type_code: str | None = Field(
        default=None,
        description="SubmissionSet contentTypeCode (a code of xds_content_type_codes.yaml, "
        "JDV_J03) when the document's healthcareFacilityTypeCode is not one.",
        examples=["07"],
    )
    max_idle: Duration = Field(
        default="60s",
        validate_default=True,
        gt=0,
        description="Reuse the SMTP connection if it was used within this time.",
    )


__all__ = [
    "ClientTlsConfig",
    "MdnConfig",
    "MssanteDestinationConfig",
    "MssanteSourceConfig",
    "Security",
    "ServerConfig",
    "XdmLimits",
]
