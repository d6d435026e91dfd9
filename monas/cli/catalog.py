"""What a registry holds, read from the source of its modules without importing them.

Importing the spaces and estimators imports torch (seconds); ``--help`` must answer in
well under that, yet list every space's ``-S`` and every estimator's ``-E`` settings.
This module parses the registry's ``home`` with ``ast`` and finds its registrations:
``@SYMBOL.register("name")`` on a class or function, and
``SYMBOL.register("name")(Factory)`` or ``SYMBOL.register("name")(functools.partial(Factory, k=v))``.
A factory's settings are the keywords with defaults of its ``__init__`` (a class; the
nearest one up its base classes defined in the same module) or of the function.
``tests/monas/cli/test_catalog.py`` checks that this reading equals the imported registries.
"""
from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from monas.registry import Registry

@dataclass(frozen=True)
class Entry:
    """One registered name: its keyword settings (name -> default, ``None`` where the
    default is not a literal), the first line of its docstring, and (search spaces)
    its ``arch_format`` and ``training_forms`` class attributes."""

    name: str
    options: dict = field(default_factory=dict)
    summary: str = ""
    arch_format: str = ""
    training_forms: dict = field(default_factory=dict)

    def settings(self, reserved: tuple[str, ...] = ("seed",)) -> str:
        """``"key=default key2=default2"``, for help texts (``reserved`` keys left out)."""
        return " ".join(
            key if value is None else f"{key}={value}" for key, value in self.options.items() if key not in reserved
        )


def describe(registry: Registry) -> list[Entry]:
    """The entries of ``registry``, sorted by name, read from its home's source."""
    return [entry for _, entry in sorted(_scan(registry.home, registry.symbol).items())]


@lru_cache(maxsize=None)
def _scan(home: str, symbol: str) -> dict[str, Entry]:
    spec = importlib.util.find_spec(home)
    if spec is None or spec.origin is None:
        raise ImportError(f"cannot find {home}")
    origin = Path(spec.origin)
    files = sorted(origin.parent.rglob("*.py")) if spec.submodule_search_locations else [origin]
    entries: dict[str, Entry] = {}
    for path in files:
        entries.update(_registrations(ast.parse(path.read_text(encoding="utf-8")), symbol))
    return entries


def _registrations(module: ast.Module, symbol: str) -> dict[str, Entry]:
    definitions = {n.name: n for n in module.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    found = {}
    for node in module.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            for decorator in node.decorator_list:
                name = _registered_name(decorator, symbol)
                if name is not None:
                    found[name] = _entry(name, node, {}, definitions)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            name = _registered_name(node.value.func, symbol)
            if name is None or len(node.value.args) != 1:
                continue
            target, overrides = node.value.args[0], {}
            if isinstance(target, ast.Call) and ast.unparse(target.func) in ("partial", "functools.partial"):
                overrides = {k.arg: _literal(k.value) for k in target.keywords}
                target = target.args[0]
            if isinstance(target, ast.Name) and target.id in definitions:
                found[name] = _entry(name, definitions[target.id], overrides, definitions)
    return found


def _registered_name(node: ast.expr, symbol: str) -> str | None:
    """"name" of a ``SYMBOL.register("name")`` call, else None."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "register"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == symbol
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def _entry(name: str, node: ast.ClassDef | ast.FunctionDef, overrides: dict, definitions: dict) -> Entry:
    summary = (ast.get_docstring(node) or "").strip().split("\n\n")[0].replace("\n", " ")
    function = node if isinstance(node, ast.FunctionDef) else _init(node, definitions)
    options = _keywords(function) if function is not None else {}
    options.update({k: v for k, v in overrides.items() if k in options})
    arch_format, forms = (_class_literal(node, attribute) for attribute in ("arch_format", "training_forms"))
    return Entry(name, options, summary, arch_format if isinstance(arch_format, str) else "",
                 forms if isinstance(forms, dict) else {})


def _init(cls: ast.ClassDef, definitions: dict) -> ast.FunctionDef | None:
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            return item
    for base in cls.bases:
        if isinstance(base, ast.Name) and isinstance(definitions.get(base.id), ast.ClassDef):
            found = _init(definitions[base.id], definitions)
            if found is not None:
                return found
    return None


def _class_literal(node: ast.ClassDef | ast.FunctionDef, attribute: str):
    """The literal value a class body assigns to ``attribute``, else None."""
    if not isinstance(node, ast.ClassDef):
        return None
    for item in node.body:
        if isinstance(item, (ast.Assign, ast.AnnAssign)):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            if any(isinstance(t, ast.Name) and t.id == attribute for t in targets) and item.value is not None:
                return _literal(item.value)
    return None


def _keywords(function: ast.FunctionDef) -> dict:
    args = function.args
    positional = args.posonlyargs + args.args
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return {a.arg: _literal(d) for a, d in pairs}


def _literal(node: ast.expr):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None
