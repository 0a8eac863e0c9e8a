"""The bad-input matrix: every case must give one line on stderr, exit code 2, and write nothing.

Each case is (id, argv, files): ``files`` maps a file name to the bytes written into the case's temporary
folder first; ``{tmp}`` in argv is replaced by that folder. docs/guide/reliability.md summarises this table.
"""

from __future__ import annotations

import pickle

GOOD_PROFILE = "{reference}"
CSV_NO_TARGET = b"a,b\n" + b"".join(f"{i},{i * 2}\n".encode() for i in range(30))
CSV_SEMICOLON = b"a;b;target\n" + b"".join(f"{i};{i};{i % 2}\n".encode() for i in range(30))
CSV_CONSTANT_FEATURES = b"a,b,target\n" + b"".join(f"7,x,{i % 2}\n".encode() for i in range(30))
CSV_SINGLE_CLASS = b"a,b,target\n" + b"".join(f"{i},{i},1\n".encode() for i in range(30))
CSV_INFINITE = b"a,b,target\n" + b"".join(f"{'inf' if i == 5 else i},{i},{i % 2}\n".encode() for i in range(30))
CSV_NANS = b"a,b,target\n" + b"".join(f"{'' if i == 5 else i},{i},{i % 2}\n".encode() for i in range(30))
SMALL = ["--dataset", "synthetic:200,4,2"]
"""One small data set for the calibrate cases whose fault is found after planning: the default plan spans five
data sets and takes seconds to make, which is not what these cases test."""

