"""Hold-out evaluation: in-distribution grouped k-fold and transfer to what users change.

Which runs each scheme holds out lives in :mod:`models.holdout`; here, the scores. For the tier model and the
baselines: median absolute percentage error (APE) of the point prediction (posterior median), share of
held-out runs within ±10%, the worst ratio (max of predicted/measured, measured/predicted), and, for the
model and the one baseline that states an interval (the gradient-boosted trees, :data:`BOOSTED_TREES`), 90%
interval coverage. The repeat-noise floor of the calibration is reported beside them
(no model can beat the meter's noise), with the ratio of the model's median APE to it. The transfer schemes
add a params-proportional line fitted on the held-out runs themselves: the best any one-constant rule can do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from measurement.errors import InputError
from measurement.tiers import Tier
from models import schema
from models.accuracy import AccuracyCheck
from models.baselines import BOOSTED_TREES
from models.holdout import EVAL_FIT, SCHEMES, FitFn, HeldOut, grouped_folds, held_out_predictions
from models.sampling import FitConfig

__all__ = [
    "BOOSTED_TREES",
    "EVAL_FIT",
    "SCHEMES",
    "Evaluation",
    "EvaluationSummary",
    "TransferEvaluation",
    "evaluate",
    "evaluate_transfer",
    "grouped_folds",
    "score_held_out",
]

MAX_FOLDS = 50
MAX_GROUPS = 1000
MODEL = "tier model"
HELD_OUT_PARAMS_LINE = "energy ∝ params (fit on the held-out runs)"
"""The baseline fitted on the held-out runs themselves, per group and phase: labelled so wherever it appears."""


@dataclass(frozen=True)
class Scores:
    """Grouped k-fold scores of one predictor."""

    name: str
    median_ape: float
    within_10pct: float
    coverage_90: float | None = None
    per_phase_median_ape: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ErrorScores:
    """One predictor's errors on a set of held-out runs."""

    median_ape: float
    within_10pct: float
    worst_ratio: float
    coverage_90: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "median_ape": self.median_ape,
            "within_10pct": self.within_10pct,
            "worst_ratio": self.worst_ratio,
            "coverage_90": self.coverage_90,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ErrorScores:
        """Read and check the JSON form (shares in [0, 1], errors non-negative, ratios >= 1)."""
        data = schema.obj(data, where)
        return cls(
            median_ape=schema.number(data, "median_ape", where, 0.0, 1e9),
            within_10pct=schema.number(data, "within_10pct", where, 0.0, 1.0),
            worst_ratio=schema.number(data, "worst_ratio", where, 1.0, 1e12),
            coverage_90=schema.optional_number(data, "coverage_90", where, 0.0, 1.0),
        )


def error_scores(
    measured_j: np.ndarray, predicted_j: np.ndarray, lo_j: np.ndarray | None = None, hi_j: np.ndarray | None = None
) -> ErrorScores:
    """Median APE, share within ±10%, worst ratio and (given an interval) its coverage of the measurements."""
    measured_j, predicted_j = np.asarray(measured_j, float), np.asarray(predicted_j, float)
    ape = np.abs(predicted_j / measured_j - 1.0)
    worst = float(np.exp(np.max(np.abs(np.log(predicted_j / measured_j)))))
    coverage = None if lo_j is None else float(np.mean((measured_j >= lo_j) & (measured_j <= hi_j)))
    return ErrorScores(
        median_ape=float(np.median(ape)),
        within_10pct=float(np.mean(ape <= 0.10)),
        worst_ratio=worst,
        coverage_90=coverage,
    )


