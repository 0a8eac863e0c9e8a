"""Measuring the user's own code: the overhead of ``advisor measure --`` and predicted beside measured energy.

(a) Overhead: a fixed CPU workload (a pure-Python loop in a child interpreter) run bare and under
``advisor measure --idle 0 --meter estimate --no-store --json --``, interleaved, median of repeats. The
program's own time under measurement (its metered window: start to exit) is compared with its bare wall time,
and the measuring process's own CPU time while the program ran (``measuring_cpu_s``: what measuring takes from
the program's cores, free of the run-to-run noise of wall times) with the program's time; the command's fixed
cost (interpreter start, imports, the meter's set-up, the summary) is reported apart, as is
the default idle measurement (1 s) that precedes every measurement.

(b) Accuracy: a plain torch training loop (Adam, shuffled mini-batches, one thread as the calibration) of
several MLPs at two batch sizes, each measured with ``advisor.measure`` (a ``train`` phase per epoch, datums
reported, two unphased warm-up epochs first, then as many epochs as fill ~3 s at the second's pace) and
stored in a temporary store; its measured energy per training datum beside ``advisor.predict_module``'s
prediction for the same network and batch (ratio measured / predicted median, and whether it falls in the
90% predictive interval). As a control, the calibration harness measures the same network and batch on the
same machine (``train_and_measure``, estimate meter): the loop's figure beside the harness's says whether the
measuring agrees with the calibration protocol, apart from whether the profile (calibrated on its own
machine, named on the page) transfers to this one.

    python benchmarks/measure.py [--quick] [--profile DIR] [--out-dir DIR | --no-page]

Before (b) the machine is rechecked against the profile (``advisor calibrate --recheck``, in a temporary home;
``--no-recheck`` skips it) and the predictions apply it, as they do for a user who rechecked; each ratio is also
given against the bare profile (its calibration day's posterior). Each network is measured in two passes, the
second in reverse order, and the passes' mean compared.

``--quick`` checks the script works in seconds (two networks, one batch, short runs); its numbers mean nothing.
After printing, it writes a dated results page to docs/results/ (``benchmarks/report.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import add_page_options, markdown_table, page_from_args  # noqa: E402

ADVISOR = shutil.which("advisor") or str(Path(sys.executable).parent / "advisor")
WORKLOAD = "n = {n}\ntotal = 0\nfor i in range(n):\n    total += i * i % 7\n"
INPUT_DIM, OUTPUT_DIM, TRAIN_ROWS = 32, 10, 4096
NETWORKS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("2 layers, 64 wide", (64, 10)),
    ("3 layers, 256 wide", (256, 256, 10)),
    ("4 layers, 512 wide", (512, 512, 512, 10)),
    ("7 layers, 128 wide", (128,) * 6 + (10,)),
    ("wide first 1024/256", (1024, 256, 10)),
    ("5 layers, 32 wide", (32, 32, 32, 32, 10)),
)
BATCHES = (32, 256)


@dataclass(frozen=True)
class Overhead:
    """Bare against measured runs of the workload (medians of interleaved repeats), seconds."""

    bare_s: float
    window_s: float
    command_s: float
    repeats: int
    measuring_cpu_s: float = math.nan

    @property
    def cpu_share(self) -> float:
        """The measuring process's CPU time while the program ran, over the program's metered time."""
        return self.measuring_cpu_s / self.window_s

    @property
    def ratio(self) -> float:
        """The program's metered time over its bare time."""
        return self.window_s / self.bare_s

    @property
    def fixed_s(self) -> float:
        """What ``advisor measure`` adds around the program (start, set-up, summary)."""
        return self.command_s - self.window_s


