"""The ``alerts:`` section of ``routes.yaml``: rules evaluated from store figures and the
notifiers that carry their notices (see docs/alerts.md).

Rules (``kind``): ``destination_failing`` (failing or circuit open for ``for``),
``dead_letters`` (dead deliveries over ``threshold``, optionally within ``window``),
``channel_silent`` (no message for ``for`` during ``hours`` on ``days``, Europe/Paris by
default) and ``backlog`` (pending+retrying over ``max_messages`` or the oldest waiting
delivery older than ``max_age``). Notifiers: ``webhook`` (JSON, optional HMAC-SHA256
signature) and ``email`` (SMTP: the same ``smtp`` block as an ``mssante`` destination,
or ``smtp_from: <mssante destination>`` to reuse that destination's). Names of channels,
destinations and notifiers are checked by :func:`check_alert_refs`.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from engine.config.document import DataPath, Document
from engine.config.types import Duration, HostPort

_NAME = r"^[a-z0-9]+(_[a-z0-9]+)*$"
_Name = Annotated[str, Field(pattern=_NAME)]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Rule(_Model):
    name: _Name = Field(description="Rule name, part of every notice (`<rule>:<subject>`).")
    notify: tuple[_Name, ...] | None = Field(
        None, description="Notifiers to use; every notifier when absent."
    )


class DestinationFailingRule(_Rule):
    """A destination whose circuit is open, or whose newest attempt failed, for ``for``."""

    kind: Literal["destination_failing"]
    destinations: tuple[_Name, ...] | None = Field(None, description="Every one when absent.")
    for_: Duration = Field("5m", alias="for", validate_default=True, ge=0)


class DeadLettersRule(_Rule):
    """More than ``threshold`` dead deliveries for one destination (within ``window``:
    counted from the dead total when the rule first saw it, reset each window)."""

    kind: Literal["dead_letters"]
    destinations: tuple[_Name, ...] | None = None
    threshold: int = Field(0, ge=0, description="Fires when dead > threshold.")
    window: Duration | None = Field(None, gt=0)


class ChannelSilentRule(_Rule):
    """No message received on a channel for ``for``, checked only during ``hours`` on
    ``days`` in ``timezone``."""

    kind: Literal["channel_silent"]
    channels: tuple[_Name, ...] | None = None
    for_: Duration = Field("30m", alias="for", validate_default=True, gt=0)
    hours: str = Field("00:00-24:00", description="`HH:MM-HH:MM`, local time.")
    days: tuple[Day, ...] = DAYS
    timezone: str = Field("Europe/Paris", description="IANA time zone of hours and days.")

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        m = _HOURS.match(value)
        if not m or (m.group(3) == "24" and m.group(4) != "00"):
            raise ValueError(f"expected HH:MM-HH:MM such as '08:00-19:00', got {value!r}")
        if value[:5] >= value[6:]:
            raise ValueError("the hours must end after they start")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def window(self) -> tuple[time, time | None]:
        """Start and end (None = midnight at the end of the day) of the watched hours."""
        start = time.fromisoformat(self.hours[:5])
        end = None if self.hours[6:] == "24:00" else time.fromisoformat(self.hours[6:])
        return start, end


class BacklogRule(_Rule):
    """A destination's backlog (pending + retrying) over ``max_messages`` or its oldest
    waiting delivery older than ``max_age``."""

    kind: Literal["backlog"]
    destinations: tuple[_Name, ...] | None = None
    max_messages: int | None = Field(None, ge=0)
    max_age: Duration | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _some_limit(self) -> BacklogRule:
        if self.max_messages is None and self.max_age is None:
            raise ValueError("a backlog rule needs max_messages, max_age or both")
        return self


Rule = Annotated[
    DestinationFailingRule | DeadLettersRule | ChannelSilentRule | BacklogRule,
    Field(discriminator="kind"),
]


class SmtpTls(_Model):
    """TLS towards the SMTP server: verified with ``ca_file`` (system store if unset);
    ``cert_file``/``key_file`` present a client certificate (MSSanté operators)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_hostname: str | None = None

    @model_validator(mode="after")
    def _pair(self) -> SmtpTls:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class SmtpSettings(_Model):
    """The keys of an ``mssante`` destination's ``smtp`` block; client certificate and
    account are optional here (a hospital relay may need neither)."""

    address: HostPort
    security: Literal["tls", "starttls"] = "starttls"
    tls: SmtpTls = Field(default_factory=SmtpTls)
    username: str | None = None
    password: SecretStr | None = None
    timeout: Duration = Field("30s", validate_default=True, gt=0)