@dataclass(frozen=True)
class GroupScores:
    """The model's and the baselines' errors on one held-out group (a width, a data set, or all of them).

    Attributes:
        noise_ratio: the model's median APE / the calibration's repeat-noise floor (None without a floor).
        baselines: by name, each fitted on the same training part, plus :data:`HELD_OUT_PARAMS_LINE`.
    """

    group: str
    n: int
    model: ErrorScores
    noise_ratio: float | None
    baselines: dict[str, ErrorScores]
    per_phase_median_ape: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "group": self.group,
            "n": self.n,
            "model": self.model.to_dict(),
            "noise_ratio": self.noise_ratio,
            "baselines": {name: s.to_dict() for name, s in self.baselines.items()},
            "per_phase_median_ape": dict(self.per_phase_median_ape),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> GroupScores:
        """Read and check the JSON form."""
        data = schema.obj(data, where)
        baselines = {
            str(name)[:200]: ErrorScores.from_dict(entry, f"{where}.baselines.{str(name)[:40]}")
            for name, entry in schema.mapping(data, "baselines", where, max_len=64).items()
        }
        at = f"{where}.per_phase_median_ape"
        phases = schema.mapping(data, "per_phase_median_ape", where, max_len=8)
        return cls(
            group=schema.text(data, "group", where, max_len=200),
            n=schema.integer(data, "n", where, 1),
            model=ErrorScores.from_dict(data.get("model"), f"{where}.model"),
            noise_ratio=schema.optional_number(data, "noise_ratio", where, 0.0, 1e12),
            baselines=baselines,
            per_phase_median_ape={str(p)[:20]: schema.number(phases, p, at, 0.0, 1e9) for p in phases},
        )


@dataclass(frozen=True)
class TransferEvaluation:
    """One scheme's scores per held-out group and over all of them (``overall``), or why it was skipped."""

    scheme: str
    noise_floor: float | None
    groups: tuple[GroupScores, ...] = ()
    overall: GroupScores | None = None
    divergences: int = 0
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "scheme": self.scheme,
            "noise_floor": self.noise_floor,
            "groups": [g.to_dict() for g in self.groups],
            "overall": self.overall.to_dict() if self.overall else None,
            "divergences": self.divergences,
            "skipped": self.skipped,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TransferEvaluation:
        """Read and check the JSON form (a known scheme, bounded groups)."""
        data = schema.obj(data, where)
        scheme = schema.text(data, "scheme", where, max_len=20)
        if scheme not in SCHEMES:
            raise schema.SchemaError(f"{where}.scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}")
        groups = tuple(
            GroupScores.from_dict(g, f"{where}.groups[{i}]")
            for i, g in enumerate(schema.array(data, "groups", where, max_len=MAX_GROUPS))
        )
        overall = data.get("overall")
        skipped = None if data.get("skipped") is None else schema.text(data, "skipped", where, max_len=500)
        return cls(
            scheme=scheme,
            noise_floor=schema.optional_number(data, "noise_floor", where, 0.0, 100.0),
            groups=groups,
            overall=GroupScores.from_dict(overall, f"{where}.overall") if overall is not None else None,
            divergences=schema.integer(data, "divergences", where),
            skipped=skipped,
        )


@dataclass(frozen=True)
class Evaluation:
    """Grouped k-fold scores of the model and the baselines (``folds`` None when not run), the noise floor,
    and the transfer schemes' scores."""

    folds: int | None
    held_out: int
    scores: tuple[Scores, ...]
    noise_floor: float | None
    divergences: int
    transfer: tuple[TransferEvaluation, ...] = ()
    accuracy: tuple[AccuracyCheck, ...] = ()
    """Posterior-predictive checks of the accuracy models on held-out probe runs (``accuracy`` scheme)."""

    def summary(self) -> EvaluationSummary:
        """The compact form stored in a profile and shown by the UIs."""
        scores = {s.name: ScoreSummary(s.median_ape, s.within_10pct, s.coverage_90) for s in self.scores}
        return EvaluationSummary(
            folds=self.folds,
            held_out=self.held_out,
            noise_floor=self.noise_floor,
            scores=scores,
            transfer={t.scheme: t for t in self.transfer},
        )


@dataclass(frozen=True)
class ScoreSummary:
    """One predictor's k-fold scores, as stored in a profile."""

    median_ape: float
    within_10pct: float
    coverage_90: float | None = None


