"""The energy model's log density and its gradient as one fused numba kernel, for nutpie.

:func:`models.energy.build_model` is the model's definition (PyMC); :mod:`models.energy_params` its parameter
table, from which this kernel's layout, priors, start point and expanded draws are derived (packed into the
buffer the kernel reads, :func:`pack`): what is written here by hand is only the likelihood's maths and its
gradient. Sampling the PyMC graph with nutpie costs a fit about 18 s of compiling before the first draw and
~200 us per gradient; nutpie's JAX backend and blackjax over the same graph were 5x and 19x slower than this
kernel (docs/decisions/0001-fused-energy-kernel.md). This kernel is compiled once into numba's on-disk cache;
nutpie calls it through C callbacks (numba ``cfunc``s, cached too) whose user data is the packed float64
buffer: no Python and no GIL per gradient, so two chains run in parallel on two cores. Tests assert it equals
the PyMC graph's log density and gradient (Jacobians included) at random points, its variables PyMC's, its
starting point PyMC's initial point, and the callbacks the kernel's Python entry points.

The unconstrained vector is laid out as PyMC transforms the table's free variables, in the table's order
(:class:`models.energy_params.Layout`), so a point means the same in both.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from models.energy_params import TABLE, UNTIERED, Layout, Prior
from models.sampling import callback_model, numba_kernel
from models.vector_math import exp_into, log_into

if TYPE_CHECKING:
    from models.energy import EnergyData

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_NORMAL, _LOG_NORMAL, _HALF_NORMAL, _CAPACITY = 0, 1, 2, 3
PRIOR_CODES = {
    Prior.NORMAL: _NORMAL,
    Prior.LOG_NORMAL: _LOG_NORMAL,
    Prior.HALF_NORMAL: _HALF_NORMAL,
    Prior.CAPACITY: _CAPACITY,
}
"""Each prior's code in the packed buffer's table rows."""
ROLES = ("log_c_anchor", "r", "log_S_unsorted", "log_tau", "sigma", "sigma_dataset", "z_dataset")
"""The table's variables whose place in the likelihood the kernel's maths knows (their offsets are packed)."""


@numba_kernel
def _normal(x: float, mu: float, sd: float) -> float:
    """ln Normal(x; mu, sd)."""
    d = (x - mu) / sd
    return -0.5 * d * d - math.log(sd) - _HALF_LOG_2PI


@numba_kernel
def _softplus(x: float) -> float:
    """ln(1 + e^x), without overflow."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@numba_kernel
def _capacities(y, lo, hi, prior_log_s, prior_sd):
    """ln S = sort(each of ``y`` through the interval transform's inverse; see models.energy._capacities):
    returns (the sorted capacities' normal prior + the uniform densities and interval Jacobians (their
    ln(hi - lo) cancel), the order (argsort of ``y``), ln S, d ln S / d y, the last two in sorted order)."""
    k = y.shape[0]
    order = np.argsort(y)
    log_s = np.empty(k)
    ds_dy = np.empty(k)
    logp = 0.0
    for j in range(k):
        i = order[j]
        sig = 1.0 / (1.0 + math.exp(-y[i]))
        log_s[j] = lo + (hi - lo) * sig
        ds_dy[j] = (hi - lo) * sig * (1.0 - sig)
        logp += -_softplus(-y[i]) - _softplus(y[i])  # Uniform(lo, hi) density + interval Jacobian
        logp += _normal(log_s[j], prior_log_s[j], prior_sd)
    return logp, order, log_s, ds_dy


@numba_kernel
def _capacity_grad(y, order, log_s, ds_dy, dlog_s, prior_log_s, prior_sd, grad, offset):
    """Add d/dy of everything that depends on ln S (``dlog_s``: the likelihood's d/d ln S; ``order``, ``log_s``,
    ``ds_dy`` as :func:`_capacities` returns them) and of the interval Jacobians to ``grad``."""
    for j in range(y.shape[0]):
        i = order[j]
        sig = 1.0 / (1.0 + math.exp(-y[i]))
        prior = -(log_s[j] - prior_log_s[j]) / (prior_sd * prior_sd)
        grad[offset + i] += (dlog_s[j] + prior) * ds_dy[j] + 1.0 - 2.0 * sig


