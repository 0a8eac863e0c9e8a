"""Advise screen: inputs on the left, ranked recommendations, details of the selected row, the plot."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from advisor.figures_recommend import ShapeCurve, TierCrossing, tier_crossings, training_curves
from advisor.render import learning_rate_label, reason_line, recommendation_rows, si, summary_line, warning_markup
from advisor.tui.widgets import EnergyPlot, pareto_text

FIELDS = (
    ("dataset", "dataset", "digits"),
    ("accuracy", "accuracy budget", "0.95"),
    ("confidence", "confidence", "0.9"),
    ("epochs", "epochs (N or auto)", "auto"),
    ("objective", "objective", "energy-per-datum"),
    ("shapes", "shapes (comma list)", ""),
    ("depths", "depth range", "2-20"),
    ("max_params", "max params", ""),
    ("batch_size", "batch (N or auto)", "auto"),
    ("learning_rate", "learning rate (or auto)", "auto"),
    ("predictions", "predictions", ""),
    ("grid", "grid g CO2e/kWh", ""),
)


LABELS = {key: label for key, label, _ in FIELDS}


def _number(values: dict[str, str], key: str, kind: type = float):
    text = values[key].strip()
    try:
        return kind(float(text)) if kind is int else float(text)
    except ValueError:
        raise ValueError(f"{LABELS[key]}: {text!r} is not a number") from None


def parse_inputs(values: dict[str, str]) -> tuple[str, float, float, dict]:
    """Turn the form's text into recommend() arguments; raises ValueError naming the bad field."""
    options: dict = {"top": 50}
    dataset = values["dataset"].strip()
    accuracy, confidence = _number(values, "accuracy"), _number(values, "confidence")
    if values["shapes"].strip():
        options["shapes"] = [s.strip() for s in values["shapes"].split(",") if s.strip()]
    if values["depths"].strip():
        lo, _, hi = values["depths"].partition("-")
        try:
            options["min_depth"], options["max_depth"] = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"depth range: {values['depths']!r} is not like 2-8") from None
    for key in ("max_params", "predictions"):
        if values[key].strip():
            options[key] = _number(values, key, int)
    for key in ("epochs", "objective", "batch_size", "learning_rate"):  # the engine parses and checks them
        if values[key].strip():
            options[key] = values[key].strip()
    if values["grid"].strip():
        options["grid_g_per_kwh"] = _number(values, "grid")
    return dataset, accuracy, confidence, options


@dataclass(frozen=True)
class Answer:
    """What a recommend worker hands back to the screen: the engine's tables, the rendered rows and words,
    and the figure's numbers."""

    table: pd.DataFrame
    candidates: pd.DataFrame
    pareto: pd.DataFrame
    message: str
    header: list[tuple[str, str]]
    rows: list[list[str]]
    reason: str
    curves: tuple[ShapeCurve, ...]
    crossings: tuple[TierCrossing, ...]
    fit_warnings: tuple[str, ...] = ()


def answer_of(profile, result) -> Answer:
    """Everything the screen shows for an engine answer (computed in the worker thread, not the UI's)."""
    from advisor.api import fit_warnings

    header, rows = recommendation_rows(result)
    curves = training_curves(result)
    return Answer(
        table=result.table,
        candidates=result.candidates,
        pareto=result.pareto,
        message=summary_line(result),
        header=header,
        rows=rows,
        reason=reason_line(result),
        curves=curves,
        crossings=tier_crossings(profile, curves),
        fit_warnings=tuple(fit_warnings(profile, result.request.dataset)),
    )


