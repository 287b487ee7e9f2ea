"""A StructureDefinition snapshot as a tree of element nodes, the shape the checker walks.

Element ids (``Patient.identifier:INS-NIR.system``) give the tree: each step is a child
name, optionally followed by ``:slice``. A node holds what the element definition
constrains (cardinality, types, fixed/pattern value, binding, invariants, slicing), its
children by name and, when the element is sliced, its slices by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.formats.fhir.frcore.package import Json, canonical


@dataclass(frozen=True)
class TypeRef:
    code: str
    profiles: tuple[str, ...] = ()
    target_profiles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Constraint:
    key: str
    severity: str
    expression: str


@dataclass(frozen=True)
class Discriminator:
    kind: str  # value | pattern | type | exists | profile
    path: str


@dataclass
class Node:
    """One element of a profile (or a slice of it)."""

    name: str
    id: str = ""
    min: int = 0
    max: int | None = None  # None: unbounded
    types: tuple[TypeRef, ...] = ()
    fixed: tuple[str, Any] | None = None  # ("fixedUri", value)
    pattern: tuple[str, Any] | None = None
    binding: tuple[str, str] | None = None  # (strength, value set canonical)
    constraints: tuple[Constraint, ...] = ()
    discriminators: tuple[Discriminator, ...] = ()
    closed: bool = False
    children: dict[str, Node] = field(default_factory=dict)
    slices: dict[str, Node] = field(default_factory=dict)
    defined: bool = False

    @property
    def sliced(self) -> bool:
        return bool(self.discriminators)

    @property
    def is_choice(self) -> bool:
        return self.name.endswith("[x]")

    def descend(self, path: str) -> Node | None:
        """The node at a dotted path below this one (``$this`` is the node itself)."""
        node: Node | None = self
        if path == "$this":
            return node
        for step in path.split("."):
            if node is None:
                return None
            node = node.children.get(step) or node.children.get(step + "[x]")
        return node


def _fill(node: Node, element: Json) -> None:
    node.id = element.get("id", "")
    node.min = int(element.get("min", 0))
    maximum = element.get("max", "*")
    node.max = None if maximum == "*" else int(maximum)
    node.types = tuple(
        TypeRef(
            t.get("code", ""),
            tuple(canonical(p) for p in t.get("profile", ())),
            tuple(canonical(p) for p in t.get("targetProfile", ())),
        )
        for t in element.get("type", ())
    )
    for key, value in element.items():
        if key.startswith("fixed"):
            node.fixed = (key, value)
        elif key.startswith("pattern"):
            node.pattern = (key, value)
    binding = element.get("binding")
    if isinstance(binding, dict) and "valueSet" in binding:
        node.binding = (binding.get("strength", ""), canonical(binding["valueSet"]))
    node.constraints = tuple(
        Constraint(c["key"], c.get("severity", "error"), c["expression"])
        for c in element.get("constraint", ())
        if isinstance(c.get("expression"), str)
    )
    slicing = element.get("slicing")
    if isinstance(slicing, dict):
        node.discriminators = tuple(
            Discriminator(d.get("type", "value"), d.get("path", "$this"))
            for d in slicing.get("discriminator", ())
        )
        node.closed = slicing.get("rules") == "closed"
    node.defined = True


def _steps(element_id: str) -> list[tuple[str, str | None]]:
    steps: list[tuple[str, str | None]] = []
    for part in element_id.split(".")[1:]:
        name, _, slice_name = part.partition(":")
        steps.append((name, slice_name or None))
    return steps


def build_tree(structure: Json) -> Node:
    """The root node of a StructureDefinition's snapshot."""
    elements = structure.get("snapshot", {}).get("element", [])
    root = Node(structure.get("type", ""))
    for element in elements:
        element_id = element.get("id") or element.get("path", "")
        node = root
        for name, slice_name in _steps(element_id):
            node = node.children.setdefault(name, Node(name))
            if slice_name is not None:
                node = node.slices.setdefault(slice_name, Node(name))
        _fill(node, element)
    return root


__all__ = ["Constraint", "Discriminator", "Node", "TypeRef", "build_tree"]
