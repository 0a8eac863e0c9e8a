"""Transfer benchmark: networks at input widths the calibration never saw, measured here and predicted by a profile.

What a user does: calibrate once, then design networks for their own data. 32 off-grid configs — all 8 shapes
twice at each width, depths 2–20 (11, 13, 15, 17, 19 included), 1.5 k to 9.5 M parameters (none a 2^k grid
size), batch sizes 32/256/1024 — on two synthetic data sets the calibration does not use (784 inputs → 10
classes, 100 inputs → 5 classes) are measured with the project's harness and the meter the ladder picks
(the estimate meter on a VM; 1 thread), in two interleaved passes (pass 2 in reverse order, so a slow drift
cancels in the mean). The measured value is the mean of the passes; the noise floor is the median relative
difference between them. Each config is predicted from the profile (median and 90% predictive interval of
one new measurement) and scored per phase, each against the acceptance bounds of issue 12,
against a params-proportional line fitted to these very measurements, and against gradient-boosted trees
(``models.baselines``) fit on the runs the profile was fit on: the shipped profile's ``data/reference/runs.csv``,
a fresh calibration's store, or ``--runs FILE`` (without it, a ``--profile``'s table has no trees).

    python benchmarks/transfer.py [--profile DIR [--runs FILE] | --calibrate-first 10m [--keep DIR]]
                                  [--also-profile DIR] [--measurements FILE [--replay]] [--quick] [--json OUT]
                                  [--out-dir DIR | --no-page]

``--measurements`` keeps the raw measurements (written as soon as they are taken); ``--replay`` scores them
again against (other) profiles without measuring; ``--also-profile`` scores one measurement run against two.
After printing, it writes a dated results page to docs/results/ (``benchmarks/report.py``; a ``--quick`` run's
page is ``transfer-quick``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.report import add_page_options, page_from_args  # noqa: E402
from benchmarks.transfer_report import (  # noqa: E402, F401  (the scores and the page, importable from here too)
    BOUNDS,
    PHASES,
    PhaseScore,
    acceptance,
    config_rows,
    page_body,
    params_line_coefficient,
    print_score,
    print_table,
    score,
    score_rows,
    write_json,
)
from measurement.datasets import TEST_FRACTION  # noqa: E402

WIDTHS = ((784, 10), (100, 5))
"""(input, output) widths of the two held-out data sets; the calibration never uses either."""
SAMPLES, QUICK_SAMPLES = 2048, 512
WINDOWS, WINDOW_S = 5, 0.25
QUICK_WINDOWS, QUICK_WINDOW_S = 3, 0.05
DESIGN: dict[tuple[int, int], tuple[tuple[str, int, int, int], ...]] = {
    (784, 10): (
        ("rectangle", 3, 1_800, 32),
        ("trapezoid", 5, 12_000, 256),
        ("exponential", 7, 60_000, 1024),
        ("wide_first_2x", 11, 250_000, 32),
        ("wide_first_4x", 13, 900_000, 256),
        ("wide_first_8x", 6, 3_000_000, 1024),
        ("wide_first_16x", 17, 7_500_000, 256),
        ("rectangle_residual", 9, 450_000, 1024),
        ("rectangle", 15, 2_000_000, 32),
        ("trapezoid", 2, 9_000_000, 256),
        ("exponential", 19, 150_000, 32),
        ("rectangle_residual", 4, 35_000, 256),
        ("wide_first_2x", 3, 5_500, 1024),
        ("wide_first_4x", 8, 25_000, 32),
        ("wide_first_8x", 20, 600_000, 256),
        ("wide_first_16x", 2, 1_300_000, 1024),
    ),
    (100, 5): (
        ("rectangle_residual", 3, 1_100, 256),
        ("wide_first_16x", 5, 4_000, 32),
        ("wide_first_8x", 11, 20_000, 1024),
        ("wide_first_4x", 2, 80_000, 256),
        ("wide_first_2x", 7, 300_000, 32),
        ("exponential", 13, 1_200_000, 1024),
        ("trapezoid", 17, 5_000_000, 256),
        ("rectangle", 9, 9_500_000, 256),
        ("rectangle", 2, 2_500, 1024),
        ("trapezoid", 15, 45_000, 32),
        ("exponential", 4, 7_000, 256),
        ("rectangle_residual", 19, 3_500_000, 32),
        ("wide_first_2x", 14, 700_000, 1024),
        ("wide_first_4x", 6, 180_000, 32),
        ("wide_first_8x", 3, 1_500, 256),
        ("wide_first_16x", 10, 2_200_000, 1024),
    ),
}
QUICK_DESIGN: dict[tuple[int, int], tuple[tuple[str, int, int, int], ...]] = {
    (784, 10): (("rectangle", 3, 1_800, 32), ("wide_first_4x", 11, 25_000, 256)),
    (100, 5): (("trapezoid", 5, 7_000, 1024), ("exponential", 13, 45_000, 32)),
}
REFERENCE_RUNS = ROOT / "data" / "reference" / "runs.csv"
"""The runs the shipped reference profile was fit on."""
TREES_COLUMNS = ("trees_j", "trees_p05_j", "trees_p95_j")
"""The gradient-boosted baseline's prediction and 90% interval (J per datum) in a results table (NaN: none)."""


