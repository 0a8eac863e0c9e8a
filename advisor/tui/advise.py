"""Advise screen: inputs on the left, ranked recommendations, details of the selected row, the plot."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from advisor.tui.widgets import EnergyPlot, pareto_text, tier_boundaries

FIELDS = (
    ("dataset", "dataset", "digits"),
    ("accuracy", "accuracy budget", "0.8"),
    ("confidence", "confidence", "0.9"),
    ("shapes", "shapes (comma list)", ""),
    ("depths", "depth range", "2-20"),
    ("max_params", "max params", ""),
    ("batch_size", "batch size", "256"),
    ("epochs", "planned epochs", ""),
    ("carbon", "carbon g/kWh", ""),
)
COLUMNS = ("#", "shape", "depth", "params", "J/datum", "90% interval", "P(meet)", "tier")


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
    for key in ("max_params", "batch_size", "epochs"):
        if values[key].strip():
            options[key] = _number(values, key, int)
    if values["carbon"].strip():
        options["carbon_g_per_kwh"] = _number(values, "carbon")
    return dataset, accuracy, confidence, options


@dataclass
class Answer:
    """What a recommend worker hands back to the screen."""

    table: pd.DataFrame
    candidates: pd.DataFrame
    pareto: pd.DataFrame
    message: str


class AdviseScreen(Screen):
    """Ask for a budget, see the ranked table update as inputs change."""

    BINDINGS = [("r", "refresh", "Recompute")]

    class Answered(Message):
        """A worker finished a recommendation."""

        def __init__(self, answer: Answer | None, error: str | None) -> None:
            super().__init__()
            self.answer, self.error = answer, error

    def __init__(self, profile) -> None:
        super().__init__()
        self.profile = profile
        self.answer: Answer | None = None
        self._timer = None

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
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.recompute()

    def values(self) -> dict[str, str]:
        """Current text of every input."""
        return {key: self.query_one(f"#in-{key}", Input).value for key, _, _ in FIELDS}

    @on(Input.Changed)
    def debounce(self) -> None:
        """Recompute 0.3 s after the last keystroke."""
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(0.3, self.recompute)

    def action_refresh(self) -> None:
        self.recompute()

    def recompute(self) -> None:
        """Start a recommend in a worker thread (the UI never blocks)."""
        self.run_recommend(self.values())

    @work(thread=True, exclusive=True, group="recommend")
    def run_recommend(self, values: dict[str, str]) -> None:
        from advisor.api import advise
        from advisor.errors import InputError
        from advisor.render import summary_line

        try:
            dataset, accuracy, confidence, options = parse_inputs(values)
            result = advise(self.profile, dataset, accuracy, confidence, **options)
            answer = Answer(result.table, result.candidates, result.pareto, summary_line(result))
            self.post_message(self.Answered(answer, None))
        except (InputError, ValueError) as exc:
            self.post_message(self.Answered(None, str(exc)))

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
        message.update(answer.message)
        table.clear()
        for row in answer.table.itertuples():
            table.add_row(
                str(row.rank), row.shape, str(row.depth), f"{row.params:,}", f"{row.energy_per_datum_j:.3g}",
                f"{row.energy_p05_j:.2g}–{row.energy_p95_j:.2g}", f"{row.p_meet:.2f}", row.tier, key=str(row.rank),
            )  # fmt: skip
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
        if row is None:
            details.update("no recommendation" if self.answer is not None else "select a row")
            if self.answer is not None:
                details.update(pareto_text(self.answer.pareto))
            return
        kind = "ESTIMATED " if self.profile.estimated else ""
        details.update(
            f"[b]{row['shape']}[/b] depth {row['depth']}\n"
            f"widths {row['widths']}\nparams {row['params']:,}\n"
            f"{kind}energy/datum\n  {row['energy_per_datum_j']:.3g} J\n"
            f"  90%: {row['energy_p05_j']:.2g}–{row['energy_p95_j']:.2g}\n"
            f"P(meet budget) {row['p_meet']:.2f}\nexpected acc {row['expected_score']:.3f}\n"
            f"cache tier {row['tier']}\n\n{pareto_text(self.answer.pareto, 3)}"
        )
        if self.answer is not None:
            plot = self.query_one(EnergyPlot)
            plot.show(self.answer.candidates, tier_boundaries(self.answer.candidates), row)
