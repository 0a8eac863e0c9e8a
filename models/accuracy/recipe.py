"""What the accuracy model predicts for: networks with their training recipe (Adam's learning rate, the batch).

One home for the candidate arrays (:class:`Nets`) and for the recipe's reference values and search grids, so the
model, the advisor and the probes agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from measurement.architecture import SHAPES

BUTTER_LEARNING_RATE = 1e-4
"""BUTTER's fixed learning rate: the recipe of a run that did not record one."""
BUTTER_BATCH = 256
"""BUTTER's fixed batch size."""
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
"""Adam learning rates the advisor searches (log-spaced, 1e-4 to 1e-2)."""
BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024)
"""Batch sizes the advisor searches."""
SHAPE_INDEX = {s.value: i for i, s in enumerate(SHAPES)}


@dataclass(frozen=True)
class Nets:
    """Candidate trainings, one entry per candidate: the network (parameters, depth, shape) and its recipe.

    Attributes:
        params: parameters of each network.
        depth: layers of each network.
        shapes: each network's shape name.
        learning_rate: Adam's learning rate of each training.
        batch_size: the training batch size of each training.
    """

    params: np.ndarray
    depth: np.ndarray
    shapes: np.ndarray
    learning_rate: np.ndarray
    batch_size: np.ndarray
    shape_idx: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(np.atleast_1d(self.params))
        arrays = {
            "params": np.broadcast_to(np.asarray(self.params, float), (n,)),
            "depth": np.broadcast_to(np.asarray(self.depth, float), (n,)),
            "shapes": np.broadcast_to(np.asarray(self.shapes, dtype=object), (n,)),
            "learning_rate": np.broadcast_to(np.asarray(self.learning_rate, float), (n,)),
            "batch_size": np.broadcast_to(np.asarray(self.batch_size, float), (n,)),
        }
        for name, value in arrays.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "shape_idx", np.array([SHAPE_INDEX[s] for s in arrays["shapes"]], dtype=int))

    @classmethod
    def of(
        cls,
        params,
        depth,
        shapes,
        learning_rate=BUTTER_LEARNING_RATE,
        batch_size=BUTTER_BATCH,
    ) -> Nets:
        """Candidates from arrays (a scalar recipe applies to every network)."""
        return cls(np.asarray(params), np.asarray(depth), np.asarray(shapes, dtype=object), learning_rate, batch_size)

    def __len__(self) -> int:
        return len(self.params)

    def take(self, index) -> Nets:
        """The candidates at ``index`` (a boolean mask or integer indices)."""
        return Nets(
            self.params[index], self.depth[index], self.shapes[index], self.learning_rate[index], self.batch_size[index]
        )
