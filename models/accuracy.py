"""Bayesian accuracy model per dataset over network size **and training length** (learning curves).

For classification the score is test accuracy after E epochs, rising from the chance level c towards an
asymptote that depends on the network, at a rate that depends on the network:

    asym(P, D, S) = c + (top - c) * sigmoid((ln P - m + b_depth * (ln D - ln 4) + g_shape) / s)
    h(P, D)       = h0 + h_p * (ln P - ln P_ref) + h_d * (ln D - ln 4)        (ln epochs at half the rise)
    score(E)      = c + (asym - c) * sigmoid((ln E - h) / exp(log_se))

so bigger networks may both end higher and learn faster (h_p < 0), as BUTTER-E found. For regression the
score is -ln(test loss) with a free floor in place of c. Every checkpoint of every probe run is an
observation (learning curves: epochs 1, 2, 4, ...); a per-run offset (scale ``sigma_run``) keeps a run's
checkpoints from counting as independent evidence. Checkpoints scatter most mid-rise (when a run leaves
chance level varies a lot), so the observation noise is sqrt(sigma^2 + (sigma_rise * 4 rise (1 - rise))^2):
one homoscedastic sigma fit to whole curves came out at 0.06 on digits and made every plateau look that
uncertain. A new run's predictive spread is that of a trained run, sqrt(sigma_run^2 + sigma^2) (the
advisor asks about runs that reach their budget, near their plateau; it also keeps P rising with epochs).
Outside the probed parameter and epoch ranges the spread grows by
``EXTRAPOLATION_SD`` per e-fold, so P(meet budget after E epochs) stays honest there. The score rises
monotonically with E for every draw, so the fewest epochs meeting a budget can be found by bisection.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from measurement.architecture import BEYOND_GRID_LIMITS, SHAPES
from models import schema
from models.sampling import Diagnostics, FitConfig, FitError, diagnose, draws_dataset, pymc, sample, thin

ACCURACY_VERSION = "accuracy-epochs-2"
EXTRAPOLATION_SD = 0.04
REFERENCE_LOG_DEPTH = float(np.log(4))
PARAMS = ("floor", "top", "m", "log_s", "b_depth", "g_shape", "h0", "h_p", "h_d", "log_se", "sigma", "sigma_run")
NOISE_FLOOR = 0.003
"""Least observation noise (accuracy: about one test sample in 300; regression: 0.3% in loss): a noise scale
free to approach zero made a funnel the sampler could not leave (r_hat 3.5 on wine)."""
EPOCH_CHOICES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1000)
"""Training lengths the advisor chooses among (log-spaced)."""
_SHAPE_INDEX = {s.value: i for i, s in enumerate(SHAPES)}
log = logging.getLogger(__name__)


def score_of(frame: pd.DataFrame, task: str) -> np.ndarray:
    """The model's score of each observation: accuracy, or -ln(test loss) for regression."""
    if task == "regression":
        return -np.log(np.clip(frame["test_loss"].to_numpy(float), 1e-12, None))
    return frame["test_accuracy"].to_numpy(float)


def chance_level(frame: pd.DataFrame, output_dim: int, task: str) -> float:
    """Accuracy of guessing: 1/K for multi-class, 0.5 for binary (a lower bound on the floor)."""
    return 1.0 / output_dim if task == "multiclass" else 0.5


@dataclass(frozen=True)
class _Design:
    """The observations of one dataset as arrays (one row per run and checkpoint)."""

    y: np.ndarray
    log_p: np.ndarray
    log_d: np.ndarray
    log_e: np.ndarray
    shape_idx: np.ndarray
    run_idx: np.ndarray
    runs: int
    log_p_ref: float


def _design(frame: pd.DataFrame, task: str) -> _Design:
    runs, run_idx = np.unique(frame["run_id"].to_numpy(), return_inverse=True)
    log_p = np.log(frame["params"].to_numpy(float))
    return _Design(
        y=score_of(frame, task),
        log_p=log_p,
        log_d=np.log(frame["depth"].to_numpy(float)) - REFERENCE_LOG_DEPTH,
        log_e=np.log(frame["epoch"].to_numpy(float)),
        shape_idx=frame["shape"].map(_SHAPE_INDEX).to_numpy(),
        run_idx=run_idx,
        runs=len(runs),
        log_p_ref=float(np.median(log_p)),
    )


