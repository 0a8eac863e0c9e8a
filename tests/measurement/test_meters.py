"""Every meter against injected hardware: fake powercap trees, a fake NVML, fake clocks, traces."""

from __future__ import annotations

import logging
import math
import re
import time
from pathlib import Path

import pytest

from measurement.errors import InputError
from measurement.meters.auto import (
    MeterChoice,
    MeterOptions,
    build_meter_options,
    choose_meter,
    close_meter,
    default_idle_s,
    ladder,
    parse_meter_choice,
)
from measurement.meters.base import MeterError, MeterKind, MeterPermissionError, MeterUnavailable
from measurement.meters.estimate import EstimateMeter
from measurement.meters.nvml import NvmlError, NvmlMeter
from measurement.meters.rapl import RaplMeter
from measurement.meters.replay import ReplayMeter
from measurement.meters.trace import TraceError, TraceMeter, load_trace
from measurement.records import DEFAULT_IDLE_S
from tests.fakes.measurement import FakeClock, FakeNvml, PowercapTree


def test_rapl_single_package(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "powercap")
    tree.add("intel-rapl:0", "package-0", 1_000_000)
    clock = FakeClock()
    meter = RaplMeter(tree.root, clock=clock)
    meter.start()
    tree.set("intel-rapl:0", 6_000_000)
    clock.advance(2.0)
    reading = meter.stop()
    assert reading.energy_j == pytest.approx(5.0)
    assert reading.duration_s == pytest.approx(2.0)
    assert reading.power_w == pytest.approx(2.5)
    assert reading.kind is MeterKind.MEASURED and reading.meter == "rapl"


def test_rapl_package_plus_dram_and_nested_core_not_double_counted(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "powercap")
    tree.add("intel-rapl:0", "package-0", 0)
    tree.add("intel-rapl:0:0", "core", 0)  # nested inside the package: must not be added
    tree.add("intel-rapl:0:1", "dram", 0)  # not part of the package: must be added
    tree.add("intel-rapl:1", "package-1", 0)
    tree.add("intel-rapl:1:0", "core", 0)
    tree.add("intel-rapl-mmio:0", "package-0", 0)  # another driver's view of the same package
    meter = RaplMeter(tree.root)
    assert sorted(d.name for d in meter.domains) == ["dram-0", "package-0", "package-1"]
    meter.start()
    tree.set("intel-rapl:0", 10_000_000)
    tree.set("intel-rapl:0:0", 7_000_000)
    tree.set("intel-rapl:0:1", 2_000_000)
    tree.set("intel-rapl:1", 3_000_000)
    tree.set("intel-rapl:1:0", 2_000_000)
    reading = meter.stop()
    assert reading.energy_j == pytest.approx(15.0)
    assert reading.domains_j == pytest.approx({"package-0": 10.0, "dram-0": 2.0, "package-1": 3.0})


def test_rapl_wraparound_mid_run(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "powercap")
    tree.add("intel-rapl:0", "package-0", 990_000_000, max_range_uj=1_000_000_000)
    meter = RaplMeter(tree.root)
    meter.start()
    tree.set("intel-rapl:0", 5_000_000)  # wrapped: 10 J to the top, then 5 J
    assert meter.stop().energy_j == pytest.approx(15.0)


def test_rapl_poll_survives_two_wraps_in_one_window(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "powercap")
    tree.add("intel-rapl:0", "package-0", 0, max_range_uj=100_000_000)
    meter = RaplMeter(tree.root)
    meter.start()
    for value in (40_000_000, 80_000_000, 10_000_000, 50_000_000, 90_000_000, 20_000_000):  # wraps twice
        tree.set("intel-rapl:0", value)
        meter.poll()
    reading = meter.stop()
    assert reading.energy_j == pytest.approx(220.0) and reading.reject_reason is None


def _denying_reader(path: Path) -> str:
    if path.name == "energy_uj":
        raise PermissionError(13, "Permission denied", str(path))
    return path.read_text()


def test_rapl_permission_denied_explains_the_safe_fix(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "powercap")
    tree.add("intel-rapl:0", "package-0", 0)
    with pytest.raises(MeterPermissionError, match="udev rule") as info:
        RaplMeter(tree.root, reader=_denying_reader)
    assert "CVE-2020-8694" in str(info.value) and "chmod 444" in str(info.value)


