"""Config models of the ``mllp`` source and destination (and their TLS settings).

Certificate paths are checked when the component starts or opens (raising ChannelError),
not when the config is validated, so a config can be linted on another machine.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from engine.components import ComponentConfig
from engine.config.types import ByteSize, Duration, HostPort
from engine.errors import ParseError
from engine.formats.hl7v2 import codec_for
from engine.intake.config import Hl7IntakeConfig
from engine.tls import TlsVersion


class TlsServerConfig(ComponentConfig):
    """TLS for an MLLP listener; setting ``client_ca_file`` turns on mutual TLS."""

    cert_file: Path = Field(
        description="PEM certificate chain presented by the listener (leaf first).",
        examples=["/etc/passerelle/tls/server.crt"],
    )
    key_file: Path = Field(
        description="PEM private key of the listener certificate.",
        examples=["/etc/passerelle/tls/server.key"],
    )
    client_ca_file: Path | None = Field(
        default=None,
        description=(
            "PEM CA bundle trusted for client certificates. When set, every client must "
            "present a certificate issued by one of these CAs (mutual TLS)."
        ),
        examples=["/etc/passerelle/tls/clients-ca.crt"],
    )
    min_version: TlsVersion = Field(
        default="1.2",
        description="Lowest TLS protocol version accepted (never below 1.2).",
        examples=["1.2", "1.3"],
    )


class TlsClientConfig(ComponentConfig):
    """TLS for an outbound MLLP connection; ``cert_file``/``key_file`` enable mutual TLS."""

    ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle used to verify the server; the system store when unset.",
        examples=["/etc/passerelle/tls/partner-ca.crt"],
    )
    cert_file: Path | None = Field(
        default=None,
        description="PEM client certificate presented to the server (mutual TLS).",
        examples=["/etc/passerelle/tls/client.crt"],
    )
    key_file: Path | None = Field(
        default=None,
        description="PEM private key of the client certificate.",
        examples=["/etc/passerelle/tls/client.key"],
    )
    server_hostname: str | None = Field(
        default=None,
        description="Name checked against the server certificate; the address host when unset.",
        examples=["mllp.hopital.example"],
    )
    min_version: TlsVersion = Field(
        default="1.2",
        description="Lowest TLS protocol version offered (never below 1.2).",
        examples=["1.2", "1.3"],
    )

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsClientConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be set together")
        return self


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class MllpSourceConfig(ComponentConfig):
    """An MLLP listener receiving HL7v2 (ER7) messages and answering original-mode ACKs."""

    listen: HostPort = Field(
        description="Address and port to listen on (port 0 picks a free port).",
        examples=["0.0.0.0:2575", "127.0.0.1:2575"],
    )
    max_frame_size: ByteSize = Field(
        default="1MiB",
        validate_default=True,
        gt=0,
        description=(
            "Largest accepted message; a bigger frame gets an AR and the connection closes."
        ),
        examples=["1MiB", "16MiB"],
    )
    idle_timeout: Duration = Field(
        default="300s",
        validate_default=True,
        gt=0,
        description=(
            "Close a connection after this long without a complete frame (bytes between "
            "frames, such as a CR sent every second, do not keep it open)."
        ),
        examples=["300s", "10m"],
    )
    frame_timeout: Duration = Field(
        default="30s",
        validate_default=True,
        gt=0,
        description=(
            "A started frame must be complete within this time, else the connection closes."
        ),
        examples=["30s"],
    )
    max_connections: int = Field(
        default=100,
        ge=1,
        description=(
            "Concurrent connections. A new connection at the cap closes the longest-idle "
            "one (waiting for a frame, oldest last frame first); it is refused only when "
            "every connection is examining or committing a frame."
        ),
        examples=[100],
    )
    max_connections_per_peer: int = Field(
        default=32,
        ge=1,
        description=(
            "Concurrent connections from one peer address. A new one at the cap closes that "
            "peer's longest-idle connection (refused when none is idle)."
        ),
        examples=[32, 4],
    )
    allow: list[str] | None = Field(
        default=None,
        description=(
            "Sender addresses or networks (CIDR) allowed to connect; others are closed at "
            "once and logged. Unset: every address."
        ),
        examples=[["10.1.0.0/16", "192.0.2.10", "2001:db8::/32"]],
    )
    default_charset: str = Field(
        default="UNICODE UTF-8",
        description="HL7 table 0211 character set assumed when MSH-18 is empty.",
        examples=["UNICODE UTF-8", "8859/1"],
    )
    tls: TlsServerConfig | None = Field(
        default=None,
        description="Serve MLLP over TLS (and mutual TLS with client_ca_file).",
        examples=[{"cert_file": "server.crt", "key_file": "server.key"}],
    )
    hl7: Hl7IntakeConfig = Field(
        default_factory=Hl7IntakeConfig,
        description=(
            "How messages are examined before the ACK: PAM-FR profile, validation mode, "
            "unknown events and DMP gating (see docs/pam-fr.md)."
        ),
        examples=[{"profile": "pam_fr", "validation": "strict", "unknown_events": "refuse"}],
    )

    @field_validator("default_charset")
    @classmethod
    def _known_charset(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("default_charset must not be empty")
        try:
            codec_for(value)
        except ParseError as exc:
            raise ValueError(f"unsupported character set {value!r}") from exc
        return value

    @field_validator("allow")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an IP address or CIDR network: {item!r}") from exc
        return value

    @property
    def allowed_networks(self) -> tuple[IPNetwork, ...] | None:
        """:attr:`allow` parsed (None: every address)."""
        if self.allow is None:
            return None
        return tuple(ipaddress.ip_network(item, strict=False) for item in self.allow)

    @property
    def default_codec(self) -> str:
        """Python codec of :attr:`default_charset`."""
        return codec_for(self.default_charset)


class MllpDestinationConfig(ComponentConfig):
    """An MLLP client sending each payload on one persistent connection and awaiting its ACK."""

    address: HostPort = Field(
        description="Host and port of the receiving MLLP listener.",
        examples=["mllp.hopital.example:2575"],
    )
    connect_timeout: Duration = Field(
        default="10s",
        validate_default=True,
        gt=0,
        description="Time allowed to open the TCP (and TLS) connection.",
        examples=["10s"],
    )
    ack_timeout: Duration = Field(
        default="30s",
        validate_default=True,
        gt=0,
        description="Time allowed for the ACK after the message is written; then retried.",
        examples=["30s"],
    )
    max_frame_size: ByteSize = Field(
        default="1MiB",
        validate_default=True,
        gt=0,
        description="Largest ACK frame accepted from the peer.",
        examples=["1MiB"],
    )
    tls: TlsClientConfig | None = Field(
        default=None,
        description="Connect over TLS (and mutual TLS with cert_file/key_file).",
        examples=[{"ca_file": "partner-ca.crt"}],
    )


__all__ = [
    "IPNetwork",
    "MllpDestinationConfig",
    "MllpSourceConfig",
    "TlsClientConfig",
    "TlsServerConfig",
]
