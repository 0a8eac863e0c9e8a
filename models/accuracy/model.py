"""Bayesian accuracy model per data set over the network, **the training recipe** and the training length.

For classification the score is test accuracy after E epochs, rising from its floor c (the accuracy of always
predicting the most frequent class, at least chance) towards an asymptote that depends on the network and the
learning rate, at a rate that depends on the network and the recipe (Adam's learning rate, the batch size):

    asym = c + (top - c) * sigmoid((ln P - m + b_depth * (ln D - ln 4) + g_shape) / s) * q(lr)
    q    = sigmoid(-(ln lr - l_hi) / W_HI)                        (a learning rate too high lowers the plateau)
    h    = h0 + h_p * (ln P - ln P_ref) + h_d * (ln D - ln 4) - a_lr * (ln lr - ln lr_ref) + a_b * (ln B - ln B_ref)
    score(E) = c + (asym - c) * sigmoid((ln E - h) / exp(log_se))     (h: ln epochs at half the rise)

so bigger networks may both end higher and learn faster (h_p < 0), as BUTTER-E found; a higher learning rate
learns in fewer epochs (a_lr > 0: Adam's progress per step grows with its step size) until it is too high (q);
a bigger batch takes fewer optimizer steps per epoch, so it needs more epochs (a_b between 0: progress counted
in datums, and 1: counted in steps). The recipe's terms are centred on the probed recipes' medians, so one
recipe probed leaves them at their priors (a_lr ~ N(0.7, 0.4), a_b ~ N(0.5, 0.4), l_hi ~ N(ln 0.05, 1)):
the model then still answers for other recipes, with the spread those priors carry. For regression the score
is -ln(test loss) with a free floor in place of c.

Every checkpoint of every probe run is an observation (learning curves: epochs 1, 2, 4, ...); a per-run offset u
keeps a run's checkpoints from counting as independent evidence. The offset has two parts: the config's (its
network and recipe: how far the curve family misses that config; a share ``config_share`` of the variance
``sigma_run^2``) and the seed's (``sigma_seed``: how two trainings of one config differ). Runs of one config on
other seeds (a halving rung continues its best configs on a new seed; an extension re-trains its centres) tell them
apart; the config part is integrated out (the runs' offsets of one config are jointly normal), and its posterior
per probed config is kept (``config_mean``, ``config_var``). Checkpoints scatter most mid-rise, so the observation
noise is sqrt(sigma^2 + (sigma_rise * 4 rise (1 - rise))^2). A new run of an unprobed config spreads as a trained
run does, sqrt(sigma^2 + sigma_run^2); a new seed of a probed config is centred on its own offset, sqrt(sigma^2 +
sigma_seed^2 + config_var). Both widen by ``EXTRAPOLATION_SD`` per e-fold outside the probed parameters, epochs,
learning rates and batch sizes, so P(meet budget) stays honest there. The score rises monotonically with E for
every draw, so the fewest epochs meeting a budget can be found by bisection (:mod:`models.accuracy.posterior`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from measurement.architecture import SHAPES
from models.accuracy.info import AccuracyInfo, ProbedConfig, ProbedRun
from models.accuracy.posterior import REFERENCE_LOG_DEPTH, W_HI, AccuracyPosterior
from models.accuracy.recipe import BUTTER_LEARNING_RATE, SHAPE_INDEX
from models.sampling import FitConfig, FitError, diagnose, pymc, sample

NOISE_FLOOR = 0.003
"""Least observation noise (accuracy: about one test sample in 300; regression: 0.3% in loss): a noise scale
free to approach zero made a funnel the sampler could not leave (r_hat 3.5 on wine)."""
FRONTIER_RUNS = 5
"""Best-scoring probed configs a profile keeps per data set (what an empty answer names first)."""
FRONT_RUNS = 15
"""Runs of the cost front (the cheapest at each score) a profile keeps beside them, the best-scoring."""
log = logging.getLogger(__name__)


def score_of(frame: pd.DataFrame, task: str) -> np.ndarray:
    """The model's score of each observation: accuracy, or -ln(test loss) for regression."""
    if task == "regression":
        return -np.log(np.clip(frame["test_loss"].to_numpy(float), 1e-12, None))
    return frame["test_accuracy"].to_numpy(float)


