"""Profile screen: what is loaded, the hardware, meter kinds, diagnostics, posterior tier summaries, and the
energy-vs-working-set chart with the fitted tier boundaries (as text; ``f`` writes it as a PNG)."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from advisor.errors import USER_ERRORS, first_line
from advisor.figures import tier_chart, write_tier_figure
from advisor.render import cost_lines, warning_markup
from advisor.tui.tier_chart import ascii_chart
from advisor.tui.widgets import fmt_bytes


def _fit_lines(profile) -> list[str]:
    meta, d = profile.metadata, profile.metadata.diagnostics
    lines = [
        f"divergences {d.divergences} · max r_hat {d.max_r_hat:.3f} · min bulk ESS {d.min_ess_bulk:.0f} · "
        f"converged {d.converged}"
    ]
    if meta.noise_floor is not None:
        lines.append(f"calibration repeat-noise floor {meta.noise_floor:.1%}")
    lines += ["", "[b]Tier capacities[/b] (posterior median, 90% interval)"]
    for name, (median, lo, hi) in profile.energy.tier_capacities_bytes().items():
        lines.append(f"  {name:<4} {fmt_bytes(median):>10}   ({fmt_bytes(lo)} – {fmt_bytes(hi)})")
    lines += [f"  {line}" for line in cost_lines(profile.energy)]
    return lines


def _evaluation_lines(evaluation) -> list[str]:
    if evaluation is None:
        return ["  none stored: advisor evaluate --save-to PROFILE"]
    floor = f", noise floor {evaluation.noise_floor:.1%}" if evaluation.noise_floor is not None else ""
    lines = [f"  {evaluation.folds} folds, {evaluation.held_out} observations{floor}"] if evaluation.folds else []
    for name, s in evaluation.scores.items():
        coverage = f", 90% coverage {s.coverage_90:.1%}" if s.coverage_90 is not None else ""
        lines.append(f"  {name:<20} median APE {s.median_ape:.1%}, within ±10% {s.within_10pct:.1%}{coverage}")
    for scheme, t in evaluation.transfer.items():
        if t.overall is None:
            lines.append(f"  transfer ({scheme}): skipped, {t.skipped}")
            continue
        m = t.overall.model
        coverage = f", 90% coverage {m.coverage_90:.1%}" if m.coverage_90 is not None else ""
        lines.append(
            f"  transfer ({scheme}, {t.overall.n} held out): median APE {m.median_ape:.1%}, within ±10% "
            f"{m.within_10pct:.1%}{coverage}, worst {m.worst_ratio:.2f}×"
        )
    return lines


def describe_profile(profile) -> str:
    """Rich-markup text of a loaded profile (rendering only: every number comes from the library)."""
    meta, fp = profile.metadata, profile.fingerprint
    lines = [
        f"[b]Profile[/b] {profile.display_name}",
        f"model {meta.model_version} · features {meta.feature_hash} · {len(meta.run_ids)} runs",
        f"meter kinds: [b]{', '.join(meta.meter_kinds)}[/b]"
        + ("  (ESTIMATED energy, not measured)" if profile.estimated else ""),
        *(
            [
                f"machine: {profile.machine.describe()}",
                *(warning_markup(w) for w in profile.machine.warnings()),
            ]
            if profile.machine
            else []
        ),
        "",
        f"[b]Hardware[/b] {fp.describe()}, {fp.logical_cores} logical cores, {fmt_bytes(fp.memory_bytes)} RAM",
        "caches: " + ", ".join(f"{t.name} {fmt_bytes(t.size_bytes)}" for t in meta.tiers),
        "",
        "[b]Energy fit[/b]",
        *_fit_lines(profile),
        "",
        "[b]Hold-out evaluation[/b]",
        *_evaluation_lines(meta.evaluation),
        "",
        "[b]Accuracy models[/b]",
    ]
    for name, info in sorted(profile.datasets.items()):
        lines.append(
            f"  {name}: {info.task}, {info.runs} runs, {info.epochs:.0f} epochs, best observed {info.best_observed:.3f}"
        )
    return "\n".join(lines)


def chart_text(profile) -> str:
    """The energy-vs-working-set chart of a profile as text (or the one-line reason it cannot be drawn)."""
    try:
        return ascii_chart(tier_chart(profile))
    except USER_ERRORS as exc:
        return f"energy vs working set: cannot draw ({first_line(exc)})"


class ProfileScreen(Screen):
    """Read-only view of the loaded profile; ``f`` writes the energy-vs-working-set figure as a PNG."""

    BINDINGS = [("f", "write_figure", "Figure PNG")]

    def __init__(self, profile) -> None:
        super().__init__()
        self.profile = profile

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(describe_profile(self.profile), id="profile-view")
            yield Static("\n[b]Energy vs working set[/b] (train, the model's reference family)")
            yield Static(chart_text(self.profile), id="tier-chart", markup=False)
            yield Static("press f to write this figure as a PNG", id="tier-figure", markup=False)
        yield Footer()

    def action_write_figure(self) -> None:
        """Draw the figure in a worker thread (matplotlib takes a moment); say where it went."""
        self.query_one("#tier-figure", Static).update("writing the figure …")
        self._write_figure()

    @work(thread=True, exclusive=True, group="figure")
    def _write_figure(self) -> None:
        try:
            line = f"figure written: {write_tier_figure(self.profile)}"
        except USER_ERRORS as exc:
            line = f"could not write the figure: {first_line(exc)}"
        self.app.call_from_thread(self.query_one("#tier-figure", Static).update, line)
