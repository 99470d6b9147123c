"""Every "SPEC x.y" and "DESIGN x" a comment or docstring cites names a section that exists.

Code and tests cite the engine's rules as ``SPEC 6.4`` (a section of docs/behaviour.md), acceptance
cases as ``SPEC case 41`` (section 16), kept quirks as ``SPEC 17 #6`` (a row of section 17), and the
house's layout as ``DESIGN 3`` (a section of docs/architecture.md). A citation of a section that
was renumbered or never written sends a maintainer looking for a rule that is not there, so this
test reads every citation and looks it up. It needs no engine: it reads text only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BEHAVIOUR = ROOT / "docs" / "behaviour.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
SCANNED_DIRS = ("engine", "console", "tests", "examples")
SCANNED_FILES = ("README.md", "docs/architecture.md")

_NUMBER = r"\d+(?:\.\d+)*"
_QUALIFIER = r"(?:\s+(?:step|rule)\s+\d+)?"  # "SPEC 5.1 step 6": the step is not a section
_ITEM = rf"(?:case\s+\d+|{_NUMBER}(?:\s+#\d+)?){_QUALIFIER}"
_SEPARATOR = r"\s*(?:,|/|-|–|\band\b)\s*"
_PREFIX = r"(?:\s+sections?\s+|\s*§\s*|\s+)"  # "SPEC 6.4", "SPEC section 2", "SPEC §6.4"
# "SPEC 9.5 / 17 #6", "SPEC 8.3, 8.4, 14", "SPEC 9.2-9.4", "SPEC section 2", "SPEC case 41", "SPEC §6.4"
SPEC_CITATION = re.compile(rf"\bSPEC{_PREFIX}(?P<items>{_ITEM}(?:{_SEPARATOR}{_ITEM})*)")
DESIGN_CITATION = re.compile(rf"\bDESIGN(?:\.md)?{_PREFIX}(?P<items>{_NUMBER}(?:{_SEPARATOR}{_NUMBER})*)")
_SPLIT = re.compile(_SEPARATOR)
_HEADING = re.compile(r"^#{2,4}\s+(?P<number>" + _NUMBER + r")\.?\s", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Citation:
    """One cited target: a section number, a case of section 16 or a row of section 17."""

    where: str  # "engine/strategy.py:42"
    text: str  # the citation as written
    kind: str  # "section" | "case" | "row"
    number: str  # "6.4", or the case / row number
    document: Path


def headings(document: Path) -> list[str]:
    """The section numbers of a document's numbered headings, in order (duplicates kept)."""
    return [m["number"] for m in _HEADING.finditer(document.read_text(encoding="utf-8"))]


def section_text(document: Path, number: str) -> str:
    """The text of one numbered section, up to the next heading of the same or a higher level."""
    text = document.read_text(encoding="utf-8")
    start = re.search(rf"^(?P<hashes>#{{2,4}})\s+{re.escape(number)}\.?\s.*$", text, re.MULTILINE)
    assert start is not None, f"{document.name} has no section {number}"
    level = len(start["hashes"])
    rest = text[start.end() :]
    end = re.search(rf"^#{{2,{level}}}\s", rest, re.MULTILINE)
    return rest if end is None else rest[: end.start()]


def case_numbers() -> set[str]:
    """Acceptance cases listed in section 16, one per line as ``N. ...``."""
    return set(re.findall(r"^(\d+)\.\s", section_text(BEHAVIOUR, "16"), re.MULTILINE))


def quirk_rows() -> set[str]:
    """Rows of the table in section 17, whose first cell is the row number."""
    return set(re.findall(r"^\|\s*(\d+)\s*\|", section_text(BEHAVIOUR, "17"), re.MULTILINE))


def scanned_files() -> Iterator[Path]:
    for name in SCANNED_DIRS:
        yield from sorted((ROOT / name).rglob("*.py"))
    for name in SCANNED_FILES:
        path = ROOT / name
        if path.exists():
            yield path


def citations_in(text: str, where: str) -> Iterator[Citation]:
    """The targets of every SPEC and DESIGN citation in ``text`` (``where`` names the file and line)."""
    for m in SPEC_CITATION.finditer(text):
        for item in _SPLIT.split(m["items"]):
            item = re.sub(r"\s+(?:step|rule)\s+\d+$", "", item.strip())
            if item.startswith("case"):
                yield Citation(where, m[0], "case", item.split()[1], BEHAVIOUR)
                continue
            number, _, row = item.partition("#")
            yield Citation(where, m[0], "section", number.strip(), BEHAVIOUR)
            if row:
                yield Citation(where, m[0], "row", row.strip(), BEHAVIOUR)
    for m in DESIGN_CITATION.finditer(text):
        for item in _SPLIT.split(m["items"]):
            yield Citation(where, m[0], "section", item.strip(), ARCHITECTURE)


