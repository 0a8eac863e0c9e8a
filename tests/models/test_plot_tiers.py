"""Figure (b): energy per datum against working set with the fitted tier boundaries (models/plot_tiers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from measurement.architecture import size_architecture
from measurement.errors import InputError
from models.energy import EnergyPosterior
from models.features import features_frame
from models.plot_tiers import (
    DEFAULT_DIMS,
    ReferenceFamily,
    fmt_bytes,
    plot_tiers,
    reference_curve,
    reference_family,
    tiers_path,
)
from tests.fakes.energy import synthetic_runs
from tests.fakes.posteriors import fake_posterior

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def posterior() -> EnergyPosterior:
    return fake_posterior()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic_runs(n_configs=30).assign(meter_kind="estimated")


def test_writes_a_png_atomically(posterior, frame, tmp_path: Path) -> None:
    out = plot_tiers(posterior, frame, tmp_path / "fit-tiers.png")
    assert out == tmp_path / "fit-tiers.png"
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["fit-tiers.png"]  # no temporary left behind


def test_draws_the_model_alone_when_there_are_no_runs(posterior, tmp_path: Path) -> None:
    out = plot_tiers(posterior, None, tmp_path / "tiers.svg", estimated=True)
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "ESTIMATED" in text


@pytest.mark.parametrize("where", ["missing/fit-tiers.png", "folder", "fit-tiers.txt"])
def test_refuses_a_bad_destination_in_one_line(posterior, frame, tmp_path: Path, where: str) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError) as info:
        plot_tiers(posterior, frame, tmp_path / where)
    assert "\n" not in str(info.value) and str(tmp_path / where) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


def test_reference_curve_is_the_posterior_of_the_family(posterior) -> None:
    family = ReferenceFamily(input_dim=128, output_dim=10)
    curve = reference_curve(posterior, family)
    assert len(curve) > 20 and curve["ws_bytes"].is_monotonic_increasing
    assert (curve["p05_j"] <= curve["median_j"]).all() and (curve["median_j"] <= curve["p95_j"]).all()
    row = curve.iloc[len(curve) // 2]
    arch = size_architecture("rectangle", 4, int(row["params"]), 128, 10)
    assert arch.params == row["params"]
    config = pd.DataFrame({"shape": ["rectangle"], "depth": [4], "target_size": [arch.params], "input_dim": [128],
                           "output_dim": [10], "batch_size": [256], "phase": ["train"]})  # fmt: skip
    features = features_frame(config)
    assert row["ws_bytes"] == pytest.approx(np.exp(features["log_ws_bytes"].iloc[0]))
    assert row["median_j"] == pytest.approx(np.median(np.exp(posterior.log_energy(features))[:, 0]))


def test_reference_family_takes_the_most_common_width(frame) -> None:
    extra = frame[frame["input_dim"] == 1024]
    family = reference_family(pd.concat([frame, extra]))
    assert (family.input_dim, family.output_dim, family.shape, family.depth, family.batch_size) == (
        1024, 16, "rectangle", 4, 256)  # fmt: skip
    assert (reference_family(None).input_dim, reference_family(None).output_dim) == DEFAULT_DIMS
    assert family.label == "rectangle d4 b256, 1024 → 16"


def test_tiers_path_sits_beside_the_fit_plot() -> None:
    assert tiers_path(Path("out/fit.png")) == Path("out/fit-tiers.png")
    assert tiers_path(Path("fit.v2.svg")) == Path("fit.v2-tiers.svg")


def test_bytes_read_in_binary_units() -> None:
    assert [fmt_bytes(v) for v in (512, 32 * 1024, 1.5 * 2**20, 3 * 2**30)] == ["512 B", "32 KiB", "1.5 MiB", "3 GiB"]
