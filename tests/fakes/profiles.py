"""Profiles made for tests: the shipped reference thinned to fewer draws (every field and file of the real one,
a fraction of the arithmetic), and a hostile author's edit of a posterior file with the digests made to match
again, so the deeper checks (names, dims, dtypes, bounds) are what refuses it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

THINNED_DRAWS = 100
"""Draws a thinned reference keeps (the shipped one holds 1,000): ten times less work per recommend."""


def rehash(folder: Path) -> None:
    """Recompute profile.json's SHA-256 of every file it lists (skipping files that are gone or not files)."""
    meta = json.loads((folder / "profile.json").read_text())
    for name in list(meta.get("files", {})):
        file = folder / name
        if file.is_file():
            meta["files"][name] = hashlib.sha256(file.read_bytes()).hexdigest()
    (folder / "profile.json").write_text(json.dumps(meta))


def thinned_reference(folder: Path, draws: int = THINNED_DRAWS) -> Path:
    """Save the shipped reference profile with every ``len // draws``-th draw of each posterior, and return
    ``folder``. Metadata (fingerprint, data sets, evaluation, drift) and file layout stay the reference's, so
    what loads, checks and renders it is exercised as on the real one; only the draws are fewer."""
    from advisor.api import REFERENCE_PROFILE
    from models.accuracy import AccuracyPosterior
    from models.profile import Profile

    reference = Profile.load(REFERENCE_PROFILE)
    energy = reference.energy
    step = max(1, len(next(iter(energy.draws.values()))) // draws)
    energy = dataclasses.replace(energy, draws={k: v[::step][:draws] for k, v in energy.draws.items()})
    accuracy = {name: AccuracyPosterior({k: v[::step][:draws] for k, v in acc.draws.items()}, acc.info)
                for name, acc in reference.accuracy.items()}  # fmt: skip
    return dataclasses.replace(reference, energy=energy, accuracy=accuracy, path=None).save(folder)
