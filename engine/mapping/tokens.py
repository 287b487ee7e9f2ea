"""The tokenizer of Carte expressions (see :mod:`engine.mapping.expr` for the grammar)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<raw>`[^`]*`)
  | (?P<path>[A-Z][A-Z0-9]{2}(?:\[[^\]]*\])?(?:-[0-9]+(?:\[[^\]]*\])?(?:\.[0-9]+(?:\.[0-9]+)?)?)?)
  | (?P<number>[0-9]+(?:\.[0-9]+)?)
  | (?P<rel>\.(?:[0-9]+(?:\.[0-9]+)?)?)
  | (?P<name>[a-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\(|\)|\[|\]|,)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


class ExprSyntaxError(ValueError):
    """A syntax error at ``offset`` (0-based, in the expression text)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``end`` token."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ExprSyntaxError(f"unexpected character {text[pos]!r}", pos)
        kind = m.lastgroup or ""
        if kind == "name" and m.group() in _KEYWORDS:
            kind = "kw"
        if kind != "ws":
            tokens.append(Token(kind, m.group(), m.start(), m.end()))
        pos = m.end()
    tokens.append(Token("end", "", len(text), len(text)))
    return tokens


__all__ = ["ExprSyntaxError", "Token", "tokenize"]
