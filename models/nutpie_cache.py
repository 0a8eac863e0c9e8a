"""nutpie's compiled models, kept for the next fit of the same model structure in this process.

nutpie builds C callbacks around the model's numba code on every ``compile_pymc_model`` call (about 11 s here,
not cached by numba: they close over the data). A model that takes *every* data-dependent array as
``pm.Data`` (the energy model does; callers opt in, see :func:`models.sampling.sample`) differs from another
of the same structure (the same free variables and shapes, the same fixed initial values, the same labels on
the kept variables) only in data: the second fit swaps its data into the first's compiled model (nutpie's
``with_data``) instead of compiling. ``advisor evaluate`` fits up to ~15 splits; the fit figures, 5.

The compiled model's initial-point function reads the PyMC model it was compiled from (its owner), so the
owner's data are set to the new fit's too: the sampler then starts exactly where a fresh compile would (same
seed, same draws; tested). An entry serves one fit at a time (taken out while in use, dropped if the fit
fails); concurrent fits compile their own.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

MAX_ENTRIES = 4
"""Compiled models kept (one per structure: e.g. an evaluation's folds with all data sets and with one fewer)."""

_ENTRIES: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()  # key -> (owner PyMC model, nutpie compiled model)
_LOCK = threading.Lock()


def structure_key(model: Any, var_names: list[str] | None) -> tuple | None:
    """What must match for a compiled model to serve another PyMC model by a data swap: the kept variables and
    their coordinates (they label the returned trace), every free variable's name and shape, and the fixed
    (non-data) initial values. None when an initial value is symbolic (such a model is never reused).
    """
    shapes = model.eval_rv_shapes()
    free = tuple((rv.name, tuple(int(s) for s in shapes[rv.name])) for rv in model.free_RVs)
    try:
        initvals = tuple(
            (rv.name, np.asarray(value, float).tobytes())
            for rv, value in model.rvs_to_initial_values.items()
            if value is not None and not isinstance(value, str)
        )
    except (TypeError, ValueError):
        return None
    kept = tuple(var_names or ())
    dims = {dim for name in kept for dim in model.named_vars_to_dims.get(name, ())}
    labels = tuple((dim, tuple(map(str, model.coords.get(dim) or ()))) for dim in sorted(dims))
    return kept, labels, free, initvals


def _swap_data(owner: Any, compiled: Any, model: Any) -> Any | None:
    """``compiled`` (built from ``owner``) with ``model``'s data, and ``owner`` holding them too; None (and
    nothing changed) when the data do not fit: a name missing, another rank or type."""
    values = {var.name: var.get_value() for var in model.data_vars}
    owned = {var.name: var for var in owner.data_vars}
    if set(values) != set(owned) or not set(compiled.shared_data) <= set(values):
        return None
    try:
        checked = {name: owned[name].type.filter(value) for name, value in values.items()}  # all, before any set
        swapped = compiled.with_data(**{name: checked[name] for name in compiled.shared_data})
    except (TypeError, ValueError):
        return None
    for name, value in checked.items():
        owned[name].set_value(value)
    return swapped


@contextlib.contextmanager
def compiled_model(model: Any, var_names: list[str] | None, reuse: bool) -> Iterator[Any]:
    """A nutpie compiled model of ``model`` for one fit: with ``reuse``, a kept one with the data swapped in,
    else compiled (and, with ``reuse``, kept for the next fit once this one has finished)."""
    import nutpie

    key = structure_key(model, var_names) if reuse else None
    with _LOCK:
        entry = _ENTRIES.pop(key, None) if key is not None else None
    compiled = _swap_data(*entry, model) if entry is not None else None
    owner = entry[0] if compiled is not None else model
    if compiled is None:
        compiled = nutpie.compile_pymc_model(model, backend="numba", var_names=var_names)
    yield compiled
    if key is None:
        return
    with _LOCK:
        _ENTRIES[key] = (owner, compiled)
        while len(_ENTRIES) > MAX_ENTRIES:
            _ENTRIES.popitem(last=False)


def clear() -> None:
    """Forget every kept compiled model (tests compare a reuse with a fresh compile)."""
    with _LOCK:
        _ENTRIES.clear()