FLOOR_START_SHARE = 0.75
"""The recorded majority-class accuracy is the floor when at least this share of the runs start there."""
EARLY_EPOCHS = 2
"""A run's first checkpoint shows where its curve starts only if it is this early (else: guessing is the floor)."""
FLOOR_TOLERANCE = 0.01
"""How far under the recorded majority-class accuracy a first checkpoint may lie and still start there."""


def chance_level(frame: pd.DataFrame, output_dim: int, task: str) -> float:
    """The floor a classifier's learning curve rises from: guessing (1/K for multi-class, 0.5 for binary), or
    the test accuracy of always predicting the most frequent class (``constant_accuracy``, as the runs recorded
    it) where it is higher and the curves start there: at least :data:`FLOOR_START_SHARE` of the runs' first
    checkpoints reach it (among runs whose first checkpoint is within :data:`EARLY_EPOCHS`). Guessing where
    the runs did not record it (older stores) or have no early checkpoints (exports without curves).

    Why: on an imbalanced data set a network predicts the majority class within its first epoch. splice
    (3 classes, 52% one class) scores 0.503 at the first checkpoint of most runs; from a floor of 1/3 the model
    read that as a quarter of the rise done, and its plateau for large networks came out at 0.96 where no run
    beat 0.88 (0.89 with the recorded floor; decision 0015). Where many runs start under it (breast_cancer:
    a quarter of the runs predict the minority class at first, 0.33), the curves do not start at the majority
    share and guessing stays the floor."""
    guess = 1.0 / output_dim if task == "multiclass" else 0.5
    recorded = pd.to_numeric(frame.get("constant_accuracy", pd.Series(dtype=float)), errors="coerce").dropna()
    recorded = recorded[(recorded > 0) & (recorded < 1)]
    if not len(recorded) or float(recorded.median()) <= guess:
        return guess
    constant = float(recorded.median())
    first = frame.sort_values("epoch").groupby("run_id").head(1)
    first = first[first["epoch"] <= EARLY_EPOCHS]  # runs without a curve show only their end, not their start
    starts = pd.to_numeric(first["test_accuracy"], errors="coerce").dropna()
    start_there = float(np.mean(starts >= constant - FLOOR_TOLERANCE)) if len(starts) else 0.0
    return constant if start_there >= FLOOR_START_SHARE else guess


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
    log_lr: np.ndarray
    log_b: np.ndarray
    log_lr_ref: float
    log_b_ref: float
    run_config: np.ndarray
    configs: tuple[ProbedConfig, ...]


CONFIG_COLUMNS = ["shape", "depth", "params", "learning_rate", "batch_size"]
"""What makes a probed config: the network and the recipe (runs of one config differ only in their seed)."""


def _configs(frame: pd.DataFrame, run_ids: np.ndarray) -> tuple[np.ndarray, tuple[ProbedConfig, ...]]:
    """Each run's config index (runs in ``run_ids`` order) and the distinct configs."""
    per_run = frame.groupby("run_id", sort=False)[CONFIG_COLUMNS].first().loc[run_ids]
    keys = list(per_run.itertuples(index=False, name=None))
    distinct = list(dict.fromkeys(keys))
    index = {key: i for i, key in enumerate(distinct)}
    configs = tuple(ProbedConfig(str(s), int(d), int(p), float(lr), int(b)) for s, d, p, lr, b in distinct)
    return np.array([index[key] for key in keys], dtype=int), configs


