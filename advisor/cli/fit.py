"""``advisor fit``: fit the energy model to the run store and save a profile."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from advisor.cli.common import positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fit`` command."""
    p = subparsers.add_parser("fit", help="fit the Bayesian energy model and save a profile")
    p.add_argument("--store", type=Path, help="run store (default $ADVISOR_HOME/runs.sqlite)")
    p.add_argument("--out", type=Path, help="profile folder (default $ADVISOR_HOME/profile)")
    p.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="also write figures: FILE (measured vs predicted per shape, tier boundaries), "
        "FILE-tiers (energy vs working set, fitted tier boundaries), FILE-measured (measured vs "
        "predicted per datum, held-out runs marked) and FILE-errors (histogram of predicted/measured "
        "on held-out runs); held out by input width when the calibration has 2+ widths, else by "
        "grouped k-fold",
    )
    p.add_argument("--draws", type=positive_int, help="energy model draws per chain, first fit (default 1000)")
    p.add_argument("--tune", type=positive_int, help="energy model tuning steps per chain (default 1000)")
    p.add_argument("--chains", type=positive_int, help="energy model chains (default 2)")
    p.add_argument(
        "--max-draws",
        type=positive_int,
        help="sample the energy model until converged (r_hat <= 1.01, bulk ESS >= 400), doubling the "
        "draws and tuning up to this many draws per chain (default 8000)",
    )
    p.add_argument(
        "--sampler",
        choices=("nutpie", "pymc"),
        default="nutpie",
        help="NUTS implementation of the energy model: nutpie (default; Rust, threads) or pymc "
        "(PyMC's own, one process per chain)",
    )
    p.add_argument("--strict", action="store_true", help="exit 1 (and save nothing) if the fit did not converge")
    p.add_argument(
        "--hardware",
        metavar="ID",
        help="fit this machine's runs ('advisor runs --hardware' lists them; default: the machine of the newest run)",
    )
    p.add_argument(
        "--include-measured",
        action="store_true",
        help="let programs measured with 'advisor measure' that name their MLP (--widths, model=) join "
        "the energy fit as observations (each label a data set of its own)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Fit, report diagnostics, save unless --strict and unconverged."""
    from advisor.fitting import FitRequest, fit_and_save

    sampling = {name: getattr(args, name) for name in ("draws", "tune", "chains", "max_draws")}
    request = FitRequest(
        store=args.store,
        out=args.out,
        plot=args.plot,
        strict=args.strict,
        hardware=args.hardware,
        sampler=args.sampler,
        include_measured=args.include_measured,
        **{name: value for name, value in sampling.items() if value is not None},  # unset: ENERGY_FIT's
    )
    outcome = fit_and_save(request)
    d = outcome.diagnostics
    report = {
        "profile": str(outcome.profile_dir) if outcome.saved else None,
        "saved": outcome.saved,
        "runs": outcome.observations,
        "meter_kinds": outcome.meter_kinds,
        "diagnostics": d.to_dict(),
        "problems": d.problems(),
        "noise_floor": outcome.noise_floor,
        "accuracy_models": {name: a.to_dict() for name, a in outcome.accuracy.items()},
        "plot": str(args.plot) if args.plot else None,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        kind = " (ESTIMATED energy)" if "estimated" in outcome.meter_kinds else ""
        print(
            f"fit {outcome.observations} observations{kind} in {d.fit_s:.1f} s: {d.divergences} divergences, "
            f"max r_hat {d.max_r_hat:.3f}, min bulk ESS {d.min_ess_bulk:.0f}"
        )
        for name, a in outcome.accuracy.items():
            print(f"accuracy model {name}: {a.divergences} divergences, min bulk ESS {a.min_ess_bulk:.0f}")
        print(f"profile saved to {outcome.profile_dir}" if outcome.saved else "profile NOT saved")
    if outcome.problems:
        longer = 2 * max(request.max_draws, request.draws)
        remedy = f" (energy model: not converged within {d.draws} draws; try --max-draws {longer})"
        remedy = remedy if d.problems() else ""
        print(f"advisor: warning: the fit did not converge: {'; '.join(outcome.problems)}{remedy}", file=sys.stderr)
        return 1 if args.strict else 0
    return 0
