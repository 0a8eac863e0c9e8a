"""Fakes and fixtures for the measurement tests: a powercap tree on disk, an NVML object, a clock, a
fingerprint (with and without a GPU), a fast train config and a run context."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from measurement.hardware import CacheLevel, Fingerprint, GpuInfo
from measurement.records import TrainConfig
from measurement.store import RunContext

FAST = TrainConfig(windows=3, window_s=0.01, warmup_steps=1, batch_size=64, inference_batch_size=64)
"""Three short windows a phase: a whole run takes a fraction of a second."""
FP = Fingerprint(
    cpu_model="fake", logical_cores=2, memory_bytes=8 * 2**30, machine="x86_64",
    caches=(CacheLevel(1, "Data", 32 * 1024, 1), CacheLevel(2, "Unified", 512 * 1024, 1),
            CacheLevel(3, "Unified", 32 * 2**20, 2)),
)  # fmt: skip
"""A machine with L1d 32 KiB, L2 512 KiB and L3 32 MiB, and no GPU."""
FP_GPU = dataclasses.replace(FP, gpu=GpuInfo("Fake GPU", l2_bytes=4 * 2**20, memory_bytes=16 * 2**30))
"""The same machine with a GPU: L2 4 MiB, 16 GiB of memory."""


def run_context(dataset, name: str = "synthetic:600,6,3", batch_size: int = 64) -> RunContext:
    """The context a run on ``dataset`` is recorded with (one thread, CPU)."""
    return RunContext(name, dataset.fingerprint(), dataset.task.value, dataset.train_samples, dataset.train_bytes,
                      batch_size, batch_size, 1, "cpu", constant_accuracy=dataset.constant_accuracy)  # fmt: skip


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
    """Enough of pynvml's API: init/shutdown (both logged in ``calls``), handle, name, total energy (mJ) or
    power usage (mW)."""

    NVMLError = FakeNvmlError

    def __init__(self, energy_mj: int | None = 0, power_mw: int = 100_000) -> None:
        self.energy_mj, self.power_mw = energy_mj, power_mw
        self.calls: list[str] = []

    def nvmlInit(self) -> None:
        self.calls.append("init")

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

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
