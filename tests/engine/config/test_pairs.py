"""``check`` and the (route, destination) pairs: each pair is its own delivery, so the same
payload sent twice to one destination is called out, different maps are not."""

from __future__ import annotations

import pytest

from engine.config import check_text
from tests.support.corpus import REPO

HEAD = """\
version: 1
channels:
  mllp_in: {type: mllp, listen: "127.0.0.1:0"}
destinations:
  platform: {type: file, directory: ./var/platform}
routes:
"""


def warnings(routes: str) -> list[str]:
    return [str(d) for d in check_text(HEAD + routes, env={}) if not d.is_error]


def test_the_same_payload_after_a_continue_route_is_delivered_twice() -> None:
    found = warnings(
        "  - {name: copy, to: [platform], continue: true}\n"
        "  - {name: adt, when: {message_type: ADT}, to: [platform]}\n"
    )
    assert found == [
        "routes.yaml:8:49: warning[delivered-twice] route 'adt' sends the same payload to"
        " 'platform' as route 'copy' (line 7) does, which continues: a message matching both"
        " is delivered twice; narrow one route's 'when' or remove the destination from one"
    ]


@pytest.mark.parametrize(
    "routes",
    [
        # two maps to one destination: two deliveries, two outputs (the routes.yaml example)
        "  - {name: notif, to: [platform], map: pam_fr_adt_to_notification, continue: true}\n"
        "  - {name: fr_core, to: [platform], map: pam_fr_adt_to_fr_core}\n",
        # the first route does not continue: no message reaches both
        "  - {name: adt, when: {message_type: ADT}, to: [platform]}\n"
        "  - {name: rest, to: [platform]}\n",
        # _unmatched gets only what no route matched
        "  - {name: copy, to: [platform], continue: true}\n"
        "  - {name: _unmatched, to: [platform]}\n",
    ],
)
def test_no_warning_when_no_message_is_delivered_twice(
    routes: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the maps are in ./mappings
    assert warnings(routes) == []