@dataclass(frozen=True)
class EvaluationSummary:
    """Hold-out scores stored in a profile: k-fold (folds, observations, noise floor, scores by predictor name;
    ``folds`` None when k-fold was not run) and the transfer schemes by name (absent in older profiles)."""

    folds: int | None
    held_out: int
    noise_floor: float | None
    scores: dict[str, ScoreSummary]
    transfer: dict[str, TransferEvaluation] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "folds": self.folds,
            "held_out": self.held_out,
            "noise_floor": self.noise_floor,
            "scores": {name: vars(s) for name, s in self.scores.items()},
            "transfer": {name: t.to_dict() for name, t in self.transfer.items()},
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "evaluation") -> EvaluationSummary:
        """Read and check the JSON form (shares in [0, 1], errors non-negative; no ``transfer``: none stored)."""
        data = schema.obj(data, where)
        scores = {}
        for name, entry in schema.mapping(data, "scores", where, max_len=64).items():
            at = f"{where}.scores.{name}"
            entry = schema.obj(entry, at)
            scores[str(name)[:200]] = ScoreSummary(
                median_ape=schema.number(entry, "median_ape", at, 0.0, 1e9),
                within_10pct=schema.number(entry, "within_10pct", at, 0.0, 1.0),
                coverage_90=schema.optional_number(entry, "coverage_90", at, 0.0, 1.0),
            )
        transfer = {}
        if data.get("transfer") is not None:
            for name, entry in schema.mapping(data, "transfer", where, max_len=len(SCHEMES)).items():
                transfer[str(name)] = TransferEvaluation.from_dict(entry, f"{where}.transfer.{str(name)[:20]}")
        folds = None if data.get("folds") is None else schema.integer(data, "folds", where, 2, MAX_FOLDS)
        return cls(
            folds=folds,
            held_out=schema.integer(data, "held_out", where),
            noise_floor=schema.optional_number(data, "noise_floor", where, 0.0, 100.0),
            scores=scores,
            transfer=transfer,
        )


def check_folds(folds: int, configs: int) -> None:
    """Refuse a fold count the data cannot support (InputError, before any fitting)."""
    if not 2 <= folds <= MAX_FOLDS:
        raise InputError(f"folds must be between 2 and {MAX_FOLDS}, got {folds}")
    if configs < folds:
        raise InputError(f"{folds} folds need at least {folds} distinct configs; the runs have {configs}")


def _scores(name: str, runs: pd.DataFrame, predicted_j: np.ndarray, coverage: float | None = None) -> Scores:
    ape = np.abs(np.asarray(predicted_j, float) / runs["measured_j"].to_numpy(float) - 1.0)
    per_phase = {p: float(np.median(ape[(runs["phase"] == p).to_numpy()])) for p in runs["phase"].unique()}
    return Scores(
        name=name,
        median_ape=float(np.median(ape)),
        within_10pct=float(np.mean(ape <= 0.10)),
        coverage_90=coverage,
        per_phase_median_ape=per_phase,
    )


def evaluate(
    frame: pd.DataFrame,
    tiers: tuple[Tier, ...],
    folds: int = 5,
    fit_config: FitConfig = EVAL_FIT,
    noise_floor: float | None = None,
    seed: int = 0,
    fit_fn: FitFn | None = None,
) -> Evaluation:
    """Grouped k-fold: fit on k-1 folds, score on the held-out fold, for every fold; pool the predictions."""
    check_folds(folds, frame["config"].nunique())
    held = held_out_predictions(frame, "kfold", tiers, folds=folds, fit_config=fit_config, seed=seed, fit_fn=fit_fn)
    runs = held.runs
    measured = runs["measured_j"].to_numpy(float)
    inside = (measured >= runs["predicted_p5_j"].to_numpy(float)) & (
        measured <= runs["predicted_p95_j"].to_numpy(float)
    )
    scores = [_scores(MODEL, runs, runs["predicted_j"].to_numpy(), float(np.mean(inside)))]
    for name in held.baselines.columns:
        measured_inside = _inside(held, name, measured)
        coverage = None if measured_inside is None else float(np.mean(measured_inside))
        scores.append(_scores(name, runs, held.baselines[name].to_numpy(), coverage))
    return Evaluation(
        folds=folds,
        held_out=len(runs),
        scores=tuple(scores),
        noise_floor=noise_floor,
        divergences=held.divergences,
    )


def _inside(held: HeldOut, name: str, measured_j: np.ndarray) -> np.ndarray | None:
    """Whether each measurement lies inside baseline ``name``'s 90% interval (None: it states none)."""
    if name not in held.baseline_p5.columns:
        return None
    low, high = held.baseline_p5[name].to_numpy(float), held.baseline_p95[name].to_numpy(float)
    return (measured_j >= low) & (measured_j <= high)


