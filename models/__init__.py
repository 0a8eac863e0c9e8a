"""Models: features, the Bayesian energy and accuracy models, evaluation and profiles.

Importing this package points PyTensor's compile cache at a persistent per-user folder (unless the user
set PYTENSOR_FLAGS), so the C code of a fit is compiled once, not on every run.
"""

from __future__ import annotations

import os
import warnings


def _persistent_pytensor_cache() -> None:
    if "base_compiledir" in os.environ.get("PYTENSOR_FLAGS", ""):
        return
    from platformdirs import user_cache_dir

    cache = os.environ.get("ADVISOR_PYTENSOR_CACHE") or os.path.join(user_cache_dir("energy-advisor"), "pytensor")
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    os.environ["PYTENSOR_FLAGS"] = ",".join(filter(None, [flags, f"base_compiledir={cache}"]))


_persistent_pytensor_cache()
# PyTensor warns once per process that it found no BLAS; for models of this size it does not matter.
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS", category=UserWarning)
# The dense mass-matrix adaptation is labelled experimental; our tests and benchmarks check its fits.
warnings.filterwarnings("ignore", message="QuadPotentialFullAdapt is an experimental", category=UserWarning)
