"""Advice benchmark: the energy a user saves by following the advisor on real data (issue 31).

Per data set file in DATA_DIR (CSV/Parquet/NPZ; e.g. BUTTER's PMLB sets in ../shared/data/pmlb):

1. Probe as a user does: ``advisor probe FILE --budget B --meter estimate`` in a fresh ``ADVISOR_HOME`` (it
   measures, then fits the energy and accuracy models into ``ADVISOR_HOME/profile``); its wall time is kept.
2. Budget near the best probed score (the profile's best probed run): classification
   ``floor(100 x best accuracy - 2) / 100`` (two points under it, rounded down to a point); regression
   1.25 x the best probed test loss.
3. Recommend from that profile (the API, in process) with each objective, energy-per-datum and training-energy,
   learning rate and batch searched: the top pick's network, recipe, epochs and predicted energies.
4. Train each top pick with the harness (estimate meter, idle 0) on ``--seeds`` new seeds (1001, 1002, …) for
   its recommended epochs: met (final score), epochs to first reach the budget along the learning curve
   (checkpoints 1, 2, 4, …), measured energy per datum (train phase), energy to the budget = measured J/datum x
   train samples x epochs to the budget (never reached: the whole run's, flagged), measured / predicted J/datum.
5. Naive baselines on the same seeds: one hidden layer of 100 and two of 256 (``size_architecture("rectangle",
   depth, exact parameter count)``: widths 100,O and 256,256,O), Adam lr 1e-3, batch 32 and 256.
6. Brute force: ``--brute N`` (network, recipe) pairs drawn with a fixed seed (shapes, depths 2..6, sizes
   2^8..2^18, lr 1e-4..1e-2, batch 16..1024), each trained once (seed 0); the cheapest that reaches the budget.

Baselines and brute-force runs train in stages of 1, 4, 16, … epochs from scratch (one seed: the same
trajectory) until a checkpoint meets the budget or the epoch cap: ``--max-epochs`` (256), lowered so that the
last stage trains in about ``--run-cap`` seconds (60 s) at the throughput the 1-epoch stage measured.

Run time per data set: the probe budget and its fit (the fit: about 1-5 min), 2 x seeds pick runs (their
recommended epochs: uncapped, as a user trains them), 4 x seeds baseline runs and N brute-force runs, each at most
about 1.4 x the run cap plus a few seconds of metered windows. With the defaults: 5 min + the fit + the picks +
at most 32 x 85 s (45 min); on BUTTER's PMLB sets here one epoch of the naive networks takes 0.4-0.6 s (splice,
2,550 training rows) to 0.9-4.8 s (sleep, 84,726), so small sets finish in about 15-25 min, the largest within
about 75 min.

    python benchmarks/advice.py [DATA_DIR] [--datasets a,b] [--probe-budget 5m] [--seeds 3] [--brute 20]
                                [--run-cap 60s] [--max-epochs 256] [--reference digits:0.95] [--recheck] [--keep DIR]
                                [--json FILE] [--quick] [--out-dir DIR | --no-page]

``--reference NAME:BUDGET`` also scores the shipped reference profile's advice for a bundled data set at a fixed
budget (no probe): the README's main job is ``digits:0.95``; without DATA_DIR it is all that runs; with
``--recheck`` its predictions apply a recheck of the machine made first (else the calibration day's). ``--quick``
is a smoke run (a 30 s probe fitted with few draws, 1 seed, 2 brute-force pairs, 16 epochs at most).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.advice_report import (  # noqa: E402
    Budget,
    DatasetResult,
    Pick,
    Reach,
    TrialResult,
    budget_for,
    machine_line,
    page_body,
    print_results,
    reach_words,
    write_json,
)
from benchmarks.report import add_page_options, page_from_args  # noqa: E402
from measurement.architecture import SHAPES, Architecture, param_count, size_architecture  # noqa: E402
from measurement.datasets import (  # noqa: E402
    BUNDLED,
    DATA_SUFFIXES,
    Dataset,
    TargetKind,
    Task,
    dataset_name,
    load_dataset,
)
from measurement.errors import InputError  # noqa: E402

OBJECTIVES = ("energy-per-datum", "training-energy")
FIRST_SEED = 1001
NAIVE_LEARNING_RATE = 1e-3
NAIVE_NETWORKS = (("1x100", (100,)), ("2x256", (256, 256)))
NAIVE_BATCHES = (32, 256)
BRUTE_SEED = 31
BRUTE_SHAPES = tuple(s.value for s in SHAPES)
BRUTE_DEPTHS = (2, 3, 4, 5, 6)
BRUTE_SIZE_EXPONENTS = tuple(range(8, 19))
BRUTE_LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
BRUTE_BATCHES = (16, 32, 64, 128, 256, 512, 1024)
STAGE_FACTOR = 4
"""Baseline and brute-force runs train 1, 4, 16, … epochs (from scratch) until one reaches the budget."""
CONFIDENCE = 0.9


class AdviceError(InputError):
    """Bad input to the benchmark (a data folder without data, an unknown data set name, a probe that failed)."""


@dataclass(frozen=True)
class Settings:
    """How much to measure: probe budget, seeds, brute-force pairs, the per-run epoch and time caps, windows."""

    probe_budget_s: float = 300.0
    seeds: int = 3
    brute: int = 20
    max_epochs: int = 256
    run_cap_s: float = 60.0
    windows: int = 5
    window_s: float = 0.25
    quick: bool = False
    regression: frozenset[str] = frozenset()
    """Data set names (file stems) probed as regressions, as BUTTER treats them (``advisor probe --task
    regression``): 201_pol's 11 target values are a quantity, not classes."""