@numba_kernel
def _priors(theta, rows, centre, scale, grad):
    """Log density of every table row's prior on the unconstrained scale (Jacobians included) but the
    capacities' (:func:`_capacities`); the gradient is added to ``grad``. A LogNormal sampled on the log scale
    is a Normal there; a HalfNormal on the log scale adds its Jacobian."""
    logp = 0.0
    for r in range(rows.shape[0]):
        code, start, n = int(rows[r, 0]), int(rows[r, 1]), int(rows[r, 2])
        for i in range(start, start + n):
            if code == _HALF_NORMAL:
                value = math.exp(theta[i])
                logp += math.log(2.0) + _normal(value, 0.0, scale[i]) + theta[i]
                grad[i] += 1.0 - value * value / (scale[i] * scale[i])
            elif code != _CAPACITY:  # Normal, or LogNormal on the log scale
                logp += _normal(theta[i], centre[i], scale[i])
                grad[i] -= (theta[i] - centre[i]) / (scale[i] * scale[i])
    return logp


@numba_kernel
def _tier_steps(unique_ws, log_s, log_step, tau):
    """Each distinct working set's steps sigmoid((ln W - ln S_k) / tau) (tiers x working sets) and its cost
    factor exp(sum_k step_k ln(1 + r_k)). A sigmoid is 1 / (1 + C_k / E_w): one exp per working set and per
    tier instead of one per pair (centred on the capacities' mean: one overflowing half gives a step of 0 or 1,
    both halves only for tau < ~0.03, 25 prior sds away, where a NaN makes the step a divergence). The exps
    (:func:`models.vector_math.exp_into`) and the arithmetic run in separate loops, so that both vectorise."""
    n_ws, n_tiers = unique_ws.shape[0], log_s.shape[0]
    centre = 0.0
    for k in range(n_tiers):
        centre += log_s[k] / n_tiers
    scaled = np.empty(n_ws)
    for w in range(n_ws):
        scaled[w] = (centre - unique_ws[w]) / tau
    inv_e_ws = np.empty(n_ws)
    exp_into(scaled, inv_e_ws)
    steps = np.empty((n_tiers, n_ws))
    acc = np.zeros(n_ws)
    for k in range(n_tiers):
        c_tier, row, weight = math.exp((log_s[k] - centre) / tau), steps[k], log_step[k]
        for w in range(n_ws):
            row[w] = 1.0 / (1.0 + c_tier * inv_e_ws[w])
            acc[w] += row[w] * weight
    factor = np.empty(n_ws)
    exp_into(acc, factor)
    return steps, factor


