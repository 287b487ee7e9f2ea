"""Functions declared in a map (``functions:``): named expressions with parameters.

``"system(namespace, oid, kind)": = coalesce(...)`` declares ``system``; its body sees its
parameters, reads paths where it is called (inside ``each``, the current item) and can call
built-ins and the functions declared above it (so there is no recursion). A body that reads
nothing but its parameters (and calls no function that reads more) is memoised per message
(same arguments, same result).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.mapping import expr as ast
from engine.mapping.codegen import Code


@dataclass(frozen=True, slots=True)
class UserFunction:
    """A compiled map function: its generated Python name, parameters and result kind."""

    name: str
    code_name: str
    params: tuple[str, ...]
    kind: str


def is_pure(
    node: ast.Node, params: tuple[str, ...], impure: frozenset[str] | set[str] = frozenset()
) -> bool:
    """True when the body reads only its parameters (no path, item, variable or index) and
    calls no function of the map in ``impure`` (one that reads where it is called)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Path | ast.Item):
            return False
        if isinstance(sub, ast.Var) and sub.name not in params:
            return False
        if isinstance(sub, ast.Call) and sub.name in impure:
            return False
    return True


def function_source(
    code_name: str, slots: tuple[int, ...], body: Code, fail: str, memo_key: str | None
) -> str:
    """Python source of ``def code_name(ctx, a0, a1...)`` evaluating ``body``."""
    args = [f"a{i}" for i in range(len(slots))]
    lines = [f"def {code_name}(ctx{''.join(', ' + a for a in args)}):", "    slots = ctx.slots"]
    lines += [f"    slots[{slot}] = {arg}" for slot, arg in zip(slots, args, strict=True)]
    if memo_key is not None:
        lines += [
            f"    _key = ({memo_key}{''.join(', ' + a for a in args)})",
            "    try:",
            "        return ctx.cache[_key]",
            "    except (KeyError, TypeError):",
            "        pass",
        ]
    lines += [
        "    try:",
        f"        _value = {body.text}",
        "    except FunctionFailure as _exc:",
        f"        raise {fail}(str(_exc)) from None",
    ]
    if memo_key is not None:
        lines += [
            "    try:",
            "        ctx.cache[_key] = _value",
            "    except TypeError:",
            "        pass",
        ]
    lines.append("    return _value")
    return "\n".join(lines) + "\n"


__all__ = ["UserFunction", "function_source", "is_pure"]