def test_auto_falls_back_to_estimate_on_eacces_and_says_why(tmp_path: Path, caplog) -> None:
    tree = PowercapTree(tmp_path / "powercap")
    tree.add("intel-rapl:0", "package-0", 0)
    options = MeterOptions(powercap_root=tree.root, powercap_reader=_denying_reader)
    with caplog.at_level(logging.WARNING):
        meter, steps = choose_meter(options)
    assert isinstance(meter, EstimateMeter) and meter.kind is MeterKind.ESTIMATED
    assert [s.meter for s in steps] == ["rapl", "estimate"]
    assert not steps[0].available and "udev" in steps[0].detail
    assert "rapl unavailable" in caplog.text


def test_auto_prefers_rapl_when_readable(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "powercap")
    tree.add("intel-rapl:0", "package-0", 0)
    meter, steps = choose_meter(MeterOptions(powercap_root=tree.root))
    assert isinstance(meter, RaplMeter) and steps[0].available


def test_auto_without_powercap_tree(tmp_path: Path) -> None:
    steps = ladder(MeterOptions(powercap_root=tmp_path / "absent"))
    assert not steps[0].available and "no powercap tree" in steps[0].detail
    assert steps[-1].meter == "estimate" and steps[-1].available


def test_nvml_counter_path() -> None:
    nvml = FakeNvml(energy_mj=50_000)
    clock = FakeClock()
    meter = NvmlMeter(nvml=nvml, clock=clock)
    assert meter.mode == "counter"
    meter.start()
    nvml.energy_mj += 12_500
    clock.advance(0.5)
    reading = meter.stop()
    assert reading.energy_j == pytest.approx(12.5)
    assert reading.duration_s == pytest.approx(0.5)
    assert reading.domains_j == pytest.approx({"gpu:Fake V100": 12.5})


def test_nvml_sampling_path_integrates_power() -> None:
    nvml = FakeNvml(energy_mj=None, power_mw=150_000)  # no energy counter (pre-Volta)
    meter = NvmlMeter(nvml=nvml, sample_interval_s=0.01)
    assert meter.mode == "sampling"
    meter.start()
    time.sleep(0.1)
    reading = meter.stop()
    samples = meter._sampler.samples
    assert len(samples) >= 3
    assert reading.energy_j == pytest.approx(150.0 * (samples[-1][0] - samples[0][0]))


def test_nvml_sampler_trapezoid_with_fake_clock() -> None:
    from measurement.meters.nvml import PowerSampler

    clock, powers = FakeClock(0.0), iter([100.0, 200.0, 200.0])
    sampler = PowerSampler(lambda: next(powers), clock, interval_s=3600)
    sampler.start()  # sample at t=0 (100 W)
    clock.advance(1.0)
    sampler.sample()  # t=1 (200 W)
    clock.advance(2.0)
    assert sampler.stop() == pytest.approx(150.0 + 400.0)  # final sample t=3 (200 W)


def test_nvml_errors_become_our_errors() -> None:
    nvml = FakeNvml(energy_mj=0)

    def broken(handle):
        raise nvml.NVMLError("GPU is lost")

    nvml.nvmlDeviceGetPowerUsage = broken
    nvml.energy_mj = None
    meter = NvmlMeter(nvml=nvml)
    with pytest.raises(NvmlError, match="GPU is lost"):
        meter.start()


def test_estimate_counts_process_cpu_time() -> None:
    cpu, wall = FakeClock(0.0), FakeClock(0.0)
    meter = EstimateMeter(core_dynamic_w=12.0, idle_share_w=3.0, cpu_clock=cpu, clock=wall)
    meter.start()
    cpu.advance(1.5)  # e.g. two spinning threads over 0.75 s
    wall.advance(0.75)
    reading = meter.stop()
    assert reading.energy_j == pytest.approx(12.0 * 1.5 + 3.0 * 0.75)
    assert reading.kind is MeterKind.ESTIMATED
    with pytest.raises(MeterError):
        EstimateMeter(core_dynamic_w=0)


def _write_trace(path: Path, rows: list[tuple[float, float]], header: str = "timestamp,watts") -> Path:
    path.write_text(header + "\n" + "\n".join(f"{t},{w}" for t, w in rows) + "\n")
    return path