@dataclass(frozen=True)
class TransferConfig:
    """One network to measure and predict: shape, depth, target size, widths and training batch size."""

    shape: str
    depth: int
    size: int
    input_dim: int
    output_dim: int
    batch_size: int

    @property
    def label(self) -> str:
        """A short label, e.g. ``trapezoid/d5/12000/b256@784``."""
        return f"{self.shape}/d{self.depth}/{self.size}/b{self.batch_size}@{self.input_dim}"


@dataclass(frozen=True)
class Measurement:
    """Two passes of one config: energy per datum (J) of each phase in each pass (NaN where rejected)."""

    config: TransferConfig
    params: int
    pass1_j: dict[str, float]
    pass2_j: dict[str, float]

    def measured_j(self, phase: str) -> float:
        """The mean of the two passes (NaN when either was rejected)."""
        return (self.pass1_j[phase] + self.pass2_j[phase]) / 2


def design(quick: bool = False) -> tuple[TransferConfig, ...]:
    """The configs to measure: the full design (32) or the quick one (4)."""
    table = QUICK_DESIGN if quick else DESIGN
    return tuple(
        TransferConfig(shape=shape, depth=depth, size=size, input_dim=i, output_dim=o, batch_size=batch)
        for (i, o), rows in table.items()
        for shape, depth, size, batch in rows
    )


def measure_twice(
    configs: Sequence[TransferConfig],
    measure: Callable[[TransferConfig], tuple[int, dict]],
    progress: Callable[[str], None] = lambda line: None,
) -> list[Measurement]:
    """Measure every config twice: pass 1 in order, pass 2 in reverse order (drift cancels in the mean).

    ``measure(config)`` returns the realised parameter count and ``{phase: energy per datum J}``.
    """
    passes: list[dict[TransferConfig, tuple[int, dict]]] = [{}, {}]
    for index, order in enumerate((list(configs), list(reversed(configs)))):
        for n, config in enumerate(order, start=1):
            passes[index][config] = measure(config)
            train_j = passes[index][config][1]["train"]
            progress(f"pass {index + 1} [{n}/{len(order)}] {config.label}: train {train_j:.3g} J/datum")
    return [
        Measurement(config=c, params=passes[0][c][0], pass1_j=passes[0][c][1], pass2_j=passes[1][c][1]) for c in configs
    ]


