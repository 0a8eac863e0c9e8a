"""Results pages written by the benchmark scripts themselves: one dated Markdown page per run, and an index.

A script prints its results, then calls :func:`write_results_page` with the same results as Markdown. The page
``docs/results/<name>-<YYYY-MM-DD>.md`` starts with what makes a number mean something later: the date, the
machine (CPU model and logical cores), the git commit and the exact command line. A second run of one script
on the same day replaces that day's page. ``docs/results/index.md`` is regenerated from the pages present,
newest first, so a table is never hand-typed or stale.

Scripts take ``--out-dir DIR`` (tests point it at a temporary folder) and ``--no-page`` through
:func:`add_page_options` and :func:`page_from_args`.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from measurement.atomic import atomic_path  # noqa: E402
from measurement.hardware import PROC, read_cpu_model  # noqa: E402

RESULTS_DIR = ROOT / "docs" / "results"
INDEX_NAME = "index.md"
HISTORY_NAME = "history.md"
NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
PAGE = re.compile(r"(?P<name>[a-z0-9]+(?:-[a-z0-9]+)*)-(?P<date>\d{4}-\d{2}-\d{2})\.md")


class ReportError(ValueError):
    """A results page that cannot be written as asked (a bad name or title)."""


@dataclass(frozen=True)
class PageEntry:
    """One results page found in the results folder: what the index lists."""

    name: str
    date: datetime.date
    title: str
    file_name: str


def machine_description(proc: Path = PROC, cores: int | None = None) -> str:
    """This machine in words: the CPU model from ``proc``/cpuinfo and the logical core count."""
    count = cores if cores is not None else os.cpu_count() or 1
    return f"{read_cpu_model(proc)}, {count} logical cores"


def git_commit(repo: Path = ROOT) -> str:
    """The checked-out commit (short), marked when tracked files have uncommitted changes; 'unknown' outside git."""
    try:
        commit = _git(repo, "rev-parse", "--short=12", "HEAD")
        dirty = _git(repo, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit} (with uncommitted changes)" if dirty else commit


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.strip()


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command that ran, as a shell would read it: ``python`` and the script's path from the repository."""
    args = list(sys.argv if argv is None else argv)
    if args:
        script = Path(args[0]).resolve()
        args[0] = str(script.relative_to(ROOT)) if ROOT in script.parents else args[0]
    return shlex.join(["python", *args])


def page_header(title: str, date: datetime.date, machine: str, commit: str, command: str) -> str:
    """The page's title and the four facts that date its numbers."""
    return (
        f"# {title}\n\n"
        f"- **Date:** {date.isoformat()}\n"
        f"- **Machine:** {machine}\n"
        f"- **Commit:** `{commit}`\n"
        f"- **Command:** `{command}`\n\n"
        "Written by the script itself (`benchmarks/report.py`); re-run the command to refresh it.\n"
    )


def write_results_page(
    name: str,
    title: str,
    body_md: str,
    *,
    machine: str | None = None,
    out_dir: Path = RESULTS_DIR,
    date: datetime.date | None = None,
    commit: str | None = None,
    command: str | None = None,
) -> Path:
    """Write ``out_dir/<name>-<date>.md`` atomically and regenerate ``out_dir/index.md``; the page's path.

    Args:
        name: the benchmark's slug (lower-case letters, digits and single hyphens), e.g. ``recommend``.
        title: one line, the page's heading.
        body_md: the results as Markdown (tables, lines); written after the header.
        machine: the machine in words (default: :func:`machine_description` of this one).
        out_dir: the results folder (created if missing).
        date: the day the results were measured (default: today).
        commit: the code's commit (default: :func:`git_commit`).
        command: the command line (default: :func:`command_line` of this process).

    Raises:
        ReportError: a name that is not a slug, or a title that is empty or not one line.
    """
    if NAME.fullmatch(name) is None:
        raise ReportError(f"results page name {name!r}: use lower-case letters, digits and single hyphens")
    if not title.strip() or "\n" in title:
        raise ReportError("a results page needs a one-line title")
    day = date or datetime.date.today()
    header = page_header(
        title.strip(), day, machine or machine_description(), commit or git_commit(), command or command_line()
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}-{day.isoformat()}.md"
    _write_text(path, f"{header}\n{body_md.strip()}\n")
    write_index(out_dir)
    return path


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary sibling and a rename (readers never see half a page)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def list_pages(out_dir: Path) -> list[PageEntry]:
    """The results pages in ``out_dir``, newest first (then by name); other files are ignored."""
    entries = []
    for path in out_dir.glob("*.md"):
        match = PAGE.fullmatch(path.name)
        if match is None:
            continue
        try:
            day = datetime.date.fromisoformat(match["date"])
        except ValueError:
            continue
        first = path.read_text(encoding="utf-8").partition("\n")[0]
        title = first[2:].strip() if first.startswith("# ") else match["name"]
        entries.append(PageEntry(match["name"], day, title, path.name))
    return sorted(entries, key=lambda e: (-e.date.toordinal(), e.name))


def index_text(entries: Sequence[PageEntry], has_history: bool) -> str:
    """The index page's Markdown: one line per results page, newest first."""
    lines = [
        "# Benchmark results",
        "",
        "Pages written by the scripts in `benchmarks/` (`benchmarks/report.py` regenerates this list from the",
        "pages present). Each names its date, machine, commit and command; newest first.",
        "",
    ]
    lines += [f"- {e.date.isoformat()}: [{e.title}]({e.file_name})" for e in entries] or ["No pages yet."]
    if has_history:
        lines += ["", f"Tables recorded by hand before the scripts wrote pages: [results history]({HISTORY_NAME})."]
    return "\n".join(lines) + "\n"


def write_index(out_dir: Path = RESULTS_DIR) -> Path:
    """Regenerate ``out_dir/index.md`` from the pages present (atomically); its path."""
    path = out_dir / INDEX_NAME
    _write_text(path, index_text(list_pages(out_dir), (out_dir / HISTORY_NAME).is_file()))
    return path


def add_page_options(parser: argparse.ArgumentParser) -> None:
    """``--out-dir DIR`` and ``--no-page``: where a script writes its results page, or not at all."""
    group = parser.add_mutually_exclusive_group()
    default = RESULTS_DIR.relative_to(ROOT)
    group.add_argument(
        "--out-dir",
        type=Path,
        default=RESULTS_DIR,
        metavar="DIR",
        help=f"write the results page here (default {default})",
    )
    group.add_argument("--no-page", action="store_true", help="print the results only; write no results page")


def page_from_args(args: argparse.Namespace, name: str, title: str, body_md: str) -> Path | None:
    """Write the results page the command line asks for (None with ``--no-page``), and say where."""
    if args.no_page:
        return None
    path = write_results_page(name, title, body_md, out_dir=args.out_dir)
    print(f"results page: {path}")
    return path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table of ``rows`` under ``header`` (cells as given, ``|`` escaped)."""

    def cells(values: Sequence[object]) -> str:
        return "| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |"

    return "\n".join([cells(header), "| " + " | ".join("---" for _ in header) + " |", *map(cells, rows)])


if __name__ == "__main__":  # regenerate the index by hand: python benchmarks/report.py [DIR]
    print(write_index(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS_DIR))
