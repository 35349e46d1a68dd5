"""Dependencies point one way: the import graph, read from the source with `ast`.

Every import counts, function-level ones included, so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import astrabot_pipeline

PACKAGE = "astrabot_pipeline"
ROOT = Path(astrabot_pipeline.__file__).parent
# Allowed to use the demo generator: itself, the `astrabot demo` command, the Dagster wiring.
SYNTHETIC = f"{PACKAGE}.synthetic"
SYNTHETIC_USERS = (SYNTHETIC, f"{PACKAGE}.cli", f"{PACKAGE}.defs")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _imported(module: str, tree: ast.AST) -> Iterator[str]:
    """Every module of the package that `module` imports, anywhere in its code."""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from package import submodule` imports the submodule too.
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        yield from (name for name in names if name in MODULES)


GRAPH = {
    module: set(_imported(module, ast.parse(path.read_text(encoding="utf-8"))))
    for module, path in MODULES.items()
}


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _cycles(nodes: set[str]) -> list[list[str]]:
    """One cycle through each strongly connected group of `nodes` (depth-first search)."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            found.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for target in sorted(GRAPH[node] & nodes):
            visit(target, [*path, node])
        done.add(node)

    for node in sorted(nodes):
        visit(node, [])
    return found


def test_the_graph_sees_function_level_imports():
    # cli/demo.py imports the demo generator inside `_demo` only.
    assert SYNTHETIC in GRAPH[f"{PACKAGE}.cli.demo"]


def test_only_the_demo_command_and_the_dagster_layer_use_the_demo_generator():
    users = {
        module
        for module, targets in GRAPH.items()
        if any(_within(target, SYNTHETIC) for target in targets)
    }
    assert {
        m for m in users if not any(_within(m, allowed) for allowed in SYNTHETIC_USERS)
    } == set()


def test_modules_import_each_other_without_a_cycle():
    # A package's __init__ only re-exports its modules; the cycle check is between modules.
    modules = {m for m, path in MODULES.items() if path.name != "__init__.py"}
    assert {f"{PACKAGE}.training.base_model", f"{PACKAGE}.training.tiny_model"} <= modules
    assert _cycles(modules) == []


# The Dagster layer: the wiring under defs/ and the entry points that start or read runs.
# Every other module is domain code, usable without Dagster.
DAGSTER_LAYER = tuple(
    f"{PACKAGE}.{name}"
    for name in ("defs", "definitions", "devserver", "run_pipeline", "run_progress", "dead_runs")
)
# The decoder's Pipes entry point runs in its own process (or image) and speaks Pipes.
PIPES_ENTRY = f"{PACKAGE}.signal.pipes_entry"


def _external_imports(tree: ast.AST) -> Iterator[str]:
    """Every absolute import in the code, as dotted names (`from a import b`: a and a.b)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


EXTERNAL = {
    module: set(_external_imports(ast.parse(path.read_text(encoding="utf-8"))))
    for module, path in MODULES.items()
}


def _is_dagster(name: str) -> bool:
    """A module of Dagster or of one of its libraries (dagster_pipes, dagster_docker…)."""
    top = name.partition(".")[0]
    return top == "dagster" or top.startswith("dagster_")


def test_the_graph_sees_dagster_imports():
    assert "dagster" in EXTERNAL[f"{PACKAGE}.definitions"]
    assert "dagster_pipes" in EXTERNAL[PIPES_ENTRY]


def test_no_module_imports_a_private_dagster_path():
    private = {
        module: sorted(
            name
            for name in names
            if _is_dagster(name) and any(part.startswith("_") for part in name.split(".")[1:])
        )
        for module, names in EXTERNAL.items()
    }
    assert {module: names for module, names in private.items() if names} == {}


def test_only_the_dagster_layer_imports_dagster():
    domain = {
        module for module in MODULES if not any(_within(module, layer) for layer in DAGSTER_LAYER)
    }
    assert f"{PACKAGE}.privacy.anonymized_windows" in domain
    imports = {
        module: sorted(
            name
            for name in EXTERNAL[module]
            if _is_dagster(name)
            and not (module == PIPES_ENTRY and name.partition(".")[0] == "dagster_pipes")
        )
        for module in domain
    }
    assert {module: names for module, names in imports.items() if names} == {}
