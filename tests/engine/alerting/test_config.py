"""The ``alerts:`` section: valid rules load, mistakes are reported at file:line:col."""

from __future__ import annotations

import pytest

from engine.config import check_text, load_config_text
from engine.config.alerting import (
    BacklogRule,
    ChannelSilentRule,
    DeadLettersRule,
    DestinationFailingRule,
    EmailNotifier,
    WebhookNotifier,
)
from engine.errors import ConfigError
from tests.engine.config._helpers import at, y

BASE = y(
    """
    version: 1
    channels:
      adt_in: {type: mllp, listen: "127.0.0.1:0"}
    destinations:
      archive: {type: file, directory: /tmp/out}
    routes:
      - {name: all, to: [archive]}
    """
)

VALID = BASE + y(
    """
    alerts:
      interval: 15s
      notifiers:
        ops:
          type: webhook
          url: https://ops.example.test/hook
          secret: ${HOOK_SECRET}
        oncall:
          type: email
          smtp: {address: "smtp.example.test:587", username: alerts, password: "${SMTP_PASSWORD}"}
          sender: passerelle@example.test
          to: [oncall@example.test]
      rules:
        - {name: archive_down, kind: destination_failing, destinations: [archive], for: 5m}
        - {name: dead, kind: dead_letters, threshold: 10, window: 1h, notify: [ops]}
        - name: adt_quiet
          kind: channel_silent
          channels: [adt_in]
          for: 30m
          hours: "08:00-19:30"
          days: [mon, tue, wed, thu, fri]
        - {name: backlog, kind: backlog, max_messages: 500, max_age: 15m}
    """
)


def test_a_full_alerts_section_loads() -> None:
    config = load_config_text(VALID, env={"HOOK_SECRET": "k", "SMTP_PASSWORD": "p"})
    alerts = config.alerts
    assert alerts.interval == 15.0
    hook, mail = alerts.notifiers["ops"], alerts.notifiers["oncall"]
    assert isinstance(hook, WebhookNotifier) and hook.secret is not None
    assert hook.secret.get_secret_value() == "k"
    assert isinstance(mail, EmailNotifier) and mail.smtp is not None
    assert mail.smtp.address == ("smtp.example.test", 587)
    failing, dead, quiet, backlog = alerts.rules
    assert isinstance(failing, DestinationFailingRule) and failing.for_ == 300.0
    assert isinstance(dead, DeadLettersRule) and dead.window == 3600.0
    assert dead.notify == ("ops",)
    assert isinstance(quiet, ChannelSilentRule) and quiet.days[-1] == "fri"
    assert quiet.timezone == "Europe/Paris"
    assert isinstance(backlog, BacklogRule) and backlog.max_age == 900.0


def test_no_alerts_section_means_no_rules() -> None:
    assert load_config_text(BASE).alerts.rules == ()


@pytest.mark.parametrize(
    ("rules", "needle", "code"),
    [
        (
            "- {name: x, kind: destination_failing, destinations: [nope]}",
            "nope",
            "unknown-destination",
        ),
        ("- {name: x, kind: channel_silent, channels: [adt_out]}", "adt_out", "unknown-channel"),
        ("- {name: x, kind: dead_letters, notify: [pager]}", "pager", "unknown-notifier"),
        ("- {name: x, kind: backlog}", "{name: x", "invalid-value"),
        ("- {name: x, kind: channel_silent, hours: '19:00-08:00'}", "19:00", "invalid-value"),
        ("- {name: x, kind: channel_silent, timezone: Mars/Olympus}", "Mars", "invalid-value"),
        ("- {name: x, kind: dead_letters, treshold: 3}", "treshold", "unknown-key"),
        ("- {name: x, kind: destination_failing, for: 3}", "3}", "invalid-value"),
    ],
)
def test_mistakes_are_located(rules: str, needle: str, code: str) -> None:
    text = BASE + "alerts:\n  rules:\n    " + rules + "\n"
    diagnostics = [d for d in check_text(text) if d.is_error]
    assert [d.code for d in diagnostics] == [code], diagnostics
    line, _ = at(text, needle)
    assert diagnostics[0].line == line
    assert diagnostics[0].file == "routes.yaml"


def test_smtp_from_must_name_an_mssante_destination() -> None:
    text = BASE + y(
        """
        alerts:
          notifiers:
            mail: {type: email, smtp_from: archive, sender: a@b.test, to: [c@d.test]}
        """
    )
    (error,) = [d for d in check_text(text) if d.is_error]
    assert error.code == "unknown-destination"
    assert error.line == at(text, "smtp_from")[0]


def test_an_email_notifier_needs_one_server() -> None:
    text = (
        BASE + "alerts:\n  notifiers:\n    mail: {type: email, sender: a@b.test, to: [c@d.test]}\n"
    )
    with pytest.raises(ConfigError, match="exactly one of smtp and smtp_from"):
        load_config_text(text)


def test_rule_names_are_unique() -> None:
    text = BASE + y(
        """
        alerts:
          rules:
            - {name: x, kind: dead_letters}
            - {name: x, kind: backlog, max_messages: 3}
        """
    )
    with pytest.raises(ConfigError, match="'x' is used twice"):
        load_config_text(text)
