"""Coverage per layer, and the gates `make test` enforces.

Reads the coverage data `make test` wrote (pytest-cov, with coverage's subprocess patch:
the Pipes decoder, the CLI and `dagster` commands the tests start are counted), sums
statements per layer, prints a table, and exits 1 when a layer is below its gate:

    python -m astrabot_pipeline_tests.coverage_gates [--files N]

`--files N` also lists each layer's N least-covered files.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import coverage

PACKAGE = Path(__file__).resolve().parents[1] / "astrabot_pipeline"
DATA_FILE = Path(__file__).resolve().parents[1] / "test-results" / ".coverage"


@dataclass(frozen=True)
class Layer:
    name: str
    gate: float | None  # percent; None: shown, not gated
    parts: tuple[str, ...]  # package folders (ending in /) and modules, relative to PACKAGE


LAYERS = (
    Layer(
        "core",
        90.0,
        (
            "signal/",
            "dataset/",
            "training/",
            "evaluation/",
            "defs/",
            "cli/",
            "storage.py",
            "settings.py",
            "definitions.py",
        ),
    ),
    Layer("data processing", 85.0, ("conversations/", "enrichment/", "synthetic/")),
    Layer("privacy", 95.0, ("privacy/",)),
)
OTHER = Layer("other (not gated)", None, ())


@dataclass
class Tally:
    layer: Layer
    statements: int = 0
    missed: int = 0
    files: list[tuple[str, int, int]] = field(default_factory=list)  # (path, statements, missed)

    @property
    def percent(self) -> float:
        return (
            100.0 * (self.statements - self.missed) / self.statements if self.statements else 100.0
        )

    @property
    def passed(self) -> bool:
        # Compared as printed (one decimal), so the table never shows 90.0 % failing 90.
        return self.layer.gate is None or round(self.percent, 1) >= self.layer.gate


def layer_of(relative: str) -> Layer:
    for layer in LAYERS:
        if any(
            relative == part or (part.endswith("/") and relative.startswith(part))
            for part in layer.parts
        ):
            return layer
    return OTHER


def tally(data_file: Path = DATA_FILE) -> list[Tally]:
    """Statements and misses per layer, over every package file (unmeasured ones count
    as missed: a module no test imports is 0 %, not absent)."""
    if not data_file.exists():
        raise SystemExit(f"no coverage data at {data_file}: run `make test` first")
    cov = coverage.Coverage(data_file=str(data_file))
    cov.load()
    tallies = {layer.name: Tally(layer) for layer in (*LAYERS, OTHER)}
    for path in sorted(PACKAGE.rglob("*.py")):
        _, statements, _, missing, _ = cov.analysis2(str(path))
        if not statements:
            continue
        relative = path.relative_to(PACKAGE).as_posix()
        entry = tallies[layer_of(relative).name]
        entry.statements += len(statements)
        entry.missed += len(missing)
        entry.files.append((relative, len(statements), len(missing)))
    return list(tallies.values())


def render(tallies: list[Tally], files: int = 0) -> str:
    lines = [f"{'layer':<20} {'statements':>10} {'missed':>7} {'cover':>7} {'gate':>6}  result"]
    for entry in tallies:
        gate = f"{entry.layer.gate:.0f} %" if entry.layer.gate is not None else "-"
        result = "" if entry.layer.gate is None else ("ok" if entry.passed else "BELOW GATE")
        lines.append(
            f"{entry.layer.name:<20} {entry.statements:>10} {entry.missed:>7} "
            f"{entry.percent:>6.1f}% {gate:>6}  {result}"
        )
        worst = sorted(entry.files, key=lambda f: (f[1] - f[2]) / f[1])[:files]
        for relative, statements, missed in worst:
            lines.append(
                f"    {relative:<52} {100.0 * (statements - missed) / statements:>6.1f}%  ({missed} missed)"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--files", type=int, default=0, help="list each layer's N least-covered files"
    )
    args = parser.parse_args(argv)
    tallies = tally()
    print(render(tallies, args.files))
    failed = [t.layer.name for t in tallies if not t.passed]
    if failed:
        print(f"coverage below the gate for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
