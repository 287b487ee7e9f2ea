"""Checks of an output against a case's expectations, with readable failure texts.

JSON is compared as data (key order does not matter; numbers compare by value, ``7.20``
equals ``7.2``), after dropping the ``ignore`` key paths (``meta.lastUpdated`` by default)
wherever they occur. A difference is shown as a unified diff of both sides pretty-printed
with sorted keys, so the changed lines stand out.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.testing.cases import OutputCheck

_MISSING = object()


def load_json(data: bytes | str) -> Any:
    """JSON with decimals kept exact (``Decimal``)."""
    return json.loads(data, parse_float=Decimal)


def _canonical(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def without(value: Any, ignored: Iterable[tuple[str, ...]]) -> Any:
    """A copy of ``value`` without the ignored key paths, wherever they start."""
    paths = tuple(ignored)
    if isinstance(value, list):
        return [without(v, paths) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: without(v, paths) for k, v in value.items()}
    for path in paths:
        _drop(out, path)
    return out


def _drop(value: dict[str, Any], path: tuple[str, ...]) -> None:
    if len(path) == 1:
        value.pop(path[0], None)
        return
    child = value.get(path[0])
    if isinstance(child, dict):
        _drop(child, path[1:])


def diff(expected: Any, actual: Any, label: str) -> str:
    """A unified diff of two JSON values (expected first)."""
    lines = difflib.unified_diff(
        _canonical(expected).splitlines(),
        _canonical(actual).splitlines(),
        fromfile=f"expected ({label})",
        tofile="actual",
        lineterm="",
    )
    return "\n".join(lines)


def contains(expected: Any, actual: Any, where: str = "") -> str | None:
    """Where ``expected`` is not a subset of ``actual`` (None when it is).

    Objects: every expected key is present with a matching value. Lists: every expected
    item matches a different actual item, in any order. Other values: equal.
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where or '(root)'}: expected an object"
        for key, value in expected.items():
            found = actual.get(key, _MISSING)
            if found is _MISSING:
                return f"{where}.{key}: missing" if where else f"{key}: missing"
            problem = contains(value, found, f"{where}.{key}" if where else key)
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{where or '(root)'}: expected a list"
        remaining = list(actual)
        for i, item in enumerate(expected):
            here = f"{where}[{i}]"
            problems = [contains(item, a, here) for a in remaining]
            match = next((k for k, problem in enumerate(problems) if problem is None), None)
            if match is None:
                found = [p for p in problems if p]
                closest = max(found, key=lambda p: len(p.split(":", 1)[0]), default="")
                hint = f" (closest: {closest})" if closest else ""
                return f"{here}: no matching item in the list{hint}"
            remaining.pop(match)
        return None
    if expected != actual:
        return f"{where or '(root)'}: expected {expected!r}, got {actual!r}"
    return None


def check_output(
    check: OutputCheck, body: bytes, content_type: str, root: Path, label: str
) -> list[str]:
    """Every unmet condition of ``check`` on one output, as readable texts."""
    problems: list[str] = []
    ignored = [tuple(p.split(".")) for p in check.ignore]
    if check.content_type is not None and check.content_type != content_type:
        problems.append(f"{label}: content type {content_type!r}, expected {check.content_type!r}")
    expected_text = check.content_equals
    if check.content_equals_file is not None:
        expected_text = _read(root, check.content_equals_file, problems)
    if expected_text is not None:
        actual_text = body.decode("utf-8", "replace")
        if actual_text != expected_text:
            lines = difflib.unified_diff(
                expected_text.splitlines(),
                actual_text.splitlines(),
                "expected",
                "actual",
                lineterm="",
            )
            problems.append(f"{label}: content differs\n" + "\n".join(lines))
    wants_json = (
        check.json_equals,
        check.json_equals_file,
        check.json_contains,
        check.json_contains_file,
    )
    if all(w is None for w in wants_json):
        return problems
    try:
        actual = without(load_json(body), ignored)
    except ValueError:
        return [*problems, f"{label}: the output is not JSON"]
    for inline, path, mode in (
        (check.json_equals, check.json_equals_file, "equals"),
        (check.json_contains, check.json_contains_file, "contains"),
    ):
        expected = None if inline is None else _exact(inline)
        name = "inline"
        if path is not None:
            text = _read(root, path, problems)
            name = path
            expected = load_json(text) if text is not None else None
        if expected is None:
            continue
        expected = without(expected, ignored)
        if mode == "equals" and expected != actual:
            problems.append(f"{label}: JSON differs from {name}\n{diff(expected, actual, name)}")
        elif mode == "contains":
            problem = contains(expected, actual)
            if problem:
                problems.append(f"{label}: JSON does not contain {name}: {problem}")
    return problems


def _exact(value: Any) -> Any:
    """YAML-written expectations as JSON data with exact decimals."""
    return load_json(json.dumps(value, default=str))


def _read(root: Path, name: str, problems: list[str]) -> str | None:
    path = Path(name) if Path(name).is_absolute() else root / name
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}")
        return None


__all__ = ["check_output", "contains", "diff", "load_json", "without"]
