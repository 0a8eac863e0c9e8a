"""Write the stored-sweep fixtures: a small calibration store, interrupted part-way, and its plan inputs.

``calibration_v3.sqlite`` was written by this script with the code of commit 1f18c89 (store schema 3, the
sweep planner as one module): a two-data-set calibration planned for a fake machine, measured with the
estimate meter in short windows and stopped after :data:`COMMITTED` of its runs, so it holds committed runs
and runs still to do. ``calibration_v3.json`` records what the plan was made from and the plan's digest;
``tests/measurement/test_stored_sweeps.py`` re-plans from it and resumes a copy of the store, so a change that
moves the planner, the plan's digest or the store's reading of older files shows there.

Run from the repository root (it overwrites both files)::

    .venv/bin/python tests/data/stores/make_stores.py

Run today it writes a store of today's schema (and a plan that records its sentinel); the committed file stays
the one the old code wrote.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from measurement.datasets import load_dataset
from measurement.hardware import Fingerprint
from measurement.meters.estimate import EstimateMeter
from measurement.records import TrainConfig
from measurement.store import RunStore
from measurement.sweep import DataDims, SweepKind, SweepSpec, plan_calibration_across, run_sweep

HERE = Path(__file__).resolve().parent
STORE = HERE / "calibration_v3.sqlite"
INPUTS = HERE / "calibration_v3.json"
DATASETS = ("synthetic:300,4,3", "synthetic:300,12,2")
FINGERPRINT = {
    "cpu_model": "fake",
    "logical_cores": 2,
    "memory_bytes": 8 * 2**30,
    "machine": "x86_64",
    "caches": [
        {"level": 1, "kind": "Data", "size_bytes": 32 * 1024, "shared_cpus": 1},
        {"level": 2, "kind": "Unified", "size_bytes": 512 * 1024, "shared_cpus": 1},
        {"level": 3, "kind": "Unified", "size_bytes": 32 * 2**20, "shared_cpus": 2},
    ],
}
CONFIG = {"windows": 2, "window_s": 0.01, "warmup_steps": 1, "batch_size": 64, "inference_batch_size": 64}
BUDGET_S = 60.0
SEED = 3
MAX_RUNS = 10
COMMITTED = 5


def plan_inputs() -> dict:
    """What the plan is made from (and, once written, its digest)."""
    return {
        "datasets": list(DATASETS),
        "fingerprint": FINGERPRINT,
        "config": CONFIG,
        "budget_s": BUDGET_S,
        "seed": SEED,
        "max_runs": MAX_RUNS,
        "committed": COMMITTED,
    }


def build_spec(inputs: dict) -> tuple[SweepSpec, tuple]:
    """The sweep the inputs describe, planned as ``advisor calibrate`` plans one, and its loaded data sets."""
    fp = Fingerprint.from_dict(inputs["fingerprint"])
    config = TrainConfig(**inputs["config"])
    datasets = tuple(load_dataset(name) for name in inputs["datasets"])
    dims = [DataDims(d.input_dim, d.output_dim, int(d.x_test.shape[0]), d.train_samples) for d in datasets]
    plan = plan_calibration_across(
        fp, dims, inputs["budget_s"], config, seed=inputs["seed"], max_runs=inputs["max_runs"]
    )
    spec = SweepSpec(
        kind=SweepKind.CALIBRATE,
        dataset=inputs["datasets"][0],
        dataset_hash=datasets[0].fingerprint(),
        config=config,
        runs=tuple(plan),
        budget_s=inputs["budget_s"],
        extra_datasets=tuple(
            (name, d.fingerprint()) for name, d in zip(inputs["datasets"][1:], datasets[1:], strict=True)
        ),
        sentinel=plan.sentinel,
    )
    return spec, datasets


def main() -> int:
    inputs = plan_inputs()
    spec, datasets = build_spec(inputs)
    STORE.unlink(missing_ok=True)
    calls = {"n": 0}

    def stop_after_committed() -> bool:
        calls["n"] += 1
        return calls["n"] > inputs["committed"]

    fp = Fingerprint.from_dict(inputs["fingerprint"])
    with RunStore(STORE) as store:
        summary = run_sweep(
            spec, store, EstimateMeter(), datasets, fp, 3600.0, idle_s=0, should_stop=stop_after_committed
        )
    assert summary.committed_now == inputs["committed"] and summary.interrupted, summary
    INPUTS.write_text(json.dumps(inputs | {"digest": spec.digest(), "planned": len(spec.runs)}, indent=2) + "\n")
    print(f"wrote {STORE.name}: sweep {summary.sweep_id}, {summary.committed_now} of {len(spec.runs)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