def build_model(frame: pd.DataFrame, task: str, chance: float):
    """The PyMC accuracy model for one dataset's learning curves (one row per run and checkpoint)."""
    pm = pymc()
    import pytensor.tensor as pt

    if frame["run_id"].nunique() < 5:
        raise FitError(f"need at least 5 probe runs to fit an accuracy model, got {frame['run_id'].nunique()}")
    x = _design(frame, task)
    coords = {"shape": [s.value for s in SHAPES], "run": np.arange(x.runs)}
    with pm.Model(coords=coords) as model:
        floor, top = _floor_and_top(pm, pt, x.y, task, chance)
        m = pm.Normal("m", mu=x.log_p_ref, sigma=2.0)
        log_s = pm.Normal("log_s", mu=0.0, sigma=0.7)
        b_depth = pm.Normal("b_depth", mu=0.0, sigma=0.5)
        shape_sd = pm.HalfNormal("shape_sd", sigma=0.5)
        g_raw = pm.Normal("g_raw", mu=0.0, sigma=1.0, dims="shape")  # non-centred: no funnel
        g_shape = pm.Deterministic("g_shape", shape_sd * g_raw, dims="shape")
        h0 = pm.Normal("h0", mu=float(np.median(x.log_e)), sigma=1.5)
        h_p = pm.Normal("h_p", mu=0.0, sigma=0.5)
        h_d = pm.Normal("h_d", mu=0.0, sigma=0.5)
        log_se = pm.Normal("log_se", mu=0.0, sigma=0.7)
        z = (x.log_p - m + b_depth * x.log_d + g_shape[x.shape_idx]) / pt.exp(log_s)
        asym = floor + (top - floor) * pm.math.sigmoid(z)
        half = h0 + h_p * (x.log_p - x.log_p_ref) + h_d * x.log_d
        scale = 0.1 if task != "regression" else 0.5
        sigma_run = pm.HalfNormal("sigma_run", sigma=scale / 2)
        u = pm.Normal("u", 0.0, sigma_run, dims="run")  # centred: each run's many checkpoints pin its offset
        rise = pm.math.sigmoid((x.log_e - half) / pt.exp(log_se))
        mu = floor + (asym - floor) * rise + u[x.run_idx]
        sigma = pm.Deterministic("sigma", NOISE_FLOOR + pm.HalfNormal("sigma_extra", sigma=scale / 2))
        sigma_rise = pm.HalfNormal("sigma_rise", sigma=scale)  # learning curves scatter most mid-rise
        sd = pt.sqrt(sigma**2 + (sigma_rise * 4 * rise * (1 - rise)) ** 2)
        pm.Normal("score", mu=mu, sigma=sd, observed=x.y)
    return model


def _floor_and_top(pm, pt, y: np.ndarray, task: str, chance: float):
    """The score's floor (chance for classification, free for regression) and its ceiling ``top``."""
    if task == "regression":
        floor = pm.Normal("floor", mu=float(np.min(y)), sigma=1.0)
        return floor, pm.Deterministic("top", floor + pm.HalfNormal("gain", sigma=2.0 * (np.ptp(y) + 0.1)))
    floor = pm.Deterministic("floor", pt.as_tensor_variable(chance))
    top_logit = pm.Normal("top_logit", mu=2.0, sigma=1.5)  # no hard wall at 1: smooth geometry
    return floor, pm.Deterministic("top", chance + (1.0 - chance) * pm.math.sigmoid(top_logit))


ACCURACY_FIT = FitConfig(
    draws=2000,
    tune=1000,
    chains=4,
    target_accept=0.95,
    init="jitter+adapt_diag",
    sampler="nutpie",
    low_rank_mass_matrix=True,
)
"""How ``advisor fit`` samples each accuracy model. On the reference's four probes PyMC's sampler (4 x 500
draws, per-run offsets non-centred) took 82 s on digits and did not converge (r_hat 1.014, sigma_run ESS
196), and 530 leapfrog steps a draw on diabetes once centred; nutpie with a diagonal mass matrix left digits
at r_hat 1.006-1.010 over three seeds (its size midpoint ``m`` and ceiling ``top`` form a ridge). The low-rank
correction takes that ridge: 17-45 steps a draw, r_hat <= 1.005 on all four data sets (two seeds each) at
2,000 draws; at 1,000 digits still reached 1.011 at one seed of three."""


