"""``${VAR}`` references in configuration strings.

Syntax, applied to every string scalar of ``routes.yaml`` (mapping keys excepted):

- ``${NAME}``: the value of environment variable ``NAME``; an error if it is not set.
- ``${NAME:-default}``: the value of ``NAME`` when it is set and not empty, else ``default``
  (which may be empty and cannot contain ``}``).
- ``$${``: a literal ``${``.

``NAME`` matches ``[A-Za-z_][A-Za-z0-9_]*``. Anything else after ``${`` is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_TOKEN = re.compile(r"\$\$\{|\$\{")
_REFERENCE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?")


@dataclass(frozen=True, slots=True)
class Problem:
    """A reference that could not be expanded; ``offset`` indexes the original string."""

    offset: int
    code: str
    message: str


def interpolate(value: str, env: Mapping[str, str]) -> tuple[str, list[Problem]]:
    """Expand every reference in ``value`` using ``env``.

    Returns:
        The expanded string (a failed reference expands to ``""``) and the problems
        found, in order: ``missing-env-var`` or ``bad-interpolation``.
    """
    if "${" not in value:
        return value, []
    out: list[str] = []
    problems: list[Problem] = []
    pos = 0
    for token in _TOKEN.finditer(value):
        if token.start() < pos:
            continue  # inside a reference already consumed
        out.append(value[pos : token.start()])
        if token.group() == "$${":
            out.append("${")
            pos = token.end()
            continue
        close = value.find("}", token.end())
        if close < 0:
            problems.append(
                Problem(token.start(), "bad-interpolation", "unterminated '${': missing '}'")
            )
            pos = len(value)
            break
        body = value[token.end() : close]
        pos = close + 1
        ref = _REFERENCE.fullmatch(body)
        if ref is None:
            problems.append(
                Problem(
                    token.start(),
                    "bad-interpolation",
                    f"invalid reference '${{{body}}}': write ${{NAME}} or ${{NAME:-default}}",
                )
            )
            continue
        name, default = ref.group("name"), ref.group("default")
        current = env.get(name)
        if default is not None:
            out.append(current if current else default)
        elif current is not None:
            out.append(current)
        else:
            problems.append(
                Problem(
                    token.start(),
                    "missing-env-var",
                    f"environment variable {name!r} is not set"
                    f" (write ${{{name}:-default}} to give a default)",
                )
            )
    out.append(value[pos:])
    return "".join(out), problems


__all__ = ["Problem", "interpolate"]
