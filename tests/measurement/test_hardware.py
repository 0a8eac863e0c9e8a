"""The fingerprint reads caches from a (fake) sysfs tree, not getconf."""

from __future__ import annotations

from pathlib import Path

from measurement.hardware import Fingerprint, fingerprint, parse_size


def make_cpu_tree(root: Path, caches: list[tuple[int, str, str, str]]) -> Path:
    for index, (level, kind, size, shared) in enumerate(caches):
        d = root / "cpu0" / "cache" / f"index{index}"
        d.mkdir(parents=True)
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
        (d / "shared_cpu_list").write_text(f"{shared}\n")
    return root


def test_parse_size() -> None:
    assert parse_size("32K") == 32768
    assert parse_size("512K\n") == 524288
    assert parse_size("32M") == 32 * 2**20
    assert parse_size("1024") == 1024


def test_fingerprint_from_fake_sysfs(tmp_path: Path) -> None:
    cpu = make_cpu_tree(
        tmp_path / "cpu",
        [
            (1, "Data", "32K", "0"),
            (1, "Instruction", "32K", "0"),
            (2, "Unified", "512K", "0"),
            (3, "Unified", "32768K", "0-1"),
        ],
    )
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cpuinfo").write_text("processor : 0\nmodel name\t: AMD EPYC 7B13\n")
    (proc / "meminfo").write_text("MemTotal:       24000000 kB\n")
    fp = fingerprint(sysfs_cpu=cpu, proc=proc, with_gpu=False)
    assert fp.cpu_model == "AMD EPYC 7B13"
    assert fp.memory_bytes == 24000000 * 1024
    assert fp.cpu_tiers() == (("L1d", 32768), ("L2", 524288), ("L3", 32 * 2**20))
    assert [c.shared_cpus for c in fp.caches] == [1, 1, 1, 2]
    again = Fingerprint.from_dict(fp.to_dict())
    assert again == fp and again.digest() == fp.digest()


def test_missing_sysfs_gives_no_caches(tmp_path: Path) -> None:
    fp = fingerprint(sysfs_cpu=tmp_path / "nothing", proc=tmp_path / "noproc", with_gpu=False)
    assert fp.caches == () and fp.memory_bytes == 0


def test_gpu_name_comes_from_the_driver_without_torch(tmp_path: Path) -> None:
    from measurement.hardware import read_gpu_name

    assert read_gpu_name(tmp_path) is None
    gpu = tmp_path / "driver" / "nvidia" / "gpus" / "0000:00:1e.0"
    gpu.mkdir(parents=True)
    (gpu / "information").write_text("Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   42\n")
    assert read_gpu_name(tmp_path) == "NVIDIA H100 80GB HBM3"


def test_same_machine_compares_the_gpu_only_where_both_name_one() -> None:
    import dataclasses

    from measurement.hardware import CacheLevel, Fingerprint, GpuInfo

    cpu = Fingerprint("Xeon", 2, (CacheLevel(1, "Data", 49152, 1),), 2**34, "x86_64")
    h100 = dataclasses.replace(cpu, gpu=GpuInfo("NVIDIA H100", 50 * 2**20, 80 * 2**30))
    seen_without_torch = dataclasses.replace(cpu, gpu=GpuInfo("NVIDIA H100", None, 0))
    assert h100.same_machine(cpu) and cpu.same_machine(h100)  # no GPU seen here: compare the CPU alone
    assert h100.same_machine(seen_without_torch)
    assert not h100.same_machine(dataclasses.replace(cpu, gpu=GpuInfo("NVIDIA A100", None, 0)))
    assert not cpu.same_machine(dataclasses.replace(cpu, cpu_model="EPYC"))
    assert h100.digest() != cpu.digest()  # the digest still tells them apart for the store