def _baseline_scores(
    measured_j: np.ndarray, predicted_j: pd.Series, intervals: tuple[pd.DataFrame, pd.DataFrame], name: str
) -> ErrorScores:
    """One baseline's errors, with its interval's coverage where ``intervals`` (5%, 95%) hold one for it."""
    low, high = intervals
    if name not in low.columns:
        return error_scores(measured_j, predicted_j.to_numpy(float))
    return error_scores(measured_j, predicted_j.to_numpy(float), low[name].to_numpy(float), high[name].to_numpy(float))


def params_line_predictions(runs: pd.DataFrame) -> np.ndarray:
    """E = a · params per held-out group and phase, a = exp(median(ln E − ln params)) of those same runs."""
    log_ratio = np.log(runs["measured_j"].to_numpy(float)) - np.log(runs["params"].to_numpy(float))
    offset = pd.Series(log_ratio, index=runs.index).groupby([runs["group"], runs["phase"]]).transform("median")
    return runs["params"].to_numpy(float) * np.exp(offset.to_numpy(float))


def _group_scores(
    group: str,
    runs: pd.DataFrame,
    baselines: pd.DataFrame,
    intervals: tuple[pd.DataFrame, pd.DataFrame],
    floor: float | None,
) -> GroupScores:
    """Scores of one group's rows; ``intervals``: the 5% and 95% bounds of the baselines that state them."""
    measured = runs["measured_j"].to_numpy(float)
    model = error_scores(
        measured_j=measured,
        predicted_j=runs["predicted_j"].to_numpy(float),
        lo_j=runs["predicted_p5_j"].to_numpy(float),
        hi_j=runs["predicted_p95_j"].to_numpy(float),
    )
    others = {name: _baseline_scores(measured, baselines[name], intervals, name) for name in baselines.columns}
    ape = np.abs(runs["predicted_j"].to_numpy(float) / measured - 1.0)
    phases = {str(p): float(np.median(ape[(runs["phase"] == p).to_numpy()])) for p in runs["phase"].unique()}
    ratio = model.median_ape / floor if floor else None
    return GroupScores(
        group=group, n=len(runs), model=model, noise_ratio=ratio, baselines=others, per_phase_median_ape=phases
    )


def score_held_out(held: HeldOut, noise_floor: float | None) -> TransferEvaluation:
    """Scores per held-out group (in the order the scheme held them out) and over all held-out runs."""
    if held.skipped is not None or held.runs.empty:
        return TransferEvaluation(
            scheme=held.scheme,
            noise_floor=noise_floor,
            divergences=held.divergences,
            skipped=held.skipped or "no runs held out",
        )
    runs = held.runs.reset_index(drop=True)
    baselines = held.baselines.reset_index(drop=True).assign(**{HELD_OUT_PARAMS_LINE: params_line_predictions(runs)})
    low, high = (f.reset_index(drop=True).reindex(runs.index) for f in (held.baseline_p5, held.baseline_p95))
    groups = []
    for group in pd.unique(runs["group"]):
        rows = (runs["group"] == group).to_numpy()
        groups.append(_group_scores(str(group), runs[rows], baselines[rows], (low[rows], high[rows]), noise_floor))
    overall = _group_scores("all", runs, baselines, (low, high), noise_floor)
    return TransferEvaluation(
        scheme=held.scheme,
        noise_floor=noise_floor,
        groups=tuple(groups),
        overall=overall,
        divergences=held.divergences,
    )


def evaluate_transfer(
    frame: pd.DataFrame,
    scheme: str,
    tiers: tuple[Tier, ...],
    noise_floor: float | None = None,
    fit_config: FitConfig = EVAL_FIT,
    seed: int = 0,
    fit_fn: FitFn | None = None,
) -> TransferEvaluation:
    """Hold out what users change (``width``, ``dataset`` or ``day``, see :mod:`models.holdout`) and score it.

    ``noise_floor``: the repeat-noise floor measured in the same calibration (``records.noise_floor`` of the
    calibration runs); each group's median APE is reported as a multiple of it.
    """
    if scheme not in SCHEMES or scheme == "kfold":
        raise InputError(f"unknown transfer scheme {scheme!r:.40}: choose width, dataset or day")
    held = held_out_predictions(frame, scheme, tiers, fit_config=fit_config, seed=seed, fit_fn=fit_fn)
    return score_held_out(held, noise_floor)
