"""Measurement overhead of each meter, as a share of a calibration run's wall time.

For each meter: time N start()/stop() pairs (median of repeats) and compare with the wall time of a
typical calibration run measured in the same process (a small MLP, default protocol: 10 metered windows).
RAPL runs on a fake powercap tree (this machine has none), so its figure is the sysfs-read cost.

    python benchmarks/meter_overhead.py [--out-dir DIR | --no-page]

After printing, it writes a dated results page to docs/results/ (``benchmarks/report.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import add_page_options, markdown_table, page_from_args  # noqa: E402
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


@dataclass(frozen=True)
class MeterCost:
    """One meter's cost: seconds per start()+stop() pair, and its share of a calibration run."""

    meter: str
    pair_s: float
    windows: int
    run_wall_s: float

    @property
    def per_run_s(self) -> float:
        """The meter's cost over one run's metered windows."""
        return self.pair_s * self.windows

    @property
    def share(self) -> float:
        """That cost as a share of the run's wall time."""
        return self.per_run_s / self.run_wall_s


def build_meters(tmp: Path) -> dict[str, object]:
    """The meters to time: estimate, RAPL on a fake powercap tree, replay, and a trace of 100k rows."""
    now = time.time()
    trace = tmp / "trace.csv"
    trace.write_text("timestamp,watts\n" + "".join(f"{now - 60 + i * 0.5},{200 + i % 7}\n" for i in range(100_000)))
    return {
        "estimate": EstimateMeter(),
        "rapl (fake sysfs)": RaplMeter(fake_powercap(tmp / "powercap")),
        "replay": ReplayMeter(ROOT / "data" / "replay_readings.csv"),
        "trace (100k rows)": TraceMeter(trace, max_gap_s=1e9),
    }


def calibration_run() -> tuple[str, float, int]:
    """A typical calibration run, three times: its label, median wall time (s) and metered windows."""
    dataset = load_dataset("synthetic:8192,16,4")
    arch = size_architecture("rectangle", 4, 2**12, dataset.input_dim, dataset.output_dim)
    runs = []
    for _ in range(3):
        result = train_and_measure(arch, dataset, EstimateMeter(), TrainConfig())
        runs.append((result.wall_s, len(result.train.windows) + len(result.inference.windows)))
    return arch.label, statistics.median(w for w, _ in runs), runs[0][1]


def body_md(label: str, run_wall_s: float, costs: list[MeterCost]) -> str:
    """The results page's body: the run it is compared with, and one row per meter."""
    rows = [(c.meter, f"{c.pair_s * 1e6:.1f} µs", f"{c.per_run_s * 1e3:.3f} ms", f"{c.share:.4%}") for c in costs]
    head = (
        f"Median of {REPEATS} × {PAIRS} start()+stop() pairs per meter, against a calibration run "
        f"({label}, median wall {run_wall_s:.2f} s over 3 runs, {costs[0].windows} metered windows).\n\n"
    )
    return head + markdown_table(("meter", "start+stop", "per run", "share of the run"), rows) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Time every meter, print the table, write the results page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_page_options(parser)
    args = parser.parse_args(argv)
    label, run_wall_s, windows = calibration_run()
    with tempfile.TemporaryDirectory() as tmp:
        costs = [
            MeterCost(meter=name, pair_s=pair_cost_s(meter), windows=windows, run_wall_s=run_wall_s)
            for name, meter in build_meters(Path(tmp)).items()
        ]
    print(f"calibration run: {label}, median wall {run_wall_s:.2f} s over 3 runs, {windows} metered windows")
    print(f"{'meter':<20} {'start+stop (µs)':>16} {'per run (ms)':>13} {'share of run':>13}")
    for c in costs:
        print(f"{c.meter:<20} {c.pair_s * 1e6:>16.1f} {c.per_run_s * 1e3:>13.3f} {c.share:>13.4%}")
    page_from_args(
        args, "meter-overhead", "Meter overhead against a calibration run", body_md(label, run_wall_s, costs)
    )


if __name__ == "__main__":
    main()