@numba_kernel
def _likelihood(
    theta,
    roles,
    untiered_at,
    amounts,
    ws_index,
    untiered,
    meas_sd,
    y,
    phase,
    group,
    cost,
    tier_factor,
    sigma,
    spread,
    nu,
    grad,
    d_tier,
    d_log_c,
    d_spread,
):
    """Student-t log likelihood of ln E, the terms summed in linear space (as the predictor does). Adds the
    gradient of the untiered overheads, sigma (log scale) and z to ``grad``, and accumulates d/d ln(tier
    factor) per working set, d/d log_c and d/d sigma_dataset (through the factors) for the caller's chain rule.
    Three passes over the observations: each part of the energy and their totals, the logs (:func:`log_into`),
    the density and its gradient."""
    n_obs, n_terms, n_phases, n_untiered = y.shape[0], amounts.shape[1], sigma.shape[0], untiered.shape[1]
    o_sig, o_z = int(roles[4]), int(roles[6])
    overhead = np.empty((n_untiered, n_phases))
    for u in range(n_untiered):
        for p in range(n_phases):
            overhead[u, p] = math.exp(theta[int(untiered_at[u]) + p])
    parts = np.empty((n_obs, n_terms + n_untiered))  # the tiered terms, then the untiered ones
    total, var = np.empty(n_obs), np.empty(n_obs)
    for i in range(n_obs):
        p, g = int(phase[i]), int(group[i])  # indices arrive as float64 in the packed buffer: exact
        for t in range(n_terms):
            parts[i, t] = amounts[i, t] * cost[g, t] * tier_factor[int(ws_index[i, t])]
        for u in range(n_untiered):
            parts[i, n_terms + u] = overhead[u, p] * untiered[i, u]
        acc = 0.0
        for j in range(n_terms + n_untiered):
            acc += parts[i, j]
        total[i] = acc
        var[i] = sigma[p] * sigma[p] + meas_sd[i] * meas_sd[i]
    log_total, log_var, log_denom = np.empty(n_obs), np.empty(n_obs), np.empty(n_obs)
    log_into(total, log_total)
    log_into(var, log_var)
    err, denom = np.empty(n_obs), np.empty(n_obs)
    for i in range(n_obs):
        err[i] = y[i] - log_total[i]
        denom[i] = nu * var[i] + err[i] * err[i]
    log_into(denom, log_denom)
    # -ln(var) / 2 - (nu + 1) / 2 ln(1 + err^2 / (nu var)), as two logs
    t_const = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
    logp = n_obs * (t_const + 0.5 * (nu + 1) * math.log(nu))
    for i in range(n_obs):
        logp += 0.5 * nu * log_var[i] - 0.5 * (nu + 1) * log_denom[i]
    for i in range(n_obs):
        p, g = int(phase[i]), int(group[i])
        e2 = err[i] * err[i]
        grad[o_sig + p] += (-1.0 + (nu + 1) * e2 / denom[i]) / var[i] * sigma[p] * sigma[p]
        per_total = (nu + 1) * err[i] / denom[i] / total[i]  # d logp / d mu, over E (each part's share of mu)
        for t in range(n_terms):
            share = parts[i, t] * per_total
            d_log_c[t] += share
            z_at = o_z + g * n_terms + t
            d_spread[t] += share * theta[z_at]
            grad[z_at] += share * spread[t]
            d_tier[int(ws_index[i, t])] += share
        for u in range(n_untiered):
            grad[int(untiered_at[u]) + p] += parts[i, n_terms + u] * per_total
    return logp


@numba_kernel
def _tier_grad(unique_ws, steps, log_step, log_s, tau, d_tier, d_log_step, d_log_s):
    """Chain rule from d/d ln(tier factor) per working set to ln(1 + r_k), ln S_k and (returned) ln tau
    (``steps``: tiers x working sets, as :func:`_tier_steps` gives them)."""
    d_log_tau = 0.0
    for k in range(log_s.shape[0]):
        row = steps[k]
        by_step, by_slope, by_distance_slope = 0.0, 0.0, 0.0
        for w in range(unique_ws.shape[0]):
            s = row[w]
            by_step += d_tier[w] * s
            slope = d_tier[w] * s * (1.0 - s)
            by_slope += slope
            by_distance_slope += slope * (unique_ws[w] - log_s[k])
        d_log_step[k] += by_step
        scale = log_step[k] / tau
        d_log_s[k] -= scale * by_slope
        d_log_tau -= scale * by_distance_slope
    return d_log_tau


@numba_kernel
def _anchored_log_c(theta, o_c, o_r, anchor):
    """ln cost per unit of each tiered term below every step: its anchor cost less the steps the anchor holds."""
    n_terms, n_tiers = anchor.shape[0], anchor.shape[1]
    log_c = np.empty(n_terms)
    for t in range(n_terms):
        log_c[t] = theta[o_c + t]
        for k in range(n_tiers):
            log_c[t] -= anchor[t, k] * _softplus(theta[o_r + k])  # ln(1 + r), r = exp(theta): no overflow
    return log_c