QUICK = Settings(
    probe_budget_s=30.0, seeds=1, brute=2, max_epochs=16, run_cap_s=2.0, windows=3, window_s=0.05, quick=True
)
QUICK_FIT_DRAWS = 200
"""A --quick run fits both models with 200 draws of one chain (converged or not): a smoke test of the flow."""


@dataclass(frozen=True)
class Trial:
    """A network and a recipe to train: a naive baseline or a brute-force pair."""

    label: str
    arch: Architecture
    learning_rate: float
    batch_size: int


@dataclass(frozen=True)
class Case:
    """One data set to benchmark: its name and source, the profile that advises on it, the budget, the best
    probed score, the probe's wall seconds (0 for the shipped profile) and the data."""

    name: str
    source: str
    profile: object
    budget: Budget
    best: float
    probe_s: float
    data: Dataset


# --- budgets and the data -----------------------------------------------------------------------------------


def data_files(data_dir: Path, names: Sequence[str] | None) -> list[Path]:
    """The data files of ``data_dir`` (by data set name, sorted), restricted to ``names`` when given.

    Raises:
        AdviceError: a missing folder, no data file in it, or a name it does not hold.
    """
    if not data_dir.is_dir():
        raise AdviceError(f"data folder {data_dir} does not exist")
    found = {}
    for path in sorted(data_dir.iterdir()):
        suffixes = [s for s in path.suffixes if s in DATA_SUFFIXES]
        if path.is_file() and suffixes:
            found[dataset_name(str(path))] = path
    if not found:
        raise AdviceError(f"no data file (CSV, Parquet, NPZ) in {data_dir}")
    wanted = list(names) if names else sorted(found)
    missing = [n for n in wanted if n not in found]
    if missing:
        raise AdviceError(f"no data set {', '.join(missing)} in {data_dir} (has: {', '.join(sorted(found))})")
    return [found[n] for n in wanted]


def parse_reference(text: str) -> tuple[str, float]:
    """``NAME:BUDGET`` for the shipped profile (``digits:0.95``).

    Raises:
        AdviceError: not a bundled data set name and a positive number.
    """
    name, _, budget = text.partition(":")
    try:
        value = float(budget)
    except ValueError:
        value = math.nan
    if name not in BUNDLED or not value > 0:
        raise AdviceError(f"--reference takes NAME:BUDGET with a bundled data set ({', '.join(BUNDLED)}), got {text!r}")
    return name, value


