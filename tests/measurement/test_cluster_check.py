"""Which cluster a request asks for, and the check that no two measuring workers see one counter (pure
functions fed with fake worker reports), and a RAPL meter narrowed to one CPU package."""

from __future__ import annotations

from pathlib import Path

import pytest

from measurement.cluster import (
    ClusterKind,
    ClusterSpec,
    check_meters,
    import_jobqueue,
    jobqueue_cluster,
    parse_cluster,
)
from measurement.distributed import MeterSlot, package_cpus, package_view, rapl_zones
from measurement.errors import InputError
from measurement.meters.rapl import RaplMeter
from tests.fakes.cli import run_python
from tests.fakes.measurement import PowercapTree
from tests.fakes.pool import report


@pytest.mark.parametrize(
    ("cluster", "scheduler", "workers", "expected"),
    [
        (None, None, None, None),
        ("local:2", None, None, ClusterSpec(ClusterKind.LOCAL, 2)),
        (" LOCAL:3 ", None, 3, ClusterSpec(ClusterKind.LOCAL, 3)),
        ("slurm", None, None, ClusterSpec(ClusterKind.SLURM, 2)),
        ("pbs", None, 8, ClusterSpec(ClusterKind.PBS, 8)),
        (None, "tcp://10.0.0.1:8786", None, ClusterSpec(ClusterKind.SCHEDULER, 1, "tcp://10.0.0.1:8786")),
        (None, "node07:8786", 4, ClusterSpec(ClusterKind.SCHEDULER, 4, "node07:8786")),
    ],
)
def test_cluster_specs(cluster, scheduler, workers, expected) -> None:
    assert parse_cluster(cluster, scheduler, workers) == expected


@pytest.mark.parametrize(
    ("cluster", "scheduler", "workers", "fragment"),
    [
        ("local:0", None, None, "1 to 256"),
        ("local:999", None, None, "1 to 256"),
        ("local", None, None, "unknown cluster"),
        ("local:x", None, None, "unknown cluster"),
        ("kubernetes", None, None, "local:N, slurm or pbs"),
        ("local:2", None, 3, "disagree"),
        ("local:2", "tcp://a:1", None, "not both"),
        (None, "not an address", None, "not a Dask scheduler address"),
        (None, "tcp://host:99999", None, "not a Dask scheduler address"),
        (None, None, 2, "--workers needs --cluster"),
        ("slurm", None, 300, "1 to 256"),
        ("slurm", None, 0, "1 to 256"),
    ],
)
def test_bad_cluster_specs_are_one_line(cluster, scheduler, workers, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment) as info:
        parse_cluster(cluster, scheduler, workers)
    assert "\n" not in str(info.value)


def test_per_process_meters_never_conflict() -> None:
    reports = [report(f"w{i}", "node1", meter) for i, meter in enumerate(("estimate", "replay", "estimate"))]
    assert check_meters(reports) == check_meters(reports, allow_shared=True)
    assert not check_meters(reports).problems and not check_meters(reports).slots


def test_one_measuring_worker_per_host_measures_the_whole_node() -> None:
    reports = [report("w1", "node1", "rapl", (0, 1)), report("w2", "node2", "rapl"), report("w3", "node3", "trace")]
    check = check_meters(reports)
    assert check.problems == () and check.excluded == () and dict(check.slots) == {}


def test_two_rapl_workers_on_one_package_are_refused_naming_host_and_count() -> None:
    reports = [report("w1", "node1", "rapl", (0,)), report("w2", "node1", "rapl", (0,))]
    check = check_meters(reports)
    (problem,) = check.problems
    assert "host node1 has 2 workers measuring with rapl but 1 CPU package" in problem
    assert "--allow-shared-meter" in problem and check.excluded == ("w2",)
    allowed = check_meters(reports, allow_shared=True)
    assert allowed.problems == check.problems and allowed.excluded == () and dict(allowed.slots) == {}


def test_rapl_workers_get_a_package_each_and_keep_it() -> None:
    reports = [report("w1", "node1", "rapl", (0, 1)), report("w2", "node1", "rapl", (0, 1))]
    check = check_meters(reports)
    assert check.problems == () and dict(check.slots) == {"w1": MeterSlot(package=0), "w2": MeterSlot(package=1)}
    # w1 died; its replacement w3 takes the package it left, w2 keeps its own
    check = check_meters([reports[1], report("w3", "node1", "rapl", (0, 1))], previous=check.slots)
    assert dict(check.slots) == {"w2": MeterSlot(package=1), "w3": MeterSlot(package=0)}


def test_nvml_workers_per_gpu() -> None:
    two = [report(f"w{i}", "gpu1", "nvml", gpus=2) for i in range(2)]
    assert dict(check_meters(two).slots) == {"w0": MeterSlot(gpu=0), "w1": MeterSlot(gpu=1)}
    three = [*two, report("w2", "gpu1", "nvml", gpus=2)]
    check = check_meters(three)
    assert check.excluded == ("w2",) and "3 workers measuring with nvml but 2 GPUs" in check.problems[0]


