"""Carte expressions: the text after ``=`` in a map, parsed once into a small syntax tree.

Grammar (lowest precedence first)::

    expr    := or
    or      := and ('or' and)*
    and     := not ('and' not)*
    not     := 'not' not | compare
    compare := concat (('==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in') concat)?
    concat  := primary ('+' primary)*
    primary := STRING | NUMBER | 'true' | 'false' | 'null' | '[' list ']' | '(' expr ')'
             | NAME '(' list ')' | NAME | HL7PATH | '`' native path '`' | '.' [N[.M]]

Strings are quoted with ``'`` or ``"``; a doubled quote stands for itself (``'l''eau'``);
there are no backslash escapes, so regular expressions read as written. HL7v2 paths start
with a segment id (``PID-3[.5=PI].1``); names (variables, functions) start with a lower-case
letter. Every node keeps its character span, so errors point at a column.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.mapping.tokens import ExprSyntaxError, Token, tokenize

_COMPARE = {"==", "!=", "<", "<=", ">", ">="}


@dataclass(frozen=True, slots=True)
class Node:
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: str | Decimal | int | bool | None


@dataclass(frozen=True, slots=True)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Path(Node):
    """A source path: ``kind`` is ``hl7`` (bare) or ``native`` (backticks)."""

    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class Item(Node):
    """The current ``each`` item (``.``) or one of its components (``.4``, ``.4.2``)."""

    component: int | None
    subcomponent: int | None


@dataclass(frozen=True, slots=True)
class Var(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, text: str) -> Token | None:
        if self.tok.kind in ("op", "kw") and self.tok.text == text:
            return self.take()
        return None

    def expect(self, text: str, what: str) -> Token:
        tok = self.accept(text)
        if tok is None:
            raise ExprSyntaxError(f"expected {what}, found {self._describe()}", self.tok.start)
        return tok

    def _describe(self) -> str:
        return "the end of the expression" if self.tok.kind == "end" else repr(self.tok.text)

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExprSyntaxError("empty expression after '='", 0)
        node = self.or_()
        if self.tok.kind != "end":
            raise ExprSyntaxError(f"unexpected {self._describe()}", self.tok.start)
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.accept("or"):
            right = self.and_()
            node = Binary(node.start, right.end, "or", node, right)
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.accept("and"):
            right = self.not_()
            node = Binary(node.start, right.end, "and", node, right)
        return node

    def not_(self) -> Node:
        tok = self.accept("not")
        if tok is not None:
            operand = self.not_()
            return Unary(tok.start, operand.end, "not", operand)
        return self.compare()

    def compare(self) -> Node:
        left = self.concat()
        tok = self.tok
        if (tok.kind == "op" and tok.text in _COMPARE) or (tok.kind == "kw" and tok.text == "in"):
            op = self.take().text
        elif tok.kind == "kw" and tok.text == "not" and self.toks[self.i + 1].text == "in":
            self.i += 2
            op = "not in"
        else:
            return left
        right = self.concat()
        return Binary(left.start, right.end, op, left, right)

    def concat(self) -> Node:
        node = self.primary()
        while self.accept("+"):
            right = self.primary()
            node = Binary(node.start, right.end, "+", node, right)
        return node

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "string":
            self.take()
            quote = tok.text[0]
            return Literal(tok.start, tok.end, tok.text[1:-1].replace(quote * 2, quote))
        if tok.kind == "number" or (tok.text == "-" and self.toks[self.i + 1].kind == "number"):
            return self.number()
        if tok.kind == "kw" and tok.text in ("true", "false", "null"):
            self.take()
            value = {"true": True, "false": False, "null": None}[tok.text]
            return Literal(tok.start, tok.end, value)
        if tok.kind == "raw":
            self.take()
            inner = tok.text[1:-1].strip()
            if not inner:
                raise ExprSyntaxError("empty path between backticks", tok.start)
            return Path(tok.start, tok.end, "native", inner)
        if tok.kind == "path":
            self.take()
            return Path(tok.start, tok.end, "hl7", tok.text)
        if tok.kind == "rel":
            self.take()
            parts = [int(p) for p in tok.text[1:].split(".") if p]
            comp = parts[0] if parts else None
            sub = parts[1] if len(parts) > 1 else None
            if (comp == 0) or (sub == 0):
                raise ExprSyntaxError("component numbers start at 1", tok.start)
            return Item(tok.start, tok.end, comp, sub)
        if tok.kind == "name":
            self.take()
            if self.accept("("):
                args = self.items(")")
                end = self.toks[self.i - 1].end
                return Call(tok.start, end, tok.text, args)
            return Var(tok.start, tok.end, tok.text)
        if self.accept("["):
            items = self.items("]")
            return ListLit(tok.start, self.toks[self.i - 1].end, items)
        if self.accept("("):
            node = self.or_()
            self.expect(")", "')'")
            return node
        raise ExprSyntaxError(f"expected a value, found {self._describe()}", tok.start)

    def number(self) -> Node:
        start = self.tok.start
        negative = self.accept("-") is not None
        tok = self.take()
        text = ("-" if negative else "") + tok.text
        value: Decimal | int = Decimal(text) if "." in text else int(text)
        return Literal(start, tok.end, value)

    def items(self, close: str) -> tuple[Node, ...]:
        items: list[Node] = []
        if self.accept(close):
            return ()
        while True:
            items.append(self.or_())
            if self.accept(close):
                return tuple(items)
            self.expect(",", f"',' or '{close}'")


def parse_expression(text: str) -> Node:
    """Parse an expression (without its leading ``=``).

    Raises:
        ExprSyntaxError: with the 0-based offset of the problem.
    """
    return _Parser(text).parse()


def walk(node: Node) -> list[Node]:
    """``node`` and every node below it, parents first."""
    out = [node]
    if isinstance(node, Call | ListLit):
        for child in node.args if isinstance(node, Call) else node.items:
            out.extend(walk(child))
    elif isinstance(node, Unary):
        out.extend(walk(node.operand))
    elif isinstance(node, Binary):
        out.extend(walk(node.left))
        out.extend(walk(node.right))
    return out


__all__ = [
    "Binary",
    "Call",
    "ExprSyntaxError",
    "Item",
    "ListLit",
    "Literal",
    "Node",
    "Path",
    "Unary",
    "Var",
    "parse_expression",
    "walk",
]