@numba_kernel
def _log_density(
    theta,
    amounts,
    ws_index,
    unique_ws,
    anchor,
    untiered,
    meas_sd,
    y,
    phase,
    group,
    n_groups,
    untiered_at,
    roles,
    rows,
    centre,
    scale,
    nu,
    lo,
    hi,
):
    """(log density, gradient) at ``theta`` (the table's layout). ``amounts`` and ``untiered`` are on the linear
    scale (``exp`` of the features); ``roles``, ``untiered_at``, ``rows``, ``centre`` and ``scale`` come from the
    parameter table (:func:`pack`)."""
    n_terms, n_tiers = anchor.shape[0], anchor.shape[1]
    o_c, o_r, o_s, o_tau = int(roles[0]), int(roles[1]), int(roles[2]), int(roles[3])
    o_sig, o_sd, o_z = int(roles[4]), int(roles[5]), int(roles[6])
    n_phases = int(rows[_row_of(rows, o_sig), 2])
    grad = np.zeros(theta.shape[0])
    logp = _priors(theta, rows, centre, scale, grad)
    cap = _capacities(theta[o_s : o_s + n_tiers], lo, hi, centre[o_s : o_s + n_tiers], scale[o_s])
    cap_logp, order, log_s, ds_dy = cap
    logp += cap_logp
    sigma, spread = np.exp(theta[o_sig : o_sig + n_phases]), np.exp(theta[o_sd : o_sd + n_terms])
    log_step = np.empty(n_tiers)
    for k in range(n_tiers):
        log_step[k] = _softplus(theta[o_r + k])
    log_c = _anchored_log_c(theta, o_c, o_r, anchor)
    cost = np.empty((n_groups, n_terms))  # each data set's cost per unit below every step
    for t in range(n_terms):
        for g in range(n_groups):
            cost[g, t] = math.exp(log_c[t] + spread[t] * theta[o_z + g * n_terms + t])
    tau = math.exp(theta[o_tau])
    steps, tier_factor = _tier_steps(unique_ws, log_s, log_step, tau)
    d_tier, d_log_c, d_spread = np.zeros(unique_ws.shape[0]), np.zeros(n_terms), np.zeros(n_terms)
    logp += _likelihood(
        theta,
        roles,
        untiered_at,
        amounts,
        ws_index,
        untiered,
        meas_sd,
        y,
        phase,
        group,
        cost,
        tier_factor,
        sigma,
        spread,
        nu,
        grad,
        d_tier,
        d_log_c,
        d_spread,
    )

    d_log_s, d_log_step = np.zeros(n_tiers), np.zeros(n_tiers)
    for t in range(n_terms):
        grad[o_c + t] += d_log_c[t]
        grad[o_sd + t] += d_spread[t] * spread[t]
        for k in range(n_tiers):
            d_log_step[k] -= d_log_c[t] * anchor[t, k]
    grad[o_tau] += _tier_grad(unique_ws, steps, log_step, log_s, tau, d_tier, d_log_step, d_log_s)
    for k in range(n_tiers):
        grad[o_r + k] += d_log_step[k] / (1.0 + math.exp(-theta[o_r + k]))  # d ln(1 + r) / d ln r
    _capacity_grad(
        theta[o_s : o_s + n_tiers], order, log_s, ds_dy, d_log_s, centre[o_s : o_s + n_tiers], scale[o_s], grad, o_s
    )
    return logp, grad


@numba_kernel
def _row_of(rows, offset):
    """The table row starting at ``offset`` of the unconstrained vector."""
    for r in range(rows.shape[0]):
        if int(rows[r, 1]) == offset:
            return r
    return -1


_HEADER = 12
"""The packed buffer's header: observations, terms, tiers, phases, data sets, distinct working sets, untiered
terms, table rows, the vector's length, the Student-t's nu, ln S's bounds."""


def pack(data: EnergyData) -> np.ndarray:
    """The fit's arrays and the parameter table's layout, priors and roles as one float64 buffer (header, then
    each array flattened, indices exact as floats): what the kernel and its C callbacks read, through one
    pointer."""
    amounts = np.asarray(data.amounts, float)
    layout = layout_of(data)
    slices, priors = layout.slices(), data.priors
    centre, scale, rows = np.zeros(layout.n_dim), np.ones(layout.n_dim), []
    for p in TABLE:
        where, shape = slices[p.name]
        centre[where] = np.broadcast_to(p.centre_value(priors, data.guesses, data.prior_log_s), shape).ravel()
        scale[where] = p.scale_value(priors)
        rows.append((PRIOR_CODES[p.prior], where.start, where.stop - where.start))
    n_obs, n_terms = amounts.shape
    header = (
        n_obs,
        n_terms,
        len(data.prior_log_s),
        layout.sizes["phase"],
        len(data.datasets),
        len(data.unique_log_ws),
        len(UNTIERED),
        len(rows),
        layout.n_dim,
        priors.nu,
        *priors.log_capacity_bounds,
    )
    per_obs = (data.meas_sd, data.y, data.phase_index, data.dataset_index)
    table = ([slices[u.param][0].start for u in UNTIERED], [slices[name][0].start for name in ROLES], rows)
    parts = (
        header,
        np.exp(amounts),
        data.ws_index,
        data.unique_log_ws,
        data.anchor,
        np.exp(data.untiered),
        *per_obs,
        *table,
        centre,
        scale,
    )
    return np.ascontiguousarray(np.concatenate([np.ravel(np.asarray(a, float)) for a in parts]))