TASKS = ("multiclass", "binary", "regression")


@dataclass(frozen=True)
class AccuracyInfo:
    """What an accuracy posterior was fit on: the dataset's task and dims, the probed ranges, diagnostics.

    Attributes:
        log_params_range: ln parameters of the smallest and largest probed network.
        epochs: the median epochs the probe runs trained.
        log_epochs_range: ln epochs of the earliest and latest checkpoint observed.
        log_params_ref: the ln parameters the rate's size slope is centred on (a constant of the fit).
    """

    task: str
    chance: float
    log_params_range: tuple[float, float]
    runs: int
    epochs: float
    input_dim: int
    train_samples: int
    output_dim: int
    best_observed: float
    log_epochs_range: tuple[float, float]
    log_params_ref: float
    diagnostics: Diagnostics
    version: str = ACCURACY_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            **asdict(self),
            "log_params_range": list(self.log_params_range),
            "log_epochs_range": list(self.log_epochs_range),
            "diagnostics": self.diagnostics.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> AccuracyInfo:
        """Read and check the JSON form (task known, dims and counts in range, the ranges ordered)."""
        data = schema.obj(data, where)
        task = schema.text(data, "task", where)
        if task not in TASKS:
            raise schema.SchemaError(f"{where}.task: expected one of {', '.join(TASKS)}")
        version = schema.text(data, "version", where)
        if version != ACCURACY_VERSION:
            raise schema.SchemaError(
                f"{where}.version: accuracy model {version!r}, this advisor uses "
                f"{ACCURACY_VERSION!r}: re-run 'advisor fit'"
            )
        return cls(
            task=task,
            chance=schema.number(data, "chance", where, 0.0, 1.0),
            log_params_range=_range(data, "log_params_range", where, 0.0, 60.0),
            runs=schema.integer(data, "runs", where, 1, 10**7),
            epochs=schema.number(data, "epochs", where, 0, 1e7),
            input_dim=schema.integer(data, "input_dim", where, *BEYOND_GRID_LIMITS.dim),
            train_samples=schema.integer(data, "train_samples", where, 1, 2**40),
            output_dim=schema.integer(data, "output_dim", where, *BEYOND_GRID_LIMITS.dim),
            best_observed=schema.number(data, "best_observed", where),
            log_epochs_range=_range(data, "log_epochs_range", where, -30.0, 30.0),
            log_params_ref=schema.number(data, "log_params_ref", where, 0.0, 60.0),
            diagnostics=Diagnostics.from_dict(data.get("diagnostics"), f"{where}.diagnostics"),
            version=version,
        )


def _range(data: dict, key: str, where: str, low: float, high: float) -> tuple[float, float]:
    """An ordered [low, high] pair within bounds."""
    pair = schema.array(data, key, where, max_len=2)
    if len(pair) != 2:
        raise schema.SchemaError(f"{where}.{key}: expected [low, high]")
    bounds = {"low": pair[0], "high": pair[1]}
    first = schema.number(bounds, "low", f"{where}.{key}", low, high)
    return first, schema.number(bounds, "high", f"{where}.{key}", first, high)


def fit(frame: pd.DataFrame, config: FitConfig = ACCURACY_FIT) -> AccuracyPosterior:
    """Sample the accuracy posterior of one dataset's learning curves (see :func:`curve_frame`)."""
    task = str(frame["task"].iloc[0]) if len(frame) else "multiclass"
    output_dim = int(frame["output_dim"].iloc[0]) if len(frame) else 1
    chance = chance_level(frame, output_dim, task)
    idata, fit_s = sample(build_model(frame, task, chance), config)
    curve = ["top", "m", "log_s", "b_depth", "g_raw", "h0", "h_p", "h_d", "log_se"]
    scatter = ["sigma_extra", "sigma_run", "sigma_rise"]
    diagnostics = diagnose(idata, [*curve, *scatter], config, fit_s)
    log_p, log_e = np.log(frame["params"].to_numpy(float)), np.log(frame["epoch"].to_numpy(float))
    final = frame.sort_values("epoch").groupby("run_id").tail(1)
    info = AccuracyInfo(
        task=task,
        chance=chance,
        log_params_range=(float(log_p.min()), float(log_p.max())),
        runs=int(frame["run_id"].nunique()),
        epochs=float(final["epoch"].median()),
        input_dim=int(frame["input_dim"].iloc[0]),
        train_samples=int(frame["train_samples"].iloc[0]),
        output_dim=output_dim,
        best_observed=float(np.max(score_of(frame, task))),
        log_epochs_range=(float(log_e.min()), float(log_e.max())),
        log_params_ref=float(np.median(log_p)),
        diagnostics=diagnostics,
    )
    return AccuracyPosterior.from_idata(idata, info)


