"""Value matching for fixed and pattern values and for slice discriminators.

* ``fixed[x]``: the instance value equals the fixed value exactly;
* ``pattern[x]``: every element of the pattern is in the instance (list items of the
  pattern each matched by some item of the instance), primitives equal;
* a ``value``/``pattern`` discriminator compares the instance's values at the
  discriminator path with the slice's fixed or pattern value found at that path (or
  inside an ancestor's pattern), and, for extension slices sliced by ``url``, with the
  extension profile's canonical URL.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from engine.formats.fhir.frcore.elements import Node


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float | Decimal) and isinstance(b, int | float | Decimal):
        return Decimal(str(a)) == Decimal(str(b))
    return bool(a == b)


def equals(instance: Any, expected: Any) -> bool:
    """``fixed[x]`` semantics."""
    if isinstance(expected, dict):
        return (
            isinstance(instance, dict)
            and instance.keys() == expected.keys()
            and all(equals(instance[k], v) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(instance, list)
            and len(instance) == len(expected)
            and all(equals(a, b) for a, b in zip(instance, expected, strict=True))
        )
    return _same(instance, expected)


def contains(instance: Any, expected: Any) -> bool:
    """``pattern[x]`` semantics."""
    if isinstance(expected, dict):
        return isinstance(instance, dict) and all(
            contains(instance.get(k), v) for k, v in expected.items()
        )
    if isinstance(expected, list):
        items = instance if isinstance(instance, list) else [instance]
        return all(any(contains(i, e) for i in items) for e in expected)
    return instance is not None and _same(instance, expected)


def children_of(value: Any, name: str) -> list[Any]:
    """Values of child ``name`` (a choice ``value`` matches ``valueQuantity`` …)."""
    if not isinstance(value, dict):
        return []
    found: list[Any] = []
    if name in value:
        found.append(value[name])
    else:
        for key, item in value.items():
            if key.startswith(name) and key[len(name) : len(name) + 1].isupper():
                found.append(item)
    out: list[Any] = []
    for item in found:
        out.extend(item if isinstance(item, list) else [item])
    return out


_STEP = re.compile(r"extension\('([^']*)'\)|[^.]+")


def steps_of(path: str) -> list[str]:
    """The steps of a discriminator path; ``extension('url')`` is one step (its URL has dots)."""
    if path in ("$this", ""):
        return []
    return [m.group(0) for m in _STEP.finditer(path)]


def _extension_url(step: str) -> str | None:
    match = _STEP.fullmatch(step)
    return match.group(1) if match and match.group(1) is not None else None


def resolve(value: Any, path: str) -> list[Any]:
    """Values at a discriminator path (``$this``, ``type``, ``coding.code``,
    ``extension('url').value``)."""
    values = [value]
    for step in steps_of(path):
        url = _extension_url(step)
        if url is not None:
            values = [
                e
                for v in values
                for e in children_of(v, "extension")
                if isinstance(e, dict) and e.get("url") == url
            ]
        else:
            values = [child for v in values for child in children_of(v, step)]
    return values


def expected_at(slice_node: Node, path: str) -> list[tuple[str, Any]] | None:
    """What a slice fixes at a discriminator path: ``[("fixed"|"pattern", value)]``, or
    ``None`` when the slice does not say (the discriminator is then not supported).

    The value is looked for at the path, inside a pattern or fixed value met on the way,
    in the slices of a sliced element on the way (``code.coding.code`` of a component
    slice is the fixed code of its ``coding`` slice), and, for ``url``, in the extension
    profile the slice names."""
    return _expected(slice_node, steps_of(path))


def _expected(node: Node, steps: list[str]) -> list[tuple[str, Any]] | None:
    held = node.fixed or node.pattern
    if held is not None:
        mode = "fixed" if node.fixed else "pattern"
        values = resolve(held[1], ".".join(steps)) if steps else [held[1]]
        if values:
            return [(mode, v) for v in values]
    if not steps:
        return None
    if steps == ["url"] and node.types and node.types[0].profiles:
        url_node = node.children.get("url")
        if url_node is None or url_node.fixed is None:
            return [("fixed", node.types[0].profiles[0])]
    url = _extension_url(steps[0])
    if url is not None:
        holder = node.children.get("extension")
        chosen = next(
            (
                s
                for s in (holder.slices.values() if holder is not None else ())
                if (found := _expected(s, ["url"])) and any(v == url for _, v in found)
            ),
            None,
        )
        return _expected(chosen, steps[1:]) if chosen is not None else None
    nxt = node.children.get(steps[0]) or node.children.get(steps[0] + "[x]")
    if nxt is not None:
        found = _expected(nxt, steps[1:])
        if found:
            return found
        if nxt.slices:
            union = [e for s in nxt.slices.values() for e in (_expected(s, steps[1:]) or [])]
            if union:
                return union
    return None


def in_slice(item: Any, type_code: str | None, slice_node: Node, parent: Node) -> bool:
    """Whether an instance item belongs to a slice, by the parent's discriminators."""
    for discriminator in parent.discriminators:
        if discriminator.kind == "type":
            if type_code not in {t.code for t in slice_node.types}:
                return False
            continue
        if discriminator.kind not in ("value", "pattern"):
            return False
        expected = expected_at(slice_node, discriminator.path)
        if not expected:
            return False
        values = resolve(item, discriminator.path)
        if not any(
            (equals(v, e) if mode == "fixed" else contains(v, e))
            for v in values
            for mode, e in expected
        ):
            return False
    return True


__all__ = ["children_of", "contains", "equals", "expected_at", "in_slice", "resolve"]
