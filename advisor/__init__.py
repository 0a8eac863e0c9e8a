"""Energy advisor: predict and minimise the energy of training MLPs on your hardware.

Heavy modules (torch, pymc) load lazily, so ``import advisor`` and ``advisor --version`` are fast.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