def test_trace_alignment_and_integration_by_hand(tmp_path: Path) -> None:
    # 100 W until t=10, then a ramp to 300 W at t=12, flat after; samples each second
    rows = [(float(t), 100.0 if t <= 10 else min(300.0, 100.0 + 100.0 * (t - 10))) for t in range(0, 21)]
    trace = load_trace(_write_trace(tmp_path / "trace.csv", rows))
    energy, reason = trace.integrate(9.5, 13.5, max_gap_s=2.0)
    # 9.5-10: 100 W x 0.5 = 50; 10-12: ramp 100->300 = 400; 12-13.5: 300 W x 1.5 = 450
    assert reason is None and energy == pytest.approx(900.0)
    clock, wall = FakeClock(0.0), FakeClock(9.5)
    meter = TraceMeter(tmp_path / "trace.csv", max_gap_s=2.0, clock=clock, wall=wall)
    meter.start()
    clock.advance(4.0)
    reading = meter.stop()
    assert reading.energy_j == pytest.approx(900.0) and reading.reject_reason is None


def test_trace_gap_rejects_the_window(tmp_path: Path) -> None:
    rows = [(0.0, 100.0), (1.0, 100.0), (9.0, 100.0), (10.0, 100.0)]
    trace = load_trace(_write_trace(tmp_path / "gap.csv", rows))
    energy, reason = trace.integrate(0.5, 9.5, max_gap_s=5.0)
    assert reason is not None and "gap" in reason and energy != energy  # NaN, never a number
    assert trace.integrate(0.0, 1.0, max_gap_s=5.0)[1] is None
    assert "does not cover" in trace.integrate(5.0, 20.0, max_gap_s=5.0)[1]