class HarnessMeasure:
    """Measure a config with the project's harness (``train_and_measure``), one data set per width, cached."""

    def __init__(
        self,
        meter,
        idle_power_w: float = 0.0,
        samples: int = SAMPLES,
        windows: int = WINDOWS,
        window_s: float = WINDOW_S,
    ) -> None:
        self.meter, self.idle_power_w, self.samples = meter, idle_power_w, samples
        self.windows, self.window_s = windows, window_s
        self._datasets: dict[tuple[int, int], object] = {}

    def dataset(self, config: TransferConfig):
        """The synthetic data set ``synthetic:N,I,O`` of a config's widths (built once)."""
        from measurement.datasets import load_dataset

        key = (config.input_dim, config.output_dim)
        if key not in self._datasets:
            self._datasets[key] = load_dataset(f"synthetic:{self.samples},{key[0]},{key[1]}")
        return self._datasets[key]

    def __call__(self, config: TransferConfig) -> tuple[int, dict[str, float]]:
        """Train and measure ``config`` once: its realised parameters and energy per datum of each phase (J;
        NaN for a phase the harness rejected)."""
        from measurement.architecture import size_architecture
        from measurement.harness import train_and_measure
        from measurement.records import TrainConfig

        arch = size_architecture(config.shape, config.depth, config.size, config.input_dim, config.output_dim)
        train = TrainConfig(batch_size=config.batch_size, windows=self.windows, window_s=self.window_s, threads=1)
        result = train_and_measure(arch, self.dataset(config), self.meter, train, self.idle_power_w)
        phases = {"train": result.train, "inference": result.inference}
        return arch.params, {p: math.nan if r.reject_reason else r.energy_per_datum_j for p, r in phases.items()}


def predict(
    profile, configs: Sequence[TransferConfig], inference_batch_size: int = 256, samples: int | None = None
) -> pd.DataFrame:
    """The profile's prediction of every config in both phases (inference at the harness's inference batch).

    With ``samples`` (the synthetic data sets' size) each phase's batch is the effective one the harness takes
    (a 1,638-row training split trains at batch 1024 in steps of 819).

    Returns:
        One row per (config, phase): ``label``, ``phase``, ``batch_size`` (of that phase), ``predicted_j`` (median),
        ``p05_j``/``p95_j`` (90% predictive interval of one new measurement).
    """
    frame = config_frame(configs, inference_batch_size, samples)
    table = profile.predict(frame.drop(columns="label"))
    return pd.DataFrame(
        {
            "label": frame["label"],
            "phase": frame["phase"],
            "batch_size": frame["batch_size"],
            "predicted_j": table["energy_median_j"],
            "p05_j": table["predictive_p05_j"],
            "p95_j": table["predictive_p95_j"],
        }
    )


def config_frame(
    configs: Sequence[TransferConfig], inference_batch_size: int = 256, samples: int | None = None
) -> pd.DataFrame:
    """One row per (config, phase) as :func:`predict` asks for it (with ``label``)."""
    rows = [
        {
            "shape": c.shape,
            "depth": c.depth,
            "size": c.size,
            "input_dim": c.input_dim,
            "output_dim": c.output_dim,
            "batch_size": c.batch_size if phase == "train" else inference_batch_size,
            "phase": phase,
            "label": c.label,
        }
        for c in configs
        for phase in PHASES
    ]
    frame = pd.DataFrame(rows)
    if samples is not None:  # the harness trains on the training split and infers over the test split
        frame["test_samples"] = max(1, round(TEST_FRACTION * samples))
        frame["train_samples"] = samples - frame["test_samples"]
    return frame


def trees_predictions(
    trees, configs: Sequence[TransferConfig], inference_batch_size: int = 256, samples: int | None = None
) -> pd.DataFrame:
    """The gradient-boosted baseline's prediction of every config in both phases, at the batches :func:`predict`
    uses: ``label``, ``phase`` and :data:`TREES_COLUMNS`."""
    from models.features import features_frame

    frame = config_frame(configs, inference_batch_size, samples)
    features = features_frame(frame.rename(columns={"size": "target_size"}))
    low, high = trees.interval_log(features)
    return pd.DataFrame(
        {
            "label": frame["label"],
            "phase": frame["phase"],
            "trees_j": np.exp(trees.predict_log(features)),
            "trees_p05_j": np.exp(low),
            "trees_p95_j": np.exp(high),
        }
    )


