"""``advisor probe DATASET``: train a designed set of configs on a dataset, then fit its accuracy model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from advisor.cli.calibrate import add_meter_arguments, cluster_fields, meter_options
from advisor.cli.common import non_negative, parse_duration_s, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``probe`` command."""
    p = subparsers.add_parser(
        "probe",
        help="train a designed set of configs on a dataset (accuracy + energy)",
        description=(
            "Train networks (shapes, depths, sizes) and recipes (Adam learning rates 1e-4..1e-2, batch sizes "
            "16..1024, capped at the training set) on a data set, then fit its accuracy model. By successive "
            "halving: rung 1 trains many configs for a few epochs, each later rung trains the best third of the "
            "rung before again, from scratch, for 3x the epochs (2-4 rungs; the epochs and rungs follow from the "
            "budget, each rung an equal share of what is left). --epochs N runs one sweep of N epochs a run "
            "instead; --learning-rate and --batch-size fix that part of the recipe."
        ),
    )
    p.add_argument("dataset", help="digits, breast_cancer, wine, synthetic:N,D,K, or a CSV/Parquet/NPZ file")
    p.add_argument("--target", help="target column of a dataset file (default 'target')")
    p.add_argument(
        "--task",
        choices=["classification", "regression"],
        default=None,
        help="what a data file's target is, where the default rule guesses wrong (a target of <= 20 distinct "
        "values or text is classes, else a regression): an integer rating or count is a regression",
    )
    p.add_argument("--budget", type=parse_duration_s, default=None, help="time budget (default 5m)")
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="train every run this many epochs in one sweep (default: successive halving, epochs per rung)",
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=None, help="train every run at this batch size (default: searched)"
    )
    p.add_argument(
        "--learning-rate",
        type=non_negative,
        default=None,
        help="train every run at this Adam learning rate (default: searched, 1e-4 to 1e-2)",
    )
    p.add_argument(
        "--extend",
        action="store_true",
        help=(
            "probe around the best runs the profile's accuracy model names (each again, and its neighbours: "
            "size x2 /2, learning rate x3 /3, batch x2 /2), trained twice as long as they were; one sweep"
        ),
    )
    p.add_argument("--max-runs", type=positive_int, help="at most N runs over all rungs of the probe")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-fit", action="store_true", help="only train; fit later with 'advisor fit'")
    p.add_argument("--profile", type=Path, help="where 'advisor fit' writes the profile")
    p.add_argument("--seed", type=int, default=0)
    add_meter_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Probe, then fit energy + accuracy models into the profile (one library job: calibration.probe)."""
    from advisor import calibration
    from advisor.cli.progress import SweepProgress, print_summary

    around, epochs, kind = (), args.epochs or 0, calibration.TargetKind(args.task) if args.task else None
    if args.extend:
        import advisor
        from advisor.extend import extend_request

        ext = extend_request(advisor.load_profile(args.profile), args.dataset, args.store, kind)
        around, epochs, kind = ext.plan.centres, args.epochs or ext.plan.epochs, ext.target_kind
        args.dataset = ext.dataset

    config = calibration.TrainConfig(
        epochs=epochs,
        batch_size=args.batch_size or calibration.TrainConfig.batch_size,
        learning_rate=calibration.TrainConfig.learning_rate if args.learning_rate is None else args.learning_rate,
        windows=args.windows,
        window_s=args.window,
        device=args.device,
        threads=args.threads,
        seed=args.seed,
    )
    request = calibration.CalibrationRequest(
        budget_s=args.budget or calibration.DEFAULT_PROBE_BUDGET_S,
        budget_given=args.budget is not None,
        store=args.store,
        meter=meter_options(args),
        dataset=args.dataset,
        config=config,
        max_runs=args.max_runs,
        resume=args.resume,
        idle_s=args.idle,
        seed=args.seed,
        kind=calibration.SweepKind.PROBE,
        target=args.target,
        target_kind=kind,
        learning_rates=calibration.PROBE_LEARNING_RATES if args.learning_rate is None and not around else None,
        batch_sizes=calibration.PROBE_BATCH_SIZES if args.batch_size is None and not around else None,
        around=around,
        **cluster_fields(args),
    )
    job = calibration.prepare(request)
    with SweepProgress(job, quiet=args.json) as bar:
        outcome = calibration.probe(job, profile=args.profile, fit=not args.no_fit, progress=bar.update)
    summary, fit = outcome.summary, outcome.fit
    report: dict = {"sweep": summary.__dict__, "store": str(outcome.store_path)}
    if fit is not None:
        report["profile"] = str(fit.profile_dir) if fit.saved else None
        report["accuracy_converged"] = {n: d.converged for n, d in fit.accuracy.items()}
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_summary(summary, outcome.store_path, kind=calibration.SweepKind.PROBE)
        if "profile" in report:
            from advisor.api import dataset_name

            print(f"profile with the accuracy model for {dataset_name(args.dataset)}: {report['profile']}")
    return 130 if summary.interrupted else 0