# --- the probe --------------------------------------------------------------------------------------------


def advisor_command() -> list[str]:
    """The installed ``advisor`` beside this interpreter, else ``python -m advisor``."""
    installed = Path(sys.executable).parent / "advisor"
    return [str(installed)] if installed.is_file() else [sys.executable, "-m", "advisor"]


def probe_command(path: Path, settings: Settings) -> list[str]:
    """``advisor probe FILE --budget B --meter estimate`` (quick: short windows and no fit; it fits in process)."""
    command = [
        *advisor_command(),
        "probe",
        str(path),
        "--budget",
        f"{settings.probe_budget_s:g}s",
        "--meter",
        "estimate",
        "--json",
    ]
    if dataset_name(str(path)) in settings.regression:
        command += ["--task", "regression"]
    if settings.quick:
        command += ["--no-fit", "--windows", "2", "--window", "0.05s", "--idle", "0.05s"]
    return command


def run_probe(path: Path, home: Path, settings: Settings) -> float:
    """Probe ``path`` into ``home`` (its profile in ``home/profile``); the wall seconds it took.

    Raises:
        AdviceError: the probe (or its fit) failed; its last line of stderr.
    """
    began = time.perf_counter()
    env = {**os.environ, "ADVISOR_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(probe_command(path, settings), capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise AdviceError(f"advisor probe {path.name} failed (exit {done.returncode}): {last}")
    if settings.quick:
        quick_fit(home)
    return time.perf_counter() - began


def quick_fit(home: Path) -> None:
    """Fit the probe's runs into ``home/profile`` with few draws (``--quick`` only: the full fit takes minutes)."""
    from advisor.fitting import named_runs, select_runs
    from measurement.store import RunStore
    from models.accuracy import ACCURACY_FIT
    from models.energy import ENERGY_FIT
    from models.pipeline import fit_profile

    small = {"draws": QUICK_FIT_DRAWS, "tune": QUICK_FIT_DRAWS, "chains": 1}
    with RunStore(home / "runs.sqlite", readonly=True) as store:
        runs, curves, fingerprints = store.frame(), store.curves_frame(), store.fingerprints()
    runs, hardware = select_runs(named_runs(runs), None)
    energy = dataclasses.replace(ENERGY_FIT, **small, max_draws=QUICK_FIT_DRAWS)
    profile, _ = fit_profile(runs, fingerprints[hardware], energy, dataclasses.replace(ACCURACY_FIT, **small), curves)
    profile.save(home / "profile")


# --- training and scoring ---------------------------------------------------------------------------------


def train(trial: Trial, data: Dataset, epochs: int, seed: int, settings: Settings):
    """One harness run of ``trial`` for ``epochs`` epochs (estimate meter, idle 0, one thread)."""
    from measurement.harness import train_and_measure
    from measurement.meters.estimate import EstimateMeter
    from measurement.records import TrainConfig

    config = TrainConfig(
        batch_size=trial.batch_size,
        learning_rate=trial.learning_rate,
        epochs=epochs,
        seed=seed,
        windows=settings.windows,
        window_s=settings.window_s,
        threads=1,
    )
    return train_and_measure(trial.arch, data, EstimateMeter(), config, idle_power_w=0.0)


def score_of(point, budget: Budget) -> float:
    """A checkpoint's (or a run's) score: test loss for regression, test accuracy otherwise."""
    return float(point.test_loss if budget.regression else point.test_accuracy)


def first_reach(result, budget: Budget) -> float:
    """The epochs of the first learning-curve checkpoint that meets the budget (NaN: none does)."""
    return next((float(p.epoch) for p in result.curve if budget.met(score_of(p, budget))), math.nan)


def reach_of(result, trial: Trial, seed: int, budget: Budget, train_samples: int, wall_s: float) -> Reach:
    """Score one run against the budget: energy to reach it (the whole run's, flagged, where it never does)."""
    per_datum_j = math.nan if result.train.reject_reason else float(result.train.energy_per_datum_j)
    epochs_to_budget = first_reach(result, budget)
    reached = not math.isnan(epochs_to_budget)
    epochs = epochs_to_budget if reached else float(result.epochs_trained)
    return Reach(
        label=trial.label,
        seed=seed,
        learning_rate=trial.learning_rate,
        batch_size=trial.batch_size,
        params=trial.arch.params,
        epochs_trained=float(result.epochs_trained),
        final_score=score_of(result, budget),
        met=budget.met(score_of(result, budget)),
        reached=reached,
        epochs_to_budget=epochs_to_budget,
        energy_per_datum_j=per_datum_j,
        energy_to_budget_j=per_datum_j * train_samples * epochs,
        wall_s=wall_s,
    )


def epoch_cap(result, train_samples: int, settings: Settings) -> int:
    """The most epochs a staged run may train: ``max_epochs``, lowered to the power of two whose training fits
    ``run_cap_s`` at the throughput ``result`` measured (at least 1)."""
    rate = result.train.samples_per_s or train_samples * max(result.epochs_trained, 1.0) / max(result.wall_s, 1e-6)
    fits = settings.run_cap_s * rate / train_samples
    return max(1, min(settings.max_epochs, 2 ** max(0, math.floor(math.log2(max(fits, 1.0))))))


def staged_reach(trial: Trial, data: Dataset, budget: Budget, seed: int, settings: Settings) -> Reach:
    """Train ``trial`` for 1, 4, 16, … epochs (each from scratch, one seed) until a checkpoint meets the budget
    or the epoch cap (:func:`epoch_cap`) is trained; the last stage scored."""
    epochs = 1
    result = train(trial, data, epochs, seed, settings)
    wall_s = result.wall_s
    cap = epoch_cap(result, data.train_samples, settings)
    while math.isnan(first_reach(result, budget)) and epochs < cap:
        epochs = min(epochs * STAGE_FACTOR, cap)
        result = train(trial, data, epochs, seed, settings)
        wall_s += result.wall_s
    return reach_of(result, trial, seed, budget, data.train_samples, wall_s)


# --- the candidates ---------------------------------------------------------------------------------------


def exact_network(label: str, hidden: tuple[int, ...], data: Dataset) -> Architecture:
    """A rectangle of ``hidden`` widths: ``size_architecture`` at its exact parameter count (checked)."""
    widths = (*hidden, data.output_dim)
    arch = size_architecture(
        "rectangle", len(widths), param_count(widths, data.input_dim), data.input_dim, data.output_dim
    )
    if arch.widths != widths:
        raise AssertionError(f"{label}: sized to {arch.widths}, wanted {widths}")
    return arch


def naive_trials(data: Dataset) -> list[Trial]:
    """1x100 and 2x256 at Adam lr 1e-3, batch 32 and 256 (capped at the training set)."""
    return [
        Trial(
            f"{name} b{batch}", exact_network(name, hidden, data), NAIVE_LEARNING_RATE, min(batch, data.train_samples)
        )
        for name, hidden in NAIVE_NETWORKS
        for batch in NAIVE_BATCHES
    ]


def brute_trials(data: Dataset, count: int, seed: int = BRUTE_SEED) -> list[Trial]:
    """``count`` distinct (network, recipe) pairs drawn with ``seed`` (off-target networks skipped)."""
    rng = np.random.default_rng(seed)
    trials: dict[tuple, Trial] = {}
    for _ in range(50 * count):
        if len(trials) == count:
            break
        shape, depth = str(rng.choice(BRUTE_SHAPES)), int(rng.choice(BRUTE_DEPTHS))
        size = 2 ** int(rng.choice(BRUTE_SIZE_EXPONENTS))
        lr, batch = float(rng.choice(BRUTE_LEARNING_RATES)), int(rng.choice(BRUTE_BATCHES))
        arch = size_architecture(shape, depth, size, data.input_dim, data.output_dim)
        batch = min(batch, data.train_samples)
        key = (arch.widths, lr, batch)
        if not arch.off_target and key not in trials:
            trials[key] = Trial(f"{shape}/d{depth}/2^{size.bit_length() - 1} lr{lr:g} b{batch}", arch, lr, batch)
    return list(trials.values())


def pick_trial(row: dict, data: Dataset) -> Trial:
    """The recommended row as a trial (its widths checked against the data set's)."""
    arch = size_architecture(row["shape"], int(row["depth"]), int(row["size"]), data.input_dim, data.output_dim)
    if "-".join(map(str, arch.widths)) != row["widths"]:
        raise AdviceError(f"the profile's dims differ from the data set's ({arch.widths} vs {row['widths']}): refit")
    label = f"{row['shape']}/d{row['depth']}/{row['widths']}"
    return Trial(label, arch, float(row["learning_rate"]), int(row["batch_size"]))


# --- one data set -----------------------------------------------------------------------------------------

PICK_FIELDS = (
    "shape",
    "depth",
    "size",
    "widths",
    "params",
    "learning_rate",
    "batch_size",
    "epochs",
    "energy_per_datum_j",
    "training_energy_j",
    "p_meet",
    "expected_score",
)


def evaluate_pick(
    profile,
    name: str,
    data: Dataset,
    budget: Budget,
    objective: str,
    settings: Settings,
    progress: Callable[[str], None],
) -> Pick:
    """Recommend with ``objective``; train the top pick on the new seeds for its recommended epochs."""
    import advisor

    table = advisor.recommend(profile, name, budget.value, confidence=CONFIDENCE, objective=objective, top=1)
    if table.empty:
        words = [table.attrs.get("message", "no candidate"), *table.attrs.get("probed_lines", ())]
        progress(f"  {objective}: no pick ({'; '.join(words)})")
        return Pick(objective=objective, row={}, runs=(), message="; ".join(words))
    row = {k: _plain(table.iloc[0][k]) for k in PICK_FIELDS}
    trial, epochs = pick_trial(row, data), math.ceil(row["epochs"])
    runs = []
    for seed in range(FIRST_SEED, FIRST_SEED + settings.seeds):
        result = train(trial, data, epochs, seed, settings)
        runs.append(reach_of(result, trial, seed, budget, data.train_samples, result.wall_s))
        progress(
            f"  {objective} pick {trial.label} lr {trial.learning_rate:g} b{trial.batch_size} {epochs} ep, "
            f"seed {seed}: {reach_words(runs[-1])}"
        )
    message = table.attrs.get("reason") or table.attrs.get("message", "")
    return Pick(objective=objective, row=row, runs=tuple(runs), message=message)


def evaluate_naive(data: Dataset, budget: Budget, settings: Settings, progress) -> tuple[TrialResult, ...]:
    """Each naive baseline on the new seeds, staged up to the cap."""
    out = []
    for trial in naive_trials(data):
        runs = []
        for seed in range(FIRST_SEED, FIRST_SEED + settings.seeds):
            runs.append(staged_reach(trial, data, budget, seed, settings))
            progress(f"  naive {trial.label} seed {seed}: {reach_words(runs[-1])}")
        out.append(TrialResult(trial.label, tuple(runs)))
    return tuple(out)


def evaluate_brute(data: Dataset, budget: Budget, settings: Settings, progress) -> tuple[TrialResult, ...]:
    """The brute-force pairs, once each (seed 0), staged up to the cap."""
    out = []
    trials = brute_trials(data, settings.brute)
    for index, trial in enumerate(trials, start=1):
        reach = staged_reach(trial, data, budget, 0, settings)
        progress(f"  brute [{index}/{len(trials)}] {trial.label}: {reach_words(reach)}")
        out.append(TrialResult(trial.label, (reach,)))
    return tuple(out)


def evaluate(case: Case, settings: Settings, progress: Callable[[str], None]) -> DatasetResult:
    """Picks, naive baselines and brute force for one data set whose profile and budget ``case`` holds."""
    began = time.perf_counter()
    data, budget = case.data, case.budget
    progress(
        f"{case.name}: budget {budget.words()} (best probed {case.best:.4g}); {data.train_samples} "
        f"training rows, {data.input_dim} inputs -> {data.output_dim}"
    )
    picks = tuple(
        evaluate_pick(case.profile, case.name, data, budget, objective, settings, progress) for objective in OBJECTIVES
    )
    naive = evaluate_naive(data, budget, settings, progress)
    brute = evaluate_brute(data, budget, settings, progress)
    return DatasetResult(
        name=case.name,
        source=case.source,
        task=str(data.task),
        train_samples=data.train_samples,
        budget=budget,
        best_probed=case.best,
        probe_wall_s=case.probe_s,
        picks=picks,
        naive=naive,
        brute=brute,
        wall_s=time.perf_counter() - began + case.probe_s,
    )


def probed_case(path: Path, home: Path, settings: Settings, progress) -> Case:
    """Probe ``path`` into ``home``; the profile it fitted, the budget and the data set."""
    from advisor.api import load_profile

    name = dataset_name(str(path))
    progress(f"{name}: advisor probe {path.name} --budget {settings.probe_budget_s:g}s (then its fit) …")
    probe_s = run_probe(path, home, settings)
    profile = load_profile(home / "profile", warn_on_other_hardware=False)
    if name not in profile.datasets:
        raise AdviceError(f"the probe of {path.name} left no accuracy model for {name} in {home / 'profile'}")
    budget, best = budget_for(profile.datasets[name])
    progress(f"{name}: probed and fitted in {probe_s:.0f} s")
    kind = TargetKind.REGRESSION if name in settings.regression else None
    return Case(name, str(path), profile, budget, best, probe_s, load_dataset(str(path), kind=kind))


def reference_case(name: str, value: float, profile) -> Case:
    """The shipped reference ``profile``'s data set ``name`` at a fixed budget (no probe); its predictions apply
    whatever machine state ``profile`` carries (:func:`reference_profile`)."""
    if name not in profile.datasets:
        raise AdviceError(f"the shipped reference profile has no accuracy model for {name}")
    data = load_dataset(name)
    _, best = budget_for(profile.datasets[name])
    budget = Budget(value, regression=data.task is Task.REGRESSION)
    state = profile.energy.machine
    source = "shipped reference profile" + (f", {state.describe()}" if state is not None else "")
    return Case(name, source, profile, budget, best, 0.0, data)


def reference_profile(home: Path, recheck: bool, progress: Callable[[str], None]):
    """The shipped reference profile, loaded once: with ``recheck``, after ``advisor calibrate --recheck`` of it
    in ``home``, its predictions applying the machine state the recheck gives; else the calibration day's
    (never the user's own rechecks)."""
    from advisor.api import REFERENCE_PROFILE
    from advisor.recheck import prepare_recheck
    from advisor.recheck import recheck as run_recheck
    from models.profile import Profile

    profile = Profile.load(REFERENCE_PROFILE)
    state = None
    if recheck:
        state = run_recheck(profile, prepare_recheck(profile, store=home / "recheck.sqlite"), home=home).state
        progress(f"recheck: {state.describe()}")
    return dataclasses.replace(profile, energy=profile.energy.with_machine(state))


def _plain(value):
    """A numpy scalar as a plain Python number (for JSON); anything else as it is."""
    return value.item() if isinstance(value, np.generic) else value


# --- the command ------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (numbers checked in :func:`settings_from`)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "data_dir",
        type=Path,
        nargs="?",
        help="folder of data set files (e.g. ../shared/data/pmlb); may be left out with --reference",
    )
    p.add_argument("--datasets", help="comma-separated data set names (file stems) to run (default: all)")
    p.add_argument(
        "--regression",
        default="",
        help="comma-separated data set names whose target is a regression (advisor probe --task regression), "
        "e.g. 201_pol as BUTTER treats it",
    )
    p.add_argument("--probe-budget", help="advisor probe --budget (default 5m)")
    p.add_argument("--seeds", type=int, help="new seeds per pick and baseline (default 3)")
    p.add_argument("--brute", type=int, help="brute-force (network, recipe) pairs (default 20)")
    p.add_argument("--run-cap", help="about how long the last stage of a staged run may train (default 60s)")
    p.add_argument("--max-epochs", type=int, help="most epochs of a baseline or brute-force run (default 256)")
    p.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="NAME:BUDGET",
        help="also score the shipped profile's advice for a bundled data set (e.g. digits:0.95)",
    )
    p.add_argument(
        "--recheck",
        action="store_true",
        help="recheck the machine against the shipped profile first and apply it to --reference predictions",
    )
    p.add_argument("--keep", type=Path, metavar="DIR", help="keep each data set's ADVISOR_HOME under DIR/NAME")
    p.add_argument("--json", type=Path, metavar="FILE", help="write everything measured as JSON")
    p.add_argument("--quick", action="store_true", help="smoke run: 30 s probe, 1 seed, 2 brute pairs, 16 epochs")
    add_page_options(p)
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings: --quick's or the defaults, with the numbers given on the command line.

    Raises:
        AdviceError: a number out of range.
    """
    from advisor.parsing import duration_s

    base = QUICK if args.quick else Settings()
    given = {"seeds": args.seeds, "brute": args.brute, "max_epochs": args.max_epochs}
    for name, value in given.items():
        if value is not None and not 1 <= value <= 10_000:
            raise AdviceError(f"--{name.replace('_', '-')} must be an integer in [1, 10000], got {value}")
    if args.probe_budget is not None:
        given["probe_budget_s"] = duration_s(args.probe_budget)
    if args.run_cap is not None:
        given["run_cap_s"] = duration_s(args.run_cap)
    regression = frozenset(n.strip() for n in args.regression.split(",") if n.strip())
    return dataclasses.replace(base, regression=regression, **{k: v for k, v in given.items() if v is not None})


@contextlib.contextmanager
def _homes(keep: Path | None) -> Iterator[Path]:
    """Where each data set's ADVISOR_HOME goes: ``keep`` (created), else a temporary folder removed after."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="advice-") as scratch:
        yield Path(scratch)