def _design(frame: pd.DataFrame, task: str) -> _Design:
    runs, run_idx = np.unique(frame["run_id"].to_numpy(), return_inverse=True)
    log_p = np.log(frame["params"].to_numpy(float))
    log_lr = np.log(frame["learning_rate"].to_numpy(float))
    log_b = np.log(frame["batch_size"].to_numpy(float))
    run_config, configs = _configs(frame, runs)
    return _Design(
        y=score_of(frame, task),
        log_p=log_p,
        log_d=np.log(frame["depth"].to_numpy(float)) - REFERENCE_LOG_DEPTH,
        log_e=np.log(frame["epoch"].to_numpy(float)),
        shape_idx=frame["shape"].map(SHAPE_INDEX).to_numpy(),
        run_idx=run_idx,
        runs=len(runs),
        log_p_ref=float(np.median(log_p)),
        log_lr=log_lr,
        log_b=log_b,
        log_lr_ref=float(np.median(log_lr)),
        log_b_ref=float(np.median(log_b)),
        run_config=run_config,
        configs=configs,
    )


def build_model(frame: pd.DataFrame, task: str, chance: float):
    """The PyMC accuracy model for one dataset's learning curves (one row per run and checkpoint)."""
    pm = pymc()
    import pytensor.tensor as pt

    if frame["run_id"].nunique() < 5:
        raise FitError(f"need at least 5 probe runs to fit an accuracy model, got {frame['run_id'].nunique()}")
    x = _design(frame, task)
    coords = {"shape": [s.value for s in SHAPES], "run": np.arange(x.runs), "config": np.arange(len(x.configs))}
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
        a_lr = pm.Normal("a_lr", mu=0.7, sigma=0.4)
        a_b = pm.Normal("a_b", mu=0.5, sigma=0.4)
        l_hi = pm.Normal("l_hi", mu=float(np.log(0.05)), sigma=1.0)
        log_se = pm.Normal("log_se", mu=0.0, sigma=0.7)
        z = (x.log_p - m + b_depth * x.log_d + g_shape[x.shape_idx]) / pt.exp(log_s)
        q = pm.math.sigmoid(-(x.log_lr - l_hi) / W_HI)
        asym = floor + (top - floor) * pm.math.sigmoid(z) * q
        recipe = -a_lr * (x.log_lr - x.log_lr_ref) + a_b * (x.log_b - x.log_b_ref)
        half = h0 + h_p * (x.log_p - x.log_p_ref) + h_d * x.log_d + recipe
        scale = 0.1 if task != "regression" else 0.5
        u = _run_offsets(pm, pt, x, scale)
        rise = pm.math.sigmoid((x.log_e - half) / pt.exp(log_se))
        mu = floor + (asym - floor) * rise + u[x.run_idx]
        sigma = pm.Deterministic("sigma", NOISE_FLOOR + pm.HalfNormal("sigma_extra", sigma=scale / 2))
        sigma_rise = pm.HalfNormal("sigma_rise", sigma=scale)  # learning curves scatter most mid-rise
        sd = pt.sqrt(sigma**2 + (sigma_rise * 4 * rise * (1 - rise)) ** 2)
        pm.Normal("score", mu=mu, sigma=sd, observed=x.y)
    return model


