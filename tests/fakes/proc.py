"""A fake ``/proc`` tree: processes with a parent and CPU ticks, written as ``<pid>/stat`` lines."""

from __future__ import annotations

from pathlib import Path


class ProcTree:
    """Processes under ``root``; each :meth:`set` (re)writes one ``stat`` line (100 ticks a second). With
    ``children_files``, each process also lists its children in ``task/<pid>/children``, as Linux does with
    ``CONFIG_PROC_CHILDREN``."""

    def __init__(self, root: Path, children_files: bool = False) -> None:
        self.root, self.children_files = root, children_files
        self._parents: dict[int, int] = {}
        root.mkdir(parents=True, exist_ok=True)

    def _write_children(self, pid: int) -> None:
        task = self.root / str(pid) / "task" / str(pid)
        task.mkdir(parents=True, exist_ok=True)
        children = sorted(child for child, parent in self._parents.items() if parent == pid)
        (task / "children").write_text("".join(f"{child} " for child in children))

    def set(self, pid: int, ppid: int, utime: int = 0, stime: int = 0, cutime: int = 0, cstime: int = 0,
            comm: str = "python", state: str = "S") -> None:  # fmt: skip
        """Write process ``pid``'s stat line (its times in ticks)."""
        folder = self.root / str(pid)
        folder.mkdir(exist_ok=True)
        fields = [state, ppid, pid, pid, 0, -1, 0, 0, 0, 0, 0, utime, stime, cutime, cstime, 20, 0, 1, 0, 1, 1]
        (folder / "stat").write_text(f"{pid} ({comm}) " + " ".join(map(str, fields)) + "\n")
        self._parents[pid] = ppid
        if self.children_files:
            self._write_children(pid)
            if (self.root / str(ppid)).is_dir():
                self._write_children(ppid)

    def remove(self, pid: int) -> None:
        """The process is gone (reaped)."""
        import shutil

        shutil.rmtree(self.root / str(pid))
        parent = self._parents.pop(pid, None)
        if self.children_files and parent is not None and (self.root / str(parent)).is_dir():
            self._write_children(parent)
