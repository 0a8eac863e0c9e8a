"""Sampler routes for the energy model, on the shipped reference runs: fit time (cold and warm compile caches),
gradient time and convergence of each way to sample the same posterior.

Routes:

- ``kernel``: the project's default, nutpie over the hand-written numba density (models/energy_density.py)
  through C callbacks.
- ``kernel-until-converged``: the same with ``advisor fit``'s defaults (``ENERGY_FIT``: low-rank mass matrix,
  1,000 tuning steps, draws doubled until converged).
- ``nutpie-jax``: nutpie's own JAX backend over the PyMC graph (models/energy.py's ``build_model``): Rust NUTS,
  the log density and its gradient compiled by XLA.
- ``blackjax``: ``pm.sample(nuts_sampler="blackjax")`` over the same graph (JAX NUTS, chains vectorised).
- ``nutpie-numba-with-data``: nutpie's numba backend over the PyMC graph compiled once, then re-used for a
  second data set with ``CompiledModel.with_data`` (the case of ``advisor evaluate``'s many fits): the time
  of that second fit alone.

Every other route samples 2 chains x (500 tune + 1,000 draws) with target_accept 0.9, in its own process (as
``advisor fit`` does); cold = a fresh, empty compile cache (PyTensor, numba and XLA under one folder), warm = the
same folder again. Convergence is judged on the same variables as ``advisor fit`` (r_hat, bulk ESS).

    python benchmarks/sampler_routes.py [--routes kernel,nutpie-jax,blackjax,nutpie-numba-with-data]

JAX and blackjax are not dependencies of the project: install them to run those routes
(``pip install jax blackjax``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import add_page_options, page_from_args  # noqa: E402

RUNS = ROOT / "data" / "reference" / "runs.csv"
ROUTES = ("kernel", "kernel-until-converged", "nutpie-jax", "blackjax", "nutpie-numba-with-data")

SNIPPET = f"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
import numpy as np
from advisor.evaluation import read_runs
from measurement.hardware import Fingerprint
from measurement.tiers import device_tiers
from models import energy
from models.features import training_frame
from models.pipeline import select_runs
from models.sampling import FitConfig, arviz, quiet, pymc
route = sys.argv[1]
runs, _ = select_runs(read_runs(Path({str(RUNS)!r})))
fp = Fingerprint.from_dict(json.loads(Path({str(RUNS.with_name("fingerprint.json"))!r}).read_text()))
tiers = device_tiers(fp, "cpu")
frame = training_frame(runs)
KEEP = ["log_c_anchor", *energy.PARAMS, "z_dataset"]
JUDGED = [*energy.PARAMS, "z_dataset"]
cfg = FitConfig()

def diagnostics(idata):
    az = arviz()
    with quiet():
        ess = az.ess(idata, var_names=JUDGED, method="bulk")
        rhat = az.rhat(idata, var_names=JUDGED)
    return (max(float(np.nanmax(rhat[v].to_numpy())) for v in JUDGED),
            min(float(np.nanmin(ess[v].to_numpy())) for v in JUDGED),
            int(idata.sample_stats["diverging"].sum()))

def nutpie_sample(compiled):
    import nutpie
    return nutpie.sample(compiled, draws=cfg.draws, tune=cfg.tune, chains=cfg.chains, cores=2, seed=cfg.seed,
                         target_accept=cfg.target_accept, progress_bar=False)

def jax_gradient_us(model):
    import jax
    from pymc.sampling.jax import get_jaxified_logp
    fn = jax.jit(jax.value_and_grad(lambda xs: get_jaxified_logp(model)(xs)))
    point = model.initial_point()
    xs = [np.asarray(point[v.name]) for v in model.value_vars]
    jax.block_until_ready(fn(xs))
    t = time.perf_counter()
    for _ in range(2000):
        jax.block_until_ready(fn(xs))
    return (time.perf_counter() - t) / 2000 * 1e6

def plain_initvals(model):
    start = dict()
    for rv, value in list(model.rvs_to_initial_values.items()):
        if value is not None:
            start[rv.name] = np.asarray(value)
            model.rvs_to_initial_values[rv] = None
    return start

t1 = time.perf_counter()
gradient_us = None
if route in ("kernel", "kernel-until-converged"):
    posterior = energy.fit(frame, cfg if route == "kernel" else energy.ENERGY_FIT, tiers)
    fit_s = time.perf_counter() - t1
    d = posterior.diagnostics
    r_hat, ess, div = d.max_r_hat, d.min_ess_bulk, d.divergences
    from models.energy_density import EnergyDensity
    density = EnergyDensity(energy.energy_data(frame, tiers))
    theta = density.start_point()
    t = time.perf_counter()
    for _ in range(2000):
        density.logp_and_grad(theta)
    gradient_us = (time.perf_counter() - t) / 2000 * 1e6
elif route == "nutpie-jax":
    import nutpie
    model = energy.build_model(frame, tiers)
    start = plain_initvals(model)  # nutpie's JAX route refuses initvals in the model; it takes them as arguments
    with quiet():
        compiled = nutpie.compile_pymc_model(model, backend="jax", gradient_backend="jax", var_names=KEEP,
                                             initial_points=start)
        idata = nutpie_sample(compiled)
    fit_s = time.perf_counter() - t1
    r_hat, ess, div = diagnostics(idata)
    gradient_us = jax_gradient_us(model)
elif route == "blackjax":
    pm = pymc()
    model = energy.build_model(frame, tiers)
    start = plain_initvals(model)
    with model, quiet():
        idata = pm.sample(initvals=start, draws=cfg.draws, tune=cfg.tune, chains=cfg.chains, random_seed=cfg.seed,
                          target_accept=cfg.target_accept, nuts_sampler="blackjax", var_names=KEEP,
                          progressbar=False, compute_convergence_checks=False,
                          nuts_sampler_kwargs={{"chain_method": "vectorized"}})
    fit_s = time.perf_counter() - t1
    r_hat, ess, div = diagnostics(idata)
    gradient_us = jax_gradient_us(model)
elif route == "nutpie-numba-with-data":
    import nutpie
    # the reference runs' calibration part compiles the model; the whole reference is then swapped in
    calib = training_frame(runs[runs["sweep_kind"] == "calibrate"])
    other = energy.energy_data(frame, tiers)
    model = energy.build_model(calib, tiers)
    with quiet():
        compiled = nutpie.compile_pymc_model(model, backend="numba", var_names=KEEP)
    t1 = time.perf_counter()
    data = {{"amounts": other.amounts, "unique_log_ws": other.unique_log_ws, "ws_index": other.ws_index,
             "untiered": other.untiered, "meas_sd": other.meas_sd, "y": other.y,
             "anchor": other.anchor, "phase_index": other.phase_index, "dataset_index": other.dataset_index,
             "prior_log_S": other.prior_log_s, **{{f"guess_{{k}}": v for k, v in other.guesses.items()}}}}
    try:
        with quiet():
            idata = nutpie_sample(compiled.with_data(**data))
        fit_s = time.perf_counter() - t1
        r_hat, ess, div = diagnostics(idata)
    except Exception as exc:  # the free variables' shapes follow the data sets: report why it cannot be re-used
        print(json.dumps({{"route": route, "error": f"{{type(exc).__name__}}: {{str(exc)[:200]}}"}}))
        sys.exit(0)
print(json.dumps({{"route": route, "import_s": t1 - t0, "fit_s": fit_s, "r_hat": r_hat, "ess_bulk": ess,
                  "divergences": div, "gradient_us": gradient_us, "observations": len(frame)}}))
"""


