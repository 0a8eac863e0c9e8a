"""Measurement overhead of each meter, as a share of a calibration run's wall time.

For each meter: time N start()/stop() pairs (median of repeats) and compare with the wall time of a
typical calibration run measured in the same process (a small MLP, default protocol: 10 metered windows).
RAPL runs on a fake powercap tree (this machine has none), so its figure is the sysfs-read cost.

    python benchmarks/meter_overhead.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from measurement.architecture import size_architecture  # noqa: E402
from measurement.datasets import load_dataset  # noqa: E402
from measurement.harness import train_and_measure  # noqa: E402
from measurement.meters.estimate import EstimateMeter  # noqa: E402
from measurement.meters.rapl import RaplMeter  # noqa: E402
from measurement.meters.replay import ReplayMeter  # noqa: E402
from measurement.meters.trace import TraceMeter  # noqa: E402
from measurement.records import TrainConfig  # noqa: E402

PAIRS, REPEATS = 200, 7


def fake_powercap(root: Path) -> Path:
    for zone, name in (("intel-rapl:0", "package-0"), ("intel-rapl:0:0", "core"), ("intel-rapl:0:1", "dram")):
        (root / zone).mkdir(parents=True)
        (root / zone / "name").write_text(name)
        (root / zone / "energy_uj").write_text("123456789")
        (root / zone / "max_energy_range_uj").write_text("262143328850")
    return root


def pair_cost_s(meter) -> float:
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(PAIRS):
            meter.start()
            meter.stop()
        samples.append((time.perf_counter() - start) / PAIRS)
    return statistics.median(samples)


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    now = time.time()
    trace = tmp / "trace.csv"
    trace.write_text("timestamp,watts\n" + "".join(f"{now - 60 + i * 0.5},{200 + i % 7}\n" for i in range(100_000)))
    meters = {
        "estimate": EstimateMeter(),
        "rapl (fake sysfs)": RaplMeter(fake_powercap(tmp / "powercap")),
        "replay": ReplayMeter(ROOT / "data" / "replay_readings.csv"),
        "trace (100k rows)": TraceMeter(trace, max_gap_s=1e9),
    }
    dataset = load_dataset("synthetic:8192,16,4")
    arch = size_architecture("rectangle", 4, 2**12, dataset.input_dim, dataset.output_dim)
    runs = []
    for _ in range(3):
        result = train_and_measure(arch, dataset, EstimateMeter(), TrainConfig())
        runs.append((result.wall_s, len(result.train.windows) + len(result.inference.windows)))
    run_wall_s = statistics.median(w for w, _ in runs)
    windows = runs[0][1]
    print(f"calibration run: {arch.label}, median wall {run_wall_s:.2f} s over 3 runs, {windows} metered windows")
    print(f"{'meter':<20} {'start+stop (µs)':>16} {'per run (ms)':>13} {'share of run':>13}")
    for name, meter in meters.items():
        cost = pair_cost_s(meter)
        print(f"{name:<20} {cost * 1e6:>16.1f} {cost * windows * 1e3:>13.3f} {cost * windows / run_wall_s:>13.4%}")


if __name__ == "__main__":
    main()
