"""Dataset specs and BUTTER preprocessing; bad files fail with one clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from measurement.datasets import DatasetError, TargetKind, Task, dataset_name, from_frame, load_dataset


def test_bundled_digits() -> None:
    ds = load_dataset("digits")
    assert ds.task is Task.MULTICLASS and ds.output_dim == 10
    assert ds.x_train.shape[0] + ds.x_test.shape[0] == 1797
    assert abs(ds.x_test.shape[0] / 1797 - 0.2) < 0.01
    assert ds.x_train.min() >= 0.0 and ds.x_train.max() <= 1.0


def test_bundled_breast_cancer_is_binary() -> None:
    ds = load_dataset("breast_cancer")
    assert ds.task is Task.BINARY and ds.output_dim == 1
    assert set(np.unique(ds.y_train)) == {0.0, 1.0}


def test_synthetic_spec() -> None:
    ds = load_dataset("synthetic:500,7,3")
    assert (ds.input_dim, ds.output_dim, ds.task) == (7, 3, Task.MULTICLASS)
    assert ds.train_samples == 400 and ds.train_bytes == 400 * 7 * 4
    reg = load_dataset("synthetic:200,4,0")
    assert reg.task is Task.REGRESSION and reg.output_dim == 1
    assert load_dataset("synthetic:500,7,3").fingerprint() == ds.fingerprint()


def test_butter_column_rules() -> None:
    import pandas as pd

    n = 60
    frame = pd.DataFrame(
        {
            "const": [1] * n,
            "two": ["a", "b"] * (n // 2),
            "few": [i % 5 for i in range(n)],
            "text": [f"c{i % 3}" for i in range(n)],
            "cont": np.linspace(-3, 9, n),
        }
    )
    ds = from_frame("t", frame, [i % 2 for i in range(n)])
    # const dropped, two -> 1, few (numeric) -> 1 scaled, text -> 3 one-hot, cont -> 1
    assert ds.input_dim == 1 + 1 + 3 + 1
    assert ds.task is Task.BINARY


def test_csv_with_target(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{rng.random()},{rng.random()},{i % 3}" for i in range(50)]
    path.write_text("\n".join(rows))
    ds = load_dataset(str(path), target="label")
    assert (ds.input_dim, ds.output_dim) == (2, 3)
    assert ds.name == "d"  # a file's data set is named by its stem


def _rated(tmp_path: Path, target) -> str:
    """A file whose target is ``target`` (one value per row) beside two random features."""
    rng = np.random.default_rng(1)
    path = tmp_path / "rated.csv"
    path.write_text("\n".join(["a,b,target", *(f"{rng.random()},{rng.random()},{t}" for t in target)]))
    return str(path)


def test_a_user_says_an_integer_rating_is_a_regression(tmp_path: Path) -> None:
    ratings = [i % 11 for i in range(220)]  # 11 values: the rule's classes, as 201_pol's target
    assert load_dataset(_rated(tmp_path, ratings)).task is Task.MULTICLASS
    ds = load_dataset(_rated(tmp_path, ratings), kind=TargetKind.REGRESSION)
    assert (ds.task, ds.output_dim) == (Task.REGRESSION, 1)
    y = np.concatenate([ds.y_train, ds.y_test]).ravel()
    assert sorted(set(np.round(y * 10, 4))) == list(range(11))  # min-max scaled, in the ratings' order
    three = load_dataset(_rated(tmp_path, [9, 10, 11] * 20), kind=TargetKind.REGRESSION)  # 10 < 9 as text
    assert sorted(set(np.concatenate([three.y_train, three.y_test]).ravel())) == [0.0, 0.5, 1.0]
    assert three.fingerprint() != load_dataset(_rated(tmp_path, [9, 10, 11] * 20)).fingerprint()  # another version


def test_a_user_says_many_numeric_codes_are_classes(tmp_path: Path) -> None:
    codes = [i % 40 for i in range(400)]  # 40 values: the rule's regression
    assert load_dataset(_rated(tmp_path, codes)).task is Task.REGRESSION
    ds = load_dataset(_rated(tmp_path, codes), kind=TargetKind.CLASSIFICATION)
    assert (ds.task, ds.output_dim) == (Task.MULTICLASS, 40)


@pytest.mark.parametrize(
    ("spec", "target", "kind", "message"),
    [
        (None, ["x", "y", "z"] * 10, TargetKind.REGRESSION, "--task regression needs a numeric target"),
        (None, [0, 1] * 15, TargetKind.REGRESSION, "needs a target of at least 3 values; this one has 2"),
        ("digits", None, TargetKind.REGRESSION, "--task applies to a data file"),
        ("synthetic:100,4,3", None, TargetKind.CLASSIFICATION, "--task applies to a data file"),
    ],
)
def test_a_task_that_cannot_apply_is_refused_in_one_line(tmp_path: Path, spec, target, kind, message) -> None:
    with pytest.raises(DatasetError, match=message) as caught:
        load_dataset(spec or _rated(tmp_path, target), kind=kind)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("digits", "digits"),
        ("synthetic:600,8,3", "synthetic:600,8,3"),
        ("landsat", "landsat"),  # a name as the user types it again
        ("/home/me/data/landsat.csv", "landsat"),
        ("data/landsat.csv.gz", "landsat"),
        ("landsat.parquet", "landsat"),
        ("sets/my.data.npz", "my.data"),
        ("my.data", "my.data"),  # a dotted stem typed back is a name, not a file
    ],
)
def test_a_data_set_is_named_by_its_file_stem(spec: str, name: str) -> None:
    assert dataset_name(spec) == name


@pytest.mark.parametrize("spec", ["mine/wine.csv", "digits.parquet", "x/synthetic:9,2,2.csv"])
def test_a_stem_that_names_another_data_set_is_refused(spec: str) -> None:
    with pytest.raises(DatasetError, match=r"rename the file, e\.g\. to my_"):
        dataset_name(spec)


def test_a_file_named_like_a_bundled_set_is_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "wine.csv"
    path.write_text("a,target\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    with pytest.raises(DatasetError, match=r"rename the file, e\.g\. to my_wine\.csv"):
        load_dataset(str(path))


@pytest.mark.parametrize(
    ("content", "target", "message"),
    [
        ("a,b\n1,2\n3,4\n", "label", "no target column"),
        ("", "label", "cannot read dataset"),
        ("a,label\n" + "1,0\n" * 20, "label", "single value"),
        ("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(5)), "label", "at least 10"),
        ("a,label\n" + "".join(f"{'' if i == 3 else i},{i % 2}\n" for i in range(20)), "label", "missing values"),
    ],
)
def test_bad_files(tmp_path: Path, content: str, target: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_dataset(str(path), target=target)


@pytest.mark.parametrize("spec", ["mnist", "synthetic:5,2,2", "synthetic:abc", "nofile.csv"])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(DatasetError):
        load_dataset(spec)


def test_npz_without_pickle(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.random.default_rng(0).random((40, 3)), y=np.arange(40) % 2)
    assert load_dataset(str(path)).output_dim == 1
    bad = tmp_path / "obj.npz"
    np.savez(bad, x=np.array([{"a": 1}] * 12, dtype=object), y=np.arange(12) % 2)
    with pytest.raises(DatasetError, match="cannot read"):
        load_dataset(str(bad))


def test_the_constant_accuracy_is_the_test_share_of_the_training_majority_class() -> None:
    rng = np.random.default_rng(0)
    labels = np.array(["n"] * 700 + ["ei"] * 150 + ["ie"] * 150)
    rng.shuffle(labels)
    data = from_frame("imbalanced", {"x": rng.standard_normal(1000)}, labels)
    majority = np.bincount(data.y_train).argmax()
    assert data.constant_accuracy == pytest.approx(np.mean(data.y_test == majority))
    assert 0.6 < data.constant_accuracy < 0.8  # about the 70% share, far above guessing one of three
    balanced = from_frame("balanced", {"x": rng.standard_normal(400)}, np.repeat([0, 1], 200))
    assert 0.35 < balanced.constant_accuracy < 0.65
    regression = from_frame("loss", {"x": rng.standard_normal(100)}, rng.standard_normal(100))
    assert regression.constant_accuracy is None
