"""A package's re-exported names, each importing its module on first use (PEP 562).

Imported eagerly, a package `__init__` that re-exports its modules' names loads all of them
for any one: naming a training constant loaded torch and transformers, a privacy one spaCy
and Presidio. Loading the Dagster definitions, which every Dagster process start does,
took 12 s of CPU with them and takes 3.5 s without (2-core machine). A package lists its
exports by module in `_EXPORTS`, imports them under `TYPE_CHECKING` for type checkers and
readers, and binds `__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping


def lazy_exports(
    package: str, exports: Mapping[str, Iterable[str]], public: Iterable[str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose `exports` map each module (relative
    to the package) to the names it provides; a name is cached once looked up."""
    module_of = {name: module for module, names in exports.items() for name in names}
    if set(module_of) != set(public):
        raise ValueError(f"{package}: __all__ and the lazy exports name different things")
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> object:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *module_of})

    return __getattr__, __dir__
