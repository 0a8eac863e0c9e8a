"""A killed command leaves nothing running: SIGKILL or SIGINT of a long command, and 5 s later no process it
started (sampler chains above all) is still alive."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from measurement.hardware import fingerprint
from tests.fakes.cli import ADVISOR
from tests.fakes.processes import alive, wait_for_descendants
from tests.fakes.store import fill_store

GRACE_S = 5.0


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "ADVISOR_HOME": str(tmp_path)}
    return subprocess.Popen([ADVISOR, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return fill_store(tmp_path_factory.mktemp("store") / "runs.sqlite", fingerprint(with_gpu=False))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: the chains are sampled in-process")
def test_a_killed_fit_leaves_no_sampler_behind(tmp_path: Path, store: Path, sig: int) -> None:
    """fit with PyMC's sampler samples 2 chains in 2 forked processes; killed mid-sampling, neither outlives it
    (nutpie samples in threads of the fit itself: below). The guarantee itself: test_lifecycle.py."""
    command = "fit"
    proc = _start(tmp_path, command, "--store", str(store), "--draws", "5000", "--tune", "5000", "--chains", "2",
                  "--sampler", "pymc")  # fmt: skip
    chains = wait_for_descendants(proc.pid, 2, 120, running="advisor")
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    assert len(chains) >= 2, "the fit never started its sampler processes"
    proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"{command} ignored {signal.Signals(sig).name} for 30 s")
    time.sleep(GRACE_S)
    assert not alive(chains), f"{sorted(alive(chains))} outlived {command} after {signal.Signals(sig).name}"
    if sig == signal.SIGINT:
        err = proc.stderr.read() if proc.stderr else ""
        assert proc.returncode == 130 and "Traceback" not in err, err
        assert not (tmp_path / "profile").exists(), "an interrupted fit was saved"


@pytest.mark.slow
def test_an_interrupted_nutpie_fit_exits_130_and_saves_nothing(tmp_path: Path, store: Path) -> None:
    """Ctrl-C during a nutpie fit (compiling or sampling, in threads): exit 130, one line, no profile."""
    proc = _start(tmp_path, "fit", "--store", str(store), "--draws", "100000", "--tune", "5000")
    time.sleep(20)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=120)  # a numba compile in progress finishes first
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("fit ignored SIGINT for 120 s")
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert not (tmp_path / "profile").exists(), "an interrupted fit was saved"