class WebhookNotifier(_Model):
    """POST of a JSON notice; with ``secret``, header ``X-Passerelle-Signature:
    sha256=<hex HMAC-SHA256 of the body>``."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://", description="http(s) URL receiving the notices.")
    secret: SecretStr | None = Field(None, description="HMAC key; use ${ENV_VAR}.")
    timeout: Duration = Field("10s", validate_default=True, gt=0)
    ca_file: str | None = Field(None, description="PEM CA bundle for an https URL.")


class EmailNotifier(_Model):
    """A plain-text mail per notice over SMTP (the ``mssante`` destination's settings)."""

    type: Literal["email"]
    smtp: SmtpSettings | None = Field(None, description="Same keys as an mssante `smtp`.")
    smtp_from: _Name | None = Field(None, description="An mssante destination whose smtp to use.")
    sender: str = Field(min_length=3, description="From address.")
    to: tuple[str, ...] = Field(min_length=1, description="Recipients.")

    @model_validator(mode="after")
    def _one_server(self) -> EmailNotifier:
        if (self.smtp is None) == (self.smtp_from is None):
            raise ValueError("an email notifier needs exactly one of smtp and smtp_from")
        return self


Notifier = Annotated[WebhookNotifier | EmailNotifier, Field(discriminator="type")]


class AlertSettings(_Model):
    """The ``alerts:`` section."""

    interval: Duration = Field(
        "30s", validate_default=True, gt=0, description="How often the rules are evaluated."
    )
    notifiers: dict[_Name, Notifier] = Field(default_factory=dict)
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> AlertSettings:
        names = [rule.name for rule in self.rules]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"alert rule name {name!r} is used twice")
        return self


def check_alert_refs(doc: Document) -> None:
    """Append unknown channel/destination/notifier names in ``alerts:`` to the diagnostics."""
    data = doc.data
    alerts = data.get("alerts") if isinstance(data, dict) else None
    if not isinstance(alerts, dict):
        return
    known = {
        key: set(data[key]) if isinstance(data.get(key), dict) else set()
        for key in ("channels", "destinations")
    }
    notifiers = alerts.get("notifiers")
    notifier_names = set(notifiers) if isinstance(notifiers, dict) else set()
    for name, spec in (notifiers or {}).items() if isinstance(notifiers, dict) else ():
        target = spec.get("smtp_from") if isinstance(spec, dict) else None
        if isinstance(target, str):
            dest = data["destinations"].get(target) if known["destinations"] else None
            if not isinstance(dest, dict) or dest.get("type") != "mssante":
                path: DataPath = ("alerts", "notifiers", name, "smtp_from")
                doc.error(path, "unknown-destination", f"{target!r} is not an mssante destination")
    rules = alerts.get("rules")
    for i, rule in enumerate(rules if isinstance(rules, list) else ()):
        if not isinstance(rule, dict):
            continue
        for key, kind in (("channels", "channel"), ("destinations", "destination")):
            _check_names(doc, ("alerts", "rules", i, key), rule.get(key), known[key], kind)
        _check_names(
            doc, ("alerts", "rules", i, "notify"), rule.get("notify"), notifier_names, "notifier"
        )


def _check_names(doc: Document, path: DataPath, value: Any, known: set[str], kind: str) -> None:
    if not isinstance(value, list):
        return
    for j, name in enumerate(value):
        if isinstance(name, str) and name not in known:
            doc.error((*path, j), f"unknown-{kind}", f"unknown {kind} {name!r} in an alert rule")


__all__ = [
    "AlertSettings",
    "BacklogRule",
    "ChannelSilentRule",
    "DeadLettersRule",
    "DestinationFailingRule",
    "EmailNotifier",
    "Rule",
    "SmtpSettings",
    "SmtpTls",
    "WebhookNotifier",
    "check_alert_refs",
]
