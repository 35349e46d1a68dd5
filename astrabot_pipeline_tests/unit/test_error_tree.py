"""The error tree drawn in `errors.py`'s docstring is the real one: every subclass of
`AstrabotError` in the package, each under its parent, and nothing else."""

from __future__ import annotations

import importlib
import pkgutil
import re

import astrabot_pipeline
from astrabot_pipeline import errors
from astrabot_pipeline.errors import AstrabotError

# A line of the tree: its indentation, a level mark, the class name.
_TREE_LINE = re.compile(r"^(?P<indent> *)[*x+-] (?P<name>\w+)")


def _import_every_module() -> None:
    """Import each module of the package, so every error class is defined. A module
    whose optional heavy dependency is missing is skipped: its classes cannot be raised."""
    for module in pkgutil.walk_packages(astrabot_pipeline.__path__, "astrabot_pipeline."):
        try:
            importlib.import_module(module.name)
        except ImportError:
            continue


def _parent(error_class: type) -> type:
    """The class a subclass hangs under: its first base in the AstrabotError family."""
    return next(base for base in error_class.__bases__ if issubclass(base, AstrabotError))


def _real_tree() -> dict[str, str | None]:
    """Each AstrabotError subclass by name -> its parent's name (None: the root)."""
    tree: dict[str, str | None] = {AstrabotError.__name__: None}
    pending = [AstrabotError]
    while pending:
        for subclass in pending.pop().__subclasses__():
            if subclass.__module__.startswith("astrabot_pipeline.") and subclass not in pending:
                tree[subclass.__name__] = _parent(subclass).__name__
                pending.append(subclass)
    return tree


def _drawn_tree() -> dict[str, str | None]:
    """The docstring's tree: each class by name -> the class drawn one level above it."""
    tree: dict[str, str | None] = {}
    ancestors: list[tuple[int, str]] = []  # (indentation, name) of the open levels
    for line in (errors.__doc__ or "").splitlines():
        match = _TREE_LINE.match(line)
        if not match:
            continue
        indent, name = len(match["indent"]), match["name"]
        while ancestors and ancestors[-1][0] >= indent:
            ancestors.pop()
        assert name not in tree, f"{name} is drawn twice"
        tree[name] = ancestors[-1][1] if ancestors else None
        ancestors.append((indent, name))
    return tree


def test_the_docstring_draws_every_error_class_under_its_parent():
    _import_every_module()

    real, drawn = _real_tree(), _drawn_tree()

    assert sorted(set(real) - set(drawn)) == [], "error classes missing from the tree"
    assert sorted(set(drawn) - set(real)) == [], "names in the tree that are no error class"
    assert {name: drawn[name] for name in real} == real
