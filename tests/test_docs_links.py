"""The documentation's relative links resolve, and the README stays a front door.

Every relative Markdown link in README.md, CHANGELOG.md and docs/**/*.md must name an existing file (or
folder), and a ``#anchor`` must name a heading of the target (GitHub's slugs). External links (http, mailto)
are not fetched: this runs offline, in a second.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_BYTES = 12 * 1024
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
FENCE = re.compile(r"^\s{0,3}(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def markdown_files(root: Path = ROOT) -> list[Path]:
    """README.md, CHANGELOG.md and every Markdown file under docs/."""
    return [root / "README.md", root / "CHANGELOG.md", *sorted((root / "docs").rglob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (a link inside a code block is an example, not a link)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def strip_code_spans(line: str) -> str:
    """The line without inline code spans (``[x](y)`` inside backticks is not a link)."""
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.replace("`", "").replace("*", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, duplicates numbered as GitHub does (``x``, ``x-1``, …)."""
    seen: dict[str, int] = {}
    result = set()
    for line in prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def links(path: Path) -> list[str]:
    """Every link target in a Markdown file's prose (inline links, images and reference definitions)."""
    found = []
    for line in prose_lines(path.read_text(encoding="utf-8")):
        line = strip_code_spans(line)
        found += LINK.findall(line) + IMAGE.findall(line) + REFERENCE.findall(line)
    return found


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """The relative links of ``path`` that name no file, a file outside ``root``, or no heading of their target."""
    problems = []
    for target in links(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / unquote(file_part)).resolve() if file_part else path
        if root.resolve() not in (destination, *destination.parents):
            problems.append(f"{target}: outside the repository")
        elif not destination.exists():
            problems.append(f"{target}: no such file")
        elif anchor and (destination.suffix != ".md" or unquote(anchor).lower() not in anchors(destination)):
            problems.append(f"{target}: no heading #{anchor} in {destination.name}")
    return problems


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    assert broken_links(path) == [], f"{path.relative_to(ROOT)} has broken links"


def test_readme_stays_under_12_kb() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move detail to docs/ (limit {README_MAX_BYTES})"


def test_docs_has_an_index_that_reaches_every_page() -> None:
    index = ROOT / "docs" / "index.md"
    reached, queue = {index.resolve()}, [index]
    while queue:
        page = queue.pop()
        for target in links(page):
            file_part = target.partition("#")[0]
            if EXTERNAL.match(target) or not file_part.endswith(".md"):
                continue
            destination = (page.parent / unquote(file_part)).resolve()
            if destination.is_file() and destination not in reached and ROOT / "docs" in destination.parents:
                reached.add(destination)
                queue.append(destination)
    unreached = {p.resolve() for p in (ROOT / "docs").rglob("*.md")} - reached
    assert not unreached, f"pages no link from docs/index.md reaches: {sorted(str(p) for p in unreached)}"


def test_the_checker_finds_a_broken_file_and_a_broken_anchor(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\n## Sub `code` section\n\n## Sub `code` section\n", encoding="utf-8")
    page = tmp_path / "b.md"
    page.write_text(
        "[ok](a.md#sub-code-section) [dup](a.md#sub-code-section-1) [self](#here) [web](https://x.org/y)\n"
        "# Here\n[gone](missing.md) [bad anchor](a.md#nope) `[in code](nowhere.md)`\n"
        "```\n[in a fence](nowhere.md)\n```\n[up](../outside.md)\n",
        encoding="utf-8",
    )
    assert broken_links(page, root=tmp_path) == [
        "missing.md: no such file",
        "a.md#nope: no heading #nope in a.md",
        "../outside.md: outside the repository",
    ]
