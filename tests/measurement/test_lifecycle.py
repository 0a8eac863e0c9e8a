"""Children started through ParentBoundContext die with their parent, even when they never touch a pipe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.processes import alive

ROOT = Path(__file__).resolve().parents[2]
PARENT = """
import multiprocessing, sys, time
from measurement.lifecycle import parent_bound_context

def spin():
    while True:
        pass

ctx = parent_bound_context() if sys.argv[1] == "bound" else multiprocessing.get_context("fork")
child = ctx.Process(target=spin, daemon=True)
child.start()
print(child.pid, flush=True)
time.sleep(600)
"""


def _orphan_after_parent_kill(kind: str) -> tuple[int, bool]:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, kind], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and alive({child}):
        time.sleep(0.1)
    return child, bool(alive({child}))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_a_bound_child_dies_with_its_parent_and_a_plain_one_does_not() -> None:
    child, survived = _orphan_after_parent_kill("bound")
    assert not survived, f"bound child {child} outlived its killed parent"
    control, survived = _orphan_after_parent_kill("plain")
    try:
        assert survived, "the control child died too: this test would not notice a broken guarantee"
    finally:
        os.kill(control, signal.SIGKILL)
