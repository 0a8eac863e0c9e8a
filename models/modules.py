"""A user's torch MLP priced by the energy model: its realised widths read from the module, then the energy per
datum of training and inference with their intervals, as for any sized network; and measured programs of such
networks as training rows (``advisor fit --include-measured``).

Torch is never imported here: layers are recognised by their classes' names and modules (``torch.nn``'s
``Sequential``, ``Linear``, ``ReLU``; the catalogue's ``ButterMLP`` from :mod:`measurement.network`), so
pricing a module costs no torch import beyond the one the user's program already made.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from measurement.architecture import BEYOND_GRID_LIMITS, GRID_LIMITS, Architecture, Shape, check_batch
from measurement.errors import InputError
from measurement.measured import TOTAL, MeasuredNetwork
from measurement.records import SweepKind

_TORCH_NN = "torch.nn"
_CATALOGUE = ("measurement.network", "ButterMLP")


class ModuleError(InputError):
    """A module that is not an MLP the energy model prices; the message names the offending layer."""


def _is(layer: object, name: str, module: str = _TORCH_NN) -> bool:
    """Whether ``layer`` is (a subclass of) the class ``name`` defined under ``module``."""
    return any(c.__name__ == name and c.__module__.startswith(module) for c in type(layer).__mro__)


def _flatten(model: object, path: str = "") -> Iterator[tuple[str, object]]:
    """The leaves of (nested) ``nn.Sequential`` containers, each with its path (``0``, ``2.1`` …)."""
    for name, child in model.named_children():  # type: ignore[attr-defined]
        where = f"{path}.{name}" if path else name
        if _is(child, "Sequential"):
            yield from _flatten(child, where)
        else:
            yield where, child


def _linears(model: object) -> tuple[list[object], bool]:
    """The Linear layers of a priceable module in order, and whether it has the residual form.

    Raises:
        ModuleError: anything but an ``nn.Sequential`` of Linear layers with one ReLU between each pair (none
            after the last), or the catalogue's ``ButterMLP``; the message names the first layer out of place.
    """
    if _is(model, _CATALOGUE[1], _CATALOGUE[0]):
        return list(model.layers), bool(model.residual)  # type: ignore[attr-defined]
    if not _is(model, "Sequential"):
        raise ModuleError(
            f"a module of class {type(model).__name__} is not an nn.Sequential of Linear and ReLU "
            "layers (nor the catalogue's ButterMLP): predict_module prices those only"
        )
    layers = list(_flatten(model))
    linears = []
    for index, (where, layer) in enumerate(layers):
        expected = "Linear" if index % 2 == 0 else "ReLU"
        if not _is(layer, expected):
            raise ModuleError(
                f"layer {where} ({type(layer).__name__}) is not {expected}: predict_module prices "
                "Linear layers with one ReLU between each pair and none after the last"
            )
        if expected == "Linear":
            linears.append(layer)
    if not layers or len(layers) % 2 == 0:
        last = f"layer {layers[-1][0]} (ReLU)" if layers else "an empty Sequential"
        raise ModuleError(f"{last}: an MLP ends with its output Linear layer")
    return linears, False


def describe_module(model: object, batch_size: int, input_dim: int | None = None) -> MeasuredNetwork:
    """The realised widths of a torch MLP (``nn.Sequential`` of Linear/ReLU, or the catalogue's residual form).

    Args:
        model: the module.
        batch_size: the training batch size it runs at.
        input_dim: its input width; taken from the first Linear layer when not given (and checked when given).

    Raises:
        ModuleError: a module that is not such an MLP, fewer than 2 Linear layers, widths that do not chain, or an
            ``input_dim`` other than the first layer's.
        InputError: a batch size outside [1, 2^20].
    """
    check_batch(batch_size)
    linears, residual = _linears(model)
    if len(linears) < 2:
        raise ModuleError(f"{len(linears)} Linear layer: the energy model prices MLPs of 2 or more (depth >= 2)")
    widths, fan_in, params = [], int(linears[0].in_features), 0
    for index, layer in enumerate(linears):
        if int(layer.in_features) != fan_in:
            raise ModuleError(
                f"Linear layer {index} takes {layer.in_features} inputs but the layer before gives {fan_in}"
            )
        width = int(layer.out_features)
        params += fan_in * width + (width if getattr(layer, "bias", None) is not None else 0)
        widths.append(width)
        fan_in = width
    first = int(linears[0].in_features)
    if input_dim is not None and input_dim != first:
        raise ModuleError(f"input_dim {input_dim} does not match the first Linear layer's {first} inputs")
    return MeasuredNetwork(
        input_dim=first, widths=tuple(widths), residual=residual, batch_size=int(batch_size), params=params
    )


def network_of(input_dim: int, widths: tuple[int, ...], batch_size: int, residual: bool = False) -> MeasuredNetwork:
    """A network given by its widths (``advisor measure --widths``), every Linear layer with a bias.

    Raises:
        ModuleError: fewer than 2 layers, a width or input width that is not a whole number >= 1, or a residual
            form whose hidden widths differ (its skips add equal widths).
        InputError: a batch size outside [1, 2^20].
    """
    check_batch(batch_size)
    values = (input_dim, *widths)
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ModuleError(f"widths and the input width must be whole numbers >= 1, got {input_dim!r} and {widths!r}")
    if len(widths) < 2:
        raise ModuleError(f"{len(widths)} layer: the energy model prices MLPs of 2 or more Linear layers")
    if residual and len(set(widths[:-1])) != 1:
        raise ModuleError(f"the residual form adds equal widths: hidden widths {list(widths[:-1])} differ")
    fan_ins = (input_dim, *widths[:-1])
    params = sum((f + 1) * w for f, w in zip(fan_ins, widths, strict=True))
    return MeasuredNetwork(
        input_dim=int(input_dim),
        widths=tuple(int(w) for w in widths),
        residual=residual,
        batch_size=int(batch_size),
        params=params,
    )


@dataclass(frozen=True)
class PhasePrice:
    """The energy per datum of one phase: the posterior median, the 90% credible interval of the mean, and the
    90% predictive interval of one new measurement, joules."""

    median_j: float
    p05_j: float
    p95_j: float
    predictive_p05_j: float
    predictive_p95_j: float

    def contains(self, measured_j: float) -> bool:
        """Whether a measured energy per datum lies inside the 90% predictive interval."""
        return self.predictive_p05_j <= measured_j <= self.predictive_p95_j


@dataclass(frozen=True)
class ModulePrice:
    """What the energy model says a network costs per datum, training and inference.

    Attributes:
        network: the network priced.
        train: energy per training datum (at the network's batch size).
        inference: energy per predicted datum (at ``inference_batch_size``).
        inference_batch_size: the batch of the inference phase.
        estimated: the profile's energies come from the estimate meter (so do these).
        profile: the profile's name.
        beyond_grid: the network lies outside the BUTTER grid the profile was calibrated on (depth, parameters or
            widths): an extrapolation.
    """

    network: MeasuredNetwork
    train: PhasePrice
    inference: PhasePrice
    inference_batch_size: int
    estimated: bool
    profile: str
    beyond_grid: bool


def _price(posterior, network: MeasuredNetwork, batch_size: int, phase: str) -> PhasePrice:
    from models.features import arch_features

    features = arch_features([network.architecture()], batch_size, phase)
    draws = np.exp(posterior.log_energy(features)[:, 0])
    predictive = np.exp(posterior.predictive_log_energy(features)[:, 0])
    p05, p95 = np.percentile(draws, [5, 95])
    low, high = np.percentile(predictive, [5, 95])
    return PhasePrice(
        median_j=float(np.median(draws)),
        p05_j=float(p05),
        p95_j=float(p95),
        predictive_p05_j=float(low),
        predictive_p95_j=float(high),
    )


def beyond_grid(network: MeasuredNetwork) -> bool:
    """Whether a network lies outside the BUTTER grid's depths, sizes and widths (inside the hard limits)."""
    depth, size, dims = GRID_LIMITS.depth, GRID_LIMITS.size, GRID_LIMITS.dim
    inside = (
        depth[0] <= len(network.widths) <= depth[1]
        and size[0] <= network.params <= size[1]
        and all(dims[0] <= w <= dims[1] for w in (network.input_dim, *network.widths))
    )
    hard = BEYOND_GRID_LIMITS
    if len(network.widths) > hard.depth[1] or network.params > hard.size[1] or network.input_dim > hard.dim[1]:
        raise ModuleError(
            f"a network of {len(network.widths)} layers and {network.params:,} parameters is beyond "
            "what the energy model can price"
        )
    return not inside


def price_network(profile, network: MeasuredNetwork, inference_batch_size: int | None = None) -> ModulePrice:
    """Price ``network`` with ``profile``'s energy posterior (on a data set the fit has not seen).

    Raises:
        ModuleError: a network beyond the hard limits (1000 layers, 2^40 parameters).
    """
    inference_batch = network.batch_size if inference_batch_size is None else inference_batch_size
    check_batch(inference_batch)
    outside = beyond_grid(network)
    return ModulePrice(
        network=network,
        train=_price(profile.energy, network, network.batch_size, "train"),
        inference=_price(profile.energy, network, inference_batch, "inference"),
        inference_batch_size=inference_batch,
        estimated=profile.estimated,
        profile=profile.display_name,
        beyond_grid=outside,
    )


def split_measured(runs):
    """A run export split into the calibration's and probes' runs, and users' measured programs (sweep kind
    ``measure``, present only when the export was asked for them)."""
    if "sweep_kind" not in runs:
        return runs, runs.iloc[:0]
    measured = (runs["sweep_kind"] == SweepKind.MEASURE).to_numpy()
    return runs[~measured], runs[measured]


def measured_training_frame(measured):
    """The measured programs the energy model's features can describe, as training rows: ok, with a network
    named (realised widths and batch recorded) and a positive, finite energy per datum, from their ``train``
    phase, or from the whole (a command) where they have none. Each label is a data set of its own, so the work a
    user's loop does beyond the harness's gets its own factor."""
    import pandas as pd

    from models.features import arch_features

    energy = pd.to_numeric(measured.get("energy_per_datum_j"), errors="coerce")
    keep = (
        measured["phase"].isin(("train", TOTAL))
        & (measured["status"] == "ok")
        & (measured["depth"] >= 2)
        & (measured["batch_size"] >= 1)
        & np.isfinite(energy)
        & (energy > 0)
    )
    usable = measured[keep]
    usable = usable.sort_values("phase", key=lambda p: p != "train", kind="stable").drop_duplicates("run_id")
    if usable.empty:
        return usable
    rows = [arch_features([_stored_architecture(r)], int(r.batch_size), "train") for r in usable.itertuples()]
    out = pd.concat([usable.reset_index(drop=True), pd.concat(rows, ignore_index=True)], axis=1)
    out["phase"] = "train"
    out["log_energy"] = np.log(out["energy_per_datum_j"].to_numpy(float))
    out["config"] = "measured/" + out["run_key"].astype(str)
    return out


def _stored_architecture(row) -> Architecture:
    widths = tuple(int(w) for w in json.loads(row.widths_json))
    return Architecture(
        shape=Shape(row.shape),
        depth=len(widths),
        target_size=int(row.params),
        input_dim=int(row.input_dim),
        output_dim=widths[-1],
        widths=widths,
        params=int(row.params),
    )


def add_measured(frame, measured):
    """A training frame with the usable measured programs appended (``measured`` from :func:`split_measured`)."""
    import pandas as pd

    rows = measured_training_frame(measured) if len(measured) else measured
    if rows.empty:
        return frame
    return pd.concat([frame, rows[[c for c in frame.columns if c in rows]]], ignore_index=True)
