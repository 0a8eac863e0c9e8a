"""The recommendation engine: a request -> ranked networks with their recipes, P(meet budget), Pareto front.

The request and its checks live in :mod:`advisor.request`, the candidate search (networks x recipes x epochs,
vectorised numpy over posterior draws) in :mod:`advisor.candidates`. Nothing here prints or words a result for
a person: the engine returns data and a typed verdict, and :mod:`advisor.render` says it in words for the CLI,
the TUI and the API alike.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import pandas as pd

from advisor.candidates import candidate_grid, candidate_table, price_probed, probed_table
from advisor.request import AUTO, Constraints, Objective, RecommendRequest, build_request, validate
from models.accuracy import ProbedRun
from models.profile import Profile

__all__ = [  # the engine is the advisor's front: a question's types come with it
    "AUTO",
    "Constraints",
    "Objective",
    "RecommendRequest",
    "Recommendation",
    "Verdict",
    "build_request",
    "candidate_grid",
    "candidate_table",
    "pareto_front",
    "recommend",
]

TRUSTED_EXTRAPOLATION = 1.0
"""A candidate at most this many e-folds beyond the probed networks and recipes may set ``best_achievable``:
far beyond them the curve's plateau is the prior's guess, not the data's."""


class Verdict(enum.StrEnum):
    """Whether any candidate meets the budget with the requested confidence; if none does, whether probed runs
    reached it (the rows are then those runs' networks and recipes)."""

    FEASIBLE = "feasible"
    PROBED = "probed"
    INFEASIBLE = "infeasible"


@dataclass(frozen=True)
class Recommendation:
    """The engine's answer: feasible candidates ranked best first, every candidate, the Pareto front.

    Every table has one row per distinct network (identical architectures once, ``shapes`` naming the
    shapes it stands for) with its best recipe, and the columns listed in
    :func:`advisor.candidates.candidate_table`. Where no candidate is feasible, ``table`` holds the probed runs
    that reached the budget instead (verdict PROBED: each at its own recipe and epochs, with its
    ``measured_score``), or nothing.

    Attributes:
        feasible: how many candidates meet the budget with the requested confidence.
        best_achievable: the best posterior-mean score (accuracy, or loss for regression) over the candidates
            near what was probed (within ``TRUSTED_EXTRAPOLATION``).
        regression: whether the budget is a test loss (lower is better) rather than an accuracy.
        probed: the data set's probed runs a profile keeps (the best-scoring and the cheapest at each score;
            network, recipe, epochs, score), best first: what an empty answer names as the closest evidence.
        probed_energy_j: for an empty answer, each probed run's predicted training energy to its best
            checkpoint (posterior mean; None off the grid); empty otherwise.
    """

    request: RecommendRequest
    table: pd.DataFrame
    pareto: pd.DataFrame
    candidates: pd.DataFrame
    feasible: int
    best_achievable: float
    regression: bool
    estimated: bool
    probed: tuple[ProbedRun, ...] = ()
    probed_energy_j: tuple[float | None, ...] = ()

    @property
    def verdict(self) -> Verdict:
        """FEASIBLE when at least one candidate meets the budget with the confidence; else PROBED when probed
        runs reached it (the table holds them), else INFEASIBLE (an empty table)."""
        if self.feasible:
            return Verdict.FEASIBLE
        return Verdict.INFEASIBLE if self.table.empty else Verdict.PROBED


def pareto_front(energy: np.ndarray, accuracy: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Indices of candidates no other candidate beats on both energy (lower) and accuracy."""
    order = np.lexsort((-accuracy if higher_is_better else accuracy, energy))
    front, best = [], -np.inf
    for i in order:
        value = accuracy[i] if higher_is_better else -accuracy[i]
        if value > best:
            front.append(i)
            best = value
    return np.array(front, dtype=int)


def _best_achievable(table: pd.DataFrame, regression: bool) -> float:
    """The best expected score among candidates near the probed ones (all candidates if none is near)."""
    near = table[table["extrapolation"] <= TRUSTED_EXTRAPOLATION]
    scores = (near if len(near) else table)["expected_score"].to_numpy()
    return float(scores.min() if regression else scores.max())


def recommend(profile: Profile, request: RecommendRequest) -> Recommendation:
    """Rank the distinct networks (each with its best recipe) that meet the accuracy budget with the confidence.

    Ties on the objective break towards fewer parameters, then higher P(meet). A budget no candidate meets with
    the confidence is not an error: ``best_achievable`` names the best posterior-mean accuracy (or loss) near
    what was probed and ``probed`` the probed runs the profile keeps; where some of those reached the budget,
    the table holds them (:func:`advisor.candidates.probed_table`, verdict PROBED), else it is empty (verdict
    INFEASIBLE).
    """
    validate(request, profile)
    table = candidate_table(profile, request)
    regression = profile.accuracy[request.dataset].task == "regression"
    feasible = table[table["feasible"]]
    ranked = feasible.sort_values(["objective_j", "params", "p_meet"], ascending=[True, True, False], kind="stable")
    ranked = ranked.head(request.top).reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    scores = table["expected_score"].to_numpy()
    front = table.iloc[pareto_front(table["objective_j"].to_numpy(), scores, higher_is_better=not regression)]
    probed = tuple(getattr(profile.accuracy[request.dataset].info, "frontier", ()))
    if ranked.empty:  # no candidate is likely enough: the probed runs that reached the budget, as rows
        rows = probed_table(profile, request, probed)
        ranked = ranked if rows.empty else rows
    return Recommendation(
        request=request,
        table=ranked,
        pareto=front.reset_index(drop=True),
        candidates=table,
        feasible=len(feasible),
        best_achievable=_best_achievable(table, regression),
        regression=regression,
        estimated=profile.estimated,
        probed=probed,
        probed_energy_j=price_probed(profile, request, probed) if not len(feasible) else (),
    )
