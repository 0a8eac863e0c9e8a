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
