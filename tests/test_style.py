"""The codebase stays ruff-clean and keeps its layering.

Layers: advisor -> models -> measurement, never back. Inside advisor, the CLI and the TUI import only the
advisor library (requests, results and errors are re-exported there), never measurement or models. Only the
harness and the network builder import torch at module level.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"measurement": {"advisor", "models"}, "models": {"advisor"}}
UI_PACKAGES = ("advisor/cli", "advisor/tui")
TORCH_USERS = {"measurement/harness.py", "measurement/network.py"}
PACKAGES = ("advisor", "models", "measurement")


def _imports(path: Path, top_level_only: bool = False) -> list[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _sources(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py")]


def test_ruff_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_flow_one_way() -> None:
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for package, forbidden in LAYERS.items()
        for path in _sources(package)
        for name in _imports(path)
        if name.split(".")[0] in forbidden
    ]
    assert not offences, offences


def test_cli_and_tui_import_only_the_advisor_library() -> None:
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _sources(*UI_PACKAGES)
        for name in _imports(path)
        if name.split(".")[0] in ("measurement", "models")
    ]
    assert not offences, offences


def test_only_the_harness_and_the_network_import_torch() -> None:
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _sources(*PACKAGES)
        for name in _imports(path, top_level_only=True)
        if name.split(".")[0] == "torch" and str(path.relative_to(ROOT)) not in TORCH_USERS
    ]
    assert not offences, offences
    users = {str(p.relative_to(ROOT)) for p in _sources(*PACKAGES) if "torch" in {n.split(".")[0] for n in _imports(p)}}
    assert users <= TORCH_USERS | {"measurement/hardware.py"}, users  # hardware: the GPU, lazily, for doctor


def test_no_test_module_imports_another() -> None:
    """Shared fakes live in tests/fakes (or beside a matrix, like reliability/cases.py), never in a test module."""
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / "tests").rglob("test_*.py")
        for name in _imports(path)
        if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith(("test_", "conftest"))
    ]
    assert not offences, offences
