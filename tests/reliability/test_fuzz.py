"""Fuzzing: hostile argument vectors for every subcommand and mutations of a valid profile folder.

Every outcome must be exit 0, or exit 2 with one line on stderr; never a traceback; each within 10 s; and
nothing written outside the outputs the command was told to write (a refused command writes nothing).
Generators live in fuzz.py beside the bad-input matrix. Hypothesis runs derandomized: CI sees the same
vectors every time, and a failure names its vector. Profiles are mutated from the shipped reference thinned
to 100 draws; 60 mutations run in the fast tier and 160 more in the slow one.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advisor.api import REFERENCE_PROFILE
from measurement.hardware import fingerprint
from tests.fakes.cli import assert_one_line_error, call_cli
from tests.fakes.store import fill_store
from tests.reliability.fuzz import (
    argument_vectors,
    file_mutations,
    json_mutations,
    netcdf_mutations,
    written_outputs,
)

REPLAY = Path(__file__).resolve().parents[2] / "data" / "replay_readings.csv"
LIMIT_S = 10.0
ARGUMENT_VECTORS = 550
PROFILE_MUTATIONS = 220
FAST_PROFILE_MUTATIONS = 60
"""Of the profile mutations, those the fast tier runs; the slow tier runs the other 160 (a second test, so
another derandomized sequence): each loads a profile twice, ~0.5 s a mutation. A derandomized sequence follows
from its test function's name and source: the fast one's holds both outcomes, refusals and accepted mutations
that must still rank (6 of its 60 today; the name it had first drew none)."""
FUZZ = dict(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
OUTCOMES: dict[str, dict[int, int]] = {"arguments": {}, "profiles": {}}


def _snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every non-directory entry: (type, size, mtime), not following symlinks."""
    return {str(p.relative_to(folder)): (stat.S_IFMT(p.lstat().st_mode), p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in folder.rglob("*") if not p.is_dir() or p.is_symlink()}  # fmt: skip


@pytest.fixture(scope="module")
def store_template(tmp_path_factory) -> Path:
    """A small store, filled without training (runs reads it; fit and evaluate are pointed at an empty one:
    their arguments are all checked before the store is read, and a real fit is test_cli_fit's job)."""
    return fill_store(tmp_path_factory.mktemp("template") / "runs.sqlite", fingerprint(with_gpu=False))


@pytest.fixture(scope="module", autouse=True)
def report_outcomes():
    """Print the tallies docs/guide/reliability.md#fuzzing quotes (visible with -s, and in CI's log of a failure)."""
    yield
    print(f"\nfuzz outcomes (exit code: count): {OUTCOMES}")


def _sqlite_sidecar(name: str, before: dict) -> bool:
    """SQLite's own -wal/-shm files (and our .lock) beside a store that existed: opening a WAL store, even
    read-only, makes them; they hold no data of ours."""
    return any(name.endswith(suffix) and name[: -len(suffix)] in before for suffix in ("-wal", "-shm", ".lock"))


def _outcome(kind: str, code: int) -> None:
    OUTCOMES[kind][code] = OUTCOMES[kind].get(code, 0) + 1


@settings(max_examples=ARGUMENT_VECTORS, **FUZZ)
@given(argv=argument_vectors())
def test_argument_vectors(argv: list[str], tmp_path_factory, monkeypatch, store_template: Path) -> None:
    base = tmp_path_factory.mktemp("argv")
    work, home = base / "work", base / "home"
    work.mkdir()
    home.mkdir()
    shutil.copy(store_template, work / "runs.sqlite")
    shutil.copy(store_template, home / "runs.sqlite")
    os.mkfifo(work / "fifo")  # a pipe (like /dev/null, a device) must never be replaced by a save
    places = {"{tmp}": str(work), "{replay}": str(REPLAY), "{reference}": str(REFERENCE_PROFILE)}
    for key, value in places.items():
        argv = [a.replace(key, value) for a in argv]
    monkeypatch.chdir(work)
    reference, before = _snapshot(REFERENCE_PROFILE), _snapshot(base)
    start = time.perf_counter()
    code, out, err = call_cli(*argv, home=home, monkeypatch=monkeypatch)
    elapsed = time.perf_counter() - start
    _outcome("arguments", code)
    assert elapsed < LIMIT_S, f"{argv} took {elapsed:.1f} s"
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code == 2:
        assert_one_line_error((code, out, err))
    changed = {k for k, v in _snapshot(base).items() if before.get(k) != v} | (set(before) - set(_snapshot(base)))
    changed = {c for c in changed if not _sqlite_sidecar(c, before)}
    allowed = [Path(p).resolve() for p in written_outputs(argv) if p] if code == 0 else []
    if code == 0 and argv[0] in ("calibrate", "probe", "fit"):
        allowed += [home / "runs.sqlite", home / "profile", work / "runs.sqlite"]
    stray = [c for c in changed if not any((base / c).resolve().is_relative_to(a) for a in allowed)]
    assert not stray, (argv, code, stray)
    assert _snapshot(REFERENCE_PROFILE) == reference, "the shipped profile was modified"


@settings(max_examples=FAST_PROFILE_MUTATIONS, **FUZZ)
@given(data=st.data())
def test_profile_mutations_quick(data, tmp_path_factory, monkeypatch, thin_reference: Path) -> None:
    _mutate_and_load(data, tmp_path_factory.mktemp("profile"), monkeypatch, thin_reference)


@pytest.mark.slow
@settings(max_examples=PROFILE_MUTATIONS - FAST_PROFILE_MUTATIONS, **FUZZ)
@given(data=st.data())
def test_more_profile_mutations(data, tmp_path_factory, monkeypatch, thin_reference: Path) -> None:
    _mutate_and_load(data, tmp_path_factory.mktemp("profile"), monkeypatch, thin_reference)


def _mutate_and_load(data, base: Path, monkeypatch, profile: Path) -> None:
    """Mutate a copy of ``profile`` (the reference thinned to 100 draws: its every field and file, so the same
    checks refuse or accept a mutation, with a tenth of the arithmetic in an accepted one's recommend) and load
    it with ``doctor`` and ``recommend``: exit 0 or one line with exit 2, quickly, nothing written."""
    meta = json.loads((profile / "profile.json").read_text())
    mutations = data.draw(st.lists(st.one_of(json_mutations(meta), netcdf_mutations(), file_mutations()),
                                   min_size=1, max_size=2))  # fmt: skip
    folder = base / "p"
    shutil.copytree(profile, folder)
    done = [mutate(folder) for mutate in mutations]
    before = _snapshot(base)
    for argv in (
        ["doctor", "--profile", str(folder)],
        ["recommend", "--profile", str(folder), "--dataset", "digits", "--accuracy", "0.8", "--json"],
    ):
        start = time.perf_counter()
        code, out, err = call_cli(*argv, home=base / "home", monkeypatch=monkeypatch)
        elapsed = time.perf_counter() - start
        _outcome("profiles", code)
        assert elapsed < LIMIT_S, (done, argv, elapsed)
        assert code in (0, 2) and "Traceback" not in err, (done, argv, code, err)
        if code == 2:
            assert_one_line_error((code, out, err))
        else:  # a mutation the checks accept must leave a profile that still ranks sensibly
            assert argv[0] == "doctor" or json.loads(out)["recommendations"], (done, out[:500])
    assert _snapshot(base) == before, f"{done}: loading a profile wrote something"
