"""A stand-in for ``models.accuracy.AccuracyPosterior``: a closed-form learning curve, no sampling.

One "draw": score(P, E) = floor + (asym(P, lr) - floor) * sigmoid(ln E - ln tau(P, lr, B)), with asym rising
in ln P (a sigmoid) and falling above a too-high learning rate, and tau falling with P (bigger networks learn
faster, as BUTTER-E found) and with the learning rate, rising with the batch (fewer steps per epoch). A new
run's score is Normal around it with ``sigma``, so P(meet) rises with epochs. For regression the score is
-ln(test loss). The curve is handed to the advisor as a real :class:`models.accuracy.Curves`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special

from models.accuracy import Curves, Nets


def _outside(values: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    return np.clip(span[0] - values, 0, None) + np.clip(values - span[1], 0, None)


@dataclass(frozen=True)
class FakeAccuracyInfo:
    """The fields of ``AccuracyInfo`` the advisor reads."""

    task: str = "multiclass"
    input_dim: int = 61  # digits after dropping its constant columns
    output_dim: int = 10
    train_samples: int = 1437
    chance: float = 0.1
    log_epochs_range: tuple[float, float] = (0.0, float(np.log(1000)))
    log_params_range: tuple[float, float] = (float(np.log(32)), float(np.log(2**24)))
    log_lr_range: tuple[float, float] = (float(np.log(1e-4)), float(np.log(1e-2)))
    log_batch_range: tuple[float, float] = (float(np.log(16)), float(np.log(1024)))
    frontier: tuple = ()


@dataclass(frozen=True)
class FakeAccuracy:
    """Closed-form accuracy over networks, recipes and epochs with the posterior's interface.

    Attributes:
        top: the asymptote of a very large network (classification: accuracy; regression: -ln loss).
        floor: the score before training (chance, or -ln of the untrained loss).
        mid_params: parameters at which the asymptote is half way from floor to top.
        tau_epochs: epochs to half the rise for a network of ``ref_params`` parameters at lr 1e-3, batch 256.
        tau_slope: d ln tau / d ln params (negative: bigger learns faster).
        lr_slope: -d ln tau / d ln lr (positive: a higher learning rate learns in fewer epochs).
        batch_slope: d ln tau / d ln batch (positive: bigger batches take fewer steps per epoch).
        lr_too_high: the learning rate at which the plateau halves.
        shape_bonus: added to ln params in the asymptote, per shape name.
    """

    top: float = 0.99
    floor: float = 0.1
    mid_params: float = 3000.0
    tau_epochs: float = 20.0
    ref_params: float = 3000.0
    tau_slope: float = -0.5
    lr_slope: float = 0.7
    batch_slope: float = 0.5
    lr_too_high: float = 0.05
    sigma: float = 0.01
    info: FakeAccuracyInfo = field(default_factory=FakeAccuracyInfo)
    shape_bonus: tuple[tuple[str, float], ...] = ()

    @property
    def task(self) -> str:
        """multiclass, binary or regression."""
        return self.info.task

    def curves(self, nets: Nets) -> Curves:
        """The curve of every candidate as one posterior draw."""
        bonus = dict(self.shape_bonus)
        log_p = np.log(nets.params) + np.array([bonus.get(s, 0.0) for s in nets.shapes])
        q = special.expit(-(np.log(nets.learning_rate) - np.log(self.lr_too_high)) / 0.5)
        asym = self.floor + (self.top - self.floor) * special.expit(log_p - np.log(self.mid_params)) * q
        half = (
            np.log(self.tau_epochs)
            + self.tau_slope * (log_p - np.log(self.ref_params))
            - self.lr_slope * np.log(nets.learning_rate / 1e-3)
            + self.batch_slope * np.log(nets.batch_size / 256)
        )
        return Curves(
            floor=np.array([[self.floor]]),
            asym=asym[None, :],
            half=half[None, :],
            width=np.array([[1.0]]),
            noise=np.array([[self.sigma**2]]),
            outside=_outside(np.log(nets.params), self.info.log_params_range)
            + _outside(np.log(nets.learning_rate), self.info.log_lr_range)
            + _outside(np.log(nets.batch_size), self.info.log_batch_range),
            log_epochs_range=self.info.log_epochs_range,
        )

    def budget_score(self, budget: float) -> float:
        """The budget on the curve's scale."""
        return -float(np.log(budget)) if self.task == "regression" else float(budget)

    def prob_meets(self, budget, nets: Nets, epochs) -> np.ndarray:
        """P(a new run's score reaches the budget)."""
        return self.curves(nets).prob_meets(self.budget_score(budget), epochs)

    def expected(self, nets: Nets, epochs) -> np.ndarray:
        """Mean accuracy (or test loss for regression)."""
        score = self.curves(nets).mean(epochs)[0]
        return np.exp(-score) if self.task == "regression" else score


