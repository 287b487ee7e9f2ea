"""Walks one resource (or datatype, or extension) against a profile's element tree.

Rules applied at each element of the snapshot: cardinality (``min``/``max``), allowed types
of choice elements, ``fixed[x]``/``pattern[x]``, required bindings, reference target types,
slicing (each slice's cardinality, closed slicing), datatype profiles named by the element's
type (``fr-core-human-name`` on ``Patient.name``…), and invariants. Findings name the
instance path and the rule, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.formats.fhir.frcore import invariants
from engine.formats.fhir.frcore.elements import Node
from engine.formats.fhir.frcore.matching import contains, equals, in_slice


@dataclass(frozen=True)
class Finding:
    """One conformance problem: where (instance path), which rule, which profile."""

    path: str
    rule: str
    detail: str
    profile: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.detail} [{self.rule}; {self.profile}]"


_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")


def reference_type(reference: str, local_types: dict[str, str]) -> str | None:
    """The resource type a reference points to, when it can be told: ``Type/id``,
    ``[base/]Type/id[/_history/v]``, ``Type?search`` (conditional), or the resource of a
    Bundle entry for ``urn:uuid:``/``urn:oid:``."""
    if reference.startswith(("urn:uuid:", "urn:oid:")):
        return local_types.get(reference)
    if "?" in reference:
        kind = reference.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return kind if _TYPE.match(kind) else None
    parts = reference.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    kind = parts[-2] if len(parts) >= 2 else ""
    return kind if _TYPE.match(kind) else None


class Walk:
    """One resource against one profile; findings are appended to ``findings``."""

    def __init__(self, checker: Any, profile: str, resource: Any, local_types: dict[str, str]):
        self.checker = checker
        self.profile = profile
        self.resource = resource
        self.local_types = local_types
        self.findings: list[Finding] = []
        self._done: set[tuple[int, str]] = set()

    def add(self, path: str, rule: str, detail: str, severity: str = "error") -> None:
        self.findings.append(Finding(path, rule, detail, self.profile, severity))

    # -- one element ----------------------------------------------------------------------

    def element(self, value: Any, node: Node, path: str, base: str, type_code: str | None) -> None:
        self.value_rules(value, node, path, base, type_code)
        if isinstance(value, dict):
            self.children(value, node, path, base)

    def value_rules(
        self, value: Any, node: Node, path: str, base: str, type_code: str | None
    ) -> None:
        if node.fixed is not None and not equals(value, node.fixed[1]):
            self.add(path, "fixed", f"must equal the {node.fixed[0]} of {node.id}")
        if node.pattern is not None and not contains(value, node.pattern[1]):
            self.add(path, "pattern", f"does not match the {node.pattern[0]} of {node.id}")
        if node.binding is not None and node.binding[0] == "required" and type_code:
            self.binding(value, node.binding[1], path, type_code)
        for ref in node.types:
            if ref.code == "Reference" and ref.target_profiles and isinstance(value, dict):
                self.reference(value, ref.target_profiles, path)
            if ref.code == type_code and ref.code != "Extension":
                for profile in ref.profiles:
                    tree = self.checker.tree(profile)
                    if tree is not None:
                        self.element(value, tree, path, tree.name, type_code)
        self.invariants(value, node, path, base)

    def binding(self, value: Any, value_set: str, path: str, type_code: str) -> None:
        inside = self.checker.terminology.contains(value_set, value, type_code)
        if inside is None:
            self.checker.unchecked_bindings.add(value_set)
        elif not inside:
            name = value_set.rsplit("/", 1)[-1]
            self.add(path, "binding", f"code not in the required value set {name}")

    def reference(self, value: dict[str, Any], targets: tuple[str, ...], path: str) -> None:
        reference = value.get("reference")
        if not isinstance(reference, str):
            return
        allowed = {self.checker.profile_type(t) for t in targets}
        if "Resource" in allowed:
            return
        target = reference_type(reference, self.local_types)
        if target is not None and target not in allowed:
            kinds = ", ".join(sorted(t for t in allowed if t))
            self.add(path, "reference", f"must reference {kinds}, not {target}")

    def invariants(self, value: Any, node: Node, path: str, base: str) -> None:
        for constraint in node.constraints:
            if constraint.key in invariants.NATIVE:
                continue
            seen = (id(value), constraint.key)
            if seen in self._done:
                continue
            self._done.add(seen)
            try:
                holds = invariants.evaluate(constraint.expression, value, base, self.resource)
            except invariants.UnsupportedInvariant as exc:
                self.checker.unsupported_invariants.setdefault(constraint.key, str(exc))
                continue
            if not holds:
                self.add(
                    path,
                    f"invariant {constraint.key}",
                    f"invariant {constraint.key} does not hold",
                    constraint.severity,
                )

    # -- children and slices --------------------------------------------------------------

    def children(self, value: dict[str, Any], node: Node, path: str, base: str) -> None:
        for name, child in node.children.items():
            if not child.defined:
                continue
            items = self.items(value, name, child, path)
            count = len(items)
            where = f"{path}.{name.removesuffix('[x]')}"
            if count < child.min:
                self.add(where, "cardinality", f"at least {child.min} required, found {count}")
            if child.max is not None and count > child.max:
                self.add(where, "cardinality", f"at most {child.max} allowed, found {count}")
            child_base = f"{base}.{name.removesuffix('[x]')}"
            for item_path, item, type_code in items:
                self.element(item, child, item_path, _base(child_base, type_code), type_code)
            if child.sliced:
                self.slices(items, child, where, child_base)

    def items(
        self, value: dict[str, Any], name: str, child: Node, path: str
    ) -> list[tuple[str, Any, str | None]]:
        """``(path, item, type code)`` for each instance item of a child element."""
        single = child.types[0].code if len(child.types) == 1 else None
        keys: list[tuple[str, str | None]] = []
        if child.is_choice:
            stem = name[:-3]
            allowed = {t.code.lower(): t.code for t in child.types}
            for key in value:
                suffix = key[len(stem) :]
                if key.startswith(stem) and suffix[:1].isupper():
                    code = allowed.get(suffix.lower())
                    if code is None:
                        self.add(f"{path}.{key}", "type", f"type {suffix} is not allowed here")
                    keys.append((key, code or suffix))
        elif name in value:
            keys.append((name, single))
        out: list[tuple[str, Any, str | None]] = []
        for key, code in keys:
            raw = value[key]
            if isinstance(raw, list):
                out.extend((f"{path}.{key}[{i}]", item, code) for i, item in enumerate(raw))
            else:
                out.append((f"{path}.{key}", raw, code))
        return out

    def slices(
        self, items: list[tuple[str, Any, str | None]], node: Node, where: str, base: str
    ) -> None:
        counts = dict.fromkeys(node.slices, 0)
        for item_path, item, type_code in items:
            name = next(
                (n for n, s in node.slices.items() if in_slice(item, type_code, s, node)), None
            )
            if name is None:
                if node.closed:
                    self.add(item_path, "slicing", f"matches no slice of {node.id} (closed)")
                continue
            counts[name] += 1
            self.element(item, node.slices[name], item_path, _base(base, type_code), type_code)
        for name, slice_node in node.slices.items():
            n = counts[name]
            if n < slice_node.min:
                self.add(
                    where, "slice", f"slice {name}: at least {slice_node.min} required, found {n}"
                )
            if slice_node.max is not None and n > slice_node.max:
                self.add(
                    where, "slice", f"slice {name}: at most {slice_node.max} allowed, found {n}"
                )


def _base(path: str, type_code: str | None) -> str:
    """The FHIRPath type context of an item: its datatype when it has one (so that
    choice elements resolve: ``Extension.value``), else its element path."""
    if type_code and type_code[0].isupper() and type_code not in ("BackboneElement", "Element"):
        return type_code
    return path


def scan(value: Any, path: str, visit: Callable[[Any, str], None]) -> None:
    """Calls ``visit(value, path)`` on every node of a JSON tree, depth first."""
    visit(value, path)
    if isinstance(value, dict):
        for key, item in value.items():
            scan(item, f"{path}.{key}", visit)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            scan(item, f"{path}[{index}]", visit)


__all__ = ["Finding", "Walk", "reference_type", "scan"]