def fit_trees(profile, source: Path):
    """The gradient-boosted baseline fit on the runs in ``source`` (a run export or store) that ``profile`` was
    fit on (every run where the profile lists none), drift-corrected as the fit does.

    Raises:
        InputError: an unreadable source, or none of its runs is one the profile was fit on (one line).
    """
    from advisor.errors import InputError
    from advisor.evaluation import read_runs
    from measurement.records import calibration_noise_floor
    from measurement.store import RunStore
    from models.baselines import fit_boosted
    from models.features import correct_drift, training_frame

    if source.suffix == ".sqlite":
        with RunStore(source, readonly=True) as store:
            runs = store.frame()
    else:
        runs = read_runs(source)
    ids = set(getattr(profile.metadata, "run_ids", ()))
    if ids and "run_id" in runs:
        runs = runs[runs["run_id"].isin(ids)]
    if runs.empty or "run_id" not in runs:
        raise InputError(f"{source}: none of its runs is one the profile was fit on (--runs names those runs)")
    runs, _ = correct_drift(runs, calibration_noise_floor(runs))
    return fit_boosted(training_frame(runs))


def results_table(measurements: Sequence[Measurement], predictions: pd.DataFrame) -> pd.DataFrame:
    """Measured beside predicted, one row per (config, phase): ratio = predicted / measured, inside the 90%?"""
    rows = [
        {
            "label": m.config.label,
            "shape": m.config.shape,
            "depth": m.config.depth,
            "params": m.params,
            "input_dim": m.config.input_dim,
            "phase": phase,
            "pass1_j": m.pass1_j[phase],
            "pass2_j": m.pass2_j[phase],
            "measured_j": m.measured_j(phase),
        }
        for m in measurements
        for phase in PHASES
    ]
    table = pd.DataFrame(rows).merge(predictions, on=["label", "phase"], how="left", validate="one_to_one")
    for column in TREES_COLUMNS:  # predictions without the boosted baseline: no trees
        if column not in table:
            table[column] = math.nan
    table["ratio"] = table["predicted_j"] / table["measured_j"]
    table["inside_90"] = (table["measured_j"] >= table["p05_j"]) & (table["measured_j"] <= table["p95_j"])
    return table


def calibrate_first(calibration, fit, progress: Callable[[str], None] = print) -> Path:
    """A fresh ``advisor calibrate`` + ``advisor fit`` through the advisor library; the new profile's folder.

    Args:
        calibration: an ``advisor.calibration.CalibrationRequest`` (its store is the one ``fit`` reads).
        fit: an ``advisor.fitting.FitRequest``.
    """
    from advisor.calibration import prepare, run
    from advisor.fitting import fit_and_save

    def report(event) -> None:
        if event.kind == "run_finished" and event.done % 10 == 0:
            progress(f"calibrating: {event.done} runs, {event.elapsed_s:.0f} of {event.budget_s:.0f} s")

    job = prepare(calibration)
    summary = run(job, progress=report)
    floor = f"{summary.noise_floor:.1%}" if summary.noise_floor is not None else "n/a"
    progress(
        f"calibrated: {summary.committed_now} runs in {summary.elapsed_s:.0f} s ({job.meter_name}), "
        f"repeat-noise floor {floor}"
    )
    outcome = fit_and_save(fit)
    progress(f"fitted on {outcome.observations} observations; converged {outcome.diagnostics.converged}")
    return outcome.profile_dir


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, help="profile folder (default: the shipped reference profile)")
    parser.add_argument("--calibrate-first", metavar="BUDGET", help="calibrate + fit a fresh profile first (e.g. 10m)")
    parser.add_argument(
        "--runs",
        type=Path,
        metavar="FILE",
        help=(
            "the run export (or store) the profile was fit on, for the gradient-boosted trees (default: "
            "data/reference/runs.csv for the shipped profile, the fresh store with --calibrate-first)"
        ),
    )
    parser.add_argument("--quick", action="store_true", help="4 configs, short windows: a smoke test")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write every row and score as JSON")
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="with --calibrate-first: keep its store and profile in DIR (a new folder)",
    )
    parser.add_argument(
        "--also-profile", type=Path, metavar="DIR", help="score the same measurements against this second profile too"
    )
    parser.add_argument(
        "--measurements",
        type=Path,
        metavar="FILE",
        help=(
            "write the raw measurements here as soon as they are taken (JSON); with --replay, read them instead "
            "of measuring (re-score the same run)"
        ),
    )
    parser.add_argument("--replay", action="store_true", help="score the --measurements FILE, measure nothing")
    add_page_options(parser)
    args = parser.parse_args(argv)
    if args.replay and (args.measurements is None or not args.measurements.is_file()):
        parser.error("--replay needs --measurements FILE (an existing file)")
    if args.keep is not None and (args.calibrate_first is None or args.keep.exists()):
        parser.error("--keep needs --calibrate-first and a folder that does not exist yet")
    if args.profile is not None and args.calibrate_first is not None:
        parser.error("--profile and --calibrate-first exclude each other")
    return args


