"""The energy model's log density and its gradient as one fused numba kernel, for nutpie.

:func:`models.energy.build_model` is the model's definition (PyMC). Sampling that graph with nutpie costs a
fit about 18 s of compiling before the first draw (nutpie's C callbacks around PyTensor's numba code close over
the data, so numba cannot cache them) and ~200 us per gradient (PyTensor's numba code allocates every
intermediate array). The same log density written as loops over observations and distinct working sets is
compiled once into numba's on-disk cache and evaluates in a fraction of that. nutpie calls it through C
callbacks (numba ``cfunc``s, cached too) whose user data is one packed float64 buffer of the fit's arrays
(:func:`pack`): no Python and no GIL per gradient, so two chains run in parallel on two cores (through nutpie's
Python-function interface each call took the GIL and two chains ran ~1.5x slower each than one alone). Tests
assert it equals the PyMC graph's log density and gradient (``model.compile_logp`` / ``compile_dlogp``, Jacobians
included) at random points, its variables PyMC's, its starting point PyMC's initial point, and the callbacks the
kernel's Python entry points.

The unconstrained vector is laid out as PyMC transforms the free variables (so a point means the same in both):
``log_c_anchor`` (terms), ``r`` on the log scale (tiers), ``log_S_unsorted`` through the interval transform
(1 KiB..1 TiB; tiers; ln S is their sorted values), ``log_tau``, ``log_o``, ``log_q``, ``log_k`` (phases
each), ``sigma`` on the log scale (phases), ``sigma_dataset`` on the log scale (terms) and ``z_dataset`` (data
sets x terms, row-major).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np

from models.sampling import numba_callback, numba_kernel

if TYPE_CHECKING:
    from models.energy import EnergyData

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@dataclass(frozen=True)
class Layout:
    """Where each free variable sits in the unconstrained vector, for ``terms`` terms, ``tiers`` tiers,
    ``phases`` phases and ``datasets`` data sets."""

    terms: int
    tiers: int
    phases: int
    datasets: int

    def slices(self) -> dict[str, tuple[slice, tuple[int, ...]]]:
        """Each free variable's slice of the vector and its shape, in the vector's order."""
        sizes = (
            ("log_c_anchor", (self.terms,)), ("r", (self.tiers,)), ("log_S_unsorted", (self.tiers,)),
            ("log_tau", ()),
            ("log_o", (self.phases,)), ("log_q", (self.phases,)), ("log_k", (self.phases,)),
            ("sigma", (self.phases,)), ("sigma_dataset", (self.terms,)), ("z_dataset", (self.datasets, self.terms)),
        )  # fmt: skip
        out, start = {}, 0
        for name, shape in sizes:
            n = int(np.prod(shape, dtype=int))
            out[name] = (slice(start, start + n), shape)
            start += n
        return out

    def expanded(self) -> dict[str, tuple[int, ...]]:
        """Each variable a draw keeps and its shape, in the order :func:`_expand_into` writes them."""
        return {
            "log_c_anchor": (self.terms,), "log_c": (self.terms,), "r": (self.tiers,), "log_S": (self.tiers,),
            "log_tau": (), "log_o": (self.phases,), "log_q": (self.phases,), "log_k": (self.phases,),
            "sigma": (self.phases,), "sigma_dataset": (self.terms,), "z_dataset": (self.datasets, self.terms),
        }  # fmt: skip

    @property
    def n_dim(self) -> int:
        """Length of the unconstrained vector."""
        return max(s.stop for s, _ in self.slices().values())


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
def _normals(theta, start, n, mu, mu_step, sd, grad):
    """Normal(mu[i * mu_step], sd) priors on ``theta[start : start + n]`` (``mu_step`` 0: one centre for all):
    log density; the gradient is added to ``grad``."""
    logp = 0.0
    for i in range(n):
        centre = mu[i * mu_step]
        logp += _normal(theta[start + i], centre, sd)
        grad[start + i] -= (theta[start + i] - centre) / (sd * sd)
    return logp


@numba_kernel
def _half_normals(theta, start, n, scale, grad):
    """HalfNormal(scale) priors on ``exp(theta[start : start + n])`` (PyMC's log transform, Jacobian included):
    (log density, the values); the gradient is added to ``grad``."""
    values = np.empty(n)
    logp = 0.0
    for i in range(n):
        values[i] = math.exp(theta[start + i])
        logp += math.log(2.0) + _normal(values[i], 0.0, scale) + theta[start + i]
        grad[start + i] += 1.0 - values[i] * values[i] / (scale * scale)
    return logp, values


_EXP_TAYLOR = tuple(1.0 / math.factorial(i) for i in range(14))
_LOG2_E = 1.4426950408889634
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # ln 2 = hi + lo, hi exact in 32 bits
_EXP_SAFE = 700.0


@numba_kernel
def _exp_into(x, out):
    """``out[:] = exp(x)`` to within 1 ulp, in loops LLVM vectorises: numba's pip build has no vector maths
    library (SVML needs a patched LLVM), and its scalar exp costs ~9 ns here against ~4 for this. exp(r) on
    |r| <= ln 2 / 2 by its Taylor series to degree 13 (Cody-Waite reduction, x = k ln 2 + r), times 2^k from
    its bits; |x| >= 700 (overflow, underflow, NaN) goes through math.exp."""
    n = x.shape[0]
    bits = np.empty(n, np.int64)
    for i in range(n):
        v = x[i] if -_EXP_SAFE < x[i] < _EXP_SAFE else 0.0  # the rest (NaN included) by the last loop
        k = math.floor(v * _LOG2_E + 0.5)
        r = v - k * _LN2_HI - k * _LN2_LO
        p = _EXP_TAYLOR[13]
        for j in range(12, -1, -1):
            p = p * r + _EXP_TAYLOR[j]
        bits[i] = (np.int64(k) + 1023) << 52
        out[i] = p
    scale = bits.view(np.float64)
    for i in range(n):
        out[i] *= scale[i]
    for i in range(n):
        if not -_EXP_SAFE < x[i] < _EXP_SAFE:
            out[i] = math.exp(x[i])


_SQRT_2 = math.sqrt(2.0)
_LOG_SERIES = tuple(1.0 / j for j in range(1, 24, 2))  # ln m = 2 atanh(s): 2 s sum_j s^(2j) / (2j + 1)
_SMALLEST_NORMAL = 2.2250738585072014e-308


@numba_kernel
def _log_into(x, out):
    """``out[:] = ln(x)`` (``x`` C-contiguous) to within 3 ulps of maths' log (3e-16 absolute where |ln x| < 1),
    in loops LLVM vectorises (see :func:`_exp_into`): x = m 2^e with m in [sqrt(2)/2, sqrt(2)) from its bits,
    ln m = 2 atanh((m - 1) / (m + 1)) by its series to degree 23; x <= 0, subnormal, infinite or NaN goes
    through math.log."""
    n = x.shape[0]
    bits = x.view(np.int64)
    mantissa = np.empty(n, np.int64)
    exponent = np.empty(n)
    for i in range(n):
        exponent[i] = ((bits[i] >> 52) & 0x7FF) - 1023
        mantissa[i] = (bits[i] & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000  # m in [1, 2)
    m = mantissa.view(np.float64)
    for i in range(n):
        mi, ei = m[i], exponent[i]
        if mi > _SQRT_2:
            mi, ei = 0.5 * mi, ei + 1.0
        q = (mi - 1.0) / (mi + 1.0)
        q2 = q * q
        series = _LOG_SERIES[11]
        for j in range(10, -1, -1):
            series = series * q2 + _LOG_SERIES[j]
        out[i] = ei * _LN2_HI + (2.0 * q * series + ei * _LN2_LO)
    for i in range(n):
        if not _SMALLEST_NORMAL <= x[i] < math.inf:
            out[i] = math.log(x[i])


@numba_kernel
def _tier_steps(unique_ws, log_s, log_step, tau):
    """Each distinct working set's steps sigmoid((ln W - ln S_k) / tau) (tiers x working sets) and its cost
    factor exp(sum_k step_k ln(1 + r_k)). A sigmoid is 1 / (1 + C_k / E_w): one exp per working set and per
    tier instead of one per pair (centred on the capacities' mean: one overflowing half gives a step of 0 or 1,
    both halves only for tau < ~0.03, 25 prior sds away, where a NaN makes the step a divergence). The exps
    (:func:`_exp_into`) and the arithmetic run in separate loops, so that both vectorise."""
    n_ws, n_tiers = unique_ws.shape[0], log_s.shape[0]
    centre = 0.0
    for k in range(n_tiers):
        centre += log_s[k] / n_tiers
    scaled = np.empty(n_ws)
    for w in range(n_ws):
        scaled[w] = (centre - unique_ws[w]) / tau
    inv_e_ws = np.empty(n_ws)
    _exp_into(scaled, inv_e_ws)
    steps = np.empty((n_tiers, n_ws))
    acc = np.zeros(n_ws)
    for k in range(n_tiers):
        c_tier, row, weight = math.exp((log_s[k] - centre) / tau), steps[k], log_step[k]
        for w in range(n_ws):
            row[w] = 1.0 / (1.0 + c_tier * inv_e_ws[w])
            acc[w] += row[w] * weight
    factor = np.empty(n_ws)
    _exp_into(acc, factor)
    return steps, factor


@numba_kernel
def _likelihood(theta, o_o, o_sig, o_z, amounts, ws_index, per_layer, per_step, meas_sd, y, phase, group, cost,
                tier_factor, sigma, spread, nu, grad, d_tier, d_log_c, d_spread):  # fmt: skip
    """Student-t log likelihood of ln E, the terms summed in linear space (as the predictor does). Adds the
    gradient of the overheads, sigma (log scale) and z to ``grad``, and accumulates d/d ln(tier factor) per
    working set, d/d log_c and d/d sigma_dataset (through the factors) for the caller's chain rule. Three passes
    over the observations: each part of the energy and their totals, the logs (:func:`_log_into`), the density
    and its gradient."""
    n_obs, n_terms, n_phases = y.shape[0], amounts.shape[1], sigma.shape[0]
    overhead = np.empty(3 * n_phases)  # o, q, k per phase
    for j in range(3 * n_phases):
        overhead[j] = math.exp(theta[o_o + j])
    parts = np.empty((n_obs, n_terms + 3))  # the terms, then o x per-layer, q x per-step, k
    total, var = np.empty(n_obs), np.empty(n_obs)
    for i in range(n_obs):
        p, g = int(phase[i]), int(group[i])  # indices arrive as float64 in the packed buffer: exact
        for t in range(n_terms):
            parts[i, t] = amounts[i, t] * cost[g, t] * tier_factor[int(ws_index[i, t])]
        parts[i, n_terms] = overhead[p] * per_layer[i]
        parts[i, n_terms + 1] = overhead[n_phases + p] * per_step[i]
        parts[i, n_terms + 2] = overhead[2 * n_phases + p]
        acc = 0.0
        for j in range(n_terms + 3):
            acc += parts[i, j]
        total[i] = acc
        var[i] = sigma[p] * sigma[p] + meas_sd[i] * meas_sd[i]
    log_total, log_var, log_denom = np.empty(n_obs), np.empty(n_obs), np.empty(n_obs)
    _log_into(total, log_total)
    _log_into(var, log_var)
    err, denom = np.empty(n_obs), np.empty(n_obs)
    for i in range(n_obs):
        err[i] = y[i] - log_total[i]
        denom[i] = nu * var[i] + err[i] * err[i]
    _log_into(denom, log_denom)
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
        for j in range(3):
            grad[o_o + j * n_phases + p] += parts[i, n_terms + j] * per_total
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
def _log_density(theta, amounts, ws_index, unique_ws, anchor, per_layer, per_step, meas_sd, y, phase, group,
                 n_groups, guess_c, guess_o, guess_q, guess_k, prior_log_s, priors):  # fmt: skip
    """(log density, gradient) at ``theta`` (the layout of :class:`Layout`). ``amounts``, ``per_layer`` and
    ``per_step`` are on the linear scale (``exp`` of the features); ``priors`` is EnergyPriors.vector()."""
    n_terms, n_tiers, n_phases = amounts.shape[1], prior_log_s.shape[0], guess_o.shape[0]
    cost_sd, r_mu, r_sd, cap_sd, tau_mu, tau_sd, sigma_scale, spread_scale, nu, lo, hi = priors
    o_r, o_s = n_terms, n_terms + n_tiers
    o_tau = o_s + n_tiers
    o_o = o_tau + 1
    o_sig = o_o + 3 * n_phases
    o_sd, o_z = o_sig + n_phases, o_sig + n_phases + n_terms
    grad = np.zeros(theta.shape[0])
    logp = _normals(theta, 0, n_terms, guess_c, 1, cost_sd, grad)
    logp += _normals(theta, o_r, n_tiers, np.array([r_mu]), 0, r_sd, grad)
    logp += _normals(theta, o_tau, 1, np.array([tau_mu]), 0, tau_sd, grad)
    for j, guess in enumerate((guess_o, guess_q, guess_k)):
        logp += _normals(theta, o_o + j * n_phases, n_phases, guess, 1, cost_sd, grad)
    logp += _normals(theta, o_z, n_groups * n_terms, np.zeros(1), 0, 1.0, grad)
    sigma_logp, sigma = _half_normals(theta, o_sig, n_phases, sigma_scale, grad)
    spread_logp, spread = _half_normals(theta, o_sd, n_terms, spread_scale, grad)
    cap_logp, order, log_s, ds_dy = _capacities(theta[o_s : o_s + n_tiers], lo, hi, prior_log_s, cap_sd)
    logp += sigma_logp + spread_logp + cap_logp

    log_step = np.empty(n_tiers)
    for k in range(n_tiers):
        log_step[k] = _softplus(theta[o_r + k])  # ln(1 + r), r = exp(theta): no overflow
    log_c = theta[:n_terms].copy()
    cost = np.empty((n_groups, n_terms))  # each data set's cost per unit below every step
    for t in range(n_terms):
        for k in range(n_tiers):
            log_c[t] -= anchor[t, k] * log_step[k]
        for g in range(n_groups):
            cost[g, t] = math.exp(log_c[t] + spread[t] * theta[o_z + g * n_terms + t])
    tau = math.exp(theta[o_tau])
    steps, tier_factor = _tier_steps(unique_ws, log_s, log_step, tau)
    d_tier, d_log_c, d_spread = np.zeros(unique_ws.shape[0]), np.zeros(n_terms), np.zeros(n_terms)
    logp += _likelihood(theta, o_o, o_sig, o_z, amounts, ws_index, per_layer, per_step, meas_sd, y, phase, group,
                        cost, tier_factor, sigma, spread, nu, grad, d_tier, d_log_c, d_spread)  # fmt: skip

    d_log_s, d_log_step = np.zeros(n_tiers), np.zeros(n_tiers)
    for t in range(n_terms):
        grad[t] += d_log_c[t]
        grad[o_sd + t] += d_spread[t] * spread[t]
        for k in range(n_tiers):
            d_log_step[k] -= d_log_c[t] * anchor[t, k]
    grad[o_tau] += _tier_grad(unique_ws, steps, log_step, log_s, tau, d_tier, d_log_step, d_log_s)
    for k in range(n_tiers):
        grad[o_r + k] += d_log_step[k] / (1.0 + math.exp(-theta[o_r + k]))  # d ln(1 + r) / d ln r
    _capacity_grad(theta[o_s : o_s + n_tiers], order, log_s, ds_dy, d_log_s, prior_log_s, cap_sd, grad, o_s)
    return logp, grad


_HEADER = 7
"""The packed buffer's header: observations, terms, tiers, phases, data sets, distinct working sets, priors."""


def pack(data: EnergyData) -> np.ndarray:
    """The fit's arrays as one float64 buffer (header, then each array flattened, indices exact as floats): what
    the kernel and its C callbacks read, through one pointer."""
    amounts = np.asarray(data.amounts, float)
    priors = np.array(data.priors.vector(), float)
    n_obs, n_terms = amounts.shape
    header = (n_obs, n_terms, len(data.prior_log_s), len(data.guesses["log_o"]), len(data.datasets),
              len(data.unique_log_ws), len(priors))  # fmt: skip
    parts = (
        header, np.exp(amounts), data.ws_index, data.unique_log_ws, data.anchor, np.exp(data.per_layer),
        np.exp(data.per_step), data.meas_sd, data.y, data.phase_index, data.dataset_index,
        *(data.guesses[k] for k in ("log_c", "log_o", "log_q", "log_k")), data.prior_log_s, priors,
    )  # fmt: skip
    return np.ascontiguousarray(np.concatenate([np.ravel(np.asarray(a, float)) for a in parts]))


@numba_kernel
def _packed_length(head):
    """The packed buffer's length from its header."""
    n_obs, n_terms, n_tiers, n_phases = int(head[0]), int(head[1]), int(head[2]), int(head[3])
    n_ws, n_priors = int(head[5]), int(head[6])
    return _HEADER + n_obs * (2 * n_terms + 6) + n_ws + n_terms * n_tiers + n_terms + 3 * n_phases + n_tiers + n_priors


@numba_kernel
def _unpack(buf):
    """The kernel's arguments from a packed buffer (views, no copies): see :func:`pack`."""
    n_obs, n_terms, n_tiers, n_phases = int(buf[0]), int(buf[1]), int(buf[2]), int(buf[3])
    n_groups, n_ws, n_priors = int(buf[4]), int(buf[5]), int(buf[6])
    at = _HEADER
    amounts = buf[at : at + n_obs * n_terms].reshape((n_obs, n_terms))
    at += n_obs * n_terms
    ws_index = buf[at : at + n_obs * n_terms].reshape((n_obs, n_terms))
    at += n_obs * n_terms
    unique_ws = buf[at : at + n_ws]
    at += n_ws
    anchor = buf[at : at + n_terms * n_tiers].reshape((n_terms, n_tiers))
    at += n_terms * n_tiers
    per_obs = buf[at : at + 6 * n_obs].reshape((6, n_obs))  # per_layer, per_step, meas_sd, y, phase, group
    at += 6 * n_obs
    guess_c = buf[at : at + n_terms]
    at += n_terms
    guess_o, guess_q, guess_k = buf[at : at + n_phases], buf[at + n_phases : at + 2 * n_phases], buf[
        at + 2 * n_phases : at + 3 * n_phases]  # fmt: skip
    at += 3 * n_phases
    prior_log_s = buf[at : at + n_tiers]
    priors = buf[at + n_tiers : at + n_tiers + n_priors]
    return (amounts, ws_index, unique_ws, anchor, per_obs[0], per_obs[1], per_obs[2], per_obs[3], per_obs[4],
            per_obs[5], n_groups, guess_c, guess_o, guess_q, guess_k, prior_log_s, priors)  # fmt: skip


@numba_kernel
def _packed_density(theta, buf):
    """(log density, gradient) at ``theta`` over a packed buffer."""
    return _log_density(theta, *_unpack(buf))


@numba_kernel
def _n_dim(buf):
    """Length of the unconstrained vector (:class:`Layout`) of a packed buffer."""
    n_terms, n_tiers, n_phases, n_groups = int(buf[1]), int(buf[2]), int(buf[3]), int(buf[4])
    return n_terms + 2 * n_tiers + 1 + 4 * n_phases + n_terms + n_groups * n_terms


@numba_kernel
def _expand_into(theta, buf, out):
    """Write the model's variables at ``theta`` to ``out`` in :meth:`Layout.expanded`'s order, on their own scales
    (``r``, ``sigma``, ``sigma_dataset`` exponentiated, ``log_S`` through the interval transform's inverse, then
    sorted), with the derived ``log_c`` after ``log_c_anchor``."""
    args = _unpack(buf)
    anchor, prior_log_s, priors = args[3], args[15], args[16]
    n_terms, n_tiers = anchor.shape[0], anchor.shape[1]
    n_phases, n_groups = args[12].shape[0], args[10]
    o_s = n_terms + n_tiers
    lo, hi = priors[priors.shape[0] - 2], priors[priors.shape[0] - 1]  # the vector ends with ln S's bounds
    log_s = _capacities(theta[o_s : o_s + n_tiers], lo, hi, prior_log_s, 1.0)[2]
    at = 0
    for t in range(n_terms):
        out[at + t] = theta[t]
        log_c = theta[t]
        for k in range(n_tiers):
            log_c -= anchor[t, k] * _softplus(theta[n_terms + k])  # ln(1 + r)
        out[at + n_terms + t] = log_c
    at += 2 * n_terms
    for k in range(n_tiers):
        out[at + k] = math.exp(theta[n_terms + k])
        out[at + n_tiers + k] = log_s[k]
    at += 2 * n_tiers
    src = o_s + n_tiers  # log_tau, then o, q, k per phase, then sigma (log scale), sigma_dataset (log scale), z
    for j in range(1 + 3 * n_phases):
        out[at + j] = theta[src + j]
    at, src = at + 1 + 3 * n_phases, src + 1 + 3 * n_phases
    for j in range(n_phases + n_terms):
        out[at + j] = math.exp(theta[src + j])
    at, src = at + n_phases + n_terms, src + n_phases + n_terms
    for j in range(n_groups * n_terms):
        out[at + j] = theta[src + j]


def _callback_signatures():
    """nutpie's C signatures: logp(dim, x, gradient out, logp out, user data) and expand(dim, expanded dim, x,
    out, user data), each returning 0, or > 0 for a recoverable failure (a divergence)."""
    from numba import types

    double_p = types.CPointer(types.double)
    return (types.int64(types.uint64, double_p, double_p, double_p, types.voidptr),
            types.int64(types.uint64, types.uint64, double_p, double_p, types.voidptr))  # fmt: skip


_LOGP_SIGNATURE, _EXPAND_SIGNATURE = _callback_signatures()


@numba_kernel
def _buffer(data_ptr):
    """The packed buffer behind nutpie's user-data pointer (its header gives its length)."""
    head = numba.carray(data_ptr, (_HEADER,), np.float64)
    return numba.carray(data_ptr, (_packed_length(head),), np.float64)


@numba_callback(_LOGP_SIGNATURE)
def _logp_callback(dim, x_ptr, grad_ptr, logp_ptr, data_ptr):
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
def _expand_callback(dim, n_expanded, x_ptr, out_ptr, data_ptr):
    """nutpie's callback writing a draw's variables (:func:`_expand_into`)."""
    buf = _buffer(data_ptr)
    if dim != _n_dim(buf):
        return -1
    _expand_into(numba.carray(x_ptr, (dim,)), buf, numba.carray(out_ptr, (n_expanded,)))
    return 0


class EnergyDensity:
    """The energy model's posterior density over one training frame's data, for nutpie.

    Args:
        data: the fit's arrays and priors (:func:`models.energy.energy_data`).
    """

    def __init__(self, data: EnergyData) -> None:
        if not data.datasets:
            raise ValueError("the energy model's data need at least one data set (the data-set axis)")
        self.data = data
        self.layout = Layout(data.amounts.shape[1], len(data.prior_log_s), len(data.guesses["log_o"]),
                             len(data.datasets))  # fmt: skip
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
        """PyMC's initial point of the model on the unconstrained scale: each prior's support point (a
        LogNormal's mean, a HalfNormal's scale, a Normal's centre), the capacities at the clipped seeds."""
        priors, slices = self.data.priors, self.layout.slices()
        start = np.zeros(self.layout.n_dim)
        start[slices["log_c_anchor"][0]] = self.data.guesses["log_c"]
        start[slices["r"][0]] = priors.step_log_mu + priors.step_log_sd**2 / 2
        start[slices["log_S_unsorted"][0]] = self._capacities_unconstrained(self.data.initial_log_s)
        start[slices["log_tau"][0]] = priors.log_tau_mu
        for name in ("log_o", "log_q", "log_k"):
            start[slices[name][0]] = self.data.guesses[name]
        start[slices["sigma"][0]] = np.log(priors.sigma_scale)
        start[slices["sigma_dataset"][0]] = np.log(priors.dataset_spread_scale)
        return start

    def initial_point(self, seed: int) -> np.ndarray:
        """Where a chain starts: :meth:`start_point` jittered by U(-1, 1), as nutpie jitters a PyMC model's."""
        return self.start_point() + np.random.default_rng(seed).uniform(-1.0, 1.0, size=self.layout.n_dim)

    def compiled(self, coords: dict[str, list], dims: dict[str, tuple[str, ...]]):
        """A nutpie model of this density, its draws holding every variable of :meth:`Layout.expanded`.

        nutpie calls the kernel through C callbacks with :attr:`packed` as their user data: no Python and no GIL
        per gradient, so the chains' threads run in parallel (through a Python function each call took the GIL,
        and two chains ran ~1.5x slower each than one).

        Args:
            coords: labels of each dimension.
            dims: each variable's dimensions.
        """
        from nutpie.compile_pymc import CompiledPyMCModel

        shapes = self.layout.expanded()
        names, slices, at = list(shapes), [], 0
        for shape in shapes.values():
            n = int(np.prod(shape, dtype=int))
            slices.append(slice(at, at + n))
            at += n
        return CompiledPyMCModel(
            _n_dim=self.layout.n_dim, dims={n: dims[n] for n in names if n in dims}, _coords=coords,
            _shapes=dict(shapes), compiled_logp_func=_logp_callback, compiled_expand_func=_expand_callback,
            initial_point_func=self.initial_point, shared_data={}, user_data=self.packed, n_expanded=at,
            shape_info=(names, slices, list(shapes.values())), logp_func=None, expand_func=None,
        )  # fmt: skip
