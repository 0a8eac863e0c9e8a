"""A fake ``/proc`` tree: processes with a parent and CPU ticks, written as ``<pid>/stat`` lines."""

from __future__ import annotations

from pathlib import Path


class ProcTree:
    """Processes under ``root``; each :meth:`set` (re)writes one ``stat`` line (100 ticks a second)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def set(self, pid: int, ppid: int, utime: int = 0, stime: int = 0, cutime: int = 0, cstime: int = 0,
            comm: str = "python", state: str = "S") -> None:  # fmt: skip
        """Write process ``pid``'s stat line (its times in ticks)."""
        folder = self.root / str(pid)
        folder.mkdir(exist_ok=True)
        fields = [state, ppid, pid, pid, 0, -1, 0, 0, 0, 0, 0, utime, stime, cutime, cstime, 20, 0, 1, 0, 1, 1]
        (folder / "stat").write_text(f"{pid} ({comm}) " + " ".join(map(str, fields)) + "\n")

    def remove(self, pid: int) -> None:
        """The process is gone (reaped)."""
        (self.root / str(pid) / "stat").unlink()
        (self.root / str(pid)).rmdir()
