"""Injected hardware fakes: a powercap tree on disk, an NVML object, a clock."""

from __future__ import annotations

from pathlib import Path


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class PowercapTree:
    """A fake /sys/class/powercap: zones with name, energy_uj and max_energy_range_uj files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def add(self, zone: str, name: str, energy_uj: int, max_range_uj: int = 262143328850) -> Path:
        d = self.root / zone
        d.mkdir()
        (d / "name").write_text(f"{name}\n")
        (d / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
        self.set(zone, energy_uj)
        return d

    def set(self, zone: str, energy_uj: int) -> None:
        (self.root / zone / "energy_uj").write_text(f"{energy_uj}\n")


class FakeNvmlError(Exception):
    pass


class FakeNvml:
    """Enough of pynvml's API: init, handle, name, total energy (mJ) or power usage (mW)."""

    NVMLError = FakeNvmlError

    def __init__(self, energy_mj: int | None = 0, power_mw: int = 100_000) -> None:
        self.energy_mj, self.power_mw = energy_mj, power_mw
        self.calls: list[str] = []

    def nvmlInit(self) -> None:
        self.calls.append("init")

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:
        return f"gpu{index}"

    def nvmlDeviceGetName(self, handle: str) -> str:
        return "Fake V100"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: str) -> int:
        if self.energy_mj is None:
            raise FakeNvmlError("NVML_ERROR_NOT_SUPPORTED")
        return self.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle: str) -> int:
        return self.power_mw
