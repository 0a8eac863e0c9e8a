"""Successive halving for probes: promotions are the best third by score, epochs multiply, the budget is shared
across rungs, the rungs re-plan identically from the store, and an interrupted probe resumes where it stopped."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest

from measurement.datasets import load_dataset
from measurement.records import PlannedRun, RunScore, TrainConfig, config_key
from measurement.store import RunStore
from measurement.sweep import SweepSpec, run_sweep_on_pool
from measurement.sweep.events import HalvingSchedule, SweepEventKind
from measurement.sweep.halving import (
    MIN_RUNG0_CONFIGS,
    ProbeDesign,
    capped,
    first_rung,
    next_rung,
    plan_schedule,
    promote,
    run_halving,
    with_first_rung,
)
from measurement.sweep.plan import PROBE_BATCH_SIZES, PROBE_LEARNING_RATES, DataDims
from tests.fakes.measurement import FAST, FP
from tests.fakes.pool import FakePool, fake_result

DATASET = "synthetic:300,6,3"
SCHEDULE = HalvingSchedule(rungs=3, epochs0=2, configs0=9, budget_s=600.0)
RUNS = tuple(
    PlannedRun("rectangle", depth, size, batch, learning_rate=lr)
    for depth, size, batch, lr in itertools.islice(
        itertools.product((2, 3, 4), (64, 256, 1024), (32,), (1e-3,)), SCHEDULE.configs0
    )
)
ACCURACY = {run.config_key: 0.1 * ((5 * i) % 9) for i, run in enumerate(RUNS)}
"""The fake score of each config (any seed): 0, 0.5, 0.1, 0.6, ... (distinct, not in plan order)."""


def _accuracy(run_key: str) -> float:
    return ACCURACY[config_key(run_key)]


def _seed(run: PlannedRun, repeat: int) -> PlannedRun:
    return dataclasses.replace(run, repeat=repeat)


def _rung_keys(best: list[PlannedRun]) -> dict[int, list[str]]:
    """The run keys stored per epochs by a whole probe: every config, the best three on a new seed, the best
    on a third."""
    return {2: sorted(r.key for r in RUNS), 6: sorted(_seed(r, 1).key for r in best[:3]), 18: [_seed(best[0], 2).key]}


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(DATASET)


def _first(dataset) -> SweepSpec:
    spec = SweepSpec("probe", DATASET, dataset.fingerprint(), dataclasses.replace(FAST, epochs=2), RUNS, 600.0)
    return with_first_rung(spec, SCHEDULE)


def _score(key: str, epochs: int, lost: bool = False) -> RunScore:
    return RunScore(key, 100, None if lost else 1.0, _accuracy(key) + 0.001 * epochs)


def test_promotions_are_the_best_third_by_score_ties_to_fewer_parameters() -> None:
    runs = [PlannedRun("rectangle", 2, size, 32) for size in (64, 128, 256, 512, 1024, 2048)]
    scores = [RunScore(r.key, r.size, 0.5, acc) for r, acc in zip(runs, (0.7, 0.9, 0.7, 0.2, 0.9, 0.8), strict=True)]
    assert promote(scores, runs, 2) == (runs[1], runs[4])  # 0.9 and 0.9: fewer parameters first
    assert promote(scores, runs, 3) == (runs[1], runs[4], runs[5])
    assert promote(scores[:2], runs, 3) == (runs[1], runs[0])  # only committed runs can be promoted
    regression = [RunScore(runs[0].key, 64, 0.3, None), RunScore(runs[1].key, 128, None, None),
                  RunScore(runs[2].key, 256, 0.1, None)]  # fmt: skip
    assert promote(regression, runs, 3) == (runs[2], runs[0], runs[1])  # lower loss first; a diverged run last


def test_each_rung_continues_a_third_of_the_configs_for_three_times_the_epochs(dataset) -> None:
    first = _first(dataset)
    second = next_rung(first, [_score(r.key, 2) for r in RUNS])
    assert second is not None and second.rung is not None
    assert second.config.epochs == 6 and second.rung.index == 1 and second.rung.first == first.digest()
    best = sorted(RUNS, key=lambda r: -ACCURACY[r.config_key])[:3]
    assert second.runs == tuple(_seed(r, 1) for r in best)  # continued on a new seed: replicates
    third = next_rung(second, [_score(r.key, 6) for r in second.runs])
    assert third is not None and third.config.epochs == 18 and third.runs == (_seed(best[0], 2),)
    assert next_rung(third, [_score(best[0].key, 18)]) is None  # the last rung
    assert next_rung(first, []) is None  # nothing committed: nothing to continue
    assert len({first.digest(), second.digest(), third.digest()}) == 3  # each rung is a sweep of its own


def test_the_schedule_gives_rung_0_many_short_runs_that_fit_its_share() -> None:
    design = ProbeDesign(DataDims(64, 10, 360, 1437), TrainConfig(), PROBE_LEARNING_RATES, PROBE_BATCH_SIZES)
    for budget_s in (300.0, 1200.0):
        schedule = plan_schedule(design, budget_s)
        plan = first_rung(design, schedule)
        assert 2 <= schedule.rungs <= 4 and schedule.epochs0 & (schedule.epochs0 - 1) == 0  # a power of two
        assert len(plan) == schedule.configs0 >= MIN_RUNG0_CONFIGS
        predicted_s = sum(design.run_s(run, schedule.epochs0) for run in plan)
        assert predicted_s <= budget_s / schedule.rungs
        assert {r.learning_rate for r in plan} == set(PROBE_LEARNING_RATES)
    assert plan_schedule(design, 1200.0).configs0 > plan_schedule(design, 300.0).configs0
    short = plan_schedule(design, 30.0)  # too short for 27 runs: two rungs of what fits
    assert short.rungs == 2 and short.epochs0 == 1 and 0 < short.configs0 < MIN_RUNG0_CONFIGS


def test_max_runs_caps_the_runs_of_all_rungs_together() -> None:
    schedule = HalvingSchedule(rungs=4, epochs0=4, configs0=40, budget_s=300.0)
    assert schedule.total_runs() == 40 + 14 + 5 + 2
    for max_runs in (1, 2, 8, 13, 60, 1000):
        held = capped(schedule, max_runs)
        assert held.total_runs() <= max_runs and held.epochs0 == schedule.epochs0
        assert held.configs0 <= schedule.configs0
    assert (capped(schedule, 8).configs0, capped(schedule, 8).rungs) == (5, 3)  # 5 + 2 + 1, not 4 + 2 + 1 + 1
    assert (capped(schedule, 4).configs0, capped(schedule, 4).rungs) == (3, 2)  # never one config trained twice
    assert (capped(schedule, 2).configs0, capped(schedule, 2).rungs) == (2, 1)
    assert capped(schedule, 1000) == schedule


class _Probe:
    """Runs rungs on a fake pool whose runs score by :data:`ACCURACY`; records shares and trained epochs."""

    def __init__(self, store: RunStore, dataset, stop_after: int | None = None) -> None:
        self.store, self.dataset, self.stop_after = store, dataset, stop_after
        self.shares: list[float] = []
        self.trained: list[tuple[str, int]] = []

    def result(self, run):
        self.trained.append((run.run_key, run.config.epochs))
        score = _accuracy(run.run_key) + 0.001 * run.config.epochs
        return dataclasses.replace(fake_result(run.arch), test_accuracy=score)

    def stop(self) -> bool:
        return self.stop_after is not None and len(self.trained) >= self.stop_after

    def rung(self, spec, share_s, progress):
        self.shares.append(share_s)
        pool = FakePool(workers=("tcp://w1:1",), result=self.result)  # one run at a time: stops are exact
        return run_sweep_on_pool(spec, self.store, pool, self.dataset, FP, ("replay", "measured"), share_s,
                                 progress=progress, should_stop=self.stop)  # fmt: skip


def _stored(store: RunStore) -> dict[int, list[str]]:
    """The committed run keys per rung (its epochs), sorted."""
    rows = store.conn.execute(
        "SELECT json_extract(s.plan_json, '$.config.epochs'), r.run_key FROM runs r JOIN sweeps s ON s.id = r.sweep_id"
    )
    found: dict[int, list[str]] = {}
    for epochs, key in rows:
        found.setdefault(epochs, []).append(key)
    return {epochs: sorted(keys) for epochs, keys in found.items()}


def test_a_probe_runs_its_rungs_each_a_sweep_with_its_share_of_the_budget(tmp_path: Path, dataset) -> None:
    left = iter([600.0, 500.0, 450.0])  # the budget left as each rung starts
    events = []
    with RunStore(tmp_path / "s.sqlite") as store:
        probe = _Probe(store, dataset)
        outcome = run_halving(_first(dataset), store, store.hardware_id(FP), probe.rung, lambda: next(left),
                              events.append)  # fmt: skip
        stored = _stored(store)
    assert outcome.complete and len(outcome.summaries) == 3
    assert probe.shares == [200.0, 250.0, 450.0]  # equal shares of what is left: unspent time carries forward
    best = sorted(RUNS, key=lambda r: -ACCURACY[r.config_key])
    assert stored == _rung_keys(best)
    assert [e.label for e in events if e.kind is SweepEventKind.RUNG] == [
        "rung 1/3: 9 runs of 2 epochs", "rung 2/3: 3 runs of 6 epochs", "rung 3/3: 1 runs of 18 epochs"]  # fmt: skip


def test_an_interrupted_probe_resumes_the_same_rungs_and_skips_committed_runs(tmp_path: Path, dataset) -> None:
    with RunStore(tmp_path / "s.sqlite") as store:
        first = _Probe(store, dataset, stop_after=10)  # rung 0's nine, then one of rung 1's three
        stopped = run_halving(_first(dataset), store, store.hardware_id(FP), first.rung, lambda: 600.0)
        assert stopped.summaries[-1].interrupted and not stopped.complete
        again = _Probe(store, dataset)
        resumed = run_halving(_first(dataset), store, store.hardware_id(FP), again.rung, lambda: 600.0)
        stored = _stored(store)
        sweeps = store.conn.execute("SELECT COUNT(*) FROM sweeps").fetchone()[0]
    assert resumed.complete and sweeps == 3  # the same three rung plans: no sweep planned twice
    assert resumed.rungs[0][1] is None  # rung 0 was closed (rung 1 was planned from it): not run again
    assert [epochs for _, epochs in again.trained] == [6, 6, 18]  # the two runs left of rung 1, then rung 2
    assert not {key for key, _ in first.trained[9:]} & {key for key, epochs in again.trained if epochs == 6}
    best = sorted(RUNS, key=lambda r: -ACCURACY[r.config_key])
    assert stored == _rung_keys(best)


def test_a_rung_cut_short_by_its_share_stays_closed_on_resume(tmp_path: Path, dataset) -> None:
    """A rung that ended partial and was followed by the next rung is not continued later: the plans after it
    were made from its results as they stood, and are found again."""
    with RunStore(tmp_path / "s.sqlite") as store:
        hw = store.hardware_id(FP)
        spec = _first(dataset)
        short = dataclasses.replace(spec, runs=RUNS)  # rung 0 ran 6 of its runs, then rung 1 began
        probe = _Probe(store, dataset, stop_after=6)
        probe.rung(short, 600.0, lambda e: None)
        scores = store.run_scores(store.find_sweep(spec.digest(), hw)[0])
        second = next_rung(spec, scores)
        assert second is not None and len(second.runs) == 2  # the best third of the six it ran
        probe.stop_after = None
        probe.rung(second, 600.0, lambda e: None)
        again = _Probe(store, dataset)
        outcome = run_halving(spec, store, hw, again.rung, lambda: 600.0)
    assert outcome.rungs[0][1] is None and outcome.rungs[1][1] is None  # both closed
    assert [epochs for _, epochs in again.trained] == [18]  # only the last rung ran
