"""Edit a profile the way a hostile author would: change a posterior file, then make profile.json's digests
match again, so the deeper checks (names, dims, dtypes, bounds) are what refuses it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def rehash(folder: Path) -> None:
    """Recompute profile.json's SHA-256 of every file it lists (skipping files that are gone or not files)."""
    meta = json.loads((folder / "profile.json").read_text())
    for name in list(meta.get("files", {})):
        file = folder / name
        if file.is_file():
            meta["files"][name] = hashlib.sha256(file.read_bytes()).hexdigest()
    (folder / "profile.json").write_text(json.dumps(meta))