REGRESSION = FakeAccuracyInfo(task="regression", input_dim=10, output_dim=1, train_samples=353, chance=0.0)


def advising_profile(estimated: bool = True):
    """The fake energy profile (tests/fakes/posteriors) with fake accuracy models for ``digits`` (accuracy)
    and ``diabetes`` (regression: score -ln loss from 0 to 4.5, i.e. test loss from 1 down to ~0.011)."""
    import dataclasses

    from tests.fakes.posteriors import fake_profile

    regression = FakeAccuracy(top=4.5, floor=0.0, sigma=0.05, info=REGRESSION)
    return dataclasses.replace(fake_profile(estimated), accuracy={"digits": FakeAccuracy(), "diabetes": regression},
                               name="fake advising profile")  # fmt: skip


def real_accuracy(draws: int = 40, task: str = "multiclass", seed: int = 0):
    """A real ``models.accuracy.AccuracyPosterior`` with hand-made draws (savable in a profile): digits-like
    accuracy (floor 0.1, top ~0.99, half way at ~3,000 params) or, for ``regression``, -ln loss from 0 to 4.5."""
    from models.accuracy import AccuracyInfo, AccuracyPosterior
    from tests.fakes.posteriors import DIAGNOSTICS

    rng = np.random.default_rng(seed)
    regression = task == "regression"
    floor, top = (0.0, 4.5) if regression else (0.1, 0.99)
    values = {
        "floor": np.full(draws, floor), "top": np.full(draws, top),
        "m": np.log(3000.0) + 0.05 * rng.standard_normal(draws),
        "log_s": np.zeros(draws), "b_depth": np.zeros(draws), "g_shape": np.zeros((draws, 8)),
        "h0": np.full(draws, np.log(8.0)), "h_p": np.full(draws, -0.3), "h_d": np.zeros(draws),
        "a_lr": np.full(draws, 0.7), "a_b": np.full(draws, 0.5), "l_hi": np.full(draws, np.log(0.05)),
        "log_se": np.zeros(draws), "sigma": np.full(draws, 0.05 if regression else 0.01),
        "sigma_run": np.full(draws, 0.01),
    }  # fmt: skip
    info_dims = REGRESSION if regression else FakeAccuracyInfo()
    info = AccuracyInfo(
        task=task, chance=0.0 if regression else 0.1, log_params_range=(float(np.log(32)), float(np.log(2**24))),
        runs=40, epochs=64.0, input_dim=info_dims.input_dim, train_samples=info_dims.train_samples,
        output_dim=info_dims.output_dim, best_observed=top, log_epochs_range=(0.0, float(np.log(1000))),
        log_params_ref=float(np.log(3000.0)), diagnostics=DIAGNOSTICS,
        log_lr_range=info_dims.log_lr_range, log_batch_range=info_dims.log_batch_range,
        log_lr_ref=float(np.log(1e-3)), log_batch_ref=float(np.log(256)),
    )  # fmt: skip
    return AccuracyPosterior(values, info)


def saved_advising_profile(folder):
    """Save the fake energy profile with real (hand-made) accuracy posteriors for digits and diabetes, marked
    as calibrated on this machine (no other-hardware warning)."""
    import dataclasses

    from advisor.api import this_machine
    from tests.fakes.posteriors import fake_profile

    accuracy = {"digits": real_accuracy(), "diabetes": real_accuracy(task="regression")}
    profile = fake_profile()
    positive = {k: np.abs(profile.energy.draws[k]) for k in ("r", "sigma", "sigma_dataset")}  # the scatter can cross 0
    energy = dataclasses.replace(profile.energy, draws={**profile.energy.draws, **positive})
    meta = dataclasses.replace(profile.metadata, fingerprint=this_machine())
    return dataclasses.replace(profile, energy=energy, accuracy=accuracy, metadata=meta).save(folder)