def curve_frame(runs: pd.DataFrame, curves: pd.DataFrame | None = None) -> pd.DataFrame:
    """Observations for the accuracy fits: one row per probe run and checkpoint, with its network and data set.

    ``runs`` is a run export (train-phase rows are used), ``curves`` the learning-curve export (``advisor runs
    --curves``). A probe run without a curve (stores from before curves were recorded) contributes its final
    test metrics at the epochs it trained. Rows whose score is not finite (a diverged run) are dropped. Where a
    data set name was probed in more than one version (its fingerprint changed: another file, or another
    preprocessing), only the newest version's runs are kept: a model of one data set, not of two.
    """
    probes = _newest_versions(
        runs[(runs["sweep_kind"] == "probe") & (runs["phase"] == "train") & (runs["status"] == "ok")]
    )
    keep = ["run_id", "dataset", "task", "shape", "depth", "params", "input_dim", "output_dim", "train_samples"]
    finals = probes[[*keep, "epochs_trained", "test_loss", "test_accuracy"]].rename(columns={"epochs_trained": "epoch"})
    if curves is not None and len(curves):
        points = curves[["run_id", "epoch", "test_loss", "test_accuracy"]].merge(probes[keep], on="run_id")
        finals = finals[~finals["run_id"].isin(set(points["run_id"]))]
        finals = pd.concat([points, finals], ignore_index=True)
    finals = finals[pd.to_numeric(finals["epoch"], errors="coerce") > 0]
    score = pd.to_numeric(
        finals["test_loss"].where(finals["task"] == "regression", finals["test_accuracy"]), errors="coerce"
    )
    return finals[np.isfinite(score.to_numpy(float))].reset_index(drop=True)


def _newest_versions(probes: pd.DataFrame) -> pd.DataFrame:
    """The probe rows of each data set name's newest version (by ``dataset_hash``; the latest run decides)."""
    if "dataset_hash" not in probes or probes.empty:
        return probes
    newest = probes.sort_values("run_id").groupby("dataset")["dataset_hash"].last()
    keep = probes["dataset_hash"] == probes["dataset"].map(newest)
    for name in sorted(set(probes.loc[~keep, "dataset"])):
        log.warning("probe runs of an older version of data set %s left out of its accuracy model", name)
    return probes[keep]