def layout_of(data: EnergyData) -> Layout:
    """The unconstrained layout of a fit's data."""
    return Layout.of(data.amounts.shape[1], len(data.prior_log_s), len(data.guesses["log_o"]), len(data.datasets))


@numba_kernel
def _packed_length(head):
    """The packed buffer's length from its header."""
    n_obs, n_terms, n_tiers = int(head[0]), int(head[1]), int(head[2])
    n_ws, n_untiered, n_rows, n_dim = int(head[5]), int(head[6]), int(head[7]), int(head[8])
    per_obs = n_obs * (2 * n_terms + n_untiered + 4)
    return _HEADER + per_obs + n_ws + n_terms * n_tiers + n_untiered + len(ROLES) + 3 * n_rows + 2 * n_dim


@numba_kernel
def _unpack(buf):
    """The kernel's arguments from a packed buffer (views, no copies): see :func:`pack`."""
    n_obs, n_terms, n_tiers = int(buf[0]), int(buf[1]), int(buf[2])
    n_groups, n_ws, n_untiered, n_rows, n_dim = int(buf[4]), int(buf[5]), int(buf[6]), int(buf[7]), int(buf[8])
    at = _HEADER
    amounts = buf[at : at + n_obs * n_terms].reshape((n_obs, n_terms))
    at += n_obs * n_terms
    ws_index = buf[at : at + n_obs * n_terms].reshape((n_obs, n_terms))
    at += n_obs * n_terms
    unique_ws = buf[at : at + n_ws]
    at += n_ws
    anchor = buf[at : at + n_terms * n_tiers].reshape((n_terms, n_tiers))
    at += n_terms * n_tiers
    untiered = buf[at : at + n_obs * n_untiered].reshape((n_obs, n_untiered))
    at += n_obs * n_untiered
    per_obs = buf[at : at + 4 * n_obs].reshape((4, n_obs))  # meas_sd, y, phase, group
    at += 4 * n_obs
    untiered_at = buf[at : at + n_untiered]
    roles = buf[at + n_untiered : at + n_untiered + len(ROLES)]
    at += n_untiered + len(ROLES)
    rows = buf[at : at + 3 * n_rows].reshape((n_rows, 3))
    at += 3 * n_rows
    centre, scale = buf[at : at + n_dim], buf[at + n_dim : at + 2 * n_dim]
    return (
        amounts,
        ws_index,
        unique_ws,
        anchor,
        untiered,
        per_obs[0],
        per_obs[1],
        per_obs[2],
        per_obs[3],
        n_groups,
        untiered_at,
        roles,
        rows,
        centre,
        scale,
        buf[9],
        buf[10],
        buf[11],
    )


@numba_kernel
def _packed_density(theta, buf):
    """(log density, gradient) at ``theta`` over a packed buffer."""
    return _log_density(theta, *_unpack(buf))


@numba_kernel
def _n_dim(buf):
    """Length of the unconstrained vector of a packed buffer."""
    return int(buf[8])


@numba_kernel
def _expand_into(theta, buf, out):
    """Write the model's variables at ``theta`` to ``out`` in :meth:`Layout.expanded`'s order: each table row on
    its own scale (LogNormal and HalfNormal rows exponentiated, the capacities through the interval transform's
    inverse, then sorted), the derived ``log_c`` after ``log_c_anchor``."""
    args = _unpack(buf)
    anchor, roles, rows, centre, lo, hi = args[3], args[11], args[12], args[13], args[16], args[17]
    o_c, o_r = int(roles[0]), int(roles[1])
    at = 0
    for r in range(rows.shape[0]):
        code, start, n = int(rows[r, 0]), int(rows[r, 1]), int(rows[r, 2])
        if code == _CAPACITY:
            values = _capacities(theta[start : start + n], lo, hi, centre[start : start + n], 1.0)[2]
        elif code == _NORMAL:
            values = theta[start : start + n].copy()
        else:
            values = np.exp(theta[start : start + n])
        out[at : at + n] = values
        at += n
        if start == o_c:
            out[at : at + n] = _anchored_log_c(theta, o_c, o_r, anchor)
            at += n


