"""Every rule id the code, the tests and the docs cite is defined in docs/domain.md (issue 13, "the developer's
hour"): a reader who meets ``R23`` in a test name can look it up."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CATALOGUE = REPO / "docs" / "domain.md"
SEARCHED = ("arrears", "tests", "docs", "bench", "scripts", "README.md")
SUFFIXES = {".py", ".md", ".html", ".txt", ".sh", ".liquid"}
# R23, R23_R47 (test names), R36–R40 and R36-R40 (ranges); not the "R0l" of a base64 string.
CITATION = re.compile(r"(?<![A-Za-z0-9])R(\d{1,3})(?:\s*[–-]\s*R(\d{1,3}))?(?![A-Za-z0-9])")
DEFINITION = re.compile(r'^- <a id="r(\d+)"></a>\*\*R(\d+)\*\* \S', re.M)


def cited_rule_ids(text: str) -> set[int]:
    ids: set[int] = set()
    for match in CITATION.finditer(text):
        first = int(match[1])
        last = int(match[2]) if match[2] else first
        ids.update(range(first, last + 1))
    return ids


def searched_files():
    for name in SEARCHED:
        path = REPO / name
        if path.is_file():
            yield path
        else:
            yield from (file for file in path.rglob("*") if file.suffix in SUFFIXES and "__pycache__" not in file.parts)


def test_the_citation_pattern_reads_names_ranges_and_prose():
    assert cited_rule_ids("test_R23_R47_a_file (R36–R40), R9, R1-R3") == {1, 2, 3, 9, 23, 36, 37, 38, 39, 40, 47}
    assert cited_rule_ids("data:image/gif;base64,R0lGOD PR2 R12a") == set()


def test_every_cited_rule_id_is_defined_in_the_catalogue():
    defined = {int(anchor) for anchor, number in DEFINITION.findall(CATALOGUE.read_text()) if anchor == number}
    assert defined == set(range(1, max(defined) + 1)), "rule ids are numbered without gaps"
    undefined = {}
    for path in searched_files():
        if path == CATALOGUE:
            continue
        for rule in cited_rule_ids(path.read_text(errors="replace")) - defined:
            undefined.setdefault(f"R{rule}", []).append(str(path.relative_to(REPO)))
    assert not undefined, f"cited but not defined in docs/domain.md: {undefined}"
    assert len(defined) >= 47
