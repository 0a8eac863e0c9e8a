"""The candidate search: networks x training recipes x training lengths, priced and scored over posterior draws.

Every distinct network of the (constrained) BUTTER grid is tried with every recipe (Adam's learning rate and
the batch size, each the user's or searched over ``models.accuracy.LEARNING_RATES`` / ``BATCH_SIZES``). A
screen scores all (network, recipe) pairs with ``SCREEN_DRAWS`` accuracy draws and each recipe's mean energy;
each network's ``RECIPES_PER_NETWORK`` most promising recipes are then scored in full (``ACCURACY_DRAWS``
accuracy draws, ``ENGINE_DRAWS`` energy draws), and the network's row is its best recipe. The energy model
prices every batch size (its D/B and 1/B terms); the accuracy model says how many epochs each recipe needs.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from advisor.request import AUTO, Constraints, Objective, RecommendRequest
from measurement.architecture import DEPTHS, SHAPES, SIZES, Architecture, Shape, size_architecture
from measurement.errors import InputError
from models.accuracy import BATCH_SIZES, EPOCH_CHOICES, LEARNING_RATES, Curves, Nets, search_epochs
from models.features import arch_features, effective_batch_size
from models.profile import Profile

JOULES_PER_KWH = 3.6e6
ENGINE_DRAWS = 500
"""Energy posterior draws per candidate: Monte Carlo error of a 90% interval end is ~1% of its width."""
ACCURACY_DRAWS = 250
"""Accuracy posterior draws used for P(meet) (evenly spaced): the auto-epochs search evaluates it up to ~12
times over the grid. On the reference digits model, P(meet) from 250 of its 1,000 draws is within 0.013 of
the full posterior's for 95% of the networks (at most 0.03), no worse than 400; 400 take 2.5x as long."""
SCREEN_DRAWS = 40
"""Accuracy draws of the recipe screen (all networks x all recipes)."""
SCREEN_MARGIN = 0.1
"""A recipe screened within this of the confidence stays in the running (the screen's P is a 40-draw mean)."""
RECIPES_PER_NETWORK = 2
"""Recipes per network scored in full after the screen."""
SCREEN_ENERGY_DRAWS = 64
"""Energy draws behind the screen's mean energy per datum (standard error ~1/8 of the posterior spread)."""


@functools.lru_cache(maxsize=16)
def candidate_grid(input_dim: int, output_dim: int) -> tuple[Architecture, ...]:
    """The whole BUTTER grid for these dims, off-target configs dropped (cached: built once per dims)."""
    archs = (size_architecture(s, d, n, input_dim, output_dim) for s in SHAPES for d in DEPTHS for n in SIZES)
    return tuple(a for a in archs if not a.off_target)


def _filter(archs: tuple[Architecture, ...], c: Constraints) -> list[Architecture]:
    shapes = set(c.shapes) if c.shapes else None
    return [
        a
        for a in archs
        if (shapes is None or a.shape.value in shapes)
        and c.min_depth <= a.depth <= c.max_depth
        and c.min_size <= a.target_size <= c.max_size
        and (c.max_params is None or a.params <= c.max_params)
    ]


def _distinct(archs: list[Architecture]) -> tuple[list[Architecture], list[tuple[str, ...]]]:
    """One architecture per distinct network, and the shapes each stands for.

    Two candidates are one network when their widths are equal and both are, or both are not, residual (a
    residual net at depth 2 has no skip: it is a rectangle). At depth 2 every shape is [w, O]. The first of a
    group in grid order (rectangle first) represents it.
    """
    groups: dict[tuple, list[Architecture]] = {}
    for arch in archs:
        residual = arch.shape is Shape.RECTANGLE_RESIDUAL and arch.depth > 2
        groups.setdefault((arch.widths, residual), []).append(arch)
    names = [tuple(dict.fromkeys(a.shape.value for a in group)) for group in groups.values()]
    return [group[0] for group in groups.values()], names


@functools.lru_cache(maxsize=32)
def _features(archs: tuple[Architecture, ...], batch: int, phase: str) -> pd.DataFrame:
    """The energy model's features of ``archs`` (cached: a UI asks again for the same grid on every keystroke)."""
    return arch_features(list(archs), batch, phase)