def _support_point(prior: Prior, centre: np.ndarray, scale: float) -> np.ndarray:
    """A prior's support point on the unconstrained scale, as PyMC picks it: a Normal's centre, a LogNormal's
    mean, a HalfNormal's scale (the last two on the log scale)."""
    if prior is Prior.LOG_NORMAL:
        return centre + scale**2 / 2
    if prior is Prior.HALF_NORMAL:
        return np.full_like(centre, np.log(scale))
    return centre


class EnergyDensity:
    """The energy model's posterior density over one training frame's data, for nutpie.

    Args:
        data: the fit's arrays and priors (:func:`models.energy.energy_data`).
    """

    def __init__(self, data: EnergyData) -> None:
        if not data.datasets:
            raise ValueError("the energy model's data need at least one data set (the data-set axis)")
        self.data = data
        self.layout = layout_of(data)
        self.packed = pack(data)

    def logp_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Log density (Jacobians and normalising constants included) and its gradient at ``theta``."""
        return _packed_density(np.ascontiguousarray(theta, float), self.packed)

    def expand(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """The model's variables at ``theta`` on their own scales, and the derived ``log_c`` (the kernel's
        :func:`_expand_into`, as nutpie's draws get them)."""
        shapes = self.layout.expanded()
        out = np.empty(sum(int(np.prod(shape, dtype=int)) for shape in shapes.values()))
        _expand_into(np.ascontiguousarray(theta, float), self.packed, out)
        values, at = {}, 0
        for name, shape in shapes.items():
            n = int(np.prod(shape, dtype=int))
            values[name] = out[at : at + n].reshape(shape)
            at += n
        return values

    def _capacities_unconstrained(self, log_s: np.ndarray) -> np.ndarray:
        """Unconstrained capacities whose sorted values are ``log_s`` (sorted already): each through the interval
        transform (one of the k! preimages of :func:`_capacities`)."""
        lo, hi = self.data.priors.log_capacity_bounds
        return np.log((log_s - lo) / (hi - log_s))

    def start_point(self) -> np.ndarray:
        """PyMC's initial point of the model on the unconstrained scale, from the table: each prior's support
        point (a Normal's centre, a LogNormal's mean, a HalfNormal's scale), the capacities at the clipped
        seeds."""
        d, start = self.data, np.zeros(self.layout.n_dim)
        for p in TABLE:
            where, shape = self.layout.slices()[p.name]
            if p.prior is Prior.CAPACITY:
                start[where] = self._capacities_unconstrained(d.initial_log_s)
                continue
            centre = np.broadcast_to(p.centre_value(d.priors, d.guesses, d.prior_log_s), shape).ravel()
            start[where] = _support_point(p.prior, centre, p.scale_value(d.priors))
        return start

    def initial_point(self, seed: int) -> np.ndarray:
        """Where a chain starts: :meth:`start_point` jittered by U(-1, 1), as nutpie jitters a PyMC model's."""
        return self.start_point() + np.random.default_rng(seed).uniform(-1.0, 1.0, size=self.layout.n_dim)

    def compiled(self, coords: dict[str, list], dims: dict[str, tuple[str, ...]]):
        """A nutpie model of this density (:func:`models.sampling.callback_model`), its draws holding every
        variable of :meth:`Layout.expanded`.

        Args:
            coords: labels of each dimension.
            dims: each variable's dimensions.
        """
        from models import energy_callbacks as callbacks

        return callback_model(
            n_dim=self.layout.n_dim,
            shapes=self.layout.expanded(),
            dims=dims,
            coords=coords,
            logp_callback=callbacks.logp_callback,
            expand_callback=callbacks.expand_callback,
            initial_point=self.initial_point,
            user_data=self.packed,
        )
