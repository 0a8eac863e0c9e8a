"""A store written by older code still opens, its plan re-plans to the same digest, and its sweep resumes.

The store under ``tests/data/stores`` was written by ``make_stores.py`` (see its docstring for the commit):
a calibration over two data sets, interrupted after some of its runs. Tests work on a copy, since opening
a store of an older schema upgrades it in place.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from measurement.hardware import Fingerprint
from measurement.meters.estimate import EstimateMeter
from measurement.records import drift
from measurement.store import RunStore
from measurement.sweep import SweepSpec, run_sweep
from tests.data.stores.make_stores import build_spec

STORES = Path(__file__).resolve().parents[1] / "data" / "stores"
INPUTS = json.loads((STORES / "calibration_v3.json").read_text())


@pytest.fixture(scope="module")
def replanned() -> tuple[SweepSpec, tuple]:
    """The plan made again from the recorded inputs (planning takes seconds: once per module)."""
    return build_spec(INPUTS)


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    copy = tmp_path / "runs.sqlite"
    shutil.copyfile(STORES / "calibration_v3.sqlite", copy)
    return copy


def _stored_plan(path: Path) -> tuple[str, dict]:
    with sqlite3.connect(path) as conn:
        plan_hash, plan_json = conn.execute("SELECT plan_hash, plan_json FROM sweeps").fetchone()
    return plan_hash, json.loads(plan_json)


def test_the_old_store_opens_with_its_runs(old_store: Path) -> None:
    with RunStore(old_store, readonly=True) as store:
        frame = store.frame()
        (found,) = [row for row in store.conn.execute("SELECT id, kind, status FROM sweeps")]
        committed = store.committed_runs(found[0])
    assert found[1:] == ("calibrate", "interrupted")
    assert len(committed) == INPUTS["committed"] and all(run.ok for run in committed)
    assert set(frame["run_key"]) == {run.run_key for run in committed}
    assert set(frame["dataset"]) == set(INPUTS["datasets"])  # runs on both data sets were committed
    assert frame["sentinel"].isna().all() and _store_sentinel(old_store) is None  # not recorded by the old code
    assert drift(frame).config_key == committed[0].run_key.rsplit("/r", 1)[0]  # inferred: planned first


def _store_sentinel(path: Path) -> str | None:
    with RunStore(path, readonly=True) as store:
        return store.sweep_sentinel(1)


def test_the_same_inputs_plan_the_stored_digest(old_store: Path, replanned) -> None:
    spec, _ = replanned
    plan_hash, plan = _stored_plan(old_store)
    assert spec.digest() == INPUTS["digest"] == plan_hash  # the recorded sentinel stays out of the digest
    assert "sentinel" not in plan and spec.sentinel == spec.runs[0].config_key
    assert len(spec.runs) == INPUTS["planned"]
    assert SweepSpec.from_dict(plan).digest() == plan_hash  # the stored plan reads back to the same digest


@pytest.mark.parametrize("source", ["replanned", "stored"])
def test_resume_skips_the_committed_runs_and_finishes(old_store: Path, replanned, source: str) -> None:
    spec, datasets = replanned
    spec = spec if source == "replanned" else SweepSpec.from_dict(_stored_plan(old_store)[1])
    fp = Fingerprint.from_dict(INPUTS["fingerprint"])
    with RunStore(old_store) as store:
        before = {run.run_key for run in store.committed_runs(1)}
        summary = run_sweep(spec, store, EstimateMeter(), datasets, fp, 3600.0, idle_s=0)
        after = [run.run_key for run in store.committed_runs(summary.sweep_id)]
        statuses = [row[0] for row in store.conn.execute("SELECT status FROM sweeps")]
    assert summary.sweep_id == 1 and statuses == ["complete"]  # the old sweep continued, no new one
    assert summary.already_done == INPUTS["committed"] == len(before)
    assert summary.committed_now == INPUTS["planned"] - INPUTS["committed"] and summary.complete
    assert after[: len(before)] == [r.key for r in spec.runs if r.key in before]  # kept, in their order
    assert set(after) == {r.key for r in spec.runs} and len(after) == len(set(after))  # nothing measured twice
    # a re-made plan records its sentinel on the old sweep; the stored plan knows none, and the sweep stays so
    assert _store_sentinel(old_store) == (spec.sentinel if source == "replanned" else None)