def _run_offsets(pm, pt, x: _Design, scale: float):
    """The runs' offsets u, centred (each run's many checkpoints pin its own), with the config part integrated
    out: the offsets of one config's n runs are jointly normal, u_i = v + w_i, v ~ N(0, sigma_config),
    w_i ~ N(0, sigma_seed), so their density depends on the config's mean offset and the spread about it.

    The total scale ``sigma_run`` has the prior a single offset had; the config's share of its variance,
    ``config_share``, is Beta(2, 2). A config probed once has u ~ N(0, sigma_run) as before; the configs
    probed on several seeds add the difference of their joint density to that (a ``Potential``), so a probe
    without replicates samples the geometry it did (written wholly as a potential over flat offsets, digits
    made 37 divergences and half the ESS). Deterministics: ``sigma_seed`` and each config's own offset given
    its runs (``config_mean``, ``config_var``)."""
    sigma_run = pm.HalfNormal("sigma_run", sigma=scale / 2)
    config_share = pm.Beta("config_share", alpha=2.0, beta=2.0)  # replicates tell the parts apart, else the prior
    run_var = sigma_run**2
    config_var, seed_var = run_var * config_share, run_var * (1 - config_share)
    pm.Deterministic("sigma_seed", pt.sqrt(seed_var))
    u = pm.Normal("u", 0.0, sigma_run, dims="run")
    n = np.bincount(x.run_config, minlength=len(x.configs)).astype(float)
    mean = pt.inc_subtensor(pt.zeros(len(x.configs))[x.run_config], u) / n
    total = seed_var + n * config_var  # n x the variance of a config's mean offset
    replicated = np.flatnonzero(n > 1)
    if len(replicated):
        runs = np.flatnonzero(n[x.run_config] > 1)
        k = n[replicated]
        within = pt.sum((u[runs] - mean[x.run_config[runs]]) ** 2)
        joint = -0.5 * (within / seed_var + pt.sum(k * mean[replicated] ** 2 / total[replicated]))
        joint -= float(np.sum(k - 1)) * 0.5 * pt.log(seed_var) + 0.5 * pt.sum(pt.log(total[replicated]))
        alone = -0.5 * pt.sum(u[runs] ** 2) / run_var - 0.5 * len(runs) * pt.log(run_var)
        pm.Potential("replicates", joint - alone)
    share = n * config_var / total  # of a config's mean offset, the part that is the config's (not its seeds')
    pm.Deterministic("config_mean", share * mean, dims="config")
    pm.Deterministic("config_var", share * seed_var / n, dims="config")
    return u


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


def fit(frame: pd.DataFrame, config: FitConfig = ACCURACY_FIT) -> AccuracyPosterior:
    """Sample the accuracy posterior of one dataset's learning curves (see :func:`curve_frame`)."""
    task = str(frame["task"].iloc[0]) if len(frame) else "multiclass"
    output_dim = int(frame["output_dim"].iloc[0]) if len(frame) else 1
    chance = chance_level(frame, output_dim, task)
    idata, fit_s = sample(build_model(frame, task, chance), config)
    curve = ["top", "m", "log_s", "b_depth", "g_raw", "h0", "h_p", "h_d", "a_lr", "a_b", "l_hi", "log_se"]
    scatter = ["sigma_extra", "sigma_run", "config_share", "sigma_rise"]
    diagnostics = diagnose(idata, [*curve, *scatter], config, fit_s)
    return AccuracyPosterior.from_idata(idata, _info(frame, task, chance, diagnostics))


def _span(values: np.ndarray) -> tuple[float, float]:
    return float(values.min()), float(values.max())


def _info(frame: pd.DataFrame, task: str, chance: float, diagnostics) -> AccuracyInfo:
    """What the posterior was fit on: dims, probed ranges (networks, epochs, recipes), the best probed runs."""
    x = _design(frame, task)
    final = frame.sort_values("epoch").groupby("run_id").tail(1)
    return AccuracyInfo(
        task=task,
        chance=chance,
        log_params_range=_span(x.log_p),
        runs=x.runs,
        epochs=float(final["epoch"].median()),
        input_dim=int(frame["input_dim"].iloc[0]),
        train_samples=int(frame["train_samples"].iloc[0]),
        output_dim=int(frame["output_dim"].iloc[0]),
        best_observed=float(np.max(x.y)),
        log_epochs_range=_span(x.log_e),
        log_params_ref=x.log_p_ref,
        diagnostics=diagnostics,
        log_lr_range=_span(x.log_lr),
        log_batch_range=_span(x.log_b),
        log_lr_ref=x.log_lr_ref,
        log_batch_ref=x.log_b_ref,
        frontier=frontier(frame, task),
        configs=x.configs,
    )


