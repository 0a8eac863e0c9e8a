"""Run the installed ``advisor`` command in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ADVISOR = shutil.which("advisor") or str(Path(sys.executable).parent / "advisor")
DATA = Path(__file__).resolve().parents[2] / "data"


def run_cli(*args: str, home: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if home is not None:
        env["ADVISOR_HOME"] = str(home)
    return subprocess.run([ADVISOR, *args], capture_output=True, text=True, timeout=timeout, env=env)


def assert_one_line_error(result: subprocess.CompletedProcess, fragment: str = "") -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert fragment.lower() in lines[0].lower(), lines[0]