def main(argv: Sequence[str] | None = None) -> int:
    """Probe, recommend, train and compare per data set; print, write the page (and JSON); 2 on bad input."""
    from advisor.errors import USER_ERRORS, first_line
    from measurement.atomic import check_destination
    from measurement.hardware import fingerprint

    args = parse_args(argv)
    progress = lambda line: print(line, flush=True)  # noqa: E731
    try:
        settings = settings_from(args)
        names = [n.strip() for n in args.datasets.split(",") if n.strip()] if args.datasets else None
        references = [parse_reference(text) for text in args.reference]
        if args.data_dir is None and not references:
            raise AdviceError("give a data folder, or --reference NAME:BUDGET, or both")
        files = data_files(args.data_dir, names) if args.data_dir is not None else []
        if unknown := sorted(settings.regression - {dataset_name(str(f)) for f in files}):
            raise AdviceError(f"--regression names data sets this run does not probe: {', '.join(unknown)}")
        if args.json is not None:
            check_destination(args.json, (".json",))  # before an hour of measuring, not after
        machine = machine_line(fingerprint())
        progress(f"machine: {machine}; {len(files)} data set(s), settings {settings}")
        with _homes(args.keep) as homes:
            results = []
            if references:
                reference = reference_profile(homes, args.recheck, progress)
                results = [evaluate(reference_case(n, v, reference), settings, progress) for n, v in references]
            for path in files:
                results.append(
                    evaluate(probed_case(path, homes / dataset_name(str(path)), settings, progress), settings, progress)
                )
    except USER_ERRORS as exc:
        print(f"error: {first_line(exc)}", file=sys.stderr)
        return 2
    print_results(results, machine)
    if args.json is not None:
        write_json(args.json, results, settings, machine)
    title = "Advice on real data: energy to reach the budget, the advisor's picks against naive and brute force"
    page_from_args(
        args,
        "advice-quick" if settings.quick else "advice",
        title + " (quick smoke run)" * settings.quick,
        page_body(results, settings, machine),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