_DRAWS_CACHE: dict[tuple, tuple[Any, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
_DRAWS_CACHE_SIZE = 24
"""Enough for every searched batch size of two requests (train and inference phases)."""


def _energy_draws(
    profile: Profile, archs: list[Architecture], batch: int, phase: str, dataset: str, draws: int = ENGINE_DRAWS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energy per datum draws (draws x configs), ln whole-step working sets, and each config's tier label (the
    tier its dominant term was priced in; only at the full ``ENGINE_DRAWS``, else None); read-only arrays. On a
    data set the energy fit saw (a probed one) the draws carry its fitted cost factors, else the population's.

    Kept for the last few (posterior, candidates, batch, phase, data set, draws): a new budget, epochs or
    objective over the same candidates (every keystroke in the TUI) reuses them. The entry holds the
    posterior, so its id is not reused.
    """
    key = (id(profile.energy), tuple(archs), batch, phase, dataset, draws)
    hit = _DRAWS_CACHE.get(key)
    if hit is not None and hit[0] is profile.energy:
        return hit[1]
    feats = _features(key[1], batch, phase).assign(dataset=dataset)  # a copy: the cached frame stays as it was
    values = np.exp(profile.energy.with_draws(draws).log_energy(feats))
    full = draws == ENGINE_DRAWS
    tiers = np.array(profile.energy.tier_labels_of(feats, short=True) if full else [None] * len(feats), dtype=object)
    result = (values, feats["log_ws_bytes"].to_numpy(copy=True), tiers)
    for array in result:
        array.setflags(write=False)
    if len(_DRAWS_CACHE) >= _DRAWS_CACHE_SIZE:
        _DRAWS_CACHE.pop(next(iter(_DRAWS_CACHE)))
    _DRAWS_CACHE[key] = (profile.energy, result)
    return result


def _mean_and_interval(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo, hi = np.percentile(draws, [5, 95], axis=0)
    return draws.mean(axis=0), lo, hi


def networks(profile: Profile, request: RecommendRequest) -> tuple[list[Architecture], list[tuple[str, ...]]]:
    """The distinct networks of the constrained grid, and the shapes each stands for."""
    info = profile.accuracy[request.dataset].info
    archs = _filter(candidate_grid(info.input_dim, info.output_dim), request.constraints)
    if not archs:
        raise InputError("no candidate satisfies the constraints (check shapes, depth and size ranges, max params)")
    return _distinct(archs)


def train_samples(profile: Profile, request: RecommendRequest) -> int:
    """The training set size the totals use: the request's, else the dataset's (from its accuracy model)."""
    return int(request.train_samples or profile.accuracy[request.dataset].info.train_samples)


def accuracy_model(profile: Profile, dataset: str, draws: int = ACCURACY_DRAWS):
    """The dataset's accuracy posterior, thinned to ``draws`` evenly spaced draws when it has more."""
    model = profile.accuracy[dataset]
    values = getattr(model, "draws", None)
    if not dataclasses.is_dataclass(model) or not isinstance(values, dict):
        return model
    n = min(len(v) for v in values.values())
    if n <= draws:
        return model
    keep = np.linspace(0, n - 1, draws).round().astype(int)
    return dataclasses.replace(model, draws={k: v[keep] for k, v in values.items()})


def recipes(request: RecommendRequest, samples: int) -> list[tuple[float, int]]:
    """The (learning rate, batch size) pairs to try: the user's, or the searched grids. Batches beyond the
    training set train alike (one full batch), so only the smallest of them is kept."""
    rates = LEARNING_RATES if request.learning_rate == AUTO else (float(request.learning_rate),)
    wanted = BATCH_SIZES if request.batch_size == AUTO else (int(request.batch_size),)
    batches = sorted({b for b in wanted if b < samples} | {min((b for b in wanted if b >= samples), default=0)} - {0})
    return [(lr, b) for lr in rates for b in batches]


@dataclass(frozen=True)
class Trainings:
    """Candidate trainings: per candidate, the index of its network and its recipe (as accuracy-model input).

    Attributes:
        arch_idx: index into the networks list.
        nets: the networks with their recipes.
    """

    arch_idx: np.ndarray
    nets: Nets

    def take(self, index) -> Trainings:
        """The trainings at ``index``."""
        return Trainings(self.arch_idx[index], self.nets.take(index))


def _all_trainings(archs: list[Architecture], pairs: list[tuple[float, int]]) -> Trainings:
    arch_idx = np.repeat(np.arange(len(archs)), len(pairs))
    lr = np.tile([p[0] for p in pairs], len(archs))
    batch = np.tile([p[1] for p in pairs], len(archs))
    params = np.array([a.params for a in archs], float)[arch_idx]
    depth = np.array([a.depth for a in archs], float)[arch_idx]
    shapes = np.array([a.shape.value for a in archs], dtype=object)[arch_idx]
    return Trainings(arch_idx, Nets(params, depth, shapes, lr, batch))


def epochs_and_p(model, request: RecommendRequest, curves: Curves) -> tuple[np.ndarray, np.ndarray]:
    """Training epochs per candidate (the user's, or the fewest meeting the budget) and P(meet) there.

    With ``epochs="auto"`` a candidate that meets the budget at no choice is shown at the longest choice (its
    P(meet) there), so every row's epochs, P(meet) and expected score describe one training length.
    """
    budget = model.budget_score(request.accuracy)
    if request.epochs == AUTO:
        epochs, p_meet = search_epochs(curves, budget, request.confidence)
        p_meet, short = np.array(p_meet, float), np.isnan(epochs)
        if short.any():
            longest = float(EPOCH_CHOICES[-1])
            p_meet[short] = curves.take(short).prob_meets(budget, longest)
        return np.where(short, longest, epochs), p_meet
    epochs = np.full(len(curves.outside), float(request.epochs))
    return epochs, np.asarray(curves.prob_meets(budget, epochs), float)


@dataclass(frozen=True)
class _Priced:
    """Training energy per datum draws (draws x candidates), the working set and tier of each candidate."""

    per_datum: np.ndarray
    log_ws_bytes: np.ndarray
    tier: np.ndarray


def _price(profile: Profile, request: RecommendRequest, archs: list[Architecture], t: Trainings) -> _Priced:
    """Each training's energy per datum at its own batch (as the harness cuts the training set into steps)."""
    samples = train_samples(profile, request)
    per_datum = None
    ws, tiers = np.empty(len(t.arch_idx)), np.empty(len(t.arch_idx), dtype=object)
    for batch in np.unique(t.nets.batch_size):
        rows = t.nets.batch_size == batch
        needed = np.unique(t.arch_idx[rows])  # only the networks trained at this batch
        step = effective_batch_size(int(batch), samples)
        draws, batch_ws, batch_tiers = _energy_draws(
            profile, [archs[i] for i in needed], step, "train", request.dataset
        )
        if per_datum is None:
            per_datum = np.empty((draws.shape[0], len(t.arch_idx)))
        column = np.searchsorted(needed, t.arch_idx[rows])
        per_datum[:, rows] = draws[:, column]
        ws[rows], tiers[rows] = batch_ws[column], batch_tiers[column]
    return _Priced(per_datum, ws, tiers)


def _objective_draws(
    profile: Profile, request: RecommendRequest, archs: list[Architecture], t: Trainings, epochs: np.ndarray
) -> dict[str, np.ndarray]:
    """Per datum, training total, inference per prediction and objective draws of each training."""
    priced = _price(profile, request, archs, t)
    needed = np.unique(t.arch_idx)
    infer, _, _ = _energy_draws(
        profile, [archs[i] for i in needed], request.inference_batch_size, "inference", request.dataset
    )
    infer = infer[:, np.searchsorted(needed, t.arch_idx)]
    training = priced.per_datum * (train_samples(profile, request) * epochs)[None, :]
    lifecycle = training + infer * request.predictions
    objective = {
        Objective.ENERGY_PER_DATUM: priced.per_datum,
        Objective.TRAINING_ENERGY: training,
        Objective.INFERENCE: infer,
        Objective.LIFECYCLE: lifecycle,
    }[request.objective]
    return {
        "per_datum": priced.per_datum,
        "training": training,
        "inference": infer,
        "lifecycle": lifecycle,
        "objective": objective,
        "log_ws_bytes": priced.log_ws_bytes,
        "tier": priced.tier,
    }


def _best_per_network(arch_idx: np.ndarray, ok: np.ndarray, draws: dict[str, np.ndarray], p: np.ndarray, keep: int):
    """Indices of each network's ``keep`` best trainings: those that qualify (``ok``) first, by mean objective
    (ties, such as two learning rates at one batch under energy per datum: by training energy); then the rest
    by P(meet)."""
    key, tie = draws["objective"].mean(axis=0), draws["training"].mean(axis=0)
    order = np.lexsort((np.where(ok, tie, 0.0), np.where(ok, key, -p), ~ok, arch_idx))
    sorted_arch = arch_idx[order]
    first = np.searchsorted(sorted_arch, sorted_arch, side="left")
    return order[np.arange(len(order)) - first < keep]


def _screen(
    profile: Profile, request: RecommendRequest, archs: list[Architecture], t: Trainings, curves: Curves
) -> np.ndarray:
    """Indices of each network's ``RECIPES_PER_NETWORK`` most promising trainings, from a pass over every pair
    with ``SCREEN_DRAWS`` of the accuracy draws."""
    if len(t.arch_idx) <= RECIPES_PER_NETWORK * len(archs):
        return np.arange(len(t.arch_idx))
    rows = np.linspace(0, len(curves.floor) - 1, min(SCREEN_DRAWS, len(curves.floor))).round().astype(int)
    epochs, p = epochs_and_p(profile.accuracy[request.dataset], request, curves.draws(rows))
    ok = p >= request.confidence - SCREEN_MARGIN
    means = _objective_means(profile, request, archs, t, epochs)
    return np.sort(_best_per_network(t.arch_idx, ok, means, p, RECIPES_PER_NETWORK))


_CURVES_CACHE: dict[tuple, tuple[Any, Trainings, Curves]] = {}


def _trainings_and_curves(profile: Profile, request: RecommendRequest, archs: list[Architecture]):
    """Every (network, recipe) training and its accuracy curves at ``ACCURACY_DRAWS`` draws, kept for the last
    few (posterior, networks, recipes): a new budget, confidence or objective reuses them."""
    pairs = recipes(request, train_samples(profile, request))
    posterior = profile.accuracy[request.dataset]
    key = (id(posterior), tuple(archs), tuple(pairs))
    hit = _CURVES_CACHE.get(key)
    if hit is not None and hit[0] is posterior:
        return hit[1], hit[2]
    t = _all_trainings(archs, pairs)
    curves = accuracy_model(profile, request.dataset).curves(t.nets)
    if len(_CURVES_CACHE) >= 4:
        _CURVES_CACHE.pop(next(iter(_CURVES_CACHE)))
    _CURVES_CACHE[key] = (posterior, t, curves)
    return t, curves


def _objective_means(
    profile: Profile, request: RecommendRequest, archs: list[Architecture], t: Trainings, epochs: np.ndarray
) -> dict[str, np.ndarray]:
    """The posterior means of the objective and the training energy (every objective is linear in the energy
    draws, so the means follow from each network's mean energy per datum: no draws x candidates arrays)."""
    samples = train_samples(profile, request)
    per_datum = np.empty(len(t.arch_idx))
    for batch in np.unique(t.nets.batch_size):
        rows = t.nets.batch_size == batch
        step = effective_batch_size(int(batch), samples)
        draws, _, _ = _energy_draws(profile, archs, step, "train", request.dataset, SCREEN_ENERGY_DRAWS)
        per_datum[rows] = _column_means(draws)[t.arch_idx[rows]]
    infer, _, _ = _energy_draws(
        profile, archs, request.inference_batch_size, "inference", request.dataset, SCREEN_ENERGY_DRAWS
    )
    infer = _column_means(infer)[t.arch_idx]
    training = per_datum * samples * epochs
    objective = {
        Objective.ENERGY_PER_DATUM: per_datum,
        Objective.TRAINING_ENERGY: training,
        Objective.INFERENCE: infer,
        Objective.LIFECYCLE: training + infer * request.predictions,
    }[request.objective]
    return {"objective": objective[None, :], "training": training[None, :]}


_MEANS_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _column_means(draws: np.ndarray) -> np.ndarray:
    """Mean over draws per column, kept beside the (read-only, cached) draws array it came from."""
    hit = _MEANS_CACHE.get(id(draws))
    if hit is not None and hit[0] is draws:
        return hit[1]
    if len(_MEANS_CACHE) >= _DRAWS_CACHE_SIZE:
        _MEANS_CACHE.pop(next(iter(_MEANS_CACHE)))
    _MEANS_CACHE[id(draws)] = (draws, draws.mean(axis=0))
    return _MEANS_CACHE[id(draws)][1]


def _columns(request: RecommendRequest, draws: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The energy columns and the objective's (mean, 90% interval) of a table."""
    per_datum, total = _mean_and_interval(draws["per_datum"]), _mean_and_interval(draws["training"])
    same = {id(draws["per_datum"]): per_datum, id(draws["training"]): total}
    objective = same.get(id(draws["objective"])) or _mean_and_interval(draws["objective"])
    columns = {
        "energy_per_datum_j": per_datum[0],
        "energy_p05_j": per_datum[1],
        "energy_p95_j": per_datum[2],
        "training_energy_j": total[0],
        "training_p05_j": total[1],
        "training_p95_j": total[2],
        "inference_energy_per_prediction_j": draws["inference"].mean(axis=0),
    }
    if request.grid_g_per_kwh is not None:
        columns["co2e_g"] = draws["lifecycle"].mean(axis=0) / JOULES_PER_KWH * request.grid_g_per_kwh
    return columns, {"objective_j": objective[0], "objective_p05_j": objective[1], "objective_p95_j": objective[2]}


def _expected(model, curves: Curves, epochs: np.ndarray) -> np.ndarray:
    """Posterior mean accuracy (or test loss, for regression) per candidate after ``epochs``."""
    score = curves.mean(epochs).mean(axis=0, dtype=np.float64)
    return np.exp(-score) if model.task == "regression" else score


def candidate_table(profile: Profile, request: RecommendRequest) -> pd.DataFrame:
    """Every distinct network with its best recipe: epochs, energy, objective, P(meet budget), expected score.

    Columns: shape (the representative), shapes (every shape it stands for, comma-separated), depth, size,
    widths, params, learning_rate, batch_size, epochs, energy per datum (mean, 90% interval), total training
    energy at those epochs (mean, 90% interval), inference energy per prediction, co2e_g (training + planned
    predictions; only when a grid intensity is given), p_meet, expected_score, extrapolation (e-folds beyond
    the probed networks and recipes), feasible, tier (of the training working set), objective_j (mean, 90%
    interval), log_ws_bytes (training working set). A network's best recipe is the one that meets the budget
    with the confidence at the least objective (then the least training energy); where none does, the one
    most likely to.
    """
    archs, groups = networks(profile, request)
    everything, all_curves = _trainings_and_curves(profile, request, archs)
    kept = _screen(profile, request, archs, everything, all_curves)
    model = profile.accuracy[request.dataset]
    t, curves = everything.take(kept), all_curves.take(kept)
    epochs, p = epochs_and_p(model, request, curves)
    draws = _objective_draws(profile, request, archs, t, epochs)
    feasible = p >= request.confidence
    best = np.sort(_best_per_network(t.arch_idx, feasible, draws, p, 1))
    t, epochs, p, feasible, curves = t.take(best), epochs[best], p[best], feasible[best], curves.take(best)
    draws = {k: v[..., best] for k, v in draws.items()}
    shapes = [",".join(groups[i]) for i in t.arch_idx]
    return _frame(request, model, [archs[i] for i in t.arch_idx], shapes, t.nets, epochs, p, feasible, curves, draws)


def _frame(request, model, arch, shapes, nets, epochs, p, feasible, curves, draws) -> pd.DataFrame:
    """A candidate table's columns (:func:`candidate_table`), one row per training."""
    energy, objective = _columns(request, draws)
    head = {
        "shape": [a.shape.value for a in arch],
        "shapes": shapes,
        "depth": nets.depth.astype(int),
        "size": [a.target_size for a in arch],
        "widths": ["-".join(map(str, a.widths)) for a in arch],
        "params": nets.params.astype(np.int64),
        "learning_rate": nets.learning_rate,
        "batch_size": nets.batch_size.astype(int),
        "epochs": epochs,
    }
    tail = {
        "p_meet": p,
        "expected_score": _expected(model, curves, epochs),
        "extrapolation": curves.outside.astype(float),
        "feasible": feasible,
        "tier": draws["tier"].tolist(),
        **objective,
        "log_ws_bytes": draws["log_ws_bytes"],
    }
    return pd.DataFrame({**head, **energy, **tail})


def reached(run, budget: float, regression: bool) -> bool:
    """Whether a probed run's score met the budget (a regression's test loss at or under it)."""
    return run.score <= budget if regression else run.score >= budget


def probed_table(profile: Profile, request: RecommendRequest, runs) -> pd.DataFrame:
    """The probed runs (``ProbedRun``) that reached the budget, as rows of a candidate table: each network at its
    own recipe and the epochs of its best checkpoint, priced by the energy model, with the accuracy model's
    P(meet) there (below the confidence: else a candidate would be feasible) and ``measured_score``, the score
    the run measured. Runs off the grid, or at a recipe the request fixes otherwise, are left out. Ranked by
    ``expected_objective_j``, the objective over P(meet) (at least :data:`MIN_P_MEET`): what one success is
    expected to cost when a training that misses is trained again, so a cheap run the model thinks was lucky
    does not outrank one likely to repeat. Empty when none is left."""
    model = accuracy_model(profile, request.dataset)
    regression = model.task == "regression"
    chosen = [
        (run, arch)
        for run, arch in zip(runs, probed_architectures(profile, request.dataset, runs), strict=True)
        if arch is not None and reached(run, request.accuracy, regression) and _allowed(run, request)
    ]
    if not chosen:
        return pd.DataFrame()
    arch = [a for _, a in chosen]
    nets = Nets(
        np.array([a.params for a in arch], float),
        np.array([a.depth for a in arch], float),
        np.array([a.shape.value for a in arch], dtype=object),
        np.array([run.learning_rate for run, _ in chosen], float),
        np.array([run.batch_size for run, _ in chosen], float),
    )
    epochs = np.array([run.epochs for run, _ in chosen], float)
    curves = model.curves(nets)
    p = np.asarray(curves.prob_meets(model.budget_score(request.accuracy), epochs), float)
    draws = _objective_draws(profile, request, arch, Trainings(np.arange(len(arch)), nets), epochs)
    shapes = [a.shape.value for a in arch]
    table = _frame(request, model, arch, shapes, nets, epochs, p, np.zeros(len(arch), bool), curves, draws)
    table["measured_score"] = [run.score for run, _ in chosen]
    table["expected_objective_j"] = table["objective_j"] / np.clip(table["p_meet"], MIN_P_MEET, 1.0)
    table = table.sort_values(["expected_objective_j", "params"], kind="stable")
    table = table.head(request.top).reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def _allowed(run, request: RecommendRequest) -> bool:
    """Whether a probed run's recipe is one the request allows (a fixed learning rate or batch must match)."""
    lr_ok = request.learning_rate == AUTO or np.isclose(float(request.learning_rate), run.learning_rate)
    batch_ok = request.batch_size == AUTO or int(request.batch_size) == int(run.batch_size)
    return bool(lr_ok and batch_ok)


MIN_P_MEET = 0.01
"""The least P(meet) a probed row's expected cost divides by (a run the model gives no chance still ranks)."""
PROBED_DRAWS = 100
"""Energy draws that price a probed run named by an empty answer (its posterior mean)."""


def probed_architectures(profile: Profile, dataset: str, runs) -> list[Architecture | None]:
    """The grid's network of each probed run (a ``ProbedRun``: shape, depth, parameters), None off the grid."""
    info = profile.accuracy[dataset].info
    grid = {(a.shape.value, a.depth, a.params): a for a in candidate_grid(info.input_dim, info.output_dim)}
    return [grid.get((run.shape, run.depth, run.params)) for run in runs]


def price_probed(profile: Profile, request: RecommendRequest, runs) -> tuple[float | None, ...]:
    """Predicted training energy (J, posterior mean) of each probed run (a ``ProbedRun``) trained as it was to
    its best checkpoint, on the request's training set; None for a network that is not on the grid. Priced one
    batch size at a time (one cached set of draws each: a call per run filled the draws cache and evicted the
    search's own, so every warm recommend with an empty answer priced its candidates again)."""
    samples = train_samples(profile, request)
    archs = probed_architectures(profile, request.dataset, runs)
    by_batch: dict[int, list[int]] = {}
    for i, (run, arch) in enumerate(zip(runs, archs, strict=True)):
        if arch is not None:
            by_batch.setdefault(int(run.batch_size), []).append(i)
    priced: list[float | None] = [None] * len(runs)
    for batch, at in by_batch.items():
        draws, _, _ = _energy_draws(profile, [archs[i] for i in at], batch, "train", request.dataset, PROBED_DRAWS)
        for column, i in enumerate(at):
            priced[i] = float(draws[:, column].mean()) * samples * float(runs[i].epochs)
    return tuple(priced)
