"""Energy advisor: predict and minimise the energy of training MLPs on your hardware.

Design scripts use::

    import advisor
    profile = advisor.load_profile()          # yours ($ADVISOR_HOME/profile) if any, else the shipped reference
    profile.predict(shape=["rectangle"], depth=[4], size=[2**14], input_dim=[64], output_dim=[10])
    profile.predict(..., dataset=["digits"])  # a data set the fit measured: its fitted cost factors apply
    advisor.recommend(profile, dataset="digits", accuracy=0.8)   # ranked DataFrame
    with advisor.measure(label="my loop", model=net, batch_size=256) as m:   # measure your own training
        ...                                   # m.phase("train"), m.datums(n); m.result afterwards
    advisor.predict_module(net, batch_size=256)   # a torch MLP priced by the profile

Heavy modules (torch, pymc) load lazily, so ``import advisor`` and ``advisor --version`` stay fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = [
    "InputError",
    "Profile",
    "ProfileError",
    "__version__",
    "advise",
    "load_profile",
    "measure",
    "measured",
    "pareto",
    "predict_module",
    "recommend",
]

_LAZY = {
    **{name: "advisor.api" for name in ("load_profile", "recommend", "pareto", "advise")},
    "Profile": "models.profile",
    "ProfileError": "models.profile",
    "InputError": "measurement.errors",
    **{name: "advisor.measuring" for name in ("measure", "measured", "predict_module")},  # light: no pandas
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'advisor' has no attribute {name!r}")
