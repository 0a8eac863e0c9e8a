"""A design script: ask the advisor for the cheapest MLP that reaches 80% accuracy on digits.

Runs against the shipped reference profile (a 2-core VM with the estimate meter: energies are estimates).
CI runs this file.
"""

from __future__ import annotations

import advisor


def main() -> None:
    profile = advisor.load_profile()  # None: yours ($ADVISOR_HOME/profile) if you have one, else the shipped reference
    print("profile energy is", "ESTIMATED" if profile.estimated else "measured")

    table = advisor.recommend(profile, dataset="digits", accuracy=0.8, confidence=0.9, max_depth=8, top=5)
    print(table.attrs["message"])
    print(table[["rank", "shape", "depth", "params", "energy_per_datum_j", "p_meet", "tier"]].to_string(index=False))

    # What would a wider rectangle cost per training datum, and per prediction?
    best = table.iloc[0]
    digits = profile.datasets["digits"]  # input width after BUTTER's one-hot encoding, output width
    n_in, n_out = digits.input_dim, digits.output_dim
    predicted = profile.predict(
        shape=[best["shape"], "rectangle"], depth=[int(best["depth"]), 4], size=[int(best["size"]), 2**18],
        input_dim=[n_in, n_in], output_dim=[n_out, n_out], phase=["train", "inference"],
    )  # fmt: skip
    print(
        predicted[
            [
                "shape",
                "depth",
                "params",
                "phase",
                "energy_median_j",
                "energy_p05_j",
                "energy_p95_j",
                "predictive_p05_j",
                "predictive_p95_j",
            ]
        ]
    )  # credible interval of the mean; one new run

    front = advisor.pareto(profile, dataset="digits", max_depth=8)
    print(f"Pareto front (energy vs accuracy): {len(front)} configs")


if __name__ == "__main__":
    main()
