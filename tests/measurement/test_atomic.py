"""Atomic writes: a file or a folder is replaced whole or not at all, and nothing is left beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from measurement.atomic import atomic_folder, atomic_path


def test_a_file_is_replaced_whole_or_kept(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # readers see the old file until the rename
    assert target.read_text() == "new"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("the writer failed")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_folder_replaces_the_old_one_whole(tmp_path: Path) -> None:
    target = tmp_path / "profile"
    target.mkdir()
    (target / "stale.nc").write_text("old")
    with atomic_folder(target) as tmp:
        assert tmp.is_dir() and not any(tmp.iterdir())
        (tmp / "profile.json").write_text("{}")
        assert (target / "stale.nc").exists()  # the old folder stands until the swap
    assert [p.name for p in target.iterdir()] == ["profile.json"]  # nothing of the old folder is left in it
    assert [p.name for p in tmp_path.iterdir()] == ["profile"]  # no temporary or old folder beside it


def test_a_failed_folder_write_leaves_the_old_folder(tmp_path: Path) -> None:
    target = tmp_path / "profile"
    target.mkdir()
    (target / "profile.json").write_text("old")
    with pytest.raises(OSError, match="disk full"), atomic_folder(target) as tmp:
        (tmp / "profile.json").write_text("half")
        raise OSError("disk full")
    assert (target / "profile.json").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["profile"]


def test_a_new_folder_and_its_parents_are_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "profile"
    with atomic_folder(target) as tmp:
        (tmp / "x").write_text("1")
    assert (target / "x").read_text() == "1"