CASES: list[tuple[str, list[str], dict[str, bytes]]] = [
    # CLI arguments
    ("arch-unknown-shape", ["arch", "triangle", "3", "100", "--input-dim", "4", "--output-dim", "1"], {}),
    ("arch-depth-0", ["arch", "rectangle", "0", "100", "--input-dim", "4", "--output-dim", "1"], {}),
    ("arch-size-negative", ["arch", "rectangle", "3", "-5", "--input-dim", "4", "--output-dim", "1"], {}),
    ("arch-size-text", ["arch", "rectangle", "3", "many", "--input-dim", "4", "--output-dim", "1"], {}),
    ("unknown-command", ["fly"], {}),
    ("calibrate-unknown-meter", ["calibrate", "--meter", "wattson"], {}),
    ("calibrate-budget-abc", ["calibrate", "--budget", "abc"], {}),
    ("calibrate-budget-negative", ["calibrate", "--budget", "-5m"], {}),
    ("calibrate-threads-0", ["calibrate", "--threads", "0"], {}),
    ("calibrate-device-tpu", ["calibrate", "--device", "tpu"], {}),
    ("calibrate-resume-nothing", ["calibrate", "--resume"], {}),
    ("calibrate-replay-missing", ["calibrate", "--meter", "replay", "--replay", "{tmp}/none.csv", *SMALL], {}),
    ("recommend-accuracy-1.5", ["recommend", "--dataset", "digits", "--accuracy", "1.5"], {}),
    ("recommend-accuracy-0", ["recommend", "--dataset", "digits", "--accuracy", "0"], {}),
    ("recommend-confidence-1", ["recommend", "--dataset", "digits", "--accuracy", "0.8", "--confidence", "1"], {}),
    ("recommend-unknown-dataset", ["recommend", "--dataset", "imagenet", "--accuracy", "0.8"], {}),
    ("recommend-empty-shapes", ["recommend", "--dataset", "digits", "--accuracy", "0.8", "--shapes", ","], {}),
    (
        "recommend-empty-depths",
        ["recommend", "--dataset", "digits", "--accuracy", "0.8", "--min-depth", "9", "--max-depth", "3"],
        {},
    ),
    (
        "predict-unknown-shape",
        ["predict", "--shape", "blob", "--depth", "3", "--size", "64", "--input-dim", "4", "--output-dim", "2"],
        {},
    ),
    (
        "predict-depth-absurd",
        [
            "predict",
            "--shape",
            "trapezoid",
            "--depth",
            "1000000000",
            "--size",
            "64",
            "--input-dim",
            "4",
            "--output-dim",
            "2",
            "--beyond-grid",
        ],
        {},
    ),
    (
        "predict-size-beyond-grid",
        ["predict", "--shape", "trapezoid", "--depth", "4", "--size", "2^30", "--input-dim", "4", "--output-dim", "2"],
        {},
    ),
    ("arch-input-dim-absurd", ["arch", "--grid", "--input-dim", "99999999999999", "--output-dim", "2"], {}),
    ("recommend-top-absurd", ["recommend", "--dataset", "digits", "--accuracy", "0.8", "--top", "10^9"], {}),
    (
        "recommend-carbon-nan",
        ["recommend", "--dataset", "digits", "--accuracy", "0.8", "--grid-g-per-kwh", "nan"],
        {},
    ),
    ("recommend-epochs-absurd", ["recommend", "--dataset", "digits", "--accuracy", "0.8", "--epochs", "1e18"], {}),
    ("evaluate-folds-absurd", ["evaluate", "--folds", "1000"], {}),
    ("doctor-profile-missing", ["doctor", "--profile", "{tmp}/none"], {}),
    # dataset files
    ("dataset-infinite", ["probe", "{tmp}/d.csv"], {"d.csv": CSV_INFINITE}),
    ("dataset-empty", ["probe", "{tmp}/empty.csv"], {"empty.csv": b""}),
    ("dataset-no-target", ["probe", "{tmp}/d.csv"], {"d.csv": CSV_NO_TARGET}),
    ("dataset-wrong-target", ["probe", "{tmp}/d.csv", "--target", "label"], {"d.csv": CSV_SEMICOLON}),
    ("dataset-constant-features", ["probe", "{tmp}/d.csv"], {"d.csv": CSV_CONSTANT_FEATURES}),
    ("dataset-single-class", ["probe", "{tmp}/d.csv"], {"d.csv": CSV_SINGLE_CLASS}),
    ("dataset-nans", ["probe", "{tmp}/d.csv"], {"d.csv": CSV_NANS}),
    ("dataset-binary-garbage", ["probe", "{tmp}/d.parquet"], {"d.parquet": b"\x00\x01garbage" * 50}),
    ("dataset-pickled-npz", ["probe", "{tmp}/d.npz"], {"d.npz": pickle.dumps({"x": [1, 2]})}),
    ("dataset-unknown-name", ["probe", "mnist"], {}),
    # power traces
    ("trace-missing", ["calibrate", "--meter", "trace", "--trace", "{tmp}/none.csv", *SMALL], {}),
    (
        "trace-no-timestamps",
        ["calibrate", "--meter", "trace", "--trace", "{tmp}/t.csv", *SMALL],
        {"t.csv": b"watts\n1\n2\n"},
    ),
    (
        "trace-no-watts",
        ["calibrate", "--meter", "trace", "--trace", "{tmp}/t.csv", *SMALL],
        {"t.csv": b"timestamp,volts\n1,2\n2,3\n"},
    ),
    (
        "trace-bad-times",
        ["calibrate", "--meter", "trace", "--trace", "{tmp}/t.csv", *SMALL],
        {"t.csv": b"timestamp,watts\nnoon,100\nlater,120\n"},
    ),
    (
        "trace-one-row",
        ["calibrate", "--meter", "trace", "--trace", "{tmp}/t.csv", *SMALL],
        {"t.csv": b"timestamp,watts\n1,9\n"},
    ),
    (
        "trace-all-nan",
        ["calibrate", "--meter", "trace", "--trace", "{tmp}/t.csv", *SMALL],
        {"t.csv": b"timestamp,watts\n1,nan\n2,nan\n3,nan\n"},
    ),
    (
        "replay-infinite",
        ["calibrate", "--meter", "replay", "--replay", "{tmp}/r.csv", *SMALL],
        {"r.csv": b"energy_j,duration_s\n1.0,0.1\ninf,0.1\n"},
    ),
    # profiles
    ("profile-missing", ["recommend", "--dataset", "digits", "--accuracy", "0.8", "--profile", "{tmp}/none"], {}),
    (
        "profile-truncated-netcdf",
        ["recommend", "--dataset", "digits", "--accuracy", "0.8", "--profile", "{tmp}/p"],
        {"p/energy.nc": b"TRUNCATE", "p/profile.json": b"COPY"},
    ),
    (
        "profile-pickle-renamed",
        ["recommend", "--dataset", "digits", "--accuracy", "0.8", "--profile", "{tmp}/p"],
        {"p/energy.nc": pickle.dumps({"posterior": 1}), "p/profile.json": b"COPY"},
    ),
    (
        "profile-wrong-model-version",
        ["recommend", "--dataset", "digits", "--accuracy", "0.8", "--profile", "{tmp}/p"],
        {"p/energy.nc": b"COPY", "p/profile.json": b"VERSION"},
    ),
    (
        "profile-json-hand-edited",
        ["recommend", "--dataset", "digits", "--accuracy", "0.8", "--profile", "{tmp}/p"],
        {"p/energy.nc": b"COPY", "p/profile.json": b'{"model_version": "energy-tiers-1",'},
    ),
    (
        "profile-json-missing-keys",
        ["recommend", "--dataset", "digits", "--accuracy", "0.8", "--profile", "{tmp}/p"],
        {"p/energy.nc": b"COPY", "p/profile.json": b'{"model_version": "energy-tiers-1"}'},
    ),
    # stores
    ("store-not-sqlite", ["runs", "--store", "{tmp}/s.sqlite"], {"s.sqlite": b"not a database " * 100}),
    ("store-missing", ["runs", "--store", "{tmp}/none.sqlite"], {}),
    ("store-read-only-place", ["calibrate", "--max-runs", "1", "--store", "/proc/advisor/runs.sqlite", *SMALL], {}),
]