def frontier(frame: pd.DataFrame, task: str, runs: int = FRONTIER_RUNS) -> tuple[ProbedRun, ...]:
    """The ``runs`` probed configs with the best scores and the cost front of the others — the cheapest
    (parameters x epochs) at each score, its :data:`FRONT_RUNS` best-scoring — each at its best checkpoint,
    best first. A config trained again (by a later halving rung, or an extension) counts once, at its best.

    Why the front: the best-scoring runs are often the largest networks (splice: 1M parameters at 0.882),
    while a 2k-parameter net reached 0.861; an energy advisor must know which cheap nets reach a budget."""
    ranked = _best_checkpoints(frame, task)
    sign = 1.0 if task == "regression" else -1.0  # sorts best first: a lower loss, a higher accuracy
    front, best_score = [], np.inf
    for run in sorted(ranked[runs:], key=lambda r: (r.compute, sign * r.score)):
        if sign * run.score < best_score:
            front.append(run)
            best_score = sign * run.score
    return tuple(sorted(ranked[:runs] + front[-FRONT_RUNS:], key=lambda r: sign * r.score))


def _best_checkpoints(frame: pd.DataFrame, task: str) -> list[ProbedRun]:
    """Every probed config at its best checkpoint, best first (ties: the fewer epochs)."""
    scored = frame.assign(model_score=score_of(frame, task))
    best = scored.sort_values(["model_score", "epoch"], ascending=[False, True]).groupby("run_id").head(1)
    best = best.drop_duplicates(CONFIG_COLUMNS)
    return [
        ProbedRun(
            shape=str(row.shape),
            depth=int(row.depth),
            params=int(row.params),
            learning_rate=float(row.learning_rate),
            batch_size=int(row.batch_size),
            epochs=float(row.epoch),
            score=float(np.exp(-row.model_score) if task == "regression" else row.model_score),
        )
        for row in best.itertuples()
    ]


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
    probes = _with_recipe(_one_per_trajectory(probes))
    keep = ["run_id", "dataset", "task", "shape", "depth", "params", "input_dim", "output_dim", "train_samples"]
    keep += ["learning_rate", "batch_size", "constant_accuracy"]
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


def _one_per_trajectory(probes: pd.DataFrame) -> pd.DataFrame:
    """The longest run of each run key (a config and its seed) per data set.

    A halving rung trains its best configs again from scratch on the same seed, longer: the shorter run's
    checkpoints are the longer one's first checkpoints, value for value (splice: 9 of 36 probe runs). Both
    kept, one trajectory counted as two runs' evidence. A config on another seed (an extension's repeat) has
    another key and stays. Runs without a run key (older exports) are all kept."""
    if "run_key" not in probes or probes.empty:
        return probes
    keyed = probes[probes["run_key"].notna()].sort_values(["epochs_trained", "run_id"])
    longest = set(keyed.groupby(["dataset", "run_key"], sort=False)["run_id"].last())
    return probes[probes["run_key"].isna() | probes["run_id"].isin(longest)]


def _with_recipe(probes: pd.DataFrame) -> pd.DataFrame:
    """Probe rows with each run's recipe: ``learning_rate`` (exports from before it was recorded: BUTTER's
    1e-4, the only one probes used then) and ``batch_size`` (the training batch); and ``constant_accuracy``
    (NaN where not recorded)."""
    lr = probes["learning_rate"] if "learning_rate" in probes else pd.Series(np.nan, index=probes.index)
    batch = probes["train_batch_size"] if "train_batch_size" in probes else probes["batch_size"]
    constant = probes["constant_accuracy"] if "constant_accuracy" in probes else pd.Series(np.nan, index=probes.index)
    return probes.assign(
        learning_rate=lr.fillna(BUTTER_LEARNING_RATE).astype(float),
        batch_size=batch.astype(float),
        constant_accuracy=pd.to_numeric(constant, errors="coerce").astype(float),
    )


def _newest_versions(probes: pd.DataFrame) -> pd.DataFrame:
    """The probe rows of each data set name's newest version (by ``dataset_hash``; the latest run decides)."""
    if "dataset_hash" not in probes or probes.empty:
        return probes
    newest = probes.sort_values("run_id").groupby("dataset")["dataset_hash"].last()
    keep = probes["dataset_hash"] == probes["dataset"].map(newest)
    for name in sorted(set(probes.loc[~keep, "dataset"])):
        log.warning("probe runs of an older version of data set %s left out of its accuracy model", name)
    return probes[keep]
