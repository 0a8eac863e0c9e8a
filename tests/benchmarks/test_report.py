"""benchmarks/report.py: dated results pages, their header and index, and the scripts that write them."""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import sys
from pathlib import Path

import pytest

from benchmarks import report
from measurement.architecture import size_architecture

ROOT = Path(__file__).resolve().parents[2]
DAY = datetime.date(2026, 12, 5)
FACTS = {"machine": "Test CPU, 2 logical cores", "commit": "abc123", "command": "python benchmarks/x.py --flag"}


def _load(script: str):
    """A benchmark script as a module (they are scripts, not a package's modules)."""
    spec = importlib.util.spec_from_file_location(f"{script}_benchmark", ROOT / "benchmarks" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_a_page_has_the_header_facts_and_the_body(tmp_path: Path) -> None:
    path = report.write_results_page(
        "recommend", "Latency", "| a | b |\n| --- | --- |\n| 1 | 2 |", out_dir=tmp_path, date=DAY, **FACTS
    )
    assert path == tmp_path / "recommend-2026-12-05.md"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Latency\n")
    for line in (
        "- **Date:** 2026-12-05",
        "- **Machine:** Test CPU, 2 logical cores",
        "- **Commit:** `abc123`",
        "- **Command:** `python benchmarks/x.py --flag`",
    ):
        assert line in text.splitlines()
    assert text.endswith("| 1 | 2 |\n")
    assert _files(tmp_path) == {"recommend-2026-12-05.md", "index.md"}  # no temporary file left behind


def test_the_index_lists_pages_newest_first_and_links_the_history(tmp_path: Path) -> None:
    for name, day in (("transfer", DAY), ("recommend", DAY - datetime.timedelta(days=3)), ("distributed", DAY)):
        report.write_results_page(name, f"{name} title", "body", out_dir=tmp_path, date=day, **FACTS)
    (tmp_path / "notes.md").write_text("# not a results page\n")
    (tmp_path / "history.md").write_text("# History\n")
    lines = report.write_index(tmp_path).read_text(encoding="utf-8").splitlines()
    entries = [line for line in lines if line.startswith("- ")]
    assert entries == [
        "- 2026-12-05: [distributed title](distributed-2026-12-05.md)",
        "- 2026-12-05: [transfer title](transfer-2026-12-05.md)",
        "- 2026-12-02: [recommend title](recommend-2026-12-02.md)",
    ]
    assert lines[-1].endswith("[results history](history.md).")


def test_a_second_run_on_the_same_day_replaces_that_days_page(tmp_path: Path) -> None:
    report.write_results_page("recommend", "First", "old numbers", out_dir=tmp_path, date=DAY, **FACTS)
    path = report.write_results_page("recommend", "Second", "new numbers", out_dir=tmp_path, date=DAY, **FACTS)
    assert "new numbers" in path.read_text() and "old numbers" not in path.read_text()
    assert report.write_index(tmp_path).read_text().count("recommend-2026-12-05.md") == 1


@pytest.mark.parametrize(
    ("name", "title"), [("Recommend", "t"), ("a/../b", "t"), ("x--y", "t"), ("ok", "two\nlines"), ("ok", "  ")]
)
def test_a_bad_name_or_title_is_refused_before_writing(tmp_path: Path, name: str, title: str) -> None:
    with pytest.raises(report.ReportError):
        report.write_results_page(name, title, "body", out_dir=tmp_path, date=DAY, **FACTS)
    assert _files(tmp_path) == set()


def test_the_machine_comes_from_cpuinfo_and_the_core_count(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nmodel name\t: Fake Xeon 9000\n\nprocessor\t: 1\n")
    assert report.machine_description(tmp_path, cores=16) == "Fake Xeon 9000, 16 logical cores"


def test_the_command_names_the_script_from_the_repository() -> None:
    argv = [str(ROOT / "benchmarks" / "recommend.py"), "--dataset", "wine digits"]
    assert report.command_line(argv) == "python benchmarks/recommend.py --dataset 'wine digits'"


def test_the_commit_outside_a_repository_is_unknown(tmp_path: Path) -> None:
    assert report.git_commit(tmp_path) == "unknown"
    assert report.git_commit(ROOT) != "unknown"


def test_no_page_writes_nothing_and_out_dir_excludes_it(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    report.add_page_options(parser)
    assert report.page_from_args(parser.parse_args(["--no-page"]), "x", "X", "body") is None
    assert parser.parse_args([]).out_dir == ROOT / "docs" / "results"
    with pytest.raises(SystemExit):
        parser.parse_args(["--no-page", "--out-dir", str(tmp_path)])
    path = report.page_from_args(parser.parse_args(["--out-dir", str(tmp_path / "new")]), "x", "X", "body")
    assert path is not None and path.parent == tmp_path / "new" and path.is_file()


def test_the_transfer_benchmark_writes_its_page_where_told(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    transfer = _load("transfer")
    configs = transfer.design(quick=True)
    measurements = [
        transfer.Measurement(
            c,
            size_architecture(c.shape, c.depth, c.size, c.input_dim, c.output_dim).params,
            {"train": 1e-6 * (i + 1), "inference": 3e-7},
            {"train": 1.1e-6 * (i + 1), "inference": 3e-7},
        )
        for i, c in enumerate(configs)
    ]
    saved = tmp_path / "measurements.json"
    transfer.save_measurements(saved, measurements)
    results_before = _files(ROOT / "docs" / "results")
    argv = ["--quick", "--replay", "--measurements", str(saved), "--out-dir", str(tmp_path / "pages")]
    assert transfer.main(argv) == 0
    page = tmp_path / "pages" / f"transfer-quick-{datetime.date.today().isoformat()}.md"
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# Transfer: networks at input widths the calibration never saw (quick smoke run)\n")
    assert "## Profile:" in text and "| train | 4 |" in text and "| inference | 4 |" in text
    assert "- train: [" in text and "worst ratio" in text
    assert page.name in (tmp_path / "pages" / "index.md").read_text()
    assert f"results page: {page}" in capsys.readouterr().out
    assert _files(ROOT / "docs" / "results") == results_before


def test_the_recommend_page_is_a_table_of_steps() -> None:
    recommend = _load("recommend")
    timings = recommend.Timings(
        dataset="digits",
        accuracy=0.95,
        grid_configs=1902,
        networks=1708,
        load_s=0.5,
        first_s=1.4,
        warm_auto_s=0.18,
        warm_fixed_s=0.09,
        warm_total_s=0.17,
        fresh_s=0.8,
    )
    body = recommend.body_md(timings, None)
    assert "digits at accuracy 0.95: 1902 grid configs -> 1708 distinct networks" in body
    assert "| warm recommend, epochs auto | 180.0 ms (median of 15; bound 500 ms: ok) |" in body
    assert "| warm auto / first | 0.13 |" in body


def test_the_distributed_page_is_the_printed_table() -> None:
    distributed = _load("distributed")
    lines = distributed.report_lines(
        40, 3, 6.0, [("local:1", 1.9, 8.0), ("local:2", 1.7, 4.0)], [0.002] * 9 + [0.004], [0.018, 0.02]
    )
    assert "| this machine, no Dask | — | 6.00 s | 6.7 | 0.75 |" in lines
    assert "| local:2 | 1.7 s | 4.00 s | 10.0 | 0.50 |" in lines
    assert lines[-1] == "round trip beyond the run itself: median 19.0 ms"
