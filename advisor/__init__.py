"""Energy advisor: predict and minimise the energy of training MLPs on your hardware.

Design scripts use::

    import advisor
    profile = advisor.load_profile()          # the shipped reference profile
    profile.predict(shape=["rectangle"], depth=[4], size=[2**14], input_dim=[64], output_dim=[10])
    profile.predict(..., dataset=["digits"])  # a data set the fit measured: its fitted cost factors apply
    advisor.recommend(profile, dataset="digits", accuracy=0.8)   # ranked DataFrame

Heavy modules (torch, pymc) load lazily, so ``import advisor`` and ``advisor --version`` stay fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["InputError", "Profile", "ProfileError", "__version__", "advise", "load_profile", "pareto", "recommend"]

_LAZY = {
    **{name: "advisor.api" for name in ("load_profile", "recommend", "pareto", "advise")},
    "Profile": "models.profile",
    "ProfileError": "models.profile",
    "InputError": "measurement.errors",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'advisor' has no attribute {name!r}")