def all_citations() -> list[Citation]:
    found: list[Citation] = []
    for path in scanned_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel == "tests/test_docs_references.py":
            continue  # its docstring shows the citation forms as examples
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            found.extend(citations_in(line, f"{rel}:{n}"))
    return found


def unresolved(citations: list[Citation]) -> list[str]:
    """One line per citation whose target does not exist."""
    sections = {BEHAVIOUR: set(headings(BEHAVIOUR)), ARCHITECTURE: set(headings(ARCHITECTURE))}
    cases, rows = case_numbers(), quirk_rows()
    missing = []
    for c in citations:
        if c.kind == "section":
            ok = c.number in sections[c.document]
        elif c.kind == "case":
            ok = c.number in cases
        else:
            ok = c.number in rows
        if not ok:
            missing.append(f"{c.where}: {c.text!r} cites {c.kind} {c.number} of docs/{c.document.name}")
    return missing


def test_documents_exist() -> None:
    assert BEHAVIOUR.is_file(), "docs/behaviour.md is missing"
    assert ARCHITECTURE.is_file(), "docs/architecture.md is missing"


def test_the_scan_finds_the_citations() -> None:
    """A guard for the scanner itself: the code cites well over a hundred rules."""
    found = all_citations()
    assert len([c for c in found if c.document == BEHAVIOUR]) > 100
    assert any(c.document == ARCHITECTURE for c in found)
    assert any(c.kind == "case" for c in found)
    assert any(c.kind == "row" for c in found)


def test_every_citation_resolves() -> None:
    missing = unresolved(all_citations())
    assert not missing, "citations of sections that do not exist:\n" + "\n".join(missing)


@pytest.mark.parametrize("document", [BEHAVIOUR, ARCHITECTURE], ids=lambda p: p.name)
def test_section_numbers_are_unique(document: Path) -> None:
    numbers = headings(document)
    twice = sorted({n for n in numbers if numbers.count(n) > 1})
    assert not twice, f"{document.name} numbers these sections more than once: {twice}"


def test_behaviour_keeps_the_original_numbering() -> None:
    """Sections 1..17 of the original specification, which the code cites, all exist."""
    numbers = set(headings(BEHAVIOUR))
    assert {str(n) for n in range(1, 18)} <= numbers
    assert [str(n) for n in range(1, 69)] == sorted(case_numbers(), key=int)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("(SPEC 9.5 / 17 #6)", [("section", "9.5"), ("section", "17"), ("row", "6")]),
        ("a crash test (SPEC 8.3, 8.4, 14)", [("section", "8.3"), ("section", "8.4"), ("section", "14")]),
        ("risk (SPEC 9.2-9.4)", [("section", "9.2"), ("section", "9.4")]),
        ("SPEC 5.1 step 6 and 3.2", [("section", "5.1"), ("section", "3.2")]),
        ("(SPEC case 41)", [("case", "41")]),
        ("Global configuration (SPEC section 2)", [("section", "2")]),
        ("see DESIGN.md section 2.", [("section", "2")]),
        ("SPEC §6.4 and SPEC § 12.1", [("section", "6.4"), ("section", "12.1")]),
        ("the candle contract (DESIGN 3)", [("section", "3")]),
        ("SPEC's summation order", []),
    ],
)
def test_citation_forms(line: str, expected: list[tuple[str, str]]) -> None:
    assert [(c.kind, c.number) for c in citations_in(line, "x:1")] == expected


def test_a_citation_of_a_missing_section_is_reported() -> None:
    """What a broken citation looks like to the maintainer who wrote it."""
    bad = list(citations_in("see SPEC 6.9, SPEC case 99, SPEC 17 #40 and DESIGN 42", "engine/x.py:7"))
    assert unresolved(bad) == [
        "engine/x.py:7: 'SPEC 6.9' cites section 6.9 of docs/behaviour.md",
        "engine/x.py:7: 'SPEC case 99' cites case 99 of docs/behaviour.md",
        "engine/x.py:7: 'SPEC 17 #40' cites row 40 of docs/behaviour.md",
        "engine/x.py:7: 'DESIGN 42' cites section 42 of docs/architecture.md",
    ]
