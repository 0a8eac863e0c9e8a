"""Atomic file writes: write a temporary sibling, fsync, then rename over the target."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path


def check_destination(path: Path | str, suffixes: tuple[str, ...] = (), folder: bool = False) -> Path:
    """Refuse, before any work, a destination that cannot (or must not) be replaced.

    A file destination (the default) must be a plain name whose folder exists and is writable, and may only
    replace a regular file (or a symlink, which the rename replaces, not its target): never a device, a pipe
    or a directory (a save renames over its target: ``--out /dev/null`` as root would replace the device).
    A ``folder`` destination may have missing parents (they are created) and may replace only what its
    caller checks (a profile folder). ``suffixes`` restricts the file name's suffix.

    Raises:
        InputError: one line naming the path and why.
    """
    from measurement.errors import InputError

    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise InputError(f"{str(path)!r} is not a file or folder name to write")
    if suffixes and path.suffix.lower() not in suffixes:
        raise InputError(f"{path}: expected a {'/'.join(s.lstrip('.') for s in suffixes)} file name")
    if not folder and _is_special(path):
        raise InputError(f"cannot write {path}: it exists and is not a regular file")
    ancestor = path.parent
    while folder and not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        what = "is not a writable folder" if ancestor.exists() else "does not exist"
        raise InputError(f"cannot write {path}: {ancestor} {what}")
    return path


def _is_special(path: Path) -> bool:
    """Whether ``path`` exists as something other than a regular file or a symlink (lstat: not followed)."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISLNK(mode))


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    Readers see either the old file or the complete new one, never a half-written one.

    Raises:
        InputError: for a path with no file name ("", ".", ".."), before anything is written.
    """
    path = check_destination(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
