"""Write the schema-5 probe fixture: a short probe sweep at a learning rate other than the default.

``probe_v5.sqlite`` was written by this script with the code of commit e4ea620 (store schema 5, before runs
recorded their learning rate): a probe of ``synthetic:300,6,3`` at Adam lr 3e-4, measured with the estimate
meter in short windows. ``tests/measurement/test_store_schema.py`` upgrades a copy and checks that each run's
learning rate is filled from its sweep's stored config.

Run from the repository root (it overwrites the file)::

    .venv/bin/python tests/data/stores/make_probe_store.py

Run today it writes a store of today's schema; the committed file stays the one the old code wrote.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from measurement.datasets import load_dataset
from measurement.hardware import Fingerprint
from measurement.meters.estimate import EstimateMeter
from measurement.records import TrainConfig
from measurement.store import RunStore
from measurement.sweep import SweepKind, SweepSpec, plan_probe, run_sweep

HERE = Path(__file__).resolve().parent
STORE = HERE / "probe_v5.sqlite"
DATASET = "synthetic:300,6,3"
LEARNING_RATE = 3e-4
FINGERPRINT = {"cpu_model": "fake", "logical_cores": 2, "memory_bytes": 8 * 2**30, "machine": "x86_64", "caches": []}
CONFIG = TrainConfig(learning_rate=LEARNING_RATE, epochs=2, windows=2, window_s=0.01, warmup_steps=1, batch_size=64,
                     inference_batch_size=64)  # fmt: skip
RUNS = 3


def main() -> None:
    """Plan, run and write the store (replacing any earlier one)."""
    dataset = load_dataset(DATASET)
    test_samples = int(dataset.x_test.shape[0])
    plan = plan_probe(dataset.input_dim, dataset.output_dim, 600.0, CONFIG, test_samples, dataset.train_samples,
                      max_runs=RUNS)  # fmt: skip
    spec = SweepSpec(SweepKind.PROBE, DATASET, dataset.fingerprint(), CONFIG, plan.runs, 600.0, sentinel=plan.sentinel)
    STORE.unlink(missing_ok=True)
    with RunStore(STORE) as store:
        run_sweep(spec, store, EstimateMeter(), dataset, Fingerprint.from_dict(FINGERPRINT), 600.0, idle_s=0)
    with sqlite3.connect(STORE) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")


if __name__ == "__main__":
    main()