class AdviseScreen(Screen):
    """Ask for a budget, see the ranked table update as inputs change."""

    BINDINGS = [("r", "refresh", "Recompute")]

    class Answered(Message):
        """A worker finished a recommendation."""

        def __init__(self, answer: Answer | None, error: str | None) -> None:
            super().__init__()
            self.answer, self.error = answer, error

    def __init__(self, profile, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.profile = profile
        self.clock = clock
        self.answer: Answer | None = None
        self._timer = None
        self._asked: dict[str, str] | None = None  # the inputs of the latest recommend started

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="advise-body"):
            with VerticalScroll(id="inputs"):
                for key, label, default in FIELDS:
                    yield Label(label)
                    yield Input(value=default, id=f"in-{key}")
            with Vertical(id="results"):
                yield Static("", id="message")
                yield DataTable(id="table", cursor_type="row", zebra_stripes=True)
                with Horizontal(id="lower"):
                    yield Static("select a row", id="details")
                    yield EnergyPlot(id="plot")
        yield Footer()

    def on_mount(self) -> None:
        self.recompute()

    def values(self) -> dict[str, str]:
        """Current text of every input."""
        return {key: self.query_one(f"#in-{key}", Input).value for key, _, _ in FIELDS}

    @on(Input.Changed)
    def debounce(self) -> None:
        """Recompute 0.3 s after the last keystroke that changed an input (mounting the inputs changes none)."""
        if self._timer is not None:
            self._timer.stop()
        if self.values() != self._asked:
            self._timer = self.set_timer(0.3, self._recompute_if_changed)

    def _recompute_if_changed(self) -> None:
        if self.values() != self._asked:  # whichever came first, mounting's Changed or on_mount's recompute
            self.recompute()

    def action_refresh(self) -> None:
        self.recompute()

    def recompute(self) -> None:
        """Start a recommend in a worker thread (the UI never blocks)."""
        self._asked = self.values()
        self.run_recommend(self._asked)

    @work(thread=True, exclusive=True, group="recommend")
    def run_recommend(self, values: dict[str, str]) -> None:
        from advisor.api import advise
        from advisor.errors import InputError

        try:
            dataset, accuracy, confidence, options = parse_inputs(values)
            profile = self.current_profile()
            answer = answer_of(profile, advise(profile, dataset, accuracy, confidence, **options))
            self.post_message(self.Answered(answer, None))
        except (InputError, ValueError) as exc:
            self.post_message(self.Answered(None, str(exc)))

    def current_profile(self):
        """The profile with the machine state as of now: a recheck made since the screen opened (in another
        terminal) applies, and one that has aged into a warning warns. An unchanged state keeps the same
        posterior, so the cached energy draws of the candidates stay valid."""
        from advisor.recheck import attach_machine_state

        fresh = attach_machine_state(self.profile, now_unix_s=self.clock())
        if state_key(fresh.machine) != state_key(self.profile.machine):
            self.profile = fresh
        return self.profile

    @on(Answered)
    def show_answer(self, event: Answered) -> None:
        """Fill the table, message, plot."""
        message = self.query_one("#message", Static)
        table = self.query_one(DataTable)
        if event.error is not None:
            message.update(f"⚠ {event.error}")
            self.answer = None
            table.clear()  # no stale answer under an error
            self.show_details(0)
            return
        self.answer = answer = event.answer
        machine = self.profile.machine.warnings() if self.profile.machine else []
        warnings = [warning_markup(w) for w in (*machine, *answer.fit_warnings)]
        message.update("\n".join(line for line in (answer.message, answer.reason, *warnings) if line))
        table.clear(columns=True)
        table.add_columns(*(name for name, _ in answer.header))
        for row in answer.rows:
            table.add_row(*row, key=row[0])
        self.show_details(0)

    @on(DataTable.RowHighlighted)
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_details(event.cursor_row)

    def selected_row(self, index: int) -> pd.Series | None:
        """The engine's row behind table row ``index``."""
        if self.answer is None or self.answer.table.empty or index >= len(self.answer.table):
            return None
        return self.answer.table.iloc[index]

    def show_details(self, index: int) -> None:
        """Details pane and plot highlight for the selected row."""
        row = self.selected_row(index)
        details = self.query_one("#details", Static)
        if self.answer is not None:
            self.query_one(EnergyPlot).show(self.answer.curves, self.answer.crossings, row, self.profile.estimated)
        if row is None:
            details.update(pareto_text(self.answer.pareto) if self.answer is not None else "select a row")
            return
        kind = "ESTIMATED " if self.profile.estimated else ""
        details.update(
            f"[b]{row['shape']}[/b] depth {row['depth']}\nstands for {row['shapes'].replace(',', ', ')}\n"
            f"widths {row['widths']}\nparams {row['params']:,}\n"
            f"Adam lr {learning_rate_label(row['learning_rate'])}, batch {row['batch_size']}\n"
            f"epochs {row['epochs']:g}\n"
            f"{kind}energy/datum {si(row['energy_per_datum_j'])}\n"
            f"  90%: {si(row['energy_p05_j'])} to {si(row['energy_p95_j'])}\n"
            f"{kind}training energy {si(row['training_energy_j'])}\n"
            f"  90%: {si(row['training_p05_j'])} to {si(row['training_p95_j'])}\n"
            f"per prediction {si(row['inference_energy_per_prediction_j'])}\n"
            f"P(meet budget) {row['p_meet']:.2f}\nexpected score {row['expected_score']:.3f}\n"
            f"cache tier {row['tier']}\n\n{pareto_text(self.answer.pareto, 3)}"
        )


STATE_SIGMA_STEP = 0.01
"""How far (ln scale) the day-to-day spread a prediction adds may move before the advise screen takes a new
posterior. The spread grows with the recheck's age, fastest at first (on a spread of 0.1 a day: 0.003 after
a minute, 0.008 after ten, 0.02 after an hour); each new posterior recomputes the candidates' energy draws
(~1.5 s). Added in quadrature to the model's own spread, a step of 0.01 moves a 90% interval by well under
1%."""


def state_key(state) -> tuple | None:
    """What of a machine state a prediction shows: its rechecks, warnings and the spread it adds (in steps of
    :data:`STATE_SIGMA_STEP`). Two states with the same key give the same answers."""
    if state is None:
        return None
    step = round(state.residual_sigma / STATE_SIGMA_STEP)
    return (state.recheck, state.previous, tuple(state.warnings()), step)
