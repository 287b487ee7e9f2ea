"""Every YAML snippet of README.md and docs/*.md loads: the docs cannot drift from the code.

A ```` ```yaml ```` block is a ``routes.yaml`` (or a part of one) unless the HTML comment
on the line before it says otherwise::

    <!-- snippet: map -->            a Carte map (docs/mapping.md); without ``map:`` it is
                                      completed with ``map: snippet`` and ``source: hl7v2``
    <!-- snippet: table NAME -->     a code table named NAME
    <!-- snippet: cases -->          a YAML test case file (docs/testing.md)
    <!-- snippet: invalid CODE -->   a routes.yaml that must fail with diagnostic CODE; a
                                      ```` ```text ```` block right after it is the
                                      diagnostic, as printed for ``routes.yaml``
    <!-- snippet: not-config -->     not a file Passerelle reads (e.g. an editor directive)

A ``routes.yaml`` part is completed before ``check``: ``version: 1`` when absent, a list
of routes is put under ``routes:``, and every channel or destination a route names but
the snippet does not declare gets a stand-in (an ``mllp`` channel, a ``file``
destination). ``${VAR}`` without a default gets a placeholder value. Files named by
``*_file`` keys are deployment paths, so ``missing-file`` is the one diagnostic ignored.
Then the snippet must have no error (warnings are allowed: a part often declares a
destination another part uses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.config import check_text
from engine.mapping.loader import check_map
from engine.mapping.tables import load_table
from engine.testing import load_case_file

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_BLOCK = re.compile(
    r"(?:<!-- snippet: (?P<marker>[^>]*?) -->\n)?```ya?ml\n(?P<text>.*?)```"
    r"(?:\n\n```text\n(?P<shown>[^\n]*))?",
    re.S,
)
_VAR = re.compile(r"\$\{(\w+)\}")


@dataclass(frozen=True)
class Snippet:
    where: str  # docs/x.md:LINE
    marker: str
    text: str
    shown: str  # the first line of a ```text block right after it (what check prints)


def snippets() -> list[Snippet]:
    found = []
    for doc in DOCS:
        content = doc.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(content):
            line = content.count("\n", 0, match.start("text"))
            where = f"{doc.relative_to(REPO)}:{line}"
            marker, shown = match.group("marker") or "", match.group("shown") or ""
            found.append(Snippet(where, marker, match.group("text"), shown))
    return found


def _names(section: Any) -> set[str]:
    return {str(k) for k in section} if isinstance(section, dict) else set()


def complete(text: str) -> str:
    """A whole routes.yaml around a part of one (see the module docstring)."""
    data = yaml.safe_load(text)
    if isinstance(data, list):
        text = "routes:\n" + text
        data = {"routes": data}
    assert isinstance(data, dict), "a routes.yaml snippet is a mapping or a list of routes"
    channels, destinations = _names(data.get("channels")), _names(data.get("destinations"))
    routes = data.get("routes") if isinstance(data.get("routes"), list) else []
    wanted_channels: set[str] = set()
    wanted_destinations: set[str] = set()
    for route in (r for r in routes if isinstance(r, dict)):
        when = route.get("when") if isinstance(route.get("when"), dict) else {}
        for key, names in (("from", route.get("from")), ("channel", when.get("channel"))):
            wanted_channels.update([names] if isinstance(names, str) else names or [])
            del key
        to = route.get("to")
        wanted_destinations.update([to] if isinstance(to, str) else to or [])
    extra: list[str] = []
    if "version" not in data:
        extra.append("version: 1")
    stand_ins = {
        "channels": {n: '{type: mllp, listen: "127.0.0.1:0"}' for n in wanted_channels - channels},
        "destinations": {
            n: "{type: file, directory: ./var/snippets}" for n in wanted_destinations - destinations
        },
    }
    for section, entries in stand_ins.items():
        if not entries:
            continue
        if section in data:  # add the stand-ins to the section the snippet declares
            lines = text.splitlines()
            at = next(i for i, line in enumerate(lines) if line.startswith(f"{section}:"))
            lines[at + 1 : at + 1] = [f"  {n}: {v}" for n, v in sorted(entries.items())]
            text = "\n".join(lines) + "\n"
        else:
            extra += [f"{section}:", *(f"  {n}: {v}" for n, v in sorted(entries.items()))]
    return "\n".join([*extra, text])


def errors(text: str, where: str) -> list[str]:
    env = {name: f"/placeholder/{name.lower()}" for name in _VAR.findall(text)}
    return [
        str(d)
        for d in check_text(text, file=where, env=env)
        if d.is_error and d.code != "missing-file"
    ]


SNIPPETS = snippets()


def test_the_docs_have_snippets() -> None:
    assert len(SNIPPETS) > 20
    assert {s.marker.split()[0] for s in SNIPPETS if s.marker} <= {
        "map",
        "table",
        "cases",
        "invalid",
        "not-config",
    }


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.where for s in SNIPPETS])
def test_snippet_loads(snippet: Snippet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # engine.mappings defaults to ./mappings
    kind, _, argument = snippet.marker.partition(" ")
    if kind == "not-config":
        yaml.safe_load(snippet.text)  # still YAML
    elif kind == "map":
        text = snippet.text
        data = yaml.safe_load(text)
        name = data.get("map") if isinstance(data, dict) else None
        if name is None:
            name, text = "snippet", f"map: snippet\nsource: hl7v2\n{text}"
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        problems = check_map(path, tables=REPO / "mappings" / "tables")
        assert not [str(d) for d in problems if d.is_error], snippet.where
    elif kind == "table":
        path = tmp_path / f"{argument}.yaml"
        path.write_text(snippet.text, encoding="utf-8")
        table, problems = load_table(path, argument)
        assert table is not None and not [d for d in problems if d.is_error], problems
    elif kind == "cases":
        path = tmp_path / "snippet_test.yaml"
        path.write_text(snippet.text, encoding="utf-8")
        case_file = load_case_file(path, snippet.where)
        assert not case_file.has_errors, [str(d) for d in case_file.diagnostics]
    elif kind == "invalid":
        env = {name: "x" for name in _VAR.findall(snippet.text)}
        found = check_text(snippet.text, file="routes.yaml", env=env)
        codes = {d.code for d in found}
        assert argument in codes, f"{snippet.where} should fail with {argument}: {codes}"
        if snippet.shown:  # the docs show the diagnostic: it is the one printed
            assert snippet.shown in [str(d) for d in found]
    else:
        assert errors(complete(snippet.text), snippet.where) == []