def _bare(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def _measured(code: str) -> tuple[float, float, float]:
    start = time.perf_counter()
    command = [ADVISOR, "measure", "--idle", "0", "--meter", "estimate", "--no-store", "--json", "--"]
    done = subprocess.run([*command, sys.executable, "-c", code], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found["duration_s"], wall, found["measuring_cpu_s"]


def overhead(iterations: int, repeats: int) -> Overhead:
    """Run the workload bare and measured ``repeats`` times each, alternating which goes first."""
    code = WORKLOAD.format(n=iterations)
    bare, window, command, cpu = [], [], [], []
    for r in range(repeats):
        for measured in (r % 2 == 0, r % 2 == 1):
            if measured:
                w, c, m = _measured(code)
                window.append(w)
                command.append(c)
                cpu.append(m)
            else:
                bare.append(_bare(code))
    return Overhead(
        bare_s=statistics.median(bare),
        window_s=statistics.median(window),
        command_s=statistics.median(command),
        repeats=repeats,
        measuring_cpu_s=statistics.median(cpu),
    )


@dataclass(frozen=True)
class Accuracy:
    """One network at one batch: measured (two passes) and predicted energy per training datum, by the profile
    as it answers today (a recheck applied, when one was made) and bare (its calibration day's posterior)."""

    name: str
    widths: tuple[int, ...]
    batch: int
    pass1_j: float
    pass2_j: float
    median_j: float
    low_j: float
    high_j: float
    bare_median_j: float
    meter_kind: str
    stored: bool
    harness_j: float
    metered_s: float = math.nan

    @property
    def measured_j(self) -> float:
        """The mean of the two passes (a drift between them cancels)."""
        return (self.pass1_j + self.pass2_j) / 2

    @property
    def repeat_difference(self) -> float:
        """How far the passes differ, relative to their mean."""
        return abs(self.pass1_j - self.pass2_j) / self.measured_j

    @property
    def ratio(self) -> float:
        return self.measured_j / self.median_j

    @property
    def bare_ratio(self) -> float:
        return self.measured_j / self.bare_median_j

    @property
    def inside(self) -> bool:
        return self.low_j <= self.measured_j <= self.high_j


def _epoch(model, optimiser, loss_fn, x, y, batch: int, torch) -> None:
    order = torch.randperm(x.shape[0])
    for start in range(0, x.shape[0], batch):
        index = order[start : start + batch]
        optimiser.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[index]), y[index])
        loss.backward()
        optimiser.step()