@dataclass(frozen=True)
class AccuracyPosterior:
    """Accuracy posterior draws for one dataset, in numpy, with what the curve was fit on."""

    draws: dict[str, np.ndarray]
    info: AccuracyInfo

    @classmethod
    def from_idata(cls, idata, info: AccuracyInfo) -> AccuracyPosterior:
        """Thin an InferenceData (or its posterior group) into numpy draws (the shared rule)."""
        return cls(thin(getattr(idata, "posterior", idata), PARAMS), info)

    def to_dataset(self):
        """The draws as an InferenceData-style posterior group (xarray), for saving."""
        return draws_dataset(self.draws, {"g_shape": ("shape",)}, {"shape": [s.value for s in SHAPES]})

    @property
    def diagnostics(self) -> Diagnostics:
        """Convergence of the fit behind these draws."""
        return self.info.diagnostics

    @property
    def task(self) -> str:
        """multiclass, binary or regression."""
        return self.info.task

    def mean_score(self, params: np.ndarray, depth: np.ndarray, shapes: list[str], epochs) -> np.ndarray:
        """Curve value per draw (rows) and config (columns) after ``epochs`` (scalar or per config), no noise."""
        d = self.draws
        log_p = np.log(np.asarray(params, float))[None, :]
        log_d = (np.log(np.asarray(depth, float)) - REFERENCE_LOG_DEPTH)[None, :]
        log_e = np.log(np.broadcast_to(np.asarray(epochs, float), log_p.shape[1:]))[None, :]
        idx = np.array([_SHAPE_INDEX[s] for s in shapes], dtype=int)
        col = {k: v[:, None] for k, v in d.items() if v.ndim == 1}
        z = (log_p - col["m"] + col["b_depth"] * log_d + d["g_shape"][:, idx]) / np.exp(col["log_s"])
        asym = col["floor"] + (col["top"] - col["floor"]) * special.expit(z)
        half = col["h0"] + col["h_p"] * (log_p - self.info.log_params_ref) + col["h_d"] * log_d
        return col["floor"] + (asym - col["floor"]) * special.expit((log_e - half) / np.exp(col["log_se"]))

    def predictive_sd(self, params: np.ndarray, epochs) -> np.ndarray:
        """A new run's spread per draw and config, widened outside the probed parameter and epoch ranges."""
        log_p = np.log(np.asarray(params, float))
        log_e = np.log(np.broadcast_to(np.asarray(epochs, float), log_p.shape))
        outside = _outside(log_p, self.info.log_params_range) + _outside(log_e, self.info.log_epochs_range)
        noise = self.draws["sigma"] ** 2 + self.draws["sigma_run"] ** 2
        return np.sqrt(noise[:, None] + (EXTRAPOLATION_SD * outside)[None, :] ** 2)

    def budget_score(self, budget: float) -> float:
        """The budget on the model's scale: accuracy as is; a regression loss budget as -ln(loss)."""
        return -float(np.log(budget)) if self.task == "regression" else float(budget)

    def prob_meets(self, budget: float, params: np.ndarray, depth: np.ndarray, shapes: list[str], epochs) -> np.ndarray:
        """P(a new run of each config trained ``epochs`` reaches the budget), averaged over the posterior."""
        mu = self.mean_score(params, depth, shapes, epochs)
        return stats.norm.sf(self.budget_score(budget), loc=mu, scale=self.predictive_sd(params, epochs)).mean(axis=0)

    def expected(self, params: np.ndarray, depth: np.ndarray, shapes: list[str], epochs) -> np.ndarray:
        """Posterior mean accuracy (or test loss, for regression) per config after ``epochs``."""
        score = self.mean_score(params, depth, shapes, epochs).mean(axis=0)
        return np.exp(-score) if self.task == "regression" else score


