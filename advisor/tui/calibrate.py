"""Calibrate screen: start or resume a calibration or a probe, live progress, finished runs, cancel."""

from __future__ import annotations

import threading
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, ProgressBar, Select, Static

from advisor.calibration import (
    MeterKind,
    MeterOptions,
    SweepEvent,
    SweepEventKind,
    SweepKind,
    SweepSummary,
)


class CalibrateScreen(Screen):
    """Runs the same library calls as ``advisor calibrate`` / ``advisor probe`` in a worker thread."""

    BINDINGS = [("s", "start", "Start"), ("x", "cancel", "Cancel")]

    class Progress(Message):
        """A sweep event from the worker."""

        def __init__(self, event: SweepEvent) -> None:
            super().__init__()
            self.event = event

    class Finished(Message):
        """The sweep ended (summary) or failed (error)."""

        def __init__(self, summary: SweepSummary | None, error: str | None, note: str = "") -> None:
            super().__init__()
            self.summary, self.error, self.note = summary, error, note

    def __init__(self, store: Path | None = None, meter: MeterOptions | None = None, window_s: float = 0.25) -> None:
        super().__init__()
        self.store, self.meter, self.window_s = store, meter or MeterOptions(), window_s
        self.stop_flag = threading.Event()
        self.running = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="calibrate-controls"):
            yield Select(
                [(str(kind), kind) for kind in (SweepKind.CALIBRATE, SweepKind.PROBE)],
                value=SweepKind.CALIBRATE,
                allow_blank=False,
                id="mode",
                prompt="mode",
            )
            yield Input(value="5m", id="budget", placeholder="budget")
            yield Input(value="digits", id="dataset", placeholder="probe dataset")
            yield Input(value="", id="max-runs", placeholder="max runs")
            yield Button("Start", id="start", variant="primary")
            yield Button("Cancel", id="cancel", variant="error", disabled=True)
        yield Static("idle — choose a mode and budget, then Start", id="calibrate-status")
        yield ProgressBar(total=1, id="progress", show_eta=False)  # a total: no idle animation
        yield DataTable(id="runs-table", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#runs-table", DataTable).add_columns(
            "config", "meter", "kind", "J/datum", "samples/s", "status"
        )

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        """Validate the inputs, then start the sweep worker."""
        if self.running:
            return
        from advisor import parsing
        from advisor.errors import InputError

        try:
            budget_s = parsing.duration_s(self.query_one("#budget", Input).value)
        except InputError as exc:
            self.query_one("#calibrate-status", Static).update(f"⚠ budget: {exc}")
            return
        max_runs_text = self.query_one("#max-runs", Input).value.strip()
        try:
            max_runs = parsing.positive_int(max_runs_text) if max_runs_text else None
        except InputError:
            self.query_one("#calibrate-status", Static).update("⚠ max runs must be a positive integer")
            return
        mode = SweepKind(self.query_one("#mode", Select).value)
        dataset = self.query_one("#dataset", Input).value.strip()
        self.stop_flag.clear()
        self.running = True
        self.query_one("#start", Button).disabled = True
        self.query_one("#cancel", Button).disabled = False
        self.query_one("#calibrate-status", Static).update(f"planning {mode} …")
        self.run_sweep(mode, budget_s, dataset, max_runs)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Stop after the run in flight; finished runs stay committed."""
        if self.running:
            self.stop_flag.set()
            self.query_one("#calibrate-status", Static).update("cancelling after the current run …")

    @work(thread=True, exclusive=True, group="sweep")
    def run_sweep(self, mode: SweepKind, budget_s: float, dataset: str, max_runs: int | None) -> None:
        from advisor import calibration
        from advisor.errors import USER_ERRORS

        probe = mode is SweepKind.PROBE
        try:
            request = calibration.CalibrationRequest(
                budget_s=budget_s,
                store=self.store,
                meter=self.meter,
                kind=mode,
                dataset=dataset if probe else calibration.DEFAULT_CALIBRATION_DATASETS,
                config=calibration.TrainConfig(epochs=0, window_s=self.window_s),  # 0: a probe's default
                max_runs=max_runs,
            )
            job = calibration.prepare(request)
            progress = lambda e: self.post_message(self.Progress(e))  # noqa: E731
            note = ""
            if probe:  # the same job as 'advisor probe': sweep, then the fit that gives the dataset its model
                outcome = calibration.probe(job, progress=progress, should_stop=self.stop_flag.is_set)
                summary, fit = outcome.summary, outcome.fit
                if fit is not None:
                    note = f" · profile with the accuracy model for {dataset}: {fit.profile_dir}"
            else:
                summary = calibration.run(job, progress=progress, should_stop=self.stop_flag.is_set)
            self.post_message(self.Finished(summary, None, note))
        except USER_ERRORS as exc:
            self.post_message(self.Finished(None, str(exc)))

    @on(Progress)
    def show_progress(self, message: Progress) -> None:
        event = message.event
        bar = self.query_one(ProgressBar)
        bar.update(total=max(event.expected, event.done, 1), progress=event.done)
        status = self.query_one("#calibrate-status", Static)
        status.update(
            f"{event.done}/{event.expected} runs · {event.elapsed_s:.0f}/{event.budget_s:.0f} s · "
            f"{event.label} [{event.meter_kind}]"
        )
        if event.kind is SweepEventKind.RUN_FINISHED and event.result is not None:
            r = event.result
            kind = "ESTIMATED" if r.meter_kind is MeterKind.ESTIMATED else "measured"
            self.query_one("#runs-table", DataTable).add_row(
                event.label,
                r.meter,
                kind,
                f"{r.train.energy_per_datum_j:.3g}",
                f"{r.train.samples_per_s:,.0f}",
                r.reject_reason or "ok",
            )

    @on(Finished)
    def finished(self, message: Finished) -> None:
        self.running = False
        self.query_one("#start", Button).disabled = False
        self.query_one("#cancel", Button).disabled = True
        status = self.query_one("#calibrate-status", Static)
        if message.error is not None:
            status.update(f"⚠ {message.error}")
            return
        s = message.summary
        state = "cancelled" if s.interrupted else ("complete" if s.complete else "budget spent")
        floor = f", noise floor {s.noise_floor:.1%}" if s.noise_floor is not None else ""
        floor += f", drift {s.describe_drift()}"
        status.update(
            f"{state}: {s.committed_now} runs committed ({s.rejected_now} rejected), "
            f"{s.elapsed_s:.0f} s, meter {s.meter} ({s.meter_kind}){floor}{message.note}"
        )
