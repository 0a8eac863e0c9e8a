"""nutpie's C callbacks over the fused energy kernel's packed buffer (numba ``cfunc``s, cached on disk).

nutpie calls them with the packed buffer (:func:`models.energy_density.pack`) as their user data: no Python and
no GIL per gradient, so the chains' threads run in parallel.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from models.energy_density import _HEADER, _expand_into, _n_dim, _packed_density, _packed_length
from models.sampling import numba_callback, numba_kernel


def callback_signatures():
    """nutpie's C signatures: logp(dim, x, gradient out, logp out, user data) and expand(dim, expanded dim, x,
    out, user data), each returning 0, or > 0 for a recoverable failure (a divergence)."""
    from numba import types

    double_p = types.CPointer(types.double)
    return (
        types.int64(types.uint64, double_p, double_p, double_p, types.voidptr),
        types.int64(types.uint64, types.uint64, double_p, double_p, types.voidptr),
    )


_LOGP_SIGNATURE, _EXPAND_SIGNATURE = callback_signatures()


@numba_kernel
def _buffer(data_ptr):
    """The packed buffer behind nutpie's user-data pointer (its header gives its length)."""
    head = numba.carray(data_ptr, (_HEADER,), np.float64)
    return numba.carray(data_ptr, (_packed_length(head),), np.float64)


@numba_callback(_LOGP_SIGNATURE)
def logp_callback(dim, x_ptr, grad_ptr, logp_ptr, data_ptr):
    """nutpie's log-density callback over a packed buffer: 3 (a divergence) where the point is not finite."""
    buf = _buffer(data_ptr)
    if dim != _n_dim(buf):
        return -1
    value, grad = _packed_density(numba.carray(x_ptr, (dim,)), buf)
    out = numba.carray(grad_ptr, (dim,))
    finite = math.isfinite(value)
    for i in range(dim):
        out[i] = grad[i]
        finite = finite and math.isfinite(grad[i])
    numba.carray(logp_ptr, (1,))[0] = value
    return 0 if finite else 3


@numba_callback(_EXPAND_SIGNATURE)
def expand_callback(dim, n_expanded, x_ptr, out_ptr, data_ptr):
    """nutpie's callback writing a draw's variables (:func:`_expand_into`)."""
    buf = _buffer(data_ptr)
    if dim != _n_dim(buf):
        return -1
    _expand_into(numba.carray(x_ptr, (dim,)), buf, numba.carray(out_ptr, (n_expanded,)))
    return 0