def _outside(values: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    """How far (in e-folds) each value lies outside [low, high]."""
    return np.clip(span[0] - values, 0, None) + np.clip(values - span[1], 0, None)


def fewest_epochs(
    posterior: AccuracyPosterior,
    budget: float,
    confidence: float,
    params: np.ndarray,
    depth: np.ndarray,
    shapes: list[str],
    choices: tuple[int, ...] = EPOCH_CHOICES,
) -> tuple[np.ndarray, np.ndarray]:
    """Per config, the fewest epochs in ``choices`` with P(meet) >= ``confidence`` (NaN where none does), and
    P(meet) there (where none does: at the longest choice within the probed epochs).

    Within the probed epochs the spread is constant and the score rises with epochs, so P does too: that
    stretch is bisected. Outside it the widening spread can move P either way, so those choices are tried one
    by one (shorter ones first, longer ones only for configs still short).
    """
    grid = np.asarray(choices, float)
    search = _EpochSearch(
        posterior=posterior,
        budget=budget,
        confidence=confidence,
        params=np.asarray(params),
        depth=np.asarray(depth),
        shapes=np.asarray(shapes, dtype=object),
        grid=grid,
    )
    low_e, high_e = np.exp(posterior.info.log_epochs_range)
    low = int(np.searchsorted(grid, low_e - 1e-9))
    inside = max(low, int(np.searchsorted(grid, high_e + 1e-9)) - 1)
    for k in range(min(low, len(grid))):
        search.try_choice(k)
    p_inside = search.bisect(low, min(inside, len(grid) - 1))
    for k in range(inside + 1, len(grid)):
        search.try_choice(k)
    return search.result(p_inside)


@dataclass
class _EpochSearch:
    """The state of :func:`fewest_epochs`: the best choice index found per config (-1: none yet)."""

    posterior: AccuracyPosterior
    budget: float
    confidence: float
    params: np.ndarray
    depth: np.ndarray
    shapes: np.ndarray
    grid: np.ndarray

    def __post_init__(self) -> None:
        self.best = np.full(len(self.params), -1)

    def p_meet(self, index: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """P(meet) of the configs in ``mask`` at their choice ``index``."""
        m = self.posterior
        return m.prob_meets(
            self.budget, self.params[mask], self.depth[mask], list(self.shapes[mask]), self.grid[index[mask]]
        )

    def try_choice(self, k: int) -> None:
        """Choice ``k`` for every config still without one."""
        short = self.best < 0
        if short.any():
            ok = np.zeros(len(self.params), bool)
            ok[short] = self.p_meet(np.full(len(self.params), k), short) >= self.confidence
            self.best = np.where(short & ok, k, self.best)

    def bisect(self, low: int, high: int) -> np.ndarray:
        """The fewest choice in [low, high] for configs still short that meet at ``high``; P at ``high``."""
        n = len(self.params)
        short = self.best < 0
        p_high = np.zeros(n)
        p_high[short] = self.p_meet(np.full(n, high), short)
        lo, hi = np.full(n, low), np.where(short & (p_high >= self.confidence), high, low - 1)
        while np.any(lo < hi):
            active = lo < hi
            mid = (lo + hi) // 2
            ok = np.zeros(n, bool)
            ok[active] = self.p_meet(mid, active) >= self.confidence
            hi = np.where(active & ok, mid, hi)
            lo = np.where(active & ~ok, mid + 1, lo)
        self.best = np.where(short & (hi >= low), hi, self.best)
        return p_high

    def result(self, p_fallback: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Epochs per config (NaN where none meets) and P(meet) there (``p_fallback`` where none meets)."""
        found = self.best >= 0
        p = p_fallback.copy()
        if found.any():
            p[found] = self.p_meet(np.where(found, self.best, 0), found)
        return np.where(found, self.grid[np.clip(self.best, 0, None)], np.nan), p


@dataclass(frozen=True)
class AccuracyCheck:
    """A posterior-predictive check of one dataset's accuracy model on probe runs it was not fit on.

    Attributes:
        runs: held-out runs (every ``HOLDOUT_EVERY``-th run, all its checkpoints held out with it).
        points: held-out checkpoints.
        median_abs_error: median |posterior-mean score - observed| (accuracy, or -ln loss for regression).
        coverage_90: share of held-out checkpoints inside their 90% predictive interval (~0.9 is honest).
    """

    dataset: str
    runs: int
    points: int
    median_abs_error: float
    coverage_90: float


HOLDOUT_EVERY = 5
CHECK_FIT = FitConfig(draws=300, tune=500, chains=1, target_accept=0.95, init="jitter+adapt_diag", sampler="pymc")


def holdout_check(frame: pd.DataFrame, config: FitConfig = CHECK_FIT) -> AccuracyCheck:
    """Fit one dataset's curves (:func:`curve_frame` rows) without every ``HOLDOUT_EVERY``-th run; predict them."""
    runs = np.sort(frame["run_id"].unique())
    held = frame["run_id"].isin(set(runs[HOLDOUT_EVERY // 2 :: HOLDOUT_EVERY]))
    posterior = fit(frame[~held], config)
    test = frame[held]
    params, depth, shapes = test["params"].to_numpy(), test["depth"].to_numpy(), list(test["shape"])
    epochs = test["epoch"].to_numpy(float)
    mu = posterior.mean_score(params, depth, shapes, epochs)
    draws = mu + posterior.predictive_sd(params, epochs) * np.random.default_rng(0).standard_normal(mu.shape)
    lo, hi = np.percentile(draws, [5, 95], axis=0)
    observed = score_of(test, posterior.task)
    return AccuracyCheck(
        dataset=str(frame["dataset"].iloc[0]),
        runs=int(test["run_id"].nunique()),
        points=len(test),
        median_abs_error=float(np.median(np.abs(mu.mean(axis=0) - observed))),
        coverage_90=float(np.mean((observed >= lo) & (observed <= hi))),
    )
