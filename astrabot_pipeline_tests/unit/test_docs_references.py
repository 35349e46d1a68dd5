"""Code cites only the repository's own docs, and every `docs/<name>.md §N` it cites exists.

Knowledge a reader needs lives in `docs/`; comments never point to files outside the
repository (the team's working notes are not published). A cited section must be a
heading of the cited page, so renumbering a page without updating its citations fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from astrabot_pipeline_tests.conftest import PROJECT_ROOT

SCANNED_DIRS = ("astrabot_pipeline", "astrabot_pipeline_tests", "benchmarks")
SCANNED_SUFFIXES = frozenset({".py", ".md", ".toml", ".yaml", ".yml", ".sh", ".txt", ".cfg"})
# Files that are not in the repository; spelled in pieces so this file does not cite them.
OUTSIDE_FILES = tuple(name + ".md" for name in ("DESIGN", "STYLE", "signal-backup-format"))
_OUTSIDE = re.compile("|".join(re.escape(name) for name in OUTSIDE_FILES))
# `docs/backup-formats.md §6.2` or `docs/backup-formats.md §0, §1, §3` (one doc, several).
_CITATION = re.compile(r"docs/([\w.-]+?\.md)((?:[\s,]*(?:and\s+)?§\s*\d+(?:\.\d+)*)+)")
_SECTION = re.compile(r"§\s*(\d+(?:\.\d+)*)")


def _scanned_files(root: Path) -> list[Path]:
    """Text files under the scanned folders, this test excepted (it plants citations)."""
    this_file = Path(__file__).resolve()
    files = []
    for directory in SCANNED_DIRS:
        for path in (root / directory).rglob("*"):
            if "__pycache__" in path.parts or path.suffix not in SCANNED_SUFFIXES:
                continue
            if path.is_file() and path.resolve() != this_file:
                files.append(path)
    return sorted(files)


def outside_citations(root: Path) -> list[str]:
    """`path:line: name` for every mention of a file that is not in the repository."""
    found = []
    for path in _scanned_files(root):
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            for match in _OUTSIDE.finditer(line):
                found.append(f"{path.relative_to(root)}:{number}: {match.group()}")
    return found


def cited_sections(root: Path) -> dict[tuple[str, str], list[str]]:
    """(doc name, section) -> where it is cited, for every `docs/<name>.md §N` in code."""
    cited: dict[tuple[str, str], list[str]] = {}
    for path in _scanned_files(root):
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in _CITATION.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            for section in _SECTION.findall(match.group(2)):
                where = f"{path.relative_to(root)}:{line}"
                cited.setdefault((match.group(1), section), []).append(where)
    return cited


def heading_sections(page: Path) -> set[str]:
    """Section numbers of a page's headings: `## 6. SQL` -> 6, `### 6.2 The type` -> 6.2."""
    sections = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"#{1,6}\s+§?\s*(\d+(?:\.\d+)*)\.?\s", line):
            sections.add(match.group(1))
    return sections


def missing_sections(root: Path) -> list[str]:
    """Every citation whose page or section does not exist, with where it is cited."""
    problems = []
    headings: dict[str, set[str] | None] = {}
    for (name, section), places in sorted(cited_sections(root).items()):
        if name not in headings:
            page = root / "docs" / name
            headings[name] = heading_sections(page) if page.is_file() else None
        if headings[name] is None:
            problems.append(f"docs/{name} does not exist (cited at {', '.join(places)})")
        elif section not in headings[name]:
            problems.append(f"docs/{name} has no §{section} (cited at {', '.join(places)})")
    return problems


def test_no_file_cites_documents_outside_the_repository():
    assert outside_citations(PROJECT_ROOT) == []


def test_every_cited_docs_section_exists():
    assert cited_sections(PROJECT_ROOT), "expected code to cite docs/<name>.md sections"
    assert missing_sections(PROJECT_ROOT) == []


@pytest.fixture
def fake_repo(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# Page\n\n## 1. One\n\n### 1.2 Two\n")
    for directory in SCANNED_DIRS:
        (tmp_path / directory).mkdir()
    return tmp_path


def test_a_planted_outside_citation_is_found(fake_repo):
    module = fake_repo / "astrabot_pipeline" / "module.py"
    module.write_text(f'"""Layout: {OUTSIDE_FILES[2]} §1."""\n')
    assert outside_citations(fake_repo) == [f"astrabot_pipeline/module.py:1: {OUTSIDE_FILES[2]}"]


def test_a_citation_of_a_missing_section_or_page_is_found(fake_repo):
    module = fake_repo / "benchmarks" / "bench.py"
    module.write_text("# see docs/page.md §1, §1.2 and docs/page.md §1.3\n# and docs/gone.md §1\n")
    assert missing_sections(fake_repo) == [
        "docs/gone.md does not exist (cited at benchmarks/bench.py:2)",
        "docs/page.md has no §1.3 (cited at benchmarks/bench.py:1)",
    ]
