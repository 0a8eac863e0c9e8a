"""The process-tree CPU clock against a fake /proc tree and fake clocks; one real child process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from measurement.meters.estimate import EstimateMeter
from measurement.process import ProcessTreeCpu, descendants, parse_stat, process_table
from tests.fakes.measurement import FakeClock
from tests.fakes.proc import ProcTree


def test_a_stat_line_with_spaces_and_parentheses_in_its_name() -> None:
    line = "42 (my (odd) name) R 7 42 42 0 -1 0 0 0 0 0 150 50 30 20 20 0 1 0 1 1"
    stat = parse_stat(42, line, ticks_per_s=100)
    assert (stat.pid, stat.ppid) == (42, 7)
    assert stat.cpu_s == pytest.approx(2.5)  # (150 + 50 + 30 + 20) ticks


def test_descendants_are_found_through_every_generation_and_nothing_else(tmp_path: Path) -> None:
    tree = ProcTree(tmp_path / "proc")
    tree.set(1, 0)
    tree.set(10, 1)  # the root
    tree.set(11, 10)
    tree.set(12, 11)
    tree.set(13, 12, comm="a b) c")
    tree.set(20, 1)  # a sibling of the root: not its descendant
    (tmp_path / "proc" / "self").mkdir()  # not a pid: skipped
    table = process_table(tmp_path / "proc", ticks_per_s=100)
    assert descendants(table, 10) == {11, 12, 13}
    assert descendants(table, 13) == set()


@pytest.mark.parametrize("children_files", [False, True], ids=["scan", "walk"])
def test_the_tree_clock_sums_itself_its_reaped_children_and_its_living_descendants(
    tmp_path: Path, children_files: bool
) -> None:
    tree = ProcTree(tmp_path / "proc", children_files=children_files)
    tree.set(10, 1)
    tree.set(11, 10, utime=100, stime=100)  # 2 s
    tree.set(12, 11, utime=50, cutime=50)  # 1 s, half of it a child it reaped
    tree.set(20, 1, utime=900)  # not below the root
    own, reaped = FakeClock(3.0), FakeClock(0.5)
    clock = ProcessTreeCpu(10, tmp_path / "proc", self_cpu=own, reaped_cpu=reaped, ticks_per_s=100)
    assert clock.walks is children_files
    assert clock() == pytest.approx(3.0 + 0.5 + 2.0 + 1.0)


@pytest.mark.parametrize("children_files", [False, True], ids=["scan", "walk"])
def test_a_reaped_child_moves_from_proc_to_the_rusage_and_the_total_stays_continuous(
    tmp_path: Path, children_files: bool
) -> None:
    tree = ProcTree(tmp_path / "proc", children_files=children_files)
    tree.set(10, 1)
    tree.set(11, 10, utime=300)
    reaped = FakeClock(0.0)
    clock = ProcessTreeCpu(10, tmp_path / "proc", self_cpu=FakeClock(1.0), reaped_cpu=reaped, ticks_per_s=100)
    before = clock()
    tree.remove(11)  # the root waits for it: its 3 s show in RUSAGE_CHILDREN now
    reaped.advance(3.0)
    assert clock() == pytest.approx(before) == pytest.approx(4.0)


def test_the_estimate_meter_counts_a_child_process_cpu_time(tmp_path: Path) -> None:
    tree = ProcTree(tmp_path / "proc")
    tree.set(11, 10, utime=0)
    wall = FakeClock()
    meter = EstimateMeter(core_dynamic_w=10.0, clock=wall, wall=wall,
                          cpu_clock=ProcessTreeCpu(10, tmp_path / "proc", self_cpu=FakeClock(0.0),
                                                   reaped_cpu=FakeClock(0.0), ticks_per_s=100))  # fmt: skip
    meter.start()
    tree.set(11, 10, utime=150)  # the child works 1.5 s while this process sleeps
    wall.advance(2.0)
    reading = meter.stop()
    assert reading.energy_j == pytest.approx(15.0)  # 10 W x 1.5 CPU s


def test_a_real_child_that_burns_cpu_is_counted_once_waited_for() -> None:
    clock = ProcessTreeCpu()
    before = clock()
    code = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert clock() - before >= 0.3  # its CPU time (plus the interpreter's start) arrived via RUSAGE_CHILDREN


def test_reading_the_tree_of_a_process_without_children_is_cheap() -> None:
    clock = ProcessTreeCpu()
    if not clock.walks:  # a kernel without children lists: the scan is the clock, checked above on fake trees
        assert clock() >= 0
        return

    def per_read_s() -> float:
        start = time.process_time()
        for _ in range(100):
            clock()
        return (time.process_time() - start) / 100

    walked = per_read_s()
    clock.walks = False
    scanned = per_read_s()
    assert walked < scanned / 3  # about 0.02 ms against 0.8 ms here, read under the same load