def run_route(route: str, cache: Path, timeout_s: float) -> dict:
    """One fit of ``route`` in a fresh process with its compile caches in ``cache``."""
    env = {**os.environ, "ADVISOR_PYTENSOR_CACHE": str(cache), "JAX_COMPILATION_CACHE_DIR": str(cache / "xla"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "JAX_PLATFORMS": "cpu"}  # fmt: skip
    env.pop("PYTENSOR_FLAGS", None)
    start = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-c", SNIPPET, route], env=env, capture_output=True, text=True,
                             timeout=timeout_s)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"route": route, "error": f"timed out after {timeout_s:.0f} s"}
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"route": route, "error": (out.stderr.strip().splitlines() or ["no output"])[-1][:200]}
    result = json.loads(lines[-1])
    result["process_s"] = time.perf_counter() - start
    return result


def table(rows: list[tuple[str, dict, dict]]) -> str:
    """The results as a Markdown table."""
    head = "| route | cold fit s | warm fit s | warm process s | gradient µs | max r̂ | min bulk ESS | divergences |"
    lines = [head, "|" + " --- |" * 8]
    for route, cold, warm in rows:
        if "error" in warm:
            lines.append(f"| {route} | — | — | — | — | — | — | {warm['error']} |")
            continue
        grad = f"{warm['gradient_us']:.0f}" if warm.get("gradient_us") else "—"
        lines.append(
            f"| {route} | {cold.get('fit_s', float('nan')):.1f} | {warm['fit_s']:.1f} | {warm['process_s']:.1f} "
            f"| {grad} | {warm['r_hat']:.3f} | {warm['ess_bulk']:.0f} | {warm['divergences']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per fit (the time box)")
    add_page_options(parser)
    args = parser.parse_args()
    rows = []
    for route in args.routes.split(","):
        cache = Path(tempfile.mkdtemp(prefix="sampler-route-"))
        cold = run_route(route, cache, args.timeout)
        warm = run_route(route, cache, args.timeout)
        print(route, json.dumps(cold), json.dumps(warm), flush=True)
        rows.append((route, cold, warm))
    print(table(rows))
    intro = (
        "The energy model on the 790 reference observations, 2 chains x (500 tune + 1,000 draws), target 0.9, "
        "each route's fit in its own process, cold then warm compile caches (benchmarks/sampler_routes.py).\n\n"
    )
    page_from_args(args, "sampler-routes", "Sampler routes for the energy model", intro + table(rows) + "\n")


if __name__ == "__main__":
    main()