def load(args: argparse.Namespace, scratch: Path):
    """The profile to evaluate: fresh (``--calibrate-first``), named, or the shipped one."""
    from advisor.api import load_profile
    from advisor.parsing import duration_s

    if args.calibrate_first is not None:
        from advisor.calibration import CalibrationRequest
        from advisor.fitting import FitRequest

        store = scratch / "runs.sqlite"
        calibration = CalibrationRequest(budget_s=duration_s(args.calibrate_first), store=store)
        return load_profile(calibrate_first(calibration, FitRequest(store=store, out=scratch / "profile")))
    return load_profile(args.profile)


def trees_source(args: argparse.Namespace, scratch: Path) -> Path | None:
    """Where the runs the (first) profile was fit on are: ``--runs``, a fresh calibration's store, the shipped
    reference's export, or nowhere (a ``--profile`` without ``--runs``: no trees)."""
    if args.runs is not None:
        return args.runs
    if args.calibrate_first is not None:
        return scratch / "runs.sqlite"
    return REFERENCE_RUNS if args.profile is None else None


def harness(quick: bool) -> HarnessMeasure:
    """The meter the ladder picks (estimate on a VM), its idle power, and the harness settings."""
    from measurement.harness import measure_idle_power
    from measurement.meters.auto import MeterOptions, choose_meter

    meter, _ = choose_meter(MeterOptions())
    idle_w = measure_idle_power(meter)
    print(f"meter {meter.name} ({meter.kind.value}), idle {idle_w:.2f} W, 1 thread")
    if quick:
        return HarnessMeasure(meter, idle_w, samples=QUICK_SAMPLES, windows=QUICK_WINDOWS, window_s=QUICK_WINDOW_S)
    return HarnessMeasure(meter, idle_w)


