"""Atomic writes, the one home for them: write a temporary sibling, fsync, then rename over the target.

:func:`atomic_path` writes one file; :func:`atomic_folder` writes a folder of files (a profile) and swaps it
in for the old one. :func:`check_destination` refuses, before any work, a target either cannot replace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
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
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: Path | str) -> Iterator[Path]:
    """Yield a new, empty temporary folder beside ``path``; on success it replaces ``path`` (a folder, or
    nothing yet), on error it is removed and ``path`` is left as it was.

    Every file written into it is fsynced before the swap: the old folder is renamed aside, the new one
    renamed in, then the old one removed (restored if the second rename fails). Readers see the old folder or
    the complete new one, never a half-written one. The caller checks what ``path`` may replace
    (:func:`check_destination` with ``folder=True``, and its own rules for what an existing folder holds).

    Raises:
        OSError: when the folder cannot be created, written or swapped in.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        yield tmp
        for file in (f for f in tmp.rglob("*") if f.is_file() and not f.is_symlink()):
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
        _swap_in(tmp, path, old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap_in(new: Path, path: Path, old: Path) -> None:
    """Rename ``new`` to ``path``, moving what was there to ``old`` first and removing it after (or putting it
    back when the rename fails)."""
    _remove(old)
    had_old = path.exists() or path.is_symlink()
    if had_old:
        os.replace(path, old)
    try:
        os.replace(new, path)
    except OSError:
        if had_old:
            os.replace(old, path)
        raise
    _remove(old)


def _remove(path: Path) -> None:
    """Remove a folder tree, a file or a symlink (not its target), if there; errors are ignored."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
