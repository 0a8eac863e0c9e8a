"""Run the ``advisor`` command: installed, in a subprocess (exit codes, kills), or in-process (parsing, rendering)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

ADVISOR = shutil.which("advisor") or str(Path(sys.executable).parent / "advisor")
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"

# A fresh interpreter's warning filters (no -W, no PYTHONWARNINGS), most specific first: what the installed
# command runs under, so a warning the command would print on stderr lands in call_cli's stderr too.
_INTERPRETER_WARNING_FILTERS = (
    ("default", DeprecationWarning, "__main__"),
    ("ignore", DeprecationWarning, ""),
    ("ignore", PendingDeprecationWarning, ""),
    ("ignore", ImportWarning, ""),
    ("ignore", ResourceWarning, ""),
)


def run_cli(*args: str, home: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if home is not None:
        env["ADVISOR_HOME"] = str(home)
    return subprocess.run([ADVISOR, *args], capture_output=True, text=True, timeout=timeout, env=env)


def run_python(
    code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (this one's), from the repository root: for what only a new process
    shows (import-time side effects, which modules an import pulls in)."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=timeout)  # fmt: skip


def assert_one_line_error(result: subprocess.CompletedProcess | tuple[int, str, str], fragment: str = "") -> None:
    """Exit code 2 and one line on stderr containing ``fragment``: a run_cli result or call_cli's triple."""
    code, out, err = result if isinstance(result, tuple) else (result.returncode, result.stdout, result.stderr)
    assert code == 2, (out, err)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert fragment.lower() in lines[0].lower(), lines[0]


def call_cli(*args: str, home: Path | None = None, monkeypatch=None) -> tuple[int, str, str]:
    """Run the CLI entry point in this process (parsing and rendering tests): (exit code, stdout, stderr).

    stderr also gets what the installed command would print there: ``logging`` warnings (formatted like the
    entry point's ``basicConfig``, which is a no-op while this handler is attached) and Python warnings
    under a fresh interpreter's filters. ``home`` needs ``monkeypatch`` (ADVISOR_HOME is read from the
    environment, and monkeypatch undoes it after the test).
    """
    from advisor.cli import main

    if home is not None:
        if monkeypatch is None:
            raise TypeError("call_cli(home=...) needs monkeypatch= to set ADVISOR_HOME")
        monkeypatch.setenv("ADVISOR_HOME", str(home))
    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("advisor: warning: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        err.write(warnings.formatwarning(message, category, filename, lineno, line))

    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            warnings.resetwarnings()
            for action, category, module in reversed(_INTERPRETER_WARNING_FILTERS):
                warnings.filterwarnings(action, category=category, module=module)
            warnings.showwarning = show
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse usage errors and --version exit
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
                if isinstance(exc.code, str):
                    err.write(exc.code + "\n")
    finally:
        root.removeHandler(handler)
    return code, out.getvalue(), err.getvalue()