@contextlib.contextmanager
def _scratch(keep: Path | None) -> Iterator[str]:
    """Where a fresh calibration's store and profile go: ``keep`` (created, kept) or a temporary folder."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="transfer-") as scratch:
            yield scratch
        return
    keep.mkdir(parents=True)
    yield str(keep)


def save_measurements(path: Path, measurements: Sequence[Measurement]) -> None:
    """The raw measurements as JSON (atomic): a crash in scoring never loses minutes of measuring."""
    from measurement.atomic import atomic_path

    rows = [{**asdict(m.config), "params": m.params, "pass1_j": m.pass1_j, "pass2_j": m.pass2_j} for m in measurements]
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(rows, indent=1))


def load_measurements(path: Path) -> list[Measurement]:
    """Measurements saved by :func:`save_measurements` (InputError, one line, for anything else)."""
    from advisor.errors import InputError

    try:
        rows = json.loads(path.read_text())
        return [_measurement(r) for r in rows]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: not a measurements file of this benchmark ({type(exc).__name__})") from None


def _measurement(row: dict) -> Measurement:
    """One measurement as :func:`save_measurements` wrote it."""
    config = TransferConfig(
        shape=row["shape"],
        depth=int(row["depth"]),
        size=int(row["size"]),
        input_dim=int(row["input_dim"]),
        output_dim=int(row["output_dim"]),
        batch_size=int(row["batch_size"]),
    )
    return Measurement(
        config=config,
        params=int(row["params"]),
        pass1_j={k: float(v) for k, v in row["pass1_j"].items()},
        pass2_j={k: float(v) for k, v in row["pass2_j"].items()},
    )


def _measure(args: argparse.Namespace, configs: Sequence[TransferConfig]) -> tuple[list[Measurement], int]:
    """Measure the configs twice (or read them back with ``--replay``); the synthetic data sets' size."""
    from measurement.meters.auto import close_meter

    if args.replay:
        return load_measurements(args.measurements), QUICK_SAMPLES if args.quick else SAMPLES
    measure = harness(args.quick)
    try:
        measurements = measure_twice(configs, measure, progress=print)
    finally:
        close_meter(measure.meter)
    if args.measurements is not None:
        save_measurements(args.measurements, measurements)
    return measurements, measure.samples


def _report(name: str, table: pd.DataFrame) -> list[PhaseScore]:
    """Print one profile's tables and scores."""
    print(f"\n=== {name}")
    scores = [score(table, phase) for phase in PHASES]
    for phase, s in zip(PHASES, scores, strict=True):
        print_table(table, phase)
        print_score(s)
    return scores


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, predict, score, print; 2 on bad input (one line)."""
    from advisor.api import load_profile
    from advisor.errors import USER_ERRORS, first_line
    from measurement.atomic import check_destination

    args = parse_args(argv)
    began = time.perf_counter()
    try:
        if args.json is not None:
            check_destination(args.json, (".json",))  # before minutes of measuring, not after
        if not args.no_page:
            check_destination(args.out_dir, folder=True)
        with _scratch(args.keep) as scratch:
            profiles = [load(args, Path(scratch))]
            if args.also_profile is not None:
                profiles.append(load_profile(args.also_profile))
            configs = design(args.quick)
            print(
                f"profiles: {', '.join(p.display_name for p in profiles)}; {len(configs)} configs at input "
                f"widths {sorted({c.input_dim for c in configs})}"
            )
            source = trees_source(args, Path(scratch))
            trees = fit_trees(profiles[0], source) if source is not None else None
            measurements, samples = _measure(args, configs)
            predictions = [predict(p, configs, samples=samples) for p in profiles]
            if trees is not None:  # the trees fit on the first profile's runs
                found = trees_predictions(trees, configs, samples=samples)
                predictions[0] = predictions[0].merge(found, on=["label", "phase"], validate="one_to_one")
            tables = [results_table(measurements, p) for p in predictions]
    except USER_ERRORS as exc:
        print(f"error: {first_line(exc)}", file=sys.stderr)
        return 2
    scores = [_report(p.display_name, t) for p, t in zip(profiles, tables, strict=True)]
    elapsed_s = time.perf_counter() - began
    print(f"\nelapsed {elapsed_s:.0f} s")
    if args.json is not None:
        write_json(args.json, tables[0], scores[0], elapsed_s)
        if len(tables) > 1:
            write_json(args.json.with_name(args.json.stem + "-also.json"), tables[1], scores[1], elapsed_s)
    names = [p.display_name for p in profiles]
    title = "Transfer: networks at input widths the calibration never saw" + (" (quick smoke run)" * args.quick)
    page_from_args(
        args, "transfer-quick" if args.quick else "transfer", title, page_body(names, tables, scores, elapsed_s)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