def test_trace_iso_times_unsorted_exact_duplicates_and_nan(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "time,power_w\n2026-01-01T00:00:02Z,200\n2026-01-01T00:00:00Z,100\n"
        "2026-01-01T00:00:01Z,nan\n2026-01-01T00:00:00Z,100\n2026-01-01T00:00:04Z,200\n"
    )
    trace = load_trace(path)
    assert list(trace.power_w) == [100.0, 200.0, 200.0]
    assert list(trace.unix_s - trace.unix_s[0]) == [0.0, 2.0, 4.0]
    assert (trace.dropped_rows, trace.collapsed_rows, trace.out_of_order_rows) == (1, 1, 1)
    summary = trace.summary()
    assert "1 dropped" in summary and "1 exact duplicates collapsed" in summary and "1 out of order (sorted)" in summary


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("when,watts\n1,2\n2,3\n", "timestamp column"),
        ("timestamp,watts\nnoon,2\n1,3\n", "unix seconds or ISO-8601"),
        ("timestamp,watts\n1,2\n", "fewer than two"),
    ],
)
def test_bad_traces(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(TraceError, match=message):
        load_trace(path)
    with pytest.raises(TraceError, match="not found"):
        load_trace(tmp_path / "missing.csv")


def test_replay_meter_plays_rows_in_order(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("energy_j,duration_s,kind\n1.5,0.5,measured\n3.0,1.0,measured\n")
    meter = ReplayMeter(path)
    values = []
    for _ in range(3):
        meter.start()
        values.append(meter.stop().energy_j)
    assert values == [1.5, 3.0, 1.5]
    assert meter.kind is MeterKind.MEASURED
    path.write_text("energy_j,duration_s\nx,1\n")
    with pytest.raises(MeterError, match="line 2"):
        ReplayMeter(path)


def test_replay_file_is_bounded_before_it_is_read(tmp_path: Path) -> None:
    from measurement.meters.replay import REPLAY_MAX_BYTES

    big = tmp_path / "big.csv"
    with big.open("wb") as handle:
        handle.truncate(REPLAY_MAX_BYTES + 1)  # sparse: nothing is written, nothing read
    with pytest.raises(MeterError, match="over the bound of 64 MiB"):
        ReplayMeter(big)
    wide = tmp_path / "wide.csv"
    wide.write_text("energy_j,duration_s\n" + "1" * 200_000 + ",1\n")  # past the csv module's field limit
    with pytest.raises(MeterError, match="cannot read replay file"):
        ReplayMeter(wide)


def test_shipped_replay_fixture_loads() -> None:
    meter = ReplayMeter(Path(__file__).resolve().parents[2] / "data" / "replay_readings.csv")
    assert len(meter.rows) >= 10


def test_explicit_meter_that_cannot_run_is_an_error_not_a_substitute(tmp_path: Path) -> None:
    with pytest.raises(MeterUnavailable):
        choose_meter(MeterOptions(choice=MeterChoice.RAPL, powercap_root=tmp_path / "none"))
    with pytest.raises(MeterError, match="--trace"):
        choose_meter(MeterOptions(choice=MeterChoice.TRACE))
    with pytest.raises(MeterError, match="unknown meter"):
        parse_meter_choice("wattson")


def test_choose_meter_builds_nvml_once_and_the_caller_releases_it(tmp_path: Path) -> None:
    nvml = FakeNvml(energy_mj=0)
    tree = PowercapTree(tmp_path / "powercap")
    tree.add("intel-rapl:0", "package-0", 0)  # RAPL works too: built, reported, and released
    meter, steps = choose_meter(MeterOptions(device="cuda", nvml=nvml, powercap_root=tree.root))
    assert isinstance(meter, NvmlMeter) and [s.available for s in steps] == [True, True, True]
    assert nvml.calls.count("init") == 1 and "shutdown" not in nvml.calls
    close_meter(meter)
    meter.close()  # idempotent
    assert nvml.calls.count("shutdown") == 1
    close_meter(EstimateMeter())  # a meter without close() holds nothing


def test_ladder_releases_every_meter_it_builds(tmp_path: Path) -> None:
    nvml = FakeNvml(energy_mj=None)  # sampling mode
    steps = ladder(MeterOptions(device="cuda:1", nvml=nvml, powercap_root=tmp_path / "absent"))
    assert [s.meter for s in steps] == ["nvml", "rapl", "estimate"] and steps[0].available
    assert nvml.calls.count("init") == nvml.calls.count("shutdown") == 1


def test_nvml_that_fails_after_init_shuts_down_and_the_ladder_falls_back(tmp_path: Path) -> None:
    nvml = FakeNvml()

    def no_device(index: int) -> str:
        raise nvml.NVMLError("NVML_ERROR_INVALID_ARGUMENT")

    nvml.nvmlDeviceGetHandleByIndex = no_device
    meter, steps = choose_meter(MeterOptions(device="cuda", nvml=nvml, powercap_root=tmp_path / "absent"))
    assert isinstance(meter, EstimateMeter) and not steps[0].available and "INVALID_ARGUMENT" in steps[0].detail
    assert nvml.calls == ["init", "shutdown"]


def test_build_meter_options_validates_and_converts() -> None:
    options = build_meter_options("estimate", "cuda:1", trace_max_gap_s=2, core_watts=12)
    assert options == MeterOptions(choice=MeterChoice.ESTIMATE, device="cuda:1", trace_max_gap_s=2.0,
                                   core_dynamic_w=12.0)  # fmt: skip
    trace = build_meter_options("trace", "cpu", trace_path="power.csv")
    assert trace.choice is MeterChoice.TRACE and trace.trace_path == Path("power.csv")
    assert build_meter_options("auto", "cuda") == MeterOptions(device="cuda")
    with pytest.raises(MeterError, match="unknown meter 'wattson' \\(choose from: auto, rapl"):
        build_meter_options("wattson", "cpu")
    for device in ("tpu", "cuda:", "cuda:x", "CPU", "cpu:0", ""):
        with pytest.raises(InputError, match=re.escape(f"unknown device {device!r} (cpu, cuda or cuda:N)")):
            build_meter_options("auto", device)
    for watts in (-3.0, 0.0, math.nan, math.inf):
        with pytest.raises(InputError, match="core-watts"):
            build_meter_options("estimate", "cpu", core_watts=watts)
    for gap in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(InputError, match="trace-max-gap"):
            build_meter_options("trace", "cpu", trace_max_gap_s=gap)


def test_default_idle_s_is_zero_only_for_replay() -> None:
    assert default_idle_s(MeterOptions(choice=MeterChoice.REPLAY)) == 0.0
    for choice in MeterChoice:
        if choice is not MeterChoice.REPLAY:
            assert default_idle_s(MeterOptions(choice=choice)) == DEFAULT_IDLE_S > 0