def train_measured(widths: tuple[int, ...], batch: int, target_s: float, profile, store: Path):
    """The plain training loop, measured: two unphased warm-up epochs, the second timed, then as many
    ``train`` epochs as fill about ``target_s`` seconds (at least 3, at most 500).

    The epochs come from the loop's own timing, not from a FLOP count: a count at a guessed speed gave a deep
    narrow network (7x128 at batch 256) three epochs, 0.2 s, where the first-run costs of the loop did not
    average out (its measurement 1.4-1.6x the harness's; 1.0x with 30 epochs).
    """
    import torch
    from torch import nn

    import advisor

    torch.set_num_threads(1)
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for fan_in, width in zip((INPUT_DIM, *widths[:-1]), widths, strict=True):
        layers += [nn.Linear(fan_in, width), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    x, y = torch.randn(TRAIN_ROWS, INPUT_DIM), torch.randint(0, OUTPUT_DIM, (TRAIN_ROWS,))
    optimiser, loss_fn = torch.optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss()
    with advisor.measure(
        f"bench {widths} b{batch}",
        meter="estimate",
        model=model,
        batch_size=batch,
        idle_s=0.5,
        store=store,
        profile=profile,
    ) as m:
        _epoch(model, optimiser, loss_fn, x, y, batch, torch)  # warm-up: unphased
        began = time.perf_counter()
        _epoch(model, optimiser, loss_fn, x, y, batch, torch)
        epochs = max(3, min(500, math.ceil(target_s / max(time.perf_counter() - began, 1e-3))))
        for _ in range(epochs):
            with m.phase("train"):
                _epoch(model, optimiser, loss_fn, x, y, batch, torch)
                m.datums(TRAIN_ROWS)
    return m.result


def harness_energy(widths: tuple[int, ...], batch: int, window_s: float) -> float:
    """The calibration harness's energy per training datum for the same network and batch (estimate meter)."""
    from measurement.datasets import load_dataset
    from measurement.harness import train_and_measure
    from measurement.meters.estimate import EstimateMeter
    from measurement.records import TrainConfig
    from models.modules import network_of

    dataset = load_dataset(f"synthetic:{round(TRAIN_ROWS / 0.8)},{INPUT_DIM},{OUTPUT_DIM}")  # 80% to train
    arch = network_of(INPUT_DIM, widths, batch).architecture()
    config = TrainConfig(batch_size=batch, inference_batch_size=batch, windows=5, window_s=window_s)
    return train_and_measure(arch, dataset, EstimateMeter(), config).train.energy_per_datum_j


def accuracy(networks, batches, target_s: float, profile, bare) -> list[Accuracy]:
    """Every network at every batch, measured in two passes (the second in reverse order) and predicted by
    ``profile`` and by ``bare``."""
    from advisor.measuring import network_of

    configs = [(name, widths, batch) for name, widths in networks for batch in batches]
    results: dict[tuple, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "runs.sqlite"
        for order in (configs, configs[::-1]):
            for name, widths, batch in order:
                r = train_measured(widths, batch, target_s, profile, store)
                results.setdefault((name, widths, batch), []).append(r)
    out = []
    for name, widths, batch in configs:
        first, second = results[(name, widths, batch)]
        p = first.price.train
        model = network_of(INPUT_DIM, widths, batch)
        bare_price = price_bare(bare, model)
        out.append(
            Accuracy(
                name=name,
                widths=widths,
                batch=batch,
                pass1_j=first.comparison.measured_j,
                pass2_j=second.comparison.measured_j,
                median_j=p.median_j,
                low_j=p.predictive_p05_j,
                high_j=p.predictive_p95_j,
                bare_median_j=bare_price.train.median_j,
                meter_kind=str(first.meter_kind),
                stored=first.run_id is not None and second.run_id is not None,
                harness_j=harness_energy(widths, batch, target_s / 10),
                metered_s=(first.duration_s + second.duration_s) / 2,
            )
        )
    return out


def price_bare(profile, network):
    """The network's price by the profile's calibration-day posterior (no recheck, no day spread)."""
    from models.modules import price_network

    return price_network(profile, network, None)


ACCURACY_COLUMNS = (
    "network",
    "widths",
    "batch",
    "metered s",
    "measured J/datum (2 passes)",
    "passes differ",
    "predicted median",
    "90% predictive",
    "ratio",
    "inside",
    "ratio, bare profile",
    "harness J/datum",
    "measured / harness",
)


def _accuracy_cells(r: Accuracy) -> tuple[object, ...]:
    """One row of the accuracy table, in :data:`ACCURACY_COLUMNS` order."""
    return (
        r.name,
        "-".join(map(str, r.widths)),
        r.batch,
        f"{r.metered_s:.1f}",
        f"{r.measured_j:.4g}",
        f"{r.repeat_difference:.1%}",
        f"{r.median_j:.4g}",
        f"{r.low_j:.3g} – {r.high_j:.3g}",
        f"{r.ratio:.2f}",
        "yes" if r.inside else "no",
        f"{r.bare_ratio:.2f}",
        f"{r.harness_j:.4g}",
        f"{r.measured_j / r.harness_j:.2f}",
    )


def body_md(over: Overhead, rows: list[Accuracy], profile_name: str, machines: str, quick: bool, recheck: str) -> str:
    """The results page's body."""
    within = sum(1 for r in rows if 1 / 1.25 <= r.ratio <= 1.25)
    within_bare = sum(1 for r in rows if 1 / 1.25 <= r.bare_ratio <= 1.25)
    inside = sum(1 for r in rows if r.inside)
    median_ratio = statistics.median(r.ratio for r in rows)
    control = statistics.median(r.measured_j / r.harness_j for r in rows)
    floor = statistics.median(r.repeat_difference for r in rows)
    table = markdown_table(ACCURACY_COLUMNS, [_accuracy_cells(r) for r in rows])
    return (
        ("**Quick mode: a check that the script runs; the numbers mean nothing.**\n\n" if quick else "")
        + "## (a) Overhead of `advisor measure --`\n\n"
        f"A pure-Python loop in a child interpreter, bare and under `advisor measure --idle 0 --meter estimate`, "
        f"interleaved, median of {over.repeats} each: bare {over.bare_s:.3f} s, metered window "
        f"{over.window_s:.3f} s, ratio {over.ratio:.4f} ({over.ratio - 1:+.2%}: on this shared 2-vCPU VM the same "
        f"program's wall time moves by more than that from one run to the next). What measuring costs while the "
        f"program runs, the `advisor measure` process's own CPU time over that window (its `measuring_cpu_s`), "
        f"is {over.measuring_cpu_s * 1000:.1f} ms: **{over.cpu_share:.3%}** of the program's time. Around the "
        f"program the command adds {over.fixed_s:.2f} s (interpreter start, imports, meter set-up, summary), "
        "plus the idle measurement it makes first (1 s by default, `--idle`).\n\n"
        "## (b) Measured beside predicted energy per training datum\n\n"
        f"A plain torch loop (Adam, shuffled batches of {TRAIN_ROWS} rows of {INPUT_DIM} inputs, {OUTPUT_DIM} "
        f"classes, one thread), measured with `advisor.measure` in two passes (the second in reverse order; "
        f"estimate meter: {rows[0].meter_kind if rows else 'n/a'}; every run stored: "
        f"{all(r.stored for r in rows)}), priced by `advisor.predict_module` with the {profile_name} "
        f"({machines}). {recheck}\n\n"
        f"{table}\n\n"
        f"Within 1.25× of the predicted median: **{within} of {len(rows)}** (the bare profile: {within_bare}); "
        f"inside the 90% predictive interval: {inside} of {len(rows)}; median ratio {median_ratio:.2f}; the two "
        f"passes differ by {floor:.1%} (median). The loop's measurement over the calibration harness's on this "
        f"machine: median {control:.2f}.\n"
    )


def machines(profile) -> str:
    """Where the profile was calibrated, and whether that is this machine."""
    from advisor.api import this_machine

    same = profile.fingerprint.same_machine(this_machine())
    return f"calibrated on {profile.fingerprint.describe()}, {'this' if same else 'not this'} machine"


def rechecked(profile):
    """``profile`` with a recheck made now (in a temporary home) applied, and the sentence that says so."""
    import dataclasses

    from advisor.recheck import prepare_recheck, recheck

    with tempfile.TemporaryDirectory() as home:
        outcome = recheck(profile, prepare_recheck(profile, store=Path(home) / "runs.sqlite"), home=Path(home))
    r = outcome.recheck
    line = (
        f"Before (b), `advisor calibrate --recheck` measured today's scale train ×{r.scale('train').factor:.3f}, "
        f"inference ×{r.scale('inference').factor:.3f} (panel floor {r.floor:.1%}); the predictions apply it. "
        "The bare profile's ratio is the calibration day's posterior, without it."
    )
    return dataclasses.replace(profile, energy=profile.energy.with_machine(outcome.state)), line


def main(argv: Sequence[str] | None = None) -> None:
    """Measure the overhead and the accuracy, print them, write the results page."""
    import dataclasses

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long check that the script works")
    parser.add_argument("--profile", type=Path, help="profile folder (default: yours, else the shipped reference)")
    parser.add_argument("--no-recheck", action="store_true", help="predict without rechecking the machine first")
    add_page_options(parser)
    args = parser.parse_args(argv)
    from advisor.measuring import default_profile

    profile = default_profile(args.profile)
    bare = dataclasses.replace(profile, energy=profile.energy.with_machine(None))
    iterations, repeats = (300_000, 2) if args.quick else (30_000_000, 7)
    over = overhead(iterations, repeats)
    print(
        f"(a) bare {over.bare_s:.3f} s, metered window {over.window_s:.3f} s, ratio {over.ratio:.4f}; measuring "
        f"CPU {over.measuring_cpu_s * 1000:.1f} ms ({over.cpu_share:.3%}); command adds {over.fixed_s:.2f} s"
    )
    recheck_line = "No recheck was made (`--no-recheck`)."
    if not args.no_recheck:
        profile, recheck_line = rechecked(profile)
        print(recheck_line)
    networks, batches = (NETWORKS[:2], BATCHES[:1]) if args.quick else (NETWORKS, BATCHES)
    rows = accuracy(networks, batches, 0.2 if args.quick else 3.0, profile, bare)
    print(f"(b) {'network':<22} {'batch':>5} {'measured':>11} {'predicted':>11} {'ratio':>6} {'bare':>6} inside")
    for r in rows:
        print(
            f"    {r.name:<22} {r.batch:>5} {r.measured_j:>11.4g} {r.median_j:>11.4g} {r.ratio:>6.2f} "
            f"{r.bare_ratio:>6.2f} {r.inside}  passes {r.repeat_difference:.1%}  harness {r.harness_j:.4g}"
        )
    name = "measure-quick" if args.quick else "measure"
    title = "Measuring your own code: overhead, and measured beside predicted energy per datum"
    body = body_md(over, rows, profile.display_name, machines(profile), args.quick, recheck_line)
    page_from_args(args, name, title, body)


if __name__ == "__main__":
    main()