def test_a_node_trace_measures_one_worker_on_one_host() -> None:
    same_host = [report("w1", "node1", "trace"), report("w2", "node1", "trace")]
    assert "2 workers measuring with trace but 1 node power trace" in check_meters(same_host).problems[0]
    two_hosts = [report("w1", "node1", "trace"), report("w2", "node2", "trace")]
    check = check_meters(two_hosts)
    assert "one power trace cannot measure 2 hosts" in check.problems[0] and check.excluded == ("w2",)


def test_different_counters_on_one_host_are_refused() -> None:
    check = check_meters([report("w1", "node1", "rapl", (0, 1)), report("w2", "node1", "nvml", gpus=1)])
    assert "host node1 has workers measuring with rapl and nvml" in check.problems[0]


def _two_packages(root: Path) -> PowercapTree:
    tree = PowercapTree(root)
    tree.add("intel-rapl:0", "package-0", 1_000_000)
    tree.add("intel-rapl:0:0", "core", 500_000)
    tree.add("intel-rapl:0:1", "dram", 2_000_000)
    tree.add("intel-rapl:1", "package-1", 7_000_000)
    tree.add("intel-rapl:1:0", "dram", 9_000_000)
    return tree


def test_a_package_view_meters_one_package(tmp_path: Path) -> None:
    tree = _two_packages(tmp_path / "powercap")
    assert rapl_zones(tree.root) == {0: "intel-rapl:0", 1: "intel-rapl:1"}
    view = package_view(tree.root, 1, into=tmp_path / "view")
    meter = RaplMeter(view)
    assert {d.name for d in meter.domains} == {"package-1", "dram-1"}
    meter.start()
    tree.set("intel-rapl:0", 5_000_000)  # the other package's work is not seen
    tree.set("intel-rapl:1", 8_000_000)
    tree.set("intel-rapl:1:0", 9_500_000)
    assert meter.stop().energy_j == pytest.approx(1.5)
    with pytest.raises(Exception, match="no RAPL zone for CPU package 2"):
        package_view(tree.root, 2, into=tmp_path / "none")


def test_package_cpus_from_sysfs_topology(tmp_path: Path) -> None:
    for cpu, package in ((0, 0), (1, 0), (2, 1), (3, 1)):
        topology = tmp_path / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text(f"{package}\n")
    assert package_cpus(1, tmp_path) == {2, 3} and package_cpus(5, tmp_path) == set()


def test_a_slurm_job_is_one_single_threaded_worker_with_our_preload() -> None:
    dask = pytest.importorskip("dask")
    import_jobqueue()  # the test extras install it; imported directly, it would take over Ctrl-C here
    yaml = {"cores": 1, "processes": 1, "memory": "4GB", "job-extra-directives": ["--exclusive"]}
    with dask.config.set({f"jobqueue.slurm.{k}": v for k, v in yaml.items()}):
        cluster = jobqueue_cluster(ClusterKind.SLURM)
        try:
            script = cluster.job_script()
        finally:
            cluster.close()
    assert "#SBATCH --exclusive" in script and "--nthreads 1" in script
    assert "--preload measurement.cluster" in script


def test_importing_dask_jobqueue_leaves_ctrl_c_alone() -> None:
    """dask_jobqueue.runner sets SIGINT to sys.exit() when imported; a calibration's Ctrl-C must stay ours.
    (A fresh interpreter: in this one the module may be imported already, its side effect long past.)"""
    code = (
        "import signal, sys\n"
        "from measurement.cluster import import_jobqueue\n"
        "before = signal.getsignal(signal.SIGINT)\n"
        "import_jobqueue()\n"
        "assert 'dask_jobqueue.runner' in sys.modules\n"
        "assert signal.getsignal(signal.SIGINT) is before, signal.getsignal(signal.SIGINT)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr


def test_a_jobqueue_without_configuration_is_one_line() -> None:
    dask = pytest.importorskip("dask")
    import_jobqueue()
    unset = {"jobqueue.pbs.cores": None, "jobqueue.pbs.memory": None}
    with dask.config.set(unset), pytest.raises(InputError, match=r"jobqueue\.yaml") as info:
        jobqueue_cluster(ClusterKind.PBS)
    assert "\n" not in str(info.value)


def test_a_worker_joining_mid_sweep_never_takes_the_admitted_workers_slots() -> None:
    """Two workers hold the two packages; a third on the same host is left out, the two keep their slots."""
    first = check_meters([report("a", "node1", "rapl", (0, 1)), report("b", "node1", "rapl", (0, 1))])
    late = [report("a", "node1", "rapl", (0, 1)), report("b", "node1", "rapl", (0, 1)),
            report("c", "node1", "rapl", (0, 1))]  # fmt: skip
    check = check_meters(late, previous=first.slots)
    assert dict(check.slots) == {"a": MeterSlot(package=0), "b": MeterSlot(package=1)}
    assert check.excluded == ("c",) and "3 workers measuring with rapl but 2 CPU packages" in check.problems[0]
    mixed = check_meters([*late[:2], report("d", "node1", "nvml", gpus=1)], previous=first.slots)
    assert dict(mixed.slots) == dict(first.slots) and mixed.excluded == ("d",)
    assert "measuring with rapl and nvml" in mixed.problems[0]
