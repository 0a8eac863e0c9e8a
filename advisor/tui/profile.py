"""Profile screen: what is loaded, the hardware, meter kinds, diagnostics, posterior tier summaries."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from advisor.tui.widgets import fmt_bytes


def describe_profile(loaded) -> str:
    """Rich-markup text of a loaded profile (no computation beyond posterior summaries)."""
    profile = loaded.profile
    meta = profile.metadata
    fp = profile.fingerprint
    kinds = ", ".join(meta["meter_kinds"])
    lines = [
        f"[b]Profile[/b] {loaded.display_name}",
        f"model {meta['model_version']} · features {meta['feature_hash']} · {len(meta['run_ids'])} runs",
        f"meter kinds: [b]{kinds}[/b]" + ("  (ESTIMATED energy, not measured)" if loaded.estimated else ""),
        "",
        f"[b]Hardware[/b] {fp.cpu_model}, {fp.logical_cores} logical cores, {fmt_bytes(fp.memory_bytes)} RAM",
        "caches: " + ", ".join(f"{n} {fmt_bytes(s)}" for n, s in fp.cpu_tiers()),
        "",
        "[b]Energy fit[/b]",
    ]
    d = meta["diagnostics"]
    r_hat, ess = d.get("max_r_hat", float("nan")), d.get("min_ess_bulk", float("nan"))
    lines.append(f"divergences {d.get('divergences')} · max r_hat {r_hat:.3f} · min bulk ESS {ess:.0f} · "
                 f"converged {d.get('converged')}")  # fmt: skip
    if meta.get("noise_floor") is not None:
        lines.append(f"calibration repeat-noise floor {meta['noise_floor']:.1%}")
    lines.append("")
    lines.append("[b]Tier capacities[/b] (posterior median, 90% interval)")
    for name, (median, lo, hi) in profile.energy.tier_capacities_bytes().items():
        lines.append(f"  {name:<4} {fmt_bytes(median):>10}   ({fmt_bytes(lo)} – {fmt_bytes(hi)})")
    import numpy as np

    r = profile.energy.draws["r"]
    c1 = np.exp(profile.energy.draws["log_c1"])
    for p, phase in enumerate(("train", "inference")):
        steps = " ".join(f"{t.name}+{np.median(r[:, p, k]):.2f}×" for k, t in enumerate(profile.energy.tiers))
        lines.append(f"  {phase:<9} cost/FLOP {np.median(c1[:, p]):.2e} J, steps {steps}")
    evaluation = meta.get("evaluation")
    lines += ["", "[b]Hold-out evaluation[/b]"]
    if evaluation:
        floor = evaluation.get("noise_floor")
        lines.append(f"  {evaluation['folds']} folds, {evaluation['held_out']} observations"
                     + (f", noise floor {floor:.1%}" if floor is not None else ""))  # fmt: skip
        for name, scores in evaluation.items():
            if isinstance(scores, dict):
                coverage = f", 90% coverage {scores['coverage_90']:.1%}" if "coverage_90" in scores else ""
                lines.append(f"  {name:<20} median APE {scores['median_ape']:.1%}, "
                             f"within ±10% {scores['within_10pct']:.1%}{coverage}")  # fmt: skip
    else:
        lines.append("  none stored: advisor evaluate --save-to PROFILE")
    lines += ["", "[b]Accuracy models[/b]"]
    for name, acc in sorted(profile.accuracy.items()):
        info = acc.info
        lines.append(f"  {name}: {info['task']}, {info['runs']} runs, {info['epochs']:.0f} epochs, "
                     f"best observed {info['best_observed']:.3f}")  # fmt: skip
    return "\n".join(lines)


class ProfileScreen(Screen):
    """Read-only view of the loaded profile."""

    def __init__(self, profile) -> None:
        super().__init__()
        self.profile = profile

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(describe_profile(self.profile), id="profile-view")
        yield Footer()
