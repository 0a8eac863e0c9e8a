"""The accuracy model per data set: over the network, the training recipe (learning rate, batch) and length.

``model`` defines and fits it, ``posterior`` answers from its draws, ``info`` is what a profile records about
a fit, ``recipe`` the candidate arrays and recipe grids, ``check`` the held-out checks. The names below are the
package's public face.
"""

from models.accuracy.check import CHECK_FIT, HOLDOUT_EVERY, AccuracyCheck, HoldOut, holdout_check
from models.accuracy.info import (
    ACCURACY_VERSION,
    FRONTIER_MARGIN,
    REGRESSION_FRONTIER_FACTOR,
    TASKS,
    AccuracyInfo,
    ProbedConfig,
    ProbedRun,
)
from models.accuracy.model import ACCURACY_FIT, build_model, chance_level, curve_frame, fit, frontier, score_of
from models.accuracy.posterior import (
    EPOCH_CHOICES,
    EXTRAPOLATION_SD,
    PARAMS,
    AccuracyPosterior,
    Curves,
    fewest_epochs,
    search_epochs,
)
from models.accuracy.recipe import BATCH_SIZES, BUTTER_LEARNING_RATE, LEARNING_RATES, Nets

__all__ = [
    "ACCURACY_FIT",
    "ACCURACY_VERSION",
    "BATCH_SIZES",
    "BUTTER_LEARNING_RATE",
    "CHECK_FIT",
    "EPOCH_CHOICES",
    "EXTRAPOLATION_SD",
    "FRONTIER_MARGIN",
    "HOLDOUT_EVERY",
    "LEARNING_RATES",
    "PARAMS",
    "REGRESSION_FRONTIER_FACTOR",
    "TASKS",
    "AccuracyCheck",
    "AccuracyInfo",
    "AccuracyPosterior",
    "Curves",
    "HoldOut",
    "Nets",
    "ProbedConfig",
    "ProbedRun",
    "build_model",
    "chance_level",
    "curve_frame",
    "fewest_epochs",
    "fit",
    "frontier",
    "holdout_check",
    "score_of",
    "search_epochs",
]
